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

#endif
