/*
 * test_tiff_read.c - every kind of TIFF a scanner, ImageJ, ImageMagick or a script
 * writes, read through the one reader with known pixels. Each file is written here
 * with libtiff from one 37 x 23 pattern (odd sides, so no row or tile comes out even),
 * and each reading is compared with the pattern exactly, or within a JPEG's loss.
 *
 * Kinds: 8-bit grey in strips (typed unsigned, and untyped: "void"), LZW with a predictor, deflate in 16 x 16 tiles, white
 * is zero (MINISWHITE), 12-bit data in 16 bits, full 16 bits, signed 16, 32-bit
 * float 0..1, 1- and 4-bit grey, an 8-bit palette (colour for a frame, its index for
 * a mask), RGB contiguous and in separate planes, RGB with alpha, 16-bit RGB, JPEG
 * YCbCr, CMYK, rows stored bottom up; a palette mask and a 1-bit mask with white
 * zero; and files whose text tag is shorter than due (a damaged DateTime): a 12-bit
 * frame, a palette mask and a two-page stack read as their undamaged twins. Bad
 * input: a compressed strip cut short, 24-bit samples, a stack read as one frame or
 * with fewer pages allowed than it has, each refused by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#define W 37
#define H 23

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

/* The pattern: every grey level appears, neighbours differ. */
static unsigned pat(int x, int y) { return (unsigned)(x * 7 + y * 11) % 256; }
/* A smooth one for the JPEG (its loss is small on it). */
static unsigned smooth(int x, int y) { return (unsigned)(x * 5 + y * 3); }

typedef struct {
    uint16_t photometric, bits, spp, format, planar, compression, orientation;
    uint16_t extra;          /* an alpha sample */
    int tile;                /* tile side, 0 = strips */
    int rows_per_strip;      /* 0: libtiff's default */
    int pages;               /* 1 unless a stack */
    const char *datetime;    /* NULL: none */
    bool palette_colour;     /* PALETTE: colour map of colours, else of indices 0 / 1 / 2 */
    bool twelve_bit;         /* 16-bit samples holding 12-bit data */
} kind;

/* Sample s of pixel (x, y) of page pg, as stored, for kind k. */
static double stored(const kind *k, int x, int y, int s, int pg)
{
    const unsigned v = (pat(x, y) + 40u * (unsigned)pg) % 256;
    switch (k->photometric) {
    case PHOTOMETRIC_MINISWHITE:
        if (k->bits == 1)
            return ((x / 3 + y / 2) % 2) ? 0 : 1; /* bit 0 = white */
        return 255 - v;
    case PHOTOMETRIC_PALETTE:
        return k->palette_colour ? v : (double)((x / 4 + y / 3) % 3);
    case PHOTOMETRIC_RGB:
        if (s == 3)
            return k->bits == 16 ? 65535 : 255; /* alpha */
        if (k->bits == 16)
            return v * 257.0;
        return s == 0 ? v : s == 1 ? 255 - v : v / 2;
    case PHOTOMETRIC_SEPARATED:
        return s == 3 ? 255 - v : 0; /* black ink only */
    default: /* MINISBLACK */
        if (k->compression == COMPRESSION_JPEG)
            return smooth(x, y);
        if (k->format == SAMPLEFORMAT_IEEEFP)
            return v / 255.0;
        if (k->format == SAMPLEFORMAT_INT)
            return (double)v - 100.0;
        if (k->bits == 1)
            return (x + y) % 2;
        if (k->bits == 4)
            return v % 16;
        if (k->bits == 16)
            return k->twelve_bit ? v * 16.0 : v * 257.0;
        return v;
    }
}

static void put_sample(uint8_t *row, int i, double val, const kind *k)
{
    switch (k->bits) {
    case 1:
    case 4: {
        const int bit = i * k->bits;
        row[bit / 8] |= (uint8_t)((unsigned)val << (8 - k->bits - bit % 8));
        break;
    }
    case 8:
        row[i] = (uint8_t)(int)val;
        break;
    case 16:
        if (k->format == SAMPLEFORMAT_INT)
            ((int16_t *)row)[i] = (int16_t)val;
        else
            ((uint16_t *)row)[i] = (uint16_t)val;
        break;
    case 32:
        ((float *)row)[i] = (float)val;
        break;
    }
}

static void write_tiff(const char *path, const kind *k)
{
    TIFF *t = TIFFOpen(path, "w");
    assert_non_null(t);
    const int spp = k->spp ? k->spp : 1;
    const bool separate = k->planar == PLANARCONFIG_SEPARATE;
    for (int pg = 0; pg < (k->pages ? k->pages : 1); pg++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, k->bits);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, k->photometric);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, k->format ? k->format : SAMPLEFORMAT_UINT);
        TIFFSetField(t, TIFFTAG_COMPRESSION, k->compression ? k->compression : COMPRESSION_NONE);
        if (k->compression == COMPRESSION_LZW || k->compression == COMPRESSION_ADOBE_DEFLATE)
            TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
        if (k->compression == COMPRESSION_JPEG) {
            TIFFSetField(t, TIFFTAG_JPEGQUALITY, 95);
            TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        }
        if (k->orientation)
            TIFFSetField(t, TIFFTAG_ORIENTATION, k->orientation);
        if (k->extra) {
            uint16_t ex = EXTRASAMPLE_UNASSALPHA;
            TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &ex);
        }
        if (k->datetime)
            TIFFSetField(t, TIFFTAG_DATETIME, k->datetime);
        if (k->pages > 1) {
            TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
            TIFFSetField(t, TIFFTAG_PAGENUMBER, pg, k->pages);
        }
        if (k->photometric == PHOTOMETRIC_PALETTE) {
            uint16_t r[256], g[256], b[256];
            for (int i = 0; i < 256; i++) {
                /* colours for a frame; for a mask, index 1 red, 2 green (nerve-us's) */
                r[i] = (uint16_t)(k->palette_colour ? i * 257 : i == 1 ? 65535 : 0);
                g[i] = (uint16_t)(k->palette_colour ? (255 - i) * 257 : i == 2 ? 65535 : 0);
                b[i] = (uint16_t)(k->palette_colour ? (i / 2) * 257 : 0);
            }
            TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b);
        }
        const int planes = separate ? spp : 1, per_plane = separate ? 1 : spp;
        const size_t row_bytes = ((size_t)W * per_plane * k->bits + 7) / 8;
        uint8_t *buf = calloc((size_t)H * planes, row_bytes);
        assert_non_null(buf);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < H; y++) {
                /* stored bottom up: the file's first row is the picture's last */
                const int sy = k->orientation == ORIENTATION_BOTLEFT ? H - 1 - y : y;
                uint8_t *row = buf + ((size_t)p * H + (size_t)sy) * row_bytes;
                for (int x = 0; x < W; x++)
                    for (int s = 0; s < per_plane; s++)
                        put_sample(row, x * per_plane + s, stored(k, x, y, separate ? p : s, pg), k);
            }
        if (k->tile) {
            TIFFSetField(t, TIFFTAG_TILEWIDTH, k->tile);
            TIFFSetField(t, TIFFTAG_TILELENGTH, k->tile);
            const tmsize_t ts = TIFFTileSize(t);
            uint8_t *tb = malloc((size_t)ts);
            assert_non_null(tb);
            const size_t trow = ((size_t)k->tile * per_plane * k->bits + 7) / 8;
            for (int p = 0; p < planes; p++)
                for (int ty = 0; ty < H; ty += k->tile)
                    for (int tx = 0; tx < W; tx += k->tile) {
                        memset(tb, 0, (size_t)ts);
                        for (int r = 0; r < k->tile && ty + r < H; r++) {
                            const size_t off = (size_t)tx * per_plane * k->bits / 8;
                            size_t n = trow;
                            if (off + n > row_bytes)
                                n = row_bytes - off;
                            memcpy(tb + (size_t)r * trow,
                                   buf + ((size_t)p * H + (size_t)(ty + r)) * row_bytes + off, n);
                        }
                        assert_true(TIFFWriteTile(t, tb, (uint32_t)tx, (uint32_t)ty, 0,
                                                  (uint16_t)p) >= 0);
                    }
            free(tb);
        } else {
            TIFFSetField(t, TIFFTAG_ROWSPERSTRIP,
                         k->rows_per_strip ? k->rows_per_strip
                                           : (int)TIFFDefaultStripSize(t, 0));
            for (int p = 0; p < planes; p++)
                for (int y = 0; y < H; y++)
                    assert_true(TIFFWriteScanline(t, buf + ((size_t)p * H + (size_t)y) * row_bytes,
                                                  (uint32_t)y, (uint16_t)p) >= 0);
        }
        free(buf);
        assert_true(TIFFWriteDirectory(t));
    }
    TIFFClose(t);
}

/* What the reader should give for pixel (x, y) of page pg of kind k. */
static double expected(const kind *k, cn_image_mode mode, int x, int y, int pg)
{
    const unsigned v = (pat(x, y) + 40u * (unsigned)pg) % 256;
    if (mode == CN_IMAGE_LABEL) {
        if (k->photometric == PHOTOMETRIC_PALETTE)
            return (x / 4 + y / 3) % 3; /* the index */
        if (k->photometric == PHOTOMETRIC_MINISWHITE && k->bits == 1)
            return ((x / 3 + y / 2) % 2) ? 255 : 0; /* white = 1 bit of 0: nerve */
        return 255; /* the 0 / 65535 mask, all set */
    }
    if (k->compression == COMPRESSION_JPEG)
        return smooth(x, y);
    switch (k->photometric) {
    case PHOTOMETRIC_PALETTE:
    case PHOTOMETRIC_RGB:
        if (k->bits == 16)
            return v;
        return floor(0.299 * v + 0.587 * (255 - v) + 0.114 * (v / 2) + 0.5);
    default:
        if (k->format == SAMPLEFORMAT_INT)
            return v; /* -100..155 stretched min..max to 0..255 */
        if (k->bits == 1)
            return (x + y) % 2 ? 255 : 0;
        if (k->bits == 4)
            return (v % 16) * 17;
        return v;
    }
}

/* Reads path in mode (a stack when pages > 1) and compares every pixel with
 * expected(); max_diff is the largest difference allowed (a JPEG's loss). */
static void check_kind(const char *name, const kind *k, cn_image_mode mode, double max_diff)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "%s", tmp_path(name));
    write_tiff(path, k);
    cn_image **pg = NULL;
    int n = 0;
    const int pages = k->pages ? k->pages : 1;
    int rc = cn_image_read_stack(path, mode, 10, &pg, &n, err, sizeof err);
    if (rc != CN_OK)
        fail_msg("%s: refused: %s", name, err);
    assert_int_equal(n, pages);
    double worst = 0, sum = 0;
    int wx = -1, wy = -1, wp = -1, got = 0, want = 0;
    for (int p = 0; p < n; p++) {
        assert_int_equal(pg[p]->w, W);
        assert_int_equal(pg[p]->h, H);
        assert_false(pg[p]->has_spacing);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const double e = expected(k, mode, x, y, p), d = fabs(pg[p]->px[y * W + x] - e);
                sum += d;
                if (d > worst) {
                    worst = d;
                    wx = x, wy = y, wp = p, got = pg[p]->px[y * W + x], want = (int)e;
                }
            }
    }
    print_message("%-22s %s: largest difference %.0f, mean %.2f\n", name,
                  mode == CN_IMAGE_LABEL ? "label" : "grey ", worst, sum / (n * W * H));
    cn_image_stack_free(pg, n);
    if (worst > max_diff)
        fail_msg("%s: page %d pixel (%d, %d) reads %d, not %d", name, wp, wx, wy, got, want);
    if (pages == 1) { /* the same through cn_image_read */
        cn_image *im = NULL;
        rc = cn_image_read(path, mode, &im, err, sizeof err);
        if (rc != CN_OK)
            fail_msg("%s: cn_image_read refused: %s", name, err);
        cn_image_free(im);
    }
}

static void test_tiff_frames(void **st)
{
    (void)st;
    const kind g8 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .rows_per_strip = 5};
    check_kind("grey8.tif", &g8, CN_IMAGE_GREY, 0);
    const kind lzw = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8,
                      .compression = COMPRESSION_LZW};
    check_kind("grey8_lzw.tif", &lzw, CN_IMAGE_GREY, 0);
    const kind tiled = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .tile = 16,
                        .compression = COMPRESSION_ADOBE_DEFLATE};
    check_kind("grey8_tiled.tif", &tiled, CN_IMAGE_GREY, 0);
    const kind untyped = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8,
                          .format = SAMPLEFORMAT_VOID};
    check_kind("grey8_void.tif", &untyped, CN_IMAGE_GREY, 0);
    const kind white = {.photometric = PHOTOMETRIC_MINISWHITE, .bits = 8};
    check_kind("grey8_white.tif", &white, CN_IMAGE_GREY, 0);
    const kind g12 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 16, .rows_per_strip = 3,
                     .twelve_bit = true};
    check_kind("grey16_12bit.tif", &g12, CN_IMAGE_GREY, 0);
    const kind g16 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 16};
    check_kind("grey16.tif", &g16, CN_IMAGE_GREY, 0);
    const kind s16 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 16,
                      .format = SAMPLEFORMAT_INT};
    check_kind("signed16.tif", &s16, CN_IMAGE_GREY, 0);
    const kind f32 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 32,
                      .format = SAMPLEFORMAT_IEEEFP};
    check_kind("float32.tif", &f32, CN_IMAGE_GREY, 0);
    const kind g1 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 1};
    check_kind("grey1.tif", &g1, CN_IMAGE_GREY, 0);
    const kind g4 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 4};
    check_kind("grey4.tif", &g4, CN_IMAGE_GREY, 0);
    const kind pal = {.photometric = PHOTOMETRIC_PALETTE, .bits = 8, .palette_colour = true};
    check_kind("palette8.tif", &pal, CN_IMAGE_GREY, 0);
    const kind rgb = {.photometric = PHOTOMETRIC_RGB, .bits = 8, .spp = 3};
    check_kind("rgb8.tif", &rgb, CN_IMAGE_GREY, 0);
    const kind planes = {.photometric = PHOTOMETRIC_RGB, .bits = 8, .spp = 3,
                         .planar = PLANARCONFIG_SEPARATE, .rows_per_strip = 7};
    check_kind("rgb8_planes.tif", &planes, CN_IMAGE_GREY, 0);
    const kind rgba = {.photometric = PHOTOMETRIC_RGB, .bits = 8, .spp = 4, .extra = 1};
    check_kind("rgba8.tif", &rgba, CN_IMAGE_GREY, 0);
    const kind rgb16 = {.photometric = PHOTOMETRIC_RGB, .bits = 16, .spp = 3};
    check_kind("rgb16.tif", &rgb16, CN_IMAGE_GREY, 0);
    const kind cmyk = {.photometric = PHOTOMETRIC_SEPARATED, .bits = 8, .spp = 4};
    check_kind("cmyk8.tif", &cmyk, CN_IMAGE_GREY, 1);
    const kind bot = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8,
                      .orientation = ORIENTATION_BOTLEFT};
    check_kind("grey8_bottom_up.tif", &bot, CN_IMAGE_GREY, 0);
    const kind jpeg = {.photometric = PHOTOMETRIC_YCBCR, .bits = 8, .spp = 3,
                       .compression = COMPRESSION_JPEG, .rows_per_strip = 16};
    check_kind("ycbcr_jpeg.tif", &jpeg, CN_IMAGE_GREY, 8);
}

static void test_tiff_masks(void **st)
{
    (void)st;
    const kind pal = {.photometric = PHOTOMETRIC_PALETTE, .bits = 8};
    check_kind("mask_palette8.tif", &pal, CN_IMAGE_LABEL, 0);
    const kind white1 = {.photometric = PHOTOMETRIC_MINISWHITE, .bits = 1};
    check_kind("mask_white1.tif", &white1, CN_IMAGE_LABEL, 0);
    /* through cn_mask_read: index 1 is the nerve, 2 (a vessel) is not */
    char err[512];
    cn_image *m = NULL;
    assert_int_equal(cn_mask_read(tmp_path("mask_palette8.tif"), "frame.png", W, H, &m, err,
                                  sizeof err), CN_OK);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_int_equal(m->px[y * W + x], (x / 4 + y / 3) % 3 == 1);
    cn_image_free(m);
    assert_int_equal(cn_mask_read(tmp_path("mask_white1.tif"), "frame.png", W, H, &m, err,
                                  sizeof err), CN_OK);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_int_equal(m->px[y * W + x], (x / 3 + y / 2) % 2);
    cn_image_free(m);
}

/* A text tag shorter than due (a DateTime of 5 bytes, not 20) once kept the file from
 * ITK, which read past it; the frame went through libtiff's 8-bit RGBA interface, so
 * a 12-bit frame read as its top 8 of 16 bits (all but black), a palette mask lost its
 * indices, and a stack was refused. Each now reads as its undamaged twin. */
static void test_tiff_short_text_tag(void **st)
{
    (void)st;
    const kind g12 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 16, .datetime = "2026",
                     .twelve_bit = true};
    check_kind("short_tag_grey16_12bit.tif", &g12, CN_IMAGE_GREY, 0);
    const kind pal = {.photometric = PHOTOMETRIC_PALETTE, .bits = 8, .datetime = "2026"};
    check_kind("short_tag_mask_palette8.tif", &pal, CN_IMAGE_LABEL, 0);
    const kind stack = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .pages = 2,
                        .datetime = "2026"};
    check_kind("short_tag_stack.tif", &stack, CN_IMAGE_GREY, 0);
}

static void expect_refused(const char *name, int max_pages, const char *says)
{
    char err[512];
    cn_image **pg = (cn_image **)1;
    int n = -1;
    const int rc = cn_image_read_stack(tmp_path(name), CN_IMAGE_GREY, max_pages, &pg, &n, err,
                                       sizeof err);
    print_message("%s: %s\n", name, err);
    assert_int_not_equal(rc, CN_OK);
    assert_null(pg);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, name));
    if (!strstr(err, says))
        fail_msg("expected '%s' in: %s", says, err);
}

/* Sets the one-valued SHORT or LONG tag `tag` of a little-endian classic TIFF's first
 * directory to value, in place (libtiff writes the host's order: little-endian here). */
static void set_tag(const char *path, unsigned tag, unsigned value)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    uint8_t b[8192];
    const size_t n = fread(b, 1, sizeof b, f);
    assert_true(n > 8 && b[0] == 'I');
    const uint32_t dir = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
                         (uint32_t)b[7] << 24;
    assert_true(dir + 2 < n);
    const unsigned count = b[dir] | b[dir + 1] << 8;
    bool done = false;
    for (unsigned i = 0; i < count && dir + 2 + 12 * i + 12 <= n; i++) {
        uint8_t *e = b + dir + 2 + 12 * i;
        if ((unsigned)(e[0] | e[1] << 8) != tag)
            continue;
        const unsigned type = e[2] | e[3] << 8;
        memset(e + 8, 0, 4);
        e[8] = (uint8_t)(value & 255);
        e[9] = (uint8_t)(value >> 8);
        if (type == 4) {
            e[10] = (uint8_t)(value >> 16);
            e[11] = (uint8_t)(value >> 24);
        }
        done = true;
    }
    assert_true(done);
    rewind(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_tiff_bad(void **st)
{
    (void)st;
    /* an LZW strip cut to 10 of its bytes: damaged, named, nothing returned */
    const kind lzw = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .rows_per_strip = H,
                      .compression = COMPRESSION_LZW};
    write_tiff(tmp_path("cut.tif"), &lzw);
    set_tag(tmp_path("cut.tif"), TIFFTAG_STRIPBYTECOUNTS, 10);
    expect_refused("cut.tif", 10, "damaged TIFF");

    /* 24 bits per sample: no reader here decodes it; said, not guessed */
    const kind g8 = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .rows_per_strip = H};
    write_tiff(tmp_path("bits24.tif"), &g8);
    set_tag(tmp_path("bits24.tif"), TIFFTAG_BITSPERSAMPLE, 24);
    expect_refused("bits24.tif", 10, "24 bits");

    /* a stack read as one frame: refused by name, as a 3-D image; with room for two
     * pages, refused as a stack of three */
    const kind stack = {.photometric = PHOTOMETRIC_MINISBLACK, .bits = 8, .pages = 3};
    write_tiff(tmp_path("stack3.tif"), &stack);
    char err[512];
    cn_image *im = (cn_image *)1;
    assert_int_equal(cn_image_read(tmp_path("stack3.tif"), CN_IMAGE_GREY, &im, err, sizeof err),
                     CN_EUNSUPPORTED);
    assert_null(im);
    assert_non_null(strstr(err, "stack3.tif"));
    assert_non_null(strstr(err, "3-D"));
    expect_refused("stack3.tif", 2, "a stack of 3 pages");
    int pages = 0;
    assert_int_equal(cn_image_count_pages(tmp_path("stack3.tif"), &pages, err, sizeof err), CN_OK);
    assert_int_equal(pages, 3);
}

static int setup(void **st)
{
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cn_tiff_read_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    TIFFSetWarningHandler(NULL); /* libtiff's own notes while writing */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiff_frames),
        cmocka_unit_test(test_tiff_masks),
        cmocka_unit_test(test_tiff_short_text_tag),
        cmocka_unit_test(test_tiff_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
