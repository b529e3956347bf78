/* track_test_util.h - helpers of the POSITION / TDATA / QTDATA tests
 * (test_igtl_track.c, test_igtl_source_track.c): the upstream fixtures, big-endian
 * reads written by hand (independent of the module's), the pose a quaternion
 * stands for by a formula of the tests' own, and element builders.
 * Header-only (static). */
#ifndef CN_TRACK_TEST_UTIL_H
#define CN_TRACK_TEST_UTIL_H

#include "igtl/igtl.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES CN_SHARED_DATA_DIR "/igtl/upstream-fixtures.json"

/* The numbers the POSITION and TDATA fixtures hold (printed once with Python's
 * struct from their bytes; the tests also read them back from the bytes). */
static const double FIX_POS[3] = {46.0531005859375, 19.47089958190918, 46.0531005859375};
static const double FIX_QUAT[4] = {0.0, 0.5773502588272095, 0.5773502588272095,
                                   0.3333333432674408};
static const double FIX_TDATA[12] = {-0.9548919796943665, 0.1966319978237152, -0.2225250005722046,
                                     -0.1966319978237152, 0.14285700023174286, 0.9700139760971069,
                                     0.2225250005722046,  0.9700139760971069,
                                     -0.09774909913539886, 46.0531005859375, 19.47089958190918,
                                     46.0531005859375};

static inline uint8_t *fixture(const char *key, size_t *len)
{
    json_error_t je;
    json_t *root = json_load_file(FIXTURES, 0, &je);
    if (!root)
        fail_msg("%s: %s", FIXTURES, je.text);
    json_t *e = json_object_get(json_object_get(root, "fixtures"), key);
    const char *hex = json_string_value(json_object_get(e, "wire_hex"));
    if (!hex)
        fail_msg("no fixture %s", key);
    *len = strlen(hex) / 2;
    uint8_t *b = malloc(*len);
    for (size_t i = 0; i < *len; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        b[i] = (uint8_t)v;
    }
    json_decref(root);
    return b;
}

/* Hand-written big-endian reads (independent of the module's). */
static inline unsigned be16_at(const uint8_t *p)
{
    return (unsigned)p[0] * 256u + p[1];
}

static inline double bef_at(const uint8_t *p)
{
    uint32_t u = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Where the content starts in a wire message: after the 58-byte header, and for
 * a version 2 header after the extended header whose size is its first field. */
static inline size_t content_offset(const uint8_t *wire)
{
    return 58 + (be16_at(wire) == 2 ? be16_at(wire + 58) : 0);
}

/* Rotation of quaternion (x, y, z, w), normalised, as
 * R = (w^2 - v.v) I + 2 v v^T + 2 w [v]x, and translation t. */
static inline cn_mat4 expect_pose(const double q[4], const double t[3])
{
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    double v[3] = {q[0] / n, q[1] / n, q[2] / n}, w = q[3] / n;
    double s = w * w - (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    double cross[3][3] = {{0, -v[2], v[1]}, {v[2], 0, -v[0]}, {-v[1], v[0], 0}};
    cn_mat4 m = cn_mat4_identity();
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            m.m[r * 4 + c] = (r == c ? s : 0) + 2 * v[r] * v[c] + 2 * w * cross[r][c];
        m.m[r * 4 + 3] = t[r];
    }
    return m;
}

static inline void put_be_float(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

/* One QTDATA element: name, position, quaternion. */
static inline void qt_element(uint8_t e[50], const char *name, const float pq[7])
{
    memset(e, 0, 50);
    memcpy(e, name, strnlen(name, 20));
    e[20] = 2;
    for (int i = 0; i < 7; i++)
        put_be_float(e + 22 + 4 * i, pq[i]);
}

/* One TDATA element: name, identity rotation, translation t. */
static inline void t_element(uint8_t e[70], const char *name, const float t[3])
{
    memset(e, 0, 70);
    memcpy(e, name, strnlen(name, 20));
    e[20] = 2;
    float v[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, t[0], t[1], t[2]};
    for (int i = 0; i < 12; i++)
        put_be_float(e + 22 + 4 * i, v[i]);
}

/* Feeds a whole wire message to a fresh parser in 7-byte pieces. */
static inline cn_igtl_parser *parse(const uint8_t *wire, size_t len, cn_igtl_message *m)
{
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    int r = 0;
    for (size_t off = 0; off < len && r == 0;) {
        size_t used, chunk = len - off < 7 ? len - off : 7;
        r = cn_igtl_parser_feed(p, wire + off, chunk, &used, m);
        off += used;
    }
    if (r != 1)
        fail_msg("parse: %s", cn_igtl_parser_error(p));
    return p;
}

static inline void assert_pose(const cn_mat4 *got, const cn_mat4 *want, double tol, const char *what)
{
    double d = cn_mat4_max_abs_diff(got, want);
    if (!(d <= tol))
        fail_msg("%s: %g away from the expected pose", what, d);
}

#endif
