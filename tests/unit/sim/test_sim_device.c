/* test_sim_device.c - the simulator as a pipeline device: sequence numbers, scene
 * time per frame, end of scenario, loop, real-time pacing, interrupt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/sim.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

static cn_sim *small_sim(double fps, double time_scale)
{
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 128;
    c.height_px = 96;
    c.fps = fps;
    c.time_scale = time_scale;
    c.idle_s = 0.5;
    c.approach_s = 1;
    c.withdraw_s = 0.5;
    c.n_cycles = 1;
    c.cycles[0] = (cn_sim_cycle){1, 0};
    c.release_thaw_s = 0; /* withdrawn straight from the freeze */
    cn_strlcpy(c.protocol, "custom", sizeof c.protocol);
    return cn_sim_new(&c); /* 3 s of scenario */
}

static void test_fast_frames(void **state)
{
    (void)state;
    cn_sim *s = small_sim(10, 1);
    assert_non_null(s);
    assert_float_equal(cn_sim_duration_s(s), 3.0, 1e-9);
    cn_frame_pool *pool = cn_frame_pool_new(4, 128, 96);
    cn_device dev;
    cn_sim_device_opts o = {.realtime = false, .loop = false, .max_frames = 0};
    assert_int_equal(cn_sim_device_make(s, &o, &dev), CN_OK);
    assert_string_equal(dev.name, "sim");
    assert_int_equal(dev.start(dev.self), CN_OK);
    int64_t prev = 0;
    int n = 0;
    int64_t t0 = cn_clock_mono_ns();
    for (;;) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        int rc = dev.read(dev.self, f);
        if (rc == CN_ECLOSED) {
            cn_frame_unref(f);
            break;
        }
        assert_int_equal(rc, CN_OK);
        assert_int_equal(f->seq, (uint64_t)n);
        assert_float_equal(f->truth.t_scene_s, n * 1.0 / 10, 1e-12);
        assert_true(f->t_acq_ns >= prev);
        assert_true(f->wall_ns > 0);
        prev = f->t_acq_ns;
        cn_frame_unref(f);
        n++;
    }
    /* frames at 0, 0.1, ... 3.0 s of scene, rendered without pacing */
    assert_int_equal(n, 31);
    assert_true(cn_clock_mono_ns() - t0 < 2000000000LL);
    dev.stop(dev.self);
    cn_sim_device_release(&dev);
    assert_null(dev.self);

    /* max_frames and loop */
    o = (cn_sim_device_opts){.realtime = false, .loop = true, .max_frames = 50};
    cn_sim_device_make(s, &o, &dev);
    dev.start(dev.self);
    n = 0;
    double last_t = 0;
    for (;;) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        int rc = dev.read(dev.self, f);
        if (rc != CN_OK) {
            assert_int_equal(rc, CN_ECLOSED);
            cn_frame_unref(f);
            break;
        }
        last_t = f->truth.t_scene_s;
        assert_true(last_t <= 3.0 + 1e-9);
        cn_frame_unref(f);
        n++;
    }
    assert_int_equal(n, 50);
    assert_float_equal(last_t, fmod(4.9, 3.0), 1e-9); /* looped past the end */
    cn_sim_device_release(&dev);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

static void test_realtime_pacing(void **state)
{
    (void)state;
    cn_sim *s = small_sim(50, 1);
    cn_frame_pool *pool = cn_frame_pool_new(2, 128, 96);
    cn_device dev;
    cn_sim_device_opts o = {.realtime = true, .max_frames = 6};
    cn_sim_device_make(s, &o, &dev);
    dev.start(dev.self);
    int64_t t0 = cn_clock_mono_ns(), first = 0, last = 0;
    for (int i = 0; i < 6; i++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_int_equal(dev.read(dev.self, f), CN_OK);
        if (i == 0)
            first = f->t_acq_ns;
        last = f->t_acq_ns;
        cn_frame_unref(f);
    }
    double ms = (last - first) / 1e6;
    print_message("6 frames at 50 fps span %.1f ms\n", ms);
    assert_true(ms >= 95 && ms < 400); /* 5 periods of 20 ms */
    assert_true(first - t0 < 50000000LL);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_int_equal(dev.read(dev.self, f), CN_ECLOSED);
    cn_frame_unref(f);
    cn_sim_device_release(&dev);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

typedef struct {
    cn_device *dev;
} intr_arg;

static void *interrupter(void *p)
{
    intr_arg *a = p;
    cn_clock_sleep_ns(100000000LL);
    a->dev->interrupt(a->dev->self);
    return NULL;
}

static void test_interrupt(void **state)
{
    (void)state;
    cn_sim *s = small_sim(1, 1); /* one frame per second: the second read blocks */
    cn_frame_pool *pool = cn_frame_pool_new(2, 128, 96);
    cn_device dev;
    cn_sim_device_opts o = {.realtime = true};
    cn_sim_device_make(s, &o, &dev);
    dev.start(dev.self);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_int_equal(dev.read(dev.self, f), CN_OK);
    pthread_t th;
    intr_arg a = {&dev};
    pthread_create(&th, NULL, interrupter, &a);
    int64_t t0 = cn_clock_mono_ns();
    assert_int_equal(dev.read(dev.self, f), CN_ECLOSED);
    double ms = (cn_clock_mono_ns() - t0) / 1e6;
    print_message("blocked read returned %.1f ms after the interrupt was scheduled\n", ms);
    assert_true(ms < 500);
    pthread_join(th, NULL);
    /* stays closed until started again */
    assert_int_equal(dev.read(dev.self, f), CN_ECLOSED);
    dev.start(dev.self);
    assert_int_equal(dev.read(dev.self, f), CN_OK);
    assert_int_equal(f->seq, 0);
    cn_frame_unref(f);
    dev.stop(dev.self);
    cn_sim_device_release(&dev);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

/* time_scale speeds the scene up: frame i shows i * time_scale / fps. */
static void test_time_scale(void **state)
{
    (void)state;
    cn_sim *s = small_sim(10, 5);
    cn_frame_pool *pool = cn_frame_pool_new(2, 128, 96);
    cn_device dev;
    cn_sim_device_opts o = {.realtime = false};
    cn_sim_device_make(s, &o, &dev);
    dev.start(dev.self);
    int n = 0;
    cn_frame *f = cn_frame_pool_acquire(pool);
    while (dev.read(dev.self, f) == CN_OK) {
        assert_float_equal(f->truth.t_scene_s, n * 0.5, 1e-12);
        n++;
    }
    assert_int_equal(n, 7); /* 0, 0.5, ... 3.0 */
    cn_frame_unref(f);
    cn_sim_device_release(&dev);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_frames),
        cmocka_unit_test(test_realtime_pacing),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_time_scale),
    };
    return cmocka_run_group_tests_name("sim_device", tests, NULL, NULL);
}
