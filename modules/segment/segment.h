/*
 * segment.h - needle, nerve and ice-front detectors and trackers (the one public
 * header of modules/segment).
 *
 * Three detectors run on every analysed frame inside the real-time budget and
 * write into the frame's plain result structs (core.h: cn_needle_result,
 * cn_contour, cn_ice_front; image millimetres = pixel * spacing_mm, x right,
 * y down from the transducer face):
 *
 *  - needle: oriented ridge voting restricted to what the setup allows (entry
 *    side, angle range, optional tracked-pose prior), tip found where the shaft
 *    ends, smoothed by a constant-position Kalman filter; when ice hides the
 *    tip the last reliable tip is kept and flagged.
 *  - nerve: polar dynamic programming from a seed (operator point or the
 *    tracked previous outline), or automatic from the best candidate of a
 *    ring-contrast search.
 *  - ice front: during a freeze and the thaw after it, the bright band with a dark
 *    shadow behind it around the needle's active segment, accepted only when it
 *    fits an ice ball confocal with the active segment, was not there before the
 *    freeze (bone is) and does not shrink while the freeze runs.
 *
 * cn_segment bundles the three with their state and is also a pipeline stage.
 */
#ifndef CN_SEGMENT_H
#define CN_SEGMENT_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ nerve (low level) */

#define CN_SEGMENT_MIN_SIDE 16 /* the smallest frame side the detectors analyse (px) */
#define CN_NERVE_ANGLES 64 /* contour points produced by the polar DP */

typedef struct {
    double r0_px;        /* prior equivalent radius of the nerve, in input pixels */
    double aspect;       /* prior width / height of the nerve ellipse */
    double w_edge;       /* weight of the inside-bright/outside-dark step */
    double w_ridge;      /* weight of a bright rim on the border */
    double w_prior;      /* weight of the elliptical size prior */
    double w_step;       /* penalty per radius step between neighbouring angles */
    double w_region;     /* weight of (mean inside the border - mean just outside) */
    double seed_search;  /* the seed may move by up to this fraction of r0 (0: fixed) */
    double w_dist;       /* penalty on how far the seed moved, per (distance / r0)^2 */
    double r_min_frac, r_max_frac; /* search range as fractions of r0 */
    double min_confidence;         /* below this the nerve is "not found" */
} cn_nerve_params;

void cn_nerve_params_default(cn_nerve_params *p);
/* The DP's size prior (r0_px) for a w x h frame: radius_mm at the pixel spacing
 * when it is known, else CN_NERVE_R0_FRAC of the height (nerve-us and
 * nerve-femoral frame their nerves at ~0.10-0.12 of the height, whatever the
 * pixel count), clamped to [CN_NERVE_R0_MIN_PX, CN_NERVE_R0_MAX_FRAC x the smaller
 * side]: a fixed pixel prior (the default 52 px, or 3 mm at a coarse spacing)
 * overflows a small frame or shrinks below the DP's own smoothing. */
#define CN_NERVE_R0_FRAC 0.1
#define CN_NERVE_R0_MIN_PX 6.0
#define CN_NERVE_R0_MAX_FRAC 0.2
double cn_nerve_prior_radius_px(int w, int h, const double *spacing_mm, double radius_mm);

/* Workspace for images up to max_w x max_h (allocated once). */
typedef struct cn_nerve_seg cn_nerve_seg;
cn_nerve_seg *cn_nerve_seg_new(int max_w, int max_h);
void cn_nerve_seg_free(cn_nerve_seg *s);
/* Smooths (and for wide frames halves) the image once per frame. */
int cn_nerve_seg_prepare(cn_nerve_seg *s, const uint8_t *px, int w, int h);
/* Outline around the seed (input pixels) of the prepared image: CN_NERVE_ANGLES
 * points into pts_px, and a confidence in 0..1. CN_ERANGE when the seed lies
 * outside the image. */
int cn_nerve_seg_run(cn_nerve_seg *s, double seed_x, double seed_y, const cn_nerve_params *p,
                     cn_pt2 *pts_px, int *n, float *confidence);
/* Automatic mode: picks the seed itself (best ring-contrast candidate on a coarse
 * grid, away from the image borders and the near field) and runs the DP. The
 * chosen seed is returned in *seed_x, *seed_y (input pixels). */
int cn_nerve_seg_auto(cn_nerve_seg *s, const cn_nerve_params *p, cn_pt2 *pts_px, int *n,
                      float *confidence, double *seed_x, double *seed_y);

/* Seeded CNN mode (nerve_cnn.c): a square crop centred on the seed, its side a
 * fixed fraction of the image's smaller side (the images carry no pixel
 * spacing), is resampled to an n x n grid of grey levels and given, with a
 * Gaussian at the seed as a second channel, to a tiny U-Net (43k weights)
 * trained offline with PyTorch (tools/train/train_nerve_cnn.py). Its logits are
 * pasted back bilinearly; every connected part of the nerve in the crop is kept
 * (multi-part nerves are common), specks are dropped. Grid, crop fraction and
 * seed width travel with the weights (a "CNNERVE1" file, see nerve_cnn.c), so
 * the trainer and this code cannot disagree. Models: 0..4 were each trained on
 * the four other folds of nerve-us (fold = file index mod 5; used by `cryonav
 * eval nerve --kfold 5 --method cnn` so every image is scored by a model that
 * never saw it); CN_NERVE_CNN_LIVE was trained on all 204 images and is the one
 * used live. */
#define CN_NERVE_CNN_NMAX 128 /* largest crop grid a weights file may ask for */
#define CN_NERVE_CNN_NMODELS 6
#define CN_NERVE_CNN_LIVE 5
#define CN_NERVE_CNN_KFOLD 5

typedef struct cn_nerve_cnn cn_nerve_cnn;
typedef struct cn_nerve_find cn_nerve_find; /* the automatic finder, below */
/* With the built-in weights. All buffers for frames up to max_w x max_h are
 * allocated here: no allocation per call. NULL for bad sizes. */
cn_nerve_cnn *cn_nerve_cnn_new(int max_w, int max_h);
/* Automatic mode's refine network, built in (nerve_refine.weights, the same layout):
 * the crop CNN of the same recipe trained with its clicks anywhere within one
 * equivalent radius of the nerve's middle, on the nerve or beside it, since the
 * finder's point is near a nerve, not on its middle (docs/validation.md, "Thirteenth
 * session"). The operator's click keeps cn_nerve_cnn_new's network. */
cn_nerve_cnn *cn_nerve_cnn_new_refine(int max_w, int max_h);
/* With weights from a CNNERVE1 image in memory (e.g. a site's own retrained
 * file, read by the caller). NULL with a message in err for a malformed file. */
cn_nerve_cnn *cn_nerve_cnn_new_with(int max_w, int max_h, const void *weights, size_t size,
                                    char *err, size_t err_len);
void cn_nerve_cnn_free(cn_nerve_cnn *c);
/* The crop geometry the weights were trained for. */
void cn_nerve_cnn_geometry(const cn_nerve_cnn *c, int *grid_n, double *crop_frac);
/* True when the weights were trained on frames cut to the scanner's field of view
 * (cn_img_fov_box): the caller then gives every call here that cut frame (pixels
 * and points in its coordinates), as it does for the finder of such weights. */
bool cn_nerve_cnn_fov_crop(const cn_nerve_cnn *c);
/* True when the weights file blends the finder into the first crop only (header
 * flag; cn_nerve_cnn_run_blend). */
bool cn_nerve_cnn_seed_first(const cn_nerve_cnn *c);
/* The bare network: in is 2 x n x n floats (standardised grey, seed channel),
 * out gets n x n logits. n a multiple of 8 in 8..CN_NERVE_CNN_NMAX. */
int cn_nerve_cnn_forward(cn_nerve_cnn *c, int model, const float *in, int n, float *out);
/* Segments the nerve around the seed (input pixels) of a grey image. pts_px/n get
 * the closed outline of the target, the kept part nearest the seed (the nerve the
 * operator pointed at), along its pixels' edges (cn_img_trace_outline), at most
 * CN_NERVE_ANGLES points (pts_px holds that many); n = 0 when nothing was found.
 * mask (w*h, may be NULL) gets that outline's inside (cn_img_fill_polygon): what
 * the screen shows, so what `eval nerve` scores. *confidence is the network's
 * mean probability on the kept pixels of every part (0 when nothing was found).
 * CN_ERANGE when the seed is outside the image, CN_EINVAL for bad input. */
int cn_nerve_cnn_run(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h, double seed_x,
                     double seed_y, uint8_t *mask, cn_pt2 *pts_px, int *n, float *confidence);
/* The same with the finder's logits (its last complete analysis of this frame)
 * blended into the crop's: (1 - weight) x CNN + weight x finder, before the parts
 * are kept. The seeded mode's outline: the crop sees the detail around the
 * point, the finder the whole frame. find NULL or weight 0: cn_nerve_cnn_run.
 * A weights file with the seed-first flag (cn_nerve_cnn_seed_first) blends into
 * the first crop only; a size-normalised second crop is then the network's own. */
int cn_nerve_cnn_run_blend(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h,
                           double seed_x, double seed_y, const cn_nerve_find *find, float weight,
                           uint8_t *mask, cn_pt2 *pts_px, int *n, float *confidence);
/* Every kept part the last finished run pasted (w*h of that run, 1 on their
 * pixels): the target and any other part in the crop. NULL when that run found
 * nothing or another run has begun since. Valid until the next run. */
const uint8_t *cn_nerve_cnn_parts_mask(const cn_nerve_cnn *c);
/* The centroid (input pixels) of cn_nerve_cnn_parts_mask, every kept part;
 * CN_ENOENT when that run found nothing or another run has begun since.
 * Automatic mode re-runs the CNN there (CN_NERVE_AUTO_RECENTRE); a size-normalised
 * second crop is sized by those parts' area. */
int cn_nerve_cnn_mask_centre(const cn_nerve_cnn *c, double *x_px, double *y_px);
/* The square the last run (or _begin) cropped: its centre and side in input
 * pixels across. The side is the weights' share of the frame's smaller side, times
 * the finder's change of scale (cn_nerve_find_scale) when a finder was given: where
 * the pixel size is known the crop follows it as the finder's grid does. The crop
 * is square in the tissue: with pixels that are not square (cn_nerve_find_aspect
 * a, height / width) it spans side / a pixels down.
 * CN_ENOENT before any crop or after a run that failed before cropping. */
int cn_nerve_cnn_last_crop(const cn_nerve_cnn *c, double *cx_px, double *cy_px, double *side_px);
/* Automatic mode's refine: the crop CNN at the chosen part's centre, then this
 * many more runs, each at the centroid of the mask the run before pasted (the
 * finder's part centre is a coarse guess; a crop centred on the nerve is what
 * the CNN was trained on). Chosen on the validation split (docs/validation.md,
 * "Fifth session"). */
#define CN_NERVE_AUTO_RECENTRE 1
/* cn_nerve_cnn_run_blend in steps, one network of the model's ensemble per
 * _step call, so a live frame carries one network (~1.5 ms) instead of a pair.
 * _begin takes the crop from px (read only there); the _step that runs the last
 * network sets *done and gives the outline, mask and confidence exactly as
 * cn_nerve_cnn_run_blend would have (same operations, same order). find must
 * still hold the analysis it held for the run. Any other run on the handle in
 * between cancels the steps: _step then returns CN_EINVAL. */
int cn_nerve_cnn_blend_begin(cn_nerve_cnn *c, int model, const uint8_t *px, int w, int h,
                             double seed_x, double seed_y, const cn_nerve_find *find);
int cn_nerve_cnn_blend_step(cn_nerve_cnn *c, const cn_nerve_find *find, float weight,
                            uint8_t *mask, cn_pt2 *pts_px, int *n, float *confidence, bool *done);
/* A size-normalised weights file (CNNERVE2) crops the seeded outline twice:
 * cn_nerve_cnn_run / _run_blend do both passes, the staged calls above only the
 * first. After a finished first pass (whole or staged) this sets up the second
 * crop (side K x the equivalent radius of that pass's mask, about the same point,
 * from the same frame) for _blend_step, so the live stage can run it on the next
 * frame; the result equals _run_blend's. CN_ENOENT when there is nothing to do
 * (no size normalisation in the file, the pass found nothing, it was already the
 * second, or steps are pending), CN_EINVAL for NULL. */
int cn_nerve_cnn_size_begin(cn_nerve_cnn *c);

/* ------------------------------------------------------------------ nerve finder */

/* Automatic nerve finding (nerve_find.c, network in nerve_net.c): the whole frame
 * on a reduced grid through a small U-Net trained offline on two sites' expert
 * masks (tools/train/train_nerve_net.py), its confident parts, and the one to
 * follow: the part with the most probability mass (automatic), or the part the
 * operator's point picks (seeded). The weights file (built in; another can be
 * given) holds CN_NERVE_FIND_NMODELS networks: 0..4 each trained without one
 * fold of the data (docs/validation.md: folds 0-3 are the reported held-out
 * split, fold 4 the recipe-choice split), CN_NERVE_FIND_US trained on nerve-us
 * only and CN_NERVE_FIND_FEM on nerve-femoral only (cross-site), and
 * CN_NERVE_FIND_LIVE, the one the product runs: the fold-4 network again (trained
 * on everything outside the recipe-choice split; tools/train LIVE_FROM says why). */
#define CN_NERVE_FIND_NMODELS 8
#define CN_NERVE_FIND_KFOLD 5
#define CN_NERVE_FIND_US 5
#define CN_NERVE_FIND_FEM 6
#define CN_NERVE_FIND_LIVE 7

typedef struct {
    bool found;          /* a part passed the threshold (near the point, when seeded) */
    float confidence;    /* peak probability of the chosen part, 0..1 */
    int n;               /* outline points (3..CN_NERVE_ANGLES when found) */
    cn_pt2 pts_px[CN_NERVE_ANGLES]; /* the chosen part's outline along its pixels' edges
                                     * (cn_img_trace_outline), input pixels */
    double cx_px, cy_px; /* its centroid */
    double r_eq_px;      /* its equivalent radius (sqrt(area / pi)) */
    int parts;           /* parts kept: the chosen one and those clustered with it */
} cn_nerve_found;

/* With the built-in weights; buffers for frames up to max_w x max_h. NULL for bad
 * sizes or no memory. */
cn_nerve_find *cn_nerve_find_new(int max_w, int max_h);
/* With a CNNFIND1 weights image in memory; NULL with a message in err for a
 * damaged or foreign file. */
cn_nerve_find *cn_nerve_find_new_with(int max_w, int max_h, const void *weights, size_t size,
                                      char *err, size_t err_len);
void cn_nerve_find_free(cn_nerve_find *f);
/* The grid rows of the weights (H) and the grid of the last analysis (0 before). */
void cn_nerve_find_info(const cn_nerve_find *f, int *grid_rows, int *gh, int *gw);
/* The bare network: standardised gh x gw input to gh x gw logits (tests). */
int cn_nerve_find_forward(cn_nerve_find *f, int model, const float *in, int gh, int gw, float *out);
/* Runs network `model` on a grey frame. spacing_mm (NULL: unknown) and the prior
 * nerve_radius_mm set the grid's physical cell size (nerve_find.c). A blank,
 * saturated or uniform frame analyses to no parts. CN_EINVAL for bad input (NULL,
 * smaller than 16 x 16, bad model), CN_ERANGE for a frame above the handle's size. */
int cn_nerve_find_analyse(cn_nerve_find *f, int model, const uint8_t *px, int w, int h,
                          const double *spacing_mm, double nerve_radius_mm);
/* The same analysis in slices, to spread the network over several frames: start
 * reduces the frame and prepares the pass (cheap); each continue runs about
 * `share` of the network's work (share >= 1: all of it), *done when the analysis
 * is complete (a blank frame is complete at once). A new start abandons a pass. */
int cn_nerve_find_start(cn_nerve_find *f, int model, const uint8_t *px, int w, int h,
                        const double *spacing_mm, double nerve_radius_mm);
int cn_nerve_find_continue(cn_nerve_find *f, double share, bool *done);
/* The weight of the finder's logits in the seeded outline (cn_nerve_cnn_run_blend),
 * chosen on the validation split; it travels with the weights. */
float cn_nerve_find_seeded_weight(const cn_nerve_find *f);
/* How the automatic outline is drawn: < 0 the chosen part's own outline; else the
 * crop CNN at the part's centre with the finder's logits blended in at this weight
 * (chosen on the validation split; travels with the weights). */
float cn_nerve_find_auto_weight(const cn_nerve_find *f);
/* True when the weights were trained on frames cut to the scanner's field of view
 * (cn_img_fov_box, a screen capture's black margins away): the caller gives every
 * call here the cut frame, and points in its coordinates (nerve_live.c, eval). */
bool cn_nerve_find_fov_crop(const cn_nerve_find *f);
/* Networks per model whose logits are averaged (the weights file's ensemble;
 * 1 for a single network or NULL): a pass costs this many networks' work. */
int cn_nerve_find_members(const cn_nerve_find *f);
/* How much larger than the height-filling one the last analysis's grid cell is
 * (rows of the weights file / grid rows): 1 when the pixel size was unknown or
 * showed the nerve at a size the network knows; else the finder's change of scale
 * (about x1/1.4..1.4, the grid's rows rounded to whole units: 64 or 128 for 96),
 * which the crop CNN follows with its crop. 1 for NULL or before an analysis. */
double cn_nerve_find_scale(const cn_nerve_find *f);
/* The pixel's height / width in mm the last analysis was given (its grid is
 * square in mm), which the crop CNN follows so that its crops are square in the
 * tissue too: 1 when the spacing was unknown or square (or out of 1/4..4), for
 * NULL or before an analysis. */
double cn_nerve_find_aspect(const cn_nerve_find *f);
/* The network's logit at input pixel (x, y) of the last complete analysis
 * (bilinear over the whole map), NAN when there is none. */
float cn_nerve_find_logit_at(const cn_nerve_find *f, double x_px, double y_px);
/* Picks the nerve in the last analysis: seed_px NULL = automatic, else the part
 * nearest that point (input pixels; none when no part comes near). mask (w*h, may
 * be NULL) gets the outline's inside: what the screen shows (the parts within the
 * cluster distance are counted in out->parts, not drawn). found = false when
 * nothing passes. CN_ERANGE for a point outside the image. */
int cn_nerve_find_select(cn_nerve_find *f, const double *seed_px, uint8_t *mask,
                         cn_nerve_found *out);
/* Follows `outline` (input pixels, on the frame of the last complete analysis,
 * e.g. the seeded CNN's) instead of the last selection from now on. */
int cn_nerve_find_follow(cn_nerve_find *f, const cn_nerve_found *outline);
/* Between network frames: the last selection moved by block matching its
 * neighbourhood in the new frame (same size). CN_ENOENT when nothing was
 * selected on a frame of this size. */
int cn_nerve_find_track(cn_nerve_find *f, const uint8_t *px, int w, int h, cn_nerve_found *out);

/* ------------------------------------------------------------------ refine sequence */

/* Automatic mode's refine of the finder's part as one sequence (nerve_refine.c),
 * the one both the live stage (a network per frame) and `cryonav eval nerve` (all
 * at once, cn_nerve_refine_run) run, so the screen and the measurement cannot
 * drift apart: the crop CNN at the part's centre with the finder's logits blended
 * in, then `recentre` more runs each at the centroid of the mask the run before
 * pasted. The first run outlining nothing means no nerve there (the part is not
 * one); a re-centred run outlining nothing ends the sequence with the outline
 * before it standing. The same object runs a click's first crop (recentre 0, the
 * click's own network and weight) and steps its size-normalised second crop
 * (cn_nerve_refine_begin_second), where nothing outlined leaves the first crop's.
 * Caller-owned, no allocation; the fields are private. */
typedef struct {
    cn_nerve_cnn *net;
    const cn_nerve_find *find;
    int model;
    float weight;
    const uint8_t *px; /* the frame of the sequence: the caller keeps it until done */
    int w, h;
    uint8_t *mask;     /* the caller's w*h mask of the standing outline, or NULL */
    double at[2];      /* where the current run's crop is centred */
    double prev[2];    /* and the run's before it */
    int left;          /* re-centred runs still to come */
    int runs;          /* runs finished */
    bool have;         /* an outline stands */
    bool done;         /* no network left to run */
    float confidence;
    int n;
    cn_pt2 pts_px[CN_NERVE_ANGLES];
} cn_nerve_refine;

/* Starts the sequence at (x_px, y_px) of px (w x h, the finder's last complete
 * analysis's frame; its pixels read now and again at each re-centred run). mask
 * (w*h, may be NULL) gets the standing outline's mask when done. The crop is
 * taken here; no network runs. CN_EINVAL / CN_ERANGE as cn_nerve_cnn_blend_begin. */
int cn_nerve_refine_begin(cn_nerve_refine *r, cn_nerve_cnn *net, int model, const uint8_t *px,
                          int w, int h, double x_px, double y_px, const cn_nerve_find *find,
                          float weight, int recentre, uint8_t *mask);
/* A click's size-normalised second crop (cn_nerve_cnn_size_begin) as a one-run
 * sequence on net's last finished run; CN_ENOENT when the file has none to do. */
int cn_nerve_refine_begin_second(cn_nerve_refine *r, cn_nerve_cnn *net,
                                 const cn_nerve_find *find, float weight);
/* One network of the current run. When this step finished a run that outlined
 * the nerve, pts_px/n/confidence (may be NULL) get that outline, the standing one
 * from now on; else *n = 0. *done when the sequence is over. An error ends it. */
int cn_nerve_refine_step(cn_nerve_refine *r, cn_pt2 *pts_px, int *n, float *confidence,
                         bool *done);
/* The whole sequence at once (eval): the standing outline, or *n = 0 (no nerve). */
int cn_nerve_refine_run(cn_nerve_refine *r, cn_nerve_cnn *net, int model, const uint8_t *px,
                        int w, int h, double x_px, double y_px, const cn_nerve_find *find,
                        float weight, int recentre, uint8_t *mask, cn_pt2 *pts_px, int *n,
                        float *confidence);
/* After the sequence: true when an outline stands (false: its first run outlined
 * nothing, or it failed). runs: how many runs finished (tests, bench). */
bool cn_nerve_refine_found(const cn_nerve_refine *r);
int cn_nerve_refine_runs(const cn_nerve_refine *r);

/* ------------------------------------------------------------------ needle (low level) */

typedef enum { CN_ENTRY_AUTO = 0, CN_ENTRY_LEFT, CN_ENTRY_RIGHT } cn_entry_side;

typedef struct {
    cn_entry_side entry;
    double min_angle_deg, max_angle_deg; /* angle of the shaft to the transducer face */
    double prior_tol_mm, prior_tol_deg;  /* search window around a pose prior */
    double min_confidence;               /* below this: not found */
    double kalman_q_mm, kalman_r_mm;     /* process / measurement noise (tip, per frame) */
    double needle_diameter_mm;           /* probe diameter: the axis is a radius behind the front wall */
} cn_needle_params;

void cn_needle_params_default(cn_needle_params *p);

typedef struct cn_needle_det cn_needle_det;
cn_needle_det *cn_needle_det_new(int max_w, int max_h, const cn_needle_params *p);
void cn_needle_det_free(cn_needle_det *d);
/* Detection in one image with pixel spacing (mm); prior may be NULL (no pose).
 * Fills out (image mm) without temporal filtering; found=false when nothing
 * passes. Returns CN_OK or CN_EINVAL for bad input. */
int cn_needle_det_detect(cn_needle_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *prior,
                         cn_needle_result *out);
/* The same with the previous frame's needle (image mm, may be NULL): a line within
 * a few degrees and pixels of it is preferred over others of similar confidence
 * (temporal consistency); its confidence is not raised. */
int cn_needle_det_detect_prev(cn_needle_det *d, const uint8_t *px, int w, int h,
                              const double spacing_mm[2], const cn_needle_result *prior,
                              const cn_needle_result *prev, cn_needle_result *out);

/* ------------------------------------------------------------------ ice front (low level) */

typedef struct {
    double max_radius_mm;    /* largest ice thickness searched */
    double active_mm;        /* active (freezing) length at the tip */
    double band_mm;          /* rim band thickness */
    double shadow_mm;        /* depth of the shadow checked below the rim */
    double min_contrast;     /* band - shadow, in grey-level std units */
    double min_inlier_frac;  /* fraction of columns that must fit the ice-ball model */
    double max_shrink_mm;    /* tolerated shrink of the fitted radius during a freeze */
    double probe_diameter_mm; /* the probe's own front wall is not ice */
    double shaft_tol_mm;     /* visible shaft end vs the ball's near vertex */
    double axial_tol_mm;     /* the ball may sit this far along the axis from the tracked tip */
} cn_ice_params;

void cn_ice_params_default(cn_ice_params *p);

/* The ice-front detector keeps state: the rim-like structures seen before the
 * freeze (so bone or a fascia is never taken for ice) and the radius reported
 * so far in this freeze (ice only grows while a freeze runs). */
typedef struct cn_ice_det cn_ice_det;
cn_ice_det *cn_ice_det_new(int max_w, int max_h, const cn_ice_params *p);
void cn_ice_det_free(cn_ice_det *d);
void cn_ice_det_reset(cn_ice_det *d);
/* One frame. needle: the probe's last reliable tip and direction (image mm);
 * shaft: this frame's detection of the visible shaft (NULL when none): ice
 * hides the shaft from where it enters the ball, so a ball is accepted only
 * when the visible shaft ends at its border. freezing: whether a freeze runs.
 * Fills out (found=false when no freeze runs, no needle is known, or nothing
 * passes the checks); *radius_mm gets the fitted radial ice thickness. */
int cn_ice_det_detect(cn_ice_det *d, const uint8_t *px, int w, int h, const double spacing_mm[2],
                      const cn_needle_result *needle, const cn_needle_result *shaft,
                      bool freezing, int64_t t_ns, cn_ice_front *out, double *radius_mm);
/* The same with the frame's grey-level standard deviation given by the caller (the
 * segment stage has it already; NAN: computed here). */
int cn_ice_det_detect_sd(cn_ice_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *needle,
                         const cn_needle_result *shaft, bool freezing, int64_t t_ns,
                         double grey_sd, cn_ice_front *out, double *radius_mm);
/* What the probe does, for the detector. */
typedef enum {
    CN_ICE_BEFORE = 0, /* no freeze (yet): what is rim-like is recorded as the baseline;
                          ice that appears and grows around the resting probe is reported
                          once it is sure (cn_ice_det_unkeyed): a freeze nobody keyed */
    CN_ICE_FREEZE,     /* a freeze runs: the rim is looked for, and may not shrink */
    CN_ICE_THAW        /* the thaw after a freeze: the rim is looked for and may shrink;
                          the baseline from before the freeze is kept */
} cn_ice_look;
/* The general form: cn_ice_det_detect_sd's freezing is CN_ICE_FREEZE or CN_ICE_BEFORE. */
int cn_ice_det_look(cn_ice_det *d, const uint8_t *px, int w, int h, const double spacing_mm[2],
                    const cn_needle_result *needle, const cn_needle_result *shaft,
                    cn_ice_look look, int64_t t_ns, double grey_sd, cn_ice_front *out,
                    double *radius_mm);

/* Whether the probe given to the next looks is a tracked cryoprobe's pose, not a tip the
 * image showed: only a pose says the probe is still there when no shaft is seen. */
void cn_ice_det_set_probe_tracked(cn_ice_det *d, bool tracked);
/* Whether the last CN_ICE_BEFORE look holds ice nobody keyed: a ball around the resting
 * probe that appeared and grew 0.5 mm over 5 s (since_ns: the look time it was first
 * seen). */
bool cn_ice_det_unkeyed(const cn_ice_det *d, int64_t *since_ns);
/* Whether a CN_ICE_BEFORE look up to 10 s before t_ns fitted a ball around the probe at
 * rest that may be such ice, not yet sure (the probe has not moved since), within 15 s of
 * the first such ball at this rest. */
bool cn_ice_det_unkeyed_watching(const cn_ice_det *d, int64_t t_ns);
/* Where that watched ball hides the shaft: the probe's tip at rest (tip_mm), its axis
 * towards the tip (dir), and how far back from the tip along it the ball's near end lies
 * (back_mm), the shaft's visible end when the ice hides it. False when no ball is watched. */
bool cn_ice_det_watch_reach(const cn_ice_det *d, cn_pt2 *tip_mm, cn_pt2 *dir, double *back_mm);
/* The same for the probe's last rest before a freeze (kept into the freeze) and a ball of
 * radius_mm about it; false when no rest is known. */
bool cn_ice_det_rest(const cn_ice_det *d, double radius_mm, cn_pt2 *tip_mm, cn_pt2 *dir,
                     double *back_mm);
/* Whether that ice has since shrunk 1 mm under its largest for 5 s: the freeze nobody
 * keyed is over (peak_ns: the look time it was largest, the best guess of its stop). */
bool cn_ice_det_unkeyed_melting(const cn_ice_det *d, int64_t *peak_ns);
/* Whether the last CN_ICE_FREEZE look holds a ball shrinking 1 mm under the freeze's
 * largest for 5 s: the gas stopped and nobody keyed it (peak_ns: the look time the
 * radius last grew, the best guess of the stop). */
bool cn_ice_det_shrinking(const cn_ice_det *d, int64_t *peak_ns);

/* ------------------------------------------------------------------ the bundle + stage */

typedef struct {
    cn_needle_params needle;
    cn_nerve_params nerve;       /* r0_px here is ignored: nerve_radius_mm is used */
    double nerve_radius_mm;      /* prior equivalent nerve radius in mm */
    cn_ice_params ice;
    bool nerve_auto;             /* automatic nerve mode when no seed is set (default false,
                                  * as in config/session.json, until its held-out figures pass
                                  * the bar in docs/validation.md) */
    bool nerve_cnn;              /* seeded fallback: the crop CNN outlines the nerve when the
                                  * seed is set and when the DP tracker loses it (default true) */
    bool nerve_find;             /* the automatic finder (default true): finds the nerve without
                                  * a seed (nerve_auto) and picks the one nearest the seed */
    int nerve_period;            /* frames per network of a finder pass (default 2; an
                                  * ensemble of three: six), block matching follows its
                                  * outline in between */
} cn_segment_config;

void cn_segment_config_default(cn_segment_config *c);
/* Reads the object at path (e.g. "segment") over the defaults: keys
 * entry ("auto"|"left"|"right"), min_angle_deg, max_angle_deg, nerve_radius_mm,
 * nerve_auto, nerve_seed_mm ([x, y]), ice_active_mm, ice_max_radius_mm, nerve_cnn,
 * nerve_find, nerve_period.
 * CN_ENOENT-free: a missing section means defaults. */
int cn_segment_config_from_json(const cn_json *doc, const char *path, cn_segment_config *c,
                                double seed_mm[2], bool *has_seed, char *err, size_t err_len);

typedef struct cn_segment cn_segment;

cn_segment *cn_segment_new(const cn_segment_config *c, int max_w, int max_h);
void cn_segment_free(cn_segment *s);
/* Whether a freeze runs now (the app drives this from the procedure state or the
 * simulator). While false no ice front is reported; the detector also records
 * the rim-like structures it sees then (bone) so they are never taken for ice. */
void cn_segment_set_freezing(cn_segment *s, bool freezing);
/* Whether the probe sits in its ice: a freeze, or the thaw after it (the app drives
 * this from the procedure state; guidance takes the same phases as "cycling"). The
 * ice still hides the tip in a thaw and the probe does not move, so a shorter shaft
 * on its line is the tip hidden, not the probe pulled back. No ice front is
 * reported in a thaw (cn_segment_set_freezing decides that). */
void cn_segment_set_in_ice(cn_segment *s, bool in_ice);
/* The operator's target point (image mm): the nerve tracker starts from it. */
void cn_segment_set_nerve_seed(cn_segment *s, cn_pt2 seed_mm);
void cn_segment_clear_nerve_seed(cn_segment *s);
/* Where the nerve stage looks now (image mm: the point, moved with the nerve it
 * follows), as the last frame reported it; false when no point is set. */
bool cn_segment_nerve_target(const cn_segment *s, cn_pt2 *target_mm);
/* A needle pose prior in image mm (e.g. the tracked cryoprobe mapped into the
 * image); valid=false drops it. */
void cn_segment_set_needle_prior(cn_segment *s, cn_pt2 tip_mm, cn_pt2 dir, bool valid);
/* Resets trackers (new session). */
void cn_segment_reset(cn_segment *s);
/* Runs the three detectors on f and fills f->analysis.needle / nerve / ice.
 * Bad frames (empty, too big, all black, saturated) give found=false results
 * and CN_OK; only programming errors return an error. */
int cn_segment_process(cn_segment *s, cn_frame *f);
/* True for a frame cn_segment_process takes for blank and does not analyse (mean
 * grey under 2, over 90 % saturated, or spread under 1 grey level): `eval nerve`
 * scores such an image as the live stage shows it, no find. */
bool cn_segment_frame_blank(const uint8_t *px, int w, int h);
/* The bundle as a pipeline stage ("segment"); s must outlive the pipeline. */
void cn_segment_stage(cn_segment *s, cn_stage *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_SEGMENT_H */
