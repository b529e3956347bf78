/*
 * solver3d.c - the bioheat equation with phase change on a uniform 3-D grid: the
 * one cold field of several freezes at different spots (a reposition).
 *
 * Why 3-D and not the axisymmetric solver: a second freeze beside the first ice
 * ball breaks the symmetry about any one axis, and the equation is nonlinear
 * (latent heat, k and perfusion switch with the phase), so two axisymmetric
 * fields cannot be superposed: tissue already frozen by the first freeze needs no
 * latent heat the second time, which is exactly why a reposition at 5 mm joins
 * into one ball sooner than two separate balls would suggest.
 *
 * The scheme is the axisymmetric one in three directions: enthalpy per volume as
 * the unknown, backward Euler with directional splitting (x, y, z lines solved
 * implicitly by cn__solve_line, the order rotating step to step; live use solves
 * one direction per call), work limited to a box around the disturbed region.
 *
 * The probe: the grid is kept coarse (cells about 1.4 probe radii: ~1 mm for a
 * 17G needle, a few thousand to a few ten thousand cells in the box, a few ms a
 * step) so a probe is one column of cells wide. Its cells hold the boundary
 * condition and the faces between them and the tissue carry Peaceman's well
 * factor: in a 5-point cross-section a one-cell Dirichlet column behaves like a
 * cylinder of radius h exp(-pi/2) = 0.21 h, so multiplying its lateral face
 * conductance by (pi/2) / ln(h / r0) gives the far field of the true radius r0
 * (Peaceman 1978; the same correction reservoir simulators use for wells). A
 * probe not parallel to a grid axis is rasterised into the nearest cells along
 * its dominant axis, its factor scaled by the length each layer stands for. Near
 * the probe, temperatures are read on the log profile between the surface and
 * the grid (the field a single cylinder would have there), so the -40 C line at
 * 1-2 mm from a needle is not a linear interpolation across one cell.
 */
#include "solver_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


void cn_thermal_grid_opts_default(cn_thermal_grid_opts *o)
{
    memset(o, 0, sizeof *o);
    cn_tissue_standard(&o->tissue);
    o->h_mm = 1.0;
    o->dt_max_s = 1.0;
    for (int a = 0; a < 3; a++) {
        o->lo[a] = -20;
        o->n[a] = 41;
    }
}

cn_thermal_grid *cn_thermal_grid_new(const cn_thermal_grid_opts *o, char *err, size_t err_len)
{
    if (!o || !(o->h_mm >= 0.1 && o->h_mm <= 5) || !(o->dt_max_s > 0 && o->dt_max_s <= 60)) {
        cn_errf(err, err_len, "thermal grid", "h_mm must be in [0.1, 5] and dt_max_s in (0, 60]");
        return NULL;
    }
    for (int a = 0; a < 3; a++)
        if (o->n[a] < 8 || o->n[a] > 1000 || abs(o->lo[a]) > 100000) {
            cn_errf(err, err_len, "thermal grid", "axis %d: n must be in [8, 1000] (got %d)", a,
                    o->n[a]);
            return NULL;
        }
    size_t ncell = (size_t)o->n[0] * (size_t)o->n[1] * (size_t)o->n[2];
    if (ncell > 8000000u) {
        cn_errf(err, err_len, "thermal grid", "%d x %d x %d cells is too large", o->n[0], o->n[1],
                o->n[2]);
        return NULL;
    }
    cn_thermal_grid *g = calloc(1, sizeof *g);
    if (!g) {
        cn_errf(err, err_len, "thermal grid", "out of memory");
        return NULL;
    }
    g->o = *o;
    if (cn__mat_setup(&g->mat, &o->tissue, err, err_len)) {
        free(g);
        return NULL;
    }
    g->nx = o->n[0];
    g->ny = o->n[1];
    g->nz = o->n[2];
    g->ncell = ncell;
    g->h = o->h_mm * 1e-3;
    int nmax = g->nx > g->ny ? g->nx : g->ny;
    nmax = nmax > g->nz ? nmax : g->nz;
    g->kind = calloc(ncell, 1);
    g->H = malloc(ncell * sizeof(double));
    g->T = malloc(ncell * sizeof(double));
    g->ln.idx = calloc((size_t)nmax + 1, sizeof(int));
    double **scr[] = {&g->ln.lv, &g->ln.la, &g->ln.ld1, &g->ln.ld2, &g->ln.sb, &g->ln.sc, &g->ln.sd,
                      &g->ln.h0, &g->ln.beta, &g->ln.tl, &g->ln.kl, &g->ln.fl, &g->ln.g};
    bool ok = g->kind && g->H && g->T && g->ln.idx;
    for (size_t i = 0; i < sizeof scr / sizeof scr[0]; i++) {
        *scr[i] = calloc((size_t)nmax + 1, sizeof(double));
        ok = ok && *scr[i];
    }
    if (!ok) {
        cn_thermal_grid_free(g);
        cn_errf(err, err_len, "thermal grid", "out of memory");
        return NULL;
    }
    for (size_t c = 0; c < ncell; c++) {
        g->H[c] = g->mat.hinit;
        g->T[c] = g->mat.tinit;
    }
    g->ln.m = &g->mat;
    g->ln.H = g->H;
    g->ln.T = g->T;
    g->ln.en = &g->en;
    g->bc.kind = CN_BC_INSULATED;
    /* an empty box in the middle */
    for (int a = 0; a < 3; a++)
        g->lo[a] = g->hi[a] = o->n[a] / 2;
    return g;
}

void cn_thermal_grid_free(cn_thermal_grid *g)
{
    if (!g)
        return;
    double *arrs[] = {g->H, g->T, g->ln.lv, g->ln.la, g->ln.ld1, g->ln.ld2, g->ln.sb,
                      g->ln.sc, g->ln.sd, g->ln.h0, g->ln.beta, g->ln.tl, g->ln.kl, g->ln.fl, g->ln.g};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        free(arrs[i]);
    free(g->kind);
    free(g->ln.idx);
    free(g);
}

cn_thermal_grid *cn_thermal_grid_clone(const cn_thermal_grid *g)
{
    char err[128];
    cn_thermal_grid *c = cn_thermal_grid_new(&g->o, err, sizeof err);
    if (!c)
        return NULL;
    cn_thermal_grid_copy(c, g);
    return c;
}

int cn_thermal_grid_copy(cn_thermal_grid *dst, const cn_thermal_grid *src)
{
    if (!dst || !src || dst->nx != src->nx || dst->ny != src->ny || dst->nz != src->nz ||
        memcmp(dst->o.lo, src->o.lo, sizeof dst->o.lo) != 0 || dst->o.h_mm != src->o.h_mm)
        return CN_EINVAL;
    memcpy(dst->kind, src->kind, src->ncell);
    memcpy(dst->H, src->H, src->ncell * sizeof(double));
    memcpy(dst->T, src->T, src->ncell * sizeof(double));
    dst->o = src->o;
    dst->mat = src->mat;
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
    memcpy(dst->lo, src->lo, sizeof dst->lo);
    memcpy(dst->hi, src->hi, sizeof dst->hi);
    dst->stored0 = src->stored0;
    dst->en = src->en;
    return CN_OK;
}

static void grow_box(cn_thermal_grid *g, int i, int j, int k)
{
    int c[3] = {i, j, k};
    for (int a = 0; a < 3; a++) {
        if (c[a] < g->lo[a])
            g->lo[a] = c[a];
        if (c[a] > g->hi[a])
            g->hi[a] = c[a];
    }
}

/* Probe cells lose or get their heat like the axisymmetric solver's: tissue
 * taken by the probe leaves the account, a vacated cell takes the mean enthalpy
 * of its tissue neighbours, both booked as exchanged. */
static void vacate(cn_thermal_grid *g, int i, int j, int k)
{
    size_t c = cn__cidx(g, i, j, k);
    double sum = 0;
    int n = 0;
    const int d[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
    for (int q = 0; q < 6; q++) {
        int a = i + d[q][0], b = j + d[q][1], e = k + d[q][2];
        if (a < 0 || b < 0 || e < 0 || a >= g->nx || b >= g->ny || e >= g->nz)
            continue;
        size_t cc = cn__cidx(g, a, b, e);
        if (g->kind[cc] == K3_TISSUE) {
            sum += g->H[cc];
            n++;
        }
    }
    g->H[c] = n ? sum / n : g->mat.hinit;
    g->T[c] = cn__t_of_h(&g->mat, g->H[c]);
    g->kind[c] = K3_TISSUE;
    g->en.boundary_j += (g->H[c] - g->mat.hinit) * g->h * g->h * g->h;
}

int cn_thermal_grid_set_probe(cn_thermal_grid *g, const cn_thermal_probe_geom *p)
{
    if (!g)
        return CN_EINVAL;
    if (p && (!isfinite(p->tip_mm.x) || !isfinite(p->tip_mm.y) || !isfinite(p->tip_mm.z) ||
              !(p->r0_mm > 0 && p->r0_mm < 10) || !(p->active_mm > 0 && p->active_mm < 200) ||
              !(cn_vec3_norm(p->axis) > 1e-9)))
        return CN_EINVAL;
    /* the old probe's cells become tissue (in two passes: neighbours first) */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < g->nz; k++)
            for (int j = 0; j < g->ny; j++)
                for (int i = 0; i < g->nx; i++)
                    if (g->kind[cn__cidx(g, i, j, k)] != K3_TISSUE) {
                        vacate(g, i, j, k);
                        grow_box(g, i, j, k);
                    }
    g->has_probe = false;
    if (!p)
        return CN_OK;
    cn_thermal_probe_geom q = *p;
    q.axis = cn_vec3_normalize(p->axis);
    double ax[3] = {fabs(q.axis.x), fabs(q.axis.y), fabs(q.axis.z)};
    g->dom = ax[0] >= ax[1] && ax[0] >= ax[2] ? 0 : ax[1] >= ax[2] ? 1 : 2;
    double cosd = ax[g->dom];
    double h = g->o.h_mm;
    /* The probe's cross-section in its dominant plane: the cells within rho_b of
     * the axis. A one-cell column would need its faces ~5x stronger than a
     * tissue link (Peaceman: it acts as a cylinder of 0.21 h), and a face that
     * stiff breaks the directional splitting (the cell beside it is fed along one
     * direction per sweep: -16 % of the heat drawn at dt 1 s). So the section
     * grows ring by ring until its face factor is no stiffer than a tissue link,
     * and the factor is computed on the actual raster, offset of the axis
     * included. Each layer stands for h / cos(tilt) of probe. */
    int a1 = (g->dom + 1) % 3, a2 = (g->dom + 2) % 3;
    double mid[3];
    {
        cn_vec3 c = cn_vec3_sub(q.tip_mm, cn_vec3_scale(q.axis, 0.5 * q.active_mm));
        double cc[3] = {c.x, c.y, c.z};
        for (int a = 0; a < 3; a++)
            mid[a] = cc[a] / h + 0.5 - floor(cc[a] / h + 0.5); /* in-cell offset, 0..1 */
    }
    static const double rings[] = {0, 1.0, 1.415, 2.0, 2.237, 2.829, 3.0, 3.163, 3.606, 4.0};
    double r0c = q.r0_mm / h, rho_b = 0, m = 1;
    int nf = 4;
    for (size_t r = 0; r < sizeof rings / sizeof rings[0]; r++) {
        rho_b = rings[r] + 1e-6;
        if (rho_b < r0c)
            continue; /* the probe itself is at least this wide */
        m = cn__well_factor(r0c, mid[a1], mid[a2], rho_b, &nf);
        if (m <= 1.2)
            break;
    }
    g->well_mult = m / cosd;
    g->cosd = cosd;
    {
        /* the tip: the section's end faces share the probe's own end area */
        int cells = 0, w0 = (int)ceil(rho_b) + 1;
        for (int u = -w0; u <= w0; u++)
            for (int v = -w0; v <= w0; v++)
                cells += (u == 0 && v == 0) || hypot(u + 0.5 - mid[a1], v + 0.5 - mid[a2]) <= rho_b;
        g->tip_mult = M_PI * r0c * r0c / cells;
        if (g->tip_mult > 1)
            g->tip_mult = 1;
    }
    g->rho_b = rho_b * h;
    g->n_faces = nf > 0 ? nf : 4;
    /* rasterise: along the axis every h/4 from the tip back to where the shaft
     * leaves the domain, the cells of the section around each point */
    double diag = h * sqrt((double)g->nx * g->nx + (double)g->ny * g->ny + (double)g->nz * g->nz);
    int marked = 0, w = (int)ceil(rho_b) + 1;
    for (double s = 0; s <= diag; s += 0.25 * h) {
        cn_vec3 pt = cn_vec3_sub(q.tip_mm, cn_vec3_scale(q.axis, s));
        double pp[3] = {pt.x / h, pt.y / h, pt.z / h};
        int base[3];
        for (int a = 0; a < 3; a++)
            base[a] = (int)lround(pp[a]);
        bool any_in = false;
        for (int u = -w; u <= w; u++)
            for (int v = -w; v <= w; v++) {
                int c3[3];
                c3[g->dom] = base[g->dom];
                c3[a1] = (int)floor(pp[a1] + 0.5) + u;
                c3[a2] = (int)floor(pp[a2] + 0.5) + v;
                bool own = u == 0 && v == 0;
                if (!own && hypot(c3[a1] - pp[a1], c3[a2] - pp[a2]) > rho_b)
                    continue;
                int i = c3[0] - g->o.lo[0], j = c3[1] - g->o.lo[1], k = c3[2] - g->o.lo[2];
                if (i < 0 || j < 0 || k < 0 || i >= g->nx || j >= g->ny || k >= g->nz)
                    continue;
                any_in = true;
                size_t c = cn__cidx(g, i, j, k);
                unsigned char kd = s <= q.active_mm ? K3_ACTIVE : K3_SHAFT;
                if (g->kind[c] == K3_TISSUE) {
                    g->en.boundary_j -= (g->H[c] - g->mat.hinit) * h * h * h * 1e-9;
                    g->kind[c] = kd;
                    marked++;
                } else if (kd == K3_ACTIVE) {
                    g->kind[c] = K3_ACTIVE;
                }
                if (kd == K3_ACTIVE)
                    grow_box(g, i, j, k);
            }
        if (!any_in && s > q.active_mm)
            break; /* the shaft left the domain */
    }
    if (marked == 0)
        return CN_ERANGE; /* the active segment lies outside the domain */
    g->probe = q;
    g->has_probe = true;
    /* keep a margin of tissue around the probe in the box */
    for (int a = 0; a < 3; a++) {
        g->lo[a] = g->lo[a] - 3 > 0 ? g->lo[a] - 3 : 0;
        int n = a == 0 ? g->nx : a == 1 ? g->ny : g->nz;
        g->hi[a] = g->hi[a] + 3 < n - 1 ? g->hi[a] + 3 : n - 1;
    }
    return CN_OK;
}

int cn_thermal_grid_set_bc(cn_thermal_grid *g, const cn_thermal_bc *bc)
{
    if (!g || !bc || bc->kind < CN_BC_TEMP || bc->kind > CN_BC_INSULATED)
        return CN_EINVAL;
    if (bc->kind == CN_BC_TEMP && (!isfinite(bc->temp_c) || bc->temp_c < -273 || bc->temp_c > 200 ||
                                   !isfinite(bc->h_w_m2k) || bc->h_w_m2k < 0))
        return CN_EINVAL;
    if (bc->kind == CN_BC_FLUX)
        return CN_EUNSUPPORTED; /* flux probes are a 1-D oracle device */
    g->bc = *bc;
    return CN_OK;
}

/* The probe's column cells carry the surface temperature (active) or the mean of
 * their tissue neighbours (shaft), for reading the field near them. */
static void update_probe_cells(cn_thermal_grid *g)
{
    for (int k = g->lo[2]; k <= g->hi[2]; k++)
        for (int j = g->lo[1]; j <= g->hi[1]; j++)
            for (int i = g->lo[0]; i <= g->hi[0]; i++) {
                size_t c = cn__cidx(g, i, j, k);
                if (g->kind[c] == K3_TISSUE)
                    continue;
                if (g->kind[c] == K3_ACTIVE && g->bc.kind == CN_BC_TEMP && g->bc.h_w_m2k == 0) {
                    g->T[c] = g->bc.temp_c;
                    continue;
                }
                double sum = 0;
                int n = 0;
                const int d[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
                for (int q = 0; q < 4; q++) {
                    int ijk[3] = {i, j, k}, a1 = (g->dom + 1) % 3, a2 = (g->dom + 2) % 3;
                    ijk[a1] += d[q][0];
                    ijk[a2] += d[q][1];
                    if (ijk[0] < 0 || ijk[1] < 0 || ijk[2] < 0 || ijk[0] >= g->nx ||
                        ijk[1] >= g->ny || ijk[2] >= g->nz)
                        continue;
                    size_t cc = cn__cidx(g, ijk[0], ijk[1], ijk[2]);
                    if (g->kind[cc] == K3_TISSUE) {
                        sum += g->T[cc];
                        n++;
                    }
                }
                double tn = n ? sum / n : g->mat.tinit;
                if (g->kind[c] == K3_ACTIVE && g->bc.kind == CN_BC_TEMP) {
                    /* Robin: the surface between the gas and the tissue beside it */
                    double gk = g->mat.kf * g->well_mult * 4 / g->h;
                    double hf = g->bc.h_w_m2k * 2 * M_PI * g->probe.r0_mm * 1e-3 / g->h;
                    tn = (hf * g->bc.temp_c + gk * tn) / (hf + gk);
                }
                g->T[c] = tn;
            }
}

/* One direction's lines over the box: runs of tissue cells between probe cells
 * and the box ends. */
static void sweep(cn_thermal_grid *g, int dir, double dt, const int lo[3], const int hi[3])
{
    const double h = g->h, area = h * h, vol = h * h * h;
    const int a1 = (dir + 1) % 3, a2 = (dir + 2) % 3;
    const int n[3] = {g->nx, g->ny, g->nz};
    const bool lateral = dir != g->dom;
    /* probe faces along this direction: lateral to the probe get the well factor,
     * its true surface behind them (4 lateral faces share the circumference) */
    const double km = lateral ? g->well_mult : g->tip_mult;
    const double film =
        lateral ? 2 * M_PI * g->probe.r0_mm * 1e-3 * h / (g->n_faces * g->cosd) : area;
    for (int u = lo[a2]; u <= hi[a2]; u++)
        for (int v = lo[a1]; v <= hi[a1]; v++) {
            int ijk[3];
            ijk[a1] = v;
            ijk[a2] = u;
            int m = lo[dir];
            while (m <= hi[dir]) {
                ijk[dir] = m;
                if (g->kind[cn__cidx(g, ijk[0], ijk[1], ijk[2])] != K3_TISSUE) {
                    m++;
                    continue;
                }
                int start = m, cnt = 0;
                while (m <= hi[dir]) {
                    ijk[dir] = m;
                    size_t c = cn__cidx(g, ijk[0], ijk[1], ijk[2]);
                    if (g->kind[c] != K3_TISSUE)
                        break;
                    g->ln.idx[cnt] = (int)c;
                    g->ln.lv[cnt] = vol;
                    g->ln.la[cnt] = area;
                    g->ln.ld1[cnt] = g->ln.ld2[cnt] = 0.5 * h;
                    cnt++;
                    m++;
                }
                line_end e[2];
                for (int side = 0; side < 2; side++) {
                    int nb = side == 0 ? start - 1 : m;
                    line_end *L = &e[side];
                    memset(L, 0, sizeof *L);
                    L->area = area;
                    L->d_in = 0.5 * h;
                    if (nb < 0 || nb >= n[dir]) { /* the domain's edge: body temperature */
                        L->type = END_FIXED;
                        L->t_out = g->mat.tinit;
                        L->k_out = g->mat.ku;
                        continue;
                    }
                    ijk[dir] = nb;
                    size_t c = cn__cidx(g, ijk[0], ijk[1], ijk[2]);
                    if (g->kind[c] == K3_ACTIVE) {
                        L->type = END_PROBE;
                        L->bc = &g->bc;
                        L->k_mult = km;
                        L->film_area = film;
                    } else if (g->kind[c] == K3_SHAFT) {
                        L->type = END_NONE;
                    } else { /* beyond the box: tissue at its own temperature */
                        L->type = END_FIXED;
                        L->d_out = 0.5 * h;
                        L->t_out = g->T[c];
                        L->k_out = g->mat.ku;
                    }
                }
                cn__solve_line(&g->ln, cnt, &e[0], &e[1], dt, dir == 0);
            }
        }
}

/* The box of cells away from body temperature, padded by margin cells. */
static void update_box(cn_thermal_grid *g, int margin)
{
    double tol = 1e-2 * g->mat.rcu;
    int lo[3] = {g->nx, g->ny, g->nz}, hi[3] = {-1, -1, -1};
    for (int k = g->lo[2]; k <= g->hi[2]; k++)
        for (int j = g->lo[1]; j <= g->hi[1]; j++)
            for (int i = g->lo[0]; i <= g->hi[0]; i++) {
                size_t c = cn__cidx(g, i, j, k);
                if (g->kind[c] == K3_SHAFT ||
                    (g->kind[c] == K3_TISSUE && fabs(g->H[c] - g->mat.hinit) <= tol))
                    continue; /* the insulated shaft disturbs nothing by itself */
                int q[3] = {i, j, k};
                for (int a = 0; a < 3; a++) {
                    if (q[a] < lo[a])
                        lo[a] = q[a];
                    if (q[a] > hi[a])
                        hi[a] = q[a];
                }
            }
    const int n[3] = {g->nx, g->ny, g->nz};
    for (int a = 0; a < 3; a++) {
        if (hi[a] < lo[a]) { /* nothing disturbed */
            g->lo[a] = g->hi[a] = n[a] / 2;
            continue;
        }
        g->lo[a] = lo[a] - margin > 0 ? lo[a] - margin : 0;
        g->hi[a] = hi[a] + margin < n[a] - 1 ? hi[a] + margin : n[a] - 1;
    }
}

static int margin_cells(const cn_thermal_grid *g, double dt)
{
    double au = g->mat.ku / g->mat.rcu;
    return 2 + (int)ceil(3 * sqrt(au * dt) / g->h);
}

static void step_once(cn_thermal_grid *g, double dt)
{
    int mg = margin_cells(g, dt);
    int lo[3], hi[3];
    const int n[3] = {g->nx, g->ny, g->nz};
    for (int a = 0; a < 3; a++) {
        lo[a] = g->lo[a] - mg > 0 ? g->lo[a] - mg : 0;
        hi[a] = g->hi[a] + mg < n[a] - 1 ? g->hi[a] + mg : n[a] - 1;
    }
    double tn = g->t + dt;
    if (g->o.live_split && dt < g->o.dt_max_s && dt <= CN_LIVE_SPLIT_MAX_S) {
        int d = g->next_dir;
        sweep(g, d, tn - g->tdir[d], lo, hi);
        g->tdir[d] = tn;
        g->next_dir = (d + 1) % 3;
    } else {
        /* x y z, then z y x: alternating the order cancels most of the
         * first-order splitting error (a symmetric pair is Strang's) */
        for (int q = 0; q < 3; q++) {
            int d = g->parity ? 2 - q : q;
            if (tn - g->tdir[d] > 0)
                sweep(g, d, tn - g->tdir[d], lo, hi);
            g->tdir[d] = tn;
        }
        g->parity ^= 1;
    }
    memcpy(g->lo, lo, sizeof lo);
    memcpy(g->hi, hi, sizeof hi);
    update_box(g, 1);
    update_probe_cells(g);
    g->t = tn;
}

int cn_thermal_grid_step(cn_thermal_grid *g, double dt_s)
{
    if (!g || !isfinite(dt_s) || dt_s < 0 || dt_s > 1e6)
        return CN_EINVAL;
    if (dt_s == 0)
        return CN_OK;
    int n = (int)ceil(dt_s / g->o.dt_max_s - 1e-9);
    if (n < 1)
        n = 1;
    for (int k = 0; k < n; k++)
        step_once(g, dt_s / n);
    return CN_OK;
}

double cn_thermal_grid_time_s(const cn_thermal_grid *g) { return g ? g->t : NAN; }

void cn_thermal_grid_set_time(cn_thermal_grid *g, double t_s)
{
    if (!g || !isfinite(t_s))
        return;
    g->t = t_s;
    for (int a = 0; a < 3; a++)
        g->tdir[a] = t_s;
}
