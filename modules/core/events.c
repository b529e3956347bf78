/* events.c - procedure events that ride with the analysed frame.
 *
 * An event is recorded once, on the frame where it happened, with who caused it.
 * The list is a fixed array inside cn_analysis so adding one on the analysis
 * thread never allocates. Text is sanitised here, once, so no producer can put a
 * newline or an escape sequence into a recording's header or a log line.
 *
 * A text's values follow one rule (cn_event_put / cn_event_get): a value that
 * could be read as more than one token is quoted. Before it, a probe named with
 * spaces in a catalogue was recorded bare and its replay could not read the
 * probe back (the model then took the configured one), and a name holding
 * " steps=" gave a replay another plan. */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of the key at p when p starts "key=", else 0. */
static size_t key_at(const char *p)
{
    size_t n = 0;
    while (key_char(p[n]))
        n++;
    return n > 0 && p[n] == '=' ? n : 0;
}

int cn_event_put(char *out, size_t len, const char *key, const char *value)
{
    if (!out || !key || !value || len == 0)
        return CN_EINVAL;
    size_t kl = 0;
    while (key_char(key[kl]))
        kl++;
    if (kl == 0 || key[kl])
        return CN_EINVAL; /* a key is letters, digits and '_' */
    const size_t at = strnlen(out, len);
    if (at >= len)
        return CN_EINVAL;
    const bool quote = value[0] == 0 || value[strcspn(value, " \"\\=")] != 0;
    size_t n = at;
#define PUTC(ch)                                                                                  \
    do {                                                                                          \
        if (n + 1 >= len) {                                                                       \
            out[at] = 0;                                                                          \
            return CN_ERANGE;                                                                     \
        }                                                                                         \
        out[n++] = (ch);                                                                          \
    } while (0)
    if (at > 0 && out[at - 1] != ' ')
        PUTC(' ');
    for (size_t i = 0; i < kl; i++)
        PUTC(key[i]);
    PUTC('=');
    if (quote)
        PUTC('"');
    for (const char *v = value; *v; v++) {
        if (quote && (*v == '"' || *v == '\\'))
            PUTC('\\');
        PUTC(*v);
    }
    if (quote)
        PUTC('"');
#undef PUTC
    out[n] = 0;
    return CN_OK;
}

int cn_event_get(const char *text, const char *key, char *out, size_t len)
{
    if (!text || !key || !out || len == 0)
        return CN_EINVAL;
    const size_t want = strlen(key);
    const char *p = text + strcspn(text, " "); /* past the event's name */
    while (*p) {
        while (*p == ' ')
            p++;
        const size_t kl = key_at(p);
        if (!kl) { /* a word that is no key=value (e.g. "note" after a source name) */
            p += strcspn(p, " ");
            continue;
        }
        const bool match = kl == want && strncmp(p, key, kl) == 0;
        const bool rest = kl == 4 && strncmp(p, "text", 4) == 0;
        p += kl + 1;
        size_t n = 0;
        bool fits = true;
        if (rest) { /* a note's words: the rest of the line */
            if (!match)
                return CN_ENOENT;
            n = strlen(p);
            if (n >= len)
                return CN_ERANGE;
            memcpy(out, p, n + 1);
            return CN_OK;
        }
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (match && n + 1 < len)
                    out[n] = *p;
                fits = fits && n + 1 < len;
                n++;
            }
            if (*p != '"')
                return CN_EPARSE;
            p++;
        } else { /* bare: up to the next " key=" or the end, trailing spaces dropped */
            const char *e = p;
            while (*e && !(*e == ' ' && key_at(e + 1 + strspn(e + 1, " "))))
                e++;
            const char *v = p;
            p = e;
            while (e > v && e[-1] == ' ')
                e--;
            n = (size_t)(e - v);
            fits = n < len;
            if (match && fits)
                memcpy(out, v, n);
        }
        if (match) {
            if (!fits)
                return CN_ERANGE;
            out[n] = 0;
            return CN_OK;
        }
    }
    return CN_ENOENT;
}

cn_step cn_step_of(const char *text)
{
    static const struct {
        const char *word;
        cn_step step;
    } words[] = {
        {"needle_inserted", CN_STEP_NEEDLE_INSERTED}, {"freeze_start", CN_STEP_FREEZE_START},
        {"freeze_end", CN_STEP_FREEZE_END},           {"freeze_stop", CN_STEP_FREEZE_END},
        {"thaw_start", CN_STEP_THAW_START},           {"thaw_end", CN_STEP_THAW_END},
        {"thaw_stop", CN_STEP_THAW_END},              {"reposition", CN_STEP_REPOSITION},
        {"needle_withdrawn", CN_STEP_NEEDLE_WITHDRAWN}, {"freeze_resume", CN_STEP_FREEZE_RESUME},
    };
    if (!text)
        return CN_STEP_NONE;
    const size_t n = strcspn(text, " ");
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == n && strncmp(text, words[i].word, n) == 0)
            return words[i].step;
    return CN_STEP_NONE;
}

bool cn_step_leads(const cn_event *ev, int n, int k, cn_phase *to)
{
    if (!ev || k < 0 || k >= n)
        return false;
    cn_phase ph;
    switch (cn_step_of(ev[k].text)) {
    case CN_STEP_FREEZE_START:
    case CN_STEP_FREEZE_RESUME: ph = CN_PHASE_FREEZE; break;
    case CN_STEP_THAW_START: ph = CN_PHASE_THAW; break;
    case CN_STEP_NEEDLE_INSERTED:
    case CN_STEP_REPOSITION: ph = CN_PHASE_APPROACH; break;
    case CN_STEP_NEEDLE_WITHDRAWN: ph = CN_PHASE_WITHDRAWN; break;
    case CN_STEP_THAW_END:
    case CN_STEP_FREEZE_END: {
        /* another step at its time, before or after it in the list (not only the next
         * event: an alarm or a note can sit between them), makes it that step's part;
         * alone, a freeze_end is the freeze stopped (a passive thaw follows), a
         * thaw_end the thaw stopped */
        const cn_step me = cn_step_of(ev[k].text);
        for (int j = 0; j < n; j++) {
            const cn_step o = cn_step_of(ev[j].text);
            if (j != k && ev[j].t_scene_ns == ev[k].t_scene_ns && o != CN_STEP_NONE && o != me &&
                !(me == CN_STEP_THAW_END && o == CN_STEP_NEEDLE_INSERTED))
                return false;
        }
        ph = me == CN_STEP_FREEZE_END ? CN_PHASE_THAW : CN_PHASE_APPROACH;
        break;
    }
    case CN_STEP_NONE:
    default: return false;
    }
    if (to)
        *to = ph;
    return true;
}
