/*
 * bench_igtl_rounds.c - `cryonav bench igtl --rounds N`: the two senders
 * compared inside one invocation, so that the comparison means something on a
 * shared, noisy machine.
 *
 * The idea: single runs of this benchmark swing by 2x at the p99 (upstream's
 * own 4-client p99 went 3.81-7.15 ms across three runs on an idle machine), so
 * one CryoNav run against one upstream run says little. Here every round runs
 * both senders back to back, and the order alternates from round to round
 * (A B, B A, A B, ...: the sequence of runs is A B B A A B ...), so a drift in
 * the machine's load hits both senders alike. Reported per client count and
 * sender: the median over rounds of fps, p50, p99 and CPU; and the ratio
 * CryoNav / upstream computed within each round (the two runs that sat next
 * to each other in time) with its median, its min-max over rounds and in how
 * many rounds CryoNav's p99 was not above upstream's. Medians and min-max need
 * no distributional assumption and stay honest with 5-9 rounds, where a
 * bootstrap interval would mostly reflect the few values it resamples.
 */
#include "bench_igtl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 50

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1); the mean of the middle two for an even n. */
static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void min_max(const double *v, int n, double *lo, double *hi)
{
    *lo = *hi = v[0];
    for (int i = 1; i < n; i++) {
        if (v[i] < *lo)
            *lo = v[i];
        if (v[i] > *hi)
            *hi = v[i];
    }
}

static const char *sender_name(int u)
{
    return u ? "upstream libOpenIGTLink" : "cryonav cn_igtl";
}

/* "1.02 [0.91-1.13]": median ratio and its min-max over rounds. */
static void ratio_text(char *out, size_t len, const double *r, int n)
{
    double lo, hi;
    min_max(r, n, &lo, &hi);
    snprintf(out, len, "%.2f [%.2f-%.2f]", median(r, n), lo, hi);
}

int cn_bench_igtl_rounds(const int *counts, int n_counts, int frames, double rate, int rounds,
                         cn_bench_igtl_run_fn run)
{
    if (rounds < 1 || rounds > MAX_ROUNDS || n_counts < 1)
        return 1;
    /* res[count][sender][round] */
    cn_bench_igtl_result(*res)[2][MAX_ROUNDS] = calloc((size_t)n_counts, sizeof *res);
    if (!res)
        return 1;
    printf("rounds: %d per client count; the senders alternate A B, B A, ... (A: cryonav first)\n",
           rounds);
    printf("%-6s %-8s %-24s %9s %8s %12s %12s %8s\n", "round", "clients", "sender", "fps",
           "dropped", "lat_p50_ms", "lat_p99_ms", "cpu_%");
    int rc = 0;
    /* Rounds outermost: a slow drift of the machine spreads over every client
     * count instead of landing on one. */
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n_counts; i++) {
            for (int k = 0; k < 2; k++) {
                int u = (r % 2 == 0) ? k : 1 - k;
                cn_bench_igtl_result x = run(u == 1, counts[i], frames, rate);
                res[i][u][r] = x;
                printf("%-6d %-8d %-24s %9.1f %8d %12.2f %12.2f %8.0f%s\n", r + 1, counts[i],
                       sender_name(u), x.fps, x.dropped, x.p50, x.p99, x.cpu_pct,
                       x.ok ? "" : "  (INCOMPLETE)");
                fflush(stdout);
                if (!x.ok)
                    rc = 1;
            }
        }
    }

    printf("\nmedians over %d rounds:\n", rounds);
    printf("%-8s %-24s %9s %12s %12s %8s %11s\n", "clients", "sender", "fps", "lat_p50_ms",
           "lat_p99_ms", "cpu_%", "incomplete");
    for (int i = 0; i < n_counts; i++) {
        for (int u = 0; u < 2; u++) {
            double fps[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS], cpu[MAX_ROUNDS];
            int bad = 0;
            for (int r = 0; r < rounds; r++) {
                const cn_bench_igtl_result *x = &res[i][u][r];
                fps[r] = x->fps;
                p50[r] = x->p50;
                p99[r] = x->p99;
                cpu[r] = x->cpu_pct;
                bad += !x->ok;
            }
            printf("%-8d %-24s %9.1f %12.2f %12.2f %8.0f %11d\n", counts[i], sender_name(u),
                   median(fps, rounds), median(p50, rounds), median(p99, rounds),
                   median(cpu, rounds), bad);
        }
    }

    printf("\nratio cryonav / upstream within each round: median [min-max] over %d rounds\n",
           rounds);
    printf("%-8s %-20s %-20s %-20s %s\n", "clients", "lat_p50", "lat_p99", "fps",
           "p99_not_above");
    for (int i = 0; i < n_counts; i++) {
        double q50[MAX_ROUNDS], q99[MAX_ROUNDS], qf[MAX_ROUNDS];
        int not_above = 0;
        for (int r = 0; r < rounds; r++) {
            const cn_bench_igtl_result *a = &res[i][0][r], *b = &res[i][1][r];
            q50[r] = b->p50 > 0 ? a->p50 / b->p50 : 0;
            q99[r] = b->p99 > 0 ? a->p99 / b->p99 : 0;
            qf[r] = b->fps > 0 ? a->fps / b->fps : 0;
            not_above += a->p99 <= b->p99;
        }
        char t50[48], t99[48], tf[48];
        ratio_text(t50, sizeof t50, q50, rounds);
        ratio_text(t99, sizeof t99, q99, rounds);
        ratio_text(tf, sizeof tf, qf, rounds);
        printf("%-8d %-20s %-20s %-20s %d/%d\n", counts[i], t50, t99, tf, not_above, rounds);
    }
    free(res);
    return rc;
}
