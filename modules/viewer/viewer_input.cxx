/*
 * viewer_input.cxx - what reaches the viewer from the user: the window's close
 * and exit events, keys (display settings, reframing, the truth overlay), clicks
 * on the image (queued in image mm for the navigator's loop to take), and the
 * small queries of the C API (display settings, next click / key, image to
 * window coordinates, last render time, the X window). viewer.cxx keeps the life
 * cycle, show and snapshot.
 */
#include "viewer_vtk.h"

#include <vtkCamera.h>
#include <vtkInteractorStyleTrackballCamera.h>

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

/* Keys: q / Escape close; r reframes; b/B, c/C, g/G change brightness, contrast,
 * gamma; 0 resets them; t toggles the ground truth. VTK's own single-letter keys
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
