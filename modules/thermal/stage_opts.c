/*
 * stage_opts.c - the thermal stage's options: the catalogue's probe, protocol and
 * tissue by name, layered catalogues (shipped, the user's, the session's files),
 * and the ensemble's span, kept within the calibration, the gas's physics and what
 * a model takes. The stage itself is stage.c.
 */
#include "thermal_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    /* the probe's surface as calibrated in this tissue, when it has its own fit
     * there (e.g. aerated lung draws less heat: the wall runs colder) */
    cn_cryoprobe_in_tissue(&o->probe, t->name);
    cn_thermal_fit_opts_default(&o->fit);
    if (o->probe.surface_temp_sd_c > 0) {
        /* the ensemble (and the viewer's band) spans that calibration's uncertainty */
        o->fit.offset_min_c = -2 * o->probe.surface_temp_sd_c;
        o->fit.offset_max_c = 2 * o->probe.surface_temp_sd_c;
        o->fit.prior_sd_c = o->probe.surface_temp_sd_c;
        /* No member colder than the gas can make the probe: a Joule-Thomson tip is
         * no colder than its gas's boiling point (thermal.md: N2O about -88 C, firm,
         * gas physics). An N2O ensemble spanned walls to -148 C: a rim larger than
         * nominal was fitted there and the -20 C radius overstated by up to 1.8 mm
         * (+39 %, thermal audit F7), the unsafe direction for coverage. */
        const double floor_c = cn_cryoprobe_gas_floor_c(o->probe.gas);
        if (o->probe.surface_temp_c + o->fit.offset_min_c < floor_c)
            o->fit.offset_min_c = fmin(0, floor_c - o->probe.surface_temp_c);
        /* and within what a model takes (|offset| <= 150 C) with a wall that still
         * freezes (-10 C at the warmest): a user's catalogue with an uncertainty of 100
         * made the session fail at start with "surface_offset_c (|x| <= 150)", naming
         * neither file nor probe (thermal audit F10) */
        o->fit.offset_min_c = fmax(o->fit.offset_min_c, -150);
        o->fit.offset_max_c =
            fmin(o->fit.offset_max_c, fmax(0, fmin(150, -10 - o->probe.surface_temp_c)));
    }
    o->fit.min_freeze_s = 1200;
    o->fit.live_split = true; /* a frame pays half a step of the members it advances */
    o->fit_enabled = true;
    o->max_members_per_frame = 2; /* member steps per frame beyond the two carrying the curves */
    o->h3_mm = 1.0;
    o->spot_tol_mm = 1.5;
    o->spot_tol_deg = 5;
    o->skin_depth_mm = 0;
    return CN_OK;
}

/* The user's catalogue file name in user_dir, when it exists (NULL otherwise). */
static const char *user_catalogue(const char *user_dir, const char *name, char *buf, size_t len)
{
    if (!user_dir || !user_dir[0])
        return NULL;
    snprintf(buf, len, "%s/%s", user_dir, name);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

int cn_thermal_stage_opts_from_json(cn_thermal_stage_opts *o, const cn_json *cfg,
                                    const char *path, const char *config_dir,
                                    const char *user_dir, char *err, size_t err_len)
{
    static const char *const keys[] = {"probe", "protocol", "tissue", "fit", "members_per_frame",
                                       "grid3d_mm", "grid3d_catch_up_ms", "probes_file",
                                       "protocols_file", "tissues_file", NULL};
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
    /* the user's catalogue (~/.config/cryonav), as `cryonav thermal --list` shows it:
     * before, a protocol listed there was unknown to `run` */
    char u1[1100], u2[1100], u3[1100];
    if (!rc)
        rc = cn_thermal_catalog_load(
            cat, user_catalogue(user_dir, "cryoprobes.json", u1, sizeof u1),
            user_catalogue(user_dir, "protocols.json", u2, sizeof u2),
            user_catalogue(user_dir, "tissues.json", u3, sizeof u3), err, err_len);
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
        snprintf(key, sizeof key, "%s.grid3d_mm", path);
        rc = cn_json_get_number(cfg, key, 0.5, 3, &o->h3_mm, err, err_len);
        if (rc && rc != CN_ENOENT)
            return rc;
        snprintf(key, sizeof key, "%s.grid3d_catch_up_ms", path);
        rc = cn_json_get_number(cfg, key, 0, 1e6, &o->grid_catch_up_ms, err, err_len);
        if (rc && rc != CN_ENOENT)
            return rc;
    }
    return CN_OK;
}
