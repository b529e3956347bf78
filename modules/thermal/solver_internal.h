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

/* ------------------------------------------------------------ the 3-D grid */
/* Shared by solver3d.c (construction, probe, stepping), solver3d_well.c (the
 * probe column's face factor) and solver3d_query.c (reading and transfers). */
enum { K3_TISSUE = 0, K3_ACTIVE = 1, K3_SHAFT = 2 };

struct cn_thermal_grid {
    cn_thermal_grid_opts o;
    int nx, ny, nz;
    size_t ncell;
    double h;                 /* m */
    unsigned char *kind;
    double *H, *T;
    cn__mat mat;
    cn__line ln;
    cn_thermal_bc bc;
    bool has_probe;
    cn_thermal_probe_geom probe;
    int dom;                  /* dominant axis of the probe (0 x, 1 y, 2 z) */
    double well_mult;         /* lateral face factor of the probe column */
    double cosd;              /* cosine of the probe's tilt from its dominant axis */
    double rho_b;             /* mm: cells whose centres lie this close to the axis are probe */
    int n_faces;              /* lateral probe faces per layer */
    double tip_mult;          /* end faces: the probe's end area over the section's */
    double t, tdir[3];
    int next_dir, parity;
    int lo[3], hi[3];         /* disturbed box (inclusive cell indices) */
    double stored0;
    cn_thermal_energy en;
};

static inline size_t cn__cidx(const cn_thermal_grid *g, int i, int j, int k)
{
    return ((size_t)k * (size_t)g->ny + (size_t)j) * (size_t)g->nx + (size_t)i;
}

/* Grid frame mm of cell (i, j, k)'s centre. */
static inline cn_vec3 cn__centre(const cn_thermal_grid *g, int i, int j, int k)
{
    double h = g->o.h_mm;
    return (cn_vec3){(g->o.lo[0] + i) * h, (g->o.lo[1] + j) * h, (g->o.lo[2] + k) * h};
}

/* Heat stored in the tissue cells relative to body temperature (J). */
static inline double cn__grid_stored(const cn_thermal_grid *g)
{
    double v = g->h * g->h * g->h, s = 0;
    for (size_t c = 0; c < g->ncell; c++)
        if (g->kind[c] == K3_TISSUE)
            s += (g->H[c] - g->mat.hinit) * v;
    return s;
}

/* The face factor m that makes a rasterised probe of radius r0 (in cells; cells
 * within rho_b cells of the axis at (cx, cy) in its cell) draw what a cylinder
 * would; n_faces gets the lateral faces per layer. */
double cn__well_factor(double r0, double cx, double cy, double rho_b, int *n_faces);

#endif
