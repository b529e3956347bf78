/*
 * commands.h - the sub-commands of `cryonav`, one file each (cmd_<name>.c).
 *
 * Every command has the same shape: it parses its own arguments (and answers
 * --help), wires modules together and returns the process exit code. Exit codes:
 * 0 success, 1 runtime failure, 2 bad usage or bad input.
 * To add a command: write cmd_<name>.c and add one line to commands.def.
 */
#ifndef CN_APP_COMMANDS_H
#define CN_APP_COMMANDS_H

#define CN_CMD(name, summary) int cn_cmd_##name(int argc, char **argv);
#include "commands.def"
#undef CN_CMD

/* Shared helpers of the app (app_util.c). */
#include "core/core.h"

#include <stdio.h>

/* main.c: the top-level help, and running a command by name (argv[0] = name). */
void cn_app_usage(FILE *out);
int cn_app_dispatch(int argc, char **argv);


/* True when argv[i] is -h or --help. */
int cn_app_wants_help(int argc, char **argv);
/* ---- data and configuration (app_config.c) ---- */
/* The folder that holds config/ and shaders/, into buf: $CRYONAV_DATA_DIR, else
 * <exe>/../share/cryonav (an installed or unpacked package), else the source tree
 * when the executable is in this build tree, else the compiled-in prefix. */
const char *cn_app_data_dir(char *buf, size_t len);
/* Path of a file in the data dir (e.g. "config/session.json"), into buf. */
const char *cn_app_data_path(const char *rel, char *buf, size_t len);
/* $XDG_CONFIG_HOME/cryonav (or ~/.config/cryonav), "" when neither is known. */
const char *cn_app_user_config_dir(char *buf, size_t len);
/* The session configuration files in the order they apply (shipped defaults,
 * the user's session.json when present, explicit_path when given); returns the
 * count or a negative error. */
int cn_app_config_layers(const char *explicit_path, char paths[][1024], int max, char *err,
                         size_t err_len);
/* Loads and merges those layers (errors name file:line: key). Warns on log when
 * ./config/session.json exists but is not one of them. */
int cn_app_config_load(const char *explicit_path, cn_log *log, cn_json **out, char *err,
                       size_t err_len);
/* The viewer window size: --window (cli_w x cli_h when > 0), else the session's
 * "viewer": {"width", "height"}, else 1280 x 800. Errors name file:line: key. */
int cn_app_viewer_size(const cn_json *cfg, int cli_w, int cli_h, int *w, int *h, char *err,
                       size_t err_len);
/* Prints "cryonav <cmd>: <message>" and, once, "(see 'cryonav <cmd> --help')" to
 * stderr and returns 2 (usage error). */
int cn_app_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options every command with a log shares (app_util.c) ---- */
/* getopt_long codes of the long-only ones (above any command's own codes). */
enum { CN_OPT_LOG = 0x1000, CN_OPT_LOG_LEVEL };
/* Add to a command's struct option table (and "qv" to its short options). */
#define CN_APP_LOG_LONGOPTS                                                                    \
    {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},                          \
        {"log", required_argument, 0, CN_OPT_LOG},                                             \
        {"log-level", required_argument, 0, CN_OPT_LOG_LEVEL}
/* The matching --help lines. */
#define CN_APP_LOG_HELP                                                                        \
    "  -q, --quiet          warnings and errors only\n"                                        \
    "  -v, --verbose        debug messages too\n"                                              \
    "  --log FILE           append log lines to FILE instead of stderr\n"                      \
    "  --log-level L        debug | info | warn | error (default info)\n"
typedef struct {
    cn_log_level level;
    char path[512]; /* "" = stderr */
} cn_app_log_opts;
void cn_app_log_opts_default(cn_app_log_opts *o);
/* Handles c when it is one of the log options: returns 1 when handled, 0 when c is
 * something else, 2 after a usage error message (bad --log-level). */
int cn_app_log_option(const char *cmd, int c, const char *arg, cn_app_log_opts *o);

/* Parses "WxH" (e.g. 1280x800) with both sides in [min, max]. */
int cn_app_parse_size(const char *s, int min, int max, int *w, int *h);
/* A whole number / a number in [min, max], the whole string (for getopt_long
 * option values: "10x" or "" is a usage error, not 10 or 0 as atol would have it). */
int cn_app_parse_long(const char *s, long min, long max, long *v);
int cn_app_parse_double(const char *s, double min, double max, double *v);
/* A pixel spacing "S" (square pixels) or "SX,SY" (also "SXxSY"), each in
 * (min, max) mm: out[0] across, out[1] down. */
int cn_app_parse_spacing(const char *s, double min, double max, double out[2]);
/* When path is an image or a stack the image reader takes (not a sequence file): a hint
 * that `cryonav convert` makes it one, to append to the reader's error; else "". */
const char *cn_app_convert_hint(const char *path, char *buf, size_t len);
/* Whether path is a sequence file (a header with Seq_Frame... per-frame fields). */
bool cn_app_is_sequence_file(const char *path);
/* True when path ends with one of the suffixes (NULL-terminated list). */
bool cn_app_has_suffix(const char *path, const char *const *suffixes);
/* Makes sure an X display exists for VTK rendering: uses $DISPLAY when it opens;
 * otherwise, when allow_xvfb, starts a private Xvfb (killed at exit) and sets
 * DISPLAY. Returns CN_OK, or an error with a message (no display and no Xvfb).
 * With hold, *hold gets an open connection to keep until rendering is done
 * (release it with cn_app_display_release): an X server that resets when its
 * last client leaves would otherwise refuse VTK's connection now and then. */
int cn_app_ensure_display(bool allow_xvfb, void **hold, char *err, size_t err_len);
void cn_app_display_release(void *hold);

#endif
