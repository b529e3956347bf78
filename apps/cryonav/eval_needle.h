/*
 * eval_needle.h - what `cryonav eval needle`'s files share (eval_needle.c: real frames
 * against masks and views without a needle; eval_needle_sim.c: the simulator's hard
 * scenes): the parsed options.
 */
#ifndef CN_APP_EVAL_NEEDLE_H
#define CN_APP_EVAL_NEEDLE_H

#include "segment/segment.h"

#include <stdbool.h>

typedef struct {
    double spacing_mm[2], diameter_mm, min_ang, max_ang;
    cn_entry_side entry;
    bool no_track, spacing_given, pose;
    long sim_n, sim_first;
    const char *free_src[16]; /* --needle-free: views without a needle */
    int n_free;
} eval_opts;

/* The hard simulator scenes (--sim N): exit status 0, or 1 out of memory. */
int cn_evd_sim(const eval_opts *o);

#endif
