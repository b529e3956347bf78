/*
 * thermal_internal.h - helpers shared by the files of the thermal module only
 * (not part of the public API).
 */
#ifndef CN_THERMAL_INTERNAL_H
#define CN_THERMAL_INTERNAL_H

#include "thermal/thermal.h"

#define CN_THERMAL_RAYS 72

/* Projection of the active segment's centre onto the image (image mm). */
int cn__thermal_plane_centre(const cn_thermal_model *m, const cn_thermal_plane *pl, double *cx,
                             double *cy);
/* Distance along an image ray from (cx, cy) at angle ang to the outermost point at
 * or below temp; -1 when none. */
double cn__thermal_plane_ray(const cn_thermal_model *m, const cn_thermal_plane *pl, double temp,
                             double cx, double cy, double ang, double step, double max_mm);

/* ---------------------------------------------------------------- the field (field.c) */

typedef struct {
    cn_cryoprobe probe;
    cn_tissue tissue;
    cn_protocol plan;         /* sizes the domains only */
    cn_thermal_fit_opts fit;
    bool fit_enabled;
    double h3_mm;             /* 3-D grid cell after a reposition */
    cn_log *log;
} cn__field_opts;

typedef struct cn__field cn__field;

/* One model to read: an axisymmetric solver (field frame (x, y, z) -> (|xy|, z))
 * or the 3-D grid, with its weight among those read. */
typedef struct {
    const cn_thermal_solver *axi;
    const cn_thermal_grid *grid;
    double w;
} cn__member;

cn__field *cn__field_new(const cn__field_opts *o, const cn_mat4 *anchor_to_ref, char *err,
                         size_t err_len);
void cn__field_free(cn__field *fl);
/* A deep copy of a field (the state a dated step can go back to): one spot's ensemble or
 * several spots' 3-D grid; NULL without memory. */
cn__field *cn__field_clone(const cn__field *fl);
/* src's state into dst, a clone of it of the same kind (and, in 3-D, the same domain): no
 * allocation. CN_EINVAL otherwise (a field that went 3-D, a grid that grew). */
int cn__field_copy(cn__field *dst, const cn__field *src);
/* The 3-D grid's cells (0: one spot): what a copy of it costs (17 bytes a cell). */
size_t cn__field_grid_cells(const cn__field *fl);
bool cn__field_is_3d(const cn__field *fl);
/* The model time its latest member stands at (3-D: the grid's). */
double cn__field_time_s(const cn__field *fl);
int cn__field_sources(const cn__field *fl);
const cn_mat4 *cn__field_to_ref(const cn__field *fl);
const cn_mat4 *cn__field_from_ref(const cn__field *fl);
const cn_thermal_ensemble *cn__field_ensemble(const cn__field *fl);
const cn_thermal_grid *cn__field_grid(const cn__field *fl);
/* The probe at the current spot from model time t_s on. */
int cn__field_set_mode(cn__field *fl, cn_probe_mode mode, double t_s);
/* A freeze begins at t_s with the probe at pose_to_ref (NULL: unknown, taken as
 * the same spot): farther than tol_mm / tol_deg from the current spot it is a
 * new source and the field goes 3-D. */
int cn__field_freeze(cn__field *fl, const cn_mat4 *pose_to_ref, double t_s, double tol_mm,
                     double tol_deg, bool *new_spot);
int cn__field_advance(cn__field *fl, double t_s, int max_members);
/* 3-D: toward t_s by at most max_steps solver steps (a catch-up spread over frames; the
 * changes given meanwhile are held until their times); one spot: cn__field_advance. */
int cn__field_advance_steps(cn__field *fl, double t_s, int max_steps);
/* While the first spot freezes (the probe frozen in place), its anchor becomes the
 * mean of the tracked poses: one noisy sample does not place the ice. */
void cn__field_refine_anchor(cn__field *fl, const cn_mat4 *pose_to_ref);
int cn__field_observe(cn__field *fl, const cn_thermal_obs *obs, int n);
/* One spot (field_assim.c): how far the heaviest member's 0 C front stands beyond the rim
 * points obs (field frame) along their rays from the active centre, in the direction where
 * it stands farthest (each direction the median of its neighbours'); NAN in 3-D or without
 * ice along them. */
double cn__field_rim_excess(const cn__field *fl, const cn_thermal_obs *obs, int n);
/* One spot: every member current at the rim's time whose front stands more than margin_mm
 * beyond the rim is melted to the rim + margin_mm, its own front scaled about the active
 * centre direction by direction (each the median of its neighbours); never adds ice.
 * *members, *n_cells: the members and cells melted. */
int cn__field_melt_to_rim(cn__field *fl, const cn_thermal_obs *obs, int n, double margin_mm,
                          int *members, int *n_cells);
/* The heaviest members (at most 2): indices and weights; 0 in 3-D. */
int cn__field_top(const cn__field *fl, int *idx, double *w);
/* The models that carry the curves, weights summing to 1. */
/* How far out a march must look for the first cold before it may stop: 0 (the
 * usual 3 mm) unless the probe is heated (active thaw), whose warm core hides a
 * frozen ring beyond it (thermal audit F6). */
double cn__field_warm_core_mm(const cn__field *fl);

int cn__field_members(const cn__field *fl, cn__member *mem, int max);
double cn__member_temp(const cn__member *m, cn_vec3 p_field);
double cn__field_temp(const cn__field *fl, cn_vec3 p_field);
/* The centre the image rays start from (field frame). */
cn_vec3 cn__field_centre(const cn__field *fl);
/* Radii of 0 / -20 / -40 C across the current probe and their band half-widths. */
void cn__field_radii(cn__field *fl, double t_s, double r[3], double band[3], double residual_mm);
/* The 0 / -20 / -40 C curves where the frame's image plane (img_to_field) cuts the
 * field, clipped to the image below skin_depth_mm (stage_curves.c). */
void cn__field_curves(const cn__field *field, double skin_depth_mm, const cn_frame *f,
                      const cn_mat4 *img_to_field, cn_isotherm iso[3]);
double cn__field_min_dot(const cn__field *fl, double temp_c, cn_vec3 n);
/* An isotherm surface in the field frame. */
int cn__field_mesh(const cn__field *fl, double temp_c, int n_theta, int n_phi, cn_thermal_mesh *out);

/* The probe's boundary condition in a step of kind k, el seconds into it: it ramps
 * from start_c, the wall's temperature when the step began (NAN: a freeze from body
 * temperature, the active thaw from the cold probe). */
void cn__probe_bc(const cn_cryoprobe *p, double offset_c, cn_step_kind k, double el,
                  double t_body, double start_c, cn_thermal_bc *bc);

#endif
