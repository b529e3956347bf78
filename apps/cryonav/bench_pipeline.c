/* bench_pipeline.c - `cryonav bench pipeline`: the whole session pipeline (the
 * same wiring as `cryonav run`: simulator -> analysis stages -> sinks) with the
 * simulator rendering 640x480 frames as fast as it can and the main thread taking
 * every result as the viewer would (without drawing). Latency is acquisition ->
 * taken by the consumer; with latest-wins, frames the analysis cannot keep up
 * with are skipped, never queued, so latency stays bounded while fps shows the
 * throughput. */
#include "commands.h"
#include "session.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cn_bench_pipeline(int argc, char **argv)
{
    long frames = 600;
    cn_run_opts ro;
    cn_run_opts_defaults(&ro);
    ro.realtime = false;
    ro.no_serve = true;
    ro.log_level = CN_LOG_WARN;
    ro.time_scale = 5; /* cover approach and freeze in a few hundred frames */
    static const struct option opts[] = {{"frames", required_argument, 0, 'n'},
                                         {"config", required_argument, 0, 'c'},
                                         {"serve", no_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            frames = strtol(optarg, &end, 10);
            if (*end || frames < 10 || frames > 10000000)
                return cn_app_usage_error("bench", "--frames needs a whole number >= 10, not '%s'", optarg);
            break;
        }
        case 'c': cn_strlcpy(ro.config_path, optarg, sizeof ro.config_path); break;
        case 's': ro.no_serve = false; break;
        case 'h':
            printf("usage: cryonav bench pipeline [--frames N] [--config FILE] [--serve]\n"
                   "Runs N simulated 640x480 frames through the session pipeline as fast as\n"
                   "possible and prints latency percentiles (acquired -> result taken) and fps.\n"
                   "'cryonav bench [options]' runs this benchmark too.\n\n"
                   "options:\n"
                   "  --frames N           simulated frames (10..10000000, default 600)\n"
                   "  --config FILE        a session file on top of the defaults and\n"
                   "                       ~/.config/cryonav/session.json (as 'cryonav run')\n"
                   "  --serve              keep the OpenIGTLink server on (default off)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout only. Last line: latency_ms p50 <x> p99 <y> fps <z>\n");
            return 0;
        case ':': return cn_app_usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    ro.max_frames = (uint64_t)frames;
    cn_session s;
    char err[1024];
    if (cn_session_open(&s, &ro, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench: %s\n", err);
        return 2;
    }
    int64_t t0 = cn_clock_mono_ns();
    if (cn_session_start(&s) != CN_OK) {
        fprintf(stderr, "cryonav bench: cannot start the source\n");
        cn_session_close(&s);
        return 1;
    }
    uint64_t cursor = 0, taken = 0;
    for (;;) {
        cn_frame *f = cn_pipeline_wait_result(s.pipe, &cursor, 200000000LL);
        if (!f) {
            if (cn_pipeline_finished(s.pipe))
                break;
            continue;
        }
        cn_pipeline_mark_shown(s.pipe, f, cn_clock_mono_ns());
        taken++;
        cn_frame_unref(f);
    }
    int64_t t1 = cn_clock_mono_ns();
    cn_pipeline_stop(s.pipe);
    cn_pipeline_stats st;
    cn_pipeline_get_stats(s.pipe, &st);
    double secs = (double)(t1 - t0) / 1e9;
    printf("frames acquired %llu analysed %llu taken %llu skipped %llu in %.2f s\n",
           (unsigned long long)st.acquired, (unsigned long long)st.analysed,
           (unsigned long long)taken, (unsigned long long)st.skipped, secs);
    printf("acquisition fps %.1f, analysis p50 %.2f ms p99 %.2f ms\n", (double)st.acquired / secs,
           st.analysis_ms_p50, st.analysis_ms_p99);
    printf("latency_ms acquired->analysed p50 %.2f p99 %.2f\n", st.analysed_latency_ms_p50,
           st.analysed_latency_ms_p99);
    printf("latency_ms p50 %.2f p99 %.2f fps %.1f\n", st.shown_latency_ms_p50,
           st.shown_latency_ms_p99, (double)st.analysed / secs);
    cn_session_close(&s);
    return st.last_error == CN_OK ? 0 : 1;
}
