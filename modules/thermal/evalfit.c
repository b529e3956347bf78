/*
 * evalfit.c - does fitting to the seen ice help? A simulated session whose true
 * growth law differs from the model's defaults, observed only on the transducer
 * side, predicted with and without the fit.
 *
 * The truth is either the model itself under perturbed parameters (warmer
 * effective probe surface, other perfusion, another tissue) solved on a finer grid,
 * or the simulator's empirical law r(t) = r_max (1 - exp(-k sqrt(t) / r_max)) on
 * its confocal ellipse around the active segment (the same geometry as devices/sim). Rim points are taken every
 * obs_every_s on the near half only (40..140 degrees from the tip direction, the
 * arc a transducer above the probe sees), with Gaussian noise. The hidden deep
 * edge is the far side's 0 C radius at the middle of the active segment; we score
 * it now (at the last observation) and at the end of the freeze (a forecast), and
 * the -20 C radius at the end when the truth has temperatures.
 */
#include "thermal/thermal.h"

#include <math.h>
#include <string.h>

void cn_thermal_truth_default(cn_thermal_truth *t)
{
    memset(t, 0, sizeof *t);
    cn_strlcpy(t->name, "nominal", sizeof t->name);
    cn_tissue_standard(&t->tissue);
    t->perfusion_per_s = -1;
    t->sim_k_mm_per_sqrt_s = 1.0;
    t->sim_rmax_mm = 12;
}

static double sim_radius(const cn_thermal_truth *tr, double t)
{
    if (t <= 0)
        return 0;
    return tr->sim_rmax_mm * (1 - exp(-tr->sim_k_mm_per_sqrt_s * sqrt(t) / tr->sim_rmax_mm));
}

/* The simulator's ice (devices/sim): a confocal prolate ellipse around the active
 * segment (half-length c) whose semi-latus rectum is r(t):
 * b^2 = r^2 (1 + sqrt(1 + 4 c^2 / r^2)) / 2, a = b^2 / r. b is the deep edge at
 * mid-length. */
static void sim_axes(const cn_thermal_truth *tr, double c, double t, double *a, double *b)
{
    double r = sim_radius(tr, t);
    if (r <= 0) {
        *a = *b = 0;
        return;
    }
    double b2 = r * r * (1 + sqrt(1 + 4 * c * c / (r * r))) / 2;
    *a = b2 / r;
    *b = sqrt(b2);
}

/* Distance from the active centre to the true 0 C front along theta (sim law). */
static double sim_ray(const cn_thermal_truth *tr, double c, double t, double th)
{
    double a, b;
    sim_axes(tr, c, t, &a, &b);
    if (b <= 0)
        return 0;
    double s = sin(th), co = cos(th);
    return 1.0 / sqrt(co * co / (a * a) + s * s / (b * b));
}

static double sim_deep(const cn_thermal_truth *tr, double c, double t)
{
    double a, b;
    sim_axes(tr, c, t, &a, &b);
    return b;
}

int cn_thermal_fit_eval(const cn_cryoprobe *probe, const cn_protocol *protocol,
                        const cn_tissue *nominal, const cn_thermal_truth *truth,
                        const cn_thermal_fit_opts *fo, double obs_until_s, double eval_s,
                        double noise_mm, uint64_t seed, cn_thermal_fit_eval_result *out,
                        char *err, size_t err_len)
{
    if (!probe || !protocol || !nominal || !truth || !out || !isfinite(obs_until_s) ||
        !isfinite(eval_s) || obs_until_s < 5 || eval_s < obs_until_s || eval_s > 7200 ||
        !isfinite(noise_mm) || noise_mm < 0 || noise_mm > 10) {
        snprintf(err, err_len, "fit-eval: need 5 <= obs_until_s <= eval_s <= 7200 and "
                               "0 <= noise_mm <= 10");
        return CN_EINVAL;
    }
    memset(out, 0, sizeof *out);
    cn_thermal_fit_opts fdef;
    if (!fo) {
        cn_thermal_fit_opts_default(&fdef);
        fo = &fdef;
    }
    double c = probe->active_length_mm / 2, zc = -c;
    /* truth */
    cn_thermal_model *tm = NULL;
    if (!truth->sim_law) {
        cn_thermal_model_opts mo;
        cn_thermal_model_opts_default(&mo);
        mo.h_mm = 0.25;
        mo.surface_offset_c = truth->surface_offset_c;
        mo.perfusion_per_s = truth->perfusion_per_s;
        tm = cn_thermal_model_new(probe, protocol, &truth->tissue, &mo, err, err_len);
        if (!tm)
            return CN_EINVAL;
    }
    /* unfitted: the catalogue defaults on the fit's grid */
    cn_thermal_model_opts uo;
    cn_thermal_model_opts_default(&uo);
    uo.h_mm = fo->h_mm;
    uo.dt_max_s = fo->dt_max_s;
    cn_thermal_model *um = cn_thermal_model_new(probe, protocol, nominal, &uo, err, err_len);
    cn_thermal_ensemble *e = cn_thermal_ensemble_new(probe, protocol, nominal, fo, err, err_len);
    if (!um || !e) {
        cn_thermal_model_free(tm);
        cn_thermal_model_free(um);
        cn_thermal_ensemble_free(e);
        return CN_EINVAL;
    }
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    const double every = 5;
    enum { NANG = 13 };
    cn_thermal_obs obs[NANG];
    int rc = CN_OK;
    for (double t = every; t <= obs_until_s + 1e-9 && rc == CN_OK; t += every) {
        if (tm)
            rc = cn_thermal_model_advance_to(tm, t);
        if (!rc)
            rc = cn_thermal_ensemble_advance_to(e, t, 0);
        int n = 0;
        for (int k = 0; k < NANG && !rc; k++) {
            double th = (40 + 100.0 * k / (NANG - 1)) * M_PI / 180;
            double d = tm ? cn_thermal_solver_ray_isotherm(cn_thermal_model_solver(tm), 0, 0, zc,
                                                           th, 150)
                          : sim_ray(truth, c, t, th);
            if (d <= probe->outer_diameter_mm / 2)
                continue; /* no ice seen along this ray yet */
            d += noise_mm * cn_rng_normal(&rng);
            obs[n].r_mm = d * sin(th);
            obs[n].z_mm = zc + d * cos(th);
            obs[n].t_s = t;
            n++;
        }
        if (!rc && n > 0)
            rc = cn_thermal_ensemble_observe(e, obs, n);
        out->n_obs += n;
    }
    if (!rc) {
        /* now: the hidden deep edge at the last observation */
        double t1 = obs_until_s;
        rc = cn_thermal_model_advance_to(um, t1);
        double truth_now = tm ? cn_thermal_model_radius_at(tm, 0, zc) : sim_deep(truth, c, t1);
        double sd = 0;
        double fit_now = cn_thermal_ensemble_radius_at(e, 0, zc, &sd);
        out->truth_now_mm = truth_now;
        out->err_unfitted_now_mm = fabs(cn_thermal_model_radius_at(um, 0, zc) - truth_now);
        out->err_fitted_now_mm = fabs(fit_now - truth_now);
        out->band_now_mm = sd;
        cn_thermal_fit_result fr;
        cn_thermal_ensemble_result(e, &fr);
        out->residual_mm = fr.residual_mm;
        out->fitted_offset_c = fr.surface_offset_c;
        out->fitted_perfusion_per_s = fr.perfusion_per_s;
        /* forecast: the end of the freeze, with no more observations */
        if (!rc && tm)
            rc = cn_thermal_model_advance_to(tm, eval_s);
        if (!rc)
            rc = cn_thermal_model_advance_to(um, eval_s);
        if (!rc)
            rc = cn_thermal_ensemble_advance_to(e, eval_s, 0);
        if (!rc) {
            double truth_end = tm ? cn_thermal_model_radius_at(tm, 0, zc) : sim_deep(truth, c, eval_s);
            out->truth_end_mm = truth_end;
            out->err_unfitted_end_mm = fabs(cn_thermal_model_radius_at(um, 0, zc) - truth_end);
            out->err_fitted_end_mm = fabs(cn_thermal_ensemble_radius_at(e, 0, zc, &sd) - truth_end);
            out->band_end_mm = sd;
            if (tm) {
                double t20 = cn_thermal_model_radius_at(tm, -20, zc);
                out->err20_unfitted_end_mm = fabs(cn_thermal_model_radius_at(um, -20, zc) - t20);
                out->err20_fitted_end_mm = fabs(cn_thermal_ensemble_radius_at(e, -20, zc, NULL) - t20);
            } else {
                out->err20_unfitted_end_mm = NAN;
                out->err20_fitted_end_mm = NAN;
            }
        }
    }
    if (rc)
        snprintf(err, err_len, "fit-eval: %s", cn_strerror(rc));
    cn_thermal_model_free(tm);
    cn_thermal_model_free(um);
    cn_thermal_ensemble_free(e);
    return rc;
}
