/*
 * eval.h - helpers shared by the `cryonav eval` files (cmd_eval.c, eval_nerve.c,
 * eval_needle.c, eval_sim.c): file listing, progress bar, median.
 */
#ifndef CN_APP_EVAL_H
#define CN_APP_EVAL_H

#include <stddef.h>

/* Sorted names of the *.png files in dir (caller frees with cn_eval_free_list). */
int cn_eval_list_png(const char *dir, char ***names, int *n, char *err, size_t err_len);
void cn_eval_free_list(char **names, int n);
/* "[#####.....] done/total" on stderr. */
void cn_eval_progress(int done, int total);
/* Sorts v in place and returns its median (NAN when n == 0). */
double cn_eval_median(double *v, int n);

int cn_eval_nerve(int argc, char **argv);
int cn_eval_needle(int argc, char **argv);
int cn_eval_sim(int argc, char **argv);

#endif
