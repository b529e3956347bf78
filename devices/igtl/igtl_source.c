/*
 * igtl_source.c - OpenIGTLink client device (see igtl_source.h for the idea).
 *
 * One thread owns the socket: connect (non-blocking, 1 s timeout), read with
 * poll() in 100 ms slices so stop() is honoured promptly, feed the shared
 * parser, and on any error or end of stream close, wait a backoff that doubles
 * from backoff_min to backoff_max, and try again. Received state (newest pose
 * per name, newest image) lives behind one mutex; read() waits on a condition
 * variable for an image newer than the last one it returned.
 */
#include "igtl/igtl_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MOD "igtl-source"
#define POSES_MAX 16

typedef struct {
    char name[CN_XFORM_NAME_MAX];
    cn_mat4 m;
    bool valid;
    int64_t t_ns;
} pose_slot;

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
    uint8_t *img;              /* newest image pixels */
    size_t img_cap;
    int img_w, img_h;
    cn_mat4 img_ijk;           /* ijk -> img_frame mm */
    char img_frame[CN_FRAME_NAME_MAX];
    int64_t img_t_ns, img_wall_ns;
    uint64_t img_seq, img_seq_read;
    cn_igtl_source_stats st;
};

void cn_igtl_source_opts_default(cn_igtl_source_opts *o)
{
    memset(o, 0, sizeof *o);
    cn_strlcpy(o->host, "127.0.0.1", sizeof o->host);
    o->port = CN_IGTL_DEFAULT_PORT;
    o->request_v2 = true;
    o->pass_unmapped = true;
    o->backoff_min_ns = 100000000;
    o->backoff_max_ns = 5000000000;
    cn_igtl_limits_default(&o->limits);
}

int cn_igtl_source_opts_from_json(cn_igtl_source_opts *o, const cn_json *doc, char *err,
                                  size_t err_len)
{
    if (!cn_json_has(doc, "igtl.source"))
        return CN_OK;
    static const char *const keys[] = {"host", "port", "image", "request_v2", "pass_unmapped",
                                       "map", NULL};
    int r = cn_json_check_keys(doc, "igtl.source", keys, err, err_len);
    if (r != CN_OK)
        return r;
    if ((r = cn_json_get_string(doc, "igtl.source.host", o->host, sizeof o->host, err,
                                err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    long port;
    if ((r = cn_json_get_int(doc, "igtl.source.port", 1, 65535, &port, err, err_len)) == CN_OK)
        o->port = (int)port;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.image", &o->want_image, err, err_len)) != CN_OK &&
        r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.request_v2", &o->request_v2, err, err_len)) !=
            CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.pass_unmapped", &o->pass_unmapped, err,
                              err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    /* "map": {"DeviceName": "AToB"}: walked with jansson's iterator through the
     * raw handle, each value read back through the typed getter for messages. */
    void *raw = cn_json_raw(doc, "igtl.source.map");
    if (raw) {
        if (!json_is_object((json_t *)raw)) {
            cn_json_error(doc, "igtl.source.map", err, err_len,
                          "expected an object {\"DeviceName\": \"AToB\", ...}");
            return CN_EINVAL;
        }
        o->n_map = 0;
        for (void *it = json_object_iter(raw); it; it = json_object_iter_next(raw, it)) {
            const char *k = json_object_iter_key(it);
            char path[160], val[CN_XFORM_NAME_MAX], a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
            snprintf(path, sizeof path, "igtl.source.map.%s", k);
            if (strlen(k) >= CN_XFORM_NAME_MAX || strchr(k, '.') || strchr(k, '[')) {
                cn_json_error(doc, "igtl.source.map", err, err_len,
                              "device name \"%.40s\" is too long or contains '.' or '['", k);
                return CN_EINVAL;
            }
            if ((r = cn_json_get_string(doc, path, val, sizeof val, err, err_len)) != CN_OK)
                return r == CN_ENOENT ? CN_EINVAL : r;
            if (cn_xform_name_split(val, a, b) != CN_OK) {
                cn_json_error(doc, path, err, err_len,
                              "\"%s\" is not a transform name of the form AToB", val);
                return CN_EINVAL;
            }
            if (o->n_map == CN_IGTL_MAP_MAX) {
                cn_json_error(doc, "igtl.source.map", err, err_len, "at most %d entries",
                              CN_IGTL_MAP_MAX);
                return CN_EINVAL;
            }
            cn_strlcpy(o->map[o->n_map].device, k, sizeof o->map[0].device);
            cn_strlcpy(o->map[o->n_map].name, val, sizeof o->map[0].name);
            o->n_map++;
        }
    }
    return CN_OK;
}

/* ------------------------------------------------------------------ state */

static const char *map_name(const cn_igtl_source *s, const char *device)
{
    for (int i = 0; i < s->o.n_map; i++)
        if (strcmp(s->o.map[i].device, device) == 0)
            return s->o.map[i].name;
    if (!s->o.pass_unmapped)
        return NULL;
    char a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
    return cn_xform_name_split(device, a, b) == CN_OK ? device : NULL;
}

/* Header timestamp (wall) -> monotonic time; receive time when implausible. */
static int64_t to_mono(uint64_t ts)
{
    int64_t now_m = cn_clock_mono_ns(), now_w = cn_clock_wall_ns();
    if (ts == 0)
        return now_m;
    int64_t age = now_w - cn_igtl_ts_to_wall_ns(ts);
    if (age < 0 || age > 10000000000LL)
        return now_m;
    return now_m - age;
}

static void set_error(cn_igtl_source *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(cn_igtl_source *s, const char *fmt, ...)
{
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->mu);
    cn_strlcpy(s->st.last_error, msg, sizeof s->st.last_error);
    pthread_mutex_unlock(&s->mu);
}

static void on_transform(cn_igtl_source *s, const cn_igtl_message *m)
{
    char dev[CN_XFORM_NAME_MAX], status[16];
    cn_igtl_message_name(m, dev, sizeof dev);
    const char *name = map_name(s, dev);
    cn_mat4 mat;
    if (!name || cn_igtl_decode_transform(m->content, m->content_len, &mat) != CN_OK) {
        pthread_mutex_lock(&s->mu);
        s->st.ignored++;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    bool valid = true;
    if (cn_igtl_message_meta(m, "TransformStatus", status, sizeof status) == CN_OK)
        valid = strcmp(status, "OK") == 0;
    int64_t t = to_mono(m->h.timestamp);
    if (s->graph)
        cn_xform_graph_set(s->graph, name, &mat, t, valid);
    pthread_mutex_lock(&s->mu);
    int i = 0;
    while (i < s->n_poses && strcmp(s->poses[i].name, name) != 0)
        i++;
    if (i == s->n_poses && s->n_poses < POSES_MAX)
        s->n_poses++;
    if (i < POSES_MAX) {
        cn_strlcpy(s->poses[i].name, name, sizeof s->poses[i].name);
        s->poses[i].m = mat;
        s->poses[i].valid = valid;
        s->poses[i].t_ns = t;
    }
    s->st.transforms++;
    pthread_mutex_unlock(&s->mu);
}

static void on_image(cn_igtl_source *s, const cn_igtl_message *m)
{
    cn_igtl_image_view v;
    if (!s->o.want_image || cn_igtl_decode_image(m->content, m->content_len, &v) != CN_OK ||
        v.scalar_type != 3 || v.components != 1 || v.size[2] != 1) {
        pthread_mutex_lock(&s->mu);
        s->st.ignored++;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    char dev[CN_XFORM_NAME_MAX];
    cn_igtl_message_name(m, dev, sizeof dev);
    /* PLUS names images <Name>_<Frame>: the part after the last '_' is the frame. */
    const char *us = strrchr(dev, '_');
    pthread_mutex_lock(&s->mu);
    if (v.pixel_bytes > s->img_cap) {
        uint8_t *n = realloc(s->img, v.pixel_bytes);
        if (!n) {
            pthread_mutex_unlock(&s->mu);
            return;
        }
        s->img = n;
        s->img_cap = v.pixel_bytes;
    }
    memcpy(s->img, v.pixels, v.pixel_bytes);
    s->img_w = v.size[0];
    s->img_h = v.size[1];
    s->img_ijk = cn_igtl_image_ijk_to_ref(&v);
    cn_strlcpy(s->img_frame, us && us[1] ? us + 1 : "Reference", sizeof s->img_frame);
    s->img_t_ns = to_mono(m->h.timestamp);
    s->img_wall_ns = m->h.timestamp ? cn_igtl_ts_to_wall_ns(m->h.timestamp) : cn_clock_wall_ns();
    s->img_seq++;
    s->st.images++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ connection */

static int connect_to(cn_igtl_source *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->o.port)};
    if (inet_pton(AF_INET, s->o.host, &a.sin_addr) != 1) {
        set_error(s, "host \"%s\" is not an IPv4 address", s->o.host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        set_error(s, "connect %s:%d: %s", s->o.host, s->o.port, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&p, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
        set_error(s, "connect %s:%d: %s", s->o.host, s->o.port, err ? strerror(err) : "timed out");
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const uint8_t *d, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                if (poll(&p, 1, 200) > 0)
                    continue;
            }
            return;
        }
        d += w;
        n -= (size_t)w;
    }
}

static void session(cn_igtl_source *s, int fd)
{
    if (s->o.request_v2) {
        /* A v2 STATUS with metadata: PlusServer then answers this client in v2. */
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        cn_igtl_msg msg;
        cn_igtl_meta meta = {"Client", "CryoNav"};
        if (cn_igtl_msg_begin(&b, &msg, 2, "STATUS", "CryoNav",
                              cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), 1) == CN_OK &&
            cn_igtl_put_status(&b, 1, 0, "OK", "CryoNav client") == CN_OK &&
            cn_igtl_msg_end(&b, &msg, &meta, 1) == CN_OK)
            send_all(fd, b.data, b.len);
        cn_igtl_buf_free(&b);
    }
    cn_igtl_parser *p = cn_igtl_parser_new(&s->o.limits);
    if (!p)
        return;
    uint8_t buf[65536];
    while (!atomic_load(&s->stop)) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, 100);
        if (r == 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            set_error(s, "server closed the connection");
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            set_error(s, "recv: %s", strerror(errno));
            break;
        }
        size_t off = 0;
        int pr = 0;
        while (off < (size_t)n || pr == 1) {
            size_t used;
            cn_igtl_message m;
            pr = cn_igtl_parser_feed(p, buf + off, (size_t)n - off, &used, &m);
            off += used;
            if (pr < 0)
                break;
            if (pr == 0)
                break;
            if (strcmp(m.h.type, "TRANSFORM") == 0)
                on_transform(s, &m);
            else if (strcmp(m.h.type, "IMAGE") == 0)
                on_image(s, &m);
            else {
                pthread_mutex_lock(&s->mu);
                s->st.ignored++;
                pthread_mutex_unlock(&s->mu);
            }
        }
        if (pr < 0) {
            set_error(s, "protocol error from %s:%d: %s", s->o.host, s->o.port,
                      cn_igtl_parser_error(p));
            cn_log_warn(s->o.log, MOD, "%s:%d: %s; reconnecting", s->o.host, s->o.port,
                        cn_igtl_parser_error(p));
            break;
        }
    }
    cn_igtl_parser_free(p);
}

static void *source_main(void *arg)
{
    cn_igtl_source *s = arg;
    int64_t backoff = s->o.backoff_min_ns;
    while (!atomic_load(&s->stop)) {
        int fd = connect_to(s);
        if (fd >= 0) {
            pthread_mutex_lock(&s->mu);
            s->st.connected = true;
            s->st.connects++;
            pthread_mutex_unlock(&s->mu);
            cn_log_info(s->o.log, MOD, "connected to %s:%d", s->o.host, s->o.port);
            backoff = s->o.backoff_min_ns;
            session(s, fd);
            close(fd);
            pthread_mutex_lock(&s->mu);
            s->st.connected = false;
            s->st.disconnects++;
            pthread_mutex_unlock(&s->mu);
        }
        /* Back off in slices so stop() is prompt. */
        for (int64_t waited = 0; waited < backoff && !atomic_load(&s->stop); waited += 20000000)
            cn_clock_sleep_ns(20000000);
        backoff = backoff * 2 > s->o.backoff_max_ns ? s->o.backoff_max_ns : backoff * 2;
    }
    return NULL;
}

/* ------------------------------------------------------------------ public */

cn_igtl_source *cn_igtl_source_new(const cn_igtl_source_opts *o, cn_xform_graph *graph)
{
    if (!o || o->port < 1 || o->port > 65535 || o->backoff_min_ns <= 0 ||
        o->backoff_max_ns < o->backoff_min_ns)
        return NULL;
    cn_igtl_source *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->o = *o;
    s->graph = graph;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

int cn_igtl_source_start(cn_igtl_source *s)
{
    if (!s)
        return CN_EINVAL;
    if (s->running)
        return CN_OK;
    atomic_store(&s->stop, false);
    atomic_store(&s->interrupted, false);
    if (pthread_create(&s->thread, NULL, source_main, s) != 0)
        return CN_EIO;
    s->running = true;
    return CN_OK;
}

void cn_igtl_source_stop(cn_igtl_source *s)
{
    if (!s || !s->running)
        return;
    atomic_store(&s->stop, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->running = false;
}

void cn_igtl_source_free(cn_igtl_source *s)
{
    if (!s)
        return;
    cn_igtl_source_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->img);
    free(s);
}

int cn_igtl_source_get_pose(cn_igtl_source *s, const char *name, cn_mat4 *m, bool *valid,
                            int64_t *t_ns)
{
    int r = CN_ENOENT;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_poses; i++)
        if (strcmp(s->poses[i].name, name) == 0) {
            if (m)
                *m = s->poses[i].m;
            if (valid)
                *valid = s->poses[i].valid;
            if (t_ns)
                *t_ns = s->poses[i].t_ns;
            r = CN_OK;
        }
    pthread_mutex_unlock(&s->mu);
    return r;
}

void cn_igtl_source_get_stats(cn_igtl_source *s, cn_igtl_source_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

static int dev_start(void *self)
{
    return cn_igtl_source_start(self);
}

static void dev_stop(void *self)
{
    cn_igtl_source_stop(self);
}

static void dev_interrupt(void *self)
{
    cn_igtl_source *s = self;
    atomic_store(&s->interrupted, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int dev_read(void *self, cn_frame *f)
{
    cn_igtl_source *s = self;
    if (!s->o.want_image)
        return CN_EUNSUPPORTED;
    pthread_mutex_lock(&s->mu);
    while (s->img_seq == s->img_seq_read && !atomic_load(&s->interrupted) &&
           !atomic_load(&s->stop))
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->img_seq == s->img_seq_read) {
        pthread_mutex_unlock(&s->mu);
        return CN_ECLOSED;
    }
    s->img_seq_read = s->img_seq;
    int r = cn_frame_set_size(f, s->img_w, s->img_h);
    if (r != CN_OK) {
        pthread_mutex_unlock(&s->mu);
        cn_log_warn(s->o.log, MOD, "image %dx%d does not fit the frame pool", s->img_w, s->img_h);
        return CN_EAGAIN;
    }
    memcpy(f->pixels, s->img, (size_t)s->img_w * (size_t)s->img_h);
    f->spacing_mm[0] = hypot(hypot(s->img_ijk.m[0], s->img_ijk.m[4]), s->img_ijk.m[8]);
    f->spacing_mm[1] = hypot(hypot(s->img_ijk.m[1], s->img_ijk.m[5]), s->img_ijk.m[9]);
    f->transducer_px[0] = s->img_w / 2.0;
    f->transducer_px[1] = 0;
    f->seq = s->img_seq;
    f->t_acq_ns = s->img_t_ns;
    f->wall_ns = s->img_wall_ns;
    f->status = CN_FRAME_OK;
    char img_pose[CN_XFORM_NAME_MAX];
    snprintf(img_pose, sizeof img_pose, "ImageTo%s", s->img_frame);
    cn_frame_set_pose(f, img_pose, &s->img_ijk, true);
    for (int i = 0; i < s->n_poses; i++)
        if (cn_frame_set_pose(f, s->poses[i].name, &s->poses[i].m, s->poses[i].valid) != CN_OK)
            break;
    pthread_mutex_unlock(&s->mu);
    return CN_OK;
}

cn_device cn_igtl_source_device(cn_igtl_source *s)
{
    return (cn_device){.name = "igtl", .self = s, .start = dev_start, .read = dev_read,
                       .interrupt = dev_interrupt, .stop = dev_stop};
}
