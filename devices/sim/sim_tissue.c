/*
 * sim_tissue.c - the simulated tissue: what the scanner would see if nothing moved.
 *
 * Builds, once per simulator, the diffuse echogenicity E, the coherent (specular)
 * echoes S and the two-way transmission of the static scene: skin, subcutaneous fat
 * with septa, fascia, striated muscle, the nerve's honeycomb (hyperechoic
 * epineurium around hypoechoic fascicles) and the artery. Texture comes from
 * seeded value-noise fields, so the same seed always gives the same patient.
 * Image formation (speckle, PSF, attenuation, log compression) is sim_render.c.
 */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ noise fields */

static double hash01(uint64_t seed, int64_t ix, int64_t iy)
{
    uint64_t h = sim_mix64(seed ^ sim_mix64((uint64_t)ix * 0x9E3779B1ULL ^ ((uint64_t)iy << 32)));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Smooth value noise in [-1, 1] with unit lattice spacing. */
double sim_vnoise(uint64_t seed, double x, double y)
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
        s += a * sim_vnoise(seed + (uint64_t)i * 7919, x, y);
        n += a;
        x *= 2.03;
        y *= 2.03;
        a *= 0.5;
    }
    return s / n;
}


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
            double m = 0.55 + 0.45 * sim_vnoise(sd, u / 1.3 + k->cx, k->cy);
            double w = win * m * sim_gauss(v, k->wid);
            size_t idx = (size_t)j * s->W + i;
            s->E0[idx] += (float)(k->ampE * w);
            s->S0[idx] += (float)(k->ampS * w);
        }
    }
}


/* What makes a naive needle detector fail on real frames, made static like the
 * tissue: bright interfaces like fascial planes (each over 40-100 % of the width,
 * most within a few degrees of the skin, some up to 12, curved and wavy, their
 * specular part strong in places and absent in others, over a speckled band), the transducer's
 * reverberation bands at the very top (with any interface), and a container wall
 * near the top with its reverberations at 2x and 3x its depth. Own random stream,
 * so the tissue of a seed is the same with or without them. */
static void add_clutter(cn_sim *s)
{
    const cn_sim_config *c = &s->c;
    const sim_geom *g = &s->g;
    const double sp = g->sp;
    if (c->interfaces <= 0 && !(c->wall_depth_mm > 0))
        return;
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0xC1077E4ULL));
    uint64_t sd = sim_mix64(c->seed ^ 0xB4ADULL);
    for (int k = 0; k < c->interfaces; k++) {
        /* A fascial plane / tissue boundary: roughly along the skin (most within a
         * few degrees, some up to 12), curved and wavy, its specular part strong in
         * places and gone in others, over a band of brighter speckled tissue. */
        double y0 = 3.0 + (c->depth_mm - 5.0) * cn_rng_uniform(&r);
        double u = 2 * cn_rng_uniform(&r) - 1;
        double tilt = tan(u * u * u * 12.0 * SIM_PI / 180);
        double bend = (2 * cn_rng_uniform(&r) - 1) * 2.0 / (0.25 * g->width_mm * g->width_mm);
        double span = g->width_mm * (0.4 + 0.6 * cn_rng_uniform(&r));
        double xa = (g->width_mm - span) * cn_rng_uniform(&r), xb = xa + span;
        double amp = 1.5 + 3.5 * cn_rng_uniform(&r);
        double band = 0.25 + 0.35 * cn_rng_uniform(&r); /* mm, the diffuse band's half width */
        double xm = 0.5 * (xa + xb);
        for (int i = 0; i < s->W; i++) {
            double x = (i + 0.5) * sp;
            double fade = sim_smoothstep(xa, xa + 1.5, x) * (1 - sim_smoothstep(xb - 1.5, xb, x));
            if (fade <= 0)
                continue;
            double m = fade * sim_smoothstep(-0.6, 0.6, sim_vnoise(sd + (uint64_t)k, x / 2.5, 0.5));
            double yc = y0 + tilt * (x - xm) + bend * (x - xm) * (x - xm) +
                        0.35 * sim_vnoise(sd + 16 + (uint64_t)k, x / 3.0, 0.2);
            int j0 = (int)((yc - 3 * band) / sp), j1 = (int)((yc + 3 * band) / sp) + 1;
            for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++) {
                double y = (j + 0.5) * sp;
                size_t idx = (size_t)j * s->W + i;
                s->S0[idx] += (float)(amp * m * sim_gauss(y - yc, 0.07));
                s->E0[idx] += (float)(0.8 * fade * sim_gauss(y - yc - band, band));
            }
        }
    }
    if (c->interfaces > 0) /* the transducer's own reverberation bands */
        for (int k = 1; k <= 3; k++) {
            double yk = 0.3 * k, a = 2.0 * pow(0.6, k - 1);
            for (int j = 0; j < s->H && (j + 0.5) * sp < yk + 0.4; j++) {
                double w = a * sim_gauss((j + 0.5) * sp - yk, 0.06);
                for (int i = 0; i < s->W; i++)
                    s->S0[(size_t)j * s->W + i] += (float)w;
            }
        }
    if (c->wall_depth_mm > 0) {
        double tilt = tan((2 * cn_rng_uniform(&r) - 1) * 2.0 * SIM_PI / 180);
        for (int rep = 1; rep <= 3; rep++) {
            double a = 12.0 * (rep == 1 ? 1.0 : rep == 2 ? 0.35 : 0.12);
            for (int i = 0; i < s->W; i++) {
                double x = (i + 0.5) * sp;
                double yc = rep * (c->wall_depth_mm + tilt * (x - 0.5 * g->width_mm));
                int j0 = (int)((yc - 0.5) / sp), j1 = (int)((yc + 0.5) / sp) + 1;
                for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++) {
                    double y = (j + 0.5) * sp;
                    s->S0[(size_t)j * s->W + i] += (float)(a * sim_gauss(y - yc, 0.08));
                }
            }
        }
    }
}

/* Static tissue: skin, fat lobules with septa, fascia, muscle, the nerve. */
void sim_build_tissue(cn_sim *s, float *alpha)
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
        ys[i] = (float)(c->skin_mm + 0.12 * sim_vnoise(sd + 1, x / 5.0, 0));
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
        q->fm = 0.3 + 0.7 * sim_smoothstep(-0.4, 0.4, fbm(sd + 6, x / 5.0, 0.2, 2));
        q->fw = 0.09 + 0.04 * sim_vnoise(sd + 7, x / 3, 0);
        q->y1 = f1_y + f1_slope * (x - g->nerve_c.x) + 0.6 * fbm(sd + 8, x / 8.0, 1.5, 2);
        q->y2 = f2_y + f2_slope * (x - g->nerve_c.x) + 0.9 * fbm(sd + 9, x / 10.0, 2.5, 2);
        q->m1 = 0.2 + 0.8 * sim_smoothstep(-0.3, 0.3, fbm(sd + 10, x / 6.0, 0, 2));
        q->m2 = 0.2 + 0.8 * sim_smoothstep(-0.3, 0.3, fbm(sd + 11, x / 6.0, 0, 2));
        for (int k = 0; k < n_long; k++) {
            q->sy[k] = sept_y[k] + sept_sl[k] * (x - 0.5 * g->width_mm) +
                       0.8 * fbm(sd + 20 + k, x / 6.0, 0.3, 2);
            q->sg[k] = sim_smoothstep(-0.15, 0.35, fbm(sd + 40 + k, x / 7.0, 0.7, 2));
            q->sw[k] = 0.06 + 0.03 * sim_vnoise(sd + 60 + k, x / 2, 0);
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
                S += 2.5 * sim_gauss(y - 0.06, 0.05); /* entrance echo */
            } else if (y < yf[i]) { /* subcutaneous fat: dark lobules, bright septa */
                E = 0.13 * (1 + 0.4 * tex);
                a *= 0.8;
                for (int k = 0; k < n_long; k++) {
                    double w = cq->sg[k] * sim_gauss(y - cq->sy[k], cq->sw[k]);
                    E += 0.9 * sept_a[k] * w;
                    S += 0.8 * sept_a[k] * w;
                }
                S += 1.0 * sim_gauss(y - ys[i], 0.06); /* dermis / fat interface */
            } else { /* muscle: heterogeneous, darker than fascia */
                E = 0.25 * (1 + 0.45 * fbm(sd + 4, x / 4.0, y / 2.5, 3)) * (1 + 0.2 * tex);
            }
            /* superficial (investing) fascia at the fat/muscle border, uneven */
            if (c->fat_mm > 0) {
                double ff = sim_gauss(y - yf[i], cq->fw) * cq->fm;
                E += 1.2 * ff;
                S += 2.0 * ff;
            }
            if (y > yf[i]) {
                double p1 = sim_gauss(y - cq->y1, 0.08) * cq->m1, p2 = sim_gauss(y - cq->y2, 0.1) * cq->m2;
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

    add_clutter(s);
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
bool sim_artery_at(const sim_geom *g, double x, double y, double ra, float *E, float *S)
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
    double w = sim_gauss(d - (ra + 0.5 * wt), 0.5 * wt);
    *E = (float)(*E + 1.5 * w);
    *S = (float)(*S + 2.2 * w * ny * ny);
    return false;
}

