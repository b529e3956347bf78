/*
 * fuzz_igtl_parser.c - libFuzzer target for the OpenIGTLink inbound path.
 *
 * The input is treated as a byte stream from a hostile peer, cut into pieces
 * at positions taken from its first byte (so fragmentation is explored too),
 * fed to the incremental parser with small limits, and every complete message
 * goes through the decoders the server and the client use (STRING, POINT,
 * TRANSFORM, IMAGE, STATUS, metadata lookup, command XML). Any crash, leak or
 * sanitizer report is a bug; errors are the expected outcome for garbage.
 */
#include "igtl/igtl.h"

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
                cn_igtl_command_name(text, cmd, sizeof cmd);
                cn_igtl_xml_attr(text, "OutputFilename", val, sizeof val);
            }
        } else if (strcmp(m.h.type, "POINT") == 0) {
            cn_igtl_point pts[4];
            cn_igtl_decode_points(m.content, m.content_len, pts, 4);
        } else if (strcmp(m.h.type, "TRANSFORM") == 0) {
            cn_mat4 mm;
            cn_igtl_decode_transform(m.content, m.content_len, &mm);
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
    return 0;
}
