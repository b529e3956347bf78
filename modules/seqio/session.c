/*
 * session.c - what a clinical study asks of a recording (clinical.md): procedure
 * time from skin insertion to withdrawal, freeze/thaw cycles and their durations,
 * maximum ice dimensions, coverage reached, closest approach of ice to the skin,
 * and the series `cryonav report` plots.
 *
 * Reads only the per-frame fields (never pixels), frame by frame. The phase comes
 * from the recorded analysis (guidance) when the file has it, else from the
 * simulator's ground truth (CryoNavTruth). A transition is timed at the first
 * frame showing the new phase, so durations are exact to one frame interval.
 * The nerve temperature is an estimate: the nerve centre's distance from the
 * needle tip placed between the recorded isotherm radii (linear in between,
 * rising to 37 C at twice the warmest isotherm's radius). The measured ice radius
 * is the visible front's height above the needle tip; isotherm radii are the
 * thermal model's predictions and are reported separately.
 *
 * Times are the file's Timestamp from the first frame: scene time in CryoNav
 * files, so a 150 s freeze is 150 s at any --time-scale or with --fast. Events
 * are read from CryoNavEvents (and the CryoNavNote of older files), each once.
 * The plotted series keep at most SERIES_MAX points (every other point is
 * dropped and the stride doubled when full), so memory does not grow with the
 * frame count a file claims.
 */
#include "seqio_priv.h"

#include "guidance/guidance.h" /* the phases and alarms */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_MAX 8192

/* Appends a point to the series, growing by half (at most SERIES_MAX points); when
 * full, keeps every other point and doubles *stride. */
static int series_push(cn_session_series *ser, int *cap, int *stride, int *skip, double t,
                       double ice, double temp, const double *iso, cn_phase phase) {
    if (*skip > 0) {
        (*skip)--;
        return CN_OK;
    }
    *skip = *stride - 1;
    if (ser->n == SERIES_MAX) {
        int k = 0;
        for (int i = 0; i < ser->n; i += 2, k++) {
            ser->t_s[k] = ser->t_s[i];
            ser->ice_radius_mm[k] = ser->ice_radius_mm[i];
            ser->nerve_temp_c[k] = ser->nerve_temp_c[i];
            for (int j = 0; j < CN_ISO_MAX; j++) ser->iso_radius_mm[j][k] = ser->iso_radius_mm[j][i];
            ser->phase[k] = ser->phase[i];
        }
        ser->n = k;
        *stride *= 2;
    }
    if (ser->n == *cap) {
        int nc = *cap ? *cap + *cap / 2 : 64;
        if (nc > SERIES_MAX) nc = SERIES_MAX;
        double **arrs[3 + CN_ISO_MAX] = {&ser->t_s, &ser->ice_radius_mm, &ser->nerve_temp_c};
        for (int j = 0; j < CN_ISO_MAX; j++) arrs[3 + j] = &ser->iso_radius_mm[j];
        for (int a = 0; a < 3 + CN_ISO_MAX; a++) {
            double *na = realloc(*arrs[a], (size_t)nc * sizeof(double));
            if (!na) return CN_ENOMEM;
            *arrs[a] = na;
        }
        uint8_t *np = realloc(ser->phase, (size_t)nc);
        if (!np) return CN_ENOMEM;
        ser->phase = np;
        *cap = nc;
    }
    int k = ser->n++;
    ser->t_s[k] = t;
    ser->ice_radius_mm[k] = ice;
    ser->nerve_temp_c[k] = temp;
    for (int j = 0; j < CN_ISO_MAX; j++) ser->iso_radius_mm[j][k] = iso[j];
    ser->phase[k] = (uint8_t)phase;
    return CN_OK;
}

static double nerve_temp(const cn_frame *f) {
    const cn_analysis *a = &f->analysis;
    if (!a->nerve.found || a->nerve.n <= 0 || a->n_iso <= 0 || !a->needle.found) return NAN;
    double cx = 0, cy = 0;
    for (int i = 0; i < a->nerve.n; i++) {
        cx += a->nerve.pts_mm[i].x;
        cy += a->nerve.pts_mm[i].y;
    }
    cx /= a->nerve.n;
    cy /= a->nerve.n;
    double d = hypot(cx - a->needle.tip_mm.x, cy - a->needle.tip_mm.y);
    /* sort isotherms by radius (coldest innermost) */
    int n = a->n_iso;
    double r[CN_ISO_MAX], t[CN_ISO_MAX];
    for (int i = 0; i < n; i++) {
        r[i] = a->iso[i].radius_mm;
        t[i] = a->iso[i].temp_c;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (r[j] < r[i]) {
                double x = r[i]; r[i] = r[j]; r[j] = x;
                x = t[i]; t[i] = t[j]; t[j] = x;
            }
    if (!(r[n - 1] > 0)) return 37.0;
    if (d <= r[0]) return t[0];
    for (int i = 0; i + 1 < n; i++)
        if (d <= r[i + 1]) {
            double s = (d - r[i]) / (r[i + 1] - r[i] > 1e-9 ? r[i + 1] - r[i] : 1e-9);
            return t[i] + s * (t[i + 1] - t[i]);
        }
    double s = (d - r[n - 1]) / r[n - 1];
    if (s > 1) s = 1;
    return t[n - 1] + s * (37.0 - t[n - 1]);
}

/* The time (s from t0) of the event on this frame that leads into phase `to`,
 * else t: the frame's own. */
static double phase_change_time(const cn_event *evl, int nev, cn_phase to, double t, int64_t t0,
                                double after)
{
    /* the event of a step into phase `to` (a freeze_end into the thaw it ends in:
     * their times are one), the last at or before the frame: a recording started
     * mid-session carries the steps before it on its first frame (negative times:
     * freeze 2 began 3 s before the recording; freeze 1's start is not its start) */
    double best = -INFINITY;
    for (int k = 0; k < nev; k++) {
        const cn_step st = cn_step_of(evl[k].text);
        const bool into = (to == CN_PHASE_FREEZE &&
                           (st == CN_STEP_FREEZE_START || st == CN_STEP_FREEZE_RESUME)) ||
                          (to == CN_PHASE_THAW &&
                           (st == CN_STEP_THAW_START || st == CN_STEP_FREEZE_END)) ||
                          (to == CN_PHASE_APPROACH &&
                           (st == CN_STEP_THAW_END || st == CN_STEP_REPOSITION ||
                            st == CN_STEP_NEEDLE_INSERTED)) ||
                          (to == CN_PHASE_WITHDRAWN && st == CN_STEP_NEEDLE_WITHDRAWN);
        double te = (double)(evl[k].t_scene_ns - t0) * 1e-9;
        if (into && te > best && te <= t + 1e-6 && te >= after)
            best = te;
    }
    return best; /* -INFINITY: none */
}

/* The time of the frame's needle_inserted event (history included), else t; *inferred:
 * the event says it was taken from a freeze keyed with no insertion before it. */
static double inserted_time(const cn_event *evl, int nev, double t, int64_t t0, bool *inferred)
{
    for (int k = 0; k < nev; k++)
        if (cn_step_of(evl[k].text) == CN_STEP_NEEDLE_INSERTED) {
            *inferred = strstr(evl[k].text, "inferred=") != NULL;
            return fmin(t, (double)(evl[k].t_scene_ns - t0) * 1e-9);
        }
    return t;
}

/* The phase a step event leads into (cn_step_leads), and a freeze's cycle. */
static bool event_phase(const cn_event *evl, int nev, int k, cn_phase *to, int *cycle) {
    *cycle = 0;
    if (!cn_step_leads(evl, nev, k, to)) return false;
    if (*to == CN_PHASE_FREEZE) {
        const char *c = strstr(evl[k].text, "cycle=");
        *cycle = c ? atoi(c + 6) : 0;
    }
    return true;
}

/* The report's timeline moves to phase ph at time t (seconds from the first frame). */
static void change_phase(cn_session_summary *s, cn_phase *prev, double *phase_start, int *cur,
                         cn_phase ph, int cyc, double t, const cn_event *evl, int nev,
                         int64_t t0) {
    if (*prev == CN_PHASE_FREEZE && *cur >= 0) s->cycles[*cur].freeze_s = t - *phase_start;
    if (*prev == CN_PHASE_THAW && *cur >= 0) s->cycles[*cur].thaw_s = t - *phase_start;
    /* a freeze that ends straight into withdrawal had no thaw */
    if (*prev == CN_PHASE_FREEZE && ph == CN_PHASE_WITHDRAWN && *cur >= 0)
        s->cycles[*cur].thaw_s = 0;
    if (ph != CN_PHASE_IDLE && isnan(s->insertion_s))
        s->insertion_s = inserted_time(evl, nev, t, t0, &s->insertion_inferred);
    /* a freeze that goes on (freeze_resume): its thaw was none, the freeze counts from
     * its own start */
    if (ph == CN_PHASE_FREEZE && *prev == CN_PHASE_THAW && *cur >= 0 && cyc > 0 &&
        s->cycles[*cur].cycle == cyc) {
        s->cycles[*cur].freeze_s = s->cycles[*cur].thaw_s = -1;
        *prev = ph;
        *phase_start = s->cycles[*cur].freeze_start_s;
        return;
    }
    if (ph == CN_PHASE_FREEZE && s->n_cycles < CN_SESSION_MAX_CYCLES) {
        *cur = s->n_cycles++;
        s->cycles[*cur].cycle = cyc > 0 ? cyc : *cur + 1;
        s->cycles[*cur].freeze_start_s = t;
        s->cycles[*cur].freeze_s = -1;
        s->cycles[*cur].thaw_s = -1;
        s->cycles[*cur].coverage_end = -1;
        s->cycles[*cur].target_temp_min_c = NAN;
        /* unknown until a frame of the cycle is read: a freeze from before the recording's
         * first frame read 0.0 mm of ice (the thirty-sixth session's review) */
        s->cycles[*cur].max_ice_radius_mm = -1;
    }
    if (ph == CN_PHASE_WITHDRAWN && isnan(s->withdrawal_s) && !isnan(s->insertion_s))
        s->withdrawal_s = t;
    *prev = ph;
    *phase_start = t;
}

/* The measured ice radius: the ice detector's radial thickness about the probe axis,
 * fitted to the rim (the model's isotherm radius measures the same); in recordings
 * made before the frames carried it, the visible front's distance above the needle
 * tip, else half its width; 0 when no ice is seen. The old estimate is not the same
 * measure: at the simulator's 30 deg needle it read ~2 mm more than the ball's true
 * thickness, so the report showed the model under-predicting ice it matched. */
static double ice_radius(const cn_frame *f, bool use_truth) {
    if (use_truth) return f->truth.ice_present ? f->truth.ice_radius_mm : 0;
    const cn_analysis *a = &f->analysis;
    const cn_ice_front *ic = &a->ice;
    if (!ic->found || ic->n < 3) return 0;
    if (ic->radius_mm > 0) return ic->radius_mm;
    double top = ic->pts_mm[1].y; /* frame_fields.c keeps the front's extent as 3 points */
    if (a->needle.found && a->needle.tip_mm.y > top) return a->needle.tip_mm.y - top;
    return (ic->pts_mm[2].x - ic->pts_mm[0].x) / 2;
}

/* One alarm period: listed while there is room, counted in its bit's totals always (a
 * flickering alarm filled the list and a later 54 s ICE GROWING IN THAW vanished: found by
 * a review of this session's changes). A period the clock runs back over (a replay
 * re-recorded across a seek) counts no time. */
static void alarm_period(cn_session_summary *s, uint32_t bit, double from_s, double to_s,
                         bool to_end)
{
    int b = 0;
    while (b < 31 && !(bit >> b & 1u))
        b++;
    if (!(s->alarm_count[b]++) || from_s < s->alarm_first_s[b])
        s->alarm_first_s[b] = from_s;
    s->alarm_total_s[b] += to_s > from_s ? to_s - from_s : 0;
    if (s->n_alarm_periods < 64)
        s->alarm_periods[s->n_alarm_periods++] =
            (cn_session_alarm_period){bit, from_s, to_s, to_end};
    else
        s->alarm_periods_dropped++;
}

static int by_from(const void *a, const void *b)
{
    const cn_session_alarm_period *x = a, *y = b;
    return (x->from_s > y->from_s) - (x->from_s < y->from_s);
}

int cn_session_summarize(const char *path, cn_session_summary *s, cn_session_series *ser,
                         char **events_out, cn_progress *progress, char *err, size_t err_len) {
    memset(s, 0, sizeof *s);
    if (ser) memset(ser, 0, sizeof *ser);
    if (events_out) *events_out = NULL;
    cn_seq_reader *r = cn_seq_reader_open(path, err, err_len);
    if (!r) return CN_EPARSE;
    const cn_seq_info *in = cn_seq_reader_info(r);
    int n = in->n_frames;
    s->n_frames = n;
    s->insertion_s = s->withdrawal_s = s->procedure_s = NAN; /* not seen */
    s->coverage_max = s->ice_skin_min_mm = s->max_model_ice_radius_mm = -1;
    cn_frame *f = calloc(1, sizeof *f);
    cn_sbuf ev;
    cn_sbuf_init(&ev, 8u << 20);
    if (!f) {
        cn_seq_reader_close(r);
        return CN_ENOMEM;
    }
    /* pass 0: does the recorded analysis carry phases (guidance ran)? If it never
     * left IDLE but the simulator's truth did, the truth is the better source. */
    bool use_truth = true, have_analysis = false, truth_phases = false;
    for (int i = 0; i < n; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, err_len);
        if (nf <= 0) continue;
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        if (cn_seq_field_find(fl, nf, "CryoNavAnalysed")) have_analysis = true;
        if (ph && strncmp(ph, "IDLE", 4) != 0) {
            use_truth = false;
            break;
        }
        const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
        if (tr && tr[0] != '0') truth_phases = true;
    }
    if (use_truth && have_analysis && !truth_phases) use_truth = false;
    s->phase_source = use_truth ? "truth" : "analysis";
    s->clock = in->scene_clock ? "scene" : "timestamp";
    /* A recording started mid-session: its first frames carry the steps before it
     * (times before the first frame's, 8 events a frame), read here first so the
     * first frame's phase is timed by its own event wherever that rides. */
    cn_event hist[64];
    int nhist = 0;
    int64_t t_first = CN_SCENE_TIME_UNSET;
    for (int i = 0; i < n && nhist < 64; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, err_len);
        if (nf < 0) break;
        memset(f, 0, sizeof *f);
        f->t_scene_ns = CN_SCENE_TIME_UNSET;
        cn_seqio_apply_fields(fl, nf, f);
        if (f->t_scene_ns == CN_SCENE_TIME_UNSET) continue;
        if (t_first == CN_SCENE_TIME_UNSET) t_first = f->t_scene_ns;
        const char *evs = cn_seq_field_find(fl, nf, "CryoNavEvents");
        cn_event evl[64];
        int nev = evs ? cn_seq_events_parse(evs, f->t_scene_ns, evl, 64) : 0;
        if (nev > 64) nev = 64;
        bool any = false;
        for (int k = 0; k < nev && nhist < 64; k++)
            if (evl[k].t_scene_ns < t_first) {
                hist[nhist++] = evl[k];
                any = true;
            }
        if (!any && i > 0) break;
    }
    int ser_cap = 0, ser_stride = 1, ser_skip = 0;
    int64_t t0 = 0;
    bool have_t0 = false;
    cn_phase prev = CN_PHASE_IDLE;
    double phase_start = 0;
    int cur = -1, rim_cycle = -1;
    cn__cyc_track track, *ct = &track;
    if (!cn__track_init(ct)) {
        cn_sbuf_free(&ev);
        cn_seq_reader_close(r);
        free(f);
        cn_errf(err, err_len, path, "out of memory");
        return CN_ENOMEM;
    }
    double last_t = 0;
    uint32_t alarms_prev = 0;
    double alarm_on_s[32] = {0};
    double rim_skin_min_mm = -1, alarm_skin_min_mm = -1;
    bool alarm_skin_seen = false;
    for (int i = 0; i < n; i++) {
        cn_progress_update(progress, i, n);
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, err_len);
        if (nf < 0) break;
        memset(f, 0, sizeof *f);
        f->t_scene_ns = CN_SCENE_TIME_UNSET;
        f->analysis.guidance.coverage = -1;
        cn_seqio_apply_fields(fl, nf, f);
        if (f->t_scene_ns == CN_SCENE_TIME_UNSET) continue; /* a frame without a time */
        if (!have_t0) {
            t0 = f->t_scene_ns;
            have_t0 = true;
        }
        double t = (double)(f->t_scene_ns - t0) * 1e-9;
        last_t = t;
        /* every event once, with its own time and source (all of them: the frame's
         * list is capped, the field is not) */
        const char *evs = cn_seq_field_find(fl, nf, "CryoNavEvents");
        cn_event evl[64];
        int nev = evs ? cn_seq_events_parse(evs, f->t_scene_ns, evl, 64) : 0;
        if (nev > 64) nev = 64;
        const char *note = cn_seq_field_find(fl, nf, "CryoNavNote"); /* older files */
        if (note && nev < 64) {
            cn_analysis tmp;
            tmp.n_events = 0;
            cn_analysis_add_event(&tmp, CN_EVSRC_OPERATOR, f->t_scene_ns, "note text=%s", note);
            evl[nev++] = tmp.events[0];
        }
        for (int k = 0; k < nev; k++) {
            cn_sbuf_printf(&ev, "%.3f %s: %s\n", (double)(evl[k].t_scene_ns - t0) * 1e-9,
                           cn_event_source_name(evl[k].source), evl[k].text);
            s->n_events++;
            if (strncmp(evl[k].text, "alarm set=", 10) == 0 || strncmp(evl[k].text, "alarm 0x", 8) == 0)
                s->n_alarms++;
            if (strncmp(evl[k].text, "note", 4) == 0) s->n_notes++;
            /* the debrief's list: what the proctor said (and the marks), when */
            const bool is_note = strncmp(evl[k].text, "note ", 5) == 0;
            if ((is_note || strcmp(evl[k].text, "mark") == 0) &&
                s->n_note_texts < (int)(sizeof s->note_texts / sizeof s->note_texts[0])) {
                char from[96] = "", words[200] = "";
                if (cn_event_get(evl[k].text, "from", from, sizeof from) != CN_OK)
                    cn_strlcpy(from, cn_event_source_name(evl[k].source), sizeof from);
                if (cn_event_get(evl[k].text, "text", words, sizeof words) != CN_OK) words[0] = 0;
                s->note_texts[s->n_note_texts].t_s = (double)(evl[k].t_scene_ns - t0) * 1e-9;
                snprintf(s->note_texts[s->n_note_texts].text, sizeof s->note_texts[0].text,
                         "%s %s%s%s", is_note ? "note from" : "mark by", from,
                         words[0] ? ": " : "", words);
                s->n_note_texts++;
            }
            if (strncmp(evl[k].text, "plan ", 5) == 0 && !s->plan[0])
                cn_strlcpy(s->plan, evl[k].text + 5, sizeof s->plan);
        }
        /* The steps of frames the analysis skipped (a replay at speed, a recording
         * gap) ride on this one with their own times: their phases come first, in
         * order, so a freeze no analysed frame showed is still a cycle (before, a
         * 1 s freeze replayed at 100x on a loaded machine left the report with none).
         * Steps older than the phase already reached are stale and skipped. A frame
         * the analysis skipped counts its own steps too (before, they were read only
         * on analysed frames: a live run at 5x timed freeze 1 from 4.69 s for its
         * event's 4.02 s, and a thaw on skipped frames merged two freezes into one
         * of 163 s, the thirty-sixth session's review); and a freeze_start of another
         * cycle is a new freeze even when the thaw between left no step. */
        for (int k = 0; k < nev; k++) {
            cn_phase to;
            int ecyc = 0;
            if (!event_phase(evl, nev, k, &to, &ecyc)) continue;
            double te = (double)(evl[k].t_scene_ns - t0) * 1e-9;
            const bool next_freeze = to == CN_PHASE_FREEZE && prev == CN_PHASE_FREEZE &&
                                     ecyc > 0 && cur >= 0 && s->cycles[cur].cycle != ecyc;
            if ((to == prev && !next_freeze) || te > t + 1e-6 ||
                (cur >= 0 && te < phase_start - 1e-6))
                continue;
            change_phase(s, &prev, &phase_start, &cur, to, ecyc, te, evl, nev, t0);
        }
        cn__track_step_back(ct, evl, nev, f->t_scene_ns, t0);
        bool have_phase = use_truth ? f->truth.valid : f->analysed;
        if (!have_phase) continue;
        s->n_analysed++;
        cn_phase ph = use_truth ? f->truth.phase : f->analysis.guidance.phase;
        int cyc = use_truth ? f->truth.cycle : f->analysis.guidance.cycle;
        double ir = ice_radius(f, use_truth);
        if (ser) {
            /* isotherms and nerve temperature come from the analysis whenever it ran
             * (thermal), whatever gave the phases */
            double iso[CN_ISO_MAX];
            if (f->analysed && f->analysis.n_iso > ser->n_iso) ser->n_iso = f->analysis.n_iso;
            for (int j = 0; j < CN_ISO_MAX; j++) {
                bool ok = f->analysed && j < f->analysis.n_iso;
                iso[j] = ok ? f->analysis.iso[j].radius_mm : NAN;
                if (ok) ser->iso_temp_c[j] = f->analysis.iso[j].temp_c;
            }
            /* the nerve's temperature: the model's at the target's warmest point as the
             * session recorded it (what the HUD's "target min" follows), else, in older
             * recordings, an estimate from the isotherm radii. The estimate took the
             * distance from the nerve's centre to the needle tip: the demo's report
             * showed the nerve at -40 C while the HUD said its warmest point stayed at
             * 21 C (coverage 21 %). */
            const char *tt = f->analysed ? cn_seq_field_find(fl, nf, "CryoNavTargetTemp") : NULL;
            double nt = NAN;
            if (tt) {
                char *end;
                double v = strtod(tt, &end);
                nt = end != tt && isfinite(v) ? v : NAN;
                ser->nerve_temp_model = true;
            } else if (f->analysed) {
                nt = nerve_temp(f);
            }
            if (series_push(ser, &ser_cap, &ser_stride, &ser_skip, t, ir, nt, iso, ph) != CN_OK) {
                cn_session_series_free(ser);
                cn_sbuf_free(&ev);
                free(f);
                cn__track_free(ct);
                cn_seq_reader_close(r);
                cn_errf(err, err_len, path, "out of memory for the report's series");
                return CN_ENOMEM;
            }
        }
        if (isfinite(ir) && ir > s->max_ice_radius_mm) s->max_ice_radius_mm = ir;
        if (isfinite(ir) && ir > 0) s->ice_frames++;
        double r0 = NAN; /* the model's 0 C radius shown */
        for (int j = 0; f->analysed && j < f->analysis.n_iso; j++)
            if (fabs(f->analysis.iso[j].temp_c) < 1e-6 && isfinite(f->analysis.iso[j].radius_mm))
                r0 = f->analysis.iso[j].radius_mm;
        if (!use_truth) {
            const cn_ice_front *ic = &f->analysis.ice;
            /* a freeze frame without the rim once the rim was found in that freeze (its
             * first seconds, before ice shows, are not a rim lost: review 39c) */
            if (ph == CN_PHASE_FREEZE && ic->found) rim_cycle = cur;
            else if (ph == CN_PHASE_FREEZE && rim_cycle == cur && cur >= 0) s->rim_lost_frames++;
            if (ic->found && ic->n >= 3) {
                double w = ic->pts_mm[2].x - ic->pts_mm[0].x;
                double d = ic->pts_mm[0].y - ic->pts_mm[1].y;
                if (w > s->max_ice_width_mm) s->max_ice_width_mm = w;
                if (d > s->max_ice_depth_mm) s->max_ice_depth_mm = d;
                double top = ic->pts_mm[1].y;
                if (rim_skin_min_mm < 0 || top < rim_skin_min_mm) rim_skin_min_mm = top;
            }
            /* the closest approach is the ICE NEAR SKIN alarm's own distance where the
             * recording has it: before, the rim's alone, so a report said 2.0 mm while
             * the screen said ICE 0.1 mm FROM SKIN from the model's ice (the thirty-sixth
             * session's review) */
            const char *its = cn_seq_field_find(fl, nf, "CryoNavIceToSkin");
            if (its) {
                char *end;
                const double v = strtod(its, &end);
                alarm_skin_seen = true;
                if (end != its && isfinite(v) && (alarm_skin_min_mm < 0 || fmax(v, 0) <
                                                  alarm_skin_min_mm))
                    alarm_skin_min_mm = fmax(v, 0);
            }
        } else if (f->truth.ice_present) {
            /* the rim's top is the 13th value of CryoNavTruth (frame_fields.c) */
            double tv[13];
            const char *tr = cn_seq_field_find(fl, nf, "CryoNavTruth");
            double top = tr && cn_seqio_parse_doubles(tr, tv, 13) == 13 ? tv[12] : -1;
            if (top >= 0 && (s->ice_skin_min_mm < 0 || top < s->ice_skin_min_mm))
                s->ice_skin_min_mm = top;
            if (2 * ir > s->max_ice_width_mm) s->max_ice_width_mm = 2 * ir;
            if (2 * ir > s->max_ice_depth_mm) s->max_ice_depth_mm = 2 * ir;
        }
        if (ph != prev) {
            /* The change happened when its event says: a frame after a recording
             * gap carries the events of the gap with their own times (@t), and its
             * own time would lengthen the phase left by the gap (a 10 s freeze read
             * 13.5 s, its 5 s thaw 1.5 s). */
            const double after = cur < 0 && prev == CN_PHASE_IDLE ? -INFINITY : phase_start;
            const double te = fmax(phase_change_time(hist, nhist, ph, t, t0, after),
                                   phase_change_time(evl, nev, ph, t, t0, after));
            if (isfinite(te)) t = te;
            change_phase(s, &prev, &phase_start, &cur, ph, cyc, t, evl, nev, t0);
        }
        /* the cycle's ice, once this frame's phase change is made (before, the first frame
         * of freeze 2 gave its ice to freeze 1, and a recording started in freeze 2 gave
         * freeze 1, all before it, the ice of freeze 2) */
        if (cur >= 0 && (ph == CN_PHASE_FREEZE || ph == CN_PHASE_THAW)) {
            double *m = &s->cycles[cur].max_ice_radius_mm;
            *m = fmax(*m, 0); /* a frame of it was read */
            if (isfinite(ir) && ir > *m)
                *m = ir;
            if (isfinite(ir) && ir > 0)
                s->cycles[cur].ice_frames++;
        }
        /* each alarm's periods, for a debrief (teaching audit T10: the report counted
         * alarm events, not which alarm, nor for how long): on from the first frame
         * that carries it to the first that does not */
        if (f->analysed && !use_truth) {
            const double tf = (double)(f->t_scene_ns - t0) * 1e-9;
            const uint32_t now = f->analysis.guidance.alarms;
            for (int b = 0; b < 32; b++) {
                const uint32_t m = 1u << b;
                if ((now & m) && !(alarms_prev & m))
                    alarm_on_s[b] = tf;
                else if (!(now & m) && (alarms_prev & m))
                    alarm_period(s, m, alarm_on_s[b], tf, false);
            }
            alarms_prev = now;
        }
        /* per cycle, for a debrief: the coverage when the freeze ended, the coldest the
         * target got (teaching audit T10: the report gave neither, only a best coverage
         * that could be a one-frame spike); with the best coverage and the largest 0 C
         * radius, kept by time so a step dated back takes them back (cyc_track) */
        const double cov = f->analysed && !use_truth ? f->analysis.guidance.coverage : -1;
        if (cur >= 0 && (ph == CN_PHASE_FREEZE || ph == CN_PHASE_THAW)) {
            cn__track_to(s, ct, cur);
            const int64_t tn = f->t_scene_ns - t0; /* its own time, not its step's */
            if (ph == CN_PHASE_FREEZE && cov >= 0) cn_timeline_add(ct->cov_freeze, tn, cov);
            if (cov >= 0) cn_timeline_add(ct->cov, tn, cov);
            cn_timeline_add(ct->r0, tn, r0);
            /* as recorded (CryoNavTargetTemp: the frame read back does not carry it) */
            const char *tv =
                f->analysed && !use_truth ? cn_seq_field_find(fl, nf, "CryoNavTargetTemp") : NULL;
            char *end = NULL;
            const double tt = tv ? strtod(tv, &end) : NAN;
            if (tv && end != tv && isfinite(tt)) cn_timeline_add(ct->tt, tn, tt);
        } else {
            if (cov >= 0 && cov > s->coverage_max) s->coverage_max = cov;
            if (isfinite(r0) && r0 > s->max_model_ice_radius_mm) s->max_model_ice_radius_mm = r0;
        }
    }
    /* the alarms still on at the end; the periods in the order they began */
    for (int b = 0; b < 32; b++)
        if (alarms_prev >> b & 1u)
            alarm_period(s, 1u << b, alarm_on_s[b], last_t, true);
    qsort(s->alarm_periods, (size_t)s->n_alarm_periods, sizeof s->alarm_periods[0], by_from);
    if (!use_truth) /* the alarm's distance where recorded, else (older files) the rim's */
        s->ice_skin_min_mm = alarm_skin_seen ? alarm_skin_min_mm : rim_skin_min_mm;
    s->duration_s = last_t;
    if (s->n_analysed == 0) s->phase_source = "none"; /* neither analysis nor truth */
    /* the recording ended in a freeze or its thaw: the duration up to the end, and said
     * (before, a recording killed 54 s into a freeze read "freeze 54.0 s" as if it had
     * ended then, and a thaw running at the end read null: the thirty-sixth session's
     * review) */
    if (cur >= 0 && prev == CN_PHASE_FREEZE && s->cycles[cur].freeze_s < 0) {
        s->cycles[cur].freeze_s = last_t - phase_start;
        s->cycles[cur].running_at_end = CN_PHASE_FREEZE;
    }
    if (cur >= 0 && prev == CN_PHASE_THAW && s->cycles[cur].thaw_s < 0) {
        s->cycles[cur].thaw_s = last_t - phase_start;
        s->cycles[cur].running_at_end = CN_PHASE_THAW;
    }
    if (!isnan(s->insertion_s) && !isnan(s->withdrawal_s))
        s->procedure_s = s->withdrawal_s - s->insertion_s;
    cn__track_settle(s, ct);
    cn__track_free(ct);
    free(f);
    cn_seq_reader_close(r);
    if (events_out) *events_out = ev.s ? ev.s : strdup("");
    else cn_sbuf_free(&ev);
    return CN_OK;
}

void cn_session_series_free(cn_session_series *s) {
    if (!s) return;
    free(s->t_s);
    free(s->ice_radius_mm);
    free(s->nerve_temp_c);
    free(s->phase);
    for (int k = 0; k < CN_ISO_MAX; k++) free(s->iso_radius_mm[k]);
    memset(s, 0, sizeof *s);
}
