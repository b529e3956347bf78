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
 *
 * The same stream also goes through a parser that streams IMAGE and POLYDATA
 * (the server's mode, cn_igtl_parser_stream_type) in other pieces, and the two
 * must agree message for message: same headers, content sizes, message ids,
 * content prefix, v2 metadata (entry for entry; the streamed one may drop values over
 * max_body_small) and IMAGE verdict; where they part, the streamed one has
 * failed (it may refuse a bad v2 extended header before the body ends). A
 * disagreement aborts.
 */
#include "igtl/igtl.h"
#include "proctor/proctor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEEN_MAX 64

/* What one delivered message says, comparable between the two parser modes. */
typedef struct {
    cn_igtl_header h;
    size_t content_size;
    uint32_t msg_id;
    int image;
    uint8_t head[72];
    size_t head_len;
    int n_meta;        /* v2 metadata: entries, their keys' and values' bytes */
    size_t meta_data;
    uint64_t meta_fnv; /* and an FNV-1a hash of them */
} seen;

/* The v2 metadata a message holds: its entry table (8 bytes an entry: key size, encoding,
 * value size, big-endian) and the keys and values after it, hashed. */
static void note_meta(seen *v, const cn_igtl_message *m)
{
    v->n_meta = m->n_meta;
    v->meta_fnv = 1469598103934665603ull;
    if (m->n_meta <= 0 || !m->meta_hdr)
        return;
    size_t body = 0;
    for (int i = 0; i < m->n_meta; i++) {
        const uint8_t *e = m->meta_hdr + 8 * (size_t)i;
        body += ((size_t)e[0] << 8 | e[1]) +
                ((size_t)e[4] << 24 | (size_t)e[5] << 16 | (size_t)e[6] << 8 | e[7]);
    }
    v->meta_data = body;
    for (size_t i = 0; i < 8 * (size_t)m->n_meta; i++)
        v->meta_fnv = (v->meta_fnv ^ m->meta_hdr[i]) * 1099511628211ull;
    for (size_t i = 0; i < body && m->meta_body; i++)
        v->meta_fnv = (v->meta_fnv ^ m->meta_body[i]) * 1099511628211ull;
}

static void note(seen *v, const cn_igtl_message *m)
{
    memset(v, 0, sizeof *v);
    v->h = m->h;
    v->content_size = m->streamed ? m->content_size : m->content_len;
    v->msg_id = m->msg_id;
    v->head_len = m->content_len < 72 ? m->content_len : 72;
    if (v->head_len) /* an empty body has no buffer */
        memcpy(v->head, m->content, v->head_len);
    note_meta(v, m);
    cn_igtl_image_view iv;
    v->image = strcmp(m->h.type, "IMAGE") == 0
                   ? cn_igtl_decode_image_header(m->content, m->content_len, v->content_size, &iv)
                   : 0;
}

/* The streamed parser over the stream in pieces of `chunk`: what it delivered
 * (at most SEEN_MAX), and whether it failed. */
static int run_streamed(const cn_igtl_limits *lim, const uint8_t *data, size_t size, size_t chunk,
                        seen *out, bool *failed)
{
    cn_igtl_parser *p = cn_igtl_parser_new(lim);
    int n = 0;
    *failed = false;
    if (!p)
        return 0;
    cn_igtl_parser_stream_type(p, "IMAGE", CN_IGTL_IMAGE_HEADER_SIZE);
    cn_igtl_parser_stream_type(p, "POLYDATA", 0);
    for (size_t off = 0; off < size && n < SEEN_MAX;) {
        size_t len = size - off < chunk ? size - off : chunk, used = 0;
        cn_igtl_message m;
        int r = cn_igtl_parser_feed(p, data + off, len, &used, &m);
        off += used;
        if (r < 0) {
            *failed = true;
            break;
        }
        if (r == 1) {
            if (!m.streamed && m.content_len != m.content_size)
                abort();
            note(&out[n++], &m);
        } else if (used == 0) {
            off += len;
        }
    }
    cn_igtl_parser_free(p);
    return n;
}

/* a the buffered parser's, b the streamed one's; max_small: the limit under which a streamed
 * message keeps its metadata */
static bool same(const seen *a, const seen *b, size_t max_small)
{
    /* the same metadata, entry for entry, unless the streamed one dropped values over the
     * limit (review 45 F7: the comparison did not look at it) */
    const bool meta_ok = (a->n_meta == b->n_meta && a->meta_data == b->meta_data &&
                          a->meta_fnv == b->meta_fnv) ||
                         (b->n_meta == 0 && a->meta_data > max_small);
    return meta_ok && a->h.version == b->h.version && strcmp(a->h.type, b->h.type) == 0 &&
           strcmp(a->h.device, b->h.device) == 0 && a->h.timestamp == b->h.timestamp &&
           a->h.body_size == b->h.body_size && a->h.crc == b->h.crc &&
           a->content_size == b->content_size &&
           a->msg_id == b->msg_id && a->image == b->image &&
           /* what both hold (a POLYDATA streamed keeps none) */
           memcmp(a->head, b->head, a->head_len < b->head_len ? a->head_len : b->head_len) == 0;
}

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
    seen ref[SEEN_MAX], got[SEEN_MAX];
    int n_ref = 0;
    bool ref_failed = false;
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used = 0;
        cn_igtl_message m;
        int r = cn_igtl_parser_feed(p, data + off, n, &used, &m);
        off += used;
        if (r < 0) {
            ref_failed = true;
            break;
        }
        if (r == 0) {
            if (used == 0)
                off += n;   /* cannot happen: the parser consumes all when it needs more */
            continue;
        }
        if (n_ref < SEEN_MAX)
            note(&ref[n_ref++], &m);
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
    /* the streamed mode, in other pieces: the same messages, or it failed first */
    bool st_failed;
    int n_got = run_streamed(&lim, data, size, 1 + (chunk * 7) % 61, got, &st_failed);
    int common = n_got < n_ref ? n_got : n_ref;
    for (int i = 0; i < common; i++)
        if (!same(&ref[i], &got[i], lim.max_body_small))
            abort();
    if (n_ref < SEEN_MAX && n_got < SEEN_MAX) {
        if (n_got < n_ref && !st_failed)
            abort(); /* stopped short without a reason */
        if (n_got > n_ref && !ref_failed)
            abort();
    }
    return 0;
}
