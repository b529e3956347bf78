/* The command line as a user meets it: help for every command, and bad input
 * (unknown options, bad values, missing / malformed / mistyped configuration,
 * no display with --no-fallback) gives one clear message and a non-zero exit,
 * never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_util.h"

static run_result R; /* large: keep it off the stack */

#define RUN(...)                                                                               \
    do {                                                                                       \
        const char *argv_[] = {CN_CRYONAV_BIN, __VA_ARGS__, NULL};                             \
        assert_int_equal(run_prog(argv_, NULL, NULL, 120, &R), 0);                             \
    } while (0)

static void expect_error(int code, const char *needle)
{
    if (R.exit_code != code || !strstr(R.err, needle)) {
        print_error("exit %d (signal %d), expected %d and '%s' in stderr:\n%s\n", R.exit_code,
                    R.signal, code, needle, R.err);
        fail();
    }
}

static void test_help(void **st)
{
    (void)st;
    RUN("--help");
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "run "));
    /* Every command listed answers --help with exit 0 and a usage line. */
    char *save = NULL, listing[65536];
    strcpy(listing, R.out);
    char *cmds = strstr(listing, "commands:\n");
    assert_non_null(cmds);
    int n = 0;
    for (char *line = strtok_r(cmds + 10, "\n", &save); line && line[0] == ' ';
         line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        if (sscanf(line, " %63s", name) != 1)
            continue;
        RUN(name, "--help");
        if (R.exit_code != 0 || !strstr(R.out, "usage: cryonav")) {
            print_error("cryonav %s --help: exit %d\n%s%s\n", name, R.exit_code, R.out, R.err);
            fail();
        }
        n++;
    }
    assert_true(n >= 2);
    RUN("frobnicate");
    expect_error(2, "unknown command 'frobnicate'");
}

static void test_bad_options(void **st)
{
    (void)st;
    RUN("run", "--bogus");
    expect_error(2, "unknown option '--bogus'");
    RUN("run", "--frames", "abc");
    expect_error(2, "--frames needs a whole number");
    RUN("run", "--frames");
    expect_error(2, "needs a value");
    RUN("run", "--time-scale", "-3");
    expect_error(2, "--time-scale");
    RUN("run", "--log-level", "loud");
    expect_error(2, "--log-level");
    RUN("run", "stray");
    expect_error(2, "unexpected argument 'stray'");
    RUN("bench", "nosuchbench");
    expect_error(2, "unknown benchmark 'nosuchbench'");
    RUN("bench", "analysis", "--click-at", "48"); /* a pass is 48 frames */
    expect_error(2, "--click-at needs 0..47");
    RUN("bench", "analysis", "--click-at", "x");
    expect_error(2, "--click-at needs 0..47");
    RUN("bench", "analysis", "--manual");
    expect_error(2, "--manual needs --click-at F with F > 0");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_config(void **st)
{
    (void)st;
    /* live audit L4: a program without its data said only "cannot read" the shipped
     * file; it now says where the data is looked for and how to point at it */
    char empty[] = "/tmp/cn_cli_nodata_XXXXXX";
    assert_non_null(mkdtemp(empty));
    setenv("CRYONAV_DATA_DIR", empty, 1);
    RUN("run", "--headless", "--frames", "1");
    unsetenv("CRYONAV_DATA_DIR");
    rmdir(empty);
    expect_error(2, "the shipped configuration is missing");
    expect_error(2, "set CRYONAV_DATA_DIR");

    RUN("run", "--headless", "--frames", "1", "--config", "/nonexistent/session.json");
    expect_error(2, "/nonexistent/session.json: cannot read configuration file");

    char path[] = "/tmp/cn_cli_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "{\n  \"source\": \"sim\",\n  \"sim\": {\"seed\": }\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    char want[256];
    snprintf(want, sizeof want, "%s:3:", path);
    expect_error(2, want);
    expect_error(2, "invalid JSON");

    write_file(path, "{\n  \"sim\": {\n    \"depth_mm\": \"deep\"\n  }\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    snprintf(want, sizeof want, "%s:3: sim.depth_mm: expected a number", path);
    expect_error(2, want);

    write_file(path, "{\n  \"source\": \"sim\",\n  \"viewr\": {}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    snprintf(want, sizeof want, "%s:3: viewr: unknown key", path);
    expect_error(2, want);

    /* top-level "probe" and "pipeline" were accepted and read by nothing: a user
     * choosing the cryoprobe there got the default probe's isotherms, unsaid */
    write_file(path, "{\n  \"probe\": \"N2O-14G\"\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    snprintf(want, sizeof want, "%s:2: probe: unknown key", path);
    expect_error(2, want);
    write_file(path, "{\n  \"pipeline\": {\"queue\": 3}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    snprintf(want, sizeof want, "%s:2: pipeline: unknown key", path);
    expect_error(2, want);

    /* the objects of parts this session does not run are checked too (before, a
     * typo in "usb" or "igtl" passed every simulator session, silent) */
    write_file(path, "{\n  \"usb\": {\"gain_db\": 10,\n    \"bogus\": 1}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    expect_error(2, "usb.bogus: unknown key");
    write_file(path, "{\n  \"igtl\": {\"max_clientz\": 4}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    expect_error(2, "igtl.max_clientz: unknown key");

    /* "cycles" alone means custom, as the guide says, though the shipped session
     * names a preset (before: "give either a preset ... not both") */
    write_file(path, "{\n  \"sim\": {\"cycles\": [[5, 0]]}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    expect_error(0, "plan name=custom steps=freeze:5");

    /* an inline token in a file others can read: the warning names that file
     * (before: the shipped config/session.json, whatever the file's mode) */
    write_file(path, "{\n  \"proctor\": {\"token\": \"inlineTokenForTheTest-99999999\"}\n}\n");
    chmod(path, 0644);
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    snprintf(want, sizeof want, "%s holds the proctor token and others can read it", path);
    expect_error(0, want);
    chmod(path, 0600);
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    assert_null(strstr(R.err, "holds the proctor token"));

    /* an unknown sim key lists every known one (before, the last nine were cut) */
    write_file(path, "{\n  \"sim\": {\"colour\": 1}\n}\n");
    RUN("run", "--headless", "--frames", "1", "--no-serve", "--config", path);
    expect_error(2, "interfaces, wall_depth_mm, console)");

    /* a key timed after the session's end is said (before: dropped without a word;
     * the guide's example f@560 was past the default scenario's end) */
    RUN("run", "--headless", "--frames", "3", "--no-serve", "--keys", "f@5000");
    expect_error(0, "1 scripted key never reached: f@5000");

    write_file(path, "{\n  \"source\": \"telepathy\"\n}\n");
    RUN("run", "--headless", "--frames", "1", "--config", path);
    expect_error(2, "unknown source 'telepathy'");
    unlink(path);
}

/* No display: with --no-fallback a clear failure; without it, headless and said:
 * pictures only into the folder asked for (--snapshot), nothing written otherwise. */
static void test_no_display(void **st)
{
    (void)st;
    const char *argv1[] = {CN_CRYONAV_BIN, "run", "--no-fallback", "--frames", "3", "--fast", NULL};
    assert_int_equal(run_prog(argv1, "DISPLAY", NULL, 120, &R), 0);
    expect_error(1, "cannot open a window");
    expect_error(1, "--no-fallback");

    char dir[] = "/tmp/cn_cli_nodisp_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *argv2[] = {CN_CRYONAV_BIN, "run", "--frames", "3", "--fast", "--no-serve", NULL};
    assert_int_equal(run_prog(argv2, "DISPLAY", dir, 120, &R), 0);
    if (R.exit_code != 0)
        print_error("stderr:\n%s\nstdout:\n%s\n", R.err, R.out);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.err, "falling back to headless"));
    assert_non_null(strstr(R.err, "--snapshot DIR"));
    assert_null(strstr(R.out, "snapshots: "));
    char png[512];
    snprintf(png, sizeof png, "%s/cryonav-snapshots", dir);
    assert_int_equal(access(png, F_OK), -1); /* no folder nobody asked for */
    const char *argv3[] = {CN_CRYONAV_BIN, "run", "--frames", "3", "--fast", "--no-serve",
                           "--snapshot", "shots", NULL};
    assert_int_equal(run_prog(argv3, "DISPLAY", dir, 120, &R), 0);
    if (R.exit_code != 0)
        print_error("stderr:\n%s\nstdout:\n%s\n", R.err, R.out);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "snapshots: "));
    assert_non_null(strstr(R.out, "shots/snapshot-"));
    snprintf(png, sizeof png, "%s/shots", dir);
    assert_int_equal(access(png, F_OK), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A replayed file that states no pixel size (PLUS's bone scan: no ImageToProbe, no
 * ElementSpacing) is shown at 1 mm per pixel, 616 mm deep: the replay now says so and
 * how to give one (twenty-seventh session; before, only `cryonav info` did). With
 * --spacing-mm, or a file that states one (the prostate phantom's ElementSpacing), it
 * says nothing of the kind. */
static void test_replay_without_pixel_size(void **st)
{
    (void)st;
    char bone[600], prostate[600];
    snprintf(bone, sizeof bone, "%s/plus/BoneUltrasound_L14.igs.mha", CN_SHARED_DATA_DIR);
    snprintf(prostate, sizeof prostate, "%s/plus/Prostate10_video.igs.mhd", CN_SHARED_DATA_DIR);
    if (access(bone, R_OK) != 0 || access(prostate, R_OK) != 0) {
        print_message("skipped: %s is absent\n", bone);
        skip();
    }
    RUN("replay", bone, "--headless", "--frames", "2", "--no-serve");
    assert_int_equal(R.exit_code, 0);
    const char *w = strstr(R.err, "BoneUltrasound_L14.igs.mha states no pixel size");
    if (!w)
        fail_msg("no warning about the pixel size:\n%s", R.err);
    assert_non_null(strstr(w, "616 mm deep"));
    assert_non_null(strstr(w, "--spacing-mm"));
    RUN("replay", bone, "--headless", "--frames", "2", "--no-serve", "--spacing-mm", "0.1");
    assert_int_equal(R.exit_code, 0);
    assert_null(strstr(R.err, "states no pixel size"));
    RUN("replay", prostate, "--headless", "--frames", "2", "--no-serve");
    assert_int_equal(R.exit_code, 0);
    assert_null(strstr(R.err, "states no pixel size"));
    /* --frames N with snapshots, offline: N frames of the file (before, the frames drawn
     * were counted, and 271 were replayed for --frames 60: the thirty-sixth session's
     * review) */
    char nwire[600], snaps[700];
    snprintf(nwire, sizeof nwire, "%s/plus/NwirePhantomFreehand.igs.mha", CN_SHARED_DATA_DIR);
    snprintf(snaps, sizeof snaps, "%s/cli_frames_snaps", CN_BINARY_DIR);
    RUN("replay", nwire, "--headless", "--speed", "0", "--frames", "20", "--no-serve",
        "--spacing-mm", "0.2", "--snapshot", snaps, "--snapshot-every", "7");
    assert_int_equal(R.exit_code, 0);
    if (!strstr(R.out, "frames acquired 20 ") && !strstr(R.err, "frames acquired 20 "))
        fail_msg("--frames 20 with snapshots:\n%s\n%s", R.out, R.err);
    /* --paused with no window: nothing could ever play it (before, it waited for ever,
     * saying nothing: the thirty-sixth session's review) */
    RUN("replay", prostate, "--headless", "--paused", "--no-serve");
    expect_error(2, "--paused waits for the window's keys");
}

/* A real Slicer file whose frame is wider than 1024 px (ColorNrrdSample, 1152 x 648
 * RGB): the replay analyses it and records it whole. Before, every frame pool was
 * 1024 x 1024 and the replay failed on its first frame ("does not fit the frame
 * pool"): a frame grabber's 1280 x 720 or 1920 x 1080 would have failed the same way. */
static void test_replay_large_frame(void **st)
{
    (void)st;
    char color[600], rec[64];
    snprintf(color, sizeof color, "%s/plus/ColorNrrdSample.igs.nrrd", CN_SHARED_DATA_DIR);
    if (access(color, R_OK) != 0) {
        print_message("skipped: %s is absent\n", color);
        skip();
    }
    snprintf(rec, sizeof rec, "/tmp/cn_cli_large_%d.igs.mha", (int)getpid());
    RUN("replay", color, "--headless", "--speed", "0", "--no-serve", "--record", rec,
        "--spacing-mm", "0.1");
    if (R.exit_code != 0 || strstr(R.err, "does not fit"))
        fail_msg("exit %d:\n%s%s", R.exit_code, R.out, R.err);
    assert_non_null(strstr(R.out, "frames acquired 1 analysed 1"));
    RUN("info", rec);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "size 1152 648"));
    unlink(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_no_display),
        cmocka_unit_test(test_replay_without_pixel_size),
        cmocka_unit_test(test_replay_large_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
