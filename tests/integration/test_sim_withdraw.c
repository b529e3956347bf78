/*
 * test_sim_withdraw.c - a probe drawn back while ice nobody keyed is still being watched
 * (before ICE SEEN), on a simulated session run by the real program (cryonav run
 * --headless --fast --record) and checked from its recording against the simulator's
 * true tip.
 *
 * The console is silent (no link: nobody keys the freeze), freezes 4 s and withdraws the
 * probe at once over 6 s; the ice stays in the tissue. While the watch fits its ball the
 * tip is hidden, held at the last reliable one. Before, the watch counted as ice about the
 * tip wherever the shaft ended: the probe pulled back past its ball stayed drawn at the
 * old tip, marked hidden, 6-12 mm from the true one, until its line had gone back 2 x the
 * active length + 4 mm (review 42 F3; up to 15 s once the probe was no longer found).
 * Now a shaft that ends 3 mm past the ball's near end is a probe drawn back: no frame
 * shows a hidden tip once the true tip is 10 mm back from where it froze, tracked or from
 * the image alone (test_withdrawn_under_the_watch). Short of that the tip is drawn hidden at
 * the rest, up to 7.6 mm deeper than it is at 8.7 mm back (review 45 F1, left: while the
 * tip is inside the ice, 4.4 mm back as it reaches the ice's near end, the image cannot
 * show it move at all).
 *
 * The same watch holds the tip where the probe came to rest: a freeze keyed late (f under
 * ICE SEEN) in a session without a tracked cryoprobe anchored its zone 4.9 mm short of the
 * tip, on the shaft's end at the new ice (test_late_key_without_tracker).
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_util.h"
#include "seqio/seqio.h"

static run_result R;

static int parse_doubles(const char *s, double *v, int max)
{
    int n = 0;
    for (char *end; n < max; s = end) {
        v[n] = strtod(s, &end);
        if (end == s)
            break;
        n++;
    }
    return n;
}

/* Copies the recording src to dst without the tracked cryoprobe's transform and without
 * what CryoNav wrote but its events (the operator's keys) and the simulator's truth: the
 * session a probe without a tracker records. The header is text up to ElementDataFile. */
static void strip_cryoprobe(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char line[65536];
    bool body = false;
    while (!body && fgets(line, sizeof line, in)) {
        const char *cn = strstr(line, "_CryoNav");
        const bool drop = strstr(line, "CryoprobeToTracker") ||
                          (strncmp(line, "Seq_Frame", 9) == 0 && cn &&
                           strncmp(cn, "_CryoNavEvents ", 15) != 0 &&
                           strncmp(cn, "_CryoNavTruth ", 14) != 0);
        if (!drop)
            fputs(line, out);
        body = strncmp(line, "ElementDataFile", 15) == 0;
    }
    assert_true(body);
    size_t n;
    while ((n = fread(line, 1, sizeof line, in)) > 0)
        assert_int_equal(fwrite(line, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The checks of a withdrawal on one recording (what: said in the output). */
static void withdraw_check(const char *file, const char *what)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(r)->n_frames;
    double rest[2] = {NAN, NAN};
    int hidden_while_held = 0, back_frames = 0, hidden_back = 0, shown_back = 0;
    double worst_back = 0, worst_rest = 0;
    int short_rest = 0; /* hidden at rest more than 1.5 mm from the true tip */
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *nd = cn_seq_field_find(fl, nf, "CryoNavNeedle");
        double tv[14], nv[7];
        assert_non_null(tr);
        assert_non_null(nd);
        assert_true(parse_doubles(tr, tv, 14) >= 12);
        const int nn = parse_doubles(nd, nv, 7);
        /* truth: phase (2: freeze), ..., needle in view (3), tip x y (10, 11) */
        if (isnan(rest[0]) && tv[0] == 2) {
            rest[0] = tv[10];
            rest[1] = tv[11];
        }
        const bool shown = nn >= 7 && nv[0] == 1, hidden = shown && nv[6] == 1;
        if (isnan(rest[0]) || tv[3] != 1)
            continue;
        const double back = hypot(tv[10] - rest[0], tv[11] - rest[1]);
        if (back < 1.0 && hidden) { /* the freeze's ice hides the tip at rest */
            hidden_while_held++;
            const double e = hypot(nv[2] - tv[10], nv[3] - tv[11]);
            worst_rest = fmax(worst_rest, e);
            short_rest += e > 1.5;
        }
        if (back < 10.0)
            continue;
        back_frames++;
        hidden_back += hidden;
        if (shown) {
            shown_back++;
            const double e = hypot(nv[2] - tv[10], nv[3] - tv[11]);
            print_message("  t %d: true tip %.1f mm back; shown %s %.1f mm from it\n", i, back,
                          hidden ? "hidden" : "seen", e);
            if (hidden && e > worst_back)
                worst_back = e;
        }
    }
    cn_seq_reader_close(r);
    print_message("%s: frames with the tip hidden at rest: %d, %d over 1.5 mm off (worst %.1f); "
                  ">= 10 mm drawn back: %d frames, %d shown, %d of them hidden (worst %.1f mm "
                  "off)\n", what, hidden_while_held, short_rest, worst_rest, back_frames,
                  shown_back, hidden_back, worst_back);
    /* the scene is what the check needs: the watch hid the resting tip, and the probe
     * went back past its ball while in view */
    assert_true(hidden_while_held >= 4);
    assert_true(back_frames >= 4);
    assert_int_equal(hidden_back, 0);
    /* held where the probe came to rest, not at the new ice's near side (4.9 mm short on
     * all 15 frames before); tracked, the pose is taken from the watch's second frame */
    assert_true(short_rest <= 1);
}

static void test_withdrawn_under_the_watch(void **state)
{
    (void)state;
    char dir[] = "/tmp/cn_withdraw_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256];
    snprintf(cfg, sizeof cfg, "%s/wd.json", dir);
    snprintf(file, sizeof file, "%s/wd.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 6,"
               " \"release_thaw_s\": 0, \"console\": \"silent\", \"cycles\": [[4, 0]]}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve",
                          "--config", cfg, "--record", file, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav run: %s", R.err);

    withdraw_check(file, "tracked");
    /* the same frames without the tracked cryoprobe: the tip from the image alone */
    char img[256], out[256];
    snprintf(img, sizeof img, "%s/wd_image_only.igs.mha", dir);
    snprintf(out, sizeof out, "%s/wd_replayed.igs.mha", dir);
    strip_cryoprobe(file, img);
    const char *rep[] = {CN_CRYONAV_BIN, "replay", img, "--speed", "0", "--headless",
                         "--no-serve", "--record", out, NULL};
    assert_int_equal(run_prog(rep, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav replay: %s", R.err);
    withdraw_check(out, "image only");
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* The same scene with a console that tells CryoNav its freeze and the withdrawal: the same
 * checks hold where the phases are counted (the tip held at rest in the freeze, no hidden tip
 * 10 mm back). Known and not asserted (docs/validation.md, forty-second session): from the
 * told withdrawal the shaft's end at the ice is the tip, seen, 4.8-6.0 mm short of the probe
 * that has not moved, for 5 frames; and once the probe is out, a line on the ice's rim is
 * drawn as the needle (review 45 F2). */
static void test_withdrawal_told(void **state)
{
    (void)state;
    char dir[] = "/tmp/cn_withdraw_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256];
    snprintf(cfg, sizeof cfg, "%s/wd.json", dir);
    snprintf(file, sizeof file, "%s/wd.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 6,"
               " \"release_thaw_s\": 0, \"cycles\": [[4, 0]]}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve",
                          "--config", cfg, "--record", file, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav run: %s", R.err);
    withdraw_check(file, "told, tracked");
    char img[256], out[256];
    snprintf(img, sizeof img, "%s/wd_image_only.igs.mha", dir);
    snprintf(out, sizeof out, "%s/wd_replayed.igs.mha", dir);
    strip_cryoprobe(file, img);
    const char *rep[] = {CN_CRYONAV_BIN, "replay", img, "--speed", "0", "--headless",
                         "--no-serve", "--record", out, NULL};
    assert_int_equal(run_prog(rep, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav replay: %s", R.err);
    withdraw_check(out, "told, image only");
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* A freeze nobody keyed, keyed late (f under ICE SEEN), with no tracked cryoprobe: the
 * zone is anchored on the tip found in the image, which the frames between the freeze's
 * start and the watch's first ball had walked back along the shaft to the new ice's near
 * side. The zone sat 4.9 mm short of the probe's tip, off the ice, and was reported
 * unverified. Now the watch's resting tip is held: within 1.5 mm of the true one. */
static void late_key(const char *key, double *off_mm, int *ice_frames)
{
    char dir[] = "/tmp/cn_latekey_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256], img[256], out[256];
    snprintf(cfg, sizeof cfg, "%s/uk.json", dir);
    snprintf(file, sizeof file, "%s/uk.igs.mha", dir);
    snprintf(img, sizeof img, "%s/uk_image_only.igs.mha", dir);
    snprintf(out, sizeof out, "%s/uk_replayed.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2,"
               " \"console\": \"silent\", \"cycles\": [[40, 10]]}}\n");
    fclose(f);
    const char *run[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve",
                         "--config", cfg, "--keys", key, "--frames", "100",
                         "--record", file, NULL};
    assert_int_equal(run_prog(run, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav run: %s", R.err);
    strip_cryoprobe(file, img);
    const char *rep[] = {CN_CRYONAV_BIN, "replay", img, "--speed", "0", "--headless",
                         "--no-serve", "--record", out, NULL};
    assert_int_equal(run_prog(rep, NULL, NULL, 300, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav replay: %s", R.err);
    const char *at = strstr(R.err, "anchored on the needle found in the image (tip ");
    assert_non_null(at);
    double x = NAN, y = NAN;
    assert_int_equal(sscanf(at + strlen("anchored on the needle found in the image (tip "),
                            "%lf, %lf", &x, &y), 2);
    /* the true tip at the freeze, from the recording's truth */
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    double tip[2] = {NAN, NAN};
    for (int i = 0; i < cn_seq_reader_info(r)->n_frames && isnan(tip[0]); i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        double tv[14];
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        if (tr && parse_doubles(tr, tv, 14) >= 12 && tv[0] == 2) {
            tip[0] = tv[10];
            tip[1] = tv[11];
        }
    }
    cn_seq_reader_close(r);
    /* the frames of the replay whose ice front was found about the probe */
    r = cn_seq_reader_open(out, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    *ice_frames = 0;
    for (int i = 0; i < cn_seq_reader_info(r)->n_frames; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ice = cn_seq_field_find(fl, nf, "CryoNavIce");
        *ice_frames += ice && ice[0] == '1';
    }
    cn_seq_reader_close(r);
    *off_mm = hypot(x - tip[0], y - tip[1]);
    print_message("%s: zone anchored at (%.1f, %.1f) mm, the true tip at (%.1f, %.1f): %.1f mm "
                  "off; the ice found on %d frames\n", key, x, y, tip[0], tip[1], *off_mm,
                  *ice_frames);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* f under ICE SEEN: the freeze dated back to the ice's first sight (4.9 mm short before) */
static void test_late_key_without_tracker(void **state)
{
    (void)state;
    double off;
    int ice;
    late_key("f@20", &off, &ice);
    assert_non_null(strstr(R.err, "freeze: no tracked cryoprobe"));
    assert_true(off <= 1.5);
    assert_true(ice >= 40);
}

/* f a second after the console started (the freeze began at 6 s): the first ice had walked
 * the tip back 3.3 mm already, the zone was anchored there, and the ice, looked for about
 * that tip, was found on none of the freeze's 72 frames */
static void test_key_a_second_late_without_tracker(void **state)
{
    (void)state;
    double off;
    int ice;
    late_key("f@7", &off, &ice);
    assert_true(off <= 1.5);
    assert_true(ice >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_withdrawn_under_the_watch),
        cmocka_unit_test(test_withdrawal_told),
        cmocka_unit_test(test_late_key_without_tracker),
        cmocka_unit_test(test_key_a_second_late_without_tracker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
