/* navigate.c - the navigator's main loop, shared by `run` and `replay`.
 *
 * The viewer lives on the main thread (VTK wants that); the pipeline's threads
 * feed it through the latest-result slot, so a slow render never slows analysis
 * or recording: it just shows fewer frames. */
#include "commands.h"
#include "session.h"
#include "session_record.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "viewer/viewer.h"
#include "guidance/guidance.h" /* alarm text on the HUD */

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* A snapshot's file name: a replay's names the recording's frame (what `--start '#N'`
 * takes: "snapshot-f014436.png"), another source's the frame's sequence number. */
static void snapshot_name(char *out, size_t len, const char *dir, int source_frame,
                          uint64_t seq, uint64_t pass)
{
    if (source_frame >= 0 && pass > 1) /* a looping replay: each pass its own pictures */
        snprintf(out, len, "%s/snapshot-f%06d-pass%llu.png", dir, source_frame,
                 (unsigned long long)pass);
    else if (source_frame >= 0)
        snprintf(out, len, "%s/snapshot-f%06d.png", dir, source_frame);
    else
        snprintf(out, len, "%s/snapshot-%06llu.png", dir, (unsigned long long)seq);
}

static int mkdir_p(const char *dir)
{
    char tmp[512];
    cn_strlcpy(tmp, dir, sizeof tmp);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

static bool stop_requested(void)
{
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
           sigismember(&pending, SIGHUP); /* a closed terminal ends the session cleanly too */
}

static void scenario_line(const cn_frame *f, char *buf, size_t len)
{
    if (!f->truth.valid) {
        buf[0] = 0;
        return;
    }
    const cn_truth *t = &f->truth;
    if (t->phase == CN_PHASE_FREEZE || t->phase == CN_PHASE_THAW)
        snprintf(buf, len, "simulated scenario t=%.0f s: %s, cycle %d, ice %.1f mm", t->t_scene_s,
                 cn_phase_name(t->phase), t->cycle, t->ice_radius_mm);
    else
        snprintf(buf, len, "simulated scenario t=%.0f s: %s", t->t_scene_s, cn_phase_name(t->phase));
}

static int navigate(const char *cmd, const cn_nav_opts *in, void **xhold);

/* How many of the source's frames have passed, counted with one more frame at hand: a
 * replay's frames of the file from the first one seen (a loop starts again at its first
 * frame: one more), every frame of another source. */
static uint64_t frames_passed(uint64_t n, long *prev_src, long src)
{
    if (src < 0) /* not from a file */
        return n + 1;
    const uint64_t step = *prev_src < 0 || src <= *prev_src ? 1 : (uint64_t)(src - *prev_src);
    *prev_src = src;
    return n + step;
}

int cn_app_navigate(const char *cmd, const cn_nav_opts *in)
{
    void *xhold = NULL; /* a connection to the X server for as long as we render */
    int rc = navigate(cmd, in, &xhold);
    cn_app_display_release(xhold);
    return rc;
}

static int navigate(const char *cmd, const cn_nav_opts *in, void **xhold)
{
    cn_nav_opts o = *in;
    char err[2048]; /* a config error lists the known keys (sim has 40) */
    /* issue 16: --log FILE / -q / -v; the session logs through the same handle */
    cn_log *log = cn_log_open(o.log_path, o.run.log_level, err, sizeof err);
    if (!log) {
        fprintf(stderr, "cryonav %s: %s\n", cmd, err);
        return 2;
    }
    o.run.log = log;
    int exit_code = 0;

    /* Decide how to render before anything starts. */
    bool can_render = true, fell_back = false;
    if (!o.headless) {
        if (cn_app_ensure_display(false, xhold, err, sizeof err) != CN_OK) {
            if (o.no_fallback) {
                fprintf(stderr, "cryonav %s: cannot open a window: %s (and --no-fallback was given)\n",
                        cmd, err);
                cn_log_free(log);
                return 1;
            }
            o.headless = fell_back = true;
            cn_log_warn(log, cmd, "%s: no window possible, falling back to headless%s%s%s", err,
                        o.snapshot_dir[0] ? "; snapshots go to " : " (nothing is drawn: add ",
                        o.snapshot_dir[0] ? o.snapshot_dir : "--snapshot DIR",
                        o.snapshot_dir[0] ? "/" : " to keep PNG snapshots)");
        }
    }
    /* --paused waits for the window's keys (space plays): with no window nothing can
     * ever play it. Before, the replay then waited for ever, saying nothing (the
     * thirty-sixth session's review: the guide's teaching command on a machine with no
     * display). */
    if (o.headless && o.run.replay_paused && !o.snapshot_dir[0]) {
        fprintf(stderr, "cryonav %s: --paused waits for the window's keys (space plays), and "
                "this replay has no window%s: leave out --paused, run it where a window can "
                "open, or add --snapshot DIR for the paused frame's picture\n", cmd,
                fell_back ? " (no display could be opened)" : " (--headless)");
        cn_log_free(log);
        return 2;
    }
    if (o.headless && o.run.replay_paused)
        cn_log_info(log, cmd, "paused with no window: the paused frame is drawn to %s/, and "
                    "the replay ends there (nothing could play it on)", o.snapshot_dir);
    /* issue 16: outputs only where asked. Headless without --snapshot draws
     * nothing at all: no viewer, no offscreen rendering, no X server. */
    if (o.headless && !o.snapshot_dir[0])
        can_render = false;
    if (o.headless && can_render) {
        if (cn_app_ensure_display(true, xhold, err, sizeof err) != CN_OK) {
            cn_log_warn(log, cmd, "cannot render offscreen (%s): running without the viewer, "
                        "no snapshots will be written", err);
            can_render = false;
        }
    }
    /* A windowed simulator session loops; a headless one ends with the scenario
     * (an offline replay always ends: it is a batch job). A windowed replay stops at
     * its end on the last frame (a teacher's picture; --loop to go round): before,
     * it looped too, and `replay --record` wrote pass after pass until closed. */
    if (!o.headless && o.run.max_frames == 0 && !o.run.batch)
        o.run.windowed = true;
    if (o.snapshot_dir[0] && can_render && mkdir_p(o.snapshot_dir) != 0) {
        fprintf(stderr, "cryonav %s: cannot create snapshot folder %s: %s\n", cmd, o.snapshot_dir,
                strerror(errno));
        cn_log_free(log);
        return 1;
    }

    /* Block the stop signals in every thread we are about to create. */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    sigaddset(&stopset, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stopset, NULL);

    cn_session s;
    if (cn_session_open(&s, &o.run, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav %s: %s\n", cmd, err);
        cn_log_free(log);
        return 2;
    }
    /* issue 16: window size from --window, else the config's "viewer" object
     * (checked whether or not a window opens: a bad value is a bad value) */
    int win_w = 0, win_h = 0;
    if (cn_app_viewer_size(s.cfg, o.window_w, o.window_h, &win_w, &win_h, err, sizeof err) !=
        CN_OK) {
        fprintf(stderr, "cryonav %s: %s\n", cmd, err);
        cn_session_close(&s);
        cn_log_free(log);
        return 2;
    }
    cn_viewer *v = NULL;
    if (can_render) {
        char shader_dir[1024];
        cn_viewer_opts vo;
        cn_viewer_opts_default(&vo);
        vo.width = win_w;
        vo.height = win_h;
        vo.offscreen = o.headless;
        vo.title = "CryoNav";
        vo.log = log;
        vo.show_truth = o.show_truth;
        vo.hide_analysis = o.no_overlays;
        vo.shader_dir = cn_app_data_path("shaders", shader_dir, sizeof shader_dir);
        if (s.sim) { /* draw the simulated cryoprobe at its true size */
            vo.needle_active_mm = cn_sim_get_config(s.sim)->needle_active_mm;
            vo.needle_diameter_mm = cn_sim_get_config(s.sim)->needle_diameter_mm;
        }
        v = cn_viewer_new(&vo, err, sizeof err);
        if (!v) {
            fprintf(stderr, "cryonav %s: cannot start the viewer: %s\n", cmd, err);
            cn_session_close(&s);
            cn_log_free(log);
            return 1;
        }
        cn_viewer_set_key_help(v, cn_app_key_help(s.replay != NULL));
        if (s.replay && o.snapshot_dir[0]) /* offline: each due picture is drawn (T7) */
            cn_session_batch_snapshots(&s, (int)o.snapshot_every);
    }
    if (s.replay && o.run.max_frames) /* offline: exactly --frames of the file */
        cn_session_batch_limit(&s, o.run.max_frames);
    /* scripted keys: the operator's, at their scene time, on the analysis thread
     * (exactly where they belong, however far the display lags) */
    cn_app_script_key keys[32];
    int n_keys = o.keys[0] ? cn_app_parse_keys(o.keys, keys, 32, err, sizeof err) : 0;
    for (int k = 0; k < n_keys; k++)
        cn_procedure_schedule_key(s.procedure, keys[k].key, keys[k].t_s);
    if (cn_session_start(&s) != CN_OK) {
        fprintf(stderr, "cryonav %s: cannot start the %s source\n", cmd, s.source_name);
        cn_viewer_free(v);
        cn_session_close(&s);
        cn_log_free(log);
        return 1;
    }
    cn_log_info(log, cmd, "source: %s%s", s.source_name,
                o.headless ? " (headless)" : "");

    uint64_t cursor = 0, n_shown = 0, last_shown_seq = 0;
    /* --frames counts the source's frames: a replay's frames of the file passed (an offline
     * replay with a viewer draws few of them: counting those drawn ran 271 frames for
     * --frames 60, the thirty-sixth session's review), else the frames that arrived */
    uint64_t n_passed = 0;
    long passed_src = -1;
    int last_shown_src = -1;
    long snap_bucket = -1; /* a replay: the last snapshot's recording frame / N */
    cn_frame *shown = NULL; /* the last frame shown (a reference) */
    /* a replay started at a chapter catches up before its first frame: until then
     * the window shows a dark frame of the recording's size with the progress line
     * (before, no window at all for the catch-up's tens of seconds) */
    cn_frame_pool *dark_pool = NULL;
    cn_frame *dark = NULL;
    int64_t cu_shown_ns = 0; /* when it was last shown again during a catch-up */
    /* motion to screen: handing a frame to the viewer until its picture is complete
     * (as `cryonav bench viewer` times it), over the last 4096 frames */
    cn_stats *show_ms = cn_stats_new(4096);
    cn_pipeline_stats hud_stats = {0};
    int64_t hud_stats_ns = 0;
    bool last_snapped = false;
    int n_snap = 0, n_outage_snap = 0; /* the outage's pictures (waiting, stale-N) apart */
    char outage_snap[160] = "";
    char last_snap[700] = "";
    bool closed = false;
    /* a replay: its first frame's time and its length, for the status line's clock */
    bool end_shown = false; /* the "END of the recording" picture, once per arrival */
    /* a live source that stops sending (a probe unplugged, a stalled link): the
     * last picture is shown again every 250 ms saying how old it is, so it is never
     * taken for a live one (before, the window kept it with "6.3 fps" and a stopped
     * freeze timer, and nothing said the image was old: audit live H1) */
    int64_t last_result_ns = cn_clock_mono_ns(), stale_shown_ns = 0, stale_logged_ns = 0;
    uint64_t n_results = 0; /* frames that came, drawn or not (headless too) */
    bool stale = false, stale_snapped = false;
    /* issue 14: a long offline replay shows its progress on a terminal */
    cn_progress *progress =
        o.run.batch && s.replay ? cn_progress_new(stderr, "replay", "frames") : NULL;
    while (!closed && !stop_requested()) {
        if (progress)
            cn_progress_update(progress, cn_replay_position(s.replay) + 1, cn_replay_frame_count(s.replay));
        cn_frame *f = cn_pipeline_wait_result(s.pipe, &cursor, 100000000LL);
        if (!f) {
            if (cn_pipeline_finished(s.pipe))
                break; /* the source ended and its last result was shown */
            /* a replay catching up a jump holds the analysis for seconds: the
             * last picture again, with a line that says so and how far it is */
            char cu[200];
            if (v && cn_clock_mono_ns() - cu_shown_ns > 250000000LL &&
                cn_session_catchup_line(&s, cu, sizeof cu)) {
                cu_shown_ns = cn_clock_mono_ns();
                if (!shown && !dark && s.replay) {
                    const cn_seq_info *si = cn_replay_info(s.replay);
                    if (si && si->width >= 2 && si->height >= 2 &&
                        (dark_pool = cn_frame_pool_new(1, si->width, si->height)) &&
                        (dark = cn_frame_pool_acquire(dark_pool))) {
                        cn_frame_set_size(dark, si->width, si->height);
                        memset(dark->pixels, 0, (size_t)si->width * (size_t)si->height);
                        dark->spacing_mm[0] = si->spacing[0] > 0 ? si->spacing[0] : 1;
                        dark->spacing_mm[1] = si->spacing[1] > 0 ? si->spacing[1] : 1;
                    }
                }
                cn_viewer_hud hud = {.fps = NAN, .latency_ms_p50 = NAN, .latency_ms_p99 = NAN,
                                     .source = s.source_name, .status_line = cu, .alarm_line = "",
                                     .spacing_assumed = s.spacing_assumed,
                                     .standin = !shown};
                if (shown || dark)
                    cn_viewer_show(v, shown ? shown : dark, &hud);
            }
            /* a replay held at its end: the last picture once more, saying so */
            if (v && shown && !end_shown && s.replay && cn_replay_at_end(s.replay)) {
                end_shown = true;
                char line[512];
                scenario_line(shown, line, sizeof line);
                size_t used = strlen(line);
                int n_ch = 0; /* without chapters only Left goes back (T14) */
                cn_replay_chapters(s.replay, &n_ch);
                snprintf(line + used, sizeof line - used,
                         "%sEND of the recording: %s, closing the window ends",
                         used ? "  |  " : "", n_ch ? "Left / N / 1-9 go back" : "Left goes back");
                cn_viewer_hud hud = {.fps = NAN, .latency_ms_p50 = NAN, .latency_ms_p99 = NAN,
                                     .source = s.source_name, .status_line = line, .alarm_line = "",
                                     .spacing_assumed = s.spacing_assumed};
                cn_viewer_show(v, shown, &hud);
            }
            const int64_t now_ns = cn_clock_mono_ns(), age_ns = now_ns - last_result_ns;
            /* 1 s, or 3 frame intervals of a slow source */
            const int64_t stale_ns = hud_stats.fps > 0 && hud_stats.fps < 3
                                         ? (int64_t)(3e9 / hud_stats.fps)
                                         : 1000000000LL;
            /* a live source that has sent nothing yet (a USB probe not plugged in: the
             * session waits for it): a dark picture that says so, so a window opened
             * before the probe is not taken for a frozen or a broken one */
            if (v && !s.replay && !shown && age_ns > 1000000000LL &&
                now_ns - stale_shown_ns > 250000000LL) {
                stale_shown_ns = now_ns;
                if (!dark && (dark_pool = cn_frame_pool_new(1, 320, 400)) &&
                    (dark = cn_frame_pool_acquire(dark_pool))) {
                    cn_frame_set_size(dark, 320, 400);
                    memset(dark->pixels, 0, 320 * 400);
                    dark->spacing_mm[0] = dark->spacing_mm[1] = 0.125;
                }
                char alarm[300], line[300], why[260];
                cn_session_outage_text(&s, why, sizeof why);
                snprintf(alarm, sizeof alarm, "NO LIVE IMAGE: %s",
                         s.usb ? why : "waiting for the source's first frame");
                snprintf(line, sizeof line, "no frame for %.0f s since the start (%s to stop)",
                         (double)age_ns * 1e-9, v ? "close the window" : "Ctrl-C");
                cn_viewer_hud hud = {.fps = NAN, .latency_ms_p50 = NAN, .latency_ms_p99 = NAN,
                                     .source = s.source_name, .status_line = line,
                                     .alarm_line = alarm, .standin = true,
                                     .no_image_yet = true};
                if (dark) {
                    cn_viewer_show(v, dark, &hud);
                    if (o.snapshot_dir[0] && !stale_snapped) {
                        char sp[700];
                        snprintf(sp, sizeof sp, "%s/waiting.png", o.snapshot_dir);
                        if (cn_viewer_snapshot(v, sp, err, sizeof err) != CN_OK)
                            cn_log_error(log, cmd, "snapshot %s: %s", sp, err);
                        else if (n_outage_snap++ == 0)
                            cn_strlcpy(outage_snap, sp, sizeof outage_snap);
                        stale_snapped = true;
                    }
                }
            }
            /* the log says it too, headless as well, and again every 30 s (a headless
             * run said nothing for the 38 s of an unplug: review 39a L4) */
            if (!s.replay && n_results > 0 && age_ns > stale_ns) {
                char why[260];
                cn_session_outage_text(&s, why, sizeof why);
                if (!stale || now_ns - stale_logged_ns > 30000000000LL) {
                    stale_logged_ns = now_ns;
                    cn_log_warn(log, "run", "no new frame for %.1f s: %s%s", (double)age_ns * 1e-9,
                                why, v ? "; the window shows the last picture marked NO LIVE "
                                         "IMAGE until frames come again" : "");
                }
                stale = true;
                if (v && shown && now_ns - stale_shown_ns > 250000000LL) {
                    stale_shown_ns = now_ns;
                    char alarm[300], line[300];
                    snprintf(alarm, sizeof alarm, "NO LIVE IMAGE for %.0f s: %s",
                             (double)age_ns * 1e-9, why);
                    snprintf(line, sizeof line, "the picture, the timer and the alarms are those "
                             "of %.0f s ago", (double)age_ns * 1e-9);
                    cn_viewer_hud hud = {.fps = NAN, .latency_ms_p50 = NAN,
                                         .latency_ms_p99 = NAN, .source = s.source_name,
                                         .status_line = line, .alarm_line = alarm,
                                         .spacing_assumed = s.spacing_assumed};
                    cn_viewer_show(v, shown, &hud);
                    /* once an outage: what it looked like */
                    if (o.snapshot_dir[0] && !stale_snapped) {
                        char sp[700];
                        snprintf(sp, sizeof sp, "%s/stale-%06llu.png", o.snapshot_dir,
                                 (unsigned long long)n_shown);
                        if (cn_viewer_snapshot(v, sp, err, sizeof err) != CN_OK)
                            cn_log_error(log, cmd, "snapshot %s: %s", sp, err);
                        else if (n_outage_snap++ == 0)
                            cn_strlcpy(outage_snap, sp, sizeof outage_snap);
                        stale_snapped = true;
                    }
                }
            }
            if (v && !cn_viewer_poll(v))
                closed = true;
            for (int k; v && (k = cn_viewer_next_key(v)) != 0;)
                cn_app_handle_key(&s, k, log); /* a paused replay still takes keys */
            continue;
        }
        if (stale)
            cn_log_info(log, "run", "frames again after %.1f s without one",
                        (double)(cn_clock_mono_ns() - last_result_ns) * 1e-9);
        stale = stale_snapped = false;
        last_result_ns = cn_clock_mono_ns();
        n_results++;
        end_shown = false;
        if (v) {
            /* Percentiles sort the stats windows: four refreshes a second are
             * plenty for a HUD and keep that work off every rendered frame. */
            int64_t now_ns = cn_clock_mono_ns();
            if (now_ns - hud_stats_ns > 250000000LL) {
                cn_pipeline_get_stats(s.pipe, &hud_stats);
                hud_stats_ns = now_ns;
            }
            const cn_pipeline_stats st = hud_stats;
            char line[512];
            scenario_line(f, line, sizeof line);
            /* ---- guidance alarms: a line of their own on the HUD ---- */
            char alarm_line[300] = "";
            if (f->analysis.guidance.alarms != 0 && s.guidance) {
                /* this frame's own distance, as every sink reads it (issue 13) */
                char alarm[128];
                cn_guidance_alarm_text_dist(f->analysis.guidance.alarms,
                                            f->analysis.guidance.ice_to_skin_mm, alarm, sizeof alarm);
                snprintf(alarm_line, sizeof alarm_line, "ALARM: %s", alarm);
            }
            /* ---- proctor link (issue 15): who is connected and the newest note or
             * target, from the hub (the analysis thread applies targets itself) ---- */
            /* a key (or a console message) the procedure refused: said for 4 s on the
             * screen, not only in the log (live audit L5: f after w did nothing, silently) */
            char refused[192];
            if (cn_procedure_last_refusal(s.procedure, 4000000000LL, refused, sizeof refused)) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", refused);
            }
            /* a replay says where it is: its time from the first frame, the chapter,
             * PAUSED (before, nothing on screen did: teaching audit T4); whole seconds,
             * so the text changes once a second, not every frame */
            if (s.replay) {
                char where[200];
                cn_session_replay_where(&s, f, where, sizeof where);
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", where);
            }
            if (s.key_msg[0] && cn_clock_mono_ns() - s.key_msg_ns < 4000000000LL) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", s.key_msg);
            }
            char remind[160]; /* the plan's reposition reminder while it stands */
            if (cn_procedure_reminder(s.procedure, remind, sizeof remind)) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", remind);
            }
            if (s.zone_warning[0]) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "",
                         s.zone_warning);
            }
            char rnote[CN_EVENT_TEXT_MAX]; /* a replay: the recorded note or mark near here */
            if (cn_session_replay_note(&s, f->t_scene_ns, rnote, sizeof rnote)) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", rnote);
            }
            char plink[384]; /* link, operator's last action, newest note */
            cn_session_proctor_hud(&s, plink, sizeof plink);
            if (plink[0]) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", plink);
            }
            cn_viewer_hud hud = {.fps = st.fps, .latency_ms_p50 = st.shown_latency_ms_p50,
                                 .latency_ms_p99 = st.shown_latency_ms_p99, .skipped = st.skipped,
                                 .source = s.source_name, .status_line = line[0] ? line : NULL,
                                 .spacing_assumed = s.spacing_assumed,
                                 .offline = s.opts.batch, .alarm_line = alarm_line};
            /* ---- a recording losing frames (disk full ...) is never silent (issue 14) ---- */
            char rec_line[128];
            if (s.recorder && cn_rec_switch_status(s.recorder, rec_line, sizeof rec_line)) {
                size_t used = strlen(alarm_line);
                snprintf(alarm_line + used, sizeof alarm_line - used, "%s%s", used ? "  |  " : "", rec_line);
            }
            int64_t show_t0 = cn_clock_mono_ns();
            cn_viewer_show(v, f, &hud);
            int64_t show_t1 = cn_clock_mono_ns();
            if (show_ms)
                cn_stats_add(show_ms, (double)(show_t1 - show_t0) / 1e6);
            cn_pipeline_mark_shown(s.pipe, f, show_t1);
            cn_session_batch_shown(&s, f->seq);
            n_shown++;
            n_passed = frames_passed(n_passed, &passed_src, f->source_frame);
            if (shown)
                cn_frame_unref(shown);
            cn_frame_ref(f);
            shown = f; /* shown again while a replay catches up a jump */
            bool last = o.run.max_frames && n_passed >= o.run.max_frames;
            /* An offline replay takes one at every N-th recording frame (held until drawn,
             * session_batch.c): it draws few of its frames, and counting drawn ones gave 8
             * pictures at irregular frames where 17 were due (teaching audit T7). A paced
             * replay and other sources: every N frames drawn (a paced replay draws fewer
             * than one in N at speed: by file frame it took nearly every one drawn). */
            const bool by_file = f->source_frame >= 0 && s.batch; /* offline: held */
            const long bucket = by_file ? f->source_frame / o.snapshot_every : -1;
            const bool due = by_file ? bucket != snap_bucket
                                     : n_shown % (uint64_t)o.snapshot_every == 0;
            if (o.snapshot_dir[0] && (due || n_shown == 1 || last)) {
                snap_bucket = bucket;
                snapshot_name(last_snap, sizeof last_snap, o.snapshot_dir, f->source_frame,
                              f->seq, s.replay ? cn_replay_loops(s.replay) + 1 : 1);
                if (cn_viewer_snapshot(v, last_snap, err, sizeof err) == CN_OK)
                    n_snap++;
                else
                    cn_log_error(log, cmd, "snapshot %s: %s", last_snap, err);
                last_snapped = true;
            } else {
                last_snapped = false;
            }
            last_shown_seq = f->seq;
            last_shown_src = f->source_frame;
            if (!cn_viewer_poll(v))
                closed = true;
            for (int k; (k = cn_viewer_next_key(v)) != 0;)
                cn_app_handle_key(&s, k, log);
            for (cn_pt2 mm; cn_viewer_next_click(v, &mm);)
                cn_session_set_target_image(&s, mm); /* the operator marks the nerve */
        } else {
            cn_pipeline_mark_shown(s.pipe, f, cn_clock_mono_ns());
            n_shown++;
            n_passed = frames_passed(n_passed, &passed_src, f->source_frame);
        }
        cn_frame_unref(f);
        if (o.run.max_frames && n_passed >= o.run.max_frames)
            break;
        /* headless and paused: the paused frame's picture is all there is (before, it then
         * waited for keys no window could give: the review of the change) */
        if (o.headless && o.run.replay_paused && n_shown >= 1)
            break;
    }
    /* The source may end before --frames or between two snapshots: the last view
     * is the one a user wants to see, so it is always written. */
    if (v && o.snapshot_dir[0] && n_shown > 0 && !last_snapped) {
        snapshot_name(last_snap, sizeof last_snap, o.snapshot_dir, last_shown_src,
                      last_shown_seq, s.replay ? cn_replay_loops(s.replay) + 1 : 1);
        if (cn_viewer_snapshot(v, last_snap, err, sizeof err) == CN_OK)
            n_snap++;
        else
            cn_log_error(log, cmd, "snapshot %s: %s", last_snap, err);
    }
    cn_progress_done(progress);
    if (shown)
        cn_frame_unref(shown);
    cn_pipeline_stop(s.pipe);
    cn_pipeline_stats st;
    cn_pipeline_get_stats(s.pipe, &st);
    if (st.last_error != CN_OK) {
        fprintf(stderr, "cryonav %s: the %s source failed: %s\n", cmd, s.source_name,
                cn_strerror(st.last_error));
        exit_code = 1;
    }
    /* issue 14: a recording that lost frames or could not be written fails the run */
    if (cn_rec_switch_finish(s.recorder) != CN_OK) {
        fprintf(stderr, "cryonav %s: the recording is incomplete (frames lost, see the messages above)\n", cmd);
        exit_code = 1;
    }
    /* frames analysed, neither drawn nor superseded: in the pipeline when --frames N was
     * reached (a live source reads on meanwhile); named, or the figures did not add up
     * (review 43b F8: 72 analysed, 70 shown, 1 superseded) */
    const uint64_t drawn_or_not = n_shown + st.superseded;
    const uint64_t in_flight = st.analysed > drawn_or_not ? st.analysed - drawn_or_not : 0;
    printf("frames acquired %llu analysed %llu shown %llu skipped %llu superseded %llu",
           (unsigned long long)st.acquired, (unsigned long long)st.analysed,
           (unsigned long long)n_shown, (unsigned long long)st.skipped,
           (unsigned long long)st.superseded);
    if (in_flight)
        printf(" in flight at the stop %llu", (unsigned long long)in_flight);
    printf("\n");
    if (o.run.batch) /* offline: frame times are the recording's, not this run's */
        printf("offline: every frame analysed in turn, no latency figures (analysis p50 %.2f ms, "
               "p99 %.2f ms a frame)\n", st.analysis_ms_p50, st.analysis_ms_p99);
    else
        printf("latency_ms acquired->shown p50 %.1f p99 %.1f, analysis p99 %.2f ms\n",
               st.shown_latency_ms_p50, st.shown_latency_ms_p99, st.analysis_ms_p99);
    if (v && show_ms && n_shown > 0 && !o.run.batch)
        printf("motion_to_screen_ms p50 %.2f p99 %.2f (the viewer, as bench viewer times it)\n",
               cn_stats_percentile(show_ms, 50.0), cn_stats_percentile(show_ms, 99.0));
    cn_stats_free(show_ms);
    /* every file written named (review 41b: the outage's pictures were left out) */
    if (o.snapshot_dir[0] && n_snap > 0)
        printf("snapshots: %d PNG files in %s/ (last: %s)\n", n_snap, o.snapshot_dir, last_snap);
    if (o.snapshot_dir[0] && n_outage_snap > 0)
        printf("snapshots of a time without frames: %d (first: %s)\n", n_outage_snap,
               outage_snap);
    if (s.procedure) { /* issue 13: plan vs what happened */
        cn_procedure_summary ps;
        cn_procedure_get_summary(s.procedure, &ps);
        char line[768];
        printf("procedure: %s\n", cn_procedure_summary_text(&ps, line, sizeof line));
        /* keys timed after the session ended were dropped without a word (the
         * guide's f@560 with the 197 s default scenario) */
        char left[400];
        int nl = cn_procedure_unfired_keys(s.procedure, left, sizeof left);
        if (nl > 0)
            cn_log_warn(log, cmd, "%d scripted key%s never reached: %s (the session ended "
                        "before; times count from its first frame)", nl, nl == 1 ? "" : "s", left);
    }
    cn_viewer_free(v);
    if (dark)
        cn_frame_unref(dark);
    cn_frame_pool_free(dark_pool);
    cn_session_close(&s);
    /* the file exists only once the recorder has closed it: a recording that failed
     * (a full disk) left its .part and .journal, and the last line named a file that
     * was not there (live audit L3) */
    if (o.run.record_path[0]) {
        if (access(o.run.record_path, F_OK) == 0)
            printf("recording: %s\n", o.run.record_path);
        else
            printf("recording: %s was not written (the log says why; `cryonav recover %s` "
                   "rebuilds what reached the disk)\n", o.run.record_path, o.run.record_path);
    }
    cn_log_free(log);
    return exit_code;
}
