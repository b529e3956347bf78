/*
 * field_read.c - reading the tissue-anchored field: its members (the best two
 * ensemble members, or the one 3-D grid), temperature anywhere in the field
 * frame, the isotherm radii across the current probe with their band, the
 * extent along a direction, and closed surfaces for the 3-D view.
 */
#include "field_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cn__field_members(const cn__field *fl, cn__member *mem, int max)
{
    if (fl->grid) {
        if (max < 1)
            return 0;
        mem[0].axi = NULL;
        mem[0].grid = fl->grid;
        mem[0].w = 1;
        return 1;
    }
    int idx[TOP];
    double w[TOP];
    int nt = cn__field_top(fl, idx, w);
    if (nt > max)
        nt = max;
    double sum = 0;
    for (int k = 0; k < nt; k++)
        sum += w[k];
    for (int k = 0; k < nt; k++) {
        mem[k].axi = cn_thermal_model_solver(cn_thermal_ensemble_member(fl->ens, idx[k], NULL, NULL, NULL));
        mem[k].grid = NULL;
        mem[k].w = sum > 0 ? w[k] / sum : 1.0 / nt;
    }
    return nt;
}

double cn__member_temp(const cn__member *m, cn_vec3 p)
{
    if (m->grid)
        return cn_thermal_grid_temp_at(m->grid, p);
    return cn_thermal_solver_temp_at(m->axi, hypot(p.x, p.y), p.z);
}

double cn__field_temp(const cn__field *fl, cn_vec3 p_field)
{
    cn__member m[TOP];
    int n = cn__field_members(fl, m, 1);
    return n ? cn__member_temp(&m[0], p_field) : NAN;
}

cn_vec3 cn__field_centre(const cn__field *fl)
{
    /* the active segments' centres, averaged over the spots */
    cn_vec3 c = {0, 0, 0};
    for (int i = 0; i < fl->n_src; i++) {
        cn_thermal_probe_geom g = cn__field_src_geom(fl, i);
        c = cn_vec3_add(c, cn_vec3_sub(g.tip_mm, cn_vec3_scale(g.axis, 0.5 * g.active_mm)));
    }
    return cn_vec3_scale(c, 1.0 / fl->n_src);
}

void cn__field_radii(cn__field *fl, double t_s, double r[3], double band[3], double residual_mm)
{
    cn_thermal_probe_geom g = cn__field_src_geom(fl, fl->cur);
    cn_vec3 c = cn_vec3_sub(g.tip_mm, cn_vec3_scale(g.axis, 0.5 * g.active_mm));
    const double core = cn__field_warm_core_mm(fl);
    if (fl->grid) {
        /* the mean over four directions across the current probe */
        cn_vec3 u = fabs(g.axis.x) < 0.9 ? (cn_vec3){1, 0, 0} : (cn_vec3){0, 1, 0};
        cn_vec3 e1 = cn_vec3_normalize(cn_vec3_cross(g.axis, u)), e2 = cn_vec3_cross(g.axis, e1);
        for (int k = 0; k < 3; k++) {
            double sum = 0;
            for (int q = 0; q < 4; q++) {
                cn_vec3 d = q == 0 ? e1 : q == 1 ? e2 : q == 2 ? cn_vec3_scale(e1, -1) : cn_vec3_scale(e2, -1);
                double last = 0;
                for (double s = 0; s < 80; s += 0.25) {
                    double t = cn_thermal_grid_temp_at(fl->grid, cn_vec3_add(c, cn_vec3_scale(d, s)));
                    if (t <= CN__FIELD_TEMPS[k])
                        last = s;
                    else if (s > last + 3 && s > core)
                        break;
                }
                sum += last;
            }
            r[k] = sum / 4;
            band[k] = fl->band_frac[k] * r[k];
        }
        return;
    }
    /* the weighted members that are current (a member catching up is read at its
     * own, earlier time: it would widen the band with the past): mean radius and
     * spread, with the fit's residual */
    int n = cn_thermal_ensemble_size(fl->ens);
    double mean[3] = {0}, m2[3] = {0}, wt = 0, wall = 0;
    for (int i = 0; i < n; i++) {
        double w;
        const cn_thermal_model *m = cn_thermal_ensemble_member(fl->ens, i, &w, NULL, NULL);
        wall += w;
        if (w < 1e-3 || fabs(cn_thermal_model_time_s(m) - t_s) > 1.5)
            continue;
        double rr[3];
        cn__field_model_radii(cn_thermal_model_solver(m), c.z, fl->o.probe.outer_diameter_mm / 2, rr);
        for (int k = 0; k < 3; k++) {
            mean[k] += w * rr[k];
            m2[k] += w * rr[k] * rr[k];
        }
        wt += w;
    }
    for (int k = 0; k < 3; k++) {
        double mu = wt > 0 ? mean[k] / wt : 0, var = wt > 0 ? fmax(0, m2[k] / wt - mu * mu) : 0;
        double res = isfinite(residual_mm) ? residual_mm : 0;
        r[k] = mu;
        if (wt >= 0.5 * wall) { /* most of the weight is current: a fresh band */
            band[k] = mu > 0 ? 1.645 * sqrt(var + res * res) : 0;
            fl->band_frac[k] = mu > 0.5 ? band[k] / mu : fl->band_frac[k];
        } else { /* the members lag (a high time scale): the last relative band */
            band[k] = fl->band_frac[k] * mu;
        }
    }
}

double cn__field_min_dot(const cn__field *fl, double temp_c, cn_vec3 n)
{
    if (fl->grid)
        return cn_thermal_grid_min_dot(fl->grid, temp_c, n);
    cn__member m[1];
    if (cn__field_members(fl, m, 1) < 1)
        return INFINITY;
    return cn_thermal_solver_min_rz(m[0].axi, temp_c, hypot(n.x, n.y), n.z);
}

int cn__field_mesh(const cn__field *fl, double temp_c, int n_theta, int n_phi, cn_thermal_mesh *out)
{
    const double core = cn__field_warm_core_mm(fl);
    memset(out, 0, sizeof *out);
    if (!fl->grid) {
        int idx[TOP];
        if (cn__field_top(fl, idx, NULL) < 1)
            return CN_OK;
        return cn_thermal_model_mesh(cn_thermal_ensemble_member(fl->ens, idx[0], NULL, NULL, NULL),
                                     temp_c, n_theta, n_phi, out);
    }
    /* 3-D: a star-shaped surface about the spots' centre (rays on a sphere) */
    if (n_theta < 3 || n_phi < 3 || n_theta > 512 || n_phi > 512)
        return CN_EINVAL;
    cn_vec3 c = cn__field_centre(fl);
    int rings = n_theta - 2, nv = 2 + rings * n_phi;
    double *d = malloc(sizeof(double) * (size_t)nv);
    cn_vec3 *dir = malloc(sizeof(cn_vec3) * (size_t)nv);
    if (!d || !dir) {
        free(d);
        free(dir);
        return CN_ENOMEM;
    }
    int found = 0;
    for (int v = 0; v < nv; v++) {
        double th, ph;
        if (v == 0) {
            th = 0;
            ph = 0;
        } else if (v == nv - 1) {
            th = M_PI;
            ph = 0;
        } else {
            th = M_PI * (1 + (v - 1) / n_phi) / (n_theta - 1);
            ph = 2 * M_PI * ((v - 1) % n_phi) / n_phi;
        }
        dir[v] = (cn_vec3){sin(th) * cos(ph), sin(th) * sin(ph), cos(th)};
        double last = 0;
        for (double s = 0; s < 100; s += 0.25) {
            if (cn_thermal_grid_temp_at(fl->grid, cn_vec3_add(c, cn_vec3_scale(dir[v], s))) <= temp_c)
                last = s;
            else if (s > last + 3 && s > core)
                break;
        }
        d[v] = last;
        found += last > 0;
    }
    if (found < nv / 2) { /* no closed surface around the centre */
        free(d);
        free(dir);
        return CN_OK;
    }
    int nt = 2 * n_phi * (rings - 1) + 2 * n_phi;
    out->xyz = malloc(sizeof(float) * 3 * (size_t)nv);
    out->tri = malloc(sizeof(int) * 3 * (size_t)nt);
    if (!out->xyz || !out->tri) {
        free(d);
        free(dir);
        cn_thermal_mesh_free(out);
        return CN_ENOMEM;
    }
    for (int v = 0; v < nv; v++) {
        cn_vec3 p = cn_vec3_add(c, cn_vec3_scale(dir[v], d[v]));
        out->xyz[3 * v] = (float)p.x;
        out->xyz[3 * v + 1] = (float)p.y;
        out->xyz[3 * v + 2] = (float)p.z;
    }
    int *t = out->tri, ti = 0;
    for (int a = 0; a < n_phi; a++) {
        int b = (a + 1) % n_phi;
        t[ti++] = 0;
        t[ti++] = 1 + a;
        t[ti++] = 1 + b;
    }
    for (int k = 0; k + 1 < rings; k++)
        for (int a = 0; a < n_phi; a++) {
            int b = (a + 1) % n_phi, p0 = 1 + k * n_phi, p1 = 1 + (k + 1) * n_phi;
            t[ti++] = p0 + a;
            t[ti++] = p1 + a;
            t[ti++] = p0 + b;
            t[ti++] = p0 + b;
            t[ti++] = p1 + a;
            t[ti++] = p1 + b;
        }
    int lr = 1 + (rings - 1) * n_phi;
    for (int a = 0; a < n_phi; a++) {
        int b = (a + 1) % n_phi;
        t[ti++] = nv - 1;
        t[ti++] = lr + b;
        t[ti++] = lr + a;
    }
    out->n_vertices = nv;
    out->n_triangles = ti / 3;
    free(d);
    free(dir);
    return CN_OK;
}

double cn__field_warm_core_mm(const cn__field *fl)
{
    /* the largest measured balls are ~17 mm in radius (thermal.md): a ring is within 25 */
    return fl && fl->mode == CN_PROBE_HEAT ? 25.0 : 0.0;
}
