/*
 * fit.c - fitting the model to the ice seen on ultrasound with an ensemble.
 *
 * The idea: the uncertain parameters (the probe's effective surface temperature,
 * which a tip thermocouple does not measure, and perfusion) act on the whole
 * history of the ice ball, so changing them means re-solving from t = 0. Instead
 * of re-solving per frame, a small grid of models with different parameters is
 * stepped forward together (round robin in live use, so a frame pays for about one
 * member step). Every observed rim point is compared with each member's 0 C front
 * along the ray from the active segment's centre; residuals accumulate with a
 * fading memory. Members are weighted by a Gaussian likelihood of their RMS
 * residual, tempered by an effective number of independent observations (rim
 * points of one frame are strongly correlated), and a weak prior centred on the
 * catalogue's nominal values. The weighted members give the prediction of the
 * whole ball (including the shadowed deep side, by the model's geometry) and their
 * spread plus the remaining residual gives the uncertainty band.
 */
#include "thermal_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cn_thermal_model *m;
    double offset_c, perf;
    double sse, wsum, last_t;
} member;

struct cn_thermal_ensemble {
    cn_thermal_fit_opts o;
    double zc;               /* active segment centre (probe z, mm) */
    double perf0;            /* nominal perfusion */
    int n;
    member *mem;
    double *w;
    int n_obs;
    int behind;              /* members that sat out the last observation (lagging) */
};

void cn_thermal_fit_opts_default(cn_thermal_fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_offsets = 5;
    o->n_perfusions = 3;
    o->offset_min_c = -20;
    o->offset_max_c = 60;
    o->perf_min_per_s = 0.0005;
    o->perf_max_per_s = 0.005;
    o->h_mm = 0.5;
    o->dt_max_s = 1.0;
    o->sigma_mm = 0.4;
    o->memory_s = 60;
    o->prior_sd_c = 40;
    o->min_freeze_s = 0;
}

static void update_weights(cn_thermal_ensemble *e);

cn_thermal_ensemble *cn_thermal_ensemble_new(const cn_cryoprobe *probe,
                                             const cn_protocol *protocol, const cn_tissue *tissue,
                                             const cn_thermal_fit_opts *o, char *err,
                                             size_t err_len)
{
    cn_thermal_fit_opts def;
    if (!o) {
        cn_thermal_fit_opts_default(&def);
        o = &def;
    }
    if (o->n_offsets < 1 || o->n_offsets > 12 || o->n_perfusions < 1 || o->n_perfusions > 12 ||
        !isfinite(o->offset_min_c) || !isfinite(o->offset_max_c) ||
        o->offset_max_c < o->offset_min_c || !(o->perf_min_per_s >= 0) ||
        !(o->perf_max_per_s >= o->perf_min_per_s) || o->perf_max_per_s > 0.1 ||
        !(o->sigma_mm > 0) || !isfinite(o->sigma_mm) || !(o->memory_s >= 0) ||
        !isfinite(o->memory_s) || !(o->prior_sd_c > 0) || !isfinite(o->prior_sd_c) ||
        !(o->min_freeze_s >= 0) || o->min_freeze_s > 7200) {
        snprintf(err, err_len, "thermal fit: bad options (grid 1..12 x 1..12, ordered finite "
                               "ranges, sigma_mm > 0, memory_s >= 0)");
        return NULL;
    }
    if (!probe || !protocol || !tissue) {
        snprintf(err, err_len, "thermal fit: probe, protocol and tissue are required");
        return NULL;
    }
    cn_thermal_ensemble *e = calloc(1, sizeof *e);
    int n = o->n_offsets * o->n_perfusions;
    if (e) {
        e->mem = calloc((size_t)n, sizeof(member));
        e->w = calloc((size_t)n, sizeof(double));
    }
    if (!e || !e->mem || !e->w) {
        if (e) {
            free(e->mem);
            free(e->w);
        }
        free(e);
        snprintf(err, err_len, "thermal fit: out of memory");
        return NULL;
    }
    e->o = *o;
    e->zc = -probe->active_length_mm / 2;
    e->perf0 = tissue->perfusion_per_s;
    for (int a = 0; a < o->n_offsets; a++)
        for (int b = 0; b < o->n_perfusions; b++) {
            member *mb = &e->mem[e->n];
            mb->offset_c = o->n_offsets > 1 ? o->offset_min_c + (o->offset_max_c - o->offset_min_c) *
                                                                    a / (o->n_offsets - 1)
                                            : o->offset_min_c;
            double lo = o->perf_min_per_s, hi = o->perf_max_per_s;
            if (o->n_perfusions == 1)
                mb->perf = lo;
            else if (lo > 0)
                mb->perf = lo * pow(hi / lo, (double)b / (o->n_perfusions - 1));
            else
                mb->perf = lo + (hi - lo) * b / (o->n_perfusions - 1);
            cn_thermal_model_opts mo;
            cn_thermal_model_opts_default(&mo);
            mo.h_mm = o->h_mm;
            mo.dt_max_s = o->dt_max_s;
            mo.surface_offset_c = mb->offset_c;
            mo.perfusion_per_s = mb->perf;
            mo.min_freeze_s = o->min_freeze_s;
            mo.live_split = o->live_split;
            mb->m = cn_thermal_model_new(probe, protocol, tissue, &mo, err, err_len);
            if (!mb->m) {
                cn_thermal_ensemble_free(e);
                return NULL;
            }
            e->n++;
        }
    update_weights(e);
    return e;
}

void cn_thermal_ensemble_free(cn_thermal_ensemble *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++)
        cn_thermal_model_free(e->mem[i].m);
    free(e->mem);
    free(e->w);
    free(e);
}

cn_thermal_ensemble *cn_thermal_ensemble_clone(const cn_thermal_ensemble *e)
{
    if (!e)
        return NULL;
    cn_thermal_ensemble *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *e;
    c->n = 0;
    c->mem = calloc((size_t)e->n, sizeof(member));
    c->w = malloc(sizeof(double) * (size_t)e->n);
    if (!c->mem || !c->w) {
        cn_thermal_ensemble_free(c);
        return NULL;
    }
    memcpy(c->w, e->w, sizeof(double) * (size_t)e->n);
    for (; c->n < e->n; c->n++) {
        c->mem[c->n] = e->mem[c->n];
        c->mem[c->n].m = cn_thermal_model_clone(e->mem[c->n].m);
        if (!c->mem[c->n].m) {
            cn_thermal_ensemble_free(c);
            return NULL;
        }
    }
    return c;
}

int cn_thermal_ensemble_copy(cn_thermal_ensemble *dst, const cn_thermal_ensemble *src)
{
    if (!dst || !src || dst->n != src->n)
        return CN_EINVAL;
    for (int i = 0; i < src->n; i++) {
        int rc = cn_thermal_model_copy(dst->mem[i].m, src->mem[i].m);
        if (rc)
            return rc;
        cn_thermal_model *m = dst->mem[i].m;
        dst->mem[i] = src->mem[i];
        dst->mem[i].m = m;
    }
    memcpy(dst->w, src->w, sizeof(double) * (size_t)src->n);
    member *mem = dst->mem;
    double *w = dst->w;
    *dst = *src;
    dst->mem = mem;
    dst->w = w;
    return CN_OK;
}

int cn_thermal_ensemble_advance_to(cn_thermal_ensemble *e, double t_s, int max_members)
{
    if (!e || !isfinite(t_s))
        return CN_EINVAL;
    if (max_members <= 0 || max_members >= e->n) {
        for (int i = 0; i < e->n; i++) {
            int rc = cn_thermal_model_advance_to(e->mem[i].m, t_s);
            if (rc)
                return rc;
        }
        return CN_OK;
    }
    /* the most lagging members first */
    for (int k = 0; k < max_members; k++) {
        int best = -1;
        double tb = t_s - 1e-9;
        for (int i = 0; i < e->n; i++) {
            double ti = cn_thermal_model_time_s(e->mem[i].m);
            if (ti < tb) {
                tb = ti;
                best = i;
            }
        }
        if (best < 0)
            break;
        int rc = cn_thermal_model_advance_to(e->mem[best].m, t_s);
        if (rc)
            return rc;
    }
    return CN_OK;
}

int cn_thermal_ensemble_set_mode(cn_thermal_ensemble *e, cn_probe_mode mode, double t_s)
{
    if (!e)
        return CN_EINVAL;
    for (int i = 0; i < e->n; i++) {
        int rc = cn_thermal_model_set_mode(e->mem[i].m, mode, t_s);
        if (rc)
            return rc;
    }
    return CN_OK;
}

int cn_thermal_ensemble_size(const cn_thermal_ensemble *e) { return e ? e->n : 0; }

const cn_thermal_model *cn_thermal_ensemble_member(const cn_thermal_ensemble *e, int i,
                                                   double *weight, double *offset_c,
                                                   double *perfusion_per_s)
{
    if (!e || i < 0 || i >= e->n)
        return NULL;
    if (weight)
        *weight = e->w[i];
    if (offset_c)
        *offset_c = e->mem[i].offset_c;
    if (perfusion_per_s)
        *perfusion_per_s = e->mem[i].perf;
    return e->mem[i].m;
}

int cn_thermal_ensemble_advance_member(cn_thermal_ensemble *e, int i, double t_s)
{
    if (!e || i < 0 || i >= e->n)
        return CN_EINVAL;
    return cn_thermal_model_advance_to(e->mem[i].m, t_s);
}

cn_thermal_model *cn_thermal_ensemble_take_member(cn_thermal_ensemble *e, int i)
{
    if (!e || i < 0 || i >= e->n)
        return NULL;
    return e->mem[i].m;
}

int cn_thermal_ensemble_catch_up(cn_thermal_ensemble *e, double t_s, int max_steps)
{
    if (!e || !isfinite(t_s))
        return CN_EINVAL;
    /* the most lagging members first, each by whole solver steps, until the
     * budget is spent: a frame's work stays bounded whatever the time scale */
    for (int k = 0; k < max_steps;) {
        int best = -1;
        double tb = t_s - 1e-9;
        for (int i = 0; i < e->n; i++) {
            double ti = cn_thermal_model_time_s(e->mem[i].m);
            if (ti < tb) {
                tb = ti;
                best = i;
            }
        }
        /* whole steps only: a step costs the same whatever its length, so a
         * member less than one step behind waits for a later frame */
        if (best < 0 || t_s - tb < e->o.dt_max_s)
            break;
        int n = (int)floor((t_s - tb) / e->o.dt_max_s + 1e-9);
        if (n > max_steps - k)
            n = max_steps - k;
        int rc = cn_thermal_model_advance_to(e->mem[best].m, tb + n * e->o.dt_max_s);
        if (rc)
            return rc;
        k += n;
    }
    return CN_OK;
}

static double member_ray(const member *mb, double zc, double temp, double theta)
{
    return cn_thermal_solver_ray_isotherm(cn_thermal_model_solver(mb->m), temp, 0, zc, theta, 150);
}

/* Log prior: weak, centred on the nominal surface temperature and perfusion. */
static double log_prior(const cn_thermal_ensemble *e, const member *mb)
{
    double a = mb->offset_c / e->o.prior_sd_c;
    double b = (mb->perf > 0 && e->perf0 > 0) ? log(mb->perf / e->perf0) / log(10.0) : 0;
    return -0.5 * (a * a + b * b);
}

static void update_weights(cn_thermal_ensemble *e)
{
    double best = INFINITY;
    for (int i = 0; i < e->n; i++)
        if (e->mem[i].wsum > 0)
            best = fmin(best, e->mem[i].sse / e->mem[i].wsum);
    double s2 = e->o.sigma_mm * e->o.sigma_mm + (isfinite(best) ? best : 0);
    double lmax = -INFINITY;
    for (int i = 0; i < e->n; i++) {
        const member *mb = &e->mem[i];
        double l = log_prior(e, mb);
        if (mb->wsum > 0) {
            double neff = fmin(mb->wsum, 20.0);
            l += -0.5 * neff * (mb->sse / mb->wsum - best) / s2;
        } else if (isfinite(best)) {
            l = -INFINITY;
        }
        e->w[i] = l;
        lmax = fmax(lmax, l);
    }
    double sum = 0;
    for (int i = 0; i < e->n; i++) {
        e->w[i] = isfinite(e->w[i]) ? exp(e->w[i] - lmax) : 0;
        sum += e->w[i];
    }
    for (int i = 0; i < e->n; i++)
        e->w[i] = sum > 0 ? e->w[i] / sum : 1.0 / e->n;
}

int cn_thermal_ensemble_observe(cn_thermal_ensemble *e, const cn_thermal_obs *obs, int n)
{
    if (!e || (n > 0 && !obs) || n < 0)
        return CN_EINVAL;
    /* at most 12 points per call: rim points of one frame say nearly the same thing,
     * and at 30 fps the next frame brings more */
    int stride = n > 12 ? (n + 11) / 12 : 1;
    for (int k = 0; k < n; k += stride) {
        const cn_thermal_obs *ob = &obs[k];
        if (!isfinite(ob->r_mm) || !isfinite(ob->z_mm) || !isfinite(ob->t_s))
            continue;
        double dz = ob->z_mm - e->zc, r = fabs(ob->r_mm);
        double dist = hypot(r, dz), th = atan2(r, dz);
        e->behind = 0;
        for (int i = 0; i < e->n; i++) {
            member *mb = &e->mem[i];
            /* a member lagging the observation (live catch-up at a high time
             * scale) would be judged on its past: it sits this one out */
            if (fabs(cn_thermal_model_time_s(mb->m) - ob->t_s) > 1.5) {
                e->behind++;
                continue;
            }
            if (e->o.memory_s > 0 && mb->wsum > 0 && ob->t_s > mb->last_t) {
                double f = exp(-(ob->t_s - mb->last_t) / e->o.memory_s);
                mb->sse *= f;
                mb->wsum *= f;
            }
            if (ob->t_s > mb->last_t)
                mb->last_t = ob->t_s;
            double res = dist - member_ray(mb, e->zc, 0, th);
            mb->sse += res * res;
            mb->wsum += 1;
        }
        e->n_obs++;
    }
    update_weights(e);
    return CN_OK;
}

void cn_thermal_ensemble_result(const cn_thermal_ensemble *e, cn_thermal_fit_result *out)
{
    memset(out, 0, sizeof *out);
    double best = INFINITY, r2 = 0;
    for (int i = 0; i < e->n; i++) {
        const member *mb = &e->mem[i];
        out->surface_offset_c += e->w[i] * mb->offset_c;
        out->perfusion_per_s += e->w[i] * mb->perf;
        if (mb->wsum > 0) {
            double ms = mb->sse / mb->wsum;
            r2 += e->w[i] * ms;
            best = fmin(best, ms);
        }
    }
    out->residual_mm = e->n_obs ? sqrt(r2) : NAN;
    out->best_residual_mm = isfinite(best) ? sqrt(best) : NAN;
    out->n_obs = e->n_obs;
    out->n_members = e->n;
    out->n_behind = e->behind;
}

double cn_thermal_ensemble_ray(const cn_thermal_ensemble *e, double temp_c, double theta_rad,
                               double *sd_mm)
{
    double mean = 0, m2 = 0, wt = 0;
    for (int i = 0; i < e->n; i++) {
        if (e->w[i] < 1e-3)
            continue;
        double d = member_ray(&e->mem[i], e->zc, temp_c, theta_rad);
        mean += e->w[i] * d;
        m2 += e->w[i] * d * d;
        wt += e->w[i];
    }
    mean /= wt;
    double var = fmax(0, m2 / wt - mean * mean);
    if (sd_mm) {
        cn_thermal_fit_result r;
        cn_thermal_ensemble_result(e, &r);
        double res = isfinite(r.residual_mm) ? r.residual_mm : 0;
        *sd_mm = sqrt(var + res * res);
    }
    return mean;
}

double cn_thermal_ensemble_radius_at(const cn_thermal_ensemble *e, double temp_c, double z_mm,
                                     double *sd_mm)
{
    double mean = 0, m2 = 0, wt = 0;
    for (int i = 0; i < e->n; i++) {
        if (e->w[i] < 1e-3)
            continue;
        double d = cn_thermal_model_radius_at(e->mem[i].m, temp_c, z_mm);
        mean += e->w[i] * d;
        m2 += e->w[i] * d * d;
        wt += e->w[i];
    }
    mean /= wt;
    if (sd_mm) {
        cn_thermal_fit_result r;
        cn_thermal_ensemble_result(e, &r);
        double res = isfinite(r.residual_mm) ? r.residual_mm : 0;
        *sd_mm = sqrt(fmax(0, m2 / wt - mean * mean) + res * res);
    }
    return mean;
}

const cn_thermal_model *cn_thermal_ensemble_best(const cn_thermal_ensemble *e)
{
    int b = 0;
    for (int i = 1; i < e->n; i++)
        if (e->w[i] > e->w[b])
            b = i;
    return e->mem[b].m;
}

int cn_thermal_ensemble_plane_isotherm(const cn_thermal_ensemble *e, const cn_thermal_plane *pl,
                                       double temp_c, cn_isotherm *iso)
{
    if (!e || !pl || !iso || !isfinite(temp_c))
        return CN_EINVAL;
    memset(iso, 0, sizeof *iso);
    iso->temp_c = (float)temp_c;
    /* the (at most 2) heaviest members carry the curve: the weights are sharply
     * peaked once a few frames of rim have been seen */
    int top[2], nt = 0;
    for (int k = 0; k < 2; k++) {
        int b = -1;
        for (int i = 0; i < e->n; i++) {
            bool used = false;
            for (int q = 0; q < nt; q++)
                used = used || top[q] == i;
            if (!used && e->w[i] >= 0.05 && (b < 0 || e->w[i] > e->w[b]))
                b = i;
        }
        if (b < 0)
            break;
        top[nt++] = b;
    }
    if (nt == 0)
        top[nt++] = 0;
    double cx, cy;
    int rc = cn__thermal_plane_centre(e->mem[top[0]].m, pl, &cx, &cy);
    if (rc)
        return rc;
    for (int k = 0; k < CN_THERMAL_RAYS; k++) {
        double a = 2 * M_PI * k / CN_THERMAL_RAYS, d = 0, wt = 0;
        for (int q = 0; q < nt; q++) {
            double dq = cn__thermal_plane_ray(e->mem[top[q]].m, pl, temp_c, cx, cy, a, e->o.h_mm, 80);
            d += e->w[top[q]] * fmax(dq, 0);
            wt += e->w[top[q]];
        }
        d /= wt;
        if (d <= 0)
            continue;
        iso->pts_mm[iso->n].x = (float)(cx + d * cos(a));
        iso->pts_mm[iso->n].y = (float)(cy + d * sin(a));
        iso->n++;
    }
    if (iso->n < 3)
        iso->n = 0;
    iso->radius_mm = (float)cn_thermal_ensemble_radius_at(e, temp_c, e->zc, NULL);
    return CN_OK;
}

static int cmp_obs(const void *a, const void *b)
{
    double ta = ((const cn_thermal_obs *)a)->t_s, tb = ((const cn_thermal_obs *)b)->t_s;
    return (ta > tb) - (ta < tb);
}

int cn_thermal_fit(const cn_cryoprobe *probe, const cn_protocol *protocol,
                   const cn_tissue *tissue, const cn_thermal_fit_opts *o,
                   const cn_thermal_obs *obs, int n_obs, cn_thermal_fit_result *out, char *err,
                   size_t err_len)
{
    if (!obs || n_obs < 1 || n_obs > 1000000 || !out) {
        snprintf(err, err_len, "thermal fit: needs 1 to 1000000 observations");
        return CN_EINVAL;
    }
    for (int i = 0; i < n_obs; i++)
        if (!isfinite(obs[i].r_mm) || !isfinite(obs[i].z_mm) || !isfinite(obs[i].t_s) ||
            obs[i].t_s < 0 || obs[i].t_s > 7200) {
            snprintf(err, err_len, "thermal fit: observation %d is not finite or its time is "
                                   "outside [0, 7200] s", i);
            return CN_EINVAL;
        }
    cn_thermal_obs *sorted = malloc(sizeof *sorted * (size_t)n_obs);
    if (!sorted) {
        snprintf(err, err_len, "thermal fit: out of memory");
        return CN_ENOMEM;
    }
    memcpy(sorted, obs, sizeof *sorted * (size_t)n_obs);
    qsort(sorted, (size_t)n_obs, sizeof *sorted, cmp_obs);
    cn_thermal_ensemble *e = cn_thermal_ensemble_new(probe, protocol, tissue, o, err, err_len);
    if (!e) {
        free(sorted);
        return CN_EINVAL;
    }
    int rc = CN_OK;
    for (int i = 0; i < n_obs && rc == CN_OK;) {
        int j = i;
        while (j < n_obs && sorted[j].t_s == sorted[i].t_s)
            j++;
        rc = cn_thermal_ensemble_advance_to(e, sorted[i].t_s, 0);
        if (!rc)
            rc = cn_thermal_ensemble_observe(e, sorted + i, j - i);
        i = j;
    }
    if (!rc)
        cn_thermal_ensemble_result(e, out);
    else
        snprintf(err, err_len, "thermal fit: %s", cn_strerror(rc));
    cn_thermal_ensemble_free(e);
    free(sorted);
    return rc;
}

int cn_thermal_obs_from_front(const cn_ice_front *front, const cn_thermal_plane *pl, double t_s,
                              cn_thermal_obs *out, int max_out)
{
    if (!front || !pl || !out || max_out < 0)
        return CN_EINVAL;
    int k = 0;
    for (int i = 0; i < front->n && i < CN_ICE_PTS_MAX && k < max_out; i++) {
        cn_vec3 p = cn_mat4_apply_point(&pl->image_mm_to_probe,
                                        (cn_vec3){front->pts_mm[i].x, front->pts_mm[i].y, 0});
        if (!isfinite(p.x) || !isfinite(p.y) || !isfinite(p.z))
            continue;
        out[k].r_mm = hypot(p.x, p.y);
        out[k].z_mm = p.z;
        out[k].t_s = t_s;
        k++;
    }
    return k;
}
