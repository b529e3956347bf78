/*
 * test_igtl_source_track.c - the OpenIGTLink client device takes poses from
 * POSITION, TDATA and QTDATA, over a real loopback socket.
 *
 * Why: PLUS servers and tracker bridges stream these; each must become a pose
 * exactly as a TRANSFORM of the same name would (map, AToB rule, loss when the
 * link drops), and a hostile peer must not drop the link, cost the good
 * elements of a message, flood the log or grow our memory. Checked:
 *   - the upstream fixtures (POSITION v1/v2, TDATA v1/v2) reach the transform
 *     graph with the numbers their bytes hold, under mapped / element names;
 *   - malformed POSITION / TDATA / QTDATA bodies and elements: one log line
 *     each (peer, type, device name, problem), once however often they come,
 *     the link up, the good elements of the same message kept; a TDATA as
 *     large as the limit allows creates at most 16 poses; every pose is lost
 *     when the link drops (ASan checks that nothing leaks);
 *   - request_tdata / request_qtdata: STT_ on connect with the resolution, STP_
 *     when the device stops; the config keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl_source.h"
#include "igtl_test_util.h"
#include "track_test_util.h"

typedef struct {
    int lfd, fd;
    cn_igtl_source *src;
    cn_xform_graph *g;
    cn_log *log;
    FILE *log_file;
} rig;

static void rig_open_as(rig *r, const char *map_device, const char *map_name, bool tdata_req,
                        bool qtdata_req, bool want_image)
{
    memset(r, 0, sizeof *r);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t al = sizeof a;
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->lfd, 1), 0);
    getsockname(r->lfd, (struct sockaddr *)&a, &al);
    r->log_file = tmpfile();
    r->log = cn_log_new(r->log_file, CN_LOG_INFO);
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    o.port = ntohs(a.sin_port);
    o.log = r->log;
    o.request_v2 = false;
    o.request_tdata = tdata_req;
    o.request_qtdata = qtdata_req;
    o.resolution_ms = 40;
    o.want_image = want_image;
    if (map_device) {
        o.n_map = 1;
        cn_strlcpy(o.map[0].device, map_device, sizeof o.map[0].device);
        cn_strlcpy(o.map[0].name, map_name, sizeof o.map[0].name);
    }
    r->g = cn_xform_graph_new();
    r->src = cn_igtl_source_new(&o, r->g);
    assert_int_equal(cn_igtl_source_start(r->src), 0);
    r->fd = accept(r->lfd, NULL, NULL);
    assert_true(r->fd >= 0);
}

static void rig_open(rig *r, const char *map_device, const char *map_name, bool tdata_req,
                     bool qtdata_req)
{
    rig_open_as(r, map_device, map_name, tdata_req, qtdata_req, false);
}

/* The log so far (caller frees). */
static char *rig_log(rig *r)
{
    fflush(r->log_file);
    long n = ftell(r->log_file);
    char *text = calloc(1, (size_t)n + 1);
    rewind(r->log_file);
    assert_int_equal(fread(text, 1, (size_t)n, r->log_file), (size_t)n);
    fseek(r->log_file, 0, SEEK_END);
    return text;
}

static void rig_close(rig *r)
{
    close(r->fd);
    close(r->lfd);
    cn_igtl_source_free(r->src);
    cn_xform_graph_free(r->g);
    cn_log_free(r->log);
    fclose(r->log_file);
}

/* Sends one message of `type` with raw content, header version v. */
static void send_msg(int fd, int v, const char *type, const char *device, const void *content,
                     size_t n)
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    cn_igtl_meta meta = {"Origin", "test"};
    assert_int_equal(cn_igtl_msg_begin(&b, &msg, v, type, device, 0, 7), 0);
    if (n)
        memcpy(cn_igtl_buf_append(&b, n), content, n);
    assert_int_equal(cn_igtl_msg_end(&b, &msg, v == 2 ? &meta : NULL, v == 2 ? 1 : 0), 0);
    assert_int_equal(tu_send_all(fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
}

/* Sends a TRANSFORM marker and waits until it is in: everything sent before it
 * has been handled. */
static void sync_marker(rig *r, double x)
{
    cn_mat4 mk = cn_mat4_translation(x, 0, 0);
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    cn_igtl_msg_begin(&b, &msg, 1, "TRANSFORM", "MarkerToTracker", 0, 0);
    cn_igtl_put_transform(&b, &mk);
    cn_igtl_msg_end(&b, &msg, NULL, 0);
    assert_int_equal(tu_send_all(r->fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    for (int i = 0; i < 500; i++) {
        cn_mat4 m;
        if (cn_igtl_source_get_pose(r->src, "MarkerToTracker", &m, NULL, NULL) == CN_OK &&
            m.m[3] == x)
            return;
        cn_clock_sleep_ns(10000000);
    }
    fail_msg("marker %g never arrived", x);
}

static void expect_link_up(rig *r)
{
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(r->src, &sst);
    if (!sst.connected || sst.connects != 1 || sst.disconnects != 0 || sst.last_error[0])
        fail_msg("link dropped: connected %d, connects %llu, disconnects %llu, error '%s'",
                 sst.connected, (unsigned long long)sst.connects,
                 (unsigned long long)sst.disconnects, sst.last_error);
}

static void expect_graph_pose(rig *r, const char *name, const cn_mat4 *want)
{
    cn_mat4 got;
    bool valid = false;
    if (cn_igtl_source_get_pose(r->src, name, &got, &valid, NULL) != CN_OK)
        fail_msg("no pose %s", name);
    assert_true(valid);
    assert_pose(&got, want, 1e-6, name);
    assert_int_equal(cn_xform_graph_get_named(r->g, name, cn_clock_mono_ns(), &got), CN_OK);
    assert_pose(&got, want, 1e-6, name);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* The fixtures through the device: POSITION v1/v2 under the mapped device
 * name, TDATA v1/v2 elements under their element names. */
static void test_device_takes_fixture_poses(void **st)
{
    (void)st;
    rig r;
    rig_open(&r, "Tracker1", "StylusToTracker", false, false);
    const char *keys[] = {"position", "positionFormat2", "tdata", "tdataFormat2"};
    for (int k = 0; k < 4; k++) {
        size_t len;
        uint8_t *wire = fixture(keys[k], &len);
        assert_int_equal(tu_send_all(r.fd, wire, len), 0);
        free(wire);
    }
    sync_marker(&r, 1);
    expect_link_up(&r);
    cn_mat4 want = expect_pose(FIX_QUAT, FIX_POS);
    /* "DeviceName" is not AToB and not mapped: refused with the map entry to add */
    char *log = rig_log(&r);
    assert_non_null(strstr(log, "POSITION \"DeviceName\" from 127.0.0.1:"));
    assert_non_null(strstr(log, "{\"DeviceName\": \"CryoprobeToTracker\"}"));
    assert_non_null(strstr(log, "receiving TDATA \"Tracker1\" as StylusToTracker"));
    free(log);
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(r.src, &sst);
    assert_int_equal(sst.positions, 0);
    assert_int_equal(sst.tdata, 2);
    assert_int_equal(sst.ignored, 2);
    cn_mat4 tw = cn_mat4_identity();
    for (int col = 0; col < 4; col++)
        for (int row = 0; row < 3; row++)
            tw.m[row * 4 + col] = FIX_TDATA[col * 3 + row];
    expect_graph_pose(&r, "StylusToTracker", &tw);
    rig_close(&r);

    /* mapped, POSITION goes in too */
    rig_open(&r, "DeviceName", "CryoprobeToTracker", false, false);
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *wire = fixture(keys[k], &len);
        assert_int_equal(tu_send_all(r.fd, wire, len), 0);
        free(wire);
    }
    sync_marker(&r, 2);
    expect_link_up(&r);
    expect_graph_pose(&r, "CryoprobeToTracker", &want);
    cn_igtl_source_get_stats(r.src, &sst);
    assert_int_equal(sst.positions, 2);
    log = rig_log(&r);
    assert_int_equal(count_of(log, "receiving POSITION \"DeviceName\" as CryoprobeToTracker"), 1);
    free(log);
    rig_close(&r);
}

/* Hostile bodies over a real socket: each refused with one line (peer, type,
 * device name, problem), said once however often it comes, the link up, the
 * good elements of the same message kept, and the poses a server can create
 * bounded. */
static void test_device_refuses_hostile_bodies(void **st)
{
    (void)st;
    rig r;
    rig_open(&r, NULL, NULL, false, false);
    const float g1[7] = {1, 2, 3, 0, 0, 0, 1}, zero_q[7] = {4, 5, 6, 0, 0, 0, 0},
                nan_p[7] = {NAN, 5, 6, 0, 0, 0, 1}, g2[7] = {7, 8, 9, 0, 0, 1, 0};
    uint8_t pos[28];
    for (int i = 0; i < 7; i++)
        put_be_float(pos + 4 * i, zero_q[i]);
    uint8_t q[4 * 50];
    qt_element(q, "StylusToTracker", g1);
    qt_element(q + 50, "ZeroToTracker", zero_q);
    qt_element(q + 100, "NanToTracker", nan_p);
    qt_element(q + 150, "ProbeToTracker", g2);
    uint8_t t[3 * 70];
    const float tr[3] = {11, 12, 13};
    t_element(t, "NeedleToTrackerXXXXX", tr); /* 20 bytes, no NUL: a whole name */
    t_element(t + 70, "RefToTracker", tr);
    t_element(t + 140, "Bad\x7fToTracker", tr);
    for (int rep = 0; rep < 3; rep++) { /* said once, however often it comes */
        send_msg(r.fd, 1, "POSITION", "PointerToTracker", pos, 20);      /* wrong size */
        send_msg(r.fd, 2, "POSITION", "PointerToTracker", pos, 28);      /* zero quaternion */
        send_msg(r.fd, 1, "TDATA", "Tracker", t, 71);                    /* not whole elements */
        send_msg(r.fd, 2, "TDATA", "Tracker", t, sizeof t);              /* 2 good of 3 */
        send_msg(r.fd, 1, "QTDATA", "Tracker", q, sizeof q);             /* 2 good of 4 */
        send_msg(r.fd, 1, "QTDATA", "Tracker", q, 0);                    /* empty */
    }
    sync_marker(&r, 3);
    expect_link_up(&r);
    cn_mat4 w1 = cn_mat4_translation(1, 2, 3), w2 = cn_mat4_identity(), wt;
    w2.m[0] = -1, w2.m[5] = -1; /* quaternion (0, 0, 1, 0): 180 degrees about z */
    w2.m[3] = 7, w2.m[7] = 8, w2.m[11] = 9;
    wt = cn_mat4_translation(11, 12, 13);
    expect_graph_pose(&r, "StylusToTracker", &w1);
    expect_graph_pose(&r, "ProbeToTracker", &w2);
    expect_graph_pose(&r, "RefToTracker", &wt);
    expect_graph_pose(&r, "NeedleToTrackerXXXXX", &wt);
    assert_int_equal(cn_igtl_source_get_pose(r.src, "ZeroToTracker", NULL, NULL, NULL), CN_ENOENT);
    assert_int_equal(cn_igtl_source_get_pose(r.src, "PointerToTracker", NULL, NULL, NULL),
                     CN_ENOENT);
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(r.src, &sst);
    assert_int_equal(sst.refused, 3 * 7);
    assert_int_equal(sst.tdata, 3);
    assert_int_equal(sst.qtdata, 3);
    char *log = rig_log(&r);
    const char *lines[] = {
        "POSITION \"PointerToTracker\" from 127.0.0.1:",
        "refused: body of 20 bytes (expected 12, 24 or 28) (the link and the other poses stay)",
        "refused: zero quaternion (no orientation)",
        "TDATA \"Tracker\" from 127.0.0.1:",
        "refused: body of 71 bytes is not a whole number of 70-byte elements",
        "TDATA \"Tracker\" element \"Bad?ToTracker\"",
        "refused: element name not printable ASCII",
        "QTDATA \"Tracker\" element \"ZeroToTracker\"",
        "QTDATA \"Tracker\" element \"NanToTracker\"",
        "refused: non-finite number in the position or quaternion",
        "refused: body of 0 bytes is not a whole number of 50-byte elements",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(log, lines[i]))
            fail_msg("no log line with '%s'", lines[i]);
    assert_int_equal(count_of(log, " refused: "), 7); /* once each, not per message */
    assert_null(strstr(log, "NeedleToTrackerXXXXX\" from"));
    free(log);

    /* A TDATA as large as the limit allows, every element a new AToB name:
     * at most POSES_MAX (16) poses, one warning, the link up. */
    size_t n_el = (64u << 10) / 70;
    uint8_t *big = malloc(n_el * 70);
    for (size_t i = 0; i < n_el; i++) {
        char name[20];
        snprintf(name, sizeof name, "T%zuToTracker", i);
        t_element(big + 70 * i, name, tr);
    }
    send_msg(r.fd, 1, "TDATA", "Flood", big, n_el * 70);
    free(big);
    sync_marker(&r, 4);
    expect_link_up(&r);
    assert_true(cn_xform_graph_edge_count(r.g) <= 16);
    int have = 0;
    for (size_t i = 0; i < n_el; i++) {
        char name[20];
        snprintf(name, sizeof name, "T%zuToTracker", i);
        have += cn_igtl_source_get_pose(r.src, name, NULL, NULL, NULL) == CN_OK;
    }
    assert_true(have > 0 && have <= 16);
    log = rig_log(&r);
    assert_int_equal(count_of(log, "sends more than 16 poses"), 1);
    free(log);
    /* what it delivered is lost the moment the link drops */
    close(r.fd);
    r.fd = -1;
    for (int i = 0; i < 300; i++) {
        bool valid = true;
        cn_igtl_source_get_pose(r.src, "ProbeToTracker", NULL, &valid, NULL);
        if (!valid)
            break;
        cn_clock_sleep_ns(10000000);
    }
    bool valid = true;
    assert_int_equal(cn_igtl_source_get_pose(r.src, "ProbeToTracker", NULL, &valid, NULL), 0);
    assert_false(valid);
    rig_close(&r);
}

/* request_tdata / request_qtdata: STT_ on connect with the resolution, STP_
 * when the device stops. */
static void test_device_requests_streams(void **st)
{
    (void)st;
    rig r;
    rig_open(&r, NULL, NULL, true, true);
    tu_client c;
    tu_client_init(&c, r.fd);
    tu_read(&c, 3000, "STT_QTDATA", NULL);
    tu_msg *a = tu_find(&c, "STT_TDATA", NULL), *b = tu_find(&c, "STT_QTDATA", NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->content_len, 36);
    assert_int_equal(b->content_len, 36);
    assert_int_equal(be16_at(a->content) * 65536u + be16_at(a->content + 2), 40);
    assert_int_equal(be16_at(b->content) * 65536u + be16_at(b->content + 2), 40);
    cn_igtl_source_stop(r.src);
    tu_read(&c, 3000, "STP_QTDATA", NULL);
    assert_non_null(tu_find(&c, "STP_TDATA", NULL));
    assert_non_null(tu_find(&c, "STP_QTDATA", NULL));
    c.fd = -1; /* rig_close closes it */
    tu_client_free(&c);
    rig_close(&r);
}

static void test_config_keys(void **st)
{
    (void)st;
    char err[256] = "";
    cn_igtl_source_opts o;
    cn_igtl_source_opts_default(&o);
    assert_false(o.request_tdata || o.request_qtdata);
    assert_int_equal(o.resolution_ms, 20);
    cn_json *d = cn_json_parse("{\"igtl\": {\"source\": {\"request_tdata\": true,\n"
                               " \"request_qtdata\": true, \"resolution_ms\": 35}}}",
                               "cfg", err, sizeof err);
    assert_int_equal(cn_igtl_source_opts_from_json(&o, d, err, sizeof err), 0);
    assert_true(o.request_tdata && o.request_qtdata);
    assert_int_equal(o.resolution_ms, 35);
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\"source\": {\"resolution_ms\": -1}}}", "cfg", err,
                      sizeof err);
    assert_int_not_equal(cn_igtl_source_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "resolution_ms"));
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\"source\": {\"request_tdata\": \"on\"}}}", "cfg", err,
                      sizeof err);
    assert_int_not_equal(cn_igtl_source_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "request_tdata"));
    cn_json_free(d);
}

/* TRANSFORM and IMAGE messages we cannot use are said too (they were dropped
 * without a word, so an integrator sending a 16-bit image or a short transform
 * saw nothing happen): once per kind, the link up, the good ones kept. */
static void test_device_says_unusable_transform_and_image(void **st)
{
    (void)st;
    rig r;
    rig_open_as(&r, NULL, NULL, false, false, true);
    uint8_t x[48] = {0};
    put_be_float(x + 4 * 5, NAN);
    for (int rep = 0; rep < 3; rep++) {
        send_msg(r.fd, 1, "TRANSFORM", "ShortToTracker", x, 47);
        send_msg(r.fd, 1, "TRANSFORM", "NanToTracker", x, 48);
    }
    /* an IMAGE of 16-bit pixels, packed as a uint8 one and then retyped */
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    uint8_t px[8 * 4] = {0};
    const cn_mat4 ijk = cn_mat4_identity();
    assert_int_equal(cn_igtl_put_image_u8(&b, 4, 4, px, &ijk), CN_OK);
    uint8_t *body = malloc(b.len);
    memcpy(body, b.data, b.len);
    body[3] = 5; /* scalar type (byte 3 of the IMAGE header): uint16 */
    uint8_t *body16 = malloc(72 + 32);
    memcpy(body16, body, 72);
    memset(body16 + 72, 0, 32);
    for (int rep = 0; rep < 2; rep++)
        send_msg(r.fd, 1, "IMAGE", "Image_Reference", body16, 72 + 32);
    free(body);
    free(body16);
    cn_igtl_buf_free(&b);
    sync_marker(&r, 5);
    expect_link_up(&r);
    cn_igtl_source_stats sst;
    cn_igtl_source_get_stats(r.src, &sst);
    assert_int_equal(sst.refused, 3 * 2 + 2);
    assert_int_equal(sst.images, 0);
    char *log = rig_log(&r);
    const char *lines[] = {
        "TRANSFORM \"ShortToTracker\" from 127.0.0.1:",
        "refused: body of 47 bytes (expected 48) (the link and the other poses stay)",
        "TRANSFORM \"NanToTracker\" from 127.0.0.1:",
        "refused: non-finite number in the matrix",
        "IMAGE \"Image_Reference\" from 127.0.0.1:",
        "refused: scalar type 5 with 1 component (only 8-bit unsigned grey",
        "(the link stays; no frame from it)",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(log, lines[i]))
            fail_msg("no log line with '%s' in:\n%s", lines[i], log);
    assert_int_equal(count_of(log, " refused: "), 3);
    free(log);
    rig_close(&r);
}

/* A TDATA element of type 3D carries the tip's position only: its rotation is
 * whatever the sender left there, and a cryoprobe drawn with it would point the
 * wrong way. It is refused with a reason; a 6D element beside it is used. */
static void test_device_refuses_tip_only_tools(void **st)
{
    (void)st;
    rig r;
    rig_open(&r, NULL, NULL, false, false);
    uint8_t t[2 * 70];
    const float tr[3] = {4, 5, 6};
    t_element(t, "TipToTracker", tr);
    t[20] = 3; /* TYPE_3D */
    t_element(t + 70, "ProbeToTracker", tr);
    t[70 + 20] = 4; /* TYPE_5D: an axis without roll, enough for a probe */
    send_msg(r.fd, 1, "TDATA", "Tracker", t, sizeof t);
    sync_marker(&r, 2);
    expect_link_up(&r);
    cn_mat4 want = cn_mat4_translation(4, 5, 6);
    expect_graph_pose(&r, "ProbeToTracker", &want);
    assert_int_equal(cn_igtl_source_get_pose(r.src, "TipToTracker", NULL, NULL, NULL), CN_ENOENT);
    char *log = rig_log(&r);
    if (!strstr(log, "TDATA \"Tracker\" element \"TipToTracker\" from 127.0.0.1:") ||
        !strstr(log, "refused: instrument type 3D: the tip's position only, no orientation"))
        fail_msg("no refusal of the 3D element in:\n%s", log);
    free(log);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_takes_fixture_poses),
        cmocka_unit_test(test_device_refuses_hostile_bodies),
        cmocka_unit_test(test_device_requests_streams),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_device_says_unusable_transform_and_image),
        cmocka_unit_test(test_device_refuses_tip_only_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
