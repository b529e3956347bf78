/*
 * ice_watch.c - what the ice detector watches for across frames, beside the rim of one
 * look: ice that appears and grows around a resting probe before any freeze was keyed
 * (a console without a link, f forgotten), and ice that shrinks while a freeze is
 * counted (the gas stopped, the stop not keyed). Either way the image contradicts what
 * CryoNav was told, and the zone follows what it was told: the screen says so, and the
 * operator's f then dates the step when the ice says it happened.
 *
 * Both watches use the one-look fit (cn__ice_fit_ball) against a baseline, and confirm
 * over several seconds of scene time (a median of 5 radii, its growth or shrinkage), so
 * one noisy frame does not raise an alarm.
 */
#include "ice_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cn__ice_drop_shrink(cn_ice_det *d)
{
    d->shr_since_ns = d->shr_last_ns = 0;
    d->shr_rims.n = 0;
    d->shrinking = false;
}

bool cn_ice_det_shrinking(const cn_ice_det *d, int64_t *peak_ns)
{
    if (!d || !d->shrinking)
        return false;
    if (peak_ns)
        *peak_ns = d->peak_ns;
    return true;
}

bool cn_ice_det_unkeyed(const cn_ice_det *d, int64_t *since_ns)
{
    if (!d || !d->unkeyed)
        return false;
    if (since_ns)
        *since_ns = d->cand_since_ns;
    return true;
}

bool cn_ice_det_unkeyed_watching(const cn_ice_det *d, int64_t t_ns)
{
    /* and no longer than the watch could take to be sure from the first such ball at this
     * rest: a ball that never grows (an echo beside the tip) held NERVE LOST back for as
     * long as it was fitted (review 40 F4) */
    return d && d->cand_seen_ns != 0 &&
           (double)(t_ns - d->cand_seen_ns) <= UNKEYED_WATCH_S * 1e9 &&
           (double)(t_ns - d->cand_first_ns) <= UNKEYED_WATCH_MAX_S * 1e9;
}

bool cn_ice_det_rest(const cn_ice_det *d, double radius_mm, cn_pt2 *tip_mm, cn_pt2 *dir,
                     double *back_mm)
{
    const bool before = d && d->last_look == CN_ICE_BEFORE;
    if (!d || !(before ? d->ref_ok : d->rest_ok))
        return false;
    const double h = 0.5 * d->p.active_mm;
    double a = h, b = 0;
    if (radius_mm > 0)
        cn__ice_axes(radius_mm, h, &a, &b);
    *tip_mm = before ? (cn_pt2){(float)d->ref_tx, (float)d->ref_ty}
                     : (cn_pt2){(float)d->rest_tx, (float)d->rest_ty};
    *dir = before ? (cn_pt2){(float)d->ref_ux, (float)d->ref_uy}
                  : (cn_pt2){(float)d->rest_ux, (float)d->rest_uy};
    *back_mm = h + a;
    return true;
}

bool cn_ice_det_watch_reach(const cn_ice_det *d, cn_pt2 *tip_mm, cn_pt2 *dir, double *back_mm)
{
    if (!d || d->cand_seen_ns == 0)
        return false;
    /* the largest ball seen at this rest: the near end recedes as it grows */
    const double r = fmax(d->cand_max_mm, d->cand_rims.n ? cn_last5_median(&d->cand_rims) : 0);
    return cn_ice_det_rest(d, r, tip_mm, dir, back_mm);
}

bool cn_ice_det_unkeyed_melting(const cn_ice_det *d, int64_t *peak_ns)
{
    if (!d || !d->unkeyed || !d->cand_melting)
        return false;
    if (peak_ns)
        *peak_ns = d->cand_peak_ns;
    return true;
}

/* The rim-like rows of a frame, per image column (NAN none), as a baseline. */
void cn__ice_record_rows(float *rows, int max_w, int w, const rim_pt *pts, int np, int step)
{
    for (int i = 0; i < w && i < max_w; i++)
        rows[i] = NAN;
    for (int i = 0; i < np; i++)
        for (int k = -step; k <= step; k++) {
            int c = pts[i].col + k;
            if (c >= 0 && c < w && c < max_w)
                rows[c] = pts[i].y;
        }
}

void cn__ice_drop_candidate(cn_ice_det *d)
{
    d->cand_since_ns = d->cand_last_ns = 0;
    d->cand_rims.n = 0;
    d->cand_min_mm = INFINITY;
    d->cand_max_mm = d->cand_trough_mm = 0;
    d->cand_peak_ns = d->cand_low_since_ns = 0;
    d->unkeyed = d->cand_melting = false;
    d->shaftless_since_ns = 0;
}

/* Before a freeze: is there ice nobody keyed (a freeze started at a console without a
 * link, and the f forgotten)? Before, such ice went into the baseline frame by frame,
 * no zone was shown and nothing said so; and when the freeze was keyed late, its rim
 * lay on the baseline and was dropped until it had grown 0.6 mm past it. out gets the
 * ball once it is confirmed (UNKEYED_S, UNKEYED_GROWTH_MM). */
void cn__ice_unkeyed_watch(cn_ice_det *d, const look_geom *g, const rim_pt *pts, int np, int w,
                          int64_t t_ns, cn_ice_front *out, double *radius_mm)
{
    /* The probe is where it came to rest while it has not moved across its line, turned
     * or advanced: ice hides the shaft from the ball's near vertex on, so a detected tip
     * (no tracked pose) retreats along the line by the active length and more as the
     * ball grows; the ball is anchored at the resting tip. */
    const double tx = g->needle->tip_mm.x, ty = g->needle->tip_mm.y;
    const double along = (tx - d->ref_tx) * d->ref_ux + (ty - d->ref_ty) * d->ref_uy;
    const double across = -(tx - d->ref_tx) * d->ref_uy + (ty - d->ref_ty) * d->ref_ux;
    /* A tracked pose is not hidden by the ice: one drawn back 1.5 mm from a rest that was
     * a pose too is a probe drawn back. Before, it had to go back as far as a detected tip
     * may seem to (2 x the active length + 4 mm), and the tip stayed drawn hidden at its
     * rest, up to 15 mm off, while the tracked probe was pulled out of unkeyed ice. */
    const bool pose_back = d->probe_tracked && d->ref_tracked && along < -1.5;
    const bool turned_or_off = !d->ref_ok || d->ref_w != w || fabs(across) > 1.5 ||
                               along < -(2 * d->p.active_mm + 4) || pose_back ||
                               fabs(g->ux * d->ref_uy - g->uy * d->ref_ux) > 0.052 /* 3 deg */ ||
                               g->ux * d->ref_ux + g->uy * d->ref_uy < 0;
    /* Advanced 1.5 mm: a move, unless it crept there (under CREEP_MM_S since the last
     * look): the end of a slow advance, or the ice lengthening the tip's echo. Before, such
     * a creep restarted the watch 3.5 s into a freeze nobody keyed (the rest was taken while
     * the needle still crept 0.1 mm a frame): ICE SEEN came 5 s later, and NERVE LOST
     * flickered in between (review 39c). The rest then follows the tip along its line; the
     * baseline rows and the ball watched stay (its thickness about the axis is the same). */
    /* (the speed over looks that saw the tip: one back after a gap of the watch's own
     * tolerance or more is no creep, whatever its speed, review 40 F3) */
    const double dt_s = d->tip_t_ns != 0 ? (double)(t_ns - d->tip_t_ns) * 1e-9 : 0;
    const bool crept = along > 1.5 && dt_s > 0 && dt_s <= UNKEYED_GAP_S &&
                       along - d->tip_along_mm < CREEP_MM_S * dt_s;
    const bool moved = turned_or_off || (along > 1.5 && !crept);
    d->tip_t_ns = t_ns;
    d->tip_along_mm = moved ? 0 : crept ? 0 : along;
    if (crept && !moved) {
        d->ref_tx = tx;
        d->ref_ty = ty;
    }
    if (moved) {
        cn__ice_record_rows(d->ref_y, d->max_w, w, pts, np, g->step);
        d->ref_w = w;
        d->ref_ok = true;
        d->ref_tx = tx;
        d->ref_ty = ty;
        d->ref_ux = g->ux;
        d->ref_uy = g->uy;
        d->ref_tracked = d->probe_tracked;
        cn__ice_drop_candidate(d);
        d->cand_seen_ns = d->cand_first_ns = 0;
        return;
    }
    cn_needle_result rest = *g->needle;
    rest.tip_mm = (cn_pt2){(float)d->ref_tx, (float)d->ref_ty};
    look_geom at_rest = *g;
    at_rest.needle = &rest;
    at_rest.cx = d->ref_tx - g->ux * g->hseg;
    at_rest.cy = d->ref_ty - g->uy * g->hseg;
    rim_pt tmp[MAX_COLS];
    memcpy(tmp, pts, sizeof tmp[0] * (size_t)np);
    cn_ice_front cand = *out;
    double r = 0;
    /* Ice confirmed at this rest, the shaft hidden altogether, and a tracked cryoprobe
     * still at the rest (a pose drawn back is a move, above): a ball that passes every
     * other check is the same ice, about the same probe, and is taken as seen. The shaft
     * test tells ice about the probe from a bone dome or a fascia, which the confirmation
     * did already; a shaft found elsewhere still fails it. Before, 2 s without a shaft
     * dropped the ice (a silent console's freeze on the simulator's hard scene 12: the
     * detector lost the shaft for 9 s), the watch lapsed, and the shaft's end at the ice
     * was then drawn as the tip, seen, 7.4 mm short, for the rest of the freeze and the
     * thaw. Only with a pose: from the image alone a shaft lost under the ice and a probe
     * pulled out look alike, and keeping the ice then held the tip, hidden, at its rest
     * after the probe had left (80 hard scenes: 46 more such frames in the withdrawal,
     * docs/validation.md, forty-third session). And for UNKEYED_WATCH_S at most: a tracker
     * that goes on reporting the probe at rest when it is not (a stale pose) holds it no
     * longer than a watch may last. */
    bool shaftless = d->unkeyed && d->probe_tracked && d->ref_tracked &&
                     (d->shaftless_since_ns == 0 ||
                      (double)(t_ns - d->shaftless_since_ns) <= UNKEYED_WATCH_S * 1e9);
    if (!cn__ice_fit_ball(d, &at_rest, tmp, np, d->ref_y, d->ref_w, w, g->rn + 0.4, &cand, &r,
                          &shaftless)) {
        if (d->cand_since_ns != 0 && (double)(t_ns - d->cand_last_ns) > UNKEYED_GAP_S * 1e9)
            cn__ice_drop_candidate(d);
        return;
    }
    if (!shaftless)
        d->shaftless_since_ns = 0;
    else if (d->shaftless_since_ns == 0)
        d->shaftless_since_ns = t_ns != 0 ? t_ns : 1;
    if (d->cand_since_ns == 0) {
        cn__ice_drop_candidate(d);
        d->cand_since_ns = t_ns != 0 ? t_ns : 1;
    }
    d->cand_last_ns = t_ns;
    d->cand_seen_ns = t_ns != 0 ? t_ns : 1;
    if (d->cand_first_ns == 0)
        d->cand_first_ns = d->cand_seen_ns;
    const double med = cn_last5_push(&d->cand_rims, r);
    d->cand_min_mm = fmin(d->cand_min_mm, med);
    d->cand_trough_mm = fmin(d->cand_trough_mm, med);
    /* growing: past its largest, or again by UNKEYED_GROWTH_MM after it shrank (the
     * console froze again: the review found "melting" kept, and f thawing the model
     * while the ice grew 4.1 mm past it); its largest is counted from there */
    if (med > d->cand_max_mm || med >= d->cand_trough_mm + UNKEYED_GROWTH_MM) {
        d->cand_max_mm = d->cand_trough_mm = med;
        d->cand_peak_ns = t_ns;
        d->cand_low_since_ns = 0;
        d->cand_melting = false;
    }
    if ((double)(t_ns - d->cand_since_ns) >= UNKEYED_S * 1e9 &&
        med >= d->cand_min_mm + UNKEYED_GROWTH_MM)
        d->unkeyed = true;
    /* grown, then SHRINK_MM under its largest for SHRINK_S: the freeze nobody keyed is over
     * (the gas stopped too). Before, a freeze keyed then froze on from the largest rim the
     * key saw: 4.4 mm of zone for 2.8 of ice 20 s on, with nothing said */
    if (med > d->cand_max_mm - SHRINK_MM)
        d->cand_low_since_ns = 0;
    else if (d->cand_low_since_ns == 0)
        d->cand_low_since_ns = t_ns != 0 ? t_ns : 1;
    if (d->unkeyed && d->cand_low_since_ns != 0 &&
        (double)(t_ns - d->cand_low_since_ns) >= SHRINK_S * 1e9)
        d->cand_melting = true;
    if (d->unkeyed) {
        *out = cand;
        if (radius_mm)
            *radius_mm = r;
    }
}

/* In a freeze whose own look found no ball (it may not shrink): is there a smaller one,
 * shrinking (the gas stopped and the freeze stop was not keyed)? Before, the rim was
 * simply lost, and the model froze on: 6.5 mm of zone for 0.65 mm of ice 84 s after the
 * gas stopped, with nothing said. */
void cn__ice_shrink_watch(cn_ice_det *d, const look_geom *g, rim_pt *pts, int np,
                         const float *base, int base_w, int w, int64_t t_ns, cn_ice_front *out,
                         double *radius_mm)
{
    cn_ice_front tmp = *out;
    double r = 0;
    if (!cn__ice_fit_ball(d, g, pts, np, base, base_w, w, g->rn + 0.4, &tmp, &r, NULL) ||
        r > d->r_prev - d->p.max_shrink_mm) {
        /* once said, it holds until the rim stands at its largest again or the freeze
         * is over: ice that has melted below what can be told from the probe is no
         * freeze either */
        if (!d->shrinking && d->shr_since_ns != 0 &&
            (double)(t_ns - d->shr_last_ns) > UNKEYED_GAP_S * 1e9)
            cn__ice_drop_shrink(d);
        return;
    }
    if (d->shr_since_ns == 0) {
        cn__ice_drop_shrink(d);
        d->shr_since_ns = t_ns != 0 ? t_ns : 1;
    }
    d->shr_last_ns = t_ns;
    const double med = cn_last5_push(&d->shr_rims, r);
    if ((double)(t_ns - d->shr_since_ns) >= SHRINK_S * 1e9 &&
        med <= d->r_prev - SHRINK_MM)
        d->shrinking = true;
    if (d->shrinking) { /* the front shown is the ice that is there */
        *out = tmp;
        if (radius_mm)
            *radius_mm = r;
    }
}
