/*
 * viewer.cxx - the C API of the viewer (viewer.h): life cycle, show, snapshot,
 * events.
 *
 * The idea: the caller's loop owns time. cn_viewer_show updates the scene from
 * one frame and renders once; cn_viewer_poll drains pending X events without
 * blocking (the interactor's Start() loop is never entered), so the navigator's
 * main thread can alternate "newest frame -> show -> poll" at the frame rate.
 * Everything that can fail outside our control (no X display, no GL context,
 * a shader that does not compile) is checked in cn_viewer_new and reported as a
 * message instead of the abort() VTK would otherwise do.
 */
#include "viewer_vtk.h"

#include <vtkCamera.h>
#include <vtkFreeTypeTools.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkPNGWriter.h>
#include <vtkShader.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowToImageFilter.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>


namespace {

/* VTK 9.1 dereferences a null program when a shader replacement does not
 * compile, so the block is first compiled on its own, inside the same names
 * VTK's polydata fragment shader offers at that point. */
bool shader_block_compiles(cn_viewer *v, std::string &log)
{
    std::string block = v->shader_text;
    for (size_t p; (p = block.find("gl_FragData[0]")) != std::string::npos;)
        block.replace(p, 14, "fragOutput0"); // VTK does the same rename
    std::string src = "#version 150\n"
                      "uniform float cn_brightness;\nuniform float cn_contrast;\n"
                      "uniform float cn_gamma;\nuniform sampler2D actortexture;\n"
                      "in vec2 tcoordVCVSOutput;\nout vec4 fragOutput0;\n"
                      "void main()\n{\n"
                      "  fragOutput0 = texture(actortexture, tcoordVCVSOutput);\n" +
                      block + "\n}\n";
    v->win->MakeCurrent();
    vsp<vtkShader> sh = vsp<vtkShader>::New();
    sh->SetType(vtkShader::Fragment);
    sh->SetSource(src);
    bool ok = sh->Compile();
    if (!ok)
        log = sh->GetError();
    sh->Cleanup();
    return ok;
}

vsp<vtkCallbackCommand> callback(void (*fn)(vtkObject *, unsigned long, void *, void *),
                                 cn_viewer *v)
{
    vsp<vtkCallbackCommand> cb = vsp<vtkCallbackCommand>::New();
    cb->SetCallback(fn);
    cb->SetClientData(v);
    return cb;
}

void fill_err(char *err, size_t len, const char *fmt, const char *a)
    __attribute__((format(printf, 3, 0)));
void fill_err(char *err, size_t len, const char *fmt, const char *a)
{
    if (err && len) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(err, len, fmt, a);
#pragma GCC diagnostic pop
    }
}

/* issue 16: the first frame used to pay for everything that happens once: VTK
 * builds the GL program of each kind of actor and llvmpipe compiles (with LLVM) a
 * rasteriser for every new combination of state (the textured planes with and
 * without depth test, lines, points, the lit probe model, text): ~19 ms of the
 * render thread and 48-97 ms of wall time instead of ~5 and ~12-15 in `cryonav
 * run` (docs/benchmarks.md), and a later first (the first isotherm when a freeze
 * starts) did the same in the middle of a procedure. So before the viewer is
 * handed out it draws one synthetic frame that carries every kind of overlay and
 * text, into its own framebuffer only (nothing is presented to the window), then
 * returns to the state of a viewer that has shown nothing ("no image"). */
void warm_up(cn_viewer *v)
{
    const int w = 640, h = 480;
    cn_frame_pool *pool = cn_frame_pool_new(1, w, h);
    cn_frame *f = pool ? cn_frame_pool_acquire(pool) : nullptr;
    if (f && cn_frame_set_size(f, w, h) == CN_OK && cn_viewer_demo_frame(f, 1, 2.0) == CN_OK) {
        cn_present *keep = v->present;
        bool truth = v->show_truth, hide = v->hide_analysis;
        v->present = nullptr; /* not presented: the window never shows this frame */
        bool vtk_swaps = !v->opts.offscreen && !keep; /* an unusual visual: VTK presents */
        if (vtk_swaps)
            v->win->SwapBuffersOff();
        v->show_truth = true; /* every overlay kind, the dashed truth too */
        v->hide_analysis = false;
        cn_viewer_hud hud;
        memset(&hud, 0, sizeof hud);
        hud.fps = 30.0;
        hud.latency_ms_p50 = 12.3;
        hud.latency_ms_p99 = 45.6;
        /* every printable character in the HUD's, the status line's and the alarm's
         * font, so FreeType has their glyphs before the first real line */
        char ascii[96];
        for (int c = 32; c < 127; c++)
            ascii[c - 32] = static_cast<char>(c);
        ascii[95] = 0;
        hud.status_line = ascii;
        /* the HUD shows 32 characters of a source name; a long alarm is drawn
         * smaller (cn_viewer_scene_set_alarm), a short one at its own size */
        const char *alarms[3] = {ascii, "ALARM: ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 -.:()|", ""};
        for (int k = 0; k < 3; k++) {
            hud.source = ascii + 32 * k;
            hud.alarm_line = alarms[k];
            cn_viewer_show(v, f, &hud);
        }
        /* llvmpipe rasterises lazily: without a wait, this frame's rasterising
         * would land in the first real frame (on screen nothing reads it back) */
        vtkOpenGLRenderWindow *glw = vtkOpenGLRenderWindow::SafeDownCast(v->win);
        if (glw)
            glw->WaitForCompletion();
        v->present = keep;
        if (vtk_swaps)
            v->win->SwapBuffersOn();
        v->show_truth = truth;
        v->hide_analysis = hide;
    }
    if (f)
        cn_frame_unref(f);
    if (pool)
        cn_frame_pool_free(pool);
    /* back to a viewer that has shown nothing */
    for (vtkActor *a : {v->plane3d.Get(), v->plane2d.Get(), v->needle_shaft.Get(),
                        v->needle_active.Get(), v->ov_main3d.Get(), v->ov_main2d.Get(),
                        v->ov_truth3d.Get(), v->ov_truth2d.Get()})
        a->VisibilityOff();
    for (auto &l : v->depth_lbl)
        l->VisibilityOff();
    for (auto &l : v->lat_lbl)
        l->VisibilityOff();
    for (auto &l : v->legend)
        l->VisibilityOff();
    v->nerve_lbl->VisibilityOff();
    v->nerve_lbl->SetInput("");
    for (auto &l : v->hud)
        l->SetInput("");
    v->status->SetInput("");
    cn_viewer_scene_set_alarm(v, "");
    v->no_image->VisibilityOn();
    v->have_frame = false;
    v->framed = false;
    v->last_tracked = v->last_ref = false;
    v->geom = cn_viewer_geom{};
    v->spacing[0] = v->spacing[1] = 1.0;
    v->frame_t_ns = 0;
    for (auto &sl : v->hud_slot)
        sl = cn_viewer::text_slot{};
    v->status_slot = v->nerve_slot = cn_viewer::text_slot{};
    v->last_render_ms = 0.0;
}

} // namespace

extern "C" void cn_viewer_opts_default(cn_viewer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->width = 1280;
    o->height = 640;
    o->contrast = 1.0;
    o->gamma = 1.0;
    o->title = "CryoNav";
    o->needle_active_mm = 20.0;
    o->needle_diameter_mm = 1.5;
}

extern "C" cn_viewer *cn_viewer_new(const cn_viewer_opts *o, char *err, size_t err_len)
{
    cn_viewer_opts opts;
    cn_viewer_opts_default(&opts);
    if (o) {
        opts = *o;
        /* Zero means "default" for every numeric field but brightness. */
        if (opts.width == 0) opts.width = 1280;
        if (opts.height == 0) opts.height = 640;
        if (opts.contrast == 0.0) opts.contrast = 1.0;
        if (opts.gamma == 0.0) opts.gamma = 1.0;
        if (opts.needle_active_mm == 0.0) opts.needle_active_mm = 20.0;
        if (opts.needle_diameter_mm == 0.0) opts.needle_diameter_mm = 1.5;
        if (!opts.title) opts.title = "CryoNav";
    }
    if (opts.width < 64 || opts.width > 8192 || opts.height < 64 || opts.height > 8192) {
        if (err && err_len)
            snprintf(err, err_len, "viewer: window size %d x %d out of range (64..8192)",
                     opts.width, opts.height);
        return nullptr;
    }
    if (!cn_viewer_display_ok(opts.brightness, opts.contrast, opts.gamma)) {
        fill_err(err, err_len, "viewer: %s",
                 "brightness must be in [-1, 1], contrast in (0, 20], gamma in (0, 10]");
        return nullptr;
    }
    if (!(opts.needle_active_mm > 0.0 && opts.needle_active_mm < 200.0 &&
          opts.needle_diameter_mm > 0.0 && opts.needle_diameter_mm < 20.0)) {
        fill_err(err, err_len, "viewer: %s",
                 "needle_active_mm must be in (0, 200), needle_diameter_mm in (0, 20)");
        return nullptr;
    }
    char local_err[512];
    if (!err || !err_len) {
        err = local_err;
        err_len = sizeof local_err;
    }
    char *shader = nullptr;
    char shader_path[1024];
    if (cn_viewer_load_shader(opts.shader_dir, &shader, shader_path, sizeof shader_path, err,
                              err_len) != CN_OK)
        return nullptr;
    void *dpy = cn_viewer_display_open(err, err_len);
    if (!dpy) {
        free(shader);
        return nullptr;
    }

    cn_viewer *v = new (std::nothrow) cn_viewer;
    if (!v) {
        free(shader);
        cn_viewer_display_close(dpy);
        fill_err(err, err_len, "viewer: %s", "out of memory");
        return nullptr;
    }
    v->opts = opts;
    v->opts.shader_dir = nullptr; // not kept: the caller's string may go away
    v->opts.title = nullptr;
    v->log = opts.log;
    v->x_display = dpy;
    v->shader_text = shader;
    v->shader_path = shader_path;
    free(shader);
    v->brightness = opts.brightness;
    v->contrast = opts.contrast;
    v->gamma = opts.gamma;
    v->show_truth = opts.show_truth;
    v->hide_analysis = opts.hide_analysis;
    v->ov = static_cast<cn_viewer_overlay *>(calloc(1, sizeof *v->ov));
    if (!v->ov) {
        cn_viewer_free(v); // closes the display connection too
        fill_err(err, err_len, "viewer: %s", "out of memory");
        return nullptr;
    }

    v->win = vsp<vtkRenderWindow>::New();
    v->cb_win_exit = callback(cn_viewer_on_win_exit, v);
    v->win->AddObserver(vtkCommand::ExitEvent, v->cb_win_exit);
    v->cb_exit = callback(cn_viewer_on_exit, v);
    v->win->AddObserver(vtkCommand::DeleteEvent, v->cb_exit);
    v->win->SetDisplayId(v->x_display);
    v->win->SetSize(opts.width, opts.height);
    v->win->SetWindowName(opts.title);
    v->win->SetOffScreenRendering(opts.offscreen ? 1 : 0);
    v->win->SetMultiSamples(0); // llvmpipe: MSAA costs more than it shows
    if (opts.offscreen) {
        /* Nobody looks at an offscreen window: render into VTK's framebuffer and stop
         * there. No blit to the window's buffer and no swap (with llvmpipe a swap is
         * a copy of the whole window to the X server). Snapshots read the frame
         * from VTK's framebuffer. */
        vtkOpenGLRenderWindow *glw = vtkOpenGLRenderWindow::SafeDownCast(v->win);
        if (glw)
            glw->SetFrameBlitModeToNoBlit();
        v->win->SwapBuffersOff();
    }
    /* Text images as large as the text, not padded to powers of two (a 1100-pixel
     * HUD line was cleared, filled and uploaded 2048 wide): the same pixels on
     * screen, ~0.3 M instructions less per 1280x800 frame (callgrind). VTK keeps
     * this in its FreeType singleton; every GL texture here may be of any size. */
    vtkFreeTypeTools::GetInstance()->ScaleToPowerTwoOff();
    cn_viewer_scene_build(v);

    if (!opts.offscreen) {
        v->iren = vsp<vtkRenderWindowInteractor>::New();
        v->iren->SetRenderWindow(v->win);
        vsp<vtkInteractorStyleTrackballCamera> style =
            vsp<vtkInteractorStyleTrackballCamera>::New();
        style->SetDefaultRenderer(v->ren3d);
        v->iren->SetInteractorStyle(style);
        v->iren->AddObserver(vtkCommand::ExitEvent, v->cb_exit);
        v->cb_key = callback(cn_viewer_on_key, v);
        v->iren->AddObserver(vtkCommand::CharEvent, v->cb_key, 1.0f);
        v->cb_click = callback(cn_viewer_on_click, v);
        v->iren->AddObserver(vtkCommand::LeftButtonPressEvent, v->cb_click, 1.0f);
        v->iren->Initialize();
    }

    /* First render: creates the GL context. Then the shader block is compiled
     * alone, then used for real with the 2 x 2 placeholder image, so failures
     * surface here and not in the middle of a procedure. */
    v->win->Render();
    vtkOpenGLRenderWindow *gl = vtkOpenGLRenderWindow::SafeDownCast(v->win);
    if (v->gl_failed || !gl || !gl->GetGenericContext()) {
        fill_err(err, err_len, "viewer: %s", "cannot create an OpenGL context on this display");
        cn_viewer_free(v);
        return nullptr;
    }
    cn_viewer_pin_gl_driver();
    if (!cn_viewer_plane_texture_init(v)) {
        fill_err(err, err_len, "viewer: %s", "cannot create the image texture on this display");
        cn_viewer_free(v);
        return nullptr;
    }
    std::string glsl_log;
    if (!shader_block_compiles(v, glsl_log)) {
        size_t nl = glsl_log.find('\n');
        if (nl != std::string::npos)
            glsl_log.resize(nl);
        if (err && err_len)
            snprintf(err, err_len, "viewer: shader %s does not compile: %s",
                     v->shader_path.c_str(), glsl_log.c_str());
        cn_viewer_free(v);
        return nullptr;
    }
    v->plane2d->VisibilityOn();
    v->win->Render();
    v->plane2d->VisibilityOff();
    if (!opts.offscreen && !cn_viewer_present_init(v))
        cn_log_info(v->log, "viewer", "window visual is not 8-bit TrueColor: VTK blits and swaps");
    if (!v->shader_bound) {
        fill_err(err, err_len,
                 "viewer: shader %s does not compile (VTK printed the GLSL error above)",
                 v->shader_path.c_str());
        cn_viewer_free(v);
        return nullptr;
    }
    warm_up(v);
    cn_log_info(v->log, "viewer", "%s %dx%d, shader %s", opts.offscreen ? "offscreen" : "window",
                opts.width, opts.height, v->shader_path.c_str());
    return v;
}

extern "C" void cn_viewer_free(cn_viewer *v)
{
    if (!v)
        return;
    if (v->iren) {
        v->iren->RemoveAllObservers();
        v->iren->SetRenderWindow(nullptr);
        v->iren = nullptr;
    }
    cn_viewer_present_free(v); /* before the window and its display connection go */
    if (v->win) {
        if (v->tex_obj) /* the planes' texture is ours: freed while its context lives */
            v->tex_obj->ReleaseGraphicsResources(v->win);
        v->win->RemoveAllObservers();
        v->win->Finalize();
    }
    free(v->ov);
    void *dpy = v->x_display;
    delete v; // releases the render window before its display connection goes
    cn_viewer_display_close(dpy);
}

void cn_viewer_set_text(cn_viewer *v, vtkTextActor *a, cn_viewer::text_slot *slot, const char *text)
{
    const char *shown = a->GetInput() ? a->GetInput() : "";
    switch (cn_viewer_text_update(shown, text, v->frame_t_ns, slot->t_shown_ns)) {
    case CN_TEXT_KEEP:
        slot->held = std::strcmp(shown, text) != 0; /* numbers only, not yet time */
        if (slot->held)
            slot->pending = text;
        return;
    case CN_TEXT_DUE:
        if (!v->numbers_budget) { /* another text took this frame's turn */
            slot->held = true;
            slot->pending = text;
            return;
        }
        v->numbers_budget = false;
        break;
    case CN_TEXT_NOW:
        break;
    }
    a->SetInput(text);
    slot->t_shown_ns = v->frame_t_ns;
    slot->held = false;
}

namespace {

/* Shows every text held back; true when one was. */
bool show_held_text(cn_viewer *v)
{
    bool any = false;
    auto flush = [&any, v](vtkTextActor *a, cn_viewer::text_slot &sl) {
        if (!sl.held)
            return;
        a->SetInput(sl.pending.c_str());
        sl.t_shown_ns = v->frame_t_ns;
        sl.held = false;
        any = true;
    };
    for (int i = 0; i < CN_VIEWER_HUD_LINES; i++)
        flush(v->hud[i], v->hud_slot[i]);
    flush(v->status, v->status_slot);
    flush(v->nerve_lbl, v->nerve_slot);
    return any;
}

} // namespace

extern "C" int cn_viewer_show(cn_viewer *v, const cn_frame *f, const cn_viewer_hud *hud)
{
    if (!v || !f)
        return CN_EINVAL;
    int64_t t0 = cn_clock_mono_ns();
    v->frame_t_ns = f->t_acq_ns;
    v->show_mono_ns = t0;
    v->numbers_budget = true;
    char why[64] = "";
    bool ok = cn_viewer_frame_showable(f, why, sizeof why);
    /* first: the 2-D camera keeps the image clear of its band */
    cn_viewer_scene_set_alarm(v, hud ? hud->alarm_line : NULL);
    char status[512];
    if (ok) {
        if (f->width != v->img_w || f->height != v->img_h) {
            cn_viewer_scene_resize_image(v, f->width, f->height);
            v->framed = false;
        }
        cn_viewer_plane_texture_set(v, f->pixels);
        if (f->spacing_mm[0] != v->spacing[0] || f->spacing_mm[1] != v->spacing[1])
            v->framed = false;
        v->spacing[0] = f->spacing_mm[0];
        v->spacing[1] = f->spacing_mm[1];
        cn_viewer_scene_layout_text(v); /* the 2-D camera keeps clear of the text bands */
        cn_viewer_geom_compute(f, &v->geom);
        cn_viewer_overlay_build(v->ov, f, v->show_truth, !v->hide_analysis);
        cn_viewer_scene_apply_geom(v);
        cn_viewer_scene_update_overlays(v);
        v->plane3d->VisibilityOn();
        v->plane2d->VisibilityOn();
        v->no_image->VisibilityOff();
        v->have_frame = true;
        cn_viewer_scene_camera2d(v);
        cn_viewer_scene_camera3d(v, false);
        cn_viewer_status_format(hud, f, hud && hud->standin ? "" : v->geom.note, status,
                                sizeof status);
    } else {
        /* Keep the last good image on screen? No: an image that is not the current
         * one must not look live. Hide it and say why. */
        for (vtkActor *a : {v->plane3d.Get(), v->plane2d.Get(), v->needle_shaft.Get(),
                            v->needle_active.Get(), v->ov_main3d.Get(), v->ov_main2d.Get(),
                            v->ov_truth3d.Get(), v->ov_truth2d.Get()})
            a->VisibilityOff();
        for (auto &l : v->depth_lbl)
            l->VisibilityOff();
        for (auto &l : v->lat_lbl)
            l->VisibilityOff();
        v->nerve_lbl->VisibilityOff();
        for (auto &l : v->legend)
            l->VisibilityOff();
        v->no_image->VisibilityOn();
        v->have_frame = false;
        cn_viewer_status_format(hud, f, "", status, sizeof status);
    }
    for (vtkActor *a : {v->ov_main3d.Get(), v->ov_main2d.Get(), v->ov_truth3d.Get(),
                        v->ov_truth2d.Get()})
        a->SetVisibility(ok);
    char text[768];
    cn_viewer_hud_format(hud, f, text, sizeof text);
    /* one actor per line: an unchanged line is not rasterised again */
    char *line = text;
    for (int i = 0; i < CN_VIEWER_HUD_LINES; i++) {
        char *nl = line ? strchr(line, '\n') : nullptr;
        if (nl)
            *nl = 0;
        cn_viewer_set_text(v, v->hud[i], &v->hud_slot[i], line ? line : "");
        line = nl ? nl + 1 : nullptr;
    }
    char wrapped[sizeof status + 64];
    cn_viewer_text_wrap(status, v->status_cols, CN_VIEWER_STATUS_LINES, false, wrapped, sizeof wrapped);
    cn_viewer_set_text(v, v->status, &v->status_slot, wrapped);
    cn_viewer_scene_layout_text(v);
    cn_viewer_scene_sync_axes(v);
    v->win->Render();
    /* Offscreen there is no swap to wait for: wait for the rasteriser (llvmpipe
     * renders lazily) so the frame is complete when show returns, as on screen. */
    if (v->opts.offscreen) {
        vtkOpenGLRenderWindow *glw = vtkOpenGLRenderWindow::SafeDownCast(v->win);
        if (glw)
            glw->WaitForCompletion();
    }
    v->last_render_ms = (cn_clock_mono_ns() - t0) / 1e6;
    if (!ok)
        cn_log_debug(v->log, "viewer", "frame %llu not shown: %s",
                     static_cast<unsigned long long>(f->seq), why);
    return ok ? CN_OK : CN_EINVAL;
}

/* Reads the window back (re-rendering the current scene into the back buffer),
 * with the current frame's own numbers (nothing held back). */
static vtkImageData *grab(cn_viewer *v, vsp<vtkWindowToImageFilter> &w2i)
{
    show_held_text(v);
    w2i = vsp<vtkWindowToImageFilter>::New();
    w2i->SetInput(v->win);
    w2i->SetInputBufferTypeToRGB();
    w2i->ReadFrontBufferOff();
    w2i->Update();
    return w2i->GetOutput();
}

extern "C" int cn_viewer_snapshot(cn_viewer *v, const char *png_path, char *err, size_t err_len)
{
    if (!v || !png_path || !png_path[0]) {
        fill_err(err, err_len, "viewer: %s", "snapshot: no file name");
        return CN_EINVAL;
    }
    vsp<vtkWindowToImageFilter> w2i;
    vtkImageData *im = grab(v, w2i);
    vsp<vtkPNGWriter> png = vsp<vtkPNGWriter>::New();
    png->SetInputData(im);
    png->WriteToMemoryOn();
    png->Write();
    vtkUnsignedCharArray *bytes = png->GetResult();
    if (!bytes || bytes->GetNumberOfValues() == 0) {
        fill_err(err, err_len, "viewer: snapshot %s: PNG encoding failed", png_path);
        return CN_EIO;
    }
    FILE *fp = fopen(png_path, "wb");
    if (!fp) {
        if (err && err_len)
            snprintf(err, err_len, "viewer: snapshot %s: %s", png_path, strerror(errno));
        return CN_EIO;
    }
    size_t n = static_cast<size_t>(bytes->GetNumberOfValues());
    bool ok = fwrite(bytes->GetPointer(0), 1, n, fp) == n;
    ok = (fclose(fp) == 0) && ok;
    if (!ok) {
        fill_err(err, err_len, "viewer: snapshot %s: write failed", png_path);
        return CN_EIO;
    }
    return CN_OK;
}

extern "C" bool cn_viewer_poll(cn_viewer *v)
{
    if (!v)
        return false;
    if (v->iren && !v->closed)
        v->iren->ProcessEvents();
    /* the picture went still (no new frame for a numbers period: a paused replay,
     * a stalled source): its held-back numbers catch up with its image */
    if (!v->closed && v->have_frame &&
        cn_clock_mono_ns() - v->show_mono_ns >= CN_VIEWER_NUMBERS_PERIOD_NS && show_held_text(v))
        v->win->Render();
    return !v->closed;
}

extern "C" int cn_viewer_grab_rgb(cn_viewer *v, uint8_t **rgb, int *w, int *h)
{
    if (!v || !rgb || !w || !h)
        return CN_EINVAL;
    vsp<vtkWindowToImageFilter> w2i;
    vtkImageData *im = grab(v, w2i);
    int dims[3];
    im->GetDimensions(dims);
    if (dims[0] <= 0 || dims[1] <= 0 || im->GetNumberOfScalarComponents() != 3)
        return CN_EIO;
    size_t row = static_cast<size_t>(dims[0]) * 3;
    uint8_t *out = static_cast<uint8_t *>(malloc(row * static_cast<size_t>(dims[1])));
    if (!out)
        return CN_ENOMEM;
    const uint8_t *src = static_cast<const uint8_t *>(im->GetScalarPointer());
    for (int y = 0; y < dims[1]; y++) // VTK's row 0 is the bottom of the window
        memcpy(out + row * static_cast<size_t>(y), src + row * static_cast<size_t>(dims[1] - 1 - y),
               row);
    *rgb = out;
    *w = dims[0];
    *h = dims[1];
    return CN_OK;
}
