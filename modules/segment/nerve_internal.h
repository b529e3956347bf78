/*
 * nerve_internal.h - the polar DP's workspace (nerve.c). Private to
 * modules/segment.
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
};

#endif
