/*
 * solver_internal.h - the solver's state, shared by solver.c (construction and
 * time stepping) and solver_query.c (temperatures, isotherms, energy). Private to
 * the thermal module.
 */
#ifndef CN_SOLVER_INTERNAL_H
#define CN_SOLVER_INTERNAL_H

#include "thermal/thermal.h"

enum { K_TISSUE = 0, K_ACTIVE = 1, K_INSULATED = 2 };
enum { END_NONE = 0, END_PROBE = 1, END_FIXED = 2 };

typedef struct {
    int type;
    double area, d_in;   /* face area factor, distance from the cell centre to the face */
    double d_out, t_out, k_out; /* END_FIXED: distance beyond the face, its T and k */
} line_end;

struct cn_thermal_solver {
    cn_thermal_solver_opts o;
    int nr, nz, n0, jt;                 /* n0 probe cells radially; jt first z cell beyond the tip */
    double *rf, *rc, *vr, *ar;          /* radial faces, centres, volume and area factors (m) */
    double *zf, *zc, *dz;
    unsigned char *kind;
    double *H, *T;
    /* material, SI */
    double rcf, rcu, cm_slope, hliq, tsol, tliq, kf, ku, perf, qm, ta, tinit, hinit;
    cn_thermal_bc bc;
    double t;
    double t_r, t_z;                    /* time each direction has been applied to */
    cn_thermal_energy en;
    int ihi, jlo, jhi;                  /* disturbed box (inclusive) */
    int parity;
    /* scratch for one line */
    int *idx;
    double *lv, *la, *ld1, *ld2, *sb, *sc, *sd, *h0, *beta, *tl, *kl, *fl, *g;
};

/* Temperature of enthalpy h and back: piecewise linear, frozen / mushy / unfrozen. */
static inline double cn__t_of_h(const cn_thermal_solver *s, double h)
{
    if (h <= 0)
        return s->tsol + h / s->rcf;
    if (h < s->hliq)
        return s->tsol + h * s->cm_slope;
    return s->tliq + (h - s->hliq) / s->rcu;
}

static inline double cn__h_of_t(const cn_thermal_solver *s, double t)
{
    if (t <= s->tsol)
        return (t - s->tsol) * s->rcf;
    if (t < s->tliq)
        return s->cm_slope > 0 ? (t - s->tsol) / s->cm_slope : 0;
    return s->hliq + (t - s->tliq) * s->rcu;
}

/* Liquid fraction of enthalpy h (0 frozen .. 1 unfrozen). */
static inline double cn__fl_of_h(const cn_thermal_solver *s, double h)
{
    if (h <= 0)
        return 0;
    if (h >= s->hliq)
        return 1;
    return h / s->hliq;
}

#endif
