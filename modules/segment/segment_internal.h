/* segment_internal.h - what segment.c (the stage) and tip_track.c (the needle tip's
 * tracker) share: the stage's state and the tracker's entry points. */
#ifndef CN_SEGMENT_INTERNAL_H
#define CN_SEGMENT_INTERNAL_H

#include "segment/segment.h"
#include "nerve_live.h"

#include <stdbool.h>
#include <stdint.h>

/* A needle not seen for this many frames (outside a freeze) is forgotten: it no
 * longer steers the detector as the previous frame's line (~0.5 s at 20 fps). */
#define NEEDLE_FORGET_FRAMES 10
#define NEEDLE_JUMP_MM 2.0  /* a detection this far across the track's line restarts it */
#define WATCH_MARGIN_MM 3.0 /* a shaft ending this far back of a watched ball's near end: drawn
                             * back, not hidden (the end wavers ~1 mm with the rim's speckle) */
#define WATCH_MISS_NS 5000000000LL /* a probe not found under a watched ball: hidden this long
                                     * (the watch's own 5 s to be sure of its ice: the ice
                                     * detector looks about the probe, and a shaft lost
                                     * longer than the watch needs left ICE SEEN unsaid) */
#define REST_NOISE_MM 1.0   /* a tip this far behind the probe's rest is the tracker's noise */
#define REST_RECENT_NS 2000000000LL /* a freeze keyed this soon after the tip was at rest */

struct cn_segment {
    cn_segment_config c;
    int max_w, max_h;
    cn_needle_det *nd;
    cn_ice_det *ice;
    nerve_live *nerve;     /* the nerve's finder, trackers and states (nerve_live.c) */
    bool freezing;
    bool in_ice; /* a freeze or the thaw after it (cn_segment_set_in_ice) */
    /* needle prior from the API */
    bool prior_valid;
    cn_needle_result prior;
    /* needle track */
    bool track;
    double kx, ky, pvar;   /* Kalman state (tip, mm) and variance */
    cn_pt2 dir;
    float conf;
    int missed;
    bool hidden;
    int64_t last_t_ns;     /* scene time of the last processed frame (INT64_MIN: none) */
    bool blank_since;      /* blank or unusable frames came since it (a lifted probe?) */
    int64_t watch_fit_ns;  /* the last frame whose shaft ended where a watched ball hides it */
    bool drawn;            /* this watch saw the probe drawn back past its ball */
    int64_t at_rest_ns;    /* the last frame before a freeze whose tip was at the probe's rest */
    bool was_freezing;
    bool rest_recent;      /* this freeze began within REST_RECENT_NS of at_rest_ns */
    /* the tracked pose's tip averaged while it stays within 1.5 mm (a pose carries the
     * tracker's noise: under ice the tip comes from it, and one sample put the ice
     * detector's ball 0.6 mm across the probe, its radius 0.4 mm too large) */
    double pose_x, pose_y;
    int pose_n;
};

/* Under ice, a tracked cryoprobe on the track's line that reaches further is the tip. */
void cn__seg_tip_from_pose_under_ice(cn_segment *s, const cn_needle_result *det,
                                     const cn_needle_result *prior, int64_t t_ns);
/* One frame of the tip's tracker: det this frame's detection, prior the tracked pose (or
 * NULL), ice_seen ice about the tip; out the tip shown. */
void cn__seg_update_needle(cn_segment *s, const cn_needle_result *det,
                           const cn_needle_result *prior, bool ice_seen, double dt_s,
                           cn_needle_result *out);
/* Puts a tip behind the probe's rest, within the ice's reach, back at the rest. */
void cn__seg_hold_at_rest(cn_segment *s, bool tracked, cn_pt2 rest, cn_pt2 u, double back_mm);
/* Whether ice being watched before ICE SEEN may hide this frame's tip. */
bool cn__seg_watch_hides(cn_segment *s, const cn_needle_result *det, bool tracked,
                         int64_t t_ns);

#endif
