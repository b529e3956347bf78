/*
 * up20l_emu.h - an emulated Healson UP20L on the real libusb code path.
 *
 * The emulator builds a umockdev test bed holding a USB device with the UP20L's id
 * and descriptors, and answers the usbdevfs ioctls libusb issues (submit, reap,
 * discard, claim, capabilities, clear-halt) from a state machine that follows the
 * protocol: it answers identify, keeps a register file, accepts table uploads of the
 * right sizes, refuses (stalls) frame requests before start-up and while frozen,
 * and serves frames (the five real ones from ../shared/data/usb/up20l/frames, or any
 * folder of raw frames encoded the same way) at a chosen rate. Faults can be injected:
 * unplug (and replug) mid-frame, a stalled endpoint, a short or late transfer, and
 * garbage payloads. Every request is logged in the same form as the captured vendor
 * sessions so tests can compare the driver's request order with the vendor's.
 *
 * The process using it must run with libumockdev-preload (umockdev-wrapper, or
 * cn_up20l_emu_reexec_preloaded() at the top of main).
 */
#ifndef CN_UP20L_EMU_H
#define CN_UP20L_EMU_H

#include "usb/usb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CN_EMU_FAULT_NONE = 0,
    CN_EMU_FAULT_UNPLUG,   /* unplug during frame `at_frame` (after half its chunks) */
    CN_EMU_FAULT_STALL,    /* bulk IN endpoint halts at frame `at_frame` until cleared */
    CN_EMU_FAULT_SHORT,    /* one chunk of frame `at_frame` brings 1000 bytes */
    CN_EMU_FAULT_LATE,     /* chunks of frame `at_frame` from the 10th on come `arg_ms` late */
    CN_EMU_FAULT_GARBAGE   /* frame `at_frame` is random bytes */
} cn_emu_fault_kind;

typedef struct {
    cn_emu_fault_kind kind;
    int at_frame;          /* 0-based index of frames served since the emulator started */
    int arg_ms;            /* LATE: delay; UNPLUG: replug after this many ms (<0: never) */
} cn_emu_fault;

typedef struct {
    const char *frames_dir;  /* folder of raw frames (*.raw, 163,840 B each at 512 x 160) */
    double fps;              /* frame rate served; 0 = as fast as requested */
    int rows, cols;          /* payload layout (0 = 512 x 160); bigger payloads tile the frames */
    bool not_healson;        /* identify answers as some other FX2 board */
    const char *manufacturer, *product; /* the board's strings (NULL: "HealSon", "V2.03") */
    bool no_permission;      /* the device node refuses to open (EACCES) */
    cn_emu_fault faults[4];  /* up to four, each fires once */
    int n_faults;
    int plug_after_ms;       /* > 0: the probe is plugged in this long after the start
                                (a navigator started before the probe) */
} cn_up20l_emu_opts;

typedef struct cn_up20l_emu cn_up20l_emu;

/* If the process does not run under libumockdev-preload, re-executes it with
 * LD_PRELOAD set (and ASan's link-order check relaxed). Returns only if already
 * preloaded; on failure prints why and exits 77. */
void cn_up20l_emu_reexec_preloaded(int argc, char **argv);

cn_up20l_emu *cn_up20l_emu_new(const cn_up20l_emu_opts *o, char *err, size_t err_len);
void cn_up20l_emu_free(cn_up20l_emu *e);
/* The test bed's root ($UMOCKDEV_DIR), for child processes. */
const char *cn_up20l_emu_root(const cn_up20l_emu *e);
/* Unplugs now (pending transfers fail with ENODEV, the device leaves sysfs). */
int cn_up20l_emu_unplug(cn_up20l_emu *e);
/* Plugs back in with a new device address; the probe restarts cold. */
int cn_up20l_emu_replug(cn_up20l_emu *e);
/* Monotonic time of the last replug (0 never) and of the last unplug. */
int64_t cn_up20l_emu_last_replug_ns(cn_up20l_emu *e);
int64_t cn_up20l_emu_last_unplug_ns(cn_up20l_emu *e);
bool cn_up20l_emu_plugged(cn_up20l_emu *e);
/* Frames whose every chunk was handed to the host. */
uint64_t cn_up20l_emu_frames_served(cn_up20l_emu *e);
/* Copies up to max logged requests (oldest first); returns the number logged. */
size_t cn_up20l_emu_requests(cn_up20l_emu *e, cn_usb_req *out, size_t max);
/* Protocol errors the emulator saw from the host (wrong table sizes, requests out of
 * order), as one line each; returns the count. */
int cn_up20l_emu_protocol_errors(cn_up20l_emu *e, char *out, size_t out_len);
/* Parses "--fault" values: unplug@N[:replug_ms], stall@N, short@N, late@N:ms, garbage@N. */
int cn_emu_fault_parse(const char *s, cn_emu_fault *out, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
