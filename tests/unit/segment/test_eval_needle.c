/*
 * test_eval_needle.c - `cryonav eval needle FRAMES MASKS` end to end: simulator
 * frames and masks of the true shaft are written as PNG files into a temporary
 * folder, the real cryonav binary evaluates them, and its last line must show
 * the needle detected in most frames with a small angle error. A mask of the
 * wrong size must give a clear error, not a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_FRAMES 8

static void write_session(const char *fdir, const char *mdir)
{
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.seed = 77;
    cn_sim *sim = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    uint8_t *mask = malloc((size_t)c.width_px * c.height_px);
    char err[512], path[512];
    for (int i = 0; i < N_FRAMES; i++) {
        double t = c.idle_s + c.approach_s * (0.55 + 0.05 * i);
        assert_int_equal(cn_sim_render(sim, t, f), CN_OK);
        const cn_truth *T = &f->truth;
        /* the shaft: a band of the probe's diameter from the entry point to the tip */
        double sp = f->spacing_mm[0], r = 0.5 * c.needle_diameter_mm;
        double nx = -T->needle_dir.y, ny = T->needle_dir.x;
        cn_pt2 poly[4] = {
            {(float)((T->needle_entry_mm.x + nx * r) / sp - 0.5), (float)((T->needle_entry_mm.y + ny * r) / sp - 0.5)},
            {(float)((T->needle_tip_mm.x + nx * r) / sp - 0.5), (float)((T->needle_tip_mm.y + ny * r) / sp - 0.5)},
            {(float)((T->needle_tip_mm.x - nx * r) / sp - 0.5), (float)((T->needle_tip_mm.y - ny * r) / sp - 0.5)},
            {(float)((T->needle_entry_mm.x - nx * r) / sp - 0.5), (float)((T->needle_entry_mm.y - ny * r) / sp - 0.5)},
        };
        memset(mask, 0, (size_t)c.width_px * c.height_px);
        assert_int_equal(cn_img_fill_polygon(mask, f->width, f->height, poly, 4, 255), CN_OK);
        snprintf(path, sizeof path, "%s/f%02d.png", fdir, i);
        assert_int_equal(cn_png_write_gray(path, f->pixels, f->width, f->height, err, sizeof err), CN_OK);
        snprintf(path, sizeof path, "%s/m%02d.png", mdir, i);
        assert_int_equal(cn_png_write_gray(path, mask, f->width, f->height, err, sizeof err), CN_OK);
    }
    free(mask);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
}

/* Runs cmd, returns its exit status and the last line of its stdout. */
static int run(const char *cmd, char *last, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    last[0] = 0;
    while (fgets(line, sizeof line, p))
        snprintf(last, len, "%s", line);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_eval_needle_on_sim_pngs(void **st)
{
    (void)st;
    char base[] = "/tmp/cn_test_eval_needle_XXXXXX";
    assert_non_null(mkdtemp(base));
    char fdir[300], mdir[300], cmd[1400], last[1024];
    snprintf(fdir, sizeof fdir, "%s/frames", base);
    snprintf(mdir, sizeof mdir, "%s/masks", base);
    assert_int_equal(mkdir(fdir, 0700), 0);
    assert_int_equal(mkdir(mdir, 0700), 0);
    write_session(fdir, mdir);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s --spacing-mm %g 2>/dev/null",
             CN_BINARY_DIR, fdir, mdir, 40.0 / 480);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    double ang, dist;
    int k, n;
    assert_int_equal(sscanf(last, "mean angle_err_deg %lf line_dist_px %lf detected %d/%d", &ang,
                            &dist, &k, &n), 4);
    assert_int_equal(n, N_FRAMES);
    assert_true(k >= N_FRAMES - 1);
    assert_true(ang <= 2.0);
    assert_true(dist <= 6.0); /* px: the shaft's centre lies on the detected axis */
    /* a mask of another size: a clear error and exit code 1, no crash */
    char path[400], err[256];
    uint8_t small[16 * 16] = {0};
    snprintf(path, sizeof path, "%s/m03.png", mdir);
    assert_int_equal(cn_png_write_gray(path, small, 16, 16, err, sizeof err), CN_OK);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s 2>&1 >/dev/null",
             CN_BINARY_DIR, fdir, mdir);
    FILE *p = popen(cmd, "r");
    char buf[4096] = {0};
    size_t got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = 0;
    int stc = pclose(p);
    assert_non_null(strstr(buf, "mask is 16x16"));
    assert_int_equal(WEXITSTATUS(stc), 1);
    /* wrong usage */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s 2>/dev/null", CN_BINARY_DIR, fdir);
    assert_int_equal(run(cmd, last, sizeof last), 2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_needle_on_sim_pngs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
