/*
 * emu_rig.c - the shared set-up of the emulated-probe tests (see emu_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "emu_rig.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Hashes of the five real frames decoded with the device's own settings. */
static void expected_hashes(rig *r, const cn_up20l_config *c)
{
    char err[256];
    cn_up20l_decoder *d = cn_up20l_decoder_new(&c->decode, err, sizeof err);
    assert_non_null(d);
    for (int k = 0; k < 5; k++) {
        char path[512];
        snprintf(path, sizeof path, FRAMES "/up20l_frame_reg17_%d.raw", k);
        size_t len;
        uint8_t *raw = (uint8_t *)cn_file_read_all(path, &len);
        cn_frame *f = cn_frame_pool_acquire(r->pool);
        assert_int_equal(cn_up20l_decode(d, raw, len, f), CN_OK);
        r->expect_hash[k] = fnv(f->pixels, (size_t)f->width * (size_t)f->height);
        cn_frame_unref(f);
        free(raw);
    }
    cn_up20l_decoder_free(d);
}

void rig_open_x(rig *r, const cn_up20l_emu_opts *eo, int focus, int timeout_ms, int xfer)
{
    cn_up20l_config c;
    cn_up20l_config_default(&c);
    c.focus_zone = focus;
    c.transfer_timeout_ms = timeout_ms;
    if (xfer)
        c.transfer_bytes = xfer;
    rig_open_cfg(r, eo, &c);
}

void rig_open_cfg(rig *r, const cn_up20l_emu_opts *eo, const cn_up20l_config *cfg)
{
    memset(r, 0, sizeof *r);
    char err[512];
    r->emu = cn_up20l_emu_new(eo, err, sizeof err);
    if (!r->emu)
        fail_msg("emulator: %s", err);
    r->logf = tmpfile();
    r->log = cn_log_new(r->logf, CN_LOG_INFO);
    r->pool = cn_frame_pool_new(4, 640, 480);
    r->tables = cn_up20l_tables_generate(11);
    cn_usb_device_opts o = {0};
    o.config = *cfg;
    o.config.reconnect_poll_ms = 50;
    o.log = r->log;
    o.tables = r->tables;
    expected_hashes(r, &o.config);
    r->dev = cn_usb_device_new(&o, err, sizeof err);
    if (!r->dev)
        fail_msg("device: %s", err);
    r->di = cn_usb_device_iface(r->dev);
}

void rig_open(rig *r, const cn_up20l_emu_opts *eo, int focus, int timeout_ms)
{
    rig_open_x(r, eo, focus, timeout_ms, 0);
}

void rig_close(rig *r)
{
    r->di.stop(r->di.self);
    cn_usb_device_free(r->dev);
    cn_up20l_tables_free(r->tables);
    assert_int_equal(cn_frame_pool_free(r->pool), CN_OK);
    cn_up20l_emu_free(r->emu);
    cn_log_free(r->log);
    fclose(r->logf);
}

char *log_text(rig *r)
{
    static char buf[16384];
    fflush(r->logf);
    long at = ftell(r->logf);
    rewind(r->logf);
    size_t n = fread(buf, 1, sizeof buf - 1, r->logf);
    buf[n] = 0;
    fseek(r->logf, at, SEEK_SET);
    return buf;
}

/* Which real frame a delivered frame is, or -1 (torn or wrong). */
int which(rig *r, const cn_frame *f)
{
    uint64_t h = fnv(f->pixels, (size_t)f->width * (size_t)f->height);
    for (int k = 0; k < 5; k++)
        if (h == r->expect_hash[k])
            return k;
    return -1;
}

cn_up20l_emu_opts emu_opts(double fps)
{
    cn_up20l_emu_opts o = {0};
    o.frames_dir = FRAMES;
    o.fps = fps;
    return o;
}
