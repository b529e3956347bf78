/* app_config.c - where cryonav finds its data and its configuration.
 *
 * Data (config/, shaders/) is found relative to the executable first
 * (<exe>/../share/cryonav, so an installed or unpacked package uses its own files
 * wherever it lives), then the source tree when the executable sits in this build
 * tree, then the compiled-in install prefix. $CRYONAV_DATA_DIR overrides all.
 *
 * The session configuration is layered the usual Unix way, each file patching the
 * one below (JSON Merge Patch, modules/core): the shipped defaults
 * <data>/config/session.json, then the user's $XDG_CONFIG_HOME/cryonav/session.json
 * (~/.config/cryonav/ when XDG_CONFIG_HOME is unset), then --config FILE. A
 * config/session.json in the working directory is not a layer (a program should
 * not change behaviour with the folder it is started in); when one exists and is
 * not read, the log says so instead of ignoring it silently. */
#include "commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The folder of the running executable (no trailing slash), "" when unknown. */
static void exe_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    buf[0] = 0;
    if (n <= 0)
        return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0;
    cn_strlcpy(buf, exe, len);
}

const char *cn_app_data_dir(char *buf, size_t len)
{
    const char *env = getenv("CRYONAV_DATA_DIR");
    if (env && *env) {
        cn_strlcpy(buf, env, len);
        return buf;
    }
    char dir[PATH_MAX], probe[PATH_MAX + 64];
    exe_dir(dir, sizeof dir);
    if (dir[0]) {
        /* installed or unpacked: <prefix>/bin/cryonav -> <prefix>/share/cryonav */
        snprintf(probe, sizeof probe, "%s/../share/cryonav/config/session.json", dir);
        if (is_file(probe)) {
            char real[PATH_MAX];
            snprintf(probe, sizeof probe, "%s/../share/cryonav", dir);
            cn_strlcpy(buf, realpath(probe, real) ? real : probe, len);
            return buf;
        }
        /* run from this build tree: the source tree's files */
        size_t nb = strlen(CN_BUILD_DIR);
        if (strncmp(dir, CN_BUILD_DIR, nb) == 0 && (dir[nb] == '/' || dir[nb] == 0) &&
            is_file(CN_SOURCE_DATA_DIR "/config/session.json")) {
            cn_strlcpy(buf, CN_SOURCE_DATA_DIR, len);
            return buf;
        }
    }
    cn_strlcpy(buf, CN_INSTALL_DATA_DIR, len);
    return buf;
}

const char *cn_app_data_path(const char *rel, char *buf, size_t len)
{
    char dir[PATH_MAX];
    snprintf(buf, len, "%s/%s", cn_app_data_dir(dir, sizeof dir), rel);
    return buf;
}

const char *cn_app_user_config_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') /* the XDG spec: a relative value is ignored */
        snprintf(buf, len, "%s/cryonav", xdg);
    else if (home && home[0] == '/')
        snprintf(buf, len, "%s/.config/cryonav", home);
    else
        buf[0] = 0;
    return buf;
}

int cn_app_config_layers(const char *explicit_path, char paths[][1024], int max, char *err,
                         size_t err_len)
{
    int n = 0;
    if (max < 3) {
        cn_errf(err, err_len, "config", "internal: too few layer slots");
        return CN_EINVAL;
    }
    cn_app_data_path("config/session.json", paths[n++], 1024);
    struct stat shipped;
    if (stat(paths[0], &shipped) != 0 && errno == ENOENT) {
        /* a binary copied without its data (live audit L4): say where it looked */
        char exe[PATH_MAX];
        exe_dir(exe, sizeof exe);
        cn_errf(err, err_len, paths[0],
                "the shipped configuration is missing: CryoNav's data (config/, shaders/) is "
                "looked for in $CRYONAV_DATA_DIR, then %s/../share/cryonav, then %s; install it "
                "with the program (cmake --install) or set CRYONAV_DATA_DIR to the folder that "
                "holds config/",
                exe[0] ? exe : "<the program's folder>", CN_INSTALL_DATA_DIR);
        return CN_ENOENT;
    }
    char user[900];
    if (cn_app_user_config_dir(user, sizeof user)[0]) {
        snprintf(paths[n], 1024, "%s/session.json", user);
        struct stat st;
        if (stat(paths[n], &st) == 0)
            n++; /* a present but unreadable file is reported by the load */
        else if (errno != ENOENT) {
            cn_errf(err, err_len, paths[n], "cannot read configuration file: %s", strerror(errno));
            return CN_EIO;
        }
    }
    if (explicit_path && *explicit_path)
        cn_strlcpy(paths[n++], explicit_path, 1024);
    return n;
}

int cn_app_config_load(const char *explicit_path, cn_log *log, cn_json **out, char *err,
                       size_t err_len)
{
    *out = NULL;
    char paths[3][1024];
    int n = cn_app_config_layers(explicit_path, paths, 3, err, err_len);
    if (n < 0)
        return n;
    cn_json *doc = NULL;
    for (int i = 0; i < n; i++) {
        cn_json *layer = cn_json_load(paths[i], err, err_len);
        cn_log_debug(log, "config", "layer %d: %s%s", i + 1, paths[i], layer ? "" : " (failed)");
        if (!layer) {
            cn_json_free(doc);
            return CN_EINVAL;
        }
        if (!doc) {
            doc = layer;
            continue;
        }
        int rc = cn_json_merge(doc, layer, err, err_len);
        cn_json_free(layer);
        if (rc != CN_OK) {
            cn_json_free(doc);
            return rc;
        }
    }
    /* Not a layer, but not ignored silently either (see the top of this file). */
    const char *cwd_cfg = "config/session.json";
    bool used = false;
    for (int i = 0; i < n; i++)
        used |= same_file(cwd_cfg, paths[i]);
    if (!used && is_file(cwd_cfg))
        cn_log_warn(log, "config",
                    "./%s is not read (the session comes from %s%s%s); pass --config %s to use it",
                    cwd_cfg, paths[0], n > 1 ? " + " : "", n > 1 ? paths[n - 1] : "", cwd_cfg);
    *out = doc;
    return CN_OK;
}

/* Keys of the session's "viewer" object (extend the list when a key is added). */
static const char *const viewer_keys[] = {"width", "height", NULL};

int cn_app_viewer_size(const cn_json *cfg, int cli_w, int cli_h, int *w, int *h, char *err,
                       size_t err_len)
{
    *w = 1280;
    *h = 800;
    if (cfg) {
        if (cn_json_check_keys(cfg, "viewer", viewer_keys, err, err_len) == CN_EINVAL)
            return CN_EINVAL;
        long v;
        int rc = cn_json_get_int(cfg, "viewer.width", 64, 8192, &v, err, err_len);
        if (rc == CN_EINVAL)
            return rc;
        if (rc == CN_OK)
            *w = (int)v;
        rc = cn_json_get_int(cfg, "viewer.height", 64, 8192, &v, err, err_len);
        if (rc == CN_EINVAL)
            return rc;
        if (rc == CN_OK)
            *h = (int)v;
    }
    if (cli_w > 0 && cli_h > 0) {
        *w = cli_w;
        *h = cli_h;
    }
    return CN_OK;
}
