/*
 * viewer_vtk.h - the VTK side of the viewer: the cn_viewer struct and the scene
 * helpers shared by viewer.cxx (life cycle, show, snapshot, events) and
 * viewer_scene.cxx (building actors, overlays, cameras). C++ only, private.
 *
 * The idea: one render window with four renderers. Layer 0: a background renderer
 * that clears the whole window once, the 3-D view (left) and the 2-D in-plane view
 * (right), which do not clear; the 3-D overlays write the nearest depth so the
 * nerve outline, ice rim and isotherms drawn on the image plane are never hidden in
 * it. Layer 1: a small axes marker whose camera follows the 3-D camera's
 * orientation.
 */
#ifndef CN_VIEWER_VTK_H
#define CN_VIEWER_VTK_H

#include "viewer_priv.h"

#include <vtkActor.h>
#include <vtkAxesActor.h>
#include <vtkCallbackCommand.h>
#include <vtkCoordinate.h>
#include <vtkImageData.h>
#include <vtkPlaneSource.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyData.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkTextActor.h>
#include <vtkTexture.h>
#include <vtkTextureObject.h>

#include <string>
#include <vector>

#define CN_VIEWER_DEPTH_LABELS 16
#define CN_VIEWER_LAT_LABELS 16

template <class T> using vsp = vtkSmartPointer<T>;

struct cn_present; // viewer_present.cxx: our own presentation of an on-screen window

struct cn_viewer {
    cn_viewer_opts opts;
    cn_log *log = nullptr;
    void *x_display = nullptr;   // our X connection, lent to VTK
    std::string shader_text;     // contents of us_plane.frag
    std::string shader_path;
    double brightness = 0.0, contrast = 1.0, gamma = 1.0;
    bool gamma_one_block = true; // the planes' shader variant (CN_GAMMA_IS_ONE defined)
    bool show_truth = false;
    bool hide_analysis = false; /* 'o' toggles: look at the raw image under the lines */
    bool show_keys = false;     /* 'h' or '?' toggles the list of keys (viewer_input.cxx) */
    std::string app_keys;       /* the app's lines of that list (cn_viewer_set_key_help) */
    int keys_cols = 0;          /* its longest line, characters (the font is sized to fit) */
    int keys_font_px = 0, keys_pad = 0; /* the last layout's, to size a new list again */
    int keys[16] = {};          /* keys for the app (cn_viewer_next_key), oldest first */
    int n_keys = 0;
    cn_pt2 clicks[8] = {};      /* clicks on the image, image mm (cn_viewer_next_click) */
    int n_clicks = 0;

    // state
    bool closed = false;         // window closed, q / Escape
    bool gl_failed = false;      // VTK could not create a GL context
    bool shader_bound = false;   // the plane's shader program compiled and was used
    bool have_frame = false;     // a showable frame was shown (geometry below is valid)
    bool framed = false;         // 3-D camera framed for the current tracking mode
    bool last_tracked = false, last_ref = false;
    int img_w = 0, img_h = 0;
    double spacing[2] = {1.0, 1.0};
    cn_viewer_geom geom{};
    double last_render_ms = 0.0;
    cn_viewer_overlay *ov = nullptr; // large: heap

    // VTK objects
    vsp<vtkRenderWindow> win;
    vsp<vtkRenderWindowInteractor> iren;
    vsp<vtkRenderer> ren_bg, ren3d, ren2d, ren_axes;
    /* The image both planes show: one GL texture of our own, filled once per frame
     * (viewer_plane.cxx); rgba is its staging copy, img_w x img_h. */
    vsp<vtkTexture> tex;
    vsp<vtkTextureObject> tex_obj;
    std::vector<uint32_t> rgba;
    int tex_w = 0, tex_h = 0; /* the size tex_obj holds (0: none yet) */
    vsp<vtkPlaneSource> plane;
    vsp<vtkActor> plane3d, plane2d;
    vsp<vtkActor> needle_shaft, needle_active;
    /* the two solids of the probe model [shaft, active][winding reversed], and
     * whether the mappers hold the reversed ones (a mirrored pose: viewer_needle.cxx) */
    vsp<vtkPolyData> needle_pd[2][2];
    bool needle_mirrored = false;
    vsp<vtkPolyData> ov_main, ov_truth;
    vsp<vtkActor> ov_main3d, ov_main2d, ov_truth3d, ov_truth2d;
    vsp<vtkAxesActor> axes;
    /* One actor per HUD line: a line is rasterised again only when it changed. */
    vsp<vtkTextActor> hud[CN_VIEWER_HUD_LINES];
    vsp<vtkTextActor> status, caption3d, caption2d, no_image;
    vsp<vtkTextActor> alarm; /* active alarms: red, large, top band of the in-plane view */
    vsp<vtkTextActor> legend[3];
    vsp<vtkTextActor> depth_lbl[CN_VIEWER_DEPTH_LABELS]; // mm marks right of the image
    vsp<vtkTextActor> lat_lbl[CN_VIEWER_LAT_LABELS];     // mm marks under the image
    vsp<vtkTextActor> nerve_lbl; // the nerve's confidence beside its outline (2-D view)
    vsp<vtkTextActor> keys_panel; // the list of keys over the in-plane view (h)
    vsp<vtkCoordinate> nerve_anchor; // where nerve_lbl sits (world, image mm): see viewer_scene.cxx
    /* issue 16: numbers in text change at most 4 times a second (cn_viewer_text_update),
     * and at most one such text is laid out again per frame. A text held back is
     * kept in its slot and shown at the latest when the picture goes still (no new
     * frame for that long: a paused replay) or a snapshot is taken, so a still
     * picture never shows another frame's numbers. */
    struct text_slot {
        int64_t t_shown_ns = 0;  // frame time its text last changed
        bool held = false;       // `pending` is newer than what is shown
        std::string pending;
    };
    text_slot hud_slot[CN_VIEWER_HUD_LINES], status_slot, nerve_slot;
    int64_t frame_t_ns = 0;      // the shown frame's acquisition time
    int64_t show_mono_ns = 0;    // when the last frame was shown (monotonic clock)
    bool numbers_budget = false;
    int font_px = 0;          // text size for the current window height
    int hud_font_px = 0;      // the HUD's: CN_VIEWER_HUD_COLS fit the 3-D view's width
    int status_cols = 0;      // characters in a status line across the 3-D view
    int margin_px[4] = {};    // 2-D view bands kept free of the image: left, right, bottom, top
    int alarm_px = 0;         // the alarm's band (cn_viewer_scene_set_alarm); 0: no alarm
    vsp<vtkCallbackCommand> cb_exit, cb_key, cb_shader, cb_win_exit, cb_click, cb_present;
    cn_present *present = nullptr; // on screen: the picture goes to X by XShmPutImage
};

/* viewer_present.cxx: after the first render of an on-screen window, stops VTK
 * at its display framebuffer (no blit, no swap) and presents every render itself;
 * false (nothing changed) when the window's visual is not 8-bit-per-channel
 * TrueColor. */
bool cn_viewer_present_init(cn_viewer *v);
void cn_viewer_present_free(cn_viewer *v);

/* viewer.cxx: sets the text of a (HUD, status, label) actor by cn_viewer_text_update
 * at v->frame_t_ns, or keeps it in its slot for later. */
void cn_viewer_set_text(cn_viewer *v, vtkTextActor *a, cn_viewer::text_slot *slot, const char *text);

/* viewer_input.cxx: the list of keys (h): its actor, made hidden; its size and place
 * for the window (called by cn_viewer_scene_layout_text). */
void cn_viewer_keys_build(cn_viewer *v);
void cn_viewer_keys_layout(cn_viewer *v, int font_px, int pad);

/* viewer_scene.cxx */
void cn_viewer_scene_build(cn_viewer *v);
/* (Re)sizes the texture image and the plane to w x h pixels. */
void cn_viewer_scene_resize_image(cn_viewer *v, int w, int h);

/* viewer_plane.cxx: the mapper of an image plane, drawn without blending and,
 * unless depth_test, without the depth test (identical pixels, less work). */
vsp<vtkPolyDataMapper> cn_viewer_plane_mapper_new(bool depth_test);
/* After the GL context exists: v->tex draws from v->tex_obj, filled with v->rgba;
 * false when GL gave no texture. */
bool cn_viewer_plane_texture_init(cn_viewer *v);
/* Hands an img_w x img_h grey image to the planes' texture (one upload for both). */
void cn_viewer_plane_texture_set(cn_viewer *v, const uint8_t *grey);
/* Sets the shader uniforms from v->brightness / contrast / gamma. */
void cn_viewer_scene_apply_display(cn_viewer *v);
/* Turns v->ov into the overlay poly data of both views. */
void cn_viewer_scene_update_overlays(cn_viewer *v);
/* Places the plane, overlays and needle in 3-D from v->geom. */
void cn_viewer_scene_apply_geom(cn_viewer *v);
/* Cameras: the 2-D view fills its viewport with the image; the 3-D view is
 * framed on the plane (and needle tip) when asked or when the plane left it. */
/* ------------------------------------------------------------ probe model (viewer_needle.cxx) */
/* Builds the cryoprobe model (hidden) into ren3d. */
void cn_viewer_scene_build_needle(cn_viewer *v);
/* Moves it by NeedleToReference (a mirrored pose still shows its outside). */
void cn_viewer_scene_place_needle(cn_viewer *v, const cn_mat4 &needle_to_ref, bool visible);

void cn_viewer_scene_camera2d(cn_viewer *v);
void cn_viewer_scene_camera3d(cn_viewer *v, bool force);
void cn_viewer_scene_sync_axes(cn_viewer *v);
/* Legend and font sizes follow the window size. */
void cn_viewer_scene_layout_text(cn_viewer *v);
/* viewer_scene.cxx: the alarm line, sized or wrapped to fit the in-plane view. */
void cn_viewer_scene_set_alarm(cn_viewer *v, const char *text);

/* ------------------------------------------------------------ input (viewer_input.cxx) */
/* Observers the interactor and window call (client data: the viewer). */
void cn_viewer_on_exit(vtkObject *caller, unsigned long event, void *client, void *data);
void cn_viewer_on_win_exit(vtkObject *caller, unsigned long event, void *client, void *data);
void cn_viewer_on_key(vtkObject *caller, unsigned long event, void *client, void *data);
void cn_viewer_on_click(vtkObject *caller, unsigned long event, void *client, void *data);
/* Brightness, contrast and gamma within their ranges. */
bool cn_viewer_display_ok(double brightness, double contrast, double gamma);

#endif /* CN_VIEWER_VTK_H */
