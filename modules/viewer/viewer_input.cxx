/*
 * viewer_input.cxx - what reaches the viewer from the user: the window's close
 * and exit events, keys (display settings, reframing, the truth overlay), clicks
 * on the image (queued in image mm for the navigator's loop to take), and the
 * small queries of the C API (display settings, next click / key, image to
 * window coordinates, last render time, the X window). viewer.cxx keeps the life
 * cycle, show and snapshot.
 */
#include "viewer_vtk.h"

#include "palette/palette.h"

#include <vtkCamera.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkTextProperty.h>

#include <algorithm>
#include <string>

#include <cmath>
#include <cstring>

void cn_viewer_on_exit(vtkObject *, unsigned long, void *client, void *)
{
    static_cast<cn_viewer *>(client)->closed = true;
}

/* VTK's render window fires ExitEvent instead of abort() when it cannot create
 * a GL context and someone listens. */
void cn_viewer_on_win_exit(vtkObject *, unsigned long, void *client, void *)
{
    cn_viewer *v = static_cast<cn_viewer *>(client);
    v->gl_failed = true;
    v->closed = true;
}

bool cn_viewer_display_ok(double b, double c, double g)
{
    return std::isfinite(b) && std::isfinite(c) && std::isfinite(g) && b >= -1.0 && b <= 1.0 &&
           c > 0.0 && c <= 20.0 && g > 0.0 && g <= 10.0;
}

/* The list of keys, shown over the in-plane view while h is on: the viewer's own
 * keys, then the app's (cn_viewer_set_key_help). A clinician at the table has no
 * manual in reach, and the keys that matter (f, u) were named nowhere on screen. */
static const char kViewerKeys[] =
    "Keys (h or ? hides this list)\n"
    "q, Esc      quit\n"
    "click       mark the nerve (in-plane view)\n"
    "r           reframe the 3-D view\n"
    "b B  c C    darker / brighter, less / more contrast\n"
    "g G  0      gamma down / up; 0 resets the three\n"
    "o           hide / show the analysis overlays\n"
    "t           show / hide the simulator's ground truth\n";

static void keys_text(cn_viewer *v)
{
    std::string t = kViewerKeys + v->app_keys;
    while (!t.empty() && t.back() == '\n')
        t.pop_back();
    int cols = 0, run = 0;
    for (char c : t) {
        run = c == '\n' ? 0 : run + 1;
        cols = std::max(cols, run);
    }
    v->keys_cols = cols;
    v->keys_panel->SetInput(t.c_str());
}

void cn_viewer_keys_build(cn_viewer *v)
{
    v->keys_panel = vsp<vtkTextActor>::New();
    v->keys_panel->GetPositionCoordinate()->SetCoordinateSystemToViewport();
    vtkTextProperty *tp = v->keys_panel->GetTextProperty();
    tp->SetFontFamilyToCourier(); /* the columns line up */
    tp->BoldOn();
    double rgb[3];
    cn_palette_f(CN_PAL_TEXT, rgb);
    tp->SetColor(rgb);
    tp->SetJustification(VTK_TEXT_LEFT);
    tp->SetVerticalJustification(VTK_TEXT_TOP);
    tp->SetLineSpacing(1.1);
    tp->SetBackgroundColor(0.0, 0.0, 0.0); /* readable over any image */
    tp->SetBackgroundOpacity(0.85);
    keys_text(v);
    v->keys_panel->SetVisibility(v->show_keys);
    v->ren2d->AddActor2D(v->keys_panel);
}

void cn_viewer_keys_layout(cn_viewer *v, int font_px, int pad)
{
    if (!v->keys_panel)
        return;
    v->keys_font_px = font_px;
    v->keys_pad = pad;
    int *vs = v->ren2d->GetSize();
    /* the longest line fits the in-plane view (Courier advances 0.6 of its size a
     * character): the f key's line ran off its right edge at 1280 x 800 (review 41b F8) */
    const double w2 = vs[0] > 0 ? vs[0] : 0.5 * v->opts.width;
    const int fit = v->keys_cols > 0
                        ? static_cast<int>((w2 - 4 * pad) / (0.6 * v->keys_cols))
                        : font_px;
    const int fs = std::max(7, std::min(std::max(9, font_px - 3), fit));
    if (v->keys_panel->GetTextProperty()->GetFontSize() != fs)
        v->keys_panel->GetTextProperty()->SetFontSize(fs);
    const double h2 = vs[1] > 0 ? vs[1] : v->opts.height;
    v->keys_panel->GetPositionCoordinate()->SetValue(2 * pad, h2 - v->margin_px[3] - pad);
}

extern "C" int cn_viewer_set_key_help(cn_viewer *v, const char *text)
{
    if (!v)
        return CN_EINVAL;
    std::string t;
    for (const char *p = text ? text : ""; *p && t.size() < CN_VIEWER_KEY_HELP_MAX; p++)
        if (*p == '\n' || (*p >= 32 && *p < 127))
            t.push_back(*p);
    if (!t.empty() && t.back() != '\n')
        t.push_back('\n');
    v->app_keys = t;
    if (v->keys_panel) {
        keys_text(v);
        if (v->keys_font_px > 0) /* laid out already: sized for the new list */
            cn_viewer_keys_layout(v, v->keys_font_px, v->keys_pad);
    }
    return CN_OK;
}

extern "C" bool cn_viewer_key_help_shown(const cn_viewer *v)
{
    return v && v->show_keys;
}

/* Keys: q / Escape close; r reframes; b/B, c/C, g/G change brightness, contrast,
 * gamma; 0 resets them; t toggles the ground truth; h or ? the list of keys. VTK's own single-letter keys
 * (wireframe, stereo, pick...) make no sense here and are swallowed. */
void cn_viewer_on_key(vtkObject *caller, unsigned long, void *client, void *)
{
    cn_viewer *v = static_cast<cn_viewer *>(client);
    vtkRenderWindowInteractor *rwi = static_cast<vtkRenderWindowInteractor *>(caller);
    const char *sym = rwi->GetKeySym();
    char key = rwi->GetKeyCode();
    v->cb_key->AbortFlagOn();
    double b = v->brightness, c = v->contrast, g = v->gamma;
    if (key == 'q' || key == 'Q' || key == 27 || (sym && strcmp(sym, "Escape") == 0)) {
        v->closed = true;
        return;
    }
    switch (key) {
    case 'r':
        if (v->have_frame)
            cn_viewer_scene_camera3d(v, true);
        break;
    case 'b': b -= 0.05; break;
    case 'B': b += 0.05; break;
    case 'c': c /= 1.1; break;
    case 'C': c *= 1.1; break;
    case 'g': g /= 1.1; break;
    case 'G': g *= 1.1; break;
    case '0': b = 0.0; c = 1.0; g = 1.0; break;
    case 't': v->show_truth = !v->show_truth; break;
    case 'o': v->hide_analysis = !v->hide_analysis; break;
    case 'h':
    case '?':
        v->show_keys = !v->show_keys;
        v->keys_panel->SetVisibility(v->show_keys);
        break;
    default:
        /* Keys the viewer does not own (procedure controls: f, m, space ...) are
         * queued for the app; a full queue drops the newest (a key held down). */
        int k = static_cast<unsigned char>(key);
        if (sym && std::strcmp(sym, "Left") == 0)
            k = CN_KEY_LEFT;
        else if (sym && std::strcmp(sym, "Right") == 0)
            k = CN_KEY_RIGHT;
        if (k > 0 && v->n_keys < (int)(sizeof v->keys / sizeof v->keys[0]))
            v->keys[v->n_keys++] = k;
        return;
    }
    if (cn_viewer_display_ok(b, c, g))
        cn_viewer_set_display(v, b, c, g);
    v->win->Render();
}

/* A left click on the image in the in-plane view marks a point for the app (the
 * operator's target). The 2-D view's world coordinates are image millimetres, so
 * the display point maps straight back. Clicks elsewhere go to the 3-D camera. */
void cn_viewer_on_click(vtkObject *caller, unsigned long, void *client, void *)
{
    cn_viewer *v = static_cast<cn_viewer *>(client);
    vtkRenderWindowInteractor *rwi = static_cast<vtkRenderWindowInteractor *>(caller);
    int *pos = rwi->GetEventPosition();
    if (!v->have_frame || !v->ren2d->IsInViewport(pos[0], pos[1]))
        return;
    v->ren2d->SetDisplayPoint(pos[0], pos[1], 0.0);
    v->ren2d->DisplayToWorld();
    double *w = v->ren2d->GetWorldPoint();
    if (w[3] == 0.0)
        return;
    double x = w[0] / w[3], y = w[1] / w[3];
    if (!(x >= 0 && y >= 0 && x <= v->img_w * v->spacing[0] && y <= v->img_h * v->spacing[1]))
        return;
    v->cb_click->AbortFlagOn();
    if (v->n_clicks < static_cast<int>(sizeof v->clicks / sizeof v->clicks[0]))
        v->clicks[v->n_clicks++] = cn_pt2{static_cast<float>(x), static_cast<float>(y)};
}

extern "C" int cn_viewer_set_display(cn_viewer *v, double brightness, double contrast,
                                     double gamma)
{
    if (!v || !cn_viewer_display_ok(brightness, contrast, gamma))
        return CN_EINVAL;
    v->brightness = brightness;
    v->contrast = contrast;
    v->gamma = gamma;
    cn_viewer_scene_apply_display(v);
    return CN_OK;
}

extern "C" bool cn_viewer_next_click(cn_viewer *v, cn_pt2 *mm)
{
    if (!v || v->n_clicks == 0)
        return false;
    *mm = v->clicks[0];
    std::memmove(v->clicks, v->clicks + 1, sizeof v->clicks[0] * static_cast<size_t>(v->n_clicks - 1));
    v->n_clicks--;
    return true;
}

extern "C" int cn_viewer_next_key(cn_viewer *v)
{
    if (!v || v->n_keys == 0)
        return 0;
    int k = v->keys[0];
    std::memmove(v->keys, v->keys + 1, sizeof v->keys[0] * static_cast<size_t>(v->n_keys - 1));
    v->n_keys--;
    return k;
}

extern "C" int cn_viewer_image_mm_to_window(cn_viewer *v, int view, double x_mm, double y_mm,
                                            double *wx, double *wy)
{
    if (!v || !wx || !wy || (view != 0 && view != 1))
        return CN_EINVAL;
    if (!v->have_frame)
        return CN_ENOENT;
    vtkRenderer *r = view == 0 ? v->ren3d.Get() : v->ren2d.Get();
    cn_vec3 p = {x_mm, y_mm, 0.0};
    if (view == 0)
        p = cn_mat4_apply_point(&v->geom.image_mm_to_ref, cn_vec3{x_mm, y_mm, 0.0});
    r->SetWorldPoint(p.x, p.y, p.z, 1.0);
    r->WorldToDisplay();
    double *d = r->GetDisplayPoint();
    *wx = d[0];
    *wy = v->win->GetSize()[1] - d[1];
    return CN_OK;
}

extern "C" double cn_viewer_last_render_ms(const cn_viewer *v)
{
    return v ? v->last_render_ms : 0.0;
}

extern "C" unsigned long cn_viewer_x_window(cn_viewer *v)
{
    if (!v || v->opts.offscreen)
        return 0;
    return static_cast<unsigned long>(reinterpret_cast<uintptr_t>(v->win->GetGenericWindowId()));
}
