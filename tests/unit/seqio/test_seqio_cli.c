/*
 * test_seqio_cli.c - the recording commands of the real `cryonav` binary:
 * `info` on real PLUS files and on garbage, `recover` on a recording whose process
 * died without closing it, and `report` on a recorded session (JSON summary, HTML
 * page, and plots that decode as PNG with real content; runs under Xvfb).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seqio/seqio.h"

static const char *app(void) { return CN_BINARY_DIR "/apps/cryonav/cryonav"; }

/* Runs a command line, returns the exit code and the stdout text (caller frees). */
static int run(const char *cmdline, char **out) {
    FILE *p = popen(cmdline, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_info(void **s) {
    (void)s;
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "%s info %s/plus/BoneUltrasound_L14.igs.mha", app(), CN_SHARED_DATA_DIR);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "\nframes 21\n"));
    assert_non_null(strstr(out, "\nsize 820 616\n"));
    assert_non_null(strstr(out, "transform ProbeToTracker: 21 frames, 21 valid"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s info %s/plus/Prostate10_video.igs.mhd", app(), CN_SHARED_DATA_DIR);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "\nframes 10\n"));
    assert_non_null(strstr(out, "\nsize 640 480\n"));
    assert_non_null(strstr(out, "frames_with_fields 9"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s info %s/plus/Needle_20cm.stl 2>&1", app(), CN_SHARED_DATA_DIR);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out, "Needle_20cm.stl"));
    /* teaching audit T13: hints that point the right way (before, the mesh and the bare
     * .raw were offered `convert`, which refused them; a copy cut inside its header was
     * "not 'Key = Value'"; replay --record x.mp4 wrote a MetaImage named .mp4) */
    assert_non_null(strstr(out, "surface mesh, not an image"));
    assert_null(strstr(out, "cryonav convert"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s info %s/plus/Prostate10_video.raw 2>&1", app(),
             CN_SHARED_DATA_DIR);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out, "its .mhd or .nhdr header"));
    free(out);
    char cut[512];
    snprintf(cut, sizeof cut, "%s/cut-in-header.igs.mha", CN_BINARY_DIR);
    FILE *f = fopen(cut, "w");
    assert_non_null(f);
    fputs("ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\n"
          "Seq_Frame0000_Timestamp = 0\nSeq_Frame0001_Timest", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1", app(), cut);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out, "the file ends inside its header"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s replay %s/plus/Prostate10_video.igs.mhd --record x.mp4 2>&1",
             app(), CN_SHARED_DATA_DIR);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out, "--record writes a PLUS sequence file"));
    free(out);
    unlink(cut);
}

static void test_recover(void **s) {
    (void)s;
    char path[1024], cmd[2048], err[512], *out;
    snprintf(path, sizeof path, "%s/cli_recover.igs.mha", CN_BINARY_DIR);
    unlink(path);
    pid_t pid = fork();
    if (pid == 0) {
        /* a recording process that dies without closing its file */
        cn_seq_writer *w = cn_seq_writer_open(path, NULL, err, sizeof err);
        if (!w) _exit(3);
        cn_frame_pool *pool = cn_frame_pool_new(1, 64, 48);
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, 64, 48);
        for (int i = 0; i < 10; i++) {
            memset(f->pixels, i * 10, 64 * 48);
            f->seq = (uint64_t)i;
            f->t_acq_ns = i * 100000000LL;
            cn_seq_writer_append(w, f, NULL, err, sizeof err);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_int_equal(WEXITSTATUS(st), 0);
    snprintf(cmd, sizeof cmd, "%s recover %s", app(), path);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "recovered 10 frames"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s info %s", app(), path);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out, "\nframes 10\n"));
    assert_non_null(strstr(out, "\nsize 64 48\n"));
    free(out);
    /* nothing left to recover: a clear error */
    snprintf(cmd, sizeof cmd, "%s recover %s 2>&1", app(), path);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out, "no recording to recover"));
    free(out);
    /* a copy cut short (seq audit D12): its whole frames are salvaged beside it */
    {
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(truncate(path, sb.st_size - 64 * 48 * 3 - 100), 0); /* 3+ frames lost */
        snprintf(cmd, sizeof cmd, "%s recover %s 2>&1", app(), path);
        assert_int_equal(run(cmd, &out), 0);
        assert_non_null(strstr(out, "salvaged 6 of 10 frames into "));
        free(out);
        char salv[1100];
        snprintf(salv, sizeof salv, "%.*s-salvaged.igs.mha", (int)(strlen(path) - 8), path);
        snprintf(cmd, sizeof cmd, "%s info %s", app(), salv);
        assert_int_equal(run(cmd, &out), 0);
        assert_non_null(strstr(out, "\nframes 6\n"));
        free(out);
        unlink(salv);
    }
    unlink(path);
}

/* Decodes a PNG; returns the number of distinct colours (capped) and its size. */
static int png_colours(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) fail_msg("%s: not a PNG", path);
    img.format = PNG_FORMAT_RGB;
    size_t n = PNG_IMAGE_SIZE(img);
    unsigned char *buf = malloc(n);
    assert_int_not_equal(png_image_finish_read(&img, NULL, buf, 0, NULL), 0);
    *w = (int)img.width;
    *h = (int)img.height;
    int ncol = 0;
    unsigned cols[64];
    for (size_t i = 0; i + 2 < n && ncol < 64; i += 3) {
        unsigned c = (unsigned)buf[i] << 16 | (unsigned)buf[i + 1] << 8 | buf[i + 2];
        bool seen = false;
        for (int k = 0; k < ncol; k++) seen |= cols[k] == c;
        if (!seen) cols[ncol++] = c;
    }
    free(buf);
    return ncol;
}

static void test_report(void **s) {
    (void)s;
    char path[1024], dir[1100], cmd[4200], err[512], *out;
    snprintf(path, sizeof path, "%s/cli_report.igs.mha", CN_BINARY_DIR);
    snprintf(dir, sizeof dir, "%s/cli_report_out", CN_BINARY_DIR);
    unlink(path);
    /* a scripted session: idle 2 s, approach 5 s, freeze 10 s, thaw 5 s, freeze 8 s,
     * withdrawn 3 s, at 10 frames/s, with analysis fields as guidance writes them */
    cn_seq_writer *w = cn_seq_writer_open(path, NULL, err, sizeof err);
    assert_non_null(w);
    cn_frame_pool *pool = cn_frame_pool_new(1, 64, 48);
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_frame_set_size(f, 64, 48);
    for (int i = 0; i < 330; i++) {
        double t = i / 10.0;
        memset(f->pixels, i & 0xff, 64 * 48);
        f->seq = (uint64_t)i;
        f->t_acq_ns = (int64_t)llround(t * 1e9);
        f->analysed = true;
        memset(&f->analysis, 0, sizeof f->analysis);
        cn_guidance_state *g = &f->analysis.guidance;
        double r = 0;
        if (t < 2) g->phase = CN_PHASE_IDLE;
        else if (t < 7) g->phase = CN_PHASE_APPROACH;
        else if (t < 17) { g->phase = CN_PHASE_FREEZE; g->cycle = 1; r = 1.5 * sqrt(t - 7); }
        else if (t < 22) { g->phase = CN_PHASE_THAW; g->cycle = 1; r = 1.5 * sqrt(10) - 0.1 * (t - 17); }
        else if (t < 30) { g->phase = CN_PHASE_FREEZE; g->cycle = 2; r = 4.2 + 0.2 * (t - 22); }
        else g->phase = CN_PHASE_WITHDRAWN;
        f->analysis.n_iso = 2;
        f->analysis.iso[0] = (cn_isotherm){.temp_c = 0, .radius_mm = (float)r};
        f->analysis.iso[1] = (cn_isotherm){.temp_c = -20, .radius_mm = (float)(0.6 * r)};
        f->analysis.ice.found = r > 0;
        f->analysis.ice.n = 3;
        f->analysis.ice.pts_mm[0] = (cn_pt2){(float)(10 - r), 15};
        f->analysis.ice.pts_mm[1] = (cn_pt2){10, (float)(15 - r)};
        f->analysis.ice.pts_mm[2] = (cn_pt2){(float)(10 + r), 15};
        f->analysis.needle.found = g->phase != CN_PHASE_IDLE;
        f->analysis.needle.tip_mm = (cn_pt2){10, 15};
        f->analysis.nerve.found = true;
        f->analysis.nerve.n = 2;
        f->analysis.nerve.pts_mm[0] = (cn_pt2){12, 17};
        f->analysis.nerve.pts_mm[1] = (cn_pt2){14, 19};
        g->coverage = fmin(1, r / 5);
        assert_int_equal(cn_seq_writer_append(w, f, NULL, err, sizeof err), CN_OK);
    }
    assert_int_equal(cn_seq_writer_close(w, err, sizeof err), CN_OK);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    snprintf(cmd, sizeof cmd, "rm -rf %s && %s report %s --out %s", dir, app(), path, dir);
    int rc = run(cmd, &out);
    if (rc != 0) fail_msg("report exited %d: %s", rc, out);
    assert_non_null(strstr(out, "\"procedure_time_s\": 28.0"));
    free(out);
    char p[1200];
    snprintf(p, sizeof p, "%s/summary.json", dir);
    char *json = cn_file_read_all(p, NULL);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"freeze_s\": 10.0"));
    assert_non_null(strstr(json, "\"thaw_s\": 5.0"));
    assert_non_null(strstr(json, "\"freeze_s\": 8.0"));
    free(json);
    snprintf(p, sizeof p, "%s/report.html", dir);
    char *html = cn_file_read_all(p, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "ice.png"));
    assert_non_null(strstr(html, "nerve_temp.png"));
    free(html);
    const char *pngs[] = {"ice.png", "nerve_temp.png"};
    for (int i = 0; i < 2; i++) {
        int pw, ph;
        snprintf(p, sizeof p, "%s/%s", dir, pngs[i]);
        int nc = png_colours(p, &pw, &ph);
        assert_int_equal(pw, 900);
        assert_int_equal(ph, 500);
        assert_true(nc >= 4); /* background, axes, text and at least one curve */
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    unlink(path);
}

/* Runs `cryonav <args...>` with stdout/stderr into `out` (caller frees), killing
 * it after timeout_s; returns the exit code (-SIG when killed) and its peak RSS. */
static int run_measured(const char *const *args, int timeout_s, long *maxrss_kb, char **out) {
    char tmpl[] = "/tmp/cn_cli_out_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        const char *argv[16] = {app()};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(app(), (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    time_t end = time(NULL) + timeout_s;
    pid_t w;
    while ((w = wait4(pid, &status, WNOHANG, &ru)) == 0 && time(NULL) < end) usleep(20000);
    if (w == 0) {
        kill(pid, SIGKILL);
        wait4(pid, &status, 0, &ru);
    }
    *maxrss_kb = ru.ru_maxrss;
    close(fd);
    *out = cn_file_read_all(tmpl, NULL);
    unlink(tmpl);
    if (w == 0) return -SIGKILL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Issue 14, hostile files: a header claiming 1e8 frames in a 140 KB compressed file
 * is refused in bounded memory; a data file that is a FIFO does not hang; data
 * files outside the header's folder (absolute, ../) are not followed. */
static void test_hostile(void **s) {
    (void)s;
    char dir[1024], path[1100], err[512];
    snprintf(dir, sizeof dir, "%s/hostile_XXXXXX", CN_BINARY_DIR);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/big.igs.mha", dir);
    /* 45 frames of noise (deflate cannot shrink it): about 140 KB */
    cn_seq_writer_opts wo = {.compress = true};
    cn_seq_writer *w = cn_seq_writer_open(path, &wo, err, sizeof err);
    assert_non_null(w);
    cn_frame_pool *pool = cn_frame_pool_new(1, 64, 48);
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_frame_set_size(f, 64, 48);
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    for (int i = 0; i < 45; i++) {
        for (int p = 0; p < 64 * 48; p++) f->pixels[p] = (uint8_t)cn_rng_next(&rng);
        f->seq = (uint64_t)i;
        f->t_acq_ns = i * 50000000LL;
        assert_int_equal(cn_seq_writer_append(w, f, NULL, err, sizeof err), CN_OK);
    }
    assert_int_equal(cn_seq_writer_close(w, err, sizeof err), CN_OK);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    size_t len;
    char *b = cn_file_read_all(path, &len);
    assert_non_null(b);
    print_message("compressed file of %zu bytes\n", len);
    char *d = memmem(b, len, "DimSize = 64 48 45", 18);
    assert_non_null(d);
    memcpy(d, "DimSize = 1 1 100000000", 23); /* the line is padded: same length */
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, len, fp);
    fclose(fp);
    free(b);
    long rss;
    char *out;
    const char *a1[] = {"info", path, NULL};
    int rc = run_measured(a1, 60, &rss, &out);
    print_message("info on 1e8 frames: exit %d, peak RSS %.1f MB: %s", rc, rss / 1024.0, out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "frames"));
    assert_true(rss < 100 * 1024);
    free(out);
    /* a detached header whose data file is a FIFO nobody writes */
    char mhd[1100], fifo[1100], outside[1100];
    snprintf(fifo, sizeof fifo, "%s/data.raw", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    snprintf(mhd, sizeof mhd, "%s/fifo.igs.mhd", dir);
    fp = fopen(mhd, "w");
    fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\n"
                "ElementDataFile = data.raw\n");
    fclose(fp);
    const char *a2[] = {"info", mhd, NULL};
    rc = run_measured(a2, 10, &rss, &out);
    print_message("FIFO: exit %d: %s", rc, out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "not a regular file"));
    free(out);
    /* data files outside the header's folder: absolute and ../ */
    snprintf(outside, sizeof outside, "%s/../hostile_outside.raw", dir);
    fp = fopen(outside, "wb");
    for (int i = 0; i < 32; i++) fputc(i, fp);
    fclose(fp);
    const char *names[2] = {"../hostile_outside.raw", NULL};
    char absname[1200];
    if (!realpath(outside, absname)) fail_msg("realpath");
    names[1] = absname;
    for (int k = 0; k < 2; k++) {
        fp = fopen(mhd, "w");
        fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\n"
                    "ElementDataFile = %s\n", names[k]);
        fclose(fp);
        rc = run_measured(a2, 10, &rss, &out);
        print_message("%s: exit %d: %s", names[k], rc, out);
        assert_int_equal(rc, 2);
        assert_non_null(strstr(out, "plain file name"));
        free(out);
    }
    unlink(outside);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* `cryonav info` reads every real PLUS / Slicer file in the shared data. */
static void test_info_all_plus(void **s) {
    (void)s;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/plus", CN_SHARED_DATA_DIR);
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        size_t l = strlen(e->d_name);
        bool seq = (l > 4 && strcmp(e->d_name + l - 4, ".mha") == 0) ||
                   (l > 4 && strcmp(e->d_name + l - 4, ".mhd") == 0) ||
                   (l > 5 && strcmp(e->d_name + l - 5, ".nrrd") == 0);
        if (!seq) continue;
        char path[1400], *out;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        long rss;
        const char *a[] = {"info", path, NULL};
        int rc = run_measured(a, 60, &rss, &out);
        if (rc != 0) fail_msg("cryonav info %s: exit %d: %s", e->d_name, rc, out);
        assert_non_null(strstr(out, "\nframes "));
        free(out);
        n++;
    }
    closedir(dp);
    print_message("%d files read\n", n);
    assert_true(n >= 12);
}

/* PLUS conventions when reading: a PLUS file without ImageToProbe has no spacing
 * (1 mm/px, said so) unless --spacing-mm gives one; a replay recorded from it
 * keeps that spacing in its own ImageToProbe. */
static void test_plus_spacing(void **s) {
    (void)s;
    char path[1024], rec[1024], *out;
    long rss;
    snprintf(path, sizeof path, "%s/plus/SpinePhantomFreehand.igs.mha", CN_SHARED_DATA_DIR);
    const char *a1[] = {"info", path, NULL};
    assert_int_equal(run_measured(a1, 60, &rss, &out), 0);
    assert_non_null(strstr(out, "spacing 1 1 (none in the file"));
    free(out);
    const char *a2[] = {"info", path, "--spacing-mm", "0.2", NULL};
    assert_int_equal(run_measured(a2, 60, &rss, &out), 0);
    assert_non_null(strstr(out, "spacing 0.2 0.2 (from user)"));
    free(out);
    /* x,y as the guide gives it for info and replay alike (before, info refused it) */
    const char *a2b[] = {"info", path, "--spacing-mm", "0.2,0.25", NULL};
    assert_int_equal(run_measured(a2b, 60, &rss, &out), 0);
    assert_non_null(strstr(out, "spacing 0.2 0.25 (from user)"));
    free(out);
    snprintf(rec, sizeof rec, "%s/plus_spacing.igs.mha", CN_BINARY_DIR);
    unlink(rec);
    const char *a3[] = {"replay", path, "--speed", "0", "--headless", "--frames", "4", "--no-serve",
                        "--spacing-mm", "0.2", "--record", rec, "--snapshot", CN_BINARY_DIR,
                        "--snapshot-every", "1000", NULL};
    int rc = run_measured(a3, 200, &rss, &out);
    if (rc != 0) fail_msg("replay: exit %d: %s", rc, out);
    free(out);
    const char *a4[] = {"info", rec, NULL};
    assert_int_equal(run_measured(a4, 60, &rss, &out), 0);
    print_message("%s", out);
    assert_non_null(strstr(out, "spacing 0.2 0.2 (from ImageToProbe)"));
    free(out);
    unlink(rec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_recover),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_info_all_plus),
        cmocka_unit_test(test_plus_spacing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
