/* cmd_help.c - `cryonav help [command...]` and `cryonav help --man`.
 *
 * The manual page is generated from the program itself: every command's (and
 * every benchmark's and sub-mode's) --help text is run and set verbatim under its
 * own heading, around a few hand-written sections (configuration files,
 * environment, exit status). The build writes it (apps/cryonav/CMakeLists.txt), so
 * the man page cannot drift from --help: an option or output added to a command's
 * help is in the next man page. Sub-modes are found the way a reader finds them:
 * usage lines of the form "cryonav <command> <word> ..." (eval nerve, thermal
 * validate) and the benchmark list. Each help is captured by running this very
 * executable (/proc/self/exe) in a child, so no command's state leaks into
 * another's. */
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const command_names[] = {
#define CN_CMD(n, s) #n,
#include "commands.def"
#undef CN_CMD
    NULL};

static const char *const bench_names[] = {
#define CN_BENCH(n, s) #n,
#include "bench.def"
#undef CN_BENCH
    NULL};

static void help_usage(FILE *out)
{
    fprintf(out, "usage: cryonav help [COMMAND [SUBCOMMAND]]\n"
                 "       cryonav help --man\n"
                 "Without a command: the list of commands. With one: its help, as\n"
                 "'cryonav COMMAND [SUBCOMMAND] --help' prints it.\n\n"
                 "options:\n"
                 "  --man                the manual page (roff, man(7)) on stdout, generated from\n"
                 "                       every command's --help; 'man -l FILE' shows it\n"
                 "  -h, --help           this help\n\n"
                 "outputs: stdout only.\n");
}

/* Runs this executable with args and returns what it wrote on stdout (malloc'ed). */
static char *capture(const char *const *args)
{
    int fds[2];
    if (pipe(fds) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv("/proc/self/exe", (char *const *)args);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    for (ssize_t r; buf;) {
        if (len + 1024 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        r = read(fds[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (buf)
        buf[len] = 0;
    if (buf && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0)) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* roff: a line as literal text (no requests, no escapes, minus signs as such). */
static void roff_line(FILE *out, const char *s, size_t n)
{
    if (n > 0 && (s[0] == '.' || s[0] == '\''))
        fputs("\\&", out);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\')
            fputs("\\e", out);
        else if (c == '-')
            fputs("\\-", out);
        else
            fputc(c, out);
    }
    fputc('\n', out);
}

static void roff_text(FILE *out, const char *text)
{
    fputs(".RS 2\n.nf\n", out);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        roff_line(out, p, n);
        p += n + (p[n] == '\n');
    }
    fputs(".fi\n.RE\n", out);
}

/* One heading and the help text of `cryonav <args...> --help`. */
static int man_section(FILE *out, const char *const *words, int n_words, char **text_out)
{
    const char *args[8] = {"cryonav"};
    char heading[256] = "cryonav";
    int k = 1;
    for (int i = 0; i < n_words && k < 6; i++, k++) {
        args[k] = words[i];
        size_t used = strlen(heading);
        snprintf(heading + used, sizeof heading - used, " %s", words[i]);
    }
    args[k++] = "--help";
    args[k] = NULL;
    char *text = capture(args);
    if (!text) {
        fprintf(stderr, "cryonav help: '%s --help' failed\n", heading);
        return CN_EIO;
    }
    fputs(".SS \"", out);
    roff_line(out, heading, strlen(heading)); /* ends the .SS line */
    roff_text(out, text);
    if (text_out)
        *text_out = text;
    else
        free(text);
    return CN_OK;
}

/* Sub-modes named by usage lines "cryonav <cmd> <word>" (word: lower-case). */
static int find_submodes(const char *text, const char *cmd, char subs[][32], int max)
{
    int n = 0;
    char pat[64];
    snprintf(pat, sizeof pat, "cryonav %s ", cmd);
    for (const char *p = text; (p = strstr(p, pat)) != NULL; p += strlen(pat)) {
        const char *w = p + strlen(pat);
        size_t len = 0;
        while (islower((unsigned char)w[len]) || isdigit((unsigned char)w[len]) || w[len] == '-')
            len++;
        if (len == 0 || len >= 32 || w[0] == '-' || !(w[len] == ' ' || w[len] == '\n' || w[len] == 0))
            continue;
        bool seen = false;
        for (int i = 0; i < n; i++)
            seen |= strncmp(subs[i], w, len) == 0 && subs[i][len] == 0;
        if (!seen && n < max) {
            memcpy(subs[n], w, len);
            subs[n][len] = 0;
            n++;
        }
    }
    return n;
}

static const char man_head[] =
    ".TH CRYONAV 1 \"\" \"cryonav " CN_VERSION "\" \"User Commands\"\n"
    ".nh\n.ad l\n"
    ".SH NAME\n"
    "cryonav \\- navigation for ultrasound\\-guided cryoneurolysis\n"
    ".SH SYNOPSIS\n"
    ".B cryonav\n.I command\n[\\fIoptions\\fR]\n.br\n"
    ".B cryonav help\n[\\fIcommand\\fR]\n.br\n"
    ".B cryonav\n\\-\\-version | \\-\\-help\n"
    ".SH DESCRIPTION\n"
    "CryoNav shows where a cryoprobe is, where the nerve is and where the ice and the\n"
    "lethal isotherms are, live, from an ultrasound probe (or its built\\-in simulator)\n"
    "and a tracker. It records sessions as PLUS sequence files, streams to 3D Slicer\n"
    "over OpenIGTLink and reports a procedure afterwards.\n"
    "Research software: not a medical device.\n"
    ".PP\n"
    "Every command parses its own options; the sections below are each command's\n"
    "\\fB\\-\\-help\\fR, as the program prints it. Nothing is written unless an option\n"
    "asks for it, and every file written is named on standard output or in the log.\n"
    "Log lines read \\fBcryonav: 12:03:04.512 warn: module: message\\fR (local time).\n"
    ".SH COMMANDS\n";

static const char man_tail[] =
    ".SH FILES\n"
    ".TP\n.I /usr/share/cryonav/config/session.json\n"
    "The shipped defaults of a session: source, simulator scene, viewer window,\n"
    "OpenIGTLink server, recording, analysis, thermal model and guidance.\n"
    ".TP\n.I ~/.config/cryonav/session.json\n"
    "The user's settings, patching the defaults (JSON Merge Patch: objects merge key\n"
    "by key, other values replace, null removes a key); \\fB\\-\\-config\\fR \\fIFILE\\fR\n"
    "patches both. A config/session.json in the working folder is not read.\n"
    "\\fBcryonav config \\-\\-print\\fR shows every effective value and the file and line\n"
    "it came from. Errors name \\fIfile\\fR:\\fIline\\fR: \\fIkey\\fR.\n"
    ".TP\n.I /usr/share/cryonav/config/\n"
    "Catalogues: cryoprobes.json, protocols.json, tissues.json (the thermal model),\n"
    "probes/up20l.json (the Healson UP20L).\n"
    ".TP\n.I /usr/share/cryonav/shaders/us_plane.frag\n"
    "The display mapping of the ultrasound image (brightness, contrast, gamma), GLSL\n"
    "read at start\\-up.\n"
    ".TP\n.I /lib/udev/rules.d/70\\-cryonav\\-up20l.rules\n"
    "Lets the logged\\-in user open a UP20L probe (USB 04b4:8613); \\fBcryonav probes\\fR\n"
    "says whether a probe is usable.\n"
    ".TP\n.I ~/.config/cryonav/up20l\\-tables/\n"
    "The probe owner's calibration tables (not distributed).\n"
    ".SH ENVIRONMENT\n"
    ".TP\n.B XDG_CONFIG_HOME\nWhere the user's cryonav/ folder is (default ~/.config).\n"
    ".TP\n.B CRYONAV_DATA_DIR\nA folder holding config/ and shaders/ to use instead of the\n"
    "installed ones.\n"
    ".TP\n.B CRYONAV_UP20L_TABLES\nThe UP20L tables folder.\n"
    ".TP\n.B DISPLAY\nThe X display of the viewer. Without one, cryonav renders into a\n"
    "private Xvfb when it has something to draw (snapshots, plots).\n"
    ".SH EXIT STATUS\n"
    "0 success; 1 a runtime failure (device error, no window with \\-\\-no\\-fallback);\n"
    "2 bad usage or bad input (unknown option, unreadable or invalid configuration).\n"
    ".SH SEE ALSO\n"
    "The user guide, /usr/share/doc/cryonav/user\\-guide.md.gz;\n"
    ".BR udev (7),\n.BR Xvfb (1).\n";

static int write_man(FILE *out)
{
    fputs(man_head, out);
    for (int i = 0; command_names[i]; i++) {
        const char *cmd = command_names[i];
        char *text = NULL;
        if (man_section(out, &cmd, 1, &text) != CN_OK)
            return 1;
        char subs[16][32];
        int n = 0;
        if (strcmp(cmd, "bench") == 0)
            for (; bench_names[n] && n < 16; n++)
                cn_strlcpy(subs[n], bench_names[n], sizeof subs[n]);
        else
            n = find_submodes(text, cmd, subs, 16);
        for (int k = 0; k < n; k++) {
            const char *words[2] = {cmd, subs[k]};
            const char *args[] = {"cryonav", cmd, subs[k], "--help", NULL};
            char *sub = capture(args);
            bool same = sub && strcmp(sub, text) == 0; /* one help for all modes */
            free(sub);
            if (!same && man_section(out, words, 2, NULL) != CN_OK) {
                free(text);
                return 1;
            }
        }
        free(text);
    }
    fputs(man_tail, out);
    return fflush(out) == 0 ? 0 : 1;
}

int cn_cmd_help(int argc, char **argv)
{
    static const struct option opts[] = {{"man", no_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    bool man = false;
    /* only the leading options are help's own: `cryonav help run --frames` asks
     * for run's help (no "+" in the option string: it would stick, see main.c) */
    int lead = 1;
    while (lead < argc && argv[lead][0] == '-')
        lead++;
    while ((c = getopt_long(lead, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help_usage(stdout); return 0;
        case 'm': man = true; break;
        default: return cn_app_usage_error("help", "unknown option '%s'", argv[optind - 1]);
        }
    }
    optind = lead;
    if (man) {
        if (optind < argc)
            return cn_app_usage_error("help", "--man takes no command");
        return write_man(stdout);
    }
    if (optind >= argc) {
        cn_app_usage(stdout);
        return 0;
    }
    if (strcmp(argv[optind], "help") == 0) {
        help_usage(stdout);
        return 0;
    }
    /* `cryonav help bench viewer` = `cryonav bench viewer --help` */
    int n = argc - optind;
    if (n > 4)
        return cn_app_usage_error("help", "too many words: 'cryonav help COMMAND [SUBCOMMAND]'");
    char *args[6];
    for (int i = 0; i < n; i++)
        args[i] = argv[optind + i];
    args[n] = (char *)"--help";
    args[n + 1] = NULL;
    return cn_app_dispatch(n + 1, args);
}
