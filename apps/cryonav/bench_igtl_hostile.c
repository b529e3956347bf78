/*
 * bench_igtl_hostile.c - `cryonav bench igtl --hostile N`: the server under
 * hostile connections.
 *
 * The idea: while the server streams 640x480 frames at 30 fps, N idle
 * connections (never read, never send) and N slow senders (a header announcing
 * a 16 MiB IMAGE, then one byte a second) are opened; then a new viewer
 * connects. Reported: how long the new viewer waits for its first IMAGE (alone,
 * with them, and after the slow ones have timed out), the process RSS before
 * and with them, and the server's accepted / evicted / timed-out counts.
 */
#include "bench_igtl.h"
#include "commands.h"
#include "igtl/igtl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define W CN_BENCH_IGTL_WIDTH
#define H CN_BENCH_IGTL_HEIGHT
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

typedef struct {
    cn_igtl_server *srv;
    cn_frame_pool *pool;
    atomic_bool stop;
    int *slow;
    atomic_int n_slow;   /* 0 until the slow connections exist */
} hostile_ctx;

/* 30 fps of 640x480 frames into the server; every second a byte to each slow sender. */
static void *hostile_main(void *arg)
{
    hostile_ctx *h = arg;
    uint8_t hdr[CN_IGTL_HEADER_SIZE];
    cn_igtl_header hh = {.version = 1, .body_size = 16u << 20};
    strcpy(hh.type, "IMAGE");
    strcpy(hh.device, "Slow");
    cn_igtl_header_pack(&hh, hdr);
    int *sent = calloc(20000, sizeof *sent);
    cn_mat4 i2p, p2t, r2t, c2t;
    int64_t next_byte = 0;
    for (uint64_t k = 1; sent && !atomic_load(&h->stop); k++) {
        cn_frame *f = cn_frame_pool_acquire(h->pool);
        if (f) {
            cn_frame_set_size(f, W, H);
            memset(f->pixels, (int)(k & 0xff), W * H);
            f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
            f->seq = k;
            cn_bench_igtl_poses(&i2p, &p2t, &r2t, &c2t, (int)k);
            cn_frame_set_pose(f, "ImageToProbe", &i2p, true);
            cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
            cn_frame_set_pose(f, "ReferenceToTracker", &r2t, true);
            f->t_acq_ns = cn_clock_mono_ns();
            f->wall_ns = cn_clock_wall_ns();
            cn_igtl_server_consume(h->srv, f);
            cn_frame_unref(f);
        }
        int64_t now = cn_clock_mono_ns();
        int n_slow = atomic_load(&h->n_slow);
        if (now >= next_byte) {
            for (int i = 0; i < n_slow; i++) {
                if (h->slow[i] < 0)
                    continue;
                if (sent[i] < CN_IGTL_HEADER_SIZE) {
                    ssize_t w = send(h->slow[i], hdr + sent[i], (size_t)(CN_IGTL_HEADER_SIZE - sent[i]),
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (w > 0)
                        sent[i] += (int)w;
                } else {
                    uint8_t b = 0;
                    (void)send(h->slow[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
            }
            next_byte = now + 1000000000LL;
        }
        cn_clock_sleep_ns(33000000);
    }
    free(sent);
    return NULL;
}

static int connect_nb(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Milliseconds until a new viewer has parsed its first IMAGE (-1 = none in 10 s). */
static double first_image_ms(int port)
{
    int64_t t0 = cn_clock_mono_ns();
    int fd = cn_bench_igtl_connect(port);
    if (fd < 0)
        return -1;
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    uint8_t *buf = malloc(1 << 16);
    double ms = -1;
    while (ms < 0 && p && buf && cn_clock_mono_ns() - t0 < 10000000000LL) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf, 1 << 16, 0);
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
                ms = (double)(cn_clock_mono_ns() - t0) / 1e6;
                break;
            }
        }
    }
    free(buf);
    cn_igtl_parser_free(p);
    close(fd);
    return ms;
}

int cn_bench_igtl_hostile(int n)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
            fprintf(stderr, "bench igtl: --hostile %d needs %d file descriptors, the limit is %lu\n",
                    n, 2 * n + 64, (unsigned long)rl.rlim_cur);
            return 2;
        }
    }
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    cn_log *quiet = cn_log_new(stderr, CN_LOG_ERROR);
    o.log = quiet;
    char err[256];
    cn_igtl_server *srv = cn_igtl_server_start(&o, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "%s\n", err);
        cn_log_free(quiet);
        return 1;
    }
    int port = cn_igtl_server_port(srv);
    int *idle = calloc((size_t)n, sizeof *idle), *slow = calloc((size_t)n, sizeof *slow);
    hostile_ctx h = {.srv = srv, .pool = cn_frame_pool_new(6, W, H), .slow = slow};
    atomic_init(&h.n_slow, 0);
    pthread_t th;
    pthread_create(&th, NULL, hostile_main, &h);
    double quiet_ms = first_image_ms(port);
    cn_clock_sleep_ns(500000000);
    long base = rss_kb();
    for (int i = 0; i < n; i++) {
        idle[i] = connect_nb(port);
        slow[i] = connect_nb(port);
    }
    atomic_store(&h.n_slow, n);   /* the producer starts trickling */
    cn_clock_sleep_ns(2000000000);
    long loaded = rss_kb();
    double hostile_ms = first_image_ms(port);
    cn_clock_sleep_ns(7000000000LL);   /* past partial_timeout_s: the slow ones go */
    long later = rss_kb();
    double after_ms = first_image_ms(port);
    cn_igtl_server_stats st;
    cn_igtl_server_stats_get(srv, &st, NULL, 0);
    atomic_store(&h.stop, true);
    pthread_join(th, NULL);
    for (int i = 0; i < n; i++) {
        if (idle[i] >= 0)
            close(idle[i]);
        if (slow[i] >= 0)
            close(slow[i]);
    }
    cn_igtl_server_release_frames(srv, 2000000000LL);
    cn_igtl_server_free(srv);
    cn_frame_pool_free(h.pool);
    free(idle);
    free(slow);
    cn_log_free(quiet);
    printf("cryonav bench igtl --hostile %d: 640x480 at 30 fps, %d idle + %d slow (16 MiB header, "
           "1 byte/s) connections, max_clients %d\n", n, n, n, o.max_clients);
    printf("first IMAGE for a new viewer: %.1f ms alone, %.1f ms with them, %.1f ms 9 s later\n",
           quiet_ms, hostile_ms, after_ms);
    printf("RSS: %ld kB before, %ld kB with them (%.2fx), %ld kB 7 s later\n", base, loaded,
           (double)loaded / (double)base, later);
    printf("server: %llu accepted, %llu evicted, %llu timed out, %llu refused, %d clients at the end\n",
           (unsigned long long)st.accepted, (unsigned long long)st.evicted,
           (unsigned long long)st.timed_out, (unsigned long long)st.refused, st.clients);
    return hostile_ms >= 0 ? 0 : 1;
}

