/*
 * oracles.c - the analytic solutions of thermal.md that the solver is checked
 * against: planar two-phase Neumann, Paterson's line sink, quasi-steady growth
 * bounds, the perfusion-limited steady sphere and the log profile inside an ice
 * cylinder. Each root is found by bisection on a bracket where the function is
 * monotone, so there is no starting-guess sensitivity and no hang: 200 halvings
 * at most.
 */
#include "thermal/thermal.h"

#include <math.h>

typedef double (*fn1)(double x, const void *ctx);

static double bisect(fn1 f, const void *ctx, double lo, double hi)
{
    double flo = f(lo, ctx);
    if (!isfinite(flo))
        return NAN;
    for (int k = 0; k < 200; k++) {
        double mid = 0.5 * (lo + hi);
        double fm = f(mid, ctx);
        if (!isfinite(fm))
            return NAN;
        if ((fm > 0) == (flo > 0)) {
            lo = mid;
            flo = fm;
        } else {
            hi = mid;
        }
        if (hi - lo < 1e-14 * (fabs(lo) + 1e-12))
            break;
    }
    return 0.5 * (lo + hi);
}

static double alpha_s(const cn_tissue *t)
{
    return t->k_frozen_w_mk / (t->rho_frozen_kg_m3 * t->c_frozen_j_kgk);
}

static double alpha_l(const cn_tissue *t)
{
    return t->k_unfrozen_w_mk / (t->rho_unfrozen_kg_m3 * t->c_unfrozen_j_kgk);
}

/* ---------------------------------------------------------------- Neumann */

typedef struct {
    const cn_tissue *t;
    double tw, tf;
} neumann_ctx;

static double neumann_f(double lam, const void *vc)
{
    const neumann_ctx *c = vc;
    const cn_tissue *t = c->t;
    double nu = sqrt(alpha_s(t) / alpha_l(t));
    double st = t->latent_j_m3 / (t->rho_frozen_kg_m3 * t->c_frozen_j_kgk * (c->tf - c->tw));
    double lhs = exp(-lam * lam) / erf(lam) -
                 (t->k_unfrozen_w_mk * nu / t->k_frozen_w_mk) *
                     ((t->t_initial_c - c->tf) / (c->tf - c->tw)) * exp(-lam * lam * nu * nu) /
                     erfc(lam * nu);
    return lhs - lam * sqrt(M_PI) * st;
}

double cn_oracle_neumann_lambda(const cn_tissue *t, double t_wall_c, double t_freeze_c)
{
    if (!t || !(t_wall_c < t_freeze_c) || !(t->t_initial_c >= t_freeze_c))
        return NAN;
    neumann_ctx c = {t, t_wall_c, t_freeze_c};
    return bisect(neumann_f, &c, 1e-6, 5);
}

static double erfinv_(double y)
{
    if (!(y > -1 && y < 1))
        return NAN;
    double lo = -6, hi = 6;
    for (int k = 0; k < 200; k++) {
        double mid = 0.5 * (lo + hi);
        if (erf(mid) < y)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double cn_oracle_neumann_isotherm_mm(const cn_tissue *t, double t_wall_c, double t_freeze_c,
                                     double temp_c, double t_s)
{
    double lam = cn_oracle_neumann_lambda(t, t_wall_c, t_freeze_c);
    if (!isfinite(lam) || !(t_s >= 0) || temp_c < t_wall_c || temp_c > t_freeze_c)
        return NAN;
    double sa = 2 * sqrt(alpha_s(t) * t_s);
    double frac = (temp_c - t_wall_c) / (t_freeze_c - t_wall_c);
    return sa * erfinv_(frac * erf(lam)) * 1e3;
}

/* ---------------------------------------------------------------- Paterson */

/* Exponential integral E1(x), x > 0: series below 1, continued fraction above. */
static double expint_e1(double x)
{
    if (x <= 0)
        return INFINITY;
    if (x < 1) {
        double sum = 0, term = 1;
        for (int k = 1; k < 60; k++) {
            term *= -x / k;
            sum -= term / k;
        }
        return -0.57721566490153286 - log(x) + sum;
    }
    /* Lentz continued fraction */
    double b = x + 1, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 200; i++) {
        double an = -(double)i * i;
        b += 2;
        d = 1 / (an * d + b);
        c = b + an / c;
        double del = c * d;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return h * exp(-x);
}

typedef struct {
    const cn_tissue *t;
    double q, tf;
} paterson_ctx;

static double paterson_f(double lam, const void *vc)
{
    const paterson_ctx *c = vc;
    const cn_tissue *t = c->t;
    double nu2 = alpha_s(t) / alpha_l(t);
    double l2 = lam * lam;
    double lhs = c->q / (4 * M_PI) * exp(-l2) -
                 t->k_unfrozen_w_mk * (t->t_initial_c - c->tf) * exp(-l2 * nu2) /
                     expint_e1(l2 * nu2);
    return lhs - l2 * alpha_s(t) * t->latent_j_m3;
}

double cn_oracle_paterson_lambda(const cn_tissue *t, double q_w_per_m, double t_freeze_c)
{
    if (!t || !(q_w_per_m > 0))
        return NAN;
    paterson_ctx c = {t, q_w_per_m, t_freeze_c};
    if (paterson_f(1e-8, &c) <= 0)
        return 0; /* too weak a sink to freeze at all */
    return bisect(paterson_f, &c, 1e-8, 5);
}

double cn_oracle_paterson_radius_mm(const cn_tissue *t, double q_w_per_m, double t_freeze_c,
                                    double t_s)
{
    double lam = cn_oracle_paterson_lambda(t, q_w_per_m, t_freeze_c);
    if (!isfinite(lam) || !(t_s >= 0))
        return NAN;
    return 2 * lam * sqrt(alpha_s(t) * t_s) * 1e3;
}

/* ---------------------------------------------------------------- steady states */

typedef struct {
    const cn_tissue *t;
    double r0, tp, tf, w, rhs;
} geo_ctx;

static double perf_f(double R, const void *vc)
{
    const geo_ctx *c = vc;
    double delta = sqrt(c->t->k_unfrozen_w_mk / (c->w * c->t->rho_blood_kg_m3 * c->t->c_blood_j_kgk));
    double lhs = c->t->k_frozen_w_mk * (c->tf - c->tp) * c->r0 / (R * (R - c->r0));
    double rhs = c->t->k_unfrozen_w_mk * (c->t->t_arterial_c - c->tf) * (1 / R + 1 / delta);
    return lhs - rhs;
}

double cn_oracle_perfusion_sphere_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                     double t_freeze_c, double perfusion_per_s)
{
    if (!t || !(r0_mm > 0) || !(perfusion_per_s > 0) || !(t_probe_c < t_freeze_c))
        return NAN;
    geo_ctx c = {t, r0_mm * 1e-3, t_probe_c, t_freeze_c, perfusion_per_s, 0};
    return bisect(perf_f, &c, c.r0 * (1 + 1e-9), 1.0) * 1e3;
}

static double qs_cyl_f(double R, const void *vc)
{
    const geo_ctx *c = vc;
    return 2 * R * R * log(R / c->r0) - R * R + c->r0 * c->r0 - c->rhs;
}

static double qs_sph_f(double R, const void *vc)
{
    const geo_ctx *c = vc;
    return R * R * R / 3 - c->r0 * R * R / 2 + c->r0 * c->r0 * c->r0 / 6 - c->rhs;
}

double cn_oracle_quasisteady_cylinder_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                         double t_freeze_c, double t_s)
{
    if (!t || !(r0_mm > 0) || !(t_s >= 0) || !(t_probe_c < t_freeze_c))
        return NAN;
    geo_ctx c = {t, r0_mm * 1e-3, t_probe_c, t_freeze_c, 0, 0};
    c.rhs = 4 * t->k_frozen_w_mk * (t_freeze_c - t_probe_c) * t_s / t->latent_j_m3;
    return bisect(qs_cyl_f, &c, c.r0, 1.0) * 1e3;
}

double cn_oracle_quasisteady_sphere_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                       double t_freeze_c, double t_s)
{
    if (!t || !(r0_mm > 0) || !(t_s >= 0) || !(t_probe_c < t_freeze_c))
        return NAN;
    geo_ctx c = {t, r0_mm * 1e-3, t_probe_c, t_freeze_c, 0, 0};
    c.rhs = t->k_frozen_w_mk * (t_freeze_c - t_probe_c) * c.r0 * t_s / t->latent_j_m3;
    return bisect(qs_sph_f, &c, c.r0, 1.0) * 1e3;
}

double cn_oracle_log_isotherm_mm(double r0_mm, double edge_mm, double t_probe_c,
                                 double t_freeze_c, double temp_c)
{
    if (!(r0_mm > 0) || !(edge_mm >= r0_mm) || !(t_probe_c < t_freeze_c))
        return NAN;
    return r0_mm * pow(edge_mm / r0_mm, (temp_c - t_probe_c) / (t_freeze_c - t_probe_c));
}
