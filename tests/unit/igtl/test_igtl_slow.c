/*
 * test_igtl_slow.c - a client that stops reading must not disturb anyone else.
 *
 * A real pipeline (paced 30 fps synthetic 640x480 device -> analysis thread ->
 * the OpenIGTLink server as a sink) streams to three fast readers on loopback.
 * Phase A measures their latency (acquisition wall time in the IMAGE header ->
 * last byte received) and the time consume() takes on the analysis thread;
 * phase B repeats with a fourth client that never reads (tiny receive buffer).
 * Stated margins (generous because CI runs under ASan on 2 shared cores):
 *   - fast clients' p50 latency in B <= max(A + 5 ms, 1.5 x A), p99 <= max(A + 20 ms, 2 x A);
 *   - fast clients lose at most 2 frames in B;
 *   - consume() p50 under 1 ms in both phases and its p99 in B <= max(A + 2 ms,
 *     2 x A) (p99 of 60 samples is scheduling noise on a loaded box), pipeline analysed
 *     latency p99 in B <= max(A + 10 ms, 2 x A);
 *   - the stalled client loses frames, and what the server holds for it stays
 *     within queue_frames packets plus the one partly written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl_test_util.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define W 640
#define H 480
#define FRAMES 60

typedef struct {
    int64_t next_ns;
    int n;
} paced_dev;

static int dev_read(void *self, cn_frame *f)
{
    paced_dev *d = self;
    if (d->n >= FRAMES)
        return CN_ECLOSED;
    int64_t now = cn_clock_mono_ns();
    if (d->next_ns > now)
        cn_clock_sleep_ns(d->next_ns - now);
    d->next_ns = (d->next_ns ? d->next_ns : cn_clock_mono_ns()) + 33333333;
    tu_fill_frame(f, W, H, (uint64_t)++d->n, CN_PHASE_APPROACH);
    f->analysed = false;
    f->t_acq_ns = cn_clock_mono_ns();
    f->wall_ns = cn_clock_wall_ns();
    return CN_OK;
}

typedef struct {
    cn_igtl_server *srv;
    cn_stats *consume_ms;
} timed_sink;

static void timed_consume(void *self, cn_frame *f)
{
    timed_sink *t = self;
    int64_t t0 = cn_clock_mono_ns();
    cn_igtl_server_consume(t->srv, f);
    cn_stats_add(t->consume_ms, (double)(cn_clock_mono_ns() - t0) / 1e6);
}

typedef struct {
    int fd;
    cn_stats *lat_ms;
    atomic_bool stop;
    int images;
    pthread_t th;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    static __thread uint8_t buf[1 << 16];
    while (!atomic_load(&r->stop)) {
        struct pollfd pf = {.fd = r->fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        size_t off = 0;
        for (;;) {
            cn_igtl_message m;
            size_t used;
            int k = cn_igtl_parser_feed(p, buf + off, (size_t)n - off, &used, &m);
            off += used;
            if (k <= 0)
                break;
            if (strcmp(m.h.type, "IMAGE") == 0) {
                double ms = (double)(cn_clock_wall_ns() - cn_igtl_ts_to_wall_ns(m.h.timestamp)) / 1e6;
                cn_stats_add(r->lat_ms, ms);
                r->images++;
            }
        }
    }
    cn_igtl_parser_free(p);
    return NULL;
}

typedef struct {
    double p50, p99, consume_p50, consume_p99, pipe_p99;
    int min_images;
} phase_result;

static phase_result run_phase(cn_igtl_server *srv, int port)
{
    reader rd[3];
    for (int i = 0; i < 3; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].fd = tu_connect(port);
        rd[i].lat_ms = cn_stats_new(4 * FRAMES);
        pthread_create(&rd[i].th, NULL, reader_main, &rd[i]);
    }
    cn_clock_sleep_ns(200000000);
    cn_pipeline_opts po = {.pool_frames = 8, .max_width = W, .max_height = H};
    cn_pipeline *pl = cn_pipeline_new(&po);
    paced_dev d = {0};
    cn_device dev = {.name = "paced", .self = &d, .read = dev_read};
    timed_sink ts = {srv, cn_stats_new(4 * FRAMES)};
    cn_sink sink = {.name = "igtl", .self = &ts, .consume = timed_consume};
    cn_pipeline_set_device(pl, &dev);
    cn_pipeline_add_sink(pl, &sink);
    cn_pipeline_start(pl);
    assert_int_equal(cn_pipeline_wait(pl, 20000000000LL), 0);
    cn_pipeline_stats ps;
    cn_pipeline_get_stats(pl, &ps);
    cn_pipeline_stop(pl);
    assert_int_equal(cn_igtl_server_release_frames(srv, 5000000000LL), 0);
    cn_pipeline_free(pl);
    cn_clock_sleep_ns(300000000);   /* let the last frames arrive */
    phase_result r = {0};
    r.min_images = FRAMES;   /* worst reader's figures */
    for (int i = 0; i < 3; i++) {
        atomic_store(&rd[i].stop, true);
        pthread_join(rd[i].th, NULL);
        close(rd[i].fd);
        if (rd[i].images < r.min_images)
            r.min_images = rd[i].images;
        double p50 = cn_stats_percentile(rd[i].lat_ms, 50), p99 = cn_stats_percentile(rd[i].lat_ms, 99);
        if (p50 > r.p50)
            r.p50 = p50;
        if (p99 > r.p99)
            r.p99 = p99;
        cn_stats_free(rd[i].lat_ms);
    }
    r.consume_p50 = cn_stats_percentile(ts.consume_ms, 50);
    r.consume_p99 = cn_stats_percentile(ts.consume_ms, 99);
    r.pipe_p99 = ps.analysed_latency_ms_p99;
    cn_stats_free(ts.consume_ms);
    return r;
}

static void test_stalled_client_disturbs_nobody(void **st)
{
    (void)st;
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.queue_frames = 3;
    o.stall_timeout_s = 600;   /* this test keeps a stalled client on purpose (the timeout
                                  that drops such clients is tested in test_igtl_starve) */
    cn_igtl_server *srv = tu_server(&o);
    assert_non_null(srv);
    int port = cn_igtl_server_port(srv);

    /* A loaded CI box can stall any thread for tens of ms; a comparison spoiled
     * by such a hiccup is measured again (up to 3 attempts, each printed). The
     * stalled client stays connected across attempts. */
    int stalled = -1;
    bool margins_ok = false;
    for (int attempt = 1; attempt <= 3 && !margins_ok; attempt++) {
        if (stalled >= 0) {
            close(stalled);
            assert_true(tu_wait_clients(srv, 0, 2000));
        }
        phase_result a = run_phase(srv, port);

        stalled = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        assert_int_equal(connect(stalled, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_true(tu_wait_clients(srv, 1, 2000));

        phase_result b = run_phase(srv, port);

        assert_true(tu_wait_clients(srv, 1, 2000));
        cn_igtl_client_stats cs[8];
        int n = cn_igtl_server_stats_get(srv, NULL, cs, 8);
        assert_int_equal(n, 1);   /* the three readers have gone, the stalled one stays */
        print_message("attempt %d\n", attempt);
        print_message("phase A (3 readers): latency p50 %.2f ms p99 %.2f ms, consume p50 %.3f p99 %.3f ms, "
                      "pipeline p99 %.2f ms, min images %d/%d\n",
                      a.p50, a.p99, a.consume_p50, a.consume_p99, a.pipe_p99, a.min_images, FRAMES);
        print_message("phase B (+1 stalled): latency p50 %.2f ms p99 %.2f ms, consume p50 %.3f p99 %.3f ms, "
                      "pipeline p99 %.2f ms, min images %d/%d\n",
                      b.p50, b.p99, b.consume_p50, b.consume_p99, b.pipe_p99, b.min_images, FRAMES);
        print_message("stalled client: sent %llu dropped %llu queued %d packets / %zu bytes\n",
                      (unsigned long long)cs[0].frames_sent, (unsigned long long)cs[0].frames_dropped,
                      cs[0].queued_packets, cs[0].queued_bytes);
        /* memory bound and drops: must hold on every attempt */
        assert_true(cs[0].frames_dropped >= FRAMES / 2);
        /* bound: queue_frames frames plus the one partly written to the socket */
        assert_true(cs[0].queued_packets <= o.queue_frames + 1);
        assert_true(cs[0].queued_bytes <= (size_t)(o.queue_frames + 1) * (W * H + 16384));
        assert_true(a.consume_p50 < 1.0 && b.consume_p50 < 1.0);
        margins_ok = b.p50 <= fmax(a.p50 + 5.0, 1.5 * a.p50) &&
                     b.p99 <= fmax(a.p99 + 20.0, 2.0 * a.p99) && b.min_images >= FRAMES - 2 &&
                     b.consume_p99 <= fmax(a.consume_p99 + 2.0, 2.0 * a.consume_p99) &&
                     b.pipe_p99 <= fmax(a.pipe_p99 + 10.0, 2.0 * a.pipe_p99);
    }
    assert_true(margins_ok);
    close(stalled);
    cn_igtl_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_client_disturbs_nobody),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
