/*
 * igtl_cmd.c - PLUS-style remote commands and the "igtl" section of the config.
 *
 * PlusServer's commands are a STRING named CMD_<uid> holding one XML element,
 * `<Command Name="StartRecording" .../>`, answered by a STRING ACK_<uid> holding
 * `<CommandReply Name=... Status="SUCCESS|FAIL" Message=.../>`. The element is
 * flat, so the proctor hub's small attribute scanner is enough and keeps a full
 * XML parser away from untrusted input. Who may run which command is the hub's
 * business (modules/proctor); these are the wire-side helpers.
 */
#include "igtl/igtl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cn_igtl_xml_attr(const char *xml, const char *attr, char *val, size_t val_len)
{
    return cn_proctor_xml_attr(xml, attr, val, val_len);
}

int cn_igtl_command_name(const char *xml, char *name, size_t name_len)
{
    if (!xml)
        return CN_EINVAL;
    const char *p = strchr(xml, '<');
    if (!p || strncmp(p, "<Command", 8) != 0 || !(isspace((unsigned char)p[8]) || p[8] == '/'))
        return CN_EPARSE;
    return cn_igtl_xml_attr(p, "Name", name, name_len);
}

int cn_igtl_command_reply(char *out, size_t out_len, const char *name, bool ok,
                          const char *message, const char *extra)
{
    char n[128], m[512];
    cn_proctor_xml_escape(n, sizeof n, name);
    cn_proctor_xml_escape(m, sizeof m, message);
    int w = snprintf(out, out_len, "<CommandReply Name=\"%s\" Status=\"%s\" Message=\"%s\"%s%s/>",
                     n, ok ? "SUCCESS" : "FAIL", m, extra && extra[0] ? " " : "",
                     extra ? extra : "");
    return (w < 0 || (size_t)w >= out_len) ? CN_ERANGE : CN_OK;
}

/* ------------------------------------------------------------------ options */

void cn_igtl_server_opts_default(cn_igtl_server_opts *o)
{
    memset(o, 0, sizeof *o);
    cn_strlcpy(o->listen_addr, "127.0.0.1", sizeof o->listen_addr);
    o->port = CN_IGTL_DEFAULT_PORT;
    o->max_clients = 16;
    o->queue_frames = 3;
    cn_igtl_limits_default(&o->limits);
    cn_strlcpy(o->reference_frame, "Reference", sizeof o->reference_frame);
    cn_strlcpy(o->image_name, "Image", sizeof o->image_name);
    o->send_image = true;
    o->send_polydata = true;
    o->latency_period_s = 1.0;
    o->partial_timeout_s = 5.0;
    o->stall_timeout_s = 10.0;
}

int cn_igtl_parse_listen(const char *text, char *addr, size_t addr_len, int *port)
{
    if (!text || !addr || !port || !text[0])
        return CN_EINVAL;
    const char *colon = strrchr(text, ':');
    const char *ps = colon ? colon + 1 : text;
    char *end;
    long v = strtol(ps, &end, 10);
    if (end == ps || *end || v < 0 || v > 65535)
        return CN_EINVAL;
    if (colon && colon != text) {
        size_t n = (size_t)(colon - text);
        if (n >= addr_len)
            return CN_ERANGE;
        memcpy(addr, text, n);
        addr[n] = 0;
    }
    *port = (int)v;
    return CN_OK;
}

int cn_igtl_server_opts_from_json(cn_igtl_server_opts *o, const cn_json *doc, char *err,
                                  size_t err_len)
{
    if (!o || !doc)
        return CN_EINVAL;
    if (!cn_json_has(doc, "igtl"))
        return CN_OK;
    static const char *const keys[] = {"listen", "serve", "max_clients", "queue_frames",
                                       "reference_frame", "image_name", "send_image",
                                       "send_polydata", "latency_period_s", "proctor_token",
                                       "proctor_names", "max_body_image_bytes",
                                       "max_body_small_bytes", "partial_timeout_s",
                                       "stall_timeout_s", "source", NULL};
    int r = cn_json_check_keys(doc, "igtl", keys, err, err_len);
    if (r != CN_OK)
        return r;
    /* Names were credentials once: a client calling itself "Proctor" became one.
     * Say so instead of silently ignoring the key. */
    if (cn_json_has(doc, "igtl.proctor_names")) {
        cn_json_error(doc, "igtl.proctor_names", err, err_len,
                      "a device name is not a credential any more: remove this key and give "
                      "proctors the token (\"proctor\": {\"token_file\": ...})");
        return CN_EINVAL;
    }
    if (cn_json_has(doc, "igtl.proctor_token")) {
        cn_json_error(doc, "igtl.proctor_token", err, err_len,
                      "moved: use \"proctor\": {\"token_file\": \"FILE\"} (or \"token\")");
        return CN_EINVAL;
    }
    char s[128];
    if ((r = cn_json_get_string(doc, "igtl.listen", s, sizeof s, err, err_len)) == CN_OK) {
        if (cn_igtl_parse_listen(s, o->listen_addr, sizeof o->listen_addr, &o->port) != CN_OK) {
            cn_json_error(doc, "igtl.listen", err, err_len,
                          "expected \"ADDR:PORT\" (e.g. \"127.0.0.1:18944\"), got \"%s\"", s);
            return CN_EINVAL;
        }
    } else if (r != CN_ENOENT)
        return r;
    long v;
    if ((r = cn_json_get_int(doc, "igtl.max_clients", 1, 256, &v, err, err_len)) == CN_OK)
        o->max_clients = (int)v;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_int(doc, "igtl.queue_frames", 1, 64, &v, err, err_len)) == CN_OK)
        o->queue_frames = (int)v;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_int(doc, "igtl.max_body_image_bytes", 1024, 256L << 20, &v, err,
                             err_len)) == CN_OK)
        o->limits.max_body_image = (size_t)v;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_int(doc, "igtl.max_body_small_bytes", 256, 16L << 20, &v, err,
                             err_len)) == CN_OK)
        o->limits.max_body_small = (size_t)v;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_string(doc, "igtl.reference_frame", o->reference_frame,
                                sizeof o->reference_frame, err, err_len)) != CN_OK &&
        r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_string(doc, "igtl.image_name", o->image_name, sizeof o->image_name, err,
                                err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.send_image", &o->send_image, err, err_len)) != CN_OK &&
        r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.send_polydata", &o->send_polydata, err, err_len)) !=
            CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_number(doc, "igtl.latency_period_s", 0, 3600, &o->latency_period_s, err,
                                err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_number(doc, "igtl.partial_timeout_s", 0.1, 3600, &o->partial_timeout_s,
                                err, err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_number(doc, "igtl.stall_timeout_s", 0.1, 3600, &o->stall_timeout_s, err,
                                err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    return CN_OK;
}
