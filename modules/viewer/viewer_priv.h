/*
 * viewer_priv.h - the viewer's plain-C helpers, private to modules/viewer.
 *
 * The idea: everything the viewer decides that is not drawing (where the image
 * and the needle sit in 3-D given whichever poses the frame carries, which
 * overlay lines to draw in image millimetres, what the HUD says, whether an X
 * display and the shader file are usable) is plain C here, so it is unit-tested
 * without VTK and viewer*.cxx only turns these answers into VTK objects.
 */
#ifndef CN_VIEWER_PRIV_H
#define CN_VIEWER_PRIV_H

#include "viewer/viewer.h"
#include "palette/palette.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ geometry (viewer_geom.c) */

/* Where things sit in the 3-D view (the Reference frame, or Tracker when there is
 * no reference). image_to_ref maps image pixels (x right, y down, z = 0) to mm. */
typedef struct {
    cn_mat4 image_to_ref;
    cn_mat4 image_mm_to_ref; /* overlays (image mm) -> 3-D: image_to_ref * ImageMmToImage,
                                core's one rule (pixel centres at (i + 0.5) spacing) */
    cn_mat4 image_to_2d;     /* the 2-D view's plane: ImageToImageMm (pixel -> image mm) */
    cn_mat4 needle_to_ref;   /* Cryoprobe frame (tip at origin, shaft along -Z) */
    bool image_tracked;      /* the probe pose placed the image (else spacing only) */
    bool needle_visible;     /* the cryoprobe pose is known relative to the image */
    bool reference_used;     /* a valid ReferenceToTracker was used */
    char note[96];           /* "" when all is tracked, else what is missing */
} cn_viewer_geom;

/* ImageToReference = inverse(ReferenceToTracker) * ProbeToTracker * ImageToProbe,
 * with fall-backs: no ImageToProbe -> scale by the pixel spacing; no reference ->
 * Tracker is the reference; no probe pose -> the image placed by its spacing
 * only and the needle hidden. Never fails for a frame with a valid spacing. */
void cn_viewer_geom_compute(const cn_frame *f, cn_viewer_geom *g);
/* True when the frame's size and spacing can be shown. */
bool cn_viewer_frame_showable(const cn_frame *f, char *why, size_t why_len);

/* ------------------------------------------------------------ overlays (viewer_overlay.c) */

/* Whether the needle of an analysis is drawn: found with a confidence at or above
 * CN_NEEDLE_SHOW_CONFIDENCE, or its tip hidden under ice (the last reliable one). */
bool cn_viewer_needle_shown(const cn_analysis *a);

typedef enum {
    CN_OV_NEEDLE = 0,  /* detected needle line and tip marker */
    CN_OV_NERVE,       /* nerve outline */
    CN_OV_NERVE_HELD,  /* nerve outline held from an earlier frame (not found in this one) */
    CN_OV_ICE,         /* visible ice rim points */
    CN_OV_ISO_0,       /* predicted isotherms */
    CN_OV_ISO_20,
    CN_OV_ISO_40,
    CN_OV_ISO_OTHER,
    CN_OV_TRUTH,       /* simulator ground truth, dashed */
    CN_OV_SCALE,       /* depth scale ticks */
    CN_OV_KIND_COUNT
} cn_ov_kind;

/* Display colour of each overlay kind: its role in modules/palette. */
cn_rgb cn_viewer_ov_color(cn_ov_kind kind);
/* Labelled step of the depth scale for an image depth_mm deep (10, 20, 50 ...
 * mm, at most 8 labels); ticks come at half that step. */
double cn_viewer_depth_step_mm(double depth_mm);
/* The same for the lateral scale along the bottom edge (image mm from the left). */
double cn_viewer_lateral_step_mm(double width_mm);
/* The overlay kind of an isotherm temperature (nearest of 0/-20/-40 within 5 C). */
cn_ov_kind cn_viewer_iso_kind(float temp_c);

#define CN_OV_PTS_MAX 8192
#define CN_OV_ITEMS_MAX 1024

typedef struct {
    uint8_t kind;      /* cn_ov_kind */
    bool points;       /* draw as separate points (ice rim) rather than a polyline */
    bool closed;       /* polyline joins its last point to its first */
    int first, n;      /* range in cn_viewer_overlay.pts */
} cn_ov_item;

/* Every overlay primitive of one frame, in image millimetres. Fixed capacity: a
 * frame with more points than fit is drawn partly, never overflows. */
typedef struct {
    int n_pts, n_items;
    cn_pt2 pts[CN_OV_PTS_MAX];
    cn_ov_item items[CN_OV_ITEMS_MAX];
    bool has_iso[3];   /* which of 0 / -20 / -40 C are present (for the legend) */
    /* the nerve's label beside its outline: confidence and state */
    bool nerve_label_on;
    cn_pt2 nerve_label_mm; /* the outline's top right corner */
    char nerve_label[40];  /* "nerve 93 %", "nerve 61 % (held)", "nerve (under ice)",
                            * "nerve not found here (u forgets)" (at the operator's point) */
} cn_viewer_overlay;

/* Builds the overlays of f (analysis when f->analysed and show_analysis, truth when
 * show_truth and f->truth.valid, a depth scale always). Points that are not finite
 * are dropped, counts are clamped to the array sizes. */
void cn_viewer_overlay_build(cn_viewer_overlay *ov, const cn_frame *f, bool show_truth,
                             bool show_analysis);

/* ------------------------------------------------------------ HUD text (viewer_hud.c) */

/* The head-up display, CN_VIEWER_HUD_LINES lines of at most CN_VIEWER_HUD_COLS
 * characters (the widest the format makes; the viewer sizes the font so they fit
 * the 3-D view): source + fps; latency + skipped; phase + cycle + timer / plan;
 * coverage and the -20 C band; the target's minimum and the needle's state; the
 * image. Never NULL pointers in the output. */
#define CN_VIEWER_HUD_LINES 6
#define CN_VIEWER_HUD_COLS 52
#define CN_VIEWER_STATUS_LINES 8 /* the status line wrapped: at most this many lines */
void cn_viewer_hud_format(const cn_viewer_hud *hud, const cn_frame *f, char *out, size_t len);
/* Lays text out in lines of at most cols characters for a text actor. The parts
 * between '|' separators each start a line of their own (the status: different
 * subjects), or with pack as many as fit share one, joined by " | " (the alarms).
 * A part longer than a line breaks at spaces (a word longer than a line is cut).
 * At most max_lines lines; text that does not fit ends the last one in "...".
 * Returns the number of lines (0 for empty text). */
int cn_viewer_text_wrap(const char *in, int cols, int max_lines, bool pack, char *out, size_t len);
/* The status line: the caller's status, the tracking note and frame problems. */
void cn_viewer_status_format(const cn_viewer_hud *hud, const cn_frame *f, const char *note,
                             char *out, size_t len);

/* How a text on screen takes a new value (issue 16). Numbers that change on every
 * frame (needle and nerve confidence, coverage, the phase timer) cannot be read at
 * 20-30 changes a second, and every change is a FreeType layout + rasterisation +
 * texture upload on the render thread. So a change of numbers only is shown at
 * most every CN_VIEWER_NUMBERS_PERIOD_NS of frame time; any other change (words:
 * a state, a phase, "held", "not found") shows at once. */
#define CN_VIEWER_NUMBERS_PERIOD_NS 250000000LL /* 4 per second, as the HUD statistics */
typedef enum {
    CN_TEXT_KEEP = 0, /* same text, or only numbers changed and it is not yet time */
    CN_TEXT_NOW,      /* words changed, or no usable clock: show it now */
    CN_TEXT_DUE       /* only numbers changed and the period has passed */
} cn_text_update;
/* shown: the text on screen, set at t_shown_ns; next: the new text at t_ns (the
 * frame's acquisition clock). t_ns <= t_shown_ns (no clock, a frame shown again, a
 * replay stepping back) never holds a change back. */
cn_text_update cn_viewer_text_update(const char *shown, const char *next, int64_t t_ns,
                                     int64_t t_shown_ns);

/* ------------------------------------------------------------ environment (viewer_env.c) */

/* Opens the X display named by $DISPLAY and checks it has GLX, so a missing
 * display is an error message rather than an abort inside VTK. The connection
 * (a Display *) is handed to VTK and closed after the render window is gone;
 * NULL with a message in err on failure. */
void *cn_viewer_display_open(char *err, size_t err_len);
void cn_viewer_display_close(void *dpy);
/* Keeps Mesa's DRI driver (e.g. swrast_dri.so) loaded once a GL context has
 * used it, instead of unloading it with the last context: a later viewer does
 * not reload it, and memory checkers can still name the driver for the few
 * blocks it never frees (else they show as "unknown module" and cannot be
 * suppressed, see tests/unit/viewer/lsan.supp). */
void cn_viewer_pin_gl_driver(void);
/* Finds and reads us_plane.frag: from dir when not NULL, else the source tree's
 * shaders/ then the installed share/cryonav/shaders. *text is malloc'ed. */
int cn_viewer_load_shader(const char *dir, char **text, char *path_used, size_t path_len,
                          char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* CN_VIEWER_PRIV_H */
