/*
 * events.c - the CryoNavEvents field: the procedure events of one frame.
 *
 * One field per frame, events separated by "; ", each "source:text":
 *   CryoNavEvents = simulator:freeze_start cycle=2; system:alarm set=0x1
 * The escaping is what makes the split unambiguous whatever a proctor types: in a
 * text, '%', ';', '@', control characters and a space at either end are written
 * %XX (two hex digits), nothing else is touched (UTF-8 passes through). An event
 * carried to a later frame (its own frame was already on disk when it arrived)
 * keeps its true scene time as a suffix "@<seconds>", so reports time it exactly.
 * Files written before sources existed ("freeze_start cycle=1; alarm 0x4", and
 * CryoNavNote fields) read with source "system" (notes: "operator").
 */
#include "seqio_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cn_event_source all_sources[] = {CN_EVSRC_SYSTEM, CN_EVSRC_OPERATOR, CN_EVSRC_PROCTOR,
                                              CN_EVSRC_SIMULATOR, CN_EVSRC_CONSOLE, CN_EVSRC_PLAN};

int cn_seq_event_source_from_name(const char *s, size_t n, cn_event_source *out) {
    for (size_t i = 0; i < sizeof all_sources / sizeof all_sources[0]; i++) {
        const char *name = cn_event_source_name(all_sources[i]);
        if (strlen(name) == n && strncmp(name, s, n) == 0) {
            *out = all_sources[i];
            return CN_OK;
        }
    }
    return CN_ENOENT;
}

static bool needs_escape(const char *t, size_t i, size_t n) {
    unsigned char c = (unsigned char)t[i];
    return c == '%' || c == ';' || c == '@' || c < 0x20 || c == 0x7f ||
           (c == ' ' && (i == 0 || i + 1 == n));
}

int cn_seq_events_format(const cn_event *ev, int n, int64_t frame_t_scene_ns, char *out, size_t len) {
    if (!out || len == 0) return CN_EINVAL;
    size_t o = 0;
    out[0] = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 >= len) return CN_ERANGE;                                                        \
        out[o++] = (c);                                                                            \
        out[o] = 0;                                                                                \
    } while (0)
    for (int k = 0; k < n; k++) {
        if (k > 0) {
            PUT(';');
            PUT(' ');
        }
        for (const char *s = cn_event_source_name(ev[k].source); *s; s++) PUT(*s);
        PUT(':');
        size_t tl = strnlen(ev[k].text, sizeof ev[k].text);
        for (size_t i = 0; i < tl; i++) {
            if (needs_escape(ev[k].text, i, tl)) {
                static const char hex[] = "0123456789ABCDEF";
                unsigned char c = (unsigned char)ev[k].text[i];
                PUT('%');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
            } else {
                PUT(ev[k].text[i]);
            }
        }
        /* written on a later frame than its own: keep its time */
        if (frame_t_scene_ns != CN_SCENE_TIME_UNSET && ev[k].t_scene_ns != CN_SCENE_TIME_UNSET &&
            llabs(ev[k].t_scene_ns - frame_t_scene_ns) >= 1000) {
            char t[40];
            snprintf(t, sizeof t, "@%.6f", (double)ev[k].t_scene_ns * 1e-9);
            for (const char *s = t; *s; s++) PUT(*s);
        }
    }
#undef PUT
    return CN_OK;
}

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cn_seq_events_parse(const char *value, int64_t frame_t_scene_ns, cn_event *out, int max) {
    int count = 0;
    const char *s = value ? value : "";
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *end = strchr(s, ';');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        while (n > 0 && s[n - 1] == ' ') n--;
        if (n > 0) {
            cn_event e;
            memset(&e, 0, sizeof e);
            e.t_scene_ns = frame_t_scene_ns;
            e.source = CN_EVSRC_SYSTEM;
            const char *colon = memchr(s, ':', n), *text = s;
            size_t tn = n;
            if (colon && cn_seq_event_source_from_name(s, (size_t)(colon - s), &e.source) == CN_OK) {
                text = colon + 1;
                tn = n - (size_t)(colon + 1 - s);
            }
            /* an unescaped '@' starts the event's own time */
            const char *at = memchr(text, '@', tn);
            if (at) {
                char tbuf[40];
                size_t al = tn - (size_t)(at + 1 - text);
                if (al < sizeof tbuf) {
                    memcpy(tbuf, at + 1, al);
                    tbuf[al] = 0;
                    char *e2;
                    double t = strtod(tbuf, &e2);
                    if (e2 != tbuf && isfinite(t) && fabs(t) < 9e9) e.t_scene_ns = llround(t * 1e9);
                }
                tn = (size_t)(at - text);
            }
            size_t o = 0;
            for (size_t i = 0; i < tn && o + 1 < sizeof e.text; i++) {
                char c = text[i];
                int h1, h2;
                if (c == '%' && i + 2 < tn && (h1 = hexv(text[i + 1])) >= 0 &&
                    (h2 = hexv(text[i + 2])) >= 0) {
                    c = (char)(h1 * 16 + h2);
                    i += 2;
                }
                /* what the core guarantees of every event text: no control characters */
                if ((unsigned char)c < 0x20 || (unsigned char)c == 0x7f) c = ' ';
                e.text[o++] = c;
            }
            e.text[o] = 0;
            if (count < max && out) out[count] = e;
            count++;
        }
        if (!end) break;
        s = end + 1;
    }
    return count;
}
