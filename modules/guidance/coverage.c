/*
 * coverage.c - fraction of a target polygon's area inside a zone polygon.
 *
 * The idea: scanline area. Each row (every grid_mm, sampled at its centre) cuts
 * both polygons into sorted x intervals (even-odd rule); the covered length of
 * the row is the exact overlap of the two interval lists. Summing rows gives both
 * areas with the midpoint rule in y and no error in x, so a 0.1 mm grid is well
 * within 1 % on a nerve of a few mm, and a 256-point contour costs a few tens of
 * thousands of edge tests (microseconds): no raster, no allocation, no clipping
 * library needed for concave outlines.
 */
#include "guidance/guidance.h"

#include <math.h>

/* Bounded so that crossings fit on the stack (the frame's contours hold 256). */
#define COV_MAX_PTS 1024
/* A target spanning more rows than this gets a coarser grid (bad input stays fast). */
#define COV_MAX_ROWS 20000

static bool poly_ok(const cn_pt2 *p, int n)
{
    if (!p || n < 3 || n > COV_MAX_PTS)
        return false;
    for (int i = 0; i < n; i++)
        if (!isfinite(p[i].x) || !isfinite(p[i].y))
            return false;
    return true;
}

/* Sorted x where the horizontal line y crosses the polygon's edges. Half-open in
 * y, so a vertex on the line is counted once and the count is even. */
static int crossings(const cn_pt2 *p, int n, double y, double *xs)
{
    int k = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        double yi = p[i].y, yj = p[j].y;
        if ((yi > y) != (yj > y)) {
            double x = p[i].x + (y - yi) * (p[j].x - p[i].x) / (yj - yi);
            /* insertion sort: rows cut a contour a handful of times */
            int m = k++;
            while (m > 0 && xs[m - 1] > x) {
                xs[m] = xs[m - 1];
                m--;
            }
            xs[m] = x;
        }
    }
    return k & ~1;
}

static double length(const double *a, int na)
{
    double s = 0;
    for (int i = 0; i + 1 < na; i += 2)
        s += a[i + 1] - a[i];
    return s;
}

/* Total overlap of two sorted interval lists [a0,a1],[a2,a3]... */
static double overlap(const double *a, int na, const double *b, int nb)
{
    double s = 0;
    int i = 0, j = 0;
    while (i + 1 < na && j + 1 < nb) {
        double lo = fmax(a[i], b[j]), hi = fmin(a[i + 1], b[j + 1]);
        if (hi > lo)
            s += hi - lo;
        if (a[i + 1] < b[j + 1])
            i += 2;
        else
            j += 2;
    }
    return s;
}

double cn_guidance_coverage(const cn_pt2 *target, int n_target, const cn_pt2 *zone, int n_zone,
                            double grid_mm)
{
    if (!poly_ok(target, n_target) || !(grid_mm > 0) || !isfinite(grid_mm))
        return -1;
    bool have_zone = poly_ok(zone, n_zone);
    double y0 = target[0].y, y1 = target[0].y;
    for (int i = 1; i < n_target; i++) {
        y0 = fmin(y0, target[i].y);
        y1 = fmax(y1, target[i].y);
    }
    double zy0 = INFINITY, zy1 = -INFINITY;
    for (int i = 0; have_zone && i < n_zone; i++) {
        zy0 = fmin(zy0, zone[i].y);
        zy1 = fmax(zy1, zone[i].y);
    }
    double span = y1 - y0;
    if (!(span > 0))
        return -1;
    int rows = (int)ceil(span / grid_mm);
    if (rows < 1)
        rows = 1;
    if (rows > COV_MAX_ROWS)
        rows = COV_MAX_ROWS;
    double h = span / rows;
    double xt[COV_MAX_PTS], xz[COV_MAX_PTS];
    double area = 0, covered = 0;
    for (int r = 0; r < rows; r++) {
        double y = y0 + (r + 0.5) * h;
        int nt = crossings(target, n_target, y, xt);
        if (nt == 0)
            continue;
        area += length(xt, nt);
        if (have_zone && y > zy0 && y < zy1) {
            int nz = crossings(zone, n_zone, y, xz);
            covered += overlap(xt, nt, xz, nz);
        }
    }
    if (!(area > 0))
        return -1;
    double c = covered / area;
    return c < 0 ? 0 : c > 1 ? 1 : c;
}
