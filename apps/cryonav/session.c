/* session.c - wiring of one navigation session (see session.h).
 *
 * The order matters and follows the data: config -> source device -> pipeline ->
 * analysis stages (segment -> thermal -> guidance) -> sinks (recorder sees every
 * frame; network sees analysed frames). Each area keeps its wiring inside its
 * own block below so the blocks can grow independently. */
#include "session.h"
#include "session_record.h"

#include "segment/segment.h" /* issue 4: needle, nerve, ice front */
#include "thermal/thermal.h" /* issue 3: predicted ablation zone */
#include "guidance/guidance.h" /* coverage, ice-to-skin distance, alarms */
#include "sim/sim.h"
#include "seqio/seqio.h"
#include "replay/replay.h"
#include "imaging/imaging.h" /* CN_IMAGE_MAX_SIDE */
#include "igtl/igtl.h"          /* issue 5: OpenIGTLink server sink */
#include "registry/registry.h"  /* issue 15: image + tracking devices */
#include "usb/usb.h"            /* the "usb" object, checked whatever the source */
#include "proctor/proctor.h"    /* issue 15: the proctor hub behind the server */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

void cn_run_opts_defaults(cn_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->realtime = true;
    o->time_scale = -1;
    o->seed = -1;
    o->log_level = CN_LOG_INFO;
    o->replay_speed = 1.0;
    o->probe_wait_s = -1;
}

/* Top-level keys of config/session.json; an unknown one is a typo to report. */
static const char *const session_keys[] = {"source", "sim", "viewer", "igtl", "usb", "replay",
                                           "record", "segment", "thermal", "guidance",
                                           "tracking", "proctor", NULL};

/* The config's top-level keys and the objects of the parts a session may not run. */
static int check_parts(const cn_json *cfg, char *err, size_t err_len)
{
    int rc = cn_json_check_keys(cfg, "", session_keys, err, err_len);
    if (rc != CN_OK && rc != CN_ENOENT)
        return rc;
    /* The objects of the parts this session may not run are checked too: a typo in
     * "usb" or "igtl" must not wait, silent, for the day that part runs (before,
     * {"usb": {"bogus": 1}} passed every simulator session). */
    cn_sim_config sc;
    cn_sim_config_defaults(&sc);
    if ((rc = cn_sim_config_from_json(cfg, "sim", &sc, err, err_len)) != CN_OK)
        return rc;
    cn_igtl_server_opts go;
    cn_igtl_server_opts_default(&go);
    if ((rc = cn_igtl_server_opts_from_json(&go, cfg, err, err_len)) != CN_OK)
        return rc;
    char ppath[1024];
    cn_up20l_config uc;
    cn_up20l_config_default(&uc);
    cn_app_data_path("config/probes/up20l.json", ppath, sizeof ppath);
    if (cn_up20l_config_load(ppath, &uc, err, err_len) == CN_OK &&
        (rc = cn_up20l_config_apply_session(&uc, cfg, err, err_len)) != CN_OK)
        return rc;
    return CN_OK;
}

static int load_config(cn_session *s, char *err, size_t err_len)
{
    /* Layers (issue 16, app_config.c): the shipped defaults, the user's
     * ~/.config/cryonav/session.json, then --config FILE. */
    if (cn_app_config_load(s->opts.config_path, s->log, &s->cfg, err, err_len) != CN_OK)
        return CN_EINVAL;
    return check_parts(s->cfg, err, err_len);
}

int cn_session_config_check(const cn_json *cfg, char *err, size_t err_len)
{
    int rc = check_parts(cfg, err, err_len);
    if (rc != CN_OK)
        return rc;
    /* what a session reads when it builds its analysis and its sinks, read the same way */
    char cfgdir[1024], userdir[1024];
    cn_app_data_path("config", cfgdir, sizeof cfgdir);
    cn_app_user_config_dir(userdir, sizeof userdir);
    cn_thermal_stage_opts to;
    if ((rc = cn_thermal_stage_opts_from_json(&to, cfg, "thermal", cfgdir, userdir, err,
                                              err_len)) != CN_OK)
        return rc;
    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    if ((rc = cn_guidance_config_from_json(cfg, "guidance", &gc, err, err_len)) != CN_OK)
        return rc;
    cn_segment_config sg;
    cn_segment_config_default(&sg);
    double seed[2];
    bool has_seed = false;
    if ((rc = cn_segment_config_from_json(cfg, "segment", &sg, seed, &has_seed, err, err_len)) !=
        CN_OK)
        return rc;
    cn_proctor_opts po;
    cn_proctor_opts_default(&po);
    if ((rc = cn_proctor_opts_from_json(&po, cfg, err, err_len)) != CN_OK)
        return rc;
    bool b;
    char dir[1024];
    if (cn_json_get_bool(cfg, "record.compress", &b, err, err_len) == CN_EINVAL ||
        cn_json_get_string(cfg, "record.dir", dir, sizeof dir, err, err_len) == CN_EINVAL ||
        cn_json_get_bool(cfg, "igtl.serve", &b, err, err_len) == CN_EINVAL)
        return CN_EINVAL;
    return CN_OK;
}

/* Where our own OpenIGTLink server will listen (port 0 = no server), so that the
 * device registry can refuse an OpenIGTLink client aimed at it. Mirrors the
 * server block of add_sinks; a config error there is reported there. */
static void own_server_address(cn_session *s, char *addr, size_t addr_len, int *port)
{
    char ignored[256];
    cn_igtl_server_opts go;
    cn_igtl_server_opts_default(&go);
    bool serve = true;
    cn_igtl_server_opts_from_json(&go, s->cfg, ignored, sizeof ignored);
    cn_json_get_bool(s->cfg, "igtl.serve", &serve, ignored, sizeof ignored);
    if (s->opts.listen[0])
        serve = cn_igtl_parse_listen(s->opts.listen, go.listen_addr, sizeof go.listen_addr,
                                     &go.port) == CN_OK;
    cn_strlcpy(addr, go.listen_addr, addr_len);
    *port = serve && !s->opts.no_serve ? go.port : 0;
}

/* ---- source: the image device and the tracking device (issue 15) ---- */
static int session_sim_protocol(void *user, void *sim_config, const char *name, char *err,
                                size_t err_len)
{
    return cn_session_sim_protocol(user, sim_config, name, err, err_len);
}

static int open_source(cn_session *s, char *err, size_t err_len)
{
    /* devices/registry opens both from the config's "source" / "tracking" (or
     * --source / --tracking) and composes them into one cn_device. */
    cn_device_env env;
    cn_device_env_default(&env);
    env.cfg = s->cfg;
    env.log = s->log;
    cn_app_data_path("config", env.config_dir, sizeof env.config_dir);
    env.realtime = s->opts.realtime;
    env.loop = s->opts.loop;
    env.windowed = s->opts.windowed;
    env.max_frames = s->opts.max_frames;
    env.time_scale = s->opts.time_scale;
    env.seed = s->opts.seed;
    cn_strlcpy(env.protocol, s->opts.protocol, sizeof env.protocol);
    env.sim_protocol = session_sim_protocol; /* issue 13: the catalogue's names */
    env.sim_protocol_user = s;
    cn_strlcpy(env.replay_path, s->opts.replay_path, sizeof env.replay_path);
    env.replay_speed = s->opts.replay_speed;
    env.usb_wait_s = s->opts.probe_wait_s;
    own_server_address(s, env.listen_addr, sizeof env.listen_addr, &env.listen_port);
    cn_device_set *set;
    int rc = cn_device_set_open(&env, s->opts.source, s->opts.tracking, &set, err, err_len);
    if (rc != CN_OK)
        return rc;
    s->devices = set;
    s->dev = cn_device_set_device(set);
    s->has_dev = true;
    s->source_name = cn_device_set_name(set);
    /* typed views for the controls (navigate.c keys, the simulated operator) */
    s->sim = cn_device_set_sim(set);
    s->replay = cn_device_set_replay(set);
    s->usb = cn_device_set_usb(set);
    s->igtl_source = cn_device_set_igtl(set);
    return CN_OK;
}

/* The largest frame the session's pools hold: at least 1024 x 1024; a replayed file's
 * own frame or the simulator's configured one when larger (a Slicer screen capture of
 * 1152 x 648; "width_px": 1280); 2048 x 2048 for an OpenIGTLink image source, whose
 * frame size is known only when the first IMAGE comes (a PlusServer's HD frame
 * grabber: 1920 x 1080). Before, every pool was 1024 x 1024: such a replay or
 * simulator failed on its first frame ("does not fit the frame pool", "value out of
 * range") and such a server's images were all dropped. Pool pages a smaller frame
 * never touches cost no memory. */
static int state_events(void *user, cn_event *out, int max)
{
    return cn_session_state_events(user, out, max);
}

static void frame_max(const cn_session *s, int *w, int *h)
{
    int fw = 0, fh = 0;
    const cn_seq_info *in = s->replay ? cn_replay_info(s->replay) : NULL;
    if (in && in->frame_bytes > 0)
        fw = in->width, fh = in->height;
    else if (s->sim)
        fw = cn_sim_get_config(s->sim)->width_px, fh = cn_sim_get_config(s->sim)->height_px;
    else if (s->igtl_source)
        fw = fh = 2048;
    *w = fw > 1024 && fw <= CN_IMAGE_MAX_SIDE ? fw : 1024;
    *h = fh > 1024 && fh <= CN_IMAGE_MAX_SIDE ? fh : 1024;
}

static int add_analysis(cn_session *s, char *err, size_t err_len)
{
    int rc;
    /* ---- proctor link (issue 15): targets and notes reach the analysis thread
     * through the hub, with or without a viewer; before the console stage, which
     * applies the target to this frame ---- */
    cn_stage proctor = {.name = "proctor", .self = s, .process = cn_session_proctor_stage};
    cn_pipeline_add_stage(s->pipe, &proctor);
    /* ---- the procedure state and its plan (issue 13) ----
     * The catalogue's protocol is the plan (timer, reminders, plan-vs-actual):
     * --protocol, else the simulated clinician's, else the config's "thermal". */
    cn_thermal_stage_opts to;
    char cfgdir[1024];
    cn_app_data_path("config", cfgdir, sizeof cfgdir);
    char userdir[1024];
    cn_app_user_config_dir(userdir, sizeof userdir);
    if ((rc = cn_thermal_stage_opts_from_json(&to, s->cfg, "thermal", cfgdir, userdir, err,
                                              err_len)) != CN_OK)
        return rc;
    if ((rc = cn_session_plan(s, &to, cfgdir, err, err_len)) != CN_OK)
        return rc;
    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    if ((rc = cn_guidance_config_from_json(s->cfg, "guidance", &gc, err, err_len)) != CN_OK)
        return rc;
    cn_stage console = {.name = "console", .self = s, .process = cn_session_console_stage};
    cn_pipeline_add_stage(s->pipe, &console);
    /* ---- analysis: segment (issue 4) ---- */
    {
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        double seed[2];
        bool has_seed = false;
        if ((rc = cn_segment_config_from_json(s->cfg, "segment", &sc, seed, &has_seed, err,
                                              err_len)) != CN_OK)
            return rc;
        cn_segment *seg = cn_segment_new(&sc, cn_frame_pool_max_width(cn_pipeline_pool(s->pipe)),
                                         cn_frame_pool_max_height(cn_pipeline_pool(s->pipe)));
        if (!seg) {
            snprintf(err, err_len, "cannot create the image analysis (out of memory?)");
            return CN_ENOMEM;
        }
        if (has_seed) {
            cn_segment_set_nerve_seed(seg, (cn_pt2){(float)seed[0], (float)seed[1]});
            /* issue 14: recorded as an event, so a replay restores the target */
            s->seed_announce = true;
            s->seed_mm = (cn_pt2){(float)seed[0], (float)seed[1]};
            s->seed_source = CN_EVSRC_PLAN;
            s->start_seed = true;
        } else if (s->sim) {
            /* At the table the operator marks the target once; in the simulated
             * scene the simulated operator marks the nerve where the scene put it. */
            cn_truth t;
            cn_sim_truth_at(s->sim, 0.0, &t);
            cn_segment_set_nerve_seed(seg, t.nerve_center_mm);
            s->seed_announce = true;
            s->seed_mm = t.nerve_center_mm;
            s->seed_source = CN_EVSRC_SIMULATOR;
            s->start_seed = true;
            cn_log_info(s->log, "run", "simulated operator marked the nerve at (%.1f, %.1f) mm",
                        t.nerve_center_mm.x, t.nerve_center_mm.y);
        }
        s->segment = seg;
        cn_stage st;
        cn_segment_stage(seg, &st);
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
        s->catchup_stages[s->n_catchup_stages++] = st;
    }
    /* ---- analysis: thermal (issue 3) ---- */
    {
        /* The bioheat model follows the procedure state on each frame at its scene
         * time, keeps the cold where it is in the tissue, fits itself to the ice
         * rim the segment stage saw and fills f->analysis.iso (0/-20/-40 C). */
        to.log = s->log;
        to.skin_depth_mm = gc.skin_depth_mm;
        cn_stage st;
        if ((rc = cn_thermal_stage_new(&to, &st, err, err_len)) != CN_OK)
            return rc;
        s->thermal = st.self;
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
        s->catchup_stages[s->n_catchup_stages++] = st;
    }
    /* ---- the predicted zone as 3-D surfaces for proctors (issues 3 + 5) ---- */
    {
        cn_stage st = {.name = "surfaces", .self = s, .process = cn_session_surfaces_stage};
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
    }
    /* ---- analysis: guidance ---- */
    {
        /* Coverage of the nerve by the -20 C curve, ice-to-skin distance and the
         * alarms (modules/guidance); config "guidance": {"min_skin_distance_mm",
         * "skin_depth_mm", "hysteresis_mm", "grid_mm", "lock_target"}. */
        cn_guidance *g = cn_guidance_new(&gc);
        if (!g) {
            snprintf(err, err_len, "cannot create the guidance stage (out of memory?)");
            return CN_ENOMEM;
        }
        s->guidance = g;
        /* issue 13: the target's model temperature, and coverage for the plan's
         * "reposition?" reminder */
        cn_guidance_set_field(g, cn_thermal_stage_temp_image, s->thermal);
        cn_procedure_attach_guidance(s->procedure, g);
        cn_stage st;
        cn_guidance_stage(g, &st);
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
        s->catchup_stages[s->n_catchup_stages++] = st;
    }
    return CN_OK;
}

static int add_sinks(cn_session *s, char *err, size_t err_len)
{
    int rc;
    /* ---- sink: recorder (issue 6) ---- */
    {
        /* Raw sink: every acquired frame (bounded ring + writer thread, never blocks);
         * analysed sink: the analysis results are matched to their frame by seq. The
         * switch lets a recording start (--record, or a proctor's StartRecording) and
         * stop at any time. Config "record": {"compress": false, "dir": "recordings"}. */
        static const char *const rec_keys[] = {"compress", "dir", NULL};
        if ((rc = cn_json_check_keys(s->cfg, "record", rec_keys, err, err_len)) == CN_EINVAL)
            return rc;
        bool compress = false;
        char dir[512] = "recordings";
        if (cn_json_get_bool(s->cfg, "record.compress", &compress, err, err_len) == CN_EINVAL ||
            cn_json_get_string(s->cfg, "record.dir", dir, sizeof dir, err, err_len) == CN_EINVAL)
            return CN_EINVAL;
        int mw, mh;
        frame_max(s, &mw, &mh);
        cn_recorder_opts ro = {.writer = {.format = CN_SEQ_MHA, .compress = compress,
                                          .offline = s->opts.batch /* --fast, --speed 0 */},
                               .max_width = mw, .max_height = mh, .log = s->log,
                               .lossless = s->opts.batch /* offline: keep every frame */,
                               /* a replay's recording keeps the file's own custom fields */
                               .carry_fields_from = s->replay ? s->opts.replay_path : NULL};
        cn_rec_switch *sw = cn_rec_switch_new(&ro, dir, s->log);
        if (!sw) {
            snprintf(err, err_len, "out of memory");
            return CN_ENOMEM;
        }
        s->recorder = sw;
        cn_rec_switch_set_state(sw, state_events, s);
        cn_rec_switch_set_one_pass(sw, !s->replay); /* teaching audit T8 */
        if (s->opts.record_path[0] &&
            (rc = cn_rec_switch_start(sw, s->opts.record_path, err, err_len)) != CN_OK)
            return rc;
        cn_sink raw, analysed;
        cn_rec_switch_sinks(sw, &raw, &analysed);
        cn_pipeline_add_raw_sink(s->pipe, &raw);
        cn_pipeline_add_sink(s->pipe, &analysed);
    }
    /* ---- offline (issue 14: replay --speed 0, run --fast): the next frame is read
     * once this one was analysed, so none is skipped (session_batch.c) ---- */
    if (s->batch) {
        cn_sink done = {.name = "batch", .self = s->batch, .consume = cn_session_batch_done};
        cn_pipeline_add_sink(s->pipe, &done);
    }
    /* ---- sink: OpenIGTLink server (issue 5) ---- */
    if (!s->opts.no_serve) {
        /* Streams every analysed frame to 3D Slicer / proctors (modules/igtl).
         * Config "igtl" object; --listen ADDR:PORT overrides its "listen". */
        cn_igtl_server_opts go;
        cn_igtl_server_opts_default(&go);
        go.log = s->log;
        go.hub = s->proctor; /* issue 15: roles, notes, targets, commands */
        if (cn_igtl_server_opts_from_json(&go, s->cfg, err, err_len) != CN_OK)
            return CN_EINVAL;
        cn_strlcpy(s->scene_frame, go.reference_frame, sizeof s->scene_frame);
        bool serve = true;
        if (cn_json_get_bool(s->cfg, "igtl.serve", &serve, err, err_len) == CN_EINVAL)
            return CN_EINVAL;
        if (s->opts.listen[0]) {
            serve = true;
            if (cn_igtl_parse_listen(s->opts.listen, go.listen_addr, sizeof go.listen_addr,
                                     &go.port) != CN_OK) {
                snprintf(err, err_len, "--listen: expected ADDR:PORT (e.g. 127.0.0.1:18944), got '%s'",
                         s->opts.listen);
                return CN_EINVAL;
            }
        }
        if (serve) {
            /* The proctor link is secondary: when the default port is taken (another
             * navigator runs), navigation goes on without it; an explicit --listen
             * that cannot be honoured is an error. */
            cn_igtl_server *srv = cn_igtl_server_start(&go, err, err_len);
            if (!srv && s->opts.listen[0])
                return CN_EIO;
            if (!srv) {
                cn_log_warn(s->log, "run", "%s; continuing without the OpenIGTLink server", err);
                err[0] = 0;
            } else {
                s->igtl_server = srv;
                cn_sink sk = cn_igtl_server_sink(srv);
                cn_pipeline_add_sink(s->pipe, &sk);
                cn_sink ps = cn_proctor_sink(s->proctor); /* status for RequestStatus */
                cn_pipeline_add_sink(s->pipe, &ps);
                cn_rec_switch_register_igtl(s->recorder, srv); /* PLUS-style remote recording */
            }
        }
    }
    return CN_OK;
}

int cn_session_open(cn_session *s, const cn_run_opts *o, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    s->opts = *o;
    s->live_scene_ns = INT64_MIN;
    s->replay_first_ns = INT64_MIN;
    s->replay_history_last_ns = INT64_MIN;
    pthread_mutex_init(&s->target_mu, NULL);
    pthread_mutex_init(&s->events_mu, NULL);
    s->log = o->log ? o->log : cn_log_new(stderr, o->log_level); /* borrowed when given */
    int rc;
    if ((rc = load_config(s, err, err_len)) != CN_OK)
        goto fail;
    if ((rc = open_source(s, err, err_len)) != CN_OK)
        goto fail;
    if ((rc = cn_session_proctor_open(s, err, err_len)) != CN_OK) /* issue 15 */
        goto fail;
    cn_pipeline_opts po = {.pool_frames = 24, .log = s->log};
    frame_max(s, &po.max_width, &po.max_height);
    s->pipe = cn_pipeline_new(&po);
    if (!s->pipe) {
        snprintf(err, err_len, "cannot allocate the frame pool");
        rc = CN_ENOMEM;
        goto fail;
    }
    /* offline runs read through a lockstep wrapper (issue 14, session_batch.c) */
    const cn_device *dev = &s->dev;
    if (s->opts.batch && !(dev = cn_session_batch_device(s))) {
        snprintf(err, err_len, "out of memory");
        rc = CN_ENOMEM;
        goto fail;
    }
    cn_pipeline_set_device(s->pipe, dev);
    /* issue 14: a replay's --spacing-mm, --start, --paused (session_replay.c) */
    if ((rc = cn_session_replay_setup(s, err, err_len)) != CN_OK)
        goto fail;
    if ((rc = add_analysis(s, err, err_len)) != CN_OK)
        goto fail;
    if ((rc = add_sinks(s, err, err_len)) != CN_OK)
        goto fail;
    return CN_OK;
fail:
    cn_session_close(s);
    return rc;
}

int cn_session_start(cn_session *s) { return cn_pipeline_start(s->pipe); }

void cn_session_close(cn_session *s)
{
    if (s->pipe)
        cn_pipeline_stop(s->pipe);
    /* ---- close: sinks and stages, in reverse order of creation ---- */
    /* igtl server (issue 15): its thread runs proctor commands that use the
     * recorder (StartRecording ...): stop it, and drop its frame reference,
     * before anything it uses is freed */
    cn_igtl_server_stop(s->igtl_server);
    /* recorder (issue 6): after the pipeline and the network stopped */
    cn_rec_switch_free(s->recorder);
    s->recorder = NULL;
    cn_pipeline_free(s->pipe);
    s->pipe = NULL;
    cn_session_batch_free(s); /* issue 14: the offline wrapper, after the pipeline */
    cn_session_catchup_close(s); /* its stages ran on the stopped analysis thread */
    cn_igtl_server_free(s->igtl_server);
    s->igtl_server = NULL;
    cn_session_proctor_close(s); /* issue 15: after every transport is gone */
    cn_guidance_free(s->guidance); /* guidance: its stage ran on the stopped thread */
    s->guidance = NULL;
    cn_thermal_stage_free(s->thermal); /* thermal (issue 3) */
    s->thermal = NULL;
    cn_procedure_free(s->procedure); /* procedure state (issue 13) */
    s->procedure = NULL;
    cn_segment_free(s->segment); /* segment (issue 4): its stage ran on the stopped thread */
    s->segment = NULL;
    /* devices (issue 15): image and tracking devices, stopped with the pipeline */
    cn_device_set_free(s->devices);
    s->devices = NULL;
    s->igtl_source = s->replay = s->usb = NULL;
    s->sim = NULL;
    s->has_dev = false;
    cn_json_free(s->cfg);
    s->cfg = NULL;
    if (s->log != s->opts.log)
        cn_log_free(s->log);
    s->log = NULL;
    pthread_mutex_destroy(&s->target_mu);
    pthread_mutex_destroy(&s->events_mu);
}
