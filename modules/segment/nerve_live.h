/*
 * nerve_live.h - the nerve as the live stage follows it (nerve_live.c): the
 * finder every few frames, block-matching in between, the operator's point, the
 * seeded fallbacks, the hold and the ice. Private to modules/segment; segment.c
 * owns one and calls it once per analysed frame.
 */
#ifndef CN_NERVE_LIVE_H
#define CN_NERVE_LIVE_H

#include "segment/segment.h"

typedef struct nerve_live nerve_live;

nerve_live *nerve_live_new(const cn_segment_config *c, int max_w, int max_h);
void nerve_live_free(nerve_live *n);
void nerve_live_set_seed(nerve_live *n, cn_pt2 seed_mm);
void nerve_live_clear_seed(nerve_live *n);
void nerve_live_reset(nerve_live *n);
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

#endif
