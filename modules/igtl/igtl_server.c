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
 * client, with the reason logged (through the hub's bound on log volume).
 *
 * Nobody can starve the server: a message a client has begun must complete
 * within partial_timeout_s (a 1-byte-a-second sender is dropped), a client that
 * takes nothing while data waits is dropped after stall_timeout_s, the parser
 * grows its buffer with what arrived (never with what a header declares), and
 * when max_clients are connected a new connection evicts the least useful
 * client that is not a proctor (slow senders and stalled readers first, then
 * the newest unproven connections, established healthy viewers last) rather
 * than being refused: idle or slow connections cannot lock a viewer out.
 *
 * Roles, notes, targets and commands belong to the proctor hub; the server is
 * its OpenIGTLink transport (a client id per connection, a kick callback so the
 * operator's revoke closes the connection). This file holds the sockets, the
 * loop and the public API; igtl_queue.c decides what goes into which client's
 * ring, igtl_inbound.c what a client's messages do, igtl_guard.c who is dropped
 * or evicted.
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
/* unsent bytes the kernel may hold for a client (TCP_NOTSENT_LOWAT): under one 640 x 480 frame */
#define NOTSENT_LOWAT (128 * 1024)

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
    cn_proctor_client_close(s->hub, c->st.id);
    free(c);
}

/* Logs why a client goes and frees it; i is its index (the last one moves in). */
static void reap(cn_igtl_server *s, int i)
{
    cn_igtl_client *c = s->clients[i];
    bool bad = strncmp(c->why, "protocol", 8) == 0 || strncmp(c->why, "reply", 5) == 0;
    cn_proctor_logf(s->hub, MOD, bad ? CN_LOG_WARN : CN_LOG_INFO, false,
                    "client %llu (%s) dropped: %s; sent %llu frames, dropped %llu",
                    (unsigned long long)c->st.id, c->st.peer, c->why,
                    (unsigned long long)c->st.frames_sent, (unsigned long long)c->st.frames_dropped);
    client_free(s, c);
    s->clients[i] = s->clients[--s->n_clients];
}

static void accept_clients(cn_igtl_server *s)
{
    for (int round = 0; round < 256; round++) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char peer[64];
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
        snprintf(peer, sizeof peer, "%s:%u", ip, (unsigned)ntohs(a.sin_port));
        int64_t now = cn_clock_mono_ns();
        if (s->n_clients >= s->o.max_clients) {
            int v = cn__igtl_pick_victim(s, now);
            if (v < 0) {
                cn_proctor_logf(s->hub, MOD, CN_LOG_WARN, false,
                                "refusing %s: %d clients, all proctors (max_clients)", peer,
                                s->n_clients);
                pthread_mutex_lock(&s->mu);
                s->st.refused++;
                pthread_mutex_unlock(&s->mu);
                close(fd);
                continue;
            }
            if (!s->clients[v]->dead)
                cn__igtl_kill(s, s->clients[v], "evicted to make room for a new connection "
                                                "(max_clients reached)");
            pthread_mutex_lock(&s->mu);
            s->st.evicted++;
            pthread_mutex_unlock(&s->mu);
            reap(s, v);
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* The kernel takes no more than NOTSENT_LOWAT unsent bytes: the rest waits in the
         * client's queue, where the oldest frame is dropped for the newest. Without it
         * the send buffer (up to 4 MiB, tcp_wmem) held 12 frames, and a proctor reading
         * 1.5 MB/s saw images 3 s old (review 43a F2; 0.2-0.9 s with it, measured). */
        int lowat = NOTSENT_LOWAT;
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
        cn_igtl_client *c = calloc(1, sizeof *c);
        if (c) {
            c->fd = fd;
            c->q_cap = s->o.queue_frames + CN_IGTL_REPLY_SLOTS + 1;
            c->q = calloc((size_t)c->q_cap, sizeof *c->q);
            c->parser = cn_igtl_parser_new(&s->o.limits);
            c->lag = cn_stats_new(512);
            c->st.id = cn_proctor_client_open(s->hub, "igtl", peer);
        }
        if (!c || !c->q || !c->parser || cn__igtl_stream_unused(c->parser) != CN_OK || !c->lag ||
            !c->st.id) {
            cn_log_error(s->o.log, MOD, "out of memory accepting %s", peer);
            if (c)
                client_free(s, c);
            else
                close(fd);
            continue;
        }
        c->st.header_version = 1;
        c->t_connect_ns = c->t_progress_ns = c->t_active_ns = now;
        cn_strlcpy(c->st.peer, peer, sizeof c->st.peer);
        s->clients[s->n_clients++] = c;
        pthread_mutex_lock(&s->mu);
        s->st.accepted++;
        pthread_mutex_unlock(&s->mu);
        cn_proctor_logf(s->hub, MOD, CN_LOG_INFO, false, "client %llu connected from %s",
                        (unsigned long long)c->st.id, peer);
    }
}

static void write_client(cn_igtl_server *s, cn_igtl_client *c);

void cn__igtl_flush(cn_igtl_server *s, cn_igtl_client *c) { write_client(s, c); }

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
            /* Stopping: what is left of a burst is not handled (before, a storm of
             * commands could hold the server thread, and the navigator's exit, for
             * tens of seconds under AddressSanitizer) */
            if (atomic_load(&s->stop))
                return;
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
            c->t_msg_start_ns = 0;
            c->t_active_ns = cn_clock_mono_ns();
            cn__igtl_handle_message(s, c, &m);
            /* A burst of requests in one read: send the replies as they queue, so only
             * a client that really does not read overflows its queue (before, 36
             * GET_STATUS in one write dropped a client that read everything, "sends
             * requests but does not read": igtl audit D10) */
            if (!c->dead && c->q_n >= c->q_cap / 2)
                write_client(s, c);
        }
        /* a message begun and not finished starts the slow-sender clock */
        if (cn_igtl_parser_buffered(c->parser) > 0 && c->t_msg_start_ns == 0)
            c->t_msg_start_ns = cn_clock_mono_ns();
        if ((size_t)n < sizeof buf)
            return;
    }
}

static void write_client(cn_igtl_server *s, cn_igtl_client *c)
{
    while (c->q_n > 0 && !c->dead) {
        cn_igtl_packet *p = cn__igtl_q_at(c, 0);
        const uint8_t *d = cn__igtl_pkt_data(p);
        size_t len = cn__igtl_pkt_len(p);
        ssize_t n = send(c->fd, d + c->off, len - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                cn__igtl_kill(s, c, strerror(errno));
            return;
        }
        if (n > 0)
            c->t_progress_ns = c->t_active_ns = cn_clock_mono_ns();
        c->off += (size_t)n;
        c->st.bytes_sent += (uint64_t)n;
        if (c->off < len)
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

/* Copies the clients' counters into the snapshot that stats_get() reads. With
 * `percentiles` also the latency percentiles, which sort each client's window:
 * two qsorts of 512 samples per client were 6 % of the server thread's CPU at
 * 16 clients and 30 fps (perf, bench igtl --clients 16 --fps 30: 1.6 % of the
 * process's samples in publish_stats against 0.7 % for packing the frame), all
 * of it spent on every frame for figures a person reads a few times a second. */
static void publish_stats(cn_igtl_server *s, bool percentiles)
{
    for (int i = 0; i < s->n_clients; i++) {
        cn_igtl_client *c = s->clients[i];
        c->st.queued_packets = c->q_n;
        c->st.queued_bytes = cn__igtl_pinned_bytes(c);
        c->st.proctor = cn_proctor_client_role(s->hub, c->st.id) == CN_PROCTOR_PROCTOR;
        if (percentiles) {
            c->st.lag_ms_p50 = cn_stats_percentile(c->lag, 50);
            c->st.lag_ms_p99 = cn_stats_percentile(c->lag, 99);
        }
        s->snap_work[i] = c->st;
    }
    double pack50 = percentiles ? cn_stats_percentile(s->pack_ms, 50) : 0;
    pthread_mutex_lock(&s->mu);
    s->st.clients = s->n_clients;
    if (percentiles)
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
    int64_t last_publish = 0, last_percentiles = 0;
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
        int64_t now = cn_clock_mono_ns();
        cn__igtl_enforce(s, now);
        /* Reap dead clients before accepting, so their slots are free. */
        for (int i = 0; i < s->n_clients;) {
            if (s->clients[i]->dead)
                reap(s, i);
            else
                i++;
        }
        if (pf[0].revents & POLLIN)
            accept_clients(s);
        /* counters after every frame (callers wait on them), the sorted
         * latency percentiles at most 5 times a second */
        if (now - last_publish > 50000000LL || f) {
            bool pct = now - last_percentiles >= 200000000LL;
            publish_stats(s, pct);
            last_publish = now;
            if (pct)
                last_percentiles = now;
        }
    }
    publish_stats(s, true);
    free(pf);
    return NULL;
}

/* The hub's kick: any thread; the server thread closes the client soon. */
static void hub_kick(void *self, uint64_t id, const char *why)
{
    (void)why;
    cn_igtl_server *s = self;
    pthread_mutex_lock(&s->mu);
    if (s->n_kicks < CN_IGTL_KICKS_MAX)
        s->kicks[s->n_kicks++] = id;
    pthread_mutex_unlock(&s->mu);
    cn__igtl_wake(s);
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
    s->hub = o->hub;
    if (!s->hub) {   /* a hub of our own: no token, so everyone is a viewer */
        cn_proctor_opts po;
        cn_proctor_opts_default(&po);
        po.log_sink = o->log;
        s->hub = cn_proctor_hub_new(&po);
        s->own_hub = true;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->clients = calloc((size_t)o->max_clients, sizeof *s->clients);
    s->snap = calloc((size_t)o->max_clients, sizeof *s->snap);
    s->snap_work = calloc((size_t)o->max_clients, sizeof *s->snap_work);
    s->lat_ms = cn_stats_new(1024);
    s->pack_ms = cn_stats_new(1024);
    if (!s->clients || !s->snap || !s->snap_work || !s->lat_ms || !s->pack_ms || !s->hub) {
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
        listen(s->listen_fd, 128) != 0 ||
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
                    "encryption (the proctor token and the images travel in clear); reach it "
                    "through an SSH or TLS tunnel instead (user guide: \"The threat model\")",
                    o->listen_addr, s->port);
    cn_proctor_transport tr = {.name = "igtl", .self = s, .kick = hub_kick};
    if (cn_proctor_add_transport(s->hub, &tr) != CN_OK) {
        snprintf(err, err_len, "igtl: the proctor hub has no room for another transport");
        cn_igtl_server_free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        snprintf(err, err_len, "igtl: cannot start the server thread");
        cn_igtl_server_free(s);
        return NULL;
    }
    s->thread_started = true;
    cn_log_info(o->log, MOD, "OpenIGTLink server on %s:%d", o->listen_addr, s->port);
    return s;
}

void cn_igtl_server_stop(cn_igtl_server *s)
{
    if (!s || s->stopped)
        return;
    atomic_store(&s->stop, true);
    if (s->thread_started) {
        uint64_t one = 1;
        ssize_t w = write(s->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    cn_proctor_remove_transport(s->hub, s);
    for (int i = 0; i < s->n_clients; i++)
        client_free(s, s->clients[i]);
    s->n_clients = 0;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
    pthread_mutex_lock(&s->mu);
    cn_frame *f = s->pending;
    s->pending = NULL;
    s->stopped = true;
    pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    if (f)
        cn_frame_unref(f);
}

void cn_igtl_server_free(cn_igtl_server *s)
{
    if (!s)
        return;
    cn_igtl_server_stop(s);
    for (int v = 1; v <= 2; v++)
        if (s->last[v])
            cn__igtl_packet_unref(s, s->last[v]);
    while (s->free_list) {
        cn_igtl_packet *p = s->free_list;
        s->free_list = p->next_free;
        cn_igtl_buf_free(&p->buf);
        free(p);
    }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    cn_stats_free(s->lat_ms);
    cn_stats_free(s->pack_ms);
    free(s->clients);
    free(s->snap);
    free(s->snap_work);
    if (s->own_hub)
        cn_proctor_hub_free(s->hub);
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
    if (s->stopped) {   /* nobody would take it: keep no reference */
        pthread_mutex_unlock(&s->mu);
        cn_frame_unref(f);
        return;
    }
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
        cn_strlcpy(s->events[(s->ev_head + s->ev_n) % CN_IGTL_EVENTS_MAX], text,
                   CN_IGTL_EVENT_TEXT_MAX);
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

int cn_igtl_server_set_command(cn_igtl_server *s, const char *name, cn_igtl_command_fn fn,
                               void *user)
{
    if (!s)
        return CN_EINVAL;
    return cn_proctor_set_command(s->hub, name, CN_PROCTOR_PROCTOR, true, fn, user);
}

cn_proctor_hub *cn_igtl_server_hub(cn_igtl_server *s)
{
    return s ? s->hub : NULL;
}
