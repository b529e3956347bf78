/*
 * nerve_live.h - the nerve as the live stage follows it (nerve_live.c): the
 * finder every few frames, block-matching in between, the operator's point, the
 * seeded fallbacks, the hold and the ice. Private to modules/segment; segment.c
 * owns one and calls it once per analysed frame. Its state is here because two files
 * share it: nerve_live.c (the operator's point, the seeded fallback, the states
 * reported) and nerve_live_pass.c (the finder's passes, the click's frame, the
 * tracking between passes); segment.c uses the functions only.
 */
#ifndef CN_NERVE_LIVE_H
#define CN_NERVE_LIVE_H

#include "segment/segment.h"

#include "imaging/imaging.h"

typedef struct nerve_live nerve_live;

nerve_live *nerve_live_new(const cn_segment_config *c, int max_w, int max_h);
void nerve_live_free(nerve_live *n);
void nerve_live_set_seed(nerve_live *n, cn_pt2 seed_mm);
void nerve_live_clear_seed(nerve_live *n);
void nerve_live_reset(nerve_live *n);
/* A gap in the view (a lifted probe's blank frames for 0.5 s, no frame for 2 s: segment.c):
 * the outline held, followed or being refined from before it is dropped, so it is never
 * drawn on the view after the gap (review 43b F1: the old outline came back "held" on new
 * tissue); the finder's next
 * pass starts on the next frame with an image (seeded: it looks near the followed point,
 * as after any pass that lost it). The ice's hidden outline is kept. */
void nerve_live_view_lost(nerve_live *n);
/* The operator's point as followed (image mm); false when none is set. */
bool nerve_live_target(const nerve_live *n, cn_pt2 *target_mm);
/* Fills f->analysis.nerve for a frame already checked as usable (size, spacing,
 * not blank); reads f->analysis.ice (this frame's, already detected). */
void nerve_live_run(nerve_live *n, cn_frame *f, bool freezing);

/* Outline measures (nerve_live_outline.c): the mean grey level inside an outline
 * (image mm); the fraction of its points under the visible ice rim; its bounding box's
 * area, mm^2. */
double nerve_outline_inside_mean(const cn_frame *f, const cn_contour *c);
double nerve_outline_under_ice(const cn_contour *c, const cn_ice_front *ice);
double nerve_outline_bbox_area_mm2(const cn_contour *c);

struct nerve_live {
    cn_segment_config c;
    cn_nerve_seg *dp;
    cn_nerve_cnn *cnn;     /* the click's outline and the seeded fallback, NULL unless
                            * c.nerve_cnn */
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

/* The networks' side (nerve_live_pass.c). This frame as the networks see it (n->vpx, vw,
 * vh), cut to the field of view when the weights say; false when it cannot be had. */
bool cn__nl_view_update(nerve_live *n, const cn_frame *f);
/* The click's frame: the finder at once, the crop CNN at the point; false when nothing
 * was outlined (then the seeded fallback). r: input pixels less the cut's origin. */
bool cn__nl_seeded_click(nerve_live *n, const cn_frame *f, cn_nerve_found *r);
/* Any other frame with the finder: a share of its pass (or a refine network), then the
 * followed outline tracked to this frame; false when none is (r as above). */
bool cn__nl_by_finder(nerve_live *n, const cn_frame *f, cn_nerve_found *r);

#endif
