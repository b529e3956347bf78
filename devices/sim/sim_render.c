/*
 * sim_render.c - B-mode image formation.
 *
 * Model (all in image pixels; 1 px = sp mm on both axes):
 *   received IQ  r(x,y) = PSF ** [ T(x,y) * ( E(x,y) c(x,y) + S(x,y) ) ] + n(x,y)
 *   displayed    v(x,y) = 255/DR * ( 10 log10 |r|^2 + gain + TGC(y) - (TOP - DR) )
 * where c is a fixed field of unit complex Gaussian scatterers (fully developed
 * speckle, Rayleigh envelope), E the diffuse echogenicity of the tissue, S coherent
 * (specular) echoes of interfaces (fascia, needle, ice rim), T the two-way amplitude
 * transmission down to the pixel (tissue attenuation, posterior enhancement below
 * fluid, needle and ice shadows), PSF a separable Gaussian (axial, then lateral with
 * a width that grows away from the focus), n electronic noise read from a fixed
 * table at a per-frame offset, and TGC compensates most of the nominal attenuation.
 *
 * What never changes (c, E, S and T of the tissue, kernels, the log table) is made
 * once in cn_sim_new; a frame copies the static product T*(E*c+S), redraws the
 * pulsating artery, the needle and the ice ball into it, convolves and compresses.
 */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

#define TOP_DB 36.0 /* level (dB over mean reference tissue, E=1) that maps to 255 */

/* ------------------------------------------------------------------ noise fields */

static double hash01(uint64_t seed, int64_t ix, int64_t iy)
{
    uint64_t h = sim_mix64(seed ^ sim_mix64((uint64_t)ix * 0x9E3779B1ULL ^ ((uint64_t)iy << 32)));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Smooth value noise in [-1, 1] with unit lattice spacing. */
static double vnoise(uint64_t seed, double x, double y)
{
    double fx = floor(x), fy = floor(y);
    int64_t ix = (int64_t)fx, iy = (int64_t)fy;
    double ax = x - fx, ay = y - fy;
    ax = ax * ax * (3 - 2 * ax);
    ay = ay * ay * (3 - 2 * ay);
    double v00 = hash01(seed, ix, iy), v10 = hash01(seed, ix + 1, iy);
    double v01 = hash01(seed, ix, iy + 1), v11 = hash01(seed, ix + 1, iy + 1);
    double v = (v00 * (1 - ax) + v10 * ax) * (1 - ay) + (v01 * (1 - ax) + v11 * ax) * ay;
    return 2 * v - 1;
}

static double fbm(uint64_t seed, double x, double y, int oct)
{
    double s = 0, a = 1, n = 0;
    for (int i = 0; i < oct; i++) {
        s += a * vnoise(seed + (uint64_t)i * 7919, x, y);
        n += a;
        x *= 2.03;
        y *= 2.03;
        a *= 0.5;
    }
    return s / n;
}

static inline double gauss(double d, double w) { return exp(-(d * d) / (2 * w * w)); }

/* ------------------------------------------------------------------ tissue model */

typedef struct {
    double cx, cy, len, wid, ang, bend; /* mm, rad; bend: sagitta per mm^2 of length */
    double ampE, ampS;                   /* diffuse and coherent amplitude */
    int layer;                           /* 1 fat, 2 muscle */
} streak;

/* Adds one curved, tapered streak of tissue (a septum, perimysium, a fibre bundle). */
static void add_streak(cn_sim *s, const streak *k, const float *yf_col, const float *ys_col,
                       uint64_t sd)
{
    const sim_geom *g = &s->g;
    double sp = g->sp;
    double ca = cos(k->ang), sa = sin(k->ang);
    double ext = k->len + 4 * k->wid + fabs(k->bend) * k->len * k->len;
    int i0 = (int)floor((k->cx - ext) / sp), i1 = (int)ceil((k->cx + ext) / sp);
    int j0 = (int)floor((k->cy - ext) / sp), j1 = (int)ceil((k->cy + ext) / sp);
    for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++) {
        double y = (j + 0.5) * sp;
        for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < s->W; i++) {
            double x = (i + 0.5) * sp;
            bool in_fat = y >= ys_col[i] && y < yf_col[i];
            if ((k->layer == 1 && !in_fat) || (k->layer == 2 && y < yf_col[i] + 0.15))
                continue;
            double dx = x - k->cx, dy = y - k->cy;
            double u = dx * ca + dy * sa, v = -dx * sa + dy * ca - k->bend * u * u;
            if (fabs(u) > k->len || fabs(v) > 4 * k->wid)
                continue;
            double win = 0.5 + 0.5 * cos(SIM_PI * u / k->len);
            double m = 0.55 + 0.45 * vnoise(sd, u / 1.3 + k->cx, k->cy);
            double w = win * m * gauss(v, k->wid);
            size_t idx = (size_t)j * s->W + i;
            s->E0[idx] += (float)(k->ampE * w);
            s->S0[idx] += (float)(k->ampS * w);
        }
    }
}

static inline double smoothstep(double e0, double e1, double x)
{
    double t = fmin(fmax((x - e0) / (e1 - e0), 0), 1);
    return t * t * (3 - 2 * t);
}

/* Static tissue: skin, fat lobules with septa, fascia, muscle, the nerve. */
static void build_tissue(cn_sim *s, float *alpha)
{
    const cn_sim_config *c = &s->c;
    const sim_geom *g = &s->g;
    int W = s->W, H = s->H;
    double sp = g->sp;
    uint64_t sd = sim_mix64(c->seed ^ 0x7155EULL);
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0x51D5EEDULL));

    /* layer boundaries per column: skin bottom ys, fat bottom yf (wavy) */
    float *ys = malloc(sizeof(float) * (size_t)W), *yf = malloc(sizeof(float) * (size_t)W);
    if (!ys || !yf) {
        free(ys);
        free(yf);
        return;
    }
    for (int i = 0; i < W; i++) {
        double x = (i + 0.5) * sp;
        ys[i] = (float)(c->skin_mm + 0.12 * vnoise(sd + 1, x / 5.0, 0));
        yf[i] = (float)(c->skin_mm + c->fat_mm + (c->fat_mm > 0 ? 0.8 * fbm(sd + 2, x / 9.0, 0.5, 2) : 0));
        if (yf[i] < ys[i])
            yf[i] = ys[i];
    }
    /* fascial planes in the muscle: one just above the neurovascular bundle, one deep */
    double f1_y = g->nerve_c.y - g->nerve_ry - 1.0;
    if (g->art_r > 0)
        f1_y = fmin(f1_y, g->art_c.y - g->art_r - 1.0);
    double f1_slope = (cn_rng_uniform(&r) - 0.5) * 0.12;
    double f2_y = fmax(g->nerve_c.y + g->nerve_ry, g->art_c.y + g->art_r) + 0.4 * (c->depth_mm - g->nerve_c.y);
    double f2_slope = (cn_rng_uniform(&r) - 0.5) * 0.2;
    double pennation = (cn_rng_uniform(&r) - 0.5) * 0.3;
    double wall = fmax(0.35, 0.07 * c->nerve_diameter_mm);
    /* long septa across the fat, roughly parallel to the skin, with gaps */
    int n_long = c->fat_mm > 1.5 ? (int)(c->fat_mm / 2.2) : 0;
    double sept_y[16], sept_a[16], sept_sl[16];
    if (n_long > 16)
        n_long = 16;
    for (int k = 0; k < n_long; k++) {
        sept_y[k] = c->skin_mm + c->fat_mm * (k + 0.6 + 0.5 * (cn_rng_uniform(&r) - 0.5)) / (n_long + 0.6);
        sept_a[k] = 0.45 + 0.5 * cn_rng_uniform(&r);
        sept_sl[k] = (cn_rng_uniform(&r) - 0.5) * 0.1;
    }

    /* everything that depends on x only, once per column */
    typedef struct {
        double fm, fw, y1, y2, m1, m2;
        double sy[16], sg[16], sw[16];
    } colp;
    colp *cp = malloc(sizeof(colp) * (size_t)W);
    if (!cp) {
        free(ys);
        free(yf);
        return;
    }
    for (int i = 0; i < W; i++) {
        double x = (i + 0.5) * sp;
        colp *q = &cp[i];
        q->fm = 0.3 + 0.7 * smoothstep(-0.4, 0.4, fbm(sd + 6, x / 5.0, 0.2, 2));
        q->fw = 0.09 + 0.04 * vnoise(sd + 7, x / 3, 0);
        q->y1 = f1_y + f1_slope * (x - g->nerve_c.x) + 0.6 * fbm(sd + 8, x / 8.0, 1.5, 2);
        q->y2 = f2_y + f2_slope * (x - g->nerve_c.x) + 0.9 * fbm(sd + 9, x / 10.0, 2.5, 2);
        q->m1 = 0.2 + 0.8 * smoothstep(-0.3, 0.3, fbm(sd + 10, x / 6.0, 0, 2));
        q->m2 = 0.2 + 0.8 * smoothstep(-0.3, 0.3, fbm(sd + 11, x / 6.0, 0, 2));
        for (int k = 0; k < n_long; k++) {
            q->sy[k] = sept_y[k] + sept_sl[k] * (x - 0.5 * g->width_mm) +
                       0.8 * fbm(sd + 20 + k, x / 6.0, 0.3, 2);
            q->sg[k] = smoothstep(-0.15, 0.35, fbm(sd + 40 + k, x / 7.0, 0.7, 2));
            q->sw[k] = 0.06 + 0.03 * vnoise(sd + 60 + k, x / 2, 0);
        }
    }

    for (int j = 0; j < H; j++) {
        double y = (j + 0.5) * sp;
        for (int i = 0; i < W; i++) {
            double x = (i + 0.5) * sp;
            const colp *cq = &cp[i];
            double E, S = 0, a = c->attenuation_db_per_mm;
            double tex = fbm(sd + 3, x / 3.0, y / 1.6, 3); /* slow echogenicity variation */
            if (y < ys[i]) { /* skin: the dermis is echogenic */
                E = 0.9 * (1 + 0.25 * tex);
                S += 2.5 * gauss(y - 0.06, 0.05); /* entrance echo */
            } else if (y < yf[i]) { /* subcutaneous fat: dark lobules, bright septa */
                E = 0.13 * (1 + 0.4 * tex);
                a *= 0.8;
                for (int k = 0; k < n_long; k++) {
                    double w = cq->sg[k] * gauss(y - cq->sy[k], cq->sw[k]);
                    E += 0.9 * sept_a[k] * w;
                    S += 0.8 * sept_a[k] * w;
                }
                S += 1.0 * gauss(y - ys[i], 0.06); /* dermis / fat interface */
            } else { /* muscle: heterogeneous, darker than fascia */
                E = 0.25 * (1 + 0.45 * fbm(sd + 4, x / 4.0, y / 2.5, 3)) * (1 + 0.2 * tex);
            }
            /* superficial (investing) fascia at the fat/muscle border, uneven */
            if (c->fat_mm > 0) {
                double ff = gauss(y - yf[i], cq->fw) * cq->fm;
                E += 1.2 * ff;
                S += 2.0 * ff;
            }
            if (y > yf[i]) {
                double p1 = gauss(y - cq->y1, 0.08) * cq->m1, p2 = gauss(y - cq->y2, 0.1) * cq->m2;
                if (cq->y1 > yf[i] + 0.5) {
                    E += 1.0 * p1;
                    S += 1.5 * p1;
                }
                E += 1.1 * p2;
                S += 1.7 * p2;
            }
            /* nerve: hyperechoic epineurium around hypoechoic fascicles (honeycomb) */
            double nx = (x - g->nerve_c.x) / g->nerve_rx, ny = (y - g->nerve_c.y) / g->nerve_ry;
            double q = sqrt(nx * nx + ny * ny);
            if (q < 1.0 + 0.08) {
                double edge = fmin(fmax((1.0 - q) / 0.06, 0), 1); /* soft outer border */
                double inner = 1.0 - wall / g->nerve_rx;
                double En;
                double nt = fbm(sd + 12, x / 0.8, y / 0.8, 2);
                if (q > inner) {
                    En = 1.3 * (1 + 0.25 * nt);
                    S += 0.9 * edge * fabs(ny) / fmax(q, 1e-6); /* top/bottom borders */
                } else {
                    En = 1.0 * (1 + 0.3 * nt); /* interfascicular epineurium */
                    for (int k = 0; k < g->n_fasc; k++) {
                        const sim_fascicle *f = &g->fasc[k];
                        double dx = x - f->x, dy = y - f->y;
                        double ca = cos(f->ang), sa = sin(f->ang);
                        double u = (dx * ca + dy * sa) / f->rx, v = (-dx * sa + dy * ca) / f->ry;
                        double qf = sqrt(u * u + v * v);
                        if (qf < 1.1) {
                            double in = fmin(fmax((1.1 - qf) / 0.2, 0), 1);
                            En = En * (1 - in) + 0.06 * in;
                        }
                    }
                }
                E = E * (1 - edge) + En * edge;
            }
            size_t idx = (size_t)j * W + i;
            s->E0[idx] = (float)fmax(E, 0.004);
            s->S0[idx] = (float)S;
            alpha[idx] = (float)a;
        }
    }

    /* short oblique septa between fat lobules */
    int nshort = (int)(g->width_mm * c->fat_mm / 10.0);
    for (int k = 0; k < nshort; k++) {
        streak st = {g->width_mm * cn_rng_uniform(&r),
                     c->skin_mm + c->fat_mm * cn_rng_uniform(&r),
                     0.8 + 2.2 * cn_rng_uniform(&r),
                     0.05 + 0.03 * cn_rng_uniform(&r),
                     (cn_rng_uniform(&r) < 0.5 ? -1 : 1) * (0.3 + 0.8 * cn_rng_uniform(&r)),
                     0.08 * cn_rng_normal(&r),
                     0.5 + 0.6 * cn_rng_uniform(&r), 0, 1};
        st.ampS = 0.6 * st.ampE;
        add_streak(s, &st, yf, ys, sd + 100);
    }
    /* muscle: perimysium streaks along the fibres ("starry night" where they are cut
     * short), the fibre direction drifting slowly across the image */
    double area = g->width_mm * c->depth_mm;
    int nstreak = (int)(area / 3.0);
    for (int k = 0; k < nstreak; k++) {
        double cx = g->width_mm * cn_rng_uniform(&r), cy = c->depth_mm * cn_rng_uniform(&r);
        bool longs = cn_rng_uniform(&r) < 0.25;
        double len = longs ? 2.0 + 7.0 * cn_rng_uniform(&r) : 0.25 + 1.2 * cn_rng_uniform(&r);
        double nx = (cx - g->nerve_c.x) / (g->nerve_rx + 0.6 + len), ny = (cy - g->nerve_c.y) / (g->nerve_ry + 0.6 + len * 0.3);
        if (nx * nx + ny * ny < 1)
            continue;
        streak st = {cx, cy, len, 0.045 + 0.05 * cn_rng_uniform(&r),
                     pennation + 0.25 * fbm(sd + 5, cx / 15.0, cy / 15.0, 2) + 0.07 * cn_rng_normal(&r),
                     0.01 * cn_rng_normal(&r),
                     (longs ? 0.5 : 0.4) + 0.9 * cn_rng_uniform(&r), 0, 2};
        st.ampS = longs ? 0.35 * st.ampE : 0.1 * st.ampE;
        add_streak(s, &st, yf, ys, sd + 200);
    }
    free(ys);
    free(yf);
    free(cp);
}

/* The artery over the tissue at (x, y) with radius ra: anechoic lumen, bright wall
 * (the anterior and posterior walls specular). Returns true when (x, y) is inside
 * the lumen (for the attenuation map). */
static bool artery_at(const sim_geom *g, double x, double y, double ra, float *E, float *S)
{
    double dx = x - g->art_c.x, dy = y - g->art_c.y;
    double d = sqrt(dx * dx + dy * dy);
    const double wt = 0.45;
    if (d > ra + wt + 0.1)
        return false;
    double ny = fabs(dy) / fmax(d, 1e-6);
    if (d < ra) {
        double in = fmin((ra - d) / 0.08, 1);
        *E = (float)(*E * (1 - in) + 0.008 * in);
        *S = (float)(*S * (1 - in));
        return true;
    }
    double w = gauss(d - (ra + 0.5 * wt), 0.5 * wt);
    *E = (float)(*E + 1.5 * w);
    *S = (float)(*S + 2.2 * w * ny * ny);
    return false;
}

/* ------------------------------------------------------------------ init */

static int make_kernels(cn_sim *s)
{
    double sp = s->g.sp;
    double sa = 0.085 / sp; /* axial sigma (px): ~0.2 mm FWHM, a 10-15 MHz pulse */
    s->ax_r = (int)ceil(3 * sa);
    if (s->ax_r > 31)
        s->ax_r = 31;
    double e = 0;
    for (int k = -s->ax_r; k <= s->ax_r; k++)
        e += gauss(k, sa) * gauss(k, sa);
    for (int k = -s->ax_r; k <= s->ax_r; k++)
        s->ax_k[k + s->ax_r] = (float)(gauss(k, sa) / sqrt(e));
    /* lateral: 0.16 mm sigma at the focus, growing away from it (Gaussian beam) */
    double smax = 0;
    double *sig = malloc(sizeof(double) * (size_t)s->H);
    if (!sig)
        return CN_ENOMEM;
    for (int j = 0; j < s->H; j++) {
        double y = (j + 0.5) * sp;
        double z = (y - s->g.focus_mm) / 14.0;
        sig[j] = fmin(0.16 * sqrt(1 + z * z), 0.45) / sp;
        if (sig[j] < 0.6)
            sig[j] = 0.6;
        smax = fmax(smax, sig[j]);
    }
    s->lat_rmax = (int)ceil(3 * smax);
    int kw = 2 * s->lat_rmax + 1;
    s->n_lat = s->H;
    s->lat_k = calloc((size_t)s->H * kw, sizeof(float));
    s->lat_r = calloc((size_t)s->H, sizeof(int));
    s->row_lat = calloc((size_t)s->H, sizeof(int));
    s->row_ext = calloc((size_t)2 * (s->W + 2 * s->lat_rmax + 8), sizeof(float));
    if (!s->lat_k || !s->lat_r || !s->row_lat || !s->row_ext) {
        free(sig);
        return CN_ENOMEM;
    }
    for (int j = 0; j < s->H; j++) {
        int R = (int)ceil(3 * sig[j]);
        s->lat_r[j] = R;
        s->row_lat[j] = j;
        double en = 0;
        for (int k = -R; k <= R; k++)
            en += gauss(k, sig[j]) * gauss(k, sig[j]);
        for (int k = -R; k <= R; k++)
            s->lat_k[(size_t)j * kw + (k + s->lat_rmax)] = (float)(gauss(k, sig[j]) / sqrt(en));
    }
    free(sig);
    return CN_OK;
}

int sim_render_init(cn_sim *s)
{
    size_t n = (size_t)s->W * s->H;
    float **bufs[] = {&s->c_re, &s->c_im, &s->E0, &s->S0, &s->T0, &s->P_re, &s->P_im,
                      &s->w_re, &s->w_im, &s->t_re, &s->t_im};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = malloc(n * sizeof(float));
        if (!*bufs[i])
            return CN_ENOMEM;
    }
    float *alpha = malloc(n * sizeof(float));
    if (!alpha)
        return CN_ENOMEM;
    const cn_sim_config *c = &s->c;
    const sim_geom *g = &s->g;
    double sp = g->sp;

    /* fixed scatterers: E|c|^2 = 1 */
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0x5CA77E2ULL));
    for (size_t i = 0; i < n; i++) {
        double u1 = cn_rng_uniform(&r), u2 = cn_rng_uniform(&r);
        if (u1 < 1e-300)
            u1 = 1e-300;
        double m = sqrt(-log(u1)); /* |c|^2 ~ Exp(1) */
        s->c_re[i] = (float)(m * cos(2 * SIM_PI * u2));
        s->c_im[i] = (float)(m * sin(2 * SIM_PI * u2));
    }

    build_tissue(s, alpha);

    /* the artery at its mean radius, and blood attenuating far less than tissue */
    for (int j = 0; j < s->H; j++)
        for (int i = 0; i < s->W; i++) {
            size_t k = (size_t)j * s->W + i;
            float E = s->E0[k], S = s->S0[k];
            if (g->art_r > 0 && artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, g->art_r, &E, &S))
                alpha[k] = (float)(0.12 * c->attenuation_db_per_mm);
        }
    /* two-way transmission: cumulative attenuation down each column */
    for (int i = 0; i < s->W; i++) {
        double acc = 0; /* one-way dB */
        for (int j = 0; j < s->H; j++) {
            size_t k = (size_t)j * s->W + i;
            double half = 0.5 * alpha[k] * sp;
            acc += half;
            s->T0[k] = (float)pow(10.0, -2 * acc / 20.0);
            acc += half;
        }
    }
    /* refraction ("edge") shadows below the artery's lateral borders */
    if (g->art_r > 0) {
        for (int side = -1; side <= 1; side += 2) {
            double xe = g->art_c.x + side * (g->art_r + 0.2);
            for (int i = 0; i < s->W; i++) {
                double x = (i + 0.5) * sp;
                double w = gauss(x - xe, 0.18);
                if (w < 0.02)
                    continue;
                for (int j = (int)(g->art_c.y / sp); j < s->H; j++)
                    s->T0[(size_t)j * s->W + i] *= (float)(1 - 0.45 * w);
            }
        }
    }
    free(alpha);
    for (int j = 0; j < s->H; j++)
        for (int i = 0; i < s->W; i++) {
            size_t k = (size_t)j * s->W + i;
            float E = s->E0[k], S = s->S0[k];
            if (g->art_r > 0)
                artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, g->art_r, &E, &S);
            s->P_re[k] = s->T0[k] * (E * s->c_re[k] + S);
            s->P_im[k] = s->T0[k] * (E * s->c_im[k]);
        }

    int rc = make_kernels(s);
    if (rc != CN_OK)
        return rc;

    /* display: TGC compensates 85 % of the nominal round-trip attenuation (the image
     * darkens a little with depth, as a real one does) */
    s->row_off = malloc(sizeof(float) * (size_t)s->H);
    if (!s->row_off)
        return CN_ENOMEM;
    double k255 = 255.0 / c->dynamic_range_db;
    double tgc_bottom = 0;
    for (int j = 0; j < s->H; j++) {
        double y = (j + 0.5) * sp;
        double tgc = 0.85 * 2 * c->attenuation_db_per_mm * y;
        tgc_bottom = tgc;
        s->row_off[j] = (float)(k255 * (c->gain_db + tgc - (TOP_DB - c->dynamic_range_db)));
    }
    s->log_scale = (float)(k255 * 10.0 * log10(2.0));
    for (int i = 0; i < 4096; i++)
        s->log2_lut[i] = (float)log2(1.0 + (i + 0.5) / 4096.0);

    /* electronic noise: constant at the receiver, so TGC lifts it with depth; at the
     * bottom of the image it sits ~18 dB under mean E=1 tissue (a faint grain in
     * the deepest shadows) */
    s->noise_amp = (float)pow(10.0, (-18.0 - tgc_bottom) / 20.0);
    s->noise_span = n;
    s->noise_re = malloc(sizeof(float) * 2 * n);
    s->noise_im = malloc(sizeof(float) * 2 * n);
    if (!s->noise_re || !s->noise_im)
        return CN_ENOMEM;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0x0015E5ULL));
    for (size_t i = 0; i < 2 * n; i++) {
        double u1 = cn_rng_uniform(&r), u2 = cn_rng_uniform(&r);
        if (u1 < 1e-300)
            u1 = 1e-300;
        double m = sqrt(-log(u1)) * s->noise_amp;
        s->noise_re[i] = (float)(m * cos(2 * SIM_PI * u2));
        s->noise_im[i] = (float)(m * sin(2 * SIM_PI * u2));
    }
    return CN_OK;
}

void sim_render_free(cn_sim *s)
{
    float *bufs[] = {s->c_re, s->c_im, s->E0, s->S0, s->T0, s->P_re, s->P_im, s->w_re,
                     s->w_im, s->t_re, s->t_im, s->row_ext, s->lat_k, s->row_off,
                     s->noise_re, s->noise_im};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->lat_r);
    free(s->row_lat);
}

/* ------------------------------------------------------------------ per frame */

/* Adds a coherent (specular) echo of amplitude a at continuous pixel position (X, Y),
 * bilinearly (pixel centres at i + 0.5). */
static inline void splat(cn_sim *s, double X, double Y, double a)
{
    double fx = X - 0.5, fy = Y - 0.5;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    double ax = fx - ix, ay = fy - iy;
    for (int dy = 0; dy < 2; dy++) {
        int j = iy + dy;
        if (j < 0 || j >= s->H)
            continue;
        double wy = dy ? ay : 1 - ay;
        for (int dx = 0; dx < 2; dx++) {
            int i = ix + dx;
            if (i < 0 || i >= s->W)
                continue;
            double wx = dx ? ax : 1 - ax;
            size_t k = (size_t)j * s->W + i;
            s->w_re[k] += (float)(a * wx * wy * s->T0[k]);
        }
    }
}

static void draw_artery(cn_sim *s, double t)
{
    const sim_geom *g = &s->g;
    if (g->art_r <= 0)
        return;
    double ra = sim_artery_radius(g, t);
    double sp = g->sp, ext = ra + 0.7;
    int i0 = (int)floor((g->art_c.x - ext) / sp), i1 = (int)ceil((g->art_c.x + ext) / sp);
    int j0 = (int)floor((g->art_c.y - ext) / sp), j1 = (int)ceil((g->art_c.y + ext) / sp);
    for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++)
        for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < s->W; i++) {
            size_t k = (size_t)j * s->W + i;
            float E = s->E0[k], S = s->S0[k];
            artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, ra, &E, &S);
            s->w_re[k] = s->T0[k] * (E * s->c_re[k] + S);
            s->w_im[k] = s->T0[k] * (E * s->c_im[k]);
        }
}

static void draw_needle(cn_sim *s, const cn_truth *tr)
{
    const sim_geom *g = &s->g;
    const cn_sim_config *c = &s->c;
    double sp = g->sp;
    sim_v2 d = g->ndir;
    sim_v2 e = g->skin_entry;
    double L = (tr->needle_tip_mm.x - e.x) * d.x + (tr->needle_tip_mm.y - e.y) * d.y;
    if (L <= 0.05)
        return;
    sim_v2 tip = {e.x + d.x * L, e.y + d.y * L};
    double rn = 0.5 * c->needle_diameter_mm;
    double hv = rn / d.x;             /* vertical half-thickness of the shaft */
    double tn = d.y / d.x;
    double V = g->needle_vis;
    /* columns the shaft covers: tissue inside it is replaced, tissue below is shadowed */
    int i0 = (int)floor(fmax(e.x, 0) / sp), i1 = (int)floor(fmin(tip.x, g->width_mm - 1e-9) / sp);
    for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < s->W; i++) {
        double x = (i + 0.5) * sp;
        if (x < e.x || x > tip.x)
            continue;
        double yc = e.y + (x - e.x) * tn;
        /* The elevation beam is about as thick as the shaft: tissue beside the shaft
         * still echoes (dimmed), and the shadow below is partial, fading out over the
         * last half millimetre before the tip. */
        float shadow = (float)(1 - 0.3 * smoothstep(0, 0.5, tip.x - x));
        int jt = (int)floor((yc - hv) / sp + 0.5), jb = (int)floor((yc + hv) / sp + 0.5);
        for (int j = jt < 0 ? 0 : jt; j < s->H; j++) {
            size_t k = (size_t)j * s->W + i;
            float f = j < jb ? 0.3f : shadow; /* inside the shaft : acoustic shadow below */
            s->w_re[k] *= f;
            s->w_im[k] *= f;
        }
    }
    /* specular echoes: the top wall, the back wall, and a reverberation comet tail */
    const double A = 30.0 * V;
    const double step = 0.5 * sp;
    uint64_t sd = sim_mix64(c->seed ^ 0xEED1EULL);
    double s0 = e.x < 0 ? -e.x / d.x : 0;
    for (double u = s0; u <= L; u += step) {
        double qx = e.x + d.x * u, qy = e.y + d.y * u;
        if (qx >= g->width_mm)
            break;
        double from_tip = L - u;
        double mod = 0.75 + 0.25 * vnoise(sd, from_tip / 1.7, 0.5);
        double w = A * mod * step * d.x / sp; /* per column, independent of the angle */
        double X = qx / sp, Yt = (qy - hv) / sp;
        double D = 2 * hv / sp; /* front wall -> back wall, px */
        /* front wall, back wall and the first reverberation (one more crossing of the
         * shaft), each with a short ring-down (comet tail) of closely spaced echoes */
        const double wall_amp[3] = {1.0, 0.35, 0.12};
        for (int m = 0; m < 3; m++) {
            double rv = wall_amp[m];
            splat(s, X, Yt + m * D, rv * w);
            rv *= 0.45;
            for (int k = 1; k <= 6; k++, rv *= 0.62)
                splat(s, X, Yt + m * D + k * 0.2 / sp, rv * w);
        }
    }
    /* the tip (bevel / trocar point) scatters back at any angle */
    double At = 5.0 * fmax(V, 0.45);
    double sr = 0.22;
    int ti = (int)(tip.x / sp), tj = (int)(tip.y / sp), R = (int)ceil(3 * sr / sp);
    for (int j = tj - R; j <= tj + R; j++)
        for (int i = ti - R; i <= ti + R; i++) {
            if (i < 0 || j < 0 || i >= s->W || j >= s->H)
                continue;
            double dx = (i + 0.5) * sp - tip.x, dy = (j + 0.5) * sp - tip.y;
            size_t k = (size_t)j * s->W + i;
            s->w_re[k] += (float)(At * gauss(sqrt(dx * dx + dy * dy), sr) * s->T0[k]);
        }
}

static void draw_ice(cn_sim *s, const cn_truth *tr)
{
    if (!tr->ice_present)
        return;
    const sim_geom *g = &s->g;
    double sp = g->sp;
    uint64_t sd = sim_mix64(s->c.seed ^ 0x1CEBA11ULL);
    double bright = tr->phase == CN_PHASE_FREEZE ? 1.0 : 0.8;
    /* complete posterior shadow below the upper boundary, column by column */
    for (int i = 0; i < s->W; i++) {
        double x = (i + 0.5) * sp, yr;
        if (!sim_ice_upper_y(tr, x, &yr))
            continue;
        double Y = yr / sp;
        /* the first ~0.2 mm of ice still echoes (the rim band), then nothing passes */
        const double d0 = 0.2 / sp, d1 = 0.45 / sp;
        for (int j = (int)floor(Y); j < s->H; j++) {
            if (j < 0)
                continue;
            double dj = (j + 0.5) - Y; /* px below the rim */
            float f = dj < d0 ? 1.0f : dj > d1 ? 0.004f : (float)(1 - 0.996 * (dj - d0) / (d1 - d0));
            size_t k = (size_t)j * s->W + i;
            s->w_re[k] *= f;
            s->w_im[k] *= f;
        }
    }
    /* the bright rim on the transducer side: specular where it faces the beam, plus a
     * thin rough (speckled) band */
    double a = tr->ice_a_mm, b = tr->ice_b_mm;
    double ux = tr->needle_dir.x, uy = tr->needle_dir.y, vx = -uy, vy = ux;
    double cx = tr->ice_center_mm.x, cy = tr->ice_center_mm.y;
    double A = uy / a, B = vy / b, phi0 = atan2(B, A);
    double perim = SIM_PI * (a + b);
    int n = (int)(perim / (0.4 * sp)) + 8;
    double dphi = SIM_PI / n;
    for (int i = 0; i <= n; i++) {
        double phi = phi0 + 0.5 * SIM_PI + dphi * i;
        double ca = cos(phi), sa = sin(phi);
        double px = cx + a * ca * ux + b * sa * vx, py = cy + a * ca * uy + b * sa * vy;
        double nx = (ca / a) * ux + (sa / b) * vx, ny = (ca / a) * uy + (sa / b) * vy;
        double nn = sqrt(nx * nx + ny * ny);
        double facing = fmax(0, -ny / nn);
        double tx = -a * sa * ux + b * ca * vx, ty = -a * sa * uy + b * ca * vy;
        double ds = sqrt(tx * tx + ty * ty) * dphi; /* arc length of this step, mm */
        double rough = 0.7 + 0.3 * vnoise(sd, px / 0.9, 0.3);
        double w = 30.0 * bright * rough * (0.15 + 0.85 * facing) * facing * ds / sp;
        splat(s, px / sp, py / sp, w);
    }
    for (int i = 0; i < s->W; i++) {
        double x = (i + 0.5) * sp, yr;
        if (!sim_ice_upper_y(tr, x, &yr))
            continue;
        int j0 = (int)floor((yr - 0.25) / sp), j1 = (int)ceil((yr + 0.35) / sp);
        for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++) {
            double w = gauss((j + 0.5) * sp - (yr + 0.08), 0.1) * 4.0 * bright;
            size_t k = (size_t)j * s->W + i;
            s->w_re[k] += (float)(w * s->c_re[k] * s->T0[k]);
            s->w_im[k] += (float)(w * s->c_im[k] * s->T0[k]);
        }
    }
}

/* Separable PSF: axial (w -> t), then lateral with a per-row kernel (t -> w). */
__attribute__((target_clones("avx2", "default"))) static void convolve(cn_sim *s)
{
    const int W = s->W, H = s->H, R = s->ax_r;
    for (int y = 0; y < H; y++) {
        float *ore = s->t_re + (size_t)y * W, *oim = s->t_im + (size_t)y * W;
        memset(ore, 0, sizeof(float) * W);
        memset(oim, 0, sizeof(float) * W);
        for (int k = -R; k <= R; k++) {
            int yy = y + k;
            if (yy < 0)
                continue; /* nothing above the transducer */
            if (yy >= H)
                yy = 2 * H - 1 - yy;
            const float h = s->ax_k[k + R];
            const float *ire = s->w_re + (size_t)yy * W, *iim = s->w_im + (size_t)yy * W;
            for (int x = 0; x < W; x++) {
                ore[x] += h * ire[x];
                oim[x] += h * iim[x];
            }
        }
    }
    const int RM = s->lat_rmax, KW = 2 * RM + 1, EW = W + 2 * RM;
    float *er = s->row_ext, *ei = s->row_ext + EW;
    for (int y = 0; y < H; y++) {
        const float *ire = s->t_re + (size_t)y * W, *iim = s->t_im + (size_t)y * W;
        memcpy(er + RM, ire, sizeof(float) * W);
        memcpy(ei + RM, iim, sizeof(float) * W);
        for (int j = 0; j < RM; j++) { /* mirror: tissue continues past the edges */
            er[RM - 1 - j] = ire[j < W ? j : W - 1];
            ei[RM - 1 - j] = iim[j < W ? j : W - 1];
            er[RM + W + j] = ire[W - 1 - j >= 0 ? W - 1 - j : 0];
            ei[RM + W + j] = iim[W - 1 - j >= 0 ? W - 1 - j : 0];
        }
        const int r = s->lat_r[y];
        const float *h = s->lat_k + (size_t)s->row_lat[y] * KW + RM;
        float *ore = s->w_re + (size_t)y * W, *oim = s->w_im + (size_t)y * W;
        const float h0 = h[0];
        const float *cr = er + RM, *ci = ei + RM;
        for (int x = 0; x < W; x++) {
            ore[x] = h0 * cr[x];
            oim[x] = h0 * ci[x];
        }
        for (int k = 1; k <= r; k++) {
            const float hk = h[k];
            const float *ar = cr + k, *br = cr - k, *ai = ci + k, *bi = ci - k;
            for (int x = 0; x < W; x++) {
                ore[x] += hk * (ar[x] + br[x]);
                oim[x] += hk * (ai[x] + bi[x]);
            }
        }
    }
}

void sim_render_frame(cn_sim *s, const cn_truth *tr, double t, uint8_t *out)
{
    size_t n = (size_t)s->W * s->H;
    memcpy(s->w_re, s->P_re, n * sizeof(float));
    memcpy(s->w_im, s->P_im, n * sizeof(float));
    draw_artery(s, t);
    draw_needle(s, tr);
    draw_ice(s, tr);
    convolve(s);
    /* noise, envelope, log compression (mantissa table), TGC and gain per row */
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(s->c.seed ^ 0xE1EC7ULL) ^ sim_time_key(t));
    size_t off = (size_t)(cn_rng_next(&r) % s->noise_span);
    const float *nre = s->noise_re + off, *nim = s->noise_im + off;
    const float ls = s->log_scale;
    for (int y = 0; y < s->H; y++) {
        const float ro = s->row_off[y];
        size_t base = (size_t)y * s->W;
        for (int x = 0; x < s->W; x++) {
            size_t k = base + x;
            float re = s->w_re[k] + nre[k], im = s->w_im[k] + nim[k];
            float I = re * re + im * im + 1e-30f;
            uint32_t b;
            memcpy(&b, &I, sizeof b);
            float l2 = (float)((int)(b >> 23) - 127) + s->log2_lut[(b >> 11) & 4095u];
            float v = ls * l2 + ro;
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            out[k] = (uint8_t)(v + 0.5f);
        }
    }
}
