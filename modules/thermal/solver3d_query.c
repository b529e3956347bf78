/*
 * solver3d_query.c - reading the 3-D grid (temperature anywhere: trilinear, with
 * the cylinder's log profile next to the probe), filling it from an axisymmetric
 * field, the energy account, the extent of an isotherm along a direction, and
 * copying a field into a grid placed elsewhere (regridding).
 */
#include "solver_internal.h"

#include <math.h>
#include <string.h>

/* Trilinear interpolation of the cell temperatures. */
static double trilinear(const cn_thermal_grid *g, cn_vec3 p)
{
    double h = g->o.h_mm;
    double f[3] = {p.x / h - g->o.lo[0], p.y / h - g->o.lo[1], p.z / h - g->o.lo[2]};
    const int n[3] = {g->nx, g->ny, g->nz};
    int i0[3];
    double w[3];
    for (int a = 0; a < 3; a++) {
        if (f[a] < -0.5 || f[a] > n[a] - 0.5)
            return g->mat.tinit; /* outside the domain: undisturbed */
        double c = f[a] < 0 ? 0 : f[a] > n[a] - 1 ? n[a] - 1 : f[a];
        i0[a] = (int)floor(c);
        if (i0[a] > n[a] - 2)
            i0[a] = n[a] - 2;
        w[a] = c - i0[a];
    }
    double t = 0;
    for (int q = 0; q < 8; q++) {
        int di = q & 1, dj = (q >> 1) & 1, dk = (q >> 2) & 1;
        double wt = (di ? w[0] : 1 - w[0]) * (dj ? w[1] : 1 - w[1]) * (dk ? w[2] : 1 - w[2]);
        if (wt != 0)
            t += wt * g->T[cn__cidx(g, i0[0] + di, i0[1] + dj, i0[2] + dk)];
    }
    return t;
}

/* The temperature of the cell containing p (body temperature outside). */
static double cell_t(const cn_thermal_grid *g, cn_vec3 p)
{
    double h = g->o.h_mm;
    int i = (int)lround(p.x / h) - g->o.lo[0], j = (int)lround(p.y / h) - g->o.lo[1],
        k = (int)lround(p.z / h) - g->o.lo[2];
    if (i < 0 || j < 0 || k < 0 || i >= g->nx || j >= g->ny || k >= g->nz)
        return g->mat.tinit;
    return g->T[cn__cidx(g, i, j, k)];
}

double cn_thermal_grid_temp_at(const cn_thermal_grid *g, cn_vec3 p)
{
    if (!g || !isfinite(p.x) || !isfinite(p.y) || !isfinite(p.z))
        return NAN;
    if (g->has_probe && g->bc.kind == CN_BC_TEMP) {
        /* near the active segment: the log profile of a cylinder between the
         * surface (r0) and the grid 1.5 cells out along the same radius */
        const cn_thermal_probe_geom *q = &g->probe;
        cn_vec3 d = cn_vec3_sub(p, q->tip_mm);
        double s = -cn_vec3_dot(d, q->axis); /* distance behind the tip */
        cn_vec3 radial = cn_vec3_add(d, cn_vec3_scale(q->axis, s));
        double rho = cn_vec3_norm(radial), href = g->rho_b + 1.0 * g->o.h_mm;
        if (s >= 0 && s <= q->active_mm && rho < href) {
            double ts = g->bc.temp_c;
            if (g->bc.h_w_m2k > 0) /* Robin: the surface value the column cell carries */
                ts = cell_t(g, cn_vec3_sub(p, radial));
            if (rho <= q->r0_mm)
                return ts;
            cn_vec3 u = rho > 1e-9 ? cn_vec3_scale(radial, 1 / rho)
                                   : (cn_vec3){fabs(q->axis.x) < 0.9 ? 1 : 0, fabs(q->axis.x) < 0.9 ? 0 : 1, 0};
            cn_vec3 pr = cn_vec3_add(cn_vec3_sub(p, radial), cn_vec3_scale(u, href));
            double tr = trilinear(g, pr);
            return ts + (tr - ts) * log(rho / q->r0_mm) / log(href / q->r0_mm);
        }
    }
    return trilinear(g, p);
}

/* The axisymmetric field's enthalpy at (r, z), bilinear between cell centres. */
static double axi_h_at(const cn_thermal_solver *s, double r_mm, double z_mm)
{
    double r = fabs(r_mm) * 1e-3, z = z_mm * 1e-3;
    if (r >= s->rc[s->nr - 1] || z <= s->zc[0] || z >= s->zc[s->nz - 1])
        return s->mat.hinit;
    int i = 0;
    while (i + 2 < s->nr && s->rc[i + 1] <= r)
        i++;
    if (r < s->rc[0])
        i = 0;
    double wr = (r - s->rc[i]) / (s->rc[i + 1] - s->rc[i]);
    wr = wr < 0 ? 0 : wr > 1 ? 1 : wr;
    double hz = s->o.h_mm * 1e-3;
    int j = (int)((z - s->zc[0]) / hz);
    if (j > s->nz - 2)
        j = s->nz - 2;
    double wz = (z - s->zc[j]) / hz;
    size_t r0 = (size_t)j * s->nr, r1 = (size_t)(j + 1) * s->nr;
    const double *H = s->H;
    return (1 - wz) * ((1 - wr) * H[r0 + i] + wr * H[r0 + i + 1]) +
           wz * ((1 - wr) * H[r1 + i] + wr * H[r1 + i + 1]);
}

int cn_thermal_grid_fill_from(cn_thermal_grid *g, const cn_thermal_solver *s,
                              const cn_mat4 *grid_to_axi)
{
    if (!g || !s || !grid_to_axi || s->o.geometry != CN_GEOM_AXISYMMETRIC)
        return CN_EINVAL;
    if (s->probe_in)
        return CN_EINVAL; /* withdraw the axisymmetric probe first: its cells hold no tissue */
    int lo[3] = {g->nx, g->ny, g->nz}, hi[3] = {-1, -1, -1};
    double tol = 1e-2 * g->mat.rcu;
    for (int k = 0; k < g->nz; k++)
        for (int j = 0; j < g->ny; j++)
            for (int i = 0; i < g->nx; i++) {
                size_t c = cn__cidx(g, i, j, k);
                if (g->kind[c] != K3_TISSUE)
                    continue;
                cn_vec3 q = cn_mat4_apply_point(grid_to_axi, cn__centre(g, i, j, k));
                double hh = axi_h_at(s, hypot(q.x, q.y), q.z);
                g->H[c] = hh;
                g->T[c] = cn__t_of_h(&g->mat, hh);
                if (fabs(hh - g->mat.hinit) > tol) {
                    int p3[3] = {i, j, k};
                    for (int a = 0; a < 3; a++) {
                        lo[a] = p3[a] < lo[a] ? p3[a] : lo[a];
                        hi[a] = p3[a] > hi[a] ? p3[a] : hi[a];
                    }
                }
            }
    for (int a = 0; a < 3; a++)
        if (hi[a] >= lo[a]) {
            g->lo[a] = g->lo[a] < lo[a] ? g->lo[a] : lo[a];
            g->hi[a] = g->hi[a] > hi[a] ? g->hi[a] : hi[a];
        }
    g->stored0 = cn__grid_stored(g);
    memset(&g->en, 0, sizeof g->en);
    return CN_OK;
}

void cn_thermal_grid_energy(const cn_thermal_grid *g, cn_thermal_energy *e)
{
    *e = g->en;
    e->stored_j = cn__grid_stored(g) - g->stored0;
}

double cn_thermal_grid_min_dot(const cn_thermal_grid *g, double temp_c, cn_vec3 n)
{
    double best = INFINITY;
    if (!g)
        return best;
    double half = 0.5 * g->o.h_mm * (fabs(n.x) + fabs(n.y) + fabs(n.z));
    for (int k = g->lo[2]; k <= g->hi[2]; k++)
        for (int j = g->lo[1]; j <= g->hi[1]; j++)
            for (int i = g->lo[0]; i <= g->hi[0]; i++) {
                size_t c = cn__cidx(g, i, j, k);
                if (g->kind[c] != K3_TISSUE || g->T[c] > temp_c)
                    continue;
                double d = cn_vec3_dot(n, cn__centre(g, i, j, k)) - half;
                if (d < best)
                    best = d;
            }
    return best;
}

bool cn_thermal_grid_near_edge(const cn_thermal_grid *g, int margin)
{
    const int n[3] = {g->nx, g->ny, g->nz};
    double tol = 0.05 * g->mat.rcu; /* 0.05 K of disturbance reaching the edge */
    for (int a = 0; a < 3; a++)
        if (g->lo[a] <= margin || g->hi[a] >= n[a] - 1 - margin) {
            /* the box reaches the edge: is the field there really disturbed? */
            for (int k = 0; k < g->nz; k++)
                for (int j = 0; j < g->ny; j++)
                    for (int i = 0; i < g->nx; i++) {
                        int q[3] = {i, j, k};
                        if (q[a] > margin && q[a] < n[a] - 1 - margin)
                            continue;
                        size_t c = cn__cidx(g, i, j, k);
                        if (fabs(g->H[c] - g->mat.hinit) > tol)
                            return true;
                    }
        }
    return false;
}

int cn_thermal_grid_copy_into(const cn_thermal_grid *src, cn_thermal_grid *dst)
{
    if (!src || !dst || src->o.h_mm != dst->o.h_mm)
        return CN_EINVAL;
    for (int k = 0; k < src->nz; k++)
        for (int j = 0; j < src->ny; j++)
            for (int i = 0; i < src->nx; i++) {
                int a = i + src->o.lo[0] - dst->o.lo[0], b = j + src->o.lo[1] - dst->o.lo[1],
                    c = k + src->o.lo[2] - dst->o.lo[2];
                if (a < 0 || b < 0 || c < 0 || a >= dst->nx || b >= dst->ny || c >= dst->nz)
                    continue;
                size_t s = cn__cidx(src, i, j, k), d = cn__cidx(dst, a, b, c);
                dst->kind[d] = src->kind[s];
                dst->H[d] = src->H[s];
                dst->T[d] = src->T[s];
            }
    dst->bc = src->bc;
    dst->has_probe = src->has_probe;
    dst->probe = src->probe;
    dst->dom = src->dom;
    dst->well_mult = src->well_mult;
    dst->cosd = src->cosd;
    dst->rho_b = src->rho_b;
    dst->n_faces = src->n_faces;
    dst->tip_mult = src->tip_mult;
    dst->t = src->t;
    memcpy(dst->tdir, src->tdir, sizeof dst->tdir);
    dst->next_dir = src->next_dir;
    dst->parity = src->parity;
    for (int a = 0; a < 3; a++) {
        int off = src->o.lo[a] - dst->o.lo[a];
        int n = a == 0 ? dst->nx : a == 1 ? dst->ny : dst->nz;
        dst->lo[a] = src->lo[a] + off < 0 ? 0 : src->lo[a] + off;
        dst->hi[a] = src->hi[a] + off > n - 1 ? n - 1 : src->hi[a] + off;
    }
    dst->stored0 = cn__grid_stored(dst) - (cn__grid_stored(src) - src->stored0);
    dst->en = src->en;
    return CN_OK;
}

void cn_thermal_grid_box(const cn_thermal_grid *g, int lo[3], int hi[3])
{
    for (int a = 0; a < 3; a++) {
        lo[a] = g->lo[a] + g->o.lo[a];
        hi[a] = g->hi[a] + g->o.lo[a];
    }
}

const cn_thermal_grid_opts *cn_thermal_grid_get_opts(const cn_thermal_grid *g) { return &g->o; }
