/*
 * solver3d_well.c - the face factor of the 3-D grid's probe column: the steady
 * flow out of a cross-section of the grid, solved once per probe placement, so
 * the rasterised probe (one or a few cells) draws what a cylinder of the true
 * radius would (Peaceman's well correction, computed on the actual raster rather
 * than taken from the one-cell formula; see solver3d.c).
 */
#include "solver_internal.h"

#include <math.h>
#include <stdlib.h>

/* The steady flow (unit conductivity, unit temperature difference, per unit
 * length) out of a cross-section of the grid: cells of kind 1 (the probe's
 * raster) held at 0 with their faces to the tissue scaled by m, kind 2 (beyond
 * the outer radius) at 1, kind 0 tissue. Cell size 1. SOR, red-black. */
static double section_flow(int N, const unsigned char *kind, double m, int *n_faces, double *buf)
{
    for (int c = 0; c < N * N; c++)
        buf[c] = kind[c] == 1 ? 0 : 1;
    const int d[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    for (int it = 0; it < 20000; it++) {
        double change = 0;
        for (int color = 0; color < 2; color++)
            for (int j = 1; j + 1 < N; j++)
                for (int i = 1 + ((j + color) & 1); i + 1 < N; i += 2) {
                    if (kind[j * N + i] != 0)
                        continue;
                    double num = 0, den = 0;
                    for (int q = 0; q < 4; q++) {
                        int nb = (j + d[q][1]) * N + i + d[q][0];
                        double c = kind[nb] == 1 ? 2 * m : 1;
                        num += c * (kind[nb] == 1 ? 0 : buf[nb]);
                        den += c;
                    }
                    double t = buf[j * N + i], tn = t + 1.9 * (num / den - t);
                    change = fmax(change, fabs(tn - t));
                    buf[j * N + i] = tn;
                }
        if (change < 1e-10)
            break;
    }
    double q = 0;
    int nf = 0;
    for (int j = 1; j + 1 < N; j++)
        for (int i = 1; i + 1 < N; i++) {
            if (kind[j * N + i] != 1)
                continue;
            for (int qq = 0; qq < 4; qq++) {
                int nb = (j + d[qq][1]) * N + i + d[qq][0];
                if (kind[nb] == 0) {
                    q += 2 * m * buf[nb];
                    nf++;
                }
            }
        }
    if (n_faces)
        *n_faces = nf;
    return q;
}

static void section_kinds(int N, double cx, double cy, double rho_b, double R, unsigned char *kind)
{
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            double r = hypot(i + 0.5 - cx, j + 0.5 - cy);
            kind[j * N + i] = r >= R ? 2
                              : (r <= rho_b || (i == (int)floor(cx) && j == (int)floor(cy))) ? 1
                                                                                            : 0;
        }
}

/* The face factor m that makes the rasterised probe (cells within rho_b cells of
 * the axis at (cx, cy) in its cell) draw what a cylinder of radius r0 cells
 * would. The outer boundary's own effect is removed with Peaceman's exact
 * single-cell result (a one-cell well is a cylinder of radius exp(-pi/2)). */
double cn__well_factor(double r0, double cx, double cy, double rho_b, int *n_faces)
{
    enum { N = 41 };
    static const double R = 18;
    double *buf = malloc(sizeof(double) * N * N);
    unsigned char *kind = malloc(N * N);
    if (!buf || !kind) {
        free(buf);
        free(kind);
        return 1;
    }
    section_kinds(N, N / 2 + 0.5, N / 2 + 0.5, 0, R, kind);
    double q1 = section_flow(N, kind, 0.5, NULL, buf);
    double reff = exp(-M_PI / 2) * exp(2 * M_PI / q1); /* the discrete outer radius */
    double want = 2 * M_PI / log(reff / r0);
    section_kinds(N, cx + N / 2, cy + N / 2, rho_b, R, kind);
    /* flow grows with m and saturates: bisection on log m (0.5 % in m) */
    double lo = log(0.02), hi = log(200);
    while (hi - lo > 5e-3) {
        double mid = 0.5 * (lo + hi);
        if (section_flow(N, kind, exp(mid), NULL, buf) < want)
            lo = mid;
        else
            hi = mid;
    }
    double m = exp(0.5 * (lo + hi));
    section_flow(N, kind, m, n_faces, buf);
    free(buf);
    free(kind);
    return m;
}
