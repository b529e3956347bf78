/*
 * view_util.h - for the segment tests: an image and its mask cut to the image's
 * field of view (cn_img_fov_box), as eval nerve and the live stage give frames to
 * networks trained on cut frames (the built-in ones since the ninth session).
 * Include after cmocka.h and imaging.h.
 */
#ifndef CN_TEST_VIEW_UTIL_H
#define CN_TEST_VIEW_UTIL_H

#include <stdlib.h>

/* Replaces *im and *mk (same size) by their cuts to *im's field of view. */
static inline void cut_to_view(cn_image **im, cn_image **mk)
{
    uint32_t *cols = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len((*im)->w, (*im)->h));
    assert_non_null(cols);
    cn_img_box b;
    assert_int_equal(cn_img_fov_box((*im)->px, (*im)->w, (*im)->h, cols, &b), CN_OK);
    free(cols);
    cn_image *ci = cn_image_new(b.w, b.h), *cm = cn_image_new(b.w, b.h);
    assert_true(ci && cm);
    assert_int_equal(cn_img_crop((*im)->px, (*im)->w, (*im)->h, b, ci->px), CN_OK);
    assert_int_equal(cn_img_crop((*mk)->px, (*im)->w, (*im)->h, b, cm->px), CN_OK);
    cn_image_free(*im);
    cn_image_free(*mk);
    *im = ci;
    *mk = cm;
}

#endif
