/* main.c - `cryonav <command> [options]`: dispatches to one sub-command.
 * The app is thin on purpose: commands parse arguments and wire modules; all
 * logic lives in modules/ and devices/ where tests can reach it. */
#include "commands.h"

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

static void usage(FILE *out)
{
    fprintf(out, "usage: cryonav <command> [options]\n\n"
                 "CryoNav: navigation for ultrasound-guided cryoneurolysis.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'cryonav <command> --help' describes a command's options.\n"
                 "'cryonav' with no command is 'cryonav run'.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
            printf("cryonav " CN_VERSION "\n");
            return 0;
        }
        /* No command: the navigator, options passed through. */
        return cn_cmd_run(argc, argv);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cryonav: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
