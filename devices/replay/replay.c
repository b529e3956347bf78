/*
 * replay.c - the replay device: a sequence file read frame by frame and paced on
 * the monotonic clock.
 *
 * Two recorded clocks: the pace (the recorded wall clock, CryoNavWallNs, when the
 * file names it: what the operator saw, also with --time-scale; else Timestamp)
 * and the scene (Timestamp: what the procedure experienced). Anchors (mono time,
 * recorded pace, recorded scene) are set when replay starts, resumes, seeks,
 * loops or changes speed: frame i is due at
 *   mono_anchor + (pace_i - pace_anchor) / speed
 * and carries t_scene_ns = its recorded scene time and t_acq_ns = acq_anchor +
 * (scene_i - scene_anchor): the recorded scene deltas, so time-dependent analysis
 * (ice growth, the Kalman filters) sees the procedure's own timing at any speed.
 * Waits are condition-variable waits so pause, seek and interrupt take effect at
 * once. The reader is used only by the device thread; controls only set fields
 * under the mutex (a jump by time is resolved on the device thread too).
 *
 * Recorded events are not analysis results to clear: they are queued as their
 * frame is emitted and handed to the analysis thread (cn_replay_take_events),
 * which replays the inputs among them (target, notes, the operator's freeze) on
 * whatever frame it analyses next - a frame skipped by latest-wins loses none.
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
    bool held;        /* cn_replay_hold: the analysis is catching up, emit nothing */
    double skip_s;    /* a jump by recorded time the device thread resolves (0: none) */
    int next, pos;
    double speed;
    bool loop;
    bool at_end;      /* hold_at_end: paused after the last frame (cn_replay_at_end) */
    uint64_t loops, emitted;
    /* anchor */
    bool anchored;
    int64_t mono_anchor, acq_anchor;
    double ts_anchor, prev_ts;     /* pace clock (s) */
    double scene_anchor, prev_scene;/* scene clock (s) */
    int64_t last_acq;
    double mean_dt_s;   /* the file's mean frame interval (s), for glitched times */
    int glitches_said;  /* out-of-order times and gaps logged (the first few only) */
    char path[1024];
    /* recorded events handed to the analysis thread */
    cn_event evq[256];
    uint64_t evq_seq[256]; /* the emitted frame (seq) each came with */
    int evq_head, evq_n;
    uint64_t ev_dropped;
    /* chapters; a jump by scene time the device thread resolves */
    cn_seq_chapter *chapters;
    int n_chapters;
    bool seek_time_pending;
    double seek_time_s;
    double t0_scene_s;  /* scene time of the first frame (NAN until known) */
    double t_first_s, t_last_s; /* the first and last frames' Timestamps (NAN: none) */
    /* frames emitted that do not follow the last one emitted (a start after the
     * first frame, a seek, a chapter, a skip, a loop), and where the last landed */
    uint64_t jumps;
    int landed;
    int jumped_from;      /* the frame emitted before the last jump (-1: none) */
    bool by_step;         /* the next frame was asked for by cn_replay_step */
    bool jump_step;       /* and so was the last jump's */
    uint64_t landed_seq;  /* the seq the landed frame was emitted with */
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
    /* PLUS writes a 1 x 1 image into each frame of a tracker's buffer: no ultrasound. It is
     * replayed (its transforms and fields, e.g. into a new recording), and said (before,
     * 10 "frames" with nothing to see, 1 mm/px assumed, and no word of it) */
    if (in->width <= 1 || in->height <= 1)
        cn_log_warn(rp->o.log, "replay", "%s: its images are %d x %d placeholders, a tracking "
                    "recording (PLUS writes one pixel a frame for a tracker): no ultrasound to "
                    "analyse or show, only its transforms and fields", path, in->width,
                    in->height);
    /* grey of any integer or float type is shown through one window from frame 0
     * (seqio, cn_seq_reader_read_frame); colour only as uint8 RGB(A) */
    if (in->pixel == CN_PIX_NONE || (in->pixel != CN_PIX_UINT8 && in->components != 1)) {
        snprintf(err, err_len, "%s: pixel type %s x %d cannot be replayed (grey of any type, "
                 "or uint8 RGB)", path, in->pixel_name ? in->pixel_name : "?", in->components);
        cn_seq_reader_close(rp->rd);
        free(rp);
        return NULL;
    }
    if (rp->o.spacing_mm[0] > 0 && rp->o.spacing_mm[1] > 0)
        cn_seq_reader_set_default_spacing(rp->rd, rp->o.spacing_mm[0], rp->o.spacing_mm[1]);
    if (cn_seq_chapters(rp->rd, &rp->chapters, &rp->n_chapters, err, err_len) != CN_OK) {
        rp->chapters = NULL;
        rp->n_chapters = 0;
    }
    rp->t0_scene_s = cn_seq_reader_timestamp(rp->rd, 0);
    {
        double t_end = cn_seq_reader_timestamp(rp->rd, in->n_frames - 1);
        rp->t_first_s = rp->t0_scene_s;
        rp->t_last_s = t_end;
        rp->mean_dt_s = in->n_frames > 1 && isfinite(rp->t0_scene_s) && isfinite(t_end) &&
                                t_end > rp->t0_scene_s
                            ? (t_end - rp->t0_scene_s) / (in->n_frames - 1)
                            : 1.0 / 30;
        if (rp->mean_dt_s > 1.0) rp->mean_dt_s = 1.0;
    }
    if (rp->o.speed < 0 || !isfinite(rp->o.speed)) rp->o.speed = 1;
    rp->speed = rp->o.speed;
    rp->loop = rp->o.loop;
    rp->next = rp->o.start_frame >= 0 && rp->o.start_frame < in->n_frames ? rp->o.start_frame : 0;
    rp->pos = -1;
    rp->jumped_from = -1;
    rp->landed_seq = 1; /* the first frame emitted (seq 1) is frame `landed` until a jump */
    cn_strlcpy(rp->path, path, sizeof rp->path);
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->cv, NULL);
    return rp;
}

void cn_replay_free(cn_replay *rp) {
    if (!rp) return;
    if (rp->ev_dropped)
        cn_log_warn(rp->o.log, "replay", "%llu recorded events were not replayed (queue full)",
                    (unsigned long long)rp->ev_dropped);
    free(rp->chapters);
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

/* The first frame at or after scene time t_s from the first frame: a binary
 * search over the (usually increasing) timestamps, then a short walk. */
static int time_target(cn_seq_reader *rd, double t0, double t_s, int n) {
    if (!isfinite(t0)) return t_s <= 0 ? 0 : (int)fmin(n - 1, t_s * 30);
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        double t = cn_seq_reader_timestamp(rd, mid);
        if (isfinite(t) && t - t0 < t_s - 1e-6) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void queue_events(cn_replay *rp, const cn_event *ev, int n, uint64_t seq) {
    for (int i = 0; i < n; i++) {
        if (rp->evq_n == (int)(sizeof rp->evq / sizeof rp->evq[0])) {
            rp->ev_dropped++;
            continue;
        }
        int k = (rp->evq_head + rp->evq_n) % (int)(sizeof rp->evq / sizeof rp->evq[0]);
        rp->evq[k] = ev[i];
        rp->evq_seq[k] = seq;
        rp->evq_n++;
    }
}

static int rp_read(void *self, cn_frame *f) {
    cn_replay *rp = self;
    char err[512];
    pthread_mutex_lock(&rp->mu);
    for (;;) {
        while (((rp->paused && !rp->show_one) || rp->held) && !rp->interrupted)
            pthread_cond_wait(&rp->cv, &rp->mu);
        if (rp->interrupted) {
            pthread_mutex_unlock(&rp->mu);
            return CN_ECLOSED;
        }
        int n = cn_seq_reader_info(rp->rd)->n_frames;
        if (rp->seek_time_pending) {
            double t = rp->seek_time_s;
            rp->seek_time_pending = false;
            pthread_mutex_unlock(&rp->mu);
            int to = time_target(rp->rd, rp->t0_scene_s, t, n);
            pthread_mutex_lock(&rp->mu);
            rp->next = to;
            rp->reanchor = true;
        }
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
            if (!rp->loop && rp->o.hold_at_end) {
                /* a player at its end: the last picture stays, paused; a key that
                 * goes back (a skip, a step, a chapter, a seek) plays from there,
                 * space alone comes back here */
                if (!rp->at_end)
                    cn_log_info(rp->o.log, "replay",
                                "end of the recording (frame %d of %d): paused on it; the keys "
                                "go back (Left, N, 1-9), closing the window ends the replay",
                                rp->pos + 1, n);
                rp->at_end = true;
                rp->paused = true;
                continue;
            }
            if (!rp->loop) {
                pthread_mutex_unlock(&rp->mu);
                return CN_ECLOSED;
            }
            rp->next = 0;
            rp->loops++;
            rp->reanchor = true;
            rp->by_step = false;
        }
        int i = rp->next;
        pthread_mutex_unlock(&rp->mu);
        /* read outside the lock: only this thread uses the reader */
        int rc = cn_seq_reader_read_frame(rp->rd, i, f, err, sizeof err);
        if (rc) {
            cn_log_error(rp->o.log, "replay", "%s", err);
            return rc;
        }
        /* pace on the recorded wall clock when there is one: scene time may have
         * run faster than real time when it was recorded (--time-scale), and the
         * replay shows it as the operator saw it. Not for a file made offline
         * (--fast, --speed 0): its wall clock is the machine's speed, so the scene
         * time (the procedure's own pace) is kept. */
        const cn_seq_info *info = cn_seq_reader_info(rp->rd);
        double scene = f->t_scene_ns != CN_SCENE_TIME_UNSET ? (double)f->t_scene_ns * 1e-9 : NAN;
        if (!isfinite(scene)) {
            /* a frame without a readable Timestamp: between its neighbours, as one out of
             * order, and said (review 41a: it was the last time + 1/30 s, unsaid, and a
             * re-recording wrote that as the frame's time) */
            const int nfr = info->n_frames;
            double a = i > 0 ? cn_seq_reader_timestamp(rp->rd, i - 1) : NAN;
            double b = i + 1 < nfr ? cn_seq_reader_timestamp(rp->rd, i + 1) : NAN;
            /* neighbours two frame intervals apart, give or take: a glitched one (review
             * 42) is no measure; the first frame has only the next one */
            bool between = isfinite(a) && isfinite(b) && b >= a && b - a <= 4 * rp->mean_dt_s;
            scene = between ? 0.5 * (a + b)
                    : i > 0 ? rp->prev_scene + rp->mean_dt_s
                    : isfinite(b) ? b - rp->mean_dt_s : 0;
            if (rp->glitches_said++ < 5)
                cn_log_warn(rp->o.log, "replay", "%s: frame %d has no readable Timestamp: "
                            "taken as %.6f s (%s)", rp->path, i, scene,
                            between ? "between its neighbours"
                            : i > 0 ? "one frame interval after the last"
                                    : "one frame interval before the next");
        }
        double ts = info->wall_clock && !info->offline_pace && f->wall_ns > 0
                        ? (double)f->wall_ns * 1e-9
                        : scene;
        if (f->t_scene_ns == CN_SCENE_TIME_UNSET) f->t_scene_ns = llround(scene * 1e9);
        /* A time out of order with both neighbours (a tracker clock glitch, a field
         * written twice): taken between them, and said. Before, a frame 600 s ahead
         * held the replay silent for 600 s, and one a second behind made the session
         * start its analysis again mid-procedure. */
        const int nf = info->n_frames;
        if (i > 0 && i + 1 < nf) {
            double a = cn_seq_reader_timestamp(rp->rd, i - 1);
            double b = cn_seq_reader_timestamp(rp->rd, i + 1);
            if (isfinite(a) && isfinite(b) && b >= a && (scene < a || scene > b)) {
                double fixed = 0.5 * (a + b);
                if (rp->glitches_said++ < 5)
                    cn_log_warn(rp->o.log, "replay", "%s: frame %d's Timestamp %.6f s is out of "
                                "order (frame %d: %.6f, frame %d: %.6f): taken as %.6f", rp->path,
                                i, scene, i - 1, a, i + 1, b, fixed);
                if (ts == scene) ts = fixed;
                scene = fixed;
                f->t_scene_ns = llround(scene * 1e9);
            }
        }
        pthread_mutex_lock(&rp->mu);
        if (rp->next != i) continue; /* seeked meanwhile */
        /* A gap in the recording (frames lost to a full disk, a paused source):
         * played on after one frame interval, said, instead of a silent wait. The
         * scene time keeps the gap: the procedure did live through it. */
        const double gap_s = fmax(10.0, 50 * rp->mean_dt_s);
        if (rp->anchored && !rp->reanchor && i == rp->pos + 1 && ts - rp->prev_ts > gap_s) {
            if (rp->glitches_said++ < 5)
                cn_log_warn(rp->o.log, "replay", "%s: %.1f s without frames before frame %d: "
                            "played on without waiting", rp->path, ts - rp->prev_ts, i);
            rp->ts_anchor += ts - rp->prev_ts - rp->mean_dt_s;
        }
        if (!rp->anchored || rp->reanchor || ts < rp->prev_ts || scene < rp->prev_scene) {
            int64_t now = cn_clock_mono_ns();
            rp->mono_anchor = now;
            rp->acq_anchor = now > rp->last_acq + 1000000 ? now : rp->last_acq + 1000000;
            rp->ts_anchor = ts;
            rp->scene_anchor = scene;
            rp->anchored = true;
            rp->reanchor = false;
        }
        int64_t rec_delta = llround((ts - rp->ts_anchor) * 1e9);
        int64_t scene_delta = llround((scene - rp->scene_anchor) * 1e9);
        if (one)
            rp->reanchor = true; /* playing on starts from here */
        if (rp->speed > 0 && !one) {
            int64_t due = rp->mono_anchor + (int64_t)((double)rec_delta / rp->speed);
            bool restart = false;
            while (!rp->interrupted && cn_clock_mono_ns() < due) {
                struct timespec tsw;
                timespec_at_mono(due, &tsw);
                pthread_cond_timedwait(&rp->cv, &rp->mu, &tsw);
                if (rp->paused || rp->held || rp->next != i || rp->reanchor) {
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
        f->t_acq_ns = rp->acq_anchor + scene_delta;
        if (f->t_acq_ns <= rp->last_acq) f->t_acq_ns = rp->last_acq + 1;
        rp->last_acq = f->t_acq_ns;
        f->t_ready_ns = cn_clock_mono_ns(); /* latencies count from here, at any speed */
        /* a file made offline keeps no pace in its wall clock: the frame is stamped
         * now, so a re-recording of this replay paces as it was shown */
        if (f->wall_ns == 0 || info->offline_pace) f->wall_ns = cn_clock_wall_ns();
        f->seq = ++rp->emitted;
        f->source_frame = i;
        f->t_analysed_ns = f->t_sent_ns = f->t_shown_ns = 0;
        if (!rp->o.keep_analysis) {
            /* the events are the session's inputs, not results: hand them over */
            queue_events(rp, f->analysis.events, f->analysis.n_events, f->seq);
            f->analysed = false;
            memset(&f->analysis, 0, sizeof f->analysis);
            f->analysis.guidance.coverage = -1;
        }
        if (i != rp->pos + 1) {
            rp->jumps++;
            rp->landed = i;
            rp->jumped_from = rp->pos;
            rp->landed_seq = f->seq;
            rp->jump_step = rp->by_step;
        }
        rp->prev_ts = ts;
        rp->prev_scene = scene;
        rp->pos = i;
        rp->next = i + 1;
        rp->by_step = false;
        rp->at_end = false;
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

void cn_replay_hold(cn_replay *rp, bool hold) {
    if (!rp) return;
    pthread_mutex_lock(&rp->mu);
    if (rp->held && !hold) rp->reanchor = true; /* the pace starts again from here */
    rp->held = hold;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
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
    rp->by_step = false;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    return CN_OK;
}

int cn_replay_step(cn_replay *rp, int frames) {
    int n = cn_replay_frame_count(rp);
    pthread_mutex_lock(&rp->mu);
    /* from the frame last shown, or from a seek's frame still to come (before, a
     * paused `--start "#10"`, a seek then a step of 0, showed frame 9) */
    const bool pending = !(rp->pos >= 0 && rp->next == rp->pos + 1);
    int from = pending ? rp->next : rp->pos;
    int to = from + frames;
    to = to < 0 ? 0 : (to >= n ? n - 1 : to);
    rp->next = to;
    rp->reanchor = true;
    /* a step of 0 onto a seek still to come shows that seek's frame: still a seek */
    rp->by_step = frames != 0 || !pending;
    rp->show_one = rp->paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    return to;
}

void cn_replay_skip(cn_replay *rp, double dt_s) {
    if (!isfinite(dt_s) || dt_s == 0) return;
    pthread_mutex_lock(&rp->mu);
    rp->skip_s += dt_s;
    rp->by_step = false;
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

bool cn_replay_at_end(cn_replay *rp) {
    pthread_mutex_lock(&rp->mu);
    bool e = rp->at_end;
    pthread_mutex_unlock(&rp->mu);
    return e;
}

uint64_t cn_replay_loops(cn_replay *rp) {
    pthread_mutex_lock(&rp->mu);
    uint64_t l = rp->loops;
    pthread_mutex_unlock(&rp->mu);
    return l;
}

uint64_t cn_replay_last_jump(cn_replay *rp, cn_replay_jump *out) {
    pthread_mutex_lock(&rp->mu);
    if (out)
        *out = (cn_replay_jump){.jumps = rp->jumps, .from = rp->jumped_from,
                                .landed = rp->landed, .landed_seq = rp->landed_seq,
                                .step = rp->jump_step};
    uint64_t j = rp->jumps;
    pthread_mutex_unlock(&rp->mu);
    return j;
}

int cn_replay_take_events(cn_replay *rp, cn_event *out, int max) {
    return cn_replay_take_events_upto(rp, UINT64_MAX, out, max);
}

int cn_replay_take_events_upto(cn_replay *rp, uint64_t upto_seq, cn_event *out, int max) {
    pthread_mutex_lock(&rp->mu);
    int n = 0, cap = (int)(sizeof rp->evq / sizeof rp->evq[0]);
    while (n < max && rp->evq_n > 0 && rp->evq_seq[rp->evq_head] <= upto_seq) {
        out[n++] = rp->evq[rp->evq_head];
        rp->evq_head = (rp->evq_head + 1) % cap;
        rp->evq_n--;
    }
    pthread_mutex_unlock(&rp->mu);
    return n;
}

double cn_replay_span_s(const cn_replay *rp, double *t0_s) {
    /* read once when the replay opened: before, the status line and --start each
     * opened the file again for these two numbers */
    if (t0_s) *t0_s = rp->t_first_s;
    return isfinite(rp->t_first_s) && isfinite(rp->t_last_s) ? rp->t_last_s - rp->t_first_s
                                                              : NAN;
}

const cn_seq_chapter *cn_replay_chapters(const cn_replay *rp, int *n) {
    *n = rp->n_chapters;
    return rp->chapters;
}

static void jump_to(cn_replay *rp, int frame) {
    pthread_mutex_lock(&rp->mu);
    rp->next = frame;
    rp->by_step = false;
    rp->reanchor = true;
    rp->show_one = rp->paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

int cn_replay_seek_chapter(cn_replay *rp, const char *what) {
    int k = cn_seq_chapter_find(rp->chapters, rp->n_chapters, what);
    if (k < 0) return CN_ENOENT;
    jump_to(rp, rp->chapters[k].frame);
    return k;
}

int cn_replay_step_chapter(cn_replay *rp, int dir) {
    int pos = cn_replay_position(rp);
    int k = -1;
    if (dir > 0) {
        for (int i = 0; i < rp->n_chapters && k < 0; i++)
            if (rp->chapters[i].frame > pos) k = i;
    } else {
        for (int i = rp->n_chapters - 1; i >= 0 && k < 0; i--)
            if (rp->chapters[i].frame < pos) k = i;
    }
    if (k < 0) return CN_ENOENT;
    jump_to(rp, rp->chapters[k].frame);
    return k;
}

void cn_replay_seek_time(cn_replay *rp, double t_s) {
    if (!isfinite(t_s)) return;
    pthread_mutex_lock(&rp->mu);
    rp->seek_time_s = t_s;
    rp->seek_time_pending = true;
    rp->by_step = false;
    rp->show_one = rp->paused;
    pthread_cond_broadcast(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

void cn_replay_set_default_spacing(cn_replay *rp, double sx_mm, double sy_mm) {
    cn_seq_reader_set_default_spacing(rp->rd, sx_mm, sy_mm);
    rp->o.spacing_mm[0] = sx_mm;
    rp->o.spacing_mm[1] = sy_mm;
}

cn_seq_reader *cn_replay_reader_open(const cn_replay *rp, char *err, size_t err_len) {
    cn_seq_reader *rd = cn_seq_reader_open(rp->path, err, err_len);
    if (rd && rp->o.spacing_mm[0] > 0 && rp->o.spacing_mm[1] > 0)
        cn_seq_reader_set_default_spacing(rd, rp->o.spacing_mm[0], rp->o.spacing_mm[1]);
    return rd;
}
