/*
 * proctor_operator.c - what the operator at the table does about the link:
 * revoke, select one proctor, and the one HUD line that shows it all.
 *
 * The idea: the operator has a keyboard and a glance, not a console, so every
 * action here is one call the viewer binds to a key, and its outcome is a short
 * sentence that goes to the log (always: revokes are important lines) and to the
 * HUD for a few seconds, so the operator sees what the key did. Revoking
 * everyone (`x`) also locks logins; revoking one person works by *selection*:
 * Tab steps through the connected proctors (the HUD names the selected one) and
 * `k` revokes that one's account for the session, leaving the others connected.
 * A selection holds only while its client is a connected proctor: after a
 * revoke nothing is selected, so a second press (a bounce, a nervous double
 * tap) revokes nobody rather than the next proctor in line. Clients are closed
 * through their transport's kick callback, called under `tmu` only (see
 * proctor_priv.h for the lock order).
 */
#include "proctor_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MOD "proctor"

/* The outcome of an operator's action: to the HUD (for CN__OP_MSG_NS), to out
 * (may be NULL) and to the log as an important line, prefixed "operator: " there. */
static void op_say(cn_proctor_hub *h, cn_log_level level, char *out, size_t out_len,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void op_say(cn_proctor_hub *h, cn_log_level level, char *out, size_t out_len,
                   const char *fmt, ...)
{
    char text[sizeof h->op_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cn_proctor_sanitise(text);
    pthread_mutex_lock(&h->mu);
    cn_strlcpy(h->op_msg, text, sizeof h->op_msg);
    h->op_msg_ns = cn_clock_mono_ns();
    pthread_mutex_unlock(&h->mu);
    if (out && out_len)
        cn_strlcpy(out, text, out_len);
    cn_proctor_logf(h, MOD, level, true, "operator: %s", text);
}

/* ------------------------------------------------------------------ revoke */

/* Revokes the proctors that match (a client id, 0 = all; or an account: acct >=
 * 0) and kicks their connections; returns how many, or CN_EINVAL when the
 * account was already revoked (then nothing changes: checked under the same lock
 * that sets it, so two operators' calls cannot both revoke it). */
static int revoke_where(cn_proctor_hub *h, uint64_t id, int acct, bool lock)
{
    uint64_t ids[64];
    char tr[64][16];
    int n = 0;
    pthread_mutex_lock(&h->tmu);
    pthread_mutex_lock(&h->mu);
    if (acct >= 0 && h->account_revoked[acct]) {
        pthread_mutex_unlock(&h->mu);
        pthread_mutex_unlock(&h->tmu);
        return CN_EINVAL;
    }
    if (lock)
        h->locked = true;
    if (acct >= 0)
        h->account_revoked[acct] = true;
    for (int i = 0; i < h->n_clients && n < 64; i++) {
        cn__client *c = &h->clients[i];
        bool match = acct >= 0 ? strcmp(c->info.account, h->o.accounts[acct].name) == 0
                               : (id == 0 || c->info.id == id);
        if (c->info.role == CN_PROCTOR_PROCTOR && match) {
            c->info.role = CN_PROCTOR_VIEWER;
            ids[n] = c->info.id;
            cn_strlcpy(tr[n], c->info.transport, sizeof tr[n]);
            n++;
        }
    }
    pthread_mutex_unlock(&h->mu);
    for (int k = 0; k < n; k++)
        for (int t = 0; t < h->n_transports; t++)
            if (strcmp(h->transports[t].name, tr[k]) == 0)
                h->transports[t].kick(h->transports[t].self, ids[k], "proctor rights revoked by the operator");
    pthread_mutex_unlock(&h->tmu);
    return n;
}

int cn_proctor_revoke(cn_proctor_hub *h, uint64_t id, bool lock)
{
    if (!h)
        return 0;
    int n = revoke_where(h, id, -1, lock);
    cn_proctor_logf(h, MOD, CN_LOG_WARN, true, "operator revoked %d proctor%s%s", n, n == 1 ? "" : "s",
                    lock ? "; proctor logins locked until unlocked (key X)" : "");
    return n;
}

int cn_proctor_revoke_account(cn_proctor_hub *h, const char *account, char *msg, size_t msg_len)
{
    if (msg && msg_len)
        msg[0] = 0;
    if (!h || !account)
        return CN_EINVAL;
    int k = 0;
    while (k < h->o.n_accounts && strcmp(h->o.accounts[k].name, account) != 0)
        k++;
    if (k == h->o.n_accounts) {
        char names[120] = "";
        for (int j = 0; j < h->o.n_accounts; j++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "", h->o.accounts[j].name);
        }
        char given[CN_PROCTOR_NAME_MAX];
        cn_strlcpy(given, account, sizeof given);
        op_say(h, CN_LOG_WARN, msg, msg_len, "no proctor account named \"%s\" (%s%s): nothing revoked",
               given, h->o.n_accounts ? "accounts: " : "no accounts configured", names);
        return CN_ENOENT;
    }
    int n = revoke_where(h, 0, k, false);
    if (n == CN_EINVAL) {
        op_say(h, CN_LOG_WARN, msg, msg_len,
               "proctor account \"%s\" was already revoked: nothing changed", h->o.accounts[k].name);
        return CN_EINVAL;
    }
    cn_proctor_logf(h, MOD, CN_LOG_WARN, true,
                    "operator revoked proctor account \"%s\" for this session (%d client%s)",
                    h->o.accounts[k].name, n, n == 1 ? "" : "s");
    char text[sizeof h->op_msg];
    snprintf(text, sizeof text, "revoked account %s: %d client%s disconnected, its token refused",
             h->o.accounts[k].name, n, n == 1 ? "" : "s");
    pthread_mutex_lock(&h->mu);
    cn_strlcpy(h->op_msg, text, sizeof h->op_msg);
    h->op_msg_ns = cn_clock_mono_ns();
    pthread_mutex_unlock(&h->mu);
    if (msg && msg_len)
        cn_strlcpy(msg, text, msg_len);
    return n;
}

void cn_proctor_unlock(cn_proctor_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    bool was = h->locked;
    h->locked = false;
    pthread_mutex_unlock(&h->mu);
    if (was)
        cn_proctor_logf(h, MOD, CN_LOG_INFO, true, "operator unlocked proctor logins");
}

bool cn_proctor_locked(cn_proctor_hub *h)
{
    if (!h)
        return false;
    pthread_mutex_lock(&h->mu);
    bool l = h->locked;
    pthread_mutex_unlock(&h->mu);
    return l;
}

/* ------------------------------------------------------------------ selection */

/* The selected client when it is still a connected proctor, else NULL (and the
 * selection is forgotten). mu held. */
static const cn__client *selected_proctor(cn_proctor_hub *h)
{
    const cn__client *c = h->selected ? cn__proctor_find(h, h->selected) : NULL;
    if (c && c->info.role == CN_PROCTOR_PROCTOR)
        return c;
    h->selected = 0;
    return NULL;
}

uint64_t cn_proctor_select_next(cn_proctor_hub *h)
{
    if (!h)
        return 0;
    /* ids grow with every connection, so "next id" is "next to have connected",
     * whatever order the client table is in */
    pthread_mutex_lock(&h->mu);
    const cn__client *first = NULL, *next = NULL;
    for (int i = 0; i < h->n_clients; i++) {
        const cn__client *c = &h->clients[i];
        if (c->info.role != CN_PROCTOR_PROCTOR)
            continue;
        if (!first || c->info.id < first->info.id)
            first = c;
        if (c->info.id > h->selected && (!next || c->info.id < next->info.id))
            next = c;
    }
    const cn__client *p = next ? next : first;
    h->selected = p ? p->info.id : 0;
    char who[CN_PROCTOR_NAME_MAX + 32] = "", peer[64] = "", account[CN_PROCTOR_NAME_MAX] = "";
    if (p) {
        cn__proctor_who(p, who, sizeof who);
        cn_strlcpy(peer, p->info.peer, sizeof peer);
        cn_strlcpy(account, p->info.account, sizeof account);
    }
    uint64_t id = h->selected;
    if (id)
        h->op_msg[0] = 0; /* an older outcome would read as being about this proctor */
    pthread_mutex_unlock(&h->mu);
    if (!id)
        op_say(h, CN_LOG_INFO, NULL, 0, "no proctor connected to select");
    else /* the HUD's link part names the selection already: the log only */
        cn_proctor_logf(h, MOD, CN_LOG_INFO, true, "operator selected proctor %s %s (%s%s): %s", who,
                        peer, account[0] ? "account " : "shared token", account,
                        account[0] ? "k revokes that account" : "k disconnects that client");
    return id;
}

uint64_t cn_proctor_selected(cn_proctor_hub *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    const cn__client *c = selected_proctor(h);
    uint64_t id = c ? c->info.id : 0;
    pthread_mutex_unlock(&h->mu);
    return id;
}

int cn_proctor_revoke_selected(cn_proctor_hub *h, cn_proctor_revoke_result *r)
{
    cn_proctor_revoke_result dummy;
    if (!r)
        r = &dummy;
    memset(r, 0, sizeof *r);
    if (!h)
        return CN_EINVAL;
    pthread_mutex_lock(&h->mu);
    const cn__client *c = selected_proctor(h);
    char who[CN_PROCTOR_NAME_MAX + 32] = "";
    if (c) {
        r->client_id = c->info.id;
        cn_strlcpy(r->name, c->info.name, sizeof r->name);
        cn_strlcpy(r->account, c->info.account, sizeof r->account);
        cn__proctor_who(c, who, sizeof who);
    }
    pthread_mutex_unlock(&h->mu);
    if (!r->client_id) {
        op_say(h, CN_LOG_WARN, r->message, sizeof r->message,
               "no proctor selected (Tab selects one): nothing revoked");
        return CN_ENOENT;
    }
    if (r->account[0]) {
        int n = cn_proctor_revoke_account(h, r->account, r->message, sizeof r->message);
        if (n < 0)
            return n;
        r->revoked = n;
        return CN_OK;
    }
    /* the shared token: there is no account to refuse, only this client to close
     * (it may log in again with the token: x revokes everyone and locks logins) */
    int n = revoke_where(h, r->client_id, -1, false);
    if (n == 0) { /* it left, or lost its rights, since it was read above */
        op_say(h, CN_LOG_WARN, r->message, sizeof r->message,
               "proctor %s is no longer connected as a proctor: nothing revoked", who);
        return CN_ENOENT;
    }
    r->revoked = n;
    op_say(h, CN_LOG_WARN, r->message, sizeof r->message,
           "revoked proctor %s (shared token: it may log in again; x locks all logins)", who);
    return CN_OK;
}

/* ------------------------------------------------------------------ the HUD line */

void cn_proctor_hud_line(cn_proctor_hub *h, char *out, size_t len)
{
    if (!out || len == 0)
        return;
    out[0] = 0;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    int viewers = 0, proctors = 0, rank = 0;
    const cn__client *first = NULL, *sel = selected_proctor(h);
    for (int i = 0; i < h->n_clients; i++) {
        const cn__client *c = &h->clients[i];
        if (c->info.role == CN_PROCTOR_PROCTOR) {
            proctors++;
            if (!first || c->info.id < first->info.id)
                first = c;
            if (sel && c->info.id <= sel->info.id)
                rank++;
        } else {
            viewers++;
        }
    }
    size_t o = 0;
#define PUT(...)                                                                   \
    do {                                                                           \
        int w_ = snprintf(out + o, o < len ? len - o : 0, __VA_ARGS__);            \
        if (w_ > 0)                                                                \
            o = o + (size_t)w_ < len ? o + (size_t)w_ : len - 1;                   \
    } while (0)
    char who[CN_PROCTOR_NAME_MAX + 32];
    if (viewers || proctors) {
        PUT("link: %d viewer%s", viewers, viewers == 1 ? "" : "s");
        if (sel) {
            cn__proctor_who(sel, who, sizeof who);
            PUT(", proctor %d/%d %s %s selected (k %s, Tab next, x revokes all)", rank, proctors,
                who, sel->info.peer, sel->info.account[0] ? "revokes its account" : "disconnects it");
        } else if (first) {
            cn__proctor_who(first, who, sizeof who);
            PUT(", proctor %s %s", who, first->info.peer);
            if (proctors > 1)
                PUT(" +%d", proctors - 1);
            PUT(" (Tab selects, x revokes all)");
        }
    }
    if (h->locked)
        PUT("%sproctor logins locked (X unlocks)", o ? " | " : "");
    if (h->op_msg[0] && cn_clock_mono_ns() - h->op_msg_ns < CN__OP_MSG_NS)
        PUT("%s%s", o ? " | " : "", h->op_msg);
    if (h->have_last) {
        if (h->last.kind == CN_PROCTOR_ITEM_NOTE)
            PUT("%snote from %s: %.120s", o ? " | " : "", h->last.from, h->last.text);
        else
            PUT("%starget from %s: %.40s (%.1f, %.1f, %.1f) mm", o ? " | " : "", h->last.from,
                h->last.text, h->last.pos_mm[0], h->last.pos_mm[1], h->last.pos_mm[2]);
    }
#undef PUT
    pthread_mutex_unlock(&h->mu);
}
