/*
 * field_assim.c - the rim seen in a passive thaw, taken as a bound on the model's ice.
 *
 * The fit (fit.c) weighs members by their distance to the rim, so it can only choose among
 * the ice the members make; in a passive thaw they all make the same slow thaw (an
 * insulated probe wall: the real thaw's heat, from tissue, blood and probe, is unknown and
 * differs by tissue and probe), and the model's 0 C curve lagged the ice seen by up to
 * 2.7 mm (review 39b F3). What the rim does say is one-sided: the tissue beyond it is not
 * frozen. So each member whose front stands beyond the rim is melted down to it, the
 * member's own front shape scaled about the active segment's centre (solver_melt.c). No
 * thaw rate is assumed: the model thaws as it does, and the rim only bounds it.
 */
#include "field_internal.h"

#include <math.h>
#include <stdlib.h>

/* rim points per member and call (in their order along the rim): 24 directions of one
 * frame's rim are as good as all of them */
#define ASSIM_RAYS 24
/* each direction's excess and scale: the median of this many neighbouring directions, so
 * one rim point's noise neither melts the model nor decides where it is cut */
#define ASSIM_SMOOTH 5

typedef struct {
    double th, ex, k;
} rim_ray;

static int cmp_ray(const void *a, const void *b)
{
    const double x = ((const rim_ray *)a)->th, y = ((const rim_ray *)b)->th;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The model's 0 C front along the rays of the rim points from (0, zc), by direction:
 * th[] ascending, ex[] the front's excess over the rim (mm) and k[] (rim + margin) / front,
 * each the median over ASSIM_SMOOTH neighbouring directions. Returns the directions (0:
 * no ice along any). */
static int member_rays(const cn_thermal_solver *sv, double zc, const cn_thermal_obs *obs, int n,
                       double margin_mm, double *th, double *ex, double *k)
{
    rim_ray ray[ASSIM_RAYS];
    const int stride = n > ASSIM_RAYS ? (n + ASSIM_RAYS - 1) / ASSIM_RAYS : 1;
    int m = 0;
    for (int q = 0; q < n && m < ASSIM_RAYS; q += stride) {
        const double dz = obs[q].z_mm - zc, r = fabs(obs[q].r_mm);
        const double dist = hypot(r, dz);
        if (!isfinite(dist))
            continue;
        const double a = atan2(r, dz);
        const double front = cn_thermal_solver_ray_isotherm(sv, 0, 0, zc, a, 150);
        if (!(front > 0))
            continue; /* no ice along this ray: nothing to bound */
        ray[m++] = (rim_ray){a, front - dist, (dist + margin_mm) / front};
    }
    qsort(ray, (size_t)m, sizeof *ray, cmp_ray);
    for (int q = 0; q < m; q++) {
        double e[ASSIM_SMOOTH], s[ASSIM_SMOOTH];
        int c = 0;
        for (int u = q - ASSIM_SMOOTH / 2; u <= q + ASSIM_SMOOTH / 2; u++)
            if (u >= 0 && u < m) {
                e[c] = ray[u].ex;
                s[c++] = ray[u].k;
            }
        qsort(e, (size_t)c, sizeof *e, cmp_double);
        qsort(s, (size_t)c, sizeof *s, cmp_double);
        th[q] = ray[q].th;
        ex[q] = c % 2 ? e[c / 2] : 0.5 * (e[c / 2 - 1] + e[c / 2]);
        k[q] = c % 2 ? s[c / 2] : 0.5 * (s[c / 2 - 1] + s[c / 2]);
    }
    return m;
}

static double max_of(const double *v, int n)
{
    double x = NAN;
    for (int q = 0; q < n; q++)
        x = q == 0 ? v[q] : fmax(x, v[q]);
    return x;
}

double cn__field_rim_excess(const cn__field *fl, const cn_thermal_obs *obs, int n)
{
    int top[TOP];
    if (!fl || fl->grid || !obs || n <= 0 || cn__field_top(fl, top, NULL) < 1)
        return NAN;
    const cn_thermal_model *m = cn_thermal_ensemble_member(fl->ens, top[0], NULL, NULL, NULL);
    double th[ASSIM_RAYS], ex[ASSIM_RAYS], k[ASSIM_RAYS];
    const int nr = member_rays(cn_thermal_model_solver(m), -fl->o.probe.active_length_mm / 2,
                               obs, n, 0, th, ex, k);
    return max_of(ex, nr);
}

int cn__field_melt_to_rim(cn__field *fl, const cn_thermal_obs *obs, int n, double margin_mm,
                          int *members, int *n_cells)
{
    *members = *n_cells = 0;
    if (!fl || !obs || n <= 0 || !(margin_mm >= 0))
        return CN_EINVAL;
    if (fl->grid)
        return CN_OK; /* several spots: the fit and this bound belong to one spot */
    const double zc = -fl->o.probe.active_length_mm / 2;
    for (int i = 0; i < cn_thermal_ensemble_size(fl->ens); i++) {
        cn_thermal_model *m = cn_thermal_ensemble_take_member(fl->ens, i);
        /* a member lagging the rim's time (live catch-up) would be cut to a rim of its
         * future: it sits this one out, as it does the fit's observations */
        if (fabs(cn_thermal_model_time_s(m) - obs[0].t_s) > 1.5)
            continue;
        cn_thermal_solver *sv = cn_thermal_model_solver_mut(m);
        double th[ASSIM_RAYS], ex[ASSIM_RAYS], k[ASSIM_RAYS];
        const int nr = member_rays(sv, zc, obs, n, margin_mm, th, ex, k);
        if (!(max_of(ex, nr) > margin_mm))
            continue;
        for (int q = 0; q < nr; q++)
            k[q] = fmin(1, k[q]);
        int cells = 0;
        int rc = cn_thermal_solver_melt_beyond(sv, zc, th, k, nr, &cells);
        if (rc)
            return rc;
        *n_cells += cells;
        (*members)++;
    }
    return CN_OK;
}
