/* Statistics percentiles and 95 % intervals, the deterministic PRNG, error names, the log
 * line format, log files and event texts' values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The intervals `cryonav eval` prints: Wilson's against published values, the
 * bootstrap against the normal approximation it must approach, both on bad input. */
static void test_intervals(void **st)
{
    (void)st;
    double lo, hi;
    /* Wilson's (1927) score interval in closed form, worked by hand: 1 of 2 -> 0.0945-0.9055,
     * 0 of 10 -> 0-0.2775 (the value tables of the interval give), 10 of 10 -> 0.7225-1 */
    assert_int_equal(cn_stats_rate_interval95(1, 2, &lo, &hi), CN_OK);
    assert_true(fabs(lo - 0.0945) < 5e-4 && fabs(hi - 0.9055) < 5e-4);
    assert_int_equal(cn_stats_rate_interval95(0, 10, &lo, &hi), CN_OK);
    assert_true(lo == 0 && fabs(hi - 0.2775) < 5e-4);
    assert_int_equal(cn_stats_rate_interval95(10, 10, &lo, &hi), CN_OK);
    assert_true(hi == 1 && fabs(lo - 0.7225) < 5e-4);
    assert_int_equal(cn_stats_rate_interval95(148, 164, &lo, &hi), CN_OK); /* 90.2 % */
    assert_true(lo < 0.9 && lo > 0.84 && hi > 0.93 && hi < 0.945);
    assert_int_equal(cn_stats_rate_interval95(3, 2, &lo, &hi), CN_EINVAL);
    assert_int_equal(cn_stats_rate_interval95(0, 0, &lo, &hi), CN_EINVAL);
    assert_int_equal(cn_stats_rate_interval95(-1, 4, &lo, &hi), CN_EINVAL);

    /* the bootstrap: 400 values spread evenly over [0, 1): mean 0.49875, sd 0.2887, so
     * the normal interval is the mean +- 1.96 x 0.01443 = +- 0.0283 */
    double v[400];
    for (int i = 0; i < 400; i++)
        v[i] = i / 400.0;
    assert_int_equal(cn_stats_mean_interval95(v, 400, 2000, 7, &lo, &hi), CN_OK);
    assert_true(lo < 0.49875 && hi > 0.49875);
    assert_true(fabs((0.49875 - lo) - 0.0283) < 0.004 && fabs((hi - 0.49875) - 0.0283) < 0.004);
    /* the same seed repeats the interval; another moves it a little */
    double lo2, hi2;
    assert_int_equal(cn_stats_mean_interval95(v, 400, 2000, 7, &lo2, &hi2), CN_OK);
    assert_true(lo2 == lo && hi2 == hi);
    assert_int_equal(cn_stats_mean_interval95(v, 400, 2000, 8, &lo2, &hi2), CN_OK);
    assert_true(lo2 != lo && fabs(lo2 - lo) < 0.004);
    /* equal values: no spread; one value: itself */
    double c[5] = {0.7, 0.7, 0.7, 0.7, 0.7};
    assert_int_equal(cn_stats_mean_interval95(c, 5, 500, 1, &lo, &hi), CN_OK);
    assert_true(fabs(lo - 0.7) < 1e-12 && fabs(hi - 0.7) < 1e-12);
    assert_int_equal(cn_stats_mean_interval95(c, 1, 500, 1, &lo, &hi), CN_OK);
    assert_true(fabs(lo - 0.7) < 1e-12 && fabs(hi - 0.7) < 1e-12);
    /* bad input */
    assert_int_equal(cn_stats_mean_interval95(v, 0, 2000, 7, &lo, &hi), CN_EINVAL);
    assert_int_equal(cn_stats_mean_interval95(v, 400, 10, 7, &lo, &hi), CN_EINVAL);
    assert_int_equal(cn_stats_mean_interval95(NULL, 4, 2000, 7, &lo, &hi), CN_EINVAL);
    c[2] = NAN;
    assert_int_equal(cn_stats_mean_interval95(c, 5, 500, 1, &lo, &hi), CN_EINVAL);
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

/* A whole file: a regular one, at most max bytes; a FIFO is refused at once (input
 * audit I3: a FIFO named as a weights file or a config blocked forever, /dev/zero grew
 * memory until the machine ran out), each refusal naming the file and why. */
static void test_file_read_bounds(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_read_XXXXXX", p[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/ok.txt", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("0123456789", f);
    fclose(f);
    size_t n = 0;
    char *b = cn_file_read(p, 10, &n, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(n, 10);
    assert_string_equal(b, "0123456789");
    free(b);
    assert_null(cn_file_read(p, 9, &n, err, sizeof err)); /* one byte too many */
    assert_non_null(strstr(err, "larger than"));
    assert_null(cn_file_read(dir, 100, &n, err, sizeof err));
    assert_non_null(strstr(err, "a folder, not a file"));
    snprintf(p, sizeof p, "%s/fifo", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_null(cn_file_read(p, 100, &n, err, sizeof err)); /* at once, not blocked */
    assert_non_null(strstr(err, "not a regular file"));
    assert_non_null(strstr(err, p));
    assert_null(cn_file_read_all(p, &n));
    unlink(p);
    assert_null(cn_file_read("/dev/zero", (size_t)1 << 30, &n, err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));
    snprintf(p, sizeof p, "%s/missing", dir);
    assert_null(cn_file_read(p, 100, &n, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    snprintf(p, sizeof p, "%s/ok.txt", dir);
    unlink(p);
    rmdir(dir);
}

/* Which step an event is, and where it leads (the procedure, the report and the
 * replay read recordings with these). */
static void test_step_events(void **st)
{
    (void)st;
    assert_int_equal(cn_step_of("freeze_start cycle=2"), CN_STEP_FREEZE_START);
    assert_int_equal(cn_step_of("freeze_stop"), CN_STEP_FREEZE_END);
    assert_int_equal(cn_step_of("thaw_stop"), CN_STEP_THAW_END);
    assert_int_equal(cn_step_of("thaw_start mode=active"), CN_STEP_THAW_START);
    assert_int_equal(cn_step_of("freeze_starts"), CN_STEP_NONE);
    assert_int_equal(cn_step_of("note text=freeze_start"), CN_STEP_NONE);
    assert_int_equal(cn_step_of(""), CN_STEP_NONE);
    assert_int_equal(cn_step_of(NULL), CN_STEP_NONE);
    cn_event ev[4] = {{.t_scene_ns = 5, .text = "thaw_end cycle=1"},
                      {.t_scene_ns = 5, .text = "alarm set=0x0"},
                      {.t_scene_ns = 5, .text = "freeze_start cycle=2"},
                      {.t_scene_ns = 9, .text = "freeze_end cycle=2"}};
    cn_phase to = CN_PHASE_IDLE;
    /* a freeze started from a thaw: the thaw's end is the freeze's part, whatever
     * sits between them */
    assert_false(cn_step_leads(ev, 4, 0, &to));
    assert_false(cn_step_leads(ev, 4, 1, &to));
    assert_true(cn_step_leads(ev, 4, 2, &to));
    assert_int_equal(to, CN_PHASE_FREEZE);
    assert_true(cn_step_leads(ev, 4, 3, &to)); /* alone: the freeze stopped */
    assert_int_equal(to, CN_PHASE_THAW);
    /* a thaw stopped by itself, an alarm on its frame: into the approach */
    assert_true(cn_step_leads(ev, 2, 0, &to));
    assert_int_equal(to, CN_PHASE_APPROACH);
    snprintf(ev[2].text, sizeof ev[2].text, "needle_inserted");
    assert_true(cn_step_leads(ev, 3, 0, &to));
    snprintf(ev[2].text, sizeof ev[2].text, "needle_withdrawn");
    assert_false(cn_step_leads(ev, 3, 0, &to));
    assert_true(cn_step_leads(ev, 3, 2, &to));
    assert_int_equal(to, CN_PHASE_WITHDRAWN);
    assert_false(cn_step_leads(ev, 3, 3, &to)); /* out of the list */
    assert_false(cn_step_leads(ev, 3, -1, &to));
}

/* The median of the last 5: an outlier does not move it, the oldest goes first. */
static void test_last5(void **st)
{
    (void)st;
    cn_last5 r = {.n = 0};
    assert_true(isnan(cn_last5_median(&r)));
    assert_true(cn_last5_push(&r, 3) == 3);
    assert_true(cn_last5_push(&r, 1) == 3); /* of {3, 1}: the upper middle */
    cn_last5_push(&r, 2);
    cn_last5_push(&r, 4);
    assert_true(cn_last5_push(&r, 100) == 3); /* {3, 1, 2, 4, 100} */
    assert_true(cn_last5_push(&r, 5) == 4);   /* the 3 went: {1, 2, 4, 100, 5} */
    assert_int_equal(r.n, 5);
}

/* A timeline: extremes by time, taken back to a dated step, folded past its keep. */
static void test_timeline(void **state)
{
    (void)state;
    assert_null(cn_timeline_new(0, 8));
    assert_null(cn_timeline_new(10, 1));
    cn_timeline *tl = cn_timeline_new(10, 8);
    assert_non_null(tl);
    assert_true(isnan(cn_timeline_min(tl)) && isnan(cn_timeline_max(tl)));
    assert_true(isnan(cn_timeline_last_at(tl, 100)));
    assert_float_equal(cn_timeline_sum(tl), 0, 0);
    for (int i = 0; i < 10; i++) /* t 0, 5, ..., 45: bins [0,5] [10,15] ... */
        cn_timeline_add(tl, 5 * i, 100 - i);
    cn_timeline_add(tl, 47, NAN); /* ignored */
    assert_int_equal(cn_timeline_count(tl), 5);
    assert_float_equal(cn_timeline_min(tl), 91, 0);
    assert_float_equal(cn_timeline_max(tl), 100, 0);
    assert_float_equal(cn_timeline_sum(tl), 955, 1e-9);
    assert_float_equal(cn_timeline_last_at(tl, 15), 97, 0); /* the value at 15 */
    assert_float_equal(cn_timeline_last_at(tl, 12), 98, 0); /* its bin's first, at 10 */
    assert_true(isnan(cn_timeline_last_at(tl, -1)));
    /* a step dated back to 22: the bins from 30 on go, the one holding 22 stays */
    cn_timeline_rewind(tl, 22);
    assert_int_equal(cn_timeline_count(tl), 3);
    assert_float_equal(cn_timeline_min(tl), 95, 0);
    assert_float_equal(cn_timeline_last_at(tl, 1000), 95, 0);
    /* past the keep: the older half folds, its extremes and last stay */
    for (int i = 0; i < 20; i++)
        cn_timeline_add(tl, 30 + 10 * i, i == 3 ? -5 : 50 + i);
    assert_true(cn_timeline_count(tl) <= 8 + 1);
    assert_float_equal(cn_timeline_min(tl), -5, 0);
    assert_float_equal(cn_timeline_max(tl), 100, 0);
    assert_float_equal(cn_timeline_last_at(tl, 1000), 69, 0);
    cn_timeline_rewind(tl, -100); /* older than all kept: the folded stay */
    assert_int_equal(cn_timeline_count(tl), 1);
    assert_float_equal(cn_timeline_max(tl), 100, 0);
    /* a clock that runs back less than a bin goes into the newest bin */
    cn_timeline_clear(tl);
    cn_timeline_add(tl, 100, 1);
    cn_timeline_add(tl, 95, 2);
    assert_int_equal(cn_timeline_count(tl), 1);
    assert_float_equal(cn_timeline_last_at(tl, 100), 1, 0);
    assert_float_equal(cn_timeline_max(tl), 2, 0);
    /* more (a live source restarted): all folded, kept, no longer taken back by a rewind to
     * the new clock (review 40 F5) */
    cn_timeline_add(tl, 130, -3);
    cn_timeline_add(tl, 20, 7);
    assert_int_equal(cn_timeline_count(tl), 2);
    cn_timeline_rewind(tl, 10);
    assert_float_equal(cn_timeline_min(tl), -3, 0);
    assert_float_equal(cn_timeline_max(tl), 2, 0);
    cn_timeline_free(tl);
    cn_timeline_free(NULL);
    /* grown as it fills (64, 128, then its keep of 200), folded past that; unset times
     * (INT64_MIN) do not overflow */
    tl = cn_timeline_new(10, 200);
    assert_non_null(tl);
    for (int i = 0; i < 150; i++)
        cn_timeline_add(tl, 10 * i, i);
    assert_int_equal(cn_timeline_count(tl), 150);
    for (int i = 150; i < 260; i++)
        cn_timeline_add(tl, 10 * i, i);
    assert_true(cn_timeline_count(tl) >= 100 && cn_timeline_count(tl) <= 201);
    assert_float_equal(cn_timeline_min(tl), 0, 0);
    assert_float_equal(cn_timeline_max(tl), 259, 0);
    assert_float_equal(cn_timeline_last_at(tl, 10 * 259), 259, 0);
    cn_timeline_clear(tl);
    cn_timeline_add(tl, INT64_MIN, 1);
    cn_timeline_add(tl, INT64_MIN, 2);
    cn_timeline_add(tl, 5, 3);
    cn_timeline_add(tl, INT64_MIN, 4);
    assert_float_equal(cn_timeline_max(tl), 4, 0);
    cn_timeline_free(tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last5),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_event_values),
        cmocka_unit_test(test_step_events),
        cmocka_unit_test(test_file_read_bounds),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_timeline),
        cmocka_unit_test(test_strerror_and_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
