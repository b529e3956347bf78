/* pipeline.c - device thread -> latest-wins slot -> analysis thread -> sinks.
 *
 * Two single-frame slots carry frames between threads, each guarded by one mutex
 * and a condition variable:
 *   latest: written by the device thread, taken by the analysis thread. Writing
 *           over an untaken frame drops it and counts it as skipped: analysis
 *           always works on the newest frame and lag can never build up.
 *   result: the newest analysed frame, read (with a reference) by the viewer.
 *           Writing over a result nobody took counts it as superseded: the viewer
 *           draws the newest, and the run's summary accounts for every analysed
 *           frame (a windowed run used to end "analysed 200 shown 199 skipped 0").
 * A slot owns one reference to the frame it holds. Raw sinks (recorders) see every
 * acquired frame on the device thread; analysed sinks (network) see every analysed
 * frame on the analysis thread. Neither may block: they keep their own queues. */
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STAGES 8
#define MAX_SINKS 8
#define STATS_WINDOW 4096

struct cn_pipeline {
    cn_pipeline_opts opts;
    cn_frame_pool *pool;
    cn_device dev;
    bool has_dev;
    cn_stage stages[MAX_STAGES];
    int n_stages;
    cn_sink sinks[MAX_SINKS], raw_sinks[MAX_SINKS];
    int n_sinks, n_raw_sinks;

    pthread_t dev_thread, ana_thread;
    bool started;
    atomic_bool stopping;

    pthread_mutex_t mu;       /* guards the slots, flags and counters below */
    pthread_cond_t latest_cv, result_cv, ended_cv;
    cn_frame *latest, *result;
    bool dev_ended, ana_ended;
    int last_error;
    uint64_t acquired, analysed, skipped, pool_exhausted, shown;
    uint64_t result_no;       /* number of the frame in the result slot */
    uint64_t taken_no;        /* the highest result number a reader has taken */
    uint64_t superseded;      /* results replaced before any reader took them */
    int64_t t_first_analysed_ns, t_last_analysed_ns;

    cn_stats *lat_analysed_ms, *lat_shown_ms, *analysis_ms;
};

cn_pipeline *cn_pipeline_new(const cn_pipeline_opts *opts)
{
    cn_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (opts)
        p->opts = *opts;
    if (p->opts.pool_frames <= 0)
        p->opts.pool_frames = 16;
    if (p->opts.max_width <= 0)
        p->opts.max_width = 1024;
    if (p->opts.max_height <= 0)
        p->opts.max_height = 1024;
    p->pool = cn_frame_pool_new(p->opts.pool_frames, p->opts.max_width, p->opts.max_height);
    p->lat_analysed_ms = cn_stats_new(STATS_WINDOW);
    p->lat_shown_ms = cn_stats_new(STATS_WINDOW);
    p->analysis_ms = cn_stats_new(STATS_WINDOW);
    if (!p->pool || !p->lat_analysed_ms || !p->lat_shown_ms || !p->analysis_ms) {
        cn_frame_pool_free(p->pool);
        cn_stats_free(p->lat_analysed_ms);
        cn_stats_free(p->lat_shown_ms);
        cn_stats_free(p->analysis_ms);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->latest_cv, &ca);
    pthread_cond_init(&p->result_cv, &ca);
    pthread_cond_init(&p->ended_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->stopping, false);
    return p;
}

void cn_pipeline_free(cn_pipeline *p)
{
    if (!p)
        return;
    cn_pipeline_stop(p);
    if (cn_frame_pool_free(p->pool) != CN_OK)
        cn_log_error(p->opts.log, "pipeline",
                     "frames still referenced at shutdown: the pool is leaked rather than freed");
    cn_stats_free(p->lat_analysed_ms);
    cn_stats_free(p->lat_shown_ms);
    cn_stats_free(p->analysis_ms);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->latest_cv);
    pthread_cond_destroy(&p->result_cv);
    pthread_cond_destroy(&p->ended_cv);
    free(p);
}

cn_frame_pool *cn_pipeline_pool(cn_pipeline *p) { return p->pool; }

int cn_pipeline_set_device(cn_pipeline *p, const cn_device *dev)
{
    if (p->started || !dev || !dev->read)
        return CN_EINVAL;
    p->dev = *dev;
    p->has_dev = true;
    return CN_OK;
}

int cn_pipeline_add_stage(cn_pipeline *p, const cn_stage *s)
{
    if (p->started || !s || !s->process)
        return CN_EINVAL;
    if (p->n_stages == MAX_STAGES)
        return CN_ENOMEM;
    p->stages[p->n_stages++] = *s;
    return CN_OK;
}

static int add_sink(cn_pipeline *p, cn_sink *arr, int *n, const cn_sink *s)
{
    if (p->started || !s || !s->consume)
        return CN_EINVAL;
    if (*n == MAX_SINKS)
        return CN_ENOMEM;
    arr[(*n)++] = *s;
    return CN_OK;
}

int cn_pipeline_add_sink(cn_pipeline *p, const cn_sink *s) { return add_sink(p, p->sinks, &p->n_sinks, s); }
int cn_pipeline_add_raw_sink(cn_pipeline *p, const cn_sink *s)
{
    return add_sink(p, p->raw_sinks, &p->n_raw_sinks, s);
}

static struct timespec deadline_after(int64_t ns)
{
    int64_t t = cn_clock_mono_ns() + (ns < 0 ? 0 : ns);
    return (struct timespec){.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
}

static void *device_main(void *arg)
{
    cn_pipeline *p = arg;
    int err = CN_OK;
    while (!atomic_load(&p->stopping)) {
        cn_frame *f = cn_frame_pool_acquire(p->pool);
        if (!f) {
            /* Every frame is held by a sink or the viewer. Waiting is right: a
             * recorder must never lose frames, and the shortage clears as soon as
             * any holder lets go. */
            pthread_mutex_lock(&p->mu);
            p->pool_exhausted++;
            pthread_mutex_unlock(&p->mu);
            cn_clock_sleep_ns(500000);
            continue;
        }
        int rc = p->dev.read(p->dev.self, f);
        if (rc == CN_EAGAIN) {
            cn_frame_unref(f);
            continue;
        }
        if (rc != CN_OK) {
            cn_frame_unref(f);
            if (rc != CN_ECLOSED) {
                err = rc;
                cn_log_error(p->opts.log, "pipeline", "device '%s' failed: %s",
                             p->dev.name ? p->dev.name : "?", cn_strerror(rc));
            }
            break;
        }
        /* A live source's scene time is its acquisition time; the simulator and
         * replays set their own (scaled or recorded) scene clock. */
        if (f->t_scene_ns == CN_SCENE_TIME_UNSET)
            f->t_scene_ns = f->t_acq_ns;
        for (int i = 0; i < p->n_raw_sinks; i++)
            p->raw_sinks[i].consume(p->raw_sinks[i].self, f);
        pthread_mutex_lock(&p->mu);
        p->acquired++;
        cn_frame *old = p->latest;
        if (old)
            p->skipped++;
        p->latest = f; /* the slot takes our reference */
        pthread_cond_signal(&p->latest_cv);
        pthread_mutex_unlock(&p->mu);
        if (old)
            cn_frame_unref(old);
    }
    pthread_mutex_lock(&p->mu);
    p->dev_ended = true;
    p->last_error = err;
    pthread_cond_broadcast(&p->latest_cv);
    pthread_cond_broadcast(&p->ended_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *analysis_main(void *arg)
{
    cn_pipeline *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->latest && !p->dev_ended && !atomic_load(&p->stopping))
            pthread_cond_wait(&p->latest_cv, &p->mu);
        cn_frame *f = p->latest;
        p->latest = NULL;
        pthread_mutex_unlock(&p->mu);
        if (!f)
            break; /* device ended (or stop) and nothing left to analyse */

        int64_t t0 = cn_clock_mono_ns();
        for (int i = 0; i < p->n_stages; i++) {
            int rc = p->stages[i].process(p->stages[i].self, f);
            if (rc != CN_OK)
                cn_log_warn(p->opts.log, "pipeline", "stage '%s' failed on frame %llu: %s",
                            p->stages[i].name ? p->stages[i].name : "?",
                            (unsigned long long)f->seq, cn_strerror(rc));
        }
        int64_t t1 = cn_clock_mono_ns();
        f->t_analysed_ns = t1;
        f->analysed = true;
        cn_stats_add(p->analysis_ms, (double)(t1 - t0 - f->t_preroll_ns) / 1e6);
        if (f->t_acq_ns > 0)
            cn_stats_add(p->lat_analysed_ms, (double)(t1 - cn_frame_t_ready(f)) / 1e6);

        for (int i = 0; i < p->n_sinks; i++)
            p->sinks[i].consume(p->sinks[i].self, f);

        pthread_mutex_lock(&p->mu);
        p->analysed++;
        if (!p->t_first_analysed_ns)
            p->t_first_analysed_ns = t1;
        p->t_last_analysed_ns = t1;
        cn_frame *old = p->result;
        if (old && p->taken_no < p->result_no)
            p->superseded++;
        p->result = f; /* the slot takes the reference we got from `latest` */
        p->result_no++;
        pthread_cond_broadcast(&p->result_cv);
        pthread_mutex_unlock(&p->mu);
        if (old)
            cn_frame_unref(old);
    }
    pthread_mutex_lock(&p->mu);
    p->ana_ended = true;
    pthread_cond_broadcast(&p->result_cv);
    pthread_cond_broadcast(&p->ended_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cn_pipeline_start(cn_pipeline *p)
{
    if (p->started || !p->has_dev)
        return CN_EINVAL;
    if (p->dev.start) {
        int rc = p->dev.start(p->dev.self);
        if (rc != CN_OK)
            return rc;
    }
    atomic_store(&p->stopping, false);
    p->started = true;
    if (pthread_create(&p->dev_thread, NULL, device_main, p) != 0) {
        p->started = false;
        return CN_EIO;
    }
    if (pthread_create(&p->ana_thread, NULL, analysis_main, p) != 0) {
        atomic_store(&p->stopping, true);
        if (p->dev.interrupt)
            p->dev.interrupt(p->dev.self);
        pthread_join(p->dev_thread, NULL);
        p->started = false;
        return CN_EIO;
    }
    return CN_OK;
}

void cn_pipeline_stop(cn_pipeline *p)
{
    if (!p->started)
        return;
    atomic_store(&p->stopping, true);
    if (p->dev.interrupt)
        p->dev.interrupt(p->dev.self);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->latest_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->dev_thread, NULL);
    pthread_join(p->ana_thread, NULL);
    if (p->dev.stop)
        p->dev.stop(p->dev.self);
    pthread_mutex_lock(&p->mu);
    cn_frame *a = p->latest, *b = p->result;
    p->latest = p->result = NULL;
    pthread_mutex_unlock(&p->mu);
    cn_frame_unref(a);
    cn_frame_unref(b);
    p->started = false;
}

bool cn_pipeline_running(cn_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    bool r = p->started && !p->dev_ended;
    pthread_mutex_unlock(&p->mu);
    return r;
}

bool cn_pipeline_stopping(cn_pipeline *p)
{
    return atomic_load(&p->stopping);
}

int cn_pipeline_wait(cn_pipeline *p, int64_t timeout_ns)
{
    struct timespec dl = deadline_after(timeout_ns);
    int rc = CN_OK;
    pthread_mutex_lock(&p->mu);
    while (!(p->dev_ended && p->ana_ended)) {
        if (pthread_cond_timedwait(&p->ended_cv, &p->mu, &dl) != 0) {
            rc = (p->dev_ended && p->ana_ended) ? CN_OK : CN_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static cn_frame *take_result_locked(cn_pipeline *p, uint64_t *cursor)
{
    cn_frame *f = p->result;
    if (f && p->result_no > *cursor) {
        cn_frame_ref(f);
        *cursor = p->result_no;
        if (p->result_no > p->taken_no)
            p->taken_no = p->result_no;
        return f;
    }
    return NULL;
}

cn_frame *cn_pipeline_latest_result(cn_pipeline *p, uint64_t *cursor)
{
    pthread_mutex_lock(&p->mu);
    cn_frame *f = take_result_locked(p, cursor);
    pthread_mutex_unlock(&p->mu);
    return f;
}

cn_frame *cn_pipeline_wait_result(cn_pipeline *p, uint64_t *cursor, int64_t timeout_ns)
{
    struct timespec dl = deadline_after(timeout_ns);
    pthread_mutex_lock(&p->mu);
    cn_frame *f;
    while (!(f = take_result_locked(p, cursor)) && !p->ana_ended) {
        if (pthread_cond_timedwait(&p->result_cv, &p->mu, &dl) != 0)
            break;
    }
    if (!f) /* the last result is published before ana_ended is set, under this lock */
        f = take_result_locked(p, cursor);
    pthread_mutex_unlock(&p->mu);
    return f;
}

bool cn_pipeline_finished(cn_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    bool done = !p->started || (p->dev_ended && p->ana_ended);
    pthread_mutex_unlock(&p->mu);
    return done;
}

void cn_pipeline_mark_shown(cn_pipeline *p, cn_frame *f, int64_t t_shown_ns)
{
    f->t_shown_ns = t_shown_ns;
    if (f->t_acq_ns > 0)
        cn_stats_add(p->lat_shown_ms, (double)(t_shown_ns - cn_frame_t_ready(f)) / 1e6);
    pthread_mutex_lock(&p->mu);
    p->shown++;
    pthread_mutex_unlock(&p->mu);
}

void cn_pipeline_get_stats(cn_pipeline *p, cn_pipeline_stats *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&p->mu);
    o->acquired = p->acquired;
    o->analysed = p->analysed;
    o->skipped = p->skipped;
    o->superseded = p->superseded;
    o->pool_exhausted = p->pool_exhausted;
    o->shown = p->shown;
    o->last_error = p->last_error;
    int64_t span = p->t_last_analysed_ns - p->t_first_analysed_ns;
    o->fps = (p->analysed > 1 && span > 0) ? (double)(p->analysed - 1) * 1e9 / (double)span : 0.0;
    pthread_mutex_unlock(&p->mu);
    o->analysed_latency_ms_p50 = cn_stats_percentile(p->lat_analysed_ms, 50);
    o->analysed_latency_ms_p99 = cn_stats_percentile(p->lat_analysed_ms, 99);
    o->shown_latency_ms_p50 = cn_stats_percentile(p->lat_shown_ms, 50);
    o->shown_latency_ms_p99 = cn_stats_percentile(p->lat_shown_ms, 99);
    o->analysis_ms_p50 = cn_stats_percentile(p->analysis_ms, 50);
    o->analysis_ms_p99 = cn_stats_percentile(p->analysis_ms, 99);
}
