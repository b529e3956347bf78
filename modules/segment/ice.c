/*
 * ice.c - the visible ice front: bright rim with a dark shadow behind it, around
 * the cryoprobe's active segment, in a freeze and the thaw after it (and, watched for
 * across frames in ice_watch.c, before a freeze was keyed and shrinking in one).
 *
 * The idea: frozen tissue reflects strongly at its border and passes almost no
 * sound, so seen from the transducer each image column that crosses the ice ball
 * shows a bright band followed by darkness. Every column near the probe gets its
 * best "band then shadow" depth (a 1-D search, sub-pixel peak), and the column
 * points are accepted only when a physical ice ball explains them: the upper
 * boundary of an ellipse confocal with the active segment (thermal.md geometry,
 * one free parameter, the radial thickness r), fitted by counting inliers over r.
 * Three checks keep bone and fascia out (they too are bright with a shadow):
 * points that were already there before the freeze (the baseline recorded while
 * no freeze runs) are dropped; too few inliers or too narrow an arc is "not
 * found"; and while one freeze runs the fitted r may not shrink.
 *
 * The thaw after a freeze is watched too (CN_ICE_THAW): the baseline from before
 * the freeze is kept, and the rim may shrink. Before, the detector was blind from
 * the freeze's end, so ice that went on growing because the console still froze
 * (a missed or mis-keyed freeze stop) could not contradict the model, which thawed
 * (thermal audit F9), and it recorded the thawing rim as its "before" baseline,
 * so a re-freeze's rim was dropped where the old rim had been.
 *
 * A freeze whose ice was seen before it was keyed takes as its baseline the frame where
 * the probe came to rest (ice_watch.c), not the last one, which holds that ice's rim.
 */
#include "ice_internal.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cn_ice_params_default(cn_ice_params *p)
{
    p->max_radius_mm = 12;
    p->active_mm = 6;
    p->band_mm = 0.3;
    p->shadow_mm = 2.0;
    p->min_contrast = 1.0;
    p->min_inlier_frac = 0.6;
    p->max_shrink_mm = 0.5;
    p->probe_diameter_mm = 1.5;
    p->shaft_tol_mm = 2.0;
    p->axial_tol_mm = 1.5;
}

cn_ice_det *cn_ice_det_new(int max_w, int max_h, const cn_ice_params *p)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_ice_det *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (p)
        d->p = *p;
    else
        cn_ice_params_default(&d->p);
    d->max_w = max_w;
    d->max_h = max_h;
    d->base_y = malloc(sizeof(float) * (size_t)max_w);
    d->ref_y = malloc(sizeof(float) * (size_t)max_w);
    d->cum = malloc(sizeof(uint32_t) * (size_t)(max_h + 1));
    if (!d->base_y || !d->ref_y || !d->cum) {
        free(d->base_y);
        free(d->ref_y);
        free(d->cum);
        free(d);
        return NULL;
    }
    cn_ice_det_reset(d);
    return d;
}

void cn_ice_det_free(cn_ice_det *d)
{
    if (!d)
        return;
    free(d->base_y);
    free(d->ref_y);
    free(d->cum);
    free(d);
}

void cn_ice_det_set_probe_tracked(cn_ice_det *d, bool tracked)
{
    if (d)
        d->probe_tracked = tracked;
}

void cn_ice_det_reset(cn_ice_det *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->max_w; i++)
        d->base_y[i] = NAN;
    d->base_w = 0;
    d->r_prev = 0;
    d->frz_rims.n = 0;
    d->last_look = CN_ICE_BEFORE;
    d->ref_ok = d->freeze_on_ref = d->unkeyed = d->rest_ok = d->probe_tracked = false;
    d->ref_tracked = false;
    d->ref_w = 0;
    cn__ice_drop_candidate(d);
    d->cand_seen_ns = d->cand_first_ns = 0;
    d->tip_t_ns = 0;
    d->tip_along_mm = 0;
    d->peak_ns = 0;
    cn__ice_drop_shrink(d);
}

/* Upper (transducer-side) boundary at image x of the ellipse with centre c, unit
 * axis u, semi-axes a (along u) and b; false when the column misses it. */
static bool ellipse_upper_y(double cx, double cy, double ux, double uy, double a, double b,
                            double x, double *y)
{
    double vx = -uy, vy = ux;
    double dx = x - cx;
    double ia = 1.0 / (a * a), ib = 1.0 / (b * b);
    double A = uy * uy * ia + vy * vy * ib;
    double B = 2 * dx * (ux * uy * ia + vx * vy * ib);
    double C = dx * dx * (ux * ux * ia + vx * vx * ib) - 1;
    double disc = B * B - 4 * A * C;
    if (disc < 0)
        return false;
    *y = cy + (-B - sqrt(disc)) / (2 * A);
    return true;
}

/* Semi-axes of the ice ball of radial thickness r around a segment of half-length h. */
void cn__ice_axes(double r, double h, double *a, double *b)
{
    double b2 = r * r * (1 + sqrt(1 + 4 * h * h / (r * r))) / 2;
    *b = sqrt(b2);
    *a = b2 / r;
}

/* Prefix sums down one image column, averaged over 3 neighbouring columns:
 * every band/shadow mean is then O(1). */
static void column_prefix(const uint8_t *px, int w, int h, int x, uint32_t *cum)
{
    int xa = x > 0 ? x - 1 : x, xb = x < w - 1 ? x + 1 : x;
    cum[0] = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *r = px + (size_t)y * w;
        cum[y + 1] = cum[y] + r[xa] + r[x] + r[xb];
    }
}

static double cmean(const uint32_t *cum, int h, int y0, int y1)
{
    if (y0 < 0) y0 = 0;
    if (y1 > h) y1 = h;
    if (y1 <= y0)
        return 0;
    return (double)(cum[y1] - cum[y0]) / (3.0 * (y1 - y0));
}

/* Best band-then-shadow depth in a column (prefix sums cum) between rows ya and yb. */
static bool column_rim(const uint32_t *cum, int h, int ya, int yb, int band, int gap, int shadow,
                       double min_c, double stdv, float *y_out, float *c_out)
{
    /* tissue must be seen in front of the rim (the skin line at the top of the
     * image has nothing above it) */
    if (ya < band / 2 + shadow + 1) ya = band / 2 + shadow + 1;
    if (yb > h - gap - shadow) yb = h - gap - shadow;
    double best = -1e9;
    int by = -1;
    for (int y = ya; y < yb; y++) {
        double bnd = cmean(cum, h, y - band / 2, y + band / 2 + 1);
        double sh = cmean(cum, h, y + gap, y + gap + shadow);
        double above = cmean(cum, h, y - band / 2 - shadow, y - band / 2);
        /* bright band, dark behind it, and the shadow darker than the tissue in
         * front: ice passes almost no sound, so the shadow must be at most half
         * as bright as the tissue above (fascia and the probe's partial shadow are not) */
        if (sh > 0.5 * above)
            continue;
        double sc = (bnd - sh) + 0.5 * (above - sh);
        if (sc > best) {
            best = sc;
            by = y;
        }
    }
    if (by < 0 || best / stdv < min_c)
        return false;
    /* sub-pixel: parabola through the brightest row of the band */
    int yp = by;
    for (int y = by - band; y <= by + band; y++)
        if (y > 0 && y < h - 1 && cmean(cum, h, y, y + 1) > cmean(cum, h, yp, yp + 1))
            yp = y;
    double a = cmean(cum, h, yp - 1, yp), b = cmean(cum, h, yp, yp + 1),
           c = cmean(cum, h, yp + 1, yp + 2);
    double den = a - 2 * b + c, off = den < 0 ? 0.5 * (a - c) / den : 0;
    if (off > 0.5) off = 0.5;
    if (off < -0.5) off = -0.5;
    *y_out = (float)(yp + off);
    *c_out = (float)(best / stdv);
    return true;
}

/* The ball (radial thickness >= rmin) the rim points explain best, after dropping the
 * points on the baseline (base, per column; base_w the image width it was recorded at)
 * and the probe's own front wall; out gets its inlier points. pts is filtered in place.
 * False: no ball passes the checks. */
bool cn__ice_fit_ball(const cn_ice_det *d, const look_geom *g, rim_pt *pts, int np,
                     const float *base, int base_w, int w, double rmin, cn_ice_front *out,
                     double *r_out, bool *shaftless)
{
    const bool allow_shaftless = shaftless && *shaftless;
    if (shaftless)
        *shaftless = false;
    /* drop points that were already there before the freeze, and the probe's own
     * front wall (a bright line with a shadow too) behind the tip */
    const cn_ice_params *p = &d->p;
    const double rn = g->rn, cx = g->cx, cy = g->cy, ux = g->ux, uy = g->uy, hseg = g->hseg;
    const double sx = g->sx;
    const int c0 = g->c0, c1 = g->c1, step = g->step;
    const cn_needle_result *needle = g->needle, *shaft = g->shaft;
    int m = 0;
    for (int i = 0; i < np; i++) {
        float by = base_w == w ? base[pts[i].col] : NAN;
        if (isfinite(by) && fabsf(by - pts[i].y) < 0.6f)
            continue;
        double ex = pts[i].x - needle->tip_mm.x, ey = pts[i].y - needle->tip_mm.y;
        double along = ex * ux + ey * uy, across = -ex * uy + ey * ux;
        if (along < 0.5 && fabs(fabs(across) - rn) < 0.5)
            continue;
        pts[m++] = pts[i];
    }
    np = m;
    if (np < 8)
        return false;
    /* one-parameter fit: the radial thickness with the most inliers */
    const double tol = 0.5;
    double best_r = 0;
    int best_in = 0, best_cols = 1;
    double best_res = 1e9;
    /* Two parameters: the thickness r and a shift s of the ball along the axis
     * (the tracked tip may be off by a millimetre along the shaft). Coarse grid
     * (0.2 mm x 0.5 mm), then fine (0.04 mm x 0.1 mm) around the best. */
    double best_s = 0;
    for (int pass = 0; pass < 2; pass++) {
        double r_lo = pass == 0 ? rmin : fmax(rmin, best_r - 0.2);
        double r_hi = pass == 0 ? p->max_radius_mm : best_r + 0.2;
        double r_step = pass == 0 ? 0.2 : 0.04;
        double s_lo = pass == 0 ? -p->axial_tol_mm : best_s - 0.5;
        double s_hi = pass == 0 ? p->axial_tol_mm : best_s + 0.5;
        double s_step = pass == 0 ? 0.5 : 0.1;
        if (pass == 1 && best_in == 0)
            break;
        for (double sh = s_lo; sh <= s_hi + 1e-9; sh += s_step)
            for (double r = r_lo; r <= r_hi + 1e-9; r += r_step) {
                double a, b, ccx = cx + ux * sh, ccy = cy + uy * sh;
                cn__ice_axes(r, hseg, &a, &b);
                int in = 0;
                double res = 0;
                for (int i = 0; i < np; i++) {
                    double yy;
                    if (!ellipse_upper_y(ccx, ccy, ux, uy, a, b, pts[i].x, &yy))
                        continue;
                    double e = fabs(yy - pts[i].y);
                    if (e < tol) {
                        in++;
                        res += e;
                    }
                }
                if (in > best_in || (in == best_in && in > 0 && res < best_res)) {
                    best_in = in;
                    best_res = res;
                    best_r = r;
                    best_s = sh;
                }
            }
    }
    if (best_in > 0) {
        /* columns the winning ball covers: the denominator of the inlier fraction */
        double a, b, yy;
        cn__ice_axes(best_r, hseg, &a, &b);
        int cols = 0;
        for (int col = c0; col <= c1; col += step)
            if (ellipse_upper_y(cx + ux * best_s, cy + uy * best_s, ux, uy, a, b,
                                (col + 0.5) * sx, &yy) &&
                yy > 0)
                cols++;
        best_cols = cols > 0 ? cols : 1;
    }
    const double fcx = cx + ux * best_s, fcy = cy + uy * best_s;
    double frac = (double)best_in / best_cols;
    if (best_in < 8 || frac < p->min_inlier_frac)
        return false;
    /* The probe's shaft must disappear where it enters this ball: its visible
     * end lies at the ball's near vertex, (h + a) behind the tip. A bone dome
     * or a fascia near a fully visible probe fails this. */
    {
        double a_, b_;
        cn__ice_axes(best_r, hseg, &a_, &b_);
        if (!shaft || !shaft->found) {
            if (!allow_shaftless)
                return false;
            *shaftless = true;
        } else {
            /* the ball's near vertex is at centre - a u */
            double ex = shaft->tip_mm.x - fcx, ey = shaft->tip_mm.y - fcy;
            double along = ex * ux + ey * uy;
            if (fabs(along + a_) > p->shaft_tol_mm)
                return false;
        }
    }
    /* keep the inliers as the measured front */
    double a, b;
    cn__ice_axes(best_r, hseg, &a, &b);
    int n = 0;
    double csum = 0;
    for (int i = 0; i < np && n < CN_ICE_PTS_MAX; i++) {
        double yy;
        if (!ellipse_upper_y(fcx, fcy, ux, uy, a, b, pts[i].x, &yy) || fabs(yy - pts[i].y) >= tol)
            continue;
        out->pts_mm[n++] = (cn_pt2){pts[i].x, pts[i].y};
        csum += pts[i].contrast;
    }
    out->n = n;
    out->found = true;
    double cmean = csum / (n > 0 ? n : 1);
    out->confidence = (float)fmin(1.0, frac * fmin(1.0, cmean / (2.0 * p->min_contrast)));
    *r_out = best_r;
    return true;
}

int cn_ice_det_detect(cn_ice_det *d, const uint8_t *px, int w, int h, const double spacing_mm[2],
                      const cn_needle_result *needle, const cn_needle_result *shaft,
                      bool freezing, int64_t t_ns, cn_ice_front *out, double *radius_mm)
{
    return cn_ice_det_look(d, px, w, h, spacing_mm, needle, shaft,
                           freezing ? CN_ICE_FREEZE : CN_ICE_BEFORE, t_ns, NAN, out, radius_mm);
}

int cn_ice_det_detect_sd(cn_ice_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *needle,
                         const cn_needle_result *shaft, bool freezing, int64_t t_ns,
                         double grey_sd, cn_ice_front *out, double *radius_mm)
{
    return cn_ice_det_look(d, px, w, h, spacing_mm, needle, shaft,
                           freezing ? CN_ICE_FREEZE : CN_ICE_BEFORE, t_ns, grey_sd, out,
                           radius_mm);
}

int cn_ice_det_look(cn_ice_det *d, const uint8_t *px, int w, int h, const double spacing_mm[2],
                    const cn_needle_result *needle, const cn_needle_result *shaft,
                    cn_ice_look look, int64_t t_ns, double grey_sd, cn_ice_front *out,
                    double *radius_mm)
{
    if (!out)
        return CN_EINVAL;
    out->found = false;
    out->n = 0;
    out->confidence = 0;
    out->t_ns = t_ns;
    if (radius_mm)
        *radius_mm = 0;
    if (!d || cn_image_check(px, w, h) || !spacing_mm || !(spacing_mm[0] > 0) ||
        !(spacing_mm[1] > 0))
        return CN_EINVAL;
    if (w > d->max_w || h > d->max_h)
        return CN_ERANGE;
    if (look != CN_ICE_BEFORE && look != CN_ICE_FREEZE && look != CN_ICE_THAW)
        return CN_EINVAL;
    /* a candidate not seen for a while is dropped before any early return: a frame with
     * no probe known must not keep ICE SEEN up (the review: latched, and a later f dated
     * to the old sight) */
    if (look == CN_ICE_BEFORE && d->cand_since_ns != 0 &&
        (double)(t_ns - d->cand_last_ns) > UNKEYED_GAP_S * 1e9)
        cn__ice_drop_candidate(d);
    const bool freezing = look == CN_ICE_FREEZE;
    if (!freezing) {
        d->r_prev = 0; /* a new freeze starts a new growth record; a thaw has none */
        d->frz_rims.n = 0;
        cn__ice_drop_shrink(d);
    }
    if (!needle || !isfinite(needle->tip_mm.x) || !isfinite(needle->dir.x) ||
        (needle->tip_mm.x == 0 && needle->tip_mm.y == 0 && needle->dir.x == 0 &&
         needle->dir.y == 0))
        return CN_OK; /* no probe known: nowhere to look */
    const cn_ice_params *p = &d->p;
    const double sx = spacing_mm[0], sy = spacing_mm[1];
    double ux = needle->dir.x, uy = needle->dir.y, un = sqrt(ux * ux + uy * uy);
    if (!(un > 0.5))
        return CN_OK;
    ux /= un;
    uy /= un;
    const double hseg = 0.5 * p->active_mm;
    const double cx = needle->tip_mm.x - ux * hseg, cy = needle->tip_mm.y - uy * hseg;
    double amax, bmax;
    cn__ice_axes(p->max_radius_mm, hseg, &amax, &bmax);
    if (!(grey_sd >= 0)) {
        /* not given by the caller (the segment stage computes it once per frame) */
        cn_img_stats st;
        cn_img_stats_compute(px, w, h, &st);
        grey_sd = st.stddev;
    }
    double stdv = grey_sd > 4 ? grey_sd : 4;
    const int band = (int)lrint(p->band_mm / sy) | 1, gap = (int)lrint(0.5 / sy) + 1;
    const int shadow = (int)lrint(p->shadow_mm / sy) + 1;
    /* columns spanning the largest ball, in steps keeping <= MAX_COLS points */
    double xa_mm = cx - amax, xb_mm = cx + amax;
    int c0 = (int)floor(xa_mm / sx), c1 = (int)ceil(xb_mm / sx);
    if (c0 < 1) c0 = 1;
    if (c1 > w - 2) c1 = w - 2;
    int step = (c1 - c0) / CN_ICE_PTS_MAX + 1;
    if (step < 2) step = 2;
    static const int MAXP = MAX_COLS;
    rim_pt pts[MAX_COLS];
    int np = 0;
    for (int col = c0; col <= c1 && np < MAXP; col += step) {
        double x_mm = (col + 0.5) * sx;
        /* search from the largest ball's boundary down to just below the axis */
        double ytop, yaxis;
        if (!ellipse_upper_y(cx, cy, ux, uy, amax, bmax, x_mm, &ytop))
            continue;
        if (fabs(ux) > 1e-3)
            yaxis = cy + (x_mm - cx) * uy / ux;
        else
            yaxis = cy;
        int ya = (int)floor(ytop / sy) - 2, yb = (int)ceil(yaxis / sy);
        float yr, cr;
        column_prefix(px, w, h, col, d->cum);
        if (!column_rim(d->cum, h, ya, yb, band, gap, shadow, p->min_contrast, stdv, &yr, &cr))
            continue;
        pts[np++] = (rim_pt){(float)x_mm, (float)((yr + 0.5) * sy), cr, col};
    }
    const look_geom g = {sx, sy, cx, cy, ux, uy, hseg, 0.5 * p->probe_diameter_mm, c0, c1, step,
                         needle, shaft};
    if (look == CN_ICE_BEFORE) {
        cn__ice_unkeyed_watch(d, &g, pts, np, w, t_ns, out, radius_mm);
        /* record what is rim-like before the freeze (bone, fascia) */
        cn__ice_record_rows(d->base_y, d->max_w, w, pts, np, step);
        d->base_w = w;
        d->last_look = look;
        return CN_OK;
    }
    /* the baseline: the last frame before the freeze; but when the image showed ice
     * before the freeze was keyed (unkeyed_watch), the frame where the probe came to
     * rest: the last one holds that ice's rim, and its points would be dropped */
    if (d->last_look == CN_ICE_BEFORE) {
        d->freeze_on_ref = d->ref_ok && d->ref_w == w && d->cand_since_ns != 0;
        /* that ice's growth so far is the freeze's: keyed after it began to melt, the
         * freeze's own fits would start from the melting rim, and the shrink watch would
         * wait for it to melt 1 mm under that (the review 34, finding 4) */
        if (d->freeze_on_ref && freezing && d->unkeyed && d->cand_max_mm > d->r_prev) {
            d->r_prev = d->cand_max_mm;
            d->peak_ns = d->cand_peak_ns;
        }
        cn__ice_drop_candidate(d);
        d->rest_ok = d->ref_ok;
        d->rest_tx = d->ref_tx;
        d->rest_ty = d->ref_ty;
        d->rest_ux = d->ref_ux;
        d->rest_uy = d->ref_uy;
        d->ref_ok = false; /* the next rest is after this freeze */
    }
    d->last_look = look;
    const float *base = d->freeze_on_ref ? d->ref_y : d->base_y;
    const int base_w = d->freeze_on_ref ? d->ref_w : d->base_w;
    /* ice thinner than the probe radius + 0.4 mm cannot be told from the probe */
    const double rmin = fmax(g.rn + 0.4, d->r_prev > 0 ? d->r_prev - p->max_shrink_mm : 0.0);
    double best_r = 0;
    rim_pt keep[MAX_COLS];
    const bool watch = freezing && d->r_prev > 0;
    if (watch)
        memcpy(keep, pts, sizeof keep[0] * (size_t)np);
    if (!cn__ice_fit_ball(d, &g, pts, np, base, base_w, w, rmin, out, &best_r, NULL)) {
        if (watch)
            cn__ice_shrink_watch(d, &g, keep, np, base, base_w, w, t_ns, out, radius_mm);
        return CN_OK;
    }
    if (freezing)
        cn__ice_drop_shrink(d); /* the rim stands at its largest again */
    /* the largest so far is the median of the last 5 fits: one outlier fit would lift it,
     * and every rim after would look shrunk (a false GAS OFF, its stop dated there) */
    if (freezing) {
        const double med = cn_last5_push(&d->frz_rims, best_r);
        if (med > d->r_prev) {
            d->r_prev = med;
            d->peak_ns = t_ns;
        }
    }
    if (radius_mm)
        *radius_mm = best_r;
    return CN_OK;
}
