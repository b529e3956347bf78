/* main.c - `cryonav <command> [options]`: dispatches to one sub-command.
 * The app is thin on purpose: commands parse arguments and wire modules; all
 * logic lives in modules/ and devices/ where tests can reach it. `cryonav` alone
 * prints the help (it used to run a long headless session into the current
 * folder: a program should never do real work, or write files, unasked). */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} command;

static const command commands[] = {
#define CN_CMD(n, s) {#n, s, cn_cmd_##n},
#include "commands.def"
#undef CN_CMD
};

void cn_app_usage(FILE *out)
{
    fprintf(out, "usage: cryonav <command> [options]\n"
                 "       cryonav help [command]\n"
                 "       cryonav --version | --help\n\n"
                 "CryoNav: navigation for ultrasound-guided cryoneurolysis.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n"
                 "  -h, --help     this help\n"
                 "  -V, --version  print the version and exit\n\n"
                 "'cryonav help <command>' (or 'cryonav <command> --help') describes a command;\n"
                 "'man cryonav' has them all. Configuration: the shipped defaults, then\n"
                 "~/.config/cryonav/session.json, then --config FILE ('cryonav config --print').\n"
                 "Exit status: 0 success, 1 runtime failure, 2 bad usage or input.\n");
}

int cn_app_dispatch(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[0], commands[i].name) == 0)
            return commands[i].fn(argc, argv);
    fprintf(stderr, "cryonav: unknown command '%s'\n\n", argv[0]);
    cn_app_usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    opterr = 0;
    int c;
    /* Options end at the command; what follows is the command's own. getopt_long
     * sees only the leading options: a "+" in its option string would stay in
     * glibc's getopt state and stop every command's own parsing at its first
     * operand (`report FILE --out DIR`). */
    int lead = 1;
    while (lead < argc && argv[lead][0] == '-' && strcmp(argv[lead], "--") != 0)
        lead++;
    while ((c = getopt_long(lead, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h': cn_app_usage(stdout); return 0;
        case 'V': printf("cryonav " CN_VERSION "\n"); return 0;
        default:
            fprintf(stderr, "cryonav: unknown option '%s'\n\n", argv[optind - 1]);
            cn_app_usage(stderr);
            return 2;
        }
    }
    int first = lead < argc && strcmp(argv[lead], "--") == 0 ? lead + 1 : lead;
    if (first >= argc) {
        cn_app_usage(stdout);
        return 2; /* no command: a usage error, with the help to read */
    }
    return cn_app_dispatch(argc - first, argv + first);
}
