/*
 * nerve_find.c - the nerve found without a click: the whole frame on a reduced
 * grid through a small U-Net (nerve_net.c), its confident parts, and the one
 * the operator follows.
 *
 * The idea: what makes a nerve a nerve (the honeycomb of fascicles, the bright
 * epineurium, its place beside the artery under a fascia) is context a seed-less
 * heuristic cannot read, but a convolutional network trained on expert masks
 * can; run on a grid of about a hundred rows it costs about a millisecond. The
 * grid: the image's height maps to H rows (H from the weights file) when the
 * pixel size is unknown; when it is known and the configured nerve radius would
 * span more than x1.3 or less than 1/1.3 of the cells a typical training nerve
 * spans, the cell size in mm is changed to bring it to that range, but no
 * further than x1.4 from the height-filling cell (within the training's scale
 * augmentation, x0.7-1.45), so a deep or a shallow image and a coarse or a fine
 * probe all show the nerve at a size the network knows.
 * Each cell is the mean of the pixels it covers (exactly as the training
 * script computes it), the grid is standardised, and the network gives a
 * logit per cell.
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
 * Between two network frames the live stage follows the nerve with
 * cn_nerve_find_track (nerve_track.c): the chosen part's neighbourhood in the last analysed
 * grid is matched (sum of squared differences over a +-4 cell window, then a
 * parabola for the sub-cell shift) in the new frame's grid, and the outline is
 * moved by that shift; the grid costs ~0.2 ms, the match less.
 *
 * Parameters (grid rows, thresholds, distances) travel with the weights file
 * (nerve_net.h), so the trainer and this code cannot disagree. Every buffer is
 * allocated in cn_nerve_find_new: analyse/select/track never allocate (the
 * network's plan for a new grid size is built once, on first use).
 */
#include "nerve_find_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIND_ACT_BUDGET (256 << 20) /* bytes the largest grid may need */


cn_nerve_find *cn_nerve_find_new(int max_w, int max_h)
{
    return cn_nerve_find_new_with(max_w, max_h, cn_nerve_find_blob, cn_nerve_find_blob_size, NULL, 0);
}

cn_nerve_find *cn_nerve_find_new_with(int max_w, int max_h, const void *weights, size_t size,
                                      char *err, size_t err_len)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, "nerve finder", "frame size %dx%d out of range (16..%d)", max_w,
                max_h, CN_IMAGE_MAX_SIDE);
        return NULL;
    }
    cn_nerve_find *f = calloc(1, sizeof *f);
    if (!f) {
        cn_errf(err, err_len, "nerve finder", "out of memory");
        return NULL;
    }
    if (nerve_net_new(weights, size, &f->net, &f->info, err, err_len) != CN_OK) {
        free(f);
        return NULL;
    }
    f->max_w = max_w;
    f->max_h = max_h;
    /* grid limits: rows within x2 of H either way (physical normalisation), columns
     * up to 6 H (wide sector images) */
    f->max_gh = 2 * f->info.rows;
    f->max_gw = 6 * f->info.rows;
    const size_t cells = (size_t)f->max_gh * f->max_gw;
    /* what the largest grid costs (the handle's 8 planes, and about three
     * activation planes per channel and level at 1/4 the cells per level down):
     * a weights file of a few KB must not ask for gigabytes (the shipped 96 rows of
     * 8/24/48/64/96 channels: ~28 MiB) */
    double act = 8.0 * (double)cells;
    for (int l = 0, div = 1; l < f->info.levels; l++, div *= 4)
        act += 3.0 * f->info.ch[l] * (double)cells / div;
    if (act * sizeof(float) > FIND_ACT_BUDGET) {
        cn_errf(err, err_len, "nerve finder",
                "weights file: %d grid rows of %d levels (%d/%d/.. channels) need ~%.0f MiB of "
                "activations at the largest grid (limit %d MiB)",
                f->info.rows, f->info.levels, f->info.ch[0], f->info.ch[1],
                act * sizeof(float) / (1 << 20), FIND_ACT_BUDGET >> 20);
        cn_nerve_find_free(f);
        return NULL;
    }
    f->grid = malloc(sizeof(float) * cells);
    f->logit = malloc(sizeof(float) * cells);
    f->field = malloc(sizeof(float) * cells);
    f->tmpl = malloc(sizeof(float) * cells);
    f->cur = malloc(sizeof(float) * cells);
    f->dist = malloc(sizeof(float) * cells);
    const int side = f->max_gh > f->max_gw ? f->max_gh : f->max_gw;
    f->edt_d = malloc(sizeof(float) * (size_t)side);
    f->edt_z = malloc(sizeof(float) * (size_t)(side + 1));
    f->edt_v = malloc(sizeof(int) * (size_t)side);
    f->lab = malloc(sizeof(int) * cells);
    f->stack = malloc(sizeof(int) * cells);
    f->colsum = malloc(sizeof(double) * (size_t)max_w);
    f->col_i = malloc(sizeof(int) * (size_t)max_w);
    f->col_f = malloc(sizeof(float) * (size_t)max_w);
    f->px_part = malloc((size_t)max_w * max_h);
    if (!f->grid || !f->logit || !f->field || !f->tmpl || !f->cur || !f->dist || !f->edt_d || !f->edt_z || !f->edt_v || !f->lab ||
        !f->stack || !f->colsum || !f->col_i || !f->col_f || !f->px_part) {
        cn_errf(err, err_len, "nerve finder", "out of memory for %dx%d frames", max_w, max_h);
        cn_nerve_find_free(f);
        return NULL;
    }
    return f;
}

void cn_nerve_find_free(cn_nerve_find *f)
{
    if (!f)
        return;
    nerve_net_free(f->net);
    free(f->grid);
    free(f->logit);
    free(f->field);
    free(f->tmpl);
    free(f->cur);
    free(f->dist);
    free(f->edt_d);
    free(f->edt_z);
    free(f->edt_v);
    free(f->lab);
    free(f->stack);
    free(f->colsum);
    free(f->col_i);
    free(f->col_f);
    free(f->px_part);
    free(f);
}

void cn_nerve_find_info(const cn_nerve_find *f, int *grid_rows, int *gh, int *gw)
{
    if (grid_rows)
        *grid_rows = f ? f->info.rows : 0;
    if (gh)
        *gh = f && f->analysed ? f->gh : 0;
    if (gw)
        *gw = f && f->analysed ? f->gw : 0;
}

int cn_nerve_find_forward(cn_nerve_find *f, int model, const float *in, int gh, int gw, float *out)
{
    if (!f || gh > f->max_gh || gw > f->max_gw)
        return CN_EINVAL;
    return nerve_net_forward(f->net, model, in, gh, gw, out);
}

/* ------------------------------------------------------------------ the grid */

static int round_unit(double v, int unit, int lo, int hi)
{
    int n = (int)lround(v / unit) * unit;
    return n < lo ? lo : n > hi ? hi : n;
}

/* Grid size for a w x h frame (see the file comment). */
static void grid_size(const cn_nerve_find *f, int w, int h, const double *sp, double radius_mm,
                      int *gh, int *gw)
{
    const int H = f->info.rows, unit = 1 << (f->info.levels - 1);
    if (sp && sp[0] > 0 && sp[1] > 0 && isfinite(sp[0]) && isfinite(sp[1]) && radius_mm > 0 &&
        isfinite(radius_mm)) {
        /* the height-filling cell unless it shows the nerve outside the sizes the
         * network saw well (x1/1.3..1.3 of the training median), then the nearest
         * cell that does, within x1.4 of the height-filling one */
        const double depth_mm = h * sp[1], rows_cell = depth_mm / H;
        const double r_cells = radius_mm / rows_cell;
        double cell = rows_cell;
        if (r_cells < f->info.r_cells / SCALE_TOL)
            cell = radius_mm / (f->info.r_cells / SCALE_TOL);
        else if (r_cells > f->info.r_cells * SCALE_TOL)
            cell = radius_mm / (f->info.r_cells * SCALE_TOL);
        if (cell < rows_cell / SCALE_RANGE)
            cell = rows_cell / SCALE_RANGE;
        if (cell > rows_cell * SCALE_RANGE)
            cell = rows_cell * SCALE_RANGE;
        *gh = round_unit(depth_mm / cell, unit, 2 * unit, f->max_gh);
        *gw = round_unit(w * sp[0] / cell, unit, 2 * unit, f->max_gw);
    } else {
        /* unknown pixel size: the height fills H rows, square pixels assumed */
        *gh = H;
        *gw = round_unit((double)w * H / h, unit, unit, f->max_gw);
    }
}

/* Cell means (train_nerve_net.py area_resample): cell i spans [i w / gw,
 * (i + 1) w / gw) pixels, at least one. Then standardised. Returns the grid's
 * grey-level spread before the floor. */
double cn__nf_make_grid(cn_nerve_find *f, const uint8_t *px, int w, int h, int gh, int gw,
                        float *out)
{
    double sum = 0, sum2 = 0;
    for (int j = 0; j < gh; j++) {
        int y0 = (int)((long)j * h / gh), y1 = (int)((long)(j + 1) * h / gh);
        if (y1 <= y0)
            y1 = y0 + 1;
        for (int x = 0; x < w; x++)
            f->colsum[x] = 0;
        for (int y = y0; y < y1; y++) {
            const uint8_t *r = px + (size_t)y * w;
            for (int x = 0; x < w; x++)
                f->colsum[x] += r[x];
        }
        for (int i = 0; i < gw; i++) {
            int x0 = (int)((long)i * w / gw), x1 = (int)((long)(i + 1) * w / gw);
            if (x1 <= x0)
                x1 = x0 + 1;
            double s = 0;
            for (int x = x0; x < x1; x++)
                s += f->colsum[x];
            float v = (float)(s / ((double)(y1 - y0) * (x1 - x0)));
            out[(size_t)j * gw + i] = v;
            sum += v;
            sum2 += (double)v * v;
        }
    }
    const double n = (double)gh * gw, mu = sum / n, var = sum2 / n - mu * mu;
    const double sd = sqrt(var > 0 ? var : 0);
    const float inv = 1.0f / (float)(sd > f->info.std_floor ? sd : f->info.std_floor);
    for (size_t i = 0; i < (size_t)gh * gw; i++)
        out[i] = (out[i] - (float)mu) * inv;
    return sd;
}

/* ------------------------------------------------------------------ parts */

static void find_parts(cn_nerve_find *f)
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

/* grid cell coordinate of input pixel x (centres), and back */

int cn_nerve_find_start(cn_nerve_find *f, int model, const uint8_t *px, int w, int h,
                        const double *spacing_mm, double nerve_radius_mm)
{
    if (!f)
        return CN_EINVAL;
    f->analysed = f->running = false;
    if (cn_image_check(px, w, h) || w < 16 || h < 16 || model < 0 ||
        model >= CN_NERVE_FIND_NMODELS)
        return CN_EINVAL;
    if (w > f->max_w || h > f->max_h)
        return CN_ERANGE;
    grid_size(f, w, h, spacing_mm, nerve_radius_mm, &f->gh, &f->gw);
    f->aspect = spacing_mm && spacing_mm[0] > 0 && spacing_mm[1] > 0 && isfinite(spacing_mm[0]) &&
                        isfinite(spacing_mm[1]) && spacing_mm[1] / spacing_mm[0] >= 0.25 &&
                        spacing_mm[1] / spacing_mm[0] <= 4
                    ? spacing_mm[1] / spacing_mm[0]
                    : 1.0;
    f->w = w;
    f->h = h;
    f->nparts = 0;
    /* a blank, saturated or uniform frame has nothing to find */
    f->blank = cn__nf_make_grid(f, px, w, h, f->gh, f->gw, f->grid) < 1.0;
    if (f->blank) {
        f->analysed = true;
        return CN_OK;
    }
    int rc = nerve_net_start(f->net, model, f->grid, f->gh, f->gw, &f->macs);
    f->running = rc == CN_OK;
    return rc;
}

int cn_nerve_find_continue(cn_nerve_find *f, double share, bool *done)
{
    if (!f || !done)
        return CN_EINVAL;
    *done = f->analysed;
    if (f->analysed)
        return CN_OK;
    if (!f->running)
        return CN_EINVAL;
    int rc = nerve_net_continue(f->net, share * f->macs, done);
    if (rc == CN_OK && *done)
        rc = nerve_net_output(f->net, f->logit);
    if (rc != CN_OK) {
        f->running = *done = false;
        return rc;
    }
    if (*done) {
        find_parts(f);
        f->running = false;
        f->analysed = true;
    }
    return CN_OK;
}

int cn_nerve_find_analyse(cn_nerve_find *f, int model, const uint8_t *px, int w, int h,
                          const double *spacing_mm, double nerve_radius_mm)
{
    int rc = cn_nerve_find_start(f, model, px, w, h, spacing_mm, nerve_radius_mm);
    bool done = false;
    if (rc == CN_OK)
        rc = cn_nerve_find_continue(f, INFINITY, &done);
    return rc;
}

float cn_nerve_find_seeded_weight(const cn_nerve_find *f)
{
    return f ? f->info.seed_blend : 0.0f;
}

float cn_nerve_find_auto_weight(const cn_nerve_find *f)
{
    return f ? f->info.auto_blend : -1.0f;
}

bool cn_nerve_find_fov_crop(const cn_nerve_find *f)
{
    return f && f->info.fov_crop;
}

int cn_nerve_find_members(const cn_nerve_find *f)
{
    return f ? f->info.members : 1;
}

double cn_nerve_find_scale(const cn_nerve_find *f)
{
    return f && f->analysed && f->gh > 0 ? (double)f->info.rows / (double)f->gh : 1.0;
}

double cn_nerve_find_aspect(const cn_nerve_find *f)
{
    return f && f->analysed && f->aspect > 0 ? f->aspect : 1.0;
}

float cn_nerve_find_logit_at(const cn_nerve_find *f, double x_px, double y_px)
{
    if (!f || !f->analysed || !isfinite(x_px) || !isfinite(y_px))
        return NAN;
    if (f->blank)
        return DROP_LOGIT;
    /* the whole logit map (every part, not only the kept ones), clamped */
    float u = (float)cn__nf_to_cell(x_px, f->w, f->gw), v = (float)cn__nf_to_cell(y_px, f->h, f->gh);
    const int gw = f->gw, gh = f->gh;
    u = u < 0 ? 0 : u > (float)(gw - 1) ? (float)(gw - 1) : u;
    v = v < 0 ? 0 : v > (float)(gh - 1) ? (float)(gh - 1) : v;
    int ui = (int)u, vi = (int)v;
    if (ui > gw - 2) ui = gw - 2;
    if (vi > gh - 2) vi = gh - 2;
    const float fu = u - (float)ui, fv = v - (float)vi;
    const float *r0 = f->logit + (size_t)vi * gw, *r1 = r0 + gw;
    float a = r0[ui] + fu * (r0[ui + 1] - r0[ui]), b = r1[ui] + fu * (r1[ui + 1] - r1[ui]);
    return a + fv * (b - a);
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
        double x = cn__nf_to_px(p->cx + ux * best, f->w, gw), y = cn__nf_to_px(p->cy + uy * best, f->h, gh);
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
    int x0 = (int)floor(cn__nf_to_px(p->x0 - 1, w, gw)), x1 = (int)ceil(cn__nf_to_px(p->x1 + 1, w, gw));
    int y0 = (int)floor(cn__nf_to_px(p->y0 - 1, h, gh)), y1 = (int)ceil(cn__nf_to_px(p->y1 + 1, h, gh));
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
        const double sx = cn__nf_to_cell(seed_px[0], f->w, f->gw), sy = cn__nf_to_cell(seed_px[1], f->h, f->gh);
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
