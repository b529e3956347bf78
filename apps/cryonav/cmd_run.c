/* cmd_run.c - `cryonav run`: the navigator.
 *
 * Parses options, opens a session (session.c does the wiring of source, analysis
 * and sinks), then runs the viewer loop on the main thread: take the newest
 * analysed frame, draw it, handle window events, write snapshots. Without a
 * display it falls back to headless rendering into a private Xvfb (and says so),
 * unless --no-fallback asks it to fail instead. SIGINT/SIGTERM are blocked in
 * every thread and polled here, so Ctrl-C ends the session cleanly (recordings
 * closed, clients told) without a global flag. */
#include "commands.h"
#include "session.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav run [options]\n"
        "Runs the navigator: frames from the source (the built-in simulator unless told\n"
        "otherwise) through the analysis into the 3-D viewer and the other sinks.\n\n"
        "options:\n"
        "  --config FILE        session configuration (default: config/session.json)\n"
        "  --source NAME        sim | usb | replay | igtl (default: from the config)\n"
        "  --tracking NAME      none | igtl | sim: where poses come from (default: from the\n"
        "                       config; none = the source's own)\n"
        "  --headless           no window: render offscreen (snapshots only)\n"
        "  --no-fallback        fail instead of falling back to headless when no display exists\n"
        "  --frames N           stop after N frames (default: until the source ends;\n"
        "                       with a window the simulator scenario loops)\n"
        "  --snapshot DIR       write PNG snapshots of the view into DIR (headless default:\n"
        "                       ./cryonav-snapshots)\n"
        "  --snapshot-every N   one snapshot every N frames (default 100) plus the last frame\n"
        "  --time-scale X       simulator: scene seconds per real second (e.g. 10)\n"
        "  --fast               do not pace the source in real time: every frame is analysed in\n"
        "                       turn, as fast as the analysis goes (an offline run: no frame\n"
        "                       skipped, no latency figures)\n"
        "  --seed N             simulator random seed\n"
        "  --protocol NAME      freeze protocol from the catalogue (config/protocols.json: morton-150s,\n"
        "                       stump-6-4-6, spermatic-2x90s, ...): the plan, and the simulator's script\n"
        "  --keys LIST          press procedure keys at scene times, e.g. f@400,f@460 (keys: f freeze\n"
        "                       start/stop, a active thaw on/off, i inserted, p repositioned, w withdrawn)\n"
        "  --loop               restart the scenario / recording at its end\n"
        "  --show-truth         draw the simulator's ground truth as dashed outlines\n"
        "  --no-overlays        start with the analysis overlays hidden (key o toggles)\n"
        "  --record FILE        record the session to a sequence file (.igs.mha)\n"
        "  --listen ADDR:PORT   OpenIGTLink server address (default 127.0.0.1:18944)\n"
        "  --no-serve           no OpenIGTLink server\n"
        "  --proctor-token-file FILE  the secret that makes an OpenIGTLink client a proctor\n"
        "                       (a file only you can read; without a token every client\n"
        "                       is a viewer)\n"
        "  --proctor-token T    the same, given here (visible to other users in ps)\n"
        "  --log-level L        debug | info | warning | error (default info)\n"
        "  -h, --help           this help\n");
}

enum { O_CONFIG = 256, O_SOURCE, O_HEADLESS, O_NOFALLBACK, O_FRAMES, O_SNAPSHOT, O_SNAPEVERY,
       O_TIMESCALE, O_FAST, O_SEED, O_PROTOCOL, O_LOOP, O_TRUTH, O_RECORD, O_LISTEN, O_NOSERVE,
       O_LOGLEVEL, O_NOOVERLAYS, O_TRACKING, O_PTOKENFILE, O_PTOKEN, O_KEYS };

static const struct option run_options[] = {
    {"config", required_argument, 0, O_CONFIG},      {"source", required_argument, 0, O_SOURCE},
    {"headless", no_argument, 0, O_HEADLESS},        {"no-fallback", no_argument, 0, O_NOFALLBACK},
    {"frames", required_argument, 0, O_FRAMES},      {"snapshot", required_argument, 0, O_SNAPSHOT},
    {"snapshot-every", required_argument, 0, O_SNAPEVERY},
    {"time-scale", required_argument, 0, O_TIMESCALE}, {"fast", no_argument, 0, O_FAST},
    {"seed", required_argument, 0, O_SEED},          {"protocol", required_argument, 0, O_PROTOCOL},
    {"loop", no_argument, 0, O_LOOP},                {"show-truth", no_argument, 0, O_TRUTH},
    {"record", required_argument, 0, O_RECORD},      {"listen", required_argument, 0, O_LISTEN},
    {"no-serve", no_argument, 0, O_NOSERVE},         {"log-level", required_argument, 0, O_LOGLEVEL},
    {"no-overlays", no_argument, 0, O_NOOVERLAYS},
    {"tracking", required_argument, 0, O_TRACKING},  /* issue 15 */
    {"proctor-token-file", required_argument, 0, O_PTOKENFILE},
    {"proctor-token", required_argument, 0, O_PTOKEN},
    {"keys", required_argument, 0, O_KEYS},
    {"help", no_argument, 0, 'h'},                   {0, 0, 0, 0}};

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_run_args(int argc, char **argv, cn_nav_opts *a)
{
    memset(a, 0, sizeof *a);
    cn_run_opts_defaults(&a->run);
    a->snapshot_every = 100;
    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, ":h", run_options, NULL)) != -1) {
        switch (c) {
        case 'h': run_usage(stdout); return 1;
        case O_CONFIG: cn_strlcpy(a->run.config_path, optarg, sizeof a->run.config_path); break;
        case O_SOURCE: cn_strlcpy(a->run.source, optarg, sizeof a->run.source); break;
        case O_TRACKING: cn_strlcpy(a->run.tracking, optarg, sizeof a->run.tracking); break;
        case O_HEADLESS: a->headless = true; break;
        case O_NOFALLBACK: a->no_fallback = true; break;
        case O_FRAMES:
            if (parse_long(optarg, 1, 100000000, &v))
                return cn_app_usage_error("run", "--frames needs a whole number >= 1, not '%s'", optarg);
            a->run.max_frames = (uint64_t)v;
            break;
        case O_SNAPSHOT: cn_strlcpy(a->snapshot_dir, optarg, sizeof a->snapshot_dir); break;
        case O_SNAPEVERY:
            if (parse_long(optarg, 1, 100000000, &a->snapshot_every))
                return cn_app_usage_error("run", "--snapshot-every needs a whole number >= 1, not '%s'", optarg);
            break;
        case O_TIMESCALE: {
            char *end;
            double x = strtod(optarg, &end);
            if (end == optarg || *end || !(x > 0 && x <= 1000))
                return cn_app_usage_error("run", "--time-scale needs a number in (0, 1000], not '%s'", optarg);
            a->run.time_scale = x;
            break;
        }
        case O_FAST: /* offline (issue 14): every frame analysed in turn, none skipped */
            a->run.realtime = false;
            a->run.batch = true;
            break;
        case O_SEED:
            if (parse_long(optarg, 0, 0x7fffffffL, &a->run.seed))
                return cn_app_usage_error("run", "--seed needs a whole number >= 0, not '%s'", optarg);
            break;
        case O_PROTOCOL: cn_strlcpy(a->run.protocol, optarg, sizeof a->run.protocol); break;
        case O_LOOP: a->run.loop = true; break;
        case O_TRUTH: a->show_truth = true; break;
        case O_NOOVERLAYS: a->no_overlays = true; break;
        case O_KEYS: {
            char kerr[160];
            if (strlen(optarg) >= sizeof a->keys || cn_app_parse_keys(optarg, NULL, 32, kerr, sizeof kerr) < 0)
                return cn_app_usage_error("run", "%s", strlen(optarg) >= sizeof a->keys ? "--keys: list too long" : kerr);
            cn_strlcpy(a->keys, optarg, sizeof a->keys);
            break;
        }
        case O_RECORD: cn_strlcpy(a->run.record_path, optarg, sizeof a->run.record_path); break;
        case O_LISTEN: cn_strlcpy(a->run.listen, optarg, sizeof a->run.listen); break;
        case O_NOSERVE: a->run.no_serve = true; break;
        case O_PTOKENFILE:
            cn_strlcpy(a->run.proctor_token_file, optarg, sizeof a->run.proctor_token_file);
            break;
        case O_PTOKEN: cn_strlcpy(a->run.proctor_token, optarg, sizeof a->run.proctor_token); break;
        case O_LOGLEVEL:
            if (strcmp(optarg, "debug") == 0) a->run.log_level = CN_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0) a->run.log_level = CN_LOG_INFO;
            else if (strcmp(optarg, "warning") == 0 || strcmp(optarg, "warn") == 0) a->run.log_level = CN_LOG_WARN;
            else if (strcmp(optarg, "error") == 0) a->run.log_level = CN_LOG_ERROR;
            else return cn_app_usage_error("run", "--log-level must be debug, info, warning or error, not '%s'", optarg);
            break;
        case ':': return cn_app_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("run", "unexpected argument '%s'", argv[optind]);
    return 0;
}

int cn_cmd_run(int argc, char **argv)
{
    cn_nav_opts a;
    int prc = parse_run_args(argc, argv, &a);
    if (prc)
        return prc == 1 ? 0 : prc;
    return cn_app_navigate("run", &a);
}
