/*
 * png_io.c - PNG reading and writing with libpng.
 *
 * Why libpng and not ITK here: the nerve masks are palette PNGs whose *index*
 * (1 = nerve) is the label; libpng hands us the index directly when no expand
 * transform is requested, while ITK's PNGImageIO expands palettes to RGB by
 * default, and each ITK-templated reader file costs ~15 s / ~630 MB to compile.
 * libpng is already a dependency of ITK and VTK, so nothing new is installed.
 * Errors are caught with setjmp (libpng's documented way) and turned into a
 * message naming the file.
 */
#include "imaging/imaging.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char msg[160];
} png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err_ctx *c = png_get_error_ptr(png);
    if (c)
        snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (e.g. iCCP profile) are not errors for us */
}

static void seterr(char *err, size_t len, const char *path, const char *what)
{
    if (err && len)
        snprintf(err, len, "%s: %s", path ? path : "(null)", what);
}

/* mode 0: grey (luma), mode 1: raw index */
static int read_png(const char *path, int mode, cn_image **out, char *err, size_t err_len)
{
    if (!path || !out) {
        seterr(err, err_len, path, "no path or output given");
        return CN_EINVAL;
    }
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        seterr(err, err_len, path, strerror(errno));
        return CN_ENOENT;
    }
    uint8_t sig[8];
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(fp);
        seterr(err, err_len, path, "not a PNG file (bad signature)");
        return CN_EPARSE;
    }
    png_err_ctx ctx = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error,
                                             on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        seterr(err, err_len, path, "out of memory");
        return CN_ENOMEM;
    }
    /* volatile: modified between setjmp and a possible longjmp */
    cn_image *volatile im = NULL;
    uint8_t *volatile row = NULL;
    int volatile rc = CN_OK;
    if (setjmp(png_jmpbuf(png))) {
        char m[200];
        snprintf(m, sizeof m, "corrupt PNG: %s", ctx.msg[0] ? ctx.msg : "libpng error");
        seterr(err, err_len, path, m);
        rc = CN_EPARSE;
        goto done;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info), bd = png_get_bit_depth(png, info);
    if (w < 1 || h < 1 || w > CN_IMAGE_MAX_SIDE || h > CN_IMAGE_MAX_SIDE) {
        seterr(err, err_len, path, "image size out of range (1..8192 per side)");
        rc = CN_ERANGE;
        goto done;
    }
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE)
        png_set_interlace_handling(png);
    if (mode == 1) {
        if (ct != PNG_COLOR_TYPE_PALETTE && ct != PNG_COLOR_TYPE_GRAY) {
            seterr(err, err_len, path, "label mask must be a palette or grey PNG, not colour");
            rc = CN_EUNSUPPORTED;
            goto done;
        }
        if (bd < 8)
            png_set_packing(png); /* 1/2/4-bit indices to one byte each, values kept */
        if (bd == 16)
            png_set_strip_16(png);
    } else {
        if (ct == PNG_COLOR_TYPE_PALETTE)
            png_set_palette_to_rgb(png);
        if (ct == PNG_COLOR_TYPE_GRAY && bd < 8)
            png_set_expand_gray_1_2_4_to_8(png);
        if (bd == 16)
            png_set_strip_16(png);
        png_set_strip_alpha(png);
        if (png_get_valid(png, info, PNG_INFO_tRNS))
            png_set_tRNS_to_alpha(png), png_set_strip_alpha(png);
        if (ct == PNG_COLOR_TYPE_RGB || ct == PNG_COLOR_TYPE_RGB_ALPHA ||
            ct == PNG_COLOR_TYPE_PALETTE)
            png_set_rgb_to_gray_fixed(png, 1, 29900, 58700); /* luma, 1 = silent */
    }
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int channels = png_get_channels(png, info);
    if (channels != 1 || rowbytes < w) {
        seterr(err, err_len, path, "unexpected PNG layout after conversion");
        rc = CN_EUNSUPPORTED;
        goto done;
    }
    im = cn_image_new((int)w, (int)h);
    if (!im) {
        rc = CN_ENOMEM;
        seterr(err, err_len, path, "out of memory");
        goto done;
    }
    int passes = png_set_interlace_handling(png);
    row = malloc(rowbytes);
    if (!row) {
        rc = CN_ENOMEM;
        seterr(err, err_len, path, "out of memory");
        goto done;
    }
    for (int p = 0; p < passes; p++)
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *dst = im->px + (size_t)y * w;
            if (passes > 1)
                memcpy(row, dst, w);
            png_read_row(png, row, NULL);
            memcpy(dst, row, w);
        }
    png_read_end(png, NULL);
done:
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    free(row);
    if (rc != CN_OK) {
        cn_image_free(im);
        return rc;
    }
    *out = im;
    return CN_OK;
}

int cn_png_read_gray(const char *path, cn_image **out, char *err, size_t err_len)
{
    return read_png(path, 0, out, err, err_len);
}

int cn_png_read_index(const char *path, cn_image **out, char *err, size_t err_len)
{
    return read_png(path, 1, out, err, err_len);
}

int cn_png_write_gray(const char *path, const uint8_t *px, int w, int h, char *err,
                      size_t err_len)
{
    if (!path || cn_image_check(px, w, h)) {
        seterr(err, err_len, path, "invalid image to write");
        return CN_EINVAL;
    }
    char why[600];
    FILE *fp = cn_file_create(path, why, sizeof why); /* never through a planted link */
    if (!fp) {
        if (err && err_len)
            snprintf(err, err_len, "%s", why);
        return CN_EIO;
    }
    png_err_ctx ctx = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int volatile rc = CN_OK;
    if (!png || !info) {
        rc = CN_ENOMEM;
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        seterr(err, err_len, path, ctx.msg[0] ? ctx.msg : "libpng write error");
        rc = CN_EIO;
        goto done;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * w));
    png_write_end(png, NULL);
done:
    png_destroy_write_struct(&png, &info);
    if (fclose(fp) != 0 && rc == CN_OK) {
        seterr(err, err_len, path, "close failed");
        rc = CN_EIO;
    }
    return rc;
}
