/* test_nifti.h - a NIfTI-1 file (.nii, or .nii.gz through zlib) written by hand from
 * known pixels: the 348-byte header, no extension, the data at byte 352. For tests of
 * the reader and of `eval nerve` on an nnU-Net-style set (imagesTr/CASE_0000.nii.gz
 * with labelsTr/CASE.nii.gz). Header-only, as test_bmp.h. */
#ifndef CN_TEST_NIFTI_H
#define CN_TEST_NIFTI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    CN_TEST_NII_UINT8 = 2,
    CN_TEST_NII_INT16 = 4,
    CN_TEST_NII_FLOAT32 = 16,
    CN_TEST_NII_RGB24 = 128,
    CN_TEST_NII_UINT16 = 512
};

typedef struct {
    int dims;            /* 2 (x, y), 3 (x, y, z) or 4 (x, y, z, t) */
    int w, h, n;         /* n: the third axis (1 for nnU-Net's 2-D cases) */
    int datatype, bitpix;
    float pixdim[3];     /* mm per pixel along x, y, z as the file states it */
    int units;           /* xyzt_units' space code: 0 unknown, 2 mm */
    int t;               /* dims 4: frames along time */
    float dt;            /* dims 4: time step, in time_units */
    int time_units;      /* xyzt_units' time code: 8 s, 16 ms, 24 us */
    float slope, inter;  /* scl_slope, scl_inter (0, 0: none) */
    bool big_endian;     /* header and samples in the other byte order (a SPARC, Java's) */
} cn_test_nii;

/* Reverses the n-byte fields of p[0, len). */
static inline void cn_test_nii_swap(uint8_t *p, size_t len, size_t n)
{
    for (size_t at = 0; n > 1 && at + n <= len; at += n)
        for (size_t i = 0; i < n / 2; i++) {
            const uint8_t c = p[at + i];
            p[at + i] = p[at + n - 1 - i];
            p[at + n - 1 - i] = c;
        }
}

static inline void cn_test_nii_f32(uint8_t *p, float v) { memcpy(p, &v, 4); }
static inline void cn_test_nii_i16(uint8_t *p, int v)
{
    const int16_t s = (int16_t)v;
    memcpy(p, &s, 2);
}

/* Writes h (host byte order: little-endian here) and data_bytes of data to path,
 * gzip-compressed when gz; false when the file cannot be written. */
static inline bool cn_test_write_nifti(const char *path, const cn_test_nii *h, const void *data,
                                       size_t data_bytes, bool gz)
{
    uint8_t hdr[352];
    memset(hdr, 0, sizeof hdr);
    const int32_t size = 348;
    memcpy(hdr, &size, 4);
    hdr[38] = 'r';
    cn_test_nii_i16(hdr + 40, h->dims);
    cn_test_nii_i16(hdr + 42, h->w);
    cn_test_nii_i16(hdr + 44, h->h);
    cn_test_nii_i16(hdr + 46, h->dims >= 3 ? h->n : 1);
    for (int k = 4; k < 8; k++)
        cn_test_nii_i16(hdr + 40 + 2 * k, 1);
    if (h->dims >= 4)
        cn_test_nii_i16(hdr + 48, h->t);
    cn_test_nii_i16(hdr + 70, h->datatype);
    cn_test_nii_i16(hdr + 72, h->bitpix);
    cn_test_nii_f32(hdr + 76, 1.0f); /* qfac */
    for (int k = 0; k < 3; k++)
        cn_test_nii_f32(hdr + 80 + 4 * k, h->pixdim[k]);
    cn_test_nii_f32(hdr + 92, h->dims >= 4 ? h->dt : 1.0f);
    cn_test_nii_f32(hdr + 108, 352.0f);
    cn_test_nii_f32(hdr + 112, h->slope);
    cn_test_nii_f32(hdr + 116, h->inter);
    hdr[123] = (uint8_t)(h->units | h->time_units);
    memcpy(hdr + 344, "n+1", 4);
    uint8_t *swapped = NULL;
    if (h->big_endian) {
        cn_test_nii_swap(hdr, 4, 4);            /* sizeof_hdr */
        cn_test_nii_swap(hdr + 40, 16, 2);      /* dim[8] (intent_* are 0) */
        cn_test_nii_swap(hdr + 70, 6, 2);       /* datatype, bitpix, slice_start */
        cn_test_nii_swap(hdr + 76, 44, 4);      /* pixdim[8], vox_offset, scl_* */
        const size_t sample = h->datatype == CN_TEST_NII_RGB24 ? 1 : (size_t)h->bitpix / 8;
        swapped = (uint8_t *)malloc(data_bytes ? data_bytes : 1);
        if (!swapped)
            return false;
        memcpy(swapped, data, data_bytes);
        cn_test_nii_swap(swapped, data_bytes, sample);
        data = swapped;
    }
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    bool ok = f && gzwrite(f, hdr, sizeof hdr) == (int)sizeof hdr &&
              (data_bytes == 0 || gzwrite(f, data, (unsigned)data_bytes) == (int)data_bytes);
    ok = f && gzclose(f) == Z_OK && ok;
    free(swapped);
    return ok;
}

#endif
