/*
 * bone_data.h - test helper: reads the frames of the PLUS sample
 * BoneUltrasound_L14.igs.mha (zlib-compressed MetaImage, 820 x 616 x 21 uint8,
 * text header ending at "ElementDataFile = LOCAL") from the shared data folder.
 * Only what the tests need; the product's sequence reader lives in seqio.
 */
#ifndef CN_TEST_BONE_DATA_H
#define CN_TEST_BONE_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BONE_W 820
#define BONE_H 616
#define BONE_N 21

/* Returns BONE_W * BONE_H * BONE_N bytes (caller frees) or NULL. */
static uint8_t *bone_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    const char *key = "ElementDataFile = LOCAL";
    uint8_t *p = NULL;
    for (long i = 0; i + (long)strlen(key) < len; i++)
        if (memcmp(buf + i, key, strlen(key)) == 0) {
            p = buf + i + strlen(key);
            break;
        }
    if (!p) {
        free(buf);
        return NULL;
    }
    while (*p == '\r' || *p == '\n')
        p++;
    uLongf out_len = (uLongf)BONE_W * BONE_H * BONE_N;
    uint8_t *out = malloc(out_len);
    if (!out || uncompress(out, &out_len, p, (uLong)(len - (p - buf))) != Z_OK ||
        out_len != (uLongf)BONE_W * BONE_H * BONE_N) {
        free(out);
        out = NULL;
    }
    free(buf);
    return out;
}

#endif
