/* log.c - a logger handle: one mutex-protected line per call, level filter.
 * NULL means stderr at INFO so that library code can log before the app set one up. */
#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>

struct cn_log {
    FILE *out;
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

void cn_log_free(cn_log *lg)
{
    if (!lg)
        return;
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

void cn_log_set_level(cn_log *lg, cn_log_level min_level)
{
    if (lg)
        lg->min_level = min_level;
}

static const char *level_name(cn_log_level l)
{
    switch (l) {
    case CN_LOG_DEBUG: return "debug";
    case CN_LOG_INFO: return "info";
    case CN_LOG_WARN: return "warning";
    case CN_LOG_ERROR: return "error";
    }
    return "?";
}

void cn_log_vwrite(cn_log *lg, cn_log_level level, const char *module, const char *fmt, va_list ap)
{
    cn_log_level min = lg ? lg->min_level : CN_LOG_INFO;
    if (level < min)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    FILE *out = lg ? lg->out : stderr;
    if (lg)
        pthread_mutex_lock(&lg->mu);
    fprintf(out, "cryonav %s: %s: %s\n", level_name(level), module ? module : "-", msg);
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
