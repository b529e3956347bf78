/*
 * plot.h - time plots to PNG with VTK Charts, behind a C API.
 *
 * Used by `cryonav thermal` (isotherm radii vs time) and `cryonav report` (ice
 * radius, predicted isotherms and nerve temperature vs time). Every plot speaks
 * CryoNav's one visual language (modules/palette): the dark ground of the screen,
 * the same colour per isotherm, needle, nerve and ice, freeze and thaw shaded the
 * same way. Axes are honest: a missing value (NaN) is a gap, never a drop to 0;
 * the y axis spans at least y_min_span, so a flat or empty series never gets a
 * +-1e-7 axis. VTK renders through X11/GLX on Debian, so a display must exist (the
 * app starts Xvfb when none does: see cn_app_ensure_display); without one the call
 * fails with a clear message.
 */
#ifndef CN_PLOT_H
#define CN_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *label;        /* legend text */
    const double *x, *y;      /* n points each; a non-finite point is a gap */
    int n;
    unsigned char rgb[3];     /* line colour; all zero = automatic */
    bool dashed;
    bool points;              /* a marker at each finite point instead of a line */
} cn_plot_series;

/* A span of x shaded from the bottom to the top of the plot (a freeze, a thaw). */
typedef struct {
    double x0, x1;
    unsigned char rgb[3];
    const char *label;        /* legend text; shown once per distinct label */
} cn_plot_band;

/* A horizontal line across the whole plot (a threshold, e.g. -20 C). */
typedef struct {
    double y;
    unsigned char rgb[3];
    const char *label;
} cn_plot_hline;

typedef struct {
    const char *title, *x_label, *y_label;
    int width_px, height_px;  /* default 900 x 600 */
    /* Added for issue 16 (zero = none / default): */
    const cn_plot_band *bands;
    int n_bands;
    const cn_plot_hline *hlines;
    int n_hlines;
    double y_min_span;        /* the y axis covers at least this span (default 1) */
    bool y_include_zero;      /* the y axis reaches 0 (radii, distances) */
    const char *note;         /* a second title line, e.g. "no ice seen" */
} cn_plot_opts;

/* Draws bands, then the series, then the threshold lines on one chart and writes
 * a PNG. Returns 0 or a negative CN_E* code with a message in err. */
int cn_plot_lines_png(const char *png_path, const cn_plot_opts *o, const cn_plot_series *series,
                      int n_series, char *err, size_t err_len);

/* The y range the plot will show for these series and options (what "honest
 * axes" means, testable without a display). */
void cn_plot_y_range(const cn_plot_opts *o, const cn_plot_series *series, int n_series,
                     double *y_min, double *y_max);

#ifdef __cplusplus
}
#endif
#endif /* CN_PLOT_H */
