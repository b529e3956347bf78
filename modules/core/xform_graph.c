/* xform_graph.c - the transform repository: answers AToB for any two named frames.
 *
 * Frames are nodes, known transforms are edges (usable both ways by inversion).
 * A query finds the shortest chain of edges by breadth-first search and composes
 * them. Each edge keeps a ring of timed samples so a query at a frame's
 * acquisition time interpolates the tracker pose between the two samples that
 * bracket it (slerp + lerp), which is what makes a 20 ms tracker latency
 * harmless. Calibrations (ImageToProbe) are static edges valid at every time.
 * A mutex makes it safe to add samples on a device thread while the analysis
 * thread or the viewer queries. Capacities are fixed: no allocation after _new. */
#include "core/core.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 32
#define MAX_EDGES 48
#define HISTORY 64

typedef struct {
    int64_t t_ns;
    cn_mat4 m;
    bool valid;
} sample;

typedef struct {
    int from, to;
    bool is_static;
    int n, head; /* ring: samples in time order starting at (head - n) */
    sample s[HISTORY];
} edge;

struct cn_xform_graph {
    pthread_mutex_t mu;
    int n_nodes, n_edges;
    char nodes[MAX_NODES][CN_FRAME_NAME_MAX];
    edge edges[MAX_EDGES];
    int64_t max_extrapolate_ns;
};

int cn_xform_name_split(const char *name, char from[CN_FRAME_NAME_MAX], char to[CN_FRAME_NAME_MAX])
{
    if (!name)
        return CN_EINVAL;
    const char *split = NULL;
    for (const char *p = name + 1; p[0] && p[1] && p[2]; p++) {
        if (p[0] == 'T' && p[1] == 'o' && isupper((unsigned char)p[2])) {
            if (split)
                return CN_EINVAL; /* two candidate splits: ambiguous */
            split = p;
        }
    }
    if (!split)
        return CN_EINVAL;
    size_t la = (size_t)(split - name), lb = strlen(split + 2);
    if (la == 0 || lb == 0 || la >= CN_FRAME_NAME_MAX || lb >= CN_FRAME_NAME_MAX)
        return CN_EINVAL;
    memcpy(from, name, la);
    from[la] = 0;
    memcpy(to, split + 2, lb + 1);
    return CN_OK;
}

cn_xform_graph *cn_xform_graph_new(void)
{
    cn_xform_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->max_extrapolate_ns = 200000000LL;
    return g;
}

void cn_xform_graph_free(cn_xform_graph *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void cn_xform_graph_set_max_extrapolate(cn_xform_graph *g, int64_t ns) { g->max_extrapolate_ns = ns; }

int cn_xform_graph_edge_count(const cn_xform_graph *g) { return g->n_edges; }

static int node_find(const cn_xform_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i], name) == 0)
            return i;
    return -1;
}

static int node_get(cn_xform_graph *g, const char *name)
{
    int i = node_find(g, name);
    if (i >= 0 || g->n_nodes == MAX_NODES)
        return i;
    cn_strlcpy(g->nodes[g->n_nodes], name, CN_FRAME_NAME_MAX);
    return g->n_nodes++;
}

int cn_xform_graph_set(cn_xform_graph *g, const char *name, const cn_mat4 *m, int64_t t_ns, bool valid)
{
    char a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
    if (!g || !m || cn_xform_name_split(name, a, b) != CN_OK)
        return CN_EINVAL;
    if (valid && !cn_mat4_is_finite(m))
        return CN_EINVAL;
    pthread_mutex_lock(&g->mu);
    int ia = node_get(g, a), ib = node_get(g, b), rc = CN_OK;
    if (ia < 0 || ib < 0) {
        rc = CN_ENOMEM;
        goto out;
    }
    edge *e = NULL;
    bool inverted = false;
    for (int i = 0; i < g->n_edges; i++) {
        if (g->edges[i].from == ia && g->edges[i].to == ib)
            e = &g->edges[i];
        else if (g->edges[i].from == ib && g->edges[i].to == ia) {
            e = &g->edges[i];
            inverted = true; /* BToA already known: store the inverse on that edge */
        }
    }
    if (!e) {
        if (g->n_edges == MAX_EDGES) {
            rc = CN_ENOMEM;
            goto out;
        }
        e = &g->edges[g->n_edges++];
        memset(e, 0, sizeof *e);
        e->from = ia;
        e->to = ib;
        e->is_static = (t_ns == CN_XFORM_STATIC);
    }
    cn_mat4 mm = *m;
    if (inverted && valid && cn_mat4_invert(m, &mm) != CN_OK) {
        rc = CN_EINVAL;
        goto out;
    }
    if (t_ns == CN_XFORM_STATIC || e->is_static) {
        e->is_static = true;
        e->n = 1;
        e->head = 1;
        e->s[0] = (sample){0, mm, valid};
        goto out;
    }
    /* Insert keeping time order; samples normally arrive in order (O(1)). */
    sample ns = {t_ns, mm, valid};
    if (e->n < HISTORY)
        e->n++;
    int pos = e->head; /* where the new sample goes before any shifting */
    e->head = (e->head + 1) % HISTORY;
    int k = pos;
    for (int cnt = 1; cnt < e->n; cnt++) {
        int prev = (k - 1 + HISTORY) % HISTORY;
        if (e->s[prev].t_ns <= t_ns)
            break;
        e->s[k] = e->s[prev];
        k = prev;
    }
    e->s[k] = ns;
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* The edge's pose (from->to) at time t. */
static int edge_at(const cn_xform_graph *g, const edge *e, int64_t t, cn_mat4 *out)
{
    if (e->n == 0)
        return CN_EAGAIN;
    if (e->is_static) {
        if (!e->s[0].valid)
            return CN_EAGAIN;
        *out = e->s[0].m;
        return CN_OK;
    }
    int first = (e->head - e->n + HISTORY) % HISTORY;
    int last = (e->head - 1 + HISTORY) % HISTORY;
    const sample *s0 = &e->s[first], *s1 = &e->s[last];
    if (t <= s0->t_ns) {
        if (s0->t_ns - t > g->max_extrapolate_ns || !s0->valid)
            return CN_EAGAIN;
        *out = s0->m;
        return CN_OK;
    }
    if (t >= s1->t_ns) {
        if (t - s1->t_ns > g->max_extrapolate_ns || !s1->valid)
            return CN_EAGAIN;
        *out = s1->m;
        return CN_OK;
    }
    /* Binary search over the ring for the last sample at or before t. */
    int lo = 0, hi = e->n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (e->s[(first + mid) % HISTORY].t_ns <= t)
            lo = mid;
        else
            hi = mid;
    }
    const sample *a = &e->s[(first + lo) % HISTORY], *b = &e->s[(first + hi) % HISTORY];
    if (!a->valid || !b->valid)
        return CN_EAGAIN;
    double span = (double)(b->t_ns - a->t_ns);
    double s = span > 0 ? (double)(t - a->t_ns) / span : 0.0;
    *out = cn_mat4_interpolate(&a->m, &b->m, s);
    return CN_OK;
}

int cn_xform_graph_get(const cn_xform_graph *g, const char *from, const char *to, int64_t t_ns,
                       cn_mat4 *out)
{
    if (!g || !from || !to || !out)
        return CN_EINVAL;
    cn_xform_graph *gm = (cn_xform_graph *)g; /* the mutex is the only mutable part */
    pthread_mutex_lock(&gm->mu);
    int rc = CN_OK;
    int src = node_find(g, from), dst = node_find(g, to);
    if (strcmp(from, to) == 0) {
        *out = cn_mat4_identity();
        goto out;
    }
    if (src < 0 || dst < 0) {
        rc = CN_ENOENT;
        goto out;
    }
    /* BFS from src; remember which edge reached each node. */
    int prev_edge[MAX_NODES], queue[MAX_NODES], qh = 0, qt = 0;
    bool seen[MAX_NODES] = {false};
    seen[src] = true;
    queue[qt++] = src;
    while (qh < qt && !seen[dst]) {
        int u = queue[qh++];
        for (int i = 0; i < g->n_edges; i++) {
            const edge *e = &g->edges[i];
            int v = e->from == u ? e->to : e->to == u ? e->from : -1;
            if (v >= 0 && !seen[v]) {
                seen[v] = true;
                prev_edge[v] = i;
                queue[qt++] = v;
            }
        }
    }
    if (!seen[dst]) {
        rc = CN_ENOENT;
        goto out;
    }
    /* Walk back from dst composing: result = E_k * ... * E_1 (src -> dst). */
    cn_mat4 acc = cn_mat4_identity();
    for (int v = dst; v != src;) {
        const edge *e = &g->edges[prev_edge[v]];
        cn_mat4 m;
        if ((rc = edge_at(g, e, t_ns, &m)) != CN_OK)
            goto out;
        int u;
        if (e->to == v) { /* traversed forward: from u to v */
            u = e->from;
        } else {          /* traversed backward: need the inverse */
            cn_mat4 inv;
            if (cn_mat4_invert(&m, &inv) != CN_OK) {
                rc = CN_EINVAL;
                goto out;
            }
            m = inv;
            u = e->to;
        }
        acc = cn_mat4_mul(&acc, &m);
        v = u;
    }
    *out = acc;
out:
    pthread_mutex_unlock(&gm->mu);
    return rc;
}

int cn_xform_graph_get_named(const cn_xform_graph *g, const char *name, int64_t t_ns, cn_mat4 *out)
{
    char a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
    if (cn_xform_name_split(name, a, b) != CN_OK)
        return CN_EINVAL;
    return cn_xform_graph_get(g, a, b, t_ns, out);
}
