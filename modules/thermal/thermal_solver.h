/*
 * thermal_solver.h - part of thermal.h (include thermal/thermal.h, not this file): the
 * numerical core - the finite-volume enthalpy solver (1-D and 2-D axisymmetric), the 3-D
 * grid used once freezes at several spots overlap, and the analytic oracles they are
 * checked against (thermal.md).
 *
 * Its own file because it knows nothing of probes' protocols, frames or the pipeline:
 * only boundary values, a tissue and a time step. The model in thermal.h drives it.
 */
#ifndef CN_THERMAL_SOLVER_H
#define CN_THERMAL_SOLVER_H

#include "core/core.h"
#include "thermal/thermal_catalog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ solver */

typedef enum {
    CN_GEOM_PLANAR = 0,       /* 1-D, wall at x = 0 */
    CN_GEOM_CYLINDRICAL = 1,  /* 1-D, probe surface at r = r0 */
    CN_GEOM_SPHERICAL = 2,    /* 1-D, probe surface at r = r0 */
    CN_GEOM_AXISYMMETRIC = 3  /* 2-D (r, z) about the probe axis */
} cn_thermal_geometry;

typedef enum {
    CN_BC_TEMP = 0,           /* surface temperature (+ optional film resistance) */
    CN_BC_FLUX = 1,           /* heat flux density into the tissue, W/m^2 (negative = extraction) */
    CN_BC_INSULATED = 2
} cn_bc_kind;

typedef struct {
    cn_bc_kind kind;
    double temp_c;            /* CN_BC_TEMP */
    double h_w_m2k;           /* CN_BC_TEMP: film coefficient, 0 = ideal contact */
    double flux_w_m2;         /* CN_BC_FLUX */
} cn_thermal_bc;

typedef struct {
    cn_thermal_geometry geometry;
    cn_tissue tissue;
    double h_mm;              /* cell size in the tissue (default 0.25) */
    double dt_max_s;          /* largest internal step (default 0.5) */
    double r0_mm;             /* probe radius (cylindrical, spherical, axisymmetric) */
    double r_max_mm;          /* outer radius / planar depth of the domain */
    double active_length_mm;  /* axisymmetric: freezing segment z in [-active, 0] */
    double z_min_mm, z_max_mm;/* axisymmetric domain along the axis */
    bool live_split;          /* steps shorter than dt_max and CN_LIVE_SPLIT_MAX_S solve
                                 one direction each (alternating): half the cost per video
                                 frame */
} cn_thermal_solver_opts;
/* The longest step the live split takes (a frame interval of 10 frames/s). The lagging
 * direction makes the isotherms alternate frame to frame by an amount that grows with the
 * interval: at 0.5 s frames (the simulator at --time-scale 10) -20 C by 0.135 mm and the
 * coverage by 0.053 every other frame (review 41a); a longer step solves both. */
#define CN_LIVE_SPLIT_MAX_S 0.12

typedef struct {
    double stored_j;          /* change of the enthalpy content since t = 0 */
    double boundary_j;        /* heat that entered through the probe and outer boundary */
    double source_j;          /* perfusion + metabolic heat added */
} cn_thermal_energy;          /* per radian (and per metre for 1-D planar/cylinder) */

typedef struct cn_thermal_solver cn_thermal_solver;

void cn_thermal_solver_opts_default(cn_thermal_solver_opts *o);
cn_thermal_solver *cn_thermal_solver_new(const cn_thermal_solver_opts *o, char *err,
                                         size_t err_len);
void cn_thermal_solver_free(cn_thermal_solver *s);
cn_thermal_solver *cn_thermal_solver_clone(const cn_thermal_solver *s);
/* src's state into dst, a solver of the same grid (a clone of it, or of one made with
 * the same options): no allocation. CN_EINVAL when the grids differ. */
int cn_thermal_solver_copy(cn_thermal_solver *dst, const cn_thermal_solver *src);
int cn_thermal_solver_set_bc(cn_thermal_solver *s, const cn_thermal_bc *bc);
/* Advances by dt_s (split into internal steps no longer than dt_max_s). */
int cn_thermal_solver_step(cn_thermal_solver *s, double dt_s);
/* Axisymmetric only: the probe in (tip at tip_z_mm on the axis, the active
 * segment behind it: a move along the axis) or out (withdrawn: its cells become
 * tissue at the temperature of the tissue beside them, which the energy account
 * books as exchanged). CN_EUNSUPPORTED for 1-D, CN_ERANGE for a tip outside. */
int cn_thermal_solver_set_probe(cn_thermal_solver *s, bool in, double tip_z_mm);
/* Axisymmetric only: the ice (tissue at or below 0 C) melted beyond the model's own 0 C
 * front scaled about (0, zc_mm) by k(theta) in (0, 1], theta the direction from there
 * (from +z towards +r, ascending; k linear between, its end values beyond): a cell at p
 * takes the temperature above 0 C found at the point the scaling brings to p, and is never
 * cooled (solver_melt.c). The heat added is booked as a source. *n_cells (may be NULL):
 * the cells melted. */
int cn_thermal_solver_melt_beyond(cn_thermal_solver *s, double zc_mm, const double *theta,
                                  const double *k, int n_k, int *n_cells);
double cn_thermal_solver_time_s(const cn_thermal_solver *s);
/* Temperature at (r, z) in mm (1-D: z ignored); body temperature outside the domain. */
double cn_thermal_solver_temp_at(const cn_thermal_solver *s, double r_mm, double z_mm);
/* The tissue against the probe's active wall: the mean temperature of the first cells
 * beside it (what a new step of the probe starts from); NAN when the probe is out. */
double cn_thermal_solver_wall_temp_c(const cn_thermal_solver *s);
/* 1-D: position (x or r, mm) of isotherm temp_c, scanning outward; NAN when absent. */
double cn_thermal_solver_isotherm_1d(const cn_thermal_solver *s, double temp_c);
/* 1-D: freezing front from the frozen volume (exact for an enthalpy scheme). */
double cn_thermal_solver_front_1d(const cn_thermal_solver *s);
void cn_thermal_solver_energy(const cn_thermal_solver *s, cn_thermal_energy *e);
/* Distance (mm) along the ray from (r_c, z_c) at angle theta (from +z towards +r)
 * to the outermost point at or below temp_c within max_mm; 0 when none. */
double cn_thermal_solver_ray_isotherm(const cn_thermal_solver *s, double temp_c, double r_c_mm,
                                      double z_c_mm, double theta_rad, double max_mm);
int cn_thermal_solver_cells(const cn_thermal_solver *s, int *nr, int *nz);
/* Several isotherms along one ray in one march (shared samples, early stop once
 * the warmest is 3 mm behind): out[k] for temps[k], 0 when absent. */
void cn_thermal_solver_ray_isotherms(const cn_thermal_solver *s, const double *temps, int n,
                                     double r_c_mm, double z_c_mm, double theta_rad,
                                     double max_mm, double *out);
/* Axisymmetric: the smallest a_z z - |a_r| r (mm) over the tissue at or below
 * temp_c, less half a cell: the closest approach of that region to a plane with
 * normal (a_r in the r-plane, a_z) over the whole surface of revolution.
 * INFINITY when there is none. */
double cn_thermal_solver_min_rz(const cn_thermal_solver *s, double temp_c, double a_r, double a_z);
/* Axisymmetric: the disturbed region's radial extent and z range (mm). */
void cn_thermal_solver_extent(const cn_thermal_solver *s, double *r_mm, double *z0_mm,
                              double *z1_mm);

/* ------------------------------------------------------------------ 3-D grid (several freezes) */

/* The one cold field of freezes at different spots (solver3d.c): a uniform 3-D
 * grid in a frame of the caller's choice (the first freeze's probe frame). */
typedef struct {
    cn_tissue tissue;
    double h_mm;              /* cell size; ~1.4 x the probe radius keeps the probe one
                                 cell wide (default 1) */
    double dt_max_s;          /* default 1 */
    int lo[3], n[3];          /* cells: centres at (lo + i) * h_mm, 0 <= i < n, per axis */
    bool live_split;          /* steps shorter than dt_max solve one direction each */
} cn_thermal_grid_opts;

/* A probe in the grid frame: tip, unit insertion direction (the shaft lies along
 * -axis, the active segment is the last active_mm of it), radius. */
typedef struct {
    cn_vec3 tip_mm;
    cn_vec3 axis;
    double r0_mm, active_mm;
} cn_thermal_probe_geom;

typedef struct cn_thermal_grid cn_thermal_grid;

void cn_thermal_grid_opts_default(cn_thermal_grid_opts *o);
cn_thermal_grid *cn_thermal_grid_new(const cn_thermal_grid_opts *o, char *err, size_t err_len);
void cn_thermal_grid_free(cn_thermal_grid *g);
cn_thermal_grid *cn_thermal_grid_clone(const cn_thermal_grid *g);
/* dst becomes src (the same domain: cells, origin, size; CN_EINVAL otherwise), in its own
 * buffers: a kept copy of the field to go back to. */
int cn_thermal_grid_copy(cn_thermal_grid *dst, const cn_thermal_grid *src);
/* The (one) cryoprobe: placed at p, or withdrawn (NULL). Its previous cells
 * become tissue. CN_ERANGE when the active segment lies outside the domain. */
int cn_thermal_grid_set_probe(cn_thermal_grid *g, const cn_thermal_probe_geom *p);
int cn_thermal_grid_set_bc(cn_thermal_grid *g, const cn_thermal_bc *bc);
int cn_thermal_grid_step(cn_thermal_grid *g, double dt_s);
double cn_thermal_grid_time_s(const cn_thermal_grid *g);
void cn_thermal_grid_set_time(cn_thermal_grid *g, double t_s);
double cn_thermal_grid_temp_at(const cn_thermal_grid *g, cn_vec3 p_mm);
/* Fills the tissue from an axisymmetric field (its probe withdrawn first): grid
 * point p is (r, z) = (|xy|, z) of grid_to_axi * p. Resets the energy account. */
int cn_thermal_grid_fill_from(cn_thermal_grid *g, const cn_thermal_solver *s,
                              const cn_mat4 *grid_to_axi);
void cn_thermal_grid_energy(const cn_thermal_grid *g, cn_thermal_energy *e);
/* The smallest n.x (mm) over the tissue cells at or below temp_c, less half a
 * cell; INFINITY when there are none. */
double cn_thermal_grid_min_dot(const cn_thermal_grid *g, double temp_c, cn_vec3 n);
/* True when the cold has come within margin cells of the domain's edge. */
bool cn_thermal_grid_near_edge(const cn_thermal_grid *g, int margin);
/* Copies src into dst (same cell size, aligned origins): a larger domain. */
int cn_thermal_grid_copy_into(const cn_thermal_grid *src, cn_thermal_grid *dst);
/* The disturbed box, in cell units of the grid frame (centre = index * h). */
void cn_thermal_grid_box(const cn_thermal_grid *g, int lo[3], int hi[3]);
const cn_thermal_grid_opts *cn_thermal_grid_get_opts(const cn_thermal_grid *g);

/* ------------------------------------------------------------------ analytic oracles */

/* Planar Neumann problem: lambda of the front s = 2 lambda sqrt(alpha_s t). */
double cn_oracle_neumann_lambda(const cn_tissue *t, double t_wall_c, double t_freeze_c);
/* Position (mm) of isotherm temp_c (<= t_freeze) at time t_s in the Neumann solution. */
double cn_oracle_neumann_isotherm_mm(const cn_tissue *t, double t_wall_c, double t_freeze_c,
                                     double temp_c, double t_s);
/* Paterson line sink of q_w_per_m: lambda, and R(t) in mm. */
double cn_oracle_paterson_lambda(const cn_tissue *t, double q_w_per_m, double t_freeze_c);
double cn_oracle_paterson_radius_mm(const cn_tissue *t, double q_w_per_m, double t_freeze_c,
                                    double t_s);
/* Steady perfusion-limited sphere radius (mm) around a sphere of radius r0 at t_probe. */
double cn_oracle_perfusion_sphere_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                     double t_freeze_c, double perfusion_per_s);
/* Quasi-steady upper bounds (liquid at T_f): cylinder and sphere radius at t_s. */
double cn_oracle_quasisteady_cylinder_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                         double t_freeze_c, double t_s);
double cn_oracle_quasisteady_sphere_mm(const cn_tissue *t, double r0_mm, double t_probe_c,
                                       double t_freeze_c, double t_s);
/* Quasi-steady log profile: radius of isotherm temp_c inside an ice cylinder R. */
double cn_oracle_log_isotherm_mm(double r0_mm, double edge_mm, double t_probe_c,
                                 double t_freeze_c, double temp_c);

#ifdef __cplusplus
}
#endif

#endif /* CN_THERMAL_SOLVER_H */
