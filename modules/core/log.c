/* log.c - a logger handle: one mutex-protected line per call, level filter.
 *
 * A line reads `cryonav: 12:03:04.512 warn: module: message`: the program name
 * first (as every Unix tool does, and so a log line never reads like the output
 * of the `cryonav info` command), the local wall-clock time to the millisecond
 * (to line a message up with a recording, a proctor's notes or a syslog), then
 * the level. NULL means stderr at INFO so that library code can log before the
 * app set one up. A logger opened on a file (cn_log_open) owns and closes it. */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cn_log {
    FILE *out;
    bool owns_out;
    cn_log_level min_level;
    pthread_mutex_t mu;
};

cn_log *cn_log_new(FILE *out, cn_log_level min_level)
{
    cn_log *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->out = out ? out : stderr;
    lg->min_level = min_level;
    pthread_mutex_init(&lg->mu, NULL);
    return lg;
}

cn_log *cn_log_open(const char *path, cn_log_level min_level, char *err, size_t err_len)
{
    if (!path || !*path)
        return cn_log_new(stderr, min_level);
    FILE *f = fopen(path, "a");
    if (!f) {
        cn_errf(err, err_len, path, "cannot open the log file: %s", strerror(errno));
        return NULL;
    }
    cn_log *lg = cn_log_new(f, min_level);
    if (!lg) {
        fclose(f);
        cn_errf(err, err_len, path, "out of memory");
        return NULL;
    }
    lg->owns_out = true;
    return lg;
}

void cn_log_free(cn_log *lg)
{
    if (!lg)
        return;
    if (lg->owns_out)
        fclose(lg->out);
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

const char *cn_log_level_name(cn_log_level l)
{
    switch (l) {
    case CN_LOG_DEBUG: return "debug";
    case CN_LOG_INFO: return "info";
    case CN_LOG_WARN: return "warn";
    case CN_LOG_ERROR: return "error";
    }
    return "?";
}

int cn_log_level_parse(const char *s, cn_log_level *out)
{
    static const struct {
        const char *name;
        cn_log_level level;
    } names[] = {{"debug", CN_LOG_DEBUG}, {"info", CN_LOG_INFO},   {"warn", CN_LOG_WARN},
                 {"warning", CN_LOG_WARN}, {"error", CN_LOG_ERROR}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return CN_OK;
        }
    return CN_EINVAL;
}

void cn_log_vwrite(cn_log *lg, cn_log_level level, const char *module, const char *fmt, va_list ap)
{
    cn_log_level min = lg ? lg->min_level : CN_LOG_INFO;
    if (level < min)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char hms[16] = "??:??:??";
    if (localtime_r(&ts.tv_sec, &tm))
        strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    FILE *out = lg ? lg->out : stderr;
    if (lg)
        pthread_mutex_lock(&lg->mu);
    fprintf(out, "cryonav: %s.%03ld %s: %s: %s\n", hms, ts.tv_nsec / 1000000L,
            cn_log_level_name(level), module ? module : "-", msg);
    fflush(out);
    if (lg)
        pthread_mutex_unlock(&lg->mu);
}

void cn_log_write(cn_log *lg, cn_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_log_vwrite(lg, level, module, fmt, ap);
    va_end(ap);
}
