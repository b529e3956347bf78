/*
 * test_imaging.c - the pixel-level operations against brute-force references,
 * PNG round trips and the real nerve masks' palette indices, and bad input
 * (missing, non-PNG, truncated files; bad sizes) giving errors, never crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(cn_rng_next(&r) & 255);
}

static void test_box_mean_matches_naive(void **st)
{
    (void)st;
    const int w = 37, h = 23;
    uint8_t src[37 * 23], dst[37 * 23];
    uint32_t tmp[37];
    fill_random(src, sizeof src, 1);
    for (int r = 0; r <= 4; r++) {
        assert_int_equal(cn_img_box_mean(src, dst, w, h, r, tmp), CN_OK);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int s = 0;
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++) {
                        int xx = x + dx < 0 ? 0 : (x + dx >= w ? w - 1 : x + dx);
                        int yy = y + dy < 0 ? 0 : (y + dy >= h ? h - 1 : y + dy);
                        s += src[yy * w + xx];
                    }
                int area = (2 * r + 1) * (2 * r + 1);
                assert_int_equal(dst[y * w + x], (s + area / 2) / area);
            }
    }
    assert_int_equal(cn_img_box_mean(src, src, w, h, 1, tmp), CN_EINVAL); /* aliasing */
    assert_int_equal(cn_img_box_mean(NULL, dst, w, h, 1, tmp), CN_EINVAL);
    assert_int_equal(cn_img_box_mean(src, dst, 0, h, 1, tmp), CN_EINVAL);
}

static void test_integral_and_downsample(void **st)
{
    (void)st;
    const int w = 19, h = 11;
    uint8_t src[19 * 11], half[9 * 5];
    uint32_t ii[20 * 12];
    fill_random(src, sizeof src, 2);
    assert_int_equal(cn_img_integral(src, w, h, ii), CN_OK);
    uint32_t s = 0;
    for (int y = 2; y < 7; y++)
        for (int x = 3; x < 15; x++)
            s += src[y * w + x];
    assert_int_equal(cn_img_integral_sum(ii, w, h, 3, 2, 15, 7), s);
    assert_int_equal(cn_img_integral_sum(ii, w, h, -5, -5, 100, 100),
                     cn_img_integral_sum(ii, w, h, 0, 0, w, h));
    assert_int_equal(cn_img_downsample2(src, w, h, half), CN_OK);
    assert_int_equal(half[1 * 9 + 2], (src[2 * w + 4] + src[2 * w + 5] + src[3 * w + 4] + src[3 * w + 5] + 2) / 4);
    assert_float_equal(cn_img_sample(src, w, h, 3.0f, 2.0f), src[2 * w + 3], 1e-4);
    assert_float_equal(cn_img_sample(src, w, h, 3.5f, 2.0f), 0.5f * (src[2 * w + 3] + src[2 * w + 4]), 1e-3);
    /* out of range and NaN coordinates are clamped, never read outside */
    float v = cn_img_sample(src, w, h, NAN, 1e9f);
    assert_true(v >= 0 && v <= 255);
}

static void test_distance_transform_exact(void **st)
{
    (void)st;
    const int w = 31, h = 17;
    uint8_t m[31 * 17] = {0};
    float d[31 * 17];
    cn_rng r;
    cn_rng_seed(&r, 3);
    for (int k = 0; k < 6; k++)
        m[(cn_rng_next(&r) % h) * w + cn_rng_next(&r) % w] = 1;
    assert_int_equal(cn_img_distance_sq(m, w, h, d), CN_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float best = INFINITY;
            for (int i = 0; i < w * h; i++)
                if (m[i]) {
                    float dx = (float)(x - i % w), dy = (float)(y - i / w);
                    if (dx * dx + dy * dy < best)
                        best = dx * dx + dy * dy;
                }
            assert_float_equal(d[y * w + x], best, 1e-3);
        }
    memset(m, 0, sizeof m);
    assert_int_equal(cn_img_distance_sq(m, w, h, d), CN_OK);
    assert_true(isinf(d[0]));
}

static void test_polygon_dice_hd95(void **st)
{
    (void)st;
    const int w = 64, h = 64;
    uint8_t a[64 * 64] = {0}, b[64 * 64] = {0};
    /* square [10, 30) x [10, 30) as a polygon around pixel centres */
    cn_pt2 sq[4] = {{9.5f, 9.5f}, {29.5f, 9.5f}, {29.5f, 29.5f}, {9.5f, 29.5f}};
    assert_int_equal(cn_img_fill_polygon(a, w, h, sq, 4, 1), CN_OK);
    long area;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(a, w, h, &cx, &cy, &area), CN_OK);
    assert_int_equal(area, 400);
    assert_float_equal(cx, 19.5, 1e-9);
    /* the same square shifted by 4 px to the right */
    cn_pt2 sq2[4] = {{13.5f, 9.5f}, {33.5f, 9.5f}, {33.5f, 29.5f}, {13.5f, 29.5f}};
    cn_img_fill_polygon(b, w, h, sq2, 4, 1);
    assert_float_equal(cn_mask_dice(a, b, w, h), 2.0 * 320 / 800, 1e-9);
    assert_float_equal(cn_mask_dice(a, a, w, h), 1.0, 1e-12);
    double hd = cn_mask_hd95(a, b, w, h);
    assert_true(hd >= 3.9 && hd <= 4.01);
    assert_float_equal(cn_mask_hd95(a, a, w, h), 0.0, 1e-9);
    uint8_t z[64 * 64] = {0};
    assert_true(isnan(cn_mask_hd95(a, z, w, h)));
    assert_int_equal(cn_mask_centroid(z, w, h, &cx, &cy, &area), CN_ENOENT);
    cn_pt2 bad[3] = {{0, 0}, {NAN, 1}, {5, 5}};
    assert_int_equal(cn_img_fill_polygon(a, w, h, bad, 3, 1), CN_EINVAL);
    assert_int_equal(cn_img_fill_polygon(a, w, h, sq, 2, 1), CN_EINVAL);
}

/* Parts of a mask: two squares and a ring (whose centroid lies in its hole: the
 * seed must be the ring's own pixel nearest it), 8-connected diagonal touch, the
 * labels, and more parts than asked for. */
static void test_mask_parts(void **st)
{
    (void)st;
    enum { W = 64, H = 48 };
    uint8_t m[W * H] = {0};
    int32_t lab[W * H];
    for (int y = 2; y < 8; y++)
        for (int x = 2; x < 8; x++)
            m[y * W + x] = 1; /* part 0: 36 px at (4.5, 4.5) */
    m[8 * W + 8] = 1;         /* touches part 0 at a corner: the same part */
    for (int y = 20; y < 40; y++)
        for (int x = 30; x < 50; x++) {
            int dx = x - 40, dy = y - 30;
            if (dx * dx + dy * dy <= 81 && dx * dx + dy * dy >= 36)
                m[y * W + x] = 255; /* part 1: a ring around (40, 30) */
        }
    cn_mask_part parts[4];
    int n = -1;
    assert_int_equal(cn_mask_parts(m, W, H, lab, parts, 4, &n), CN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].area, 37);
    assert_true(parts[0].cx > 4.5 && parts[0].cx < 4.7);
    assert_int_equal(lab[8 * W + 8], 1);
    assert_int_equal(lab[0], 0);
    assert_float_equal(parts[1].cx, 40.0, 1e-9);
    assert_float_equal(parts[1].cy, 30.0, 1e-9);
    const int sx = parts[1].seed_x, sy = parts[1].seed_y;
    assert_int_equal(lab[sy * W + sx], 2); /* on the ring, not in its hole */
    assert_int_equal((sx - 40) * (sx - 40) + (sy - 30) * (sy - 30), 36);
    assert_int_equal(cn_mask_parts(m, W, H, NULL, parts, 1, &n), CN_ERANGE);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].area, 37);
    assert_int_equal(parts[0].label, 1);
    assert_int_equal(parts[1].label, 2);
    /* which parts an operator clicks: a 1-pixel speck far away is not one, the
     * largest part always is, labels stay with their parts */
    m[40 * W + 60] = 1;
    assert_int_equal(cn_mask_parts(m, W, H, lab, parts, 4, &n), CN_OK);
    assert_int_equal(n, 3);
    long total = parts[0].area + parts[1].area + parts[2].area;
    assert_int_equal(cn_mask_parts_to_click(parts, n, total), 2);
    assert_int_equal(parts[0].label, 1);
    assert_int_equal(parts[1].label, 2);
    cn_mask_part tiny[2] = {{.label = 1, .area = 3}, {.label = 2, .area = 5}};
    assert_int_equal(cn_mask_parts_to_click(tiny, 2, 8), 1); /* only specks: the largest */
    assert_int_equal(tiny[0].label, 2);
    assert_int_equal(cn_mask_parts_to_click(NULL, 2, 8), 0);
    m[40 * W + 60] = 0;
    uint8_t z[W * H] = {0};
    assert_int_equal(cn_mask_parts(z, W, H, lab, parts, 4, &n), CN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(cn_mask_parts(m, 0, H, lab, parts, 4, &n), CN_EINVAL);
    assert_int_equal(cn_mask_parts(m, W, H, lab, NULL, 4, &n), CN_EINVAL);
}

static void test_png_roundtrip_and_errors(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_test_imaging_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/a.png", dir);
    uint8_t px[13 * 7];
    fill_random(px, sizeof px, 4);
    assert_int_equal(cn_png_write_gray(path, px, 13, 7, err, sizeof err), CN_OK);
    cn_image *im = NULL;
    assert_int_equal(cn_png_read_gray(path, &im, err, sizeof err), CN_OK);
    assert_int_equal(im->w, 13);
    assert_int_equal(im->h, 7);
    assert_memory_equal(im->px, px, sizeof px);
    cn_image_free(im);
    assert_int_equal(cn_png_read_index(path, &im, err, sizeof err), CN_OK);
    assert_memory_equal(im->px, px, sizeof px);
    cn_image_free(im);
    /* missing file, not a PNG, truncated PNG: errors naming the file */
    char miss[300];
    snprintf(miss, sizeof miss, "%s/missing.png", dir);
    assert_int_equal(cn_png_read_gray(miss, &im, err, sizeof err), CN_ENOENT);
    assert_non_null(strstr(err, "missing.png"));
    char txt[300];
    snprintf(txt, sizeof txt, "%s/t.png", dir);
    FILE *f = fopen(txt, "w");
    fputs("hello, not an image", f);
    fclose(f);
    assert_int_equal(cn_png_read_gray(txt, &im, err, sizeof err), CN_EPARSE);
    assert_null(im);
    /* truncate the good PNG to half */
    FILE *g = fopen(path, "rb");
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, g);
    fclose(g);
    char tr[300];
    snprintf(tr, sizeof tr, "%s/trunc.png", dir);
    g = fopen(tr, "wb");
    fwrite(buf, 1, n / 2, g);
    fclose(g);
    assert_int_equal(cn_png_read_gray(tr, &im, err, sizeof err), CN_EPARSE);
    assert_null(im);
    assert_int_equal(cn_png_write_gray(path, NULL, 13, 7, err, sizeof err), CN_EINVAL);
    unlink(path), unlink(txt), unlink(tr);
    rmdir(dir);
}

static void test_real_mask_palette_indices(void **st)
{
    (void)st;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/nerve-us/masks/0001.png", CN_SHARED_DATA_DIR);
    cn_image *m = NULL;
    assert_int_equal(cn_png_read_index(path, &m, err, sizeof err), CN_OK);
    long hist[256] = {0};
    for (int i = 0; i < m->w * m->h; i++)
        hist[m->px[i]]++;
    assert_true(hist[1] > 1000);  /* nerve */
    assert_true(hist[2] > 1000);  /* vessel */
    assert_int_equal(hist[0] + hist[1] + hist[2], (long)m->w * m->h);
    cn_image_free(m);
    /* the RGB image is read as grey, and refused as a label mask */
    snprintf(path, sizeof path, "%s/nerve-us/images/0040.png", CN_SHARED_DATA_DIR); /* an RGB one */
    cn_image *g = NULL;
    assert_int_equal(cn_png_read_gray(path, &g, err, sizeof err), CN_OK);
    cn_img_stats s;
    assert_int_equal(cn_img_stats_compute(g->px, g->w, g->h, &s), CN_OK);
    assert_true(s.mean > 5 && s.mean < 200);
    cn_image_free(g);
    g = NULL;
    assert_int_equal(cn_png_read_index(path, &g, err, sizeof err), CN_EUNSUPPORTED);
    assert_null(g);
}

static void test_image_bounds(void **st)
{
    (void)st;
    assert_null(cn_image_new(0, 5));
    assert_null(cn_image_new(5, CN_IMAGE_MAX_SIDE + 1));
    cn_image *im = cn_image_new(3, 3);
    assert_non_null(im);
    cn_image_free(im);
    cn_image_free(NULL);
}

/* cn_img_fov_box: the box of rows and columns with >= 2 % of pixels above grey 3, cut
 * to the large lit parts' box; a black frame, or a box under a quarter of a side, is the
 * whole frame. */
static void test_fov_box(void **st)
{
    (void)st;
    enum { W = 100, H = 80 };
    static uint8_t px[W * H], cut[W * H];
    static uint32_t cols[4096];
    assert_true(cn_img_fov_scratch_len(W, H) <= sizeof cols / sizeof cols[0]);
    cn_img_box b;
    memset(px, 0, sizeof px);
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 0 && b.y0 == 0 && b.w == W && b.h == H); /* black: all */
    for (int y = 15; y < 65; y++) /* a 60 x 50 view at (20, 15) */
        for (int x = 20; x < 80; x++)
            px[y * W + x] = (uint8_t)(4 + (x * 7 + y * 13) % 200);
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 20 && b.y0 == 15 && b.w == 60 && b.h == 50);
    /* a row with 2 of 100 pixels lit is in the view when they touch the image; one with
     * 1 is not; grey 3 is dark */
    px[65 * W + 30] = px[65 * W + 31] = 255;
    px[5 * W + 30] = 255;
    px[3 * W + 30] = px[3 * W + 31] = 3;
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 20 && b.y0 == 15 && b.w == 60 && b.h == 51);
    assert_int_equal(cn_img_crop(px, W, H, b, cut), CN_OK);
    for (int y = 0; y < b.h; y++)
        assert_memory_equal(cut + y * b.w, px + (y + b.y0) * W + b.x0, (size_t)b.w);
    /* the same two pixels 10 rows below the image are a part of their own (a scanner's
     * mark): not the view. Before the marks rule the box reached row 74. */
    px[65 * W + 30] = px[65 * W + 31] = 0;
    px[74 * W + 30] = px[74 * W + 31] = 255;
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 20 && b.y0 == 15 && b.w == 60 && b.h == 50);
    /* dim (grey 60, under CN_FOV_MARK_GREY): the sparse speckle of deep tissue, kept */
    px[74 * W + 30] = px[74 * W + 31] = 60;
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 20 && b.y0 == 15 && b.w == 60 && b.h == 60);
    px[74 * W + 30] = px[74 * W + 31] = 0;
    /* a view under a quarter of the height is not trusted */
    memset(px, 0, sizeof px);
    for (int y = 30; y < 49; y++)
        for (int x = 0; x < W; x++)
            px[y * W + x] = 100;
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 0 && b.y0 == 0 && b.w == W && b.h == H);
    for (int x = 0; x < W; x++)
        px[49 * W + x] = 100; /* 20 rows: a quarter, trusted */
    assert_int_equal(cn_img_fov_box(px, W, H, cols, &b), CN_OK);
    assert_true(b.x0 == 0 && b.y0 == 30 && b.w == W && b.h == 20);
    /* bad input */
    assert_int_equal(cn_img_fov_box(NULL, W, H, cols, &b), CN_EINVAL);
    assert_int_equal(cn_img_fov_box(px, W, H, NULL, &b), CN_EINVAL);
    assert_int_equal(cn_img_crop(px, W, H, (cn_img_box){90, 0, 20, 10}, cut), CN_EINVAL);
    assert_int_equal(cn_img_crop(px, W, H, (cn_img_box){0, 0, 0, 10}, cut), CN_EINVAL);
    assert_int_equal(cn_img_fov_scratch_len(0, H), 0);
}

/* A screen capture: the image on a black screen with two lines of text above it, a
 * depth scale's ticks beside it, and a strip of the image cut off by a black band (kept:
 * large). The box is the image's, as without the text and ticks; before the marks rule
 * it took in the text's rows and the ticks' columns. Odd sides check the blocks at the
 * edges. */
static void test_fov_box_screen_text(void **st)
{
    (void)st;
    enum { W = 641, H = 481 };
    static uint8_t px[W * H];
    static uint32_t scratch[100000];
    assert_true(cn_img_fov_scratch_len(W, H) <= sizeof scratch / sizeof scratch[0]);
    memset(px, 0, sizeof px);
    for (int y = 80; y < 440; y++) /* the image: 400 x 360 at (100, 80), a band at 330-349 */
        for (int x = 100; x < 500; x++)
            if (y < 330 || y >= 350)
                px[y * W + x] = (uint8_t)(5 + (x * 31 + y * 17) % 180);
    for (int line = 0; line < 2; line++) /* "glyphs": 40 blobs of 5 x 9 px per line */
        for (int c = 0; c < 40; c++)
            for (int y = 12 + 24 * line; y < 21 + 24 * line; y++)
                for (int x = 10 + 8 * c; x < 15 + 8 * c; x++)
                    px[y * W + x] = 240;
    for (int t = 80; t < 440; t += 36) /* ticks 12 px right of the image */
        for (int x = 512; x < 524; x++)
            px[t * W + x] = px[(t + 1) * W + x] = 255;
    cn_img_box b;
    assert_int_equal(cn_img_fov_box(px, W, H, scratch, &b), CN_OK);
    print_message("screen: %d %d %d %d\n", b.x0, b.y0, b.w, b.h);
    assert_true(b.x0 == 100 && b.y0 == 80 && b.w == 400 && b.h == 360);
}

/* The part holding (x, y), 8-connected, with its holes filled: the reference the
 * outline's fill must give back (a flood of the part, then a 4-connected flood of
 * everything else from the border: what it cannot reach is a hole). */
static void part_filled(const uint8_t *m, int w, int h, int x, int y, uint8_t *out)
{
    int *st = malloc(sizeof(int) * (size_t)w * h * 9);
    uint8_t *part = calloc((size_t)w * h, 1), *outside = calloc((size_t)w * h, 1);
    assert_non_null(st);
    int sp = 0;
    part[y * w + x] = 1;
    st[sp++] = y * w + x;
    while (sp) {
        int p = st[--sp], px = p % w, py = p / w;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int qx = px + dx, qy = py + dy;
                if (qx >= 0 && qy >= 0 && qx < w && qy < h && m[qy * w + qx] &&
                    !part[qy * w + qx]) {
                    part[qy * w + qx] = 1;
                    st[sp++] = qy * w + qx;
                }
            }
    }
    for (int i = 0; i < w * h; i++) {
        int px = i % w, py = i / w;
        if ((px == 0 || py == 0 || px == w - 1 || py == h - 1) && !part[i] && !outside[i]) {
            outside[i] = 1;
            st[sp++] = i;
        }
    }
    while (sp) {
        int p = st[--sp], px = p % w, py = p / w;
        const int d4[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
        for (int k = 0; k < 4; k++) {
            int qx = px + d4[k][0], qy = py + d4[k][1];
            if (qx >= 0 && qy >= 0 && qx < w && qy < h && !part[qy * w + qx] &&
                !outside[qy * w + qx]) {
                outside[qy * w + qx] = 1;
                st[sp++] = qy * w + qx;
            }
        }
    }
    for (int i = 0; i < w * h; i++)
        out[i] = !outside[i];
    free(st);
    free(part);
    free(outside);
}

static void disc(uint8_t *m, int w, int h, double cx, double cy, double r, uint8_t v)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r)
                m[y * w + x] = v;
}

/* twice the signed area of a polygon (> 0: clockwise on the screen, y down) */
static double area2(const cn_pt2 *p, int n)
{
    double a = 0;
    for (int i = 0, j = n - 1; i < n; j = i++)
        a += (double)p[j].x * p[i].y - (double)p[i].x * p[j].y;
    return a;
}

/* The outline of one part: a crescent (which a star hull from its centre would
 * fill), a ring around an island started below the hole, the island alone, parts
 * touching at a corner, the image's border, many corners spaced along a large
 * disc, random blobs against a brute-force flood, and bad input. */
static void test_trace_outline(void **st)
{
    (void)st;
    enum { W = 120, H = 100, CAP = 4096 };
    uint8_t *m = calloc(W * H, 1), *ref = calloc(W * H, 1), *got = calloc(W * H, 1);
    cn_pt2 *pts = malloc(sizeof(cn_pt2) * CAP);
    int n = 0;
    /* a crescent and, apart, a disc */
    disc(m, W, H, 40, 40, 20, 1);
    disc(m, W, H, 50, 40, 17, 0);
    disc(m, W, H, 95, 70, 8, 1);
    assert_int_equal(cn_img_trace_outline(m, W, H, 22, 40, false, pts, CAP, &n), CN_OK);
    assert_true(n >= 3 && area2(pts, n) > 0);
    part_filled(m, W, H, 22, 40, ref);
    cn_img_fill_polygon(got, W, H, pts, n, 1);
    assert_memory_equal(got, ref, W * H);
    /* a ring with an island in its hole; the start below the hole */
    memset(m, 0, W * H);
    disc(m, W, H, 60, 50, 30, 1);
    disc(m, W, H, 60, 50, 15, 0);
    disc(m, W, H, 60, 50, 4, 1);
    assert_int_equal(cn_img_trace_outline(m, W, H, 60, 75, false, pts, CAP, &n), CN_OK);
    memset(got, 0, W * H);
    cn_img_fill_polygon(got, W, H, pts, n, 1);
    part_filled(m, W, H, 60, 75, ref);
    assert_memory_equal(got, ref, W * H);
    long area;
    double cx, cy;
    cn_mask_centroid(got, W, H, &cx, &cy, &area);
    assert_true(area > 2700); /* the whole disc: hole and island inside */
    /* the island alone */
    assert_int_equal(cn_img_trace_outline(m, W, H, 60, 50, false, pts, CAP, &n), CN_OK);
    memset(got, 0, W * H);
    cn_img_fill_polygon(got, W, H, pts, n, 1);
    cn_mask_centroid(got, W, H, &cx, &cy, &area);
    assert_true(area < 60);
    /* two pixels touching at a corner are one part; a pixel at the image's corner */
    memset(m, 0, W * H);
    m[5 * W + 5] = m[6 * W + 6] = 1;
    m[0] = 1;
    assert_int_equal(cn_img_trace_outline(m, W, H, 6, 6, false, pts, CAP, &n), CN_OK);
    memset(got, 0, W * H);
    cn_img_fill_polygon(got, W, H, pts, n, 1);
    assert_int_equal(got[5 * W + 5] + got[6 * W + 6], 2);
    cn_mask_centroid(got, W, H, &cx, &cy, &area);
    assert_int_equal(area, 2);
    assert_int_equal(cn_img_trace_outline(m, W, H, 0, 0, false, pts, CAP, &n), CN_OK);
    assert_int_equal(n, 4);
    /* a large disc: more corners than asked for, 64 points along it */
    memset(m, 0, W * H);
    disc(m, W, H, 60, 50, 45, 1);
    assert_int_equal(cn_img_trace_outline(m, W, H, 60, 50, false, pts, 64, &n), CN_OK);
    assert_int_equal(n, 64);
    assert_true(area2(pts, n) > 0);
    memset(got, 0, W * H);
    cn_img_fill_polygon(got, W, H, pts, n, 1);
    assert_true(cn_mask_dice(got, m, W, H) > 0.99);
    /* random blobs: every start pixel's outline fills back its part */
    cn_rng r;
    cn_rng_seed(&r, 7);
    for (int t = 0; t < 200; t++) {
        enum { w = 24, h = 20 };
        uint8_t b[w * h];
        for (int i = 0; i < w * h; i++)
            b[i] = (cn_rng_next(&r) % 100) < 55;
        int x = (int)(cn_rng_next(&r) % w), y = (int)(cn_rng_next(&r) % h);
        if (!b[y * w + x]) {
            assert_int_equal(cn_img_trace_outline(b, w, h, x, y, false, pts, CAP, &n), CN_ENOENT);
            continue;
        }
        assert_int_equal(cn_img_trace_outline(b, w, h, x, y, false, pts, CAP, &n), CN_OK);
        uint8_t rb[w * h], gb[w * h];
        memset(gb, 0, sizeof gb);
        cn_img_fill_polygon(gb, w, h, pts, n, 1);
        part_filled(b, w, h, x, y, rb);
        assert_memory_equal(gb, rb, sizeof gb);
    }
    /* bad input */
    assert_int_equal(cn_img_trace_outline(m, W, H, W, 0, false, pts, CAP, &n), CN_ERANGE);
    assert_int_equal(cn_img_trace_outline(m, W, H, 0, 0, false, pts, CAP, &n), CN_ENOENT);
    assert_int_equal(cn_img_trace_outline(m, W, H, 60, 50, false, pts, 2, &n), CN_EINVAL);
    assert_int_equal(cn_img_trace_outline(NULL, W, H, 60, 50, false, pts, CAP, &n), CN_EINVAL);
    assert_int_equal(cn_img_trace_outline(m, W, H, 60, 50, false, NULL, CAP, &n), CN_EINVAL);
    free(m);
    free(ref);
    free(got);
    free(pts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_box_mean_matches_naive),
        cmocka_unit_test(test_integral_and_downsample),
        cmocka_unit_test(test_distance_transform_exact),
        cmocka_unit_test(test_polygon_dice_hd95),
        cmocka_unit_test(test_mask_parts),
        cmocka_unit_test(test_png_roundtrip_and_errors),
        cmocka_unit_test(test_real_mask_palette_indices),
        cmocka_unit_test(test_image_bounds),
        cmocka_unit_test(test_fov_box),
        cmocka_unit_test(test_fov_box_screen_text),
        cmocka_unit_test(test_trace_outline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
