/*
 * test_igtl_wire.c - the OpenIGTLink wire layer, byte for byte.
 *
 * v1 messages are compared with the bytes the upstream C++ library (Debian's
 * libOpenIGTLink) packs for the same content (ref_pack.cxx); the v2 header
 * framing, which that library lacks, is compared with bytes laid out by hand
 * from the published protocol description. The parser is driven with
 * fragmented, truncated, oversized, corrupted and garbage input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl.h"
#include "ref_pack.h"

#include <igtl_util.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t SEC = 1700000000u, FRAC = 0x12345678u;
#define TS (((uint64_t)SEC << 32) | FRAC)

static void assert_same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    assert_int_equal(an, bn);
    for (size_t i = 0; i < an; i++)
        if (a[i] != b[i]) {
            print_error("first difference at byte %zu: ours 0x%02x, reference 0x%02x\n", i, a[i],
                        b[i]);
            fail();
        }
}

static cn_mat4 rot_trans(void)
{
    cn_mat4 m = cn_mat4_identity();
    m.m[0] = 0.6; m.m[1] = -0.8; m.m[3] = 10.5;
    m.m[4] = 0.8; m.m[5] = 0.6;  m.m[7] = -20.25;
    m.m[11] = 30.0;
    return m;
}

static void test_transform_v1_matches_upstream(void **st)
{
    (void)st;
    cn_mat4 m = rot_trans();
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    assert_int_equal(cn_igtl_msg_begin(&b, &msg, 1, "TRANSFORM", "ProbeToReference", TS, 0), 0);
    assert_int_equal(cn_igtl_put_transform(&b, &m), 0);
    assert_int_equal(cn_igtl_msg_end(&b, &msg, NULL, 0), 0);
    float rm[12];
    for (int i = 0; i < 12; i++)
        rm[i] = (float)m.m[i];
    size_t rn;
    uint8_t *ref = ref_pack_transform("ProbeToReference", SEC, FRAC, rm, &rn);
    assert_same_bytes(b.data, b.len, ref, rn);
    free(ref);
    cn_igtl_buf_free(&b);
}

/* A sub-volume IMAGE is not used, but its body must still hold the sub-volume's pixels: one
 * whose size fields disagree with its body was taken as a well-formed update and kept
 * silently (review 43a F5). Now malformed (the client is dropped, as for a whole image). */
static void test_image_subvolume_checked(void **st)
{
    (void)st;
    const int w = 64, h = 48;
    uint8_t *px = calloc((size_t)w * h, 1);
    cn_mat4 ijk = cn_mat4_identity();
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    assert_int_equal(cn_igtl_msg_begin(&b, &msg, 1, "IMAGE", "Image_Reference", TS, 0), 0);
    assert_int_equal(cn_igtl_put_image_u8(&b, w, h, px, &ijk), 0);
    assert_int_equal(cn_igtl_msg_end(&b, &msg, NULL, 0), 0);
    uint8_t *c = b.data + 58;
    const size_t len = b.len - 58;
    cn_igtl_image_view v;
    assert_int_equal(cn_igtl_decode_image(c, len, &v), 0);
    c[66] = 0; /* sub-volume 32 columns wide (big endian 16 bits), the body the whole image */
    c[67] = 32;
    assert_int_equal(cn_igtl_decode_image(c, len, &v), CN_EPARSE);
    /* the same with a body of the sub-volume's size: well formed, not used */
    assert_int_equal(cn_igtl_decode_image(c, 72 + 32 * 48, &v), CN_EUNSUPPORTED);
    cn_igtl_buf_free(&b);
    free(px);
}

static void test_image_v1_matches_upstream(void **st)
{
    (void)st;
    int w = 64, h = 48;
    uint8_t *px = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)(i * 7 + (i / w) * 3);
    double sx = 0.25, sy = 0.5;
    cn_mat4 ijk = cn_mat4_identity();   /* i axis (0.6, 0.8, 0), j axis (-0.8, 0.6, 0) */
    ijk.m[0] = 0.6 * sx; ijk.m[1] = -0.8 * sy; ijk.m[3] = 5.0;
    ijk.m[4] = 0.8 * sx; ijk.m[5] = 0.6 * sy;  ijk.m[7] = -7.0;
    ijk.m[8] = 0;        ijk.m[9] = 0;         ijk.m[11] = 12.0;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    assert_int_equal(cn_igtl_msg_begin(&b, &msg, 1, "IMAGE", "Image_Reference", TS, 0), 0);
    assert_int_equal(cn_igtl_put_image_u8(&b, w, h, px, &ijk), 0);
    assert_int_equal(cn_igtl_msg_end(&b, &msg, NULL, 0), 0);

    cn_vec3 c = cn_mat4_apply_point(&ijk, (cn_vec3){(w - 1) / 2.0, (h - 1) / 2.0, 0});
    float spacing[3] = {0.25f, 0.5f, 1.0f};
    float dir[9] = {0.6f, -0.8f, 0, 0.8f, 0.6f, 0, 0, 0, 1};
    float origin[3] = {(float)c.x, (float)c.y, (float)c.z};
    size_t rn;
    uint8_t *ref = ref_pack_image_u8("Image_Reference", SEC, FRAC, w, h, spacing, dir, origin, px,
                                     &rn);
    assert_same_bytes(b.data, b.len, ref, rn);

    /* and back: decoding restores the pixel-centre ijk matrix */
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, ref, rn, &used, &m), 1);
    cn_igtl_image_view v;
    assert_int_equal(cn_igtl_decode_image(m.content, m.content_len, &v), 0);
    assert_int_equal(v.size[0], w);
    assert_int_equal(v.size[1], h);
    assert_memory_equal(v.pixels, px, (size_t)w * h);
    cn_mat4 back = cn_igtl_image_ijk_to_ref(&v);
    assert_true(cn_mat4_max_abs_diff(&back, &ijk) < 1e-5);
    cn_igtl_parser_free(p);
    free(ref);
    free(px);
    cn_igtl_buf_free(&b);
}

static void test_string_status_polydata_v1_match_upstream(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_msg msg;
    size_t rn;
    uint8_t *ref;

    cn_igtl_buf_init(&b);
    cn_igtl_msg_begin(&b, &msg, 1, "STRING", "CryoNavEvent", TS, 0);
    assert_int_equal(cn_igtl_put_string(&b, "FreezeStarted cycle=1"), 0);
    cn_igtl_msg_end(&b, &msg, NULL, 0);
    ref = ref_pack_string("CryoNavEvent", SEC, FRAC, "FreezeStarted cycle=1", &rn);
    assert_same_bytes(b.data, b.len, ref, rn);
    free(ref);

    b.len = 0;
    cn_igtl_msg_begin(&b, &msg, 1, "STATUS", "CryoNavStatus", TS, 0);
    assert_int_equal(cn_igtl_put_status(&b, 2, -5, "Alarm", "ice near the artery"), 0);
    cn_igtl_msg_end(&b, &msg, NULL, 0);
    ref = ref_pack_status("CryoNavStatus", SEC, FRAC, 2, -5, "Alarm", "ice near the artery", &rn);
    assert_same_bytes(b.data, b.len, ref, rn);
    free(ref);

    float xyz[5][3] = {{1, 2, 3}, {4.5f, 5, 6}, {7, 8.25f, 9}, {-1, -2, -3}, {0, 0, 0.5f}};
    for (int closed = 0; closed <= 1; closed++) {
        b.len = 0;
        cn_igtl_msg_begin(&b, &msg, 1, "POLYDATA", "IsothermMinus20C", TS, 0);
        cn_igtl_polyline line = {0, 5, closed != 0};
        assert_int_equal(cn_igtl_put_polylines(&b, (const float(*)[3])xyz, 5, &line, 1), 0);
        cn_igtl_msg_end(&b, &msg, NULL, 0);
        ref = ref_pack_polyline("IsothermMinus20C", SEC, FRAC, &xyz[0][0], 5, closed, &rn);
        assert_same_bytes(b.data, b.len, ref, rn);
        free(ref);
    }
    /* a closed surface: a tetrahedron as 4 triangles */
    float tet[4][3] = {{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}};
    int tri[12] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
    b.len = 0;
    cn_igtl_msg_begin(&b, &msg, 1, "POLYDATA", "SurfaceMinus20C", TS, 0);
    assert_int_equal(cn_igtl_put_triangles(&b, &tet[0][0], 4, tri, 4), 0);
    cn_igtl_msg_end(&b, &msg, NULL, 0);
    ref = ref_pack_triangles("SurfaceMinus20C", SEC, FRAC, &tet[0][0], 4, tri, 4, &rn);
    assert_same_bytes(b.data, b.len, ref, rn);
    free(ref);
    int bad[3] = {0, 1, 4};
    assert_int_equal(cn_igtl_put_triangles(&b, &tet[0][0], 4, bad, 1), CN_EINVAL);
    cn_igtl_buf_free(&b);
}

static void test_point_from_upstream_decodes(void **st)
{
    (void)st;
    float pos[3] = {12.5f, -3.0f, 40.0f};
    size_t rn;
    uint8_t *ref = ref_pack_point("Proctor", SEC, FRAC, "Target1", pos, &rn);
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, ref, rn, &used, &m), 1);
    assert_string_equal(m.h.type, "POINT");
    assert_int_equal(m.h.timestamp, TS);
    cn_igtl_point pt[2];
    assert_int_equal(cn_igtl_decode_points(m.content, m.content_len, pt, 2), 1);
    assert_string_equal(pt[0].name, "Target1");
    assert_string_equal(pt[0].group, "Targets");
    assert_true(pt[0].pos[0] == 12.5f && pt[0].pos[1] == -3.0f && pt[0].pos[2] == 40.0f);
    cn_igtl_parser_free(p);
    free(ref);
}

/* Our POINT packer against upstream's PointMessage: two elements, one, and none
 * (the "no point" message a receiver empties its list on). */
static void test_points_v1_match_upstream(void **st)
{
    (void)st;
    const char *names[2] = {"NerveTarget", "A name of exactly sixty-four characters, with no terminating NUL"};
    assert_int_equal(strlen(names[1]), 64);
    const float pos[2][3] = {{12.5f, -3.25f, 40.0f}, {-1e3f, 0.0f, 7.125f}};
    const uint8_t rgba[4] = {255, 200, 0, 160};
    for (int n = 2; n >= 0; n--) {
        cn_igtl_point pt[2];
        memset(pt, 0, sizeof pt);
        for (int i = 0; i < n; i++) {
            cn_strlcpy(pt[i].name, names[i], sizeof pt[i].name);
            cn_strlcpy(pt[i].group, "CryoNav", sizeof pt[i].group);
            memcpy(pt[i].rgba, rgba, 4);
            memcpy(pt[i].pos, pos[i], sizeof pt[i].pos);
            pt[i].radius = 1.5f;
            cn_strlcpy(pt[i].owner, "Image_Reference", sizeof pt[i].owner);
        }
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        cn_igtl_msg msg;
        assert_int_equal(cn_igtl_msg_begin(&b, &msg, 1, "POINT", "NerveTarget", TS, 0), 0);
        assert_int_equal(cn_igtl_put_points(&b, pt, n), 0);
        assert_int_equal(cn_igtl_msg_end(&b, &msg, NULL, 0), 0);
        size_t rn;
        uint8_t *ref = ref_pack_points("NerveTarget", SEC, FRAC, n, names, "CryoNav", rgba, pos,
                                       1.5f, "Image_Reference", &rn);
        assert_same_bytes(b.data, b.len, ref, rn);
        free(ref);
        cn_igtl_buf_free(&b);
    }
    /* what cannot be said on the wire is refused, not cut */
    cn_igtl_point bad;
    memset(&bad, 0, sizeof bad);
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    bad.pos[1] = NAN;
    assert_int_equal(cn_igtl_put_points(&b, &bad, 1), CN_EINVAL);
    bad.pos[1] = 0;
    bad.radius = INFINITY;
    assert_int_equal(cn_igtl_put_points(&b, &bad, 1), CN_EINVAL);
    bad.radius = 0;
    memset(bad.group, 'g', sizeof bad.group); /* 33 bytes, no NUL: longer than 32 */
    assert_int_equal(cn_igtl_put_points(&b, &bad, 1), CN_EINVAL);
    memset(bad.group, 0, sizeof bad.group);
    memset(bad.owner, 'o', sizeof bad.owner); /* 21 bytes, no NUL */
    assert_int_equal(cn_igtl_put_points(&b, &bad, 1), CN_EINVAL);
    assert_int_equal(cn_igtl_put_points(&b, NULL, 1), CN_EINVAL);
    assert_int_equal(cn_igtl_put_points(&b, &bad, -1), CN_EINVAL);
    assert_int_equal(b.len, 0);
    cn_igtl_buf_free(&b);
}

/* v2 header, laid out by hand from the published description:
 * header (version 2) | ext header 12 | content | meta header | meta body. */
static void test_v2_framing_published_layout(void **st)
{
    (void)st;
    const char *full = "CryoprobeToReferenceTip";   /* 23 bytes: longer than 20 */
    cn_mat4 m = rot_trans();
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg msg;
    assert_int_equal(cn_igtl_msg_begin(&b, &msg, 2, "TRANSFORM", full, TS, 7), 0);
    assert_int_equal(cn_igtl_put_transform(&b, &m), 0);
    cn_igtl_meta meta = {"TransformStatus", "OK"};
    assert_int_equal(cn_igtl_msg_end(&b, &msg, &meta, 1), 0);

    uint8_t exp[512];
    size_t n = 0;
    exp[n++] = 0x00; exp[n++] = 0x02;                       /* header version 2 */
    memset(exp + n, 0, 12); memcpy(exp + n, "TRANSFORM", 9); n += 12;
    memset(exp + n, 0, 20); memcpy(exp + n, full, 20); n += 20;   /* truncated */
    for (int i = 7; i >= 0; i--) exp[n++] = (uint8_t)(TS >> (8 * i));
    size_t body = 12 + 48 + (2 + 8 * 2) + (16 + 23) + (15 + 2);
    for (int i = 7; i >= 0; i--) exp[n++] = (uint8_t)((uint64_t)body >> (8 * i));
    size_t crc_at = n;
    n += 8;
    const uint8_t ext[12] = {0x00, 0x0C, 0x00, 0x12, 0x00, 0x00, 0x00, 16 + 23 + 15 + 2,
                             0x00, 0x00, 0x00, 0x07};
    memcpy(exp + n, ext, 12); n += 12;
    float cols[12] = {0.6f, 0.8f, 0, -0.8f, 0.6f, 0, 0, 0, 1, 10.5f, -20.25f, 30.0f};
    for (int i = 0; i < 12; i++) {
        uint32_t u;
        memcpy(&u, &cols[i], 4);
        for (int k = 3; k >= 0; k--) exp[n++] = (uint8_t)(u >> (8 * k));
    }
    const uint8_t mh[18] = {0x00, 0x02,
                            0x00, 0x10, 0x00, 0x03, 0x00, 0x00, 0x00, 0x17,   /* IGTL_DEVICE_NAME */
                            0x00, 0x0F, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02};  /* TransformStatus */
    memcpy(exp + n, mh, 18); n += 18;
    memcpy(exp + n, "IGTL_DEVICE_NAME", 16); n += 16;
    memcpy(exp + n, full, 23); n += 23;
    memcpy(exp + n, "TransformStatus", 15); n += 15;
    memcpy(exp + n, "OK", 2); n += 2;
    assert_int_equal(n, 58 + body);
    uint64_t crc = cn_igtl_crc64(exp + 58, body, 0);
    for (int i = 7; i >= 0; i--) exp[crc_at + 7 - i] = (uint8_t)(crc >> (8 * i));
    assert_same_bytes(b.data, b.len, exp, n);

    /* parsed back: full name from metadata, status, message id, content */
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    cn_igtl_message out;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, b.data, b.len, &used, &out), 1);
    char name[64], val[16];
    cn_igtl_message_name(&out, name, sizeof name);
    assert_string_equal(name, full);
    assert_int_equal(cn_igtl_message_meta(&out, "TransformStatus", val, sizeof val), 0);
    assert_string_equal(val, "OK");
    assert_int_equal(out.msg_id, 7);
    cn_mat4 back;
    assert_int_equal(cn_igtl_decode_transform(out.content, out.content_len, &back), 0);
    assert_true(cn_mat4_max_abs_diff(&back, &m) < 1e-6);
    cn_igtl_parser_free(p);
    cn_igtl_buf_free(&b);
}

static void test_crc64_known_value(void **st)
{
    (void)st;
    /* CRC-64/ECMA-182 with init 0, no reflection, no final xor: "123456789" */
    assert_true(cn_igtl_crc64("123456789", 9, 0) == 0x6C40DF5F0B497347ull);
}

/* Our CRC (ISA-L, igtl_wire.c) gives the upstream library's crc64() value for
 * every length 1..300 at every alignment 0..7, for a whole 640x480 image, and
 * when chained (a CRC carried over from a first part). */
static void test_crc64_matches_upstream(void **st)
{
    (void)st;
    size_t n = 640 * 480 + 64;
    unsigned char *d = malloc(n);
    assert_non_null(d);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        d[i] = (unsigned char)x;
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 1; len <= 300; len++)
            assert_true(cn_igtl_crc64(d + off, len, 0) == crc64(d + off, (igtl_uint64)len, 0));
    uint64_t whole = crc64(d, (igtl_uint64)n, 0);
    assert_true(cn_igtl_crc64(d, n, 0) == whole);
    assert_true(cn_igtl_crc64(d + 1001, n - 1001, cn_igtl_crc64(d, 1001, 0)) == whole);
    assert_true(cn_igtl_crc64(d, 0, 0x1234) == 0x1234);
    free(d);
}

static size_t three_messages(cn_igtl_buf *b)
{
    cn_igtl_msg msg;
    cn_mat4 m = rot_trans();
    cn_igtl_msg_begin(b, &msg, 1, "TRANSFORM", "AToB", TS, 0);
    cn_igtl_put_transform(b, &m);
    cn_igtl_msg_end(b, &msg, NULL, 0);
    cn_igtl_msg_begin(b, &msg, 2, "STRING", "Note", TS, 1);
    cn_igtl_put_string(b, "hello");
    cn_igtl_msg_end(b, &msg, NULL, 0);
    cn_igtl_msg_begin(b, &msg, 1, "GET_IMAGE", "", TS, 0);
    cn_igtl_msg_end(b, &msg, NULL, 0);
    return b->len;
}

static void test_parser_fragmented(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    three_messages(&b);
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    const char *types[3] = {"TRANSFORM", "STRING", "GET_IMAGE"};
    int got = 0;
    for (size_t i = 0; i < b.len; i++) {   /* one byte at a time */
        cn_igtl_message m;
        size_t used;
        int r = cn_igtl_parser_feed(p, b.data + i, 1, &used, &m);
        assert_true(r == 0 || r == 1);
        assert_int_equal(used, 1);
        if (r == 1) {
            assert_string_equal(m.h.type, types[got]);
            got++;
        }
    }
    assert_int_equal(got, 3);
    assert_int_equal(cn_igtl_parser_buffered(p), 0);
    cn_igtl_parser_free(p);
    cn_igtl_buf_free(&b);
}

static int feed_all(cn_igtl_parser *p, const uint8_t *d, size_t n, int *msgs)
{
    size_t off = 0;
    *msgs = 0;
    for (;;) {
        cn_igtl_message m;
        size_t used;
        int r = cn_igtl_parser_feed(p, d + off, n - off, &used, &m);
        off += used;
        if (r < 0)
            return r;
        if (r == 0)
            return 0;
        (*msgs)++;
    }
}

static void test_parser_malformed(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    three_messages(&b);
    int msgs;
    cn_igtl_limits lim;
    cn_igtl_limits_default(&lim);

    /* truncated header: waits, nothing delivered, nothing allocated beyond it */
    cn_igtl_parser *p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, b.data, 30, &msgs), 0);
    assert_int_equal(msgs, 0);
    assert_int_equal(cn_igtl_parser_buffered(p), 30);
    cn_igtl_parser_free(p);

    /* bad CRC */
    uint8_t *c = malloc(b.len);
    memcpy(c, b.data, b.len);
    c[58 + 3] ^= 0x40;
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, b.len, &msgs), CN_EPARSE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "CRC"));
    /* after an error the parser refuses more input */
    assert_int_equal(feed_all(p, b.data, b.len, &msgs), CN_EPARSE);
    cn_igtl_parser_free(p);

    /* body size over the limit for its type: refused before reading the body */
    memcpy(c, b.data, b.len);
    c[42] = 0x00; c[43] = 0x00; c[44] = 0x00; c[45] = 0x01;   /* 2^32 + ... */
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, 58, &msgs), CN_ERANGE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "limit"));
    cn_igtl_parser_free(p);

    /* a small type announcing 1 MiB */
    memcpy(c, b.data, b.len);
    c[42 + 5] = 0x10;
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, 58, &msgs), CN_ERANGE);
    cn_igtl_parser_free(p);

    /* garbage: version, type characters */
    uint8_t g[58];
    memset(g, 'G', sizeof g);
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, g, sizeof g, &msgs), CN_EPARSE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "version"));
    cn_igtl_parser_free(p);
    memcpy(c, b.data, b.len);
    c[5] = 0x01;   /* control character inside the type */
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, b.len, &msgs), CN_EPARSE);
    cn_igtl_parser_free(p);
    memcpy(c, b.data, b.len);
    memset(c + 14, 'X', 20);   /* device name filling all 20 bytes is legal */
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, b.len, &msgs), 0);
    assert_int_equal(msgs, 3);
    cn_igtl_parser_free(p);
    memcpy(c, b.data, b.len);
    c[14 + 3] = 0; c[14 + 4] = 'Z';   /* text after the NUL padding */
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, c, b.len, &msgs), CN_EPARSE);
    cn_igtl_parser_free(p);

    /* unknown but well-formed type: delivered, the caller ignores it */
    cn_igtl_buf u;
    cn_igtl_buf_init(&u);
    cn_igtl_msg msg;
    cn_igtl_msg_begin(&u, &msg, 1, "FOOBAR", "x", 0, 0);
    memset(cn_igtl_buf_append(&u, 100), 1, 100);
    cn_igtl_msg_end(&u, &msg, NULL, 0);
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, u.data, u.len, &msgs), 0);
    assert_int_equal(msgs, 1);
    cn_igtl_parser_free(p);

    /* v2 metadata sizes pointing outside the body (oversized names) */
    u.len = 0;
    cn_igtl_msg_begin(&u, &msg, 2, "STRING", "x", 0, 0);
    cn_igtl_put_string(&u, "abc");
    cn_igtl_meta meta = {"k", "v"};
    cn_igtl_msg_end(&u, &msg, &meta, 1);
    size_t mh = u.len - 2 - 8 - 2;   /* the metadata table */
    u.data[mh + 2 + 1] = 0xff;       /* key size 255 */
    uint64_t crc = cn_igtl_crc64(u.data + 58, u.len - 58, 0);
    for (int i = 7; i >= 0; i--)
        u.data[50 + 7 - i] = (uint8_t)(crc >> (8 * i));
    p = cn_igtl_parser_new(&lim);
    assert_int_equal(feed_all(p, u.data, u.len, &msgs), CN_EPARSE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "metadata"));
    cn_igtl_parser_free(p);

    /* decoders refuse inconsistent content */
    cn_mat4 mm;
    uint8_t s4[8] = {0, 3, 0, 9, 'a', 'b', 'c', 'd'};
    char txt[16];
    assert_int_equal(cn_igtl_decode_string(s4, sizeof s4, txt, sizeof txt, NULL), CN_EPARSE);
    assert_int_equal(cn_igtl_decode_transform(s4, sizeof s4, &mm), CN_EPARSE);
    cn_igtl_image_view v;
    uint8_t img[80] = {0};
    assert_int_equal(cn_igtl_decode_image(img, sizeof img, &v), CN_EPARSE);
    cn_igtl_point pt;
    assert_int_equal(cn_igtl_decode_points(img, 80, &pt, 1), CN_EPARSE);

    cn_igtl_buf_free(&u);
    free(c);
    cn_igtl_buf_free(&b);
}

static void test_commands_xml(void **st)
{
    (void)st;
    char name[64], v[64], out[512];
    assert_int_equal(cn_igtl_command_name("<Command Name=\"StartRecording\" OutputFilename="
                                          "\"a &amp; b.mha\"/>", name, sizeof name), 0);
    assert_string_equal(name, "StartRecording");
    assert_int_equal(cn_igtl_xml_attr("<Command Name='X' OutputFilename=\"a &amp; b.mha\"/>",
                                      "OutputFilename", v, sizeof v), 0);
    assert_string_equal(v, "a & b.mha");
    assert_int_equal(cn_igtl_command_name("<Foo Name=\"x\"/>", name, sizeof name), CN_EPARSE);
    assert_int_equal(cn_igtl_command_name("<Command Name=\"unterminated/>", name, sizeof name),
                     CN_EPARSE);
    assert_int_equal(cn_igtl_command_name("<Command Other=\"1\"/>", name, sizeof name), CN_ENOENT);
    assert_int_equal(cn_igtl_command_reply(out, sizeof out, "StartRecording", false,
                                           "bad \"name\"", NULL), 0);
    assert_string_equal(out, "<CommandReply Name=\"StartRecording\" Status=\"FAIL\" "
                             "Message=\"bad &quot;name&quot;\"/>");
    char addr[64] = "127.0.0.1";
    int port = 0;
    assert_int_equal(cn_igtl_parse_listen("0.0.0.0:18945", addr, sizeof addr, &port), 0);
    assert_string_equal(addr, "0.0.0.0");
    assert_int_equal(port, 18945);
    assert_int_equal(cn_igtl_parse_listen("host:99999", addr, sizeof addr, &port), CN_EINVAL);
}

static void test_config(void **st)
{
    (void)st;
    char err[256] = "";
    cn_json *d = cn_json_parse("{\"igtl\": {\"listen\": \"127.0.0.1:0\", \"queue_frames\": 2,\n"
                               " \"partial_timeout_s\": 2.5, \"stall_timeout_s\": 7}}",
                               "t.json", err, sizeof err);
    assert_non_null(d);
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    assert_int_equal(cn_igtl_server_opts_from_json(&o, d, err, sizeof err), 0);
    assert_int_equal(o.port, 0);
    assert_int_equal(o.queue_frames, 2);
    assert_true(o.partial_timeout_s == 2.5 && o.stall_timeout_s == 7);
    cn_json_free(d);
    /* a device name is not a credential: the old keys are errors that say why */
    d = cn_json_parse("{\"igtl\": {\n \"proctor_names\": [\"Proctor\"]}}", "t.json", err,
                      sizeof err);
    assert_int_not_equal(cn_igtl_server_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "t.json:2: igtl.proctor_names: a device name is not a credential"));
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\"proctor_token\": \"x\"}}", "t.json", err, sizeof err);
    assert_int_not_equal(cn_igtl_server_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "token_file"));
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\n \"queue_frame\": 2}}", "t.json", err, sizeof err);
    assert_int_not_equal(cn_igtl_server_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "queue_frame"));
    cn_json_free(d);
    d = cn_json_parse("{\"igtl\": {\n \"listen\": \"nonsense\"}}", "t.json", err, sizeof err);
    assert_int_not_equal(cn_igtl_server_opts_from_json(&o, d, err, sizeof err), 0);
    assert_non_null(strstr(err, "t.json:2"));
    cn_json_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transform_v1_matches_upstream),
        cmocka_unit_test(test_image_v1_matches_upstream),
        cmocka_unit_test(test_image_subvolume_checked),
        cmocka_unit_test(test_string_status_polydata_v1_match_upstream),
        cmocka_unit_test(test_point_from_upstream_decodes),
        cmocka_unit_test(test_points_v1_match_upstream),
        cmocka_unit_test(test_v2_framing_published_layout),
        cmocka_unit_test(test_crc64_known_value),
        cmocka_unit_test(test_crc64_matches_upstream),
        cmocka_unit_test(test_parser_fragmented),
        cmocka_unit_test(test_parser_malformed),
        cmocka_unit_test(test_commands_xml),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
