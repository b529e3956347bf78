/*
 * test_igtl_tracking_servers.c - the upstream tracking servers that do not send
 * TRANSFORM feed CryoNav's OpenIGTLink client, with their own values.
 *
 * Why: PLUS servers and tracker bridges stream TDATA, QTDATA or POSITION. The
 * three upstream example servers of Debian's openigtlink-examples (compiled
 * from their sources, see CMakeLists.txt, and run unmodified on loopback) are
 * the reference senders:
 *   - TrackingDataServer: TDATA of three tools ("Channel 0..2"), only after an
 *     STT_TDATA, every `resolution` ms; stops on STP_TDATA;
 *   - QuaternionTrackingDataServer: the same as QTDATA after STT_QTDATA;
 *   - TrackerServer2: POSITION "Tracker" (position + quaternion), 100 per
 *     connection.
 * None of them prints what it sends, so the test computes it the way they do
 * (float steps of phi and theta, position 50 (cos, sin, cos) phi, quaternion
 * (0, 2/3 cos theta, 0.57735, 2/3 sin theta)) and every pose the client holds
 * must be one of the server's poses (position within 1e-3 mm, rotation within
 * 1e-4, by a quaternion formula of this test). The servers' own logs show
 * that our STT_ carried the resolution and that STP_ came when we stopped, and
 * that the requests work with the default v2 STATUS too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char g_dir[256];

/* An upstream server under timeout(1) (they loop forever), output into files. */
static pid_t spawn_server(char *const argv_in[], const char *name)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/%s.out", g_dir, name);
    snprintf(err, sizeof err, "%s/%s.err", g_dir, name);
    char *argv[8] = {"timeout", "60"};
    int k = 2;
    for (int i = 0; argv_in[i] && k < 7; i++)
        argv[k++] = argv_in[i];
    argv[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    if (posix_spawn(&pid, "/usr/bin/timeout", &fa, NULL, argv, environ) != 0)
        fail_msg("cannot start %s", argv_in[0]);
    posix_spawn_file_actions_destroy(&fa);
    cn_clock_sleep_ns(200000000); /* it listens at once; give it the CPU */
    return pid;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* The server's output, without its receiving loop's "Receiving : " lines: the examples print
 * from two threads, and CI once read "Interval = Receiving : \nReceiving : \n40 (ms)", a
 * line the check then missed. */
static char *server_log(const char *name)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s.err", g_dir, name);
    size_t n;
    char *s = cn_file_read_all(p, &n);
    if (!s)
        return calloc(1, 1);
    static const char noise[] = "Receiving : ";
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, noise, sizeof noise - 1) == 0) {
            r += sizeof noise - 1;
            if (*r == '\n')
                r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return s;
}

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

/* ------------------------------------------------------------------ the servers' poses */

#define STEPS 4000

/* The first STEPS poses of a tool whose phi and theta advance by dphi and
 * dtheta per message, in float as the servers keep them; quaternion (x, y, z,
 * w) normalised here (upstream's QuaternionToMatrix does; QTDATA sends it as
 * is, and CryoNav normalises it). */
static void server_poses(double dphi, double dtheta, cn_mat4 *out)
{
    float phi = 0, theta = 0;
    for (int n = 0; n < STEPS; n++) {
        double t[3] = {(float)(50.0 * cosf(phi)), (float)(50.0 * sinf(phi)),
                       (float)(50.0 * cosf(phi))};
        double q[4] = {0, (float)(0.6666666666 * cosf(theta)), (float)0.577350269189626,
                       (float)(0.6666666666 * sinf(theta))};
        double nq = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        double x = q[0] / nq, y = q[1] / nq, z = q[2] / nq, w = q[3] / nq;
        /* R = (w^2 - v.v) I + 2 v v^T + 2 w [v]x */
        double v[3] = {x, y, z}, s = w * w - (x * x + y * y + z * z);
        double cross[3][3] = {{0, -z, y}, {z, 0, -x}, {-y, x, 0}};
        cn_mat4 m = cn_mat4_identity();
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++)
                m.m[r * 4 + c] = (r == c ? s : 0) + 2 * v[r] * v[c] + 2 * w * cross[r][c];
            m.m[r * 4 + 3] = t[r];
        }
        out[n] = m;
        phi = (float)(phi + dphi);
        theta = (float)(theta + dtheta);
    }
}

/* The step of the server's sequence that `got` is, or -1. */
static int find_step(const cn_mat4 *got, const cn_mat4 *seq)
{
    for (int n = 0; n < STEPS; n++) {
        const cn_mat4 *e = &seq[n];
        double dp = fmax(fmax(fabs(e->m[3] - got->m[3]), fabs(e->m[7] - got->m[7])),
                         fabs(e->m[11] - got->m[11]));
        if (dp > 1e-3)
            continue;
        double dr = 0;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                dr = fmax(dr, fabs(e->m[r * 4 + c] - got->m[r * 4 + c]));
        if (dr < 1e-4)
            return n;
    }
    return -1;
}

typedef struct {
    const char *device;     /* element or device name */
    const char *name;       /* graph name it is mapped to */
    double dphi, dtheta;    /* the server's steps */
} tool;

/* Runs `exe` on a free port, connects our client with the map of `tools`,
 * collects `want` distinct samples of each tool's pose and checks each is one
 * of the server's; returns the client's stats. */
static cn_igtl_source_stats run_server(const char *exe, const char *rate, const tool *tools,
                                       int n_tools, bool tdata, bool qtdata, bool v2, int want)
{
    int port = free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", CN_IGTL_UPSTREAM_DIR, exe);
    char *argv[] = {path, ps, (char *)rate, NULL};
    pid_t srv = spawn_server(argv, exe);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = port;
    o.backoff_min_ns = 50000000;
    o.backoff_max_ns = 200000000;
    o.request_v2 = v2;
    o.request_tdata = tdata;
    o.request_qtdata = qtdata;
    o.resolution_ms = 40;
    o.n_map = n_tools;
    for (int i = 0; i < n_tools; i++) {
        cn_strlcpy(o.map[i].device, tools[i].device, sizeof o.map[i].device);
        cn_strlcpy(o.map[i].name, tools[i].name, sizeof o.map[i].name);
    }
    cn_xform_graph *g = cn_xform_graph_new();
    cn_igtl_source *src = cn_igtl_source_new(&o, g);
    assert_int_equal(cn_igtl_source_start(src), 0);
    int seen[3] = {0}, last[3];
    static cn_mat4 seq[3][STEPS]; /* static: no leak when a check fails */
    assert_true(n_tools <= 3);
    for (int i = 0; i < n_tools; i++) {
        last[i] = -1;
        server_poses(tools[i].dphi, tools[i].dtheta, seq[i]);
    }
    for (int iter = 0; iter < 1500; iter++) {
        bool done = true;
        for (int k = 0; k < n_tools; k++) {
            cn_mat4 m;
            bool valid;
            if (cn_igtl_source_get_pose(src, tools[k].name, &m, &valid, NULL) == CN_OK) {
                int n = find_step(&m, seq[k]);
                if (n < 0)
                    fail_msg("%s: %s at (%g, %g, %g) is none of the poses %s sends", exe,
                             tools[k].name, m.m[3], m.m[7], m.m[11], exe);
                assert_true(valid);
                if (n != last[k]) {
                    seen[k]++;
                    last[k] = n;
                }
                /* the graph holds the same pose under the mapped name */
                cn_mat4 gm;
                assert_int_equal(cn_xform_graph_get_named(g, tools[k].name, cn_clock_mono_ns(),
                                                          &gm), CN_OK);
            }
            done = done && seen[k] >= want;
        }
        if (done)
            break;
        cn_clock_sleep_ns(10000000);
    }
    for (int k = 0; k < n_tools; k++)
        if (seen[k] < want)
            fail_msg("%s: %d samples of %s, wanted %d", exe, seen[k], tools[k].name, want);
    cn_igtl_source_stop(src); /* sends the STP_ */
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(src, &sst);
    cn_clock_sleep_ns(200000000);
    stop_server(srv);
    /* the link dropped (we stopped): every pose from it is lost */
    for (int k = 0; k < n_tools; k++) {
        bool valid = true;
        assert_int_equal(cn_igtl_source_get_pose(src, tools[k].name, NULL, &valid, NULL), 0);
        assert_false(valid);
    }
    cn_igtl_source_free(src);
    cn_xform_graph_free(g);
    assert_int_equal(sst.refused, 0);
    return sst;
}

/* TrackingDataServer / QuaternionTrackingDataServer advance their three tools
 * by (0.1, 0.2), (0.2, 0.1), (0.3, 0.05) in (phi, theta) per message. */
static const tool CHANNELS[] = {{"Channel 0", "CryoprobeToTracker", 0.1, 0.2},
                                {"Channel 1", "StylusToTracker", 0.2, 0.1},
                                {"Channel 2", "NeedleToTracker", 0.3, 0.05}};

static void test_tracking_data_server(void **st)
{
    (void)st;
    /* no v2 STATUS: the 1.11 library cannot read a v2 header, and the STP_TDATA
     * that follows it would be read out of step */
    cn_igtl_source_stats sst =
        run_server("TrackingDataServer", NULL, CHANNELS, 3, true, false, false, 5);
    assert_true(sst.tdata >= 5);
    char *log = server_log("TrackingDataServer");
    if (!strstr(log, "Received a STT_TDATA message.") || !strstr(log, "Interval = 40 (ms)") ||
        !strstr(log, "Received a STP_TDATA message."))
        fail_msg("TrackingDataServer did not get our STT_TDATA / STP_TDATA:\n%s", log);
    free(log);
}

static void test_quaternion_tracking_data_server(void **st)
{
    (void)st;
    /* Both requests, and the v2 STATUS of the default configuration: the
     * requests go first, so a server on the 1.11 library, which cannot read
     * the v2 header and loses step after it, has started the stream (it skips
     * the STT_TDATA it does not serve). Its STP_ is then read out of step,
     * which the closed socket makes up for. */
    cn_igtl_source_stats sst =
        run_server("QuaternionTrackingDataServer", NULL, CHANNELS, 3, true, true, true, 5);
    assert_true(sst.qtdata >= 5);
    assert_int_equal(sst.tdata, 0);
    char *log = server_log("QuaternionTrackingDataServer");
    if (!strstr(log, "Received a STT_QTDATA message.") || !strstr(log, "Interval = 40 (ms)") ||
        !strstr(log, "Disconnecting the client."))
        fail_msg("QuaternionTrackingDataServer did not get our STT_QTDATA / STP_QTDATA:\n%s",
                 log);
    free(log);
}

static void test_tracker_server2_position(void **st)
{
    (void)st;
    /* POSITION "Tracker": phi += 0.2, theta += 0.1 per message, 50 a second */
    static const tool tracker[] = {{"Tracker", "CryoprobeToTracker", 0.2, 0.1}};
    cn_igtl_source_stats sst =
        run_server("TrackerServer2", "50", tracker, 1, false, false, true, 8);
    assert_true(sst.positions >= 8);
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "%s/igtl-tracking-XXXXXX", CN_BINARY_DIR);
    if (!mkdtemp(g_dir))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracking_data_server),
        cmocka_unit_test(test_quaternion_tracking_data_server),
        cmocka_unit_test(test_tracker_server2_position),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
