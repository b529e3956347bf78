/*
 * bench_igtl.h - what bench_igtl.c (one streaming run) and bench_igtl_rounds.c
 * (alternating rounds and their medians) share. Private to the benchmark.
 */
#ifndef CN_BENCH_IGTL_H
#define CN_BENCH_IGTL_H

#include "core/core.h"

#include <stdbool.h>

#define CN_BENCH_IGTL_WIDTH 640   /* the streamed B-mode frame */
#define CN_BENCH_IGTL_HEIGHT 480

typedef struct {
    double fps, p50, p99, cpu_pct;   /* delivered frames/s, added latency ms, process CPU % */
    int dropped;
    bool ok;
} cn_bench_igtl_result;

/* One streaming run of `frames` frames to n clients (rate 0: as fast as possible). */
typedef cn_bench_igtl_result (*cn_bench_igtl_run_fn)(bool upstream, int n, int frames,
                                                     double rate);

/* --rounds: runs both senders `rounds` times per client count in A B B A order,
 * prints every run, then per client count and sender the medians over rounds
 * and the CryoNav / upstream ratios of the paired runs. 0 when every run was
 * complete, 1 otherwise. */
int cn_bench_igtl_rounds(const int *counts, int n_counts, int frames, double rate, int rounds,
                         cn_bench_igtl_run_fn run);

/* bench_igtl.c: a blocking loopback connection to port (-1 on failure); the
 * frame's poses at frame k (ImageToProbe, ProbeToTracker, ReferenceToTracker,
 * CryoprobeToTracker). */
int cn_bench_igtl_connect(int port);
void cn_bench_igtl_poses(cn_mat4 *i2p, cn_mat4 *p2t, cn_mat4 *r2t, cn_mat4 *c2t, int k);

/* bench_igtl_hostile.c: --hostile N; 0 when the new viewer got an IMAGE. */
int cn_bench_igtl_hostile(int n);

#endif
