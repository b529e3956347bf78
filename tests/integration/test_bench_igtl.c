/* `cryonav bench igtl --rounds N` (issue 15): the two senders alternate A B, B A
 * within one invocation, and the summary is what the per-run rows say.
 *
 * Runs the real binary on loopback for 2 rounds of 10 frames to 1 and 2 clients
 * (a second or two) and checks from its own output: the order of the senders in
 * each round, one median row per client count and sender equal to the median of
 * that sender's rows, one ratio row per client count whose p99 ratio is the
 * median of the per-round ratios, and the p99_not_above count. Speed itself is
 * the benchmark's business (docs/benchmarks.md), never asserted here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_util.h"

static run_result R;

typedef struct {
    int round, clients;
    bool upstream;
    double fps, p50, p99;
} row;

static void test_rounds(void **st)
{
    (void)st;
    const char *argv[] = {CN_CRYONAV_BIN, "bench", "igtl", "--rounds", "2", "--frames", "10",
                          "--clients", "1,2", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 120, &R), 0);
    if (R.exit_code != 0) {
        print_error("exit %d (signal %d)\n%s\n%s\n", R.exit_code, R.signal, R.out, R.err);
        fail();
    }
    row rows[8];
    int n = 0;
    char *med = strstr(R.out, "\nmedians over 2 rounds:\n");
    char *rat = strstr(R.out, "\nratio cryonav / upstream within each round");
    assert_non_null(med);
    assert_non_null(rat);
    for (char *line = strstr(R.out, "\nround "); line && line < med; line = strchr(line + 1, '\n')) {
        row r;
        char a[32], b[32];
        int dropped;
        if (sscanf(line + 1, "%d %d %31s %31s %lf %d %lf %lf", &r.round, &r.clients, a, b, &r.fps,
                   &dropped, &r.p50, &r.p99) != 8)
            continue;
        assert_true(n < 8);
        r.upstream = strcmp(a, "upstream") == 0;
        rows[n++] = r;
    }
    assert_int_equal(n, 8);
    /* round 1: cryonav first for each client count; round 2: upstream first */
    for (int i = 0; i < 8; i += 2) {
        assert_int_equal(rows[i].round, rows[i + 1].round);
        assert_int_equal(rows[i].clients, rows[i + 1].clients);
        assert_int_equal(rows[i].upstream, rows[i].round == 2);
        assert_int_equal(rows[i + 1].upstream, rows[i].round == 1);
    }
    /* medians (2 rounds: the mean of the two) and ratios */
    for (int c = 1; c <= 2; c++) {
        double p99[2][2] = {{0}}, fps[2][2] = {{0}};
        for (int i = 0; i < 8; i++)
            if (rows[i].clients == c) {
                p99[rows[i].upstream][rows[i].round - 1] = rows[i].p99;
                fps[rows[i].upstream][rows[i].round - 1] = rows[i].fps;
            }
        for (int u = 0; u < 2; u++) {
            char want[64];
            snprintf(want, sizeof want, "\n%-8d %-24s", c,
                     u ? "upstream libOpenIGTLink" : "cryonav cn_igtl");
            char *m = strstr(med, want);
            assert_non_null(m);
            double mf, m50, m99;
            assert_int_equal(sscanf(m + strlen(want), "%lf %lf %lf", &mf, &m50, &m99), 3);
            assert_true(fabs(m99 - 0.5 * (p99[u][0] + p99[u][1])) < 0.011);
            assert_true(fabs(mf - 0.5 * (fps[u][0] + fps[u][1])) < 0.11);
        }
        char want[16];
        snprintf(want, sizeof want, "\n%-8d ", c);
        char *q = strstr(rat, want);
        assert_non_null(q);
        double r50, lo50, hi50, r99, lo99, hi99;
        int k, of;
        assert_int_equal(sscanf(q + strlen(want), "%lf [%lf-%lf] %lf [%lf-%lf] %*f [%*f-%*f] %d/%d",
                                &r50, &lo50, &hi50, &r99, &lo99, &hi99, &k, &of), 8);
        /* The rows print p99 to 0.01 ms, so a ratio recomputed from them is off by
         * up to q * (0.005 / a + 0.005 / b), plus 0.005 for the ratio's own
         * rounding: at p99s near 0.2 ms that is ~5 %, more than a fixed 0.02
         * (CI failed on exactly that once). */
        double qr[2], tol[2];
        for (int r = 0; r < 2; r++) {
            qr[r] = p99[0][r] / p99[1][r];
            tol[r] = qr[r] * (0.0051 / p99[0][r] + 0.0051 / p99[1][r]) + 0.0051;
        }
        if (!(p99[0][0] > 0.02 && p99[0][1] > 0.02 && p99[1][0] > 0.02 && p99[1][1] > 0.02)) {
            /* a p99 printed as 0.0x: the rows cannot check a ratio */
            continue;
        }
        assert_true(fabs(r99 - 0.5 * (qr[0] + qr[1])) < 0.5 * (tol[0] + tol[1]) + 0.0051);
        double tmax = fmax(tol[0], tol[1]);
        if (!(fabs(lo99 - fmin(qr[0], qr[1])) < tmax && fabs(hi99 - fmax(qr[0], qr[1])) < tmax)) {
            print_error("p99 ratio range [%.2f-%.2f], rows give %.3f and %.3f (+-%.3f)\n%s\n",
                        lo99, hi99, qr[0], qr[1], tmax, R.out);
            fail();
        }
        assert_true(lo50 <= r50 && r50 <= hi50);
        assert_int_equal(of, 2);
        /* p99_not_above counts exact values; where the printed ones tie, either
         * answer for that round is right. */
        int k_min = 0, k_max = 0;
        for (int r = 0; r < 2; r++) {
            if (p99[0][r] == p99[1][r])
                k_max++;
            else if (p99[0][r] < p99[1][r])
                k_min++, k_max++;
        }
        assert_true(k >= k_min && k <= k_max);
    }
}

static void test_rounds_bad(void **st)
{
    (void)st;
    const char *argv[] = {CN_CRYONAV_BIN, "bench", "igtl", "--rounds", "0", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "--rounds needs 1..50, not '0'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_rounds_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
