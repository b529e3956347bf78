/*
 * test_thermal_sim.c - the thermal stage on the simulator's own sessions
 * (devices/sim ground truth): the needle and the visible near-side rim the
 * simulator draws are fed to the stage frame by frame; the hidden deep edge of
 * the simulator's ice (its confocal ellipse, semi-axis b across the shaft) is
 * compared with the stage's fitted 0 C curve and with the unfitted model. The
 * simulator's growth law r(t) = r_max (1 - exp(-k sqrt(t) / r_max)) is not the
 * model's, and it is perturbed here (slower ice than the defaults).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sim/sim.h"
#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static double run(double k, double rmax, bool tracked, double *err_unfitted)
{
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 160; /* small images: only the poses are needed */
    c.height_px = 120;
    c.ice_k_mm_per_sqrt_s = k;
    c.ice_rmax_mm = rmax;
    cn_sim *sim = cn_sim_new(&c);
    assert_non_null(sim);
    /* freeze start from the truth */
    cn_truth tr;
    double t0 = -1;
    for (double t = 0; t < cn_sim_duration_s(sim); t += 0.25) {
        cn_sim_truth_at(sim, t, &tr);
        if (tr.phase == CN_PHASE_FREEZE) {
            t0 = t;
            break;
        }
    }
    assert_true(t0 > 0);
    /* the model of the simulator's needle */
    cn_thermal_stage_opts so;
    memset(&so, 0, sizeof so);
    cn_strlcpy(so.probe.name, "sim-needle", sizeof so.probe.name);
    cn_strlcpy(so.probe.gas, "argon", sizeof so.probe.gas);
    so.probe.outer_diameter_mm = c.needle_diameter_mm;
    so.probe.active_length_mm = c.needle_active_mm;
    so.probe.surface_temp_c = -140;
    so.probe.ramp_s = 5;
    so.probe.active_thaw_temp_c = 20;
    cn_strlcpy(so.protocol.name, "morton", sizeof so.protocol.name);
    so.protocol.n_steps = 1;
    so.protocol.steps[0].kind = CN_STEP_FREEZE;
    so.protocol.steps[0].duration_s = c.cycles[0].freeze_s;
    cn_tissue_standard(&so.tissue);
    cn_thermal_fit_opts_default(&so.fit);
    so.fit_enabled = true;
    so.max_members_per_frame = 2;
    so.h3_mm = 1;
    so.spot_tol_mm = 1.5;
    so.spot_tol_deg = 5;
    char err[256];
    cn_stage st;
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_OK);
    cn_thermal_model *nominal = cn_thermal_model_new(&so.probe, &so.protocol, &so.tissue, NULL, err, sizeof err);
    assert_non_null(nominal);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    const double until = 75;
    cn_frame *f = NULL;
    for (double t = t0; t <= t0 + until + 1e-9; t += 0.25) {
        f = cn_frame_pool_acquire(pool);
        assert_non_null(f);
        if (tracked) {
            /* poses ImageToProbe / ProbeToTracker / CryoprobeToTracker with the
             * simulator's tracker noise and latency; no needle detection */
            assert_int_equal(cn_sim_render(sim, t, f), CN_OK);
            tr = f->truth;
        } else {
            cn_sim_truth_at(sim, t, &tr);
            /* no pixels, but the image's extent (the curves are clipped to it) */
            cn_frame_set_size(f, c.width_px, c.height_px);
            f->spacing_mm[0] = f->spacing_mm[1] = c.depth_mm / c.height_px;
            f->analysis.needle.found = true;
            f->analysis.needle.tip_mm = tr.needle_tip_mm;
            f->analysis.needle.dir = tr.needle_dir;
        }
        f->t_acq_ns = (int64_t)llround(t * 1e9);
        f->t_scene_ns = f->t_acq_ns;
        f->analysis.guidance.phase = tr.phase;
        f->analysis.guidance.cycle = tr.cycle;
        f->analysis.guidance.phase_elapsed_s = t - t0;
        cn_ice_front *ice = &f->analysis.ice;
        ice->n = tr.rim_n;
        memcpy(ice->pts_mm, tr.rim_mm, sizeof(cn_pt2) * (size_t)tr.rim_n);
        ice->found = tr.rim_n >= 3;
        ice->t_ns = f->t_acq_ns;
        assert_int_equal(st.process(st.self, f), CN_OK);
        if (t + 0.25 <= t0 + until + 1e-9)
            cn_frame_unref(f);
    }
    cn_sim_truth_at(sim, t0 + until, &tr);
    assert_int_equal(f->analysis.n_iso, 3);
    double fitted = f->analysis.iso[0].radius_mm;
    cn_thermal_model_advance_to(nominal, until);
    double unfitted = cn_thermal_model_radius_at(nominal, 0, -c.needle_active_mm / 2);
    /* the deep point of the true ellipse vs the stage's image-plane curve */
    double ux = tr.needle_dir.x, uy = tr.needle_dir.y, vx = -uy, vy = ux;
    if (vy < 0) {
        vx = -vx;
        vy = -vy;
    }
    double dx = tr.ice_center_mm.x + tr.ice_b_mm * vx, dy = tr.ice_center_mm.y + tr.ice_b_mm * vy;
    double best = 1e9;
    const cn_isotherm *iso = &f->analysis.iso[0];
    for (int i = 0; i < iso->n; i++)
        best = fmin(best, hypot(iso->pts_mm[i].x - dx, iso->pts_mm[i].y - dy));
    print_message("  %s, sim law k %.1f rmax %.0f, %.0f s of freezing: true deep edge %.2f mm; "
                  "fitted %.2f, unfitted %.2f; fitted curve passes %.2f mm from the true deep point\n",
                  tracked ? "tracked poses" : "needle", k, rmax, until, tr.ice_b_mm, fitted, unfitted, best);
    *err_unfitted = fabs(unfitted - tr.ice_b_mm);
    double e = fabs(fitted - tr.ice_b_mm);
    assert_true(best < e + 0.6);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_thermal_model_free(nominal);
    cn_thermal_stage_free(st.self);
    cn_sim_free(sim);
    return e;
}

static void test_perturbed_sim_law(void **state)
{
    (void)state;
    double eu, ef = run(0.7, 7, false, &eu);
    assert_true(ef < eu);
    assert_true(ef < 0.5);
}

static void test_perturbed_sim_law_tracked(void **state)
{
    (void)state;
    double eu, ef = run(0.7, 7, true, &eu);
    assert_true(ef < eu);
    assert_true(ef < 0.6);
}

static void test_default_sim_law(void **state)
{
    (void)state;
    double eu, ef = run(0.9, 9, false, &eu);
    assert_true(ef < 0.6);
    (void)eu;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perturbed_sim_law),
        cmocka_unit_test(test_perturbed_sim_law_tracked),
        cmocka_unit_test(test_default_sim_law),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
