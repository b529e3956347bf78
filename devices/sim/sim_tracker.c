/*
 * sim_tracker.c - the simulator's tracker alone, as a tracking device.
 *
 * A session may take images from a USB probe (or a recording) and poses from
 * the simulated scene, e.g. to try the 3-D view with a probe on the desk. A
 * tracker is a clock-driven stream of timed poses, so this is one: a thread wakes
 * rate_hz times a second (condition-variable waits, so stop is immediate) and
 * writes the three tracked poses of the scene time (now - start) x time_scale
 * into the transform graph with the monotonic time it computed them for. The
 * image frames are placed by querying the graph at their own acquisition time
 * (devices/registry), exactly as with a real tracker. ImageToProbe is not
 * written: it belongs to the image device (the simulator's calibration would be
 * wrong for another probe's image).
 */
#include "sim_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    cn_sim *sim;
    cn_xform_graph *graph;
    int64_t period_ns;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
} simtrk;

static void *tracker_main(void *arg)
{
    simtrk *d = arg;
    const cn_sim_config *c = cn_sim_get_config(d->sim);
    double dur = cn_sim_duration_s(d->sim);
    int64_t t0 = cn_clock_mono_ns(), next = t0;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        pthread_mutex_unlock(&d->mu);
        int64_t now = cn_clock_mono_ns();
        double t = (double)(now - t0) / 1e9 * c->time_scale;
        if (dur > 0)
            t = fmod(t, dur);
        cn_mat4 p2t, c2t, r2t;
        cn_sim_tracker_at(d->sim, t, &p2t, &c2t, &r2t);
        cn_xform_graph_set(d->graph, "ProbeToTracker", &p2t, now, true);
        cn_xform_graph_set(d->graph, "CryoprobeToTracker", &c2t, now, true);
        cn_xform_graph_set(d->graph, "ReferenceToTracker", &r2t, now, true);
        next += d->period_ns;
        if (next < now) /* far behind (suspended): no burst */
            next = now + d->period_ns;
        struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
        pthread_mutex_lock(&d->mu);
        while (!d->stop && cn_clock_mono_ns() < next)
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static int trk_start(void *self)
{
    simtrk *d = self;
    if (d->running)
        return CN_OK;
    d->stop = false;
    if (pthread_create(&d->thread, NULL, tracker_main, d) != 0)
        return CN_EIO;
    d->running = true;
    return CN_OK;
}

static void trk_stop(void *self)
{
    simtrk *d = self;
    if (!d->running)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    d->running = false;
}

static void trk_release(void *self)
{
    simtrk *d = self;
    trk_stop(d);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int cn_sim_tracker_make(cn_sim *s, const cn_sim_tracker_opts *o, cn_xform_graph *graph,
                        cn_device *out)
{
    if (!s || !graph || !out)
        return CN_EINVAL;
    simtrk *d = calloc(1, sizeof *d);
    if (!d)
        return CN_ENOMEM;
    double hz = o && o->rate_hz > 0 ? o->rate_hz : 60.0;
    if (hz > 1000)
        hz = 1000;
    d->sim = s;
    d->graph = graph;
    d->period_ns = (int64_t)llround(1e9 / hz);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    *out = (cn_device){.name = "sim-tracker", .self = d, .start = trk_start, .read = NULL,
                       .interrupt = NULL, .stop = trk_stop, .release = trk_release};
    return CN_OK;
}
