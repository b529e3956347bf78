/*
 * test_thermal_cli.c - the user guide's procedure and calibration commands as a
 * user types them (issue 13; the long runs are in test_procedure_record and
 * test_thermal_measured):
 *
 *   cryonav thermal calibrate --measurements FILE --h 1
 *       (one row per probe and medium group: the default surface, and a probe's
 *       own surface in a tissue: "calibrates": "surface_by_tissue")
 *   cryonav thermal calibrate --measurements FILE --h 1 --robin-gas -186
 *       (the film-law test: the film coefficient fitted behind argon's gas)
 *   cryonav run --keys KEY@SECONDS,...      (bad key / bad time: a clear error)
 *   cryonav run --protocol NAME             (an old short name: the known names)
 *
 * A bad measurements file is refused naming the file, the line and the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_util.h"

static run_result R;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_calibrate(void **state)
{
    (void)state;
    const char *good = CN_BINARY_DIR "/thermal_cli_measurements.json";
    write_file(good,
               "{\"measurements\": [{\"id\": \"cord\", \"probe\": \"1.7mm-argon\",\n"
               " \"source\": \"a spermatic cord ice ball, two 90 s freezes: 1.5 cm\",\n"
               " \"tissue\": \"standard\", \"steps\": [{\"phase\": \"freeze\", \"duration_s\": 90},\n"
               " {\"phase\": \"passive_thaw\", \"duration_s\": 60},\n"
               " {\"phase\": \"freeze\", \"duration_s\": 90}],\n"
               " \"temp_c\": 0, \"diameter_mm\": 15, \"at_s\": 240},\n"
               /* a group of its own: the probe's surface in that tissue */
               " {\"id\": \"perfused\", \"probe\": \"1.7mm-argon\", \"source\": \"a 90 s freeze, 1.3 cm\",\n"
               " \"tissue\": \"standard-high-perfusion\", \"calibrates\": \"surface_by_tissue\",\n"
               " \"steps\": [{\"phase\": \"freeze\", \"duration_s\": 90}],\n"
               " \"temp_c\": 0, \"diameter_mm\": 13, \"at_s\": 90}]}\n");
    const char *argv[] = {CN_CRYONAV_BIN, "thermal", "calibrate", "--measurements", good, "--h", "1",
                          NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    print_message("%s", R.out);
    /* one row per (probe, medium group), each fitted in the argon range: the
     * default and the probe's own surface in the perfused tissue */
    const char *row = strstr(R.out, "| 1.7mm-argon | default (surface_temp_c) | 1 | -");
    assert_non_null(row);
    int t = atoi(row + strlen("| 1.7mm-argon | default (surface_temp_c) | 1 | "));
    assert_true(t < -40 && t > -190);
    const char *tg = "| 1.7mm-argon | standard-high-perfusion (surface_by_tissue) | 1 | ";
    row = strstr(R.out, tg);
    assert_non_null(row);
    t = atoi(row + strlen(tg));
    assert_true(t < -40 && t > -190);

    /* the film law: gas at -186 C, the film coefficient fitted (W/m2K, plausible range) */
    const char *argv_r[] = {CN_CRYONAV_BIN, "thermal", "calibrate", "--measurements", good, "--h", "1",
                            "--robin-gas", "-186", NULL};
    assert_int_equal(run_prog(argv_r, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    print_message("%s", R.out);
    assert_non_null(strstr(R.out, "fitted film (W/m2K)"));
    row = strstr(R.out, "| 1.7mm-argon | 1 | -186 | "); /* one film: the default group only */
    assert_non_null(row);
    int h = atoi(row + strlen("| 1.7mm-argon | 1 | -186 | "));
    assert_true(h > 100 && h < 10000);
    const char *argv_r2[] = {CN_CRYONAV_BIN, "thermal", "calibrate", "--robin-gas", "warm", NULL};
    assert_int_equal(run_prog(argv_r2, NULL, NULL, 60, &R), 0);
    assert_int_not_equal(R.exit_code, 0);
    assert_non_null(strstr(R.err, "--robin-gas"));

    const char *bad = CN_BINARY_DIR "/thermal_cli_bad.json";
    write_file(bad, "{\"measurements\": [\n {\"id\": \"x\", \"probe\": \"1.7mm-argon\", \"source\": \"s\",\n"
                    "  \"tissue\": \"no-such-tissue\", \"steps\": [{\"phase\": \"freeze\", "
                    "\"duration_s\": 60}],\n  \"temp_c\": 0, \"diameter_mm\": 10, \"at_s\": 60}]}\n");
    const char *argv2[] = {CN_CRYONAV_BIN, "thermal", "calibrate", "--measurements", bad, NULL};
    assert_int_equal(run_prog(argv2, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "thermal_cli_bad.json"));
    assert_non_null(strstr(R.err, "no-such-tissue"));
    /* what a measurement calibrates: the default or its tissue's own surface, nothing else */
    write_file(bad, "{\"measurements\": [\n {\"id\": \"x\", \"probe\": \"1.7mm-argon\", \"source\": \"s\",\n"
                    "  \"tissue\": \"standard\", \"calibrates\": \"film\", \"steps\": [{\"phase\": \"freeze\", "
                    "\"duration_s\": 60}],\n  \"temp_c\": 0, \"diameter_mm\": 10, \"at_s\": 60}]}\n");
    assert_int_equal(run_prog(argv2, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "thermal_cli_bad.json:3"));
    assert_non_null(strstr(R.err, "calibrates"));
    assert_non_null(strstr(R.err, "surface_by_tissue"));
}

static void test_run_input_errors(void **state)
{
    (void)state;
    const char *keys[] = {"z@5", "f@abc", "f@-3", "f"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--no-serve", "--keys", keys[i], NULL};
        assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
        if (R.exit_code == 0)
            fail_msg("--keys %s accepted", keys[i]);
        if (!strstr(R.err, "--keys") || !strstr(R.err, keys[i]))
            fail_msg("--keys %s: unclear error: %s", keys[i], R.err);
    }
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--no-serve", "--protocol", "stump",
                          NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
    assert_int_not_equal(R.exit_code, 0);
    assert_non_null(strstr(R.err, "'stump'"));
    assert_non_null(strstr(R.err, "stump-6-4-6")); /* the catalogue's names */
}

/* Thermal audit F10: `cryonav thermal --surface-offset -150` ran an argon wall at -237 C,
 * below argon's boiling point (a -40 C radius of 6.4 mm for 2.5 mm), and +100 a wall
 * the model quietly clamped to -5 C. Both are refused, naming the probe and the wall. */
static void test_surface_offset_in_physics(void **state)
{
    (void)state;
    const char *bad[][3] = {{"1.7mm-argon", "-150", "colder than argon can make it (-185.8 C)"},
                            {"1.7mm-argon", "100", "which does not freeze"},
                            /* a robin probe: its gas temperature (the review's F4) */
                            {"N2O-handheld-22G", "-150", "colder than N2O can make it"}};
    for (int i = 0; i < 3; i++) {
        const char *argv[] = {CN_CRYONAV_BIN, "thermal", "--probe", bad[i][0],
                              "--surface-offset", bad[i][1], "--every", "150", NULL};
        assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
        assert_int_equal(R.exit_code, 2);
        if (!strstr(R.err, bad[i][2]) || !strstr(R.err, bad[i][0]))
            fail_msg("%s --surface-offset %s: %s", bad[i][0], bad[i][1], R.err);
    }
    const char *ok[] = {CN_CRYONAV_BIN, "thermal", "--probe", "1.7mm-argon", "--surface-offset",
                        "-20", "--every", "150", NULL};
    assert_int_equal(run_prog(ok, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
}

/* Guide audit: `cryonav thermal --list` shows the user's protocols
 * (~/.config/cryonav/protocols.json) and `run --protocol` refused them as unknown.
 * Both read the same layers now: shipped, the user's, the config's files. */
static void test_user_protocol_runs(void **state)
{
    (void)state;
    char home[] = "/tmp/cn_user_proto_XXXXXX";
    assert_non_null(mkdtemp(home));
    char dir[300], file[400];
    snprintf(dir, sizeof dir, "%s/.config", home);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(dir, sizeof dir, "%s/.config/cryonav", home);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(file, sizeof file, "%s/protocols.json", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "{\"protocols\": [{\"name\": \"clinic-2x90\", \"steps\": ["
               "{\"phase\": \"freeze\", \"duration_s\": 90}, "
               "{\"phase\": \"passive_thaw\", \"duration_s\": 60}, "
               "{\"phase\": \"freeze\", \"duration_s\": 90}]}]}\n");
    fclose(f);
    const char *old = getenv("HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("HOME", home, 1);
    unsetenv("XDG_CONFIG_HOME");
    const char *list[] = {CN_CRYONAV_BIN, "thermal", "--list", NULL};
    assert_int_equal(run_prog(list, NULL, NULL, 60, &R), 0);
    assert_non_null(strstr(R.out, "clinic-2x90"));
    const char *run[] = {CN_CRYONAV_BIN, "run", "--headless", "--no-serve", "--frames", "3",
                         "--protocol", "clinic-2x90", NULL};
    assert_int_equal(run_prog(run, NULL, NULL, 120, &R), 0);
    if (saved) {
        setenv("HOME", saved, 1);
        free(saved);
    }
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    assert_non_null(strstr(R.out, "plan clinic-2x90: freeze 90 s, thaw 60 s, freeze 90 s"));
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibrate),
        cmocka_unit_test(test_run_input_errors),
        cmocka_unit_test(test_user_protocol_runs),
        cmocka_unit_test(test_surface_offset_in_physics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
