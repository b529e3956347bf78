/* One visual language (issue 16): the -20 C curve (and the 0 C and -40 C ones) has
 * the same palette colour in a viewer snapshot, in a session report's plot and in
 * the thermal plot, because all three take it from modules/palette. Each picture
 * is made by the real program: `cryonav bench viewer --snapshot` (an annotated
 * frame with the three isotherms), `cryonav report` on a recording written here
 * with the real sequence writer (an analysed freeze and thaw with growing
 * isotherms), and `cryonav thermal --png`. The pixels are read back with libpng. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "palette/palette.h"
#include "run_util.h"
#include "seqio/seqio.h"

static run_result R;
static char tmp[] = "/tmp/cn_palette_XXXXXX";

/* Pixels within tol (per channel) of the role's colour; -1 when not a PNG. */
static long count_role(const char *path, cn_pal_role role, int tol)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        return -1;
    }
    cn_rgb c = cn_palette(role);
    long n = 0;
    for (size_t i = 0; i < (size_t)img.width * img.height; i++) {
        const unsigned char *p = buf + 3 * i;
        n += abs(p[0] - c.r) <= tol && abs(p[1] - c.g) <= tol && abs(p[2] - c.b) <= tol;
    }
    free(buf);
    return n;
}

static void run_ok(const char *const *argv)
{
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", argv[1], argv[2], R.exit_code, R.out,
                 R.err);
}

/* An analysed recording: 40 s of freeze then 20 s of thaw, isotherms growing
 * during the freeze (the -40 C one appears after 10 s), a needle and a nerve so
 * the report also plots the nerve temperature. */
static void write_recording(const char *path)
{
    char err[512];
    cn_seq_writer_opts wo = {.format = CN_SEQ_MHA};
    cn_seq_writer *w = cn_seq_writer_open(path, &wo, err, sizeof err);
    if (!w)
        fail_msg("%s", err);
    cn_frame_pool *pool = cn_frame_pool_new(1, 16, 16);
    cn_frame *f = cn_frame_pool_acquire(pool);
    for (int i = 0; i < 60; i++) {
        cn_frame_set_size(f, 16, 16);
        memset(f->pixels, 40, 16 * 16);
        f->spacing_mm[0] = f->spacing_mm[1] = 2.5;
        f->seq = (uint64_t)i;
        f->t_acq_ns = (int64_t)i * 1000000000LL;
        f->analysed = true;
        memset(&f->analysis, 0, sizeof f->analysis);
        cn_guidance_state *g = &f->analysis.guidance;
        g->phase = i < 40 ? CN_PHASE_FREEZE : CN_PHASE_THAW;
        g->cycle = 1;
        g->coverage = -1;
        f->analysis.needle.found = true;
        f->analysis.needle.tip_mm = (cn_pt2){20, 20};
        f->analysis.nerve.found = true;
        f->analysis.nerve.n = 4;
        for (int k = 0; k < 4; k++)
            f->analysis.nerve.pts_mm[k] = (cn_pt2){25.0f + (k % 2), 22.0f + (k / 2)};
        f->analysis.n_iso = 3;
        double grow = i < 40 ? i : 40 - 0.5 * (i - 40);
        for (int k = 0; k < 3; k++) {
            f->analysis.iso[k].temp_c = -20.0f * (float)k;
            double r = 0.25 * grow - 2.5 * k;
            f->analysis.iso[k].radius_mm = r > 0 ? (float)r : 0.0f;
        }
        if (cn_seq_writer_append(w, f, NULL, err, sizeof err) != CN_OK)
            fail_msg("%s", err);
    }
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    if (cn_seq_writer_close(w, err, sizeof err) != CN_OK)
        fail_msg("%s", err);
}

static void test_same_colours_everywhere(void **st)
{
    (void)st;
    char snap[600], thermal[600], rec[600], out[600], ice[700];
    snprintf(snap, sizeof snap, "%s/snapshot.png", tmp);
    snprintf(thermal, sizeof thermal, "%s/thermal.png", tmp);
    snprintf(rec, sizeof rec, "%s/session.igs.mha", tmp);
    snprintf(out, sizeof out, "%s/report", tmp);
    snprintf(ice, sizeof ice, "%s/ice.png", out);

    const char *viewer[] = {CN_CRYONAV_BIN, "bench", "viewer", "--frames", "10", "--snapshot", snap, NULL};
    run_ok(viewer);
    const char *th[] = {CN_CRYONAV_BIN, "thermal", "--every", "10", "--png", thermal, NULL};
    run_ok(th);
    write_recording(rec);
    const char *rep[] = {CN_CRYONAV_BIN, "report", rec, "--out", out, NULL};
    run_ok(rep);

    const char *pics[3] = {snap, ice, thermal};
    const char *names[3] = {"viewer snapshot", "report plot", "thermal plot"};
    const cn_pal_role isos[3] = {CN_PAL_ISO_20, CN_PAL_ISO_0, CN_PAL_ISO_40};
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < 3; k++) {
            long n = count_role(pics[p], isos[k], 2);
            print_message("%-16s isotherm role %d: %ld pixels of the palette colour\n", names[p],
                          isos[k], n);
            if (n < 150) /* more than a legend swatch: the curve itself */
                fail_msg("the %s has %ld pixels of the palette's colour for role %d", names[p], n,
                         isos[k]);
        }
    /* time plots shade the freeze the same way */
    assert_true(count_role(ice, CN_PAL_FREEZE_SHADE, 2) > 10000);
    assert_true(count_role(thermal, CN_PAL_FREEZE_SHADE, 2) > 10000);
    assert_true(count_role(ice, CN_PAL_THAW_SHADE, 2) > 5000);
}

static int setup(void **st)
{
    (void)st;
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_same_colours_everywhere)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
