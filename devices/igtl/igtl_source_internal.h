/* igtl_source_internal.h - shared between the files of devices/igtl only: the
 * source's state and the functions the connection thread calls. */
#ifndef CN_IGTL_SOURCE_INTERNAL_H
#define CN_IGTL_SOURCE_INTERNAL_H

#include "igtl/igtl_source.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#define MOD "igtl-source"
#define POSES_MAX 16

typedef struct {
    char name[CN_XFORM_NAME_MAX];
    cn_mat4 m;
    bool valid;
    int64_t t_ns;
} pose_slot;

typedef struct {
    uint8_t *px;
    size_t cap;
    int w, h;
    cn_mat4 ijk;               /* ijk -> frame mm */
    char frame[CN_FRAME_NAME_MAX];
    int64_t t_ns, wall_ns;
} image_slot;

/* Device names already reported (new or unusable): bounded so that a server
 * inventing names cannot grow the log or the memory. */
#define NAMES_NOTED_MAX 32
#define REFUSAL_KEY_MAX 160

struct cn_igtl_source {
    cn_igtl_source_opts o;
    cn_xform_graph *graph;
    pthread_t thread;
    bool running;
    atomic_bool stop, interrupted;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pose_slot poses[POSES_MAX];
    int n_poses;
    /* An IMAGE is held as pending until the burst it came in has been read
     * (the socket drained), then published as ready: a PlusServer sends a
     * frame's IMAGE before its TRANSFORMs, and the frame must not be handed out
     * before the poses of its own time are in the graph. */
    image_slot pending, ready;
    bool has_pending;           /* connection thread only */
    uint64_t img_seq, img_seq_read;
    cn_igtl_source_stats st;

    bool poses_full;            /* more names than POSES_MAX were sent (warned) */

    /* connection thread only */
    char noted[NAMES_NOTED_MAX][CN_IGTL_TYPE_SIZE + 1 + CN_XFORM_NAME_MAX]; /* "TYPE name" */
    int n_noted;
    bool noted_full;
    char refused[NAMES_NOTED_MAX][REFUSAL_KEY_MAX];  /* "TYPE name reason" logged */
    int n_refused;
    bool refused_full;
    /* the sender's clock against ours: the smallest lag (our wall - its stamp) seen
     * on this link, and when (cn__igtl_src_to_mono) */
    bool lag_known;
    int64_t lag_min_ns, lag_min_at_ns;
};

/* igtl_source_recv.c: what arrives (connection thread), and the link's end. */
void cn__igtl_src_set_error(cn_igtl_source *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cn__igtl_src_count_ignored(cn_igtl_source *s);
void cn__igtl_src_count(cn_igtl_source *s, uint64_t *counter);
/* Header timestamp -> our monotonic clock: its age counted from the freshest
 * message of this link (connection thread; a new link starts afresh). */
int64_t cn__igtl_src_to_mono(cn_igtl_source *s, uint64_t ts);
/* One pose of a `type` message from device (or element) name `dev`: mapped or
 * passed through as AToB (else one warning with the map entry to add), logged
 * once, put into the graph and its slot. false when it was not used. */
bool cn__igtl_src_put_pose(cn_igtl_source *s, const char *type, const char *dev,
                           const cn_mat4 *mat, bool valid, int64_t t);
/* A malformed or unusable message (or one element of it): counted in st.refused,
 * one warning per type, device, element and reason (igtl_source_recv.c). */
void cn__igtl_src_refuse(cn_igtl_source *s, const char *type, const char *dev,
                         const char *element, const char *why);
void cn__igtl_src_on_transform(cn_igtl_source *s, const cn_igtl_message *m);
void cn__igtl_src_on_image(cn_igtl_source *s, const cn_igtl_message *m);
void cn__igtl_src_publish_image(cn_igtl_source *s);
void cn__igtl_src_invalidate_poses(cn_igtl_source *s);

/* igtl_source_track.c: POSITION, TDATA, QTDATA, and the stream requests. */
void cn__igtl_src_on_position(cn_igtl_source *s, const cn_igtl_message *m);
void cn__igtl_src_on_tracking_data(cn_igtl_source *s, const cn_igtl_message *m,
                                   bool quaternion);
/* Appends STT_TDATA / STT_QTDATA (start) or STP_ (stop) for what the options
 * request; nothing when they request nothing. */
int cn__igtl_src_stream_requests(const cn_igtl_source *s, bool start, cn_igtl_buf *b);

/* host (dotted quad or name) -> IPv4 address: CN_OK, CN_ENOENT, CN_EINVAL. */
int cn_igtl_resolve_ipv4(const char *host, struct in_addr *out);

#endif
