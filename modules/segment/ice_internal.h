/*
 * ice_internal.h - the ice detector's state and its shared steps, for ice.c (the rim
 * search and the ball fit of one look) and ice_watch.c (what the detector watches for
 * across looks: ice nobody keyed, ice shrinking in a freeze). Private to segment.
 */
#ifndef CN_ICE_INTERNAL_H
#define CN_ICE_INTERNAL_H

#include "segment/segment.h"

#define MAX_COLS 512

struct cn_ice_det {
    cn_ice_params p;
    int max_w, max_h;
    /* baseline: per image column, the rim-like depth seen before the freeze (mm, NAN none) */
    float *base_y;
    int base_w;
    uint32_t *cum; /* one column's prefix sums */
    double r_prev; /* fitted radius so far in this freeze (the largest median of 5 fits), 0 none */
    cn_last5 frz_rims; /* this freeze's last fits */
    cn_ice_look last_look;
    bool probe_tracked; /* the probe given is a tracked pose (cn_ice_det_set_probe_tracked) */
    bool ref_tracked;   /* the rest (ref_tx, ref_ty) was a tracked pose's */
    int64_t shaftless_since_ns; /* confirmed ice seen with no shaft since (0 none) */
    /* ice before a freeze was keyed (unkeyed_watch): the rim-like rows where the probe
     * came to rest (ref_y; NAN none), the probe then, and the candidate ball since */
    float *ref_y;
    int ref_w;
    bool ref_ok, freeze_on_ref;
    double ref_tx, ref_ty, ref_ux, ref_uy;
    /* that rest as the freeze after it began (ref_ok is cleared then), for cn_ice_det_rest */
    bool rest_ok;
    double rest_tx, rest_ty, rest_ux, rest_uy;
    int64_t cand_since_ns, cand_last_ns; /* 0: no candidate */
    int64_t tip_t_ns;     /* the last look's time (0 none) and its tip along the line from the
                           * rest (mm), to tell a creep from an advance */
    double tip_along_mm;
    /* the last look that fitted a candidate at this rest and the first (0 none): kept through
     * the watch's gaps, cleared when the probe moves */
    int64_t cand_seen_ns, cand_first_ns;
    cn_last5 cand_rims;
    double cand_min_mm;
    /* the candidate's largest median of 5 and when it was reached: a freeze keyed over
     * it counts its growth from there, and a candidate SHRINK_MM under it for SHRINK_S
     * is ice whose freeze has ended already (cand_melting) */
    double cand_max_mm, cand_trough_mm; /* and the smallest median since that largest */
    int64_t cand_peak_ns, cand_low_since_ns; /* low: SHRINK_MM under the largest since (0 not) */
    bool unkeyed, cand_melting;
    /* ice shrinking in a freeze (shrink_watch): when the fitted radius last grew, and
     * the smaller ball since */
    int64_t peak_ns;
    int64_t shr_since_ns, shr_last_ns; /* 0: none */
    cn_last5 shr_rims;
    bool shrinking;
};

/* Ice seen before a freeze was keyed: a ball against the rows of where the probe came
 * to rest, seen (gaps under UNKEYED_GAP_S) for UNKEYED_S and grown UNKEYED_GROWTH_MM
 * (the median of its last 5 radii past the smallest such median): bone, fascia and a
 * still tissue neither appear nor grow around a resting probe. The rest rows are renewed
 * only when the probe moves (1.5 mm across its line or forward, 3 deg; a detected tip may
 * retreat along it, as ice hides the shaft): renewed on a clock, they took in a slowly
 * regrowing ball (over the last freeze's ice), which was then never said (the review). */
#define UNKEYED_S 5.0
#define UNKEYED_GROWTH_MM 0.5
#define UNKEYED_GAP_S 2.0
/* A candidate fitted this recently counts as ice being watched (cn_ice_det_unkeyed_watching):
 * twice the time the watch takes to be sure. */
#define UNKEYED_WATCH_S (2 * UNKEYED_S)
/* ...and no longer than this from the first candidate at this rest */
#define UNKEYED_WATCH_MAX_S (3 * UNKEYED_S)
/* A tip that advances slower than this (mm/s) along its line creeps: no move. */
#define CREEP_MM_S 1.0

/* Ice shrinking while a freeze is counted (the gas stopped, and nobody keyed it): a ball
 * under the freeze's largest by more than max_shrink_mm (the freeze's own look refuses
 * it), seen (gaps under UNKEYED_GAP_S) for SHRINK_S, its median of 5 SHRINK_MM under the
 * largest. A freezing ball only grows. */
#define SHRINK_S 5.0
#define SHRINK_MM 1.0

typedef struct {
    float x, y;     /* mm */
    float contrast; /* in image std units */
    int col;
} rim_pt;

/* One look's geometry: the largest ball's columns, the probe's axis and active segment. */
typedef struct {
    double sx, sy, cx, cy, ux, uy, hseg, rn;
    int c0, c1, step;
    const cn_needle_result *needle, *shaft;
} look_geom;

/* The ball (radial thickness >= rmin) the rim points explain best, after dropping the
 * points on the baseline (base, per column; base_w the image width it was recorded at)
 * and the probe's own front wall; out gets its inlier points. pts is filtered in place.
 * False: no ball passes the checks. shaftless (may be NULL): true on entry accepts a
 * ball with no shaft found at all (the shaft must otherwise end at its near vertex), and on
 * return says whether the ball found is such a one. */
bool cn__ice_fit_ball(const cn_ice_det *d, const look_geom *g, rim_pt *pts, int np,
                      const float *base, int base_w, int w, double rmin, cn_ice_front *out,
                      double *r_out, bool *shaftless);
/* The rim-like rows of a frame, per image column (NAN none), as a baseline. */
void cn__ice_record_rows(float *rows, int max_w, int w, const rim_pt *pts, int np, int step);
/* The semi-axes of the ice ellipse about the active segment (half length h) whose
 * thickness about the axis is r: a along the axis, b across it. */
void cn__ice_axes(double r, double h, double *a, double *b);
void cn__ice_drop_candidate(cn_ice_det *d);
void cn__ice_drop_shrink(cn_ice_det *d);
/* Before a freeze: ice nobody keyed (out gets the ball once it is sure). */
void cn__ice_unkeyed_watch(cn_ice_det *d, const look_geom *g, const rim_pt *pts, int np, int w,
                           int64_t t_ns, cn_ice_front *out, double *radius_mm);
/* In a freeze whose own look found no ball: a smaller, shrinking one. */
void cn__ice_shrink_watch(cn_ice_det *d, const look_geom *g, rim_pt *pts, int np,
                          const float *base, int base_w, int w, int64_t t_ns, cn_ice_front *out,
                          double *radius_mm);

#endif
