/*
 * measure.c - distance transform, polygon fill and mask metrics (Dice, HD95).
 * These serve evaluation against expert masks and simulator truth; the distance
 * transform is the exact separable one of Felzenszwalb & Huttenlocher so HD95 is
 * exact, not a chamfer approximation.
 */
#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 1-D squared distance transform of f (n samples) into d; v, z scratch. Pixels
 * with no feature carry DT_BIG (the paper's own convention), mapped to +inf at
 * the end. */
#define DT_BIG 1e20f
static void dt1d(const float *f, int n, float *d, int *v, float *z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -INFINITY;
    z[1] = INFINITY;
    for (int q = 1; q < n; q++) {
        float s = ((f[q] + (float)q * q) - (f[v[k]] + (float)v[k] * v[k])) / (2.0f * (float)(q - v[k]));
        while (s <= z[k]) {
            k--;
            s = ((f[q] + (float)q * q) - (f[v[k]] + (float)v[k] * v[k])) / (2.0f * (float)(q - v[k]));
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INFINITY;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < (float)q)
            k++;
        float dq = (float)(q - v[k]);
        d[q] = dq * dq + f[v[k]];
    }
}

int cn_img_distance_sq(const uint8_t *mask, int w, int h, float *dist)
{
    if (cn_image_check(mask, w, h) || !dist)
        return CN_EINVAL;
    int n = w > h ? w : h;
    float *f = calloc((size_t)n, sizeof(float)), *d = calloc((size_t)n, sizeof(float));
    float *z = malloc(sizeof(float) * (size_t)(n + 1));
    int *v = malloc(sizeof(int) * (size_t)n);
    if (!f || !d || !z || !v) {
        free(f), free(d), free(z), free(v);
        return CN_ENOMEM;
    }
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++)
            f[y] = mask[(size_t)y * w + x] ? 0.0f : DT_BIG;
        dt1d(f, h, d, v, z);
        for (int y = 0; y < h; y++)
            dist[(size_t)y * w + x] = d[y];
    }
    for (int y = 0; y < h; y++) {
        memcpy(f, dist + (size_t)y * w, sizeof(float) * (size_t)w);
        dt1d(f, w, d, v, z);
        for (int x = 0; x < w; x++)
            dist[(size_t)y * w + x] = d[x] >= 1e19f ? INFINITY : d[x];
    }
    free(f), free(d), free(z), free(v);
    return CN_OK;
}

int cn_img_fill_polygon(uint8_t *mask, int w, int h, const cn_pt2 *pts, int n, uint8_t value)
{
    if (cn_image_check(mask, w, h) || !pts || n < 3)
        return CN_EINVAL;
    for (int i = 0; i < n; i++)
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y))
            return CN_EINVAL;
    float xs[64 + CN_CONTOUR_MAX];
    int cap = (int)(sizeof xs / sizeof xs[0]);
    for (int y = 0; y < h; y++) {
        float yc = (float)y;
        int m = 0;
        for (int i = 0, j = n - 1; i < n && m < cap; j = i++) {
            float yi = pts[i].y, yj = pts[j].y;
            if ((yi > yc) != (yj > yc))
                xs[m++] = pts[i].x + (yc - yi) / (yj - yi) * (pts[j].x - pts[i].x);
        }
        /* insertion sort: m is small */
        for (int a = 1; a < m; a++) {
            float t = xs[a];
            int b = a - 1;
            while (b >= 0 && xs[b] > t) {
                xs[b + 1] = xs[b];
                b--;
            }
            xs[b + 1] = t;
        }
        for (int a = 0; a + 1 < m; a += 2) {
            int x0 = (int)ceilf(xs[a]), x1 = (int)floorf(xs[a + 1]);
            if (x0 < 0) x0 = 0;
            if (x1 > w - 1) x1 = w - 1;
            for (int x = x0; x <= x1; x++)
                mask[(size_t)y * w + x] = value;
        }
    }
    return CN_OK;
}

double cn_mask_dice(const uint8_t *a, const uint8_t *b, int w, int h)
{
    if (cn_image_check(a, w, h) || !b)
        return NAN;
    size_t n = (size_t)w * h, na = 0, nb = 0, ni = 0;
    for (size_t i = 0; i < n; i++) {
        int pa = a[i] != 0, pb = b[i] != 0;
        na += (size_t)pa;
        nb += (size_t)pb;
        ni += (size_t)(pa & pb);
    }
    if (na + nb == 0)
        return 1.0;
    return 2.0 * (double)ni / (double)(na + nb);
}

/* Border pixels: set pixels with at least one 4-neighbour unset or on the edge. */
static void border_of(const uint8_t *m, int w, int h, uint8_t *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            out[i] = 0;
            if (!m[i])
                continue;
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1 || !m[i - 1] || !m[i + 1] ||
                !m[i - w] || !m[i + w])
                out[i] = 1;
        }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double cn_mask_hd95(const uint8_t *a, const uint8_t *b, int w, int h)
{
    if (cn_image_check(a, w, h) || !b)
        return NAN;
    size_t n = (size_t)w * h;
    uint8_t *ba = malloc(n), *bb = malloc(n);
    float *da = malloc(sizeof(float) * n), *db = malloc(sizeof(float) * n);
    float *all = NULL;
    double res = NAN;
    if (!ba || !bb || !da || !db)
        goto done;
    border_of(a, w, h, ba);
    border_of(b, w, h, bb);
    size_t ca = 0, cb = 0;
    for (size_t i = 0; i < n; i++) {
        ca += ba[i];
        cb += bb[i];
    }
    if (!ca || !cb)
        goto done;
    if (cn_img_distance_sq(ba, w, h, da) || cn_img_distance_sq(bb, w, h, db))
        goto done;
    all = malloc(sizeof(float) * (ca + cb));
    if (!all)
        goto done;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ba[i])
            all[k++] = sqrtf(db[i]);
        if (bb[i])
            all[k++] = sqrtf(da[i]);
    }
    qsort(all, k, sizeof(float), cmp_float);
    /* numpy's default linear-interpolated percentile */
    double pos = 0.95 * (double)(k - 1);
    size_t lo = (size_t)pos;
    double fr = pos - (double)lo;
    res = all[lo] + (lo + 1 < k ? fr * (all[lo + 1] - all[lo]) : 0.0);
done:
    free(ba), free(bb), free(da), free(db), free(all);
    return res;
}

int cn_mask_centroid(const uint8_t *m, int w, int h, double *cx, double *cy, long *area)
{
    if (cn_image_check(m, w, h))
        return CN_EINVAL;
    double sx = 0, sy = 0;
    long c = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[(size_t)y * w + x]) {
                sx += x;
                sy += y;
                c++;
            }
    if (area)
        *area = c;
    if (!c)
        return CN_ENOENT;
    if (cx)
        *cx = sx / (double)c;
    if (cy)
        *cy = sy / (double)c;
    return CN_OK;
}

/* Connected parts by a flood fill with an explicit stack (4 bytes a pixel, freed
 * before returning). Written here rather than taken from ITK's
 * ConnectedComponentImageFilter because this module is plain C and only
 * evaluation calls it (once per mask, ~1 ms for a 534 x 512 mask). */
int cn_mask_parts(const uint8_t *m, int w, int h, int32_t *labels, cn_mask_part *parts,
                  int max_parts, int *n_parts)
{
    if (!n_parts || max_parts < 0 || (max_parts > 0 && !parts) || cn_image_check(m, w, h))
        return CN_EINVAL;
    *n_parts = 0;
    const size_t n = (size_t)w * h;
    int32_t *lab = labels ? labels : malloc(n * sizeof *lab);
    int32_t *stack = malloc(n * sizeof *stack);
    if (!lab || !stack) {
        if (!labels)
            free(lab);
        free(stack);
        return CN_ENOMEM;
    }
    memset(lab, 0, n * sizeof *lab);
    int count = 0;
    for (size_t start = 0; start < n; start++) {
        if (!m[start] || lab[start])
            continue;
        const int32_t id = ++count;
        double sx = 0, sy = 0;
        long area = 0;
        size_t top = 0;
        stack[top++] = (int32_t)start;
        lab[start] = id;
        while (top) {
            const int32_t i = stack[--top];
            const int x = i % w, y = i / w;
            sx += x;
            sy += y;
            area++;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                        continue;
                    const size_t j = (size_t)yy * w + xx;
                    if (m[j] && !lab[j]) {
                        lab[j] = id;
                        stack[top++] = (int32_t)j;
                    }
                }
        }
        if (count <= max_parts)
            parts[count - 1] =
                (cn_mask_part){.label = id, .area = area, .cx = sx / area, .cy = sy / area};
    }
    /* each part's pixel nearest its centroid */
    const int kept = count < max_parts ? count : max_parts;
    double *best = kept ? malloc((size_t)kept * sizeof *best) : NULL;
    if (kept && !best) {
        if (!labels)
            free(lab);
        free(stack);
        return CN_ENOMEM;
    }
    for (int k = 0; k < kept; k++)
        best[k] = INFINITY;
    for (size_t i = 0; i < n; i++) {
        const int k = lab[i] - 1;
        if (k < 0 || k >= kept)
            continue;
        const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        const double d = (x - parts[k].cx) * (x - parts[k].cx) + (y - parts[k].cy) * (y - parts[k].cy);
        if (d < best[k]) {
            best[k] = d;
            parts[k].seed_x = x;
            parts[k].seed_y = y;
        }
    }
    free(best);
    free(stack);
    if (!labels)
        free(lab);
    *n_parts = kept;
    return count > max_parts ? CN_ERANGE : CN_OK;
}

int cn_mask_parts_to_click(cn_mask_part *parts, int n, long total_area)
{
    if (!parts || n <= 0)
        return 0;
    int largest = 0;
    for (int k = 1; k < n; k++)
        if (parts[k].area > parts[largest].area)
            largest = k;
    int kept = 0;
    for (int k = 0; k < n; k++) {
        if (k != largest && (parts[k].area < CN_MASK_CLICK_MIN_PX ||
                             (double)parts[k].area < CN_MASK_CLICK_MIN_SHARE * (double)total_area))
            continue;
        parts[kept++] = parts[k];
    }
    return kept;
}
