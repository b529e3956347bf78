/*
 * nerve_cnn_net.c - the seeded nerve CNN's network: its weights file decoded and
 * checked, and the forward pass in plain C11 (nerve_cnn.c crops around the seed,
 * runs this, and pastes the result back).
 *
 * Network (must match Net in the training script), channels C0..C3 per level
 * read from the weights file's header (C2 == C3): level 0 (n x n): conv 2->C0,
 * C0->C0; max-pool; level 1: C0->C1, C1->C1; pool; level 2: C1->C2, C2->C2; pool;
 * level 3: C2->C3, C3->C3; then up (nearest) + skip e2 -> conv C3->C1, up + e1 ->
 * C1->C0, up + e0 -> C0->C0, 1x1 C0->1. All 3x3 convolutions zero-padded, ReLU.
 *
 * Written by hand (the finder, nerve_net.c, runs through oneDNN): these loops run
 * one network of the shipped file in ~1.6 ms quiet, ~2.5 ms p50 in `cryonav bench
 * analysis` ("nerve CNN alone"); a oneDNN port of this network has not been
 * measured against them.
 *
 * Speed: activations are channel planes with a one-pixel zero border at a fixed
 * stride, so a 3x3 convolution is, per (out, in) channel pair, nine
 * multiply-adds over contiguous rows without any bounds test - loops the
 * compiler vectorises. Every buffer lives in the handle: no allocation per call.
 */
#include "nerve_cnn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NMAX CN_NERVE_CNN_NMAX


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
int cn__cnn_load_weights(cn_nerve_cnn *c, const unsigned char *b, size_t size, char *err,
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
void cn__cnn_load_input(cn_nerve_cnn *c, const float *in, int n)
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
void cn__cnn_run_replica(cn_nerve_cnn *c, int model, int r, int n, float *out)
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
    cn__cnn_load_input(c, in, n);
    /* an ensemble file holds several replicas per model: their mean logit */
    for (int r = 0; r < c->replicas; r++)
        cn__cnn_run_replica(c, model, r, n, out);
    return CN_OK;
}
