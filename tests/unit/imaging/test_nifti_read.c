/*
 * test_nifti_read.c - NIfTI-1 through the one reader (.nii and .nii.gz): the format
 * 3D Slicer, ITK-SNAP and nnU-Net keep images and label masks in, nnU-Net's 2-D
 * cases included (x, y and a third axis of 1). Each file is written by hand
 * (tests/test_nifti.h) from a 37 x 23 pattern and read back pixel for pixel: 8-bit,
 * 12 bits in 16 (either byte order), signed 16 with a scale (scl_slope), float, RGB;
 * a label mask; a
 * stack along the third axis. The pixel size counts only where the file states one:
 * millimetres (or another known unit) that are not the 1 x 1 writers put when they
 * know none (SimpleITK, nnU-Net's conversion of PNG sets). Bad input: the data cut
 * short, a side past the reader's limit, a header of the wrong size, a gzip stream cut
 * short or without its trailer, each refused by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "../../test_nifti.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static unsigned pat(int x, int y) { return (unsigned)(x * 7 + y * 11) % 256; }

static cn_image *read_ok(const char *name, cn_image_mode mode)
{
    char err[512];
    cn_image *im = NULL;
    const int rc = cn_image_read(tmp_path(name), mode, &im, err, sizeof err);
    if (rc != CN_OK)
        fail_msg("%s: refused: %s", name, err);
    assert_int_equal(im->w, W);
    assert_int_equal(im->h, H);
    return im;
}

static void expect_pattern(const cn_image *im, const char *name)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (im->px[y * W + x] != pat(x, y))
                fail_msg("%s: pixel (%d, %d) reads %d, not %u", name, x, y, im->px[y * W + x],
                         pat(x, y));
}

static void test_nifti_frames(void **st)
{
    (void)st;
    uint8_t u8[W * H];
    uint16_t u16[W * H];
    int16_t s16[W * H];
    float f32[W * H];
    uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const int k = y * W + x;
            u8[k] = (uint8_t)pat(x, y);
            u16[k] = (uint16_t)(pat(x, y) * 16); /* 12-bit data */
            s16[k] = (int16_t)pat(x, y);
            f32[k] = (float)pat(x, y) / 255.0f;
            rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = (uint8_t)pat(x, y);
        }
    /* 8-bit, 0.1 x 0.2 mm stated: the pixels, and that pixel size */
    cn_test_nii h = {.dims = 2, .w = W, .h = H, .datatype = CN_TEST_NII_UINT8, .bitpix = 8,
                     .pixdim = {0.1f, 0.2f, 1}, .units = 2};
    assert_true(cn_test_write_nifti(tmp_path("u8.nii"), &h, u8, sizeof u8, false));
    cn_image *im = read_ok("u8.nii", CN_IMAGE_GREY);
    expect_pattern(im, "u8.nii");
    assert_true(im->has_spacing);
    assert_true(fabs(im->spacing_mm[0] - 0.1) < 1e-6 && fabs(im->spacing_mm[1] - 0.2) < 1e-6);
    cn_image_free(im);
    /* the same compressed, as nnU-Net keeps it (x, y, 1), 1 x 1 mm: no pixel size */
    h.dims = 3;
    h.n = 1;
    h.pixdim[0] = h.pixdim[1] = 1;
    h.pixdim[2] = 999;
    assert_true(cn_test_write_nifti(tmp_path("u8.nii.gz"), &h, u8, sizeof u8, true));
    im = read_ok("u8.nii.gz", CN_IMAGE_GREY);
    expect_pattern(im, "u8.nii.gz");
    assert_false(im->has_spacing);
    cn_image_free(im);
    /* units unknown: 0.1 mm is not stated */
    h.pixdim[0] = h.pixdim[1] = 0.1f;
    h.units = 0;
    assert_true(cn_test_write_nifti(tmp_path("nounits.nii.gz"), &h, u8, sizeof u8, true));
    im = read_ok("nounits.nii.gz", CN_IMAGE_GREY);
    assert_false(im->has_spacing);
    cn_image_free(im);
    h.units = 2;
    /* 12 bits in 16: the top 8 of the 12 */
    h.datatype = CN_TEST_NII_UINT16;
    h.bitpix = 16;
    assert_true(cn_test_write_nifti(tmp_path("u16.nii.gz"), &h, u16, sizeof u16, true));
    im = read_ok("u16.nii.gz", CN_IMAGE_GREY);
    expect_pattern(im, "u16.nii.gz");
    cn_image_free(im);
    /* the same in the other byte order (header and samples) */
    h.big_endian = true;
    assert_true(cn_test_write_nifti(tmp_path("u16_be.nii"), &h, u16, sizeof u16, false));
    im = read_ok("u16_be.nii", CN_IMAGE_GREY);
    expect_pattern(im, "u16_be.nii");
    cn_image_free(im);
    h.big_endian = false;
    /* signed 16 stored as v, scaled by the header to v / 255 (floats 0..1) */
    h.datatype = CN_TEST_NII_INT16;
    h.slope = 1.0f / 255.0f;
    assert_true(cn_test_write_nifti(tmp_path("s16_scaled.nii.gz"), &h, s16, sizeof s16, true));
    im = read_ok("s16_scaled.nii.gz", CN_IMAGE_GREY);
    expect_pattern(im, "s16_scaled.nii.gz");
    cn_image_free(im);
    h.slope = 0;
    h.datatype = CN_TEST_NII_FLOAT32;
    h.bitpix = 32;
    assert_true(cn_test_write_nifti(tmp_path("f32.nii"), &h, f32, sizeof f32, false));
    im = read_ok("f32.nii", CN_IMAGE_GREY);
    expect_pattern(im, "f32.nii");
    cn_image_free(im);
    h.datatype = CN_TEST_NII_RGB24;
    h.bitpix = 24;
    assert_true(cn_test_write_nifti(tmp_path("rgb.nii.gz"), &h, rgb, sizeof rgb, true));
    im = read_ok("rgb.nii.gz", CN_IMAGE_GREY);
    expect_pattern(im, "rgb.nii.gz");
    cn_image_free(im);
}

/* NIfTI-2 (540-byte header, 64-bit sizes: what nibabel writes for large images): 12
 * bits in 16, 0.1 mm stated. */
static void test_nifti2(void **st)
{
    (void)st;
    uint8_t b[544 + 2 * W * H];
    memset(b, 0, sizeof b);
    const int32_t size = 540;
    memcpy(b, &size, 4);
    memcpy(b + 4, "n+2\0\r\n\032\n", 8);
    const int16_t dt = CN_TEST_NII_UINT16, bits = 16;
    memcpy(b + 12, &dt, 2);
    memcpy(b + 14, &bits, 2);
    const int64_t dim[8] = {2, W, H, 1, 1, 1, 1, 1};
    memcpy(b + 16, dim, sizeof dim);
    const double pixdim[8] = {1, 0.1, 0.1, 1, 1, 1, 1, 1};
    memcpy(b + 104, pixdim, sizeof pixdim);
    const int64_t vox = 544;
    memcpy(b + 168, &vox, 8);
    const int32_t units = 2;
    memcpy(b + 500, &units, 4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint16_t v = (uint16_t)(pat(x, y) * 16);
            memcpy(b + 544 + 2 * (y * W + x), &v, 2);
        }
    FILE *f = fopen(tmp_path("n2.nii"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    cn_image *im = read_ok("n2.nii", CN_IMAGE_GREY);
    expect_pattern(im, "n2.nii");
    assert_true(im->has_spacing);
    assert_true(fabs(im->spacing_mm[0] - 0.1) < 1e-9);
    cn_image_free(im);
}

/* nnU-Net's labels: 0 background, 1 nerve, 2 another class; the mask is index 1. */
static void test_nifti_mask_and_stack(void **st)
{
    (void)st;
    uint8_t lab[W * H];
    for (int k = 0; k < W * H; k++)
        lab[k] = (uint8_t)((k / 5) % 3);
    cn_test_nii h = {.dims = 3, .w = W, .h = H, .n = 1, .datatype = CN_TEST_NII_UINT8,
                     .bitpix = 8, .pixdim = {1, 1, 999}, .units = 2};
    assert_true(cn_test_write_nifti(tmp_path("case_001.nii.gz"), &h, lab, sizeof lab, true));
    char err[512];
    cn_image *m = NULL;
    assert_int_equal(cn_mask_read(tmp_path("case_001.nii.gz"), "case_001_0000.nii.gz", W, H, &m,
                                  err, sizeof err), CN_OK);
    for (int k = 0; k < W * H; k++)
        assert_int_equal(m->px[k], lab[k] == 1);
    cn_image_free(m);

    /* three pages along the third axis: a stack; one image refused as 3-D */
    uint8_t cine[3 * W * H];
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < W * H; k++)
            cine[p * W * H + k] = (uint8_t)((k + 40 * p) % 256);
    h.n = 3;
    h.pixdim[2] = 1;
    assert_true(cn_test_write_nifti(tmp_path("cine.nii.gz"), &h, cine, sizeof cine, true));
    cn_image **pg = NULL;
    int n = 0;
    assert_int_equal(cn_image_count_pages(tmp_path("cine.nii.gz"), &n, err, sizeof err), CN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(cn_image_read_stack(tmp_path("cine.nii.gz"), CN_IMAGE_GREY, 5, &pg, &n, err,
                                         sizeof err), CN_OK);
    assert_int_equal(n, 3);
    for (int p = 0; p < 3; p++)
        assert_memory_equal(pg[p]->px, cine + p * W * H, W * H);
    cn_image_stack_free(pg, n);
    double ms = -1;
    assert_int_equal(cn_image_frame_ms(tmp_path("cine.nii.gz"), &ms, err, sizeof err), CN_OK);
    assert_true(ms == 0); /* along z: no time step */
    /* the same frames along time (x, y, 1, 3), 40 ms a step: pages, and their time */
    cn_test_nii ht = h;
    ht.dims = 4;
    ht.n = 1;
    ht.t = 3;
    ht.dt = 0.04f;
    ht.time_units = 8; /* seconds */
    assert_true(cn_test_write_nifti(tmp_path("cine_t.nii.gz"), &ht, cine, sizeof cine, true));
    assert_int_equal(cn_image_read_stack(tmp_path("cine_t.nii.gz"), CN_IMAGE_GREY, 5, &pg, &n, err,
                                         sizeof err), CN_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(pg[2]->px, cine + 2 * W * H, W * H);
    cn_image_stack_free(pg, n);
    assert_int_equal(cn_image_frame_ms(tmp_path("cine_t.nii.gz"), &ms, err, sizeof err), CN_OK);
    assert_true(fabs(ms - 40) < 1e-3);
    m = (cn_image *)1;
    assert_int_equal(cn_image_read(tmp_path("cine.nii.gz"), CN_IMAGE_GREY, &m, err, sizeof err),
                     CN_EUNSUPPORTED);
    assert_null(m);
    assert_non_null(strstr(err, "cine.nii.gz"));
    assert_non_null(strstr(err, "3-D"));
}

static void expect_refused(const char *name, const char *says)
{
    char err[512];
    cn_image *im = (cn_image *)1;
    const int rc = cn_image_read(tmp_path(name), CN_IMAGE_GREY, &im, err, sizeof err);
    print_message("%s: %s\n", name, err);
    assert_int_not_equal(rc, CN_OK);
    assert_null(im);
    assert_non_null(strstr(err, name));
    if (says && !strstr(err, says))
        fail_msg("expected '%s' in: %s", says, err);
}

static void test_nifti_bad(void **st)
{
    (void)st;
    uint8_t u8[W * H];
    memset(u8, 7, sizeof u8);
    cn_test_nii h = {.dims = 2, .w = W, .h = H, .datatype = CN_TEST_NII_UINT8, .bitpix = 8,
                     .pixdim = {1, 1, 1}, .units = 2};
    /* the data cut short, plain and compressed (ITK 5.2 read both as whole, the
     * missing pixels zero, and said nothing) */
    assert_true(cn_test_write_nifti(tmp_path("short.nii"), &h, u8, sizeof u8 / 2, false));
    expect_refused("short.nii", NULL);
    assert_true(cn_test_write_nifti(tmp_path("short.nii.gz"), &h, u8, sizeof u8 / 2, true));
    expect_refused("short.nii.gz", NULL);
    /* a gzip stream cut inside: 40 bytes of a whole file's */
    assert_true(cn_test_write_nifti(tmp_path("cut.nii.gz"), &h, u8, sizeof u8, true));
    assert_int_equal(truncate(tmp_path("cut.nii.gz"), 40), 0);
    expect_refused("cut.nii.gz", NULL);
    /* a whole header and its pixels, but the gzip trailer (length, CRC) cut off */
    assert_true(cn_test_write_nifti(tmp_path("trailer.nii.gz"), &h, u8, sizeof u8, true));
    FILE *g = fopen(tmp_path("trailer.nii.gz"), "rb");
    assert_non_null(g);
    fseek(g, 0, SEEK_END);
    const long gz_len = ftell(g);
    fclose(g);
    assert_int_equal(truncate(tmp_path("trailer.nii.gz"), gz_len - 6), 0);
    expect_refused("trailer.nii.gz", "compressed stream");
    /* a side past the reader's limit: refused before anything is allocated */
    h.w = 30000;
    assert_true(cn_test_write_nifti(tmp_path("wide.nii.gz"), &h, u8, sizeof u8, true));
    expect_refused("wide.nii.gz", "outside 1..8192");
    /* a header that is not 348 bytes */
    h.w = W;
    assert_true(cn_test_write_nifti(tmp_path("hdr.nii"), &h, u8, sizeof u8, false));
    FILE *f = fopen(tmp_path("hdr.nii"), "r+b");
    assert_non_null(f);
    const int32_t wrong = 350;
    assert_int_equal(fwrite(&wrong, 4, 1, f), 1);
    fclose(f);
    expect_refused("hdr.nii", NULL);
}

static int setup(void **st)
{
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cn_nifti_read_XXXXXX");
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
        cmocka_unit_test(test_nifti_frames),
        cmocka_unit_test(test_nifti2),
        cmocka_unit_test(test_nifti_mask_and_stack),
        cmocka_unit_test(test_nifti_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
