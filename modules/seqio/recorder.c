/*
 * recorder.c - the pipeline's recorder: a raw sink that never blocks the device
 * thread, an optional analysed sink, and a writer thread.
 *
 * The raw sink copies each frame into a preallocated ring (single producer: the
 * device thread reserves a slot under the lock, copies outside it, then publishes).
 * A full ring drops the frame and logs an error once per burst (and the burst's
 * count when it ends): a recording never silently loses frames. Analysis results
 * arrive later and only for the frames latest-wins picked, so the writer thread
 * holds the oldest frame until its analysis came, a later frame's analysis came
 * (so this one was skipped), or hold_ms passed, or the ring is half full (a
 * frame is never dropped to wait for analysis); frames thus reach the disk well
 * within the one second the crash-safety promise allows. Without an analysed
 * sink nothing waits. Phase / cycle / alarm
 * changes of the analysis become session events (CryoNavEvents field) and
 * operator notes become CryoNavNote fields on the next written frame.
 */
#include "seqio_priv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ANA_RING 32

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
    pthread_cond_t cv;
    pthread_t th;
    bool thread_started, closing;
    slot *slots;
    uint8_t *pix;
    int cap, head, count;
    ana_rec *ana;
    int ana_next;
    bool any_analysed, analysed_wired;
    uint64_t max_analysed_seq;
    cn_sbuf notes;
    cn_recorder_stats st;
    bool overflowing;
    uint64_t burst;
    /* writer-thread state for events */
    bool have_prev;
    cn_phase prev_phase;
    int prev_cycle;
    uint32_t prev_alarms;
    char err[512];
};

static void raw_consume(void *self, cn_frame *f) {
    cn_recorder *r = self;
    pthread_mutex_lock(&r->mu);
    r->st.received++;
    if (r->closing || r->count == r->cap || f->width * f->height > r->o.max_width * r->o.max_height ||
        f->width <= 0 || f->height <= 0) {
        r->st.dropped++;
        if (!r->overflowing) {
            r->overflowing = true;
            r->burst = 0;
            cn_log_error(r->log, "recorder",
                         "dropping frames: %s (ring of %d frames full: disk slower than the "
                         "source?)",
                         r->count == r->cap ? "writer behind" : "frame does not fit", r->cap);
        }
        r->burst++;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (r->overflowing) {
        cn_log_error(r->log, "recorder", "dropped %llu frames in that burst",
                     (unsigned long long)r->burst);
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
    ana_rec *a = &r->ana[r->ana_next];
    r->ana_next = (r->ana_next + 1) % ANA_RING;
    a->used = true;
    a->seq = f->seq;
    a->a = f->analysis;
    a->t_analysed_ns = f->t_analysed_ns;
    r->any_analysed = true;
    if (f->seq > r->max_analysed_seq) r->max_analysed_seq = f->seq;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void add_events(cn_recorder *r, const cn_frame *f, cn_sbuf *ev) {
    if (!f->analysed) return;
    const cn_guidance_state *g = &f->analysis.guidance;
    char e[512] = "";
    size_t el = 0;
#define EV(...) el += (size_t)snprintf(e + el, el < sizeof e ? sizeof e - el : 0, __VA_ARGS__)
    cn_phase p = r->have_prev ? r->prev_phase : CN_PHASE_IDLE;
    if (g->phase != p) {
        if (p == CN_PHASE_FREEZE) EV("freeze_end cycle=%d; ", r->prev_cycle);
        if (p == CN_PHASE_THAW) EV("thaw_end cycle=%d; ", r->prev_cycle);
        switch (g->phase) {
        case CN_PHASE_APPROACH:
            if (p == CN_PHASE_IDLE) EV("needle_inserted; ");
            else EV("reposition; ");
            break;
        case CN_PHASE_FREEZE: EV("freeze_start cycle=%d; ", g->cycle); break;
        case CN_PHASE_THAW: EV("thaw_start cycle=%d; ", g->cycle); break;
        case CN_PHASE_WITHDRAWN: EV("needle_withdrawn; "); break;
        default: break;
        }
    }
    uint32_t prev_al = r->have_prev ? r->prev_alarms : 0;
    if (g->alarms & ~prev_al) EV("alarm 0x%x; ", (unsigned)(g->alarms & ~prev_al));
    if (prev_al & ~g->alarms) EV("alarm_clear 0x%x; ", (unsigned)(prev_al & ~g->alarms));
#undef EV
    r->have_prev = true;
    r->prev_phase = g->phase;
    r->prev_cycle = g->cycle;
    r->prev_alarms = g->alarms;
    size_t n = strlen(e);
    if (n >= 2) {
        e[n - 2] = 0;
        cn_sbuf_printf(ev, "CryoNavEvents = %s\n", e);
    }
}

static void *writer_main(void *arg) {
    cn_recorder *r = arg;
    cn_sbuf extra;
    cn_sbuf_init(&extra, 1u << 20);
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
        if (!s->f.analysed) {
            ana_rec *found = NULL;
            for (int i = 0; i < ANA_RING; i++)
                if (r->ana[i].used && r->ana[i].seq == s->f.seq) found = &r->ana[i];
            int64_t age = cn_clock_mono_ns() - s->received_ns;
            if (found) {
                s->f.analysis = found->a;
                s->f.analysed = true;
                s->f.t_analysed_ns = found->t_analysed_ns;
                found->used = false;
                r->st.analysed_attached++;
            } else if (r->analysed_wired && !r->closing && age < hold_ns &&
                       r->count < r->cap / 2 &&
                       !(r->any_analysed && r->max_analysed_seq > s->f.seq)) {
                /* wait for this frame's analysis; never at the price of a full ring:
                 * past half full, frames go to disk without it */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&r->cv, &r->mu, &ts);
                continue;
            }
        }
        extra.len = 0;
        if (r->notes.len > 0) {
            cn_sbuf_add(&extra, r->notes.s, r->notes.len);
            r->notes.len = 0;
            r->notes.s[0] = 0;
        }
        pthread_mutex_unlock(&r->mu);
        add_events(r, &s->f, &extra);
        char err[512];
        int rc = cn_seq_writer_append(r->w, &s->f, extra.s, err, sizeof err);
        pthread_mutex_lock(&r->mu);
        if (rc) {
            if (!r->st.last_error) {
                cn_log_error(r->log, "recorder", "%s", err);
                cn_strlcpy(r->err, err, sizeof r->err);
            }
            r->st.last_error = rc;
            r->st.dropped++;
        } else {
            r->st.written++;
        }
        r->head = (r->head + 1) % r->cap;
        r->count--;
    }
    pthread_mutex_unlock(&r->mu);
    cn_sbuf_free(&extra);
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
    cn_sbuf_init(&r->notes, 1u << 20);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
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
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
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

int cn_recorder_note(cn_recorder *rec, const char *text) {
    char line[1024];
    snprintf(line, sizeof line, "CryoNavNote = %s", text ? text : "");
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    pthread_mutex_lock(&rec->mu);
    int rc = cn_sbuf_printf(&rec->notes, "%s\n", line);
    pthread_mutex_unlock(&rec->mu);
    return rc;
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
    pthread_mutex_unlock(&rec->mu);
    if (rec->thread_started) pthread_join(rec->th, NULL);
    int rc = cn_seq_writer_close(rec->w, err, err_len);
    if (rc == CN_OK && rec->st.last_error) {
        cn_errf(err, err_len, "recorder", "some frames failed to write: %s", rec->err);
        rc = rec->st.last_error;
    }
    if (final) *final = rec->st;
    if (rec->st.dropped)
        cn_log_warn(rec->log, "recorder", "%llu of %llu frames were dropped",
                    (unsigned long long)rec->st.dropped, (unsigned long long)rec->st.received);
    pthread_mutex_destroy(&rec->mu);
    pthread_cond_destroy(&rec->cv);
    cn_sbuf_free(&rec->notes);
    free(rec->slots);
    free(rec->pix);
    free(rec->ana);
    free(rec);
    return rc;
}
