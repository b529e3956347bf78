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

/* True when argv[i] is -h or --help. */
int cn_app_wants_help(int argc, char **argv);
/* The folder that holds config/ and shaders/: the source tree when run from a
 * build tree, else the installed share/cryonav. */
const char *cn_app_data_dir(void);
/* Path of a file in the data dir (e.g. "config/session.json"), into buf. */
const char *cn_app_data_path(const char *rel, char *buf, size_t len);
/* Prints "cryonav <cmd>: <message>" to stderr and returns 2 (usage error). */
int cn_app_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes sure an X display exists for VTK rendering: uses $DISPLAY when it opens;
 * otherwise, when allow_xvfb, starts a private Xvfb (killed at exit) and sets
 * DISPLAY. Returns CN_OK, or an error with a message (no display and no Xvfb).
 * With hold, *hold gets an open connection to keep until rendering is done
 * (release it with cn_app_display_release): an X server that resets when its
 * last client leaves would otherwise refuse VTK's connection now and then. */
int cn_app_ensure_display(bool allow_xvfb, void **hold, char *err, size_t err_len);
void cn_app_display_release(void *hold);

#endif
