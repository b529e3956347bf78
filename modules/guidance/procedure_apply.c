/*
 * procedure_apply.c - the procedure's state machine: one input (a key, a proctor's, the
 * console's, the simulator's truth edge) applied to the state on a frame, with its event,
 * its step in the summary, or its refusal and why. procedure.c queues the inputs and runs
 * them at the start of each frame; this file is what an input does.
 */
#include "procedure_priv.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cn__proc_emit(cn_procedure *p, cn_frame *f, cn_event_source src, const char *fmt, ...)
{
    char text[CN_EVENT_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (cn_analysis_add_event(&f->analysis, src, f->t_scene_ns, "%s", text) != CN_OK) {
        /* a frame holds 8: the rest rides on the next frame with its own time
         * (a replay's history puts several steps on its first frame) */
        if (p->n_overflow < OVERFLOW_MAX) {
            cn_event *e = &p->overflow[p->n_overflow++];
            e->source = src;
            e->t_scene_ns = f->t_scene_ns;
            cn_strlcpy(e->text, text, sizeof e->text);
        } else {
            cn_log_error(p->log, MOD, "event '%s' lost: %d events already on frame %llu and %d "
                         "wait", text, CN_EVENTS_MAX, (unsigned long long)f->seq, OVERFLOW_MAX);
        }
    }
    if (src != CN_EVSRC_PLAN) { /* a step (the plan's events are the plan and reminders) */
        pthread_mutex_lock(&p->smu);
        if (p->n_hist == HISTORY_MAX) { /* keep the newest */
            memmove(p->hist, p->hist + 1, sizeof p->hist[0] * (HISTORY_MAX - 1));
            p->n_hist--;
        }
        cn_event *h = &p->hist[p->n_hist++];
        h->source = src;
        h->t_scene_ns = f->t_scene_ns;
        cn_strlcpy(h->text, text, sizeof h->text);
        pthread_mutex_unlock(&p->smu);
    }
    cn_log_info(p->log, MOD, "%s (%s) at %.1f s", text, cn_event_source_name(src),
                (double)(f->t_scene_ns - p->t0_ns) * 1e-9);
}

static void set_phase(cn_procedure *p, const cn_frame *f, cn_phase ph)
{
    p->phase = ph;
    p->phase_start_ns = f->t_scene_ns;
    p->reminded_stop = p->reminded_start = false;
    if (ph == CN_PHASE_FREEZE || ph == CN_PHASE_WITHDRAWN) /* answered (a reposition too) */
        cn__proc_set_reminder(p, NULL);
}

/* Opens a step of the summary (the previous one is closed). */
static void step_open(cn_procedure *p, const cn_frame *f, int kind, cn_event_source src)
{
    pthread_mutex_lock(&p->smu);
    cn_procedure_summary *s = &p->sum;
    if (s->n_steps > 0 && isnan(s->steps[s->n_steps - 1].duration_s))
        s->steps[s->n_steps - 1].duration_s = cn__proc_now_s(f) - s->steps[s->n_steps - 1].start_s;
    if (kind >= 0) {
        if (s->n_steps == CN_PROC_STEPS_MAX) { /* keep the newest */
            memmove(s->steps, s->steps + 1, sizeof s->steps[0] * (CN_PROC_STEPS_MAX - 1));
            s->n_steps--;
        }
        s->steps[s->n_steps++] = (cn_proc_step){kind, p->cycle, cn__proc_now_s(f), NAN, src};
    }
    s->phase = p->phase;
    s->cycle = p->cycle;
    s->active_thaw = p->active;
    pthread_mutex_unlock(&p->smu);
}

/* What the status line says of an input for 4 s (cn_procedure_last_refusal). */
static void screen_note(cn_procedure *p, const char *text)
{
    pthread_mutex_lock(&p->smu);
    cn_strlcpy(p->last_refusal, text, sizeof p->last_refusal);
    p->last_refusal_ns = cn_clock_mono_ns();
    pthread_mutex_unlock(&p->smu);
}

static void refuse(cn_procedure *p, cn_event_source src, cn_proc_input in, const char *why)
{
    cn_log_warn(p->log, MOD, "%s from the %s refused: %s (phase %s, cycle %d)",
                cn__proc_input_name(in), cn_event_source_name(src), why, cn_phase_name(p->phase),
                p->cycle);
    pthread_mutex_lock(&p->smu);
    p->sum.refused++;
    pthread_mutex_unlock(&p->smu);
    char said[sizeof p->last_refusal];
    snprintf(said, sizeof said, "%s refused: %s", cn__proc_input_name(in), why);
    screen_note(p, said);
}


static void end_thaw(cn_procedure *p, cn_frame *f, cn_event_source src)
{
    cn__proc_emit(p, f, src, "thaw_end cycle=%d", p->cycle);
    p->active = false;
}

/* Who began the step now running (CN_EVSRC_SYSTEM when none). */
static cn_event_source last_step_source(cn_procedure *p)
{
    pthread_mutex_lock(&p->smu);
    const cn_event_source src =
        p->sum.n_steps > 0 ? p->sum.steps[p->sum.n_steps - 1].source : CN_EVSRC_SYSTEM;
    pthread_mutex_unlock(&p->smu);
    return src;
}


static int planned_freezes(const cn_plan *pl)
{
    int k = 0;
    for (int i = 0; i < pl->n_steps; i++)
        k += pl->steps[i].kind == 0;
    return k;
}

void cn__proc_apply(cn_procedure *p, cn_frame *f, cn_event_source src, cn_proc_input in,
                    bool active)
{
    cn_phase ph = p->phase;
    switch (in) {
    case CN_PROC_FREEZE_TOGGLE:
        cn__proc_freeze_toggle(p, f, src); /* what f means: procedure_key.c */
        return;
    case CN_PROC_FREEZE_RESUME: {
        if (!cn__proc_resumable(p, ph)) {
            refuse(p, src, in, "only a passive thaw straight after its freeze can be taken back");
            return;
        }
        cn__proc_emit(p, f, src, "freeze_resume cycle=%d", p->cycle);
        set_phase(p, f, CN_PHASE_FREEZE);
        p->phase_start_ns = p->freeze_start_ns; /* the timer counts the whole freeze */
        /* f meant "stop" a moment ago and "go on" now: the screen says which (an operator
         * who pressed f at the freeze's planned end got a resumed freeze, nothing said:
         * review 39b F7) */
        if (src == CN_EVSRC_OPERATOR) {
            char said[sizeof p->last_refusal];
            snprintf(said, sizeof said, "f: freeze %d GOES ON (its stop taken back: ice grew "
                     "in the thaw); f again stops it", p->cycle);
            screen_note(p, said);
        }
        pthread_mutex_lock(&p->smu);
        p->sum.n_steps--; /* the thaw that was none */
        p->sum.steps[p->sum.n_steps - 1].duration_s = NAN;
        p->sum.phase = p->phase;
        pthread_mutex_unlock(&p->smu);
        return;
    }
    case CN_PROC_ACTIVE_THAW_TOGGLE:
        cn__proc_apply(p, f, src, CN_PROC_THAW_START, !(ph == CN_PHASE_THAW && p->active));
        return;
    case CN_PROC_NEEDLE_INSERTED:
        if (ph != CN_PHASE_IDLE && ph != CN_PHASE_WITHDRAWN) {
            refuse(p, src, in, "the needle is already in");
            return;
        }
        /* taken from a freeze with no i before it: said, so the procedure time it starts
         * is read as a lower bound (review 39b F9: 321 s for 340 s, nothing said) */
        cn__proc_emit(p, f, src, "needle_inserted%s", p->inferring ? " inferred=freeze" : "");
        set_phase(p, f, CN_PHASE_APPROACH);
        pthread_mutex_lock(&p->smu);
        if (isnan(p->sum.inserted_s))
            p->sum.inserted_s = cn__proc_now_s(f);
        p->sum.withdrawn_s = NAN;
        pthread_mutex_unlock(&p->smu);
        step_open(p, f, -1, src);
        return;
    case CN_PROC_FREEZE_START:
        if (ph == CN_PHASE_WITHDRAWN) {
            refuse(p, src, in, "the needle is out (withdrawn); insert it first");
            return;
        }
        if (ph == CN_PHASE_FREEZE) {
            refuse(p, src, in, "a freeze is already running");
            return;
        }
        if (ph == CN_PHASE_IDLE) { /* a freeze needs a needle in the tissue */
            cn_log_info(p->log, MOD,
                        "freeze started with no needle_inserted before: taken as inserted");
            p->inferring = true;
            cn__proc_apply(p, f, src, CN_PROC_NEEDLE_INSERTED, false);
            p->inferring = false;
        }
        if (p->phase == CN_PHASE_THAW)
            end_thaw(p, f, src);
        p->cycle++;
        p->active = false;
        cn__proc_emit(p, f, src, "freeze_start cycle=%d", p->cycle);
        set_phase(p, f, CN_PHASE_FREEZE);
        p->freeze_start_ns = p->phase_start_ns;
        step_open(p, f, 0, src);
        return;
    case CN_PROC_FREEZE_STOP:
        /* The console knows when the gas stops. Its stop in a passive thaw the operator
         * began (an f pressed early, or by mistake) says the freeze went on to now: the
         * operator's stop is taken back and the freeze ends here, on the next frame, so the
         * model freezes on to now first. Before, the console's stop was refused, the zone
         * thawed from the operator's stop while the ice grew for 42 s, and the record held
         * a 78 s freeze for the 120 s that ran (review 39b F2). */
        if (ph == CN_PHASE_THAW && (src == CN_EVSRC_CONSOLE || src == CN_EVSRC_SIMULATOR) &&
            last_step_source(p) == CN_EVSRC_OPERATOR && cn__proc_resumable(p, ph)) {
            cn_log_warn(p->log, MOD, "the console stops freeze %d at %.1f s: the operator's "
                        "stop %.0f s before was early, the freeze went on to the console's stop",
                        p->cycle, (double)(f->t_scene_ns - p->t0_ns) * 1e-9,
                        (double)(f->t_scene_ns - p->phase_start_ns) * 1e-9);
            cn__proc_apply(p, f, src, CN_PROC_FREEZE_RESUME, false);
            p->stop_pending = true;
            p->stop_src = src;
            p->stop_ns = f->t_scene_ns;
            return;
        }
        if (ph != CN_PHASE_FREEZE) {
            refuse(p, src, in, "no freeze is running");
            return;
        }
        cn__proc_apply(p, f, src, CN_PROC_THAW_START, false);
        return;
    case CN_PROC_THAW_START:
        if (ph == CN_PHASE_IDLE || ph == CN_PHASE_WITHDRAWN || p->cycle == 0) {
            refuse(p, src, in, "nothing to thaw (no freeze on a needle that is in)");
            return;
        }
        if (ph == CN_PHASE_THAW && p->active == active) {
            refuse(p, src, in,
                   active ? "the active thaw is already on" : "the thaw is already passive");
            return;
        }
        if (ph == CN_PHASE_FREEZE)
            cn__proc_emit(p, f, src, "freeze_end cycle=%d", p->cycle);
        else if (ph == CN_PHASE_THAW)
            end_thaw(p, f, src);
        p->active = active;
        cn__proc_emit(p, f, src, "thaw_start cycle=%d mode=%s", p->cycle,
                      active ? "active" : "passive");
        {
            bool was_freeze = ph == CN_PHASE_FREEZE;
            set_phase(p, f, CN_PHASE_THAW);
            step_open(p, f, active ? 2 : 1, src);
            /* the last planned freeze is over and the target is not covered:
             * remind of the reposition + extra freeze (Cazzato's protocol) */
            const cn_plan *pl = &p->sum.plan;
            if (was_freeze && !p->reminded_repos && pl->n_steps > 0 && pl->extra_freeze_s > 0 &&
                p->cycle >= planned_freezes(pl) && p->guidance) {
                cn_guidance_summary gs;
                cn_guidance_get_summary(p->guidance, &gs);
                if (gs.last_coverage >= 0 && gs.last_coverage < 0.99) {
                    cn__proc_emit(p, f, CN_EVSRC_PLAN,
                                  "reminder what=reposition coverage=%.2f extra_freeze_s=%.0f",
                                  gs.last_coverage, pl->extra_freeze_s);
                    p->reminded_repos = true;
                    char r[160]; /* on the screen too, while it stands (review 41b) */
                    snprintf(r, sizeof r, "PLAN: freeze %d ended at coverage %.0f %%: reposition "
                             "+ %.0f s freeze", p->cycle, 100 * gs.last_coverage,
                             pl->extra_freeze_s);
                    cn__proc_set_reminder(p, r);
                }
            }
        }
        return;
    case CN_PROC_THAW_STOP:
        if (ph != CN_PHASE_THAW) {
            refuse(p, src, in, "no thaw is running");
            return;
        }
        end_thaw(p, f, src);
        set_phase(p, f, CN_PHASE_APPROACH);
        step_open(p, f, -1, src);
        return;
    case CN_PROC_REPOSITION:
        if (ph == CN_PHASE_FREEZE) {
            refuse(p, src, in,
                   "the probe is frozen into the tissue; stop the freeze and thaw first");
            return;
        }
        if (ph == CN_PHASE_IDLE || ph == CN_PHASE_WITHDRAWN) {
            refuse(p, src, in, "the needle is not in");
            return;
        }
        if (ph == CN_PHASE_THAW)
            end_thaw(p, f, src);
        cn__proc_emit(p, f, src, "reposition");
        set_phase(p, f, CN_PHASE_APPROACH);
        pthread_mutex_lock(&p->smu);
        p->sum.repositions++;
        pthread_mutex_unlock(&p->smu);
        p->reminded_repos = false;
        cn__proc_set_reminder(p, NULL);
        step_open(p, f, -1, src);
        return;
    case CN_PROC_NEEDLE_WITHDRAWN:
        if (ph == CN_PHASE_IDLE || ph == CN_PHASE_WITHDRAWN) {
            refuse(p, src, in, "the needle is not in");
            return;
        }
        if (ph == CN_PHASE_FREEZE) {
            cn_log_warn(p->log, MOD,
                        "needle withdrawn during freeze %d: the freeze is taken as ended",
                        p->cycle);
            cn__proc_emit(p, f, src, "freeze_end cycle=%d", p->cycle);
        } else if (ph == CN_PHASE_THAW) {
            end_thaw(p, f, src);
        }
        p->active = false;
        cn__proc_emit(p, f, src, "needle_withdrawn");
        set_phase(p, f, CN_PHASE_WITHDRAWN);
        pthread_mutex_lock(&p->smu);
        p->sum.withdrawn_s = cn__proc_now_s(f);
        pthread_mutex_unlock(&p->smu);
        step_open(p, f, -1, src);
        return;
    }
}
