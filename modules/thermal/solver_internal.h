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

/* Material constants in SI (enthalpy per volume, 0 at the solidus). */
typedef struct {
    double rcf, rcu, cm_slope, hliq, tsol, tliq, kf, ku, perf, qm, ta, tinit, hinit;
} cn__mat;

typedef struct {
    int type;
    double area, d_in;   /* face area factor, distance from the cell centre to the face */
    double d_out, t_out, k_out; /* END_FIXED: distance beyond the face, its T and k */
    const cn_thermal_bc *bc;    /* END_PROBE: the probe's boundary condition */
    double k_mult;       /* END_PROBE: conduction multiplier (3-D well factor; 0 = 1) */
    double film_area;    /* END_PROBE: area of probe surface behind the face (0 = area) */
} line_end;

/* One implicit line: the material, the field, the scratch (n cells). */
typedef struct {
    const cn__mat *m;
    double *H, *T;
    int *idx;
    double *lv, *la, *ld1, *ld2, *sb, *sc, *sd, *h0, *beta, *tl, *kl, *fl, *g;
    cn_thermal_energy *en;
} cn__line;

/* Material constants from a tissue set (validated); starts from the Pennes steady
 * state so undisturbed tissue stays put. */
int cn__mat_setup(cn__mat *m, const cn_tissue *t, char *err, size_t err_len);
/* Solves the n cells of L (indices L->idx, volumes lv, inner face areas la and
 * distances ld1/ld2 between cell m and m+1) implicitly over dt; source: with
 * perfusion and metabolic heat. The energy account goes to L->en. */
void cn__solve_line(cn__line *L, int n, const line_end *left, const line_end *right, double dt,
                    bool source);

struct cn_thermal_solver {
    cn_thermal_solver_opts o;
    int nr, nz, n0, jt;                 /* n0 probe cells radially; jt first z cell beyond the tip */
    double *rf, *rc, *vr, *ar;          /* radial faces, centres, volume and area factors (m) */
    double *zf, *zc, *dz;
    unsigned char *kind;
    double *H, *T;
    cn__mat mat;
    cn__line ln;
    bool probe_in;                      /* false: the probe was withdrawn, its cells are tissue */
    double tip_z_mm;                    /* the probe tip along the axis (0 as built) */
    cn_thermal_bc bc;
    double t;
    double t_r, t_z;                    /* time each direction has been applied to */
    cn_thermal_energy en;
    int ihi, jlo, jhi;                  /* disturbed box (inclusive) */
    int parity;
};

/* Temperature of enthalpy h and back: piecewise linear, frozen / mushy / unfrozen. */
static inline double cn__t_of_h(const cn__mat *s, double h)
{
    if (h <= 0)
        return s->tsol + h / s->rcf;
    if (h < s->hliq)
        return s->tsol + h * s->cm_slope;
    return s->tliq + (h - s->hliq) / s->rcu;
}

static inline double cn__h_of_t(const cn__mat *s, double t)
{
    if (t <= s->tsol)
        return (t - s->tsol) * s->rcf;
    if (t < s->tliq)
        return s->cm_slope > 0 ? (t - s->tsol) / s->cm_slope : 0;
    return s->hliq + (t - s->tliq) * s->rcu;
}

/* Liquid fraction of enthalpy h (0 frozen .. 1 unfrozen). */
static inline double cn__fl_of_h(const cn__mat *s, double h)
{
    if (h <= 0)
        return 0;
    if (h >= s->hliq)
        return 1;
    return h / s->hliq;
}

#endif
