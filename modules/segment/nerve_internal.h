/*
 * nerve_internal.h - the nerve workspace shared by nerve.c (polar DP, automatic
 * seed) and nerve_mlp.c (learned pixel classifier). Private to modules/segment.
 */
#ifndef CN_NERVE_INTERNAL_H
#define CN_NERVE_INTERNAL_H

#include "segment/segment.h"

#define NA CN_NERVE_ANGLES
#define NR 48
#define DSTEP 2
#ifndef NERVE_SMOOTH_R
#define NERVE_SMOOTH_R 2
#endif
/* quarter-resolution maps: grey, box means r=1,2,5,10, texture, box means of
 * grey^2/256 (r=2,5: local spread) and of the gradient magnitude (r=2,5) */
enum { QM_GREY = 0, QM_S1, QM_S2, QM_S3, QM_S4, QM_TEX, QM_SQ2, QM_SQ5, QM_G2, QM_G5, NQMAPS };
#define QRAYS 64
#define QRMAX 160

struct cn_nerve_seg {
    int max_w, max_h;
    uint8_t *half;      /* downsampled frame */
    uint8_t *smooth;    /* box-smoothed working image */
    uint32_t *colsum;
    uint32_t *ii;       /* integral of the working image (automatic mode) */
    float prof[NA][NR]; /* sampled intensity along each ray */
    float score[NA][NR];
    float acc[2 * NA][NR];
    int8_t from[2 * NA][NR];
    /* the working image of the last prepare() */
    const uint8_t *work;
    int ww, wh, scale;
    float std, mean;
    /* learned mode: maps at 1/qscale of the input */
    uint8_t *qm[NQMAPS];
    uint8_t *qtmp;
    int qw, qh, qscale;
    bool quarter_ready;   /* built lazily: only the learned mode needs them */
    const uint8_t *src; /* unsmoothed working image of the last prepare() */
    float *prob;
    uint8_t *lab;
    int *stack;
    float raymax[QRAYS][QRMAX], raymin[QRAYS][QRMAX];
};

/* Builds the 1/4-resolution maps from the unsmoothed working image. */
int cn_nerve_prepare_quarter(cn_nerve_seg *s, const uint8_t *src, int ww, int wh);

#endif
