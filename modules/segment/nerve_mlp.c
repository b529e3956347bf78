/*
 * nerve_mlp.c - the learned nerve mode: a 28-24-1 perceptron per pixel, its
 * features, its training (Adam, cross-entropy) and its export as C source.
 *
 * Why a per-pixel perceptron and not a convolutional network: it trains in
 * seconds single-threaded in C (no Python/torch needed at build or train time),
 * its inference over a window around the seed costs well under a millisecond,
 * and the hand-made features already carry the context a small CNN would have
 * to learn from 204 images: multi-scale grey levels, texture, contrast to the
 * seed region, the position relative to the seed in units of the size prior,
 * and the brightest/darkest level on the straight path from the seed (a border
 * crossed on the way says "outside").
 */
#include "nerve_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IN CN_NERVE_MLP_IN
#define HID CN_NERVE_MLP_HID
#define WIN_X 4.0 /* window half-width in units of R */
#define WIN_Y 3.0
#ifndef NEAR_R
#define NEAR_R 1.0 /* regions reaching this close to the seed (units of R) are kept */
#endif

int cn_nerve_prepare_quarter(cn_nerve_seg *s, const uint8_t *src, int ww, int wh)
{
    int rc;
    if (ww > 64 && wh > 64) {
        rc = cn_img_downsample2(src, ww, wh, s->qm[QM_GREY]);
        s->qw = ww / 2;
        s->qh = wh / 2;
        s->qscale = s->scale * 2;
    } else {
        memcpy(s->qm[QM_GREY], src, (size_t)ww * wh);
        s->qw = ww;
        s->qh = wh;
        s->qscale = s->scale;
        rc = CN_OK;
    }
    if (rc)
        return rc;
    static const int radii[4] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++) {
        rc = cn_img_box_mean(s->qm[QM_GREY], s->qm[QM_S1 + i], s->qw, s->qh, radii[i], s->colsum);
        if (rc)
            return rc;
    }
    size_t nq = (size_t)s->qw * s->qh;
    for (size_t i = 0; i < nq; i++) {
        int d = (int)s->qm[QM_GREY][i] - (int)s->qm[QM_S1][i];
        s->qtmp[i] = (uint8_t)(d < 0 ? -d : d);
    }
    rc = cn_img_box_mean(s->qtmp, s->qm[QM_TEX], s->qw, s->qh, 2, s->colsum);
    if (rc)
        return rc;
    for (size_t i = 0; i < nq; i++)
        s->qtmp[i] = (uint8_t)(((unsigned)s->qm[QM_GREY][i] * s->qm[QM_GREY][i]) >> 8);
    if ((rc = cn_img_box_mean(s->qtmp, s->qm[QM_SQ2], s->qw, s->qh, 2, s->colsum)) ||
        (rc = cn_img_box_mean(s->qtmp, s->qm[QM_SQ5], s->qw, s->qh, 5, s->colsum)))
        return rc;
    const uint8_t *g1 = s->qm[QM_S1];
    const int qw = s->qw, qh = s->qh;
    for (int y = 0; y < qh; y++)
        for (int x = 0; x < qw; x++) {
            int xl = x > 0 ? x - 1 : x, xr = x < qw - 1 ? x + 1 : x;
            int yu = y > 0 ? y - 1 : y, yd = y < qh - 1 ? y + 1 : y;
            int gx = (int)g1[y * qw + xr] - (int)g1[y * qw + xl];
            int gy = (int)g1[yd * qw + x] - (int)g1[yu * qw + x];
            int gm = (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy);
            s->qtmp[y * qw + x] = (uint8_t)(gm > 255 ? 255 : gm);
        }
    if ((rc = cn_img_box_mean(s->qtmp, s->qm[QM_G2], s->qw, s->qh, 2, s->colsum)) ||
        (rc = cn_img_box_mean(s->qtmp, s->qm[QM_G5], s->qw, s->qh, 5, s->colsum)))
        return rc;
    return CN_OK;
}

/* Local standard deviation from the box means of grey and grey^2/256. */
static inline float local_std(float mean, float sq)
{
    float v = sq * 256.0f - mean * mean;
    return v > 0 ? sqrtf(v) : 0.0f;
}

static inline float qat(const cn_nerve_seg *s, int map, int x, int y)
{
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x >= s->qw) x = s->qw - 1;
    if (y >= s->qh) y = s->qh - 1;
    return s->qm[map][(size_t)y * s->qw + x];
}

/* Running max/min of S1 along QRAYS rays from the seed (quarter pixels). */
static void cast_rays(cn_nerve_seg *s, float sx, float sy, int rmax)
{
    for (int a = 0; a < QRAYS; a++) {
        double th = 2.0 * M_PI * a / QRAYS;
        float ux = (float)cos(th), uy = (float)sin(th);
        float mx = -INFINITY, mn = INFINITY;
        for (int k = 0; k < rmax; k++) {
            float v = qat(s, QM_S1, (int)lrintf(sx + ux * (float)k), (int)lrintf(sy + uy * (float)k));
            if (v > mx) mx = v;
            if (v < mn) mn = v;
            s->raymax[a][k] = mx;
            s->raymin[a][k] = mn;
        }
    }
}

typedef struct {
    float sx, sy, R, gm, igs, s2seed, s3seed, texseed, std5seed, g5seed;
    int rmax;
} feat_ctx;

static void features(const cn_nerve_seg *s, const feat_ctx *c, int x, int y, float *f)
{
    float s1 = qat(s, QM_S1, x, y), s2 = qat(s, QM_S2, x, y), s3 = qat(s, QM_S3, x, y);
    float s4 = qat(s, QM_S4, x, y), tex = qat(s, QM_TEX, x, y);
    float dx = ((float)x - c->sx) / c->R, dy = ((float)y - c->sy) / c->R;
    float dist = sqrtf(dx * dx + dy * dy);
    int a = (int)lrintf(atan2f(dy, dx) / (float)(2.0 * M_PI) * QRAYS);
    a = ((a % QRAYS) + QRAYS) % QRAYS;
    int k = (int)lrintf(dist * c->R);
    if (k >= c->rmax) k = c->rmax - 1;
    f[0] = (s1 - c->gm) * c->igs;
    f[1] = (s2 - c->gm) * c->igs;
    f[2] = (s3 - c->gm) * c->igs;
    f[3] = (s4 - c->gm) * c->igs;
    f[4] = tex * c->igs;
    f[5] = (s1 - c->s2seed) * c->igs;
    f[6] = (s2 - c->s2seed) * c->igs;
    f[7] = (s3 - c->s3seed) * c->igs;
    f[8] = dx;
    f[9] = dy;
    f[10] = dx * dx;
    f[11] = dy * dy;
    f[12] = dist;
    f[13] = (float)y / (float)s->qh;
    f[14] = (s->raymax[a][k] - c->s2seed) * c->igs;
    f[15] = (s->raymin[a][k] - c->s2seed) * c->igs;
    f[16] = (s3 - s4) * c->igs;
    f[17] = c->texseed * c->igs;
    f[18] = fabsf(s2 - c->s2seed) * c->igs;
    f[19] = (c->s2seed - c->gm) * c->igs;
    float sd2 = local_std(s2, qat(s, QM_SQ2, x, y)), sd5 = local_std(s3, qat(s, QM_SQ5, x, y));
    float g2 = qat(s, QM_G2, x, y), g5 = qat(s, QM_G5, x, y);
    f[20] = sd2 * c->igs;
    f[21] = sd5 * c->igs;
    f[22] = g2 * c->igs;
    f[23] = g5 * c->igs;
    f[24] = (sd5 - c->std5seed) * c->igs;
    f[25] = (g5 - c->g5seed) * c->igs;
    f[26] = (s1 - s3) * c->igs;
    f[27] = (tex - c->texseed) * c->igs;
}

static int make_ctx(cn_nerve_seg *s, double seed_x, double seed_y, const cn_nerve_params *p,
                    feat_ctx *c, int win[4])
{
    if (!s || !s->work || !p || !isfinite(seed_x) || !isfinite(seed_y) || !(p->r0_px > 1))
        return CN_EINVAL;
    if (!s->quarter_ready) {
        int rc = cn_nerve_prepare_quarter(s, s->src, s->ww, s->wh);
        if (rc)
            return rc;
        s->quarter_ready = true;
    }
    float qs = (float)s->qscale;
    c->sx = ((float)seed_x - (qs - 1) * 0.5f) / qs;
    c->sy = ((float)seed_y - (qs - 1) * 0.5f) / qs;
    if (c->sx < -0.5f || c->sy < -0.5f || c->sx > (float)s->qw - 0.5f || c->sy > (float)s->qh - 0.5f)
        return CN_ERANGE;
    c->R = (float)p->r0_px / qs;
    if (c->R < 2) c->R = 2;
    c->gm = s->mean;
    c->igs = 1.0f / s->std;
    int ix = (int)lrintf(c->sx), iy = (int)lrintf(c->sy);
    c->s2seed = qat(s, QM_S2, ix, iy);
    c->s3seed = qat(s, QM_S3, ix, iy);
    c->texseed = qat(s, QM_TEX, ix, iy);
    c->std5seed = local_std(c->s3seed, qat(s, QM_SQ5, ix, iy));
    c->g5seed = qat(s, QM_G5, ix, iy);
    win[0] = (int)floorf(c->sx - (float)WIN_X * c->R);
    win[1] = (int)floorf(c->sy - (float)WIN_Y * c->R);
    win[2] = (int)ceilf(c->sx + (float)WIN_X * c->R);
    win[3] = (int)ceilf(c->sy + (float)WIN_Y * c->R);
    if (win[0] < 0) win[0] = 0;
    if (win[1] < 0) win[1] = 0;
    if (win[2] > s->qw - 1) win[2] = s->qw - 1;
    if (win[3] > s->qh - 1) win[3] = s->qh - 1;
    c->rmax = (int)ceilf(c->R * 5.1f) + 2;
    if (c->rmax > QRMAX) c->rmax = QRMAX;
    cast_rays(s, c->sx, c->sy, c->rmax);
    return CN_OK;
}

static float forward(const cn_nerve_mlp *m, const float *f)
{
    float z[IN];
    for (int i = 0; i < IN; i++)
        z[i] = (f[i] - m->mu[i]) * m->inv_sd[i];
    float o = m->b2;
    for (int j = 0; j < HID; j++) {
        float a = m->b1[j];
        for (int i = 0; i < IN; i++)
            a += m->w1[j][i] * z[i];
        if (a > 0)
            o += m->w2[j] * a;
    }
    return 1.0f / (1.0f + expf(-o));
}

int cn_nerve_seg_run_mlp(cn_nerve_seg *s, const cn_nerve_mlp *m, double seed_x, double seed_y,
                         const cn_nerve_params *p, cn_pt2 *pts_px, int *n_out, float *confidence)
{
    if (!m || !pts_px || !n_out || !confidence)
        return CN_EINVAL;
    *n_out = 0;
    *confidence = 0;
    feat_ctx c;
    int win[4];
    int rc = make_ctx(s, seed_x, seed_y, p, &c, win);
    if (rc)
        return rc;
    const int qw = s->qw;
    memset(s->lab, 0, (size_t)qw * s->qh);
    float f[IN];
    const float thr = m->threshold;
    for (int y = win[1]; y <= win[3]; y++)
        for (int x = win[0]; x <= win[2]; x++) {
            features(s, &c, x, y, f);
            float pr = forward(m, f);
            s->prob[(size_t)y * qw + x] = pr;
            s->lab[(size_t)y * qw + x] = pr >= thr;
        }
    /* Keep every region that reaches within NEAR_R of the seed: a nerve often
     * shows as two or three fascicle groups around the operator's point. */
    float qs = (float)s->qscale, off = (qs - 1) * 0.5f;
    float maxx = (float)(s->ww * s->scale - 1), maxy = (float)(s->wh * s->scale - 1);
    const float near2 = (float)(NEAR_R * NEAR_R) * c.R * c.R;
    double cx = 0, cy = 0, psum = 0;
    long cnt = 0;
    for (int y0 = win[1]; y0 <= win[3]; y0++)
        for (int x0 = win[0]; x0 <= win[2]; x0++) {
            int q0 = y0 * qw + x0;
            if (s->lab[q0] != 1)
                continue;
            int head = 0, tail = 0;
            s->stack[tail++] = q0;
            s->lab[q0] = 4; /* visiting */
            float dmin = INFINITY;
            while (head < tail) {
                int q = s->stack[head++];
                int x = q % qw, y = q / qw;
                float d = ((float)x - c.sx) * ((float)x - c.sx) + ((float)y - c.sy) * ((float)y - c.sy);
                if (d < dmin)
                    dmin = d;
                const int nb[4] = {q - 1, q + 1, q - qw, q + qw};
                const bool ok[4] = {x > win[0], x < win[2], y > win[1], y < win[3]};
                for (int k = 0; k < 4; k++)
                    if (ok[k] && s->lab[nb[k]] == 1) {
                        s->lab[nb[k]] = 4;
                        s->stack[tail++] = nb[k];
                    }
            }
            bool keep = dmin <= near2 && tail >= 3;
            for (int i = 0; i < tail; i++) {
                int q = s->stack[i];
                s->lab[q] = keep ? 2 : 3;
                if (keep) {
                    cx += q % qw;
                    cy += q / qw;
                    psum += s->prob[q];
                    cnt++;
                }
            }
        }
    if (cnt == 0) {
        /* The operator said "here" but nothing nerve-like is: the prior ellipse
         * at the seed, flagged by a low confidence. */
        double sa = sqrt(p->aspect);
        for (int a = 0; a < NA; a++) {
            double th = 2.0 * M_PI * a / NA;
            float x = (float)(seed_x + cos(th) * p->r0_px * sa);
            float y = (float)(seed_y + sin(th) * p->r0_px / sa);
            pts_px[a].x = x < 0 ? 0 : (x > maxx ? maxx : x);
            pts_px[a].y = y < 0 ? 0 : (y > maxy ? maxy : y);
        }
        *n_out = NA;
        *confidence = 0.05f;
        return CN_OK;
    }
    cx /= (double)cnt;
    cy /= (double)cnt;
    /* radial fill: the farthest region pixel along each ray (holes closed) */
    double rad[NA];
    float rlim = c.R * (float)WIN_X * 1.5f;
    for (int a = 0; a < NA; a++) {
        double th = 2.0 * M_PI * a / NA;
        float ux = (float)cos(th), uy = (float)sin(th), last = 0.5f;
        for (float r = 0; r < rlim; r += 0.5f) {
            int x = (int)lrintf((float)cx + ux * r), y = (int)lrintf((float)cy + uy * r);
            if (x < win[0] || y < win[1] || x > win[2] || y > win[3])
                break;
            if (s->lab[(size_t)y * qw + x] == 2)
                last = r + 0.5f;
        }
        rad[a] = last;
    }
    for (int a = 0; a < NA; a++) {
        double r = 0.25 * rad[(a + NA - 1) % NA] + 0.5 * rad[a] + 0.25 * rad[(a + 1) % NA];
        double th = 2.0 * M_PI * a / NA;
        float x = (float)(cx + cos(th) * r) * qs + off, y = (float)(cy + sin(th) * r) * qs + off;
        pts_px[a].x = x < 0 ? 0 : (x > maxx ? maxx : x);
        pts_px[a].y = y < 0 ? 0 : (y > maxy ? maxy : y);
    }
    *n_out = NA;
    *confidence = (float)(psum / (double)cnt);
    return CN_OK;
}

/* ------------------------------------------------------------------ training */

struct cn_nerve_trainset {
    float *x;     /* n x IN */
    uint8_t *y;
    size_t n, cap;
};

cn_nerve_trainset *cn_nerve_trainset_new(void) { return calloc(1, sizeof(cn_nerve_trainset)); }

void cn_nerve_trainset_free(cn_nerve_trainset *t)
{
    if (!t)
        return;
    free(t->x);
    free(t->y);
    free(t);
}

int cn_nerve_trainset_add(cn_nerve_trainset *t, cn_nerve_seg *s, const uint8_t *truth, int w,
                          int h, double seed_x, double seed_y, const cn_nerve_params *p)
{
    /* truth must be the full-resolution mask of the image last prepared in s */
    if (!t || !truth || !s || !s->work || w / s->scale != s->ww || h / s->scale != s->wh)
        return CN_EINVAL;
    feat_ctx c;
    int win[4];
    int rc = make_ctx(s, seed_x, seed_y, p, &c, win);
    if (rc)
        return rc;
    const int qs = s->qscale;
    for (int y = win[1]; y <= win[3]; y += 2)
        for (int x = win[0]; x <= win[2]; x += 2) {
            if (t->n == t->cap) {
                size_t nc = t->cap ? t->cap * 2 : 65536;
                float *nx = realloc(t->x, sizeof(float) * IN * nc);
                if (!nx)
                    return CN_ENOMEM;
                t->x = nx;
                uint8_t *ny = realloc(t->y, nc);
                if (!ny)
                    return CN_ENOMEM;
                t->y = ny;
                t->cap = nc;
            }
            features(s, &c, x, y, t->x + t->n * IN);
            int tx = x * qs + qs / 2, ty = y * qs + qs / 2;
            if (tx >= w) tx = w - 1;
            if (ty >= h) ty = h - 1;
            t->y[t->n] = truth[(size_t)ty * w + tx] != 0;
            t->n++;
        }
    return CN_OK;
}

int cn_nerve_mlp_train(const cn_nerve_trainset *t, int epochs, uint64_t seed, cn_nerve_mlp *m)
{
    if (!t || !m || t->n < 100 || epochs < 1)
        return CN_EINVAL;
    memset(m, 0, sizeof *m);
    const size_t n = t->n;
    for (int i = 0; i < IN; i++) {
        double s1 = 0, s2 = 0;
        for (size_t k = 0; k < n; k++) {
            double v = t->x[k * IN + i];
            s1 += v;
            s2 += v * v;
        }
        double mu = s1 / (double)n, var = s2 / (double)n - mu * mu;
        m->mu[i] = (float)mu;
        m->inv_sd[i] = (float)(1.0 / sqrt(var > 1e-8 ? var : 1e-8));
    }
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    for (int j = 0; j < HID; j++) {
        for (int i = 0; i < IN; i++)
            m->w1[j][i] = (float)(cn_rng_normal(&rng) * sqrt(2.0 / IN));
        m->w2[j] = (float)(cn_rng_normal(&rng) * sqrt(1.0 / HID));
    }
    /* Adam state for all parameters, flattened in declaration order */
    enum { NP = HID * IN + HID + HID + 1 };
    float *g = calloc(NP, sizeof(float)), *mo = calloc(NP, sizeof(float)),
          *ve = calloc(NP, sizeof(float));
    size_t *perm = malloc(sizeof(size_t) * n);
    if (!g || !mo || !ve || !perm) {
        free(g), free(mo), free(ve), free(perm);
        return CN_ENOMEM;
    }
    for (size_t k = 0; k < n; k++)
        perm[k] = k;
    const int batch = 64;
    const float lr0 = 3e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    long step = 0;
    for (int e = 0; e < epochs; e++) {
        for (size_t k = n - 1; k > 0; k--) {
            size_t r = (size_t)(cn_rng_next(&rng) % (k + 1)), tmp = perm[k];
            perm[k] = perm[r];
            perm[r] = tmp;
        }
        float lr = lr0 * (e + 1 == epochs ? 0.3f : 1.0f);
        for (size_t b0 = 0; b0 + (size_t)batch <= n; b0 += (size_t)batch) {
            memset(g, 0, sizeof(float) * NP);
            for (int bi = 0; bi < batch; bi++) {
                const float *f = t->x + perm[b0 + (size_t)bi] * IN;
                float z[IN], hpre[HID], o = m->b2;
                for (int i = 0; i < IN; i++)
                    z[i] = (f[i] - m->mu[i]) * m->inv_sd[i];
                for (int j = 0; j < HID; j++) {
                    float a = m->b1[j];
                    for (int i = 0; i < IN; i++)
                        a += m->w1[j][i] * z[i];
                    hpre[j] = a;
                    if (a > 0)
                        o += m->w2[j] * a;
                }
                float pr = 1.0f / (1.0f + expf(-o));
                float d = (pr - (float)t->y[perm[b0 + (size_t)bi]]) / (float)batch;
                for (int j = 0; j < HID; j++) {
                    if (hpre[j] <= 0)
                        continue;
                    g[HID * IN + HID + j] += d * hpre[j];
                    float dh = d * m->w2[j];
                    for (int i = 0; i < IN; i++)
                        g[j * IN + i] += dh * z[i];
                    g[HID * IN + j] += dh;
                }
                g[NP - 1] += d;
            }
            step++;
            float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
            for (int q = 0; q < NP; q++) {
                mo[q] = b1 * mo[q] + (1 - b1) * g[q];
                ve[q] = b2 * ve[q] + (1 - b2) * g[q] * g[q];
                float upd = lr * (mo[q] / c1) / (sqrtf(ve[q] / c2) + eps);
                if (q < HID * IN)
                    m->w1[q / IN][q % IN] -= upd;
                else if (q < HID * IN + HID)
                    m->b1[q - HID * IN] -= upd;
                else if (q < NP - 1)
                    m->w2[q - HID * IN - HID] -= upd;
                else
                    m->b2 -= upd;
            }
        }
    }
    m->threshold = 0.5f;
    free(g), free(mo), free(ve), free(perm);
    return CN_OK;
}

int cn_nerve_mlp_write_c(const cn_nerve_mlp *m, const char *path, const char *comment)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return CN_EIO;
    fprintf(f, "/*\n * nerve_weights.c - the built-in weights of the learned nerve mode "
               "(generated, do not edit).\n * %s\n */\n#include \"segment/segment.h\"\n\n"
               "static const cn_nerve_mlp builtin = {\n",
            comment ? comment : "");
    fprintf(f, "    .mu = {");
    for (int i = 0; i < IN; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", (double)m->mu[i]);
    fprintf(f, "},\n    .inv_sd = {");
    for (int i = 0; i < IN; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", (double)m->inv_sd[i]);
    fprintf(f, "},\n    .w1 = {\n");
    for (int j = 0; j < HID; j++) {
        fprintf(f, "        {");
        for (int i = 0; i < IN; i++)
            fprintf(f, "%s%.9g", i ? ", " : "", (double)m->w1[j][i]);
        fprintf(f, "},\n");
    }
    fprintf(f, "    },\n    .b1 = {");
    for (int j = 0; j < HID; j++)
        fprintf(f, "%s%.9g", j ? ", " : "", (double)m->b1[j]);
    fprintf(f, "},\n    .w2 = {");
    for (int j = 0; j < HID; j++)
        fprintf(f, "%s%.9g", j ? ", " : "", (double)m->w2[j]);
    fprintf(f, "},\n    .b2 = %.9g,\n    .threshold = %.9g,\n    .r0_px = %.9g,\n};\n\n",
            (double)m->b2, (double)m->threshold, m->r0_px);
    fprintf(f, "const cn_nerve_mlp *cn_nerve_mlp_builtin(void) { return &builtin; }\n");
    return fclose(f) == 0 ? CN_OK : CN_EIO;
}
