/*
 * registry.h - one registry of device kinds, and the device set a session reads.
 *
 * The idea (PLUS's device set): every source of images or poses is a *kind* with
 * a name, the roles it can play (images, poses) and one open function that reads
 * its own part of the session config. Every opened device has the same life
 * cycle, the cn_device one: open -> start -> (read) -> stop -> release.
 *
 * A session chooses two roles independently:
 *   image device     "source":   auto | sim | usb | replay | igtl  (default auto: usb
 *                                when a usable probe is plugged in, else sim)
 *   tracking device  "tracking": none | igtl | sim             (default none)
 * and gets back ONE cn_device: the image device's frames with the tracking
 * device's poses merged in. A tracking device writes timed poses into a
 * transform graph (cn_xform_graph) on its own thread; for each frame the set
 * asks the graph for ProbeToTracker, CryoprobeToTracker and ReferenceToTracker
 * at the frame's acquisition time (interpolated between the bracketing tracker
 * samples), so every consumer sees the poses it always saw, whatever produced
 * them. "none" keeps the poses the image device brings itself (the simulator's
 * tracker, a recording's poses, or, for an OpenIGTLink image source, the
 * transforms of the same connection, resolved through the graph like a
 * tracking device's). Choosing the same kind for both roles means "none".
 *
 * Adding a kind is one open function in kinds.c and one line in its table.
 */
#ifndef CN_REGISTRY_H
#define CN_REGISTRY_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CN_DEVICE_IMAGES = 1u << 0, CN_DEVICE_POSES = 1u << 1 } cn_device_role;

/* What a kind may need besides its own config object: the command line's
 * overrides and where CryoNav's own OpenIGTLink server will listen. */
typedef struct {
    const cn_json *cfg;         /* the session config; NULL = every default */
    cn_log *log;
    char config_dir[512];       /* folder of the catalogues (probes/up20l.json) */
    bool realtime;              /* pace the simulator / replay at their own clock */
    bool loop;
    /* a window shows the session (no frame limit, not offline): the simulator's
     * scenario loops (a demo), a replay holds its last frame at the end */
    bool windowed;
    uint64_t max_frames;        /* simulator: 0 = until the scenario ends */
    double time_scale;          /* simulator: > 0 overrides sim.time_scale */
    long seed;                  /* simulator: >= 0 overrides sim.seed */
    char protocol[64];          /* simulator: "" = from the config */
    /* simulator: resolves a --protocol name into the simulator's cycles (the app
     * passes the thermal catalogue's, the one set of protocol names); NULL = the
     * simulator's own presets. sim_config is a cn_sim_config *. */
    int (*sim_protocol)(void *user, void *sim_config, const char *name, char *err,
                        size_t err_len);
    void *sim_protocol_user;
    char replay_path[512];      /* replay: "" = config replay.file */
    double replay_speed;        /* replay: 1 = recorded timing */
    double usb_wait_s;          /* usb: >= 0 overrides usb.wait_s (how long the start waits
                                   for a probe); < 0: the config's */
    char listen_addr[64];       /* our own server (the OpenIGTLink client must not */
    int listen_port;            /* connect to it); port <= 0: no server */
} cn_device_env;

void cn_device_env_default(cn_device_env *e);

/* What a kind's open gives back. */
typedef struct {
    cn_device dev;              /* read only for the images role */
    void *handle;               /* the kind's own object, for its controls */
} cn_device_opened;

typedef struct {
    const char *name;           /* "sim", "usb", "replay", "igtl" */
    unsigned roles;             /* CN_DEVICE_IMAGES | CN_DEVICE_POSES */
    const char *what;           /* one line for messages and help */
    bool poses_with_images;     /* as the image device it writes the transforms that
                                   come with its images into the graph (OpenIGTLink):
                                   the set then merges them like a tracking device's */
    /* Opens the kind for one role. graph: where a poses-role device writes
     * (always given for CN_DEVICE_POSES; for CN_DEVICE_IMAGES a device that
     * receives poses with its images may write there). err names the config key
     * or option at fault. */
    int (*open)(const cn_device_env *env, cn_device_role role, cn_xform_graph *graph,
                cn_device_opened *out, char *err, size_t err_len);
} cn_device_kind;

/* "auto" as the image source: "usb" when a usable UP20L is plugged in, else "sim"
 * (the README's first command: the simulator when no probe is plugged in). why
 * says which and, for a probe that is attached but not usable, why not; *warn is
 * set then (the user plugged a probe in and gets the simulator). */
const char *cn_device_auto_source(const cn_device_env *env, char *why, size_t why_len, bool *warn);

/* The registry: kinds in a fixed order; NULL past the end / for unknown names. */
const cn_device_kind *cn_device_kind_at(int i);
const cn_device_kind *cn_device_kind_find(const char *name);

typedef struct cn_device_set cn_device_set;

/* Opens the image and tracking devices. image / tracking: a kind name from the
 * command line, or NULL / "" to read the config's "source" / "tracking".
 * Errors (unknown kind, a kind that cannot play the role, bad config, an
 * OpenIGTLink client aimed at our own server) fill err and return < 0. */
int cn_device_set_open(const cn_device_env *env, const char *image, const char *tracking,
                       cn_device_set **out, char *err, size_t err_len);
/* Stops (if still running) and releases both devices. After the pipeline stopped. */
void cn_device_set_free(cn_device_set *set);
/* The device the pipeline reads: start starts the tracking device first, then
 * the image device; read merges the poses; stop stops both; its release is
 * cn_device_set_free. */
cn_device cn_device_set_device(cn_device_set *set);
/* "sim", "usb+igtl", ... (image kind, then "+tracking kind" when there is one). */
const char *cn_device_set_name(const cn_device_set *set);
const char *cn_device_set_image_kind(const cn_device_set *set);
const char *cn_device_set_tracking_kind(const cn_device_set *set); /* "none" */
/* The graph poses are merged from (NULL when the image device brings its own). */
cn_xform_graph *cn_device_set_graph(cn_device_set *set);

/* Typed access to a device's own controls; NULL when that kind is not the image
 * device (the simulator: truth, time scale; replay: pause, seek) or not open at
 * all (usb: levels, freeze; igtl: statistics, either role). */
struct cn_sim *cn_device_set_sim(const cn_device_set *set);
struct cn_replay *cn_device_set_replay(const cn_device_set *set);
struct cn_usb_device *cn_device_set_usb(const cn_device_set *set);
struct cn_igtl_source *cn_device_set_igtl(const cn_device_set *set);

/* ------------------------------------------------------------------ the merge rule */

/* What cn_device_merge_poses found (bits). */
enum {
    CN_MERGE_REFERENCE_AS_TRACKER = 1u << 0, /* no Tracker frame known: the Reference
                                               stood in for it (ReferenceToTracker = I) */
    CN_MERGE_UNLINKED = 1u << 1,  /* a tool known only relative to a Reference that is
                                     not linked to the Tracker: left out */
    CN_MERGE_LOST = 1u << 2,      /* a known tool had no valid sample near t (invalid pose) */
};

/* Replaces f's ProbeToTracker, CryoprobeToTracker and ReferenceToTracker by the
 * graph's answers at t_ns (valid: interpolated pose; tool known but lost or stale
 * by more than the graph's hold: present with valid = false; unknown: absent),
 * and adds ImageToProbe from the graph when f has none. Tools are resolved to
 * the Tracker through any chain of edges (StylusToReference + ReferenceToTracker
 * give CryoprobeToTracker when the map names the stylus Cryoprobe). When the
 * graph knows no Tracker frame at all - a PlusServer sending everything
 * relative to Reference (ProbeToReference, CryoprobeToReference) - the Reference
 * is taken as the tracker: XToTracker = XToReference and ReferenceToTracker =
 * identity, so the scene is exactly the server's Reference scene. Returns the
 * CN_MERGE_* bits. */
unsigned cn_device_merge_poses(const cn_xform_graph *g, int64_t t_ns, cn_frame *f);

#ifdef __cplusplus
}
#endif
#endif /* CN_REGISTRY_H */
