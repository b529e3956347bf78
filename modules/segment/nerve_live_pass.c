/*
 * nerve_live_pass.c - the networks' side of the live nerve (nerve_live.c reports
 * it): each frame cut to the scanner's field of view, the finder's pass spread over
 * frames and the refine after it, the click's frame, and block matching between
 * passes.
 *
 * The idea: the finder (nerve_find.c) costs ~3-4 ms per network, so one pass is
 * spread over `nerve_period` frames per network of its ensemble (the weights
 * file's members: three since the tenth session, so six frames) and runs at once
 * when the operator clicks; automatic
 * mode then refines the chosen part with the crop CNN on the pass's pixels (the
 * library's refine sequence, cn_nerve_refine, which `eval nerve` runs whole), one
 * network of its ensemble per frame (a frame never carries a finder share and a
 * network, which kept the chain's p99 over its 8 ms budget when the ensemble
 * was a pair), and the frames in between move the last outline by block
 * matching (cn_nerve_find_track, ~0.3 ms). With nerve_period 2 and the shipped
 * single network: a cycle of three frames (four with a pair). Automatic mode
 * follows the part with the most probability mass, once its refine network (a
 * crop CNN trained on clicks anywhere near a nerve's middle, cn_nerve_cnn_new_refine)
 * outlines a nerve there: a part it outlines nothing around is no find, as `eval
 * nerve` scores it (the finder's own outline used to be shown then: on nerve-free
 * views a find that every documented false-find figure counted as none); seeded
 * mode the part nearest the tracked point, which then follows that part's
 * centroid. Once the finder has found a nerve near the point, its passes are
 * the evidence: when they lose it (the probe lifted or moved away), it is held,
 * then none, until a pass finds one near the point again. A nerve the finder
 * has not found near the point since the click (one its networks do not know)
 * keeps the click's outline while block matching holds it, re-anchored on each
 * pass's frame, and is dropped when it does not (the operator clicks again).
 */
#include "nerve_live.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_TOL 0.02         /* a field-of-view box whose edges all moved less than this
                               * share of the frame's side (or 2 px) is kept: a box that
                               * jitters by a pixel would change the grid and stop tracking */

#define SEEDED_MISSES 2 /* passes without a found nerve near the point before it is lost */

/* The operator's point in the pixels the finder sees (the cut frame's when cut). */
static void track_px(const nerve_live *n, const cn_frame *f, double *p)
{
    p[0] = n->track_mm.x / f->spacing_mm[0] - 0.5 - (n->cut ? n->vb.x0 : 0);
    p[1] = n->track_mm.y / f->spacing_mm[1] - 0.5 - (n->cut ? n->vb.y0 : 0);
}

static void shift_found(cn_nerve_found *r, double dx, double dy)
{
    for (int i = 0; i < r->n; i++) {
        r->pts_px[i].x += (float)dx;
        r->pts_px[i].y += (float)dy;
    }
    r->cx_px += dx;
    r->cy_px += dy;
}

/* This frame as the networks see it (n->vpx, vw, vh): the frame itself, or cut to
 * the field of view. The box is found on every frame and kept while its edges stay
 * within VIEW_TOL; when it moves (a depth change on a screen capture) the pass in
 * progress is dropped and the followed outline moved into the new box's pixels
 * (the tracker, whose grid no longer fits, then waits for the next pass). */
bool cn__nl_view_update(nerve_live *n, const cn_frame *f)
{
    n->vpx = f->pixels;
    n->vw = f->width;
    n->vh = f->height;
    if (!n->cut)
        return true;
    cn_img_box b;
    if (cn_img_fov_box(f->pixels, f->width, f->height, n->col_lit, &b) != CN_OK)
        return false;
    const bool same_frame = n->vb_fw == f->width && n->vb_fh == f->height;
    const int tx = (int)fmax(2.0, VIEW_TOL * f->width), ty = (int)fmax(2.0, VIEW_TOL * f->height);
    const bool keep = same_frame && abs(b.x0 - n->vb.x0) <= tx && abs(b.y0 - n->vb.y0) <= ty &&
                      abs(b.x0 + b.w - n->vb.x0 - n->vb.w) <= tx &&
                      abs(b.y0 + b.h - n->vb.y0 - n->vb.h) <= ty;
    if (!keep) {
        if (same_frame) {
            const double dx = n->vb.x0 - b.x0, dy = n->vb.y0 - b.y0;
            shift_found(&n->cur, dx, dy);
            shift_found(&n->at_start, dx, dy);
            n->pass = n->refine_pending = false;
        } else {
            n->have_cur = n->pass = n->refine_pending = false;
        }
        n->vb = b;
        n->vb_fw = f->width;
        n->vb_fh = f->height;
    }
    if (n->vb.w == f->width && n->vb.h == f->height)
        return true; /* the whole frame is the view (a probe's frames): no copy */
    if (cn_img_crop(f->pixels, f->width, f->height, n->vb, n->view_px) != CN_OK)
        return false;
    n->vpx = n->view_px;
    n->vw = n->vb.w;
    n->vh = n->vb.h;
    return true;
}

/* The click's frame: the finder on the whole frame at once, then the crop CNN at
 * the point with the finder's logits blended in. The outline is followed from
 * here on. False when nothing was outlined (then the fallback). */
bool cn__nl_seeded_click(nerve_live *n, const cn_frame *f, cn_nerve_found *r)
{
    memset(r, 0, sizeof *r);
    n->pass = false;
    n->refine_pending = false; /* a new click replaces any refine */
    double p[2];
    track_px(n, f, p);
    if (p[0] < 0 || p[1] < 0 || p[0] > n->vw - 1 || p[1] > n->vh - 1)
        return false; /* a point outside the image (or its view) picks nothing */
    if (cn_nerve_find_analyse(n->find, CN_NERVE_FIND_LIVE, n->vpx, n->vw, n->vh, f->spacing_mm,
                              n->c.nerve_radius_mm) != CN_OK)
        return false;
    /* the found part nearest the point, if one is near: it is the outline without a
     * crop CNN, and it says whether the finder knows this nerve */
    cn_nerve_found near;
    n->seed_known = cn_nerve_find_select(n->find, p, NULL, &near) == CN_OK && near.found;
    int np = 0;
    float conf = 0;
    if (!n->cnn) {
        if (!n->seed_known)
            return false;
        *r = near;
    } else {
        /* the first pass now, every network of the model (cn_nerve_cnn_run_blend's
         * first crop); a size-normalised file's second crop runs on the next frame
         * (by_finder's refine), so this frame carries the finder and one pass */
        const float wt = cn_nerve_find_seeded_weight(n->find);
        int rc = cn_nerve_refine_run(&n->refine, n->cnn, CN_NERVE_CNN_LIVE, n->vpx, n->vw, n->vh,
                                     p[0], p[1], n->find, wt, 0, NULL, r->pts_px, &np, &conf);
        if (rc != CN_OK || conf <= 0 || np < 3)
            return false;
        r->n = np;
        r->confidence = conf;
        r->found = true;
    }
    n->seed_fresh = false;
    if (cn_nerve_find_follow(n->find, r) != CN_OK)
        return false;
    if (n->cnn && cn_nerve_refine_begin_second(&n->refine, n->cnn, n->find,
                                               cn_nerve_find_seeded_weight(n->find)) == CN_OK) {
        n->refine_pending = true;
        n->refine_confirm = false;
        n->refine_part = *r;
    }
    return true;
}

/* One frame of the finder's pass (1 / (nerve_period x members) of its work) and, when the
 * pass completes, what it says: automatic, the part with the most mass becomes
 * the followed outline; seeded, a found part near the point keeps the followed
 * outline (re-anchored on the pass's frame), none for SEEDED_MISSES passes
 * loses it. Then the followed outline is tracked to this frame. */
bool cn__nl_by_finder(nerve_live *n, const cn_frame *f, cn_nerve_found *r)
{
    memset(r, 0, sizeof *r);
    if (n->refine_pending) {
        /* the frames after an automatic pass: the refine sequence outlines the chosen
         * part on the pass's frame (its pixels kept), one network per frame so no
         * frame carries a finder share and a network (~3 ms together); each outline
         * it gives is followed to this frame from then on (the first at the part's
         * centre, then the re-centred one). Until the first, the outline followed
         * before the pass is: a new part is not shown before the refine outlines it,
         * and one it outlines nothing around is no find, as `eval nerve` scores it;
         * the last outline reported is held. A re-centred run (or a click's second
         * crop) outlining nothing leaves the outline before it followed. */
        cn_nerve_found o = n->refine_part; /* the confidence stays the finder's */
        int np = 0;
        bool done = false;
        int rc = cn_nerve_refine_step(&n->refine, o.pts_px, &np, NULL, &done);
        if (rc == CN_OK && np >= 3 && (o.n = np, cn_nerve_find_follow(n->find, &o) == CN_OK)) {
            n->cur = o;
            n->have_cur = true;
        }
        if (rc != CN_OK || done) {
            n->refine_pending = false;
            if (n->refine_confirm && !cn_nerve_refine_found(&n->refine))
                n->have_cur = false;
        }
    } else if (!n->pass) {
        if (cn_nerve_find_start(n->find, CN_NERVE_FIND_LIVE, n->vpx, n->vw, n->vh, f->spacing_mm,
                                n->c.nerve_radius_mm) != CN_OK)
            return false;
        n->pass = n->pass_now = true;
        n->pass_frames = 0;
        memcpy(n->pass_px, n->vpx, (size_t)n->vw * n->vh);
        n->pass_w = n->vw;
        n->pass_h = n->vh;
        n->at_start = n->cur;
        n->at_start_ok = n->have_cur;
    } else {
        n->pass_now = false;
    }
    bool done = false;
    if (!n->pass)
        goto track; /* this frame refined (part of) the last pass's outline */
    /* an even share per frame, nerve_period frames per network of the finder's
     * ensemble (each frame carries the work of half a network, as with one); the
     * pass's last frame runs whatever is left */
    const int frames = n->c.nerve_period * cn_nerve_find_members(n->find);
    const double share = ++n->pass_frames >= frames ? INFINITY : 1.0 / frames;
    if (cn_nerve_find_continue(n->find, share, &done) != CN_OK)
        n->pass = done = false;
    if (done) {
        n->pass = false;
        cn_nerve_found s;
        bool hit; /* the pass found a nerve (near the point, when seeded) */
        if (n->has_seed) {
            double p[2];
            track_px(n, f, p);
            bool near = cn_nerve_find_select(n->find, p, NULL, &s) == CN_OK && s.found;
            n->seed_known |= near;
            hit = near;
            if (near && n->at_start_ok) {
                cn_nerve_find_follow(n->find, &n->at_start); /* keep the clicked outline */
                n->misses = 0;
            } else if (near) {
                n->cur = s; /* picked up again (or first found) near the point */
                n->have_cur = true;
                n->misses = 0;
            } else if (n->seed_known) {
                if (++n->misses >= SEEDED_MISSES)
                    n->have_cur = false;
            } else if (n->have_cur && n->track_ok && n->at_start_ok) {
                /* a nerve the finder has never found (one its networks do not know):
                 * its misses say nothing, so the click's outline is followed while
                 * block matching holds it, re-anchored on each pass's frame */
                cn_nerve_find_follow(n->find, &n->at_start);
            } else {
                n->have_cur = false; /* block matching lost it: gone */
            }
        } else {
            bool got = cn_nerve_find_select(n->find, NULL, NULL, &s) == CN_OK && s.found;
            hit = got;
            if (got && n->refine_cnn && cn_nerve_find_auto_weight(n->find) >= 0) {
                /* refined from the next frame on, which decides whether it is a nerve
                 * (the crop is taken now, no network runs); meanwhile the outline
                 * followed before (re-anchored on the pass's frame, as a click's is)
                 * or nothing. A refine that cannot start is no find: the part's own
                 * outline is never what automatic mode draws. */
                const bool begun =
                    cn_nerve_refine_begin(&n->refine, n->refine_cnn, CN_NERVE_CNN_LIVE,
                                          n->pass_px, n->pass_w, n->pass_h, s.cx_px, s.cy_px,
                                          n->find, cn_nerve_find_auto_weight(n->find),
                                          CN_NERVE_AUTO_RECENTRE, NULL) == CN_OK;
                n->refine_pending = n->refine_confirm = begun;
                n->refine_part = s;
                n->have_cur = begun && n->at_start_ok &&
                              cn_nerve_find_follow(n->find, &n->at_start) == CN_OK;
            } else {
                n->have_cur = got;
                if (got)
                    n->cur = s; /* the part's own outline */
            }
        }
        /* found on this very frame. A seeded miss that does not yet lose the nerve
         * keeps the outline followed, but tracks it to this frame like any other:
         * a pass that starts and ends on one frame (a blank one: the probe lifted)
         * used to report the last frame's outline as found on it */
        if (hit && n->have_cur && n->pass_now) {
            *r = n->cur;
            return true;
        }
    }
track:
    if (!n->have_cur)
        return false;
    n->track_ok = cn_nerve_find_track(n->find, n->vpx, n->vw, n->vh, r) == CN_OK && r->found;
    if (!n->track_ok)
        return false; /* lost between passes: held until the next pass says */
    n->cur = *r;
    return true;
}
