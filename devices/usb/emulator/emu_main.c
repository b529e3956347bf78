/*
 * emu_main.c - `cryonav-probe-emulator`: run any command with an emulated Healson
 * UP20L attached.
 *
 *   cryonav-probe-emulator [--frames DIR] [--fps F] [--payload ROWSxCOLS]
 *                          [--fault SPEC]... [--not-healson] [--no-tables] -- COMMAND ARGS
 *
 * Like umockdev-run, the emulator keeps the test bed in this process and runs COMMAND
 * as a child under libumockdev-preload, so COMMAND's libusb sees the probe. Unless
 * --no-tables, it also writes generated test tables (right sizes, NOT the vendor's
 * calibration) into the test bed and points $CRYONAV_UP20L_TABLES at them.
 */
#include "up20l_emu.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cryonav-probe-emulator [options] -- COMMAND [ARGS...]\n"
            "Runs COMMAND with an emulated Healson UP20L probe (USB 04b4:8613) attached.\n\n"
            "  --frames DIR        raw frames to serve (*.raw, 512 x 160 uint16 LE)\n"
            "                      default: %s/usb/up20l/frames\n"
            "  --fps F             frame rate (default 6.25, the real probe's; 0 = as fast as asked)\n"
            "  --payload RxC       serve R x C samples per frame (tiles the frames; default 512x160)\n"
            "  --fault SPEC        unplug@N[:REPLUG_MS], stall@N, short@N, late@N[:MS], garbage@N\n"
            "                      (N = 0-based frame index; up to 4 faults)\n"
            "  --plug-after MS     plug the probe in MS ms after the start (default: at once)\n"
            "  --not-healson       answer identify as another FX2 board\n"
            "  --no-tables         do not provide generated test tables\n",
            CN_EMU_DEFAULT_DATA);
}

int main(int argc, char **argv)
{
    cn_up20l_emu_opts o = {0};
    static char frames[1024];
    snprintf(frames, sizeof frames, "%s/usb/up20l/frames", CN_EMU_DEFAULT_DATA);
    o.frames_dir = frames;
    o.fps = 6.25;
    bool tables = true;
    int i = 1;
    char err[512];
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--frames") && v) {
            o.frames_dir = v;
            i++;
        } else if (!strcmp(a, "--fps") && v) {
            o.fps = atof(v);
            if (!(o.fps >= 0 && o.fps <= 10000)) {
                fprintf(stderr, "cryonav-probe-emulator: --fps %s outside 0..10000\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--payload") && v) {
            if (sscanf(v, "%dx%d", &o.rows, &o.cols) != 2 || o.rows < 1 || o.cols < 1 ||
                o.rows > 4096 || o.cols > 4096) {
                fprintf(stderr, "cryonav-probe-emulator: --payload %s is not ROWSxCOLS\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--plug-after") && v) {
            char *end;
            long ms = strtol(v, &end, 10);
            if (end == v || *end || ms < 0 || ms > 3600000) {
                fprintf(stderr, "cryonav-probe-emulator: --plug-after %s is not 0..3600000 ms\n",
                        v);
                return 2;
            }
            o.plug_after_ms = (int)ms;
            i++;
        } else if (!strcmp(a, "--fault") && v) {
            if (o.n_faults >= 4) {
                fprintf(stderr, "cryonav-probe-emulator: at most 4 faults\n");
                return 2;
            }
            if (cn_emu_fault_parse(v, &o.faults[o.n_faults++], err, sizeof err) != CN_OK) {
                fprintf(stderr, "cryonav-probe-emulator: %s\n", err);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--not-healson")) {
            o.not_healson = true;
        } else if (!strcmp(a, "--no-tables")) {
            tables = false;
        } else {
            fprintf(stderr, "cryonav-probe-emulator: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc - 1) {
        fprintf(stderr, "cryonav-probe-emulator: no command after '--'\n\n");
        usage(stderr);
        return 2;
    }
    cn_up20l_emu *e = cn_up20l_emu_new(&o, err, sizeof err);
    if (!e) {
        fprintf(stderr, "cryonav-probe-emulator: %s\n", err);
        return 1;
    }
    if (tables) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/up20l-test-tables", cn_up20l_emu_root(e));
        cn_up20l_tables *t = cn_up20l_tables_generate(20);
        if (!t || cn_up20l_tables_write(t, dir, err, sizeof err) != CN_OK) {
            fprintf(stderr, "cryonav-probe-emulator: %s\n", t ? err : "out of memory");
            cn_up20l_tables_free(t);
            cn_up20l_emu_free(e);
            return 1;
        }
        cn_up20l_tables_free(t);
        setenv("CRYONAV_UP20L_TABLES", dir, 1);
    }
    const char *pre = getenv("LD_PRELOAD");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%slibumockdev-preload.so.0", pre ? pre : "", pre && *pre ? ":" : "");
    setenv("LD_PRELOAD", buf, 1);
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(buf, sizeof buf, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[i + 1], NULL, NULL, argv + i + 1, environ);
    /* Our own later exec-free life must not be affected by the preload variable. */
    unsetenv("LD_PRELOAD");
    if (r != 0) {
        fprintf(stderr, "cryonav-probe-emulator: cannot run %s: %s\n", argv[i + 1], strerror(r));
        cn_up20l_emu_free(e);
        return 127;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    char perr[2048];
    if (cn_up20l_emu_protocol_errors(e, perr, sizeof perr) > 0)
        fprintf(stderr, "cryonav-probe-emulator: protocol errors seen:\n%s", perr);
    fprintf(stderr, "cryonav-probe-emulator: served %llu frames\n",
            (unsigned long long)cn_up20l_emu_frames_served(e));
    cn_up20l_emu_free(e);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
