/* ref_pack.h - messages packed by the upstream OpenIGTLink C++ library (Debian's
 * libOpenIGTLink 1.11), behind a C API, as the byte-for-byte reference for our
 * v1 packers. Each returns a malloc'd buffer (caller frees) and its length. */
#ifndef CN_TEST_REF_PACK_H
#define CN_TEST_REF_PACK_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* m: row-major 3x4 (rotation | translation) */
uint8_t *ref_pack_transform(const char *name, uint32_t sec, uint32_t frac, const float m[12],
                            size_t *len);
/* dir: row-major 3x3 with unit columns (i, j, k axes); origin = image centre */
uint8_t *ref_pack_image_u8(const char *name, uint32_t sec, uint32_t frac, int w, int h,
                           const float spacing[3], const float dir[9], const float origin[3],
                           const uint8_t *pixels, size_t *len);
uint8_t *ref_pack_string(const char *name, uint32_t sec, uint32_t frac, const char *text,
                         size_t *len);
uint8_t *ref_pack_status(const char *name, uint32_t sec, uint32_t frac, int code,
                         int64_t subcode, const char *error_name, const char *msg, size_t *len);
/* one polyline through all points, closed repeats the first index */
uint8_t *ref_pack_polyline(const char *name, uint32_t sec, uint32_t frac, const float *xyz,
                           int n, int closed, size_t *len);
/* triangles as polygons (3 indices each) */
uint8_t *ref_pack_triangles(const char *name, uint32_t sec, uint32_t frac, const float *xyz,
                            int n, const int *tri, int n_tri, size_t *len);
uint8_t *ref_pack_point(const char *name, uint32_t sec, uint32_t frac, const char *pname,
                        const float pos[3], size_t *len);
/* POINT of n elements (0 allowed), every one with the same group, colour, radius, owner */
uint8_t *ref_pack_points(const char *name, uint32_t sec, uint32_t frac, int n,
                         const char *const *pnames, const char *group, const uint8_t rgba[4],
                         const float (*pos)[3], float radius, const char *owner, size_t *len);
/* QTDATA of n elements: names, positions (mm), quaternions (x, y, z, w) */
uint8_t *ref_pack_qtdata(const char *name, uint32_t sec, uint32_t frac, int n,
                         const char *const *names, const float (*pos)[3], const float (*quat)[4],
                         size_t *len);
/* STT_TDATA (quaternion 0) or STT_QTDATA (1) with a resolution in ms */
uint8_t *ref_pack_stt(const char *name, uint32_t sec, uint32_t frac, int quaternion,
                      int resolution_ms, size_t *len);
#ifdef __cplusplus
}
#endif
#endif
