/*
 * proctor.h - the one public header of the proctor hub.
 *
 * A proctor (a colleague in another room, in 3D Slicer today, in a browser
 * tomorrow) watches the procedure and may annotate and steer it: notes,
 * targets, recording, procedure commands. Everything about *who may do what*
 * lives here, independent of any wire format:
 *   - roles by credential: every connection is a viewer (read-only) until it
 *     presents a secret token (compared in constant time): a personal account's
 *     (the proctor is then known by the account's name, whatever name it
 *     claims) or the one shared token (the name is what the proctor typed); the
 *     operator sees who is connected and can revoke a client or an account;
 *   - rate limits per connection (commands, state-changing commands, notes and
 *     targets, login attempts) and a bound on log volume for the whole hub;
 *   - notes sanitised (no control characters) before anything logs or draws them;
 *   - the queue the analysis thread drains (notes become recorded events,
 *     targets seed the nerve tracker), so a session without a renderer applies
 *     them too;
 *   - the command table (RequestStatus, Login, StartRecording ... with the role
 *     each needs) and its replies;
 *   - the isotherm surfaces that transports send.
 * A transport (modules/igtl: OpenIGTLink; later a WebSocket one) decodes its wire
 * format, opens a hub client per connection and calls cn_proctor_login / _note /
 * _target / _command; it registers a kick callback so the operator's revoke can
 * close its connections. See docs/architecture.md "Proctor hub".
 *
 * Threading: every function may be called from any thread; one mutex guards the
 * hub (held briefly, never while calling out). Command handlers run on the
 * calling transport's thread and must return quickly.
 */
#ifndef CN_PROCTOR_H
#define CN_PROCTOR_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_PROCTOR_TOKEN_MIN 16    /* characters; shorter tokens are refused */
#define CN_PROCTOR_TOKEN_MAX 128
#define CN_PROCTOR_TEXT_MAX 200    /* a note is cut to this many bytes */
#define CN_PROCTOR_NAME_MAX 48
#define CN_PROCTOR_ACCOUNTS_MAX 16 /* personal proctor accounts per session */

typedef struct cn_proctor_hub cn_proctor_hub;

typedef enum { CN_PROCTOR_VIEWER = 0, CN_PROCTOR_PROCTOR = 1 } cn_proctor_role;

/* What the hub decided about one request from a client. */
typedef enum {
    CN_PROCTOR_DONE = 0,     /* accepted (or, for a command, a reply was made) */
    CN_PROCTOR_DENIED = 1,   /* this client's role may not do that / wrong token */
    CN_PROCTOR_LIMITED = 2,  /* over its rate limit: refused, counted */
    CN_PROCTOR_DROP = 3      /* the transport must close this connection (e.g. too
                                many failed logins) */
} cn_proctor_verdict;

/* A token bucket: `per_s` sustained, up to `burst` at once. */
typedef struct {
    double per_s, burst;
} cn_proctor_rate;

/* A personal proctor account: its token identifies the one who holds it. */
typedef struct {
    char name[CN_PROCTOR_NAME_MAX];       /* logs, the HUD and notes name the proctor so */
    char token[CN_PROCTOR_TOKEN_MAX + 1];
} cn_proctor_account;

typedef struct {
    char token[CN_PROCTOR_TOKEN_MAX + 1]; /* the shared token ("" = none) */
    cn_proctor_account accounts[CN_PROCTOR_ACCOUNTS_MAX]; /* personal tokens */
    int n_accounts;             /* no shared token and no account: nobody can become a proctor */
    cn_proctor_rate commands;   /* any command, per client (5/s, burst 10) */
    cn_proctor_rate control;    /* commands that change state (recording, freeze),
                                   per client (1/s, burst 3) */
    cn_proctor_rate notes;      /* notes and targets, per client (2/s, burst 5) */
    cn_proctor_rate logins;     /* login attempts, per client (0.5/s, burst 3) */
    int max_failed_logins;      /* per connection, then it is dropped (5) */
    cn_proctor_rate log;        /* log lines about clients, whole hub (20/s, burst 100) */
    cn_log *log_sink;
} cn_proctor_opts;

void cn_proctor_opts_default(cn_proctor_opts *o);
/* Reads the "proctor" object of a session config: token_file (checked like
 * cn_proctor_token_from_file), token (inline), accounts (a list of {"name", and
 * "token_file" or "token"}: names and tokens unique, the shared token included),
 * commands_per_s, control_per_s, notes_per_s, logins_per_s, max_failed_logins,
 * log_lines_per_s. Unknown keys and bad values are errors naming file, line and
 * key. Absent keys keep their value. */
int cn_proctor_opts_from_json(cn_proctor_opts *o, const cn_json *doc, char *err, size_t err_len);
/* Checks a token: CN_PROCTOR_TOKEN_MIN..MAX printable ASCII characters without
 * spaces. CN_EINVAL with the reason in err. */
int cn_proctor_token_check(const char *token, char *err, size_t err_len);
/* A token a generator made (at least 24 characters, 16 of them different, of three of
 * the four kinds: lower case, upper case, digits, others, or of two from 32 characters:
 * `head -c 24 /dev/urandom | base64` and `openssl rand -hex 32` make one): guessing it is hopeless, so its holder logs in even while wrong
 * tokens from its address, or the whole server's, are paused. A phrase can pass this
 * too; it is a rule about generated tokens. */
bool cn_proctor_token_strong(const char *token);
/* Reads a token from a file that only its owner can read: a regular file (no
 * symlink) owned by the current user with no group/other permission bits; one
 * line, surrounding white space ignored. Anything else is refused with a
 * message naming the file and the fix (e.g. "chmod 600 FILE"). */
int cn_proctor_token_from_file(const char *path, char *token, size_t token_len, char *err,
                               size_t err_len);

cn_proctor_hub *cn_proctor_hub_new(const cn_proctor_opts *o);
void cn_proctor_hub_free(cn_proctor_hub *h);
/* True when a shared token or an account is configured (proctor logins are
 * possible at all). */
bool cn_proctor_has_token(cn_proctor_hub *h);

/* ------------------------------------------------------------------ transports */

typedef struct {
    const char *name;   /* "igtl" */
    void *self;
    /* Closes that connection soon (any thread; must not block nor call the hub). */
    void (*kick)(void *self, uint64_t client_id, const char *why);
} cn_proctor_transport;

int cn_proctor_add_transport(cn_proctor_hub *h, const cn_proctor_transport *t);
/* After this returns, the hub no longer calls that transport. */
void cn_proctor_remove_transport(cn_proctor_hub *h, void *self);

/* A connection opened / closed by a transport; ids are unique across transports
 * (0 = out of memory). Every connection starts as a viewer. */
uint64_t cn_proctor_client_open(cn_proctor_hub *h, const char *transport, const char *peer);
void cn_proctor_client_close(cn_proctor_hub *h, uint64_t id);
cn_proctor_role cn_proctor_client_role(cn_proctor_hub *h, uint64_t id);

typedef struct {
    uint64_t id;
    char transport[16];
    char peer[64];                    /* "127.0.0.1:53211" */
    char name[CN_PROCTOR_NAME_MAX];   /* its account's name; with the shared token, what
                                         it called itself at login */
    char account[CN_PROCTOR_NAME_MAX]; /* the account whose token made it a proctor ("":
                                          the shared token, or not a proctor) */
    cn_proctor_role role;
    int64_t connected_wall_ns;
    uint64_t notes, targets, commands, refused, failed_logins;
} cn_proctor_client_info;

/* Fills up to max entries; returns the number of connected clients. */
int cn_proctor_clients(cn_proctor_hub *h, cn_proctor_client_info *out, int max);

/* ------------------------------------------------------------------ what clients do */

/* Presents a token (and a display name, may be NULL). DONE: the client is now a
 * proctor (an account's token: known by the account's name, the name given is only
 * logged; the shared token: by the name given); DENIED: wrong token, no token
 * configured, the account revoked or logins locked by the operator; LIMITED: too
 * many attempts too fast (not even compared); DROP: too many failed attempts on
 * this connection. Every configured token is compared, each in constant time.
 * msg gets the reason for the reply. */
cn_proctor_verdict cn_proctor_login(cn_proctor_hub *h, uint64_t id, const char *token,
                                    const char *name, char *msg, size_t msg_len);
void cn_proctor_logout(cn_proctor_hub *h, uint64_t id);
/* A proctor's note (sanitised, cut to CN_PROCTOR_TEXT_MAX) and target (mm, in the
 * scene frame the transport streams: igtl.reference_frame, "Reference" by default).
 * Viewers are DENIED. */
cn_proctor_verdict cn_proctor_note(cn_proctor_hub *h, uint64_t id, const char *text);
cn_proctor_verdict cn_proctor_target(cn_proctor_hub *h, uint64_t id, const char *name,
                                     const double pos_mm[3]);
/* The NerveTarget point a transport has just sent its clients (mm, scene frame).
 * A proctor's POINT "NerveTarget" within 1 mm of one sent in the last 3 s is that
 * point sent back (a Slicer connector with the node among its outgoing nodes): it
 * is taken (DONE) without a rate token and changes nothing. Before, every echo
 * took a token, so the proctor's own notes and targets were refused. */
void cn_proctor_target_sent(cn_proctor_hub *h, const double pos_mm[3]);

/* ------------------------------------------------------------------ commands */

/* A command's reply, in PLUS's terms: Status SUCCESS|FAIL, Message, Error (on
 * failure) and more attributes (already XML-escaped `Key="value"` pairs). */
#define CN_PROCTOR_PARAMS_MAX 8
typedef struct {
    bool ok;
    char message[256];
    char error[160];
    char attrs[640];
    /* result parameters as PLUS sends them with a COMMAND reply (RequestDeviceIds:
     * one per device, id = id); transports with metadata send them there */
    int n_params;
    char params[CN_PROCTOR_PARAMS_MAX][2][64];
} cn_proctor_reply;

/* A handler: fills message, returns true for SUCCESS. xml is the command's
 * `<Command Name=... .../>` text (attributes via cn_proctor_xml_attr). */
typedef bool (*cn_proctor_command_fn)(void *user, const char *name, const char *xml,
                                      char *message, size_t message_len);

/* Registers (or replaces) a command. needs: the role required; control: counts
 * against the state-changing rate limit. At most 24 commands. */
int cn_proctor_set_command(cn_proctor_hub *h, const char *name, cn_proctor_role needs,
                           bool control, cn_proctor_command_fn fn, void *user);
/* Runs a command for client id and fills *r (always, also for unknown commands,
 * refused roles and rate limits). Built in: RequestStatus (alias GetStatus),
 * RequestDeviceIds (alias GetDeviceIds), Login (alias Authenticate; attributes
 * Token, Name), Logout. Returns DROP when the transport must close the client,
 * else DONE. */
cn_proctor_verdict cn_proctor_command(cn_proctor_hub *h, uint64_t id, const char *name,
                                      const char *xml, cn_proctor_reply *r);
/* The reply as PlusServer writes it: `<CommandReply Name="N" Status="SUCCESS|FAIL"
 * Message="M" [Error="E"] attrs/>`, escaped. CN_ERANGE when out is too small. */
int cn_proctor_reply_xml(const char *name, const cn_proctor_reply *r, char *out, size_t len);
/* Comma-separated names of every command, for documentation and discovery. */
void cn_proctor_command_names(cn_proctor_hub *h, char *out, size_t len);
/* What RequestDeviceIds answers: "name:type" pairs, comma-separated, e.g.
 * "sim:Source,Recorder:VirtualCapture" (PLUS's VirtualCapture is a recorder). */
void cn_proctor_set_device_ids(cn_proctor_hub *h, const char *ids);

/* The flat-XML attribute scanner shared by transports and handlers: reads
 * attribute `attr` of the first element of xml (entities decoded). CN_ENOENT
 * when absent, CN_EPARSE when malformed, CN_ERANGE when too long. */
int cn_proctor_xml_attr(const char *xml, const char *attr, char *val, size_t val_len);
/* Escapes text for an XML attribute value (and drops control characters). */
size_t cn_proctor_xml_escape(char *out, size_t cap, const char *in);

/* ------------------------------------------------------------------ the session side */

typedef enum { CN_PROCTOR_ITEM_NOTE = 1, CN_PROCTOR_ITEM_TARGET = 2 } cn_proctor_item_kind;
typedef struct {
    cn_proctor_item_kind kind;
    uint64_t client_id;
    char from[CN_PROCTOR_NAME_MAX + 32];  /* "Dr Lee (client 3)", or "client 3" */
    int64_t t_wall_ns;
    char text[CN_PROCTOR_TEXT_MAX + 1];   /* sanitised note, or the target's name */
    double pos_mm[3];                     /* target */
} cn_proctor_item;

/* Pops the oldest note / target (the analysis thread drains these every frame):
 * 1 when one was returned, 0 when none. The queue keeps the newest 64. */
int cn_proctor_take(cn_proctor_hub *h, cn_proctor_item *out);

/* Revokes proctor rights: id = a client, or 0 = every proctor. Their connections
 * are closed and, with lock, further logins are refused until cn_proctor_unlock.
 * Returns how many clients were revoked. Logged. */
int cn_proctor_revoke(cn_proctor_hub *h, uint64_t id, bool lock);
/* Revokes one account for the rest of the session: its clients lose their rights
 * and are disconnected, and its token is refused from now on (the others keep
 * working). Returns how many clients were revoked (0 or more); CN_ENOENT for an
 * unknown account and CN_EINVAL for one already revoked, both changing nothing.
 * msg (may be NULL) gets the outcome in words; it is logged and shown on the HUD. */
int cn_proctor_revoke_account(cn_proctor_hub *h, const char *account, char *msg, size_t msg_len);

/* The operator's selection: the one connected proctor that cn_proctor_revoke_selected
 * would revoke (the viewer binds Tab and k; the HUD names the selected proctor).
 * Steps to the next proctor in the order they connected, wrapping (the first when
 * none is selected); returns its client id, 0 when no proctor is connected. A
 * selection lasts while its client stays a connected proctor. Logged. */
uint64_t cn_proctor_select_next(cn_proctor_hub *h);
/* The selected proctor's client id, 0 when none. */
uint64_t cn_proctor_selected(cn_proctor_hub *h);

typedef struct {
    int revoked;                       /* clients that lost their rights */
    uint64_t client_id;                /* the selected proctor (0: none was) */
    char name[CN_PROCTOR_NAME_MAX];    /* its name ("" when it gave none) */
    char account[CN_PROCTOR_NAME_MAX]; /* its account ("": the shared token) */
    char message[160];                 /* the outcome in words (also logged, on the HUD) */
} cn_proctor_revoke_result;
/* Revokes the selected proctor: its account for the session (every client of it,
 * as cn_proctor_revoke_account), or, for a proctor with the shared token, that one
 * client (the token keeps working: cn_proctor_revoke with lock stops everyone).
 * Logins stay unlocked for the others. CN_OK; CN_ENOENT when no proctor is
 * selected (or the selected one left or lost its rights) and CN_EINVAL when its
 * account was already revoked, both changing nothing. Afterwards nothing is
 * selected, so a repeated call revokes nobody. r (may be NULL) gets the outcome. */
int cn_proctor_revoke_selected(cn_proctor_hub *h, cn_proctor_revoke_result *r);
void cn_proctor_unlock(cn_proctor_hub *h);
bool cn_proctor_locked(cn_proctor_hub *h);

/* One line for the operator's HUD: who is connected (the selected proctor, else
 * the first), the outcome of the operator's last action (for 15 s) and the newest
 * proctor note or target, e.g. "link: 2 viewers, proctor Dr Lee (client 3)
 * 127.0.0.1:53211 +1 (Tab selects, x revokes all) | note from Dr Lee (client 3):
 * go 2 mm deeper". "" when nobody is connected and nothing was said. */
void cn_proctor_hud_line(cn_proctor_hub *h, char *out, size_t len);

/* A pipeline sink that keeps the newest guidance and nerve state for
 * RequestStatus (copies a few numbers, holds no frame). */
cn_sink cn_proctor_sink(cn_proctor_hub *h);

/* Isotherm surfaces (closed triangle meshes in the Cryoprobe frame, e.g. from
 * cn_thermal_model_mesh) at temp_c; n_tri = 0 removes one. The hub keeps a copy
 * and a version that grows with every change; transports send them. At most 4
 * surfaces of 65536 vertices. */
int cn_proctor_set_surface(cn_proctor_hub *h, double temp_c, const float *xyz, int n_pts,
                           const int *tri, int n_tri);
uint64_t cn_proctor_surfaces_version(cn_proctor_hub *h);
/* Calls fn for every surface (the hub's lock is held: fn must only copy/pack).
 * Returns the version visited. */
typedef void (*cn_proctor_surface_fn)(void *user, double temp_c, const float *xyz, int n_pts,
                                      const int *tri, int n_tri);
uint64_t cn_proctor_surfaces_visit(cn_proctor_hub *h, cn_proctor_surface_fn fn, void *user);

/* A log line about clients, through the hub's bound on log volume: sanitised
 * (no control characters) and dropped when over the rate, with the number dropped
 * said on the next line that passes. important lines (logins accepted, revokes)
 * always pass. */
void cn_proctor_logf(cn_proctor_hub *h, const char *module, cn_log_level level, bool important,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sanitises text in place: control characters (C0, DEL, and the ESC of ANSI
 * sequences) become spaces; valid UTF-8 letters stay; broken UTF-8, C1 controls and
 * the bidirectional overrides and isolates become '?' (each byte). */
void cn_proctor_sanitise(char *text);
/* The same for a name, then blanks trimmed and runs of them made one ("  Dr  Lee "
 * -> "Dr Lee"), so names are compared as they read. */
void cn_proctor_sanitise_name(char *name);

#ifdef __cplusplus
}
#endif
#endif /* CN_PROCTOR_H */
