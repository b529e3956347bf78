/* cmd_recover.c - `cryonav recover FILE [--out PATH]`: rebuilds FILE from
 * FILE.part and FILE.journal left by a recording that was killed (or whose close
 * found no room to assemble), keeping every committed frame (seqio's assembly,
 * the same code a normal close runs). --out writes the result elsewhere, e.g. to
 * another disk when FILE's is full. */
#include "commands.h"

#include "seqio/seqio.h"

#include <getopt.h>
#include <stdio.h>

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
                   "--out PATH writes the file there instead (another disk when FILE's is full);\n"
                   "FILE.part and FILE.journal are removed once it is complete.\n");
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
