/*
 * nerve_find.c - the nerve found without a click: the whole frame on a reduced
 * grid through a small U-Net (nerve_net.c), run in one go or spread over frames,
 * giving a logit per cell. Its confident parts, and the one the operator follows,
 * are nerve_find_parts.c's.
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
        cn__nf_find_parts(f);
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
