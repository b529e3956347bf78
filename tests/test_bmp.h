/* test_bmp.h - an 8-bit grey BMP written by hand, for tests that feed a real program
 * (dcmtk's img2dcm takes BMP or JPEG) or the reader a frame with known pixels.
 * Header-only, as test_cases.h: its users live in different test folders. */
#ifndef CN_TEST_BMP_H
#define CN_TEST_BMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void cn_test_put16(uint8_t *p, unsigned v)
{
    p[0] = v & 255;
    p[1] = (v >> 8) & 255;
}

static inline void cn_test_put32(uint8_t *p, unsigned v)
{
    cn_test_put16(p, v & 0xffff);
    cn_test_put16(p + 2, v >> 16);
}

/* px (w x h, row 0 at the top) as an 8-bit BMP with a grey palette (index i = grey
 * i), bottom-up rows padded to 4 bytes; false when the file cannot be written. */
static inline bool cn_test_write_bmp8(const char *path, const uint8_t *px, int w, int h)
{
    const int stride = (w + 3) & ~3;
    const size_t off = 14 + 40 + 256 * 4, n = off + (size_t)stride * (size_t)h;
    uint8_t *b = calloc(1, n);
    if (!b)
        return false;
    b[0] = 'B';
    b[1] = 'M';
    cn_test_put32(b + 2, (unsigned)n);
    cn_test_put32(b + 10, (unsigned)off);
    cn_test_put32(b + 14, 40);
    cn_test_put32(b + 18, (unsigned)w);
    cn_test_put32(b + 22, (unsigned)h);
    cn_test_put16(b + 26, 1);
    cn_test_put16(b + 28, 8);
    cn_test_put32(b + 34, (unsigned)(stride * h));
    cn_test_put32(b + 46, 256);
    for (int i = 0; i < 256; i++)
        b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (uint8_t)i;
    for (int y = 0; y < h; y++)
        memcpy(b + off + (size_t)(h - 1 - y) * (size_t)stride, px + (size_t)y * (size_t)w,
               (size_t)w);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(b);
    return ok;
}

#endif
