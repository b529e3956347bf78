/* clock.c - monotonic time for latency and pacing, wall time for records. */
#include "core/core.h"

#include <errno.h>
#include <time.h>

static int64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cn_clock_mono_ns(void) { return ts_ns(CLOCK_MONOTONIC); }
int64_t cn_clock_wall_ns(void) { return ts_ns(CLOCK_REALTIME); }

void cn_clock_sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec req = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    while (nanosleep(&req, &req) != 0 && errno == EINTR) {
    }
}
