/*
 * test_thermal_oracles.c - the solver against the analytic oracles of thermal.md:
 * planar Neumann front and isotherms (two wall temperatures), Paterson's line
 * sink, the steady perfusion-limited sphere, grid refinement and energy balance.
 * Also checks that the oracle formulas themselves give thermal.md's numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cn_tissue oracle_tissue(void)
{
    cn_tissue t;
    cn_tissue_standard(&t);
    t.t_liquidus_c = 0;
    t.t_solidus_c = 0;
    t.perfusion_per_s = 0;
    t.metabolic_w_m3 = 0;
    return t;
}

static cn_thermal_solver *make_1d(cn_thermal_geometry g, double h_mm, double dt_s, double r_max,
                                  double perf)
{
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.geometry = g;
    o.tissue = oracle_tissue();
    o.tissue.perfusion_per_s = perf;
    o.h_mm = h_mm;
    o.dt_max_s = dt_s;
    o.r0_mm = 0.735;
    o.r_max_mm = r_max;
    char err[256];
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    return s;
}

static void expect_rel(double got, double want, double rel, const char *what)
{
    double e = fabs(got - want) / fabs(want);
    print_message("  %-34s %9.3f  oracle %9.3f  (%+.2f %%)\n", what, got, want,
                  100 * (got - want) / want);
    if (!(e <= rel))
        fail_msg("%s: %.4f vs %.4f (%.2f %% > %.2f %%)", what, got, want, 100 * e, 100 * rel);
}

static void test_oracle_formulas(void **state)
{
    (void)state;
    cn_tissue t = oracle_tissue();
    /* thermal.md: lambda 0.5094, s(150) 13.15, x(-20) 11.00, x(-40) 8.99, s(600) 26.30 */
    assert_true(fabs(cn_oracle_neumann_lambda(&t, -140, 0) - 0.5094) < 0.001);
    assert_true(fabs(cn_oracle_neumann_isotherm_mm(&t, -140, 0, 0, 150) - 13.15) < 0.02);
    assert_true(fabs(cn_oracle_neumann_isotherm_mm(&t, -140, 0, -20, 150) - 11.00) < 0.02);
    assert_true(fabs(cn_oracle_neumann_isotherm_mm(&t, -140, 0, -40, 150) - 8.99) < 0.02);
    assert_true(fabs(cn_oracle_neumann_isotherm_mm(&t, -140, 0, 0, 600) - 26.30) < 0.02);
    assert_true(fabs(cn_oracle_paterson_lambda(&t, 100, 0) - 0.0697) < 0.0005);
    assert_true(fabs(cn_oracle_paterson_lambda(&t, 500, 0) - 0.2499) < 0.0005);
    assert_true(fabs(cn_oracle_paterson_lambda(&t, 1000, 0) - 0.3657) < 0.0008);
    assert_true(fabs(cn_oracle_paterson_radius_mm(&t, 500, 0, 600) - 12.9) < 0.05);
    assert_true(fabs(cn_oracle_perfusion_sphere_mm(&t, 0.735, -140, 0, 0.0005) - 8.2) < 0.05);
    assert_true(fabs(cn_oracle_perfusion_sphere_mm(&t, 0.735, -140, 0, 0.005) - 6.0) < 0.05);
    assert_true(fabs(10 - cn_oracle_log_isotherm_mm(0.735, 10, -140, 0, -20) - 3.1) < 0.05);
    assert_true(fabs(10 - cn_oracle_log_isotherm_mm(0.735, 10, -140, 0, -40) - 5.3) < 0.05);
    assert_true(fabs(5 - cn_oracle_log_isotherm_mm(0.735, 5, -140, 0, -20) - 1.2) < 0.05);
    assert_true(fabs(5 - cn_oracle_log_isotherm_mm(0.735, 5, -140, 0, -40) - 2.1) < 0.05);
    /* nonsense in, NAN out (never a hang) */
    assert_true(isnan(cn_oracle_neumann_lambda(&t, 10, 0)));
    assert_true(isnan(cn_oracle_perfusion_sphere_mm(&t, -1, -140, 0, 0.001)));
    assert_true(isnan(cn_oracle_quasisteady_sphere_mm(&t, 0.735, NAN, 0, 10)));
}

static void planar_case(double tw)
{
    cn_tissue t = oracle_tissue();
    cn_thermal_solver *s = make_1d(CN_GEOM_PLANAR, 0.25, 0.1, 70, 0);
    cn_thermal_bc bc = {CN_BC_TEMP, tw, 0, 0};
    assert_int_equal(cn_thermal_solver_set_bc(s, &bc), CN_OK);
    const double times[2] = {150, 600};
    double prev = 0;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cn_thermal_solver_step(s, times[k] - prev), CN_OK);
        prev = times[k];
        char what[64];
        snprintf(what, sizeof what, "Tw %.0f t %.0f front", tw, times[k]);
        expect_rel(cn_thermal_solver_front_1d(s), cn_oracle_neumann_isotherm_mm(&t, tw, 0, 0, times[k]),
                   0.02, what);
        snprintf(what, sizeof what, "Tw %.0f t %.0f x(-20 C)", tw, times[k]);
        expect_rel(cn_thermal_solver_isotherm_1d(s, -20),
                   cn_oracle_neumann_isotherm_mm(&t, tw, 0, -20, times[k]), 0.02, what);
        snprintf(what, sizeof what, "Tw %.0f t %.0f x(-40 C)", tw, times[k]);
        expect_rel(cn_thermal_solver_isotherm_1d(s, -40),
                   cn_oracle_neumann_isotherm_mm(&t, tw, 0, -40, times[k]), 0.02, what);
    }
    cn_thermal_energy e;
    cn_thermal_solver_energy(s, &e);
    assert_true(fabs(e.stored_j - e.boundary_j - e.source_j) <= 1e-6 * fabs(e.boundary_j));
    cn_thermal_solver_free(s);
}

static void test_neumann_argon(void **state)
{
    (void)state;
    planar_case(-140);
}

static void test_neumann_n2o(void **state)
{
    (void)state;
    planar_case(-88); /* the N2O probes' wall temperature */
}

static void test_paterson(void **state)
{
    (void)state;
    cn_tissue t = oracle_tissue();
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.geometry = CN_GEOM_CYLINDRICAL;
    o.tissue = t;
    o.h_mm = 0.25;
    o.dt_max_s = 0.5;
    o.r0_mm = 0.1; /* a thin line */
    o.r_max_mm = 50;
    char err[256];
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    assert_non_null(s);
    const double q[2] = {500, 1000};
    for (int k = 0; k < 2; k++) {
        cn_thermal_solver *c = cn_thermal_solver_clone(s);
        cn_thermal_bc bc = {CN_BC_FLUX, 0, 0, -q[k] / (2 * M_PI * o.r0_mm * 1e-3)};
        assert_int_equal(cn_thermal_solver_set_bc(c, &bc), CN_OK);
        assert_int_equal(cn_thermal_solver_step(c, 600), CN_OK);
        char what[64];
        snprintf(what, sizeof what, "line sink %.0f W/m R(600 s)", q[k]);
        expect_rel(cn_thermal_solver_front_1d(c), cn_oracle_paterson_radius_mm(&t, q[k], 0, 600),
                   0.02, what);
        cn_thermal_energy e;
        cn_thermal_solver_energy(c, &e);
        /* the heat that left is Q t (per radian: Q t / 2 pi); the far field's
         * inflow at the edge of the solved region is negligible */
        double want = -q[k] * 600 / (2 * M_PI);
        print_message("  extracted %.1f J/rad, Q t / 2 pi = %.1f\n", e.boundary_j, want);
        assert_true(fabs(e.boundary_j - want) < 1e-3 * fabs(want));
        assert_true(fabs(e.stored_j - e.boundary_j) <= 1e-6 * fabs(e.boundary_j));
        cn_thermal_solver_free(c);
    }
    cn_thermal_solver_free(s);
}

static void test_perfusion_sphere(void **state)
{
    (void)state;
    cn_tissue t = oracle_tissue();
    const double w[2] = {0.0005, 0.005};
    for (int k = 0; k < 2; k++) {
        cn_thermal_solver *s = make_1d(CN_GEOM_SPHERICAL, 0.125, 4, 110, w[k]);
        cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
        assert_int_equal(cn_thermal_solver_set_bc(s, &bc), CN_OK);
        assert_int_equal(cn_thermal_solver_step(s, 5000), CN_OK);
        double r1 = cn_thermal_solver_front_1d(s);
        assert_int_equal(cn_thermal_solver_step(s, 1000), CN_OK);
        double r2 = cn_thermal_solver_front_1d(s);
        assert_true(fabs(r2 - r1) < 0.01); /* steady */
        char what[64];
        snprintf(what, sizeof what, "steady sphere w %.4f /s", w[k]);
        expect_rel(r2, cn_oracle_perfusion_sphere_mm(&t, 0.735, -140, 0, w[k]), 0.02, what);
        cn_thermal_energy e;
        cn_thermal_solver_energy(s, &e);
        assert_true(e.source_j > 0);
        assert_true(fabs(e.stored_j - e.boundary_j - e.source_j) <= 1e-6 * fabs(e.boundary_j));
        cn_thermal_solver_free(s);
    }
}

static void test_grid_refinement(void **state)
{
    (void)state;
    cn_tissue t = oracle_tissue();
    const double hs[4] = {1, 0.5, 0.25, 0.125};
    double want = cn_oracle_neumann_isotherm_mm(&t, -140, 0, 0, 150);
    double errs[4];
    for (int k = 0; k < 4; k++) {
        cn_thermal_solver *s = make_1d(CN_GEOM_PLANAR, hs[k], 0.05, 50, 0);
        cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
        cn_thermal_solver_set_bc(s, &bc);
        cn_thermal_solver_step(s, 150);
        errs[k] = fabs(cn_thermal_solver_front_1d(s) - want);
        print_message("  h %.3f mm: front error %.3f mm\n", hs[k], errs[k]);
        cn_thermal_solver_free(s);
    }
    for (int k = 1; k < 4; k++)
        assert_true(errs[k] < errs[k - 1]);
    assert_true(errs[3] < 0.2 * errs[0]); /* 8x finer: at least 5x smaller */
}

static void test_bad_input(void **state)
{
    (void)state;
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    char err[256];
    o.h_mm = NAN;
    assert_null(cn_thermal_solver_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "h_mm"));
    cn_thermal_solver_opts_default(&o);
    o.tissue.k_frozen_w_mk = -2;
    assert_null(cn_thermal_solver_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "k_frozen_w_mk"));
    cn_thermal_solver_opts_default(&o);
    o.geometry = CN_GEOM_PLANAR;
    o.r_max_mm = 20;
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(cn_thermal_solver_step(s, -1), CN_EINVAL);
    assert_int_equal(cn_thermal_solver_step(s, NAN), CN_EINVAL);
    cn_thermal_bc bc = {CN_BC_TEMP, NAN, 0, 0};
    assert_int_equal(cn_thermal_solver_set_bc(s, &bc), CN_EINVAL);
    cn_thermal_solver_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_formulas), cmocka_unit_test(test_neumann_argon),
        cmocka_unit_test(test_neumann_n2o),     cmocka_unit_test(test_paterson),
        cmocka_unit_test(test_perfusion_sphere), cmocka_unit_test(test_grid_refinement),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
