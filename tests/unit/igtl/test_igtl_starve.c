/*
 * test_igtl_starve.c - the OpenIGTLink server under hostile load, over real
 * loopback sockets:
 *   - 500 idle and 1-byte-a-second connections do not lock out a new viewer
 *     (its first IMAGE within 2 s) and the process RSS stays < 2x its baseline;
 *   - a declared 16 MiB body is not allocated up front: the parser holds what
 *     arrived;
 *   - clients flooding GET_IMAGE without reading pin shared frame packets, not
 *     copies (RSS growth bounded);
 *   - a proctor flooding notes with newlines and ANSI escapes neither forges log
 *     lines nor grows the log without bound.
 * Speed is not measured here (benchmarks do that); only bounds and deadlines far
 * from what a healthy server needs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl_test_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>

#define TOKEN "starve-test-token-0123456789"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ------------------------------------------------------------------ a frame producer */

typedef struct {
    cn_igtl_server *srv;
    cn_frame_pool *pool;
    int w, h;
    double fps;
    atomic_bool stop;
    pthread_t th;
} producer;

static void *producer_main(void *arg)
{
    producer *p = arg;
    uint64_t seq = 0;
    while (!atomic_load(&p->stop)) {
        cn_frame *f = cn_frame_pool_acquire(p->pool);
        if (f) {
            tu_fill_frame(f, p->w, p->h, ++seq, CN_PHASE_APPROACH);
            cn_igtl_server_consume(p->srv, f);
            cn_frame_unref(f);
        }
        cn_clock_sleep_ns((int64_t)(1e9 / p->fps));
    }
    return NULL;
}

static void producer_start(producer *p, cn_igtl_server *srv, int w, int h, double fps)
{
    memset(p, 0, sizeof *p);
    p->srv = srv;
    p->w = w;
    p->h = h;
    p->fps = fps;
    p->pool = cn_frame_pool_new(8, w, h);
    pthread_create(&p->th, NULL, producer_main, p);
}

static void producer_stop(producer *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
    cn_igtl_server_release_frames(p->srv, 2000000000LL);
}

/* ------------------------------------------------------------------ 1. lock-out */

static int connect_nb(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct {
    int *fds;
    int n;
    atomic_bool stop;
} trickler;

/* Slow senders: a header announcing a 16 MiB IMAGE, then one byte a second. */
static void *trickle_main(void *arg)
{
    trickler *t = arg;
    cn_igtl_header h = {.version = 1, .body_size = 16u << 20};
    strcpy(h.type, "IMAGE");
    strcpy(h.device, "Slow");
    uint8_t hdr[CN_IGTL_HEADER_SIZE];
    cn_igtl_header_pack(&h, hdr);
    int sent_hdr[600] = {0};
    while (!atomic_load(&t->stop)) {
        for (int i = 0; i < t->n; i++) {
            if (t->fds[i] < 0)
                continue;
            if (sent_hdr[i] < CN_IGTL_HEADER_SIZE) {
                ssize_t w = send(t->fds[i], hdr + sent_hdr[i], (size_t)(CN_IGTL_HEADER_SIZE - sent_hdr[i]),
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0)
                    sent_hdr[i] += (int)w;
            } else {
                uint8_t b = 0;
                (void)send(t->fds[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
        }
        for (int k = 0; k < 10 && !atomic_load(&t->stop); k++)
            cn_clock_sleep_ns(100000000);
    }
    return NULL;
}

static void test_500_idle_and_slow_do_not_lock_out(void **st)
{
    (void)st;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2048) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    cn_log *lg = cn_log_new(stderr, CN_LOG_WARN);
    o.log = lg;
    cn_igtl_server *s = tu_server(&o);
    assert_non_null(s);
    int port = cn_igtl_server_port(s);
    producer p;
    producer_start(&p, s, 640, 480, 20);
    /* baseline: the server streaming to one healthy viewer */
    tu_client first;
    tu_client_init(&first, tu_connect(port));
    assert_true(tu_read(&first, 5000, "IMAGE", NULL) > 0);
    tu_client_free(&first);
    cn_clock_sleep_ns(300000000);
    long base = rss_kb();

    enum { N = 500 };
    int idle[N / 2], slow[N / 2];
    for (int i = 0; i < N / 2; i++) {
        idle[i] = connect_nb(port);
        slow[i] = connect_nb(port);
    }
    trickler t = {.fds = slow, .n = N / 2};
    pthread_t tt;
    pthread_create(&tt, NULL, trickle_main, &t);
    cn_clock_sleep_ns(1500000000);   /* the server sees them all */

    int64_t t0 = cn_clock_mono_ns();
    tu_client v;
    tu_client_init(&v, tu_connect(port));
    assert_true(v.fd >= 0);
    tu_read(&v, 2000, "IMAGE", NULL);
    double waited_s = (double)(cn_clock_mono_ns() - t0) / 1e9;
    bool got = tu_find(&v, "IMAGE", NULL) != NULL;
    long peak = rss_kb();
    cn_igtl_server_stats sst;
    cn_igtl_server_stats_get(s, &sst, NULL, 0);
    print_message("new viewer %s its first IMAGE after %.2f s; RSS %ld -> %ld kB; server: %d clients, "
                  "%llu accepted, %llu refused\n",
                  got ? "got" : "did NOT get", waited_s, base, peak, sst.clients,
                  (unsigned long long)sst.accepted, (unsigned long long)sst.refused);
    atomic_store(&t.stop, true);
    pthread_join(tt, NULL);
    for (int i = 0; i < N / 2; i++) {
        close(idle[i]);
        close(slow[i]);
    }
    tu_client_free(&v);
    producer_stop(&p);
    cn_igtl_server_free(s);
    cn_frame_pool_free(p.pool);
    cn_log_free(lg);
    assert_true(got);
    assert_true(waited_s < 2.0);
    assert_true(peak < 2 * base);
}

/* ------------------------------------------------------------------ 1b. timeouts */

static bool closed_by_server(int fd, int timeout_ms)
{
    char buf[4096];
    int64_t end = cn_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (cn_clock_mono_ns() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20) == 1) {
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN))
                return true;
        }
    }
    return false;
}

static void test_slow_senders_and_stalled_readers_time_out(void **st)
{
    (void)st;
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    o.partial_timeout_s = 0.5;
    o.stall_timeout_s = 1.0;
    cn_log *lg = cn_log_new(stderr, CN_LOG_WARN);
    o.log = lg;
    cn_igtl_server *s = tu_server(&o);
    int port = cn_igtl_server_port(s);
    /* an idle viewer with nothing to read: stays (no frames yet) */
    tu_client idle;
    tu_client_init(&idle, tu_connect(port));
    /* a slow sender: half a header, then nothing */
    int slow = tu_connect(port);
    uint8_t half[20] = {0, 1, 'S', 'T', 'R', 'I', 'N', 'G'};
    tu_send_all(slow, half, sizeof half);
    assert_true(closed_by_server(slow, 3000));
    assert_false(closed_by_server(idle.fd, 200));
    /* frames flow: a reader keeps up, a non-reader with tiny buffers is dropped */
    int stalled = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(stalled, (struct sockaddr *)&sa, sizeof sa), 0);
    producer p;
    producer_start(&p, s, 640, 480, 20);
    int64_t t0 = cn_clock_mono_ns();
    bool dropped = false;
    while (!dropped && cn_clock_mono_ns() - t0 < 8000000000LL) {
        tu_read(&idle, 50, NULL, NULL);   /* the viewer reads */
        tu_client_clear(&idle);
        cn_igtl_server_stats sst;
        cn_igtl_server_stats_get(s, &sst, NULL, 0);
        dropped = sst.timed_out >= 2;
    }
    cn_igtl_server_stats sst;
    cn_igtl_server_stats_get(s, &sst, NULL, 0);
    print_message("timed out: %llu (slow sender + stalled reader) after %.1f s; viewer %s\n",
                  (unsigned long long)sst.timed_out, (double)(cn_clock_mono_ns() - t0) / 1e9,
                  idle.closed ? "closed" : "still connected");
    assert_true(dropped);
    assert_false(idle.closed);
    producer_stop(&p);
    close(slow);
    close(stalled);
    tu_client_free(&idle);
    cn_igtl_server_free(s);
    cn_frame_pool_free(p.pool);
    cn_log_free(lg);
}

/* ------------------------------------------------------------------ 2. parser memory */

static void test_declared_body_is_not_allocated_up_front(void **st)
{
    (void)st;
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    cn_igtl_header h = {.version = 1, .body_size = 16u << 20};
    strcpy(h.type, "IMAGE");
    strcpy(h.device, "Big");
    uint8_t hdr[CN_IGTL_HEADER_SIZE + 100];
    cn_igtl_header_pack(&h, hdr);
    memset(hdr + CN_IGTL_HEADER_SIZE, 7, 100);
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, hdr, sizeof hdr, &used, &m), 0);
    print_message("after a header declaring 16 MiB and 100 bytes of body: %zu bytes allocated\n",
                  cn_igtl_parser_capacity(p));
    assert_true(cn_igtl_parser_capacity(p) < 64 * 1024);
    /* it grows with what arrives, and a whole message still parses */
    uint8_t *chunk = calloc(1, 1 << 20);
    for (int i = 0; i < 4; i++)
        assert_int_equal(cn_igtl_parser_feed(p, chunk, 1 << 20, &used, &m), 0);
    assert_true(cn_igtl_parser_capacity(p) >= (4u << 20) + 100);
    assert_true(cn_igtl_parser_capacity(p) <= (16u << 20));
    free(chunk);
    cn_igtl_parser_free(p);
}

/* ------------------------------------------------------------------ 3. GET replies */

static int send_gets(int fd, int n)
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    for (int i = 0; i < n; i++) {
        cn_igtl_msg m;
        cn_igtl_msg_begin(&b, &m, 1, "GET_IMAGE", "", 0, 0);
        cn_igtl_msg_end(&b, &m, NULL, 0);
    }
    int r = tu_send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
    return r;
}

static void test_get_replies_share_frame_packets(void **st)
{
    (void)st;
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    cn_log *lg = cn_log_new(stderr, CN_LOG_WARN);
    o.log = lg;
    cn_igtl_server *s = tu_server(&o);
    int port = cn_igtl_server_port(s);
    producer p;
    producer_start(&p, s, 640, 480, 20);
    tu_client first;
    tu_client_init(&first, tu_connect(port));
    assert_true(tu_read(&first, 5000, "IMAGE", NULL) > 0);
    tu_client_free(&first);
    cn_clock_sleep_ns(300000000);
    long base = rss_kb();
    /* 15 clients that never read ask for the image 30 times each */
    int fd[15];
    for (int i = 0; i < 15; i++) {
        fd[i] = tu_connect(port);
        int small = 4096;   /* tiny receive buffers: the replies stay in the server */
        setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        assert_int_equal(send_gets(fd[i], 30), 0);
    }
    cn_clock_sleep_ns(1500000000);
    long peak = rss_kb();
    cn_igtl_client_stats cs[32];
    int n = cn_igtl_server_stats_get(s, NULL, cs, 32);
    size_t queued = 0;
    for (int i = 0; i < n; i++)
        queued += cs[i].queued_bytes;
    print_message("15 non-reading clients x 30 GET_IMAGE (640x480): RSS %ld -> %ld kB, %d clients "
                  "queue %zu bytes\n", base, peak, n, queued);
    for (int i = 0; i < 15; i++)
        close(fd[i]);
    producer_stop(&p);
    cn_igtl_server_free(s);
    cn_frame_pool_free(p.pool);
    cn_log_free(lg);
    /* 15 x 30 copies of a 300 kB frame would be ~135 MB */
    assert_true(peak - base < 40 * 1024);
}

/* ------------------------------------------------------------------ 4. notes and the log */

static void test_note_flood_is_sanitised_and_bounded(void **st)
{
    (void)st;
    FILE *logf = tmpfile();
    cn_log *lg = cn_log_new(logf, CN_LOG_INFO);
    cn_proctor_opts po;
    cn_proctor_opts_default(&po);
    cn_strlcpy(po.token, TOKEN, sizeof po.token);
    po.log_sink = lg;
    cn_proctor_hub *hub = cn_proctor_hub_new(&po);
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    o.log = lg;
    o.hub = hub;
    cn_igtl_server *s = tu_server(&o);
    tu_client c;
    tu_client_init(&c, tu_connect(cn_igtl_server_port(s)));
    tu_send_string(c.fd, 1, "ProctorLogin", TOKEN);
    /* 2000 notes of 1000 bytes, each trying to forge a log line */
    char note[1001];
    for (int i = 0; i < 1000; i++)
        note[i] = (char)('a' + i % 26);
    memcpy(note, "x\n2099-01-01 00:00:00 [error] run: \x1b[31mFORGED\x1b[0m ", 52);
    note[1000] = 0;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    for (int i = 0; i < 2000; i++) {
        cn_igtl_msg m;
        cn_igtl_msg_begin(&b, &m, 1, "STRING", "Proctor", 0, 0);
        cn_igtl_put_string(&b, note);
        cn_igtl_msg_end(&b, &m, NULL, 0);
    }
    assert_int_equal(tu_send_all(c.fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    cn_clock_sleep_ns(1500000000);
    tu_client_free(&c);
    cn_igtl_server_free(s);
    cn_proctor_item it;
    int queued = 0;
    while (cn_proctor_take(hub, &it) == 1) {
        queued++;
        assert_null(strchr(it.text, '\n'));
        assert_null(strchr(it.text, '\x1b'));
    }
    print_message("notes that passed the rate limit: %d of 2000\n", queued);
    assert_true(queued >= 1 && queued <= 10);
    cn_proctor_hub_free(hub);
    cn_log_free(lg);
    fflush(logf);
    long size = ftell(logf);
    rewind(logf);
    char *text = calloc(1, (size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, logf);
    fclose(logf);
    int lines = 0, forged = 0;
    bool esc = memchr(text, 0x1b, got) != NULL;
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        lines++;
        forged += strncmp(l, "2099-01-01", 10) == 0;
    }
    print_message("2000 notes of 1000 bytes: log %ld bytes, %d lines, %d forged, escape %s\n", size,
                  lines, forged, esc ? "present" : "absent");
    free(text);
    assert_false(esc);
    assert_int_equal(forged, 0);
    assert_true(size < 64 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_500_idle_and_slow_do_not_lock_out),
        cmocka_unit_test(test_slow_senders_and_stalled_readers_time_out),
        cmocka_unit_test(test_declared_body_is_not_allocated_up_front),
        cmocka_unit_test(test_note_flood_is_sanitised_and_bounded),
        cmocka_unit_test(test_get_replies_share_frame_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
