/* session_stages.c - the session's own small analysis stages.
 *
 * Not image analysis, but the state around it: the operator's target handed over
 * from the main thread (a click, a proctor's POINT) and applied on the analysis
 * thread, which alone may touch the nerve tracker; the cryo console's freeze state
 * (simulated, or told by the operator) that the detectors, the model and the HUD
 * agree on; and the model's isotherm surfaces published to proctors. */
#include "session.h"

#include "proctor/proctor.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <math.h>

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
static void apply_target(cn_session *s, const cn_frame *f)
{
    pthread_mutex_lock(&s->target_mu);
    bool pending = s->target_pending, in_image = s->target_in_image;
    double p[3] = {s->target_ref_mm[0], s->target_ref_mm[1], s->target_ref_mm[2]};
    s->target_pending = false;
    pthread_mutex_unlock(&s->target_mu);
    if (!pending || !s->segment)
        return;
    if (in_image) {
        cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)p[0], (float)p[1]});
        cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", p[0], p[1]);
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
}

/* The cryo console (not CryoNav) starts and stops the freeze. With the simulator,
 * its simulated console state rides with every frame; with a real probe it comes
 * from the operator (a key in the viewer, a proctor command). The image analysis
 * needs it to know whether an ice front may exist at all, and the clinician sees
 * the phase, the freeze cycle and the time in the phase from it. */
int cn_session_console_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    apply_target(s, f);
    cn_phase phase;
    int cycle;
    double now_s;
    if (f->truth.valid) {
        phase = f->truth.phase;
        cycle = f->truth.cycle;
        now_s = f->truth.t_scene_s;
    } else {
        bool freezing = atomic_load(&s->operator_freezing);
        now_s = (double)f->t_acq_ns / 1e9;
        cycle = s->console_cycle + (freezing && s->console_phase != CN_PHASE_FREEZE);
        phase = freezing ? CN_PHASE_FREEZE : cycle > 0 ? CN_PHASE_THAW : CN_PHASE_IDLE;
    }
    if (phase != s->console_phase || !s->console_started) {
        s->console_phase = phase;
        s->console_phase_start_s = now_s;
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

