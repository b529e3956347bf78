/*
 * viewer_scene.cxx - builds and updates the VTK scene of the viewer.
 *
 * The idea: everything is built once (renderers, the textured plane, the needle
 * model, overlay actors, text) and a frame only changes data in place: the
 * pixels of one reused vtkImageData, a few user matrices, the overlay poly data
 * and some strings. The image plane is modelled in pixel coordinates (x right, y
 * down, pixel centres at integers) with texture row 0 = the first (top) image row,
 * so no pixel is ever flipped: the y-down convention is carried by the matrices
 * (ImageToReference in 3-D; in 2-D a camera whose view-up is -y), which keeps
 * the transducer at the top of the 2-D view.
 */
#include "viewer_vtk.h"

#include <vtkCamera.h>
#include <vtkCaptionActor2D.h>
#include <vtkCellArray.h>
#include <vtkCellData.h>
#include <vtkConeSource.h>
#include <vtkCoordinate.h>
#include <vtkCylinderSource.h>
#include <vtkMatrix4x4.h>
#include <vtkPoints.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkShaderProperty.h>
#include <vtkTextProperty.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>
#include <vtkUniforms.h>
#include <vtkUnsignedCharArray.h>
#include <vtkAppendPolyData.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace {

const double kNeedleLengthMm = 90.0; // drawn shaft length above the active segment

void set_matrix(vtkActor *a, const cn_mat4 &m)
{
    vsp<vtkMatrix4x4> vm = vsp<vtkMatrix4x4>::New();
    vm->DeepCopy(m.m); // both row-major
    a->SetUserMatrix(vm);
}

/* A cylinder along the Cryoprobe's z axis from z0 down to z1 (z1 < z0). */
vsp<vtkPolyData> cylinder_z(double z0, double z1, double radius)
{
    vsp<vtkCylinderSource> c = vsp<vtkCylinderSource>::New();
    c->SetRadius(radius);
    c->SetHeight(z0 - z1);
    c->SetResolution(24);
    vsp<vtkTransform> t = vsp<vtkTransform>::New();
    t->Translate(0.0, 0.0, 0.5 * (z0 + z1));
    t->RotateX(90.0); // the source's axis is y; turn it to z
    vsp<vtkTransformPolyDataFilter> f = vsp<vtkTransformPolyDataFilter>::New();
    f->SetInputConnection(c->GetOutputPort());
    f->SetTransform(t);
    f->Update();
    return f->GetOutput();
}

vsp<vtkActor> poly_actor(vtkPolyData *pd, double r, double g, double b)
{
    vsp<vtkPolyDataMapper> m = vsp<vtkPolyDataMapper>::New();
    m->SetInputData(pd);
    vsp<vtkActor> a = vsp<vtkActor>::New();
    a->SetMapper(m);
    a->GetProperty()->SetColor(r, g, b);
    return a;
}

/* The cryoprobe: a grey shaft and a differently coloured freezing segment ending
 * in a short trocar point, tip at the origin, shaft along -z. */
void build_needle(cn_viewer *v)
{
    double active = v->opts.needle_active_mm, radius = 0.5 * v->opts.needle_diameter_mm;
    double cone_h = std::min(2.5, 0.3 * active);
    vsp<vtkPolyData> shaft = cylinder_z(-active, -(active + kNeedleLengthMm), radius);
    vsp<vtkConeSource> cone = vsp<vtkConeSource>::New();
    cone->SetResolution(24);
    cone->SetRadius(radius);
    cone->SetHeight(cone_h);
    cone->SetDirection(0.0, 0.0, 1.0); // apex towards +z, i.e. at the tip
    cone->SetCenter(0.0, 0.0, -0.5 * cone_h);
    cone->Update();
    vsp<vtkAppendPolyData> act = vsp<vtkAppendPolyData>::New();
    act->AddInputData(cylinder_z(-cone_h, -active, radius));
    act->AddInputData(cone->GetOutput());
    act->Update();
    v->needle_shaft = poly_actor(shaft, 0.80, 0.82, 0.86);
    v->needle_shaft->GetProperty()->SetSpecular(0.6);
    v->needle_shaft->GetProperty()->SetSpecularPower(30.0);
    v->needle_active = poly_actor(act->GetOutput(), 0.25, 0.70, 1.00);
    v->needle_active->GetProperty()->SetSpecular(0.4);
    for (vtkActor *a : {v->needle_shaft.Get(), v->needle_active.Get()}) {
        a->VisibilityOff();
        v->ren3d->AddActor(a);
    }
}

/* Called by the plane mappers each time their shader program is bound: proves
 * that us_plane.frag compiled and linked. */
void on_shader_bound(vtkObject *, unsigned long, void *client, void *)
{
    static_cast<cn_viewer *>(client)->shader_bound = true;
}

vsp<vtkActor> plane_actor(cn_viewer *v)
{
    vsp<vtkPolyDataMapper> m = vsp<vtkPolyDataMapper>::New();
    m->SetInputConnection(v->plane->GetOutputPort());
    m->AddObserver(vtkCommand::UpdateShaderEvent, v->cb_shader);
    vsp<vtkActor> a = vsp<vtkActor>::New();
    a->SetMapper(m);
    a->SetTexture(v->tex);
    vtkProperty *p = a->GetProperty();
    p->LightingOff();
    p->SetColor(1.0, 1.0, 1.0);
    p->SetAmbient(1.0);
    p->SetDiffuse(0.0);
    p->SetSpecular(0.0);
    /* Our block runs right after VTK's texture lookup: keep the tag first so VTK
     * still substitutes its own code, then append the display mapping. */
    std::string repl = "//VTK::TCoord::Impl\n" + v->shader_text + "\n";
    a->GetShaderProperty()->AddFragmentShaderReplacement("//VTK::TCoord::Impl", true, repl,
                                                         false);
    a->VisibilityOff();
    return a;
}

/* Overlay actors: colours per cell, lines a little wider than the truth. */
vsp<vtkActor> overlay_actor(vtkPolyData *pd, double line_width)
{
    vsp<vtkPolyDataMapper> m = vsp<vtkPolyDataMapper>::New();
    m->SetInputData(pd);
    m->SetScalarModeToUseCellData();
    m->SetColorModeToDirectScalars();
    m->ScalarVisibilityOn();
    vsp<vtkActor> a = vsp<vtkActor>::New();
    a->SetMapper(m);
    a->GetProperty()->LightingOff();
    a->GetProperty()->SetLineWidth(static_cast<float>(line_width));
    a->GetProperty()->SetPointSize(5.0f);
    return a;
}

vsp<vtkTextActor> text_actor(vtkRenderer *r, double x, double y, int halign, int valign,
                             double red, double green, double blue)
{
    vsp<vtkTextActor> t = vsp<vtkTextActor>::New();
    t->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
    t->GetPositionCoordinate()->SetValue(x, y);
    vtkTextProperty *tp = t->GetTextProperty();
    tp->SetFontFamilyToArial();
    tp->SetColor(red, green, blue);
    tp->SetJustification(halign);
    tp->SetVerticalJustification(valign);
    tp->SetLineSpacing(1.15);
    t->SetInput("");
    r->AddActor2D(t);
    return t;
}

vsp<vtkPolyData> empty_poly()
{
    vsp<vtkPolyData> pd = vsp<vtkPolyData>::New();
    pd->SetPoints(vsp<vtkPoints>::New());
    pd->SetVerts(vsp<vtkCellArray>::New());
    pd->SetLines(vsp<vtkCellArray>::New());
    vsp<vtkUnsignedCharArray> c = vsp<vtkUnsignedCharArray>::New();
    c->SetNumberOfComponents(3);
    c->SetName("colors");
    pd->GetCellData()->SetScalars(c);
    return pd;
}

} // namespace

void cn_viewer_scene_build(cn_viewer *v)
{
    v->ren3d = vsp<vtkRenderer>::New();
    v->ren3d->SetViewport(0.0, 0.0, 0.5, 1.0);
    v->ren3d->GradientBackgroundOn();
    v->ren3d->SetBackground(0.02, 0.025, 0.035);  // bottom
    v->ren3d->SetBackground2(0.09, 0.11, 0.15);   // top
    v->ren3d_ov = vsp<vtkRenderer>::New();
    v->ren3d_ov->SetViewport(0.0, 0.0, 0.5, 1.0);
    v->ren3d_ov->SetLayer(1);
    v->ren3d_ov->InteractiveOff();
    v->ren3d_ov->SetActiveCamera(v->ren3d->GetActiveCamera());
    v->ren2d = vsp<vtkRenderer>::New();
    v->ren2d->SetViewport(0.5, 0.0, 1.0, 1.0);
    v->ren2d->SetBackground(0.0, 0.0, 0.0);
    v->ren2d->InteractiveOff(); // the in-plane view is fixed: mouse drags go to 3-D
    v->ren2d->GetActiveCamera()->ParallelProjectionOn();
    v->ren_axes = vsp<vtkRenderer>::New();
    v->ren_axes->SetViewport(0.0, 0.0, 0.11, 0.22);
    v->ren_axes->SetLayer(1);
    v->ren_axes->InteractiveOff();
    v->win->SetNumberOfLayers(2);
    for (vtkRenderer *r : {v->ren3d.Get(), v->ren2d.Get(), v->ren3d_ov.Get(), v->ren_axes.Get()})
        v->win->AddRenderer(r);

    /* The image: one reused 8-bit image, linear filtering, no colour mapping. */
    v->img = vsp<vtkImageData>::New();
    v->tex = vsp<vtkTexture>::New();
    v->tex->SetInputData(v->img);
    v->tex->InterpolateOn();
    v->tex->SetColorModeToDirectScalars();
    v->tex->RepeatOff();
    v->tex->EdgeClampOn();
    v->plane = vsp<vtkPlaneSource>::New();
    v->cb_shader = vsp<vtkCallbackCommand>::New();
    v->cb_shader->SetCallback(on_shader_bound);
    v->cb_shader->SetClientData(v);
    cn_viewer_scene_resize_image(v, 2, 2);
    v->plane3d = plane_actor(v);
    v->plane2d = plane_actor(v);
    v->ren3d->AddActor(v->plane3d);
    v->ren2d->AddActor(v->plane2d);
    cn_viewer_scene_apply_display(v);

    build_needle(v);

    v->ov_main = empty_poly();
    v->ov_truth = empty_poly();
    double lw = std::max(2.0, v->opts.height / 256.0);
    v->ov_main3d = overlay_actor(v->ov_main, lw);
    v->ov_main2d = overlay_actor(v->ov_main, lw);
    v->ov_truth3d = overlay_actor(v->ov_truth, 1.0);
    v->ov_truth2d = overlay_actor(v->ov_truth, 1.0);
    v->ren3d_ov->AddActor(v->ov_main3d);
    v->ren3d_ov->AddActor(v->ov_truth3d);
    v->ren2d->AddActor(v->ov_main2d);
    v->ren2d->AddActor(v->ov_truth2d);
    /* In 2-D the camera looks along +z: overlays sit just in front of the image. */
    for (vtkActor *a : {v->ov_main2d.Get(), v->ov_truth2d.Get()})
        a->SetPosition(0.0, 0.0, -0.05);

    v->axes = vsp<vtkAxesActor>::New();
    v->axes->SetTotalLength(1.0, 1.0, 1.0);
    v->axes->SetShaftTypeToCylinder();
    v->axes->SetCylinderRadius(0.03);
    for (vtkCaptionActor2D *c : {v->axes->GetXAxisCaptionActor2D(),
                                 v->axes->GetYAxisCaptionActor2D(),
                                 v->axes->GetZAxisCaptionActor2D()}) {
        c->GetCaptionTextProperty()->ShadowOff();
        c->GetCaptionTextProperty()->ItalicOff();
        c->GetCaptionTextProperty()->SetColor(0.85, 0.85, 0.85);
    }
    v->ren_axes->AddActor(v->axes);

    v->hud = text_actor(v->ren3d, 0.02, 0.98, VTK_TEXT_LEFT, VTK_TEXT_TOP, 0.92, 0.95, 0.98);
    v->hud->GetTextProperty()->SetFontFamilyToCourier();
    v->hud->GetTextProperty()->BoldOn();
    v->status = text_actor(v->ren3d, 0.02, 0.015, VTK_TEXT_LEFT, VTK_TEXT_BOTTOM, 1.0, 0.66, 0.2);
    v->status->GetTextProperty()->BoldOn();
    v->status->GetPositionCoordinate()->SetValue(0.13, 0.02);
    /* Alarms get a line of their own where the operator looks (over the image),
     * never the tail of a status line that a narrow window cuts off. */
    v->alarm = text_actor(v->ren2d, 0.5, 0.985, VTK_TEXT_CENTERED, VTK_TEXT_TOP, 1.0, 0.22, 0.2);
    v->alarm->GetTextProperty()->BoldOn();
    v->alarm->GetTextProperty()->SetBackgroundColor(0.0, 0.0, 0.0);
    v->alarm->GetTextProperty()->SetBackgroundOpacity(0.75);
    v->caption3d = text_actor(v->ren3d, 0.98, 0.98, VTK_TEXT_RIGHT, VTK_TEXT_TOP, 0.6, 0.65, 0.7);
    v->caption2d = text_actor(v->ren2d, 0.98, 0.98, VTK_TEXT_RIGHT, VTK_TEXT_TOP, 0.6, 0.65, 0.7);
    v->caption2d->SetInput("in-plane (image mm)");
    v->no_image = text_actor(v->ren2d, 0.5, 0.5, VTK_TEXT_CENTERED, VTK_TEXT_CENTERED, 0.7, 0.7,
                             0.7);
    v->no_image->SetInput("no image");
    const char *legend[3] = {"\xe2\x80\x94 0 \xc2\xb0" "C", "\xe2\x80\x94 -20 \xc2\xb0" "C",
                             "\xe2\x80\x94 -40 \xc2\xb0" "C"};
    for (int i = 0; i < 3; i++) {
        const uint8_t *c = cn_viewer_ov_rgb[CN_OV_ISO_0 + i];
        v->legend[i] = text_actor(v->ren2d, 0.03, 0.03 + 0.045 * (2 - i), VTK_TEXT_LEFT,
                                  VTK_TEXT_BOTTOM, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
        v->legend[i]->GetTextProperty()->BoldOn();
        v->legend[i]->SetInput(legend[i]);
        v->legend[i]->VisibilityOff();
    }
    for (auto &l : v->depth_lbl) {
        l = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_RIGHT, VTK_TEXT_CENTERED, 0.72, 0.76, 0.8);
        l->GetPositionCoordinate()->SetCoordinateSystemToWorld();
        l->VisibilityOff();
    }
    {
        const uint8_t *c = cn_viewer_ov_rgb[CN_OV_NERVE];
        v->nerve_lbl = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_LEFT, VTK_TEXT_BOTTOM, c[0] / 255.0,
                                  c[1] / 255.0, c[2] / 255.0);
        v->nerve_lbl->GetPositionCoordinate()->SetCoordinateSystemToWorld();
        v->nerve_lbl->GetTextProperty()->BoldOn();
        v->nerve_lbl->VisibilityOff();
    }
    cn_viewer_scene_layout_text(v);
}

void cn_viewer_scene_layout_text(cn_viewer *v)
{
    int *sz = v->win->GetSize();
    int h = sz[1] > 0 ? sz[1] : v->opts.height;
    int fs = std::max(10, static_cast<int>(std::lround(h * 0.024)));
    v->hud->GetTextProperty()->SetFontSize(fs);
    v->status->GetTextProperty()->SetFontSize(fs);
    v->alarm->GetTextProperty()->SetFontSize(fs + 6);
    v->caption3d->GetTextProperty()->SetFontSize(std::max(9, fs - 3));
    v->caption2d->GetTextProperty()->SetFontSize(std::max(9, fs - 3));
    v->no_image->GetTextProperty()->SetFontSize(fs + 4);
    for (auto &l : v->legend)
        l->GetTextProperty()->SetFontSize(fs);
    for (auto &l : v->depth_lbl)
        l->GetTextProperty()->SetFontSize(std::max(9, fs - 4));
    v->nerve_lbl->GetTextProperty()->SetFontSize(std::max(9, fs - 2));
}

void cn_viewer_scene_resize_image(cn_viewer *v, int w, int h)
{
    v->img->SetDimensions(w, h, 1);
    v->img->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
    /* Texture coordinate (0,0) is the first stored row, which is the top image
     * row: the plane's t axis runs along +y (down) in pixel coordinates. */
    v->plane->SetOrigin(-0.5, -0.5, 0.0);
    v->plane->SetPoint1(w - 0.5, -0.5, 0.0);
    v->plane->SetPoint2(-0.5, h - 0.5, 0.0);
    v->img_w = w;
    v->img_h = h;
}

void cn_viewer_scene_apply_display(cn_viewer *v)
{
    for (vtkActor *a : {v->plane3d.Get(), v->plane2d.Get()}) {
        vtkUniforms *u = a->GetShaderProperty()->GetFragmentCustomUniforms();
        u->SetUniformf("cn_brightness", static_cast<float>(v->brightness));
        u->SetUniformf("cn_contrast", static_cast<float>(v->contrast));
        u->SetUniformf("cn_gamma", static_cast<float>(v->gamma));
    }
}

void cn_viewer_scene_update_overlays(cn_viewer *v)
{
    const cn_viewer_overlay *ov = v->ov;
    /* the nerve's confidence beside its outline (2-D view; y grows down the screen,
     * so the label's bottom sits just above the outline's top) */
    v->nerve_lbl->SetVisibility(ov->nerve_label_on);
    if (ov->nerve_label_on) {
        if (strcmp(v->nerve_lbl->GetInput() ? v->nerve_lbl->GetInput() : "", ov->nerve_label) != 0)
            v->nerve_lbl->SetInput(ov->nerve_label);
        v->nerve_lbl->GetPositionCoordinate()->SetValue(ov->nerve_label_mm.x,
                                                        ov->nerve_label_mm.y, -0.1);
    }
    for (int pass = 0; pass < 2; pass++) {
        vtkPolyData *pd = pass == 0 ? v->ov_main.Get() : v->ov_truth.Get();
        vtkPoints *pts = pd->GetPoints();
        vtkCellArray *verts = pd->GetVerts(), *lines = pd->GetLines();
        vtkUnsignedCharArray *col =
            vtkUnsignedCharArray::SafeDownCast(pd->GetCellData()->GetScalars());
        pts->Reset();
        verts->Reset();
        lines->Reset();
        col->Reset();
        /* Cell data order is verts then lines: two sweeps keep colours aligned. */
        for (int sweep = 0; sweep < 2; sweep++) {
            for (int i = 0; i < ov->n_items; i++) {
                const cn_ov_item &it = ov->items[i];
                bool truth = it.kind == CN_OV_TRUTH;
                if (truth != (pass == 1) || it.points != (sweep == 0))
                    continue;
                vtkIdType first = pts->GetNumberOfPoints();
                for (int k = 0; k < it.n; k++) {
                    const cn_pt2 &p = ov->pts[it.first + k];
                    pts->InsertNextPoint(p.x, p.y, 0.0);
                }
                const uint8_t *rgb = cn_viewer_ov_rgb[it.kind];
                if (it.points) {
                    for (int k = 0; k < it.n; k++) {
                        vtkIdType id = first + k;
                        verts->InsertNextCell(1, &id);
                        col->InsertNextTypedTuple(rgb);
                    }
                } else {
                    int n = it.n + (it.closed ? 1 : 0);
                    lines->InsertNextCell(n);
                    for (int k = 0; k < n; k++)
                        lines->InsertCellPoint(first + (k % it.n));
                    col->InsertNextTypedTuple(rgb);
                }
            }
        }
        pts->Modified();
        verts->Modified();
        lines->Modified();
        col->Modified();
        pd->Modified();
    }
    for (int i = 0; i < 3; i++) // the legend lists the isotherms on screen
        v->legend[i]->SetVisibility(ov->has_iso[i]);
}

void cn_viewer_scene_apply_geom(cn_viewer *v)
{
    const cn_viewer_geom &g = v->geom;
    set_matrix(v->plane3d, g.image_to_ref);
    /* The 2-D view's world is image mm: pixel (i, j) centred at ((i + 0.5) sx,
     * (j + 0.5) sy), where the analysis puts its results (core's one rule). */
    set_matrix(v->plane2d, g.image_to_2d);
    set_matrix(v->ov_main3d, g.image_mm_to_ref);
    set_matrix(v->ov_truth3d, g.image_mm_to_ref);
    for (vtkActor *a : {v->needle_shaft.Get(), v->needle_active.Get()}) {
        set_matrix(a, g.needle_to_ref);
        a->SetVisibility(g.needle_visible);
    }
    v->caption3d->SetInput(g.reference_used ? "3-D (Reference)" : "3-D (Tracker)");
}

void cn_viewer_scene_camera2d(cn_viewer *v)
{
    double w_mm = v->img_w * v->spacing[0], h_mm = v->img_h * v->spacing[1];
    int *sz = v->ren2d->GetSize();
    double aspect = sz[1] > 0 ? static_cast<double>(sz[0]) / sz[1] : 1.0;
    double cx = v->img_w * 0.5 * v->spacing[0], cy = v->img_h * 0.5 * v->spacing[1];
    vtkCamera *cam = v->ren2d->GetActiveCamera();
    cam->SetFocalPoint(cx, cy, 0.0);
    cam->SetPosition(cx, cy, -1000.0);
    cam->SetViewUp(0.0, -1.0, 0.0); // image y points down the screen
    cam->SetParallelScale(1.02 * std::max(0.5 * h_mm, 0.5 * w_mm / aspect));
    cam->SetClippingRange(900.0, 1100.0);

    /* Depth labels beside the long ticks of the depth scale. */
    double x_edge = v->img_w * v->spacing[0], depth = v->img_h * v->spacing[1];
    double step = cn_viewer_depth_step_mm(depth);
    double len = std::min(0.04 * x_edge, 0.02 * depth + 1.0);
    for (int i = 0; i < CN_VIEWER_DEPTH_LABELS; i++) {
        double depth_mm = step * (i + 1);
        vtkTextActor *l = v->depth_lbl[i];
        bool on = depth_mm < depth - 0.02 * step;
        l->SetVisibility(on);
        if (!on)
            continue;
        char txt[16];
        snprintf(txt, sizeof txt, "%.0f", depth_mm);
        if (strcmp(l->GetInput() ? l->GetInput() : "", txt) != 0)
            l->SetInput(txt);
        l->GetPositionCoordinate()->SetValue(x_edge - 1.3 * len, depth_mm, -0.1);
    }
}

namespace {

/* True when the image centre projects inside the 3-D viewport. */
bool plane_in_view(cn_viewer *v)
{
    cn_vec3 c = cn_mat4_apply_point(&v->geom.image_to_ref,
                                    cn_vec3{0.5 * (v->img_w - 1), 0.5 * (v->img_h - 1), 0.0});
    v->ren3d->SetWorldPoint(c.x, c.y, c.z, 1.0);
    v->ren3d->WorldToView();
    double *p = v->ren3d->GetViewPoint();
    return std::fabs(p[0]) < 1.0 && std::fabs(p[1]) < 1.0 && p[2] > -1.0 && p[2] < 1.0;
}

} // namespace

void cn_viewer_scene_camera3d(cn_viewer *v, bool force)
{
    const cn_viewer_geom &g = v->geom;
    bool mode_changed = g.image_tracked != v->last_tracked || g.reference_used != v->last_ref;
    if (!force && v->framed && !mode_changed && plane_in_view(v)) {
        v->ren3d->ResetCameraClippingRange();
        return;
    }
    v->last_tracked = g.image_tracked;
    v->last_ref = g.reference_used;
    v->framed = true;

    /* Bounds of the plane corners and, when shown, the needle's distal part. */
    double b[6] = {1e300, -1e300, 1e300, -1e300, 1e300, -1e300};
    cn_vec3 pts[6];
    int n_pts = 0;
    auto grow = [&b, &pts, &n_pts](cn_vec3 p) {
        pts[n_pts++] = p;
        b[0] = std::min(b[0], p.x); b[1] = std::max(b[1], p.x);
        b[2] = std::min(b[2], p.y); b[3] = std::max(b[3], p.y);
        b[4] = std::min(b[4], p.z); b[5] = std::max(b[5], p.z);
    };
    double w = v->img_w - 0.5, h = v->img_h - 0.5;
    for (cn_vec3 p : {cn_vec3{-0.5, -0.5, 0}, cn_vec3{w, -0.5, 0}, cn_vec3{-0.5, h, 0},
                      cn_vec3{w, h, 0}})
        grow(cn_mat4_apply_point(&g.image_to_ref, p));
    if (g.needle_visible) {
        grow(cn_mat4_apply_point(&g.needle_to_ref, cn_vec3{0, 0, 0}));
        grow(cn_mat4_apply_point(&g.needle_to_ref, cn_vec3{0, 0, -30.0}));
    }

    /* Look at the image face-on first (x right, transducer up, as in 2-D), then
     * turn a little so the plane reads as a plane in space. */
    cn_vec3 ex = cn_vec3_normalize(cn_mat4_apply_dir(&g.image_to_ref, cn_vec3{1, 0, 0}));
    cn_vec3 ey = cn_vec3_normalize(cn_mat4_apply_dir(&g.image_to_ref, cn_vec3{0, 1, 0}));
    cn_vec3 n = cn_vec3_normalize(cn_vec3_cross(ex, ey));
    cn_vec3 c = {0.5 * (b[0] + b[1]), 0.5 * (b[2] + b[3]), 0.5 * (b[4] + b[5])};
    vtkCamera *cam = v->ren3d->GetActiveCamera();
    cam->SetFocalPoint(c.x, c.y, c.z);
    cam->SetPosition(c.x - 100.0 * n.x, c.y - 100.0 * n.y, c.z - 100.0 * n.z);
    cam->SetViewUp(-ey.x, -ey.y, -ey.z);
    cam->Azimuth(-35.0);
    cam->Elevation(20.0);
    cam->OrthogonalizeViewUp();
    v->ren3d->ResetCamera(b);
    /* ResetCamera fits a bounding sphere, loose for a flat plane: dolly in until
     * the points framed span ~85 % of the width and ~70 % of the height (the HUD
     * sits at the top). Two passes: perspective makes one approximate. */
    for (int pass = 0; pass < 2; pass++) {
        v->ren3d->ResetCameraClippingRange(b);
        double ext = 1e-6;
        for (int k = 0; k < n_pts; k++) {
            v->ren3d->SetWorldPoint(pts[k].x, pts[k].y, pts[k].z, 1.0);
            v->ren3d->WorldToView();
            const double *p = v->ren3d->GetViewPoint();
            ext = std::max({ext, std::fabs(p[0]) / 0.85, std::fabs(p[1]) / 0.70});
        }
        if (!std::isfinite(ext))
            break;
        cam->Dolly(std::min(5.0, std::max(0.2, 1.0 / ext)));
    }
    v->ren3d->ResetCameraClippingRange(b);
    v->ren3d->ResetCameraClippingRange();
}

void cn_viewer_scene_sync_axes(cn_viewer *v)
{
    vtkCamera *c3 = v->ren3d->GetActiveCamera();
    vtkCamera *ca = v->ren_axes->GetActiveCamera();
    double dop[3];
    c3->GetDirectionOfProjection(dop);
    ca->SetFocalPoint(0.0, 0.0, 0.0);
    ca->SetPosition(-5.0 * dop[0], -5.0 * dop[1], -5.0 * dop[2]);
    ca->SetViewUp(c3->GetViewUp());
    v->ren_axes->ResetCamera();
}
