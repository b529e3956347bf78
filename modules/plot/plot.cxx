/*
 * plot.cxx - time plots to PNG with VTK Charts (vtkContextView + vtkChartXY:
 * vtkPlotArea for shaded spans, vtkPlotLine / vtkPlotPoints for series and
 * thresholds), rendered offscreen and written with vtkWindowToImageFilter +
 * vtkPNGWriter, behind the plain C API of plot.h.
 *
 * Why VTK: it is already a dependency (the viewer) and Debian ships it, so a plot
 * costs no new package. Debian's VTK renders through X11/GLX only, hence the
 * display requirement: without one we fail with a message instead of letting VTK
 * abort the process. Non-finite points split a series into runs, so a gap stays a
 * gap instead of a line to zero. The axes are fixed by us, not by VTK's
 * auto-range: it gives a flat series a range of +-1e-7, which reads as noise.
 * Colours, ground and text come from modules/palette.
 */
#include "plot/plot.h"

#include "core/core.h"
#include "palette/palette.h"

#include <vtkAxis.h>
#include <vtkBrush.h>
#include <vtkCharArray.h>
#include <vtkChartLegend.h>
#include <vtkChartXY.h>
#include <vtkContextScene.h>
#include <vtkContextView.h>
#include <vtkDoubleArray.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkPen.h>
#include <vtkPlot.h>
#include <vtkPlotArea.h>
#include <vtkPlotPoints.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkTable.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowToImageFilter.h>

#include <X11/Xlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/* VTK's X11 window aborts the process when no display opens: check first. */
bool display_available()
{
    const char *d = std::getenv("DISPLAY");
    if (!d || !*d)
        return false;
    Display *dp = XOpenDisplay(nullptr);
    if (!dp)
        return false;
    XCloseDisplay(dp);
    return true;
}

/* Series without a colour take the palette's, in this order. */
const cn_pal_role kAuto[] = {CN_PAL_ISO_0, CN_PAL_ISO_20, CN_PAL_ISO_40, CN_PAL_NERVE,
                             CN_PAL_NEEDLE, CN_PAL_ICE, CN_PAL_TRUTH, CN_PAL_ISO_OTHER};

void style_text(vtkTextProperty *tp, cn_pal_role role, int size)
{
    double c[3];
    cn_palette_f(role, c);
    tp->SetColor(c);
    tp->SetFontSize(size);
}

void style_axis(vtkAxis *a, const char *title)
{
    if (title)
        a->SetTitle(title);
    style_text(a->GetTitleProperties(), CN_PAL_TEXT_DIM, 14);
    style_text(a->GetLabelProperties(), CN_PAL_TEXT_DIM, 12);
    cn_rgb s = cn_palette(CN_PAL_SCALE), g = cn_palette(CN_PAL_GRID);
    a->GetPen()->SetColor(s.r, s.g, s.b);
    a->GetGridPen()->SetColor(g.r, g.g, g.b);
}

vtkSmartPointer<vtkTable> table_of(const double *x, const double *y, int n, const char *yname)
{
    vtkSmartPointer<vtkTable> t = vtkSmartPointer<vtkTable>::New();
    vtkNew<vtkDoubleArray> xa, ya;
    xa->SetName("x");
    ya->SetName(yname);
    xa->SetNumberOfTuples(n);
    ya->SetNumberOfTuples(n);
    for (int j = 0; j < n; j++) {
        xa->SetValue(j, x[j]);
        ya->SetValue(j, y[j]);
    }
    t->AddColumn(xa);
    t->AddColumn(ya);
    return t;
}

bool ok(double v) { return std::isfinite(v); }

} // namespace

extern "C" void cn_plot_y_range(const cn_plot_opts *o, const cn_plot_series *series,
                                int n_series, double *y_min, double *y_max)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < series[i].n; k++)
            if (ok(series[i].x[k]) && ok(series[i].y[k])) {
                lo = std::min(lo, series[i].y[k]);
                hi = std::max(hi, series[i].y[k]);
            }
    for (int i = 0; o && i < o->n_hlines; i++)
        if (ok(o->hlines[i].y)) {
            lo = std::min(lo, o->hlines[i].y);
            hi = std::max(hi, o->hlines[i].y);
        }
    bool zero = o && o->y_include_zero;
    if (!(lo <= hi)) /* nothing to show */
        lo = hi = 0.0;
    if (zero) {
        lo = std::min(lo, 0.0);
        hi = std::max(hi, 0.0);
    }
    double span = o && o->y_min_span > 0 ? o->y_min_span : 1.0;
    if (hi - lo < span) {
        if (zero && lo >= 0.0) {
            hi = lo + span;
        } else if (zero && hi <= 0.0) {
            lo = hi - span;
        } else {
            double c = 0.5 * (lo + hi);
            lo = c - 0.5 * span;
            hi = c + 0.5 * span;
        }
    }
    double pad = 0.05 * (hi - lo);
    *y_min = zero && lo == 0.0 ? 0.0 : lo - pad;
    *y_max = zero && hi == 0.0 ? 0.0 : hi + pad;
}

extern "C" int cn_plot_lines_png(const char *png_path, const cn_plot_opts *o,
                                 const cn_plot_series *series, int n_series, char *err,
                                 size_t err_len)
{
    if (!png_path || !*png_path) {
        std::snprintf(err, err_len, "plot: no output path");
        return CN_EINVAL;
    }
    if (n_series < 0 || n_series > 64 || (n_series > 0 && !series)) {
        std::snprintf(err, err_len, "plot: %d series (0..64 allowed)", n_series);
        return CN_EINVAL;
    }
    int n_bands = o ? o->n_bands : 0, n_hlines = o ? o->n_hlines : 0;
    if (n_bands < 0 || n_bands > 256 || (n_bands > 0 && !o->bands) || n_hlines < 0 ||
        n_hlines > 16 || (n_hlines > 0 && !o->hlines)) {
        std::snprintf(err, err_len, "plot: %d bands (0..256) / %d lines (0..16) or no data",
                      n_bands, n_hlines);
        return CN_EINVAL;
    }
    int w = o && o->width_px > 0 ? o->width_px : 900;
    int h = o && o->height_px > 0 ? o->height_px : 600;
    if (w < 64 || h < 64 || w > 8192 || h > 8192) {
        std::snprintf(err, err_len, "plot: size %d x %d px outside 64..8192", w, h);
        return CN_EINVAL;
    }
    for (int i = 0; i < n_series; i++) {
        const cn_plot_series *s = &series[i];
        if (s->n < 0 || s->n > 10000000 || (s->n > 0 && (!s->x || !s->y))) {
            std::snprintf(err, err_len, "plot: series %d (%s) has %d points or no data", i,
                          s->label ? s->label : "unnamed", s->n);
            return CN_EINVAL;
        }
    }
    FILE *probe = std::fopen(png_path, "wb");
    if (!probe) {
        std::snprintf(err, err_len, "plot: cannot write %s", png_path);
        return CN_EIO;
    }
    std::fclose(probe);
    if (!display_available()) {
        std::remove(png_path);
        std::snprintf(err, err_len,
                      "plot: no X display (DISPLAY unset or not reachable); VTK needs one to "
                      "render - run under Xvfb (xvfb-run) or let cryonav start one");
        return CN_EUNSUPPORTED;
    }

    /* the axes: x over the data and the bands, y as cn_plot_y_range says */
    double x0 = INFINITY, x1 = -INFINITY, y0, y1;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < series[i].n; k++)
            if (ok(series[i].x[k]) && ok(series[i].y[k])) {
                x0 = std::min(x0, series[i].x[k]);
                x1 = std::max(x1, series[i].x[k]);
            }
    for (int i = 0; i < n_bands; i++)
        if (ok(o->bands[i].x0) && ok(o->bands[i].x1)) {
            x0 = std::min(x0, o->bands[i].x0);
            x1 = std::max(x1, o->bands[i].x1);
        }
    if (!(x0 < x1)) {
        x0 = ok(x0) ? x0 - 0.5 : 0.0;
        x1 = x0 + 1.0;
    }
    cn_plot_y_range(o, series, n_series, &y0, &y1);
    /* headroom for the legend (top right) so it does not cover the data */
    int n_legend = n_series + n_hlines;
    for (int i = 0; i < n_bands; i++) {
        bool first = o->bands[i].label && *o->bands[i].label;
        for (int k = 0; first && k < i; k++)
            first = !(o->bands[k].label && std::string(o->bands[k].label) == o->bands[i].label);
        n_legend += first;
    }
    double f = std::min(0.45, (17.0 * n_legend + 12.0) / std::max(100.0, h - 110.0));
    if (n_legend > 0)
        y1 = y0 + (y1 - y0) / (1.0 - f);

    vtkNew<vtkContextView> view;
    view->GetRenderWindow()->SetOffScreenRendering(1);
    view->GetRenderWindow()->SetSize(w, h);
    double ground[3];
    cn_palette_f(CN_PAL_GROUND, ground);
    view->GetRenderer()->SetBackground(ground);
    vtkNew<vtkChartXY> chart;
    view->GetScene()->AddItem(chart);
    cn_rgb gr = cn_palette(CN_PAL_GROUND);
    chart->GetBackgroundBrush()->SetColor(gr.r, gr.g, gr.b, 255);
    std::string title = o && o->title ? o->title : "";
    if (o && o->note && *o->note)
        title += (title.empty() ? "" : "\n") + std::string(o->note);
    if (!title.empty())
        chart->SetTitle(title);
    style_text(chart->GetTitleProperties(), CN_PAL_TEXT, 16);
    vtkAxis *ax = chart->GetAxis(vtkAxis::BOTTOM), *ay = chart->GetAxis(vtkAxis::LEFT);
    style_axis(ax, o ? o->x_label : nullptr);
    style_axis(ay, o ? o->y_label : nullptr);
    ax->SetBehavior(vtkAxis::FIXED);
    ax->SetRange(x0, x1);
    ay->SetBehavior(vtkAxis::FIXED);
    ay->SetRange(y0, y1);
    chart->SetShowLegend(n_series + n_bands + n_hlines > 0);
    chart->GetLegend()->SetHorizontalAlignment(vtkChartLegend::RIGHT);
    chart->GetLegend()->SetVerticalAlignment(vtkChartLegend::TOP);
    style_text(chart->GetLegend()->GetLabelProperties(), CN_PAL_TEXT, 12);
    chart->GetLegend()->GetBrush()->SetColor(gr.r, gr.g, gr.b, 230);

    /* shaded spans first, so the lines are drawn over them */
    for (int i = 0; i < n_bands; i++) {
        const cn_plot_band *b = &o->bands[i];
        if (!(ok(b->x0) && ok(b->x1) && b->x1 > b->x0))
            continue;
        /* three columns of points: vtkPlotArea (VTK 9.1) draws a strip of more than
         * four points only */
        double bx[3] = {b->x0, 0.5 * (b->x0 + b->x1), b->x1}, lo[3] = {y0, y0, y0};
        vtkSmartPointer<vtkTable> t = table_of(bx, lo, 3, "lo");
        vtkNew<vtkDoubleArray> ya;
        ya->SetName("hi");
        vtkNew<vtkCharArray> valid; /* vtkPlotArea draws only points marked valid */
        valid->SetName("valid");
        ya->SetNumberOfTuples(3);
        valid->SetNumberOfTuples(3);
        for (int k = 0; k < 3; k++) {
            ya->SetValue(k, y1);
            valid->SetValue(k, 1);
        }
        t->AddColumn(ya);
        t->AddColumn(valid);
        vtkPlotArea *area = vtkPlotArea::SafeDownCast(chart->AddPlot(vtkChart::AREA));
        if (!area)
            continue;
        area->SetInputData(t);
        area->SetInputArray(0, "x");
        area->SetInputArray(1, "lo");
        area->SetInputArray(2, "hi");
        area->SetValidPointMaskName("valid");
        area->GetBrush()->SetColor(b->rgb[0], b->rgb[1], b->rgb[2], 255);
        bool first = true;
        for (int k = 0; k < i; k++)
            first &= !(o->bands[k].label && b->label && std::string(o->bands[k].label) == b->label);
        area->SetLabel(b->label ? b->label : "");
        area->SetLegendVisibility(first && b->label && *b->label);
    }
    for (int i = 0; i < n_series; i++) {
        const cn_plot_series *s = &series[i];
        unsigned char rgb[3] = {s->rgb[0], s->rgb[1], s->rgb[2]};
        if (!rgb[0] && !rgb[1] && !rgb[2]) {
            cn_rgb c = cn_palette(kAuto[i % (int)(sizeof kAuto / sizeof kAuto[0])]);
            rgb[0] = c.r;
            rgb[1] = c.g;
            rgb[2] = c.b;
        }
        std::string label = s->label ? s->label : ("series " + std::to_string(i + 1));
        /* one table per run of finite points: a gap stays a gap */
        int k = 0, run = 0;
        while (k < s->n) {
            while (k < s->n && !(ok(s->x[k]) && ok(s->y[k])))
                k++;
            int start = k;
            while (k < s->n && ok(s->x[k]) && ok(s->y[k]))
                k++;
            int len = k - start;
            if (len <= 0)
                continue;
            vtkSmartPointer<vtkTable> t = table_of(s->x + start, s->y + start, len, label.c_str());
            vtkPlot *p = chart->AddPlot(s->points ? vtkChart::POINTS : vtkChart::LINE);
            p->SetInputData(t, 0, 1);
            p->SetColor(rgb[0], rgb[1], rgb[2], 255);
            p->SetWidth(s->points ? 1.0f : 2.5f);
            if (s->points) {
                vtkPlotPoints *pp = vtkPlotPoints::SafeDownCast(p);
                if (pp) {
                    pp->SetMarkerStyle(vtkPlotPoints::DIAMOND);
                    pp->SetMarkerSize(9.0f);
                }
            } else {
                p->GetPen()->SetLineType(s->dashed ? vtkPen::DASH_LINE : vtkPen::SOLID_LINE);
            }
            p->SetLabel(label);
            if (run > 0)
                p->SetLegendVisibility(false);
            run++;
        }
    }
    for (int i = 0; i < n_hlines; i++) {
        const cn_plot_hline *l = &o->hlines[i];
        if (!ok(l->y))
            continue;
        double hx[2] = {x0, x1}, hy[2] = {l->y, l->y};
        vtkSmartPointer<vtkTable> t = table_of(hx, hy, 2, l->label ? l->label : "threshold");
        vtkPlot *p = chart->AddPlot(vtkChart::LINE);
        p->SetInputData(t, 0, 1);
        p->SetColor(l->rgb[0], l->rgb[1], l->rgb[2], 255);
        p->SetWidth(1.5f);
        p->GetPen()->SetLineType(vtkPen::DASH_DOT_LINE);
        p->SetLabel(l->label ? l->label : "threshold");
    }
    view->GetRenderWindow()->Render();
    vtkNew<vtkWindowToImageFilter> grab;
    grab->SetInput(view->GetRenderWindow());
    grab->ReadFrontBufferOff();
    grab->Update();
    /* encoded in memory, written by cn_file_create: never through a symbolic link
     * planted where the plot goes (input audit I4) */
    vtkNew<vtkPNGWriter> writer;
    writer->WriteToMemoryOn();
    writer->SetInputConnection(grab->GetOutputPort());
    writer->Write();
    vtkUnsignedCharArray *png = writer->GetResult();
    if (writer->GetErrorCode() != 0 || !png || png->GetNumberOfValues() == 0) {
        std::snprintf(err, err_len, "plot: encoding %s failed (VTK error %lu)", png_path,
                      writer->GetErrorCode());
        return CN_EIO;
    }
    char why[700];
    FILE *out = cn_file_create(png_path, why, sizeof why);
    const size_t n = (size_t)png->GetNumberOfValues();
    const bool ok = out && std::fwrite(png->GetPointer(0), 1, n, out) == n;
    if ((out && std::fclose(out) != 0) || !ok) {
        std::snprintf(err, err_len, "plot: %s", out ? png_path : why);
        return CN_EIO;
    }
    return CN_OK;
}
