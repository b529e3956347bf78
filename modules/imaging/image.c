/*
 * image.c - the owned cn_image type and whole-image statistics.
 * Sizes are checked against CN_IMAGE_MAX_SIDE before any allocation so a corrupt
 * header can never ask for gigabytes.
 */
#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>

int cn_image_check(const uint8_t *px, int w, int h)
{
    if (!px || w < 1 || h < 1 || w > CN_IMAGE_MAX_SIDE || h > CN_IMAGE_MAX_SIDE)
        return CN_EINVAL;
    return CN_OK;
}

cn_image *cn_image_new(int w, int h)
{
    if (w < 1 || h < 1 || w > CN_IMAGE_MAX_SIDE || h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_image *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->px = calloc((size_t)w * (size_t)h, 1);
    if (!im->px) {
        free(im);
        return NULL;
    }
    im->w = w;
    im->h = h;
    im->spacing_mm[0] = im->spacing_mm[1] = 1.0;
    return im;
}

void cn_image_free(cn_image *im)
{
    if (!im)
        return;
    free(im->px);
    free(im);
}

int cn_img_stats_compute(const uint8_t *px, int w, int h, cn_img_stats *out)
{
    int rc = cn_image_check(px, w, h);
    if (rc || !out)
        return CN_EINVAL;
    size_t n = (size_t)w * (size_t)h;
    uint64_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[px[i]]++;
    double s = 0, s2 = 0;
    uint64_t dark = 0, sat = 0;
    for (int v = 0; v < 256; v++) {
        s += (double)v * (double)hist[v];
        s2 += (double)v * v * (double)hist[v];
        if (v <= 5)
            dark += hist[v];
        if (v >= 250)
            sat += hist[v];
    }
    out->mean = s / (double)n;
    double var = s2 / (double)n - out->mean * out->mean;
    out->stddev = var > 0 ? sqrt(var) : 0;
    out->frac_dark = (double)dark / (double)n;
    out->frac_saturated = (double)sat / (double)n;
    return CN_OK;
}
