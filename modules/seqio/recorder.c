/*
 * recorder.c - the pipeline's recorder: a raw sink that never blocks the device
 * thread, an optional analysed sink, and a writer thread.
 *
 * The raw sink copies each frame into a preallocated ring (single producer: the
 * device thread reserves a slot under the lock, copies outside it, then publishes).
 * A full ring drops the frame: never silently (below). Analysis results arrive
 * later and only for the frames latest-wins picked, so the writer thread holds
 * the oldest frame until its analysis came, a later frame's analysis came (so this
 * one was skipped), or hold_ms passed, or the ring is half full (a frame is never
 * dropped to wait for analysis); frames thus reach the disk well within the one
 * second the crash-safety promise allows. Without an analysed sink nothing waits.
 * Offline (lossless) the raw sink waits for room and the writer for every
 * analysis: a batch replay keeps every frame.
 *
 * Events: the recorder derives nothing. It writes the events the analysis put in
 * f->analysis.events, once each, on their frame. When a frame's analysis arrives
 * after the frame went to disk (or the ring of analyses overflows) its events are
 * not lost: they ride on the next written frame with their own scene time.
 *
 * A replay's recording keeps the replayed file's own per-frame fields that CryoNav
 * does not write itself (a PLUS device's custom fields, such as TransformInterpolation-
 * Test's "Stylus"): before, `replay --record` dropped them silently. They are read from
 * a reader of its own on the writer thread, by the frame's source_frame.
 *
 * Faults are never silent: a frame that cannot be kept (ring full, write error
 * such as a full disk) is counted; the first failure of a run is logged at once,
 * later ones as a count at most once a second; the stats say so (the HUD shows
 * them); the next frame that can be written carries a "recording_error
 * frames_lost=N reason=..." event; and closing reports the total as an error.
 */
#include "seqio_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ANA_RING 32
#define PENDING_MAX 64
/* the carried fields of one frame, at most (a PLUS frame's are a few hundred bytes) */
#define CARRY_MAX_BYTES (64u << 10)

typedef struct {
    cn_frame f;          /* metadata copy; f.pixels points into the slot buffer */
    int64_t received_ns;
} slot;

typedef struct {
    uint64_t seq;
    bool used;
    cn_analysis a;
    int64_t t_analysed_ns;
} ana_rec;

struct cn_recorder {
    cn_seq_writer *w;
    cn_recorder_opts o;
    cn_log *log;
    pthread_mutex_t mu;
    pthread_cond_t cv, space_cv;
    pthread_t th;
    bool thread_started, closing;
    slot *slots;
    uint8_t *pix;
    int cap, head, count;
    ana_rec *ana;
    int ana_next;
    bool any_analysed, analysed_wired;
    uint64_t max_analysed_seq;
    bool any_written;
    uint64_t last_written_seq;     /* seq of the newest frame handed to the writer */
    cn_event pending[PENDING_MAX]; /* events whose frame was already written */
    int n_pending;
    cn_recorder_stats st;
    /* ring overflow bursts */
    bool overflowing;
    uint64_t burst;
    /* write failures, for the log and the next frame's event */
    uint64_t lost_unreported;      /* frames lost since the last written frame */
    char lost_reason[128];
    uint64_t fails_since_log;
    int64_t last_fail_log_ns;
    /* the replayed file, whose own fields each frame keeps (writer thread only) */
    cn_seq_reader *carry;
    cn_sbuf carried;
    bool carry_cut_logged;
};

/* A field of the replayed file that the writer does not write itself: not CryoNav's,
 * not the PLUS bookkeeping fields, not a transform the frame holds as a pose (its poses
 * are written). A transform it does not hold is carried as it was: a frame holds
 * CN_POSES_MAX poses, and a PLUS file with more tools lost the rest (review 42 F7). */
static bool carried_key(const char *k, const cn_frame *f)
{
    static const char *const own[] = {"Timestamp", "UnfilteredTimestamp", "FrameNumber",
                                      "ImageStatus", "Status", NULL};
    size_t n = strlen(k);
    if (n == 0 || strncmp(k, "CryoNav", 7) == 0)
        return false;
    for (int i = 0; own[i]; i++)
        if (strcmp(k, own[i]) == 0)
            return false;
    size_t base = n >= 9 && strcmp(k + n - 9, "Transform") == 0 ? n - 9
                  : n >= 15 && strcmp(k + n - 15, "TransformStatus") == 0 ? n - 15
                                                                            : SIZE_MAX;
    if (base == SIZE_MAX)
        return true;
    /* ImageToProbe is always written (from the spacing when the frame has none) */
    if (base == 12 && strncmp(k, "ImageToProbe", 12) == 0)
        return false;
    for (int i = 0; i < f->n_poses && i < CN_POSES_MAX; i++)
        if (strlen(f->poses[i].name) == base && strncmp(f->poses[i].name, k, base) == 0)
            return false;
    return true;
}

/* The "Key = value" lines the frame carries from the replayed file, or NULL. */
static const char *carried_fields(cn_recorder *r, const cn_frame *f)
{
    if (!r->carry || f->source_frame < 0)
        return NULL;
    const cn_seq_field *fl;
    char err[256];
    int n = cn_seq_reader_fields(r->carry, f->source_frame, &fl, err, sizeof err);
    if (n <= 0)
        return NULL;
    r->carried.len = 0;
    if (r->carried.s)
        r->carried.s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!carried_key(fl[i].key, f))
            continue;
        size_t before = r->carried.len;
        if (before + strlen(fl[i].key) + strlen(fl[i].value) + 4 > CARRY_MAX_BYTES) {
            if (!r->carry_cut_logged)
                cn_log_warn(r->log, "recorder", "frame %d of the replayed file has more than "
                            "%u KiB of its own fields: the rest are not kept", f->source_frame,
                            CARRY_MAX_BYTES >> 10);
            r->carry_cut_logged = true;
            break;
        }
        cn_sbuf_printf(&r->carried, "%s = %s\n", fl[i].key, fl[i].value);
    }
    return r->carried.len ? r->carried.s : NULL;
}

/* Keeps events whose own frame is gone for the next written frame (lock held). */
static void carry_events(cn_recorder *r, const cn_event *ev, int n) {
    for (int i = 0; i < n; i++) {
        if (r->n_pending < PENDING_MAX) {
            r->pending[r->n_pending++] = ev[i];
            r->st.events_late++;
        } else {
            r->st.events_lost++;
        }
    }
}

int cn_recorder_carry(cn_recorder *rec, const cn_event *ev, int n) {
    pthread_mutex_lock(&rec->mu);
    int rc = rec->n_pending + n > PENDING_MAX ? CN_ENOMEM : CN_OK;
    for (int i = 0; i < n && rec->n_pending < PENDING_MAX; i++)
        rec->pending[rec->n_pending++] = ev[i];
    pthread_mutex_unlock(&rec->mu);
    return rc;
}

static void note_lost(cn_recorder *r, const char *reason) {
    r->lost_unreported++;
    cn_strlcpy(r->lost_reason, reason, sizeof r->lost_reason);
}

static void raw_consume(void *self, cn_frame *f) {
    cn_recorder *r = self;
    pthread_mutex_lock(&r->mu);
    r->st.received++;
    bool fits = f->width > 0 && f->height > 0 &&
                (int64_t)f->width * f->height <= (int64_t)r->o.max_width * r->o.max_height;
    while (r->o.lossless && fits && !r->closing && r->count == r->cap)
        pthread_cond_wait(&r->space_cv, &r->mu); /* offline: wait for the disk */
    if (r->closing || r->count == r->cap || !fits) {
        r->st.dropped++;
        note_lost(r, fits ? "writer behind (ring full)" : "frame larger than the recorder allows");
        if (!r->overflowing) {
            r->overflowing = true;
            r->burst = 0;
            cn_log_error(r->log, "recorder",
                         "dropping frames: %s (ring of %d frames; %llu frames lost so far)",
                         !fits ? "frame does not fit" : "writer behind: disk slower than the source?",
                         r->cap, (unsigned long long)r->st.dropped);
        }
        r->burst++;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (r->overflowing) {
        cn_log_error(r->log, "recorder", "dropped %llu frames in that burst (%llu frames lost in total)",
                     (unsigned long long)r->burst, (unsigned long long)r->st.dropped);
        r->overflowing = false;
    }
    int idx = (r->head + r->count) % r->cap;
    pthread_mutex_unlock(&r->mu);
    /* the slot is ours until published: copy outside the lock */
    slot *s = &r->slots[idx];
    uint8_t *buf = s->f.pixels;
    memcpy(&s->f, f, sizeof *f);
    s->f.pixels = buf;
    s->f.pool_ = NULL;
    if (!s->f.analysed) s->f.analysis.n_events = 0; /* events come with the analysis only */
    memcpy(buf, f->pixels, (size_t)f->width * (size_t)f->height);
    s->received_ns = cn_clock_mono_ns();
    pthread_mutex_lock(&r->mu);
    r->count++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void analysed_consume(void *self, cn_frame *f) {
    cn_recorder *r = self;
    if (!f->analysed) return;
    pthread_mutex_lock(&r->mu);
    int ne = f->analysis.n_events < 0 ? 0
             : f->analysis.n_events > CN_EVENTS_MAX ? CN_EVENTS_MAX : f->analysis.n_events;
    if (r->any_written && f->seq <= r->last_written_seq) {
        /* its frame is on disk already: the events ride on the next one */
        carry_events(r, f->analysis.events, ne);
    } else {
        ana_rec *a = &r->ana[r->ana_next];
        if (a->used) carry_events(r, a->a.events, a->a.n_events); /* never lose an event */
        r->ana_next = (r->ana_next + 1) % ANA_RING;
        a->used = true;
        a->seq = f->seq;
        a->a = f->analysis;
        a->t_analysed_ns = f->t_analysed_ns;
    }
    r->any_analysed = true;
    if (f->seq > r->max_analysed_seq) r->max_analysed_seq = f->seq;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The frame's events as written: carried ones first (they happened earlier), the
 * recorder's own report of lost frames, then the frame's own; what does not fit
 * waits for the next frame (lock held). */
static void compose_events(cn_recorder *r, cn_frame *f, const cn_event *own, int n_own) {
    cn_event all[PENDING_MAX + CN_EVENTS_MAX + 1];
    int n = 0;
    for (int i = 0; i < r->n_pending; i++) all[n++] = r->pending[i];
    r->n_pending = 0;
    if (r->lost_unreported > 0) {
        cn_analysis tmp;
        tmp.n_events = 0;
        cn_analysis_add_event(&tmp, CN_EVSRC_SYSTEM, cn_seqio_frame_scene_ns(f),
                              "recording_error frames_lost=%llu reason=%s",
                              (unsigned long long)r->lost_unreported, r->lost_reason);
        all[n++] = tmp.events[0];
    }
    for (int i = 0; i < n_own; i++) all[n++] = own[i];
    int k = n < CN_EVENTS_MAX ? n : CN_EVENTS_MAX;
    for (int i = 0; i < k; i++) /* a state carried in (cn_recorder_carry): this frame's */
        if (all[i].t_scene_ns == CN_SCENE_TIME_UNSET)
            all[i].t_scene_ns = cn_seqio_frame_scene_ns(f);
    memcpy(f->analysis.events, all, (size_t)k * sizeof all[0]);
    f->analysis.n_events = k;
    for (int i = k; i < n && r->n_pending < PENDING_MAX; i++) r->pending[r->n_pending++] = all[i];
    if (n - k > PENDING_MAX) r->st.events_lost += (uint64_t)(n - k - PENDING_MAX);
}

static void log_failure(cn_recorder *r, const char *err) {
    int64_t now = cn_clock_mono_ns();
    if (!r->st.failing) {
        cn_log_error(r->log, "recorder", "%s (%llu frames lost so far)", err,
                     (unsigned long long)r->st.dropped);
        r->last_fail_log_ns = now;
        r->fails_since_log = 0;
    } else if (now - r->last_fail_log_ns >= 1000000000LL) {
        cn_log_error(r->log, "recorder", "still failing: %llu more frames lost (%llu in total): %s",
                     (unsigned long long)r->fails_since_log, (unsigned long long)r->st.dropped, err);
        r->last_fail_log_ns = now;
        r->fails_since_log = 0;
    }
}

static void *writer_main(void *arg) {
    cn_recorder *r = arg;
    int64_t hold_ns = (int64_t)r->o.hold_ms * 1000000;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->count == 0) {
            if (r->closing) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            continue;
        }
        slot *s = &r->slots[r->head];
        cn_event own[CN_EVENTS_MAX];
        int n_own = 0;
        if (!s->f.analysed) {
            ana_rec *found = NULL;
            for (int i = 0; i < ANA_RING; i++)
                if (r->ana[i].used && r->ana[i].seq == s->f.seq) found = &r->ana[i];
            int64_t age = cn_clock_mono_ns() - s->received_ns;
            bool later = r->any_analysed && r->max_analysed_seq > s->f.seq;
            if (found) {
                s->f.analysis = found->a;
                s->f.analysed = true;
                s->f.t_analysed_ns = found->t_analysed_ns;
                found->used = false;
                r->st.analysed_attached++;
            } else if (r->analysed_wired && !r->closing && !later &&
                       (r->o.lossless || (age < hold_ns && r->count < r->cap / 2))) {
                /* wait for this frame's analysis; live, never at the price of a full
                 * ring: past half full, frames go to disk without it */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&r->cv, &r->mu, &ts);
                continue;
            } else {
                s->f.analysis.n_events = 0;
            }
        }
        if (s->f.analysed) {
            n_own = s->f.analysis.n_events < 0 ? 0
                    : s->f.analysis.n_events > CN_EVENTS_MAX ? CN_EVENTS_MAX : s->f.analysis.n_events;
            memcpy(own, s->f.analysis.events, (size_t)n_own * sizeof own[0]);
        }
        /* the lost frames this frame reports; more may be lost while it is written */
        uint64_t lost_before = r->lost_unreported;
        compose_events(r, &s->f, own, n_own);
        r->any_written = true;
        r->last_written_seq = s->f.seq;
        int n_ev = s->f.analysis.n_events;
        pthread_mutex_unlock(&r->mu);
        char err[512];
        int rc = cn_seq_writer_append(r->w, &s->f, carried_fields(r, &s->f), err, sizeof err);
        int e = errno;
        pthread_mutex_lock(&r->mu);
        if (rc) {
            r->st.write_errors++;
            r->st.dropped++;
            r->fails_since_log++;
            r->st.last_error = rc;
            r->st.last_errno = rc == CN_EIO ? e : 0;
            cn_strlcpy(r->st.last_error_text, err, sizeof r->st.last_error_text);
            log_failure(r, err);
            r->st.failing = true;
            /* the frame is lost; its events are not: back in front of the queue */
            cn_event keep[PENDING_MAX];
            int nk = 0;
            for (int i = 0; i < n_ev && nk < PENDING_MAX; i++) {
                const cn_event *ev = &s->f.analysis.events[i];
                if (!(ev->source == CN_EVSRC_SYSTEM &&
                      strncmp(ev->text, "recording_error frames_lost=", 28) == 0))
                    keep[nk++] = *ev; /* our own report is made again, with the new count */
            }
            for (int i = 0; i < r->n_pending && nk < PENDING_MAX; i++) keep[nk++] = r->pending[i];
            memcpy(r->pending, keep, (size_t)nk * sizeof keep[0]);
            r->n_pending = nk;
            note_lost(r, rc == CN_EIO ? strerror(e) : cn_strerror(rc));
        } else {
            if (r->st.failing)
                cn_log_warn(r->log, "recorder",
                            "writing again after %llu lost frames (%llu lost in total); the file "
                            "marks the gap with a recording_error event",
                            (unsigned long long)lost_before, (unsigned long long)r->st.dropped);
            r->st.failing = false;
            r->lost_unreported -= lost_before; /* reported; later losses wait for the next */
            r->st.written++;
            r->st.events_written += (uint64_t)n_ev;
        }
        r->head = (r->head + 1) % r->cap;
        r->count--;
        pthread_cond_broadcast(&r->space_cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

cn_recorder *cn_recorder_new(const char *path, const cn_recorder_opts *o, char *err,
                             size_t err_len) {
    cn_recorder *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (o) r->o = *o;
    if (r->o.ring_frames <= 0) r->o.ring_frames = 64;
    if (r->o.max_width <= 0) r->o.max_width = 1024;
    if (r->o.max_height <= 0) r->o.max_height = 1024;
    if (r->o.hold_ms <= 0) r->o.hold_ms = 300;
    if (r->o.hold_ms > 800) r->o.hold_ms = 800; /* keep the 1 s crash-safety promise */
    r->log = r->o.log;
    r->cap = r->o.ring_frames;
    size_t px = (size_t)r->o.max_width * (size_t)r->o.max_height;
    r->slots = calloc((size_t)r->cap, sizeof *r->slots);
    r->pix = malloc(px * (size_t)r->cap);
    r->ana = calloc(ANA_RING, sizeof *r->ana);
    if (!r->slots || !r->pix || !r->ana) {
        cn_errf(err, err_len, path, "out of memory for the recorder ring");
        goto fail;
    }
    for (int i = 0; i < r->cap; i++) r->slots[i].f.pixels = r->pix + px * (size_t)i;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->space_cv, NULL);
    cn_sbuf_init(&r->carried, CARRY_MAX_BYTES + 4096);
    if (r->o.carry_fields_from) {
        char cerr[512];
        r->carry = cn_seq_reader_open(r->o.carry_fields_from, cerr, sizeof cerr);
        if (!r->carry)
            cn_log_warn(r->log, "recorder", "the replayed file's own fields are not kept: %s",
                        cerr);
    }
    r->o.carry_fields_from = NULL;
    r->w = cn_seq_writer_open(path, &r->o.writer, err, err_len);
    if (!r->w) goto fail_sync;
    if (pthread_create(&r->th, NULL, writer_main, r) != 0) {
        cn_errf(err, err_len, path, "cannot start the writer thread");
        cn_seq_writer_close(r->w, NULL, 0);
        goto fail_sync;
    }
    r->thread_started = true;
    return r;
fail_sync:
    cn_seq_reader_close(r->carry);
    cn_sbuf_free(&r->carried);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->space_cv);
fail:
    free(r->slots);
    free(r->pix);
    free(r->ana);
    free(r);
    return NULL;
}

void cn_recorder_sinks(cn_recorder *rec, cn_sink *raw, cn_sink *analysed) {
    if (raw) *raw = (cn_sink){"recorder", rec, raw_consume};
    if (analysed) {
        *analysed = (cn_sink){"recorder-analysis", rec, analysed_consume};
        pthread_mutex_lock(&rec->mu);
        rec->analysed_wired = true; /* only then is waiting for analysis worth it */
        pthread_mutex_unlock(&rec->mu);
    }
}

void cn_recorder_get_stats(cn_recorder *rec, cn_recorder_stats *out) {
    pthread_mutex_lock(&rec->mu);
    *out = rec->st;
    pthread_mutex_unlock(&rec->mu);
}

int cn_recorder_close(cn_recorder *rec, cn_recorder_stats *final, char *err, size_t err_len) {
    if (!rec) return CN_EINVAL;
    pthread_mutex_lock(&rec->mu);
    rec->closing = true;
    pthread_cond_broadcast(&rec->cv);
    pthread_cond_broadcast(&rec->space_cv);
    pthread_mutex_unlock(&rec->mu);
    if (rec->thread_started) pthread_join(rec->th, NULL);
    /* analyses still waiting for a frame that never came: their events go nowhere */
    for (int i = 0; i < ANA_RING; i++)
        if (rec->ana[i].used) rec->st.events_lost += (uint64_t)rec->ana[i].a.n_events;
    rec->st.events_lost += (uint64_t)rec->n_pending;
    int rc = cn_seq_writer_close(rec->w, err, err_len);
    /* no frame written (CN_ENOENT): lost only when frames were offered and dropped */
    if ((rc == CN_OK || rc == CN_ENOENT) && rec->st.dropped > 0) {
        char why[600] = "";
        if (rec->st.write_errors)
            snprintf(why, sizeof why, "%llu could not be written (last: %s)",
                     (unsigned long long)rec->st.write_errors, rec->st.last_error_text);
        uint64_t ring = rec->st.dropped - rec->st.write_errors;
        if (ring)
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s%llu dropped: the writer fell behind",
                     why[0] ? "; " : "", (unsigned long long)ring);
        cn_errf(err, err_len, "recorder", "%llu of %llu frames lost (%s); the file holds the other %llu",
                (unsigned long long)rec->st.dropped, (unsigned long long)rec->st.received, why,
                (unsigned long long)rec->st.written);
        rc = rec->st.last_error ? rec->st.last_error : CN_EIO;
    }
    if (rec->st.events_lost)
        cn_log_error(rec->log, "recorder", "%llu events could not be recorded",
                     (unsigned long long)rec->st.events_lost);
    if (final) *final = rec->st;
    pthread_mutex_destroy(&rec->mu);
    pthread_cond_destroy(&rec->cv);
    pthread_cond_destroy(&rec->space_cv);
    cn_seq_reader_close(rec->carry);
    cn_sbuf_free(&rec->carried);
    free(rec->slots);
    free(rec->pix);
    free(rec->ana);
    free(rec);
    return rc;
}
