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
        e += sim_gauss(k, sa) * sim_gauss(k, sa);
    for (int k = -s->ax_r; k <= s->ax_r; k++)
        s->ax_k[k + s->ax_r] = (float)(sim_gauss(k, sa) / sqrt(e));
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
            en += sim_gauss(k, sig[j]) * sim_gauss(k, sig[j]);
        for (int k = -R; k <= R; k++)
            s->lat_k[(size_t)j * kw + (k + s->lat_rmax)] = (float)(sim_gauss(k, sig[j]) / sqrt(en));
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

    sim_build_tissue(s, alpha);

    /* the artery at its mean radius, and blood attenuating far less than tissue */
    for (int j = 0; j < s->H; j++)
        for (int i = 0; i < s->W; i++) {
            size_t k = (size_t)j * s->W + i;
            float E = s->E0[k], S = s->S0[k];
            if (g->art_r > 0 && sim_artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, g->art_r, &E, &S))
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
                double w = sim_gauss(x - xe, 0.18);
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
                sim_artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, g->art_r, &E, &S);
            s->P_re[k] = s->T0[k] * (E * s->c_re[k] + S);
            s->P_im[k] = s->T0[k] * (E * s->c_im[k]);
        }

    int rc = make_kernels(s);
    if (rc != CN_OK)
        return rc;

    /* curvilinear probe: the fan of beams (the rest of the screen stays black) */
    if (g->curved) {
        s->fan = malloc(n);
        if (!s->fan)
            return CN_ENOMEM;
        for (int j = 0; j < s->H; j++)
            for (int i = 0; i < s->W; i++) {
                double x = (i + 0.5) * sp - g->apex.x, y = (j + 0.5) * sp - g->apex.y;
                double rr = sqrt(x * x + y * y), a = atan2(x, y);
                s->fan[(size_t)j * s->W + i] =
                    rr >= g->r_in && rr <= g->r_out && fabs(a) <= g->half_sector;
            }
    }

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
    free(s->fan);
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
            sim_artery_at(g, (i + 0.5) * sp, (j + 0.5) * sp, ra, &E, &S);
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
    const double sgn = d.x >= 0 ? 1.0 : -1.0; /* +1: enters from the left */
    const double adx = fabs(d.x);
    double rn = 0.5 * c->needle_diameter_mm;
    double hv = rn / adx;             /* vertical half-thickness of the shaft */
    double tn = d.y / d.x;
    double V = g->needle_vis;
    /* only the last needle_visible_mm of the shaft lie in the beam's plane (if set) */
    double vis_len = c->needle_visible_mm > 0 ? fmin(c->needle_visible_mm, L) : L;
    sim_v2 v0 = {tip.x - d.x * vis_len, tip.y - d.y * vis_len};
    /* columns the shaft covers: tissue inside it is replaced, tissue below is shadowed */
    double xa = fmin(v0.x, tip.x), xb = fmax(v0.x, tip.x);
    int i0 = (int)floor(fmax(xa, 0) / sp), i1 = (int)floor(fmin(xb, g->width_mm - 1e-9) / sp);
    for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < s->W; i++) {
        double x = (i + 0.5) * sp;
        if (x < xa || x > xb)
            continue;
        double yc = e.y + (x - e.x) * tn;
        /* The elevation beam is about as thick as the shaft: tissue beside the shaft
         * still echoes (dimmed), and the shadow below is partial, fading out over the
         * last half millimetre before the tip. */
        float shadow = (float)(1 - 0.3 * sim_smoothstep(0, 0.5, sgn * (tip.x - x)));
        int jt = (int)floor((yc - hv) / sp + 0.5), jb = (int)floor((yc + hv) / sp + 0.5);
        for (int j = jt < 0 ? 0 : jt; j < s->H; j++) {
            size_t k = (size_t)j * s->W + i;
            float f = j < jb ? 0.3f : shadow; /* inside the shaft : acoustic shadow below */
            s->w_re[k] *= f;
            s->w_im[k] *= f;
        }
    }
    /* specular echoes: the top wall, the back wall, and a reverberation comet tail */
    const double A = 30.0 * c->needle_gain;
    const double step = 0.5 * sp;
    uint64_t sd = sim_mix64(c->seed ^ 0xEED1EULL);
    /* start where the visible part enters the image */
    double s0 = L - vis_len;
    if (e.x + d.x * s0 < 0)
        s0 = -e.x / d.x;
    else if (e.x + d.x * s0 >= g->width_mm)
        s0 = (g->width_mm - 1e-9 - e.x) / d.x; /* from the right: the first point inside */
    for (double u = s0; u <= L; u += step) {
        double qx = e.x + d.x * u, qy = e.y + d.y * u;
        if (qx >= g->width_mm || qx < 0)
            break;
        double from_tip = L - u;
        double mod = 0.75 + 0.25 * sim_vnoise(sd, from_tip / 1.7, 0.5);
        double Vp = g->curved ? sim_needle_vis(g, d.x, d.y, qx, qy) : V;
        double w = A * Vp * mod * step * adx / sp; /* per column, independent of the angle */
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
    double Vt = g->curved ? sim_needle_vis(g, d.x, d.y, tip.x, tip.y) : V;
    double At = 5.0 * fmax(Vt, 0.45) * c->needle_gain;
    double sr = 0.22;
    int ti = (int)(tip.x / sp), tj = (int)(tip.y / sp), R = (int)ceil(3 * sr / sp);
    for (int j = tj - R; j <= tj + R; j++)
        for (int i = ti - R; i <= ti + R; i++) {
            if (i < 0 || j < 0 || i >= s->W || j >= s->H)
                continue;
            double dx = (i + 0.5) * sp - tip.x, dy = (j + 0.5) * sp - tip.y;
            size_t k = (size_t)j * s->W + i;
            s->w_re[k] += (float)(At * sim_gauss(sqrt(dx * dx + dy * dy), sr) * s->T0[k]);
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
        double rough = 0.7 + 0.3 * sim_vnoise(sd, px / 0.9, 0.3);
        double w = 30.0 * bright * rough * (0.15 + 0.85 * facing) * facing * ds / sp;
        splat(s, px / sp, py / sp, w);
    }
    for (int i = 0; i < s->W; i++) {
        double x = (i + 0.5) * sp, yr;
        if (!sim_ice_upper_y(tr, x, &yr))
            continue;
        int j0 = (int)floor((yr - 0.25) / sp), j1 = (int)ceil((yr + 0.35) / sp);
        for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < s->H; j++) {
            double w = sim_gauss((j + 0.5) * sp - (yr + 0.08), 0.1) * 4.0 * bright;
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
    if (s->fan) /* curvilinear: nothing is imaged outside the fan */
        for (size_t k = 0; k < n; k++)
            out[k] = s->fan[k] ? out[k] : 0;
}
