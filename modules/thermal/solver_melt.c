/*
 * solver_melt.c - the model's ice taken back to a smaller front (the image's rim in a
 * passive thaw shows where the tissue is not frozen; cn__field_melt_to_rim).
 *
 * The front is the model's own, scaled about a centre c by k(theta), a scale for each
 * direction from c (the rim's points say how far the front must come in, direction by
 * direction): a tissue cell at p that the model holds at or below 0 C takes the
 * temperature the model has at p' = c + (p - c) / k, the point that the scaling (k < 1)
 * brings to p: the whole frozen profile is drawn in by the same scale, so the new front lies
 * where the scaled one does, the tissue beyond it is warmer than 0 C, and the -20 / -40 C
 * curves come in with it. Only the shell beyond the scaled front, warmed to just above 0 C
 * against the unchanged cold inside it, refroze within a second (0.2-0.5 mm: the zone
 * pulsed; review 40 F1); the interior of ice that thaws faster than the model is warmer
 * than the model's too. Only tissue at or below 0 C is touched and only ever warmed (the
 * profile rises outward): the correction never adds ice. The heat it adds is booked in the
 * energy account's source term (the heat the model's insulated probe wall did not bring),
 * so the account stays closed.
 */
#include "solver_internal.h"

#include <math.h>
#include <stdlib.h>

/* k at direction th: linear between the table's directions, its end values beyond them */
static double scale_at(const double *theta, const double *k, int n, double th)
{
    if (th <= theta[0])
        return k[0];
    if (th >= theta[n - 1])
        return k[n - 1];
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (theta[mid] <= th)
            lo = mid;
        else
            hi = mid;
    }
    const double w = theta[hi] > theta[lo] ? (th - theta[lo]) / (theta[hi] - theta[lo]) : 0;
    return k[lo] + w * (k[hi] - k[lo]);
}

int cn_thermal_solver_melt_beyond(cn_thermal_solver *s, double zc_mm, const double *theta,
                                  const double *k, int n_k, int *n_cells)
{
    if (n_cells)
        *n_cells = 0;
    if (!s || !isfinite(zc_mm) || !theta || !k || n_k < 1)
        return CN_EINVAL;
    for (int q = 0; q < n_k; q++)
        if (!(k[q] > 0 && k[q] <= 1) || !isfinite(theta[q]) || (q > 0 && theta[q] < theta[q - 1]))
            return CN_EINVAL;
    if (s->o.geometry != CN_GEOM_AXISYMMETRIC)
        return CN_EUNSUPPORTED;
    const int i1 = s->ihi < s->nr - 1 ? s->ihi : s->nr - 1;
    const int j0 = s->jlo > 0 ? s->jlo : 0, j1 = s->jhi < s->nz - 1 ? s->jhi : s->nz - 1;
    if (j1 < j0 || i1 < 0)
        return CN_OK;
    /* the new temperatures are read from the field as it was: computed first, then set */
    const size_t w = (size_t)(i1 + 1);
    double *tn = malloc(sizeof *tn * w * (size_t)(j1 - j0 + 1));
    if (!tn)
        return CN_ENOMEM;
    for (int j = j0; j <= j1; j++) {
        const size_t row = (size_t)j * s->nr;
        const double dz = s->zc[j] * 1e3 - zc_mm;
        for (int i = 0; i <= i1; i++) {
            double *t = &tn[(size_t)(j - j0) * w + (size_t)i];
            *t = NAN;
            if (s->kind[row + i] != K_TISSUE || s->T[row + i] > 0)
                continue;
            const double r = s->rc[i] * 1e3;
            const double kk = scale_at(theta, k, n_k, atan2(r, dz));
            if (kk >= 1)
                continue;
            const double tp = cn_thermal_solver_temp_at(s, r / kk, zc_mm + dz / kk);
            if (tp > s->T[row + i])
                *t = tp;
        }
    }
    int n = 0;
    for (int j = j0; j <= j1; j++) {
        const size_t row = (size_t)j * s->nr;
        for (int i = 0; i <= i1; i++) {
            const double t = tn[(size_t)(j - j0) * w + (size_t)i];
            if (isnan(t))
                continue;
            const double h = cn__h_of_t(&s->mat, t);
            if (h <= s->H[row + i])
                continue;
            s->en.source_j += (h - s->H[row + i]) * s->vr[i] * s->dz[j];
            s->H[row + i] = h;
            s->T[row + i] = cn__t_of_h(&s->mat, h);
            n++;
        }
    }
    free(tn);
    if (n_cells)
        *n_cells = n;
    return CN_OK;
}
