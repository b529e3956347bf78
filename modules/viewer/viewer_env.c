/*
 * viewer_env.c - what must exist before VTK is asked to render: an X display
 * with GLX, and the display-mapping shader file.
 *
 * The idea: Debian's VTK renders through X11/GLX only, and when it cannot open
 * a display or a GL context it may abort() the process. Checking here first with
 * Xlib turns "no display" into an error message. The shader is read from a file
 * at run time (so it can be tuned without rebuilding); its absence is an error
 * that names every place that was tried.
 */
#include "viewer_priv.h"

#include <X11/Xlib.h>
#include <GL/glx.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CN_VIEWER_SHADER_DIR_BUILD
#define CN_VIEWER_SHADER_DIR_BUILD "shaders"
#endif
#ifndef CN_VIEWER_SHADER_DIR_INSTALL
#define CN_VIEWER_SHADER_DIR_INSTALL "/usr/local/share/cryonav/shaders"
#endif

#define CN_SHADER_FILE "us_plane.frag"
#define CN_SHADER_MAX_BYTES (256 * 1024)

void *cn_viewer_display_open(char *err, size_t err_len)
{
    const char *name = getenv("DISPLAY");
    if (!name || !name[0]) {
        snprintf(err, err_len,
                 "viewer: no X display (DISPLAY is not set); run under xvfb-run or set DISPLAY");
        return NULL;
    }
    /* An X server resets when its last client leaves and refuses connections
     * for a moment meanwhile (Xvfb without -noreset): try a few times. */
    Display *dpy = NULL;
    for (int attempt = 0; attempt < 10 && !dpy; attempt++) {
        dpy = XOpenDisplay(NULL);
        if (!dpy)
            cn_clock_sleep_ns(20 * 1000000LL);
    }
    if (!dpy) {
        snprintf(err, err_len, "viewer: cannot open X display '%s'", name);
        return NULL;
    }
    int ev_base = 0, err_base = 0;
    if (!glXQueryExtension(dpy, &err_base, &ev_base)) {
        XCloseDisplay(dpy);
        snprintf(err, err_len, "viewer: X display '%s' has no GLX extension (OpenGL unusable)",
                 name);
        return NULL;
    }
    return dpy;
}

void cn_viewer_display_close(void *dpy)
{
    if (dpy)
        XCloseDisplay((Display *)dpy);
}

static int pin_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name;
    if (name && strstr(name, "_dri.so")) {
        /* Already loaded: NOLOAD only adds the NODELETE flag, then we drop our
         * extra reference again. */
        void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        if (h)
            dlclose(h);
    }
    return 0;
}

void cn_viewer_pin_gl_driver(void)
{
    dl_iterate_phdr(pin_one, NULL);
}

/* Reads dir/us_plane.frag; CN_ENOENT when absent, CN_EIO / CN_EINVAL otherwise. */
static int read_shader(const char *dir, char **text, char *path, size_t path_len, char *err,
                       size_t err_len)
{
    int n = snprintf(path, path_len, "%s/%s", dir, CN_SHADER_FILE);
    if (n < 0 || (size_t)n >= path_len) {
        snprintf(err, err_len, "viewer: shader path too long: %s", dir);
        return CN_EINVAL;
    }
    size_t len = 0;
    errno = 0;
    char *buf = cn_file_read_all(path, &len);
    if (!buf) {
        int e = errno;
        snprintf(err, err_len, "viewer: cannot read shader %s: %s", path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? CN_ENOENT : CN_EIO;
    }
    if (len == 0 || len > CN_SHADER_MAX_BYTES || memchr(buf, '\0', len)) {
        snprintf(err, err_len, "viewer: shader %s is %s", path,
                 len == 0 ? "empty" : len > CN_SHADER_MAX_BYTES ? "too large" : "not text");
        free(buf);
        return CN_EINVAL;
    }
    *text = buf;
    return CN_OK;
}

int cn_viewer_load_shader(const char *dir, char **text, char *path_used, size_t path_len,
                          char *err, size_t err_len)
{
    *text = NULL;
    if (dir)
        return read_shader(dir, text, path_used, path_len, err, err_len);
    const char *dirs[2] = {CN_VIEWER_SHADER_DIR_BUILD, CN_VIEWER_SHADER_DIR_INSTALL};
    char first_err[512] = "";
    for (int i = 0; i < 2; i++) {
        int rc = read_shader(dirs[i], text, path_used, path_len, err, err_len);
        if (rc != CN_ENOENT)
            return rc; /* found (or found but broken: say so, do not hide it) */
        if (i == 0)
            snprintf(first_err, sizeof first_err, "%s", err);
    }
    snprintf(err, err_len, "viewer: shader %s not found in %s nor %s (%s)", CN_SHADER_FILE,
             CN_VIEWER_SHADER_DIR_BUILD, CN_VIEWER_SHADER_DIR_INSTALL, first_err);
    return CN_ENOENT;
}
