/* cmd_recover.c - `cryonav recover FILE [--out PATH]`: rebuilds FILE from
 * FILE.part and FILE.journal left by a recording that was killed (or whose close
 * found no room to assemble), keeping every committed frame (seqio's assembly,
 * the same code a normal close runs). --out writes the result elsewhere, e.g. to
 * another disk when FILE's is full. */
#include "commands.h"

#include "seqio/seqio.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cn_cmd_recover(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: cryonav recover FILE [--out PATH]\n"
                   "Rebuilds the sequence file FILE from FILE.part + FILE.journal left by an\n"
                   "interrupted recording (crash, kill, power cut of the process, or a disk too\n"
                   "full to assemble it). Every frame whose pixels and fields were completely\n"
                   "written is kept; the count of recovered and incomplete frames is printed.\n"
                   "FILE.part and FILE.journal are removed once it is complete.\n"
                   "Without FILE.part, a FILE cut short (a copy that did not finish) has its\n"
                   "whole frames, with all their fields, salvaged into PATH (default\n"
                   "FILE-salvaged.igs.mha); FILE is left as it is.\n\n"
                   "options:\n"
                   "  -o, --out PATH       write the rebuilt file to PATH instead of FILE (e.g.\n"
                   "                       another disk when FILE's is full; default FILE)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: FILE (or PATH with --out); FILE.part and FILE.journal removed; a\n"
                   "progress bar on stderr when it is a terminal. Last line on stdout:\n"
                   "recovered <n> frames into <path> (<k> incomplete frames dropped)\n");
            return 0;
        case 'o': out = optarg; break;
        case ':': return cn_app_usage_error("recover", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("recover", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cn_app_usage_error("recover", "needs exactly one FILE (see --help)");
    const char *file = argv[optind];
    int n = 0, dropped = 0;
    char err[1400];
    /* No journal beside it, the file itself cut short (a copy that did not finish):
     * its whole frames are salvaged into another file (seq audit D12). */
    char part[4200];
    snprintf(part, sizeof part, "%s.part", file);
    if (access(part, F_OK) != 0 && access(file, F_OK) == 0) {
        char dflt[4200];
        if (!out) {
            size_t l = strlen(file);
            const char *ext = l > 8 && strcmp(file + l - 8, ".igs.mha") == 0   ? ".igs.mha"
                              : l > 8 && strcmp(file + l - 8, ".seq.mha") == 0 ? ".seq.mha"
                              : l > 4 && strcmp(file + l - 4, ".mha") == 0     ? ".mha"
                                                                               : "";
            snprintf(dflt, sizeof dflt, "%.*s-salvaged%s", (int)(l - strlen(ext)), file,
                     ext[0] ? ext : ".igs.mha");
            out = dflt;
        }
        int claimed = 0;
        int rc = cn_seq_salvage(file, out, &n, &claimed, err, sizeof err);
        if (rc == CN_EINVAL) { /* whole, and no journal: nothing to do */
            fprintf(stderr, "cryonav recover: %s: no recording to recover (no %s.part and .journal "
                    "beside it) and nothing to salvage: %s\n", file, file, err);
            return 2;
        }
        if (rc != CN_OK) {
            fprintf(stderr, "cryonav recover: %s\n", err);
            return rc == CN_EIO || rc == CN_ENOMEM ? 1 : 2;
        }
        printf("salvaged %d of %d frames into %s (the file was cut short; %s is unchanged)\n", n,
               claimed, out, file);
        return 0;
    }
    cn_seq_recover_opts ro = {.out_path = out,
                              .progress = cn_progress_new(stderr, "recover", "MB")};
    int rc = cn_seq_recover(file, &ro, &n, &dropped, err, sizeof err);
    cn_progress_done(ro.progress);
    if (rc != CN_OK) {
        fprintf(stderr, "cryonav recover: %s\n", err);
        return rc == CN_ENOENT || rc == CN_EPARSE || rc == CN_EINVAL ? 2 : 1;
    }
    printf("recovered %d frames into %s (%d incomplete frame%s dropped)\n", n, out ? out : file,
           dropped, dropped == 1 ? "" : "s");
    return 0;
}
