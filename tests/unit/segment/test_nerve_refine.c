/*
 * test_nerve_refine.c - automatic mode's refine sequence (nerve_refine.c), the one
 * the live stage steps and `cryonav eval nerve` runs at once.
 *
 *  - On real images (every 10th nerve-us image, the fold-0 finder and refine
 *    network, the finder's chosen part), the sequence gives exactly what bare
 *    crop-CNN runs written out here give: a run at the part's centre, one more at
 *    its mask's centre, the first outline (and mask) standing when the second
 *    outlines nothing, no nerve when the first outlines nothing. Stepped one
 *    network at a time it gives the same outline, each run's outline on the step
 *    that finishes it.
 *  - A re-centred run that loses the nerve leaves the first run's outline and
 *    mask, bit for bit (scanned for on real images: start points around the
 *    finder's part until such a case comes up).
 *  - A start with nothing to outline (speckle-like texture) is no nerve after
 *    one run.
 *  - Bad input: NULL handles, a point outside the image, stepping a finished or
 *    cancelled sequence, a second crop with nothing to do: errors or "done",
 *    never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "view_util.h"
#include "segment/segment.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMAX 1024

typedef struct {
    cn_pt2 pts[CN_CONTOUR_MAX];
    int n;
    float conf;
    uint8_t *mask;
} run_out;

/* One bare run: the staged crop CNN at (x, y), every network in turn. */
static void bare_run(cn_nerve_cnn *c, const cn_nerve_find *fd, const cn_image *im, double x,
                     double y, run_out *o)
{
    assert_int_equal(cn_nerve_cnn_blend_begin(c, 0, im->px, im->w, im->h, x, y, fd), CN_OK);
    bool done = false;
    while (!done)
        assert_int_equal(cn_nerve_cnn_blend_step(c, fd, cn_nerve_find_auto_weight(fd), o->mask,
                                                 o->pts, &o->n, &o->conf, &done),
                         CN_OK);
}

static bool outlined(const run_out *o)
{
    return o->n >= 3 && o->conf > 0;
}

static cn_image *read_view(const char *name)
{
    char p[1024], m[1024], err[512];
    snprintf(p, sizeof p, "%s/nerve-us/images/%s", CN_SHARED_DATA_DIR, name);
    snprintf(m, sizeof m, "%s/nerve-us/masks/%s", CN_SHARED_DATA_DIR, name);
    cn_image *im = NULL, *mk = NULL;
    if (cn_image_read(p, CN_IMAGE_GREY, &im, err, sizeof err) != CN_OK)
        fail_msg("%s", err);
    assert_int_equal(cn_mask_read(m, p, im->w, im->h, &mk, err, sizeof err), CN_OK);
    cut_to_view(&im, &mk);
    cn_image_free(mk);
    return im;
}

/* What the sequence must give from (x, y), by bare runs: *want (outline, mask)
 * and whether the re-centred run lost the nerve. Returns whether a nerve stands. */
static bool expected(cn_nerve_cnn *c, const cn_nerve_find *fd, const cn_image *im, double x,
                     double y, run_out *want, run_out *scratch, bool *lost)
{
    *lost = false;
    bare_run(c, fd, im, x, y, want);
    if (!outlined(want))
        return false;
    double cx, cy;
    if (cn_nerve_cnn_mask_centre(c, &cx, &cy) != CN_OK)
        return true;
    bare_run(c, fd, im, cx, cy, scratch);
    if (!outlined(scratch)) {
        *lost = true;
        return true; /* the first stands */
    }
    const size_t np = (size_t)im->w * im->h;
    memcpy(want->pts, scratch->pts, sizeof want->pts);
    want->n = scratch->n;
    want->conf = scratch->conf;
    memcpy(want->mask, scratch->mask, np);
    return true;
}

/* The library's sequence from (x, y), whole and stepped, against the bare runs.
 * Returns 0 vetoed, 1 refined, 2 refined with the re-centred run lost. */
static int check_from(cn_nerve_cnn *c, const cn_nerve_find *fd, const cn_image *im, double x,
                      double y, uint8_t *buf[3])
{
    const size_t np = (size_t)im->w * im->h;
    run_out want = {.mask = buf[0]}, scratch = {.mask = buf[1]};
    bool lost;
    const bool nerve = expected(c, fd, im, x, y, &want, &scratch, &lost);
    /* whole */
    cn_nerve_refine r;
    cn_pt2 pts[CN_CONTOUR_MAX];
    int n = -1;
    float conf = -1;
    memset(buf[2], 7, np);
    assert_int_equal(cn_nerve_refine_run(&r, c, 0, im->px, im->w, im->h, x, y, fd,
                                         cn_nerve_find_auto_weight(fd), CN_NERVE_AUTO_RECENTRE,
                                         buf[2], pts, &n, &conf),
                     CN_OK);
    assert_int_equal(cn_nerve_refine_found(&r), nerve);
    if (!nerve) {
        assert_int_equal(n, 0);
        assert_true(conf == 0);
        assert_int_equal(cn_nerve_refine_runs(&r), 1);
        return 0;
    }
    assert_int_equal(n, want.n);
    assert_memory_equal(pts, want.pts, sizeof pts[0] * (size_t)n);
    assert_true(conf == want.conf);
    assert_memory_equal(buf[2], want.mask, np);
    assert_int_equal(cn_nerve_refine_runs(&r), 1 + CN_NERVE_AUTO_RECENTRE);
    /* stepped, no mask (the live stage): each run's outline on the step that ends it */
    assert_int_equal(cn_nerve_refine_begin(&r, c, 0, im->px, im->w, im->h, x, y, fd,
                                           cn_nerve_find_auto_weight(fd), CN_NERVE_AUTO_RECENTRE,
                                           NULL),
                     CN_OK);
    int given = 0, steps = 0;
    cn_pt2 last[CN_CONTOUR_MAX];
    int last_n = 0;
    for (bool done = false; !done;) {
        int k = 0;
        assert_int_equal(cn_nerve_refine_step(&r, pts, &k, &conf, &done), CN_OK);
        steps++;
        assert_true(steps < 64);
        if (k > 0) {
            given++;
            memcpy(last, pts, sizeof pts[0] * (size_t)k);
            last_n = k;
        }
    }
    assert_int_equal(given, lost ? 1 : 1 + CN_NERVE_AUTO_RECENTRE);
    assert_int_equal(last_n, want.n);
    assert_memory_equal(last, want.pts, sizeof pts[0] * (size_t)last_n);
    /* a finished sequence stays finished */
    bool done = false;
    int k = 5;
    assert_int_equal(cn_nerve_refine_step(&r, pts, &k, NULL, &done), CN_OK);
    assert_true(done);
    assert_int_equal(k, 0);
    return lost ? 2 : 1;
}

/* nerve-us's images in name order (the order `eval nerve` folds them in) */
static int list_us(struct dirent ***names)
{
    char d[1024];
    snprintf(d, sizeof d, "%s/nerve-us/images", CN_SHARED_DATA_DIR);
    int n = scandir(d, names, NULL, alphasort);
    assert_true(n > 2);
    return n;
}

static bool is_image(const struct dirent *e)
{
    const char *dot = strrchr(e->d_name, '.');
    return dot && !strcmp(dot, ".png");
}

static void free_list(struct dirent **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

typedef struct {
    cn_nerve_find *fd;
    cn_nerve_cnn *c;
    uint8_t *buf[3];
} rig;

static void rig_open(rig *g)
{
    g->fd = cn_nerve_find_new(NMAX, NMAX);
    g->c = cn_nerve_cnn_new_refine(NMAX, NMAX);
    assert_non_null(g->fd);
    assert_non_null(g->c);
    for (int i = 0; i < 3; i++)
        assert_non_null(g->buf[i] = malloc((size_t)NMAX * NMAX));
}

static void rig_close(rig *g)
{
    cn_nerve_find_free(g->fd);
    cn_nerve_cnn_free(g->c);
    for (int i = 0; i < 3; i++)
        free(g->buf[i]);
}

static void test_sequence_equals_bare_runs(void **st)
{
    (void)st;
    rig g;
    rig_open(&g);
    int kinds[3] = {0, 0, 0}, images = 0;
    struct dirent **names;
    const int nn = list_us(&names);
    for (int i = 0, k = 0; i < nn; i++) {
        if (!is_image(names[i]) || k++ % 10)
            continue;
        cn_image *im = read_view(names[i]->d_name);
        assert_int_equal(cn_nerve_find_analyse(g.fd, 0, im->px, im->w, im->h, NULL, 3.0), CN_OK);
        cn_nerve_found fo;
        assert_int_equal(cn_nerve_find_select(g.fd, NULL, NULL, &fo), CN_OK);
        if (fo.found) {
            kinds[check_from(g.c, g.fd, im, fo.cx_px, fo.cy_px, g.buf)]++;
            images++;
        }
        cn_image_free(im);
    }
    free_list(names, nn);
    print_message("%d images with a part: %d refined, %d re-centred run lost, %d vetoed\n",
                  images, kinds[1], kinds[2], kinds[0]);
    assert_true(images >= 18);
    assert_true(kinds[1] >= images / 2); /* the sequence did run its re-centred runs */
    rig_close(&g);
}

/* Start points around the finder's part (eight directions, 3 and 4.5 of its
 * equivalent radii away: a first crop that catches the nerve's edge is where a
 * re-centred one loses it) until a re-centred run loses what the first outlined:
 * the first outline and mask must stand. */
static void test_lost_recentred_run_keeps_first(void **st)
{
    (void)st;
    rig g;
    rig_open(&g);
    int lost = 0, tried = 0;
    struct dirent **names;
    const int nn = list_us(&names);
    for (int i = 0; i < nn && !lost; i++) {
        if (!is_image(names[i]))
            continue;
        cn_image *im = read_view(names[i]->d_name);
        assert_int_equal(cn_nerve_find_analyse(g.fd, 0, im->px, im->w, im->h, NULL, 3.0), CN_OK);
        cn_nerve_found fo;
        assert_int_equal(cn_nerve_find_select(g.fd, NULL, NULL, &fo), CN_OK);
        for (int k = 0; fo.found && k < 16 && !lost; k++) {
            const double a = k * M_PI / 4, d = (2.0 + (k / 8)) * 1.5 * fo.r_eq_px;
            const double x = fo.cx_px + d * cos(a), y = fo.cy_px + d * sin(a);
            if (x < 0 || y < 0 || x > im->w - 1 || y > im->h - 1)
                continue;
            tried++;
            lost += check_from(g.c, g.fd, im, x, y, g.buf) == 2;
            if (lost)
                print_message("lost: %s, start %d\n", names[i]->d_name, k);
        }
        cn_image_free(im);
    }
    free_list(names, nn);
    print_message("a re-centred run lost the nerve after %d start points\n", tried);
    assert_int_equal(lost, 1);
    rig_close(&g);
}

static void test_nothing_to_outline(void **st)
{
    (void)st;
    const int w = 320, h = 240;
    uint8_t *px = malloc((size_t)w * h), *mask = malloc((size_t)w * h);
    assert_true(px && mask);
    for (size_t i = 0; i < (size_t)w * h; i++)
        px[i] = (uint8_t)(60 + ((i * 2654435761u) >> 26));
    cn_nerve_cnn *c = cn_nerve_cnn_new_refine(w, h);
    assert_non_null(c);
    cn_nerve_refine r;
    cn_pt2 pts[CN_CONTOUR_MAX];
    int n = -1;
    float conf = -1;
    assert_int_equal(cn_nerve_refine_run(&r, c, CN_NERVE_CNN_LIVE, px, w, h, w / 2.0, h / 2.0,
                                         NULL, 0, CN_NERVE_AUTO_RECENTRE, mask, pts, &n, &conf),
                     CN_OK);
    print_message("texture: found %d, runs %d\n", cn_nerve_refine_found(&r),
                  cn_nerve_refine_runs(&r));
    assert_false(cn_nerve_refine_found(&r));
    assert_int_equal(n, 0);
    assert_true(conf == 0);
    assert_int_equal(cn_nerve_refine_runs(&r), 1);
    cn_nerve_cnn_free(c);
    free(px);
    free(mask);
}

static void test_bad_input(void **st)
{
    (void)st;
    const int w = 128, h = 96;
    uint8_t *px = calloc((size_t)w * h, 1);
    assert_non_null(px);
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)(40 + (i * 7919) % 90);
    cn_nerve_cnn *c = cn_nerve_cnn_new_refine(w, h);
    assert_non_null(c);
    cn_nerve_refine r;
    bool done = false;
    int n = 3;
    cn_pt2 pts[CN_CONTOUR_MAX];
    assert_int_equal(cn_nerve_refine_begin(NULL, c, 0, px, w, h, 10, 10, NULL, 0, 1, NULL),
                     CN_EINVAL);
    assert_int_equal(cn_nerve_refine_begin(&r, NULL, 0, px, w, h, 10, 10, NULL, 0, 1, NULL),
                     CN_EINVAL);
    assert_int_equal(cn_nerve_refine_step(&r, pts, &n, NULL, &done), CN_OK);
    assert_true(done); /* a sequence that never began is over */
    assert_int_equal(n, 0);
    assert_int_equal(cn_nerve_refine_begin(&r, c, 0, px, w, h, 10, 10, NULL, 0, -1, NULL),
                     CN_EINVAL);
    assert_int_equal(cn_nerve_refine_begin(&r, c, 0, px, w, h, w + 5.0, 10, NULL, 0, 1, NULL),
                     CN_ERANGE);
    assert_int_equal(cn_nerve_refine_begin(&r, c, 0, px, w, h, NAN, 10, NULL, 0, 1, NULL) != CN_OK,
                     true);
    assert_int_equal(cn_nerve_refine_begin(&r, c, 99, px, w, h, 10, 10, NULL, 0, 1, NULL) != CN_OK,
                     true);
    assert_int_equal(cn_nerve_refine_step(NULL, pts, &n, NULL, &done), CN_EINVAL);
    assert_false(cn_nerve_refine_found(NULL));
    assert_int_equal(cn_nerve_refine_runs(NULL), 0);
    /* another run on the handle between the steps cancels the sequence: an error,
     * then it is over */
    assert_int_equal(cn_nerve_refine_begin(&r, c, 0, px, w, h, w / 2.0, h / 2.0, NULL, 0, 1, NULL),
                     CN_OK);
    float conf;
    assert_int_equal(cn_nerve_cnn_run(c, 0, px, w, h, 20, 20, NULL, pts, &n, &conf), CN_OK);
    assert_int_equal(cn_nerve_refine_step(&r, pts, &n, NULL, &done), CN_EINVAL);
    assert_true(done);
    assert_int_equal(cn_nerve_refine_step(&r, pts, &n, NULL, &done), CN_OK);
    assert_true(done);
    /* a second crop with nothing to do (the refine network is not size-normalised,
     * or no run finished): CN_ENOENT, and the object is over */
    cn_nerve_cnn *fresh = cn_nerve_cnn_new_refine(w, h);
    assert_non_null(fresh);
    assert_int_equal(cn_nerve_refine_begin_second(&r, fresh, NULL, 0), CN_ENOENT);
    assert_int_equal(cn_nerve_refine_step(&r, pts, &n, NULL, &done), CN_OK);
    assert_true(done);
    assert_int_equal(cn_nerve_refine_begin_second(NULL, fresh, NULL, 0), CN_EINVAL);
    assert_int_equal(cn_nerve_refine_begin_second(&r, NULL, NULL, 0), CN_EINVAL);
    cn_nerve_cnn_free(fresh);
    cn_nerve_cnn_free(c);
    free(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_equals_bare_runs),
        cmocka_unit_test(test_lost_recentred_run_keeps_first),
        cmocka_unit_test(test_nothing_to_outline),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
