/*
 * nerve_find_parts.c - what the nerve finder's logits say (nerve_find.c runs the
 * network): its confident parts, the one the operator follows, and that part's
 * outline and mask.
 *
 * Parts: 8-connected cells with logit > 0, specks dropped. Automatic mode
 * follows the part with the largest probability mass; the operator's point
 * (seeded mode) picks the part nearest to it instead, if one comes within the
 * seed distance. Parts within the cluster distance of the chosen one are kept
 * with it (a plexus shows as several trunks). The chosen part is "found" when
 * its peak probability reaches the threshold chosen on the validation split;
 * that peak is the confidence. The mask pastes the kept cells' logits back
 * bilinearly; the outline is the chosen part's, cast as rays from its centroid
 * over the bilinear logit field.
 *
 * Split from nerve_find.c, which keeps the grid and the network's pass: these are
 * read once a pass is done, on its logits. Nothing here allocates (every buffer is
 * cn_nerve_find_new's).
 */
#include "nerve_find_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ parts */

void cn__nf_find_parts(cn_nerve_find *f)
{
    const int gh = f->gh, gw = f->gw, n = gh * gw;
    int *lab = f->lab, *st = f->stack;
    for (int i = 0; i < n; i++)
        lab[i] = f->logit[i] > 0 ? 0 : -1;
    f->nparts = 0;
    int nl = 0;
    for (int i = 0; i < n; i++) {
        if (lab[i] != 0)
            continue;
        int sp = 0, head = 0;
        lab[i] = ++nl;
        st[sp++] = i;
        part pt = {.label = nl, .x0 = gw, .y0 = gh, .x1 = -1, .y1 = -1};
        while (head < sp) {
            int p = st[head++], py = p / gw, pxx = p % gw;
            float pr = 1.0f / (1.0f + expf(-f->logit[p]));
            pt.area++;
            pt.mass += pr;
            pt.cx += pxx;
            pt.cy += py;
            if (pr > pt.peak) pt.peak = pr;
            if (pxx < pt.x0) pt.x0 = pxx;
            if (pxx > pt.x1) pt.x1 = pxx;
            if (py < pt.y0) pt.y0 = py;
            if (py > pt.y1) pt.y1 = py;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = pxx + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= gw || qy >= gh)
                        continue;
                    int q = qy * gw + qx;
                    if (lab[q] == 0) {
                        lab[q] = nl;
                        st[sp++] = q;
                    }
                }
        }
        if (pt.area < MIN_PART || f->nparts >= MAX_PARTS)
            continue;
        pt.cx /= pt.area;
        pt.cy /= pt.area;
        f->parts[f->nparts++] = pt;
    }
}

/* Smallest distance (cells) from (x, y) to a cell of part p. */
static double dist_to_part(const cn_nerve_find *f, const part *p, double x, double y)
{
    double best = INFINITY;
    for (int j = p->y0; j <= p->y1; j++)
        for (int i = p->x0; i <= p->x1; i++)
            if (f->lab[j * f->gw + i] == p->label) {
                double d = (i - x) * (i - x) + (j - y) * (j - y);
                if (d < best)
                    best = d;
            }
    return sqrt(best);
}

#define EDT_FAR 1e20f /* "no part cell" in the distance transform (finite: no inf - inf) */

/* 1-D squared Euclidean distance transform of the samples g[0..n) at stride st
 * (0 on the part, EDT_FAR elsewhere), in place (Felzenszwalb-Huttenlocher). */
static void edt_1d(float *g, int n, size_t st, float *d, int *v, float *z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -INFINITY;
    z[1] = INFINITY;
    for (int q = 1; q < n; q++) {
        const double gq = g[(size_t)q * st];
        double sp;
        for (;;) {
            const int r = v[k];
            const double gr = g[(size_t)r * st];
            sp = ((gq + (double)q * q) - (gr + (double)r * r)) / (2.0 * (q - r));
            if (sp <= z[k] && k > 0)
                k--;
            else
                break;
        }
        k++; /* z[0] = -inf: the first parabola is never popped */
        v[k] = q;
        z[k] = (float)sp;
        z[k + 1] = INFINITY;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < (float)q)
            k++;
        d[q] = (float)(q - v[k]) * (float)(q - v[k]) + g[(size_t)v[k] * st];
    }
    for (int q = 0; q < n; q++)
        g[(size_t)q * st] = d[q];
}

/* f->dist = squared distance (cells^2) of every cell to the nearest cell of part p:
 * exact, O(cells), whatever the parts' sizes. */
static void distance_to(cn_nerve_find *f, const part *p)
{
    const int gw = f->gw, gh = f->gh;
    for (int i = 0; i < gw * gh; i++)
        f->dist[i] = f->lab[i] == p->label ? 0.0f : EDT_FAR;
    for (int x = 0; x < gw; x++)
        edt_1d(f->dist + x, gh, (size_t)gw, f->edt_d, f->edt_v, f->edt_z);
    for (int y = 0; y < gh; y++)
        edt_1d(f->dist + (size_t)y * gw, gw, 1, f->edt_d, f->edt_v, f->edt_z);
}

/* Bilinear sample of the field at cell coordinates (clamped). */
static float field_at(const cn_nerve_find *f, float u, float v)
{
    const int gw = f->gw, gh = f->gh;
    u = u < 0 ? 0 : u > (float)(gw - 1) ? (float)(gw - 1) : u;
    v = v < 0 ? 0 : v > (float)(gh - 1) ? (float)(gh - 1) : v;
    int ui = (int)u, vi = (int)v;
    if (ui > gw - 2) ui = gw - 2;
    if (vi > gh - 2) vi = gh - 2;
    const float fu = u - (float)ui, fv = v - (float)vi;
    const float *r0 = f->field + (size_t)vi * gw, *r1 = r0 + gw;
    float a = r0[ui] + fu * (r0[ui + 1] - r0[ui]), b = r1[ui] + fu * (r1[ui + 1] - r1[ui]);
    return a + fv * (b - a);
}

/* A star hull of part p (f->field holding p alone): per angle the farthest point on
 * a ray from its centroid where the bilinear field is > 0 (quarter-cell steps), in
 * pixels. Only where the traced outline has no pixel to start from. */
static void star_hull(cn_nerve_find *f, const part *p, cn_pt2 *pts)
{
    const int gw = f->gw, gh = f->gh;
    const double rmax = hypot(p->x1 - p->x0 + 2, p->y1 - p->y0 + 2);
    for (int a = 0; a < CN_NERVE_ANGLES; a++) {
        const double th = 2.0 * M_PI * a / CN_NERVE_ANGLES;
        const double ux = cos(th), uy = sin(th);
        double best = 0;
        for (double r = 0.25; r <= rmax; r += 0.25)
            if (field_at(f, (float)(p->cx + ux * r), (float)(p->cy + uy * r)) > 0)
                best = r;
        double x = cn__nf_to_px(p->cx + ux * best, f->w, gw),
               y = cn__nf_to_px(p->cy + uy * best, f->h, gh);
        pts[a].x = (float)(x < 0 ? 0 : x > f->w - 1 ? f->w - 1 : x);
        pts[a].y = (float)(y < 0 ? 0 : y > f->h - 1 ? f->h - 1 : y);
    }
}

/* f->field (one part's logits, DROP elsewhere) sampled bilinearly at every pixel
 * centre of columns x0..x1 and rows y0..y1, > 0, into m (w*h; the rest of m
 * untouched). */
static void paste_box(cn_nerve_find *f, uint8_t *m, int x0, int x1, int y0, int y1)
{
    const int w = f->w, h = f->h, gw = f->gw, gh = f->gh;
    for (int x = x0; x <= x1; x++) {
        float u = (float)cn__nf_to_cell(x, w, gw);
        u = u < 0 ? 0 : u > (float)(gw - 1) ? (float)(gw - 1) : u;
        int ui = (int)u;
        if (ui > gw - 2) ui = gw - 2;
        f->col_i[x] = ui;
        f->col_f[x] = u - (float)ui;
    }
    for (int y = y0; y <= y1; y++) {
        float v = (float)cn__nf_to_cell(y, h, gh);
        v = v < 0 ? 0 : v > (float)(gh - 1) ? (float)(gh - 1) : v;
        int vi = (int)v;
        if (vi > gh - 2) vi = gh - 2;
        const float fy = v - (float)vi;
        const float *r0 = f->field + (size_t)vi * gw, *r1 = r0 + gw;
        uint8_t *mr = m + (size_t)y * w;
        for (int x = x0; x <= x1; x++) {
            int ui = f->col_i[x];
            float fx = f->col_f[x];
            float a = r0[ui] + fx * (r0[ui + 1] - r0[ui]);
            float b = r1[ui] + fx * (r1[ui + 1] - r1[ui]);
            mr[x] = (a + fy * (b - a)) > 0;
        }
    }
}

/* The outline of part p, in pixels: p alone pasted (its box and a cell around it)
 * and traced along its pixels' edges (cn_img_trace_outline, CN_NERVE_ANGLES points
 * evenly along it), so its inside is what the part covers; before the twenty-first
 * session a star hull from the centroid, which cut a long or bent part short and
 * filled a crescent (docs/validation.md). Returns the number of points. */
static int outline(cn_nerve_find *f, const part *p, cn_pt2 *pts)
{
    const int gw = f->gw, gh = f->gh, w = f->w, h = f->h;
    for (int i = 0; i < gw * gh; i++)
        f->field[i] = f->lab[i] == p->label ? f->logit[i] : DROP_LOGIT;
    int x0 = (int)floor(cn__nf_to_px(p->x0 - 1, w, gw)),
        x1 = (int)ceil(cn__nf_to_px(p->x1 + 1, w, gw));
    int y0 = (int)floor(cn__nf_to_px(p->y0 - 1, h, gh)),
        y1 = (int)ceil(cn__nf_to_px(p->y1 + 1, h, gh));
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w - 1 ? w - 1 : x1;
    y1 = y1 > h - 1 ? h - 1 : y1;
    memset(f->px_part, 0, (size_t)w * h);
    paste_box(f, f->px_part, x0, x1, y0, y1);
    /* a pasted pixel of p: at its cell nearest the centroid, else at any of its cells */
    int start = -1;
    double dbest = INFINITY;
    for (int j = p->y0; j <= p->y1; j++)
        for (int i = p->x0; i <= p->x1; i++)
            if (f->lab[j * gw + i] == p->label && f->logit[j * gw + i] > 0) {
                const double d = (i - p->cx) * (i - p->cx) + (j - p->cy) * (j - p->cy);
                if (d < dbest) {
                    dbest = d;
                    start = j * gw + i;
                }
            }
    for (int k = -1; start >= 0 && k < gw * gh; k++) {
        const int c = k < 0 ? start : k;
        if (k >= 0 && !(f->lab[c] == p->label && f->logit[c] > 0))
            continue;
        const long x = lround(cn__nf_to_px(c % gw, w, gw)), y = lround(cn__nf_to_px(c / gw, h, gh));
        int n = 0;
        if (x >= 0 && y >= 0 && x < w && y < h && f->px_part[(size_t)y * w + x] &&
            cn_img_trace_outline(f->px_part, w, h, (int)x, (int)y, true, pts, CN_NERVE_ANGLES,
                                 &n) == CN_OK)
            return n;
    }
    star_hull(f, p, pts);
    return CN_NERVE_ANGLES;
}

int cn_nerve_find_select(cn_nerve_find *f, const double *seed_px, uint8_t *mask,
                         cn_nerve_found *out)
{
    if (!f || !out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (!f->analysed)
        return CN_EINVAL;
    if (seed_px && (!isfinite(seed_px[0]) || !isfinite(seed_px[1])))
        return CN_EINVAL;
    if (seed_px && (seed_px[0] < 0 || seed_px[1] < 0 || seed_px[0] > f->w - 1 ||
                    seed_px[1] > f->h - 1))
        return CN_ERANGE;
    if (mask)
        memset(mask, 0, (size_t)f->w * f->h);
    int best = -1;
    if (seed_px) {
        const double sx = cn__nf_to_cell(seed_px[0], f->w, f->gw),
                     sy = cn__nf_to_cell(seed_px[1], f->h, f->gh);
        double dbest = INFINITY;
        for (int k = 0; k < f->nparts; k++) {
            double d = dist_to_part(f, &f->parts[k], sx, sy);
            if (d < dbest) {
                dbest = d;
                best = k;
            }
        }
        if (dbest > f->info.seed_cells)
            best = -1;
    } else {
        for (int k = 0; k < f->nparts; k++)
            if (best < 0 || f->parts[k].mass > f->parts[best].mass)
                best = k;
    }
    f->have_sel = false;
    if (best < 0)
        return CN_OK; /* nothing (near the point) */
    const part *p = &f->parts[best];
    out->confidence = p->peak;
    out->found = p->peak >= f->info.found_p;
    if (!out->found)
        return CN_OK;
    /* the chosen part and the parts within the cluster distance of it (counted) */
    const float lim2 = f->info.cluster_cells * f->info.cluster_cells;
    if (f->nparts > 1 && f->info.cluster_cells > 0)
        distance_to(f, p);
    int kept = 0;
    for (int k = 0; k < f->nparts; k++) {
        const part *q = &f->parts[k];
        bool in = k == best;
        for (int j = q->y0; j <= q->y1 && !in && f->info.cluster_cells > 0; j++)
            for (int i = q->x0; i <= q->x1; i++)
                if (f->lab[j * f->gw + i] == q->label && f->dist[j * f->gw + i] <= lim2) {
                    in = true;
                    break;
                }
        kept += in;
    }
    /* the outline is the chosen part's (its cluster's other parts are counted in
     * out->parts); the mask is that outline's inside: what the screen shows, so
     * what `eval nerve` scores */
    out->n = outline(f, p, out->pts_px);
    if (mask)
        cn_img_fill_polygon(mask, f->w, f->h, out->pts_px, out->n, 1);
    out->parts = kept;
    out->cx_px = cn__nf_to_px(p->cx, f->w, f->gw);
    out->cy_px = cn__nf_to_px(p->cy, f->h, f->gh);
    out->r_eq_px = sqrt(p->area * ((double)f->w / f->gw) * ((double)f->h / f->gh) / M_PI);
    cn__nf_set_template(f, p->x0, p->y0, p->x1, p->y1, p->cx, p->cy, out);
    return CN_OK;
}
