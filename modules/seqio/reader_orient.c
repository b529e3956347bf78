/*
 * reader_orient.c - a frame the way up the product needs it: PLUS's image
 * orientation turned to MF when a frame is read.
 *
 * PLUS names how an ultrasound image lies in its pixels with two letters
 * (UltrasoundImageOrientation, NRRD "ultrasound image orientation"): the first says
 * where the column index runs, the second where the row index runs; M / U towards
 * the probe's marked / unmarked side, F / N towards far (deep) / near. PLUS holds
 * every image as MF in memory and turns a file's frames to MF when it reads them;
 * its ImageToProbe calibration is in MF pixels. Everything CryoNav finds in a frame
 * (skin at the top, the needle's entry side, ice depth from the skin line) needs the
 * rows to run into depth, so the reader does what PLUS does. Before, the code was
 * read and ignored: a UN file was analysed and drawn upside down (the thirty-sixth
 * session's review). A third letter (MFA: the slice axis of a 3-D volume) says
 * nothing about a 2-D frame. A code that is no orientation ("XX": not an ultrasound
 * image, or anything else) leaves the pixels as stored, and `info` says so.
 *
 * Flips are done in place in the frame; a transposed code (FM, NU ...) is read into a
 * frame-sized buffer the reader keeps, then written turned into the frame.
 */
#include "reader_priv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool lateral(char c) { return c == 'M' || c == 'U'; }
static bool axial(char c) { return c == 'F' || c == 'N'; }

/* The steps from the stored pixels to MF for an orientation code; false when the code
 * is no PLUS orientation of a 2-D image. */
static bool orientation_plan(const char *code, unsigned *plan) {
    char c[3] = {0, 0, 0};
    size_t n = strlen(code);
    if (n < 2 || n > 3) return false;
    for (size_t i = 0; i < n; i++)
        c[i] = (char)toupper((unsigned char)code[i]);
    if (n == 3 && c[2] != 'A' && c[2] != 'D') return false;
    *plan = 0;
    if (lateral(c[0]) && axial(c[1])) {
        if (c[0] == 'U') *plan |= CN_SEQ_ORIENT_FLIP_X;
        if (c[1] == 'N') *plan |= CN_SEQ_ORIENT_FLIP_Y;
        return true;
    }
    if (axial(c[0]) && lateral(c[1])) { /* columns run into depth: turned first */
        *plan |= CN_SEQ_ORIENT_TRANSPOSE;
        if (c[1] == 'U') *plan |= CN_SEQ_ORIENT_FLIP_X;
        if (c[0] == 'N') *plan |= CN_SEQ_ORIENT_FLIP_Y;
        return true;
    }
    return false;
}

int cn_rd_orientation(cn_seq_reader *r) {
    cn_seq_info *in = &r->info;
    r->stored_w = in->width;
    r->stored_h = in->height;
    in->orient_done = 0;
    in->orientation_unknown = false;
    if (!in->orientation[0] || in->frame_bytes == 0) return CN_OK;
    unsigned plan;
    if (!orientation_plan(in->orientation, &plan)) {
        in->orientation_unknown = true;
        return CN_OK;
    }
    in->orient_done = plan;
    if (plan & CN_SEQ_ORIENT_TRANSPOSE) {
        /* the frame as read is turned: its size and the header's spacing with it (a
         * frame's ImageToProbe is in MF pixels already, as in PLUS) */
        in->width = r->stored_h;
        in->height = r->stored_w;
        double s = in->spacing[0];
        in->spacing[0] = in->spacing[1];
        in->spacing[1] = s;
        r->orient_buf = malloc((size_t)r->stored_w * (size_t)r->stored_h);
        if (!r->orient_buf) return CN_ENOMEM;
    }
    return CN_OK;
}

uint8_t *cn_rd_orient_target(cn_seq_reader *r, cn_frame *f) {
    return r->info.orient_done & CN_SEQ_ORIENT_TRANSPOSE ? r->orient_buf : f->pixels;
}

void cn_rd_orient_frame(const cn_seq_reader *r, cn_frame *f) {
    const unsigned plan = r->info.orient_done;
    if (!plan) return;
    const int w = r->info.width, h = r->info.height; /* as read: f's size */
    const bool fx = plan & CN_SEQ_ORIENT_FLIP_X, fy = plan & CN_SEQ_ORIENT_FLIP_Y;
    uint8_t *d = f->pixels;
    if (plan & CN_SEQ_ORIENT_TRANSPOSE) {
        /* stored column index = the row as read, stored row = the column */
        const uint8_t *s = r->orient_buf;
        const size_t sw = (size_t)r->stored_w;
        for (int y = 0; y < h; y++) {
            const size_t sx = (size_t)(fy ? h - 1 - y : y);
            uint8_t *row = d + (size_t)y * (size_t)w;
            for (int x = 0; x < w; x++)
                row[x] = s[(size_t)(fx ? w - 1 - x : x) * sw + sx];
        }
        return;
    }
    if (fy)
        for (int y = 0; y < h / 2; y++) {
            uint8_t *a = d + (size_t)y * (size_t)w, *b = d + (size_t)(h - 1 - y) * (size_t)w;
            for (int x = 0; x < w; x++) {
                uint8_t t = a[x];
                a[x] = b[x];
                b[x] = t;
            }
        }
    if (fx)
        for (int y = 0; y < h; y++) {
            uint8_t *a = d + (size_t)y * (size_t)w;
            for (int x = 0; x < w / 2; x++) {
                uint8_t t = a[x];
                a[x] = a[w - 1 - x];
                a[w - 1 - x] = t;
            }
        }
}
