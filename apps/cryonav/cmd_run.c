/* cmd_run.c - `cryonav run`: the navigator.
 *
 * Parses options (getopt_long), then hands over to the viewer loop (navigate.c),
 * which opens a session (session.c wires source, analysis and sinks) and shows
 * the newest analysed frame. Without a display it falls back to headless (and
 * says so), unless --no-fallback asks it to fail instead. Nothing is written
 * unless asked: snapshots need --snapshot DIR, a recording --record FILE, and
 * their paths are printed at the end. */
#include "commands.h"
#include "session.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav run [options]\n"
        "Runs the navigator: frames from the source (a plugged-in UP20L probe, else the\n"
        "built-in simulator, unless told otherwise) through the analysis into the 3-D\n"
        "viewer and the other sinks.\n\n"
        "options:\n"
        "  --config FILE        a session file applied on top of the shipped defaults and\n"
        "                       ~/.config/cryonav/session.json (see 'cryonav config')\n"
        "  --source NAME        auto | sim | usb | igtl (default: from the config: auto = a\n"
        "                       usable probe when one is plugged in, else sim; a recording:\n"
        "                       cryonav replay FILE)\n"
        "  --probe-wait S       usb: give up when no probe is plugged in within S seconds\n"
        "                       (default: wait for it, the window saying NO LIVE IMAGE)\n"
        "  --tracking NAME      none | igtl | sim: where poses come from (default: from the\n"
        "                       config; none = the source's own)\n"
        "  --window WxH         window size in pixels (default: the config's \"viewer\",\n"
        "                       1280x800)\n"
        "  --headless           no window; with --snapshot, render offscreen into PNGs\n"
        "  --no-fallback        fail instead of going headless when no display exists\n"
        "  --frames N           stop after N frames (default: until the source ends;\n"
        "                       with a window the simulator scenario loops)\n"
        "  --snapshot DIR       write PNG snapshots of the whole view into DIR\n"
        "                       (DIR/snapshot-<frame>.png; none unless asked)\n"
        "  --snapshot-every N   one snapshot every N frames (default 100) plus the first\n"
        "                       and the last\n"
        "  --time-scale X       simulator: scene seconds per real second (e.g. 10)\n"
        "  --fast               do not pace the source in real time: every frame is analysed in\n"
        "                       turn, as fast as the analysis goes (an offline run: no frame\n"
        "                       skipped, no latency figures)\n"
        "  --seed N             simulator random seed\n"
        "  --protocol NAME      freeze protocol from the catalogue (config/protocols.json: morton-150s,\n"
        "                       stump-6-4-6, spermatic-2x90s, ...): the plan, and the simulator's script\n"
        "  --keys LIST          press procedure keys at scene times (s from the first frame), e.g.\n"
        "                       f@175,f@185 (keys: f freeze start/stop, a active thaw on/off,\n"
        "                       i inserted, p repositioned, w withdrawn)\n"
        "  --loop               restart the scenario / recording at its end\n"
        "  --show-truth         draw the simulator's ground truth as dashed outlines\n"
        "  --no-overlays        start with the analysis overlays hidden (key o toggles)\n"
        "  --record FILE        record the session to a sequence file (FILE.igs.mha or\n"
        "                       FILE.igs.nrrd)\n"
        "  --listen ADDR:PORT   OpenIGTLink server address (default 127.0.0.1:18944)\n"
        "  --no-serve           no OpenIGTLink server\n"
        "  --proctor-token-file FILE  the secret that makes an OpenIGTLink client a proctor\n"
        "                       (a file only you can read; without a token every client\n"
        "                       is a viewer)\n"
        "  --proctor-token T    the same, given here (visible to other users in ps)\n"
        CN_APP_LOG_HELP
        "  -h, --help           this help\n\n"
        "outputs: the window; DIR/snapshot-<frame>.png with --snapshot; FILE with\n"
        "--record; a summary (frames, latency, files written) on stdout.\n");
}

enum { O_CONFIG = 256, O_SOURCE, O_HEADLESS, O_NOFALLBACK, O_FRAMES, O_SNAPSHOT, O_SNAPEVERY,
       O_TIMESCALE, O_FAST, O_SEED, O_PROTOCOL, O_LOOP, O_TRUTH, O_RECORD, O_LISTEN, O_NOSERVE,
       O_NOOVERLAYS, O_TRACKING, O_PTOKENFILE, O_PTOKEN, O_KEYS, O_WINDOW, O_PROBEWAIT };

static const struct option run_options[] = {
    {"config", required_argument, 0, O_CONFIG},      {"source", required_argument, 0, O_SOURCE},
    {"headless", no_argument, 0, O_HEADLESS},        {"no-fallback", no_argument, 0, O_NOFALLBACK},
    {"frames", required_argument, 0, O_FRAMES},      {"snapshot", required_argument, 0, O_SNAPSHOT},
    {"snapshot-every", required_argument, 0, O_SNAPEVERY},
    {"time-scale", required_argument, 0, O_TIMESCALE}, {"fast", no_argument, 0, O_FAST},
    {"seed", required_argument, 0, O_SEED},          {"protocol", required_argument, 0, O_PROTOCOL},
    {"loop", no_argument, 0, O_LOOP},                {"show-truth", no_argument, 0, O_TRUTH},
    {"record", required_argument, 0, O_RECORD},      {"listen", required_argument, 0, O_LISTEN},
    {"no-serve", no_argument, 0, O_NOSERVE},         {"no-overlays", no_argument, 0, O_NOOVERLAYS},
    {"tracking", required_argument, 0, O_TRACKING},  /* issue 15 */
    {"proctor-token-file", required_argument, 0, O_PTOKENFILE},
    {"proctor-token", required_argument, 0, O_PTOKEN},
    {"keys", required_argument, 0, O_KEYS},
    {"window", required_argument, 0, O_WINDOW},      CN_APP_LOG_LONGOPTS,
    {"probe-wait", required_argument, 0, O_PROBEWAIT},
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
    cn_app_log_opts lo;
    cn_app_log_opts_default(&lo);
    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, ":hqv", run_options, NULL)) != -1) {
        int lrc = cn_app_log_option("run", c, optarg, &lo);
        if (lrc == 1)
            continue;
        if (lrc)
            return lrc;
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
        case O_SNAPSHOT: {
            static const char *const images[] = {".png", ".PNG", ".jpg", NULL};
            if (cn_app_has_suffix(optarg, images))
                return cn_app_usage_error("run", "--snapshot takes a folder (snapshots are named "
                                          "snapshot-<frame>.png in it), not '%s'", optarg);
            cn_strlcpy(a->snapshot_dir, optarg, sizeof a->snapshot_dir);
            break;
        }
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
        case O_PROBEWAIT: {
            char *end;
            double x = strtod(optarg, &end);
            if (end == optarg || *end || !(x >= 0 && x <= 86400))
                return cn_app_usage_error("run", "--probe-wait needs seconds in [0, 86400], not "
                                          "'%s'", optarg);
            a->run.probe_wait_s = x;
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
        case O_RECORD: {
            /* The recorder writes PLUS sequence files: MetaImage (.mha) or NRRD (.nrrd). */
            static const char *const seq[] = {".mha", ".nrrd", NULL};
            static const char *const slicer[] = {".seq.nrrd", NULL};
            if (!cn_app_has_suffix(optarg, seq) || cn_app_has_suffix(optarg, slicer))
                return cn_app_usage_error("run", "--record writes a PLUS sequence file: the name must "
                                          "end in .igs.mha (or .mha, .igs.nrrd, .nrrd), not '%s'",
                                          optarg);
            cn_strlcpy(a->run.record_path, optarg, sizeof a->run.record_path);
            break;
        }
        case O_LISTEN: cn_strlcpy(a->run.listen, optarg, sizeof a->run.listen); break;
        case O_NOSERVE: a->run.no_serve = true; break;
        case O_PTOKENFILE:
            cn_strlcpy(a->run.proctor_token_file, optarg, sizeof a->run.proctor_token_file);
            break;
        case O_PTOKEN: cn_strlcpy(a->run.proctor_token, optarg, sizeof a->run.proctor_token); break;
        case O_WINDOW:
            if (cn_app_parse_size(optarg, 64, 8192, &a->window_w, &a->window_h) != CN_OK)
                return cn_app_usage_error("run", "--window needs WxH in pixels (64..8192), e.g. "
                                          "1280x800, not '%s'", optarg);
            break;
        case ':': return cn_app_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("run", "unexpected argument '%s'", argv[optind]);
    a->run.log_level = lo.level;
    cn_strlcpy(a->log_path, lo.path, sizeof a->log_path);
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
