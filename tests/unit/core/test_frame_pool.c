/* Frame pool: preallocation, exhaustion without blocking, reference counts under
 * two threads passing frames back and forth, poses and copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void test_acquire_exhaust_release(void **st)
{
    (void)st;
    cn_frame_pool *p = cn_frame_pool_new(3, 64, 32);
    assert_non_null(p);
    cn_frame *a = cn_frame_pool_acquire(p), *b = cn_frame_pool_acquire(p), *c = cn_frame_pool_acquire(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a->pixels, b->pixels);
    assert_null(cn_frame_pool_acquire(p)); /* exhausted: NULL, never blocks */
    assert_int_equal(cn_frame_pool_available(p), 0);
    assert_int_equal(cn_frame_pool_free(p), CN_EAGAIN); /* refuses while frames are out */
    cn_frame_ref(b);
    cn_frame_unref(b);
    assert_int_equal(cn_frame_pool_available(p), 0); /* still one reference */
    cn_frame_unref(b);
    assert_int_equal(cn_frame_pool_available(p), 1);
    cn_frame *d = cn_frame_pool_acquire(p);
    assert_ptr_equal(d, b); /* recycled, metadata cleared */
    assert_int_equal(d->n_poses, 0);
    assert_int_equal(cn_frame_set_size(d, 65, 32), CN_ERANGE);
    assert_int_equal(cn_frame_set_size(d, 64, 32), CN_OK);
    cn_frame_unref(a);
    cn_frame_unref(c);
    cn_frame_unref(d);
    assert_int_equal(cn_frame_pool_free(p), CN_OK);
    assert_null(cn_frame_pool_new(0, 10, 10));
    assert_null(cn_frame_pool_new(2, -1, 10));
}

static void test_poses_and_copy(void **st)
{
    (void)st;
    cn_frame_pool *p = cn_frame_pool_new(2, 8, 8);
    cn_frame *a = cn_frame_pool_acquire(p), *b = cn_frame_pool_acquire(p);
    cn_mat4 m = cn_mat4_translation(1, 2, 3);
    for (int i = 0; i < CN_POSES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "Tool%dToTracker", i);
        assert_int_equal(cn_frame_set_pose(a, name, &m, true), CN_OK);
    }
    assert_int_equal(cn_frame_set_pose(a, "OneTooManyToTracker", &m, true), CN_ENOMEM);
    m.m[3] = 7;
    assert_int_equal(cn_frame_set_pose(a, "Tool3ToTracker", &m, false), CN_OK); /* replace */
    const cn_pose *ps = cn_frame_get_pose(a, "Tool3ToTracker");
    assert_non_null(ps);
    assert_false(ps->valid);
    assert_true(ps->m.m[3] == 7);
    assert_null(cn_frame_get_pose(a, "Missing"));
    cn_frame_set_size(a, 8, 8);
    memset(a->pixels, 0xAB, 64);
    a->seq = 42;
    assert_int_equal(cn_frame_copy(b, a), CN_OK);
    assert_int_equal(b->seq, 42);
    assert_ptr_not_equal(b->pixels, a->pixels);
    assert_int_equal(b->pixels[63], 0xAB);
    assert_int_equal(b->n_poses, CN_POSES_MAX);
    cn_frame_unref(b); /* b's own pool bookkeeping survived the copy */
    assert_int_equal(cn_frame_pool_available(p), 1);
    cn_frame_unref(a);
    assert_int_equal(cn_frame_pool_free(p), CN_OK);
}

/* Two threads: the producer acquires frames, stamps them and hands each to the
 * consumer with an extra reference for a "sink"; both sides unref. If reference
 * counting were racy, a frame would return to the pool twice (abort) or never
 * (the final count would be short). */
typedef struct {
    cn_frame_pool *pool;
    cn_frame *_Atomic slot[8];
    atomic_int produced, consumed;
    int total;
} handoff;

static void *producer(void *arg)
{
    handoff *h = arg;
    for (int i = 0; i < h->total;) {
        cn_frame *f = cn_frame_pool_acquire(h->pool);
        if (!f)
            continue; /* the consumer is holding them all: spin until it lets go */
        f->seq = (uint64_t)i;
        f->pixels[0] = (uint8_t)i;
        cn_frame_ref(f); /* the "sink" reference, dropped by the consumer */
        cn_frame *expected = NULL;
        while (!atomic_compare_exchange_weak(&h->slot[i % 8], &expected, f))
            expected = NULL;
        cn_frame_unref(f); /* producer's own reference */
        atomic_fetch_add(&h->produced, 1);
        i++;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    handoff *h = arg;
    for (int i = 0; i < h->total;) {
        cn_frame *f = atomic_exchange(&h->slot[i % 8], NULL);
        if (!f)
            continue;
        if (f->seq != (uint64_t)i || f->pixels[0] != (uint8_t)i)
            abort();
        cn_frame_ref(f);
        cn_frame_unref(f);
        cn_frame_unref(f);
        atomic_fetch_add(&h->consumed, 1);
        i++;
    }
    return NULL;
}

static void test_two_threads(void **st)
{
    (void)st;
    handoff h;
    memset(&h, 0, sizeof h);
    h.pool = cn_frame_pool_new(6, 16, 16);
    h.total = 100000;
    pthread_t a, b;
    pthread_create(&a, NULL, producer, &h);
    pthread_create(&b, NULL, consumer, &h);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(atomic_load(&h.consumed), h.total);
    assert_int_equal(cn_frame_pool_available(h.pool), 6); /* every frame came back exactly once */
    assert_int_equal(cn_frame_pool_free(h.pool), CN_OK);
}

/* ImageTo<ref>: full chain, then each fall-back (no ImageToProbe -> spacing; no or
 * invalid reference -> Tracker; no probe pose -> not tracked, spacing only). */
static void test_image_to_ref(void **st)
{
    (void)st;
    cn_frame_pool *p = cn_frame_pool_new(1, 8, 8);
    cn_frame *f = cn_frame_pool_acquire(p);
    f->spacing_mm[0] = f->spacing_mm[1] = 0.5;
    cn_mat4 i2p = cn_mat4_scale(0.5, 0.5, 1), p2t = cn_mat4_translation(10, 0, 0),
            r2t = cn_mat4_translation(0, 20, 0), out;
    bool used = true;
    assert_int_equal(cn_frame_image_to(f, "Reference", &out, &used), CN_ENOENT);
    assert_false(used);
    assert_true(out.m[0] == 0.5 && out.m[3] == 0); /* spacing only */
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    assert_int_equal(cn_frame_image_to(f, "Reference", &out, &used), CN_OK);
    assert_false(used); /* no reference: Tracker */
    cn_vec3 q = cn_mat4_apply_point(&out, (cn_vec3){2, 4, 0});
    assert_true(q.x == 11 && q.y == 2);
    cn_frame_set_pose(f, "ImageToProbe", &i2p, true);
    cn_frame_set_pose(f, "ReferenceToTracker", &r2t, true);
    assert_int_equal(cn_frame_image_to(f, "Reference", &out, &used), CN_OK);
    assert_true(used);
    q = cn_mat4_apply_point(&out, (cn_vec3){2, 4, 0});
    assert_true(q.x == 11 && q.y == -18);
    cn_frame_set_pose(f, "ReferenceToTracker", &r2t, false); /* reference lost */
    assert_int_equal(cn_frame_tracker_to(f, "Reference", &out), CN_ENOENT);
    assert_true(cn_mat4_max_abs_diff(&out, &(cn_mat4){{1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,0,1}}) == 0);
    assert_int_equal(cn_frame_tracker_to(f, "Tracker", &out), CN_OK);
    p2t.m[3] = NAN; /* an unusable pose counts as missing */
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    assert_null(cn_frame_usable_pose(f, "ProbeToTracker"));
    assert_int_equal(cn_frame_image_to(f, "Reference", &out, NULL), CN_ENOENT);
    cn_frame_unref(f);
    assert_int_equal(cn_frame_pool_free(p), CN_OK);
}


/* Events: appended in order, sanitised (no newline or escape can forge a header or
 * log line), bounded (the ninth is refused, not written past the array), and a new
 * frame from the pool starts with none and no scene time. */
static void test_events(void **st)
{
    (void)st;
    cn_frame_pool *p = cn_frame_pool_new(1, 8, 8);
    cn_frame *f = cn_frame_pool_acquire(p);
    assert_int_equal(f->analysis.n_events, 0);
    assert_true(f->t_scene_ns == CN_SCENE_TIME_UNSET);
    assert_int_equal(cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, 5, "freeze_start cycle=%d", 2), CN_OK);
    assert_int_equal(cn_analysis_add_event(&f->analysis, CN_EVSRC_PROCTOR, 6, "note text=%s", "a\nb\x1b[31m"), CN_OK);
    assert_string_equal(f->analysis.events[0].text, "freeze_start cycle=2");
    assert_int_equal(f->analysis.events[0].source, CN_EVSRC_OPERATOR);
    assert_string_equal(f->analysis.events[1].text, "note text=a b [31m");
    assert_string_equal(cn_event_source_name(CN_EVSRC_PROCTOR), "proctor");
    for (int i = 2; i < CN_EVENTS_MAX; i++)
        assert_int_equal(cn_analysis_add_event(&f->analysis, CN_EVSRC_SYSTEM, 7, "e%d", i), CN_OK);
    assert_int_equal(cn_analysis_add_event(&f->analysis, CN_EVSRC_SYSTEM, 8, "one too many"), CN_ENOMEM);
    assert_int_equal(f->analysis.n_events, CN_EVENTS_MAX);
    cn_frame_unref(f);
    f = cn_frame_pool_acquire(p);
    assert_int_equal(f->analysis.n_events, 0);
    cn_frame_unref(f);
    assert_int_equal(cn_frame_pool_free(p), CN_OK);
}


/* The one rule for image mm: pixel (i, j) is centred at ((i + 0.5) sx, (j + 0.5) sy),
 * and a tool's origin maps through the frame's poses to that convention. */
static void test_tool_to_image_mm(void **st)
{
    (void)st;
    cn_frame_pool *p = cn_frame_pool_new(1, 8, 8);
    cn_frame *f = cn_frame_pool_acquire(p);
    cn_frame_set_size(f, 8, 8);
    f->spacing_mm[0] = f->spacing_mm[1] = 0.2;
    cn_mat4 m = cn_frame_image_to_image_mm(f);
    cn_vec3 c = cn_mat4_apply_point(&m, (cn_vec3){3, 4, 0});
    assert_true(fabs(c.x - 0.7) < 1e-12 && fabs(c.y - 0.9) < 1e-12);
    assert_int_equal(cn_frame_tool_to_image_mm(f, "Cryoprobe", &m), CN_ENOENT);
    /* ImageToProbe: pixels -> mm, origin at the transducer's centre (x = -0.8 mm). */
    cn_mat4 s = cn_mat4_scale(0.2, 0.2, 0.2), t = cn_mat4_translation(-0.8, 0, 0);
    cn_mat4 i2p = cn_mat4_mul(&t, &s);
    cn_mat4 p2t = cn_mat4_translation(10, 20, 30);
    /* the tip 1 mm right of the transducer centre, 2 mm deep */
    cn_mat4 c2t = cn_mat4_translation(10 + 1.0, 20 + 2.0, 30);
    cn_frame_set_pose(f, "ImageToProbe", &i2p, true);
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, true);
    assert_int_equal(cn_frame_tool_to_image_mm(f, "Cryoprobe", &m), CN_OK);
    cn_vec3 tip = cn_mat4_apply_point(&m, (cn_vec3){0, 0, 0});
    /* pixel x = (1 + 0.8) / 0.2 = 9, y = 10 -> image mm (9.5 * 0.2, 10.5 * 0.2) */
    assert_true(fabs(tip.x - 1.9) < 1e-9 && fabs(tip.y - 2.1) < 1e-9 && fabs(tip.z) < 1e-9);
    cn_frame_unref(f);
    assert_int_equal(cn_frame_pool_free(p), CN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_exhaust_release),
        cmocka_unit_test(test_poses_and_copy),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_image_to_ref),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_tool_to_image_mm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
