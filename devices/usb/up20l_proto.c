/*
 * up20l_proto.c - the Healson UP20L's requests on top of the libusb engine.
 *
 * Every vendor OUT control request carries a 16-byte zero data stage; a register
 * write is 0xB2 wValue 1 followed by the two bytes [address, value] on bulk OUT
 * 0x02; a read selects the register with [0xFF, address] and fetches it with 0xB3
 * wValue 1 and a 512-byte bulk IN whose byte 1 is the value. Tables follow
 * [0x10, id] with 0xB2 wValue 2 and chunks of at most 4096 bytes.
 *
 * The start-up is the vendor software's own order, step for step, as captured in
 * session_data_usb_light.bin (the only capture whose start-up the status-poll thread
 * did not interleave): identify, the 0x0E query, identify(1), reads of 0x06/0x07/
 * 0x05, the seven 4-byte writes, register writes each read back, the nine tables,
 * 0xB6, then streaming on. Register values are the vendor start-up's; depth and
 * focus come from the configuration. tests/unit/usb compares this against the
 * captured sessions.
 */
#include "usb/usb.h"

#include <stdio.h>
#include <string.h>

#define CTRL_TIMEOUT_MS 1000
#define REQ_OUT 0x40
#define REQ_IN 0xC0

static int vendor_out(cn_usb_engine *e, uint8_t req, uint16_t wv)
{
    uint8_t zeros[16] = {0};
    int r = cn_usb_engine_control(e, REQ_OUT, req, wv, 0, zeros, sizeof zeros, CTRL_TIMEOUT_MS);
    return r < 0 ? r : CN_OK;
}

static int pair(cn_usb_engine *e, uint8_t a, uint8_t b)
{
    int r = vendor_out(e, 0xB2, 1);
    if (r != CN_OK)
        return r;
    uint8_t d[2] = {a, b};
    r = cn_usb_engine_bulk(e, CN_UP20L_EP_OUT, d, 2, CTRL_TIMEOUT_MS);
    return r < 0 ? r : r == 2 ? CN_OK : CN_EIO;
}

static int fetch512(cn_usb_engine *e, uint16_t wv, uint8_t *reply)
{
    int r = vendor_out(e, 0xB3, wv);
    if (r != CN_OK)
        return r;
    r = cn_usb_engine_bulk(e, CN_UP20L_EP_IN, reply, CN_UP20L_REG_REPLY, CTRL_TIMEOUT_MS);
    return r < 0 ? r : r >= 2 ? CN_OK : CN_EPARSE;
}

int cn_up20l_identify(cn_usb_engine *e, char *err, size_t err_len)
{
    uint8_t b[12] = {0};
    int r = cn_usb_engine_control(e, REQ_IN, 0xB8, 0, 0, b, sizeof b, CTRL_TIMEOUT_MS);
    if (r < 0) {
        snprintf(err, err_len, "identify request failed: %s", cn_strerror(r));
        return r;
    }
    static const uint8_t want[12] = {0xb8, 0x00, 0x01, 0x00, 'H', 'E', 'A', 'L', 'S', 'O', 'N', 0};
    if (r != 12 || memcmp(b, want, 12) != 0) {
        char hex[64] = "";
        for (int i = 0; i < r && i < 12; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * (size_t)i, "%02x ", b[i]);
        snprintf(err, err_len,
                 "device %04x:%04x is not a Healson UP20L: identify answered %d bytes [%s] instead "
                 "of b8 00 01 00 \"HEALSON\"",
                 CN_UP20L_VID, CN_UP20L_PID, r, hex);
        return CN_EUNSUPPORTED;
    }
    return CN_OK;
}

int cn_up20l_reg_write(cn_usb_engine *e, uint8_t reg, uint8_t value) { return pair(e, reg, value); }

int cn_up20l_reg_read(cn_usb_engine *e, uint8_t reg, uint8_t *value)
{
    uint8_t reply[CN_UP20L_REG_REPLY];
    int r = pair(e, 0xFF, reg);
    if (r == CN_OK)
        r = fetch512(e, 1, reply);
    if (r == CN_OK && value)
        *value = reply[1];
    return r;
}

int cn_up20l_table_upload(cn_usb_engine *e, uint8_t id, const uint8_t *data, size_t len)
{
    int r = pair(e, 0x10, id);
    if (r == CN_OK)
        r = vendor_out(e, 0xB2, 2);
    for (size_t off = 0; r == CN_OK && off < len; off += CN_UP20L_CHUNK) {
        int n = (int)(len - off < CN_UP20L_CHUNK ? len - off : CN_UP20L_CHUNK);
        int w = cn_usb_engine_bulk(e, CN_UP20L_EP_OUT, (uint8_t *)data + off, n, CTRL_TIMEOUT_MS);
        r = w < 0 ? w : w == n ? CN_OK : CN_EIO;
    }
    return r;
}

/* One step of the start-up script. */
typedef enum { S_ID0, S_ID1, S_QUERY, S_READ, S_WRITE, S_WRITE_READ, S_TABLE, S_TGC4, S_B6 } step_kind;
typedef struct {
    step_kind k;
    uint8_t a, v;
} step;

static int run_step(cn_usb_engine *e, const step *s, const cn_up20l_tables *t, char *what, size_t wlen)
{
    uint8_t reply[CN_UP20L_REG_REPLY], id1[18];
    int r = CN_OK;
    switch (s->k) {
    case S_ID0:
        return CN_OK; /* done by the caller, with its own message */
    case S_ID1:
        snprintf(what, wlen, "identify(1)");
        r = cn_usb_engine_control(e, REQ_IN, 0xB8, 1, 0, id1, sizeof id1, CTRL_TIMEOUT_MS);
        return r < 0 ? r : CN_OK;
    case S_QUERY:
        snprintf(what, wlen, "query 0x%02x", s->a);
        r = pair(e, 0x10, s->a);
        return r == CN_OK ? fetch512(e, 2, reply) : r;
    case S_READ:
        snprintf(what, wlen, "read of register 0x%02x", s->a);
        return cn_up20l_reg_read(e, s->a, NULL);
    case S_WRITE:
        snprintf(what, wlen, "write of register 0x%02x", s->a);
        return cn_up20l_reg_write(e, s->a, s->v);
    case S_WRITE_READ: {
        snprintf(what, wlen, "write of register 0x%02x", s->a);
        uint8_t back = 0;
        r = cn_up20l_reg_write(e, s->a, s->v);
        if (r == CN_OK)
            r = cn_up20l_reg_read(e, s->a, &back);
        return r;
    }
    case S_TABLE: {
        snprintf(what, wlen, "upload of table 0x%02x", s->a);
        size_t len = 0;
        const uint8_t *d = cn_up20l_tables_get(t, s->a, &len);
        if (!d)
            return CN_ENOENT;
        return cn_up20l_table_upload(e, s->a, d, len);
    }
    case S_TGC4: {
        snprintf(what, wlen, "4-byte write %d after [0x10, 0x04]", s->a + 1);
        const uint8_t *w = cn_up20l_tables_tgc4(t);
        r = pair(e, 0x10, 0x04);
        if (r == CN_OK)
            r = vendor_out(e, 0xB2, 2);
        if (r == CN_OK) {
            int n = cn_usb_engine_bulk(e, CN_UP20L_EP_OUT, (uint8_t *)w + 4 * s->a, 4, CTRL_TIMEOUT_MS);
            r = n < 0 ? n : n == 4 ? CN_OK : CN_EIO;
        }
        return r;
    }
    case S_B6:
        snprintf(what, wlen, "request 0xB6");
        return vendor_out(e, 0xB6, 0);
    }
    return CN_EINVAL;
}

int cn_up20l_startup(cn_usb_engine *e, const cn_up20l_config *c, const cn_up20l_tables *t,
                     char *err, size_t err_len)
{
    int r = cn_up20l_identify(e, err, err_len);
    if (r != CN_OK)
        return r;
    const cn_up20l_depth_preset *p = &c->presets[c->preset];
    /* Reads that the vendor pairs with a preceding write use S_WRITE then S_READ so the
     * order (W23 W24 R23 R24) matches the capture exactly. */
    const step script[] = {
        {S_QUERY, 0x0E, 0}, {S_ID1, 0, 0}, {S_READ, 0x06, 0}, {S_READ, 0x07, 0}, {S_READ, 0x05, 0},
        {S_TGC4, 0, 0}, {S_TGC4, 1, 0}, {S_TGC4, 2, 0}, {S_TGC4, 3, 0}, {S_TGC4, 4, 0},
        {S_TGC4, 5, 0}, {S_TGC4, 6, 0},
        {S_WRITE_READ, 0x1B, 0x00},
        {S_WRITE, 0x23, 0xE0}, {S_WRITE, 0x24, 0x01}, {S_READ, 0x23, 0}, {S_READ, 0x24, 0},
        {S_WRITE, 0x25, 0xDF}, {S_WRITE, 0x26, 0x01}, {S_READ, 0x25, 0}, {S_READ, 0x26, 0},
        {S_TABLE, 0x00, 0},
        {S_WRITE_READ, 0x1A, 0x06},
        {S_TABLE, 0x05, 0}, {S_TABLE, 0x06, 0}, {S_TABLE, 0x03, 0}, {S_TABLE, 0x0C, 0},
        {S_TABLE, 0x0A, 0}, {S_TABLE, 0x09, 0}, {S_TABLE, 0x07, 0}, {S_TABLE, 0x08, 0},
        {S_WRITE_READ, 0x20, p->reg20},
        {S_TABLE, 0x08, 0},
        {S_WRITE, 0x2B, p->reg2b}, {S_WRITE, 0x2C, p->reg2c},
        {S_WRITE_READ, 0x17, (uint8_t)c->focus_zone},
        {S_WRITE, 0x27, 0x19}, {S_WRITE, 0x28, 0x00}, {S_READ, 0x27, 0}, {S_READ, 0x28, 0},
        {S_WRITE, 0x29, 0x7C}, {S_WRITE, 0x2A, 0x01}, {S_READ, 0x29, 0}, {S_READ, 0x2A, 0},
        {S_WRITE_READ, 0x18, 0x01},
        {S_WRITE_READ, 0x40, 0x0B},
        {S_WRITE_READ, 0x41, 0x01},
        {S_READ, 0x05, 0}, {S_READ, 0x05, 0},
        {S_B6, 0, 0},
        /* streaming on */
        {S_WRITE, 0x12, 0x01}, {S_WRITE, 0xFE, 0xAA}, {S_WRITE_READ, 0x11, 0x00},
    };
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        char what[96] = "";
        r = run_step(e, &script[i], t, what, sizeof what);
        if (r != CN_OK) {
            snprintf(err, err_len, "UP20L start-up step %zu (%s) failed: %s", i + 1, what,
                     r == CN_ECLOSED ? "probe unplugged" : cn_strerror(r));
            return r;
        }
    }
    return CN_OK;
}

int cn_up20l_set_freeze(cn_usb_engine *e, bool frozen)
{
    int r = cn_up20l_reg_write(e, 0x11, frozen ? 1 : 0);
    uint8_t back = 0;
    if (r == CN_OK)
        r = cn_up20l_reg_read(e, 0x11, &back);
    return r;
}

int cn_up20l_read_frame(cn_usb_engine *e, const cn_up20l_config *c, uint8_t *raw, size_t len,
                        int chunks, int *received, char *err, size_t err_len)
{
    if (received)
        *received = 0;
    if ((size_t)chunks * CN_UP20L_CHUNK != len) {
        snprintf(err, err_len, "frame buffer of %zu bytes is not %d chunks", len, chunks);
        return CN_EINVAL;
    }
    int r = vendor_out(e, 0xB3, 0);
    if (r != CN_OK) {
        snprintf(err, err_len, "frame request refused: %s",
                 r == CN_EIO ? "the probe stalled it (not started or frozen?)"
                 : r == CN_ECLOSED ? "probe unplugged" : cn_strerror(r));
        return r;
    }
    /* The vendor reads 4096 B at a time; a bulk transfer may also span several of
     * those (USB fills it packet by packet), which costs fewer requests per frame. */
    int xfer = c->transfer_bytes >= CN_UP20L_CHUNK ? c->transfer_bytes : CN_UP20L_CHUNK;
    while (len % (size_t)xfer != 0)
        xfer -= CN_UP20L_CHUNK;
    return cn_usb_engine_read_chunks(e, CN_UP20L_EP_IN, raw, xfer, (int)(len / (size_t)xfer),
                                     c->transfers_in_flight, c->transfer_timeout_ms, received, err,
                                     err_len);
}
