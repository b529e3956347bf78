/* util.c - string copy, whole-file read, and a deterministic PRNG (xoshiro256**)
 * so that simulated sessions are reproducible from a seed on every platform. */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t cn_strlcpy(char *dst, const char *src, size_t dst_len)
{
    size_t n = strlen(src);
    if (dst_len) {
        size_t c = n < dst_len - 1 ? n : dst_len - 1;
        memcpy(dst, src, c);
        dst[c] = 0;
    }
    return n;
}

char *cn_file_read_all(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
        }
        buf = nb;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[len] = 0;
    if (len_out)
        *len_out = len;
    return buf;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cn_rng_seed(cn_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cn_rng_next(cn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cn_rng_uniform(cn_rng *r) { return (double)(cn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double cn_rng_normal(cn_rng *r)
{
    /* Box-Muller; one value per call keeps the state simple and reproducible. */
    double u1 = cn_rng_uniform(r), u2 = cn_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
