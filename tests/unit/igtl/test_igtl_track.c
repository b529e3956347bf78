/*
 * test_igtl_track.c - the POSITION, TDATA and QTDATA decoders (modules/igtl/igtl_track.c).
 *
 * Why: trackers and PLUS-style bridges stream these instead of TRANSFORM, and
 * the client device takes its poses from them. Checked here:
 *   - the upstream library's own POSITION and TDATA messages (v1 and v2 headers,
 *     ../shared/data/igtl/upstream-fixtures.json) decode to the numbers their
 *     bytes hold: the expected values are read from the fixture by hand-written
 *     big-endian reads at the layout's offsets (and equal the literals of
 *     track_test_util.h), the rotation of a quaternion by a formula of the
 *     tests' own, not the module's;
 *   - QTDATA and STT_TDATA / STT_QTDATA packed by the upstream C++ library
 *     (there is no QTDATA fixture): decoded / matched byte for byte;
 *   - malformed bodies and elements are refused with a reason.
 * The device on a loopback socket: test_igtl_source_track.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ref_pack.h"
#include "track_test_util.h"

static const uint32_t SEC = 1700000000u, FRAC = 0x12345678u;
#define TS (((uint64_t)SEC << 32) | FRAC)

static void test_position_fixtures(void **st)
{
    (void)st;
    const char *keys[] = {"position", "positionFormat2"};
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *wire = fixture(keys[k], &len);
        size_t off = content_offset(wire);
        assert_int_equal(off, k == 0 ? 58 : 70);
        double pos[3], q[4];
        for (int i = 0; i < 3; i++)
            pos[i] = bef_at(wire + off + 4 * i);
        for (int i = 0; i < 4; i++)
            q[i] = bef_at(wire + off + 12 + 4 * i);
        /* what those bytes are (printed once with Python's struct) */
        for (int i = 0; i < 3; i++)
            assert_true(pos[i] == FIX_POS[i]);
        for (int i = 0; i < 4; i++)
            assert_true(q[i] == FIX_QUAT[i]);
        cn_igtl_message m;
        cn_igtl_parser *p = parse(wire, len, &m);
        assert_string_equal(m.h.type, "POSITION");
        assert_int_equal(m.content_len, 28);
        cn_mat4 got, want = expect_pose(q, pos);
        char why[96] = "";
        assert_int_equal(cn_igtl_decode_position(m.content, m.content_len, &got, why, sizeof why),
                         CN_OK);
        assert_pose(&got, &want, 1e-6, keys[k]);
        /* the two shorter forms of the same body: position only (identity
         * rotation), and x y z of the quaternion with w recovered */
        double id[4] = {0, 0, 0, 1};
        want = expect_pose(id, pos);
        assert_int_equal(cn_igtl_decode_position(m.content, 12, &got, why, sizeof why), CN_OK);
        assert_pose(&got, &want, 1e-6, "position only");
        double q3[4] = {q[0], q[1], q[2], sqrt(1 - (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]))};
        want = expect_pose(q3, pos);
        assert_int_equal(cn_igtl_decode_position(m.content, 24, &got, why, sizeof why), CN_OK);
        assert_pose(&got, &want, 1e-6, "3-element quaternion");
        cn_igtl_parser_free(p);
        free(wire);
    }
}

static void test_tdata_fixtures(void **st)
{
    (void)st;
    const char *keys[] = {"tdata", "tdataFormat2"};
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *wire = fixture(keys[k], &len);
        size_t off = content_offset(wire);
        cn_igtl_message m;
        cn_igtl_parser *p = parse(wire, len, &m);
        assert_string_equal(m.h.type, "TDATA");
        assert_int_equal(m.content_len, 210);
        assert_int_equal(cn_igtl_track_count(m.content_len, false), 3);
        for (int i = 0; i < 3; i++) {
            const uint8_t *e = wire + off + 70 * (size_t)i;
            char name[16];
            snprintf(name, sizeof name, "Tracker%d", i);
            assert_memory_equal(e, name, strlen(name) + 1);
            /* the 12 floats in TRANSFORM's column order, read by hand */
            cn_mat4 want = cn_mat4_identity();
            for (int col = 0; col < 4; col++)
                for (int r = 0; r < 3; r++) {
                    double v = bef_at(e + 22 + 4 * (size_t)(col * 3 + r));
                    assert_true(v == FIX_TDATA[col * 3 + r]);
                    want.m[r * 4 + col] = v;
                }
            cn_igtl_track_element el;
            char why[96] = "";
            assert_int_equal(cn_igtl_decode_track_element(m.content, m.content_len, i, false, &el,
                                                          why, sizeof why), CN_OK);
            assert_string_equal(el.name, name);
            assert_int_equal(el.type, e[20]);
            assert_int_equal(el.type, 2); /* 6D instrument */
            assert_pose(&el.m, &want, 0, keys[k]);
        }
        cn_igtl_parser_free(p);
        free(wire);
    }
}

/* QTDATA has no fixture: the upstream C++ library packs one. */
static void test_qtdata_from_upstream_library(void **st)
{
    (void)st;
    const char *names[] = {"Stylus", "Probe", "Ref"};
    const float pos[3][3] = {{10.5f, -20.25f, 30}, {0, 0, 0}, {-1, 2, -3}};
    const float quat[3][4] = {{0, 0.6666667f, 0.57735f, 0.2f}, {0, 0, 0, 1}, {0.5f, 0.5f, 0.5f, 0.5f}};
    size_t len;
    uint8_t *wire = ref_pack_qtdata("Tracker", SEC, FRAC, 3, names, pos, quat, &len);
    cn_igtl_message m;
    cn_igtl_parser *p = parse(wire, len, &m);
    assert_string_equal(m.h.type, "QTDATA");
    assert_int_equal(cn_igtl_track_count(m.content_len, true), 3);
    for (int i = 0; i < 3; i++) {
        cn_igtl_track_element el;
        char why[96] = "";
        assert_int_equal(cn_igtl_decode_track_element(m.content, m.content_len, i, true, &el, why,
                                                      sizeof why), CN_OK);
        assert_string_equal(el.name, names[i]);
        double q[4] = {quat[i][0], quat[i][1], quat[i][2], quat[i][3]};
        double t[3] = {pos[i][0], pos[i][1], pos[i][2]};
        cn_mat4 want = expect_pose(q, t);
        assert_pose(&el.m, &want, 1e-6, names[i]);
    }
    cn_igtl_parser_free(p);
    free(wire);
    /* A 20-character name fills its field: upstream sends it without a NUL, and
     * it is the tool's whole name (it was refused before). */
    const char *longname[] = {"CryoprobeToReference"};
    wire = ref_pack_qtdata("Tracker", SEC, FRAC, 1, longname, pos, quat, &len);
    p = parse(wire, len, &m);
    cn_igtl_track_element el;
    char why[96] = "";
    assert_int_equal(cn_igtl_decode_track_element(m.content, m.content_len, 0, true, &el, why,
                                                  sizeof why), CN_OK);
    assert_string_equal(el.name, "CryoprobeToReference");
    cn_mat4 want = expect_pose((double[4]){quat[0][0], quat[0][1], quat[0][2], quat[0][3]},
                               (double[3]){pos[0][0], pos[0][1], pos[0][2]});
    assert_pose(&el.m, &want, 1e-6, "CryoprobeToReference");
    cn_igtl_parser_free(p);
    free(wire);
}

static void test_stream_requests_match_upstream(void **st)
{
    (void)st;
    for (int q = 0; q < 2; q++) {
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        cn_igtl_msg msg;
        assert_int_equal(cn_igtl_msg_begin(&b, &msg, 1, q ? "STT_QTDATA" : "STT_TDATA", "CryoNav",
                                           TS, 0), 0);
        assert_int_equal(cn_igtl_put_stt(&b, 35, NULL), 0);
        assert_int_equal(cn_igtl_msg_end(&b, &msg, NULL, 0), 0);
        size_t rn;
        uint8_t *ref = ref_pack_stt("CryoNav", SEC, FRAC, q, 35, &rn);
        assert_int_equal(b.len, rn);
        assert_memory_equal(b.data, ref, rn);
        free(ref);
        cn_igtl_buf_free(&b);
    }
}

static void test_malformed_refused(void **st)
{
    (void)st;
    char why[96];
    cn_mat4 m;
    uint8_t pos[28];
    const float good[7] = {1, 2, 3, 0, 0, 0, 1};
    for (int i = 0; i < 7; i++)
        put_be_float(pos + 4 * i, good[i]);
    assert_int_equal(cn_igtl_decode_position(pos, 28, &m, why, sizeof why), CN_OK);
    const size_t bad_sizes[] = {0, 4, 16, 20, 27, 32};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        assert_int_equal(cn_igtl_decode_position(pos, bad_sizes[i], &m, why, sizeof why),
                         CN_EPARSE);
        assert_non_null(strstr(why, "bytes"));
    }
    put_be_float(pos + 4, NAN);
    assert_int_equal(cn_igtl_decode_position(pos, 28, &m, why, sizeof why), CN_EPARSE);
    assert_non_null(strstr(why, "non-finite"));
    put_be_float(pos + 4, 2);
    put_be_float(pos + 24, 0); /* quaternion (0, 0, 0, 0) */
    assert_int_equal(cn_igtl_decode_position(pos, 28, &m, why, sizeof why), CN_EPARSE);
    assert_non_null(strstr(why, "zero quaternion"));
    put_be_float(pos + 12, 0.9f);
    put_be_float(pos + 16, 0.9f); /* |xyz| > 1: no w */
    assert_int_equal(cn_igtl_decode_position(pos, 24, &m, why, sizeof why), CN_EPARSE);
    put_be_float(pos + 20, INFINITY);
    assert_int_equal(cn_igtl_decode_position(pos, 28, &m, why, sizeof why), CN_EPARSE);

    assert_int_equal(cn_igtl_track_count(0, false), CN_EPARSE);
    assert_int_equal(cn_igtl_track_count(71, false), CN_EPARSE);
    assert_int_equal(cn_igtl_track_count(100, true), 2);
    assert_int_equal(cn_igtl_track_count(70, true), CN_EPARSE);

    uint8_t q[4 * 50];
    const float qz[7] = {1, 2, 3, 0, 0, 0, 0}, qn[7] = {1, NAN, 3, 0, 0, 0, 1};
    qt_element(q, "Good", good);
    qt_element(q + 50, "Zero", qz);
    qt_element(q + 100, "NaN", qn);
    qt_element(q + 150, "Bad\x01Name", good);
    cn_igtl_track_element el;
    assert_int_equal(cn_igtl_decode_track_element(q, sizeof q, 0, true, &el, why, sizeof why), 0);
    assert_int_equal(cn_igtl_decode_track_element(q, sizeof q, 1, true, &el, why, sizeof why),
                     CN_EPARSE);
    assert_string_equal(el.name, "Zero");
    assert_non_null(strstr(why, "zero quaternion"));
    assert_int_equal(cn_igtl_decode_track_element(q, sizeof q, 2, true, &el, why, sizeof why),
                     CN_EPARSE);
    assert_non_null(strstr(why, "non-finite"));
    assert_int_equal(cn_igtl_decode_track_element(q, sizeof q, 3, true, &el, why, sizeof why),
                     CN_EPARSE);
    assert_string_equal(el.name, "Bad?Name");
    assert_non_null(strstr(why, "printable"));
    assert_int_equal(cn_igtl_decode_track_element(q, sizeof q, 4, true, &el, why, sizeof why),
                     CN_EPARSE); /* past the end */
    uint8_t t[70];
    const float tr[3] = {1, 2, 3};
    t_element(t, "ABCDEFGHIJKLMNOPQRST", tr); /* 20 bytes, no NUL: the whole name */
    assert_int_equal(cn_igtl_decode_track_element(t, 70, 0, false, &el, why, sizeof why), CN_OK);
    assert_string_equal(el.name, "ABCDEFGHIJKLMNOPQRST");
    t_element(t, "", tr);
    assert_int_equal(cn_igtl_decode_track_element(t, 70, 0, false, &el, why, sizeof why),
                     CN_EPARSE);
    t_element(t, "T", tr);
    put_be_float(t + 22 + 4 * 5, -INFINITY);
    assert_int_equal(cn_igtl_decode_track_element(t, 70, 0, false, &el, why, sizeof why),
                     CN_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_position_fixtures),
        cmocka_unit_test(test_tdata_fixtures),
        cmocka_unit_test(test_qtdata_from_upstream_library),
        cmocka_unit_test(test_stream_requests_match_upstream),
        cmocka_unit_test(test_malformed_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
