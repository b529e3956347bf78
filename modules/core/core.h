/*
 * core.h - the one public header of CryoNav's core module.
 *
 * Everything that flows through CryoNav is defined here: error codes, the clock,
 * logging, 4x4 rigid poses, the transform graph that answers "AToB" for any two
 * named coordinate frames (the PLUS way), the frame (one B-mode image plus the
 * poses valid at its acquisition time plus the analysis results that ride with
 * it), the preallocated reference-counted frame pool, latency statistics, and a
 * few JSON helpers whose errors name file, line and key. The analysis results
 * themselves are in core/analysis.h, which this header includes (one header to
 * include, two files to read).
 *
 * Conventions (libuv-like): opaque handles with _new/_free pairs, functions named
 * cn_<noun>_<verb>, errors returned as negative CN_E* codes (cn_strerror names
 * them). No global mutable state: every long-lived thing is a handle.
 *
 * Units: millimetres for lengths (suffix _mm where not obvious), nanoseconds on
 * the monotonic clock for time (t_ns), degrees Celsius for temperature (temp_c).
 * Matrices are 4x4 row-major, as PLUS writes them in sequence files; a matrix
 * named AToB maps a point expressed in frame A into frame B.
 */
#ifndef CN_CORE_H
#define CN_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

enum {
    CN_OK = 0,
    CN_EINVAL = -1,       /* an argument or an input value is invalid */
    CN_ENOMEM = -2,       /* out of memory, or a fixed capacity is exhausted */
    CN_EIO = -3,          /* read/write/system call failed */
    CN_ENOENT = -4,       /* file, key, frame or transform not found */
    CN_EPARSE = -5,       /* malformed input text or bytes */
    CN_ERANGE = -6,       /* value outside its allowed range */
    CN_EAGAIN = -7,       /* nothing available now, try later */
    CN_ETIMEDOUT = -8,    /* waited too long */
    CN_ECLOSED = -9,      /* the other end has stopped / been closed */
    CN_EUNSUPPORTED = -10 /* valid but not handled (e.g. a pixel type) */
};

/* A short English name for an error code ("invalid argument", ...). */
const char *cn_strerror(int err);

/* Writes "<prefix>: <message>" into err (the error text every entry point hands
 * back); nothing when err is NULL or err_len is 0, truncated to err_len. */
void cn_errf(char *err, size_t err_len, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ clock */

int64_t cn_clock_mono_ns(void);   /* CLOCK_MONOTONIC */
int64_t cn_clock_wall_ns(void);   /* CLOCK_REALTIME, ns since 1970 */
void cn_clock_sleep_ns(int64_t ns);

/* ------------------------------------------------------------------ logging */

typedef enum { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR } cn_log_level;

/* A logger is a handle (no global logger). All functions accept NULL, which
 * means "stderr, level INFO". Thread-safe: one line is written atomically. */
typedef struct cn_log cn_log;

cn_log *cn_log_new(FILE *out, cn_log_level min_level);
/* A logger appending to the file at path (created when missing; the logger owns
 * and closes it); NULL or "" = stderr. NULL with a message naming the file. */
cn_log *cn_log_open(const char *path, cn_log_level min_level, char *err, size_t err_len);
void cn_log_free(cn_log *lg);
/* "debug", "info", "warn", "error"; parse also takes "warning". CN_EINVAL when unknown. */
const char *cn_log_level_name(cn_log_level l);
int cn_log_level_parse(const char *s, cn_log_level *out);
/* Writes "cryonav: HH:MM:SS.mmm level: module: message\n" (local time). */
void cn_log_write(cn_log *lg, cn_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cn_log_vwrite(cn_log *lg, cn_log_level level, const char *module, const char *fmt,
                   va_list ap);
#define cn_log_error(lg, mod, ...) cn_log_write((lg), CN_LOG_ERROR, (mod), __VA_ARGS__)
#define cn_log_warn(lg, mod, ...) cn_log_write((lg), CN_LOG_WARN, (mod), __VA_ARGS__)
#define cn_log_info(lg, mod, ...) cn_log_write((lg), CN_LOG_INFO, (mod), __VA_ARGS__)
#define cn_log_debug(lg, mod, ...) cn_log_write((lg), CN_LOG_DEBUG, (mod), __VA_ARGS__)

/* ------------------------------------------------------------------ 4x4 poses */

/* Row-major 4x4: m[r*4 + c]. The last row is 0 0 0 1 for rigid/affine poses. */
typedef struct {
    double m[16];
} cn_mat4;

typedef struct {
    double x, y, z;
} cn_vec3;

cn_mat4 cn_mat4_identity(void);
cn_mat4 cn_mat4_mul(const cn_mat4 *a, const cn_mat4 *b); /* a * b */
/* General inverse; returns CN_EINVAL when singular (|det| < 1e-12). */
int cn_mat4_invert(const cn_mat4 *a, cn_mat4 *out);
cn_vec3 cn_mat4_apply_point(const cn_mat4 *a, cn_vec3 p);
cn_vec3 cn_mat4_apply_dir(const cn_mat4 *a, cn_vec3 d);  /* ignores translation */
cn_mat4 cn_mat4_translation(double x, double y, double z);
cn_mat4 cn_mat4_rotation_axis_angle(cn_vec3 axis, double angle_rad);
cn_mat4 cn_mat4_scale(double sx, double sy, double sz);
bool cn_mat4_is_finite(const cn_mat4 *a);
/* Largest absolute element difference. */
double cn_mat4_max_abs_diff(const cn_mat4 *a, const cn_mat4 *b);

/* Quaternion (w, x, y, z) of the rotation part of a rigid pose; the rotation
 * part is orthonormalised first, so a slightly scaled matrix still works. */
void cn_mat4_to_quat(const cn_mat4 *a, double q[4]);
cn_mat4 cn_mat4_from_quat_trans(const double q[4], cn_vec3 t);
/* Rigid interpolation: slerp of rotation, lerp of translation, s in [0, 1]. */
cn_mat4 cn_mat4_interpolate(const cn_mat4 *a, const cn_mat4 *b, double s);

cn_vec3 cn_vec3_add(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_sub(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_scale(cn_vec3 a, double s);
double cn_vec3_dot(cn_vec3 a, cn_vec3 b);
cn_vec3 cn_vec3_cross(cn_vec3 a, cn_vec3 b);
double cn_vec3_norm(cn_vec3 a);
cn_vec3 cn_vec3_normalize(cn_vec3 a);

/* ------------------------------------------------------------------ transform graph */

#define CN_FRAME_NAME_MAX 32 /* frame names like "Probe", "Tracker" (no "To" inside) */
#define CN_XFORM_NAME_MAX 64 /* transform names like "ProbeToTracker" */

/* Splits "ProbeToTracker" into "Probe" and "Tracker". PLUS rule: a frame name never
 * contains "To", so the split is at the only "To" followed by an upper-case letter.
 * Returns CN_EINVAL for names that are not of the AToB form. */
int cn_xform_name_split(const char *name, char from[CN_FRAME_NAME_MAX], char to[CN_FRAME_NAME_MAX]);

/* The graph keeps, for every known edge AToB, a short time history of poses so a
 * query at any time interpolates between the two bracketing samples (slerp+lerp).
 * Queries compose and invert edges along the shortest path (breadth first). */
typedef struct cn_xform_graph cn_xform_graph;

cn_xform_graph *cn_xform_graph_new(void);
void cn_xform_graph_free(cn_xform_graph *g);
/* Adds a timed sample of edge AToB ("ProbeToTracker"). valid=false records that the
 * tracker lost the tool at that time. A static transform (calibration) is set with
 * t_ns = CN_XFORM_STATIC and applies at every time. */
#define CN_XFORM_STATIC INT64_MIN
int cn_xform_graph_set(cn_xform_graph *g, const char *name, const cn_mat4 *m, int64_t t_ns,
                       bool valid);
/* Answers from->to at time t_ns. Returns CN_OK, CN_ENOENT when no path joins the two
 * frames, CN_EAGAIN when a needed edge has no valid sample near t_ns (lost tool, or
 * t_ns further than max_extrapolate_ns outside the history). */
int cn_xform_graph_get(const cn_xform_graph *g, const char *from, const char *to, int64_t t_ns,
                       cn_mat4 *out);
/* Same, with the name "AToB". */
int cn_xform_graph_get_named(const cn_xform_graph *g, const char *name, int64_t t_ns, cn_mat4 *out);
/* How far outside its sample history an edge may be held (default 200 ms). */
void cn_xform_graph_set_max_extrapolate(cn_xform_graph *g, int64_t ns);
/* Number of distinct edges. */
int cn_xform_graph_edge_count(const cn_xform_graph *g);

/* ------------------------------------------------------------------ analysis results */

/* The results that ride with a frame (needle, nerve, ice, isotherms, thermal state,
 * guidance, events) are in their own part of this header. */
#include "core/analysis.h"

/* ------------------------------------------------------------------ frame + pool */

#define CN_POSES_MAX 8

typedef struct {
    char name[CN_XFORM_NAME_MAX]; /* "ProbeToTracker" */
    cn_mat4 m;
    bool valid;
} cn_pose;

typedef enum { CN_FRAME_OK = 0, CN_FRAME_INVALID = 1 } cn_frame_status;

#define CN_SCENE_TIME_UNSET INT64_MIN

typedef struct cn_frame_pool cn_frame_pool;

/* One B-mode image and everything known about it. Frames live in a pool; never
 * allocate one yourself. The pixel buffer holds max_w * max_h bytes; the image
 * uses width * height of it (stride == width). */
typedef struct cn_frame {
    /* image */
    uint8_t *pixels;
    int width, height;
    double spacing_mm[2];      /* x (lateral), y (axial) */
    double transducer_px[2];   /* pixel at the centre of the transducer face */
    /* time */
    uint64_t seq;              /* sequence number from the source */
    int source_frame;          /* a replay: the frame's index in its file (from 0; what
                                  `--start '#N'` names); -1 from other sources */
    int64_t t_acq_ns;          /* acquisition, monotonic */
    int64_t t_ready_ns;        /* when the source handed the frame over, monotonic: 0
                                  for live sources (acquisition is the moment); a
                                  replay's emission, since its t_acq_ns follows the
                                  recorded scene, which a --fast or --time-scale
                                  recording ran ahead of the pace it is replayed at.
                                  Latencies count from cn_frame_t_ready(). */
    int64_t t_preroll_ns;      /* time a stage spent, before this frame's own analysis,
                                  on work that is not it: a replay's catch-up of the
                                  frames it jumped over. The pipeline's analysis time
                                  and latencies leave it out (they measure the
                                  pipeline, not the jump); 0 for almost every frame. */
    int64_t wall_ns;           /* acquisition, wall clock */
    int64_t t_scene_ns;        /* scene time: the clock the procedure experiences. The
                                  simulator's scenario time (time_scale x faster than
                                  t_acq_ns), a replay's recorded scene time; for live
                                  sources the pipeline sets it to t_acq_ns. Timers,
                                  the thermal model and recordings run on it.
                                  CN_SCENE_TIME_UNSET until a source sets it. */
    int64_t t_analysed_ns;     /* when the analysis finished (0 if not analysed) */
    int64_t t_sent_ns;         /* when a network sink sent it */
    int64_t t_shown_ns;        /* when the viewer drew it */
    cn_frame_status status;
    /* poses valid at t_acq_ns */
    int n_poses;
    cn_pose poses[CN_POSES_MAX];
    /* results and, from a simulator, ground truth */
    bool analysed;
    cn_analysis analysis;
    cn_truth truth;
    /* private to the pool */
    cn_frame_pool *pool_;
    int index_;
} cn_frame;

/* The instant a frame's latencies count from: when its source handed it over
 * (t_ready_ns), else its acquisition; after any pre-roll a stage did first. */
static inline int64_t cn_frame_t_ready(const cn_frame *f)
{
    return (f->t_ready_ns ? f->t_ready_ns : f->t_acq_ns) + f->t_preroll_ns;
}

/* count frames, each with room for max_w x max_h pixels, allocated once. */
cn_frame_pool *cn_frame_pool_new(int count, int max_w, int max_h);
/* Frees the pool and returns CN_OK; when frames are still referenced it frees
 * nothing and returns CN_EAGAIN (a caller bug that must not become a use-after-free). */
int cn_frame_pool_free(cn_frame_pool *pool);
/* A free frame with one reference, its metadata cleared; NULL when every frame is
 * in use (never blocks, never allocates). */
cn_frame *cn_frame_pool_acquire(cn_frame_pool *pool);
int cn_frame_pool_available(cn_frame_pool *pool);
int cn_frame_pool_capacity(const cn_frame_pool *pool);
int cn_frame_pool_max_width(const cn_frame_pool *pool);
int cn_frame_pool_max_height(const cn_frame_pool *pool);
void cn_frame_ref(cn_frame *f);
/* Drops one reference; the last one returns the frame to its pool. */
void cn_frame_unref(cn_frame *f);
/* Sets the image size; CN_ERANGE when it does not fit the pool's buffers. */
int cn_frame_set_size(cn_frame *f, int width, int height);
/* Adds or replaces the pose named name; CN_ENOMEM when CN_POSES_MAX are used. */
int cn_frame_set_pose(cn_frame *f, const char *name, const cn_mat4 *m, bool valid);
/* The pose named name, or NULL. */
const cn_pose *cn_frame_get_pose(const cn_frame *f, const char *name);
/* The pose named name when it is present, valid and finite; NULL otherwise. */
const cn_pose *cn_frame_usable_pose(const cn_frame *f, const char *name);
/* TrackerTo<ref> of this frame: the inverse of its <ref>ToTracker. CN_OK; or
 * CN_ENOENT with the identity in *out when that pose is missing, unusable or
 * singular (the Tracker then stands in for the reference, as PLUS does). */
int cn_frame_tracker_to(const cn_frame *f, const char *ref, cn_mat4 *out);
/* ImageTo<ref> = TrackerTo<ref> * ProbeToTracker * ImageToProbe, with the pixel
 * spacing standing in for a missing ImageToProbe and the Tracker for a missing
 * reference (*ref_used says which; may be NULL). CN_ENOENT (and the spacing-only
 * placement in *out) when ProbeToTracker is missing: the image is not tracked. */
int cn_frame_image_to(const cn_frame *f, const char *ref, cn_mat4 *out, bool *ref_used);
/* The one rule for where things are in the image. The PLUS Image frame has pixel
 * centres at integer coordinates (pixel i spans [i - 0.5, i + 0.5]); the analysis
 * results (cn_analysis, cn_truth) are in "image mm": x from the left edge of the
 * image, y down from the transducer face, pixel (i, j) centred at ((i + 0.5) sx,
 * (j + 0.5) sy) with the frame's spacing. This is ImageToImageMm for f (a
 * translation by half a pixel after the spacing scale; spacing 1 when invalid). */
cn_mat4 cn_frame_image_to_image_mm(const cn_frame *f);
/* <tool>ToImageMm (e.g. "Cryoprobe"): ImageToImageMm * inverse(ImageToTracker) *
 * <tool>ToTracker with the frame's own poses and the fall-backs of
 * cn_frame_image_to. CN_OK; CN_ENOENT when the tool's or the probe's pose is
 * missing or unusable (then *out is the identity); CN_EINVAL when singular. Every
 * consumer (segment, thermal, viewer, proctor stream, recorder) uses this, so they
 * agree on the tip to round-off. */
int cn_frame_tool_to_image_mm(const cn_frame *f, const char *tool, cn_mat4 *out);
/* Copies everything but the pool bookkeeping (pixels included) from src to dst. */
int cn_frame_copy(cn_frame *dst, const cn_frame *src);

/* ------------------------------------------------------------------ statistics */

/* The last 5 values of a noisy per-frame measure (an ice rim's radius) and their median:
 * one undersized or outlier fit does not move it. Reset with n = 0. */
typedef struct {
    double v[5];
    int n;
} cn_last5;
/* Adds v (the oldest goes when 5 are kept) and returns the median of those kept. */
double cn_last5_push(cn_last5 *r, double v);
/* The median of the kept values; NAN when none. */
double cn_last5_median(const cn_last5 *r);

/* Keeps the last `capacity` samples (e.g. latencies in ms) and answers percentiles
 * over them. Thread-safe. */
typedef struct cn_stats cn_stats;
cn_stats *cn_stats_new(int capacity);
void cn_stats_free(cn_stats *s);
void cn_stats_add(cn_stats *s, double v);
/* p in [0, 100]; NAN when empty. */
double cn_stats_percentile(cn_stats *s, double p);
int64_t cn_stats_count(cn_stats *s);   /* all samples ever added */
double cn_stats_mean(cn_stats *s);     /* over the kept samples */
void cn_stats_reset(cn_stats *s);
/* 95 % interval of the mean of v[0..n) by the percentile bootstrap: `resamples`
 * draws of n values with replacement (cn_rng from `seed`, so a run repeats), the
 * 2.5th and 97.5th percentiles of their means into *lo, *hi. It treats the values
 * as independent: for frames of one video it is too narrow. CN_EINVAL when n < 1,
 * resamples < 100 or a value is not finite; CN_ENOMEM. */
int cn_stats_mean_interval95(const double *v, int n, int resamples, uint64_t seed, double *lo,
                             double *hi);
/* 95 % Wilson score interval of a rate of k successes in n trials (a detection
 * rate): in [0, 1], never empty at k = 0 or k = n as the normal one is. CN_EINVAL
 * when n < 1 or k is outside 0..n. */
int cn_stats_rate_interval95(int k, int n, double *lo, double *hi);

/* A value kept by time (a target's temperature, a coverage, a lethal step), so that a step
 * dated back can take back what the frames after it said (timeline.c). Values within
 * bin_ns of a bin's first go into that bin (its minimum, maximum, sum, first and last);
 * at least the newest keep_bins / 2 bins are kept, older ones fold into one, as do all
 * when the clock runs back by more than a bin. NULL on bad arguments or no memory. Not
 * thread-safe: one owner. */
typedef struct cn_timeline cn_timeline;
cn_timeline *cn_timeline_new(int64_t bin_ns, int keep_bins);
void cn_timeline_free(cn_timeline *tl);
void cn_timeline_clear(cn_timeline *tl);
/* Adds v at t_ns (NAN is ignored; a time less than a bin before the newest bin's last goes
 * into it; more: every bin is folded first). */
void cn_timeline_add(cn_timeline *tl, int64_t t_ns, double v);
/* Drops the bins that began after t_ns (a bin holding t_ns stays whole: one bin's
 * precision); folded bins stay. */
void cn_timeline_rewind(cn_timeline *tl, int64_t t_ns);
int cn_timeline_count(const cn_timeline *tl); /* bins kept, the folded ones as one */
double cn_timeline_min(const cn_timeline *tl); /* NAN when empty */
double cn_timeline_max(const cn_timeline *tl); /* NAN when empty */
double cn_timeline_sum(const cn_timeline *tl); /* 0 when empty */
/* The last value at or before t_ns (to one bin: a bin straddling t_ns gives its first);
 * NAN when none. */
double cn_timeline_last_at(const cn_timeline *tl, int64_t t_ns);

/* ------------------------------------------------------------------ JSON config helpers */

/* CryoNav's configuration is JSON read with jansson. These helpers read typed
 * values by dotted path ("sim.nerve.depth_mm") and, on error, write one message
 * that names the file, the line of the key and the key, e.g.
 *   config/session.json:12: sim.nerve.depth_mm: expected a number, got a string
 * The document type is opaque so that users of core need not include jansson. */
typedef struct cn_json cn_json;

/* Loads and parses path. On error returns NULL and fills err (file:line:col: reason). */
cn_json *cn_json_load(const char *path, char *err, size_t err_len);
/* Parses text; `label` names it in messages. */
cn_json *cn_json_parse(const char *text, const char *label, char *err, size_t err_len);
void cn_json_free(cn_json *doc);
const char *cn_json_label(const cn_json *doc);

/* Each getter returns CN_OK and sets *out; CN_ENOENT when the key is absent
 * (out untouched, no message: the caller's default stands); CN_EINVAL with a
 * message in err when the value has the wrong type or is out of [min, max]. */
int cn_json_get_number(const cn_json *doc, const char *path, double min, double max, double *out,
                       char *err, size_t err_len);
int cn_json_get_int(const cn_json *doc, const char *path, long min, long max, long *out,
                    char *err, size_t err_len);
int cn_json_get_bool(const cn_json *doc, const char *path, bool *out, char *err, size_t err_len);
int cn_json_get_string(const cn_json *doc, const char *path, char *out, size_t out_len, char *err,
                       size_t err_len);
/* Reads an array of n numbers into out (exactly n). */
int cn_json_get_numbers(const cn_json *doc, const char *path, double *out, int n, char *err,
                        size_t err_len);
/* true when the path exists. */
bool cn_json_has(const cn_json *doc, const char *path);
/* Checks that the object at path (or the root for "") has only keys from the
 * NULL-terminated list `allowed`; an unknown key (a typo) is an error that names it. */
int cn_json_check_keys(const cn_json *doc, const char *path, const char *const *allowed, char *err,
                       size_t err_len);
/* Number of elements of the array at path, or a negative error. */
int cn_json_array_size(const cn_json *doc, const char *path);
/* Writes a formatted error naming the key at path, with its line: used by modules
 * that validate values themselves ("must be smaller than ..."). */
void cn_json_error(const cn_json *doc, const char *path, char *err, size_t err_len,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The underlying jansson json_t* of the value at path (NULL when absent): for
 * modules that link jansson themselves and walk lists of objects. */
void *cn_json_raw(const cn_json *doc, const char *path);
/* Layers: patches `over` into `base` as RFC 7386 (JSON Merge Patch) says: objects
 * merge key by key, other values replace, null removes a key. `base` keeps every
 * layer, so errors and cn_json_origin name the file and line a value came from. */
int cn_json_merge(cn_json *base, const cn_json *over, char *err, size_t err_len);
int cn_json_layers(const cn_json *doc);                 /* 1 for an unmerged document */
const char *cn_json_layer_label(const cn_json *doc, int i); /* bottom (0) to top */
/* Where the effective value at path was written: the label (file) of the top-most
 * layer that has it and its line there (0 when unknown). CN_ENOENT when absent. */
int cn_json_origin(const cn_json *doc, const char *path, const char **label, int *line);
/* Calls fn for every leaf of the effective document (depth first, objects in file
 * order; arrays and empty objects are leaves) with its dotted path and its value
 * as compact JSON text. */
int cn_json_leaves(const cn_json *doc, void (*fn)(void *ctx, const char *path, const char *value),
                   void *ctx);
/* The same with each leaf's origin (cn_json_origin's label and line), every layer's
 * text scanned once for all leaves. */
int cn_json_leaves_origin(const cn_json *doc,
                          void (*fn)(void *ctx, const char *path, const char *value,
                                     const char *label, int line),
                          void *ctx);

/* ------------------------------------------------------------------ progress */

/* A one-line progress bar for long jobs (report, recover, replay --speed 0, eval)
 * on `out`, drawn only when out is a terminal: cn_progress_new returns NULL
 * otherwise, and every function accepts NULL, so callers need no checks. Redrawn
 * at most 10 times a second: "label [=====     ]  45% 123/456 frames, 3 s left".
 * cn_progress_done clears the line and frees. */
typedef struct cn_progress cn_progress;
cn_progress *cn_progress_new(FILE *out, const char *label, const char *unit);
void cn_progress_update(cn_progress *p, double done, double total);
void cn_progress_done(cn_progress *p);
bool cn_progress_active(const cn_progress *p);

/* ------------------------------------------------------------------ small utilities */

/* Copies at most dst_len-1 bytes and always terminates. Returns strlen(src). */
size_t cn_strlcpy(char *dst, const char *src, size_t dst_len);
/* Reads a whole regular file of at most max_bytes; caller frees; '\0'-terminated.
 * NULL on failure, with errno and err naming the file and why (a folder, a pipe or a
 * device, too large, a read error). cn_file_read_all: at most CN_FILE_READ_MAX,
 * no message. */
#define CN_FILE_READ_MAX ((size_t)1 << 30)
char *cn_file_read(const char *path, size_t max_bytes, size_t *len_out, char *err,
                   size_t err_len);
char *cn_file_read_all(const char *path, size_t *len_out);
/* Opens path for writing ("wb"), created or emptied, never through a symbolic link (a
 * link planted in an output folder would have the file written elsewhere); NULL with
 * err naming the file and why. */
FILE *cn_file_create(const char *path, char *err, size_t err_len);
/* Deterministic PRNG (xoshiro256**) for simulators and tests. */
typedef struct {
    uint64_t s[4];
} cn_rng;
void cn_rng_seed(cn_rng *r, uint64_t seed);
uint64_t cn_rng_next(cn_rng *r);
double cn_rng_uniform(cn_rng *r);   /* [0, 1) */
double cn_rng_normal(cn_rng *r);    /* N(0, 1) */

#ifdef __cplusplus
}
#endif
#endif /* CN_CORE_H */
