/*
 * stage_curves.c - the zone's curves in the image: where the model's 0, -20 and
 * -40 C isotherms cross the frame's image plane.
 *
 * The idea: one ray march from the zone's centre (projected into the image) per
 * direction, every sample read once for every member, gives the three curves at
 * once; the march stops a little beyond the last cold sample, so a small ball in a
 * large image costs little. Split from stage.c, which keeps the procedure logic.
 */
#include "thermal_internal.h"

#include <math.h>
#include <string.h>

static const float TEMPS[3] = CN_ZONE_TEMPS_C; /* the same as CN__FIELD_TEMPS */

/* [t_in, t_out] of the ray c + t u inside the rectangle; false when it misses. */
static bool clip_ray(double cx, double cy, double ux, double uy, const double r[4], double *t_in,
                     double *t_out)
{
    double t0 = 0, t1 = INFINITY;
    double p[2] = {cx, cy}, d[2] = {ux, uy}, lo[2] = {r[0], r[1]}, hi[2] = {r[2], r[3]};
    for (int a = 0; a < 2; a++) {
        if (fabs(d[a]) < 1e-12) {
            if (p[a] < lo[a] || p[a] > hi[a])
                return false;
            continue;
        }
        double ta = (lo[a] - p[a]) / d[a], tb = (hi[a] - p[a]) / d[a];
        if (ta > tb) {
            double t = ta;
            ta = tb;
            tb = t;
        }
        t0 = fmax(t0, ta);
        t1 = fmin(t1, tb);
    }
    *t_in = t0;
    *t_out = t1;
    return t1 > t0;
}

/* The 0 / -20 / -40 C curves in one march per ray: every sample is read once
 * for every member, each isotherm keeps its own outermost crossing, and the ray
 * stops 3 mm beyond the last sample at or below 0 C (or at the image / skin
 * border, where a curve that goes on beyond is drawn along the border). */
void cn__field_curves(const cn__field *field, double skin_depth_mm, const cn_frame *f,
                      const cn_mat4 *img_to_field, cn_isotherm iso[3])
{
    cn__member mem[2];
    int nm = cn__field_members(field, mem, 2);
    cn_mat4 field_to_img;
    cn_mat4_invert(img_to_field, &field_to_img);
    cn_vec3 cf = cn__field_centre(field);
    cn_vec3 ci = cn_mat4_apply_point(&field_to_img, cf);
    double sx = f->spacing_mm[0] > 0 ? f->spacing_mm[0] : 1, sy = f->spacing_mm[1] > 0 ? f->spacing_mm[1] : 1;
    const double rect[4] = {0, fmax(0, skin_depth_mm), f->width * sx, f->height * sy};
    const double step = 0.25, max_mm = 80, core = cn__field_warm_core_mm(field);
    for (int k = 0; k < 3; k++) {
        memset(&iso[k], 0, sizeof iso[k]);
        iso[k].temp_c = TEMPS[k];
        iso[k].centre_mm = (cn_pt2){(float)ci.x, (float)ci.y};
    }
    if (nm == 0 || !isfinite(ci.x) || !isfinite(ci.y))
        return;
    for (int ray = 0; ray < CN_THERMAL_RAYS; ray++) {
        double a = 2 * M_PI * ray / CN_THERMAL_RAYS, ux = cos(a), uy = sin(a);
        double t_in, t_out;
        if (!clip_ray(ci.x, ci.y, ux, uy, rect, &t_in, &t_out))
            continue;
        double t_end = fmin(t_out, max_mm);
        double cross[2][3] = {{0}}, tprev[2] = {NAN, NAN}, last_cold = -1, dprev = NAN;
        for (double d = t_in;; d += step) {
            bool at_end = d >= t_end;
            if (at_end)
                d = t_end;
            cn_vec3 p = cn_mat4_apply_point(img_to_field, (cn_vec3){ci.x + d * ux, ci.y + d * uy, 0});
            bool any_cold = false;
            for (int m = 0; m < nm; m++) {
                double t = cn__member_temp(&mem[m], p);
                for (int k = 0; k < 3; k++) {
                    if (!isnan(tprev[m]) && tprev[m] <= TEMPS[k] && t > TEMPS[k])
                        cross[m][k] = dprev + (d - dprev) * (TEMPS[k] - tprev[m]) / (t - tprev[m]);
                    else if (t <= TEMPS[k] && at_end)
                        cross[m][k] = d; /* beyond the border: drawn along it */
                }
                any_cold = any_cold || t <= TEMPS[0];
                tprev[m] = t;
            }
            dprev = d;
            if (any_cold)
                last_cold = d;
            if (at_end || (d > (last_cold >= 0 ? last_cold : t_in) + 3.0 && d > t_in + core))
                break;
        }
        for (int k = 0; k < 3; k++) {
            double dk = 0;
            for (int m = 0; m < nm; m++)
                dk += mem[m].w * cross[m][k];
            if (dk <= 0 || iso[k].n >= CN_CONTOUR_MAX)
                continue;
            iso[k].pts_mm[iso[k].n].x = (float)(ci.x + dk * ux);
            iso[k].pts_mm[iso[k].n].y = (float)(ci.y + dk * uy);
            iso[k].n++;
        }
    }
    for (int k = 0; k < 3; k++)
        if (iso[k].n < 3)
            iso[k].n = 0;
}
