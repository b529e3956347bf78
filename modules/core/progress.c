/* progress.c - a progress bar for long jobs (report, recover, replay --speed 0,
 * eval) on stderr.
 *
 * Drawn only when the stream is a terminal: logs, pipes and tests see nothing, so
 * output that scripts parse never changes. Redrawn at most ten times a second
 * with a carriage return (one line, no scrolling); the remaining time is the
 * elapsed time scaled by the fraction left. Any thread may update a bar, but one
 * bar belongs to one job (no lock: callers update from the thread doing the work). */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cn_progress {
    FILE *out;
    char label[48], unit[16];
    int64_t t0_ns, last_ns;
    bool drawn;
};

cn_progress *cn_progress_new(FILE *out, const char *label, const char *unit)
{
    if (!out || !isatty(fileno(out)))
        return NULL;
    cn_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    cn_strlcpy(p->label, label ? label : "", sizeof p->label);
    cn_strlcpy(p->unit, unit ? unit : "", sizeof p->unit);
    p->t0_ns = cn_clock_mono_ns();
    return p;
}

bool cn_progress_active(const cn_progress *p) { return p != NULL; }

void cn_progress_update(cn_progress *p, double done, double total)
{
    if (!p)
        return;
    int64_t now = cn_clock_mono_ns();
    if (p->drawn && now - p->last_ns < 100000000LL && done < total)
        return;
    p->last_ns = now;
    p->drawn = true;
    double frac = total > 0 ? done / total : 0;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    char bar[31];
    int full = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; i++)
        bar[i] = i < full ? '=' : ' ';
    bar[30] = 0;
    double el_s = (double)(now - p->t0_ns) * 1e-9;
    char left[32] = "";
    if (frac > 0.01 && frac < 1)
        snprintf(left, sizeof left, ", %.0f s left", el_s * (1 - frac) / frac);
    fprintf(p->out, "\r%s [%s] %3.0f%% %.0f/%.0f %s%s\033[K", p->label, bar, 100 * frac, done,
            total, p->unit, left);
    fflush(p->out);
}

void cn_progress_done(cn_progress *p)
{
    if (!p)
        return;
    if (p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    free(p);
}
