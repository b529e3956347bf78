/* session_replay_inputs.c - a replay's recorded inputs, on the analysis thread.
 *
 * The recorded target, notes and marks and the operator's and console's procedure
 * steps come back on the frame being analysed (cn_session_replay_inputs, from the
 * console stage), and a jump is answered on the frame it landed on: caught up
 * forward, rewound and caught up backward (session_catchup.c), the session's
 * target recorded once. Moved out of session_stages.c in the fifteenth session,
 * when the jumps grew a file's worth of their own. */
#include "session.h"

#include "guidance/guidance.h"
#include "replay/replay.h"
#include "segment/segment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The point of a recorded "target x_mm=X y_mm=Y" event; false when t is not one. */
static bool target_point(const char *t, double *x, double *y)
{
    return strncmp(t, "target ", 7) == 0 && sscanf(t, "target x_mm=%lf y_mm=%lf", x, y) == 2;
}

/* A recorded target event: the nerve seed there, or none for "target cleared".
 * False when t is neither. */
static bool recorded_target(cn_session *s, const char *t, const char *why)
{
    double x, y;
    if (strcmp(t, CN_SESSION_TARGET_CLEARED) == 0) {
        if (s->segment)
            cn_segment_clear_nerve_seed(s->segment);
        cn_strlcpy(s->replay_target_set, t, sizeof s->replay_target_set);
        if (!s->catching_up)
            cn_log_info(s->log, "replay", "recorded target cleared%s: the nerve is no longer "
                        "followed", why);
        return true;
    }
    if (!target_point(t, &x, &y))
        return false;
    if (s->segment)
        cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)x, (float)y});
    cn_strlcpy(s->replay_target_set, t, sizeof s->replay_target_set);
    if (!s->catching_up)
        cn_log_info(s->log, "replay", "recorded target%s: nerve seed set at (%.1f, %.1f) mm", why,
                    x, y);
    return true;
}

/* After a jump (a --start after the first frame, a chapter, a seek, a skip, a loop)
 * the events of the frames jumped over never come with the frames, and the analysis
 * holds the state of where it was. A forward jump is caught up (session_catchup.c):
 * the analysis runs, unseen, on the frames jumped over, with their recorded inputs,
 * so the procedure (freeze count and state), the thermal model (every freeze
 * before, where it was) and the nerve's target are where the session had them. A
 * jump back (or a loop) first rewinds the analysis to before the first frame and
 * catches up from there. Before the fifteenth session a replay started at "freeze
 * 2" knew one freeze, and a looping replay's second pass counted freezes 3 and 4
 * with a model that could not follow; before the fourteenth a start had no target.
 * A frame step back while paused is not rewound for (a step costs one frame, a
 * rewind every frame before it): it keeps the state, and sets the target the
 * session had there when it is not the one set already, as does a jump whose
 * catch-up failed. The target at the
 * landed frame (the last recorded at or before it) is recorded once on this frame,
 * so a recording of the replay has it; one on the landed frame itself comes with
 * that frame's events and is not put twice. A jump after this frame (the device
 * ran ahead) is answered on its own frame. */
static void replay_jumped(cn_session *s, cn_frame *f)
{
    cn_replay_jump j;
    if (cn_replay_last_jump(s->replay, &j) == s->replay_jumps || f->seq < j.landed_seq)
        return;
    s->replay_jumps = j.jumps;
    const bool first_shown = s->replay_high < 0; /* a --start: nothing shown before */
    const int landed = j.landed;
    s->replay_landed = landed;
    s->replay_landed_seq = j.landed_seq;
    bool caught = false;
    if (landed <= j.from && !j.step) {
        /* back (a seek, a chapter, a skip, a loop): from the recording's start */
        cn_log_info(s->log, "replay", "back to frame %d from frame %d: the analysis starts "
                    "again from the recording's first frame", landed, j.from);
        cn_session_replay_rewind(s);
        caught = landed == 0 || cn_session_replay_catch_up(s, 0, landed, f) == CN_OK;
        s->replay_high = landed - 1;
    } else if (landed > j.from + 1) {
        caught = cn_session_replay_catch_up(s, j.from + 1, landed, f) == CN_OK;
        if (landed - 1 > s->replay_high)
            s->replay_high = landed - 1;
    }
    if (caught && first_shown && landed > 0) {
        /* the replay's first frame shown, and a recording of the replay's first:
         * it begins with the steps before it, at their times, as a recording
         * started mid-session does (its plan and target follow) */
        cn_event hist[64];
        int nh = cn_procedure_history(s->procedure, hist, 64, NULL);
        for (int i = 0; i < nh; i++)
            if (hist[i].t_scene_ns < f->t_scene_ns)
                cn_session_put_event(s, f, hist[i].source, hist[i].t_scene_ns, hist[i].text);
    }
    int n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    int last = -1;
    for (int i = 0; i < n && ch[i].frame <= landed; i++)
        if (strncmp(ch[i].text, "target ", 7) == 0)
            last = i;
    if (last < 0 || ch[last].frame == landed)
        return;
    const char *t = ch[last].text;
    double x, y;
    if (caught && target_point(t, &x, &y))
        cn_log_info(s->log, "replay", "recorded target (frame %d, before frame %d where the replay "
                    "went): nerve seed set at (%.1f, %.1f) mm", ch[last].frame, landed, x, y);
    if (caught) {
        /* the catch-up applied it on its own frame; recorded here, unless this
         * replay already recorded it (a skip forward while playing on) */
        if (strcmp(t, s->replay_target_put) != 0) {
            cn_session_put_event(s, f, ch[last].source, f->t_scene_ns, t);
            cn_strlcpy(s->replay_target_put, t, sizeof s->replay_target_put);
        }
        return;
    }
    if (strcmp(t, s->replay_target_set) == 0)
        return; /* a step back within the same target: the seed stays, nothing to record */
    char why[64];
    snprintf(why, sizeof why, " (frame %d, before frame %d where the replay went)", ch[last].frame,
             landed);
    if (recorded_target(s, t, why)) {
        cn_session_put_event(s, f, ch[last].source, f->t_scene_ns, t);
        cn_strlcpy(s->replay_target_put, t, sizeof s->replay_target_put);
    }
}

/* A recording started while its session ran (a proctor's StartRecording, a
 * replay's --start with --record) begins with the session's state: its first
 * frame carries the procedure's steps before it, each at its own time
 * (cn_session_state_events). They are the session's history: applied when the
 * analysis takes in the recording's first frame (shown, or caught up after a jump
 * or a rewind), at their times, so the replay is in the session's freeze (cycle,
 * start, what came before) from its first frame; and not again where they ride.
 * Before, a recording started in freeze 2 replayed as "freeze 1" begun at its
 * first frame. Whatever frame they ride on (8 events a frame), they are found by
 * their time, before the first frame's. */
void cn_session_replay_history(cn_session *s, cn_frame *first)
{
    s->replay_first_ns = first->t_scene_ns;
    if (first->t_scene_ns == CN_SCENE_TIME_UNSET || !s->procedure)
        return;
    int n = 0;
    const cn_seq_chapter *ch = cn_replay_chapters(s->replay, &n);
    /* the newest 48 (the procedure's queue holds 64 inputs; a file may carry any
     * number): the state is the end of the history */
    enum { HIST_MAX = 48, HISTORY_FRAMES = 16 };
    cn_event hist[HIST_MAX];
    int nh = 0;
    for (int i = 0; i < n; i++) {
        /* before the first frame, and within a day of it (a file's times are its own:
         * no overflow of the scene clock from a crafted one) */
        if (!(ch[i].t_s < -1e-4 && ch[i].t_s > -86400) || ch[i].source == CN_EVSRC_PLAN)
            continue;
        /* the recorder writes the history on its first frames (8 events a frame); a step
         * dated earlier that rides on a later frame (a freeze keyed when its ice had been
         * seen since before the recording began) happened there, and is applied there
         * with its own time (before, the replay was in that freeze from its first frame,
         * and never showed the ICE SEEN alarm the session showed: the review) */
        if (ch[i].frame >= HISTORY_FRAMES)
            continue;
        if (nh == HIST_MAX) {
            memmove(hist, hist + 1, sizeof hist[0] * (HIST_MAX - 1));
            nh--;
        }
        hist[nh].source = ch[i].source;
        hist[nh].t_scene_ns = first->t_scene_ns + llround(ch[i].t_s * 1e9);
        cn_strlcpy(hist[nh].text, ch[i].text, sizeof hist[nh].text);
        nh++;
    }
    if (nh == 0)
        return;
    s->replay_history_last_ns = hist[nh - 1].t_scene_ns;
    int q = cn_procedure_post_history(s->procedure, hist, nh);
    if (q < 0)
        cn_log_warn(s->log, "replay", "the recording's history before its first frame could not "
                    "all be applied (%s): the replay's freeze count may differ", cn_strerror(q));
    else if (!s->catching_up)
        cn_log_info(s->log, "replay", "the recording starts mid-session: %d steps before its first "
                    "frame (from %.1f s before it) bring the procedure where the session was", q,
                    (double)(first->t_scene_ns - hist[0].t_scene_ns) * 1e-9);
}

/* A step event of the history (timed before the recording's first frame). */
static bool history_event(const cn_session *s, const cn_event *e)
{
    return s->replay_first_ns != INT64_MIN && e->t_scene_ns != CN_SCENE_TIME_UNSET &&
           e->t_scene_ns < s->replay_first_ns - 100000 &&
           e->t_scene_ns <= s->replay_history_last_ns + 100000;
}

/* A recorded note or mark: said in the log, and kept for the status line. */
static void show_note(cn_session *s, const cn_event *e)
{
    char from[CN_EVENT_TEXT_MAX] = "", text[CN_EVENT_TEXT_MAX] = "", line[CN_EVENT_TEXT_MAX];
    const bool note = strncmp(e->text, "note ", 5) == 0;
    if (cn_event_get(e->text, "from", from, sizeof from) != CN_OK)
        cn_strlcpy(from, cn_event_source_name(e->source), sizeof from);
    if (cn_event_get(e->text, "text", text, sizeof text) != CN_OK)
        text[0] = 0;
    snprintf(line, sizeof line, "recorded %s from %s%s%s", note ? "note" : "mark", from,
             text[0] ? ": " : "", text);
    cn_log_info(s->log, "replay", "%s", line);
    pthread_mutex_lock(&s->target_mu);
    cn_strlcpy(s->replay_note, line, sizeof s->replay_note);
    s->replay_note_t_ns = e->t_scene_ns;
    pthread_mutex_unlock(&s->target_mu);
}

bool cn_session_replay_note(cn_session *s, int64_t t_scene_ns, char *out, size_t len)
{
    if (!s || !s->replay || !out || len == 0)
        return false;
    pthread_mutex_lock(&s->target_mu);
    const int64_t dt = t_scene_ns - s->replay_note_t_ns;
    const bool show = s->replay_note[0] && dt >= -500000000LL && dt <= 8000000000LL;
    if (show)
        cn_strlcpy(out, s->replay_note, len);
    pthread_mutex_unlock(&s->target_mu);
    return show;
}

/* Replay: the recorded events come back. The inputs of people and devices
 * (a target, notes, marks) are applied and recorded again; the operator's freeze
 * key sets the freeze state (the phase events follow from it below); what the
 * analysis derives (phases, alarms, the plan's reminders) is left out because it
 * is derived again. */
void cn_session_replay_apply(cn_session *s, cn_frame *f, const cn_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        const char *t = ev[i].text;
        if (recorded_target(s, t, "")) {
            cn_session_put_event(s, f, ev[i].source, ev[i].t_scene_ns, t);
            if (!s->catching_up)
                cn_strlcpy(s->replay_target_put, t, sizeof s->replay_target_put);
            continue;
        }
        /* The plan and its reminders are the procedure's to write: the recorded plan
         * became the replay's before its first frame (replay_plan; its event is
         * written once, by the procedure), and the reminders are derived again. */
        if (ev[i].source == CN_EVSRC_PLAN && s->procedure)
            continue;
        if (history_event(s, &ev[i]) && strncmp(t, "note ", 5) != 0 && strcmp(t, "mark") != 0)
            continue; /* applied at the first frame (cn_session_replay_history) */
        /* a recorded note or mark is shown and logged as it happened (before, it was
         * only written again: the class never saw what the proctor said: teaching
         * audit T1) */
        if (!s->catching_up && (strncmp(t, "note ", 5) == 0 || strcmp(t, "mark") == 0 ||
                                strncmp(t, "mark ", 5) == 0))
            show_note(s, &ev[i]);
        bool person = ev[i].source == CN_EVSRC_OPERATOR || ev[i].source == CN_EVSRC_PROCTOR ||
                      ev[i].source == CN_EVSRC_CONSOLE || ev[i].source == CN_EVSRC_PLAN;
        if (!person)
            continue;
        /* A procedure step a person (or the console) took goes back into the
         * procedure state, which derives the phase and writes the event again;
         * the plan's reminders are derived again from the plan. */
        size_t name_len = strcspn(t, " ");
        bool step = cn_step_of(t) != CN_STEP_NONE;
        /* an insertion the procedure took from a freeze keyed without one: the replayed
         * freeze takes it again, and says so (posted as a step, the re-recording read as a
         * keyed insertion: review 39c) */
        if (step && strstr(t, " inferred="))
            continue;
        if (step) {
            /* only a step that moves the procedure by itself: the freeze_end written with
             * a thaw_start is that thaw's part (before, both were posted and the second
             * refused, "the thaw is already passive", on the class's screen: T3) */
            if (ev[i].source != CN_EVSRC_PLAN && s->procedure && cn_step_leads(ev, n, i, NULL)) {
                char msg[48], perr[160];
                snprintf(msg, sizeof msg, "%.*s%s", (int)name_len, t,
                         strstr(t, "mode=active") ? " mode=active" : "");
                /* at its recorded time: a replay at speed skips frames, and the steps
                 * of a skipped frame reach the analysis with a later one (before, a
                 * re-recording moved them there, 0.2-0.9 s late, without their time:
                 * seq audit D5) */
                if (cn_procedure_console_at(s->procedure, ev[i].source, msg, ev[i].t_scene_ns,
                                            perr, sizeof perr) != CN_OK)
                    cn_log_warn(s->log, "replay", "recorded step '%s' not replayed: %s", msg,
                                perr);
            }
            continue;
        }
        cn_session_put_event(s, f, ev[i].source, ev[i].t_scene_ns, t);
    }
}

/* The replay's inputs on f; true when f is a frame the analysis took in before (a
 * step back, or forward again after one): its recorded inputs were applied then
 * and are not again, and the procedure is held (below). Without it a step back
 * over the simulator's freeze edge started a freeze that never was ("freeze 3"),
 * and a step forward again over a frame with a console event applied it twice. */
bool cn_session_replay_inputs(cn_session *s, cn_frame *f)
{
    if (!s->replay)
        return false;
    const uint64_t jumps = s->replay_jumps;
    replay_jumped(s, f); /* the frames jumped over come first */
    cn_event ev[32];
    int n = cn_replay_take_events_upto(s->replay, f->seq, ev, 32);
    const int idx = s->replay_landed + (int)(f->seq - s->replay_landed_seq);
    if (idx <= s->replay_high)
        return true;
    /* The file's scene clock goes back from one frame to the next, and not because
     * this replay jumped: the file is a replay re-recorded across a loop or a seek
     * back, one pass after another. The procedure and the thermal model run on
     * scene time and cannot go back (before, each later pass counted freezes 2, 3
     * ... and the model failed on every event: "could not follow the procedure"),
     * so the analysis starts again here, as at a recording's start. The frames
     * before belong to another pass: there is nothing to catch up. Any frame past the
     * highest, not only the next: a paced replay that skipped one frame at the pass's
     * edge missed it, and counted "freeze 3" (teaching audit T8). */
    if (jumps == s->replay_jumps && idx > s->replay_high && s->replay_scene_ns != INT64_MIN &&
        f->t_scene_ns != CN_SCENE_TIME_UNSET && f->t_scene_ns < s->replay_scene_ns - 50000000) {
        cn_log_info(s->log, "replay", "frame %d: the recording's scene clock goes back from "
                    "%.1f s to %.1f s (a replay re-recorded across a loop or a seek back): the "
                    "analysis starts again here, as at a recording's start", idx,
                    (double)s->replay_scene_ns * 1e-9, (double)f->t_scene_ns * 1e-9);
        cn_session_replay_rewind(s);
    }
    s->replay_high = idx;
    if (idx == 0)
        cn_session_replay_history(s, f);
    if (f->t_scene_ns != CN_SCENE_TIME_UNSET)
        s->replay_scene_ns = f->t_scene_ns;
    cn_session_replay_apply(s, f, ev, n);
    return false;
}
