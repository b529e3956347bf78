/*
 * stage.c - the thermal model as a pipeline stage.
 *
 * Per analysed frame: find the freeze start (an explicit call, a FREEZE guidance
 * phase already on the frame, or the first seen ice back-dated by the nominal
 * model's growth curve), step the ensemble to the frame's session time (a bounded
 * number of member steps per frame so the analysis thread never stalls), feed it
 * the rim points the segmenter found, and write the 0 / -20 / -40 C isotherms of
 * the image plane into f->analysis.iso. The image plane is placed in the probe
 * frame with the tracked poses, or with the detected in-plane needle when there is
 * no tracking.
 */
#include "thermal/thermal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GROWTH_N 241 /* nominal 0 C radius at 0, 1, ..., 240 s of freezing */

typedef struct {
    cn_thermal_stage_opts o;
    cn_thermal_ensemble *ens;
    bool started;
    int64_t t0_ns;
    double growth_mm[GROWTH_N];
    cn_thermal_obs obs[CN_ICE_PTS_MAX];
    int errors_logged;
} thermal_stage;

int cn_thermal_stage_opts_from_catalog(cn_thermal_stage_opts *o, const cn_thermal_catalog *c,
                                       const char *probe, const char *protocol,
                                       const char *tissue, char *err, size_t err_len)
{
    memset(o, 0, sizeof *o);
    probe = probe ? probe : "17G-argon-2cm";
    protocol = protocol ? protocol : "morton-150s";
    tissue = tissue ? tissue : "standard";
    const cn_cryoprobe *p = cn_thermal_catalog_probe(c, probe);
    const cn_protocol *q = cn_thermal_catalog_protocol(c, protocol);
    const cn_tissue *t = cn_thermal_catalog_tissue(c, tissue);
    if (!p || !q || !t) {
        snprintf(err, err_len, "thermal stage: unknown %s \"%s\"", !p ? "probe" : !q ? "protocol" : "tissue",
                 !p ? probe : !q ? protocol : tissue);
        return CN_ENOENT;
    }
    o->probe = *p;
    o->protocol = *q;
    o->tissue = *t;
    cn_thermal_fit_opts_default(&o->fit);
    o->fit_enabled = true;
    o->max_members_per_frame = 1;
    o->time_scale = 1;
    return CN_OK;
}

int cn_thermal_stage_opts_from_json(cn_thermal_stage_opts *o, const cn_json *cfg,
                                    const char *path, const char *config_dir, char *err,
                                    size_t err_len)
{
    static const char *const keys[] = {"probe", "protocol", "tissue", "fit", "members_per_frame",
                                       "time_scale", "probes_file", "protocols_file",
                                       "tissues_file", NULL};
    char names[3][CN_THERMAL_NAME_MAX] = {"17G-argon-2cm", "morton-150s", "standard"};
    char files[3][512] = {"", "", ""};
    const char *nk[3] = {"probe", "protocol", "tissue"};
    const char *fk[3] = {"probes_file", "protocols_file", "tissues_file"};
    char key[160];
    if (cfg && cn_json_has(cfg, path)) {
        int rc = cn_json_check_keys(cfg, path, keys, err, err_len);
        if (rc)
            return rc;
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "%s.%s", path, nk[k]);
            rc = cn_json_get_string(cfg, key, names[k], sizeof names[k], err, err_len);
            if (rc && rc != CN_ENOENT)
                return rc;
            snprintf(key, sizeof key, "%s.%s", path, fk[k]);
            rc = cn_json_get_string(cfg, key, files[k], sizeof files[k], err, err_len);
            if (rc && rc != CN_ENOENT)
                return rc;
        }
    }
    cn_thermal_catalog *cat = calloc(1, sizeof *cat);
    if (!cat) {
        snprintf(err, err_len, "thermal: out of memory");
        return CN_ENOMEM;
    }
    char p1[1024], p2[1024], p3[1024];
    snprintf(p1, sizeof p1, "%s/cryoprobes.json", config_dir ? config_dir : "config");
    snprintf(p2, sizeof p2, "%s/protocols.json", config_dir ? config_dir : "config");
    snprintf(p3, sizeof p3, "%s/tissues.json", config_dir ? config_dir : "config");
    int rc = cn_thermal_catalog_load(cat, p1, p2, p3, err, err_len);
    if (!rc)
        rc = cn_thermal_catalog_load(cat, files[0][0] ? files[0] : NULL, files[1][0] ? files[1] : NULL,
                                     files[2][0] ? files[2] : NULL, err, err_len);
    if (!rc)
        rc = cn_thermal_stage_opts_from_catalog(o, cat, names[0], names[1], names[2], err, err_len);
    free(cat);
    if (rc)
        return rc;
    if (cfg && cn_json_has(cfg, path)) {
        bool fit = true;
        snprintf(key, sizeof key, "%s.fit", path);
        rc = cn_json_get_bool(cfg, key, &fit, err, err_len);
        if (rc && rc != CN_ENOENT)
            return rc;
        o->fit_enabled = fit;
        long mpf = o->max_members_per_frame;
        snprintf(key, sizeof key, "%s.members_per_frame", path);
        rc = cn_json_get_int(cfg, key, 0, 64, &mpf, err, err_len);
        if (rc && rc != CN_ENOENT)
            return rc;
        o->max_members_per_frame = (int)mpf;
        snprintf(key, sizeof key, "%s.time_scale", path);
        rc = cn_json_get_number(cfg, key, 0.01, 1000, &o->time_scale, err, err_len);
        if (rc && rc != CN_ENOENT)
            return rc;
    }
    return CN_OK;
}

static int process(void *self, cn_frame *f);

int cn_thermal_stage_new(const cn_thermal_stage_opts *o, cn_stage *out, char *err, size_t err_len)
{
    if (!o || !out) {
        snprintf(err, err_len, "thermal stage: missing options");
        return CN_EINVAL;
    }
    if (!(o->time_scale > 0) || !isfinite(o->time_scale) || o->time_scale > 1000) {
        snprintf(err, err_len, "thermal stage: time_scale must be in (0, 1000]");
        return CN_EINVAL;
    }
    thermal_stage *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "thermal stage: out of memory");
        return CN_ENOMEM;
    }
    s->o = *o;
    cn_thermal_fit_opts fo = o->fit;
    if (!o->fit_enabled) {
        /* one member with the nominal parameters */
        fo.n_offsets = 1;
        fo.n_perfusions = 1;
        fo.offset_min_c = fo.offset_max_c = 0;
        fo.perf_min_per_s = fo.perf_max_per_s = o->tissue.perfusion_per_s;
    }
    s->ens = cn_thermal_ensemble_new(&o->probe, &o->protocol, &o->tissue, &fo, err, err_len);
    if (!s->ens) {
        free(s);
        return CN_EINVAL;
    }
    /* the nominal growth curve, to back-date a freeze first noticed by its ice */
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = fo.h_mm;
    mo.dt_max_s = 1;
    cn_thermal_model *m = cn_thermal_model_new(&o->probe, &o->protocol, &o->tissue, &mo, err, err_len);
    if (!m) {
        cn_thermal_ensemble_free(s->ens);
        free(s);
        return CN_EINVAL;
    }
    double zc = -o->probe.active_length_mm / 2;
    for (int k = 0; k < GROWTH_N; k++) {
        cn_thermal_model_advance_to(m, k);
        s->growth_mm[k] = cn_thermal_model_radius_at(m, 0, zc);
    }
    cn_thermal_model_free(m);
    out->name = "thermal";
    out->self = s;
    out->process = process;
    return CN_OK;
}

void cn_thermal_stage_free(void *self)
{
    thermal_stage *s = self;
    if (!s)
        return;
    cn_thermal_ensemble_free(s->ens);
    free(s);
}

void cn_thermal_stage_start(void *self, int64_t t_freeze_start_ns)
{
    thermal_stage *s = self;
    if (!s)
        return;
    s->started = true;
    s->t0_ns = t_freeze_start_ns;
}

const cn_thermal_ensemble *cn_thermal_stage_ensemble(void *self)
{
    thermal_stage *s = self;
    return s ? s->ens : NULL;
}

bool cn_thermal_stage_started(void *self, int64_t *t_freeze_start_ns)
{
    thermal_stage *s = self;
    if (!s || !s->started)
        return false;
    if (t_freeze_start_ns)
        *t_freeze_start_ns = s->t0_ns;
    return true;
}

/* Freeze time (s) at which the nominal model's ice reaches radius r_mm. */
static double backdate_s(const thermal_stage *s, double r_mm)
{
    for (int k = 1; k < GROWTH_N; k++)
        if (s->growth_mm[k] >= r_mm) {
            double a = s->growth_mm[k - 1], b = s->growth_mm[k];
            return k - 1 + (b > a ? (r_mm - a) / (b - a) : 0);
        }
    return GROWTH_N - 1;
}

static int process(void *self, cn_frame *f)
{
    thermal_stage *s = self;
    f->analysis.n_iso = 0;
    cn_thermal_plane pl;
    bool have_plane = cn_thermal_plane_from_frame(f, &pl) == CN_OK;
    if (!have_plane && f->analysis.needle.found) {
        cn_thermal_plane_from_needle(f->analysis.needle.tip_mm, f->analysis.needle.dir, &pl);
        have_plane = true;
    }
    double ts = s->o.time_scale;
    if (!s->started) {
        const cn_guidance_state *g = &f->analysis.guidance;
        if (g->phase == CN_PHASE_FREEZE && isfinite(g->phase_elapsed_s)) {
            cn_thermal_stage_start(s, f->t_acq_ns - (int64_t)(g->phase_elapsed_s / ts * 1e9));
            cn_log_info(s->o.log, "thermal", "freeze started %.1f s ago (guidance): %s, %s, %s",
                        g->phase_elapsed_s, s->o.probe.name, s->o.protocol.name, s->o.tissue.name);
        } else if (have_plane && f->analysis.ice.found && f->analysis.ice.n >= 3) {
            int n = cn_thermal_obs_from_front(&f->analysis.ice, &pl, 0, s->obs, CN_ICE_PTS_MAX);
            double rs[CN_ICE_PTS_MAX];
            for (int i = 0; i < n; i++)
                rs[i] = s->obs[i].r_mm;
            /* median distance from the axis */
            for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && rs[j - 1] > rs[j]; j--) {
                    double t = rs[j];
                    rs[j] = rs[j - 1];
                    rs[j - 1] = t;
                }
            double el = n > 0 ? backdate_s(s, rs[n / 2]) : 0;
            cn_thermal_stage_start(s, f->t_acq_ns - (int64_t)(el / ts * 1e9));
            cn_log_info(s->o.log, "thermal",
                        "ice seen (%.1f mm from the probe axis): freeze taken to have started "
                        "%.1f s ago by the nominal model",
                        n > 0 ? rs[n / 2] : 0.0, el);
        } else {
            return CN_OK;
        }
    }
    double t = (double)(f->t_acq_ns - s->t0_ns) * 1e-9 * ts;
    if (t < 0)
        return CN_OK;
    /* long after the protocol the ice has melted: stop stepping, so a clock jump or
     * an all-day session never turns into minutes of catch-up in one frame */
    double tmax = cn_protocol_duration_s(&s->o.protocol) + 1800;
    if (t > tmax)
        t = tmax;
    int rc = cn_thermal_ensemble_advance_to(s->ens, t, s->o.max_members_per_frame);
    if (rc)
        return rc;
    if (!have_plane)
        return CN_OK;
    if (s->o.fit_enabled && f->analysis.ice.found && f->analysis.ice.n > 0) {
        double tobs = f->analysis.ice.t_ns ? (double)(f->analysis.ice.t_ns - s->t0_ns) * 1e-9 * ts : t;
        int n = cn_thermal_obs_from_front(&f->analysis.ice, &pl, tobs, s->obs, CN_ICE_PTS_MAX);
        if (n > 0)
            cn_thermal_ensemble_observe(s->ens, s->obs, n);
    }
    static const float temps[3] = {0, -20, -40};
    for (int k = 0; k < 3; k++) {
        rc = cn_thermal_ensemble_plane_isotherm(s->ens, &pl, temps[k], &f->analysis.iso[k]);
        if (rc)
            return rc;
    }
    f->analysis.n_iso = 3;
    return CN_OK;
}
