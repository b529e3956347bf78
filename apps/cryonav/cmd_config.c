/* cmd_config.c - `cryonav config`: the session configuration as cryonav sees it.
 *
 * The configuration is layered (app_config.c): the shipped defaults, the user's
 * ~/.config/cryonav/session.json, then --config FILE, each patching the one
 * below. With three files in play "which value is used, and why" must be one
 * command away: --print lists every effective value with the file and line it
 * came from; --paths lists the files read, in order. Secrets (every "token"
 * value: the shared proctor token, the accounts' tokens) print as their length
 * only, so the output can be pasted into a bug report. */
#include "commands.h"
#include "session.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav config [--print | --paths] [--config FILE]\n"
        "Shows the effective session configuration. The layers, each patching the one\n"
        "below (JSON Merge Patch: objects merge key by key, other values replace, null\n"
        "removes a key):\n"
        "  1. the shipped defaults, <prefix>/share/cryonav/config/session.json\n"
        "  2. $XDG_CONFIG_HOME/cryonav/session.json (~/.config/cryonav/session.json)\n"
        "  3. --config FILE\n"
        "A config/session.json in the working folder is not read.\n\n"
        "options:\n"
        "  --print              every effective value as 'key = value  # file:line' (default;\n"
        "                       tokens show as their length only)\n"
        "  --paths              the configuration files read, in the order they apply\n"
        "  --config FILE        a session file on top, as 'cryonav run --config FILE'\n"
        "  -h, --help           this help\n\n"
        "outputs: stdout only.\n");
}

/* value (compact JSON) with every string under a "token" key replaced by its
 * length: the leaf itself when path ends in "token", else any "token":"..."
 * member inside it (a list of accounts). */
static void redact(const char *path, const char *value, char *out, size_t cap)
{
    size_t pl = strlen(path), o = 0;
    if ((pl == 5 || (pl > 5 && path[pl - 6] == '.')) && strcmp(path + pl - 5, "token") == 0 &&
        value[0] == '"') {
        snprintf(out, cap, "(secret, %zu characters)", strlen(value) - 2);
        return;
    }
    const char *key = "\"token\":\"";
    const size_t kl = strlen(key);
    for (const char *s = value; *s && o + 1 < cap;) {
        if (strncmp(s, key, kl) == 0) {
            const char *e = s + kl;
            size_t n = 0;
            while (*e && *e != '"') { /* jansson escapes quotes: skip \x pairs */
                if (*e == '\\' && e[1])
                    e++;
                e++;
                n++;
            }
            o += (size_t)snprintf(out + o, cap - o, "\"token\":\"(secret, %zu characters)\"", n);
            if (o >= cap) {
                o = cap - 1;
                break;
            }
            s = *e ? e + 1 : e;
            continue;
        }
        out[o++] = *s++;
    }
    out[o < cap ? o : cap - 1] = 0;
}

static void print_leaf(void *ctx, const char *path, const char *value, const char *label,
                       int line)
{
    (void)ctx;
    char shown[1200], lhs[1400];
    redact(path, value, shown, sizeof shown);
    snprintf(lhs, sizeof lhs, "%s = %s", path, shown);
    if (line > 0)
        printf("%-56s # %s:%d\n", lhs, label, line);
    else
        printf("%-56s # %s\n", lhs, label);
}

int cn_cmd_config(int argc, char **argv)
{
    enum { O_PRINT = 256, O_PATHS, O_CONFIG };
    static const struct option opts[] = {{"print", no_argument, 0, O_PRINT},
                                         {"paths", no_argument, 0, O_PATHS},
                                         {"config", required_argument, 0, O_CONFIG},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *explicit_path = NULL;
    bool paths_only = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case O_PRINT: paths_only = false; break;
        case O_PATHS: paths_only = true; break;
        case O_CONFIG: explicit_path = optarg; break;
        case ':': return cn_app_usage_error("config", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("config", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("config", "unexpected argument '%s'", argv[optind]);
    char err[1024];
    if (paths_only) {
        char paths[3][1024];
        int n = cn_app_config_layers(explicit_path, paths, 3, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "cryonav config: %s\n", err);
            return 2;
        }
        for (int i = 0; i < n; i++)
            printf("%s\n", paths[i]);
        return 0;
    }
    cn_log *log = cn_log_new(stderr, CN_LOG_INFO);
    cn_json *doc = NULL;
    int rc = cn_app_config_load(explicit_path, log, &doc, err, sizeof err);
    cn_log_free(log);
    if (rc != CN_OK) {
        fprintf(stderr, "cryonav config: %s\n", err);
        return 2;
    }
    printf("# layers (bottom first):");
    for (int i = 0; i < cn_json_layers(doc); i++)
        printf(" %s%s", i ? "< " : "", cn_json_layer_label(doc, i));
    printf("\n");
    rc = cn_json_leaves_origin(doc, print_leaf, NULL);
    if (rc != CN_OK) {
        cn_json_free(doc);
        if (rc == CN_ERANGE) /* before, "value out of range", naming nothing (audit I9) */
            fprintf(stderr, "cryonav config: cannot list the configuration: a key path is longer "
                    "than 1023 characters (objects nested too deep, or a key too long) in %s\n",
                    cn_json_layer_label(doc, cn_json_layers(doc) - 1));
        else
            fprintf(stderr, "cryonav config: cannot list the configuration: %s\n",
                    cn_strerror(rc));
        return 1;
    }
    /* every value read as `run` reads it: a typo or a value out of range is said here,
     * not at the table (before, {"usb": {"bogus": 1}} printed as a value, status 0) */
    rc = cn_session_config_check(doc, err, sizeof err);
    cn_json_free(doc);
    if (rc != CN_OK) {
        printf("# check: refused (see stderr)\n");
        fprintf(stderr, "cryonav config: `cryonav run` would refuse this configuration: %s\n",
                err);
        return 2;
    }
    printf("# check: every value is one `cryonav run` takes\n");
    return 0;
}
