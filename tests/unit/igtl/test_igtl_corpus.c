/*
 * test_igtl_corpus.c - the upstream positive corpus against our server.
 *
 * ../shared/data/igtl/upstream-fixtures.json holds 24 wire-exact messages of
 * every OpenIGTLink type (from the upstream library's own test data): BIND,
 * CAPABILITY, COLORT, COMMAND v1/v2, IMAGE, IMGMETA, LBMETA, NDARRAY, POINT,
 * POLYDATA, POSITION v1/v2, SENSOR, STATUS, STRING, TDATA v1/v2, TRAJ v1/v2,
 * TRANSFORM v1/v2, VIDEOMETA. Each must be parsed by our parser (CRC, v2
 * metadata) and, sent by a client to a real server over loopback, be handled or
 * skipped cleanly: the client is not dropped and still gets its answers, and
 * the COMMAND fixtures get an RTS_COMMAND carrying their command id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl_test_util.h"

#include <jansson.h>
#include <stdio.h>

#define FIXTURES CN_SHARED_DATA_DIR "/igtl/upstream-fixtures.json"

typedef struct {
    char key[40];
    char type[16];
    uint8_t *wire;
    size_t len;
} fixture;

static int load(fixture **out)
{
    json_error_t je;
    json_t *root = json_load_file(FIXTURES, 0, &je);
    if (!root) {
        fprintf(stderr, "%s: %s\n", FIXTURES, je.text);
        return -1;
    }
    json_t *fx = json_object_get(root, "fixtures");
    int n = (int)json_object_size(fx), i = 0;
    fixture *f = calloc((size_t)n, sizeof *f);
    const char *key;
    json_t *v;
    json_object_foreach(fx, key, v) {
        const char *hex = json_string_value(json_object_get(v, "wire_hex"));
        snprintf(f[i].key, sizeof f[i].key, "%s", key);
        snprintf(f[i].type, sizeof f[i].type, "%s",
                 json_string_value(json_object_get(v, "type_id")));
        f[i].len = strlen(hex) / 2;
        f[i].wire = malloc(f[i].len);
        for (size_t k = 0; k < f[i].len; k++) {
            unsigned b;
            sscanf(hex + 2 * k, "%2x", &b);
            f[i].wire[k] = (uint8_t)b;
        }
        i++;
    }
    json_decref(root);
    *out = f;
    return n;
}

static void free_all(fixture *f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i].wire);
    free(f);
}

static void test_parser_reads_every_fixture(void **st)
{
    (void)st;
    fixture *f;
    int n = load(&f);
    assert_int_equal(n, 24);
    for (int i = 0; i < n; i++) {
        cn_igtl_parser *p = cn_igtl_parser_new(NULL);
        cn_igtl_message m;
        size_t used;
        /* in pieces of 7 bytes, as a socket may deliver them */
        int r = 0;
        for (size_t off = 0; off < f[i].len && r == 0;) {
            size_t chunk = f[i].len - off < 7 ? f[i].len - off : 7;
            r = cn_igtl_parser_feed(p, f[i].wire + off, chunk, &used, &m);
            off += used;
        }
        if (r != 1)
            fail_msg("%s (%s): %s", f[i].key, f[i].type, cn_igtl_parser_error(p));
        assert_string_equal(m.h.type, f[i].type);
        /* the decoders we have accept the upstream content */
        if (strcmp(f[i].type, "TRANSFORM") == 0) {
            cn_mat4 mm;
            assert_int_equal(cn_igtl_decode_transform(m.content, m.content_len, &mm), 0);
        } else if (strcmp(f[i].type, "STRING") == 0) {
            char t[256];
            assert_int_equal(cn_igtl_decode_string(m.content, m.content_len, t, sizeof t, NULL), 0);
            assert_string_equal(t, "Welcome to OpenIGTLink");
        } else if (strcmp(f[i].type, "STATUS") == 0) {
            uint16_t code;
            char en[21], t[128];
            assert_int_equal(cn_igtl_decode_status(m.content, m.content_len, &code, en, t, sizeof t), 0);
        } else if (strcmp(f[i].type, "POINT") == 0) {
            cn_igtl_point pts[8];
            assert_int_equal(cn_igtl_decode_points(m.content, m.content_len, pts, 8), 3);
        } else if (strcmp(f[i].type, "COMMAND") == 0) {
            cn_igtl_command_view cv;
            assert_int_equal(cn_igtl_decode_command(m.content, m.content_len, &cv), 0);
            assert_string_equal(cv.name, "This is a test command");
            assert_int_equal(cv.text_len, 26);
        } else if (strcmp(f[i].type, "IMAGE") == 0) {
            cn_igtl_image_view iv;
            int rc = cn_igtl_decode_image(m.content, m.content_len, &iv);
            assert_true(rc == 0 || rc == CN_EUNSUPPORTED);
        }
        cn_igtl_parser_free(p);
    }
    free_all(f, n);
}

static void test_server_survives_every_fixture(void **st)
{
    (void)st;
    fixture *f;
    int n = load(&f);
    assert_int_equal(n, 24);
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    cn_igtl_server *s = tu_server(&o);
    int port = cn_igtl_server_port(s);
    for (int i = 0; i < n; i++) {
        tu_client c;
        tu_client_init(&c, tu_connect(port));
        assert_int_equal(tu_send_all(c.fd, f[i].wire, f[i].len), 0);
        /* then a question: the answer proves the link survived */
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        cn_igtl_msg m;
        cn_igtl_msg_begin(&b, &m, 1, "GET_STATUS", "", 0, 0);
        cn_igtl_msg_end(&b, &m, NULL, 0);
        assert_int_equal(tu_send_all(c.fd, b.data, b.len), 0);
        cn_igtl_buf_free(&b);
        tu_read(&c, 3000, "STATUS", "CryoNavStatus");
        if (!tu_find(&c, "STATUS", "CryoNavStatus"))
            fail_msg("%s (%s): no answer after it (link %s)", f[i].key, f[i].type,
                     c.closed ? "closed" : "open");
        if (strcmp(f[i].type, "COMMAND") == 0) {
            tu_read(&c, 3000, "RTS_COMMAND", NULL);
            tu_msg *r = tu_find(&c, "RTS_COMMAND", NULL);
            assert_non_null(r);
            cn_igtl_command_view cv;
            assert_int_equal(cn_igtl_decode_command(r->content, r->content_len, &cv), 0);
            print_message("%s -> RTS_COMMAND id %u name \"%s\" (%.*s)\n", f[i].key, cv.id, cv.name,
                          (int)cv.text_len, (const char *)cv.text);
            assert_int_equal(cv.id, ((uint32_t)f[i].wire[58 + (f[i].wire[1] == 2 ? 12 : 0)] << 24) |
                                        ((uint32_t)f[i].wire[59 + (f[i].wire[1] == 2 ? 12 : 0)] << 16) |
                                        ((uint32_t)f[i].wire[60 + (f[i].wire[1] == 2 ? 12 : 0)] << 8) |
                                        f[i].wire[61 + (f[i].wire[1] == 2 ? 12 : 0)]);
            assert_int_equal(r->h.version, f[i].wire[1]);
        }
        assert_false(c.closed);
        tu_client_free(&c);
    }
    cn_igtl_server_stats sst;
    cn_igtl_server_stats_get(s, &sst, NULL, 0);
    assert_int_equal(sst.dropped_protocol, 0);
    cn_igtl_server_free(s);
    free_all(f, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_reads_every_fixture),
        cmocka_unit_test(test_server_survives_every_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
