/*
 * up20l_decode.c - raw UP20L samples -> an 8-bit B-mode frame.
 *
 * The probe sends envelope-detected amplitudes (0 to ~9400) as 512 depth rows x 160
 * scan lines of uint16 LE. A B-mode image needs log compression: pixel = 255 *
 * (20 log10(a / ref) + gain + DR) / DR, clamped. Because samples are 16-bit, the
 * whole mapping is one 65,536-entry lookup table rebuilt only when gain or dynamic
 * range change, so the per-frame cost is a table lookup per sample.
 *
 * The geometry is linear (no scan conversion): the only resampling is to square
 * pixels, done separably with precomputed bilinear indices/weights (rows first on
 * the source columns, then across), so a frame costs ~rows_out*(cols + width) work.
 *
 * Garbage check: the ADC is at most 14 bits, so a frame with more than a few per mille
 * of samples above plausible_max is not an image (random bytes put ~75 % there).
 */
#include "usb/usb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_up20l_decoder {
    cn_up20l_decode_opts o;
    int width, height;
    uint8_t lut[65536];
    int *x0;       /* per output column: left source column */
    float *wx;     /* weight of the right column */
    int *y0;
    float *wy;
    float *rowbuf; /* one interpolated source row (cols floats) */
};

void cn_up20l_decode_opts_default(cn_up20l_decode_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rows = CN_UP20L_ROWS;
    o->cols = CN_UP20L_COLS;
    o->width_mm = 44.4;   /* estimate from a vendor screenshot (usb-probes.md) */
    o->depth_mm = 49.7;
    o->pixel_mm = 0.105;  /* 423 x 473 px: fits a 640 x 480 frame pool */
    o->dynamic_range_db = 60.0;
    o->gain_db = 0.0;
    o->ref_amplitude = 8192.0;
    o->max_bad_permille = 5;
    o->plausible_max = 16383;
}

uint16_t cn_up20l_raw_sample(const uint8_t *raw, int cols, int row, int col)
{
    size_t i = ((size_t)row * (size_t)cols + (size_t)col) * 2;
    return (uint16_t)(raw[i] | (raw[i + 1] << 8));
}

int cn_up20l_raw_stats_get(const uint8_t *raw, size_t len, int rows, int cols,
                           cn_up20l_raw_stats *out)
{
    if (!raw || !out || rows <= 0 || cols <= 0 || len != (size_t)rows * (size_t)cols * 2)
        return CN_EINVAL;
    uint16_t mn = 0xFFFF, mx = 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < len; i += 2) {
        uint16_t v = (uint16_t)(raw[i] | (raw[i + 1] << 8));
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    out->min = mn;
    out->max = mx;
    out->sum = sum;
    return CN_OK;
}

static void build_lut(cn_up20l_decoder *d)
{
    double dr = d->o.dynamic_range_db, g = d->o.gain_db, ref = d->o.ref_amplitude;
    for (int a = 0; a < 65536; a++) {
        /* amplitude 0 is below any finite range: treat as half a count */
        double db = 20.0 * log10((a > 0 ? (double)a : 0.5) / ref) + g;
        double p = 255.0 * (db + dr) / dr;
        d->lut[a] = (uint8_t)(p <= 0 ? 0 : p >= 255 ? 255 : lround(p));
    }
}

/* Bilinear plan for n_out samples of size out_mm over n_in samples spanning extent_mm. */
static void plan_axis(int n_out, double out_mm, int n_in, double extent_mm, int *i0, float *w)
{
    double in_mm = extent_mm / n_in;
    for (int i = 0; i < n_out; i++) {
        double s = ((i + 0.5) * out_mm) / in_mm - 0.5;
        if (s < 0)
            s = 0;
        if (s > n_in - 1)
            s = n_in - 1;
        int k = (int)floor(s);
        if (k >= n_in - 1)
            k = n_in - 2 >= 0 ? n_in - 2 : 0;
        i0[i] = k;
        w[i] = n_in > 1 ? (float)(s - k) : 0.0f;
    }
}

cn_up20l_decoder *cn_up20l_decoder_new(const cn_up20l_decode_opts *o, char *err, size_t err_len)
{
    if (!o) {
        snprintf(err, err_len, "decoder: no options");
        return NULL;
    }
    if (o->rows < 2 || o->rows > 8192 || o->cols < 2 || o->cols > 8192) {
        snprintf(err, err_len, "decoder: raw layout %d x %d outside 2..8192", o->rows, o->cols);
        return NULL;
    }
    if (!(o->width_mm > 1 && o->width_mm < 500 && o->depth_mm > 1 && o->depth_mm < 500)) {
        snprintf(err, err_len, "decoder: width_mm %.3g / depth_mm %.3g outside 1..500", o->width_mm,
                 o->depth_mm);
        return NULL;
    }
    if (!(o->pixel_mm >= 0.02 && o->pixel_mm <= 5)) {
        snprintf(err, err_len, "decoder: pixel_mm %.3g outside 0.02..5", o->pixel_mm);
        return NULL;
    }
    if (!(o->dynamic_range_db >= 20 && o->dynamic_range_db <= 100) ||
        !(o->gain_db >= -40 && o->gain_db <= 40) || !(o->ref_amplitude >= 1 && o->ref_amplitude <= 65535)) {
        snprintf(err, err_len,
                 "decoder: dynamic_range_db %.3g (20..100), gain_db %.3g (-40..40) or "
                 "ref_amplitude %.3g (1..65535) out of range",
                 o->dynamic_range_db, o->gain_db, o->ref_amplitude);
        return NULL;
    }
    int w = (int)lround(o->width_mm / o->pixel_mm), h = (int)lround(o->depth_mm / o->pixel_mm);
    if (w < 2 || h < 2 || w > 8192 || h > 8192) {
        snprintf(err, err_len, "decoder: output %d x %d px outside 2..8192", w, h);
        return NULL;
    }
    cn_up20l_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_len, "decoder: out of memory");
        return NULL;
    }
    d->o = *o;
    d->width = w;
    d->height = h;
    d->x0 = malloc(sizeof(int) * (size_t)w);
    d->wx = malloc(sizeof(float) * (size_t)w);
    d->y0 = malloc(sizeof(int) * (size_t)h);
    d->wy = malloc(sizeof(float) * (size_t)h);
    d->rowbuf = malloc(sizeof(float) * (size_t)o->cols);
    if (!d->x0 || !d->wx || !d->y0 || !d->wy || !d->rowbuf) {
        cn_up20l_decoder_free(d);
        snprintf(err, err_len, "decoder: out of memory");
        return NULL;
    }
    plan_axis(w, o->pixel_mm, o->cols, o->width_mm, d->x0, d->wx);
    plan_axis(h, o->pixel_mm, o->rows, o->depth_mm, d->y0, d->wy);
    build_lut(d);
    return d;
}

void cn_up20l_decoder_free(cn_up20l_decoder *d)
{
    if (!d)
        return;
    free(d->x0);
    free(d->wx);
    free(d->y0);
    free(d->wy);
    free(d->rowbuf);
    free(d);
}

void cn_up20l_decoder_size(const cn_up20l_decoder *d, int *width, int *height)
{
    *width = d->width;
    *height = d->height;
}

int cn_up20l_decoder_set_levels(cn_up20l_decoder *d, double gain_db, double dynamic_range_db)
{
    if (!(gain_db >= -40 && gain_db <= 40) || !(dynamic_range_db >= 20 && dynamic_range_db <= 100))
        return CN_ERANGE;
    if (gain_db == d->o.gain_db && dynamic_range_db == d->o.dynamic_range_db)
        return CN_OK;
    d->o.gain_db = gain_db;
    d->o.dynamic_range_db = dynamic_range_db;
    build_lut(d);
    return CN_OK;
}

int cn_up20l_check_raw(const cn_up20l_decoder *d, const uint8_t *raw, size_t len, char *err,
                       size_t err_len)
{
    size_t n = (size_t)d->o.rows * (size_t)d->o.cols;
    if (len != n * 2) {
        snprintf(err, err_len, "frame of %zu bytes, expected %zu", len, n * 2);
        return CN_EPARSE;
    }
    size_t bad = 0;
    unsigned lim = (unsigned)d->o.plausible_max, lo = 65535, hi = 0;
    for (size_t i = 0; i < len; i += 2) {
        unsigned v = (unsigned)(raw[i] | (raw[i + 1] << 8));
        bad += v > lim;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (bad * 1000 > n * (size_t)d->o.max_bad_permille) {
        snprintf(err, err_len,
                 "garbage frame: %zu of %zu samples above the plausible maximum %d "
                 "(limit %d per mille)",
                 bad, n, d->o.plausible_max, d->o.max_bad_permille);
        return CN_EPARSE;
    }
    /* A frame of one level is no echo: a probe whose transmit did not start, or zeroed
     * tables. It was shown as a live black image with nothing said (review 39a M2). A
     * real frame, even with the probe in air, has its ring-down: thousands of levels
     * (the five phantom frames: 0..8529 and more). */
    if (hi - lo <= CN_UP20L_EMPTY_SPAN || hi < CN_UP20L_ECHO_MIN) {
        snprintf(err, err_len, "empty frame: all samples %u-%u, no echo (transmit off? tables "
                 "zero?)", lo, hi);
        return CN_EPARSE;
    }
    return CN_OK;
}

int cn_up20l_decode(const cn_up20l_decoder *d, const uint8_t *raw, size_t len, cn_frame *f)
{
    const int cols = d->o.cols;
    if (!raw || !f || len != (size_t)d->o.rows * (size_t)cols * 2)
        return CN_EINVAL;
    int r = cn_frame_set_size(f, d->width, d->height);
    if (r != CN_OK)
        return r;
    float *v = d->rowbuf;
    const size_t stride = (size_t)cols * 2;
    for (int y = 0; y < d->height; y++) {
        const uint8_t *r0 = raw + (size_t)d->y0[y] * stride;
        const uint8_t *r1 = r0 + (d->o.rows > 1 ? stride : 0);
        float wy = d->wy[y], wy0 = 1.0f - wy;
        for (int c = 0; c < cols; c++) {
            unsigned a0 = (unsigned)(r0[2 * c] | (r0[2 * c + 1] << 8));
            unsigned a1 = (unsigned)(r1[2 * c] | (r1[2 * c + 1] << 8));
            v[c] = wy0 * d->lut[a0] + wy * d->lut[a1];
        }
        uint8_t *out = f->pixels + (size_t)y * (size_t)d->width;
        for (int x = 0; x < d->width; x++) {
            int k = d->x0[x];
            float wx = d->wx[x];
            float p = (1.0f - wx) * v[k] + wx * v[k + 1];
            out[x] = (uint8_t)(p + 0.5f);
        }
    }
    f->spacing_mm[0] = d->o.pixel_mm;
    f->spacing_mm[1] = d->o.pixel_mm;
    f->transducer_px[0] = d->width / 2.0;
    f->transducer_px[1] = 0.0;
    f->status = CN_FRAME_OK;
    return CN_OK;
}
