/*
 * emu_rig.h - what the emulated-probe tests share: an emulated UP20L, a UP20L device on
 * it with generated test tables, a frame pool and a captured log; and a way to tell
 * which real frame a delivered frame is (bit-exact decode hashes), so any torn or
 * mixed frame is caught.
 */
#ifndef CN_TEST_EMU_RIG_H
#define CN_TEST_EMU_RIG_H

#include "up20l_emu.h"

#include <stdio.h>

#define FRAMES CN_SHARED_DATA_DIR "/usb/up20l/frames"
#define SESSIONS CN_SHARED_DATA_DIR "/usb/up20l/sessions"

typedef struct {
    cn_up20l_emu *emu;
    cn_usb_device *dev;
    cn_device di;
    cn_up20l_tables *tables;
    cn_frame_pool *pool;
    FILE *logf;
    cn_log *log;
    uint64_t expect_hash[5];
} rig;

/* xfer: bulk transfer bytes (0 = the default). Fails the test when anything is missing. */
void rig_open_x(rig *r, const cn_up20l_emu_opts *eo, int focus, int timeout_ms, int xfer);
void rig_open(rig *r, const cn_up20l_emu_opts *eo, int focus, int timeout_ms);
/* The device on a whole configuration (reconnect_poll_ms is set to 50). */
void rig_open_cfg(rig *r, const cn_up20l_emu_opts *eo, const cn_up20l_config *cfg);
void rig_close(rig *r);
/* Everything the device logged so far. */
char *log_text(rig *r);
/* Which real frame (0..4) a delivered frame is, or -1 (torn, mixed or other levels). */
int which(rig *r, const cn_frame *f);
/* Emulator options serving the real frames at fps (0 = as fast as asked). */
cn_up20l_emu_opts emu_opts(double fps);

#endif
