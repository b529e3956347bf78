/*
 * bench_analysis.c - `cryonav bench analysis`: the whole analysis chain of the live
 * session on one core, per simulated 640x480 frame: the console state, the image
 * analysis (needle + nerve + ice, cn_segment_process), the thermal stage (model
 * step, fit, isotherms) and the guidance stage (coverage, skin distance, alarms),
 * each timed, p50/p99 in milliseconds, plus each detector alone.
 *
 * The stages are built from the same layered configuration as `cryonav run` (the
 * session's wiring: segment, thermal with the simulator's time scale, guidance),
 * and fed one continuous simulated procedure (idle, approach, the whole freeze,
 * withdrawal) at --time-scale scene seconds per frame interval, so the thermal
 * model grows its ice as it does at the table. Each frame is rendered before its
 * timing starts; only the chain is timed, pinned to one CPU. The nerve is seeded
 * once, as the operator's click is, so the seeded nerve CNN runs on the first
 * frame (and again only when the tracker loses the nerve).
 */
#include "commands.h"

#include "guidance/guidance.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_FRAMES 48

/* CPU time of this thread: what the analysis costs, without the time other
 * processes on a shared machine take the core away (wall time shows that). */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    double pos = p / 100.0 * (n - 1);
    int lo = (int)pos;
    return v[lo] + (lo + 1 < n ? (pos - lo) * (v[lo + 1] - v[lo]) : 0);
}

/* The stages of the chain, timed separately. */
enum { ST_SEGMENT, ST_THERMAL, ST_GUIDANCE, ST_CHAIN, ST_COUNT };
static const char *const stage_names[ST_COUNT] = {"segment (needle + nerve + ice)", "thermal",
                                                  "guidance", "whole chain"};

int cn_bench_analysis(int argc, char **argv)
{
    enum { A_ITER = 256, A_SCALE };
    static const struct option opts[] = {{"iterations", required_argument, 0, A_ITER},
                                         {"time-scale", required_argument, 0, A_SCALE},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    long iters = 960;
    double time_scale = 5.0;
    optind = 1;
    opterr = 0;
    int oc;
    while ((oc = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        char *end;
        switch (oc) {
        case 'h':
            printf("usage: cryonav bench analysis [--iterations N] [--time-scale X]\n"
                   "Times the live analysis chain (segment, thermal, guidance) on simulated\n"
                   "640x480 frames of one whole procedure, on one core, with the configuration\n"
                   "'cryonav run' reads; and the needle detector and nerve CNN alone.\n\n"
                   "options:\n"
                   "  --iterations N       frames analysed (%d..1000000, default 960)\n"
                   "  --time-scale X       scene seconds per frame interval at 20 fps, as\n"
                   "                       'run --time-scale' (default 5: 960 frames cover it all)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout. Last line: analysis_ms p50 <x> p99 <y> (whole chain)\n",
                   N_FRAMES);
            return 0;
        case A_ITER:
            iters = strtol(optarg, &end, 10);
            if (*end || end == optarg || iters < N_FRAMES || iters > 1000000)
                return cn_app_usage_error("bench analysis", "--iterations needs %d..1000000", N_FRAMES);
            break;
        case A_SCALE:
            time_scale = strtod(optarg, &end);
            if (*end || end == optarg || !(time_scale > 0 && time_scale <= 100))
                return cn_app_usage_error("bench analysis", "--time-scale needs a number in (0, 100]");
            break;
        case ':': return cn_app_usage_error("bench analysis", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench analysis", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("bench analysis", "unexpected argument '%s'", argv[optind]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &set);
    bool pinned = sched_setaffinity(0, sizeof set, &set) == 0;

    /* the session's configuration and stages, as `cryonav run` wires them */
    char err[1024], cfgdir[1024];
    cn_json *cfg = NULL;
    if (cn_app_config_load(NULL, NULL, &cfg, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench analysis: %s\n", err);
        return 2;
    }
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    double seed_unused[2];
    bool has_seed = false;
    cn_thermal_stage_opts to;
    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    if (cn_sim_config_from_json(cfg, "sim", &c, err, sizeof err) != CN_OK ||
        cn_segment_config_from_json(cfg, "segment", &sc, seed_unused, &has_seed, err, sizeof err) != CN_OK ||
        cn_thermal_stage_opts_from_json(&to, cfg, "thermal",
                                        cn_app_data_path("config", cfgdir, sizeof cfgdir), err,
                                        sizeof err) != CN_OK ||
        cn_guidance_config_from_json(cfg, "guidance", &gc, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench analysis: %s\n", err);
        cn_json_free(cfg);
        return 2;
    }
    cn_json_free(cfg);
    c.time_scale = time_scale;
    to.time_scale = time_scale;
    cn_stage thermal = {0}, guid = {0};
    if (cn_thermal_stage_new(&to, &thermal, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench analysis: %s\n", err);
        return 2;
    }
    cn_guidance *g = cn_guidance_new(&gc);
    if (g)
        cn_guidance_stage(g, &guid);
    cn_sim *sim = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(N_FRAMES + 1, c.width_px, c.height_px);
    sc.ice.active_mm = c.needle_active_mm;
    cn_segment *seg = cn_segment_new(&sc, c.width_px, c.height_px);
    cn_needle_det *nd = cn_needle_det_new(c.width_px, c.height_px, &sc.needle);
    double *ms[ST_COUNT] = {0}, *cpu = malloc(sizeof(double) * (size_t)iters);
    for (int k = 0; k < ST_COUNT; k++)
        ms[k] = malloc(sizeof(double) * (size_t)iters);
    double *ms_needle = malloc(sizeof(double) * N_FRAMES);
    double ms_cnn[N_FRAMES];
    cn_nerve_cnn *cnn = cn_nerve_cnn_new(c.width_px, c.height_px);
    cn_frame *frames[N_FRAMES] = {0};
    int rc = 0, n_iso_frames = 0;
    if (!sim || !pool || !seg || !nd || !ms[0] || !ms[1] || !ms[2] || !ms[3] || !cpu ||
        !ms_needle || !cnn || !g) {
        fprintf(stderr, "cryonav bench analysis: out of memory\n");
        rc = 1;
        goto out;
    }
    /* the detectors alone: half the frames in the approach, half in the first freeze */
    double t_app0 = c.idle_s + 0.3 * c.approach_s, t_frz0 = c.idle_s + c.approach_s + 5;
    for (int i = 0; i < N_FRAMES; i++) {
        frames[i] = cn_frame_pool_acquire(pool);
        double t = i < N_FRAMES / 2 ? t_app0 + i * (0.7 * c.approach_s) / (N_FRAMES / 2)
                                    : t_frz0 + (i - N_FRAMES / 2) * 2.0;
        cn_sim_render(sim, t, frames[i]);
    }
    cn_frame *work = cn_frame_pool_acquire(pool);
    /* one procedure at 20 fps of real time: dt scene seconds per frame */
    double dt = time_scale / 20.0;
    cn_segment_set_nerve_seed(seg, frames[0]->truth.nerve_center_mm); /* the operator's click */
    for (long k = 0; k < iters; k++) {
        double t_scene = fmod(k * dt, cn_sim_duration_s(sim));
        cn_sim_render(sim, t_scene, work);
        work->seq = (uint64_t)k;
        work->t_acq_ns = (int64_t)(k * (1e9 / 20.0)); /* the frame clock: real time */
        /* the simulated cryo console (session_stages.c does the same per frame) */
        cn_guidance_state *gs = &work->analysis.guidance;
        gs->phase = work->truth.phase;
        gs->cycle = work->truth.cycle;
        gs->coverage = -1;
        cn_segment_set_freezing(seg, work->truth.phase == CN_PHASE_FREEZE);
        int64_t c0 = thread_cpu_ns(), t0 = cn_clock_mono_ns();
        cn_segment_process(seg, work);
        int64_t t1 = cn_clock_mono_ns();
        thermal.process(thermal.self, work);
        int64_t t2 = cn_clock_mono_ns();
        guid.process(guid.self, work);
        int64_t t3 = cn_clock_mono_ns();
        ms[ST_SEGMENT][k] = (double)(t1 - t0) / 1e6;
        ms[ST_THERMAL][k] = (double)(t2 - t1) / 1e6;
        ms[ST_GUIDANCE][k] = (double)(t3 - t2) / 1e6;
        ms[ST_CHAIN][k] = (double)(t3 - t0) / 1e6;
        cpu[k] = (double)(thread_cpu_ns() - c0) / 1e6;
        n_iso_frames += work->analysis.n_iso > 0;
    }
    for (int i = 0; i < N_FRAMES; i++) {
        cn_needle_result r;
        int64_t t0 = cn_clock_mono_ns();
        cn_needle_det_detect(nd, frames[i]->pixels, frames[i]->width, frames[i]->height,
                             frames[i]->spacing_mm, NULL, &r);
        ms_needle[i] = (double)(cn_clock_mono_ns() - t0) / 1e6;
    }
    for (int i = 0; i < N_FRAMES; i++) {
        const cn_frame *fr = frames[i];
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np;
        float conf;
        int64_t t0 = cn_clock_mono_ns();
        cn_nerve_cnn_run(cnn, CN_NERVE_CNN_LIVE, fr->pixels, fr->width, fr->height,
                         fr->truth.nerve_center_mm.x / fr->spacing_mm[0] - 0.5,
                         fr->truth.nerve_center_mm.y / fr->spacing_mm[1] - 0.5, NULL, pts, &np,
                         &conf);
        ms_cnn[i] = (double)(cn_clock_mono_ns() - t0) / 1e6;
    }
    printf("frames %dx%d, %ld analyses of one procedure (%.0f s of scene at time scale %g, "
           "%d frames with isotherms), %s\n",
           c.width_px, c.height_px, iters, fmin(iters * dt, cn_sim_duration_s(sim)), time_scale,
           n_iso_frames, pinned ? "pinned to one CPU" : "not pinned (sched_setaffinity failed)");
    printf("needle detector alone (no pose prior): p50 %.2f ms p99 %.2f ms\n",
           pct(ms_needle, N_FRAMES, 50), pct(ms_needle, N_FRAMES, 99));
    int grid_n;
    cn_nerve_cnn_geometry(cnn, &grid_n, NULL);
    printf("nerve CNN alone (seeded, %dx%d crop): p50 %.2f ms p99 %.2f ms\n", grid_n, grid_n,
           pct(ms_cnn, N_FRAMES, 50), pct(ms_cnn, N_FRAMES, 99));
    for (int k = 0; k < ST_CHAIN; k++)
        printf("stage %-32s wall ms p50 %.2f p99 %.2f\n", stage_names[k],
               pct(ms[k], (int)iters, 50), pct(ms[k], (int)iters, 99));
    printf("thermal_ms p50 %.2f p99 %.2f\n", pct(ms[ST_THERMAL], (int)iters, 50),
           pct(ms[ST_THERMAL], (int)iters, 99));
    printf("analysis cpu_ms (thread CPU time, whole chain) p50 %.2f p99 %.2f\n",
           pct(cpu, (int)iters, 50), pct(cpu, (int)iters, 99));
    printf("analysis_ms p50 %.2f p99 %.2f\n", pct(ms[ST_CHAIN], (int)iters, 50),
           pct(ms[ST_CHAIN], (int)iters, 99));
    cn_frame_unref(work);
out:
    for (int i = 0; i < N_FRAMES; i++)
        if (frames[i])
            cn_frame_unref(frames[i]);
    for (int k = 0; k < ST_COUNT; k++)
        free(ms[k]);
    free(cpu);
    free(ms_needle);
    cn_needle_det_free(nd);
    cn_nerve_cnn_free(cnn);
    cn_segment_free(seg);
    cn_guidance_free(g);
    cn_thermal_stage_free(thermal.self);
    if (pool)
        cn_frame_pool_free(pool);
    cn_sim_free(sim);
    return rc;
}
