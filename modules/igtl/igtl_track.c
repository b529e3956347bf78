/*
 * igtl_track.c - the tracking message types other than TRANSFORM: POSITION,
 * TDATA and QTDATA decoders, and the STT_/STP_ requests that start and stop
 * a TDATA / QTDATA stream.
 *
 * Why here and not in igtl_msg.c: trackers and PLUS-style bridges stream these
 * instead of TRANSFORM, and their bodies are lists of named elements in which
 * one bad element must not cost the good ones. So the list decoders work one
 * element at a time, in place, allocating nothing (a hostile peer's claims
 * cost at most the parser's per-type body limit), and every rejection carries
 * a short reason for the caller's log line. Layouts follow the OpenIGTLink
 * specification and the 1.11 C layer (igtl_position.h, igtl_tdata.h,
 * igtl_qtdata.h), all big-endian:
 *   POSITION: position float32[3], then 0, 3 (x y z; w recovered as upstream
 *             does: sqrt(1 - x^2 - y^2 - z^2)) or 4 (x y z w) quaternion floats:
 *             12, 24 or 28 bytes;
 *   TDATA:    elements of 70 bytes: name char[20], type u8, reserved u8,
 *             float32[12] as TRANSFORM (R11 R21 R31 R12 ... TX TY TZ);
 *   QTDATA:   elements of 50 bytes: name char[20], type u8, reserved u8,
 *             position float32[3], quaternion float32[4] (x y z w);
 *   STT_TDATA / STT_QTDATA: int32 resolution (ms), coordinate name char[32].
 */
#include "igtl/igtl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static int reject(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return CN_EPARSE;
}

/* n floats at p into out (as double); false when one is NaN or infinite. */
static bool read_floats(const uint8_t *p, int n, double *out)
{
    for (int i = 0; i < n; i++) {
        float f = rdf(p + 4 * i);
        if (!isfinite(f))
            return false;
        out[i] = f;
    }
    return true;
}

/* Position (mm) and quaternion (x, y, z, w) -> pose; the quaternion must not be
 * zero (it is normalised here, as upstream's QuaternionToMatrix does). */
static int pose_from_quat(const double pos[3], const double xyzw[4], cn_mat4 *out, char *why,
                          size_t why_len)
{
    double n2 = xyzw[0] * xyzw[0] + xyzw[1] * xyzw[1] + xyzw[2] * xyzw[2] + xyzw[3] * xyzw[3];
    if (!(n2 > 1e-12))
        return reject(why, why_len, "zero quaternion (no orientation)");
    double wxyz[4] = {xyzw[3], xyzw[0], xyzw[1], xyzw[2]};
    *out = cn_mat4_from_quat_trans(wxyz, (cn_vec3){pos[0], pos[1], pos[2]});
    return cn_mat4_is_finite(out) ? CN_OK : reject(why, why_len, "quaternion out of range");
}

int cn_igtl_decode_position(const uint8_t *c, size_t len, cn_mat4 *out, char *why,
                            size_t why_len)
{
    if (!c || !out)
        return reject(why, why_len, "no content");
    if (len != CN_IGTL_POSITION_ONLY_SIZE && len != CN_IGTL_POSITION_QUAT3_SIZE &&
        len != CN_IGTL_POSITION_SIZE)
        return reject(why, why_len, "body of %zu bytes (expected 12, 24 or 28)", len);
    double v[7] = {0, 0, 0, 0, 0, 0, 1}; /* position, then x y z w: identity rotation */
    int n = (int)(len / 4);
    if (!read_floats(c, n, v))
        return reject(why, why_len, "non-finite number");
    if (len == CN_IGTL_POSITION_QUAT3_SIZE) {
        double sq = 1.0 - (v[3] * v[3] + v[4] * v[4] + v[5] * v[5]);
        if (sq < -1e-5) /* float rounding of a unit quaternion is let through as w = 0 */
            return reject(why, why_len, "3-element quaternion longer than 1 (w cannot be "
                          "recovered)");
        v[6] = sq > 0 ? sqrt(sq) : 0;
    }
    return pose_from_quat(v, v + 3, out, why, why_len);
}

int cn_igtl_track_count(size_t len, bool quaternion)
{
    size_t es = quaternion ? CN_IGTL_QTDATA_ELEMENT_SIZE : CN_IGTL_TDATA_ELEMENT_SIZE;
    if (len == 0 || len % es != 0)
        return CN_EPARSE;
    return (int)(len / es); /* len is bounded by the parser's body limit */
}

int cn_igtl_decode_track_element(const uint8_t *c, size_t len, int i, bool quaternion,
                                 cn_igtl_track_element *out, char *why, size_t why_len)
{
    size_t es = quaternion ? CN_IGTL_QTDATA_ELEMENT_SIZE : CN_IGTL_TDATA_ELEMENT_SIZE;
    if (out)
        memset(out, 0, sizeof *out);
    if (!c || !out || i < 0 || (size_t)i >= len / es)
        return reject(why, why_len, "no element %d", i);
    const uint8_t *e = c + es * (size_t)i;
    /* The name as far as it can be shown ('?' for what cannot), so that even a
     * rejected element is named in the log. */
    size_t nl = 0;
    while (nl < CN_IGTL_NAME_SIZE && e[nl])
        nl++;
    bool printable = true;
    for (size_t k = 0; k < nl; k++) {
        bool ok = e[k] >= 0x20 && e[k] <= 0x7e;
        printable = printable && ok;
        out->name[k] = ok ? (char)e[k] : '?';
    }
    out->name[nl] = 0;
    out->type = e[20];
    /* A name of exactly 20 characters fills its field with no NUL: upstream's
     * strncpy into char[20] sends it that way, and it is a valid name. */
    if (nl == 0)
        return reject(why, why_len, "empty element name");
    if (!printable)
        return reject(why, why_len, "element name not printable ASCII");
    double v[12];
    if (!quaternion) {
        if (!read_floats(e + 22, 12, v))
            return reject(why, why_len, "non-finite number in the matrix");
        out->m = cn_mat4_identity();
        int k = 0;
        for (int col = 0; col < 4; col++)
            for (int r = 0; r < 3; r++)
                out->m.m[r * 4 + col] = v[k++];
        return CN_OK;
    }
    if (!read_floats(e + 22, 7, v))
        return reject(why, why_len, "non-finite number in the position or quaternion");
    return pose_from_quat(v, v + 3, &out->m, why, why_len);
}

int cn_igtl_put_stt(cn_igtl_buf *b, int resolution_ms, const char *coord_name)
{
    if (!b || resolution_ms < 0)
        return CN_EINVAL;
    uint8_t *p = cn_igtl_buf_append(b, CN_IGTL_STT_SIZE);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, CN_IGTL_STT_SIZE);
    uint32_t r = (uint32_t)resolution_ms;
    p[0] = (uint8_t)(r >> 24);
    p[1] = (uint8_t)(r >> 16);
    p[2] = (uint8_t)(r >> 8);
    p[3] = (uint8_t)r;
    if (coord_name)
        memcpy(p + 4, coord_name, strnlen(coord_name, CN_IGTL_STT_SIZE - 4 - 1));
    return CN_OK;
}
