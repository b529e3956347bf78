/* events.c - procedure events that ride with the analysed frame.
 *
 * An event is recorded once, on the frame where it happened, with who caused it.
 * The list is a fixed array inside cn_analysis so adding one on the analysis
 * thread never allocates. Text is sanitised here, once, so no producer can put a
 * newline or an escape sequence into a recording's header or a log line. */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>

const char *cn_event_source_name(cn_event_source s)
{
    switch (s) {
    case CN_EVSRC_SYSTEM: return "system";
    case CN_EVSRC_OPERATOR: return "operator";
    case CN_EVSRC_PROCTOR: return "proctor";
    case CN_EVSRC_SIMULATOR: return "simulator";
    case CN_EVSRC_CONSOLE: return "console";
    case CN_EVSRC_PLAN: return "plan";
    }
    return "unknown";
}

int cn_analysis_add_event(cn_analysis *a, cn_event_source source, int64_t t_scene_ns,
                          const char *fmt, ...)
{
    if (!a || !fmt)
        return CN_EINVAL;
    if (a->n_events < 0 || a->n_events >= CN_EVENTS_MAX)
        return CN_ENOMEM;
    cn_event *e = &a->events[a->n_events];
    e->t_scene_ns = t_scene_ns;
    e->source = source;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CN_EINVAL;
    for (char *c = e->text; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            *c = ' ';
    a->n_events++;
    return CN_OK;
}
