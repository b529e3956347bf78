/*
 * stage_priv.h - the thermal stage's state, shared by stage.c (the per-frame flow:
 * procedure steps, the field, the plane, the fit, the curves), stage_handle.c (the
 * handle made, freed, rewound and read; the poses) and stage_thaw.c (the thaw watched,
 * and a freeze stop taken back). Private to the thermal module.
 */
#ifndef CN_STAGE_PRIV_H
#define CN_STAGE_PRIV_H

#include "thermal_internal.h"

enum { REF_UNKNOWN = 0, REF_TRACKED, REF_IMAGE };

/* 90 s kept, 15 s apart: ICE SHRINKING IN FREEZE is said ~25 s after the gas stopped on
 * the simulator, and the operator then has ~65 s to key the stop before the model can
 * only thaw from the key. A snapshot of the simulator's probe's 15 members holds
 * ~5 MB (30 MB for 6); a copy into a kept one costs ~0.1 ms, no allocation. */
#define SNAP_N 6
#define SNAP_EVERY_S 15.0
#define SNAP_CHANGES 3
#define SNAP_SLOTS (SNAP_N + SNAP_CHANGES)
/* several spots: a 3-D grid of more cells than this (17 MB a copy, ~170 MB for the 9
 * snapshots and the stop's copy) keeps none; the handover's domain at 1 mm cells is ~70
 * cells a side (6 MB a copy, ~60 MB in all) */
#define SNAP_MAX_CELLS 1000000u
/* a 3-D field this far behind a frame (catching up a dated step) shows no zone: one
 * stepped 1 s behind is a frame's step at the longest; more is a zone of the past */
#define GRID_LAG_SHOWN_S 1.0

typedef struct {
    cn_thermal_stage_opts o;
    cn__field *field;
    int64_t t0_ns;          /* scene time of the first freeze: model time 0 */
    bool seen;
    cn_phase last_phase;
    int last_cycle;
    bool last_active;
    bool pending;           /* a freeze began where the probe's pose was unknown */
    int64_t pending_ns;
    int ref_mode;
    /* the last frame's image -> field mapping (for guidance's temperature reads) */
    uint64_t cache_seq;
    bool cache_ok;
    cn_mat4 cache_img_to_field;
    cn_thermal_obs obs[CN_ICE_PTS_MAX];
    bool warned_pose, warned_plane;
    double last_t;          /* model time of the last frame */
    bool have_last_t;
    /* the image's place in the field, smoothed over a few frames while the probe
     * is held still: every frame's place carries the noise of two tracked poses
     * (probe and reference, ~0.4 mm), which would make a still zone jitter */
    bool have_img;
    cn_mat4 img_to_field_s;
    /* what the latest freeze's spot was placed on (cn_zone_anchor), and the
     * needle line's confidence then */
    int anchor;
    float anchor_conf;
    /* the needle lines the image showed over the last LINE_SPAN_S, for how steady the
     * one a freeze is anchored on was (review 43b F3: a fascia line's tip jumped 9 mm
     * between frames, and the zone stood wherever the key happened to land); the
     * anchor's spread, mm (INFINITY: the line was not seen for most of that span) */
    struct {
        int64_t t_ns;
        bool found;
        cn_pt2 tip_mm, dir;
    } lines[64];
    int n_lines, line_head;
    float anchor_spread_mm;
    /* the current freeze: has the image shown its rim yet (no_ice_seen) */
    bool rim_seen, warned_no_ice, unverified;
    /* a re-freeze after a freeze whose rim was seen: the model's ice radius when it
     * began (that ice was verified; only what it adds must be seen), 0 otherwise, NAN
     * until the first frame of the freeze gives it */
    double verified_r0_mm;
    double disagree_mm;
    bool warned_disagree;
    int behind_frames;
    bool warned_behind;
    double frame_dt_s;      /* scene time between the last two frames */
    /* the probe's tracked tip through the current thaw, where it is frozen in place
     * (cryo-adhesion): a re-freeze is judged against their mean */
    cn_vec3 thaw_tip_sum;
    int thaw_tips;
    /* the thaw watched (ice_grows_in_thaw): the smallest and largest smoothed rim of this
     * thaw, the last rims found, since when the rim has stood beyond the margins (0: not),
     * the state and whether the log said it */
    double thaw_rim_min_mm, thaw_rim_max_mm; /* of the smoothed rim (below) */
    double thaw_rim_first_mm;                 /* the thaw's first smoothed rim (NAN none) */
    int64_t thaw_min_ns;                      /* when the smoothed rim was at its smallest */
    cn_last5 thaw_rims;                       /* the last rims seen, for a median */
    int64_t grows_since_ns;
    bool grows, warned_grows;
    int64_t regrows_ns;     /* with grows: the thaw's ice shrank first, and regrows since */
    double regrow_max_mm;   /* the regrown ice's largest smoothed rim, and when */
    int64_t regrow_max_ns;
    int64_t regrow_over_ns; /* that ice shrank THAW_REGROW_OVER_MM under it: its peak time */
    /* the rim bounds the model's ice in a passive thaw (cn__stage_thaw_assim): how far the
     * model's 0 C stood beyond the last rims found (their median), since when it has stood
     * beyond them (0: not), the melts of this thaw (the first is said in the log) */
    cn_last5 assim_ex;
    int64_t assim_since_ns;
    int assim_melts;
    bool assim_now; /* the thaw was dated back (its rim seen shrinking for 5 s already, the
                     * model re-stepped without a rim): the first rim beyond it melts at once */
    /* the field as the last freeze stop found it (one spot only), for a resume: the
     * freeze went on after all (cn_step FREEZE_RESUME); NULL when none can be taken back */
    cn__field *thaw_back;
    int thaw_back_cycle;
    bool catch_up_all;      /* the field began before this frame: step every member now */
    bool grid_behind;       /* 3-D: the field stands behind the frames (said once a catch-up) */
    int64_t grid_behind_ns; /* since when (wall clock), for the log */
    int grid_behind_frames;
    float held_ice_depth_mm; /* the last current frame's ice depth and 0 C radius, held */
    double held_r0_mm;       /* while a 3-D field stands behind */
    double catch_from_s;    /* from this model time (a snapshot on each SNAP_EVERY_S of it) */
    /* the field every SNAP_EVERY_S of model time, the newest SNAP_N, and on each of the
     * last SNAP_CHANGES changes of what the probe does: a step dated before the key (a
     * freeze stop or start the ice showed earlier) goes back to the last one before it.
     * The changes are kept longer: a freeze seen 90 s before its key was taken from the
     * key (the review: the model froze through the thaw); since the last change before
     * the step, the probe did one thing, and the field is stepped on from there. */
    cn__field *snap[SNAP_SLOTS];
    double snap_t[SNAP_SLOTS];
    bool snap_used[SNAP_SLOTS], snap_change[SNAP_SLOTS];
    /* a snapshot on this frame, whatever the last one's age: the stage changed what the
     * probe does (a snapshot holds every change before it, so a dated step never goes
     * back past one: the review found a stop and a reposition lost that way) */
    bool snap_now;
    bool dated_thaw;        /* the thaw begun on this frame was dated back (ice shrinking) */
    double thaw_back_t_s;   /* model time of that stop */
} thermal_stage;

/* The ice grows in a thaw (ice_grows_in_thaw): the rim seen (the median of the last 5
 * found) stands THAW_GROWTH_MM beyond the smallest such rim of this thaw and
 * THAW_AHEAD_MM beyond the model's 0 C radius, for THAW_GROWTH_S, and has not shrunk by
 * THAW_SHRINK_MM from its largest (the gas has stopped after all). A thaw's ice only
 * shrinks; the model's follows the fit to the freeze's rim (0.016 mm off in `cryonav eval
 * sim`): 1 mm is 10 UP20L pixels, and 5 s is 20 frames at the slowest frame rate we run. */
#define THAW_GROWTH_MM 0.5
#define THAW_AHEAD_MM 1.0
#define THAW_SHRINK_MM 0.3
#define THAW_GROWTH_S 5.0
/* ...and a thaw whose rim first shrank this much below its first is a real thaw: ice that
 * grows after it is a freeze the console started again (nobody keyed it), not the old one
 * going on (review of the thirty-third session: taking the stop back skipped a real 30 s
 * thaw, the zone 1.3 mm over the ice) */
#define THAW_SHRANK_MM 0.5
/* ...and ice that regrew, then shrank this much under its largest: that freeze is over too
 * (the growth it took to say it, THAW_GROWTH_MM): the alarm says OVER?, and f ends the freeze
 * at the peak (review 39c: the alarm stood through the console's thaw, and f froze the model
 * on 21 s past the gas) */
#define THAW_REGROW_OVER_MM 0.5

/* The rim bounds the model's ice in a passive thaw (cn__stage_thaw_assim): the rim's noise
 * frame to frame (~0.3 mm), which the model is left beyond the rim by, never inside it; a
 * melt needs the heaviest member's 0 C to stand twice that beyond the rim (the median over
 * the last 5 rims found of the direction where it stands farthest) for THAW_ASSIM_S of
 * scene time: one noisy or partial rim does not melt the model. None of these is a thaw
 * rate: the model thaws as its physics does, the rim only bounds it. */
#define THAW_RIM_NOISE_MM 0.3
#define THAW_ASSIM_S 1.0

/* The thaw watch on f (ice_grows_in_thaw), after the curves gave model_r0_mm. */
void cn__stage_thaw_watch(thermal_stage *s, cn_frame *f, int64_t t_ns, double model_r0_mm);
/* Keeps a copy of the field as a freeze's stop into a passive thaw finds it (keep), else
 * drops the one kept. */
void cn__stage_keep_thaw_back(thermal_stage *s, bool keep, int cycle, double t_s);
/* Freeze `cycle` goes on (freeze_resume): the field kept at its stop replaces the thawed
 * one and is stepped to t_s; false (said in the log) when none was kept. */
bool cn__stage_take_back_thaw(thermal_stage *s, int cycle, double t_s);
/* Keeps the field at model time t_s when the last snapshot is SNAP_EVERY_S old, or the
 * stage asked for one (snap_now): a copy into a kept buffer, no allocation after the first
 * SNAP_N. */
void cn__stage_snapshot(thermal_stage *s, double t_s);
/* The rim points of ice in the field frame (image -> field: img_to_field), at model time
 * t_s, into s->obs: their count. */
int cn__stage_rim_obs(thermal_stage *s, const cn_ice_front *ice, const cn_mat4 *img_to_field,
                      double t_s);
/* In a passive thaw (one spot, the fit enabled), the n rim points s->obs of frame f (field
 * frame) bound the model's ice from outside: a model whose 0 C stands beyond them is melted
 * down to them (cn__field_melt_to_rim; never adds ice). */
void cn__stage_thaw_assim(thermal_stage *s, const cn_frame *f, int n, int64_t t_ns);
/* A thaw begins: its watch starts afresh (the tips the probe is frozen at, the rims). */
void cn__stage_thaw_begins(thermal_stage *s);
/* Whether any snapshot is kept; none kept from now on (a resume: the thaw they hold is
 * taken back). */
bool cn__stage_has_snapshots(const thermal_stage *s);
/* A field begun (or gone back) before this frame, stepped on from catch_from_s towards
 * t_s in SNAP_EVERY_S pieces, a snapshot after each: a stop dated into that time (the ice
 * keyed late, shrinking since) finds one. Before, a freeze started 47 s back kept only the
 * state at its key, and such a stop was taken from the key: the zone 1.6 mm over the ice.
 * The caller steps the rest, to t_s. */
int cn__stage_catch_up(thermal_stage *s, double t_s);
void cn__stage_drop_snapshots(thermal_stage *s);
/* A step (freeze stop or start) dated t_s, before the field's time: the field goes back to
 * the newest snapshot at or before t_s and is stepped on from there (every member, on this
 * frame). Returns the model time the step can take: t_s, or the field's own time when no
 * snapshot is old enough (said in the log). */
double cn__stage_back_to(thermal_stage *s, double t_s);
/* A 3-D field toward the frame's model time t_s within the frame's wall-time budget
 * (grid_catch_up_ms), a snapshot at its own time whenever one is due: a dated step goes
 * back to a snapshot, and the field is stepped on over as many frames as it needs (before,
 * inside one: 0.9-2.5 s of analysis stalled at 1 mm cells, 5.7-15.1 s at 0.5 mm, review
 * 36 N1). *lag_s: how far it still stands behind t_s. */
int cn__stage_grid_follow(thermal_stage *s, double t_s, double *lag_s);

/* The stage's process (stage.c): one analysed frame, the steps of its file comment. */
int cn__stage_process(void *self, cn_frame *f);
/* ImageMmToRef of f in the stage's reference: the identity for mode REF_IMAGE (the
 * image itself), else via f's Reference frame; false when f does not give it
 * (stage_handle.c). */
bool cn__stage_image_to_ref(const thermal_stage *s, const cn_frame *f, int mode, cn_mat4 *out);
/* CryoprobeToImageMm: the tracked cryoprobe when allowed, else the detected in-plane
 * needle (*detected); false when neither is there (stage_handle.c). */
/* stage_handle.c: keeps this frame's needle line (found or not) in s->lines; the
 * spread of the last second's lines about det (the largest distance of a tip from
 * det's, and of det's tip from a line's axis), INFINITY when under half of the
 * second's frames had a line within 15 degrees of det's. */
void cn__stage_note_line(thermal_stage *s, const cn_frame *f, int64_t t_ns);
float cn__stage_line_spread(const thermal_stage *s, const cn_needle_result *det, int64_t t_ns);
bool cn__stage_cryo_to_image_mm(const cn_frame *f, bool allow_tracked, cn_mat4 *out,
                                 bool *detected);

#endif
