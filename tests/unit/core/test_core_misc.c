/* Statistics percentiles, the deterministic PRNG, error names, the log line format, log files
 * and event texts' values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static void test_stats(void **st)
{
    (void)st;
    cn_stats *s = cn_stats_new(100);
    assert_true(isnan(cn_stats_percentile(s, 50)));
    for (int i = 1; i <= 100; i++)
        cn_stats_add(s, i);
    assert_true(fabs(cn_stats_percentile(s, 50) - 50.5) < 1e-9);
    assert_true(fabs(cn_stats_percentile(s, 99) - 99.01) < 1e-9);
    assert_true(cn_stats_percentile(s, 0) == 1 && cn_stats_percentile(s, 100) == 100);
    /* The window keeps the last 100 samples. */
    for (int i = 0; i < 100; i++)
        cn_stats_add(s, 1000);
    assert_true(cn_stats_percentile(s, 0) == 1000);
    assert_int_equal(cn_stats_count(s), 200);
    cn_stats_reset(s);
    assert_int_equal(cn_stats_count(s), 0);
    cn_stats_free(s);
}

static void test_rng(void **st)
{
    (void)st;
    cn_rng a, b;
    cn_rng_seed(&a, 42);
    cn_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        assert_true(cn_rng_next(&a) == cn_rng_next(&b));
    cn_rng_seed(&b, 43);
    assert_true(cn_rng_next(&a) != cn_rng_next(&b));
    double sum = 0, sum2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = cn_rng_normal(&a);
        sum += x;
        sum2 += x * x;
        double u = cn_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sum2 / n - 1) < 0.02);
}

static void test_strerror_and_log(void **st)
{
    (void)st;
    assert_string_equal(cn_strerror(CN_ENOENT), "not found");
    assert_string_equal(cn_strerror(12345), "unknown error");
    assert_string_equal(cn_phase_name(CN_PHASE_FREEZE), "freeze");
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cn_log *lg = cn_log_new(f, CN_LOG_WARN);
    cn_log_info(lg, "test", "hidden %d", 1);
    cn_log_error(lg, "test", "shown %d", 2);
    cn_log_free(lg);
    fclose(f);
    assert_null(strstr(buf, "hidden"));
    /* `cryonav: HH:MM:SS.mmm error: test: shown 2`: program, local time to the
     * millisecond, level (never "cryonav info:", which reads like the command) */
    int hh = -1, mi = -1, ss = -1, ms = -1, used = 0;
    assert_int_equal(sscanf(buf, "cryonav: %2d:%2d:%2d.%3d %n", &hh, &mi, &ss, &ms, &used), 4);
    assert_true(hh >= 0 && hh < 24 && mi >= 0 && mi < 60 && ss >= 0 && ss < 61 && ms >= 0 && ms < 1000);
    assert_true(used == 22);
    assert_string_equal(buf + used, "error: test: shown 2\n");
    cn_log_level lv;
    assert_int_equal(cn_log_level_parse("warning", &lv), CN_OK);
    assert_int_equal(lv, CN_LOG_WARN);
    assert_int_equal(cn_log_level_parse("loud", &lv), CN_EINVAL);
    assert_string_equal(cn_log_level_name(CN_LOG_WARN), "warn");
    /* a log file is appended to, never truncated; a bad path is named */
    char path[] = "/tmp/cn_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old line\n", 9), 9);
    close(fd);
    char err[256];
    lg = cn_log_open(path, CN_LOG_DEBUG, err, sizeof err);
    assert_non_null(lg);
    cn_log_debug(lg, "m", "new %s", "line");
    cn_log_free(lg);
    char *text = cn_file_read_all(path, NULL);
    assert_non_null(text);
    assert_true(strncmp(text, "old line\n", 9) == 0);
    assert_non_null(strstr(text + 9, " debug: m: new line\n"));
    free(text);
    unlink(path);
    assert_null(cn_log_open("/nonexistent/dir/x.log", CN_LOG_INFO, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/dir/x.log: cannot open the log file"));
    char small[4];
    assert_int_equal(cn_strlcpy(small, "abcdef", sizeof small), 6);
    assert_string_equal(small, "abc");
}

/* An event text's values (core.h): what one writer puts, one reader gets back, for
 * the names users give (a catalogue's probe, a protocol, a proctor): spaces,
 * quotes, backslashes, '=' and a key's look inside a value. Texts written before
 * the rule (bare values with spaces) still read; a note's "text=" takes the rest
 * of the line. */
static void test_event_values(void **st)
{
    (void)st;
    const char *names[] = {"17G-argon-2cm", "Iovera Smart Tip 190", "a \"quoted\" \\ name",
                           "x steps=freeze:999", "eq=sign", "", "  padded  "};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char ev[CN_EVENT_TEXT_MAX] = "probe", got[80];
        assert_int_equal(cn_event_put(ev, sizeof ev, "name", names[i]), CN_OK);
        assert_int_equal(cn_event_put(ev, sizeof ev, "outer_mm", "1.20"), CN_OK);
        assert_int_equal(cn_event_get(ev, "name", got, sizeof got), CN_OK);
        assert_string_equal(got, names[i]);
        assert_int_equal(cn_event_get(ev, "outer_mm", got, sizeof got), CN_OK);
        assert_string_equal(got, "1.20");
        assert_int_equal(cn_event_get(ev, "steps", got, sizeof got), CN_ENOENT);
    }
    char ev[64] = "plan";
    assert_int_equal(cn_event_put(ev, sizeof ev, "name", "My plan"), CN_OK);
    assert_string_equal(ev, "plan name=\"My plan\"");
    assert_int_equal(cn_event_put(ev, sizeof ev, "bad key", "v"), CN_EINVAL);
    /* does not fit: out unchanged */
    char small[24] = "plan name=x";
    assert_int_equal(cn_event_put(small, sizeof small, "steps", "freeze:150,passive_thaw:60"),
                     CN_ERANGE);
    assert_string_equal(small, "plan name=x");
    /* written before the rule: a bare value runs to the next " key=" */
    char got[64];
    const char *old = "probe name=Iovera Smart Tip outer_mm=1.20 active_mm=4.0";
    assert_int_equal(cn_event_get(old, "name", got, sizeof got), CN_OK);
    assert_string_equal(got, "Iovera Smart Tip");
    assert_int_equal(cn_event_get(old, "active_mm", got, sizeof got), CN_OK);
    assert_string_equal(got, "4.0");
    assert_int_equal(cn_event_get(old, "mm", got, sizeof got), CN_ENOENT); /* whole keys only */
    assert_int_equal(cn_event_get(old, "probe", got, sizeof got), CN_ENOENT); /* the name is no key */
    /* a note: "text=" is the rest of the line; a key inside a quoted value is no key */
    const char *note = "note from=\"Dr A text=x\" text=move 2 mm deeper name=1";
    assert_int_equal(cn_event_get(note, "from", got, sizeof got), CN_OK);
    assert_string_equal(got, "Dr A text=x");
    assert_int_equal(cn_event_get(note, "text", got, sizeof got), CN_OK);
    assert_string_equal(got, "move 2 mm deeper name=1");
    assert_int_equal(cn_event_get(note, "name", got, sizeof got), CN_ENOENT);
    /* too long for out, unterminated quote */
    char tiny[4];
    assert_int_equal(cn_event_get(old, "name", tiny, sizeof tiny), CN_ERANGE);
    assert_int_equal(cn_event_get("probe name=\"open", "name", got, sizeof got), CN_EPARSE);
    assert_int_equal(cn_event_get(NULL, "name", got, sizeof got), CN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_event_values),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_strerror_and_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
