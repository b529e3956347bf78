/*
 * test_segment_sim.c - each detector, and the whole stage, on simulator frames
 * with ground truth. Thresholds are the documented figures (docs/validation.md,
 * "Image analysis") plus a stated margin, so a regression fails the test:
 *   needle tip  mean <= 1.0 mm  (documented 0.6 mm), angle mean <= 1.5 deg (0.4)
 *   ice edge    mean <= 0.10 mm (documented 0.015 mm), found in >= 3 of 4 frames
 *   nerve Dice  >= 0.85 seeded  (documented 0.98); under the ice the outline
 *               from before the freeze, flagged hidden, Dice >= 0.85 (documented
 *               0.96 over freeze and thaw in eval sim)
 *   no ice without a freeze, and none with a wrong freeze flag in the approach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "sim_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    cn_sim_config c;
    cn_sim *sim;
    cn_frame_pool *pool;
    cn_frame *f;
} fixture;

static void fx_open(fixture *x, double angle, uint64_t seed)
{
    cn_sim_config_defaults(&x->c);
    x->c.needle_angle_deg = angle;
    x->c.seed = seed;
    x->sim = cn_sim_new(&x->c);
    assert_non_null(x->sim);
    x->pool = cn_frame_pool_new(1, x->c.width_px, x->c.height_px);
    x->f = cn_frame_pool_acquire(x->pool);
    assert_non_null(x->f);
}

static void fx_close(fixture *x)
{
    cn_frame_unref(x->f);
    assert_int_equal(cn_frame_pool_free(x->pool), CN_OK);
    cn_sim_free(x->sim);
}

static void render(fixture *x, double t)
{
    assert_int_equal(cn_sim_render(x->sim, t, x->f), CN_OK);
    x->f->t_acq_ns = (int64_t)(t * 1e9);
}

static void test_needle_detector_alone(void **st)
{
    (void)st;
    const double angles[3] = {20, 30, 40};
    double sum_tip = 0, sum_ang = 0;
    int n = 0, missed = 0;
    for (int a = 0; a < 3; a++) {
        fixture x;
        fx_open(&x, angles[a], 11 + (uint64_t)a);
        cn_needle_det *d = cn_needle_det_new(x.c.width_px, x.c.height_px, NULL);
        for (int k = 0; k < 3; k++) {
            double t = x.c.idle_s + x.c.approach_s * (0.6 + 0.15 * k);
            render(&x, t);
            cn_needle_result r;
            assert_int_equal(cn_needle_det_detect(d, x.f->pixels, x.f->width, x.f->height,
                                                  x.f->spacing_mm, NULL, &r), CN_OK);
            assert_true(r.confidence >= 0 && r.confidence <= 1);
            /* below its operating confidence the detector says "not found" rather than
             * draw a doubtful line (the 40 deg needle early in its path: 0.47) */
            if (!r.found) {
                missed++;
                continue;
            }
            sum_tip += tip_error_mm(&r, &x.f->truth);
            sum_ang += angle_error_deg(&r, &x.f->truth);
            n++;
        }
        cn_needle_det_free(d);
        fx_close(&x);
    }
    print_message("needle alone: mean tip %.2f mm angle %.2f deg over %d frames, %d not found\n",
                  sum_tip / n, sum_ang / n, n, missed);
    assert_true(missed <= 1);
    assert_true(sum_tip / n <= 1.0);
    assert_true(sum_ang / n <= 1.5);
}

/* Dice of a reported outline against the true nerve of the frame. */
static double outline_dice(const cn_frame *f, const cn_contour *nc, uint8_t *mask, uint8_t *poly)
{
    cn_pt2 px[CN_CONTOUR_MAX];
    for (int i = 0; i < nc->n; i++)
        px[i] = (cn_pt2){(float)(nc->pts_mm[i].x / f->spacing_mm[0] - 0.5),
                         (float)(nc->pts_mm[i].y / f->spacing_mm[1] - 0.5)};
    memset(mask, 0, (size_t)f->width * f->height);
    memset(poly, 0, (size_t)f->width * f->height);
    cn_sim_nerve_mask(&f->truth, f->spacing_mm, mask, f->width, f->height);
    cn_img_fill_polygon(poly, f->width, f->height, px, nc->n, 1);
    return cn_mask_dice(poly, mask, f->width, f->height);
}

static void test_stage_session(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, 30, 5);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.ice.active_mm = x.c.needle_active_mm;
    cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
    assert_non_null(seg);
    cn_stage stage;
    cn_segment_stage(seg, &stage);
    assert_string_equal(stage.name, "segment");
    /* approach: the operator marks the nerve once, then the tracker follows */
    double t0 = x.c.idle_s + 0.5 * x.c.approach_s, t1 = x.c.idle_s + x.c.approach_s;
    double sum_tip = 0, sum_ang = 0;
    int n = 0;
    bool seeded = false;
    uint8_t *mask = malloc((size_t)x.c.width_px * x.c.height_px);
    uint8_t *poly = malloc((size_t)x.c.width_px * x.c.height_px);
    for (double t = t0; t < t1; t += 0.5) {
        render(&x, t);
        if (!seeded) {
            cn_segment_set_nerve_seed(seg, x.f->truth.nerve_center_mm);
            seeded = true;
        }
        cn_segment_set_freezing(seg, false);
        assert_int_equal(stage.process(stage.self, x.f), CN_OK);
        const cn_analysis *A = &x.f->analysis;
        assert_false(A->ice.found); /* no freeze: no ice */
        assert_true(A->needle.found);
        assert_false(A->needle.tip_hidden);
        sum_tip += tip_error_mm(&A->needle, &x.f->truth);
        sum_ang += angle_error_deg(&A->needle, &x.f->truth);
        n++;
    }
    print_message("stage approach: mean tip %.2f mm angle %.2f deg\n", sum_tip / n, sum_ang / n);
    assert_true(sum_tip / n <= 1.0);
    assert_true(sum_ang / n <= 1.5);
    /* nerve outline against the true ellipse */
    const cn_contour *nc = &x.f->analysis.nerve;
    assert_true(nc->found);
    assert_false(nc->hidden);
    double dice = outline_dice(x.f, nc, mask, poly);
    print_message("nerve seeded dice %.3f\n", dice);
    assert_true(dice >= 0.85);
    /* the freeze: ice front near the truth, needle tip kept while hidden */
    const double dts[4] = {3, 10, 30, 60};
    int found = 0;
    double sum_e = 0;
    for (int k = 0; k < 4; k++) {
        double t = t1 + dts[k];
        /* frames in between so the tracker sees the freeze start as it happens */
        render(&x, t);
        assert_int_equal(x.f->truth.phase, CN_PHASE_FREEZE);
        cn_segment_set_freezing(seg, true);
        assert_int_equal(cn_segment_process(seg, x.f), CN_OK);
        const cn_analysis *A = &x.f->analysis;
        double e = ice_edge_error_mm(&A->ice, &x.f->truth);
        if (isfinite(e)) {
            found++;
            sum_e += e;
            assert_int_equal(A->ice.t_ns, x.f->t_acq_ns);
            assert_true(A->ice.n >= 8 && A->ice.n <= CN_ICE_PTS_MAX);
        }
        assert_true(A->needle.found);
        assert_true(tip_error_mm(&A->needle, &x.f->truth) <= 1.5);
        if (A->ice.found)
            assert_true(A->needle.tip_hidden);
        if (dts[k] >= 30) {
            /* the ice is over the nerve: the outline from before the freeze, flagged */
            assert_true(A->nerve.found);
            assert_true(A->nerve.hidden);
            double d = outline_dice(x.f, &A->nerve, mask, poly);
            print_message("nerve under the ice at +%.0f s: hidden, dice %.3f\n", dts[k], d);
            assert_true(d >= 0.85);
        }
    }
    print_message("ice: found %d/4, mean edge error %.3f mm\n", found, found ? sum_e / found : NAN);
    assert_true(found >= 3);
    assert_true(sum_e / found <= 0.10);
    /* the freeze flag drops (thaw): the ice that is still there is still found (the
     * thaw is watched: thermal audit F9), on the true rim; the probe is still in its
     * ice, whose near side hides the tip: the tip stays where it was, flagged hidden
     * (before, the end of the visible shaft at the ice's edge became the tip, ~9 mm
     * short, for the whole thaw) */
    for (double dt = 1; dt < x.c.release_thaw_s; dt += 6) {
        render(&x, t1 + x.c.cycles[0].freeze_s + dt);
        assert_int_equal(x.f->truth.phase, CN_PHASE_THAW);
        cn_segment_set_freezing(seg, false);
        cn_segment_set_in_ice(seg, true);
        cn_segment_process(seg, x.f);
        assert_true(x.f->truth.ice_present);
        const double e = ice_edge_error_mm(&x.f->analysis.ice, &x.f->truth);
        print_message("thaw +%.0f s: ice %s, edge error %.3f mm\n", dt,
                      x.f->analysis.ice.found ? "found" : "not found", e);
        assert_true(isfinite(e) && e <= 0.10);
        const cn_needle_result *nd = &x.f->analysis.needle;
        print_message("thaw +%.0f s: needle %s, tip error %.2f mm%s\n", dt,
                      nd->found ? "found" : "not found", tip_error_mm(nd, &x.f->truth),
                      nd->tip_hidden ? ", hidden" : "");
        assert_true(nd->found);
        assert_true(tip_error_mm(nd, &x.f->truth) <= 1.5);
        assert_true(nd->tip_hidden);
    }
    /* the ice is still there, so is its shadow: the nerve stays hidden */
    assert_true(x.f->analysis.nerve.hidden);
    assert_true(outline_dice(x.f, &x.f->analysis.nerve, mask, poly) >= 0.85);
    /* a new point from the operator starts afresh: no held outline */
    cn_segment_set_nerve_seed(seg, x.f->truth.nerve_center_mm);
    cn_segment_process(seg, x.f);
    assert_false(x.f->analysis.nerve.hidden);
    free(mask);
    free(poly);
    cn_segment_free(seg);
    fx_close(&x);
}

/* The analysis first sees the probe when the ice already hides its tip: a replay
 * sought into a freeze, a navigator started mid-freeze, or frames seconds apart (a
 * 5 fps recording at time_scale 20 went from the approach straight into the
 * freeze). The visible shaft ends at the ice's near side, several mm short of the
 * tip. With a tracked cryoprobe the tracked tip is where the probe is; without one,
 * a tip first seen under the ice is at least flagged hidden, never shown as seen.
 * Before, the shaft's end became the tip (6.8 mm short in that recording),
 * unflagged on the first frame, and the ice front was searched around it and never
 * found for the whole procedure. */
static void test_first_seen_under_ice(void **st)
{
    (void)st;
    for (int tracked = 1; tracked >= 0; tracked--) {
        for (int from_approach = 0; from_approach < 2; from_approach++) {
            fixture x;
            fx_open(&x, 30, 7 + (uint64_t)from_approach);
            cn_segment_config sc;
            cn_segment_config_default(&sc);
            sc.ice.active_mm = x.c.needle_active_mm;
            cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
            assert_non_null(seg);
            const double t1 = x.c.idle_s + x.c.approach_s;
            if (from_approach) {
                /* one frame halfway in, then the next frame 20 s into the freeze */
                render(&x, x.c.idle_s + 0.5 * x.c.approach_s);
                if (!tracked)
                    x.f->n_poses = 0;
                cn_segment_set_freezing(seg, false);
                cn_segment_process(seg, x.f);
                assert_true(x.f->analysis.needle.found);
            }
            int ice_found = 0, n = 0;
            double worst_tip = 0, sum_e = 0;
            for (double t = t1 + 20; t <= t1 + 40; t += 4, n++) {
                render(&x, t);
                assert_int_equal(x.f->truth.phase, CN_PHASE_FREEZE);
                if (!tracked)
                    x.f->n_poses = 0;
                cn_segment_set_freezing(seg, true);
                cn_segment_process(seg, x.f);
                const cn_analysis *A = &x.f->analysis;
                double e_tip = tip_error_mm(&A->needle, &x.f->truth);
                double e_ice = ice_edge_error_mm(&A->ice, &x.f->truth);
                print_message("%s, %s: +%.0f s tip %s %.2f mm%s, ice %s %.3f mm\n",
                              tracked ? "tracked" : "untracked",
                              from_approach ? "seen once in the approach" : "first seen frozen",
                              t - t1, A->needle.found ? "found" : "not found", e_tip,
                              A->needle.tip_hidden ? " (hidden)" : "",
                              A->ice.found ? "found" : "not found", e_ice);
                assert_true(A->needle.found);
                /* untracked after one approach frame: the shaft seen further along
                 * under the ice may be a needle still advancing; not judged */
                if (tracked || !from_approach)
                    assert_true(A->needle.tip_hidden);
                if (tracked) {
                    worst_tip = fmax(worst_tip, e_tip);
                    if (isfinite(e_ice)) {
                        ice_found++;
                        sum_e += e_ice;
                    }
                }
            }
            if (tracked) {
                assert_true(worst_tip <= 1.5);
                assert_true(ice_found >= n - 1);
                assert_true(sum_e / ice_found <= 0.10);
            }
            cn_segment_free(seg);
            fx_close(&x);
        }
    }
}

/* A probe put back along its old track after a freeze is seen as it goes in again: one
 * simulator session freezes (the ball hides the tip), then the frames of the same scene's
 * approach, with no ice, follow on the same clock, and the probe must be seen within 1.5 mm
 * on every frame, tracked or from the image alone. A guard for any rule about the ice a probe
 * leaves (docs/validation.md, forty-second session: a rule that refused lines beginning inside
 * the old ball was tried and taken out; with its margin at 30 mm this test failed, the probe
 * not found, 17.6-30.9 mm off). */
static void test_put_back_along_its_track(void **st)
{
    (void)st;
    for (int tracked = 1; tracked >= 0; tracked--) {
        fixture x, y;
        fx_open(&x, 30, 7);
        fx_open(&y, 30, 7);
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.ice.active_mm = x.c.needle_active_mm;
        cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
        assert_non_null(seg);
        const double t1 = x.c.idle_s + x.c.approach_s;
        int ice = 0;
        for (double t = x.c.idle_s + 0.6 * x.c.approach_s; t <= t1 + 40; t += 1) {
            render(&x, t);
            if (!tracked)
                x.f->n_poses = 0;
            cn_segment_set_freezing(seg, x.f->truth.phase == CN_PHASE_FREEZE);
            cn_segment_set_in_ice(seg, x.f->truth.phase == CN_PHASE_FREEZE);
            assert_int_equal(cn_segment_process(seg, x.f), CN_OK);
            ice += x.f->analysis.ice.found;
        }
        assert_true(ice >= 10); /* the freeze's ball was seen, and hid the tip */
        cn_segment_set_freezing(seg, false);
        cn_segment_set_in_ice(seg, false);
        int seen = 0, n = 0, i = 0;
        double worst = 0;
        for (double k = 0.3; k <= 1.0001; k += 0.05, i++) {
            const double t_old = y.c.idle_s + k * y.c.approach_s;
            render(&y, t_old);
            /* on after the freeze, a frame a second: one stream, no gap of 2 s (a view lost) */
            y.f->t_acq_ns = (int64_t)((t1 + 41 + i) * 1e9);
            if (!tracked)
                y.f->n_poses = 0;
            assert_int_equal(cn_segment_process(seg, y.f), CN_OK);
            const cn_needle_result *r = &y.f->analysis.needle;
            if (k < 0.5)
                continue;
            n++;
            const double e = tip_error_mm(r, &y.f->truth);
            print_message("%s: %.0f %% in, tip %s %.2f mm%s\n", tracked ? "tracked" : "image",
                          100 * k, r->found ? "found" : "not found", e,
                          r->tip_hidden ? " (hidden)" : "");
            if (r->found && !r->tip_hidden) {
                seen++;
                worst = fmax(worst, e);
            }
        }
        assert_int_equal(seen, n);
        assert_true(worst <= 1.5);
        cn_segment_free(seg);
        fx_close(&x);
        fx_close(&y);
    }
}

static void test_lying_freeze_flag(void **st)
{
    (void)st;
    /* the flag says "freezing" through the whole approach: no ice may appear */
    const double angles[2] = {20, 40};
    for (int a = 0; a < 2; a++) {
        fixture x;
        fx_open(&x, angles[a], 21 + (uint64_t)a);
        cn_segment *seg = cn_segment_new(NULL, x.c.width_px, x.c.height_px);
        cn_segment_set_freezing(seg, true);
        for (double t = x.c.idle_s + 2; t < x.c.idle_s + x.c.approach_s; t += 2.0) {
            render(&x, t);
            cn_segment_process(seg, x.f);
            assert_false(x.f->analysis.ice.found);
        }
        cn_segment_free(seg);
        fx_close(&x);
    }
}

/* Ice nobody keyed counts as melted (its freeze over: f then ends it when the ice was
 * largest) only when it stays 1 mm under its largest for 5 s in a row. The frames are the
 * simulator's at chosen scene times, so the ball's size is set frame by frame: it grows
 * (a silent console's 40 s freeze from 6 s) and rests at its largest (the frame of 46 s)
 * for 6 s; it then dips 1.2 mm (the frame of 70 s, the thaw) for 4 s, comes back for 3 s,
 * and dips again for 8 s. The first version said "melted" 1 s into the first dip (its
 * rule: 1 mm under once the largest was 5 s old): an f there would have ended a freeze
 * still running. */
static void test_unkeyed_melting_needs_5s(void **st)
{
    (void)st;
    fixture x;
    cn_sim_config_defaults(&x.c);
    x.c.seed = 3;
    x.c.width_px = 256;
    x.c.height_px = 192;
    x.c.depth_mm = 40;
    x.c.idle_s = 1;
    x.c.approach_s = 5;
    x.c.withdraw_s = 2;
    x.c.n_cycles = 1;
    x.c.cycles[0] = (cn_sim_cycle){40, 60};
    strcpy(x.c.protocol, "custom");
    x.c.console_silent = true;
    x.sim = cn_sim_new(&x.c);
    assert_non_null(x.sim);
    x.pool = cn_frame_pool_new(1, x.c.width_px, x.c.height_px);
    x.f = cn_frame_pool_acquire(x.pool);
    assert_non_null(x.f);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.ice.active_mm = x.c.needle_active_mm;
    cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
    assert_non_null(seg);
    /* (look time from, to, scene time shown: < 0 the look time itself) */
    const double plan[][3] = {{0, 46, -1}, {46, 52, 46}, {52, 56, 70}, {56, 59, 46},
                              {59, 67, 70}};
    bool melted_early = false, unkeyed_seen = false;
    double melted_at = -1;
    for (int k = 0; k < 5; k++)
        for (double t = plan[k][0]; t < plan[k][1]; t += 0.25) {
            assert_int_equal(cn_sim_render(x.sim, plan[k][2] < 0 ? t : plan[k][2], x.f), CN_OK);
            x.f->t_acq_ns = x.f->t_scene_ns = (int64_t)llround(t * 1e9);
            cn_segment_set_freezing(seg, false);
            cn_segment_process(seg, x.f);
            const cn_ice_front *ice = &x.f->analysis.ice;
            unkeyed_seen = unkeyed_seen || ice->unkeyed;
            const bool melted = ice->unkeyed && ice->unkeyed_peak_ns != 0;
            if (melted && t < 59)
                melted_early = true;
            if (melted && melted_at < 0 && t >= 59)
                melted_at = t;
        }
    print_message("ICE SEEN: %s; melted before the second dip: %s; in the second dip (from 59 "
                  "s): melted at %.2f s\n", unkeyed_seen ? "yes" : "no",
                  melted_early ? "yes" : "no", melted_at);
    assert_true(unkeyed_seen);
    assert_false(melted_early);
    assert_true(melted_at >= 64 && melted_at < 67);
    cn_segment_free(seg);
    fx_close(&x);
}

/* A ball about the resting probe that never grows (here the frame of 9 s, 3 s into a silent
 * console's freeze, shown for 40 s): the watch fits it, never sure of it, and says so with
 * unkeyed_watch, under which guidance raises no NERVE LOST. Before, that lasted as long as
 * the ball was fitted (review 40 F4); now 15 s at most from the first such ball. */
static void test_unkeyed_watch_is_bounded(void **st)
{
    (void)st;
    fixture x;
    cn_sim_config_defaults(&x.c);
    x.c.seed = 3;
    x.c.width_px = 256;
    x.c.height_px = 192;
    x.c.depth_mm = 40;
    x.c.idle_s = 1;
    x.c.approach_s = 5;
    x.c.withdraw_s = 2;
    x.c.n_cycles = 1;
    x.c.cycles[0] = (cn_sim_cycle){40, 60};
    strcpy(x.c.protocol, "custom");
    x.c.console_silent = true;
    x.sim = cn_sim_new(&x.c);
    assert_non_null(x.sim);
    x.pool = cn_frame_pool_new(1, x.c.width_px, x.c.height_px);
    x.f = cn_frame_pool_acquire(x.pool);
    assert_non_null(x.f);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.ice.active_mm = x.c.needle_active_mm;
    cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
    assert_non_null(seg);
    double first = -1, last = -1;
    bool unkeyed = false;
    for (double t = 0; t < 50; t += 0.25) {
        assert_int_equal(cn_sim_render(x.sim, t < 9 ? t : 9, x.f), CN_OK);
        x.f->t_acq_ns = x.f->t_scene_ns = (int64_t)llround(t * 1e9);
        cn_segment_set_freezing(seg, false);
        cn_segment_process(seg, x.f);
        unkeyed = unkeyed || x.f->analysis.ice.unkeyed;
        if (x.f->analysis.ice.unkeyed_watch) {
            if (first < 0)
                first = t;
            last = t;
        }
    }
    print_message("a ball that never grows: watched from %.2f to %.2f s; ICE SEEN: %s\n", first,
                  last, unkeyed ? "yes" : "no");
    assert_false(unkeyed);
    assert_true(first > 0);
    assert_true(last - first <= 15.0 + 1e-9);
    cn_segment_free(seg);
    fx_close(&x);
}

/* A silent console's session on a hard scene (1 s idle, 5 s approach, a 20 s freeze, a
 * 10 s thaw, a 6 s withdrawal, 4 frames/s; nothing keyed), tracked or from the image
 * alone, counted: in the freeze and the thaw, frames with the tip in view drawn seen more
 * than 5 mm off, hidden within 2 mm, and with ICE SEEN; in the withdrawal, frames with
 * the tip drawn hidden more than 5 mm off (the probe has left it). */
typedef struct {
    int frames, wrong, hidden_near, ice_seen, held_after;
    double worst;
} silent_run;

static silent_run run_silent_hard_scene(uint64_t k, bool tracked)
{
    fixture x;
    assert_int_equal(cn_sim_config_hard_scene(k, &x.c), CN_OK);
    x.c.fps = 4;
    x.c.idle_s = 1;
    x.c.approach_s = 5;
    x.c.withdraw_s = 6;
    x.c.release_thaw_s = 0;
    cn_sim_config_set_protocol(&x.c, "custom");
    x.c.n_cycles = 1;
    x.c.cycles[0] = (cn_sim_cycle){20, 10};
    x.sim = cn_sim_new(&x.c);
    assert_non_null(x.sim);
    x.pool = cn_frame_pool_new(1, x.c.width_px, x.c.height_px);
    x.f = cn_frame_pool_acquire(x.pool);
    assert_non_null(x.f);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.ice.active_mm = x.c.needle_active_mm;
    sc.nerve_auto = false;
    cn_segment *seg = cn_segment_new(&sc, x.c.width_px, x.c.height_px);
    assert_non_null(seg);
    silent_run o = {0};
    const double dur = cn_sim_duration_s(x.sim);
    for (double t = 0; t < dur; t += 0.25) {
        assert_int_equal(cn_sim_render(x.sim, t, x.f), CN_OK);
        x.f->t_acq_ns = x.f->t_scene_ns = (int64_t)llround(t * 1e9);
        if (!tracked)
            x.f->n_poses = 0;
        assert_int_equal(cn_segment_process(seg, x.f), CN_OK); /* nothing keyed */
        const cn_truth *T = &x.f->truth;
        const cn_needle_result *r = &x.f->analysis.needle;
        const double e = tip_error_mm(r, T);
        if (T->phase == CN_PHASE_WITHDRAWN) {
            o.held_after += r->found && r->tip_hidden && e > 5;
            continue;
        }
        if (T->phase != CN_PHASE_FREEZE && T->phase != CN_PHASE_THAW)
            continue;
        o.frames++;
        o.ice_seen += x.f->analysis.ice.unkeyed;
        if (r->found && !r->tip_hidden && e > 5) {
            o.wrong++;
            o.worst = fmax(o.worst, e);
        }
        o.hidden_near += r->found && r->tip_hidden && e <= 2;
    }
    print_message("silent, hard scene %d, %s: freeze and thaw: %d of %d frames seen > 5 mm off "
                  "(worst %.1f mm), %d hidden within 2 mm, ICE SEEN on %d; withdrawal: %d "
                  "held hidden > 5 mm off\n",
                  (int)k, tracked ? "tracked" : "image only", o.wrong, o.frames, o.worst,
                  o.hidden_near, o.ice_seen, o.held_after);
    cn_segment_free(seg);
    fx_close(&x);
    return o;
}

/* A freeze nobody keyed (a console without a link), tracked, on a hard scene where the
 * detector loses the whole shaft under the young ice for about 9 s: the ice, once seen
 * there (ICE SEEN), stays while its ball is still in the image and the tracked probe at its
 * rest, and the tip stays hidden there. Before, 2 s without a shaft dropped the ice, the
 * watch lapsed, and the shaft's end at the ice was drawn as the tip, seen, 7.4 mm short,
 * on 51 frames of the freeze and thaw. */
static void test_unkeyed_ice_outlives_a_lost_shaft(void **st)
{
    (void)st;
    const silent_run o = run_silent_hard_scene(12, true);
    assert_true(o.ice_seen >= o.frames / 2);
    assert_true(o.wrong <= 2);
    assert_true(o.hidden_near >= o.frames / 2);
    assert_true(o.held_after <= 1); /* and let go once the probe is drawn back */
}

/* A tracked probe pulled out of ice nobody keyed: a pose is not hidden by the ice, so one
 * drawn back 1.5 mm from its rest is a probe drawn back. Before, it had to go back as far
 * as a tip seen in the image may seem to under the ice (2 x the active length + 4 mm), and
 * the tip stayed drawn hidden at its rest while the probe left: 9 frames of this scene's
 * withdrawal, 5-15 mm off. */
static void test_tracked_probe_drawn_back_leaves_the_ice(void **st)
{
    (void)st;
    const silent_run o = run_silent_hard_scene(65, true);
    assert_true(o.ice_seen >= o.frames / 2); /* the ice was seen: its hold was the question */
    assert_true(o.held_after <= 1);
    assert_true(o.wrong <= 2);
}

/* Only a tracked pose keeps that ice: from the image alone a shaft lost under the ice and
 * a probe pulled out look alike. Kept without a pose, the tip stayed drawn hidden at its
 * rest while the probe left, on 18 frames of this scene's withdrawal (9 before and now). */
static void test_no_pose_keeps_no_ice(void **st)
{
    (void)st;
    const silent_run o = run_silent_hard_scene(64, false);
    assert_true(o.held_after <= 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needle_detector_alone),
        cmocka_unit_test(test_stage_session),
        cmocka_unit_test(test_first_seen_under_ice),
        cmocka_unit_test(test_put_back_along_its_track),
        cmocka_unit_test(test_lying_freeze_flag),
        cmocka_unit_test(test_unkeyed_melting_needs_5s),
        cmocka_unit_test(test_unkeyed_watch_is_bounded),
        cmocka_unit_test(test_unkeyed_ice_outlives_a_lost_shaft),
        cmocka_unit_test(test_no_pose_keeps_no_ice),
        cmocka_unit_test(test_tracked_probe_drawn_back_leaves_the_ice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
