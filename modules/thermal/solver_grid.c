/*
 * solver_grid.c - building the solver: material constants from the tissue set,
 * the finite-volume grid (1-D planar / cylindrical / spherical with one cell
 * standing for the probe or wall; 2-D axisymmetric with the probe's cells on the
 * axis, active where z is within the freezing segment, insulated along the shaft),
 * option checks that name the bad value, and cloning for predictions.
 */
#include "solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cn_thermal_solver_opts_default(cn_thermal_solver_opts *o)
{
    memset(o, 0, sizeof *o);
    o->geometry = CN_GEOM_AXISYMMETRIC;
    cn_tissue_standard(&o->tissue);
    o->h_mm = 0.25;
    o->dt_max_s = 0.5;
    o->r0_mm = 0.735;
    o->r_max_mm = 40;
    o->active_length_mm = 20;
    o->z_min_mm = -60;
    o->z_max_mm = 40;
}

/* ---------------------------------------------------------------- construction */

int cn__mat_setup(cn__mat *m, const cn_tissue *t, char *err, size_t err_len)
{
    int rc = cn_tissue_validate(t, err, err_len);
    if (rc)
        return rc;
    m->rcf = t->rho_frozen_kg_m3 * t->c_frozen_j_kgk;
    m->rcu = t->rho_unfrozen_kg_m3 * t->c_unfrozen_j_kgk;
    m->tsol = t->t_solidus_c;
    m->tliq = t->t_liquidus_c;
    double dt = m->tliq - m->tsol;
    /* sensible heat in the mushy zone at the mean capacity: it is < 8 % of L/dT */
    double cmix = 0.5 * (m->rcf + m->rcu);
    m->hliq = cmix * dt + t->latent_j_m3;
    m->cm_slope = dt > 0 ? dt / m->hliq : 0;
    m->kf = t->k_frozen_w_mk;
    m->ku = t->k_unfrozen_w_mk;
    m->perf = t->perfusion_per_s * t->rho_blood_kg_m3 * t->c_blood_j_kgk;
    m->qm = t->metabolic_w_m3;
    m->ta = t->t_arterial_c;
    /* Start from the Pennes steady state so undisturbed tissue stays put. */
    m->tinit = m->perf > 0 ? m->ta + m->qm / m->perf : t->t_initial_c;
    if (m->perf <= 0)
        m->qm = 0; /* no steady state exists with heat sources and no sink */
    m->hinit = cn__h_of_t(m, m->tinit);
    return CN_OK;
}

static double area_of(cn_thermal_geometry g, double r)
{
    switch (g) {
    case CN_GEOM_PLANAR: return 1;
    case CN_GEOM_SPHERICAL: return r * r;
    default: return r;
    }
}

static double vol_of(cn_thermal_geometry g, double r1, double r2)
{
    switch (g) {
    case CN_GEOM_PLANAR: return r2 - r1;
    case CN_GEOM_SPHERICAL: return (r2 * r2 * r2 - r1 * r1 * r1) / 3;
    default: return (r2 * r2 - r1 * r1) / 2;
    }
}

static bool finite_pos(double v) { return isfinite(v) && v > 0; }

cn_thermal_solver *cn_thermal_solver_new(const cn_thermal_solver_opts *o, char *err,
                                         size_t err_len)
{
    if (!o || o->geometry < CN_GEOM_PLANAR || o->geometry > CN_GEOM_AXISYMMETRIC) {
        snprintf(err, err_len, "thermal solver: unknown geometry");
        return NULL;
    }
    if (!finite_pos(o->h_mm) || o->h_mm < 0.02 || o->h_mm > 5) {
        snprintf(err, err_len, "thermal solver: h_mm must be in [0.02, 5], got %g", o->h_mm);
        return NULL;
    }
    if (!finite_pos(o->dt_max_s) || o->dt_max_s > 60) {
        snprintf(err, err_len, "thermal solver: dt_max_s must be in (0, 60], got %g",
                 o->dt_max_s);
        return NULL;
    }
    bool needs_r0 = o->geometry != CN_GEOM_PLANAR;
    if (needs_r0 && (!finite_pos(o->r0_mm) || o->r0_mm > 20)) {
        snprintf(err, err_len, "thermal solver: r0_mm must be in (0, 20], got %g", o->r0_mm);
        return NULL;
    }
    double r0 = needs_r0 ? o->r0_mm : 0;
    if (!finite_pos(o->r_max_mm) || o->r_max_mm <= r0 + 4 * o->h_mm || o->r_max_mm > 500) {
        snprintf(err, err_len, "thermal solver: r_max_mm must exceed r0 + 4 cells and be <= 500, got %g",
                 o->r_max_mm);
        return NULL;
    }
    if (o->geometry == CN_GEOM_AXISYMMETRIC &&
        (!finite_pos(o->active_length_mm) || !isfinite(o->z_min_mm) || !isfinite(o->z_max_mm) ||
         o->z_min_mm > -o->active_length_mm - 4 * o->h_mm || o->z_max_mm < 4 * o->h_mm ||
         o->z_max_mm - o->z_min_mm > 1000)) {
        snprintf(err, err_len,
                 "thermal solver: axisymmetric domain needs active_length_mm > 0 and "
                 "z_min_mm < -active_length_mm < 0 < z_max_mm (got %g, %g, %g)",
                 o->active_length_mm, o->z_min_mm, o->z_max_mm);
        return NULL;
    }
    cn_thermal_solver *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "thermal solver: out of memory");
        return NULL;
    }
    s->o = *o;
    if (cn__mat_setup(&s->mat, &s->o.tissue, err, err_len)) {
        free(s);
        return NULL;
    }
    double h = o->h_mm * 1e-3;
    r0 *= 1e-3;
    int ntis = (int)ceil((o->r_max_mm * 1e-3 - r0) / h - 1e-9);
    if (o->geometry == CN_GEOM_AXISYMMETRIC)
        s->n0 = r0 > 0 ? (int)ceil(r0 / h - 1e-9) : 0;
    else
        s->n0 = 1; /* one cell stands for the probe / wall */
    s->nr = s->n0 + ntis;
    if (o->geometry == CN_GEOM_AXISYMMETRIC) {
        int jmin = (int)floor(o->z_min_mm / o->h_mm + 1e-9);
        int jmax = (int)ceil(o->z_max_mm / o->h_mm - 1e-9);
        s->nz = jmax - jmin;
        s->jt = -jmin;
    } else {
        s->nz = 1;
        s->jt = 0;
    }
    int nmax = s->nr > s->nz ? s->nr : s->nz;
    size_t ncell = (size_t)s->nr * (size_t)s->nz;
    if (ncell > 4000000u) {
        snprintf(err, err_len, "thermal solver: grid of %d x %d cells is too large", s->nr, s->nz);
        free(s);
        return NULL;
    }
    s->rf = calloc((size_t)s->nr + 1, sizeof(double));
    s->rc = calloc((size_t)s->nr, sizeof(double));
    s->vr = calloc((size_t)s->nr, sizeof(double));
    s->ar = calloc((size_t)s->nr + 1, sizeof(double));
    s->zf = calloc((size_t)s->nz + 1, sizeof(double));
    s->zc = calloc((size_t)s->nz, sizeof(double));
    s->dz = calloc((size_t)s->nz, sizeof(double));
    s->kind = calloc(ncell, 1);
    s->H = malloc(ncell * sizeof(double));
    s->T = malloc(ncell * sizeof(double));
    s->ln.idx = calloc((size_t)nmax, sizeof(int));
    double **scr[] = {&s->ln.lv, &s->ln.la, &s->ln.ld1, &s->ln.ld2, &s->ln.sb, &s->ln.sc,
                      &s->ln.sd, &s->ln.h0, &s->ln.beta, &s->ln.tl, &s->ln.kl, &s->ln.fl, &s->ln.g};
    bool ok = s->rf && s->rc && s->vr && s->ar && s->zf && s->zc && s->dz && s->kind && s->H &&
              s->T && s->ln.idx;
    for (size_t i = 0; i < sizeof scr / sizeof scr[0]; i++) {
        *scr[i] = calloc((size_t)nmax + 1, sizeof(double));
        ok = ok && *scr[i];
    }
    if (!ok) {
        cn_thermal_solver_free(s);
        snprintf(err, err_len, "thermal solver: out of memory");
        return NULL;
    }
    /* radial faces */
    if (o->geometry == CN_GEOM_AXISYMMETRIC) {
        for (int i = 0; i <= s->n0; i++)
            s->rf[i] = s->n0 ? r0 * i / s->n0 : 0;
    } else if (o->geometry == CN_GEOM_PLANAR) {
        s->rf[0] = -h;
        s->rf[1] = 0;
    } else {
        s->rf[0] = r0 > h ? r0 - h : 0;
        s->rf[1] = r0;
    }
    for (int i = s->n0 + 1; i <= s->nr; i++)
        s->rf[i] = r0 + (i - s->n0) * h;
    for (int i = 0; i < s->nr; i++) {
        s->rc[i] = 0.5 * (s->rf[i] + s->rf[i + 1]);
        s->vr[i] = vol_of(o->geometry, s->rf[i], s->rf[i + 1]);
    }
    for (int i = 0; i <= s->nr; i++)
        s->ar[i] = area_of(o->geometry, s->rf[i]);
    if (o->geometry == CN_GEOM_AXISYMMETRIC) {
        for (int j = 0; j <= s->nz; j++)
            s->zf[j] = (j - s->jt) * h;
        for (int j = 0; j < s->nz; j++) {
            s->zc[j] = 0.5 * (s->zf[j] + s->zf[j + 1]);
            s->dz[j] = h;
        }
    } else {
        s->zf[0] = 0;
        s->zf[1] = 1;
        s->zc[0] = 0.5;
        s->dz[0] = 1; /* per metre of length (planar: per m^2) */
    }
    double active = o->active_length_mm * 1e-3;
    for (int j = 0; j < s->nz; j++)
        for (int i = 0; i < s->n0; i++) {
            unsigned char k = K_ACTIVE;
            if (o->geometry == CN_GEOM_AXISYMMETRIC) {
                if (s->zc[j] > 0)
                    k = K_TISSUE;
                else if (s->zc[j] < -active)
                    k = K_INSULATED;
            }
            s->kind[(size_t)j * s->nr + i] = k;
        }
    for (size_t c = 0; c < ncell; c++) {
        s->H[c] = s->mat.hinit;
        s->T[c] = s->mat.tinit;
    }
    s->ln.m = &s->mat;
    s->ln.H = s->H;
    s->ln.T = s->T;
    s->ln.en = &s->en;
    s->probe_in = o->geometry == CN_GEOM_AXISYMMETRIC;
    s->tip_z_mm = 0;
    s->bc.kind = CN_BC_INSULATED;
    s->ihi = s->n0;
    s->jlo = 0;
    s->jhi = s->nz - 1;
    if (o->geometry == CN_GEOM_AXISYMMETRIC) {
        int ja = (int)floor((-active - s->zf[0]) / h);
        s->jlo = ja > 0 ? ja : 0;
        s->jhi = s->jt < s->nz - 1 ? s->jt : s->nz - 1;
    }
    return s;
}

void cn_thermal_solver_free(cn_thermal_solver *s)
{
    if (!s)
        return;
    double *arrs[] = {s->rf, s->rc, s->vr, s->ar, s->zf, s->zc, s->dz, s->H, s->T,
                      s->ln.lv, s->ln.la, s->ln.ld1, s->ln.ld2, s->ln.sb, s->ln.sc, s->ln.sd,
                      s->ln.h0, s->ln.beta, s->ln.tl, s->ln.kl, s->ln.fl, s->ln.g};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        free(arrs[i]);
    free(s->kind);
    free(s->ln.idx);
    free(s);
}

cn_thermal_solver *cn_thermal_solver_clone(const cn_thermal_solver *s)
{
    char err[64];
    cn_thermal_solver *c = cn_thermal_solver_new(&s->o, err, sizeof err);
    if (!c)
        return NULL;
    size_t ncell = (size_t)s->nr * (size_t)s->nz;
    memcpy(c->H, s->H, ncell * sizeof(double));
    memcpy(c->T, s->T, ncell * sizeof(double));
    c->bc = s->bc;
    c->t = s->t;
    c->en = s->en;
    c->ihi = s->ihi;
    c->jlo = s->jlo;
    c->jhi = s->jhi;
    c->parity = s->parity;
    c->t_r = s->t_r;
    c->t_z = s->t_z;
    memcpy(c->kind, s->kind, ncell);
    c->probe_in = s->probe_in;
    c->tip_z_mm = s->tip_z_mm;
    c->jt = s->jt;
    return c;
}

int cn_thermal_solver_copy(cn_thermal_solver *dst, const cn_thermal_solver *src)
{
    if (!dst || !src || dst->nr != src->nr || dst->nz != src->nz || dst->n0 != src->n0 ||
        dst->o.geometry != src->o.geometry)
        return CN_EINVAL;
    size_t ncell = (size_t)src->nr * (size_t)src->nz;
    dst->o = src->o;
    dst->mat = src->mat;
    memcpy(dst->H, src->H, ncell * sizeof(double));
    memcpy(dst->T, src->T, ncell * sizeof(double));
    memcpy(dst->kind, src->kind, ncell);
    dst->bc = src->bc;
    dst->t = src->t;
    dst->en = src->en;
    dst->ihi = src->ihi;
    dst->jlo = src->jlo;
    dst->jhi = src->jhi;
    dst->parity = src->parity;
    dst->t_r = src->t_r;
    dst->t_z = src->t_z;
    dst->probe_in = src->probe_in;
    dst->tip_z_mm = src->tip_z_mm;
    dst->jt = src->jt;
    return CN_OK;
}

int cn_thermal_solver_set_bc(cn_thermal_solver *s, const cn_thermal_bc *bc)
{
    if (!s || !bc)
        return CN_EINVAL;
    if (bc->kind == CN_BC_TEMP &&
        (!isfinite(bc->temp_c) || bc->temp_c < -273 || bc->temp_c > 200 || !isfinite(bc->h_w_m2k) ||
         bc->h_w_m2k < 0))
        return CN_EINVAL;
    if (bc->kind == CN_BC_FLUX && (!isfinite(bc->flux_w_m2) || fabs(bc->flux_w_m2) > 1e9))
        return CN_EINVAL;
    if (bc->kind < CN_BC_TEMP || bc->kind > CN_BC_INSULATED)
        return CN_EINVAL;
    s->bc = *bc;
    return CN_OK;
}

