/*
 * bench_igtl.c - `cryonav bench igtl`: OpenIGTLink streaming speed.
 *
 * Per frame a 640x480 uint8 IMAGE and 3 TRANSFORMs (ImageToProbe,
 * ProbeToReference, CryoprobeToReference) go to 1, 4 and 16 loopback clients,
 * first through CryoNav's server (modules/igtl: one poll() thread, shared
 * packets), then, in the same run, through the upstream C++ library sending
 * the same messages the way its examples do (bench_igtl_upstream.cxx: one
 * blocking Send per client in turn). The clients are the same reader threads
 * for both. The producer keeps at most 2 frames in flight (it waits until
 * every client has the frame before last, and for CryoNav until its server
 * thread has taken the previous frame from the latest-wins hand-over slot);
 * a superseded frame would be counted under "dropped"; fps counts frames
 * delivered to every client. Reported: frames per second, added latency
 * (hand-over to the sender -> last byte parsed by a client; p50 / p99 over
 * all clients) and process CPU (sender + the reader threads, the same readers
 * for both, so the difference is the senders').
 */
#include "bench_igtl.h"
#include "commands.h"
#include "igtl/igtl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* bench_igtl_upstream.cxx */
typedef struct cn_up_sender cn_up_sender;
cn_up_sender *cn_up_sender_new(int *port);
int cn_up_sender_accept(cn_up_sender *s, int n, int timeout_ms);
int cn_up_sender_send(cn_up_sender *s, int w, int h, const unsigned char *pixels,
                      const float spacing[3], const float img[12], const char *img_name,
                      const float xf[3][12], const char *const names[3], long long wall_ns);
void cn_up_sender_free(cn_up_sender *s);

#define W CN_BENCH_IGTL_WIDTH
#define H CN_BENCH_IGTL_HEIGHT
#define MAXC 16

typedef struct {
    int fd;
    atomic_int images;
    atomic_bool stop;
    cn_stats *lat;
    pthread_t th;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    uint8_t *buf = malloc(1 << 18);
    while (p && buf && !atomic_load(&r->stop)) {
        struct pollfd pf = {.fd = r->fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t n = recv(r->fd, buf, 1 << 18, 0);
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
                int64_t now = cn_clock_wall_ns();
                cn_stats_add(r->lat, (double)(now - cn_igtl_ts_to_wall_ns(m.h.timestamp)) / 1e6);
                atomic_fetch_add(&r->images, 1);
            }
        }
    }
    free(buf);
    cn_igtl_parser_free(p);
    return NULL;
}

int cn_bench_igtl_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Frames the server superseded in its hand-over slot (latest-wins) never reach
 * a client: they count as done for the in-flight window and are reported. */
static int superseded(cn_igtl_server *srv)
{
    cn_igtl_server_stats st;
    if (!srv || cn_igtl_server_stats_get(srv, &st, NULL, 0) < 0)
        return 0;
    return (int)st.frames_superseded;
}

/* Frames the server thread has taken from the hand-over slot. */
static int taken(cn_igtl_server *srv)
{
    cn_igtl_server_stats st;
    if (!srv || cn_igtl_server_stats_get(srv, &st, NULL, 0) < 0)
        return 1 << 30;
    return (int)(st.frames_packed + st.frames_superseded);
}

static int min_images(reader *rd, int n)
{
    int m = 1 << 30;
    for (int i = 0; i < n; i++) {
        int v = atomic_load(&rd[i].images);
        if (v < m)
            m = v;
    }
    return m;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

typedef cn_bench_igtl_result result;

void cn_bench_igtl_poses(cn_mat4 *i2p, cn_mat4 *p2t, cn_mat4 *r2t, cn_mat4 *c2t, int k)
{
    *i2p = cn_mat4_scale(0.1, 0.1, 1.0);
    i2p->m[3] = -32.0;
    *p2t = cn_mat4_rotation_axis_angle((cn_vec3){0, 0, 1}, 0.001 * k);
    p2t->m[3] = 100.0 + 0.01 * k;
    *r2t = cn_mat4_translation(10, 20, 30);
    *c2t = cn_mat4_translation(5, 5, 5 + 0.01 * k);
}

static result run(bool upstream, int n, int frames, double rate)
{
    result res = {0};
    reader rd[MAXC];
    memset(rd, 0, sizeof rd);
    int port = 0;
    cn_igtl_server *srv = NULL;
    cn_up_sender *up = NULL;
    cn_frame_pool *pool = NULL;
    cn_log *quiet = NULL;
    if (upstream) {
        up = cn_up_sender_new(&port);
        if (!up)
            return res;
    } else {
        cn_igtl_server_opts o;
        cn_igtl_server_opts_default(&o);
        o.port = 0;
        o.latency_period_s = 0;
        o.send_polydata = false;
        quiet = cn_log_new(stderr, CN_LOG_WARN);
        o.log = quiet;
        char err[256];
        srv = cn_igtl_server_start(&o, err, sizeof err);
        if (!srv) {
            fprintf(stderr, "%s\n", err);
            cn_log_free(quiet);
            return res;
        }
        port = cn_igtl_server_port(srv);
        pool = cn_frame_pool_new(4, W, H);
    }
    for (int i = 0; i < n; i++) {
        rd[i].fd = cn_bench_igtl_connect(port);
        rd[i].lat = cn_stats_new(frames + 16);
        if (upstream && cn_up_sender_accept(up, i + 1, 2000) != 0)
            fprintf(stderr, "bench igtl: upstream accept failed\n");
        pthread_create(&rd[i].th, NULL, reader_main, &rd[i]);
    }
    if (srv) {
        for (int t = 0; t < 400; t++) {
            cn_igtl_server_stats st;
            if (cn_igtl_server_stats_get(srv, &st, NULL, 0) == n)
                break;
            cn_clock_sleep_ns(5000000);
        }
    }
    uint8_t *px = malloc(W * H);
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(i * 7);
    double c0 = cpu_s();
    int64_t t0 = cn_clock_mono_ns();
    bool ok = true;
    int64_t next = t0;
    for (int k = 1; k <= frames && ok; k++) {
        if (rate > 0) {   /* paced: a camera-like offered rate */
            int64_t now = cn_clock_mono_ns();
            if (next > now)
                cn_clock_sleep_ns(next - now);
            next += (int64_t)(1e9 / rate);
        }
        int64_t deadline = cn_clock_mono_ns() + 5000000000LL;
        while (min_images(rd, n) + superseded(srv) < k - 2 || taken(srv) < k - 1) {
            if (cn_clock_mono_ns() > deadline) {
                ok = false;
                break;
            }
            cn_clock_sleep_ns(20000);
        }
        px[k % (W * H)] ^= 0xff;
        cn_mat4 i2p, p2t, r2t, c2t;
        cn_bench_igtl_poses(&i2p, &p2t, &r2t, &c2t, k);
        if (upstream) {
            cn_mat4 t2r, p2r, c2r, i2t, i2r;
            cn_mat4_invert(&r2t, &t2r);
            p2r = cn_mat4_mul(&t2r, &p2t);
            c2r = cn_mat4_mul(&t2r, &c2t);
            i2t = cn_mat4_mul(&p2t, &i2p);
            i2r = cn_mat4_mul(&t2r, &i2t);
            /* upstream takes unit axes + spacing + the centre as origin */
            float img[12], xf[3][12], sp[3] = {0.1f, 0.1f, 1.0f};
            cn_vec3 ctr = cn_mat4_apply_point(&i2r, (cn_vec3){(W - 1) / 2.0, (H - 1) / 2.0, 0});
            for (int r = 0; r < 3; r++) {
                for (int c = 0; c < 3; c++)
                    img[r * 4 + c] = (float)(i2r.m[r * 4 + c] / (c < 2 ? 0.1 : 1.0));
                img[r * 4 + 3] = (float)(r == 0 ? ctr.x : r == 1 ? ctr.y : ctr.z);
            }
            const cn_mat4 *ms[3] = {&i2p, &p2r, &c2r};
            for (int j = 0; j < 3; j++)
                for (int e = 0; e < 12; e++)
                    xf[j][e] = (float)ms[j]->m[e];
            const char *names[3] = {"ImageToProbe", "ProbeToReference", "CryoprobeToReference"};
            if (cn_up_sender_send(up, W, H, px, sp, img, "Image_Reference", xf, names,
                                  cn_clock_wall_ns()) != 0)
                ok = false;
        } else {
            cn_frame *f = cn_frame_pool_acquire(pool);
            if (!f) {
                ok = false;
                break;
            }
            cn_frame_set_size(f, W, H);
            memcpy(f->pixels, px, W * H);
            f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
            f->seq = (uint64_t)k;
            cn_frame_set_pose(f, "ImageToProbe", &i2p, true);
            cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
            cn_frame_set_pose(f, "ReferenceToTracker", &r2t, true);
            cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, true);
            f->t_acq_ns = cn_clock_mono_ns();
            f->wall_ns = cn_clock_wall_ns();   /* the hand-over time: latency starts here */
            cn_igtl_server_consume(srv, f);
            cn_frame_unref(f);
        }
    }
    int64_t deadline = cn_clock_mono_ns() + 5000000000LL;
    while (ok && min_images(rd, n) + superseded(srv) < frames && cn_clock_mono_ns() < deadline)
        cn_clock_sleep_ns(100000);
    res.dropped = superseded(srv);
    ok = ok && min_images(rd, n) + res.dropped >= frames;
    int64_t t1 = cn_clock_mono_ns();
    double c1 = cpu_s();
    cn_stats *all = cn_stats_new(n * (frames + 16));
    for (int i = 0; i < n; i++) {
        atomic_store(&rd[i].stop, true);
        pthread_join(rd[i].th, NULL);
        close(rd[i].fd);
        /* merge: re-add each reader's kept samples through its percentiles at 1% steps */
        for (int q = 0; q <= 100; q++)
            cn_stats_add(all, cn_stats_percentile(rd[i].lat, q));
        cn_stats_free(rd[i].lat);
    }
    double el = (double)(t1 - t0) / 1e9;
    res.fps = (frames - res.dropped) / el;   /* frames delivered to every client */
    res.p50 = cn_stats_percentile(all, 50);
    res.p99 = cn_stats_percentile(all, 99);
    res.cpu_pct = 100.0 * (c1 - c0) / el;
    res.ok = ok;
    cn_stats_free(all);
    free(px);
    if (up)
        cn_up_sender_free(up);
    if (srv) {
        cn_igtl_server_release_frames(srv, 2000000000LL);
        cn_igtl_server_free(srv);
        cn_frame_pool_free(pool);
    }
    cn_log_free(quiet);
    return res;
}

int cn_bench_igtl(int argc, char **argv)
{
    int frames = 300;
    double rate = 0;
    int counts[8] = {1, 4, 16}, n_counts = 3;
    long v, hostile = 0, rounds = 0;
    static const struct option opts[] = {{"frames", required_argument, 0, 'n'},
                                         {"rounds", required_argument, 0, 'r'},
                                         {"fps", required_argument, 0, 'f'},
                                         {"clients", required_argument, 0, 'c'},
                                         {"hostile", required_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cn_app_parse_long(optarg, 10, 100000, &v) != CN_OK)
                return cn_app_usage_error("bench igtl", "--frames needs 10..100000, not '%s'", optarg);
            frames = (int)v;
            break;
        case 'f':
            if (cn_app_parse_double(optarg, 0, 10000, &rate) != CN_OK)
                return cn_app_usage_error("bench igtl", "--fps needs 0..10000, not '%s'", optarg);
            break;
        case 'r':
            if (cn_app_parse_long(optarg, 1, 50, &rounds) != CN_OK)
                return cn_app_usage_error("bench igtl", "--rounds needs 1..50, not '%s'", optarg);
            break;
        case 'H':
            if (cn_app_parse_long(optarg, 1, 20000, &hostile) != CN_OK)
                return cn_app_usage_error("bench igtl", "--hostile needs 1..20000 connections, not '%s'",
                                          optarg);
            break;
        case 'c': {
            n_counts = 0;
            char list[256], *save = NULL;
            cn_strlcpy(list, optarg, sizeof list);
            for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n_counts == 8 || cn_app_parse_long(tok, 1, MAXC, &v) != CN_OK)
                    return cn_app_usage_error("bench igtl", "--clients needs up to 8 counts in 1..%d, "
                                              "e.g. 1,4,16, not '%s'", MAXC, optarg);
                counts[n_counts++] = (int)v;
            }
            if (n_counts == 0)
                return cn_app_usage_error("bench igtl", "--clients needs a list, e.g. 1,4,16");
            break;
        }
        case 'h':
            printf("usage: cryonav bench igtl [--frames N] [--clients 1,4,16] [--fps F] [--rounds N]\n"
                   "       cryonav bench igtl --hostile N\n"
                   "Streams 640x480 uint8 IMAGE + 3 TRANSFORM messages per frame to 1, 4 and 16\n"
                   "loopback clients, with CryoNav's sender and with upstream libOpenIGTLink's:\n"
                   "frames/s, dropped frames, latency and CPU. --hostile: N idle + N slow\n"
                   "(1 byte/s) connections, then how fast a new viewer gets its first IMAGE and\n"
                   "what the server's memory does. --rounds: both senders N times per client\n"
                   "count in alternating order (A B, B A, ...), then the medians over rounds and\n"
                   "the cryonav/upstream ratio within each round: the comparison to quote on a\n"
                   "shared machine.\n\n"
                   "options:\n"
                   "  --frames N           frames sent per run (10..100000, default 300)\n"
                   "  --clients LIST       client counts, comma-separated (1..%d each, default 1,4,16)\n"
                   "  --fps F              offered frame rate (0..10000; default 0: as fast as possible)\n"
                   "  --rounds N           N alternating rounds of both senders, with medians and\n"
                   "                       ratios (1..50; default: one run of each, old table)\n"
                   "  --hostile N          the hostile-clients run instead (1..20000 connections)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout only; exit 1 when a run is incomplete. One table row per\n"
                   "client count and sender: clients sender fps dropped lat_p50_ms lat_p99_ms\n"
                   "cpu_%%. With --rounds, one such row per run with the round first, then\n"
                   "\"medians over N rounds:\" (clients sender fps lat_p50_ms lat_p99_ms cpu_%%\n"
                   "incomplete) and \"ratio cryonav / upstream\" (clients, then median [min-max]\n"
                   "of lat_p50, lat_p99 and fps, and in how many rounds cryonav's p99 was not\n"
                   "above upstream's). With --hostile, last line: server: <n> accepted, <n>\n"
                   "evicted, <n> timed out, <n> refused, <k> clients at the end\n", MAXC);
            return 0;
        case ':': return cn_app_usage_error("bench igtl", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench igtl", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("bench igtl", "unexpected argument '%s'", argv[optind]);
    if (hostile > 0)
        return cn_bench_igtl_hostile((int)hostile);
    printf("cryonav bench igtl: %dx%d uint8 IMAGE + 3 TRANSFORM per frame, %d frames, "
           "<= 2 frames in flight, offered %s, loopback\n", W, H, frames,
           rate > 0 ? "at a fixed rate" : "as fast as possible");
    if (rate > 0)
        printf("offered rate: %.1f fps\n", rate);
    if (rounds > 0)
        return cn_bench_igtl_rounds(counts, n_counts, frames, rate, (int)rounds, run);
    printf("%-8s %-24s %9s %8s %12s %12s %8s\n", "clients", "sender", "fps", "dropped",
           "lat_p50_ms", "lat_p99_ms", "cpu_%");
    int rc = 0;
    for (int i = 0; i < n_counts; i++) {
        for (int u = 0; u <= 1; u++) {
            result r = run(u == 1, counts[i], frames, rate);
            printf("%-8d %-24s %9.1f %8d %12.2f %12.2f %8.0f%s\n", counts[i],
                   u ? "upstream libOpenIGTLink" : "cryonav cn_igtl", r.fps, r.dropped, r.p50,
                   r.p99, r.cpu_pct, r.ok ? "" : "  (INCOMPLETE)");
            fflush(stdout);
            if (!r.ok)
                rc = 1;
        }
    }
    return rc;
}
