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

/* The catalogue and measured ice balls, then the solver, 3-D grid and oracles, are in
 * their own parts of this header. */
#include "thermal/thermal_catalog.h"
#include "thermal/thermal_solver.h"

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
