/*
 * geometry.c - from the axisymmetric temperature field to what the clinician
 * sees: the ultrasound plane's mapping into the probe frame, isotherm curves in
 * the image, target coverage, and distances to the skin or to any plane.
 *
 * The idea: the model knows T(r, z) about the probe axis; any point of the image
 * maps into the probe frame through image_mm_to_probe, so an image-plane isotherm
 * is found by casting rays in the image from the projection of the active
 * segment's centre and bisecting T along each ray (the frozen region is
 * star-shaped about that centre). No global re-meshing is needed per frame.
 */
#include "thermal_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RAY_COUNT CN_THERMAL_RAYS

void cn_thermal_plane_from_needle(cn_pt2 tip, cn_pt2 dir, cn_thermal_plane *out)
{
    double dx = dir.x, dy = dir.y, n = hypot(dx, dy);
    if (!(n > 0)) {
        dx = 1;
        dy = 0;
        n = 1;
    }
    dx /= n;
    dy /= n;
    /* probe z = insertion direction, x = in-plane normal, y = out of the plane */
    cn_mat4 m = cn_mat4_identity();
    m.m[0] = -dy;
    m.m[1] = dx;
    m.m[2] = 0;
    m.m[3] = -(-dy * tip.x + dx * tip.y);
    m.m[4] = 0;
    m.m[5] = 0;
    m.m[6] = 1;
    m.m[7] = 0;
    m.m[8] = dx;
    m.m[9] = dy;
    m.m[10] = 0;
    m.m[11] = -(dx * tip.x + dy * tip.y);
    out->image_mm_to_probe = m;
}

static double plane_temp(const cn_thermal_model *m, const cn_thermal_plane *pl, double x, double y)
{
    cn_vec3 p = cn_mat4_apply_point(&pl->image_mm_to_probe, (cn_vec3){x, y, 0});
    return cn_thermal_model_temp_at(m, p);
}

/* The projection of the active segment's centre onto the image (image mm). */
int cn__thermal_plane_centre(const cn_thermal_model *m, const cn_thermal_plane *pl, double *cx,
                             double *cy)
{
    cn_mat4 inv;
    if (cn_mat4_invert(&pl->image_mm_to_probe, &inv))
        return CN_EINVAL;
    cn_vec3 c = {0, 0, -cn_thermal_model_probe(m)->active_length_mm / 2};
    cn_vec3 q = cn_mat4_apply_point(&inv, c);
    *cx = q.x;
    *cy = q.y;
    return CN_OK;
}

/* Distance along a ray in the image to the outermost point at or below temp. */
double cn__thermal_plane_ray(const cn_thermal_model *m, const cn_thermal_plane *pl, double temp,
                             double cx, double cy, double ang, double step, double max_mm)
{
    double ux = cos(ang), uy = sin(ang);
    double last_in = -1;
    for (double d = 0; d <= max_mm; d += step) {
        if (plane_temp(m, pl, cx + d * ux, cy + d * uy) <= temp)
            last_in = d;
        else if (last_in >= 0 && d > last_in + 3)
            break;
    }
    if (last_in < 0)
        return -1;
    double lo = last_in, hi = last_in + step;
    for (int k = 0; k < 16; k++) {
        double mid = 0.5 * (lo + hi);
        if (plane_temp(m, pl, cx + mid * ux, cy + mid * uy) <= temp)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

int cn_thermal_model_plane_isotherm(const cn_thermal_model *m, const cn_thermal_plane *pl,
                                    double temp_c, cn_isotherm *iso)
{
    if (!m || !pl || !iso || !isfinite(temp_c) || !cn_mat4_is_finite(&pl->image_mm_to_probe))
        return CN_EINVAL;
    memset(iso, 0, sizeof *iso);
    iso->temp_c = (float)temp_c;
    double cx, cy;
    int rc = cn__thermal_plane_centre(m, pl, &cx, &cy);
    if (rc)
        return rc;
    double step = 0.25;
    for (int k = 0; k < RAY_COUNT; k++) {
        double a = 2 * M_PI * k / RAY_COUNT;
        double d = cn__thermal_plane_ray(m, pl, temp_c, cx, cy, a, step, 80);
        if (d <= 0)
            continue;
        iso->pts_mm[iso->n].x = (float)(cx + d * cos(a));
        iso->pts_mm[iso->n].y = (float)(cy + d * sin(a));
        iso->n++;
    }
    if (iso->n < 3)
        iso->n = 0;
    iso->radius_mm =
        (float)cn_thermal_model_radius_at(m, temp_c, -cn_thermal_model_probe(m)->active_length_mm / 2);
    return CN_OK;
}

/* ---------------------------------------------------------------- target */

static bool inside(const cn_pt2 *p, int n, double x, double y)
{
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        if ((p[i].y > y) != (p[j].y > y) &&
            x < (p[j].x - p[i].x) * (y - p[i].y) / (p[j].y - p[i].y) + p[i].x)
            in = !in;
    }
    return in;
}

/* Samples of the polygon's interior on a grid of about 400 points. */
static int target_samples(const cn_pt2 *poly, int n, double *xs, double *ys, int max)
{
    double x0 = poly[0].x, x1 = x0, y0 = poly[0].y, y1 = y0;
    for (int i = 1; i < n; i++) {
        x0 = fmin(x0, poly[i].x);
        x1 = fmax(x1, poly[i].x);
        y0 = fmin(y0, poly[i].y);
        y1 = fmax(y1, poly[i].y);
    }
    double area = (x1 - x0) * (y1 - y0);
    double step = sqrt(area / 400.0);
    if (!(step > 0.02))
        step = 0.02;
    int k = 0;
    for (double y = y0 + step / 2; y < y1 && k < max; y += step)
        for (double x = x0 + step / 2; x < x1 && k < max; x += step)
            if (inside(poly, n, x, y)) {
                xs[k] = x;
                ys[k] = y;
                k++;
            }
    if (k == 0) { /* a sliver: use its vertices */
        for (int i = 0; i < n && k < max; i++) {
            xs[k] = poly[i].x;
            ys[k] = poly[i].y;
            k++;
        }
    }
    return k;
}

static void target_eval(const cn_thermal_model *m, const cn_thermal_plane *pl, const double *xs,
                        const double *ys, int k, cn_thermal_target *out)
{
    double tmin = INFINITY, tmax = -INFINITY;
    int cold = 0;
    for (int i = 0; i < k; i++) {
        double t = plane_temp(m, pl, xs[i], ys[i]);
        tmin = fmin(tmin, t);
        tmax = fmax(tmax, t);
        if (t <= -20)
            cold++;
    }
    out->temp_min_c = tmin;
    out->temp_max_c = tmax;
    out->coverage = k ? (double)cold / k : 0;
}

int cn_thermal_model_target(const cn_thermal_model *m, const cn_thermal_plane *pl,
                            const cn_pt2 *poly_mm, int n, bool predict, cn_thermal_target *out)
{
    if (!m || !pl || !poly_mm || !out || n < 3 || n > 100000)
        return CN_EINVAL;
    for (int i = 0; i < n; i++)
        if (!isfinite(poly_mm[i].x) || !isfinite(poly_mm[i].y))
            return CN_EINVAL;
    enum { MAXS = 600 };
    double *xs = malloc(sizeof(double) * MAXS), *ys = malloc(sizeof(double) * MAXS);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return CN_ENOMEM;
    }
    int k = target_samples(poly_mm, n, xs, ys, MAXS);
    target_eval(m, pl, xs, ys, k, out);
    out->time_to_full_s = NAN;
    if (out->coverage >= 1) {
        out->time_to_full_s = cn_thermal_model_time_s(m);
    } else if (predict) {
        /* step a copy through the rest of the protocol; temperatures only fall
         * while freezing, so the first time the warmest sample is <= -20 C wins */
        cn_thermal_model *c = cn_thermal_model_clone(m);
        const cn_protocol *pr = cn_thermal_model_protocol(m);
        double t = cn_thermal_model_time_s(m), end = 0, t0 = 0;
        for (int i = 0; i < pr->n_steps; i++) { /* the end of the last freeze */
            t0 += pr->steps[i].duration_s;
            if (pr->steps[i].kind == CN_STEP_FREEZE)
                end = t0;
        }
        /* the cold keeps spreading a little after the probe stops */
        end = fmin(end + 30, t + 3600);
        while (c && t < end) {
            t += 2.0;
            if (cn_thermal_model_advance_to(c, t))
                break;
            cn_thermal_target tt;
            target_eval(c, pl, xs, ys, k, &tt);
            if (tt.coverage >= 1) {
                out->time_to_full_s = t; /* 2 s resolution: the model's own is ~1 s */
                break;
            }
        }
        cn_thermal_model_free(c);
    }
    free(xs);
    free(ys);
    return CN_OK;
}

/* ---------------------------------------------------------------- distances */

double cn_thermal_model_distance_to_plane(const cn_thermal_model *m, double temp_c,
                                          cn_vec3 point_mm, cn_vec3 normal)
{
    double nn = cn_vec3_norm(normal);
    if (!m || !(nn > 0) || !isfinite(nn))
        return NAN;
    cn_vec3 n = cn_vec3_scale(normal, 1 / nn);
    enum { NA = 181 };
    double r[NA], z[NA];
    if (cn_thermal_model_outline(m, temp_c, NA, r, z) < 3)
        return NAN;
    double nxy = hypot(n.x, n.y), best = INFINITY;
    for (int k = 0; k < NA; k++) {
        /* over the revolution, n.x is smallest where the point faces away */
        double d = n.z * z[k] - r[k] * nxy;
        best = fmin(best, d);
    }
    return best - cn_vec3_dot(n, point_mm);
}

double cn_thermal_model_distance_to_skin(const cn_thermal_model *m, const cn_thermal_plane *pl,
                                         double temp_c, double skin_y_mm)
{
    if (!m || !pl || !isfinite(skin_y_mm))
        return NAN;
    cn_isotherm iso;
    if (cn_thermal_model_plane_isotherm(m, pl, temp_c, &iso) || iso.n == 0)
        return NAN;
    double best = INFINITY;
    for (int i = 0; i < iso.n; i++)
        best = fmin(best, iso.pts_mm[i].y - skin_y_mm);
    return best;
}
