/* app_util.c - what every sub-command needs: help detection, usage errors, and
 * an X display for VTK (data and configuration paths: app_config.c).
 *
 * Debian's VTK renders only through X11/GLX (no EGL, no OSMesa), so "headless"
 * means "an X server nobody looks at". When there is no usable $DISPLAY we start
 * a private Xvfb with -displayfd (it picks a free display number and tells us when
 * it is ready, so there is no race on display numbers) and ask the kernel to kill
 * it when we exit (PR_SET_PDEATHSIG): nothing to clean up, even after a crash.
 * -noreset: an Xvfb that resets when its last client disconnects refuses new
 * connections for a moment, which our own display probe would trigger.
 * The private Xvfb runs in a process group of its own: a terminal's Ctrl-C (or
 * hang-up) goes to the whole foreground group, and an Xvfb in ours would die at
 * once and take our X connection with it (Xlib exits the process on a lost
 * connection) before the main loop could close the recording. Apart, it lives
 * until we are done with it, and PR_SET_PDEATHSIG still ends it with us. */
#include "commands.h"

#include "imaging/imaging.h"

#include <X11/Xlib.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

int cn_app_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int cn_app_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Callers that already point at --help do not get the hint twice. */
    size_t n = strlen(msg);
    const char *tail = " (see --help)";
    if (n >= strlen(tail) && strcmp(msg + n - strlen(tail), tail) == 0)
        msg[n - strlen(tail)] = 0;
    fprintf(stderr, "cryonav %s: %s\n", cmd, msg);
    if (!strstr(msg, "--help"))
        fprintf(stderr, "(see 'cryonav %s --help')\n", cmd);
    return 2;
}

void cn_app_log_opts_default(cn_app_log_opts *o)
{
    o->level = CN_LOG_INFO;
    o->path[0] = 0;
}

int cn_app_log_option(const char *cmd, int c, const char *arg, cn_app_log_opts *o)
{
    switch (c) {
    case 'q': o->level = CN_LOG_WARN; return 1;
    case 'v': o->level = CN_LOG_DEBUG; return 1;
    case CN_OPT_LOG: cn_strlcpy(o->path, arg, sizeof o->path); return 1;
    case CN_OPT_LOG_LEVEL:
        if (cn_log_level_parse(arg, &o->level) != CN_OK)
            return cn_app_usage_error(cmd, "--log-level must be debug, info, warn or error, not '%s'",
                                      arg);
        return 1;
    default: return 0;
    }
}

int cn_app_parse_size(const char *s, int min, int max, int *w, int *h)
{
    int a = 0, b = 0, n = 0;
    if (!s || sscanf(s, "%d%*[xX]%d%n", &a, &b, &n) != 2 || s[n] != 0 || a < min || a > max ||
        b < min || b > max)
        return CN_EINVAL;
    *w = a;
    *h = b;
    return CN_OK;
}

int cn_app_parse_long(const char *s, long min, long max, long *v)
{
    char *end;
    errno = 0;
    long x = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || x < min || x > max)
        return CN_EINVAL;
    *v = x;
    return CN_OK;
}

int cn_app_parse_double(const char *s, double min, double max, double *v)
{
    char *end;
    double x = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !(x >= min && x <= max)) /* also refuses NaN */
        return CN_EINVAL;
    *v = x;
    return CN_OK;
}

int cn_app_parse_spacing(const char *s, double min, double max, double out[2])
{
    if (!s)
        return CN_EINVAL;
    char *end;
    double sx = strtod(s, &end), sy = sx;
    if (end == s)
        return CN_EINVAL;
    if (*end == ',' || *end == 'x') {
        const char *p2 = end + 1;
        sy = strtod(p2, &end);
        if (end == p2)
            return CN_EINVAL;
    }
    if (*end || !(sx > min && sx < max) || !(sy > min && sy < max)) /* also refuses NaN */
        return CN_EINVAL;
    out[0] = sx;
    out[1] = sy;
    return CN_OK;
}

bool cn_app_has_suffix(const char *path, const char *const *suffixes)
{
    size_t n = strlen(path);
    for (const char *const *s = suffixes; *s; s++) {
        size_t k = strlen(*s);
        if (n > k && strcmp(path + n - k, *s) == 0)
            return true;
    }
    return false;
}

/* Opens $DISPLAY; the connection is handed to *hold when hold is given (an X
 * server started without -noreset, as xvfb-run starts one, resets when its last
 * client leaves and refuses connections meanwhile: closing this probe before
 * VTK connects failed the next window or plot at random). */
static int display_opens(void **hold)
{
    const char *d = getenv("DISPLAY");
    if (!d || !*d)
        return 0;
    Display *dpy = XOpenDisplay(NULL);
    if (!dpy)
        return 0;
    if (hold)
        *hold = dpy;
    else
        XCloseDisplay(dpy);
    return 1;
}

void cn_app_display_release(void *hold)
{
    if (hold)
        XCloseDisplay((Display *)hold);
}

static int find_in_path(const char *prog, char *out, size_t len)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, len, "%.*s/%s", (int)n, path, prog);
        if (access(out, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

int cn_app_ensure_display(bool allow_xvfb, void **hold, char *err, size_t err_len)
{
    if (hold)
        *hold = NULL;
    if (display_opens(hold))
        return CN_OK;
    const char *d = getenv("DISPLAY");
    if (!allow_xvfb) {
        snprintf(err, err_len, "no X display %s%s%s", d && *d ? "(DISPLAY=" : "(DISPLAY is not set",
                 d && *d ? d : "", ")");
        return CN_ENOENT;
    }
    char xvfb[512];
    if (!find_in_path("Xvfb", xvfb, sizeof xvfb)) {
        snprintf(err, err_len,
                 "no X display and no Xvfb to render offscreen (install it: apt-get install xvfb)");
        return CN_ENOENT;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, err_len, "cannot start Xvfb: pipe: %s", strerror(errno));
        return CN_EIO;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_len, "cannot start Xvfb: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return CN_EIO;
    }
    if (pid == 0) {
        setpgid(0, 0); /* not in the terminal's foreground group (see the top) */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        close(fds[0]);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        char fdarg[16];
        snprintf(fdarg, sizeof fdarg, "%d", fds[1]);
        execl(xvfb, "Xvfb", "-displayfd", fdarg, "-screen", "0", "1920x1080x24", "-nolisten", "tcp",
              "-noreset", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    setpgid(pid, pid); /* also from here: whichever runs first */
    /* Xvfb writes "<n>\n" once it accepts connections. */
    char buf[32] = {0};
    size_t got = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int64_t deadline = cn_clock_mono_ns() + 10000000000LL;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        int64_t left_ms = (deadline - cn_clock_mono_ns()) / 1000000;
        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
            break;
        ssize_t r = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int num = -1;
    if (!memchr(buf, '\n', got) || sscanf(buf, "%d", &num) != 1) {
        kill(pid, SIGTERM);
        snprintf(err, err_len, "Xvfb (%s) did not start within 10 s", xvfb);
        return CN_EIO;
    }
    char disp[32];
    snprintf(disp, sizeof disp, ":%d", num);
    setenv("DISPLAY", disp, 1);
    if (!display_opens(hold)) {
        kill(pid, SIGTERM);
        snprintf(err, err_len, "started Xvfb on %s but cannot connect to it", disp);
        return CN_EIO;
    }
    return CN_OK;
}

bool cn_app_is_sequence_file(const char *path)
{
    /* A MetaImage or NRRD header with per-frame fields (Seq_Frame0000_Timestamp,
     * ..._Transform): PLUS, Slicer and CryoNav keep time, poses and events there.
     * The header ends at ElementDataFile (MetaImage) or a blank line (NRRD); read
     * up to 16 MiB of it, as the sequence reader does. */
    struct stat st; /* a FIFO or a device is no sequence file, and is not waited on */
    FILE *fp = path && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
    if (!fp)
        return false;
    char line[4096];
    bool seq = false;
    long read = 0;
    while (!seq && read < (16L << 20) && fgets(line, sizeof line, fp)) {
        read += (long)strlen(line);
        if (strncmp(line, "Seq_Frame", 9) == 0)
            seq = true;
        else if (strncmp(line, "ElementDataFile", 15) == 0 || line[0] == '\n' ||
                 (line[0] == '\r' && line[1] == '\n'))
            break;
    }
    fclose(fp);
    return seq;
}

const char *cn_app_convert_hint(const char *path, char *buf, size_t len)
{
    int pages = 0;
    if (len)
        buf[0] = 0;
    if (cn_app_is_sequence_file(path))
        return buf; /* convert would keep only pixels: no hint to it */
    /* not an image convert reads, though the image library opens it (teaching audit T13:
     * an STL mesh and a bare .raw were offered `convert`, which refused them) */
    static const char *const meshes[] = {".stl", ".STL", ".obj", ".ply", ".vtp", ".vtk", NULL};
    static const char *const raws[] = {".raw", ".RAW", ".zraw", NULL};
    if (path && cn_app_has_suffix(path, meshes)) {
        snprintf(buf, len, "; it is a surface mesh, not an image");
        return buf;
    }
    if (path && cn_app_has_suffix(path, raws)) {
        snprintf(buf, len, "; it is raw pixels without a header: give its .mhd or .nhdr header "
                 "(beside it) instead");
        return buf;
    }
    if (path && cn_image_count_pages(path, &pages, NULL, 0) == CN_OK && pages >= 1)
        snprintf(buf, len, "; it is an image%s (%d frame%s): `cryonav convert %s OUT.igs.mha` "
                 "makes it a sequence file", pages > 1 ? " stack" : "", pages,
                 pages == 1 ? "" : "s", path);
    return buf;
}
