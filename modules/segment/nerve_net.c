/*
 * nerve_net.c - the nerve finder's U-Net forward pass, through oneDNN.
 *
 * Why oneDNN and not plain-C kernels (the seeded crop CNN had them until it moved
 * here too, nerve_cnn_net.c): measured on
 * this network over a 96 x 128 grid (the 640 x 480 live frame), one thread,
 * one pinned core, same machine and minute (2026-12-03): oneDNN 1.31 ms per
 * forward pass (its JIT picks AVX2/AVX-512 at run time, blocked nChw8c
 * layout), the plain-C 3x3 loops 3.43 ms as this project builds them
 * (baseline x86-64, SSE2) and 1.71 ms even when compiled for AVX2+FMA. The
 * one piece oneDNN does slowly here, nearest upsampling with the skip added
 * (its resampling with a binary post-op ran a reference kernel: 7.7 ms), is a
 * plain loop over the blocked layout below (0.1 ms).
 *
 * Network (layer_table() of tools/train/train_nerve_net.py): L levels with
 * channels ch[0..L-1]; encoder level l: two 3x3 conv + ReLU (the deepest
 * level's second conv returns to ch[L-2] channels), 2x2 max pooling between
 * levels; decoder level l = L-2..0: nearest 2x upsampling + the encoder's
 * output at that level, one 3x3 conv + ReLU to ch[l-1] (ch[0] at level 0);
 * then a 1x1 head to one logit per cell (padded to 8 outputs, only the first
 * is used, so every tensor stays in one blocked layout).
 *
 * Primitives depend on the grid size: a small cache keeps the plans of the
 * last few sizes (a live session has one; an evaluation a handful). A plan
 * holds its primitives, activations and the weights reordered for its
 * convolutions; switching the model re-runs only the weight reorders.
 *
 * An ensemble (the finder file's "members", tenth session): a slot may hold
 * several networks of one recipe trained from different seeds; a pass runs them
 * one after the other on the same input (the slices spread over all of them) and
 * gives the mean of their logits, which everything downstream takes as one
 * network's. Each member's turn re-runs the weight reorders (see plan_load_model).
 */
#include "nerve_net.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NPLANS 4
#define MAX_OPS (4 * NET_MAX_LEVELS + 4)
#define MAX_MEMS (6 * NET_MAX_LEVELS + 8)

enum { OP_PRIM, OP_UPADD };

typedef struct {
    int kind;
    double macs;                 /* multiply-adds (0 for pooling / upsampling) */
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[4];
    dnnl_memory_t lo, skip, dst; /* OP_UPADD */
    int c, h, w;                 /* OP_UPADD: output size */
} net_op;

typedef struct {
    dnnl_memory_t user_w, conv_w, user_b;
    dnnl_primitive_t reorder;
    size_t w_off, b_off; /* in a network's weights (head: in the padded copy) */
    bool head;
} net_conv;

typedef struct {
    int gh, gw, model;
    uint64_t used;
    double total_macs;
    int nops, nconv, nmems;
    net_op ops[MAX_OPS];
    net_conv conv[NET_MAX_LAYERS + 1];
    dnnl_memory_t mems[MAX_MEMS];
    dnnl_memory_t in, out;
} net_plan;

struct nerve_net {
    nerve_net_info info;
    int nlayers;
    int cin[NET_MAX_LAYERS], cout[NET_MAX_LAYERS];
    float *weights;   /* networks x per_net */
    float *head;      /* networks x (8 x ch[0] weights + 8 biases): the padded head */
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    net_plan *plans[NPLANS];
    uint64_t clock;
    /* a pass in progress (nerve_net_start / nerve_net_continue) */
    net_plan *run;
    int next_op;
    int slot, member;  /* the pass's slot and the member now running */
    int summed;        /* members whose logits are in acc */
    float *acc;        /* members > 1: the sum of the members' logits so far */
    size_t acc_cap;
};

#define FAIL(rc, ...) (cn_errf(err, err_len, "nerve finder", __VA_ARGS__), (rc))

/* The 3x3 layers of L levels (train_nerve_net.py layer_table). */
static int layer_table(const int *ch, int L, int in_ch, int *cin, int *cout)
{
    int n = 0;
    cin[n] = in_ch, cout[n++] = ch[0];
    cin[n] = ch[0], cout[n++] = ch[0];
    for (int l = 1; l < L - 1; l++) {
        cin[n] = ch[l - 1], cout[n++] = ch[l];
        cin[n] = ch[l], cout[n++] = ch[l];
    }
    cin[n] = ch[L - 2], cout[n++] = ch[L - 1];
    cin[n] = ch[L - 1], cout[n++] = ch[L - 2];
    for (int l = L - 2; l > 0; l--)
        cin[n] = ch[l], cout[n++] = ch[l - 1];
    cin[n] = ch[0], cout[n++] = ch[0];
    return n;
}

/* Weights of one network of the layer table: every 3x3 layer's weights and
 * biases, then the 1x1 head's. */
static size_t per_net_of(const int *cin, const int *cout, int nlayers, int ch0)
{
    size_t per = (size_t)ch0 + 1; /* head */
    for (int l = 0; l < nlayers; l++)
        per += (size_t)cout[l] * cin[l] * 9 + (size_t)cout[l];
    return per;
}

size_t nerve_net_weights_per_net(int levels, const int *ch, int in_ch)
{
    int cin[NET_MAX_LAYERS], cout[NET_MAX_LAYERS];
    if (!ch || levels < 3 || levels > NET_MAX_LEVELS || in_ch < 1)
        return 0;
    return per_net_of(cin, cout, layer_table(ch, levels, in_ch, cin, cout), ch[0]);
}

/* The head padded to 8 outputs (output 0 is the network's, 1..7 zero) and the
 * oneDNN engine: the common end of both constructors. */
static int net_finish(nerve_net *n, char *err, size_t err_len)
{
    const size_t per = (size_t)n->info.per_net, c0 = (size_t)n->info.ch[0], hs = 8 * c0 + 8;
    for (int k = 0; k < n->info.networks * n->info.members; k++) {
        const float *src = n->weights + (size_t)k * per + per - (c0 + 1);
        float *dst = n->head + (size_t)k * hs;
        memcpy(dst, src, sizeof(float) * c0);
        dst[8 * c0] = src[c0];
    }
    if (dnnl_engine_create(&n->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&n->strm, n->eng, dnnl_stream_default_flags) != dnnl_success)
        return FAIL(CN_EIO, "oneDNN: cannot create a CPU engine");
    return CN_OK;
}

int nerve_net_adopt(const nerve_net_info *info, float *weights, nerve_net **out, char *err,
                    size_t err_len)
{
    *out = NULL;
    nerve_net *n = calloc(1, sizeof *n);
    if (!n) {
        free(weights);
        return FAIL(CN_ENOMEM, "out of memory");
    }
    n->info = *info;
    n->weights = weights;
    n->nlayers = layer_table(info->ch, info->levels, info->in_ch, n->cin, n->cout);
    const size_t total = (size_t)info->networks * (size_t)info->members;
    if ((size_t)info->per_net != per_net_of(n->cin, n->cout, n->nlayers, info->ch[0])) {
        nerve_net_free(n);
        return FAIL(CN_EINVAL, "%d weights per network do not fit the layer pattern",
                    info->per_net);
    }
    n->head = calloc(total * (8 * (size_t)info->ch[0] + 8), sizeof(float));
    if (!n->head) {
        nerve_net_free(n);
        return FAIL(CN_ENOMEM, "out of memory for the weights");
    }
    int rc = net_finish(n, err, err_len);
    if (rc != CN_OK) {
        nerve_net_free(n);
        return rc;
    }
    *out = n;
    return CN_OK;
}

int nerve_net_new_layers(int levels, const int *ch, int in_ch, int networks, const float *weights,
                         nerve_net **out, char *err, size_t err_len)
{
    *out = NULL;
    if (levels < 3 || levels > NET_MAX_LEVELS || in_ch < 1 || in_ch > 8 || networks < 1 ||
        networks > 1024 || !ch || !weights)
        return FAIL(CN_EINVAL, "network shape out of range: %d levels, %d input channels, %d "
                    "networks", levels, in_ch, networks);
    nerve_net_info in = {0};
    in.networks = networks;
    in.members = 1;
    in.levels = levels;
    in.in_ch = in_ch;
    for (int l = 0; l < levels; l++) {
        if (ch[l] < 8 || ch[l] > 256 || ch[l] % 8)
            return FAIL(CN_EINVAL, "level %d has %d channels (8..256, a multiple of 8)", l, ch[l]);
        in.ch[l] = ch[l];
    }
    const size_t per = nerve_net_weights_per_net(levels, in.ch, in_ch);
    in.per_net = (int)per;
    float *w = malloc(sizeof(float) * per * (size_t)networks);
    if (!w)
        return FAIL(CN_ENOMEM, "out of memory for the weights");
    memcpy(w, weights, sizeof(float) * per * (size_t)networks);
    return nerve_net_adopt(&in, w, out, err, err_len);
}

static void plan_free(net_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nops; i++)
        if (p->ops[i].kind == OP_PRIM)
            dnnl_primitive_destroy(p->ops[i].prim);
    for (int i = 0; i < p->nconv; i++) {
        dnnl_primitive_destroy(p->conv[i].reorder);
        dnnl_memory_destroy(p->conv[i].user_w);
        dnnl_memory_destroy(p->conv[i].conv_w);
        dnnl_memory_destroy(p->conv[i].user_b);
    }
    for (int i = 0; i < p->nmems; i++)
        dnnl_memory_destroy(p->mems[i]);
    free(p);
}

void nerve_net_free(nerve_net *n)
{
    if (!n)
        return;
    for (int i = 0; i < NPLANS; i++)
        plan_free(n->plans[i]);
    if (n->strm)
        dnnl_stream_destroy(n->strm);
    if (n->eng)
        dnnl_engine_destroy(n->eng);
    free(n->weights);
    free(n->head);
    free(n->acc);
    free(n);
}

/* ------------------------------------------------------------------ building a plan */

#define CK(x)                                                                                      \
    do {                                                                                           \
        if ((x) != dnnl_success)                                                                   \
            return false;                                                                          \
    } while (0)

static bool new_mem(nerve_net *n, net_plan *p, int c, int h, int w, dnnl_format_tag_t tag, dnnl_memory_t *m)
{
    dnnl_memory_desc_t d;
    dnnl_dims_t dims = {1, c, h, w};
    if (p->nmems >= MAX_MEMS)
        return false;
    CK(dnnl_memory_desc_init_by_tag(&d, 4, dims, dnnl_f32, tag));
    CK(dnnl_memory_create(m, &d, n->eng, DNNL_MEMORY_ALLOCATE));
    p->mems[p->nmems++] = *m;
    return true;
}

static const dnnl_memory_desc_t *md_of(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *d = NULL;
    dnnl_memory_get_memory_desc(m, &d);
    return d;
}

/* conv k x k (3: padding 1), cin -> cout (+ ReLU unless head), into a new nChw8c memory */
static bool add_conv(nerve_net *n, net_plan *p, dnnl_memory_t src, int cin, int cout, int k,
                     bool relu, size_t w_off, size_t b_off, bool head, int h, int w,
                     dnnl_memory_t *dst)
{
    if (!new_mem(n, p, cout, h, w, dnnl_nChw8c, dst))
        return false;
    dnnl_memory_desc_t wd_any, wd_user, bd;
    dnnl_dims_t wdims = {cout, cin, k, k}, bdims = {cout};
    CK(dnnl_memory_desc_init_by_tag(&wd_any, 4, wdims, dnnl_f32, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wd_user, 4, wdims, dnnl_f32, dnnl_oihw));
    CK(dnnl_memory_desc_init_by_tag(&bd, 1, bdims, dnnl_f32, dnnl_x));
    dnnl_convolution_desc_t cd;
    dnnl_dims_t st = {1, 1}, pad = {k / 2, k / 2};
    CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                          md_of(src), &wd_any, &bd, md_of(*dst), st, pad, pad));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && relu)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &cd, attr, n->eng, NULL) == dnnl_success;
    net_conv *cv = &p->conv[p->nconv];
    net_op *op = &p->ops[p->nops];
    memset(cv, 0, sizeof *cv);
    if (ok) {
        const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        ok = dnnl_memory_create(&cv->conv_w, wq, n->eng, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
             dnnl_memory_create(&cv->user_w, &wd_user, n->eng, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&cv->user_b, &bd, n->eng, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&rpd, &wd_user, n->eng, wq, n->eng, NULL) ==
                 dnnl_success &&
             dnnl_primitive_create(&cv->reorder, rpd) == dnnl_success &&
             dnnl_primitive_create(&op->prim, pd) == dnnl_success;
    }
    if (ok) {
        cv->w_off = w_off;
        cv->b_off = b_off;
        cv->head = head;
        p->nconv++;
        op->kind = OP_PRIM;
        op->macs = (double)cout * cin * k * k * h * w;
        p->total_macs += op->macs;
        op->nargs = 4;
        op->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
        op->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, cv->conv_w};
        op->args[2] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, cv->user_b};
        op->args[3] = (dnnl_exec_arg_t){DNNL_ARG_DST, *dst};
        p->nops++;
    } else {
        /* what was made for this layer but not yet owned by the plan */
        dnnl_primitive_destroy(cv->reorder);
        dnnl_memory_destroy(cv->conv_w);
        dnnl_memory_destroy(cv->user_w);
        dnnl_memory_destroy(cv->user_b);
    }
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return ok;
}

static bool add_pool(nerve_net *n, net_plan *p, dnnl_memory_t src, int c, int h, int w,
                     dnnl_memory_t *dst)
{
    if (!new_mem(n, p, c, h / 2, w / 2, dnnl_nChw8c, dst))
        return false;
    dnnl_pooling_v2_desc_t d;
    dnnl_dims_t st = {2, 2}, k = {2, 2}, dil = {0, 0}, pad = {0, 0};
    CK(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, md_of(src),
                                         md_of(*dst), st, k, dil, pad, pad));
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &d, NULL, n->eng, NULL));
    net_op *op = &p->ops[p->nops];
    bool ok = dnnl_primitive_create(&op->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (!ok)
        return false;
    op->kind = OP_PRIM;
    op->nargs = 2;
    op->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
    op->args[1] = (dnnl_exec_arg_t){DNNL_ARG_DST, *dst};
    p->nops++;
    return true;
}

static bool add_upadd(nerve_net *n, net_plan *p, dnnl_memory_t lo, dnnl_memory_t skip, int c, int h, int w,
                      dnnl_memory_t *dst)
{
    if (!new_mem(n, p, c, h, w, dnnl_nChw8c, dst))
        return false;
    net_op *op = &p->ops[p->nops++];
    op->kind = OP_UPADD;
    op->lo = lo;
    op->skip = skip;
    op->dst = *dst;
    op->c = c;
    op->h = h;
    op->w = w;
    return true;
}

static net_plan *plan_new(nerve_net *n, int gh, int gw)
{
    net_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->gh = gh;
    p->gw = gw;
    p->model = -1;
    const int L = n->info.levels, *ch = n->info.ch;
    size_t off = 0, per = (size_t)n->info.per_net;
    dnnl_memory_t x, skips[NET_MAX_LEVELS];
    bool ok = new_mem(n, p, n->info.in_ch, gh, gw, dnnl_nchw, &p->in);
    x = p->in;
    int h = gh, w = gw, li = 0;
#define CONV(relu, head)                                                                           \
    do {                                                                                           \
        size_t wo = off, bo = off + (size_t)n->cout[li] * n->cin[li] * 9;                          \
        off = bo + (size_t)n->cout[li];                                                            \
        ok = ok && add_conv(n, p, x, n->cin[li], n->cout[li], 3, relu, wo, bo, head, h, w, &x);    \
        li++;                                                                                      \
    } while (0)
    for (int l = 0; l < L && ok; l++) {
        if (l) {
            ok = add_pool(n, p, x, n->cout[li - 1], h, w, &x);
            h /= 2;
            w /= 2;
        }
        CONV(true, false);
        CONV(true, false);
        skips[l] = x;
    }
    for (int l = L - 2; l >= 0 && ok; l--) {
        h *= 2;
        w *= 2;
        ok = add_upadd(n, p, x, skips[l], ch[l], h, w, &x);
        CONV(true, false);
    }
#undef CONV
    /* the head: 1x1, ch[0] -> 8 (padded), no ReLU; weights in n->head */
    ok = ok && off + (size_t)ch[0] + 1 == per &&
         add_conv(n, p, x, ch[0], 8, 1, false, 0, 8 * (size_t)ch[0], true, h, w, &p->out);
    if (!ok) {
        plan_free(p);
        return NULL;
    }
    return p;
}

/* Reorders model k's weights into the plan's convolutions. */
static bool plan_load_model(nerve_net *n, net_plan *p, int k)
{
    float *w = n->weights + (size_t)k * (size_t)n->info.per_net;
    float *hd = n->head + (size_t)k * (8 * (size_t)n->info.ch[0] + 8);
    for (int i = 0; i < p->nconv; i++) {
        net_conv *cv = &p->conv[i];
        float *base = cv->head ? hd : w;
        CK(dnnl_memory_set_data_handle(cv->user_w, base + cv->w_off));
        CK(dnnl_memory_set_data_handle(cv->user_b, base + cv->b_off));
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, cv->user_w}, {DNNL_ARG_TO, cv->conv_w}};
        CK(dnnl_primitive_execute(cv->reorder, n->strm, 2, a));
    }
    CK(dnnl_stream_wait(n->strm));
    p->model = k;
    return true;
}

/* out = nearest 2x upsampling of lo + skip, nChw8c (8-channel blocks). */
static void run_upadd(const net_op *op)
{
    float *lo = NULL, *sk = NULL, *d = NULL;
    dnnl_memory_get_data_handle(op->lo, (void **)&lo);
    dnnl_memory_get_data_handle(op->skip, (void **)&sk);
    dnnl_memory_get_data_handle(op->dst, (void **)&d);
    const int h = op->h, w = op->w, h2 = h / 2, w2 = w / 2;
    for (int cb = 0; cb < op->c / 8; cb++)
        for (int y = 0; y < h; y++) {
            const float *l = lo + ((size_t)(cb * h2 + y / 2) * w2) * 8;
            const float *s = sk + ((size_t)(cb * h + y) * w) * 8;
            float *o = d + ((size_t)(cb * h + y) * w) * 8;
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 8; k++)
                    o[x * 8 + k] = l[(x / 2) * 8 + k] + s[x * 8 + k];
        }
}

int nerve_net_start(nerve_net *n, int model, const float *in, int gh, int gw, double *macs)
{
    /* the analysis owns one core: oneDNN's OpenMP team is the calling thread alone,
     * for the weight reorders below as for the pass (an idle second OpenMP thread
     * spins: measured, it took 80 % of the pinned core in `bench analysis`) */
    omp_set_num_threads(1);
    const int unit = n ? 1 << (n->info.levels - 1) : 1;
    if (n)
        n->run = NULL;
    if (!n || !in || model < 0 || model >= n->info.networks || gh < unit || gw < unit ||
        gh % unit || gw % unit || gh > 4096 || gw > 4096)
        return CN_EINVAL;
    net_plan *p = NULL;
    int slot = 0;
    for (int i = 0; i < NPLANS; i++) {
        if (n->plans[i] && n->plans[i]->gh == gh && n->plans[i]->gw == gw) {
            p = n->plans[i];
            break;
        }
        if (!n->plans[i] || (n->plans[slot] && n->plans[i]->used < n->plans[slot]->used))
            slot = i;
    }
    if (!p) {
        p = plan_new(n, gh, gw);
        if (!p)
            return CN_ENOMEM;
        plan_free(n->plans[slot]);
        n->plans[slot] = p;
    }
    p->used = ++n->clock;
    const int members = n->info.members, first = model * members;
    if (members > 1 && n->acc_cap < (size_t)gh * gw) {
        float *a = realloc(n->acc, sizeof(float) * (size_t)gh * gw);
        if (!a)
            return CN_ENOMEM;
        n->acc = a;
        n->acc_cap = (size_t)gh * gw;
    }
    if (p->model != first && !plan_load_model(n, p, first)) {
        p->model = -1;
        return CN_EIO;
    }
    /* the input stays in place for every member: no operation writes to it */
    float *buf = NULL;
    dnnl_memory_get_data_handle(p->in, (void **)&buf);
    memcpy(buf, in, sizeof(float) * (size_t)gh * gw * (size_t)n->info.in_ch);
    n->run = p;
    n->next_op = 0;
    n->slot = model;
    n->member = 0;
    n->summed = 0;
    if (macs)
        *macs = p->total_macs * members;
    return CN_OK;
}

int nerve_net_continue(nerve_net *n, double max_macs, bool *done)
{
    *done = false;
    if (!n || !n->run)
        return CN_EINVAL;
    omp_set_num_threads(1); /* (see nerve_net_start) */
    net_plan *p = n->run;
    const int members = n->info.members;
    double spent = 0;
    for (;;) {
        if (n->next_op == p->nops) {
            /* a member finished: its logits into the sum, then the next member */
            if (members == 1)
                break;
            if (n->summed == n->member) {
                if (dnnl_stream_wait(n->strm) != dnnl_success) {
                    n->run = NULL;
                    return CN_EIO;
                }
                const float *buf = NULL;
                dnnl_memory_get_data_handle(p->out, (void **)&buf);
                const size_t cells = (size_t)p->gh * p->gw;
                for (size_t i = 0; i < cells; i++)
                    n->acc[i] = (n->member ? n->acc[i] : 0.0f) + buf[i * 8];
                n->summed++;
            }
            if (n->member + 1 == members)
                break;
            n->member++;
            n->next_op = 0;
        }
        const net_op *op = &p->ops[n->next_op];
        if (spent > 0 && spent + op->macs > max_macs)
            break; /* the rest on the next call (at least one operation per call) */
        const int want = n->slot * members + n->member;
        if (p->model != want && !plan_load_model(n, p, want)) {
            p->model = -1;
            n->run = NULL;
            return CN_EIO;
        }
        if (op->kind == OP_UPADD)
            run_upadd(op);
        else if (dnnl_primitive_execute(op->prim, n->strm, op->nargs, op->args) != dnnl_success) {
            n->run = NULL;
            return CN_EIO;
        }
        spent += op->macs;
        n->next_op++;
    }
    if (dnnl_stream_wait(n->strm) != dnnl_success) {
        n->run = NULL;
        return CN_EIO;
    }
    *done = n->next_op == p->nops && n->member + 1 == members;
    return CN_OK;
}

int nerve_net_output(nerve_net *n, float *out)
{
    if (!n || !n->run || n->next_op != n->run->nops || n->member + 1 != n->info.members || !out)
        return CN_EINVAL;
    const net_plan *p = n->run;
    if (n->info.members > 1) {
        /* the members' mean (summed in member order: the same bits every run) */
        const float inv = 1.0f / (float)n->info.members;
        for (size_t i = 0; i < (size_t)p->gh * p->gw; i++)
            out[i] = n->acc[i] * inv;
        return CN_OK;
    }
    float *buf = NULL;
    dnnl_memory_get_data_handle(p->out, (void **)&buf);
    for (size_t i = 0; i < (size_t)p->gh * p->gw; i++)
        out[i] = buf[i * 8]; /* channel 0 of the first 8-channel block */
    return CN_OK;
}

int nerve_net_forward(nerve_net *n, int model, const float *in, int gh, int gw, float *out)
{
    if (!out)
        return CN_EINVAL;
    int rc = nerve_net_start(n, model, in, gh, gw, NULL);
    bool done = false;
    if (rc == CN_OK)
        rc = nerve_net_continue(n, INFINITY, &done);
    if (rc == CN_OK)
        rc = nerve_net_output(n, out);
    return rc;
}
