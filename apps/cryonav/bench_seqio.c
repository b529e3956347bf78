/* bench_seqio.c - `cryonav bench seqio`: recording and replay speed and memory.
 *
 * 1. Writer rate, 640x480 uncompressed and zlib-compressed: simulator frames
 *    (a few dozen rendered first, then cycled) appended with cn_seq_writer_append
 *    as fast as possible; the close (final file assembly) is timed separately.
 * 2. Recorder at a paced 300 frames/s through the raw sink (ring + writer thread)
 *    with the analysed sink wired (analysis of every other frame): dropped must be 0.
 * 3. Replay memory: a multi-gigabyte uncompressed recording is generated in /tmp,
 *    replayed through the replay device at full speed, and the resident set's
 *    peak (VmHWM, reset first via /proc/self/clear_refs) is reported; the file is
 *    deleted afterwards. Target: < 100 MB whatever the file size. */
#include "commands.h"

#include "replay/replay.h"
#include "seqio/seqio.h"
#include "sim/sim.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPRE 24

static long status_kb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(fp);
    return v;
}

static void reset_peak_rss(void)
{
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (fp) {
        fputs("5", fp);
        fclose(fp);
    }
}

static int write_rate(const char *path, cn_frame **pre, int frames, bool compress, double *fps,
                      double *close_s, double *mb)
{
    char err[1024];
    unlink(path);
    cn_seq_writer_opts o = {.format = CN_SEQ_MHA, .compress = compress, .level = 1};
    cn_seq_writer *w = cn_seq_writer_open(path, &o, err, sizeof err);
    if (!w) {
        fprintf(stderr, "bench seqio: %s\n", err);
        return 1;
    }
    int64_t t0 = cn_clock_mono_ns();
    for (int i = 0; i < frames; i++) {
        cn_frame *f = pre[i % NPRE];
        f->seq = (uint64_t)i;
        f->t_acq_ns = t0 + (int64_t)i * 33333333;
        if (cn_seq_writer_append(w, f, NULL, err, sizeof err) != CN_OK) {
            fprintf(stderr, "bench seqio: %s\n", err);
            cn_seq_writer_close(w, NULL, 0);
            return 1;
        }
    }
    int64_t t1 = cn_clock_mono_ns();
    if (cn_seq_writer_close(w, err, sizeof err) != CN_OK) {
        fprintf(stderr, "bench seqio: %s\n", err);
        return 1;
    }
    int64_t t2 = cn_clock_mono_ns();
    struct stat st;
    stat(path, &st);
    *fps = frames / ((t1 - t0) * 1e-9);
    *close_s = (t2 - t1) * 1e-9;
    *mb = st.st_size / 1e6;
    return 0;
}

int cn_bench_seqio(int argc, char **argv)
{
    static const struct option opts[] = {{"frames", required_argument, 0, 'n'},
                                         {"gb", required_argument, 0, 'g'},
                                         {"dir", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    long frames = 1500;
    double gb = 2.0;
    char dir[512] = "/tmp";
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: cryonav bench seqio [--frames N] [--gb G] [--dir DIR]\n"
                   "Writer rate of 640x480 frames (uncompressed, zlib), recorder at 300 frames/s,\n"
                   "and the resident memory of replaying a G-gigabyte recording generated in DIR.\n\n"
                   "options:\n"
                   "  --frames N           frames of the writer-rate runs (50..1000000, default 1500)\n"
                   "  --gb G               size of the replayed recording in GB (0.05..64, default 2)\n"
                   "  --dir DIR            folder for the test files (default /tmp; needs G GB free)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout; DIR/cn-bench-seqio-<pid>.igs.mha while it runs, deleted\n"
                   "afterwards. Last line: summary: writer <x> fps raw (target >= 300), <y> fps\n"
                   "zlib, recorder dropped <n> at 300 fps, replay peak RSS <m> MB for <g> GB\n");
            return 0;
        case 'n':
            frames = strtol(optarg, &end, 10);
            if (*end || frames < 50 || frames > 1000000)
                return cn_app_usage_error("bench", "--frames needs a whole number >= 50, not '%s'", optarg);
            break;
        case 'g':
            gb = strtod(optarg, &end);
            if (*end || !(gb >= 0.05 && gb <= 64))
                return cn_app_usage_error("bench", "--gb needs a number in [0.05, 64], not '%s'", optarg);
            break;
        case 'd': cn_strlcpy(dir, optarg, sizeof dir); break;
        case ':': return cn_app_usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    /* realistic content: simulator frames across the scenario */
    cn_sim_config sc;
    cn_sim_config_defaults(&sc);
    sc.width_px = 640;
    sc.height_px = 480;
    cn_sim *sim = cn_sim_new(&sc);
    cn_frame_pool *pool = cn_frame_pool_new(NPRE + 1, 640, 480);
    if (!sim || !pool) {
        fprintf(stderr, "bench seqio: cannot create the simulator\n");
        return 1;
    }
    cn_frame *pre[NPRE];
    double dur = cn_sim_duration_s(sim);
    for (int i = 0; i < NPRE; i++) {
        pre[i] = cn_frame_pool_acquire(pool);
        cn_sim_render(sim, dur * i / NPRE, pre[i]);
        pre[i]->wall_ns = cn_clock_wall_ns();
    }
    printf("seqio benchmark: 640x480 uint8 frames from the simulator, files in %s\n", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/cn-bench-seqio-%d.igs.mha", dir, (int)getpid());
    double fps_raw, close_raw, mb_raw, fps_z, close_z, mb_z;
    if (write_rate(path, pre, (int)frames, false, &fps_raw, &close_raw, &mb_raw))
        return 1;
    printf("writer uncompressed: %ld frames, %.0f frames/s (%.0f MB/s), close %.2f s, file %.0f MB\n",
           frames, fps_raw, fps_raw * 640 * 480 / 1e6, close_raw, mb_raw);
    if (write_rate(path, pre, (int)frames, true, &fps_z, &close_z, &mb_z))
        return 1;
    printf("writer zlib level 1 (Huffman-only): %ld frames, %.0f frames/s, close %.2f s, file %.0f MB (ratio %.2f)\n",
           frames, fps_z, close_z, mb_z, mb_raw / mb_z);
    unlink(path);

    /* recorder through the sink at a paced 300 frames/s for 5 s */
    char err[1024];
    cn_recorder_opts ro = {.writer = {.compress = false}, .max_width = 640, .max_height = 480};
    cn_recorder *rec = cn_recorder_new(path, &ro, err, sizeof err);
    if (!rec) {
        fprintf(stderr, "bench seqio: %s\n", err);
        return 1;
    }
    cn_sink raw, analysed;
    cn_recorder_sinks(rec, &raw, &analysed);
    int64_t t0 = cn_clock_mono_ns();
    for (int i = 0; i < 1500; i++) {
        int64_t due = t0 + (int64_t)i * 3333333;
        int64_t now = cn_clock_mono_ns();
        if (due > now)
            cn_clock_sleep_ns(due - now);
        cn_frame *f = pre[i % NPRE];
        f->seq = (uint64_t)i;
        f->t_acq_ns = cn_clock_mono_ns();
        raw.consume(raw.self, f);
        if (i % 2 == 0) { /* the analysis of every other frame, as latest-wins gives it */
            f->analysed = true;
            f->analysis.guidance.phase = CN_PHASE_FREEZE;
            analysed.consume(analysed.self, f);
            f->analysed = false;
        }
    }
    cn_recorder_stats rst;
    cn_recorder_close(rec, &rst, err, sizeof err);
    printf("recorder at 300 frames/s for 5 s: %llu written, %llu dropped, %llu with analysis\n",
           (unsigned long long)rst.written, (unsigned long long)rst.dropped,
           (unsigned long long)rst.analysed_attached);
    unlink(path);

    /* replay memory on a multi-gigabyte file */
    long big = (long)(gb * 1e9 / (640.0 * 480.0)) + 1;
    double fps_b, close_b, mb_b;
    if (write_rate(path, pre, (int)big, false, &fps_b, &close_b, &mb_b))
        return 1;
    for (int i = 0; i < NPRE; i++)
        cn_frame_unref(pre[i]);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
    printf("generated %s: %ld frames, %.2f GB\n", path, big, mb_b / 1e3);
    long rss_before = status_kb("VmRSS");
    reset_peak_rss();
    cn_replay_opts rpo = {.speed = 0};
    cn_device dev;
    if (cn_replay_device_make(path, &rpo, &dev, err, sizeof err) != CN_OK) {
        fprintf(stderr, "bench seqio: %s\n", err);
        unlink(path);
        return 1;
    }
    cn_frame_pool *rp = cn_frame_pool_new(1, 640, 480);
    cn_frame *f = cn_frame_pool_acquire(rp);
    dev.start(dev.self);
    long n = 0, peak_sampled = 0;
    int64_t r0 = cn_clock_mono_ns();
    while (dev.read(dev.self, f) == CN_OK) {
        n++;
        if (n % 500 == 0) {
            long v = status_kb("VmRSS");
            if (v > peak_sampled)
                peak_sampled = v;
        }
    }
    double rs = (cn_clock_mono_ns() - r0) * 1e-9;
    dev.stop(dev.self);
    long hwm = status_kb("VmHWM");
    cn_replay_device_release(&dev);
    cn_frame_unref(f);
    cn_frame_pool_free(rp);
    unlink(path);
    printf("replay of %.2f GB: %ld frames in %.1f s (%.0f frames/s); resident memory %.1f MB "
           "before, peak %.1f MB during replay (target < 100 MB)\n",
           mb_b / 1e3, n, rs, n / rs, rss_before / 1024.0, (hwm > peak_sampled ? hwm : peak_sampled) / 1024.0);
    /* the same for a compressed recording (a quarter of the frames: zlib is slow) */
    long peak_raw = hwm > peak_sampled ? hwm : peak_sampled;
    double fps_c, close_c, mb_c;
    sim = cn_sim_new(&sc);
    pool = cn_frame_pool_new(NPRE, 640, 480);
    for (int i = 0; i < NPRE; i++) {
        pre[i] = cn_frame_pool_acquire(pool);
        cn_sim_render(sim, dur * i / NPRE, pre[i]);
    }
    if (write_rate(path, pre, (int)(big / 4), true, &fps_c, &close_c, &mb_c))
        return 1;
    for (int i = 0; i < NPRE; i++)
        cn_frame_unref(pre[i]);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
    reset_peak_rss();
    rss_before = status_kb("VmRSS");
    if (cn_replay_device_make(path, &rpo, &dev, err, sizeof err) != CN_OK) {
        fprintf(stderr, "bench seqio: %s\n", err);
        unlink(path);
        return 1;
    }
    rp = cn_frame_pool_new(1, 640, 480);
    f = cn_frame_pool_acquire(rp);
    dev.start(dev.self);
    long nc = 0;
    r0 = cn_clock_mono_ns();
    while (dev.read(dev.self, f) == CN_OK)
        nc++;
    double rsc = (cn_clock_mono_ns() - r0) * 1e-9;
    long hwm_c = status_kb("VmHWM");
    cn_replay_device_release(&dev);
    cn_frame_unref(f);
    cn_frame_pool_free(rp);
    unlink(path);
    printf("replay of a zlib recording (%.2f GB compressed, %ld frames): %.0f frames/s; resident "
           "%.1f MB before, peak %.1f MB\n",
           mb_c / 1e3, nc, nc / rsc, rss_before / 1024.0, hwm_c / 1024.0);
    printf("summary: writer %.0f fps raw (target >= 300), %.0f fps zlib, recorder dropped %llu at "
           "300 fps, replay peak RSS %.1f MB for %.2f GB (target < 100 MB)\n",
           fps_raw, fps_z, (unsigned long long)rst.dropped, peak_raw / 1024.0, mb_b / 1e3);
    return 0;
}
