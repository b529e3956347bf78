/*
 * eval_needle_sim.c - `cryonav eval needle --sim N`: the needle detector and tracker on
 * randomised hard simulator scenes (cn_sim_config_hard_scene), scored against the
 * simulator's truth. Scenes 1-150 are the split the detector's evidence was chosen on,
 * 1001 on the reported one (docs/validation.md).
 */
#include "eval_needle.h"
#include "eval.h"

#include "pipeline/pipeline.h"
#include "sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The hard simulator scenes: per scene an empty frame, then three frames of the
 * approach (the tip at 45, 70 and 95 % of its path) through one cn_segment. Angle
 * error, distance (px) of the true tip from the reported line, tip error (mm). */
int cn_evd_sim(const eval_opts *o)
{
    cn_frame_pool *pool = cn_frame_pool_new(1, 640, 480);
    cn_frame *f = pool ? cn_frame_pool_acquire(pool) : NULL;
    if (!f) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        if (pool)
            cn_frame_pool_free(pool);
        return 1;
    }
    double sum_ang = 0, sum_dist = 0, sum_tip = 0;
    int n_truth = 0, n_det = 0, n_empty = 0, false_det = 0, wrong = 0, rc = 0;
    for (long k = o->sim_first; k < o->sim_first + o->sim_n && rc == 0; k++) {
        cn_sim_config c;
        if (cn_sim_config_hard_scene((uint64_t)k, &c) != CN_OK)
            continue;
        cn_sim *sim = cn_sim_new(&c);
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.nerve_auto = false;
        sc.nerve_cnn = false;
        sc.needle.entry = o->entry;
        sc.needle.min_angle_deg = o->min_ang;
        sc.needle.max_angle_deg = o->max_ang;
        sc.needle.needle_diameter_mm = c.needle_diameter_mm;
        cn_segment *seg = sim ? cn_segment_new(&sc, c.width_px, c.height_px) : NULL;
        if (!seg) {
            fprintf(stderr, "cryonav eval: out of memory\n");
            cn_sim_free(sim);
            rc = 1;
            break;
        }
        static const double when[4] = {-1, 0.45, 0.70, 0.95};
        for (int i = 0; i < 4; i++) {
            double t = when[i] < 0 ? 0.5 * c.idle_s : c.idle_s + when[i] * c.approach_s;
            cn_sim_render(sim, t, f);
            f->t_acq_ns = (int64_t)(t * 1e9);
            if (!o->pose)
                f->n_poses = 0; /* no tracked pose: the image alone */
            if (o->no_track)
                cn_segment_reset(seg);
            cn_segment_process(seg, f);
            const cn_truth *T = &f->truth;
            const cn_needle_result *r = &f->analysis.needle;
            const double sp = f->spacing_mm[0];
            if (i == 0) {
                n_empty++;
                false_det += r->found;
                if (r->found)
                    printf("scene %ld empty: detected a needle (false, conf %.2f)\n", k,
                           r->confidence);
                else
                    printf("scene %ld empty\n", k);
                continue;
            }
            n_truth++;
            if (!r->found) {
                printf("scene %ld t %.1f not detected\n", k, t);
                continue;
            }
            double dot = fabs(r->dir.x * T->needle_dir.x + r->dir.y * T->needle_dir.y);
            double e = acos(fmin(1.0, dot)) * 180 / M_PI;
            double ex = T->needle_tip_mm.x - r->tip_mm.x, ey = T->needle_tip_mm.y - r->tip_mm.y;
            double dist = fabs(-ex * r->dir.y + ey * r->dir.x) / sp;
            double tip = hypot(ex, ey);
            printf("scene %ld t %.1f angle_err_deg %.2f line_dist_px %.1f tip_err_mm %.2f conf %.2f\n",
                   k, t, e, dist, tip, r->confidence);
            n_det++;
            sum_ang += e;
            sum_dist += dist;
            sum_tip += tip;
            wrong += e > 5 || dist > 10;
        }
        cn_segment_free(seg);
        cn_sim_free(sim);
        cn_eval_progress((int)(k - o->sim_first + 1), (int)o->sim_n);
    }
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    if (rc == 0) {
        printf("frames %d, with a needle %d, without %d, false detections %d, wrong lines "
               "(> 5 deg or > 10 px) %d\n", n_truth + n_empty, n_truth, n_empty, false_det, wrong);
        printf("tip_err_mm mean %.2f\n", n_det ? sum_tip / n_det : NAN);
        printf("mean angle_err_deg %.2f line_dist_px %.1f detected %d/%d\n",
               n_det ? sum_ang / n_det : NAN, n_det ? sum_dist / n_det : NAN, n_det, n_truth);
    }
    return rc;
}

