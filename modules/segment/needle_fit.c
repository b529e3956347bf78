/*
 * needle_fit.c - fitting one needle candidate on an image: the front-wall echo's
 * line at stations along its run, the run walked again on the fitted line, the
 * deep end as the tip, and where the echo ends along it.
 *
 * The idea: the Hough line is only roughly where the shaft is; the shaft's front
 * wall (the echo nearest the transducer) gives a line to a fraction of a pixel, and
 * the leading edge of its echo is stable where the brightest row is not (a thick
 * probe shows a band: front wall, ring-down, back wall). The same code fits on the
 * working image (to rank candidates cheaply) and on the full-resolution frame (the
 * winner). The features the detector's evidence uses (brightness, residual, side
 * contrast) are measured on the way.
 */
#include "needle_internal.h"

#include <math.h>
#include <string.h>

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


/* Line angle in degrees, -90..90 (> 0 descends to the right). */
float nd_line_angle_deg(const nd_cand *c)
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
    const float bx = nd_to_img(im, c->px + c->ux * t), by = nd_to_img(im, c->py + c->uy * t);
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
void nd_refine(const nd_work *w, const nd_img *im, nd_cand *c)
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
bool nd_rewalk(const nd_work *w, nd_cand *c, float near)
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
void nd_orient(nd_cand *c)
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
void nd_find_tip(const nd_img *im, nd_cand *c, float *q, float *bg, float *sm)
{
    const float f = im->f;
    const float len = (c->tt - c->te) * f;
    const float ext = 0.25f * len + 4 * f;
    const float ux = c->ux, uy = c->uy, nx = -uy, ny = ux;
    const float bx = nd_to_img(im, c->px + ux * c->te), by = nd_to_img(im, c->py + uy * c->te);
    /* tissue level: 2.5 sigma + 1.5 working px towards the transducer */
    const float up = (ny < 0 ? 1.0f : -1.0f) * (2.5f * ND_SIGMA + 1.5f) * f;
    const float dnx = ny < 0 ? -nx : nx, dny = ny < 0 ? -ny : ny; /* unit normal, downwards */
    const int odown = (int)(3 * f);
    int np = 0;
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

