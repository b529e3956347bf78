/* session_replay.c - replay for teaching (issue 14): where a replay starts
 * (--start: a chapter such as "freeze 2", a scene time, or a frame), starting
 * paused, and the chapter keys (n next, N previous, 1-9 freeze N).
 *
 * Chapters are the recorded events (seqio's cn_seq_chapters); the replay device
 * does the jumping (devices/replay), this file only maps what a user types. */
#include "session.h"

#include "replay/replay.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "95", "95s", "95.5 s", "1:35", "1:02:03" -> seconds; false when not a time. */
static bool parse_time(const char *w, double *t)
{
    double parts[3];
    int n = 0;
    const char *p = w;
    while (n < 3) {
        char *e;
        double v = strtod(p, &e);
        if (e == p || !(v >= 0) || !isfinite(v))
            return false;
        parts[n++] = v;
        p = e;
        if (*p != ':')
            break;
        p++;
    }
    while (*p == ' ')
        p++;
    if (*p == 's' && n == 1)
        p++;
    if (*p)
        return false;
    *t = 0;
    for (int i = 0; i < n; i++)
        *t = *t * 60 + parts[i];
    return true;
}

static void chapter_list(const cn_seq_chapter *c, int n, char *out, size_t len)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n && o + 4 < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", c[i].name);
    if (n == 0)
        snprintf(out, len, "none: the recording has no events");
}

int cn_session_replay_setup(cn_session *s, char *err, size_t err_len)
{
    cn_replay *rp = s->replay;
    if (!rp)
        return CN_OK;
    s->replay_landed = 0; /* the device emits frame 0 first as seq 1 unless it jumps */
    s->replay_landed_seq = 1;
    s->replay_high = -1;
    s->replay_scene_ns = INT64_MIN;
    s->replay_first_ns = INT64_MIN;
    s->replay_history_last_ns = INT64_MIN;
    if (s->opts.spacing_mm[0] > 0) /* PLUS files whose transforms give no spacing */
        cn_replay_set_default_spacing(rp, s->opts.spacing_mm[0], s->opts.spacing_mm[1]);
    /* A file that states no pixel size is replayed at 1 mm per pixel: PLUS's bone scan
     * then reads 616 mm deep on the screen, and every distance, the needle's angle rules
     * and the ablation zone are off scale. `cryonav info` said so; the replay did not. */
    const cn_seq_info *in = cn_replay_info(rp);
    if (in && in->frame_bytes > 0 && strcmp(in->spacing_source, "none") == 0) {
        s->spacing_assumed = true;
        const char *slash = strrchr(s->opts.replay_path, '/');
        char said[96] = "no ImageToProbe transform, no ElementSpacing";
        if (in->spacing_invalid)
            snprintf(said, sizeof said, "its ElementSpacing %g %g is none",
                     in->spacing_stated[0], in->spacing_stated[1]);
        cn_log_warn(s->log, "replay", "%s states no pixel size (%s): 1 mm per pixel is assumed, "
                    "so the image reads %d mm deep and every distance and the ablation zone are "
                    "off scale; give --spacing-mm SX[,SY]",
                    slash ? slash + 1 : s->opts.replay_path, said, in->height);
    }
    int nch = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(rp, &nch);
    if (nch > 0)
        cn_log_info(s->log, "replay", "%d chapters (keys: n next, N previous, 1-9 freeze N; "
                    "`cryonav replay FILE --chapters` lists them)", nch);
    if (s->opts.replay_paused) {
        cn_replay_pause(rp, true);
        cn_replay_step(rp, 0); /* show the first frame, then wait for keys */
    }
    const char *w = s->opts.replay_start;
    if (!w[0])
        return CN_OK;
    double t;
    if (w[0] == '#') {
        char *e;
        long k = strtol(w + 1, &e, 10);
        if (e == w + 1 || *e || k < 0 || k >= cn_replay_frame_count(rp)) {
            snprintf(err, err_len, "--start %s: no such frame (the file has %d, numbered from #0)", w,
                     cn_replay_frame_count(rp));
            return CN_EINVAL;
        }
        cn_replay_seek(rp, (int)k);
        if (s->opts.replay_paused)
            cn_replay_step(rp, 0);
    } else if (parse_time(w, &t)) {
        /* a time past the end landed on the last frame without a word (teaching audit
         * T2); times count from the first frame, whatever clock the file keeps */
        const double span = cn_replay_span_s(rp, NULL);
        if (isfinite(span) && t > span + 0.5) {
            snprintf(err, err_len, "--start %s: the recording lasts %.1f s (times count from its "
                     "first frame; `--chapters` lists its chapters, `chapter N` starts at one)",
                     w, span);
            return CN_EINVAL;
        }
        cn_log_info(s->log, "replay", "starting at %.1f s from the first frame", t);
        cn_replay_seek_time(rp, t);
    } else {
        /* "chapter 9" (or "c9"): the chapter `--chapters` numbers 9 (a bare number is a
         * time: "9" is 9 s) */
        char num[32] = "";
        const char *d = strncasecmp(w, "chapter", 7) == 0 ? w + 7
                        : (w[0] == 'c' || w[0] == 'C') ? w + 1
                                                       : NULL;
        if (d) {
            while (*d == ' ')
                d++;
            char *e;
            long c = strtol(d, &e, 10);
            if (e != d && !*e && c >= 1 && c <= nch)
                snprintf(num, sizeof num, "%ld", c);
            else if (e != d && !*e) {
                snprintf(err, err_len, "--start %s: no such chapter (the recording has %d; "
                         "`--chapters` lists them)", w, nch);
                return CN_EINVAL;
            }
        }
        int k = cn_replay_seek_chapter(rp, num[0] ? num : w);
        if (k < 0) {
            char list[600];
            chapter_list(ch, nch, list, sizeof list);
            snprintf(err, err_len, "--start '%s': no such chapter, time or frame (chapters: %s)", w,
                     list);
            return CN_EINVAL;
        }
        cn_log_info(s->log, "replay", "starting at chapter %d: %s (frame %d, %.1f s)", k + 1, ch[k].name,
                    ch[k].frame, ch[k].t_s);
    }
    return CN_OK;
}

bool cn_session_replay_key(cn_session *s, int key)
{
    if (!s->replay)
        return false;
    int k = -1, n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    if (key == 'n' || key == 'N') { /* (p / P belong to the proctor link) */
        k = cn_replay_step_chapter(s->replay, key == 'n' ? 1 : -1);
    } else if (key >= '1' && key <= '9') {
        char what[32];
        snprintf(what, sizeof what, "freeze %c", key);
        k = cn_replay_seek_chapter(s->replay, what);
    } else {
        return false;
    }
    /* said on the window's status line too (before, in the log only: teaching audit T4) */
    if (k >= 0)
        snprintf(s->key_msg, sizeof s->key_msg, "chapter %d of %d: %.100s (%.1f s)", k + 1, n,
                 ch[k].name, ch[k].t_s);
    else
        snprintf(s->key_msg, sizeof s->key_msg, "key %c: no such chapter (%d chapters)", key, n);
    s->key_msg_ns = cn_clock_mono_ns();
    cn_log_info(s->log, "keys", "%s", s->key_msg);
    return true;
}

void cn_session_print_chapters(cn_session *s, FILE *out)
{
    int n = 0;
    const cn_seq_chapter *c = s->replay ? cn_replay_chapters(s->replay, &n) : NULL;
    for (int i = 0; i < n; i++)
        fprintf(out, "%3d  %8.1f s  frame %6d  %-9s  %s\n", i + 1, c[i].t_s, c[i].frame,
                cn_event_source_name(c[i].source), c[i].name);
}

/* "REPLAY 03:02 / 03:17  freeze 2  PAUSED": the frame's time from the recording's first
 * frame, its length, the chapter the frame is in. */
void cn_session_replay_where(cn_session *s, const cn_frame *f, char *out, size_t len)
{
    double t0_s = NAN;
    const double span_s = cn_replay_span_s(s->replay, &t0_s);
    const double t = f->t_scene_ns != CN_SCENE_TIME_UNSET && isfinite(t0_s)
                         ? (double)f->t_scene_ns * 1e-9 - t0_s
                         : NAN;
    int n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    /* the frame shown, not the device's position, which may be a few frames ahead and
     * named the next chapter early at its edge */
    const int pos = f->source_frame >= 0 ? f->source_frame : cn_replay_position(s->replay);
    const char *chapter = NULL;
    for (int i = 0; i < n; i++)
        if (ch[i].frame <= pos && strncmp(ch[i].name, "alarm", 5) != 0 &&
            strncmp(ch[i].name, "note", 4) != 0 && strcmp(ch[i].name, "mark") != 0)
            chapter = ch[i].name;
    char tt[32] = "--:--", st[32] = "--:--";
    if (isfinite(t) && t >= 0)
        snprintf(tt, sizeof tt, "%02d:%02d", (int)(t / 60), (int)fmod(t, 60));
    if (isfinite(span_s) && span_s >= 0)
        snprintf(st, sizeof st, "%02d:%02d", (int)(span_s / 60), (int)fmod(span_s, 60));
    snprintf(out, len, "REPLAY %s / %s%s%.60s%s", tt, st, chapter ? "  " : "",
             chapter ? chapter : "", cn_replay_paused(s->replay) ? "  PAUSED" : "");
}
