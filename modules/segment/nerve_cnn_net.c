/*
 * nerve_cnn_net.c - the seeded nerve CNN's network: its weights file decoded and
 * checked, and the forward pass through oneDNN (nerve_cnn.c crops around the
 * seed, runs this, and pastes the result back).
 *
 * Network (must match Net in the training script), channels C0..C3 per level
 * read from the weights file's header (C2 == C3): level 0 (n x n): conv 2->C0,
 * C0->C0; max-pool; level 1: C0->C1, C1->C1; pool; level 2: C1->C2, C2->C2; pool;
 * level 3: C2->C3, C3->C3; then up (nearest) + skip e2 -> conv C3->C1, up + e1 ->
 * C1->C0, up + e0 -> C0->C0, 1x1 C0->1. All 3x3 convolutions zero-padded, ReLU.
 *
 * This is the finder's layer pattern (nerve_net.c) with four levels and two input
 * planes, so the finder's oneDNN network runs it (nerve_net_new_layers); this
 * file only reads the CNNERVE1/2 file and averages an ensemble's replicas (and,
 * when the header's mirror flag asks, each network with itself on the crop
 * mirrored left-right: tried in the seventh session, +0.0045 on fold 4's four
 * seeded measures, not shipped; docs/validation.md). Why not
 * the plain-C loops it used to have: measured on the shipped network, 64x64 grid,
 * one pinned core, same minutes (2026-12-03, load 0.4): oneDNN p50 0.46-0.53 ms,
 * the loops 1.27-1.29 ms (modules/segment/tools/cnn_onednn_dev.c at commit
 * c67d405, which timed both); outlines and every `eval nerve` figure unchanged to
 * the third decimal, the PyTorch test vector within 1e-4. oneDNN's blocked layout
 * wants channel counts that are multiples of 8, as the finder's file does.
 */
#include "nerve_cnn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NMAX CN_NERVE_CNN_NMAX


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

/* Checks a CNNERVE1 or CNNERVE2 image (its header gives the network's channels,
 * crop geometry and, for CNNERVE2, the size normalisation; nothing about the
 * network is assumed but its layer pattern) and
 * decodes its weights into c (any host byte order). */
int cn__cnn_load_weights(cn_nerve_cnn *c, const unsigned char *b, size_t size, char *err,
                         size_t err_len)
{
    const bool v2 = size >= CNN_FILE_HEADER2 && memcmp(b, CNN_FILE_MAGIC2, 8) == 0;
    if (!v2 && (size < CNN_FILE_HEADER || memcmp(b, CNN_FILE_MAGIC, 8) != 0))
        return FAIL(CN_EPARSE, "not a CNNERVE1/CNNERVE2 weights file (%zu bytes)", size);
    const size_t head = v2 ? CNN_FILE_HEADER2 : CNN_FILE_HEADER;
    const uint32_t models = le32(b + 8), count = le32(b + 12), n = le32(b + 16);
    const uint32_t ch[4] = {le32(b + 32), le32(b + 36), le32(b + 40), le32(b + 44)};
    for (int k = 0; k < 4; k++)
        if (ch[k] < 8 || ch[k] > CNN_CMAX || ch[k] % 8)
            return FAIL(CN_EPARSE, "weights file: channels %u/%u/%u/%u out of range (8..%d, "
                        "each a multiple of 8)", ch[0], ch[1], ch[2], ch[3], CNN_CMAX);
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
    /* the finder's layer pattern with four levels and two input planes (nerve_net.c
     * holds its one definition; Net in the training script must match it) */
    const size_t per = nerve_net_weights_per_net(4, c->ch, 2);
    if (models == 0 || models % CN_NERVE_CNN_NMODELS || models > 16 * CN_NERVE_CNN_NMODELS ||
        count != per)
        return FAIL(CN_EPARSE,
                    "weights file does not hold its network: %u networks of %u weights "
                    "(channels %u/%u/%u/%u need %zu per network, %d x 1..16 networks)",
                    models, count, ch[0], ch[1], ch[2], ch[3], per, CN_NERVE_CNN_NMODELS);
    if (size != head + (size_t)models * per * 4)
        return FAIL(CN_EPARSE, "weights file has %zu bytes, expected %zu", size,
                    head + (size_t)models * per * 4);
    c->size_norm = 0;
    c->mirror = c->fov_crop = c->seed_first = false;
    if (v2) {
        c->size_norm = lef32(b + 48);
        const uint32_t flags = le32(b + 52);
        if (!(c->size_norm >= 4.0f && c->size_norm <= 32.0f) || le32(b + 56) || le32(b + 60))
            return FAIL(CN_EPARSE,
                        "weights file: size normalisation %g out of range (4..32 nerve radii) "
                        "or reserved header bytes not zero",
                        (double)c->size_norm);
        if (flags & ~(CNN_FLAG_MIRROR | CNN_FLAG_FOV | CNN_FLAG_SEED_FIRST))
            return FAIL(CN_EPARSE, "weights file: unknown header flags 0x%x (known: 0x%x mirror, "
                        "0x%x field of view, 0x%x finder blended into the first crop only)",
                        (unsigned)flags, (unsigned)CNN_FLAG_MIRROR, (unsigned)CNN_FLAG_FOV,
                        (unsigned)CNN_FLAG_SEED_FIRST);
        c->mirror = (flags & CNN_FLAG_MIRROR) != 0;
        c->fov_crop = (flags & CNN_FLAG_FOV) != 0;
        c->seed_first = (flags & CNN_FLAG_SEED_FIRST) != 0;
    }
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
    const unsigned char *p = b + head;
    for (size_t i = 0; i < per * models; i++, p += 4) {
        c->weights[i] = lef32(p);
        if (!isfinite(c->weights[i]))
            return FAIL(CN_EPARSE, "weights file: weight %zu is not finite", i);
    }
    /* the network itself runs through oneDNN, as the finder's does (nerve_net.c:
     * the same layer pattern, two input planes instead of one) */
    char why[200] = "";
    if (nerve_net_new_layers(4, c->ch, 2, (int)models, c->weights, &c->net, why, sizeof why) !=
        CN_OK)
        return FAIL(CN_EPARSE, "weights file: %s", why);
    free(c->weights); /* nerve_net keeps its own copy */
    c->weights = NULL;
    return CN_OK;
}

/* Replica r of the model on the input (2 x n x n): r = 0 writes out, a further
 * one adds its logits, the last of several takes the mean. One order of
 * operations for the whole forward and the staged steps, so both give the same
 * bits. */
int cn__cnn_run_replica(cn_nerve_cnn *c, int model, int r, const float *in, int n, float *out)
{
    const size_t nn = (size_t)n * (size_t)n;
    const int net = model * c->replicas + r;
    float *dst = r == 0 ? out : c->acc;
    int rc = nerve_net_forward(c->net, net, in, n, n, dst);
    if (rc != CN_OK)
        return rc;
    if (c->mirror) { /* the same network on the crop mirrored left-right, mirrored back */
        for (int p = 0; p < 2; p++)
            for (int y = 0; y < n; y++) {
                const float *src = in + (size_t)p * nn + (size_t)y * n;
                float *row = c->xin_m + (size_t)p * nn + (size_t)y * n;
                for (int x = 0; x < n; x++)
                    row[x] = src[n - 1 - x];
            }
        rc = nerve_net_forward(c->net, net, c->xin_m, n, n, c->acc_m);
        if (rc != CN_OK)
            return rc;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                dst[(size_t)y * n + x] =
                    (dst[(size_t)y * n + x] + c->acc_m[(size_t)y * n + (n - 1 - x)]) / 2.0f;
    }
    if (r > 0)
        for (size_t i = 0; i < nn; i++)
            out[i] += c->acc[i];
    if (r > 0 && r == c->replicas - 1) {
        const float k = 1.0f / (float)c->replicas;
        for (size_t i = 0; i < nn; i++)
            out[i] *= k;
    }
    return CN_OK;
}

int cn_nerve_cnn_forward(cn_nerve_cnn *c, int model, const float *in, int n, float *out)
{
    if (!c || !in || !out || model < 0 || model >= CN_NERVE_CNN_NMODELS || n < 8 || n > c->grid_n ||
        n % 8)
        return CN_EINVAL;
    c->st_next = -1; /* a forward of its own cancels pending steps */
    /* an ensemble file holds several replicas per model: their mean logit */
    for (int r = 0; r < c->replicas; r++) {
        int rc = cn__cnn_run_replica(c, model, r, in, n, out);
        if (rc != CN_OK)
            return rc;
    }
    return CN_OK;
}
