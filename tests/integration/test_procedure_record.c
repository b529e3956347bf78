/*
 * test_procedure_record.c - issue 13 end to end, checked FROM A RECORDING:
 *
 *   cryonav run --headless --protocol stump-6-4-6 --time-scale 40
 *               --keys f@560,f@600 --record FILE
 *
 * then FILE read back with modules/seqio:
 *  - the simulated stump-neuroma session (6 min freeze, 4 min thaw, 6 min freeze)
 *    shows the -20 and -40 C curves through both scripted freezes, and the
 *    coverage of the nerve rises in each of them;
 *  - the extra freeze the operator starts with `f` during the scripted thaw is
 *    an unplanned cycle of the procedure, and it reaches the model at once: on
 *    the first analysed frame after the freeze began the model's -20 C zone
 *    exists again (the probe reaches -20 C 3 s into a freeze; the thaw had let
 *    it vanish), which it would not if the model still followed the plan;
 *  - the run's summary says plan and what happened.
 * Protocol names are the catalogue's (one set of names).
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

#define MAXF 2000

typedef struct {
    double t;          /* scene time (s) */
    char phase[16];
    int cycle;
    double coverage;
    double r0, r20, r40; /* isotherm radii (mm) */
} rec;

static rec recs[MAXF];
static run_result R;

static int read_recording(const char *path)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    int n = 0, frames = cn_seq_reader_info(r)->n_frames;
    for (int i = 0; i < frames && n < MAXF; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *an = cn_seq_field_find(fl, nf, "CryoNavAnalysed");
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        if (!an || !tr)
            continue; /* skipped by the analysis (latest-wins) */
        rec *q = &recs[n];
        memset(q, 0, sizeof *q);
        int ph, cy;
        assert_int_equal(sscanf(tr, "%d %d %lf", &ph, &cy, &q->t), 3);
        cn_strlcpy(q->phase, cn_seq_field_find(fl, nf, "CryoNavPhase"), sizeof q->phase);
        q->cycle = atoi(cn_seq_field_find(fl, nf, "CryoNavCycle"));
        q->coverage = atof(cn_seq_field_find(fl, nf, "CryoNavCoverage"));
        const char *iso = cn_seq_field_find(fl, nf, "CryoNavIsotherms");
        int ni = 0, used = 0;
        if (iso && sscanf(iso, "%d%n", &ni, &used) == 1) {
            const char *p = iso + used;
            for (int k = 0; k < ni; k++) {
                double temp, rad;
                int u2 = 0;
                if (sscanf(p, "%lf %lf%n", &temp, &rad, &u2) != 2)
                    break;
                p += u2;
                if (temp == 0)
                    q->r0 = rad;
                else if (temp == -20)
                    q->r20 = rad;
                else if (temp == -40)
                    q->r40 = rad;
            }
        }
        n++;
    }
    cn_seq_reader_close(r);
    return n;
}

static void test_stump_session_from_recording(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_proc_rec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[256], snaps[256], cfg[256];
    snprintf(file, sizeof file, "%s/stump.igs.mha", dir);
    snprintf(snaps, sizeof snaps, "%s/snap", dir);
    /* the shipped session, with the simulated tip at the nerve (it stops 3 mm
     * short by default: the ball then covers only the near half of the nerve)
     * and one model instead of the 15-member fit: this checks that the model
     * follows the procedure, whatever the machine's speed (the fit's members
     * catch up within a per-frame budget, so on a slow machine at 40x they lag;
     * the fit has its own tests) */
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    size_t len = 0;
    char *text = cn_file_read_all(CN_SOURCE_DIR "/config/session.json", &len);
    assert_non_null(text);
    char *at = strstr(text, "\"needle_target_offset_mm\": 3");
    assert_non_null(at);
    FILE *cf = fopen(cfg, "w");
    assert_non_null(cf);
    char *fit = strstr(text, "\"fit\": true");
    assert_non_null(fit);
    assert_true(fit < at);
    fwrite(text, 1, (size_t)(fit - text), cf);
    fputs("\"fit\": false", cf);
    fwrite(fit + strlen("\"fit\": true"), 1, (size_t)(at - fit - strlen("\"fit\": true")), cf);
    fputs("\"needle_target_offset_mm\": 0", cf);
    fputs(at + strlen("\"needle_target_offset_mm\": 3"), cf);
    fclose(cf);
    free(text);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--config", cfg, "--headless", "--no-serve", "--protocol",
                          "stump-6-4-6", "--time-scale", "40", "--keys", "f@560,f@600",
                          "--record", file, "--snapshot", snaps, "--snapshot-every", "100000",
                          NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("exit %d: %s", R.exit_code, R.err);
    /* the summary: the plan, and what happened (the operator's extra cycle) */
    const char *sum = strstr(R.out, "procedure: plan stump-6-4-6: freeze 360 s, thaw 240 s, freeze 360 s");
    if (!sum)
        fail_msg("no plan-vs-actual summary in: %s", R.out);
    assert_non_null(strstr(sum, "freeze 2"));
    assert_non_null(strstr(sum, "(operator)"));
    assert_non_null(strstr(sum, "freeze 3"));

    int n = read_recording(file);
    print_message("  %d analysed frames in the recording\n", n);
    assert_true(n > 40);

    /* the scripted freezes: cycles 1 and 3 (the operator's extra one is 2) */
    for (int cyc = 1; cyc <= 3; cyc += 2) {
        double t0 = -1, t1 = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(recs[i].phase, "FREEZE") == 0 && recs[i].cycle == cyc) {
                if (t0 < 0)
                    t0 = recs[i].t;
                t1 = recs[i].t;
            }
        /* the coverage of a tracked session jitters with the poses: compare the
         * means of the freeze's second minute and of its last minute */
        double early = 0, end = 0;
        int frz = 0, both = 0, ne = 0, nl = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(recs[i].phase, "FREEZE") != 0 || recs[i].cycle != cyc)
                continue;
            double el = recs[i].t - t0;
            if (el < 30)
                continue;
            frz++;
            both += recs[i].r20 > 0 && recs[i].r40 > 0;
            if (el >= 60 && el < 120) {
                early += recs[i].coverage;
                ne++;
            }
            if (recs[i].t > t1 - 60) {
                end += recs[i].coverage;
                nl++;
            }
        }
        early = ne ? early / ne : -1;
        end = nl ? end / nl : -1;
        print_message("  freeze %d (%.0f-%.0f s): %d analysed frames after its first 30 s, %d with -20 "
                      "and -40 C zones; mean coverage in its second minute %.2f, in its last %.2f\n",
                      cyc, t0, t1, frz, both, early, end);
        assert_true(t1 - t0 > 300);
        assert_true(frz >= 5 && ne >= 1 && nl >= 1);
        assert_int_equal(both, frz);
        assert_true(end > early);
        assert_true(end > 0.3);
    }

    /* the operator's extra freeze: unplanned cycle 2, during the scripted thaw */
    int k = -1;
    for (int i = 0; i < n && k < 0; i++)
        if (strcmp(recs[i].phase, "FREEZE") == 0 && recs[i].cycle == 2)
            k = i;
    assert_true(k > 0);
    assert_true(recs[k].t >= 560 && recs[k].t < 622); /* after the key, before the script's freeze */
    /* The key reached the procedure on the first analysed frame at its time... */
    int before = k - 1;
    assert_true(recs[before].t < 560 && recs[k].t >= 560);
    assert_string_equal(recs[before].phase, "THAW");
    /* ...and the model, which freezes from that frame's scene time: the -20 C
     * zone in the tissue, gone in the thaw, comes back as the probe's ramp
     * implies (probe below -20 C ~3 s into a freeze, the tissue beside it ~3 s
     * later): within 8 s of that frame, and not on it. */
    assert_true(recs[before].r20 == 0 && recs[k].r20 == 0);
    int j = k;
    while (j < n && recs[j].r20 == 0 && recs[j].t < recs[k].t + 20)
        j++;
    assert_true(j < n);
    print_message("  extra freeze (f at 560 s): FREEZE (cycle 2, the operator's) from the frame at "
                  "%.0f s (the one before, %.0f s, in the thaw); the model's -20 C zone is back at "
                  "%.0f s (%.2f mm)\n",
                  recs[k].t, recs[before].t, recs[j].t, recs[j].r20);
    assert_string_equal(recs[j].phase, "FREEZE");
    assert_true(recs[j].t - recs[k].t <= 8);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stump_session_from_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
