/*
 * igtl_parse.c - the incremental inbound parser: the only code that reads bytes
 * from untrusted OpenIGTLink peers.
 *
 * The idea: bytes arrive in arbitrary pieces from a non-blocking socket. The
 * parser accumulates the 58-byte header, validates it and the body size against
 * a per-type limit *before* allocating anything, accumulates the body, checks
 * the CRC, and for a v2 header validates the extended header and the metadata
 * table so that every later lookup stays inside the body. Any violation is a
 * protocol error with a reason; the caller then drops the peer. The body buffer
 * grows with what actually arrived (doubling, capped at the declared size), so a
 * header that merely announces 16 MiB and then trickles costs what it sent, not
 * 16 MiB per connection. The fuzz target (tests/fuzz) drives exactly this
 * function.
 */
#include "igtl/igtl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_igtl_parser {
    cn_igtl_limits lim;
    uint8_t hdr[CN_IGTL_HEADER_SIZE];
    size_t hdr_have;
    cn_igtl_header h;
    uint8_t *body;
    size_t body_cap, body_have;
    bool in_body;
    bool failed;
    char err[160];
};

void cn_igtl_limits_default(cn_igtl_limits *l)
{
    l->max_body_image = 16u << 20;
    l->max_body_polydata = 4u << 20;
    l->max_body_small = 64u << 10;
    l->max_body_unknown = 64u << 10;
}

cn_igtl_parser *cn_igtl_parser_new(const cn_igtl_limits *lim)
{
    cn_igtl_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (lim)
        p->lim = *lim;
    else
        cn_igtl_limits_default(&p->lim);
    return p;
}

void cn_igtl_parser_free(cn_igtl_parser *p)
{
    if (!p)
        return;
    free(p->body);
    free(p);
}

const char *cn_igtl_parser_error(const cn_igtl_parser *p)
{
    return p->err[0] ? p->err : "no error";
}

size_t cn_igtl_parser_buffered(const cn_igtl_parser *p)
{
    return p->hdr_have + p->body_have;
}

size_t cn_igtl_parser_capacity(const cn_igtl_parser *p)
{
    return p->body_cap;
}

static size_t limit_for(const cn_igtl_limits *l, const char *type)
{
    if (strcmp(type, "IMAGE") == 0)
        return l->max_body_image;
    if (strcmp(type, "POLYDATA") == 0)
        return l->max_body_polydata;
    static const char *const small[] = {"TRANSFORM", "STRING", "STATUS", "POINT", "TDATA",
                                        "QTDATA", "POSITION", "COMMAND", "CAPABILITY", NULL};
    for (int i = 0; small[i]; i++)
        if (strcmp(type, small[i]) == 0)
            return l->max_body_small;
    if (strncmp(type, "GET_", 4) == 0 || strncmp(type, "STT_", 4) == 0 ||
        strncmp(type, "STP_", 4) == 0 || strncmp(type, "RTS_", 4) == 0)
        return l->max_body_small;
    return l->max_body_unknown;
}

static int fail(cn_igtl_parser *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cn_igtl_parser *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->failed = true;
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return code;
}

static uint32_t rd16(const uint8_t *q)
{
    return (uint32_t)q[0] << 8 | q[1];
}

static uint32_t rd32(const uint8_t *q)
{
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

/* Splits a complete v2 body into content and metadata, validating sizes. */
static int split_v2(cn_igtl_parser *p, cn_igtl_message *m)
{
    const uint8_t *b = p->body;
    size_t n = p->body_have;
    if (n < CN_IGTL_EXT_HEADER_SIZE)
        return fail(p, CN_EPARSE, "%s: v2 body of %llu bytes is shorter than its extended header",
                    p->h.type, (unsigned long long)n);
    size_t ext = rd16(b), mh = rd16(b + 2), md = rd32(b + 4);
    m->msg_id = rd32(b + 8);
    if (ext < CN_IGTL_EXT_HEADER_SIZE || ext > n)
        return fail(p, CN_EPARSE, "%s: extended header size %llu is invalid", p->h.type,
                    (unsigned long long)ext);
    if (mh == 0) { /* no metadata at all (allowed: upstream may omit the table) */
        if (md != 0)
            return fail(p, CN_EPARSE, "%s: metadata size %llu without a metadata header",
                        p->h.type, (unsigned long long)md);
        m->content = b + ext;
        m->content_len = n - ext;
        m->n_meta = 0;
        return CN_OK;
    }
    if (mh < 2 || (mh - 2) % 8 != 0 || (uint64_t)ext + mh + md > n)
        return fail(p, CN_EPARSE, "%s: metadata sizes do not fit the body (%llu bytes)",
                    p->h.type, (unsigned long long)n);
    const uint8_t *tab = b + n - md - mh;
    size_t count = rd16(tab);
    if (2 + 8 * count != mh)
        return fail(p, CN_EPARSE, "%s: metadata count %llu disagrees with its header size",
                    p->h.type, (unsigned long long)count);
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += rd16(tab + 2 + 8 * i) + (uint64_t)rd32(tab + 2 + 8 * i + 4);
    if (sum != md)
        return fail(p, CN_EPARSE, "%s: metadata entries sum to %llu, not the declared size",
                    p->h.type, (unsigned long long)sum);
    m->content = b + ext;
    m->content_len = n - ext - mh - md;
    m->n_meta = (int)count;
    m->meta_hdr = tab + 2;
    m->meta_body = b + n - md;
    return CN_OK;
}

int cn_igtl_parser_feed(cn_igtl_parser *p, const uint8_t *data, size_t len, size_t *used,
                        cn_igtl_message *out)
{
    size_t u = 0;
    if (used)
        *used = 0;
    if (!p || (!data && len) || !out)
        return CN_EINVAL;
    if (p->failed)
        return CN_EPARSE;
    while (u < len || (p->in_body && p->body_have == p->h.body_size)) {
        if (!p->in_body) {
            size_t take = CN_IGTL_HEADER_SIZE - p->hdr_have;
            if (take > len - u)
                take = len - u;
            memcpy(p->hdr + p->hdr_have, data + u, take);
            p->hdr_have += take;
            u += take;
            if (p->hdr_have < CN_IGTL_HEADER_SIZE)
                break;
            char why[96];
            if (cn_igtl_header_unpack(p->hdr, &p->h, why, sizeof why) != CN_OK) {
                if (used)
                    *used = u;
                return fail(p, CN_EPARSE, "bad header: %s", why);
            }
            size_t lim = limit_for(&p->lim, p->h.type);
            if (p->h.body_size > lim) {
                if (used)
                    *used = u;
                return fail(p, CN_ERANGE, "%s: body size %llu is over the limit for its type",
                            p->h.type, (unsigned long long)p->h.body_size);
            }
            p->body_have = 0;
            p->in_body = true;
        }
        size_t need = (size_t)p->h.body_size - p->body_have;
        size_t take = need < len - u ? need : len - u;
        if (p->body_have + take > p->body_cap) {
            /* grow with what arrived: double, at least 4 KiB, never past the body */
            size_t want = p->body_cap * 2;
            if (want < p->body_have + take)
                want = p->body_have + take;
            if (want < 4096)
                want = 4096;
            if (want > (size_t)p->h.body_size)
                want = (size_t)p->h.body_size;
            uint8_t *nb = realloc(p->body, want);
            if (!nb)
                return fail(p, CN_ENOMEM, "%s: cannot allocate %zu bytes", p->h.type, want);
            p->body = nb;
            p->body_cap = want;
        }
        if (take) {
            memcpy(p->body + p->body_have, data + u, take);
            p->body_have += take;
            u += take;
        }
        if (p->body_have < p->h.body_size)
            break;
        /* complete message */
        p->in_body = false;
        p->hdr_have = 0;
        if (used)
            *used = u;
        uint64_t crc = cn_igtl_crc64(p->body, p->body_have, 0);
        if (crc != p->h.crc)
            return fail(p, CN_EPARSE, "%s: CRC mismatch (body of %llu bytes)", p->h.type,
                        (unsigned long long)p->body_have);
        memset(out, 0, sizeof *out);
        out->h = p->h;
        out->body = p->body;
        out->body_len = p->body_have;
        if (p->h.version == 2) {
            int r = split_v2(p, out);
            if (r != CN_OK)
                return r;
        } else {
            out->content = p->body;
            out->content_len = p->body_have;
        }
        p->body_have = 0;
        return 1;
    }
    if (used)
        *used = u;
    return 0;
}

int cn_igtl_message_meta(const cn_igtl_message *m, const char *key, char *val, size_t val_len)
{
    if (!m || !key || !val || val_len == 0)
        return CN_EINVAL;
    const uint8_t *kv = m->meta_body;
    size_t klen = strlen(key);
    for (int i = 0; i < m->n_meta; i++) {
        size_t ks = rd16(m->meta_hdr + 8 * i), vs = rd32(m->meta_hdr + 8 * i + 4);
        if (ks == klen && memcmp(kv, key, klen) == 0) {
            size_t n = vs < val_len - 1 ? vs : val_len - 1;
            for (size_t k = 0; k < n; k++)
                val[k] = (kv[ks + k] >= 0x20 && kv[ks + k] <= 0x7e) ? (char)kv[ks + k] : '?';
            val[n] = 0;
            return CN_OK;
        }
        kv += ks + vs;
    }
    return CN_ENOENT;
}

void cn_igtl_message_name(const cn_igtl_message *m, char *out, size_t out_len)
{
    if (cn_igtl_message_meta(m, "IGTL_DEVICE_NAME", out, out_len) != CN_OK)
        cn_strlcpy(out, m->h.device, out_len);
}
