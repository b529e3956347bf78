/*
 * proctor_login.c - a client becomes a proctor by a credential, and guessing one is
 * bounded.
 *
 * The idea: a login compares the token presented with every configured token, each
 * in constant time (token_match), so neither the time nor the answer says which came
 * close; the account whose token it is names the proctor, whatever name the client
 * sends. A guess costs: per connection (the logins bucket, max_failed_logins), per
 * peer address and for the whole hub across connections (cn__peer, wrong_all), since
 * a guesser can open a new connection for every few guesses (an outside audit had
 * ~7,000 guesses a second from one local client before the per-address and hub
 * bounds). A generated token (cn_proctor_token_strong) passes those pauses: they are
 * there for weak tokens, and they kept the real proctor out as long as a guesser on
 * its address went on. Split from proctor_hub.c (clients, notes and targets).
 */
#include "proctor_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MOD "proctor"

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

/* Whether text holds any configured token (a proctor's note must not carry one: a note is
 * broadcast to every viewer and recorded). Each token is searched, so the time does not say
 * which. mu held. */
bool cn__proctor_holds_token(const cn_proctor_hub *h, const char *text)
{
    bool held = false;
    if (!text)
        return false;
    if (h->o.token[0] && strstr(text, h->o.token))
        held = true;
    for (int k = 0; k < h->o.n_accounts; k++)
        if (h->o.accounts[k].token[0] && strstr(text, h->o.accounts[k].token))
            held = true;
    return held;
}

/* A guest's name (the shared token: the name typed is all there is) keeps its printable
 * ASCII only, as an account's name is ASCII: no letter can then pass for another. Before,
 * a guest "Dr Lee" + U+200B, + U+00A0 or with a Cyrillic e showed as the account holder
 * "Dr Lee" in the logs, the notes and the recording (the thirty-sixth session's review). */
static void guest_name(char *name)
{
    char *o = name;
    for (const char *i = name; *i; i++)
        if ((unsigned char)*i >= 0x20 && (unsigned char)*i < 0x7f)
            *o++ = *i;
    *o = 0;
    cn_proctor_sanitise_name(name); /* blanks collapsed again */
}

/* A name's skeleton: its letters and digits, lower case, with the ASCII look-alikes made
 * one ("Dr. Lee", "dr lee" and "Dr LEE" are one; so are I, l, 1 and |, O and 0, rn and m,
 * vv and w: "Dr AIi" passed for "Dr Ali", "Dr Kirn" for "Dr Kim" and "(cIient 4)" got
 * past the "client" check, the review of the change). */
static void skeleton(const char *name, char *out, size_t len)
{
    size_t n = 0;
    for (const char *i = name; *i && n + 1 < len; i++) {
        char ch = (char)tolower((unsigned char)*i);
        if (ch == '|')
            ch = 'l';
        if (!isalnum((unsigned char)ch))
            continue;
        if (ch == 'i' || ch == '1')
            ch = 'l';
        else if (ch == '0')
            ch = 'o';
        if (n > 0 && ((out[n - 1] == 'r' && ch == 'n') || (out[n - 1] == 'v' && ch == 'v'))) {
            out[n - 1] = ch == 'n' ? 'm' : 'w';
            continue;
        }
        out[n++] = ch;
    }
    out[n] = 0;
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
    /* blanks around the token are not part of it, as the token file's reader trims them:
     * "token\n" (a pasted line) was a wrong guess that fed the lockout (the thirty-sixth
     * session's review). A token longer than any configured one stays wrong. */
    char trimmed[CN_PROCTOR_TOKEN_MAX + 2] = "";
    if (token) {
        while (*token == ' ' || *token == '\t' || *token == '\r' || *token == '\n')
            token++;
        size_t tl = strlen(token);
        while (tl > 0 && strchr(" \t\r\n", token[tl - 1]))
            tl--;
        /* trimmed before any cut: one past the longest token stays wrong whatever follows */
        memcpy(trimmed, token, tl < sizeof trimmed - 1 ? tl : sizeof trimmed - 1);
        token = trimmed;
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
    bool peer_open = true, hub_open = true, strong = false;
    if (c) {
        peer_addr(c->info.peer, addr, sizeof addr);
        pe = peer_for(h, addr, now_ns);
        peer_open = cn__bucket_peek(&pe->wrong, &r_peer, now_ns);
        hub_open = cn__bucket_peek(&h->wrong_all, &r_all, now_ns);
        /* A pause holds up the guesser and the real proctor on its address alike (every
         * tunnel arrives from 127.0.0.1: a guesser kept the proctor out for as long as it
         * went on). A token no one can guess passes it; any other answer in a pause is
         * the pause's, so a weaker token learns nothing from it either. */
        if ((!peer_open || !hub_open) && !h->locked) {
            int k = token_match(h, token);
            strong = k == -1 ? h->token_strong
                     : k >= 0 ? h->account_strong[k] && !h->account_revoked[k]
                              : false;
        }
    }
    if (!c) {
        snprintf(msg, msg_len, "unknown client");
    } else if (!cn__bucket_take(&c->logins, &h->o.logins, now_ns)) {
        c->info.refused++;
        v = CN_PROCTOR_LIMITED;
        snprintf(msg, msg_len, "too many login attempts: wait and try again");
    } else if (!peer_open && !strong) {
        c->info.refused++;
        v = CN_PROCTOR_LIMITED;
        snprintf(msg, msg_len,
                 "too many wrong tokens from %s: logins from it paused, try again later", addr);
        if (!pe->paused)
            paused = msg;
        pe->paused = true;
    } else if (!hub_open && !strong) {
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
        /* a proctor already: the earlier login stands, and the reply says so (before, a bare
         * "wrong token" read as rights lost: the thirty-sixth session's review) */
        const bool still = c->info.role == CN_PROCTOR_PROCTOR;
        snprintf(msg, msg_len, "%s%s",
                 m == -2 ? "wrong token" : "this proctor account was revoked by the operator",
                 still ? " (the proctor rights of this connection's earlier login stand)" : "");
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
             * account's name, however spelt (that would pass a guest off as the
             * account holder), nor one that says "client" (the logs' "<name> (client
             * 4)" is how a connection is told apart) */
            guest_name(claimed);
            char sk[CN_PROCTOR_NAME_MAX], cl[16];
            skeleton(claimed, sk, sizeof sk);
            skeleton("client", cl, sizeof cl);
            bool taken = strstr(sk, cl) != NULL;
            for (int k = 0; k < h->o.n_accounts; k++) {
                char acc[CN_PROCTOR_NAME_MAX];
                skeleton(h->o.accounts[k].name, acc, sizeof acc);
                taken |= acc[0] && strcmp(sk, acc) == 0;
            }
            c->info.account[0] = 0;
            /* a name refused (or none) leaves none, never the connection's earlier one: an
             * account's login, a logout and then the shared token kept "Dr Lee" */
            cn_strlcpy(c->info.name, claimed[0] && !taken ? claimed : "", sizeof c->info.name);
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

