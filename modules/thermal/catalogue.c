/*
 * catalogue.c - cryoprobes, freeze/thaw protocols and tissue property sets read
 * from config/cryoprobes.json, config/protocols.json and config/tissues.json.
 *
 * The idea: everything a clinician may want to change lives in JSON, so a new
 * probe or protocol needs no recompilation. Each entry is checked key by key
 * (unknown keys are typos, missing keys and out-of-range values are errors) and a
 * rejected entry names file:line: key: reason. Entries are appended, and a later
 * entry with the same name replaces the earlier one, so a user file can extend or
 * override the shipped catalogue.
 */
#include "thermal/thermal.h"

#include <math.h>
#include <string.h>
#include <strings.h>

void cn_tissue_standard(cn_tissue *t)
{
    memset(t, 0, sizeof *t);
    cn_strlcpy(t->name, "standard", sizeof t->name);
    t->k_unfrozen_w_mk = 0.5;
    t->k_frozen_w_mk = 2.0;
    t->c_unfrozen_j_kgk = 3600;
    t->c_frozen_j_kgk = 1800;
    t->rho_unfrozen_kg_m3 = 1000;
    t->rho_frozen_kg_m3 = 998;
    t->latent_j_m3 = 250e6;
    t->t_liquidus_c = -1;
    t->t_solidus_c = -8;
    t->perfusion_per_s = 0.0005;
    t->c_blood_j_kgk = 3600;
    t->rho_blood_kg_m3 = 1000;
    t->t_arterial_c = 37;
    t->t_initial_c = 37;
    t->metabolic_w_m3 = 420;
}

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            snprintf(err, err_len, __VA_ARGS__);                                                  \
            return CN_EINVAL;                                                                     \
        }                                                                                         \
    } while (0)

static bool in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

int cn_tissue_validate(const cn_tissue *t, char *err, size_t err_len)
{
    CHECK(t, "tissue: missing");
    const char *n = t->name;
    CHECK(in(t->k_unfrozen_w_mk, 0.01, 100), "tissue %s: k_unfrozen_w_mk must be in [0.01, 100]", n);
    CHECK(in(t->k_frozen_w_mk, 0.01, 100), "tissue %s: k_frozen_w_mk must be in [0.01, 100]", n);
    CHECK(in(t->c_unfrozen_j_kgk, 100, 10000), "tissue %s: c_unfrozen_j_kgk must be in [100, 10000]", n);
    CHECK(in(t->c_frozen_j_kgk, 100, 10000), "tissue %s: c_frozen_j_kgk must be in [100, 10000]", n);
    CHECK(in(t->rho_unfrozen_kg_m3, 100, 5000), "tissue %s: rho_unfrozen_kg_m3 must be in [100, 5000]", n);
    CHECK(in(t->rho_frozen_kg_m3, 100, 5000), "tissue %s: rho_frozen_kg_m3 must be in [100, 5000]", n);
    CHECK(in(t->latent_j_m3, 0, 1e9), "tissue %s: latent_j_m3 must be in [0, 1e9]", n);
    CHECK(in(t->t_liquidus_c, -50, 10), "tissue %s: t_liquidus_c must be in [-50, 10]", n);
    CHECK(in(t->t_solidus_c, -60, 10), "tissue %s: t_solidus_c must be in [-60, 10]", n);
    CHECK(t->t_solidus_c <= t->t_liquidus_c, "tissue %s: t_solidus_c must not exceed t_liquidus_c", n);
    CHECK(in(t->perfusion_per_s, 0, 0.1), "tissue %s: perfusion_per_s must be in [0, 0.1]", n);
    CHECK(in(t->c_blood_j_kgk, 100, 10000), "tissue %s: c_blood_j_kgk must be in [100, 10000]", n);
    CHECK(in(t->rho_blood_kg_m3, 100, 5000), "tissue %s: rho_blood_kg_m3 must be in [100, 5000]", n);
    CHECK(in(t->t_arterial_c, 0, 45), "tissue %s: t_arterial_c must be in [0, 45]", n);
    CHECK(in(t->t_initial_c, 0, 45), "tissue %s: t_initial_c must be in [0, 45]", n);
    CHECK(t->t_initial_c > t->t_liquidus_c, "tissue %s: t_initial_c must be above t_liquidus_c", n);
    CHECK(in(t->metabolic_w_m3, 0, 1e5), "tissue %s: metabolic_w_m3 must be in [0, 1e5]", n);
    return CN_OK;
}

int cn_cryoprobe_validate(const cn_cryoprobe *p, char *err, size_t err_len)
{
    CHECK(p, "cryoprobe: missing");
    const char *n = p->name;
    CHECK(n[0], "cryoprobe: empty name");
    CHECK(in(p->outer_diameter_mm, 0.1, 10), "cryoprobe %s: outer_diameter_mm must be in [0.1, 10]", n);
    CHECK(in(p->active_length_mm, 0.5, 100), "cryoprobe %s: active_length_mm must be in [0.5, 100]", n);
    CHECK(in(p->surface_temp_c, -200, -5), "cryoprobe %s: surface_temp_c must be in [-200, -5]", n);
    CHECK(in(p->ramp_s, 0, 120), "cryoprobe %s: ramp_s must be in [0, 120]", n);
    CHECK(p->bc == CN_PROBE_BC_DIRICHLET || p->bc == CN_PROBE_BC_ROBIN, "cryoprobe %s: unknown boundary", n);
    CHECK(p->bc != CN_PROBE_BC_ROBIN || in(p->h_w_m2k, 1, 1e6),
          "cryoprobe %s: h_w_m2k must be in [1, 1e6] for a robin boundary", n);
    CHECK(in(p->active_thaw_temp_c, 0, 80), "cryoprobe %s: active_thaw_temp_c must be in [0, 80]", n);
    CHECK(in(p->surface_temp_sd_c, 0, 100), "cryoprobe %s: surface_temp_sd_c must be in [0, 100]", n);
    CHECK(p->n_by_tissue >= 0 && p->n_by_tissue <= CN_PROBE_TISSUES_MAX,
          "cryoprobe %s: surface_by_tissue holds at most %d tissues", n, CN_PROBE_TISSUES_MAX);
    CHECK(p->n_by_tissue == 0 || p->bc == CN_PROBE_BC_DIRICHLET,
          "cryoprobe %s: surface_by_tissue needs a dirichlet boundary", n);
    for (int i = 0; i < p->n_by_tissue; i++) {
        const cn_probe_surface *o = &p->by_tissue[i];
        CHECK(o->tissue[0], "cryoprobe %s: surface_by_tissue: empty tissue name", n);
        CHECK(in(o->surface_temp_c, -200, -5),
              "cryoprobe %s: surface_by_tissue.%s.surface_temp_c must be in [-200, -5]", n, o->tissue);
        CHECK(in(o->surface_temp_sd_c, 0.1, 100),
              "cryoprobe %s: surface_by_tissue.%s.surface_temp_sd_c must be in [0.1, 100]", n, o->tissue);
    }
    return CN_OK;
}

int cn_cryoprobe_in_tissue(cn_cryoprobe *p, const char *tissue)
{
    for (int i = 0; p && tissue && i < p->n_by_tissue; i++)
        if (strcmp(p->by_tissue[i].tissue, tissue) == 0) {
            p->surface_temp_c = p->by_tissue[i].surface_temp_c;
            p->surface_temp_sd_c = p->by_tissue[i].surface_temp_sd_c;
            return 1;
        }
    return 0;
}

double cn_cryoprobe_gas_floor_c(const char *gas)
{
    static const struct {
        const char *gas;
        double boil_c;
    } g[] = {{"N2O", -88.5}, {"CO2", -78.5}, {"argon", -185.8}};
    for (size_t i = 0; gas && i < sizeof g / sizeof g[0]; i++)
        if (strcasecmp(gas, g[i].gas) == 0)
            return g[i].boil_c;
    return -INFINITY;
}

int cn_cryoprobe_set_geometry(cn_cryoprobe *p, double outer_diameter_mm, double active_length_mm)
{
    if (!p)
        return CN_EINVAL;
    cn_cryoprobe q = *p;
    q.outer_diameter_mm = outer_diameter_mm;
    q.active_length_mm = active_length_mm;
    char err[160];
    if (cn_cryoprobe_validate(&q, err, sizeof err) != CN_OK)
        return CN_EINVAL;
    bool changed = fabs(q.outer_diameter_mm - p->outer_diameter_mm) > 0.01 ||
                   fabs(q.active_length_mm - p->active_length_mm) > 0.01;
    *p = q;
    return changed ? 1 : 0;
}

double cn_protocol_duration_s(const cn_protocol *p)
{
    double d = 0;
    for (int i = 0; i < p->n_steps; i++)
        d += p->steps[i].duration_s;
    return d;
}

int cn_protocol_validate(const cn_protocol *p, char *err, size_t err_len)
{
    CHECK(p, "protocol: missing");
    CHECK(p->name[0], "protocol: empty name");
    CHECK(p->n_steps >= 1 && p->n_steps <= CN_PROTOCOL_STEPS_MAX,
          "protocol %s: needs 1 to %d steps", p->name, CN_PROTOCOL_STEPS_MAX);
    double freeze = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const cn_protocol_step *s = &p->steps[i];
        CHECK(s->kind >= CN_STEP_FREEZE && s->kind <= CN_STEP_ACTIVE_THAW,
              "protocol %s: step %d has an unknown phase", p->name, i + 1);
        CHECK(in(s->duration_s, 0, 7200), "protocol %s: step %d: duration_s must be in [0, 7200], got %g",
              p->name, i + 1, s->duration_s);
        if (s->kind == CN_STEP_FREEZE)
            freeze += s->duration_s;
    }
    CHECK(freeze > 0, "protocol %s: never freezes (no freeze step with a positive duration)", p->name);
    return CN_OK;
}

cn_step_kind cn_protocol_kind_at(const cn_protocol *p, double t_s, double *step_elapsed_s)
{
    double t0 = 0;
    for (int i = 0; i < p->n_steps; i++) {
        double t1 = t0 + p->steps[i].duration_s;
        if (t_s < t1) {
            if (step_elapsed_s)
                *step_elapsed_s = t_s - t0;
            return p->steps[i].kind;
        }
        t0 = t1;
    }
    if (step_elapsed_s)
        *step_elapsed_s = t_s - t0;
    return CN_STEP_PASSIVE_THAW;
}

/* ---------------------------------------------------------------- JSON */

static int num(const cn_json *d, const char *base, const char *key, double lo, double hi,
               bool required, double *out, char *err, size_t err_len)
{
    char path[400]; /* base may be a surface_by_tissue entry */
    snprintf(path, sizeof path, "%s.%s", base, key);
    int rc = cn_json_get_number(d, path, lo, hi, out, err, err_len);
    if (rc == CN_ENOENT && required) {
        cn_json_error(d, base, err, err_len, "missing key \"%s\"", key);
        return CN_EINVAL;
    }
    return rc == CN_ENOENT ? CN_OK : rc;
}

static int str(const cn_json *d, const char *base, const char *key, bool required, char *out,
               size_t out_len, char *err, size_t err_len)
{
    char path[400];
    snprintf(path, sizeof path, "%s.%s", base, key);
    int rc = cn_json_get_string(d, path, out, out_len, err, err_len);
    if (rc == CN_ENOENT && required) {
        cn_json_error(d, base, err, err_len, "missing key \"%s\"", key);
        return CN_EINVAL;
    }
    return rc == CN_ENOENT ? CN_OK : rc;
}

#define TRY(x)                                                                                    \
    do {                                                                                          \
        int rc_ = (x);                                                                            \
        if (rc_)                                                                                  \
            return rc_;                                                                           \
    } while (0)

/* "surface_by_tissue": {"<tissue>": {"surface_temp_c": C, "surface_temp_sd_c": C,
 * "calibration": text}, ...}: the probe's fitted surface in that tissue. The keys
 * must be tissues the catalogue holds (read before the probes), so a misspelt
 * tissue is an error, not an override that never applies. */
static int parse_surface_by_tissue(const cn_json *d, const char *b, const cn_thermal_catalog *cat,
                                   cn_cryoprobe *p, char *err, size_t el)
{
    static const char *const okeys[] = {"surface_temp_c", "surface_temp_sd_c", "calibration", NULL};
    char path[256];
    snprintf(path, sizeof path, "%s.surface_by_tissue", b);
    if (!cn_json_has(d, path))
        return CN_OK;
    const char *names[CN_THERMAL_CATALOG_MAX + 1];
    int nt = 0;
    for (int i = 0; cat && i < cat->n_tissues; i++)
        names[nt++] = cat->tissues[i].name;
    names[nt] = NULL;
    char msg[768];
    int rc = cn_json_check_keys(d, path, names, msg, sizeof msg);
    if (rc) {
        snprintf(err, el, "%s (cryoprobe \"%s\": surface_by_tissue names tissues of the catalogue, "
                          "tissues.json)", msg, p->name);
        return CN_EINVAL;
    }
    if (p->bc != CN_PROBE_BC_DIRICHLET) {
        cn_json_error(d, path, err, el, "cryoprobe \"%s\": surface_by_tissue needs a dirichlet "
                                        "boundary (a robin probe's surface_temp_c is its gas)", p->name);
        return CN_EINVAL;
    }
    for (int i = 0; i < nt; i++) {
        char ob[256 + CN_THERMAL_NAME_MAX];
        snprintf(ob, sizeof ob, "%s.%s", path, names[i]);
        if (!cn_json_has(d, ob))
            continue;
        if (p->n_by_tissue == CN_PROBE_TISSUES_MAX) {
            cn_json_error(d, path, err, el, "cryoprobe \"%s\": at most %d tissues", p->name,
                          CN_PROBE_TISSUES_MAX);
            return CN_EINVAL;
        }
        cn_probe_surface *o = &p->by_tissue[p->n_by_tissue];
        memset(o, 0, sizeof *o);
        cn_strlcpy(o->tissue, names[i], sizeof o->tissue);
        rc = cn_json_check_keys(d, ob, okeys, msg, sizeof msg);
        if (rc) {
            snprintf(err, el, "%s (cryoprobe \"%s\": each tissue takes {\"surface_temp_c\": C, "
                              "\"surface_temp_sd_c\": C})", msg, p->name);
            return CN_EINVAL;
        }
        /* both required: an override without its uncertainty would silently narrow
         * the live ensemble to the default's spread */
        rc = num(d, ob, "surface_temp_c", -200, -5, true, &o->surface_temp_c, msg, sizeof msg);
        if (!rc)
            rc = num(d, ob, "surface_temp_sd_c", 0.1, 100, true, &o->surface_temp_sd_c, msg, sizeof msg);
        if (rc) {
            snprintf(err, el, "%s (cryoprobe \"%s\", tissue \"%s\")", msg, p->name, names[i]);
            return CN_EINVAL;
        }
        p->n_by_tissue++;
    }
    return CN_OK;
}

static int parse_probe(const cn_json *d, const char *b, const cn_thermal_catalog *cat,
                       cn_cryoprobe *p, char *err, size_t el)
{
    static const char *const keys[] = {"name", "gas", "outer_diameter_mm", "active_length_mm",
                                       "boundary", "surface_temp_c", "ramp_s", "h_w_m2k",
                                       "active_thaw_temp_c", "surface_temp_sd_c", "calibration",
                                       "surface_by_tissue", "description", "source",
                                       "simulated", NULL};
    TRY(cn_json_check_keys(d, b, keys, err, el));
    memset(p, 0, sizeof *p);
    p->active_thaw_temp_c = 20;
    TRY(str(d, b, "name", true, p->name, sizeof p->name, err, el));
    TRY(str(d, b, "gas", true, p->gas, sizeof p->gas, err, el));
    char sp[192];
    snprintf(sp, sizeof sp, "%s.simulated", b);
    int sr = cn_json_get_bool(d, sp, &p->simulated, err, el);
    if (sr != CN_OK && sr != CN_ENOENT)
        return sr;
    TRY(num(d, b, "outer_diameter_mm", 0.1, 10, true, &p->outer_diameter_mm, err, el));
    TRY(num(d, b, "active_length_mm", 0.5, 100, true, &p->active_length_mm, err, el));
    char bc[32] = "dirichlet";
    TRY(str(d, b, "boundary", false, bc, sizeof bc, err, el));
    char path[160];
    snprintf(path, sizeof path, "%s.boundary", b);
    if (strcmp(bc, "dirichlet") == 0)
        p->bc = CN_PROBE_BC_DIRICHLET;
    else if (strcmp(bc, "robin") == 0)
        p->bc = CN_PROBE_BC_ROBIN;
    else {
        cn_json_error(d, path, err, el, "must be \"dirichlet\" or \"robin\", got \"%s\"", bc);
        return CN_EINVAL;
    }
    TRY(num(d, b, "surface_temp_c", -200, -5, true, &p->surface_temp_c, err, el));
    TRY(num(d, b, "ramp_s", 0, 120, true, &p->ramp_s, err, el));
    TRY(num(d, b, "h_w_m2k", 1, 1e6, p->bc == CN_PROBE_BC_ROBIN, &p->h_w_m2k, err, el));
    TRY(num(d, b, "active_thaw_temp_c", 0, 80, false, &p->active_thaw_temp_c, err, el));
    TRY(num(d, b, "surface_temp_sd_c", 0, 100, false, &p->surface_temp_sd_c, err, el));
    if (p->name[0] == 0) {
        snprintf(path, sizeof path, "%s.name", b);
        cn_json_error(d, path, err, el, "must not be empty");
        return CN_EINVAL;
    }
    TRY(parse_surface_by_tissue(d, b, cat, p, err, el));
    return cn_cryoprobe_validate(p, err, el);
}

static int parse_protocol(const cn_json *d, const char *b, cn_protocol *p, char *err, size_t el)
{
    static const char *const keys[] = {"name", "steps", "extra_freeze_s", "description", "source",
                                       NULL};
    static const char *const skeys[] = {"phase", "duration_s", NULL};
    TRY(cn_json_check_keys(d, b, keys, err, el));
    memset(p, 0, sizeof *p);
    TRY(str(d, b, "name", true, p->name, sizeof p->name, err, el));
    char path[160];
    snprintf(path, sizeof path, "%s.steps", b);
    int n = cn_json_array_size(d, path);
    if (n < 1 || n > CN_PROTOCOL_STEPS_MAX) {
        cn_json_error(d, cn_json_has(d, path) ? path : b, err, el,
                      "\"steps\" must be an array of 1 to %d steps", CN_PROTOCOL_STEPS_MAX);
        return CN_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        char sb[96], ph[32];
        snprintf(sb, sizeof sb, "%s.steps[%d]", b, i);
        TRY(cn_json_check_keys(d, sb, skeys, err, el));
        TRY(str(d, sb, "phase", true, ph, sizeof ph, err, el));
        cn_protocol_step *s = &p->steps[i];
        if (strcmp(ph, "freeze") == 0)
            s->kind = CN_STEP_FREEZE;
        else if (strcmp(ph, "passive_thaw") == 0 || strcmp(ph, "thaw") == 0)
            s->kind = CN_STEP_PASSIVE_THAW;
        else if (strcmp(ph, "active_thaw") == 0)
            s->kind = CN_STEP_ACTIVE_THAW;
        else {
            snprintf(path, sizeof path, "%s.phase", sb);
            cn_json_error(d, path, err, el,
                          "must be \"freeze\", \"passive_thaw\" or \"active_thaw\", got \"%s\"", ph);
            return CN_EINVAL;
        }
        s->duration_s = NAN;
        snprintf(path, sizeof path, "%s.duration_s", sb);
        int rc = cn_json_get_number(d, path, -1e300, 1e300, &s->duration_s, err, el);
        if (rc == CN_ENOENT) {
            cn_json_error(d, sb, err, el, "missing key \"duration_s\"");
            return CN_EINVAL;
        }
        TRY(rc);
        if (!(s->duration_s >= 0) || s->duration_s > 7200) {
            cn_json_error(d, path, err, el, "must be in [0, 7200] s, got %g", s->duration_s);
            return CN_EINVAL;
        }
    }
    p->n_steps = n;
    TRY(num(d, b, "extra_freeze_s", 0, 7200, false, &p->extra_freeze_s, err, el));
    char msg[256];
    if (cn_protocol_validate(p, msg, sizeof msg)) {
        cn_json_error(d, b, err, el, "%s", msg);
        return CN_EINVAL;
    }
    return CN_OK;
}

static int parse_tissue(const cn_json *d, const char *b, cn_tissue *t, char *err, size_t el)
{
    static const char *const keys[] = {
        "name", "k_unfrozen_w_mk", "k_frozen_w_mk", "c_unfrozen_j_kgk", "c_frozen_j_kgk",
        "rho_unfrozen_kg_m3", "rho_frozen_kg_m3", "latent_j_m3", "t_liquidus_c", "t_solidus_c",
        "perfusion_per_s", "c_blood_j_kgk", "rho_blood_kg_m3", "t_arterial_c", "t_initial_c",
        "metabolic_w_m3", "description", "source", NULL};
    TRY(cn_json_check_keys(d, b, keys, err, el));
    cn_tissue_standard(t);
    TRY(str(d, b, "name", true, t->name, sizeof t->name, err, el));
    struct {
        const char *k;
        double *v, lo, hi;
    } f[] = {
        {"k_unfrozen_w_mk", &t->k_unfrozen_w_mk, 0.01, 100},
        {"k_frozen_w_mk", &t->k_frozen_w_mk, 0.01, 100},
        {"c_unfrozen_j_kgk", &t->c_unfrozen_j_kgk, 100, 10000},
        {"c_frozen_j_kgk", &t->c_frozen_j_kgk, 100, 10000},
        {"rho_unfrozen_kg_m3", &t->rho_unfrozen_kg_m3, 100, 5000},
        {"rho_frozen_kg_m3", &t->rho_frozen_kg_m3, 100, 5000},
        {"latent_j_m3", &t->latent_j_m3, 0, 1e9},
        {"t_liquidus_c", &t->t_liquidus_c, -50, 10},
        {"t_solidus_c", &t->t_solidus_c, -60, 10},
        {"perfusion_per_s", &t->perfusion_per_s, 0, 0.1},
        {"c_blood_j_kgk", &t->c_blood_j_kgk, 100, 10000},
        {"rho_blood_kg_m3", &t->rho_blood_kg_m3, 100, 5000},
        {"t_arterial_c", &t->t_arterial_c, 0, 45},
        {"t_initial_c", &t->t_initial_c, 0, 45},
        {"metabolic_w_m3", &t->metabolic_w_m3, 0, 1e5},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        TRY(num(d, b, f[i].k, f[i].lo, f[i].hi, false, f[i].v, err, el));
    char msg[256];
    if (cn_tissue_validate(t, msg, sizeof msg)) {
        cn_json_error(d, b, err, el, "%s", msg);
        return CN_EINVAL;
    }
    return CN_OK;
}

typedef int (*parse_fn)(const cn_json *d, const char *b, const cn_thermal_catalog *cat,
                        void *entry, char *err, size_t el);

static int load_list(const char *path, const char *key, const cn_thermal_catalog *cat, void *arr,
                     size_t esize, int *count, parse_fn parse, char *err, size_t el)
{
    cn_json *d = cn_json_load(path, err, el);
    if (!d)
        return CN_EPARSE;
    int rc = CN_OK;
    int n = cn_json_array_size(d, key);
    if (n < 0) {
        cn_json_error(d, cn_json_has(d, key) ? key : "", err, el,
                      "expected an array \"%s\" at the top level", key);
        rc = CN_EINVAL;
    }
    for (int i = 0; rc == CN_OK && i < n; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s[%d]", key, i);
        union {
            cn_cryoprobe probe;
            cn_protocol protocol;
            cn_tissue tissue;
        } u;
        const char *entry = (const char *)&u; /* every entry starts with its name */
        rc = parse(d, b, cat, &u, err, el);
        if (rc)
            break;
        /* entries start with their name: replace a namesake or append */
        int slot = *count;
        for (int k = 0; k < *count; k++)
            if (strcmp((char *)arr + (size_t)k * esize, entry) == 0)
                slot = k;
        if (slot >= CN_THERMAL_CATALOG_MAX) {
            cn_json_error(d, b, err, el, "too many entries (at most %d)", CN_THERMAL_CATALOG_MAX);
            rc = CN_ENOMEM;
            break;
        }
        memcpy((char *)arr + (size_t)slot * esize, entry, esize);
        if (slot == *count)
            (*count)++;
    }
    cn_json_free(d);
    return rc;
}

static int pp(const cn_json *d, const char *b, const cn_thermal_catalog *cat, void *e, char *err,
              size_t el)
{
    return parse_probe(d, b, cat, e, err, el);
}
static int pr(const cn_json *d, const char *b, const cn_thermal_catalog *cat, void *e, char *err,
              size_t el)
{
    (void)cat;
    return parse_protocol(d, b, e, err, el);
}
static int pt(const cn_json *d, const char *b, const cn_thermal_catalog *cat, void *e, char *err,
              size_t el)
{
    (void)cat;
    return parse_tissue(d, b, e, err, el);
}

int cn_thermal_catalog_load(cn_thermal_catalog *c, const char *probes_json,
                            const char *protocols_json, const char *tissues_json, char *err,
                            size_t err_len)
{
    if (!c)
        return CN_EINVAL;
    int rc = CN_OK;
    /* tissues first: a probe's surface_by_tissue names them */
    if (tissues_json)
        rc = load_list(tissues_json, "tissues", c, c->tissues, sizeof c->tissues[0], &c->n_tissues,
                       pt, err, err_len);
    if (!rc && protocols_json)
        rc = load_list(protocols_json, "protocols", c, c->protocols, sizeof c->protocols[0],
                       &c->n_protocols, pr, err, err_len);
    if (!rc && probes_json)
        rc = load_list(probes_json, "probes", c, c->probes, sizeof c->probes[0], &c->n_probes, pp,
                       err, err_len);
    return rc;
}

const cn_cryoprobe *cn_thermal_catalog_probe(const cn_thermal_catalog *c, const char *name)
{
    for (int i = 0; c && name && i < c->n_probes; i++)
        if (strcmp(c->probes[i].name, name) == 0)
            return &c->probes[i];
    return NULL;
}

const cn_protocol *cn_thermal_catalog_protocol(const cn_thermal_catalog *c, const char *name)
{
    for (int i = 0; c && name && i < c->n_protocols; i++)
        if (strcmp(c->protocols[i].name, name) == 0)
            return &c->protocols[i];
    return NULL;
}

const cn_tissue *cn_thermal_catalog_tissue(const cn_thermal_catalog *c, const char *name)
{
    for (int i = 0; c && name && i < c->n_tissues; i++)
        if (strcmp(c->tissues[i].name, name) == 0)
            return &c->tissues[i];
    return NULL;
}
