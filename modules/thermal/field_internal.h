/*
 * field_internal.h - the tissue-anchored field's state, shared by field.c (the
 * freezes, the hand-over to 3-D, time) and field_read.c (temperatures, radii,
 * band, surfaces). Private to the thermal module.
 */
#ifndef CN_FIELD_INTERNAL_H
#define CN_FIELD_INTERNAL_H

#include "thermal_internal.h"

#define SRC_MAX 16
#define TOP 2
/* changes of what the probe does that a 3-D field standing before their time holds until
 * it gets there (a dated step re-stepped over several frames) */
#define GRID_CHANGES_MAX 8

typedef struct {
    cn_probe_mode mode;
    double t_s;
    cn_thermal_probe_geom pg; /* the spot's probe, as it was when the change was given */
} cn__grid_change;

struct cn__field {
    cn__field_opts o;
    cn_mat4 field_to_ref, ref_to_field;
    cn_probe_mode mode;
    double mode_t0;
    /* sources: the probe poses of the freezes, in the field frame */
    int n_src, cur;
    cn_mat4 src[SRC_MAX];
    /* single spot: the ensemble */
    cn_thermal_ensemble *ens;
    /* several spots: one 3-D member */
    cn_thermal_grid *grid;
    double offset_c, perf, t_body;
    double band_frac[3];
    double last_edge_check;
    /* 3-D: the changes given for times the grid has not reached yet, oldest first */
    cn__grid_change queued[GRID_CHANGES_MAX];
    int n_queued;
    /* the anchor, refined while the probe is frozen in place (cryo-adhesion):
     * the mean of its tracked poses, so one noisy sample does not move the ice */
    int n_anchor;
    cn_vec3 sum_tip, sum_z, sum_x;
};

/* The isotherms the field reports radii for (0, -20, -40 C). */
static const double CN__FIELD_TEMPS[3] = {0, -20, -40};

/* The probe geometry of source i in the field frame. */
cn_thermal_probe_geom cn__field_src_geom(const cn__field *fl, int i);

/* Radius (mm) of each isotherm of CN__FIELD_TEMPS along the radial ray of a model at its
 * active centre: one march, all temperatures. */
/* (a crossing inside the probe or on its surface is the probe's own cold, not
 * an isotherm in the tissue: 0) */
void cn__field_model_radii(const cn_thermal_solver *s, double zc, double r0, double r[3]);

#endif
