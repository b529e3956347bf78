/*
 * solver.c - the Pennes bioheat equation with phase change on one finite-volume
 * core: 1-D planar / cylindrical / spherical (for the analytic oracles) and 2-D
 * axisymmetric (r, z) about the probe axis (the live ice ball).
 *
 * Formulation. Enthalpy per volume H(T) (0 at the solidus) is the unknown:
 *   dH/dt = div(k grad T) + f_l [w rho_b c_b (T_a - T) + q_m]
 * T(H) is piecewise linear: frozen (slope 1/(rho c)_f), mushy T_sol..T_liq
 * (latent heat spread evenly; slope 0 for a single freezing temperature, which is
 * what the Stefan oracles need) and unfrozen. k and the perfusion switch f_l follow
 * the liquid fraction. Fluxes are exchanged through cell faces, so the scheme is
 * conservative and the energy account (stored = boundary + sources) closes to
 * round-off: cn_thermal_solver_energy reports the three terms.
 *
 * Time stepping. Explicit schemes are limited by the frozen diffusivity
 * (alpha_f ~ 1.1e-6 m^2/s: dt <= h^2/(4 alpha) ~ 14 ms at h = 0.25 mm, ~26 000 steps
 * for a 6-minute freeze of a 160 x 240 grid - seconds, not the 1 s budget). We use
 * backward Euler, which is unconditionally stable and monotone (no overshoot of the
 * phase-change plateau), with directional operator splitting: each step solves
 * the r-lines and then the z-lines implicitly (the order alternates step to step,
 * which cancels most of the first-order splitting error). Each line is a 1-D
 * nonlinear tridiagonal problem solved by Newton on H with Thomas' algorithm;
 * because T(H) is piecewise linear, a Newton step is exact within a segment, so we
 * stop a cell at the kink it would cross and iterate until no cell crosses (2-3
 * iterations; lagged k and f_l are the only approximations). The step is bounded
 * by accuracy only: the model uses dt_max = 1 s (a 6-minute 17G radius moves by
 * 0.3 % between dt 1 s and 0.25 s; dt 2 s still within 0.6 %), the oracle tests
 * use 0.05-0.5 s. With a single freezing temperature the partly frozen cell
 * conducts through a frozen layer and an unfrozen layer on either side of the
 * front (its T_f sits at the front) rather than through a mixed k, which removes
 * the classic first-order lag of enthalpy fronts (Neumann front -0.3 % at 0.25 mm,
 * docs/validation.md); a steady front still rests on a cell face (error < h).
 * With a mushy range (tissue) the front spans cells and the mixed k is physical.
 * Work is limited to a box around the disturbed region (|T - T_i| > 0.01 K, plus
 * a margin of a few diffusion lengths of one step) that grows with the ice, so
 * early steps are cheap and the far field is never touched. Cost: ~0.5 s of one
 * core for a 6-minute freeze on a 0.25 mm grid (cryonav bench thermal).
 * Live use (opts.live_split): a step shorter than dt_max (one video frame) solves
 * only one direction, catching it up to the new time; the other direction follows
 * on the next frame. After every pair of frames the state is exactly a split step;
 * in between, one direction lags by one frame interval (~33 ms, a splitting error
 * far below the grid's). Each frame then pays for half a step. Only for frames up to
 * CN_LIVE_SPLIT_MAX_S apart: the lag made the isotherms alternate frame to frame by an
 * amount that grows with the interval (0.135 mm at -20 C at 0.5 s frames).
 */
#include "thermal/thermal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver_internal.h"

/* ---------------------------------------------------------------- one line */

/* Probe-side face: flow into the cell for temperature tcell, conductance g (0 for
 * a flux or insulated face), constant part q (flux). */
static void probe_face(const line_end *e, double k, double *g, double *q)
{
    *g = 0;
    *q = 0;
    if (e->type == END_PROBE && e->bc) {
        const cn_thermal_bc *bc = e->bc;
        if (bc->kind == CN_BC_TEMP) {
            double km = e->k_mult > 0 ? e->k_mult : 1, fa = e->film_area > 0 ? e->film_area : e->area;
            double rfilm = bc->h_w_m2k > 0 ? 1.0 / (bc->h_w_m2k * fa) : 0;
            *g = 1.0 / (rfilm + e->d_in / (k * km * e->area));
            *q = *g * bc->temp_c;
        } else if (bc->kind == CN_BC_FLUX) {
            *q = bc->flux_w_m2 * (e->film_area > 0 ? e->film_area : e->area);
        }
    } else if (e->type == END_FIXED) {
        *g = e->area / (e->d_in / k + e->d_out / e->k_out);
        *q = *g * e->t_out;
    }
}

/* Solves n cells (indices s->idx, volumes lv, inner face areas la and distances
 * ld1/ld2 between cell m and m+1) implicitly over dt. */
void cn__solve_line(cn__line *s, int n, const line_end *left, const line_end *right, double dt,
                    bool source)
{
    if (n <= 0)
        return;
    const cn__mat *M = s->m;
    const int *idx = s->idx;
    const double *V = s->lv, *A = s->la, *d1 = s->ld1, *d2 = s->ld2;
    double *b = s->sb, *c = s->sc, *d = s->sd, *h0 = s->h0, *beta = s->beta;
    double *tl = s->tl, *kl = s->kl, *fl = s->fl, *g = s->g, *H = s->H;
    const double dk = M->ku - M->kf, hliq = M->hliq, inv_hliq = 1.0 / M->hliq;
    const double bf = 1.0 / M->rcf, bu = 1.0 / M->rcu, bm = M->cm_slope;
    const double perf = source ? M->perf : 0, qm = source ? M->qm : 0, ta = M->ta;
    const double inv_dt = 1.0 / dt, rkf = 1.0 / M->kf, rku = 1.0 / M->ku;
    for (int m = 0; m < n; m++)
        h0[m] = H[idx[m]];
    double gl = 0, ql = 0, gr = 0, qr = 0;
    bool clamped = true;
    for (int it = 0; it < 20 && clamped; it++) {
        /* state: temperature, liquid fraction, thermal resistivity; face conductances */
        for (int m = 0; m < n; m++) {
            double hm = H[idx[m]];
            if (hm <= 0) { /* frozen */
                tl[m] = M->tsol + hm * bf;
                fl[m] = 0;
                kl[m] = rkf;
            } else if (hm >= hliq) { /* unfrozen */
                tl[m] = M->tliq + (hm - hliq) * bu;
                fl[m] = 1;
                kl[m] = rku;
            } else { /* mushy */
                double f = hm * inv_hliq;
                tl[m] = M->tsol + hm * bm;
                fl[m] = f;
                kl[m] = 1.0 / (M->kf + f * dk);
            }
            if (m > 0)
                g[m - 1] = A[m - 1] / (d1[m - 1] * kl[m - 1] + d2[m - 1] * kl[m]);
        }
        /* A single freezing temperature puts the front inside the partly frozen
         * cell: its temperature T_f sits at the front, frozen material on the cold
         * side, unfrozen on the warm side. Conduct through those two layers instead
         * of a mixed conductivity (removes the front's first-order lag). */
        if (bm == 0) {
            for (int m = 1; m + 1 < n; m++) {
                double hm = H[idx[m]];
                if (!(hm > 0 && hm < hliq))
                    continue;
                double tf = M->tsol, phi = 1 - fl[m];
                double w = d2[m - 1] + d1[m];
                double rf = phi * w * rkf, ru = (1 - phi) * w * rku;
                if (tl[m - 1] < tf && tl[m + 1] > tf) { /* cold on the left */
                    g[m - 1] = A[m - 1] / (d1[m - 1] * kl[m - 1] + rf);
                    g[m] = A[m] / (ru + d2[m] * kl[m + 1]);
                } else if (tl[m + 1] < tf && tl[m - 1] > tf) { /* cold on the right */
                    g[m - 1] = A[m - 1] / (d1[m - 1] * kl[m - 1] + ru);
                    g[m] = A[m] / (rf + d2[m] * kl[m + 1]);
                }
            }
        }
        probe_face(left, 1.0 / kl[0], &gl, &ql);
        probe_face(right, 1.0 / kl[n - 1], &gr, &qr);
        /* residual, Newton slope on the side the cell is heading to, and the
         * forward sweep of Thomas' algorithm in the same pass (the Jacobian is
         * tridiagonal and column diagonally dominant: no pivoting needed) */
        for (int m = 0; m < n; m++) {
            double hm = H[idx[m]], t = tl[m];
            double flow, gs;
            if (m > 0) {
                flow = g[m - 1] * (tl[m - 1] - t);
                gs = g[m - 1];
            } else {
                flow = ql - gl * t;
                gs = gl;
            }
            if (m + 1 < n) {
                flow += g[m] * (tl[m + 1] - t);
                gs += g[m];
            } else {
                flow += qr - gr * t;
                gs += gr;
            }
            double fv = fl[m] * V[m];
            flow += fv * (perf * (ta - t) + qm);
            double F = (hm - h0[m]) * V[m] * inv_dt - flow;
            bool down = F > 0;
            double bt = (hm < 0 || (hm == 0 && down)) ? bf
                        : (hm > hliq || (hm == hliq && !down)) ? bu : bm;
            beta[m] = bt;
            double bb = V[m] * inv_dt + bt * (gs + fv * perf), dd = -F;
            if (m > 0) {
                c[m - 1] = -g[m - 1] * bt;
                double w = -g[m - 1] * beta[m - 1] * b[m - 1]; /* b holds 1/pivot */
                bb -= w * c[m - 1];
                dd -= w * d[m - 1];
            }
            b[m] = 1.0 / bb;
            d[m] = dd;
        }
        /* back substitution and update, stopping each cell at the first kink of
         * T(H) on its way: beyond it the linearisation was wrong */
        clamped = false;
        double next = 0;
        for (int m = n - 1; m >= 0; m--) {
            double dm = (m == n - 1 ? d[m] : d[m] - c[m] * next) * b[m];
            next = dm;
            double hm = H[idx[m]], hn = hm + dm;
            double lo = -INFINITY, hi = INFINITY;
            bool frozen_side = hm < 0 || (hm == 0 && beta[m] != bm);
            bool liquid_side = hm > hliq || (hm == hliq && beta[m] != bm);
            if (frozen_side)
                hi = 0;
            else if (liquid_side)
                lo = hliq;
            else {
                lo = 0;
                hi = hliq;
            }
            if (hn < lo || hn > hi) {
                hn = hn < lo ? lo : hi;
                /* a cell pinned at a kink it cannot leave sits on the exact
                 * solution there: a few passes settle its neighbours */
                if (hn != hm || it < 3)
                    clamped = true;
            }
            H[idx[m]] = hn;
        }
    }
    /* energy account with the conductances of the last iteration */
    double eb = 0, es = 0;
    for (int m = 0; m < n; m++) {
        double tm = cn__t_of_h(M, H[idx[m]]);
        s->T[idx[m]] = tm;
        if (m == 0)
            eb += ql - gl * tm;
        if (m == n - 1)
            eb += qr - gr * tm;
        es += fl[m] * V[m] * (perf * (ta - tm) + qm);
    }
    s->en->boundary_j += eb * dt;
    s->en->source_j += es * dt;
}

/* ---------------------------------------------------------------- sweeps */

static int margin_cells(const cn_thermal_solver *s, double dt)
{
    double au = s->mat.ku / s->mat.rcu;
    return 4 + (int)ceil(3 * sqrt(au * dt) / (s->o.h_mm * 1e-3));
}

static void sweep_r(cn_thermal_solver *s, double dt, int ihi, int jlo, int jhi)
{
    for (int j = jlo; j <= jhi; j++) {
        size_t row = (size_t)j * s->nr;
        unsigned char k0 = s->kind[row];
        int is = k0 == K_TISSUE ? 0 : s->n0;
        int ie = ihi + 1 < s->nr ? ihi + 1 : s->nr;
        int n = ie - is;
        if (n <= 0)
            continue;
        for (int m = 0; m < n; m++) {
            int i = is + m;
            s->ln.idx[m] = (int)(row + i);
            s->ln.lv[m] = s->vr[i] * s->dz[j];
            if (m + 1 < n) {
                s->ln.la[m] = s->ar[i + 1] * s->dz[j];
                s->ln.ld1[m] = s->rf[i + 1] - s->rc[i];
                s->ln.ld2[m] = s->rc[i + 1] - s->rf[i + 1];
            }
        }
        line_end L = {.type = END_NONE}, R = {.type = END_FIXED};
        if (k0 == K_ACTIVE) {
            L.type = END_PROBE;
            L.bc = &s->bc;
            L.area = s->ar[is] * s->dz[j];
            L.d_in = s->rc[is] - s->rf[is];
        }
        int il = ie - 1;
        R.area = s->ar[ie] * s->dz[j];
        R.d_in = s->rf[ie] - s->rc[il];
        if (ie == s->nr) {
            R.d_out = 0;
            R.t_out = s->mat.tinit;
            R.k_out = s->mat.ku;
        } else {
            R.d_out = s->rc[ie] - s->rf[ie];
            R.t_out = s->T[row + ie];
            R.k_out = s->mat.ku;
        }
        cn__solve_line(&s->ln, n, &L, &R, dt, true);
    }
}

static void sweep_z(cn_thermal_solver *s, double dt, int ihi, int jlo, int jhi)
{
    int ie = ihi + 1 < s->nr ? ihi + 1 : s->nr;
    for (int i = 0; i < ie; i++) {
        int js = jlo, je = jhi + 1;
        bool tip = false;
        if (i < s->n0 && s->probe_in && js <= s->jt) {
            js = s->jt;
            tip = true;
        }
        int n = je - js;
        if (n <= 0)
            continue;
        for (int m = 0; m < n; m++) {
            int j = js + m;
            s->ln.idx[m] = (int)((size_t)j * s->nr + i);
            s->ln.lv[m] = s->vr[i] * s->dz[j];
            if (m + 1 < n) {
                s->ln.la[m] = s->vr[i];
                s->ln.ld1[m] = s->zf[j + 1] - s->zc[j];
                s->ln.ld2[m] = s->zc[j + 1] - s->zf[j + 1];
            }
        }
        line_end L = {.type = END_FIXED, .area = s->vr[i], .t_out = s->mat.tinit, .k_out = s->mat.ku};
        line_end R = L;
        if (tip) {
            /* the flat tip face: active when the active segment reaches the tip */
            L.type = s->kind[(size_t)(js - 1) * s->nr + i] == K_ACTIVE ? END_PROBE : END_NONE;
            L.bc = &s->bc;
            L.d_in = s->zc[js] - s->zf[js];
        } else {
            L.d_in = s->zc[js] - s->zf[js];
            if (js > 0) {
                L.d_out = s->zf[js] - s->zc[js - 1];
                L.t_out = s->T[(size_t)(js - 1) * s->nr + i];
            }
        }
        R.d_in = s->zf[je] - s->zc[je - 1];
        if (je < s->nz) {
            R.d_out = s->zc[je] - s->zf[je];
            R.t_out = s->T[(size_t)je * s->nr + i];
        }
        cn__solve_line(&s->ln, n, &L, &R, dt, false);
    }
}

/* Probe cells carry the surface temperature so interpolation near the probe works. */
static void update_probe_cells(cn_thermal_solver *s)
{
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC || !s->probe_in)
        return;
    for (int j = 0; j < s->nz; j++) {
        size_t row = (size_t)j * s->nr;
        if (s->kind[row] == K_TISSUE)
            continue;
        double tt = s->T[row + s->n0];
        double tb = tt;
        if (s->kind[row] == K_ACTIVE && s->bc.kind == CN_BC_TEMP) {
            if (s->bc.h_w_m2k > 0) {
                double kk = s->mat.kf + cn__fl_of_h(&s->mat, s->H[row + s->n0]) * (s->mat.ku - s->mat.kf);
                double gk = kk / (s->rc[s->n0] - s->rf[s->n0]);
                tb = (s->bc.h_w_m2k * s->bc.temp_c + gk * tt) / (s->bc.h_w_m2k + gk);
            } else {
                tb = s->bc.temp_c;
            }
        }
        for (int i = 0; i < s->n0; i++)
            s->T[row + i] = tb;
    }
}

/* Recomputes the disturbed box and pads it by the margin. */
static void update_box(cn_thermal_solver *s, int margin)
{
    double tol = 1e-2 * s->mat.rcu; /* 0.01 K: the tail beyond acts as a reservoir at T_i */
    int ihi = s->n0, jlo = s->nz - 1, jhi = 0;
    int i1 = s->ihi + margin < s->nr - 1 ? s->ihi + margin : s->nr - 1;
    for (int j = s->jlo; j <= s->jhi; j++) {
        size_t row = (size_t)j * s->nr;
        for (int i = i1; i >= 0; i--) {
            if (s->kind[row + i] == K_TISSUE && fabs(s->H[row + i] - s->mat.hinit) > tol) {
                if (i > ihi)
                    ihi = i;
                if (j < jlo)
                    jlo = j;
                if (j > jhi)
                    jhi = j;
                break;
            }
        }
    }
    if (s->o.geometry == CN_GEOM_AXISYMMETRIC && s->probe_in) {
        /* always keep the probe's neighbourhood */
        int ja = (int)floor(((s->tip_z_mm - s->o.active_length_mm) * 1e-3 - s->zf[0]) /
                            (s->o.h_mm * 1e-3));
        if (ja < jlo)
            jlo = ja;
        if (s->jt > jhi)
            jhi = s->jt;
    } else if (s->o.geometry == CN_GEOM_AXISYMMETRIC) {
        if (jlo > jhi) { /* nothing disturbed: an empty box around the old tip */
            jlo = jhi = s->jt < s->nz ? s->jt : s->nz - 1;
        }
    } else {
        jlo = 0;
        jhi = 0;
    }
    ihi += margin;
    jlo -= margin;
    jhi += margin;
    s->ihi = ihi < s->nr - 1 ? ihi : s->nr - 1;
    s->jlo = jlo > 0 ? jlo : 0;
    s->jhi = jhi < s->nz - 1 ? jhi : s->nz - 1;
}

static void step_once(cn_thermal_solver *s, double dt)
{
    int margin = margin_cells(s, dt);
    /* the box from the last step, padded for what this step can reach */
    int ihi = s->ihi + margin < s->nr - 1 ? s->ihi + margin : s->nr - 1;
    int jlo = s->jlo - margin > 0 ? s->jlo - margin : 0;
    int jhi = s->jhi + margin < s->nz - 1 ? s->jhi + margin : s->nz - 1;
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC) {
        sweep_r(s, dt, ihi, 0, 0);
        s->t_r = s->t_z = s->t + dt;
    } else if (s->o.live_split && dt < s->o.dt_max_s && dt <= CN_LIVE_SPLIT_MAX_S) {
        /* live: one direction per call, each catching up to the new time, so a
         * frame pays for half a step; the lagging direction is one frame behind
         * (a splitting error of the order of the frame interval) */
        double tn = s->t + dt;
        if (s->t_r <= s->t_z) {
            sweep_r(s, tn - s->t_r, ihi, jlo, jhi);
            s->t_r = tn;
        } else {
            sweep_z(s, tn - s->t_z, ihi, jlo, jhi);
            s->t_z = tn;
        }
    } else {
        /* both directions; bring a lagging one (after live steps) up to date */
        double tn = s->t + dt;
        if (s->parity == 0) {
            sweep_r(s, tn - s->t_r, ihi, jlo, jhi);
            sweep_z(s, tn - s->t_z, ihi, jlo, jhi);
        } else {
            sweep_z(s, tn - s->t_z, ihi, jlo, jhi);
            sweep_r(s, tn - s->t_r, ihi, jlo, jhi);
        }
        s->parity ^= 1;
        s->t_r = s->t_z = tn;
    }
    s->ihi = ihi;
    s->jlo = jlo;
    s->jhi = jhi;
    update_box(s, 0);
    update_probe_cells(s);
    s->t += dt;
}

int cn_thermal_solver_set_probe(cn_thermal_solver *s, bool in, double tip_z_mm)
{
    if (!s || !isfinite(tip_z_mm))
        return CN_EINVAL;
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC)
        return CN_EUNSUPPORTED;
    double h = s->o.h_mm;
    if (in && (tip_z_mm - s->o.active_length_mm < s->zf[0] * 1e3 + 2 * h ||
               tip_z_mm > s->zf[s->nz] * 1e3 - 2 * h))
        return CN_ERANGE;
    double tip = tip_z_mm * 1e-3, active = s->o.active_length_mm * 1e-3;
    for (int j = 0; j < s->nz; j++) {
        size_t row = (size_t)j * s->nr;
        unsigned char k = K_TISSUE;
        if (in && s->zc[j] <= tip)
            k = s->zc[j] >= tip - active ? K_ACTIVE : K_INSULATED;
        for (int i = 0; i < s->n0; i++) {
            unsigned char old = s->kind[row + i];
            if (old == k)
                continue;
            double v = s->vr[i] * s->dz[j];
            if (old == K_TISSUE) {
                /* tissue taken by the probe: its heat leaves with it */
                s->en.boundary_j -= (s->H[row + i] - s->mat.hinit) * v;
            } else if (k == K_TISSUE) {
                /* the probe leaves its track: tissue (fluid) at the temperature of
                 * the tissue next to it, which the account books as exchanged */
                s->H[row + i] = s->H[row + s->n0];
                s->T[row + i] = cn__t_of_h(&s->mat, s->H[row + i]);
                s->en.boundary_j += (s->H[row + i] - s->mat.hinit) * v;
            }
            s->kind[row + i] = k;
        }
    }
    s->probe_in = in;
    s->tip_z_mm = tip_z_mm;
    int jt = 0;
    while (jt < s->nz && s->zc[jt] <= tip)
        jt++;
    s->jt = jt;
    update_box(s, 4);
    update_probe_cells(s);
    return CN_OK;
}

int cn_thermal_solver_step(cn_thermal_solver *s, double dt_s)
{
    if (!s || !isfinite(dt_s) || dt_s < 0 || dt_s > 1e6)
        return CN_EINVAL;
    if (dt_s == 0)
        return CN_OK;
    int n = (int)ceil(dt_s / s->o.dt_max_s - 1e-9);
    if (n < 1)
        n = 1;
    double dt = dt_s / n;
    for (int k = 0; k < n; k++)
        step_once(s, dt);
    return CN_OK;
}

double cn_thermal_solver_time_s(const cn_thermal_solver *s) { return s ? s->t : NAN; }

int cn_thermal_solver_cells(const cn_thermal_solver *s, int *nr, int *nz)
{
    if (nr)
        *nr = s->nr;
    if (nz)
        *nz = s->nz;
    return s->nr * s->nz;
}

