/*
 * test_usb_hotplug.c - unplug/replug and faults with the emulated UP20L on the real
 * libusb path: the session never ends (CN_EAGAIN only), streaming resumes by itself
 * after a replug, no torn frame is ever delivered, and stall / short / late / garbage
 * transfers each drop exactly one frame with a message; interrupt() ends a wait for an
 * absent probe promptly; the ordinary pipeline keeps running through an unplug.
 * Re-executes itself under libumockdev-preload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "emu_rig.h"
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    cn_up20l_emu_reexec_preloaded(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unplug_replug),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_faults_vendor_chunks),
        cmocka_unit_test(test_late_within_timeout),
        cmocka_unit_test(test_instant_replug),
        cmocka_unit_test(test_interrupt_while_unplugged),
        cmocka_unit_test(test_pipeline_survives_unplug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
