/* util.c - string copy, whole-file read, and a deterministic PRNG (xoshiro256**)
 * so that simulated sessions are reproducible from a seed on every platform. */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
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

/* Only a regular file, and no more than max_bytes of it: a FIFO named as a weights
 * file or a config blocked forever, and /dev/zero grew memory until the machine ran
 * out (input audit I3). Opened without blocking, so a FIFO is refused, not waited on. */
char *cn_file_read(const char *path, size_t max_bytes, size_t *len_out, char *err,
                   size_t err_len)
{
    if (len_out)
        *len_out = 0;
    if (!path) {
        cn_errf(err, err_len, "file", "no file named");
        errno = EINVAL;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        const int e = errno;
        cn_errf(err, err_len, path, "%s", strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cn_errf(err, err_len, path, "%s", S_ISDIR(st.st_mode) ? "a folder, not a file"
                                          : "not a regular file (a pipe, a device or a socket)");
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        cn_errf(err, err_len, path, "%.1f MiB: larger than the %.1f MiB such a file can be",
                (double)st.st_size / 1048576.0, (double)max_bytes / 1048576.0);
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    /* the size it has now; a file that grows meanwhile is read to max_bytes at most */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap + 1);
    bool said = false;
    while (buf) {
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            const int e = errno;
            cn_errf(err, err_len, path, "%s", strerror(e));
            free(buf);
            buf = NULL;
            errno = e;
            said = true;
            break;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len == cap) {
            if (cap > max_bytes) {
                cn_errf(err, err_len, path, "grew past the %.1f MiB such a file can be",
                        (double)max_bytes / 1048576.0);
                free(buf);
                buf = NULL;
                errno = EFBIG;
                said = true;
                break;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    if (!buf && !said) {
        cn_errf(err, err_len, path, "out of memory");
        errno = ENOMEM;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[len] = 0;
    if (len_out)
        *len_out = len;
    return buf;
}

char *cn_file_read_all(const char *path, size_t *len_out)
{
    return cn_file_read(path, CN_FILE_READ_MAX, len_out, NULL, 0);
}

FILE *cn_file_create(const char *path, char *err, size_t err_len)
{
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        const int e = path ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        cn_errf(err, err_len, path ? path : "file", "%s",
                e == ELOOP ? "a symbolic link: not written through it" : strerror(e));
        errno = e;
    }
    return f;
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

bool cn_curve_closes(const cn_pt2 *p, int n)
{
    if (!p || n < 3)
        return false;
    double len = 0.0;
    for (int i = 1; i < n; i++)
        len += hypot(p[i].x - p[i - 1].x, p[i].y - p[i - 1].y);
    double gap = hypot(p[n - 1].x - p[0].x, p[n - 1].y - p[0].y);
    return isfinite(len) && gap <= 3.0 * len / (n - 1);
}
