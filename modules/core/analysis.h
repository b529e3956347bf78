/*
 * analysis.h - part of core.h (include core/core.h, not this file): what the image
 * analysis, the thermal model and guidance find in a frame, and the procedure's events.
 *
 * Its own file because these plain structs are one idea - the results that ride with a
 * frame, read by every stage after the one that writes them - while core.h's other
 * parts (errors, clock, poses, the frame pool, JSON) are the plumbing they ride on.
 * It needs nothing from the rest of core.h, so either can change without the other.
 */
#ifndef CN_CORE_ANALYSIS_H
#define CN_CORE_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* ------------------------------------------------------------------ analysis results */

/* Results ride with the frame as plain fixed-size structs: the hot path never
 * allocates. Points are in image millimetres (x to the right from the left image
 * edge, y down from the transducer face) unless the field name says otherwise. */

typedef struct {
    float x, y;
} cn_pt2;

#define CN_CONTOUR_MAX 256
#define CN_ICE_PTS_MAX 256
#define CN_ISO_MAX 4
/* the isotherms the thermal stage reports, in its order (the 0 C ice edge, the -20 C lethal
 * line, -40 C) */
#define CN_ZONE_TEMPS_C {0.0f, -20.0f, -40.0f}

typedef struct {
    bool found;
    bool tip_hidden;   /* tip in ice shadow: tip is the last reliable one */
    float confidence;  /* 0..1 */
    cn_pt2 tip_mm;
    cn_pt2 dir;        /* unit vector, from entry towards tip */
} cn_needle_result;
/* Operating threshold of the needle confidence: segment reports a needle found only
 * at or above it (or with its tip hidden under ice), the viewer draws one only
 * above it. Precision at this threshold is in docs/validation.md. */
#define CN_NEEDLE_SHOW_CONFIDENCE 0.5f

typedef struct {
    bool found;
    bool hidden;       /* in the ice or its shadow: the outline is the last one seen */
    bool held;         /* not found in this frame; the outline is the last one found
                          (held briefly so it does not flicker) */
    float confidence;
    int n;
    cn_pt2 pts_mm[CN_CONTOUR_MAX];
} cn_contour;

typedef struct {
    bool found;        /* a visible rim was seen in this frame */
    float confidence;
    int64_t t_ns;      /* acquisition time of the frame the points came from */
    float radius_mm;   /* the ball's radial thickness about the probe axis fitted to
                          the rim (what the model's isotherm radius_mm measures);
                          0 when not found or not known (older recordings) */
    int n;
    cn_pt2 pts_mm[CN_ICE_PTS_MAX];
    /* no freeze is keyed, and ice appeared and grew around the resting probe (the ice
     * detector's unkeyed watch): a freeze nobody keyed; since_ns: the scene time it was
     * first seen */
    bool unkeyed;
    int64_t unkeyed_since_ns;
    /* not yet sure: a ball that may be such ice was fitted around the resting probe in the
     * last 10 s (the nerve in its shadow is not lost) */
    bool unkeyed_watch;
    /* that ice has shrunk 0.5 mm under its largest since: its freeze is over already;
     * the scene time it was largest (0: not shrinking) */
    int64_t unkeyed_peak_ns;
    /* a freeze is counted, and the ice shrinks 1 mm under its largest (the ice
     * detector's shrink watch): the gas stopped and nobody keyed it; peak_ns: the scene
     * time the ice last grew */
    bool shrinking;
    int64_t shrink_peak_ns;
} cn_ice_front;

typedef struct {
    float temp_c;      /* 0, -20, -40 ... */
    int n;
    cn_pt2 pts_mm[CN_CONTOUR_MAX];
    float radius_mm;   /* equivalent radius about the probe axis */
    /* issue 13: the points are where rays from centre_mm meet the isotherm (or
     * the image / skin border, where the isotherm lies beyond it); band_mm is
     * the half-width of its uncertainty band along those rays (0 = none): the
     * conservative edge is centre + (|p - centre| - band_mm) along each ray. */
    cn_pt2 centre_mm;
    float band_mm;
} cn_isotherm;

/* Whether a curve's points close on themselves (its ends within 3 mean segment lengths):
 * an isotherm about its probe is a loop, drawn by the viewer and sent to a proctor as
 * one (before, OpenIGTLink sent it open, a segment missing by the tip: review 43a F4). */
bool cn_curve_closes(const cn_pt2 *p, int n);

typedef enum {
    CN_PHASE_IDLE = 0,
    CN_PHASE_APPROACH,
    CN_PHASE_FREEZE,
    CN_PHASE_THAW,
    CN_PHASE_WITHDRAWN
} cn_phase;

const char *cn_phase_name(cn_phase p);

typedef struct {
    cn_phase phase;
    int cycle;               /* 1-based freeze cycle, 0 before the first */
    double phase_elapsed_s;  /* time in the current phase */
    double freeze_s;         /* the current cycle's freeze: its time so far (FREEZE), its
                                whole length (THAW after it); 0 otherwise */
    double coverage;         /* fraction of the target at <= -20 C (0..1), <0 unknown;
                                computed on the conservative edge of the -20 C band */
    uint32_t alarms;         /* bit set of CN_ALARM_* (defined by guidance) */
    /* issue 13: the procedure state (guidance's procedure module) ... */
    bool active_thaw;        /* THAW with the probe heated (else a passive thaw) */
    double phase_planned_s;  /* the plan's duration of the current step; <= 0 or NAN:
                                the plan has none (an unplanned freeze, no plan) */
    double procedure_s;      /* since the needle went in (to its withdrawal once out);
                                <= 0 or NAN: not in yet */
    /* ... and what every sink shows of this frame (guidance fills them) */
    double ice_to_skin_mm;   /* closest ice (model 0 C surface in 3-D or the seen
                                rim) to the skin; NAN when there is no ice */
    double lethal_band_mm;   /* half-width of the -20 C band (NAN unknown) */
    double target_temp_c;    /* model temperature of the target's warmest point now
                                (NAN unknown) */
    double target_min_temp_c;/* running minimum of target_temp_c over the session:
                                the coldest the whole target has been at once */
} cn_guidance_state;

/* What the thermal model says about this frame besides the curves (issue 13). */
typedef struct {
    bool valid;              /* a model of the cold exists (a freeze happened) */
    float ice_depth_mm;      /* shallowest point of its 0 C surface below the
                                transducer face (the image's y = 0 line swept along
                                the elevation axis: a plane in 3-D), out of plane
                                too; INFINITY when it has no ice */
    float band_mm;           /* half-width of the -20 C band (1.64 sigma) */
    float probe_temp_c;      /* the probe boundary temperature now (NAN: no gas) */
    int n_sources;           /* freezes at distinct spots in the one cold field */
    int anchor;              /* cn_zone_anchor: what the latest freeze's spot was placed
                                on when it began (NONE while there is no model) */
    float anchor_confidence; /* CN_ZONE_ON_NEEDLE_LINE: the line's confidence then */
    float anchor_spread_mm;  /* CN_ZONE_ON_NEEDLE_LINE: how far the line's tip moved over
                                the second before the freeze (the largest distance of a tip
                                from the anchor's); over CN_ANCHOR_STEADY_MM the anchor is
                                unsteady (guidance's red ZONE ON AN UNSTEADY NEEDLE LINE).
                                INFINITY: the line was not seen on most of that second's
                                frames (a freeze keyed on a recording's first frames, a
                                source under 3 frames/s); NAN: the line was first found in
                                the freeze. Both unknown: said on the status line only */
    bool waiting;            /* a freeze runs but no model: the cryoprobe's place is not
                                known yet (no tracked cryoprobe, no needle line found) */
    bool no_ice_seen;        /* a freeze whose model ice is well visible in size has shown
                                no rim in the image yet: the zone is the model's alone,
                                unverified (a gas fault, a probe out of the plane, a rim the
                                analysis cannot find) */
    float disagree_mm;       /* > 0: no model of the ensemble follows the rim seen in this
                                freeze: its best member is this far (RMS) from it; the zone
                                is the closest the model can do, not the ice (0: it follows) */
    float catching_up_s;     /* > 0: the 3-D model stands this far (model seconds) behind
                                the frame, stepping on a step dated back over a few frames:
                                no zone, no coverage until it is current */
    bool fit_behind;         /* the fit to the ice is suspended: most of the ensemble lags
                                the scene clock (a simulator time scale of 50 or more) */
    bool ice_grows_in_thaw;  /* the procedure is in a thaw, and the image has shown the ice
                                growing past the model's for seconds: the gas is probably
                                still on, and the zone (which thaws) is behind the ice */
    int64_t ice_regrows_since_ns; /* with it: the thaw's ice had shrunk 0.5 mm first, and
                                regrows since this scene time (its smallest): a freeze the
                                console started, not the old one going on; 0 otherwise */
    int64_t ice_regrows_peak_ns; /* and that regrown ice has shrunk 0.5 mm under its largest
                                since: the scene time it was largest (that freeze is over);
                                0 otherwise */
} cn_thermal_result;

/* Where the predicted zone sits: on the tracked cryoprobe, or (no tracked
 * cryoprobe) on the needle line the image analysis found when the freeze began,
 * which on real tissue may be a fascia plane (docs/validation.md): the screen and
 * the proctor say which. */
/* A needle line whose tip moved more than this over the second before the freeze (or
 * was not seen on most of its frames) is no steady shaft to place the zone on. */
#define CN_ANCHOR_STEADY_MM 3.0f

typedef enum {
    CN_ZONE_ANCHOR_NONE = 0,
    CN_ZONE_ON_TRACKED_PROBE,
    CN_ZONE_ON_NEEDLE_LINE
} cn_zone_anchor;

/* Something that happened during the procedure, recorded once on the frame where
 * it happened (the recorder writes it; replays and reports read it back). Events
 * are produced by whoever observes them (the procedure state, guidance's alarms,
 * a proctor's note) on the analysis thread and ride with the analysed frame.
 * `text` is one line: the event name first, then optional key=value pairs, e.g.
 * "freeze_start cycle=2", "alarm set=0x1", "note text=reposition 2 mm deeper".
 * It never holds control characters (producers sanitise). */
typedef enum {
    CN_EVSRC_SYSTEM = 0,  /* CryoNav itself (guidance alarms, recording state) */
    CN_EVSRC_OPERATOR,    /* the clinician at the table: a key, a click */
    CN_EVSRC_PROCTOR,     /* a remote proctor over the network */
    CN_EVSRC_SIMULATOR,   /* the simulator's scripted console */
    CN_EVSRC_CONSOLE,     /* the cryo console (e.g. a message over OpenIGTLink) */
    CN_EVSRC_PLAN         /* the freeze protocol (reminders, planned steps) */
} cn_event_source;

const char *cn_event_source_name(cn_event_source s); /* "system", "operator", ... */

/* a proctor's note whole: "note from=\"<a 47-character account> (client N)\" text=" and
 * its 200 characters (before, 120: the recording cut names to 20 and notes to 80) */
#define CN_EVENT_TEXT_MAX 320
#define CN_EVENTS_MAX 8

typedef struct {
    int64_t t_scene_ns;       /* scene time when it happened (see cn_frame.t_scene_ns) */
    cn_event_source source;
    char text[CN_EVENT_TEXT_MAX];
} cn_event;

typedef struct {
    cn_needle_result needle;
    cn_contour nerve;
    /* The operator's nerve point (a click, a config point or a proctor's POINT) as the
     * segment stage follows it, image mm: it moves with the followed nerve and stays
     * where the nerve was last seen while it is lost. Not set in automatic mode. */
    bool nerve_target_set;
    cn_pt2 nerve_target_mm;
    cn_ice_front ice;
    int n_iso;
    cn_isotherm iso[CN_ISO_MAX];
    cn_thermal_result thermal;
    cn_guidance_state guidance;
    int n_events;             /* events that happened on this frame */
    cn_event events[CN_EVENTS_MAX];
} cn_analysis;

/* Appends an event to a's list (printf-style text; control characters become
 * spaces, the text is truncated to CN_EVENT_TEXT_MAX - 1 bytes). CN_ENOMEM when
 * CN_EVENTS_MAX are already there (the event is lost: callers log that). */
int cn_analysis_add_event(cn_analysis *a, cn_event_source source, int64_t t_scene_ns,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The values of an event text ("name key=value key=value ..."). A value that
 * holds a space, '"', '\\' or '=' (a catalogue's probe name, a protocol's, a
 * proctor's) is written in double quotes with '"' and '\\' escaped by '\\'. The
 * key "text" (a note's words) is always the last one and takes the rest of the
 * line as it stands. cn_event_put appends " key=value" to out (quoting as
 * needed); CN_ERANGE when it does not fit (out is then unchanged). cn_event_get
 * copies key's value into out: quoted, or bare up to the next " key=" (so texts
 * written before quoting, a probe name with spaces among them, still read);
 * CN_ENOENT when the text has no such key, CN_ERANGE when the value does not fit,
 * CN_EPARSE for an unterminated quote. */
int cn_event_put(char *out, size_t len, const char *key, const char *value);
int cn_event_get(const char *text, const char *key, char *out, size_t len);

/* Procedure steps in event texts. The procedure writes each step it takes as an
 * event ("freeze_start cycle=2", "thaw_start mode=active", "thaw_end", ...); the
 * procedure (a recording's history), the report and the replay read them back with
 * these two, so the three agree on which step an event is and where it leads.
 * cn_step_of reads an event text's first word ("freeze_stop" is read as
 * "freeze_end", "thaw_stop" as "thaw_end": the console's words for them).
 * cn_step_leads gives the phase ev[k] moves the procedure into, ev being n events in
 * time order (one frame's, or a history); false when the event does not move it by
 * itself: it is no step; it is a freeze_end with another step at its time (the
 * thaw_start or needle_withdrawn written with it moves it; alone, from a console or
 * an older file, it is the freeze stopped, into a passive thaw); or it is a thaw_end
 * with another step at its time, other than needle_inserted (the end of a thaw that a
 * freeze, a change of thaw, a reposition or a withdrawal ended: that step's part). */
typedef enum {
    CN_STEP_NONE = 0,
    CN_STEP_NEEDLE_INSERTED,
    CN_STEP_FREEZE_START,
    CN_STEP_FREEZE_END,
    CN_STEP_THAW_START,
    CN_STEP_THAW_END,
    CN_STEP_REPOSITION,
    CN_STEP_NEEDLE_WITHDRAWN,
    CN_STEP_FREEZE_RESUME    /* "freeze_resume cycle=N": the passive thaw that followed freeze
                                N was none (the gas stayed on: ICE GROWING IN THAW); freeze N
                                goes on from its own start */
} cn_step;

cn_step cn_step_of(const char *text);
bool cn_step_leads(const cn_event *ev, int n, int k, cn_phase *to);

/* Ground truth a simulator knows about the frame (for tests and `cryonav eval`). */
typedef struct {
    bool valid;
    double t_scene_s;        /* scenario time */
    cn_phase phase;
    int cycle;
    /* nerve: ellipse in image mm */
    cn_pt2 nerve_center_mm;
    float nerve_rx_mm, nerve_ry_mm;
    /* needle */
    bool needle_in;          /* needle inserted (visible in plane) */
    cn_pt2 needle_tip_mm;
    cn_pt2 needle_dir;       /* unit, entry -> tip */
    cn_pt2 needle_entry_mm;  /* where the shaft enters the image (skin or edge) */
    /* ice: ellipse around the active segment; rim = visible (transducer-side) arc */
    bool ice_present;
    float ice_radius_mm;     /* radial ice thickness from the probe axis */
    cn_pt2 ice_center_mm;
    float ice_a_mm, ice_b_mm; /* semi-axes along / across the shaft */
    int rim_n;
    cn_pt2 rim_mm[CN_ICE_PTS_MAX];
    bool console_silent;     /* the scripted console does not tell its steps: its phase is
                                not an input (sim "console": "silent") */
} cn_truth;

#ifdef __cplusplus
}
#endif

#endif /* CN_CORE_ANALYSIS_H */
