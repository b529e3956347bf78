/*
 * thermal.h - the predicted ablation zone: cryoprobe catalogue, Pennes bioheat
 * solver with phase change, isotherms, and fitting of the model to the ice seen
 * on ultrasound.
 *
 * Layers, lowest first:
 *  - catalogue: cryoprobes, freeze/thaw protocols and tissue property sets read
 *    from the JSON files in config/ (a bad entry is rejected naming file, line, key, reason);
 *  - solver: one finite-volume enthalpy core that runs 1-D planar, cylindrical and
 *    spherical (checked against the analytic oracles of thermal.md) and 2-D
 *    axisymmetric (r, z) about the probe axis (the live case);
 *  - model: a solver driven by a probe + protocol + tissue, stepped incrementally
 *    with the session clock, answering temperatures, isotherm surfaces (triangle
 *    meshes in the probe frame), their intersection with the ultrasound plane,
 *    target coverage and distance to the skin;
 *  - ensemble fit: a small family of models with different uncertain parameters
 *    (effective probe surface temperature, perfusion) stepped together and
 *    weighted by how well their 0 C front matches the observed rim points;
 *  - a pipeline stage that does all of it per analysed frame.
 *
 * Probe frame (the cryoprobe's): origin at the needle tip, shaft along -Z, so the
 * active segment is z in [-active_length_mm, 0]; r is the distance from the axis.
 * Lengths in mm, times in s (model time: 0 = protocol start), temperatures in C.
 */
#ifndef CN_THERMAL_H
#define CN_THERMAL_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ catalogue */

#define CN_THERMAL_NAME_MAX 64
#define CN_THERMAL_CATALOG_MAX 32
#define CN_PROTOCOL_STEPS_MAX 16

typedef enum {
    CN_PROBE_BC_DIRICHLET = 0, /* surface held at surface_temp_c after a ramp */
    CN_PROBE_BC_ROBIN = 1      /* gas at surface_temp_c through a film coefficient h */
} cn_probe_bc;

/* A probe's effective surface temperature in one medium (issue 13): the wall runs
 * colder where the medium draws less heat (aerated lung against agar or soft
 * tissue), so a probe may carry per-tissue values fitted to measurements made in
 * that tissue; a session in that tissue uses them, any other tissue the default. */
#define CN_PROBE_TISSUES_MAX 4
typedef struct {
    char tissue[CN_THERMAL_NAME_MAX]; /* a tissue of the catalogue (tissues.json) */
    double surface_temp_c;            /* the fitted effective surface temperature there */
    double surface_temp_sd_c;         /* its 1-sigma uncertainty (> 0: it is calibrated) */
} cn_probe_surface;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    char gas[16];                 /* "argon", "N2O", "CO2" */
    double outer_diameter_mm;
    double active_length_mm;      /* distal freezing segment, ends at the tip */
    cn_probe_bc bc;
    double surface_temp_c;        /* Dirichlet: surface; Robin: gas temperature */
    double ramp_s;                /* time constant of the cool-down from body temperature */
    double h_w_m2k;               /* Robin film coefficient (0 for Dirichlet) */
    double active_thaw_temp_c;    /* surface temperature during an active thaw */
    double surface_temp_sd_c;     /* calibration uncertainty of surface_temp_c (1 sigma;
                                     0 = not calibrated): the live ensemble spans +-2 of it */
    int n_by_tissue;              /* "surface_by_tissue": per-tissue overrides of the two
                                     above (Dirichlet probes only; the rest is the default,
                                     fitted in soft tissue / agar) */
    cn_probe_surface by_tissue[CN_PROBE_TISSUES_MAX];
} cn_cryoprobe;

typedef enum {
    CN_STEP_FREEZE = 0,
    CN_STEP_PASSIVE_THAW = 1,     /* gas off: the probe neither cools nor heats */
    CN_STEP_ACTIVE_THAW = 2       /* the probe is heated to active_thaw_temp_c */
} cn_step_kind;

typedef struct {
    cn_step_kind kind;
    double duration_s;
} cn_protocol_step;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    int n_steps;
    cn_protocol_step steps[CN_PROTOCOL_STEPS_MAX];
    double extra_freeze_s;        /* suggested freeze after a reposition (0 = none) */
} cn_protocol;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    double k_unfrozen_w_mk, k_frozen_w_mk;
    double c_unfrozen_j_kgk, c_frozen_j_kgk;
    double rho_unfrozen_kg_m3, rho_frozen_kg_m3;
    double latent_j_m3;
    double t_liquidus_c, t_solidus_c;   /* equal = a single freezing temperature */
    double perfusion_per_s;             /* w_b */
    double c_blood_j_kgk, rho_blood_kg_m3;
    double t_arterial_c, t_initial_c;
    double metabolic_w_m3;
} cn_tissue;

typedef struct {
    int n_probes, n_protocols, n_tissues;
    cn_cryoprobe probes[CN_THERMAL_CATALOG_MAX];
    cn_protocol protocols[CN_THERMAL_CATALOG_MAX];
    cn_tissue tissues[CN_THERMAL_CATALOG_MAX];
} cn_thermal_catalog;

/* The standard property set of thermal.md (k 0.5/2.0, c 3600/1800, rho 1000/998,
 * L 250 MJ/m^3, mushy -8..-1 C, w 0.0005/s, T 37 C, q_m 420 W/m^3). */
void cn_tissue_standard(cn_tissue *t);
/* Range and consistency checks; the message names the entry and the field. */
int cn_tissue_validate(const cn_tissue *t, char *err, size_t err_len);
int cn_cryoprobe_validate(const cn_cryoprobe *p, char *err, size_t err_len);
/* The probe as the needle really in the tissue: its outer diameter and active length
 * (mm), e.g. the simulator's needle, whatever probe the configuration names. The
 * calibrated surface temperature is kept (a probe of the same class). 1 when the
 * geometry changed (by more than 0.01 mm), 0 when it already was that needle, CN_EINVAL
 * for a geometry cn_cryoprobe_validate refuses (p unchanged). */
int cn_cryoprobe_set_geometry(cn_cryoprobe *p, double outer_diameter_mm, double active_length_mm);
/* The coldest a probe of this gas can be: its normal boiling point (N2O -88.5 C,
 * CO2 -78.5 C, argon -185.8 C; -INFINITY for another gas). */
double cn_cryoprobe_gas_floor_c(const char *gas);
/* The probe as it works in tissue `tissue` (a tissue name): its surface temperature
 * and uncertainty replaced by the probe's override for that tissue when it has one
 * ("surface_by_tissue" in cryoprobes.json). 1 when an override was applied, 0 when
 * the default stands (no override for that tissue, or tissue NULL). */
int cn_cryoprobe_in_tissue(cn_cryoprobe *p, const char *tissue);
/* Also rejects a protocol that never freezes. */
int cn_protocol_validate(const cn_protocol *p, char *err, size_t err_len);
double cn_protocol_duration_s(const cn_protocol *p);
/* Step kind at protocol time t (after the last step: passive thaw). */
cn_step_kind cn_protocol_kind_at(const cn_protocol *p, double t_s, double *step_elapsed_s);

/* Loads any of the three files (NULL = skip). Entries are appended, so a user file
 * can add probes after the shipped ones; a duplicate name replaces the older entry.
 * Errors name file:line: key: reason. The tissues are read first: a probe's
 * "surface_by_tissue" may only name tissues the catalogue then holds. */
int cn_thermal_catalog_load(cn_thermal_catalog *c, const char *probes_json,
                            const char *protocols_json, const char *tissues_json, char *err,
                            size_t err_len);
const cn_cryoprobe *cn_thermal_catalog_probe(const cn_thermal_catalog *c, const char *name);
const cn_protocol *cn_thermal_catalog_protocol(const cn_thermal_catalog *c, const char *name);
const cn_tissue *cn_thermal_catalog_tissue(const cn_thermal_catalog *c, const char *name);

/* ------------------------------------------------------------------ measured ice balls */

/* A published measurement (config/ice_measurements.json, calib.c): the diameter
 * of isotherm temp_c across the probe at the middle of its active segment, at_s
 * into the steps, in a medium (a tissue set, maybe at another temperature). */
typedef struct {
    char id[64];
    char probe[CN_THERMAL_NAME_MAX];
    char source[512];                 /* the citation and what was measured */
    bool derived;                     /* computed from the paper's numbers (e.g. an area ratio) */
    bool check;                       /* predicted and reported, never fitted and not held
                                       * to the 20 % ("check": true) */
    bool by_tissue;                   /* "calibrates": "surface_by_tissue": fits the probe's
                                         override for this tissue ("tissue"), in a group of
                                         its own; otherwise the probe's default surface */
    cn_tissue medium;                 /* the set the shipped catalogue is fitted with ("tissue") */
    cn_tissue own_medium;             /* "medium": the medium with its own published
                                         properties (agar, lung, ...), when given */
    bool has_own_medium;
    cn_protocol protocol;
    double temp_c, diameter_mm, at_s;
} cn_thermal_measurement;

#define CN_THERMAL_CAL_MAX 32
typedef struct {
    bool robin;                       /* the probe's law: false = Dirichlet surface
                                         temperature fitted, true = Robin film coefficient
                                         fitted behind the probe's (fixed) gas temperature */
    double surface_temp_c;            /* Dirichlet: the fitted effective surface temperature;
                                         Robin: the gas temperature (not fitted) */
    double sd_c;                      /* Dirichlet: its 1-sigma uncertainty */
    double h_w_m2k;                   /* Robin: the fitted film coefficient */
    double ln_h_sd;                   /* Robin: 1-sigma uncertainty of ln(h) */
    int n;
    double rms_rel;                   /* RMS relative diameter error at the fit */
    double single_c[CN_THERMAL_CAL_MAX]; /* Dirichlet: the temperature each measurement alone asks */
    double single_h_w_m2k[CN_THERMAL_CAL_MAX]; /* Robin: the film each alone asks */
} cn_thermal_calibration;

/* Loads the measurements; probes and tissues are names in cat. Errors name the
 * file, line and key. */
int cn_thermal_measurements_load(const char *path, const cn_thermal_catalog *cat,
                                 cn_thermal_measurement *out, int max, int *n, char *err,
                                 size_t err_len);
/* Each measurement that names its own medium is predicted in it from now on (the
 * film-law test of docs/validation.md); returns how many changed. The film law has
 * one film per probe across media, so the per-tissue groups become checks again
 * (fitted on the default group only, as the test was run). */
int cn_thermal_measurements_use_own_media(cn_thermal_measurement *ms, int n);
/* The catalogue probe as it applies to measurement m: the override of m's tissue
 * for a per-tissue ("surface_by_tissue") measurement, the default otherwise. */
void cn_thermal_measurement_probe(const cn_cryoprobe *catalogue_probe,
                                  const cn_thermal_measurement *m, cn_cryoprobe *out);
/* Whether measurements a and b calibrate the same parameter: the same probe and
 * the same group (the default surface, or the override of the same tissue). */
bool cn_thermal_measurement_same_group(const cn_thermal_measurement *a,
                                       const cn_thermal_measurement *b);
/* The model's diameter (mm) for measurement m with this probe (grid h_mm, 0 = 0.25). */
double cn_thermal_measurement_predict(const cn_cryoprobe *probe, const cn_thermal_measurement *m,
                                      double h_mm);
/* Fits probe's one parameter to the n measurements (least squares on relative
 * diameter errors) with its uncertainty: a Dirichlet probe's effective surface
 * temperature, or a Robin probe's film coefficient behind its gas temperature.
 * Slow (a few hundred model runs): an offline step, `cryonav thermal calibrate`. */
int cn_thermal_calibrate(const cn_cryoprobe *probe, const cn_thermal_measurement *ms, int n,
                         double h_mm, cn_thermal_calibration *out);

/* The film-law test (docs/validation.md): every probe with fitted (non-check)
 * measurements gets a Robin boundary with the gas at gas_c and, with fit_h_mm > 0,
 * its film coefficient fitted to them on that grid. Returns how many probes
 * changed (CN_EINVAL for bad arguments). */
int cn_thermal_catalog_use_film_law(cn_thermal_catalog *cat, double gas_c,
                                    const cn_thermal_measurement *ms, int n, double fit_h_mm);

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
    bool live_split;          /* steps shorter than dt_max solve one direction each
                                 (alternating): half the cost per video frame */
} cn_thermal_solver_opts;

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
void cn_thermal_solver_extent(const cn_thermal_solver *s, double *r_mm, double *z0_mm, double *z1_mm);

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

/* ------------------------------------------------------------------ model */

typedef struct {
    double h_mm;              /* grid (default 0.25) */
    double dt_max_s;          /* default 1.0 */
    double surface_offset_c;  /* added to the probe's surface temperature (fitting) */
    double perfusion_per_s;   /* < 0: the tissue's own */
    double extra_time_s;      /* domain sized for the protocol plus this much */
    bool live_split;          /* see cn_thermal_solver_opts (default false) */
    double min_freeze_s;      /* size the domain for at least this much freezing (live
                                 use: what happens may outlast the plan; default 0) */
} cn_thermal_model_opts;

/* What the probe does (cn_thermal_model_set_mode): gas off (insulated), freezing,
 * heated (active thaw), or withdrawn (its cells become tissue). */
typedef enum { CN_PROBE_OFF = 0, CN_PROBE_FREEZE, CN_PROBE_HEAT, CN_PROBE_OUT } cn_probe_mode;

typedef struct cn_thermal_model cn_thermal_model;

void cn_thermal_model_opts_default(cn_thermal_model_opts *o);
cn_thermal_model *cn_thermal_model_new(const cn_cryoprobe *probe, const cn_protocol *protocol,
                                       const cn_tissue *tissue, const cn_thermal_model_opts *o,
                                       char *err, size_t err_len);
void cn_thermal_model_free(cn_thermal_model *m);
cn_thermal_model *cn_thermal_model_clone(const cn_thermal_model *m);
/* src's state into dst (a clone of src or of its like): no allocation. */
int cn_thermal_model_copy(cn_thermal_model *dst, const cn_thermal_model *src);
/* Steps forward to protocol time t_s (never backwards: an earlier t is a no-op).
 * Returns CN_OK or CN_EINVAL for a non-finite time. */
int cn_thermal_model_advance_to(cn_thermal_model *m, double t_s);
double cn_thermal_model_time_s(const cn_thermal_model *m);
/* From model time t_s on the probe is in mode (the ramp of a freeze starts at
 * t_s). The first call switches the model from its protocol to these events
 * (the probe was off until then): the protocol stays a plan. Calls must come in
 * time order; a model that lags applies them when it gets there. CN_ERANGE for
 * a time before the model's or the last scheduled one. */
int cn_thermal_model_set_mode(cn_thermal_model *m, cn_probe_mode mode, double t_s);
cn_probe_mode cn_thermal_model_mode(const cn_thermal_model *m);
const cn_thermal_solver *cn_thermal_model_solver(const cn_thermal_model *m);
cn_thermal_solver *cn_thermal_model_solver_mut(cn_thermal_model *m);
const cn_cryoprobe *cn_thermal_model_probe(const cn_thermal_model *m);
const cn_protocol *cn_thermal_model_protocol(const cn_thermal_model *m);
double cn_thermal_model_probe_temp_c(const cn_thermal_model *m); /* current boundary value */
/* Temperature at a point of the probe frame (mm). */
double cn_thermal_model_temp_at(const cn_thermal_model *m, cn_vec3 p_probe_mm);
/* Radial distance of isotherm temp_c from the axis at axial position z_mm (0 when none). */
double cn_thermal_model_radius_at(const cn_thermal_model *m, double temp_c, double z_mm);
/* Outline of isotherm temp_c in the (r, z) half plane, n_angles points ordered from
 * the tip side (+z) to the shaft side, rays from the active segment's centre.
 * r_mm/z_mm get the points; returns how many have r > 0 (0 = no such isotherm). */
int cn_thermal_model_outline(const cn_thermal_model *m, double temp_c, int n_angles,
                             double *r_mm, double *z_mm);

typedef struct {
    int n_vertices, n_triangles;
    float *xyz;               /* 3 * n_vertices, probe frame mm */
    int *tri;                 /* 3 * n_triangles */
} cn_thermal_mesh;
/* Isotherm surface as a closed triangle mesh (surface of revolution). An empty
 * mesh (0 triangles) when the isotherm does not exist yet. */
int cn_thermal_model_mesh(const cn_thermal_model *m, double temp_c, int n_angles, int n_around,
                          cn_thermal_mesh *out);
void cn_thermal_mesh_free(cn_thermal_mesh *mesh);

/* Image plane <-> probe frame: p_probe = image_mm_to_probe * (x_mm, y_mm, 0, 1). */
typedef struct {
    cn_mat4 image_mm_to_probe;
} cn_thermal_plane;
/* Builds the mapping from the frame's poses with core's one rule: the inverse of
 * cn_frame_tool_to_image_mm(f, "Cryoprobe") (ImageToProbe maps pixels to mm, as
 * PLUS calibrations do; image mm have pixel centres at (i + 0.5) * spacing).
 * CN_ENOENT when a pose is missing or invalid. */
int cn_thermal_plane_from_frame(const cn_frame *f, cn_thermal_plane *out);
/* Builds it from an in-plane needle (tip and unit direction entry -> tip, image mm):
 * the probe axis lies in the image plane. */
void cn_thermal_plane_from_needle(cn_pt2 tip_mm, cn_pt2 dir, cn_thermal_plane *out);
/* Isotherm curve in the image plane (image mm): rays around the projection of
 * the active segment's centre. Fills iso (temp_c, n, pts, radius_mm). */
int cn_thermal_model_plane_isotherm(const cn_thermal_model *m, const cn_thermal_plane *pl,
                                    double temp_c, cn_isotherm *iso);

typedef struct {
    double temp_min_c;        /* coldest point of the target now */
    double temp_max_c;        /* warmest point now (the limiting one) */
    double coverage;          /* fraction of the area at or below -20 C */
    double time_to_full_s;    /* protocol time at which coverage reaches 1 (predicted);
                                 NAN when it is not reached within the protocol */
} cn_thermal_target;
/* Target = polygon in image mm (e.g. the nerve contour). time_to_full is predicted
 * by stepping a copy of the model (set predict=false to skip that). */
int cn_thermal_model_target(const cn_thermal_model *m, const cn_thermal_plane *pl,
                            const cn_pt2 *poly_mm, int n, bool predict, cn_thermal_target *out);
/* Signed distance (mm) from a plane (point + normal, probe frame) to the isotherm
 * surface: the smallest n.(x - point) over the surface, so positive when the whole
 * surface lies on the normal's side (point the normal from the skin into the
 * body). NAN when the isotherm does not exist. */
double cn_thermal_model_distance_to_plane(const cn_thermal_model *m, double temp_c,
                                          cn_vec3 point_mm, cn_vec3 normal);
/* Distance from the isotherm curve in the image plane to the skin line y = skin_y_mm
 * (image mm, y down); negative when the isotherm crosses it. NAN when absent. */
double cn_thermal_model_distance_to_skin(const cn_thermal_model *m, const cn_thermal_plane *pl,
                                         double temp_c, double skin_y_mm);

/* ------------------------------------------------------------------ fitting */

/* An observed rim point: in the probe frame (mm) with its protocol time. */
typedef struct {
    double r_mm, z_mm;
    double t_s;
} cn_thermal_obs;

typedef struct {
    int n_offsets, n_perfusions;      /* grid of candidate parameters (default 5 x 3) */
    double offset_min_c, offset_max_c;/* surface temperature offsets (default -20 .. +60) */
    double perf_min_per_s, perf_max_per_s; /* default 0.0005 .. 0.005 */
    double h_mm, dt_max_s;            /* grid of the members (default 0.5 mm, 1 s) */
    double sigma_mm;                  /* rim measurement noise (default 0.4) */
    double memory_s;                  /* older observations fade (default 60; 0 = never) */
    double prior_sd_c;                /* prior spread of the surface offset (default 40; the
                                         catalogue's calibration uncertainty when it has one) */
    double min_freeze_s;              /* members' domains hold this much freezing (live: 1200) */
    bool live_split;                  /* members step one direction per short step (live) */
} cn_thermal_fit_opts;

typedef struct {
    double surface_offset_c, perfusion_per_s; /* weighted estimate */
    double residual_mm;       /* RMS distance of the observations to the fitted 0 C front */
    double best_residual_mm;  /* of the single best member */
    int n_obs;
    int n_members, n_behind;  /* members, and those too far behind the last observation's
                                 time to be judged on it (a live session whose frames stand
                                 for more scene time than the members can step) */
} cn_thermal_fit_result;

typedef struct cn_thermal_ensemble cn_thermal_ensemble;

void cn_thermal_fit_opts_default(cn_thermal_fit_opts *o);
cn_thermal_ensemble *cn_thermal_ensemble_new(const cn_cryoprobe *probe,
                                             const cn_protocol *protocol, const cn_tissue *tissue,
                                             const cn_thermal_fit_opts *o, char *err,
                                             size_t err_len);
void cn_thermal_ensemble_free(cn_thermal_ensemble *e);
/* A deep copy (every member's field, time, schedule, residuals and weight): the state
 * a freeze stop can go back to when the freeze went on after all. NULL: no memory. */
cn_thermal_ensemble *cn_thermal_ensemble_clone(const cn_thermal_ensemble *e);
/* src's state into dst, a clone of src (or of its like): no allocation, ~1 ms where a
 * clone costs 9 (docs/benchmarks.md). CN_EINVAL when their members differ. */
int cn_thermal_ensemble_copy(cn_thermal_ensemble *dst, const cn_thermal_ensemble *src);
/* Steps every member to t_s. max_members > 0 bounds the work of one call (live use:
 * members are stepped round robin; the lagging ones catch up on later calls). */
int cn_thermal_ensemble_advance_to(cn_thermal_ensemble *e, double t_s, int max_members);
/* Live use: the most lagging members towards t_s by at most max_steps solver
 * steps in all (a frame's work bounded whatever the time scale). */
int cn_thermal_ensemble_catch_up(cn_thermal_ensemble *e, double t_s, int max_steps);
/* Adds observations (probe frame) made at their t_s; members are compared at their
 * current time, so call it after advancing to the observation time (a member more
 * than 1.5 s away from an observation's time sits it out). */
int cn_thermal_ensemble_observe(cn_thermal_ensemble *e, const cn_thermal_obs *obs, int n);
void cn_thermal_ensemble_result(const cn_thermal_ensemble *e, cn_thermal_fit_result *out);
/* Weighted prediction of isotherm temp_c along a ray from the active centre at angle
 * theta (0 = towards the tip, pi/2 = radial): distance (mm) and its 1-sigma band. */
double cn_thermal_ensemble_ray(const cn_thermal_ensemble *e, double temp_c, double theta_rad,
                               double *sd_mm);
/* Radius (mm) of isotherm temp_c at axial position z_mm, weighted, with band. */
double cn_thermal_ensemble_radius_at(const cn_thermal_ensemble *e, double temp_c, double z_mm,
                                     double *sd_mm);
/* Every member switched to what happened (cn_thermal_model_set_mode). */
int cn_thermal_ensemble_set_mode(cn_thermal_ensemble *e, cn_probe_mode mode, double t_s);
int cn_thermal_ensemble_size(const cn_thermal_ensemble *e);
/* Member i with its weight and parameters (NULL out of range). */
const cn_thermal_model *cn_thermal_ensemble_member(const cn_thermal_ensemble *e, int i,
                                                   double *weight, double *offset_c,
                                                   double *perfusion_per_s);
int cn_thermal_ensemble_advance_member(cn_thermal_ensemble *e, int i, double t_s);
/* Member i for changes (withdrawing its probe before a 3-D hand-over); still
 * owned by the ensemble. */
cn_thermal_model *cn_thermal_ensemble_take_member(cn_thermal_ensemble *e, int i);
/* The most probable member (for curves and meshes). */
const cn_thermal_model *cn_thermal_ensemble_best(const cn_thermal_ensemble *e);
/* Plane isotherm from the weighted members (mean radius along each ray). */
int cn_thermal_ensemble_plane_isotherm(const cn_thermal_ensemble *e, const cn_thermal_plane *pl,
                                       double temp_c, cn_isotherm *iso);

/* Offline fit on plain structs: runs the ensemble through the observation times. */
int cn_thermal_fit(const cn_cryoprobe *probe, const cn_protocol *protocol,
                   const cn_tissue *tissue, const cn_thermal_fit_opts *o,
                   const cn_thermal_obs *obs, int n_obs, cn_thermal_fit_result *out,
                   char *err, size_t err_len);
/* Converts rim points (image mm) to probe-frame observations at time t_s. */
int cn_thermal_obs_from_front(const cn_ice_front *front, const cn_thermal_plane *pl, double t_s,
                              cn_thermal_obs *out, int max_out);

/* ------------------------------------------------------------------ fit evaluation */

/* A simulated session's true growth law (see evalfit.c). */
typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    cn_tissue tissue;                 /* truth tissue */
    double surface_offset_c;          /* truth probe surface offset */
    double perfusion_per_s;           /* < 0: the tissue's own */
    bool sim_law;                     /* use the simulator's r(t) law instead of the model */
    double sim_k_mm_per_sqrt_s, sim_rmax_mm;
} cn_thermal_truth;

typedef struct {
    int n_obs;
    double truth_now_mm, truth_end_mm;          /* true deep-edge radius */
    double err_unfitted_now_mm, err_fitted_now_mm; /* |error| of the hidden deep edge */
    double err_unfitted_end_mm, err_fitted_end_mm; /* forecast at eval time */
    double err20_unfitted_end_mm, err20_fitted_end_mm; /* -20 C radius at eval (NAN: sim law) */
    double band_now_mm, band_end_mm;            /* 1-sigma band of the fitted prediction */
    double residual_mm;                         /* fit residual */
    double fitted_offset_c, fitted_perfusion_per_s;
} cn_thermal_fit_eval_result;

void cn_thermal_truth_default(cn_thermal_truth *t);
/* Observes the truth's near-side rim every 5 s until obs_until_s (with noise_mm
 * Gaussian noise), then scores the unfitted and fitted deep-edge predictions at
 * obs_until_s and at eval_s. */
int cn_thermal_fit_eval(const cn_cryoprobe *probe, const cn_protocol *protocol,
                        const cn_tissue *nominal, const cn_thermal_truth *truth,
                        const cn_thermal_fit_opts *fo, double obs_until_s, double eval_s,
                        double noise_mm, uint64_t seed, cn_thermal_fit_eval_result *out,
                        char *err, size_t err_len);

/* Runs every oracle comparison (and, with a catalogue, the reported ice balls
 * that are context rather than calibration data) and prints markdown tables. */
int cn_thermal_validate_report(FILE *out, const cn_thermal_catalog *cat);
/* The catalogue against the measured ice balls: probe, measurement, measured,
 * predicted (with the probe's surface for that measurement's group), error (and,
 * held_out, each predicted by a fit to the other measurements of its group only).
 * CN_ERANGE when an in-sample error of a fitted (non-check) one exceeds 20 %. */
int cn_thermal_validate_measured(FILE *out, const cn_thermal_catalog *cat,
                                 const cn_thermal_measurement *ms, int n, bool held_out);

/* ------------------------------------------------------------------ pipeline stage */

typedef struct {
    cn_cryoprobe probe;
    cn_protocol protocol;     /* the plan: sizes the domains only; the model runs on
                                 what happened (the procedure state on each frame) */
    cn_tissue tissue;
    cn_thermal_fit_opts fit;
    bool fit_enabled;         /* default true */
    int max_members_per_frame;/* the other members' catch-up per frame, in solver
                                 steps (default 2: at 20 fps 15 members keep up with
                                 a time scale up to ~2.5; beyond, they lag and sit
                                 out the fit until they catch up) */
    double h3_mm;             /* 3-D cell after a reposition (default 1.0) */
    double grid_catch_up_ms;  /* 3-D: the wall time a frame gives a field standing before
                                 the frame's time (a dated step goes back to a snapshot
                                 and steps on from it): 0 (default) a quarter of the
                                 frame interval, within [4, 100] ms; the zone is withheld
                                 until the field is current */
    double spot_tol_mm, spot_tol_deg; /* a freeze this far from the last spot is a new
                                 one (default 1.5 mm, 5 deg) */
    double skin_depth_mm;     /* curves are drawn below this depth (the tissue) */
    cn_log *log;
} cn_thermal_stage_opts;

/* Fills the probe/protocol/tissue from the catalogue (NULL names = the defaults
 * "17G-argon-2cm", "morton-150s", "standard"); a calibrated probe's uncertainty
 * sets the ensemble's spread. */
int cn_thermal_stage_opts_from_catalog(cn_thermal_stage_opts *o, const cn_thermal_catalog *c,
                                       const char *probe, const char *protocol,
                                       const char *tissue, char *err, size_t err_len);
/* The same from the session file's object at path (e.g. "thermal": {"probe": ...,
 * "protocol": ..., "tissue": ..., "fit": true, "members_per_frame": 1,
 * "grid3d_mm": 1.0, "probes_file": extra catalogue ...}), with the catalogue read
 * from config_dir. A missing object means the defaults. */
int cn_thermal_stage_opts_from_json(cn_thermal_stage_opts *o, const cn_json *cfg,
                                    const char *path, const char *config_dir,
                                    const char *user_dir, char *err, size_t err_len);
/* The stage (see stage.c): per analysed frame it follows the procedure state on
 * the frame (f->analysis.guidance: freeze, thaw passive/active, reposition,
 * withdrawal) at the frame's scene time (t_scene_ns), keeps the cold anchored in
 * the tissue where the freezes happened, fits to f->analysis.ice, and fills
 * f->analysis.iso[0..2] (0, -20, -40 C, clipped to the image and the tissue, the
 * band on each) and f->analysis.thermal. Release with cn_thermal_stage_free. */
int cn_thermal_stage_new(const cn_thermal_stage_opts *o, cn_stage *out, char *err,
                         size_t err_len);
void cn_thermal_stage_free(void *self);
/* Back to the state cn_thermal_stage_new gave (no freeze seen, no cold in the
 * tissue), the options kept: a replay that goes back analyses again from the
 * recording's start (apps/cryonav/session_catchup.c). Analysis thread. */
void cn_thermal_stage_rewind(void *self);
/* For guidance and reports (analysis thread only): the fitted ensemble while all
 * freezes were at one spot (NULL before the first freeze and after a reposition),
 * and whether / when the first freeze started (scene time). */
const cn_thermal_ensemble *cn_thermal_stage_ensemble(void *self);
bool cn_thermal_stage_started(void *self, int64_t *t_freeze_start_ns);
/* Freeze spots in the cold field (0 before the first freeze). */
int cn_thermal_stage_sources(void *self);
/* The model's temperature at a point of the Reference frame (NAN before the
 * first freeze); analysis thread. */
double cn_thermal_stage_temp_ref(void *self, cn_vec3 p_ref_mm);
/* The same at a point of f's image (image mm): matches cn_guidance_temp_fn. */
double cn_thermal_stage_temp_image(void *self, const cn_frame *f, cn_pt2 image_mm);
/* The isotherm surface in the Reference frame (the image itself without
 * tracking): empty before the first freeze or when it does not exist. */
int cn_thermal_stage_mesh_ref(void *self, double temp_c, int n_theta, int n_phi,
                              cn_thermal_mesh *out);
/* The model's own frame (where the meshes of cn_thermal_stage_mesh_ref are) to this
 * frame's image mm: Reference as the frame's poses resolve it when the model is
 * anchored to tracking, the image itself when it is not. CN_ENOENT when no model
 * runs or the poses do not resolve. */
int cn_thermal_stage_ref_to_image_mm(void *self, const cn_frame *f, cn_mat4 *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_THERMAL_H */
