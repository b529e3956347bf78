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
 * the HUD line) lives in proctor_operator.c; logins, and the bound on guessing,
 * in proctor_login.c.
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
    const int64_t now = cn_clock_mono_ns();
    bool pass = cn__bucket_take(&h->log_bucket, &h->o.log, now) || important;
    uint64_t dropped = 0;
    /* the count of lines dropped, at most once a second: written with every line that
     * passed, it doubled the bound (43 lines/s for 20: the thirty-sixth session's review) */
    if (pass && h->log_suppressed && now - h->log_dropped_said_ns >= 1000000000LL) {
        dropped = h->log_suppressed;
        h->log_suppressed = 0;
        h->log_dropped_said_ns = now;
    } else if (!pass) {
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
    /* a token a person chose waits out the pauses a guesser causes on its address
     * (proctor_login.c): say so once, with the way to make one that does not */
    h->token_strong = h->o.token[0] && cn_proctor_token_strong(h->o.token);
    int weak = h->o.token[0] && !h->token_strong;
    for (int k = 0; k < h->o.n_accounts; k++) {
        h->account_strong[k] = cn_proctor_token_strong(h->o.accounts[k].token);
        weak += !h->account_revoked[k] && !h->account_strong[k];
    }
    if (weak)
        cn_proctor_logf(h, "proctor", CN_LOG_INFO, true,
                        "%d proctor token%s not generated (24+ characters, 16 different, of "
                        "three kinds, or of two from 32): a proctor with it waits while wrong "
                        "tokens from its address are paused; `head -c 24 /dev/urandom | base64` "
                        "makes one that does not", weak, weak == 1 ? " is" : "s are");
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

/* A refusal said in the log: the first of a client's, then every 10th, 100th...
 * (a viewer's notes and POINTs were refused without a line: igtl audit D16). */
static bool refusal_logged(uint64_t refused)
{
    return refused == 1 || refused == 10 || refused == 100 || refused == 1000 ||
           (refused > 0 && refused % 10000 == 0);
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
    const uint64_t refused = c ? c->info.refused : 0;
    /* a note is broadcast to every viewer and recorded: one that holds a token (a login
     * sent under another name, e.g. Slicer's second "ProctorLogin_1") would hand proctor
     * rights to everyone watching (the thirty-sixth session's review) */
    /* the whole text, before the cut to the note's size (a token at byte 187 went out as
     * its first 14 characters); the refusal counts as a failed login, so the check is no
     * cheaper an oracle for a token than a login is (the review of the change) */
    const bool secret = v == CN_PROCTOR_DONE && cn__proctor_holds_token(h, text);
    if (secret) {
        v = CN_PROCTOR_DENIED;
        c->info.refused++;
        c->info.failed_logins++;
        if ((int)c->info.failed_logins >= h->o.max_failed_logins) /* as a login: closed */
            v = CN_PROCTOR_DROP;
    }
    if (v == CN_PROCTOR_DONE) {
        c->info.notes++;
        cn__proctor_who(c, it.from, sizeof it.from);
        queue_push(h, &it);
    }
    pthread_mutex_unlock(&h->mu);
    if (v == CN_PROCTOR_DONE)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, false, "proctor %s: note %s", it.from, it.text);
    else if (secret)
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "client %llu: note refused: it holds a proctor "
                        "token (not shown, not sent, not recorded; log in with a STRING named "
                        "ProctorLogin)", (unsigned long long)id);
    else if (v == CN_PROCTOR_DENIED && c && refusal_logged(refused))
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "client %llu: note refused: not a proctor "
                        "(%llu refused so far; proctors log in with the token)",
                        (unsigned long long)id, (unsigned long long)refused);
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
    if (!finite && c)
        c->info.refused++;
    const uint64_t refused = c ? c->info.refused : 0;
    const bool viewer = c && c->info.role != CN_PROCTOR_PROCTOR;
    if (v == CN_PROCTOR_DONE) {
        c->info.targets++;
        cn__proctor_who(c, it.from, sizeof it.from);
        queue_push(h, &it);
    }
    pthread_mutex_unlock(&h->mu);
    if (v == CN_PROCTOR_DONE)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, false, "proctor %s: target %s (%.1f, %.1f, %.1f) mm",
                        it.from, it.text, pos_mm[0], pos_mm[1], pos_mm[2]);
    else if (v == CN_PROCTOR_DENIED && c && refusal_logged(refused))
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "client %llu: target %s refused: %s (%llu "
                        "refused so far)", (unsigned long long)id, it.text,
                        viewer ? "not a proctor (proctors log in with the token)"
                               : "its position is not a number",
                        (unsigned long long)refused);
    else if (v == CN_PROCTOR_LIMITED && refusal_logged(refused))
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "client %llu: target refused (over %.1f/s)",
                        (unsigned long long)id, h->o.notes.per_s);
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
