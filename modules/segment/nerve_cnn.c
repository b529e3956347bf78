/*
 * nerve_cnn.c - the seeded nerve CNN in plain C11: crop around the seed, a tiny
 * U-Net forward pass, and the mask and outline pasted back into the image.
 *
 * The idea: the polar DP knows only "a nerve-sized blob around
 * this point"; a convolutional network sees the shape (fascicles, epineurium,
 * several parts) in the crop around the operator's point. It is trained offline
 * (tools/train/train_nerve_cnn.py, PyTorch); its weights, with the crop geometry
 * they were trained for, are one small binary file (nerve_cnn.weights, layout in
 * nerve_cnn_internal.h) compiled into the library, so nothing but this file runs
 * live. Another file of the same layout can be given at run time.
 *
 * Network (must match Net in the training script), channels C0..C3 per level
 * read from the weights file's header (C2 == C3): level 0 (n x n): conv 2->C0,
 * C0->C0; max-pool; level 1: C0->C1, C1->C1; pool; level 2: C1->C2, C2->C2; pool;
 * level 3: C2->C3, C3->C3; then up (nearest) + skip e2 -> conv C3->C1, up + e1 ->
 * C1->C0, up + e0 -> C0->C0, 1x1 C0->1. All 3x3 convolutions zero-padded, ReLU.
 *
 * Speed: activations are channel planes with a one-pixel zero border at a fixed
 * stride, so a 3x3 convolution is, per (out, in) channel pair, nine
 * multiply-adds over contiguous rows without any bounds test - loops the
 * compiler vectorises. Every buffer lives in the handle: no allocation per call.
 * An ensemble (several replicas per model) can also be run one network per call
 * (cn_nerve_cnn_blend_begin / _step), so the live stage spreads the ~3 ms of a
 * pair over two frames (the shipped file has one network per model since the
 * per-nerve recipe: one step); the steps repeat the whole run's operations in
 * its order, so the outline is the same bit for bit.
 */
#include "nerve_cnn_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NMAX CN_NERVE_CNN_NMAX
#define MIN_PART 4                   /* grid pixels: smaller parts are specks */
#define DROP_LOGIT (-20.0f)          /* logit given to dropped specks before pasting */

typedef struct {
    int cin, cout, k;
} layer_shape;

/* The layer table for channels ch[0..3] per level (Net in the training script;
 * ch[2] == ch[3], since the decoder adds up(e3) to e2). */
static void layer_table(const int ch[4], layer_shape L[CNN_NLAYERS])
{
    const layer_shape t[CNN_NLAYERS] = {
        {2, ch[0], 3},     {ch[0], ch[0], 3}, {ch[0], ch[1], 3}, {ch[1], ch[1], 3},
        {ch[1], ch[2], 3}, {ch[2], ch[2], 3}, {ch[2], ch[3], 3}, {ch[3], ch[3], 3},
        {ch[3], ch[1], 3}, {ch[1], ch[0], 3}, {ch[0], ch[0], 3}, {ch[0], 1, 1},
    };
    memcpy(L, t, sizeof t);
}

struct cn_nerve_cnn {
    int max_w, max_h;
    /* from the weights file */
    int ch[4];              /* channels per level */
    layer_shape layers[CNN_NLAYERS];
    int grid_n;             /* crop grid side */
    float crop_frac;        /* crop side / smaller image side */
    float seed_sigma;       /* seed channel Gaussian, grid cells */
    float std_floor;        /* grey std floor of the standardisation */
    size_t per_model;       /* weights per network */
    int replicas;           /* networks per model (an ensemble when > 1) */
    float *weights;         /* models x replicas x per_model, host byte order */
    float *acc;             /* n x n: a further replica's logits */
    int last_n;             /* grid size of the last forward (borders reset when it changes) */
    /* padded activation planes ((n + 2) x (n + 2) floats per channel for the grid n
     * of the weights, zero border) */
    size_t stride;
    float *in;              /* 2 planes */
    float *e0, *t0;         /* ch[0] planes each, level 0 */
    float *p1, *t1, *e1;    /* level 1: pooled input (C0..C1), temp, skip (C1) */
    float *p2, *t2, *e2;    /* level 2 (up to C2 planes) */
    float *p3, *t3, *e3;    /* level 3 */
    float *logit;           /* n x n, unpadded */
    float *xin;             /* 2 x n x n network input, unpadded */
    uint8_t *half;          /* the frame at half resolution */
    uint8_t *mask_own;      /* used when the caller passes no mask */
    int *lab;               /* grid component labels */
    int *stack;
    int *col_i;             /* paste: per image column, left logit cell and weight */
    float *col_f;
    /* the crop of the last run (cn_nerve_cnn_blend_begin keeps it between frames) */
    int st_w, st_h, st_model;
    float st_cx, st_cy;
    int st_next;            /* staged: the next replica to run, -1 when no steps are pending */
};

static size_t weights_per_model(const layer_shape L[CNN_NLAYERS])
{
    size_t n = 0;
    for (int l = 0; l < CNN_NLAYERS; l++)
        n += (size_t)L[l].cout * L[l].cin * L[l].k * L[l].k + (size_t)L[l].cout;
    return n;
}

/* The error text, "nerve CNN: ...", and the code to return with it. */
#define FAIL(rc, ...) (cn_errf(err, err_len, "nerve CNN", __VA_ARGS__), (rc))

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static float lef32(const unsigned char *b)
{
    uint32_t u = le32(b);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Checks a CNNERVE1 image (its header gives the network's channels and crop
 * geometry; nothing about the network is assumed but its layer pattern) and
 * decodes its weights into c (any host byte order). */
static int load_weights(cn_nerve_cnn *c, const unsigned char *b, size_t size, char *err,
                        size_t err_len)
{
    if (size < CNN_FILE_HEADER || memcmp(b, CNN_FILE_MAGIC, 8) != 0)
        return FAIL(CN_EPARSE, "not a CNNERVE1 weights file (%zu bytes)", size);
    const uint32_t models = le32(b + 8), count = le32(b + 12), n = le32(b + 16);
    const uint32_t ch[4] = {le32(b + 32), le32(b + 36), le32(b + 40), le32(b + 44)};
    for (int k = 0; k < 4; k++)
        if (ch[k] < 1 || ch[k] > CNN_CMAX)
            return FAIL(CN_EPARSE, "weights file: channels %u/%u/%u/%u out of range (1..%d)",
                        ch[0], ch[1], ch[2], ch[3], CNN_CMAX);
    if (ch[2] != ch[3])
        return FAIL(CN_EPARSE,
                    "weights file: channels %u/%u/%u/%u: levels 2 and 3 must be equal (the "
                    "decoder adds them)", ch[0], ch[1], ch[2], ch[3]);
    /* the activation planes are sized from the header before the weights are
     * counted: a short hostile header must not make the handle reserve what a
     * file a few MB long could never justify */
    if (n >= 8 && n <= NMAX) {
        const size_t P = ((size_t)n + 2) * ((size_t)n + 2), C0 = ch[0], C1 = ch[1], C2 = ch[2];
        const size_t planes = 2 + 3 * C0 + (C0 > C1 ? C0 : C1) + 2 * C1 + (C1 > C2 ? C1 : C2) +
                              3 * C2 + 2 * (size_t)ch[3];
        const size_t bytes = planes * P * sizeof(float);
        if (bytes > CNN_ACT_BUDGET)
            return FAIL(CN_EPARSE,
                        "weights file: channels %u/%u/%u/%u on a %u grid need %zu MiB of "
                        "activations (limit %d MiB)",
                        ch[0], ch[1], ch[2], ch[3], n, (bytes + (1u << 20) - 1) >> 20,
                        CNN_ACT_BUDGET >> 20);
    }
    for (int k = 0; k < 4; k++)
        c->ch[k] = (int)ch[k];
    layer_table(c->ch, c->layers);
    const size_t per = weights_per_model(c->layers);
    if (models == 0 || models % CN_NERVE_CNN_NMODELS || models > 16 * CN_NERVE_CNN_NMODELS ||
        count != per)
        return FAIL(CN_EPARSE,
                    "weights file does not hold its network: %u networks of %u weights "
                    "(channels %u/%u/%u/%u need %zu per network, %d x 1..16 networks)",
                    models, count, ch[0], ch[1], ch[2], ch[3], per, CN_NERVE_CNN_NMODELS);
    if (size != CNN_FILE_HEADER + (size_t)models * per * 4)
        return FAIL(CN_EPARSE, "weights file has %zu bytes, expected %zu", size,
                    CNN_FILE_HEADER + (size_t)models * per * 4);
    c->crop_frac = lef32(b + 20);
    c->seed_sigma = lef32(b + 24);
    c->std_floor = lef32(b + 28);
    if (n < 8 || n > NMAX || n % 8 || !(c->crop_frac > 0.05f && c->crop_frac <= 1.0f) ||
        !(c->seed_sigma > 0 && c->seed_sigma < 1000) || !(c->std_floor > 0 && c->std_floor < 256))
        return FAIL(CN_EPARSE,
                    "weights file geometry out of range: grid %u (8..%d, multiple of 8), crop "
                    "%g, seed sigma %g, std floor %g",
                    n, NMAX, (double)c->crop_frac, (double)c->seed_sigma, (double)c->std_floor);
    c->grid_n = (int)n;
    c->per_model = per;
    c->replicas = (int)(models / CN_NERVE_CNN_NMODELS);
    c->weights = malloc(sizeof(float) * per * models);
    if (!c->weights)
        return FAIL(CN_ENOMEM, "out of memory for the CNN weights");
    const unsigned char *p = b + CNN_FILE_HEADER;
    for (size_t i = 0; i < per * models; i++, p += 4) {
        c->weights[i] = lef32(p);
        if (!isfinite(c->weights[i]))
            return FAIL(CN_EPARSE, "weights file: weight %zu is not finite", i);
    }
    return CN_OK;
}

cn_nerve_cnn *cn_nerve_cnn_new(int max_w, int max_h)
{
    return cn_nerve_cnn_new_with(max_w, max_h, cn_nerve_cnn_blob, cn_nerve_cnn_blob_size, NULL, 0);
}

void cn_nerve_cnn_geometry(const cn_nerve_cnn *c, int *grid_n, double *crop_frac)
{
    if (grid_n)
        *grid_n = c ? c->grid_n : 0;
    if (crop_frac)
        *crop_frac = c ? c->crop_frac : 0;
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
    if (load_weights(c, weights, size, err, err_len)) {
        cn_nerve_cnn_free(c);
        return NULL;
    }
    c->max_w = max_w;
    c->max_h = max_h;
    c->st_next = -1;
    c->stride = (size_t)c->grid_n + 2;
    const size_t P = c->stride * c->stride, G = (size_t)c->grid_n;
    const size_t C0 = (size_t)c->ch[0], C1 = (size_t)c->ch[1], C2 = (size_t)c->ch[2],
                 C3 = (size_t)c->ch[3];
    /* p1 holds the pooled e0 then the decoder's level-1 output (C0 planes each), p2
     * the pooled e1 then level 2's (C1 each); sized with room to spare */
    c->in = calloc(2 * P, sizeof(float));
    c->e0 = calloc(C0 * P, sizeof(float));
    c->t0 = calloc(C0 * P, sizeof(float));
    c->p1 = calloc((C0 > C1 ? C0 : C1) * P, sizeof(float));
    c->t1 = calloc(C1 * P, sizeof(float));
    c->e1 = calloc(C1 * P, sizeof(float));
    c->p2 = calloc((C1 > C2 ? C1 : C2) * P, sizeof(float));
    c->t2 = calloc(C2 * P, sizeof(float));
    c->e2 = calloc(C2 * P, sizeof(float));
    c->p3 = calloc(C2 * P, sizeof(float));
    c->t3 = calloc(C3 * P, sizeof(float));
    c->e3 = calloc(C3 * P, sizeof(float));
    c->logit = calloc(G * G, sizeof(float));
    c->xin = calloc(2 * G * G, sizeof(float));
    c->acc = calloc(G * G, sizeof(float));
    c->half = malloc((size_t)(max_w / 2) * (size_t)(max_h / 2) + 1);
    c->mask_own = malloc((size_t)max_w * max_h);
    c->lab = malloc(sizeof(int) * G * G);
    c->stack = malloc(sizeof(int) * G * G);
    c->col_i = malloc(sizeof(int) * (size_t)max_w);
    c->col_f = malloc(sizeof(float) * (size_t)max_w);
    if (!c->col_i || !c->col_f || !c->in || !c->e0 || !c->t0 || !c->p1 || !c->t1 || !c->e1 || !c->p2 || !c->t2 || !c->e2 ||
        !c->p3 || !c->t3 || !c->e3 || !c->logit || !c->xin || !c->acc || !c->half || !c->mask_own ||
        !c->lab || !c->stack) {
        cn_nerve_cnn_free(c);
        return NULL;
    }
    return c;
}

void cn_nerve_cnn_free(cn_nerve_cnn *c)
{
    if (!c)
        return;
    float *bufs[] = {c->in, c->e0, c->t0, c->p1, c->t1, c->e1, c->p2,
                     c->t2, c->e2, c->p3, c->t3, c->e3, c->logit, c->xin, c->acc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c->half);
    free(c->mask_own);
    free(c->lab);
    free(c->stack);
    free(c->col_i);
    free(c->col_f);
    free(c->weights);
    free(c);
}

/* 3x3 convolution, zero padding, + bias, ReLU: in/out padded planes of n x n. */
static void conv3(size_t S, const float *restrict in, int cin, float *restrict out, int cout,
                  int n, const float *restrict w, const float *restrict b)
{
    for (int o = 0; o < cout; o++) {
        float *restrict op = out + (size_t)o * S * S;
        for (int y = 0; y < n; y++) {
            float *restrict orow = op + (size_t)(y + 1) * S + 1;
            for (int x = 0; x < n; x++)
                orow[x] = b[o];
        }
        for (int i = 0; i < cin; i++) {
            const float *restrict ip = in + (size_t)i * S * S;
            const float *k = w + ((size_t)o * cin + i) * 9;
            const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5],
                        k6 = k[6], k7 = k[7], k8 = k[8];
            for (int y = 0; y < n; y++) {
                float *restrict orow = op + (size_t)(y + 1) * S + 1;
                const float *r0 = ip + (size_t)y * S, *r1 = r0 + S, *r2 = r1 + S;
                for (int x = 0; x < n; x++)
                    orow[x] += k0 * r0[x] + k1 * r0[x + 1] + k2 * r0[x + 2] + k3 * r1[x] +
                               k4 * r1[x + 1] + k5 * r1[x + 2] + k6 * r2[x] + k7 * r2[x + 1] +
                               k8 * r2[x + 2];
            }
        }
        for (int y = 0; y < n; y++) {
            float *restrict orow = op + (size_t)(y + 1) * S + 1;
            for (int x = 0; x < n; x++)
                orow[x] = orow[x] > 0 ? orow[x] : 0;
        }
    }
}

/* 2x2 max pooling: n x n -> n/2 x n/2 per channel. */
static void pool2(size_t S, const float *restrict in, int ch, int n, float *restrict out)
{
    const int m = n / 2;
    for (int c = 0; c < ch; c++) {
        const float *ip = in + (size_t)c * S * S;
        float *op = out + (size_t)c * S * S;
        for (int y = 0; y < m; y++) {
            const float *a = ip + (size_t)(2 * y + 1) * S + 1, *bb = a + S;
            float *d = op + (size_t)(y + 1) * S + 1;
            for (int x = 0; x < m; x++) { /* ternaries: fmaxf may be a libm call */
                float u = a[2 * x] > a[2 * x + 1] ? a[2 * x] : a[2 * x + 1];
                float v = bb[2 * x] > bb[2 * x + 1] ? bb[2 * x] : bb[2 * x + 1];
                d[x] = u > v ? u : v;
            }
        }
    }
}

/* out = nearest-upsampled lo (n/2 -> n) + skip, per channel. */
static void up_add(size_t S, const float *restrict lo, const float *restrict skip, int ch, int n,
                   float *restrict out)
{
    for (int c = 0; c < ch; c++) {
        const float *lp = lo + (size_t)c * S * S, *sp = skip + (size_t)c * S * S;
        float *op = out + (size_t)c * S * S;
        for (int y = 0; y < n; y++) {
            const float *l = lp + (size_t)(y / 2 + 1) * S + 1;
            const float *s = sp + (size_t)(y + 1) * S + 1;
            float *d = op + (size_t)(y + 1) * S + 1;
            for (int x = 0; x < n; x++)
                d[x] = l[x / 2] + s[x];
        }
    }
}

/* One network (weights w) on the input already in c->in: n x n logits to out. */
static void run_net(cn_nerve_cnn *c, const float *w, int n, float *out)
{
    const size_t S = c->stride;
    const layer_shape *L = c->layers;
    const float *wp[CNN_NLAYERS], *bp[CNN_NLAYERS];
    for (int l = 0; l < CNN_NLAYERS; l++) {
        wp[l] = w;
        w += (size_t)L[l].cout * L[l].cin * L[l].k * L[l].k;
        bp[l] = w;
        w += L[l].cout;
    }
    const int n1 = n / 2, n2 = n / 4, n3 = n / 8;
    const int C0 = c->ch[0], C1 = c->ch[1], C2 = c->ch[2], C3 = c->ch[3];
    conv3(S, c->in, 2, c->t0, C0, n, wp[0], bp[0]);
    conv3(S, c->t0, C0, c->e0, C0, n, wp[1], bp[1]);
    pool2(S, c->e0, C0, n, c->p1);
    conv3(S, c->p1, C0, c->t1, C1, n1, wp[2], bp[2]);
    conv3(S, c->t1, C1, c->e1, C1, n1, wp[3], bp[3]);
    pool2(S, c->e1, C1, n1, c->p2);
    conv3(S, c->p2, C1, c->t2, C2, n2, wp[4], bp[4]);
    conv3(S, c->t2, C2, c->e2, C2, n2, wp[5], bp[5]);
    pool2(S, c->e2, C2, n2, c->p3);
    conv3(S, c->p3, C2, c->t3, C3, n3, wp[6], bp[6]);
    conv3(S, c->t3, C3, c->e3, C3, n3, wp[7], bp[7]);
    /* decoder: up(e3) + e2 -> t2 -> conv -> p2 (C1 planes) */
    up_add(S, c->e3, c->e2, C2, n2, c->t2);
    conv3(S, c->t2, C2, c->p2, C1, n2, wp[8], bp[8]);
    up_add(S, c->p2, c->e1, C1, n1, c->t1);
    conv3(S, c->t1, C1, c->p1, C0, n1, wp[9], bp[9]);
    up_add(S, c->p1, c->e0, C0, n, c->t0);
    conv3(S, c->t0, C0, c->e0, C0, n, wp[10], bp[10]);
    /* 1x1 head, no ReLU: logits */
    const float *hw = wp[11], hb = bp[11][0];
    for (int y = 0; y < n; y++) {
        float *o = out + (size_t)y * n;
        for (int x = 0; x < n; x++)
            o[x] = hb;
        for (int ch = 0; ch < C0; ch++) {
            const float *r = c->e0 + (size_t)ch * S * S + (size_t)(y + 1) * S + 1;
            const float k = hw[ch];
            for (int x = 0; x < n; x++)
                o[x] += k * r[x];
        }
    }
}

/* The network input (2 x n x n) into the padded planes. */
static void load_input(cn_nerve_cnn *c, const float *in, int n)
{
    const size_t S = c->stride;
    if (n != c->last_n) {
        /* the planes' borders must be zero for this n: clear everything once */
        float *bufs[] = {c->in, c->e0, c->t0, c->p1, c->t1, c->e1,
                         c->p2, c->t2, c->e2, c->p3, c->t3, c->e3};
        const int *ch = c->ch;
        const int nch[] = {2, ch[0], ch[0], ch[0] > ch[1] ? ch[0] : ch[1], ch[1], ch[1],
                           ch[1] > ch[2] ? ch[1] : ch[2], ch[2], ch[2], ch[2], ch[3], ch[3]};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            memset(bufs[i], 0, sizeof(float) * S * S * (size_t)nch[i]);
        c->last_n = n;
    }
    for (int ch = 0; ch < 2; ch++)
        for (int y = 0; y < n; y++)
            memcpy(c->in + (size_t)ch * S * S + (size_t)(y + 1) * S + 1,
                   in + ((size_t)ch * n + y) * n, sizeof(float) * (size_t)n);
}

/* Replica r of the model on the loaded input: r = 0 writes out, a further one
 * adds its logits, the last of several takes the mean. One order of operations
 * for the whole forward and the staged steps, so both give the same bits. */
static void run_replica(cn_nerve_cnn *c, int model, int r, int n, float *out)
{
    const float *w0 = c->weights + (size_t)model * (size_t)c->replicas * c->per_model;
    const size_t nn = (size_t)n * (size_t)n;
    if (r == 0) {
        run_net(c, w0, n, out);
    } else {
        run_net(c, w0 + (size_t)r * c->per_model, n, c->acc);
        for (size_t i = 0; i < nn; i++)
            out[i] += c->acc[i];
    }
    if (r > 0 && r == c->replicas - 1) {
        const float k = 1.0f / (float)c->replicas;
        for (size_t i = 0; i < nn; i++)
            out[i] *= k;
    }
}

int cn_nerve_cnn_forward(cn_nerve_cnn *c, int model, const float *in, int n, float *out)
{
    if (!c || !in || !out || model < 0 || model >= CN_NERVE_CNN_NMODELS || n < 8 || n > c->grid_n ||
        n % 8)
        return CN_EINVAL;
    c->st_next = -1; /* the planes are reused: pending steps are cancelled */
    load_input(c, in, n);
    /* an ensemble file holds several replicas per model: their mean logit */
    for (int r = 0; r < c->replicas; r++)
        run_replica(c, model, r, n, out);
    return CN_OK;
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

/* The crop around the seed, standardised, and the seed channel into c->xin; the
 * crop's geometry into c->st_*. */
static int crop_input(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h, double seed_x,
                      double seed_y)
{
    c->st_next = -1;
    if (cn_image_check(px, w, h) || w < 16 || h < 16 || model < 0 || model >= CN_NERVE_CNN_NMODELS)
        return CN_EINVAL;
    if (w > c->max_w || h > c->max_h)
        return CN_ERANGE;
    if (!isfinite(seed_x) || !isfinite(seed_y))
        return CN_EINVAL;
    if (seed_x < 0 || seed_y < 0 || seed_x > w - 1 || seed_y > h - 1)
        return CN_ERANGE;
    const int N = c->grid_n, w2 = w / 2, h2 = h / 2;
    int rc = cn_img_downsample2(px, w, h, c->half);
    if (rc)
        return rc;
    /* crop grid: N x N samples centred on the seed, step = side / N input pixels;
     * half-resolution coordinate of input x is (x - 0.5) / 2 */
    const float side = c->crop_frac * (float)(w < h ? w : h);
    const float step = side / (float)N, cx = (float)seed_x, cy = (float)seed_y;
    float *g = c->xin, *sd = c->xin + N * N;
    double sum = 0, sum2 = 0;
    for (int j = 0; j < N; j++) {
        float yy = cy + ((float)j - (float)(N - 1) / 2.0f) * step;
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
    if (sdv < c->std_floor)
        sdv = c->std_floor;
    const float c0 = (float)(N - 1) / 2.0f;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            g[j * N + i] = (g[j * N + i] - (float)mu) / sdv;
            float dx = (float)i - c0, dy = (float)j - c0;
            sd[j * N + i] = expf(-(dx * dx + dy * dy) / (2.0f * c->seed_sigma * c->seed_sigma));
        }
    c->st_w = w;
    c->st_h = h;
    c->st_model = model;
    c->st_cx = cx;
    c->st_cy = cy;
    return CN_OK;
}

/* From the crop's logits (c->logit, geometry c->st_*): the finder blended in, the
 * parts kept, the mask pasted back and the outline of the part nearest the seed. */
static void finish(cn_nerve_cnn *c, const cn_nerve_find *find, float weight, uint8_t *mask,
                   cn_pt2 *pts_px, int *n_out, float *confidence)
{
    const int N = c->grid_n, w = c->st_w, h = c->st_h;
    const float side = c->crop_frac * (float)(w < h ? w : h);
    const float step = side / (float)N, cx = c->st_cx, cy = c->st_cy;
    const float c0 = (float)(N - 1) / 2.0f;
    /* the finder's view of the same cells (its whole-frame context), blended in */
    if (find && weight > 0 && weight <= 1 && !isnan(cn_nerve_find_logit_at(find, cx, cy)))
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++) {
                float xx = cx + ((float)i - c0) * step, yy = cy + ((float)j - c0) * step;
                float lf = cn_nerve_find_logit_at(find, xx, yy);
                c->logit[j * N + i] = (1.0f - weight) * c->logit[j * N + i] + weight * lf;
            }
    double psum;
    int kept = keep_parts(c, c->logit, N, &psum);
    /* paste back: every input pixel of the crop samples the logits bilinearly */
    uint8_t *m = mask ? mask : c->mask_own;
    memset(m, 0, (size_t)w * h);
    const float hs = side / 2.0f;
    int x0 = (int)floorf(cx - hs), x1 = (int)ceilf(cx + hs);
    int y0 = (int)floorf(cy - hs), y1 = (int)ceilf(cy + hs);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w - 1) x1 = w - 1;
    if (y1 > h - 1) y1 = h - 1;
    const float inv = 1.0f / step, lim = (float)N - 0.5f;
    /* columns of the crop: logit cell and bilinear weight, computed once (the
     * clamp-then-bilinear of cn_img_sample on the float logit grid) */
    int cx0 = x1 + 1, cx1 = x0 - 1;
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
            float v = ((float)y - cy) * inv + c0;
            if (!(v > -0.5f && v < lim))
                continue;
            float vv = v < 0 ? 0 : (v > (float)(N - 1) ? (float)(N - 1) : v);
            int vi = (int)vv;
            if (vi > N - 2) vi = N - 2;
            const float fy = vv - (float)vi;
            const float *r0 = c->logit + vi * N, *r1 = r0 + N;
            uint8_t *mr = m + (size_t)y * w;
            for (int x = cx0; x <= cx1; x++) {
                int ui = c->col_i[x];
                float fx = c->col_f[x];
                float a = r0[ui] + fx * (r0[ui + 1] - r0[ui]);
                float b = r1[ui] + fx * (r1[ui + 1] - r1[ui]);
                mr[x] = (a + fy * (b - a)) > 0;
            }
        }
    /* outline: the target is one nerve, the kept part nearest the seed (the
     * operator points at the nerve to freeze; other parts stay in the mask). Per
     * angle from that part's centre, its farthest cell (star hull; half-cell
     * steps), in input pixels. */
    int target = -1;
    float ox = c0, oy = c0;
    if (kept > 0) {
        float dbest = 1e30f;
        for (int i = 0; i < N * N; i++)
            if (c->logit[i] > 0) {
                float dx = (float)(i % N) - c0, dy = (float)(i / N) - c0;
                if (dx * dx + dy * dy < dbest) {
                    dbest = dx * dx + dy * dy;
                    target = c->lab[i];
                }
            }
        double sx = 0, sy = 0;
        int cnt = 0;
        for (int i = 0; i < N * N; i++)
            if (c->lab[i] == target && c->logit[i] > 0) {
                sx += i % N;
                sy += i / N;
                cnt++;
            }
        ox = (float)(sx / cnt);
        oy = (float)(sy / cnt);
    }
    for (int a = 0; a < CN_NERVE_ANGLES; a++) {
        double th = 2.0 * M_PI * a / CN_NERVE_ANGLES;
        float ux = (float)cos(th), uy = (float)sin(th), best = 0;
        for (float r = 0.5f; target >= 0 && r <= (float)N * 1.4143f; r += 0.5f) {
            float gx = ox + ux * r + 0.5f, gy = oy + uy * r + 0.5f;
            if (gx < 0 || gy < 0 || gx >= (float)N || gy >= (float)N)
                break;
            int i = (int)gy * N + (int)gx;
            if (c->lab[i] == target && c->logit[i] > 0)
                best = r;
        }
        float x = cx + (ox - c0 + ux * best) * step, y = cy + (oy - c0 + uy * best) * step;
        pts_px[a].x = x < 0 ? 0 : (x > (float)(w - 1) ? (float)(w - 1) : x);
        pts_px[a].y = y < 0 ? 0 : (y > (float)(h - 1) ? (float)(h - 1) : y);
    }
    *n_out = CN_NERVE_ANGLES;
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
    int rc = crop_input(c, model, px, w, h, seed_x, seed_y);
    if (rc)
        return rc;
    rc = cn_nerve_cnn_forward(c, model, c->xin, c->grid_n, c->logit);
    if (rc)
        return rc;
    finish(c, find, weight, mask, pts_px, n_out, confidence);
    return CN_OK;
}

int cn_nerve_cnn_blend_begin(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h,
                             double seed_x, double seed_y)
{
    if (!c)
        return CN_EINVAL;
    int rc = crop_input(c, model, px, w, h, seed_x, seed_y);
    if (rc)
        return rc;
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
    /* the same operations as cn_nerve_cnn_forward, one replica per call (the input
     * is loaded again: cheap, and the planes are shared with any other run) */
    load_input(c, c->xin, c->grid_n);
    run_replica(c, c->st_model, c->st_next, c->grid_n, c->logit);
    if (++c->st_next < c->replicas)
        return CN_OK;
    c->st_next = -1;
    *done = true;
    finish(c, find, weight, mask, pts_px, n_out, confidence);
    return CN_OK;
}
