/*
 * registry.c - the device set: an image device and a tracking device chosen
 * independently, composed into the one cn_device the pipeline reads (see
 * registry.h for the idea, merge.c for the pose rule, kinds.c for the kinds).
 *
 * The composed read runs on the pipeline's device thread: the image device's
 * read, then the merge of the tracking poses at the frame's acquisition time.
 * Merging there (not in an analysis stage) means the raw sinks - the recorder -
 * store the poses the analysis and the viewer used.
 */
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "devices"

struct cn_device_set {
    const cn_device_kind *ik, *tk;   /* tk NULL: no tracking device */
    cn_device_opened image, tracking;
    cn_xform_graph *graph;           /* poses merged into frames; NULL: none */
    cn_log *log;
    char name[40];
    bool started_tracking, started_image;
    unsigned warned;                 /* CN_MERGE_* bits already logged */
};

void cn_device_env_default(cn_device_env *e)
{
    memset(e, 0, sizeof *e);
    cn_strlcpy(e->config_dir, "config", sizeof e->config_dir);
    e->realtime = true;
    e->seed = -1;
    e->replay_speed = 1.0;
    e->usb_wait_s = -1;
}

/* ------------------------------------------------------------------ choosing kinds */

static void list_kinds(unsigned role, char *out, size_t n)
{
    out[0] = 0;
    cn_strlcpy(out, role == CN_DEVICE_POSES ? "none" : "auto", n);
    for (int i = 0; cn_device_kind_at(i); i++) {
        const cn_device_kind *k = cn_device_kind_at(i);
        if (!(k->roles & role))
            continue;
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", l ? ", " : "", k->name);
    }
}

/* The kind for a role: from the command line (given), else the config key,
 * else the default. *none for "tracking": "none". */
static int choose(const cn_device_env *env, const char *given, const char *key,
                  const char *def, unsigned role, const cn_device_kind **out, char *err,
                  size_t err_len)
{
    char name[32];
    cn_strlcpy(name, def, sizeof name);
    bool from_cli = given && given[0];
    if (from_cli) {
        cn_strlcpy(name, given, sizeof name);
    } else if (env->cfg) {
        int rc = cn_json_get_string(env->cfg, key, name, sizeof name, err, err_len);
        if (rc != CN_OK && rc != CN_ENOENT)
            return rc;
    }
    *out = NULL;
    if (role == CN_DEVICE_POSES && strcmp(name, "none") == 0)
        return CN_OK;
    if (role == CN_DEVICE_IMAGES && strcmp(name, "auto") == 0) {
        char why[700];
        bool warn = false;
        cn_strlcpy(name, cn_device_auto_source(env, why, sizeof why, &warn), sizeof name);
        cn_log_write(env->log, warn ? CN_LOG_WARN : CN_LOG_INFO, MOD, "source auto: %s", why);
    }
    const cn_device_kind *k = cn_device_kind_find(name);
    char known[128];
    list_kinds(role, known, sizeof known);
    bool img = role == CN_DEVICE_IMAGES;
    if (!k || !(k->roles & role)) {
        char why[256];
        if (!k)
            snprintf(why, sizeof why, "unknown %s '%s' (known: %s)", img ? "source" : "tracking",
                     name, known);
        else
            snprintf(why, sizeof why, "'%s' (%s) gives no %s (%s: %s)", name, k->what,
                     img ? "images" : "poses", img ? "sources" : "tracking", known);
        if (from_cli || !env->cfg)
            snprintf(err, err_len, "--%s: %s", img ? "source" : "tracking", why);
        else
            cn_json_error(env->cfg, key, err, err_len, "%s", why);
        return CN_EINVAL;
    }
    *out = k;
    return CN_OK;
}

/* ------------------------------------------------------------------ the composed device */

static int set_start(void *self)
{
    cn_device_set *s = self;
    if (s->tk && s->tracking.dev.start) {
        int rc = s->tracking.dev.start(s->tracking.dev.self);
        if (rc != CN_OK) {
            cn_log_error(s->log, MOD, "cannot start the %s tracking device: %s", s->tk->name,
                         cn_strerror(rc));
            return rc;
        }
    }
    s->started_tracking = s->tk != NULL;
    if (s->image.dev.start) {
        int rc = s->image.dev.start(s->image.dev.self);
        if (rc != CN_OK) {
            if (s->started_tracking && s->tracking.dev.stop)
                s->tracking.dev.stop(s->tracking.dev.self);
            s->started_tracking = false;
            return rc;
        }
    }
    s->started_image = true;
    return CN_OK;
}

static void warn_merge(cn_device_set *s, unsigned flags)
{
    unsigned fresh = flags & ~s->warned;
    if (!fresh)
        return;
    s->warned |= fresh;
    if (fresh & CN_MERGE_REFERENCE_AS_TRACKER)
        cn_log_info(s->log, MOD, "tracking: no Tracker frame in the %s poses; the Reference "
                    "stands in for it (ReferenceToTracker = identity, XToTracker = XToReference)",
                    s->tk ? s->tk->name : s->ik->name);
    if (fresh & CN_MERGE_UNLINKED)
        cn_log_warn(s->log, MOD, "tracking: a tool arrives relative to Reference but nothing "
                    "links Reference to Tracker (no ReferenceToTracker): that tool is not placed");
}

static int set_read(void *self, cn_frame *f)
{
    cn_device_set *s = self;
    int rc = s->image.dev.read(s->image.dev.self, f);
    if (rc == CN_OK && s->graph)
        warn_merge(s, cn_device_merge_poses(s->graph, f->t_acq_ns, f));
    return rc;
}

static void set_interrupt(void *self)
{
    cn_device_set *s = self;
    if (s->image.dev.interrupt)
        s->image.dev.interrupt(s->image.dev.self);
}

static void set_stop(void *self)
{
    cn_device_set *s = self;
    if (s->started_image && s->image.dev.stop)
        s->image.dev.stop(s->image.dev.self);
    s->started_image = false;
    if (s->started_tracking && s->tracking.dev.stop)
        s->tracking.dev.stop(s->tracking.dev.self);
    s->started_tracking = false;
}

static void set_release(void *self) { cn_device_set_free(self); }

cn_device cn_device_set_device(cn_device_set *s)
{
    return (cn_device){.name = s->name, .self = s, .start = set_start, .read = set_read,
                       .interrupt = set_interrupt, .stop = set_stop, .release = set_release};
}

/* ------------------------------------------------------------------ open / free */

int cn_device_set_open(const cn_device_env *env, const char *image, const char *tracking,
                       cn_device_set **out, char *err, size_t err_len)
{
    *out = NULL;
    cn_device_env dflt;
    if (!env) {
        cn_device_env_default(&dflt);
        env = &dflt;
    }
    const cn_device_kind *ik, *tk;
    int rc;
    if ((rc = choose(env, image, "source", "sim", CN_DEVICE_IMAGES, &ik, err, err_len)) != CN_OK ||
        (rc = choose(env, tracking, "tracking", "none", CN_DEVICE_POSES, &tk, err, err_len)) !=
            CN_OK)
        return rc;
    if (tk == ik) {
        /* One device in both roles: it brings its poses with its images. */
        cn_log_info(env->log, MOD, "tracking: the %s image source brings its own poses",
                    ik->name);
        tk = NULL;
    }
    cn_device_set *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return CN_ENOMEM;
    }
    s->ik = ik;
    s->tk = tk;
    s->log = env->log;
    snprintf(s->name, sizeof s->name, "%s%s%s", ik->name, tk ? "+" : "", tk ? tk->name : "");
    /* A graph whenever poses must be resolved: a tracking device, or an image
     * device that receives transforms with its images (OpenIGTLink). */
    bool need_graph = tk || ik->poses_with_images;
    if (need_graph && !(s->graph = cn_xform_graph_new())) {
        free(s);
        snprintf(err, err_len, "out of memory");
        return CN_ENOMEM;
    }
    if ((rc = ik->open(env, CN_DEVICE_IMAGES, s->graph, &s->image, err, err_len)) != CN_OK) {
        cn_xform_graph_free(s->graph);
        free(s);
        return rc;
    }
    if (tk && (rc = tk->open(env, CN_DEVICE_POSES, s->graph, &s->tracking, err, err_len)) !=
                  CN_OK) {
        s->tk = NULL;
        cn_device_set_free(s);
        return rc;
    }
    if (tk)
        cn_log_info(env->log, MOD, "images from %s, tracking from %s", ik->name, tk->name);
    *out = s;
    return CN_OK;
}

void cn_device_set_free(cn_device_set *s)
{
    if (!s)
        return;
    set_stop(s);
    if (s->tk && s->tracking.dev.release)
        s->tracking.dev.release(s->tracking.dev.self);
    if (s->image.dev.release)
        s->image.dev.release(s->image.dev.self);
    cn_xform_graph_free(s->graph); /* after both: their threads wrote into it */
    free(s);
}

const char *cn_device_set_name(const cn_device_set *s) { return s->name; }
const char *cn_device_set_image_kind(const cn_device_set *s) { return s->ik->name; }
const char *cn_device_set_tracking_kind(const cn_device_set *s)
{
    return s->tk ? s->tk->name : "none";
}
cn_xform_graph *cn_device_set_graph(cn_device_set *s) { return s->graph; }

static void *image_handle(const cn_device_set *s, const char *kind)
{
    return s && strcmp(s->ik->name, kind) == 0 ? s->image.handle : NULL;
}

struct cn_sim *cn_device_set_sim(const cn_device_set *s) { return image_handle(s, "sim"); }
struct cn_replay *cn_device_set_replay(const cn_device_set *s) { return image_handle(s, "replay"); }
struct cn_usb_device *cn_device_set_usb(const cn_device_set *s) { return image_handle(s, "usb"); }
struct cn_igtl_source *cn_device_set_igtl(const cn_device_set *s)
{
    if (!s)
        return NULL;
    if (s->tk && strcmp(s->tk->name, "igtl") == 0)
        return s->tracking.handle;
    return image_handle(s, "igtl");
}
