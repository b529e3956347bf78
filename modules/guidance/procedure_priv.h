/*
 * procedure_priv.h - the procedure's state, shared by procedure.c (the stage, on the
 * analysis thread), procedure_apply.c (the state machine), procedure_key.c (what the
 * freeze key means) and procedure_inputs.c (what other threads post, the history a
 * recording carries). Private to the guidance module.
 */
#ifndef CN_PROCEDURE_PRIV_H
#define CN_PROCEDURE_PRIV_H

#include "guidance/guidance.h"

#include <pthread.h>

#define MOD "procedure"
#define QUEUE_MAX 64
#define HISTORY_MAX 96
#define OVERFLOW_MAX 32

typedef struct {
    cn_event_source source;
    cn_proc_input in;
    bool active;
    int64_t t_ns;             /* when it happened; CN_SCENE_TIME_UNSET: on the frame applied */
    int64_t posted_ns;        /* monotonic clock when it was posted */
} cmd;

struct cn_procedure {
    cn_log *log;
    cn_guidance *guidance;
    /* queue, any thread */
    pthread_mutex_t qmu;
    cmd q[QUEUE_MAX];
    int q_head, q_n;
    /* while held (cn_procedure_hold_inputs): what other threads post waits here */
    bool holding;
    pthread_t hold_thread;
    cmd held[QUEUE_MAX];
    int held_n;
    /* keys scripted at scene times (cn_procedure_schedule_key), oldest first */
    struct {
        int key;
        int64_t t_ns;
    } sched[32];
    int n_sched;
    /* state, analysis thread */
    cn_phase phase;
    int cycle;
    bool active;
    int64_t phase_start_ns;
    int64_t freeze_start_ns;  /* scene time the current cycle's freeze began (a resume's
                                 timer counts from it) */
    bool have_time;
    bool started;             /* the plan event was written */
    int64_t t0_ns;            /* scene time of the first frame: the log counts from it (a
                                 live probe's scene clock is the monotonic clock, which
                                 logged "needle_inserted at 4101.2 s") */
    bool truth_seen;
    cn_phase truth_phase;
    bool reminded_stop, reminded_start, reminded_repos;
    int64_t last_input_ns;    /* scene time of the last input applied (timed ones keep order) */
    int64_t dated_ns;         /* the input being applied was dated back to this scene time by
                                 what the image showed (INT64_MIN: not) */
    int64_t last_acq_ns;      /* the previous frame's acquisition time */
    /* the console stopped a freeze the operator had stopped early: the freeze went on
     * (resumed on that frame) and stops at the console's time on the next frame, so the
     * thermal model freezes on, then thaws (CN_EVSRC_SYSTEM: none pending) */
    bool inferring;           /* the needle_inserted being applied is a freeze's inference */
    cn_event_source stop_src;
    int64_t stop_ns;
    bool stop_pending;
    /* events that did not fit their frame (8 a frame): on the next one, own time kept */
    cn_event overflow[OVERFLOW_MAX];
    int n_overflow;
    /* summary, guarded */
    pthread_mutex_t smu;
    cn_procedure_summary sum;
    /* every step event written so far, oldest first (guarded by smu): a recording
     * started mid-session carries it (cn_procedure_history) */
    cn_event hist[HISTORY_MAX];
    int n_hist;
    bool sum_started;         /* started, for other threads */
    char last_refusal[192];   /* the last input refused, and when (monotonic): the HUD */
    int64_t last_refusal_ns;
    char reminder[160];       /* the plan's reposition reminder while it stands: the
                                 status line ("" none) */
};

/* Sets (text) or clears (NULL) the standing reminder (procedure_inputs.c). */
void cn__proc_set_reminder(cn_procedure *p, const char *text);

/* Applies one input to the state machine on frame f (procedure.c). */
/* The frame's scene time in seconds: the clock every step and summary time is on. */
static inline double cn__proc_now_s(const cn_frame *f) { return (double)f->t_scene_ns * 1e-9; }
/* Puts an event on the frame (and the step history, the log): procedure_apply.c. */
void cn__proc_emit(cn_procedure *p, cn_frame *f, cn_event_source src, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cn__proc_apply(cn_procedure *p, cn_frame *f, cn_event_source src, cn_proc_input in,
                    bool active);
/* A resume would be taken: a passive thaw straight after its freeze (procedure_key.c). */
bool cn__proc_resumable(cn_procedure *p, cn_phase ph);
/* The freeze key, read against what the image shows (procedure_key.c). */
void cn__proc_freeze_toggle(cn_procedure *p, cn_frame *f, cn_event_source src);

/* "freeze_start", "needle_withdrawn", ... for the log. */
const char *cn__proc_input_name(cn_proc_input in);

#endif
