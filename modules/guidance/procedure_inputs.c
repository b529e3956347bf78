/*
 * procedure_inputs.c - what reaches the procedure from other threads and from a
 * recording: inputs queued (keys, a console, a proctor, scripted keys), held
 * during a replay's catch-up, timed when they happened earlier than the frame
 * they are applied on, the step history a recording started mid-session begins
 * with and that its replay gives back, and the last refusal for the screen. The
 * state machine that applies them is procedure.c.
 */
#include "procedure_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cn__proc_input_name(cn_proc_input in)
{
    switch (in) {
    case CN_PROC_NEEDLE_INSERTED: return "needle_inserted";
    case CN_PROC_FREEZE_START: return "freeze_start";
    case CN_PROC_FREEZE_STOP: return "freeze_stop";
    case CN_PROC_THAW_START: return "thaw_start";
    case CN_PROC_THAW_STOP: return "thaw_stop";
    case CN_PROC_REPOSITION: return "reposition";
    case CN_PROC_NEEDLE_WITHDRAWN: return "needle_withdrawn";
    case CN_PROC_FREEZE_TOGGLE: return "freeze toggle";
    case CN_PROC_ACTIVE_THAW_TOGGLE: return "active thaw toggle";
    case CN_PROC_FREEZE_RESUME: return "freeze_resume";
    }
    return "?";
}

int cn_procedure_post(cn_procedure *p, cn_event_source source, cn_proc_input in, bool active)
{
    return cn_procedure_post_at(p, source, in, active, CN_SCENE_TIME_UNSET);
}

int cn_procedure_post_at(cn_procedure *p, cn_event_source source, cn_proc_input in, bool active,
                         int64_t t_scene_ns)
{
    if (!p || in < CN_PROC_NEEDLE_INSERTED || in > CN_PROC_FREEZE_RESUME)
        return CN_EINVAL;
    pthread_mutex_lock(&p->qmu);
    bool full;
    if (p->holding && !pthread_equal(pthread_self(), p->hold_thread)) {
        full = p->held_n >= QUEUE_MAX;
        if (!full)
            p->held[p->held_n++] = (cmd){source, in, active, t_scene_ns, cn_clock_mono_ns()};
    } else {
        full = p->q_n >= QUEUE_MAX;
        if (!full) {
            p->q[(p->q_head + p->q_n) % QUEUE_MAX] =
                (cmd){source, in, active, t_scene_ns, cn_clock_mono_ns()};
            p->q_n++;
        }
    }
    pthread_mutex_unlock(&p->qmu);
    if (full) {
        cn_log_error(p->log, MOD, "%s from the %s lost: %d inputs already wait for the analysis",
                     cn__proc_input_name(in), cn_event_source_name(source), QUEUE_MAX);
        return CN_ENOMEM;
    }
    return CN_OK;
}

void cn_procedure_hold_inputs(cn_procedure *p, bool hold)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->qmu);
    if (hold && !p->holding) {
        /* what waits now was posted before the hold: it waits on with the rest */
        while (p->q_n > 0 && p->held_n < QUEUE_MAX) {
            p->held[p->held_n++] = p->q[p->q_head];
            p->q_head = (p->q_head + 1) % QUEUE_MAX;
            p->q_n--;
        }
        p->holding = true;
        p->hold_thread = pthread_self();
    } else if (!hold && p->holding) {
        for (int i = 0; i < p->held_n && p->q_n < QUEUE_MAX; i++) {
            p->q[(p->q_head + p->q_n) % QUEUE_MAX] = p->held[i];
            p->q_n++;
        }
        p->held_n = 0;
        p->holding = false;
    }
    pthread_mutex_unlock(&p->qmu);
}

bool cn_procedure_key(cn_procedure *p, int key)
{
    cn_proc_input in;
    switch (key) {
    case 'f': in = CN_PROC_FREEZE_TOGGLE; break;
    case 'a': in = CN_PROC_ACTIVE_THAW_TOGGLE; break;
    case 'i': in = CN_PROC_NEEDLE_INSERTED; break;
    case 'p': in = CN_PROC_REPOSITION; break;
    case 'w': in = CN_PROC_NEEDLE_WITHDRAWN; break;
    default: return false;
    }
    cn_procedure_post(p, CN_EVSRC_OPERATOR, in, false);
    return true;
}

int cn_procedure_unfired_keys(cn_procedure *p, char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->qmu);
    int n = p->n_sched;
    size_t at = 0;
    for (int i = 0; i < n && at + 16 < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%c@%g", i ? "," : "", p->sched[i].key,
                               (double)p->sched[i].t_ns * 1e-9);
    pthread_mutex_unlock(&p->qmu);
    return n;
}

int cn_procedure_schedule_key(cn_procedure *p, int key, double t_scene_s)
{
    if (!p || !strchr("faipw", key) || key == 0 || !(t_scene_s >= 0 && t_scene_s < 1e7))
        return CN_EINVAL;
    pthread_mutex_lock(&p->qmu);
    int rc = CN_OK;
    if (p->n_sched == (int)(sizeof p->sched / sizeof p->sched[0])) {
        rc = CN_ENOMEM;
    } else {
        int64_t t = (int64_t)llround(t_scene_s * 1e9);
        int i = p->n_sched++;
        while (i > 0 && p->sched[i - 1].t_ns > t) { /* keep them in time order */
            p->sched[i] = p->sched[i - 1];
            i--;
        }
        p->sched[i].key = key;
        p->sched[i].t_ns = t;
    }
    pthread_mutex_unlock(&p->qmu);
    return rc;
}

int cn_procedure_console_at(cn_procedure *p, cn_event_source source, const char *text,
                            int64_t t_scene_ns, char *err, size_t err_len)
{
    cn_proc_input in;
    bool active = false;
    char e[256];
    int rc = cn_procedure_parse(text, &in, &active, e, sizeof e);
    if (rc != CN_OK) {
        if (p)
            cn_log_warn(p->log, MOD, "%s (from the %s): ignored", e, cn_event_source_name(source));
        cn_strlcpy(err ? err : e, e, err ? err_len : sizeof e);
        return rc;
    }
    return cn_procedure_post_at(p, source, in, active, t_scene_ns);
}

int cn_procedure_console(cn_procedure *p, cn_event_source source, const char *text, char *err,
                         size_t err_len)
{
    return cn_procedure_console_at(p, source, text, CN_SCENE_TIME_UNSET, err, err_len);
}

int cn_procedure_history(cn_procedure *p, cn_event *out, int max, bool *started)
{
    if (started)
        *started = false;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->smu);
    int n = p->n_hist < max ? p->n_hist : max;
    /* the newest when they do not all fit: the state is the end of the history */
    if (n > 0)
        memcpy(out, p->hist + (p->n_hist - n), sizeof out[0] * (size_t)n);
    if (started)
        *started = p->sum_started;
    pthread_mutex_unlock(&p->smu);
    return n;
}

int cn_procedure_post_history(cn_procedure *p, const cn_event *ev, int n)
{
    if (!p)
        return CN_EINVAL;
    int queued = 0;
    for (int i = 0; i < n; i++) {
        cn_phase to;
        /* the steps that move the procedure by themselves (cn_step_leads: a freeze_end
         * or a thaw_end with another step at its time is that step's part) */
        if (!cn_step_leads(ev, n, i, &to))
            continue;
        cn_proc_input in;
        bool active = false;
        switch (cn_step_of(ev[i].text)) {
        case CN_STEP_NEEDLE_INSERTED: in = CN_PROC_NEEDLE_INSERTED; break;
        case CN_STEP_FREEZE_START: in = CN_PROC_FREEZE_START; break;
        case CN_STEP_FREEZE_END: in = CN_PROC_FREEZE_STOP; break;
        case CN_STEP_THAW_START:
            in = CN_PROC_THAW_START;
            active = strstr(ev[i].text, "mode=active") != NULL;
            break;
        case CN_STEP_THAW_END: in = CN_PROC_THAW_STOP; break;
        case CN_STEP_REPOSITION: in = CN_PROC_REPOSITION; break;
        case CN_STEP_NEEDLE_WITHDRAWN: in = CN_PROC_NEEDLE_WITHDRAWN; break;
        case CN_STEP_FREEZE_RESUME: in = CN_PROC_FREEZE_RESUME; break;
        default: continue;
        }
        if (cn_procedure_post_at(p, ev[i].source, in, active, ev[i].t_scene_ns) != CN_OK)
            return CN_ENOMEM;
        queued++;
    }
    return queued;
}

bool cn_procedure_last_refusal(cn_procedure *p, int64_t within_ns, char *buf, size_t len)
{
    if (!p || !buf || len == 0)
        return false;
    pthread_mutex_lock(&p->smu);
    bool recent = p->last_refusal[0] && cn_clock_mono_ns() - p->last_refusal_ns <= within_ns;
    if (recent)
        cn_strlcpy(buf, p->last_refusal, len);
    pthread_mutex_unlock(&p->smu);
    return recent;
}

void cn__proc_set_reminder(cn_procedure *p, const char *text)
{
    pthread_mutex_lock(&p->smu);
    cn_strlcpy(p->reminder, text ? text : "", sizeof p->reminder);
    pthread_mutex_unlock(&p->smu);
}

bool cn_procedure_reminder(cn_procedure *p, char *buf, size_t len)
{
    if (!p || !buf || len == 0)
        return false;
    pthread_mutex_lock(&p->smu);
    bool on = p->reminder[0] != 0;
    if (on)
        cn_strlcpy(buf, p->reminder, len);
    pthread_mutex_unlock(&p->smu);
    return on;
}
