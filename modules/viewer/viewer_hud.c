/*
 * viewer_hud.c - the text of the viewer's head-up display and status line.
 *
 * The idea: the HUD answers at a glance "is the picture live and how stale is
 * it" (source, frame rate, latency percentiles, skipped frames) and "where are
 * we in the procedure" (phase, freeze cycle, time in phase, coverage). Numbers
 * that are unknown (NaN, negative) print as "--" rather than as garbage, and the
 * format has a fixed shape so the text does not jump around on screen. Each
 * line is its own text actor in the viewer and changes at most a few times a
 * second (statistics are refreshed 4 times a second, the phase timer once), so
 * the text is rasterised again only when it really changed.
 */
#include "viewer_priv.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void fmt_num(char *buf, size_t len, double v)
{
    if (isfinite(v) && v >= 0.0 && v < 1e7)
        snprintf(buf, len, "%.1f", v);
    else
        snprintf(buf, len, "--");
}

void cn_viewer_hud_format(const cn_viewer_hud *hud, const cn_frame *f, char *out, size_t len)
{
    if (!out || len == 0)
        return;
    cn_viewer_hud empty = {.fps = NAN, .latency_ms_p50 = NAN, .latency_ms_p99 = NAN};
    if (!hud)
        hud = &empty;
    char fps[24], p50[24], p99[24];
    fmt_num(fps, sizeof fps, hud->fps);
    fmt_num(p50, sizeof p50, hud->latency_ms_p50);
    fmt_num(p99, sizeof p99, hud->latency_ms_p99);
    const char *src = hud->source && hud->source[0] ? hud->source : "--";

    /* Lines of at most CN_VIEWER_HUD_COLS characters: the 3-D view is half the
     * window, and a longer line was cut at its edge (the target's minimum and the
     * needle's state, at the end of one line of ~100, were never on screen). */
    char phase[96] = "phase --", cover[96] = "", state[96] = "";
    if (f && f->analysed) {
        const cn_guidance_state *g = &f->analysis.guidance;
        /* Upper case: the phase is the word a glance must catch. */
        const char *name0 = cn_phase_name(g->phase);
        char name[24] = "?";
        if (name0) {
            size_t k = 0;
            for (; name0[k] && k + 1 < sizeof name; k++)
                name[k] = (char)toupper((unsigned char)name0[k]);
            name[k] = '\0';
        }
        double t = isfinite(g->phase_elapsed_s) && g->phase_elapsed_s >= 0.0 &&
                           g->phase_elapsed_s < 1e6
                       ? g->phase_elapsed_s
                       : 0.0;
        int mm = (int)(t / 60.0), ss = (int)(t - 60.0 * mm);
        int n = snprintf(phase, sizeof phase, "%s%s  cycle %d  %02d:%02d",
                         g->phase == CN_PHASE_THAW && g->active_thaw ? "ACTIVE " : "", name,
                         g->cycle < 0 ? 0 : g->cycle, mm, ss);
        /* issue 13: the plan's duration of this step (the timer's target), the
         * band of the -20 C curve coverage is counted inside, and the coldest the
         * whole target has been (every sink reads the same frame's values) */
        double pl = g->phase_planned_s;
        if (n > 0 && (size_t)n < sizeof phase && isfinite(pl) && pl > 0 && pl < 1e6)
            n += snprintf(phase + n, sizeof phase - (size_t)n, " / %02d:%02d", (int)(pl / 60),
                          (int)(pl - 60 * (int)(pl / 60)));
        /* the procedure's own clock, from the needle's insertion */
        const double tot = g->procedure_s;
        if (n > 0 && (size_t)n < sizeof phase && isfinite(tot) && tot > 0 && tot < 1e6)
            snprintf(phase + n, sizeof phase - (size_t)n, "  total %02d:%02d", (int)(tot / 60),
                     (int)(tot - 60 * (int)(tot / 60)));
        n = 0;
        if (isfinite(g->coverage) && g->coverage >= 0.0 && g->coverage <= 1.0)
            n = snprintf(cover, sizeof cover, "coverage %.0f %%", 100.0 * g->coverage);
        else if (f->analysis.thermal.valid || g->phase == CN_PHASE_FREEZE ||
                 g->phase == CN_PHASE_THAW)
            /* withheld (NO ICE SEEN, no target yet): "--" as the guide says, not a blank
             * line a glance reads as nothing wrong (teaching audit T14) */
            n = snprintf(cover, sizeof cover, "coverage --");
        if (n >= 0 && (size_t)n < sizeof cover && f->analysis.thermal.valid &&
            isfinite(g->lethal_band_mm) && g->lethal_band_mm > 0 && g->lethal_band_mm < 100)
            snprintf(cover + n, sizeof cover - (size_t)n, "%s-20 C band +-%.1f mm%s",
                     n ? " (" : "", g->lethal_band_mm, n ? ")" : "");
        n = 0;
        if (f->analysis.thermal.valid && isfinite(g->target_min_temp_c) &&
            fabs(g->target_min_temp_c) < 500)
            /* the coldest the WHOLE target has been (its warmest point's minimum): "target
             * min 25 C" beside "coverage 11 %" read as a contradiction (review 39b F8) */
            n = snprintf(state, sizeof state, "whole target <= %.0f C   ", g->target_min_temp_c);
        /* the needle: drawn only when sure enough; otherwise say so */
        const cn_needle_result *nd = &f->analysis.needle;
        if (n >= 0 && (size_t)n < sizeof state) {
            if (g->phase == CN_PHASE_WITHDRAWN)
                snprintf(state + n, sizeof state - (size_t)n, "needle withdrawn");
            else if (!cn_viewer_needle_shown(&f->analysis))
                snprintf(state + n, sizeof state - (size_t)n, "needle not found");
            else if (nd->tip_hidden)
                snprintf(state + n, sizeof state - (size_t)n, "needle tip hidden");
            else
                snprintf(state + n, sizeof state - (size_t)n, "needle %.0f %%",
                         100.0 * nd->confidence);
        }
    }

    /* No frame number: it changes on every frame, and text that changes is text
     * FreeType rasterises again (it cost ~9 % of the process at 30 fps). */
    char image[96] = "";
    if (hud->no_image_yet)
        snprintf(image, sizeof image, "no image yet");
    else if (f && cn_viewer_frame_showable(f, NULL, 0) && hud->spacing_assumed)
        /* a depth computed from an assumed 1 mm/px (PLUS's bone scan: "616 mm") is a
         * figure nobody should read off the screen */
        snprintf(image, sizeof image, "image %dx%d  no pixel size: %.3g mm/px assumed",
                 f->width, f->height, f->spacing_mm[0]);
    else if (f && cn_viewer_frame_showable(f, NULL, 0))
        snprintf(image, sizeof image, "image %dx%d  %.3f mm/px  depth %.1f mm", f->width,
                 f->height, f->spacing_mm[0], f->height * f->spacing_mm[1]);

    if (hud->offline)
        snprintf(out, len,
                 "source %.32s   offline\n"
                 "every frame analysed, no live timing\n"
                 "%s\n%s\n%s\n%s",
                 src, phase, cover, state, image);
    else
        snprintf(out, len,
                 "source %.32s   %s fps\n"
                 "latency p50 %s ms  p99 %s ms  skipped %llu\n"
                 "%s\n%s\n%s\n%s",
                 src, fps, p50, p99, (unsigned long long)hud->skipped, phase, cover, state, image);
}

static void append(char *out, size_t len, const char *text)
{
    if (!text || !text[0])
        return;
    size_t used = strlen(out);
    if (used + 1 >= len)
        return;
    snprintf(out + used, len - used, "%s%s", used ? "   |   " : "", text);
}

void cn_viewer_status_format(const cn_viewer_hud *hud, const cn_frame *f, const char *note,
                             char *out, size_t len)
{
    if (!out || len == 0)
        return;
    out[0] = '\0';
    if (hud)
        append(out, len, hud->status_line);
    if (f && f->status == CN_FRAME_INVALID)
        append(out, len, "frame marked invalid");
    /* The plan's reminders on the screen, not only in the log (live audit M3: an
     * over-long freeze was "00:06 / 00:04" in the usual white): said while the step
     * runs past its planned time. */
    if (f && f->analysed) {
        const cn_guidance_state *g = &f->analysis.guidance;
        double pl = g->phase_planned_s, el = g->phase_elapsed_s;
        if (isfinite(pl) && pl > 0 && pl < 1e6 && isfinite(el) && el >= pl && el < 1e6) {
            char r[96];
            if (g->phase == CN_PHASE_FREEZE)
                snprintf(r, sizeof r, "PLAN: stop freeze %d (planned %02d:%02d)", g->cycle,
                         (int)(pl / 60), (int)(pl - 60 * (int)(pl / 60)));
            else if (g->phase == CN_PHASE_THAW)
                snprintf(r, sizeof r, "PLAN: thaw %d done (planned %02d:%02d)", g->cycle,
                         (int)(pl / 60), (int)(pl - 60 * (int)(pl / 60)));
            else
                r[0] = 0;
            append(out, len, r);
        }
    }
    /* A freeze with no zone at all: the screen says why (before, only the console did,
     * once, and the clinician saw a freeze timer run over an image without curves) */
    if (f && f->analysed && f->analysis.thermal.waiting)
        append(out, len, "no ablation zone: the cryoprobe is not known (no tracked cryoprobe, "
                         "no needle line found)");
    /* the model cannot follow the ice seen (thermal audit F3): said while it lasts */
    if (f && f->analysed && f->analysis.thermal.valid && f->analysis.thermal.disagree_mm > 0 &&
        f->analysis.thermal.disagree_mm < 1000) {
        char d[96];
        snprintf(d, sizeof d, "zone uncertain: the ice seen is %.1f mm from the model's best fit",
                 f->analysis.thermal.disagree_mm);
        append(out, len, d);
    }
    /* a step dated back in 3-D: the model steps on over a few frames (the image keeps
     * moving meanwhile) and shows no zone of the past */
    if (f && f->analysed && f->analysis.thermal.valid && f->analysis.thermal.catching_up_s > 0) {
        char c[112];
        snprintf(c, sizeof c, "no ablation zone for a moment: the model catches up a step keyed "
                 "late (it stands %.0f s behind)", f->analysis.thermal.catching_up_s);
        append(out, len, c);
    }
    if (f && f->analysed && f->analysis.thermal.valid && f->analysis.thermal.fit_behind)
        append(out, len, "zone not fitted to the ice: the model lags this pace");
    /* No tracked cryoprobe: the zone stands on the needle line the analysis found
     * when the freeze began, which on real tissue may be a fascia plane (a third of
     * nerve-block views without a needle, docs/validation.md). Said while the zone
     * is on the screen, not only once in the console. */
    if (f && f->analysed && f->analysis.thermal.valid &&
        f->analysis.thermal.anchor == CN_ZONE_ON_NEEDLE_LINE) {
        char on[128];
        float c = f->analysis.thermal.anchor_confidence;
        float sp = f->analysis.thermal.anchor_spread_mm;
        /* how steady the line was, not only the detector's confidence in a line: a fascia
         * line read 89 %, the shaft 92 % (review 43b F3) */
        if (isnan(sp))
            snprintf(on, sizeof on, "zone placed on a needle line first found in the freeze: "
                     "check the shaft");
        else if (!isfinite(sp))
            snprintf(on, sizeof on, "zone placed on a needle line seen on few frames before "
                     "the freeze: check the shaft");
        else if (sp > CN_ANCHOR_STEADY_MM)
            snprintf(on, sizeof on, "zone placed on a needle line that moved %.0f mm in the "
                     "second before the freeze: check the shaft", (double)sp);
        else if (isfinite(c) && c >= 0 && c <= 1)
            snprintf(on, sizeof on, "zone placed on the needle line found in the image (steady; "
                     "line %.0f %%)", 100.0 * c);
        else
            snprintf(on, sizeof on, "zone placed on the needle line found in the image");
        append(out, len, on);
    }
    char why[64];
    if (f && !cn_viewer_frame_showable(f, why, sizeof why))
        append(out, len, why);
    append(out, len, note);
}

/* Appends line [p, p + n) to out (a '\n' before all but the first), as much of it
 * as fits before the terminating NUL; out stays terminated. */
static void put_line(char *out, size_t len, size_t *o, int *lines, const char *p, size_t n)
{
    const size_t sep = *lines ? 1 : 0;
    (*lines)++;
    if (*o + sep + 1 >= len)
        return; /* not one more character fits */
    const size_t room = len - 1 - *o - sep;
    if (n > room)
        n = room;
    if (sep)
        out[(*o)++] = '\n';
    memcpy(out + *o, p, n);
    *o += n;
    out[*o] = '\0';
}

int cn_viewer_text_wrap(const char *in, int cols, int max_lines, bool pack, char *out, size_t len)
{
    if (!out || len == 0)
        return 0;
    out[0] = '\0';
    if (!in || cols < 4 || max_lines < 1)
        return 0;
    size_t o = 0;
    int lines = 0;
    bool cut = false;
    char cur[512]; /* pack: the line being filled with parts */
    size_t cur_n = 0;
    const size_t cap = (size_t)cols < sizeof cur - 1 ? (size_t)cols : sizeof cur - 1;
    const char *p = in;
    while (*p && !cut) {
        /* one part: up to the next '|', without the spaces around it */
        while (*p == ' ' || *p == '|')
            p++;
        const char *end = strchr(p, '|');
        if (!end)
            end = p + strlen(p);
        const char *e = end;
        while (e > p && e[-1] == ' ')
            e--;
        size_t n = (size_t)(e - p);
        if (pack && n > 0 && n <= cap) {
            if (cur_n && cur_n + 3 + n <= cap) { /* joins the line being filled */
                memcpy(cur + cur_n, " | ", 3);
                memcpy(cur + cur_n + 3, p, n);
                cur_n += 3 + n;
                p = end;
                continue;
            }
            if (cur_n) {
                if (lines == max_lines) {
                    cut = true;
                    break;
                }
                put_line(out, len, &o, &lines, cur, cur_n);
            }
            memcpy(cur, p, n);
            cur_n = n;
            p = end;
            continue;
        }
        if (cur_n) { /* a part too long to pack starts on a line of its own */
            if (lines == max_lines) {
                cut = true;
                break;
            }
            put_line(out, len, &o, &lines, cur, cur_n);
            cur_n = 0;
        }
        while (p < e) {
            if (lines == max_lines) {
                cut = true;
                break;
            }
            size_t k = (size_t)(e - p);
            if (k > (size_t)cols) { /* break at the last space that fits */
                k = (size_t)cols;
                for (size_t j = (size_t)cols; j > 0; j--)
                    if (p[j] == ' ') {
                        k = j;
                        break;
                    }
            }
            put_line(out, len, &o, &lines, p, k);
            p += k;
            while (p < e && *p == ' ')
                p++;
        }
        p = end;
    }
    if (cur_n && !cut) {
        if (lines == max_lines)
            cut = true;
        else
            put_line(out, len, &o, &lines, cur, cur_n);
    }
    if (cut && o > 0) { /* the last line says that more did not fit */
        char *last = strrchr(out, '\n');
        last = last ? last + 1 : out;
        size_t n = strlen(last);
        size_t keep = n + 3 <= (size_t)cols ? n : (size_t)cols > 3 ? (size_t)cols - 3 : 0;
        if ((size_t)(last - out) + keep + 4 <= len)
            memcpy(last + keep, "...", 4);
    }
    return lines;
}

/* Digits, and a decimal point or sign inside a number, are "numbers"; every run
 * of them counts as one '#', so "9 %" -> "10 %" is a change of numbers only. */
static bool number_char(const char *s, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (isdigit(c))
        return true;
    /* '.' between digits, '-' or '+' right before a digit */
    if (c == '.' && i > 0 && isdigit((unsigned char)s[i - 1]) && isdigit((unsigned char)s[i + 1]))
        return true;
    return (c == '-' || c == '+') && isdigit((unsigned char)s[i + 1]);
}

static bool same_words(const char *a, const char *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        bool na = a[i] && number_char(a, i), nb = b[j] && number_char(b, j);
        if (na != nb)
            return false;
        if (na) { /* skip both numbers whole */
            while (a[i] && number_char(a, i))
                i++;
            while (b[j] && number_char(b, j))
                j++;
            continue;
        }
        if (a[i] != b[j])
            return false;
        if (!a[i])
            return true;
        i++;
        j++;
    }
}

cn_text_update cn_viewer_text_update(const char *shown, const char *next, int64_t t_ns,
                                     int64_t t_shown_ns)
{
    shown = shown ? shown : "";
    next = next ? next : "";
    if (strcmp(shown, next) == 0)
        return CN_TEXT_KEEP;
    if (t_ns <= t_shown_ns || !same_words(shown, next))
        return CN_TEXT_NOW;
    return t_ns - t_shown_ns >= CN_VIEWER_NUMBERS_PERIOD_NS ? CN_TEXT_DUE : CN_TEXT_KEEP;
}
