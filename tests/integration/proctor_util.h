/* proctor_util.h - helpers for whole-program proctor tests: start the real
 * `cryonav run` in the background with its log in a file, talk to its
 * OpenIGTLink server as a viewer / proctor, read the log back. Header-only.
 *
 * A session "without a renderer" is what a navigator without any display or
 * Xvfb is: no DISPLAY and no Xvfb on PATH, so navigate.c runs with no viewer at
 * all. It is also the cheapest way to run a session in a test. */
#ifndef CN_PROCTOR_UTIL_H
#define CN_PROCTOR_UTIL_H

#include "../unit/igtl/igtl_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int pu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* Writes text to path with the given mode (e.g. 0600). */
static inline int pu_write_file(const char *path, int mode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int pu_write_file(const char *path, int mode, const char *fmt, ...)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    fchmod(fd, (mode_t)mode);
    FILE *f = fdopen(fd, "w");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    return fclose(f);
}

/* Starts CN_CRYONAV_BIN with argv (NULL-terminated, argv[0] included) and
 * stdout+stderr into log_path. no_renderer: no DISPLAY, no Xvfb on PATH. */
static inline pid_t pu_spawn(const char *const *argv, const char *log_path, bool no_renderer)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    if (no_renderer) {
        unsetenv("DISPLAY");
        setenv("PATH", "/nonexistent", 1);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Connects to 127.0.0.1:port, retrying for up to timeout_ms (the server starts). */
static inline int pu_connect(int port, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 50; i++) {
        int fd = tu_connect(port);
        if (fd >= 0)
            return fd;
        usleep(50000);
    }
    return -1;
}

/* Sends CMD_<uid> and waits for ACK_<uid>; returns its text (static) or NULL. */
static inline const char *pu_command(tu_client *c, int uid, const char *xml, int timeout_ms)
{
    char dev[32], ack[32];
    snprintf(dev, sizeof dev, "CMD_%d", uid);
    snprintf(ack, sizeof ack, "ACK_%d", uid);
    if (tu_send_string(c->fd, 1, dev, xml) != 0)
        return NULL;
    tu_read(c, timeout_ms, "STRING", ack);
    tu_msg *m = tu_find(c, "STRING", ack);
    /* STRING content: uint16 encoding, uint16 length, text */
    return m && m->content_len > 4 ? (const char *)m->content + 4 : NULL;
}

static inline void pu_put_be_float(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

static inline float pu_be_float(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A POINT message with one element (name[64] group[32] rgba[4] xyz radius
 * owner[20], big-endian), in header version `version`; with version 2 the
 * metadata may carry IGTL_DEVICE_NAME = meta_name. */
static inline int pu_send_point(int fd, int version, const char *device, const char *meta_name,
                                const char *name, const float xyz[3])
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_msg_begin(&b, &m, version, "POINT", device,
                      cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), 7);
    uint8_t *e = cn_igtl_buf_append(&b, 136);
    memset(e, 0, 136);
    snprintf((char *)e, 64, "%s", name);
    snprintf((char *)e + 64, 32, "Target");
    e[96] = 255, e[99] = 255;
    for (int i = 0; i < 3; i++)
        pu_put_be_float(e + 100 + 4 * i, xyz[i]);
    pu_put_be_float(e + 112, 1.0f);
    cn_igtl_meta meta = {"IGTL_DEVICE_NAME", meta_name ? meta_name : ""};
    cn_igtl_msg_end(&b, &m, &meta, meta_name ? 1 : 0);
    int r = tu_send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
    return r;
}

/* Where image pixel (i, j) lies in the scene frame, from an IMAGE message
 * (72-byte header: size u16[3] at 6, matrix float32[12] at 12: i-axis * spacing,
 * j-axis * spacing, k-axis * spacing, then the image centre). */
static inline void pu_image_px_to_ref(const tu_msg *img, double i, double j, float out[3])
{
    const uint8_t *h = img->content;
    int w = h[6] << 8 | h[7], hh = h[8] << 8 | h[9];
    float m[12];
    for (int k = 0; k < 12; k++)
        m[k] = pu_be_float(h + 12 + 4 * k);
    double di = i - (w - 1) / 2.0, dj = j - (hh - 1) / 2.0;
    for (int a = 0; a < 3; a++)
        out[a] = (float)(m[9 + a] + di * m[a] + dj * m[3 + a]);
}

/* The whole file as a string (malloc'd, NUL-terminated) or NULL. */
static inline char *pu_slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (len_out)
        *len_out = got;
    return s;
}

/* Waits until the log holds `needle` (or timeout); true when found. */
static inline bool pu_wait_log(const char *path, const char *needle, int timeout_ms)
{
    for (int i = 0; i <= timeout_ms / 50; i++) {
        char *s = pu_slurp(path, NULL);
        bool found = s && strstr(s, needle);
        free(s);
        if (found)
            return true;
        usleep(50000);
    }
    return false;
}

/* SIGTERM, then waits up to timeout_s (SIGKILL after). Returns the wait status. */
static inline int pu_stop(pid_t pid, int timeout_s)
{
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < timeout_s * 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

static inline void pu_rm_rf(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
