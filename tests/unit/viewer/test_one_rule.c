/*
 * test_one_rule.c - one rule for where things are (issue 13): segment's pose
 * prior, thermal's image plane and the viewer's placement of the needle and of
 * the overlays agree on the needle tip to < 0.1 pixel, and (without tracker
 * noise) land on the tip the simulator drew. All three go through core's
 * cn_frame_tool_to_image_mm / cn_frame_image_to_image_mm (pixel centres at
 * (i + 0.5) * spacing); before, segment added half a pixel and thermal and the
 * viewer did not, so they disagreed by half a pixel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "viewer_priv.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The three tips (image mm) of a frame carrying the simulator's poses over
 * pixels where no needle can be seen (so segment reports its pose prior). */
static void tips(const cn_frame *src, cn_frame *f, cn_segment *seg, cn_pt2 out[3])
{
    cn_frame_copy(f, src);
    cn_rng r;
    cn_rng_seed(&r, 7);
    for (int i = 0; i < f->width * f->height; i++) /* speckle-like noise, no needle */
        f->pixels[i] = (uint8_t)(60 + 40 * cn_rng_uniform(&r));
    memset(&f->analysis, 0, sizeof f->analysis);
    cn_segment_reset(seg);
    cn_segment_set_freezing(seg, true); /* the tip hides in the ice: the prior stands */
    assert_int_equal(cn_segment_process(seg, f), CN_OK);
    assert_true(f->analysis.needle.found);
    out[0] = f->analysis.needle.tip_mm;

    cn_thermal_plane pl;
    assert_int_equal(cn_thermal_plane_from_frame(f, &pl), CN_OK);
    cn_mat4 p2mm;
    assert_int_equal(cn_mat4_invert(&pl.image_mm_to_probe, &p2mm), CN_OK);
    cn_vec3 t = cn_mat4_apply_point(&p2mm, (cn_vec3){0, 0, 0});
    out[1] = (cn_pt2){(float)t.x, (float)t.y};

    cn_viewer_geom g;
    cn_viewer_geom_compute(f, &g);
    assert_true(g.needle_visible);
    cn_vec3 tip_ref = cn_mat4_apply_point(&g.needle_to_ref, (cn_vec3){0, 0, 0});
    cn_mat4 ref_to_mm;
    assert_int_equal(cn_mat4_invert(&g.image_mm_to_ref, &ref_to_mm), CN_OK);
    cn_vec3 v = cn_mat4_apply_point(&ref_to_mm, tip_ref); /* where the overlays' tip goes */
    out[2] = (cn_pt2){(float)v.x, (float)v.y};
    /* the 2-D view puts pixel (i, j) where the overlays put image mm */
    cn_vec3 px = cn_mat4_apply_point(&g.image_to_2d, (cn_vec3){10, 20, 0});
    assert_true(fabs(px.x - 10.5 * f->spacing_mm[0]) < 1e-9 && fabs(px.y - 20.5 * f->spacing_mm[1]) < 1e-9);
}

static void run(double noise_mm, double noise_deg)
{
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 320;
    c.height_px = 240;
    c.tracker_noise_mm = noise_mm;
    c.tracker_noise_deg = noise_deg;
    c.tracker_latency_ms = 0;
    cn_sim *sim = cn_sim_new(&c);
    assert_non_null(sim);
    cn_frame_pool *pool = cn_frame_pool_new(2, c.width_px, c.height_px);
    cn_frame *src = cn_frame_pool_acquire(pool), *f = cn_frame_pool_acquire(pool);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    cn_segment *seg = cn_segment_new(&sc, c.width_px, c.height_px);
    assert_non_null(seg);
    double worst = 0, worst_truth = 0;
    for (int k = 0; k < 10; k++) {
        double t = c.idle_s + c.approach_s * (0.55 + 0.04 * k) + (k >= 8 ? c.approach_s : 0);
        assert_int_equal(cn_sim_render(sim, t, src), CN_OK);
        cn_pt2 p[3];
        tips(src, f, seg, p);
        double px = src->spacing_mm[0];
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                worst = fmax(worst, hypot(p[a].x - p[b].x, p[a].y - p[b].y) / px);
        worst_truth = fmax(worst_truth, hypot(p[1].x - src->truth.needle_tip_mm.x,
                                              p[1].y - src->truth.needle_tip_mm.y) / px);
        if (k == 0)
            print_message("  t %.1f s: segment (%.3f, %.3f), thermal (%.3f, %.3f), viewer (%.3f, %.3f), "
                          "truth (%.3f, %.3f) mm; pixel %.3f mm\n",
                          t, p[0].x, p[0].y, p[1].x, p[1].y, p[2].x, p[2].y,
                          src->truth.needle_tip_mm.x, src->truth.needle_tip_mm.y, px);
    }
    print_message("  tracker noise %.1f mm / %.1f deg: segment, thermal and viewer within %.4f px of "
                  "each other; thermal within %.3f px of the drawn tip\n",
                  noise_mm, noise_deg, worst, worst_truth);
    assert_true(worst < 0.1);
    if (noise_mm == 0 && noise_deg == 0)
        assert_true(worst_truth < 0.1);
    cn_segment_free(seg);
    cn_frame_unref(src);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
}

static void test_agree_exact_poses(void **state)
{
    (void)state;
    run(0, 0);
}

static void test_agree_noisy_poses(void **state)
{
    (void)state;
    run(0.2, 0.2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agree_exact_poses),
        cmocka_unit_test(test_agree_noisy_poses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
