/*
 * test_needle_sim.c - the needle detector (cn_segment, no tracked pose) on the
 * harder simulator scenes: a curvilinear fan with a needle from the right, a faint
 * short shallow needle among fascia-like interfaces, a steep needle under a
 * container wall, the same frames without the needle, and a sample of the
 * randomised hard scenes of the reported split (cn_sim_config_hard_scene
 * 1001-1010; docs/validation.md gives the figures on all 150 and the margins
 * used here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sim_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    double angle_err, tip_err;
    bool found, empty_found;
} outcome;

/* Renders an empty frame, then frames at 60, 80 and 95 % of the approach, through
 * one cn_segment without poses; the outcome is the last frame's. */
static void run_scene(const cn_sim_config *c, outcome *o)
{
    cn_sim *sim = cn_sim_new(c);
    assert_non_null(sim);
    cn_frame_pool *pool = cn_frame_pool_new(1, c->width_px, c->height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.nerve_auto = false;
    sc.nerve_cnn = false;
    sc.needle.needle_diameter_mm = c->needle_diameter_mm;
    cn_segment *seg = cn_segment_new(&sc, c->width_px, c->height_px);
    assert_non_null(seg);
    static const double when[4] = {-1, 0.6, 0.8, 0.95};
    memset(o, 0, sizeof *o);
    for (int i = 0; i < 4; i++) {
        double t = when[i] < 0 ? 0.5 * c->idle_s : c->idle_s + when[i] * c->approach_s;
        assert_int_equal(cn_sim_render(sim, t, f), CN_OK);
        f->t_acq_ns = (int64_t)(t * 1e9);
        f->n_poses = 0; /* the image alone */
        assert_int_equal(cn_segment_process(seg, f), CN_OK);
        const cn_needle_result *r = &f->analysis.needle;
        if (i == 0) {
            o->empty_found = r->found;
            continue;
        }
        o->found = r->found;
        if (r->found) {
            o->angle_err = angle_error_deg(r, &f->truth);
            o->tip_err = tip_error_mm(r, &f->truth);
        }
    }
    print_message("scene: %s, angle err %.2f deg, tip err %.2f mm%s\n",
                  o->found ? "found" : "not found", o->angle_err, o->tip_err,
                  o->empty_found ? ", a needle reported on the empty frame" : "");
    cn_segment_free(seg);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
}

/* A curvilinear probe (black outside the fan, the beam's direction changing along
 * the shaft), the needle from the right at 45 deg, three interfaces and a wall. */
static void test_curvilinear_right(void **st)
{
    (void)st;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.seed = 11;
    c.curvilinear = true;
    c.sector_deg = 70;
    c.probe_radius_mm = 30;
    c.needle_right = true;
    c.needle_angle_deg = 40;
    c.needle_diameter_mm = 1.0;
    c.interfaces = 3;
    c.wall_depth_mm = 3;
    c.nerve_lateral_mm = -2;
    c.artery_lateral_mm = -14;
    assert_int_equal(cn_sim_config_validate(&c, NULL, 0), CN_OK);
    outcome o;
    run_scene(&c, &o);
    assert_true(o.found);
    assert_true(o.angle_err <= 2.0);
    assert_true(o.tip_err <= 1.5);
    assert_false(o.empty_found);
}

/* A faint (gain 0.6), short (the last 12 mm visible), shallow (15 deg) needle from
 * the left among four fascia-like interfaces. */
static void test_faint_short_shallow(void **st)
{
    (void)st;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.seed = 12;
    c.needle_angle_deg = 15;
    c.needle_gain = 0.6;
    c.needle_visible_mm = 12;
    c.needle_diameter_mm = 0.8;
    c.interfaces = 4;
    assert_int_equal(cn_sim_config_validate(&c, NULL, 0), CN_OK);
    outcome o;
    run_scene(&c, &o);
    assert_true(o.found);
    assert_true(o.angle_err <= 2.0);
    assert_true(o.tip_err <= 1.5);
    assert_false(o.empty_found);
}

/* A container wall 2.5 mm deep with its reverberations (the classic false
 * positive: a long bright straight line) over a needle from the right at 25 deg. */
static void test_wall_right(void **st)
{
    (void)st;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.seed = 13;
    c.needle_right = true;
    c.needle_angle_deg = 25;
    c.wall_depth_mm = 2.5;
    c.interfaces = 2;
    c.nerve_lateral_mm = -2;
    c.artery_lateral_mm = -14;
    assert_int_equal(cn_sim_config_validate(&c, NULL, 0), CN_OK);
    outcome o;
    run_scene(&c, &o);
    assert_true(o.found);
    assert_true(o.angle_err <= 2.0);
    assert_true(o.tip_err <= 1.5);
    assert_false(o.empty_found);
}

/* Ten randomised hard scenes of the reported split. Measured (docs/validation.md):
 * 3 of their 10 last frames right (within 5 deg, tip within 3 mm), 1 of the 10
 * empty frames with a needle; fails at 1 right fewer or 1 false more. */
static void test_hard_scene_sample(void **st)
{
    (void)st;
    int right = 0, empty_false = 0;
    for (uint64_t k = 1001; k <= 1010; k++) {
        cn_sim_config c;
        assert_int_equal(cn_sim_config_hard_scene(k, &c), CN_OK);
        outcome o;
        run_scene(&c, &o);
        right += o.found && o.angle_err <= 5 && o.tip_err <= 3;
        empty_false += o.empty_found;
    }
    print_message("hard scenes 1001-1010: %d right, %d empty frames with a needle\n", right,
                  empty_false);
    assert_true(right >= 3 - 1);
    assert_true(empty_false <= 1 + 1);
}

int main(void)
{
    (void)ice_edge_error_mm; /* sim_util.h: not needed here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curvilinear_right),
        cmocka_unit_test(test_faint_short_shallow),
        cmocka_unit_test(test_wall_right),
        cmocka_unit_test(test_hard_scene_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
