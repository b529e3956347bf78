/* session.c - wiring of one navigation session (see session.h).
 *
 * The order matters and follows the data: config -> source device -> pipeline ->
 * analysis stages (segment -> thermal -> guidance) -> sinks (recorder sees every
 * frame; network sees analysed frames). Each area keeps its wiring inside its
 * own block below so the blocks can grow independently. */
#include "session.h"

#include "sim/sim.h"

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
    /* ---- source: replay (issue 6) ---- */
    /* ---- source: igtl (issue 5) ---- */

    snprintf(err, err_len, "unknown source '%s' (known: sim)", src);
    return CN_EINVAL;
}

static int add_analysis(cn_session *s, char *err, size_t err_len)
{
    (void)s;
    (void)err;
    (void)err_len;
    /* ---- analysis: segment (issue 4) ---- */
    /* ---- analysis: thermal (issue 3) ---- */
    /* ---- analysis: guidance ---- */
    return CN_OK;
}

static int add_sinks(cn_session *s, char *err, size_t err_len)
{
    (void)s;
    (void)err;
    (void)err_len;
    /* ---- sink: recorder (issue 6) ---- */
    /* ---- sink: OpenIGTLink server (issue 5) ---- */
    return CN_OK;
}

int cn_session_open(cn_session *s, const cn_run_opts *o, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    s->opts = *o;
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
    cn_pipeline_free(s->pipe);
    s->pipe = NULL;
    if (s->has_dev && s->sim)
        cn_sim_device_release(&s->dev);
    s->has_dev = false;
    cn_sim_free(s->sim);
    s->sim = NULL;
    cn_json_free(s->cfg);
    s->cfg = NULL;
    cn_log_free(s->log);
    s->log = NULL;
}
