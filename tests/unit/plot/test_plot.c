/*
 * test_plot.c - cn_plot_lines_png draws real PNGs with VTK under Xvfb: the file
 * decodes, has the asked size, and shows each series' colour; bad input and a
 * missing display give errors, not crashes. Time plots shade freeze and thaw,
 * draw threshold lines, and keep honest axes (a flat series never gets a +-1e-7
 * axis; a gap is a gap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/core.h"
#include "plot/plot.h"
#include "palette/palette.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts pixels close to rgb; returns -1 when the file is not a PNG of w x h. */
static int tol = 40;
static long count_colour(const char *path, int w, int h, const unsigned char rgb[3])
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_RGB;
    if ((int)img.width != w || (int)img.height != h) {
        png_image_free(&img);
        return -1;
    }
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return -1;
    }
    long n = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const unsigned char *p = buf + 3 * i;
        if (abs(p[0] - rgb[0]) < tol && abs(p[1] - rgb[1]) < tol && abs(p[2] - rgb[2]) < tol)
            n++;
    }
    free(buf);
    return n;
}

static void test_two_series(void **state)
{
    (void)state;
    enum { N = 50 };
    double x[N], y1[N], y2[N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        y1[i] = sqrt(i);
        y2[i] = i == 20 ? NAN : 0.5 * sqrt(i); /* a gap */
    }
    cn_plot_series s[2] = {
        {"0 C", x, y1, N, {200, 0, 0}, false},
        {"-20 C", x, y2, N, {0, 0, 200}, true},
    };
    cn_plot_opts o = {"isotherms", "time (s)", "radius (mm)", 640, 480};
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/test_plot_two.png", CN_BINARY_DIR);
    remove(path);
    int rc = cn_plot_lines_png(path, &o, s, 2, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    const unsigned char red[3] = {200, 0, 0}, blue[3] = {0, 0, 200}, green[3] = {0, 200, 0};
    long nr = count_colour(path, 640, 480, red), nb = count_colour(path, 640, 480, blue);
    long ng = count_colour(path, 640, 480, green);
    print_message("red %ld blue %ld green %ld pixels\n", nr, nb, ng);
    assert_true(nr > 200);
    assert_true(nb > 100);
    assert_true(ng < 20); /* nothing was drawn in green */
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[256];
    double x[2] = {0, 1};
    cn_plot_series s = {"a", x, NULL, 2, {0, 0, 0}, false};
    assert_int_equal(cn_plot_lines_png("", NULL, &s, 1, err, sizeof err), CN_EINVAL);
    char path[512];
    snprintf(path, sizeof path, "%s/test_plot_bad.png", CN_BINARY_DIR);
    assert_int_equal(cn_plot_lines_png(path, NULL, &s, 1, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "series 0"));
    cn_plot_opts o = {"t", "x", "y", 10, 10};
    s.y = x;
    assert_int_equal(cn_plot_lines_png(path, &o, &s, 1, err, sizeof err), CN_EINVAL);
    assert_int_equal(cn_plot_lines_png("/nonexistent-dir/x.png", NULL, &s, 1, err, sizeof err),
                     CN_EIO);
}

static void test_no_display(void **state)
{
    (void)state;
    const char *d = getenv("DISPLAY");
    char saved[256] = "";
    if (d)
        cn_strlcpy(saved, d, sizeof saved);
    setenv("DISPLAY", ":9876", 1); /* nobody listens there */
    double x[2] = {0, 1};
    cn_plot_series s = {"a", x, x, 2, {0, 0, 0}, false};
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/test_plot_nodisplay.png", CN_BINARY_DIR);
    assert_int_equal(cn_plot_lines_png(path, NULL, &s, 1, err, sizeof err), CN_EUNSUPPORTED);
    assert_non_null(strstr(err, "display"));
    if (saved[0])
        setenv("DISPLAY", saved, 1);
    else
        unsetenv("DISPLAY");
}

static void test_time_plot(void **state)
{
    (void)state;
    enum { N = 60 };
    double x[N], y[N], flat[N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        y[i] = i < 10 || i >= 40 ? NAN : 5 - 0.5 * (i - 10); /* exists from 10 to 39 s */
        flat[i] = 0.0;
    }
    cn_rgb c20 = cn_palette(CN_PAL_ISO_20), fz = cn_palette(CN_PAL_FREEZE_SHADE),
           th = cn_palette(CN_PAL_THAW_SHADE), ice = cn_palette(CN_PAL_ICE);
    cn_plot_series s[1] = {{"temperature", x, y, N, {ice.r, ice.g, ice.b}, false, false}};
    cn_plot_band bands[2] = {{5, 30, {fz.r, fz.g, fz.b}, "freeze"}, {30, 50, {th.r, th.g, th.b}, "thaw"}};
    cn_plot_hline line = {-5, {c20.r, c20.g, c20.b}, "-20 C"};
    cn_plot_opts o = {.title = "t", .x_label = "time (s)", .y_label = "C", .width_px = 640,
                      .height_px = 480, .bands = bands, .n_bands = 2, .hlines = &line,
                      .n_hlines = 1};
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/test_plot_time.png", CN_BINARY_DIR);
    if (cn_plot_lines_png(path, &o, s, 1, err, sizeof err))
        fail_msg("%s", err);
    tol = 3;
    const unsigned char cf[3] = {fz.r, fz.g, fz.b}, ct[3] = {th.r, th.g, th.b},
                        cl[3] = {c20.r, c20.g, c20.b};
    long nf = count_colour(path, 640, 480, cf), nt = count_colour(path, 640, 480, ct);
    long nl = count_colour(path, 640, 480, cl);
    tol = 40;
    print_message("freeze %ld thaw %ld threshold %ld pixels\n", nf, nt, nl);
    assert_true(nf > 20000); /* a quarter of the width, full height */
    assert_true(nt > 15000);
    assert_true(nl > 150);   /* the dashed threshold across the plot */

    /* honest axes: an empty / flat series gets the minimum span, not +-1e-7 */
    double lo, hi;
    cn_plot_series z = {"ice", x, flat, N, {0, 0, 0}, false, false};
    cn_plot_opts zo = {.y_include_zero = true, .y_min_span = 2.0};
    cn_plot_y_range(&zo, &z, 1, &lo, &hi);
    assert_true(lo == 0.0 && hi >= 2.0 && hi < 2.5);
    cn_plot_y_range(NULL, &z, 1, &lo, &hi);
    assert_true(hi - lo >= 1.0);
    cn_plot_y_range(&o, s, 1, &lo, &hi); /* data -9.5 .. 5, threshold -5 */
    assert_true(lo < -9.5 && lo > -11 && hi > 5 && hi < 6.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_display),
        cmocka_unit_test(test_two_series),
        cmocka_unit_test(test_time_plot),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
