/*
 * usb_rec.c - USB request records: the USBREC01 capture format and the UP20L
 * tokenizer.
 *
 * A captured session is a list of bus requests (control setups, bulk lengths, the
 * first bytes of OUT data). The tokenizer folds them into protocol steps - identify,
 * register write, register select + read, table + data stage, frame request + its
 * bulk reads - so two request streams (the vendor software's and our driver's, as
 * the emulator saw it) can be compared step by step while ignoring table contents
 * and transfer timing. The vendor's status poll of register 0x16 runs on its own
 * timer and lands at random points, so it can be dropped before comparing.
 */
#include "usb/usb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int cn_usbrec_load(const char *path, cn_usb_req **out, size_t *n_out, char *err, size_t err_len)
{
    *out = NULL;
    *n_out = 0;
    size_t len = 0;
    char why[600] = "";
    uint8_t *b = (uint8_t *)cn_file_read(path, CN_FILE_READ_MAX, &len, why, sizeof why);
    if (!b) {
        snprintf(err, err_len, "%s", why);
        return CN_EIO;
    }
    int rc = CN_OK;
    if (len < 16 || memcmp(b, "USBREC01", 8) != 0) {
        snprintf(err, err_len, "%s: not a USBREC01 file (bad magic or shorter than 16 bytes)", path);
        free(b);
        return CN_EPARSE;
    }
    uint32_t count = rd32(b + 8);
    /* Each record needs at least its 32-byte header: bound the allocation by the file. */
    if (count > (len - 16) / 32) {
        snprintf(err, err_len, "%s: header claims %u records but the file holds at most %zu", path,
                 count, (len - 16) / 32);
        free(b);
        return CN_EPARSE;
    }
    cn_usb_req *r = calloc(count ? count : 1, sizeof *r);
    if (!r) {
        free(b);
        snprintf(err, err_len, "%s: out of memory", path);
        return CN_ENOMEM;
    }
    size_t off = 16;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 32) {
            snprintf(err, err_len, "%s: record %u header truncated at byte %zu", path, i, off);
            rc = CN_EPARSE;
            break;
        }
        const uint8_t *h = b + off;
        uint32_t dlen = rd32(h + 28);
        if (dlen > len - off - 32) {
            snprintf(err, err_len, "%s: record %u data length %u runs past the end of the file", path,
                     i, dlen);
            rc = CN_EPARSE;
            break;
        }
        cn_usb_req *q = &r[i];
        q->type = h[0];
        q->ep = h[1];
        int64_t t;
        memcpy(&t, h + 8, 8);
        q->t_us = t;
        memcpy(q->setup, h + 16, 8);
        q->length = rd32(h + 24);
        q->n_data = (uint8_t)(dlen < 4 ? dlen : 4);
        memcpy(q->data, h + 32, q->n_data);
        off += 32 + dlen;
    }
    free(b);
    if (rc != CN_OK) {
        free(r);
        return rc;
    }
    *out = r;
    *n_out = count;
    return CN_OK;
}

size_t cn_up20l_tokenize(const cn_usb_req *r, size_t n, cn_up20l_token *out, size_t max)
{
    size_t k = 0;
    enum { NONE, REG_PAIR, DATA_STAGE, READ_IN, FRAME_IN } expect = NONE;
    long last_table = -1;
    for (size_t i = 0; i < n && k < max; i++) {
        const cn_usb_req *q = &r[i];
        if (q->type == CN_USB_XFER_CONTROL) {
            uint8_t bm = q->setup[0], br = q->setup[1];
            uint16_t wv = (uint16_t)(q->setup[2] | q->setup[3] << 8);
            if ((bm & 0x60) != 0x40) { /* not a vendor request */
                expect = NONE;
                continue;
            }
            cn_up20l_token t = {CN_UP20L_TOK_OTHER, br, (uint8_t)wv, 0};
            if (bm == 0xC0 && br == 0xB8) {
                t.kind = CN_UP20L_TOK_IDENTIFY;
                t.a = (uint8_t)wv;
                expect = NONE;
            } else if (bm == 0x40 && br == 0xB2 && wv == 1) {
                expect = REG_PAIR;
                continue;
            } else if (bm == 0x40 && br == 0xB2 && wv == 2) {
                expect = DATA_STAGE;
                continue;
            } else if (bm == 0x40 && br == 0xB3) {
                t.kind = wv == 0 ? CN_UP20L_TOK_FRAME : wv == 1 ? CN_UP20L_TOK_READ
                                                                  : CN_UP20L_TOK_QUERY;
                t.a = t.v = 0;
                expect = wv == 0 ? FRAME_IN : READ_IN;
            } else if (bm == 0x40 && br == 0xB6) {
                t.kind = CN_UP20L_TOK_B6;
                t.a = t.v = 0;
                expect = NONE;
            } else {
                expect = NONE;
            }
            out[k++] = t;
        } else if (q->type == CN_USB_XFER_BULK) {
            bool in = q->ep & 0x80;
            if (!in && expect == REG_PAIR && q->n_data >= 2) {
                cn_up20l_token t = {CN_UP20L_TOK_WRITE, q->data[0], q->data[1], 0};
                if (q->data[0] == 0xFF) {
                    t.kind = CN_UP20L_TOK_SELECT;
                    t.a = q->data[1];
                    t.v = 0;
                } else if (q->data[0] == 0x10) {
                    t.kind = CN_UP20L_TOK_TABLE;
                    t.a = q->data[1];
                    t.v = 0;
                    last_table = (long)k;
                }
                out[k++] = t;
                expect = NONE;
            } else if (!in && expect == DATA_STAGE) {
                if (last_table >= 0)
                    out[last_table].n++;
            } else if (in && expect == FRAME_IN && k > 0 && out[k - 1].kind == CN_UP20L_TOK_FRAME) {
                out[k - 1].n++;
            } else if (in && expect == READ_IN) {
                expect = NONE; /* the 512-byte answer belongs to the READ/QUERY */
            }
        }
    }
    return k;
}

size_t cn_up20l_tokens_drop_status_polls(cn_up20l_token *t, size_t n)
{
    size_t w = 0;
    int pending_reads_to_drop = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].kind == CN_UP20L_TOK_SELECT && t[i].a == 0x16) {
            pending_reads_to_drop++;
            continue;
        }
        if (t[i].kind == CN_UP20L_TOK_READ && pending_reads_to_drop > 0) {
            pending_reads_to_drop--;
            continue;
        }
        t[w++] = t[i];
    }
    return w;
}

const char *cn_up20l_token_str(const cn_up20l_token *t, char *buf, size_t len)
{
    switch (t->kind) {
    case CN_UP20L_TOK_IDENTIFY: snprintf(buf, len, "ID%u", t->a); break;
    case CN_UP20L_TOK_WRITE: snprintf(buf, len, "W%02x=%02x", t->a, t->v); break;
    case CN_UP20L_TOK_SELECT: snprintf(buf, len, "S%02x", t->a); break;
    case CN_UP20L_TOK_READ: snprintf(buf, len, "R"); break;
    case CN_UP20L_TOK_QUERY: snprintf(buf, len, "Q"); break;
    case CN_UP20L_TOK_TABLE: snprintf(buf, len, "T%02xx%d", t->a, t->n); break;
    case CN_UP20L_TOK_B6: snprintf(buf, len, "B6"); break;
    case CN_UP20L_TOK_FRAME: snprintf(buf, len, "Fx%d", t->n); break;
    default: snprintf(buf, len, "?%02x/%02x", t->a, t->v); break;
    }
    return buf;
}
