/*
 * calib.c - the catalogue against measured ice balls: published measurements
 * (config/ice_measurements.json, each with its citation), the model's prediction
 * of each, and the fit of a probe's effective surface temperature to them.
 *
 * Why an *effective* surface temperature: a thermocouple inside a cryoprobe does
 * not read its surface, and the gas temperature (-140 to -150 C for argon) over-
 * predicts measured balls: with it the 2.4 mm probe's lethal (-30 C) diameter
 * after 15 min in agar comes out ~21 mm against 12 mm measured (Littrup 2009).
 * One Dirichlet temperature per probe model and medium group is fitted to that
 * group's measurements by least squares on the relative diameter errors (golden
 * section: the error is unimodal in it). The default group (soft tissue, agar) is
 * the probe's surface_temp_c; a measurement with "calibrates": "surface_by_tissue"
 * fits the probe's override for its own tissue instead: the wall runs colder in a
 * medium that draws less heat (aerated lung), which one temperature for all media
 * cannot follow (Hinshaw 2010's lung isotherms missed by -25 / -48 %). Its uncertainty (1 sigma) is honest about what
 * one parameter cannot do: the spread of the temperatures that would match each
 * measurement alone, with a 10 % measurement uncertainty propagated through the
 * diameter's sensitivity. The live ensemble spans +-2 sigma of it.
 *
 * The same fit serves a Robin probe: the gas temperature is physics (argon's -186 C
 * boiling point), the one parameter is the film coefficient, fitted on ln h (it
 * spans two decades) with its uncertainty as a factor. A measurement may name its
 * own medium (agar, soft tissue, aerated lung, each with published properties):
 * the film-law test (`cryonav thermal validate --robin-gas`) asks whether a film
 * whose surface temperature follows the medium's heat load explains the agar and
 * lung measurements together. Measured: not well enough to adopt (validation.md).
 */
#include "thermal_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cn_thermal_measurements_load(const char *path, const cn_thermal_catalog *cat,
                                 cn_thermal_measurement *out, int max, int *n, char *err,
                                 size_t err_len)
{
    static const char *const keys[] = {"id", "probe", "source", "derived", "check", "tissue",
                                       "medium", "calibrates", "t_initial_c",
                                       "steps", "temp_c", "diameter_mm", "at_s", "note", NULL};
    static const char *const skeys[] = {"phase", "duration_s", NULL};
    *n = 0;
    cn_json *d = cn_json_load(path, err, err_len);
    if (!d)
        return CN_EPARSE;
    int cnt = cn_json_array_size(d, "measurements"), rc = CN_OK;
    if (cnt < 0) {
        cn_json_error(d, "", err, err_len, "expected an array \"measurements\"");
        rc = CN_EINVAL;
    }
    for (int i = 0; rc == CN_OK && i < cnt; i++) {
        if (*n == max) {
            cn_errf(err, err_len, path, "more than %d measurements", max);
            rc = CN_ENOMEM;
            break;
        }
        char b[64], k[160], tissue[CN_THERMAL_NAME_MAX] = "";
        snprintf(b, sizeof b, "measurements[%d]", i);
        cn_thermal_measurement *m = &out[*n];
        memset(m, 0, sizeof *m);
        if ((rc = cn_json_check_keys(d, b, keys, err, err_len)) != CN_OK)
            break;
        const char *sk[4] = {"id", "probe", "source", "tissue"};
        char *sd[4] = {m->id, m->probe, m->source, tissue};
        size_t sl[4] = {sizeof m->id, sizeof m->probe, sizeof m->source, sizeof tissue};
        for (int q = 0; q < 4 && rc == CN_OK; q++) {
            snprintf(k, sizeof k, "%s.%s", b, sk[q]);
            rc = cn_json_get_string(d, k, sd[q], sl[q], err, err_len);
            if (rc == CN_ENOENT) {
                cn_json_error(d, b, err, err_len, "missing key \"%s\"", sk[q]);
                rc = CN_EINVAL;
            }
        }
        const cn_tissue *t = rc ? NULL : cn_thermal_catalog_tissue(cat, tissue);
        if (!rc && !t) {
            snprintf(k, sizeof k, "%s.tissue", b);
            cn_json_error(d, k, err, err_len, "unknown tissue \"%s\"", tissue);
            rc = CN_EINVAL;
        }
        if (!rc && !cn_thermal_catalog_probe(cat, m->probe)) {
            snprintf(k, sizeof k, "%s.probe", b);
            cn_json_error(d, k, err, err_len, "unknown probe \"%s\"", m->probe);
            rc = CN_EINVAL;
        }
        if (rc)
            break;
        m->medium = *t;
        /* optional: the medium with its own published properties (tissues.json) */
        char own[CN_THERMAL_NAME_MAX] = "";
        snprintf(k, sizeof k, "%s.medium", b);
        rc = cn_json_get_string(d, k, own, sizeof own, err, err_len);
        if (rc == CN_ENOENT) {
            rc = CN_OK;
        } else if (rc == CN_OK) {
            const cn_tissue *o = cn_thermal_catalog_tissue(cat, own);
            if (!o) {
                cn_json_error(d, k, err, err_len, "unknown tissue \"%s\"", own);
                rc = CN_EINVAL;
                break;
            }
            m->own_medium = *o;
            m->has_own_medium = true;
        } else {
            break;
        }
        /* optional: which parameter it fits (its probe's default surface, or the
         * probe's override for the measurement's tissue) */
        char what[32] = "surface_temp_c";
        snprintf(k, sizeof k, "%s.calibrates", b);
        rc = cn_json_get_string(d, k, what, sizeof what, err, err_len);
        if (rc == CN_ENOENT)
            rc = CN_OK;
        else if (rc)
            break;
        if (strcmp(what, "surface_by_tissue") == 0) {
            m->by_tissue = true;
        } else if (strcmp(what, "surface_temp_c") != 0) {
            cn_json_error(d, k, err, err_len, "must be \"surface_temp_c\" (the probe's default) or "
                                              "\"surface_by_tissue\" (its override in \"%s\"), got \"%s\"",
                          tissue, what);
            rc = CN_EINVAL;
            break;
        }
        snprintf(k, sizeof k, "%s.derived", b);
        if ((rc = cn_json_get_bool(d, k, &m->derived, err, err_len)) == CN_ENOENT)
            rc = CN_OK;
        snprintf(k, sizeof k, "%s.check", b);
        if (!rc && (rc = cn_json_get_bool(d, k, &m->check, err, err_len)) == CN_ENOENT)
            rc = CN_OK;
        double ti = NAN;
        snprintf(k, sizeof k, "%s.t_initial_c", b);
        if (!rc && (rc = cn_json_get_number(d, k, 1, 45, &ti, err, err_len)) == CN_OK)
            m->medium.t_initial_c = m->medium.t_arterial_c = m->own_medium.t_initial_c =
                m->own_medium.t_arterial_c = ti;
        else if (rc == CN_ENOENT)
            rc = CN_OK;
        struct {
            const char *key;
            double lo, hi, *dst;
        } num[3] = {{"temp_c", -100, 0, &m->temp_c}, {"diameter_mm", 0.5, 200, &m->diameter_mm},
                    {"at_s", 1, 7200, &m->at_s}};
        for (int q = 0; q < 3 && rc == CN_OK; q++) {
            snprintf(k, sizeof k, "%s.%s", b, num[q].key);
            rc = cn_json_get_number(d, k, num[q].lo, num[q].hi, num[q].dst, err, err_len);
            if (rc == CN_ENOENT) {
                cn_json_error(d, b, err, err_len, "missing key \"%s\"", num[q].key);
                rc = CN_EINVAL;
            }
        }
        snprintf(k, sizeof k, "%s.steps", b);
        int ns = rc ? 0 : cn_json_array_size(d, k);
        if (!rc && (ns < 1 || ns > CN_PROTOCOL_STEPS_MAX)) {
            cn_json_error(d, b, err, err_len, "\"steps\" must be 1 to %d steps", CN_PROTOCOL_STEPS_MAX);
            rc = CN_EINVAL;
        }
        cn_strlcpy(m->protocol.name, m->id, sizeof m->protocol.name);
        for (int s = 0; rc == CN_OK && s < ns; s++) {
            char sb[96], ph[32] = "";
            snprintf(sb, sizeof sb, "%s.steps[%d]", b, s);
            if ((rc = cn_json_check_keys(d, sb, skeys, err, err_len)) != CN_OK)
                break;
            snprintf(k, sizeof k, "%s.phase", sb);
            cn_json_get_string(d, k, ph, sizeof ph, err, err_len);
            cn_protocol_step *st = &m->protocol.steps[s];
            st->kind = !strcmp(ph, "freeze") ? CN_STEP_FREEZE
                       : !strcmp(ph, "passive_thaw") ? CN_STEP_PASSIVE_THAW
                       : !strcmp(ph, "active_thaw") ? CN_STEP_ACTIVE_THAW
                                                    : (cn_step_kind)-1;
            if ((int)st->kind < 0) {
                cn_json_error(d, k, err, err_len, "must be freeze, passive_thaw or active_thaw");
                rc = CN_EINVAL;
                break;
            }
            snprintf(k, sizeof k, "%s.duration_s", sb);
            if ((rc = cn_json_get_number(d, k, 0, 7200, &st->duration_s, err, err_len)) == CN_ENOENT) {
                cn_json_error(d, sb, err, err_len, "missing key \"duration_s\"");
                rc = CN_EINVAL;
            }
        }
        m->protocol.n_steps = ns;
        if (rc == CN_OK)
            (*n)++;
    }
    cn_json_free(d);
    return rc;
}

double cn_thermal_measurement_predict(const cn_cryoprobe *probe, const cn_thermal_measurement *m,
                                      double h_mm)
{
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = h_mm > 0 ? h_mm : 0.25;
    char err[256];
    cn_thermal_model *md = cn_thermal_model_new(probe, &m->protocol, &m->medium, &mo, err, sizeof err);
    if (!md)
        return NAN;
    cn_thermal_model_advance_to(md, m->at_s);
    /* across the probe at the middle of its active segment, where a CT slice or a
     * thermocouple jig measures a ball's diameter */
    double d = 2 * cn_thermal_model_radius_at(md, m->temp_c, -probe->active_length_mm / 2);
    cn_thermal_model_free(md);
    return d;
}

int cn_thermal_measurements_use_own_media(cn_thermal_measurement *ms, int n)
{
    int k = 0;
    for (int i = 0; ms && i < n; i++) {
        if (ms[i].has_own_medium) {
            ms[i].medium = ms[i].own_medium;
            k++;
        }
        /* one film across media: the per-tissue groups are its checks (as tested) */
        if (ms[i].by_tissue)
            ms[i].check = true;
    }
    return k;
}

void cn_thermal_measurement_probe(const cn_cryoprobe *catalogue_probe,
                                  const cn_thermal_measurement *m, cn_cryoprobe *out)
{
    *out = *catalogue_probe;
    if (m->by_tissue)
        cn_cryoprobe_in_tissue(out, m->medium.name);
}

bool cn_thermal_measurement_same_group(const cn_thermal_measurement *a,
                                       const cn_thermal_measurement *b)
{
    return strcmp(a->probe, b->probe) == 0 && a->by_tissue == b->by_tissue &&
           (!a->by_tissue || strcmp(a->medium.name, b->medium.name) == 0);
}

/* The one fitted parameter x of a probe: its Dirichlet surface temperature (C),
 * or for a Robin probe the logarithm of its film coefficient (ln W/m^2K; the gas
 * temperature is physics, not fitted). The diameter grows as x falls (colder
 * surface) for the first and as x rises (better contact) for the second. */
static bool robin(const cn_cryoprobe *p)
{
    return p->bc == CN_PROBE_BC_ROBIN;
}

static void set_param(cn_cryoprobe *p, double x)
{
    if (robin(p))
        p->h_w_m2k = exp(x);
    else
        p->surface_temp_c = x;
}

static void param_range(const cn_cryoprobe *p, double *lo, double *hi)
{
    *lo = robin(p) ? log(50.0) : -200;   /* film: 50 W/m^2K (gas barely touching) */
    *hi = robin(p) ? log(20000.0) : -10; /* to 20000 (boiling contact: ~Dirichlet) */
}

static double cost(const cn_cryoprobe *base, double x, const cn_thermal_measurement *ms, int n,
                   double h)
{
    cn_cryoprobe p = *base;
    set_param(&p, x);
    double c = 0;
    for (int i = 0; i < n; i++) {
        double e = (cn_thermal_measurement_predict(&p, &ms[i], h) - ms[i].diameter_mm) / ms[i].diameter_mm;
        c += e * e;
    }
    return c;
}

/* The parameter that matches measurement m alone (bisection: the diameter is
 * monotone in it), and d(diameter)/dx there. */
static double match_one(const cn_cryoprobe *base, const cn_thermal_measurement *m, double h,
                        double *slope)
{
    cn_cryoprobe p = *base;
    double lo, hi;
    param_range(base, &lo, &hi);
    double tol = robin(base) ? 0.005 : 0.25, dx = robin(base) ? 0.05 : 5;
    for (int it = 0; it < 24 && hi - lo > tol; it++) {
        double x = 0.5 * (lo + hi);
        set_param(&p, x);
        bool big = cn_thermal_measurement_predict(&p, m, h) > m->diameter_mm;
        if (big == robin(base))
            hi = x; /* too big with a better film: less film */
        else
            lo = x;
    }
    double x = 0.5 * (lo + hi);
    set_param(&p, x - dx);
    double d1 = cn_thermal_measurement_predict(&p, m, h);
    set_param(&p, x + dx);
    double d2 = cn_thermal_measurement_predict(&p, m, h);
    *slope = (d2 - d1) / (2 * dx);
    return x;
}

int cn_thermal_calibrate(const cn_cryoprobe *probe, const cn_thermal_measurement *ms, int n,
                         double h_mm, cn_thermal_calibration *out)
{
    if (!probe || !ms || n < 1 || !out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    double a, b, g = (sqrt(5) - 1) / 2, tol = robin(probe) ? 0.01 : 0.5;
    param_range(probe, &a, &b);
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = cost(probe, x1, ms, n, h_mm), f2 = cost(probe, x2, ms, n, h_mm);
    while (b - a > tol) {
        if (f1 < f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = cost(probe, x1, ms, n, h_mm);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = cost(probe, x2, ms, n, h_mm);
        }
    }
    double x = 0.5 * (a + b);
    out->robin = robin(probe);
    out->surface_temp_c = robin(probe) ? probe->surface_temp_c : x;
    out->h_w_m2k = robin(probe) ? exp(x) : probe->h_w_m2k;
    out->n = n;
    out->rms_rel = sqrt(cost(probe, x, ms, n, h_mm) / n);
    /* the spread of single-measurement matches, and each measurement's own 10 %
     * uncertainty through its sensitivity */
    double var = 0, meas = 0;
    for (int i = 0; i < n; i++) {
        double slope, t = match_one(probe, &ms[i], h_mm, &slope);
        double *single = robin(probe) ? out->single_h_w_m2k : out->single_c;
        single[i < CN_THERMAL_CAL_MAX ? i : CN_THERMAL_CAL_MAX - 1] = robin(probe) ? exp(t) : t;
        var += (t - x) * (t - x);
        double s = fabs(slope) > 1e-6 ? 0.1 * ms[i].diameter_mm / fabs(slope) : (robin(probe) ? 2 : 50);
        meas += s * s;
    }
    double sd = sqrt(var / n + meas / (n * (double)n));
    if (robin(probe))
        out->ln_h_sd = sd;
    else
        out->sd_c = sd;
    return CN_OK;
}

int cn_thermal_catalog_use_film_law(cn_thermal_catalog *cat, double gas_c,
                                    const cn_thermal_measurement *ms, int n, double fit_h_mm)
{
    if (!cat || !ms || !(gas_c < -5) || n < 0 || n > CN_THERMAL_CAL_MAX)
        return CN_EINVAL;
    static const double h_start = 1000; /* W/m^2K: replaced by the fit when asked */
    int changed = 0;
    for (int i = 0; i < cat->n_probes; i++) {
        cn_cryoprobe *p = &cat->probes[i];
        cn_thermal_measurement sel[CN_THERMAL_CAL_MAX];
        int k = 0;
        for (int j = 0; j < n; j++) /* checks in another medium are never fitted */
            if (!ms[j].check && strcmp(ms[j].probe, p->name) == 0)
                sel[k++] = ms[j];
        if (k == 0)
            continue;
        p->bc = CN_PROBE_BC_ROBIN;
        p->surface_temp_c = gas_c;
        p->h_w_m2k = h_start;
        if (fit_h_mm > 0) {
            cn_thermal_calibration cal;
            cn_thermal_calibrate(p, sel, k, fit_h_mm, &cal);
            p->h_w_m2k = cal.h_w_m2k;
            p->surface_temp_sd_c = 0; /* its uncertainty is in ln(h), not in C */
        }
        changed++;
    }
    return changed;
}
