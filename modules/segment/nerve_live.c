/*
 * nerve_live.c - the nerve outline of every analysed frame: found without a
 * click, or the one the operator's click picks, kept steady between network
 * frames, held briefly when lost, reported hidden under the ice.
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
#define VIEW_TOL 0.02         /* a field-of-view box whose edges all moved less than this
                               * share of the frame's side (or 2 px) is kept: a box that
                               * jitters by a pixel would change the grid and stop tracking */

struct nerve_live {
    cn_segment_config c;
    cn_nerve_seg *dp;
    cn_nerve_cnn *cnn;     /* the click's outline and the seeded fallback, NULL unless c.nerve_cnn */
    cn_nerve_cnn *refine_cnn; /* automatic mode's refine network, NULL unless c.nerve_cnn
                               * and c.nerve_find */
    cn_nerve_find *find;   /* NULL unless c.nerve_find */
    /* networks trained on frames cut to the scanner's field of view: every frame is
     * cut to the box (held while it stays put) and the finder, its tracker and the
     * crop CNN work in the cut frame's pixels (vx = input x - vb.x0) */
    bool cut;
    cn_img_box vb;         /* the box, in the input frame */
    int vb_fw, vb_fh;      /* the frame size it was found on (0: none yet) */
    uint8_t *view_px;      /* this frame, cut */
    uint32_t *col_lit;
    const uint8_t *vpx;    /* this frame as the networks see it: view_px, or the frame */
    int vw, vh;
    bool nerve_lost;       /* the DP tracker lost the nerve: next frame asks the CNN */
    /* the operator's point */
    bool has_seed, seed_fresh; /* seed_fresh: the crop CNN outlines the click's frame */
    bool find_fresh;           /* the finder runs on the next frame (a click) */
    cn_pt2 seed_mm, track_mm;
    /* the finder: one pass spread over nerve_period frames, block matching in between */
    bool pass;             /* a pass is in progress */
    bool pass_now;         /* it started on this frame */
    int pass_frames;       /* frames it has run on */
    bool have_cur;         /* an outline is followed (by the tracker) */
    cn_nerve_found cur;    /* the outline on the last frame, input pixels */
    cn_nerve_found at_start; /* the outline on the frame where the pass started */
    bool at_start_ok;
    int misses;            /* seeded: passes in a row without a found nerve near the point */
    bool seed_known;       /* seeded: the finder has found a nerve near the point since the
                            * click, so its passes are evidence: when they lose it, it is
                            * gone, and the DP fallback (which outlines whatever lies at
                            * the point) does not take over */
    bool seed_outlined;    /* seeded: the click's frame was outlined by the networks */
    bool track_ok;         /* the last frame's block matching held the followed outline */
    /* automatic, refined (cn_nerve_find_auto_weight >= 0): the refine sequence
     * (cn_nerve_refine, the one `eval nerve` runs) outlines the chosen part on the
     * frames after the pass, one network per frame, on the pass's own pixels; a
     * click's size-normalised second crop is stepped the same way */
    uint8_t *pass_px;      /* the frame the pass started on */
    int pass_w, pass_h;
    bool refine_pending;   /* the sequence has networks to run */
    bool refine_confirm;   /* a new part's refine: no outline at all is no find */
    cn_nerve_refine refine;
    cn_nerve_found refine_part; /* the part refined (its confidence is reported) */
    /* the last outline reported found, and for how many frames it was not */
    cn_contour held;
    bool have_held;
    int missed;
    /* the nerve under the ice: the last outline seen before the freeze, and how
     * bright its inside was then; while the ice or its shadow covers it, that
     * outline is reported as hidden instead of tracking into the dark */
    bool have_last, nerve_hidden;
    cn_contour last_nerve;
    double last_inside;
    /* the operator's nerve: its size when first outlined at the point (bounding box,
     * mm^2), so a speck or a whole shadow is not taken for it (below) */
    double ref_area_mm2;
    bool reclicked;        /* one new look at the point since the last plausible outline */
};

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
static bool view_update(nerve_live *n, const cn_frame *f)
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
static bool seeded_click(nerve_live *n, const cn_frame *f, cn_nerve_found *r)
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
static bool by_finder(nerve_live *n, const cn_frame *f, cn_nerve_found *r)
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
    if (!view_update(n, f))
        return;
    const int ox = n->cut ? n->vb.x0 : 0, oy = n->cut ? n->vb.y0 : 0;
    if (n->find) {
        cn_nerve_found r;
        if (n->find_fresh && n->has_seed) {
            n->find_fresh = false;
            found = n->have_cur = n->seed_outlined = n->track_ok = seeded_click(n, f, &r);
            if (found)
                n->cur = r;
        } else {
            n->find_fresh = false;
            found = by_finder(n, f, &r);
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
