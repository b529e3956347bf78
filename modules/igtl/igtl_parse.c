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
 *
 * Streamed types (opt-in, cn_igtl_parser_stream_type; only the server uses it):
 * the server reads a viewer's IMAGE and POLYDATA only to check that they are
 * well-formed, then ignores them, yet buffering the whole body let any local
 * viewer make the process hold 16 MiB per connection for the 5 s partial
 * timeout, again and again (15 clients: ~250 MB; review 43a F8). For such a
 * type the parser keeps only what the check reads and lets the rest flow past:
 *   - the first `prefix` bytes of the content (72 for IMAGE: its header, which
 *     cn_igtl_decode_image_header checks against the content size);
 *   - for a v2 header, the extended header (its 12 bytes say where the content
 *     and the metadata lie; checked as soon as they arrive), the metadata table
 *     (<= 64 KiB: its sizes are 16-bit) and the metadata values when they fit
 *     max_body_small (what any small message may hold anyway); larger values
 *     are skipped (the message then has no metadata: the header's device name
 *     names it), their table still checked against their size.
 * The CRC-64 is computed over every byte on the way, so a corrupt body is still
 * a protocol error, with the same reasons as a buffered one. The kept ranges
 * lie in body order, so they fill one buffer sequentially, grown as they
 * arrive like a whole body: at most 128 KiB + max_body_small + prefix (Slicer's
 * IMAGE: 12 + 72 + a few dozen bytes), whatever the body size.
 */
#include "igtl/igtl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_TYPES_MAX 4

typedef struct {
    char type[CN_IGTL_TYPE_SIZE + 1];
    size_t prefix;
} stream_rule;

/* The body ranges a streamed message keeps, in body order: [at, end). */
typedef struct {
    size_t at, end;
} keep_range;

struct cn_igtl_parser {
    cn_igtl_limits lim;
    stream_rule rules[STREAM_TYPES_MAX];
    int n_rules;
    uint8_t hdr[CN_IGTL_HEADER_SIZE];
    size_t hdr_have;
    cn_igtl_header h;
    uint8_t *body;
    size_t body_cap;
    size_t body_have;   /* body bytes received (buffered ones unless streaming) */
    bool in_body;
    bool failed;
    /* the message in progress when its type is streamed */
    bool streaming;
    bool planned;        /* v2: the extended header has been read and the ranges set */
    size_t prefix;       /* content bytes to keep */
    size_t kept;         /* bytes in body[] */
    size_t keep_total;   /* bytes body[] will hold once the message is complete */
    keep_range keep[3];  /* head (ext header + content prefix), metadata table, values */
    int n_keep;
    bool meta_skipped;   /* v2: metadata values too large to keep */
    uint64_t crc;        /* running CRC of the body so far */
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

int cn_igtl_parser_stream_type(cn_igtl_parser *p, const char *type, size_t prefix)
{
    if (!p || !type || !type[0] || strlen(type) > CN_IGTL_TYPE_SIZE)
        return CN_EINVAL;
    for (int i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].type, type) == 0) {
            p->rules[i].prefix = prefix;
            return CN_OK;
        }
    if (p->n_rules == STREAM_TYPES_MAX)
        return CN_ENOMEM;
    cn_strlcpy(p->rules[p->n_rules].type, type, sizeof p->rules[0].type);
    p->rules[p->n_rules++].prefix = prefix;
    return CN_OK;
}

size_t cn_igtl_parser_buffered(const cn_igtl_parser *p)
{
    return p->hdr_have + (p->streaming ? p->kept : p->body_have);
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

/* Checks the extended header of a v2 body of n bytes (its first 12 bytes at b):
 * the extended header, the metadata table and the values must fit the body. */
static int check_ext_header(cn_igtl_parser *p, const uint8_t *b, size_t n, size_t *ext,
                            size_t *mh, size_t *md)
{
    *ext = rd16(b);
    *mh = rd16(b + 2);
    *md = rd32(b + 4);
    if (*ext < CN_IGTL_EXT_HEADER_SIZE || *ext > n)
        return fail(p, CN_EPARSE, "%s: extended header size %llu is invalid", p->h.type,
                    (unsigned long long)*ext);
    if (*mh == 0) { /* no metadata at all (allowed: upstream may omit the table) */
        if (*md != 0)
            return fail(p, CN_EPARSE, "%s: metadata size %llu without a metadata header",
                        p->h.type, (unsigned long long)*md);
        return CN_OK;
    }
    if (*mh < 2 || (*mh - 2) % 8 != 0 || (uint64_t)*ext + *mh + *md > n)
        return fail(p, CN_EPARSE, "%s: metadata sizes do not fit the body (%llu bytes)",
                    p->h.type, (unsigned long long)n);
    return CN_OK;
}

/* Checks a metadata table of mh bytes (count, then 8 bytes per entry) against
 * the md bytes of keys and values it describes. */
static int check_meta_table(cn_igtl_parser *p, const uint8_t *tab, size_t mh, size_t md)
{
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
    return CN_OK;
}

/* Splits a complete v2 body of n bytes into content and metadata, validating
 * sizes. */
static int split_v2(cn_igtl_parser *p, const uint8_t *b, size_t n, cn_igtl_message *m)
{
    if (n < CN_IGTL_EXT_HEADER_SIZE)
        return fail(p, CN_EPARSE, "%s: v2 body of %llu bytes is shorter than its extended header",
                    p->h.type, (unsigned long long)n);
    size_t ext, mh, md;
    if (check_ext_header(p, b, n, &ext, &mh, &md) != CN_OK)
        return CN_EPARSE;
    m->msg_id = rd32(b + 8);
    m->content = b + ext;
    m->content_len = m->content_size = n - ext - mh - md;
    if (mh == 0)
        return CN_OK;
    const uint8_t *tab = b + n - md - mh;
    if (check_meta_table(p, tab, mh, md) != CN_OK)
        return CN_EPARSE;
    m->n_meta = (int)rd16(tab);
    m->meta_hdr = tab + 2;
    m->meta_body = b + n - md;
    return CN_OK;
}

/* ------------------------------------------------------------------ streamed bodies */

/* Sets which body ranges a streamed message keeps. v1: the content prefix. v2:
 * first only the extended header; once it is in (body_have == 12), the head (up
 * to the content prefix), the metadata table and, when they fit
 * max_body_small, the values. A v2 body shorter than 12 bytes keeps all of
 * itself and fails in split_v2 at its end, as a buffered one does. */
static int plan_stream(cn_igtl_parser *p)
{
    size_t n = (size_t)p->h.body_size;
    p->n_keep = 1;
    p->keep[0].at = 0;
    p->meta_skipped = false;
    if (p->h.version != 2) {
        p->keep[0].end = p->prefix < n ? p->prefix : n;
        p->planned = true;
    } else if (!p->planned) {
        p->keep[0].end = n < CN_IGTL_EXT_HEADER_SIZE ? n : CN_IGTL_EXT_HEADER_SIZE;
        p->planned = n < CN_IGTL_EXT_HEADER_SIZE || p->body_have == CN_IGTL_EXT_HEADER_SIZE;
        if (p->planned && n >= CN_IGTL_EXT_HEADER_SIZE) {
            size_t ext, mh, md;
            if (check_ext_header(p, p->body, n, &ext, &mh, &md) != CN_OK)
                return CN_EPARSE;
            size_t meta_at = n - mh - md; /* >= ext: checked above */
            p->keep[0].end = meta_at - ext > p->prefix ? ext + p->prefix : meta_at;
            if (mh)
                p->keep[p->n_keep++] = (keep_range){meta_at, meta_at + mh};
            if (md && md <= p->lim.max_body_small)
                p->keep[p->n_keep++] = (keep_range){meta_at + mh, n};
            p->meta_skipped = md > p->lim.max_body_small;
        }
    }
    p->keep_total = 0;
    for (int i = 0; i < p->n_keep; i++)
        p->keep_total += p->keep[i].end - p->keep[i].at;
    return CN_OK;
}

/* Makes room for `need` bytes in body[]: grows with what arrived (doubling, at
 * least 4 KiB), never past `most`. */
static int grow_body(cn_igtl_parser *p, size_t need, size_t most)
{
    if (need <= p->body_cap)
        return CN_OK;
    size_t want = p->body_cap * 2;
    if (want < need)
        want = need;
    if (want < 4096)
        want = 4096;
    if (want > most)
        want = most < need ? need : most;
    uint8_t *nb = realloc(p->body, want);
    if (!nb)
        return fail(p, CN_ENOMEM, "%s: cannot allocate %zu bytes", p->h.type, want);
    p->body = nb;
    p->body_cap = want;
    return CN_OK;
}

/* Takes n body bytes of a streamed message: CRC over all, copies of the parts in
 * a kept range. The caller never crosses the end of the v2 extended header in
 * one call, so the ranges are planned before any byte after it arrives. */
static int stream_bytes(cn_igtl_parser *p, const uint8_t *d, size_t n)
{
    size_t pos = p->body_have;
    p->crc = cn_igtl_crc64(d, n, p->crc);
    for (int i = 0; i < p->n_keep; i++) {
        size_t a = p->keep[i].at > pos ? p->keep[i].at : pos;
        size_t b = p->keep[i].end < pos + n ? p->keep[i].end : pos + n;
        if (a >= b)
            continue;
        if (grow_body(p, p->kept + (b - a), p->keep_total) != CN_OK)
            return CN_ENOMEM;
        memcpy(p->body + p->kept, d + (a - pos), b - a);
        p->kept += b - a;
    }
    p->body_have += n;
    if (!p->planned && p->body_have == CN_IGTL_EXT_HEADER_SIZE)
        return plan_stream(p);
    return CN_OK;
}

/* A complete streamed message (CRC already checked): what was kept. */
static int finish_stream(cn_igtl_parser *p, cn_igtl_message *m)
{
    size_t n = (size_t)p->h.body_size;
    m->streamed = true;
    m->body = p->body;
    m->body_len = p->keep[0].end;
    if (p->h.version != 2 || n < CN_IGTL_EXT_HEADER_SIZE) {
        if (p->h.version == 2)
            return split_v2(p, p->body, p->kept, m); /* too short: fails as a buffered one */
        m->content = p->body;
        m->content_len = p->kept;
        m->content_size = n;
        return CN_OK;
    }
    size_t ext = rd16(p->body), mh = rd16(p->body + 2), md = rd32(p->body + 4);
    size_t head = p->keep[0].end;
    m->msg_id = rd32(p->body + 8);
    m->content = p->body + ext;
    m->content_len = head - ext;
    m->content_size = n - ext - mh - md;
    if (mh == 0)
        return CN_OK;
    if (check_meta_table(p, p->body + head, mh, md) != CN_OK)
        return CN_EPARSE;
    if (!p->meta_skipped) {
        m->n_meta = (int)rd16(p->body + head);
        m->meta_hdr = p->body + head + 2;
        m->meta_body = p->body + head + mh;
    }
    return CN_OK;
}

static const stream_rule *stream_rule_for(const cn_igtl_parser *p, const char *type)
{
    for (int i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].type, type) == 0)
            return &p->rules[i];
    return NULL;
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
            const stream_rule *rule = stream_rule_for(p, p->h.type);
            p->streaming = rule != NULL;
            if (rule) {
                p->prefix = rule->prefix;
                p->kept = 0;
                p->crc = 0;
                p->planned = false;
                plan_stream(p); /* cannot fail before the extended header is in */
            }
        }
        size_t need = (size_t)p->h.body_size - p->body_have;
        size_t take = need < len - u ? need : len - u;
        if (p->streaming) {
            if (!p->planned && take > CN_IGTL_EXT_HEADER_SIZE - p->body_have)
                take = CN_IGTL_EXT_HEADER_SIZE - p->body_have; /* plan at its end */
            int r = stream_bytes(p, data + u, take);
            u += take;
            if (r != CN_OK) {
                if (used)
                    *used = u;
                return r;
            }
            if (p->body_have < p->h.body_size)
                continue; /* more of this body in data, or the loop ends for want of it */
        } else {
            if (p->body_have + take > p->body_cap &&
                grow_body(p, p->body_have + take, (size_t)p->h.body_size) != CN_OK)
                return CN_ENOMEM;
            if (take) {
                memcpy(p->body + p->body_have, data + u, take);
                p->body_have += take;
                u += take;
            }
            if (p->body_have < p->h.body_size)
                break;
        }
        /* complete message */
        p->in_body = false;
        p->hdr_have = 0;
        if (used)
            *used = u;
        uint64_t crc = p->streaming ? p->crc : cn_igtl_crc64(p->body, p->body_have, 0);
        if (crc != p->h.crc)
            return fail(p, CN_EPARSE, "%s: CRC mismatch (body of %llu bytes)", p->h.type,
                        (unsigned long long)p->body_have);
        memset(out, 0, sizeof *out);
        out->h = p->h;
        int r = CN_OK;
        if (p->streaming) {
            r = finish_stream(p, out);
        } else {
            out->body = p->body;
            out->body_len = p->body_have;
            if (p->h.version == 2) {
                r = split_v2(p, p->body, p->body_have, out);
            } else {
                out->content = p->body;
                out->content_len = out->content_size = p->body_have;
            }
        }
        if (r != CN_OK)
            return r;
        p->body_have = 0;
        p->kept = 0;
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
