/* session_proctor.c - the session's side of the proctor link.
 *
 * The proctor hub (modules/proctor) decides who may do what; this file wires it
 * into a session: the token from the command line or the config, the commands a
 * proctor may run besides recording (the procedure hook below), and a stage
 * that runs first on the analysis thread, with or without a viewer: a
 * proctor's target seeds the nerve tracker through the same hand-over as the
 * operator's click, and every note (or target) becomes a recorded event on the
 * frame where it arrived. The viewer only shows the hub's HUD line and maps the
 * operator's keys: x revokes everyone, Tab selects one proctor, k revokes the
 * selected one's account, X unlocks. */
#include "session.h"

#include "guidance/guidance.h"
#include "proctor/proctor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MOD "proctor"

/* Proctor notes and targets become procedure events through the session's one
 * event queue (cn_session_add_event, session_stages.c), which the console stage
 * puts on the next analysed frame. */
int cn_session_queue_event(cn_session *s, cn_event_source src, const char *text)
{
    if (!s || !text)
        return CN_EINVAL;
    return cn_session_add_event(s, src, text);
}

/* ---- the stage: first on the analysis thread ---- */

int cn_session_proctor_stage(void *self, cn_frame *f)
{
    cn_session *s = self;
    cn_proctor_item it;
    char text[CN_EVENT_TEXT_MAX];
    while (s->proctor && cn_proctor_take(s->proctor, &it) == 1) {
        if (it.kind == CN_PROCTOR_ITEM_NOTE) {
            /* a guest names itself, spaces, '=' and quotes included: the name is
             * a quoted value (core.h), so it never makes a key of its own (a
             * replay's chapter list reads the note's "text=") */
            /* whole: the account's name tells two proctors apart, and a note's end
             * is often its point (before, 20 and 80 characters were kept) */
            snprintf(text, sizeof text, "note");
            if (cn_event_put(text, sizeof text, "from", it.from) == CN_OK) {
                size_t at = strlen(text);
                snprintf(text + at, sizeof text - at, " text=%s", it.text);
                cn_session_queue_event(s, CN_EVSRC_PROCTOR, text);
            }
        } else {
            /* the nerve to follow, in the scene frame the proctor receives
             * (igtl.reference_frame): the console stage (next) maps it into this
             * frame's image and records
             * it as a "target" event where it lands */
            cn_log_info(s->log, MOD, "target from %.30s (%.30s): (%.1f, %.1f, %.1f) mm", it.from,
                        it.text, it.pos_mm[0], it.pos_mm[1], it.pos_mm[2]);
            cn_session_set_target_ref(s, it.pos_mm, strcmp(it.text, "NerveTarget") == 0);
        }
    }
    (void)f; /* the console stage, next, puts the queued events on f */
    return CN_OK;
}

/* ---- procedure commands from a proctor or the cryo console ----
 * A proctor's StartFreeze / StopFreeze and the console's STRING (device
 * "CryoConsole": "freeze_start", "thaw_start mode=active", ...) go to the
 * procedure state (guidance/procedure.c), which applies them on the next analysed
 * frame and records them as events, exactly as the operator's keys. */
static bool cn_session_procedure_command(void *user, const char *name, const char *xml,
                                         char *msg, size_t len)
{
    (void)xml;
    cn_session *s = user;
    if (!s->procedure) {
        snprintf(msg, len, "no procedure state in this session");
        return false;
    }
    bool start = strcmp(name, "StartFreeze") == 0;
    if (s->sim) {
        /* the simulator's scripted console runs this session's freezes: a proctor's
         * freeze would start a procedure the scene does not show, and the script's
         * own freeze would then be refused */
        snprintf(msg, len, "freeze %s refused: the simulator's console runs the freezes in "
                 "this session", start ? "start" : "stop");
        return false;
    }
    int rc = cn_procedure_post(s->procedure, CN_EVSRC_PROCTOR,
                               start ? CN_PROC_FREEZE_START : CN_PROC_FREEZE_STOP, false);
    snprintf(msg, len, rc == CN_OK ? "freeze %s queued" : "freeze %s refused: too many waiting",
             start ? "start" : "stop");
    return rc == CN_OK;
}

/* A proctor's ClearNerveTarget: the nerve point forgotten, as the operator's u key. */
static bool cn_session_clear_target_command(void *user, const char *name, const char *xml,
                                            char *msg, size_t len)
{
    (void)name;
    (void)xml;
    cn_session *s = user;
    if (!s->segment) {
        snprintf(msg, len, "no nerve analysis in this session");
        return false;
    }
    cn_session_clear_target(s, CN_EVSRC_PROCTOR);
    snprintf(msg, len, "nerve target cleared on the next frame");
    return true;
}

static bool cn_session_console_command(void *user, const char *name, const char *text,
                                       char *msg, size_t len)
{
    (void)name;
    cn_session *s = user;
    if (!s->procedure) {
        snprintf(msg, len, "no procedure state in this session");
        return false;
    }
    if (s->sim) {
        /* as StartFreeze above: the simulator's scripted console is this session's console.
         * Before, a proctor's "CryoConsole needle_withdrawn" ended the simulated freeze on
         * record while the scene froze on (the thirty-sixth session's review) */
        snprintf(msg, len, "console message refused: the simulator's console runs the "
                 "procedure in this session");
        return false;
    }
    if (cn_procedure_console(s->procedure, CN_EVSRC_CONSOLE, text ? text : "", msg, len) != CN_OK)
        return false;
    snprintf(msg, len, "console: %.60s", text);
    return true;
}

/* ---- opening and closing ---- */

int cn_session_proctor_open(cn_session *s, char *err, size_t err_len)
{
    cn_proctor_opts po;
    cn_proctor_opts_default(&po);
    po.log_sink = s->log;
    int rc = cn_proctor_opts_from_json(&po, s->cfg, err, err_len);
    if (rc != CN_OK)
        return rc;
    if (po.token[0] && cn_json_has(s->cfg, "proctor.token")) {
        /* the file that set it (a layer above the shipped defaults), not the
         * bottom layer's (before, the warning checked and named config/session.json) */
        struct stat st;
        const char *cp = NULL;
        int line = 0;
        if (cn_json_origin(s->cfg, "proctor.token", &cp, &line) != CN_OK)
            cp = NULL;
        if (cp && stat(cp, &st) == 0 && (st.st_mode & 077))
            cn_log_warn(s->log, MOD,
                        "%s holds the proctor token and others can read it: use "
                        "\"proctor\": {\"token_file\": FILE} with a file only you can read",
                        cp);
    }
    /* The command line wins over the config. */
    if (s->opts.proctor_token_file[0]) {
        if ((rc = cn_proctor_token_from_file(s->opts.proctor_token_file, po.token,
                                             sizeof po.token, err, err_len)) != CN_OK)
            return rc;
    } else if (s->opts.proctor_token[0]) {
        char why[256];
        if (cn_proctor_token_check(s->opts.proctor_token, why, sizeof why) != CN_OK) {
            snprintf(err, err_len, "--proctor-token: %s", why);
            return CN_EINVAL;
        }
        cn_strlcpy(po.token, s->opts.proctor_token, sizeof po.token);
    }
    cn_proctor_hub *h = cn_proctor_hub_new(&po);
    volatile char *w = po.token;
    for (size_t i = 0; i < sizeof po.token; i++)
        w[i] = 0;
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return CN_ENOMEM;
    }
    s->proctor = h;
    cn_proctor_set_command(h, "StartFreeze", CN_PROCTOR_PROCTOR, true,
                           cn_session_procedure_command, s);
    cn_proctor_set_command(h, "StopFreeze", CN_PROCTOR_PROCTOR, true,
                           cn_session_procedure_command, s);
    cn_proctor_set_command(h, "CryoConsole", CN_PROCTOR_PROCTOR, true,
                           cn_session_console_command, s);
    cn_proctor_set_command(h, "ClearNerveTarget", CN_PROCTOR_PROCTOR, true,
                           cn_session_clear_target_command, s);
    char ids[128];
    snprintf(ids, sizeof ids, "%s:Source,Recorder:VirtualCapture",
             s->source_name ? s->source_name : "source");
    cn_proctor_set_device_ids(h, ids);
    cn_log_info(s->log, MOD, "%s",
                cn_proctor_has_token(h)
                    ? "proctor logins on: a client becomes a proctor with the token"
                    : "no proctor token: every client is a viewer (see --proctor-token-file)");
    return CN_OK;
}

void cn_session_proctor_close(cn_session *s)
{
    cn_proctor_hub_free(s->proctor);
    s->proctor = NULL;
}

/* ---- the operator's side: keys and the HUD line ---- */

bool cn_session_proctor_key(cn_session *s, int key)
{
    if (!s->proctor || (key != 'x' && key != 'X' && key != '\t' && key != 'k'))
        return false;
    char ev[CN_EVENT_TEXT_MAX];
    if (key == 'x') {
        int n = cn_proctor_revoke(s->proctor, 0, true);
        snprintf(ev, sizeof ev, "proctor_revoked count=%d", n);
        cn_session_queue_event(s, CN_EVSRC_OPERATOR, ev);
    } else if (key == '\t') {
        cn_proctor_select_next(s->proctor); /* the HUD names the selected proctor */
    } else if (key == 'k') {
        /* one person: the selected proctor's account (or, with the shared token,
         * that client); the hub logs the outcome and shows it on the HUD. The
         * event names the account (or the client) last: names may hold spaces. */
        cn_proctor_revoke_result r;
        if (cn_proctor_revoke_selected(s->proctor, &r) == CN_OK) {
            snprintf(ev, sizeof ev, "proctor_revoked count=%d", r.revoked);
            if (!r.account[0])
                snprintf(ev + strlen(ev), sizeof ev - strlen(ev), " client=%llu",
                         (unsigned long long)r.client_id);
            /* (a name too long for the event leaves it out: ev is then unchanged) */
            (void)cn_event_put(ev, sizeof ev, r.account[0] ? "account" : "name",
                               r.account[0] ? r.account : r.name);
            cn_session_queue_event(s, CN_EVSRC_OPERATOR, ev);
        }
    } else {
        cn_proctor_unlock(s->proctor);
    }
    return true;
}

void cn_session_proctor_hud(cn_session *s, char *out, size_t len)
{
    if (len)
        out[0] = 0;
    if (s->proctor)
        cn_proctor_hud_line(s->proctor, out, len);
}
