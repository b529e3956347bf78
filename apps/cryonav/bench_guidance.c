/*
 * bench_guidance.c - `cryonav bench guidance`: time of the guidance stage per frame
 * and the accuracy of its coverage figure.
 *
 * Worst case for the stage: every contour full (256-point nerve, 256-point 0 / -20 /
 * -40 C curves, 256 rim points), the -20 C curve crossing the nerve so every row
 * does the interval work. Budget: p99 < 0.5 ms per frame. Accuracy: circles of
 * radius 3.5 mm (a 7 mm nerve) against the analytic lens area, at the 0.1 mm grid.
 */
#include "commands.h"
#include "guidance/guidance.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void ellipse(cn_pt2 *p, int n, double cx, double cy, double rx, double ry)
{
    for (int i = 0; i < n; i++) {
        double a = 2 * M_PI * i / n;
        p[i] = (cn_pt2){(float)(cx + rx * cos(a)), (float)(cy + ry * sin(a))};
    }
}

int cn_bench_guidance(int argc, char **argv)
{
    long frames = 20000;
    double grid = 0.1;
    static const struct option opts[] = {{"frames", required_argument, 0, 'n'},
                                         {"grid", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (cn_app_parse_long(optarg, 100, 10000000, &frames) != CN_OK)
                return cn_app_usage_error("bench guidance", "--frames needs 100..10000000, not '%s'",
                                          optarg);
            break;
        case 'g':
            if (cn_app_parse_double(optarg, 0.01, 1, &grid) != CN_OK)
                return cn_app_usage_error("bench guidance", "--grid needs 0.01..1 mm, not '%s'", optarg);
            break;
        case 'h':
            printf("usage: cryonav bench guidance [--frames N] [--grid MM]\n"
                   "Times the guidance stage (coverage, skin distance, alarms) on a worst-case\n"
                   "frame: 256-point nerve, isotherm and rim contours, the -20 C curve crossing\n"
                   "the nerve (budget p99 < 0.5 ms); then the coverage figure's accuracy against\n"
                   "the analytic lens of two 3.5 mm circles 0..7 mm apart (target < 0.02).\n\n"
                   "options:\n"
                   "  --frames N           frames timed (100..10000000, default 20000)\n"
                   "  --grid MM            coverage grid step (0.01..1, default 0.1)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout only; exit 1 when a target is not met. Last line:\n"
                   "coverage accuracy, ...: mean error <x>, worst <y> (of 1; target < 0.02: met)\n");
            return 0;
        case ':':
            return cn_app_usage_error("bench guidance", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench guidance", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("bench guidance", "unexpected argument '%s'", argv[optind]);

    cn_guidance_config c;
    cn_guidance_config_default(&c);
    c.grid_mm = grid;
    cn_guidance *g = cn_guidance_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(1, 8, 8);
    double *ms = malloc(sizeof *ms * (size_t)frames);
    if (!g || !pool || !ms) {
        fprintf(stderr, "bench guidance: out of memory\n");
        free(ms);
        cn_guidance_free(g);
        cn_frame_pool_free(pool);
        return 1;
    }
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_analysis *a = &f->analysis;
    cn_mat4 id = cn_mat4_identity();
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, true);
    a->nerve.found = true;
    a->nerve.n = CN_CONTOUR_MAX;
    ellipse(a->nerve.pts_mm, CN_CONTOUR_MAX, 28.7, 18, 4, 2.6);
    a->n_iso = 3;
    static const float temps[3] = {0, -20, -40};
    static const double radii[3] = {8, 5, 4};
    for (int k = 0; k < 3; k++) {
        a->iso[k].temp_c = temps[k];
        a->iso[k].n = CN_CONTOUR_MAX;
        ellipse(a->iso[k].pts_mm, CN_CONTOUR_MAX, 25, 16.5, radii[k] * 1.3, radii[k]);
    }
    a->ice.found = true;
    a->ice.n = CN_ICE_PTS_MAX;
    ellipse(a->ice.pts_mm, CN_ICE_PTS_MAX, 25, 16.5, 10, 8);
    a->guidance.phase = CN_PHASE_FREEZE;
    for (long i = 0; i < frames; i++) {
        a->guidance.phase_elapsed_s = (double)i * 0.033;
        int64_t t0 = cn_clock_mono_ns();
        cn_guidance_process(g, f);
        ms[i] = (double)(cn_clock_mono_ns() - t0) / 1e6;
    }
    double cov = a->guidance.coverage;
    qsort(ms, (size_t)frames, sizeof *ms, cmp_d);
    double p50 = ms[frames / 2], p99 = ms[(long)ceil(0.99 * (double)frames) - 1], mx = ms[frames - 1];
    printf("guidance stage, worst-case frame (256-point contours, %.2f mm grid), %ld frames:\n"
           "  p50 %.4f ms  p99 %.4f ms  max %.4f ms  (budget p99 < 0.5 ms: %s); coverage %.3f\n",
           grid, frames, p50, p99, mx, p99 < 0.5 ? "met" : "NOT met", cov);

    /* accuracy against the analytic lens of two circles */
    cn_pt2 t[CN_CONTOUR_MAX], z[CN_CONTOUR_MAX];
    const double r = 3.5;
    double worst = 0, sum = 0;
    int n = 0;
    for (double d = 0; d <= 7.0 + 1e-9; d += 0.25) {
        ellipse(t, CN_CONTOUR_MAX, 0, 0, r, r);
        ellipse(z, CN_CONTOUR_MAX, d, 0, r, r);
        double lens = d >= 2 * r ? 0 : 2 * r * r * acos(d / (2 * r)) - d / 2 * sqrt(4 * r * r - d * d);
        double e = fabs(cn_guidance_coverage(t, CN_CONTOUR_MAX, z, CN_CONTOUR_MAX, grid) -
                        lens / (M_PI * r * r));
        worst = fmax(worst, e);
        sum += e;
        n++;
    }
    printf("coverage accuracy, two 3.5 mm circles 0..7 mm apart vs the analytic lens: "
           "mean error %.4f, worst %.4f (of 1; target < 0.02: %s)\n",
           sum / n, worst, worst < 0.02 ? "met" : "NOT met");
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_guidance_free(g);
    free(ms);
    return p99 < 0.5 && worst < 0.02 ? 0 : 1;
}
