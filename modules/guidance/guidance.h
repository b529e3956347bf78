/*
 * guidance.h - procedure safety figures and alarms, computed on every analysed frame.
 *
 * The guidance stage runs after segment and thermal. From what they left in
 * f->analysis it derives what the clinician must act on:
 *  - coverage: the fraction of the nerve outline's area inside the lethal (-20 C)
 *    isotherm curve of the thermal model (technical success = 1, clinical.md); during
 *    the freeze the outline is the one seen before the ice shadow hid the nerve;
 *  - ice-to-skin distance: the shallowest point of the ice (the 0 C curve or the
 *    measured visible rim, whichever is shallower) above the skin line; the ice
 *    must stay >= 5 mm from the skin;
 *  - alarms (bit set in f->analysis.guidance.alarms), with hysteresis so that a
 *    value hovering at a threshold does not make an alarm flicker;
 *  - a session summary (best coverage, closest skin approach, time frozen) for
 *    reports and the HUD.
 *
 * Depends on cn_core only (pipeline.h is used for the cn_stage struct type).
 * The stage's handle is used by the analysis thread; cn_guidance_get_summary may be
 * called from any thread (the summary is guarded by a mutex).
 */
#ifndef CN_GUIDANCE_H
#define CN_GUIDANCE_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alarm bits of cn_guidance_state.alarms. */
#define CN_ALARM_ICE_NEAR_SKIN (1u << 0)        /* ice closer to the skin than allowed */
#define CN_ALARM_TRACKING_LOST (1u << 1)        /* the cryoprobe's tracker pose is invalid / gone */
#define CN_ALARM_TIP_HIDDEN (1u << 2)           /* the needle tip is in the ice shadow */
#define CN_ALARM_NERVE_LOST (1u << 3)           /* the nerve was tracked and is not found now */
#define CN_ALARM_PROTECTED_STRUCTURE (1u << 4)  /* reserved: ice reaches a no-freeze structure */
#define CN_ALARM_NO_ICE_SEEN (1u << 5)          /* freezing, the model's ice is large, no rim seen:
                                                   the zone is unverified, coverage withheld */
#define CN_ALARM_ICE_GROWS_IN_THAW (1u << 6)    /* a thaw, and the image shows the ice growing:
                                                   the gas is still on? the zone is behind */
#define CN_ALARM_ICE_UNKEYED (1u << 7)          /* no freeze keyed, and the image shows ice
                                                   growing around the resting probe: a freeze
                                                   started that nobody keyed? no zone shown */
#define CN_ALARM_ICE_SHRINKS_IN_FREEZE (1u << 8) /* a freeze is counted, and the image shows
                                                   the ice shrinking: the gas is off? the zone
                                                   grows on a freeze that is over; coverage
                                                   withheld */
#define CN_ALARM_ICE_UNKEYED_OVER (1u << 9)     /* with ICE_UNKEYED: that ice has shrunk since
                                                   (1 mm under its largest for 5 s): the freeze
                                                   nobody keyed is over; f dates its start and
                                                   its end */
#define CN_ALARM_NO_ZONE (1u << 10)             /* a freeze is counted, and NO_ZONE_GRACE_S
                                                   into it no zone is drawn: the cryoprobe's
                                                   place is not known (no tracked cryoprobe,
                                                   no needle line found), so nothing shows
                                                   where the ice reaches */
#define CN_ALARM_ANCHOR_UNSURE (1u << 11)       /* in a freeze or its thaw, the zone stands on
                                                   a needle line the image did not show
                                                   steady over the second before the freeze
                                                   (its tip moved > CN_ANCHOR_STEADY_MM): a
                                                   fascia plane's end, perhaps, not the
                                                   shaft's */

/* The isotherm taken as lethal for a nerve (thermal.md). */
#define CN_GUIDANCE_LETHAL_TEMP_C (-20.0f)

typedef struct {
    double min_skin_distance_mm; /* ICE_NEAR_SKIN when closer (default 5) */
    double skin_depth_mm;        /* depth of the skin line in image mm (default 0: the
                                    transducer face sits on the skin) */
    double hysteresis_mm;        /* the alarm clears only beyond threshold + this (0.5) */
    double grid_mm;              /* row spacing of the coverage scanline (0.1) */
    bool lock_target;            /* during freeze/thaw cover the nerve outline seen last
                                    before the freeze (the ice shadow hides the nerve);
                                    default true */
} cn_guidance_config;

void cn_guidance_config_default(cn_guidance_config *c);
/* Reads the object at path (e.g. "guidance") over c: keys min_skin_distance_mm
 * [0, 50], skin_depth_mm [0, 50], hysteresis_mm [0, 5], grid_mm [0.01, 1],
 * lock_target (bool). Unknown keys
 * and bad values are errors naming file:line:key. A missing object is CN_OK. */
int cn_guidance_config_from_json(const cn_json *doc, const char *path, cn_guidance_config *c,
                                 char *err, size_t err_len);

typedef struct {
    uint64_t frames;             /* frames processed */
    double max_coverage;         /* best coverage reached (0..1), -1 never known */
    double min_skin_distance_mm; /* closest ice-to-skin approach, NAN when no ice yet */
    double last_skin_distance_mm;/* of the last frame, NAN when no ice in it */
    double last_coverage;        /* of the last frame, -1 unknown */
    double frozen_s;             /* scene time in the FREEZE phase (all cycles) */
    double lethal_s;             /* scene time with the whole target (>= 99 %) lethal */
    uint32_t last_alarms;
    int64_t ice_unkeyed_since_ns;/* the last frame's unkeyed ice: scene time first seen (0 none) */
    int64_t ice_unkeyed_peak_ns; /* and the scene time it was largest, when it has shrunk since
                                    (0 none: still growing) */
    int64_t ice_peak_ns;         /* the last frame's shrinking ice: scene time it last grew
                                    (0 none) */
    int64_t ice_regrows_since_ns;/* the last frame's ICE GROWING IN THAW after the thaw's ice had
                                    shrunk: scene time it began to grow again (0 none) */
    int64_t ice_regrows_peak_ns; /* ...and that ice has shrunk 0.5 mm since: when it was largest
                                    (0 none) */
    uint32_t alarms_seen;        /* every alarm bit raised in the session */
    bool target_locked;          /* the last frame covered the locked outline */
    double target_min_temp_c;    /* coldest model temperature of the target's warmest
                                    point so far (NAN: no model) */
} cn_guidance_summary;

typedef struct cn_guidance cn_guidance;

/* NULL on a bad config (check it with cn_guidance_config_from_json first) or no memory. */
cn_guidance *cn_guidance_new(const cn_guidance_config *c);
void cn_guidance_free(cn_guidance *g);
/* Forgets the session history (summary, "seen before" states, hysteresis). */
void cn_guidance_reset(cn_guidance *g);
/* Computes coverage, skin distance and alarms of f into f->analysis.guidance. The
 * target is f->analysis.nerve, except during FREEZE / THAW (with lock_target) where
 * it is the outline seen last before the freeze (the first seen in it otherwise). */
int cn_guidance_process(cn_guidance *g, cn_frame *f);
/* The guidance as a pipeline stage ("guidance"); g must outlive the pipeline. */
void cn_guidance_stage(cn_guidance *g, cn_stage *out);
/* A copy of the session summary (thread-safe). */
void cn_guidance_get_summary(cn_guidance *g, cn_guidance_summary *out);

/* The model's temperature (C) at a point of f's image (image mm); NAN unknown.
 * Called on the analysis thread for the frame being processed. */
typedef double (*cn_guidance_temp_fn)(void *user, const cn_frame *f, cn_pt2 image_mm);
/* Wires the thermal model in (e.g. cn_thermal_stage_temp_image): guidance then
 * fills target_temp_c / target_min_temp_c. Before the pipeline starts. */
void cn_guidance_set_field(cn_guidance *g, cn_guidance_temp_fn fn, void *user);
/* The conservative (inner) edge of an isotherm's band: each point moved band_mm
 * towards centre_mm (never past it); out has iso->n points. */
void cn_guidance_conservative_edge(const cn_isotherm *iso, cn_pt2 *out);

/* Fraction (0..1) of the area of polygon target inside polygon zone, both closed
 * polygons in mm (even-odd rule), computed row by row every grid_mm with exact
 * interval intersection along each row. -1 when the target has no area or an input
 * is degenerate (n < 3, non-finite points). */
double cn_guidance_coverage(const cn_pt2 *target, int n_target, const cn_pt2 *zone, int n_zone,
                            double grid_mm);

/* Short text of the active alarms for a HUD, e.g. "ICE NEAR SKIN | TIP HIDDEN";
 * "" when none. Always terminates buf; returns buf. */
const char *cn_guidance_alarm_text(uint32_t alarms, char *buf, size_t len);
/* The same with the ice-to-skin distance: "ICE 3.2 mm FROM SKIN | ...", "ICE AT SKIN"
 * when the ice reaches or crosses the skin line (distance <= 0), NAN = unknown. */
const char *cn_guidance_alarm_text_dist(uint32_t alarms, double skin_distance_mm, char *buf,
                                        size_t len);


/* ------------------------------------------------------------------ procedure state
 *
 * What is happening at the table (procedure.c): freeze start/stop, thaw (passive
 * or active), needle inserted, repositioned, withdrawn. Inputs come from the
 * operator's keys, a proctor's command, the cryo console over OpenIGTLink, and
 * the simulator's scripted console (its truth phase); all of them feed one state
 * machine that runs on the analysis thread, first in every frame, and writes the
 * state into f->analysis.guidance (phase, cycle, phase time, active thaw, the
 * plan's duration of the step) and the events into f->analysis.events, once, on
 * the frame where they happen:
 *   needle_inserted, freeze_start cycle=N, freeze_end cycle=N,
 *   thaw_start cycle=N mode=passive|active, thaw_end cycle=N, reposition,
 *   needle_withdrawn, freeze_resume cycle=N
 * and, from the plan (CN_EVSRC_PLAN): "plan name=... steps=freeze:150,...",
 * "reminder what=stop_freeze cycle=N planned_s=S", "reminder what=start_freeze
 * cycle=N planned_thaw_s=S", "reminder what=reposition coverage=C extra_freeze_s=S".
 * The plan (the freeze protocol) drives only the timer, the reminders and the
 * plan-vs-actual summary; the thermal model runs on what happened. Inputs that do
 * not fit the state (a stop without a start, a freeze with the needle out, an
 * unknown console message) are refused with one log line naming source and state.
 */

typedef enum {
    CN_PROC_NEEDLE_INSERTED = 0,
    CN_PROC_FREEZE_START,
    CN_PROC_FREEZE_STOP,       /* gas off: a passive thaw begins */
    CN_PROC_THAW_START,        /* with active = heated, else passive */
    CN_PROC_THAW_STOP,         /* the thaw is over, the probe stays in */
    CN_PROC_REPOSITION,        /* the probe was moved to a new spot */
    CN_PROC_NEEDLE_WITHDRAWN,
    CN_PROC_FREEZE_TOGGLE,     /* the operator's f: stop a running freeze, else start one */
    CN_PROC_ACTIVE_THAW_TOGGLE,/* the operator's a: heat (active thaw) on / off */
    CN_PROC_FREEZE_RESUME      /* the freeze never stopped: the passive thaw that followed
                                  it is taken back and the freeze goes on from its own
                                  start (the gas stayed on). The operator's f in a passive
                                  thaw whose last frame said ICE GROWING IN THAW is this */
} cn_proc_input;

/* One step of the plan: kind 0 freeze, 1 passive thaw, 2 active thaw. */
typedef struct {
    int kind;
    double duration_s;
} cn_plan_step;

#define CN_PLAN_STEPS_MAX 16
typedef struct {
    char name[64];             /* "" = no plan */
    int n_steps;
    cn_plan_step steps[CN_PLAN_STEPS_MAX];
    double extra_freeze_s;     /* suggested freeze after a reposition (Cazzato: 90 s) */
    bool assumed;              /* not the session's: a replay of a recording that named no
                                  plan took the configured one (its event says assumed=config) */
} cn_plan;

typedef struct {
    int kind;                  /* 0 freeze, 1 passive thaw, 2 active thaw */
    int cycle;
    double start_s, duration_s;/* scene seconds; duration NAN while it runs */
    cn_event_source source;    /* who started it */
} cn_proc_step;

#define CN_PROC_STEPS_MAX 32
typedef struct {
    cn_phase phase;
    int cycle;
    bool active_thaw;
    int n_steps;               /* what happened (freezes and thaws), oldest first */
    cn_proc_step steps[CN_PROC_STEPS_MAX];
    int repositions;
    double inserted_s, withdrawn_s; /* scene seconds, NAN when not (yet) */
    int refused;               /* inputs that did not fit the state */
    cn_plan plan;
} cn_procedure_summary;

typedef struct cn_procedure cn_procedure;

/* plan may be NULL (no plan: no timer target, no reminders); log may be NULL. */
cn_procedure *cn_procedure_new(const cn_plan *plan, cn_log *log);
void cn_procedure_free(cn_procedure *p);
/* Back to before the first frame: idle, no cycle, no summary but the plan (kept,
 * and written again as an event on the next frame). Inputs other threads queued
 * stay queued. A replay that goes back analyses again from the recording's start
 * (apps/cryonav/session_catchup.c). Analysis thread. */
void cn_procedure_rewind(cn_procedure *p);
/* Any thread: queues an input for the next analysed frame. CN_ENOMEM when 64
 * inputs are already waiting (the input is lost and logged). */
int cn_procedure_post(cn_procedure *p, cn_event_source source, cn_proc_input in, bool active);
/* As cn_procedure_post, for an input that happened at t_scene_ns (a recording's
 * history): applied on the next frame at its own time, never before the input
 * applied last nor after the frame; CN_SCENE_TIME_UNSET = on the frame. */
int cn_procedure_post_at(cn_procedure *p, cn_event_source source, cn_proc_input in, bool active,
                         int64_t t_scene_ns);
/* Any thread: the step events written so far (needle_inserted, freeze_start cycle=N,
 * freeze_end, thaw_start, thaw_end, reposition, needle_withdrawn; not the plan's),
 * oldest first, each with its source and scene time: the newest max of the last 96.
 * *started: a frame was analysed (the plan event is written). A recording started
 * mid-session puts them on its first frame (apps/cryonav/session_record.c). */
int cn_procedure_history(cn_procedure *p, cn_event *out, int max, bool *started);
/* A recording's history (the step events cn_procedure_history gave, in time order)
 * as timed inputs, from their own sources: the next frame starts where the session
 * was (phase, cycle, the phase's start, what happened before, for the summary).
 * Returns the inputs queued, CN_ENOMEM when the queue is full. */
int cn_procedure_post_history(cn_procedure *p, const cn_event *ev, int n);
/* The operator's procedure keys (any thread): f freeze start/stop, a active thaw
 * on/off, i needle inserted, p repositioned, w withdrawn. Returns true when key
 * is one of them (and was queued). */
bool cn_procedure_key(cn_procedure *p, int key);
/* Held (hold true, on the thread that analyses): inputs other threads post, and
 * those already waiting, wait until the hold ends; the holding thread's own posts
 * go through. A replay's catch-up analyses recorded frames with their recorded
 * inputs under a hold, so an operator's key pressed meanwhile lands on the first
 * frame shown after it (and in a recording of the replay), not on a frame of the
 * past that nobody sees. */
void cn_procedure_hold_inputs(cn_procedure *p, bool hold);
/* A key scripted for t_scene_s seconds of scene time after the session's first
 * frame (`cryonav run --keys f@400`; a live probe's scene clock is the monotonic
 * clock, so not its absolute value): it is the operator's, applied on the first frame
 * that reaches it, whatever the display does. CN_EINVAL for another key, CN_ENOMEM
 * past 32. */
int cn_procedure_schedule_key(cn_procedure *p, int key, double t_scene_s);
/* The scheduled keys not fired yet, as "f@560,f@600" (buf), and their number: at
 * the end of a session, keys timed after it ended (said, not dropped silently). */
int cn_procedure_unfired_keys(cn_procedure *p, char *buf, size_t len);
/* A console message (over OpenIGTLink: a STRING from the device "CryoConsole"),
 * one line: "freeze_start", "freeze_stop", "thaw_start mode=passive|active",
 * "thaw_stop", "needle_inserted", "reposition", "needle_withdrawn" (case and
 * surrounding blanks ignored; "freeze_end"/"thaw_end" are accepted for the
 * stops). Parsed and queued; an unknown message is CN_EPARSE with a message in
 * err naming it and the known ones, and a log line. */
int cn_procedure_console(cn_procedure *p, cn_event_source source, const char *text, char *err,
                         size_t err_len);
/* As cn_procedure_console, for a message that was given at t_scene_ns (a replay's
 * recorded step whose frame the analysis skipped): applied at that time (see
 * cn_procedure_post_at). */
int cn_procedure_console_at(cn_procedure *p, cn_event_source source, const char *text,
                            int64_t t_scene_ns, char *err, size_t err_len);
/* Replay: the plan a recording carries (its "plan name=N steps=K:S,..." event)
 * instead of the configured one, so the plan event is written once and the
 * reminders follow the plan the session had. Only before the first frame:
 * CN_EINVAL after it, CN_EPARSE when text is not a plan event (err says why). */
int cn_procedure_set_plan_from_event(cn_procedure *p, const char *text, char *err,
                                     size_t err_len);
/* The plan event's text, pure (procedure_text.c): "plan name=N steps=K:S,..." with
 * extra_freeze_s=X when the plan has an extra freeze (CN_ERANGE when it does not fit
 * len), and back (CN_EPARSE naming what is wrong; *has_extra: the event said it). */
int cn_plan_event_text(const cn_plan *pl, char *ev, size_t len);
int cn_plan_from_event(const char *text, cn_plan *out, bool *has_extra, char *err,
                       size_t err_len);
/* The parser alone (no side effect). */
int cn_procedure_parse(const char *text, cn_proc_input *in, bool *active, char *err,
                       size_t err_len);
/* The coverage guidance last computed (for the "reposition?" reminder); attach
 * once, before the pipeline starts. g may be NULL. */
void cn_procedure_attach_guidance(cn_procedure *p, cn_guidance *g);
/* Analysis thread, first stage of every frame: applies the queued inputs and the
 * simulator's truth-phase edges, writes the state and the events into f. */
int cn_procedure_process(cn_procedure *p, cn_frame *f);
void cn_procedure_stage(cn_procedure *p, cn_stage *out);
/* Any thread: the last input refused ("freeze_start refused: the needle is out
 * (withdrawn); insert it first"), or the operator's f that took a freeze stop back ("f:
 * freeze 1 GOES ON ..."), when it happened within within_ns; false when none did. The
 * viewer says it, so a key that did nothing, or not what it usually does, does not go
 * unnoticed. */
bool cn_procedure_last_refusal(cn_procedure *p, int64_t within_ns, char *buf, size_t len);
/* The plan's reposition reminder while it stands (from the end of the last planned freeze
 * with the target not covered, to the next freeze, reposition or withdrawal): false when
 * none. For the status line: the event alone was in the log and the recording only. */
bool cn_procedure_reminder(cn_procedure *p, char *buf, size_t len);
/* A copy of what happened, with the plan (thread-safe). */
void cn_procedure_get_summary(cn_procedure *p, cn_procedure_summary *out);
/* "plan stump-6-4-6: freeze 360 s, thaw 240 s, freeze 360 s | actual: freeze 1
 * 361 s (simulator), thaw 1 240 s, freeze 2 358 s, freeze 3 60 s (operator) |
 * repositioned 0x, procedure 1003 s"; returns buf. */
const char *cn_procedure_summary_text(const cn_procedure_summary *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CN_GUIDANCE_H */
