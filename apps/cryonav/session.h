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
    bool realtime;              /* pace the simulator / replay at their own clock */
    bool loop;                  /* restart the scenario / recording at its end */
    uint64_t max_frames;        /* 0 = until the source ends */
    double time_scale;          /* <= 0: from config */
    long seed;                  /* < 0: from config */
    char protocol[64];          /* "" = from config */
    cn_log_level log_level;
    cn_log *log;                /* NULL = a stderr logger at log_level; else borrowed */
    /* replay */
    char replay_path[512];
    double replay_speed;        /* 1 = recorded timing */
    /* sinks */
    char record_path[512];      /* "" = no recording */
    char listen[128];           /* "" = config / 127.0.0.1:18944 */
    bool no_serve;              /* no OpenIGTLink server */
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
    atomic_bool operator_freezing; /* freeze state told by the operator (no simulator) */
    /* console state as the analysis thread last saw it (session.c, console stage) */
    cn_phase console_phase;
    int console_cycle;
    double console_phase_start_s;
    bool console_started;
    int64_t surfaces_sent_ns;   /* when isotherm surfaces last went to the server */
    /* A target point handed over by the main thread (a proctor's POINT, in the
     * Reference frame), applied by the analysis thread to the next frame. */
    pthread_mutex_t target_mu;
    bool target_pending;
    bool target_in_image;       /* target_ref_mm holds image mm (x, y) instead */
    double target_ref_mm[3];
    /* Handles owned by the product areas (see their blocks in session.c). */
    void *segment, *thermal, *guidance, *igtl_server, *recorder, *usb, *replay, *igtl_source;
} cn_session;

/* Loads the config, opens the source, builds the pipeline with every analysis
 * stage and sink. On failure fills err (one line naming the input and problem),
 * releases what it made and returns a negative code. */
int cn_session_open(cn_session *s, const cn_run_opts *o, char *err, size_t err_len);
int cn_session_start(cn_session *s);
/* Stops the pipeline and frees everything; safe on a failed open. */
void cn_session_close(cn_session *s);
/* The operator's target (the nerve to follow) as a point in the Reference frame
 * (mm), e.g. a proctor's POINT; any thread. The analysis maps it into the image of
 * the next frame with that frame's poses and seeds the nerve tracker there. */
void cn_session_set_target_ref(cn_session *s, const double p_ref_mm[3]);
/* The same with a point of the image itself (image mm), e.g. a click in the viewer. */
void cn_session_set_target_image(cn_session *s, cn_pt2 image_mm);

/* The session's own stages (session_stages.c): the console state and the
 * operator's target before the analysis, the isotherm surfaces after it. */
int cn_session_console_stage(void *self, cn_frame *f);
int cn_session_surfaces_stage(void *self, cn_frame *f);

/* What `run` and `replay` ask of the navigator's main loop (navigate.c). */
typedef struct {
    cn_run_opts run;
    bool headless;              /* render offscreen only */
    bool no_fallback;           /* fail when no display instead of going headless */
    bool show_truth;            /* draw simulator ground truth */
    bool no_overlays;           /* start with the analysis overlays hidden */
    char snapshot_dir[512];     /* "" = none: nothing is written unless asked */
    long snapshot_every;        /* frames between snapshots */
    /* issue 16: window size (0 = the config's "viewer" object, else 1280 x 800) and
     * where log lines go ("" = stderr; the level is run.log_level) */
    int window_w, window_h;
    char log_path[512];
} cn_nav_opts;

/* Opens the session, runs the viewer loop until the source ends, the frame limit
 * is reached, the window is closed or SIGINT/SIGTERM arrives; prints a summary.
 * Returns the process exit code. */
int cn_app_navigate(const char *cmd, const cn_nav_opts *o);

#endif
