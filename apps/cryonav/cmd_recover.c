/* cmd_recover.c - `cryonav recover FILE`: rebuilds FILE from FILE.part and
 * FILE.journal left by a recording that was killed, keeping every committed frame
 * (seqio's assembly, the same code a normal close runs). */
#include "commands.h"

#include "seqio/seqio.h"

#include <stdio.h>

int cn_cmd_recover(int argc, char **argv)
{
    if (cn_app_wants_help(argc, argv)) {
        printf("usage: cryonav recover FILE\n"
               "Rebuilds the sequence file FILE from FILE.part + FILE.journal left by an\n"
               "interrupted recording (crash, kill, power cut of the process). Every frame\n"
               "whose pixels and fields were completely written is kept; the count of\n"
               "recovered and incomplete frames is printed.\n");
        return 0;
    }
    if (argc != 2)
        return cn_app_usage_error("recover", "needs exactly one FILE (see --help)");
    int n = 0, dropped = 0;
    char err[1024];
    int rc = cn_seq_recover(argv[1], &n, &dropped, err, sizeof err);
    if (rc != CN_OK) {
        fprintf(stderr, "cryonav recover: %s\n", err);
        return rc == CN_ENOENT || rc == CN_EPARSE ? 2 : 1;
    }
    printf("recovered %d frames into %s (%d incomplete frame%s dropped)\n", n, argv[1], dropped,
           dropped == 1 ? "" : "s");
    return 0;
}
