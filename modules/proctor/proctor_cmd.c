/*
 * proctor_cmd.c - the commands a client may send, whatever the wire format.
 *
 * The idea: one table decides which command exists, which role it needs and
 * whether it changes the procedure (and so counts against the stricter
 * "control" rate); transports only decode and reply. Names and attributes follow
 * PlusServer where PLUS has the same command (RequestDeviceIds with DeviceType,
 * StartRecording with OutputFilename / CaptureDeviceId / EnableCompression,
 * StopRecording), so a Slicer module written for PlusServer works unchanged;
 * replies carry PLUS's Status / Message / Error. Every request gets a reply,
 * also an unknown command or a refused one: a client never waits on silence.
 *
 * The XML scanner is deliberately tiny: commands are one flat element,
 * `<Command Name="StartRecording" OutputFilename="a.igs.mha"/>`, and a full XML
 * parser is a lot of attack surface for untrusted input; values are bounded and
 * the five predefined entities decoded.
 */
#include "proctor_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MOD "proctor"

/* ------------------------------------------------------------------ flat XML */

int cn_proctor_xml_attr(const char *xml, const char *attr, char *val, size_t val_len)
{
    if (!xml || !attr || !val || val_len == 0)
        return CN_EINVAL;
    size_t alen = strlen(attr);
    const char *p = strchr(xml, '<');
    if (!p)
        return CN_EPARSE;
    p++;
    while (*p && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
        p++;   /* element name */
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '>' || *p == '/')
            return CN_ENOENT;
        const char *name = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == ':'))
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0)
            return CN_EPARSE;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=')
            return CN_EPARSE;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        char q = *p;
        if (q != '"' && q != '\'')
            return CN_EPARSE;
        p++;
        const char *v = p;
        while (*p && *p != q)
            p++;
        if (!*p)
            return CN_EPARSE;
        if (nlen == alen && strncmp(name, attr, alen) == 0) {
            size_t o = 0;
            for (const char *s = v; s < p; s++) {
                char ch = *s;
                if (ch == '&') {
                    static const struct { const char *e; char c; } ents[] = {
                        {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                        {"&apos;", '\''}};
                    bool ok = false;
                    for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                        size_t el = strlen(ents[k].e);
                        if ((size_t)(p - s) >= el && strncmp(s, ents[k].e, el) == 0) {
                            ch = ents[k].c;
                            s += el - 1;
                            ok = true;
                            break;
                        }
                    }
                    if (!ok)
                        return CN_EPARSE;
                }
                if (o + 1 >= val_len)
                    return CN_ERANGE;
                val[o++] = ch;
            }
            val[o] = 0;
            return CN_OK;
        }
        p++;
    }
}

size_t cn_proctor_xml_escape(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    if (!out || cap == 0)
        return 0;
    for (; in && *in; in++) {
        const char *rep = NULL;
        switch (*in) {
        case '"': rep = "&quot;"; break;
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        default: break;
        }
        size_t n = rep ? strlen(rep) : 1;
        if (o + n + 1 > cap)
            break;
        if (rep)
            memcpy(out + o, rep, n);
        else
            out[o] = (*in >= 0x20 && *in <= 0x7e) ? *in : '?';
        o += n;
    }
    out[o] = 0;
    return o;
}

/* ------------------------------------------------------------------ table */

int cn_proctor_set_command(cn_proctor_hub *h, const char *name, cn_proctor_role needs,
                           bool control, cn_proctor_command_fn fn, void *user)
{
    if (!h || !name || !name[0] || strlen(name) >= sizeof h->cmds[0].name || !fn)
        return CN_EINVAL;
    int r = CN_OK;
    pthread_mutex_lock(&h->mu);
    int i = 0;
    while (i < h->n_cmds && strcmp(h->cmds[i].name, name) != 0)
        i++;
    if (i == h->n_cmds) {
        if (h->n_cmds == CN__COMMANDS_MAX)
            r = CN_ENOMEM;
        else
            h->n_cmds++;
    }
    if (r == CN_OK)
        h->cmds[i] = (cn__command){.needs = needs, .control = control, .fn = fn, .user = user};
    if (r == CN_OK)
        cn_strlcpy(h->cmds[i].name, name, sizeof h->cmds[i].name);
    pthread_mutex_unlock(&h->mu);
    return r;
}

void cn_proctor_set_device_ids(cn_proctor_hub *h, const char *ids)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    cn_strlcpy(h->device_ids, ids ? ids : "", sizeof h->device_ids);
    pthread_mutex_unlock(&h->mu);
}

static const char *const builtins[] = {"RequestStatus", "GetStatus", "RequestDeviceIds",
                                       "GetDeviceIds", "Login", "Authenticate", "Logout", NULL};

void cn_proctor_command_names(cn_proctor_hub *h, char *out, size_t len)
{
    if (!out || len == 0)
        return;
    out[0] = 0;
    size_t o = 0;
    for (int i = 0; builtins[i]; i++)
        o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", o ? "," : "", builtins[i]);
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_cmds && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, ",%s", h->cmds[i].name);
    pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ built-ins */

static void reply_set(cn_proctor_reply *r, bool ok, const char *msg, const char *error)
{
    r->ok = ok;
    cn_strlcpy(r->message, msg ? msg : "", sizeof r->message);
    cn_strlcpy(r->error, ok || !error ? "" : error, sizeof r->error);
}

static void status_attrs(cn_proctor_hub *h, const cn__client *c, cn_proctor_reply *r)
{
    int proctors = 0;
    for (int i = 0; i < h->n_clients; i++)
        proctors += h->clients[i].info.role == CN_PROCTOR_PROCTOR;
    const cn_guidance_state *g = &h->state;
    char cov[32] = "unknown";
    if (h->have_state && g->coverage >= 0)
        snprintf(cov, sizeof cov, "%.3f", g->coverage);
    snprintf(r->attrs, sizeof r->attrs,
             "Phase=\"%s\" Cycle=\"%d\" Alarms=\"0x%08x\" Coverage=\"%s\" NerveState=\"%s\" "
             "NerveTargetMm=\"%s\" Clients=\"%d\" Proctors=\"%d\" Role=\"%s\"",
             h->have_state ? cn_phase_name(g->phase) : "UNKNOWN", h->have_state ? g->cycle : 0,
             h->have_state ? (unsigned)g->alarms : 0u, cov, h->nerve_state, h->nerve_target,
             h->n_clients,
             proctors, c && c->info.role == CN_PROCTOR_PROCTOR ? "proctor" : "viewer");
}

/* RequestDeviceIds: names of the devices, optionally of one DeviceType (PLUS's
 * VirtualCapture is our recorder). device_ids holds "name:type,...". mu held. */
static void device_ids(cn_proctor_hub *h, const char *xml, cn_proctor_reply *r)
{
    char want[64] = "", list[256] = "";
    int arc = cn_proctor_xml_attr(xml, "DeviceType", want, sizeof want);
    if (arc != CN_OK && arc != CN_ENOENT) {
        reply_set(r, false, "Command failed, see error message.", "DeviceType is malformed");
        return;
    }
    size_t o = 0;
    char ids[256];
    cn_strlcpy(ids, h->device_ids, sizeof ids);
    for (char *save = NULL, *tok = strtok_r(ids, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        const char *type = colon ? colon + 1 : "";
        if (colon)
            *colon = 0;
        if (want[0] && strcmp(want, type) != 0)
            continue;
        o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s",
                              o ? "," : "", tok);
        if (r->n_params < CN_PROCTOR_PARAMS_MAX) {
            cn_strlcpy(r->params[r->n_params][0], tok, sizeof r->params[0][0]);
            cn_strlcpy(r->params[r->n_params][1], tok, sizeof r->params[0][1]);
            r->n_params++;
        }
    }
    reply_set(r, true, list, NULL);
}

/* ------------------------------------------------------------------ dispatch */

cn_proctor_verdict cn_proctor_command(cn_proctor_hub *h, uint64_t id, const char *name,
                                      const char *xml, cn_proctor_reply *r)
{
    memset(r, 0, sizeof *r);
    if (!h || !name) {
        reply_set(r, false, "Command failed, see error message.", "no proctor hub");
        return CN_PROCTOR_DONE;
    }
    if (!xml)
        xml = "";
    int64_t now = cn_clock_mono_ns();
    char who[CN_PROCTOR_NAME_MAX + 32] = "";
    pthread_mutex_lock(&h->mu);
    cn__client *c = cn__proctor_find(h, id);
    if (!c) {
        pthread_mutex_unlock(&h->mu);
        reply_set(r, false, "Command failed, see error message.", "unknown client");
        return CN_PROCTOR_DONE;
    }
    cn__proctor_who(c, who, sizeof who);
    c->info.commands++;
    if (!cn__bucket_take(&c->commands, &h->o.commands, now)) {
        c->info.refused++;
        pthread_mutex_unlock(&h->mu);
        char e[96];
        snprintf(e, sizeof e, "too many commands: at most %.1f per second", h->o.commands.per_s);
        reply_set(r, false, "Command refused.", e);
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "%s: command %s refused (rate limit)", who, name);
        return CN_PROCTOR_DONE;
    }
    /* built-ins that need the hub's state */
    if (strcmp(name, "RequestStatus") == 0 || strcmp(name, "GetStatus") == 0) {
        status_attrs(h, c, r);
        pthread_mutex_unlock(&h->mu);
        reply_set(r, true, "status", NULL);
        return CN_PROCTOR_DONE;
    }
    if (strcmp(name, "RequestDeviceIds") == 0 || strcmp(name, "GetDeviceIds") == 0) {
        device_ids(h, xml, r);
        pthread_mutex_unlock(&h->mu);
        return CN_PROCTOR_DONE;
    }
    if (strcmp(name, "Logout") == 0) {
        pthread_mutex_unlock(&h->mu);
        cn_proctor_logout(h, id);
        reply_set(r, true, "viewer", NULL);
        return CN_PROCTOR_DONE;
    }
    if (strcmp(name, "Login") == 0 || strcmp(name, "Authenticate") == 0) {
        pthread_mutex_unlock(&h->mu);
        char token[CN_PROCTOR_TOKEN_MAX + 2] = "", pname[CN_PROCTOR_NAME_MAX] = "", msg[160];
        int trc = cn_proctor_xml_attr(xml, "Token", token, sizeof token);
        if (trc != CN_OK && trc != CN_ERANGE)
            token[0] = 0;
        /* no Token attribute (or an empty one) is no guess: a typo in a script (`token`)
         * counted against the address's pause, which over a tunnel is everyone's
         * (review 43a F6) */
        if (trc != CN_ERANGE && !token[0]) {
            reply_set(r, false, "Login refused.",
                      "the Login command needs a Token attribute (Token=\"...\"): none "
                      "was given; not counted as a wrong token");
            return CN_PROCTOR_DONE;
        }
        /* the display name is DisplayName: Name is the command's own attribute (a
         * second Name is malformed XML, and Slicer's SetCommandAttribute("Name")
         * renames the command) */
        if (cn_proctor_xml_attr(xml, "DisplayName", pname, sizeof pname) != CN_OK)
            pname[0] = 0;
        cn_proctor_verdict v = cn_proctor_login(h, id, trc == CN_OK ? token : "", pname, msg,
                                                sizeof msg);
        volatile char *w = token;
        for (size_t i = 0; i < sizeof token; i++)
            w[i] = 0;
        reply_set(r, v == CN_PROCTOR_DONE, v == CN_PROCTOR_DONE ? "proctor" : "Login refused.",
                  msg);
        return v == CN_PROCTOR_DROP ? CN_PROCTOR_DROP : CN_PROCTOR_DONE;
    }
    int k = 0;
    while (k < h->n_cmds && strcmp(h->cmds[k].name, name) != 0)
        k++;
    if (k == h->n_cmds) {
        pthread_mutex_unlock(&h->mu);
        char e[160];
        snprintf(e, sizeof e, "unknown command %.100s", name);
        reply_set(r, false, "Command failed, see error message.", e);
        cn_proctor_logf(h, MOD, CN_LOG_INFO, false, "%s: %s", who, e);
        return CN_PROCTOR_DONE;
    }
    cn__command cmd = h->cmds[k];
    if (cmd.needs == CN_PROCTOR_PROCTOR && c->info.role != CN_PROCTOR_PROCTOR) {
        c->info.refused++;
        pthread_mutex_unlock(&h->mu);
        reply_set(r, false, "Command refused.",
                  "this command needs proctor rights: log in with the proctor token first");
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "%s: %s refused: not a proctor", who, name);
        return CN_PROCTOR_DONE;
    }
    if (cmd.control && !cn__bucket_take(&c->control, &h->o.control, now)) {
        c->info.refused++;
        pthread_mutex_unlock(&h->mu);
        char e[96];
        snprintf(e, sizeof e, "too many procedure commands: at most %.1f per second",
                 h->o.control.per_s);
        reply_set(r, false, "Command refused.", e);
        cn_proctor_logf(h, MOD, CN_LOG_WARN, false, "%s: %s refused (rate limit)", who, name);
        return CN_PROCTOR_DONE;
    }
    pthread_mutex_unlock(&h->mu);
    char msg[256] = "";
    bool ok = cmd.fn(cmd.user, name, xml, msg, sizeof msg);
    cn_proctor_sanitise(msg);
    reply_set(r, ok, msg, msg);
    cn_proctor_logf(h, MOD, CN_LOG_INFO, cmd.control && ok, "command %s from %s: %s %s", name, who,
                    ok ? "SUCCESS" : "FAIL", msg);
    return CN_PROCTOR_DONE;
}

int cn_proctor_reply_xml(const char *name, const cn_proctor_reply *r, char *out, size_t len)
{
    char n[160], m[600], e[400];
    cn_proctor_xml_escape(n, sizeof n, name);
    cn_proctor_xml_escape(m, sizeof m, r->message);
    cn_proctor_xml_escape(e, sizeof e, r->error);
    int w = snprintf(out, len, "<CommandReply Name=\"%s\" Status=\"%s\" Message=\"%s\"%s%s%s%s%s/>",
                     n, r->ok ? "SUCCESS" : "FAIL", m, e[0] ? " Error=\"" : "", e,
                     e[0] ? "\"" : "", r->attrs[0] ? " " : "", r->attrs);
    return (w < 0 || (size_t)w >= len) ? CN_ERANGE : CN_OK;
}
