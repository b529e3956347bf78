/*
 * viewer_overlay.c - the overlay lines and points of one frame, in image mm.
 *
 * The idea: the analysis results (needle, nerve, ice rim, isotherms) and the
 * simulator's ground truth are turned here into a flat list of polylines and
 * point sets with a kind (hence a colour), all in image millimetres. The same
 * list is drawn in the 2-D view and, mapped by ImageToReference, on the plane in
 * the 3-D view. Inputs come from other threads' analysis and may be garbage:
 * counts are clamped and non-finite points dropped, so bad data draws less,
 * never crashes.
 */
#include "viewer_priv.h"

#include "palette/palette.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every overlay kind has its role in the one palette (modules/palette), so the
 * screen, snapshots, report and plots agree on colours. */
cn_rgb cn_viewer_ov_color(cn_ov_kind kind)
{
    static const cn_pal_role role[CN_OV_KIND_COUNT] = {
        [CN_OV_NEEDLE] = CN_PAL_NEEDLE, [CN_OV_NERVE] = CN_PAL_NERVE,
        [CN_OV_NERVE_HELD] = CN_PAL_NERVE_HELD,
        [CN_OV_ICE] = CN_PAL_ICE,       [CN_OV_ISO_0] = CN_PAL_ISO_0,
        [CN_OV_ISO_20] = CN_PAL_ISO_20, [CN_OV_ISO_40] = CN_PAL_ISO_40,
        [CN_OV_ISO_OTHER] = CN_PAL_ISO_OTHER, [CN_OV_TRUTH] = CN_PAL_TRUTH,
        [CN_OV_SCALE] = CN_PAL_SCALE,
    };
    return cn_palette((int)kind >= 0 && kind < CN_OV_KIND_COUNT ? role[kind] : CN_PAL_SCALE);
}

cn_ov_kind cn_viewer_iso_kind(float temp_c)
{
    switch (cn_palette_iso(temp_c)) {
    case CN_PAL_ISO_0: return CN_OV_ISO_0;
    case CN_PAL_ISO_20: return CN_OV_ISO_20;
    case CN_PAL_ISO_40: return CN_OV_ISO_40;
    default: return CN_OV_ISO_OTHER;
    }
}

static bool pt_ok(cn_pt2 p)
{
    return isfinite(p.x) && isfinite(p.y) && fabsf(p.x) < 1e5f && fabsf(p.y) < 1e5f;
}

/* Starts an item; returns NULL when the item table is full. */
static cn_ov_item *item_begin(cn_viewer_overlay *ov, cn_ov_kind kind, bool points, bool closed)
{
    if (ov->n_items >= CN_OV_ITEMS_MAX)
        return NULL;
    cn_ov_item *it = &ov->items[ov->n_items];
    it->kind = (uint8_t)kind;
    it->points = points;
    it->closed = closed;
    it->first = ov->n_pts;
    it->n = 0;
    return it;
}

static void item_add(cn_viewer_overlay *ov, cn_ov_item *it, double x, double y)
{
    /* Range check before the cast: a double beyond float range is UB to convert. */
    if (!it || !(fabs(x) < 1e5) || !(fabs(y) < 1e5) || ov->n_pts >= CN_OV_PTS_MAX)
        return;
    ov->pts[ov->n_pts++] = (cn_pt2){(float)x, (float)y};
    it->n++;
}

/* Keeps the item when it has enough points to draw. */
static void item_end(cn_viewer_overlay *ov, cn_ov_item *it)
{
    if (!it)
        return;
    int need = it->points ? 1 : 2;
    if (it->n >= need)
        ov->n_items++;
    else
        ov->n_pts = it->first;
}

static void add_segment(cn_viewer_overlay *ov, cn_ov_kind k, double x0, double y0, double x1,
                        double y1)
{
    cn_ov_item *it = item_begin(ov, k, false, false);
    item_add(ov, it, x0, y0);
    item_add(ov, it, x1, y1);
    item_end(ov, it);
}

static void add_polyline(cn_viewer_overlay *ov, cn_ov_kind k, const cn_pt2 *pts, int n,
                         bool closed)
{
    if (n > CN_CONTOUR_MAX)
        n = CN_CONTOUR_MAX;
    cn_ov_item *it = item_begin(ov, k, false, closed);
    for (int i = 0; i < n; i++)
        item_add(ov, it, pts[i].x, pts[i].y);
    item_end(ov, it);
}

/* Dashed ellipse centred at c with semi-axes a (along unit u) and b (across). */
static void add_dashed_ellipse(cn_viewer_overlay *ov, cn_ov_kind k, cn_pt2 c, double a, double b,
                               double ux, double uy)
{
    const int segs = 64;
    if (!(a > 0.0 && b > 0.0 && a < 1e4 && b < 1e4) || !pt_ok(c))
        return;
    for (int i = 0; i < segs; i += 2) {
        double t0 = 2.0 * M_PI * i / segs, t1 = 2.0 * M_PI * (i + 1) / segs;
        double p0a = a * cos(t0), p0b = b * sin(t0), p1a = a * cos(t1), p1b = b * sin(t1);
        add_segment(ov, k, c.x + p0a * ux - p0b * uy, c.y + p0a * uy + p0b * ux,
                    c.x + p1a * ux - p1b * uy, c.y + p1a * uy + p1b * ux);
    }
}

static void add_dashed_line(cn_viewer_overlay *ov, cn_ov_kind k, cn_pt2 p0, cn_pt2 p1,
                            double dash_mm)
{
    if (!pt_ok(p0) || !pt_ok(p1))
        return;
    double dx = p1.x - p0.x, dy = p1.y - p0.y, len = hypot(dx, dy);
    int n = (int)(len / dash_mm);
    if (n > 400)
        n = 400;
    if (n < 1) {
        add_segment(ov, k, p0.x, p0.y, p1.x, p1.y);
        return;
    }
    for (int i = 0; i < n; i += 2) {
        double s0 = (double)i / n, s1 = (double)(i + 1) / n;
        add_segment(ov, k, p0.x + s0 * dx, p0.y + s0 * dy, p0.x + s1 * dx, p0.y + s1 * dy);
    }
}

/* Distance along -dir from the tip to where the line leaves the image rectangle
 * [x0, x1] x [y0, y1] (at most the rectangle's diagonal). */
static double back_length(cn_pt2 tip, double dx, double dy, double x0, double y0, double x1,
                          double y1)
{
    double diag = hypot(x1 - x0, y1 - y0), t = diag;
    if (dx > 1e-9)
        t = fmin(t, (tip.x - x0) / dx);
    else if (dx < -1e-9)
        t = fmin(t, (tip.x - x1) / dx);
    if (dy > 1e-9)
        t = fmin(t, (tip.y - y0) / dy);
    else if (dy < -1e-9)
        t = fmin(t, (tip.y - y1) / dy);
    return t > 0.0 ? t : 0.0;
}

bool cn_viewer_needle_shown(const cn_analysis *a)
{
    const cn_needle_result *nd = &a->needle;
    /* After the needle was withdrawn (the operator's w, the console) a line the
     * detector finds is fascia or the ice rim, not the cryoprobe: the live audit saw
     * "needle 68-86 %" drawn there in every run it checked (M2). */
    if (a->guidance.phase == CN_PHASE_WITHDRAWN)
        return false;
    return nd->found && (nd->tip_hidden || nd->confidence >= CN_NEEDLE_SHOW_CONFIDENCE);
}

static void add_needle(cn_viewer_overlay *ov, const cn_needle_result *nd, double x0, double y0,
                       double x1, double y1)
{
    if (!pt_ok(nd->tip_mm))
        return;
    cn_pt2 tip = nd->tip_mm;
    double dx = nd->dir.x, dy = nd->dir.y, dn = hypot(dx, dy);
    if (isfinite(dn) && dn > 1e-6) {
        dx /= dn;
        dy /= dn;
        double back = back_length(tip, dx, dy, x0, y0, x1, y1);
        add_segment(ov, CN_OV_NEEDLE, tip.x - back * dx, tip.y - back * dy, tip.x, tip.y);
    }
    /* Tip marker: a small diamond, open (dashed look) when the tip is in shadow. */
    const double r = 1.2;
    double px[4] = {tip.x + r, tip.x, tip.x - r, tip.x}, py[4] = {tip.y, tip.y + r, tip.y, tip.y - r};
    if (nd->tip_hidden) {
        for (int i = 0; i < 4; i += 2)
            add_segment(ov, CN_OV_NEEDLE, px[i], py[i], px[i + 1], py[i + 1]);
    } else {
        cn_ov_item *it = item_begin(ov, CN_OV_NEEDLE, false, true);
        for (int i = 0; i < 4; i++)
            item_add(ov, it, px[i], py[i]);
        item_end(ov, it);
    }
}

/* An isotherm, only inside the image (the ice is in the tissue: a curve from
 * elsewhere, e.g. an old recording, is clamped to the image's edge), with its
 * uncertainty band as two dashed curves moved band_mm along the rays from its
 * centre (the inner one is the conservative edge coverage is computed on). */
static void add_isotherm(cn_viewer_overlay *ov, cn_ov_kind k, const cn_isotherm *iso, int n,
                         const double r[4])
{
    cn_pt2 pts[CN_CONTOUR_MAX];
    for (int i = 0; i < n; i++) {
        double x = iso->pts_mm[i].x, y = iso->pts_mm[i].y;
        pts[i].x = (float)(x < r[0] ? r[0] : x > r[2] ? r[2] : x);
        pts[i].y = (float)(y < r[1] ? r[1] : y > r[3] ? r[3] : y);
        if (!isfinite(x) || !isfinite(y))
            pts[i] = iso->pts_mm[i]; /* dropped by item_add */
    }
    add_polyline(ov, k, pts, n, cn_curve_closes(pts, n));
    double band = iso->band_mm, cx = iso->centre_mm.x, cy = iso->centre_mm.y;
    if (!(band > 0.05 && band < 100) || !isfinite(cx) || !isfinite(cy))
        return;
    for (int side = -1; side <= 1; side += 2) {
        cn_pt2 e[CN_CONTOUR_MAX];
        for (int i = 0; i < n; i++) {
            double dx = pts[i].x - cx, dy = pts[i].y - cy, d = hypot(dx, dy);
            double s = d > 0 ? fmax(0, d + side * band) / d : 1;
            double x = cx + s * dx, y = cy + s * dy;
            e[i].x = (float)(x < r[0] ? r[0] : x > r[2] ? r[2] : x);
            e[i].y = (float)(y < r[1] ? r[1] : y > r[3] ? r[3] : y);
        }
        bool closed = cn_curve_closes(pts, n);
        for (int i = 0; i + 1 < n || (closed && i < n); i += 2) /* dashed */
            add_segment(ov, k, e[i].x, e[i].y, e[(i + 1) % n].x, e[(i + 1) % n].y);
    }
}

double cn_viewer_depth_step_mm(double depth_mm)
{
    static const double steps[] = {10.0, 20.0, 50.0, 100.0, 200.0, 500.0};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (depth_mm / steps[i] <= 8.0)
            return steps[i];
    return 1000.0;
}

/* Outline of the image (so a dark image is told from the background), depth
 * ticks on its right edge and lateral ticks on its bottom edge: long ones at the
 * labelled step, short ones between (the labels sit outside the image). */
static void add_depth_scale(cn_viewer_overlay *ov, const cn_frame *f)
{
    double sx = f->spacing_mm[0], sy = f->spacing_mm[1];
    double x0 = 0, y0 = 0; /* image mm: the image spans [0, W sx] x [0, H sy] */
    double x_edge = f->width * sx, depth = f->height * sy;
    if (!(depth > 0.0) || depth > 1e5 || !(x_edge > 0.0) || x_edge > 1e5)
        return;
    cn_ov_item *it = item_begin(ov, CN_OV_SCALE, false, true);
    item_add(ov, it, x0, y0);
    item_add(ov, it, x_edge, y0);
    item_add(ov, it, x_edge, depth);
    item_add(ov, it, x0, depth);
    item_end(ov, it);
    double major = cn_viewer_depth_step_mm(depth), minor = 0.5 * major;
    double len = fmin(0.04 * x_edge, 0.02 * depth + 1.0);
    for (int k = 1; k * minor < depth && k < 64; k++) {
        double l = k % 2 == 0 ? len : 0.5 * len;
        add_segment(ov, CN_OV_SCALE, x_edge - l, k * minor, x_edge, k * minor);
    }
    /* lateral: image mm from the left edge, the same step as the depth */
    double lat_major = cn_viewer_lateral_step_mm(x_edge - x0), lat_minor = 0.5 * lat_major;
    for (int k = 1; k * lat_minor < x_edge && k < 64; k++) {
        double l = k % 2 == 0 ? len : 0.5 * len;
        add_segment(ov, CN_OV_SCALE, k * lat_minor, depth - l, k * lat_minor, depth);
    }
}

double cn_viewer_lateral_step_mm(double width_mm)
{
    return cn_viewer_depth_step_mm(width_mm);
}

/* The nerve's label: its confidence and state, at the outline's top right corner
 * (finite points only; nothing when none is). */
static void nerve_label(cn_viewer_overlay *ov, const cn_contour *c, int n)
{
    float xmax = -INFINITY, ymin = INFINITY;
    for (int i = 0; i < n; i++)
        if (pt_ok(c->pts_mm[i])) {
            xmax = fmaxf(xmax, c->pts_mm[i].x);
            ymin = fminf(ymin, c->pts_mm[i].y);
        }
    if (!isfinite(xmax) || !isfinite(ymin))
        return;
    float conf = isfinite(c->confidence) ? fminf(fmaxf(c->confidence, 0.0f), 1.0f) : 0.0f;
    if (c->hidden)
        snprintf(ov->nerve_label, sizeof ov->nerve_label, "nerve (under ice)");
    else
        snprintf(ov->nerve_label, sizeof ov->nerve_label, "nerve %.0f %%%s", 100.0 * conf,
                 c->held ? " (held)" : "");
    ov->nerve_label_mm = (cn_pt2){xmax, ymin};
    ov->nerve_label_on = true;
}

void cn_viewer_overlay_build(cn_viewer_overlay *ov, const cn_frame *f, bool show_truth,
                             bool show_analysis)
{
    ov->n_pts = 0;
    ov->n_items = 0;
    memset(ov->has_iso, 0, sizeof ov->has_iso);
    ov->nerve_label_on = false;
    ov->nerve_label[0] = '\0';
    if (!f || !cn_viewer_frame_showable(f, NULL, 0))
        return;
    double sx = f->spacing_mm[0], sy = f->spacing_mm[1];
    double x0 = 0, y0 = 0, x1 = f->width * sx, y1 = f->height * sy;

    add_depth_scale(ov, f);

    if (show_truth && f->truth.valid) {
        const cn_truth *t = &f->truth;
        add_dashed_ellipse(ov, CN_OV_TRUTH, t->nerve_center_mm, t->nerve_rx_mm, t->nerve_ry_mm,
                           1.0, 0.0);
        if (t->needle_in)
            add_dashed_line(ov, CN_OV_TRUTH, t->needle_entry_mm, t->needle_tip_mm, 1.5);
        if (t->ice_present) {
            double ux = t->needle_dir.x, uy = t->needle_dir.y, un = hypot(ux, uy);
            if (!(isfinite(un) && un > 1e-6)) {
                ux = 1.0;
                uy = 0.0;
                un = 1.0;
            }
            add_dashed_ellipse(ov, CN_OV_TRUTH, t->ice_center_mm, t->ice_a_mm, t->ice_b_mm,
                               ux / un, uy / un);
        }
    }

    if (!f->analysed || !show_analysis)
        return;
    const cn_analysis *a = &f->analysis;
    int n_iso = a->n_iso < 0 ? 0 : a->n_iso > CN_ISO_MAX ? CN_ISO_MAX : a->n_iso;
    const double rect[4] = {x0, y0, x1, y1};
    for (int i = 0; i < n_iso; i++) {
        const cn_isotherm *iso = &a->iso[i];
        int n = iso->n < 0 ? 0 : iso->n > CN_CONTOUR_MAX ? CN_CONTOUR_MAX : iso->n;
        if (n < 2)
            continue;
        cn_ov_kind k = cn_viewer_iso_kind(iso->temp_c);
        if (k != CN_OV_ISO_OTHER)
            ov->has_iso[k - CN_OV_ISO_0] = true;
        add_isotherm(ov, k, iso, n, rect);
    }
    if (a->nerve.found) {
        int n = a->nerve.n < 0 ? 0 : a->nerve.n > CN_CONTOUR_MAX ? CN_CONTOUR_MAX : a->nerve.n;
        nerve_label(ov, &a->nerve, n);
        if (a->nerve.hidden) {
            /* under the ice: dashed, the outline last seen before it */
            for (int i = 0; i + 1 < n || (n > 2 && i < n); i += 2) {
                const cn_pt2 *p0 = &a->nerve.pts_mm[i], *p1 = &a->nerve.pts_mm[(i + 1) % n];
                add_segment(ov, CN_OV_NERVE, p0->x, p0->y, p1->x, p1->y);
            }
        } else {
            /* held (not found in this frame): the last outline, dimmed */
            add_polyline(ov, a->nerve.held ? CN_OV_NERVE_HELD : CN_OV_NERVE, a->nerve.pts_mm, n,
                         true);
        }
    }
    if (a->nerve_target_set && !a->nerve.found && pt_ok(a->nerve_target_mm)) {
        /* the operator's point while its nerve is not found (the probe lifted or
         * moved): a small dimmed cross where the stage keeps looking */
        const float tx = a->nerve_target_mm.x, ty = a->nerve_target_mm.y, r = 1.5f;
        add_segment(ov, CN_OV_NERVE_HELD, tx - r, ty, tx + r, ty);
        add_segment(ov, CN_OV_NERVE_HELD, tx, ty - r, tx, ty + r);
        snprintf(ov->nerve_label, sizeof ov->nerve_label, "nerve not found here (u forgets)");
        ov->nerve_label_mm = (cn_pt2){tx + r, ty - r};
        ov->nerve_label_on = true;
    }
    int n_ice = a->ice.n < 0 ? 0 : a->ice.n > CN_ICE_PTS_MAX ? CN_ICE_PTS_MAX : a->ice.n;
    if (n_ice > 0) {
        cn_ov_item *it = item_begin(ov, CN_OV_ICE, true, false);
        for (int i = 0; i < n_ice; i++)
            item_add(ov, it, a->ice.pts_mm[i].x, a->ice.pts_mm[i].y);
        item_end(ov, it);
    }
    /* The needle only when the analysis is sure enough (docs/validation.md gives the
     * precision at this threshold): a line in the wrong place is worse than none.
     * A tip hidden under ice is the last reliable one and is drawn open. */
    if (cn_viewer_needle_shown(a))
        add_needle(ov, &a->needle, x0, y0, x1, y1);
}
