/*
 * igtl_v2.c - the v2 header framing (protocol v3) that Debian's 1.11 library lacks.
 *
 * Layout (from the published protocol and the upstream 3.x implementation):
 *   body = extended header (12 bytes) | content | metadata header | metadata
 *   extended header: uint16 ext_header_size (12), uint16 metadata_header_size
 *                    (2 + 8 * count), uint32 metadata_size (keys + values),
 *                    uint32 message_id
 *   metadata header: uint16 count, then per entry uint16 key_size,
 *                    uint16 value_encoding, uint32 value_size
 *   metadata:        key0 value0 key1 value1 ...
 * All big-endian. Kept in its own file so the layout is tested byte for byte
 * (tests/unit/igtl) and read in one place.
 */
#include "igtl/igtl.h"

#include <string.h>

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t meta_body_size(const cn_igtl_meta *meta, int n_meta)
{
    size_t s = 0;
    for (int i = 0; i < n_meta; i++)
        s += strlen(meta[i].key) + strlen(meta[i].value);
    return s;
}

size_t cn_igtl_v2_meta_size(const cn_igtl_meta *meta, int n_meta)
{
    return 2 + 8 * (size_t)n_meta + meta_body_size(meta, n_meta);
}

void cn_igtl_v2_write_ext_header(uint8_t out[CN_IGTL_EXT_HEADER_SIZE], const cn_igtl_meta *meta,
                                 int n_meta, uint32_t msg_id)
{
    be16(out, CN_IGTL_EXT_HEADER_SIZE);
    be16(out + 2, (uint32_t)(2 + 8 * n_meta));
    be32(out + 4, (uint32_t)meta_body_size(meta, n_meta));
    be32(out + 8, msg_id);
}

void cn_igtl_v2_write_meta(uint8_t *out, const cn_igtl_meta *meta, int n_meta)
{
    be16(out, (uint32_t)n_meta);
    uint8_t *e = out + 2;
    for (int i = 0; i < n_meta; i++, e += 8) {
        be16(e, (uint32_t)strlen(meta[i].key));
        be16(e + 2, CN_IGTL_ENC_US_ASCII);
        be32(e + 4, (uint32_t)strlen(meta[i].value));
    }
    for (int i = 0; i < n_meta; i++) {
        size_t k = strlen(meta[i].key), v = strlen(meta[i].value);
        memcpy(e, meta[i].key, k);
        e += k;
        memcpy(e, meta[i].value, v);
        e += v;
    }
}
