/* JSON configuration: syntax errors name file, line and column; type and range
 * errors and unknown keys name file, line and key; missing files say so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static const char *doc_text =
    "{\n"
    "  \"source\": \"sim\",\n"
    "  \"sim\": {\n"
    "    \"seed\": 7,\n"
    "    \"depth_mm\": \"forty\",\n"
    "    \"fps\": 2000,\n"
    "    \"nerve\": {\"diameter_mm\": 7.5, \"fascicels\": 9},\n"
    "    \"cycles\": [[150, 0],\n"
    "               [90, \"x\"]],\n"
    "    \"flag\": true\n"
    "  }\n"
    "}\n";

static void test_typed_reads(void **st)
{
    (void)st;
    char err[512] = "";
    cn_json *d = cn_json_parse(doc_text, "session.json", err, sizeof err);
    assert_non_null(d);
    long seed = 0;
    assert_int_equal(cn_json_get_int(d, "sim.seed", 0, 100, &seed, err, sizeof err), CN_OK);
    assert_int_equal(seed, 7);
    double dia = 0;
    assert_int_equal(cn_json_get_number(d, "sim.nerve.diameter_mm", 1, 20, &dia, err, sizeof err), CN_OK);
    assert_true(dia == 7.5);
    bool flag = false;
    assert_int_equal(cn_json_get_bool(d, "sim.flag", &flag, err, sizeof err), CN_OK);
    assert_true(flag);
    char src[16];
    assert_int_equal(cn_json_get_string(d, "source", src, sizeof src, err, sizeof err), CN_OK);
    assert_string_equal(src, "sim");
    double c[2];
    assert_int_equal(cn_json_get_numbers(d, "sim.cycles[0]", c, 2, err, sizeof err), CN_OK);
    assert_true(c[0] == 150 && c[1] == 0);
    assert_int_equal(cn_json_array_size(d, "sim.cycles"), 2);
    /* Absent keys are not errors: the caller's default stands. */
    double untouched = 3;
    assert_int_equal(cn_json_get_number(d, "sim.missing", 0, 1, &untouched, err, sizeof err), CN_ENOENT);
    assert_true(untouched == 3);
    cn_json_free(d);
}

static void test_errors_name_line_and_key(void **st)
{
    (void)st;
    char err[512];
    cn_json *d = cn_json_parse(doc_text, "session.json", err, sizeof err);
    double x;
    assert_int_equal(cn_json_get_number(d, "sim.depth_mm", 1, 300, &x, err, sizeof err), CN_EINVAL);
    assert_string_equal(err, "session.json:5: sim.depth_mm: expected a number, got a string");
    assert_int_equal(cn_json_get_number(d, "sim.fps", 1, 200, &x, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "session.json:6: sim.fps: 2000 is outside the allowed range"));
    double c[2];
    assert_int_equal(cn_json_get_numbers(d, "sim.cycles[1]", c, 2, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "session.json:9: sim.cycles[1]: element 1 is not a finite number"));
    const char *nerve_keys[] = {"diameter_mm", "fascicles", NULL};
    assert_int_equal(cn_json_check_keys(d, "sim.nerve", nerve_keys, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "session.json:7: sim.nerve.fascicels: unknown key"));
    assert_non_null(strstr(err, "fascicles")); /* the known keys are listed */
    long n;
    assert_int_equal(cn_json_get_int(d, "sim.nerve.diameter_mm", 0, 9, &n, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "expected a whole number, got a fractional number"));
    cn_json_free(d);
}

static void test_syntax_errors(void **st)
{
    (void)st;
    char err[512];
    assert_null(cn_json_parse("{\n  \"a\": 1,\n  \"b\": }\n", "bad.json", err, sizeof err));
    assert_non_null(strstr(err, "bad.json:3:"));
    assert_non_null(strstr(err, "invalid JSON"));
    assert_null(cn_json_parse("[1, 2]", "arr.json", err, sizeof err));
    assert_non_null(strstr(err, "must be a JSON object"));
    assert_null(cn_json_parse("{\"a\": 1, \"a\": 2}", "dup.json", err, sizeof err));
    assert_non_null(strstr(err, "dup.json:"));
}

static void test_files(void **st)
{
    (void)st;
    char err[512];
    assert_null(cn_json_load("/nonexistent/dir/session.json", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/dir/session.json: cannot read configuration file"));
    char path[] = "/tmp/cn_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char bin[] = "{\"a\":\0 1}";
    assert_int_equal(write(fd, bin, sizeof bin), (ssize_t)sizeof bin);
    close(fd);
    assert_null(cn_json_load(path, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    FILE *f = fopen(path, "w");
    fputs("{\"viewer\": {\"width\": 640}}", f);
    fclose(f);
    cn_json *d = cn_json_load(path, err, sizeof err);
    assert_non_null(d);
    assert_string_equal(cn_json_label(d), path);
    cn_json_free(d);
    unlink(path);
}

/* The shipped default configuration parses. */
static void test_default_config_parses(void **st)
{
    (void)st;
    char err[512] = "";
    cn_json *d = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    if (!d)
        print_error("%s\n", err);
    assert_non_null(d);
    cn_json_free(d);
}

/* Layers (RFC 7386 merge patch): defaults, then the user's file, then --config.
 * The effective value is the top-most one; errors and origins name the file and
 * line that wrote the value, never the defaults it overrode. */
static void leaf(void *ctx, const char *path, const char *value)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 2048 - n, "%s=%s;", path, value);
}

static void test_layers(void **st)
{
    (void)st;
    char err[512] = "";
    cn_json *d = cn_json_parse("{\n  \"source\": \"sim\",\n  \"sim\": {\n    \"seed\": 1,\n"
                               "    \"fps\": 20,\n    \"protocol\": \"morton\",\n"
                               "    \"cycles\": [[1, 2]]\n  }\n}\n",
                               "defaults.json", err, sizeof err);
    cn_json *u = cn_json_parse("{\"sim\": {\n  \"fps\": 30,\n  \"protocol\": null\n}}\n",
                               "user.json", err, sizeof err);
    cn_json *c = cn_json_parse("{\n\n  \"sim\": {\"cycles\": [[5, 6], [7, 8]], \"depth_mm\": \"deep\"}\n}\n",
                               "cli.json", err, sizeof err);
    assert_non_null(d);
    assert_non_null(u);
    assert_non_null(c);
    assert_int_equal(cn_json_layers(d), 1);
    assert_int_equal(cn_json_merge(d, u, err, sizeof err), CN_OK);
    assert_int_equal(cn_json_merge(d, c, err, sizeof err), CN_OK);
    assert_int_equal(cn_json_layers(d), 3);
    assert_string_equal(cn_json_layer_label(d, 0), "defaults.json");
    assert_string_equal(cn_json_layer_label(d, 2), "cli.json");
    long v = 0;
    assert_int_equal(cn_json_get_int(d, "sim.seed", 0, 100, &v, err, sizeof err), CN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(cn_json_get_int(d, "sim.fps", 0, 100, &v, err, sizeof err), CN_OK);
    assert_int_equal(v, 30);
    assert_false(cn_json_has(d, "sim.protocol")); /* null removes */
    assert_int_equal(cn_json_array_size(d, "sim.cycles"), 2); /* arrays replace */
    const char *label = NULL;
    int line = 0;
    assert_int_equal(cn_json_origin(d, "sim.fps", &label, &line), CN_OK);
    assert_string_equal(label, "user.json");
    assert_int_equal(line, 2);
    assert_int_equal(cn_json_origin(d, "sim.seed", &label, &line), CN_OK);
    assert_string_equal(label, "defaults.json");
    assert_int_equal(line, 4);
    assert_int_equal(cn_json_origin(d, "sim.cycles", &label, &line), CN_OK);
    assert_string_equal(label, "cli.json");
    assert_int_equal(line, 3);
    assert_int_equal(cn_json_origin(d, "sim.protocol", &label, &line), CN_ENOENT);
    /* a bad value names the layer that wrote it */
    double x;
    assert_int_equal(cn_json_get_number(d, "sim.depth_mm", 1, 100, &x, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "cli.json:3: sim.depth_mm: expected a number"));
    char all[2048] = "";
    assert_int_equal(cn_json_leaves(d, leaf, all), CN_OK);
    assert_string_equal(all, "source=\"sim\";sim.seed=1;sim.fps=30;sim.cycles=[[5,6],[7,8]];"
                             "sim.depth_mm=\"deep\";");
    cn_json_free(c);
    cn_json_free(u);
    cn_json_free(d);
    /* a key holding '.' (a transform name in a map, a typo) and a key of 300 characters:
     * named in the layer that wrote them, with their line (input audit I7: the shipped
     * defaults were blamed, with no line, and config --print showed '?') */
    d = cn_json_parse("{\"sim\": {\"fps\": 20},\n \"igtl\": {\"map\": {}}}", "defaults.json", err,
                      sizeof err);
    char ktext[600];
    snprintf(ktext, sizeof ktext, "{\"sim\": {\n \"fps.x\": 3,\n \"%0300d\": 1},\n"
             " \"igtl\": {\"map\": {\"Probe.ToTracker\": \"P\"}}}", 0);
    u = cn_json_parse(ktext, "user.json", err, sizeof err);
    assert_non_null(d);
    assert_non_null(u);
    assert_int_equal(cn_json_merge(d, u, err, sizeof err), CN_OK);
    assert_int_equal(cn_json_origin(d, "igtl.map.Probe.ToTracker", &label, &line), CN_OK);
    assert_string_equal(label, "user.json");
    assert_int_equal(line, 4);
    assert_int_equal(cn_json_origin(d, "sim.fps.x", &label, &line), CN_OK);
    assert_string_equal(label, "user.json");
    assert_int_equal(line, 2);
    static const char *const sim_keys[] = {"fps", NULL};
    assert_int_equal(cn_json_check_keys(d, "sim", sim_keys, err, sizeof err), CN_EINVAL);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "user.json:"));
    cn_json_free(u);
    cn_json_free(d);
}

/* Input audit I8: `config --print` found each value's line by scanning the whole layer
 * for it (10,000 values: 9.1 s, 30,000: 105 s). cn_json_leaves_origin indexes each
 * layer once; every leaf gets the label and line cn_json_origin gives it, on layers
 * with arrays, an empty object, '.' in a key and 5,000 values. */
typedef struct {
    const cn_json *d;
    int n, differ;
} origin_check;

static void same_origin(void *ctx, const char *path, const char *value, const char *label,
                        int line)
{
    (void)value;
    origin_check *c = ctx;
    const char *l2 = NULL;
    int n2 = -1;
    c->n++;
    if (cn_json_origin(c->d, path, &l2, &n2) != CN_OK || strcmp(l2, label) != 0 || n2 != line) {
        if (c->differ++ < 5)
            print_message("%s: %s:%d, one by one %s:%d\n", path, label, line, l2 ? l2 : "?", n2);
    }
}

static void test_leaves_origin(void **st)
{
    (void)st;
    char err[512] = "";
    cn_json *d = cn_json_parse("{\n \"a\": 1,\n \"b\": {\"c\": [1,\n 2], \"d\": {}},\n"
                               " \"n\": 2,\n \"m\": {\"x.y\": 3}\n}\n",
                               "base.json", err, sizeof err);
    assert_non_null(d);
    size_t cap = 5000 * 24 + 64, used = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    used += (size_t)snprintf(big + used, cap - used,
                             "{\"b\": {\"c\": [3], \"e\": 1},\n \"map\": {");
    for (int i = 0; i < 5000; i++)
        used += (size_t)snprintf(big + used, cap - used, "%s\"k%d\": %d", i ? ",\n" : "", i, i);
    snprintf(big + used, cap - used, "}}\n");
    cn_json *u = cn_json_parse(big, "user.json", err, sizeof err);
    free(big);
    assert_non_null(u);
    assert_int_equal(cn_json_merge(d, u, err, sizeof err), CN_OK);
    origin_check c = {d, 0, 0};
    assert_int_equal(cn_json_leaves_origin(d, same_origin, &c), CN_OK);
    print_message("%d leaves, %d with another origin than one by one\n", c.n, c.differ);
    assert_true(c.n > 5000);
    assert_int_equal(c.differ, 0);
    const char *label = NULL;
    int line = 0;
    assert_int_equal(cn_json_origin(d, "map.k4999", &label, &line), CN_OK);
    assert_string_equal(label, "user.json");
    assert_int_equal(line, 5001);
    cn_json_free(u);
    cn_json_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_reads),   cmocka_unit_test(test_errors_name_line_and_key),
        cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_files),
        cmocka_unit_test(test_default_config_parses), cmocka_unit_test(test_layers),
        cmocka_unit_test(test_leaves_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
