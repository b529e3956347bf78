/*
 * emu_util.c - small helpers around the emulated UP20L: running under the umockdev
 * preload library, and parsing fault specifications ("unplug@3:400").
 */
#include "up20l_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cn_up20l_emu_reexec_preloaded(int argc, char **argv)
{
    (void)argc;
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "libumockdev-preload"))
        return;
    char buf[1024];
    snprintf(buf, sizeof buf, "libumockdev-preload.so.0%s%s", pre && *pre ? ":" : "", pre ? pre : "");
    setenv("LD_PRELOAD", buf, 1);
    /* ASan insists on being first in the library list; the preload library only wraps
     * libc calls, so relax that check. */
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(buf, sizeof buf, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "cannot re-execute %s under libumockdev-preload\n", argv[0]);
    exit(77);
}

int cn_emu_fault_parse(const char *s, cn_emu_fault *out, char *err, size_t err_len)
{
    static const struct {
        const char *name;
        cn_emu_fault_kind kind;
    } kinds[] = {{"unplug", CN_EMU_FAULT_UNPLUG}, {"stall", CN_EMU_FAULT_STALL},
                 {"short", CN_EMU_FAULT_SHORT},   {"late", CN_EMU_FAULT_LATE},
                 {"garbage", CN_EMU_FAULT_GARBAGE}};
    memset(out, 0, sizeof *out);
    const char *at = strchr(s, '@');
    if (!at)
        goto bad;
    size_t n = (size_t)(at - s);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].name) == n && strncmp(s, kinds[i].name, n) == 0)
            out->kind = kinds[i].kind;
    if (out->kind == CN_EMU_FAULT_NONE)
        goto bad;
    char *end;
    long f = strtol(at + 1, &end, 10);
    if (end == at + 1 || f < 0 || f > 1000000)
        goto bad;
    out->at_frame = (int)f;
    out->arg_ms = out->kind == CN_EMU_FAULT_UNPLUG ? 500 : out->kind == CN_EMU_FAULT_LATE ? 1000 : 0;
    if (*end == ':') {
        long ms = strtol(end + 1, &end, 10);
        if (ms < -1 || ms > 600000)
            goto bad;
        out->arg_ms = (int)ms;
    }
    if (*end)
        goto bad;
    return CN_OK;
bad:
    snprintf(err, err_len,
             "bad fault '%s': expected unplug@FRAME[:REPLUG_MS] (-1 = never), stall@FRAME, "
             "short@FRAME, late@FRAME[:MS] or garbage@FRAME",
             s);
    return CN_EINVAL;
}
