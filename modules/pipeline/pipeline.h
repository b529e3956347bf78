/*
 * pipeline.h - the real-time pipeline: device thread -> analysis thread -> sinks.
 *
 * The idea: frames must never queue up lag. A device thread fills frames from the
 * pool and publishes each one into a single "latest" slot; the analysis thread
 * always takes the newest frame and counts the ones it skipped (latest-wins).
 * Analysed frames go to a second "latest result" slot the viewer polls, and to
 * every registered sink. Sinks that must see every acquired frame (a recorder)
 * register as raw sinks: they are called on the device thread and must not block
 * (they keep their own bounded buffer and report overflow loudly).
 *
 * Every frame carries t_acq_ns, t_analysed_ns and t_shown_ns; the pipeline keeps
 * latency percentiles (acquisition -> analysed, acquisition -> shown).
 *
 * Devices (simulator, USB probe, replay, OpenIGTLink) all implement cn_device,
 * the PLUS idea of one interface for every source.
 */
#ifndef CN_PIPELINE_H
#define CN_PIPELINE_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A source of frames. `read` blocks until the next frame is ready and fills `f`
 * (a frame acquired from the pipeline's pool: set size, pixels, times, poses).
 * Returns CN_OK, CN_ECLOSED at the end of the stream (the pipeline stops), or
 * another negative code for an error (logged; the pipeline stops unless
 * the device says it may retry by returning CN_EAGAIN). */
typedef struct cn_device {
    const char *name;   /* "sim", "usb", "replay", ... */
    void *self;
    int (*start)(void *self);
    int (*read)(void *self, cn_frame *f);
    /* Makes a blocked read return CN_ECLOSED soon. Called from another thread. */
    void (*interrupt)(void *self);
    void (*stop)(void *self);
    /* Frees the device (after stop; the pipeline never calls it: the owner does,
     * e.g. cn_device_set_free in devices/registry). May be NULL. A tracking-only
     * device (poses into a transform graph, devices/registry) has read == NULL. */
    void (*release)(void *self);
} cn_device;

/* An analysis stage, run in order on the analysis thread. Returns CN_OK or an
 * error (logged, the frame is still published). */
typedef struct cn_stage {
    const char *name;
    void *self;
    int (*process)(void *self, cn_frame *f);
} cn_stage;

/* A sink: consume() gets a frame it may cn_frame_ref() to keep. */
typedef struct cn_sink {
    const char *name;
    void *self;
    void (*consume)(void *self, cn_frame *f);
} cn_sink;

typedef struct {
    int pool_frames;          /* frames in the pool (default 16) */
    int max_width, max_height;/* pixel buffer size of each frame */
    double max_fps;           /* device pacing is the device's business; 0 */
    cn_log *log;              /* may be NULL */
} cn_pipeline_opts;

typedef struct cn_pipeline cn_pipeline;

cn_pipeline *cn_pipeline_new(const cn_pipeline_opts *opts);
void cn_pipeline_free(cn_pipeline *p);   /* stops first */
cn_frame_pool *cn_pipeline_pool(cn_pipeline *p);
/* Wiring, before start. */
int cn_pipeline_set_device(cn_pipeline *p, const cn_device *dev);
int cn_pipeline_add_stage(cn_pipeline *p, const cn_stage *stage);
int cn_pipeline_add_sink(cn_pipeline *p, const cn_sink *sink);      /* analysed frames */
int cn_pipeline_add_raw_sink(cn_pipeline *p, const cn_sink *sink);  /* every acquired frame */
/* Starts the device and analysis threads. */
int cn_pipeline_start(cn_pipeline *p);
/* Stops both threads (device interrupted), waits for them. Idempotent. */
void cn_pipeline_stop(cn_pipeline *p);
/* true while the device is producing (false after end of stream or error). */
bool cn_pipeline_running(cn_pipeline *p);
/* true once cn_pipeline_stop began: a stage doing long work (a replay's catch-up)
 * checks it and returns early. Any thread. */
bool cn_pipeline_stopping(cn_pipeline *p);
/* Waits until the device has ended (CN_OK) or timeout (CN_ETIMEDOUT). */
int cn_pipeline_wait(cn_pipeline *p, int64_t timeout_ns);
/* Results are numbered 1, 2, 3 ... in the order the analysis published them; a
 * consumer keeps a cursor (start it at 0). The newest analysed frame with one
 * reference for the caller (unref it) when one newer than *cursor exists, else
 * NULL; *cursor is advanced to it. Source sequence numbers are not used for this
 * because sources may start at 0 or restart (a replugged probe, a looped replay). */
cn_frame *cn_pipeline_latest_result(cn_pipeline *p, uint64_t *cursor);
/* Waits up to timeout for a result newer than *cursor. NULL on timeout or when the
 * pipeline has finished (see cn_pipeline_finished) with nothing newer. */
cn_frame *cn_pipeline_wait_result(cn_pipeline *p, uint64_t *cursor, int64_t timeout_ns);
/* true once the device ended and the analysis has published its last result. */
bool cn_pipeline_finished(cn_pipeline *p);
/* The viewer tells when it drew a frame (records shown latency). */
void cn_pipeline_mark_shown(cn_pipeline *p, cn_frame *f, int64_t t_shown_ns);

typedef struct {
    uint64_t acquired;        /* frames read from the device */
    uint64_t analysed;        /* frames analysed */
    uint64_t skipped;         /* acquired but never analysed (latest-wins) */
    uint64_t superseded;      /* analysed, but replaced by a newer result before any
                               * reader took it (the viewer draws the newest) */
    uint64_t pool_exhausted;  /* times the device found no free frame */
    uint64_t shown;
    double analysed_latency_ms_p50, analysed_latency_ms_p99;
    double shown_latency_ms_p50, shown_latency_ms_p99;
    double analysis_ms_p50, analysis_ms_p99;  /* time inside the stages */
    double fps;               /* analysed frames per second since start */
    int last_error;           /* device error that ended the stream, or CN_OK */
} cn_pipeline_stats;

void cn_pipeline_get_stats(cn_pipeline *p, cn_pipeline_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_PIPELINE_H */
