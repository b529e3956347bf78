/*
 * needle.c - in-plane needle (cryoprobe) detection on B-mode frames of any
 * scanner: Hessian ridge map, oriented Hough, segment walk, front-wall fit, tip
 * at the deep end of the visible shaft, and a confidence that says how
 * needle-like the best line is.
 *
 * The idea (what separates a needle from the classic false positives):
 *  - A needle is a bright *straight* line: ridge pixels vote only near their own
 *    Hessian orientation, so curved interfaces spread their votes
 *    (needle_lines.c); each angle band keeps its own best peaks, so long bright
 *    near-horizontal interfaces cannot crowd a faint steep needle out.
 *  - It is a *segment that ends in view*: the deep end (the tip) must lie inside
 *    the field of view. A container wall, a fascia or the transducer's
 *    reverberation bands run from border to border, or their deep end is at the
 *    border.
 *  - Its front wall is the echo nearest the transducer: stations along the
 *    segment find the leading edge of the bright echo in the cross-profile and a
 *    trimmed line fit through them gives the line, its straightness and its
 *    contrast. Thick probes show a band (front wall, ring-down, back wall); the
 *    leading edge is stable where the brightest row is not.
 *  - Candidates are ranked on the working image (cheap); only the winner is
 *    refined on the full-resolution frame, where its tip is found from the grey
 *    profile along the line.
 *  - Confidence is a logistic function of a few dimensionless features (ridge
 *    support, straightness, fill, side contrast, angle); the weights were chosen
 *    on simulator scenes (docs/validation.md: the split, and what the confidence
 *    means on real frames). "Not found" is an answer.
 *  - Priors, each optional: entry side and angle range (restrict the votes), the
 *    tracked cryoprobe pose (a hard window around it), the previous frame's
 *    needle (a soft preference, cn_needle_det_detect_prev).
 */
#include "segment/segment.h"

#include "imaging/imaging.h"
#include "needle_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPEAK 32          /* accumulator peaks examined (at most 2 per angle band) */

struct cn_needle_det {
    cn_needle_params p;
    int max_w, max_h;
    nd_work w;
    nd_hough h;
    float *prof, *prof2, *prof3;
};

void cn_needle_params_default(cn_needle_params *p)
{
    p->entry = CN_ENTRY_AUTO;
    p->min_angle_deg = 3;
    p->max_angle_deg = 75;
    p->prior_tol_mm = 3;
    p->prior_tol_deg = 6;
    p->min_confidence = CN_NEEDLE_SHOW_CONFIDENCE;
    p->kalman_q_mm = 0.3;
    p->kalman_r_mm = 0.4;
    p->needle_diameter_mm = 1.5;
}

cn_needle_det *cn_needle_det_new(int max_w, int max_h, const cn_needle_params *p)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_needle_det *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (p)
        d->p = *p;
    else
        cn_needle_params_default(&d->p);
    d->max_w = max_w;
    d->max_h = max_h;
    if (nd_work_init(&d->w, max_w, max_h) != 0) {
        free(d);
        return NULL;
    }
    d->prof = malloc(sizeof(float) * PROF_MAX);
    d->prof2 = malloc(sizeof(float) * PROF_MAX);
    d->prof3 = malloc(sizeof(float) * PROF_MAX);
    if (nd_hough_init(&d->h, max_w, max_h) != 0 || !d->prof || !d->prof2 || !d->prof3) {
        cn_needle_det_free(d);
        return NULL;
    }
    return d;
}

void cn_needle_det_free(cn_needle_det *d)
{
    if (!d)
        return;
    nd_work_free(&d->w);
    nd_hough_free(&d->h);
    free(d->prof), free(d->prof2), free(d->prof3);
    free(d);
}

/* ------------------------------------------------------------------ confidence */

/* The needle evidence of a candidate, a weighted sum of dimensionless features: a
 * specular shaft is bright against the frame (peak over the frame's mean, in grey
 * spreads), its front wall is straight (residual of the edge fit, working px), it
 * has ridge support and a visible length (vs 15 % of the width), and it is not
 * within 4.5 degrees of the transducer face, where fascia, walls and
 * reverberation bands run. Weights and the operating point ND_Z_OPERATING were
 * chosen on the simulator's randomised hard scenes (scenes 1-150, the development
 * split; docs/validation.md): the point where wrong lines and detections on
 * empty frames stay under 5 % of the frames. */
#define ND_Z_OPERATING 5.6f
#define ND_Z_TRACKED 1.0f /* the same line as the previous frame's needle */
#define ND_Z_POSE 2.0f    /* inside the window of the tracked cryoprobe pose */

/* A candidate's angle to the transducer face in the tissue (degrees, -90..90):
 * its working-pixel angle unless the pixels are not square (aspect = the pixel's
 * height / width in mm), where a line keeps straight but not its angle. Every
 * angle rule (the range, the transducer-face penalty) is about the tissue. */
static float tissue_angle_deg(const nd_cand *c, double aspect)
{
    if (aspect == 1.0)
        return nd_line_angle_deg(c);
    nd_cand t = *c;
    t.uy = (float)(c->uy * aspect);
    return nd_line_angle_deg(&t);
}

/* The same for a working-pixel angle a (degrees, -90..90). */
static double tissue_angle_of(double a_deg, double aspect)
{
    if (aspect == 1.0)
        return a_deg;
    double r = a_deg * M_PI / 180;
    return atan2(sin(r) * aspect, cos(r)) * 180 / M_PI;
}

static float evidence(const nd_cand *c, float work_w, double aspect)
{
    float len = c->tt - c->te;
    float a = fabsf(tissue_angle_deg(c, aspect));
    return 2.0f * (c->bright - 2.0f) + 3.0f * (0.7f - fminf(c->resid, 3.0f)) +
           0.5f * logf(fmaxf(c->support, 1.0f) / 60.0f) +
           fminf(logf(fmaxf(len, 1.0f) / (0.15f * work_w)), 1.0f) -
           4.0f * fmaxf(0.0f, 4.5f - a);
}

static float confidence(float z) { return 1.0f / (1.0f + expf(-(z - ND_Z_OPERATING))); }

/* ------------------------------------------------------------------ detection */

/* One candidate on the working image: front-wall fit, the run on the fitted line,
 * angle range, the field-of-view test and the features. */
static bool evaluate(const nd_work *wk, double amin, double amax, bool left, bool right,
                     double aspect, nd_cand *c)
{
    const nd_img im = {wk->g, wk->w, wk->h, 1.0f};
    nd_refine(wk, &im, c);
    if (!nd_rewalk(wk, c, 0))
        return false;
    /* the fitted line must still be in the allowed range (1 degree of slack) */
    float a = tissue_angle_deg(c, aspect);
    if (fabsf(a) < amin - 1 || fabsf(a) > amax + 1 || (a > 0 && !left) || (a < 0 && !right))
        return false;
    nd_orient(c);
    c->inset = nd_fov_inset(wk, c->px + c->ux * c->tt, c->py + c->uy * c->tt);
    c->entry_inset = nd_fov_inset(wk, c->px + c->ux * c->te, c->py + c->uy * c->te);
    /* the deep end at the border: an interface (or a needle whose tip left the
     * view), not a tip the clinician can watch. Ridges are not computed within a
     * margin of the border (nd_enhance), so a line running out of the view ends
     * that far inside it. */
    const float margin = nd_ridge_margin(wk, c->coarse > 0.5f ? 1 : 0);
    c->inset -= margin;
    c->entry_inset -= margin;
    if (c->inset < fmaxf(3.0f, 0.015f * (float)wk->w))
        return false;
    c->score = evidence(c, (float)wk->w, aspect);
    c->conf = confidence(c->score);
    return true;
}

int cn_needle_det_detect_prev(cn_needle_det *d, const uint8_t *px, int w, int h,
                              const double spacing_mm[2], const cn_needle_result *prior,
                              const cn_needle_result *prev, cn_needle_result *out)
{
    if (!out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (!d || cn_image_check(px, w, h) || !spacing_mm || !(spacing_mm[0] > 0) ||
        !(spacing_mm[1] > 0) || !isfinite(spacing_mm[0]) || !isfinite(spacing_mm[1]))
        return CN_EINVAL;
    if (w > d->max_w || h > d->max_h || w < 16 || h < 16)
        return CN_ERANGE;
    const cn_needle_params *p = &d->p;
    nd_work *wk = &d->w;
    if (!nd_enhance(wk, px, w, h))
        return CN_OK; /* nothing in view */
    const double spx = spacing_mm[0], spy = spacing_mm[1];
    /* pixels taller than wide (or wider): angles in the tissue differ from the
     * image's; exactly 1 for square pixels, where nothing is converted */
    const double aspect = spy / spx;
    const float F = (float)wk->f;
    /* image mm <-> working px */
#define MM2W_X(v) (((float)((v) / spx) - 0.5f - 0.5f * (F - 1)) / F)
#define MM2W_Y(v) (((float)((v) / spy) - 0.5f - 0.5f * (F - 1)) / F)
    /* allowed angle bins: side and range, narrowed by a pose prior */
    nd_vote_setup vs;
    memset(&vs, 0, sizeof vs);
    double amin = p->min_angle_deg, amax = p->max_angle_deg;
    bool left = p->entry != CN_ENTRY_RIGHT, right = p->entry != CN_ENTRY_LEFT;
    if (prior && prior->found && isfinite(prior->tip_mm.x) && isfinite(prior->tip_mm.y) &&
        isfinite(prior->dir.x) && isfinite(prior->dir.y) &&
        hypot(prior->dir.x, prior->dir.y) > 0.5) {
        double dx = prior->dir.x / spx, dy = prior->dir.y / spy; /* in pixels */
        double pa = tissue_angle_of(atan2(dy, dx) * 180 / M_PI, aspect);
        if (pa > 90)
            pa -= 180;
        else if (pa < -90)
            pa += 180;
        vs.use_pose = true;
        vs.pose_x = MM2W_X(prior->tip_mm.x);
        vs.pose_y = MM2W_Y(prior->tip_mm.y);
        vs.pose_tol = fmaxf(1.5f, (float)(p->prior_tol_mm / (0.5 * (spx + spy))) / F);
        amin = fmax(amin, fabs(pa) - p->prior_tol_deg);
        amax = fmin(amax, fabs(pa) + p->prior_tol_deg);
        left = left && pa > 0;
        right = right && pa < 0;
    }
    int n_allowed = 0;
    for (int b = 0; b < ND_NANG; b++) {
        double a = b - 89;
        double r = a * M_PI / 180;
        vs.cs[b] = (float)cos(r);
        vs.sn[b] = (float)sin(r);
        double at = tissue_angle_of(a, aspect);
        bool ok = fabs(at) >= amin && fabs(at) <= amax && ((a > 0 && left) || (a < 0 && right));
        vs.allowed[b] = ok;
        n_allowed += ok;
    }
    if (!n_allowed || nd_hough_vote(&d->h, wk, &vs) < 8)
        return CN_OK;
    nd_peak pk[NPEAK];
    int npk = nd_hough_peaks(&d->h, wk, &vs, pk, NPEAK);
    /* the previous frame's needle, as a line in working px */
    bool use_prev = prev && prev->found && isfinite(prev->tip_mm.x) && isfinite(prev->dir.x) &&
                    hypot(prev->dir.x, prev->dir.y) > 0.5;
    float pvx = 0, pvy = 0, pux = 0, puy = 0;
    if (use_prev) {
        pvx = MM2W_X(prev->tip_mm.x);
        pvy = MM2W_Y(prev->tip_mm.y);
        float dx = (float)(prev->dir.x / spx), dy = (float)(prev->dir.y / spy), dn = hypotf(dx, dy);
        pux = dx / dn;
        puy = dy / dn;
    }
#undef MM2W_X
#undef MM2W_Y
    /* walk and evaluate every peak on the working image */
    nd_cand cand[NPEAK];
    int nc = 0, best = -1;
    for (int i = 0; i < npk; i++) {
        float ox, oy, ux, uy;
        nd_peak_line(&d->h, wk, &vs, &pk[i], &ox, &oy, &ux, &uy);
        nd_run r;
        if (!nd_walk(wk, ox, oy, ux, uy, NAN, &r))
            continue;
        nd_cand *c = &cand[nc++];
        memset(c, 0, sizeof *c);
        /* base point at the run's middle */
        float tm = 0.5f * (r.ta + r.tb);
        c->px = ox + ux * tm;
        c->py = oy + uy * tm;
        c->ux = ux;
        c->uy = uy;
        c->te = r.ta - tm;
        c->tt = r.tb - tm;
        c->support = r.support;
        c->fill = r.fill;
        c->coarse = r.coarse;
        c->ok = evaluate(wk, amin, amax, left, right, aspect, c);
        if (!c->ok)
            continue;
        if (vs.use_pose) {
            /* every candidate here lies within the tracked pose's window: a tracked
             * cryoprobe in the image plane is strong evidence by itself */
            c->score += ND_Z_POSE;
            c->conf = confidence(c->score);
        }
        if (use_prev) {
            /* the same line as the last frame's needle (within 4 deg and 2 % of the
             * width) is far more likely the needle than a line elsewhere: a needle
             * persists from frame to frame */
            float dot = fabsf(c->ux * pux + c->uy * puy);
            float off = fabsf(-(pvx - c->px) * c->uy + (pvy - c->py) * c->ux);
            if (dot > cosf(4.0f * (float)M_PI / 180) && off < fmaxf(3.0f, 0.02f * (float)wk->w)) {
                c->score += ND_Z_TRACKED;
                c->conf = confidence(c->score);
            }
        }
        if (best < 0 || c->score > cand[best].score)
            best = (int)(c - cand);
    }
#ifdef CN_NEEDLE_DEBUG
    /* tools/needle: every candidate's features, for choosing the evidence's weights */
    fprintf(stderr, "  f %d work %dx%d thr %.2f %.2f peaks %d walked %d\n", wk->f, wk->w, wk->h,
            wk->sc[0].thr, wk->sc[1].thr, npk, nc);
    for (int i = 0; i < nc; i++) {
        const nd_cand *q = &cand[i];
        fprintf(stderr, "  cand %d %s crs %.2f ang %.1f sup %.1f fill %.2f res %.2f con %.2f "
                "bri %.2f cu %.2f inset %.1f ein %.1f len %.0f conf %.2f%s stf %.2f LINE %.1f %.1f %.1f %.1f\n",
                i, q->ok ? "ok" : "--", q->coarse, nd_line_angle_deg(q), q->support, q->fill,
                q->resid, q->contrast, q->bright, q->contrast_up, q->inset, q->entry_inset, F * (q->tt - q->te),
                q->conf, i == best ? " *" : "", q->st_frac, F * (q->px + q->ux * q->te) + 0.5f * (F - 1),
                F * (q->py + q->uy * q->te) + 0.5f * (F - 1), F * (q->px + q->ux * q->tt) + 0.5f * (F - 1),
                F * (q->py + q->uy * q->tt) + 0.5f * (F - 1));
    }
#endif
    if (best < 0)
        return CN_OK;
    /* Of parallel lines along the same stretch (front wall, back wall, reverberation
     * comet tail) the one nearest the transducer is the front wall: a thick probe's
     * walls can each win the Hough and the fit. The geometry comes from the upper one,
     * the confidence from the better. */
    {
        const nd_cand *b = &cand[best];
        float reach = fmaxf(6.0f, (float)(1.6 * p->needle_diameter_mm / (0.5 * (spx + spy))) / F);
        float unx = -b->uy, uny = b->ux;
        if (uny > 0)
            unx = -unx, uny = -uny; /* towards the transducer */
        int up = best;
        float up_off = 0;
        for (int i = 0; i < nc; i++) {
            const nd_cand *q = &cand[i];
            if (!q->ok || i == best || fabsf(q->ux * b->ux + q->uy * b->uy) < cosf(3.0f * (float)M_PI / 180))
                continue;
            float off = (q->px - b->px) * unx + (q->py - b->py) * uny; /* > 0: above */
            /* overlap of the runs, projected on b's direction */
            float sgn = q->ux * b->ux + q->uy * b->uy > 0 ? 1.0f : -1.0f;
            float qs = (q->px - b->px) * b->ux + (q->py - b->py) * b->uy;
            float qa = qs + sgn * q->te, qb = qs + sgn * q->tt;
            float ov = fminf(fmaxf(qa, qb), b->tt) - fmaxf(fminf(qa, qb), b->te);
            float shorter = fminf(fabsf(qb - qa), b->tt - b->te);
            if (off > 1.0f && off <= reach && off > up_off && ov > 0.5f * shorter &&
                q->score > b->score - 3.0f) {
                up = i;
                up_off = off;
            }
        }
        if (up != best) {
            float conf = cand[best].conf;
            best = up;
            cand[best].conf = fmaxf(cand[best].conf, conf);
        }
    }
    /* the winner on the full-resolution frame: front wall, run, tip */
    nd_cand c = cand[best];
    const nd_img full = {px, w, h, F};
    nd_refine(wk, &full, &c);
    nd_rewalk(wk, &c, 0.5f * (c.te + c.tt));
    nd_orient(&c);
    nd_find_tip(&full, &c, d->prof, d->prof2, d->prof3);
    /* full-resolution px of the tip; the axis lies one probe radius behind the front
     * wall (away from the transducer) */
    double tipx = nd_to_img(&full, c.px + c.ux * c.tt), tipy = nd_to_img(&full, c.py + c.uy * c.tt);
    float dnx = -c.uy, dny = c.ux;
    if (dny < 0)
        dnx = -dnx, dny = -dny;
    tipx += dnx * 0.5 * p->needle_diameter_mm / spx;
    tipy += dny * 0.5 * p->needle_diameter_mm / spy;
    double dx = c.ux * spx, dy = c.uy * spy, dn = hypot(dx, dy);
    out->tip_mm = (cn_pt2){(float)((tipx + 0.5) * spx), (float)((tipy + 0.5) * spy)};
    out->dir = (cn_pt2){(float)(dx / dn), (float)(dy / dn)};
    out->confidence = cand[best].conf;
    out->found = out->confidence >= p->min_confidence;
    return CN_OK;
}

int cn_needle_det_detect(cn_needle_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *prior,
                         cn_needle_result *out)
{
    return cn_needle_det_detect_prev(d, px, w, h, spacing_mm, prior, NULL, out);
}
