/*
 * igtl_source.c - OpenIGTLink client device (see igtl_source.h for the idea).
 *
 * One thread owns the socket: connect (non-blocking, 1 s timeout), read with
 * poll() in 100 ms slices so stop() is honoured promptly, feed the shared
 * parser, and on any error or end of stream close, wait a backoff that doubles
 * from backoff_min to backoff_max, and try again. Received state (newest pose
 * per name, newest image) lives behind one mutex; read() waits on a condition
 * variable for an image newer than the last one it returned.
 *
 * What a user sees matters as much as what is parsed: a failing connection is
 * logged once per streak (and every 30 s while it lasts), every new transform
 * name is logged once with the name it goes under, a name that cannot be used
 * is logged once with the map entry that would fix it, and an image source that
 * receives no IMAGE says so. Before, each of these left a silent, empty session.
 */
#include "igtl_source_internal.h"

#include <arpa/inet.h>
#include <errno.h>
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

/* ------------------------------------------------------------------ connection */

static int connect_to(cn_igtl_source *s, char *why, size_t why_len)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->o.port)};
    if (cn_igtl_resolve_ipv4(s->o.host, &a.sin_addr) != CN_OK) {
        snprintf(why, why_len, "host \"%s\" does not resolve to an IPv4 address", s->o.host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, why_len, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        snprintf(why, why_len, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&p, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
        snprintf(why, why_len, "%s", err ? strerror(err) : "timed out");
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

/* STT_ (start) or STP_ (stop) for the streams the options request. */
static void send_requests(cn_igtl_source *s, int fd, bool start)
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    if (cn__igtl_src_stream_requests(s, start, &b) == CN_OK && b.len > 0)
        send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
}

/* An image source connected for a while without one IMAGE: say what arrives
 * instead (once per connection), since the session shows nothing meanwhile. */
static void check_images(cn_igtl_source *s, int64_t t_connected, uint64_t images_at_connect,
                         bool *warned)
{
    if (*warned || !s->o.want_image || s->o.no_image_warn_ns <= 0 ||
        cn_clock_mono_ns() - t_connected < s->o.no_image_warn_ns)
        return;
    pthread_mutex_lock(&s->mu);
    uint64_t images = s->st.images - images_at_connect,
             tr = s->st.transforms + s->st.positions + s->st.tdata + s->st.qtdata,
             ign = s->st.ignored;
    pthread_mutex_unlock(&s->mu);
    if (images > 0)
        return;
    *warned = true;
    cn_log_warn(s->o.log, MOD,
                "connected to %s:%d for %.1f s but no 8-bit IMAGE arrived (%llu transforms, "
                "%llu other messages so far): if this server sends tracking only, take images "
                "from another source and tracking from it (--source sim|usb|replay "
                "--tracking igtl)",
                s->o.host, s->o.port, (double)s->o.no_image_warn_ns / 1e9,
                (unsigned long long)tr, (unsigned long long)ign);
}

static void session(cn_igtl_source *s, int fd)
{
    /* The stream requests first: a server on OpenIGTLink 1.x cannot read the
     * v2 header of the STATUS below and loses step after it. */
    send_requests(s, fd, true); /* STT_TDATA / STT_QTDATA, if asked for */
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
    int64_t t_connected = cn_clock_mono_ns();
    pthread_mutex_lock(&s->mu);
    uint64_t images_at_connect = s->st.images;
    pthread_mutex_unlock(&s->mu);
    bool warned = false;
    uint8_t buf[65536];
    while (!atomic_load(&s->stop)) {
        check_images(s, t_connected, images_at_connect, &warned);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, 100);
        if (r == 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            cn__igtl_src_set_error(s, "server closed the connection");
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            cn__igtl_src_set_error(s, "recv: %s", strerror(errno));
            break;
        }
        size_t off = 0;
        int pr = 0;
        while (off < (size_t)n || pr == 1) {
            size_t used;
            cn_igtl_message m;
            pr = cn_igtl_parser_feed(p, buf + off, (size_t)n - off, &used, &m);
            off += used;
            if (pr <= 0)
                break;
            if (strcmp(m.h.type, "TRANSFORM") == 0)
                cn__igtl_src_on_transform(s, &m);
            else if (strcmp(m.h.type, "POSITION") == 0)
                cn__igtl_src_on_position(s, &m);
            else if (strcmp(m.h.type, "TDATA") == 0 || strcmp(m.h.type, "QTDATA") == 0)
                cn__igtl_src_on_tracking_data(s, &m, m.h.type[0] == 'Q');
            else if (strcmp(m.h.type, "IMAGE") == 0)
                cn__igtl_src_on_image(s, &m);
            else
                cn__igtl_src_count_ignored(s); /* every other type: skipped, the link stays */
        }
        /* End of the burst (nothing more to read right now): the frame's
         * transforms have been parsed, its image may go. */
        struct pollfd more = {.fd = fd, .events = POLLIN};
        if (pr < 0 || poll(&more, 1, 0) == 0)
            cn__igtl_src_publish_image(s);
        if (pr < 0) {
            cn__igtl_src_set_error(s, "protocol error from %s:%d: %s", s->o.host, s->o.port,
                      cn_igtl_parser_error(p));
            cn_log_warn(s->o.log, MOD, "%s:%d: %s; reconnecting", s->o.host, s->o.port,
                        cn_igtl_parser_error(p));
            break;
        }
    }
    cn__igtl_src_publish_image(s);
    cn_igtl_parser_free(p);
    if (atomic_load(&s->stop))
        send_requests(s, fd, false); /* we close: STP_TDATA / STP_QTDATA */
}

static void *source_main(void *arg)
{
    cn_igtl_source *s = arg;
    int64_t backoff = s->o.backoff_min_ns;
    int64_t streak_logged = 0;  /* when the current failure streak was last logged */
    uint64_t attempts = 0;
    while (!atomic_load(&s->stop)) {
        char why[160];
        int fd = connect_to(s, why, sizeof why);
        if (fd < 0) {
            attempts++;
            cn__igtl_src_set_error(s, "connect %s:%d: %s", s->o.host, s->o.port, why);
            int64_t now = cn_clock_mono_ns();
            if (streak_logged == 0 || now - streak_logged > 30000000000LL) {
                cn_log_warn(s->o.log, MOD,
                            "cannot connect to %s:%d (%s)%s; retrying every %.1f..%.1f s "
                            "(is the PlusServer / Slicer server running on that port?)",
                            s->o.host, s->o.port, why, attempts > 1 ? ", still" : "",
                            (double)s->o.backoff_min_ns / 1e9, (double)s->o.backoff_max_ns / 1e9);
                streak_logged = now;
            }
        } else {
            pthread_mutex_lock(&s->mu);
            s->st.connected = true;
            s->st.connects++;
            s->st.last_error[0] = 0;
            pthread_mutex_unlock(&s->mu);
            cn_log_info(s->o.log, MOD, "connected to %s:%d%s", s->o.host, s->o.port,
                        s->o.want_image ? " (images and tracking)" : " (tracking)");
            backoff = s->o.backoff_min_ns;
            streak_logged = 0;
            attempts = 0;
            s->lag_known = false; /* another server, perhaps another clock */
            session(s, fd);
            close(fd);
            cn__igtl_src_invalidate_poses(s);
            pthread_mutex_lock(&s->mu);
            s->st.connected = false;
            s->st.disconnects++;
            char last[192];
            cn_strlcpy(last, s->st.last_error, sizeof last);
            pthread_mutex_unlock(&s->mu);
            if (!atomic_load(&s->stop))
                cn_log_info(s->o.log, MOD, "%s:%d: %s; reconnecting", s->o.host, s->o.port,
                            last[0] ? last : "link closed");
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
    if (graph) /* 0: until the link drops (then the poses are marked invalid) */
        cn_xform_graph_set_max_extrapolate(graph, o->hold_ns > 0 ? o->hold_ns
                                                                 : INT64_MAX / 4);
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
    free(s->pending.px);
    free(s->ready.px);
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

static void dev_release(void *self)
{
    cn_igtl_source_free(self);
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
    pthread_mutex_lock(&s->mu);
    while (s->img_seq == s->img_seq_read && !atomic_load(&s->interrupted) &&
           !atomic_load(&s->stop))
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->img_seq == s->img_seq_read) {
        pthread_mutex_unlock(&s->mu);
        return CN_ECLOSED;
    }
    s->img_seq_read = s->img_seq;
    const image_slot *im = &s->ready;
    int r = cn_frame_set_size(f, im->w, im->h);
    if (r != CN_OK) {
        pthread_mutex_unlock(&s->mu);
        cn_log_warn(s->o.log, MOD, "image %dx%d does not fit the frame pool", im->w, im->h);
        return CN_EAGAIN;
    }
    memcpy(f->pixels, im->px, (size_t)im->w * (size_t)im->h);
    f->spacing_mm[0] = hypot(hypot(im->ijk.m[0], im->ijk.m[4]), im->ijk.m[8]);
    f->spacing_mm[1] = hypot(hypot(im->ijk.m[1], im->ijk.m[5]), im->ijk.m[9]);
    f->transducer_px[0] = im->w / 2.0;
    f->transducer_px[1] = 0;
    f->seq = s->img_seq;
    f->t_acq_ns = im->t_ns;
    f->wall_ns = im->wall_ns;
    f->status = CN_FRAME_OK;
    char img_pose[CN_XFORM_NAME_MAX];
    snprintf(img_pose, sizeof img_pose, "ImageTo%s", im->frame);
    cn_frame_set_pose(f, img_pose, &im->ijk, true);
    /* Without a graph the newest poses go on as received; with one, the owner
     * (devices/registry) resolves them at the frame's time. */
    if (!s->graph)
        for (int i = 0; i < s->n_poses; i++)
            if (cn_frame_set_pose(f, s->poses[i].name, &s->poses[i].m, s->poses[i].valid) != CN_OK)
                break;
    pthread_mutex_unlock(&s->mu);
    return CN_OK;
}

cn_device cn_igtl_source_device(cn_igtl_source *s)
{
    return (cn_device){.name = "igtl", .self = s, .start = dev_start,
                       .read = s->o.want_image ? dev_read : NULL, .interrupt = dev_interrupt,
                       .stop = dev_stop, .release = dev_release};
}
