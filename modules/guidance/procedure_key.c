/*
 * procedure_key.c - what the freeze key (f) means, read against what the image shows.
 *
 * The idea: f is one key for "the gas is on" and "the gas is off", and the operator presses
 * it when they notice, not when the console acted. The ice in the image says more: it grew
 * before the key (the freeze began when it was first seen), it shrinks already (the freeze
 * ended when it was largest), or it grows in a thaw (the gas never stopped: the thaw is taken
 * back). So f is read here against the alarms guidance raised on the last frame, and the
 * step it becomes is dated to when the image says it happened; procedure.c's state machine
 * then applies it as any other input. Apart from procedure.c because it is the one place
 * where an input is interpreted rather than applied.
 */
#include "procedure_priv.h"

#include <pthread.h>

/* A passive thaw whose last frame said ICE GROWING IN THAW (the image shows the ice
 * growing past the model: the gas is still on). The operator's f there means the
 * freeze never stopped; before, it started a second freeze, and the model, which had
 * thawed since the stop was keyed, stayed 2.2 mm behind the ice (thermal review F1). */
/* 0: no such alarm; 1: the thaw's ice never shrank (the freeze went on); 2: it shrank and
 * grows again since *since_ns (the console started a freeze nobody keyed). */
static int grows_in_thaw(cn_procedure *p, cn_phase ph, int64_t *since_ns, int64_t *peak_ns)
{
    if (ph != CN_PHASE_THAW || !p->guidance)
        return 0;
    cn_guidance_summary gs;
    cn_guidance_get_summary(p->guidance, &gs);
    if (!(gs.last_alarms & CN_ALARM_ICE_GROWS_IN_THAW))
        return 0;
    *since_ns = gs.ice_regrows_since_ns;
    *peak_ns = gs.ice_regrows_peak_ns > gs.ice_regrows_since_ns ? gs.ice_regrows_peak_ns : 0;
    return gs.ice_regrows_since_ns != 0 ? 2 : 1;
}

/* A resume would be taken: a passive thaw straight after its freeze (no heat in it). Else
 * f under ICE GROWING IN THAW starts a freeze, as before the resume existed (the review:
 * after `a`, `a` it was refused, the model thawing to 0 under growing ice). */
bool cn__proc_resumable(cn_procedure *p, cn_phase ph)
{
    if (ph != CN_PHASE_THAW || p->active)
        return false;
    pthread_mutex_lock(&p->smu);
    const cn_procedure_summary *s = &p->sum;
    const bool ok = s->n_steps >= 2 && s->steps[s->n_steps - 1].kind == 1 &&
                    s->steps[s->n_steps - 1].cycle == p->cycle &&
                    s->steps[s->n_steps - 2].kind == 0 &&
                    s->steps[s->n_steps - 2].cycle == p->cycle;
    pthread_mutex_unlock(&p->smu);
    return ok;
}

/* In a freeze, the last frame said ICE SHRINKING IN FREEZE (the gas stopped, nobody keyed
 * it); peak_ns: when its ice last grew. */
static bool ice_shrinks(cn_procedure *p, int64_t *peak_ns)
{
    if (!p->guidance)
        return false;
    cn_guidance_summary gs;
    cn_guidance_get_summary(p->guidance, &gs);
    *peak_ns = gs.ice_peak_ns;
    return (gs.last_alarms & CN_ALARM_ICE_SHRINKS_IN_FREEZE) != 0 && gs.ice_peak_ns != 0;
}

/* Before a freeze (no freeze, or a thaw's end), the last frame said ICE SEEN: FREEZE NOT
 * KEYED (the image shows ice growing around the resting probe); since_ns: when it was
 * first seen. */
static bool unkeyed_ice(cn_procedure *p, cn_phase ph, int64_t *since_ns, int64_t *peak_ns)
{
    if (ph == CN_PHASE_FREEZE || ph == CN_PHASE_WITHDRAWN || !p->guidance)
        return false;
    cn_guidance_summary gs;
    cn_guidance_get_summary(p->guidance, &gs);
    *since_ns = gs.ice_unkeyed_since_ns;
    *peak_ns = gs.ice_unkeyed_peak_ns > gs.ice_unkeyed_since_ns ? gs.ice_unkeyed_peak_ns : 0;
    return (gs.last_alarms & CN_ALARM_ICE_UNKEYED) != 0 && gs.ice_unkeyed_since_ns != 0;
}

/* f: stop the running freeze (dated back to its ice's peak when the ice shrinks already),
 * take back a thaw whose ice never shrank, or start a freeze (dated back to when its ice was
 * first seen when the image showed it before the key, and ended at its peak when that ice
 * has shrunk since). */
void cn__proc_freeze_toggle(cn_procedure *p, cn_frame *f, cn_event_source src)
{
    const cn_phase ph = p->phase;
    int64_t since_ns = 0;
    if (ph == CN_PHASE_FREEZE && ice_shrinks(p, &since_ns) && since_ns < f->t_scene_ns) {
        /* the freeze ended when its ice last grew, not at the key: the model then
         * thaws from there (the thermal stage goes back to its state then) */
        const int64_t t_frame = f->t_scene_ns;
        int64_t t = since_ns > p->last_input_ns ? since_ns : p->last_input_ns;
        f->t_scene_ns = t > p->freeze_start_ns ? t : p->freeze_start_ns;
        cn_log_info(p->log, MOD, "freeze stop keyed with its ice shrinking since %.1f s: "
                    "the freeze ends there", (double)(f->t_scene_ns - p->t0_ns) * 1e-9);
        cn__proc_apply(p, f, src, CN_PROC_FREEZE_STOP, false);
        p->dated_ns = f->t_scene_ns;
        f->t_scene_ns = t_frame;
        return;
    }
    if (ph == CN_PHASE_FREEZE) {
        cn__proc_apply(p, f, src, CN_PROC_FREEZE_STOP, false);
        return;
    }
    /* ICE GROWING IN THAW: the freeze went on (the thaw's ice never shrank), or the
     * console started a freeze again after a real thaw (the ice shrank, then grew) */
    int64_t peak_ns = 0;
    const int grows = grows_in_thaw(p, ph, &since_ns, &peak_ns);
    if (grows == 1 && cn__proc_resumable(p, ph)) {
        cn__proc_apply(p, f, src, CN_PROC_FREEZE_RESUME, false);
        return;
    }
    if ((grows == 2 || (grows == 0 && unkeyed_ice(p, ph, &since_ns, &peak_ns))) &&
        since_ns < f->t_scene_ns) {
        /* the freeze began when its ice was first seen growing, not at the key: the
         * model then freezes from there, where the ice is (before, from the key:
         * behind it) */
        const int64_t t_frame = f->t_scene_ns;
        f->t_scene_ns = since_ns > p->last_input_ns ? since_ns : p->last_input_ns;
        cn_log_info(p->log, MOD, "freeze keyed with its ice growing since %.1f s%s: the "
                    "freeze starts %s", (double)(since_ns - p->t0_ns) * 1e-9,
                    grows == 2 ? " after the thaw" : "",
                    f->t_scene_ns == since_ns ? "there" : "at the last input before");
        cn__proc_apply(p, f, src, CN_PROC_FREEZE_START, false);
        p->dated_ns = f->t_scene_ns;
        /* and that ice has shrunk since: the freeze is over, it ended when the ice was
         * largest (before, it froze on from the key, the zone growing over melting ice) */
        if (peak_ns > f->t_scene_ns && peak_ns < t_frame && p->phase == CN_PHASE_FREEZE) {
            cn_log_info(p->log, MOD, "that ice has shrunk since %.1f s: the freeze ends "
                        "there", (double)(peak_ns - p->t0_ns) * 1e-9);
            f->t_scene_ns = peak_ns;
            cn__proc_apply(p, f, src, CN_PROC_FREEZE_STOP, false);
            p->dated_ns = peak_ns;
        }
        f->t_scene_ns = t_frame;
        return;
    }
    cn__proc_apply(p, f, src, CN_PROC_FREEZE_START, false);
    return;
}
