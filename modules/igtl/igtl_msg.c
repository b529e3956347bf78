/*
 * igtl_msg.c - content packers and decoders for the OpenIGTLink types we use.
 *
 * Packers append big-endian content to a cn_igtl_buf (see igtl_wire.c for the
 * header around it). Decoders are the first code that touches bytes from a
 * peer after the parser: each one checks every count and size against the
 * content length before reading, so a hostile length can only produce
 * CN_EPARSE. Layouts follow the OpenIGTLink 2 specification and the 1.11
 * C layer (igtl_image.h, igtl_transform.h, igtl_string.h, igtl_point.h,
 * igtl_polydata.h); STATUS is written here because Debian lacks igtl_status.h.
 */
#include "igtl/igtl.h"

#include <math.h>
#include <stdint.h>
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

static void bef(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    be32(p, u);
}

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static float rdf(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------------ packers */

int cn_igtl_put_transform(cn_igtl_buf *b, const cn_mat4 *m)
{
    if (!b || !m || !cn_mat4_is_finite(m))
        return CN_EINVAL;
    uint8_t *p = cn_igtl_buf_append(b, 48);
    if (!p)
        return CN_ENOMEM;
    /* column order: R11 R21 R31 R12 R22 R32 R13 R23 R33 TX TY TZ */
    int k = 0;
    for (int c = 0; c < 4; c++)
        for (int r = 0; r < 3; r++)
            bef(p + 4 * k++, (float)m->m[r * 4 + c]);
    return CN_OK;
}

int cn_igtl_put_image_u8(cn_igtl_buf *b, int width, int height, const uint8_t *pixels,
                         const cn_mat4 *ijk)
{
    if (!b || !pixels || !ijk || width <= 0 || height <= 0 || width > 65535 || height > 65535 ||
        !cn_mat4_is_finite(ijk))
        return CN_EINVAL;
    size_t n = (size_t)width * (size_t)height;
    uint8_t *p = cn_igtl_buf_append(b, 72 + n);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, 72);
    be16(p, 1);          /* image header version */
    p[2] = 1;            /* scalar */
    p[3] = 3;            /* uint8 */
    p[4] = 1;            /* big endian (moot for bytes; what the upstream library writes) */
    p[5] = 1;            /* RAS, as PLUS and Slicer use it */
    be16(p + 6, (uint32_t)width);
    be16(p + 8, (uint32_t)height);
    be16(p + 10, 1);
    /* i and j axes carry the spacing; k is their normalised cross product at
     * 1 mm; the origin is the image centre (first pixel + (size-1)/2). */
    cn_vec3 ci = {ijk->m[0], ijk->m[4], ijk->m[8]};
    cn_vec3 cj = {ijk->m[1], ijk->m[5], ijk->m[9]};
    cn_vec3 ck = cn_vec3_normalize(cn_vec3_cross(ci, cj));
    cn_vec3 centre = cn_mat4_apply_point(ijk, (cn_vec3){(width - 1) / 2.0, (height - 1) / 2.0, 0});
    float mat[12] = {(float)ci.x, (float)ci.y, (float)ci.z, (float)cj.x, (float)cj.y,
                     (float)cj.z, (float)ck.x, (float)ck.y, (float)ck.z, (float)centre.x,
                     (float)centre.y, (float)centre.z};
    for (int i = 0; i < 12; i++)
        bef(p + 12 + 4 * i, mat[i] + 0.0f);   /* + 0: no negative zeros, as upstream */
    /* sub-volume offset 0 0 0, size = whole image */
    be16(p + 66, (uint32_t)width);
    be16(p + 68, (uint32_t)height);
    be16(p + 70, 1);
    memcpy(p + 72, pixels, n);
    return CN_OK;
}

int cn_igtl_put_string(cn_igtl_buf *b, const char *text)
{
    if (!b || !text)
        return CN_EINVAL;
    size_t n = strlen(text);
    if (n > 65535)
        return CN_ERANGE;
    uint8_t *p = cn_igtl_buf_append(b, 4 + n);
    if (!p)
        return CN_ENOMEM;
    /* a proctor's note may hold letters beyond ASCII (UTF-8, proctor_hub.c):
     * say so, MIBenum 106, as Slicer's STRING converter reads it */
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)text[i] < 0x80;
    be16(p, ascii ? CN_IGTL_ENC_US_ASCII : 106);
    be16(p + 2, (uint32_t)n);
    memcpy(p + 4, text, n);
    return CN_OK;
}

int cn_igtl_put_status(cn_igtl_buf *b, uint16_t code, int64_t subcode, const char *error_name,
                       const char *message)
{
    if (!b || !error_name || !message)
        return CN_EINVAL;
    size_t n = strlen(message);
    if (n > 65535)
        return CN_ERANGE;
    uint8_t *p = cn_igtl_buf_append(b, 30 + n + 1);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, 30);
    be16(p, code);
    uint64_t sc = (uint64_t)subcode;
    be32(p + 2, (uint32_t)(sc >> 32));
    be32(p + 6, (uint32_t)sc);
    memcpy(p + 10, error_name, strnlen(error_name, 20));
    memcpy(p + 30, message, n + 1);   /* NUL-terminated, as upstream writes it */
    return CN_OK;
}

int cn_igtl_put_polylines(cn_igtl_buf *b, const float (*pts)[3], int n_pts,
                          const cn_igtl_polyline *lines, int n_lines)
{
    if (!b || n_pts < 0 || n_lines < 0 || (n_pts > 0 && !pts) || (n_lines > 0 && !lines))
        return CN_EINVAL;
    size_t line_words = 0;
    for (int i = 0; i < n_lines; i++) {
        if (lines[i].start < 0 || lines[i].count < 2 || lines[i].start + lines[i].count > n_pts)
            return CN_EINVAL;
        line_words += 1 + (size_t)lines[i].count + (lines[i].closed ? 1 : 0);
    }
    for (int i = 0; i < n_pts; i++)
        if (!isfinite(pts[i][0]) || !isfinite(pts[i][1]) || !isfinite(pts[i][2]))
            return CN_EINVAL;
    size_t size = 40 + 12 * (size_t)n_pts + 4 * line_words;
    uint8_t *p = cn_igtl_buf_append(b, size);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, 40);
    be32(p, (uint32_t)n_pts);
    be32(p + 12, (uint32_t)n_lines);
    be32(p + 16, (uint32_t)(4 * line_words));
    uint8_t *q = p + 40;
    for (int i = 0; i < n_pts; i++)
        for (int k = 0; k < 3; k++, q += 4)
            bef(q, pts[i][k]);
    for (int i = 0; i < n_lines; i++) {
        int cnt = lines[i].count + (lines[i].closed ? 1 : 0);
        be32(q, (uint32_t)cnt);
        q += 4;
        for (int k = 0; k < lines[i].count; k++, q += 4)
            be32(q, (uint32_t)(lines[i].start + k));
        if (lines[i].closed) {
            be32(q, (uint32_t)lines[i].start);
            q += 4;
        }
    }
    return CN_OK;
}

/* POINT: 136 bytes per element (name 64, group 32, RGBA, x y z, radius, owner 20),
 * text fields zero-padded as upstream's PointElement writes them. No element is a
 * valid message: it says "no point" (a receiver's list is emptied). */
int cn_igtl_put_points(cn_igtl_buf *b, const cn_igtl_point *pts, int n)
{
    if (!b || n < 0 || (n > 0 && !pts) || (size_t)n > (SIZE_MAX - 64) / 136)
        return CN_EINVAL;
    for (int i = 0; i < n; i++) {
        const cn_igtl_point *e = &pts[i];
        if (strnlen(e->name, sizeof e->name) > 64 || strnlen(e->group, sizeof e->group) > 32 ||
            strnlen(e->owner, sizeof e->owner) > 20 || !isfinite(e->pos[0]) ||
            !isfinite(e->pos[1]) || !isfinite(e->pos[2]) || !isfinite(e->radius))
            return CN_EINVAL;
    }
    if (n == 0)
        return CN_OK;
    uint8_t *p = cn_igtl_buf_append(b, 136 * (size_t)n);
    if (!p)
        return CN_ENOMEM;
    for (int i = 0; i < n; i++, p += 136) {
        const cn_igtl_point *e = &pts[i];
        memset(p, 0, 136);
        memcpy(p, e->name, strnlen(e->name, 64));
        memcpy(p + 64, e->group, strnlen(e->group, 32));
        memcpy(p + 96, e->rgba, 4);
        for (int k = 0; k < 3; k++)
            bef(p + 100 + 4 * k, e->pos[k]);
        bef(p + 112, e->radius);
        memcpy(p + 116, e->owner, strnlen(e->owner, 20));
    }
    return CN_OK;
}

int cn_igtl_put_triangles(cn_igtl_buf *b, const float *xyz, int n_pts, const int *tri, int n_tri)
{
    if (!b || n_pts < 0 || n_tri < 0 || (n_pts > 0 && !xyz) || (n_tri > 0 && !tri))
        return CN_EINVAL;
    for (int i = 0; i < 3 * n_tri; i++)
        if (tri[i] < 0 || tri[i] >= n_pts)
            return CN_EINVAL;
    for (int i = 0; i < 3 * n_pts; i++)
        if (!isfinite(xyz[i]))
            return CN_EINVAL;
    size_t size = 40 + 12 * (size_t)n_pts + 16 * (size_t)n_tri;
    uint8_t *p = cn_igtl_buf_append(b, size);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, 40);
    be32(p, (uint32_t)n_pts);
    be32(p + 20, (uint32_t)n_tri);            /* polygons */
    be32(p + 24, (uint32_t)(16 * n_tri));     /* (3, i, j, k) per triangle */
    uint8_t *q = p + 40;
    for (int i = 0; i < 3 * n_pts; i++, q += 4)
        bef(q, xyz[i]);
    for (int t = 0; t < n_tri; t++) {
        be32(q, 3);
        for (int k = 0; k < 3; k++)
            be32(q + 4 + 4 * k, (uint32_t)tri[3 * t + k]);
        q += 16;
    }
    return CN_OK;
}

/* ------------------------------------------------------------------ decoders */

int cn_igtl_decode_transform(const uint8_t *c, size_t len, cn_mat4 *out)
{
    if (!c || !out || len != 48)
        return CN_EPARSE;
    *out = cn_mat4_identity();
    int k = 0;
    for (int col = 0; col < 4; col++)
        for (int r = 0; r < 3; r++)
            out->m[r * 4 + col] = rdf(c + 4 * k++);
    return cn_mat4_is_finite(out) ? CN_OK : CN_EPARSE;
}

static size_t scalar_size(int t)
{
    switch (t) {
    case 2: case 3: return 1;
    case 4: case 5: return 2;
    case 6: case 7: case 10: return 4;
    case 11: return 8;
    default: return 0;
    }
}

int cn_igtl_decode_image(const uint8_t *c, size_t len, cn_igtl_image_view *v)
{
    return cn_igtl_decode_image_header(c, len, len, v);
}

/* Reads only c[0..72): the header says everything the checks need, the body
 * size (len) says the rest. */
int cn_igtl_decode_image_header(const uint8_t *c, size_t have, size_t len,
                                cn_igtl_image_view *v)
{
    if (!c || !v || len < CN_IGTL_IMAGE_HEADER_SIZE)
        return CN_EPARSE;
    if (have < CN_IGTL_IMAGE_HEADER_SIZE || have > len)
        return CN_EINVAL;
    memset(v, 0, sizeof *v);
    v->components = c[2];
    v->scalar_type = c[3];
    v->endian = c[4];
    v->coord = c[5];
    int off[3], sub[3];
    for (int i = 0; i < 3; i++) {
        v->size[i] = (int)rd16(c + 6 + 2 * i);
        off[i] = (int)rd16(c + 60 + 2 * i);
        sub[i] = (int)rd16(c + 66 + 2 * i);
    }
    for (int i = 0; i < 12; i++) {
        v->matrix[i] = rdf(c + 12 + 4 * i);
        if (!isfinite(v->matrix[i]))
            return CN_EPARSE;
    }
    size_t ss = scalar_size(v->scalar_type);
    if (ss == 0 || v->components < 1)
        return CN_EPARSE;
    for (int i = 0; i < 3; i++)
        if (v->size[i] < 1 || sub[i] < 1 || off[i] + sub[i] > v->size[i])
            return CN_EPARSE;
    /* the body holds the sub-volume's pixels: checked first, so a sub-volume whose
     * size fields lie is malformed, not merely unsupported (review 43a F5) */
    uint64_t need = (uint64_t)sub[0] * (uint64_t)sub[1] * (uint64_t)sub[2] *
                    (uint64_t)v->components * ss;
    if (need != len - 72)
        return CN_EPARSE;
    /* Only whole images are accepted (no sub-volume updates). */
    if (sub[0] != v->size[0] || sub[1] != v->size[1] || sub[2] != v->size[2])
        return CN_EUNSUPPORTED;
    v->pixels = have == len ? c + 72 : NULL;
    v->pixel_bytes = (size_t)need;
    return CN_OK;
}

cn_mat4 cn_igtl_image_ijk_to_ref(const cn_igtl_image_view *v)
{
    cn_mat4 m = cn_mat4_identity();
    for (int col = 0; col < 3; col++)
        for (int r = 0; r < 3; r++)
            m.m[r * 4 + col] = v->matrix[col * 3 + r];
    /* origin = centre - (size-1)/2 along each axis */
    for (int r = 0; r < 3; r++) {
        double o = v->matrix[9 + r];
        for (int col = 0; col < 3; col++)
            o -= m.m[r * 4 + col] * (v->size[col] - 1) / 2.0;
        m.m[r * 4 + 3] = o;
    }
    return m;
}

int cn_igtl_decode_string(const uint8_t *c, size_t len, char *out, size_t out_len,
                          uint16_t *encoding)
{
    if (!c || !out || out_len == 0 || len < 4)
        return CN_EPARSE;
    size_t n = rd16(c + 2);
    if (n != len - 4)
        return CN_EPARSE;
    if (encoding)
        *encoding = (uint16_t)rd16(c);
    if (n >= out_len)
        return CN_ERANGE;
    for (size_t i = 0; i < n; i++)
        if (c[4 + i] == 0)
            return CN_EPARSE;   /* embedded NUL: not a text we can show */
    memcpy(out, c + 4, n);
    out[n] = 0;
    return CN_OK;
}

int cn_igtl_decode_status(const uint8_t *c, size_t len, uint16_t *code, char *error_name,
                          char *msg, size_t msg_len)
{
    if (!c || len < 30)
        return CN_EPARSE;
    if (code)
        *code = (uint16_t)rd16(c);
    if (error_name) {
        memcpy(error_name, c + 10, 20);
        error_name[20] = 0;
    }
    if (msg && msg_len) {
        size_t n = len - 30;
        if (n > 0 && c[30 + n - 1] == 0)
            n--;
        if (n >= msg_len)
            n = msg_len - 1;
        memcpy(msg, c + 30, n);
        msg[n] = 0;
    }
    return CN_OK;
}

static void copy_text(char *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i < n && src[i]; i++)
        dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? (char)src[i] : '?';
    dst[i] = 0;
}

int cn_igtl_decode_points(const uint8_t *c, size_t len, cn_igtl_point *out, int max)
{
    if (!c || !out || max < 0 || len % 136 != 0)
        return CN_EPARSE;
    int n = (int)(len / 136);
    if (n > max)
        n = max;
    for (int i = 0; i < n; i++) {
        const uint8_t *e = c + 136 * (size_t)i;
        copy_text(out[i].name, e, 64);
        copy_text(out[i].group, e + 64, 32);
        memcpy(out[i].rgba, e + 96, 4);
        for (int k = 0; k < 3; k++)
            out[i].pos[k] = rdf(e + 100 + 4 * k);
        out[i].radius = rdf(e + 112);
        copy_text(out[i].owner, e + 116, 20);
        if (!isfinite(out[i].pos[0]) || !isfinite(out[i].pos[1]) || !isfinite(out[i].pos[2]))
            return CN_EPARSE;
    }
    return n;
}
