/*
 * igtl_inbound.c - what a connected client may send, decoded for the proctor hub.
 *
 * The idea: this file only speaks OpenIGTLink; the proctor hub decides. A
 * client is a viewer until it logs in with the operator's token (a STRING
 * "ProctorLogin" holding it, or the command Login / Authenticate with a Token
 * attribute); a device name, in the header or in IGTL_DEVICE_NAME metadata,
 * grants nothing. Everything is parsed (CRC-checked by the parser, content
 * decoded with bounds checks here); malformed content drops that client,
 * well-formed but refused messages are counted and otherwise ignored. What a
 * client may send:
 *   - anyone: GET_IMAGE / GET_TRANS(FOR) / GET_POLYDATA (answered with slices
 *     of the newest frame packet, no copies), GET_STATUS, GET_CAPABIL (a
 *     CAPABILITY listing what we send and accept), commands in both forms: the
 *     PLUS STRING `CMD_<uid>` holding `<Command Name=.../>`, answered by a STRING
 *     `ACK_<uid>`, and the COMMAND message (Slicer's igtlio, PLUS clients),
 *     answered by an RTS_COMMAND with the same command id, name and device and
 *     Status / Message / Error metadata; any v2-header message switches the
 *     server to v2 headers for that client (Slicer's STATUS greeting);
 *   - a proctor: STRING notes and POINT targets, and the commands that need
 *     proctor rights (StartRecording ...). The hub applies roles and rates the
 *     same way whatever form a command came in.
 */
#include "igtl_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "igtl"

static void enqueue_once(cn_igtl_server *s, cn_igtl_client *c, cn_igtl_packet *p)
{
    if (p) {
        cn__igtl_enqueue(s, c, p);
        cn__igtl_packet_unref(s, p);
    }
}

static void reply_string(cn_igtl_server *s, cn_igtl_client *c, const char *device, const char *text)
{
    enqueue_once(s, c, cn__igtl_string_packet(s, c->st.header_version, device, text));
}

/* What only the transport knows, added to RequestStatus. */
static void transport_attrs(cn_igtl_server *s, cn_proctor_reply *r)
{
    size_t n = strlen(r->attrs);
    /* no frame sent yet: no latency, and the attribute is left out rather than "nan" (a
     * number parser in a client's script fails on it: the thirty-sixth session's review) */
    const double p50 = cn_stats_percentile(s->lat_ms, 50);
    snprintf(r->attrs + n, sizeof r->attrs - n, "%sSceneFrame=\"%s\"", n ? " " : "",
             s->scene_ref[0] ? s->scene_ref : s->o.reference_frame);
    n = strlen(r->attrs);
    if (isfinite(p50))
        snprintf(r->attrs + n, sizeof r->attrs - n, " AcqToSentMsP50=\"%.2f\"", p50);
}

/* Runs a command through the hub; false when the client must be dropped. */
static bool run_command(cn_igtl_server *s, cn_igtl_client *c, const char *name, const char *xml,
                        cn_proctor_reply *r)
{
    cn_proctor_verdict v = cn_proctor_command(s->hub, c->st.id, name, xml, r);
    if (r->ok && (strcmp(name, "RequestStatus") == 0 || strcmp(name, "GetStatus") == 0))
        transport_attrs(s, r);
    if (!r->ok)
        c->st.msgs_rejected++;
    return v != CN_PROCTOR_DROP;
}

/* PLUS's STRING form: CMD_<uid> -> ACK_<uid>. */
static void string_command(cn_igtl_server *s, cn_igtl_client *c, const char *uid, const char *xml)
{
    char name[64] = "", out[1600], ack[CN_XFORM_NAME_MAX];
    snprintf(ack, sizeof ack, "ACK_%s", uid);
    cn_proctor_reply r;
    bool keep = true;
    if (cn_igtl_command_name(xml, name, sizeof name) != CN_OK) {
        memset(&r, 0, sizeof r);
        cn_strlcpy(name, "?", sizeof name);
        cn_strlcpy(r.message, "Command failed, see error message.", sizeof r.message);
        cn_strlcpy(r.error, "expected <Command Name=\"...\" .../>", sizeof r.error);
        c->st.msgs_rejected++;
    } else {
        keep = run_command(s, c, name, xml, &r);
    }
    if (cn_proctor_reply_xml(name, &r, out, sizeof out) == CN_OK)
        reply_string(s, c, ack, out);
    if (!keep)
        cn__igtl_kill(s, c, "too many failed proctor logins");
}

/* The COMMAND message -> RTS_COMMAND with the same id, name and device. */
static void command_message(cn_igtl_server *s, cn_igtl_client *c, const cn_igtl_message *m)
{
    cn_igtl_command_view cv;
    if (cn_igtl_decode_command(m->content, m->content_len, &cv) != CN_OK) {
        char why[160];
        snprintf(why, sizeof why, "protocol error: COMMAND %s: malformed content", m->h.device);
        cn__igtl_kill(s, c, why);
        return;
    }
    cn_proctor_reply r;
    memset(&r, 0, sizeof r);
    bool keep = true;
    char xml[4096], name[CN_IGTL_COMMAND_NAME_SIZE + 1];
    cn_strlcpy(name, cv.name, sizeof name);
    if (cv.encoding != CN_IGTL_ENC_US_ASCII && cv.encoding != 106 /* UTF-8 */) {
        cn_strlcpy(r.message, "Command failed, see error message.", sizeof r.message);
        snprintf(r.error, sizeof r.error, "command text encoding %u: expected 3 (US-ASCII)",
                 cv.encoding);
    } else if (cv.text_len >= sizeof xml) {
        cn_strlcpy(r.message, "Command failed, see error message.", sizeof r.message);
        snprintf(r.error, sizeof r.error, "command text of %zu bytes: at most %zu", cv.text_len,
                 sizeof xml - 1);
    } else {
        memcpy(xml, cv.text, cv.text_len);
        xml[cv.text_len] = 0;
        /* The name field is the command (PLUS); the text may be its XML or empty. */
        if (!name[0] && cn_igtl_command_name(xml, name, sizeof name) != CN_OK)
            name[0] = 0;
        if (!strchr(xml, '<')) {
            char esc[CN_IGTL_COMMAND_NAME_SIZE * 6 + 1];
            cn_proctor_xml_escape(esc, sizeof esc, name);
            snprintf(xml, sizeof xml, "<Command Name=\"%s\"/>", esc);
        }
        if (!name[0]) {
            cn_strlcpy(r.message, "Command failed, see error message.", sizeof r.message);
            cn_strlcpy(r.error, "the COMMAND has no command name", sizeof r.error);
        } else {
            keep = run_command(s, c, name, xml, &r);
        }
    }
    char text[1600];
    if (cn_proctor_reply_xml(name[0] ? name : "?", &r, text, sizeof text) != CN_OK)
        cn_strlcpy(text, "<CommandReply Status=\"FAIL\" Message=\"reply too long\"/>", sizeof text);
    cn_igtl_meta meta[3 + CN_PROCTOR_PARAMS_MAX] = {{"Status", r.ok ? "SUCCESS" : "FAIL"},
                                                    {"Message", r.message},
                                                    {"Error", r.error}};
    int n_meta = r.ok || !r.error[0] ? 2 : 3;
    for (int i = 0; i < r.n_params && i < CN_PROCTOR_PARAMS_MAX; i++)   /* PLUS: results */
        meta[n_meta++] = (cn_igtl_meta){r.params[i][0], r.params[i][1]};
    cn_igtl_packet *p = cn__igtl_packet_get(s);
    if (p) {
        cn_igtl_msg msg;
        int rc = cn_igtl_msg_begin(&p->buf, &msg, c->st.header_version, "RTS_COMMAND",
                                   m->h.device, cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()),
                                   cv.id);
        if (rc == CN_OK)
            rc = cn_igtl_put_command(&p->buf, cv.id, name, text);
        if (rc == CN_OK)
            rc = cn_igtl_msg_end(&p->buf, &msg, meta, n_meta);
        if (rc == CN_OK)
            cn__igtl_enqueue(s, c, p);
        cn__igtl_packet_unref(s, p);
    }
    if (!keep)
        cn__igtl_kill(s, c, "too many failed proctor logins");
}

/* Answers GET_<type> with slices of the newest frame packet: every message of
 * that type, or only the one named `device` when it exists. No copy: the slice
 * keeps the frame packet alive, and a newer answer to the same question
 * replaces one still queued. */
void cn__igtl_answer_get(cn_igtl_server *s, cn_igtl_client *c, const char *type,
                         const char *device)
{
    cn_igtl_packet *last = s->last[c->st.header_version == 2 ? 2 : 1];
    if (!last || !s->packed_any || last->seq != s->newest_seq) {
        /* none of this version, or one older than the newest frame (its version had no
         * client for a while): the next frame answers. Before, a v2 client's first GET
         * got nothing, and a GET_TRANS was answered with poses 15 s old (the
         * thirty-sixth session's review) */
        const int max = (int)(sizeof c->get_pending / sizeof c->get_pending[0]);
        for (int k = 0; k < c->n_get_pending; k++)
            if (strcmp(c->get_pending[k].type, type) == 0 &&
                strcmp(c->get_pending[k].device, device) == 0)
                return; /* asked already: one answer */
        if (c->n_get_pending < max) {
            cn_strlcpy(c->get_pending[c->n_get_pending].type, type, sizeof c->get_pending[0].type);
            cn_strlcpy(c->get_pending[c->n_get_pending].device, device,
                       sizeof c->get_pending[0].device);
            c->n_get_pending++;
        }
        return;
    }
    size_t tl = strlen(type);
    bool any_named = false;
    for (size_t off = 0; off + CN_IGTL_HEADER_SIZE <= last->buf.len;) {
        cn_igtl_header h;
        if (cn_igtl_header_unpack(last->buf.data + off, &h, NULL, 0) != CN_OK)
            break;
        if (strncmp(h.type, type, tl) == 0 && device[0] && strcmp(h.device, device) == 0)
            any_named = true;
        off += CN_IGTL_HEADER_SIZE + (size_t)h.body_size;
    }
    /* one slice per contiguous run of matching messages */
    size_t run_start = 0, run_len = 0;
    for (size_t off = 0;; ) {
        bool match = false;
        size_t len = 0;
        if (off + CN_IGTL_HEADER_SIZE <= last->buf.len) {
            cn_igtl_header h;
            if (cn_igtl_header_unpack(last->buf.data + off, &h, NULL, 0) == CN_OK) {
                len = CN_IGTL_HEADER_SIZE + (size_t)h.body_size;
                match = strncmp(h.type, type, tl) == 0 &&
                        (!any_named || strcmp(h.device, device) == 0);
            }
        }
        if (match && run_len == 0)
            run_start = off;
        if (match) {
            run_len += len;
        } else if (run_len > 0) {
            cn_igtl_packet *p = cn__igtl_packet_get(s);
            if (!p)
                return;
            p->parent = last;
            last->refs++;
            p->slice_off = run_start;
            p->slice_len = run_len;
            p->is_get = true;
            snprintf(p->get_key, sizeof p->get_key, "%.12s/%.20s/%zu", type, device, run_start);
            enqueue_once(s, c, p);
            run_len = 0;
        }
        if (len == 0)
            break;
        off += len;
    }
}

static void answer_capability(cn_igtl_server *s, cn_igtl_client *c)
{
    /* What we send, then what we accept (GET_TRANS and GET_TRANSFOR both work). */
    static const char *const types[] = {"IMAGE", "TRANSFORM", "POLYDATA", "POINT", "STRING",
                                        "STATUS", "RTS_COMMAND", "CAPABILITY", "GET_IMAGE",
                                        "GET_TRANS", "GET_POLYDATA", "GET_POINT", "GET_STATUS",
                                        "GET_CAPABIL", "POINT", "COMMAND"};
    cn_igtl_packet *p = cn__igtl_packet_get(s);
    if (!p)
        return;
    cn_igtl_msg msg;
    int r = cn_igtl_msg_begin(&p->buf, &msg, c->st.header_version, "CAPABILITY", "CryoNav",
                              cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), ++s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_capability(&p->buf, types, (int)(sizeof types / sizeof types[0]));
    if (r == CN_OK)
        r = cn_igtl_msg_end(&p->buf, &msg, NULL, 0);
    if (r == CN_OK)
        cn__igtl_enqueue(s, c, p);
    cn__igtl_packet_unref(s, p);
}

static void answer_status(cn_igtl_server *s, cn_igtl_client *c)
{
    cn_proctor_reply r;
    run_command(s, c, "RequestStatus", "<Command Name=\"RequestStatus\"/>", &r);
    cn_igtl_packet *p = cn__igtl_packet_get(s);
    if (!p)
        return;
    cn_igtl_msg msg;
    int rc = cn_igtl_msg_begin(&p->buf, &msg, c->st.header_version, "STATUS", "CryoNavStatus",
                               cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), ++s->msg_id);
    if (rc == CN_OK)
        rc = cn_igtl_put_status(&p->buf, r.ok ? 1 : 2, 0, r.ok ? "OK" : "Refused",
                                r.ok ? r.attrs : r.error);
    if (rc == CN_OK)
        rc = cn_igtl_msg_end(&p->buf, &msg, NULL, 0);
    if (rc == CN_OK)
        cn__igtl_enqueue(s, c, p);
    cn__igtl_packet_unref(s, p);
}

static void login_string(cn_igtl_server *s, cn_igtl_client *c, const char *token)
{
    char msg[160], out[200];
    cn_proctor_verdict v = cn_proctor_login(s->hub, c->st.id, token, NULL, msg, sizeof msg);
    if (v != CN_PROCTOR_DONE)
        c->st.msgs_rejected++;
    snprintf(out, sizeof out, "%s: %s", v == CN_PROCTOR_DONE ? "OK" : "DENIED", msg);
    reply_string(s, c, CN_IGTL_STR_LOGIN_REPLY, out);
    if (v == CN_PROCTOR_DROP) {
        cn__igtl_flush(s, c); /* the DENIED that says why reaches it before the close */
        cn__igtl_kill(s, c, "too many failed proctor logins");
    }
}

/* A STRING: a PLUS command (CMD_<uid>), a login, the cryo console's state, else a
 * proctor's note. name: the message's name, the long one of v2 metadata when sent. */
/* "ProctorLogin", or Slicer's "ProctorLogin_<n>" for a second node of that name; not the
 * server's own "ProctorLoginReply" sent back (a prefix match made every echo a wrong
 * token, pausing logins for everyone: the review of the change). */
static bool is_login_name(const char *name)
{
    if (strncmp(name, "ProctorLogin", 12) != 0)
        return false;
    const char *p = name + 12;
    if (!*p)
        return true;
    if (*p++ != '_' || !*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* The STRINGs the server itself sends: a Slicer connector with such a text node among
 * its outgoing nodes sends it back, and the echo was broadcast as a proctor's note
 * ("OK: proctor rights granted"; review 43a F7). */
static bool own_string_name(const char *name)
{
    static const char *const own[] = CN_IGTL_OWN_STRINGS;
    for (int i = 0; own[i]; i++)
        if (strcmp(name, own[i]) == 0)
            return true;
    return false;
}

static bool blank_text(const char *t)
{
    for (; *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
            return false;
    return true;
}

static void string_message(cn_igtl_server *s, cn_igtl_client *c, const char *header,
                           const char *name, const char *text)
{
    /* The uid of a command: the whole name when the metadata's is the long form of
     * the header's (a v2 client sends a long one there, its header holding the
     * first 20 characters; before, the cut header name won, and the reply
     * ACK_<cut uid> never reached the client waiting for ACK_<uid>); a metadata
     * name that is not (a header CMD_2 "calling itself" Proctor) leaves the
     * header's. */
    if (strncmp(name, header, strlen(header)) != 0)
        name = header;
    const char *uid = strncmp(name, "CMD_", 4) == 0 && name[4] ? name + 4 : NULL;
    if (uid)
        string_command(s, c, uid, text);
    else if (is_login_name(name))
        /* Slicer names a second text node "ProctorLogin_1": still a login, never a
         * note broadcast to every viewer with the token in it */
        login_string(s, c, text);
    else if (strcmp(name, "CryoConsole") == 0) {
        /* the cryo console's state message (issue 13): a command of the hub
         * (proctor role), answered in the log, never as a note */
        cn_proctor_reply cr;
        if (cn_proctor_command(s->hub, c->st.id, "CryoConsole", text, &cr) != CN_PROCTOR_DONE)
            c->st.msgs_rejected++;
    } else if (own_string_name(name) || blank_text(text)) {
        /* an echo of the server's own, or an empty note: nothing to say to anyone */
        c->st.msgs_rejected++;
    } else {
        const cn_proctor_verdict v = cn_proctor_note(s->hub, c->st.id, text);
        if (v != CN_PROCTOR_DONE)
            c->st.msgs_rejected++;
        if (v == CN_PROCTOR_DROP) /* notes holding tokens, as many as failed logins allow */
            cn__igtl_kill(s, c, "too many failed proctor logins");
    }
}

/* A viewer's IMAGE and POLYDATA are never used: a Slicer connector with a volume
 * or model node among its outgoing nodes pushes it back, and that must keep its
 * link, so they are checked and counted as rejected. Buffering a 16 MiB body for
 * that let any local viewer make the process hold 16 MiB per connection, for
 * data thrown away (review 43a F8): the parser keeps what the checks below read
 * (an IMAGE's 72-byte header, which with the content size says whether the size
 * fields lie; nothing of a POLYDATA, which is not decoded) and CRC-checks the
 * rest as it passes. */
int cn__igtl_stream_unused(cn_igtl_parser *p)
{
    int r = cn_igtl_parser_stream_type(p, "IMAGE", CN_IGTL_IMAGE_HEADER_SIZE);
    return r == CN_OK ? cn_igtl_parser_stream_type(p, "POLYDATA", 0) : r;
}

void cn__igtl_handle_message(cn_igtl_server *s, cn_igtl_client *c, const cn_igtl_message *m)
{
    char name[CN_XFORM_NAME_MAX], why[192];
    cn_igtl_message_name(m, name, sizeof name);
    if (m->h.version == 2 && c->st.header_version != 2) {
        c->st.header_version = 2;
        cn_proctor_logf(s->hub, MOD, CN_LOG_INFO, false,
                        "client %llu sent a v2 header: answering it in v2",
                        (unsigned long long)c->st.id);
    }
    const char *type = m->h.type;
    if (strcmp(type, "STRING") == 0) {
        /* any STRING the body limit lets in (max_body_small_bytes): a proctor who
         * pastes a long text keeps the link (before, over 4095 bytes dropped it as
         * a protocol error); a note is cut to 200 characters after this */
        char stack[4096], *text = stack;
        if (m->content_len + 1 > sizeof stack && !(text = malloc(m->content_len + 1))) {
            cn__igtl_kill(s, c, "out of memory");
            return;
        }
        int r = cn_igtl_decode_string(m->content, m->content_len, text,
                                      text == stack ? sizeof stack : m->content_len + 1, NULL);
        if (r != CN_OK) {
            snprintf(why, sizeof why, "protocol error: STRING %s: malformed content", name);
            if (text != stack)
                free(text);
            cn__igtl_kill(s, c, why);
            return;
        }
        string_message(s, c, m->h.device, name, text);
        if (text != stack)
            free(text);
        return;
    }
    if (strcmp(type, "COMMAND") == 0) {
        command_message(s, c, m);
        return;
    }
    if (strcmp(type, "POINT") == 0) {
        /* A markups list (Slicer sends the whole list, newest last) is one message
         * and one target: its newest point that is not our own NerveTarget sent
         * back (else that one, which the hub knows for an echo). Before, each point
         * took a rate token: the 6th and later, the newest, were dropped unsaid. */
        cn_igtl_point pts[16];
        size_t all = m->content_len / 136, skip = all > 16 ? all - 16 : 0;
        int n = m->content_len % 136 ? CN_EPARSE
                                     : cn_igtl_decode_points(m->content + 136 * skip,
                                                             m->content_len - 136 * skip, pts, 16);
        if (n < 0) {
            snprintf(why, sizeof why, "protocol error: POINT %s: malformed content", name);
            cn__igtl_kill(s, c, why);
            return;
        }
        int pick = n - 1;
        for (int i = n - 1; i >= 0; i--)
            if (strcmp(pts[i].name, "NerveTarget") != 0) {
                pick = i;
                break;
            }
        if (pick >= 0) {
            double p[3] = {pts[pick].pos[0], pts[pick].pos[1], pts[pick].pos[2]};
            if (cn_proctor_target(s->hub, c->st.id, pts[pick].name, p) != CN_PROCTOR_DONE)
                c->st.msgs_rejected++;
        }
        return;
    }
    if (strncmp(type, "GET_", 4) == 0) {
        if (strcmp(type, "GET_STATUS") == 0)
            answer_status(s, c);
        else if (strcmp(type, "GET_CAPABIL") == 0)
            answer_capability(s, c);
        else if (type[4]) /* "GET_" alone names no type: it matched every message (43a F9) */
            cn__igtl_answer_get(s, c, type + 4, m->h.device);
        else
            c->st.msgs_rejected++;
        return;
    }
    /* Read-only for viewers; the content must still be well-formed. */
    int r = CN_OK;
    if (strcmp(type, "TRANSFORM") == 0) {
        cn_mat4 mm;
        r = cn_igtl_decode_transform(m->content, m->content_len, &mm);
    } else if (strcmp(type, "IMAGE") == 0) {
        cn_igtl_image_view v;
        /* streamed (cn__igtl_stream_unused): the header only, against the size sent */
        r = cn_igtl_decode_image_header(m->content, m->content_len,
                                        m->streamed ? m->content_size : m->content_len, &v);
        if (r == CN_EUNSUPPORTED) { /* a well-formed sub-volume update: not used, said once */
            if (!c->said_subvolume)
                cn_log_info(s->o.log, MOD, "client %llu (%s): an IMAGE sub-volume update (%s) "
                            "is ignored: only whole images are read",
                            (unsigned long long)c->st.id, c->st.peer, name);
            c->said_subvolume = true;
            r = CN_OK;
        }
    } else if (strcmp(type, "STATUS") == 0) {
        r = cn_igtl_decode_status(m->content, m->content_len, NULL, NULL, NULL, 0);
    }
    if (r != CN_OK) {
        snprintf(why, sizeof why, "protocol error: %s %s: malformed content", type, name);
        cn__igtl_kill(s, c, why);
        return;
    }
    c->st.msgs_rejected++;
}
