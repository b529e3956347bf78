/*
 * plot.h - line charts to PNG with VTK Charts, behind a C API.
 *
 * Used by `cryonav thermal` (isotherm radii vs time) and `cryonav report` (ice
 * radius, predicted isotherms and nerve temperature vs time). VTK renders through
 * X11/GLX on Debian, so a display must exist (the app starts Xvfb when none does:
 * see cn_app_ensure_display); without one the call fails with a clear message.
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
    const double *x, *y;      /* n points each */
    int n;
    unsigned char rgb[3];     /* line colour; all zero = automatic */
    bool dashed;
} cn_plot_series;

typedef struct {
    const char *title, *x_label, *y_label;
    int width_px, height_px;  /* default 900 x 600 */
} cn_plot_opts;

/* Draws the series as lines on one chart and writes a PNG. Non-finite points are
 * skipped. Returns 0 or a negative CN_E* code with a message in err. */
int cn_plot_lines_png(const char *png_path, const cn_plot_opts *o, const cn_plot_series *series,
                      int n_series, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* CN_PLOT_H */
