/*
 * bench_dated3d.c - `cryonav bench dated3d`: what a step dated back costs the frames once
 * the cold field is 3-D (a freeze at a second spot).
 *
 * The scene: a freeze at spot A (0-60 s), its thaw, the probe moved 5 mm at 90 s, a freeze
 * at spot B from 91 s whose gas stops at 130 s. The stop is keyed on time, or at 150 s and
 * dated back to 130 s, or nobody keyed that freeze at all and f at 160 s gives its start and
 * stop at once. A dated step sends the field back to a snapshot, and the field must be
 * stepped again to the frame: in one frame (grid_catch_up_ms huge, as before the review 36
 * N1 fix) or spread over frames (the default budget). Each run drives the thermal stage
 * frame by frame, as a session does, and reports the wall time per frame (p50, p99, max),
 * the frames that stood behind with no zone, and the 0 C radius across spot B at the end.
 */
#include "commands.h"
#include "thermal/thermal.h"

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

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)ceil(p / 100 * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

enum { KEYED, DATED, MISSED };

typedef struct {
    double p50_ms, p99_ms, max_ms, r0_mm;
    int behind_frames;
} dated_run;

/* One session of the scene at fps, the stage given budget_ms a frame (0: its default). */
static int run_scene(const cn_thermal_stage_opts *base, int kind, double fps, double budget_ms,
                     double end_s, dated_run *out, char *err, size_t err_len)
{
    enum { W = 256, H = 192 };
    const double sp = 0.2; /* mm a pixel: a 51 x 38 mm image */
    cn_thermal_stage_opts so = *base;
    so.grid_catch_up_ms = budget_ms;
    so.fit_enabled = false;
    cn_stage st;
    if (cn_thermal_stage_new(&so, &st, err, err_len))
        return 1;
    cn_frame_pool *pool = cn_frame_pool_new(2, W, H);
    const int n = (int)llround(end_s * fps);
    double *ms = malloc(sizeof(double) * (size_t)(n + 1));
    if (!pool || !ms) {
        snprintf(err, err_len, "out of memory");
        free(ms);
        if (pool)
            cn_frame_pool_free(pool);
        cn_thermal_stage_free(st.self);
        return 1;
    }
    /* the probe in the image plane along dir, at A and 5 mm across its axis at B */
    const cn_pt2 dir = {0.8660254f, 0.5f}, a = {22, 14};
    const cn_pt2 b = {(float)(a.x - 5 * dir.y), (float)(a.y + 5 * dir.x)};
    cn_mat4 c2mm[2];
    for (int k = 0; k < 2; k++) {
        cn_thermal_plane pl;
        cn_thermal_plane_from_needle(k ? b : a, dir, &pl);
        cn_mat4_invert(&pl.image_mm_to_probe, &c2mm[k]);
    }
    const double key_s = kind == KEYED ? 130 : kind == DATED ? 150 : 160;
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (int i = 0; i <= n && !rc; i++) {
        const double t = i / fps;
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, W, H);
        f->spacing_mm[0] = f->spacing_mm[1] = sp;
        f->t_acq_ns = f->t_scene_ns = (int64_t)llround((10 + t) * 1e9);
        /* tracked: the image in the probe's frame (pixels), probe = tracker = reference */
        cn_mat4 img = cn_mat4_scale(sp, sp, sp), id = cn_mat4_identity(), mm2i;
        cn_mat4 i2mm = cn_frame_image_to_image_mm(f);
        cn_mat4_invert(&i2mm, &mm2i);
        cn_mat4 mm2t = cn_mat4_mul(&img, &mm2i), c2t = cn_mat4_mul(&mm2t, &c2mm[t >= 90]);
        cn_frame_set_pose(f, "ImageToProbe", &img, true);
        cn_frame_set_pose(f, "ProbeToTracker", &id, true);
        cn_frame_set_pose(f, "ReferenceToTracker", &id, true);
        cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, true);
        /* what the procedure says on this frame */
        cn_guidance_state *g = &f->analysis.guidance;
        const bool stopped = t >= key_s;
        g->cycle = t < 91 || (kind == MISSED && !stopped) ? 1 : 2;
        g->phase = t < 60                         ? CN_PHASE_FREEZE
                   : t < 90                       ? CN_PHASE_THAW
                   : t < 91                       ? CN_PHASE_APPROACH
                   : kind == MISSED && !stopped   ? CN_PHASE_APPROACH
                   : !stopped                     ? CN_PHASE_FREEZE
                                                  : CN_PHASE_THAW;
        if (t == 90)
            cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, f->t_scene_ns, "reposition");
        if (stopped) {
            g->phase_elapsed_s = t - 130; /* the gas stopped at 130 s */
            g->freeze_s = kind == MISSED ? 39 : 0;
        }
        const int64_t t0 = cn_clock_mono_ns();
        rc = st.process(st.self, f);
        ms[i] = (double)(cn_clock_mono_ns() - t0) * 1e-6;
        if (f->analysis.thermal.catching_up_s > 0)
            out->behind_frames++;
        if (i == n)
            out->r0_mm = f->analysis.n_iso > 0 ? f->analysis.iso[0].radius_mm : NAN;
        cn_frame_unref(f);
    }
    if (rc)
        snprintf(err, err_len, "the thermal stage failed: %s", cn_strerror(rc));
    out->p50_ms = pct(ms, n + 1, 50);
    out->p99_ms = pct(ms, n + 1, 99);
    out->max_ms = pct(ms, n + 1, 100);
    free(ms);
    cn_frame_pool_free(pool);
    cn_thermal_stage_free(st.self);
    return rc ? 1 : 0;
}

int cn_bench_dated3d(int argc, char **argv)
{
    double fps = 10, h3 = 1.0;
    static const struct option opts[] = {{"fps", required_argument, 0, 'f'},
                                         {"cell", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (cn_app_parse_double(optarg, 1, 60, &fps) != CN_OK)
                return cn_app_usage_error("bench dated3d", "--fps needs 1..60, not '%s'", optarg);
            break;
        case 'c':
            if (cn_app_parse_double(optarg, 0.5, 3, &h3) != CN_OK)
                return cn_app_usage_error("bench dated3d", "--cell needs 0.5..3 mm, not '%s'",
                                          optarg);
            break;
        case 'h':
            printf("usage: cryonav bench dated3d [--fps F] [--cell MM]\n"
                   "Times a step dated back once the cold field is 3-D: freezes at two spots\n"
                   "5 mm apart, the second's stop keyed on time, keyed 20 s late and dated back,\n"
                   "or the whole second freeze keyed 30 s after it ended. Each dated run twice:\n"
                   "stepped again inside one frame, and spread over frames (the default). Per\n"
                   "frame wall time p50 / p99 / max, frames with no zone, 0 C radius at 200 s.\n\n"
                   "options:\n"
                   "  --fps F              frames a second (1..60, default 10)\n"
                   "  --cell MM            the 3-D cell (0.5..3, default 1.0)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout only. Last line: dated3d: longest frame <x> ms spread, <y> ms "
                   "at once\n");
            return 0;
        case ':':
            return cn_app_usage_error("bench dated3d", "option '%s' needs a value",
                                      argv[optind - 1]);
        default:
            return cn_app_usage_error("bench dated3d", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("bench dated3d", "unexpected argument '%s'", argv[optind]);
    cn_thermal_catalog *cat = calloc(1, sizeof *cat);
    cn_thermal_stage_opts so;
    char p1[1024], p2[1024], p3[1024], err[512] = "out of memory";
    if (!cat ||
        cn_thermal_catalog_load(cat, cn_app_data_path("config/cryoprobes.json", p1, sizeof p1),
                                cn_app_data_path("config/protocols.json", p2, sizeof p2),
                                cn_app_data_path("config/tissues.json", p3, sizeof p3), err,
                                sizeof err) ||
        cn_thermal_stage_opts_from_catalog(&so, cat, NULL, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "cryonav bench dated3d: %s\n", err);
        free(cat);
        return 1;
    }
    free(cat);
    so.h3_mm = h3;
    static const char *names[3] = {"stop keyed on time", "stop keyed 20 s late, dated",
                                   "freeze keyed whole 30 s late"};
    double worst[2] = {0, 0};
    printf("dated3d: %s, %.2f mm cells, %.0f frames/s, 200 s (spot B's freeze 91-130 s)\n",
           so.probe.name, h3, fps);
    for (int kind = KEYED; kind <= MISSED; kind++) {
        for (int once = 0; once < (kind == KEYED ? 1 : 2); once++) {
            dated_run r;
            if (run_scene(&so, kind, fps, once ? 1e6 : 0, 200, &r, err, sizeof err)) {
                fprintf(stderr, "cryonav bench dated3d: %s\n", err);
                return 1;
            }
            printf("  %-30s %-9s frame p50 %6.2f ms, p99 %7.2f, max %7.1f ms; %4d frames "
                   "with no zone; 0 C %.2f mm\n",
                   names[kind], kind == KEYED ? "" : once ? "at once" : "spread", r.p50_ms,
                   r.p99_ms, r.max_ms, r.behind_frames, r.r0_mm);
            if (kind != KEYED)
                worst[once] = fmax(worst[once], r.max_ms);
        }
    }
    printf("dated3d: longest frame %.0f ms spread, %.0f ms at once\n", worst[0], worst[1]);
    return 0;
}
