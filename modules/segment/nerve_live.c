/*
 * nerve_live.c - the nerve outline of every analysed frame: found without a
 * click, or the one the operator's click picks, kept steady between network
 * frames, held briefly when lost, reported hidden under the ice. This file holds
 * the operator's point, the older seeded path and the states the outline is
 * reported in; the finder's passes, the click's frame and the tracking between
 * them are nerve_live_pass.c's (the state both share is in nerve_live.h).
 *
 * Only a click the networks outline nothing at falls back to the older seeded
 * path: the seeded crop CNN (nerve_cnn.c) whenever the polar DP (nerve.c)
 * loses the nerve, the DP in between; the finder is asked again on its next
 * frame. The DP outlines whatever lies at a point: when it used to take over
 * from a lost nerve, it reported one, at confidence ~0.5, on 40-43 % of the
 * frames of real views without a nerve shown after a click on a real nerve,
 * and on a still image it replaced a better outline (twenty-second session,
 * docs/validation.md). The DP's size prior comes from
 * the pixel spacing, clamped to what the frame can hold (a coarse frame used to
 * shrink it below the DP's own smoothing and lose every nerve).
 *
 * States (core.h cn_contour): found (outline of this frame), held (not found in
 * this frame: the last outline, for up to NERVE_HOLD_FRAMES frames, confidence
 * decaying), hidden (under the freeze's ice or its shadow: the outline from
 * before the freeze), none (found = false). found stays true for held and
 * hidden, which say how to read the outline.
 */
#include "nerve_live.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NERVE_HOLD_FRAMES 10  /* a lost nerve's outline is held this many frames (0.5 s at 20 fps) */
#define NERVE_UNDER_ICE 0.25  /* this much of the outline under the rim: hidden */
#define NERVE_UNDER_ICE_KEEP 0.15 /* and hidden until less than this is: the share hovers
                                   * about 0.25 while the front's points change from frame
                                   * to frame, and the outline flipped up to six times in
                                   * 1.5 s as the ice reached the nerve (seventeenth session) */
#define NERVE_DARK 0.6        /* inside this much darker than in the open: still hidden */

/* An outline an eighth of the nerve's first outlined area, or eight times it, is not the
 * nerve: a tracked outline drifted in the shadow of a thawing ice ball, to 0.75 x 0.42 mm
 * for a 4 x 2.5 mm nerve after a reposition (then to a 31 x 18 mm region), and was
 * followed into freeze 2, which it scored 0 % (teaching audit T12). The bound is a
 * sanity limit (a nerve's section does not change eight-fold in a session), not fitted. */
#define NERVE_AREA_RATIO 8.0

nerve_live *nerve_live_new(const cn_segment_config *c, int max_w, int max_h)
{
    nerve_live *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->c = *c;
    n->find_fresh = true; /* the first frame asks the finder */
    n->dp = cn_nerve_seg_new(max_w, max_h);
    if (c->nerve_cnn)
        n->cnn = cn_nerve_cnn_new(max_w, max_h);
    if (c->nerve_find) {
        n->find = cn_nerve_find_new(max_w, max_h);
        if (c->nerve_cnn)
            n->refine_cnn = cn_nerve_cnn_new_refine(max_w, max_h);
        n->pass_px = malloc((size_t)max_w * max_h);
    }
    n->cut = n->find ? cn_nerve_find_fov_crop(n->find) : cn_nerve_cnn_fov_crop(n->cnn);
    if (n->cut) {
        n->view_px = malloc((size_t)max_w * max_h);
        n->col_lit = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(max_w, max_h));
    }
    if (!n->dp || (c->nerve_cnn && !n->cnn) || (c->nerve_find && (!n->find || !n->pass_px)) ||
        (c->nerve_cnn && c->nerve_find && !n->refine_cnn) ||
        (n->cut && (!n->view_px || !n->col_lit))) {
        nerve_live_free(n);
        return NULL;
    }
    return n;
}

void nerve_live_free(nerve_live *n)
{
    if (!n)
        return;
    cn_nerve_seg_free(n->dp);
    cn_nerve_cnn_free(n->cnn);
    cn_nerve_cnn_free(n->refine_cnn);
    cn_nerve_find_free(n->find);
    free(n->pass_px);
    free(n->view_px);
    free(n->col_lit);
    free(n);
}

void nerve_live_set_seed(nerve_live *n, cn_pt2 seed_mm)
{
    if (!n || !isfinite(seed_mm.x) || !isfinite(seed_mm.y))
        return;
    n->has_seed = true;
    n->seed_fresh = n->find_fresh = true;
    n->seed_mm = seed_mm;
    n->track_mm = seed_mm;
    n->have_last = n->nerve_hidden = false; /* the operator says where it is now */
    n->have_held = false;
    n->have_cur = n->pass = n->refine_pending = false;
    n->seed_known = n->seed_outlined = false;
    n->ref_area_mm2 = 0; /* another nerve, perhaps of another size */
    n->reclicked = false;
}

void nerve_live_clear_seed(nerve_live *n)
{
    if (n) {
        n->has_seed = false;
        n->have_cur = n->pass = n->refine_pending = false;
        n->find_fresh = true; /* the finder looks afresh, for the nerve with the most mass */
        /* the operator forgot that nerve: its outline is not held, nor kept as the
         * one under the ice (it was shown "held" over automatic mode's first look) */
        n->have_held = n->have_last = n->nerve_hidden = false;
        n->missed = n->misses = 0;
        n->seed_known = n->seed_outlined = false;
        n->ref_area_mm2 = 0;
        n->reclicked = false;
    }
}

void nerve_live_reset(nerve_live *n)
{
    if (!n)
        return;
    n->seed_fresh = n->has_seed;
    n->find_fresh = true;
    n->nerve_lost = false;
    n->track_mm = n->seed_mm;
    n->have_last = n->nerve_hidden = false;
    n->have_held = n->have_cur = n->pass = n->refine_pending = false;
    n->missed = n->misses = 0;
    n->seed_known = n->seed_outlined = false;
    n->ref_area_mm2 = 0;
    n->reclicked = false;
}

void nerve_live_view_lost(nerve_live *n)
{
    if (!n || (!n->have_held && !n->have_cur && !n->pass && !n->refine_pending))
        return;
    n->have_held = n->have_cur = n->pass = n->refine_pending = false;
    n->track_ok = false;
    n->missed = 0;
    n->reclicked = false;
}

bool nerve_live_target(const nerve_live *n, cn_pt2 *target_mm)
{
    if (!n || !n->has_seed || !target_mm)
        return false;
    *target_mm = n->track_mm;
    return true;
}

/* The DP's size prior in pixels: the configured radius at the frame's spacing,
 * kept where the frame can hold it (cn_nerve_prior_radius_px). */
static double dp_radius_px(const nerve_live *n, const cn_frame *f)
{
    return cn_nerve_prior_radius_px(f->width, f->height, f->spacing_mm, n->c.nerve_radius_mm);
}

/* The seeded path without the finder (or when it finds nothing near the point):
 * the crop CNN on the click's frame and when the DP loses the nerve, the DP in
 * between. Returns true with an outline (input pixels) when found. */
static bool seeded_fallback(nerve_live *n, const cn_frame *f, cn_pt2 *pts, int *np, float *conf)
{
    const double spx = f->spacing_mm[0], spy = f->spacing_mm[1];
    if (cn_nerve_seg_prepare(n->dp, f->pixels, f->width, f->height) != CN_OK)
        return false;
    cn_nerve_params p = n->c.nerve;
    p.r0_px = dp_radius_px(n, f);
    double sx = n->track_mm.x / spx - 0.5, sy = n->track_mm.y / spy - 0.5;
    bool by_cnn = n->cnn && (n->seed_fresh || n->nerve_lost);
    /* the crop CNN sees what it was trained on: the cut frame when the weights say */
    const int ox = n->cut ? n->vb.x0 : 0, oy = n->cut ? n->vb.y0 : 0;
    const double csx = sx - ox, csy = sy - oy;
    if (by_cnn && n->cut && (csx < 0 || csy < 0 || csx > n->vw - 1 || csy > n->vh - 1))
        by_cnn = false; /* a point in the margins cut away: the DP alone */
    int rc;
    if (by_cnn && n->seed_fresh) { /* the click: both crops of a size-normalised file */
        rc = cn_nerve_cnn_run(n->cnn, CN_NERVE_CNN_LIVE, n->vpx, n->vw, n->vh, csx, csy, NULL,
                              pts, np, conf);
        n->seed_fresh = false;
    } else if (by_cnn) {
        /* the DP lost the nerve: the first crop only (the staged calls, every
         * network now). The DP's preparation is on this frame too, and this can
         * recur through a session, so it does not take a second network. */
        bool done = false;
        rc = cn_nerve_cnn_blend_begin(n->cnn, CN_NERVE_CNN_LIVE, n->vpx, n->vw, n->vh, csx, csy,
                                      NULL);
        while (rc == CN_OK && !done)
            rc = cn_nerve_cnn_blend_step(n->cnn, NULL, 0, NULL, pts, np, conf, &done);
    } else {
        rc = cn_nerve_seg_run(n->dp, sx, sy, &p, pts, np, conf);
    }
    if (rc != CN_OK || *np < 3)
        return false;
    if (by_cnn)
        for (int i = 0; i < *np; i++) { /* back to input pixels */
            pts[i].x += (float)ox;
            pts[i].y += (float)oy;
        }
    /* a CNN frame hands over to the DP for the next frame whatever it found (so a
     * nerve the CNN cannot see never stops the tracker); a DP frame that loses
     * the nerve asks the CNN once */
    n->nerve_lost = !by_cnn && *conf < p.min_confidence;
    if (*conf < p.min_confidence)
        return false;
    /* after a CNN frame the track keeps the point the CNN was given (it was
     * trained with the nerve's centroid there); the DP moves it */
    if (!by_cnn) {
        double cx = 0, cy = 0;
        for (int i = 0; i < *np; i++) {
            cx += pts[i].x;
            cy += pts[i].y;
        }
        n->track_mm = (cn_pt2){(float)((cx / *np + 0.5) * spx), (float)((cy / *np + 0.5) * spy)};
        n->seed_fresh = false;
    }
    return true;
}

/* pts_px: input pixels less (ox, oy) (the cut frame's origin for the finder's outlines) */
static void report(cn_contour *nc, const cn_frame *f, const cn_pt2 *pts_px, int np, float conf,
                   int ox, int oy)
{
    const double spx = f->spacing_mm[0], spy = f->spacing_mm[1];
    nc->found = true;
    nc->held = nc->hidden = false;
    nc->confidence = conf;
    nc->n = np;
    for (int i = 0; i < np; i++)
        nc->pts_mm[i] = (cn_pt2){(float)((pts_px[i].x + ox + 0.5) * spx),
                                 (float)((pts_px[i].y + oy + 0.5) * spy)};
}

void nerve_live_run(nerve_live *n, cn_frame *f, bool freezing)
{
    cn_contour *nc = &f->analysis.nerve;
    const double spx = f->spacing_mm[0], spy = f->spacing_mm[1];
    if (!n->has_seed && !n->c.nerve_auto)
        return;
    if (n->have_last) {
        /* hidden when the freeze's ice comes over the nerve; stays hidden after the
         * freeze while its inside is still in the dark (the ice melts slowly) */
        const cn_ice_front *ice = &f->analysis.ice;
        const double under = ice->found ? nerve_outline_under_ice(&n->last_nerve, ice) : 0.0;
        bool covered = under >= (n->nerve_hidden ? NERVE_UNDER_ICE_KEEP : NERVE_UNDER_ICE);
        n->nerve_hidden =
            covered || (n->nerve_hidden && nerve_outline_inside_mean(f, &n->last_nerve) <
                                               NERVE_DARK * n->last_inside);
        if (n->nerve_hidden) {
            *nc = n->last_nerve;
            nc->hidden = true;
            nc->held = false;
            return;
        }
    }
    bool found = false;
    if (!cn__nl_view_update(n, f))
        return;
    const int ox = n->cut ? n->vb.x0 : 0, oy = n->cut ? n->vb.y0 : 0;
    if (n->find) {
        cn_nerve_found r;
        if (n->find_fresh && n->has_seed) {
            n->find_fresh = false;
            found = n->have_cur = n->seed_outlined = n->track_ok = cn__nl_seeded_click(n, f, &r);
            if (found)
                n->cur = r;
        } else {
            n->find_fresh = false;
            found = cn__nl_by_finder(n, f, &r);
        }
        if (found) {
            report(nc, f, r.pts_px, r.n, r.confidence, ox, oy);
            if (n->has_seed) { /* the point follows the nerve */
                double cx = 0, cy = 0;
                for (int i = 0; i < r.n; i++) {
                    cx += r.pts_px[i].x / r.n;
                    cy += r.pts_px[i].y / r.n;
                }
                n->track_mm = (cn_pt2){(float)((cx + ox + 0.5) * spx), (float)((cy + oy + 0.5) * spy)};
            }
        }
    }
    if (!found && n->has_seed && !n->have_cur && !n->seed_known && !n->seed_outlined) {
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np = 0;
        float conf = 0;
        found = seeded_fallback(n, f, pts, &np, &conf);
        if (found)
            report(nc, f, pts, np, conf, 0, 0);
    }
    if (found && n->has_seed) {
        const double area = nerve_outline_bbox_area_mm2(nc);
        if (n->ref_area_mm2 > 0 && (area * NERVE_AREA_RATIO < n->ref_area_mm2 ||
                                    area > NERVE_AREA_RATIO * n->ref_area_mm2)) {
            /* not the nerve: the last outline is held while the point is looked at
             * afresh once (a click's outline, on the next frame) */
            found = false;
            nc->found = false;
            nc->n = 0;
            n->have_cur = n->track_ok = false;
            if (!n->reclicked) {
                n->reclicked = true;
                n->find_fresh = true;
            }
        } else if (area > 0) {
            if (!(n->ref_area_mm2 > 0))
                n->ref_area_mm2 = area;
            n->reclicked = false;
        }
    }
    if (found) {
        n->held = *nc;
        n->have_held = true;
        n->missed = 0;
    } else if (n->have_held && ++n->missed <= NERVE_HOLD_FRAMES) {
        /* not found in this frame: the last outline, flagged, its confidence decaying */
        *nc = n->held;
        nc->held = true;
        nc->confidence = n->held.confidence * powf(0.85f, (float)n->missed);
        return;
    } else {
        n->have_held = false;
        return;
    }
    /* the reference is taken outside a freeze: once freezing, the shadow of ice
     * still too thin to detect already bends the outline */
    if (!freezing) {
        n->last_nerve = *nc;
        n->last_inside = nerve_outline_inside_mean(f, nc);
        n->have_last = n->last_inside > 0;
    }
}
