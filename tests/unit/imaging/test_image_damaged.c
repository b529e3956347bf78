/*
 * test_image_damaged.c - damaged files through the one image reader (cn_image_read,
 * cn_mask_read): each gives an error that names the file and nothing read, and the
 * caller lives on.
 *
 * The defects (twenty-fourth session): ITK 5.2, under the reader, does not survive
 * some damage. libpng aborted the process on a damaged PNG header (ITK reads it with
 * no error handler set); a JPEG cut inside its header crashed ITK's format check,
 * and a JPEG whose tables or scans libjpeg refuses crashed ITK's pixel reading;
 * MetaIO overflowed a 255-byte field (the C library's check aborted) when a
 * damaged ElementDataFile key let it read pixel data as header lines. A real
 * dataset may hold such a file (a copy cut short, a bad sector), and `cryonav eval`
 * lost the whole run to it. The named cases below each crashed before; the seeded
 * screen after them damages files of every format the reader takes at random
 * (cut, bytes changed, bytes inserted), as the session's screen of 600 did.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"

#include <jpeglib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* A speckled gradient, so that every format has real content to code. */
static void test_image(uint8_t *px, int w, int h)
{
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1103515245u + 12345u;
            px[(size_t)y * w + x] = (uint8_t)((x * 3 + y * 2) / 2 + (int)((s >> 24) & 31));
        }
}

/* A grey JPEG written with libjpeg (baseline, or progressive). */
static uint8_t *make_jpeg(const uint8_t *px, int w, int h, bool progressive, size_t *n)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)y * w);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    uint8_t *out = malloc(len);
    memcpy(out, buf, len);
    free(buf);
    *n = len;
    return out;
}

/* The first marker 0xFF m after the start of the file, or -1. */
static long find_marker(const uint8_t *b, size_t n, uint8_t m)
{
    for (size_t i = 2; i + 1 < n; i++)
        if (b[i] == 0xff && b[i + 1] == m)
            return (long)i;
    return -1;
}

/* The file must be refused with its name and a reason in the message, nothing read. */
static void expect_refused(const char *name, const char *why)
{
    cn_image *im = (cn_image *)1;
    char err[512] = "";
    int rc = cn_image_read(tmp_path(name), CN_IMAGE_GREY, &im, err, sizeof err);
    print_message("%s: %s\n", name, err);
    assert_int_not_equal(rc, CN_OK);
    assert_null(im);
    assert_non_null(strstr(err, name));
    if (why && !strstr(err, why))
        fail_msg("%s: expected '%s' in: %s", name, why, err);
}

static void test_damaged_png(void **st)
{
    (void)st;
    uint8_t px[64 * 48];
    test_image(px, 64, 48);
    char err[512];
    assert_int_equal(cn_png_write_gray(tmp_path("ok.png"), px, 64, 48, err, sizeof err), CN_OK);
    size_t n;
    uint8_t *b = slurp(tmp_path("ok.png"), &n);
    /* cut inside the signature's chunk and inside IHDR */
    write_file(tmp_path("cut16.png"), b, 16);
    expect_refused("cut16.png", "damaged PNG");
    write_file(tmp_path("cut33.png"), b, 33);
    expect_refused("cut33.png", "the file ends inside its header");
    /* IHDR's CRC wrong (bytes 29-32) */
    uint8_t *d = malloc(n);
    memcpy(d, b, n);
    d[30] ^= 0x5a;
    write_file(tmp_path("crc.png"), d, n);
    expect_refused("crc.png", "CRC");
    /* the chunk after IHDR with a type that is not letters */
    memcpy(d, b, n);
    memcpy(d + 37, "\x04\x05\x06\x07", 4);
    write_file(tmp_path("type.png"), d, n);
    expect_refused("type.png", "invalid chunk type");
    free(d);
    free(b);
}

static void test_damaged_jpeg(void **st)
{
    (void)st;
    uint8_t px[64 * 48];
    test_image(px, 64, 48);
    size_t n;
    uint8_t *b = make_jpeg(px, 64, 48, false, &n);
    write_file(tmp_path("ok.jpg"), b, n);
    cn_image *im = NULL;
    char err[512];
    assert_int_equal(cn_image_read(tmp_path("ok.jpg"), CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
    cn_image_free(im);
    /* cut inside the header: ITK's format check died on each */
    const size_t cuts[] = {8, 16, 33, 100};
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "cut%zu.jpg", cuts[k]);
        write_file(tmp_path(name), b, cuts[k]);
        expect_refused(name, "damaged JPEG");
    }
    /* a Huffman table that counts more codes than it can hold: ITK's pixel
     * reading died on it */
    long dht = find_marker(b, n, 0xc4);
    assert_true(dht > 0);
    uint8_t *d = malloc(n);
    memcpy(d, b, n);
    memset(d + dht + 5, 0xff, 16); /* the sixteen code counts */
    write_file(tmp_path("huff.jpg"), d, n);
    expect_refused("huff.jpg", "damaged JPEG");
    free(d);
    free(b);
    /* a progressive JPEG whose first scan asks for coefficients past the block */
    b = make_jpeg(px, 64, 48, true, &n);
    long sos = find_marker(b, n, 0xda);
    assert_true(sos > 0);
    const int ns = b[sos + 4]; /* components in the scan; Ss follows their pairs */
    b[sos + 5 + 2 * ns] = 104;
    write_file(tmp_path("prog.jpg"), b, n);
    expect_refused("prog.jpg", "damaged JPEG");
    free(b);
}

/* A damaged JPEG (formats/bad_soi_gap.jpg, test_random_damage's variant 1089 of its
 * progressive JPEG, found with CN_DAMAGE_VARIANTS=2000): bytes after the start marker
 * are not a marker. The guard took only FF D8 FF for a JPEG and let it pass; ITK's
 * CanReadFile took it, and its Read died with SIGSEGV inside libjpeg (every reading of
 * it crashed the program, Release too). Now it is libjpeg's, and refused by name. */
static void test_damaged_jpeg_soi_gap(void **st)
{
    (void)st;
    char p[600], err[512];
    snprintf(p, sizeof p, "%s/tests/unit/imaging/formats/bad_soi_gap.jpg", CN_SOURCE_DIR);
    cn_image *im = (cn_image *)1;
    const int rc = cn_image_read(p, CN_IMAGE_GREY, &im, err, sizeof err);
    print_message("bad_soi_gap.jpg: %s\n", err);
    assert_int_not_equal(rc, CN_OK);
    assert_null(im);
    assert_non_null(strstr(err, "bad_soi_gap.jpg"));
    assert_non_null(strstr(err, "damaged JPEG"));
}

/* Damaged TIFFs ITK 5.2 read past its buffers (AddressSanitizer, twenty-fifth session;
 * formats/make_fixtures.sh made them). A stack whose third page claims a width of 5:
 * ITK read every page as wide as the first, out of that page's own 5-byte scanline
 * buffer (heap overflow); it is refused by name, as a stack and as one image. A frame
 * whose DateTime tag holds 5 bytes: ITK copied the 20 the tag should hold (a read past
 * the string); it reads as its undamaged twin, so nothing that read before is lost.
 * Under ASan both failed before the twenty-fifth session's guard; since the twenty-
 * sixth, every TIFF is decoded with libtiff (image_read_tiff.c), ITK never sees one. */
static void test_damaged_tiff(void **st)
{
    (void)st;
    char p[600], r[600], err[512];
    snprintf(p, sizeof p, "%s/tests/unit/imaging/formats/bad_narrow_page.tif", CN_SOURCE_DIR);
    const char *says = "page 3 is not laid out as page 1 (5 x 30";
    cn_image *im = (cn_image *)1;
    int rc = cn_image_read(p, CN_IMAGE_GREY, &im, err, sizeof err);
    print_message("bad_narrow_page.tif: %s\n", err);
    assert_int_not_equal(rc, CN_OK);
    assert_null(im);
    assert_non_null(strstr(err, "bad_narrow_page.tif"));
    if (!strstr(err, says))
        fail_msg("expected '%s' in: %s", says, err);
    cn_image **pg = (cn_image **)1;
    int n = 0;
    assert_int_not_equal(cn_image_read_stack(p, CN_IMAGE_GREY, 10, &pg, &n, err, sizeof err), CN_OK);
    assert_null(pg);
    assert_non_null(strstr(err, says));
    assert_int_not_equal(cn_image_count_pages(p, &n, err, sizeof err), CN_OK);
    assert_non_null(strstr(err, says));

    snprintf(p, sizeof p, "%s/tests/unit/imaging/formats/bad_short_datetime.tif", CN_SOURCE_DIR);
    snprintf(r, sizeof r, "%s/tests/unit/imaging/formats/stack_1.ref.png", CN_SOURCE_DIR);
    cn_image *ref = NULL;
    assert_int_equal(cn_image_read(r, CN_IMAGE_GREY, &ref, err, sizeof err), CN_OK);
    rc = cn_image_read(p, CN_IMAGE_GREY, &im, err, sizeof err);
    if (rc != CN_OK)
        print_message("bad_short_datetime.tif: %s\n", err);
    assert_int_equal(rc, CN_OK);
    assert_int_equal(im->w, ref->w);
    assert_int_equal(im->h, ref->h);
    assert_memory_equal(im->px, ref->px, (size_t)ref->w * ref->h);
    cn_image_free(im);
    assert_int_equal(cn_image_count_pages(p, &n, err, sizeof err), CN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cn_image_read_stack(p, CN_IMAGE_GREY, 10, &pg, &n, err, sizeof err), CN_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(pg[0]->px, ref->px, (size_t)ref->w * ref->h);
    cn_image_stack_free(pg, n);
    cn_image_free(ref);

    snprintf(p, sizeof p, "%s/tests/unit/imaging/formats/pil_stack.tif", CN_SOURCE_DIR);
    assert_int_equal(cn_image_read_stack(p, CN_IMAGE_GREY, 10, &pg, &n, err, sizeof err), CN_OK);
    assert_int_equal(n, 3);
    cn_image_stack_free(pg, n);
}

static void test_damaged_metaimage(void **st)
{
    (void)st;
    /* ElementDataFile's key damaged: MetaIO reads on into the pixels, and a run of
     * them up to an '=' longer than its field (300 bytes) is a "key" it copies */
    char hdr[] = "ObjectType = Image\nNDims = 2\nDimSize = 40 30\nElementType = MET_UCHAR\n"
                 "EleM`entDataFile = LOCAL\n";
    uint8_t b[sizeof hdr - 1 + 40 * 30];
    memcpy(b, hdr, sizeof hdr - 1);
    for (size_t i = 0; i < 40 * 30; i++)
        b[sizeof hdr - 1 + i] = i < 300 ? 'A' : i == 300 ? '=' : i == 302 ? '\n' : (uint8_t)(33 + i % 90);
    write_file(tmp_path("key.mha"), b, sizeof b);
    expect_refused("key.mha", "MetaImage header: line 6 is 302 bytes long");
    /* NDims made negative (CN_DAMAGE_VARIANTS=10000 found it): MetaIO read array fields
     * of that many values for good, and the reader never returned */
    const char neg[] = "ObjectType = Image\nNDims =-2\nDimSize = 2 2\nElementSpacing = 0.Y 0.1\n"
                       "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n\x01\x02\x03\x04";
    write_file(tmp_path("ndims.mha"), neg, sizeof neg - 1);
    expect_refused("ndims.mha", "NDims '-2' is not 1..10");
    /* an undamaged file whose comment is longer than MetaIO's field (it aborted too) */
    char longc[600];
    int lc = snprintf(longc, sizeof longc, "ObjectType = Image\nNDims = 2\nDimSize = 2 2\n"
                                           "Comment = %0300d\nElementType = MET_UCHAR\n"
                                           "ElementDataFile = LOCAL\n", 7);
    memcpy(longc + lc, "\x01\x02\x03\x04", 4);
    write_file(tmp_path("comment.mha"), longc, (size_t)lc + 4);
    expect_refused("comment.mha", "line 4 is 310 bytes long");
    /* no ElementDataFile line at all, short lines */
    const char *none = "ObjectType = Image\nNDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n";
    write_file(tmp_path("none.mha"), none, strlen(none));
    expect_refused("none.mha", "no ElementDataFile line");
    /* the same file undamaged reads */
    char good[] = "ObjectType = Image\nNDims = 2\nDimSize = 40 30\nElementType = MET_UCHAR\n"
                  "ElementDataFile = LOCAL\n";
    uint8_t g[sizeof good - 1 + 40 * 30];
    memcpy(g, good, sizeof good - 1);
    memcpy(g + sizeof good - 1, b + sizeof hdr - 1, 40 * 30); /* the same pixels */
    write_file(tmp_path("good.mha"), g, sizeof g);
    cn_image *im = NULL;
    char err[512];
    assert_int_equal(cn_image_read(tmp_path("good.mha"), CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
    assert_int_equal(im->w, 40);
    cn_image_free(im);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Seeded random damage to files of every format the reader takes. */
static void test_random_damage(void **st)
{
    (void)st;
    uint8_t px[96 * 72];
    test_image(px, 96, 72);
    char err[512];
    struct {
        const char *ext;
        uint8_t *b;
        size_t n;
    } src[6 + 21];
    int ns = 0;
    assert_int_equal(cn_png_write_gray(tmp_path("s.png"), px, 96, 72, err, sizeof err), CN_OK);
    src[ns].ext = "png";
    src[ns].b = slurp(tmp_path("s.png"), &src[ns].n);
    ns++;
    src[ns].ext = "jpg";
    src[ns].b = make_jpeg(px, 96, 72, false, &src[ns].n);
    ns++;
    src[ns].ext = "jpg";
    src[ns].b = make_jpeg(px, 96, 72, true, &src[ns].n);
    ns++;
    {
        const char *h = "ObjectType = Image\nNDims = 2\nDimSize = 96 72\nElementSpacing = 0.1 0.1\n"
                        "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n";
        src[ns].ext = "mha";
        src[ns].n = strlen(h) + sizeof px;
        src[ns].b = malloc(src[ns].n);
        memcpy(src[ns].b, h, strlen(h));
        memcpy(src[ns].b + strlen(h), px, sizeof px);
        ns++;
    }
    {
        const char *h = "NRRD0004\ntype: uint8\ndimension: 2\nsizes: 96 72\nspacings: 0.1 0.1\n"
                        "encoding: raw\n\n";
        src[ns].ext = "nrrd";
        src[ns].n = strlen(h) + sizeof px;
        src[ns].b = malloc(src[ns].n);
        memcpy(src[ns].b, h, strlen(h));
        memcpy(src[ns].b + strlen(h), px, sizeof px);
        ns++;
    }
    {
        /* an 8-bit grey-palette BMP */
        const int stride = 96;
        const size_t off = 14 + 40 + 1024, n = off + (size_t)stride * 72;
        uint8_t *b = calloc(1, n);
        b[0] = 'B';
        b[1] = 'M';
        const uint32_t f[] = {(uint32_t)n, 0, (uint32_t)off, 40, 96, 72};
        for (int i = 0; i < 6; i++)
            memcpy(b + 2 + 4 * i, &f[i], 4); /* little-endian host (x86-64, as CI) */
        b[26] = 1;
        b[28] = 8;
        const uint32_t colours = 256;
        memcpy(b + 46, &colours, 4);
        for (int i = 0; i < 256; i++)
            b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (uint8_t)i;
        for (int y = 0; y < 72; y++)
            memcpy(b + off + (size_t)(71 - y) * stride, px + (size_t)y * 96, 96);
        src[ns].ext = "bmp";
        src[ns].b = b;
        src[ns].n = n;
        ns++;
    }
    /* the BMP kinds image_read_bmp.c decodes, the CMYK JPEGs the guard decodes, and TIFF,
     * GIF and NIfTI kinds for image_read_tiff.c, _gif.c and _nifti.c, as
     * the tools wrote them (tests/unit/imaging/formats) */
    static const char *const made[] = {
        "pil_1bit.bmp", "pil_pal8.bmp", "pil_rgba32.bmp", "pil_label8.bmp", "im_v5_24.bmp",
        "im_v5_32a.bmp", "im_565.bmp", "im_4444.bmp", "im_pal4.bmp", "im_rle8.bmp",
        "im_v5_rle8.bmp", "im_core24.bmp", "pil_cmyk.jpg", "pil_stack.tif", "im_stack.tif",
        "im_tiled.tif", "im_planar.tif", "im_cine.gif", "im_interlaced.gif", "py_cine.nii.gz",
        "py_be16.nii",
    };
    for (size_t k = 0; k < sizeof made / sizeof made[0]; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/tests/unit/imaging/formats/%s", CN_SOURCE_DIR, made[k]);
        /* NIfTI is told by its name: .nii.gz is one extension */
        src[ns].ext = strstr(made[k], ".nii.gz") ? "nii.gz" : strrchr(made[k], '.') + 1;
        src[ns].b = slurp(p, &src[ns].n);
        assert_non_null(src[ns].b);
        ns++;
    }
    uint32_t s = 2024;
#define RND() lcg(&s)
    int read = 0, refused = 0;
    /* 80 variants of each source a run; CN_DAMAGE_VARIANTS=N for a longer screen (the
     * figures in docs/validation.md: CN_DAMAGE_VARIANTS=2000 under ASan) */
    const char *nv = getenv("CN_DAMAGE_VARIANTS");
    const int variants = nv && atoi(nv) > 0 ? atoi(nv) : 80;
    for (int k = 0; k < ns; k++) {
        for (int v = 0; v < variants; v++) {
            const size_t n = src[k].n;
            uint8_t *d = malloc(n + 64);
            memcpy(d, src[k].b, n);
            size_t m = n;
            switch (v % 4) {
            case 0: /* cut */
                m = 1 + RND() % (n - 1);
                break;
            case 1: /* a few bytes changed in the header */
                for (int i = 0, c = 1 + (int)(RND() % 5); i < c; i++) {
                    const size_t at = RND() % (n < 300 ? n : 300);
                    d[at] = (uint8_t)RND();
                }
                break;
            case 2: /* bytes changed anywhere */
                for (int i = 0, c = 1 + (int)(RND() % 20); i < c; i++) {
                    const size_t at = RND() % n;
                    d[at] = (uint8_t)RND();
                }
                break;
            default: { /* bytes inserted in the header */
                size_t at = RND() % (n < 300 ? n : 300), c = 1 + RND() % 40;
                memmove(d + at + c, d + at, n - at);
                for (size_t i = 0; i < c; i++)
                    d[at + i] = (uint8_t)RND();
                m = n + c;
                break;
            }
            }
            char name[64];
            snprintf(name, sizeof name, "r%d_%d.%s", k, v, src[k].ext);
            write_file(tmp_path(name), d, m);
            free(d);
            cn_image *im = NULL;
            err[0] = 0;
            /* the first six sources as grey levels (as before); the made ones as grey
             * levels and labels in turn (a palette's index path) */
            const cn_image_mode mode = k >= 6 && (v & 1) ? CN_IMAGE_LABEL : CN_IMAGE_GREY;
            int rc = cn_image_read(tmp_path(name), mode, &im, err, sizeof err);
            if (!strcmp(src[k].ext, "tif") || !strcmp(src[k].ext, "gif") ||
                !strncmp(src[k].ext, "nii", 3)) {
                /* a stack: its pages, and its page count, as eval reads them */
                cn_image **pg = NULL;
                int np = 0;
                char serr[512] = "";
                if (cn_image_read_stack(tmp_path(name), mode, 50, &pg, &np, serr, sizeof serr) == CN_OK)
                    cn_image_stack_free(pg, np);
                else if (!strstr(serr, name))
                    fail_msg("%s refused as a stack without its name: %s", name, serr);
                (void)cn_image_count_pages(tmp_path(name), &np, serr, sizeof serr);
            }
            if (rc == CN_OK) {
                assert_non_null(im);
                assert_true(im->w >= 1 && im->h >= 1);
                cn_image_free(im);
                read++;
            } else {
                assert_null(im);
                if (!strstr(err, name))
                    fail_msg("%s refused without its name: %s", name, err);
                refused++;
            }
            unlink(tmp_path(name));
        }
        free(src[k].b);
    }
#undef RND
    print_message("%d damaged files: %d read, %d refused with their name, none crashed\n",
                  read + refused, read, refused);
    assert_true(refused > 0);
}

static int setup(void **st)
{
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cn_imgdmg_XXXXXX");
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_damaged_png),
        cmocka_unit_test(test_damaged_jpeg),
        cmocka_unit_test(test_damaged_metaimage),
        cmocka_unit_test(test_damaged_jpeg_soi_gap),
        cmocka_unit_test(test_damaged_tiff),
        cmocka_unit_test(test_random_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
