/*
 * test_guidance.c - the guidance stage on hand-built frames: coverage of known
 * overlaps (squares, circles, a concave target), the ice-to-skin alarm with its
 * hysteresis, tracking / tip / nerve alarms, the session summary, the config
 * reader's errors and the HUD text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "guidance/guidance.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int square(cn_pt2 *p, double x0, double y0, double x1, double y1)
{
    p[0] = (cn_pt2){(float)x0, (float)y0};
    p[1] = (cn_pt2){(float)x1, (float)y0};
    p[2] = (cn_pt2){(float)x1, (float)y1};
    p[3] = (cn_pt2){(float)x0, (float)y1};
    return 4;
}

static int circle(cn_pt2 *p, int n, double cx, double cy, double r)
{
    for (int i = 0; i < n; i++) {
        double a = 2 * M_PI * i / n;
        p[i] = (cn_pt2){(float)(cx + r * cos(a)), (float)(cy + r * sin(a))};
    }
    return n;
}

/* Area of the lens where two circles of radius r with centres d apart overlap. */
static double lens(double r, double d)
{
    if (d >= 2 * r)
        return 0;
    return 2 * r * r * acos(d / (2 * r)) - d / 2 * sqrt(4 * r * r - d * d);
}

static void test_coverage_squares(void **state)
{
    (void)state;
    cn_pt2 t[4], z[4];
    square(t, 0, 0, 10, 10);
    square(z, 5, 0, 15, 10);
    double c = cn_guidance_coverage(t, 4, z, 4, 0.1);
    print_message("  squares half overlap: %.4f (exact 0.5)\n", c);
    assert_true(fabs(c - 0.5) < 0.02);
    square(z, 2.5, 2.5, 20, 20); /* quarter-ish: 7.5 x 7.5 / 100 */
    c = cn_guidance_coverage(t, 4, z, 4, 0.1);
    print_message("  squares corner overlap: %.4f (exact 0.5625)\n", c);
    assert_true(fabs(c - 0.5625) < 0.02);
    square(z, -1, -1, 11, 11);
    assert_true(fabs(cn_guidance_coverage(t, 4, z, 4, 0.1) - 1) < 1e-9);
    square(z, 20, 20, 30, 30);
    assert_true(cn_guidance_coverage(t, 4, z, 4, 0.1) == 0);
    /* reversed winding of the zone changes nothing (even-odd rule) */
    square(z, 5, 0, 15, 10);
    cn_pt2 zr[4] = {z[3], z[2], z[1], z[0]};
    assert_true(fabs(cn_guidance_coverage(t, 4, zr, 4, 0.1) - 0.5) < 0.02);
}

static void test_coverage_circles(void **state)
{
    (void)state;
    static cn_pt2 t[256], z[256];
    const double r = 3.5; /* a 7 mm nerve */
    double worst = 0;
    for (double d = 0; d <= 7.5; d += 0.5) {
        circle(t, 256, 20, 18, r);
        circle(z, 180, 20 + d, 18, r); /* a coarser zone curve, as the thermal one */
        double c = cn_guidance_coverage(t, 256, z, 180, 0.1);
        double exact = lens(r, d) / (M_PI * r * r);
        worst = fmax(worst, fabs(c - exact));
        assert_true(fabs(c - exact) < 0.02);
    }
    print_message("  circles r 3.5 mm, centres 0..7.5 mm apart: worst error %.4f (of 1)\n", worst);
    /* a big zone fully around the target */
    circle(z, 180, 21, 17, 8);
    assert_true(fabs(cn_guidance_coverage(t, 256, z, 180, 0.1) - 1) < 1e-9);
    /* ellipse-ish target (as the nerve) and a partial zone: compare with a 0.01 mm grid */
    for (int i = 0; i < 256; i++) {
        double a = 2 * M_PI * i / 256;
        t[i] = (cn_pt2){(float)(20 + 4 * cos(a)), (float)(18 + 2.5 * sin(a))};
    }
    circle(z, 180, 17, 15, 4);
    double coarse = cn_guidance_coverage(t, 256, z, 180, 0.1);
    double fine = cn_guidance_coverage(t, 256, z, 180, 0.01);
    print_message("  ellipse vs circle: %.4f at 0.1 mm, %.4f at 0.01 mm\n", coarse, fine);
    assert_true(coarse > 0.05 && coarse < 0.95);
    assert_true(fabs(coarse - fine) < 0.01);
}

static void test_coverage_concave_and_bad(void **state)
{
    (void)state;
    /* L-shaped target: 10x10 square minus its upper-right 5x5 quarter (area 75) */
    cn_pt2 t[6] = {{0, 0}, {5, 0}, {5, 5}, {10, 5}, {10, 10}, {0, 10}};
    cn_pt2 z[4];
    square(z, 5, 0, 10, 10); /* covers only the lower-right 5x5 = 25 of 75 */
    double c = cn_guidance_coverage(t, 6, z, 4, 0.1);
    print_message("  concave L target: %.4f (exact 0.3333)\n", c);
    assert_true(fabs(c - 1.0 / 3) < 0.02);
    /* degenerate inputs: -1 or 0, never NaN or a crash */
    assert_true(cn_guidance_coverage(t, 2, z, 4, 0.1) == -1);
    assert_true(cn_guidance_coverage(NULL, 6, z, 4, 0.1) == -1);
    assert_true(cn_guidance_coverage(t, 6, z, 4, 0) == -1);
    assert_true(cn_guidance_coverage(t, 6, z, 4, NAN) == -1);
    cn_pt2 flat[3] = {{0, 1}, {5, 1}, {9, 1}};
    assert_true(cn_guidance_coverage(flat, 3, z, 4, 0.1) == -1);
    cn_pt2 nanp[4];
    square(nanp, 0, 0, 1, 1);
    nanp[2].x = NAN;
    assert_true(cn_guidance_coverage(nanp, 4, z, 4, 0.1) == -1);
    assert_true(cn_guidance_coverage(t, 6, nanp, 4, 0.1) == 0); /* bad zone: nothing covered */
    /* a huge target stays fast (rows are capped) */
    cn_pt2 big[4];
    square(big, 0, 0, 1e7, 1e7);
    assert_true(fabs(cn_guidance_coverage(big, 4, big, 4, 0.1) - 1) < 1e-6);
}

/* ------------------------------------------------------------------ the stage */

typedef struct {
    cn_frame_pool *pool;
    cn_guidance *g;
} fixture;

static int setup(void **state)
{
    static fixture fx;
    fx.pool = cn_frame_pool_new(2, 8, 8);
    cn_guidance_config c;
    cn_guidance_config_default(&c);
    fx.g = cn_guidance_new(&c);
    *state = &fx;
    return fx.pool && fx.g ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    cn_guidance_free(fx->g);
    return cn_frame_pool_free(fx->pool) == CN_OK ? 0 : -1;
}

/* A frame with a 7 mm nerve at depth 18, ice rim (its top at rim_top_mm, or none
 * when < 0), a -20 C circle of radius r20 around (cx20, 18) (none when <= 0). */
static cn_frame *make(fixture *fx, double rim_top_mm, double cx20, double r20)
{
    cn_frame *f = cn_frame_pool_acquire(fx->pool);
    assert_non_null(f);
    cn_analysis *a = &f->analysis;
    a->guidance.coverage = -1;
    a->nerve.found = true;
    a->nerve.n = circle(a->nerve.pts_mm, 128, 20, 18, 3.5);
    if (rim_top_mm >= 0) {
        a->ice.found = true;
        a->ice.n = 20;
        for (int i = 0; i < 20; i++) /* an arc whose top is rim_top_mm */
            a->ice.pts_mm[i] = (cn_pt2){(float)(15 + i * 0.5),
                                        (float)(rim_top_mm + 0.02 * (i - 10) * (i - 10))};
    }
    if (r20 > 0) {
        a->n_iso = 3;
        a->iso[0].temp_c = 0;
        a->iso[0].n = circle(a->iso[0].pts_mm, 72, cx20, 18, r20 + 3);
        a->iso[1].temp_c = -20;
        a->iso[1].n = circle(a->iso[1].pts_mm, 72, cx20, 18, r20);
        a->iso[2].temp_c = -40;
        a->iso[2].n = circle(a->iso[2].pts_mm, 72, cx20, 18, r20 - 1);
    }
    return f;
}

static uint32_t run(fixture *fx, cn_frame *f)
{
    assert_int_equal(cn_guidance_process(fx->g, f), CN_OK);
    uint32_t al = f->analysis.guidance.alarms;
    return al;
}

static void test_stage_coverage(void **state)
{
    fixture *fx = *state;
    cn_frame *f = make(fx, -1, 20, 8);
    run(fx, f);
    assert_true(fabs(f->analysis.guidance.coverage - 1) < 1e-6);
    cn_frame_unref(f);
    f = make(fx, -1, 27, 3.5); /* touching circles: nothing covered */
    run(fx, f);
    assert_true(f->analysis.guidance.coverage < 0.01 && f->analysis.guidance.coverage >= 0);
    cn_frame_unref(f);
    f = make(fx, -1, 23.5, 3.5); /* centres one radius apart */
    run(fx, f);
    double exact = lens(3.5, 3.5) / (M_PI * 3.5 * 3.5);
    print_message("  stage: half-offset circles %.4f (exact %.4f)\n", f->analysis.guidance.coverage,
                  exact);
    assert_true(fabs(f->analysis.guidance.coverage - exact) < 0.02);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0); /* no -20 C curve */
    run(fx, f);
    assert_true(f->analysis.guidance.coverage == -1);
    cn_frame_unref(f);
    f = make(fx, -1, 20, 8); /* no nerve */
    f->analysis.nerve.found = false;
    run(fx, f);
    assert_true(f->analysis.guidance.coverage == -1);
    cn_frame_unref(f);
    cn_guidance_summary s;
    cn_guidance_get_summary(fx->g, &s);
    assert_true(fabs(s.max_coverage - 1) < 1e-6);
    assert_true(s.last_coverage == -1);
    assert_true(s.frames == 5);
}

static void test_skin_alarm_hysteresis(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    /* rim top depth -> expected alarm with threshold 5 and hysteresis 0.5 */
    static const struct {
        double top;
        bool on;
    } seq[] = {{9, false}, {6, false}, {4, true}, {5.2, true}, {5.45, true}, {5.6, false},
               {5.2, false}, {4.95, true}, {-1, false}, {3, true}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, seq[i].top, 0, 0);
        uint32_t al = run(fx, f);
        if (((al & CN_ALARM_ICE_NEAR_SKIN) != 0) != seq[i].on)
            fail_msg("rim top at %.2f mm: alarm %s, expected %s", seq[i].top,
                     al & CN_ALARM_ICE_NEAR_SKIN ? "on" : "off", seq[i].on ? "on" : "off");
        cn_frame_unref(f);
    }
    cn_guidance_summary s;
    cn_guidance_get_summary(fx->g, &s);
    assert_true(fabs(s.min_skin_distance_mm - 3) < 1e-6);
    assert_true(fabs(s.last_skin_distance_mm - 3) < 1e-6);
    assert_true(s.alarms_seen & CN_ALARM_ICE_NEAR_SKIN);
    /* the 0 C model curve is shallower than the rim: it counts (smaller of the two) */
    cn_guidance_reset(fx->g);
    cn_frame *f = make(fx, 12, 20, 12); /* 0 C circle radius 15 around depth 18: top 3 */
    assert_true(run(fx, f) & CN_ALARM_ICE_NEAR_SKIN);
    cn_guidance_get_summary(fx->g, &s);
    assert_true(fabs(s.last_skin_distance_mm - 3) < 0.01);
    cn_frame_unref(f);
    /* skin line deeper than the face: distance is measured from it */
    cn_guidance_config c;
    cn_guidance_config_default(&c);
    c.skin_depth_mm = 2;
    cn_guidance *g2 = cn_guidance_new(&c);
    assert_non_null(g2);
    f = make(fx, 6.5, 0, 0);
    assert_int_equal(cn_guidance_process(g2, f), CN_OK);
    assert_true(f->analysis.guidance.alarms & CN_ALARM_ICE_NEAR_SKIN); /* 4.5 mm */
    cn_frame_unref(f);
    f = make(fx, 7.6, 0, 0);
    assert_int_equal(cn_guidance_process(g2, f), CN_OK);
    assert_false(f->analysis.guidance.alarms & CN_ALARM_ICE_NEAR_SKIN); /* 5.6 mm */
    cn_frame_unref(f);
    cn_guidance_free(g2);
}

/* Thermal audit F2: the rim is looked for only while freezing, and the alarm used
 * the rim of the frame: on the first thaw frame ICE NEAR SKIN cleared with the real
 * ice 4.3 mm under the skin (the model, smaller than the real ice, said 7 mm). In
 * the thaw the rim of the freeze is held and recedes as the model's ice does. */
static void test_skin_alarm_held_through_thaw(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    static const struct {
        cn_phase phase;
        double rim_top, r20; /* model 0 C circle of radius r20 + 3 about depth 18 */
        bool on;
    } seq[] = {
        {CN_PHASE_FREEZE, 4.3, 8, true},   /* rim 4.3, model top 7: the rim leads by 2.7 */
        {CN_PHASE_FREEZE, -1, 8, true},    /* a freeze frame with no rim found: held (the
                                              review: it cleared the alarm for a frame) */
        {CN_PHASE_FREEZE, 4.3, 8, true},
        {CN_PHASE_THAW, -1, 7.8, true},    /* gas off: no rim; model top 7.2 -> held 4.5 */
        {CN_PHASE_THAW, -1, 7.0, true},    /* model top 8.0 -> held 5.3 (hysteresis: on) */
        {CN_PHASE_THAW, -1, 6.0, false},   /* model top 9.0 -> held 6.3: receded */
        {CN_PHASE_WITHDRAWN, -1, 7.8, true}, /* the ice stays after the probe left */
        {CN_PHASE_WITHDRAWN, -1, 0, false}, /* the model's ice melted */
        /* freeze 2 elsewhere, its rim not found yet, no model yet: freeze
         * 1's rim is not held into it (the review of the change: ON at 3.0 mm) */
        {CN_PHASE_FREEZE, -1, 0, false},
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, seq[i].rim_top, 20, seq[i].r20);
        f->analysis.guidance.phase = seq[i].phase;
        f->analysis.guidance.cycle = i + 1 == sizeof seq / sizeof seq[0] ? 2 : 1;
        uint32_t al = run(fx, f);
        if (((al & CN_ALARM_ICE_NEAR_SKIN) != 0) != seq[i].on)
            fail_msg("step %zu (%s): ice to skin %.2f mm, alarm %s, expected %s", i,
                     cn_phase_name(seq[i].phase), f->analysis.guidance.ice_to_skin_mm,
                     al & CN_ALARM_ICE_NEAR_SKIN ? "on" : "off", seq[i].on ? "on" : "off");
        cn_frame_unref(f);
    }
}

static void test_tracking_tip_nerve(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    cn_mat4 id = cn_mat4_identity();
    /* no tracker at all: never "lost" */
    cn_frame *f = make(fx, -1, 0, 0);
    assert_false(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    /* a pose of another tool does not count */
    f = make(fx, -1, 0, 0);
    cn_frame_set_pose(f, "ProbeToTracker", &id, false);
    assert_false(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, true);
    assert_false(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, false);
    assert_true(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0); /* the pose disappeared */
    assert_true(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    cn_mat4 bad = id;
    bad.m[3] = NAN;
    cn_frame_set_pose(f, "CryoprobeToTracker", &bad, true); /* "valid" but not finite */
    assert_true(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, true);
    assert_false(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);
    /* an invalid pose from the first frame on is an alarm too */
    cn_guidance_reset(fx->g);
    f = make(fx, -1, 0, 0);
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, false);
    assert_true(run(fx, f) & CN_ALARM_TRACKING_LOST);
    cn_frame_unref(f);

    /* tip hidden follows the needle result, outside the freeze/thaw cycles */
    f = make(fx, -1, 0, 0);
    f->analysis.needle.found = true;
    f->analysis.needle.tip_hidden = true;
    assert_true(run(fx, f) & CN_ALARM_TIP_HIDDEN);
    cn_frame_unref(f);
    /* during a freeze the ice always hides the tip: expected, no alarm */
    f = make(fx, -1, 0, 0);
    f->analysis.needle.found = true;
    f->analysis.needle.tip_hidden = true;
    f->analysis.guidance.phase = CN_PHASE_FREEZE;
    assert_false(run(fx, f) & CN_ALARM_TIP_HIDDEN);
    cn_frame_unref(f);

    /* nerve lost: only after a nerve was found in this session */
    cn_guidance_reset(fx->g);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    assert_true(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    /* ...but not where ice hides it: a freeze nobody keyed, or after the withdrawal (review
     * 39b F11: the ice's shadow raised NERVE LOST there) */
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    f->analysis.ice.unkeyed = true;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    f->analysis.guidance.phase = CN_PHASE_WITHDRAWN;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    /* ...nor while the ice detector watches a ball that may be such ice, not yet sure
     * (review 39c: 3 s of NERVE LOST before ICE SEEN) */
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    f->analysis.ice.unkeyed_watch = true;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);

    /* bits guidance does not own (set by another stage) are kept */
    f = make(fx, -1, 0, 0);
    f->analysis.guidance.alarms = CN_ALARM_PROTECTED_STRUCTURE | CN_ALARM_TIP_HIDDEN;
    assert_int_equal(run(fx, f), CN_ALARM_PROTECTED_STRUCTURE);
    cn_frame_unref(f);
}

/* A withdrawal nobody keyed, with ice nobody keyed still there (the 38th session's note):
 * the ice detector looks along the needle, so the ice vanished from the analysis at once
 * while it still hid the nerve, and NERVE LOST came up over the melting ball. */
static void test_nerve_under_ice_left_by_the_probe(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    cn_frame *f = make(fx, -1, 0, 0); /* the nerve seen */
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0); /* an unkeyed ball of 2.9 mm, the nerve held in its shadow */
    f->analysis.ice.unkeyed = true;
    f->analysis.ice.radius_mm = 2.9f;
    f->analysis.nerve.hidden = true;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0); /* the probe leaving: the watch still holds, no ball fitted */
    f->analysis.ice.unkeyed = true;
    f->analysis.nerve.hidden = true;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    for (int i = 0; i < 20; i++) { /* the probe left: no ice seen, the nerve not found */
        f = make(fx, -1, 0, 0);
        f->analysis.nerve.found = false;
        assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
        cn_frame_unref(f);
    }
    f = make(fx, -1, 0, 0); /* the ice melted: the nerve seen again */
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0); /* lost after that: an alarm */
    f->analysis.nerve.found = false;
    assert_true(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);

    /* review 42: f keyed under ICE SEEN ends the unkeyed ice too: that is no probe leaving,
     * and NERVE LOST must come back after the keyed cycle (it stayed off for good) */
    cn_guidance_reset(fx->g);
    f = make(fx, -1, 0, 0);
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0);
    f->analysis.ice.unkeyed = true;
    f->analysis.ice.radius_mm = 2.9f;
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0); /* keyed: a freeze */
    f->analysis.guidance.phase = CN_PHASE_FREEZE;
    f->analysis.guidance.cycle = 1;
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0); /* back in the approach, the nerve not found: said */
    f->analysis.guidance.phase = CN_PHASE_APPROACH;
    f->analysis.nerve.found = false;
    assert_true(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    /* ...and ice the probe left with hides the nerve for 120 s at most */
    cn_guidance_reset(fx->g);
    const int64_t s_ns = 1000000000LL;
    f = make(fx, -1, 0, 0);
    f->t_scene_ns = 0;
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0);
    f->t_scene_ns = 1 * s_ns;
    f->analysis.ice.unkeyed = true;
    f->analysis.ice.radius_mm = 2.9f;
    run(fx, f);
    cn_frame_unref(f);
    const int at_s[] = {2, 60, 121, 125};
    for (int i = 0; i < 4; i++) {
        f = make(fx, -1, 0, 0);
        f->t_scene_ns = at_s[i] * s_ns;
        f->analysis.nerve.found = false;
        const bool lost = run(fx, f) & CN_ALARM_NERVE_LOST;
        assert_true(lost == (at_s[i] > 122));
        cn_frame_unref(f);
    }

    /* ice that melted away where it was watched (0.4 mm, then gone) hides nothing */
    cn_guidance_reset(fx->g);
    f = make(fx, -1, 0, 0);
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0);
    f->analysis.ice.unkeyed = true;
    f->analysis.ice.radius_mm = 0.4f;
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    assert_true(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    /* ...and a held outline is not the nerve seen again */
    cn_guidance_reset(fx->g);
    f = make(fx, -1, 0, 0);
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, 9, 0, 0);
    f->analysis.ice.unkeyed = true;
    f->analysis.ice.radius_mm = 2.0f;
    run(fx, f);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.held = true;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
    f = make(fx, -1, 0, 0);
    f->analysis.nerve.found = false;
    assert_false(run(fx, f) & CN_ALARM_NERVE_LOST);
    cn_frame_unref(f);
}

static void test_summary_times(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    /* idle 0..2 s, freeze 0..10 s (coverage full from 4 s), thaw, freeze cycle 2 0..3 s */
    struct {
        cn_phase ph;
        int cycle;
        double el;
        double r20;
    } seq[] = {{CN_PHASE_IDLE, 0, 0, 0},   {CN_PHASE_IDLE, 0, 2, 0},    {CN_PHASE_FREEZE, 1, 0.5, 0},
               {CN_PHASE_FREEZE, 1, 2, 2}, {CN_PHASE_FREEZE, 1, 4, 8},  {CN_PHASE_FREEZE, 1, 10, 8},
               {CN_PHASE_THAW, 1, 1, 8},   {CN_PHASE_THAW, 1, 5, 0},    {CN_PHASE_FREEZE, 2, 1, 0},
               {CN_PHASE_FREEZE, 2, 3, 0}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, -1, 20, seq[i].r20);
        f->analysis.guidance.phase = seq[i].ph;
        f->analysis.guidance.cycle = seq[i].cycle;
        f->analysis.guidance.phase_elapsed_s = seq[i].el;
        run(fx, f);
        cn_frame_unref(f);
    }
    cn_guidance_summary s;
    cn_guidance_get_summary(fx->g, &s);
    print_message("  summary: frozen %.1f s, lethal %.1f s, max coverage %.3f\n", s.frozen_s,
                  s.lethal_s, s.max_coverage);
    assert_true(fabs(s.frozen_s - 13) < 1e-9); /* 10 s + 3 s */
    /* full coverage from freeze 4 s: 4 -> 10 s in freeze (6 s) + thaw 0 -> 1 s is a
     * phase change (not counted) */
    assert_true(fabs(s.lethal_s - 6) < 1e-9);
    assert_true(fabs(s.max_coverage - 1) < 1e-9);
    assert_true(isnan(s.min_skin_distance_mm) == false); /* 0 C curves existed */
}

static void test_target_lock(void **state)
{
    fixture *fx = *state;
    /* approach: the nerve at (20, 18); freeze: the tracker drifts to (20, 12) in the
     * ice shadow, then loses it; the -20 C curve covers the real nerve only */
    for (int lock = 1; lock >= 0; lock--) {
        cn_guidance_config c;
        cn_guidance_config_default(&c);
        c.lock_target = lock;
        cn_guidance *g = cn_guidance_new(&c);
        assert_non_null(g);
        cn_frame *f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = CN_PHASE_APPROACH;
        assert_int_equal(cn_guidance_process(g, f), CN_OK);
        assert_true(fabs(f->analysis.guidance.coverage - 1) < 1e-6);
        cn_frame_unref(f);
        f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = CN_PHASE_FREEZE;
        f->analysis.nerve.n = circle(f->analysis.nerve.pts_mm, 128, 20, 12, 3.5);
        assert_int_equal(cn_guidance_process(g, f), CN_OK);
        double cov = f->analysis.guidance.coverage;
        cn_guidance_summary s;
        cn_guidance_get_summary(g, &s);
        if (lock) {
            assert_true(fabs(cov - 1) < 1e-6);
            assert_true(s.target_locked);
            /* the frame now carries the outline in use, not the drifted one */
            double cy = 0;
            for (int i = 0; i < f->analysis.nerve.n; i++)
                cy += f->analysis.nerve.pts_mm[i].y;
            cy /= f->analysis.nerve.n;
            assert_true(fabs(cy - 18) < 0.1);
        } else {
            assert_true(cov < 0.3);
            assert_false(s.target_locked);
        }
        cn_frame_unref(f);
        f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = CN_PHASE_FREEZE;
        f->analysis.nerve.found = false;
        assert_int_equal(cn_guidance_process(g, f), CN_OK);
        if (lock) { /* the hidden nerve is expected: no alarm, the locked target stands */
            assert_true(fabs(f->analysis.guidance.coverage - 1) < 1e-6);
            assert_false(f->analysis.guidance.alarms & CN_ALARM_NERVE_LOST);
        } else {
            assert_true(f->analysis.guidance.coverage == -1);
            assert_true(f->analysis.guidance.alarms & CN_ALARM_NERVE_LOST);
        }
        cn_frame_unref(f);
        /* after the cycles the live nerve counts again */
        f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = CN_PHASE_WITHDRAWN;
        f->analysis.nerve.n = circle(f->analysis.nerve.pts_mm, 128, 20, 12, 3.5);
        assert_int_equal(cn_guidance_process(g, f), CN_OK);
        assert_true(f->analysis.guidance.coverage < 0.3);
        cn_frame_unref(f);
        cn_guidance_free(g);
    }
}

/* ------------------------------------------------------------------ config + text */

static int cfg(const char *text, cn_guidance_config *c, char *err, size_t len)
{
    cn_json *d = cn_json_parse(text, "test.json", err, len);
    assert_non_null(d);
    cn_guidance_config_default(c);
    int rc = cn_guidance_config_from_json(d, "guidance", c, err, len);
    cn_json_free(d);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    cn_guidance_config c;
    char err[512] = "";
    assert_int_equal(cfg("{\"guidance\": {\"min_skin_distance_mm\": 7, \"skin_depth_mm\": 1.5}}",
                         &c, err, sizeof err),
                     CN_OK);
    assert_true(c.min_skin_distance_mm == 7 && c.skin_depth_mm == 1.5 && c.hysteresis_mm == 0.5);
    assert_int_equal(cfg("{\"guidance\": {\"lock_target\": false}}", &c, err, sizeof err), CN_OK);
    assert_false(c.lock_target);
    assert_int_equal(cfg("{\"guidance\": {\"lock_target\": 1}}", &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "guidance.lock_target"));
    assert_int_equal(cfg("{\"sim\": {}}", &c, err, sizeof err), CN_OK); /* absent = defaults */
    assert_true(c.min_skin_distance_mm == 5 && c.skin_depth_mm == 0);
    assert_int_equal(cfg("{\"guidance\": {\n \"min_skin_distanc_mm\": 7}}", &c, err, sizeof err),
                     CN_EINVAL);
    print_message("  unknown key: %s\n", err);
    assert_non_null(strstr(err, "test.json:2"));
    assert_non_null(strstr(err, "guidance.min_skin_distanc_mm"));
    assert_int_equal(cfg("{\"guidance\": {\n\n \"skin_depth_mm\": -3}}", &c, err, sizeof err),
                     CN_EINVAL);
    print_message("  out of range: %s\n", err);
    assert_non_null(strstr(err, "test.json:3"));
    assert_non_null(strstr(err, "guidance.skin_depth_mm"));
    assert_int_equal(cfg("{\"guidance\": {\"hysteresis_mm\": \"big\"}}", &c, err, sizeof err),
                     CN_EINVAL);
    assert_non_null(strstr(err, "guidance.hysteresis_mm"));
    assert_int_equal(cfg("{\"guidance\": 5}", &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "guidance"));
    /* the handle refuses a bad struct */
    cn_guidance_config_default(&c);
    c.min_skin_distance_mm = NAN;
    assert_null(cn_guidance_new(&c));
    cn_guidance_config_default(&c);
    c.grid_mm = 0;
    assert_null(cn_guidance_new(&c));
    assert_null(cn_guidance_new(NULL));
    assert_int_equal(cn_guidance_process(NULL, NULL), CN_EINVAL);
}

static void test_config_file(void **state)
{
    (void)state;
    /* the shipped session file carries a valid guidance object */
    char err[512] = "";
    cn_json *d = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    assert_non_null(d);
    assert_true(cn_json_has(d, "guidance"));
    cn_guidance_config c;
    cn_guidance_config_default(&c);
    assert_int_equal(cn_guidance_config_from_json(d, "guidance", &c, err, sizeof err), CN_OK);
    assert_true(c.min_skin_distance_mm == 5);
    cn_json_free(d);
}

/* A keyed freeze with no zone at all (no tracked cryoprobe, no needle line) had only an
 * orange status line: no red alarm, none for a proctor, none in the record (review 41b F4).
 * Now a red alarm after the model's first seconds, with its words in the record. */
static void test_freeze_without_zone(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    struct {
        cn_phase ph;
        double el;
        bool waiting;
        bool alarm;
        int cycle;
    } seq[] = {{CN_PHASE_APPROACH, 5, false, false, 1}, {CN_PHASE_FREEZE, 0, true, false, 1},
               {CN_PHASE_FREEZE, 2.9, true, false, 1},  {CN_PHASE_FREEZE, 3.0, true, true, 1},
               {CN_PHASE_FREEZE, 20, true, true, 1},    {CN_PHASE_FREEZE, 21, false, false, 1},
               {CN_PHASE_THAW, 1, true, false, 1},
               /* a second freeze dated back 10 s (f keyed under ICE SEEN): the grace counts
                * from its first frame, not from its start (review 44 F8: the alarm came on
                * the key frame, before the needle line was looked for) */
               {CN_PHASE_FREEZE, 10, true, false, 2},   {CN_PHASE_FREEZE, 12.9, true, false, 2},
               {CN_PHASE_FREEZE, 13.0, true, true, 2},
               /* a zone, then lost in the same freeze (the model reset): the same grace from
                * the loss (the review of the change: at once when the freeze had begun
                * without one, 3 s late when it had begun with one) */
               {CN_PHASE_FREEZE, 14, false, false, 2},  {CN_PHASE_FREEZE, 20, true, false, 2},
               {CN_PHASE_FREEZE, 22.9, true, false, 2}, {CN_PHASE_FREEZE, 23, true, true, 2}};
    bool said = false;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, -1, 20, 0);
        f->analysis.guidance.phase = seq[i].ph;
        f->analysis.guidance.cycle = seq[i].cycle;
        f->analysis.guidance.phase_elapsed_s = seq[i].el;
        f->analysis.thermal.waiting = seq[i].waiting;
        uint32_t al = run(fx, f);
        char buf[256];
        cn_guidance_alarm_text(al, buf, sizeof buf);
        print_message("  %s %.1f s waiting=%d: \"%s\"\n", seq[i].ph == CN_PHASE_FREEZE ? "freeze" : "other",
                      seq[i].el, seq[i].waiting, buf);
        assert_int_equal(strstr(buf, "FREEZING WITH NO ZONE") != NULL, seq[i].alarm);
        for (int e = 0; e < f->analysis.n_events; e++)
            if (strstr(f->analysis.events[e].text, "alarm set=") &&
                strstr(f->analysis.events[e].text, "FREEZING WITH NO ZONE: CRYOPROBE NOT FOUND"))
                said = true;
        cn_frame_unref(f);
    }
    assert_true(said);
}

/* A held outline (the last one, shown while the nerve is not found) keeps NERVE LOST from
 * flickering on, but cleared it once on: after a lifted probe the old outline came back
 * held over a new view, and NERVE LOST went set, clear, set (review 43b F1). */
static void test_held_outline_does_not_clear_nerve_lost(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    struct {
        bool found, held, lost;
    } seq[] = {{true, false, false}, {true, true, false}, /* held at once: no flicker */
               {false, false, true}, {true, true, true},  /* held after LOST: still lost */
               {true, true, true},   {true, false, false}}; /* found again: clears */
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, -1, 20, 0);
        f->analysis.guidance.phase = CN_PHASE_APPROACH;
        f->analysis.guidance.phase_elapsed_s = (double)i;
        f->analysis.nerve.found = seq[i].found;
        f->analysis.nerve.held = seq[i].held;
        if (!seq[i].found)
            f->analysis.nerve.n = 0;
        uint32_t al = run(fx, f);
        print_message("  frame %zu found %d held %d: NERVE LOST %d\n", i, seq[i].found,
                      seq[i].held, (al & CN_ALARM_NERVE_LOST) != 0);
        assert_int_equal((al & CN_ALARM_NERVE_LOST) != 0, seq[i].lost);
        cn_frame_unref(f);
    }
}

/* A zone on a needle line that was not steady before the freeze (a fascia line's end jumps
 * between frames) is a red alarm through the freeze and its thaw (review 43b F3). */
static void test_unsteady_anchor(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    struct {
        cn_phase ph;
        int anchor;
        float spread;
        bool alarm;
    } seq[] = {{CN_PHASE_FREEZE, CN_ZONE_ON_NEEDLE_LINE, 0.4f, false},
               {CN_PHASE_FREEZE, CN_ZONE_ON_NEEDLE_LINE, 8.6f, true},
               {CN_PHASE_FREEZE, CN_ZONE_ON_NEEDLE_LINE, INFINITY, false}, /* unknown: the */
               {CN_PHASE_FREEZE, CN_ZONE_ON_NEEDLE_LINE, NAN, false}, /* status line's only */
               {CN_PHASE_THAW, CN_ZONE_ON_NEEDLE_LINE, 8.6f, true},
               {CN_PHASE_FREEZE, CN_ZONE_ON_TRACKED_PROBE, 0.0f, false},
               {CN_PHASE_APPROACH, CN_ZONE_ON_NEEDLE_LINE, 8.6f, false}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        cn_frame *f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = seq[i].ph;
        f->analysis.guidance.cycle = 1;
        f->analysis.guidance.phase_elapsed_s = 10;
        f->analysis.thermal.valid = true;
        f->analysis.thermal.anchor = seq[i].anchor;
        f->analysis.thermal.anchor_spread_mm = seq[i].spread;
        char buf[256];
        cn_guidance_alarm_text(run(fx, f), buf, sizeof buf);
        print_message("  %zu: \"%s\"\n", i, buf);
        assert_int_equal(strstr(buf, "ZONE ON AN UNSTEADY NEEDLE LINE") != NULL, seq[i].alarm);
        cn_frame_unref(f);
    }
}

/* NO ICE SEEN asks "gas flowing? probe in the image plane?": after the withdrawal the probe
 * is out, and the red alarm stood on until the next freeze (review 43b F5). */
static void test_no_ice_seen_ends_at_withdrawal(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    const cn_phase ph[3] = {CN_PHASE_FREEZE, CN_PHASE_THAW, CN_PHASE_WITHDRAWN};
    const bool want[3] = {true, true, false};
    for (int i = 0; i < 3; i++) {
        cn_frame *f = make(fx, -1, 20, 5);
        f->analysis.guidance.phase = ph[i];
        f->analysis.guidance.cycle = 1;
        f->analysis.guidance.phase_elapsed_s = 5;
        f->analysis.thermal.valid = true;
        f->analysis.thermal.no_ice_seen = true;
        const uint32_t al = run(fx, f);
        assert_int_equal((al & CN_ALARM_NO_ICE_SEEN) != 0, want[i]);
        cn_frame_unref(f);
    }
}

static void test_alarm_text(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(cn_guidance_alarm_text(0, buf, sizeof buf), "");
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_ICE_NEAR_SKIN, buf, sizeof buf),
                        "ICE NEAR SKIN");
    assert_string_equal(
        cn_guidance_alarm_text_dist(CN_ALARM_ICE_NEAR_SKIN | CN_ALARM_TIP_HIDDEN, 3.24, buf, sizeof buf),
        "ICE 3.2 mm FROM SKIN | TIP HIDDEN");
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_TRACKING_LOST | CN_ALARM_NERVE_LOST, buf,
                                               sizeof buf),
                        "TRACKING LOST | NERVE LOST");
    assert_string_equal(cn_guidance_alarm_text_dist(CN_ALARM_ICE_NEAR_SKIN, -2.1, buf, sizeof buf),
                        "ICE AT SKIN");
    assert_string_equal(cn_guidance_alarm_text_dist(CN_ALARM_TIP_HIDDEN, 3.0, buf, sizeof buf),
                        "TIP HIDDEN"); /* the distance shows only with its alarm */
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_ICE_GROWS_IN_THAW | CN_ALARM_TIP_HIDDEN,
                                               buf, sizeof buf),
                        "ICE GROWING IN THAW: GAS ON? | TIP HIDDEN");
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_ICE_UNKEYED, buf, sizeof buf),
                        "ICE SEEN: FREEZE NOT KEYED?");
    /* the same ice, shrunk since: f then ends the freeze too, and the words say so */
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_ICE_UNKEYED | CN_ALARM_ICE_UNKEYED_OVER,
                                               buf, sizeof buf),
                        "ICE SEEN, MELTING: A FREEZE NOT KEYED, OVER?");
    assert_string_equal(cn_guidance_alarm_text(CN_ALARM_ICE_UNKEYED_OVER, buf, sizeof buf),
                        "ICE MELTING: A FREEZE NOT KEYED, OVER?"); /* an event's own bit */
    char small[8];
    cn_guidance_alarm_text(0xffffffffu, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_null(cn_guidance_alarm_text(1, NULL, 10));
}

/* The coldest the whole target has been, after a freeze stop dated back: the model froze on
 * past the gas until ICE SHRINKING, then went back to the stop; the target's cold after the
 * stop never happened, but the running coldest kept it (review 39b F5). Now it is taken
 * again from the values up to the stop. */
static double g_temp_now;
static double temp_now(void *user, const cn_frame *f, cn_pt2 p)
{
    (void)user;
    (void)f;
    (void)p;
    return g_temp_now;
}

static void test_target_coldest_after_a_dated_stop(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    cn_guidance_set_field(fx->g, temp_now, NULL);
    cn_frame *f = NULL;
    /* 0..10 s of a freeze: the warmest point of the target 30 -> 10 C */
    for (int i = 0; i <= 20; i++) {
        f = make(fx, -1, 0, 0);
        f->analysis.guidance.phase = CN_PHASE_FREEZE;
        f->analysis.guidance.cycle = 1;
        f->t_scene_ns = f->t_acq_ns = (int64_t)i * 500000000LL;
        g_temp_now = 30 - i;
        assert_int_equal(cn_guidance_process(fx->g, f), CN_OK);
        cn_frame_unref(f);
    }
    /* the stop keyed at 10.5 s, dated back to 6 s (the target then at 18 C); the model,
     * gone back, says 19 C now */
    f = make(fx, -1, 0, 0);
    f->analysis.guidance.phase = CN_PHASE_THAW;
    f->analysis.guidance.cycle = 1;
    f->t_scene_ns = f->t_acq_ns = 10500000000LL;
    cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, 6000000000LL, "freeze_end cycle=1");
    cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, 6000000000LL,
                          "thaw_start cycle=1 mode=passive");
    g_temp_now = 19;
    assert_int_equal(cn_guidance_process(fx->g, f), CN_OK);
    print_message("whole target <= %.1f C after the stop dated to 6 s (10 C before it)\n",
                  f->analysis.guidance.target_min_temp_c);
    assert_float_equal(f->analysis.guidance.target_min_temp_c, 18.0, 1e-9);
    cn_frame_unref(f);
    cn_guidance_set_field(fx->g, NULL, NULL);
}

/* The same stop dated back: the end-of-run summary's best coverage and lethal time were
 * running totals and kept the over-freeze's (the model froze on past the gas to full
 * coverage and 3 s of the whole target lethal that never came). */
static void test_summary_after_a_dated_stop(void **state)
{
    fixture *fx = *state;
    cn_guidance_reset(fx->g);
    /* 0..10 s of a freeze: the -20 C curve 1 -> 5 mm about the 3.5 mm nerve, the target
     * whole from 6.5 s */
    for (int i = 0; i <= 20; i++) {
        cn_frame *f = make(fx, -1, 20, 1 + 0.2 * i);
        f->analysis.guidance.phase = CN_PHASE_FREEZE;
        f->analysis.guidance.cycle = 1;
        f->analysis.guidance.phase_elapsed_s = 0.5 * i;
        f->t_scene_ns = f->t_acq_ns = (int64_t)i * 500000000LL;
        run(fx, f);
        cn_frame_unref(f);
    }
    cn_guidance_summary s;
    cn_guidance_get_summary(fx->g, &s);
    print_message("before the stop: best coverage %.3f, lethal %.1f s\n", s.max_coverage,
                  s.lethal_s);
    assert_true(s.max_coverage > 0.999 && s.lethal_s > 2.9);
    /* the stop keyed at 10.5 s, dated back to 6 s (the curve then 3.4 mm) */
    cn_frame *f = make(fx, -1, 20, 3.4);
    f->analysis.guidance.phase = CN_PHASE_THAW;
    f->analysis.guidance.cycle = 1;
    f->analysis.guidance.phase_elapsed_s = 4.5;
    f->t_scene_ns = f->t_acq_ns = 10500000000LL;
    cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, 6000000000LL, "freeze_end cycle=1");
    cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, 6000000000LL,
                          "thaw_start cycle=1 mode=passive");
    const double cov_now = (run(fx, f), f->analysis.guidance.coverage);
    cn_frame_unref(f);
    cn_guidance_get_summary(fx->g, &s);
    print_message("after the stop dated to 6 s: best coverage %.3f (now %.3f), lethal %.1f s\n",
                  s.max_coverage, cov_now, s.lethal_s);
    assert_true(s.max_coverage < 0.99);
    assert_true(s.max_coverage >= cov_now - 1e-9);
    assert_float_equal(s.lethal_s, 0.0, 1e-9);
    assert_float_equal(s.frozen_s, 6.0, 0.26); /* 0..6 s, to one bin (review 40 F7) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage_squares),
        cmocka_unit_test(test_coverage_circles),
        cmocka_unit_test(test_coverage_concave_and_bad),
        cmocka_unit_test(test_stage_coverage),
        cmocka_unit_test(test_skin_alarm_hysteresis),
        cmocka_unit_test(test_skin_alarm_held_through_thaw),
        cmocka_unit_test(test_tracking_tip_nerve),
        cmocka_unit_test(test_nerve_under_ice_left_by_the_probe),
        cmocka_unit_test(test_summary_times),
        cmocka_unit_test(test_target_lock),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_freeze_without_zone),
        cmocka_unit_test(test_unsteady_anchor),
        cmocka_unit_test(test_no_ice_seen_ends_at_withdrawal),
        cmocka_unit_test(test_held_outline_does_not_clear_nerve_lost),
        cmocka_unit_test(test_alarm_text),
        cmocka_unit_test(test_target_coldest_after_a_dated_stop),
        cmocka_unit_test(test_summary_after_a_dated_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
