/* mat4.c - 4x4 row-major pose algebra, quaternions and rigid interpolation.
 * Interpolation works on the rotation (slerp of unit quaternions, shortest arc)
 * and the translation (lerp) separately, as PLUS's transform repository does:
 * interpolating matrix elements directly would shear the pose. */
#include "core/core.h"

#include <math.h>
#include <string.h>

cn_mat4 cn_mat4_identity(void)
{
    cn_mat4 r;
    memset(&r, 0, sizeof r);
    r.m[0] = r.m[5] = r.m[10] = r.m[15] = 1.0;
    return r;
}

cn_mat4 cn_mat4_mul(const cn_mat4 *a, const cn_mat4 *b)
{
    cn_mat4 r;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += a->m[i * 4 + k] * b->m[k * 4 + j];
            r.m[i * 4 + j] = s;
        }
    return r;
}

int cn_mat4_invert(const cn_mat4 *a, cn_mat4 *out)
{
    const double *m = a->m;
    double inv[16];
    inv[0] = m[5] * m[10] * m[15] - m[5] * m[11] * m[14] - m[9] * m[6] * m[15] +
             m[9] * m[7] * m[14] + m[13] * m[6] * m[11] - m[13] * m[7] * m[10];
    inv[4] = -m[4] * m[10] * m[15] + m[4] * m[11] * m[14] + m[8] * m[6] * m[15] -
             m[8] * m[7] * m[14] - m[12] * m[6] * m[11] + m[12] * m[7] * m[10];
    inv[8] = m[4] * m[9] * m[15] - m[4] * m[11] * m[13] - m[8] * m[5] * m[15] +
             m[8] * m[7] * m[13] + m[12] * m[5] * m[11] - m[12] * m[7] * m[9];
    inv[12] = -m[4] * m[9] * m[14] + m[4] * m[10] * m[13] + m[8] * m[5] * m[14] -
              m[8] * m[6] * m[13] - m[12] * m[5] * m[10] + m[12] * m[6] * m[9];
    inv[1] = -m[1] * m[10] * m[15] + m[1] * m[11] * m[14] + m[9] * m[2] * m[15] -
             m[9] * m[3] * m[14] - m[13] * m[2] * m[11] + m[13] * m[3] * m[10];
    inv[5] = m[0] * m[10] * m[15] - m[0] * m[11] * m[14] - m[8] * m[2] * m[15] +
             m[8] * m[3] * m[14] + m[12] * m[2] * m[11] - m[12] * m[3] * m[10];
    inv[9] = -m[0] * m[9] * m[15] + m[0] * m[11] * m[13] + m[8] * m[1] * m[15] -
             m[8] * m[3] * m[13] - m[12] * m[1] * m[11] + m[12] * m[3] * m[9];
    inv[13] = m[0] * m[9] * m[14] - m[0] * m[10] * m[13] - m[8] * m[1] * m[14] +
              m[8] * m[2] * m[13] + m[12] * m[1] * m[10] - m[12] * m[2] * m[9];
    inv[2] = m[1] * m[6] * m[15] - m[1] * m[7] * m[14] - m[5] * m[2] * m[15] +
             m[5] * m[3] * m[14] + m[13] * m[2] * m[7] - m[13] * m[3] * m[6];
    inv[6] = -m[0] * m[6] * m[15] + m[0] * m[7] * m[14] + m[4] * m[2] * m[15] -
             m[4] * m[3] * m[14] - m[12] * m[2] * m[7] + m[12] * m[3] * m[6];
    inv[10] = m[0] * m[5] * m[15] - m[0] * m[7] * m[13] - m[4] * m[1] * m[15] +
              m[4] * m[3] * m[13] + m[12] * m[1] * m[7] - m[12] * m[3] * m[5];
    inv[14] = -m[0] * m[5] * m[14] + m[0] * m[6] * m[13] + m[4] * m[1] * m[14] -
              m[4] * m[2] * m[13] - m[12] * m[1] * m[6] + m[12] * m[2] * m[5];
    inv[3] = -m[1] * m[6] * m[11] + m[1] * m[7] * m[10] + m[5] * m[2] * m[11] -
             m[5] * m[3] * m[10] - m[9] * m[2] * m[7] + m[9] * m[3] * m[6];
    inv[7] = m[0] * m[6] * m[11] - m[0] * m[7] * m[10] - m[4] * m[2] * m[11] +
             m[4] * m[3] * m[10] + m[8] * m[2] * m[7] - m[8] * m[3] * m[6];
    inv[11] = -m[0] * m[5] * m[11] + m[0] * m[7] * m[9] + m[4] * m[1] * m[11] -
              m[4] * m[3] * m[9] - m[8] * m[1] * m[7] + m[8] * m[3] * m[5];
    inv[15] = m[0] * m[5] * m[10] - m[0] * m[6] * m[9] - m[4] * m[1] * m[10] +
              m[4] * m[2] * m[9] + m[8] * m[1] * m[6] - m[8] * m[2] * m[5];
    double det = m[0] * inv[0] + m[1] * inv[4] + m[2] * inv[8] + m[3] * inv[12];
    if (!isfinite(det) || fabs(det) < 1e-12)
        return CN_EINVAL;
    for (int i = 0; i < 16; i++)
        out->m[i] = inv[i] / det;
    return CN_OK;
}

cn_vec3 cn_mat4_apply_point(const cn_mat4 *a, cn_vec3 p)
{
    const double *m = a->m;
    cn_vec3 r = {m[0] * p.x + m[1] * p.y + m[2] * p.z + m[3],
                 m[4] * p.x + m[5] * p.y + m[6] * p.z + m[7],
                 m[8] * p.x + m[9] * p.y + m[10] * p.z + m[11]};
    double w = m[12] * p.x + m[13] * p.y + m[14] * p.z + m[15];
    if (w != 1.0 && w != 0.0) {
        r.x /= w;
        r.y /= w;
        r.z /= w;
    }
    return r;
}

cn_vec3 cn_mat4_apply_dir(const cn_mat4 *a, cn_vec3 d)
{
    const double *m = a->m;
    cn_vec3 r = {m[0] * d.x + m[1] * d.y + m[2] * d.z, m[4] * d.x + m[5] * d.y + m[6] * d.z,
                 m[8] * d.x + m[9] * d.y + m[10] * d.z};
    return r;
}

cn_mat4 cn_mat4_translation(double x, double y, double z)
{
    cn_mat4 r = cn_mat4_identity();
    r.m[3] = x;
    r.m[7] = y;
    r.m[11] = z;
    return r;
}

cn_mat4 cn_mat4_scale(double sx, double sy, double sz)
{
    cn_mat4 r = cn_mat4_identity();
    r.m[0] = sx;
    r.m[5] = sy;
    r.m[10] = sz;
    return r;
}

cn_mat4 cn_mat4_rotation_axis_angle(cn_vec3 axis, double angle_rad)
{
    cn_vec3 u = cn_vec3_normalize(axis);
    double h = angle_rad / 2, s = sin(h);
    double q[4] = {cos(h), u.x * s, u.y * s, u.z * s};
    cn_vec3 zero = {0, 0, 0};
    return cn_mat4_from_quat_trans(q, zero);
}

bool cn_mat4_is_finite(const cn_mat4 *a)
{
    for (int i = 0; i < 16; i++)
        if (!isfinite(a->m[i]))
            return false;
    return true;
}

double cn_mat4_max_abs_diff(const cn_mat4 *a, const cn_mat4 *b)
{
    double d = 0;
    for (int i = 0; i < 16; i++) {
        double e = fabs(a->m[i] - b->m[i]);
        if (e > d || isnan(e))
            d = e;
    }
    return d;
}

/* Column j of the 3x3 rotation part. */
static cn_vec3 col(const cn_mat4 *a, int j) { return (cn_vec3){a->m[j], a->m[4 + j], a->m[8 + j]}; }

void cn_mat4_to_quat(const cn_mat4 *a, double q[4])
{
    /* Gram-Schmidt the columns so a calibration matrix with spacing scale still
     * yields the right rotation. */
    cn_vec3 x = cn_vec3_normalize(col(a, 0));
    cn_vec3 y = col(a, 1);
    y = cn_vec3_normalize(cn_vec3_sub(y, cn_vec3_scale(x, cn_vec3_dot(x, y))));
    cn_vec3 z = cn_vec3_cross(x, y);
    double r00 = x.x, r10 = x.y, r20 = x.z, r01 = y.x, r11 = y.y, r21 = y.z, r02 = z.x, r12 = z.y,
           r22 = z.z;
    double tr = r00 + r11 + r22;
    if (tr > 0) {
        double s = sqrt(tr + 1.0) * 2;
        q[0] = 0.25 * s;
        q[1] = (r21 - r12) / s;
        q[2] = (r02 - r20) / s;
        q[3] = (r10 - r01) / s;
    } else if (r00 > r11 && r00 > r22) {
        double s = sqrt(1.0 + r00 - r11 - r22) * 2;
        q[0] = (r21 - r12) / s;
        q[1] = 0.25 * s;
        q[2] = (r01 + r10) / s;
        q[3] = (r02 + r20) / s;
    } else if (r11 > r22) {
        double s = sqrt(1.0 + r11 - r00 - r22) * 2;
        q[0] = (r02 - r20) / s;
        q[1] = (r01 + r10) / s;
        q[2] = 0.25 * s;
        q[3] = (r12 + r21) / s;
    } else {
        double s = sqrt(1.0 + r22 - r00 - r11) * 2;
        q[0] = (r10 - r01) / s;
        q[1] = (r02 + r20) / s;
        q[2] = (r12 + r21) / s;
        q[3] = 0.25 * s;
    }
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    for (int i = 0; i < 4; i++)
        q[i] /= n;
}

cn_mat4 cn_mat4_from_quat_trans(const double qin[4], cn_vec3 t)
{
    double n = sqrt(qin[0] * qin[0] + qin[1] * qin[1] + qin[2] * qin[2] + qin[3] * qin[3]);
    double w = qin[0] / n, x = qin[1] / n, y = qin[2] / n, z = qin[3] / n;
    cn_mat4 r = cn_mat4_identity();
    r.m[0] = 1 - 2 * (y * y + z * z);
    r.m[1] = 2 * (x * y - w * z);
    r.m[2] = 2 * (x * z + w * y);
    r.m[4] = 2 * (x * y + w * z);
    r.m[5] = 1 - 2 * (x * x + z * z);
    r.m[6] = 2 * (y * z - w * x);
    r.m[8] = 2 * (x * z - w * y);
    r.m[9] = 2 * (y * z + w * x);
    r.m[10] = 1 - 2 * (x * x + y * y);
    r.m[3] = t.x;
    r.m[7] = t.y;
    r.m[11] = t.z;
    return r;
}

/* The signed length of each column along its rotation axis: the scale of a
 * calibration R * diag(s) (ImageToProbe carries the pixel spacing), negative for
 * a mirrored z axis, 1 for a rigid pose. */
static void col_scales(const cn_mat4 *a, const double q[4], double out[3])
{
    cn_mat4 r = cn_mat4_from_quat_trans(q, (cn_vec3){0, 0, 0});
    for (int j = 0; j < 3; j++)
        out[j] = cn_vec3_dot(col(&r, j), col(a, j));
}

cn_mat4 cn_mat4_interpolate(const cn_mat4 *a, const cn_mat4 *b, double s)
{
    /* Rotation by slerp, translation and column scales by lerp: a scaled
     * calibration sent with every frame (a PlusServer's ImageToProbe) keeps its
     * scale between samples; a shear would be dropped. */
    double qa[4], qb[4], q[4], sa[3], sb[3];
    cn_mat4_to_quat(a, qa);
    cn_mat4_to_quat(b, qb);
    col_scales(a, qa, sa);
    col_scales(b, qb, sb);
    double d = qa[0] * qb[0] + qa[1] * qb[1] + qa[2] * qb[2] + qa[3] * qb[3];
    if (d < 0) { /* shortest arc */
        d = -d;
        for (int i = 0; i < 4; i++)
            qb[i] = -qb[i];
    }
    double wa, wb;
    if (d > 0.9995) { /* nearly parallel: lerp is exact enough and avoids 0/0 */
        wa = 1 - s;
        wb = s;
    } else {
        double th = acos(d), sn = sin(th);
        wa = sin((1 - s) * th) / sn;
        wb = sin(s * th) / sn;
    }
    for (int i = 0; i < 4; i++)
        q[i] = wa * qa[i] + wb * qb[i];
    cn_vec3 t = {a->m[3] + s * (b->m[3] - a->m[3]), a->m[7] + s * (b->m[7] - a->m[7]),
                 a->m[11] + s * (b->m[11] - a->m[11])};
    cn_mat4 r = cn_mat4_from_quat_trans(q, t);
    for (int j = 0; j < 3; j++) {
        double sj = sa[j] + s * (sb[j] - sa[j]);
        for (int i = 0; i < 3; i++)
            r.m[i * 4 + j] *= sj;
    }
    return r;
}

cn_vec3 cn_vec3_add(cn_vec3 a, cn_vec3 b) { return (cn_vec3){a.x + b.x, a.y + b.y, a.z + b.z}; }
cn_vec3 cn_vec3_sub(cn_vec3 a, cn_vec3 b) { return (cn_vec3){a.x - b.x, a.y - b.y, a.z - b.z}; }
cn_vec3 cn_vec3_scale(cn_vec3 a, double s) { return (cn_vec3){a.x * s, a.y * s, a.z * s}; }
double cn_vec3_dot(cn_vec3 a, cn_vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
cn_vec3 cn_vec3_cross(cn_vec3 a, cn_vec3 b)
{
    return (cn_vec3){a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
double cn_vec3_norm(cn_vec3 a) { return sqrt(cn_vec3_dot(a, a)); }
cn_vec3 cn_vec3_normalize(cn_vec3 a)
{
    double n = cn_vec3_norm(a);
    return n > 0 ? cn_vec3_scale(a, 1.0 / n) : a;
}
