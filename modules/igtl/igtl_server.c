/*
 * igtl_server.c - the OpenIGTLink server: a pipeline sink with one poll() thread.
 *
 * The idea: consume() runs on the analysis thread and must never wait on the
 * network, so it only parks a reference to the newest frame in a one-slot
 * hand-over (a frame not yet picked up is superseded, latest-wins) and wakes
 * the server thread through an eventfd. The server thread packs the frame once
 * per header version in use into a shared packet and puts a reference into each
 * client's small ring. Sockets are non-blocking; a client whose ring already
 * holds queue_frames frames loses its oldest frame (counted), so a slow or
 * stalled viewer costs a bounded amount of memory and never delays the
 * pipeline or the other viewers. Protocol errors drop only the offending
 * client, with the reason logged. This file holds the sockets, the loop and
 * the public API; igtl_queue.c decides what goes into which client's ring.
 */
#include "igtl_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOD "igtl"

/* ------------------------------------------------------------------ clients */

static void client_free(cn_igtl_server *s, cn_igtl_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    for (int i = 0; i < c->q_n; i++)
        cn__igtl_packet_unref(s, cn__igtl_q_at(c, i));
    free(c->q);
    cn_igtl_parser_free(c->parser);
    cn_stats_free(c->lag);
    free(c);
}

static void accept_clients(cn_igtl_server *s)
{
    for (;;) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char peer[64];
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
        snprintf(peer, sizeof peer, "%s:%u", ip, (unsigned)ntohs(a.sin_port));
        if (s->n_clients >= s->o.max_clients) {
            cn_log_warn(s->o.log, MOD, "refusing %s: already %d clients (max_clients)", peer,
                        s->n_clients);
            pthread_mutex_lock(&s->mu);
            s->st.refused++;
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        cn_igtl_client *c = calloc(1, sizeof *c);
        if (c) {
            c->fd = fd;
            c->q_cap = s->o.queue_frames + CN_IGTL_REPLY_SLOTS + 1;
            c->q = calloc((size_t)c->q_cap, sizeof *c->q);
            c->parser = cn_igtl_parser_new(&s->o.limits);
            c->lag = cn_stats_new(512);
        }
        if (!c || !c->q || !c->parser || !c->lag) {
            cn_log_error(s->o.log, MOD, "out of memory accepting %s", peer);
            if (c)
                client_free(s, c);
            else
                close(fd);
            continue;
        }
        c->st.id = ++s->next_id;
        c->st.header_version = 1;
        cn_strlcpy(c->st.peer, peer, sizeof c->st.peer);
        s->clients[s->n_clients++] = c;
        pthread_mutex_lock(&s->mu);
        s->st.accepted++;
        pthread_mutex_unlock(&s->mu);
        cn_log_info(s->o.log, MOD, "client %llu connected from %s",
                    (unsigned long long)c->st.id, peer);
    }
}

static void read_client(cn_igtl_server *s, cn_igtl_client *c)
{
    uint8_t buf[65536];
    /* A few reads per wake-up keep one chatty client from starving the rest. */
    for (int round = 0; round < 4 && !c->dead; round++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            cn__igtl_kill(s, c, "closed by the client");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                cn__igtl_kill(s, c, strerror(errno));
            return;
        }
        size_t off = 0;
        while (!c->dead) {
            size_t used = 0;
            cn_igtl_message m;
            int r = cn_igtl_parser_feed(c->parser, buf + off, (size_t)n - off, &used, &m);
            off += used;
            if (r < 0) {
                char why[192];
                snprintf(why, sizeof why, "protocol error: %s", cn_igtl_parser_error(c->parser));
                cn__igtl_kill(s, c, why);
                return;
            }
            if (r == 0)
                break;
            c->st.msgs_received++;
            cn__igtl_handle_message(s, c, &m);
        }
        if ((size_t)n < sizeof buf)
            return;
    }
}

static void write_client(cn_igtl_server *s, cn_igtl_client *c)
{
    while (c->q_n > 0 && !c->dead) {
        cn_igtl_packet *p = cn__igtl_q_at(c, 0);
        ssize_t n = send(c->fd, p->buf.data + c->off, p->buf.len - c->off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                cn__igtl_kill(s, c, strerror(errno));
            return;
        }
        c->off += (size_t)n;
        c->st.bytes_sent += (uint64_t)n;
        if (c->off < p->buf.len)
            return;
        if (p->is_frame) {
            double lag = (double)(cn_clock_mono_ns() - p->t_handoff_ns) / 1e6;
            cn_stats_add(c->lag, lag);
            c->st.lag_ms_last = lag;
            c->st.frames_sent++;
        }
        c->off = 0;
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
        cn__igtl_packet_unref(s, p);
    }
}

static void publish_stats(cn_igtl_server *s)
{
    for (int i = 0; i < s->n_clients; i++) {
        cn_igtl_client *c = s->clients[i];
        c->st.queued_packets = c->q_n;
        c->st.queued_bytes = 0;
        for (int k = 0; k < c->q_n; k++)
            c->st.queued_bytes += cn__igtl_q_at(c, k)->buf.len;
        c->st.lag_ms_p50 = cn_stats_percentile(c->lag, 50);
        c->st.lag_ms_p99 = cn_stats_percentile(c->lag, 99);
        s->snap_work[i] = c->st;
    }
    double pack50 = cn_stats_percentile(s->pack_ms, 50);
    pthread_mutex_lock(&s->mu);
    s->st.clients = s->n_clients;
    s->st.pack_ms_p50 = pack50;
    s->n_snap = s->n_clients;
    memcpy(s->snap, s->snap_work, (size_t)s->n_clients * sizeof *s->snap);
    pthread_mutex_unlock(&s->mu);
}

static void *server_main(void *arg)
{
    cn_igtl_server *s = arg;
    int cap = s->o.max_clients + 2;
    struct pollfd *pf = calloc((size_t)cap, sizeof *pf);
    if (!pf) {
        cn_log_error(s->o.log, MOD, "out of memory: server thread stops");
        return NULL;
    }
    while (!atomic_load(&s->stop)) {
        pf[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
        for (int i = 0; i < s->n_clients; i++)
            pf[2 + i] = (struct pollfd){.fd = s->clients[i]->fd,
                                        .events = (short)(POLLIN | (s->clients[i]->q_n ? POLLOUT : 0))};
        int nfds = 2 + s->n_clients;
        int r = poll(pf, (nfds_t)nfds, 50);
        if (r < 0 && errno != EINTR) {
            cn_log_error(s->o.log, MOD, "poll failed: %s", strerror(errno));
            break;
        }
        if (pf[1].revents & POLLIN) {
            uint64_t v;
            ssize_t rr = read(s->wake_fd, &v, sizeof v);
            (void)rr;
        }
        /* Clients first (reads and writes of the state polled above). */
        for (int i = 0; i < s->n_clients && r > 0; i++) {
            cn_igtl_client *c = s->clients[i];
            short re = pf[2 + i].revents;
            if (re & (POLLIN | POLLHUP | POLLERR))
                read_client(s, c);
            if (re & POLLOUT)
                write_client(s, c);
        }
        /* A new frame, then events. */
        pthread_mutex_lock(&s->mu);
        cn_frame *f = s->pending;
        int64_t th = s->pending_t_ns;
        s->pending = NULL;
        s->holding = f != NULL;
        pthread_mutex_unlock(&s->mu);
        if (f) {
            cn__igtl_process_frame(s, f, th);   /* unrefs f */
            pthread_mutex_lock(&s->mu);
            s->holding = false;
            pthread_cond_broadcast(&s->idle_cv);
            pthread_mutex_unlock(&s->mu);
        }
        cn__igtl_broadcast_events(s);
        cn__igtl_send_surfaces(s);
        /* Try to write what was just queued straight away (no extra poll round). */
        for (int i = 0; i < s->n_clients; i++)
            write_client(s, s->clients[i]);
        if (pf[0].revents & POLLIN)
            accept_clients(s);
        /* Reap dead clients. */
        for (int i = 0; i < s->n_clients;) {
            cn_igtl_client *c = s->clients[i];
            if (!c->dead) {
                i++;
                continue;
            }
            bool bad = strncmp(c->why, "protocol", 8) == 0 || strncmp(c->why, "reply", 5) == 0;
            cn_log_write(s->o.log, bad ? CN_LOG_WARN : CN_LOG_INFO, MOD,
                         "client %llu (%s) dropped: %s; sent %llu frames, dropped %llu",
                         (unsigned long long)c->st.id, c->st.peer, c->why,
                         (unsigned long long)c->st.frames_sent,
                         (unsigned long long)c->st.frames_dropped);
            client_free(s, c);
            s->clients[i] = s->clients[--s->n_clients];
        }
        publish_stats(s);
    }
    free(pf);
    return NULL;
}

/* ------------------------------------------------------------------ public API */

cn_igtl_server *cn_igtl_server_start(const cn_igtl_server_opts *o, char *err, size_t err_len)
{
    if (!o || o->max_clients < 1 || o->queue_frames < 1 || o->port < 0 || o->port > 65535) {
        snprintf(err, err_len, "igtl: invalid server options");
        return NULL;
    }
    struct in_addr ia;
    if (inet_pton(AF_INET, o->listen_addr, &ia) != 1) {
        snprintf(err, err_len, "igtl: listen address \"%s\" is not an IPv4 address",
                 o->listen_addr);
        return NULL;
    }
    cn_igtl_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "igtl: out of memory");
        return NULL;
    }
    s->o = *o;
    s->listen_fd = s->wake_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->clients = calloc((size_t)o->max_clients, sizeof *s->clients);
    s->snap = calloc((size_t)o->max_clients, sizeof *s->snap);
    s->snap_work = calloc((size_t)o->max_clients, sizeof *s->snap_work);
    s->lat_ms = cn_stats_new(1024);
    s->pack_ms = cn_stats_new(1024);
    if (!s->clients || !s->snap || !s->snap_work || !s->lat_ms || !s->pack_ms) {
        snprintf(err, err_len, "igtl: out of memory");
        cn_igtl_server_free(s);
        return NULL;
    }
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->listen_fd >= 0)
        setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port),
                            .sin_addr = ia};
    socklen_t al = sizeof a;
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al) != 0) {
        snprintf(err, err_len, "igtl: cannot listen on %s:%d: %s", o->listen_addr, o->port,
                 strerror(errno));
        cn_igtl_server_free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0) {
        snprintf(err, err_len, "igtl: eventfd: %s", strerror(errno));
        cn_igtl_server_free(s);
        return NULL;
    }
    if ((ntohl(ia.s_addr) >> 24) != 127)
        cn_log_warn(o->log, MOD,
                    "listening on %s:%d, reachable from the network: OpenIGTLink has no "
                    "authentication and no encryption; use it only on a trusted network",
                    o->listen_addr, s->port);
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        snprintf(err, err_len, "igtl: cannot start the server thread");
        cn_igtl_server_free(s);
        return NULL;
    }
    s->thread_started = true;
    cn_log_info(o->log, MOD, "OpenIGTLink server on %s:%d", o->listen_addr, s->port);
    return s;
}

void cn_igtl_server_free(cn_igtl_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->thread_started) {
        uint64_t one = 1;
        ssize_t w = write(s->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; i < s->n_clients; i++)
        client_free(s, s->clients[i]);
    for (int v = 1; v <= 2; v++)
        if (s->last[v])
            cn__igtl_packet_unref(s, s->last[v]);
    while (s->free_list) {
        cn_igtl_packet *p = s->free_list;
        s->free_list = p->next_free;
        cn_igtl_buf_free(&p->buf);
        free(p);
    }
    if (s->pending)
        cn_frame_unref(s->pending);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    for (int k = 0; k < 4; k++) {
        free(s->surf[k].xyz);
        free(s->surf[k].tri);
    }
    cn_stats_free(s->lat_ms);
    cn_stats_free(s->pack_ms);
    free(s->clients);
    free(s->snap);
    free(s->snap_work);
    pthread_cond_destroy(&s->idle_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int cn_igtl_server_port(const cn_igtl_server *s)
{
    return s ? s->port : -1;
}

void cn__igtl_wake(cn_igtl_server *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof one);   /* non-blocking eventfd */
    (void)w;
}

static void sink_consume(void *self, cn_frame *f)
{
    cn_igtl_server_consume(self, f);
}

cn_sink cn_igtl_server_sink(cn_igtl_server *s)
{
    return (cn_sink){.name = "igtl", .self = s, .consume = sink_consume};
}

void cn_igtl_server_consume(cn_igtl_server *s, cn_frame *f)
{
    if (!s || !f)
        return;
    cn_frame_ref(f);
    cn_frame *old;
    pthread_mutex_lock(&s->mu);
    old = s->pending;
    s->pending = f;
    s->pending_t_ns = cn_clock_mono_ns();
    s->st.frames_consumed++;
    if (old)
        s->st.frames_superseded++;
    pthread_mutex_unlock(&s->mu);
    if (old)
        cn_frame_unref(old);
    cn__igtl_wake(s);
}

int cn_igtl_server_release_frames(cn_igtl_server *s, int64_t timeout_ns)
{
    if (!s)
        return CN_EINVAL;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    int64_t ns = dl.tv_nsec + timeout_ns % 1000000000;
    dl.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
    dl.tv_nsec = (long)(ns % 1000000000);
    int r = CN_OK;
    pthread_mutex_lock(&s->mu);
    if (!s->thread_started && s->pending) {   /* no thread to hand it to */
        cn_frame_unref(s->pending);
        s->pending = NULL;
    }
    while ((s->pending || s->holding) && r == CN_OK)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &dl) != 0)
            r = CN_ETIMEDOUT;
    pthread_mutex_unlock(&s->mu);
    return r;
}

int cn_igtl_server_send_event(cn_igtl_server *s, const char *text)
{
    if (!s || !text)
        return CN_EINVAL;
    int r = CN_OK;
    pthread_mutex_lock(&s->mu);
    if (s->ev_n == CN_IGTL_EVENTS_MAX)
        r = CN_ENOMEM;
    else {
        cn_strlcpy(s->events[(s->ev_head + s->ev_n) % CN_IGTL_EVENTS_MAX], text, 256);
        s->ev_n++;
    }
    pthread_mutex_unlock(&s->mu);
    cn__igtl_wake(s);
    return r;
}

int cn_igtl_server_stats_get(cn_igtl_server *s, cn_igtl_server_stats *st,
                             cn_igtl_client_stats *clients, int max)
{
    if (!s)
        return CN_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (st)
        *st = s->st;
    int n = s->n_snap;
    for (int i = 0; i < n && i < max && clients; i++)
        clients[i] = s->snap[i];
    pthread_mutex_unlock(&s->mu);
    return n;
}

int cn_igtl_server_poll_annotation(cn_igtl_server *s, cn_igtl_annotation *out)
{
    if (!s || !out)
        return CN_EINVAL;
    int got = 0;
    pthread_mutex_lock(&s->mu);
    if (s->ann_n > 0) {
        *out = s->ann[s->ann_head];
        s->ann_head = (s->ann_head + 1) % CN_IGTL_ANN_MAX;
        s->ann_n--;
        got = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

int cn_igtl_server_set_command(cn_igtl_server *s, const char *name, cn_igtl_command_fn fn,
                               void *user)
{
    if (!s || !name || !name[0] || strlen(name) >= 64)
        return CN_EINVAL;
    int r = CN_OK;
    pthread_mutex_lock(&s->mu);
    int i = 0;
    while (i < s->n_cmds && strcmp(s->cmds[i].name, name) != 0)
        i++;
    if (i == s->n_cmds) {
        if (s->n_cmds == CN_IGTL_CMDS_MAX)
            r = CN_ENOMEM;
        else
            s->n_cmds++;
    }
    if (r == CN_OK) {
        cn_strlcpy(s->cmds[i].name, name, sizeof s->cmds[i].name);
        s->cmds[i].fn = fn;
        s->cmds[i].user = user;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}
