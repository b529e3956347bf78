/*
 * replay.c - the replay device: a sequence file read frame by frame and paced on
 * the monotonic clock.
 *
 * Pacing uses an anchor (mono time, recorded timestamp) set when replay starts,
 * resumes, seeks, loops or changes speed: frame i is due at
 *   mono_anchor + (ts_i - ts_anchor) / speed
 * and carries t_acq_ns = acq_anchor + (ts_i - ts_anchor), the recorded deltas, so
 * analysis sees the original timing at any speed. Waits are condition-variable
 * waits so pause, seek and interrupt take effect at once. The reader is used only
 * by the device thread; controls only set fields under the mutex.
 */
#include "replay/replay.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cn_replay {
    cn_seq_reader *rd;
    cn_replay_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool paused, interrupted, reanchor;
    bool show_one;    /* emit one frame now even though paused (a step or a skip) */
    double skip_s;    /* a jump by recorded time the device thread resolves (0: none) */
    int next, pos;
    double speed;
    bool loop;
    uint64_t loops, emitted;
    /* anchor */
    bool anchored;
    int64_t mono_anchor, acq_anchor;
    double ts_anchor, prev_ts;
    int64_t last_acq;
    char path[1024];
};

static void timespec_at_mono(int64_t mono_ns, struct timespec *ts) {
    /* pthread_cond_timedwait uses CLOCK_REALTIME: convert a mono deadline */
    int64_t d = mono_ns - cn_clock_mono_ns();
    if (d < 0) d = 0;
    if (d > 200000000) d = 200000000; /* re-check at least every 200 ms */
    int64_t w = cn_clock_wall_ns() + d;
    ts->tv_sec = (time_t)(w / 1000000000);
    ts->tv_nsec = (long)(w % 1000000000);
}

cn_replay *cn_replay_new(const char *path, const cn_replay_opts *o, char *err, size_t err_len) {
    cn_replay *rp = calloc(1, sizeof *rp);
    if (!rp) return NULL;
    if (o) rp->o = *o;
    else rp->o.speed = 1;
    rp->rd = cn_seq_reader_open(path, err, err_len);
    if (!rp->rd) {
        free(rp);
        return NULL;
    }
    const cn_seq_info *in = cn_seq_reader_info(rp->rd);
    if (in->frame_bytes == 0 || in->n_frames == 0) {
        snprintf(err, err_len, "%s: no image frames to replay (tracker-only or empty file)", path);
        cn_seq_reader_close(rp->rd);
        free(rp);
        return NULL;
    }
    if (in->pixel != CN_PIX_UINT8) {
        snprintf(err, err_len, "%s: pixel type %s cannot be replayed (uint8 only)", path,
                 in->pixel_name ? in->pixel_name : "?");
        cn_seq_reader_close(rp->rd);
        free(rp);
        return NULL;
    }
    if (rp->o.speed < 0 || !isfinite(rp->o.speed)) rp->o.speed = 1;
    rp->speed = rp->o.speed;
    rp->loop = rp->o.loop;
    rp->next = rp->o.start_frame >= 0 && rp->o.start_frame < in->n_frames ? rp->o.start_frame : 0;
    rp->pos = -1;
    cn_strlcpy(rp->path, path, sizeof rp->path);
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->cv, NULL);
    return rp;
}

void cn_replay_free(cn_replay *rp) {
    if (!rp) return;
    cn_seq_reader_close(rp->rd);
    pthread_mutex_destroy(&rp->mu);
    pthread_cond_destroy(&rp->cv);
    free(rp);
}

const cn_seq_info *cn_replay_info(const cn_replay *rp) { return cn_seq_reader_info(rp->rd); }
int cn_replay_frame_count(const cn_replay *rp) { return cn_seq_reader_info(rp->rd)->n_frames; }

static int rp_start(void *self) {
    cn_replay *rp = self;
    pthread_mutex_lock(&rp->mu);
    rp->interrupted = false;
    rp->anchored = false;
    pthread_mutex_unlock(&rp->mu);
    return CN_OK;
}

static void rp_interrupt(void *self) {
    cn_replay *rp = self;
    pthread_mutex_lock(&rp->mu);
    rp->interrupted = true;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

static void rp_stop(void *self) { rp_interrupt(self); }

/* The frame dt_s of recorded time away from frame `from` (clamped to the file);
 * frames without a timestamp count as 1/30 s. */
static int skip_target(cn_seq_reader *rd, int from, double dt_s, int n) {
    if (from < 0) from = 0;
    if (from >= n) from = n - 1;
    int step = dt_s > 0 ? 1 : -1, j = from;
    double t0 = cn_seq_reader_timestamp(rd, from), walked = 0;
    while (j + step >= 0 && j + step < n) {
        j += step;
        double t = cn_seq_reader_timestamp(rd, j);
        walked = isfinite(t) && isfinite(t0) ? fabs(t - t0) : walked + 1.0 / 30;
        if (walked >= fabs(dt_s) - 1e-6) break; /* timestamps are stored in microseconds */
    }
    return j;
}

static int rp_read(void *self, cn_frame *f) {
    cn_replay *rp = self;
    char err[512];
    pthread_mutex_lock(&rp->mu);
    for (;;) {
        while (rp->paused && !rp->show_one && !rp->interrupted) pthread_cond_wait(&rp->cv, &rp->mu);
        if (rp->interrupted) {
            pthread_mutex_unlock(&rp->mu);
            return CN_ECLOSED;
        }
        int n = cn_seq_reader_info(rp->rd)->n_frames;
        if (rp->skip_s != 0) {
            /* resolved here: only this thread may use the reader */
            double dt = rp->skip_s;
            int from = rp->pos >= 0 ? rp->pos : rp->next;
            rp->skip_s = 0;
            pthread_mutex_unlock(&rp->mu);
            int to = skip_target(rp->rd, from, dt, n);
            pthread_mutex_lock(&rp->mu);
            rp->next = to;
            rp->reanchor = true;
        }
        bool one = rp->paused && rp->show_one; /* shown at once, without pacing */
        rp->show_one = false;
        if (rp->next >= n) {
            if (!rp->loop) {
                pthread_mutex_unlock(&rp->mu);
                return CN_ECLOSED;
            }
            rp->next = 0;
            rp->loops++;
            rp->reanchor = true;
        }
        int i = rp->next;
        pthread_mutex_unlock(&rp->mu);
        /* read outside the lock: only this thread uses the reader */
        int rc = cn_seq_reader_read_frame(rp->rd, i, f, err, sizeof err);
        if (rc) {
            cn_log_error(rp->o.log, "replay", "%s", err);
            return rc;
        }
        double ts = cn_seq_reader_timestamp(rp->rd, i);
        if (!isfinite(ts)) ts = rp->prev_ts + 1.0 / 30; /* frame without a timestamp */
        pthread_mutex_lock(&rp->mu);
        if (rp->next != i) continue; /* seeked meanwhile */
        if (!rp->anchored || rp->reanchor || ts < rp->prev_ts) {
            int64_t now = cn_clock_mono_ns();
            rp->mono_anchor = now;
            rp->acq_anchor = now > rp->last_acq + 1000000 ? now : rp->last_acq + 1000000;
            rp->ts_anchor = ts;
            rp->anchored = true;
            rp->reanchor = false;
        }
        int64_t rec_delta = llround((ts - rp->ts_anchor) * 1e9);
        if (one)
            rp->reanchor = true; /* playing on starts from here */
        if (rp->speed > 0 && !one) {
            int64_t due = rp->mono_anchor + (int64_t)((double)rec_delta / rp->speed);
            bool restart = false;
            while (!rp->interrupted && cn_clock_mono_ns() < due) {
                struct timespec tsw;
                timespec_at_mono(due, &tsw);
                pthread_cond_timedwait(&rp->cv, &rp->mu, &tsw);
                if (rp->paused || rp->next != i || rp->reanchor) {
                    restart = true;
                    break;
                }
            }
            if (restart) continue;
            if (rp->interrupted) {
                pthread_mutex_unlock(&rp->mu);
                return CN_ECLOSED;
            }
        }
        f->t_acq_ns = rp->acq_anchor + rec_delta;
        if (f->t_acq_ns <= rp->last_acq) f->t_acq_ns = rp->last_acq + 1;
        rp->last_acq = f->t_acq_ns;
        if (f->wall_ns == 0) f->wall_ns = cn_clock_wall_ns();
        f->seq = ++rp->emitted;
        f->t_analysed_ns = f->t_sent_ns = f->t_shown_ns = 0;
        if (!rp->o.keep_analysis) {
            f->analysed = false;
            memset(&f->analysis, 0, sizeof f->analysis);
            f->analysis.guidance.coverage = -1;
        }
        rp->prev_ts = ts;
        rp->pos = i;
        rp->next = i + 1;
        pthread_mutex_unlock(&rp->mu);
        return CN_OK;
    }
}

void cn_replay_device(cn_replay *rp, cn_device *out) {
    *out = (cn_device){"replay", rp, rp_start, rp_read, rp_interrupt, rp_stop};
}

int cn_replay_device_make(const char *path, const cn_replay_opts *o, cn_device *out, char *err,
                          size_t err_len) {
    cn_replay *rp = cn_replay_new(path, o, err, err_len);
    if (!rp) return CN_EINVAL;
    cn_replay_device(rp, out);
    return CN_OK;
}

void cn_replay_device_release(cn_device *dev) {
    if (!dev || !dev->self) return;
    cn_replay_free(dev->self);
    dev->self = NULL;
}

cn_replay *cn_replay_from_device(const cn_device *dev) {
    return dev && dev->name && strcmp(dev->name, "replay") == 0 ? dev->self : NULL;
}

void cn_replay_pause(cn_replay *rp, bool paused) {
    pthread_mutex_lock(&rp->mu);
    if (rp->paused && !paused) rp->reanchor = true;
    rp->paused = paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

bool cn_replay_paused(cn_replay *rp) {
    pthread_mutex_lock(&rp->mu);
    bool p = rp->paused;
    pthread_mutex_unlock(&rp->mu);
    return p;
}

int cn_replay_seek(cn_replay *rp, int frame) {
    int n = cn_replay_frame_count(rp);
    if (frame < 0 || frame >= n) return CN_ERANGE;
    pthread_mutex_lock(&rp->mu);
    rp->next = frame;
    rp->reanchor = true;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    return CN_OK;
}

int cn_replay_step(cn_replay *rp, int frames) {
    int n = cn_replay_frame_count(rp);
    pthread_mutex_lock(&rp->mu);
    int from = rp->pos >= 0 ? rp->pos : rp->next - 1;
    int to = from + frames;
    to = to < 0 ? 0 : (to >= n ? n - 1 : to);
    rp->next = to;
    rp->reanchor = true;
    rp->show_one = rp->paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    return to;
}

void cn_replay_skip(cn_replay *rp, double dt_s) {
    if (!isfinite(dt_s) || dt_s == 0) return;
    pthread_mutex_lock(&rp->mu);
    rp->skip_s += dt_s;
    rp->show_one = rp->paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

void cn_replay_set_speed(cn_replay *rp, double speed) {
    if (!(speed >= 0) || !isfinite(speed)) return;
    pthread_mutex_lock(&rp->mu);
    rp->speed = speed;
    rp->reanchor = true;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

void cn_replay_set_loop(cn_replay *rp, bool loop) {
    pthread_mutex_lock(&rp->mu);
    rp->loop = loop;
    pthread_mutex_unlock(&rp->mu);
}

int cn_replay_position(cn_replay *rp) {
    pthread_mutex_lock(&rp->mu);
    int p = rp->pos;
    pthread_mutex_unlock(&rp->mu);
    return p;
}

uint64_t cn_replay_loops(cn_replay *rp) {
    pthread_mutex_lock(&rp->mu);
    uint64_t l = rp->loops;
    pthread_mutex_unlock(&rp->mu);
    return l;
}
