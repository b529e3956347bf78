/*
 * sim_util.h - test helper: a simulator + one frame, and error measures against
 * its ground truth (shared by the segment tests).
 */
#ifndef CN_TEST_SIM_UTIL_H
#define CN_TEST_SIM_UTIL_H

#include "segment/segment.h"
#include "sim/sim.h"

#include <math.h>

static double tip_error_mm(const cn_needle_result *r, const cn_truth *t)
{
    double ex = r->tip_mm.x - t->needle_tip_mm.x, ey = r->tip_mm.y - t->needle_tip_mm.y;
    return sqrt(ex * ex + ey * ey);
}

static double angle_error_deg(const cn_needle_result *r, const cn_truth *t)
{
    double d = fabs(r->dir.x * t->needle_dir.x + r->dir.y * t->needle_dir.y);
    return acos(d > 1 ? 1 : d) * 180.0 / M_PI;
}

static double pt_seg(cn_pt2 p, cn_pt2 a, cn_pt2 b)
{
    double vx = b.x - a.x, vy = b.y - a.y, wx = p.x - a.x, wy = p.y - a.y;
    double L = vx * vx + vy * vy, s = L > 0 ? (wx * vx + wy * vy) / L : 0;
    s = s < 0 ? 0 : (s > 1 ? 1 : s);
    double dx = wx - s * vx, dy = wy - s * vy;
    return sqrt(dx * dx + dy * dy);
}

/* Mean distance (mm) of the reported rim points to the true visible arc. */
static double ice_edge_error_mm(const cn_ice_front *ice, const cn_truth *t)
{
    if (!ice->found || ice->n == 0 || t->rim_n < 2)
        return NAN;
    double sum = 0;
    for (int k = 0; k < ice->n; k++) {
        double best = INFINITY;
        for (int j = 0; j + 1 < t->rim_n; j++) {
            double d = pt_seg(ice->pts_mm[k], t->rim_mm[j], t->rim_mm[j + 1]);
            if (d < best)
                best = d;
        }
        sum += best;
    }
    return sum / ice->n;
}

#endif
