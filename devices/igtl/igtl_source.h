/*
 * igtl_source.h - OpenIGTLink client: tracking (and optionally imaging) from a
 * PlusServer, 3D Slicer or any OpenIGTLink server.
 *
 * The idea (PLUS's): one more device behind the common cn_device interface,
 * playing either role of devices/registry:
 *   - tracking device (want_image false, the default): poses only. Every
 *     TRANSFORM goes into the transform graph under a name chosen by the config
 *     map (device name -> graph name, e.g. "StylusToReference" ->
 *     "CryoprobeToReference"); names not in the map pass through when they are
 *     of the AToB form; others are ignored with one warning per name that says
 *     how to map them. POSITION (named by its device name) and every element
 *     of TDATA and QTDATA (named by the element's name, e.g. "Stylus") are
 *     poses too, through the same map and rules; a malformed one is refused
 *     with one log line and the link and the other elements stay. Servers that
 *     stream TDATA / QTDATA only on request get STT_TDATA / STT_QTDATA after
 *     each connect (request_tdata / request_qtdata) and STP_ on close. The
 *     registry merges the graph into each image frame.
 *   - image device (want_image true): IMAGE messages become frames; the image's
 *     own placement (PLUS's Image_<Frame> -> ImageTo<Frame>) is attached to the
 *     frame and, with the transforms, put into the graph, so ImageToProbe can be
 *     derived from it. A server that sends only transforms is named in a warning
 *     after no_image_warn_ns instead of leaving the session silently empty.
 * A background thread connects (IPv4 address or host name), reconnects with
 * exponential backoff when the link drops (each failure streak is logged once),
 * and parses with the same bounds-checked parser as the server (modules/igtl);
 * message types it does not use are skipped without dropping the link.
 */
#ifndef CN_IGTL_SOURCE_H
#define CN_IGTL_SOURCE_H

#include "igtl/igtl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_IGTL_MAP_MAX 16
/* The PlusServer's port in the shipped config: 18944 is CryoNav's own server. */
#define CN_IGTL_SOURCE_DEFAULT_PORT 18945

typedef struct {
    char host[64];              /* IPv4 address or host name, "127.0.0.1" */
    int port;                   /* CN_IGTL_SOURCE_DEFAULT_PORT */
    bool want_image;            /* true: read() yields frames from IMAGE messages */
    bool image_set;             /* the config said "image" (the registry checks it
                                   against the role it opens the source for) */
    bool request_v2;            /* send a v2 STATUS on connect so a PlusServer answers
                                   with metadata (TransformStatus), as Slicer does */
    bool pass_unmapped;         /* AToB names not in the map go into the graph as is */
    bool request_tdata;         /* send STT_TDATA on connect, STP_TDATA on close */
    bool request_qtdata;        /* send STT_QTDATA on connect, STP_QTDATA on close */
    int resolution_ms;          /* the STT_ resolution: ms between two messages the
                                   server may send (20; 0 = as fast as it can) */
    int64_t hold_ns;            /* how long a pose stays usable after its last sample
                                   (the graph's hold, 200 ms); 0 = until the link
                                   drops: Slicer sends a transform only when it
                                   changes, a PlusServer with every frame */
    int n_map;
    struct {
        char device[CN_XFORM_NAME_MAX];
        char name[CN_XFORM_NAME_MAX];
    } map[CN_IGTL_MAP_MAX];
    int64_t backoff_min_ns, backoff_max_ns;  /* 100 ms .. 1 s */
    int64_t no_image_warn_ns;   /* want_image: warn when connected this long without
                                   an IMAGE (3 s; 0 = never) */
    cn_igtl_limits limits;
    cn_log *log;
} cn_igtl_source_opts;

void cn_igtl_source_opts_default(cn_igtl_source_opts *o);
/* Reads the object "igtl.source" of a session config: {"host", "port",
 * "image", "request_v2", "pass_unmapped", "hold_ms", "request_tdata", "request_qtdata",
 * "resolution_ms", "map": {"DeviceName": "AToB", ...}}. */
int cn_igtl_source_opts_from_json(cn_igtl_source_opts *o, const cn_json *doc, char *err,
                                  size_t err_len);

typedef struct cn_igtl_source cn_igtl_source;

/* Refuses (CN_EINVAL, message in err) a host that does not resolve to an IPv4
 * address, and a target that is CryoNav's own server listening on
 * listen_addr:listen_port (same resolved address and port, or a wildcard
 * listener and a local target); listen_port <= 0 means no server. */
int cn_igtl_source_check_target(const cn_igtl_source_opts *o, const char *listen_addr,
                                int listen_port, char *err, size_t err_len);

/* graph may be NULL: then read() attaches the newest pose of every name to the
 * frame as received (no interpolation, no name resolution). With a graph, the
 * source sets the graph's hold from hold_ns, and when the link drops it marks
 * every pose it delivered invalid at once (a dead link is lost tracking). */
cn_igtl_source *cn_igtl_source_new(const cn_igtl_source_opts *o, cn_xform_graph *graph);
void cn_igtl_source_free(cn_igtl_source *s);
/* Starts/stops the connection thread (the device's start/stop call these). */
int cn_igtl_source_start(cn_igtl_source *s);
void cn_igtl_source_stop(cn_igtl_source *s);
/* The device (name "igtl"): start/stop run the connection thread, release frees
 * the source. With want_image, read() waits for the next IMAGE; without it the
 * device has no read (a tracking device: poses go into the graph). */
cn_device cn_igtl_source_device(cn_igtl_source *s);

/* The newest pose received under graph name `name`: CN_OK, or CN_ENOENT. */
int cn_igtl_source_get_pose(cn_igtl_source *s, const char *name, cn_mat4 *m, bool *valid,
                            int64_t *t_ns);

typedef struct {
    bool connected;
    uint64_t connects, disconnects;
    uint64_t transforms, images;
    uint64_t positions, tdata, qtdata; /* messages of which at least one pose was used */
    uint64_t ignored;           /* messages skipped: unused types, unmapped names,
                                   images not wanted or not 8-bit 2-D, tracking
                                   messages of which no pose could be used */
    uint64_t refused;           /* malformed poses: POSITION bodies, TDATA / QTDATA
                                   bodies or single elements (logged once per
                                   type, name and reason) */
    char last_error[192];
} cn_igtl_source_stats;
void cn_igtl_source_get_stats(cn_igtl_source *s, cn_igtl_source_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_IGTL_SOURCE_H */
