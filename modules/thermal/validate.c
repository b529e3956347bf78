/*
 * validate.c - `cryonav thermal validate`: the solver against every analytic
 * oracle of thermal.md and against the measured ice balls it lists, printed as
 * markdown tables for docs/validation.md. Nothing here is a fixed number: every
 * row is computed by the solver and the oracle formulas on the spot.
 */
#include "thermal/thermal.h"

#include <math.h>
#include <string.h>

static cn_tissue oracle_tissue(void)
{
    cn_tissue t;
    cn_tissue_standard(&t);
    t.t_liquidus_c = t.t_solidus_c = 0;
    t.perfusion_per_s = 0;
    t.metabolic_w_m3 = 0;
    return t;
}

static cn_thermal_solver *oned(cn_thermal_geometry g, const cn_tissue *t, double h, double dt,
                               double r0, double rmax)
{
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.geometry = g;
    o.tissue = *t;
    o.h_mm = h;
    o.dt_max_s = dt;
    o.r0_mm = r0;
    o.r_max_mm = rmax;
    char err[256];
    return cn_thermal_solver_new(&o, err, sizeof err);
}

static void row(FILE *out, const char *what, const char *cond, double got, double want)
{
    fprintf(out, "| %s | %s | %.3f | %.3f | %+.2f %% |\n", what, cond, got, want,
            100 * (got - want) / want);
}

static void grid_vs_axi(FILE *out, double r0, double act, double secs, double tilt_deg);

static double imbalance(const cn_thermal_solver *s)
{
    cn_thermal_energy e;
    cn_thermal_solver_energy(s, &e);
    return fabs(e.stored_j - e.boundary_j - e.source_j) / fmax(1e-30, fabs(e.boundary_j));
}

static int oracles(FILE *out)
{
    cn_tissue t = oracle_tissue();
    fprintf(out, "| quantity (mm) | conditions | solver | oracle | error |\n|---|---|---|---|---|\n");
    const double tws[2] = {-140, -88};
    for (int w = 0; w < 2; w++) {
        cn_thermal_solver *s = oned(CN_GEOM_PLANAR, &t, 0.25, 0.1, 0, 70);
        if (!s)
            return CN_ENOMEM;
        cn_thermal_bc bc = {CN_BC_TEMP, tws[w], 0, 0};
        cn_thermal_solver_set_bc(s, &bc);
        double done = 0;
        const double ts[2] = {150, 600};
        for (int k = 0; k < 2; k++) {
            cn_thermal_solver_step(s, ts[k] - done);
            done = ts[k];
            char c[96];
            snprintf(c, sizeof c, "planar, T_w %.0f C, t %.0f s, h 0.25 mm", tws[w], ts[k]);
            row(out, "Neumann front s", c, cn_thermal_solver_front_1d(s),
                cn_oracle_neumann_isotherm_mm(&t, tws[w], 0, 0, ts[k]));
            row(out, "Neumann x(-20 C)", c, cn_thermal_solver_isotherm_1d(s, -20),
                cn_oracle_neumann_isotherm_mm(&t, tws[w], 0, -20, ts[k]));
            row(out, "Neumann x(-40 C)", c, cn_thermal_solver_isotherm_1d(s, -40),
                cn_oracle_neumann_isotherm_mm(&t, tws[w], 0, -40, ts[k]));
        }
        cn_thermal_solver_free(s);
    }
    const double qs[2] = {500, 1000};
    for (int k = 0; k < 2; k++) {
        cn_thermal_solver *s = oned(CN_GEOM_CYLINDRICAL, &t, 0.25, 0.5, 0.1, 50);
        if (!s)
            return CN_ENOMEM;
        cn_thermal_bc bc = {CN_BC_FLUX, 0, 0, -qs[k] / (2 * M_PI * 0.1e-3)};
        cn_thermal_solver_set_bc(s, &bc);
        cn_thermal_solver_step(s, 600);
        char c[96];
        snprintf(c, sizeof c, "line sink %.0f W/m, t 600 s, h 0.25 mm", qs[k]);
        row(out, "Paterson radius R", c, cn_thermal_solver_front_1d(s),
            cn_oracle_paterson_radius_mm(&t, qs[k], 0, 600));
        cn_thermal_solver_free(s);
    }
    const double ws[2] = {0.0005, 0.005};
    for (int k = 0; k < 2; k++) {
        cn_tissue tp = t;
        tp.perfusion_per_s = ws[k];
        cn_thermal_solver *s = oned(CN_GEOM_SPHERICAL, &tp, 0.125, 4, 0.735, 110);
        if (!s)
            return CN_ENOMEM;
        cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
        cn_thermal_solver_set_bc(s, &bc);
        cn_thermal_solver_step(s, 6000);
        char c[96];
        snprintf(c, sizeof c, "sphere r0 0.735, -140 C, w %.4f /s, steady, h 0.125 mm", ws[k]);
        row(out, "perfusion-limited R", c, cn_thermal_solver_front_1d(s),
            cn_oracle_perfusion_sphere_mm(&t, 0.735, -140, 0, ws[k]));
        cn_thermal_solver_free(s);
    }
    /* quasi-steady bounds (liquid held at T_f): the solver must stay below them,
     * a few per cent behind at Stefan ~ 1; with warm liquid they are far off */
    const double tq[2] = {150, 600};
    cn_tissue tcold = t;
    tcold.t_initial_c = 0.01;
    for (int g = 0; g < 2; g++) {
        cn_thermal_geometry geo = g ? CN_GEOM_SPHERICAL : CN_GEOM_CYLINDRICAL;
        cn_thermal_solver *s = oned(geo, &tcold, 0.125, 0.25, 0.735, 60);
        if (!s)
            return CN_ENOMEM;
        cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
        cn_thermal_solver_set_bc(s, &bc);
        double done = 0;
        for (int k = 0; k < 2; k++) {
            cn_thermal_solver_step(s, tq[k] - done);
            done = tq[k];
            char c[96];
            snprintf(c, sizeof c, "%s r0 0.735, -140 C, liquid at 0 C, t %.0f s (upper bound)",
                     g ? "sphere" : "cylinder", tq[k]);
            row(out, "quasi-steady bound", c, cn_thermal_solver_front_1d(s),
                g ? cn_oracle_quasisteady_sphere_mm(&t, 0.735, -140, 0, tq[k])
                  : cn_oracle_quasisteady_cylinder_mm(&t, 0.735, -140, 0, tq[k]));
        }
        cn_thermal_solver_free(s);
    }
    /* log-profile offsets inside an ice cylinder of radius 5 and 10 mm */
    cn_thermal_solver *s = oned(CN_GEOM_CYLINDRICAL, &t, 0.125, 0.25, 0.735, 60);
    if (!s)
        return CN_ENOMEM;
    cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
    cn_thermal_solver_set_bc(s, &bc);
    const double edges[2] = {5, 10};
    for (int k = 0; k < 2; k++) {
        while (cn_thermal_solver_front_1d(s) < edges[k] && cn_thermal_solver_time_s(s) < 3000)
            cn_thermal_solver_step(s, 0.25);
        double r = cn_thermal_solver_front_1d(s);
        char c[96];
        snprintf(c, sizeof c, "cylinder 17G, -140 C, edge R = %.2f mm (t %.0f s)", r,
                 cn_thermal_solver_time_s(s));
        row(out, "-20 C offset inside edge", c, r - cn_thermal_solver_isotherm_1d(s, -20),
            r - cn_oracle_log_isotherm_mm(0.735, r, -140, 0, -20));
        row(out, "-40 C offset inside edge", c, r - cn_thermal_solver_isotherm_1d(s, -40),
            r - cn_oracle_log_isotherm_mm(0.735, r, -140, 0, -40));
    }
    cn_thermal_solver_free(s);
    return CN_OK;
}

static int refinement_and_energy(FILE *out)
{
    cn_tissue t = oracle_tissue();
    double want = cn_oracle_neumann_isotherm_mm(&t, -140, 0, 0, 150);
    fprintf(out, "\n| h (mm) | Neumann front at 150 s (mm) | error (mm) | ratio to previous |\n"
                 "|---|---|---|---|\n");
    double prev = NAN;
    const double hs[4] = {1, 0.5, 0.25, 0.125};
    for (int k = 0; k < 4; k++) {
        cn_thermal_solver *s = oned(CN_GEOM_PLANAR, &t, hs[k], 0.05, 0, 50);
        if (!s)
            return CN_ENOMEM;
        cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
        cn_thermal_solver_set_bc(s, &bc);
        cn_thermal_solver_step(s, 150);
        double e = fabs(cn_thermal_solver_front_1d(s) - want);
        fprintf(out, "| %.3f | %.3f | %.3f | %s", hs[k], cn_thermal_solver_front_1d(s), e,
                isfinite(prev) ? "" : "- |\n");
        if (isfinite(prev))
            fprintf(out, "%.2f |\n", e / prev);
        prev = e;
        cn_thermal_solver_free(s);
    }
    /* axisymmetric against the 1-D cylinder, and energy closure */
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.tissue = t;
    o.h_mm = 0.25;
    o.dt_max_s = 1;
    o.geometry = CN_GEOM_AXISYMMETRIC;
    o.active_length_mm = 60;
    o.z_min_mm = -85;
    o.z_max_mm = 25;
    o.r_max_mm = 25;
    char err[256];
    cn_thermal_solver *a = cn_thermal_solver_new(&o, err, sizeof err);
    cn_thermal_solver *c = oned(CN_GEOM_CYLINDRICAL, &t, 0.25, 1, 0.735, 30);
    if (!a || !c) {
        cn_thermal_solver_free(a);
        cn_thermal_solver_free(c);
        return CN_ENOMEM;
    }
    cn_thermal_bc bc = {CN_BC_TEMP, -140, 0, 0};
    cn_thermal_solver_set_bc(a, &bc);
    cn_thermal_solver_set_bc(c, &bc);
    cn_thermal_solver_step(a, 120);
    cn_thermal_solver_step(c, 120);
    fprintf(out, "\n| isotherm | 1-D cylinder (mm) | axisymmetric, 60 mm active segment, mid-length (mm) |\n"
                 "|---|---|---|\n");
    const double temps[3] = {-0.01, -20, -40};
    for (int k = 0; k < 3; k++)
        fprintf(out, "| %s | %.3f | %.3f |\n", k == 0 ? "0 C (-0.01 C)" : k == 1 ? "-20 C" : "-40 C",
                cn_thermal_solver_isotherm_1d(c, temps[k]),
                cn_thermal_solver_ray_isotherm(a, temps[k], 0, -30, M_PI / 2, 40));
    fprintf(out, "\n| energy account | relative imbalance (stored - boundary - sources) |\n|---|---|\n");
    fprintf(out, "| axisymmetric, 60 mm segment, 120 s | %.1e |\n", imbalance(a));
    fprintf(out, "| 1-D cylinder, 120 s | %.1e |\n", imbalance(c));
    cn_thermal_solver_free(a);
    cn_thermal_solver_free(c);
    cn_tissue tp = t;
    tp.perfusion_per_s = 0.005;
    cn_thermal_solver *sp = oned(CN_GEOM_SPHERICAL, &tp, 0.125, 4, 0.735, 110);
    if (!sp)
        return CN_ENOMEM;
    cn_thermal_solver_set_bc(sp, &bc);
    cn_thermal_solver_step(sp, 3000);
    cn_thermal_energy e;
    cn_thermal_solver_energy(sp, &e);
    fprintf(out, "| sphere with perfusion 0.005 /s, 3000 s (perfusion heat %.0f J/rad) | %.1e |\n",
            e.source_j, imbalance(sp));
    cn_thermal_solver_free(sp);
    fprintf(out, "\n| 3-D grid (1 mm) vs axisymmetric (0.25 mm), standard tissue, -140 C | isotherm | "
                 "across: axisymmetric (mm) | 3-D (mm) | diff | ahead of the tip: axisymmetric | 3-D | diff |\n"
                 "|---|---|---|---|---|---|---|---|\n");
    grid_vs_axi(out, 0.75, 6, 150, 0);
    grid_vs_axi(out, 0.735, 20, 360, 0);
    grid_vs_axi(out, 0.75, 6, 150, 12);
    return CN_OK;
}

/* Outermost distance from c along u where the grid is at or below temp. */
static double grid_ray(const cn_thermal_grid *g, double temp, cn_vec3 c, cn_vec3 u)
{
    double last = 0;
    for (double d = 0; d < 60; d += 0.05) {
        if (cn_thermal_grid_temp_at(g, cn_vec3_add(c, cn_vec3_scale(u, d))) <= temp)
            last = d;
        else if (d > last + 3)
            break;
    }
    return last;
}

/* The 3-D grid (1 mm cells, the probe a section of cells with the computed well
 * factor) against the axisymmetric solver (0.25 mm) for one probe, standard tissue,
 * -140 C: radii across the probe at mid segment (mean of 3 directions) and ahead
 * of the tip. */
static void grid_vs_axi(FILE *out, double r0, double act, double secs, double tilt_deg)
{
    cn_tissue t;
    cn_tissue_standard(&t);
    cn_thermal_solver_opts so;
    cn_thermal_solver_opts_default(&so);
    so.tissue = t;
    so.h_mm = 0.25;
    so.dt_max_s = 1;
    so.r0_mm = r0;
    so.active_length_mm = act;
    so.r_max_mm = 40;
    so.z_min_mm = -act - 40;
    so.z_max_mm = 40;
    char err[256];
    cn_thermal_solver *a = cn_thermal_solver_new(&so, err, sizeof err);
    cn_thermal_grid_opts go;
    cn_thermal_grid_opts_default(&go);
    go.tissue = t;
    go.h_mm = 1;
    for (int k = 0; k < 3; k++) {
        go.lo[k] = -30;
        go.n[k] = 61;
    }
    go.lo[2] = -30 - (int)(act / 2);
    cn_thermal_grid *g = cn_thermal_grid_new(&go, err, sizeof err);
    if (!a || !g) {
        cn_thermal_solver_free(a);
        cn_thermal_grid_free(g);
        return;
    }
    double th = tilt_deg * M_PI / 180;
    cn_thermal_probe_geom pg = {{0, 0, 0}, {sin(th), 0, cos(th)}, r0, act};
    cn_thermal_grid_set_probe(g, &pg);
    for (double t0 = 0; t0 < secs;) {
        double dt = t0 < 5 ? 0.25 : 1;
        cn_thermal_bc bc = {CN_BC_TEMP, -140 + 177 * exp(-(t0 + 0.5 * dt) / 5), 0, 0};
        cn_thermal_solver_set_bc(a, &bc);
        cn_thermal_solver_step(a, dt);
        cn_thermal_grid_set_bc(g, &bc);
        cn_thermal_grid_step(g, dt);
        t0 += dt;
    }
    cn_vec3 ax = {sin(th), 0, cos(th)}, c = cn_vec3_scale(ax, -act / 2);
    cn_vec3 e1 = {cos(th), 0, -sin(th)}, e2 = {0, 1, 0};
    cn_vec3 e3 = cn_vec3_normalize(cn_vec3_add(e1, e2));
    const double temps[3] = {0, -20, -40};
    for (int k = 0; k < 3; k++) {
        double ra = cn_thermal_solver_ray_isotherm(a, temps[k], 0, -act / 2, M_PI / 2, 40);
        double rg = (grid_ray(g, temps[k], c, e1) + grid_ray(g, temps[k], c, e2) +
                     grid_ray(g, temps[k], c, e3)) / 3;
        double za = cn_thermal_solver_ray_isotherm(a, temps[k], 0, -act / 2, 0, 40) - act / 2;
        double zg = grid_ray(g, temps[k], c, ax) - act / 2;
        fprintf(out, "| r0 %.2f mm, active %.0f mm, %.0f s, tilt %.0f deg | %.0f C | %.2f | %.2f | %+.2f | %.2f | %.2f | %+.2f |\n",
                r0, act, secs, tilt_deg, temps[k], ra, rg, rg - ra, za, zg, zg - za);
    }
    cn_thermal_solver_free(a);
    cn_thermal_grid_free(g);
}

/* Diameter (mm) of isotherm temp at mid active segment after following protocol q. */
static double model_diameter(const cn_cryoprobe *p, const cn_protocol *q, const cn_tissue *t,
                             double temp, double at_s)
{
    char err[256];
    cn_thermal_model *m = cn_thermal_model_new(p, q, t, NULL, err, sizeof err);
    if (!m)
        return NAN;
    cn_thermal_model_advance_to(m, at_s);
    double d = 2 * cn_thermal_model_radius_at(m, temp, -p->active_length_mm / 2);
    cn_thermal_model_free(m);
    return d;
}

int cn_thermal_validate_measured(FILE *out, const cn_thermal_catalog *cat,
                                 const cn_thermal_measurement *ms, int n, bool held_out)
{
    fprintf(out, "\n| probe (catalogue, medium group) | measurement | isotherm | measured (mm) | predicted (mm) | error |%s\n"
                 "|---|---|---|---|---|---|%s\n",
            held_out ? " held out: fitted on the other measurements of its group | error |" : "",
            held_out ? "---|---|" : "");
    int worst_ok = 1;
    for (int i = 0; i < n; i++) {
        const cn_cryoprobe *cp = cn_thermal_catalog_probe(cat, ms[i].probe);
        if (!cp)
            continue;
        /* the surface the catalogue gives this measurement's group: the probe's
         * default, or its own fit in the measurement's tissue */
        cn_cryoprobe probe, *p = &probe;
        cn_thermal_measurement_probe(cp, &ms[i], p);
        double pred = cn_thermal_measurement_predict(p, &ms[i], 0.25);
        double e = (pred - ms[i].diameter_mm) / ms[i].diameter_mm;
        worst_ok = worst_ok && (ms[i].check || fabs(e) <= 0.2);
        char law[96], group[CN_THERMAL_NAME_MAX + 8] = "";
        if (p->bc == CN_PROBE_BC_ROBIN)
            snprintf(law, sizeof law, "gas %.0f C, film %.0f W/m2K", p->surface_temp_c, p->h_w_m2k);
        else
            snprintf(law, sizeof law, "%.0f C +- %.0f", p->surface_temp_c, p->surface_temp_sd_c);
        if (ms[i].by_tissue && !ms[i].check)
            snprintf(group, sizeof group, " in %s", ms[i].medium.name);
        fprintf(out, "| %s%s (%s) | %s%s | %.0f C | %.1f | %.1f | %+.0f %% |", p->name, group, law,
                ms[i].id, ms[i].check ? " (check, other medium)" : ms[i].derived ? " (derived)" : "",
                ms[i].temp_c, ms[i].diameter_mm, pred, 100 * e);
        if (held_out) {
            /* leave one out within the group: the other measurements that fit the
             * same parameter (same probe, same medium group), never a check */
            cn_thermal_measurement others[CN_THERMAL_CAL_MAX];
            int k = 0;
            for (int j = 0; j < n && k < CN_THERMAL_CAL_MAX; j++)
                if (j != i && !ms[j].check && cn_thermal_measurement_same_group(&ms[j], &ms[i]))
                    others[k++] = ms[j];
            if (ms[i].check) {
                fprintf(out, " (not fitted) | |");
            } else if (k == 0) {
                fprintf(out, " (no other measurement in its group) | |");
            } else {
                cn_thermal_calibration cal;
                cn_thermal_calibrate(p, others, k, 0.5, &cal);
                cn_cryoprobe q = *p;
                q.surface_temp_c = cal.surface_temp_c;
                q.h_w_m2k = cal.h_w_m2k;
                double ph = cn_thermal_measurement_predict(&q, &ms[i], 0.25);
                if (cal.robin)
                    fprintf(out, " %.0f W/m2K -> %.1f | %+.0f %% |", cal.h_w_m2k, ph,
                            100 * (ph - ms[i].diameter_mm) / ms[i].diameter_mm);
                else
                    fprintf(out, " %.0f C -> %.1f | %+.0f %% |", cal.surface_temp_c, ph,
                            100 * (ph - ms[i].diameter_mm) / ms[i].diameter_mm);
            }
        }
        fprintf(out, "\n");
        fflush(out);
    }
    return worst_ok ? CN_OK : CN_ERANGE;
}

static void measured(FILE *out, const cn_thermal_catalog *cat)
{
    const cn_cryoprobe *g17 = cn_thermal_catalog_probe(cat, "17G-argon-2cm");
    const cn_tissue *std = cn_thermal_catalog_tissue(cat, "standard");
    const cn_tissue *gel = cn_thermal_catalog_tissue(cat, "standard-no-perfusion");
    fprintf(out, "\n| context (not a single-probe measurement, not fitted) | reported | model | note |\n|---|---|---|---|\n");
    if (!g17 || !std || !gel) {
        fprintf(out, "| (catalogue entries missing) | | | |\n");
        return;
    }
    cn_protocol f10;
    memset(&f10, 0, sizeof f10);
    cn_strlcpy(f10.name, "freeze-10min", sizeof f10.name);
    f10.n_steps = 1;
    f10.steps[0].kind = CN_STEP_FREEZE;
    f10.steps[0].duration_s = 600;
    double g40 = model_diameter(g17, &f10, gel, -40, 600), g0 = model_diameter(g17, &f10, gel, 0, 600);
    fprintf(out, "| Galil 17G needles in 37 C gel (PMC4850244): -40 C core ~1 cm around the needles, 0 C edge ~1 cm beyond it | ~10 mm / ~10 mm (2-4 needles 1-2.5 cm apart) | %.1f mm / %.1f mm (one needle, 10 min) | several needles make a larger, flatter core |\n",
            g40, (g0 - g40) / 2);
    /* lethal ice behind the edge: 17G, 150 s and 6 min in perfused tissue */
    cn_protocol f6 = f10;
    f6.steps[0].duration_s = 360;
    const double at[2] = {150, 360};
    for (int k = 0; k < 2; k++) {
        double r0 = model_diameter(g17, &f6, std, 0, at[k]) / 2;
        double r20 = model_diameter(g17, &f6, std, -20, at[k]) / 2;
        double r40 = model_diameter(g17, &f6, std, -40, at[k]) / 2;
        fprintf(out, "| 17G, %.0f s, perfused: -20 C / -40 C behind the 0 C edge (R %.1f mm) | 1-3 mm (nerve-sized balls); < 10 mm (Littrup) | %.1f / %.1f mm | computed, never hard-coded |\n",
                at[k], r0, r0 - r20, r0 - r40);
    }
}

int cn_thermal_validate_report(FILE *out, const cn_thermal_catalog *cat)
{
    if (!out)
        return CN_EINVAL;
    fprintf(out, "### Analytic oracles (thermal.md), single freezing temperature 0 C, T_i 37 C\n\n");
    int rc = oracles(out);
    if (rc)
        return rc;
    fprintf(out, "\n### Grid refinement, axisymmetric check, energy balance\n");
    rc = refinement_and_energy(out);
    if (rc)
        return rc;
    if (cat) {
        fprintf(out, "\n### Context: other reported ice balls (standard property set, catalogue probes)\n");
        measured(out, cat);
    }
    return CN_OK;
}
