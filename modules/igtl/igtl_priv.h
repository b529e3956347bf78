/*
 * igtl_priv.h - server internals shared by igtl_server.c (sockets, queues),
 * igtl_frame_pack.c (frame -> messages) and igtl_inbound.c (what clients send).
 *
 * Threading: everything below "server thread only" is touched by the one
 * server thread; `mu` guards the hand-over slot written by consume(), the
 * event/annotation rings, the command table and the stats snapshot.
 */
#ifndef CN_IGTL_PRIV_H
#define CN_IGTL_PRIV_H

#include "igtl/igtl.h"

#include <pthread.h>
#include <stdatomic.h>

/* A packet: one or more complete messages, shared by reference between the
 * queues of every client that must send it. Refcounted on the server thread
 * only, so plain ints suffice. */
typedef struct cn_igtl_packet {
    struct cn_igtl_packet *next_free;
    int refs;
    bool droppable;        /* frame packets may be dropped for a slow client */
    bool is_frame;
    bool is_surface;       /* surfaces: a newer one replaces a queued older one */
    uint64_t seq;
    int64_t t_handoff_ns;  /* when consume() handed the frame over (monotonic) */
    cn_igtl_buf buf;
} cn_igtl_packet;

#define CN_IGTL_REPLY_SLOTS 32   /* non-droppable packets a client may have queued */

typedef struct {
    int fd;
    bool dead;
    char why[192];
    cn_igtl_parser *parser;
    cn_igtl_packet **q;   /* ring of queued packets */
    int q_cap, q_head, q_n;
    size_t off;           /* bytes of q[head] already written */
    cn_stats *lag;        /* ms, hand-over -> last byte written */
    uint64_t surf_version;/* surfaces version this client has been sent */
    cn_igtl_client_stats st;
} cn_igtl_client;

#define CN_IGTL_EVENTS_MAX 32
#define CN_IGTL_ANN_MAX 64
#define CN_IGTL_CMDS_MAX 8

struct cn_igtl_server {
    cn_igtl_server_opts o;
    int listen_fd, wake_fd, port;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;

    pthread_mutex_t mu;
    pthread_cond_t idle_cv;    /* signalled when no frame is held */
    bool holding;              /* the server thread is packing a frame */
    cn_frame *pending;
    int64_t pending_t_ns;
    char events[CN_IGTL_EVENTS_MAX][256];
    int ev_head, ev_n;
    cn_igtl_annotation ann[CN_IGTL_ANN_MAX];
    int ann_head, ann_n;
    struct {
        char name[64];
        cn_igtl_command_fn fn;
        void *user;
    } cmds[CN_IGTL_CMDS_MAX];
    int n_cmds;
    struct {
        char name[CN_IGTL_NAME_SIZE + 1];
        float *xyz;
        int *tri;
        int n_pts, n_tri;
    } surf[4];
    uint64_t surf_version;     /* bumped by every set_surface */
    cn_igtl_server_stats st;
    cn_igtl_client_stats *snap;
    int n_snap;

    /* ---- server thread only */
    cn_igtl_client_stats *snap_work;
    cn_igtl_client **clients;
    int n_clients;
    uint64_t next_id;
    cn_igtl_packet *free_list;
    int n_free;
    cn_igtl_packet *last[3];   /* newest frame packet per header version, for GET_ */
    uint32_t msg_id;
    bool have_prev;            /* guidance state of the previous frame, for events */
    cn_guidance_state prev;
    cn_stats *lat_ms;          /* acquisition -> packed (ms) */
    cn_stats *pack_ms;
    int64_t last_latency_report_ns;
    bool report_latency;       /* this frame carries the CryoNavLatency STRING */
    char scene_ref[CN_FRAME_NAME_MAX];
};

static inline cn_igtl_packet *cn__igtl_q_at(cn_igtl_client *c, int i)
{
    return c->q[(c->q_head + i) % c->q_cap];
}

/* igtl_server.c: wakes the server thread. */
void cn__igtl_wake(cn_igtl_server *s);

/* igtl_queue.c */
cn_igtl_packet *cn__igtl_packet_get(cn_igtl_server *s);
void cn__igtl_packet_unref(cn_igtl_server *s, cn_igtl_packet *p);
/* Queues p for c (takes a new reference); frame packets drop the oldest frame
 * beyond queue_frames; a reply beyond CN_IGTL_REPLY_SLOTS kills the client. */
void cn__igtl_enqueue(cn_igtl_server *s, cn_igtl_client *c, cn_igtl_packet *p);
void cn__igtl_kill(cn_igtl_server *s, cn_igtl_client *c, const char *why);
bool cn__igtl_is_proctor_name(const cn_igtl_server *s, const char *name);
/* Packs a frame for the header versions in use, queues it, unrefs f. */
void cn__igtl_process_frame(cn_igtl_server *s, cn_frame *f, int64_t t_handoff_ns);
void cn__igtl_broadcast_events(cn_igtl_server *s);
void cn__igtl_send_surfaces(cn_igtl_server *s);

/* igtl_frame_pack.c: appends every message for frame f in header version v. */
int cn__igtl_pack_frame(cn_igtl_server *s, const cn_frame *f, int version, cn_igtl_buf *b);
/* Guidance changes between frames -> event texts (at most max). */
int cn__igtl_frame_events(cn_igtl_server *s, const cn_frame *f, char (*out)[256], int max);
/* A one-message packet (STRING or STATUS) in the client's header version. */
cn_igtl_packet *cn__igtl_string_packet(cn_igtl_server *s, int version, const char *device,
                                       const char *text);

/* igtl_inbound.c: one complete message from client c. */
void cn__igtl_handle_message(cn_igtl_server *s, cn_igtl_client *c, const cn_igtl_message *m);

#endif
