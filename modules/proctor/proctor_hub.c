/*
 * proctor_hub.c - who is connected, with which rights, and what proctors said.
 *
 * The idea: a connection's rights come from a credential, never from a name it
 * chose: every client starts as a viewer and becomes a proctor only by
 * presenting the operator's token (proctor_token.c compares it in constant
 * time). Per-client token buckets bound how fast anyone may log in, command,
 * note or target, so a client can neither flood the procedure nor the log; the
 * hub's own bucket bounds every log line about clients (a flood costs a few
 * lines and a count, not gigabytes). Notes are sanitised here, once, before the
 * log, the HUD or a recording can see them. Notes and targets wait in a small
 * queue that the analysis thread drains every frame, so they take effect with
 * or without a viewer. What the operator does about clients (revoke, select,
 * the HUD line) lives in proctor_operator.c.
 */
#include "proctor_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "proctor"

bool cn__bucket_peek(cn__bucket *b, const cn_proctor_rate *r, int64_t now_ns)
{
    if (b->last_ns == 0) {
        b->tokens = r->burst;
    } else if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * r->per_s;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
    }
    b->last_ns = now_ns;
    return b->tokens >= 1.0;
}

bool cn__bucket_take(cn__bucket *b, const cn_proctor_rate *r, int64_t now_ns)
{
    if (!cn__bucket_peek(b, r, now_ns))
        return false;
    b->tokens -= 1.0;
    return true;
}

/* The length of the valid UTF-8 sequence at p (2..4), 0 when it is not one. */
static int utf8_len(const unsigned char *p)
{
    int n = p[0] >= 0xf0 && p[0] <= 0xf4   ? 4
            : p[0] >= 0xe0                 ? 3
            : p[0] >= 0xc2 && p[0] < 0xe0  ? 2
                                           : 0;
    if (p[0] >= 0xf8)
        n = 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
        return 0; /* overlong, surrogates */
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
        return 0;
    return n;
}

void cn_proctor_sanitise(char *text)
{
    unsigned char *p = (unsigned char *)text;
    while (p && *p) {
        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                *p = ' ';
            p++;
            continue;
        }
        int n = utf8_len(p);
        /* C1 controls (U+0080..U+009F) and the bidirectional embeddings, overrides
         * and isolates (U+202A..U+202E, U+2066..U+2069), which turn text around on
         * the screen and in a log, are not letters */
        bool bad = n == 0 || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) ||
                   (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                   (n == 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9);
        if (bad) {
            for (int i = 0; i < (n ? n : 1); i++)
                p[i] = '?';
            p += n ? n : 1;
        } else {
            p += n;
        }
    }
}

void cn_proctor_sanitise_name(char *name)
{
    cn_proctor_sanitise(name);
    char *o = name;
    bool blank = true; /* drops leading blanks and collapses runs */
    for (const char *i = name; *i; i++) {
        if (*i == ' ') {
            if (!blank)
                *o++ = ' ';
            blank = true;
        } else {
            *o++ = *i;
            blank = false;
        }
    }
    if (o > name && o[-1] == ' ')
        o--;
    *o = 0;
}

/* ------------------------------------------------------------------ log bound */

void cn_proctor_logf(cn_proctor_hub *h, const char *module, cn_log_level level, bool important,
                     const char *fmt, ...)
{
    if (!h || !h->o.log_sink)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cn_proctor_sanitise(line);
    pthread_mutex_lock(&h->mu);
    bool pass = cn__bucket_take(&h->log_bucket, &h->o.log, cn_clock_mono_ns()) || important;
    uint64_t dropped = 0;
    if (pass) {
        dropped = h->log_suppressed;
        h->log_suppressed = 0;
    } else {
        h->log_suppressed++;
    }
    pthread_mutex_unlock(&h->mu);
    if (!pass)
        return;
    if (dropped)
        cn_log_write(h->o.log_sink, CN_LOG_WARN, MOD,
                     "%llu log lines about clients were dropped (over %.0f lines/s)",
                     (unsigned long long)dropped, h->o.log.per_s);
    cn_log_write(h->o.log_sink, level, module ? module : MOD, "%s", line);
}

/* ------------------------------------------------------------------ hub */

cn_proctor_hub *cn_proctor_hub_new(const cn_proctor_opts *o)
{
    cn_proctor_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (o)
        h->o = *o;
    else
        cn_proctor_opts_default(&h->o);
    if (h->o.token[0] && cn_proctor_token_check(h->o.token, NULL, 0) != CN_OK)
        h->o.token[0] = 0;   /* never run with a weak token (callers check first) */
    if (h->o.n_accounts < 0 || h->o.n_accounts > CN_PROCTOR_ACCOUNTS_MAX)
        h->o.n_accounts = 0;
    for (int k = 0; k < h->o.n_accounts; k++) /* nor with a weak or nameless account */
        if (!h->o.accounts[k].name[0] || cn_proctor_token_check(h->o.accounts[k].token, NULL, 0))
            h->account_revoked[k] = true;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->tmu, NULL);
    h->next_id = 1;
    cn_strlcpy(h->nerve_state, "none", sizeof h->nerve_state);
    cn_strlcpy(h->nerve_target, "none", sizeof h->nerve_target);
    return h;
}

void cn_proctor_hub_free(cn_proctor_hub *h)
{
    if (!h)
        return;
    for (int k = 0; k < CN__SURFACES_MAX; k++) {
        free(h->surf[k].xyz);
        free(h->surf[k].tri);
    }
    free(h->clients);
    /* wipe the secrets before the memory goes back */
    volatile char *t = h->o.token;
    for (size_t i = 0; i < sizeof h->o.token; i++)
        t[i] = 0;
    for (int k = 0; k < CN_PROCTOR_ACCOUNTS_MAX; k++) {
        volatile char *a = h->o.accounts[k].token;
        for (size_t i = 0; i < sizeof h->o.accounts[k].token; i++)
            a[i] = 0;
    }
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->tmu);
    free(h);
}

bool cn_proctor_has_token(cn_proctor_hub *h)
{
    return h && (h->o.token[0] || h->o.n_accounts > 0);
}

/* Which configured token this is: an account's index, -1 the shared token, -2
 * none. Every token is compared (each in constant time), so the time taken does
 * not say which one, or whether any, matched. */
static int token_match(const cn_proctor_hub *h, const char *token)
{
    int m = -2;
    if (!token)
        return m;
    if (h->o.token[0] && cn__proctor_token_equal(token, h->o.token))
        m = -1;
    for (int k = 0; k < h->o.n_accounts; k++)
        if (cn__proctor_token_equal(token, h->o.accounts[k].token))
            m = k;
    return m;
}

int cn_proctor_add_transport(cn_proctor_hub *h, const cn_proctor_transport *t)
{
    if (!h || !t || !t->kick)
        return CN_EINVAL;
    int r = CN_OK;
    pthread_mutex_lock(&h->tmu);
    if (h->n_transports == CN__TRANSPORTS_MAX)
        r = CN_ENOMEM;
    else
        h->transports[h->n_transports++] = *t;
    pthread_mutex_unlock(&h->tmu);
    return r;
}

void cn_proctor_remove_transport(cn_proctor_hub *h, void *self)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->tmu);
    for (int i = 0; i < h->n_transports;)
        if (h->transports[i].self == self)
            h->transports[i] = h->transports[--h->n_transports];
        else
            i++;
    pthread_mutex_unlock(&h->tmu);
}

/* ------------------------------------------------------------------ clients */

cn__client *cn__proctor_find(cn_proctor_hub *h, uint64_t id)
{
    for (int i = 0; i < h->n_clients; i++)
        if (h->clients[i].info.id == id)
            return &h->clients[i];
    return NULL;
}

void cn__proctor_who(const cn__client *c, char *out, size_t len)
{
    if (c->info.name[0])
        snprintf(out, len, "%s (client %llu)", c->info.name, (unsigned long long)c->info.id);
    else
        snprintf(out, len, "client %llu", (unsigned long long)c->info.id);
}

uint64_t cn_proctor_client_open(cn_proctor_hub *h, const char *transport, const char *peer)
{
    if (!h)
        return 0;
    uint64_t id = 0;
    pthread_mutex_lock(&h->mu);
    if (h->n_clients == h->cap_clients) {
        int cap = h->cap_clients ? 2 * h->cap_clients : 16;
        cn__client *nc = realloc(h->clients, (size_t)cap * sizeof *nc);
        if (nc) {
            h->clients = nc;
            h->cap_clients = cap;
        }
    }
    if (h->n_clients < h->cap_clients) {
        cn__client *c = &h->clients[h->n_clients++];
        memset(c, 0, sizeof *c);
        c->info.id = id = h->next_id++;
        cn_strlcpy(c->info.transport, transport ? transport : "?", sizeof c->info.transport);
        cn_strlcpy(c->info.peer, peer ? peer : "?", sizeof c->info.peer);
        cn_proctor_sanitise(c->info.peer);
        c->info.role = CN_PROCTOR_VIEWER;
        c->info.connected_wall_ns = cn_clock_wall_ns();
    }
    pthread_mutex_unlock(&h->mu);
    return id;
}

void cn_proctor_client_close(cn_proctor_hub *h, uint64_t id)
{
    if (!h)
        return;
    char who[CN_PROCTOR_NAME_MAX + 32] = "";
    bool was_proctor = false;
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    if (c) {
        was_proctor = c->info.role == CN_PROCTOR_PROCTOR;
        cn__proctor_who(c, who, sizeof who);
        *c = h->clients[--h->n_clients];
    }
    pthread_mutex_unlock(&h->mu);
    if (was_proctor)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, true, "proctor %s left", who);
}

cn_proctor_role cn_proctor_client_role(cn_proctor_hub *h, uint64_t id)
{
    if (!h)
        return CN_PROCTOR_VIEWER;
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    cn_proctor_role r = c ? c->info.role : CN_PROCTOR_VIEWER;
    pthread_mutex_unlock(&h->mu);
    return r;
}

int cn_proctor_clients(cn_proctor_hub *h, cn_proctor_client_info *out, int max)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    int n = h->n_clients;
    for (int i = 0; i < n && i < max && out; i++)
        out[i] = h->clients[i].info;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ------------------------------------------------------------------ login */

/* The address part of a peer "host:port" ("[v6]:port" too). */
static void peer_addr(const char *peer, char *out, size_t len)
{
    cn_strlcpy(out, peer ? peer : "", len);
    char *colon = strrchr(out, ':');
    if (colon && strchr(out, ':') == colon)
        *colon = 0; /* one colon: IPv4 or a name, with its port */
    else if (out[0] == '[' && (colon = strstr(out, "]:")) != NULL)
        *colon = 0, memmove(out, out + 1, strlen(out));
}

/* The wrong-token record of an address, made (or taken over from the least
 * recently used) when missing. mu held. */
static cn__peer *peer_for(cn_proctor_hub *h, const char *addr, int64_t now_ns)
{
    cn__peer *lru = &h->peers[0];
    for (int i = 0; i < CN__PEERS_MAX; i++) {
        cn__peer *p = &h->peers[i];
        if (p->addr[0] && strcmp(p->addr, addr) == 0) {
            p->used_ns = now_ns;
            return p;
        }
        if (!p->addr[0] || p->used_ns < lru->used_ns)
            lru = p;
        if (!p->addr[0])
            break;
    }
    memset(lru, 0, sizeof *lru);
    cn_strlcpy(lru->addr, addr, sizeof lru->addr);
    lru->used_ns = now_ns;
    return lru;
}

/* Rates of wrong tokens: an address may miss max_failed_logins times at once, then
 * one per 1 / logins.per_s seconds; the whole hub six times that, four times as
 * fast. */
static cn_proctor_rate wrong_rate(const cn_proctor_hub *h, bool whole_hub)
{
    double burst = h->o.max_failed_logins > 0 ? h->o.max_failed_logins : 5;
    double per_s = h->o.logins.per_s > 0 ? h->o.logins.per_s : 0.5;
    return whole_hub ? (cn_proctor_rate){4 * per_s, 6 * burst} : (cn_proctor_rate){per_s, burst};
}

cn_proctor_verdict cn_proctor_login(cn_proctor_hub *h, uint64_t id, const char *token,
                                    const char *name, char *msg, size_t msg_len)
{
    char dummy[8];
    if (!msg || msg_len == 0) {
        msg = dummy;
        msg_len = sizeof dummy;
    }
    if (!h) {
        snprintf(msg, msg_len, "no proctor hub");
        return CN_PROCTOR_DENIED;
    }
    cn_proctor_verdict v = CN_PROCTOR_DENIED;
    char who[CN_PROCTOR_NAME_MAX + 32] = "", peer[64] = "", claimed[CN_PROCTOR_NAME_MAX] = "";
    unsigned long long fails = 0;
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    int m = -2;
    const int64_t now_ns = cn_clock_mono_ns();
    char addr[48] = "";
    cn__peer *pe = NULL;
    const cn_proctor_rate r_peer = wrong_rate(h, false), r_all = wrong_rate(h, true);
    const char *paused = NULL; /* set when this attempt starts a pause worth a log line */
    if (c) {
        peer_addr(c->info.peer, addr, sizeof addr);
        pe = peer_for(h, addr, now_ns);
    }
    if (!c) {
        snprintf(msg, msg_len, "unknown client");
    } else if (!cn__bucket_take(&c->logins, &h->o.logins, now_ns)) {
        c->info.refused++;
        v = CN_PROCTOR_LIMITED;
        snprintf(msg, msg_len, "too many login attempts: wait and try again");
    } else if (!cn__bucket_peek(&pe->wrong, &r_peer, now_ns)) {
        c->info.refused++;
        v = CN_PROCTOR_LIMITED;
        snprintf(msg, msg_len,
                 "too many wrong tokens from %s: logins from it paused, try again later", addr);
        if (!pe->paused)
            paused = msg;
        pe->paused = true;
    } else if (!cn__bucket_peek(&h->wrong_all, &r_all, now_ns)) {
        c->info.refused++;
        v = CN_PROCTOR_LIMITED;
        snprintf(msg, msg_len, "too many wrong tokens on this server (latest from %s): logins "
                 "paused, try again later", addr);
        if (!h->wrong_all_paused)
            paused = msg;
        h->wrong_all_paused = true;
    } else if (!h->o.token[0] && h->o.n_accounts == 0) {
        snprintf(msg, msg_len, "proctor logins are off: the operator set no proctor token");
    } else if (h->locked) {
        snprintf(msg, msg_len, "proctor logins are locked by the operator");
    } else if ((m = token_match(h, token)) == -2 || (m >= 0 && h->account_revoked[m])) {
        c->info.failed_logins++;
        fails = c->info.failed_logins;
        if (m == -2) { /* a guess: it counts for the address and the hub */
            cn__bucket_take(&pe->wrong, &r_peer, now_ns);
            cn__bucket_take(&h->wrong_all, &r_all, now_ns);
            pe->paused = false;
            h->wrong_all_paused = false;
        }
        v = (int)fails >= h->o.max_failed_logins ? CN_PROCTOR_DROP : CN_PROCTOR_DENIED;
        snprintf(msg, msg_len, m == -2 ? "wrong token" : "this proctor account was revoked by the operator");
    } else {
        v = CN_PROCTOR_DONE;
        c->info.role = CN_PROCTOR_PROCTOR;
        if (name && name[0]) {
            cn_strlcpy(claimed, name, sizeof claimed);
            cn_proctor_sanitise_name(claimed);
        }
        if (m >= 0) { /* the credential names the proctor, not the client */
            cn_strlcpy(c->info.account, h->o.accounts[m].name, sizeof c->info.account);
            cn_strlcpy(c->info.name, h->o.accounts[m].name, sizeof c->info.name);
            if (strcmp(claimed, c->info.name) == 0)
                claimed[0] = 0;
        } else {
            /* the shared token: the name typed is all there is, but never an
             * account's name (that would pass a guest off as the account holder) */
            bool taken = strstr(claimed, "(client") != NULL; /* "<account> (client 4)" */
            for (int k = 0; k < h->o.n_accounts; k++) {
                char acc[CN_PROCTOR_NAME_MAX];
                cn_strlcpy(acc, h->o.accounts[k].name, sizeof acc);
                cn_proctor_sanitise_name(acc);
                taken |= strcasecmp(claimed, acc) == 0;
            }
            c->info.account[0] = 0;
            if (claimed[0] && !taken)
                cn_strlcpy(c->info.name, claimed, sizeof c->info.name);
            if (!taken)
                claimed[0] = 0;
        }
        snprintf(msg, msg_len, "proctor rights granted");
    }
    if (c) {
        cn__proctor_who(c, who, sizeof who);
        cn_strlcpy(peer, c->info.peer, sizeof peer);
    }
    char pause_line[200] = "";
    if (paused)
        cn_strlcpy(pause_line, paused, sizeof pause_line);
    pthread_mutex_unlock(&h->mu);
    if (pause_line[0]) /* once per pause, past the log bound: the operator must see it */
        cn_proctor_logf(h, MOD, CN_LOG_WARN, true, "%s from %s: proctor login refused: %s "
                        "(someone guessing the token?)", who, peer, pause_line);
    if (v == CN_PROCTOR_DONE)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, true, "%s from %s logged in as a proctor (%s%s%s%s)",
                        who, peer, m >= 0 ? "personal account" : "shared token",
                        claimed[0] ? "; it calls itself \"" : "", claimed,
                        !claimed[0] ? "" : m >= 0 ? "\"" : "\", an account's name: not shown");
    else if (v != CN_PROCTOR_LIMITED)
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "%s from %s: proctor login refused: %s%s", who,
                        peer, msg,
                        v == CN_PROCTOR_DROP ? "; too many failures, disconnecting" : "");
    return v;
}

void cn_proctor_logout(cn_proctor_hub *h, uint64_t id)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    bool was = c && c->info.role == CN_PROCTOR_PROCTOR;
    if (c) {
        c->info.role = CN_PROCTOR_VIEWER;
        c->info.account[0] = 0;
    }
    pthread_mutex_unlock(&h->mu);
    if (was)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, true, "client %llu logged out: viewer again",
                        (unsigned long long)id);
}

/* ------------------------------------------------------------------ notes and targets */

static void queue_push(cn_proctor_hub *h, const cn_proctor_item *it)
{
    if (h->q_n == CN__QUEUE_MAX) {   /* nobody drains: keep the newest */
        h->q_head = (h->q_head + 1) % CN__QUEUE_MAX;
        h->q_n--;
        h->q_dropped++;
    }
    h->queue[(h->q_head + h->q_n) % CN__QUEUE_MAX] = *it;
    h->q_n++;
    h->last = *it;
    h->have_last = true;
}

/* Common gate for notes and targets: role, then rate. mu held. */
static cn_proctor_verdict gate(cn_proctor_hub *h, cn__client *c)
{
    if (!c)
        return CN_PROCTOR_DENIED;
    if (c->info.role != CN_PROCTOR_PROCTOR) {
        c->info.refused++;
        return CN_PROCTOR_DENIED;
    }
    if (!cn__bucket_take(&c->notes, &h->o.notes, cn_clock_mono_ns())) {
        c->info.refused++;
        return CN_PROCTOR_LIMITED;
    }
    return CN_PROCTOR_DONE;
}

cn_proctor_verdict cn_proctor_note(cn_proctor_hub *h, uint64_t id, const char *text)
{
    if (!h || !text)
        return CN_PROCTOR_DENIED;
    cn_proctor_item it = {.kind = CN_PROCTOR_ITEM_NOTE, .client_id = id,
                          .t_wall_ns = cn_clock_wall_ns()};
    cn_strlcpy(it.text, text, sizeof it.text);
    cn_proctor_sanitise(it.text);
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    cn_proctor_verdict v = gate(h, c);
    if (v == CN_PROCTOR_DONE) {
        c->info.notes++;
        cn__proctor_who(c, it.from, sizeof it.from);
        queue_push(h, &it);
    }
    pthread_mutex_unlock(&h->mu);
    if (v == CN_PROCTOR_DONE)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, false, "proctor %s: note %s", it.from, it.text);
    else if (v == CN_PROCTOR_LIMITED)
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "client %llu: note refused (over %.1f/s)",
                        (unsigned long long)id, h->o.notes.per_s);
    return v;
}

#define ECHO_MM 1.0
#define ECHO_NS 3000000000LL

void cn_proctor_target_sent(cn_proctor_hub *h, const double pos_mm[3])
{
    if (!h || !pos_mm)
        return;
    const int64_t now = cn_clock_mono_ns();
    pthread_mutex_lock(&h->mu);
    int newest = (h->sent_head + h->sent_n - 1 + CN__SENT_MAX) % CN__SENT_MAX;
    if (h->sent_n > 0 && fabs(h->sent_pos[newest][0] - pos_mm[0]) < 0.05 &&
        fabs(h->sent_pos[newest][1] - pos_mm[1]) < 0.05 &&
        fabs(h->sent_pos[newest][2] - pos_mm[2]) < 0.05) {
        h->sent_ns[newest] = now; /* the same point again (a still nerve, each version) */
    } else {
        if (h->sent_n == CN__SENT_MAX) {
            h->sent_head = (h->sent_head + 1) % CN__SENT_MAX;
            h->sent_n--;
        }
        int k = (h->sent_head + h->sent_n) % CN__SENT_MAX;
        memcpy(h->sent_pos[k], pos_mm, sizeof h->sent_pos[k]);
        h->sent_ns[k] = now;
        h->sent_n++;
    }
    pthread_mutex_unlock(&h->mu);
}

/* Whether pos is a NerveTarget sent lately (mu held). */
static bool target_echo(const cn_proctor_hub *h, const double pos[3], int64_t now)
{
    for (int i = 0; i < h->sent_n; i++) {
        int k = (h->sent_head + i) % CN__SENT_MAX;
        double dx = h->sent_pos[k][0] - pos[0], dy = h->sent_pos[k][1] - pos[1],
               dz = h->sent_pos[k][2] - pos[2];
        if (now - h->sent_ns[k] <= ECHO_NS && dx * dx + dy * dy + dz * dz <= ECHO_MM * ECHO_MM)
            return true;
    }
    return false;
}

cn_proctor_verdict cn_proctor_target(cn_proctor_hub *h, uint64_t id, const char *name,
                                     const double pos_mm[3])
{
    if (!h || !pos_mm)
        return CN_PROCTOR_DENIED;
    cn_proctor_item it = {.kind = CN_PROCTOR_ITEM_TARGET, .client_id = id,
                          .t_wall_ns = cn_clock_wall_ns()};
    cn_strlcpy(it.text, name ? name : "", sizeof it.text);
    cn_proctor_sanitise(it.text);
    bool finite = true;
    for (int k = 0; k < 3; k++) {
        it.pos_mm[k] = pos_mm[k];
        finite = finite && pos_mm[k] == pos_mm[k] && pos_mm[k] < 1e6 && pos_mm[k] > -1e6;
    }
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    if (finite && c && c->info.role == CN_PROCTOR_PROCTOR && name &&
        strcmp(name, "NerveTarget") == 0 && target_echo(h, pos_mm, cn_clock_mono_ns())) {
        pthread_mutex_unlock(&h->mu);
        return CN_PROCTOR_DONE; /* our own point sent back: nothing to change */
    }
    cn_proctor_verdict v = finite ? gate(h, c) : CN_PROCTOR_DENIED;
    if (v == CN_PROCTOR_DONE) {
        c->info.targets++;
        cn__proctor_who(c, it.from, sizeof it.from);
        queue_push(h, &it);
    }
    pthread_mutex_unlock(&h->mu);
    if (v == CN_PROCTOR_DONE)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, false, "proctor %s: target %s (%.1f, %.1f, %.1f) mm",
                        it.from, it.text, pos_mm[0], pos_mm[1], pos_mm[2]);
    return v;
}

int cn_proctor_take(cn_proctor_hub *h, cn_proctor_item *out)
{
    if (!h || !out)
        return 0;
    int got = 0;
    pthread_mutex_lock(&h->mu);
    if (h->q_n > 0) {
        *out = h->queue[h->q_head];
        h->q_head = (h->q_head + 1) % CN__QUEUE_MAX;
        h->q_n--;
        got = 1;
    }
    pthread_mutex_unlock(&h->mu);
    return got;
}

/* Revoke, the operator's selection and the HUD line: proctor_operator.c. */

static void sink_consume(void *self, cn_frame *f)
{
    cn_proctor_hub *h = self;
    if (!f->analysed)
        return;
    const cn_contour *n = &f->analysis.nerve;
    const char *ns = n->hidden ? "hidden" : n->held ? "held" : n->found ? "found" : "none";
    /* the point as the stage follows it (image mm: lateral, depth from the image's top
     * left), so that a proctor without Slicer's markups can read it too */
    char nt[sizeof h->nerve_target] = "none";
    const cn_pt2 t = f->analysis.nerve_target_mm;
    if (f->analysis.nerve_target_set && isfinite(t.x) && isfinite(t.y) && fabsf(t.x) < 1e6f &&
        fabsf(t.y) < 1e6f)
        snprintf(nt, sizeof nt, "%.1f,%.1f", t.x, t.y);
    pthread_mutex_lock(&h->mu);
    h->state = f->analysis.guidance;
    h->have_state = true;
    cn_strlcpy(h->nerve_state, ns, sizeof h->nerve_state);
    cn_strlcpy(h->nerve_target, nt, sizeof h->nerve_target);
    pthread_mutex_unlock(&h->mu);
}

cn_sink cn_proctor_sink(cn_proctor_hub *h)
{
    return (cn_sink){.name = "proctor", .self = h, .consume = sink_consume};
}
