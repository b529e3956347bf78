/*
 * test_igtl_stream.c - the parser's streamed mode (cn_igtl_parser_stream_type),
 * which the server uses for a viewer's IMAGE and POLYDATA (review 43a F8): only
 * a bounded prefix of the body is kept, the CRC still covers all of it, v2
 * metadata still checked. Every check is made at every split point of a small
 * message (two pieces, and byte by byte), against the buffered parser as the
 * reference: the same verdict, the same fields, the same errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl/igtl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char LONG_NAME[] = "Image_Reference_with_a_long_name";

/* An 8-bit w x h IMAGE (v1, or v2 with a long name and a status in metadata). */
static void make_image(cn_igtl_buf *b, int version, int w, int h)
{
    uint8_t *px = malloc((size_t)w * (size_t)h);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        px[i] = (uint8_t)(i * 7 + 3);
    cn_mat4 ijk = cn_mat4_scale(0.2, 0.3, 1.0);
    cn_igtl_msg m;
    cn_igtl_meta meta[] = {{"Status", "OK"}};
    assert_int_equal(cn_igtl_msg_begin(b, &m, version, "IMAGE", LONG_NAME, 0, 42), 0);
    assert_int_equal(cn_igtl_put_image_u8(b, w, h, px, &ijk), 0);
    assert_int_equal(cn_igtl_msg_end(b, &m, meta, version == 2 ? 1 : 0), 0);
    free(px);
}

static void fix_crc(uint8_t *msg, size_t len)
{
    uint64_t crc = cn_igtl_crc64(msg + 58, len - 58, 0);
    for (int i = 7; i >= 0; i--)
        msg[50 + 7 - i] = (uint8_t)(crc >> (8 * i));
}

static cn_igtl_parser *streamed_parser(void)
{
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    assert_int_equal(cn_igtl_parser_stream_type(p, "IMAGE", CN_IGTL_IMAGE_HEADER_SIZE), 0);
    assert_int_equal(cn_igtl_parser_stream_type(p, "POLYDATA", 0), 0);
    return p;
}

/* What a delivered message says, comparable between the two modes. */
typedef struct {
    int r;               /* 1 delivered, or the error */
    char err[160];
    char type[16], name[64], status[8];
    size_t content_size;
    uint32_t msg_id;
    int image;           /* decode_image(_header) verdict */
    uint8_t head[72];    /* the content's first bytes */
    size_t head_len;
    size_t peak_capacity;
} verdict;

/* Feeds d in the pieces [0, cut1), [cut1, cut2), [cut2, n) (cut2 = 0: two). */
static verdict parse(cn_igtl_parser *p, const uint8_t *d, size_t n, size_t cut1, size_t cut2)
{
    verdict v;
    memset(&v, 0, sizeof v);
    size_t cuts[4] = {0, cut1, cut2 ? cut2 : cut1, n};
    for (int k = 0; k < 3 && v.r == 0; k++) {
        size_t off = cuts[k];
        while (off < cuts[k + 1]) {
            cn_igtl_message m;
            size_t used = 0;
            int r = cn_igtl_parser_feed(p, d + off, cuts[k + 1] - off, &used, &m);
            off += used;
            if (cn_igtl_parser_capacity(p) > v.peak_capacity)
                v.peak_capacity = cn_igtl_parser_capacity(p);
            if (r < 0) {
                v.r = r;
                snprintf(v.err, sizeof v.err, "%s", cn_igtl_parser_error(p));
                return v;
            }
            if (r == 0)
                break;
            v.r = 1;
            snprintf(v.type, sizeof v.type, "%s", m.h.type);
            cn_igtl_message_name(&m, v.name, sizeof v.name);
            if (cn_igtl_message_meta(&m, "Status", v.status, sizeof v.status) != 0)
                v.status[0] = 0;
            v.content_size = m.streamed ? m.content_size : m.content_len;
            assert_true(m.content_len == m.content_size || m.streamed);
            v.msg_id = m.msg_id;
            cn_igtl_image_view iv;
            v.image = cn_igtl_decode_image_header(m.content, m.content_len, v.content_size, &iv);
            v.head_len = m.content_len < 72 ? m.content_len : 72;
            if (v.head_len)
                memcpy(v.head, m.content, v.head_len);
            assert_int_equal(off, n); /* one message: delivered with its last byte */
        }
    }
    return v;
}

static void assert_same(const verdict *a, const verdict *b)
{
    assert_int_equal(a->r, b->r);
    assert_string_equal(a->err, b->err);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->status, b->status);
    assert_int_equal(a->content_size, b->content_size);
    assert_int_equal(a->msg_id, b->msg_id);
    assert_int_equal(a->image, b->image);
    assert_int_equal(a->head_len, b->head_len);
    assert_memory_equal(a->head, b->head, a->head_len);
}

/* The message at every split point, and at every pair of split points near the
 * extended header and the metadata, streamed and buffered alike. */
static void check_all_splits(const uint8_t *d, size_t n, const verdict *expect)
{
    cn_igtl_parser *ref = cn_igtl_parser_new(NULL);
    verdict whole = parse(ref, d, n, n, 0);
    cn_igtl_parser_free(ref);
    if (expect)
        assert_same(&whole, expect);
    for (size_t cut = 0; cut <= n; cut++) {
        cn_igtl_parser *p = streamed_parser();
        verdict v = parse(p, d, n, cut, 0);
        assert_same(&v, &whole);
        if (v.r == 1) /* what is kept: at most 12 + 72 + the metadata (74 bytes here) */
            assert_true(v.peak_capacity <= 12 + 72 + 74);
        cn_igtl_parser_free(p);
    }
    for (size_t c1 = 50; c1 < 80 && c1 < n; c1++)
        for (size_t c2 = n > 80 ? n - 80 : c1; c2 <= n; c2++) {
            cn_igtl_parser *p = streamed_parser();
            verdict v = parse(p, d, n, c1, c2 > c1 ? c2 : c1);
            assert_same(&v, &whole);
            cn_igtl_parser_free(p);
        }
    /* byte by byte */
    cn_igtl_parser *p = streamed_parser();
    verdict v;
    memset(&v, 0, sizeof v);
    for (size_t i = 0; i < n && v.r == 0; i++)
        v = parse(p, d + i, 1, 1, 0);
    if (whole.r == 1) {
        assert_int_equal(v.r, 1);
        assert_int_equal(v.content_size, whole.content_size);
        assert_int_equal(v.image, whole.image);
    } else {
        assert_int_equal(v.r, whole.r);
    }
    cn_igtl_parser_free(p);
}

static void test_v1_image_every_split(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    make_image(&b, 1, 16, 8);
    verdict e = {.r = 1, .type = "IMAGE", .content_size = 72 + 128, .image = 0, .head_len = 72};
    snprintf(e.name, sizeof e.name, "%.20s", LONG_NAME); /* v1: the header's 20 bytes */
    memcpy(e.head, b.data + 58, 72);
    check_all_splits(b.data, b.len, &e);
    /* the kept prefix only: 72 bytes, whatever the image */
    cn_igtl_parser *p = streamed_parser();
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, b.data, b.len, &used, &m), 1);
    assert_true(m.streamed);
    assert_int_equal(m.content_len, 72);
    assert_int_equal(m.body_len, 72);
    assert_int_equal(cn_igtl_parser_capacity(p), 72);
    assert_int_equal(cn_igtl_parser_buffered(p), 0);
    cn_igtl_image_view iv;
    assert_int_equal(cn_igtl_decode_image_header(m.content, m.content_len, m.content_size, &iv),
                     0);
    assert_null(iv.pixels);
    assert_int_equal(iv.size[0], 16);
    assert_int_equal(iv.pixel_bytes, 128);
    cn_igtl_parser_free(p);
    cn_igtl_buf_free(&b);
}

static void test_v2_image_metadata_every_split(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    make_image(&b, 2, 16, 8);
    verdict e = {.r = 1, .type = "IMAGE", .status = "OK", .content_size = 72 + 128,
                 .msg_id = 42, .head_len = 72};
    snprintf(e.name, sizeof e.name, "%s", LONG_NAME); /* from IGTL_DEVICE_NAME */
    memcpy(e.head, b.data + 58 + 12, 72);
    check_all_splits(b.data, b.len, &e);
    cn_igtl_buf_free(&b);
}

/* A wrong CRC anywhere (in a byte kept or in one streamed past) is the same
 * protocol error as when buffered. */
static void test_crc_mismatch_detected(void **st)
{
    (void)st;
    for (int version = 1; version <= 2; version++) {
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        make_image(&b, version, 16, 8);
        size_t at[] = {58, 58 + 20, 58 + 100, b.len - 30, b.len - 1};
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
            if (version == 2 && at[k] == 58) /* the extended header's size: checked first */
                continue;
            b.data[at[k]] ^= 0x10;
            verdict e = {.r = CN_EPARSE};
            snprintf(e.err, sizeof e.err, "IMAGE: CRC mismatch (body of %zu bytes)", b.len - 58);
            check_all_splits(b.data, b.len, &e);
            b.data[at[k]] ^= 0x10;
        }
        /* the CRC field itself */
        b.data[57] ^= 1;
        verdict e = {.r = CN_EPARSE};
        snprintf(e.err, sizeof e.err, "IMAGE: CRC mismatch (body of %zu bytes)", b.len - 58);
        check_all_splits(b.data, b.len, &e);
        cn_igtl_buf_free(&b);
    }
}

/* Malformed v2 framing (CRC made right, so only the framing is wrong): the
 * same errors as buffered, the extended header's as soon as it is in. */
static void test_v2_framing_errors(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    make_image(&b, 2, 16, 8);
    uint8_t *c = malloc(b.len);
    /* the table: a count and two entries (IGTL_DEVICE_NAME and the long name, Status OK) */
    const size_t ext = 58, tab = b.len - (2 + 8 * 2) - (16 + 32 + 6 + 2);
    struct {
        size_t at;
        uint8_t val;
        const char *why;
    } cases[] = {
        {ext + 1, 11, "extended header size 11 is invalid"},
        {ext + 3, 0x13, "metadata sizes do not fit the body"},
        {ext + 2, 0x40, "metadata sizes do not fit the body"},
        {ext + 6, 0x10, "metadata sizes do not fit the body"},
        {ext + 7, 0x90, "metadata count 6946 disagrees"}, /* the table looked for elsewhere */
        {tab + 1, 3, "metadata count 3 disagrees"},
        {tab + 3, 0x20, "metadata entries sum to"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(c, b.data, b.len);
        c[cases[k].at] = cases[k].val;
        fix_crc(c, b.len);
        cn_igtl_parser *ref = cn_igtl_parser_new(NULL);
        verdict whole = parse(ref, c, b.len, b.len, 0);
        cn_igtl_parser_free(ref);
        assert_int_equal(whole.r, CN_EPARSE);
        if (!strstr(whole.err, cases[k].why))
            fail_msg("case %zu: \"%s\"", k, whole.err);
        check_all_splits(c, b.len, NULL);
        if (cases[k].at < ext + 12 && !strstr(cases[k].why, "count")) {
            /* refused with the extended header: the rest is never waited for */
            cn_igtl_parser *p = streamed_parser();
            cn_igtl_message m;
            size_t used;
            assert_int_equal(cn_igtl_parser_feed(p, c, 58 + 12, &used, &m), CN_EPARSE);
            assert_non_null(strstr(cn_igtl_parser_error(p), cases[k].why));
            cn_igtl_parser_free(p);
        }
    }
    /* a v2 body shorter than its extended header */
    cn_igtl_header h = {.version = 2, .body_size = 5};
    strcpy(h.type, "POLYDATA");
    uint8_t m5[58 + 5] = {0};
    h.crc = cn_igtl_crc64(m5 + 58, 5, 0);
    cn_igtl_header_pack(&h, m5);
    check_all_splits(m5, sizeof m5, NULL);
    cn_igtl_parser *p = streamed_parser();
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, m5, sizeof m5, &used, &m), CN_EPARSE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "shorter than its extended header"));
    cn_igtl_parser_free(p);
    free(c);
    cn_igtl_buf_free(&b);
}

/* Metadata values over max_body_small are not kept: the message comes without
 * metadata (the header's name), its table still checked. */
static void test_v2_large_metadata_skipped(void **st)
{
    (void)st;
    size_t vlen = 100000;
    char *big = malloc(vlen + 1);
    memset(big, 'v', vlen);
    big[vlen] = 0;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg mm;
    cn_igtl_meta meta[] = {{"Big", big}, {"Status", "OK"}};
    cn_igtl_msg_begin(&b, &mm, 2, "POLYDATA", "Model", 0, 9);
    memset(cn_igtl_buf_append(&b, 1000), 0x55, 1000);
    assert_int_equal(cn_igtl_msg_end(&b, &mm, meta, 2), 0);
    cn_igtl_parser *p = streamed_parser();
    cn_igtl_message m;
    size_t used;
    assert_int_equal(cn_igtl_parser_feed(p, b.data, b.len, &used, &m), 1);
    assert_true(m.streamed);
    assert_int_equal(m.content_len, 0);
    assert_int_equal(m.content_size, 1000);
    assert_int_equal(m.n_meta, 0);
    assert_int_equal(m.msg_id, 9);
    char name[32];
    cn_igtl_message_name(&m, name, sizeof name);
    assert_string_equal(name, "Model");
    assert_true(cn_igtl_parser_capacity(p) < 1024);
    cn_igtl_parser_free(p);
    /* a lying table among the skipped values is still found */
    size_t tab = b.len - (2 + 16 + 3 + vlen + 6 + 2);
    b.data[tab + 1] = 3;
    fix_crc(b.data, b.len);
    p = streamed_parser();
    assert_int_equal(cn_igtl_parser_feed(p, b.data, b.len, &used, &m), CN_EPARSE);
    assert_non_null(strstr(cn_igtl_parser_error(p), "metadata count 3 disagrees"));
    cn_igtl_parser_free(p);
    cn_igtl_buf_free(&b);
    free(big);
}

/* 16 MiB IMAGE in 64 KiB pieces: 72 bytes held; a lying size field found. */
static void test_large_image_held_small(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    make_image(&b, 1, 4096, 4095);
    for (int lie = 0; lie < 2; lie++) {
        if (lie) {
            b.data[58 + 8] = 0x10;  /* height 4095 -> 4351: more pixels than sent */
            b.data[58 + 68] = 0x10; /* and the sub-volume's, else a sub-volume update */
            fix_crc(b.data, b.len);
        }
        cn_igtl_parser *p = streamed_parser();
        size_t off = 0, peak = 0;
        int r = 0;
        cn_igtl_message m;
        while (off < b.len && r == 0) {
            size_t n = b.len - off < 65536 ? b.len - off : 65536, used;
            r = cn_igtl_parser_feed(p, b.data + off, n, &used, &m);
            off += used;
            peak = cn_igtl_parser_capacity(p) > peak ? cn_igtl_parser_capacity(p) : peak;
            assert_true(cn_igtl_parser_buffered(p) <= 58 + 72);
        }
        assert_int_equal(r, 1);
        assert_int_equal(m.content_size, 72 + 4096 * 4095);
        print_message("16 MiB IMAGE streamed in 64 KiB pieces: %zu bytes allocated\n", peak);
        assert_true(peak <= 72);
        cn_igtl_image_view v;
        assert_int_equal(cn_igtl_decode_image_header(m.content, m.content_len, m.content_size, &v),
                         lie ? CN_EPARSE : CN_OK);
        cn_igtl_parser_free(p);
    }
    cn_igtl_buf_free(&b);
}

/* The option is per type and per parser: other types, and a parser without it,
 * keep whole bodies; messages in one stream do not leak state into each other. */
static void test_opt_in_and_mixed_stream(void **st)
{
    (void)st;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    make_image(&b, 2, 16, 8);
    cn_igtl_msg mm;
    cn_igtl_msg_begin(&b, &mm, 1, "STRING", "Note", 0, 0);
    cn_igtl_put_string(&b, "between two images");
    cn_igtl_msg_end(&b, &mm, NULL, 0);
    make_image(&b, 1, 4, 4);
    const char *types[3] = {"IMAGE", "STRING", "IMAGE"};
    for (int streamed = 0; streamed < 2; streamed++)
        for (size_t cut = 0; cut <= b.len; cut += streamed ? 1 : 37) {
            cn_igtl_parser *p = streamed ? streamed_parser() : cn_igtl_parser_new(NULL);
            int got = 0;
            size_t cuts[3] = {0, cut, b.len};
            for (int k = 0; k < 2; k++)
                for (size_t off = cuts[k]; off < cuts[k + 1];) {
                    cn_igtl_message m;
                    size_t used;
                    int r = cn_igtl_parser_feed(p, b.data + off, cuts[k + 1] - off, &used, &m);
                    off += used;
                    assert_true(r == 0 || r == 1);
                    if (r == 0)
                        break;
                    assert_string_equal(m.h.type, types[got]);
                    bool img = strcmp(m.h.type, "IMAGE") == 0;
                    assert_int_equal(m.streamed, streamed && img);
                    if (!img) {
                        char t[64];
                        assert_int_equal(cn_igtl_decode_string(m.content, m.content_len, t,
                                                               sizeof t, NULL), 0);
                        assert_string_equal(t, "between two images");
                    } else {
                        cn_igtl_image_view v;
                        assert_int_equal(cn_igtl_decode_image_header(m.content, m.content_len,
                                                                     m.content_size, &v), 0);
                        assert_int_equal(v.pixels != NULL, !streamed);
                    }
                    got++;
                }
            assert_int_equal(got, 3);
            assert_int_equal(cn_igtl_parser_buffered(p), 0);
            cn_igtl_parser_free(p);
        }
    /* arguments */
    cn_igtl_parser *p = cn_igtl_parser_new(NULL);
    assert_int_equal(cn_igtl_parser_stream_type(p, "", 0), CN_EINVAL);
    assert_int_equal(cn_igtl_parser_stream_type(p, "THIRTEEN_LONG", 0), CN_EINVAL);
    assert_int_equal(cn_igtl_parser_stream_type(p, "A", 0), 0);
    assert_int_equal(cn_igtl_parser_stream_type(p, "A", 8), 0); /* replaced, not added */
    assert_int_equal(cn_igtl_parser_stream_type(p, "B", 0), 0);
    assert_int_equal(cn_igtl_parser_stream_type(p, "C", 0), 0);
    assert_int_equal(cn_igtl_parser_stream_type(p, "D", 0), 0);
    assert_int_equal(cn_igtl_parser_stream_type(p, "E", 0), CN_ENOMEM);
    cn_igtl_parser_free(p);
    cn_igtl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_image_every_split),
        cmocka_unit_test(test_v2_image_metadata_every_split),
        cmocka_unit_test(test_crc_mismatch_detected),
        cmocka_unit_test(test_v2_framing_errors),
        cmocka_unit_test(test_v2_large_metadata_skipped),
        cmocka_unit_test(test_large_image_held_small),
        cmocka_unit_test(test_opt_in_and_mixed_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
