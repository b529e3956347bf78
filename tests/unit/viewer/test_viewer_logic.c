/*
 * test_viewer_logic.c - the viewer's decisions that need no display: where the
 * image and needle go in 3-D for every combination of poses, which overlay
 * primitives a frame produces (and that garbage input is clamped), the HUD
 * text, and the shader lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "viewer_priv.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    cn_frame_pool *pool;
    cn_frame *f;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    fx->pool = cn_frame_pool_new(1, 640, 480);
    fx->f = cn_frame_pool_acquire(fx->pool);
    assert_int_equal(cn_frame_set_size(fx->f, 640, 480), CN_OK);
    assert_int_equal(cn_viewer_demo_frame(fx->f, 1, 0.0), CN_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    cn_frame_unref(fx->f);
    assert_int_equal(cn_frame_pool_free(fx->pool), CN_OK);
    free(fx);
    return 0;
}

static void assert_vec_near(cn_vec3 a, cn_vec3 b, double tol)
{
    if (fabs(a.x - b.x) > tol || fabs(a.y - b.y) > tol || fabs(a.z - b.z) > tol)
        fail_msg("(%g %g %g) != (%g %g %g)", a.x, a.y, a.z, b.x, b.y, b.z);
}

static void test_geom_full_tracking(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_viewer_geom g;
    cn_viewer_geom_compute(f, &g);
    assert_true(g.image_tracked && g.needle_visible && g.reference_used);
    assert_string_equal(g.note, "");
    /* ImageToReference by hand. */
    cn_mat4 r2t = cn_frame_get_pose(f, "ReferenceToTracker")->m, t2r;
    assert_int_equal(cn_mat4_invert(&r2t, &t2r), CN_OK);
    cn_mat4 p2t = cn_frame_get_pose(f, "ProbeToTracker")->m;
    cn_mat4 i2p = cn_frame_get_pose(f, "ImageToProbe")->m;
    cn_vec3 px = {100.0, 50.0, 0.0};
    cn_vec3 want = cn_mat4_apply_point(&t2r, cn_mat4_apply_point(&p2t, cn_mat4_apply_point(&i2p, px)));
    assert_vec_near(cn_mat4_apply_point(&g.image_to_ref, px), want, 1e-9);
    /* The demo's needle lies in the plane: its tip (Cryoprobe origin) is where
     * the analysed tip pixel is, and its shaft (-Z) goes back along -dir. */
    const cn_needle_result *nd = &f->analysis.needle;
    cn_vec3 tip_px = {nd->tip_mm.x / 0.08, nd->tip_mm.y / 0.08, 0.0};
    assert_vec_near(cn_mat4_apply_point(&g.needle_to_ref, (cn_vec3){0, 0, 0}),
                    cn_mat4_apply_point(&g.image_to_ref, tip_px), 1e-6);
    cn_vec3 back_px = {(nd->tip_mm.x - 10.0 * nd->dir.x) / 0.08,
                       (nd->tip_mm.y - 10.0 * nd->dir.y) / 0.08, 0.0};
    assert_vec_near(cn_mat4_apply_point(&g.needle_to_ref, (cn_vec3){0, 0, -10.0}),
                    cn_mat4_apply_point(&g.image_to_ref, back_px), 1e-6);
}

static void test_geom_fallbacks(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_viewer_geom g;
    cn_mat4 p2t = cn_frame_get_pose(f, "ProbeToTracker")->m;
    cn_mat4 i2p = cn_frame_get_pose(f, "ImageToProbe")->m;
    cn_mat4 r2t = cn_frame_get_pose(f, "ReferenceToTracker")->m;

    /* Reference lost: tracker coordinates, said so. */
    cn_frame_set_pose(f, "ReferenceToTracker", &r2t, false);
    cn_viewer_geom_compute(f, &g);
    cn_mat4 i2t = cn_mat4_mul(&p2t, &i2p);
    assert_true(cn_mat4_max_abs_diff(&g.image_to_ref, &i2t) < 1e-9);
    assert_false(g.reference_used);
    assert_true(g.needle_visible);
    assert_non_null(strstr(g.note, "reference"));

    /* A NaN pose counts as missing. */
    cn_mat4 bad = r2t;
    bad.m[3] = NAN;
    cn_frame_set_pose(f, "ReferenceToTracker", &bad, true);
    cn_viewer_geom_compute(f, &g);
    assert_false(g.reference_used);

    /* Cryoprobe lost: image tracked, needle hidden. */
    cn_mat4 c2t = cn_frame_get_pose(f, "CryoprobeToTracker")->m;
    cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, false);
    cn_viewer_geom_compute(f, &g);
    assert_true(g.image_tracked);
    assert_false(g.needle_visible);
    assert_non_null(strstr(g.note, "cryoprobe"));

    /* Probe lost, cryoprobe tracked: image by spacing, needle hidden. */
    cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, true);
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, false);
    cn_viewer_geom_compute(f, &g);
    assert_false(g.image_tracked);
    assert_false(g.needle_visible);
    assert_non_null(strstr(g.note, "probe not tracked"));

    /* No poses at all: spacing only, "no tracking". */
    f->n_poses = 0;
    cn_viewer_geom_compute(f, &g);
    cn_mat4 s = cn_mat4_scale(0.08, 0.08, 1.0);
    assert_true(cn_mat4_max_abs_diff(&g.image_to_ref, &s) < 1e-12);
    assert_false(g.needle_visible);
    assert_string_equal(g.note, "no tracking");

    /* A "valid" but flat ImageToProbe (all zeros) must not collapse the plane. */
    cn_mat4 zero = {{0}};
    cn_frame_set_pose(f, "ImageToProbe", &zero, true);
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    cn_viewer_geom_compute(f, &g);
    assert_true(cn_mat4_max_abs_diff(&g.image_to_ref, &s) < 1e-12);
    assert_false(g.needle_visible);
    assert_non_null(strstr(g.note, "degenerate"));
    f->n_poses = 0;

    /* Probe tracked without ImageToProbe: the spacing stands in for it. */
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    cn_viewer_geom_compute(f, &g);
    cn_mat4 want = cn_mat4_mul(&p2t, &s);
    assert_true(cn_mat4_max_abs_diff(&g.image_to_ref, &want) < 1e-9);
}

static int count_kind(const cn_viewer_overlay *ov, cn_ov_kind k)
{
    int n = 0;
    for (int i = 0; i < ov->n_items; i++)
        n += ov->items[i].kind == k;
    return n;
}

static void test_overlay_items(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_viewer_overlay *ov = malloc(sizeof *ov);
    cn_viewer_overlay_build(ov, f, false, true);
    assert_true(count_kind(ov, CN_OV_NEEDLE) >= 2); /* line + tip marker */
    assert_int_equal(count_kind(ov, CN_OV_NERVE), 1);
    assert_int_equal(count_kind(ov, CN_OV_ICE), 1);
    assert_int_equal(count_kind(ov, CN_OV_ISO_0), 1);
    assert_int_equal(count_kind(ov, CN_OV_ISO_20), 1);
    assert_int_equal(count_kind(ov, CN_OV_ISO_40), 1);
    assert_true(ov->has_iso[0] && ov->has_iso[1] && ov->has_iso[2]);
    assert_int_equal(count_kind(ov, CN_OV_TRUTH), 0);
    /* outline + depth ticks every 5 mm (38.4 mm deep) + lateral ticks every 5 mm
     * along the bottom (51.2 mm wide): both scales on every picture */
    assert_int_equal(count_kind(ov, CN_OV_SCALE), 1 + 7 + 10);
    assert_true(cn_viewer_lateral_step_mm(51.2) == 10.0);
    assert_true(cn_viewer_depth_step_mm(38.4) == 10.0);
    assert_true(cn_viewer_depth_step_mm(616.0) == 100.0);
    assert_true(cn_viewer_depth_step_mm(1e9) == 1000.0);
    for (int i = 0; i < ov->n_items; i++) {
        const cn_ov_item *it = &ov->items[i];
        if (it->kind == CN_OV_NERVE || it->kind == CN_OV_ISO_20)
            assert_true(it->closed);
        if (it->kind == CN_OV_ICE) {
            assert_true(it->points);
            assert_int_equal(it->n, f->analysis.ice.n);
        }
        /* The needle line runs from the image edge to the tip. */
        if (it->kind == CN_OV_NEEDLE && it->n == 2) {
            cn_pt2 a = ov->pts[it->first], b = ov->pts[it->first + 1];
            assert_true(fabsf(b.x - f->analysis.needle.tip_mm.x) < 1e-4f);
            /* image mm (core's one rule): the image's edges are at 0 */
            bool on_edge = fabsf(a.x) < 1e-3f || fabsf(a.y) < 1e-3f;
            assert_true(on_edge);
        }
    }
    /* The nerve's confidence beside its outline (top right corner), and its state:
     * found (solid), held from an earlier frame (dimmed, labelled), under the ice. */
    assert_true(ov->nerve_label_on);
    assert_string_equal(ov->nerve_label, "nerve 80 %");
    float xmax = -1e9f, ymin = 1e9f;
    for (int i = 0; i < f->analysis.nerve.n; i++) {
        xmax = fmaxf(xmax, f->analysis.nerve.pts_mm[i].x);
        ymin = fminf(ymin, f->analysis.nerve.pts_mm[i].y);
    }
    assert_true(ov->nerve_label_mm.x == xmax && ov->nerve_label_mm.y == ymin);
    /* live audit M2: after the withdrawal a line the detector finds is not the probe */
    const cn_phase ph0 = f->analysis.guidance.phase;
    f->analysis.guidance.phase = CN_PHASE_WITHDRAWN;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NEEDLE), 0);
    char hudt[768];
    f->analysed = true;
    cn_viewer_hud_format(NULL, f, hudt, sizeof hudt);
    assert_non_null(strstr(hudt, "needle withdrawn"));
    f->analysis.guidance.phase = ph0;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_true(count_kind(ov, CN_OV_NEEDLE) >= 2);
    f->analysis.nerve.held = true;
    f->analysis.nerve.confidence = 0.456f;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NERVE), 0);
    assert_int_equal(count_kind(ov, CN_OV_NERVE_HELD), 1);
    assert_string_equal(ov->nerve_label, "nerve 46 % (held)");
    f->analysis.nerve.held = false;
    f->analysis.nerve.hidden = true;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_string_equal(ov->nerve_label, "nerve (under ice)");
    f->analysis.nerve.hidden = false;
    f->analysis.nerve.confidence = NAN; /* garbage confidence: 0 %, never a crash */
    cn_viewer_overlay_build(ov, f, false, true);
    assert_string_equal(ov->nerve_label, "nerve 0 %");
    f->analysis.nerve.found = false; /* none: no outline, no label */
    cn_viewer_overlay_build(ov, f, false, true);
    assert_false(ov->nerve_label_on);
    assert_int_equal(count_kind(ov, CN_OV_NERVE) + count_kind(ov, CN_OV_NERVE_HELD), 0);
    /* none while the operator's point is set (the probe lifted): a dimmed cross at
     * the point and what it means; nothing more once the nerve is found again, and
     * a point that is not a number draws nothing */
    f->analysis.nerve_target_set = true;
    f->analysis.nerve_target_mm = (cn_pt2){20.0f, 15.0f};
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NERVE), 0);
    assert_int_equal(count_kind(ov, CN_OV_NERVE_HELD), 2);
    for (int i = 0; i < ov->n_items; i++)
        if (ov->items[i].kind == CN_OV_NERVE_HELD) {
            const cn_pt2 *p = &ov->pts[ov->items[i].first];
            assert_true(fabsf(0.5f * (p[0].x + p[1].x) - 20.0f) < 1e-4f);
            assert_true(fabsf(0.5f * (p[0].y + p[1].y) - 15.0f) < 1e-4f);
        }
    assert_true(ov->nerve_label_on);
    assert_string_equal(ov->nerve_label, "nerve not found here (u forgets)");
    f->analysis.nerve_target_mm.x = NAN;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_false(ov->nerve_label_on);
    assert_int_equal(count_kind(ov, CN_OV_NERVE_HELD), 0);
    f->analysis.nerve_target_mm.x = 20.0f;
    f->analysis.nerve.found = true;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NERVE_HELD), 0);
    assert_string_equal(ov->nerve_label, "nerve 0 %");
    f->analysis.nerve_target_set = false;
    f->analysis.nerve.found = false;
    f->analysis.nerve.found = true;
    f->analysis.nerve.confidence = 0.8f;
    cn_viewer_overlay_build(ov, f, true, true);
    assert_true(count_kind(ov, CN_OV_TRUTH) > 20); /* dashes */
    /* Analysis overlays hidden (key o): only truth and the depth scale remain. */
    cn_viewer_overlay_build(ov, f, true, false);
    assert_int_equal(count_kind(ov, CN_OV_NEEDLE) + count_kind(ov, CN_OV_NERVE) +
                         count_kind(ov, CN_OV_ICE) + count_kind(ov, CN_OV_ISO_0),
                     0);
    assert_true(count_kind(ov, CN_OV_TRUTH) > 20);

    /* Garbage in: clamped and dropped, never out of bounds. */
    f->analysis.nerve.n = 100000;
    f->analysis.ice.n = -3;
    f->analysis.n_iso = -1;
    f->analysis.nerve.pts_mm[5].y = NAN;
    f->analysis.needle.tip_mm.x = INFINITY;
    cn_viewer_overlay_build(ov, f, true, true);
    assert_int_equal(count_kind(ov, CN_OV_ICE), 0);
    assert_int_equal(count_kind(ov, CN_OV_ISO_0), 0);
    assert_int_equal(count_kind(ov, CN_OV_NEEDLE), 0);
    for (int i = 0; i < ov->n_items; i++)
        if (ov->items[i].kind == CN_OV_NERVE)
            assert_int_equal(ov->items[i].n, CN_CONTOUR_MAX - 1);
    for (int i = 0; i < ov->n_pts; i++)
        assert_true(isfinite(ov->pts[i].x) && isfinite(ov->pts[i].y));
    /* Not analysed: only the depth scale (and truth when asked). */
    f->analysed = false;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(ov->n_items, count_kind(ov, CN_OV_SCALE));
    assert_int_equal(cn_viewer_iso_kind(-19.0f), CN_OV_ISO_20);
    assert_int_equal(cn_viewer_iso_kind(-10.0f), CN_OV_ISO_OTHER);
    assert_int_equal(cn_viewer_iso_kind(NAN), CN_OV_ISO_OTHER);
    free(ov);
}

static void test_hud_text(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    f->analysis.guidance.phase_elapsed_s = 83.4;
    cn_viewer_hud hud = {29.73, 12.34, 40.0, 7, "sim", "ICE NEAR SKIN"};
    char text[512];
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "source sim"));
    assert_non_null(strstr(text, "29.7 fps"));
    assert_non_null(strstr(text, "p50 12.3 ms"));
    assert_non_null(strstr(text, "p99 40.0 ms"));
    assert_non_null(strstr(text, "skipped 7"));
    char phase[32];
    snprintf(phase, sizeof phase, "%s", cn_phase_name(CN_PHASE_FREEZE));
    for (char *c = phase; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    assert_non_null(strstr(text, phase));
    assert_non_null(strstr(text, "cycle 1  01:23"));
    assert_non_null(strstr(text, "coverage 62 %"));
    assert_non_null(strstr(text, "640x480"));
    /* withheld in a freeze (NO ICE SEEN): "--", not a blank line (teaching audit T14) */
    const double cov = f->analysis.guidance.coverage;
    f->analysis.guidance.coverage = -1;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "coverage --"));
    f->analysis.guidance.coverage = cov;
    /* offline (replay --speed 0): no frame rate, no latency, which mean nothing there; a
     * teaching snapshot showed "latency p50 79.0 ms" (review 43b F7) */
    hud.offline = true;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "source sim   offline"));
    assert_null(strstr(text, "fps"));
    assert_null(strstr(text, "latency"));
    assert_non_null(strstr(text, "coverage 62 %"));
    hud.offline = false;
    hud.fps = NAN;
    hud.source = NULL;
    f->analysed = false;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "source --   -- fps"));
    assert_non_null(strstr(text, "phase --"));
    cn_viewer_hud_format(NULL, NULL, text, 8); /* truncation is safe */
    assert_int_equal(strlen(text), 7);

    /* a file without a pixel size: the assumed mm/px is said, no depth made of it */
    f->analysed = true;
    f->spacing_mm[0] = f->spacing_mm[1] = 1.0;
    hud.spacing_assumed = true;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "image 640x480  no pixel size: 1 mm/px assumed"));
    assert_null(strstr(text, "depth"));
    hud.spacing_assumed = false;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "1.000 mm/px  depth 480.0 mm"));
    f->analysed = false;

    char st[256];
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   no tracking");
    /* a zone placed on the detected needle line says so while it is shown; one on
     * the tracked probe (or no zone) adds nothing */
    f->analysed = true;
    f->analysis.thermal.valid = true;
    f->analysis.thermal.anchor = CN_ZONE_ON_NEEDLE_LINE;
    f->analysis.thermal.anchor_confidence = 0.71f;
    f->analysis.thermal.anchor_spread_mm = 0.4f;
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   zone placed on the needle line found in the "
                            "image (steady; line 71 %)   |   no tracking");
    /* a line that jumped before the freeze is not shown as sure (review 43b F3) */
    f->analysis.thermal.anchor_spread_mm = 8.6f;
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   zone placed on a needle line that moved 9 mm "
                            "in the second before the freeze: check the shaft   |   no tracking");
    f->analysis.thermal.anchor_spread_mm = 0.4f;
    f->analysis.thermal.anchor = CN_ZONE_ON_TRACKED_PROBE;
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   no tracking");
    f->analysis.thermal.anchor = CN_ZONE_ON_NEEDLE_LINE;
    f->analysis.thermal.valid = false;
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   no tracking");
    /* a freeze with no zone because the cryoprobe is not known says so */
    f->analysis.thermal.waiting = true;
    cn_viewer_status_format(&hud, f, "no tracking", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   no ablation zone: the cryoprobe is not known (no "
                            "tracked cryoprobe, no needle line found)   |   no tracking");
    f->analysis.thermal.waiting = false;
    /* thermal audit F3: the model cannot follow the ice seen */
    f->analysis.thermal.disagree_mm = 2.34f;
    f->analysis.thermal.valid = true;
    f->analysis.thermal.anchor = CN_ZONE_ON_TRACKED_PROBE;
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   zone uncertain: the ice seen is 2.3 mm from the "
                            "model's best fit");
    f->analysis.thermal.disagree_mm = 0;
    f->analysis.thermal.fit_behind = true; /* thermal audit F4 */
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st,
                        "ICE NEAR SKIN   |   zone not fitted to the ice: the model lags this pace");
    f->analysis.thermal.fit_behind = false;
    /* review 36 N1: a 3-D field stepping on a dated step over frames shows no zone, and
     * the screen says why rather than leaving the curves to vanish */
    f->analysis.thermal.catching_up_s = 41.6f;
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   no ablation zone for a moment: the model catches "
                            "up a step keyed late (it stands 42 s behind)");
    f->analysis.thermal.catching_up_s = 0;
    f->analysis.thermal.valid = false;
    /* live audit M3: a step past its planned time says so on the screen */
    f->analysis.guidance.phase = CN_PHASE_FREEZE;
    f->analysis.guidance.cycle = 2;
    f->analysis.guidance.phase_planned_s = 150;
    f->analysis.guidance.phase_elapsed_s = 149.5;
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_null(strstr(st, "PLAN"));
    f->analysis.guidance.phase_elapsed_s = 151;
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   PLAN: stop freeze 2 (planned 02:30)");
    f->analysis.guidance.phase = CN_PHASE_THAW;
    f->analysis.guidance.phase_planned_s = 240;
    f->analysis.guidance.phase_elapsed_s = 250;
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN   |   PLAN: thaw 2 done (planned 04:00)");
    f->analysis.guidance.phase_planned_s = NAN; /* no plan: nothing */
    cn_viewer_status_format(&hud, f, "", st, sizeof st);
    assert_string_equal(st, "ICE NEAR SKIN");
    f->analysed = false;
    f->status = CN_FRAME_INVALID;
    f->spacing_mm[1] = -1.0;
    cn_viewer_status_format(NULL, f, "", st, sizeof st);
    assert_non_null(strstr(st, "invalid"));
    assert_non_null(strstr(st, "spacing"));
}

/* Every HUD line, with the widest values each field takes, is at most
 * CN_VIEWER_HUD_COLS characters: the viewer sizes the font so that many fit the 3-D
 * view (seventeenth session: one ~100-character line hid its end). */
static void test_hud_lines_fit(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_guidance_state *g = &f->analysis.guidance;
    g->phase = CN_PHASE_THAW;
    g->active_thaw = true;
    g->cycle = 12;
    g->phase_elapsed_s = 5999.0;
    g->phase_planned_s = 5999.0;
    g->procedure_s = 5999.0; /* the procedure's clock (review 39b F10) */
    g->coverage = 1.0;
    g->lethal_band_mm = 99.9;
    g->target_min_temp_c = -199.0;
    f->analysis.thermal.valid = true;
    f->analysis.needle.found = true;
    f->analysis.needle.tip_hidden = true;
    f->spacing_mm[0] = f->spacing_mm[1] = 0.999; /* depth 479.5 mm */
    /* the widest a session shows: latencies of 10 s, a million frames skipped */
    cn_viewer_hud hud = {999.9, 9999.9, 9999.9, 999999, "replay", ""};
    char text[768];
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    int lines = 0;
    for (char *p = text; p; lines++) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        print_message("%2zu  %.*s\n", n, (int)n, p);
        assert_true(n <= CN_VIEWER_HUD_COLS);
        p = nl ? nl + 1 : NULL;
    }
    assert_int_equal(lines, CN_VIEWER_HUD_LINES);
    hud.spacing_assumed = true; /* the image line's other form */
    char t2[768];
    cn_viewer_hud_format(&hud, f, t2, sizeof t2);
    const char *il = strrchr(t2, '\n');
    assert_non_null(il);
    print_message("%2zu  %s\n", strlen(il + 1), il + 1);
    assert_true(strlen(il + 1) <= CN_VIEWER_HUD_COLS);
    assert_non_null(strstr(il, "0.999 mm/px assumed"));
    hud.spacing_assumed = false;
    assert_non_null(strstr(text, "ACTIVE THAW  cycle 12  99:59 / 99:59  total 99:59\n"));
    assert_non_null(strstr(text, "coverage 100 % (-20 C band +-99.9 mm)\n"));
    assert_non_null(strstr(text, "whole target <= -199 C   needle tip hidden\n"));
    /* the band alone (coverage unknown), the needle alone (no model yet) */
    g->coverage = NAN;
    f->analysis.thermal.valid = false;
    f->analysis.needle.found = false;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    /* in a thaw (or a freeze) an unknown coverage is "--", as the guide says (before: a
     * blank line, teaching audit T14) */
    assert_non_null(strstr(text, "99:59\ncoverage --\nneedle not found\n"));
    f->analysis.thermal.valid = true;
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "\ncoverage -- (-20 C band +-99.9 mm)\n"
                                 "whole target <= -199 C   needle not found\n"));
}

/* The status line wrapped for the 3-D view: parts at '|', then words; at most so
 * many lines, the cut marked. */
static void test_text_wrap(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(cn_viewer_text_wrap("no tracking", 40, 8, false, out, sizeof out), 1);
    assert_string_equal(out, "no tracking");
    assert_int_equal(cn_viewer_text_wrap("ICE NEAR SKIN   |   no tracking", 40, 8, false, out, sizeof out), 2);
    assert_string_equal(out, "ICE NEAR SKIN\nno tracking");
    assert_int_equal(cn_viewer_text_wrap("simulated scenario t=150 s: freeze, cycle 1, ice 6.1 mm  |  "
                                         "note from alice: go 2 mm deeper",
                                         24, 8, false, out, sizeof out),
                     5);
    assert_string_equal(out, "simulated scenario t=150\ns: freeze, cycle 1, ice\n6.1 mm\n"
                             "note from alice: go 2 mm\ndeeper");
    /* a word longer than a line is cut; spaces and empty parts leave no empty line */
    assert_int_equal(cn_viewer_text_wrap("  abcdefghijkl  ||  x ", 5, 8, false, out, sizeof out), 4);
    assert_string_equal(out, "abcde\nfghij\nkl\nx");
    /* too many lines: the last one says so, within its width */
    assert_int_equal(cn_viewer_text_wrap("aa | bb | cc | dd", 5, 2, false, out, sizeof out), 2);
    assert_string_equal(out, "aa\nbb...");
    assert_int_equal(cn_viewer_text_wrap("aaaa | bbbb | cc", 4, 2, false, out, sizeof out), 2);
    assert_string_equal(out, "aaaa\nb...");
    /* pack (the alarms): parts share a line while they fit */
    const char *al = "ALARM: ICE 3.1 mm FROM SKIN | ICE IN PROTECTED STRUCTURE | TRACKING LOST | "
                     "TIP HIDDEN | NERVE LOST";
    assert_int_equal(cn_viewer_text_wrap(al, 56, 3, true, out, sizeof out), 2);
    assert_string_equal(out, "ALARM: ICE 3.1 mm FROM SKIN | ICE IN PROTECTED STRUCTURE\n"
                             "TRACKING LOST | TIP HIDDEN | NERVE LOST");
    assert_int_equal(cn_viewer_text_wrap(al, 30, 3, true, out, sizeof out), 3);
    assert_string_equal(out, "ALARM: ICE 3.1 mm FROM SKIN\nICE IN PROTECTED STRUCTURE\n"
                             "TRACKING LOST | TIP HIDDEN...");
    assert_int_equal(cn_viewer_text_wrap("a | bbbbbbbbbbbb | c", 6, 8, true, out, sizeof out), 4);
    assert_string_equal(out, "a\nbbbbbb\nbbbbbb\nc");
    /* nothing, bad widths, a small buffer: no crash, terminated */
    assert_int_equal(cn_viewer_text_wrap("", 40, 8, false, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(cn_viewer_text_wrap(NULL, 40, 8, false, out, sizeof out), 0);
    assert_int_equal(cn_viewer_text_wrap("abc", 0, 8, false, out, sizeof out), 0);
    assert_int_equal(cn_viewer_text_wrap("abc", 40, 0, false, out, sizeof out), 0);
    for (size_t cap = 1; cap <= 24; cap++) { /* every size: ASan sees each write */
        char *small = malloc(cap);
        assert_non_null(small);
        cn_viewer_text_wrap("abcdef ghijkl | mnop | qr st", 6, 8, false, small, cap);
        assert_true(strlen(small) < cap);
        cn_viewer_text_wrap("abcdef ghijkl | mnop | qr st", 6, 2, true, small, cap);
        assert_true(strlen(small) < cap);
        free(small);
    }
}

/* issue 16: numbers that change every frame are laid out again at most 4 times a
 * second; words (a state, a phase) show at once; frames without a clock are never
 * held back. */
static void test_text_update(void **state)
{
    (void)state;
    const int64_t ms = 1000000;
    const int64_t t0 = 1000 * ms;
    /* the same text is kept */
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 93 %", t0 + 10 * ms, t0), CN_TEXT_KEEP);
    /* numbers only, 50 ms later (the next frame at 20 fps): held back */
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 94 %", t0 + 50 * ms, t0), CN_TEXT_KEEP);
    assert_int_equal(cn_viewer_text_update("needle 9 %", "needle 10 %", t0 + 50 * ms, t0), CN_TEXT_KEEP);
    assert_int_equal(cn_viewer_text_update("FREEZE  cycle 1  01:23 / 02:30  coverage 62 %  target min -21 C",
                                           "FREEZE  cycle 1  01:24 / 02:30  coverage 63 %  target min -9 C",
                                           t0 + 50 * ms, t0), CN_TEXT_KEEP);
    assert_int_equal(cn_viewer_text_update("ice 3.2 mm", "ice 13.25 mm", t0 + 249 * ms, t0), CN_TEXT_KEEP);
    /* ... until the period has passed */
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 94 %", t0 + 250 * ms, t0), CN_TEXT_DUE);
    /* words change at once, however soon */
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle not found", t0 + 1 * ms, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("nerve 61 %", "nerve 61 % (held)", t0 + 1 * ms, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("FREEZE  cycle 1", "THAW  cycle 1", t0 + 1 * ms, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("", "nerve 61 %", t0 + 1 * ms, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("nerve 61 %", "", t0 + 1 * ms, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update(NULL, "x", t0 + 1 * ms, t0), CN_TEXT_NOW);
    /* a number appearing where there was none is a change of words */
    assert_int_equal(cn_viewer_text_update("needle %", "needle 5 %", t0 + 1 * ms, t0), CN_TEXT_NOW);
    /* no clock (synthetic frames), a frame shown again, a replay stepping back */
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 94 %", 0, 0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 94 %", t0, t0), CN_TEXT_NOW);
    assert_int_equal(cn_viewer_text_update("needle 93 %", "needle 94 %", t0 - 5 * ms, t0), CN_TEXT_NOW);
}

static void test_shader_lookup(void **state)
{
    (void)state;
    char *text = NULL, path[512], err[512];
    /* Default lookup finds the source tree's shaders/ in a build tree. */
    assert_int_equal(cn_viewer_load_shader(NULL, &text, path, sizeof path, err, sizeof err), CN_OK);
    assert_non_null(strstr(text, "cn_brightness"));
    assert_null(strstr(text, "uniform float cn_")); /* VTK declares them: never here */
    assert_non_null(strstr(path, "us_plane.frag"));
    free(text);
    assert_int_equal(cn_viewer_load_shader("/no/such/dir", &text, path, sizeof path, err,
                                           sizeof err),
                     CN_ENOENT);
    assert_null(text);
    assert_non_null(strstr(err, "/no/such/dir/us_plane.frag"));
}

/* The needle is drawn only at or above the operating confidence (or with its tip
 * hidden under ice), and the HUD says "needle not found" otherwise. */
static void test_needle_threshold(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_viewer_overlay *ov = calloc(1, sizeof *ov);
    assert_non_null(ov);
    cn_viewer_hud hud = {20.0, 10.0, 20.0, 0, "sim", ""};
    char text[512];
    cn_needle_result *nd = &f->analysis.needle;
    nd->found = true;
    nd->tip_hidden = false;
    nd->confidence = CN_NEEDLE_SHOW_CONFIDENCE + 0.2f;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_true(count_kind(ov, CN_OV_NEEDLE) > 0);
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "needle 70 %"));
    nd->confidence = CN_NEEDLE_SHOW_CONFIDENCE - 0.2f;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NEEDLE), 0);
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "needle not found"));
    nd->tip_hidden = true; /* under ice: the last reliable tip, drawn open */
    cn_viewer_overlay_build(ov, f, false, true);
    assert_true(count_kind(ov, CN_OV_NEEDLE) > 0);
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "needle tip hidden"));
    nd->found = false;
    nd->tip_hidden = false;
    cn_viewer_overlay_build(ov, f, false, true);
    assert_int_equal(count_kind(ov, CN_OV_NEEDLE), 0);
    cn_viewer_hud_format(&hud, f, text, sizeof text);
    assert_non_null(strstr(text, "needle not found"));
    free(ov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_geom_full_tracking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_geom_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hud_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hud_lines_fit, setup, teardown),
        cmocka_unit_test(test_text_wrap),
        cmocka_unit_test_setup_teardown(test_needle_threshold, setup, teardown),
        cmocka_unit_test(test_shader_lookup),
        cmocka_unit_test(test_text_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
