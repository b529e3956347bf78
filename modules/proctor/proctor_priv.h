/*
 * proctor_priv.h - the hub's state, shared by its files: proctor_hub.c (clients,
 * roles, queue, HUD, log bound), proctor_cmd.c (commands), proctor_token.c
 * (tokens and options), proctor_surface.c (isotherm surfaces), proctor_operator.c
 * (revoke, the operator's selection, the HUD line).
 *
 * One mutex (`mu`) guards everything below it; `tmu` guards the transport list
 * and is held while calling a transport's kick, so a transport that removes
 * itself waits for a kick in progress. Lock order: tmu before mu, never the
 * other way; no callback is called with mu held except the surface visitor.
 */
#ifndef CN_PROCTOR_PRIV_H
#define CN_PROCTOR_PRIV_H

#include "proctor/proctor.h"

#include <pthread.h>

typedef struct {
    double tokens;
    int64_t last_ns;
} cn__bucket;

/* Takes one token from b (refilled at r since its last use); false when empty. */
bool cn__bucket_take(cn__bucket *b, const cn_proctor_rate *r, int64_t now_ns);
/* Refills b like cn__bucket_take; whether a token is there, taking none. */
bool cn__bucket_peek(cn__bucket *b, const cn_proctor_rate *r, int64_t now_ns);

typedef struct {
    cn_proctor_client_info info;
    cn__bucket commands, control, notes, logins;
} cn__client;

/* Wrong tokens per peer address, kept across connections: the per-connection
 * limits reset with every new connection, so a guesser that reconnects was not
 * bounded (~7,000 guesses/s from one local client). The least recently used
 * entry gives way when the table is full; the hub-wide bucket bounds a guesser
 * that rotates addresses. */
#define CN__PEERS_MAX 32
typedef struct {
    char addr[48];
    cn__bucket wrong;
    int64_t used_ns;
    bool paused; /* said once in the log per pause */
} cn__peer;

#define CN__TRANSPORTS_MAX 4
#define CN__COMMANDS_MAX 24
#define CN__QUEUE_MAX 64
#define CN__SURFACES_MAX 4
#define CN__SENT_MAX 64
#define CN__OP_MSG_NS 15000000000LL

typedef struct {
    char name[64];
    cn_proctor_role needs;
    bool control;
    cn_proctor_command_fn fn;
    void *user;
} cn__command;

typedef struct {
    double temp_c;
    bool used;
    float *xyz;
    int *tri;
    int n_pts, n_tri;
} cn__surface;

struct cn_proctor_hub {
    cn_proctor_opts o;
    pthread_mutex_t tmu;
    cn_proctor_transport transports[CN__TRANSPORTS_MAX];
    int n_transports;

    pthread_mutex_t mu;
    cn__client *clients;
    int n_clients, cap_clients;
    uint64_t next_id;
    bool locked;                 /* the operator revoked: logins refused */
    cn__peer peers[CN__PEERS_MAX];
    cn__bucket wrong_all;        /* wrong tokens, whole hub */
    bool wrong_all_paused;
    /* NerveTarget points sent to the clients lately, to know an echo of them */
    double sent_pos[CN__SENT_MAX][3];
    int64_t sent_ns[CN__SENT_MAX];
    int sent_head, sent_n;
    bool account_revoked[CN_PROCTOR_ACCOUNTS_MAX]; /* per account, for the session */
    /* cn_proctor_token_strong of each configured token, taken once at the start, so a
     * login in a pause costs the same whichever token it matches */
    bool token_strong, account_strong[CN_PROCTOR_ACCOUNTS_MAX];
    uint64_t selected;           /* the proctor the operator selected (0: none) */
    char op_msg[160];            /* the outcome of the operator's last action, for */
    int64_t op_msg_ns;           /* the HUD (shown CN__OP_MSG_NS after op_msg_ns) */
    cn__command cmds[CN__COMMANDS_MAX];
    int n_cmds;
    char device_ids[256];
    cn_proctor_item queue[CN__QUEUE_MAX];
    int q_head, q_n;
    uint64_t q_dropped;
    cn_proctor_item last;        /* newest note/target, for the HUD */
    bool have_last;
    /* newest analysed state, for RequestStatus */
    bool have_state;
    cn_guidance_state state;
    char nerve_state[8];
    char nerve_target[40]; /* the operator's point, image mm "x,y", or "none" */
    /* log volume bound */
    cn__bucket log_bucket;
    uint64_t log_suppressed;
    int64_t log_dropped_said_ns;  /* when the count of dropped lines was last written */
    /* surfaces */
    cn__surface surf[CN__SURFACES_MAX];
    uint64_t surf_version;
};

/* proctor_hub.c: the client with that id, or NULL (mu held). */
cn__client *cn__proctor_find(cn_proctor_hub *h, uint64_t id);
/* Whether text holds any configured token (proctor_login.c). mu held. */
bool cn__proctor_holds_token(const cn_proctor_hub *h, const char *text);
/* "Dr Lee" or "client 3" (mu held). */
void cn__proctor_who(const cn__client *c, char *out, size_t len);
/* proctor_token.c: constant-time equality of two NUL-terminated tokens. */
bool cn__proctor_token_equal(const char *given, const char *expected);

#endif
