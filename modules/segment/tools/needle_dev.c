/*
 * needle_dev.c - developer tool (not installed, not a test): every candidate line
 * the needle detector weighs, with its features, for choosing the evidence's
 * weights (tools/needle/choose_weights.py) and for looking at failures.
 *
 *   needle_dev sim FIRST N          hard simulator scenes FIRST..FIRST+N-1
 *                                   (cn_sim_config_hard_scene): an empty frame, then
 *                                   the tip at 45, 70 and 95 % of its path
 *   needle_dev real FRAMES MASKS    a real sequence (frames and masks paired by
 *                                   sorted name, spacing 0.1 mm as eval needle)
 *
 * Output on stderr, one FRAME line per frame (the truth: tip in px, direction,
 * visible length, 0 without a needle), the detector's candidate lines (built with
 * CN_NEEDLE_DEBUG) and a RESULT line. The detector runs alone: no pose, no tracker.
 */
#include "imaging/imaging.h"
#include "segment/segment.h"
#include "sim/sim.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void result(const cn_needle_result *r, const double sp[2])
{
    fprintf(stderr, "RESULT %d %.3f %.2f %.2f %.4f %.4f\n", r->found, r->confidence,
            r->tip_mm.x / sp[0] - 0.5, r->tip_mm.y / sp[1] - 0.5, r->dir.x, r->dir.y);
}

static int run_sim(long first, long n)
{
    cn_frame_pool *pool = cn_frame_pool_new(1, 640, 480);
    cn_frame *f = cn_frame_pool_acquire(pool);
    for (long k = first; k < first + n; k++) {
        cn_sim_config c;
        if (cn_sim_config_hard_scene((uint64_t)k, &c) != CN_OK)
            continue;
        cn_sim *sim = cn_sim_new(&c);
        cn_needle_params np;
        cn_needle_params_default(&np);
        np.needle_diameter_mm = c.needle_diameter_mm;
        cn_needle_det *d = cn_needle_det_new(640, 480, &np);
        if (!sim || !d)
            return 1;
        static const double when[4] = {-1, 0.45, 0.70, 0.95};
        for (int i = 0; i < 4; i++) {
            double t = when[i] < 0 ? 0.5 * c.idle_s : c.idle_s + when[i] * c.approach_s;
            cn_sim_render(sim, t, f);
            const cn_truth *T = &f->truth;
            const double *sp = f->spacing_mm;
            double vis = 0;
            if (when[i] > 0 && T->needle_in) {
                double L = hypot(T->needle_tip_mm.x - T->needle_entry_mm.x,
                                 T->needle_tip_mm.y - T->needle_entry_mm.y);
                vis = c.needle_visible_mm > 0 ? fmin(L, c.needle_visible_mm) : L;
            }
            fprintf(stderr, "FRAME scene %ld t %.2f w %d diam %.2f sp %.4f vis_mm %.1f TRUTH %.2f %.2f "
                    "%.4f %.4f\n", k, t, f->width, c.needle_diameter_mm, sp[0], vis, T->needle_tip_mm.x / sp[0] - 0.5,
                    T->needle_tip_mm.y / sp[1] - 0.5, T->needle_dir.x, T->needle_dir.y);
            cn_needle_result r;
            cn_needle_det_detect(d, f->pixels, f->width, f->height, sp, NULL, &r);
            result(&r, sp);
        }
        cn_needle_det_free(d);
        cn_sim_free(sim);
    }
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list(const char *dir, char **v, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap)
        if (e->d_name[0] != '.')
            v[n++] = strdup(e->d_name);
    closedir(d);
    qsort(v, (size_t)n, sizeof(char *), cmp);
    return n;
}

static int run_real(const char *fdir, const char *mdir)
{
    char *fn[1024], *mn[1024], err[1024];
    int nf = list(fdir, fn, 1024), nm = list(mdir, mn, 1024);
    if (nf < 0 || nm != nf) {
        fprintf(stderr, "needle_dev: %s and %s must hold as many files\n", fdir, mdir);
        return 2;
    }
    cn_needle_params np;
    cn_needle_params_default(&np);
    np.needle_diameter_mm = 0;
    cn_needle_det *d = cn_needle_det_new(CN_IMAGE_MAX_SIDE, CN_IMAGE_MAX_SIDE, &np);
    const double sp[2] = {0.1, 0.1};
    for (int i = 0; i < nf && d; i++) {
        char p1[2048], p2[2048];
        snprintf(p1, sizeof p1, "%s/%s", fdir, fn[i]);
        snprintf(p2, sizeof p2, "%s/%s", mdir, mn[i]);
        cn_image *im = NULL, *m = NULL;
        if (cn_image_read(p1, CN_IMAGE_GREY, &im, err, sizeof err) != CN_OK ||
            cn_mask_read(p2, p1, im->w, im->h, &m, err, sizeof err) != CN_OK) {
            fprintf(stderr, "needle_dev: %s\n", err);
            cn_image_free(im);
            continue;
        }
        /* the mask's principal axis and its deep end */
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        long n = 0;
        for (int y = 0; y < m->h; y++)
            for (int x = 0; x < m->w; x++)
                if (m->px[(size_t)y * m->w + x]) {
                    sx += x, sy += y, sxx += (double)x * x, syy += (double)y * y, sxy += (double)x * y;
                    n++;
                }
        double tx = 0, ty = 0, ux = 1, uy = 0, vis = 0;
        if (n >= 5) {
            double cx = sx / n, cy = sy / n;
            double a = 0.5 * atan2(2 * (sxy / n - cx * cy), (sxx / n - cx * cx) - (syy / n - cy * cy));
            ux = cos(a), uy = sin(a);
            if (uy < 0)
                ux = -ux, uy = -uy;
            double tmax = -1e30;
            for (int y = 0; y < m->h; y++)
                for (int x = 0; x < m->w; x++)
                    if (m->px[(size_t)y * m->w + x])
                        tmax = fmax(tmax, (x - cx) * ux + (y - cy) * uy);
            tx = cx + ux * tmax;
            ty = cy + uy * tmax;
            vis = 20;
        }
        fprintf(stderr, "FRAME scene %s t 0 w %d diam 0.20 sp 0.1000 vis_mm %.1f TRUTH %.2f %.2f "
                "%.4f %.4f\n", fn[i], im->w, vis, tx, ty, ux, uy);
        cn_needle_result r;
        cn_needle_det_detect(d, im->px, im->w, im->h, sp, NULL, &r);
        result(&r, sp);
        cn_image_free(im);
        cn_image_free(m);
    }
    for (int i = 0; i < nf; i++)
        free(fn[i]), free(mn[i]);
    cn_needle_det_free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sim") == 0)
        return run_sim(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "real") == 0)
        return run_real(argv[2], argv[3]);
    fprintf(stderr, "usage: needle_dev sim FIRST N | needle_dev real FRAMES MASKS\n");
    return 2;
}
