/*
 * test_usb_files.c - everything of devices/usb that reads files: the probe
 * configuration, the owner's tables folder, and the captured USBREC01 sessions with
 * the UP20L tokenizer. Bad input must give a message naming the input and the
 * problem (file:line:key for JSON, the table file and sizes for tables).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "usb/usb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SESSIONS CN_SHARED_DATA_DIR "/usb/up20l/sessions"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/usb-files-XXXXXX", CN_BINARY_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_probe_config(void **state)
{
    (void)state;
    char err[512];
    cn_up20l_config c;
    cn_up20l_config_default(&c);
    assert_int_equal(cn_up20l_config_load(CN_SOURCE_DIR "/config/probes/up20l.json", &c, err, sizeof err), CN_OK);
    assert_int_equal(c.decode.rows, 512);
    assert_true(c.decode.width_mm > 44 && c.decode.width_mm < 45);
    assert_int_equal(c.n_presets, 1);
    assert_int_equal(c.presets[0].reg20, 4);
    assert_int_equal(c.presets[0].reg2b, 0xE9);
    assert_non_null(strstr(c.tables_dir, "up20l-tables"));
    assert_true(c.tables_dir[0] != '~'); /* ~ expanded */

    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    write_text(path, "{\n  \"gain_db\": 3,\n  \"dynamic_rnage_db\": 50\n}\n");
    assert_int_equal(cn_up20l_config_load(path, &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "dynamic_rnage_db"));
    assert_non_null(strstr(err, ":3:"));
    write_text(path, "{ \"transfers_in_flight\": 400 }");
    assert_int_equal(cn_up20l_config_load(path, &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "transfers_in_flight"));
    cn_up20l_config_default(&c);
    write_text(path, "{ \"depth_mm\": 120 }");
    assert_int_equal(cn_up20l_config_load(path, &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "no depth preset at 120.0 mm"));
    write_text(path, "{ \"depth_presets\": [ {\"name\": \"x\", \"depth_mm\": 30} ] }");
    assert_int_equal(cn_up20l_config_load(path, &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "reg20"));
    write_text(path, "{ \"gain_db\": ");
    assert_int_equal(cn_up20l_config_load(path, &c, err, sizeof err), CN_EPARSE);

    /* the session's "usb" object */
    cn_up20l_config_default(&c);
    cn_json *s = cn_json_parse("{\"usb\": {\"gain_db\": 6, \"focus_zone\": 3, \"tables_dir\": \"/x\"}}",
                               "session", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_OK);
    assert_true(c.decode.gain_db == 6);
    assert_int_equal(c.focus_zone, 3);
    assert_string_equal(c.tables_dir, "/x");
    cn_json_free(s);
    s = cn_json_parse("{\"usb\": {\"focus_zone\": 9}}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "usb.focus_zone"));
    cn_json_free(s);
    /* a temporal calibration's offset, in range */
    s = cn_json_parse("{\"usb\": {\"time_offset_ms\": -62.5}}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_OK);
    assert_true(c.time_offset_ms == -62.5);
    cn_json_free(s);
    s = cn_json_parse("{\"usb\": {\"time_offset_ms\": 5000}}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "usb.time_offset_ms"));
    cn_json_free(s);
    /* how long the start waits for a probe: until stopped by default, else S s */
    assert_true(c.wait_s < 0);
    s = cn_json_parse("{\"usb\": {\"wait_s\": 2.5}}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_OK);
    assert_true(c.wait_s == 2.5);
    cn_json_free(s);
    s = cn_json_parse("{\"usb\": {\"wait_s\": -7}}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "usb.wait_s"));
    cn_json_free(s);
    s = cn_json_parse("{\"source\": \"sim\"}", "session", err, sizeof err);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_OK);
    cn_json_free(s);
    /* the project's own session file is accepted */
    s = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    assert_non_null(s);
    cn_up20l_config_default(&c);
    assert_int_equal(cn_up20l_config_apply_session(&c, s, err, sizeof err), CN_OK);
    cn_json_free(s);
}

static void test_tables(void **state)
{
    (void)state;
    char err[1024], dir[512];
    cn_up20l_tables *t = NULL;
    assert_int_equal(cn_up20l_tables_load("", &t, err, sizeof err), CN_ENOENT);
    assert_non_null(strstr(err, "not distributed"));
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    assert_int_equal(cn_up20l_tables_load(dir, &t, err, sizeof err), CN_ENOENT);
    assert_non_null(strstr(err, "does not exist"));

    /* generated tables have the protocol's sizes and survive a write/load round trip */
    cn_up20l_tables *g = cn_up20l_tables_generate(5);
    assert_non_null(g);
    size_t total = 0;
    for (int i = 0; i < CN_UP20L_N_TABLES; i++) {
        size_t len;
        assert_non_null(cn_up20l_tables_get(g, cn_up20l_table_ids[i], &len));
        assert_int_equal(len, cn_up20l_table_size(cn_up20l_table_ids[i]));
        total += len;
    }
    assert_int_equal(total, 960 + 256 + 16384 * 3 + 512 + 43904 + 256 + 512);
    assert_int_equal(cn_up20l_table_size(0x0B), 0);
    snprintf(dir, sizeof dir, "%s/tables", tmpdir);
    assert_int_equal(cn_up20l_tables_write(g, dir, err, sizeof err), CN_OK);
    assert_int_equal(cn_up20l_tables_load(dir, &t, err, sizeof err), CN_OK);
    size_t la, lb;
    assert_memory_equal(cn_up20l_tables_get(t, 0x09, &la), cn_up20l_tables_get(g, 0x09, &lb), 43904);
    assert_memory_equal(cn_up20l_tables_tgc4(t), cn_up20l_tables_tgc4(g), 28);
    cn_up20l_tables_free(t);

    /* one file missing, one of the wrong size: both named with the expected sizes */
    char p[600];
    snprintf(p, sizeof p, "%s/table_05.bin", dir);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof p, "%s/table_09.bin", dir);
    write_text(p, "short");
    assert_int_equal(cn_up20l_tables_load(dir, &t, err, sizeof err), CN_ENOENT);
    assert_null(t);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "2 UP20L table file(s)"));
    assert_non_null(strstr(err, "table_05.bin missing (16384 bytes expected)"));
    assert_non_null(strstr(err, "table_09.bin has 5 bytes, expected 43904"));
    cn_up20l_tables_free(g);
}

static size_t load_tokens(const char *name, cn_up20l_token *tok, size_t max)
{
    char path[512], err[256];
    snprintf(path, sizeof path, SESSIONS "/%s", name);
    cn_usb_req *r = NULL;
    size_t n = 0;
    assert_int_equal(cn_usbrec_load(path, &r, &n, err, sizeof err), CN_OK);
    assert_true(n > 0);
    size_t k = cn_up20l_tokenize(r, n, tok, max);
    free(r);
    return k;
}

static void test_sessions(void **state)
{
    (void)state;
    static const char *names[] = {"session_changes_smart_sri.bin", "session_changes_tgc_at40mm.bin",
                                  "session_data_usb.bin", "session_data_usb_120mm_deep.bin",
                                  "session_data_usb_freeze_unfreeze.bin", "session_data_usb_light.bin",
                                  "session_data_usb_mid.bin", "session_small_gain_changes.bin",
                                  "session_small_to_carotid.bin"};
    cn_up20l_token *tok = malloc(sizeof *tok * 20000);
    int frames = 0;
    for (size_t s = 0; s < sizeof names / sizeof names[0]; s++) {
        size_t k = load_tokens(names[s], tok, 20000);
        /* every frame request but a session's cut-off last one brings 40 x 4096 B */
        int last = -1;
        for (size_t i = 0; i < k; i++)
            if (tok[i].kind == CN_UP20L_TOK_FRAME)
                last = (int)i;
        for (size_t i = 0; i < k; i++)
            if (tok[i].kind == CN_UP20L_TOK_FRAME) {
                frames++;
                if ((int)i != last)
                    assert_int_equal(tok[i].n, CN_UP20L_CHUNKS);
            }
    }
    print_message("%d frame requests in the nine sessions\n", frames);
    assert_true(frames > 700);

    /* the light session's start-up, as tokens */
    size_t k = load_tokens("session_data_usb_light.bin", tok, 20000);
    char buf[32], line[4096] = "";
    for (size_t i = 0; i < k && tok[i].kind != CN_UP20L_TOK_FRAME; i++) {
        strcat(line, cn_up20l_token_str(&tok[i], buf, sizeof buf));
        strcat(line, " ");
    }
    print_message("%s\n", line);
    assert_non_null(strstr(line, "ID0 T0ex0 Q ID1 S06 R S07 R S05 R T04x1 "));
    assert_non_null(strstr(line, "T05x4 T06x4 T03x1 T0cx4 T0ax1 T09x11 T07x1 T08x1 W20=04 S20 R T08x1"));
    assert_non_null(strstr(line, "B6 W12=01 Wfe=aa W11=00 S11 R"));

    /* status polls interleaved by the vendor's poll thread are dropped cleanly */
    cn_up20l_token t[6] = {{'S', 0x18, 0, 0}, {'S', 0x16, 0, 0}, {'R', 0, 0, 0},
                           {'R', 0, 0, 0},    {'S', 0x16, 0, 0}, {'R', 0, 0, 0}};
    assert_int_equal(cn_up20l_tokens_drop_status_polls(t, 6), 2);
    assert_int_equal(t[0].kind, 'S');
    assert_int_equal(t[0].a, 0x18);
    assert_int_equal(t[1].kind, 'R');
    free(tok);
}

static void test_bad_usbrec(void **state)
{
    (void)state;
    char path[512], err[256];
    cn_usb_req *r = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/x.bin", tmpdir);
    assert_int_equal(cn_usbrec_load(path, &r, &n, err, sizeof err), CN_EIO);
    write_text(path, "NOTAREC1xxxxxxxx");
    assert_int_equal(cn_usbrec_load(path, &r, &n, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "USBREC01"));
    /* a header that claims 4 billion records must not allocate for them */
    FILE *f = fopen(path, "wb");
    uint8_t h[16] = {'U', 'S', 'B', 'R', 'E', 'C', '0', '1', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    fwrite(h, 1, 16, f);
    fclose(f);
    assert_int_equal(cn_usbrec_load(path, &r, &n, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "claims"));
    /* a record whose data runs past the end */
    f = fopen(path, "wb");
    uint8_t rec[32] = {3, 0x86, 1, 0};
    h[8] = 1;
    h[9] = h[10] = h[11] = 0;
    rec[28] = 0x00;
    rec[29] = 0x10; /* 4096 bytes of data that are not there */
    fwrite(h, 1, 16, f);
    fwrite(rec, 1, 32, f);
    fclose(f);
    assert_int_equal(cn_usbrec_load(path, &r, &n, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "runs past the end"));
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_config),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_bad_usbrec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
