/*
 * test_igtl_interop.c - CryoNav against the upstream OpenIGTLink programs on loopback.
 *
 * The upstream example programs (ReceiveClient, PolyDataClient, TrackerServer,
 * ImagerServer, TrackerClient, ImagerClient, PointClient, StringClient) are
 * compiled from Debian's openigtlink-examples at build time (see
 * CMakeLists.txt) and run unmodified; igtl_upstream_receiver is a small client
 * on the upstream C++ library that prints pixel hashes and matrices. Ports are
 * chosen at run time. Checks:
 *   - upstream receivers decode our IMAGE, TRANSFORM, POLYDATA and STRING
 *     (pixel hash, image matrix, transform matrix, points, text);
 *   - upstream TrackerServer / ImagerServer feed our client (values compared
 *     with what the upstream server printed / the raw test images);
 *   - upstream TrackerClient / ImagerClient / PointClient / StringClient feed
 *     our server (parsed, CRC-checked, roles respected, nobody dropped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl_source.h"
#include "../unit/igtl/igtl_test_util.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static char g_dir[256];

/* Runs exe under timeout(1) so that an upstream server (they loop forever) can
 * never outlive a failed test by more than a minute; SIGTERM to timeout is
 * passed on to the program. */
static pid_t spawn(const char *exe, char *const argv_in[], const char *out, const char *err)
{
    char *argv[16] = {"timeout", "60", (char *)exe};
    int k = 3;
    for (int i = 1; argv_in[i] && k < 15; i++)
        argv[k++] = argv_in[i];
    argv[k] = NULL;
    exe = "/usr/bin/timeout";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    int r = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        fail_msg("cannot start %s", exe);
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static bool exited_within(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return true;
        cn_clock_sleep_ns(10000000);
    }
    return false;
}

static char *slurp(const char *path)
{
    size_t n;
    char *s = cn_file_read_all(path, &n);
    return s ? s : calloc(1, 1);
}

static void path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

/* A port free right now (the upstream servers take a number, not 0). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "%s/igtl-interop-XXXXXX", CN_BINARY_DIR);
    if (!mkdtemp(g_dir))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static cn_mat4 ref_of(const cn_mat4 *a2t)
{
    cn_mat4 r2t = tu_ref_to_tracker(), t2r;
    cn_mat4_invert(&r2t, &t2r);
    return cn_mat4_mul(&t2r, a2t);
}

static bool parse_m(const char *line, const char *key, double v[12])
{
    const char *p = strstr(line, key);
    if (!p)
        return false;
    p += strlen(key);
    for (int i = 0; i < 12; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p)
            return false;
        p = end + 1;
    }
    return true;
}

static void push(cn_frame_pool *pool, cn_igtl_server *s, uint64_t seq, cn_phase ph)
{
    cn_frame *f = cn_frame_pool_acquire(pool);
    tu_fill_frame(f, 160, 120, seq, ph);
    f->analysis.nerve_target_set = true; /* the operator's nerve point, image mm */
    f->analysis.nerve_target_mm = (cn_pt2){11.0f, 6.5f};
    cn_igtl_server_consume(s, f);
    cn_frame_unref(f);
}

static void test_upstream_receivers_decode_our_stream(void **st)
{
    (void)st;
    cn_frame_pool *pool = cn_frame_pool_new(4, 160, 120);
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    cn_igtl_server *s = tu_server(&o);
    char port[16];
    snprintf(port, sizeof port, "%d", cn_igtl_server_port(s));

    char ro[300], re[300], uo[300], ue[300];
    path(ro, sizeof ro, "receiveclient.out");
    path(re, sizeof re, "receiveclient.err");
    path(uo, sizeof uo, "receiver.out");
    path(ue, sizeof ue, "receiver.err");
    char *rc_argv[] = {"ReceiveClient", "127.0.0.1", port, NULL};
    pid_t rc = spawn(CN_IGTL_UPSTREAM_DIR "/ReceiveClient", rc_argv, ro, re);
    /* one frame = IMAGE + 3 TRANSFORM + 3 POLYDATA + POINT (the event STRING is checked with
     * ReceiveClient) */
    char *ur_argv[] = {"igtl_upstream_receiver", "127.0.0.1", port, "8", NULL};
    pid_t ur = spawn(CN_IGTL_RECEIVER, ur_argv, uo, ue);
    assert_true(tu_wait_clients(s, 2, 5000));
    push(pool, s, 1, CN_PHASE_APPROACH);
    cn_clock_sleep_ns(200000000);
    push(pool, s, 2, CN_PHASE_FREEZE);   /* -> STRING CryoNavEvent "FreezeStarted cycle=1" */
    assert_true(exited_within(ur, 10000));
    cn_clock_sleep_ns(500000000);
    stop(rc);

    cn_mat4 i2p = tu_image_to_probe(), p2t = tu_probe_to_tracker();
    cn_mat4 i2t = cn_mat4_mul(&p2t, &i2p), i2r = ref_of(&i2t), p2r = ref_of(&p2t);

    /* igtl_upstream_receiver: every value decoded by the upstream classes */
    char *out = slurp(uo);
    print_message("%s", out);
    char *line = strstr(out, "IMAGE Image_Reference crc=ok");
    assert_non_null(line);
    assert_non_null(strstr(line, "size=160,120,1 type=3 spacing=0.200000,0.200000,1.000000"));
    uint64_t fnv = 1469598103934665603ull;
    for (int k = 0; k < 160 * 120; k++)
        fnv = (fnv ^ (uint8_t)(k * 13 + 1)) * 1099511628211ull;
    char want[64];
    snprintf(want, sizeof want, "fnv=%llu ", (unsigned long long)fnv);
    assert_non_null(strstr(line, want));
    double m[12];
    assert_true(parse_m(line, "m=", m));
    /* upstream GetMatrix: unit axes + the image centre as origin */
    cn_vec3 ctr = cn_mat4_apply_point(&i2r, (cn_vec3){79.5, 59.5, 0});
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            assert_true(fabs(m[r * 4 + c] - i2r.m[r * 4 + c] / 0.2) < 1e-5);
    assert_true(fabs(m[3] - ctr.x) < 1e-4 && fabs(m[7] - ctr.y) < 1e-4 && fabs(m[11] - ctr.z) < 1e-4);
    line = strstr(out, "TRANSFORM ProbeToReference crc=ok");
    assert_non_null(line);
    assert_true(parse_m(line, "m=", m));
    for (int i = 0; i < 12; i++)
        assert_true(fabs(m[i] - p2r.m[i]) < 1e-4);
    assert_non_null(strstr(out, "TRANSFORM CryoprobeToReference crc=ok"));
    assert_non_null(strstr(out, "TRANSFORM ImageToProbe crc=ok"));
    line = strstr(out, "POLYDATA Isotherm-20COutline crc=ok points=10 lines=1");
    assert_non_null(line);
    /* core's one rule: image mm (5, 9) is pixel (5 / 0.2 - 0.5, 9 / 0.2 - 0.5), pixel
     * centres at (i + 0.5) spacing (issue 13) */
    cn_vec3 p0 = cn_mat4_apply_point(&i2r, (cn_vec3){5 / 0.2 - 0.5, 9 / 0.2 - 0.5, 0});
    char *pp = strstr(line, "p0=");
    assert_non_null(pp);
    double x, y, z;
    assert_int_equal(sscanf(pp, "p0=%lf,%lf,%lf", &x, &y, &z), 3);
    assert_true(fabs(x - p0.x) < 1e-3 && fabs(y - p0.y) < 1e-3 && fabs(z - p0.z) < 1e-3);
    assert_non_null(strstr(out, "POLYDATA NerveContour crc=ok points=8 lines=1"));
    /* the operator's nerve point as upstream's PointMessage reads it, in Reference */
    line = strstr(out, "POINT NerveTarget crc=ok elements=1 name=NerveTarget group=CryoNav");
    assert_non_null(line);
    pp = strstr(line, " p=");
    assert_non_null(pp);
    assert_int_equal(sscanf(pp, " p=%lf,%lf,%lf", &x, &y, &z), 3);
    cn_vec3 tp = cn_mat4_apply_point(&i2r, (cn_vec3){11 / 0.2 - 0.5, 6.5 / 0.2 - 0.5, 0});
    assert_true(fabs(x - tp.x) < 1e-3 && fabs(y - tp.y) < 1e-3 && fabs(z - tp.z) < 1e-3);
    assert_null(strstr(out, "crc=BAD"));
    free(out);

    /* the unmodified upstream ReceiveClient */
    char *err = slurp(re), *sout = slurp(ro);
    assert_non_null(strstr(err, "Device Name           : Image_Reference"));
    assert_non_null(strstr(err, "Dimensions            : (160, 120, 1)"));
    assert_non_null(strstr(err, "Spacing               : (0.2, 0.2, 1)"));
    assert_non_null(strstr(err, "Receiving TRANSFORM data type."));
    assert_non_null(strstr(err, "String: FreezeStarted cycle=1"));
    /* PrintMatrix of ProbeToReference (row 0) among the printed matrices */
    char row0[128];
    snprintf(row0, sizeof row0, "%g, %g, %g, %g", (float)p2r.m[0], (float)p2r.m[1],
             (float)p2r.m[2], (float)p2r.m[3]);
    if (!strstr(sout, row0))
        fail_msg("ReceiveClient did not print ProbeToReference row 0 \"%s\":\n%s", row0, sout);
    free(err);
    free(sout);

    /* the unmodified upstream PolyDataClient: GET_POLYDATA answered from the newest frame */
    char po[300], pe[300];
    path(po, sizeof po, "polydataclient.out");
    path(pe, sizeof pe, "polydataclient.err");
    char *pd_argv[] = {"PolyDataClient", "127.0.0.1", port, NULL};
    pid_t pd = spawn(CN_IGTL_UPSTREAM_DIR "/PolyDataClient", pd_argv, po, pe);
    cn_clock_sleep_ns(1500000000);
    stop(pd);
    err = slurp(pe);
    assert_non_null(strstr(err, "Receiving POLYDATA data type."));
    char p0s[128];
    snprintf(p0s, sizeof p0s, "point[0] = (%g, %g, %g)", (float)p0.x, (float)p0.y, (float)p0.z);
    if (!strstr(err, p0s))
        fail_msg("PolyDataClient did not print \"%s\":\n%.2000s", p0s, err);
    assert_non_null(strstr(err, "------ Lines ------"));
    free(err);

    assert_int_equal(cn_igtl_server_release_frames(s, 2000000000LL), 0);
    cn_igtl_server_free(s);
    assert_int_equal(cn_frame_pool_free(pool), 0);
}

/* Reads the n-th (0-based) matrix PrintMatrix wrote to `text`. */
static bool nth_printed_matrix(const char *text, int n, double m[16])
{
    const char *p = text;
    for (int i = 0; i <= n; i++) {
        p = strstr(p, "=============\n");
        if (!p)
            return false;
        p += 14;
        if (i < n) {
            p = strstr(p, "=============\n");   /* closing line */
            if (!p)
                return false;
            p += 14;
        }
    }
    for (int k = 0; k < 16; k++) {
        char *end;
        m[k] = strtod(p, &end);
        if (end == p)
            return false;
        p = end;
        while (*p == ',' || *p == ' ' || *p == '\n')
            p++;
    }
    return true;
}

static void test_upstream_servers_feed_our_client(void **st)
{
    (void)st;
    int port = free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char to[300], te[300];
    path(to, sizeof to, "trackerserver.out");
    path(te, sizeof te, "trackerserver.err");
    char *ts_argv[] = {"TrackerServer", ps, "50", NULL};
    pid_t ts = spawn(CN_IGTL_UPSTREAM_DIR "/TrackerServer", ts_argv, to, te);

    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = port;
    o.request_v2 = false;
    o.backoff_min_ns = 50000000;
    o.backoff_max_ns = 200000000;
    o.n_map = 1;
    cn_strlcpy(o.map[0].device, "Tracker", sizeof o.map[0].device);
    cn_strlcpy(o.map[0].name, "StylusToTracker", sizeof o.map[0].name);
    cn_xform_graph *g = cn_xform_graph_new();
    cn_igtl_source *src = cn_igtl_source_new(&o, g);
    cn_igtl_source_start(src);
    cn_igtl_source_stats sst = {0};
    for (int i = 0; i < 500 && sst.transforms < 8; i++) {
        cn_clock_sleep_ns(10000000);
        cn_igtl_source_get_stats(src, &sst);
    }
    cn_igtl_source_stop(src);
    cn_igtl_source_get_stats(src, &sst);
    assert_true(sst.transforms >= 8);
    cn_mat4 m;
    assert_int_equal(cn_igtl_source_get_pose(src, "StylusToTracker", &m, NULL, NULL), 0);
    cn_clock_sleep_ns(100000000);
    stop(ts);
    char *printed = slurp(to);
    double e[16];
    assert_true(nth_printed_matrix(printed, (int)sst.transforms - 1, e));
    for (int i = 0; i < 12; i++)
        if (fabs(m.m[i] - e[i]) > 1e-4 * fmax(1.0, fabs(e[i])))
            fail_msg("element %d: ours %g, TrackerServer printed %g", i, m.m[i], e[i]);
    assert_int_equal(cn_xform_graph_edge_count(g), 1);   /* "Tracker" went in as StylusToTracker */
    free(printed);
    cn_igtl_source_free(src);
    cn_xform_graph_free(g);

    /* ImagerServer: 256x256 uint8 images from the raw test files */
    port = free_port();
    snprintf(ps, sizeof ps, "%d", port);
    char io[300], ie[300];
    path(io, sizeof io, "imagerserver.out");
    path(ie, sizeof ie, "imagerserver.err");
    char *is_argv[] = {"ImagerServer", ps, "20", CN_IGTL_EXAMPLE_IMG_DIR, NULL};
    pid_t is = spawn(CN_IGTL_UPSTREAM_DIR "/ImagerServer", is_argv, io, ie);
    cn_igtl_source_opts_default(&o);
    o.port = port;
    o.want_image = true;
    o.request_v2 = false;
    o.backoff_min_ns = 50000000;
    o.backoff_max_ns = 200000000;
    src = cn_igtl_source_new(&o, NULL);
    cn_igtl_source_start(src);
    memset(&sst, 0, sizeof sst);
    for (int i = 0; i < 500 && sst.images < 3; i++) {
        cn_clock_sleep_ns(10000000);
        cn_igtl_source_get_stats(src, &sst);
    }
    cn_igtl_source_stop(src);
    cn_igtl_source_get_stats(src, &sst);
    stop(is);
    assert_true(sst.images >= 3);
    cn_frame_pool *pool = cn_frame_pool_new(2, 256, 256);
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_device dev = cn_igtl_source_device(src);
    assert_int_equal(dev.read(dev.self, f), 0);
    assert_int_equal(f->width, 256);
    assert_int_equal(f->height, 256);
    assert_true(fabs(f->spacing_mm[0] - 1.0) < 1e-6 && fabs(f->spacing_mm[1] - 1.0) < 1e-6);
    char raw[512];
    snprintf(raw, sizeof raw, "%s/igtlTestImage%d.raw", CN_IGTL_EXAMPLE_IMG_DIR,
             (int)((sst.images - 1) % 5) + 1);
    size_t rn;
    char *pix = cn_file_read_all(raw, &rn);
    assert_non_null(pix);
    assert_true(rn >= 256 * 256);
    assert_memory_equal(f->pixels, pix, 256 * 256);
    const cn_pose *ip = cn_frame_get_pose(f, "ImageToReference");
    assert_non_null(ip);   /* device "ImagerClient" has no '_' frame suffix -> Reference */
    assert_true(fabs(ip->m.m[5] + 1.0) < 1e-6);   /* j axis flipped as ImagerServer sends it */
    free(pix);
    cn_frame_unref(f);
    cn_igtl_source_free(src);
    assert_int_equal(cn_frame_pool_free(pool), 0);
}

static void test_upstream_clients_feed_our_server(void **st)
{
    (void)st;
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    cn_igtl_server *s = tu_server(&o);
    char port[16];
    snprintf(port, sizeof port, "%d", cn_igtl_server_port(s));
    char a[300], b[300];
    path(a, sizeof a, "clients.out");
    path(b, sizeof b, "clients.err");
    char *tc[] = {"TrackerClient", "127.0.0.1", port, "50", NULL};
    char *ic[] = {"ImagerClient", "127.0.0.1", port, "20", CN_IGTL_EXAMPLE_IMG_DIR, NULL};
    char *sc[] = {"StringClient", "127.0.0.1", port, "20", NULL};
    pid_t p1 = spawn(CN_IGTL_UPSTREAM_DIR "/TrackerClient", tc, a, b);
    pid_t p2 = spawn(CN_IGTL_UPSTREAM_DIR "/ImagerClient", ic, a, b);
    pid_t p3 = spawn(CN_IGTL_UPSTREAM_DIR "/StringClient", sc, a, b);
    cn_clock_sleep_ns(1000000000);
    cn_igtl_client_stats cs[8];
    int n = cn_igtl_server_stats_get(s, NULL, cs, 8);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        print_message("client %llu: received %llu, rejected %llu\n", (unsigned long long)cs[i].id,
                      (unsigned long long)cs[i].msgs_received,
                      (unsigned long long)cs[i].msgs_rejected);
        assert_true(cs[i].msgs_received >= 5);
        assert_int_equal(cs[i].msgs_rejected, cs[i].msgs_received);   /* read-only viewers */
        assert_false(cs[i].proctor);
    }
    /* PointClient sends 3 targets under the device name PointSender: decoded,
     * but a name is no credential (it cannot log in), so no target is taken */
    char *pc[] = {"PointClient", "127.0.0.1", port, NULL};
    pid_t p4 = spawn(CN_IGTL_UPSTREAM_DIR "/PointClient", pc, a, b);
    assert_true(exited_within(p4, 5000));
    cn_clock_sleep_ns(200000000);
    cn_proctor_item it;
    assert_int_equal(cn_proctor_take(cn_igtl_server_hub(s), &it), 0);
    cn_igtl_server_stats sst;
    cn_igtl_server_stats_get(s, &sst, NULL, 0);
    assert_int_equal(sst.dropped_protocol, 0);
    stop(p1);
    stop(p2);
    stop(p3);
    cn_igtl_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_receivers_decode_our_stream),
        cmocka_unit_test(test_upstream_servers_feed_our_client),
        cmocka_unit_test(test_upstream_clients_feed_our_server),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
