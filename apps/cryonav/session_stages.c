/* session_stages.c - the session's own small analysis stages.
 *
 * Not image analysis, but the state around it: the operator's target handed over
 * from the main thread (a click, a proctor's POINT) and applied on the analysis
 * thread, which alone may touch the nerve tracker; the cryo console's freeze state
 * (simulated, or told by the operator) that the detectors, the model and the HUD
 * agree on; and the model's isotherm surfaces published to proctors.
 *
 * Procedure events (issue 14) start here too: what other threads queue (keys,
 * proctor notes), the operator's target, and - in a replay - the recorded inputs
 * (target, notes, the operator's freeze key) are put on the frame being analysed
 * (f->analysis.events), so the recorder writes each once, on its frame. */
#include "session.h"

#include "proctor/proctor.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"
#include "replay/replay.h" /* issue 14: recorded inputs come back */

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cn_session_add_event(cn_session *s, cn_event_source source, const char *text)
{
    pthread_mutex_lock(&s->events_mu);
    int cap = (int)(sizeof s->queued_events / sizeof s->queued_events[0]), rc = CN_OK;
    if (s->n_queued_events == cap) {
        s->events_dropped++;
        rc = CN_ENOMEM;
    } else {
        cn_analysis tmp; /* the core's sanitising and truncation */
        tmp.n_events = 0;
        cn_analysis_add_event(&tmp, source, CN_SCENE_TIME_UNSET, "%s", text ? text : "");
        s->queued_events[s->n_queued_events++] = tmp.events[0];
    }
    pthread_mutex_unlock(&s->events_mu);
    if (rc)
        cn_log_error(s->log, "events", "event '%s' lost: 32 are already waiting for a frame", text);
    return rc;
}

int cn_session_add_note(cn_session *s, cn_event_source source, const char *text)
{
    char t[CN_EVENT_TEXT_MAX];
    snprintf(t, sizeof t, "note text=%s", text ? text : "");
    return cn_session_add_event(s, source, t);
}

/* Puts an event on f; one that does not fit (8 a frame) waits in the queue. */
static void put_event(cn_session *s, cn_frame *f, cn_event_source src, int64_t t, const char *text)
{
    if (cn_analysis_add_event(&f->analysis, src, t, "%s", text) != CN_OK) {
        pthread_mutex_lock(&s->events_mu);
        if (s->n_queued_events < (int)(sizeof s->queued_events / sizeof s->queued_events[0])) {
            cn_event *e = &s->queued_events[s->n_queued_events++];
            e->source = src;
            e->t_scene_ns = t;
            cn_strlcpy(e->text, text, sizeof e->text);
        } else {
            s->events_dropped++;
        }
        pthread_mutex_unlock(&s->events_mu);
    }
}

/* Events other threads queued: onto this frame, at its scene time unless they
 * already carry one (a replayed input keeps its recorded time). */
static void emit_queued(cn_session *s, cn_frame *f)
{
    cn_event q[32];
    pthread_mutex_lock(&s->events_mu);
    int n = s->n_queued_events;
    memcpy(q, s->queued_events, (size_t)n * sizeof q[0]);
    s->n_queued_events = 0;
    pthread_mutex_unlock(&s->events_mu);
    for (int i = 0; i < n; i++)
        put_event(s, f, q[i].source, q[i].t_scene_ns == CN_SCENE_TIME_UNSET ? f->t_scene_ns : q[i].t_scene_ns,
                  q[i].text);
}

/* Replay: the recorded events come back. The inputs of people and devices
 * (a target, notes, marks) are applied and recorded again; the operator's freeze
 * key sets the freeze state (the phase events follow from it below); what the
 * analysis derives (phases, alarms) is left out because it is derived again. */
static void replay_inputs(cn_session *s, cn_frame *f)
{
    if (!s->replay)
        return;
    cn_event ev[32];
    int n = cn_replay_take_events(s->replay, ev, 32);
    for (int i = 0; i < n; i++) {
        const char *t = ev[i].text;
        double x, y;
        if (strncmp(t, "target ", 7) == 0 && sscanf(t, "target x_mm=%lf y_mm=%lf", &x, &y) == 2) {
            if (s->segment)
                cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)x, (float)y});
            cn_log_info(s->log, "replay", "recorded target: nerve seed set at (%.1f, %.1f) mm", x, y);
            put_event(s, f, ev[i].source, ev[i].t_scene_ns, t);
            continue;
        }
        bool person = ev[i].source == CN_EVSRC_OPERATOR || ev[i].source == CN_EVSRC_PROCTOR ||
                      ev[i].source == CN_EVSRC_CONSOLE || ev[i].source == CN_EVSRC_PLAN;
        if (!person)
            continue;
        bool start = strncmp(t, "freeze_start", 12) == 0;
        if (start || strncmp(t, "freeze_end", 10) == 0 || strncmp(t, "freeze_stop", 11) == 0) {
            if (ev[i].source != CN_EVSRC_PLAN) /* the operator, the console or a proctor */
                atomic_store(&s->operator_freezing, start);
            continue;
        }
        if (strncmp(t, "thaw_", 5) == 0 || strncmp(t, "needle_", 7) == 0 || strcmp(t, "reposition") == 0)
            continue;
        put_event(s, f, ev[i].source, ev[i].t_scene_ns, t);
    }
}

void cn_session_set_target_ref(cn_session *s, const double p[3])
{
    pthread_mutex_lock(&s->target_mu);
    for (int i = 0; i < 3; i++)
        s->target_ref_mm[i] = p[i];
    s->target_pending = true;
    s->target_in_image = false;
    pthread_mutex_unlock(&s->target_mu);
}

void cn_session_set_target_image(cn_session *s, cn_pt2 mm)
{
    pthread_mutex_lock(&s->target_mu);
    s->target_ref_mm[0] = mm.x;
    s->target_ref_mm[1] = mm.y;
    s->target_ref_mm[2] = 0;
    s->target_pending = true;
    s->target_in_image = true;
    pthread_mutex_unlock(&s->target_mu);
}

/* Applies a pending operator target to the nerve tracker (analysis thread). */
static void apply_target(cn_session *s, cn_frame *f)
{
    pthread_mutex_lock(&s->target_mu);
    bool pending = s->target_pending, in_image = s->target_in_image;
    double p[3] = {s->target_ref_mm[0], s->target_ref_mm[1], s->target_ref_mm[2]};
    s->target_pending = false;
    pthread_mutex_unlock(&s->target_mu);
    if (!pending || !s->segment)
        return;
    char ev[96];
    if (in_image) {
        cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)p[0], (float)p[1]});
        cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", p[0], p[1]);
        snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", p[0], p[1]);
        put_event(s, f, CN_EVSRC_OPERATOR, f->t_scene_ns, ev);
        return;
    }
    cn_mat4 i2r, r2i;
    if (cn_frame_image_to(f, "Reference", &i2r, NULL) != CN_OK ||
        cn_mat4_invert(&i2r, &r2i) != CN_OK) {
        cn_log_warn(s->log, "run", "target (%.1f, %.1f, %.1f) mm ignored: the image is not tracked",
                    p[0], p[1], p[2]);
        return;
    }
    cn_vec3 px = cn_mat4_apply_point(&r2i, (cn_vec3){p[0], p[1], p[2]});
    /* Pixel index -> image mm of the pixel centre, the analysis' convention. */
    cn_pt2 mm = {(float)((px.x + 0.5) * f->spacing_mm[0]), (float)((px.y + 0.5) * f->spacing_mm[1])};
    /* ImageToProbe scales z like x: out of plane by more than 5 mm is not a target
     * in this image. */
    double off_mm = fabs(px.z) * f->spacing_mm[0];
    if (off_mm > 5.0 || px.x < 0 || px.y < 0 || px.x >= f->width || px.y >= f->height) {
        cn_log_warn(s->log, "run", "target (%.1f, %.1f, %.1f) mm is outside the image "
                    "(%.1f mm out of plane): ignored", p[0], p[1], p[2], off_mm);
        return;
    }
    cn_segment_set_nerve_seed(s->segment, mm);
    cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", mm.x, mm.y);
    snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", mm.x, mm.y);
    put_event(s, f, CN_EVSRC_PROCTOR, f->t_scene_ns, ev);
}

/* The cryo console (not CryoNav) starts and stops the freeze. With the simulator,
 * its simulated console state rides with every frame; with a real probe it comes
 * from the operator (a key in the viewer, a proctor command). The image analysis
 * needs it to know whether an ice front may exist at all, and the clinician sees
 * the phase, the freeze cycle and the time in the phase from it. */
/* STOP-GAP (issue 14), to be replaced by the procedure state module (guidance,
 * THERMAL's work) which will emit these events itself: the phase changes the
 * console saw, as events on the frame where they happened. */
static void phase_events(cn_session *s, cn_frame *f, cn_phase from, int from_cycle, cn_phase to,
                         int cycle)
{
    cn_event_source src = f->truth.valid ? CN_EVSRC_SIMULATOR : CN_EVSRC_OPERATOR;
    char t[64];
    if (from == CN_PHASE_FREEZE) {
        snprintf(t, sizeof t, "freeze_end cycle=%d", from_cycle);
        put_event(s, f, src, f->t_scene_ns, t);
    }
    if (from == CN_PHASE_THAW) {
        snprintf(t, sizeof t, "thaw_end cycle=%d", from_cycle);
        put_event(s, f, src, f->t_scene_ns, t);
    }
    switch (to) {
    case CN_PHASE_APPROACH:
        put_event(s, f, src, f->t_scene_ns, from == CN_PHASE_IDLE ? "needle_inserted" : "reposition");
        break;
    case CN_PHASE_FREEZE:
        snprintf(t, sizeof t, "freeze_start cycle=%d", cycle);
        put_event(s, f, src, f->t_scene_ns, t);
        break;
    case CN_PHASE_THAW: /* the simulator's thaws are passive; the operator's key says nothing */
        snprintf(t, sizeof t, "thaw_start cycle=%d%s", cycle, f->truth.valid ? " mode=passive" : "");
        put_event(s, f, src, f->t_scene_ns, t);
        break;
    case CN_PHASE_WITHDRAWN: put_event(s, f, src, f->t_scene_ns, "needle_withdrawn"); break;
    default: break;
    }
}

int cn_session_console_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    replay_inputs(s, f);
    emit_queued(s, f);
    apply_target(s, f);
    if (!s->console_started && s->seed_announce) {
        /* the target the session started with (config, the simulated operator) */
        char ev[96];
        snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", s->seed_mm.x, s->seed_mm.y);
        put_event(s, f, s->seed_source, f->t_scene_ns, ev);
    }
    cn_phase phase;
    int cycle;
    /* the scene clock: what the procedure experiences (time_scale, --fast, replays) */
    double now_s = (double)f->t_scene_ns / 1e9;
    if (f->truth.valid) {
        phase = f->truth.phase;
        cycle = f->truth.cycle;
    } else {
        bool freezing = atomic_load(&s->operator_freezing);
        cycle = s->console_cycle + (freezing && s->console_phase != CN_PHASE_FREEZE);
        phase = freezing ? CN_PHASE_FREEZE : cycle > 0 ? CN_PHASE_THAW : CN_PHASE_IDLE;
    }
    if (s->console_started && phase != s->console_phase)
        phase_events(s, f, s->console_phase, s->console_cycle, phase, cycle);
    if (phase != s->console_phase || !s->console_started || now_s < s->console_phase_start_s) {
        s->console_phase = phase;
        s->console_phase_start_s = now_s; /* (a replay jumping back restarts the clock) */
        s->console_started = true;
    }
    s->console_cycle = cycle;
    cn_guidance_state *g = &f->analysis.guidance;
    g->phase = phase;
    g->cycle = cycle;
    g->phase_elapsed_s = now_s - s->console_phase_start_s;
    g->coverage = -1; /* unknown until the thermal model says otherwise */
    if (s->segment)
        cn_segment_set_freezing(s->segment, phase == CN_PHASE_FREEZE);
    return CN_OK;
}

/* Once a second during a freeze, the model's 0 / -20 / -40 C surfaces (meshes in
 * the Cryoprobe frame) go to the proctor hub, whose transports send them to every
 * client (OpenIGTLink: POLYDATA Isotherm-20CSurface ...); Slicer shows them under
 * CryoprobeToReference. Once a second
 * is enough for a ball that grows by a fraction of a millimetre per second, and
 * keeps the mesh work (a few ms) off most frames. */
int cn_session_surfaces_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    if (!s->proctor || !s->thermal || f->analysis.guidance.phase != CN_PHASE_FREEZE)
        return CN_OK;
    if (s->surfaces_sent_ns && f->t_acq_ns - s->surfaces_sent_ns < 1000000000LL)
        return CN_OK;
    const cn_thermal_ensemble *e = cn_thermal_stage_ensemble(s->thermal);
    const cn_thermal_model *m = e ? cn_thermal_ensemble_best(e) : NULL;
    if (!m)
        return CN_OK;
    static const double iso_c[] = {0, -20, -40};
    for (size_t i = 0; i < sizeof iso_c / sizeof iso_c[0]; i++) {
        cn_thermal_mesh mesh = {0};
        if (cn_thermal_model_mesh(m, iso_c[i], 48, 32, &mesh) == CN_OK)
            cn_proctor_set_surface(s->proctor, iso_c[i], mesh.xyz, mesh.n_vertices, mesh.tri,
                                   mesh.n_triangles);
        cn_thermal_mesh_free(&mesh);
    }
    s->surfaces_sent_ns = f->t_acq_ns;
    return CN_OK;
}

