/*
 * viewer.h - the VTK scene behind a C API.
 *
 * One window, two views: on the left the 3-D scene (the ultrasound image as a
 * textured plane placed by ImageToReference, the cryoprobe as a needle model at
 * its tracked pose, the nerve outline, ice rim and predicted isotherms when the
 * frame carries them), on the right the 2-D in-plane view of the same image with
 * the same overlays; a text overlay shows frame rate, latency, phase and timers.
 * The ultrasound plane's display mapping is a GLSL fragment replacement loaded
 * from shaders/. The same scene renders to a window or offscreen to PNG.
 * VTK lives only in viewer.cxx; this header is plain C.
 */
#ifndef CN_VIEWER_H
#define CN_VIEWER_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int width, height;        /* window size in pixels (default 1280 x 640) */
    bool offscreen;           /* render without showing a window (needs an X display all the same) */
    const char *shader_dir;   /* folder with us_plane.frag; NULL = built-in default location */
    const char *title;
    double brightness, contrast; /* display mapping of the ultrasound plane (0, 1 default) */
    cn_log *log;
    /* Added by the viewer module (zero = default): */
    double gamma;             /* display gamma of the plane (0 = 1.0) */
    bool show_truth;          /* draw the simulator ground truth (f->truth) dashed */
    double needle_active_mm;  /* freezing segment length at the tip (0 = 20 mm) */
    double needle_diameter_mm;/* cryoprobe diameter (0 = 1.5 mm, 17G class) */
    bool hide_analysis;       /* start without the analysis overlays (key o toggles) */
} cn_viewer_opts;

/* The default options (1280 x 640, on screen, brightness 0, contrast 1, gamma 1). */
void cn_viewer_opts_default(cn_viewer_opts *o);

typedef struct cn_viewer cn_viewer;

/* Opens the window (or offscreen render window). Returns NULL with a message in
 * err when no X display can be opened or OpenGL is unusable, or when the shader
 * file is missing, unreadable or does not compile. o may be NULL (defaults);
 * zero fields take their defaults (a contrast of 0 means 1). A viewer is used
 * from the thread that created it (VTK/GLX contexts are per thread). */
cn_viewer *cn_viewer_new(const cn_viewer_opts *o, char *err, size_t err_len);
void cn_viewer_free(cn_viewer *v);

typedef struct {
    double fps;
    double latency_ms_p50, latency_ms_p99;
    uint64_t skipped;
    const char *source;       /* "sim", "usb", ... */
    const char *status_line;  /* free text (scenario, proctor notes), may be NULL */
    const char *alarm_line;   /* active alarms, shown large and red over the in-plane
                               * view; NULL or "" when none */
    bool standin;             /* the frame stands in for one not yet shown (a dark frame
                               * while a replay catches up): its missing poses are not
                               * reported ("no tracking") */
    bool no_image_yet;        /* the stand-in is no source's picture (a live source that
                               * has sent nothing yet): the HUD gives it no size or depth */
    bool spacing_assumed;     /* the source states no pixel size (a replayed file
                               * without ImageToProbe or ElementSpacing): the HUD says
                               * the mm/px is assumed instead of giving a depth */
    bool offline;             /* frames are read as fast as they are analysed (replay
                               * --speed 0, run --fast): the HUD gives no frame rate and no
                               * latency, which mean nothing then (review 43b F7) */
} cn_viewer_hud;

/* Updates the scene from the frame (image, poses, analysis) and renders once.
 * The frame is only read during the call. */
int cn_viewer_show(cn_viewer *v, const cn_frame *f, const cn_viewer_hud *hud);
/* Writes the last rendered image to a PNG file. */
int cn_viewer_snapshot(cn_viewer *v, const char *png_path, char *err, size_t err_len);
/* Handles pending window events without blocking. Returns false once the user
 * closed the window (or pressed q / Escape). */
bool cn_viewer_poll(cn_viewer *v);

/* ---- additions (tests, benchmarks, key handling) ---- */

/* Changes the display mapping of the ultrasound plane: out = clamp((in - 0.5) *
 * contrast + 0.5 + brightness) ^ (1 / gamma). Takes effect at the next render.
 * CN_EINVAL for non-finite values, contrast outside (0, 20], gamma outside (0, 10]. */
int cn_viewer_set_display(cn_viewer *v, double brightness, double contrast, double gamma);
/* The oldest key pressed in the window that the viewer does not handle itself
 * (its own: q Escape r b B c C g G 0 t o, and h or ? for the list of keys), or 0 when none; call after
 * cn_viewer_poll. The app maps them to procedure controls. Printable keys come
 * as their character, the arrow keys as CN_KEY_LEFT / CN_KEY_RIGHT. */
#define CN_KEY_LEFT 0x100
#define CN_KEY_RIGHT 0x101
int cn_viewer_next_key(cn_viewer *v);
/* The app's keys for the list that h (or ?) shows over the in-plane view under the
 * viewer's own: one key per line, e.g. "f         freeze start / stop\n". NULL or
 * "" leaves the viewer's keys alone; printable ASCII and newlines are kept, the
 * rest dropped, and at most CN_VIEWER_KEY_HELP_MAX bytes. */
#define CN_VIEWER_KEY_HELP_MAX 2048
int cn_viewer_set_key_help(cn_viewer *v, const char *text);
/* Whether the list of keys is shown (h toggles it). */
bool cn_viewer_key_help_shown(const cn_viewer *v);
/* The oldest left click on the image in the in-plane view, in image mm (the
 * operator marking the target); false when none. Call after cn_viewer_poll. */
bool cn_viewer_next_click(cn_viewer *v, cn_pt2 *mm);
/* Copies the last rendered window (both views and the HUD) as packed RGB, top row
 * first; *rgb is malloc'ed (caller frees). */
int cn_viewer_grab_rgb(cn_viewer *v, uint8_t **rgb, int *w, int *h);
/* Where a point in image millimetres of the last shown frame appears in the window
 * (pixels, x right, y down from the top-left corner); view 0 = 3-D, 1 = 2-D.
 * CN_ENOENT before the first frame. */
int cn_viewer_image_mm_to_window(cn_viewer *v, int view, double x_mm, double y_mm, double *wx,
                                 double *wy);
/* Time the last cn_viewer_show spent (scene update + render), in ms. */
double cn_viewer_last_render_ms(const cn_viewer *v);
/* The X window id of an on-screen viewer (for xwd and tests), 0 when offscreen. */
unsigned long cn_viewer_x_window(cn_viewer *v);

/* Fills f (already sized by cn_frame_set_size) with a synthetic scene for tests,
 * demos and `cryonav bench viewer`: speckle, a bright horizontal band (rows
 * 0.22h .. 0.22h + h/40), a dark disc (centre 0.62w, 0.6h, radius 0.09h),
 * spacing 0.08 mm, tracked poses (ImageToProbe, ProbeToTracker,
 * ReferenceToTracker, CryoprobeToTracker with the needle in the image plane) and
 * analysis results (needle, nerve, ice rim, 0/-20/-40 C isotherms, freeze phase)
 * plus matching ground truth. t_s animates the needle and the ice. */
int cn_viewer_demo_frame(cn_frame *f, uint64_t seed, double t_s);

#ifdef __cplusplus
}
#endif
#endif /* CN_VIEWER_H */
