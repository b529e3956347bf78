/*
 * test_thermal_fit.c - fitting to the seen ice helps: on simulated sessions whose
 * true growth law differs from the defaults (a warmer effective probe + more
 * perfusion; the simulator's empirical r(t) law), the fitted prediction of the
 * hidden deep edge beats the unfitted one. The offline fit on plain structs finds
 * the perturbed surface temperature; bad observations are rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cn_cryoprobe probe17(void)
{
    cn_cryoprobe p;
    memset(&p, 0, sizeof p);
    cn_strlcpy(p.name, "17G", sizeof p.name);
    cn_strlcpy(p.gas, "argon", sizeof p.gas);
    p.outer_diameter_mm = 1.47;
    p.active_length_mm = 20;
    p.surface_temp_c = -140;
    p.ramp_s = 5;
    p.active_thaw_temp_c = 20;
    return p;
}

static cn_protocol freeze(double s)
{
    cn_protocol q;
    memset(&q, 0, sizeof q);
    cn_strlcpy(q.name, "f", sizeof q.name);
    q.n_steps = 1;
    q.steps[0].kind = CN_STEP_FREEZE;
    q.steps[0].duration_s = s;
    return q;
}

static void run_case(const cn_thermal_truth *tr, const cn_cryoprobe *pp)
{
    cn_cryoprobe p = *pp;
    cn_protocol q = freeze(150);
    cn_tissue t;
    cn_tissue_standard(&t);
    cn_thermal_fit_opts fo;
    cn_thermal_fit_opts_default(&fo);
    cn_thermal_fit_eval_result r;
    char err[256];
    int rc = cn_thermal_fit_eval(&p, &q, &t, tr, &fo, 75, 150, 0.3, 7, &r, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    print_message("  %-22s deep edge now: unfitted %.2f fitted %.2f mm (band %.2f); at 150 s: "
                  "unfitted %.2f fitted %.2f mm; residual %.2f mm\n",
                  tr->name, r.err_unfitted_now_mm, r.err_fitted_now_mm, r.band_now_mm,
                  r.err_unfitted_end_mm, r.err_fitted_end_mm, r.residual_mm);
    assert_true(r.n_obs > 100);
    assert_true(r.err_fitted_now_mm < r.err_unfitted_now_mm);
    assert_true(r.err_fitted_end_mm < r.err_unfitted_end_mm);
    assert_true(r.err_fitted_now_mm < 0.5);
    assert_true(isfinite(r.residual_mm) && r.residual_mm < 1.0);
    assert_true(r.band_now_mm > 0 && r.band_now_mm < 2);
}

static void test_fit_beats_defaults_model_truth(void **state)
{
    (void)state;
    cn_thermal_truth tr;
    cn_thermal_truth_default(&tr);
    cn_strlcpy(tr.name, "+45 C, w 0.002", sizeof tr.name);
    tr.surface_offset_c = 45;
    tr.perfusion_per_s = 0.002;
    cn_cryoprobe p = probe17();
    run_case(&tr, &p);
}

static void test_fit_beats_defaults_sim_law(void **state)
{
    (void)state;
    cn_thermal_truth tr;
    cn_thermal_truth_default(&tr);
    cn_strlcpy(tr.name, "simulator law, slower", sizeof tr.name);
    tr.sim_law = true; /* the simulator's law with slower growth than its defaults (0.9, 9) */
    tr.sim_k_mm_per_sqrt_s = 0.7;
    tr.sim_rmax_mm = 7;
    /* the simulator's default needle: 1.5 mm, 6 mm active segment */
    cn_cryoprobe p = probe17();
    p.outer_diameter_mm = 1.5;
    p.active_length_mm = 6;
    run_case(&tr, &p);
}

static void test_offline_fit(void **state)
{
    (void)state;
    cn_cryoprobe p = probe17();
    cn_protocol q = freeze(120);
    cn_tissue t;
    cn_tissue_standard(&t);
    /* truth: the probe surface is 40 C warmer than the catalogue says */
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = 0.5;
    mo.surface_offset_c = 40;
    char err[256];
    cn_thermal_model *truth = cn_thermal_model_new(&p, &q, &t, &mo, err, sizeof err);
    assert_non_null(truth);
    cn_thermal_obs obs[12 * 5];
    int n = 0;
    for (int k = 1; k <= 12; k++) {
        cn_thermal_model_advance_to(truth, 10.0 * k);
        for (int a = 0; a < 5; a++) {
            double z = -18 + 4 * a;
            obs[n].r_mm = cn_thermal_model_radius_at(truth, 0, z);
            obs[n].z_mm = z;
            obs[n].t_s = 10.0 * k;
            n++;
        }
    }
    cn_thermal_model_free(truth);
    cn_thermal_fit_opts fo;
    cn_thermal_fit_opts_default(&fo);
    fo.n_perfusions = 1; /* perfusion hardly matters in 2 min: fit the surface only */
    fo.n_offsets = 7;
    cn_thermal_fit_result r;
    assert_int_equal(cn_thermal_fit(&p, &q, &t, &fo, obs, n, &r, err, sizeof err), CN_OK);
    print_message("  fitted offset %.1f C (truth 40), residual %.2f mm, %d obs\n",
                  r.surface_offset_c, r.residual_mm, r.n_obs);
    assert_true(fabs(r.surface_offset_c - 40) < 12);
    assert_true(r.best_residual_mm < 0.3);
    /* bad input */
    obs[3].r_mm = NAN;
    assert_int_equal(cn_thermal_fit(&p, &q, &t, &fo, obs, n, &r, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "observation 3"));
    assert_int_equal(cn_thermal_fit(&p, &q, &t, &fo, obs, 0, &r, err, sizeof err), CN_EINVAL);
    fo.sigma_mm = -1;
    assert_null(cn_thermal_ensemble_new(&p, &q, &t, &fo, err, sizeof err));
}

/* The state a freeze stop can go back to (thermal review F1): a clone taken mid-freeze and
 * stepped on as the original is gives the original's radius and weights to the last digit;
 * a copy into another clone does too; the original thawing afterwards does not touch
 * them. */
static void test_ensemble_clone(void **st)
{
    (void)st;
    cn_cryoprobe p = probe17();
    cn_protocol q = freeze(600);
    cn_tissue t;
    cn_tissue_standard(&t);
    cn_thermal_fit_opts fo;
    cn_thermal_fit_opts_default(&fo);
    char err[256];
    cn_thermal_ensemble *e = cn_thermal_ensemble_new(&p, &q, &t, &fo, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(cn_thermal_ensemble_advance_to(e, 40, 0), CN_OK);
    cn_thermal_obs obs[4];
    for (int i = 0; i < 4; i++)
        obs[i] = (cn_thermal_obs){.r_mm = 5.5, .z_mm = -16 + 4 * i, .t_s = 40};
    assert_int_equal(cn_thermal_ensemble_observe(e, obs, 4), CN_OK);
    cn_thermal_ensemble *c = cn_thermal_ensemble_clone(e);
    assert_non_null(c);
    cn_thermal_ensemble *d = cn_thermal_ensemble_new(&p, &q, &t, &fo, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(cn_thermal_ensemble_copy(d, e), CN_OK);
    /* all three freeze on to 70 s and observe the same: the same to the last digit */
    for (cn_thermal_ensemble *x = e;; x = x == e ? c : d) {
        assert_int_equal(cn_thermal_ensemble_advance_to(x, 70, 0), CN_OK);
        for (int i = 0; i < 4; i++)
            obs[i].t_s = 70, obs[i].r_mm = 7;
        assert_int_equal(cn_thermal_ensemble_observe(x, obs, 4), CN_OK);
        if (x == d)
            break;
    }
    const double r70 = cn_thermal_ensemble_radius_at(e, 0, -10, NULL);
    assert_true(cn_thermal_ensemble_radius_at(c, 0, -10, NULL) == r70);
    assert_true(cn_thermal_ensemble_radius_at(d, 0, -10, NULL) == r70);
    for (int i = 0; i < cn_thermal_ensemble_size(c); i++) {
        double we, wc, wd;
        cn_thermal_ensemble_member(e, i, &we, NULL, NULL);
        cn_thermal_ensemble_member(c, i, &wc, NULL, NULL);
        cn_thermal_ensemble_member(d, i, &wd, NULL, NULL);
        assert_true(wc == we && wd == we);
    }
    /* the original thaws from 70 s; the clone and the copy freeze on */
    assert_int_equal(cn_thermal_ensemble_set_mode(e, CN_PROBE_OFF, 70), CN_OK);
    assert_int_equal(cn_thermal_ensemble_advance_to(e, 100, 0), CN_OK);
    assert_int_equal(cn_thermal_ensemble_advance_to(c, 100, 0), CN_OK);
    assert_int_equal(cn_thermal_ensemble_advance_to(d, 100, 0), CN_OK);
    const double rc = cn_thermal_ensemble_radius_at(c, 0, -10, NULL);
    const double rd = cn_thermal_ensemble_radius_at(d, 0, -10, NULL);
    const double re = cn_thermal_ensemble_radius_at(e, 0, -10, NULL);
    print_message("  0 C at 70 s: %.3f mm, all three; at 100 s the clone frozen on %.3f mm (the "
                  "copy %.3f), the original thawed from 70 s %.3f mm\n", r70, rc, rd, re);
    assert_true(rc == rd);
    assert_true(rc > re + 0.5);
    cn_thermal_ensemble_free(e);
    cn_thermal_ensemble_free(c);
    cn_thermal_ensemble_free(d);
    assert_null(cn_thermal_ensemble_clone(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_beats_defaults_model_truth),
        cmocka_unit_test(test_fit_beats_defaults_sim_law),
        cmocka_unit_test(test_offline_fit),
        cmocka_unit_test(test_ensemble_clone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
