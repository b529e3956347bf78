/*
 * needle.c - in-plane needle (cryoprobe) detection on B-mode frames of any
 * scanner: Hessian ridge map, oriented Hough, segment walk, front-wall fit, tip
 * at the deep end of the visible shaft, and a confidence that says how
 * needle-like the best line is.
 *
 * The idea (what separates a needle from the classic false positives):
 *  - A needle is a bright *straight* line: ridge pixels vote only near their own
 *    Hessian orientation, so curved interfaces spread their votes
 *    (needle_lines.c); each angle band keeps its own best peaks, so long bright
 *    near-horizontal interfaces cannot crowd a faint steep needle out.
 *  - It is a *segment that ends in view*: the deep end (the tip) must lie inside
 *    the field of view. A container wall, a fascia or the transducer's
 *    reverberation bands run from border to border, or their deep end is at the
 *    border.
 *  - Its front wall is the echo nearest the transducer: stations along the
 *    segment find the leading edge of the bright echo in the cross-profile and a
 *    trimmed line fit through them gives the line, its straightness and its
 *    contrast. Thick probes show a band (front wall, ring-down, back wall); the
 *    leading edge is stable where the brightest row is not.
 *  - Candidates are ranked on the working image (cheap); only the winner is
 *    refined on the full-resolution frame, where its tip is found from the grey
 *    profile along the line.
 *  - Confidence is a logistic function of a few dimensionless features (ridge
 *    support, straightness, fill, side contrast, angle); the weights were chosen
 *    on simulator scenes (docs/validation.md: the split, and what the confidence
 *    means on real frames). "Not found" is an answer.
 *  - Priors, each optional: entry side and angle range (restrict the votes), the
 *    tracked cryoprobe pose (a hard window around it), the previous frame's
 *    needle (a soft preference, cn_needle_det_detect_prev).
 */
#include "segment/segment.h"

#include "imaging/imaging.h"
#include "needle_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPEAK 32          /* accumulator peaks examined (at most 2 per angle band) */
#define MAX_ST 12         /* refinement stations */
#define PROF_MAX 4096

/* A candidate line, always in working-image px: a point on the front-wall line, the
 * unit direction, the run [te, tt] along it. */
typedef struct {
    float px, py, ux, uy;
    float te, tt;         /* run ends along u from p (tt: the tip once oriented) */
    float ridge_off;      /* the ridge line (where the support is walked) is the line
                             minus ridge_off * n, n = (-uy, ux): the fit moves onto the
                             front-wall echo, which can lie above a broad band's centre */
    float support;        /* sum over the run of min(ridge / thr, 3) (working px) */
    float fill;           /* fraction of the run's samples above half the threshold */
    float coarse;         /* fraction of the support from the coarse (broad band) scale */
    float resid;          /* rms distance of the station edges from the line (working px) */
    float contrast;       /* median (peak - brighter side) / grey spread */
    float contrast_up;    /* median (peak - tissue above) / grey spread */
    float bright;         /* median peak grey level - frame mean, / grey spread */
    float st_frac;        /* fraction of the refinement stations on the fitted line */
    float inset;          /* tip's distance inside the field of view (working px) */
    float entry_inset;    /* the shallow end's distance inside the field of view */
    float conf, score;
    bool ok;
} nd_cand;

/* An image the refinement samples: the working image (f = 1) or the frame (f = the
 * working factor); its px = f * working px + (f - 1) / 2. */
typedef struct {
    const uint8_t *px;
    int w, h;
    float f;
} nd_img;

struct cn_needle_det {
    cn_needle_params p;
    int max_w, max_h;
    nd_work w;
    nd_hough h;
    float *prof, *prof2, *prof3;
};

void cn_needle_params_default(cn_needle_params *p)
{
    p->entry = CN_ENTRY_AUTO;
    p->min_angle_deg = 3;
    p->max_angle_deg = 75;
    p->prior_tol_mm = 3;
    p->prior_tol_deg = 6;
    p->min_confidence = CN_NEEDLE_SHOW_CONFIDENCE;
    p->kalman_q_mm = 0.3;
    p->kalman_r_mm = 0.4;
    p->needle_diameter_mm = 1.5;
}

cn_needle_det *cn_needle_det_new(int max_w, int max_h, const cn_needle_params *p)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_needle_det *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (p)
        d->p = *p;
    else
        cn_needle_params_default(&d->p);
    d->max_w = max_w;
    d->max_h = max_h;
    if (nd_work_init(&d->w, max_w, max_h) != 0) {
        free(d);
        return NULL;
    }
    d->prof = malloc(sizeof(float) * PROF_MAX);
    d->prof2 = malloc(sizeof(float) * PROF_MAX);
    d->prof3 = malloc(sizeof(float) * PROF_MAX);
    if (nd_hough_init(&d->h, max_w, max_h) != 0 || !d->prof || !d->prof2 || !d->prof3) {
        cn_needle_det_free(d);
        return NULL;
    }
    return d;
}

void cn_needle_det_free(cn_needle_det *d)
{
    if (!d)
        return;
    nd_work_free(&d->w);
    nd_hough_free(&d->h);
    free(d->prof), free(d->prof2), free(d->prof3);
    free(d);
}

/* ------------------------------------------------------------------ small helpers */

/* The q-quantile of v[0..n) by sorting a copy of at most 128 evenly spaced samples. */
static float quantile_f(const float *v, int n, float q)
{
    if (n <= 0)
        return 0;
    float t[128];
    int m = n < 128 ? n : 128;
    for (int i = 0; i < m; i++)
        t[i] = v[(long)i * n / m];
    for (int i = 1; i < m; i++) {
        float x = t[i];
        int j = i - 1;
        while (j >= 0 && t[j] > x) {
            t[j + 1] = t[j];
            j--;
        }
        t[j + 1] = x;
    }
    float pos = q * (float)(m - 1);
    int i0 = (int)pos;
    int i1 = i0 + 1 < m ? i0 + 1 : i0;
    return t[i0] + (pos - (float)i0) * (t[i1] - t[i0]);
}

static float median_f(const float *v, int n) { return quantile_f(v, n, 0.5f); }

/* Bilinear sample, pixel centres at integers, clamped (inlined: the hot loop). */
static inline float sample(const nd_img *im, float x, float y)
{
    if (!(x > 0))
        x = 0;
    if (!(y > 0))
        y = 0;
    if (x > (float)(im->w - 1))
        x = (float)(im->w - 1);
    if (y > (float)(im->h - 1))
        y = (float)(im->h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < im->w ? x0 + 1 : x0, y1 = y0 + 1 < im->h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *r0 = im->px + (size_t)y0 * im->w, *r1 = im->px + (size_t)y1 * im->w;
    float a = r0[x0] + fx * (float)(r0[x1] - r0[x0]);
    float b = r1[x0] + fx * (float)(r1[x1] - r1[x0]);
    return a + fy * (b - a);
}

static inline float to_img(const nd_img *im, float v) { return im->f * v + 0.5f * (im->f - 1); }

/* Line angle in degrees, -90..90 (> 0 descends to the right). */
static float line_angle_deg(const nd_cand *c)
{
    float a = atan2f(c->uy, c->ux) * (float)(180.0 / M_PI);
    if (a > 90)
        a -= 180;
    else if (a < -90)
        a += 180;
    return a;
}

/* ------------------------------------------------------------------ front-wall fit */

/* Cross-profile at station t of c (working coordinates) in image im: grey levels
 * averaged over +-2 working px along the line, at offsets o0 - W .. o0 + W
 * working px (step 0.5 image px) across it. Returns the number of samples. */
static int cross_profile(const nd_img *im, const nd_cand *c, float t, float o0, float W,
                         float *prof)
{
    const float nx = -c->uy, ny = c->ux, f = im->f;
    const float bx = to_img(im, c->px + c->ux * t), by = to_img(im, c->py + c->uy * t);
    const int half = (int)(2 * f);
    const float step = 0.5f;
    int n = 0;
    for (float o = (o0 - W) * f; o <= (o0 + W) * f + 1e-3f && n < 241; o += step, n++) {
        float s = 0;
        for (int k = -half; k <= half; k += (f > 1 ? 2 : 1)) {
            float x = bx + c->ux * (float)k + nx * o, y = by + c->uy * (float)k + ny * o;
            s += sample(im, x, y);
        }
        prof[n] = s;
    }
    int cnt = 0;
    for (int k = -half; k <= half; k += (f > 1 ? 2 : 1))
        cnt++;
    for (int i = 0; i < n; i++)
        prof[i] /= (float)cnt;
    return n;
}

/* Fits the front-wall echo: at stations along the run, the leading edge (seen from
 * the transducer) of the bright echo in the cross-profile, i.e. where it first
 * rises half way from the tissue above to its maximum; then a weighted line through
 * the edges with one trimming pass. Moves c onto it; measures residual, contrast,
 * brightness. The edge, not the brightest row: a thick probe shows a band (front
 * wall, ring-down, back wall) whose brightest row wanders. */
static void refine(const nd_work *w, const nd_img *im, nd_cand *c)
{
    float t0 = fminf(c->te, c->tt), t1 = fmaxf(c->te, c->tt);
    float len = t1 - t0;
    int ns = (int)(len / 4.0f);
    if (ns > MAX_ST)
        ns = MAX_ST;
    if (ns < 3)
        ns = 3;
    const float sig = c->coarse > 0.5f ? 2 * ND_SIGMA_COARSE : ND_SIGMA;
    const float W = fminf(2.5f * sig + 1.0f, 59.0f / im->f); /* prof holds 241 samples */
    const bool up_plus = c->ux < 0; /* n = (-uy, ux) points up (y < 0) when ux < 0 */
    const float dstep = 0.5f / im->f; /* working px per profile sample */
    float st_t[MAX_ST], st_o[MAX_ST], st_w[MAX_ST], st_c[MAX_ST], st_p[MAX_ST], st_u[MAX_ST];
    float prof[241];
    const int side = (int)lrintf(1.0f / dstep); /* the outer working px of each side */
    for (int i = 0; i < ns; i++) {
        float t = t0 + ((float)i + 0.5f) * len / (float)ns;
        int n = cross_profile(im, c, t, -c->ridge_off, W, prof);
        float hi = prof[0];
        for (int k = 1; k < n; k++)
            hi = fmaxf(hi, prof[k]);
        float up = 0, dn = 0;
        for (int k = 0; k <= side; k++) {
            up += prof[up_plus ? n - 1 - k : k];
            dn += prof[up_plus ? k : n - 1 - k];
        }
        up /= (float)(side + 1);
        dn /= (float)(side + 1);
        /* where the profile first rises half way from the tissue above to its peak,
         * seen from the transducer's side (in samples from that side) */
        const float level = up + 0.5f * (hi - up);
        float cross = -1;
        for (int j = 1; j < n; j++) {
            int k = up_plus ? n - 1 - j : j, kp = up_plus ? k + 1 : k - 1;
            if (prof[k] >= level) {
                cross = (float)(j - 1) + (level - prof[kp]) / fmaxf(prof[k] - prof[kp], 1e-3f);
                break;
            }
        }
        float off = cross < 0 ? -1 : up_plus ? (float)(n - 1) - cross : cross;
        st_t[i] = t;
        st_w[i] = off >= 0 && hi > up ? hi - up : 0;
        st_o[i] = -c->ridge_off - W + dstep * (off >= 0 ? off : 0.5f * (float)(n - 1));
        st_c[i] = hi - fmaxf(up, dn);
        st_u[i] = hi - up;
        st_p[i] = hi;
    }
    /* weighted fit o = a + b (t - tm), then drop outliers and fit again */
    float a = 0, b = 0, rms = 0;
    bool use[MAX_ST];
    for (int i = 0; i < ns; i++)
        use[i] = st_w[i] > 0;
    const float tm = 0.5f * (t0 + t1);
    for (int pass = 0; pass < 2; pass++) {
        double sw = 0, st = 0, so = 0, stt = 0, sto = 0;
        for (int i = 0; i < ns; i++) {
            if (!use[i])
                continue;
            double tt = st_t[i] - tm;
            sw += st_w[i];
            st += st_w[i] * tt;
            so += st_w[i] * st_o[i];
            stt += st_w[i] * tt * tt;
            sto += st_w[i] * tt * st_o[i];
        }
        if (!(sw > 0))
            break;
        double var = stt / sw - (st / sw) * (st / sw);
        b = var > 1e-6 ? (float)((sto / sw - (st / sw) * (so / sw)) / var) : 0;
        a = (float)(so / sw - b * st / sw);
        double r2 = 0, rw = 0;
        for (int i = 0; i < ns; i++) {
            float e = st_o[i] - (a + b * (st_t[i] - tm));
            if (use[i]) {
                r2 += st_w[i] * e * e;
                rw += st_w[i];
            }
        }
        rms = rw > 0 ? (float)sqrt(r2 / rw) : 0;
        if (pass == 0) {
            /* trim at 2.5 robust sigmas (median absolute residual): one station on a
             * crossing structure must not set the scale that keeps it */
            float res[MAX_ST];
            int nr = 0;
            for (int i = 0; i < ns; i++)
                if (use[i])
                    res[nr++] = fabsf(st_o[i] - (a + b * (st_t[i] - tm)));
            float mad = 1.4826f * median_f(res, nr);
            for (int i = 0; i < ns; i++) {
                float e = fabsf(st_o[i] - (a + b * (st_t[i] - tm)));
                use[i] = st_w[i] > 0 && e <= fmaxf(0.5f, 2.5f * mad);
            }
        }
    }
    int used = 0;
    for (int i = 0; i < ns; i++)
        used += use[i];
    if (fabsf(b) > 0.2f || used < 2)
        b = 0, a = 0; /* a bad fit: keep the voted line */
    const float nx = -c->uy, ny = c->ux;
    c->px += c->ux * tm + nx * a;
    c->py += c->uy * tm + ny * a;
    float ux = c->ux + nx * b, uy = c->uy + ny * b, un = hypotf(ux, uy);
    c->ux = ux / un;
    c->uy = uy / un;
    c->te -= tm;
    c->tt -= tm;
    c->ridge_off += a;
    c->resid = used >= 2 ? rms : 5.0f;
    c->st_frac = (float)used / (float)ns;
    const float sd = fmaxf(w->grey_sd, 4.0f);
    c->contrast = median_f(st_c, ns) / sd;
    c->contrast_up = median_f(st_u, ns) / sd;

    /* the brighter part of the run: the visible shaft can be shorter than a run
     * that goes on along weaker echoes in line with it */
    c->bright = (quantile_f(st_p, ns, 0.75f) - w->grey_mean) / sd;
}

/* Walks c's ridge line and takes the run containing (or nearest to) t = near. The
 * refined line is close to the walked one: the new run is looked for within the
 * old run's length on either side of it. */
static bool rewalk(const nd_work *w, nd_cand *c, float near)
{
    nd_run r;
    float bx = c->px + c->uy * c->ridge_off, by = c->py - c->ux * c->ridge_off;
    float len = fabsf(c->tt - c->te) + 20.0f;
    float t0 = fminf(c->te, c->tt) - len, t1 = fmaxf(c->te, c->tt) + len;
    if (!nd_walk_range(w, bx, by, c->ux, c->uy, near, t0, t1, &r))
        return false;
    c->te = r.ta;
    c->tt = r.tb;
    c->support = r.support;
    c->fill = r.fill;
    c->coarse = r.coarse;
    return true;
}

/* Orients c so that u points to the deep end (the tip). */
static void orient(nd_cand *c)
{
    float ye = c->py + c->uy * c->te, yt = c->py + c->uy * c->tt;
    if (ye > yt) {
        float t = c->te;
        c->te = c->tt;
        c->tt = t;
    }
    if (c->tt < c->te) {
        c->ux = -c->ux;
        c->uy = -c->uy;
        c->te = -c->te;
        c->tt = -c->tt;
        c->ridge_off = -c->ridge_off; /* n flipped with u */
    }
}

/* Where the front-wall echo ends along the (oriented) line, on the full image: the
 * last point of the smoothed grey profile above the midpoint of the shaft's and the
 * tissue's levels (gaps up to 3 working px, so speckle dips do not cut the shaft). */
static void find_tip(cn_needle_det *d, const nd_img *im, nd_cand *c)
{
    const float f = im->f;
    const float len = (c->tt - c->te) * f;
    const float ext = 0.25f * len + 4 * f;
    const float ux = c->ux, uy = c->uy, nx = -uy, ny = ux;
    const float bx = to_img(im, c->px + ux * c->te), by = to_img(im, c->py + uy * c->te);
    /* tissue level: 2.5 sigma + 1.5 working px towards the transducer */
    const float up = (ny < 0 ? 1.0f : -1.0f) * (2.5f * ND_SIGMA + 1.5f) * f;
    const float dnx = ny < 0 ? -nx : nx, dny = ny < 0 ? -ny : ny; /* unit normal, downwards */
    const int odown = (int)(3 * f);
    int np = 0;
    float *q = d->prof, *bg = d->prof2, *sm = d->prof3;
    for (float t = 0; t <= len + ext && np < PROF_MAX; t += 1.0f) {
        float x = bx + ux * t, y = by + uy * t;
        if (x < 0 || y < 0 || x > (float)(im->w - 1) || y > (float)(im->h - 1))
            break;
        /* the line is the echo's leading edge: look into the echo (away from the
         * transducer) for its brightness, a little either way */
        float v = 0;
        for (int o = -1; o <= odown; o++) {
            float s = sample(im, x + dnx * (float)o, y + dny * (float)o);
            if (s > v)
                v = s;
        }
        q[np] = v;
        bg[np] = sample(im, x + up * nx, y + up * ny);
        np++;
    }
    int nshaft = (int)len + 1;
    if (nshaft > np)
        nshaft = np;
    if (nshaft < 8)
        return;
    const int win = (int)f; /* running mean over +-1 working px */
    for (int i = 0; i < np; i++) {
        float s = 0;
        int k0 = i - win < 0 ? 0 : i - win, k1 = i + win >= np ? np - 1 : i + win;
        for (int k = k0; k <= k1; k++)
            s += q[k];
        sm[i] = s / (float)(k1 - k0 + 1);
    }
    float tissue = median_f(bg, np), shaft = median_f(sm, nshaft);
    if (!(shaft > tissue))
        return;
    float level = 0.5f * (shaft + tissue);
    int last = -1, gap = 0;
    const int max_gap = (int)(3 * f);
    for (int i = 0; i < np; i++) {
        if (sm[i] > level) {
            last = i;
            gap = 0;
        } else if (last >= 0 && ++gap > max_gap) {
            break;
        }
    }
    if (last < nshaft / 2)
        return; /* the profile disagrees with the ridge run: keep the run's end */
    float t_end = (float)last;
    if (last + 1 < np && sm[last] > sm[last + 1])
        t_end += (sm[last] - level) / (sm[last] - sm[last + 1]);
    c->tt = c->te + t_end / f;
}

/* ------------------------------------------------------------------ confidence */

/* The needle evidence of a candidate, a weighted sum of dimensionless features: a
 * specular shaft is bright against the frame (peak over the frame's mean, in grey
 * spreads), its front wall is straight (residual of the edge fit, working px), it
 * has ridge support and a visible length (vs 15 % of the width), and it is not
 * within 4.5 degrees of the transducer face, where fascia, walls and
 * reverberation bands run. Weights and the operating point ND_Z_OPERATING were
 * chosen on the simulator's randomised hard scenes (scenes 1-150, the development
 * split; docs/validation.md): the point where wrong lines and detections on
 * empty frames stay under 5 % of the frames. */
#define ND_Z_OPERATING 5.6f
#define ND_Z_TRACKED 1.0f /* the same line as the previous frame's needle */
#define ND_Z_POSE 2.0f    /* inside the window of the tracked cryoprobe pose */

static float evidence(const nd_cand *c, float work_w)
{
    float len = c->tt - c->te;
    float a = fabsf(line_angle_deg(c));
    return 2.0f * (c->bright - 2.0f) + 3.0f * (0.7f - fminf(c->resid, 3.0f)) +
           0.5f * logf(fmaxf(c->support, 1.0f) / 60.0f) +
           fminf(logf(fmaxf(len, 1.0f) / (0.15f * work_w)), 1.0f) -
           4.0f * fmaxf(0.0f, 4.5f - a);
}

static float confidence(float z) { return 1.0f / (1.0f + expf(-(z - ND_Z_OPERATING))); }

/* ------------------------------------------------------------------ detection */

/* One candidate on the working image: front-wall fit, the run on the fitted line,
 * angle range, the field-of-view test and the features. */
static bool evaluate(const nd_work *wk, double amin, double amax, bool left, bool right,
                     nd_cand *c)
{
    const nd_img im = {wk->g, wk->w, wk->h, 1.0f};
    refine(wk, &im, c);
    if (!rewalk(wk, c, 0))
        return false;
    /* the fitted line must still be in the allowed range (1 degree of slack) */
    float a = line_angle_deg(c);
    if (fabsf(a) < amin - 1 || fabsf(a) > amax + 1 || (a > 0 && !left) || (a < 0 && !right))
        return false;
    orient(c);
    c->inset = nd_fov_inset(wk, c->px + c->ux * c->tt, c->py + c->uy * c->tt);
    c->entry_inset = nd_fov_inset(wk, c->px + c->ux * c->te, c->py + c->uy * c->te);
    /* the deep end at the border: an interface (or a needle whose tip left the
     * view), not a tip the clinician can watch. Ridges are not computed within a
     * margin of the border (nd_enhance), so a line running out of the view ends
     * that far inside it. */
    const float margin = nd_ridge_margin(wk, c->coarse > 0.5f ? 1 : 0);
    c->inset -= margin;
    c->entry_inset -= margin;
    if (c->inset < fmaxf(3.0f, 0.015f * (float)wk->w))
        return false;
    c->score = evidence(c, (float)wk->w);
    c->conf = confidence(c->score);
    return true;
}

int cn_needle_det_detect_prev(cn_needle_det *d, const uint8_t *px, int w, int h,
                              const double spacing_mm[2], const cn_needle_result *prior,
                              const cn_needle_result *prev, cn_needle_result *out)
{
    if (!out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (!d || cn_image_check(px, w, h) || !spacing_mm || !(spacing_mm[0] > 0) ||
        !(spacing_mm[1] > 0) || !isfinite(spacing_mm[0]) || !isfinite(spacing_mm[1]))
        return CN_EINVAL;
    if (w > d->max_w || h > d->max_h || w < 16 || h < 16)
        return CN_ERANGE;
    const cn_needle_params *p = &d->p;
    nd_work *wk = &d->w;
    if (!nd_enhance(wk, px, w, h))
        return CN_OK; /* nothing in view */
    const double spx = spacing_mm[0], spy = spacing_mm[1];
    const float F = (float)wk->f;
    /* image mm <-> working px */
#define MM2W_X(v) (((float)((v) / spx) - 0.5f - 0.5f * (F - 1)) / F)
#define MM2W_Y(v) (((float)((v) / spy) - 0.5f - 0.5f * (F - 1)) / F)
    /* allowed angle bins: side and range, narrowed by a pose prior */
    nd_vote_setup vs;
    memset(&vs, 0, sizeof vs);
    double amin = p->min_angle_deg, amax = p->max_angle_deg;
    bool left = p->entry != CN_ENTRY_RIGHT, right = p->entry != CN_ENTRY_LEFT;
    if (prior && prior->found && isfinite(prior->tip_mm.x) && isfinite(prior->tip_mm.y) &&
        isfinite(prior->dir.x) && isfinite(prior->dir.y) &&
        hypot(prior->dir.x, prior->dir.y) > 0.5) {
        double dx = prior->dir.x / spx, dy = prior->dir.y / spy; /* in pixels */
        double pa = atan2(dy, dx) * 180 / M_PI;
        if (pa > 90)
            pa -= 180;
        else if (pa < -90)
            pa += 180;
        vs.use_pose = true;
        vs.pose_x = MM2W_X(prior->tip_mm.x);
        vs.pose_y = MM2W_Y(prior->tip_mm.y);
        vs.pose_tol = fmaxf(1.5f, (float)(p->prior_tol_mm / (0.5 * (spx + spy))) / F);
        amin = fmax(amin, fabs(pa) - p->prior_tol_deg);
        amax = fmin(amax, fabs(pa) + p->prior_tol_deg);
        left = left && pa > 0;
        right = right && pa < 0;
    }
    int n_allowed = 0;
    for (int b = 0; b < ND_NANG; b++) {
        double a = b - 89;
        double r = a * M_PI / 180;
        vs.cs[b] = (float)cos(r);
        vs.sn[b] = (float)sin(r);
        bool ok = fabs(a) >= amin && fabs(a) <= amax && ((a > 0 && left) || (a < 0 && right));
        vs.allowed[b] = ok;
        n_allowed += ok;
    }
    if (!n_allowed || nd_hough_vote(&d->h, wk, &vs) < 8)
        return CN_OK;
    nd_peak pk[NPEAK];
    int npk = nd_hough_peaks(&d->h, wk, &vs, pk, NPEAK);
    /* the previous frame's needle, as a line in working px */
    bool use_prev = prev && prev->found && isfinite(prev->tip_mm.x) && isfinite(prev->dir.x) &&
                    hypot(prev->dir.x, prev->dir.y) > 0.5;
    float pvx = 0, pvy = 0, pux = 0, puy = 0;
    if (use_prev) {
        pvx = MM2W_X(prev->tip_mm.x);
        pvy = MM2W_Y(prev->tip_mm.y);
        float dx = (float)(prev->dir.x / spx), dy = (float)(prev->dir.y / spy), dn = hypotf(dx, dy);
        pux = dx / dn;
        puy = dy / dn;
    }
#undef MM2W_X
#undef MM2W_Y
    /* walk and evaluate every peak on the working image */
    nd_cand cand[NPEAK];
    int nc = 0, best = -1;
    for (int i = 0; i < npk; i++) {
        float ox, oy, ux, uy;
        nd_peak_line(&d->h, wk, &vs, &pk[i], &ox, &oy, &ux, &uy);
        nd_run r;
        if (!nd_walk(wk, ox, oy, ux, uy, NAN, &r))
            continue;
        nd_cand *c = &cand[nc++];
        memset(c, 0, sizeof *c);
        /* base point at the run's middle */
        float tm = 0.5f * (r.ta + r.tb);
        c->px = ox + ux * tm;
        c->py = oy + uy * tm;
        c->ux = ux;
        c->uy = uy;
        c->te = r.ta - tm;
        c->tt = r.tb - tm;
        c->support = r.support;
        c->fill = r.fill;
        c->coarse = r.coarse;
        c->ok = evaluate(wk, amin, amax, left, right, c);
        if (!c->ok)
            continue;
        if (vs.use_pose) {
            /* every candidate here lies within the tracked pose's window: a tracked
             * cryoprobe in the image plane is strong evidence by itself */
            c->score += ND_Z_POSE;
            c->conf = confidence(c->score);
        }
        if (use_prev) {
            /* the same line as the last frame's needle (within 4 deg and 2 % of the
             * width) is far more likely the needle than a line elsewhere: a needle
             * persists from frame to frame */
            float dot = fabsf(c->ux * pux + c->uy * puy);
            float off = fabsf(-(pvx - c->px) * c->uy + (pvy - c->py) * c->ux);
            if (dot > cosf(4.0f * (float)M_PI / 180) && off < fmaxf(3.0f, 0.02f * (float)wk->w)) {
                c->score += ND_Z_TRACKED;
                c->conf = confidence(c->score);
            }
        }
        if (best < 0 || c->score > cand[best].score)
            best = (int)(c - cand);
    }
#ifdef CN_NEEDLE_DEBUG
    /* tools/needle: every candidate's features, for choosing the evidence's weights */
    fprintf(stderr, "  f %d work %dx%d thr %.2f %.2f peaks %d walked %d\n", wk->f, wk->w, wk->h,
            wk->sc[0].thr, wk->sc[1].thr, npk, nc);
    for (int i = 0; i < nc; i++) {
        const nd_cand *q = &cand[i];
        fprintf(stderr, "  cand %d %s crs %.2f ang %.1f sup %.1f fill %.2f res %.2f con %.2f "
                "bri %.2f cu %.2f inset %.1f ein %.1f len %.0f conf %.2f%s stf %.2f LINE %.1f %.1f %.1f %.1f\n",
                i, q->ok ? "ok" : "--", q->coarse, line_angle_deg(q), q->support, q->fill,
                q->resid, q->contrast, q->bright, q->contrast_up, q->inset, q->entry_inset, F * (q->tt - q->te),
                q->conf, i == best ? " *" : "", q->st_frac, F * (q->px + q->ux * q->te) + 0.5f * (F - 1),
                F * (q->py + q->uy * q->te) + 0.5f * (F - 1), F * (q->px + q->ux * q->tt) + 0.5f * (F - 1),
                F * (q->py + q->uy * q->tt) + 0.5f * (F - 1));
    }
#endif
    if (best < 0)
        return CN_OK;
    /* Of parallel lines along the same stretch (front wall, back wall, reverberation
     * comet tail) the one nearest the transducer is the front wall: a thick probe's
     * walls can each win the Hough and the fit. The geometry comes from the upper one,
     * the confidence from the better. */
    {
        const nd_cand *b = &cand[best];
        float reach = fmaxf(6.0f, (float)(1.6 * p->needle_diameter_mm / (0.5 * (spx + spy))) / F);
        float unx = -b->uy, uny = b->ux;
        if (uny > 0)
            unx = -unx, uny = -uny; /* towards the transducer */
        int up = best;
        float up_off = 0;
        for (int i = 0; i < nc; i++) {
            const nd_cand *q = &cand[i];
            if (!q->ok || i == best || fabsf(q->ux * b->ux + q->uy * b->uy) < cosf(3.0f * (float)M_PI / 180))
                continue;
            float off = (q->px - b->px) * unx + (q->py - b->py) * uny; /* > 0: above */
            /* overlap of the runs, projected on b's direction */
            float sgn = q->ux * b->ux + q->uy * b->uy > 0 ? 1.0f : -1.0f;
            float qs = (q->px - b->px) * b->ux + (q->py - b->py) * b->uy;
            float qa = qs + sgn * q->te, qb = qs + sgn * q->tt;
            float ov = fminf(fmaxf(qa, qb), b->tt) - fmaxf(fminf(qa, qb), b->te);
            float shorter = fminf(fabsf(qb - qa), b->tt - b->te);
            if (off > 1.0f && off <= reach && off > up_off && ov > 0.5f * shorter &&
                q->score > b->score - 3.0f) {
                up = i;
                up_off = off;
            }
        }
        if (up != best) {
            float conf = cand[best].conf;
            best = up;
            cand[best].conf = fmaxf(cand[best].conf, conf);
        }
    }
    /* the winner on the full-resolution frame: front wall, run, tip */
    nd_cand c = cand[best];
    const nd_img full = {px, w, h, F};
    refine(wk, &full, &c);
    rewalk(wk, &c, 0.5f * (c.te + c.tt));
    orient(&c);
    find_tip(d, &full, &c);
    /* full-resolution px of the tip; the axis lies one probe radius behind the front
     * wall (away from the transducer) */
    double tipx = to_img(&full, c.px + c.ux * c.tt), tipy = to_img(&full, c.py + c.uy * c.tt);
    float dnx = -c.uy, dny = c.ux;
    if (dny < 0)
        dnx = -dnx, dny = -dny;
    tipx += dnx * 0.5 * p->needle_diameter_mm / spx;
    tipy += dny * 0.5 * p->needle_diameter_mm / spy;
    double dx = c.ux * spx, dy = c.uy * spy, dn = hypot(dx, dy);
    out->tip_mm = (cn_pt2){(float)((tipx + 0.5) * spx), (float)((tipy + 0.5) * spy)};
    out->dir = (cn_pt2){(float)(dx / dn), (float)(dy / dn)};
    out->confidence = cand[best].conf;
    out->found = out->confidence >= p->min_confidence;
    return CN_OK;
}

int cn_needle_det_detect(cn_needle_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *prior,
                         cn_needle_result *out)
{
    return cn_needle_det_detect_prev(d, px, w, h, spacing_mm, prior, NULL, out);
}
