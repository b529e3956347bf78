/* session_stages.c - the session's own small analysis stages.
 *
 * Not image analysis, but the state around it: the operator's target handed over
 * from the main thread (a click, a proctor's POINT) and applied on the analysis
 * thread, which alone may touch the nerve tracker; the procedure state (freeze,
 * thaw, reposition, withdrawal: guidance/procedure.c, one call here) that the
 * detectors, the model and the HUD agree on; and the model's isotherm surfaces
 * published to proctors. */
#include "session.h"

#include "guidance/guidance.h"
#include "igtl/igtl.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

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

/* The procedure state comes from events (the cryo console, the operator's keys, a
 * proctor, the simulator's script): guidance/procedure.c keeps it and writes it
 * with its events into the frame. The image analysis needs it to know whether an
 * ice front may exist at all. */
int cn_session_console_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    apply_target(s, f);
    int rc = cn_procedure_process(s->procedure, f);
    if (s->segment)
        cn_segment_set_freezing(s->segment, f->analysis.guidance.phase == CN_PHASE_FREEZE);
    return rc;
}

/* Once a second while there is cold in the tissue (freezing, thawing, after the
 * probe left), the model's 0 / -20 / -40 C surfaces (meshes in the Reference frame,
 * where the ice is: they do not follow the probe) go to the OpenIGTLink server,
 * which sends them to every client as POLYDATA. Once a second is enough for a
 * ball that changes by a fraction of a millimetre per second, and keeps the mesh
 * work (a few ms) off most frames. */
int cn_session_surfaces_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    if (!s->igtl_server || !s->thermal || !f->analysis.thermal.valid)
        return CN_OK;
    if (s->surfaces_sent_ns && f->t_acq_ns - s->surfaces_sent_ns < 1000000000LL)
        return CN_OK;
    static const struct {
        double temp_c;
        const char *name;
    } iso[] = {{0, "Isotherm0C"}, {-20, "IsothermMinus20C"}, {-40, "IsothermMinus40C"}};
    for (size_t i = 0; i < sizeof iso / sizeof iso[0]; i++) {
        cn_thermal_mesh mesh = {0};
        if (cn_thermal_stage_mesh_ref(s->thermal, iso[i].temp_c, 48, 32, &mesh) == CN_OK)
            cn_igtl_server_set_surface(s->igtl_server, iso[i].name, mesh.xyz, mesh.n_vertices,
                                       mesh.tri, mesh.n_triangles);
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
    return CN_OK;
}
