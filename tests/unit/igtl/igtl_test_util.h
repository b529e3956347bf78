/* igtl_test_util.h - helpers shared by the OpenIGTLink tests: a blocking
 * loopback client that collects messages with our parser, and synthetic
 * analysed frames with known poses, pixels and curves. Header-only (static). */
#ifndef CN_IGTL_TEST_UTIL_H
#define CN_IGTL_TEST_UTIL_H

#include "igtl/igtl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int tu_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int tu_send_all(int fd, const void *d, size_t n)
{
    const uint8_t *p = d;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One received message, copied out of the parser. */
typedef struct {
    cn_igtl_header h;
    char name[64];
    uint8_t *content;
    size_t content_len;
    char status[16];   /* TransformStatus metadata, "" when absent */
    char meta_status[16];   /* Status metadata (RTS_COMMAND), "" when absent */
    char meta_frame[24];    /* Frame metadata, "" when absent */
    char meta_nerve[16];    /* NerveState metadata, "" when absent */
    char meta_nerve_conf[16]; /* NerveConfidence metadata, "" when absent */
    char meta_anchor[24];     /* ZoneAnchor metadata, "" when absent */
    char meta_anchor_conf[16]; /* ZoneAnchorConfidence metadata, "" when absent */
    uint32_t msg_id;        /* v2 message id */
    int64_t t_recv_wall_ns;
} tu_msg;

typedef struct {
    int fd;
    cn_igtl_parser *p;
    tu_msg *msgs;
    int n, cap;
    bool closed;
} tu_client;

static inline void tu_client_init(tu_client *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    cn_igtl_limits l;
    cn_igtl_limits_default(&l);
    l.max_body_small = 1 << 20;
    c->p = cn_igtl_parser_new(&l);
}

static inline void tu_client_clear(tu_client *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->msgs[i].content);
    c->n = 0;
}

static inline void tu_client_free(tu_client *c)
{
    tu_client_clear(c);
    free(c->msgs);
    cn_igtl_parser_free(c->p);
    if (c->fd >= 0)
        close(c->fd);
}

/* Reads for up to timeout_ms (or until a message of `type`/`name` arrives when
 * given). Returns the number of messages now held, -1 on a parse error. */
static inline int tu_read(tu_client *c, int timeout_ms, const char *type, const char *name)
{
    int64_t end = cn_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    uint8_t buf[65536];
    for (;;) {
        if (type)
            for (int i = 0; i < c->n; i++)
                if (strcmp(c->msgs[i].h.type, type) == 0 &&
                    (!name || strcmp(c->msgs[i].name, name) == 0))
                    return c->n;
        int64_t left = (end - cn_clock_mono_ns()) / 1000000;
        if (left <= 0 || c->closed)
            return c->n;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r <= 0) {
            c->closed = true;
            continue;
        }
        size_t off = 0;
        for (;;) {
            cn_igtl_message m;
            size_t used;
            int k = cn_igtl_parser_feed(c->p, buf + off, (size_t)r - off, &used, &m);
            off += used;
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 64;
                c->msgs = realloc(c->msgs, (size_t)c->cap * sizeof *c->msgs);
            }
            tu_msg *t = &c->msgs[c->n++];
            memset(t, 0, sizeof *t);
            t->h = m.h;
            cn_igtl_message_name(&m, t->name, sizeof t->name);
            t->content = malloc(m.content_len + 1);
            memcpy(t->content, m.content, m.content_len);
            t->content[m.content_len] = 0;
            t->content_len = m.content_len;
            if (cn_igtl_message_meta(&m, "TransformStatus", t->status, sizeof t->status) != 0)
                t->status[0] = 0;
            if (cn_igtl_message_meta(&m, "Status", t->meta_status, sizeof t->meta_status) != 0)
                t->meta_status[0] = 0;
            if (cn_igtl_message_meta(&m, "Frame", t->meta_frame, sizeof t->meta_frame) != 0)
                t->meta_frame[0] = 0;
            if (cn_igtl_message_meta(&m, "NerveState", t->meta_nerve, sizeof t->meta_nerve) != 0)
                t->meta_nerve[0] = 0;
            if (cn_igtl_message_meta(&m, "NerveConfidence", t->meta_nerve_conf,
                                     sizeof t->meta_nerve_conf) != 0)
                t->meta_nerve_conf[0] = 0;
            if (cn_igtl_message_meta(&m, "ZoneAnchor", t->meta_anchor, sizeof t->meta_anchor) != 0)
                t->meta_anchor[0] = 0;
            if (cn_igtl_message_meta(&m, "ZoneAnchorConfidence", t->meta_anchor_conf,
                                     sizeof t->meta_anchor_conf) != 0)
                t->meta_anchor_conf[0] = 0;
            t->msg_id = m.msg_id;
            t->t_recv_wall_ns = cn_clock_wall_ns();
        }
    }
}

static inline tu_msg *tu_find(tu_client *c, const char *type, const char *name)
{
    for (int i = c->n - 1; i >= 0; i--)
        if (strcmp(c->msgs[i].h.type, type) == 0 && (!name || strcmp(c->msgs[i].name, name) == 0))
            return &c->msgs[i];
    return NULL;
}

/* A COMMAND message (v1 or v2 header) with id, name and XML text. */
static inline int tu_send_command(int fd, int version, const char *device, uint32_t id,
                                  const char *name, const char *text)
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_msg_begin(&b, &m, version, "COMMAND", device, cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), id);
    cn_igtl_put_command(&b, id, name, text);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    int r = tu_send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
    return r;
}

static inline int tu_send_string(int fd, int version, const char *device, const char *text)
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_msg_begin(&b, &m, version, "STRING", device, cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), 1);
    cn_igtl_put_string(&b, text);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    int r = tu_send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
    return r;
}

/* Known geometry: ImageToProbe (0.2 mm pixels), ProbeToTracker (rotation about
 * z by 30 degrees + translation), ReferenceToTracker (translation). */
static inline cn_mat4 tu_image_to_probe(void)
{
    cn_mat4 m = cn_mat4_scale(0.2, 0.2, 1.0);
    m.m[3] = -12.8;
    return m;
}

static inline cn_mat4 tu_probe_to_tracker(void)
{
    cn_mat4 r = cn_mat4_rotation_axis_angle((cn_vec3){0, 0, 1}, 0.5235987755982988);
    r.m[3] = 100;
    r.m[7] = 50;
    r.m[11] = -20;
    return r;
}

static inline cn_mat4 tu_ref_to_tracker(void)
{
    return cn_mat4_translation(10, 20, 30);
}

static inline void tu_fill_frame(cn_frame *f, int w, int h, uint64_t seq, cn_phase phase)
{
    cn_frame_set_size(f, w, h);
    for (int i = 0; i < w * h; i++)
        f->pixels[i] = (uint8_t)(i * 13 + seq);
    f->spacing_mm[0] = f->spacing_mm[1] = 0.2;
    f->transducer_px[0] = w / 2.0;
    f->transducer_px[1] = 0;
    f->seq = seq;
    f->t_acq_ns = cn_clock_mono_ns();
    f->wall_ns = cn_clock_wall_ns();
    cn_mat4 a = tu_image_to_probe(), b = tu_probe_to_tracker(), c = tu_ref_to_tracker();
    cn_mat4 d = cn_mat4_translation(5, 5, 5);
    cn_frame_set_pose(f, "ImageToProbe", &a, true);
    cn_frame_set_pose(f, "ProbeToTracker", &b, true);
    cn_frame_set_pose(f, "ReferenceToTracker", &c, true);
    cn_frame_set_pose(f, "CryoprobeToTracker", &d, true);
    f->analysed = true;
    cn_analysis *an = &f->analysis;
    an->n_iso = 2;
    an->iso[0].temp_c = 0;
    an->iso[1].temp_c = -20;
    for (int k = 0; k < 2; k++) {
        an->iso[k].n = 10;
        for (int i = 0; i < 10; i++)
            an->iso[k].pts_mm[i] = (cn_pt2){(float)(5 + i), (float)(8 + k + 0.5 * i)};
    }
    an->nerve.found = true;
    an->nerve.confidence = 0.87f;
    an->nerve.n = 8;
    for (int i = 0; i < 8; i++)
        an->nerve.pts_mm[i] = (cn_pt2){(float)(10 + 2 * (i % 3)), (float)(6 + i / 3)};
    an->guidance.phase = phase;
    an->guidance.cycle = phase == CN_PHASE_IDLE ? 0 : 1;
}

static inline bool tu_wait_clients(cn_igtl_server *s, int n, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 5; i++) {
        cn_igtl_server_stats st;
        if (cn_igtl_server_stats_get(s, &st, NULL, 0) == n)
            return true;
        cn_clock_sleep_ns(5000000);
    }
    return false;
}

static inline cn_igtl_server *tu_server(cn_igtl_server_opts *o)
{
    char err[256];
    cn_igtl_server *s = cn_igtl_server_start(o, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    return s;
}

#endif
