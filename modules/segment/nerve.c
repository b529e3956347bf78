/*
 * nerve.c - nerve outline from a seed point by dynamic programming in polar
 * coordinates ("polar DP", the classic active-contour-without-iterations).
 *
 * The idea: a peripheral nerve in cross-section is a compact, roughly elliptical
 * blob wider than it is tall, whose border is an intensity step (the bright
 * honeycomb/epineurium against darker surroundings) or a bright rim. From a seed
 * inside it, rays are cast at NA angles; along each ray every candidate radius
 * gets a score (edge step + rim ridge, in units of the image's grey-level spread,
 * minus an elliptical size prior), and a Viterbi pass picks one radius per angle
 * maximising the total score under a smoothness limit, around two turns so the
 * contour closes. Cost is NA x NR samples plus an NA x NR x 5 DP: far below a
 * millisecond, independent of image size (the image is smoothed once, at half
 * resolution for large frames).
 *
 * The weights, the size prior (in pixels of the images it runs on) and the
 * aspect are parameters: the evaluation command picks them on training folds
 * of the real data set and measures on held-out folds (docs/validation.md).
 */
#include "segment/segment.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve_internal.h"

void cn_nerve_params_default(cn_nerve_params *p)
{
    /* The grid search's choice on 3 of the 5 training folds of nerve-us
     * (`cryonav eval nerve ... --seeded --kfold 5 --method dp`, see
     * docs/validation.md); the size prior is in those images' pixels and is
     * replaced by callers that know a pixel spacing (cn_segment: mm). */
    p->r0_px = 52.0;
    p->aspect = 1.8;
    p->w_edge = 1.0;
    p->w_ridge = 0.5;
    p->w_prior = 3.0;
    p->w_step = 0.1;
    p->w_region = 0.0;
    p->seed_search = 0.0;
    p->w_dist = 1.0;
    p->r_min_frac = 0.3;
    p->r_max_frac = 2.2;
    p->min_confidence = 0.15;
}

double cn_nerve_prior_radius_px(int w, int h, const double *spacing_mm, double radius_mm)
{
    const double side = w < h ? w : h;
    double r;
    if (spacing_mm && spacing_mm[0] > 0 && spacing_mm[1] > 0 && isfinite(spacing_mm[0]) &&
        isfinite(spacing_mm[1]) && radius_mm > 0 && isfinite(radius_mm))
        r = radius_mm / (0.5 * (spacing_mm[0] + spacing_mm[1]));
    else
        r = CN_NERVE_R0_FRAC * h; /* no pixel size: nerves are framed at a similar share of the depth */
    const double hi = CN_NERVE_R0_MAX_FRAC * side;
    if (r > hi)
        r = hi;
    if (r < CN_NERVE_R0_MIN_PX)
        r = CN_NERVE_R0_MIN_PX;
    return r;
}

cn_nerve_seg *cn_nerve_seg_new(int max_w, int max_h)
{
    if (max_w < 8 || max_h < 8 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_nerve_seg *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->max_w = max_w;
    s->max_h = max_h;
    size_t n = (size_t)max_w * max_h;
    s->half = malloc(n / 4 + 1);
    s->smooth = malloc(n);
    s->colsum = malloc(sizeof(uint32_t) * (size_t)max_w);
    s->ii = malloc(sizeof(uint32_t) * (size_t)(max_w + 1) * (size_t)(max_h + 1));
    if (!s->half || !s->smooth || !s->colsum || !s->ii) {
        cn_nerve_seg_free(s);
        return NULL;
    }
    return s;
}

void cn_nerve_seg_free(cn_nerve_seg *s)
{
    if (!s)
        return;
    free(s->half);
    free(s->smooth);
    free(s->colsum);
    free(s->ii);
    free(s);
}

int cn_nerve_seg_prepare(cn_nerve_seg *s, const uint8_t *px, int w, int h)
{
    if (!s || cn_image_check(px, w, h))
        return CN_EINVAL;
    if (w > s->max_w || h > s->max_h)
        return CN_ERANGE;
    const uint8_t *src = px;
    int ww = w, wh = h, scale = 1;
    if (w > 400 && h > 64) { /* half resolution keeps the cost flat for big frames */
        cn_img_downsample2(px, w, h, s->half);
        src = s->half;
        ww = w / 2;
        wh = h / 2;
        scale = 2;
    }
    int rc = cn_img_box_mean(src, s->smooth, ww, wh, NERVE_SMOOTH_R, s->colsum);
    if (rc)
        return rc;
    cn_img_stats st;
    cn_img_stats_compute(s->smooth, ww, wh, &st);
    s->work = s->smooth;
    s->ww = ww;
    s->wh = wh;
    s->scale = scale;
    s->std = (float)(st.stddev > 4.0 ? st.stddev : 4.0);
    s->mean = (float)st.mean;
    return CN_OK;
}

/* Prior radius of an ellipse (semi-axes a along x, b along y) at angle th. */
static double ellipse_r(double a, double b, double th)
{
    double c = cos(th), sn = sin(th);
    return a * b / sqrt(b * b * c * c + a * a * sn * sn);
}

/* One polar DP from (cx, cy) in working pixels: radii (working pixels) per angle,
 * the mean node score of the path and the mean |edge| (std units) on it. */
static int polar_dp(cn_nerve_seg *s, float cx, float cy, const cn_nerve_params *p, double *rad,
                    float *mean_score, float *mean_edge)
{
    const double r0 = p->r0_px / s->scale, sa = sqrt(p->aspect);
    const double ea = r0 * sa, eb = r0 / sa;
    const double rmin = r0 * p->r_min_frac, rmax = r0 * p->r_max_frac * sa;
    const double dr = (rmax - rmin) / (NR - 1);
    const float inv_std = 1.0f / s->std;
    const int mo = NR / 6 > 2 ? NR / 6 : 2; /* outside band for the region term */
    for (int a = 0; a < NA; a++) {
        double th = 2.0 * M_PI * a / NA;
        float ux = (float)cos(th), uy = (float)sin(th);
        float *pr = s->prof[a];
        for (int k = 0; k < NR; k++) {
            float r = (float)(rmin + dr * k);
            pr[k] = cn_img_sample(s->work, s->ww, s->wh, cx + ux * r, cy + uy * r);
        }
        double rp = ellipse_r(ea, eb, th);
        float cum[NR + 1];
        cum[0] = 0;
        for (int k = 0; k < NR; k++)
            cum[k + 1] = cum[k] + pr[k];
        for (int k = 0; k < NR; k++) {
            int k1 = k - 1 < 0 ? 0 : k - 1, k2 = k - 2 < 0 ? 0 : k - 2;
            int k3 = k + 1 >= NR ? NR - 1 : k + 1, k4 = k + 2 >= NR ? NR - 1 : k + 2;
            int km = k - 3 < 0 ? 0 : k - 3, kp = k + 3 >= NR ? NR - 1 : k + 3;
            float step = 0.5f * (pr[k1] + pr[k2] - pr[k3] - pr[k4]);
            float ridge = pr[k] - 0.5f * (pr[km] + pr[kp]);
            int ke = k + 1 + mo < NR ? k + 1 + mo : NR;
            float in = cum[k + 1] / (float)(k + 1);
            float out = ke > k + 1 ? (cum[ke] - cum[k + 1]) / (float)(ke - k - 1) : pr[NR - 1];
            double rr = (rmin + dr * k - rp) / rp;
            s->score[a][k] = (float)((p->w_edge * step + p->w_ridge * ridge +
                                      p->w_region * (in - out)) * inv_std -
                                     p->w_prior * rr * rr);
        }
    }
    /* Viterbi over two turns; the second turn's path is (nearly) closed. */
    const float wstep = (float)p->w_step;
    for (int k = 0; k < NR; k++)
        s->acc[0][k] = s->score[0][k];
    for (int t = 1; t < 2 * NA; t++) {
        int a = t % NA;
        for (int k = 0; k < NR; k++) {
            float best = -INFINITY;
            int bj = 0;
            for (int d = -DSTEP; d <= DSTEP; d++) {
                int j = k + d;
                if (j < 0 || j >= NR)
                    continue;
                float v = s->acc[t - 1][j] - wstep * (float)(d < 0 ? -d : d);
                if (v > best) {
                    best = v;
                    bj = d;
                }
            }
            s->acc[t][k] = best + s->score[a][k];
            s->from[t][k] = (int8_t)bj;
        }
    }
    int k = 0;
    for (int j = 1; j < NR; j++)
        if (s->acc[2 * NA - 1][j] > s->acc[2 * NA - 1][k])
            k = j;
    int path[NA];
    float edge_sum = 0, score_sum = 0;
    for (int t = 2 * NA - 1; t >= NA; t--) {
        path[t - NA] = k;
        k += s->from[t][k];
    }
    for (int a = 0; a < NA; a++) {
        int kk = path[a];
        int k1 = kk - 1 < 0 ? 0 : kk - 1, k3 = kk + 1 >= NR ? NR - 1 : kk + 1;
        edge_sum += fabsf(s->prof[a][k1] - s->prof[a][k3]) * inv_std;
        score_sum += s->score[a][kk];
        rad[a] = rmin + dr * kk;
    }
    *mean_score = score_sum / NA;
    *mean_edge = edge_sum / NA;
    return CN_OK;
}

int cn_nerve_seg_run(cn_nerve_seg *s, double seed_x, double seed_y, const cn_nerve_params *p,
                     cn_pt2 *pts_px, int *n_out, float *confidence)
{
    if (!s || !s->work || !p || !pts_px || !n_out || !confidence)
        return CN_EINVAL;
    *n_out = 0;
    *confidence = 0;
    if (!isfinite(seed_x) || !isfinite(seed_y) || !(p->r0_px > 1) || !(p->aspect > 0.1) ||
        !(p->r_max_frac > p->r_min_frac) || !(p->r_min_frac > 0) || !(p->seed_search >= 0))
        return CN_EINVAL;
    const float sc = (float)s->scale;
    const float cx0 = (float)seed_x / sc, cy0 = (float)seed_y / sc;
    if (cx0 < 0 || cy0 < 0 || cx0 > (float)(s->ww - 1) || cy0 > (float)(s->wh - 1))
        return CN_ERANGE;
    /* The operator's point need not be the nerve's centre (a click near it, or
     * the centroid of a nerve in two parts): try seeds on a small ellipse-shaped
     * grid around it and keep the best-scoring outline, penalised by distance. */
    const double r0 = p->r0_px / s->scale, sa = sqrt(p->aspect);
    const int ng = p->seed_search > 0 ? 2 : 0;
    double rad[NA], best_rad[NA];
    float best = -INFINITY, best_edge = 0, bcx = cx0, bcy = cy0;
    for (int gy = -ng; gy <= ng; gy++)
        for (int gx = -ng; gx <= ng; gx++) {
            double ox = ng ? gx * p->seed_search * r0 * sa / ng : 0;
            double oy = ng ? gy * p->seed_search * r0 / sa / ng : 0;
            float cx = cx0 + (float)ox, cy = cy0 + (float)oy;
            if (cx < 0 || cy < 0 || cx > (float)(s->ww - 1) || cy > (float)(s->wh - 1))
                continue;
            float ms, me;
            polar_dp(s, cx, cy, p, rad, &ms, &me);
            double d2 = (ox * ox + oy * oy) / (r0 * r0);
            float v = ms - (float)(p->w_dist * d2);
            if (v > best) {
                best = v;
                best_edge = me;
                bcx = cx;
                bcy = cy;
                memcpy(best_rad, rad, sizeof rad);
            }
        }
    /* light circular smoothing of the radii (1-2-1) */
    float maxx = (float)(s->ww * s->scale - 1), maxy = (float)(s->wh * s->scale - 1);
    for (int a = 0; a < NA; a++) {
        double r = 0.25 * best_rad[(a + NA - 1) % NA] + 0.5 * best_rad[a] +
                   0.25 * best_rad[(a + 1) % NA];
        double th = 2.0 * M_PI * a / NA;
        float x = (bcx + (float)(cos(th) * r)) * sc, y = (bcy + (float)(sin(th) * r)) * sc;
        pts_px[a].x = x < 0 ? 0 : (x > maxx ? maxx : x);
        pts_px[a].y = y < 0 ? 0 : (y > maxy ? maxy : y);
    }
    *n_out = NA;
    /* Confidence: how clearly the chosen border is an edge (mean |step| in units
     * of the image's spread), squashed to 0..1. A blank or uniform image gives 0. */
    *confidence = best_edge / (best_edge + 0.5f);
    return CN_OK;
}

/* Automatic seed: the nerve is, in these images, a compact region brighter than
 * its surroundings (199 of 204 masks in nerve-us), so candidates on a coarse
 * grid are scored by the mean of an ellipse-shaped inner box minus the mean of
 * the ring around it (integral image, O(1) per candidate), and the near field
 * (skin, fat) and the image borders are excluded. */
static int find_auto_seed(cn_nerve_seg *s, const cn_nerve_params *p, double *seed_x,
                          double *seed_y)
{
    if (!s || !s->work || !p || !seed_x || !seed_y || !(p->r0_px > 1) || !(p->aspect > 0.1))
        return CN_EINVAL;
    int ww = s->ww, wh = s->wh;
    int rc = cn_img_integral(s->work, ww, wh, s->ii);
    if (rc)
        return rc;
    const double sa = sqrt(p->aspect), r0 = p->r0_px / s->scale;
    int ax = (int)(r0 * sa * 0.8), ay = (int)(r0 / sa * 0.8);
    if (ax < 2) ax = 2;
    if (ay < 2) ay = 2;
    int bx = ax * 2, by = ay * 2;
    int step = ay / 2 > 2 ? ay / 2 : 2;
    double best = -INFINITY;
    int bxx = ww / 2, byy = wh / 2;
    for (int y = (int)(0.12 * wh) + ay; y < (int)(0.85 * wh) - ay; y += step)
        for (int x = (int)(0.08 * ww) + ax; x < (int)(0.92 * ww) - ax; x += step) {
            double in = cn_img_integral_sum(s->ii, ww, wh, x - ax, y - ay, x + ax + 1, y + ay + 1);
            double out = cn_img_integral_sum(s->ii, ww, wh, x - bx, y - by, x + bx + 1, y + by + 1);
            double ain = (2.0 * ax + 1) * (2.0 * ay + 1), aout = (2.0 * bx + 1) * (2.0 * by + 1);
            double mi = in / ain, mo = (out - in) / (aout - ain);
            double sc = (mi - mo) / s->std;
            if (sc > best) {
                best = sc;
                bxx = x;
                byy = y;
            }
        }
    *seed_x = (double)bxx * s->scale;
    *seed_y = (double)byy * s->scale;
    return CN_OK;
}

int cn_nerve_seg_auto(cn_nerve_seg *s, const cn_nerve_params *p, cn_pt2 *pts_px, int *n,
                      float *confidence, double *seed_x, double *seed_y)
{
    int rc = find_auto_seed(s, p, seed_x, seed_y);
    if (rc)
        return rc;
    return cn_nerve_seg_run(s, *seed_x, *seed_y, p, pts_px, n, confidence);
}
