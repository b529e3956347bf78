/*
 * needle_enhance.c - the needle detector's per-frame image work: a working image
 * of ~360 px width, the scanner's field of view, and a Hessian ridge map.
 *
 * The idea: a needle shaft is a bright *thin straight line*. The Hessian of the
 * Gaussian-smoothed image says, per pixel, how line-like the neighbourhood is and
 * in which direction (Frangi's vesselness without the scale search): across a
 * bright line the second derivative is strongly negative (l2 << 0), along it
 * near zero (l1 ~ 0). Speckle blobs have l1 ~ l2 and score ~0 with
 * max(0, -l2 - |l1|). One scale suffices because every frame is first brought to
 * the same working width, and the specular echo of a needle is as thick as the
 * axial pulse (~0.3-0.6 mm: 2-4 working px on every scanner seen so far).
 *
 * The field of view (FOV): real frames carry black margins (screen captures of a
 * scanner), curvilinear probes show a fan. Per row, the outermost non-dark
 * pixels are taken and their convex hull is the FOV (a rectangle or a fan is
 * convex; black water or shadows inside do not cut it). Its border is a sharp
 * bright/black step: the Hessian is zeroed within a margin of it so a fan edge
 * (straight, 50-70 deg to the face, as bright as tissue) is never a line
 * candidate, and the detector can ask whether a line ends *inside* the view.
 *
 * Written by hand rather than with ITK's HessianRecursiveGaussianImageFilter:
 * generic ITK filters cost 10-20 ms on a 640x480 frame on this machine
 * (GradientMagnitudeRecursiveGaussian alone 19 ms on one core, shared/docs/toolchain.md);
 * this whole file costs ~0.5 ms per frame (`cryonav bench analysis`).
 */
#include "needle_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FOV_GREY 6      /* a working pixel brighter than this is inside the image */

int nd_work_init(nd_work *w, int max_full_w, int max_full_h)
{
    memset(w, 0, sizeof *w);
    /* the smallest factor (1) gives the largest working image */
    w->max_w = max_full_w;
    w->max_h = max_full_h;
    size_t n = (size_t)max_full_w * max_full_h, n2 = n / 4 + 1;
    w->g = malloc(n);
    w->g2 = malloc(n2);
    w->blur = malloc((n + (size_t)max_full_w + 64) * sizeof(float)); /* + a padded row */
    w->tmp = malloc(n * sizeof(float));
    bool ok = w->g && w->g2 && w->blur && w->tmp;
    for (int k = 0; k < ND_NSCALE; k++) {
        nd_scale *sc = &w->sc[k];
        size_t m = k == 0 ? n : n2;
        sc->hxx = malloc(m * sizeof(float));
        sc->hyy = malloc(m * sizeof(float));
        sc->hxy = malloc(m * sizeof(float));
        sc->ridge = malloc(m * sizeof(float));
        ok = ok && sc->hxx && sc->hyy && sc->hxy && sc->ridge;
    }
    w->fl = malloc(sizeof(int16_t) * (size_t)max_full_h);
    w->fr = malloc(sizeof(int16_t) * (size_t)max_full_h);
    if (!ok || !w->fl || !w->fr) {
        nd_work_free(w);
        return -1;
    }
    return 0;
}

void nd_work_free(nd_work *w)
{
    free(w->g);
    free(w->g2);
    free(w->blur);
    free(w->tmp);
    for (int k = 0; k < ND_NSCALE; k++) {
        free(w->sc[k].hxx);
        free(w->sc[k].hyy);
        free(w->sc[k].hxy);
        free(w->sc[k].ridge);
    }
    free(w->fl);
    free(w->fr);
    memset(w, 0, sizeof *w);
}

/* f x f box mean of px (stride fw) into g (w x h); acc: w uint32 of scratch. */
static void downsample(const uint8_t *px, int fw, int f, uint8_t *g, int w, int h, uint32_t *acc)
{
    if (f == 1) {
        for (int y = 0; y < h; y++)
            memcpy(g + (size_t)y * w, px + (size_t)y * fw, (size_t)w);
        return;
    }
    /* mean of f x f by a fixed-point reciprocal (no division per pixel) */
    const int n = f * f;
    const uint32_t inv = (uint32_t)((1u << 16) / (unsigned)n) + 1;
    for (int y = 0; y < h; y++) {
        memset(acc, 0, sizeof(uint32_t) * (size_t)w);
        for (int j = 0; j < f; j++) {
            const uint8_t *r = px + (size_t)(y * f + j) * fw;
            if (f == 2) /* the common case, written so that it vectorises */
                for (int x = 0; x < w; x++)
                    acc[x] += (uint32_t)r[2 * x] + r[2 * x + 1];
            else
                for (int x = 0; x < w; x++)
                    for (int i = 0; i < f; i++)
                        acc[x] += r[x * f + i];
        }
        uint8_t *o = g + (size_t)y * w;
        for (int x = 0; x < w; x++)
            o[x] = (uint8_t)(((acc[x] + (uint32_t)n / 2) * inv) >> 16);
    }
}

/* Lower (sign +1) or upper (sign -1) convex hull of (y_i, v_i), y increasing, as a
 * function of y, evaluated at every row in [y0, y1] into out. */
static void hull_rows(const int *ys, const int *vs, int n, int sign, int y0, int y1, int16_t *out,
                      int *hy, int *hv)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        while (m >= 2) {
            long cr = (long)(hy[m - 1] - hy[m - 2]) * (vs[i] - hv[m - 2]) -
                      (long)(hv[m - 1] - hv[m - 2]) * (ys[i] - hy[m - 2]);
            if (sign * cr > 0)
                break;
            m--;
        }
        hy[m] = ys[i];
        hv[m] = vs[i];
        m++;
    }
    int k = 0;
    for (int y = y0; y <= y1; y++) {
        while (k + 1 < m && hy[k + 1] < y)
            k++;
        double v;
        if (k + 1 < m && hy[k + 1] != hy[k]) {
            double a = (double)(y - hy[k]) / (hy[k + 1] - hy[k]);
            if (a < 0)
                a = 0;
            v = hv[k] + a * (hv[k + 1] - hv[k]);
        } else {
            v = hv[k];
        }
        out[y] = (int16_t)lrint(v);
    }
}

/* Field of view: per row the outermost runs of two non-dark pixels, then the
 * convex hull of those points. */
static bool field_of_view(nd_work *w)
{
    const int W = w->w, H = w->h;
    /* scratch: ints in the blur buffer (not in use yet) */
    int *ys = (int *)(void *)w->blur, *ls = ys + H, *rs = ls + H, *hy = rs + H, *hv = hy + H;
    int n = 0;
    for (int y = 0; y < H; y++) {
        const uint8_t *r = w->g + (size_t)y * W;
        int l = -1, rr = -1;
        for (int x = 0; x + 1 < W; x++)
            if (r[x] > FOV_GREY && r[x + 1] > FOV_GREY) {
                l = x;
                break;
            }
        for (int x = W - 1; x > 0; x--)
            if (r[x] > FOV_GREY && r[x - 1] > FOV_GREY) {
                rr = x;
                break;
            }
        if (l < 0 || rr - l < 4)
            continue;
        ys[n] = y;
        ls[n] = l;
        rs[n] = rr;
        n++;
    }
    for (int y = 0; y < H; y++) {
        w->fl[y] = 1;
        w->fr[y] = 0;
    }
    if (n < 4) {
        w->top = 1;
        w->bottom = 0;
        return false;
    }
    w->top = ys[0];
    w->bottom = ys[n - 1];
    hull_rows(ys, ls, n, +1, w->top, w->bottom, w->fl, hy, hv);
    hull_rows(ys, rs, n, -1, w->top, w->bottom, w->fr, hy, hv);
    return w->bottom - w->top >= 8;
}

float nd_fov_inset(const nd_work *w, float x, float y)
{
    int r = (int)lrintf(y);
    float d = fminf(y - (float)w->top, (float)w->bottom - y);
    if (r < w->top || r > w->bottom)
        return d;
    d = fminf(d, x - (float)w->fl[r]);
    return fminf(d, (float)w->fr[r] - x);
}

/* Separable Gaussian of an 8-bit image into w->blur (w->tmp as scratch). Both
 * passes accumulate one tap over a whole (edge-padded) row at a time, so the
 * compiler vectorises them. */
__attribute__((target_clones("avx2", "default"))) static void
gauss_blur(nd_work *w, const uint8_t *g, int W, int H, float sigma)
{
    float k[32];
    int R = (int)ceilf(3 * sigma);
    if (R > 15)
        R = 15;
    float s = 0;
    for (int i = -R; i <= R; i++)
        s += k[i + R] = expf(-(float)(i * i) / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * R; i++)
        k[i] /= s;
    /* the padded row lives after the first H rows of blur (it is written last) */
    float *row = w->blur + (size_t)W * H;
    for (int y = 0; y < H; y++) {
        const uint8_t *r = g + (size_t)y * W;
        for (int x = 0; x < W; x++)
            row[R + x] = r[x];
        for (int i = 0; i < R; i++) {
            row[i] = r[0];
            row[R + W + i] = r[W - 1];
        }
        float *o = w->tmp + (size_t)y * W;
        memset(o, 0, sizeof(float) * (size_t)W);
        for (int i = 0; i <= 2 * R; i++) {
            const float kk = k[i], *src = row + i;
            for (int x = 0; x < W; x++)
                o[x] += kk * src[x];
        }
    }
    for (int y = 0; y < H; y++) {
        float *o = w->blur + (size_t)y * W;
        memset(o, 0, sizeof(float) * (size_t)W);
        for (int i = -R; i <= R; i++) {
            int yy = y + i < 0 ? 0 : y + i >= H ? H - 1 : y + i;
            const float *r = w->tmp + (size_t)yy * W, kk = k[i + R];
            for (int x = 0; x < W; x++)
                o[x] += kk * r[x];
        }
    }
}

/* Grid px next to the FOV border where a scale of this sigma computes nothing: its
 * Gaussian would reach over the border's bright/black step. */
static int margin_px(float sigma) { return (int)ceilf(2.5f * sigma) + 1; }

float nd_ridge_margin(const nd_work *w, int k)
{
    const nd_scale *sc = &w->sc[k];
    return (float)(margin_px(sc->sigma) * sc->step) + 1.0f;
}

/* The k-th smallest of v[0..n) (v is reordered): Hoare's selection. */
static float select_k(float *v, long n, long k)
{
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* One row of the Hessian (central differences of the blurred image b, row stride W)
 * and the ridge strength -l2 - |l1| (>= 0), for x0 <= x <= x1. */
__attribute__((target_clones("avx2", "default"))) static void
hessian_row(const float *b0, int W, int x0, int x1, float s2, float *restrict xx,
            float *restrict yy, float *restrict xy, float *restrict rr)
{
    for (int x = x0; x <= x1; x++) {
        const float *b = b0 + x;
        float dxx = (b[1] + b[-1] - 2 * b[0]) * s2;
        float dyy = (b[W] + b[-W] - 2 * b[0]) * s2;
        float dxy = 0.25f * (b[W + 1] - b[W - 1] - b[-W + 1] + b[-W - 1]) * s2;
        xx[x] = dxx;
        yy[x] = dyy;
        xy[x] = dxy;
        float tr = 0.5f * (dxx + dyy), df = 0.5f * (dxx - dyy);
        float rad = sqrtf(df * df + dxy * dxy);
        float v = -(tr - rad) - fabsf(tr + rad);
        rr[x] = v > 0 ? v : 0;
    }
}

/* Hessian and ridge map of one scale, zero within a margin of the FOV border;
 * its threshold: the 97th percentile of the ridge inside the view. */
static bool hessian(nd_work *w, nd_scale *sc, const uint8_t *g)
{
    const int W = sc->w, H = sc->h, st = sc->step;
    gauss_blur(w, g, W, H, sc->sigma);
    const float s2 = sc->sigma * sc->sigma;
    /* margin in grid px; the FOV is in working px */
    const int mb = margin_px(sc->sigma);
    for (int y = 0; y < H; y++) {
        float *xx = sc->hxx + (size_t)y * W, *yy = sc->hyy + (size_t)y * W;
        float *xy = sc->hxy + (size_t)y * W, *rr = sc->ridge + (size_t)y * W;
        int wy = y * st + st / 2; /* working row of this grid row */
        bool row_in = wy >= w->top + mb * st && wy <= w->bottom - mb * st && y >= 1 && y + 1 < H;
        int x0 = W, x1 = -1;
        if (row_in) {
            x0 = (w->fl[wy] + st - 1) / st + mb;
            x1 = w->fr[wy] / st - mb;
        }
        if (x0 < 1)
            x0 = 1;
        if (x1 > W - 2)
            x1 = W - 2;
        memset(xx, 0, sizeof(float) * (size_t)W);
        memset(yy, 0, sizeof(float) * (size_t)W);
        memset(xy, 0, sizeof(float) * (size_t)W);
        memset(rr, 0, sizeof(float) * (size_t)W);
        if (x1 >= x0)
            hessian_row(w->blur + (size_t)y * W, W, x0, x1, s2, xx, yy, xy, rr);
    }
    /* the threshold: the 90th percentile of the ridge inside the view, by
     * selection on every fourth pixel (w->tmp is free once the blur is done) */
    float *v = w->tmp;
    long nin = 0;
    for (int y = 0; y < H; y += 1) {
        int wy = y * st + st / 2;
        if (wy < w->top || wy > w->bottom)
            continue;
        const float *rr = sc->ridge + (size_t)y * W;
        int x0 = (w->fl[wy] + st - 1) / st + mb, x1 = w->fr[wy] / st - mb;
        for (int x = (x0 < 0 ? 0 : x0) + (y & 3); x <= x1 && x < W; x += 4)
            v[nin++] = rr[x];
    }
    if (nin < 16)
        return false;
    /* a floor: in a flat (blank, saturated) view every ridge is noise */
    sc->thr = fmaxf(select_k(v, nin, nin * 9 / 10), 0.5f);
    sc->inv_thr = 1.0f / sc->thr;
    return true;
}

bool nd_enhance(nd_work *w, const uint8_t *px, int fw, int fh)
{
    int f = (fw + ND_WORK_WIDTH / 2) / ND_WORK_WIDTH;
    if (f < 1)
        f = 1;
    w->f = f;
    w->w = fw / f;
    w->h = fh / f;
    const int W = w->w, H = w->h;
    if (W < 16 || H < 16)
        return false;
    downsample(px, fw, f, w->g, W, H, (uint32_t *)(void *)w->tmp);
    if (!field_of_view(w))
        return false;
    /* grey level statistics inside the view */
    double sum = 0, sum2 = 0;
    long cnt = 0;
    for (int y = w->top; y <= w->bottom; y++) {
        const uint8_t *g = w->g + (size_t)y * W;
        for (int x = w->fl[y] < 0 ? 0 : w->fl[y]; x <= w->fr[y] && x < W; x++) {
            sum += g[x];
            sum2 += (double)g[x] * g[x];
            cnt++;
        }
    }
    if (cnt < 64)
        return false;
    double mean = sum / cnt;
    w->grey_mean = (float)mean;
    w->grey_sd = (float)sqrt(fmax(0, sum2 / cnt - mean * mean));
    nd_scale *s0 = &w->sc[0], *s1 = &w->sc[1];
    s0->w = W, s0->h = H, s0->step = 1, s0->shift = 0, s0->sigma = ND_SIGMA;
    s1->w = W / 2, s1->h = H / 2, s1->step = 2, s1->shift = 1, s1->sigma = ND_SIGMA_COARSE;
    downsample(w->g, W, 2, w->g2, s1->w, s1->h, (uint32_t *)(void *)w->tmp);
    if (!hessian(w, s0, w->g))
        return false;
    if (s1->w < 16 || s1->h < 16 || !hessian(w, s1, w->g2))
        s1->thr = s1->inv_thr = 0; /* too small for the coarse scale: the fine one alone */
    return true;
}

static inline float oriented(const nd_scale *sc, int x, int y, float ux, float uy)
{
    if (x < 0 || y < 0 || x >= sc->w || y >= sc->h || !(sc->thr > 0))
        return 0;
    size_t k = (size_t)y * sc->w + x;
    float a = sc->hxx[k], b = sc->hyy[k], c = sc->hxy[k];
    float nx = -uy, ny = ux;
    float nn = a * nx * nx + 2 * c * nx * ny + b * ny * ny;
    float uu = a * ux * ux + 2 * c * ux * uy + b * uy * uy;
    float v = (-nn - fabsf(uu)) / sc->thr;
    return v > 0 ? v : 0;
}

float nd_oriented_ridge_at(const nd_work *w, int k, int x, int y, float ux, float uy)
{
    if (x < 0 || y < 0)
        return 0;
    const nd_scale *sc = &w->sc[k];
    return oriented(sc, x >> sc->shift, y >> sc->shift, ux, uy);
}

float nd_oriented_ridge(const nd_work *w, int x, int y, float ux, float uy)
{
    float a = nd_oriented_ridge_at(w, 0, x, y, ux, uy);
    float b = nd_oriented_ridge_at(w, 1, x, y, ux, uy);
    return a > b ? a : b;
}
