/*
 * plot.cxx - line charts to PNG with VTK Charts (vtkContextView + vtkChartXY +
 * vtkPlotLine), rendered offscreen and written with vtkWindowToImageFilter +
 * vtkPNGWriter, behind the plain C API of plot.h.
 *
 * Why VTK: it is already a dependency (the viewer) and Debian ships it, so a plot
 * costs no new package. Debian's VTK renders through X11/GLX only, hence the
 * display requirement: without one we fail with a message instead of letting VTK
 * abort the process. Non-finite points are dropped by splitting a series into
 * runs, so a gap stays a gap instead of a line to zero.
 */
#include "plot/plot.h"

#include "core/core.h"

#include <vtkAxis.h>
#include <vtkChartLegend.h>
#include <vtkChartXY.h>
#include <vtkContextScene.h>
#include <vtkContextView.h>
#include <vtkDoubleArray.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkPen.h>
#include <vtkPlot.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkTable.h>
#include <vtkTextProperty.h>
#include <vtkWindowToImageFilter.h>

#include <X11/Xlib.h>

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

const unsigned char kPalette[][3] = {{31, 119, 180}, {214, 39, 40},  {44, 160, 44},
                                     {148, 103, 189}, {255, 127, 14}, {140, 86, 75},
                                     {227, 119, 194}, {127, 127, 127}};

} // namespace

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

    vtkNew<vtkContextView> view;
    view->GetRenderWindow()->SetOffScreenRendering(1);
    view->GetRenderWindow()->SetSize(w, h);
    view->GetRenderer()->SetBackground(1, 1, 1);
    vtkNew<vtkChartXY> chart;
    view->GetScene()->AddItem(chart);
    if (o && o->title)
        chart->SetTitle(o->title);
    chart->GetTitleProperties()->SetFontSize(16);
    if (o && o->x_label)
        chart->GetAxis(vtkAxis::BOTTOM)->SetTitle(o->x_label);
    if (o && o->y_label)
        chart->GetAxis(vtkAxis::LEFT)->SetTitle(o->y_label);
    chart->SetShowLegend(n_series > 0);
    chart->GetLegend()->SetHorizontalAlignment(vtkChartLegend::RIGHT);
    chart->GetLegend()->SetVerticalAlignment(vtkChartLegend::TOP);

    for (int i = 0; i < n_series; i++) {
        const cn_plot_series *s = &series[i];
        const unsigned char *rgb = s->rgb;
        if (!rgb[0] && !rgb[1] && !rgb[2])
            rgb = kPalette[i % (int)(sizeof kPalette / sizeof kPalette[0])];
        std::string label = s->label ? s->label : ("series " + std::to_string(i + 1));
        /* one table per run of finite points */
        int k = 0, run = 0;
        while (k < s->n) {
            while (k < s->n && !(std::isfinite(s->x[k]) && std::isfinite(s->y[k])))
                k++;
            int start = k;
            while (k < s->n && std::isfinite(s->x[k]) && std::isfinite(s->y[k]))
                k++;
            int len = k - start;
            if (len <= 0)
                continue;
            vtkNew<vtkTable> table;
            vtkNew<vtkDoubleArray> xa, ya;
            xa->SetName("x");
            ya->SetName(label.c_str());
            xa->SetNumberOfTuples(len);
            ya->SetNumberOfTuples(len);
            for (int j = 0; j < len; j++) {
                xa->SetValue(j, s->x[start + j]);
                ya->SetValue(j, s->y[start + j]);
            }
            table->AddColumn(xa);
            table->AddColumn(ya);
            vtkPlot *line = chart->AddPlot(vtkChart::LINE);
            line->SetInputData(table, 0, 1);
            line->SetColor(rgb[0], rgb[1], rgb[2], 255);
            line->SetWidth(2.0);
            line->GetPen()->SetLineType(s->dashed ? vtkPen::DASH_LINE : vtkPen::SOLID_LINE);
            line->SetLabel(label);
            if (run > 0)
                line->SetLegendVisibility(false);
            run++;
        }
    }
    view->GetRenderWindow()->Render();
    vtkNew<vtkWindowToImageFilter> grab;
    grab->SetInput(view->GetRenderWindow());
    grab->ReadFrontBufferOff();
    grab->Update();
    vtkNew<vtkPNGWriter> writer;
    writer->SetFileName(png_path);
    writer->SetInputConnection(grab->GetOutputPort());
    writer->Write();
    if (writer->GetErrorCode() != 0) {
        std::snprintf(err, err_len, "plot: writing %s failed (VTK error %lu)", png_path,
                      writer->GetErrorCode());
        return CN_EIO;
    }
    return CN_OK;
}
