/*
 * test_thermal_thaw.c - the ice of a passive thaw: the solver's melt beyond a scaled front
 * (solver_melt.c), on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The solver's melt (solver_melt.c): the front comes in to the scaled one, the ice inside
 * it and every cell's cold are kept (never cooled), the energy account stays closed. */
static void test_melt_beyond(void **state)
{
    (void)state;
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.h_mm = 0.5;
    o.dt_max_s = 1;
    o.active_length_mm = 6;
    o.r0_mm = 0.75;
    o.r_max_mm = 25;
    o.z_min_mm = -40;
    o.z_max_mm = 25;
    char err[256];
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    assert_non_null(s);
    cn_thermal_bc bc = {CN_BC_TEMP, -100, 0, 0};
    assert_int_equal(cn_thermal_solver_set_bc(s, &bc), CN_OK);
    assert_int_equal(cn_thermal_solver_step(s, 120), CN_OK);
    bc = (cn_thermal_bc){CN_BC_INSULATED, 0, 0, 0};
    assert_int_equal(cn_thermal_solver_set_bc(s, &bc), CN_OK);
    assert_int_equal(cn_thermal_solver_step(s, 5), CN_OK);
    const double zc = -3, th[2] = {0, M_PI}, one[2] = {1, 1}, k[2] = {0.7, 0.7};
    int cells = -1;
    assert_int_equal(cn_thermal_solver_melt_beyond(s, zc, th, one, 2, &cells), CN_OK);
    assert_int_equal(cells, 0); /* k = 1: nothing to melt */
    assert_int_equal(cn_thermal_solver_melt_beyond(s, zc, th, (double[2]){0.7, 1.2}, 2, NULL),
                     CN_EINVAL);
    assert_int_equal(cn_thermal_solver_melt_beyond(s, zc, (double[2]){1, 0}, k, 2, NULL),
                     CN_EINVAL);
    cn_thermal_solver *before = cn_thermal_solver_clone(s);
    assert_non_null(before);
    double f0[3], f1[3], r40 = 0;
    const double dirs[3] = {M_PI / 4, M_PI / 2, 3 * M_PI / 4};
    for (int q = 0; q < 3; q++)
        f0[q] = cn_thermal_solver_ray_isotherm(s, 0, 0, zc, dirs[q], 40);
    r40 = cn_thermal_solver_ray_isotherm(s, -40, 0, zc, M_PI / 2, 40);
    assert_int_equal(cn_thermal_solver_melt_beyond(s, zc, th, k, 2, &cells), CN_OK);
    assert_true(cells > 0);
    for (int q = 0; q < 3; q++) {
        f1[q] = cn_thermal_solver_ray_isotherm(s, 0, 0, zc, dirs[q], 40);
        print_message("  0 C at %3.0f deg: %.2f -> %.2f mm (scaled %.2f)\n", dirs[q] * 180 / M_PI,
                      f0[q], f1[q], 0.7 * f0[q]);
        assert_true(fabs(f1[q] - 0.7 * f0[q]) < o.h_mm); /* within a cell of the scaled front */
    }
    /* the -40 C curve lies inside the scaled front: untouched */
    assert_true(r40 < 0.7 * f0[1] - o.h_mm);
    assert_true(fabs(cn_thermal_solver_ray_isotherm(s, -40, 0, zc, M_PI / 2, 40) - r40) < 1e-9);
    for (double z = -15; z <= 10; z += 0.37)
        for (double r = 0.8; r <= 15; r += 0.29)
            assert_true(cn_thermal_solver_temp_at(s, r, z) >=
                        cn_thermal_solver_temp_at(before, r, z) - 1e-9); /* never cooled */
    cn_thermal_energy e;
    cn_thermal_solver_energy(s, &e);
    assert_true(e.source_j > 0);
    assert_true(fabs(e.stored_j - e.boundary_j - e.source_j) < 1e-6 * fabs(e.boundary_j));
    cn_thermal_solver_free(before);
    cn_thermal_solver_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_melt_beyond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
