/*
 * up20l_frames_png.c - `cn-up20l-frames-png FRAMES_DIR OUT.png`: decodes the five real
 * UP20L frames (up20l_frame_reg17_0..4.raw) with the driver's own decoder and writes
 * them side by side as one grayscale PNG (docs/img/up20l-frames.png is made with it:
 * `ninja docs-up20l-png`). The pixels come from the shared data at build time; no
 * image is copied into the repository by hand.
 */
#include "usb/usb.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP 8

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cn-up20l-frames-png FRAMES_DIR OUT.png\n");
        return 2;
    }
    char err[512];
    cn_up20l_decode_opts o;
    cn_up20l_decode_opts_default(&o);
    cn_up20l_decoder *d = cn_up20l_decoder_new(&o, err, sizeof err);
    if (!d) {
        fprintf(stderr, "cn-up20l-frames-png: %s\n", err);
        return 1;
    }
    int w, h;
    cn_up20l_decoder_size(d, &w, &h);
    cn_frame_pool *pool = cn_frame_pool_new(1, w, h);
    int W = 5 * w + 4 * GAP;
    uint8_t *img = calloc((size_t)W * (size_t)h, 1);
    int rc = 0;
    for (int k = 0; k < 5 && rc == 0; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/up20l_frame_reg17_%d.raw", argv[1], k);
        size_t len = 0;
        uint8_t *raw = (uint8_t *)cn_file_read_all(path, &len);
        cn_frame *f = cn_frame_pool_acquire(pool);
        if (!raw || len != CN_UP20L_FRAME_BYTES || cn_up20l_decode(d, raw, len, f) != CN_OK) {
            fprintf(stderr, "cn-up20l-frames-png: cannot decode %s\n", path);
            rc = 1;
        } else {
            for (int y = 0; y < h; y++)
                memcpy(img + (size_t)y * (size_t)W + (size_t)k * (size_t)(w + GAP),
                       f->pixels + (size_t)y * (size_t)w, (size_t)w);
        }
        cn_frame_unref(f);
        free(raw);
    }
    FILE *out = rc == 0 ? fopen(argv[2], "wb") : NULL;
    if (rc == 0 && !out) {
        fprintf(stderr, "cn-up20l-frames-png: cannot write %s\n", argv[2]);
        rc = 1;
    }
    if (out) {
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png_create_info_struct(png);
        if (setjmp(png_jmpbuf(png))) {
            fprintf(stderr, "cn-up20l-frames-png: libpng failed writing %s\n", argv[2]);
            rc = 1;
        } else {
            png_init_io(png, out);
            png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                         PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
            png_write_info(png, info);
            for (int y = 0; y < h; y++)
                png_write_row(png, img + (size_t)y * (size_t)W);
            png_write_end(png, NULL);
        }
        png_destroy_write_struct(&png, &info);
        fclose(out);
    }
    free(img);
    cn_frame_pool_free(pool);
    cn_up20l_decoder_free(d);
    if (rc == 0)
        printf("wrote %s: five UP20L frames, %d x %d px each at %.3f mm/px\n", argv[2], w, h, o.pixel_mm);
    return rc;
}
