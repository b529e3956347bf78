/*
 * bench_viewer.c - `cryonav bench viewer`: motion to screen in the viewer, i.e. how
 * long it takes from a new frame being handed to the viewer until its picture is
 * complete (texture upload of the new image, poses, overlays, HUD text, render of
 * both views, and the rasteriser finishing: offscreen the framebuffer is complete,
 * with --onscreen the window has been swapped), p50/p99 in milliseconds, and the
 * sustained frame rate. The HUD's numbers change every 8th frame, as the
 * navigator's statistics do (4 refreshes a second at 30 fps).
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

#include <getopt.h>
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cryonav bench viewer [--frames N] [--window WxH] [--image WxH]\n"
            "                            [--onscreen] [--snapshot PNG]\n"
            "Shows N synthetic annotated frames (default 300, image 640x480) in the\n"
            "viewer (window 1280x800, both views + HUD) and times motion to screen: from\n"
            "the new frame to its complete picture. Offscreen by default; --onscreen uses a\n"
            "real window (the X display's, or a private Xvfb) and includes the swap.\n\n"
            "options:\n"
            "  --frames N           frames timed (10..100000, default 300)\n"
            "  --window WxH         window size (default 1280x800)\n"
            "  --image WxH          ultrasound image size (default 640x480)\n"
            "  --onscreen           a mapped window instead of offscreen rendering\n"
            "  --snapshot PNG       write the last frame's picture to PNG\n"
            "  -h, --help           this help\n\n"
            "outputs: stdout; PNG with --snapshot. Last line: motion_to_screen_ms p50 <x> p99 <y>\n");
}

int cn_bench_viewer(int argc, char **argv)
{
    enum { V_FRAMES = 256, V_WINDOW, V_IMAGE, V_ONSCREEN, V_SNAPSHOT };
    static const struct option opts[] = {{"frames", required_argument, 0, V_FRAMES},
                                         {"window", required_argument, 0, V_WINDOW},
                                         {"image", required_argument, 0, V_IMAGE},
                                         {"onscreen", no_argument, 0, V_ONSCREEN},
                                         {"snapshot", required_argument, 0, V_SNAPSHOT},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    long frames = 300;
    int win_w = 1280, win_h = 800, img_w = 640, img_h = 480;
    bool onscreen = false;
    const char *snapshot = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case V_FRAMES: {
            char *end;
            frames = strtol(optarg, &end, 10);
            if (*end || end == optarg || frames < 10 || frames > 100000)
                return cn_app_usage_error("bench viewer", "--frames needs 10..100000, not '%s'", optarg);
            break;
        }
        case V_WINDOW:
            if (cn_app_parse_size(optarg, 64, 8192, &win_w, &win_h) != CN_OK)
                return cn_app_usage_error("bench viewer", "--window needs WxH, e.g. 1280x800");
            break;
        case V_IMAGE:
            if (cn_app_parse_size(optarg, 16, 8192, &img_w, &img_h) != CN_OK)
                return cn_app_usage_error("bench viewer", "--image needs WxH, e.g. 640x480");
            break;
        case V_ONSCREEN: onscreen = true; break;
        case V_SNAPSHOT: {
            static const char *const png[] = {".png", NULL};
            if (!cn_app_has_suffix(optarg, png))
                return cn_app_usage_error("bench viewer", "--snapshot writes a PNG: the name must "
                                          "end in .png, not '%s'", optarg);
            snapshot = optarg;
            break;
        }
        case ':': return cn_app_usage_error("bench viewer", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench viewer", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("bench viewer", "unexpected argument '%s'", argv[optind]);

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
    o.offscreen = !onscreen;
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
        if (i % 8 == 0) { /* the navigator refreshes its statistics 4 times a second */
            hud.fps = 30.0 + 0.1 * (double)(i % 37);
            hud.latency_ms_p50 = 12.0 + 0.1 * (double)(i % 23);
        }
        if (onscreen)
            cn_viewer_poll(v);
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
    if (snapshot)
        fprintf(stderr, "cryonav bench viewer: wrote %s\n", snapshot);
    printf("viewer: %ld frames, window %dx%d %s, image %dx%d, all overlays\n", frames, win_w,
           win_h, onscreen ? "on screen" : "offscreen", img_w, img_h);
    printf("throughput %.1f frames/s, mean %.2f ms, CPU %.2f ms per frame (all threads)\n",
           frames / wall_s, cn_stats_mean(st), 1e3 * cpu_s / frames);
    printf("motion_to_screen_ms p50 %.2f p99 %.2f\n", cn_stats_percentile(st, 50.0),
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
