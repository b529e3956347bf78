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
    char def[1024];
    const char *path = s->opts.config_path[0]
                           ? s->opts.config_path
                           : cn_app_data_path("config/session.json", def, sizeof def);
    s->cfg = cn_json_load(path, err, err_len);
    if (!s->cfg)
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

/* The cryo console (not CryoNav) starts and stops the freeze. With the simulator,
 * its simulated console state rides with every frame; with a real probe it comes
 * from the operator (a key in the viewer, a proctor command). The image analysis
 * needs it to know whether an ice front may exist at all, and the clinician sees
 * the phase, the freeze cycle and the time in the phase from it. */
void cn_session_set_target_ref(cn_session *s, const double p[3])
{
    pthread_mutex_lock(&s->target_mu);
    for (int i = 0; i < 3; i++)
        s->target_ref_mm[i] = p[i];
    s->target_pending = true;
    s->target_in_image = false;
    pthread_mutex_unlock(&s->target_mu);
}

void cn_session_set_target_image(cn_session *s, cn_pt2 mm)
{
    pthread_mutex_lock(&s->target_mu);
    s->target_ref_mm[0] = mm.x;
    s->target_ref_mm[1] = mm.y;
    s->target_ref_mm[2] = 0;
    s->target_pending = true;
    s->target_in_image = true;
    pthread_mutex_unlock(&s->target_mu);
}

/* ImageToReference of this frame from its poses (Tracker stands in for a missing
 * Reference marker); false when the image is not tracked. */
static bool image_to_reference(const cn_frame *f, cn_mat4 *out)
{
    const cn_pose *i2p = cn_frame_get_pose(f, "ImageToProbe");
    const cn_pose *p2t = cn_frame_get_pose(f, "ProbeToTracker");
    const cn_pose *r2t = cn_frame_get_pose(f, "ReferenceToTracker");
    if (!i2p || !i2p->valid || !p2t || !p2t->valid)
        return false;
    cn_mat4 m = cn_mat4_mul(&p2t->m, &i2p->m), t2r;
    if (r2t && r2t->valid) {
        if (cn_mat4_invert(&r2t->m, &t2r) != CN_OK)
            return false;
        m = cn_mat4_mul(&t2r, &m);
    }
    *out = m;
    return true;
}

/* Applies a pending operator target to the nerve tracker (analysis thread). */
static void apply_target(cn_session *s, const cn_frame *f)
{
    pthread_mutex_lock(&s->target_mu);
    bool pending = s->target_pending, in_image = s->target_in_image;
    double p[3] = {s->target_ref_mm[0], s->target_ref_mm[1], s->target_ref_mm[2]};
    s->target_pending = false;
    pthread_mutex_unlock(&s->target_mu);
    if (!pending || !s->segment)
        return;
    if (in_image) {
        cn_segment_set_nerve_seed(s->segment, (cn_pt2){(float)p[0], (float)p[1]});
        cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", p[0], p[1]);
        return;
    }
    cn_mat4 i2r, r2i;
    if (!image_to_reference(f, &i2r) || cn_mat4_invert(&i2r, &r2i) != CN_OK) {
        cn_log_warn(s->log, "run", "target (%.1f, %.1f, %.1f) mm ignored: the image is not tracked",
                    p[0], p[1], p[2]);
        return;
    }
    cn_vec3 px = cn_mat4_apply_point(&r2i, (cn_vec3){p[0], p[1], p[2]});
    /* Pixel index -> image mm of the pixel centre, the analysis' convention. */
    cn_pt2 mm = {(float)((px.x + 0.5) * f->spacing_mm[0]), (float)((px.y + 0.5) * f->spacing_mm[1])};
    /* ImageToProbe scales z like x: out of plane by more than 5 mm is not a target
     * in this image. */
    double off_mm = fabs(px.z) * f->spacing_mm[0];
    if (off_mm > 5.0 || px.x < 0 || px.y < 0 || px.x >= f->width || px.y >= f->height) {
        cn_log_warn(s->log, "run", "target (%.1f, %.1f, %.1f) mm is outside the image "
                    "(%.1f mm out of plane): ignored", p[0], p[1], p[2], off_mm);
        return;
    }
    cn_segment_set_nerve_seed(s->segment, mm);
    cn_log_info(s->log, "run", "target: nerve seed set at (%.1f, %.1f) mm in the image", mm.x, mm.y);
}

static int console_process(void *self, cn_frame *f)
{
    cn_session *s = self;
    apply_target(s, f);
    cn_phase phase;
    int cycle;
    double now_s;
    if (f->truth.valid) {
        phase = f->truth.phase;
        cycle = f->truth.cycle;
        now_s = f->truth.t_scene_s;
    } else {
        bool freezing = atomic_load(&s->operator_freezing);
        now_s = (double)f->t_acq_ns / 1e9;
        cycle = s->console_cycle + (freezing && s->console_phase != CN_PHASE_FREEZE);
        phase = freezing ? CN_PHASE_FREEZE : cycle > 0 ? CN_PHASE_THAW : CN_PHASE_IDLE;
    }
    if (phase != s->console_phase || !s->console_started) {
        s->console_phase = phase;
        s->console_phase_start_s = now_s;
        s->console_started = true;
    }
    s->console_cycle = cycle;
    cn_guidance_state *g = &f->analysis.guidance;
    g->phase = phase;
    g->cycle = cycle;
    g->phase_elapsed_s = now_s - s->console_phase_start_s;
    g->coverage = -1; /* unknown until the thermal model says otherwise */
    if (s->segment)
        cn_segment_set_freezing(s->segment, phase == CN_PHASE_FREEZE);
    return CN_OK;
}

/* Once a second during a freeze, the model's 0 / -20 / -40 C surfaces (meshes in
 * the Cryoprobe frame) go to the OpenIGTLink server, which sends them to every
 * client as POLYDATA; Slicer shows them under CryoprobeToReference. Once a second
 * is enough for a ball that grows by a fraction of a millimetre per second, and
 * keeps the mesh work (a few ms) off most frames. */
static int surfaces_process(void *self, cn_frame *f)
{
    cn_session *s = self;
    if (!s->igtl_server || !s->thermal || f->analysis.guidance.phase != CN_PHASE_FREEZE)
        return CN_OK;
    if (s->surfaces_sent_ns && f->t_acq_ns - s->surfaces_sent_ns < 1000000000LL)
        return CN_OK;
    const cn_thermal_ensemble *e = cn_thermal_stage_ensemble(s->thermal);
    const cn_thermal_model *m = e ? cn_thermal_ensemble_best(e) : NULL;
    if (!m)
        return CN_OK;
    static const struct {
        double temp_c;
        const char *name;
    } iso[] = {{0, "Isotherm0C"}, {-20, "IsothermMinus20C"}, {-40, "IsothermMinus40C"}};
    for (size_t i = 0; i < sizeof iso / sizeof iso[0]; i++) {
        cn_thermal_mesh mesh = {0};
        if (cn_thermal_model_mesh(m, iso[i].temp_c, 48, 32, &mesh) == CN_OK)
            cn_igtl_server_set_surface(s->igtl_server, iso[i].name, mesh.xyz, mesh.n_vertices,
                                       mesh.tri, mesh.n_triangles);
        cn_thermal_mesh_free(&mesh);
    }
    s->surfaces_sent_ns = f->t_acq_ns;
    return CN_OK;
}

static int add_analysis(cn_session *s, char *err, size_t err_len)
{
    int rc;
    cn_stage console = {.name = "console", .self = s, .process = console_process};
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
        cn_stage st = {.name = "surfaces", .self = s, .process = surfaces_process};
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
    s->log = cn_log_new(stderr, o->log_level);
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
    cn_log_free(s->log);
    s->log = NULL;
    pthread_mutex_destroy(&s->target_mu);
}
