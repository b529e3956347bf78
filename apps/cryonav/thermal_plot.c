/* thermal_plot.c - the picture of `cryonav thermal --png FILE`: the isotherm radii
 * of a probe following a protocol, in CryoNav's one visual language
 * (modules/palette): the isotherms' colours of the screen, the protocol's freezes
 * and thaws shaded as in the session report, a missing isotherm a gap. */
#include "commands.h"
#include "thermal_plot.h"

#include "palette/palette.h"
#include "plot/plot.h"

#include <stdio.h>

/* Radii vs time in the palette's isotherm colours, freeze and thaw shaded from the
 * protocol's steps, a missing isotherm a gap. Returns the exit code (0 or 1). */
int cn_thermal_plot_radii(const char *png, const cn_cryoprobe *p, const cn_protocol *q,
                      const cn_tissue *t, const double *tt, double *const r[3], int n)
{
    char err[512];
    void *xhold = NULL;
    int rc = cn_app_ensure_display(true, &xhold, err, sizeof err);
    cn_rgb c0 = cn_palette(CN_PAL_ISO_0), c20 = cn_palette(CN_PAL_ISO_20),
           c40 = cn_palette(CN_PAL_ISO_40), fz = cn_palette(CN_PAL_FREEZE_SHADE),
           th = cn_palette(CN_PAL_THAW_SHADE);
    cn_plot_series s[3] = {
        {"0 C (ice edge)", tt, r[0], n, {c0.r, c0.g, c0.b}, false, false},
        {"-20 C (nerve block)", tt, r[1], n, {c20.r, c20.g, c20.b}, false, false},
        {"-40 C (lethal)", tt, r[2], n, {c40.r, c40.g, c40.b}, false, false},
    };
    cn_plot_band bands[CN_PROTOCOL_STEPS_MAX + 1];
    int nb = 0;
    double t0 = 0;
    for (int k = 0; k < q->n_steps && nb < CN_PROTOCOL_STEPS_MAX; k++) {
        bool freeze = q->steps[k].kind == CN_STEP_FREEZE;
        bands[nb++] = (cn_plot_band){t0, t0 + q->steps[k].duration_s,
                                     {freeze ? fz.r : th.r, freeze ? fz.g : th.g, freeze ? fz.b : th.b},
                                     freeze ? "freeze" : "thaw"};
        t0 += q->steps[k].duration_s;
    }
    if (n > 0 && tt[n - 1] > t0) /* after the last step the probe is off: passive thaw */
        bands[nb++] = (cn_plot_band){t0, tt[n - 1], {th.r, th.g, th.b}, "thaw"};
    char title[256];
    snprintf(title, sizeof title, "%s, %s, %s: isotherm radius at mid active segment", p->name,
             q->name, t->name);
    cn_plot_opts po = {.title = title, .x_label = "time (s)",
                       .y_label = "radius from the probe axis (mm)", .width_px = 900,
                       .height_px = 600, .bands = bands, .n_bands = nb, .y_min_span = 1.0,
                       .y_include_zero = true};
    if (rc == CN_OK)
        rc = cn_plot_lines_png(png, &po, s, 3, err, sizeof err);
    cn_app_display_release(xhold);
    if (rc) {
        fprintf(stderr, "cryonav thermal: plot not written: %s\n", err);
        return 1;
    }
    fprintf(stderr, "cryonav thermal: wrote %s\n", png);
    return 0;
}


