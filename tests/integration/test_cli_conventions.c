/* The command line behaves like a Unix tool (issue 16): `cryonav` alone prints the
 * help and writes nothing; `cryonav help [command]`; --version is listed; a usage
 * error points at --help once; file names are checked; nothing is written unless
 * asked and what is written is named; log lines carry a time and a level, go to
 * --log FILE when asked, and -q / -v change what is shown; the configuration is
 * layered (defaults, ~/.config/cryonav, --config) and says where each value came
 * from; the window size comes from the config or --window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_util.h"

static run_result R; /* large: keep it off the stack */

static void run_in(const char *cwd, const char *const *args)
{
    const char *argv[32] = {CN_CRYONAV_BIN};
    int n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    assert_int_equal(run_prog(argv, NULL, cwd, 180, &R), 0);
}

#define RUN_IN(cwd, ...)                                                                       \
    do {                                                                                       \
        const char *a_[] = {__VA_ARGS__, NULL};                                                \
        run_in(cwd, a_);                                                                       \
    } while (0)

static void expect(int code, const char *in_out, const char *in_err)
{
    if (R.exit_code != code || (in_out && !strstr(R.out, in_out)) ||
        (in_err && !strstr(R.err, in_err))) {
        print_error("exit %d (signal %d), expected %d, '%s' in stdout, '%s' in stderr\n"
                    "stdout:\n%s\nstderr:\n%s\n",
                    R.exit_code, R.signal, code, in_out ? in_out : "", in_err ? in_err : "",
                    R.out, R.err);
        fail();
    }
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Number of entries in a folder (without . and ..). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char tmp[] = "/tmp/cn_cli_conv_XXXXXX";

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmp, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bare_and_help(void **st)
{
    (void)st;
    char wd[600];
    path_in(wd, sizeof wd, "bare");
    assert_int_equal(mkdir(wd, 0755), 0);
    const char *bare[] = {CN_CRYONAV_BIN, NULL};
    assert_int_equal(run_prog(bare, NULL, wd, 60, &R), 0);
    expect(2, "usage: cryonav <command>", NULL); /* help, not a session */
    assert_non_null(strstr(R.out, "--version"));
    assert_non_null(strstr(R.out, "  help "));
    assert_non_null(strstr(R.out, "  config "));
    assert_int_equal(entries(wd), 0); /* and nothing written into the folder */
    RUN_IN(NULL, "--version");
    expect(0, "cryonav ", NULL);
    RUN_IN(NULL, "help");
    expect(0, "commands:", NULL);
    RUN_IN(NULL, "run", "--help");
    char run_help[65536];
    strcpy(run_help, R.out);
    RUN_IN(NULL, "help", "run");
    expect(0, "usage: cryonav run", NULL);
    assert_string_equal(R.out, run_help);
    RUN_IN(NULL, "help", "bench", "viewer");
    expect(0, "usage: cryonav bench viewer", NULL);
    RUN_IN(NULL, "--frobnicate");
    expect(2, NULL, "unknown option '--frobnicate'");
}

static void test_usage_errors(void **st)
{
    (void)st;
    /* the "see --help" hint exactly once, whatever the command's own message says */
    RUN_IN(NULL, "probes", "--bogus");
    expect(2, NULL, "unknown option '--bogus'");
    assert_int_equal(count(R.err, "--help"), 1);
    RUN_IN(NULL, "report");
    expect(2, NULL, "report");
    assert_int_equal(count(R.err, "--help"), 1);
    /* file names are checked before anything runs */
    RUN_IN(NULL, "run", "--headless", "--frames", "1", "--record", "x.png");
    expect(2, NULL, "--record writes a PLUS sequence file");
    RUN_IN(NULL, "run", "--headless", "--frames", "1", "--record", "x.seq.nrrd");
    expect(2, NULL, "must end in .igs.mha");
    RUN_IN(NULL, "run", "--headless", "--frames", "1", "--snapshot", "view.png");
    expect(2, NULL, "--snapshot takes a folder");
    RUN_IN(NULL, "thermal", "--png", "plot.jpg");
    expect(2, NULL, "must end in .png");
    RUN_IN(NULL, "run", "--window", "1280");
    expect(2, NULL, "--window needs WxH");
    RUN_IN(NULL, "run", "--log-level", "loud");
    expect(2, NULL, "--log-level must be");
}

static void test_outputs_only_where_asked(void **st)
{
    (void)st;
    char wd[600], png[700];
    path_in(wd, sizeof wd, "outputs");
    assert_int_equal(mkdir(wd, 0755), 0);
    /* thermal: CSV on stdout, no PNG unless asked */
    RUN_IN(wd, "thermal", "--every", "60");
    expect(0, "time_s,phase,", NULL);
    assert_int_equal(entries(wd), 0);
    snprintf(png, sizeof png, "%s/radii.png", wd);
    RUN_IN(wd, "thermal", "--every", "60", "--png", png);
    expect(0, NULL, png); /* the path written is named */
    assert_int_equal(access(png, F_OK), 0);
    unlink(png);
    /* a headless session without --snapshot writes nothing (it used to fill
     * ./cryonav-snapshots) */
    RUN_IN(wd, "run", "--headless", "--fast", "--no-serve", "--frames", "3");
    expect(0, "frames acquired", NULL);
    assert_int_equal(entries(wd), 0);
}

static void test_logs(void **st)
{
    (void)st;
    char log[600];
    path_in(log, sizeof log, "session.log");
    RUN_IN(NULL, "run", "--headless", "--fast", "--no-serve", "--frames", "2", "-v", "--log", log);
    expect(0, "frames acquired", NULL);
    assert_null(strstr(R.err, "cryonav: ")); /* log lines went to the file */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[1024];
    int n = 0, debug = 0;
    while (fgets(line, sizeof line, f)) {
        int hh, mm, ss, ms, used = 0;
        char level[16];
        assert_int_equal(sscanf(line, "cryonav: %2d:%2d:%2d.%3d %15[a-z]: %n", &hh, &mm, &ss, &ms,
                                level, &used),
                         5);
        assert_true(used > 0);
        debug += strcmp(level, "debug") == 0;
        n++;
    }
    fclose(f);
    assert_true(n >= 2);
    assert_true(debug >= 1); /* -v shows debug lines */
    RUN_IN(NULL, "run", "--headless", "--fast", "--no-serve", "--frames", "2");
    expect(0, NULL, " info: ");
    RUN_IN(NULL, "run", "--headless", "--fast", "--no-serve", "--frames", "2", "-q");
    expect(0, "frames acquired", NULL);
    assert_null(strstr(R.err, " info: "));
    RUN_IN(NULL, "run", "--headless", "--frames", "1", "--log", "/nonexistent/dir/x.log");
    expect(2, NULL, "/nonexistent/dir/x.log: cannot open the log file");
}

static void test_config_layers(void **st)
{
    (void)st;
    char xdg[600], dir[700], user[800], cli[700], want[900], wd[600];
    path_in(xdg, sizeof xdg, "xdg");
    snprintf(dir, sizeof dir, "%s/cryonav", xdg);
    assert_int_equal(mkdir(xdg, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(user, sizeof user, "%s/session.json", dir);
    write_file(user, "{\n  \"sim\": {\n    \"fps\": 7,\n    \"seed\": 3\n  }\n}\n");
    path_in(cli, sizeof cli, "cli.json");
    write_file(cli, "{\"sim\": {\n  \"seed\": 9}}\n");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    RUN_IN(NULL, "config", "--print", "--config", cli);
    expect(0, "sim.width_px = 640", NULL); /* from the shipped defaults */
    snprintf(want, sizeof want, "sim.fps = 7");
    assert_non_null(strstr(R.out, want));
    snprintf(want, sizeof want, "# %s:3", user);
    assert_non_null(strstr(strstr(R.out, "sim.fps = 7"), want));
    snprintf(want, sizeof want, "# %s:2", cli);
    assert_non_null(strstr(strstr(R.out, "sim.seed = 9"), want)); /* --config wins */
    /* secrets never print: the shared token and each account's, as their length */
    char sec[700];
    path_in(sec, sizeof sec, "secret.json");
    write_file(sec, "{\"proctor\": {\"token\": \"shared-SECRET-0123456789\",\n"
                    " \"accounts\": [{\"name\": \"kim\", \"token\": \"kim-SECRET-0123456789\"}]}}\n");
    RUN_IN(NULL, "config", "--print", "--config", sec);
    expect(0, "proctor.token = (secret, 24 characters)", NULL);
    assert_non_null(strstr(R.out, "\"name\":\"kim\",\"token\":\"(secret, 21 characters)\""));
    assert_null(strstr(R.out, "SECRET"));
    RUN_IN(NULL, "config", "--paths", "--config", cli);
    expect(0, user, NULL);
    assert_true(strstr(R.out, user) < strstr(R.out, cli));
    /* an error names the user's file and line, not the defaults it overrode */
    write_file(user, "{\n  \"sim\": {\n    \"depth_mm\": \"deep\"\n  }\n}\n");
    RUN_IN(NULL, "run", "--headless", "--frames", "1");
    snprintf(want, sizeof want, "%s:3: sim.depth_mm: expected a number", user);
    expect(2, NULL, want);
    write_file(user, "{\"viewer\": {\n  \"width\": 10}}\n");
    RUN_IN(NULL, "run", "--headless", "--frames", "1", "--snapshot", xdg);
    snprintf(want, sizeof want, "%s:2: viewer.width", user);
    expect(2, NULL, want);
    unlink(user);
    unsetenv("XDG_CONFIG_HOME");
    /* a config/session.json in the working folder is not read, and that is said */
    path_in(wd, sizeof wd, "wd");
    snprintf(dir, sizeof dir, "%s/config", wd);
    assert_int_equal(mkdir(wd, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(user, sizeof user, "%s/session.json", dir);
    write_file(user, "{\"sim\": {\"fps\": 5}}\n");
    RUN_IN(wd, "config", "--print");
    expect(0, "sim.fps = 20", "./config/session.json is not read");
    assert_non_null(strstr(R.out, "# check: every value is one `cryonav run` takes"));
    /* a value `run` refuses is said by `config` too, by file, line and key (before: printed
     * as a value, status 0), and a decimal prints as written (before: 3.2999999999999998) */
    write_file(cli, "{\"sim\": {\"fps\": 3.3},\n \"usb\": {\"bogus\": 1}}\n");
    RUN_IN(NULL, "config", "--print", "--config", cli);
    snprintf(want, sizeof want, "%s:2: usb.bogus: unknown key", cli);
    expect(2, "sim.fps = 3.3 ", want);
    write_file(cli, "{\"thermal\": {\"protocol\": \"nosuch\"}}\n");
    RUN_IN(NULL, "config", "--config", cli);
    expect(2, "# check: refused", "unknown protocol \"nosuch\"");
}

static int setup(void **st)
{
    (void)st;
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_and_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_outputs_only_where_asked),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_config_layers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
