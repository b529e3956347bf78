/*
 * nerve_live_outline.c - measures of a followed nerve outline that nerve_live.c's
 * decisions read: how bright its inside is (still in the ice's shadow?), how much of
 * it lies under the ice rim (hidden?), and how large it is (a speck or a whole shadow
 * is not the operator's nerve). Pure functions of the outline and the frame.
 */
#include "nerve_live.h"

#include <math.h>

/* Mean grey level inside an outline (image mm), sampled at its centre and half and
 * three quarters of the way to each vertex (nearest pixel). */
double nerve_outline_inside_mean(const cn_frame *f, const cn_contour *c)
{
    double cx = 0, cy = 0;
    for (int i = 0; i < c->n; i++) {
        cx += c->pts_mm[i].x;
        cy += c->pts_mm[i].y;
    }
    cx /= c->n;
    cy /= c->n;
    double sum = 0;
    int cnt = 0;
    for (int i = -1; i < c->n; i++)
        for (double a = 0.5; a < 1.0; a += 0.25) {
            double x = i < 0 ? cx : cx + a * (c->pts_mm[i].x - cx);
            double y = i < 0 ? cy : cy + a * (c->pts_mm[i].y - cy);
            int px = (int)(x / f->spacing_mm[0]), py = (int)(y / f->spacing_mm[1]);
            if (px < 0 || py < 0 || px >= f->width || py >= f->height)
                continue;
            sum += f->pixels[(size_t)py * f->width + px];
            cnt++;
            if (i < 0)
                break; /* the centre once */
        }
    return cnt ? sum / cnt : 0;
}

/* Fraction of the outline's points under the visible ice rim: a rim point within
 * 1 mm to the side that lies no deeper than the outline point (the ice itself or
 * the shadow it casts). */
double nerve_outline_under_ice(const cn_contour *c, const cn_ice_front *ice)
{
    int under = 0;
    for (int i = 0; i < c->n; i++) {
        for (int k = 0; k < ice->n; k++)
            if (fabs(ice->pts_mm[k].x - c->pts_mm[i].x) <= 1.0f &&
                ice->pts_mm[k].y <= c->pts_mm[i].y) {
                under++;
                break;
            }
    }
    return c->n ? (double)under / c->n : 0;
}

/* The area of the outline's bounding box, mm^2 (0 for fewer than 3 points). */
double nerve_outline_bbox_area_mm2(const cn_contour *c)
{
    if (c->n < 3)
        return 0;
    float x0 = c->pts_mm[0].x, x1 = x0, y0 = c->pts_mm[0].y, y1 = y0;
    for (int i = 1; i < c->n; i++) {
        x0 = fminf(x0, c->pts_mm[i].x);
        x1 = fmaxf(x1, c->pts_mm[i].x);
        y0 = fminf(y0, c->pts_mm[i].y);
        y1 = fmaxf(y1, c->pts_mm[i].y);
    }
    return (double)(x1 - x0) * (double)(y1 - y0);
}
