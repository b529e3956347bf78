/* session_stages.c - the session's own small analysis stages.
 *
 * Not image analysis, but the state around it: the operator's target handed over
 * from the main thread (a click, a proctor's POINT) and applied on the analysis
 * thread, which alone may touch the nerve tracker; the procedure state (freeze,
 * thaw, reposition, withdrawal: guidance/procedure.c, one call here) that the
 * detectors, the model and the HUD agree on; and the model's isotherm surfaces
 * published to proctors.
 *
 * Procedure events (issue 14) start here too: what other threads queue (keys,
 * proctor notes), the operator's target, and - in a replay - the recorded inputs
 * (target, notes, the operator's and the console's procedure steps) are put on the
 * frame being analysed (f->analysis.events), so the recorder writes each once, on
 * its frame. A replay's recorded inputs and its jumps are session_replay_inputs.c's. */
#include "session.h"

#include "guidance/guidance.h"
#include "proctor/proctor.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"
#include "replay/replay.h" /* issue 14: recorded inputs come back */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

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

/* The session's target as a recording started now must begin with it. */
static void keep_target(cn_session *s, cn_event_source src, const char *text)
{
    if (strncmp(text, "target ", 7) != 0 && strcmp(text, CN_SESSION_TARGET_CLEARED) != 0)
        return;
    pthread_mutex_lock(&s->events_mu);
    s->target_event.source = src;
    s->target_event.t_scene_ns = CN_SCENE_TIME_UNSET;
    cn_strlcpy(s->target_event.text, text, sizeof s->target_event.text);
    s->have_target_event = true;
    pthread_mutex_unlock(&s->events_mu);
}

int cn_session_state_events(cn_session *s, cn_event *out, int max)
{
    if (!s->procedure || max < 3)
        return 0;
    bool started = false;
    cn_event hist[64];
    int nh = cn_procedure_history(s->procedure, hist, 64, &started);
    if (!started) /* the session's first frame will carry all of it */
        return 0;
    int n = 0;
    cn_procedure_summary sum;
    cn_procedure_get_summary(s->procedure, &sum);
    cn_event *e = &out[n];
    if (sum.plan.n_steps > 0 && cn_plan_event_text(&sum.plan, e->text, sizeof e->text) == CN_OK) {
        e->source = CN_EVSRC_PLAN;
        e->t_scene_ns = CN_SCENE_TIME_UNSET;
        n++;
    }
    pthread_mutex_lock(&s->events_mu);
    if (s->have_probe_event)
        out[n++] = s->probe_event;
    if (s->have_target_event)
        out[n++] = s->target_event;
    pthread_mutex_unlock(&s->events_mu);
    if (nh > max - n) { /* the newest steps: the state is the end of the history */
        memmove(hist, hist + (nh - (max - n)), sizeof hist[0] * (size_t)(max - n));
        nh = max - n;
    }
    memcpy(out + n, hist, sizeof hist[0] * (size_t)nh);
    return n + nh;
}

/* Puts an event on f; one that does not fit (8 a frame) waits in the queue. */
static void put_event(cn_session *s, cn_frame *f, cn_event_source src, int64_t t, const char *text)
{
    keep_target(s, src, text);
    if (cn_analysis_add_event(&f->analysis, src, t, "%s", text) != CN_OK) {
        if (s->catching_up)
            return; /* a frame jumped over is not recorded: nothing of it may wait */
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

void cn_session_put_event(cn_session *s, cn_frame *f, cn_event_source src, int64_t t,
                          const char *text)
{
    put_event(s, f, src, t, text);
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

void cn_session_set_target_ref(cn_session *s, const double p[3], bool ours)
{
    pthread_mutex_lock(&s->target_mu);
    for (int i = 0; i < 3; i++)
        s->target_ref_mm[i] = p[i];
    s->target_pending = true;
    s->target_in_image = false;
    s->target_clear = false;
    s->target_ours = ours;
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
    s->target_clear = false;
    pthread_mutex_unlock(&s->target_mu);
}

void cn_session_clear_target(cn_session *s, cn_event_source by)
{
    pthread_mutex_lock(&s->target_mu);
    s->target_pending = true;
    s->target_clear = true;
    s->target_clear_by = by;
    pthread_mutex_unlock(&s->target_mu);
}

#define TARGET_ECHO_MM 1.0 /* a NerveTarget this close to the followed point is ours sent back */

/* A proctor's target that lands nowhere in this image is said on the frame, so the proctor
 * sees why (CryoNavEvent) and the recording keeps it. Before, only the operator's log said
 * so, and the proctor waited for a nerve outline that never came (the thirty-sixth
 * session's review). */
static void target_refused(cn_session *s, cn_frame *f, const double p[3], const char *why)
{
    char ev[CN_EVENT_TEXT_MAX];
    snprintf(ev, sizeof ev, "target_refused x_mm=%.1f y_mm=%.1f z_mm=%.1f", p[0], p[1], p[2]);
    if (cn_event_put(ev, sizeof ev, "why", why) == CN_OK)
        put_event(s, f, CN_EVSRC_SYSTEM, f->t_scene_ns, ev);
}

/* Applies a pending operator target to the nerve tracker (analysis thread). */
static void apply_target(cn_session *s, cn_frame *f)
{
    pthread_mutex_lock(&s->target_mu);
    bool pending = s->target_pending, in_image = s->target_in_image, clear = s->target_clear;
    const bool ours = !in_image && s->target_ours;
    cn_event_source by = s->target_clear_by;
    double p[3] = {s->target_ref_mm[0], s->target_ref_mm[1], s->target_ref_mm[2]};
    s->target_pending = false;
    pthread_mutex_unlock(&s->target_mu);
    if (!pending || !s->segment)
        return;
    if (clear) {
        cn_segment_clear_nerve_seed(s->segment);
        cn_log_info(s->log, "run", "target cleared (%s): the nerve is no longer followed",
                    cn_event_source_name(by));
        put_event(s, f, by, f->t_scene_ns, CN_SESSION_TARGET_CLEARED);
        return;
    }
    char ev[96];
    if (in_image) {
        cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)p[0], (float)p[1]});
        cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", p[0], p[1]);
        snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", p[0], p[1]);
        put_event(s, f, CN_EVSRC_OPERATOR, f->t_scene_ns, ev);
        return;
    }
    /* the proctor placed it in the scene the server sends: igtl.reference_frame
     * (before, always Reference: with "Tracker" every target landed ~77 mm out of
     * the image plane and was ignored) */
    cn_mat4 i2r, r2i;
    const char *scene = s->scene_frame[0] ? s->scene_frame : "Reference";
    if (cn_frame_image_to(f, scene, &i2r, NULL) != CN_OK ||
        cn_mat4_invert(&i2r, &r2i) != CN_OK) {
        cn_log_warn(s->log, "run", "target (%.1f, %.1f, %.1f) mm ignored: the image is not tracked",
                    p[0], p[1], p[2]);
        target_refused(s, f, p, "the image is not tracked");
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
        char why[96];
        snprintf(why, sizeof why, off_mm > 5.0 ? "%.1f mm out of the image plane (5 mm at most)"
                                               : "outside the image", off_mm);
        target_refused(s, f, p, why);
        return;
    }
    cn_pt2 now;
    if (ours && cn_segment_nerve_target(s->segment, &now) &&
        hypot(now.x - mm.x, now.y - mm.y) <= TARGET_ECHO_MM) {
        /* our own NerveTarget sent back unmoved: a new click on every frame would
         * restart the outline each time (and cost a click's time per frame) */
        cn_log_debug(s->log, "run", "target NerveTarget at the point already followed: the "
                     "point sent back, nothing to change");
        return;
    }
    cn_segment_set_nerve_seed(s->segment, mm);
    cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", mm.x, mm.y);
    snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", mm.x, mm.y);
    put_event(s, f, CN_EVSRC_PROCTOR, f->t_scene_ns, ev);
}

static int procedure_step(cn_session *s, cn_frame *f)
{
    int rc = cn_procedure_process(s->procedure, f);
    if (s->segment) {
        const cn_phase ph = f->analysis.guidance.phase;
        cn_segment_set_freezing(s->segment, ph == CN_PHASE_FREEZE);
        cn_segment_set_in_ice(s->segment, ph == CN_PHASE_FREEZE || ph == CN_PHASE_THAW);
    }
    return rc;
}

/* The procedure state comes from events (the cryo console, the operator's keys, a
 * proctor, the simulator's script): guidance/procedure.c keeps it and writes it
 * with its events into the frame. The image analysis needs it to know whether an
 * ice front may exist at all. */
int cn_session_console_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    /* A source whose scene clock goes back without a replay's jump: the windowed
     * simulator starting its scenario again. The procedure and the thermal model run
     * on scene time and cannot go back (before, the second pass counted freeze 2 and
     * the model failed on every event: "could not follow the procedure: value out of
     * range"), so the analysis starts again, as at the session's start. */
    if (!s->replay && f->t_scene_ns != CN_SCENE_TIME_UNSET) {
        if (s->live_scene_ns != INT64_MIN && f->t_scene_ns < s->live_scene_ns - 50000000) {
            cn_log_info(s->log, "run", "the scene clock goes back from %.1f s to %.1f s (the "
                        "simulated scenario starts again): the procedure and the model start "
                        "again", (double)s->live_scene_ns * 1e-9, (double)f->t_scene_ns * 1e-9);
            cn_session_replay_rewind(s);
        }
        s->live_scene_ns = f->t_scene_ns;
    }
    const bool revisit = cn_session_replay_inputs(s, f);
    emit_queued(s, f);
    cn_session_source_gap_event(s, f);
    apply_target(s, f);
    if (s->seed_announce) {
        /* the target the session started with (config, the simulated operator) */
        char ev[96];
        snprintf(ev, sizeof ev, "target x_mm=%.2f y_mm=%.2f", s->seed_mm.x, s->seed_mm.y);
        put_event(s, f, s->seed_source, f->t_scene_ns, ev);
        s->seed_announce = false;
    }
    if (!revisit)
        return procedure_step(s, f);
    /* held: the simulator's truth phase on a frame seen before is no console edge */
    const bool truth = f->truth.valid;
    f->truth.valid = false;
    int rc = procedure_step(s, f);
    f->truth.valid = truth;
    return rc;
}

int cn_session_console_hidden(cn_session *s, cn_frame *f, const cn_event *ev, int n)
{
    cn_session_replay_apply(s, f, ev, n);
    return procedure_step(s, f);
}

/* Once a second while there is cold in the tissue (freezing, thawing, after the
 * probe left), the model's 0 / -20 / -40 C surfaces (meshes in the Reference frame,
 * where the ice is: they do not follow the probe) go to the proctor hub, whose
 * transports send them to every client (OpenIGTLink: POLYDATA Isotherm-20CSurface
 * ...). Once a second is enough for a ball that changes by a fraction of a
 * millimetre per second, and keeps the mesh work (a few ms) off most frames. */
const double cn_session_surface_temps_c[CN_SESSION_SURFACES] = CN_ZONE_TEMPS_C; /* the curves' */

int cn_session_surfaces_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    if (!s->proctor || !s->thermal || !f->analysis.thermal.valid)
        return CN_OK;
    if (s->surfaces_sent_ns && f->t_acq_ns - s->surfaces_sent_ns < 1000000000LL)
        return CN_OK;
    /* Into the scene frame the proctors receive (igtl.reference_frame): the model
     * keeps its meshes in its own frame (Reference as these poses resolve it, or
     * the image without tracking). Before, they went out as they were, labelled
     * Reference: ~370 mm off in a "Tracker" scene. With no path to the scene frame
     * on this frame, they go out as they are. */
    const char *scene = s->scene_frame[0] ? s->scene_frame : "Reference";
    cn_mat4 r2mm, i2scene, mm2i, i2mm = cn_frame_image_to_image_mm(f), to_scene;
    bool move = cn_thermal_stage_ref_to_image_mm(s->thermal, f, &r2mm) == CN_OK &&
                cn_frame_image_to(f, scene, &i2scene, NULL) == CN_OK &&
                cn_mat4_invert(&i2mm, &mm2i) == CN_OK;
    if (move) {
        cn_mat4 mm2scene = cn_mat4_mul(&i2scene, &mm2i);
        to_scene = cn_mat4_mul(&mm2scene, &r2mm);
        move = cn_mat4_is_finite(&to_scene);
    }
    for (int i = 0; i < CN_SESSION_SURFACES; i++) {
        const double t_c = cn_session_surface_temps_c[i];
        cn_thermal_mesh mesh = {0};
        if (cn_thermal_stage_mesh_ref(s->thermal, t_c, 48, 32, &mesh) == CN_OK) {
            for (int v = 0; move && v < mesh.n_vertices; v++) {
                float *p = mesh.xyz + 3 * v;
                cn_vec3 q = cn_mat4_apply_point(&to_scene, (cn_vec3){p[0], p[1], p[2]});
                p[0] = (float)q.x;
                p[1] = (float)q.y;
                p[2] = (float)q.z;
            }
            cn_proctor_set_surface(s->proctor, t_c, mesh.xyz, mesh.n_vertices, mesh.tri,
                                   mesh.n_triangles);
        }
        cn_thermal_mesh_free(&mesh);
    }
    s->surfaces_sent_ns = f->t_acq_ns;
    return CN_OK;
}


/* ---- issue 13: one set of protocol names, the plan ---- */

/* The catalogue's protocols (shipped + the config's "thermal.protocols_file"). */
static int load_protocols(cn_session *s, cn_thermal_catalog *cat, const char *config_dir,
                          char *err, size_t err_len)
{
    char p[1100], extra[512] = "";
    snprintf(p, sizeof p, "%s/protocols.json", config_dir);
    int rc = cn_thermal_catalog_load(cat, NULL, p, NULL, err, err_len);
    /* the user's protocols (~/.config/cryonav/protocols.json), as the thermal stage
     * and `cryonav thermal --list` read them */
    char user[900], up[1100];
    struct stat st;
    if (rc == CN_OK && cn_app_user_config_dir(user, sizeof user)[0]) {
        snprintf(up, sizeof up, "%s/protocols.json", user);
        if (stat(up, &st) == 0)
            rc = cn_thermal_catalog_load(cat, NULL, up, NULL, err, err_len);
    }
    if (rc == CN_OK &&
        cn_json_get_string(s->cfg, "thermal.protocols_file", extra, sizeof extra, err, err_len) == CN_OK &&
        extra[0])
        rc = cn_thermal_catalog_load(cat, NULL, extra, NULL, err, err_len);
    return rc;
}

static void unknown_protocol(const cn_thermal_catalog *cat, const char *name, char *err, size_t len)
{
    char names[600] = "";
    for (int i = 0; i < cat->n_protocols; i++) {
        size_t u = strlen(names);
        snprintf(names + u, sizeof names - u, "%s%s", i ? ", " : "", cat->protocols[i].name);
    }
    snprintf(err, len, "unknown protocol '%s' (the catalogue's: %s)", name, names);
}

int cn_session_sim_protocol(cn_session *s, void *sim_config, const char *name, char *err,
                            size_t err_len)
{
    cn_sim_config *sc = sim_config;
    cn_thermal_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return CN_ENOMEM;
    char dir[1024];
    int rc = load_protocols(s, cat, cn_app_data_path("config", dir, sizeof dir), err, err_len);
    const cn_protocol *q = rc ? NULL : cn_thermal_catalog_protocol(cat, name);
    if (!rc && !q) {
        unknown_protocol(cat, name, err, err_len);
        rc = CN_EINVAL;
    }
    if (!rc) {
        /* the simulated console: each freeze with the thaw steps after it */
        int n = 0;
        memset(sc->cycles, 0, sizeof sc->cycles);
        for (int i = 0; i < q->n_steps; i++) {
            if (q->steps[i].kind == CN_STEP_FREEZE) {
                if (n == CN_SIM_MAX_CYCLES) {
                    snprintf(err, err_len, "protocol '%s' has more than %d freezes (the simulator's limit)",
                             name, CN_SIM_MAX_CYCLES);
                    rc = CN_ERANGE;
                    break;
                }
                sc->cycles[n++].freeze_s = q->steps[i].duration_s;
            } else if (n > 0) {
                sc->cycles[n - 1].thaw_s += q->steps[i].duration_s;
            }
        }
        sc->n_cycles = n;
        cn_strlcpy(sc->protocol, q->name, sizeof sc->protocol);
    }
    free(cat);
    return rc;
}

/* The recording's plan (its first "plan name=N steps=..." event) becomes the
 * replay's before the first frame, as the probe does: the event need not ride on
 * the first frame (live, a frame whose analysis comes late is written without it,
 * and its events ride on the next frame written), and the plan is fixed once the
 * first frame is analysed. Before, such a replay wrote and reported its configured
 * plan. cn_session_replay_apply then leaves the recorded event alone: the procedure writes
 * the plan once, on the replay's first frame. */
static void replay_plan(cn_session *s)
{
    int n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    for (int i = 0; i < n; i++) {
        if (ch[i].source != CN_EVSRC_PLAN || strncmp(ch[i].text, "plan ", 5) != 0)
            continue;
        char perr[160];
        if (cn_procedure_set_plan_from_event(s->procedure, ch[i].text, perr, sizeof perr) != CN_OK)
            cn_log_warn(s->log, "replay", "recorded plan not used (frame %d): %s; the replay "
                        "keeps the configured plan", ch[i].frame, perr);
        else
            cn_log_info(s->log, "replay", "the replay takes the recorded plan (frame %d): %.80s",
                        ch[i].frame, ch[i].text);
        return;
    }
    /* the configured plan, marked as assumed in the events a re-recording writes (review
     * 41a: a prostate phantom's recording "had" the plan morton-150s) */
    cn_procedure_summary sum;
    cn_procedure_get_summary(s->procedure, &sum);
    sum.plan.assumed = true;
    char ev[CN_EVENT_TEXT_MAX], perr[160];
    if (sum.plan.n_steps > 0 && cn_plan_event_text(&sum.plan, ev, sizeof ev) == CN_OK)
        cn_procedure_set_plan_from_event(s->procedure, ev, perr, sizeof perr);
    cn_log_info(s->log, "replay", "the recording names no plan: the replay keeps the configured "
                "one (its events say assumed=config)");
}

/* The recording's "probe name=N outer_mm=D active_mm=L" event into p's geometry; false
 * when the recording names no probe (the configured one is assumed). */
static bool replay_probe(cn_session *s, cn_cryoprobe *p)
{
    int n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    for (int i = 0; i < n; i++) {
        char name[CN_THERMAL_NAME_MAX], v[2][32];
        double d = NAN, a = NAN;
        if (ch[i].source != CN_EVSRC_SYSTEM || strncmp(ch[i].text, "probe ", 6) != 0)
            continue;
        char *e0 = NULL, *e1 = NULL;
        if (cn_event_get(ch[i].text, "name", name, sizeof name) == CN_OK &&
            cn_event_get(ch[i].text, "outer_mm", v[0], sizeof v[0]) == CN_OK &&
            cn_event_get(ch[i].text, "active_mm", v[1], sizeof v[1]) == CN_OK) {
            d = strtod(v[0], &e0);
            a = strtod(v[1], &e1);
        }
        if (!e0 || !e1 || *e0 || *e1 || e0 == v[0] || e1 == v[1] || !isfinite(d) || !isfinite(a)) {
            cn_log_warn(s->log, "replay", "recorded probe event '%s' not understood: the model "
                        "keeps the configured probe %s", ch[i].text, p->name);
            return false;
        }
        double d0 = p->outer_diameter_mm, a0 = p->active_length_mm;
        int g = cn_cryoprobe_set_geometry(p, d, a);
        if (g < 0)
            cn_log_warn(s->log, "replay", "recorded probe %s (%.2f mm, %.1f mm active) is outside "
                        "what the model takes: it keeps the configured probe %s", name, d, a, p->name);
        else if (g == 1)
            cn_log_info(s->log, "replay", "the model takes the recorded probe %s (%.2f mm, %.1f mm "
                        "active), not the configured %s (%.2f mm, %.1f mm active)", name, d, a, p->name,
                        d0, a0);
        else
            cn_log_info(s->log, "replay", "the recorded probe %s is the configured one's geometry "
                        "(%.2f mm, %.1f mm active)", name, d, a);
        /* a replay's own assumption, recorded: still one on the next replay (review 42) */
        char assumed[16];
        return cn_event_get(ch[i].text, "assumed", assumed, sizeof assumed) != CN_OK;
    }
    cn_log_info(s->log, "replay", "the recording names no probe: the model takes the configured "
                "probe %s (%.2f mm, %.1f mm active)", p->name, p->outer_diameter_mm, p->active_length_mm);
    return false;
}

int cn_session_plan(cn_session *s, void *thermal_opts, const char *config_dir, char *err,
                    size_t err_len)
{
    cn_thermal_stage_opts *to = thermal_opts;
    const char *want = s->opts.protocol[0] ? s->opts.protocol : NULL;
    cn_sim_config simc;
    if (!want && s->sim) {
        simc = *cn_sim_get_config(s->sim);
        if (strcmp(simc.protocol, "custom") != 0)
            want = simc.protocol;
    }
    int rc = CN_OK;
    if (want && strcmp(want, to->protocol.name) != 0) {
        cn_thermal_catalog *cat = calloc(1, sizeof *cat);
        if (!cat)
            return CN_ENOMEM;
        rc = load_protocols(s, cat, config_dir, err, err_len);
        const cn_protocol *q = rc ? NULL : cn_thermal_catalog_protocol(cat, want);
        if (!rc && !q) {
            unknown_protocol(cat, want, err, err_len);
            rc = CN_EINVAL;
        }
        if (!rc)
            to->protocol = *q;
        free(cat);
        if (rc)
            return rc;
    }
    /* The simulator's needle is the probe in the tissue: the model takes its
     * geometry whatever probe the configuration names (the code's default, a 2 cm
     * active segment, modelled around the 6 mm one put the 0 C surface 1 mm under
     * the skin and 1-2 mm outside the visible ice: guidance module, issue 13). */
    if (s->sim) {
        const cn_sim_config *c = cn_sim_get_config(s->sim);
        double d0 = to->probe.outer_diameter_mm, a0 = to->probe.active_length_mm;
        int g = cn_cryoprobe_set_geometry(&to->probe, c->needle_diameter_mm, c->needle_active_mm);
        if (g == 1)
            cn_log_warn(s->log, "thermal",
                        "probe %s (%.1f mm, %.0f mm active) is not the simulated needle: the model "
                        "takes the needle's %.1f mm, %.0f mm active",
                        to->probe.name, d0, a0, c->needle_diameter_mm, c->needle_active_mm);
        else if (g < 0)
            cn_log_warn(s->log, "thermal", "the simulated needle (%.2f mm, %.1f mm active) is "
                        "outside what the model takes: it keeps probe %s", c->needle_diameter_mm,
                        c->needle_active_mm, to->probe.name);
    }
    /* A replay models the needle the recording was made with (its "probe" event),
     * not whatever the replaying configuration names: a simulated recording replayed
     * with the 2 cm default modelled ice up to the skin the session never had
     * (test_sim_needle_model). The calibrated surface temperature stays the
     * configured probe class's. Files without the event (older recordings, PLUS
     * files) keep the configured probe, and the log says so. */
    const bool probe_assumed = s->replay && !replay_probe(s, &to->probe);
    /* A live image (a probe, a PlusServer) with the simulator's needle as the model's
     * probe, the shipped configuration's: the zone and the coverage are that needle's, not
     * the patient's cryoprobe's, and nothing said so (review 41b). */
    s->zone_warning[0] = 0;
    if (!s->sim && !s->replay && to->probe.simulated) {
        snprintf(s->zone_warning, sizeof s->zone_warning, "zone modelled for the simulator's "
                 "needle %.40s: set thermal.probe to your cryoprobe", to->probe.name);
        cn_log_warn(s->log, "thermal", "the ablation zone is modelled for %s, the simulator's "
                    "needle, not a product's: set \"thermal\": {\"probe\": ...} to the cryoprobe "
                    "in use ('cryonav thermal --list' lists them)", to->probe.name);
    }
    /* Every session names its probe once, first thing, so a replay can model it. */
    char probe_ev[CN_EVENT_TEXT_MAX] = "probe", num[2][32];
    snprintf(num[0], sizeof num[0], "%.2f", to->probe.outer_diameter_mm);
    snprintf(num[1], sizeof num[1], "%.1f", to->probe.active_length_mm);
    if (cn_event_put(probe_ev, sizeof probe_ev, "name", to->probe.name) == CN_OK &&
        cn_event_put(probe_ev, sizeof probe_ev, "outer_mm", num[0]) == CN_OK &&
        cn_event_put(probe_ev, sizeof probe_ev, "active_mm", num[1]) == CN_OK &&
        (!probe_assumed || cn_event_put(probe_ev, sizeof probe_ev, "assumed", "config") == CN_OK)) {
        cn_session_add_event(s, CN_EVSRC_SYSTEM, probe_ev);
        pthread_mutex_lock(&s->events_mu);
        s->probe_event.source = CN_EVSRC_SYSTEM;
        s->probe_event.t_scene_ns = CN_SCENE_TIME_UNSET;
        cn_strlcpy(s->probe_event.text, probe_ev, sizeof s->probe_event.text);
        s->have_probe_event = true;
        pthread_mutex_unlock(&s->events_mu);
    } else
        cn_log_warn(s->log, "thermal", "probe name %.40s... is too long to record: a replay of "
                    "this session models its configured probe", to->probe.name);
    cn_plan plan;
    memset(&plan, 0, sizeof plan);
    if (s->sim && !want) { /* a custom simulated scenario: its own cycles are the plan */
        const cn_sim_config *c = cn_sim_get_config(s->sim);
        cn_strlcpy(plan.name, "custom", sizeof plan.name);
        for (int i = 0; i < c->n_cycles && plan.n_steps + 2 <= CN_PLAN_STEPS_MAX; i++) {
            plan.steps[plan.n_steps++] = (cn_plan_step){0, c->cycles[i].freeze_s};
            if (c->cycles[i].thaw_s > 0)
                plan.steps[plan.n_steps++] = (cn_plan_step){1, c->cycles[i].thaw_s};
        }
    } else {
        cn_strlcpy(plan.name, to->protocol.name, sizeof plan.name);
        for (int i = 0; i < to->protocol.n_steps && i < CN_PLAN_STEPS_MAX; i++)
            plan.steps[plan.n_steps++] = (cn_plan_step){(int)to->protocol.steps[i].kind,
                                                        to->protocol.steps[i].duration_s};
        plan.extra_freeze_s = to->protocol.extra_freeze_s;
    }
    s->procedure = cn_procedure_new(&plan, s->log);
    if (!s->procedure) {
        snprintf(err, err_len, "out of memory");
        return CN_ENOMEM;
    }
    if (s->replay)
        replay_plan(s);
    return CN_OK;
}
