/*
 * igtl_guard.c - who is dropped and who makes room: the server's starvation guards.
 *
 * The idea: a server with a fixed number of places must never be held by
 * connections that do nothing useful. Two rules run every loop (enforce): a
 * message a client has begun must complete within partial_timeout_s (a sender
 * that trickles a byte a second is dropped: it would otherwise hold its place
 * and, with the parser's buffer, memory) and a client that takes nothing while
 * data waits for it is dropped after stall_timeout_s; clients the proctor hub
 * asked to close (the operator's revoke) go at the same point. A third rule runs
 * when a connection arrives and every place is taken (pick_victim): the new
 * connection replaces the least useful client that is not a proctor instead of
 * being refused, so idle connections cannot lock a viewer out; proctors, who
 * proved the token, are never evicted.
 */
#include "igtl_priv.h"

#include <stdio.h>
#include <string.h>

/* Which client a new connection replaces when the server is full: never a
 * proctor; first a slow sender (a message begun over a second ago) or a
 * stalled reader (data waiting, nothing taken for a second), the longest
 * stuck first; then connections younger than 2 s that have taken no frame yet,
 * the oldest of them (a flood of bare connections replaces its own, and the newest
 * gets its chance); established clients last, the longest inactive first. A viewer
 * that has taken a frame is established however young: a burst of 40 bare
 * connections evicted a healthy 1.5 s old viewer (review 43a F3). -1 when every
 * client is a proctor. */
int cn__igtl_pick_victim(cn_igtl_server *s, int64_t now)
{
    int best = -1, best_tier = -1;
    int64_t best_age = -1;
    for (int i = 0; i < s->n_clients; i++) {
        cn_igtl_client *c = s->clients[i];
        if (c->dead) {
            return i;
        }
        if (cn_proctor_client_role(s->hub, c->st.id) == CN_PROCTOR_PROCTOR)
            continue;
        int tier;
        int64_t age;
        if (c->t_msg_start_ns && now - c->t_msg_start_ns > 1000000000LL) {
            tier = 3;
            age = now - c->t_msg_start_ns;
        } else if (c->q_n > 0 && now - c->t_progress_ns > 1000000000LL) {
            tier = 3;
            age = now - c->t_progress_ns;
        } else if (now - c->t_connect_ns < 2000000000LL && c->st.frames_sent == 0) {
            tier = 2;
            age = now - c->t_connect_ns;
        } else {
            tier = 1;
            age = now - c->t_active_ns;
        }
        if (tier > best_tier || (tier == best_tier && age > best_age)) {
            best = i;
            best_tier = tier;
            best_age = age;
        }
    }
    return best;
}

/* Slow senders and stalled readers go; so do clients the hub asked to close. */
void cn__igtl_enforce(cn_igtl_server *s, int64_t now)
{
    uint64_t kicks[CN_IGTL_KICKS_MAX];
    pthread_mutex_lock(&s->mu);
    int nk = s->n_kicks;
    memcpy(kicks, s->kicks, (size_t)nk * sizeof kicks[0]);
    s->n_kicks = 0;
    pthread_mutex_unlock(&s->mu);
    int64_t partial = (int64_t)(s->o.partial_timeout_s * 1e9);
    int64_t stall = (int64_t)(s->o.stall_timeout_s * 1e9);
    uint64_t timed_out = 0;
    for (int i = 0; i < s->n_clients; i++) {
        cn_igtl_client *c = s->clients[i];
        for (int k = 0; k < nk; k++)
            if (kicks[k] == c->st.id)
                cn__igtl_kill(s, c, "proctor rights revoked by the operator");
        if (c->dead)
            continue;
        char why[160];
        if (partial > 0 && c->t_msg_start_ns && now - c->t_msg_start_ns > partial) {
            snprintf(why, sizeof why, "too slow: a message begun %.0f s ago is still incomplete",
                     (double)(now - c->t_msg_start_ns) / 1e9);
            cn__igtl_kill(s, c, why);
            timed_out++;
        } else if (stall > 0 && c->q_n > 0 && now - c->t_progress_ns > stall) {
            snprintf(why, sizeof why, "not reading: nothing could be sent for %.0f s",
                     (double)(now - c->t_progress_ns) / 1e9);
            cn__igtl_kill(s, c, why);
            timed_out++;
        }
    }
    if (timed_out) {
        pthread_mutex_lock(&s->mu);
        s->st.timed_out += timed_out;
        pthread_mutex_unlock(&s->mu);
    }
}

