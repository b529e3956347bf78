/*
 * sim_device.c - the simulator as a pipeline device (cn_device).
 *
 * Frame i shows scene time i * time_scale / fps, so a session is reproducible frame
 * by frame whatever the machine's speed. realtime paces frames at fps on the
 * monotonic clock (a condition variable wait, so interrupt() wakes a blocked read at
 * once); otherwise frames are rendered back to back.
 */
#include "sim_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    cn_sim *sim;
    cn_sim_device_opts o;
    uint64_t i;
    int64_t t0;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool interrupted;
} simdev;

static int dev_start(void *self)
{
    simdev *d = self;
    pthread_mutex_lock(&d->mu);
    d->i = 0;
    d->t0 = cn_clock_mono_ns();
    d->interrupted = false;
    pthread_mutex_unlock(&d->mu);
    return CN_OK;
}

static int dev_read(void *self, cn_frame *f)
{
    simdev *d = self;
    const cn_sim_config *c = cn_sim_get_config(d->sim);
    pthread_mutex_lock(&d->mu);
    if (d->interrupted || (d->o.max_frames && d->i >= d->o.max_frames)) {
        pthread_mutex_unlock(&d->mu);
        return CN_ECLOSED;
    }
    double t = (double)d->i * c->time_scale / c->fps;
    double dur = cn_sim_duration_s(d->sim);
    if (t > dur + 1e-9) {
        if (!d->o.loop) {
            pthread_mutex_unlock(&d->mu);
            return CN_ECLOSED;
        }
        t = fmod(t, dur);
    }
    if (d->o.realtime) {
        int64_t period = (int64_t)llround(1e9 / c->fps);
        int64_t target = d->t0 + (int64_t)d->i * period;
        int64_t now = cn_clock_mono_ns();
        while (!d->interrupted && now < target) {
            struct timespec ts = {.tv_sec = target / 1000000000LL, .tv_nsec = target % 1000000000LL};
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            now = cn_clock_mono_ns();
        }
        if (d->interrupted) {
            pthread_mutex_unlock(&d->mu);
            return CN_ECLOSED;
        }
        /* far behind (machine suspended, debugger): restart the schedule, no burst */
        if (now - target > 4 * period)
            d->t0 += now - target;
    }
    uint64_t seq = d->i++;
    pthread_mutex_unlock(&d->mu);
    int64_t t_acq = cn_clock_mono_ns(), wall = cn_clock_wall_ns();
    int rc = cn_sim_render(d->sim, t, f);
    if (rc != CN_OK)
        return rc;
    f->seq = seq;
    f->t_acq_ns = t_acq;
    f->wall_ns = wall;
    f->t_scene_ns = (int64_t)llround(t * 1e9); /* the scenario's clock */
    return CN_OK;
}

static void dev_interrupt(void *self)
{
    simdev *d = self;
    pthread_mutex_lock(&d->mu);
    d->interrupted = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void dev_stop(void *self) { dev_interrupt(self); }

int cn_sim_device_make(cn_sim *s, const cn_sim_device_opts *o, cn_device *out)
{
    if (!s || !out)
        return CN_EINVAL;
    simdev *d = calloc(1, sizeof *d);
    if (!d)
        return CN_ENOMEM;
    d->sim = s;
    if (o)
        d->o = *o;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    d->t0 = cn_clock_mono_ns();
    *out = (cn_device){.name = "sim",
                       .self = d,
                       .start = dev_start,
                       .read = dev_read,
                       .interrupt = dev_interrupt,
                       .stop = dev_stop};
    return CN_OK;
}

void cn_sim_device_release(cn_device *dev)
{
    if (!dev || !dev->self)
        return;
    simdev *d = dev->self;
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    dev->self = NULL;
}
