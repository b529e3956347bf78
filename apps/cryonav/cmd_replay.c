/* cmd_replay.c - `cryonav replay FILE`: a recording through the same pipeline and
 * viewer as `cryonav run`, as if live (devices/replay paces frames at the recorded
 * timing / --speed; analysis runs again on the replayed frames). --speed 0 is an
 * offline batch: every frame analysed in turn and, with --record, recorded. For
 * teaching: --chapters lists the recorded events, --start jumps to one ("freeze
 * 2"), a time or a frame, --paused waits for keys. The wiring is the session's
 * "source: replay" block (and session_replay.c); this file only parses options. */
#include "commands.h"
#include "session.h"

#include "seqio/seqio.h"

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
        "  --speed S            playback speed factor (default 1 = recorded timing); 0 = offline:\n"
        "                       every frame analysed in turn as fast as it goes (no frame skipped,\n"
        "                       no latency figures), and recorded with --record\n"
        "  --chapters           list the recording's chapters (its events) and exit\n"
        "  --start WHERE        start at a chapter (\"freeze 2\", \"needle in\", or \"chapter 9\":"
        " its\n"
        "                       number in --chapters), a time from the first frame (\"95\",\n"
        "                       \"1:35\") or a frame (\"#120\")\n"
        "  --paused             start paused: space plays, , and . step, n / N next / previous\n"
        "                       chapter, 1-9 jump to freeze N, left / right 5 s\n"
        "  --spacing-mm SX[,SY] pixel spacing for files that give none (PLUS files without an\n"
        "                       ImageToProbe transform)\n"
        "  --loop               start again at the end (without it a window holds the\n"
        "                       last frame, paused, until closed or a key goes back)\n"
        "  --headless           no window: render offscreen (snapshots only)\n"
        "  --no-fallback        fail instead of going headless when no display exists\n"
        "  --frames N           stop after N frames (default: the end of the recording)\n"
        "  --snapshot DIR       write PNG snapshots of the view into DIR\n"
        "                       (DIR/snapshot-<frame>.png; none unless asked)\n"
        "  --snapshot-every N   one snapshot every N frames (default 100) plus the first\n"
        "                       and the last\n"
        "  --config FILE        session configuration (analysis settings)\n"
        "  --record OUT         record the replayed session with the new analysis into OUT\n"
        "                       (.igs.mha or .igs.nrrd; not FILE itself)\n"
        "  --no-serve           no OpenIGTLink server (default: the config's \"igtl\" server,\n"
        "                       127.0.0.1:18944)\n"
        CN_APP_LOG_HELP
        "  -h, --help           this help\n\n"
        "outputs: the window; DIR/snapshot-<frame>.png with --snapshot; OUT with\n"
        "--record; with --chapters, one line per chapter on stdout; otherwise a summary\n"
        "(frames, latency, files written) on stdout.\n");
}

enum { R_SPEED = 256, R_LOOP, R_HEADLESS, R_NOFALLBACK, R_FRAMES, R_SNAPSHOT, R_SNAPEVERY,
       R_CONFIG, R_NOSERVE, R_RECORD, R_CHAPTERS, R_START, R_PAUSED, R_SPACING };

/* `--chapters`: the recorded events as a numbered list (what --start and the keys
 * jump to). */
static int list_chapters(const char *path, const cn_run_opts *o)
{
    char err[1024];
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) {
        fprintf(stderr, "cryonav replay: %s\n", err);
        return 2;
    }
    (void)o;
    cn_seq_chapter *c = NULL;
    int n = 0;
    if (cn_seq_chapters(r, &c, &n, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav replay: %s\n", err);
        cn_seq_reader_close(r);
        return 2;
    }
    if (n == 0)
        printf("no chapters: %s has no recorded events\n", path);
    for (int i = 0; i < n; i++)
        printf("%3d  %8.1f s  frame %6d  %-9s  %-22s %s\n", i + 1, c[i].t_s, c[i].frame,
               cn_event_source_name(c[i].source), c[i].name, c[i].text);
    free(c);
    cn_seq_reader_close(r);
    return 0;
}

int cn_cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"speed", required_argument, 0, R_SPEED},       {"loop", no_argument, 0, R_LOOP},
        {"headless", no_argument, 0, R_HEADLESS},       {"no-fallback", no_argument, 0, R_NOFALLBACK},
        {"frames", required_argument, 0, R_FRAMES},     {"snapshot", required_argument, 0, R_SNAPSHOT},
        {"snapshot-every", required_argument, 0, R_SNAPEVERY},
        {"config", required_argument, 0, R_CONFIG},     {"no-serve", no_argument, 0, R_NOSERVE},
        {"record", required_argument, 0, R_RECORD},     CN_APP_LOG_LONGOPTS,
        {"chapters", no_argument, 0, R_CHAPTERS},       {"start", required_argument, 0, R_START},
        {"paused", no_argument, 0, R_PAUSED},           {"spacing-mm", required_argument, 0, R_SPACING},
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
    bool chapters = false;
    cn_app_log_opts lo;
    cn_app_log_opts_default(&lo);
    while ((c = getopt_long(argc, argv, ":hqv", opts, NULL)) != -1) {
        int lrc = cn_app_log_option("replay", c, optarg, &lo);
        if (lrc == 1)
            continue;
        if (lrc)
            return lrc;
        switch (c) {
        case 'h': replay_usage(stdout); return 0;
        case R_SPEED: {
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s >= 0 && s <= 100))
                return cn_app_usage_error("replay", "--speed needs a number in [0, 100], not '%s'", optarg);
            a.run.replay_speed = s;
            a.run.realtime = s > 0;
            a.run.batch = s == 0; /* offline: every frame, in turn */
            break;
        }
        case R_CHAPTERS: chapters = true; break;
        case R_START: cn_strlcpy(a.run.replay_start, optarg, sizeof a.run.replay_start); break;
        case R_PAUSED: a.run.replay_paused = true; break;
        case R_SPACING:
            if (cn_app_parse_spacing(optarg, 1e-4, 100, a.run.spacing_mm) != CN_OK)
                return cn_app_usage_error("replay", "--spacing-mm needs mm per pixel, e.g. 0.1 or 0.1,0.12, "
                                          "not '%s'", optarg);
            break;
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
        case R_RECORD: {
            /* as run checks it (before, replay wrote a MetaImage named x.mp4: T13) */
            static const char *const seq[] = {".mha", ".nrrd", NULL};
            static const char *const slicer[] = {".seq.nrrd", NULL};
            if (!cn_app_has_suffix(optarg, seq) || cn_app_has_suffix(optarg, slicer))
                return cn_app_usage_error("replay", "--record writes a PLUS sequence file: "
                                          "the name must end in .igs.mha (or .mha, .igs.nrrd, "
                                          ".nrrd), not '%s'", optarg);
            cn_strlcpy(a.run.record_path, optarg, sizeof a.run.record_path);
            break;
        }
        case ':': return cn_app_usage_error("replay", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("replay", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cn_app_usage_error("replay", "needs exactly one FILE (see --help)");
    a.run.log_level = lo.level;
    cn_strlcpy(a.log_path, lo.path, sizeof a.log_path);
    if (chapters)
        return list_chapters(argv[optind], &a.run);
    if (a.run.batch && a.run.loop)
        return cn_app_usage_error("replay", "--speed 0 (offline) and --loop do not go together");
    if (a.run.record_path[0] && strcmp(a.run.record_path, argv[optind]) == 0)
        return cn_app_usage_error("replay", "--record must name a new file, not the one replayed");
    cn_strlcpy(a.run.replay_path, argv[optind], sizeof a.run.replay_path);
    cn_strlcpy(a.run.source, "replay", sizeof a.run.source);
    {
        /* an image or a stack (a scanner's cine) is not a sequence file: say how to make one */
        char err[1024], hint[1200];
        cn_seq_reader *r = cn_seq_reader_open(argv[optind], err, sizeof err);
        if (r)
            cn_seq_reader_close(r);
        else if (cn_app_convert_hint(argv[optind], hint, sizeof hint)[0]) {
            fprintf(stderr, "cryonav replay: %s%s\n", err, hint);
            return 2;
        }
    }
    return cn_app_navigate("replay", &a);
}
