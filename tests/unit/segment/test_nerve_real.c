/*
 * test_nerve_real.c - the nerve outline on real ultrasound (nerve-us), seeded as
 * `cryonav eval nerve --seeded` does (the centroid of the expert mask), on a
 * fixed subset (every 10th file, 21 images) with the built-in parameters.
 * Threshold: the subset's documented mean Dice minus a 0.05 margin (see
 * docs/validation.md); a regression of the method fails it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUBSET_DICE_DOC 0.65 /* documented mean Dice of this subset, DP seeded, built-in parameters */
#define MARGIN 0.05

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_seeded_dice_on_subset(void **st)
{
    (void)st;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/nerve-us/images", CN_SHARED_DATA_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strstr(e->d_name, ".png"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp);
    assert_true(n >= 200);
    cn_nerve_seg *seg = cn_nerve_seg_new(1024, 1024);
    cn_nerve_params p;
    cn_nerve_params_default(&p);
    double sum = 0, sum_hd = 0;
    int m = 0;
    for (int i = 0; i < n; i += 10) {
        char p1[2048], p2[2048], err[512];
        snprintf(p1, sizeof p1, "%s/nerve-us/images/%s", CN_SHARED_DATA_DIR, names[i]);
        snprintf(p2, sizeof p2, "%s/nerve-us/masks/%s", CN_SHARED_DATA_DIR, names[i]);
        cn_image *im = NULL, *mk = NULL;
        assert_int_equal(cn_png_read_gray(p1, &im, err, sizeof err), CN_OK);
        assert_int_equal(cn_png_read_index(p2, &mk, err, sizeof err), CN_OK);
        assert_int_equal(im->w, mk->w);
        for (int k = 0; k < mk->w * mk->h; k++)
            mk->px[k] = mk->px[k] == 1;
        double cx, cy;
        assert_int_equal(cn_mask_centroid(mk->px, mk->w, mk->h, &cx, &cy, NULL), CN_OK);
        assert_int_equal(cn_nerve_seg_prepare(seg, im->px, im->w, im->h), CN_OK);
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np;
        float conf;
        assert_int_equal(cn_nerve_seg_run(seg, cx, cy, &p, pts, &np, &conf), CN_OK);
        assert_int_equal(np, CN_NERVE_ANGLES);
        uint8_t *poly = calloc((size_t)im->w * im->h, 1);
        cn_img_fill_polygon(poly, im->w, im->h, pts, np, 1);
        sum += cn_mask_dice(poly, mk->px, im->w, im->h);
        double hd = cn_mask_hd95(poly, mk->px, im->w, im->h);
        assert_true(isfinite(hd));
        sum_hd += hd;
        m++;
        free(poly);
        cn_image_free(im);
        cn_image_free(mk);
    }
    print_message("nerve-us subset (%d images, every 10th): mean dice %.3f, mean hd95 %.1f px\n", m,
                  sum / m, sum_hd / m);
    assert_true(sum / m >= SUBSET_DICE_DOC - MARGIN);
    cn_nerve_seg_free(seg);
    for (int i = 0; i < n; i++)
        free(names[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_dice_on_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
