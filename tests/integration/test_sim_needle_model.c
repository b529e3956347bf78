/*
 * test_sim_needle_model.c - the skin alarm on a small simulated scene follows the
 * ice that is there, checked from a recording of the real program:
 *
 *   cryonav run --headless --fast --config small.json --record FILE
 *
 * small.json: 256 x 192 frames, a 5 s approach, one 150 s freeze, 30 s of
 * withdrawal, and a configuration that names another probe than the simulator's
 * needle ("thermal": {"probe": "17G-argon-2cm"}, the code's default: what a session
 * file without a "thermal" object got before configurations were layered). The
 * model modelled a 2 cm active segment around the 6 mm one the simulator freezes
 * with: its 0 C surface reached 1 mm under the skin while the true ice stayed 8-12 mm
 * deep, and ICE NEAR SKIN was raised from 11 s into the freeze and stayed on after
 * the probe left. The session now gives the model the simulated needle's geometry.
 *
 *  - no frame carries the skin alarm while the true ice is farther than the limit
 *    plus the hysteresis (5.5 mm) from the skin, before or after the withdrawal;
 *  - with the nerve at 10 mm the true ice does come within 5 mm of the skin, and the
 *    alarm is raised on those frames;
 *  - a replay of that recording (`cryonav replay FILE --speed 0 --config small.json
 *    --record OUT`) models the needle the recording was made with: the recording
 *    carries it as a "probe name=... outer_mm=... active_mm=..." event, and the
 *    replay took the configured 2 cm probe before (the false alarm came back on
 *    ~340 of ~370 frames);
 *  - a probe named with spaces is read back from the recording, quoted (as written
 *    now) or bare (as written before).
 */
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

#include "run_util.h"
#include "seqio/seqio.h"
#include "../test_cases.h"

static run_result R;

typedef struct {
    int frames, withdrawn;
    int false_alarms;          /* alarm while the true ice is > 5.5 mm from the skin */
    int alarms_after;          /* alarm on a frame after the withdrawal */
    int near, near_alarmed;    /* true ice < 4.5 mm from the skin, and of those alarmed */
    double true_top_min;
} tally;

static void tally_file(const char *file, tally *t);

/* Alarm frames and the first "probe ..." event of a recording. */
static int alarms_and_probe(const char *file, char *probe, size_t len)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    int n = cn_seq_reader_info(r)->n_frames, alarmed = 0;
    probe[0] = 0;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        if (al && (strtoul(al, NULL, 16) & 1u)) /* hex */
            alarmed++;
        const char *p = ev ? strstr(ev, "probe name=") : NULL;
        if (p && !probe[0]) {
            size_t k = strcspn(p, ";@");
            snprintf(probe, len, "%.*s", (int)k, p);
        }
    }
    cn_seq_reader_close(r);
    return alarmed;
}

/* Runs the small scene; with keep_dir the folder (small.json, small.igs.mha) stays. */
static void run_scene_in(const char *extra, tally *t, char *keep_dir)
{
    char dir[] = "/tmp/cn_sim_needle_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256];
    snprintf(cfg, sizeof cfg, "%s/small.json", dir);
    snprintf(file, sizeof file, "%s/small.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
            " \"thermal\": {\"probe\": \"17G-argon-2cm\"},\n"
            " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,\n"
            "         \"fps\": 2, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 30,\n"
            "         \"protocol\": \"custom\", \"cycles\": [[150, 0]]%s}}\n",
            extra);
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config", cfg,
                          "--record", file, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    tally_file(file, t);
    if (keep_dir) {
        strcpy(keep_dir, dir);
        return;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void run_scene(const char *extra, tally *t)
{
    run_scene_in(extra, t, NULL);
}

/* The default scene, run once per process and kept to its end: the alarm's tally and
 * the replay of its recording are checks of one session (one ctest entry runs both
 * tests; a run of this scene is ~30 s under the sanitizers). dir: its folder. */
static char default_dir[64];
static tally default_tally;

static void remove_at_exit(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void remove_default_dir(void)
{
    remove_at_exit(default_dir);
}

static void default_scene(tally *t, char *dir)
{
    if (!default_dir[0]) {
        char kept[64];
        run_scene_in("", &default_tally, kept);
        strcpy(default_dir, kept);
        atexit(remove_default_dir);
    }
    *t = default_tally;
    if (dir)
        strcpy(dir, default_dir);
}

static void tally_file(const char *file, tally *t)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    memset(t, 0, sizeof *t);
    t->true_top_min = INFINITY;
    int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *an = cn_seq_field_find(fl, nf, "CryoNavAnalysed");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        if (!an || !tr || !al || atoi(an) != 1)
            continue;
        double v[13];
        int used = 0, k = 0;
        const char *p = tr;
        while (k < 13 && sscanf(p, "%lf%n", &v[k], &used) == 1) {
            p += used;
            k++;
        }
        assert_int_equal(k, 13);
        bool ice = v[4] != 0;
        double top = ice ? v[12] : INFINITY; /* the true rim's shallowest point = distance to skin */
        bool alarm = (strtoul(al, NULL, 16) & 1u) != 0; /* CN_ALARM_ICE_NEAR_SKIN */
        t->frames++;
        if ((int)v[0] == 4) { /* CN_PHASE_WITHDRAWN */
            t->withdrawn++;
            t->alarms_after += alarm;
        }
        if (alarm && top > 5.5)
            t->false_alarms++;
        if (top < 4.5) {
            t->near++;
            t->near_alarmed += alarm;
        }
        if (top < t->true_top_min)
            t->true_top_min = top;
    }
    cn_seq_reader_close(r);
}

/* The default scene (nerve 18 mm deep): the true ice stays 8 mm or more below the
 * skin, so the alarm never fires, during the freeze or after the withdrawal. */
static void test_no_false_skin_alarm(void **st)
{
    (void)st;
    tally t;
    default_scene(&t, NULL);
    print_message("  %d analysed frames (%d withdrawn): true ice >= %.1f mm from the skin; "
                  "%d frames alarmed while it was > 5.5 mm, %d alarmed after the withdrawal\n",
                  t.frames, t.withdrawn, t.true_top_min, t.false_alarms, t.alarms_after);
    assert_true(t.frames > 300);
    assert_true(t.withdrawn >= 40);
    assert_true(t.true_top_min > 6);
    assert_int_equal(t.false_alarms, 0);
    assert_int_equal(t.alarms_after, 0);
}

/* The nerve at 10 mm: the true ice comes within 4.5 mm of the skin, and the alarm
 * is on (nearly) whenever it does. */
static void test_true_skin_alarm(void **st)
{
    (void)st;
    tally t;
    run_scene(", \"nerve_depth_mm\": 10", &t);
    print_message("  %d analysed frames: true ice down to %.1f mm from the skin; %d frames "
                  "within 4.5 mm, %d of them alarmed\n",
                  t.frames, t.true_top_min, t.near, t.near_alarmed);
    assert_true(t.near > 100);
    assert_true(t.near_alarmed >= t.near * 95 / 100);
}

/* A replay of the default scene's recording, with the same configuration naming
 * the other probe, models the recorded needle: no skin alarm, as in the session. */
static void test_replay_models_recorded_needle(void **st)
{
    (void)st;
    tally t;
    char dir[64];
    default_scene(&t, dir); /* the session test_no_false_skin_alarm checks */
    assert_int_equal(t.false_alarms, 0);
    char cfg[128], file[128], out[128], probe[160], probe2[160];
    snprintf(cfg, sizeof cfg, "%s/small.json", dir);
    snprintf(file, sizeof file, "%s/small.igs.mha", dir);
    snprintf(out, sizeof out, "%s/replayed.igs.mha", dir);
    int live_alarms = alarms_and_probe(file, probe, sizeof probe);
    print_message("  session: %d alarm frames, recorded '%s'\n", live_alarms, probe);
    assert_int_equal(live_alarms, 0);
    const char *argv[] = {CN_CRYONAV_BIN, "replay", file, "--speed", "0", "--headless", "--no-serve",
                          "--config", cfg, "--record", out, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    int replay_alarms = alarms_and_probe(out, probe2, sizeof probe2);
    print_message("  replay: %d alarm frames, recorded '%s'\n", replay_alarms, probe2);
    assert_int_equal(replay_alarms, 0);
    assert_non_null(strstr(R.err, "recorded probe"));
    /* the simulator's needle (1.5 mm, 6 mm active) is named in the recording */
    assert_non_null(strstr(probe, "outer_mm=1.50"));
    assert_non_null(strstr(probe, "active_mm=6.0"));
    assert_string_equal(probe, probe2); /* written once again, by the replay's session */
    assert_int_equal(remove(out), 0); /* the scene's folder goes at the end (default_scene) */
}

/* A probe named with spaces (a catalogue's name, e.g. "Iovera Smart Tip 190"): the
 * replay reads the recorded probe back, from the quoted form the session writes
 * now and from the bare form it wrote before. A short real recording has its
 * probe event rewritten to each form and is replayed by the real program. Failed
 * before: "recorded probe event ... not understood", and the replay modelled the
 * configured probe instead of the recorded one. */
static void test_replay_reads_probe_names(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_probe_name_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], edited[128];
    snprintf(file, sizeof file, "%s/short.igs.mha", dir);
    snprintf(edited, sizeof edited, "%s/named.igs.mha", dir);
    const char *rec[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--frames", "8",
                         "--record", file, NULL};
    assert_int_equal(run_prog(rec, NULL, NULL, 120, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    char *ev = strstr(b, "system:probe name=");
    assert_non_null(ev);
    ev += 7;                               /* the event's text */
    size_t old_len = strcspn(ev, ";\n");   /* up to the next event or the line's end */
    const char *forms[][2] = {
        {"probe name=\"Iovera Smart Tip 190\" outer_mm=1.20 active_mm=4.0", "Iovera Smart Tip 190"},
        {"probe name=Iovera Smart Tip 190 outer_mm=1.20 active_mm=4.0", "Iovera Smart Tip 190"},
    };
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        f = fopen(edited, "wb");
        assert_non_null(f);
        fwrite(b, 1, (size_t)(ev - b), f);
        fputs(forms[k][0], f);
        fwrite(ev + old_len, 1, (size_t)(n - (ev + old_len - b)), f);
        fclose(f);
        const char *rp[] = {CN_CRYONAV_BIN, "replay", edited, "--speed", "0", "--headless", "--no-serve",
                            NULL};
        assert_int_equal(run_prog(rp, NULL, NULL, 120, &R), 0);
        if (R.exit_code != 0)
            fail_msg("exit %d: %s", R.exit_code, R.err);
        char want[160];
        snprintf(want, sizeof want, "the model takes the recorded probe %s (1.20 mm, 4.0 mm active)",
                 forms[k][1]);
        const char *line = strstr(R.err, "recorded probe");
        print_message("  %s\n    -> %.*s\n", forms[k][0], line ? (int)strcspn(line, "\n") : 4,
                      line ? line : "none");
        assert_non_null(strstr(R.err, want));
    }
    free(b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Freeze frames a minute or more into the freeze (fps 2, freeze from 6 s): how many,
 * how many carry a coverage, how many the NO ICE SEEN alarm (0x20). */
static void unverified_tally(const char *file, int *frames, int *covered, int *flagged)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    *frames = *covered = *flagged = 0;
    int n = cn_seq_reader_info(r)->n_frames;
    for (int i = (6 + 60) * 2; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        const char *cov = cn_seq_field_find(fl, nf, "CryoNavCoverage");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        if (!ph || strncmp(ph, "FREEZE", 6) != 0)
            continue;
        (*frames)++;
        *covered += cov && atof(cov) >= 0;
        *flagged += al && (strtoul(al, NULL, 16) & 0x20u) != 0; /* hex */
    }
    cn_seq_reader_close(r);
}

/* Thermal audit F1: a freeze that made practically no ice (0.16 mm after 6 min,
 * inside the needle) showed a 6.7 mm zone, a -20 C zone over the nerve and 79 %
 * coverage, and nothing warned. The rim is the 0 C edge (thermal.md): a model ice
 * ball 2 mm beyond the wall with no rim seen is unverified, its coverage withheld,
 * NO ICE SEEN raised. With ice there (the default scene) it never is. */
static void test_no_ice_zone_unverified(void **st)
{
    (void)st;
    char dir[64];
    tally t;
    run_scene_in(", \"ice_k_mm_per_sqrt_s\": 0.01, \"ice_rmax_mm\": 0.5, "
                 "\"needle_target_offset_mm\": 0, \"nerve_diameter_mm\": 3",
                 &t, dir);
    char file[128];
    snprintf(file, sizeof file, "%s/small.igs.mha", dir);
    int frames, covered, flagged;
    unverified_tally(file, &frames, &covered, &flagged);
    print_message("no ice: %d freeze frames after 60 s, %d with a coverage, %d flagged\n", frames,
                  covered, flagged);
    assert_true(frames > 100);
    assert_int_equal(covered, 0);
    assert_int_equal(flagged, frames);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    run_scene_in(", \"needle_target_offset_mm\": 0, \"nerve_diameter_mm\": 3", &t, dir);
    snprintf(file, sizeof file, "%s/small.igs.mha", dir);
    unverified_tally(file, &frames, &covered, &flagged);
    print_message("ice: %d freeze frames after 60 s, %d with a coverage, %d flagged\n", frames,
                  covered, flagged);
    assert_true(frames > 100);
    assert_true(covered > frames / 2);
    assert_int_equal(flagged, 0);
    assert_null(strstr(R.err, "the zone is uncertain")); /* this ice the model follows */
    assert_null(strstr(R.err, "fit to the ice is suspended")); /* --fast: every frame fitted */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Thermal audit F3: ice well outside what the calibrated ensemble spans (a rim
 * 5.9 mm beyond the model's 0 C curve) left the curves contradicting the image,
 * without a word. The log and the screen now say the zone is uncertain. */
static void test_zone_uncertain_when_ice_unlike_model(void **st)
{
    (void)st;
    tally t;
    run_scene(", \"ice_k_mm_per_sqrt_s\": 2.0, \"ice_rmax_mm\": 15", &t);
    const char *w = strstr(R.err, "the zone is uncertain");
    if (!w)
        fail_msg("no warning:\n%s", R.err);
    double mm = 0;
    const char *p = strstr(R.err, "the ice seen is ");
    assert_non_null(p);
    sscanf(p, "the ice seen is %lf", &mm);
    print_message("ice 2x the model's: %.1f mm from its best fit\n", mm);
    assert_true(mm > 1.5);
}

/* Thermal audit F5: the probe frozen in place through a thaw and frozen again
 * (stump-6-4-6) was judged by one frame's tracked pose: with 1 mm of tracker noise
 * it read 4.2 mm off, "a new spot", a 3-D model with a cold source where the probe
 * never was. The re-freeze is judged by the thaw's mean tip now. */
static void test_refreeze_in_place_is_same_spot(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_refreeze_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/n.json", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 2, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2,"
               " \"protocol\": \"stump-6-4-6\", \"tracker_noise_mm\": 1.0}}\n");
    fclose(f);
    /* to 24 s into freeze 2 (it begins at 606 s) */
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config",
                          cfg, "--frames", "1260", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.err, "freeze_start cycle=2"));
    if (strstr(R.err, "new spot"))
        fail_msg("a phantom new spot:\n%s", R.err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Teaching audit T11: a re-freeze opened with NO ICE SEEN (11.7 s of a 20 s freeze 2, the
 * coverage withheld) while the ice was plainly on the image: the model's ice left by
 * freeze 1 was already 3.7 mm, and no rim had been seen "in this freeze" yet. Ice a
 * seen freeze left is verified; only what a re-freeze adds must be seen. */
static void test_refreeze_not_unverified(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_refreeze2_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256];
    snprintf(cfg, sizeof cfg, "%s/r.json", dir);
    snprintf(file, sizeof file, "%s/r.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 6, \"withdraw_s\": 2,"
               " \"release_thaw_s\": 5, \"protocol\": \"custom\","
               " \"cycles\": [[30, 15], [20, 0]]}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config",
                          cfg, "--record", file, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    int frames[3] = {0}, flagged[3] = {0}, covered[3] = {0};
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        const char *cy = cn_seq_field_find(fl, nf, "CryoNavCycle");
        const char *cov = cn_seq_field_find(fl, nf, "CryoNavCoverage");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const int c = cy ? atoi(cy) : 0;
        if (!ph || strncmp(ph, "FREEZE", 6) != 0 || c < 1 || c > 2)
            continue;
        frames[c]++;
        flagged[c] += al && (strtoul(al, NULL, 16) & 0x20u) != 0;
        covered[c] += cov && atof(cov) >= 0;
    }
    cn_seq_reader_close(r);
    print_message("freeze 1: %d frames, %d flagged NO ICE SEEN, %d with a coverage; freeze 2: "
                  "%d, %d, %d\n", frames[1], flagged[1], covered[1], frames[2], flagged[2],
                  covered[2]);
    assert_true(frames[1] > 100 && frames[2] > 60);
    assert_int_equal(flagged[1], 0);
    assert_int_equal(flagged[2], 0);
    assert_true(covered[2] > frames[2] * 3 / 4);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Thermal audit F9: the operator keys the freeze stop at 60 s while the simulated
 * console freezes on to 156 s. The model thaws; the ice grows on the image (4.7 to
 * 6.3 mm). Before, nothing said so: the ice detector was blind in a thaw. Now the
 * rim is watched in the thaw and ICE GROWING IN THAW (0x40) is raised once the rim
 * stands 1 mm beyond the thaw's first rim and the model for 5 s, and said in the
 * log; a thaw keyed when the gas stops raises nothing. */
/* The small scene at 4 frames a second (the default protocol) into dir/name.igs.mha
 * (file), keyed by keys (NULL: by the console alone). */
static void record_small4(const char *dir, const char *name, const char *keys, char *file,
                          size_t len)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/%s.json", dir, name);
    snprintf(file, len, "%s/%s.igs.mha", dir, name);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config",
                          cfg, "--record", file, keys ? "--keys" : NULL, keys, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
}

/* That scene with nobody keying, run once per process and kept to its end (R as that
 * run left it): the console's own thaw of test_ice_growing_in_thaw_said is the first
 * of test_fast_runs_repeat's two runs (one ctest entry runs both; ~40 s a run under
 * the sanitizers). */
static char unkeyed_dir[64], unkeyed_file[300];
static run_result unkeyed_R;

static void remove_unkeyed_dir(void)
{
    remove_at_exit(unkeyed_dir);
}

static void small4_unkeyed(char *file, size_t len)
{
    if (!unkeyed_file[0]) {
        char dir[] = "/tmp/cn_unkeyed4_XXXXXX";
        assert_non_null(mkdtemp(dir));
        strcpy(unkeyed_dir, dir);
        atexit(remove_unkeyed_dir);
        char rec[300];
        record_small4(dir, "normal", NULL, rec, sizeof rec);
        unkeyed_R = R;
        strcpy(unkeyed_file, rec);
    }
    R = unkeyed_R;
    snprintf(file, len, "%s", unkeyed_file);
}

static int thaw_run(const char *dir, const char *name, const char *keys, int counts[4])
{
    char file[300];
    if (keys)
        record_small4(dir, name, keys, file, sizeof file);
    else
        small4_unkeyed(file, sizeof file);
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    /* thaw frames, of them flagged; flagged frames outside a thaw; thaw frames
     * from 115 s to 155 s (the console still freezing, the ice 0.9-1.7 mm beyond) */
    memset(counts, 0, 4 * sizeof *counts);
    int late = 0, late_flagged = 0;
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const bool flag = al && (strtoul(al, NULL, 16) & 0x40u) != 0;
        const bool thaw = ph && strncmp(ph, "THAW", 4) == 0;
        const double t = ts ? atof(ts) : -1;
        counts[0] += thaw;
        counts[1] += thaw && flag;
        counts[2] += !thaw && flag;
        if (thaw && t >= 115 && t <= 155) {
            late++;
            late_flagged += flag;
        }
    }
    cn_seq_reader_close(r);
    counts[3] = late > 0 && late_flagged == late;
    return late;
}

static void test_ice_growing_in_thaw_said(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_thawgrow_XXXXXX";
    assert_non_null(mkdtemp(dir));
    int c[4];
    int late = thaw_run(dir, "early", "f@60", c);
    print_message("freeze stop keyed at 60 s, the console freezing to 156 s: %d thaw frames, %d "
                  "flagged ICE GROWING IN THAW, %d flagged outside a thaw; 115-155 s all "
                  "flagged: %d (%d frames)\n", c[0], c[1], c[2], c[3], late);
    assert_true(late > 150);
    assert_int_equal(c[3], 1);
    assert_int_equal(c[2], 0);
    assert_non_null(strstr(R.err, "the image shows the ice growing"));
    assert_non_null(strstr(R.err, "is the gas still on?"));
    /* the same scene keyed by the simulator's console: its thaw raises nothing (the run
     * is kept for test_fast_runs_repeat) */
    thaw_run(dir, "normal", NULL, c);
    print_message("the console's own freeze stop: %d thaw frames, %d flagged, %d outside\n", c[0],
                  c[1], c[2]);
    assert_true(c[0] > 20);
    assert_int_equal(c[1] + c[2], 0);
    assert_null(strstr(R.err, "ice growing"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A second freeze the console started in the thaw, nobody keying it (a silent console):
 * the thaw's ice shrank, then grew again. ICE GROWING IN THAW came 88 s into a 120 s
 * freeze, since the guards for "the gas still on" (the rim back near its largest, and
 * 1 mm beyond the model's lagging 0 C) held it back (review 39b F1). Now it comes within
 * seconds of the regrowth, and not before the second freeze. */
static void test_unkeyed_second_freeze_said(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_refreeze_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256], err[512];
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    snprintf(file, sizeof file, "%s/r.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 4, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2,"
               " \"cycles\": [[120, 60], [120, 0]], \"console\": \"silent\"}}\n");
    fclose(f);
    /* f pressed 16 s after the console stopped the second freeze: it records that freeze
     * from its regrowth to its peak (review 39c: from the regrowth to the withdrawal, the
     * model freezing on past the gas; the alarm stood through the console's thaw) */
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config",
                          cfg, "--record", file, "--keys", "f@6,f@126,f@322", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    double t_on = -1, t_said = -1, t_early = -1;
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const bool flag = al && (strtoul(al, NULL, 16) & 0x40u) != 0;
        int phase = -1, cycle = -1;
        if (tr)
            sscanf(tr, "%d %d", &phase, &cycle);
        const double t = ts ? atof(ts) : -1;
        if (t_on < 0 && phase == 2 && cycle == 2)
            t_on = t;
        if (flag && t_on < 0 && t_early < 0)
            t_early = t;
        if (flag && t_on >= 0 && t_said < 0)
            t_said = t;
    }
    cn_seq_reader_close(r);
    print_message("the console's second freeze from %.1f s, not keyed: ICE GROWING IN THAW from "
                  "%.1f s (%.1f s later); before it: %.1f\n", t_on, t_said, t_said - t_on, t_early);
    assert_true(t_on > 150);
    assert_true(t_early < 0);
    assert_true(t_said > t_on && t_said - t_on <= 20);
    assert_non_null(strstr(R.err, "did the console start a freeze nobody keyed?"));
    assert_non_null(strstr(R.err, "that freeze is over"));
    cn_session_summary sum;
    assert_int_equal(cn_session_summarize(file, &sum, NULL, NULL, NULL, err, sizeof err), CN_OK);
    print_message("freeze 2 recorded from %.1f s for %.1f s (the console's: 120 s)\n",
                  sum.n_cycles > 1 ? sum.cycles[1].freeze_start_s : -1,
                  sum.n_cycles > 1 ? sum.cycles[1].freeze_s : -1);
    assert_int_equal(sum.n_cycles, 2);
    assert_true(fabs(sum.cycles[1].freeze_s - 120) <= 6);
    assert_true(sum.insertion_inferred); /* f@6 with no i */
    /* replayed and recorded again, the insertion stays an inference (review 39c: the
     * replay posted it as a keyed step) */
    char again[300];
    snprintf(again, sizeof again, "%s/again.igs.mha", dir);
    const char *argv2[] = {CN_CRYONAV_BIN, "replay", file, "--headless", "--speed", "0",
                           "--no-serve", "--record", again, NULL};
    assert_int_equal(run_prog(argv2, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    cn_session_summary sum2;
    assert_int_equal(cn_session_summarize(again, &sum2, NULL, NULL, NULL, err, sizeof err), CN_OK);
    assert_true(sum2.insertion_inferred);
    assert_float_equal(sum2.procedure_s, sum.procedure_s, 1.0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Teaching audit T14: two `run --fast` of one scenario gave different analyses (the
 * needle's tracker stepped by the wall clock's acquisition stamps: 23 of 4,991 recorded
 * values differed, from frame 12 on). It steps by scene time now: every analysis value
 * recorded is the same, run after run. */
static void test_fast_runs_repeat(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_repeat_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[300], b[300], err[512];
    small4_unkeyed(a, sizeof a); /* test_ice_growing_in_thaw_said's unkeyed run */
    record_small4(dir, "b", NULL, b, sizeof b);
    cn_seq_reader *ra = cn_seq_reader_open(a, err, sizeof err), *rb = NULL;
    if (!ra || !(rb = cn_seq_reader_open(b, err, sizeof err)))
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(ra)->n_frames;
    assert_int_equal(cn_seq_reader_info(rb)->n_frames, n);
    int values = 0, differ = 0;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fa, *fb;
        int na = cn_seq_reader_fields(ra, i, &fa, err, sizeof err);
        int nb = cn_seq_reader_fields(rb, i, &fb, err, sizeof err);
        assert_true(na >= 0 && nb >= 0);
        for (int k = 0; k < na; k++) {
            if (strncmp(fa[k].key, "CryoNav", 7) != 0 || strcmp(fa[k].key, "CryoNavWallNs") == 0)
                continue;
            const char *v = cn_seq_field_find(fb, nb, fa[k].key);
            values++;
            if (!v || strcmp(v, fa[k].value) != 0) {
                if (differ++ < 3)
                    print_message("frame %d %s: %s / %s\n", i, fa[k].key, fa[k].value,
                                  v ? v : "(none)");
            }
        }
    }
    cn_seq_reader_close(ra);
    cn_seq_reader_close(rb);
    print_message("%d frames, %d analysis values compared, %d differ\n", n, values, differ);
    assert_true(values > 4000);
    assert_int_equal(differ, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Teaching audit T12: after a reposition in a thaw, the followed nerve outline drifted in
 * the thawing ice's shadow to a speck (0.33 x 0.08 mm half-sizes for a 4 x 2.5 mm nerve),
 * was locked for freeze 2 and scored it. Every outline reported after the reposition is
 * now within 8 times the area of the nerve's first outline, either way. */
static void test_nerve_not_a_speck_after_reposition(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_repos_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], file[256];
    snprintf(cfg, sizeof cfg, "%s/p.json", dir);
    snprintf(file, sizeof file, "%s/p.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 1, \"width_px\": 320, \"height_px\": 240, \"fps\": 4,"
               " \"protocol\": \"custom\", \"cycles\": [[150, 120], [60, 0]]}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve", "--config",
                          cfg, "--keys", "p@240", "--record", file, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(r)->n_frames;
    double ref = 0, lo = INFINITY, hi = 0;
    int after = 0;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *nv = cn_seq_field_find(fl, nf, "CryoNavNerve");
        double v[7];
        if (!nv || sscanf(nv, "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4],
                          &v[5], &v[6]) != 7 || v[0] < 0.5)
            continue;
        const double area = v[4] * v[5];
        if (ref == 0)
            ref = area; /* the simulated operator's click */
        if (i >= 240 * 4) {
            after++;
            lo = fmin(lo, area / ref);
            hi = fmax(hi, area / ref);
        }
    }
    cn_seq_reader_close(r);
    print_message("after the reposition: %d outlines, area %.3f to %.3f of the first\n", after,
                  lo, hi);
    assert_true(after > 100);
    assert_true(lo >= 1 / 8.0 && hi <= 8.0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Thermal audit F4: at a simulator time scale of 50 each frame stands for 2.5 s of
 * scene time, more than the members can step in a frame's budget; they sat out
 * every observation and the zone was the calibration's (coverage 0.10 against 0.76
 * at real pace) without a word. Now the log (and the status line) say so. */
static void test_fit_suspended_at_high_time_scale(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_timescale_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/ts.json", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": 20, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--no-serve", "--config", cfg,
                          "--time-scale", "50", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 200, &R), 0);
    assert_int_equal(R.exit_code, 0);
    if (!strstr(R.err, "the fit to the ice is suspended"))
        fail_msg("not said:\n%s", R.err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_false_skin_alarm),
        cmocka_unit_test(test_true_skin_alarm),
        cmocka_unit_test(test_replay_models_recorded_needle),
        cmocka_unit_test(test_replay_reads_probe_names),
        cmocka_unit_test(test_no_ice_zone_unverified),
        cmocka_unit_test(test_zone_uncertain_when_ice_unlike_model),
        cmocka_unit_test(test_refreeze_in_place_is_same_spot),
        cmocka_unit_test(test_refreeze_not_unverified),
        cmocka_unit_test(test_nerve_not_a_speck_after_reposition),
        cmocka_unit_test(test_ice_growing_in_thaw_said),
        cmocka_unit_test(test_unkeyed_second_freeze_said),
        cmocka_unit_test(test_fast_runs_repeat),
        cmocka_unit_test(test_fit_suspended_at_high_time_scale),
    };
    /* one ctest entry per test, or per tests sharing a session (CMakeLists.txt);
     * test_cases.h says why */
    return cn_test_cases_run("test_sim_needle_model", tests, sizeof tests / sizeof tests[0], argc,
                             argv);
}
