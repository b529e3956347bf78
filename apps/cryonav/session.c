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
#include "replay/replay.h" /* issue 6: replay source + recorder sink */
#include "usb/usb.h"       /* issue 7: USB probe source (Healson UP20L) */
#include "seqio/seqio.h"
#include "igtl/igtl.h"        /* issue 5: OpenIGTLink server sink */
#include "igtl/igtl_source.h" /* issue 5: OpenIGTLink client source */

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
}

/* Top-level keys of config/session.json; an unknown one is a typo to report. */
static const char *const session_keys[] = {"source", "sim", "viewer", "igtl", "usb", "replay",
                                           "record", "segment", "thermal", "guidance", "probe",
                                           "pipeline", NULL};

static int load_config(cn_session *s, char *err, size_t err_len)
{
    /* Layers (issue 16, app_config.c): the shipped defaults, the user's
     * ~/.config/cryonav/session.json, then --config FILE. */
    if (cn_app_config_load(s->opts.config_path, s->log, &s->cfg, err, err_len) != CN_OK)
        return CN_EINVAL;
    int rc = cn_json_check_keys(s->cfg, "", session_keys, err, err_len);
    return rc == CN_ENOENT ? CN_OK : rc;
}

static int open_source(cn_session *s, char *err, size_t err_len)
{
    char src[32] = "sim";
    int rc = cn_json_get_string(s->cfg, "source", src, sizeof src, err, err_len);
    if (rc == CN_EINVAL)
        return rc;
    if (s->opts.source[0])
        cn_strlcpy(src, s->opts.source, sizeof src);

    /* ---- source: sim (the built-in simulator) ---- */
    if (strcmp(src, "sim") == 0) {
        cn_sim_config sc;
        cn_sim_config_defaults(&sc);
        if ((rc = cn_sim_config_from_json(s->cfg, "sim", &sc, err, err_len)) != CN_OK)
            return rc;
        if (s->opts.time_scale > 0)
            sc.time_scale = s->opts.time_scale;
        if (s->opts.seed >= 0)
            sc.seed = (uint64_t)s->opts.seed;
        if (s->opts.protocol[0]) {
            /* Re-read through the JSON path so presets resolve in one place. */
            char text[256];
            snprintf(text, sizeof text, "{\"sim\": {\"protocol\": \"%s\"}}", s->opts.protocol);
            cn_json *over = cn_json_parse(text, "--protocol", err, err_len);
            if (!over)
                return CN_EINVAL;
            rc = cn_sim_config_from_json(over, "sim", &sc, err, err_len);
            cn_json_free(over);
            if (rc != CN_OK)
                return rc;
        }
        if ((rc = cn_sim_config_validate(&sc, err, err_len)) != CN_OK)
            return rc;
        s->sim = cn_sim_new(&sc);
        if (!s->sim) {
            snprintf(err, err_len, "cannot create the simulator (out of memory?)");
            return CN_ENOMEM;
        }
        cn_sim_device_opts dopt = {.realtime = s->opts.realtime, .loop = s->opts.loop,
                                   .max_frames = s->opts.max_frames};
        if ((rc = cn_sim_device_make(s->sim, &dopt, &s->dev)) != CN_OK) {
            snprintf(err, err_len, "cannot make the simulator device: %s", cn_strerror(rc));
            return rc;
        }
        s->has_dev = true;
        s->source_name = "sim";
        return CN_OK;
    }
    /* ---- source: usb (issue 7) ---- */
    if (strcmp(src, "usb") == 0) {
        /* The first usable Healson UP20L (devices/usb). Probe facts come from
         * config/probes/up20l.json, the session's "usb" object picks gain, range,
         * depth and focus, $CRYONAV_UP20L_TABLES overrides the owner's tables folder
         * (cryonav-probe-emulator sets it to its generated test tables). The device
         * survives unplug/replug on its own: read() returns CN_EAGAIN meanwhile. */
        cn_usb_device_opts uo = {.log = s->log};
        char ppath[1024];
        cn_up20l_config_default(&uo.config);
        cn_app_data_path("config/probes/up20l.json", ppath, sizeof ppath);
        if ((rc = cn_up20l_config_load(ppath, &uo.config, err, err_len)) != CN_OK ||
            (rc = cn_up20l_config_apply_session(&uo.config, s->cfg, err, err_len)) != CN_OK)
            return rc;
        cn_up20l_config_apply_env(&uo.config);
        cn_usb_device *ud = cn_usb_device_new(&uo, err, err_len);
        if (!ud)
            return CN_ENOENT;
        s->usb = ud;
        s->dev = cn_usb_device_iface(ud);
        s->has_dev = true;
        s->source_name = "usb";
        return CN_OK;
    }
    /* ---- source: replay (issue 6) ---- */
    if (strcmp(src, "replay") == 0) {
        /* A recording as the source: the same pipeline as live (see devices/replay).
         * The file comes from `cryonav replay FILE` or config "replay": {"file": ...}. */
        char rpath[512];
        cn_strlcpy(rpath, s->opts.replay_path, sizeof rpath);
        if (!rpath[0] &&
            cn_json_get_string(s->cfg, "replay.file", rpath, sizeof rpath, err, err_len) == CN_EINVAL)
            return CN_EINVAL;
        if (!rpath[0]) {
            snprintf(err, err_len, "source 'replay' needs a file (cryonav replay FILE)");
            return CN_EINVAL;
        }
        cn_replay_opts ro = {.speed = s->opts.realtime ? s->opts.replay_speed : 0,
                             .loop = s->opts.loop, .log = s->log};
        if ((rc = cn_replay_device_make(rpath, &ro, &s->dev, err, err_len)) != CN_OK)
            return rc;
        s->replay = cn_replay_from_device(&s->dev);
        s->has_dev = true;
        s->source_name = "replay";
        return CN_OK;
    }
    /* ---- source: igtl (issue 5) ---- */
    if (strcmp(src, "igtl") == 0) {
        /* Images and tracking from an OpenIGTLink server such as PlusServer
         * (devices/igtl); config "igtl": {"source": {"host", "port", "map", ...}}.
         * Reconnects with backoff on its own. */
        cn_igtl_source_opts io;
        cn_igtl_source_opts_default(&io);
        io.want_image = true;
        io.log = s->log;
        if ((rc = cn_igtl_source_opts_from_json(&io, s->cfg, err, err_len)) != CN_OK)
            return rc;
        cn_igtl_source *is = cn_igtl_source_new(&io, NULL);
        if (!is) {
            snprintf(err, err_len, "igtl source: invalid options (host %s, port %d)", io.host,
                     io.port);
            return CN_EINVAL;
        }
        s->igtl_source = is;
        s->dev = cn_igtl_source_device(is);
        s->has_dev = true;
        s->source_name = "igtl";
        return CN_OK;
    }

    snprintf(err, err_len, "unknown source '%s' (known: sim, usb, replay, igtl)", src);
    return CN_EINVAL;
}

static int add_analysis(cn_session *s, char *err, size_t err_len)
{
    int rc;
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
        } else if (s->sim) {
            /* At the table the operator marks the target once; in the simulated
             * scene the simulated operator marks the nerve where the scene put it. */
            cn_truth t;
            cn_sim_truth_at(s->sim, 0.0, &t);
            cn_segment_set_nerve_seed(seg, t.nerve_center_mm);
            cn_log_info(s->log, "run", "simulated operator marked the nerve at (%.1f, %.1f) mm",
                        t.nerve_center_mm.x, t.nerve_center_mm.y);
        }
        s->segment = seg;
        cn_stage st;
        cn_segment_stage(seg, &st);
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
    }
    /* ---- analysis: thermal (issue 3) ---- */
    {
        /* The bioheat model steps with the session clock, fits itself to the ice
         * rim the segment stage saw and fills f->analysis.iso (0/-20/-40 C). */
        cn_thermal_stage_opts to;
        char cfgdir[1024];
        if ((rc = cn_thermal_stage_opts_from_json(&to, s->cfg, "thermal",
                                                  cn_app_data_path("config", cfgdir, sizeof cfgdir),
                                                  err, err_len)) != CN_OK)
            return rc;
        to.log = s->log;
        if (s->sim) /* the simulated scene runs time_scale scene seconds per real second */
            to.time_scale = cn_sim_get_config(s->sim)->time_scale;
        cn_stage st;
        if ((rc = cn_thermal_stage_new(&to, &st, err, err_len)) != CN_OK)
            return rc;
        s->thermal = st.self;
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
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
        cn_guidance_config gc;
        cn_guidance_config_default(&gc);
        if ((rc = cn_guidance_config_from_json(s->cfg, "guidance", &gc, err, err_len)) != CN_OK)
            return rc;
        cn_guidance *g = cn_guidance_new(&gc);
        if (!g) {
            snprintf(err, err_len, "cannot create the guidance stage (out of memory?)");
            return CN_ENOMEM;
        }
        s->guidance = g;
        cn_stage st;
        cn_guidance_stage(g, &st);
        if ((rc = cn_pipeline_add_stage(s->pipe, &st)) != CN_OK)
            return rc;
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
        cn_recorder_opts ro = {.writer = {.format = CN_SEQ_MHA, .compress = compress},
                               .max_width = 1024, .max_height = 1024, .log = s->log};
        cn_rec_switch *sw = cn_rec_switch_new(&ro, dir, s->log);
        if (!sw) {
            snprintf(err, err_len, "out of memory");
            return CN_ENOMEM;
        }
        s->recorder = sw;
        if (s->opts.record_path[0] &&
            (rc = cn_rec_switch_start(sw, s->opts.record_path, err, err_len)) != CN_OK)
            return rc;
        cn_sink raw, analysed;
        cn_rec_switch_sinks(sw, &raw, &analysed);
        cn_pipeline_add_raw_sink(s->pipe, &raw);
        cn_pipeline_add_sink(s->pipe, &analysed);
    }
    /* ---- sink: OpenIGTLink server (issue 5) ---- */
    if (!s->opts.no_serve) {
        /* Streams every analysed frame to 3D Slicer / proctors (modules/igtl).
         * Config "igtl" object; --listen ADDR:PORT overrides its "listen". */
        cn_igtl_server_opts go;
        cn_igtl_server_opts_default(&go);
        go.log = s->log;
        if (cn_igtl_server_opts_from_json(&go, s->cfg, err, err_len) != CN_OK)
            return CN_EINVAL;
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
    pthread_mutex_init(&s->target_mu, NULL);
    s->log = o->log ? o->log : cn_log_new(stderr, o->log_level); /* borrowed when given */
    int rc;
    if ((rc = load_config(s, err, err_len)) != CN_OK)
        goto fail;
    if ((rc = open_source(s, err, err_len)) != CN_OK)
        goto fail;
    cn_pipeline_opts po = {.pool_frames = 24, .max_width = 1024, .max_height = 1024, .log = s->log};
    s->pipe = cn_pipeline_new(&po);
    if (!s->pipe) {
        snprintf(err, err_len, "cannot allocate the frame pool");
        rc = CN_ENOMEM;
        goto fail;
    }
    cn_pipeline_set_device(s->pipe, &s->dev);
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
    /* recorder (issue 6): after the pipeline stopped, so no frame is in flight */
    cn_rec_switch_free(s->recorder);
    s->recorder = NULL;
    /* igtl server (issue 5): drop its frame reference before the pool goes */
    if (s->igtl_server)
        cn_igtl_server_release_frames(s->igtl_server, 1000000000LL);
    cn_pipeline_free(s->pipe);
    s->pipe = NULL;
    cn_igtl_server_free(s->igtl_server);
    s->igtl_server = NULL;
    cn_guidance_free(s->guidance); /* guidance: its stage ran on the stopped thread */
    s->guidance = NULL;
    cn_thermal_stage_free(s->thermal); /* thermal (issue 3) */
    s->thermal = NULL;
    cn_segment_free(s->segment); /* segment (issue 4): its stage ran on the stopped thread */
    s->segment = NULL;
    cn_igtl_source_free(s->igtl_source); /* igtl source (issue 5): already stopped */
    s->igtl_source = NULL;
    if (s->has_dev && s->sim)
        cn_sim_device_release(&s->dev);
    if (s->has_dev && s->replay) /* replay (issue 6) */
        cn_replay_device_release(&s->dev);
    s->replay = NULL;
    if (s->usb) { /* usb (issue 7): the pipeline already stopped the device */
        cn_usb_device_free(s->usb);
        s->usb = NULL;
    }
    s->has_dev = false;
    cn_sim_free(s->sim);
    s->sim = NULL;
    cn_json_free(s->cfg);
    s->cfg = NULL;
    if (s->log != s->opts.log)
        cn_log_free(s->log);
    s->log = NULL;
    pthread_mutex_destroy(&s->target_mu);
}
