/*
 * procedure.c - the procedure state from events: what is happening at the table.
 *
 * The idea: the cryo console, not CryoNav, starts and stops the gas, so CryoNav
 * must be told. Whoever knows says so (the operator's key, a proctor, the cryo
 * console over OpenIGTLink, the simulator's scripted console) and every one of
 * them feeds the same small state machine:
 *
 *   IDLE --inserted--> APPROACH --freeze_start--> FREEZE --freeze_stop--> THAW
 *     ^                  ^  |                       ^  |                  | |
 *     |                  |  +-------reposition------+--+---thaw_stop------+ |
 *   (never back)     WITHDRAWN <-----------------withdrawn------------------+
 *
 * Inputs are queued from any thread and applied on the analysis thread at the
 * start of the next frame, so the state changes exactly on a frame and its event
 * rides with that frame (recorded once, where it happened). An input that does
 * not fit the state is refused with a log line, never guessed at: a stop without
 * a start, a freeze with the needle out, a reposition of a probe frozen into the
 * tissue. The simulator's truth phase is used as a console: only its edges are
 * inputs, so an operator's extra freeze and the script can interleave.
 *
 * What an input does to the state: procedure_apply.c. What other threads post, and the
 * history a recording carries: procedure_inputs.c. What the freeze key means, read against
 * the image (a step dated back): procedure_key.c.
 *
 * The plan (the freeze protocol) is only a plan: it gives the timer its target
 * (phase_planned_s), the reminders, and the plan-vs-actual summary. The thermal
 * model runs on what happened, which it reads from the frame.
 */
#include "procedure_priv.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

cn_procedure *cn_procedure_new(const cn_plan *plan, cn_log *log)
{
    cn_procedure *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->log = log;
    pthread_mutex_init(&p->qmu, NULL);
    pthread_mutex_init(&p->smu, NULL);
    p->phase = CN_PHASE_IDLE;
    p->last_input_ns = INT64_MIN;
    p->dated_ns = INT64_MIN;
    p->last_acq_ns = INT64_MAX; /* no frame yet */
    p->sum.inserted_s = p->sum.withdrawn_s = NAN;
    if (plan) {
        p->sum.plan = *plan;
        if (p->sum.plan.n_steps < 0)
            p->sum.plan.n_steps = 0;
        if (p->sum.plan.n_steps > CN_PLAN_STEPS_MAX)
            p->sum.plan.n_steps = CN_PLAN_STEPS_MAX;
        p->sum.plan.name[sizeof p->sum.plan.name - 1] = 0;
    }
    return p;
}

void cn_procedure_rewind(cn_procedure *p)
{
    if (!p)
        return;
    p->phase = CN_PHASE_IDLE;
    p->cycle = 0;
    p->active = false;
    p->phase_start_ns = p->freeze_start_ns = 0;
    p->have_time = false;
    p->started = false;
    p->truth_seen = false;
    p->truth_phase = CN_PHASE_IDLE;
    p->reminded_stop = p->reminded_start = p->reminded_repos = false;
    cn__proc_set_reminder(p, NULL);
    p->last_input_ns = INT64_MIN;
    p->dated_ns = INT64_MIN;
    p->last_acq_ns = INT64_MAX; /* no frame yet */
    p->stop_pending = false;
    p->n_overflow = 0;
    pthread_mutex_lock(&p->smu);
    p->n_hist = 0;
    p->sum_started = false;
    const cn_plan plan = p->sum.plan;
    memset(&p->sum, 0, sizeof p->sum);
    p->sum.plan = plan;
    p->sum.inserted_s = p->sum.withdrawn_s = NAN;
    pthread_mutex_unlock(&p->smu);
}

void cn_procedure_free(cn_procedure *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->qmu);
    pthread_mutex_destroy(&p->smu);
    free(p);
}

int cn_procedure_set_plan_from_event(cn_procedure *p, const char *text, char *err, size_t err_len)
{
    cn_plan pl;
    bool has_extra = false;
    int prc = cn_plan_from_event(text, &pl, &has_extra, err, err_len);
    if (prc != CN_OK)
        return prc;
    /* A recording made before the event carried the extra freeze keeps the configured
     * one only when it names the configured protocol (procedure_text.c says why). */
    pthread_mutex_lock(&p->smu);
    int rc = CN_OK;
    if (p->started) {
        snprintf(err, err_len, "the plan is fixed once the first frame is analysed");
        rc = CN_EINVAL;
    } else {
        if (!has_extra && strcmp(pl.name, p->sum.plan.name) == 0)
            pl.extra_freeze_s = p->sum.plan.extra_freeze_s;
        p->sum.plan = pl;
    }
    pthread_mutex_unlock(&p->smu);
    return rc;
}

void cn_procedure_attach_guidance(cn_procedure *p, cn_guidance *g)
{
    if (p)
        p->guidance = g;
}

/* ---------------------------------------------------------------- the stage */

/* The planned duration of the n-th (1-based) step of kind (freeze / any thaw). */
static double planned(const cn_plan *pl, bool freeze, int n, int *after)
{
    int k = 0;
    for (int i = 0; i < pl->n_steps; i++) {
        bool f = pl->steps[i].kind == 0;
        if (f != freeze)
            continue;
        if (++k == n) {
            if (after)
                *after = i;
            return pl->steps[i].duration_s;
        }
    }
    return NAN;
}


/* The simulator's console: an edge of its truth phase is an input. */
static void truth_edges(cn_procedure *p, cn_frame *f)
{
    if (!f->truth.valid || f->truth.console_silent) /* a console without a link */
        return;
    cn_phase to = f->truth.phase, from = p->truth_seen ? p->truth_phase : CN_PHASE_IDLE;
    const bool first = !p->truth_seen;
    p->truth_seen = true;
    p->truth_phase = to;
    /* the first truth seen is the state the procedure is in already: a replay of a
     * recording started mid-freeze took the freeze from the recorded history
     * (cn_procedure_post_history); as an edge it was a second freeze_start */
    if (to == from || (first && to == p->phase))
        return;
    const cn_event_source S = CN_EVSRC_SIMULATOR;
    switch (to) {
    case CN_PHASE_APPROACH:
        if (from == CN_PHASE_FREEZE || from == CN_PHASE_THAW)
            cn__proc_apply(p, f, S, CN_PROC_REPOSITION, false);
        else
            cn__proc_apply(p, f, S, CN_PROC_NEEDLE_INSERTED, false);
        break;
    case CN_PHASE_FREEZE:
        if (from == CN_PHASE_IDLE) /* a scenario starting mid-way */
            cn__proc_apply(p, f, S, CN_PROC_NEEDLE_INSERTED, false);
        cn__proc_apply(p, f, S, CN_PROC_FREEZE_START, false);
        break;
    case CN_PHASE_THAW:
        /* the simulated console stops the gas: a passive thaw */
        cn__proc_apply(p, f, S, from == CN_PHASE_FREEZE ? CN_PROC_FREEZE_STOP : CN_PROC_THAW_START,
                       false);
        break;
    case CN_PHASE_WITHDRAWN: cn__proc_apply(p, f, S, CN_PROC_NEEDLE_WITHDRAWN, false); break;
    case CN_PHASE_IDLE: break; /* a looping scenario restarts: the state stays */
    }
}

static void plan_reminders(cn_procedure *p, cn_frame *f, double elapsed, double *planned_s)
{
    const cn_plan *pl = &p->sum.plan;
    *planned_s = NAN;
    if (pl->n_steps == 0)
        return;
    if (p->phase == CN_PHASE_FREEZE) {
        double d = planned(pl, true, p->cycle, NULL);
        *planned_s = d;
        if (isfinite(d) && elapsed >= d && !p->reminded_stop) {
            cn__proc_emit(p, f, CN_EVSRC_PLAN, "reminder what=stop_freeze cycle=%d planned_s=%.0f",
                          p->cycle, d);
            p->reminded_stop = true;
        }
    } else if (p->phase == CN_PHASE_THAW) {
        int at = -1;
        if (isfinite(planned(pl, true, p->cycle, &at)) && at + 1 < pl->n_steps &&
            pl->steps[at + 1].kind != 0) {
            double d = pl->steps[at + 1].duration_s;
            *planned_s = d;
            bool next_freeze = at + 2 < pl->n_steps && pl->steps[at + 2].kind == 0;
            if (next_freeze && elapsed >= d && !p->reminded_start) {
                cn__proc_emit(p, f, CN_EVSRC_PLAN,
                              "reminder what=start_freeze cycle=%d planned_thaw_s=%.0f",
                              p->cycle + 1, d);
                p->reminded_start = true;
            }
        }
    }
}

int cn_procedure_process(cn_procedure *p, cn_frame *f)
{
    if (!p || !f)
        return CN_EINVAL;
    if (f->t_scene_ns == CN_SCENE_TIME_UNSET)
        f->t_scene_ns = f->t_acq_ns;
    /* what did not fit the last frame first: it happened before this one */
    int put = 0;
    while (put < p->n_overflow &&
           cn_analysis_add_event(&f->analysis, p->overflow[put].source, p->overflow[put].t_scene_ns,
                                 "%s", p->overflow[put].text) == CN_OK)
        put++;
    memmove(p->overflow, p->overflow + put, sizeof p->overflow[0] * (size_t)(p->n_overflow - put));
    p->n_overflow -= put;
    if (!p->started) {
        p->started = true;
        pthread_mutex_lock(&p->smu);
        p->sum_started = true;
        pthread_mutex_unlock(&p->smu);
        p->phase_start_ns = p->t0_ns = f->t_scene_ns;
        const cn_plan *pl = &p->sum.plan;
        if (pl->n_steps > 0) {
            char ev[CN_EVENT_TEXT_MAX];
            if (cn_plan_event_text(pl, ev, sizeof ev) == CN_OK)
                cn__proc_emit(p, f, CN_EVSRC_PLAN, "%s", ev);
            else /* (before: recorded cut short, which a replay could not read either) */
                cn_log_warn(p->log, MOD, "plan %.40s: %d steps are too long for one event: the "
                            "recording does not carry the plan (a replay uses its configured one)",
                            pl->name, pl->n_steps);
        }
    }
    /* the console's stop of a freeze taken back on the last frame (see FREEZE_STOP) */
    if (p->stop_pending) {
        p->stop_pending = false;
        const int64_t t_frame = f->t_scene_ns;
        f->t_scene_ns = p->stop_ns < t_frame ? p->stop_ns : t_frame;
        if (p->phase == CN_PHASE_FREEZE)
            cn__proc_apply(p, f, p->stop_src, CN_PROC_FREEZE_STOP, false);
        p->dated_ns = f->t_scene_ns;
        p->last_input_ns = f->t_scene_ns;
        f->t_scene_ns = t_frame;
    }
    /* keys scripted for this scene time join the queue as the operator's */
    for (;;) {
        pthread_mutex_lock(&p->qmu);
        int key = 0;
        /* a key's time counts from the session's first frame (t0_ns) */
        if (p->n_sched > 0 && p->sched[0].t_ns <= f->t_scene_ns - p->t0_ns) {
            key = p->sched[0].key;
            memmove(p->sched, p->sched + 1, sizeof p->sched[0] * (size_t)(p->n_sched - 1));
            p->n_sched--;
        }
        pthread_mutex_unlock(&p->qmu);
        if (!key)
            break;
        cn_log_info(p->log, MOD, "scripted key %c at %.1f s", key,
                    (double)(f->t_scene_ns - p->t0_ns) * 1e-9);
        cn_procedure_key(p, key);
    }
    /* inputs queued since the last frame, in order, then the simulator's edge */
    for (;;) {
        pthread_mutex_lock(&p->qmu);
        bool have = p->q_n > 0;
        cmd c = {0};
        if (have) {
            c = p->q[p->q_head];
            p->q_head = (p->q_head + 1) % QUEUE_MAX;
            p->q_n--;
        }
        pthread_mutex_unlock(&p->qmu);
        if (!have)
            break;
        /* A timed input (a recording's history) happened before this frame: it is
         * applied at its own time, never before the last one applied, so the phase,
         * its start, the cycle count and the events (carried with "@t") are the
         * session's. */
        const int64_t t_frame = f->t_scene_ns;
        /* A live source's scene clock is the monotonic clock: an input given while no
         * frame came (a probe unplugged for seconds) happened when it was given, not
         * when the next frame arrived (a freeze stopped at 8.2 s was recorded at
         * 14.2 s, 12 s long instead of 6: live audit M1). */
        if (c.t_ns == CN_SCENE_TIME_UNSET && f->t_scene_ns == f->t_acq_ns &&
            c.posted_ns > p->last_acq_ns && c.posted_ns < f->t_acq_ns - 250000000LL)
            c.t_ns = c.posted_ns;
        int64_t t = c.t_ns == CN_SCENE_TIME_UNSET || c.t_ns > t_frame ? t_frame : c.t_ns;
        if (p->last_input_ns != INT64_MIN && t < p->last_input_ns)
            t = p->last_input_ns < t_frame ? p->last_input_ns : t_frame;
        f->t_scene_ns = t;
        p->dated_ns = INT64_MIN;
        cn__proc_apply(p, f, c.source, c.in, c.active);
        f->t_scene_ns = t_frame;
        /* a step the image dated back happened then, not at its key: a later step may be
         * dated back to after it (a replay, which posts the step at its date, does so) */
        p->last_input_ns = p->dated_ns != INT64_MIN && p->dated_ns < t ? p->dated_ns : t;
    }
    truth_edges(p, f);
    p->last_acq_ns = f->t_acq_ns;

    cn_guidance_state *g = &f->analysis.guidance;
    double el = (double)(f->t_scene_ns - p->phase_start_ns) * 1e-9;
    if (el < 0)
        el = 0;
    g->phase = p->phase;
    g->cycle = p->cycle;
    g->phase_elapsed_s = el;
    g->freeze_s = p->phase == CN_PHASE_FREEZE ? el
                  : p->phase == CN_PHASE_THAW && p->cycle > 0
                      ? (double)(p->phase_start_ns - p->freeze_start_ns) * 1e-9
                      : 0;
    g->active_thaw = p->phase == CN_PHASE_THAW && p->active;
    /* the whole procedure's clock for the screen (only the phase's was shown: review 39b
     * F10); this thread is the summary's only writer */
    const double ins = p->sum.inserted_s, out = p->sum.withdrawn_s;
    g->procedure_s = isnan(ins) ? NAN : (isnan(out) ? cn__proc_now_s(f) : out) - ins;
    g->coverage = -1; /* unknown until the thermal model and guidance say otherwise */
    plan_reminders(p, f, el, &g->phase_planned_s);
    return CN_OK;
}

static int stage_process(void *self, cn_frame *f) { return cn_procedure_process(self, f); }

void cn_procedure_stage(cn_procedure *p, cn_stage *out)
{
    out->name = "procedure";
    out->self = p;
    out->process = stage_process;
}

void cn_procedure_get_summary(cn_procedure *p, cn_procedure_summary *out)
{
    if (!out)
        return;
    if (!p) {
        memset(out, 0, sizeof *out);
        out->inserted_s = out->withdrawn_s = NAN;
        return;
    }
    pthread_mutex_lock(&p->smu);
    *out = p->sum;
    pthread_mutex_unlock(&p->smu);
}
