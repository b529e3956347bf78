/*
 * needle.c - in-plane cryoprobe detection: constrained ridge voting, shaft walk,
 * sub-pixel line fit, tip at the end of the shaft.
 *
 * The idea: a global ridge + Hough detector locks onto bright tissue interfaces
 * and bone, so every constraint a clinician's setup gives is used. (1) The shaft
 * enters from one side (left, right, or either when "auto"), at an angle to the
 * transducer face inside a plausible range (fascia run nearly parallel to the
 * face and are outside it). (2) When the tracked cryoprobe pose is known, votes
 * are taken only near the predicted line. (3) A candidate line must be
 * supported continuously from the image border where the needle enters (small
 * gaps allowed) to its tip: an interface crossing the image is not a needle
 * that starts at the skin. (4) Of parallel bright lines (front wall, back wall,
 * reverberation comet tail) the one nearest the transducer is the front wall,
 * and the axis lies one probe radius behind it.
 * Work is done at half resolution (O(pixels) ridge map + votes of the strongest
 * ridge pixels), then the line is refined by sub-pixel peak fitting.
 */
#include "segment/segment.h"

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPHI 50      /* angle bins over the allowed range (per side) */
#define RIDGE_D 3    /* half-res px: ridge = centre - mean of +-RIDGE_D vertically */
#define RIDGE_D2 8   /* the wide scale */
#define MAX_VOTERS 6000

struct cn_needle_det {
    cn_needle_params p;
    int max_w, max_h;
    uint8_t *half, *sm;
    uint32_t *colsum;
    int16_t *ridge;
    int *acc;          /* 2 sides x NPHI x nrho */
    int nrho;
    int *vx, *vy, *vw; /* voters */
};

void cn_needle_params_default(cn_needle_params *p)
{
    p->entry = CN_ENTRY_AUTO;
    p->min_angle_deg = 10;
    p->max_angle_deg = 60;
    p->prior_tol_mm = 3;
    p->prior_tol_deg = 6;
    p->min_confidence = 0.5;
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
    size_t nh = (size_t)(max_w / 2) * (max_h / 2);
    d->half = malloc(nh);
    d->sm = malloc(nh);
    d->colsum = malloc(sizeof(uint32_t) * (size_t)max_w);
    d->ridge = malloc(sizeof(int16_t) * nh);
    d->nrho = 2 * (max_w / 2 + max_h / 2) + 4;
    d->acc = malloc(sizeof(int) * 2 * NPHI * (size_t)d->nrho);
    d->vx = malloc(sizeof(int) * MAX_VOTERS);
    d->vy = malloc(sizeof(int) * MAX_VOTERS);
    d->vw = malloc(sizeof(int) * MAX_VOTERS);
    if (!d->half || !d->sm || !d->colsum || !d->ridge || !d->acc || !d->vx || !d->vy || !d->vw) {
        cn_needle_det_free(d);
        return NULL;
    }
    return d;
}

void cn_needle_det_free(cn_needle_det *d)
{
    if (!d)
        return;
    free(d->half), free(d->sm), free(d->colsum), free(d->ridge), free(d->acc);
    free(d->vx), free(d->vy), free(d->vw);
    free(d);
}

static inline int ridge_at(const cn_needle_det *d, int w, int h, int x, int y)
{
    if (x < 0 || y < 0 || x >= w || y >= h)
        return 0;
    return d->ridge[(size_t)y * w + x];
}

/* Best ridge value within +-1 px across the line at (x, y). */
static inline int ridge_near(const cn_needle_det *d, int w, int h, float x, float y, float nx,
                             float ny)
{
    int best = -1000;
    for (int k = -1; k <= 1; k++) {
        int v = ridge_at(d, w, h, (int)lrintf(x + nx * (float)k), (int)lrintf(y + ny * (float)k));
        if (v > best)
            best = v;
    }
    return best;
}

typedef struct {
    float phi;      /* direction angle in the image (rad), entry -> tip */
    float rho;      /* offset along the normal n = (-sin phi, cos phi) */
    float x0, y0;   /* entry point on the border (half-res px) */
    float len;      /* supported length from the border (px) */
    float mean;     /* mean ridge on the support */
    float score;
} line_cand;

/* Walks a line from where it enters the image on the entry side and measures
 * the continuous ridge support (gaps up to max_gap px). */
static bool walk_line(const cn_needle_det *d, int w, int h, float phi, float rho, int thr,
                      float max_gap, float max_start, line_cand *out)
{
    float ux = cosf(phi), uy = sinf(phi), nx = -uy, ny = ux;
    /* point of the line closest to the origin, then back up to the border */
    float px = nx * rho, py = ny * rho;
    /* entry: the smallest t with the point inside the image, going along u */
    float tmin = -1e9f, tmax = 1e9f;
    if (fabsf(ux) > 1e-6f) {
        float t1 = (0 - px) / ux, t2 = ((float)(w - 1) - px) / ux;
        tmin = fmaxf(tmin, fminf(t1, t2));
        tmax = fminf(tmax, fmaxf(t1, t2));
    }
    if (fabsf(uy) > 1e-6f) {
        float t1 = (0 - py) / uy, t2 = ((float)(h - 1) - py) / uy;
        tmin = fmaxf(tmin, fminf(t1, t2));
        tmax = fminf(tmax, fmaxf(t1, t2));
    }
    if (!(tmax > tmin + 4))
        return false;
    float start = -1, last = -1, gap = 0;
    double sum = 0;
    int cnt = 0;
    for (float t = tmin; t <= tmax; t += 1.0f) {
        float x = px + ux * t, y = py + uy * t;
        int r = ridge_near(d, w, h, x, y, nx, ny);
        if (r > thr) {
            if (start < 0) {
                if (t - tmin > max_start)
                    return false; /* must start at the entry border */
                start = t;
            }
            last = t;
            gap = 0;
            sum += r;
            cnt++;
        } else if (start >= 0) {
            gap += 1.0f;
            if (gap > max_gap)
                break;
        } else if (t - tmin > max_start) {
            return false;
        }
    }
    if (start < 0 || cnt < 8)
        return false;
    /* A needle ends in view (its tip is what we look for); a line supported up
     * to the far border is a tissue interface crossing the image. */
    if (tmax - last < max_start * 0.5f)
        return false;
    out->phi = phi;
    out->rho = rho;
    out->x0 = px + ux * tmin;
    out->y0 = py + uy * tmin;
    out->len = last - tmin;
    out->mean = (float)(sum / cnt);
    /* brightness counts twice: specular needle echoes outshine interfaces */
    out->score = (float)cnt * out->mean * out->mean;
    return true;
}

int cn_needle_det_detect(cn_needle_det *d, const uint8_t *px, int w, int h,
                         const double spacing_mm[2], const cn_needle_result *prior,
                         cn_needle_result *out)
{
    if (!out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (!d || cn_image_check(px, w, h) || !spacing_mm || !(spacing_mm[0] > 0) ||
        !(spacing_mm[1] > 0))
        return CN_EINVAL;
    if (w > d->max_w || h > d->max_h || w < 16 || h < 16)
        return CN_ERANGE;
    const cn_needle_params *p = &d->p;
    /* Half resolution, with pixels made square in mm when the spacing is not
     * (angles are measured in mm). Spacing here is assumed square, as for every
     * B-mode source we have; a non-square one only distorts angles slightly. */
    const int hw = w / 2, hh = h / 2;
    cn_img_downsample2(px, w, h, d->half);
    cn_img_box_mean(d->half, d->sm, hw, hh, 1, d->colsum);
    /* vertical ridge map and the threshold: top ~2 % of ridge values */
    int hist[512] = {0};
    for (int y = 0; y < hh; y++)
        for (int x = 0; x < hw; x++) {
            /* two scales: a thin specular line (0.5 mm) and the broad band a
             * bright shaft with its back wall and reverberations makes */
            int c = d->sm[(size_t)y * hw + x];
            int a = y >= RIDGE_D ? d->sm[(size_t)(y - RIDGE_D) * hw + x] : c;
            int b = y + RIDGE_D < hh ? d->sm[(size_t)(y + RIDGE_D) * hw + x] : c;
            int a2 = y >= RIDGE_D2 ? d->sm[(size_t)(y - RIDGE_D2) * hw + x] : c;
            int b2 = y + RIDGE_D2 < hh ? d->sm[(size_t)(y + RIDGE_D2) * hw + x] : c;
            int r = c - (a + b) / 2, r2 = c - (a2 + b2) / 2;
            if (r2 > r)
                r = r2;
            d->ridge[(size_t)y * hw + x] = (int16_t)r;
            hist[r + 256]++;
        }
    long target = (long)hw * hh / 50, acc_n = 0;
    int thr = 255;
    while (thr > -255 && acc_n + hist[thr + 256] < target)
        acc_n += hist[thr-- + 256];
    if (thr < 12)
        thr = 12; /* a flat or blank image has no ridges worth voting */
    /* voters: ridge pixels above threshold, strongest kept when too many */
    int nv = 0;
    for (int y = 0; y < hh && nv < MAX_VOTERS; y++)
        for (int x = 0; x < hw && nv < MAX_VOTERS; x++) {
            int r = d->ridge[(size_t)y * hw + x];
            if (r > thr) {
                d->vx[nv] = x;
                d->vy[nv] = y;
                d->vw[nv] = r - thr;
                nv++;
            }
        }
    if (nv < 8)
        return CN_OK; /* nothing line-like: not found */
    /* angle ranges per side; a prior narrows both angle and offset */
    const double sp = 0.5 * (spacing_mm[0] + spacing_mm[1]) * 2.0; /* mm per half-res px */
    double amin = p->min_angle_deg * M_PI / 180, amax = p->max_angle_deg * M_PI / 180;
    bool side_ok[2] = {p->entry != CN_ENTRY_RIGHT, p->entry != CN_ENTRY_LEFT};
    bool use_prior = prior && prior->found && isfinite(prior->tip_mm.x) && isfinite(prior->dir.x);
    float prior_rho = 0, prior_phi = 0;
    if (use_prior) {
        prior_phi = atan2f(prior->dir.y, prior->dir.x);
        float tx = (float)(prior->tip_mm.x / sp), ty = (float)(prior->tip_mm.y / sp);
        prior_rho = -sinf(prior_phi) * tx + cosf(prior_phi) * ty;
        side_ok[0] = prior->dir.x >= 0;
        side_ok[1] = prior->dir.x < 0;
        double pa = fabs(atan2(prior->dir.y, fabs(prior->dir.x)));
        double tol = p->prior_tol_deg * M_PI / 180;
        amin = fmax(amin, pa - tol);
        amax = fmin(amax, pa + tol);
        if (amax <= amin)
            return CN_OK;
    }
    const int nrho = d->nrho, rho_off = nrho / 2;
    memset(d->acc, 0, sizeof(int) * 2 * NPHI * (size_t)nrho);
    float cs[2][NPHI], sn[2][NPHI];
    for (int side = 0; side < 2; side++)
        for (int k = 0; k < NPHI; k++) {
            double a = amin + (amax - amin) * (k + 0.5) / NPHI;
            double phi = side == 0 ? a : M_PI - a;
            cs[side][k] = (float)cos(phi);
            sn[side][k] = (float)sin(phi);
        }
    for (int side = 0; side < 2; side++) {
        if (!side_ok[side])
            continue;
        int *acc = d->acc + (size_t)side * NPHI * nrho;
        for (int i = 0; i < nv; i++)
            for (int k = 0; k < NPHI; k++) {
                int r = (int)lrintf(-sn[side][k] * (float)d->vx[i] + cs[side][k] * (float)d->vy[i]) + rho_off;
                if (r >= 0 && r < nrho)
                    acc[k * nrho + r] += d->vw[i];
            }
    }
    /* Examine the strongest accumulator peaks with the shaft walk. */
    line_cand best = {0};
    bool have = false;
    const float max_gap = (float)(1.5 / sp), max_start = (float)(4.0 / sp);
    for (int side = 0; side < 2; side++) {
        if (!side_ok[side])
            continue;
        int *acc = d->acc + (size_t)side * NPHI * nrho;
        /* the strongest local maxima (3 x 5 neighbourhood), best first */
        enum { NPK = 16 };
        int pk_k[NPK], pk_r[NPK], pk_v[NPK], npk = 0;
        for (int k = 0; k < NPHI; k++)
            for (int r = 2; r < nrho - 2; r++) {
                int v = acc[k * nrho + r];
                if (v <= 0 || (npk == NPK && v <= pk_v[NPK - 1]))
                    continue;
                if (use_prior && fabsf((float)(r - rho_off) - prior_rho) * sp > p->prior_tol_mm)
                    continue;
                bool is_max = true;
                for (int kk = k - 1; kk <= k + 1 && is_max; kk++)
                    for (int rr = r - 2; rr <= r + 2; rr++) {
                        if (kk < 0 || kk >= NPHI || (kk == k && rr == r))
                            continue;
                        int u = acc[kk * nrho + rr];
                        if (u > v || (u == v && (kk < k || (kk == k && rr < r)))) {
                            is_max = false;
                            break;
                        }
                    }
                if (!is_max)
                    continue;
                int at = npk < NPK ? npk++ : NPK - 1;
                while (at > 0 && pk_v[at - 1] < v) {
                    pk_k[at] = pk_k[at - 1];
                    pk_r[at] = pk_r[at - 1];
                    pk_v[at] = pk_v[at - 1];
                    at--;
                }
                pk_k[at] = k;
                pk_r[at] = r;
                pk_v[at] = v;
            }
        for (int pick = 0; pick < npk; pick++) {
            int bk = pk_k[pick], br = pk_r[pick];
            float phi = atan2f(sn[side][bk], cs[side][bk]);
            line_cand c;
            if (!walk_line(d, hw, hh, phi, (float)(br - rho_off), thr, max_gap, max_start, &c))
                continue;
            if (!have || c.score > best.score) {
                best = c;
                have = true;
            }
        }
    }
    if (!have)
        return CN_OK;
    /* The front wall is the line nearest the transducer among parallel ones of
     * comparable strength (back wall and reverberations lie below it). */
    {
        const line_cand ref = best;
        float sgn = cosf(ref.phi) >= 0 ? 1.0f : -1.0f; /* rho step that moves the line up */
        for (float dr = -3; dr >= -(float)(3.0 / sp); dr -= 1.0f) {
            line_cand c;
            if (walk_line(d, hw, hh, ref.phi, ref.rho + sgn * dr, thr, max_gap, max_start, &c) &&
                c.len > 0.6f * ref.len && c.mean > 0.5f * ref.mean)
                best = c;
        }
        /* centre on the ridge: the offset (+-2 px) with the highest mean ridge */
        float ux0 = cosf(best.phi), uy0 = sinf(best.phi), bo = 0;
        double bm = -1e9;
        for (float o = -2; o <= 2; o += 1.0f) {
            double sum = 0;
            int n = 0;
            for (float t = 0; t <= best.len; t += 1.0f) {
                float x = best.x0 + ux0 * t - uy0 * o, y = best.y0 + uy0 * t + ux0 * o;
                sum += ridge_at(d, hw, hh, (int)lrintf(x), (int)lrintf(y));
                n++;
            }
            if (n && sum / n > bm) {
                bm = sum / n;
                bo = o;
            }
        }
        best.x0 += -uy0 * bo;
        best.y0 += ux0 * bo;
    }
    /* sub-pixel refinement: fit a line to the ridge peaks across the shaft */
    float ux = cosf(best.phi), uy = sinf(best.phi), nx = -uy, ny = ux;
    double sw = 0, st = 0, so = 0, stt = 0, sto = 0;
    for (float t = 0; t <= best.len; t += 1.0f) {
        float x = best.x0 + ux * t, y = best.y0 + uy * t;
        int r0v = ridge_at(d, hw, hh, (int)lrintf(x), (int)lrintf(y));
        int rm = ridge_at(d, hw, hh, (int)lrintf(x - nx), (int)lrintf(y - ny));
        int rp = ridge_at(d, hw, hh, (int)lrintf(x + nx), (int)lrintf(y + ny));
        if (r0v <= thr || r0v < rm || r0v < rp)
            continue;
        double den = (double)rm - 2.0 * r0v + rp;
        double off = den < 0 ? 0.5 * (rm - rp) / den : 0;
        double wgt = r0v - thr;
        sw += wgt;
        st += wgt * t;
        so += wgt * off;
        stt += wgt * t * t;
        sto += wgt * t * off;
    }
    float slope = 0, icpt = 0;
    if (sw > 0) {
        double var = stt / sw - (st / sw) * (st / sw);
        if (var > 1e-6) {
            slope = (float)((sto / sw - (st / sw) * (so / sw)) / var);
            icpt = (float)(so / sw - slope * st / sw);
        } else {
            icpt = (float)(so / sw);
        }
    }
    if (fabsf(slope) > 0.1f)
        slope = 0, icpt = 0; /* a bad fit: keep the voted line */
    float x0 = best.x0 + nx * icpt, y0 = best.y0 + ny * icpt;
    float phi = best.phi + atanf(slope);
    ux = cosf(phi);
    uy = sinf(phi);
    /* Tip: where the front-wall echo ends. Grey levels along the line (1 mm
     * running mean, so speckle dips do not cut the shaft) against the midpoint
     * of the shaft's median level and the tissue level 2.5 mm above the line. */
    float tip_t = best.len;
    {
        enum { NPROF = 1200 };
        float prof[NPROF], bg[NPROF], sm[NPROF];
        int np = 0;
        float bnx = uy, bny = -ux; /* towards the transducer */
        if (bny > 0)
            bnx = -bnx, bny = -bny;
        float boff = (float)(2.5 / sp);
        for (float t = 0; np < NPROF; t += 0.5f, np++) {
            float x = x0 + ux * t, y = y0 + uy * t;
            /* the line starts on the border, possibly a fraction of a pixel outside */
            if (x < -1.5f || y < -1.5f || x > (float)hw + 0.5f || y > (float)hh + 0.5f)
                break;
            /* brightest within +-1 px across the line: robust to a slightly tilted fit */
            float v0 = cn_img_sample(d->sm, hw, hh, x, y);
            float v1 = cn_img_sample(d->sm, hw, hh, x - uy, y + ux);
            float v2 = cn_img_sample(d->sm, hw, hh, x + uy, y - ux);
            prof[np] = fmaxf(v0, fmaxf(v1, v2));
            bg[np] = cn_img_sample(d->sm, hw, hh, x + bnx * boff, y + bny * boff);
        }
        int win = (int)lrintf((float)(0.5 / sp) / 0.5f); /* half-window: 0.5 mm */
        if (win < 1)
            win = 1;
        for (int i = 0; i < np; i++) {
            float a = 0;
            int c = 0;
            for (int k = i - win; k <= i + win; k++)
                if (k >= 0 && k < np) {
                    a += prof[k];
                    c++;
                }
            sm[i] = a / (float)c;
        }
        int nsup = (int)(best.len / 0.5f);
        if (nsup > np)
            nsup = np;
        if (nsup > 8) {
            float tmp[NPROF];
            memcpy(tmp, prof, sizeof(float) * (size_t)nsup);
            /* medians by partial selection sort are fine at this size */
            for (int i = 0; i <= nsup / 2; i++)
                for (int j = i + 1; j < nsup; j++)
                    if (tmp[j] < tmp[i]) {
                        float q = tmp[i];
                        tmp[i] = tmp[j];
                        tmp[j] = q;
                    }
            float shaft = tmp[nsup / 2];
            memcpy(tmp, bg, sizeof(float) * (size_t)np);
            for (int i = 0; i <= np / 2; i++)
                for (int j = i + 1; j < np; j++)
                    if (tmp[j] < tmp[i]) {
                        float q = tmp[i];
                        tmp[i] = tmp[j];
                        tmp[j] = q;
                    }
            float tissue = tmp[np / 2];
            float level = 0.5f * (shaft + tissue);

            int last = -1, gap = 0, maxgap = (int)lrintf((float)(2.0 / sp) / 0.5f);
            for (int i = 0; i < np; i++) {
                if (sm[i] > level) {
                    last = i;
                    gap = 0;
                } else if (last >= 0 && ++gap > maxgap) {
                    break;
                }
            }
            if (last > 0) {
                /* sub-sample: where the smoothed profile crosses the level after `last`,
                 * minus the half-window the running mean spreads the end by */
                float t_end = (float)last * 0.5f;
                if (last + 1 < np && sm[last] > sm[last + 1])
                    t_end += 0.5f * (sm[last] - level) / (sm[last] - sm[last + 1]);
                tip_t = t_end;
            }
        }
    }
    /* the axis lies one probe radius behind the front wall (away from the transducer) */
    float down_nx = -uy, down_ny = ux;
    if (down_ny < 0)
        down_nx = -down_nx, down_ny = -down_ny;
    double rad_px = 0.5 * p->needle_diameter_mm / sp;
    double tipx = (x0 + ux * tip_t + down_nx * rad_px) * sp;
    double tipy = (y0 + uy * tip_t + down_ny * rad_px) * sp;
    /* image mm are measured from the image edge: half-res pixel i spans full-res
     * pixels 2i..2i+1, i.e. [2i, 2i+2) * spacing, centre (2i + 1) * spacing */
    tipx += 1.0 * spacing_mm[0];
    tipy += 1.0 * spacing_mm[1];
    out->found = true;
    out->tip_mm = (cn_pt2){(float)tipx, (float)tipy};
    out->dir = (cn_pt2){ux, uy};
    /* confidence: support length (vs 10 mm) and contrast (vs threshold) */
    double len_mm = best.len * sp;
    double c1 = fmin(1.0, len_mm / 10.0), c2 = fmin(1.0, (best.mean - thr) / (double)thr);
    out->confidence = (float)fmax(0.0, fmin(1.0, 0.5 * c1 + 0.5 * c2));
    if (out->confidence < p->min_confidence)
        out->found = false;
    return CN_OK;
}
