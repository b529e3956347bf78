/*
 * kinds.c - the device kinds CryoNav knows, each one open function (PLUS's
 * device factory). An open function reads its own config object and the
 * command line's overrides, builds the device and hands back a cn_device whose
 * release frees everything it made, so the set treats all kinds alike.
 *
 * The devices themselves live in devices/<kind>; this file only wires them.
 */
#include "registry/registry.h"

#include "igtl/igtl_source.h"
#include "replay/replay.h"
#include "sim/sim.h"
#include "usb/usb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ ownership */

/* A device plus what must be freed with it: every kind's release looks the
 * same to the set whatever its device's own release function is. */
typedef struct {
    cn_device inner;
    void (*cleanup)(cn_device *inner, void *arg); /* NULL: inner.release */
    void *arg;
} owned;

static int o_start(void *self)
{
    owned *o = self;
    return o->inner.start ? o->inner.start(o->inner.self) : CN_OK;
}
static int o_read(void *self, cn_frame *f)
{
    owned *o = self;
    return o->inner.read(o->inner.self, f);
}
static void o_interrupt(void *self)
{
    owned *o = self;
    if (o->inner.interrupt)
        o->inner.interrupt(o->inner.self);
}
static void o_stop(void *self)
{
    owned *o = self;
    if (o->inner.stop)
        o->inner.stop(o->inner.self);
}
static void o_release(void *self)
{
    owned *o = self;
    if (o->cleanup)
        o->cleanup(&o->inner, o->arg);
    else if (o->inner.release)
        o->inner.release(o->inner.self);
    free(o);
}

static int wrap(const cn_device *inner, void (*cleanup)(cn_device *, void *), void *arg,
                cn_device *out)
{
    owned *o = calloc(1, sizeof *o);
    if (!o)
        return CN_ENOMEM;
    *o = (owned){.inner = *inner, .cleanup = cleanup, .arg = arg};
    *out = (cn_device){.name = inner->name, .self = o, .start = o_start,
                       .read = inner->read ? o_read : NULL, .interrupt = o_interrupt,
                       .stop = o_stop, .release = o_release};
    return CN_OK;
}

/* ------------------------------------------------------------------ sim */

static cn_sim *sim_from_config(const cn_device_env *env, char *err, size_t err_len)
{
    cn_sim_config sc;
    cn_sim_config_defaults(&sc);
    if (env->cfg && cn_sim_config_from_json(env->cfg, "sim", &sc, err, err_len) != CN_OK)
        return NULL;
    if (env->time_scale > 0)
        sc.time_scale = env->time_scale;
    if (env->seed >= 0)
        sc.seed = (uint64_t)env->seed;
    if (env->protocol[0] && env->sim_protocol) {
        if (env->sim_protocol(env->sim_protocol_user, &sc, env->protocol, err, err_len) != CN_OK)
            return NULL;
    } else if (env->protocol[0]) {
        /* Re-read through the JSON path so presets resolve in one place. */
        char text[256];
        snprintf(text, sizeof text, "{\"sim\": {\"protocol\": \"%s\"}}", env->protocol);
        cn_json *over = cn_json_parse(text, "--protocol", err, err_len);
        if (!over)
            return NULL;
        int rc = cn_sim_config_from_json(over, "sim", &sc, err, err_len);
        cn_json_free(over);
        if (rc != CN_OK)
            return NULL;
    }
    if (cn_sim_config_validate(&sc, err, err_len) != CN_OK)
        return NULL;
    cn_sim *s = cn_sim_new(&sc);
    if (!s)
        snprintf(err, err_len, "cannot create the simulator (out of memory?)");
    return s;
}

static void sim_cleanup(cn_device *inner, void *arg)
{
    if (inner->release)
        inner->release(inner->self);  /* the tracker */
    else
        cn_sim_device_release(inner); /* the image device */
    cn_sim_free(arg);
}

static int open_sim(const cn_device_env *env, cn_device_role role, cn_xform_graph *graph,
                    cn_device_opened *out, char *err, size_t err_len)
{
    cn_sim *s = sim_from_config(env, err, err_len);
    if (!s)
        return CN_EINVAL;
    cn_device d;
    int rc;
    if (role == CN_DEVICE_IMAGES) {
        cn_sim_device_opts o = {.realtime = env->realtime, .loop = env->loop || env->windowed,
                                .max_frames = env->max_frames};
        rc = cn_sim_device_make(s, &o, &d);
    } else {
        cn_sim_tracker_opts o = {.rate_hz = 60};
        rc = cn_sim_tracker_make(s, &o, graph, &d);
    }
    if (rc == CN_OK && (rc = wrap(&d, sim_cleanup, s, &out->dev)) != CN_OK)
        sim_cleanup(&d, s);
    else if (rc != CN_OK)
        cn_sim_free(s);
    if (rc != CN_OK) {
        snprintf(err, err_len, "cannot make the simulator device: %s", cn_strerror(rc));
        return rc;
    }
    out->handle = s;
    return CN_OK;
}

/* ------------------------------------------------------------------ usb */

static void usb_cleanup(cn_device *inner, void *arg)
{
    (void)inner;
    cn_usb_device_free(arg);
}

/* The probe's settings, in the layers `cryonav probes` uses too: the probe file in
 * <config>/probes/up20l.json, the session's "usb" object, then the environment. */
static int usb_config(const cn_device_env *env, cn_up20l_config *c, char *err, size_t err_len)
{
    char ppath[640];
    snprintf(ppath, sizeof ppath, "%s/probes/up20l.json", env->config_dir);
    cn_up20l_config_default(c);
    int rc;
    if ((rc = cn_up20l_config_load(ppath, c, err, err_len)) != CN_OK ||
        (env->cfg && (rc = cn_up20l_config_apply_session(c, env->cfg, err, err_len)) != CN_OK))
        return rc;
    cn_up20l_config_apply_env(c);
    return CN_OK;
}

static int open_usb(const cn_device_env *env, cn_device_role role, cn_xform_graph *graph,
                    cn_device_opened *out, char *err, size_t err_len)
{
    (void)role;
    (void)graph;
    /* The first usable Healson UP20L (devices/usb). Probe facts come from
     * <config>/probes/up20l.json, the session's "usb" object picks gain, range,
     * depth and focus, $CRYONAV_UP20L_TABLES overrides the owner's tables folder
     * (cryonav-probe-emulator sets it to its generated test tables). The device
     * survives unplug/replug on its own: read() returns CN_EAGAIN meanwhile. */
    cn_usb_device_opts uo = {.log = env->log};
    int rc;
    if ((rc = usb_config(env, &uo.config, err, err_len)) != CN_OK)
        return rc;
    if (env->usb_wait_s >= 0)
        uo.config.wait_s = env->usb_wait_s;
    cn_usb_device *ud = cn_usb_device_new(&uo, err, err_len);
    if (!ud)
        return CN_ENOENT;
    cn_device d = cn_usb_device_iface(ud);
    if ((rc = wrap(&d, usb_cleanup, ud, &out->dev)) != CN_OK) {
        cn_usb_device_free(ud);
        snprintf(err, err_len, "out of memory");
        return rc;
    }
    out->handle = ud;
    return CN_OK;
}

/* ------------------------------------------------------------------ replay */

static void replay_cleanup(cn_device *inner, void *arg)
{
    (void)arg;
    cn_replay_device_release(inner);
}

static int open_replay(const cn_device_env *env, cn_device_role role, cn_xform_graph *graph,
                       cn_device_opened *out, char *err, size_t err_len)
{
    (void)role;
    (void)graph;
    /* A recording as the source: the same pipeline as live (see devices/replay).
     * The file comes from `cryonav replay FILE` or config "replay": {"file": ...}. */
    char rpath[512];
    cn_strlcpy(rpath, env->replay_path, sizeof rpath);
    if (!rpath[0] && env->cfg &&
        cn_json_get_string(env->cfg, "replay.file", rpath, sizeof rpath, err, err_len) == CN_EINVAL)
        return CN_EINVAL;
    if (!rpath[0]) {
        snprintf(err, err_len, "source 'replay' needs a file (cryonav replay FILE)");
        return CN_EINVAL;
    }
    cn_replay_opts ro = {.speed = env->realtime ? env->replay_speed : 0, .loop = env->loop,
                         .hold_at_end = env->windowed && !env->loop, .log = env->log};
    cn_device d;
    int rc = cn_replay_device_make(rpath, &ro, &d, err, err_len);
    if (rc != CN_OK)
        return rc;
    if ((rc = wrap(&d, replay_cleanup, NULL, &out->dev)) != CN_OK) {
        cn_replay_device_release(&d);
        snprintf(err, err_len, "out of memory");
        return rc;
    }
    out->handle = cn_replay_from_device(&d);
    return CN_OK;
}

/* ------------------------------------------------------------------ igtl */

static int open_igtl(const cn_device_env *env, cn_device_role role, cn_xform_graph *graph,
                     cn_device_opened *out, char *err, size_t err_len)
{
    /* A PlusServer, Slicer or any OpenIGTLink server (devices/igtl); config
     * "igtl": {"source": {"host", "port", "map", ...}}. Reconnects on its own. */
    cn_igtl_source_opts io;
    cn_igtl_source_opts_default(&io);
    io.log = env->log;
    int rc;
    if (env->cfg && (rc = cn_igtl_source_opts_from_json(&io, env->cfg, err, err_len)) != CN_OK)
        return rc;
    if (role == CN_DEVICE_IMAGES && io.image_set && !io.want_image) {
        snprintf(err, err_len,
                 "igtl.source.image is false but the image source is \"igtl\": for tracking "
                 "only from OpenIGTLink, take images from sim, usb or replay and set "
                 "\"tracking\": \"igtl\" (or --tracking igtl)");
        return CN_EINVAL;
    }
    if (role == CN_DEVICE_POSES && io.image_set && io.want_image) {
        snprintf(err, err_len,
                 "igtl.source.image is true but OpenIGTLink is the tracking device here "
                 "(images come from another source): set \"source\": \"igtl\" to take the "
                 "server's images too (its transforms then come with them), or remove \"image\"");
        return CN_EINVAL;
    }
    io.want_image = role == CN_DEVICE_IMAGES;
    if ((rc = cn_igtl_source_check_target(&io, env->listen_addr, env->listen_port, err,
                                          err_len)) != CN_OK)
        return rc;
    cn_igtl_source *is = cn_igtl_source_new(&io, graph);
    if (!is) {
        snprintf(err, err_len, "igtl source: invalid options (host %s, port %d)", io.host,
                 io.port);
        return CN_EINVAL;
    }
    cn_device d = cn_igtl_source_device(is);
    if ((rc = wrap(&d, NULL, NULL, &out->dev)) != CN_OK) {
        cn_igtl_source_free(is);
        snprintf(err, err_len, "out of memory");
        return rc;
    }
    out->handle = is;
    return CN_OK;
}

/* ------------------------------------------------------------------ auto */

const char *cn_device_auto_source(const cn_device_env *env, char *why, size_t why_len, bool *warn)
{
    *warn = false;
    cn_up20l_config c;
    char err[512];
    if (usb_config(env, &c, err, sizeof err) != CN_OK) {
        snprintf(why, why_len, "the probe settings cannot be read (%s): the simulator", err);
        *warn = true;
        return "sim";
    }
    cn_usb_probe_info info[8];
    int n = cn_usb_list_probes(&c, info, 8, err, sizeof err);
    if (n < 0) {
        snprintf(why, why_len, "USB cannot be searched here (%s): the simulator", err);
        return "sim";
    }
    for (int i = 0; i < n; i++)
        if (info[i].status == CN_PROBE_USABLE) {
            snprintf(why, why_len, "the %s probe on bus %03d address %03d", info[i].model,
                     info[i].bus, info[i].addr);
            return "usb";
        }
    if (n == 0) {
        snprintf(why, why_len, "no USB probe plugged in: the simulator");
        return "sim";
    }
    /* A UP20L that is plugged in but cannot be used (no permission, its tables missing,
     * another program has it) is insisted on, so the run stops or waits saying why.
     * Before, the simulator ran in its place: with a probe on the patient the screen
     * showed a made-up nerve at 96 % and a cryoprobe, the reason in the log alone (the
     * thirty-seventh session's review, H1). A board that answers as no UP20L at all
     * (another FX2 device with the same id) is not a probe: the simulator. */
    for (int i = 0; i < n; i++)
        if (info[i].status != CN_PROBE_IDENTIFY_FAILED) {
            *warn = true;
            snprintf(why, why_len, "a UP20L is plugged in but cannot be used (%s; 'cryonav "
                     "probes' says more): the probe is kept as the source, not the simulator "
                     "(--source sim runs the simulator)", info[i].message);
            return "usb";
        }
    snprintf(why, why_len, "no UP20L plugged in (%d other board%s with its USB id: %s): the "
             "simulator", n, n == 1 ? "" : "s", info[0].message);
    return "sim";
}

/* ------------------------------------------------------------------ the table */

static const cn_device_kind kinds[] = {
    {"sim", CN_DEVICE_IMAGES | CN_DEVICE_POSES,
     "the built-in ultrasound and tracker simulator", false, open_sim},
    {"usb", CN_DEVICE_IMAGES, "a USB ultrasound probe (Healson UP20L)", false, open_usb},
    {"replay", CN_DEVICE_IMAGES, "a recorded sequence file", false, open_replay},
    {"igtl", CN_DEVICE_IMAGES | CN_DEVICE_POSES,
     "an OpenIGTLink server: PlusServer, 3D Slicer", true, open_igtl},
};

const cn_device_kind *cn_device_kind_at(int i)
{
    return i >= 0 && i < (int)(sizeof kinds / sizeof kinds[0]) ? &kinds[i] : NULL;
}

const cn_device_kind *cn_device_kind_find(const char *name)
{
    for (int i = 0; name && cn_device_kind_at(i); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}
