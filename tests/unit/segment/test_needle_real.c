/*
 * test_needle_real.c - the needle detector and tracker (cn_segment, as the live
 * stage and `cryonav eval needle` run it) on the two real sequences of
 * ../shared/data/needle-us/xgts: in vitro (a bright container wall at the top,
 * noisy 8-bit BMP masks) and in tissue (a short shallow needle from the right,
 * four frames without a needle). Fails when a figure falls below the one
 * documented in docs/validation.md by more than the stated margin: mean angle
 * error +1 deg, mean line distance +1.5 px, 2 frames fewer detected, more than 1
 * false detection on the frames without a needle. Skipped (with a message) when
 * the shared data is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 64

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *dir, char **names)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FILES)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

typedef struct {
    double ang, dist;
    int det, truth, empty, false_det;
} figures;

/* A grey image k times wider (bilinear across; a mask: nearest), as a scanner with
 * pixels 1/k as wide as tall would store the same view. */
static cn_image *widen(const cn_image *im, double k, bool nearest)
{
    cn_image *o = calloc(1, sizeof *o);
    assert_non_null(o);
    o->w = (int)lround(im->w * k);
    o->h = im->h;
    o->px = malloc((size_t)o->w * o->h);
    assert_non_null(o->px);
    for (int y = 0; y < o->h; y++)
        for (int x = 0; x < o->w; x++) {
            double sxp = (x + 0.5) / k - 0.5;
            if (sxp < 0)
                sxp = 0;
            if (sxp > im->w - 1)
                sxp = im->w - 1;
            int x0 = (int)floor(sxp), x1 = x0 + 1 < im->w ? x0 + 1 : x0;
            double fx = sxp - x0;
            const uint8_t *row = im->px + (size_t)y * im->w;
            o->px[(size_t)y * o->w + x] =
                nearest ? row[fx < 0.5 ? x0 : x1]
                        : (uint8_t)lround(row[x0] + fx * (row[x1] - row[x0]));
        }
    return o;
}

/* Runs one sequence through a fresh cn_segment (spacing 0.1 mm as eval assumes; the
 * masks mark the visible echo line, so no axis offset); widen > 1 stores every
 * frame that much wider, with pixels 0.1 / widen mm wide. */
static void run_sequence_widened(const char *seq, double widen_k, figures *fg);

static void run_sequence(const char *seq, figures *fg)
{
    run_sequence_widened(seq, 1.0, fg);
}

static void run_sequence_widened(const char *seq, double widen_k, figures *fg)
{
    char idir[700], mdir[700], *in[MAX_FILES], *mn[MAX_FILES], err[1024];
    snprintf(idir, sizeof idir, "%s/needle-us/xgts/%s/image", CN_SHARED_DATA_DIR, seq);
    snprintf(mdir, sizeof mdir, "%s/needle-us/xgts/%s/mask", CN_SHARED_DATA_DIR, seq);
    int ni = list(idir, in), nm = list(mdir, mn);
    assert_int_equal(ni, nm);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.nerve_auto = false;
    sc.nerve_cnn = false;
    sc.needle.needle_diameter_mm = 0;
    cn_segment *seg = cn_segment_new(&sc, 1100, 600);
    cn_frame_pool *pool = cn_frame_pool_new(1, 1100, 600);
    assert_non_null(seg);
    assert_non_null(pool);
    memset(fg, 0, sizeof *fg);
    for (int i = 0; i < ni; i++) {
        char p1[1500], p2[1500];
        snprintf(p1, sizeof p1, "%s/%s", idir, in[i]);
        snprintf(p2, sizeof p2, "%s/%s", mdir, mn[i]);
        cn_image *im = NULL, *m = NULL;
        assert_int_equal(cn_image_read(p1, CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
        assert_int_equal(cn_mask_read(p2, p1, im->w, im->h, &m, err, sizeof err), CN_OK);
        if (widen_k != 1.0) {
            cn_image *wi = widen(im, widen_k, false), *wm = widen(m, widen_k, true);
            cn_image_free(im);
            cn_image_free(m);
            im = wi;
            m = wm;
        }
        const double spx = 0.1 / widen_k, spy = 0.1;
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, im->w, im->h);
        memcpy(f->pixels, im->px, (size_t)im->w * im->h);
        f->spacing_mm[0] = spx;
        f->spacing_mm[1] = spy;
        f->t_acq_ns = (int64_t)i * 50000000;
        assert_int_equal(cn_segment_process(seg, f), CN_OK);
        /* the mask's centroid and principal axis */
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        long n = 0;
        for (int y = 0; y < m->h; y++)
            for (int x = 0; x < m->w; x++)
                if (m->px[(size_t)y * m->w + x]) {
                    sx += x, sy += y, sxx += (double)x * x, syy += (double)y * y, sxy += (double)x * y;
                    n++;
                }
        const cn_needle_result *r = &f->analysis.needle;
        if (n < 5) {
            fg->empty++;
            fg->false_det += r->found;
        } else {
            fg->truth++;
            double cx = sx / n, cy = sy / n;
            double a = 0.5 * atan2(2 * (sxy / n - cx * cy), (sxx / n - cx * cx) - (syy / n - cy * cy));
            if (r->found) {
                /* the direction in pixels, where the mask's axis is */
                double dx = r->dir.x / spx, dy = r->dir.y / spy, dn = hypot(dx, dy);
                dx /= dn;
                dy /= dn;
                double e = acos(fmin(1.0, fabs(dx * cos(a) + dy * sin(a)))) * 180 / M_PI;
                double tx = r->tip_mm.x / spx - 0.5, ty = r->tip_mm.y / spy - 0.5;
                fg->ang += e;
                fg->dist += fabs(-(cx - tx) * dy + (cy - ty) * dx);
                fg->det++;
            }
        }
        cn_frame_unref(f);
        cn_image_free(im);
        cn_image_free(m);
        free(in[i]);
        free(mn[i]);
    }
    if (fg->det) {
        fg->ang /= fg->det;
        fg->dist /= fg->det;
    }
    print_message("%s: mean angle_err_deg %.2f line_dist_px %.1f detected %d/%d, false %d/%d\n",
                  seq, fg->ang, fg->dist, fg->det, fg->truth, fg->false_det, fg->empty);
    cn_segment_free(seg);
    cn_frame_pool_free(pool);
}

static bool have_data(void)
{
    char dir[600];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/needle-us/xgts", CN_SHARED_DATA_DIR);
    if (stat(dir, &sb) == 0)
        return true;
    print_message("skipped: %s is absent\n", dir);
    return false;
}

/* documented (docs/validation.md): 0.61 deg, 0.5 px, 25/25 */
static void test_in_vitro(void **st)
{
    (void)st;
    if (!have_data())
        skip();
    figures fg;
    run_sequence("sample/needle_14", &fg);
    assert_int_equal(fg.truth, 25);
    assert_true(fg.det >= 23);
    assert_true(fg.ang <= 0.61 + 1.0);
    assert_true(fg.dist <= 0.5 + 1.5);
}

/* documented: 0.65 deg, 1.2 px, 21/21, no false detection on the 4 empty frames */
static void test_in_tissue(void **st)
{
    (void)st;
    if (!have_data())
        skip();
    figures fg;
    run_sequence("tissue/needle_34", &fg);
    assert_int_equal(fg.truth, 21);
    assert_int_equal(fg.empty, 4);
    assert_true(fg.det >= 19);
    assert_true(fg.ang <= 0.65 + 1.0);
    assert_true(fg.dist <= 1.2 + 1.5);
    assert_true(fg.false_det <= 1);
}

/* Pixels that are not square: the in-tissue sequence stored 1.4x wider (pixels
 * 0.071 x 0.1 mm, the spacing given). A line stays a line, but its angle in the
 * image is flatter than in the tissue: the shallow needle's was taken for one
 * within 4.5 degrees of the transducer face, where fascia and walls run, and 5 of
 * its 21 frames were lost (16/21). The detector's angle rules now use the angle
 * in the tissue; square pixels are untouched (the two tests above). */
static void test_in_tissue_wide_pixels(void **st)
{
    (void)st;
    if (!have_data())
        skip();
    figures fg;
    run_sequence_widened("tissue/needle_34", 1.4, &fg);
    assert_int_equal(fg.truth, 21);
    assert_true(fg.det >= 19);
    assert_true(fg.ang <= 0.65 + 1.0);
    assert_true(fg.false_det <= 1);
}

/* A freeze holds the probe: the tip shown is where it was when the freeze began (the zone
 * stands there). A shaft seen short at the key and longer later in the freeze moved the
 * shown tip forward along the line, past the zone (review 43b F2: 11 mm on a line that
 * grew). needle_34 frame 10, its shaft's deep 5 mm painted over with the tissue below it,
 * then the whole frame in a freeze. */
static void test_freeze_holds_the_tip(void **st)
{
    (void)st;
    if (!have_data())
        skip();
    char idir[700], mdir[700], *in[MAX_FILES], *mn[MAX_FILES], err[1024], p1[1500], p2[1500];
    snprintf(idir, sizeof idir, "%s/needle-us/xgts/tissue/needle_34/image", CN_SHARED_DATA_DIR);
    snprintf(mdir, sizeof mdir, "%s/needle-us/xgts/tissue/needle_34/mask", CN_SHARED_DATA_DIR);
    const int ni = list(idir, in), nm = list(mdir, mn);
    assert_true(ni > 10 && nm == ni);
    snprintf(p1, sizeof p1, "%s/%s", idir, in[10]);
    snprintf(p2, sizeof p2, "%s/%s", mdir, mn[10]);
    cn_image *im = NULL, *m = NULL;
    assert_int_equal(cn_image_read(p1, CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
    assert_int_equal(cn_mask_read(p2, p1, im->w, im->h, &m, err, sizeof err), CN_OK);
    /* the needle comes from the right: its tip is the mask's leftmost pixel */
    int tip_x = im->w;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->px[(size_t)y * m->w + x] && x < tip_x)
                tip_x = x;
    int far_x = 0;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->px[(size_t)y * m->w + x] && x > far_x)
                far_x = x;
    print_message("mask x %d..%d of %d\n", tip_x, far_x, im->w);
    assert_true(tip_x < im->w - 100);
    const int cut_px = 50; /* 5 mm at 0.1 mm a pixel */
    uint8_t *shorter = malloc((size_t)im->w * im->h);
    assert_non_null(shorter);
    memcpy(shorter, im->px, (size_t)im->w * im->h);
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < tip_x + cut_px; x++) {
            bool near = false; /* the mask, 4 px wider, 12 px deeper (the echo's halo
                                * and its reverberation) */
            for (int dy = -12; dy <= 4 && !near; dy++)
                for (int dx = -4; dx <= 4 && !near; dx++) {
                    int yy = y + dy, xx = x + dx;
                    near = yy >= 0 && yy < m->h && xx >= 0 && xx < m->w &&
                           m->px[(size_t)yy * m->w + xx];
                }
            if (near) {
                int ys = y + 40 < im->h ? y + 40 : y - 40;
                shorter[(size_t)y * im->w + x] = im->px[(size_t)ys * im->w + x];
            }
        }
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.nerve_auto = false;
    sc.nerve_cnn = false;
    sc.needle.needle_diameter_mm = 0;
    cn_segment *seg = cn_segment_new(&sc, 1100, 600);
    cn_frame_pool *pool = cn_frame_pool_new(1, 1100, 600);
    assert_true(seg && pool);
    double key_x = NAN, key_y = NAN, last_x = NAN, last_y = NAN, full_x = NAN;
    for (int i = 0; i < 22; i++) { /* 6 frames before, 10 of freeze, 6 of its thaw */
        const bool freezing = i >= 6 && i < 16, full = i >= 6;
        cn_segment_set_freezing(seg, freezing);
        cn_segment_set_in_ice(seg, i >= 6); /* the thaw holds the probe too (review 44 F3) */
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, im->w, im->h);
        memcpy(f->pixels, full ? im->px : shorter, (size_t)im->w * im->h);
        f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
        f->t_acq_ns = (int64_t)i * 100000000;
        assert_int_equal(cn_segment_process(seg, f), CN_OK);
        const cn_needle_result *r = &f->analysis.needle;
        assert_true(r->found);
        if (i == 5) {
            key_x = r->tip_mm.x;
            key_y = r->tip_mm.y;
        }
        last_x = r->tip_mm.x;
        last_y = r->tip_mm.y;
        if (i == 15 || i == 21)
            assert_true(r->tip_hidden);
        cn_frame_unref(f);
    }
    /* the detector alone on the whole frame: where the longer line ends */
    cn_segment *fresh = cn_segment_new(&sc, 1100, 600);
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_frame_set_size(f, im->w, im->h);
    memcpy(f->pixels, im->px, (size_t)im->w * im->h);
    f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
    assert_int_equal(cn_segment_process(fresh, f), CN_OK);
    assert_true(f->analysis.needle.found);
    full_x = f->analysis.needle.tip_mm.x;
    cn_frame_unref(f);
    const double moved = hypot(last_x - key_x, last_y - key_y);
    print_message("tip at the key %.1f mm, the whole shaft's %.1f mm; shown after 10 frames "
                  "of freeze and 6 of thaw %.1f mm (moved %.2f mm)\n",
                  key_x, full_x, last_x, moved);
    assert_true(key_x - full_x >= 3.0); /* the longer line does reach 3 mm further */
    assert_true(moved <= 0.5);
    cn_segment_free(fresh);
    cn_segment_free(seg);
    cn_frame_pool_free(pool);
    free(shorter);
    cn_image_free(im);
    cn_image_free(m);
    for (int i = 0; i < ni; i++) {
        free(in[i]);
        free(mn[i]);
    }
}

/* No freeze is keyed on either real sequence: the ice detector's unkeyed watch (ice
 * that appears and grows around a resting probe) must never report ice there, the
 * frames a second apart as well as 50 ms (the watch needs 5 s of growth). */
static void test_no_unkeyed_ice(void **st)
{
    (void)st;
    if (!have_data())
        skip();
    static const char *const seqs[] = {"sample/needle_14", "tissue/needle_34"};
    int frames = 0, ice = 0;
    for (int q = 0; q < 2; q++)
        for (int step_ms = 50; step_ms <= 1000; step_ms += 950) {
            char idir[700], *in[MAX_FILES], err[1024];
            snprintf(idir, sizeof idir, "%s/needle-us/xgts/%s/image", CN_SHARED_DATA_DIR, seqs[q]);
            const int ni = list(idir, in);
            cn_segment_config sc;
            cn_segment_config_default(&sc);
            sc.nerve_auto = false;
            sc.nerve_cnn = false;
            sc.needle.needle_diameter_mm = 0;
            cn_segment *seg = cn_segment_new(&sc, 1100, 600);
            cn_frame_pool *pool = cn_frame_pool_new(1, 1100, 600);
            assert_non_null(seg);
            assert_non_null(pool);
            /* forwards, then back: the probe rests at either end */
            for (int k = 0; k < 2 * ni; k++) {
                const int i = k < ni ? k : 2 * ni - 1 - k;
                char p1[1500];
                snprintf(p1, sizeof p1, "%s/%s", idir, in[i]);
                cn_image *im = NULL;
                assert_int_equal(cn_image_read(p1, CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
                cn_frame *f = cn_frame_pool_acquire(pool);
                cn_frame_set_size(f, im->w, im->h);
                memcpy(f->pixels, im->px, (size_t)im->w * im->h);
                f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
                f->t_acq_ns = (int64_t)k * step_ms * 1000000;
                assert_int_equal(cn_segment_process(seg, f), CN_OK);
                frames++;
                ice += f->analysis.ice.found || f->analysis.ice.unkeyed;
                cn_frame_unref(f);
                cn_image_free(im);
            }
            for (int i = 0; i < ni; i++)
                free(in[i]);
            cn_segment_free(seg);
            cn_frame_pool_free(pool);
        }
    print_message("no freeze keyed: ice reported on %d of %d real frames\n", ice, frames);
    assert_int_equal(ice, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_vitro),
        cmocka_unit_test(test_in_tissue),
        cmocka_unit_test(test_in_tissue_wide_pixels),
        cmocka_unit_test(test_freeze_holds_the_tip),
        cmocka_unit_test(test_no_unkeyed_ice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
