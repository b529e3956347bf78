/* Transform graph: compositions and inverses against hand-computed matrices,
 * time interpolation (slerp + lerp), lost tools and missing paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/core.h"

#define PI 3.14159265358979323846

static void assert_mat_near(const cn_mat4 *a, const double *expect, double tol)
{
    for (int i = 0; i < 16; i++) {
        if (fabs(a->m[i] - expect[i]) > tol) {
            print_error("element %d: got %.9f expected %.9f\n", i, a->m[i], expect[i]);
            fail();
        }
    }
}

static void test_name_split(void **st)
{
    (void)st;
    char a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
    assert_int_equal(cn_xform_name_split("ProbeToTracker", a, b), CN_OK);
    assert_string_equal(a, "Probe");
    assert_string_equal(b, "Tracker");
    /* "Tool" contains "To" but not followed by an upper-case letter. */
    assert_int_equal(cn_xform_name_split("ToolToReference", a, b), CN_OK);
    assert_string_equal(a, "Tool");
    assert_string_equal(b, "Reference");
    assert_int_equal(cn_xform_name_split("Probe", a, b), CN_EINVAL);
    assert_int_equal(cn_xform_name_split("ToTracker", a, b), CN_EINVAL);
    assert_int_equal(cn_xform_name_split("ProbeTo", a, b), CN_EINVAL);
    assert_int_equal(cn_xform_name_split("AToBToC", a, b), CN_EINVAL);
}

/* ImageToProbe (scale + shift), ProbeToTracker (rotation 90 deg about z + shift),
 * ReferenceToTracker (shift). Hand-computed:
 * ImageToReference = inv(ReferenceToTracker) * ProbeToTracker * ImageToProbe. */
static void test_composition_and_inverse(void **st)
{
    (void)st;
    cn_xform_graph *g = cn_xform_graph_new();
    cn_mat4 i2p = cn_mat4_identity();
    i2p.m[0] = 0.1; i2p.m[5] = 0.1; i2p.m[3] = -32.0;          /* x' = 0.1 x - 32, y' = 0.1 y */
    cn_mat4 p2t = {{0, -1, 0, 100, 1, 0, 0, 200, 0, 0, 1, 300, 0, 0, 0, 1}}; /* Rz(90) + t */
    cn_mat4 r2t = cn_mat4_translation(10, 20, 30);
    assert_int_equal(cn_xform_graph_set(g, "ImageToProbe", &i2p, CN_XFORM_STATIC, true), CN_OK);
    assert_int_equal(cn_xform_graph_set(g, "ProbeToTracker", &p2t, 1000, true), CN_OK);
    assert_int_equal(cn_xform_graph_set(g, "ReferenceToTracker", &r2t, 1000, true), CN_OK);

    cn_mat4 out;
    assert_int_equal(cn_xform_graph_get(g, "Image", "Reference", 1000, &out), CN_OK);
    /* Pixel (10, 20): probe (-31, 2, 0); tracker (100-2, 200-31, 300) = (98, 169, 300);
     * reference (88, 149, 270). */
    cn_vec3 p = cn_mat4_apply_point(&out, (cn_vec3){10, 20, 0});
    assert_true(fabs(p.x - 88) < 1e-9 && fabs(p.y - 149) < 1e-9 && fabs(p.z - 270) < 1e-9);
    double expect[16] = {0, -0.1, 0, 90, 0.1, 0, 0, 148, 0, 0, 1, 270, 0, 0, 0, 1};
    assert_mat_near(&out, expect, 1e-12);

    /* The reverse query is the inverse. */
    cn_mat4 back, prod;
    assert_int_equal(cn_xform_graph_get_named(g, "ReferenceToImage", 1000, &back), CN_OK);
    prod = cn_mat4_mul(&back, &out);
    cn_mat4 id = cn_mat4_identity();
    assert_true(cn_mat4_max_abs_diff(&prod, &id) < 1e-12);

    /* Same frame: identity. Unknown frame or no path: ENOENT. */
    assert_int_equal(cn_xform_graph_get(g, "Probe", "Probe", 1000, &out), CN_OK);
    assert_true(cn_mat4_max_abs_diff(&out, &id) == 0);
    assert_int_equal(cn_xform_graph_get(g, "Image", "Stylus", 1000, &out), CN_ENOENT);
    cn_mat4 s2x = cn_mat4_identity();
    cn_xform_graph_set(g, "StylusToCamera", &s2x, CN_XFORM_STATIC, true);
    assert_int_equal(cn_xform_graph_get(g, "Image", "Stylus", 1000, &out), CN_ENOENT);
    assert_int_equal(cn_xform_graph_get_named(g, "NotAName", 1000, &out), CN_EINVAL);
    cn_xform_graph_free(g);
}

/* Setting BToA when AToB exists updates the same edge (stored inverted). */
static void test_reverse_set(void **st)
{
    (void)st;
    cn_xform_graph *g = cn_xform_graph_new();
    cn_mat4 a = cn_mat4_translation(1, 2, 3), b = cn_mat4_translation(-5, 0, 0), out;
    cn_xform_graph_set(g, "AToB", &a, CN_XFORM_STATIC, true);
    cn_xform_graph_set(g, "BToA", &b, CN_XFORM_STATIC, true);
    assert_int_equal(cn_xform_graph_edge_count(g), 1);
    assert_int_equal(cn_xform_graph_get(g, "A", "B", 0, &out), CN_OK);
    assert_true(fabs(out.m[3] - 5) < 1e-12);
    cn_xform_graph_free(g);
}

static void test_interpolation(void **st)
{
    (void)st;
    cn_xform_graph *g = cn_xform_graph_new();
    cn_vec3 z = {0, 0, 1};
    cn_mat4 m0 = cn_mat4_rotation_axis_angle(z, 0), m1 = cn_mat4_rotation_axis_angle(z, PI / 2);
    m0.m[3] = 0;
    m1.m[3] = 10;
    assert_int_equal(cn_xform_graph_set(g, "NeedleToTracker", &m0, 1000000000LL, true), CN_OK);
    assert_int_equal(cn_xform_graph_set(g, "NeedleToTracker", &m1, 2000000000LL, true), CN_OK);
    cn_mat4 out;
    /* A quarter of the way: 22.5 deg and 2.5 mm. */
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 1250000000LL, &out), CN_OK);
    double c = cos(PI / 8), s = sin(PI / 8);
    double expect[16] = {c, -s, 0, 2.5, s, c, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    assert_mat_near(&out, expect, 1e-9);
    /* Samples added out of order are sorted in. */
    cn_mat4 mh = cn_mat4_translation(5, 0, 0);
    assert_int_equal(cn_xform_graph_set(g, "NeedleToTracker", &mh, 1500000000LL, true), CN_OK);
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 1500000000LL, &out), CN_OK);
    assert_true(fabs(out.m[3] - 5) < 1e-9 && fabs(out.m[0] - 1) < 1e-9);
    /* Held within the extrapolation window, refused beyond it. */
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 2100000000LL, &out), CN_OK);
    assert_true(fabs(out.m[3] - 10) < 1e-9);
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 2500000000LL, &out), CN_EAGAIN);
    cn_xform_graph_set_max_extrapolate(g, 1000000000LL);
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 2500000000LL, &out), CN_OK);
    /* A lost tool (invalid sample) makes the bracketing interval unusable. */
    cn_xform_graph_set(g, "NeedleToTracker", &m1, 3000000000LL, false);
    assert_int_equal(cn_xform_graph_get(g, "Needle", "Tracker", 2600000000LL, &out), CN_EAGAIN);
    /* Non-finite poses are rejected. */
    cn_mat4 bad = cn_mat4_identity();
    bad.m[3] = NAN;
    assert_int_equal(cn_xform_graph_set(g, "NeedleToTracker", &bad, 4000000000LL, true), CN_EINVAL);
    cn_xform_graph_free(g);
}

/* A calibration with scale (a PlusServer sends ImageToProbe, pixel spacing
 * included, with every frame) keeps its scale, and a mirrored axis its sign,
 * between two samples: slerp alone would return a pure rotation. */
static void test_interpolation_keeps_scale(void **st)
{
    (void)st;
    cn_mat4 r = cn_mat4_rotation_axis_angle((cn_vec3){0, 1, 0}, 0.3), sc = cn_mat4_scale(0.2, 0.25, -1);
    cn_mat4 a = cn_mat4_mul(&r, &sc);
    a.m[3] = -12.8;
    cn_mat4 mid = cn_mat4_interpolate(&a, &a, 0.4);
    assert_true(cn_mat4_max_abs_diff(&mid, &a) < 1e-12);
    cn_mat4 sc2 = cn_mat4_scale(0.4, 0.25, -1), b = cn_mat4_mul(&r, &sc2);
    b.m[3] = -12.8;
    mid = cn_mat4_interpolate(&a, &b, 0.5);
    cn_mat4 sc3 = cn_mat4_scale(0.3, 0.25, -1), want = cn_mat4_mul(&r, &sc3);
    want.m[3] = -12.8;
    assert_true(cn_mat4_max_abs_diff(&mid, &want) < 1e-12);
}

/* The history ring keeps the newest samples when it overflows. */
static void test_history_ring(void **st)
{
    (void)st;
    cn_xform_graph *g = cn_xform_graph_new();
    for (int i = 0; i < 500; i++) {
        cn_mat4 m = cn_mat4_translation(i, 0, 0);
        cn_xform_graph_set(g, "ProbeToTracker", &m, (int64_t)i * 10000000LL, true);
    }
    cn_mat4 out;
    assert_int_equal(cn_xform_graph_get(g, "Probe", "Tracker", 4985000000LL, &out), CN_OK);
    assert_true(fabs(out.m[3] - 498.5) < 1e-9);
    /* Long before the kept history: refused rather than silently wrong. */
    assert_int_equal(cn_xform_graph_get(g, "Probe", "Tracker", 0, &out), CN_EAGAIN);
    cn_xform_graph_free(g);
}

static void test_mat4_basics(void **st)
{
    (void)st;
    cn_vec3 axis = {1, 2, 3};
    cn_mat4 r = cn_mat4_rotation_axis_angle(axis, 0.7);
    r.m[3] = 4;
    r.m[7] = -2;
    r.m[11] = 9;
    cn_mat4 inv, id = cn_mat4_identity();
    assert_int_equal(cn_mat4_invert(&r, &inv), CN_OK);
    cn_mat4 p = cn_mat4_mul(&r, &inv);
    assert_true(cn_mat4_max_abs_diff(&p, &id) < 1e-12);
    double q[4];
    cn_mat4_to_quat(&r, q);
    cn_mat4 r2 = cn_mat4_from_quat_trans(q, (cn_vec3){4, -2, 9});
    assert_true(cn_mat4_max_abs_diff(&r, &r2) < 1e-12);
    cn_mat4 sing = cn_mat4_scale(1, 0, 1);
    assert_int_equal(cn_mat4_invert(&sing, &inv), CN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_split),   cmocka_unit_test(test_composition_and_inverse),
        cmocka_unit_test(test_reverse_set),  cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_history_ring), cmocka_unit_test(test_mat4_basics),
        cmocka_unit_test(test_interpolation_keeps_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
