/*
 * nerve_cnn.c - the seeded nerve CNN in plain C11: crop around the seed, the
 * network (nerve_cnn_net.c), and the mask and outline pasted back into the image.
 *
 * The idea: the polar DP knows only "a nerve-sized blob around
 * this point"; a convolutional network sees the shape (fascicles, epineurium,
 * several parts) in the crop around the operator's point. It is trained offline
 * (tools/train/train_nerve_cnn.py, PyTorch); its weights, with the crop geometry
 * they were trained for, are one small binary file (nerve_cnn.weights, layout in
 * nerve_cnn_internal.h) compiled into the library, so nothing but these files run
 * live. Another file of the same layout can be given at run time. This file
 * crops, pastes back and outlines; nerve_cnn_net.c holds the network (the
 * weights file and the forward pass).
 *
 * A size-normalised weights file (CNNERVE2) makes the seeded outline in two
 * crops: the first a fixed share of the frame, the second about the same point
 * with its side K x the first outline's equivalent radius, so the network sees
 * every nerve at about one size, whatever the probe's zoom (on nerve-us the fixed
 * crop showed a nerve's radius anywhere from 4.7 to 13.5 of its 64 cells; fold 4,
 * seeded, +0.011, and zoomed x0.6..x1.6 without a pixel size +0.030 on average,
 * docs/validation.md "Sixth session").
 *
 * Every buffer lives in the handle: no allocation per call. An ensemble (several
 * replicas per model) can also be run one network per call (cn_nerve_cnn_blend_begin
 * / _step), so the live stage spreads the ~3 ms of a pair over two frames (the shipped file has one network per model since the
 * per-nerve recipe: one step); the steps repeat the whole run's operations in
 * its order, so the outline is the same bit for bit.
 */
#include "nerve_cnn_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PART 4                   /* grid pixels: smaller parts are specks */
#define DROP_LOGIT (-20.0f)          /* logit given to dropped specks before pasting */
#define BLANK_SD 1.0f                /* grey levels: a crop spread less is blank (as the finder's grid) */

cn_nerve_cnn *cn_nerve_cnn_new(int max_w, int max_h)
{
    return cn_nerve_cnn_new_with(max_w, max_h, cn_nerve_cnn_blob, cn_nerve_cnn_blob_size, NULL, 0);
}

cn_nerve_cnn *cn_nerve_cnn_new_refine(int max_w, int max_h)
{
    return cn_nerve_cnn_new_with(max_w, max_h, cn_nerve_refine_blob, cn_nerve_refine_blob_size,
                                 NULL, 0);
}

void cn_nerve_cnn_geometry(const cn_nerve_cnn *c, int *grid_n, double *crop_frac)
{
    if (grid_n)
        *grid_n = c ? c->grid_n : 0;
    if (crop_frac)
        *crop_frac = c ? c->crop_frac : 0;
}

bool cn_nerve_cnn_fov_crop(const cn_nerve_cnn *c)
{
    return c && c->fov_crop;
}

bool cn_nerve_cnn_seed_first(const cn_nerve_cnn *c)
{
    return c && c->seed_first;
}

cn_nerve_cnn *cn_nerve_cnn_new_with(int max_w, int max_h, const void *weights, size_t size,
                                    char *err, size_t err_len)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, "nerve CNN", "frame size %dx%d out of range", max_w, max_h);
        return NULL;
    }
    if (!weights) {
        cn_errf(err, err_len, "nerve CNN", "no weights");
        return NULL;
    }
    cn_nerve_cnn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (cn__cnn_load_weights(c, weights, size, err, err_len)) {
        cn_nerve_cnn_free(c);
        return NULL;
    }
    c->max_w = max_w;
    c->max_h = max_h;
    c->st_next = -1;
    const size_t G = (size_t)c->grid_n;
    c->logit = calloc(G * G, sizeof(float));
    c->xin = calloc(2 * G * G, sizeof(float));
    c->acc = calloc(G * G, sizeof(float));
    c->xin_m = calloc(2 * G * G, sizeof(float));
    c->acc_m = calloc(G * G, sizeof(float));
    c->half = malloc((size_t)(max_w / 2) * (size_t)(max_h / 2) + 1);
    c->mask_own = malloc((size_t)max_w * max_h);
    c->mask_tgt = malloc((size_t)max_w * max_h);
    c->lab = malloc(sizeof(int) * G * G);
    c->stack = malloc(sizeof(int) * G * G);
    c->col_i = malloc(sizeof(int) * (size_t)max_w);
    c->col_f = malloc(sizeof(float) * (size_t)max_w);
    if (!c->col_i || !c->col_f || !c->logit || !c->xin || !c->acc || !c->xin_m || !c->acc_m ||
        !c->half || !c->mask_own || !c->mask_tgt || !c->lab || !c->stack) {
        cn_nerve_cnn_free(c);
        return NULL;
    }
    return c;
}

void cn_nerve_cnn_free(cn_nerve_cnn *c)
{
    if (!c)
        return;
    nerve_net_free(c->net);
    free(c->logit);
    free(c->xin);
    free(c->acc);
    free(c->xin_m);
    free(c->acc_m);
    free(c->half);
    free(c->mask_own);
    free(c->mask_tgt);
    free(c->lab);
    free(c->stack);
    free(c->col_i);
    free(c->col_f);
    free(c->weights);
    free(c);
}

/* Keeps every 8-connected part of logit > 0 with at least MIN_PART grid pixels;
 * smaller ones get DROP_LOGIT. Returns the kept pixel count and the sum of their
 * probabilities. */
static int keep_parts(cn_nerve_cnn *c, float *lg, int n, double *psum)
{
    int *lab = c->lab, *st = c->stack, kept = 0;
    *psum = 0;
    for (int i = 0; i < n * n; i++)
        lab[i] = lg[i] > 0 ? 0 : -1;
    int nl = 0;
    for (int i = 0; i < n * n; i++) {
        if (lab[i] != 0)
            continue;
        int sp = 0, cnt = 0, head = 0;
        lab[i] = ++nl;
        st[sp++] = i;
        while (head < sp) { /* st doubles as the part's pixel list */
            int p = st[head++], py = p / n, px = p % n;
            cnt++;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= n || qy >= n)
                        continue;
                    int q = qy * n + qx;
                    if (lab[q] == 0) {
                        lab[q] = nl;
                        st[sp++] = q;
                    }
                }
        }
        for (int k = 0; k < sp; k++) {
            if (cnt < MIN_PART) {
                lg[st[k]] = DROP_LOGIT;
            } else {
                *psum += 1.0 / (1.0 + exp(-(double)lg[st[k]]));
                kept++;
            }
        }
    }
    return kept;
}

int cn_nerve_cnn_run(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h, double seed_x,
                     double seed_y, uint8_t *mask, cn_pt2 *pts_px, int *n_out, float *confidence)
{
    return cn_nerve_cnn_run_blend(c, model, px, w, h, seed_x, seed_y, NULL, 0, mask, pts_px, n_out,
                                  confidence);
}

static void crop_half(cn_nerve_cnn *c, float cx, float cy, float side);

/* The crop around the seed, standardised, and the seed channel into c->xin; the
 * crop's geometry into c->st_*. */
static int crop_input(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h, double seed_x,
                      double seed_y, double scale, double aspect)
{
    c->st_next = -1;
    c->out_n = 0;
    c->st_w = 0; /* no square cropped until this one is (cn_nerve_cnn_last_crop) */
    if (cn_image_check(px, w, h) || w < 16 || h < 16 || model < 0 || model >= CN_NERVE_CNN_NMODELS)
        return CN_EINVAL;
    if (w > c->max_w || h > c->max_h)
        return CN_ERANGE;
    if (!isfinite(seed_x) || !isfinite(seed_y))
        return CN_EINVAL;
    if (seed_x < 0 || seed_y < 0 || seed_x > w - 1 || seed_y > h - 1)
        return CN_ERANGE;
    int rc = cn_img_downsample2(px, w, h, c->half);
    if (rc)
        return rc;
    /* the crop follows the finder's change of scale (a known pixel size that
     * shows the nerve larger or smaller than the training frames did) */
    if (!(scale >= 0.5 && scale <= 2.0))
        scale = 1.0;
    c->st_w = w;
    c->st_h = h;
    c->st_model = model;
    c->st_pass = 0;
    /* pixels that are not square (a known spacing): crops square in the tissue */
    c->st_aspect = aspect >= 0.25 && aspect <= 4 ? (float)aspect : 1.0f;
    /* a share of the frame's smaller side in the tissue, in pixels across */
    const float hx = c->st_aspect == 1.0f ? (float)h : (float)h * c->st_aspect;
    crop_half(c, (float)seed_x, (float)seed_y, c->crop_frac * ((float)w < hx ? (float)w : hx) * (float)scale);
    return CN_OK;
}

/* The N x N crop of side `side` input pixels centred on (cx, cy), sampled from
 * the half-resolution frame c->half (of c->st_w x c->st_h), standardised, with the
 * seed channel, into c->xin; its geometry into c->st_*. */
static void crop_half(cn_nerve_cnn *c, float cx, float cy, float side)
{
    /* crop grid: N x N samples centred on (cx, cy), step = side / N input pixels;
     * half-resolution coordinate of input x is (x - 0.5) / 2 */
    const int N = c->grid_n, w2 = c->st_w / 2, h2 = c->st_h / 2;
    const float step = side / (float)N;
    const float step_y = c->st_aspect == 1.0f ? step : step / c->st_aspect;
    float *g = c->xin, *sd = c->xin + N * N;
    double sum = 0, sum2 = 0;
    for (int j = 0; j < N; j++) {
        float yy = cy + ((float)j - (float)(N - 1) / 2.0f) * step_y;
        for (int i = 0; i < N; i++) {
            float xx = cx + ((float)i - (float)(N - 1) / 2.0f) * step;
            float v = cn_img_sample(c->half, w2, h2, (xx - 0.5f) / 2.0f, (yy - 0.5f) / 2.0f);
            g[j * N + i] = v;
            sum += v;
            sum2 += (double)v * v;
        }
    }
    double mu = sum / (N * N), var = sum2 / (N * N) - mu * mu;
    float sdv = (float)sqrt(var > 0 ? var : 0);
    /* a crop of one grey level (black, saturated, a flat letterbox band) shows
     * nothing, yet the seed channel alone would make the network outline a blob
     * there with high confidence: such a crop is "no nerve" (finish) */
    c->st_blank = sdv < BLANK_SD;
    if (sdv < c->std_floor)
        sdv = c->std_floor;
    const float c0 = (float)(N - 1) / 2.0f;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            g[j * N + i] = (g[j * N + i] - (float)mu) / sdv;
            float dx = (float)i - c0, dy = (float)j - c0;
            sd[j * N + i] = expf(-(dx * dx + dy * dy) / (2.0f * c->seed_sigma * c->seed_sigma));
        }
    c->st_cx = cx;
    c->st_cy = cy;
    c->st_side = side;
}

/* After a first pass that outlined something, a size-normalised file wants a
 * second crop: side = size_norm x the equivalent radius of the pasted mask,
 * clamped to CNN_SN_SIDE_MIN..MAX of the smaller side, about the same seed. Sets
 * it up in c->xin and returns true; false when there is nothing to redo. */
static bool second_crop(cn_nerve_cnn *c)
{
    if (!(c->size_norm > 0) || c->st_pass != 0 || c->out_n <= 0)
        return false;
    const float hx = c->st_aspect == 1.0f ? (float)c->st_h : (float)c->st_h * c->st_aspect;
    const float m = (float)c->st_w < hx ? (float)c->st_w : hx;
    /* the mask's equivalent radius in pixels across (its area in the tissue) */
    float side = c->st_aspect == 1.0f
                     ? c->size_norm * sqrtf((float)c->out_n / (float)M_PI)
                     : c->size_norm * sqrtf((float)c->out_n * c->st_aspect / (float)M_PI);
    if (side < CNN_SN_SIDE_MIN * m)
        side = CNN_SN_SIDE_MIN * m;
    if (side > CNN_SN_SIDE_MAX * m)
        side = CNN_SN_SIDE_MAX * m;
    c->st_pass = 1;
    crop_half(c, c->st_cx, c->st_cy, side);
    return true;
}

/* From the crop's logits (c->logit, geometry c->st_*): the finder blended in, the
 * parts kept, the mask pasted back and the outline of the part nearest the seed. */
static void finish(cn_nerve_cnn *c, const cn_nerve_find *find, float weight, uint8_t *mask,
                   cn_pt2 *pts_px, int *n_out, float *confidence)
{
    const int N = c->grid_n, w = c->st_w, h = c->st_h;
    const float side = c->st_side;
    const float step = side / (float)N, cx = c->st_cx, cy = c->st_cy;
    const float step_y = c->st_aspect == 1.0f ? step : step / c->st_aspect;
    const float c0 = (float)(N - 1) / 2.0f;
    if (c->st_blank) { /* nothing to see: nothing kept, whatever the finder says */
        for (int i = 0; i < N * N; i++)
            c->logit[i] = DROP_LOGIT;
        find = NULL;
    }
    /* the finder's view of the same cells (its whole-frame context), blended in;
     * with the seed-first flag only into the first crop, which places the click
     * (the second is centred on the first outline and sized by it: the finder's
     * share there cost a click at the middle 0.019 of Dice on fold 4 while an
     * off-centre click needs it in the first, docs/validation.md "Twelfth session") */
    if (c->seed_first && c->st_pass == 1)
        weight = 0;
    if (find && weight > 0 && weight <= 1 && !isnan(cn_nerve_find_logit_at(find, cx, cy)))
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++) {
                float xx = cx + ((float)i - c0) * step, yy = cy + ((float)j - c0) * step_y;
                float lf = cn_nerve_find_logit_at(find, xx, yy);
                c->logit[j * N + i] = (1.0f - weight) * c->logit[j * N + i] + weight * lf;
            }
    double psum;
    int kept = keep_parts(c, c->logit, N, &psum);
    /* outline: the target is one nerve, the kept part nearest the seed (the
     * operator points at the nerve to freeze). Its pasted pixels' own outline
     * (cn_img_trace_outline), so the outline holds what the mask holds: a star hull
     * from the part's centre filled a crescent's hollow and was what the screen
     * showed while `eval nerve` scored the mask (docs/validation.md, "Twenty-first
     * session"). The caller's mask becomes that outline's inside. The target's
     * pixels are pasted apart (mask_tgt: a pixel whose bilinear cells include one
     * of the target's), so a part the interpolation joins to it stays out. */
    int target = -1, tcell = -1;
    if (kept > 0) {
        float dbest = 1e30f;
        for (int i = 0; i < N * N; i++)
            if (c->logit[i] > 0) {
                float dx = (float)(i % N) - c0, dy = (float)(i / N) - c0;
                if (dx * dx + dy * dy < dbest) {
                    dbest = dx * dx + dy * dy;
                    target = c->lab[i];
                    tcell = i;
                }
            }
    }
    /* paste back: every input pixel of the crop samples the logits bilinearly */
    uint8_t *m = c->mask_own; /* every kept part; the caller's mask gets the outline's inside */
    uint8_t *mt = c->mask_tgt;
    memset(m, 0, (size_t)w * h);
    memset(mt, 0, (size_t)w * h);
    const float hs = side / 2.0f, hs_y = c->st_aspect == 1.0f ? hs : hs / c->st_aspect;
    int x0 = (int)floorf(cx - hs), x1 = (int)ceilf(cx + hs);
    int y0 = (int)floorf(cy - hs_y), y1 = (int)ceilf(cy + hs_y);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w - 1) x1 = w - 1;
    if (y1 > h - 1) y1 = h - 1;
    const float inv = 1.0f / step, inv_y = 1.0f / step_y, lim = (float)N - 0.5f;
    /* columns of the crop: logit cell and bilinear weight, computed once (the
     * clamp-then-bilinear of cn_img_sample on the float logit grid) */
    int cx0 = x1 + 1, cx1 = x0 - 1;
    long n_px = 0; /* the pasted mask's pixels and their coordinate sums */
    double sum_x = 0, sum_y = 0;
    for (int x = x0; x <= x1; x++) {
        float u = ((float)x - cx) * inv + c0;
        if (!(u > -0.5f && u < lim))
            continue;
        if (x < cx0) cx0 = x;
        cx1 = x;
        float uu = u < 0 ? 0 : (u > (float)(N - 1) ? (float)(N - 1) : u);
        int ui = (int)uu;
        if (ui > N - 2) ui = N - 2;
        c->col_i[x] = ui;
        c->col_f[x] = uu - (float)ui;
    }
    if (kept > 0)
        for (int y = y0; y <= y1; y++) {
            float v = ((float)y - cy) * inv_y + c0;
            if (!(v > -0.5f && v < lim))
                continue;
            float vv = v < 0 ? 0 : (v > (float)(N - 1) ? (float)(N - 1) : v);
            int vi = (int)vv;
            if (vi > N - 2) vi = N - 2;
            const float fy = vv - (float)vi;
            const float *r0 = c->logit + vi * N, *r1 = r0 + N;
            const int *l0 = c->lab + vi * N, *l1 = l0 + N;
            uint8_t *mr = m + (size_t)y * w, *mtr = mt + (size_t)y * w;
            long row_n = 0;
            double row_x = 0;
            for (int x = cx0; x <= cx1; x++) {
                int ui = c->col_i[x];
                float fx = c->col_f[x];
                float a = r0[ui] + fx * (r0[ui + 1] - r0[ui]);
                float b = r1[ui] + fx * (r1[ui + 1] - r1[ui]);
                mr[x] = (a + fy * (b - a)) > 0;
                mtr[x] = mr[x] && ((r0[ui] > 0 && l0[ui] == target) ||
                                   (r0[ui + 1] > 0 && l0[ui + 1] == target) ||
                                   (r1[ui] > 0 && l1[ui] == target) ||
                                   (r1[ui + 1] > 0 && l1[ui + 1] == target));
                row_n += mr[x];
                row_x += mr[x] ? (double)x : 0.0;
            }
            n_px += row_n;
            sum_x += row_x;
            sum_y += (double)row_n * y;
        }
    c->out_n = n_px;
    c->out_cx = n_px ? sum_x / (double)n_px : cx;
    c->out_cy = n_px ? sum_y / (double)n_px : cy;
    int np = 0;
    if (target >= 0 && n_px > 0) {
        /* a pasted pixel of the target part: its cell nearest the seed, else any
         * of its cells whose pixel the bilinear paste kept */
        for (int k = -1; k < N * N; k++) {
            const int i = k < 0 ? tcell : k;
            if (k >= 0 && !(c->lab[i] == target && c->logit[i] > 0))
                continue;
            int x = (int)lroundf(cx + ((float)(i % N) - c0) * step);
            int y = (int)lroundf(cy + ((float)(i / N) - c0) * step_y);
            if (x >= 0 && y >= 0 && x < w && y < h && mt[(size_t)y * w + x] &&
                cn_img_trace_outline(mt, w, h, x, y, true, pts_px, CN_NERVE_ANGLES, &np) == CN_OK)
                break;
            np = 0;
        }
    }
    if (np < 3) { /* nothing pasted (a part thinner than a pixel): no outline */
        if (mask)
            memset(mask, 0, (size_t)w * h);
        *n_out = 0;
        *confidence = 0.0f;
        return;
    }
    if (mask) {
        memset(mask, 0, (size_t)w * h);
        cn_img_fill_polygon(mask, w, h, pts_px, np, 1);
    }
    *n_out = np;
    *confidence = kept > 0 ? (float)(psum / kept) : 0.0f;
}

int cn_nerve_cnn_run_blend(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h,
                           double seed_x, double seed_y, const cn_nerve_find *find, float weight,
                           uint8_t *mask, cn_pt2 *pts_px, int *n_out, float *confidence)
{
    if (!c || !pts_px || !n_out || !confidence)
        return CN_EINVAL;
    *n_out = 0;
    *confidence = 0;
    int rc = crop_input(c, model, px, w, h, seed_x, seed_y, cn_nerve_find_scale(find),
                        cn_nerve_find_aspect(find));
    if (rc)
        return rc;
    rc = cn_nerve_cnn_forward(c, model, c->xin, c->grid_n, c->logit);
    if (rc)
        return rc;
    finish(c, find, weight, mask, pts_px, n_out, confidence);
    if (second_crop(c)) {
        rc = cn_nerve_cnn_forward(c, model, c->xin, c->grid_n, c->logit);
        if (rc)
            return rc;
        finish(c, find, weight, mask, pts_px, n_out, confidence);
    }
    return CN_OK;
}

int cn_nerve_cnn_last_crop(const cn_nerve_cnn *c, double *cx_px, double *cy_px, double *side_px)
{
    if (!c || !cx_px || !cy_px || !side_px)
        return CN_EINVAL;
    if (c->st_w <= 0)
        return CN_ENOENT;
    *cx_px = c->st_cx;
    *cy_px = c->st_cy;
    *side_px = c->st_side;
    return CN_OK;
}

const uint8_t *cn_nerve_cnn_parts_mask(const cn_nerve_cnn *c)
{
    return c && c->out_n > 0 ? c->mask_own : NULL;
}

int cn_nerve_cnn_mask_centre(const cn_nerve_cnn *c, double *x_px, double *y_px)
{
    if (!c || !x_px || !y_px)
        return CN_EINVAL;
    if (c->out_n <= 0)
        return CN_ENOENT;
    *x_px = c->out_cx;
    *y_px = c->out_cy;
    return CN_OK;
}

int cn_nerve_cnn_blend_begin(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h,
                             double seed_x, double seed_y, const cn_nerve_find *find)
{
    if (!c)
        return CN_EINVAL;
    int rc = crop_input(c, model, px, w, h, seed_x, seed_y, cn_nerve_find_scale(find),
                        cn_nerve_find_aspect(find));
    if (rc)
        return rc;
    c->st_next = 0;
    return CN_OK;
}

int cn_nerve_cnn_size_begin(cn_nerve_cnn *c)
{
    if (!c)
        return CN_EINVAL;
    if (c->st_w <= 0 || c->st_next >= 0 || !second_crop(c))
        return CN_ENOENT;
    c->st_next = 0;
    return CN_OK;
}

int cn_nerve_cnn_blend_step(cn_nerve_cnn *c, const cn_nerve_find *find, float weight,
                            uint8_t *mask, cn_pt2 *pts_px, int *n_out, float *confidence, bool *done)
{
    if (!c || !pts_px || !n_out || !confidence || !done)
        return CN_EINVAL;
    *n_out = 0;
    *confidence = 0;
    *done = false;
    if (c->st_next < 0 || c->st_next >= c->replicas)
        return CN_EINVAL; /* no begin, or another run used the handle since */
    /* the same operations as cn_nerve_cnn_forward, one replica per call */
    int rc = cn__cnn_run_replica(c, c->st_model, c->st_next, c->xin, c->grid_n, c->logit);
    if (rc != CN_OK) {
        c->st_next = -1;
        return rc;
    }
    if (++c->st_next < c->replicas)
        return CN_OK;
    c->st_next = -1;
    *done = true;
    finish(c, find, weight, mask, pts_px, n_out, confidence);
    return CN_OK;
}
