/* plus_like.h - a small OpenIGTLink server for the device tests that sends what a
 * PlusServer sends: named TRANSFORMs (v1 headers, the current wall time as
 * timestamp) at a fixed rate to whoever connects, on a loopback port chosen by
 * the kernel. Its poses can be changed while it runs. Header-only (static). */
#ifndef CN_TEST_PLUS_LIKE_H
#define CN_TEST_PLUS_LIKE_H

#include "igtl/igtl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PL_MAX 6

typedef struct {
    int lfd, port;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    int n;
    char name[PL_MAX][64];
    cn_mat4 m[PL_MAX];
    int rate_hz;
    atomic_int sent;
    atomic_bool paused;    /* keep the link, send nothing (Slicer with a still node) */
    _Atomic int64_t ts_offset_ns; /* the server's clock against ours (another machine) */
    _Atomic int64_t ts_frozen_ns; /* != 0: every message carries this wall time (stale) */
} plus_like;

static inline void pl_set(plus_like *p, const char *name, const cn_mat4 *m)
{
    pthread_mutex_lock(&p->mu);
    int i = 0;
    while (i < p->n && strcmp(p->name[i], name) != 0)
        i++;
    if (i == p->n && p->n < PL_MAX)
        p->n++;
    if (i < PL_MAX) {
        cn_strlcpy(p->name[i], name, sizeof p->name[i]);
        p->m[i] = *m;
    }
    pthread_mutex_unlock(&p->mu);
}

static inline void *pl_main(void *arg)
{
    plus_like *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {.fd = p->lfd, .events = POLLIN};
        if (poll(&pf, 1, 50) != 1)
            continue;
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        cn_igtl_buf b;
        cn_igtl_buf_init(&b);
        while (!atomic_load(&p->stop)) {
            if (atomic_load(&p->paused)) {
                cn_clock_sleep_ns(5000000);
                continue;
            }
            b.len = 0;
            int64_t frozen = atomic_load(&p->ts_frozen_ns);
            uint64_t ts = cn_igtl_ts_from_wall_ns(
                frozen ? frozen : cn_clock_wall_ns() + atomic_load(&p->ts_offset_ns));
            pthread_mutex_lock(&p->mu);
            for (int i = 0; i < p->n; i++) {
                cn_igtl_msg msg;
                cn_igtl_msg_begin(&b, &msg, 1, "TRANSFORM", p->name[i], ts, 0);
                cn_igtl_put_transform(&b, &p->m[i]);
                cn_igtl_msg_end(&b, &msg, NULL, 0);
            }
            pthread_mutex_unlock(&p->mu);
            /* drain what the client says (its v2 STATUS) */
            char junk[4096];
            while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
            }
            if (b.len && send(fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
                break;
            atomic_fetch_add(&p->sent, 1);
            cn_clock_sleep_ns(1000000000LL / p->rate_hz);
        }
        cn_igtl_buf_free(&b);
        close(fd);
    }
    return NULL;
}

static inline int pl_start(plus_like *p, int rate_hz)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->rate_hz = rate_hz;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->lfd, 4) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    p->port = ntohs(a.sin_port);
    return pthread_create(&p->th, NULL, pl_main, p) == 0 ? 0 : -1;
}

static inline void pl_stop(plus_like *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
    close(p->lfd);
    pthread_mutex_destroy(&p->mu);
}

#endif
