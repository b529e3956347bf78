/*
 * session.h - one navigation session: config + source device + pipeline with its
 * analysis stages and sinks. `cryonav run`, `cryonav replay` and `cryonav bench`
 * all build their pipeline through cn_session_open so that what is benchmarked
 * and replayed is exactly what runs at the table.
 *
 * Each product area wires itself into session.c inside its own commented block
 * (source, analysis stages, sinks); the handles it needs live in cn_session.
 */
#ifndef CN_APP_SESSION_H
#define CN_APP_SESSION_H

#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include "pipeline/pipeline.h"

typedef struct {
    char config_path[512];      /* "" = no --config: defaults + ~/.config/cryonav only */
    char source[32];            /* "" = from config ("sim" by default) */
    char tracking[32];          /* "" = from config ("none": the source's own poses) */
    bool realtime;              /* pace the simulator / replay at their own clock */
    bool loop;                  /* restart the scenario / recording at its end */
    /* a window with no frame limit: the simulator loops, a replay holds its end */
    bool windowed;
    uint64_t max_frames;        /* 0 = until the source ends */
    double time_scale;          /* <= 0: from config */
    long seed;                  /* < 0: from config */
    char protocol[64];          /* "" = from config */
    cn_log_level log_level;
    cn_log *log;                /* NULL = a stderr logger at log_level; else borrowed */
    /* replay */
    char replay_path[512];
    double replay_speed;        /* 1 = recorded timing */
    double probe_wait_s;        /* usb: >= 0 overrides usb.wait_s; < 0: the config's */
    /* Offline (replay --speed 0, run --fast; issue 14): every frame analysed in
     * turn (lockstep, no latest-wins skip) and recorded (the recorder waits instead
     * of dropping); no latency figures. */
    bool batch;
    double spacing_mm[2];       /* replay: spacing for files without one (--spacing-mm) */
    char replay_start[128];     /* replay: start at a chapter, a time or a frame (--start) */
    bool replay_paused;         /* replay: start paused (--paused) */
    /* sinks */
    char record_path[512];      /* "" = no recording */
    char listen[128];           /* "" = config / 127.0.0.1:18944 */
    bool no_serve;              /* no OpenIGTLink server */
    /* proctor link: the token that makes a client a proctor (wins over the
     * config's "proctor" object); a file only the user can read, or the token */
    char proctor_token_file[512];
    char proctor_token[160];
} cn_run_opts;

void cn_run_opts_defaults(cn_run_opts *o);

typedef struct cn_session {
    cn_run_opts opts;
    cn_log *log;
    cn_json *cfg;
    cn_pipeline *pipe;
    cn_device dev;
    bool has_dev;
    const char *source_name;    /* what feeds the pipeline */
    struct cn_sim *sim;         /* when the source is the simulator */
    int64_t surfaces_sent_ns;   /* when isotherm surfaces last went to the server */
    /* A target point handed over by the main thread (a proctor's POINT, in the
     * Reference frame), applied by the analysis thread to the next frame. */
    pthread_mutex_t target_mu;
    bool target_pending;
    bool target_in_image;       /* target_ref_mm holds image mm (x, y) instead */
    bool target_clear;          /* the pending "target" is: forget the point */
    bool target_ours;           /* the pending point came named as CryoNav's own */
    cn_event_source target_clear_by; /* who asked to forget it (operator, proctor) */
    double target_ref_mm[3];
    char scene_frame[32];       /* the frame the OpenIGTLink scene (and a proctor's POINT)
                                   is in: igtl.reference_frame ("Reference") */
    /* Procedure events from other threads (notes, marks: cn_session_add_event),
     * emitted by the analysis thread onto the next frame (session_stages.c). */
    pthread_mutex_t events_mu;
    int n_queued_events;
    cn_event queued_events[32];
    uint64_t events_dropped;
    /* under events_mu: the session's state a recording started mid-session begins
     * with (cn_session_state_events): its probe event and the last target event */
    cn_event probe_event, target_event;
    bool have_probe_event, have_target_event;
    /* a replay: the scene time of the recording's first frame, once seen; events
     * timed before it are the session's history (cn_session_replay_history) */
    int64_t replay_first_ns;
    int64_t replay_history_last_ns; /* the newest step taken as history (INT64_MIN none) */
    void *batch;                /* offline lockstep wrapper (session_batch.c), or NULL */
    bool seed_announce;         /* the target the session starts with, recorded once */
    bool start_seed;            /* seed_mm is that target (config, simulated operator) */
    cn_pt2 seed_mm;
    cn_event_source seed_source;
    uint64_t replay_jumps;      /* the replay's jumps already answered (session_stages.c) */
    /* A replay's forward jump (a --start, a chapter, a seek) is caught up
     * (session_catchup.c): the analysis stages after the console run, unseen, on
     * the frames jumped over, read by a reader of the session's own. */
    cn_stage catchup_stages[4];
    int n_catchup_stages;
    void *catchup_reader;       /* cn_seq_reader, opened at the first catch-up */
    void *catchup_pool;         /* cn_frame_pool of one frame for it */
    bool catching_up;           /* the frame being analysed is one jumped over */
    atomic_int catchup_done, catchup_total, catchup_to; /* progress, for the HUD */
    /* the recorded target the nerve seed was last set to, and the last one written
     * to a frame of the replay (so a jump neither resets the seed to the same point
     * nor records the same target twice) */
    char replay_target_set[CN_EVENT_TEXT_MAX], replay_target_put[CN_EVENT_TEXT_MAX];
    /* the newest recorded note or mark a replay reached, for its status line while the
     * frames shown are within 8 s after it (under target_mu: the analysis thread writes,
     * the window's reads) */
    char replay_note[CN_EVENT_TEXT_MAX];
    int64_t replay_note_t_ns;
    /* a key the window refused (a procedure key in a replay), for its status line for 4 s
     * (the window's thread only) */
    /* a live session whose zone is modelled for the simulator's needle: said on the
     * status line for as long as it runs (review 41b) */
    char zone_warning[200];
    char key_msg[160];
    int64_t key_msg_ns;
    /* where the replay's frames are in the file (the last jump answered: frame
     * landed + k has seq landed_seq + k), and the furthest frame the analysis has
     * taken in since its last rewind: a frame at or before it (a step back) is
     * analysed with the procedure held, its recorded inputs already applied */
    int replay_landed, replay_high;
    uint64_t replay_landed_seq;
    bool spacing_assumed;       /* the replayed file states no pixel size and none was
                                   given: 1 mm/px stands in (the HUD says so) */
    /* the scene time of the last frame the analysis took in (INT64_MIN: none since
     * the replay's start): a file whose scene clock goes back (a replay re-recorded
     * across a loop or a seek back) starts the analysis again there */
    int64_t replay_scene_ns;
    /* the same for every other source (INT64_MIN: no frame yet): the windowed
     * simulator loops its scenario, and its scene clock starts again at 0 */
    int64_t live_scene_ns;
    /* session_source.c: the USB probe's interruptions already recorded (its stats'
     * disconnects + restarts), and the acquisition time of the last frame */
    uint64_t source_unplugs_seen, source_restarts_seen;
    int64_t source_last_acq_ns;
    /* Handles owned by the product areas (see their blocks in session.c). */
    void *segment, *thermal, *guidance, *igtl_server, *recorder, *usb, *replay, *igtl_source;
    void *devices;              /* the device set (devices/registry) owning the above */
    /* proctor link (session_proctor.c): the hub (cn_proctor_hub: roles, notes,
     * targets, commands, surfaces) */
    void *proctor;
    /* issue 13: the procedure state (guidance/procedure.c): the operator's keys,
     * a proctor's command, the console over OpenIGTLink and the simulator's
     * script all feed it (cn_procedure_key / _post / _console, any thread) */
    void *procedure;
} cn_session;

/* Loads the config, opens the source, builds the pipeline with every analysis
 * stage and sink. On failure fills err (one line naming the input and problem),
 * releases what it made and returns a negative code. */
int cn_session_open(cn_session *s, const cn_run_opts *o, char *err, size_t err_len);
/* Reads every object of a session config as a session would (without opening a
 * device, a port or a file to write): CN_OK, or the first value `run` would refuse,
 * named in err. `cryonav config` prints it. */
int cn_session_config_check(const cn_json *cfg, char *err, size_t err_len);
int cn_session_start(cn_session *s);
/* Stops the pipeline and frees everything; safe on a failed open. */
void cn_session_close(cn_session *s);
/* The operator's target (the nerve to follow) as a point in the Reference frame
 * (mm), e.g. a proctor's POINT; any thread. The analysis maps it into the image of
 * the next frame with that frame's poses and seeds the nerve tracker there. ours:
 * the point carries the name CryoNav sends its own point under (NerveTarget): at
 * the point already followed (within 1 mm) it is that point sent back (a Slicer
 * connector pushing the node it receives) and changes nothing; moved, it is a
 * new target. */
void cn_session_set_target_ref(cn_session *s, const double p_ref_mm[3], bool ours);
/* The same with a point of the image itself (image mm), e.g. a click in the viewer. */
void cn_session_set_target_image(cn_session *s, cn_pt2 image_mm);
/* Forgets the nerve to follow (the operator's u key, a proctor's ClearNerveTarget),
 * any thread: the next frame drops the point and its outline (automatic mode, when
 * on, looks afresh) and records "target cleared" with the source. */
void cn_session_clear_target(cn_session *s, cn_event_source by);
#define CN_SESSION_TARGET_CLEARED "target cleared" /* the event's text (a replay applies it) */

/* A procedure event from any thread (a key, a proctor's note, a console
 * message): queued under a mutex and put on the next analysed frame (its
 * f->analysis.events) by the analysis thread, with that frame's scene time, so
 * the recorder writes it once and replays bring it back. text: the event name
 * then key=value pairs ("mark", "freeze_start cycle=1"). CN_ENOMEM when 32 are
 * already waiting (logged). */
int cn_session_add_event(cn_session *s, cn_event_source source, const char *text);
/* A note as an event "note text=<text>" (e.g. a proctor's STRING, source
 * CN_EVSRC_PROCTOR). */
int cn_session_add_note(cn_session *s, cn_event_source source, const char *text);

/* Replay for teaching (session_replay.c): applies --spacing-mm / --start /
 * --paused to a replay source; the replay keys (n / N chapters, 1-9 freeze N) and
 * the chapter list. */
int cn_session_replay_setup(cn_session *s, char *err, size_t err_len);
bool cn_session_replay_key(cn_session *s, int key);
void cn_session_print_chapters(cn_session *s, FILE *out);

/* Offline runs (session_batch.c): the device the pipeline reads through (s->dev
 * wrapped so that a frame is read only once the one before was analysed), the
 * sink that reports analysed frames to it, and its release after the pipeline. */
const cn_device *cn_session_batch_device(cn_session *s);
void cn_session_batch_done(void *self, cn_frame *f);
void cn_session_batch_free(cn_session *s);
/* An offline replay with snapshots every N recording frames (0: none): a frame due
 * for one is held until cn_session_batch_shown names it drawn. */
void cn_session_batch_snapshots(cn_session *s, int every);
void cn_session_batch_shown(cn_session *s, uint64_t seq);
/* An offline run's --frames: the source ends after that many frames (0: none). */
void cn_session_batch_limit(cn_session *s, uint64_t max_frames);

/* The session's own stages (session_stages.c): the procedure state and the
 * operator's target before the analysis, the isotherm surfaces after it. */
int cn_session_console_stage(void *self, cn_frame *f);
/* issue 13 (session_stages.c): the simulator follows the catalogue's protocol
 * name (config/protocols.json, one set of names); the plan (and the procedure
 * state that keeps it) from --protocol, the simulated clinician's protocol or the
 * config's. */
int cn_session_sim_protocol(cn_session *s, void *cn_sim_config_, const char *name, char *err,
                            size_t err_len);
int cn_session_plan(cn_session *s, void *cn_thermal_stage_opts_, const char *config_dir, char *err,
                    size_t err_len);
int cn_session_surfaces_stage(void *self, cn_frame *f);
/* Replay (session_catchup.c): runs the analysis on every frame [from, to) a forward
 * jump skipped, before the frame it landed on (landed: its times anchor theirs; the
 * plan's event the procedure wrote on the first of them is put on it), so the
 * procedure, the thermal model and the trackers are where the session had them
 * (recorded inputs applied as they came; nothing shown, sent or recorded). CN_OK,
 * or an error (logged) when the file cannot be read again. */
int cn_session_replay_catch_up(cn_session *s, int from, int to, cn_frame *landed);
/* A replay that went back (a seek, a chapter, a skip back, a loop): the procedure,
 * the trackers, the thermal model and the guidance back to their state before the
 * first frame (the target the session started with set again), so the frames
 * before the landed one can be caught up from frame 0. The looping simulator's
 * next pass starts the same way (cn_session_console_stage). */
void cn_session_replay_rewind(cn_session *s);
void cn_session_catchup_close(cn_session *s);
/* The isotherms the proctors get as surfaces (cn_session_surfaces_stage), C. */
#define CN_SESSION_SURFACES 3
extern const double cn_session_surface_temps_c[CN_SESSION_SURFACES];
/* While a catch-up runs (any thread): the HUD's line saying so, with its progress;
 * false when none runs. */
bool cn_session_catchup_line(cn_session *s, char *line, size_t len);
/* What the source is doing while no frame comes, for the screen and the log: the USB
 * probe's state in the driver's words (not plugged in, plugged in but sends no usable
 * image and why, unplugged N s ago), else "the <source> sends no frames". */
void cn_session_outage_text(const cn_session *s, char *out, size_t len);
/* Analysis thread, on every frame: a frame that follows an interruption of the USB probe
 * (unplugged, restarted) carries a system event saying how long no frame came and why,
 * so the recording and the report show the gap (before, neither did: review 39a L2). */
void cn_session_source_gap_event(cn_session *s, cn_frame *f);
/* session_stages.c, for the catch-up: a jumped-over frame's recorded events and
 * the procedure step, as the console stage does for a frame it is given. */
int cn_session_console_hidden(cn_session *s, cn_frame *f, const cn_event *ev, int n);
/* session_stages.c: an event on f (one that does not fit waits in the queue for
 * the next frame, unless f is a frame caught up, which is not recorded). */
void cn_session_put_event(cn_session *s, cn_frame *f, cn_event_source src, int64_t t,
                          const char *text);
/* session_stages.c, any thread: the session's state for a recording that starts
 * now (cn_recorder_carry): the plan, the probe, the target (timed for the first
 * frame written) and the procedure's steps so far with their own times; 0 before
 * the first frame was analysed (that frame carries all of it anyway). */
int cn_session_state_events(cn_session *s, cn_event *out, int max);
/* A replay: the recorded note or mark to show with a frame at scene time t_scene_ns (8 s
 * from the note on); false when none. */
bool cn_session_replay_note(cn_session *s, int64_t t_scene_ns, char *out, size_t len);
/* A replay's place for the status line: "REPLAY 03:02 / 03:17  freeze 2  PAUSED" (the
 * shown frame's time from the recording's first frame, its length, its chapter). */
void cn_session_replay_where(cn_session *s, const cn_frame *f, char *out, size_t len);
/* session_replay_inputs.c: the replay's recorded inputs on f (a jump answered
 * first); true when f is a frame the analysis took in before (a step back), whose
 * inputs are not applied again and whose procedure step the console holds. */
bool cn_session_replay_inputs(cn_session *s, cn_frame *f);
/* The recording's history (events timed before its first frame: one started
 * mid-session) into the procedure, at the analysis's first frame. */
void cn_session_replay_history(cn_session *s, cn_frame *first);
/* Recorded events as inputs: targets set and recorded again, a person's or the
 * console's procedure steps into the procedure, notes and marks recorded again. */
void cn_session_replay_apply(cn_session *s, cn_frame *f, const cn_event *ev, int n);

/* ---- proctor link (session_proctor.c) ---- */
/* Makes the proctor hub (token from the command line or the config "proctor"
 * object, procedure commands, device ids). */
int cn_session_proctor_open(cn_session *s, char *err, size_t err_len);
void cn_session_proctor_close(cn_session *s);
/* Queues an event (e.g. a proctor's note) for the next analysed frame: the same
 * queue as cn_session_add_event. Any thread. CN_ENOMEM when 32 are waiting. */
int cn_session_queue_event(cn_session *s, cn_event_source src, const char *text);
/* The first stage on the analysis thread: proctor targets and notes from the hub
 * (headless or not); the console stage, next, puts queued events on the frame. */
int cn_session_proctor_stage(void *self, cn_frame *f);
/* The operator's keys: x revokes every proctor and locks logins, X unlocks, Tab
 * selects the next connected proctor and k revokes the selected one's account
 * (recorded as "proctor_revoked count=N account=NAME"). True when the key was
 * one of these. */
bool cn_session_proctor_key(cn_session *s, int key);
/* The HUD line: who is connected, the newest proctor note or target. */
void cn_session_proctor_hud(cn_session *s, char *out, size_t len);

/* What `run` and `replay` ask of the navigator's main loop (navigate.c). */
typedef struct {
    cn_run_opts run;
    bool headless;              /* render offscreen only */
    bool no_fallback;           /* fail when no display instead of going headless */
    bool show_truth;            /* draw simulator ground truth */
    bool no_overlays;           /* start with the analysis overlays hidden */
    char snapshot_dir[512];     /* "" = none: nothing is written unless asked */
    long snapshot_every;        /* frames between snapshots */
    char keys[256];             /* scripted procedure keys "KEY@SCENE_S,..." (--keys):
                                   the operator's, applied on the first analysed frame
                                   at that scene time */
    /* issue 16: window size (0 = the config's "viewer" object, else 1280 x 800) and
     * where log lines go ("" = stderr; the level is run.log_level) */
    int window_w, window_h;
    char log_path[512];
} cn_nav_opts;

/* Checks a --keys list ("f@400,f@460": procedure key @ scene second); returns how
 * many keys it holds (out may be NULL) or -1 with a message in err. */
int cn_app_parse_keys(const char *spec, void *out, int max, char *err, size_t err_len);
/* One scripted key of a --keys list (out of cn_app_parse_keys): key and scene second. */
typedef struct {
    int key;
    double t_s;
} cn_app_script_key;
/* A key pressed in the viewer (navigate_keys.c), and the list `h` shows (a replay's or a
 * live session's). */
void cn_app_handle_key(cn_session *s, int key, cn_log *log);
const char *cn_app_key_help(bool replay);

/* Opens the session, runs the viewer loop until the source ends, the frame limit
 * is reached, the window is closed or SIGINT/SIGTERM arrives; prints a summary.
 * Returns the process exit code. */
int cn_app_navigate(const char *cmd, const cn_nav_opts *o);

#endif
