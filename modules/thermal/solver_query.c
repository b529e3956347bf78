/*
 * solver_query.c - reading the solver's field: temperature anywhere (bilinear
 * between cell centres, direct indexing on the uniform part of the grid), 1-D
 * isotherm positions and the enthalpy front, the energy account, and isotherm
 * distances along rays (how outlines, radii and image curves are found).
 */
#include "solver_internal.h"

#include <math.h>

/* ---------------------------------------------------------------- queries */

static int bracket(const double *c, int n, double x, double *w)
{
    if (x <= c[0]) {
        *w = 0;
        return 0;
    }
    if (x >= c[n - 1]) {
        *w = 1;
        return n > 1 ? n - 2 : 0;
    }
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (c[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    *w = (x - c[lo]) / (c[hi] - c[lo]);
    return lo;
}

double cn_thermal_solver_wall_temp_c(const cn_thermal_solver *s)
{
    if (!s || s->n0 < 1 || s->n0 >= s->nr)
        return NAN;
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC)
        return s->T[s->n0];
    if (!s->probe_in)
        return NAN;
    double sum = 0;
    int n = 0;
    for (int j = 0; j < s->nz; j++) {
        const size_t row = (size_t)j * s->nr;
        if (s->kind[row] == K_ACTIVE) {
            sum += s->T[row + s->n0];
            n++;
        }
    }
    return n > 0 ? sum / n : NAN;
}

double cn_thermal_solver_temp_at(const cn_thermal_solver *s, double r_mm, double z_mm)
{
    if (!s || !isfinite(r_mm) || !isfinite(z_mm))
        return NAN;
    double r = fabs(r_mm) * 1e-3, z = z_mm * 1e-3;
    if (r > s->rf[s->nr])
        return s->mat.tinit;
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC) {
        if (r < s->rf[s->n0])
            return s->bc.kind == CN_BC_TEMP ? s->bc.temp_c : s->T[s->n0];
        double w;
        int i = bracket(s->rc + s->n0, s->nr - s->n0, r, &w) + s->n0;
        if (s->nr - s->n0 < 2)
            return s->T[i];
        return s->T[i] * (1 - w) + s->T[i + 1] * w;
    }
    if (z < s->zf[0] || z > s->zf[s->nz])
        return s->mat.tinit;
    double wr, wz, h = s->o.h_mm * 1e-3;
    int i, j;
    /* uniform spacing beyond the probe radius and along z: index directly */
    if (r >= s->rc[s->n0] && r < s->rc[s->nr - 1]) {
        i = s->n0 + (int)((r - s->rc[s->n0]) / h);
        if (i > s->nr - 2)
            i = s->nr - 2;
        wr = (r - s->rc[i]) / (s->rc[i + 1] - s->rc[i]);
    } else {
        i = bracket(s->rc, s->nr, r, &wr);
    }
    if (z > s->zc[0] && z < s->zc[s->nz - 1]) {
        j = (int)((z - s->zc[0]) / h);
        if (j > s->nz - 2)
            j = s->nz - 2;
        wz = (z - s->zc[j]) / h;
    } else {
        j = bracket(s->zc, s->nz, z, &wz);
    }
    const double *T = s->T;
    size_t r0 = (size_t)j * s->nr, r1 = (size_t)(j + 1) * s->nr;
    double t00 = T[r0 + i], t10 = T[r0 + i + 1], t01 = T[r1 + i], t11 = T[r1 + i + 1];
    return (1 - wz) * ((1 - wr) * t00 + wr * t10) + wz * ((1 - wr) * t01 + wr * t11);
}

double cn_thermal_solver_isotherm_1d(const cn_thermal_solver *s, double temp_c)
{
    if (!s || !isfinite(temp_c))
        return NAN;
    /* scan outward from the boundary: positions and temperatures */
    double xp, tp;
    int i = s->n0;
    if (s->bc.kind == CN_BC_TEMP && s->bc.h_w_m2k == 0) {
        xp = s->rf[s->n0];
        tp = s->bc.temp_c;
    } else {
        xp = s->rc[i];
        tp = s->T[i];
        i++;
    }
    if (tp > temp_c)
        return NAN;
    for (; i < s->nr; i++) {
        double x = s->rc[i], t = s->T[i];
        if (t > temp_c) {
            double w = (temp_c - tp) / (t - tp);
            return (xp + w * (x - xp)) * 1e3;
        }
        xp = x;
        tp = t;
    }
    return NAN;
}

double cn_thermal_solver_front_1d(const cn_thermal_solver *s)
{
    if (!s)
        return NAN;
    double frozen = 0;
    for (int i = s->n0; i < s->nr; i++)
        frozen += (1 - cn__fl_of_h(&s->mat, s->H[i])) * s->vr[i];
    double a = s->rf[s->n0];
    switch (s->o.geometry) {
    case CN_GEOM_PLANAR: return (a + frozen) * 1e3;
    case CN_GEOM_SPHERICAL: return cbrt(a * a * a + 3 * frozen) * 1e3;
    default: return sqrt(a * a + 2 * frozen) * 1e3;
    }
}

void cn_thermal_solver_energy(const cn_thermal_solver *s, cn_thermal_energy *e)
{
    double stored = 0;
    for (int j = 0; j < s->nz; j++)
        for (int i = 0; i < s->nr; i++) {
            size_t c = (size_t)j * s->nr + i;
            if (s->kind[c] == K_TISSUE)
                stored += (s->H[c] - s->mat.hinit) * s->vr[i] * s->dz[j];
        }
    *e = s->en;
    e->stored_j = stored;
}

double cn_thermal_solver_ray_isotherm(const cn_thermal_solver *s, double temp_c, double r_c_mm,
                                      double z_c_mm, double theta_rad, double max_mm)
{
    if (!s || !isfinite(temp_c) || !isfinite(theta_rad) || !isfinite(max_mm) || max_mm <= 0)
        return 0;
    double dr = sin(theta_rad), dzz = cos(theta_rad);
    double step = 0.5 * s->o.h_mm;
    int n = (int)(max_mm / step);
    double last_in = -1;
    for (int k = 0; k <= n; k++) {
        double d = k * step;
        double t = cn_thermal_solver_temp_at(s, r_c_mm + d * dr, z_c_mm + d * dzz);
        if (t <= temp_c)
            last_in = d;
        else if (last_in >= 0 && d > last_in + 3.0)
            break; /* the cold region is contiguous from the centre: nothing more out here */
    }
    if (last_in < 0)
        return 0;
    double lo = last_in, hi = last_in + step;
    for (int k = 0; k < 20; k++) {
        double mid = 0.5 * (lo + hi);
        double t = cn_thermal_solver_temp_at(s, r_c_mm + mid * dr, z_c_mm + mid * dzz);
        if (t <= temp_c)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double cn_thermal_solver_min_rz(const cn_thermal_solver *s, double temp_c, double a_r, double a_z)
{
    double best = INFINITY;
    if (!s || s->o.geometry != CN_GEOM_AXISYMMETRIC || !isfinite(temp_c))
        return best;
    a_r = fabs(a_r);
    double h = s->o.h_mm, half = 0.5 * h * (fabs(a_z) + a_r);
    for (int j = s->jlo; j <= s->jhi; j++) {
        size_t row = (size_t)j * s->nr;
        for (int i = 0; i <= s->ihi && i < s->nr; i++) {
            if (s->kind[row + i] != K_TISSUE || s->T[row + i] > temp_c)
                continue;
            double v = a_z * s->zc[j] * 1e3 - a_r * s->rc[i] * 1e3 - half;
            if (v < best)
                best = v;
        }
    }
    return best;
}

void cn_thermal_solver_extent(const cn_thermal_solver *s, double *r_mm, double *z0_mm, double *z1_mm)
{
    *r_mm = s->rf[s->ihi + 1 < s->nr ? s->ihi + 1 : s->nr] * 1e3;
    *z0_mm = s->zf[s->jlo] * 1e3;
    *z1_mm = s->zf[s->jhi + 1 < s->nz ? s->jhi + 1 : s->nz] * 1e3;
}

void cn_thermal_solver_ray_isotherms(const cn_thermal_solver *s, const double *temps, int n,
                                     double r_c_mm, double z_c_mm, double theta_rad,
                                     double max_mm, double *out)
{
    for (int k = 0; k < n; k++)
        out[k] = 0;
    if (!s || n <= 0 || !isfinite(theta_rad) || !(max_mm > 0))
        return;
    double warm = temps[0];
    for (int k = 1; k < n; k++)
        warm = fmax(warm, temps[k]);
    double dr = sin(theta_rad), dzz = cos(theta_rad), step = 0.5 * s->o.h_mm;
    int ns = (int)(max_mm / step);
    double tprev = NAN, last_cold = -1;
    /* The march stops 3 mm past the last cold it saw (or 3 mm out, none seen): past
     * the ice nothing is cold again. Not so around a heated probe (active thaw): it
     * melts the ice from inside, and the frozen ring lies beyond a warm core that
     * grows past 3 mm (3.4-5.7 mm for the 2.4 mm probe: the HUD lost a ring out to
     * 11.6 mm for 260 s, thermal audit F6). With the probe warmer than the warmest
     * isotherm, the first cold is looked for up to the disturbed region's edge. */
    double first_cold_within = 3.0;
    if (s->probe_in && s->bc.kind == CN_BC_TEMP && s->bc.temp_c > warm) {
        double rx, z0, z1;
        cn_thermal_solver_extent(s, &rx, &z0, &z1);
        first_cold_within =
            fmax(3.0, hypot(rx + fabs(r_c_mm), fmax(fabs(z0 - z_c_mm), fabs(z1 - z_c_mm))));
    }
    for (int i = 0; i <= ns; i++) {
        double d = i * step;
        double t = cn_thermal_solver_temp_at(s, r_c_mm + d * dr, z_c_mm + d * dzz);
        for (int k = 0; k < n; k++)
            if (i > 0 && tprev <= temps[k] && t > temps[k]) /* a crossing: interpolate */
                out[k] = d - step + step * (temps[k] - tprev) / (t - tprev);
            else if (t <= temps[k] && i == ns)
                out[k] = d;
        if (t <= warm)
            last_cold = d;
        else if (last_cold >= 0 ? d > last_cold + 3.0 : d > first_cold_within)
            break;
        tprev = t;
    }
}
