/* session_batch.c - offline runs (issue 14): `replay --speed 0` and `run --fast`
 * analyse every frame, in turn.
 *
 * Live, the pipeline is latest-wins: a source faster than the analysis has frames
 * skipped, which is right at the table and wrong offline - a batch replay
 * analysed 14 of 355 frames, and phase changes were timed by whichever frame
 * happened to be analysed. Here the session's device is wrapped: read() returns
 * the next frame only once every frame read before has gone through the analysis
 * (an analysed sink counts them), so the pipeline never has two frames to choose
 * from and nothing is skipped. Wrapping the device keeps the pipeline module
 * unchanged and works for any source (simulator, replay). */
#include "session.h"

#include <stdlib.h>

typedef struct {
    cn_device inner, outer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t read, done;
    bool interrupted;
    /* a replay with snapshots every N recording frames: a frame due for one is held
     * until the viewer drew it (hold_seq: its seq, 0 none; shown_seq: the last drawn).
     * Offline most frames are superseded before they are drawn, and one picture per
     * N frames came out as 17 of 47 due, at irregular frames (teaching audit T7). */
    int snap_every;
    uint64_t hold_seq, shown_seq;
    /* --frames N: the source ends after N frames read, the N-th held for the viewer
     * like a due picture (0: no limit). Counting the frames drawn instead ran an
     * offline replay with snapshots 271 frames for --frames 60 (the thirty-sixth
     * session's review) */
    uint64_t max_read;
} batch_dev;

static int b_start(void *self)
{
    batch_dev *b = self;
    pthread_mutex_lock(&b->mu);
    b->interrupted = false;
    pthread_mutex_unlock(&b->mu);
    return b->inner.start ? b->inner.start(b->inner.self) : CN_OK;
}

static int b_read(void *self, cn_frame *f)
{
    batch_dev *b = self;
    pthread_mutex_lock(&b->mu);
    while ((b->done < b->read || b->shown_seq < b->hold_seq) && !b->interrupted)
        pthread_cond_wait(&b->cv, &b->mu);
    bool stop = b->interrupted;
    pthread_mutex_unlock(&b->mu);
    if (stop || (b->max_read > 0 && b->read >= b->max_read))
        return CN_ECLOSED;
    int rc = b->inner.read(b->inner.self, f);
    if (rc == CN_OK) {
        pthread_mutex_lock(&b->mu);
        b->read++;
        if (b->snap_every > 0 && ((f->source_frame >= 0 && f->source_frame % b->snap_every == 0) ||
                                  b->read == b->max_read))
            b->hold_seq = f->seq;
        pthread_mutex_unlock(&b->mu);
    }
    return rc;
}

static void b_interrupt(void *self)
{
    batch_dev *b = self;
    pthread_mutex_lock(&b->mu);
    b->interrupted = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->inner.interrupt)
        b->inner.interrupt(b->inner.self);
}

static void b_stop(void *self)
{
    batch_dev *b = self;
    b_interrupt(self);
    if (b->inner.stop)
        b->inner.stop(b->inner.self);
}

const cn_device *cn_session_batch_device(cn_session *s)
{
    batch_dev *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->inner = s->dev;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->outer = (cn_device){.name = s->dev.name, .self = b, .start = b_start, .read = b_read,
                           .interrupt = b_interrupt, .stop = b_stop};
    s->batch = b;
    return &b->outer;
}

void cn_session_batch_done(void *self, cn_frame *f)
{
    (void)f;
    batch_dev *b = self;
    pthread_mutex_lock(&b->mu);
    b->done++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void cn_session_batch_snapshots(cn_session *s, int every)
{
    batch_dev *b = s->batch;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->snap_every = every;
    pthread_mutex_unlock(&b->mu);
}

void cn_session_batch_limit(cn_session *s, uint64_t max_frames)
{
    batch_dev *b = s->batch;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->max_read = max_frames;
    pthread_mutex_unlock(&b->mu);
}

void cn_session_batch_shown(cn_session *s, uint64_t seq)
{
    batch_dev *b = s->batch;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    if (seq > b->shown_seq)
        b->shown_seq = seq;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void cn_session_batch_free(cn_session *s)
{
    batch_dev *b = s->batch;
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
    s->batch = NULL;
}
