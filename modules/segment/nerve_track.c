/*
 * nerve_track.c - following the found nerve between two network frames.
 *
 * The chosen part's neighbourhood in the last analysed grid (the template,
 * set when a part is selected or the operator's outline is followed) is matched
 * in the new frame's grid by the sum of squared differences over a +-4 cell
 * window, then a parabola gives the sub-cell shift, and the outline moves by
 * it; the grid costs ~0.2 ms, the match less. Split from nerve_find.c, which
 * finds the nerve; this file only follows it.
 */
#include "nerve_find_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Remembers the analysed grid as the template for tracking: the box (cells)
 * around the followed outline plus a margin, at most TRACK_MAX a side. */
void cn__nf_set_template(cn_nerve_find *f, int bx0, int by0, int bx1, int by1, double cx,
                         double cy, const cn_nerve_found *outline)
{
    f->have_sel = true;
    f->sel_gh = f->gh;
    f->sel_gw = f->gw;
    f->sel_w = f->w;
    f->sel_h = f->h;
    int x0 = bx0 - TRACK_MARGIN, x1 = bx1 + TRACK_MARGIN;
    int y0 = by0 - TRACK_MARGIN, y1 = by1 + TRACK_MARGIN;
    if (x1 - x0 + 1 > TRACK_MAX) /* a huge outline: its centre's neighbourhood */
        x0 = (int)lround(cx) - TRACK_MAX / 2, x1 = x0 + TRACK_MAX - 1;
    if (y1 - y0 + 1 > TRACK_MAX)
        y0 = (int)lround(cy) - TRACK_MAX / 2, y1 = y0 + TRACK_MAX - 1;
    f->tx0 = x0 < 0 ? 0 : x0;
    f->ty0 = y0 < 0 ? 0 : y0;
    f->tx1 = x1 > f->gw - 1 ? f->gw - 1 : x1;
    f->ty1 = y1 > f->gh - 1 ? f->gh - 1 : y1;
    memcpy(f->tmpl, f->grid, sizeof(float) * (size_t)f->gw * f->gh);
    f->last = *outline;
}

int cn_nerve_find_follow(cn_nerve_find *f, const cn_nerve_found *outline)
{
    if (!f || !outline || !f->analysed || outline->n < 3 || outline->n > CN_NERVE_ANGLES)
        return CN_EINVAL;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < outline->n; i++) {
        const double u = cn__nf_to_cell(outline->pts_px[i].x, f->w, f->gw);
        const double v = cn__nf_to_cell(outline->pts_px[i].y, f->h, f->gh);
        if (!isfinite(u) || !isfinite(v))
            return CN_EINVAL;
        x0 = fmin(x0, u), x1 = fmax(x1, u), y0 = fmin(y0, v), y1 = fmax(y1, v);
    }
    cn__nf_set_template(f, (int)floor(x0), (int)floor(y0), (int)ceil(x1), (int)ceil(y1),
                 0.5 * (x0 + x1), 0.5 * (y0 + y1), outline);
    return CN_OK;
}

int cn_nerve_find_track(cn_nerve_find *f, const uint8_t *px, int w, int h, cn_nerve_found *out)
{
    if (!f || !out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (cn_image_check(px, w, h) || w < 16 || h < 16)
        return CN_EINVAL;
    if (w > f->max_w || h > f->max_h)
        return CN_ERANGE;
    if (!f->have_sel || w != f->sel_w || h != f->sel_h)
        return CN_ENOENT; /* nothing selected on a frame of this size to follow */
    const int gh = f->sel_gh, gw = f->sel_gw;
    if (cn__nf_make_grid(f, px, w, h, gh, gw, f->cur) < 1.0)
        return CN_OK; /* blank frame: nothing to follow */
    /* sum of squared differences of the template box shifted by (dx, dy), over
     * the cells that stay inside the grid */
    double ssd[2 * TRACK_R + 1][2 * TRACK_R + 1];
    int bx = 0, by = 0;
    double best = INFINITY;
    for (int dy = -TRACK_R; dy <= TRACK_R; dy++)
        for (int dx = -TRACK_R; dx <= TRACK_R; dx++) {
            double s = 0;
            int cnt = 0;
            for (int j = f->ty0; j <= f->ty1; j++) {
                int jj = j + dy;
                if (jj < 0 || jj >= gh)
                    continue;
                const float *t = f->tmpl + (size_t)j * gw, *c = f->cur + (size_t)jj * gw;
                for (int i = f->tx0; i <= f->tx1; i++) {
                    int ii = i + dx;
                    if (ii < 0 || ii >= gw)
                        continue;
                    double d = (double)t[i] - c[ii];
                    s += d * d;
                    cnt++;
                }
            }
            s = cnt > 8 ? s / cnt : INFINITY;
            ssd[dy + TRACK_R][dx + TRACK_R] = s;
            if (s < best) {
                best = s;
                bx = dx;
                by = dy;
            }
        }
    if (!isfinite(best))
        return CN_OK;
    /* sub-cell: a parabola through the minimum and its neighbours, per axis */
    double sx = bx, sy = by;
    if (bx > -TRACK_R && bx < TRACK_R) {
        double l = ssd[by + TRACK_R][bx + TRACK_R - 1], r = ssd[by + TRACK_R][bx + TRACK_R + 1];
        double den = l - 2 * best + r;
        if (den > 1e-12 && isfinite(l) && isfinite(r))
            sx += 0.5 * (l - r) / den;
    }
    if (by > -TRACK_R && by < TRACK_R) {
        double u = ssd[by + TRACK_R - 1][bx + TRACK_R], d = ssd[by + TRACK_R + 1][bx + TRACK_R];
        double den = u - 2 * best + d;
        if (den > 1e-12 && isfinite(u) && isfinite(d))
            sy += 0.5 * (u - d) / den;
    }
    /* The match quality, 1 - SSD / (the two windows' energies) at the best shift:
     * 1 identical, 0 uncorrelated or a flat frame. It scales the confidence; a poor
     * match is not "found". The grids are standardised over the whole frame, not
     * the window, so the energies are not 1 each: dividing by 2, as before the
     * twenty-second session, made a flat frame (a lifted probe's speckle, whose grid
     * the std floor leaves near 0) a match of quality 1 - E_template / 2, found
     * whenever the template's window had less energy than the frame's average. */
    double e_t = 0, e_c = 0;
    int cells = 0; /* the cells the best shift compared (best is their mean SSD) */
    for (int j = f->ty0; j <= f->ty1; j++) {
        const int jj = j + by;
        if (jj < 0 || jj >= gh)
            continue;
        const float *t = f->tmpl + (size_t)j * gw, *c = f->cur + (size_t)jj * gw;
        for (int i = f->tx0; i <= f->tx1; i++) {
            const int ii = i + bx;
            if (ii < 0 || ii >= gw)
                continue;
            e_t += (double)t[i] * t[i];
            e_c += (double)c[ii] * c[ii];
            cells++;
        }
    }
    const double energy = (e_t + e_c) / cells;
    const double quality = energy > 0 && best < energy ? 1.0 - best / energy : 0.0;
    const double ox = sx * w / gw, oy = sy * h / gh;
    *out = f->last;
    for (int a = 0; a < out->n; a++) {
        double x = out->pts_px[a].x + ox, y = out->pts_px[a].y + oy;
        out->pts_px[a].x = (float)(x < 0 ? 0 : x > w - 1 ? w - 1 : x);
        out->pts_px[a].y = (float)(y < 0 ? 0 : y > h - 1 ? h - 1 : y);
    }
    out->cx_px += ox;
    out->cy_px += oy;
    out->confidence = (float)(f->last.confidence * quality);
    out->found = quality >= 0.5 && out->confidence >= f->info.found_p * 0.5;
    return CN_OK;
}
