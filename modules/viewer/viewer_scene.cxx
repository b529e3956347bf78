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

#include "palette/palette.h"

#include <vtkCamera.h>
#include <vtkCaptionActor2D.h>
#include <vtkCellArray.h>
#include <vtkCellData.h>
#include <vtkCoordinate.h>
#include <vtkMatrix4x4.h>
#include <vtkPoints.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkShaderProperty.h>
#include <vtkTextProperty.h>
#include <vtkUniforms.h>
#include <vtkUnsignedCharArray.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace {

/* the orientation marker's corner of the window (normalised x0, y0, x1, y1) */
const double kAxesViewport[4] = {0.0, 0.0, 0.11, 0.22};

void set_matrix(vtkActor *a, const cn_mat4 &m)
{
    vsp<vtkMatrix4x4> vm = vsp<vtkMatrix4x4>::New();
    vm->DeepCopy(m.m); // both row-major
    a->SetUserMatrix(vm);
}

/* Called by the plane mappers each time their shader program is bound: proves
 * that us_plane.frag compiled and linked. */
void on_shader_bound(vtkObject *, unsigned long, void *client, void *)
{
    static_cast<cn_viewer *>(client)->shader_bound = true;
}

/* Our block runs right after VTK's texture lookup: keep the tag first so VTK still
 * substitutes its own code, then append the display mapping. With gamma 1 the
 * block is compiled with CN_GAMMA_IS_ONE defined, so a shader that honours it
 * skips its pow(): llvmpipe runs both sides of a branch, and the pow was ~8 % of a
 * frame. A gamma key switches the variant (one shader compile, once). */
void set_plane_shader(cn_viewer *v, vtkActor *a, bool gamma_one)
{
    std::string repl = "//VTK::TCoord::Impl\n" + v->shader_text + "\n";
    vtkShaderProperty *sp = a->GetShaderProperty();
    sp->ClearAllFragmentShaderReplacements();
    sp->AddFragmentShaderReplacement("//VTK::TCoord::Impl", true, repl, false);
    if (gamma_one) /* at file scope, among VTK's own declarations */
        sp->AddFragmentShaderReplacement("//VTK::System::Dec", true,
                                         "//VTK::System::Dec\n#define CN_GAMMA_IS_ONE 1\n", false);
}

vsp<vtkActor> plane_actor(cn_viewer *v, bool depth_test)
{
    vsp<vtkPolyDataMapper> m = cn_viewer_plane_mapper_new(depth_test);
    m->SetInputConnection(v->plane->GetOutputPort());
    m->AddObserver(vtkCommand::UpdateShaderEvent, v->cb_shader);
    vsp<vtkActor> a = vsp<vtkActor>::New();
    a->SetMapper(m);
    a->SetTexture(v->tex);
    /* VTK counts an external RGBA texture as translucent and would draw the plane
     * in its translucent pass, where the blending this mapper turns off is needed:
     * the planes came out blank (the "black planes" of an earlier attempt) */
    a->ForceOpaqueOn();
    vtkProperty *p = a->GetProperty();
    p->LightingOff();
    p->SetColor(1.0, 1.0, 1.0);
    p->SetAmbient(1.0);
    p->SetDiffuse(0.0);
    p->SetSpecular(0.0);
    set_plane_shader(v, a, v->gamma == 1.0);
    a->VisibilityOff();
    return a;
}

/* Overlay actors: colours per cell, lines a little wider than the truth. In the
 * 3-D view (on_top) they are drawn over everything, the image plane they lie on and
 * the probe model included: their fragments take the nearest depth. (A renderer of
 * their own on a second layer did that before, but its scissored depth clear cost
 * llvmpipe a full-view pass per frame.) */
vsp<vtkActor> overlay_actor(vtkPolyData *pd, double line_width, bool on_top)
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
    if (on_top)
        a->GetShaderProperty()->AddFragmentShaderReplacement("//VTK::Depth::Impl", true,
                                                             "gl_FragDepth = 0.0;\n", false);
    return a;
}

vsp<vtkTextActor> text_actor(vtkRenderer *r, double x, double y, int halign, int valign,
                             cn_pal_role colour)
{
    vsp<vtkTextActor> t = vsp<vtkTextActor>::New();
    t->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
    t->GetPositionCoordinate()->SetValue(x, y);
    vtkTextProperty *tp = t->GetTextProperty();
    tp->SetFontFamilyToArial();
    double rgb[3];
    cn_palette_f(colour, rgb);
    tp->SetColor(rgb);
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
    /* One renderer clears the whole window (colour and depth) and the two views do
     * not clear their halves: with Mesa's llvmpipe a clear of part of the window is
     * drawn as a shaded quad, a whole-window clear is a memset. Measured with
     * callgrind at 1280x800: 102 -> 70 M instructions per frame. A plain ground, no
     * gradient (a gradient is a shaded full-view quad too, for looks only). */
    double ground[3];
    cn_palette_f(CN_PAL_GROUND, ground);
    v->ren_bg = vsp<vtkRenderer>::New();
    v->ren_bg->SetViewport(0.0, 0.0, 1.0, 1.0);
    v->ren_bg->SetBackground(ground);
    v->ren_bg->InteractiveOff();
    v->ren3d = vsp<vtkRenderer>::New();
    v->ren3d->SetViewport(0.0, 0.0, 0.5, 1.0);
    v->ren3d->EraseOff();
    v->ren2d = vsp<vtkRenderer>::New();
    v->ren2d->SetViewport(0.5, 0.0, 1.0, 1.0);
    v->ren2d->EraseOff();
    v->ren2d->InteractiveOff(); // the in-plane view is fixed: mouse drags go to 3-D
    v->ren2d->GetActiveCamera()->ParallelProjectionOn();
    v->ren_axes = vsp<vtkRenderer>::New();
    v->ren_axes->SetViewport(kAxesViewport);
    v->ren_axes->SetLayer(1);
    v->ren_axes->InteractiveOff();
    v->win->SetNumberOfLayers(2);
    for (vtkRenderer *r : {v->ren_bg.Get(), v->ren3d.Get(), v->ren2d.Get(), v->ren_axes.Get()})
        v->win->AddRenderer(r);

    /* The image: a texture object of our own behind v->tex (viewer_plane.cxx),
     * filled once per frame for both planes; linear filtering, clamped edges. */
    v->tex = vsp<vtkTexture>::New();
    v->tex->InterpolateOn();
    v->tex->SetColorModeToDirectScalars();
    v->tex->RepeatOff();
    v->tex->EdgeClampOn();
    v->plane = vsp<vtkPlaneSource>::New();
    v->cb_shader = vsp<vtkCallbackCommand>::New();
    v->cb_shader->SetCallback(on_shader_bound);
    v->cb_shader->SetClientData(v);
    cn_viewer_scene_resize_image(v, 2, 2);
    v->plane3d = plane_actor(v, true);  /* the probe model may pass behind it */
    v->plane2d = plane_actor(v, false); /* nothing in the 2-D view is behind it */
    v->ren3d->AddActor(v->plane3d);
    v->ren2d->AddActor(v->plane2d);
    cn_viewer_scene_apply_display(v);

    cn_viewer_scene_build_needle(v); /* viewer_needle.cxx */

    v->ov_main = empty_poly();
    v->ov_truth = empty_poly();
    double lw = std::max(2.0, v->opts.height / 256.0);
    v->ov_main3d = overlay_actor(v->ov_main, lw, true);
    v->ov_main2d = overlay_actor(v->ov_main, lw, false);
    v->ov_truth3d = overlay_actor(v->ov_truth, 1.0, true);
    v->ov_truth2d = overlay_actor(v->ov_truth, 1.0, false);
    v->ren3d->AddActor(v->ov_main3d); /* after the plane and the probe model: drawn over them */
    v->ren3d->AddActor(v->ov_truth3d);
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
    for (vtkProperty *p : {v->axes->GetXAxisShaftProperty(), v->axes->GetYAxisShaftProperty(),
                           v->axes->GetZAxisShaftProperty(), v->axes->GetXAxisTipProperty(),
                           v->axes->GetYAxisTipProperty(), v->axes->GetZAxisTipProperty()})
        p->BackfaceCullingOn(); /* closed solids, as the probe model; the marker
                                 * keeps the identity matrix (only its camera
                                 * turns), so no mirrored pose reaches it */
    v->ren_axes->AddActor(v->axes);

    for (auto &l : v->hud) {
        l = text_actor(v->ren3d, 0.0, 0.0, VTK_TEXT_LEFT, VTK_TEXT_TOP, CN_PAL_TEXT);
        l->GetPositionCoordinate()->SetCoordinateSystemToViewport();
        l->GetTextProperty()->SetFontFamilyToCourier();
        l->GetTextProperty()->BoldOn();
    }
    /* The status (tracking, the simulator's line, the proctor link and a proctor's
     * note) grows upward from the bottom of the 3-D view, wrapped to its width in
     * a fixed-width font (cn_viewer_text_wrap; one line cut at the view's edge hid
     * a note's end). Right of the orientation marker's viewport, which it would
     * cross once it has several lines (cn_viewer_scene_layout_text). */
    v->status = text_actor(v->ren3d, 0.02, 0.015, VTK_TEXT_LEFT, VTK_TEXT_BOTTOM, CN_PAL_WARN);
    v->status->GetPositionCoordinate()->SetCoordinateSystemToViewport();
    v->status->GetTextProperty()->SetFontFamilyToCourier();
    v->status->GetTextProperty()->BoldOn();
    /* Alarms get a band of their own above the image (never over it, never the tail
     * of a status line that a narrow window cuts off). */
    v->alarm = text_actor(v->ren2d, 0.5, 0.985, VTK_TEXT_CENTERED, VTK_TEXT_TOP, CN_PAL_ALARM);
    v->alarm->GetPositionCoordinate()->SetCoordinateSystemToViewport();
    v->alarm->GetTextProperty()->SetFontFamilyToCourier(); /* its width is known: it must fit */
    v->alarm->GetTextProperty()->BoldOn();
    v->caption3d = text_actor(v->ren3d, 0.98, 0.98, VTK_TEXT_RIGHT, VTK_TEXT_TOP, CN_PAL_TEXT_DIM);
    v->caption2d = text_actor(v->ren2d, 0.98, 0.02, VTK_TEXT_RIGHT, VTK_TEXT_BOTTOM, CN_PAL_TEXT_DIM);
    v->caption2d->GetPositionCoordinate()->SetCoordinateSystemToViewport();
    v->caption2d->SetInput("in-plane, image mm   h: keys");
    v->no_image = text_actor(v->ren2d, 0.5, 0.5, VTK_TEXT_CENTERED, VTK_TEXT_CENTERED, CN_PAL_TEXT_DIM);
    v->no_image->SetInput("no image");
    const char *legend[3] = {"\xe2\x80\x94 0 \xc2\xb0" "C", "\xe2\x80\x94 -20 \xc2\xb0" "C",
                             "\xe2\x80\x94 -40 \xc2\xb0" "C"};
    for (int i = 0; i < 3; i++) {
        v->legend[i] = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_LEFT, VTK_TEXT_BOTTOM,
                                  static_cast<cn_pal_role>(CN_PAL_ISO_0 + i));
        v->legend[i]->GetPositionCoordinate()->SetCoordinateSystemToViewport();
        v->legend[i]->GetTextProperty()->BoldOn();
        v->legend[i]->SetInput(legend[i]);
        v->legend[i]->VisibilityOff();
    }
    for (auto &l : v->depth_lbl) {
        l = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_LEFT, VTK_TEXT_CENTERED, CN_PAL_TEXT_DIM);
        l->GetPositionCoordinate()->SetCoordinateSystemToWorld();
        l->VisibilityOff();
    }
    for (auto &l : v->lat_lbl) {
        l = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_CENTERED, VTK_TEXT_TOP, CN_PAL_TEXT_DIM);
        l->GetPositionCoordinate()->SetCoordinateSystemToWorld();
        l->VisibilityOff();
    }
    {
        v->nerve_lbl = text_actor(v->ren2d, 0.0, 0.0, VTK_TEXT_LEFT, VTK_TEXT_BOTTOM, CN_PAL_NERVE);
        /* The label follows the outline every frame. A vtkTextActor lays out and
         * rasterises its text again whenever its position coordinate changes (its
         * MTime includes it), which in `cryonav run` was every frame. So the
         * label's own coordinate is a fixed zero offset from an anchor coordinate
         * that moves: moving the anchor moves the label, not its text. */
        v->nerve_anchor = vsp<vtkCoordinate>::New();
        v->nerve_anchor->SetCoordinateSystemToWorld();
        v->nerve_lbl->GetPositionCoordinate()->SetCoordinateSystemToViewport();
        v->nerve_lbl->GetPositionCoordinate()->SetValue(0.0, 0.0);
        v->nerve_lbl->GetPositionCoordinate()->SetReferenceCoordinate(v->nerve_anchor);
        v->nerve_lbl->GetTextProperty()->BoldOn();
        v->nerve_lbl->VisibilityOff();
    }
    cn_viewer_keys_build(v);
    cn_viewer_scene_layout_text(v);
}

/* The alarm line: at fs + 4 when it fits the in-plane view's width, else as much
 * smaller as it needs down to the HUD's size, else wrapped at its '|' separators
 * into up to three lines at that size. Several alarms at once made a line wider
 * than the view, and centred it lost both ends: the first alarm's words and the
 * last alarm (seventeenth session). Its band's height goes to margin_px[3]
 * through alarm_px (cn_viewer_scene_camera2d). */
void cn_viewer_scene_set_alarm(cn_viewer *v, const char *text)
{
    if (!text)
        text = "";
    const int fs = v->font_px > 0 ? v->font_px : 10, pad = std::max(4, fs / 4);
    int *vs = v->ren2d->GetSize();
    const double avail = (vs[0] > 0 ? vs[0] : 0.5 * v->opts.width) - 2 * pad;
    const size_t n = strlen(text);
    int size = fs + 4, lines = n ? 1 : 0;
    char wrapped[1024];
    const char *shown = text;
    if (n && n * 0.6 * size > avail) {
        size = std::max(fs, static_cast<int>(avail / (0.6 * static_cast<double>(n))));
        if (n * 0.6 * size > avail) {
            size = fs;
            lines = cn_viewer_text_wrap(text, static_cast<int>(avail / (0.6 * size)), 3, true, wrapped,
                                        sizeof wrapped);
            shown = wrapped;
        }
    }
    v->alarm->GetTextProperty()->SetFontSize(size); /* no Modified() when unchanged */
    v->alarm->SetInput(shown);
    v->alarm_px = lines ? lines * static_cast<int>(std::lround(1.2 * size)) + 3 * pad : 0;
}

/* Text sizes follow the window height; the in-plane view keeps bands free of the
 * image for its text (alarm above, scale labels right of and under the image,
 * legend and caption at the bottom), so no caption ever covers image content
 * whatever the image's shape (a wide UP20L frame or a deep simulator frame). */
void cn_viewer_scene_layout_text(cn_viewer *v)
{
    int *sz = v->win->GetSize();
    int h = sz[1] > 0 ? sz[1] : v->opts.height;
    int fs = std::max(10, static_cast<int>(std::lround(h * 0.024)));
    int lab = std::max(9, fs - 4);
    if (fs != v->font_px) { /* sizes only change with the window: no per-frame Modified() */
        v->font_px = fs;
        v->status->GetTextProperty()->SetFontSize(fs - 2); /* ~48 characters across the 3-D view */
        v->caption3d->GetTextProperty()->SetFontSize(std::max(9, fs - 3));
        v->caption2d->GetTextProperty()->SetFontSize(std::max(9, fs - 3));
        v->no_image->GetTextProperty()->SetFontSize(fs + 4);
        for (auto &l : v->legend)
            l->GetTextProperty()->SetFontSize(fs - 2);
        for (auto &l : v->depth_lbl)
            l->GetTextProperty()->SetFontSize(lab);
        for (auto &l : v->lat_lbl)
            l->GetTextProperty()->SetFontSize(lab);
        v->nerve_lbl->GetTextProperty()->SetFontSize(std::max(9, fs - 2));
    }
    /* bands of the in-plane view (pixels): left, right (3-digit depth labels),
     * bottom (lateral labels + legend line), top (alarm line) */
    int pad = std::max(4, fs / 4);
    v->margin_px[0] = pad;
    v->margin_px[1] = static_cast<int>(std::lround(3 * 0.62 * lab)) + 3 * pad;
    v->margin_px[2] = lab + (fs - 2) + 4 * pad;
    v->margin_px[3] = fs + 4 + 3 * pad;
    int *vs = v->ren2d->GetSize();
    double w2 = vs[0] > 0 ? vs[0] : 0.5 * v->opts.width;
    double h2 = vs[1] > 0 ? vs[1] : v->opts.height;
    v->alarm->GetPositionCoordinate()->SetValue(0.5 * w2, h2 - pad);
    v->caption2d->GetPositionCoordinate()->SetValue(w2 - pad, pad);
    double x = 2 * pad, step = 9.5 * 0.62 * (fs - 2) + 2 * pad; /* "— -20 °C" and a gap */
    for (auto &l : v->legend) {
        l->GetPositionCoordinate()->SetValue(x, pad);
        x += step;
    }
    int *v3 = v->ren3d->GetSize();
    double w3 = v3[0] > 0 ? v3[0] : 0.5 * v->opts.width;
    double h3 = v3[1] > 0 ? v3[1] : v->opts.height;
    /* Courier advances 0.6 of its size per character (measured: 0.57 at 19 px), so
     * CN_VIEWER_HUD_COLS characters fit the 3-D view at this size or smaller */
    int hfs = std::max(8, std::min(fs, static_cast<int>((w3 - 3 * pad) / (0.6 * CN_VIEWER_HUD_COLS))));
    if (hfs != v->hud_font_px) {
        v->hud_font_px = hfs;
        for (auto &l : v->hud)
            l->GetTextProperty()->SetFontSize(hfs);
    }
    for (int i = 0; i < CN_VIEWER_HUD_LINES; i++)
        v->hud[i]->GetPositionCoordinate()->SetValue(1.5 * pad, h3 - pad - i * std::lround(1.25 * hfs));
    double axes_w = (kAxesViewport[2] - kAxesViewport[0]) * (sz[0] > 0 ? sz[0] : v->opts.width);
    v->status->GetPositionCoordinate()->SetValue(axes_w + pad, pad);
    cn_viewer_keys_layout(v, fs, pad);
    v->status_cols = std::max(8, static_cast<int>((w3 - axes_w - 2 * pad) / (0.6 * (fs - 2))));
}

void cn_viewer_scene_resize_image(cn_viewer *v, int w, int h)
{
    v->rgba.assign(static_cast<size_t>(w) * static_cast<size_t>(h), 0xff000000u);
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
    bool one = v->gamma == 1.0;
    if (one != v->gamma_one_block && v->plane3d && v->plane2d) {
        set_plane_shader(v, v->plane3d, one);
        set_plane_shader(v, v->plane2d, one);
        v->gamma_one_block = one;
    }
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
    if (!v->nerve_lbl->GetVisibility()) /* coming back: its numbers are not held back */
        v->nerve_slot.t_shown_ns = v->frame_t_ns;
    v->nerve_lbl->SetVisibility(ov->nerve_label_on);
    if (ov->nerve_label_on) {
        cn_viewer_set_text(v, v->nerve_lbl, &v->nerve_slot, ov->nerve_label);
        v->nerve_anchor->SetValue(ov->nerve_label_mm.x, ov->nerve_label_mm.y, -0.1);
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
                const cn_rgb c = cn_viewer_ov_color(static_cast<cn_ov_kind>(it.kind));
                const uint8_t rgb[3] = {c.r, c.g, c.b};
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
    cn_viewer_scene_place_needle(v, g.needle_to_ref, g.needle_visible);
    v->caption3d->SetInput(g.reference_used ? "3-D (Reference)" : "3-D (Tracker)");
}

void cn_viewer_scene_camera2d(cn_viewer *v)
{
    double w_mm = v->img_w * v->spacing[0], h_mm = v->img_h * v->spacing[1];
    int *sz = v->ren2d->GetSize();
    double vw = sz[0] > 0 ? sz[0] : 0.5 * v->opts.width, vh = sz[1] > 0 ? sz[1] : v->opts.height;
    int m[4] = {v->margin_px[0], v->margin_px[1], v->margin_px[2], v->margin_px[3]};
    double inner_w = std::max(16.0, vw - m[0] - m[1]), inner_h = std::max(16.0, vh - m[2] - m[3]);
    /* pixels per mm so the image fills the inner rectangle, centred in it */
    double s = std::min(inner_w / w_mm, inner_h / h_mm);
    /* an alarm of several lines takes the room above the image that it has; only
     * when that is not enough does the image make room (and move) */
    if (v->alarm_px > m[3] + 0.5 * (inner_h - h_mm * s)) {
        m[3] = v->alarm_px;
        inner_h = std::max(16.0, vh - m[2] - m[3]);
        s = std::min(inner_w / w_mm, inner_h / h_mm);
    }
    /* image mm by core's one rule: the image spans [0, w sx] x [0, h sy] */
    double cx = v->img_w * 0.5 * v->spacing[0], cy = v->img_h * 0.5 * v->spacing[1];
    /* the camera looks along +z with view-up -y: screen right = +x, screen up = -y */
    double fx = cx - 0.5 * (m[0] - m[1]) / s, fy = cy + 0.5 * (m[2] - m[3]) / s;
    vtkCamera *cam = v->ren2d->GetActiveCamera();
    cam->SetFocalPoint(fx, fy, 0.0);
    cam->SetPosition(fx, fy, -1000.0);
    cam->SetViewUp(0.0, -1.0, 0.0); // image y points down the screen
    cam->SetParallelScale(0.5 * vh / s);
    cam->SetClippingRange(900.0, 1100.0);

    /* Scale labels outside the image: depth right of its right edge, lateral under
     * its bottom edge (image mm from the left), beside the long ticks. */
    double x_edge = v->img_w * v->spacing[0], depth = v->img_h * v->spacing[1];
    double gap = 4.0 / s;
    double step = cn_viewer_depth_step_mm(depth);
    for (int i = 0; i < CN_VIEWER_DEPTH_LABELS; i++) {
        double depth_mm = step * (i + 1);
        vtkTextActor *l = v->depth_lbl[i];
        bool on = depth_mm < depth - 0.02 * step;
        l->SetVisibility(on);
        if (!on)
            continue;
        char txt[16];
        snprintf(txt, sizeof txt, "%.0f", depth_mm);
        l->SetInput(txt); /* vtkTextActor ignores an unchanged string */
        l->GetPositionCoordinate()->SetValue(x_edge + gap, depth_mm, -0.1);
    }
    double x0 = -0.5 * v->spacing[0], lstep = cn_viewer_lateral_step_mm(x_edge - x0);
    for (int i = 0; i < CN_VIEWER_LAT_LABELS; i++) {
        double lat_mm = lstep * (i + 1);
        vtkTextActor *l = v->lat_lbl[i];
        bool on = lat_mm < x_edge - 0.02 * lstep;
        l->SetVisibility(on);
        if (!on)
            continue;
        char txt[16];
        snprintf(txt, sizeof txt, "%.0f", lat_mm);
        l->SetInput(txt);
        l->GetPositionCoordinate()->SetValue(lat_mm, depth + gap, -0.1);
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
