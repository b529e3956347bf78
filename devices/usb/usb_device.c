/*
 * usb_device.c - the UP20L as a cn_device: frames for the pipeline, surviving
 * unplug and replug.
 *
 * read() owns the probe: it connects (identify + the vendor start-up), applies
 * settings between frames, polls the status register like the vendor software,
 * requests a frame and decodes it into the pipeline's frame. A frame is delivered
 * only when all 40 bulk reads arrived complete and the samples are plausible, so a
 * torn frame never reaches the pipeline.
 *
 * Hot-plug: when the probe disappears mid-frame, the frame is discarded, the user is
 * told once, and read() keeps looking for the probe every reconnect_poll_ms,
 * returning CN_EAGAIN about twice a second (the pipeline retries), so the session,
 * its recording and its network links keep running. When the probe is back, the
 * start-up runs again and streaming resumes. Timeouts, stalls, short chunks and
 * garbage drop the frame, drain whatever the probe still had queued, and after
 * three failures in a row the probe is restarted from scratch.
 *
 * Staying in step: the stream has no frame header, so a frame is "the 40 chunks after
 * a request" only while the IN pipe held nothing else. Two rules enforce it, whatever
 * put the pipe out of step (a tail later than the drain wait that lands after a
 * restart, data a real FX2 keeps queued across a re-open without bus reset, a stray
 * register reply): after every (re)connect and start-up the IN endpoint is read empty
 * before the first frame request (flush_in, logged with the byte count); and after a
 * frame's last chunk one 1 ms read checks that nothing more is waiting - if something
 * is, the frame is dropped as out of step and the pipe read empty again. Frames are
 * never requested ahead (read_chunks returns only when every transfer is back), so the
 * check never races the next frame's chunks. Its cost, measured on the emulator
 * (tests/unit/usb, 300 frames): the check alone 1.95 ms mean (1.75 min; libusb's
 * 1 ms timeout plus the cancel); unpaced throughput 3.3-3.8 -> 4.3-5.9 ms per frame
 * with 40 KiB transfers; at a paced 50 fps still exactly 20.0 ms per frame, since the
 * probe's next frame is not due earlier anyway (the real probe: 6.25 fps, 160 ms).
 */
#include "usb/usb.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGMOD "usb"
#define EAGAIN_EVERY_NS 500000000LL
/* Reading away what is queued on the IN endpoint (flush_in): reads of 64 KiB, each given
 * 10 ms to bring something (an interrupt() waits no longer); at most 64 of them (4 MiB,
 * 25 frames): a probe still sending after that streams unasked and is restarted. */
#define FLUSH_READ_BYTES (16 * CN_UP20L_CHUNK)
#define FLUSH_TIMEOUT_MS 10
#define FLUSH_MAX_READS 64
/* The in-step check after a frame's last chunk: one read given 1 ms (libusb's smallest
 * timeout; data already queued in the probe's FIFO comes within a microframe). */
#define STEP_CHECK_TIMEOUT_MS 1

struct cn_usb_device {
    cn_up20l_config cfg;
    cn_log *log;
    cn_usb_engine *eng;
    cn_up20l_tables *owned;
    const cn_up20l_tables *tables;
    cn_up20l_decoder *dec;
    uint8_t *raw;
    size_t raw_len;
    uint8_t *scratch;             /* FLUSH_READ_BYTES: what flush_in and the step check read away */
    int chunks;
    int raw_rows, raw_cols;

    pthread_mutex_t mu;           /* settings and stats */
    double gain_db, dr_db;
    bool levels_dirty;
    int want_freeze;              /* -1 none */
    int want_focus;               /* -1 none */
    cn_usb_device_stats st;

    atomic_bool stop;
    bool connected, ever_connected, frozen;
    bool restarting;              /* closed by restart(), not lost: the next connect is a restart */
    int64_t restart_ns;
    int64_t waiting_since_ns;     /* start() returned without a probe (wait_s < 0); 0 = not */
    int64_t next_wait_note_ns;    /* the next "still waiting" line */
    int failures_in_row;
    int restarts_in_row;          /* restarts without one good frame between them */
    int64_t next_connect_ns;      /* a probe that never sends a usable image: the next
                                     restart waits until then (backing off) */
    int64_t next_poll_ns;
    uint64_t seq;
    char last_err[512];
};

static void sleep_ms_interruptible(cn_usb_device *d, int ms)
{
    int64_t end = cn_clock_mono_ns() + (int64_t)ms * 1000000;
    while (!atomic_load(&d->stop) && cn_clock_mono_ns() < end)
        cn_clock_sleep_ns(5000000);
}

cn_usb_device *cn_usb_device_new(const cn_usb_device_opts *o, char *err, size_t err_len)
{
    cn_usb_device *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_len, "usb: out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->cfg = o->config;
    d->log = o->log;
    d->raw_rows = o->raw_rows > 0 ? o->raw_rows : CN_UP20L_ROWS;
    d->raw_cols = o->raw_cols > 0 ? o->raw_cols : CN_UP20L_COLS;
    d->raw_len = (size_t)d->raw_rows * (size_t)d->raw_cols * 2;
    if (d->raw_len % CN_UP20L_CHUNK != 0 || d->raw_len / CN_UP20L_CHUNK > 1024) {
        snprintf(err, err_len, "usb: raw frame %d x %d is not a whole number of 4096-byte chunks",
                 d->raw_rows, d->raw_cols);
        cn_usb_device_free(d);
        return NULL;
    }
    d->chunks = (int)(d->raw_len / CN_UP20L_CHUNK);
    d->cfg.decode.rows = d->raw_rows;
    d->cfg.decode.cols = d->raw_cols;
    d->want_freeze = -1;
    d->want_focus = -1;
    d->gain_db = d->cfg.decode.gain_db;
    d->dr_db = d->cfg.decode.dynamic_range_db;
    atomic_init(&d->stop, false);
    if (o->tables) {
        d->tables = o->tables;
    } else {
        if (cn_up20l_tables_load(d->cfg.tables_dir, &d->owned, err, err_len) != CN_OK) {
            /* whether a probe is there at all, said with it: a first-time user without
             * tables learnt nothing of the probe (review 41b F9); counting enumerates the
             * bus only, no request goes to a board */
            cn_usb_engine_opts eo = {CN_UP20L_VID, CN_UP20L_PID, 0, NULL};
            char e2[128];
            cn_usb_engine *eng = cn_usb_engine_new(&eo, e2, sizeof e2);
            const int n = eng ? cn_usb_engine_count(eng) : -1;
            cn_usb_engine_free(eng);
            size_t used = strlen(err);
            if (used + 1 < err_len && n >= 0)
                snprintf(err + used, err_len - used,
                         n == 0 ? "; and no UP20L (USB %04x:%04x) is plugged in either"
                                : "; a board with the UP20L's USB id (%04x:%04x) is plugged in",
                         CN_UP20L_VID, CN_UP20L_PID);
            cn_usb_device_free(d);
            return NULL;
        }
        d->tables = d->owned;
    }
    d->dec = cn_up20l_decoder_new(&d->cfg.decode, err, err_len);
    d->raw = malloc(d->raw_len);
    d->scratch = malloc(FLUSH_READ_BYTES);
    cn_usb_engine_opts eo = {CN_UP20L_VID, CN_UP20L_PID, 0, d->log};
    d->eng = d->dec && d->raw && d->scratch ? cn_usb_engine_new(&eo, err, err_len) : NULL;
    if (!d->dec || !d->raw || !d->scratch || !d->eng) {
        if (!d->raw || !d->scratch)
            snprintf(err, err_len, "usb: out of memory");
        cn_usb_device_free(d);
        return NULL;
    }
    return d;
}

void cn_usb_device_free(cn_usb_device *d)
{
    if (!d)
        return;
    cn_usb_engine_free(d->eng);
    cn_up20l_decoder_free(d->dec);
    cn_up20l_tables_free(d->owned);
    free(d->raw);
    free(d->scratch);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Logs a connection problem once (until it changes), not on every retry. */
static void note_problem(cn_usb_device *d, cn_log_level lvl, const char *msg)
{
    if (strcmp(d->last_err, msg) != 0) {
        cn_log_write(d->log, lvl, LOGMOD, "%s", msg);
        cn_strlcpy(d->last_err, msg, sizeof d->last_err);
    }
}

static void lost(cn_usb_device *d, const char *why)
{
    cn_usb_engine_close(d->eng);
    d->connected = false;
    pthread_mutex_lock(&d->mu);
    d->st.disconnects++;
    d->st.last_disconnect_ns = cn_clock_mono_ns();
    d->st.connected = false;
    d->st.dropped++;
    snprintf(d->st.problem, sizeof d->st.problem, "unplugged (%.180s)", why);
    pthread_mutex_unlock(&d->mu);
    cn_log_warn(d->log, LOGMOD,
                "UP20L probe lost (%s): the frame in progress was discarded; waiting for the probe "
                "to be plugged in again - the session keeps running",
                why);
    d->last_err[0] = 0;
}

/* The driver closes a probe that was not lost, so that its start-up runs again (a tail
 * that never came, or too many failed frames). Not an unplug: no "lost", no disconnect. */
/* After this many restarts without one usable frame the probe is said to send no
 * usable image, and the restarts back off (1, 2, 4, 8, then every 10 s): before, a
 * probe sending only garbage was restarted about twice a second for ever, and the log
 * never said more than each restart (input audit I10). */
#define RESTARTS_BEFORE_BACKOFF 5

static void restart(cn_usb_device *d, const char *why)
{
    cn_log_warn(d->log, LOGMOD, "UP20L: %s; restarting the probe", why);
    const int k = ++d->restarts_in_row;
    if (k == RESTARTS_BEFORE_BACKOFF)
        cn_log_error(d->log, LOGMOD,
                     "UP20L: %d restarts in a row without one usable frame: the probe sends no "
                     "usable image (its cable, its tables or the probe itself); restarting it "
                     "less often, up to every 10 s, until an image comes",
                     k);
    if (k >= RESTARTS_BEFORE_BACKOFF) {
        const int shift = k - RESTARTS_BEFORE_BACKOFF;
        const int64_t wait_ns = shift >= 4 ? 10000000000LL : 1000000000LL << shift;
        d->next_connect_ns = cn_clock_mono_ns() + wait_ns;
    }
    cn_usb_engine_close(d->eng);
    d->connected = false;
    d->restarting = true;
    d->restart_ns = cn_clock_mono_ns();
    pthread_mutex_lock(&d->mu);
    d->st.restarts++;
    d->st.connected = false;
    pthread_mutex_unlock(&d->mu);
    d->last_err[0] = 0;
}

/* Reads away whatever is queued on the IN endpoint: data left from before a restart (a
 * real FX2 keeps its FIFO across a re-open without bus reset; so does the emulator), a
 * tail that came after the driver gave up on it, replies displaced by either. The stream
 * has no frame header, so nothing of it may start a frame. Logs what was thrown away.
 * CN_OK: the pipe is quiet; CN_ECLOSED: gone or interrupted; CN_EAGAIN: the probe kept
 * sending through FLUSH_MAX_READS reads. already: bytes the caller read away just before
 * (counted in the message). */
static int flush_in(cn_usb_device *d, const char *when, long already)
{
    long thrown = 0;
    int r = cn_usb_engine_flush_in(d->eng, CN_UP20L_EP_IN, d->scratch, FLUSH_READ_BYTES,
                                   FLUSH_TIMEOUT_MS, FLUSH_MAX_READS, &thrown);
    thrown += already;
    if (thrown > 0)
        cn_log_warn(d->log, LOGMOD,
                    "UP20L: read away %ld bytes (%.3g frames) queued on endpoint 0x%02x %s%s",
                    thrown, (double)thrown / (double)d->raw_len, CN_UP20L_EP_IN, when,
                    r == CN_EAGAIN ? ", and the probe is still sending unasked" : "");
    return r;
}

static int try_connect(cn_usb_device *d)
{
    char err[512];
    /* The first device with the FX2 id that identifies as a UP20L (other FX2 boards share
     * the id). */
    int n = cn_usb_engine_count(d->eng), r = CN_ENOENT;
    snprintf(err, sizeof err, "no USB device %04x:%04x attached", CN_UP20L_VID, CN_UP20L_PID);
    for (int k = 0; k < n; k++) {
        r = cn_up20l_strings_check(d->eng, k, NULL, err, sizeof err);
        if (r == CN_OK)
            r = cn_usb_engine_open_nth(d->eng, k, NULL, err, sizeof err);
        if (r == CN_OK)
            r = cn_up20l_startup(d->eng, &d->cfg, d->tables, err, sizeof err);
        if (r != CN_EUNSUPPORTED || k == n - 1)
            break;
        cn_log_info(d->log, LOGMOD, "skipping a device that is not a UP20L: %s", err);
        cn_usb_engine_close(d->eng);
    }
    /* Before the first frame request the IN pipe must be empty: frame boundaries exist
     * only in the request/response handshake. */
    if (r == CN_OK) {
        r = flush_in(d, "before the first frame request", 0);
        if (r == CN_EAGAIN) {
            snprintf(err, sizeof err, "the UP20L keeps sending on endpoint 0x%02x without a "
                     "frame request; it cannot be streamed in step", CN_UP20L_EP_IN);
            r = CN_EIO;
        } else if (r != CN_OK) {
            snprintf(err, sizeof err, "reading away the UP20L's queued data failed: %s",
                     r == CN_ECLOSED ? "probe unplugged" : cn_strerror(r));
        }
    }
    if (r != CN_OK) {
        cn_usb_engine_close(d->eng);
        if (r != CN_ENOENT && !atomic_load(&d->stop)) {
            note_problem(d, CN_LOG_ERROR, err);
            pthread_mutex_lock(&d->mu);
            cn_strlcpy(d->st.problem, err, sizeof d->st.problem);
            pthread_mutex_unlock(&d->mu);
        }
        return r;
    }
    int bus, addr;
    cn_usb_engine_address(d->eng, &bus, &addr);
    bool was_frozen = d->frozen;
    d->connected = true;
    d->frozen = false; /* a started probe streams */
    d->failures_in_row = 0;
    d->next_poll_ns = cn_clock_mono_ns() + (int64_t)d->cfg.status_poll_ms * 1000000;
    bool restarted = d->restarting;
    d->restarting = false;
    pthread_mutex_lock(&d->mu);
    d->st.ever_connected = true;
    d->st.problem[0] = 0; /* started: what kept it from streaming is past */
    bool again = d->ever_connected && !restarted;
    if (again)
        d->st.reconnects++;
    d->st.connected = true;
    /* A probe frozen before it was lost stays frozen after the restart. */
    if (was_frozen && d->want_freeze < 0)
        d->want_freeze = 1;
    pthread_mutex_unlock(&d->mu);
    d->ever_connected = true;
    d->last_err[0] = 0;
    if (restarted)
        cn_log_info(d->log, LOGMOD,
                    "UP20L restarted at bus %03d address %03d: started, streaming (%.0f ms after "
                    "the restart began)",
                    bus, addr, (cn_clock_mono_ns() - d->restart_ns) / 1e6);
    else if (again)
        cn_log_info(d->log, LOGMOD,
                    "UP20L plugged in again at bus %03d address %03d: started, streaming (%.0f ms "
                    "after it was lost)",
                    bus, addr, (cn_clock_mono_ns() - d->st.last_disconnect_ns) / 1e6);
    else if (d->waiting_since_ns)
        cn_log_info(d->log, LOGMOD,
                    "UP20L plugged in at bus %03d address %03d: started, streaming (after waiting "
                    "%.1f s for it)",
                    bus, addr, (cn_clock_mono_ns() - d->waiting_since_ns) * 1e-9);
    else
        cn_log_info(d->log, LOGMOD, "UP20L found at bus %03d address %03d: started, streaming", bus,
                    addr);
    return CN_OK;
}

/* After a failed frame the probe may still owe the rest of it (a late transfer keeps
 * coming after we gave up). Frame boundaries exist only in the handshake, so those
 * chunks must be read and thrown away before the next request, or they would become
 * the head of the next frame. Returns CN_OK when the pipe is clean again, CN_ECLOSED
 * when the probe went away, CN_ETIMEDOUT when the rest never came (the caller then
 * restarts the probe). */
static int drain(cn_usb_device *d, int owed)
{
    if (owed <= 0)
        return CN_OK;
    char err[256];
    int got = 0;
    int wait_ms = 2 * d->cfg.transfer_timeout_ms + 500;
    int r = cn_usb_engine_read_chunks(d->eng, CN_UP20L_EP_IN, d->raw, CN_UP20L_CHUNK, owed,
                                      d->cfg.transfers_in_flight, wait_ms, &got, err, sizeof err);
    if (r == CN_OK || r == CN_ECLOSED)
        return r;
    if (r == CN_EPARSE) { /* a short one among the rest: count what came and go on */
        int answered = (got + CN_UP20L_CHUNK - 1) / CN_UP20L_CHUNK;
        return answered >= owed ? CN_OK : drain(d, owed - answered);
    }
    return CN_ETIMEDOUT;
}

static int apply_settings(cn_usb_device *d)
{
    pthread_mutex_lock(&d->mu);
    bool lv = d->levels_dirty;
    double g = d->gain_db, dr = d->dr_db;
    int fz = d->want_freeze, fo = d->want_focus;
    d->levels_dirty = false;
    d->want_freeze = -1;
    d->want_focus = -1;
    pthread_mutex_unlock(&d->mu);
    if (lv)
        cn_up20l_decoder_set_levels(d->dec, g, dr);
    int r = CN_OK;
    if (fo >= 0) {
        r = cn_up20l_reg_write(d->eng, 0x17, (uint8_t)fo);
        uint8_t back;
        if (r == CN_OK)
            r = cn_up20l_reg_read(d->eng, 0x17, &back);
        if (r == CN_OK) {
            d->cfg.focus_zone = fo;
            cn_log_info(d->log, LOGMOD, "UP20L focus zone set to %d", fo);
        }
    }
    if (r == CN_OK && fz >= 0 && (fz == 1) != d->frozen) {
        r = cn_up20l_set_freeze(d->eng, fz == 1);
        if (r == CN_OK) {
            d->frozen = fz == 1;
            cn_log_info(d->log, LOGMOD, "UP20L %s", d->frozen ? "frozen" : "unfrozen");
        }
    }
    return r;
}

/* A probe not plugged in at the start: with wait_s >= 0 the start fails after that
 * long; by default (wait_s < 0) it looks for 2 s, says it waits, and returns, so the
 * session runs and its window says NO LIVE IMAGE while read() keeps looking (before,
 * `--source usb` gave up after 2 s whatever the clinician expected: audit live L2). */
static int dev_start(void *self)
{
    cn_usb_device *d = self;
    atomic_store(&d->stop, false);
    cn_usb_engine_clear_interrupt(d->eng);
    const double look_s = d->cfg.wait_s >= 0 ? d->cfg.wait_s : 2.0;
    const int64_t t0 = cn_clock_mono_ns(), until = t0 + (int64_t)(look_s * 1e9);
    int r;
    while ((r = try_connect(d)) == CN_ENOENT && cn_clock_mono_ns() < until && !atomic_load(&d->stop))
        sleep_ms_interruptible(d, d->cfg.reconnect_poll_ms);
    if (r == CN_ENOENT && d->cfg.wait_s < 0 && !atomic_load(&d->stop)) {
        d->waiting_since_ns = t0;
        d->next_wait_note_ns = cn_clock_mono_ns() + 30000000000LL;
        cn_log_warn(d->log, LOGMOD,
                    "no UP20L probe plugged in yet (USB id %04x:%04x): waiting for one; plug it "
                    "in, or stop (Ctrl-C, or close the window). 'cryonav probes' says what is "
                    "attached; \"usb\": {\"wait_s\": S} or --probe-wait S gives up after S s",
                    CN_UP20L_VID, CN_UP20L_PID);
        return CN_OK;
    }
    if (r == CN_ENOENT)
        cn_log_error(d->log, LOGMOD,
                     "no UP20L probe attached (looked for USB id %04x:%04x for %g s); 'cryonav "
                     "probes' says what is attached and why it is not usable",
                     CN_UP20L_VID, CN_UP20L_PID, look_s);
    return r;
}

static int dev_read(void *self, cn_frame *f)
{
    cn_usb_device *d = self;
    const int64_t t_enter = cn_clock_mono_ns();
    char err[512];
    for (;;) {
        if (atomic_load(&d->stop))
            return CN_ECLOSED;
        if (!d->connected && d->next_connect_ns &&
            cn_clock_mono_ns() < d->next_connect_ns) { /* backing off (restart()) */
            sleep_ms_interruptible(d, 50);
            if (cn_clock_mono_ns() - t_enter > EAGAIN_EVERY_NS)
                return CN_EAGAIN;
            continue;
        }
        if (!d->connected && d->ever_connected && d->cfg.wait_s >= 0) {
            /* lost while streaming, with a bounded wait (--probe-wait S): given up after S s,
             * as at the start (review 41b: a script that must not wait waited on forever) */
            pthread_mutex_lock(&d->mu);
            const int64_t since = d->st.last_disconnect_ns;
            pthread_mutex_unlock(&d->mu);
            const double gone_s = (double)(cn_clock_mono_ns() - since) * 1e-9;
            if (since > 0 && gone_s > d->cfg.wait_s) {
                cn_log_error(d->log, LOGMOD, "the UP20L was lost %.0f s ago and is not back: "
                             "given up (wait_s / --probe-wait %.0f s)", gone_s, d->cfg.wait_s);
                return CN_EIO;
            }
        }
        if (!d->connected) {
            if (!d->ever_connected && d->waiting_since_ns &&
                cn_clock_mono_ns() >= d->next_wait_note_ns) {
                d->next_wait_note_ns = cn_clock_mono_ns() + 30000000000LL;
                cn_log_warn(d->log, LOGMOD, "still no UP20L probe plugged in (waiting %.0f s)",
                            (cn_clock_mono_ns() - d->waiting_since_ns) * 1e-9);
            }
            if (try_connect(d) != CN_OK) {
                sleep_ms_interruptible(d, d->cfg.reconnect_poll_ms);
                if (cn_clock_mono_ns() - t_enter > EAGAIN_EVERY_NS)
                    return CN_EAGAIN;
                continue;
            }
        }
        int r = apply_settings(d);
        if (r == CN_OK && d->cfg.status_poll_ms > 0 && cn_clock_mono_ns() >= d->next_poll_ns) {
            uint8_t status;
            r = cn_up20l_reg_read(d->eng, 0x16, &status);
            d->next_poll_ns = cn_clock_mono_ns() + (int64_t)d->cfg.status_poll_ms * 1000000;
        }
        if (r == CN_ECLOSED) {
            lost(d, "unplugged");
            return CN_EAGAIN;
        }
        if (d->frozen) {
            sleep_ms_interruptible(d, 20);
            if (cn_clock_mono_ns() - t_enter > EAGAIN_EVERY_NS)
                return CN_EAGAIN;
            continue;
        }
        int received = 0;
        r = cn_up20l_read_frame(d->eng, &d->cfg, d->raw, d->raw_len, d->chunks, &received, err,
                                sizeof err);
        /* The frame's time is taken when its last chunk came, after the probe acquired and
         * sent it: later than the echoes by a latency only a temporal calibration can
         * measure (a tracked needle moving across the image, PLUS's TemporalCalibration);
         * its offset is the setting time_offset_ms, as PLUS's LocalTimeOffsetSec. */
        const int64_t off_ns = llround(d->cfg.time_offset_ms * 1e6);
        int64_t t_acq = cn_clock_mono_ns() + off_ns, wall = cn_clock_wall_ns() + off_ns;
        /* In step? The probe sends exactly one frame per request, so after its last chunk
         * nothing more may be waiting. Anything that is means the chunks were counted from
         * the wrong place (a late tail after a restart, stale data, a displaced register
         * reply): this frame is torn, and so would every later one be. */
        bool out_of_step = false;
        long extra = 0;
        if (r == CN_OK) {
            int cr = cn_usb_engine_flush_in(d->eng, CN_UP20L_EP_IN, d->scratch, CN_UP20L_CHUNK,
                                            STEP_CHECK_TIMEOUT_MS, 1, &extra);
            if (extra > 0) {
                out_of_step = true;
                r = CN_EPARSE;
                snprintf(err, sizeof err,
                         "out of step: data was still waiting on endpoint 0x%02x after the "
                         "frame's last chunk, so the frame was not one frame; reading the pipe "
                         "empty to get back in step",
                         CN_UP20L_EP_IN);
            } else if (cr == CN_ECLOSED) {
                r = CN_ECLOSED;
                snprintf(err, sizeof err, "probe unplugged after the frame's last chunk");
            }
        }
        if (r == CN_OK)
            r = cn_up20l_check_raw(d->dec, d->raw, d->raw_len, err, sizeof err);
        if (r == CN_OK) {
            r = cn_up20l_decode(d->dec, d->raw, d->raw_len, f);
            if (r != CN_OK) {
                int w, h;
                cn_up20l_decoder_size(d->dec, &w, &h);
                cn_log_error(d->log, LOGMOD,
                             "decoded UP20L image %d x %d px does not fit the frame pool (%s): "
                             "raise pixel_mm in config/probes/up20l.json",
                             w, h, cn_strerror(r));
                return r;
            }
            f->seq = ++d->seq;
            f->t_acq_ns = t_acq;
            f->wall_ns = wall;
            d->failures_in_row = 0;
            if (d->restarts_in_row >= RESTARTS_BEFORE_BACKOFF)
                cn_log_info(d->log, LOGMOD, "UP20L: a usable image again after %d restarts",
                            d->restarts_in_row);
            d->restarts_in_row = 0;
            d->next_connect_ns = 0;
            pthread_mutex_lock(&d->mu);
            d->st.frames++;
            d->st.problem[0] = 0;
            if (d->st.reconnects > 0 && d->st.last_reconnect_ns < d->st.last_disconnect_ns)
                d->st.last_reconnect_ns = t_acq;
            pthread_mutex_unlock(&d->mu);
            return CN_OK;
        }
        if (r == CN_ECLOSED) {
            if (atomic_load(&d->stop) || cn_usb_engine_interrupted(d->eng))
                return CN_ECLOSED;
            lost(d, err);
            return CN_EAGAIN;
        }
        pthread_mutex_lock(&d->mu);
        d->st.dropped++;
        cn_strlcpy(d->st.problem, err, sizeof d->st.problem);
        pthread_mutex_unlock(&d->mu);
        cn_log_warn(d->log, LOGMOD, "UP20L frame %llu dropped: %s",
                    (unsigned long long)d->seq + 1, err);
        /* A stall clears the endpoint (and its FIFO); otherwise the rest of the frame is owed. */
        /* chunks the probe answered (a short one counts: it ends its chunk) */
        int answered = (received + CN_UP20L_CHUNK - 1) / CN_UP20L_CHUNK;
        int owed = r == CN_EIO ? 0 : d->chunks - answered; /* garbage: all came, none owed */
        /* Out of step: nothing is owed, everything queued is debris. */
        int dr = out_of_step ? flush_in(d, "to get back in step", extra) : drain(d, owed);
        if (dr == CN_ECLOSED) {
            if (atomic_load(&d->stop) || cn_usb_engine_interrupted(d->eng))
                return CN_ECLOSED;
            lost(d, "unplugged while recovering");
            return CN_EAGAIN;
        }
        if (dr == CN_ETIMEDOUT) {
            /* The tail may still come after the restart: try_connect reads the pipe empty,
             * and the step check catches whatever comes later still. */
            restart(d, "the rest of the failed frame never came");
        } else if (dr == CN_EAGAIN) {
            restart(d, "the probe keeps sending without a frame request");
        } else if (dr != CN_OK) {
            char why[96];
            snprintf(why, sizeof why, "reading the IN pipe empty failed (%s)", cn_strerror(dr));
            restart(d, why);
        } else if (++d->failures_in_row >= 3) {
            restart(d, "3 failed frames in a row");
        }
        return CN_EAGAIN;
    }
}

static void dev_interrupt(void *self)
{
    cn_usb_device *d = self;
    atomic_store(&d->stop, true);
    cn_usb_engine_interrupt(d->eng);
}

static void dev_stop(void *self)
{
    cn_usb_device *d = self;
    atomic_store(&d->stop, true);
    if (d->connected) {
        /* Leave the probe frozen, as the vendor software does when it quits. */
        cn_usb_engine_clear_interrupt(d->eng);
        cn_up20l_set_freeze(d->eng, true);
    }
    cn_usb_engine_close(d->eng);
    d->connected = false;
}

cn_device cn_usb_device_iface(cn_usb_device *d)
{
    cn_device dev = {"usb", d, dev_start, dev_read, dev_interrupt, dev_stop};
    return dev;
}

void cn_usb_device_get_stats(cn_usb_device *d, cn_usb_device_stats *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->st;
    pthread_mutex_unlock(&d->mu);
}

void cn_usb_device_outage_text(cn_usb_device *d, int64_t now_ns, char *out, size_t out_len)
{
    cn_usb_device_stats st;
    cn_usb_device_get_stats(d, &st);
    if (!st.ever_connected && !st.problem[0])
        snprintf(out, out_len, "not plugged in: plug the probe in");
    else if (!st.ever_connected)
        snprintf(out, out_len, "plugged in but not started: %s", st.problem);
    else if (!st.connected && st.last_disconnect_ns > 0 &&
             strncmp(st.problem, "unplugged", 9) == 0)
        snprintf(out, out_len, "unplugged, lost %.0f s ago: plug it in again",
                 (double)(now_ns - st.last_disconnect_ns) * 1e-9);
    else if (st.problem[0])
        snprintf(out, out_len, "plugged in but sends no usable image (%s)", st.problem);
    else
        snprintf(out, out_len, "plugged in, its next frame not come yet");
}

int cn_usb_device_set_levels(cn_usb_device *d, double gain_db, double dynamic_range_db)
{
    if (!(gain_db >= -40 && gain_db <= 40) || !(dynamic_range_db >= 20 && dynamic_range_db <= 100))
        return CN_ERANGE;
    pthread_mutex_lock(&d->mu);
    d->gain_db = gain_db;
    d->dr_db = dynamic_range_db;
    d->levels_dirty = true;
    pthread_mutex_unlock(&d->mu);
    return CN_OK;
}

int cn_usb_device_set_freeze(cn_usb_device *d, bool frozen)
{
    pthread_mutex_lock(&d->mu);
    d->want_freeze = frozen ? 1 : 0;
    pthread_mutex_unlock(&d->mu);
    return CN_OK;
}

int cn_usb_device_set_focus_zone(cn_usb_device *d, int zone)
{
    if (zone < 0 || zone > 4)
        return CN_ERANGE;
    pthread_mutex_lock(&d->mu);
    d->want_focus = zone;
    pthread_mutex_unlock(&d->mu);
    return CN_OK;
}
