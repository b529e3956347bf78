/*
 * eval_needle.c - `cryonav eval needle FRAMES MASKS`: the needle detector and
 * tracker on a real frame sequence whose masks mark the needle shaft (any pixel
 * > 127), frames and masks paired by sorted name.
 *
 * Per frame: the angle between the detected axis and the mask's principal axis,
 * and the distance (pixels) of the true shaft's centre (mask centroid) from the
 * detected line. Frames run in order through cn_segment, so the tracker is part
 * of what is measured. Real images carry no pixel spacing: --spacing-mm (default
 * 0.1) only scales the detector's mm-based limits (gaps, probe radius).
 */
#include "commands.h"
#include "eval.h"

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Centroid and principal-axis angle (rad, in [0, pi)) of the pixels > 127. */
static bool mask_axis(const cn_image *m, double *cx, double *cy, double *ang)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    long n = 0;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->px[(size_t)y * m->w + x] > 127) {
                sx += x, sy += y, sxx += (double)x * x, syy += (double)y * y, sxy += (double)x * y;
                n++;
            }
    if (n < 5)
        return false;
    *cx = sx / n;
    *cy = sy / n;
    double vxx = sxx / n - *cx * *cx, vyy = syy / n - *cy * *cy, vxy = sxy / n - *cx * *cy;
    *ang = 0.5 * atan2(2 * vxy, vxx - vyy);
    if (*ang < 0)
        *ang += M_PI;
    return true;
}

int cn_eval_needle(int argc, char **argv)
{
    const char *dirs[2] = {NULL, NULL};
    int nd = 0;
    double sp = 0.1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spacing-mm") == 0 && i + 1 < argc) {
            char *end;
            sp = strtod(argv[++i], &end);
            if (*end || !(sp >= 0.01 && sp <= 2))
                return cn_app_usage_error("eval", "needle: --spacing-mm needs 0.01..2");
        } else if (argv[i][0] == '-') {
            return cn_app_usage_error("eval", "needle: unknown option '%s'", argv[i]);
        } else if (nd < 2) {
            dirs[nd++] = argv[i];
        } else {
            return cn_app_usage_error("eval", "needle: too many arguments ('%s')", argv[i]);
        }
    }
    if (nd != 2)
        return cn_app_usage_error("eval", "usage: eval needle FRAMES MASKS [--spacing-mm S]");
    char err[512];
    char **fr = NULL, **mk = NULL;
    int nf = 0, nm = 0;
    if (cn_eval_list_png(dirs[0], &fr, &nf, err, sizeof err) != CN_OK)
        return cn_app_usage_error("eval", "%s", err);
    if (cn_eval_list_png(dirs[1], &mk, &nm, err, sizeof err) != CN_OK) {
        cn_eval_free_list(fr, nf);
        return cn_app_usage_error("eval", "%s", err);
    }
    if (nf != nm) {
        fprintf(stderr, "cryonav eval: %s has %d frames but %s has %d masks (paired by sorted "
                        "name)\n", dirs[0], nf, dirs[1], nm);
        cn_eval_free_list(fr, nf);
        cn_eval_free_list(mk, nm);
        return 2;
    }
    cn_segment *seg = NULL;
    cn_frame_pool *pool = NULL;
    int pool_w = 0, pool_h = 0;
    double sum_ang = 0, sum_dist = 0;
    int n_truth = 0, n_det = 0, false_det = 0, bad = 0, rc = 0;
    for (int i = 0; i < nf; i++) {
        char p1[2048], p2[2048];
        snprintf(p1, sizeof p1, "%s/%s", dirs[0], fr[i]);
        snprintf(p2, sizeof p2, "%s/%s", dirs[1], mk[i]);
        cn_image *im = NULL, *m = NULL;
        if (cn_png_read_gray(p1, &im, err, sizeof err) != CN_OK ||
            cn_png_read_gray(p2, &m, err, sizeof err) != CN_OK) {
            fprintf(stderr, "\ncryonav eval: %s (skipped)\n", err);
            bad++;
            cn_image_free(im);
            continue;
        }
        if (im->w != m->w || im->h != m->h) {
            fprintf(stderr, "\ncryonav eval: %s: mask is %dx%d but its frame is %dx%d (skipped)\n",
                    p2, m->w, m->h, im->w, im->h);
            bad++;
            cn_image_free(im);
            cn_image_free(m);
            continue;
        }
        if (!pool || im->w > pool_w || im->h > pool_h) {
            /* (re)create for the largest frame so far; the tracker restarts */
            cn_segment_free(seg);
            if (pool)
                cn_frame_pool_free(pool);
            pool_w = im->w > 640 ? im->w : 640;
            pool_h = im->h > 480 ? im->h : 480;
            pool = cn_frame_pool_new(1, pool_w, pool_h);
            cn_segment_config sc;
            cn_segment_config_default(&sc);
            sc.nerve_auto = false;
            seg = cn_segment_new(&sc, pool_w, pool_h);
            if (!pool || !seg) {
                fprintf(stderr, "cryonav eval: out of memory\n");
                cn_image_free(im);
                cn_image_free(m);
                rc = 1;
                break;
            }
        }
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, im->w, im->h);
        memcpy(f->pixels, im->px, (size_t)im->w * im->h);
        f->spacing_mm[0] = f->spacing_mm[1] = sp;
        f->t_acq_ns = (int64_t)i * 50000000; /* 20 fps */
        cn_segment_process(seg, f);
        const cn_needle_result *r = &f->analysis.needle;
        double cx, cy, ang;
        bool truth = mask_axis(m, &cx, &cy, &ang);
        if (truth) {
            n_truth++;
            if (r->found) {
                n_det++;
                double da = atan2(r->dir.y, r->dir.x);
                double e = fmod(fabs(da - ang), M_PI);
                if (e > M_PI / 2)
                    e = M_PI - e;
                /* line through the detected tip (pixels), direction dir */
                double tx = r->tip_mm.x / sp - 0.5, ty = r->tip_mm.y / sp - 0.5;
                double dist = fabs(-(cx - tx) * r->dir.y + (cy - ty) * r->dir.x);
                sum_ang += e * 180 / M_PI;
                sum_dist += dist;
                printf("%s angle_err_deg %.2f line_dist_px %.1f conf %.2f\n", fr[i],
                       e * 180 / M_PI, dist, r->confidence);
            } else {
                printf("%s not detected\n", fr[i]);
            }
        } else {
            printf("%s no needle in mask%s\n", fr[i], r->found ? " (detected one: false)" : "");
            false_det += r->found;
        }
        cn_frame_unref(f);
        cn_image_free(im);
        cn_image_free(m);
        cn_eval_progress(i + 1, nf);
    }
    if (rc == 0) {
        printf("frames %d (skipped %d), with a needle %d, false detections %d\n", nf, bad, n_truth,
               false_det);
        printf("mean angle_err_deg %.2f line_dist_px %.1f detected %d/%d\n",
               n_det ? sum_ang / n_det : NAN, n_det ? sum_dist / n_det : NAN, n_det, n_truth);
        if (bad)
            rc = 1;
    }
    cn_segment_free(seg);
    if (pool)
        cn_frame_pool_free(pool);
    cn_eval_free_list(fr, nf);
    cn_eval_free_list(mk, nm);
    return rc;
}
