/* session_catchup.c - a replay's forward jump caught up: the frames jumped over
 * analysed unseen, so the replay lands where the session was.
 *
 * The idea: what the analysis knows at a frame is everything before it: which
 * freeze this is, where each earlier freeze was and for how long (the thermal
 * model's cold field), the nerve's target and its tracker, the alarms' hysteresis.
 * A replay that jumps (`--start "freeze 2"`, a chapter key, a seek) used to analyse
 * only from where it landed: it counted that freeze as the first, its model had
 * never seen the freeze before, and a nerve already under that ice was not
 * outlined. Now the stages after the console (segment, thermal, guidance: the
 * ones that keep state) run on the frames jumped over first, read by a reader of
 * the session's own (the device's is its thread's), with their recorded inputs
 * applied as the console stage applies them (cn_session_console_hidden).
 *
 * Nothing of those frames is shown, sent to proctors or recorded: they are not
 * frames of the replay. Meanwhile the replay is held (cn_replay_hold: before, it
 * played on at the recorded pace, the analysis skipped all it emitted, and the
 * replay went on from where the pace had got to, seconds after the landing), and
 * so are the inputs other threads post (cn_procedure_hold_inputs: an operator's
 * key pressed during the catch-up lands on the first frame shown, not on a frame
 * of the past that nobody sees and no recording holds).
 *
 * Every frame jumped over is analysed. A frame every 0.2 s of scene time (and
 * every frame with an event) was tried first: landing at "freeze 2" of a
 * simulated session it left the -20 C curve up to 0.50 mm and the coverage up to
 * 0.18 off the whole replay's for the rest of the freeze (the fit follows the rim
 * of every frame it sees), while every frame gives the whole replay's results bit
 * for bit (test_recording_replay_catch_up). A frame costs 2-3 ms at 640 x 480
 * (docs/benchmarks.md), so a jump 10 minutes into a 30 frames/s recording takes
 * about 45 s; the console says when it starts and ends, and a session that is
 * stopped meanwhile stops it.
 *
 * Times: a jumped-over frame's scene time is its own (the procedure and the model
 * run on scene time); its acquisition time is the landed frame's minus the scene
 * time between them, so the trackers see the recorded spacing and the landed frame
 * follows the last of them.
 *
 * A jump back (a seek, a chapter, a skip, a loop) rewinds the analysis to before
 * the first frame (cn_session_replay_rewind) and catches up from frame 0: a looping
 * replay's second pass used to count freezes 3 and 4 with a model that then failed
 * on every frame. A frame step back while paused is not rewound for
 * (session_stages.c).
 */
#include "session.h"

#include "guidance/guidance.h"
#include "proctor/proctor.h"
#include "replay/replay.h"
#include "segment/segment.h"
#include "seqio/seqio.h"
#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool cn_session_catchup_line(cn_session *s, char *line, size_t len)
{
    const int total = atomic_load(&s->catchup_total);
    if (total <= 0)
        return false;
    snprintf(line, len, "CATCHING UP to frame %d: %d of %d frames", atomic_load(&s->catchup_to),
             atomic_load(&s->catchup_done), total);
    return true;
}

void cn_session_catchup_close(cn_session *s)
{
    cn_seq_reader_close(s->catchup_reader);
    s->catchup_reader = NULL;
    if (s->catchup_pool)
        cn_frame_pool_free(s->catchup_pool);
    s->catchup_pool = NULL;
}

/* The reader and the one-frame pool, made at the first catch-up. */
static int catchup_open(cn_session *s)
{
    char err[512] = "";
    if (!s->catchup_reader) {
        s->catchup_reader = cn_replay_reader_open(s->replay, err, sizeof err);
        if (!s->catchup_reader) {
            cn_log_error(s->log, "replay", "cannot catch up the frames jumped over: %s; the "
                         "replay goes on from where it went, without what happened before", err);
            return CN_EIO;
        }
    }
    if (!s->catchup_pool) {
        const cn_seq_info *in = cn_seq_reader_info(s->catchup_reader);
        s->catchup_pool = cn_frame_pool_new(1, in->width, in->height);
        if (!s->catchup_pool) {
            cn_log_error(s->log, "replay", "cannot catch up the frames jumped over: out of memory");
            return CN_ENOMEM;
        }
    }
    return CN_OK;
}

void cn_session_replay_rewind(cn_session *s)
{
    cn_procedure_rewind(s->procedure);
    if (s->segment) {
        cn_segment_reset(s->segment);
        cn_segment_clear_nerve_seed(s->segment);
        if (s->start_seed)
            cn_segment_set_nerve_seed(s->segment, s->seed_mm);
    }
    cn_thermal_stage_rewind(s->thermal);
    cn_guidance_reset(s->guidance);
    /* the proctors' isotherm surfaces were of the later state: gone until the
     * surfaces stage has the rewound model's (cn_session_surfaces_stage) */
    for (int i = 0; s->proctor && i < CN_SESSION_SURFACES; i++)
        cn_proctor_set_surface(s->proctor, cn_session_surface_temps_c[i], NULL, 0, NULL, 0);
    s->surfaces_sent_ns = 0;
    s->replay_target_set[0] = 0; /* the seed is the start's again */
}

int cn_session_replay_catch_up(cn_session *s, int from, int to, cn_frame *landed)
{
    if (!s->replay || from < 0 || to <= from || s->catching_up)
        return CN_EINVAL;
    int rc = catchup_open(s);
    if (rc != CN_OK)
        return rc;
    cn_seq_reader *rd = s->catchup_reader;
    if (to > cn_seq_reader_info(rd)->n_frames)
        return CN_ERANGE;
    cn_frame *h = cn_frame_pool_acquire(s->catchup_pool);
    if (!h)
        return CN_ENOMEM;
    const double landed_scene_s = (double)landed->t_scene_ns * 1e-9;
    const int64_t t0 = cn_clock_mono_ns();
    double prev_scene_s = NAN;
    int64_t last_acq = INT64_MIN;
    int analysed = 0;
    char err[512], plan[CN_EVENT_TEXT_MAX] = "";
    s->catching_up = true;
    cn_procedure_hold_inputs(s->procedure, true); /* live keys wait for the landed frame */
    cn_replay_hold(s->replay, true); /* and the replay: it goes on from the landed frame */
    atomic_store(&s->catchup_done, 0);
    atomic_store(&s->catchup_to, to);
    atomic_store(&s->catchup_total, to - from);
    cn_log_info(s->log, "replay", "catching up frames %d-%d before frame %d: analysed unseen so the "
                "replay lands where the session was", from, to - 1, to);
    for (int k = from; k < to; k++) {
        if ((k - from) % 64 == 0 && s->pipe && cn_pipeline_stopping(s->pipe)) {
            rc = CN_ECLOSED; /* the session ends: no need to land anywhere */
            break;
        }
        if ((rc = cn_seq_reader_read_frame(rd, k, h, err, sizeof err)) != CN_OK) {
            cn_log_error(s->log, "replay", "catching up: %s", err);
            break;
        }
        /* the recorded events are the inputs; the rest is analysed again */
        cn_event ev[CN_EVENTS_MAX];
        const int n_ev = h->analysis.n_events;
        memcpy(ev, h->analysis.events, sizeof ev[0] * (size_t)n_ev);
        h->analysed = false;
        memset(&h->analysis, 0, sizeof h->analysis);
        h->analysis.guidance.coverage = -1;
        if (h->t_scene_ns == CN_SCENE_TIME_UNSET) /* no timestamp: 1/30 s on, as the device */
            h->t_scene_ns = isfinite(prev_scene_s) ? llround((prev_scene_s + 1.0 / 30) * 1e9) : 0;
        prev_scene_s = (double)h->t_scene_ns * 1e-9;
        int64_t acq = landed->t_acq_ns - llround((landed_scene_s - (double)h->t_scene_ns * 1e-9) * 1e9);
        if (acq >= landed->t_acq_ns)
            acq = landed->t_acq_ns - 1;
        if (acq <= last_acq)
            acq = last_acq + 1;
        h->t_acq_ns = last_acq = acq;
        h->seq = 0; /* not a frame of the replay */
        if (k == 0) /* a recording started mid-session: the steps before it first */
            cn_session_replay_history(s, h);
        /* as the pipeline: a stage's error on one frame is logged, the rest run */
        if (cn_session_console_hidden(s, h, ev, n_ev) != CN_OK)
            cn_log_warn(s->log, "replay", "catching up: frame %d: the procedure step failed", k);
        for (int i = 0; i < s->n_catchup_stages; i++)
            if (s->catchup_stages[i].process(s->catchup_stages[i].self, h) != CN_OK)
                cn_log_warn(s->log, "replay", "catching up: frame %d: stage %s failed", k,
                            s->catchup_stages[i].name);
        analysed++;
        atomic_store(&s->catchup_done, analysed);
        /* the procedure writes the plan on the first frame it steps: that was one
         * of these, and a recording of the replay must still name it */
        for (int i = 0; i < h->analysis.n_events && !plan[0]; i++)
            if (h->analysis.events[i].source == CN_EVSRC_PLAN &&
                strncmp(h->analysis.events[i].text, "plan ", 5) == 0)
                cn_strlcpy(plan, h->analysis.events[i].text, sizeof plan);
    }
    if (plan[0] && cn_analysis_add_event(&landed->analysis, CN_EVSRC_PLAN, landed->t_scene_ns,
                                         "%s", plan) != CN_OK)
        cn_log_warn(s->log, "replay", "the plan's event does not fit on frame %d: a recording of "
                    "the replay will not name it", to);
    s->catching_up = false;
    cn_procedure_hold_inputs(s->procedure, false);
    cn_replay_hold(s->replay, false);
    atomic_store(&s->catchup_total, 0);
    cn_frame_unref(h);
    /* the landed frame's own analysis and latency figures leave the catch-up out */
    landed->t_preroll_ns += cn_clock_mono_ns() - t0;
    cn_log_info(s->log, "replay", "caught up frames %d-%d before frame %d (%d analysed, unseen) "
                "in %.0f ms", from, to - 1, to, analysed,
                (double)(cn_clock_mono_ns() - t0) / 1e6);
    return rc;
}
