/*
 * bench_viewer.c - `cryonav bench viewer`: how long the viewer takes to show one
 * frame (texture upload of the new image, poses, overlays, HUD text, render of
 * both views), offscreen, p50/p99 in milliseconds, and the sustained frame rate.
 *
 * Frames are synthetic and fully annotated (cn_viewer_demo_frame: speckle,
 * tracked poses, needle, nerve, ice rim, three isotherms, truth), made
 * beforehand and cycled so every shown frame carries a new image: only
 * cn_viewer_show is timed. Rendering is Mesa's llvmpipe on the CPU here, so the
 * wall figures depend on the cores free at the time; the process CPU time per
 * frame (our thread + llvmpipe's) is printed too, as the load-independent cost.
 * A private Xvfb is started when there is no display.
 */
#include "commands.h"

#include "viewer/viewer.h"

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#define N_SRC_FRAMES 4

/* CPU time of the whole process (this thread plus Mesa's llvmpipe threads): the
 * cost of a frame independent of what else the shared machine runs. */
static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int parse_size(const char *s, int *w, int *h)
{
    char x;
    return sscanf(s, "%d%c%d", w, &x, h) == 3 && (x == 'x' || x == 'X') && *w >= 16 &&
           *h >= 16 && *w <= 8192 && *h <= 8192;
}

int cn_bench_viewer(int argc, char **argv)
{
    long frames = 300;
    int win_w = 1280, win_h = 640, img_w = 640, img_h = 480;
    const char *snapshot = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            char *end;
            frames = strtol(argv[++i], &end, 10);
            if (*end || frames < 10 || frames > 100000)
                return cn_app_usage_error("bench", "viewer: --frames needs 10..100000");
        } else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
            if (!parse_size(argv[++i], &win_w, &win_h))
                return cn_app_usage_error("bench", "viewer: --window needs WxH, e.g. 1280x640");
        } else if (strcmp(argv[i], "--image") == 0 && i + 1 < argc) {
            if (!parse_size(argv[++i], &img_w, &img_h))
                return cn_app_usage_error("bench", "viewer: --image needs WxH, e.g. 640x480");
        } else if (strcmp(argv[i], "--snapshot") == 0 && i + 1 < argc) {
            snapshot = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: cryonav bench viewer [--frames N] [--window WxH] [--image WxH]\n"
                   "                            [--snapshot PNG]\n"
                   "Shows N synthetic annotated frames (default 300, image 640x480) in the\n"
                   "viewer offscreen (window 1280x640, both views + HUD) and times each\n"
                   "cn_viewer_show. Starts a private Xvfb when there is no display.\n"
                   "Last line: render_ms p50 <x> p99 <y>\n");
            return 0;
        } else {
            return cn_app_usage_error("bench", "viewer: unknown option '%s'", argv[i]);
        }
    }

    char err[512];
    void *xhold = NULL; /* kept while the viewer renders */
    if (cn_app_ensure_display(true, &xhold, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench viewer: %s\n", err);
        return 1;
    }
    cn_frame_pool *pool = cn_frame_pool_new(N_SRC_FRAMES, img_w, img_h);
    cn_stats *st = cn_stats_new((int)frames);
    if (!pool || !st) {
        fprintf(stderr, "cryonav bench viewer: out of memory\n");
        cn_stats_free(st);
        if (pool)
            cn_frame_pool_free(pool);
        cn_app_display_release(xhold);
        return 1;
    }
    cn_frame *src[N_SRC_FRAMES];
    for (int i = 0; i < N_SRC_FRAMES; i++) {
        src[i] = cn_frame_pool_acquire(pool);
        cn_frame_set_size(src[i], img_w, img_h);
        cn_viewer_demo_frame(src[i], 100 + (uint64_t)i, 2.0 * i);
    }

    char shaders[1024];
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.width = win_w;
    o.height = win_h;
    o.offscreen = true;
    o.show_truth = true;
    o.shader_dir = cn_app_data_path("shaders", shaders, sizeof shaders);
    int rc = 1;
    cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
    if (!v) {
        fprintf(stderr, "cryonav bench viewer: %s\n", err);
        goto out;
    }
    cn_viewer_hud hud = {.fps = 30.0, .latency_ms_p50 = 20.0, .latency_ms_p99 = 35.0,
                         .source = "bench", .status_line = NULL};
    for (int i = 0; i < 10; i++) /* warm-up: shader compile, first texture */
        cn_viewer_show(v, src[i % N_SRC_FRAMES], &hud);
    int64_t t_start = cn_clock_mono_ns();
    double cpu_start = process_cpu_s();
    for (long i = 0; i < frames; i++) {
        cn_frame *f = src[i % N_SRC_FRAMES];
        f->seq = (uint64_t)i;
        int64_t t0 = cn_clock_mono_ns();
        if (cn_viewer_show(v, f, &hud) != CN_OK) {
            fprintf(stderr, "cryonav bench viewer: frame %ld was not shown\n", i);
            goto out;
        }
        cn_stats_add(st, (cn_clock_mono_ns() - t0) / 1e6);
    }
    double wall_s = (cn_clock_mono_ns() - t_start) / 1e9;
    double cpu_s = process_cpu_s() - cpu_start;
    if (snapshot && cn_viewer_snapshot(v, snapshot, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench viewer: %s\n", err);
        goto out;
    }
    printf("viewer: %ld frames, window %dx%d offscreen, image %dx%d, all overlays\n", frames,
           win_w, win_h, img_w, img_h);
    printf("throughput %.1f frames/s, mean %.2f ms, CPU %.2f ms per frame (all threads)\n",
           frames / wall_s, cn_stats_mean(st), 1e3 * cpu_s / frames);
    printf("render_ms p50 %.2f p99 %.2f\n", cn_stats_percentile(st, 50.0),
           cn_stats_percentile(st, 99.0));
    rc = 0;
out:
    cn_viewer_free(v);
    for (int i = 0; i < N_SRC_FRAMES; i++)
        cn_frame_unref(src[i]);
    cn_frame_pool_free(pool);
    cn_stats_free(st);
    cn_app_display_release(xhold);
    return rc;
}
