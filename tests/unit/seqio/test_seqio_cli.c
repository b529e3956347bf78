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

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
    free(out);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_recover),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
