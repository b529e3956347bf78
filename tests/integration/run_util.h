/* run_util.h - run a program with arguments and environment changes, capture its
 * stdout and stderr and how it ended, for whole-program tests. */
#ifndef CN_TEST_RUN_UTIL_H
#define CN_TEST_RUN_UTIL_H

#include <stdbool.h>

typedef struct {
    int exit_code;     /* -1 when killed by a signal */
    int signal;        /* the signal, or 0 */
    char out[65536];
    char err[65536];
} run_result;

/* argv is NULL-terminated. unset_env: a variable to remove (or NULL). cwd: where
 * to run (or NULL). timeout_s: kill after this long (counts as signal SIGKILL). */
int run_prog(const char *const *argv, const char *unset_env, const char *cwd, int timeout_s,
             run_result *r);

#endif
