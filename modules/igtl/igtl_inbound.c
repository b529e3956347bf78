/*
 * igtl_inbound.c - what a connected client may send, and what the server does with it.
 *
 * The idea: a viewer is read-only. Everything it sends is parsed (CRC-checked
 * by the parser, content decoded with bounds checks here); malformed content
 * drops that client, well-formed but unwanted messages are counted as rejected
 * and otherwise ignored. What a client may do:
 *   - any client: GET_IMAGE / GET_TRANSFOR / GET_POLYDATA (answered from the
 *     newest frame), GET_STATUS, and the status command (CMD_<uid> with
 *     <Command Name="RequestStatus"/> or "GetStatus"), and switch the server to
 *     v2 headers for itself by sending any v2-header message (as Slicer does
 *     with a STATUS carrying metadata);
 *   - a proctor client (role given by proctor_names or a ProctorLogin STRING
 *     holding proctor_token): STRING notes and POINT targets, which become
 *     annotations the app polls, and registered commands such as
 *     StartRecording / StopRecording.
 */
#include "igtl_priv.h"

#include <stdio.h>
#include <string.h>

#define MOD "igtl"

static void reply(cn_igtl_server *s, cn_igtl_client *c, const char *device, const char *text)
{
    cn_igtl_packet *p = cn__igtl_string_packet(s, c->st.header_version, device, text);
    if (p) {
        cn__igtl_enqueue(s, c, p);
        cn__igtl_packet_unref(s, p);
    }
}

static void annotate(cn_igtl_server *s, cn_igtl_client *c, cn_igtl_annotation_kind kind,
                     const char *from, const char *text, const float pos[3])
{
    cn_igtl_annotation a = {.kind = kind, .client_id = c->st.id, .t_wall_ns = cn_clock_wall_ns()};
    cn_strlcpy(a.from, from, sizeof a.from);
    cn_strlcpy(a.text, text, sizeof a.text);
    if (pos)
        memcpy(a.pos, pos, sizeof a.pos);
    pthread_mutex_lock(&s->mu);
    if (s->ann_n == CN_IGTL_ANN_MAX) {   /* nobody polls: keep the newest */
        s->ann_head = (s->ann_head + 1) % CN_IGTL_ANN_MAX;
        s->ann_n--;
    }
    s->ann[(s->ann_head + s->ann_n) % CN_IGTL_ANN_MAX] = a;
    s->ann_n++;
    pthread_mutex_unlock(&s->mu);
    cn_log_info(s->o.log, MOD, "proctor %s (client %llu): %s %s", from,
                (unsigned long long)c->st.id, kind == CN_IGTL_NOTE ? "note" : "target", text);
}

static void status_attrs(cn_igtl_server *s, char *out, size_t len)
{
    snprintf(out, len,
             "Phase=\"%s\" Cycle=\"%d\" Alarms=\"0x%08x\" SceneFrame=\"%s\" Clients=\"%d\" "
             "AcqToSentMsP50=\"%.2f\"",
             s->have_prev ? cn_phase_name(s->prev.phase) : "UNKNOWN",
             s->have_prev ? s->prev.cycle : 0, s->have_prev ? (unsigned)s->prev.alarms : 0u,
             s->scene_ref[0] ? s->scene_ref : s->o.reference_frame, s->n_clients,
             cn_stats_percentile(s->lat_ms, 50));
}

static void command(cn_igtl_server *s, cn_igtl_client *c, const char *uid, const char *xml)
{
    char name[64] = "", msg[256] = "", extra[384] = "", out[1024], ack[CN_XFORM_NAME_MAX];
    bool ok = false;
    snprintf(ack, sizeof ack, "ACK_%s", uid);
    if (cn_igtl_command_name(xml, name, sizeof name) != CN_OK) {
        cn_strlcpy(name, "?", sizeof name);
        cn_strlcpy(msg, "expected <Command Name=\"...\" .../>", sizeof msg);
    } else if (strcmp(name, "RequestStatus") == 0 || strcmp(name, "GetStatus") == 0) {
        ok = true;
        status_attrs(s, extra, sizeof extra);
    } else {
        cn_igtl_command_fn fn = NULL;
        void *user = NULL;
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->n_cmds; i++)
            if (strcmp(s->cmds[i].name, name) == 0) {
                fn = s->cmds[i].fn;
                user = s->cmds[i].user;
            }
        pthread_mutex_unlock(&s->mu);
        if (!fn)
            snprintf(msg, sizeof msg, "unknown command %s", name);
        else if (!c->st.proctor)
            cn_strlcpy(msg, "this command needs a proctor client (ProctorLogin)", sizeof msg);
        else
            ok = fn(user, name, xml, msg, sizeof msg);
    }
    cn_log_info(s->o.log, MOD, "command %s from client %llu: %s %s", name,
                (unsigned long long)c->st.id, ok ? "SUCCESS" : "FAIL", msg);
    if (cn_igtl_command_reply(out, sizeof out, name, ok, msg, extra) == CN_OK)
        reply(s, c, ack, out);
}

/* Copies the newest frame's messages of `type` (all of them when none is named
 * `device`) into one reply packet. */
static void answer_get(cn_igtl_server *s, cn_igtl_client *c, const char *type, const char *device)
{
    cn_igtl_packet *last = s->last[c->st.header_version == 2 ? 2 : 1];
    if (!last)
        return;
    size_t tl = strlen(type);
    bool any_named = false;
    for (int pass = 0; pass < 2; pass++) {
        cn_igtl_packet *p = NULL;
        for (size_t off = 0; off + CN_IGTL_HEADER_SIZE <= last->buf.len;) {
            cn_igtl_header h;
            if (cn_igtl_header_unpack(last->buf.data + off, &h, NULL, 0) != CN_OK)
                break;
            size_t len = CN_IGTL_HEADER_SIZE + (size_t)h.body_size;
            bool type_ok = strncmp(h.type, type, tl) == 0;
            bool name_ok = device[0] && strcmp(h.device, device) == 0;
            if (pass == 0 && type_ok && name_ok)
                any_named = true;
            if (pass == 1 && type_ok && (!any_named || name_ok)) {
                if (!p && !(p = cn__igtl_packet_get(s)))
                    return;
                uint8_t *d = cn_igtl_buf_append(&p->buf, len);
                if (d)
                    memcpy(d, last->buf.data + off, len);
            }
            off += len;
        }
        if (pass == 1 && p) {
            cn__igtl_enqueue(s, c, p);
            cn__igtl_packet_unref(s, p);
        }
    }
}

void cn__igtl_handle_message(cn_igtl_server *s, cn_igtl_client *c, const cn_igtl_message *m)
{
    char name[CN_XFORM_NAME_MAX], why[192];
    cn_igtl_message_name(m, name, sizeof name);
    if (m->h.version == 2 && c->st.header_version != 2) {
        c->st.header_version = 2;
        cn_log_info(s->o.log, MOD, "client %llu sent a v2 header: answering it in v2",
                    (unsigned long long)c->st.id);
    }
    if (!c->st.proctor && cn__igtl_is_proctor_name(s, name)) {
        c->st.proctor = true;
        cn_log_info(s->o.log, MOD, "client %llu is a proctor (device name %s)",
                    (unsigned long long)c->st.id, name);
    }
    const char *type = m->h.type;
    if (strcmp(type, "STRING") == 0) {
        char text[4096];
        int r = cn_igtl_decode_string(m->content, m->content_len, text, sizeof text, NULL);
        if (r != CN_OK) {
            snprintf(why, sizeof why, "protocol error: STRING %s: %s", name,
                     r == CN_ERANGE ? "longer than 4095 bytes" : "malformed content");
            cn__igtl_kill(s, c, why);
            return;
        }
        if (strncmp(name, "CMD_", 4) == 0 && name[4]) {
            command(s, c, name + 4, text);
        } else if (strcmp(name, "ProctorLogin") == 0) {
            bool ok = s->o.proctor_token[0] && strcmp(text, s->o.proctor_token) == 0;
            if (ok)
                c->st.proctor = true;
            else
                c->st.msgs_rejected++;
            cn_log_write(s->o.log, ok ? CN_LOG_INFO : CN_LOG_WARN, MOD,
                         "client %llu proctor login %s", (unsigned long long)c->st.id,
                         ok ? "accepted" : "refused");
            reply(s, c, "ProctorLoginReply", ok ? "OK" : "DENIED");
        } else if (c->st.proctor) {
            annotate(s, c, CN_IGTL_NOTE, name, text, NULL);
        } else {
            c->st.msgs_rejected++;
        }
        return;
    }
    if (strcmp(type, "POINT") == 0) {
        cn_igtl_point pts[16];
        int n = cn_igtl_decode_points(m->content, m->content_len, pts, 16);
        if (n < 0) {
            snprintf(why, sizeof why, "protocol error: POINT %s: malformed content", name);
            cn__igtl_kill(s, c, why);
            return;
        }
        if (!c->st.proctor) {
            c->st.msgs_rejected++;
            return;
        }
        for (int i = 0; i < n; i++)
            annotate(s, c, CN_IGTL_TARGET, name, pts[i].name, pts[i].pos);
        return;
    }
    if (strncmp(type, "GET_", 4) == 0) {
        if (strcmp(type, "GET_STATUS") == 0) {
            char attrs[384];
            status_attrs(s, attrs, sizeof attrs);
            cn_igtl_packet *p = cn__igtl_packet_get(s);
            if (!p)
                return;
            cn_igtl_msg msg;
            int r = cn_igtl_msg_begin(&p->buf, &msg, c->st.header_version, "STATUS",
                                      "CryoNavStatus", cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()),
                                      ++s->msg_id);
            if (r == CN_OK)
                r = cn_igtl_put_status(&p->buf, 1, 0, "OK", attrs);
            if (r == CN_OK)
                r = cn_igtl_msg_end(&p->buf, &msg, NULL, 0);
            if (r == CN_OK)
                cn__igtl_enqueue(s, c, p);
            cn__igtl_packet_unref(s, p);
        } else {
            answer_get(s, c, type + 4, m->h.device);
        }
        return;
    }
    /* Read-only for viewers; the content must still be well-formed. */
    int r = CN_OK;
    if (strcmp(type, "TRANSFORM") == 0) {
        cn_mat4 mm;
        r = cn_igtl_decode_transform(m->content, m->content_len, &mm);
    } else if (strcmp(type, "IMAGE") == 0) {
        cn_igtl_image_view v;
        r = cn_igtl_decode_image(m->content, m->content_len, &v);
        if (r == CN_EUNSUPPORTED)
            r = CN_OK;
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
