/*
 * session_json.c - the session summary (session.c) as the JSON `cryonav report` prints
 * and writes to summary.json: every figure, null where the recording cannot say it,
 * and text kept whatever its bytes.
 */
#include "seqio_priv.h"

#include "guidance/guidance.h" /* the alarms' words */

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *num_or_null(double v) { return v >= 0 && isfinite(v) ? json_real(v) : json_null(); }
/* a time from the recording's first frame: before it (negative) in a recording
 * started mid-session */
static json_t *time_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* A JSON string of t, whatever its bytes: jansson refuses text that is not UTF-8, and the
 * key was then dropped without a word (a Latin-1 file name lost "file", a note its
 * "text": the thirty-sixth session's review). Bytes that are not UTF-8 become '?'. */
static json_t *json_text(const char *t) {
    json_t *j = json_string(t ? t : "");
    if (j)
        return j;
    size_t n = strlen(t);
    char *c = malloc(n + 1);
    if (!c)
        return json_string("?");
    for (size_t i = 0; i < n;) {
        const unsigned char b = (unsigned char)t[i];
        size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)t[i + k] & 0xc0) == 0x80;
        if (!ok)
            len = 1;
        for (size_t k = 0; k < len; k++)
            c[i + k] = ok ? t[i + k] : '?';
        i += len;
    }
    c[n] = 0;
    j = json_string(c);
    if (!j) /* an overlong form or a surrogate: ASCII alone then */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)c[i] >= 0x80)
                c[i] = '?';
    if (!j)
        j = json_string(c);
    free(c);
    return j;
}

char *cn_session_summary_json(const cn_session_summary *s, const char *path) {
    json_t *o = json_object();
    json_object_set_new(o, "file", json_text(path));
    json_object_set_new(o, "frames", json_integer(s->n_frames));
    json_object_set_new(o, "frames_with_phase", json_integer(s->n_analysed));
    json_object_set_new(o, "phase_source", json_string(s->phase_source ? s->phase_source : ""));
    json_object_set_new(o, "clock", json_string(s->clock ? s->clock : ""));
    json_object_set_new(o, "duration_s", json_real(s->duration_s));
    json_object_set_new(o, "needle_insertion_s", time_or_null(s->insertion_s));
    json_object_set_new(o, "needle_withdrawal_s", time_or_null(s->withdrawal_s));
    json_object_set_new(o, "procedure_time_s", num_or_null(s->procedure_s));
    /* the insertion was not keyed: taken from the first freeze, so the procedure time is a
     * lower bound */
    json_object_set_new(o, "insertion_inferred", json_boolean(s->insertion_inferred));
    json_t *cy = json_array();
    for (int i = 0; i < s->n_cycles; i++) {
        const cn_session_cycle *c = &s->cycles[i];
        json_t *e = json_object();
        json_object_set_new(e, "cycle", json_integer(c->cycle));
        json_object_set_new(e, "freeze_start_s", json_real(c->freeze_start_s));
        json_object_set_new(e, "freeze_s", num_or_null(c->freeze_s));
        json_object_set_new(e, "thaw_s", num_or_null(c->thaw_s));
        json_object_set_new(e, "running_at_end",
                            c->running_at_end == CN_PHASE_FREEZE ? json_string("freeze")
                            : c->running_at_end == CN_PHASE_THAW ? json_string("thaw")
                                                                 : json_null());
        /* no ice seen in it: null, not a measured 0.0 mm (review 41b) */
        json_object_set_new(e, "max_ice_radius_mm",
                            c->ice_frames > 0 ? num_or_null(c->max_ice_radius_mm) : json_null());
        json_object_set_new(e, "ice_seen_frames", json_integer(c->ice_frames));
        json_object_set_new(e, "coverage_at_freeze_end", num_or_null(c->coverage_end));
        json_object_set_new(e, "target_temp_min_c",
                            isfinite(c->target_temp_min_c) ? json_real(c->target_temp_min_c)
                                                           : json_null());
        json_array_append_new(cy, e);
    }
    json_object_set_new(o, "cycles", cy);
    json_object_set_new(o, "plan", s->plan[0] ? json_text(s->plan) : json_null());
    /* A file CryoNav never analysed (any PLUS or Slicer file) measured no ice and raised
     * no alarm: null, and said, not 0.0 mm and 0 alarms (review 41a) */
    const bool analysed = !s->phase_source || strcmp(s->phase_source, "none") != 0;
    json_object_set_new(o, "analysed", json_boolean(analysed));
    if (!analysed)
        json_object_set_new(o, "not_analysed", json_string(
            "the file holds no CryoNav analysis: `cryonav replay FILE --speed 0 --record NEW` "
            "analyses every frame, and `cryonav report NEW` reports it"));
    const bool ice = analysed && s->ice_frames > 0; /* no ice seen: no size, not 0.0 mm */
    json_object_set_new(o, "max_ice_radius_mm",
                        ice ? json_real(s->max_ice_radius_mm) : json_null());
    json_object_set_new(o, "max_ice_width_mm", ice ? json_real(s->max_ice_width_mm) : json_null());
    json_object_set_new(o, "max_ice_depth_mm", ice ? json_real(s->max_ice_depth_mm) : json_null());
    json_object_set_new(o, "ice_seen_frames", json_integer(s->ice_frames));
    json_object_set_new(o, "max_ice_radius_model_mm", num_or_null(s->max_model_ice_radius_mm));
    json_object_set_new(o, "freeze_frames_without_rim", json_integer(s->rim_lost_frames));
    json_object_set_new(o, "coverage_max", num_or_null(s->coverage_max));
    json_object_set_new(o, "ice_to_skin_min_mm", num_or_null(s->ice_skin_min_mm));
    json_object_set_new(o, "events", json_integer(s->n_events));
    json_object_set_new(o, "alarms", analysed ? json_integer(s->n_alarms) : json_null());
    json_object_set_new(o, "notes", json_integer(s->n_notes));
    json_t *nt = json_array();
    for (int i = 0; i < s->n_note_texts; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "t_s", json_real(s->note_texts[i].t_s));
        json_object_set_new(e, "text", json_text(s->note_texts[i].text));
        json_array_append_new(nt, e);
    }
    json_object_set_new(o, "notes_and_marks", nt);
    json_t *ap = json_array();
    for (int i = 0; i < s->n_alarm_periods; i++) {
        char words[160], bit[16];
        json_t *e = json_object();
        cn_guidance_alarm_text(s->alarm_periods[i].bit, words, sizeof words);
        snprintf(bit, sizeof bit, "0x%x", (unsigned)s->alarm_periods[i].bit);
        json_object_set_new(e, "alarm", json_text(words));
        json_object_set_new(e, "bit", json_string(bit));
        json_object_set_new(e, "from_s", json_real(s->alarm_periods[i].from_s));
        json_object_set_new(e, "to_s", json_real(s->alarm_periods[i].to_s));
        json_object_set_new(e, "duration_s",
                            json_real(s->alarm_periods[i].to_s - s->alarm_periods[i].from_s));
        json_object_set_new(e, "on_at_end", json_boolean(s->alarm_periods[i].to_end));
        json_array_append_new(ap, e);
    }
    json_object_set_new(o, "alarm_periods", ap);
    json_object_set_new(o, "alarm_periods_not_listed", json_integer(s->alarm_periods_dropped));
    json_t *ak = json_array(); /* every alarm, all its periods counted */
    for (int b = 0; b < 32; b++) {
        if (!s->alarm_count[b])
            continue;
        char words[160], bit[16];
        json_t *e = json_object();
        cn_guidance_alarm_text(1u << b, words, sizeof words);
        snprintf(bit, sizeof bit, "0x%x", 1u << b);
        json_object_set_new(e, "alarm", json_text(words));
        json_object_set_new(e, "bit", json_string(bit));
        json_object_set_new(e, "periods", json_integer(s->alarm_count[b]));
        json_object_set_new(e, "total_s", json_real(s->alarm_total_s[b]));
        json_object_set_new(e, "first_s", json_real(s->alarm_first_s[b]));
        json_array_append_new(ak, e);
    }
    json_object_set_new(o, "alarms_by_kind", ak);
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    return txt;
}
