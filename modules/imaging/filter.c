/*
 * filter.c - smoothing, resampling and integral images for the live path, and the
 * scanner's field of view in a frame.
 * Every filter is O(1) per pixel whatever its radius (running sums), because the
 * whole analysis of a frame has a budget of a few milliseconds on one core. The field
 * of view's marks (cn_img_fov_box) are found by a union-find over runs of 4 x 4 blocks
 * written here rather than ITK's connected-component filter: the box is found on every
 * live frame in this C module, and all of it costs 0.11 ms p50 on a 640 x 480 frame
 * (`cryonav bench analysis`, the field-of-view line; 0.05 ms before the marks).
 */
#include "imaging/imaging.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

int cn_img_box_mean(const uint8_t *src, uint8_t *dst, int w, int h, int r, uint32_t *tmp)
{
    if (cn_image_check(src, w, h) || !dst || !tmp || r < 0 || r > 255 || dst == src)
        return CN_EINVAL;
    if (r == 0) {
        memcpy(dst, src, (size_t)w * h);
        return CN_OK;
    }
    /* colsum[x] = sum of src over rows y-r..y+r (clamped) */
    for (int x = 0; x < w; x++) {
        uint32_t s = 0;
        for (int k = -r; k <= r; k++)
            s += src[(size_t)clampi(k, 0, h - 1) * w + x];
        tmp[x] = s;
    }
    const uint32_t area = (uint32_t)(2 * r + 1) * (uint32_t)(2 * r + 1);
    for (int y = 0; y < h; y++) {
        uint8_t *drow = dst + (size_t)y * w;
        uint32_t s = 0;
        for (int k = -r; k <= r; k++)
            s += tmp[clampi(k, 0, w - 1)];
        for (int x = 0; x < w; x++) {
            drow[x] = (uint8_t)((s + area / 2) / area);
            s += tmp[clampi(x + r + 1, 0, w - 1)] - tmp[clampi(x - r, 0, w - 1)];
        }
        if (y + 1 < h) {
            const uint8_t *add = src + (size_t)clampi(y + r + 1, 0, h - 1) * w;
            const uint8_t *sub = src + (size_t)clampi(y - r, 0, h - 1) * w;
            for (int x = 0; x < w; x++)
                tmp[x] += (uint32_t)add[x] - (uint32_t)sub[x];
        }
    }
    return CN_OK;
}

int cn_img_downsample2(const uint8_t *src, int w, int h, uint8_t *dst)
{
    if (cn_image_check(src, w, h) || !dst || w < 2 || h < 2)
        return CN_EINVAL;
    int w2 = w / 2, h2 = h / 2;
    for (int y = 0; y < h2; y++) {
        const uint8_t *a = src + (size_t)(2 * y) * w, *b = a + w;
        uint8_t *d = dst + (size_t)y * w2;
        for (int x = 0; x < w2; x++)
            d[x] = (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2) >> 2);
    }
    return CN_OK;
}

int cn_img_integral(const uint8_t *src, int w, int h, uint32_t *ii)
{
    if (cn_image_check(src, w, h) || !ii || (int64_t)w * h * 255 > UINT32_MAX)
        return CN_EINVAL;
    memset(ii, 0, sizeof(uint32_t) * (size_t)(w + 1));
    for (int y = 0; y < h; y++) {
        uint32_t row = 0;
        uint32_t *cur = ii + (size_t)(y + 1) * (w + 1), *prev = cur - (w + 1);
        cur[0] = 0;
        for (int x = 0; x < w; x++) {
            row += src[(size_t)y * w + x];
            cur[x + 1] = prev[x + 1] + row;
        }
    }
    return CN_OK;
}

uint32_t cn_img_integral_sum(const uint32_t *ii, int w, int h, int x0, int y0, int x1, int y1)
{
    x0 = clampi(x0, 0, w);
    x1 = clampi(x1, 0, w);
    y0 = clampi(y0, 0, h);
    y1 = clampi(y1, 0, h);
    if (x1 <= x0 || y1 <= y0)
        return 0;
    size_t W = (size_t)w + 1;
    return ii[y1 * W + x1] - ii[y0 * W + x1] - ii[y1 * W + x0] + ii[y0 * W + x0];
}

float cn_img_sample(const uint8_t *px, int w, int h, float x, float y)
{
    if (!(x > 0)) x = 0; /* also catches NaN */
    if (!(y > 0)) y = 0;
    if (x > (float)(w - 1)) x = (float)(w - 1);
    if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *r0 = px + (size_t)y0 * w, *r1 = px + (size_t)y1 * w;
    float a = r0[x0] + fx * (float)(r0[x1] - r0[x0]);
    float b = r1[x0] + fx * (float)(r1[x1] - r1[x0]);
    return a + fy * (b - a);
}

/* Union-find with path halving; a root is the smallest index of its set. */
static uint32_t uf_find(uint32_t *parent, uint32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void uf_union(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a != b)
        parent[a < b ? b : a] = a < b ? a : b;
}

/* The scratch: col_lit (w), row_lit (h), each block's top (nb), colmax (w bytes, in
 * w / 4 + 1 words) and six words per run (at most half the blocks of a row, rounded up,
 * per row of blocks). */
size_t cn_img_fov_scratch_len(int w, int h)
{
    if (w < 1 || h < 1)
        return 0;
    const size_t bw = (size_t)((w + CN_FOV_BLOCK - 1) / CN_FOV_BLOCK);
    const size_t bh = (size_t)((h + CN_FOV_BLOCK - 1) / CN_FOV_BLOCK);
    return (size_t)w + (size_t)h + bw * bh + (size_t)w / 4 + 1 + 6 * ((bw + 1) / 2) * bh;
}

/* Lit counts per row and column into row_lit, col_lit. */
static void count_lit(const uint8_t *px, int w, int h, uint32_t *row_lit, uint32_t *col_lit)
{
    memset(col_lit, 0, sizeof(uint32_t) * (size_t)w);
    for (int y = 0; y < h; y++) {
        const uint8_t *r = px + (size_t)y * w;
        uint32_t lit = 0;
        for (int x = 0; x < w; x++) {
            const uint32_t on = r[x] > CN_FOV_GREY;
            lit += on;
            col_lit[x] += on;
        }
        row_lit[y] = lit;
    }
}

/* Each CN_FOV_BLOCK-square block's brightest grey into top (bw blocks a row): first
 * down the block's rows into colmax (w bytes; a byte-wise max the compiler vectorises),
 * then across. Written so because the live stage does this on every frame: a loop that
 * updated the block's maximum pixel by pixel took 0.5 ms of a 640 x 480 frame. */
static void block_top(const uint8_t *px, int w, int h, uint8_t *colmax, uint32_t *top)
{
    const int B = CN_FOV_BLOCK, bw = (w + B - 1) / B;
    for (int by = 0; by * B < h; by++) {
        memcpy(colmax, px + (size_t)by * B * w, (size_t)w);
        for (int y = by * B + 1; y < by * B + B && y < h; y++) {
            const uint8_t *r = px + (size_t)y * w;
            for (int x = 0; x < w; x++)
                colmax[x] = r[x] > colmax[x] ? r[x] : colmax[x];
        }
        uint32_t *t = top + (size_t)by * (size_t)bw;
        for (int bx = 0; bx < bw; bx++) {
            uint8_t m = 0;
            for (int x = bx * B; x < bx * B + B && x < w; x++)
                m = colmax[x] > m ? colmax[x] : m;
            t[bx] = m;
        }
    }
}

/* The box of rows and columns with CN_FOV_SHARE of their pixels lit; false when none,
 * or under a quarter of a side (not trusted). */
static bool share_box(const uint32_t *row_lit, const uint32_t *col_lit, int w, int h,
                      cn_img_box *out)
{
    int y0 = -1, y1 = -1, x0 = -1, x1 = -1;
    for (int y = 0; y < h; y++) /* the share as numpy's mean computes it: count / n in double */
        if ((double)row_lit[y] / (double)w >= CN_FOV_SHARE) {
            y0 = y0 < 0 ? y : y0;
            y1 = y + 1;
        }
    for (int x = 0; x < w; x++)
        if ((double)col_lit[x] / (double)h >= CN_FOV_SHARE) {
            x0 = x0 < 0 ? x : x0;
            x1 = x + 1;
        }
    if (y0 < 0 || x0 < 0 || (y1 - y0) * 4 < h || (x1 - x0) * 4 < w)
        return false;
    *out = (cn_img_box){x0, y0, x1 - x0, y1 - y0};
    return true;
}

/* The runs of lit blocks (top above CN_FOV_GREY) along each row of blocks, joined
 * 8-connected by union-find over runs rather than blocks: a frame that is all image
 * has one run a row, so this costs little beside the pass over the pixels. */
typedef struct {
    uint32_t *x0, *x1, *row, *parent, *area, *top; /* one per run */
} fov_runs;

static uint32_t label_runs(const uint32_t *top_blk, int bw, int bh, fov_runs *r)
{
    uint32_t n = 0, prev0 = 0, prev1 = 0;
    for (int by = 0; by < bh; by++) {
        const uint32_t *t = top_blk + (size_t)by * (size_t)bw;
        const uint32_t cur0 = n;
        uint32_t k = prev0; /* first run of the row above that may touch */
        for (int bx = 0; bx < bw;) {
            if (t[bx] <= CN_FOV_GREY) {
                bx++;
                continue;
            }
            const uint32_t x0 = (uint32_t)bx;
            uint32_t m = 0;
            for (; bx < bw && t[bx] > CN_FOV_GREY; bx++)
                m = t[bx] > m ? t[bx] : m;
            r->x0[n] = x0;
            r->x1[n] = (uint32_t)bx;
            r->row[n] = (uint32_t)by;
            r->parent[n] = n;
            r->area[n] = (uint32_t)bx - x0;
            r->top[n] = m;
            /* a run [a, b) above touches [x0, bx) 8-connected when a <= bx and b >= x0 */
            while (k < prev1 && r->x1[k] < x0)
                k++;
            for (uint32_t j = k; j < prev1 && r->x0[j] <= (uint32_t)bx; j++)
                uf_union(r->parent, n, j);
            n++;
        }
        prev0 = cur0;
        prev1 = n;
    }
    return n;
}

/* Takes the frame's marks out of the lit counts: the lit parts (blocks of CN_FOV_BLOCK
 * pixels square, lit when any pixel is, 8-connected) under 1 / CN_FOV_PART_RATIO of the
 * largest part's blocks that hold a pixel of grey CN_FOV_MARK_GREY or more. A scanner's
 * text, its depth scale and markers are such parts; the image is one large part, and
 * the sparse speckle of deep dark tissue is dim. Returns whether any was taken out. */
static bool remove_marks(const uint8_t *px, int w, int h, const uint32_t *top_blk,
                         uint32_t *row_lit, uint32_t *col_lit, fov_runs *r)
{
    const int B = CN_FOV_BLOCK, bw = (w + B - 1) / B, bh = (h + B - 1) / B;
    const uint32_t n = label_runs(top_blk, bw, bh, r);
    uint32_t largest = 0;
    for (uint32_t i = 0; i < n; i++) { /* a root has the smallest index of its part */
        const uint32_t root = uf_find(r->parent, i);
        if (root != i) {
            r->area[root] += r->area[i];
            r->top[root] = r->top[i] > r->top[root] ? r->top[i] : r->top[root];
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if (r->parent[i] == i)
            largest = r->area[i] > largest ? r->area[i] : largest;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t root = uf_find(r->parent, i);
        if ((uint64_t)r->area[root] * CN_FOV_PART_RATIO >= largest ||
            r->top[root] < CN_FOV_MARK_GREY)
            continue;
        any = true;
        const int y0 = (int)r->row[i] * B, x0 = (int)r->x0[i] * B, x1 = (int)r->x1[i] * B;
        for (int y = y0; y < y0 + B && y < h; y++)
            for (int x = x0; x < x1 && x < w; x++)
                if (px[(size_t)y * w + x] > CN_FOV_GREY) {
                    row_lit[y]--;
                    col_lit[x]--;
                }
    }
    return any;
}

int cn_img_fov_box(const uint8_t *px, int w, int h, uint32_t *scratch, cn_img_box *out)
{
    if (cn_image_check(px, w, h) || !scratch || !out)
        return CN_EINVAL;
    *out = (cn_img_box){0, 0, w, h};
    const size_t bw = (size_t)((w + CN_FOV_BLOCK - 1) / CN_FOV_BLOCK);
    const size_t bh = (size_t)((h + CN_FOV_BLOCK - 1) / CN_FOV_BLOCK);
    const size_t max_runs = (bw + 1) / 2 * bh;
    uint32_t *col_lit = scratch, *row_lit = scratch + w, *top = row_lit + h;
    uint8_t *colmax = (uint8_t *)(top + bw * bh);
    uint32_t *runs = top + bw * bh + (size_t)w / 4 + 1;
    count_lit(px, w, h, row_lit, col_lit);
    cn_img_box raw;
    if (!share_box(row_lit, col_lit, w, h, &raw))
        return CN_OK; /* none, or too small to trust: the whole frame */
    *out = raw;
    /* the same rule on the frame without its marks (a frame without any keeps its box) */
    block_top(px, w, h, colmax, top);
    fov_runs r = {runs, runs + max_runs, runs + 2 * max_runs, runs + 3 * max_runs,
                  runs + 4 * max_runs, runs + 5 * max_runs};
    if (remove_marks(px, w, h, top, row_lit, col_lit, &r)) {
        cn_img_box cut;
        if (share_box(row_lit, col_lit, w, h, &cut))
            *out = cut;
    }
    return CN_OK;
}

int cn_img_crop(const uint8_t *src, int w, int h, cn_img_box b, uint8_t *dst)
{
    if (cn_image_check(src, w, h) || !dst || b.x0 < 0 || b.y0 < 0 || b.w < 1 || b.h < 1 ||
        b.x0 + b.w > w || b.y0 + b.h > h)
        return CN_EINVAL;
    for (int y = 0; y < b.h; y++)
        memcpy(dst + (size_t)y * b.w, src + (size_t)(b.y0 + y) * w + b.x0, (size_t)b.w);
    return CN_OK;
}
