/*
 * core.h - the one public header of CryoNav's core module.
 *
 * Everything that flows through CryoNav is defined here: error codes, the clock,
 * logging, 4x4 rigid poses, the transform graph that answers "AToB" for any two
 * named coordinate frames (the PLUS way), the frame (one B-mode image plus the
 * poses valid at its acquisition time plus the analysis results that ride with
 * it), the preallocated reference-counted frame pool, latency statistics, and a
 * few JSON helpers whose errors name file, line and key.
 *
 * Conventions (libuv-like): opaque handles with _new/_free pairs, functions named
 * cn_<noun>_<verb>, errors returned as negative CN_E* codes (cn_strerror names
 * them). No global mutable state: every long-lived thing is a handle.
 *
 * Units: millimetres for lengths (suffix _mm where not obvious), nanoseconds on
 * the monotonic clock for time (t_ns), degrees Celsius for temperature (temp_c).
 * Matrices are 4x4 row-major, as PLUS writes them in sequence files; a matrix
 * named AToB maps a point expressed in frame A into frame B.
 */
#ifndef CN_CORE_H
#define CN_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

enum {
    CN_OK = 0,
    CN_EINVAL = -1,       /* an argument or an input value is invalid */
    CN_ENOMEM = -2,       /* out of memory, or a fixed capacity is exhausted */
    CN_EIO = -3,          /* read/write/system call failed */
    CN_ENOENT = -4,       /* file, key, frame or transform not found */
    CN_EPARSE = -5,       /* malformed input text or bytes */
    CN_ERANGE = -6,       /* value outside its allowed range */
    CN_EAGAIN = -7,       /* nothing available now, try later */
    CN_ETIMEDOUT = -8,    /* waited too long */
    CN_ECLOSED = -9,      /* the other end has stopped / been closed */
    CN_EUNSUPPORTED = -10 /* valid but not handled (e.g. a pixel type) */
};

/* A short English name for an error code ("invalid argument", ...). */
const char *cn_strerror(int err);

/* Writes "<prefix>: <message>" into err (the error text every entry point hands
 * back); nothing when err is NULL or err_len is 0, truncated to err_len. */
void cn_errf(char *err, size_t err_len, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ clock */

int64_t cn_clock_mono_ns(void);   /* CLOCK_MONOTONIC */
int64_t cn_clock_wall_ns(void);   /* CLOCK_REALTIME, ns since 1970 */
void cn_clock_sleep_ns(int64_t ns);

/* ------------------------------------------------------------------ logging */

typedef enum { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR } cn_log_level;

/* A logger is a handle (no global logger). All functions accept NULL, which
 * means "stderr, level INFO". Thread-safe: one line is written atomically. */
typedef struct cn_log cn_log;

cn_log *cn_log_new(FILE *out, cn_log_level min_level);
/* A logger appending to the file at path (created when missing; the logger owns
 * and closes it); NULL or "" = stderr. NULL with a message naming the file. */
cn_log *cn_log_open(const char *path, cn_log_level min_level, char *err, size_t err_len);
void cn_log_free(cn_log *lg);
/* "debug", "info", "warn", "error"; parse also takes "warning". CN_EINVAL when unknown. */
const char *cn_log_level_name(cn_log_level l);
int cn_log_level_parse(const char *s, cn_log_level *out);
/* Writes "cryonav: HH:MM:SS.mmm level: module: message\n" (local time). */
void cn_log_write(cn_log *lg, cn_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cn_log_vwrite(cn_log *lg, cn_log_level level, const char *module, const char *fmt,
                   va_list ap);
#define cn_log_error(lg, mod, ...) cn_log_write((lg), CN_LOG_ERROR, (mod), __VA_ARGS__)
#define cn_log_warn(lg, mod, ...) cn_log_write((lg), CN_LOG_WARN, (mod), __VA_ARGS__)
#define cn_log_info(lg, mod, ...) cn_log_write((lg), CN_LOG_INFO, (mod), __VA_ARGS__)
#define cn_log_debug(lg, mod, ...) cn_log_write((lg), CN_LOG_DEBUG, (mod), __VA_ARGS__)

/* ------------------------------------------------------------------ 4x4 poses */

/* Row-major 4x4: m[r*4 + c]. The last row is 0 0 0 1 for rigid/affine poses. */
typedef struct {
    double m[16];
} cn_mat4;

typedef struct {
    double x, y, z;
} cn_vec3;

cn_mat4 cn_mat4_identity(void);
cn_mat4 cn_mat4_mul(const cn_mat4 *a, const cn_mat4 *b); /* a * b */
/* General inverse; returns CN_EINVAL when singular (|det| < 1e-12). */
int cn_mat4_invert(const cn_mat4 *a, cn_mat4 *out);
cn_vec3 cn_mat4_apply_point(const cn_mat4 *a, cn_vec3 p);
cn_vec3 cn_mat4_apply_dir(const cn_mat4 *a, cn_vec3 d);  /* ignores translation */
cn_mat4 cn_mat4_translation(double x, double y, double z);
cn_mat4 cn_mat4_rotation_axis_angle(cn_vec3 axis, double angle_rad);
cn_mat4 cn_mat4_scale(double sx, double sy, double sz);
bool cn_mat4_is_finite(const cn_mat4 *a);
/* Largest absolute element difference. */
double cn_mat4_max_abs_diff(const cn_mat4 *a, const cn_mat4 *b);

/* Quaternion (w, x, y, z) of the rotation part of a rigid pose; the rotation
 * part is orthonormalised first, so a slightly scaled matrix still works. */
void cn_mat4_to_quat(const cn_mat4 *a, double q[4]);
cn_mat4 cn_mat4_from_quat_trans(const double q[4], cn_vec3 t);
/* Rigid interpolation: slerp of rotation, lerp of translation, s in [0, 1]. */
cn_mat4 cn_mat4_interpolate(const cn_mat4 *a, const cn_mat4 *b, double s);

cn_vec3 cn_vec3_add(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_sub(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_scale(cn_vec3 a, double s);
double cn_vec3_dot(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_cross(cn_vec3 a, cn_vec3 b);
double cn_vec3_norm(cn_vec3 a);
cn_vec3 cn_vec3_normalize(cn_vec3 a);

/* ------------------------------------------------------------------ transform graph */

#define CN_FRAME_NAME_MAX 32 /* frame names like "Probe", "Tracker" (no "To" inside) */
#define CN_XFORM_NAME_MAX 64 /* transform names like "ProbeToTracker" */

/* Splits "ProbeToTracker" into "Probe" and "Tracker". PLUS rule: a frame name never
 * contains "To", so the split is at the only "To" followed by an upper-case letter.
 * Returns CN_EINVAL for names that are not of the AToB form. */
int cn_xform_name_split(const char *name, char from[CN_FRAME_NAME_MAX], char to[CN_FRAME_NAME_MAX]);

/* The graph keeps, for every known edge AToB, a short time history of poses so a
 * query at any time interpolates between the two bracketing samples (slerp+lerp).
 * Queries compose and invert edges along the shortest path (breadth first). */
typedef struct cn_xform_graph cn_xform_graph;

cn_xform_graph *cn_xform_graph_new(void);
void cn_xform_graph_free(cn_xform_graph *g);
/* Adds a timed sample of edge AToB ("ProbeToTracker"). valid=false records that the
 * tracker lost the tool at that time. A static transform (calibration) is set with
 * t_ns = CN_XFORM_STATIC and applies at every time. */
#define CN_XFORM_STATIC INT64_MIN
int cn_xform_graph_set(cn_xform_graph *g, const char *name, const cn_mat4 *m, int64_t t_ns,
                       bool valid);
/* Answers from->to at time t_ns. Returns CN_OK, CN_ENOENT when no path joins the two
 * frames, CN_EAGAIN when a needed edge has no valid sample near t_ns (lost tool, or
 * t_ns further than max_extrapolate_ns outside the history). */
int cn_xform_graph_get(const cn_xform_graph *g, const char *from, const char *to, int64_t t_ns,
                       cn_mat4 *out);
/* Same, with the name "AToB". */
int cn_xform_graph_get_named(const cn_xform_graph *g, const char *name, int64_t t_ns, cn_mat4 *out);
/* How far outside its sample history an edge may be held (default 200 ms). */
void cn_xform_graph_set_max_extrapolate(cn_xform_graph *g, int64_t ns);
/* Number of distinct edges. */
int cn_xform_graph_edge_count(const cn_xform_graph *g);

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
    /* that ice has shrunk 1 mm under its largest since: its freeze is over already;
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
} cn_thermal_result;

/* Where the predicted zone sits: on the tracked cryoprobe, or (no tracked
 * cryoprobe) on the needle line the image analysis found when the freeze began,
 * which on real tissue may be a fascia plane (docs/validation.md): the screen and
 * the proctor say which. */
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

/* ------------------------------------------------------------------ frame + pool */

#define CN_POSES_MAX 8

typedef struct {
    char name[CN_XFORM_NAME_MAX]; /* "ProbeToTracker" */
    cn_mat4 m;
    bool valid;
} cn_pose;

typedef enum { CN_FRAME_OK = 0, CN_FRAME_INVALID = 1 } cn_frame_status;

#define CN_SCENE_TIME_UNSET INT64_MIN

typedef struct cn_frame_pool cn_frame_pool;

/* One B-mode image and everything known about it. Frames live in a pool; never
 * allocate one yourself. The pixel buffer holds max_w * max_h bytes; the image
 * uses width * height of it (stride == width). */
typedef struct cn_frame {
    /* image */
    uint8_t *pixels;
    int width, height;
    double spacing_mm[2];      /* x (lateral), y (axial) */
    double transducer_px[2];   /* pixel at the centre of the transducer face */
    /* time */
    uint64_t seq;              /* sequence number from the source */
    int source_frame;          /* a replay: the frame's index in its file (from 0; what
                                  `--start '#N'` names); -1 from other sources */
    int64_t t_acq_ns;          /* acquisition, monotonic */
    int64_t t_ready_ns;        /* when the source handed the frame over, monotonic: 0
                                  for live sources (acquisition is the moment); a
                                  replay's emission, since its t_acq_ns follows the
                                  recorded scene, which a --fast or --time-scale
                                  recording ran ahead of the pace it is replayed at.
                                  Latencies count from cn_frame_t_ready(). */
    int64_t t_preroll_ns;      /* time a stage spent, before this frame's own analysis,
                                  on work that is not it: a replay's catch-up of the
                                  frames it jumped over. The pipeline's analysis time
                                  and latencies leave it out (they measure the
                                  pipeline, not the jump); 0 for almost every frame. */
    int64_t wall_ns;           /* acquisition, wall clock */
    int64_t t_scene_ns;        /* scene time: the clock the procedure experiences. The
                                  simulator's scenario time (time_scale x faster than
                                  t_acq_ns), a replay's recorded scene time; for live
                                  sources the pipeline sets it to t_acq_ns. Timers,
                                  the thermal model and recordings run on it.
                                  CN_SCENE_TIME_UNSET until a source sets it. */
    int64_t t_analysed_ns;     /* when the analysis finished (0 if not analysed) */
    int64_t t_sent_ns;         /* when a network sink sent it */
    int64_t t_shown_ns;        /* when the viewer drew it */
    cn_frame_status status;
    /* poses valid at t_acq_ns */
    int n_poses;
    cn_pose poses[CN_POSES_MAX];
    /* results and, from a simulator, ground truth */
    bool analysed;
    cn_analysis analysis;
    cn_truth truth;
    /* private to the pool */
    cn_frame_pool *pool_;
    int index_;
} cn_frame;

/* The instant a frame's latencies count from: when its source handed it over
 * (t_ready_ns), else its acquisition; after any pre-roll a stage did first. */
static inline int64_t cn_frame_t_ready(const cn_frame *f)
{
    return (f->t_ready_ns ? f->t_ready_ns : f->t_acq_ns) + f->t_preroll_ns;
}

/* count frames, each with room for max_w x max_h pixels, allocated once. */
cn_frame_pool *cn_frame_pool_new(int count, int max_w, int max_h);
/* Frees the pool and returns CN_OK; when frames are still referenced it frees
 * nothing and returns CN_EAGAIN (a caller bug that must not become a use-after-free). */
int cn_frame_pool_free(cn_frame_pool *pool);
/* A free frame with one reference, its metadata cleared; NULL when every frame is
 * in use (never blocks, never allocates). */
cn_frame *cn_frame_pool_acquire(cn_frame_pool *pool);
int cn_frame_pool_available(cn_frame_pool *pool);
int cn_frame_pool_capacity(const cn_frame_pool *pool);
int cn_frame_pool_max_width(const cn_frame_pool *pool);
int cn_frame_pool_max_height(const cn_frame_pool *pool);
void cn_frame_ref(cn_frame *f);
/* Drops one reference; the last one returns the frame to its pool. */
void cn_frame_unref(cn_frame *f);
/* Sets the image size; CN_ERANGE when it does not fit the pool's buffers. */
int cn_frame_set_size(cn_frame *f, int width, int height);
/* Adds or replaces the pose named name; CN_ENOMEM when CN_POSES_MAX are used. */
int cn_frame_set_pose(cn_frame *f, const char *name, const cn_mat4 *m, bool valid);
/* The pose named name, or NULL. */
const cn_pose *cn_frame_get_pose(const cn_frame *f, const char *name);
/* The pose named name when it is present, valid and finite; NULL otherwise. */
const cn_pose *cn_frame_usable_pose(const cn_frame *f, const char *name);
/* TrackerTo<ref> of this frame: the inverse of its <ref>ToTracker. CN_OK; or
 * CN_ENOENT with the identity in *out when that pose is missing, unusable or
 * singular (the Tracker then stands in for the reference, as PLUS does). */
int cn_frame_tracker_to(const cn_frame *f, const char *ref, cn_mat4 *out);
/* ImageTo<ref> = TrackerTo<ref> * ProbeToTracker * ImageToProbe, with the pixel
 * spacing standing in for a missing ImageToProbe and the Tracker for a missing
 * reference (*ref_used says which; may be NULL). CN_ENOENT (and the spacing-only
 * placement in *out) when ProbeToTracker is missing: the image is not tracked. */
int cn_frame_image_to(const cn_frame *f, const char *ref, cn_mat4 *out, bool *ref_used);
/* The one rule for where things are in the image. The PLUS Image frame has pixel
 * centres at integer coordinates (pixel i spans [i - 0.5, i + 0.5]); the analysis
 * results (cn_analysis, cn_truth) are in "image mm": x from the left edge of the
 * image, y down from the transducer face, pixel (i, j) centred at ((i + 0.5) sx,
 * (j + 0.5) sy) with the frame's spacing. This is ImageToImageMm for f (a
 * translation by half a pixel after the spacing scale; spacing 1 when invalid). */
cn_mat4 cn_frame_image_to_image_mm(const cn_frame *f);
/* <tool>ToImageMm (e.g. "Cryoprobe"): ImageToImageMm * inverse(ImageToTracker) *
 * <tool>ToTracker with the frame's own poses and the fall-backs of
 * cn_frame_image_to. CN_OK; CN_ENOENT when the tool's or the probe's pose is
 * missing or unusable (then *out is the identity); CN_EINVAL when singular. Every
 * consumer (segment, thermal, viewer, proctor stream, recorder) uses this, so they
 * agree on the tip to round-off. */
int cn_frame_tool_to_image_mm(const cn_frame *f, const char *tool, cn_mat4 *out);
/* Copies everything but the pool bookkeeping (pixels included) from src to dst. */
int cn_frame_copy(cn_frame *dst, const cn_frame *src);

/* ------------------------------------------------------------------ statistics */

/* The last 5 values of a noisy per-frame measure (an ice rim's radius) and their median:
 * one undersized or outlier fit does not move it. Reset with n = 0. */
typedef struct {
    double v[5];
    int n;
} cn_last5;
/* Adds v (the oldest goes when 5 are kept) and returns the median of those kept. */
double cn_last5_push(cn_last5 *r, double v);
/* The median of the kept values; NAN when none. */
double cn_last5_median(const cn_last5 *r);

/* Keeps the last `capacity` samples (e.g. latencies in ms) and answers percentiles
 * over them. Thread-safe. */
typedef struct cn_stats cn_stats;
cn_stats *cn_stats_new(int capacity);
void cn_stats_free(cn_stats *s);
void cn_stats_add(cn_stats *s, double v);
/* p in [0, 100]; NAN when empty. */
double cn_stats_percentile(cn_stats *s, double p);
int64_t cn_stats_count(cn_stats *s);   /* all samples ever added */
double cn_stats_mean(cn_stats *s);     /* over the kept samples */
void cn_stats_reset(cn_stats *s);
/* 95 % interval of the mean of v[0..n) by the percentile bootstrap: `resamples`
 * draws of n values with replacement (cn_rng from `seed`, so a run repeats), the
 * 2.5th and 97.5th percentiles of their means into *lo, *hi. It treats the values
 * as independent: for frames of one video it is too narrow. CN_EINVAL when n < 1,
 * resamples < 100 or a value is not finite; CN_ENOMEM. */
int cn_stats_mean_interval95(const double *v, int n, int resamples, uint64_t seed, double *lo,
                             double *hi);
/* 95 % Wilson score interval of a rate of k successes in n trials (a detection
 * rate): in [0, 1], never empty at k = 0 or k = n as the normal one is. CN_EINVAL
 * when n < 1 or k is outside 0..n. */
int cn_stats_rate_interval95(int k, int n, double *lo, double *hi);

/* ------------------------------------------------------------------ JSON config helpers */

/* CryoNav's configuration is JSON read with jansson. These helpers read typed
 * values by dotted path ("sim.nerve.depth_mm") and, on error, write one message
 * that names the file, the line of the key and the key, e.g.
 *   config/session.json:12: sim.nerve.depth_mm: expected a number, got a string
 * The document type is opaque so that users of core need not include jansson. */
typedef struct cn_json cn_json;

/* Loads and parses path. On error returns NULL and fills err (file:line:col: reason). */
cn_json *cn_json_load(const char *path, char *err, size_t err_len);
/* Parses text; `label` names it in messages. */
cn_json *cn_json_parse(const char *text, const char *label, char *err, size_t err_len);
void cn_json_free(cn_json *doc);
const char *cn_json_label(const cn_json *doc);

/* Each getter returns CN_OK and sets *out; CN_ENOENT when the key is absent
 * (out untouched, no message: the caller's default stands); CN_EINVAL with a
 * message in err when the value has the wrong type or is out of [min, max]. */
int cn_json_get_number(const cn_json *doc, const char *path, double min, double max, double *out,
                       char *err, size_t err_len);
int cn_json_get_int(const cn_json *doc, const char *path, long min, long max, long *out,
                    char *err, size_t err_len);
int cn_json_get_bool(const cn_json *doc, const char *path, bool *out, char *err, size_t err_len);
int cn_json_get_string(const cn_json *doc, const char *path, char *out, size_t out_len, char *err,
                       size_t err_len);
/* Reads an array of n numbers into out (exactly n). */
int cn_json_get_numbers(const cn_json *doc, const char *path, double *out, int n, char *err,
                        size_t err_len);
/* true when the path exists. */
bool cn_json_has(const cn_json *doc, const char *path);
/* Checks that the object at path (or the root for "") has only keys from the
 * NULL-terminated list `allowed`; an unknown key (a typo) is an error that names it. */
int cn_json_check_keys(const cn_json *doc, const char *path, const char *const *allowed, char *err,
                       size_t err_len);
/* Number of elements of the array at path, or a negative error. */
int cn_json_array_size(const cn_json *doc, const char *path);
/* Writes a formatted error naming the key at path, with its line: used by modules
 * that validate values themselves ("must be smaller than ..."). */
void cn_json_error(const cn_json *doc, const char *path, char *err, size_t err_len,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The underlying jansson json_t* of the value at path (NULL when absent): for
 * modules that link jansson themselves and walk lists of objects. */
void *cn_json_raw(const cn_json *doc, const char *path);
/* Layers: patches `over` into `base` as RFC 7386 (JSON Merge Patch) says: objects
 * merge key by key, other values replace, null removes a key. `base` keeps every
 * layer, so errors and cn_json_origin name the file and line a value came from. */
int cn_json_merge(cn_json *base, const cn_json *over, char *err, size_t err_len);
int cn_json_layers(const cn_json *doc);                 /* 1 for an unmerged document */
const char *cn_json_layer_label(const cn_json *doc, int i); /* bottom (0) to top */
/* Where the effective value at path was written: the label (file) of the top-most
 * layer that has it and its line there (0 when unknown). CN_ENOENT when absent. */
int cn_json_origin(const cn_json *doc, const char *path, const char **label, int *line);
/* Calls fn for every leaf of the effective document (depth first, objects in file
 * order; arrays and empty objects are leaves) with its dotted path and its value
 * as compact JSON text. */
int cn_json_leaves(const cn_json *doc, void (*fn)(void *ctx, const char *path, const char *value),
                   void *ctx);
/* The same with each leaf's origin (cn_json_origin's label and line), every layer's
 * text scanned once for all leaves. */
int cn_json_leaves_origin(const cn_json *doc,
                          void (*fn)(void *ctx, const char *path, const char *value,
                                     const char *label, int line),
                          void *ctx);

/* ------------------------------------------------------------------ progress */

/* A one-line progress bar for long jobs (report, recover, replay --speed 0, eval)
 * on `out`, drawn only when out is a terminal: cn_progress_new returns NULL
 * otherwise, and every function accepts NULL, so callers need no checks. Redrawn
 * at most 10 times a second: "label [=====     ]  45% 123/456 frames, 3 s left".
 * cn_progress_done clears the line and frees. */
typedef struct cn_progress cn_progress;
cn_progress *cn_progress_new(FILE *out, const char *label, const char *unit);
void cn_progress_update(cn_progress *p, double done, double total);
void cn_progress_done(cn_progress *p);
bool cn_progress_active(const cn_progress *p);

/* ------------------------------------------------------------------ small utilities */

/* Copies at most dst_len-1 bytes and always terminates. Returns strlen(src). */
size_t cn_strlcpy(char *dst, const char *src, size_t dst_len);
/* Reads a whole regular file of at most max_bytes; caller frees; '\0'-terminated.
 * NULL on failure, with errno and err naming the file and why (a folder, a pipe or a
 * device, too large, a read error). cn_file_read_all: at most CN_FILE_READ_MAX,
 * no message. */
#define CN_FILE_READ_MAX ((size_t)1 << 30)
char *cn_file_read(const char *path, size_t max_bytes, size_t *len_out, char *err,
                   size_t err_len);
char *cn_file_read_all(const char *path, size_t *len_out);
/* Opens path for writing ("wb"), created or emptied, never through a symbolic link (a
 * link planted in an output folder would have the file written elsewhere); NULL with
 * err naming the file and why. */
FILE *cn_file_create(const char *path, char *err, size_t err_len);
/* Deterministic PRNG (xoshiro256**) for simulators and tests. */
typedef struct {
    uint64_t s[4];
} cn_rng;
void cn_rng_seed(cn_rng *r, uint64_t seed);
uint64_t cn_rng_next(cn_rng *r);
double cn_rng_uniform(cn_rng *r);   /* [0, 1) */
double cn_rng_normal(cn_rng *r);    /* N(0, 1) */

#ifdef __cplusplus
}
#endif
#endif /* CN_CORE_H */
