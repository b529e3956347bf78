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
#include "igtl/igtl.h" /* issue 5: proctor annotations */
#include "guidance/guidance.h" /* alarm text on the HUD */

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Procedure keys in the viewer window. The cryo console itself is not connected
 * to CryoNav, so with a real probe the operator tells it when a freeze starts and
 * stops (f); the simulator's console does that by itself. */
static void handle_key(cn_session *s, int key, cn_log *log)
{
    char note[96];
    switch (key) {
    case 'f':
        if (s->sim) {
            cn_log_info(log, "keys", "the simulated cryo console runs the freezes; f is for a real probe");
            return;
        }
        {
            bool now = !atomic_load(&s->operator_freezing);
            atomic_store(&s->operator_freezing, now);
            snprintf(note, sizeof note, "operator: freeze %s", now ? "started" : "stopped");
        }
        break;
    case 'm': snprintf(note, sizeof note, "operator: mark"); break;
    case ' ':
        if (!s->replay)
            return;
        cn_replay_pause(s->replay, !cn_replay_paused(s->replay));
        cn_log_info(log, "keys", "replay %s", cn_replay_paused(s->replay) ? "paused" : "resumed");
        return;
    case CN_KEY_LEFT:
    case CN_KEY_RIGHT: /* replay: 5 s back / forward */
        if (s->replay)
            cn_replay_skip(s->replay, key == CN_KEY_LEFT ? -5.0 : 5.0);
        return;
    case ',':
    case '.': /* replay: one frame back / forward (stays paused) */
        if (s->replay)
            cn_replay_step(s->replay, key == ',' ? -1 : 1);
        return;
    default: return;
    }
    cn_log_info(log, "keys", "%s", note);
    if (s->recorder)
        cn_rec_switch_note(s->recorder, note);
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
    return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
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
    char err[1024];
    /* issue 16: --log FILE / -q / -v; the session logs through the same handle */
    cn_log *log = cn_log_open(o.log_path, o.run.log_level, err, sizeof err);
    if (!log) {
        fprintf(stderr, "cryonav %s: %s\n", cmd, err);
        return 2;
    }
    o.run.log = log;
    int exit_code = 0;

    /* Decide how to render before anything starts. */
    bool can_render = true;
    if (!o.headless) {
        if (cn_app_ensure_display(false, xhold, err, sizeof err) != CN_OK) {
            if (o.no_fallback) {
                fprintf(stderr, "cryonav %s: cannot open a window: %s (and --no-fallback was given)\n",
                        cmd, err);
                cn_log_free(log);
                return 1;
            }
            o.headless = true;
            cn_log_warn(log, cmd, "%s: no window possible, falling back to headless%s%s%s", err,
                        o.snapshot_dir[0] ? "; snapshots go to " : " (nothing is drawn: add ",
                        o.snapshot_dir[0] ? o.snapshot_dir : "--snapshot DIR",
                        o.snapshot_dir[0] ? "/" : " to keep PNG snapshots)");
        }
    }
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
    /* A windowed simulator session loops; a headless one ends with the scenario. */
    if (!o.headless && o.run.max_frames == 0)
        o.run.loop = true;
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
    }
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
    cn_pipeline_stats hud_stats = {0};
    int64_t hud_stats_ns = 0;
    bool last_snapped = false;
    char proctor[160] = ""; /* issue 5: newest proctor annotation for the HUD */
    int n_snap = 0;
    char last_snap[700] = "";
    bool closed = false;
    while (!closed && !stop_requested()) {
        cn_frame *f = cn_pipeline_wait_result(s.pipe, &cursor, 100000000LL);
        if (!f) {
            if (cn_pipeline_finished(s.pipe))
                break; /* the source ended and its last result was shown */
            if (v && !cn_viewer_poll(v))
                closed = true;
            for (int k; v && (k = cn_viewer_next_key(v)) != 0;)
                handle_key(&s, k, log); /* a paused replay still takes keys */
            continue;
        }
        if (v) {
            /* Percentiles sort the stats windows: four refreshes a second are
             * plenty for a HUD and keep that work off every rendered frame. */
            int64_t now_ns = cn_clock_mono_ns();
            if (now_ns - hud_stats_ns > 250000000LL) {
                cn_pipeline_get_stats(s.pipe, &hud_stats);
                hud_stats_ns = now_ns;
            }
            const cn_pipeline_stats st = hud_stats;
            char line[256];
            scenario_line(f, line, sizeof line);
            /* ---- guidance alarms: a line of their own on the HUD ---- */
            char alarm_line[160] = "";
            if (f->analysis.guidance.alarms != 0 && s.guidance) {
                cn_guidance_summary gsum;
                cn_guidance_get_summary(s.guidance, &gsum);
                char alarm[128];
                cn_guidance_alarm_text_dist(f->analysis.guidance.alarms,
                                            gsum.last_skin_distance_mm, alarm, sizeof alarm);
                snprintf(alarm_line, sizeof alarm_line, "ALARM: %s", alarm);
            }
            /* ---- proctor annotations over OpenIGTLink (issue 5): the newest note or
             * target from a proctor client is shown on the HUD status line (and logged
             * by the server). ---- */
            if (s.igtl_server) {
                cn_igtl_annotation an;
                while (cn_igtl_server_poll_annotation(s.igtl_server, &an) == 1) {
                    if (an.kind == CN_IGTL_NOTE) {
                        snprintf(proctor, sizeof proctor, "proctor: %.140s", an.text);
                    } else {
                        snprintf(proctor, sizeof proctor, "proctor target %.60s (%.1f, %.1f, %.1f) mm",
                                 an.text, an.pos[0], an.pos[1], an.pos[2]);
                        /* The proctor marks the nerve to follow (Reference frame). */
                        double p[3] = {an.pos[0], an.pos[1], an.pos[2]};
                        cn_session_set_target_ref(&s, p);
                    }
                }
                if (proctor[0]) {
                    size_t used = strlen(line);
                    snprintf(line + used, sizeof line - used, "%s%s", used ? "  |  " : "", proctor);
                }
            }
            cn_viewer_hud hud = {.fps = st.fps, .latency_ms_p50 = st.shown_latency_ms_p50,
                                 .latency_ms_p99 = st.shown_latency_ms_p99, .skipped = st.skipped,
                                 .source = s.source_name, .status_line = line[0] ? line : NULL,
                                 .alarm_line = alarm_line};
            /* A replay faster or slower than recorded stamps frames on the recorded
             * clock: acquisition-to-shown then measures nothing, so show none. */
            if (s.replay && o.run.replay_speed != 1.0)
                hud.latency_ms_p50 = hud.latency_ms_p99 = NAN;
            cn_viewer_show(v, f, &hud);
            cn_pipeline_mark_shown(s.pipe, f, cn_clock_mono_ns());
            n_shown++;
            bool last = o.run.max_frames && n_shown >= o.run.max_frames;
            if (o.snapshot_dir[0] && (n_shown % (uint64_t)o.snapshot_every == 0 || n_shown == 1 || last)) {
                snprintf(last_snap, sizeof last_snap, "%s/snapshot-%06llu.png", o.snapshot_dir,
                         (unsigned long long)f->seq);
                if (cn_viewer_snapshot(v, last_snap, err, sizeof err) == CN_OK)
                    n_snap++;
                else
                    cn_log_error(log, cmd, "snapshot %s: %s", last_snap, err);
                last_snapped = true;
            } else {
                last_snapped = false;
            }
            last_shown_seq = f->seq;
            if (!cn_viewer_poll(v))
                closed = true;
            for (int k; (k = cn_viewer_next_key(v)) != 0;)
                handle_key(&s, k, log);
            for (cn_pt2 mm; cn_viewer_next_click(v, &mm);)
                cn_session_set_target_image(&s, mm); /* the operator marks the nerve */
        } else {
            cn_pipeline_mark_shown(s.pipe, f, cn_clock_mono_ns());
            n_shown++;
        }
        cn_frame_unref(f);
        if (o.run.max_frames && n_shown >= o.run.max_frames)
            break;
    }
    /* The source may end before --frames or between two snapshots: the last view
     * is the one a user wants to see, so it is always written. */
    if (v && o.snapshot_dir[0] && n_shown > 0 && !last_snapped) {
        snprintf(last_snap, sizeof last_snap, "%s/snapshot-%06llu.png", o.snapshot_dir,
                 (unsigned long long)last_shown_seq);
        if (cn_viewer_snapshot(v, last_snap, err, sizeof err) == CN_OK)
            n_snap++;
        else
            cn_log_error(log, cmd, "snapshot %s: %s", last_snap, err);
    }
    cn_pipeline_stop(s.pipe);
    cn_pipeline_stats st;
    cn_pipeline_get_stats(s.pipe, &st);
    if (st.last_error != CN_OK) {
        fprintf(stderr, "cryonav %s: the %s source failed: %s\n", cmd, s.source_name,
                cn_strerror(st.last_error));
        exit_code = 1;
    }
    printf("frames acquired %llu analysed %llu shown %llu skipped %llu\n",
           (unsigned long long)st.acquired, (unsigned long long)st.analysed,
           (unsigned long long)n_shown, (unsigned long long)st.skipped);
    printf("latency_ms acquired->shown p50 %.1f p99 %.1f, analysis p99 %.2f ms\n",
           st.shown_latency_ms_p50, st.shown_latency_ms_p99, st.analysis_ms_p99);
    if (o.snapshot_dir[0] && n_snap > 0)
        printf("snapshots: %d PNG files in %s/ (last: %s)\n", n_snap, o.snapshot_dir, last_snap);
    if (o.run.record_path[0])
        printf("recording: %s\n", o.run.record_path);
    cn_viewer_free(v);
    cn_session_close(&s);
    cn_log_free(log);
    return exit_code;
}
