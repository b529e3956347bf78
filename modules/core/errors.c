/* errors.c - names for CryoNav's negative error codes (libuv's uv_strerror idea). */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>

const char *cn_strerror(int err)
{
    switch (err) {
    case CN_OK: return "success";
    case CN_EINVAL: return "invalid argument";
    case CN_ENOMEM: return "out of memory or capacity";
    case CN_EIO: return "input/output error";
    case CN_ENOENT: return "not found";
    case CN_EPARSE: return "malformed input";
    case CN_ERANGE: return "value out of range";
    case CN_EAGAIN: return "not available now";
    case CN_ETIMEDOUT: return "timed out";
    case CN_ECLOSED: return "closed";
    case CN_EUNSUPPORTED: return "not supported";
    default: return "unknown error";
    }
}

const char *cn_phase_name(cn_phase p)
{
    switch (p) {
    case CN_PHASE_IDLE: return "idle";
    case CN_PHASE_APPROACH: return "approach";
    case CN_PHASE_FREEZE: return "freeze";
    case CN_PHASE_THAW: return "thaw";
    case CN_PHASE_WITHDRAWN: return "withdrawn";
    }
    return "unknown";
}

void cn_errf(char *err, size_t err_len, const char *prefix, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    int n = snprintf(err, err_len, "%s: ", prefix ? prefix : "(null)");
    if (n < 0 || (size_t)n >= err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    va_end(ap);
}
