/* thermal_plot.h - the plot of `cryonav thermal --png` (thermal_plot.c). */
#ifndef CN_APP_THERMAL_PLOT_H
#define CN_APP_THERMAL_PLOT_H

#include "thermal/thermal.h"

/* Radii (r[0..2] for 0 / -20 / -40 C, NaN where the isotherm does not exist) at
 * times tt (n points) into png; starts an Xvfb when there is no display. Prints
 * what it wrote, or why not, on stderr. Returns the exit code (0 or 1). */
int cn_thermal_plot_radii(const char *png, const cn_cryoprobe *p, const cn_protocol *q,
                          const cn_tissue *t, const double *tt, double *const r[3], int n);

#endif
