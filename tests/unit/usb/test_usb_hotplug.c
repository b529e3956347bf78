/*
 * test_usb_hotplug.c - unplug/replug and faults with the emulated UP20L on the real
 * libusb path: the session never ends (CN_EAGAIN only), streaming resumes by itself
 * after a replug, no torn frame is ever delivered, and stall / short / late / garbage
 * transfers each drop exactly one frame with a message; a tail so late that the probe is
 * restarted, and IN data left queued before the driver starts, never put a frame out of
 * step; interrupt() ends a wait for an absent probe promptly; the ordinary pipeline keeps
 * running through an unplug.
 * Re-executes itself under libumockdev-preload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "emu_rig.h"
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_unplug_replug(void **state)
{
    (void)state;
    /* Three unplugs, each in the middle of a frame, each followed by a replug 300 ms
     * later. Every cycle must resume by itself; the resume time is checked against the
     * 1 s goal on the best cycle (a loaded CI machine can starve the emulator thread,
     * which plays the hardware, for a while) and against 5 s on every cycle. */
    cn_up20l_emu_opts eo = emu_opts(25);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 4, 300};
    eo.faults[1] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 12, 300};
    eo.faults[2] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 20, 300};
    eo.n_faults = 3;
    rig r;
    rig_open(&r, &eo, 0, 500);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int ok = 0, again = 0, cycles = 0;
    double resume_ms[3] = {0, 0, 0}, best = 1e9;
    int64_t seen_replug = 0;
    int64_t t_end = cn_clock_mono_ns() + 40000000000LL;
    while (cycles < 3 && cn_clock_mono_ns() < t_end) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        if (rc == CN_OK) {
            assert_true(which(&r, f) >= 0); /* never a torn frame */
            ok++;
            int64_t rp = cn_up20l_emu_last_replug_ns(r.emu), up = cn_up20l_emu_last_unplug_ns(r.emu);
            if (up > 0 && rp > up && rp != seen_replug) {
                seen_replug = rp;
                resume_ms[cycles] = (f->t_acq_ns - rp) / 1e6;
                best = resume_ms[cycles] < best ? resume_ms[cycles] : best;
                cycles++;
            }
        } else {
            assert_int_equal(rc, CN_EAGAIN); /* the session is never ended by the unplug */
            again++;
        }
        cn_frame_unref(f);
    }
    print_message("resumed %.0f, %.0f, %.0f ms after the replugs (%d frames, %d EAGAIN)\n",
                  resume_ms[0], resume_ms[1], resume_ms[2], ok, again);
    if (cycles < 3 || best >= 1000)
        print_message("log:\n%s", log_text(&r));
    assert_int_equal(cycles, 3);
    assert_true(again >= 3);
    assert_true(best > 0 && best < 1000);
    for (int i = 0; i < 3; i++)
        assert_true(resume_ms[i] > 0 && resume_ms[i] < 5000);
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    assert_int_equal(st.disconnects, 3);
    assert_int_equal(st.reconnects, 3);
    assert_true(st.connected);
    const char *lg = log_text(&r);
    assert_non_null(strstr(lg, "UP20L probe lost"));
    assert_non_null(strstr(lg, "plugged in again"));
    rig_close(&r);
}

static void run_faults(int xfer)
{
    cn_up20l_emu_opts eo = emu_opts(50);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_STALL, 2, 0};
    eo.faults[1] = (cn_emu_fault){CN_EMU_FAULT_SHORT, 4, 0};
    eo.faults[2] = (cn_emu_fault){CN_EMU_FAULT_LATE, 6, 800};  /* beyond the 300 ms timeout */
    eo.faults[3] = (cn_emu_fault){CN_EMU_FAULT_GARBAGE, 9, 0};
    eo.n_faults = 4;
    rig r;
    rig_open_x(&r, &eo, 0, 300, xfer);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int ok = 0, again = 0;
    int64_t t_end = cn_clock_mono_ns() + 30000000000LL;
    while (ok < 14 && cn_clock_mono_ns() < t_end) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        if (rc == CN_OK) {
            assert_true(which(&r, f) >= 0);
            ok++;
        } else {
            assert_int_equal(rc, CN_EAGAIN);
            again++;
        }
        cn_frame_unref(f);
    }
    assert_int_equal(ok, 14);
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    print_message("14 frames delivered, %llu dropped, %d EAGAIN\n", (unsigned long long)st.dropped, again);
    assert_int_equal(st.dropped, 4); /* exactly the four faults: recovery leaves no debris */
    assert_int_equal(st.disconnects, 0);
    const char *lg = log_text(&r);
    print_message("%s", lg);
    assert_non_null(strstr(lg, "stalled"));
    assert_non_null(strstr(lg, "short bulk read"));
    assert_non_null(strstr(lg, "timed out"));
    assert_non_null(strstr(lg, "garbage frame"));
    rig_close(&r);
}

static void test_faults(void **state)
{
    (void)state;
    run_faults(0); /* the probe file's transfer size (40 KiB, 4 per frame) */
}

static void test_faults_vendor_chunks(void **state)
{
    (void)state;
    run_faults(CN_UP20L_CHUNK); /* 40 reads of 4096 B per frame, exactly like the vendor */
}

static void test_late_within_timeout(void **state)
{
    (void)state;
    cn_up20l_emu_opts eo = emu_opts(50);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_LATE, 1, 150};
    eo.n_faults = 1;
    rig r;
    rig_open(&r, &eo, 0, 500);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    for (int i = 0; i < 4; i++) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        assert_int_equal(r.di.read(r.di.self, f), CN_OK); /* late but complete: delivered */
        assert_int_equal(which(&r, f), i);
        cn_frame_unref(f);
    }
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    assert_int_equal(st.dropped, 0);
    rig_close(&r);
}

static void test_instant_replug(void **state)
{
    (void)state;
    /* The probe is back before the driver even noticed it was gone (replug after 0 ms):
     * the old connection's transfers still come back (as a kernel returns them), the
     * driver reconnects to the new address and streams on. */
    cn_up20l_emu_opts eo = emu_opts(50);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 2, 0};
    eo.faults[1] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 6, 1};
    eo.n_faults = 2;
    rig r;
    rig_open(&r, &eo, 0, 500);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int ok = 0;
    int64_t t_end = cn_clock_mono_ns() + 30000000000LL;
    while (ok < 10 && cn_clock_mono_ns() < t_end) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        if (rc == CN_OK) {
            assert_true(which(&r, f) >= 0);
            ok++;
        } else {
            assert_int_equal(rc, CN_EAGAIN);
        }
        cn_frame_unref(f);
    }
    assert_int_equal(ok, 10);
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    assert_int_equal(st.reconnects, 2);
    assert_null(strstr(log_text(&r), "never returned")); /* no transfer was lost */
    rig_close(&r);
}

static void test_late_tail_after_restart(void **state)
{
    (void)state;
    /* Audit H2: the tail of frame 3 comes 2 s late, beyond the drain wait (2 x 300 + 500
     * ms), so the driver restarts the probe; the tail lands on the IN endpoint after the
     * restart, where it must not become the head of the next frames. Every frame delivered
     * after the fault must be one of the real frames, bit for bit. */
    cn_up20l_emu_opts eo = emu_opts(25);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_LATE, 3, 2000};
    eo.n_faults = 1;
    rig r;
    rig_open(&r, &eo, 0, 300);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int ok = 0, after = 0, torn = 0, torn_after = 0, again = 0;
    int64_t t_end = cn_clock_mono_ns() + 40000000000LL;
    while (after < 15 && cn_clock_mono_ns() < t_end) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        if (rc == CN_OK) {
            int k = which(&r, f);
            ok++;
            torn += k < 0;
            if (again) {
                after++;
                torn_after += k < 0;
            }
        } else {
            assert_int_equal(rc, CN_EAGAIN);
            again++;
        }
        cn_frame_unref(f);
    }
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    const char *lg = log_text(&r);
    print_message("%d frames delivered (%d after the fault), %d torn (%d after the fault), "
                  "%llu dropped, %d EAGAIN\n%s",
                  ok, after, torn, torn_after, (unsigned long long)st.dropped, again, lg);
    assert_true(again >= 1);          /* the fault did drop a frame */
    assert_int_equal(after, 15);      /* and streaming went on after it */
    assert_int_equal(torn, 0);        /* never a torn or wrapped frame */
    assert_true(st.dropped >= 1 && st.dropped <= 4);
    assert_int_equal(st.disconnects, 0);
    assert_int_equal(st.reconnects, 0); /* a restart is no replug */
    assert_int_equal(st.restarts, 1);
    assert_non_null(strstr(lg, "restarting the probe"));
    assert_non_null(strstr(lg, "UP20L restarted at bus"));
    assert_null(strstr(lg, "plugged in again"));   /* audit L1: it was never unplugged */
    assert_null(strstr(lg, "failed frames in a row"));
    rig_close(&r);
}

static void test_stale_in_data_at_start(void **state)
{
    (void)state;
    /* A real FX2 keeps what it queued on the IN endpoint across a re-open without a bus
     * reset. Another program (here: a bare engine) requests a frame, reads only 10 of its
     * 40 chunks and closes: the driver started next must read the 30 left chunks away
     * before its first frame request, so its very first frame is whole. */
    cn_up20l_emu_opts eo = emu_opts(50);
    rig r;
    rig_open(&r, &eo, 0, 500);
    char err[512];
    cn_usb_engine_opts o = {CN_UP20L_VID, CN_UP20L_PID, 0, r.log};
    cn_usb_engine *e = cn_usb_engine_new(&o, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(cn_usb_engine_open(e, err, sizeof err), CN_OK);
    cn_up20l_config c;
    cn_up20l_config_default(&c);
    assert_int_equal(cn_up20l_startup(e, &c, r.tables, err, sizeof err), CN_OK);
    uint8_t zeros[16] = {0};
    assert_int_equal(cn_usb_engine_control(e, 0x40, 0xB3, 0, 0, zeros, sizeof zeros, 1000), 16);
    uint8_t *buf = malloc(10 * CN_UP20L_CHUNK);
    int got = 0;
    assert_int_equal(cn_usb_engine_read_chunks(e, CN_UP20L_EP_IN, buf, CN_UP20L_CHUNK, 10, 4, 500,
                                               &got, err, sizeof err),
                     CN_OK);
    assert_int_equal(got, 10 * CN_UP20L_CHUNK);
    free(buf);
    cn_usb_engine_free(e); /* 30 chunks of frame 0 stay queued on 0x86 */

    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int seen[6], n = 0;
    for (int i = 0; i < 6; i++) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        seen[n++] = rc == CN_OK ? which(&r, f) : -2;
        cn_frame_unref(f);
    }
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    const char *lg = log_text(&r);
    print_message("frames %d %d %d %d %d %d (-1 torn, -2 dropped), %llu dropped\n%s", seen[0],
                  seen[1], seen[2], seen[3], seen[4], seen[5], (unsigned long long)st.dropped, lg);
    for (int i = 0; i < 6; i++)
        assert_int_equal(seen[i], (i + 1) % 5); /* frame 0 was the other program's */
    assert_int_equal(st.dropped, 0);
    assert_non_null(strstr(lg, "122880 bytes"));
    rig_close(&r);
}

static void test_out_of_step_resync(void **state)
{
    (void)state;
    /* Misalignment whatever its cause: while the driver streams, someone else on the probe
     * (a second engine) asks for a register and never reads the 512-byte answer. The next
     * frame then begins with that answer and ends 512 bytes short of its own end; the
     * driver must see the data still waiting after the last chunk, drop that frame once,
     * read the pipe empty and stream on in step. */
    cn_up20l_emu_opts eo = emu_opts(50);
    rig r;
    rig_open(&r, &eo, 0, 500);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    for (int i = 0; i < 3; i++) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        assert_int_equal(r.di.read(r.di.self, f), CN_OK);
        assert_int_equal(which(&r, f), i);
        cn_frame_unref(f);
    }
    char err[512];
    cn_usb_engine_opts o = {CN_UP20L_VID, CN_UP20L_PID, 0, r.log};
    cn_usb_engine *e = cn_usb_engine_new(&o, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(cn_usb_engine_open(e, err, sizeof err), CN_OK);
    uint8_t zeros[16] = {0}, sel[2] = {0xFF, 0x16};
    assert_int_equal(cn_usb_engine_control(e, 0x40, 0xB2, 1, 0, zeros, sizeof zeros, 1000), 16);
    assert_int_equal(cn_usb_engine_bulk(e, CN_UP20L_EP_OUT, sel, 2, 1000), 2);
    assert_int_equal(cn_usb_engine_control(e, 0x40, 0xB3, 1, 0, zeros, sizeof zeros, 1000), 16);
    cn_usb_engine_free(e); /* the 512-byte answer stays queued on 0x86 */

    int ok = 0, torn = 0, again = 0;
    int64_t t_end = cn_clock_mono_ns() + 20000000000LL;
    while (ok < 10 && cn_clock_mono_ns() < t_end) {
        cn_frame *f = cn_frame_pool_acquire(r.pool);
        int rc = r.di.read(r.di.self, f);
        if (rc == CN_OK) {
            ok++;
            torn += which(&r, f) < 0;
        } else {
            assert_int_equal(rc, CN_EAGAIN);
            again++;
        }
        cn_frame_unref(f);
    }
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    const char *lg = log_text(&r);
    print_message("%d frames after the stray answer, %d torn, %llu dropped, %d EAGAIN\n%s", ok,
                  torn, (unsigned long long)st.dropped, again, lg);
    assert_int_equal(ok, 10);
    assert_int_equal(torn, 0);
    assert_int_equal(st.dropped, 1); /* exactly the frame that was out of step */
    assert_int_equal(st.restarts, 0);
    assert_non_null(strstr(lg, "out of step"));
    rig_close(&r);
}

static void *interrupter(void *arg)
{
    rig *r = arg;
    cn_clock_sleep_ns(300000000);
    r->di.interrupt(r->di.self);
    return NULL;
}

static void test_interrupt_while_unplugged(void **state)
{
    (void)state;
    cn_up20l_emu_opts eo = emu_opts(50);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 1, -1}; /* never comes back */
    eo.n_faults = 1;
    rig r;
    rig_open(&r, &eo, 0, 500);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    pthread_t th;
    int rc = CN_OK;
    cn_frame *f = cn_frame_pool_acquire(r.pool);
    int64_t t0 = 0;
    for (int i = 0; i < 50 && rc != CN_ECLOSED; i++) {
        rc = r.di.read(r.di.self, f);
        if (rc == CN_EAGAIN && !t0) {
            t0 = cn_clock_mono_ns();
            pthread_create(&th, NULL, interrupter, &r);
        }
    }
    assert_int_equal(rc, CN_ECLOSED);
    double ms = (cn_clock_mono_ns() - t0) / 1e6;
    print_message("interrupt honoured %.0f ms after the first EAGAIN (interrupt at 300 ms)\n", ms);
    assert_true(ms < 1000);
    pthread_join(th, NULL);
    cn_frame_unref(f);
    rig_close(&r);
}

/* Starts and ends libusb contexts as fast as it can (what the device does while it looks
 * for an unplugged probe): each context opens and closes a uevent listener. */
typedef struct {
    cn_usb_engine *eng;
    atomic_bool stop;
    int counts;
} churner;

static void *churn(void *arg)
{
    churner *c = arg;
    while (!atomic_load(&c->stop)) {
        (void)cn_usb_engine_count(c->eng);
        c->counts++;
    }
    return NULL;
}

static void test_replug_while_listeners_come_and_go(void **state)
{
    (void)state;
    /* The emulator's plug and unplug uevents go to every listener; a listener that closes
     * between the sender's connect and its send must be skipped, as the kernel skips a
     * closed netlink socket. Debian 12's libumockdev (0.17.16) aborted the whole test
     * instead ("uevent_sender sendmsg_one: sendmsg failed: Connection refused"): seen
     * once in CI in test_pipeline_survives_unplug, here within a few hundred cycles. */
    rig r;
    cn_up20l_emu_opts eo = emu_opts(25);
    rig_open(&r, &eo, 0, 500);
    cn_usb_engine_opts o = {.vid = 0x04b4, .pid = 0x8613, .interface_no = 0};
    char err[256];
    churner c = {.eng = cn_usb_engine_new(&o, err, sizeof err)};
    assert_non_null(c.eng);
    atomic_init(&c.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn, &c), 0);
    int cycles = 0;
    int64_t t_end = cn_clock_mono_ns() + 4000000000LL;
    /* 10 ms between uevents: a listener that reads slowly (libusb's thread, under a
     * sanitizer) must not fill up, which aborts the sender too (EAGAIN; CI's first run
     * of this test sent back to back) */
    while (cn_clock_mono_ns() < t_end) {
        assert_int_equal(cn_up20l_emu_unplug(r.emu), CN_OK);
        cn_clock_sleep_ns(10000000);
        assert_int_equal(cn_up20l_emu_replug(r.emu), CN_OK);
        cn_clock_sleep_ns(10000000);
        cycles++;
    }
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    print_message("%d unplug/replug cycles while %d libusb contexts came and went\n", cycles,
                  c.counts);
    assert_true(cn_up20l_emu_plugged(r.emu));
    assert_true(cycles > 0 && c.counts > 0);
    cn_usb_engine_free(c.eng);
    rig_close(&r);
}

/* A raw sink (what the recorder uses): sees every acquired frame on the device thread. */
typedef struct {
    rig *r;
    pthread_mutex_t mu;
    int frames, torn;
    uint64_t last_seq;
    bool seq_ok;
} counting_sink;

static void count_frame(void *self, cn_frame *f)
{
    counting_sink *c = self;
    int k = which(c->r, f);
    pthread_mutex_lock(&c->mu);
    c->frames++;
    c->torn += k < 0;
    c->seq_ok = c->seq_ok && f->seq == c->last_seq + 1;
    c->last_seq = f->seq;
    pthread_mutex_unlock(&c->mu);
}

static void test_pipeline_survives_unplug(void **state)
{
    (void)state;
    /* The ordinary pipeline (device thread, analysis thread, sinks) keeps running through
     * an unplug and a replug: the raw sink (the recorder's hook) sees every delivered
     * frame, none torn, with consecutive sequence numbers, and the pipeline never stops. */
    cn_up20l_emu_opts eo = emu_opts(25);
    eo.faults[0] = (cn_emu_fault){CN_EMU_FAULT_UNPLUG, 3, 300};
    eo.n_faults = 1;
    rig r;
    rig_open(&r, &eo, 0, 500);
    cn_pipeline_opts po = {.pool_frames = 8, .max_width = 640, .max_height = 480, .log = r.log};
    cn_pipeline *p = cn_pipeline_new(&po);
    assert_non_null(p);
    counting_sink cs = {.r = &r, .seq_ok = true};
    pthread_mutex_init(&cs.mu, NULL);
    cn_sink sink = {"count", &cs, count_frame};
    assert_int_equal(cn_pipeline_set_device(p, &r.di), CN_OK);
    assert_int_equal(cn_pipeline_add_raw_sink(p, &sink), CN_OK);
    assert_int_equal(cn_pipeline_start(p), CN_OK);
    int64_t t_end = cn_clock_mono_ns() + 20000000000LL;
    int n = 0;
    while (cn_clock_mono_ns() < t_end) {
        pthread_mutex_lock(&cs.mu);
        n = cs.frames;
        pthread_mutex_unlock(&cs.mu);
        assert_true(cn_pipeline_running(p));
        if (n >= 10 && cn_up20l_emu_last_replug_ns(r.emu) > 0)
            break;
        cn_clock_sleep_ns(20000000);
    }
    assert_true(cn_pipeline_running(p));
    cn_pipeline_stop(p);
    cn_pipeline_stats st;
    cn_pipeline_get_stats(p, &st);
    print_message("pipeline: %d frames through the raw sink, %llu analysed, unplug survived\n", n,
                  (unsigned long long)st.analysed);
    assert_true(n >= 10);
    assert_int_equal(cs.torn, 0);
    assert_true(cs.seq_ok);
    assert_int_equal(st.last_error, CN_OK);
    cn_usb_device_stats ds;
    cn_usb_device_get_stats(r.dev, &ds);
    assert_int_equal(ds.disconnects, 1);
    assert_int_equal(ds.reconnects, 1);
    cn_pipeline_free(p);
    pthread_mutex_destroy(&cs.mu);
    rig_close(&r);
}

/* A probe that sends only garbage (every sample above the plausible maximum): each frame
 * is dropped and the probe restarted, as before; after 5 restarts without one usable
 * frame the log says the probe sends no usable image, once, and the restarts back off
 * (input audit I10: before, about two restarts a second for ever, 91 in 45 s). */
static void test_garbage_only_backs_off(void **state)
{
    (void)state;
    char dir[] = "/tmp/cn_usb_garbage_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.raw", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < CN_UP20L_ROWS * CN_UP20L_COLS; i++) {
        fputc(0xff, f);
        fputc(0xff, f);
    }
    fclose(f);
    cn_up20l_emu_opts eo = emu_opts(0);
    eo.frames_dir = dir;
    rig r;
    rig_open(&r, &eo, 0, 300);
    assert_int_equal(r.di.start(r.di.self), CN_OK);
    int ok = 0;
    const int64_t t_end = cn_clock_mono_ns() + 15000000000LL;
    while (cn_clock_mono_ns() < t_end) {
        cn_frame *fr = cn_frame_pool_acquire(r.pool);
        ok += r.di.read(r.di.self, fr) == CN_OK;
        cn_frame_unref(fr);
    }
    cn_usb_device_stats st;
    cn_usb_device_get_stats(r.dev, &st);
    const char *lg = log_text(&r);
    const char *said = strstr(lg, "sends no usable image");
    print_message("15 s of garbage: %d frames delivered, %llu dropped, %llu restarts\n", ok,
                  (unsigned long long)st.dropped, (unsigned long long)st.restarts);
    assert_int_equal(ok, 0);
    assert_non_null(said);
    assert_null(strstr(said + 1, "sends no usable image")); /* once */
    /* 5, then one after 1, 2, 4 and 8 s: at most 9 in 15 s */
    assert_true(st.restarts >= 5 && st.restarts <= 9);
    rig_close(&r);
    unlink(path);
    rmdir(dir);
}

/* A probe whose frames hold one level (its transmit off, its tables zero) sends no echo:
 * each frame is dropped saying so, and what the screen says while no frame comes names
 * it. Before, all-zero frames were delivered and shown as a live black image, and the
 * window said "waiting for the USB probe to be plugged in" for any probe that sent no
 * usable frame (review 39a M1, M2). A real frame passes (the phantom's, in test_faults). */
static void test_empty_frames_are_no_image(void **state)
{
    (void)state;
    for (int level = 0; level < 3; level++) {
        char dir[] = "/tmp/cn_usb_empty_XXXXXX", path[128];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/a.raw", dir);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        for (int i = 0; i < CN_UP20L_ROWS * CN_UP20L_COLS; i++) {
            /* flat; flat with a little noise; ADC noise of 0..40 (a front end that does not
             * fire: review 39c) */
            int v = level == 0 ? 0 : level == 1 ? 300 + (i % 7) : (int)((i * 2654435761u) >> 7) % 41;
            fputc(v & 0xff, f);
            fputc(v >> 8, f);
        }
        fclose(f);
        cn_up20l_emu_opts eo = emu_opts(0);
        eo.frames_dir = dir;
        rig r;
        rig_open(&r, &eo, 0, 300);
        assert_int_equal(r.di.start(r.di.self), CN_OK);
        int ok = 0;
        const int64_t t_end = cn_clock_mono_ns() + 2000000000LL;
        while (cn_clock_mono_ns() < t_end) {
            cn_frame *fr = cn_frame_pool_acquire(r.pool);
            ok += r.di.read(r.di.self, fr) == CN_OK;
            cn_frame_unref(fr);
        }
        char said[300];
        cn_usb_device_outage_text(r.dev, cn_clock_mono_ns(), said, sizeof said);
        static const char *want[3] = {"empty frame: all samples 0-0",
                                      "empty frame: all samples 300-306",
                                      "empty frame: all samples 0-40"};
        print_message("level %d: %d frames delivered; the screen: %s\n", level, ok, said);
        assert_int_equal(ok, 0);
        assert_non_null(strstr(log_text(&r), want[level]));
        assert_non_null(strstr(said, "plugged in but sends no usable image (empty frame"));
        rig_close(&r);
        unlink(path);
        rmdir(dir);
    }
}

int main(int argc, char **argv)
{
    cn_up20l_emu_reexec_preloaded(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unplug_replug),
        cmocka_unit_test(test_garbage_only_backs_off),
        cmocka_unit_test(test_empty_frames_are_no_image),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_faults_vendor_chunks),
        cmocka_unit_test(test_late_within_timeout),
        cmocka_unit_test(test_late_tail_after_restart),
        cmocka_unit_test(test_stale_in_data_at_start),
        cmocka_unit_test(test_out_of_step_resync),
        cmocka_unit_test(test_instant_replug),
        cmocka_unit_test(test_interrupt_while_unplugged),
        cmocka_unit_test(test_pipeline_survives_unplug),
        cmocka_unit_test(test_replug_while_listeners_come_and_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
