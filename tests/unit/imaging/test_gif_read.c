/*
 * test_gif_read.c - GIF through the one reader: files written here with giflib from a
 * 37 x 23 pattern and read back pixel for pixel. A grey frame (a 256-grey map), an
 * interlaced colour one, a black-and-white mask whose map runs white then black (its
 * grey counts, not its index), a colour-map label mask (the index counts), and a
 * three-frame animation (a cine) whose later frames cover part of the screen, one with
 * a transparent index and one disposed to the background: a stack whose pages are the
 * frames as a viewer shows them. Bad input: the data cut short, a frame outside the
 * screen, an animation read as one frame, each refused by name. Before, no GIF was
 * read at all ("not an image CryoNav can read").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"

#include <gif_lib.h>
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

typedef struct {
    int left, top, w, h;
    const uint8_t *px;   /* w x h indices */
    int transparent;     /* -1: none */
    int disposal;
    bool interlace;
    int delay_cs;        /* 0: 5 (1/100 s) */
} gif_frame;

/* A GIF of the screen W x H with one global map and the given frames. */
static void write_gif(const char *path, const GifColorType *colours, int n_colours,
                      const gif_frame *fr, int n)
{
    int e = 0;
    GifFileType *g = EGifOpenFileName(path, false, &e);
    assert_non_null(g);
    ColorMapObject *map = GifMakeMapObject(n_colours, colours);
    assert_non_null(map);
    assert_int_equal(EGifPutScreenDesc(g, W, H, 8, 0, map), GIF_OK);
    for (int k = 0; k < n; k++) {
        if (n > 1 || fr[k].transparent >= 0) {
            GraphicsControlBlock gcb = {.DisposalMode = fr[k].disposal, .UserInputFlag = false,
                                        .DelayTime = fr[k].delay_cs ? fr[k].delay_cs : 5,
                                        .TransparentColor = fr[k].transparent};
            GifByteType ext[4];
            const size_t len = EGifGCBToExtension(&gcb, ext);
            assert_int_equal(EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, (int)len, ext), GIF_OK);
        }
        assert_int_equal(EGifPutImageDesc(g, fr[k].left, fr[k].top, fr[k].w, fr[k].h,
                                          fr[k].interlace, NULL), GIF_OK);
        /* interlaced rows go in the four passes' order */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        for (int pass = 0; pass < (fr[k].interlace ? 4 : 1); pass++)
            for (int r = fr[k].interlace ? start[pass] : 0; r < fr[k].h;
                 r += fr[k].interlace ? step[pass] : 1)
                assert_int_equal(EGifPutLine(g, (GifPixelType *)fr[k].px + r * fr[k].w, fr[k].w),
                                 GIF_OK);
    }
    GifFreeMapObject(map);
    assert_int_equal(EGifCloseFile(g, &e), GIF_OK);
}

static cn_image *read_ok(const char *name, cn_image_mode mode)
{
    char err[512];
    cn_image *im = NULL;
    if (cn_image_read(tmp_path(name), mode, &im, err, sizeof err) != CN_OK)
        fail_msg("%s: refused: %s", name, err);
    assert_int_equal(im->w, W);
    assert_int_equal(im->h, H);
    return im;
}

static void test_gif_frames(void **st)
{
    (void)st;
    GifColorType grey[256], colour[256];
    for (int i = 0; i < 256; i++) {
        grey[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
        colour[i] = (GifColorType){(GifByteType)i, (GifByteType)(255 - i), (GifByteType)(i / 2)};
    }
    uint8_t idx[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            idx[y * W + x] = (uint8_t)pat(x, y);
    gif_frame f = {0, 0, W, H, idx, -1, DISPOSAL_UNSPECIFIED, false};
    write_gif(tmp_path("grey.gif"), grey, 256, &f, 1);
    cn_image *im = read_ok("grey.gif", CN_IMAGE_GREY);
    assert_memory_equal(im->px, idx, W * H);
    assert_false(im->has_spacing);
    cn_image_free(im);
    /* interlaced, a colour map: each pixel's luma */
    f.interlace = true;
    write_gif(tmp_path("colour_interlaced.gif"), colour, 256, &f, 1);
    im = read_ok("colour_interlaced.gif", CN_IMAGE_GREY);
    for (int k = 0; k < W * H; k++) {
        const unsigned v = idx[k];
        assert_int_equal(im->px[k], (int)floor(0.299 * v + 0.587 * (255 - v) + 0.114 * (v / 2) + 0.5));
    }
    cn_image_free(im);
}

static void test_gif_masks(void **st)
{
    (void)st;
    char err[512];
    uint8_t idx[W * H];
    for (int k = 0; k < W * H; k++)
        idx[k] = (uint8_t)((k / 7) % 2);
    /* white first, then black: index 1 is black (background), index 0 white (nerve) */
    const GifColorType wb[2] = {{255, 255, 255}, {0, 0, 0}};
    gif_frame f = {0, 0, W, H, idx, -1, DISPOSAL_UNSPECIFIED, false};
    write_gif(tmp_path("mask_wb.gif"), wb, 2, &f, 1);
    cn_image *m = NULL;
    assert_int_equal(cn_mask_read(tmp_path("mask_wb.gif"), "frame.png", W, H, &m, err, sizeof err),
                     CN_OK);
    for (int k = 0; k < W * H; k++)
        assert_int_equal(m->px[k], idx[k] == 0);
    cn_image_free(m);
    /* a colour map of labels (nerve-us's: 1 red = nerve, 2 green = vessel): the index */
    for (int k = 0; k < W * H; k++)
        idx[k] = (uint8_t)((k / 5) % 3);
    const GifColorType rg[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 0}};
    write_gif(tmp_path("mask_labels.gif"), rg, 4, &f, 1);
    assert_int_equal(cn_mask_read(tmp_path("mask_labels.gif"), "frame.png", W, H, &m, err,
                                  sizeof err), CN_OK);
    for (int k = 0; k < W * H; k++)
        assert_int_equal(m->px[k], idx[k] == 1);
    cn_image_free(m);
}

/* An animation: frame 1 fills the screen with grey 10; frame 2 draws a 10 x 5 block of
 * 200 at (3, 4) whose first column is transparent, and asks to be disposed to the
 * background; frame 3 draws a 4 x 4 block of 90 at (20, 10). Page 2 shows frame 1 with
 * the block (its transparent column keeps 10); page 3 shows frame 1 with the block gone
 * (background, index 0: black) and the new one. */
static void test_gif_animation(void **st)
{
    (void)st;
    GifColorType grey[256];
    for (int i = 0; i < 256; i++)
        grey[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
    uint8_t full[W * H], block[10 * 5], small[4 * 4];
    memset(full, 10, sizeof full);
    memset(block, 200, sizeof block);
    for (int r = 0; r < 5; r++)
        block[r * 10] = 7; /* transparent */
    memset(small, 90, sizeof small);
    const gif_frame fr[3] = {{0, 0, W, H, full, -1, DISPOSE_DO_NOT, false},
                             {3, 4, 10, 5, block, 7, DISPOSE_BACKGROUND, false},
                             {20, 10, 4, 4, small, -1, DISPOSE_DO_NOT, true}};
    write_gif(tmp_path("cine.gif"), grey, 256, fr, 3);
    char err[512];
    int n = 0;
    assert_int_equal(cn_image_count_pages(tmp_path("cine.gif"), &n, err, sizeof err), CN_OK);
    assert_int_equal(n, 3);
    cn_image **pg = NULL;
    assert_int_equal(cn_image_read_stack(tmp_path("cine.gif"), CN_IMAGE_GREY, 5, &pg, &n, err,
                                         sizeof err), CN_OK);
    assert_int_equal(n, 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const bool in_block = x >= 3 && x < 13 && y >= 4 && y < 9;
            const bool in_small = x >= 20 && x < 24 && y >= 10 && y < 14;
            assert_int_equal(pg[0]->px[y * W + x], 10);
            assert_int_equal(pg[1]->px[y * W + x], in_block && x != 3 ? 200 : 10);
            assert_int_equal(pg[2]->px[y * W + x], in_small ? 90 : in_block ? 0 : 10);
        }
    cn_image_stack_free(pg, n);
    cn_image *im = (cn_image *)1;
    assert_int_equal(cn_image_read(tmp_path("cine.gif"), CN_IMAGE_GREY, &im, err, sizeof err),
                     CN_EUNSUPPORTED);
    assert_null(im);
    assert_non_null(strstr(err, "cine.gif"));
    assert_non_null(strstr(err, "3-D"));
    assert_int_equal(cn_image_read_stack(tmp_path("cine.gif"), CN_IMAGE_GREY, 2, &pg, &n, err,
                                         sizeof err), CN_ERANGE);
    assert_null(pg);
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

static void test_gif_bad(void **st)
{
    (void)st;
    GifColorType grey[256];
    for (int i = 0; i < 256; i++)
        grey[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
    uint8_t idx[W * H];
    for (int k = 0; k < W * H; k++)
        idx[k] = (uint8_t)(k * 13);
    gif_frame f = {0, 0, W, H, idx, -1, DISPOSAL_UNSPECIFIED, false};
    write_gif(tmp_path("cut.gif"), grey, 256, &f, 1);
    FILE *fp = fopen(tmp_path("cut.gif"), "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    const long len = ftell(fp);
    fclose(fp);
    assert_int_equal(truncate(tmp_path("cut.gif"), len - 40), 0); /* inside the pixels */
    expect_refused("cut.gif", "damaged GIF: a frame's rows");
    /* a frame that claims to reach past the screen (its descriptor edited) */
    write_gif(tmp_path("outside.gif"), grey, 256, &f, 1);
    fp = fopen(tmp_path("outside.gif"), "r+b");
    assert_non_null(fp);
    uint8_t b[2048];
    const size_t n = fread(b, 1, sizeof b, fp);
    size_t at = 13 + 3 * 256; /* header, screen, global map: then the image separator */
    assert_true(at + 10 < n && b[at] == 0x2c);
    b[at + 1] = 30; /* left edge 30: 30 + 37 > 37 */
    rewind(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
    expect_refused("outside.gif", "outside the 37 x 23 screen");
}

static int setup(void **st)
{
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cn_gif_read_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* An animation whose frames have their own delays (10, 20, 50 and 10 / 100 s): each
 * frame's time from them (seq audit D8: before, only the first frame's delay was read,
 * and every frame took it). One interval: times at that interval. A frame without a
 * delay: no frame times (the file does not state them). */
static void test_gif_frame_times(void **st)
{
    (void)st;
    GifColorType grey[256];
    for (int i = 0; i < 256; i++)
        grey[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
    uint8_t idx[W * H];
    memset(idx, 9, sizeof idx);
    gif_frame fr[4];
    const int delays[4] = {10, 20, 50, 10};
    for (int k = 0; k < 4; k++)
        fr[k] = (gif_frame){0, 0, W, H, idx, -1, DISPOSE_DO_NOT, false, delays[k]};
    write_gif(tmp_path("times.gif"), grey, 256, fr, 4);
    double t[8];
    int n = -1;
    char err[512];
    assert_int_equal(cn_image_frame_times_ms(tmp_path("times.gif"), t, 8, &n, err, sizeof err),
                     CN_OK);
    assert_int_equal(n, 4);
    assert_true(t[0] == 0 && t[1] == 100 && t[2] == 300 && t[3] == 800);
    /* more frames than room: none given */
    assert_int_equal(cn_image_frame_times_ms(tmp_path("times.gif"), t, 3, &n, err, sizeof err),
                     CN_OK);
    assert_int_equal(n, 0);
    for (int k = 0; k < 3; k++)
        fr[k].delay_cs = 4;
    write_gif(tmp_path("even.gif"), grey, 256, fr, 3);
    assert_int_equal(cn_image_frame_times_ms(tmp_path("even.gif"), t, 8, &n, err, sizeof err),
                     CN_OK);
    assert_int_equal(n, 3);
    assert_true(t[1] == 40 && t[2] == 80);
    /* a single frame: no times */
    write_gif(tmp_path("one.gif"), grey, 256, fr, 1);
    assert_int_equal(cn_image_frame_times_ms(tmp_path("one.gif"), t, 8, &n, err, sizeof err),
                     CN_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gif_frames),
        cmocka_unit_test(test_gif_masks),
        cmocka_unit_test(test_gif_animation),
        cmocka_unit_test(test_gif_frame_times),
        cmocka_unit_test(test_gif_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
