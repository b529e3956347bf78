/*
 * test_igtl_source.c - the OpenIGTLink client device against a real server on
 * loopback (our own server here; the upstream PlusServer-like example servers
 * are used in tests/interop): transforms reach the transform graph under the
 * configured names, images become pipeline frames with their pose, and the
 * client reconnects with backoff when the server goes away and comes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl_source.h"
#include "igtl_test_util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>

static void push(cn_frame_pool *pool, cn_igtl_server *s, uint64_t seq)
{
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_non_null(f);
    tu_fill_frame(f, 160, 120, seq, CN_PHASE_APPROACH);
    cn_igtl_server_consume(s, f);
    cn_frame_unref(f);
}

static bool wait_stat(cn_igtl_source *src, uint64_t connects, uint64_t transforms, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        cn_igtl_source_stats st;
        cn_igtl_source_get_stats(src, &st);
        if (st.connects >= connects && st.transforms >= transforms && st.connected)
            return true;
        cn_clock_sleep_ns(10000000);
    }
    return false;
}

static void test_tracking_images_and_reconnect(void **st)
{
    (void)st;
    cn_frame_pool *pool = cn_frame_pool_new(8, 160, 120);
    cn_igtl_server_opts so;
    cn_igtl_server_opts_default(&so);
    so.port = 0;
    cn_igtl_server *srv = tu_server(&so);
    int port = cn_igtl_server_port(srv);

    char err[256];
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"igtl\": {\"source\": {\"host\": \"127.0.0.1\", \"port\": %d, \"image\": true,\n"
             " \"map\": {\"CryoprobeToReference\": \"NeedleToReference\"}}}}", port);
    cn_json *doc = cn_json_parse(cfg, "cfg", err, sizeof err);
    assert_non_null(doc);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    assert_int_equal(cn_igtl_source_opts_from_json(&o, doc, err, sizeof err), 0);
    cn_json_free(doc);
    assert_int_equal(o.n_map, 1);
    o.backoff_min_ns = 50000000;
    o.backoff_max_ns = 200000000;
    cn_xform_graph *g = cn_xform_graph_new();
    cn_igtl_source *src = cn_igtl_source_new(&o, g);
    cn_device dev = cn_igtl_source_device(src);
    assert_int_equal(dev.start(dev.self), 0);
    assert_true(wait_stat(src, 1, 0, 3000));
    assert_true(tu_wait_clients(srv, 1, 2000));

    push(pool, srv, 1);
    assert_true(wait_stat(src, 1, 3, 3000));
    cn_mat4 m, p2t = tu_probe_to_tracker(), r2t = tu_ref_to_tracker(), t2r;
    cn_mat4_invert(&r2t, &t2r);
    cn_mat4 e = cn_mat4_mul(&t2r, &p2t);
    int64_t now = cn_clock_mono_ns();
    assert_int_equal(cn_xform_graph_get_named(g, "ProbeToReference", now, &m), 0);
    assert_true(cn_mat4_max_abs_diff(&m, &e) < 1e-4);
    bool valid;
    assert_int_equal(cn_igtl_source_get_pose(src, "NeedleToReference", &m, &valid, NULL), 0);
    assert_true(valid);
    assert_int_equal(cn_igtl_source_get_pose(src, "CryoprobeToReference", &m, NULL, NULL), CN_ENOENT);

    /* the image as a pipeline frame */
    cn_frame_pool *mine = cn_frame_pool_new(2, 160, 120);
    cn_frame *f = cn_frame_pool_acquire(mine);
    assert_int_equal(dev.read(dev.self, f), 0);
    assert_int_equal(f->width, 160);
    assert_int_equal(f->height, 120);
    for (int i = 0; i < 160 * 120; i++)
        if (f->pixels[i] != (uint8_t)(i * 13 + 1))
            fail_msg("pixel %d", i);
    assert_true(fabs(f->spacing_mm[0] - 0.2) < 1e-5);
    const cn_pose *ip = cn_frame_get_pose(f, "ImageToReference");
    assert_non_null(ip);
    cn_mat4 i2p = tu_image_to_probe();
    cn_mat4 i2t = cn_mat4_mul(&p2t, &i2p), i2r = cn_mat4_mul(&t2r, &i2t);
    assert_true(cn_mat4_max_abs_diff(&ip->m, &i2r) < 1e-4);
    cn_frame_unref(f);

    /* the server goes away and comes back on the same port */
    cn_igtl_server_free(srv);
    cn_clock_sleep_ns(300000000);
    so.port = port;
    srv = tu_server(&so);
    assert_non_null(srv);
    assert_true(wait_stat(src, 2, 3, 5000));
    assert_true(tu_wait_clients(srv, 1, 2000));
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(src, &sst);
    uint64_t before = sst.transforms;
    push(pool, srv, 2);
    assert_true(wait_stat(src, 2, before + 3, 3000));

    /* interrupt makes a blocked read return */
    dev.interrupt(dev.self);
    f = cn_frame_pool_acquire(mine);
    int r = dev.read(dev.self, f);
    assert_true(r == CN_OK || r == CN_ECLOSED);
    cn_frame_unref(f);
    dev.stop(dev.self);
    cn_igtl_source_free(src);
    assert_int_equal(cn_igtl_server_release_frames(srv, 2000000000LL), 0);
    cn_igtl_server_free(srv);
    cn_xform_graph_free(g);
    assert_int_equal(cn_frame_pool_free(mine), 0);
    assert_int_equal(cn_frame_pool_free(pool), 0);
}

static void test_source_config_errors(void **st)
{
    (void)st;
    char err[256] = "";
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    cn_json *d = cn_json_parse("{\"igtl\": {\"source\": {\n \"map\": {\"Tracker\": \"Stylus\"}}}}",
                               "cfg", err, sizeof err);
    assert_int_not_equal(cn_igtl_source_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "AToB"));
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\"source\": {\"hots\": \"x\"}}}", "cfg", err, sizeof err);
    assert_int_not_equal(cn_igtl_source_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "hots"));
    cn_json_free(d);
    /* nobody listening: the client keeps retrying without crashing */
    o.port = 1;
    o.backoff_min_ns = 10000000;
    o.backoff_max_ns = 40000000;
    cn_igtl_source *s = cn_igtl_source_new(&o, NULL);
    assert_int_equal(cn_igtl_source_start(s), 0);
    cn_clock_sleep_ns(300000000);
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(s, &sst);
    assert_false(sst.connected);
    assert_non_null(strstr(sst.last_error, "connect"));
    cn_igtl_source_free(s);
}

/* ------------------------------------------------------------------ upstream corpus */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

/* The 24 wire-exact messages of the upstream library's own tests (every type,
 * v1 and v2 headers): all sent on one link, each must be used or skipped and
 * the link must stay up; the POSITION and TDATA ones are used as poses. */
static void corpus_through_source(bool want_image)
{
    char err[256];
    cn_json *doc = cn_json_load(CN_SHARED_DATA_DIR "/igtl/upstream-fixtures.json", err, sizeof err);
    if (!doc)
        fail_msg("%s", err);
    json_t *fx = cn_json_raw(doc, "fixtures");
    assert_non_null(fx);
    assert_int_equal(json_object_size(fx), 24);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&a, &al);

    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = ntohs(a.sin_port);
    o.want_image = want_image;
    o.n_map = 2;
    cn_strlcpy(o.map[0].device, "DeviceName", sizeof o.map[0].device);
    cn_strlcpy(o.map[0].name, "CryoprobeToTracker", sizeof o.map[0].name);
    cn_strlcpy(o.map[1].device, "Tracker1", sizeof o.map[1].device); /* a TDATA element */
    cn_strlcpy(o.map[1].name, "StylusToTracker", sizeof o.map[1].name);
    cn_xform_graph *g = cn_xform_graph_new();
    cn_igtl_source *src = cn_igtl_source_new(&o, g);
    assert_int_equal(cn_igtl_source_start(src), 0);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    int n_transform = 0, n_image = 0;
    for (void *it = json_object_iter(fx); it; it = json_object_iter_next(fx, it)) {
        json_t *e = json_object_iter_value(it);
        const char *hex = json_string_value(json_object_get(e, "wire_hex"));
        const char *type = json_string_value(json_object_get(e, "type_id"));
        assert_non_null(hex);
        size_t n = strlen(hex) / 2;
        uint8_t *bytes = malloc(n);
        for (size_t i = 0; i < n; i++)
            bytes[i] = (uint8_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
        assert_int_equal(tu_send_all(fd, bytes, n), 0);
        free(bytes);
        n_transform += strcmp(type, "TRANSFORM") == 0;
        n_image += strcmp(type, "IMAGE") == 0;
    }
    /* a marker after the corpus: it arrives only if the link survived */
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    cn_mat4 marker = cn_mat4_translation(7, 8, 9);
    cn_igtl_msg_begin(&b, &msg, 1, "TRANSFORM", "MarkerToTracker", 0, 0);
    cn_igtl_put_transform(&b, &marker);
    cn_igtl_msg_end(&b, &msg, NULL, 0);
    assert_int_equal(tu_send_all(fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    cn_igtl_source_stats sst = {0};
    for (int i = 0; i < 300 && sst.transforms < (uint64_t)n_transform + 1; i++) {
        cn_clock_sleep_ns(10000000);
        cn_igtl_source_get_stats(src, &sst);
    }
    assert_int_equal(n_transform, 2);
    assert_int_equal(n_image, 1);
    if (!sst.connected || sst.connects != 1 || sst.disconnects != 0 || sst.last_error[0])
        fail_msg("link dropped: connected %d, connects %llu, disconnects %llu, error '%s'",
                 sst.connected, (unsigned long long)sst.connects,
                 (unsigned long long)sst.disconnects, sst.last_error);
    assert_int_equal(sst.transforms, (uint64_t)n_transform + 1);
    assert_int_equal(sst.positions, 2); /* POSITION v1 and v2 */
    assert_int_equal(sst.tdata, 2);     /* TDATA v1 and v2 (element Tracker1) */
    assert_int_equal(sst.refused, 0);
    /* every message is accounted for: used or skipped */
    assert_int_equal(sst.transforms + sst.positions + sst.tdata + sst.qtdata + sst.images +
                     sst.ignored, 24 + 1);
    cn_mat4 m;
    assert_int_equal(cn_xform_graph_get_named(g, "MarkerToTracker", cn_clock_mono_ns(), &m), 0);
    assert_true(fabs(m.m[3] - 7) < 1e-6);
    assert_int_equal(cn_igtl_source_get_pose(src, "CryoprobeToTracker", NULL, NULL, NULL), 0);
    assert_int_equal(cn_igtl_source_get_pose(src, "StylusToTracker", NULL, NULL, NULL), 0);
    close(fd);
    close(lfd);
    cn_igtl_source_free(src);
    cn_xform_graph_free(g);
    cn_json_free(doc);
}

static void test_upstream_corpus(void **st)
{
    (void)st;
    corpus_through_source(false); /* tracking device */
    corpus_through_source(true);  /* image device */
}

/* The advice for a tool that is not mapped names a pose nothing feeds yet: with "Channel 0"
 * mapped to CryoprobeToTracker, it said to map "Channel 1" there too, which puts two tools
 * on one pose (review 43a F10). */
static void test_unmapped_advice(void **st)
{
    (void)st;
    FILE *lf = tmpfile();
    cn_log *log = cn_log_new(lf, CN_LOG_INFO);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = ntohs(a.sin_port);
    o.log = log;
    o.n_map = 1;
    cn_strlcpy(o.map[0].device, "Channel 0", sizeof o.map[0].device);
    cn_strlcpy(o.map[0].name, "CryoprobeToTracker", sizeof o.map[0].name);
    cn_igtl_source *src = cn_igtl_source_new(&o, NULL);
    assert_int_equal(cn_igtl_source_start(src), 0);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    cn_mat4 m = cn_mat4_translation(1, 2, 3);
    for (int k = 0; k < 2; k++) {
        cn_igtl_msg_begin(&b, &msg, 1, "TRANSFORM", k ? "Channel 1" : "Channel 0", 0, 0);
        cn_igtl_put_transform(&b, &m);
        cn_igtl_msg_end(&b, &msg, NULL, 0);
    }
    assert_int_equal(tu_send_all(fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    cn_igtl_source_stats sst = {0};
    for (int i = 0; i < 300 && sst.transforms + sst.ignored < 2; i++) {
        cn_clock_sleep_ns(10000000);
        cn_igtl_source_get_stats(src, &sst);
    }
    close(fd);
    close(lfd);
    cn_igtl_source_free(src);
    cn_log_free(log);
    long n = ftell(lf);
    char *text = calloc(1, (size_t)n + 1);
    rewind(lf);
    assert_int_equal(fread(text, 1, (size_t)n, lf), (size_t)n);
    fclose(lf);
    const char *p = strstr(text, "TRANSFORM \"Channel 1\"");
    assert_non_null(p);
    print_message("%.*s\n", (int)strcspn(p, "\n"), p);
    assert_non_null(strstr(p, "{\"Channel 1\": \"Channel1ToTracker\"}"));
    free(text);
}

/* What a user is told: a server that is not there, once per failure streak. */
static void test_connect_failures_are_said(void **st)
{
    (void)st;
    FILE *lf = tmpfile();
    cn_log *log = cn_log_new(lf, CN_LOG_INFO);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = 1;
    o.backoff_min_ns = 10000000;
    o.backoff_max_ns = 20000000;
    o.log = log;
    cn_igtl_source *s = cn_igtl_source_new(&o, NULL);
    assert_int_equal(cn_igtl_source_start(s), 0);
    cn_clock_sleep_ns(300000000);
    cn_igtl_source_free(s);
    cn_log_free(log);
    long n = ftell(lf);
    char *text = calloc(1, (size_t)n + 1);
    rewind(lf);
    assert_int_equal(fread(text, 1, (size_t)n, lf), (size_t)n);
    fclose(lf);
    const char *p = strstr(text, "cannot connect to 127.0.0.1:1");
    assert_non_null(p);
    assert_null(strstr(p + 1, "cannot connect")); /* once, not every 10 ms */
    free(text);
}

/* A tracker server that restarts (PlusServer after a device error, a few seconds
 * down) is back in the picture within about a second of its return, with the
 * shipped backoff. The backoff doubled up to 5 s: after 4 s down the next attempt
 * came 2.3 s after the server was back, tracking lost all that time (seventeenth
 * session). */
static void test_restarted_server_rejoined_promptly(void **st)
{
    (void)st;
    cn_igtl_server_opts so;
    cn_igtl_server_opts_default(&so);
    so.port = 0;
    cn_igtl_server *srv = tu_server(&so);
    const int port = cn_igtl_server_port(srv);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o); /* the shipped backoff */
    o.port = port;
    cn_igtl_source *src = cn_igtl_source_new(&o, NULL);
    assert_int_equal(cn_igtl_source_start(src), 0);
    assert_true(wait_stat(src, 1, 0, 3000));
    cn_igtl_server_free(srv);
    cn_clock_sleep_ns(4000000000LL);
    so.port = port;
    srv = tu_server(&so);
    assert_non_null(srv);
    const int64_t back = cn_clock_mono_ns();
    bool joined = wait_stat(src, 2, 0, 5000);
    double gap_s = (double)(cn_clock_mono_ns() - back) * 1e-9;
    print_message("reconnected %.2f s after the server came back\n", gap_s);
    assert_true(joined);
    assert_true(gap_s < 1.5);
    cn_igtl_source_free(src);
    cn_igtl_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracking_images_and_reconnect),
        cmocka_unit_test(test_source_config_errors),
        cmocka_unit_test(test_upstream_corpus),
        cmocka_unit_test(test_connect_failures_are_said),
        cmocka_unit_test(test_unmapped_advice),
        cmocka_unit_test(test_restarted_server_rejoined_promptly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
