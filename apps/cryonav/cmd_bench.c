/* cmd_bench.c - `cryonav bench [NAME] [options]`: dispatches to bench_<name>.c.
 * Benchmarks print their figures and end with one summary line, so docs/benchmarks.md
 * can quote the command and its output. */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define CN_BENCH(name, summary) int cn_bench_##name(int argc, char **argv);
#include "bench.def"
#undef CN_BENCH

typedef struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} bench;

static const bench benches[] = {
#define CN_BENCH(n, s) {#n, s, cn_bench_##n},
#include "bench.def"
#undef CN_BENCH
};

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: cryonav bench [NAME] [options]\n"
                 "Measures speed; each benchmark prints its figures and ends with one summary\n"
                 "line (docs/benchmarks.md quotes the command and that line).\n\n"
                 "benchmarks (default: pipeline):\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].summary);
    fprintf(out, "\noptions:\n"
                 "  -h, --help           this help; 'cryonav bench NAME --help' describes a\n"
                 "                       benchmark's own options\n"
                 "Without NAME every other option is the pipeline benchmark's\n"
                 "('cryonav bench --frames 100' = 'cryonav bench pipeline --frames 100').\n\n"
                 "outputs: stdout (the figures; last line: the benchmark's summary, see its\n"
                 "--help); files only where a benchmark's help says so (seqio's test files,\n"
                 "the viewer's snapshot).\n");
}

int cn_cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
            if (strcmp(argv[1], benches[i].name) == 0)
                return benches[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "cryonav bench: unknown benchmark '%s'\n\n", argv[1]);
        bench_usage(stderr);
        return 2;
    }
    /* `bench --help` is bench's own; any other option belongs to the default
     * benchmark (`cryonav bench --frames 100` = `cryonav bench pipeline --frames 100`),
     * so getopt_long looks at the first word only. */
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    if (argc >= 2 && getopt_long(2, argv, "h", opts, NULL) == 'h') {
        bench_usage(stdout);
        return 0;
    }
    return cn_bench_pipeline(argc, argv);
}
