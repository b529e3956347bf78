/*
 * fuzz_igtl_parser.c - libFuzzer target for the OpenIGTLink inbound path.
 *
 * The input is treated as a byte stream from a hostile peer, cut into pieces
 * at positions taken from its first byte (so fragmentation is explored too),
 * fed to the incremental parser with small limits, and every complete message
 * goes through the decoders the server and the client use (STRING, POINT,
 * TRANSFORM, POSITION, TDATA, QTDATA, IMAGE, STATUS, COMMAND, metadata lookup,
 * command XML) and, for
 * commands and notes, through the proctor hub exactly as the server calls it
 * (roles, rate limits, Login with its Token attribute, replies). Any crash,
 * leak or sanitizer report is a bug; errors are the expected outcome for garbage.
 */
#include "igtl/igtl.h"
#include "proctor/proctor.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = 1 + data[0] % 97;
    data++;
    size--;
    cn_igtl_limits lim = {.max_body_image = 1 << 16, .max_body_polydata = 1 << 14,
                          .max_body_small = 4096, .max_body_unknown = 1024};
    cn_igtl_parser *p = cn_igtl_parser_new(&lim);
    if (!p)
        return 0;
    cn_proctor_opts po;
    cn_proctor_opts_default(&po);
    strcpy(po.token, "fuzz-token-0123456789");
    po.commands = (cn_proctor_rate){1e6, 1e6};
    cn_proctor_hub *hub = cn_proctor_hub_new(&po);
    uint64_t id = cn_proctor_client_open(hub, "fuzz", "peer");
    cn_proctor_reply reply;
    char out[1600];
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used = 0;
        cn_igtl_message m;
        int r = cn_igtl_parser_feed(p, data + off, n, &used, &m);
        off += used;
        if (r < 0)
            break;
        if (r == 0) {
            if (used == 0)
                off += n;   /* cannot happen: the parser consumes all when it needs more */
            continue;
        }
        char text[1024], name[64], val[64];
        cn_igtl_message_name(&m, name, sizeof name);
        cn_igtl_message_meta(&m, "TransformStatus", val, sizeof val);
        if (strcmp(m.h.type, "STRING") == 0) {
            if (cn_igtl_decode_string(m.content, m.content_len, text, sizeof text, NULL) == 0) {
                char cmd[64];
                if (cn_igtl_command_name(text, cmd, sizeof cmd) == 0) {
                    cn_proctor_command(hub, id, cmd, text, &reply);
                    cn_proctor_reply_xml(cmd, &reply, out, sizeof out);
                }
                cn_igtl_xml_attr(text, "OutputFilename", val, sizeof val);
                cn_proctor_note(hub, id, text);
                cn_proctor_login(hub, id, text, NULL, NULL, 0);
            }
        } else if (strcmp(m.h.type, "COMMAND") == 0 || strcmp(m.h.type, "RTS_COMMAND") == 0) {
            cn_igtl_command_view cv;
            if (cn_igtl_decode_command(m.content, m.content_len, &cv) == 0 &&
                cv.text_len < sizeof text) {
                memcpy(text, cv.text, cv.text_len);
                text[cv.text_len] = 0;
                cn_proctor_command(hub, id, cv.name, text, &reply);
                cn_proctor_reply_xml(cv.name, &reply, out, sizeof out);
            }
        } else if (strcmp(m.h.type, "POINT") == 0) {
            cn_igtl_point pts[4];
            cn_igtl_decode_points(m.content, m.content_len, pts, 4);
        } else if (strcmp(m.h.type, "TRANSFORM") == 0) {
            cn_mat4 mm;
            cn_igtl_decode_transform(m.content, m.content_len, &mm);
        } else if (strcmp(m.h.type, "POSITION") == 0) {
            cn_mat4 mm;
            cn_igtl_decode_position(m.content, m.content_len, &mm, text, sizeof text);
        } else if (strcmp(m.h.type, "TDATA") == 0 || strcmp(m.h.type, "QTDATA") == 0) {
            bool q = m.h.type[0] == 'Q';
            int n = cn_igtl_track_count(m.content_len, q);
            for (int i = 0; i < n; i++) {
                cn_igtl_track_element el;
                cn_igtl_decode_track_element(m.content, m.content_len, i, q, &el, text,
                                             sizeof text);
            }
        } else if (strcmp(m.h.type, "IMAGE") == 0) {
            cn_igtl_image_view v;
            if (cn_igtl_decode_image(m.content, m.content_len, &v) == 0)
                (void)cn_igtl_image_ijk_to_ref(&v);
        } else if (strcmp(m.h.type, "STATUS") == 0) {
            uint16_t code;
            char en[21];
            cn_igtl_decode_status(m.content, m.content_len, &code, en, text, sizeof text);
        }
    }
    cn_igtl_parser_free(p);
    cn_proctor_hub_free(hub);
    return 0;
}
