/*
 * filter.c - smoothing, resampling and integral images for the live path.
 * Every filter is O(1) per pixel whatever its radius (running sums), because the
 * whole analysis of a frame has a budget of a few milliseconds on one core.
 */
#include "imaging/imaging.h"

#include <math.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

int cn_img_box_mean(const uint8_t *src, uint8_t *dst, int w, int h, int r, uint32_t *tmp)
{
    if (cn_image_check(src, w, h) || !dst || !tmp || r < 0 || r > 255 || dst == src)
        return CN_EINVAL;
    if (r == 0) {
        memcpy(dst, src, (size_t)w * h);
        return CN_OK;
    }
    /* colsum[x] = sum of src over rows y-r..y+r (clamped) */
    for (int x = 0; x < w; x++) {
        uint32_t s = 0;
        for (int k = -r; k <= r; k++)
            s += src[(size_t)clampi(k, 0, h - 1) * w + x];
        tmp[x] = s;
    }
    const uint32_t area = (uint32_t)(2 * r + 1) * (uint32_t)(2 * r + 1);
    for (int y = 0; y < h; y++) {
        uint8_t *drow = dst + (size_t)y * w;
        uint32_t s = 0;
        for (int k = -r; k <= r; k++)
            s += tmp[clampi(k, 0, w - 1)];
        for (int x = 0; x < w; x++) {
            drow[x] = (uint8_t)((s + area / 2) / area);
            s += tmp[clampi(x + r + 1, 0, w - 1)] - tmp[clampi(x - r, 0, w - 1)];
        }
        if (y + 1 < h) {
            const uint8_t *add = src + (size_t)clampi(y + r + 1, 0, h - 1) * w;
            const uint8_t *sub = src + (size_t)clampi(y - r, 0, h - 1) * w;
            for (int x = 0; x < w; x++)
                tmp[x] += (uint32_t)add[x] - (uint32_t)sub[x];
        }
    }
    return CN_OK;
}

int cn_img_downsample2(const uint8_t *src, int w, int h, uint8_t *dst)
{
    if (cn_image_check(src, w, h) || !dst || w < 2 || h < 2)
        return CN_EINVAL;
    int w2 = w / 2, h2 = h / 2;
    for (int y = 0; y < h2; y++) {
        const uint8_t *a = src + (size_t)(2 * y) * w, *b = a + w;
        uint8_t *d = dst + (size_t)y * w2;
        for (int x = 0; x < w2; x++)
            d[x] = (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2) >> 2);
    }
    return CN_OK;
}

int cn_img_integral(const uint8_t *src, int w, int h, uint32_t *ii)
{
    if (cn_image_check(src, w, h) || !ii || (int64_t)w * h * 255 > UINT32_MAX)
        return CN_EINVAL;
    memset(ii, 0, sizeof(uint32_t) * (size_t)(w + 1));
    for (int y = 0; y < h; y++) {
        uint32_t row = 0;
        uint32_t *cur = ii + (size_t)(y + 1) * (w + 1), *prev = cur - (w + 1);
        cur[0] = 0;
        for (int x = 0; x < w; x++) {
            row += src[(size_t)y * w + x];
            cur[x + 1] = prev[x + 1] + row;
        }
    }
    return CN_OK;
}

uint32_t cn_img_integral_sum(const uint32_t *ii, int w, int h, int x0, int y0, int x1, int y1)
{
    x0 = clampi(x0, 0, w);
    x1 = clampi(x1, 0, w);
    y0 = clampi(y0, 0, h);
    y1 = clampi(y1, 0, h);
    if (x1 <= x0 || y1 <= y0)
        return 0;
    size_t W = (size_t)w + 1;
    return ii[y1 * W + x1] - ii[y0 * W + x1] - ii[y1 * W + x0] + ii[y0 * W + x0];
}

float cn_img_sample(const uint8_t *px, int w, int h, float x, float y)
{
    if (!(x > 0)) x = 0; /* also catches NaN */
    if (!(y > 0)) y = 0;
    if (x > (float)(w - 1)) x = (float)(w - 1);
    if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *r0 = px + (size_t)y0 * w, *r1 = px + (size_t)y1 * w;
    float a = r0[x0] + fx * (float)(r0[x1] - r0[x0]);
    float b = r1[x0] + fx * (float)(r1[x1] - r1[x0]);
    return a + fy * (b - a);
}

int cn_img_fov_box(const uint8_t *px, int w, int h, uint32_t *col_lit, cn_img_box *out)
{
    if (cn_image_check(px, w, h) || !col_lit || !out)
        return CN_EINVAL;
    *out = (cn_img_box){0, 0, w, h};
    memset(col_lit, 0, sizeof(uint32_t) * (size_t)w);
    int y0 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *r = px + (size_t)y * w;
        int lit = 0;
        for (int x = 0; x < w; x++) {
            const int on = r[x] > CN_FOV_GREY;
            lit += on;
            col_lit[x] += (uint32_t)on;
        }
        /* the share as numpy's mean computes it: count / n in double */
        if ((double)lit / (double)w >= CN_FOV_SHARE) {
            if (y0 < 0)
                y0 = y;
            y1 = y + 1;
        }
    }
    int x0 = -1, x1 = -1;
    for (int x = 0; x < w; x++)
        if ((double)col_lit[x] / (double)h >= CN_FOV_SHARE) {
            if (x0 < 0)
                x0 = x;
            x1 = x + 1;
        }
    if (y0 < 0 || x0 < 0 || (y1 - y0) * 4 < h || (x1 - x0) * 4 < w)
        return CN_OK; /* none, or too small to trust: the whole frame */
    *out = (cn_img_box){x0, y0, x1 - x0, y1 - y0};
    return CN_OK;
}

int cn_img_crop(const uint8_t *src, int w, int h, cn_img_box b, uint8_t *dst)
{
    if (cn_image_check(src, w, h) || !dst || b.x0 < 0 || b.y0 < 0 || b.w < 1 || b.h < 1 ||
        b.x0 + b.w > w || b.y0 + b.h > h)
        return CN_EINVAL;
    for (int y = 0; y < b.h; y++)
        memcpy(dst + (size_t)y * b.w, src + (size_t)(b.y0 + y) * w + b.x0, (size_t)b.w);
    return CN_OK;
}
