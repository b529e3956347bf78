/* cmd_replay.c - `cryonav replay FILE`: a recording through the same pipeline and
 * viewer as `cryonav run`, as if live (devices/replay paces frames at the recorded
 * timing / --speed; analysis runs again on the replayed frames). The wiring is the
 * session's "source: replay" block; this file only parses options. */
#include "commands.h"
#include "session.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void replay_usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav replay FILE [options]\n"
        "Replays a sequence file (.igs.mha, .igs.mhd, .igs.nrrd, .seq.nrrd) through the\n"
        "navigator as if live: the analysis runs again on the replayed frames.\n\n"
        "options:\n"
        "  --speed S            playback speed factor (default 1 = recorded timing; 0 = as\n"
        "                       fast as possible)\n"
        "  --loop               start again at the end\n"
        "  --headless           no window: render offscreen (snapshots only)\n"
        "  --no-fallback        fail instead of going headless when no display exists\n"
        "  --frames N           stop after N frames\n"
        "  --snapshot DIR       write PNG snapshots of the view into DIR\n"
        "  --snapshot-every N   one snapshot every N frames (default 100)\n"
        "  --config FILE        session configuration (analysis settings)\n"
        "  --record FILE        record the replayed session (with the new analysis)\n"
        "  --no-serve           no OpenIGTLink server\n"
        "  --log-level L        debug | info | warning | error\n"
        "  -h, --help           this help\n");
}

enum { R_SPEED = 256, R_LOOP, R_HEADLESS, R_NOFALLBACK, R_FRAMES, R_SNAPSHOT, R_SNAPEVERY,
       R_CONFIG, R_NOSERVE, R_LOGLEVEL, R_RECORD };

int cn_cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"speed", required_argument, 0, R_SPEED},       {"loop", no_argument, 0, R_LOOP},
        {"headless", no_argument, 0, R_HEADLESS},       {"no-fallback", no_argument, 0, R_NOFALLBACK},
        {"frames", required_argument, 0, R_FRAMES},     {"snapshot", required_argument, 0, R_SNAPSHOT},
        {"snapshot-every", required_argument, 0, R_SNAPEVERY},
        {"config", required_argument, 0, R_CONFIG},     {"no-serve", no_argument, 0, R_NOSERVE},
        {"log-level", required_argument, 0, R_LOGLEVEL}, {"record", required_argument, 0, R_RECORD},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cn_nav_opts a;
    memset(&a, 0, sizeof a);
    cn_run_opts_defaults(&a.run);
    a.snapshot_every = 100;
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': replay_usage(stdout); return 0;
        case R_SPEED: {
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s >= 0 && s <= 100))
                return cn_app_usage_error("replay", "--speed needs a number in [0, 100], not '%s'", optarg);
            a.run.replay_speed = s;
            a.run.realtime = s > 0;
            break;
        }
        case R_LOOP: a.run.loop = true; break;
        case R_HEADLESS: a.headless = true; break;
        case R_NOFALLBACK: a.no_fallback = true; break;
        case R_FRAMES: {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1)
                return cn_app_usage_error("replay", "--frames needs a whole number >= 1, not '%s'", optarg);
            a.run.max_frames = (uint64_t)v;
            break;
        }
        case R_SNAPSHOT: cn_strlcpy(a.snapshot_dir, optarg, sizeof a.snapshot_dir); break;
        case R_SNAPEVERY: {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1)
                return cn_app_usage_error("replay", "--snapshot-every needs a whole number >= 1, not '%s'", optarg);
            a.snapshot_every = v;
            break;
        }
        case R_CONFIG: cn_strlcpy(a.run.config_path, optarg, sizeof a.run.config_path); break;
        case R_NOSERVE: a.run.no_serve = true; break;
        case R_RECORD: cn_strlcpy(a.run.record_path, optarg, sizeof a.run.record_path); break;
        case R_LOGLEVEL:
            if (strcmp(optarg, "debug") == 0) a.run.log_level = CN_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0) a.run.log_level = CN_LOG_INFO;
            else if (strcmp(optarg, "warning") == 0) a.run.log_level = CN_LOG_WARN;
            else if (strcmp(optarg, "error") == 0) a.run.log_level = CN_LOG_ERROR;
            else return cn_app_usage_error("replay", "--log-level must be debug, info, warning or error, not '%s'", optarg);
            break;
        case ':': return cn_app_usage_error("replay", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("replay", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cn_app_usage_error("replay", "needs exactly one FILE (see --help)");
    if (a.run.record_path[0] && strcmp(a.run.record_path, argv[optind]) == 0)
        return cn_app_usage_error("replay", "--record must name a new file, not the one replayed");
    cn_strlcpy(a.run.replay_path, argv[optind], sizeof a.run.replay_path);
    cn_strlcpy(a.run.source, "replay", sizeof a.run.source);
    return cn_app_navigate("replay", &a);
}
