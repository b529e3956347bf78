/*
 * cmd_thermal_fit.c - the calibration half of `cryonav thermal`: fit-eval (the
 * fitted vs unfitted prediction of the hidden deep edge), validate (every oracle and
 * measured ice ball) and calibrate (each probe's parameter fitted to the measured
 * ice balls). Only parsing-free printing: the physics lives in modules/thermal.
 */
#include "cmd_thermal.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kCmd = "thermal";

/* ---------------------------------------------------------------- fit evaluation */

int thermal_run_fit_eval(const thermal_args *a, const cn_thermal_catalog *cat)
{
    cn_cryoprobe probe, *p = &probe;
    const cn_protocol *q;
    const cn_tissue *t;
    int rc = thermal_pick(a, cat, p, &q, &t);
    if (rc)
        return rc;
    double first = q->steps[0].kind == CN_STEP_FREEZE ? q->steps[0].duration_s : 0;
    if (first < 10)
        return cn_app_usage_error(kCmd, "fit-eval needs a protocol that starts with a freeze of >= 10 s");
    double eval = isfinite(a->eval_s) ? a->eval_s : first;
    double until = isfinite(a->obs_until_s) ? a->obs_until_s : first / 2;
    if (until > eval)
        return cn_app_usage_error(kCmd, "--obs-until must not be after --eval");
    enum { NT = 7 };
    cn_thermal_truth tr[NT];
    for (int i = 0; i < NT; i++) {
        cn_thermal_truth_default(&tr[i]);
        tr[i].tissue = *t;
    }
    cn_strlcpy(tr[0].name, "probe 30 C warmer", sizeof tr[0].name);
    tr[0].surface_offset_c = 30;
    cn_strlcpy(tr[1].name, "perfusion 0.003 /s", sizeof tr[1].name);
    tr[1].perfusion_per_s = 0.003;
    cn_strlcpy(tr[2].name, "45 C warmer + w 0.002", sizeof tr[2].name);
    tr[2].surface_offset_c = 45;
    tr[2].perfusion_per_s = 0.002;
    cn_strlcpy(tr[3].name, "other tissue", sizeof tr[3].name); /* fattier, wetter, perfused */
    tr[3].tissue.k_frozen_w_mk = 1.6;
    tr[3].tissue.latent_j_m3 = 300e6;
    tr[3].tissue.perfusion_per_s = 0.001;
    /* the simulator's law and ellipse, on the simulator's needle (1.5 mm, 6 mm active) */
    cn_strlcpy(tr[4].name, "sim law k 0.9 rmax 9 (sim needle)", sizeof tr[4].name);
    tr[4].sim_law = true;
    tr[4].sim_k_mm_per_sqrt_s = 0.9;
    tr[4].sim_rmax_mm = 9;
    cn_strlcpy(tr[5].name, "sim law k 0.7 rmax 7 (sim needle)", sizeof tr[5].name);
    tr[5].sim_law = true;
    tr[5].sim_k_mm_per_sqrt_s = 0.7;
    tr[5].sim_rmax_mm = 7;
    cn_strlcpy(tr[6].name, "defaults (control)", sizeof tr[6].name);
    cn_cryoprobe simp = *p;
    simp.outer_diameter_mm = 1.5;
    simp.active_length_mm = 6;
    cn_thermal_fit_opts fo;
    cn_thermal_fit_opts_default(&fo);
    printf("# %s, %s, tissue %s: near-side rim every 5 s until %.0f s (noise %.2f mm); deep "
           "edge = far-side 0 C radius at mid active segment\n",
           p->name, q->name, t->name, until, a->noise_mm);
    printf("| truth | deep edge at %.0f s: unfitted / fitted (band) mm | at %.0f s: unfitted / "
           "fitted (band) mm | -20 C at %.0f s: unfitted / fitted mm | residual mm | fitted "
           "offset C, perfusion /s |\n|---|---|---|---|---|---|\n",
           until, eval, eval);
    double su = 0, sf = 0, eu = 0, ef = 0;
    for (int i = 0; i < NT; i++) {
        cn_thermal_fit_eval_result r;
        char err[512];
        rc = cn_thermal_fit_eval(tr[i].sim_law ? &simp : p, q, t, &tr[i], &fo, until, eval,
                                 a->noise_mm, (uint64_t)a->seed + (uint64_t)i, &r, err, sizeof err);
        if (rc) {
            fprintf(stderr, "cryonav thermal: %s\n", err);
            return 1;
        }
        printf("| %s | %.2f / %.2f (%.2f) | %.2f / %.2f (%.2f) | ", tr[i].name,
               r.err_unfitted_now_mm, r.err_fitted_now_mm, r.band_now_mm, r.err_unfitted_end_mm,
               r.err_fitted_end_mm, r.band_end_mm);
        if (isfinite(r.err20_unfitted_end_mm))
            printf("%.2f / %.2f", r.err20_unfitted_end_mm, r.err20_fitted_end_mm);
        else
            printf("n/a");
        printf(" | %.2f | %+.0f, %.4f |\n", r.residual_mm, r.fitted_offset_c, r.fitted_perfusion_per_s);
        su += r.err_unfitted_now_mm;
        sf += r.err_fitted_now_mm;
        eu += r.err_unfitted_end_mm;
        ef += r.err_fitted_end_mm;
        fflush(stdout);
    }
    printf("| **mean** | %.2f / %.2f | %.2f / %.2f | | | |\n", su / NT, sf / NT, eu / NT, ef / NT);
    return 0;
}

/* The measured ice balls (config/ice_measurements.json or --measurements). */
static int load_measurements(const thermal_args *a, const cn_thermal_catalog *cat,
                             cn_thermal_measurement *ms, int *n)
{
    char path[1024], err[1024];
    const char *p = a->measurements ? a->measurements
                                    : cn_app_data_path("config/ice_measurements.json", path, sizeof path);
    if (cn_thermal_measurements_load(p, cat, ms, CN_THERMAL_CAL_MAX, n, err, sizeof err)) {
        fprintf(stderr, "cryonav thermal: %s\n", err);
        return 2;
    }
    return 0;
}

/* Each (probe, medium group) with measurements: its fitted effective surface
 * temperature (the default group: the probe's surface_temp_c; a per-tissue group:
 * its surface_by_tissue entry). */
int thermal_run_calibrate(const thermal_args *a, cn_thermal_catalog *cat)
{
    /* on the heap (two x 32 measurements), not in static storage */
    cn_thermal_measurement *ms = calloc(2 * CN_THERMAL_CAL_MAX, sizeof *ms);
    if (!ms) {
        fprintf(stderr, "cryonav thermal: out of memory\n");
        return 1;
    }
    cn_thermal_measurement *sel = ms + CN_THERMAL_CAL_MAX;
    int n;
    int rc = load_measurements(a, cat, ms, &n);
    if (rc) {
        free(ms);
        return rc;
    }
    if (isfinite(a->robin_gas_c)) { /* the film-law test: each measurement in its own medium */
        cn_thermal_measurements_use_own_media(ms, n);
        cn_thermal_catalog_use_film_law(cat, a->robin_gas_c, ms, n, 0);
    }
    double h = isfinite(a->h_mm) ? a->h_mm : 0.5;
    bool robin = isfinite(a->robin_gas_c);
    if (robin)
        printf("| probe | measurements | gas (C) | fitted film (W/m2K) | 1 sigma (x/) | each alone asks (W/m2K) | RMS error |\n"
               "|---|---|---|---|---|---|---|\n");
    else
        printf("| probe | medium group (cryoprobes.json field) | measurements | fitted surface (C) | 1 sigma (C) | each alone asks (C) | RMS error |\n"
               "|---|---|---|---|---|---|---|\n");
    bool done[CN_THERMAL_CAL_MAX] = {false};
    for (int i = 0; i < cat->n_probes; i++) {
        /* the probe's groups in file order, the default first when it has one */
        for (int pass = 0; pass < 2; pass++)
            for (int g = 0; g < n && g < CN_THERMAL_CAL_MAX; g++) {
                if (done[g] || ms[g].check || strcmp(ms[g].probe, cat->probes[i].name) != 0 ||
                    ms[g].by_tissue != (pass == 1))
                    continue;
                int k = 0;
                for (int j = g; j < n && j < CN_THERMAL_CAL_MAX; j++) /* checks are never fitted */
                    if (!done[j] && !ms[j].check && cn_thermal_measurement_same_group(&ms[j], &ms[g])) {
                        sel[k++] = ms[j];
                        done[j] = true;
                    }
                cn_thermal_calibration cal;
                cn_thermal_calibrate(&cat->probes[i], sel, k, h, &cal);
                char group[CN_THERMAL_NAME_MAX + 48];
                if (ms[g].by_tissue)
                    snprintf(group, sizeof group, "%s (surface_by_tissue)", ms[g].medium.name);
                else
                    snprintf(group, sizeof group, "default (surface_temp_c)");
                if (cal.robin)
                    printf("| %s | %d | %.0f | %.0f | %.2f |", cat->probes[i].name, k,
                           cal.surface_temp_c, cal.h_w_m2k, exp(cal.ln_h_sd));
                else
                    printf("| %s | %s | %d | %.0f | %.0f |", cat->probes[i].name, group, k,
                           cal.surface_temp_c, cal.sd_c);
                for (int j = 0; j < k; j++)
                    printf("%s %.0f (%s)", j ? "," : "",
                           cal.robin ? cal.single_h_w_m2k[j] : cal.single_c[j], sel[j].id);
                printf(" | %.0f %% |\n", 100 * cal.rms_rel);
                fflush(stdout);
            }
    }
    free(ms);
    return 0;
}

/* The catalogue against every oracle and measured ice ball. */
int thermal_run_validate(const thermal_args *a, cn_thermal_catalog *cat)
{
    cn_thermal_measurement *ms = calloc(CN_THERMAL_CAL_MAX, sizeof *ms);
    if (!ms) {
        fprintf(stderr, "cryonav thermal: out of memory\n");
        return 1;
    }
    int n = 0;
    int rc = load_measurements(a, cat, ms, &n);
    if (!rc && isfinite(a->robin_gas_c)) {
        /* the film-law test: each measurement in its own medium, each measured
         * probe's film fitted (the in-sample column) */
        cn_thermal_measurements_use_own_media(ms, n);
        cn_thermal_catalog_use_film_law(cat, a->robin_gas_c, ms, n, 0.5);
        printf("### Film-law test: Robin boundary, gas at %.0f C, film fitted per probe\n",
               a->robin_gas_c);
    }
    if (!rc) {
        printf("### Catalogue vs measured ice balls (config/ice_measurements.json)\n");
        int bad = cn_thermal_validate_measured(stdout, cat, ms, n, a->held_out);
        fflush(stdout);
        rc = cn_thermal_validate_report(stdout, cat) ? 1 : bad ? 1 : 0;
    }
    free(ms);
    return rc;
}
