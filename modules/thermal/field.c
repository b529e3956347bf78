/*
 * field.c - the cold in the tissue: where the freezes really happened, anchored
 * in the Reference frame, evolving on its own once the probe moves or leaves.
 *
 * The idea: ice, once formed, is in the tissue. The field is anchored where the
 * probe was when the first freeze began (its probe frame is the "field frame"),
 * and everything afterwards is expressed there: the image plane of each frame,
 * the rim points seen, a later freeze at another spot. While all freezes happen
 * at one spot the field is the axisymmetric ensemble (fine grid, fitted to the
 * seen rim, the band from its spread). A freeze at a new spot breaks the symmetry:
 * the best member's field is handed over to a 3-D grid (solver3d.c) aligned with
 * the field frame, the old probe track becomes tissue, the new probe is placed and
 * both colds join into one field. The 3-D grid runs the hand-over member's
 * parameters; its band keeps the ensemble's relative spread at the hand-over.
 *
 * All times are model seconds (scene seconds since the first freeze began).
 */

#include "field_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

cn_thermal_probe_geom cn__field_src_geom(const cn__field *fl, int i)
{
    cn_thermal_probe_geom g;
    g.tip_mm = cn_mat4_apply_point(&fl->src[i], (cn_vec3){0, 0, 0});
    g.axis = cn_vec3_normalize(cn_mat4_apply_dir(&fl->src[i], (cn_vec3){0, 0, 1}));
    g.r0_mm = fl->o.probe.outer_diameter_mm / 2;
    g.active_mm = fl->o.probe.active_length_mm;
    return g;
}

void cn__field_model_radii(const cn_thermal_solver *s, double zc, double r0, double r[3])
{
    cn_thermal_solver_ray_isotherms(s, CN__FIELD_TEMPS, 3, 0, zc, M_PI / 2, 120, r);
    for (int k = 0; k < 3; k++)
        if (r[k] <= r0 + 0.1)
            r[k] = 0;
}

cn__field *cn__field_new(const cn__field_opts *o, const cn_mat4 *anchor_to_ref, char *err,
                         size_t err_len)
{
    cn__field *fl = calloc(1, sizeof *fl);
    if (!fl) {
        cn_errf(err, err_len, "thermal field", "out of memory");
        return NULL;
    }
    fl->o = *o;
    fl->field_to_ref = *anchor_to_ref;
    if (cn_mat4_invert(anchor_to_ref, &fl->ref_to_field) != CN_OK) {
        cn_errf(err, err_len, "thermal field", "the probe pose is singular");
        free(fl);
        return NULL;
    }
    cn_thermal_fit_opts fo = o->fit;
    if (!o->fit_enabled) {
        fo.n_offsets = 1;
        fo.n_perfusions = 1;
        fo.offset_min_c = fo.offset_max_c = 0;
        fo.perf_min_per_s = fo.perf_max_per_s = o->tissue.perfusion_per_s;
    }
    fl->ens = cn_thermal_ensemble_new(&o->probe, &o->plan, &o->tissue, &fo, err, err_len);
    if (!fl->ens) {
        free(fl);
        return NULL;
    }
    fl->n_src = 1;
    fl->src[0] = cn_mat4_identity();
    fl->mode = CN_PROBE_OFF;
    return fl;
}

void cn__field_free(cn__field *fl)
{
    if (!fl)
        return;
    cn_thermal_ensemble_free(fl->ens);
    cn_thermal_grid_free(fl->grid);
    free(fl);
}

cn__field *cn__field_clone(const cn__field *fl)
{
    if (!fl || (!fl->grid && !fl->ens))
        return NULL;
    cn__field *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *fl;
    c->ens = NULL;
    c->grid = NULL;
    if (fl->grid)
        c->grid = cn_thermal_grid_clone(fl->grid);
    else
        c->ens = cn_thermal_ensemble_clone(fl->ens);
    if (!c->grid && !c->ens) {
        free(c);
        return NULL;
    }
    return c;
}

int cn__field_copy(cn__field *dst, const cn__field *src)
{
    if (!dst || !src)
        return CN_EINVAL;
    /* into dst's own buffers: a single spot's ensemble, or several spots' 3-D grid of the
     * same domain; anything else (the field went 3-D, its grid grew) is a new clone */
    int rc = CN_EINVAL;
    if (!dst->grid && !src->grid && dst->ens && src->ens)
        rc = cn_thermal_ensemble_copy(dst->ens, src->ens);
    else if (dst->grid && src->grid)
        rc = cn_thermal_grid_copy(dst->grid, src->grid);
    if (rc)
        return rc;
    cn_thermal_ensemble *e = dst->ens;
    cn_thermal_grid *g = dst->grid;
    *dst = *src;
    dst->ens = e;
    dst->grid = g;
    return CN_OK;
}

bool cn__field_is_3d(const cn__field *fl) { return fl->grid != NULL; }

double cn__field_time_s(const cn__field *fl)
{
    if (fl->grid)
        return cn_thermal_grid_time_s(fl->grid);
    double t = -INFINITY;
    for (int i = 0; i < cn_thermal_ensemble_size(fl->ens); i++)
        t = fmax(t, cn_thermal_model_time_s(cn_thermal_ensemble_member(fl->ens, i, NULL, NULL,
                                                                       NULL)));
    return t;
}

size_t cn__field_grid_cells(const cn__field *fl)
{
    if (!fl || !fl->grid)
        return 0;
    const cn_thermal_grid_opts *o = cn_thermal_grid_get_opts(fl->grid);
    return (size_t)o->n[0] * (size_t)o->n[1] * (size_t)o->n[2];
}
int cn__field_sources(const cn__field *fl) { return fl->n_src; }
const cn_mat4 *cn__field_to_ref(const cn__field *fl) { return &fl->field_to_ref; }
const cn_mat4 *cn__field_from_ref(const cn__field *fl) { return &fl->ref_to_field; }
const cn_thermal_ensemble *cn__field_ensemble(const cn__field *fl) { return fl->ens; }
const cn_thermal_grid *cn__field_grid(const cn__field *fl) { return fl->grid; }


/* A change of what the probe does, applied to the 3-D member at its time. */
static int grid_apply(cn__field *fl, const cn__grid_change *c)
{
    int rc = CN_OK;
    if (c->mode == CN_PROBE_OUT && fl->mode != CN_PROBE_OUT)
        rc = cn_thermal_grid_set_probe(fl->grid, NULL);
    else if (c->mode != CN_PROBE_OUT && fl->mode == CN_PROBE_OUT)
        rc = cn_thermal_grid_set_probe(fl->grid, &c->pg);
    if (rc)
        return rc;
    if (c->mode != fl->mode || c->mode == CN_PROBE_FREEZE)
        fl->mode_t0 = c->t_s;
    fl->mode = c->mode;
    return CN_OK;
}

/* The 3-D member toward time t_s, at most max_steps solver steps, the probe's boundary
 * condition taken at the middle of each step, as the axisymmetric model does; the
 * queued changes are applied as their times are reached. */
static int grid_advance(cn__field *fl, double t_s, int max_steps)
{
    cn_thermal_grid *g = fl->grid;
    double dtm = cn_thermal_grid_get_opts(g)->dt_max_s;
    for (int steps = 0;; steps++) {
        while (fl->n_queued > 0 && fl->queued[0].t_s <= cn_thermal_grid_time_s(g) + 1e-9) {
            int rc = grid_apply(fl, &fl->queued[0]);
            if (rc)
                return rc;
            memmove(fl->queued, fl->queued + 1, (size_t)--fl->n_queued * sizeof fl->queued[0]);
        }
        if (cn_thermal_grid_time_s(g) >= t_s - 1e-9 || steps >= max_steps)
            return CN_OK;
        const double to = fl->n_queued > 0 ? fmin(t_s, fl->queued[0].t_s) : t_s;
        double t = cn_thermal_grid_time_s(g), dt = fmin(dtm, to - t);
        if (t - fl->mode_t0 < fmax(fl->o.probe.ramp_s, 2.0)) /* stiff start: as the model */
            dt = fmin(dt, 0.25);
        cn_step_kind k = fl->mode == CN_PROBE_FREEZE ? CN_STEP_FREEZE
                         : fl->mode == CN_PROBE_HEAT ? CN_STEP_ACTIVE_THAW
                                                     : CN_STEP_PASSIVE_THAW;
        cn_thermal_bc bc;
        cn__probe_bc(&fl->o.probe, fl->offset_c, k, t + 0.5 * dt - fl->mode_t0, fl->t_body, NAN,
                     &bc);
        int rc = cn_thermal_grid_set_bc(g, &bc);
        if (!rc)
            rc = cn_thermal_grid_step(g, dt);
        if (rc)
            return rc;
        /* a growing ball may outgrow the domain: a larger one, every 10 s */
        if (cn_thermal_grid_time_s(g) - fl->last_edge_check > 10) {
            fl->last_edge_check = cn_thermal_grid_time_s(g);
            if (cn_thermal_grid_near_edge(g, 2)) {
                cn_thermal_grid_opts go = *cn_thermal_grid_get_opts(g);
                int grow = (int)ceil(10 / go.h_mm);
                for (int a = 0; a < 3; a++) {
                    go.lo[a] -= grow;
                    go.n[a] += 2 * grow;
                    if (go.n[a] > 400)
                        go.n[a] = 400;
                }
                char err[160];
                cn_thermal_grid *bigger = cn_thermal_grid_new(&go, err, sizeof err);
                if (bigger && cn_thermal_grid_copy_into(g, bigger) == CN_OK) {
                    cn_thermal_grid_free(g);
                    fl->grid = g = bigger;
                    cn_log_info(fl->o.log, "thermal", "the 3-D field grew to %d x %d x %d cells",
                                go.n[0], go.n[1], go.n[2]);
                } else {
                    cn_thermal_grid_free(bigger);
                    cn_log_warn(fl->o.log, "thermal", "the 3-D field reaches its edge and cannot grow: %s",
                                err);
                }
            }
        }
    }
}

/* A change at t_s: applied now if the grid stands there, else held until it gets there
 * (before, the grid was stepped to it at once: a dated step re-stepped up to 90 s of a
 * 3-D field inside one frame, a 0.9-2.5 s stall at 1 mm cells, review 36 N1). */
static int grid_mode(cn__field *fl, cn_probe_mode mode, double t_s)
{
    /* never before a change already given (the changes stay in order; a missed freeze's
     * thaw given at the grid's older time came after its freeze: the review's L5) */
    if (fl->n_queued > 0)
        t_s = fmax(t_s, fl->queued[fl->n_queued - 1].t_s);
    const cn__grid_change c = {mode, t_s, cn__field_src_geom(fl, fl->cur)};
    if (fl->n_queued == 0 && t_s <= cn_thermal_grid_time_s(fl->grid) + 1e-9)
        return grid_apply(fl, &c);
    if (fl->n_queued == GRID_CHANGES_MAX) { /* full: the oldest is reached now */
        int rc = grid_advance(fl, fl->queued[0].t_s, INT_MAX);
        if (rc)
            return rc;
    }
    fl->queued[fl->n_queued++] = c;
    return CN_OK;
}

int cn__field_set_mode(cn__field *fl, cn_probe_mode mode, double t_s)
{
    if (fl->grid)
        return grid_mode(fl, mode, t_s);
    int rc = cn_thermal_ensemble_set_mode(fl->ens, mode, t_s);
    if (!rc) {
        if (mode != fl->mode || mode == CN_PROBE_FREEZE)
            fl->mode_t0 = t_s;
        fl->mode = mode;
    }
    return rc;
}


/* Hand-over to 3-D at t_s: the best member's field, its probe withdrawn. */
static int handover(cn__field *fl, double t_s)
{
    cn_thermal_ensemble *e = fl->ens;
    int n = cn_thermal_ensemble_size(e), best = 0;
    double wbest = -1, zc = -fl->o.probe.active_length_mm / 2;
    double mean[3] = {0}, m2[3] = {0}, wt = 0;
    for (int i = 0; i < n; i++) {
        int rc = cn_thermal_ensemble_advance_member(e, i, t_s);
        if (rc)
            return rc;
        double w;
        const cn_thermal_model *m = cn_thermal_ensemble_member(e, i, &w, NULL, NULL);
        if (w > wbest) {
            wbest = w;
            best = i;
        }
        if (w < 1e-3)
            continue;
        double r[3];
        cn__field_model_radii(cn_thermal_model_solver(m), zc, fl->o.probe.outer_diameter_mm / 2, r);
        for (int k = 0; k < 3; k++) {
            mean[k] += w * r[k];
            m2[k] += w * r[k] * r[k];
        }
        wt += w;
    }
    for (int k = 0; k < 3; k++) {
        double mu = wt > 0 ? mean[k] / wt : 0, sd = wt > 0 ? sqrt(fmax(0, m2[k] / wt - mu * mu)) : 0;
        fl->band_frac[k] = mu > 0.5 ? 1.645 * sd / mu : 0;
    }
    cn_thermal_model *m = cn_thermal_ensemble_take_member(e, best);
    cn_thermal_ensemble_member(e, best, NULL, &fl->offset_c, &fl->perf);
    int rc = cn_thermal_model_set_mode(m, CN_PROBE_OUT, t_s);
    if (!rc)
        rc = cn_thermal_model_advance_to(m, t_s);
    if (rc)
        return rc;
    const cn_thermal_solver *s = cn_thermal_model_solver(m);
    /* the domain: the disturbed region so far and every probe segment, with room
     * for another ~10 min of freezing around them */
    double rext, z0, z1;
    cn_thermal_solver_extent(s, &rext, &z0, &z1);
    double lo[3] = {-rext, -rext, z0}, hi[3] = {rext, rext, z1};
    const double margin = 22;
    for (int i = 0; i < fl->n_src; i++) {
        cn_thermal_probe_geom g = cn__field_src_geom(fl, i);
        cn_vec3 tail = cn_vec3_sub(g.tip_mm, cn_vec3_scale(g.axis, g.active_mm));
        cn_vec3 pts[2] = {g.tip_mm, tail};
        for (int q = 0; q < 2; q++) {
            double c[3] = {pts[q].x, pts[q].y, pts[q].z};
            for (int a = 0; a < 3; a++) {
                lo[a] = fmin(lo[a], c[a] - margin);
                hi[a] = fmax(hi[a], c[a] + margin);
            }
        }
    }
    cn_thermal_grid_opts go;
    cn_thermal_grid_opts_default(&go);
    go.tissue = fl->o.tissue;
    go.tissue.perfusion_per_s = fl->perf;
    go.h_mm = fl->o.h3_mm;
    go.dt_max_s = 1;
    /* a frame's short step solves one direction, as the live axisymmetric members do:
     * `cryonav bench dated3d` at 10 frames/s, 1 mm cells, stop keyed on time: the thermal
     * stage's frame p50 8.7 -> 2.8 ms, p99 27.6 -> 7.4 ms, the 0 C radius at 200 s 4.81 mm
     * both ways; test_reposition_across's stage against a both-spots reference 0.10 -> 0.11
     * mm mean (the catch-up's 1 s steps still solve all three) */
    go.live_split = true;
    for (int a = 0; a < 3; a++) {
        go.lo[a] = (int)floor(lo[a] / go.h_mm);
        go.n[a] = (int)ceil(hi[a] / go.h_mm) - go.lo[a] + 1;
        if (go.n[a] > 300) { /* keep it centred on the sources */
            go.lo[a] += (go.n[a] - 300) / 2;
            go.n[a] = 300;
        }
    }
    char err[200];
    cn_thermal_grid *g = cn_thermal_grid_new(&go, err, sizeof err);
    if (!g) {
        cn_log_error(fl->o.log, "thermal", "cannot hand the field over to 3-D: %s", err);
        return CN_ENOMEM;
    }
    cn_mat4 id = cn_mat4_identity();
    rc = cn_thermal_grid_fill_from(g, s, &id);
    if (rc) {
        cn_thermal_grid_free(g);
        return rc;
    }
    cn_thermal_grid_set_time(g, t_s);
    fl->t_body = g ? cn_thermal_grid_temp_at(g, (cn_vec3){1e6, 1e6, 1e6}) : 37;
    fl->grid = g;
    fl->last_edge_check = t_s;
    fl->mode = CN_PROBE_OUT;
    cn_thermal_ensemble_free(fl->ens);
    fl->ens = NULL;
    cn_log_info(fl->o.log, "thermal",
                "freeze at a new spot: the cold field goes 3-D (%d x %d x %d cells of %.2f mm; "
                "surface offset %+.0f C, perfusion %.4f /s)",
                go.n[0], go.n[1], go.n[2], go.h_mm, fl->offset_c, fl->perf);
    return CN_OK;
}

int cn__field_freeze(cn__field *fl, const cn_mat4 *pose_to_ref, double t_s, double tol_mm,
                     double tol_deg, bool *new_spot)
{
    if (new_spot)
        *new_spot = false;
    if (pose_to_ref) {
        cn_mat4 pf = cn_mat4_mul(&fl->ref_to_field, pose_to_ref);
        cn_vec3 tip = cn_mat4_apply_point(&pf, (cn_vec3){0, 0, 0});
        cn_vec3 ax = cn_vec3_normalize(cn_mat4_apply_dir(&pf, (cn_vec3){0, 0, 1}));
        cn_thermal_probe_geom cur = cn__field_src_geom(fl, fl->cur);
        double moved = cn_vec3_norm(cn_vec3_sub(tip, cur.tip_mm));
        double ang = acos(fmax(-1, fmin(1, cn_vec3_dot(ax, cur.axis)))) * 180 / M_PI;
        if (moved > tol_mm || ang > tol_deg) {
            if (fl->n_src == SRC_MAX) {
                cn_log_warn(fl->o.log, "thermal", "more than %d freeze spots: this one is taken as the last",
                            SRC_MAX);
            } else {
                fl->src[fl->n_src] = pf;
                fl->cur = fl->n_src++;
            }
            if (new_spot)
                *new_spot = true;
            cn_log_info(fl->o.log, "thermal",
                        "freeze at a new spot, %.1f mm and %.0f deg from the last: one cold field with %d sources",
                        moved, ang, fl->n_src);
            if (!fl->grid) {
                int rc = handover(fl, t_s);
                if (rc)
                    return rc;
            } else {
                int rc = grid_mode(fl, CN_PROBE_OUT, t_s); /* off the old spot */
                if (rc)
                    return rc;
            }
        }
    }
    return cn__field_set_mode(fl, CN_PROBE_FREEZE, t_s);
}

void cn__field_refine_anchor(cn__field *fl, const cn_mat4 *pose_to_ref)
{
    if (fl->grid || fl->cur != 0 || fl->mode != CN_PROBE_FREEZE || fl->n_anchor >= 600)
        return;
    cn_vec3 tip = cn_mat4_apply_point(pose_to_ref, (cn_vec3){0, 0, 0});
    cn_vec3 z = cn_vec3_normalize(cn_mat4_apply_dir(pose_to_ref, (cn_vec3){0, 0, 1}));
    cn_vec3 x = cn_vec3_normalize(cn_mat4_apply_dir(pose_to_ref, (cn_vec3){1, 0, 0}));
    if (fl->n_anchor > 0) {
        /* a pose far from the mean is a different spot, not noise */
        cn_vec3 m = cn_vec3_scale(fl->sum_tip, 1.0 / fl->n_anchor);
        if (cn_vec3_norm(cn_vec3_sub(tip, m)) > 1.5)
            return;
    }
    fl->sum_tip = cn_vec3_add(fl->sum_tip, tip);
    fl->sum_z = cn_vec3_add(fl->sum_z, z);
    fl->sum_x = cn_vec3_add(fl->sum_x, x);
    fl->n_anchor++;
    cn_vec3 t = cn_vec3_scale(fl->sum_tip, 1.0 / fl->n_anchor);
    cn_vec3 ez = cn_vec3_normalize(fl->sum_z);
    cn_vec3 ex = cn_vec3_sub(fl->sum_x, cn_vec3_scale(ez, cn_vec3_dot(fl->sum_x, ez)));
    if (!(cn_vec3_norm(ex) > 1e-9))
        return;
    ex = cn_vec3_normalize(ex);
    cn_vec3 ey = cn_vec3_cross(ez, ex);
    cn_mat4 m = cn_mat4_identity();
    double cols[3][3] = {{ex.x, ex.y, ex.z}, {ey.x, ey.y, ey.z}, {ez.x, ez.y, ez.z}};
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++)
            m.m[r * 4 + c] = cols[c][r];
    m.m[3] = t.x;
    m.m[7] = t.y;
    m.m[11] = t.z;
    cn_mat4 inv;
    if (cn_mat4_invert(&m, &inv) == CN_OK) {
        fl->field_to_ref = m;
        fl->ref_to_field = inv;
    }
}

int cn__field_advance(cn__field *fl, double t_s, int max_members)
{
    if (!isfinite(t_s))
        return CN_EINVAL;
    if (fl->grid)
        return grid_advance(fl, t_s, INT_MAX);
    /* the heaviest members carry the curves: always current; the others catch
     * up round robin */
    cn_thermal_ensemble *e = fl->ens;
    int top[TOP];
    int nt = cn__field_top(fl, top, NULL);
    for (int k = 0; k < nt; k++) {
        int rc = cn_thermal_ensemble_advance_member(e, top[k], t_s);
        if (rc)
            return rc;
    }
    /* max_members: the catch-up budget, in member solver steps per frame */
    return cn_thermal_ensemble_catch_up(e, t_s, max_members > 0 ? max_members : 1);
}

int cn__field_advance_steps(cn__field *fl, double t_s, int max_steps)
{
    if (!isfinite(t_s))
        return CN_EINVAL;
    return fl->grid ? grid_advance(fl, t_s, max_steps) : cn__field_advance(fl, t_s, 1 << 20);
}

int cn__field_top(const cn__field *fl, int *idx, double *w)
{
    if (!fl->ens)
        return 0;
    int n = cn_thermal_ensemble_size(fl->ens), nt = 0;
    for (int k = 0; k < TOP; k++) {
        int b = -1;
        double wb = 0;
        for (int i = 0; i < n; i++) {
            bool used = false;
            for (int q = 0; q < nt; q++)
                used = used || idx[q] == i;
            double wi;
            cn_thermal_ensemble_member(fl->ens, i, &wi, NULL, NULL);
            if (!used && (k == 0 || wi >= 0.05) && (b < 0 || wi > wb)) {
                b = i;
                wb = wi;
            }
        }
        if (b < 0)
            break;
        idx[nt] = b;
        if (w)
            w[nt] = wb;
        nt++;
    }
    return nt;
}

int cn__field_observe(cn__field *fl, const cn_thermal_obs *obs, int n)
{
    if (fl->grid || n <= 0)
        return CN_OK; /* the fit belongs to one spot: after a reposition it stops */
    return cn_thermal_ensemble_observe(fl->ens, obs, n);
}

