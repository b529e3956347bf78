/* report_plots.c - the plots and the style of `cryonav report`, in CryoNav's one
 * visual language (modules/palette): the ground, isotherm, nerve and ice colours of
 * the screen, freezes and thaws shaded as in `cryonav thermal --png`, the -20 C and
 * -40 C thresholds drawn on the temperature plot. Honest axes: an isotherm that does
 * not exist (radius 0 in the recording) is a gap, not a drop to 0 mm; a recording
 * without ice gets a 0..2 mm axis and says so instead of a +-1e-7 mm axis; the
 * nerve temperature estimate cannot go below the coldest isotherm (it is
 * interpolated between isotherm radii), so the points where it is clipped there
 * are marked as such. */
#include "commands.h"
#include "report_plots.h"

#include "palette/palette.h"
#include "plot/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RGB(role) {cn_palette(role).r, cn_palette(role).g, cn_palette(role).b}

/* Freeze and thaw spans from the per-point phases (each span runs to the next
 * point, so consecutive frames join). Returns the number of bands. */
static int phase_bands(const cn_session_series *ser, cn_plot_band *b, int max)
{
    int n = 0;
    if (!ser->phase)
        return 0;
    for (int i = 0; i < ser->n && n < max;) {
        int ph = ser->phase[i];
        int j = i;
        while (j + 1 < ser->n && ser->phase[j + 1] == ph)
            j++;
        double x1 = j + 1 < ser->n ? ser->t_s[j + 1] : ser->t_s[j];
        if (ph == CN_PHASE_FREEZE)
            b[n++] = (cn_plot_band){ser->t_s[i], x1, RGB(CN_PAL_FREEZE_SHADE), "freeze"};
        else if (ph == CN_PHASE_THAW)
            b[n++] = (cn_plot_band){ser->t_s[i], x1, RGB(CN_PAL_THAW_SHADE), "thaw"};
        i = j + 1;
    }
    return n;
}

int cn_report_plots(const char *dir, const cn_session_series *ser, bool truth, bool *have_ice,
                    bool *have_temp, char *err, size_t err_len)
{
    *have_ice = *have_temp = false;
    if (ser->n < 2)
        return CN_OK;
    int n = ser->n, rc = CN_ENOMEM;
    double *iso[CN_ISO_MAX] = {0}, *clipped = calloc((size_t)n, sizeof(double));
    cn_plot_band *bands = calloc(256, sizeof *bands);
    char path[1200];
    if (!clipped || !bands)
        goto out;
    int nb = phase_bands(ser, bands, 256);

    /* ---- ice radius and predicted isotherms ---- */
    cn_plot_series s[1 + CN_ISO_MAX];
    char labels[CN_ISO_MAX][48];
    int ns = 0;
    bool any_ice = false;
    for (int i = 0; i < n; i++)
        any_ice |= isfinite(ser->ice_radius_mm[i]) && ser->ice_radius_mm[i] > 0;
    s[ns++] = (cn_plot_series){.label = truth ? "ice radius (simulator truth)" : "ice radius (measured)",
                               .x = ser->t_s, .y = ser->ice_radius_mm, .n = n,
                               .rgb = RGB(CN_PAL_ICE)};
    for (int k = 0; k < ser->n_iso && k < CN_ISO_MAX; k++) {
        if (!(iso[k] = malloc(sizeof(double) * (size_t)n)))
            goto out;
        bool any = false;
        for (int i = 0; i < n; i++) {
            double r = ser->iso_radius_mm[k][i];
            iso[k][i] = isfinite(r) && r > 0 ? r : NAN; /* radius 0: no such isotherm */
            any |= isfinite(iso[k][i]);
        }
        if (!any)
            continue;
        cn_pal_role role = cn_palette_iso(ser->iso_temp_c[k]);
        snprintf(labels[k], sizeof labels[k], "%.0f C isotherm (predicted)", ser->iso_temp_c[k]);
        s[ns++] = (cn_plot_series){.label = labels[k], .x = ser->t_s, .y = iso[k], .n = n,
                                   .rgb = RGB(role), .dashed = true};
    }
    cn_plot_opts po = {.title = "Ice radius and predicted isotherms", .x_label = "time (s)",
                       .y_label = "radius (mm)", .width_px = 900, .height_px = 500,
                       .bands = bands, .n_bands = nb, .y_min_span = 2.0, .y_include_zero = true,
                       .note = any_ice ? NULL : "no ice seen in this recording"};
    snprintf(path, sizeof path, "%s/ice.png", dir);
    if ((rc = cn_plot_lines_png(path, &po, s, ns, err, err_len)) != CN_OK)
        goto out;
    *have_ice = true;

    /* ---- temperature at the nerve ---- */
    bool any_t = false, any_clip = false;
    double coldest = INFINITY;
    for (int k = 0; k < ser->n_iso && k < CN_ISO_MAX; k++)
        coldest = fmin(coldest, ser->iso_temp_c[k]);
    for (int i = 0; i < n; i++) {
        double v = ser->nerve_temp_c[i];
        any_t |= isfinite(v);
        /* only the older estimate stops at the coldest isotherm */
        clipped[i] = !ser->nerve_temp_model && isfinite(v) && isfinite(coldest) &&
                             v <= coldest + 1e-6 ? v : NAN;
        any_clip |= isfinite(clipped[i]);
    }
    if (any_t) {
        char clip_label[64];
        snprintf(clip_label, sizeof clip_label, "estimate clipped at %.0f C (colder)", coldest);
        cn_plot_series t[2] = {
            {.label = ser->nerve_temp_model ? "nerve's warmest point (model)"
                                            : "nerve temperature (estimated)",
             .x = ser->t_s, .y = ser->nerve_temp_c,
             .n = n, .rgb = RGB(CN_PAL_NERVE)},
            {.label = clip_label, .x = ser->t_s, .y = clipped, .n = n, .rgb = RGB(CN_PAL_ALARM),
             .points = true},
        };
        cn_plot_hline lines[2] = {{-20.0, RGB(CN_PAL_ISO_20), "-20 C: nerve block"},
                                  {-40.0, RGB(CN_PAL_ISO_40), "-40 C: lethal"}};
        cn_plot_opts to = {.title = "Temperature at the nerve", .x_label = "time (s)",
                           .y_label = "temperature (C)", .width_px = 900, .height_px = 500,
                           .bands = bands, .n_bands = nb, .hlines = lines, .n_hlines = 2,
                           .y_min_span = 10.0};
        snprintf(path, sizeof path, "%s/nerve_temp.png", dir);
        if ((rc = cn_plot_lines_png(path, &to, t, any_clip ? 2 : 1, err, err_len)) != CN_OK)
            goto out;
        *have_temp = true;
    }
    rc = CN_OK;
out:
    if (rc == CN_ENOMEM)
        snprintf(err, err_len, "out of memory");
    for (int k = 0; k < CN_ISO_MAX; k++)
        free(iso[k]);
    free(clipped);
    free(bands);
    return rc;
}

void cn_report_html_style(FILE *out)
{
    char ground[8], text[8], dim[8], grid[8], alarm[8], i0[8], i20[8], i40[8];
    fprintf(out,
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;background:%s;"
            "color:%s}td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid %s}"
            "th{color:%s}code,pre{color:%s}.alarm{color:%s}.iso0{color:%s}.iso20{color:%s}"
            ".iso40{color:%s}img{max-width:100%%}</style>",
            cn_palette_hex(CN_PAL_GROUND, ground), cn_palette_hex(CN_PAL_TEXT, text),
            cn_palette_hex(CN_PAL_GRID, grid), cn_palette_hex(CN_PAL_TEXT_DIM, dim), text,
            cn_palette_hex(CN_PAL_ALARM, alarm), cn_palette_hex(CN_PAL_ISO_0, i0),
            cn_palette_hex(CN_PAL_ISO_20, i20), cn_palette_hex(CN_PAL_ISO_40, i40));
}
