/*
 * igtl_priv.h - server internals shared by igtl_server.c (sockets, the loop,
 * starvation guards), igtl_queue.c (packets and per-client rings),
 * igtl_frame_pack.c (frame -> messages) and igtl_inbound.c (what clients send).
 *
 * Threading: everything below "server thread only" is touched by the one
 * server thread; `mu` guards the hand-over slot written by consume(), the event
 * ring, the kick list and the stats snapshot. The server thread never holds
 * `mu` while calling into the proctor hub (the hub may call kick, which takes
 * `mu`).
 */
#ifndef CN_IGTL_PRIV_H
#define CN_IGTL_PRIV_H

#include "igtl/igtl.h"

#include <pthread.h>
#include <stdatomic.h>

/* A packet: one or more complete messages, shared by reference between the
 * queues of every client that must send it. A slice packet holds no bytes of
 * its own: it sends [slice_off, slice_off + slice_len) of its parent (a frame
 * packet) and keeps the parent alive, so a GET_IMAGE reply costs a few bytes,
 * not a copy of the image. Refcounted on the server thread only, so plain ints
 * suffice. */
typedef struct cn_igtl_packet {
    struct cn_igtl_packet *next_free;
    int refs;
    bool droppable;        /* frame packets may be dropped for a slow client */
    bool is_frame;
    bool is_surface;       /* surfaces: a newer one replaces a queued older one */
    bool is_get;           /* a GET_ reply: a newer one with the same key replaces it */
    char get_key[40];
    uint64_t seq;
    int64_t t_handoff_ns;  /* when consume() handed the frame over (monotonic) */
    struct cn_igtl_packet *parent;
    size_t slice_off, slice_len;
    cn_igtl_buf buf;
} cn_igtl_packet;

static inline const uint8_t *cn__igtl_pkt_data(const cn_igtl_packet *p)
{
    return p->parent ? p->parent->buf.data + p->slice_off : p->buf.data;
}

static inline size_t cn__igtl_pkt_len(const cn_igtl_packet *p)
{
    return p->parent ? p->slice_len : p->buf.len;
}

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
    int64_t t_connect_ns;
    int64_t t_progress_ns;  /* last write progress, or when data started waiting */
    int64_t t_msg_start_ns; /* first byte of the inbound message in progress, 0 = none */
    int64_t t_active_ns;    /* last complete inbound message or write progress */
    /* GET_<type> asked when no frame of the client's header version was packed since the
     * newest frame: answered from the next frame packed (cn__igtl_answer_get); four kinds
     * wait (before, one: a GET_IMAGE then a GET_TRANS left the image unanswered) */
    bool said_subvolume;  /* "an IMAGE sub-volume update is ignored" logged */
    int n_get_pending;    /* at most 4, one per type and device */
    struct {
        char type[13], device[21];
    } get_pending[4];
    cn_igtl_client_stats st;   /* st.id is the hub's client id */
} cn_igtl_client;

#define CN_IGTL_EVENTS_MAX 32
/* one event line as a client gets it: "<source> <the recorded text>" */
#define CN_IGTL_EVENT_TEXT_MAX (CN_EVENT_TEXT_MAX + 64)
#define CN_IGTL_KICKS_MAX 64

struct cn_igtl_server {
    cn_igtl_server_opts o;
    cn_proctor_hub *hub;
    bool own_hub;
    int listen_fd, wake_fd, port;
    pthread_t thread;
    bool thread_started, stopped;
    atomic_bool stop;

    pthread_mutex_t mu;
    pthread_cond_t idle_cv;    /* signalled when no frame is held */
    bool holding;              /* the server thread is packing a frame */
    cn_frame *pending;
    int64_t pending_t_ns;
    char events[CN_IGTL_EVENTS_MAX][CN_IGTL_EVENT_TEXT_MAX];
    int ev_head, ev_n;
    uint64_t kicks[CN_IGTL_KICKS_MAX];   /* clients the hub asked to close */
    int n_kicks;
    cn_igtl_server_stats st;
    cn_igtl_client_stats *snap;
    int n_snap;

    /* ---- server thread only */
    cn_igtl_client_stats *snap_work;
    cn_igtl_client **clients;
    int n_clients;
    cn_igtl_packet *free_list;
    int n_free;
    cn_igtl_packet *last[3];   /* newest frame packet per header version, for GET_ */
    uint64_t newest_seq;       /* the newest frame packed, any version */
    bool packed_any;
    uint32_t msg_id;
    bool have_prev;            /* guidance state of the previous frame, for events */
    cn_guidance_state prev;
    cn_stats *lat_ms;          /* acquisition -> packed (ms) */
    cn_stats *pack_ms;
    int64_t last_latency_report_ns;
    bool report_latency;       /* this frame carries the CryoNavLatency STRING */
    char scene_ref[CN_FRAME_NAME_MAX];
    /* The last valid matrix of each transform, by the name it is sent under: an INVALID
     * pose goes out with it and TransformStatus=INVALID (before, an identity, which
     * Slicer applies: the needle jumped to the reference's origin; review 43a F1); one
     * never valid is not sent. Kept on every frame, with or without clients. */
    struct {
        char name[CN_XFORM_NAME_MAX];
        cn_mat4 m;
    } last_pose[CN_POSES_MAX * 2];
    int n_last_pose;
};

static inline cn_igtl_packet *cn__igtl_q_at(cn_igtl_client *c, int i)
{
    return c->q[(c->q_head + i) % c->q_cap];
}

/* igtl_server.c: wakes the server thread. */
void cn__igtl_wake(cn_igtl_server *s);

/* igtl_guard.c: drops slow senders, stalled readers and kicked clients (marks
 * them dead); the index of the client a new connection replaces when the server
 * is full, -1 when every client is a proctor. Server thread only. */
void cn__igtl_enforce(cn_igtl_server *s, int64_t now_ns);
int cn__igtl_pick_victim(cn_igtl_server *s, int64_t now_ns);

/* The STRINGs the server itself sends, by device name: one list, so an echo of any of them
 * (a Slicer connector with the text node among its outgoing nodes) is known as one
 * (igtl_inbound.c) wherever the server sends it. */
#define CN_IGTL_STR_LOGIN_REPLY "ProctorLoginReply"
#define CN_IGTL_STR_EVENT "CryoNavEvent"
#define CN_IGTL_STR_LATENCY "CryoNavLatency"
#define CN_IGTL_STR_NERVE_STATE "NerveState"
#define CN_IGTL_STR_ZONE_STATE "ZoneState"
#define CN_IGTL_OWN_STRINGS                                                                  \
    {CN_IGTL_STR_LOGIN_REPLY, CN_IGTL_STR_EVENT, CN_IGTL_STR_LATENCY, CN_IGTL_STR_NERVE_STATE, \
     CN_IGTL_STR_ZONE_STATE, NULL}

/* igtl_frame_pack.c: keeps the frame's valid transforms as the last valid ones (a frame
 * not packed: no client). */
void cn__igtl_remember_poses(cn_igtl_server *s, const cn_frame *f);

/* igtl_queue.c */
cn_igtl_packet *cn__igtl_packet_get(cn_igtl_server *s);
void cn__igtl_packet_unref(cn_igtl_server *s, cn_igtl_packet *p);
/* Queues p for c (takes a new reference); frame packets drop the oldest frame
 * beyond queue_frames; GET_ replies and surfaces replace a queued older one of
 * the same kind; a reply beyond CN_IGTL_REPLY_SLOTS kills the client. */
void cn__igtl_enqueue(cn_igtl_server *s, cn_igtl_client *c, cn_igtl_packet *p);
void cn__igtl_kill(cn_igtl_server *s, cn_igtl_client *c, const char *why);
/* Packs a frame for the header versions in use, queues it, unrefs f. */
void cn__igtl_process_frame(cn_igtl_server *s, cn_frame *f, int64_t t_handoff_ns);
void cn__igtl_broadcast_events(cn_igtl_server *s);
void cn__igtl_send_surfaces(cn_igtl_server *s);
/* Bytes of memory the client's queue pins, each shared buffer once. */
size_t cn__igtl_pinned_bytes(cn_igtl_client *c);

/* igtl_frame_pack.c: appends every message for frame f in header version v. */
int cn__igtl_pack_frame(cn_igtl_server *s, const cn_frame *f, int version, cn_igtl_buf *b);
/* Guidance changes between frames -> event texts (at most max). */
/* igtl_server.c: writes what the client's socket takes now, without blocking (a
 * reply due before the connection closes). */
void cn__igtl_flush(cn_igtl_server *s, cn_igtl_client *c);
int cn__igtl_frame_events(cn_igtl_server *s, const cn_frame *f,
                          char (*out)[CN_IGTL_EVENT_TEXT_MAX], int max);
/* A one-message packet (STRING) in the client's header version. */
cn_igtl_packet *cn__igtl_string_packet(cn_igtl_server *s, int version, const char *device,
                                       const char *text);

/* igtl_inbound.c: one complete message from client c. */
void cn__igtl_handle_message(cn_igtl_server *s, cn_igtl_client *c, const cn_igtl_message *m);
/* Tells a client's parser to stream the types handle_message only checks (IMAGE,
 * POLYDATA) instead of buffering their bodies. */
int cn__igtl_stream_unused(cn_igtl_parser *p);
/* Answers GET_<type> (device: one message of that name, when there is one) from the newest
 * frame packed for c's header version; when none is (the version had no client, or none
 * was packed yet) the question waits for the next frame (c->get_pending). */
void cn__igtl_answer_get(cn_igtl_server *s, cn_igtl_client *c, const char *type,
                         const char *device);

#endif
