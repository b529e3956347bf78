/*
 * test_sim_console.c - what the cryo console did against what CryoNav was told, on
 * simulated sessions run by the real program (cryonav run --headless --fast --record)
 * and checked from their recordings, with the simulator's true ice as the judge:
 *
 *  - a freeze stop keyed while the console froze on (thermal review F1): f under ICE
 *    GROWING IN THAW takes the stop back, and the zone follows the one freeze that
 *    happened (test_freeze_goes_on);
 *  - a freeze the console ran and nobody keyed (a console without a link, sim
 *    "console": "silent"): ICE SEEN: FREEZE NOT KEYED? is raised, and f then starts the
 *    freeze when its ice was first seen, so the zone is where the ice is
 *    (test_unkeyed_freeze); the console's own steps raise nothing.
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
#include "guidance/guidance.h" /* the alarms' bits */
#include "seqio/seqio.h"
#include "../test_cases.h"

static run_result R;

/* The small scene of test_sim_needle_model (256 x 192, 4 frames a second, morton-150s:
 * one 150 s freeze from 6 s, a 20 s thaw, the withdrawal); console "tells" or
 * "silent"; keys as --keys takes them (NULL none); the first `frames` frames (0: all: the
 * suite's time, under the sanitizers, is kept by stopping where the checks end).
 * Recorded into dir/name.igs.mha. */
static void run_scene_cycles(const char *dir, const char *name, const char *console,
                             const char *cycles, const char *keys, int frames);

static void run_scene(const char *dir, const char *name, const char *console, const char *keys,
                      int frames)
{
    run_scene_cycles(dir, name, console, NULL, keys, frames);
}

/* cycles: the sim's "cycles" (a custom protocol), or NULL for morton-150s. */
static void run_scene_fps(const char *dir, const char *name, const char *console,
                          const char *cycles, const char *keys, int frames, int fps);

static void run_scene_cycles(const char *dir, const char *name, const char *console,
                             const char *cycles, const char *keys, int frames)
{
    run_scene_fps(dir, name, console, cycles, keys, frames, 4);
}

/* fps: the sim's frame rate (4; 2 for long scenes, the suite's time) */
static void run_scene_fps(const char *dir, const char *name, const char *console,
                          const char *cycles, const char *keys, int frames, int fps)
{
    char cfg[256], file[256], nf[16];
    snprintf(nf, sizeof nf, "%d", frames);
    snprintf(cfg, sizeof cfg, "%s/%s.json", dir, name);
    snprintf(file, sizeof file, "%s/%s.igs.mha", dir, name);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
               " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,"
               " \"fps\": %d, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2,"
               " \"console\": \"%s\"%s%s%s}}\n", fps, console,
            cycles ? ", \"protocol\": \"custom\", \"cycles\": " : "", cycles ? cycles : "", "");
    fclose(f);
    const char *argv[9 + 4 + 1] = {CN_CRYONAV_BIN, "run", "--headless", "--fast", "--no-serve",
                                   "--config", cfg, "--record", file};
    int k = 9;
    if (frames > 0) {
        argv[k++] = "--frames";
        argv[k++] = nf;
    }
    if (keys) {
        argv[k++] = "--keys";
        argv[k++] = keys;
    }
    argv[k] = NULL;
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav run: %s", R.err);
}

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

/* Thermal review F1: the remedy of ICE GROWING IN THAW. The freeze stop is keyed at 60 s
 * while the console freezes on to 156 s; the alarm comes at ~102 s and the operator
 * presses f at 120 s. Before, that started freeze 2 from the model's thawed state: the
 * zone stayed ~2 mm behind the ice to the end of the freeze, and the record and the report
 * showed two freezes. Now the stop is taken back (freeze_resume): the model goes back to
 * the stop and freezes on, one freeze in the record and the report, the model's 0 C
 * radius on the ice from 130 s to 155 s; a replay of the file does the same. */
static void goes_on_check(const char *file, const char *what)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    int max_cycle = 0, late = 0, resumes = 0;
    double worst = 0;
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *cy = cn_seq_field_find(fl, nf, "CryoNavCycle");
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        resumes += ev && strstr(ev, "freeze_resume cycle=1") != NULL;
        if (cy && atoi(cy) > max_cycle)
            max_cycle = atoi(cy);
        const double t = ts ? atof(ts) : -1;
        double iv[3], tv[12];
        if (t < 130 || t > 155 || !iso || !tr || parse_doubles(iso, iv, 3) < 3 ||
            parse_doubles(tr, tv, 12) != 12)
            continue;
        late++;
        worst = fmax(worst, fabs(iv[2] - tv[5])); /* the 0 C radius against the true ice */
    }
    cn_seq_reader_close(r);
    print_message("%s: freezes %d, freeze_resume events %d; 130-155 s: %d frames, the model's "
                  "0 C radius at most %.2f mm from the true ice\n", what, max_cycle, resumes,
                  late, worst);
    assert_int_equal(max_cycle, 1);
    assert_int_equal(resumes, 1);
    assert_true(late > 90);
    assert_true(worst < 0.6);
    cn_session_summary sum;
    assert_int_equal(cn_session_summarize(file, &sum, NULL, NULL, NULL, err, sizeof err), CN_OK);
    assert_int_equal(sum.n_cycles, 1);
    print_message("%s: the report's freeze %.1f s, thaw %.1f s\n", what, sum.cycles[0].freeze_s,
                  sum.cycles[0].thaw_s);
    assert_true(fabs(sum.cycles[0].freeze_s - 150) < 0.5);
}

static void test_freeze_goes_on(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_goeson_XXXXXX";
    assert_non_null(mkdtemp(dir));
    run_scene(dir, "on", "tells", "f@60,f@120", 640);
    assert_non_null(strstr(R.err, "freeze_resume cycle=1 (operator) at 120.0 s"));
    assert_non_null(strstr(R.err, "freeze 1 goes on: the model's thaw from"));
    char file[300], again[300];
    snprintf(file, sizeof file, "%s/on.igs.mha", dir);
    goes_on_check(file, "live");
    snprintf(again, sizeof again, "%s/again.igs.mha", dir);
    const char *argv[] = {CN_CRYONAV_BIN, "replay", file, "--speed", "0", "--headless",
                          "--no-serve", "--record", again, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    goes_on_check(again, "replayed");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}


/* The freeze the console ran from 6 s, nobody keying it (the operator presses i at 2 s,
 * then f only at 40 s). Before, nothing was said, the ice went into the detector's
 * baseline frame by frame, and the model froze from the key: at 50 s its 0 C radius was
 * 1.85 mm for 4.36 mm of true ice (5.97 for 6.29 at 150 s). Now the ice around the
 * resting probe is seen, ICE SEEN: FREEZE NOT KEYED? (0x80) is raised within 12 s of
 * the freeze's true start, and the f at 40 s starts the freeze when its ice was first
 * seen: the zone on the true ice from 45 s on. The same scene with the console telling
 * raises no 0x80 anywhere. */
typedef struct {
    double first_alarm_s, freeze_start_s, worst_mm, first_freeze_frame_s;
    int alarm_frames, late, alarm_in_freeze;
} unkeyed_figures;

static void unkeyed_read(const char *file, unkeyed_figures *u)
{
    char err[512];
    memset(u, 0, sizeof *u);
    u->first_alarm_s = u->freeze_start_s = u->first_freeze_frame_s = -1;
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        const double t = ts ? atof(ts) : -1;
        const bool alarm = al && (strtoul(al, NULL, 16) & 0x180u) != 0;
        u->alarm_frames += alarm;
        u->alarm_in_freeze += alarm && ph && strncmp(ph, "FREEZE", 6) == 0;
        if (alarm && u->first_alarm_s < 0)
            u->first_alarm_s = t;
        if (ph && strncmp(ph, "FREEZE", 6) == 0 && u->first_freeze_frame_s < 0)
            u->first_freeze_frame_s = t;
        const char *fs = ev ? strstr(ev, "freeze_start cycle=1@") : NULL;
        if (fs && u->freeze_start_s < 0)
            u->freeze_start_s = atof(fs + strlen("freeze_start cycle=1@"));
        double iv[3], tv[12];
        if (t < 45 || t > 155 || !ph || strncmp(ph, "FREEZE", 6) != 0 || !iso || !tr ||
            parse_doubles(iso, iv, 3) < 3 || parse_doubles(tr, tv, 12) != 12)
            continue;
        u->late++;
        u->worst_mm = fmax(u->worst_mm, fabs(iv[2] - tv[5]));
    }
    cn_seq_reader_close(r);
}

static void test_unkeyed_freeze(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_unkeyed_XXXXXX";
    assert_non_null(mkdtemp(dir));
    run_scene(dir, "silent", "silent", "i@2,f@40", 630);
    assert_non_null(strstr(R.err, "freeze keyed with its ice growing since"));
    char file[300];
    snprintf(file, sizeof file, "%s/silent.igs.mha", dir);
    unkeyed_figures u;
    unkeyed_read(file, &u);
    print_message("silent console, f at 40 s: ICE SEEN: FREEZE NOT KEYED? from %.2f s (%d "
                  "frames, %d in the freeze); the freeze starts at %.2f s; 45-155 s: %d frames, "
                  "the model's 0 C radius at most %.2f mm from the true ice\n", u.first_alarm_s,
                  u.alarm_frames, u.alarm_in_freeze, u.freeze_start_s, u.late, u.worst_mm);
    assert_true(u.first_alarm_s > 6 && u.first_alarm_s < 18);
    assert_int_equal(u.alarm_in_freeze, 0);
    assert_true(u.freeze_start_s > 6 && u.freeze_start_s < 12);
    assert_true(u.late > 400);
    assert_true(u.worst_mm < 0.6);
    /* a recording of it from 20 s (the ice seen, the freeze not yet keyed), replayed: the
     * dated freeze start rides on the 40 s frame and is applied there, with its time (before,
     * it was taken as history: the replay was in the freeze from its first frame) */
    char mid[300], mid2[300];
    snprintf(mid, sizeof mid, "%s/mid.igs.mha", dir);
    snprintf(mid2, sizeof mid2, "%s/mid2.igs.mha", dir);
    const char *cut[] = {CN_CRYONAV_BIN, "replay", file, "--speed", "0", "--headless",
                         "--no-serve", "--start", "20", "--record", mid, NULL};
    assert_int_equal(run_prog(cut, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    const char *again2[] = {CN_CRYONAV_BIN, "replay", mid, "--speed", "0", "--headless",
                            "--no-serve", "--record", mid2, NULL};
    assert_int_equal(run_prog(again2, NULL, NULL, 400, &R), 0);
    assert_int_equal(R.exit_code, 0);
    unkeyed_read(mid2, &u);
    print_message("replayed from 20 s: in the freeze from %.2f s, begun at %.2f s; the model at "
                  "most %.2f mm off\n", u.first_freeze_frame_s, u.freeze_start_s, u.worst_mm);
    assert_true(u.first_freeze_frame_s > 39.9 && u.first_freeze_frame_s < 40.6);
    assert_true(u.freeze_start_s > 6 && u.freeze_start_s < 12);
    assert_true(u.worst_mm < 0.6);
    /* the report's page (review 41b): the same session without the insertion keyed gives
     * an insertion inferred from the freeze, said as such with the procedure time a lower
     * bound; the events in time order (the dated freeze start, written on the 40 s frame,
     * before the ICE SEEN it answered) */
    run_scene(dir, "noins", "silent", "f@40", 200);
    char rep[320], html[400];
    snprintf(file, sizeof file, "%s/noins.igs.mha", dir);
    snprintf(rep, sizeof rep, "%s/noins.report", dir);
    const char *ra[] = {CN_CRYONAV_BIN, "report", file, "--out", rep, "--no-plots", NULL};
    assert_int_equal(run_prog(ra, NULL, NULL, 200, &R), 0);
    assert_int_equal(R.exit_code, 0);
    snprintf(html, sizeof html, "%s/report.html", rep);
    size_t hl = 0;
    char *page = cn_file_read_all(html, &hl);
    assert_non_null(page);
    assert_non_null(strstr(page, "(inferred from the first freeze: the needle went in before)"));
    assert_non_null(strstr(page, "<td>at least "));
    const char *fs = strstr(page, "operator: freeze_start cycle=1");
    const char *seen = strstr(page, "alarm set=0x80");
    assert_non_null(fs);
    assert_non_null(seen);
    print_message("report page: the dated freeze start %s the ICE SEEN it answered\n",
                  fs < seen ? "before" : "after");
    assert_true(fs < seen);
    free(page);
    /* the console telling: its freeze is keyed at once, nothing unkeyed (its first 50 s;
     * `eval sim` watches whole sessions) */
    run_scene(dir, "tells", "tells", NULL, 200);
    snprintf(file, sizeof file, "%s/tells.igs.mha", dir);
    unkeyed_read(file, &u);
    print_message("console telling: %d frames with 0x80\n", u.alarm_frames);
    assert_int_equal(u.alarm_frames, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The product's own scene (the simulator's defaults), the console silent: the needle creeps
 * its last 1.5 mm in 8 s as the approach ends, over the start of the freeze. Before, the
 * watch for ice nobody keyed took that creep for a move and began again 3.5 s into the
 * freeze: ICE SEEN came 14 s after the freeze began (6 s in the small scene), and NERVE
 * LOST flickered 3 s in between, the ice's shadow its cause (review 39c). */
static void test_unkeyed_freeze_after_a_creep(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_creep_XXXXXX", cfg[300], file[300], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cfg, sizeof cfg, "%s/creep.json", dir);
    snprintf(file, sizeof file, "%s/creep.igs.mha", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"source\": \"sim\", \"sim\": {\"console\": \"silent\"}}\n");
    fclose(f);
    const char *argv[] = {CN_CRYONAV_BIN, "run",   "--headless",   "--fast", "--no-serve",
                          "--config",     cfg,     "--time-scale", "10",     "--record",
                          file,           "--frames", "90",        NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
    if (R.exit_code != 0)
        fail_msg("cryonav run: %s", R.err);
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    double freeze_s = -1, seen_s = -1;
    int lost = 0, short_tip = 0, freeze_frames = 0;
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const double t = ts ? atof(ts) : -1;
        double tv[12];
        if (freeze_s < 0 && tr && parse_doubles(tr, tv, 12) == 12 && (int)tv[0] == CN_PHASE_FREEZE)
            freeze_s = t;
        const unsigned long a = al ? strtoul(al, NULL, 16) : 0;
        if (seen_s < 0 && (a & CN_ALARM_ICE_UNKEYED))
            seen_s = t;
        lost += (a & CN_ALARM_NERVE_LOST) != 0;
        /* the needle shown in the freeze: its tip within 2 mm of the true one, or hidden
         * (review 41b: before ICE SEEN the shaft's end at the new ice was the tip, 6 mm
         * short and not hidden, on 10 frames of this scene) */
        const char *nd = cn_seq_field_find(fl, nf, "CryoNavNeedle");
        double nv[7];
        if (freeze_s >= 0 && tr && parse_doubles(tr, tv, 12) == 12 &&
            (int)tv[0] == CN_PHASE_FREEZE && nd && parse_doubles(nd, nv, 7) == 7 && nv[0] == 1) {
            freeze_frames++;
            short_tip += hypot(nv[2] - tv[10], nv[3] - tv[11]) > 2.0 && nv[6] == 0;
        }
    }
    cn_seq_reader_close(r);
    print_message("the product's scene, console silent: the freeze begins at %.1f s, ICE SEEN at "
                  "%.1f s; %d frames with NERVE LOST; the tip shown 2 mm off and not hidden on %d "
                  "of %d freeze frames\n", freeze_s, seen_s, lost, short_tip, freeze_frames);
    assert_true(freeze_s > 0 && seen_s > freeze_s);
    assert_true(freeze_frames > 20);
    assert_true(short_tip <= 2);
    assert_true(seen_s - freeze_s <= 8.0);
    assert_int_equal(lost, 0);
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The gas stops at 66 s (a 60 s freeze from 6 s, a 90 s thaw) and nobody keys it: the
 * console is silent, the operator keyed only the start. Before, the ice melted to 0.65 mm
 * by 150 s while the model froze on (6.48 mm) and the coverage rose with it, with nothing
 * said; and a stop keyed late thawed the model from the key (5.25 mm at 110 s, 4.74 at
 * 150 s, for 4.32 and 3.13 when keyed at 66 s). Now ICE SHRINKING IN FREEZE: GAS OFF?
 * (0x100) is raised, the coverage withheld, and an f under it at 110 s ends the freeze
 * when its ice last grew (65.5 s): the model goes back to its state before that and
 * thaws from there, within 0.2 mm of the stop keyed on time. */
typedef struct {
    double first_alarm_s, freeze_end_s;
    int alarm_frames, alarm_with_coverage;
    double r0[5];      /* the model's 0 C radius at r0_from_s (110 s), +10 s ... */
    double r0_from_s;
} stop_figures;

static void stop_read(const char *file, stop_figures *u)
{
    char err[512];
    const double from = u->r0_from_s;
    memset(u, 0, sizeof *u);
    u->r0_from_s = from;
    u->first_alarm_s = u->freeze_end_s = -1;
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *cov = cn_seq_field_find(fl, nf, "CryoNavCoverage");
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        const double t = ts ? atof(ts) : -1;
        const bool alarm = al && (strtoul(al, NULL, 16) & 0x100u) != 0;
        u->alarm_frames += alarm;
        u->alarm_with_coverage += alarm && cov && atof(cov) >= 0;
        if (alarm && u->first_alarm_s < 0)
            u->first_alarm_s = t;
        const char *fe = ev ? strstr(ev, "freeze_end cycle=1@") : NULL;
        if (fe && u->freeze_end_s < 0)
            u->freeze_end_s = atof(fe + strlen("freeze_end cycle=1@"));
        double iv[3];
        const double t0 = u->r0_from_s > 0 ? u->r0_from_s : 110;
        const int k = (int)lround((t - t0) / 10);
        if (k >= 0 && k < 5 && fabs(t - (t0 + 10 * k)) < 0.01 && iso &&
            parse_doubles(iso, iv, 3) == 3)
            u->r0[k] = iv[2];
    }
    cn_seq_reader_close(r);
}

static void test_unkeyed_stop(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_unkeyedstop_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[300];
    stop_figures late = {0}, ontime = {0};
    run_scene_cycles(dir, "late", "silent", "[[60, 90]]", "i@2,f@6,f@110", 610);
    assert_non_null(strstr(R.err, "freeze stop keyed with its ice shrinking since"));
    snprintf(file, sizeof file, "%s/late.igs.mha", dir);
    stop_read(file, &late);
    run_scene_cycles(dir, "ontime", "silent", "[[60, 90]]", "i@2,f@6,f@66", 610);
    snprintf(file, sizeof file, "%s/ontime.igs.mha", dir);
    stop_read(file, &ontime);
    print_message("gas off at 66 s, not keyed: ICE SHRINKING IN FREEZE from %.2f s (%d frames "
                  "to the key, %d with a coverage shown); keyed at 110 s it ends at %.2f s\n",
                  late.first_alarm_s, late.alarm_frames, late.alarm_with_coverage,
                  late.freeze_end_s);
    assert_true(late.first_alarm_s > 66 && late.first_alarm_s < 105);
    assert_true(late.alarm_frames > 40);
    assert_int_equal(late.alarm_with_coverage, 0);
    assert_true(late.freeze_end_s > 60 && late.freeze_end_s < 72);
    for (int k = 0; k < 5; k++) {
        print_message("  %d s: the model's 0 C radius %.2f mm, keyed on time %.2f mm\n",
                      110 + 10 * k, late.r0[k], ontime.r0[k]);
        assert_true(late.r0[k] > 0 && fabs(late.r0[k] - ontime.r0[k]) < 0.2);
    }
    assert_int_equal(ontime.alarm_frames, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The review's case: the console really stops at 46 s (the stop keyed), thaws 30 s, and
 * starts freeze 2 at 76 s that nobody keys. ICE GROWING IN THAW comes; before, f took the
 * stop back as if the gas had stayed on: one freeze in the record, the model skipping a
 * real thaw (5.93 mm for 4.62 mm of true ice at 115 s). The thaw's ice had shrunk first
 * (4.2 to 2.8 mm), so f now starts freeze 2 when the ice began to grow again, the model
 * going back to a kept state: two freezes, and the model within 0.15 mm of the freeze 2
 * keyed on time from 115 s to 135 s. */
static void test_regrowth_is_a_new_freeze(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_regrow_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[300];
    stop_figures late = {.r0_from_s = 115}, ontime = {.r0_from_s = 115};
    run_scene_cycles(dir, "late", "silent", "[[40, 30], [60, 20]]", "i@2,f@7,f@46,f@115", 550);
    assert_non_null(strstr(R.err, "freeze keyed with its ice growing since"));
    assert_null(strstr(R.err, "freeze_resume"));
    assert_non_null(strstr(R.err, "freeze_start cycle=2"));
    snprintf(file, sizeof file, "%s/late.igs.mha", dir);
    stop_read(file, &late);
    run_scene_cycles(dir, "ontime", "silent", "[[40, 30], [60, 20]]", "i@2,f@7,f@46,f@76", 550);
    snprintf(file, sizeof file, "%s/ontime.igs.mha", dir);
    stop_read(file, &ontime);
    for (int k = 0; k < 3; k++) {
        print_message("  %d s: the model's 0 C radius %.2f mm, freeze 2 keyed on time %.2f mm\n",
                      115 + 10 * k, late.r0[k], ontime.r0[k]);
        assert_true(late.r0[k] > 0 && fabs(late.r0[k] - ontime.r0[k]) < 0.15);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The second review's case: the gas stops at 36 s unkeyed, the stop keyed at 70 s under
 * ICE SHRINKING (dated back to the ice's peak), the console freezes again from 76 s
 * unkeyed, f at 100 s under ICE GROWING IN THAW. Before, the thaw watch took its first
 * rim at the key, when the ice had melted already, read the regrowth as "the gas stayed
 * on" and f took the dated stop back: one freeze, a real 40 s thaw erased, the model 5.38
 * mm at 100 s for 3.75 mm of true ice. Now a dated thaw counts as shrunk: f starts freeze
 * 2 when the ice began to grow again, the model within 0.3 mm of both steps keyed on time. */
static void test_dated_stop_then_regrowth(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_datedregrow_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[300];
    stop_figures late = {.r0_from_s = 100}, ontime = {.r0_from_s = 100};
    run_scene_cycles(dir, "late", "silent", "[[30, 40], [40, 20]]", "i@2,f@7,f@70,f@100", 450);
    assert_non_null(strstr(R.err, "freeze stop keyed with its ice shrinking since"));
    assert_null(strstr(R.err, "freeze_resume"));
    assert_non_null(strstr(R.err, "freeze_start cycle=2"));
    snprintf(file, sizeof file, "%s/late.igs.mha", dir);
    stop_read(file, &late);
    run_scene_cycles(dir, "ontime", "silent", "[[30, 40], [40, 20]]", "i@2,f@7,f@36,f@76", 450);
    snprintf(file, sizeof file, "%s/ontime.igs.mha", dir);
    stop_read(file, &ontime);
    for (int k = 0; k < 2; k++) {
        print_message("  %d s: the model's 0 C radius %.2f mm, both steps keyed on time %.2f mm\n",
                      100 + 10 * k, late.r0[k], ontime.r0[k]);
        assert_true(late.r0[k] > 0 && fabs(late.r0[k] - ontime.r0[k]) < 0.3);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A freeze nobody keyed, its gas stopped before anyone keyed it (the console silent: a
 * 40 s freeze from 6 s, the gas off at 46 s). The third review's finding 4: f under ICE
 * SEEN started the freeze when its ice was first seen and froze on from the key; the
 * freeze's largest rim was the melting one the key saw, so ICE SHRINKING waited for
 * that to melt 1 mm more, and a stop keyed then could be dated no earlier than the
 * first key. The zone grew to 4.4 mm over 2.8 mm of true ice, nothing said. Now
 *  - f keyed after the ice has shrunk 1 mm under its largest (72 s) starts the freeze at
 *    the first sight and ends it at the largest ice, both on that key; the model, which
 *    never saw the freeze before (no zone at all, first), thaws from there;
 *  - f keyed while it melts less than that (55 s) counts the freeze's growth from the
 *    largest ice seen: ICE SHRINKING comes before 80 s, and the f then ends the freeze
 *    at the largest ice, the model going back to a state kept while it caught up.
 * Either way the record holds one freeze, 6-12 s to 44-50 s, and the model's 0 C radius
 * stays within 0.8 mm over the true ice from 5 s after the last key (before: 1.6 mm); a
 * replay of the file does the same. */
typedef struct {
    double freeze_start_s, freeze_end_s, first_shrink_alarm_s, worst_over_mm;
    double first_over_alarm_s; /* ICE SEEN with its MELTING (0x80 | 0x200) */
    int max_cycle, judged;
} over_figures;

static void over_read(const char *file, double judge_from_s, over_figures *u)
{
    char err[512];
    memset(u, 0, sizeof *u);
    u->freeze_start_s = u->freeze_end_s = u->first_shrink_alarm_s = u->first_over_alarm_s = -1;
    u->worst_over_mm = -INFINITY;
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *al = cn_seq_field_find(fl, nf, "CryoNavAlarms");
        const char *cy = cn_seq_field_find(fl, nf, "CryoNavCycle");
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        const double t = ts ? atof(ts) : -1;
        if (al && (strtoul(al, NULL, 16) & 0x100u) && u->first_shrink_alarm_s < 0)
            u->first_shrink_alarm_s = t;
        if (al && (strtoul(al, NULL, 16) & 0x280u) == 0x280u && u->first_over_alarm_s < 0)
            u->first_over_alarm_s = t;
        if (cy && atoi(cy) > u->max_cycle)
            u->max_cycle = atoi(cy);
        const char *fs = ev ? strstr(ev, "freeze_start cycle=1@") : NULL;
        if (fs)
            u->freeze_start_s = atof(fs + strlen("freeze_start cycle=1@"));
        const char *fe = ev ? strstr(ev, "freeze_end cycle=1@") : NULL;
        if (fe)
            u->freeze_end_s = atof(fe + strlen("freeze_end cycle=1@"));
        double iv[3], tv[12];
        if (t < judge_from_s || !iso || !tr || parse_doubles(tr, tv, 12) != 12 || !(tv[5] > 1))
            continue;
        u->judged++;
        const double r0 = parse_doubles(iso, iv, 3) == 3 ? iv[2] : 0;
        u->worst_over_mm = fmax(u->worst_over_mm, r0 > 0 ? r0 - tv[5] : INFINITY);
    }
    cn_seq_reader_close(r);
}

static void over_check(const char *dir, const char *name, const char *keys, double judge_s,
                       bool shrink_alarm)
{
    char file[300], again[300];
    run_scene_cycles(dir, name, "silent", "[[40, 60]]", keys, 440);
    snprintf(file, sizeof file, "%s/%s.igs.mha", dir, name);
    snprintf(again, sizeof again, "%s/%s_replay.igs.mha", dir, name);
    const char *argv[] = {CN_CRYONAV_BIN, "replay", file, "--headless", "--speed", "0",
                          "--no-serve", "--record", again, NULL};
    assert_non_null(strstr(R.err, "freeze keyed with its ice growing since"));
    assert_true((strstr(R.err, "that ice has shrunk since") != NULL) == !shrink_alarm);
    for (int k = 0; k < 2; k++) {
        over_figures u;
        over_read(k ? again : file, judge_s, &u);
        print_message("%s%s: freeze %.2f-%.2f s, %d freeze(s), ICE SEEN MELTING from %.2f s, ICE "
                      "SHRINKING from %.2f s; from %.0f s (%d frames) the model's 0 C radius at "
                      "most %.2f mm over the true ice\n", name, k ? ", replayed" : "",
                      u.freeze_start_s, u.freeze_end_s, u.max_cycle, u.first_over_alarm_s,
                      u.first_shrink_alarm_s, judge_s, u.judged, u.worst_over_mm);
        assert_true(u.freeze_start_s > 6 && u.freeze_start_s < 12);
        assert_true(u.freeze_end_s > 44 && u.freeze_end_s < 50);
        assert_int_equal(u.max_cycle, 1);
        if (shrink_alarm && !k)
            assert_true(u.first_shrink_alarm_s > 55 && u.first_shrink_alarm_s < 77);
        /* melted before the key: said so (the console's gas off at 46 s) */
        if (!shrink_alarm && !k)
            assert_true(u.first_over_alarm_s > 46 && u.first_over_alarm_s < 72);
        assert_true(u.judged > 80);
        assert_true(u.worst_over_mm < 0.8);
        if (!k) {
            assert_int_equal(run_prog(argv, NULL, NULL, 400, &R), 0);
            if (R.exit_code != 0)
                fail_msg("cryonav replay: %s", R.err);
        }
    }
}

/* The model's 0 C radius against the true ice over [from_s, to_s]: the most it is
 * under (worst_under_mm) and its first and last values there. */
static void model_vs_truth(const char *file, double from_s, double to_s, double *worst_under_mm,
                           double *first_mm, double *last_mm)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    *worst_under_mm = -INFINITY;
    *first_mm = *last_mm = NAN;
    const int n = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        const double t = ts ? atof(ts) : -1;
        double iv[3], tv[12];
        if (t < from_s || t > to_s || !tr || parse_doubles(tr, tv, 12) != 12)
            continue;
        const double r0 = iso && parse_doubles(iso, iv, 3) == 3 ? iv[2] : 0;
        *worst_under_mm = fmax(*worst_under_mm, tv[5] - r0);
        if (isnan(*first_mm))
            *first_mm = r0;
        *last_mm = r0;
    }
    cn_seq_reader_close(r);
}

static void test_unkeyed_freeze_over(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_unkeyedover_XXXXXX";
    assert_non_null(mkdtemp(dir));
    over_check(dir, "melted", "i@2,f@72", 77, false);
    over_check(dir, "melting", "i@2,f@55,f@80", 85, true);
    char file[300];
    double under, first, last;
    /* The third review, F1: the console froze again (76 s) before the f (92 s). The
     * watch held "melting" from the first freeze, and f ended that freeze and thawed the
     * model while the ice grew: 4.1 mm too small. Now the regrowth clears it: one freeze
     * from the first sight, on or over the ice, as before this session. */
    run_scene_cycles(dir, "again", "silent", "[[40, 30], [40, 60]]", "i@2,f@92", 480);
    assert_null(strstr(R.err, "that ice has shrunk since"));
    snprintf(file, sizeof file, "%s/again.igs.mha", dir);
    model_vs_truth(file, 95, 117, &under, &first, &last);
    print_message("again: 95-117 s, the model's 0 C radius at most %.2f mm under the true ice\n",
                  under);
    assert_true(under < 0.3);
    /* F2: a freeze seen 130 s before its key, over an earlier freeze's field: no snapshot
     * of the last 90 s reached back, the thaw was refused and the model froze through it
     * (5.3 mm at 357 s for 1.3 mm of ice, no alarm). Now the one kept at the reposition
     * (the last change of what the probe did) is taken, and the model thaws from 253 s. */
    run_scene_fps(dir, "old", "silent", "[[40, 60], [150, 100]]", "i@2,f@10,f@48,p@70,f@285",
                  715, 2);
    assert_non_null(strstr(R.err, "that ice has shrunk since"));
    assert_non_null(strstr(R.err, "goes back to its state at 60.0 s"));
    assert_null(strstr(R.err, "could not follow"));
    snprintf(file, sizeof file, "%s/old.igs.mha", dir);
    model_vs_truth(file, 286, 357, &under, &first, &last);
    print_message("old: the model's 0 C radius %.2f mm at 286 s, %.2f mm at 357 s (thawing)\n",
                  first, last);
    assert_true(last < first - 1.0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freeze_goes_on),
        cmocka_unit_test(test_unkeyed_freeze),
        cmocka_unit_test(test_unkeyed_freeze_after_a_creep),
        cmocka_unit_test(test_unkeyed_stop),
        cmocka_unit_test(test_regrowth_is_a_new_freeze),
        cmocka_unit_test(test_dated_stop_then_regrowth),
        cmocka_unit_test(test_unkeyed_freeze_over),
    };
    /* one test per ctest entry (CMakeLists.txt); test_cases.h says why */
    return cn_test_cases_run("test_sim_console", tests, sizeof tests / sizeof tests[0], argc, argv);
}
