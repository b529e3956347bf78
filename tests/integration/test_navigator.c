/* End to end: `cryonav run --headless` on the simulator writes snapshots whose
 * pixels show the ultrasound plane in both views, and the in-plane view shows what
 * the simulator's ground truth says is there at that scene time: speckle in muscle,
 * the nerve's bright epineurium around dark fascicles, the bright needle, and during
 * a freeze the bright ice rim with a dark shadow behind it.
 *
 * The snapshot name carries the frame's sequence number, and the simulator shows
 * scene time seq * time_scale / fps, so the test asks the simulator library itself
 * for the truth of that exact frame. The image's place in the 2-D view is found
 * from the pixels (its bounding box), not from the viewer's internals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_util.h"
#include "sim/sim.h"

#define TIME_SCALE 5.0

static run_result R;

typedef struct {
    int w, h;
    uint8_t *rgb;
} image;

static int load_png(const char *path, image *im)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path))
        return -1;
    pi.format = PNG_FORMAT_RGB;
    im->w = (int)pi.width;
    im->h = (int)pi.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(pi));
    if (!im->rgb || !png_image_finish_read(&pi, NULL, im->rgb, 0, NULL))
        return -1;
    return 0;
}

static int lum(const image *im, int x, int y)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return 0;
    const uint8_t *p = im->rgb + 3 * ((size_t)y * (size_t)im->w + (size_t)x);
    int m = p[0] > p[1] ? p[0] : p[1];
    return m > p[2] ? m : p[2];
}

/* Where the ultrasound image sits in the right half (the 2-D view): the columns and
 * rows where at least 30 % of pixels are not black. */
typedef struct {
    double x0, y0, px_per_mm;
} view_map;

static int find_2d_view(const image *im, double w_mm, double h_mm, view_map *m)
{
    int xa = im->w / 2, xb = im->w;
    int left = -1, right = -1, top = -1, bottom = -1;
    for (int x = xa; x < xb; x++) {
        int n = 0;
        for (int y = 0; y < im->h; y++)
            n += lum(im, x, y) > 12;
        if (n > im->h * 3 / 10) {
            if (left < 0)
                left = x;
            right = x;
        }
    }
    for (int y = 0; y < im->h; y++) {
        int n = 0;
        for (int x = xa; x < xb; x++)
            n += lum(im, x, y) > 12;
        if (n > (xb - xa) * 3 / 10) {
            if (top < 0)
                top = y;
            bottom = y;
        }
    }
    if (left < 0 || top < 0)
        return -1;
    double sx = (right - left + 1) / w_mm, sy = (bottom - top + 1) / h_mm;
    print_message("2-D view: image at x %d..%d y %d..%d, %.2f / %.2f px per mm\n", left, right,
                  top, bottom, sx, sy);
    if (fabs(sx - sy) > 0.05 * sx) /* square pixels: both extents must agree */
        return -1;
    m->x0 = left;
    m->y0 = top;
    m->px_per_mm = 0.5 * (sx + sy);
    return 0;
}

static int at_mm(const image *im, const view_map *m, double x_mm, double y_mm)
{
    return lum(im, (int)lround(m->x0 + x_mm * m->px_per_mm), (int)lround(m->y0 + y_mm * m->px_per_mm));
}

/* Brightest pixel within r_mm of a point (tolerates the view's resampling). */
static int max_near(const image *im, const view_map *m, double x_mm, double y_mm, double r_mm)
{
    int best = 0;
    for (double dy = -r_mm; dy <= r_mm; dy += 0.5 / m->px_per_mm)
        for (double dx = -r_mm; dx <= r_mm; dx += 0.5 / m->px_per_mm) {
            int v = at_mm(im, m, x_mm + dx, y_mm + dy);
            if (v > best)
                best = v;
        }
    return best;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static double median(int *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    return n ? v[n / 2] : 0;
}

/* Mean and coefficient of variation over a rectangle in image mm. */
static void patch_stats(const image *im, const view_map *m, double x0, double y0, double x1,
                        double y1, double *mean, double *cv, double *med)
{
    static int vals[200000];
    int n = 0;
    double s = 0, s2 = 0;
    for (double y = y0; y <= y1; y += 1.0 / m->px_per_mm)
        for (double x = x0; x <= x1 && n < 200000; x += 1.0 / m->px_per_mm) {
            int v = at_mm(im, m, x, y);
            vals[n++] = v;
            s += v;
            s2 += (double)v * v;
        }
    *mean = s / n;
    *cv = sqrt(fmax(0, s2 / n - *mean * *mean)) / fmax(*mean, 1e-9);
    *med = median(vals, n);
}

typedef struct {
    char path[1024];
    uint64_t seq;
} snap;

static int list_snaps(const char *dir, snap *out, int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        unsigned long long seq;
        if (sscanf(e->d_name, "snapshot-%llu.png", &seq) == 1) {
            snprintf(out[n].path, sizeof out[n].path, "%s/%s", dir, e->d_name);
            out[n].seq = seq;
            n++;
        }
    }
    closedir(d);
    return n;
}

static void check_3d_view(const image *im)
{
    /* The left half shows the textured plane: many grey (R = G = B) pixels of
     * varying brightness, unlike the blue-grey gradient background. */
    long grey = 0, total = 0;
    double s = 0, s2 = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w / 2; x++) {
            const uint8_t *p = im->rgb + 3 * ((size_t)y * (size_t)im->w + (size_t)x);
            total++;
            if (abs(p[0] - p[1]) < 6 && abs(p[1] - p[2]) < 6 && p[0] > 40) {
                grey++;
                s += p[0];
                s2 += (double)p[0] * p[0];
            }
        }
    double mean = grey ? s / grey : 0, sd = grey ? sqrt(fmax(0, s2 / grey - mean * mean)) : 0;
    print_message("3-D view: %.1f %% grey textured pixels, sd %.1f\n", 100.0 * grey / total, sd);
    assert_true(grey > total / 50);
    assert_true(sd > 15);
}

static void test_headless_snapshots(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_nav_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char snapdir[600];
    snprintf(snapdir, sizeof snapdir, "%s/snaps", dir);
    /* 300 frames paced at 20 fps (15 s), 0.25 scene-s each: idle, the 20 s approach
     * (80 frames) and 53 s of the freeze. Real-time pacing and a slow scene clock keep
     * snapshots landing in every phase even when a loaded machine makes the viewer
     * skip frames. */
    /* --no-overlays: the pixels checked are the ultrasound's, not the analysis lines. */
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--headless", "--no-serve", "--no-overlays",
                          "--time-scale", "5", "--frames", "300", "--snapshot", snapdir,
                          "--snapshot-every", "4", "--seed", "1",
                          "--config", CN_SOURCE_DIR "/config/session.json", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        print_error("exit %d signal %d\n%s\n%s\n", R.exit_code, R.signal, R.out, R.err);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "snapshots: "));

    cn_sim_config sc;
    cn_sim_config_defaults(&sc);
    char err[512];
    cn_json *cfg = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(cn_sim_config_from_json(cfg, "sim", &sc, err, sizeof err), CN_OK);
    cn_json_free(cfg);
    sc.seed = 1;
    sc.time_scale = TIME_SCALE;
    cn_sim *sim = cn_sim_new(&sc);
    assert_non_null(sim);
    double spacing = sc.depth_mm / sc.height_px;
    double w_mm = sc.width_px * spacing, h_mm = sc.height_px * spacing;

    static snap snaps[512];
    int n = list_snaps(snapdir, snaps, 512);
    print_message("%d snapshots\n", n);
    assert_true(n >= 3);
    bool saw_needle = false, saw_ice = false;
    for (int i = 0; i < n; i++) {
        cn_truth t;
        cn_sim_truth_at(sim, (double)snaps[i].seq * sc.time_scale / sc.fps, &t);
        bool needle_case = t.phase == CN_PHASE_APPROACH && t.needle_in && !saw_needle &&
                           t.t_scene_s > 8;
        bool ice_case = t.phase == CN_PHASE_FREEZE && t.ice_radius_mm > 3 && !saw_ice;
        if (!needle_case && !ice_case)
            continue;
        image im = {0};
        assert_int_equal(load_png(snaps[i].path, &im), 0);
        print_message("%s: scene %.1f s, %s\n", snaps[i].path, t.t_scene_s, cn_phase_name(t.phase));
        check_3d_view(&im);
        view_map m;
        assert_int_equal(find_2d_view(&im, w_mm, h_mm, &m), 0);

        /* Speckle in muscle, far from nerve, artery, needle and ice (bottom left). */
        double mean, cv, med;
        patch_stats(&im, &m, 2, h_mm - 8, 12, h_mm - 3, &mean, &cv, &med);
        print_message("muscle: mean %.1f cv %.2f\n", mean, cv);
        assert_true(mean > 15);
        assert_true(cv > 0.25); /* Rayleigh speckle after log compression is grainy */

        if (needle_case) {
            saw_needle = true;
            /* Nerve: epineurium ring brighter than the fascicles inside. */
            int ring[720], inner[2000], nr = 0, ni = 0;
            for (int k = 0; k < 360; k++) {
                double a = k * M_PI / 180;
                ring[nr++] = max_near(&im, &m, t.nerve_center_mm.x + 0.97 * t.nerve_rx_mm * cos(a),
                                      t.nerve_center_mm.y + 0.97 * t.nerve_ry_mm * sin(a), 0.25);
            }
            for (double dy = -0.5; dy <= 0.5; dy += 0.05)
                for (double dx = -0.5; dx <= 0.5; dx += 0.05)
                    if (dx * dx + dy * dy < 0.25 && ni < 2000)
                        inner[ni++] = at_mm(&im, &m, t.nerve_center_mm.x + dx * t.nerve_rx_mm,
                                            t.nerve_center_mm.y + dy * t.nerve_ry_mm);
            double ring_med = median(ring, nr);
            double inner_med = median(inner, ni);
            print_message("nerve: epineurium %.0f, inside %.0f\n", ring_med, inner_med);
            assert_true(ring_med > 1.5 * inner_med + 10);
            /* Needle: the shaft from its entry to the tip is bright. */
            int along[400], na = 0;
            double len = hypot(t.needle_tip_mm.x - t.needle_entry_mm.x,
                               t.needle_tip_mm.y - t.needle_entry_mm.y);
            for (double s = 1.0; s < len - 0.5 && na < 400; s += 0.5)
                along[na++] = max_near(&im, &m, t.needle_entry_mm.x + s * t.needle_dir.x,
                                       t.needle_entry_mm.y + s * t.needle_dir.y, 1.2);
            double needle_med = median(along, na);
            print_message("needle: %d samples, median %.0f vs muscle %.1f\n", na, needle_med, mean);
            assert_true(na > 10);
            assert_true(needle_med > 2.0 * mean);
        }
        if (ice_case) {
            saw_ice = true;
            int rim[CN_ICE_PTS_MAX], nrim = 0;
            for (int k = 0; k < t.rim_n; k++)
                rim[nrim++] = max_near(&im, &m, t.rim_mm[k].x, t.rim_mm[k].y, 0.4);
            double rim_med = median(rim, nrim);
            /* Shadow: a patch from 3 mm below the top of the ball down 6 mm, over the
             * middle half of its width. The median ignores thin overlay lines. */
            double top = t.ice_center_mm.y - t.ice_b_mm;
            double smean, scv, smed;
            patch_stats(&im, &m, t.ice_center_mm.x - 0.4 * t.ice_b_mm, top + 3,
                        t.ice_center_mm.x + 0.4 * t.ice_b_mm, fmin(top + 9, h_mm - 1), &smean, &scv,
                        &smed);
            print_message("ice: rim median %.0f (%d points), shadow median %.0f, muscle %.1f\n",
                          rim_med, nrim, smed, mean);
            assert_true(nrim > 10);
            assert_true(rim_med > 2.0 * mean);
            assert_true(smed < 0.35 * mean);
        }
        free(im.rgb);
    }
    assert_true(saw_needle);
    assert_true(saw_ice);
    cn_sim_free(sim);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_headless_snapshots)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
