/*
 * model.c - one cryoprobe in one tissue following one protocol: the axisymmetric
 * solver plus the probe's boundary condition as a function of protocol time.
 *
 * The idea: the model owns its clock. advance_to(t) steps only from the model's
 * current time to t, so the live pipeline pays for the new seconds only and never
 * re-solves from t = 0. Steps are cut at protocol boundaries (freeze -> thaw) and
 * the boundary value is taken at the middle of each step (the cool-down ramp is
 * an exponential with the probe's time constant).
 */
#include "thermal_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_MAX 64

struct cn_thermal_model {
    cn_cryoprobe probe;
    cn_protocol protocol;
    cn_tissue tissue;
    cn_thermal_model_opts o;
    cn_thermal_solver *s;
    double t;
    double t_body;
    double probe_temp;
    /* what happened (set_mode): once used, the protocol no longer drives the probe */
    bool manual;
    int n_sched, i_sched;
    struct {
        double t;
        cn_probe_mode mode;
    } sched[SCHED_MAX];
    cn_probe_mode mode;
    double mode_t0;
    /* the probe wall's temperature when the current step began (its ramp starts
     * there); NAN before the first step, t_start_s when it was taken */
    double step_start_c, step_t0;
};

void cn_thermal_model_opts_default(cn_thermal_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->h_mm = 0.25;
    o->dt_max_s = 1.0;
    o->surface_offset_c = 0;
    o->perfusion_per_s = -1;
    o->extra_time_s = 60;
    o->min_freeze_s = 0;
}

static double freeze_time(const cn_protocol *p)
{
    double f = 0;
    for (int i = 0; i < p->n_steps; i++)
        if (p->steps[i].kind == CN_STEP_FREEZE)
            f += p->steps[i].duration_s;
    return f;
}

cn_thermal_model *cn_thermal_model_new(const cn_cryoprobe *probe, const cn_protocol *protocol,
                                       const cn_tissue *tissue, const cn_thermal_model_opts *o,
                                       char *err, size_t err_len)
{
    cn_thermal_model_opts def;
    if (!o) {
        cn_thermal_model_opts_default(&def);
        o = &def;
    }
    if (!probe || !protocol || !tissue) {
        snprintf(err, err_len, "thermal model: probe, protocol and tissue are required");
        return NULL;
    }
    if (cn_cryoprobe_validate(probe, err, err_len) || cn_protocol_validate(protocol, err, err_len) ||
        cn_tissue_validate(tissue, err, err_len))
        return NULL;
    if (!isfinite(o->surface_offset_c) || fabs(o->surface_offset_c) > 150 ||
        !isfinite(o->perfusion_per_s) || o->perfusion_per_s > 0.1 || !isfinite(o->extra_time_s) ||
        o->extra_time_s < 0 || o->extra_time_s > 7200) {
        snprintf(err, err_len,
                 "thermal model: surface_offset_c (|x| <= 150), perfusion_per_s (<= 0.1) and "
                 "extra_time_s ([0, 7200]) must be finite and in range");
        return NULL;
    }
    cn_thermal_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "thermal model: out of memory");
        return NULL;
    }
    m->probe = *probe;
    m->protocol = *protocol;
    m->tissue = *tissue;
    m->o = *o;
    if (o->perfusion_per_s >= 0)
        m->tissue.perfusion_per_s = o->perfusion_per_s;
    cn_thermal_solver_opts so;
    cn_thermal_solver_opts_default(&so);
    so.geometry = CN_GEOM_AXISYMMETRIC;
    so.tissue = m->tissue;
    so.h_mm = o->h_mm;
    so.dt_max_s = o->dt_max_s;
    so.live_split = o->live_split;
    so.r0_mm = probe->outer_diameter_mm / 2;
    so.active_length_mm = probe->active_length_mm;
    /* Domain: the quasi-steady upper bound of the ice radius (no perfusion) over
     * all the freeze time, plus three diffusion lengths of unfrozen tissue. */
    double tp = probe->surface_temp_c + o->surface_offset_c;
    if (tp > -5)
        tp = -5;
    /* the protocol is a plan: what happens may freeze longer (an extra cycle, a
     * reposition), so the domain holds at least 20 min of freezing */
    double tf = fmax(freeze_time(protocol), o->min_freeze_s);
    double total = fmax(cn_protocol_duration_s(protocol), o->min_freeze_s) + o->extra_time_s;
    double rq = cn_oracle_quasisteady_cylinder_mm(&m->tissue, so.r0_mm, tp, 0, tf);
    double au = m->tissue.k_unfrozen_w_mk / (m->tissue.rho_unfrozen_kg_m3 * m->tissue.c_unfrozen_j_kgk);
    double rmax = so.r0_mm + (isfinite(rq) ? rq : 30) + 3e3 * sqrt(au * total);
    if (rmax < so.r0_mm + 10)
        rmax = so.r0_mm + 10;
    if (rmax > 120)
        rmax = 120;
    so.r_max_mm = rmax;
    so.z_min_mm = -probe->active_length_mm - rmax;
    so.z_max_mm = rmax;
    m->s = cn_thermal_solver_new(&so, err, err_len);
    if (!m->s) {
        free(m);
        return NULL;
    }
    m->t_body = cn_thermal_solver_temp_at(m->s, 1e6, 0);
    m->probe_temp = m->t_body;
    m->step_start_c = m->step_t0 = NAN;
    m->mode = CN_PROBE_OFF;
    return m;
}

void cn_thermal_model_free(cn_thermal_model *m)
{
    if (!m)
        return;
    cn_thermal_solver_free(m->s);
    free(m);
}

cn_thermal_model *cn_thermal_model_clone(const cn_thermal_model *m)
{
    cn_thermal_model *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *m;
    c->s = cn_thermal_solver_clone(m->s);
    if (!c->s) {
        free(c);
        return NULL;
    }
    return c;
}

int cn_thermal_model_copy(cn_thermal_model *dst, const cn_thermal_model *src)
{
    if (!dst || !src)
        return CN_EINVAL;
    cn_thermal_solver *keep = dst->s;
    int rc = cn_thermal_solver_copy(keep, src->s);
    if (rc)
        return rc;
    *dst = *src;
    dst->s = keep;
    return CN_OK;
}

/* Boundary condition at model time t: the protocol's, or what happened. */
static void bc_at(cn_thermal_model *m, double t, cn_thermal_bc *bc)
{
    double el = 0;
    cn_step_kind k;
    if (m->manual) {
        el = t - m->mode_t0;
        k = m->mode == CN_PROBE_FREEZE ? CN_STEP_FREEZE
            : m->mode == CN_PROBE_HEAT ? CN_STEP_ACTIVE_THAW
                                       : CN_STEP_PASSIVE_THAW;
    } else {
        k = cn_protocol_kind_at(&m->protocol, t, &el);
    }
    cn__probe_bc(&m->probe, m->o.surface_offset_c, k, el, m->t_body, m->step_start_c, bc);
}

void cn__probe_bc(const cn_cryoprobe *p, double offset_c, cn_step_kind k, double el,
                  double t_body, double start_c, cn_thermal_bc *bc)
{
    memset(bc, 0, sizeof *bc);
    if (k == CN_STEP_PASSIVE_THAW) {
        bc->kind = CN_BC_INSULATED;
        return;
    }
    double target, start = t_body;
    if (k == CN_STEP_FREEZE) {
        target = p->surface_temp_c + offset_c;
        if (target > -5)
            target = -5;
        bc->h_w_m2k = p->bc == CN_PROBE_BC_ROBIN ? p->h_w_m2k : 0;
    } else {
        target = p->active_thaw_temp_c;
        start = p->surface_temp_c; /* heating starts from the cold probe */
    }
    /* A step ramps from where the wall is: a re-freeze from the thawing ice, not from
     * body temperature (thermal audit F8: +20.4 C 1 s into freeze 2 of a 2 x 90 s
     * protocol, the 0 C radius falling 18 s into it); heating from the wall's own
     * temperature, fitted offset included. NAN: the catalogue's start. */
    if (isfinite(start_c))
        start = k == CN_STEP_FREEZE ? fmax(fmin(start_c, t_body), target) : start_c;
    double tau = p->ramp_s;
    bc->kind = CN_BC_TEMP;
    bc->temp_c = tau > 0 ? target + (start - target) * exp(-el / tau) : target;
}

/* The start of the protocol step under way at t (after the last: the last's end), summed
 * as cn_protocol_kind_at sums it. */
static double step_start(const cn_protocol *p, double t)
{
    double t0 = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const double t1 = t0 + p->steps[i].duration_s;
        if (t < t1)
            return t0;
        t0 = t1;
    }
    return t0;
}

/* Time to the next protocol boundary after t (INFINITY after the last). */
static double next_boundary(const cn_protocol *p, double t)
{
    double t0 = 0;
    for (int i = 0; i < p->n_steps; i++) {
        t0 += p->steps[i].duration_s;
        if (t0 > t + 1e-9)
            return t0;
    }
    return INFINITY;
}

int cn_thermal_model_set_mode(cn_thermal_model *m, cn_probe_mode mode, double t_s)
{
    if (!m || !isfinite(t_s) || mode < CN_PROBE_OFF || mode > CN_PROBE_OUT)
        return CN_EINVAL;
    if (!m->manual) {
        /* from now on the model follows events: the probe was off until t_s */
        m->manual = true;
        m->mode = CN_PROBE_OFF;
        m->mode_t0 = m->t;
    }
    if (t_s < m->t - 1e-9 || (m->n_sched > 0 && t_s < m->sched[m->n_sched - 1].t - 1e-9))
        return CN_ERANGE; /* the past cannot change */
    if (m->n_sched == SCHED_MAX) {
        if (m->i_sched == 0)
            return CN_ENOMEM;
        memmove(m->sched, m->sched + m->i_sched, sizeof m->sched[0] * (size_t)(m->n_sched - m->i_sched));
        m->n_sched -= m->i_sched;
        m->i_sched = 0;
    }
    m->sched[m->n_sched].t = t_s;
    m->sched[m->n_sched].mode = mode;
    m->n_sched++;
    return CN_OK;
}

cn_probe_mode cn_thermal_model_mode(const cn_thermal_model *m) { return m->mode; }

/* Applies the scheduled changes due at the model's time. */
static int apply_sched(cn_thermal_model *m)
{
    while (m->i_sched < m->n_sched && m->sched[m->i_sched].t <= m->t + 1e-9) {
        cn_probe_mode md = m->sched[m->i_sched].mode;
        bool was_out = m->mode == CN_PROBE_OUT;
        if (md == CN_PROBE_OUT && !was_out) {
            int rc = cn_thermal_solver_set_probe(m->s, false, 0);
            if (rc)
                return rc;
        } else if (md != CN_PROBE_OUT && was_out) {
            int rc = cn_thermal_solver_set_probe(m->s, true, 0); /* back at its anchor */
            if (rc)
                return rc;
        }
        if (md != m->mode || md == CN_PROBE_FREEZE)
            m->mode_t0 = m->sched[m->i_sched].t;
        m->mode = md;
        m->i_sched++;
    }
    return CN_OK;
}

int cn_thermal_model_advance_to(cn_thermal_model *m, double t_s)
{
    if (!m || !isfinite(t_s) || t_s > 1e6)
        return CN_EINVAL;
    double dtm = m->o.dt_max_s;
    while (m->t < t_s - 1e-9) {
        int rc0 = apply_sched(m);
        if (rc0)
            return rc0;
        double nb = m->manual ? (m->i_sched < m->n_sched ? m->sched[m->i_sched].t : INFINITY)
                              : next_boundary(&m->protocol, m->t);
        double end = t_s < nb ? t_s : nb;
        double dt = end - m->t;
        /* the first seconds of a change at the probe (a freeze starting on warm or
         * thawing tissue) are stiff: short steps there keep the front where it
         * belongs and the energy account closed (1 s steps lose ~5 % of the heat
         * drawn in the first 10 s of a re-freeze) */
        double el = 0;
        if (m->manual)
            el = m->t - m->mode_t0;
        else
            cn_protocol_kind_at(&m->protocol, m->t, &el);
        /* a step begins here: its ramp starts from the wall as it is now (the probe's
         * own temperature when it had one, else the tissue against it). The step is
         * known by its start as stored (mode_t0) or summed (the protocol's), never by
         * t - el: in floating point that differs from the start once a step has lasted
         * longer than the time it began at, and the ramp was taken again mid-step */
        const double step_t0 = m->manual ? m->mode_t0 : step_start(&m->protocol, m->t);
        if (!(m->step_t0 == step_t0)) {
            m->step_t0 = step_t0;
            m->step_start_c = isfinite(m->probe_temp) ? m->probe_temp
                                                      : cn_thermal_solver_wall_temp_c(m->s);
        }
        double lim = el < fmax(m->probe.ramp_s, 2.0) ? fmin(dtm, 0.25) : dtm;
        if (dt > lim)
            dt = lim;
        cn_thermal_bc bc;
        bc_at(m, m->t + 0.5 * dt, &bc);
        int rc = cn_thermal_solver_set_bc(m->s, &bc);
        if (rc)
            return rc;
        m->probe_temp = bc.kind == CN_BC_TEMP ? bc.temp_c : NAN;
        rc = cn_thermal_solver_step(m->s, dt);
        if (rc)
            return rc;
        m->t += dt;
    }
    return m->manual ? apply_sched(m) : CN_OK;
}

double cn_thermal_model_time_s(const cn_thermal_model *m) { return m ? m->t : NAN; }
const cn_thermal_solver *cn_thermal_model_solver(const cn_thermal_model *m) { return m->s; }
cn_thermal_solver *cn_thermal_model_solver_mut(cn_thermal_model *m) { return m->s; }
const cn_cryoprobe *cn_thermal_model_probe(const cn_thermal_model *m) { return &m->probe; }
const cn_protocol *cn_thermal_model_protocol(const cn_thermal_model *m) { return &m->protocol; }
double cn_thermal_model_probe_temp_c(const cn_thermal_model *m) { return m->probe_temp; }

double cn_thermal_model_temp_at(const cn_thermal_model *m, cn_vec3 p)
{
    return cn_thermal_solver_temp_at(m->s, hypot(p.x, p.y), p.z);
}

double cn_thermal_model_radius_at(const cn_thermal_model *m, double temp_c, double z_mm)
{
    return cn_thermal_solver_ray_isotherm(m->s, temp_c, 0, z_mm, M_PI / 2, 120);
}

int cn_thermal_model_outline(const cn_thermal_model *m, double temp_c, int n_angles,
                             double *r_mm, double *z_mm)
{
    if (!m || n_angles < 2 || !r_mm || !z_mm || !isfinite(temp_c))
        return 0;
    double zc = -m->probe.active_length_mm / 2;
    int found = 0;
    for (int k = 0; k < n_angles; k++) {
        double th = M_PI * k / (n_angles - 1);
        double d = cn_thermal_solver_ray_isotherm(m->s, temp_c, 0, zc, th, 150);
        double rr = d * sin(th), zz = zc + d * cos(th), hh = m->o.h_mm;
        /* ending on the probe's own surface is not an isotherm in tissue */
        if (rr <= m->probe.outer_diameter_mm / 2 + 0.5 * hh && zz <= 0.5 * hh &&
            zz >= -m->probe.active_length_mm - hh)
            d = 0;
        r_mm[k] = d * sin(th);
        z_mm[k] = zc + d * cos(th);
        if (r_mm[k] < 1e-9)
            r_mm[k] = 0;
        if (d > 0 && (k == 0 || k == n_angles - 1 || r_mm[k] > 0))
            found++;
    }
    /* a ray that only meets the probe's own cold cells is no isotherm */
    return found;
}

int cn_thermal_model_mesh(const cn_thermal_model *m, double temp_c, int n_angles, int n_around,
                          cn_thermal_mesh *out)
{
    if (!m || !out || n_angles < 3 || n_angles > 4096 || n_around < 3 || n_around > 4096)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    double *r = malloc(sizeof(double) * (size_t)n_angles);
    double *z = malloc(sizeof(double) * (size_t)n_angles);
    if (!r || !z) {
        free(r);
        free(z);
        return CN_ENOMEM;
    }
    int found = cn_thermal_model_outline(m, temp_c, n_angles, r, z);
    if (found < 3) {
        free(r);
        free(z);
        return CN_OK; /* empty mesh: the isotherm does not exist (yet) */
    }
    int rings = n_angles - 2;
    int nv = 2 + rings * n_around;
    int nt = 2 * n_around * (rings - 1) + 2 * n_around;
    out->xyz = malloc(sizeof(float) * 3 * (size_t)nv);
    out->tri = malloc(sizeof(int) * 3 * (size_t)nt);
    if (!out->xyz || !out->tri) {
        free(r);
        free(z);
        cn_thermal_mesh_free(out);
        return CN_ENOMEM;
    }
    float *v = out->xyz;
    /* poles on the axis, then rings from the tip side to the shaft side */
    v[0] = 0;
    v[1] = 0;
    v[2] = (float)z[0];
    for (int k = 1; k <= rings; k++)
        for (int a = 0; a < n_around; a++) {
            double ph = 2 * M_PI * a / n_around;
            float *p = v + 3 * (1 + (size_t)(k - 1) * n_around + a);
            p[0] = (float)(r[k] * cos(ph));
            p[1] = (float)(r[k] * sin(ph));
            p[2] = (float)z[k];
        }
    float *last = v + 3 * (size_t)(nv - 1);
    last[0] = 0;
    last[1] = 0;
    last[2] = (float)z[n_angles - 1];
    int *t = out->tri, ti = 0;
    for (int a = 0; a < n_around; a++) {
        int b = (a + 1) % n_around;
        t[ti++] = 0;
        t[ti++] = 1 + b;
        t[ti++] = 1 + a;
    }
    for (int k = 0; k + 1 < rings; k++)
        for (int a = 0; a < n_around; a++) {
            int b = (a + 1) % n_around;
            int p0 = 1 + k * n_around, p1 = 1 + (k + 1) * n_around;
            t[ti++] = p0 + a;
            t[ti++] = p0 + b;
            t[ti++] = p1 + a;
            t[ti++] = p0 + b;
            t[ti++] = p1 + b;
            t[ti++] = p1 + a;
        }
    int lr = 1 + (rings - 1) * n_around;
    for (int a = 0; a < n_around; a++) {
        int b = (a + 1) % n_around;
        t[ti++] = nv - 1;
        t[ti++] = lr + a;
        t[ti++] = lr + b;
    }
    out->n_vertices = nv;
    out->n_triangles = ti / 3;
    free(r);
    free(z);
    return CN_OK;
}

void cn_thermal_mesh_free(cn_thermal_mesh *mesh)
{
    if (!mesh)
        return;
    free(mesh->xyz);
    free(mesh->tri);
    memset(mesh, 0, sizeof *mesh);
}
