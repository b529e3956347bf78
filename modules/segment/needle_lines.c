/*
 * needle_lines.c - straight-line candidates in the needle detector's working image:
 * an oriented Hough transform of the ridge pixels and the walk along a line.
 *
 * The idea: a straight needle puts many ridge pixels with the *same* orientation
 * on one line; a curved interface puts its pixels on many lines at drifting
 * angles. So each ridge pixel above the threshold votes only within +-2 degrees of
 * its own Hessian orientation (not over all angles as a plain Hough does), with a
 * weight that saturates at 4 x the threshold (one glaring spot must not make a
 * line). The local maxima of the (angle, offset) accumulator are then walked: the
 * oriented ridge strength (the Hessian's second derivative across the line's own
 * direction) is sampled along it, +-1 px across, and runs of support separated by
 * gaps of at most ~2.5 % of the image diagonal are scored by their capped sum, so
 * a segment (a needle ends at its tip) is told from a line through scattered
 * bright specks.
 */
#include "needle_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VOTE_SPREAD 2

int nd_hough_init(nd_hough *h, int max_full_w, int max_full_h)
{
    memset(h, 0, sizeof *h);
    /* the working image is never larger than the frame */
    h->nrho = (int)ceil(hypot(max_full_w, max_full_h)) + 4;
    h->max_voters = 16000;
    h->acc = malloc(sizeof(float) * ND_NANG * (size_t)h->nrho);
    h->vx = malloc(sizeof(int) * (size_t)h->max_voters);
    h->vy = malloc(sizeof(int) * (size_t)h->max_voters);
    h->vw = malloc(sizeof(float) * (size_t)h->max_voters);
    if (!h->acc || !h->vx || !h->vy || !h->vw) {
        nd_hough_free(h);
        return -1;
    }
    return 0;
}

void nd_hough_free(nd_hough *h)
{
    free(h->acc);
    free(h->vx);
    free(h->vy);
    free(h->vw);
    memset(h, 0, sizeof *h);
}

/* atan2 to within 0.0001 rad (polynomial on [0, 1] with octant reduction): the
 * voters' orientations go into 1-degree bins, libm's atan2f was a tenth of the
 * detector's time. */
static inline float fast_atan2f(float y, float x)
{
    float ax = fabsf(x), ay = fabsf(y);
    float mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
    if (!(mx > 0))
        return 0;
    float z = mn / mx, z2 = z * z;
    float a = z * (0.99997726f + z2 * (-0.33262347f + z2 * (0.19354346f + z2 * (-0.11643287f +
                   z2 * (0.05265332f + z2 * -0.01172120f)))));
    if (ay > ax)
        a = 1.57079633f - a;
    if (x < 0)
        a = 3.14159265f - a;
    return y < 0 ? -a : a;
}

/* Whether (x, y) is the crest of its ridge: not below its two neighbours across
 * the line (vertical ones for a flat line, horizontal for a steep one). A line
 * 3 px thick then votes once per position along it, not three times. */
static inline bool ridge_peak(const nd_scale *sc, int x, int y)
{
    if (x < 1 || y < 1 || x >= sc->w - 1 || y >= sc->h - 1)
        return false;
    size_t k = (size_t)y * sc->w + x;
    const float *r = sc->ridge;
    if (fabsf(sc->hyy[k]) >= fabsf(sc->hxx[k])) /* curvature across is vertical */
        return r[k] >= r[k - sc->w] && r[k] >= r[k + sc->w];
    return r[k] >= r[k - 1] && r[k] >= r[k + 1];
}

int nd_hough_vote(nd_hough *h, const nd_work *w, const nd_vote_setup *vs)
{
    const int nrho = h->nrho, roff = nrho / 2;
    const float cx = 0.5f * (float)w->w, cy = 0.5f * (float)w->h;
    memset(h->acc, 0, sizeof(float) * ND_NANG * (size_t)nrho);
    int total = 0;
    for (int k = 0; k < ND_NSCALE; k++) {
        const nd_scale *sc = &w->sc[k];
        if (!(sc->thr > 0))
            continue;
        const int W = sc->w, H = sc->h, st = sc->step;
        /* voters: ridge above the threshold; when too many (a very textured frame),
         * the threshold is raised */
        const int cap = h->max_voters / (k == 0 ? 1 : 4);
        float thr = sc->thr;
        int nv = 0;
        for (int pass = 0; pass < 4; pass++, thr *= 1.5f) {
            nv = 0;
            for (int y = 1; y < H - 1 && nv < cap; y++) {
                const float *r = sc->ridge + (size_t)y * W;
                /* the ridge is zero outside the field of view's span of this row */
                int wy = (y << sc->shift) + st / 2;
                if (wy < w->top || wy > w->bottom)
                    continue;
                int x0 = w->fl[wy] >> sc->shift, x1 = (w->fr[wy] >> sc->shift) + 1;
                if (x0 < 1)
                    x0 = 1;
                if (x1 > W - 2)
                    x1 = W - 2;
                for (int x = x0; x <= x1 && nv < cap; x++)
                    if (r[x] > thr && ridge_peak(sc, x, y)) {
                        h->vx[nv] = x;
                        h->vy[nv] = y;
                        /* a coarse pixel stands for st working px of line */
                        h->vw[nv] = fminf(r[x] / sc->thr, 4.0f) * (float)st;
                        nv++;
                    }
            }
            if (nv < cap)
                break;
        }
        for (int i = 0; i < nv; i++) {
            size_t q = (size_t)h->vy[i] * W + h->vx[i];
            /* the Hessian's principal axis of the larger eigenvalue lies along a bright line */
            float a = 0.5f * fast_atan2f(2 * sc->hxy[q], sc->hxx[q] - sc->hyy[q]);
            int b0 = (int)lrintf(a * (float)(180.0 / M_PI)) + 89;
            /* a pixel oriented outside the allowed range does not vote: a horizontal
             * interface must not spill peaks into the range's edge */
            if (b0 < 0 || b0 >= ND_NANG || !vs->allowed[b0])
                continue;
            float x = ((float)h->vx[i] + 0.5f) * (float)st - 0.5f - cx;
            float y = ((float)h->vy[i] + 0.5f) * (float)st - 0.5f - cy;
            for (int b = b0 - VOTE_SPREAD; b <= b0 + VOTE_SPREAD; b++) {
                int bb = b < 0 ? b + 180 : b >= 180 ? b - 180 : b; /* angles wrap at +-90 */
                if (bb >= ND_NANG || !vs->allowed[bb])
                    continue;
                int r = (int)lrintf(-vs->sn[bb] * x + vs->cs[bb] * y) + roff;
                if (r >= 0 && r < nrho)
                    h->acc[(size_t)bb * nrho + r] += h->vw[i];
            }
        }
        total += nv;
    }
    return total;
}

/* Angle bands for the peak quota: |angle| edges (deg), per side. */
static const int BAND_EDGE[] = {0, 5, 10, 15, 20, 30, 45, 60, 91};
#define NBAND_SIDE 8
#define PER_BAND 2

static int band_of(int b)
{
    int a = b - 89, m = a < 0 ? -a : a, k = 0;
    while (k + 1 < NBAND_SIDE && m >= BAND_EDGE[k + 1])
        k++;
    return (a < 0 ? NBAND_SIDE : 0) + k;
}

/* Inserts v into a best-first list of at most cap peaks. */
static void keep(nd_peak *list, int *n, int cap, nd_peak p)
{
    if (*n == cap && p.v <= list[cap - 1].v)
        return;
    int at = *n < cap ? (*n)++ : cap - 1;
    while (at > 0 && list[at - 1].v < p.v) {
        list[at] = list[at - 1];
        at--;
    }
    list[at] = p;
}

int nd_hough_peaks(const nd_hough *h, const nd_work *w, const nd_vote_setup *vs, nd_peak *pk,
                   int max_peaks)
{
    const int nrho = h->nrho, roff = nrho / 2;
    const float cx = 0.5f * (float)w->w, cy = 0.5f * (float)w->h;
    /* a quota per angle band: long near-horizontal interfaces collect far more votes
     * than a steep needle (whose echo is weaker) and must not crowd it out */
    nd_peak band[2 * NBAND_SIDE][PER_BAND];
    int nb[2 * NBAND_SIDE] = {0};
    for (int b = 0; b < ND_NANG; b++) {
        if (!vs->allowed[b])
            continue;
        const int bi = band_of(b);
        float prho = 0;
        if (vs->use_pose)
            prho = -vs->sn[b] * (vs->pose_x - cx) + vs->cs[b] * (vs->pose_y - cy);
        const float *row = h->acc + (size_t)b * nrho;
        for (int r = 1; r < nrho - 1; r++) {
            float v = row[r];
            if (v < 2.0f || (nb[bi] == PER_BAND && v <= band[bi][PER_BAND - 1].v) ||
                v < row[r - 1] || v < row[r + 1])
                continue;
            if (vs->use_pose && fabsf((float)(r - roff) - prho) > vs->pose_tol)
                continue;
            /* a local maximum over +-2 degrees and +-3 px (ties: the first wins) */
            bool mx = true;
            for (int bb = b - 2; bb <= b + 2 && mx; bb++) {
                if (bb < 0 || bb >= ND_NANG)
                    continue;
                const float *q = h->acc + (size_t)bb * nrho;
                for (int rr = r - 3; rr <= r + 3; rr++) {
                    if (rr < 0 || rr >= nrho || (bb == b && rr == r))
                        continue;
                    if (q[rr] > v || (q[rr] == v && (bb < b || (bb == b && rr < r)))) {
                        mx = false;
                        break;
                    }
                }
            }
            if (mx)
                keep(band[bi], &nb[bi], PER_BAND, (nd_peak){b, r, v});
        }
    }
    int n = 0;
    for (int i = 0; i < 2 * NBAND_SIDE; i++)
        for (int k = 0; k < nb[i]; k++)
            keep(pk, &n, max_peaks, band[i][k]);
    return n;
}

void nd_peak_line(const nd_hough *h, const nd_work *w, const nd_vote_setup *vs, const nd_peak *pk,
                  float *ox, float *oy, float *ux, float *uy)
{
    *ux = vs->cs[pk->b];
    *uy = vs->sn[pk->b];
    const float rho = (float)(pk->r - h->nrho / 2);
    *ox = 0.5f * (float)w->w - *uy * rho;
    *oy = 0.5f * (float)w->h + *ux * rho;
}

/* Oriented ridge of one scale at working px (x, y) for a line whose normal and
 * direction coefficients are given (nn: nx^2, ny^2, 2 nx ny; uu likewise), in units
 * of the scale's threshold. */
static inline float oriented(const nd_scale *sc, int x, int y, const float *nn, const float *uu)
{
    if (x < 0 || y < 0)
        return 0;
    x >>= sc->shift;
    y >>= sc->shift;
    if (x >= sc->w || y >= sc->h)
        return 0;
    size_t k = (size_t)y * sc->w + x;
    float a = sc->hxx[k], b = sc->hyy[k], c = sc->hxy[k];
    float v = -(a * nn[0] + b * nn[1] + c * nn[2]) - fabsf(a * uu[0] + b * uu[1] + c * uu[2]);
    return v > 0 ? v * sc->inv_thr : 0;
}

static bool walk(const nd_work *w, float ox, float oy, float ux, float uy, float near,
                 float tmin, float tmax, int step, nd_run *out);

bool nd_walk(const nd_work *w, float ox, float oy, float ux, float uy, float near, nd_run *out)
{
    /* every other px: the first look along a Hough line only seeds a candidate, whose
     * run is walked again px by px once its line is fitted */
    return walk(w, ox, oy, ux, uy, near, -1e9f, 1e9f, 2, out);
}

bool nd_walk_range(const nd_work *w, float ox, float oy, float ux, float uy, float near,
                   float tmin, float tmax, nd_run *out)
{
    return walk(w, ox, oy, ux, uy, near, tmin, tmax, 1, out);
}

static bool walk(const nd_work *w, float ox, float oy, float ux, float uy, float near,
                 float tmin, float tmax, int step, nd_run *out)
{
    const float nx = -uy, ny = ux;
    const float nn[3] = {nx * nx, ny * ny, 2 * nx * ny}, uu[3] = {ux * ux, uy * uy, 2 * ux * uy};
    const float D = 0.5f * hypotf((float)w->w, (float)w->h) + 2;
    const float on = ND_WALK_ON; /* ridge in units of its scale's threshold */
    const int max_gap = (int)fmaxf(4, 2 * D / 40);
    const int min_len = (int)fmaxf(8, 2 * D / 50);
    const bool by_pos = isfinite(near);
    const nd_scale *s0 = &w->sc[0], *s1 = &w->sc[1];
    const bool use1 = s1->thr > 0;
    /* the part of the line inside the image (+1 px) */
    float tlo = fmaxf(-D, tmin), thi = fminf(D, tmax);
    const float lim[2][2] = {{-1.0f, (float)w->w}, {-1.0f, (float)w->h}};
    const float o[2] = {ox, oy}, u[2] = {ux, uy};
    for (int k = 0; k < 2; k++) {
        if (fabsf(u[k]) < 1e-6f) {
            if (o[k] < lim[k][0] || o[k] > lim[k][1])
                return false;
            continue;
        }
        float ta = (lim[k][0] - o[k]) / u[k], tb = (lim[k][1] - o[k]) / u[k];
        tlo = fmaxf(tlo, fminf(ta, tb));
        thi = fminf(thi, fmaxf(ta, tb));
    }
    if (thi <= tlo)
        return false;
    float best = -1, best_key = 0, run_s = 0, run_c = 0;
    int a = 0, last = 0, gap = 0, n_on = 0, hits = 0;
    bool in = false;
    nd_run r = {0};
    const int t0 = (int)floorf(tlo), t1 = (int)ceilf(thi);
    for (int t = t0; t <= t1 + max_gap + step; t += step) {
        float v = 0, vc = 0;
        if (t <= t1) {
            float x = ox + ux * (float)t, y = oy + uy * (float)t;
            for (int q = -1; q <= 1; q++) {
                int xi = (int)lrintf(x + nx * (float)q), yi = (int)lrintf(y + ny * (float)q);
                float q0 = oriented(s0, xi, yi, nn, uu);
                v = q0 > v ? q0 : v;
            }
            /* the coarse grid is 2 px: its Gaussian already spans +-1 px across */
            if (use1)
                vc = oriented(s1, (int)lrintf(x), (int)lrintf(y), nn, uu);
        }
        bool coarse = vc > v;
        if (coarse)
            v = vc;
        if (v >= on) {
            if (!in) {
                in = true;
                a = t;
                run_s = 0;
                run_c = 0;
                n_on = 0;
                hits = 0;
            }
            last = t;
            gap = 0;
            run_s += fminf(v, 3.0f) * (float)step;
            run_c += coarse ? fminf(v, 3.0f) * (float)step : 0;
            n_on += step;
            hits += (v >= 2.0f * ND_WALK_ON) * step;
        } else if (in && (gap += step) > max_gap) {
            in = false;
            if (last - a + 1 < min_len || hits < 3)
                continue;
            /* by position: 0 inside the run, else minus the distance to it */
            float key = by_pos ? -fmaxf(0.0f, fmaxf((float)a - near, near - (float)last)) : run_s;
            if (best < 0 || key > best_key || (key == best_key && run_s > best)) {
                best = run_s;
                best_key = key;
                r.ta = (float)a;
                r.tb = (float)last;
                r.support = run_s;
                r.coarse = run_c / run_s;
                r.fill = (float)n_on / (float)(last - a + 1);
            }
        }
    }
    if (best < 0)
        return false;
    *out = r;
    return true;
}

