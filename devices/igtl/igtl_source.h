/*
 * igtl_source.h - OpenIGTLink client: tracking (and optionally imaging) from a
 * PlusServer-like server.
 *
 * The idea (PLUS's): one more device behind the common cn_device interface.
 * A background thread connects to the server, reconnects with exponential
 * backoff when the link drops, parses with the same bounds-checked parser as
 * the server (modules/igtl), and
 *   - puts every TRANSFORM into the transform graph under a name chosen by the
 *     config map (device name -> graph name, e.g. "StylusToTracker" ->
 *     "CryoprobeToTracker"); names not in the map pass through when they are
 *     of the AToB form, others are ignored;
 *   - when images are wanted, keeps the newest IMAGE; the device's read()
 *     hands it to the pipeline with the newest poses attached.
 */
#ifndef CN_IGTL_SOURCE_H
#define CN_IGTL_SOURCE_H

#include "igtl/igtl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_IGTL_MAP_MAX 16

typedef struct {
    char host[64];              /* IPv4 address, "127.0.0.1" */
    int port;                   /* 18944 */
    bool want_image;            /* true: read() yields frames from IMAGE messages */
    bool request_v2;            /* send a v2 STATUS on connect so a PlusServer answers
                                   with metadata (TransformStatus), as Slicer does */
    bool pass_unmapped;         /* AToB names not in the map go into the graph as is */
    int n_map;
    struct {
        char device[CN_XFORM_NAME_MAX];
        char name[CN_XFORM_NAME_MAX];
    } map[CN_IGTL_MAP_MAX];
    int64_t backoff_min_ns, backoff_max_ns;  /* 100 ms .. 5 s */
    cn_igtl_limits limits;
    cn_log *log;
} cn_igtl_source_opts;

void cn_igtl_source_opts_default(cn_igtl_source_opts *o);
/* Reads the object "igtl.source" of a session config: {"host", "port",
 * "image", "request_v2", "pass_unmapped", "map": {"DeviceName": "AToB", ...}}. */
int cn_igtl_source_opts_from_json(cn_igtl_source_opts *o, const cn_json *doc, char *err,
                                  size_t err_len);

typedef struct cn_igtl_source cn_igtl_source;

/* graph may be NULL (then only poses attached to frames and get_pose). */
cn_igtl_source *cn_igtl_source_new(const cn_igtl_source_opts *o, cn_xform_graph *graph);
void cn_igtl_source_free(cn_igtl_source *s);
/* Starts/stops the connection thread (the device's start/stop call these). */
int cn_igtl_source_start(cn_igtl_source *s);
void cn_igtl_source_stop(cn_igtl_source *s);
/* The pipeline device (name "igtl"). read() waits for the next IMAGE; without
 * want_image it returns CN_EUNSUPPORTED (use the source for tracking only). */
cn_device cn_igtl_source_device(cn_igtl_source *s);

/* The newest pose received under graph name `name`: CN_OK, or CN_ENOENT. */
int cn_igtl_source_get_pose(cn_igtl_source *s, const char *name, cn_mat4 *m, bool *valid,
                            int64_t *t_ns);

typedef struct {
    bool connected;
    uint64_t connects, disconnects;
    uint64_t transforms, images, ignored;
    char last_error[192];
} cn_igtl_source_stats;
void cn_igtl_source_get_stats(cn_igtl_source *s, cn_igtl_source_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_IGTL_SOURCE_H */
