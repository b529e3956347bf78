/*
 * image_read_guard.c - a PNG's header read with libpng before ITK is shown the file
 * (image_read_itk.cxx), and every JPEG decoded with libjpeg, each error caught (ITK
 * never reads a JPEG, nor a TIFF: image_read_tiff.c decodes those).
 *
 * Why by hand, beside ITK: ITK 5.2 (Debian 12) does not survive some damaged files.
 * Its PNGImageIO::ReadImageInformation calls png_read_info with no setjmp, so libpng
 * aborts the process on a bad header chunk (a CRC error in IHDR, an invalid chunk
 * type, a file cut inside the header); its JPEGImageIO dies with SIGSEGV when
 * libjpeg stops with an error, in CanReadFile (a JPEG cut inside its header) and in
 * Read (a bad Huffman table, a bad progressive scan): libjpeg's error exit jumps
 * to a handler ITK never set. Measured on 600 damaged files (60 each of baseline,
 * progressive, grey, RGB and palette PNG / JPEG, BMP, TIFF, deflate TIFF,
 * MetaImage and NRRD, cut, bytes changed or inserted at random; twenty-fourth
 * session): `cryonav eval nerve` crashed on 106 before (57 PNG, 44 JPEG, 5
 * MetaImage: see check_meta_header), on none after.
 *
 * The PNG check reads only the header: ITK's own pixel reading catches libpng's
 * errors. The JPEG check decodes the whole stream, and since the twenty-sixth session
 * it keeps what it decodes: ITK never reads a JPEG. Until then ITK decoded the file a
 * second time, and on one damaged JPEG that libjpeg decoded here without an error
 * (extraneous bytes before a table marker; test_image_damaged with 2,000 variants a
 * source found it) ITK's Read died with SIGSEGV inside jpeg_read_scanlines. The
 * pixels are the same libjpeg decoding ITK made (the 562 femoral JPEGs read identical),
 * reduced to 8 bits by image_read_reduce.c. libpng and libjpeg are ITK's own
 * dependencies (nothing new is installed), and each is told the largest side
 * CryoNav reads and how much memory a chunk or its tables may take, so a hostile
 * header cannot make them allocate much either.
 */
#include "imaging/image_read_raw.h"

#include <errno.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MAX_BYTES (8u << 20)  /* a PNG's ancillary chunk (text, ICC profile) */
/* libjpeg's working memory: a progressive file's coefficients take two bytes per
 * sample of the image, so the largest image the reader takes needs twice its size */
#define JPEG_MAX_BYTES (2L * (256L << 20) + (16L << 20))

/* ------------------------------------------------------------------ PNG */

typedef struct {
    char msg[160];
} png_guard;

static void png_guard_error(png_structp png, png_const_charp msg)
{
    png_guard *g = png_get_error_ptr(png);
    if (g)
        snprintf(g->msg, sizeof g->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void png_guard_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* a damaged ancillary chunk is skipped, as ITK's read will */
}

static int png_check(const char *path, char *err, size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cn_errf(err, err_len, path, "cannot open: %s", strerror(errno));
        return CN_EIO;
    }
    png_guard g = {""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &g, png_guard_error,
                                             png_guard_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        fclose(fp);
        cn_errf(err, err_len, path, "out of memory reading the PNG header");
        return CN_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        if (strcmp(g.msg, "Read Error") == 0) /* libpng's words for a short read */
            cn_errf(err, err_len, path, "damaged PNG: the file ends inside its header");
        else
            cn_errf(err, err_len, path, "damaged PNG: %s", g.msg);
        return CN_EPARSE;
    }
    png_set_user_limits(png, CN_IMAGE_MAX_SIDE, CN_IMAGE_MAX_SIDE);
    png_set_chunk_malloc_max(png, CHUNK_MAX_BYTES);
    png_init_io(png, fp);
    png_read_info(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return CN_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void jpeg_guard_exit(j_common_ptr c)
{
    jpeg_guard *g = (jpeg_guard *)c->err;
    (*c->err->format_message)(c, g->msg);
    longjmp(g->jump, 1);
}

static void jpeg_guard_message(j_common_ptr c)
{
    (void)c; /* warnings (a corrupt marker skipped) are not errors here */
}

/* A CMYK or YCCK JPEG's row as grey levels (or, for labels, the brightest channel of
 * its RGB). Photoshop-style files (an Adobe marker) store the inks inverted, 255 =
 * none; others store them plain. */
static void cmyk_row(const JSAMPLE *in, size_t w, bool inverted, cn_image_mode mode,
                     uint8_t *o)
{
    for (size_t x = 0; x < w; x++, in += 4) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        /* each channel = (1 - ink) (1 - black), in 0..255 */
        double r = c * k / 255.0, g = m * k / 255.0, b = y * k / 255.0;
        double v = mode == CN_IMAGE_LABEL ? (r > g ? (r > b ? r : b) : (g > b ? g : b))
                                          : 0.299 * r + 0.587 * g + 0.114 * b;
        v += 0.5;
        o[x] = (uint8_t)(v > 255 ? 255 : (unsigned)v);
    }
}

static int jpeg_check(const char *path, cn_image_mode mode, cn_image **own, char *err,
                      size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cn_errf(err, err_len, path, "cannot open: %s", strerror(errno));
        return CN_EIO;
    }
    struct jpeg_decompress_struct ci;
    jpeg_guard g;
    memset(&g, 0, sizeof g);
    ci.err = jpeg_std_error(&g.pub);
    g.pub.error_exit = jpeg_guard_exit;
    g.pub.output_message = jpeg_guard_message;
    JSAMPLE *volatile row = NULL, *volatile pix = NULL;
    cn_image *volatile im = NULL;
    if (setjmp(g.jump)) {
        jpeg_destroy_decompress(&ci);
        fclose(fp);
        free(row);
        free(pix);
        cn_image_free(im);
        cn_errf(err, err_len, path, "damaged JPEG: %s", g.msg);
        return CN_EPARSE;
    }
    jpeg_create_decompress(&ci);
    ci.mem->max_memory_to_use = JPEG_MAX_BYTES;
    jpeg_stdio_src(&ci, fp);
    int rc = CN_OK;
    if (jpeg_read_header(&ci, TRUE) != JPEG_HEADER_OK) {
        cn_errf(err, err_len, path, "damaged JPEG: no image in it (tables only)");
        rc = CN_EPARSE;
    } else if (ci.image_width < 1 || ci.image_height < 1 || ci.image_width > CN_IMAGE_MAX_SIDE ||
               ci.image_height > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, path, "image size %u x %u outside 1..%d", ci.image_width,
                ci.image_height, CN_IMAGE_MAX_SIDE);
        rc = CN_ERANGE;
    } else if ((size_t)ci.image_width * ci.image_height * (size_t)ci.num_components >
               CN__PIXEL_MAX_BYTES) {
        cn_errf(err, err_len, path, "%u x %u x %d bytes of pixel data: larger than the %zu MiB "
                "allowed", ci.image_width, ci.image_height, ci.num_components,
                CN__PIXEL_MAX_BYTES >> 20);
        rc = CN_ERANGE;
    } else {
        /* every scan decoded, here, into the image: libjpeg stops with an error on data
         * ITK's reader would die on (it has no handler for errors while it reads the
         * rows), and ITK was not safe even on what decoded here (below). A CMYK or YCCK
         * file: ITK 5.2 hands over its four stored channels as if they were R G B A, so a
         * grey frame saved as CMYK read as a white, saturated one (nerve-us, ten frames:
         * Dice 0 against 0.656); it is converted here, its inks as they are stored */
        bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
        if (cmyk)
            ci.out_color_space = JCS_CMYK;
        else if (ci.jpeg_color_space != JCS_GRAYSCALE)
            ci.out_color_space = JCS_RGB; /* YCbCr, RGB: libjpeg converts */
        jpeg_start_decompress(&ci);
        const int oc = ci.output_components;
        if (oc != (cmyk ? 4 : ci.out_color_space == JCS_GRAYSCALE ? 1 : 3)) {
            cn_errf(err, err_len, path, "a JPEG of %d components in colour space %d: not an "
                    "image CryoNav can use", oc, (int)ci.jpeg_color_space);
            rc = CN_EUNSUPPORTED;
        } else {
            row = malloc((size_t)ci.output_width * (size_t)oc);
            /* grey and RGB: the samples, reduced below; CMYK: grey levels directly */
            pix = cmyk ? NULL : malloc((size_t)ci.output_width * ci.output_height * (size_t)oc);
            im = cmyk ? cn_image_new((int)ci.output_width, (int)ci.output_height) : NULL;
            if (!row || (cmyk ? !im : !pix)) {
                cn_errf(err, err_len, path, "out of memory");
                rc = CN_ENOMEM;
            }
        }
        while (rc == CN_OK && ci.output_scanline < ci.output_height) {
            const size_t y = ci.output_scanline;
            JSAMPROW r = cmyk ? row : pix + y * (size_t)ci.output_width * (size_t)oc;
            if (jpeg_read_scanlines(&ci, &r, 1) != 1) {
                cn_errf(err, err_len, path, "damaged JPEG: its rows end at row %zu of %u", y,
                        ci.output_height);
                rc = CN_EPARSE;
                break;
            }
            if (cmyk)
                cmyk_row(row, ci.output_width, ci.saw_Adobe_marker, mode,
                         im->px + y * (size_t)ci.output_width);
        }
        if (rc == CN_OK)
            jpeg_finish_decompress(&ci);
        if (rc == CN_OK && !cmyk) {
            cn_image *one = NULL;
            rc = cn__raw_reduce(pix, CN__SAMPLE_U8, oc, ci.output_width, ci.output_height, 1, mode,
                                NULL, &one, path, err, err_len);
            im = one;
        }
    }
    free(row);
    free(pix);
    jpeg_destroy_decompress(&ci);
    fclose(fp);
    if (rc == CN_OK && im && own)
        *own = im;
    else
        cn_image_free(im);
    return rc;
}

int cn__image_guard(const char *path, const unsigned char *head, size_t n, cn_image_mode mode,
                    cn_image **own, char *err, size_t err_len)
{
    if (own)
        *own = NULL;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!path || !head)
        return CN_EINVAL;
    if (n >= 8 && memcmp(head, png_sig, 8) == 0)
        return png_check(path, err, err_len);
    if (n >= 2 && head[0] == 0xff && head[1] == 0xd8) /* SOI; libjpeg skips bytes before a marker */
        return jpeg_check(path, mode, own, err, err_len);
    return CN_OK;
}
