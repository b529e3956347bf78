/*
 * sim_config.c - the simulator's configuration: defaults, protocol presets, the
 * "sim" object of a session file, and range/consistency checks.
 *
 * One table (FIELDS) lists every numeric key with its struct offset and allowed
 * range; reading JSON, validating and the user guide's key table all follow it,
 * so a key cannot be readable but unchecked.
 */
#include "sim_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef enum { F_DBL, F_INT, F_U64 } ftype;

typedef struct {
    const char *key;
    ftype type;
    size_t off;
    double min, max;
} field;

#define D(k, lo, hi) {#k, F_DBL, offsetof(cn_sim_config, k), lo, hi}
#define I(k, lo, hi) {#k, F_INT, offsetof(cn_sim_config, k), lo, hi}

static const field FIELDS[] = {
    {"seed", F_U64, offsetof(cn_sim_config, seed), 0, 9007199254740991.0},
    I(width_px, 64, 4096),
    I(height_px, 64, 4096),
    D(depth_mm, 10, 150),
    D(fps, 1, 240),
    D(time_scale, 0.01, 1000),
    D(skin_mm, 0.5, 5),
    D(fat_mm, 0, 60),
    D(nerve_depth_mm, 2, 150),
    D(nerve_lateral_mm, -75, 75),
    D(nerve_diameter_mm, 1, 30),
    I(nerve_fascicles, 1, SIM_MAX_FASC),
    D(artery_depth_mm, 2, 150),
    D(artery_lateral_mm, -75, 75),
    D(artery_diameter_mm, 0, 20),
    D(needle_angle_deg, 5, 80),
    D(needle_diameter_mm, 0.3, 4),
    D(needle_active_mm, 1, 40),
    D(needle_target_offset_mm, 0, 40),
    D(needle_gain, 0.05, 1),
    D(needle_visible_mm, 0, 200),
    D(sector_deg, 20, 120),
    D(probe_radius_mm, 5, 100),
    I(interfaces, 0, 8),
    D(wall_depth_mm, 0, 20),
    D(approach_s, 1, 3600),
    D(withdraw_s, 0.5, 3600),
    D(release_thaw_s, 0, 600),
    D(idle_s, 0, 3600),
    D(ice_k_mm_per_sqrt_s, 0.01, 10),
    D(ice_rmax_mm, 0.5, 40),
    D(ice_thaw_mm_per_s, 0.001, 10),
    D(tracker_noise_mm, 0, 20),
    D(tracker_noise_deg, 0, 20),
    D(tracker_latency_ms, 0, 5000),
    D(gain_db, -60, 60),
    D(dynamic_range_db, 10, 120),
    D(attenuation_db_per_mm, 0, 5),
};
#undef D
#undef I
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const char *const KEYS[] = {
    "seed", "width_px", "height_px", "depth_mm", "fps", "time_scale", "skin_mm", "fat_mm",
    "nerve_depth_mm", "nerve_lateral_mm", "nerve_diameter_mm", "nerve_fascicles",
    "artery_depth_mm", "artery_lateral_mm", "artery_diameter_mm", "needle_angle_deg",
    "needle_diameter_mm", "needle_active_mm", "needle_target_offset_mm", "approach_s",
    "withdraw_s", "release_thaw_s", "idle_s", "protocol", "cycles", "ice_k_mm_per_sqrt_s",
    "ice_rmax_mm", "ice_thaw_mm_per_s", "tracker_noise_mm", "tracker_noise_deg", "tracker_latency_ms",
    "gain_db", "dynamic_range_db", "attenuation_db_per_mm", "needle_side", "needle_gain",
    "needle_visible_mm", "probe", "sector_deg", "probe_radius_mm", "interfaces",
    "wall_depth_mm", "console", NULL};

/* ------------------------------------------------------------------ presets */

typedef struct {
    const char *name;
    int n;
    cn_sim_cycle cycles[4];
} preset;

/* Protocols from docs (shared/docs/clinical.md), named and timed as the thermal
 * catalogue's (config/protocols.json: one set of names; test_thermal_catalog
 * checks that they agree). The last thaw may be 0: the ice then keeps melting at
 * ice_thaw_mm_per_s while the probe is withdrawn. */
static const preset PRESETS[] = {
    {"morton-150s", 1, {{150, 0}}},                     /* Cazzato 2016: one 150 s freeze */
    {"stump-6-4-6", 2, {{360, 240}, {360, 0}}},         /* von Falck 2022 */
    {"spermatic-2x90s", 2, {{90, 60}, {90, 0}}},        /* Calixte 2019: passive thaw between */
    {"phantom-3x2min", 3, {{120, 60}, {120, 60}, {120, 0}}}, /* NCT03449667: 3 x 2 min, 1 min defrost */
    {"intercostal-3min", 1, {{180, 0}}},                /* Ultrasound J 2022 */
    {"freeze-6min", 1, {{360, 0}}},                     /* benchmark case */
};
#define N_PRESETS (sizeof PRESETS / sizeof PRESETS[0])

static const char *const PRESET_NAMES[] = {"morton-150s", "stump-6-4-6", "spermatic-2x90s",
                                           "phantom-3x2min", "intercostal-3min", "freeze-6min",
                                           NULL};

const char *const *cn_sim_protocol_names(void) { return PRESET_NAMES; }

int cn_sim_config_set_protocol(cn_sim_config *c, const char *name)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(PRESETS[i].name, name) == 0) {
            c->n_cycles = PRESETS[i].n;
            memset(c->cycles, 0, sizeof c->cycles);
            memcpy(c->cycles, PRESETS[i].cycles, sizeof(cn_sim_cycle) * (size_t)PRESETS[i].n);
            cn_strlcpy(c->protocol, name, sizeof c->protocol);
            return CN_OK;
        }
    }
    return CN_ENOENT;
}

void cn_sim_config_defaults(cn_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->width_px = 640;
    c->height_px = 480;
    c->depth_mm = 40;
    c->fps = 20;
    c->time_scale = 1;
    c->skin_mm = 1.5;
    c->fat_mm = 6;
    c->nerve_depth_mm = 18;
    c->nerve_lateral_mm = 2;
    c->nerve_diameter_mm = 7;
    c->nerve_fascicles = 14;
    c->artery_depth_mm = 20;
    c->artery_lateral_mm = 12;
    c->artery_diameter_mm = 5;
    c->needle_angle_deg = 30;
    c->needle_diameter_mm = 1.5;
    c->needle_active_mm = 6;
    c->needle_target_offset_mm = 3;
    c->needle_right = false;
    c->needle_gain = 1;
    c->needle_visible_mm = 0;
    c->curvilinear = false;
    c->sector_deg = 60;
    c->probe_radius_mm = 40;
    c->interfaces = 0;
    c->wall_depth_mm = 0;
    c->approach_s = 20;
    c->withdraw_s = 5;
    /* A cryoprobe is stuck in the ice it made: consoles defrost it before it comes
     * out, and pulling a frozen probe tears tissue. The catalogue's protocols end on
     * their last freeze (their steps are the treatment), so the simulated console
     * adds this thaw when the last cycle has none: 20 s, the short end of the 20-30 s
     * thaw a probe is given between freezes (docs/user-guide.md). */
    c->release_thaw_s = 20;
    c->idle_s = 2;
    cn_sim_config_set_protocol(c, "morton-150s");
    c->ice_k_mm_per_sqrt_s = 0.9;
    c->ice_rmax_mm = 9;
    c->ice_thaw_mm_per_s = 0.05;
    c->tracker_noise_mm = 0.2;
    c->tracker_noise_deg = 0.2;
    c->tracker_latency_ms = 30;
    c->gain_db = 0;
    c->dynamic_range_db = 60;
    c->attenuation_db_per_mm = 0.5;
}

/* ------------------------------------------------------------------ hard scenes */

/* Whether (x, y) mm lies at least a margin inside the curvilinear fan. */
static bool inside_fan(const cn_sim_config *c, double x, double y)
{
    if (!c->curvilinear)
        return true;
    double sp = c->depth_mm / c->height_px, ax = 0.5 * c->width_px * sp, ay = -c->probe_radius_mm;
    double dx = x - ax, dy = y - ay, r = sqrt(dx * dx + dy * dy), a = atan2(dx, dy);
    return r >= c->probe_radius_mm + 1 && r <= c->probe_radius_mm + c->depth_mm - 1 &&
           fabs(a) <= 0.5 * c->sector_deg * SIM_PI / 180 - 0.03;
}

int cn_sim_config_hard_scene(uint64_t k, cn_sim_config *c)
{
    cn_rng r;
    cn_rng_seed(&r, k * 7919 + 17);
    for (int tries = 0; tries < 200; tries++) {
        cn_sim_config_defaults(c);
        c->seed = k * 131 + (uint64_t)tries;
        c->depth_mm = 30 + 20 * cn_rng_uniform(&r);
        c->needle_right = cn_rng_uniform(&r) < 0.5;
        c->needle_angle_deg = 5 + 55 * cn_rng_uniform(&r);
        c->curvilinear = cn_rng_uniform(&r) < 0.4;
        c->sector_deg = 50 + 25 * cn_rng_uniform(&r);
        c->probe_radius_mm = 20 + 40 * cn_rng_uniform(&r);
        c->needle_gain = 0.4 + 0.6 * cn_rng_uniform(&r);
        c->needle_visible_mm = cn_rng_uniform(&r) < 0.5 ? 0 : 6 + 14 * cn_rng_uniform(&r);
        c->interfaces = (int)(6 * cn_rng_uniform(&r));
        c->wall_depth_mm = cn_rng_uniform(&r) < 0.4 ? 1.5 + 2.5 * cn_rng_uniform(&r) : 0;
        c->needle_diameter_mm = 0.5 + 1.5 * cn_rng_uniform(&r);
        c->nerve_depth_mm = 0.3 * c->depth_mm + 0.4 * c->depth_mm * cn_rng_uniform(&r);
        c->nerve_lateral_mm = -8 + 16 * cn_rng_uniform(&r);
        c->artery_lateral_mm = (c->nerve_lateral_mm > 0 ? -1 : 1) * 12;
        c->artery_depth_mm = c->nerve_depth_mm + 2;
        if (cn_sim_config_validate(c, NULL, 0) != CN_OK)
            continue;
        double sp = c->depth_mm / c->height_px, hw = 0.5 * c->width_px * sp;
        double th = c->needle_angle_deg * SIM_PI / 180, side = c->needle_right ? -1 : 1;
        double tx = hw + c->nerve_lateral_mm - side * cos(th) * c->needle_target_offset_mm;
        double ty = c->nerve_depth_mm - sin(th) * c->needle_target_offset_mm;
        if (inside_fan(c, tx, ty))
            return CN_OK;
    }
    return CN_ERANGE;
}

/* ------------------------------------------------------------------ validation */

static double get_field(const cn_sim_config *c, const field *f)
{
    const char *p = (const char *)c + f->off;
    switch (f->type) {
    case F_DBL: return *(const double *)(const void *)p;
    case F_INT: return *(const int *)(const void *)p;
    case F_U64: return (double)*(const uint64_t *)(const void *)p;
    }
    return 0;
}

/* Checks everything; on failure names the offending key in *key (for the JSON line). */
static int validate(const cn_sim_config *c, const char **key, char *msg, size_t len)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (FIELDS[i].type == F_U64)
            continue; /* any seed is fine in code; JSON limits it to exact integers */
        double v = get_field(c, &FIELDS[i]);
        if (!isfinite(v) || v < FIELDS[i].min || v > FIELDS[i].max) {
            *key = FIELDS[i].key;
            snprintf(msg, len, "%g is outside the allowed range [%g, %g]", v, FIELDS[i].min,
                     FIELDS[i].max);
            return CN_ERANGE;
        }
    }
    double sp = c->depth_mm / c->height_px;
    double half_w = 0.5 * c->width_px * sp;
    double nrx = 0.5 * c->nerve_diameter_mm, nry = 0.75 * nrx;
    *key = "cycles";
    if (c->n_cycles < 1 || c->n_cycles > CN_SIM_MAX_CYCLES) {
        snprintf(msg, len, "needs 1 to %d freeze/thaw cycles, has %d", CN_SIM_MAX_CYCLES,
                 c->n_cycles);
        return CN_ERANGE;
    }
    for (int i = 0; i < c->n_cycles; i++) {
        if (!(c->cycles[i].freeze_s >= 1 && c->cycles[i].freeze_s <= 7200) ||
            !(c->cycles[i].thaw_s >= 0 && c->cycles[i].thaw_s <= 7200)) {
            snprintf(msg, len, "cycle %d: freeze must be in [1, 7200] s and thaw in [0, 7200] s",
                     i + 1);
            return CN_ERANGE;
        }
    }
    *key = "nerve_depth_mm";
    if (c->nerve_depth_mm - nry < c->skin_mm || c->nerve_depth_mm + nry > c->depth_mm) {
        snprintf(msg, len, "the nerve (%.1f mm deep, %.1f mm tall) must lie below the skin and "
                 "within the imaging depth %.1f mm", c->nerve_depth_mm, 2 * nry, c->depth_mm);
        return CN_ERANGE;
    }
    *key = "nerve_lateral_mm";
    if (fabs(c->nerve_lateral_mm) + nrx > half_w) {
        snprintf(msg, len, "the nerve must lie inside the image (|lateral| + radius <= %.1f mm)",
                 half_w);
        return CN_ERANGE;
    }
    if (c->artery_diameter_mm > 0) {
        double ar = 0.5 * c->artery_diameter_mm * 1.05;
        *key = "artery_depth_mm";
        if (c->artery_depth_mm - ar < c->skin_mm || c->artery_depth_mm + ar > c->depth_mm) {
            snprintf(msg, len, "the artery must lie below the skin and within the imaging depth");
            return CN_ERANGE;
        }
        *key = "artery_lateral_mm";
        if (fabs(c->artery_lateral_mm) + ar > half_w) {
            snprintf(msg, len, "the artery must lie inside the image (|lateral| + radius <= %.1f mm)",
                     half_w);
            return CN_ERANGE;
        }
        double dx = c->artery_lateral_mm - c->nerve_lateral_mm;
        double dy = c->artery_depth_mm - c->nerve_depth_mm;
        if (sqrt(dx * dx + dy * dy) < ar + nrx + 0.5) {
            snprintf(msg, len, "the artery overlaps the nerve: keep their centres at least %.1f mm "
                     "apart", ar + nrx + 0.5);
            return CN_ERANGE;
        }
    }
    /* The tip must stop inside the image, below the skin. */
    double th = c->needle_angle_deg * SIM_PI / 180.0;
    double side = c->needle_right ? -1 : 1;
    double tip_x = half_w + c->nerve_lateral_mm - side * cos(th) * c->needle_target_offset_mm;
    double tip_y = c->nerve_depth_mm - sin(th) * c->needle_target_offset_mm;
    *key = "needle_target_offset_mm";
    if (tip_y < c->skin_mm + 1 || tip_x < 0.5 || tip_x > 2 * half_w - 0.5) {
        snprintf(msg, len, "with this offset the needle tip (%.1f, %.1f) mm stops outside the "
                 "image or in the skin", tip_x, tip_y);
        return CN_ERANGE;
    }
    return CN_OK;
}

int cn_sim_config_validate(const cn_sim_config *c, char *err, size_t err_len)
{
    const char *key = "";
    char msg[256];
    int rc = validate(c, &key, msg, sizeof msg);
    if (rc != CN_OK && err && err_len)
        snprintf(err, err_len, "sim.%s: %s", key, msg);
    return rc;
}

/* ------------------------------------------------------------------ JSON */

int cn_sim_config_from_json(const cn_json *doc, const char *path, cn_sim_config *c, char *err,
                            size_t err_len)
{
    char dummy[8];
    if (!err || !err_len) {
        err = dummy;
        err_len = sizeof dummy;
    }
    if (!path)
        path = "";
    int rc = cn_json_check_keys(doc, path, KEYS, err, err_len);
    if (rc == CN_ENOENT)
        return CN_OK; /* no section: the defaults stand */
    if (rc != CN_OK)
        return rc;
    const char *dot = *path ? "." : "";
    char kp[256];
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *f = &FIELDS[i];
        snprintf(kp, sizeof kp, "%s%s%s", path, dot, f->key);
        char *p = (char *)c + f->off;
        if (f->type == F_DBL) {
            double v;
            rc = cn_json_get_number(doc, kp, f->min, f->max, &v, err, err_len);
            if (rc == CN_OK)
                *(double *)(void *)p = v;
        } else {
            long v;
            rc = cn_json_get_int(doc, kp, (long)f->min, (long)f->max, &v, err, err_len);
            if (rc == CN_OK) {
                if (f->type == F_INT)
                    *(int *)(void *)p = (int)v;
                else
                    *(uint64_t *)(void *)p = (uint64_t)v;
            }
        }
        if (rc != CN_OK && rc != CN_ENOENT)
            return rc;
    }
    /* the words: needle_side "left"|"right", probe "linear"|"curvilinear", console
     * "tells"|"silent" */
    static const struct {
        const char *key, *a, *b;
        size_t off;
    } words[] = {{"needle_side", "left", "right", offsetof(cn_sim_config, needle_right)},
                 {"probe", "linear", "curvilinear", offsetof(cn_sim_config, curvilinear)},
                 {"console", "tells", "silent", offsetof(cn_sim_config, console_silent)}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char wv[32];
        snprintf(kp, sizeof kp, "%s%s%s", path, dot, words[i].key);
        rc = cn_json_get_string(doc, kp, wv, sizeof wv, err, err_len);
        if (rc == CN_ENOENT)
            continue;
        if (rc != CN_OK)
            return rc;
        bool *dst = (bool *)(void *)((char *)c + words[i].off);
        if (strcmp(wv, words[i].a) == 0)
            *dst = false;
        else if (strcmp(wv, words[i].b) == 0)
            *dst = true;
        else {
            cn_json_error(doc, kp, err, err_len, "expected \"%s\" or \"%s\", got \"%s\"",
                          words[i].a, words[i].b, wv);
            return CN_EINVAL;
        }
    }
    /* protocol: a preset name, or "custom" with cycles */
    char proto[64] = "";
    char pp[256], cp[256];
    snprintf(pp, sizeof pp, "%s%sprotocol", path, dot);
    snprintf(cp, sizeof cp, "%s%scycles", path, dot);
    rc = cn_json_get_string(doc, pp, proto, sizeof proto, err, err_len);
    if (rc != CN_OK && rc != CN_ENOENT)
        return rc;
    bool has_cycles = cn_json_has(doc, cp);
    if (has_cycles && proto[0] && strcmp(proto, "custom") != 0) {
        /* "cycles" given in a layer above the one that named the preset (the shipped
         * session names morton-150s): the user's cycles are meant, i.e. custom */
        const char *lp = NULL, *lc = NULL;
        int line, ip = -1, ic = -1;
        if (cn_json_origin(doc, pp, &lp, &line) == CN_OK &&
            cn_json_origin(doc, cp, &lc, &line) == CN_OK && lp && lc) {
            for (int i = 0; i < cn_json_layers(doc); i++) {
                const char *l = cn_json_layer_label(doc, i);
                if (l && strcmp(l, lp) == 0) ip = i;
                if (l && strcmp(l, lc) == 0) ic = i;
            }
        }
        if (ic > ip && ip >= 0)
            cn_strlcpy(proto, "custom", sizeof proto);
    }
    if (proto[0] && strcmp(proto, "custom") != 0) {
        if (has_cycles) {
            cn_json_error(doc, cp, err, err_len,
                          "give either a preset \"protocol\" or \"cycles\" (with protocol "
                          "\"custom\"), not both");
            return CN_EINVAL;
        }
        if (cn_sim_config_set_protocol(c, proto) != CN_OK) {
            cn_json_error(doc, pp, err, err_len,
                          "unknown protocol \"%s\" (presets: morton-150s, stump-6-4-6, "
                          "spermatic-2x90s, phantom-3x2min, intercostal-3min, freeze-6min; "
                          "or \"custom\" with \"cycles\")", proto);
            return CN_EINVAL;
        }
    } else if (proto[0] && !has_cycles) {
        cn_json_error(doc, pp, err, err_len, "protocol \"custom\" needs \"cycles\": [[freeze_s, thaw_s], ...]");
        return CN_EINVAL;
    }
    if (has_cycles) {
        int n = cn_json_array_size(doc, cp);
        if (n < 1 || n > CN_SIM_MAX_CYCLES) {
            cn_json_error(doc, cp, err, err_len,
                          "expected an array of 1 to %d [freeze_s, thaw_s] pairs", CN_SIM_MAX_CYCLES);
            return CN_EINVAL;
        }
        for (int i = 0; i < n; i++) {
            char ep[300];
            double v[2];
            snprintf(ep, sizeof ep, "%s[%d]", cp, i);
            rc = cn_json_get_numbers(doc, ep, v, 2, err, err_len);
            if (rc != CN_OK)
                return rc;
            if (v[0] < 1 || v[0] > 7200 || v[1] < 0 || v[1] > 7200) {
                cn_json_error(doc, ep, err, err_len,
                              "freeze_s must be in [1, 7200] and thaw_s in [0, 7200], got [%g, %g]",
                              v[0], v[1]);
                return CN_EINVAL;
            }
            c->cycles[i].freeze_s = v[0];
            c->cycles[i].thaw_s = v[1];
        }
        for (int i = n; i < CN_SIM_MAX_CYCLES; i++)
            c->cycles[i] = (cn_sim_cycle){0, 0};
        c->n_cycles = n;
        cn_strlcpy(c->protocol, "custom", sizeof c->protocol);
    }
    /* consistency (the nerve inside the image, ...): name the key and its line */
    const char *key = "";
    char msg[256];
    rc = validate(c, &key, msg, sizeof msg);
    if (rc != CN_OK) {
        snprintf(kp, sizeof kp, "%s%s%s", path, dot, key);
        if (cn_json_has(doc, kp))
            cn_json_error(doc, kp, err, err_len, "%s", msg);
        else
            snprintf(err, err_len, "%s: %s: %s", cn_json_label(doc), kp, msg);
        return CN_EINVAL;
    }
    return CN_OK;
}
