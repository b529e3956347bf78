/*
 * procedure_text.c - the procedure's words: the console message grammar (what a
 * cryo console, a proctor or a script may say, docs/user-guide.md), the plan event
 * a recording carries and the plan-vs-actual summary line. Pure text, no state, so each can be tested and
 * reused without a procedure.
 */
#include "guidance/guidance.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the plan event: "plan name=N steps=K:S,... [extra_freeze_s=X]" ---- */

static const char *const kPlanKinds[3] = {"freeze", "passive_thaw", "active_thaw"};

int cn_plan_event_text(const cn_plan *pl, char *ev, size_t len)
{
    char steps[CN_EVENT_TEXT_MAX] = "";
    size_t used = 0;
    for (int i = 0; i < pl->n_steps && used + 1 < sizeof steps; i++) {
        int k = pl->steps[i].kind < 0 || pl->steps[i].kind > 2 ? 0 : pl->steps[i].kind;
        int w = snprintf(steps + used, sizeof steps - used, "%s%s:%.0f", i ? "," : "",
                         kPlanKinds[k], pl->steps[i].duration_s);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    /* the name as a catalogue gives it (spaces, "steps=" and all), quoted */
    char extra[32];
    snprintf(extra, sizeof extra, "%.0f", pl->extra_freeze_s);
    snprintf(ev, len, "plan");
    if (cn_event_put(ev, len, "name", pl->name) == CN_OK &&
        cn_event_put(ev, len, "steps", steps) == CN_OK &&
        (!(pl->extra_freeze_s >= 1) || cn_event_put(ev, len, "extra_freeze_s", extra) == CN_OK) &&
        (!pl->assumed || cn_event_put(ev, len, "assumed", "config") == CN_OK))
        return CN_OK;
    return CN_ERANGE;
}

int cn_plan_from_event(const char *text, cn_plan *out, bool *has_extra, char *err, size_t err_len)
{
    cn_plan pl = {0};
    *has_extra = false;
    char steps[CN_EVENT_TEXT_MAX];
    if (!text || strncmp(text, "plan ", 5) != 0 ||
        cn_event_get(text, "steps", steps, sizeof steps) != CN_OK) {
        snprintf(err, err_len, "'%.60s' is not a plan event (plan name=N steps=K:S,...)",
                 text ? text : "");
        return CN_EPARSE;
    }
    if (cn_event_get(text, "name", pl.name, sizeof pl.name) != CN_OK || !pl.name[0]) {
        snprintf(err, err_len, "plan event: the name is missing, empty or longer than %zu "
                 "characters", sizeof pl.name - 1);
        return CN_EPARSE;
    }
    for (const char *q = steps; *q && *q != ' ';) {
        size_t kl = strcspn(q, ":");
        int kind = -1;
        for (int k = 0; k < 3; k++)
            if (kl == strlen(kPlanKinds[k]) && strncmp(q, kPlanKinds[k], kl) == 0)
                kind = k;
        char *end = NULL;
        double d = q[kl] == ':' ? strtod(q + kl + 1, &end) : NAN;
        if (kind < 0 || !end || !(d > 0 && d < 86400) || (*end && *end != ',' && *end != ' ') ||
            pl.n_steps == CN_PLAN_STEPS_MAX) {
            snprintf(err, err_len, "plan event: cannot read the step '%.40s'", q);
            return CN_EPARSE;
        }
        pl.steps[pl.n_steps++] = (cn_plan_step){kind, d};
        q = *end == ',' ? end + 1 : end;
    }
    /* The extra freeze after an uncovered target (Cazzato's reposition + 90 s) is part
     * of the plan: the event carries it when there is one. Before, every recorded plan
     * took the configured one, so a replay of a custom scenario reminded of a
     * reposition nobody was reminded of live (an event the recording never had). */
    char assumed[16];
    pl.assumed = cn_event_get(text, "assumed", assumed, sizeof assumed) == CN_OK;
    char extra[32];
    if (cn_event_get(text, "extra_freeze_s", extra, sizeof extra) == CN_OK) {
        char *end = NULL;
        double x = strtod(extra, &end);
        if (end == extra || *end || !(x >= 0 && x < 86400)) {
            snprintf(err, err_len, "plan event: cannot read extra_freeze_s '%.20s'", extra);
            return CN_EPARSE;
        }
        pl.extra_freeze_s = x;
        *has_extra = true;
    }
    *out = pl;
    return CN_OK;
}

/* The console's words are the step events' (cn_step_of: "freeze_end" and
 * "freeze_stop" are one step, "thaw_end" and "thaw_stop" another). */
static bool step_input(cn_step st, cn_proc_input *in)
{
    switch (st) {
    case CN_STEP_NEEDLE_INSERTED: *in = CN_PROC_NEEDLE_INSERTED; return true;
    case CN_STEP_FREEZE_START: *in = CN_PROC_FREEZE_START; return true;
    case CN_STEP_FREEZE_END: *in = CN_PROC_FREEZE_STOP; return true;
    case CN_STEP_THAW_START: *in = CN_PROC_THAW_START; return true;
    case CN_STEP_THAW_END: *in = CN_PROC_THAW_STOP; return true;
    case CN_STEP_REPOSITION: *in = CN_PROC_REPOSITION; return true;
    case CN_STEP_NEEDLE_WITHDRAWN: *in = CN_PROC_NEEDLE_WITHDRAWN; return true;
    case CN_STEP_FREEZE_RESUME: *in = CN_PROC_FREEZE_RESUME; return true;
    case CN_STEP_NONE: break;
    }
    return false;
}

#define KNOWN "freeze_start, freeze_stop, thaw_start mode=passive|active, thaw_stop, " \
              "needle_inserted, reposition, needle_withdrawn, freeze_resume"

int cn_procedure_parse(const char *text, cn_proc_input *in, bool *active, char *err,
                       size_t err_len)
{
    char buf[96], shown[48];
    if (!text) {
        cn_errf(err, err_len, "console message", "missing");
        return CN_EINVAL;
    }
    /* lower-case, blanks trimmed; a long or binary message is shown shortened */
    size_t n = 0;
    const char *s = text;
    while (*s && isspace((unsigned char)*s))
        s++;
    for (; *s && n + 1 < sizeof buf; s++)
        buf[n++] = (char)tolower((unsigned char)*s);
    bool too_long = *s != 0;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = 0;
    size_t k = 0;
    for (const char *c = text; *c && k + 4 < sizeof shown; c++)
        shown[k++] = (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f ? '?' : *c;
    shown[k] = 0;
    if (k + 4 >= sizeof shown)
        cn_strlcpy(shown + k, "...", sizeof shown - k);
    if (too_long) {
        cn_errf(err, err_len, "console message", "'%s' is too long (known: " KNOWN ")", shown);
        return CN_EPARSE;
    }
    char *arg = strchr(buf, ' ');
    if (arg) {
        *arg++ = 0;
        while (*arg == ' ')
            arg++;
    }
    cn_proc_input word;
    if (step_input(cn_step_of(buf), &word)) {
        bool act = false;
        if (word == CN_PROC_THAW_START && arg && *arg) {
            if (strcmp(arg, "mode=active") == 0)
                act = true;
            else if (strcmp(arg, "mode=passive") != 0) {
                cn_errf(err, err_len, "console message",
                        "'%s': thaw_start takes mode=passive or mode=active", shown);
                return CN_EPARSE;
            }
        } else if (arg && *arg) {
            cn_errf(err, err_len, "console message", "'%s': %s takes no argument", shown, buf);
            return CN_EPARSE;
        }
        if (in)
            *in = word;
        if (active)
            *active = act;
        return CN_OK;
    }
    cn_errf(err, err_len, "console message", "unknown message '%s' (known: " KNOWN ")", shown);
    return CN_EPARSE;
}

const char *cn_procedure_summary_text(const cn_procedure_summary *s, char *buf, size_t len)
{
    static const char *const kinds[3] = {"freeze", "thaw", "active thaw"};
    if (!buf || len == 0)
        return buf;
    buf[0] = 0;
    if (!s)
        return buf;
    size_t u = 0;
#define PUT(...)                                                                                  \
    do {                                                                                          \
        if (u < len) {                                                                            \
            int w_ = snprintf(buf + u, len - u, __VA_ARGS__);                                     \
            u = w_ < 0 ? len : u + (size_t)w_;                                                    \
        }                                                                                         \
    } while (0)
    if (s->plan.n_steps > 0) {
        PUT("plan %s:", s->plan.name);
        for (int i = 0; i < s->plan.n_steps; i++) {
            int k = s->plan.steps[i].kind < 0 || s->plan.steps[i].kind > 2 ? 0 : s->plan.steps[i].kind;
            PUT("%s %s %.0f s", i ? "," : "", kinds[k], s->plan.steps[i].duration_s);
        }
        PUT(" | ");
    } else {
        PUT("no plan | ");
    }
    PUT("actual:");
    if (s->n_steps == 0)
        PUT(" no freeze");
    for (int i = 0; i < s->n_steps; i++) {
        const cn_proc_step *st = &s->steps[i];
        int k = st->kind < 0 || st->kind > 2 ? 0 : st->kind;
        PUT("%s %s %d ", i ? "," : "", kinds[k], st->cycle);
        if (isnan(st->duration_s))
            PUT("running");
        else
            PUT("%.0f s", st->duration_s);
        PUT(" (%s)", cn_event_source_name(st->source));
    }
    PUT(" | repositioned %dx", s->repositions);
    if (isfinite(s->inserted_s) && isfinite(s->withdrawn_s))
        PUT(", procedure %.0f s", s->withdrawn_s - s->inserted_s);
    if (s->refused)
        PUT(", %d input%s refused", s->refused, s->refused == 1 ? "" : "s");
#undef PUT
    if (u >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}
