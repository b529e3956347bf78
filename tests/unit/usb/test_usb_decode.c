/*
 * test_usb_decode.c - the UP20L decoder against the five real frames.
 *
 * Raw checks use the facts documented with the data (min, max, sum, the sample at
 * row 100 / column 80). Image checks look at the phantom's structure rather than at
 * "some pixels are non-zero": the bright deep layer (~43-48 mm) must stand well above
 * the tissue band above it in every frame, the image must contain several isolated
 * point targets far above their surroundings, and the strongest targets must sit at
 * the same place in all five frames (same phantom, only the focus register changed).
 * A transposed, byte-swapped or mis-strided decode fails these.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "usb/usb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES CN_SHARED_DATA_DIR "/usb/up20l/frames"

static const struct {
    unsigned min, max;
    unsigned long long sum;
    unsigned at_100_80;
} facts[5] = {{0, 8581, 29235768ULL, 50},
              {0, 9355, 32563990ULL, 77},
              {0, 8529, 33814024ULL, 83},
              {0, 8618, 33985389ULL, 80},
              {0, 8529, 34260179ULL, 82}};

static uint8_t *load_frame(int k, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FRAMES "/up20l_frame_reg17_%d.raw", k);
    uint8_t *raw = (uint8_t *)cn_file_read_all(path, len);
    assert_non_null(raw);
    assert_int_equal(*len, CN_UP20L_FRAME_BYTES);
    return raw;
}

static void test_raw_facts(void **state)
{
    (void)state;
    for (int k = 0; k < 5; k++) {
        size_t len;
        uint8_t *raw = load_frame(k, &len);
        cn_up20l_raw_stats st;
        assert_int_equal(cn_up20l_raw_stats_get(raw, len, CN_UP20L_ROWS, CN_UP20L_COLS, &st), CN_OK);
        assert_int_equal(st.min, facts[k].min);
        assert_int_equal(st.max, facts[k].max);
        assert_true(st.sum == facts[k].sum);
        assert_int_equal(cn_up20l_raw_sample(raw, CN_UP20L_COLS, 100, 80), facts[k].at_100_80);
        /* wrong lengths are refused, not read past */
        assert_int_equal(cn_up20l_raw_stats_get(raw, len - 2, CN_UP20L_ROWS, CN_UP20L_COLS, &st), CN_EINVAL);
        free(raw);
    }
}

static double band_mean(const cn_frame *f, double y0_mm, double y1_mm)
{
    int r0 = (int)(y0_mm / f->spacing_mm[1]), r1 = (int)(y1_mm / f->spacing_mm[1]);
    double s = 0;
    for (int y = r0; y < r1; y++)
        for (int x = 0; x < f->width; x++)
            s += f->pixels[(size_t)y * (size_t)f->width + (size_t)x];
    return s / ((double)(r1 - r0) * f->width);
}

typedef struct {
    int x, y, v;
} peak;

static int cmp_u8(const void *a, const void *b) { return *(const uint8_t *)a - *(const uint8_t *)b; }

/* Isolated bright peaks: a 7x7 local maximum >= 200 that exceeds the median of the
 * surrounding 6 x 6 mm by >= 70 grey levels (~16 dB at 60 dB range) and whose -6 dB
 * width across is under 3 mm. */
static int find_points(const cn_frame *f, double max_depth_mm, peak *out, int max)
{
    int n = 0, W = f->width;
    int half = (int)(3.0 / f->spacing_mm[0]);
    uint8_t *win = malloc((size_t)(2 * half + 1) * (size_t)(2 * half + 1));
    int ymax = (int)(max_depth_mm / f->spacing_mm[1]);
    for (int y = half; y < ymax - half && y < f->height - half; y++)
        for (int x = half; x < W - half; x++) {
            int v = f->pixels[(size_t)y * (size_t)W + (size_t)x];
            if (v < 200)
                continue;
            bool is_max = true;
            for (int dy = -3; dy <= 3 && is_max; dy++)
                for (int dx = -3; dx <= 3; dx++)
                    if (f->pixels[(size_t)(y + dy) * (size_t)W + (size_t)(x + dx)] > v ||
                        (f->pixels[(size_t)(y + dy) * (size_t)W + (size_t)(x + dx)] == v && (dy < 0 || (dy == 0 && dx < 0)))) {
                        is_max = false;
                        break;
                    }
            if (!is_max)
                continue;
            int m = 0;
            for (int dy = -half; dy <= half; dy++)
                for (int dx = -half; dx <= half; dx++)
                    win[m++] = f->pixels[(size_t)(y + dy) * (size_t)W + (size_t)(x + dx)];
            qsort(win, (size_t)m, 1, cmp_u8);
            if (v - win[m / 2] < 70)
                continue;
            /* width across at -6 dB (25.5 levels at 60 dB) */
            int lim = v - 26, l = x, r = x;
            while (l > 0 && f->pixels[(size_t)y * (size_t)W + (size_t)(l - 1)] >= lim)
                l--;
            while (r < W - 1 && f->pixels[(size_t)y * (size_t)W + (size_t)(r + 1)] >= lim)
                r++;
            if ((r - l + 1) * f->spacing_mm[0] >= 3.0)
                continue;
            if (n < max)
                out[n++] = (peak){x, y, v};
        }
    free(win);
    return n;
}

static void test_bmode_structure(void **state)
{
    (void)state;
    char err[256];
    cn_up20l_decode_opts o;
    cn_up20l_decode_opts_default(&o);
    cn_up20l_decoder *d = cn_up20l_decoder_new(&o, err, sizeof err);
    assert_non_null(d);
    int w, h;
    cn_up20l_decoder_size(d, &w, &h);
    assert_int_equal(w, (int)lround(44.4 / 0.105));
    assert_int_equal(h, (int)lround(49.7 / 0.105));
    cn_frame_pool *pool = cn_frame_pool_new(5, 640, 480);
    peak first[64];
    int n_first = 0;
    for (int k = 0; k < 5; k++) {
        size_t len;
        uint8_t *raw = load_frame(k, &len);
        assert_int_equal(cn_up20l_check_raw(d, raw, len, err, sizeof err), CN_OK);
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_int_equal(cn_up20l_decode(d, raw, len, f), CN_OK);
        assert_int_equal(f->width, w);
        assert_int_equal(f->height, h);
        assert_true(fabs(f->spacing_mm[0] - 0.105) < 1e-9 && fabs(f->spacing_mm[1] - 0.105) < 1e-9);
        assert_true(fabs(f->transducer_px[0] - w / 2.0) < 1e-9);
        /* Bright deep layer: 43-48 mm at least 60 grey levels (14 dB) above 20-38 mm. */
        double deep = band_mean(f, 43.0, 48.0), mid = band_mean(f, 20.0, 38.0);
        double top = band_mean(f, 0.5, 2.5);
        print_message("frame %d: deep layer %.0f, tissue %.0f, near field %.0f\n", k, deep, mid, top);
        assert_true(deep - mid >= 60);
        assert_true(deep > 150);
        /* Point targets above the layer. */
        peak pts[64];
        int n = find_points(f, 40.0, pts, 64);
        print_message("frame %d: %d point targets\n", k, n);
        assert_true(n >= 5);
        if (k == 0) {
            /* strongest first */
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                    if (pts[j].v > pts[i].v) {
                        peak t = pts[i];
                        pts[i] = pts[j];
                        pts[j] = t;
                    }
            memcpy(first, pts, sizeof pts);
            n_first = n;
        } else {
            /* The five strongest targets of frame 0 are found again within 1 mm. */
            for (int i = 0; i < n_first && i < 5; i++) {
                double best = 1e9;
                for (int j = 0; j < n; j++) {
                    double dd = hypot(pts[j].x - first[i].x, pts[j].y - first[i].y) * 0.105;
                    best = dd < best ? dd : best;
                }
                assert_true(best <= 1.0);
            }
        }
        cn_frame_unref(f);
        free(raw);
    }
    cn_frame_pool_free(pool);
    cn_up20l_decoder_free(d);
}

static void test_levels_and_garbage(void **state)
{
    (void)state;
    char err[256];
    cn_up20l_decode_opts o;
    cn_up20l_decode_opts_default(&o);
    cn_up20l_decoder *d = cn_up20l_decoder_new(&o, err, sizeof err);
    cn_frame_pool *pool = cn_frame_pool_new(2, 640, 480);
    size_t len;
    uint8_t *raw = load_frame(2, &len);
    cn_frame *a = cn_frame_pool_acquire(pool), *b = cn_frame_pool_acquire(pool);
    assert_int_equal(cn_up20l_decode(d, raw, len, a), CN_OK);
    /* +10 dB gain brightens the tissue band by ~10/60*255 = 42 levels */
    assert_int_equal(cn_up20l_decoder_set_levels(d, 10.0, 60.0), CN_OK);
    assert_int_equal(cn_up20l_decode(d, raw, len, b), CN_OK);
    double gain_delta = band_mean(b, 20, 38) - band_mean(a, 20, 38);
    print_message("+10 dB gain: tissue band +%.1f levels\n", gain_delta);
    assert_true(gain_delta > 30 && gain_delta < 50);
    assert_int_equal(cn_up20l_decoder_set_levels(d, 99.0, 60.0), CN_ERANGE);
    assert_int_equal(cn_up20l_decoder_set_levels(d, 0.0, 5.0), CN_ERANGE);
    /* garbage: random bytes are refused with a message */
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    uint8_t *junk = malloc(len);
    for (size_t i = 0; i < len; i++)
        junk[i] = (uint8_t)cn_rng_next(&rng);
    assert_int_equal(cn_up20l_check_raw(d, junk, len, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "garbage"));
    assert_int_equal(cn_up20l_check_raw(d, raw, len - 1, err, sizeof err), CN_EPARSE);
    /* a frame too big for the pool is refused, not written past */
    cn_frame_pool *small = cn_frame_pool_new(1, 100, 100);
    cn_frame *s = cn_frame_pool_acquire(small);
    assert_int_equal(cn_up20l_decode(d, raw, len, s), CN_ERANGE);
    cn_frame_unref(s);
    cn_frame_pool_free(small);
    /* bad options are refused with a message */
    o.pixel_mm = 0;
    assert_null(cn_up20l_decoder_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "pixel_mm"));
    free(junk);
    free(raw);
    cn_frame_unref(a);
    cn_frame_unref(b);
    cn_frame_pool_free(pool);
    cn_up20l_decoder_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_facts),
        cmocka_unit_test(test_bmode_structure),
        cmocka_unit_test(test_levels_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
