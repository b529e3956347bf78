/*
 * test_nerve_live.c - the nerve as the live stage reports it (nerve_live.c via
 * cn_segment_process), on real images as frames:
 *
 *  - automatic (no click): found by the finder's pass, shown once its refine
 *    network (cn_nerve_cnn_new_refine) outlines it on the frame after, refined
 *    once more with the crop centred on that outline's mask, followed
 *    by block matching, then held with a decaying confidence when the nerve
 *    leaves the image, then none; the states found / held / none on the contour.
 *  - seeded: the click picks the found nerve nearest to it; a click away from
 *    every found nerve falls back to the seeded DP path there.
 *  - the DP's size prior on small frames without a pixel size (the defect: a
 *    fixed 52 px prior, 40 % of a 130 px frame, collapsed the outlines).
 *  - the configuration keys nerve_find and nerve_period.
 *  - a part the refine network outlines nothing around is no find (a real
 *    N-wire phantom frame: the screen used to show what `eval nerve` counts as
 *    none).
 *  - a clicked nerve that leaves the view (the probe lifted, or on real bone and
 *    muscle) is held, then none, and found again when the probe is back: the
 *    screen used to keep a "nerve" at the point (two defects).
 *  - a clicked nerve the finder does not find keeps the click's outline on a still
 *    image (the DP used to replace it after two passes) and is dropped, not
 *    redrawn by the DP, when the probe is lifted.
 *  - a cleared point takes its outline with it (it used to be held half a second).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "segment/segment.h"
#include "seqio/seqio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cn_image *im, *mask;
    cn_frame_pool *pool;
    cn_frame *f;
} fixture;

static void fx_open(fixture *x, const char *image, const char *mask)
{
    char p1[2048], p2[2048], err[1024];
    snprintf(p1, sizeof p1, "%s/%s", CN_SHARED_DATA_DIR, image);
    snprintf(p2, sizeof p2, "%s/%s", CN_SHARED_DATA_DIR, mask);
    assert_int_equal(cn_image_read(p1, CN_IMAGE_GREY, &x->im, err, sizeof err), CN_OK);
    assert_int_equal(cn_mask_read(p2, p1, x->im->w, x->im->h, &x->mask, err, sizeof err), CN_OK);
    x->pool = cn_frame_pool_new(1, 1024, 1024);
    assert_non_null(x->pool);
    x->f = cn_frame_pool_acquire(x->pool);
    assert_non_null(x->f);
}

static void fx_close(fixture *x)
{
    cn_frame_unref(x->f);
    cn_frame_pool_free(x->pool);
    cn_image_free(x->im);
    cn_image_free(x->mask);
}

/* The frame as the live stage gives it to the networks: cut to the field of view
 * when the weights were trained so (buf gets the cut, *b its box in the frame). */
static const uint8_t *lib_view(const fixture *x, const cn_nerve_find *fd, uint8_t *buf,
                               cn_img_box *b)
{
    *b = (cn_img_box){0, 0, x->im->w, x->im->h};
    if (!cn_nerve_find_fov_crop(fd))
        return x->im->px;
    uint32_t *cols = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(x->im->w, x->im->h));
    assert_non_null(cols);
    assert_int_equal(cn_img_fov_box(x->im->px, x->im->w, x->im->h, cols, b), CN_OK);
    free(cols);
    assert_int_equal(cn_img_crop(x->im->px, x->im->w, x->im->h, *b, buf), CN_OK);
    return buf;
}

static int64_t t_ns;

/* Puts px (the fixture's size) into the frame at spacing sp and analyses it. */
static void process(cn_segment *seg, fixture *x, const uint8_t *px, double sp)
{
    assert_int_equal(cn_frame_set_size(x->f, x->im->w, x->im->h), CN_OK);
    memcpy(x->f->pixels, px, (size_t)x->im->w * x->im->h);
    x->f->spacing_mm[0] = x->f->spacing_mm[1] = sp;
    x->f->t_acq_ns = t_ns += 50000000;
    assert_int_equal(cn_segment_process(seg, x->f), CN_OK);
}

/* Dice of the reported outline against the fixture's mask. */
static double outline_dice(const fixture *x, const cn_contour *c, double sp)
{
    const int w = x->im->w, h = x->im->h;
    cn_pt2 px[CN_CONTOUR_MAX];
    for (int i = 0; i < c->n; i++)
        px[i] = (cn_pt2){(float)(c->pts_mm[i].x / sp - 0.5), (float)(c->pts_mm[i].y / sp - 0.5)};
    uint8_t *poly = calloc((size_t)w * h, 1);
    cn_img_fill_polygon(poly, w, h, px, c->n, 1);
    double d = cn_mask_dice(poly, x->mask->px, w, h);
    free(poly);
    return d;
}

/* The library's automatic refine run at (cx, cy): the staged crop CNN, every network
 * in turn, the finder's logits blended at its automatic weight (a size-normalised
 * file's second crop is the click's, not the refine's). */
static void refine_run(cn_nerve_cnn *cnn, const cn_nerve_find *fd, const uint8_t *px, int w,
                       int h, double cx, double cy, cn_pt2 *pts, int *np, float *conf)
{
    assert_int_equal(cn_nerve_cnn_blend_begin(cnn, CN_NERVE_CNN_LIVE, px, w, h, cx, cy, fd),
                     CN_OK);
    bool done = false;
    while (!done)
        assert_int_equal(cn_nerve_cnn_blend_step(cnn, fd, cn_nerve_find_auto_weight(fd), NULL,
                                                 pts, np, conf, &done), CN_OK);
}

static void centre(const cn_contour *c, double *cx, double *cy)
{
    *cx = *cy = 0;
    for (int i = 0; i < c->n; i++) {
        *cx += c->pts_mm[i].x / c->n;
        *cy += c->pts_mm[i].y / c->n;
    }
}

static void test_automatic_states(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, "nerve-femoral/trainset/images/sample_30.jpg",
            "nerve-femoral/trainset/masks/sample_30.png");
    const double sp = 0.1;
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    assert_true(!sc.nerve_auto && sc.nerve_find); /* off by default, as the shipped session */
    sc.nerve_auto = true;
    assert_int_equal(sc.nerve_period, 2);
    cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
    assert_non_null(seg);
    /* the first pass of the network is spread over nerve_period frames per network
     * of the finder's ensemble (nothing to report before it completes; with three
     * networks six frames, each carrying half a network as with one; fails before
     * the tenth session with an ensemble file: the pass took nerve_period frames,
     * three half-networks each), then the refine network outlines the found part on
     * the next frame, which shows it first (since the thirteenth session: a part the
     * refine outlines nothing around is no find, as `eval nerve` scores it) */
    cn_nerve_find *probe = cn_nerve_find_new(64, 64);
    assert_non_null(probe);
    const int pass_frames = sc.nerve_period * cn_nerve_find_members(probe);
    cn_nerve_find_free(probe);
    int frames = 0;
    do {
        process(seg, &x, x.im->px, sp);
        frames++;
    } while (!x.f->analysis.nerve.found && frames < pass_frames + 2);
    print_message("automatic: first outline after %d frames (%d per network)\n", frames, sc.nerve_period);
    assert_int_equal(frames, pass_frames + 1);
    cn_contour a = x.f->analysis.nerve;
    assert_true(a.found);
    assert_false(a.held || a.hidden);
    assert_int_equal(a.n, CN_NERVE_ANGLES);
    assert_true(a.confidence > 0.5f && a.confidence <= 1.0f);
    double d = outline_dice(&x, &a, sp);
    print_message("automatic: found, confidence %.2f, outline dice %.3f\n", a.confidence, d);
    assert_true(d > 0.4);
    /* the refine network outlines it on the pass's frame, one network per frame (a
     * frame never carries a finder share with it): that frame drew its outline at
     * the part's centre, the next one its outline once more, its crop centred on the
     * first refine's mask (CN_NERVE_AUTO_RECENTRE), the one after that (a new pass
     * starts) follows it by block matching. Each is the outline the library's own
     * runs give on this frame: the runs `eval nerve` scores. */
    cn_contour step[CN_NERVE_AUTO_RECENTRE + 1];
    step[0] = a;
    for (int k = 1; k <= CN_NERVE_AUTO_RECENTRE; k++) {
        process(seg, &x, x.im->px, sp);
        step[k] = x.f->analysis.nerve;
        assert_true(step[k].found);
        assert_false(step[k].held);
    }
    cn_nerve_find *fd = cn_nerve_find_new(x.im->w, x.im->h);
    cn_nerve_cnn *cnn = cn_nerve_cnn_new_refine(x.im->w, x.im->h);
    assert_non_null(fd);
    assert_non_null(cnn);
    uint8_t *vbuf = malloc((size_t)x.im->w * x.im->h);
    assert_non_null(vbuf);
    cn_img_box vb;
    const uint8_t *vpx = lib_view(&x, fd, vbuf, &vb);
    const int w = vb.w, h = vb.h;
    const double spv[2] = {sp, sp};
    assert_int_equal(cn_nerve_find_analyse(fd, CN_NERVE_FIND_LIVE, vpx, w, h, spv,
                                           sc.nerve_radius_mm), CN_OK);
    cn_nerve_found fo;
    assert_int_equal(cn_nerve_find_select(fd, NULL, NULL, &fo), CN_OK);
    assert_true(fo.found);
    double cx = fo.cx_px, cy = fo.cy_px;
    for (int k = 0; k <= CN_NERVE_AUTO_RECENTRE; k++) {
        if (k > 0)
            assert_int_equal(cn_nerve_cnn_mask_centre(cnn, &cx, &cy), CN_OK);
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np = 0;
        float conf = 0;
        refine_run(cnn, fd, vpx, w, h, cx, cy, pts, &np, &conf);
        assert_true(conf > 0);
        assert_int_equal(step[k].n, np);
        /* the same outline, up to block matching's sub-cell shift on this frame */
        double off = 0, moved = 0;
        for (int i = 0; i < np; i++) {
            off = fmax(off, hypot(step[k].pts_mm[i].x - (pts[i].x + vb.x0 + 0.5) * sp,
                                  step[k].pts_mm[i].y - (pts[i].y + vb.y0 + 0.5) * sp));
            if (k > 0)
                moved = fmax(moved, hypot(step[k].pts_mm[i].x - step[k - 1].pts_mm[i].x,
                                          step[k].pts_mm[i].y - step[k - 1].pts_mm[i].y));
        }
        print_message("refine %d: outline dice %.3f, %.3f mm from the library's run, moved %.2f mm\n", k,
                      outline_dice(&x, &step[k], sp), off, moved);
        assert_true(off < 0.05);
        if (k > 0)
            assert_true(moved > 0.2); /* the re-centred crop did run */
    }
    cn_nerve_cnn_free(cnn);
    cn_nerve_find_free(fd);
    free(vbuf);
    const cn_contour refined = step[CN_NERVE_AUTO_RECENTRE];
    process(seg, &x, x.im->px, sp);
    const cn_contour *b = &x.f->analysis.nerve;
    assert_true(b->found);
    assert_false(b->held);
    double ax, ay, bx, by;
    centre(&refined, &ax, &ay);
    centre(b, &bx, &by);
    assert_true(fabs(ax - bx) < 0.1 && fabs(ay - by) < 0.1);
    /* three more passes on the same view: found on every frame, never held (a pass's
     * last frame follows the outline from before it, re-anchored on the pass's frame,
     * until the refine confirms the part on the next) */
    for (int k = 0; k < 3 * (pass_frames + 1 + CN_NERVE_AUTO_RECENTRE); k++) {
        process(seg, &x, x.im->px, sp);
        assert_true(x.f->analysis.nerve.found);
        assert_false(x.f->analysis.nerve.held);
        assert_true(outline_dice(&x, &x.f->analysis.nerve, sp) > 0.4);
    }
    /* the nerve leaves the view (speckle-like texture, no nerve): held, then none */
    const size_t np = (size_t)x.im->w * x.im->h;
    uint8_t *noise = malloc(np);
    for (size_t i = 0; i < np; i++)
        noise[i] = (uint8_t)(60 + ((i * 2654435761u) >> 26));
    int held = 0;
    float last_conf = a.confidence;
    for (int k = 0; k < 30; k++) {
        process(seg, &x, noise, sp);
        const cn_contour *c = &x.f->analysis.nerve;
        if (!c->found)
            break;
        assert_true(c->held);
        assert_false(c->hidden);
        assert_true(c->confidence < last_conf);
        last_conf = c->confidence;
        held++;
    }
    print_message("nerve gone: held for %d frames, then none\n", held);
    assert_true(held >= 5 && held <= 12);
    assert_false(x.f->analysis.nerve.found);
    assert_false(x.f->analysis.nerve.held);
    /* back in view: found again within two passes */
    for (int k = 0; k < 2 * pass_frames && !x.f->analysis.nerve.found; k++)
        process(seg, &x, x.im->px, sp);
    assert_true(x.f->analysis.nerve.found);
    assert_false(x.f->analysis.nerve.held);
    /* automatic mode off and no click: nothing is looked for */
    cn_segment_free(seg);
    sc.nerve_auto = false;
    seg = cn_segment_new(&sc, 1024, 1024);
    process(seg, &x, x.im->px, sp);
    assert_false(x.f->analysis.nerve.found);
    cn_segment_free(seg);
    free(noise);
    fx_close(&x);
}

static void test_seeded_picks_and_falls_back(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, "nerve-us/images/0000.png", "nerve-us/masks/0000.png");
    const double sp = 0.06;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(x.mask->px, x.im->w, x.im->h, &cx, &cy, NULL), CN_OK);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
    assert_non_null(seg);
    /* the click at the expert's nerve: the found nerve there */
    cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
    process(seg, &x, x.im->px, sp);
    const cn_contour *c = &x.f->analysis.nerve;
    assert_true(c->found);
    double d = outline_dice(&x, c, sp);
    print_message("seeded at the mask centroid: dice %.3f confidence %.2f\n", d, c->confidence);
    assert_true(d > 0.4);
    /* the next frame: a size-normalised crop CNN (the shipped CNNERVE2) draws its
     * second crop on the click's frame there, one network per frame, and that
     * outline is followed: the library's whole seeded run on the same frame (both
     * crops), up to block matching's sub-cell shift. Before, the click's frame
     * ran both crops on top of the finder. */
    const cn_contour first = *c;
    process(seg, &x, x.im->px, sp);
    c = &x.f->analysis.nerve;
    assert_true(c->found);
    {
        cn_nerve_find *fd = cn_nerve_find_new(x.im->w, x.im->h);
        cn_nerve_cnn *cnn = cn_nerve_cnn_new(x.im->w, x.im->h);
        assert_non_null(fd);
        assert_non_null(cnn);
        uint8_t *vbuf = malloc((size_t)x.im->w * x.im->h);
        assert_non_null(vbuf);
        cn_img_box vb;
        const uint8_t *vpx = lib_view(&x, fd, vbuf, &vb);
        const int w = vb.w, h = vb.h;
        const double spv[2] = {sp, sp};
        assert_int_equal(cn_nerve_find_analyse(fd, CN_NERVE_FIND_LIVE, vpx, w, h, spv,
                                               sc.nerve_radius_mm), CN_OK);
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np = 0;
        float conf = 0;
        assert_int_equal(cn_nerve_cnn_run_blend(cnn, CN_NERVE_CNN_LIVE, vpx, w, h, cx - vb.x0, cy - vb.y0, fd,
                                                cn_nerve_find_seeded_weight(fd), NULL, pts, &np,
                                                &conf), CN_OK);
        assert_int_equal(np, c->n);
        double off = 0, moved = 0;
        for (int i = 0; i < np; i++) {
            off = fmax(off, hypot(c->pts_mm[i].x - (pts[i].x + vb.x0 + 0.5) * sp,
                                  c->pts_mm[i].y - (pts[i].y + vb.y0 + 0.5) * sp));
            moved = fmax(moved, hypot(c->pts_mm[i].x - first.pts_mm[i].x,
                                      c->pts_mm[i].y - first.pts_mm[i].y));
        }
        print_message("next frame: dice %.3f, %.3f mm from the library's seeded run, %.2f mm from "
                      "the click frame's outline\n", outline_dice(&x, c, sp), off, moved);
        assert_true(off < 0.05);
        assert_true(moved > 0.2); /* the second crop did run */
        cn_nerve_cnn_free(cnn);
        cn_nerve_find_free(fd);
        free(vbuf);
    }
    /* a click far from every found nerve (the top left corner, above the skin
     * line): the seeded fallback outlines what is there, around the click */
    cn_segment_free(seg);
    sc.nerve_cnn = false; /* the DP alone as the fallback, for a predictable answer */
    seg = cn_segment_new(&sc, 1024, 1024);
    const cn_pt2 corner = {(float)(40 * sp), (float)(40 * sp)};
    cn_segment_set_nerve_seed(seg, corner);
    process(seg, &x, x.im->px, sp);
    c = &x.f->analysis.nerve;
    if (c->found) {
        double ox, oy;
        centre(c, &ox, &oy);
        print_message("click in the corner: outline centre (%.1f, %.1f) mm\n", ox, oy);
        assert_true(hypot(ox - corner.x, oy - corner.y) < 3.0);
    }
    cn_segment_free(seg);
    fx_close(&x);
}

/* The DP on small frames without a known pixel size: every 10th nerve-us image
 * reduced 4x (~130 px), seeded at the mask centroid. The defect: the DP's size
 * prior was a fixed 52 px (right for the 512-px originals only), a nerve
 * radius of 40 % of these frames, and the outlines collapsed onto the frame
 * (mean Dice 0.165). The prior now follows the frame (cn_nerve_prior_radius_px). */
#define SMALL_DP_DICE_DOC 0.504 /* documented mean Dice of this subset (docs/validation.md) */

static void test_dp_prior_on_small_frames(void **st)
{
    (void)st;
    double sum = 0;
    int n = 0;
    cn_nerve_seg *seg = cn_nerve_seg_new(256, 256);
    assert_non_null(seg);
    for (int k = 0; k < 204; k += 10) {
        char a[64], b[64];
        snprintf(a, sizeof a, "nerve-us/images/%04d.png", k);
        snprintf(b, sizeof b, "nerve-us/masks/%04d.png", k);
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", CN_SHARED_DATA_DIR, a);
        FILE *fp = fopen(p, "rb");
        if (!fp)
            continue; /* the data set skips some numbers */
        fclose(fp);
        fixture x;
        fx_open(&x, a, b);
        const int w = x.im->w / 4, h = x.im->h / 4;
        uint8_t *small = malloc((size_t)w * h), *smask = malloc((size_t)w * h);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                int s = 0, m = 0;
                for (int j = 0; j < 4; j++)
                    for (int i = 0; i < 4; i++) {
                        s += x.im->px[(size_t)(4 * y + j) * x.im->w + 4 * xx + i];
                        m += x.mask->px[(size_t)(4 * y + j) * x.im->w + 4 * xx + i];
                    }
                small[(size_t)y * w + xx] = (uint8_t)(s / 16);
                smask[(size_t)y * w + xx] = m >= 8;
            }
        double cx, cy;
        if (cn_mask_centroid(smask, w, h, &cx, &cy, NULL) == CN_OK) {
            cn_nerve_params prm;
            cn_nerve_params_default(&prm);
            prm.r0_px = cn_nerve_prior_radius_px(w, h, NULL, 3.0);
            cn_pt2 pts[CN_CONTOUR_MAX];
            int np;
            float conf;
            assert_int_equal(cn_nerve_seg_prepare(seg, small, w, h), CN_OK);
            assert_int_equal(cn_nerve_seg_run(seg, cx, cy, &prm, pts, &np, &conf), CN_OK);
            uint8_t *poly = calloc((size_t)w * h, 1);
            cn_img_fill_polygon(poly, w, h, pts, np, 1);
            sum += cn_mask_dice(poly, smask, w, h);
            n++;
            free(poly);
        }
        free(small);
        free(smask);
        fx_close(&x);
    }
    print_message("DP seeded on %d nerve-us images reduced 4x: mean dice %.3f\n", n, sum / n);
    assert_true(n >= 18);
    assert_true(sum / n >= SMALL_DP_DICE_DOC - 0.05);
    /* the rule itself: the spacing when known, the height without, clamped */
    const double sp1[2] = {0.1, 0.1}, sp2[2] = {2, 2};
    assert_true(fabs(cn_nerve_prior_radius_px(640, 480, sp1, 3.0) - 30.0) < 1e-9);
    assert_true(fabs(cn_nerve_prior_radius_px(534, 512, NULL, 3.0) - 51.2) < 1e-9);
    assert_true(fabs(cn_nerve_prior_radius_px(100, 80, sp1, 3.0) - 16.0) < 1e-9);
    assert_true(fabs(cn_nerve_prior_radius_px(64, 48, sp2, 3.0) - CN_NERVE_R0_MIN_PX) < 1e-9);
    cn_nerve_seg_free(seg);
}

static void test_config_keys(void **st)
{
    (void)st;
    char err[512];
    cn_segment_config c;
    cn_segment_config_default(&c);
    cn_json *doc = cn_json_parse("{\"segment\": {\"nerve_find\": false, \"nerve_period\": 4}}",
                                 "s.json", err, sizeof err);
    assert_non_null(doc);
    assert_int_equal(cn_segment_config_from_json(doc, "segment", &c, NULL, NULL, err, sizeof err),
                     CN_OK);
    assert_false(c.nerve_find);
    assert_int_equal(c.nerve_period, 4);
    cn_json_free(doc);
    const char *bad[] = {"{\"segment\": {\"nerve_period\": 0}}", "{\"segment\": {\"nerve_period\": 2.5}}",
                         "{\"segment\": {\"nerve_period\": 99}}", "{\"segment\": {\"nerve_find\": 1}}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        doc = cn_json_parse(bad[k], "s.json", err, sizeof err);
        assert_non_null(doc);
        err[0] = 0;
        assert_int_not_equal(cn_segment_config_from_json(doc, "segment", &c, NULL, NULL, err,
                                                         sizeof err), CN_OK);
        print_message("%s -> %s\n", bad[k], err);
        assert_non_null(strstr(err, "nerve_"));
        cn_json_free(doc);
    }
}

/* Puts a w x h frame into f at spacing sp and analyses it. */
static void process_px(cn_segment *seg, cn_frame *f, const uint8_t *px, int w, int h, double sp)
{
    assert_int_equal(cn_frame_set_size(f, w, h), CN_OK);
    memcpy(f->pixels, px, (size_t)w * h);
    f->spacing_mm[0] = f->spacing_mm[1] = sp;
    f->t_acq_ns = t_ns += 50000000;
    assert_int_equal(cn_segment_process(seg, f), CN_OK);
}

/* Networks trained on frames cut to the field of view (the built-in weights since
 * the ninth session): the live stage cuts every frame to cn_img_fov_box, so a
 * screen capture's black margins change nothing. The same nerve-us image, alone
 * and pasted into a black canvas 1.4 x its size, gives the same outline in the
 * image's own millimetres, automatic and seeded, on the network frame and on the
 * tracked and refined frames after it; a box that jitters by a pixel (the paste
 * moved one column) is held, so tracking goes on. */
static void test_fov_cut_live(void **st)
{
    (void)st;
    cn_nerve_find *probe = cn_nerve_find_new(64, 64);
    assert_non_null(probe);
    const bool cut_weights = cn_nerve_find_fov_crop(probe);
    /* automatic: the first outline comes when the first pass completes,
     * nerve_period frames per network of the finder's ensemble */
    const int members = cn_nerve_find_members(probe);
    cn_nerve_find_free(probe);
    if (!cut_weights) {
        print_message("the built-in finder was not trained on cut frames: nothing to cut\n");
        skip();
    }
    fixture x;
    fx_open(&x, "nerve-us/images/0034.png", "nerve-us/masks/0034.png");
    uint32_t *cols = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(2048, 2048));
    assert_non_null(cols);
    cn_img_box b;
    assert_int_equal(cn_img_fov_box(x.im->px, x.im->w, x.im->h, cols, &b), CN_OK);
    assert_true(b.h < x.im->h); /* this image has black bands of its own */
    const int W = b.w * 14 / 10, H = b.h * 14 / 10, ox = (W - b.w) / 3, oy = (H - b.h) / 3;
    uint8_t *v = malloc((size_t)b.w * b.h), *c = calloc((size_t)W * H, 1),
            *c1 = calloc((size_t)W * H, 1);
    assert_true(v && c && c1);
    assert_int_equal(cn_img_crop(x.im->px, x.im->w, x.im->h, b, v), CN_OK);
    for (int y = 0; y < b.h; y++) {
        memcpy(c + (size_t)(y + oy) * W + ox, v + (size_t)y * b.w, (size_t)b.w);
        memcpy(c1 + (size_t)(y + oy) * W + ox + 1, v + (size_t)y * b.w, (size_t)b.w);
    }
    cn_img_box bb;
    assert_int_equal(cn_img_fov_box(c, W, H, cols, &bb), CN_OK);
    assert_true(bb.x0 == ox && bb.y0 == oy && bb.w == b.w && bb.h == b.h);
    const double sp = 0.08, dx_mm = ox * sp, dy_mm = oy * sp;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(x.mask->px, x.im->w, x.im->h, &cx, &cy, NULL), CN_OK);
    cy -= b.y0;
    cx -= b.x0;
    for (int seeded = 0; seeded < 2; seeded++) {
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.nerve_auto = !seeded;
        cn_segment *alone = cn_segment_new(&sc, 1024, 1024), *canvas = cn_segment_new(&sc, 1024, 1024);
        assert_true(alone && canvas);
        if (seeded) {
            cn_segment_set_nerve_seed(alone, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
            cn_segment_set_nerve_seed(canvas, (cn_pt2){(float)((cx + ox + 0.5) * sp),
                                                       (float)((cy + oy + 0.5) * sp)});
        }
        const int nframes = sc.nerve_period * members + 6;
        int found = 0;
        for (int k = 0; k < nframes; k++) {
            process_px(alone, x.f, v, b.w, b.h, sp);
            const cn_contour a = x.f->analysis.nerve;
            process_px(canvas, x.f, c, W, H, sp);
            const cn_contour *m = &x.f->analysis.nerve;
            assert_int_equal(a.found, m->found);
            assert_int_equal(a.held, m->held);
            if (!a.found)
                continue;
            found++;
            assert_int_equal(a.n, m->n);
            assert_true(fabsf(a.confidence - m->confidence) < 1e-6f);
            double worst = 0;
            for (int i = 0; i < a.n; i++)
                worst = fmax(worst, hypot(m->pts_mm[i].x - dx_mm - a.pts_mm[i].x,
                                          m->pts_mm[i].y - dy_mm - a.pts_mm[i].y));
            assert_true(worst < 1e-3);
        }
        print_message("%s: %d of %d frames found, the same outline alone and in the canvas\n",
                      seeded ? "seeded" : "automatic", found, nframes);
        assert_true(found >= 6);
        /* the paste moved by one column: the box is held and the nerve still followed */
        for (int k = 0; k < 4; k++) {
            process_px(canvas, x.f, (k & 1) ? c : c1, W, H, sp);
            assert_true(x.f->analysis.nerve.found);
            assert_false(x.f->analysis.nerve.held);
        }
        cn_segment_free(alone);
        cn_segment_free(canvas);
    }
    free(v);
    free(c);
    free(c1);
    free(cols);
    fx_close(&x);
}

/* Automatic mode shows a part only once the refine network outlines a nerve there
 * (thirteenth session). PLUS's N-wire phantom sequence (wire dots, no nerve, its
 * brightness raised: brighten() below): on some of its frames the finder's live
 * network calls a part a nerve and the click's network outlines it, but the refine
 * network outlines nothing there, so `eval nerve` counts no find (the first such
 * frame is used). Before, the live stage showed the finder's own outline at every
 * pass's end and kept it (found, then held; 22 of 27 frames): a false find on
 * screen that `eval nerve` counted as none. */
typedef struct {
    cn_nerve_find *fd;
    cn_nerve_cnn *nets[2]; /* the click's network, the refine network */
    uint8_t *vbuf;
    uint32_t *cols;
} veto_libs;

/* True when the library's own runs on px veto the finder's part. */
static bool vetoed(veto_libs *L, const uint8_t *px, int w, int h, const double *sp, double r_mm)
{
    cn_img_box b = {0, 0, w, h};
    const uint8_t *v = px;
    if (cn_nerve_find_fov_crop(L->fd)) {
        if (cn_img_fov_box(px, w, h, L->cols, &b) != CN_OK ||
            cn_img_crop(px, w, h, b, L->vbuf) != CN_OK)
            return false;
        v = L->vbuf;
    }
    cn_nerve_found fo;
    if (cn_nerve_find_analyse(L->fd, CN_NERVE_FIND_LIVE, v, b.w, b.h, sp, r_mm) != CN_OK ||
        cn_nerve_find_select(L->fd, NULL, NULL, &fo) != CN_OK || !fo.found)
        return false; /* the finder finds nothing: nothing to veto */
    int np[2] = {0, 0};
    float conf[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        cn_pt2 pts[CN_CONTOUR_MAX];
        refine_run(L->nets[k], L->fd, v, b.w, b.h, fo.cx_px, fo.cy_px, pts, &np[k], &conf[k]);
    }
    const bool veto = np[0] >= 3 && conf[0] > 0 && (np[1] < 3 || conf[1] <= 0);
    if (veto)
        print_message("finder part conf %.2f; the click's network outlines %d points (conf "
                      "%.2f), the refine network none\n", fo.confidence, np[0], conf[0]);
    return veto;
}

/* The recorded frames are nearly black (mean grey 0.3: the wires in water), which
 * the live stage takes for a blank frame and does not analyse; a brightness offset
 * of 16 grey levels (a scanner's offset) makes them frames it analyses, and the
 * networks, which standardise their input, see what they saw before (only pixels
 * above 239 clip). */
static void brighten(cn_frame *f)
{
    for (size_t i = 0; i < (size_t)f->width * f->height; i++)
        f->pixels[i] = (uint8_t)(f->pixels[i] > 239 ? 255 : f->pixels[i] + 16);
}

static void test_refine_vetoes_part(void **st)
{
    (void)st;
    char path[2048], err[1024];
    snprintf(path, sizeof path, "%s/plus/NwirePhantomFreehand.igs.mha", CN_SHARED_DATA_DIR);
    cn_seq_reader *rd = cn_seq_reader_open(path, err, sizeof err);
    assert_non_null(rd);
    cn_frame_pool *pool = cn_frame_pool_new(1, 1024, 1024);
    assert_non_null(pool);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_non_null(f);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    veto_libs L = {cn_nerve_find_new(1024, 1024),
                   {cn_nerve_cnn_new(1024, 1024), cn_nerve_cnn_new_refine(1024, 1024)},
                   malloc(1024 * 1024), malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(1024, 1024))};
    assert_true(L.fd && L.nets[0] && L.nets[1] && L.vbuf && L.cols);
    const int members = cn_nerve_find_members(L.fd);
    int frame = -1;
    const int n = cn_seq_reader_info(rd)->n_frames;
    for (int k = 0; k < n && frame < 0; k++) {
        assert_int_equal(cn_seq_reader_read_frame(rd, k, f, err, sizeof err), CN_OK);
        brighten(f);
        const double sp[2] = {f->spacing_mm[0], f->spacing_mm[1]};
        if (vetoed(&L, f->pixels, f->width, f->height, sp, sc.nerve_radius_mm))
            frame = k;
    }
    print_message("the first frame whose part the refine network vetoes: %d of %d\n", frame, n);
    assert_true(frame >= 0);
    assert_int_equal(cn_seq_reader_read_frame(rd, frame, f, err, sizeof err), CN_OK);
    brighten(f);
    cn_seq_reader_close(rd);
    for (int k = 0; k < 2; k++)
        cn_nerve_cnn_free(L.nets[k]);
    cn_nerve_find_free(L.fd);
    free(L.vbuf);
    free(L.cols);
    const int w = f->width, h = f->height;
    const double sp[2] = {f->spacing_mm[0], f->spacing_mm[1]};
    uint8_t *px = malloc((size_t)w * h);
    assert_non_null(px);
    memcpy(px, f->pixels, (size_t)w * h);
    /* live: three passes and their refines, never a nerve on screen */
    sc.nerve_auto = true;
    cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
    assert_non_null(seg);
    const int frames = 3 * (sc.nerve_period * members + 3);
    int shown = 0;
    for (int k = 0; k < frames; k++) {
        assert_int_equal(cn_frame_set_size(f, w, h), CN_OK);
        memcpy(f->pixels, px, (size_t)w * h);
        f->spacing_mm[0] = sp[0];
        f->spacing_mm[1] = sp[1];
        f->t_acq_ns = t_ns += 50000000;
        assert_int_equal(cn_segment_process(seg, f), CN_OK);
        shown += f->analysis.nerve.found;
    }
    print_message("live: a nerve shown on %d of %d frames\n", shown, frames);
    assert_int_equal(shown, 0);
    cn_segment_free(seg);
    free(px);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
}

/* Nearest-neighbour resize (the away views are other scanners' frames shown at
 * the nerve frame's size, as a probe moved elsewhere on one scanner would give). */
static void resize_nn(const uint8_t *s, int sw, int sh, uint8_t *d, int dw, int dh)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            d[(size_t)y * dw + x] = s[(size_t)(y * sh / dh) * sw + x * sw / dw];
}

/* A seeded nerve that leaves the view. Click at the expert's nerve on a real image,
 * twelve frames of it, then the probe elsewhere, then back:
 *  - the probe lifted (near-black speckle, grey 0-15): the defect, a finder pass that
 *    starts and ends on one blank frame reported the last frame's outline as found
 *    on it (confidence 0.89);
 *  - the probe on other tissue (real frames of bone and muscle, BoneUltrasound_L14,
 *    no nerve): the defect, once the finder's passes had lost the nerve, the seeded
 *    DP fallback outlined whatever lay at the remembered point, "found" at confidence
 *    ~0.5 on 29 of 40 such frames, for as long as the point was set. The finder had
 *    found this nerve at the click, so its passes are evidence: the nerve is held,
 *    then none, until a pass finds one near the point again;
 *  - back on the nerve: found again within two passes. */
static void test_seeded_nerve_leaves_view(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, "nerve-us/images/0000.png", "nerve-us/masks/0000.png");
    const int w = x.im->w, h = x.im->h;
    const double sp = 0.06;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(x.mask->px, w, h, &cx, &cy, NULL), CN_OK);
    enum { N_AWAY = 40 };
    uint8_t *lifted = malloc((size_t)w * h), *bone[N_AWAY];
    assert_non_null(lifted);
    uint32_t rs = 12345;
    for (size_t j = 0; j < (size_t)w * h; j++) {
        rs = rs * 1664525u + 1013904223u;
        lifted[j] = (uint8_t)(rs >> 28);
    }
    char path[2048], err[1024];
    snprintf(path, sizeof path, "%s/plus/BoneUltrasound_L14.igs.mha", CN_SHARED_DATA_DIR);
    cn_seq_reader *rd = cn_seq_reader_open(path, err, sizeof err);
    assert_non_null(rd);
    const int nb = cn_seq_reader_info(rd)->n_frames;
    cn_frame_pool *pool = cn_frame_pool_new(1, 1024, 1024);
    assert_non_null(pool);
    cn_frame *tmp = cn_frame_pool_acquire(pool);
    for (int i = 0; i < N_AWAY; i++) {
        assert_int_equal(cn_seq_reader_read_frame(rd, i % nb, tmp, err, sizeof err), CN_OK);
        bone[i] = malloc((size_t)w * h);
        assert_non_null(bone[i]);
        resize_nn(tmp->pixels, tmp->width, tmp->height, bone[i], w, h);
    }
    cn_frame_unref(tmp);
    cn_frame_pool_free(pool);
    cn_seq_reader_close(rd);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    cn_nerve_find *fd = cn_nerve_find_new(64, 64);
    assert_non_null(fd);
    const int members = cn_nerve_find_members(fd);
    cn_nerve_find_free(fd);
    const cn_contour *c = &x.f->analysis.nerve;
    for (int away = 0; away < 2; away++) {
        cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
        assert_non_null(seg);
        cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
        for (int i = 0; i < 12; i++)
            process(seg, &x, x.im->px, sp);
        assert_true(c->found && !c->held);
        int shown = 0, held = 0, first = -1;
        for (int i = 0; i < N_AWAY; i++) {
            process(seg, &x, away ? bone[i] : lifted, sp);
            shown += c->found && !c->held && !c->hidden;
            held += c->held;
            if (i == 0)
                first = c->found && !c->held;
        }
        /* the point the stage keeps looking at: set, where the nerve was last followed */
        assert_false(c->found);
        assert_true(x.f->analysis.nerve_target_set);
        print_message("the operator's point kept at %.2f, %.2f mm (clicked %.2f, %.2f)\n",
                      x.f->analysis.nerve_target_mm.x, x.f->analysis.nerve_target_mm.y,
                      (cx + 0.5) * sp, (cy + 0.5) * sp);
        assert_true(hypot(x.f->analysis.nerve_target_mm.x - (cx + 0.5) * sp,
                          x.f->analysis.nerve_target_mm.y - (cy + 0.5) * sp) < 3.0);
        int back = -1;
        for (int i = 0; i < 20; i++) {
            process(seg, &x, x.im->px, sp);
            if (back < 0 && c->found && !c->held)
                back = i;
        }
        const double d = c->found ? outline_dice(&x, c, sp) : 0;
        print_message("%s: first frame found %d; %d of %d frames found, %d held; back on the "
                      "nerve: found on frame %d, dice %.3f\n", away ? "bone and muscle" : "probe lifted",
                      first, shown, N_AWAY, held, back, d);
        assert_int_equal(first, 0);
        assert_int_equal(shown, 0);
        assert_true(held > 0 && held <= 10); /* held, then none */
        assert_true(back >= 0 && back <= 2 * sc.nerve_period * members); /* two passes */
        assert_true(d > 0.4);
        cn_segment_free(seg);
    }
    for (int i = 0; i < N_AWAY; i++)
        free(bone[i]);
    free(lifted);
    fx_close(&x);
}

/* A click on a nerve the finder does not find (nerve-us 0107 and 0137: real nerves
 * with no found part near the mask's centroid; the crop CNN still outlines them). The
 * defect: the finder's passes, finding nothing near the point, "lost" it after two
 * passes and the DP replaced the click's outline with its own (Dice 0.82 -> 0.64 and
 * 0.74 -> 0.45 on a still image), and once the probe moved away the DP outlined
 * whatever lay at the point. Now the click's outline is followed while block
 * matching holds it, and dropped when it does not; a new click outlines it again. */
static void test_seeded_unknown_nerve(void **st)
{
    (void)st;
    const char *imgs[2] = {"0107", "0137"};
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    const double sp = 0.06;
    for (int k = 0; k < 2; k++) {
        char ip[256], mp[256];
        snprintf(ip, sizeof ip, "nerve-us/images/%s.png", imgs[k]);
        snprintf(mp, sizeof mp, "nerve-us/masks/%s.png", imgs[k]);
        fixture x;
        fx_open(&x, ip, mp);
        const int w = x.im->w, h = x.im->h;
        double cx, cy;
        assert_int_equal(cn_mask_centroid(x.mask->px, w, h, &cx, &cy, NULL), CN_OK);
        const cn_pt2 seed = {(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)};
        /* the finder has no part near the point: this is the path under test */
        {
            cn_nerve_find *fd = cn_nerve_find_new(w, h);
            uint8_t *vbuf = malloc((size_t)w * h);
            assert_true(fd && vbuf);
            cn_img_box vb;
            const uint8_t *vpx = lib_view(&x, fd, vbuf, &vb);
            const double spv[2] = {sp, sp};
            assert_int_equal(cn_nerve_find_analyse(fd, CN_NERVE_FIND_LIVE, vpx, vb.w, vb.h, spv,
                                                   sc.nerve_radius_mm), CN_OK);
            const double p[2] = {cx - vb.x0, cy - vb.y0};
            cn_nerve_found s;
            assert_int_equal(cn_nerve_find_select(fd, p, NULL, &s), CN_OK);
            assert_false(s.found);
            cn_nerve_find_free(fd);
            free(vbuf);
        }
        cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
        assert_non_null(seg);
        cn_segment_set_nerve_seed(seg, seed);
        const cn_contour *c = &x.f->analysis.nerve;
        double d2 = 0, d30 = 0;
        for (int i = 1; i <= 30; i++) {
            process(seg, &x, x.im->px, sp);
            assert_true(c->found && !c->held);
            if (i == 2)
                d2 = outline_dice(&x, c, sp);
        }
        d30 = outline_dice(&x, c, sp);
        /* the probe lifted: nothing drawn but the held outline */
        uint8_t *lifted = malloc((size_t)w * h);
        assert_non_null(lifted);
        uint32_t rs = 777;
        for (size_t j = 0; j < (size_t)w * h; j++) {
            rs = rs * 1664525u + 1013904223u;
            lifted[j] = (uint8_t)(rs >> 28);
        }
        int shown = 0;
        for (int i = 0; i < 30; i++) {
            process(seg, &x, lifted, sp);
            shown += c->found && !c->held;
        }
        /* back, and clicked again */
        process(seg, &x, x.im->px, sp);
        cn_segment_set_nerve_seed(seg, seed);
        process(seg, &x, x.im->px, sp);
        process(seg, &x, x.im->px, sp);
        const double dr = c->found ? outline_dice(&x, c, sp) : 0;
        print_message("%s: dice on frame 2 %.3f, frame 30 %.3f; probe lifted: %d of 30 frames "
                      "found; clicked again: dice %.3f\n", imgs[k], d2, d30, shown, dr);
        assert_true(d30 >= d2 - 0.02);
        assert_int_equal(shown, 0);
        assert_true(fabs(dr - d2) < 0.02);
        free(lifted);
        cn_segment_free(seg);
        fx_close(&x);
    }
}

/* The operator forgets the point (the viewer's u, a proctor's ClearNerveTarget): the
 * clicked outline goes at once, the point is no longer reported, and automatic mode,
 * when on, takes over with its own look. Before, the cleared click's outline was
 * shown "held" for half a second over the automatic finder's first pass. */
static void test_clear_point(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, "nerve-us/images/0000.png", "nerve-us/masks/0000.png");
    const double sp = 0.06;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(x.mask->px, x.im->w, x.im->h, &cx, &cy, NULL), CN_OK);
    for (int automatic = 0; automatic <= 1; automatic++) {
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.nerve_auto = automatic != 0;
        cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
        assert_non_null(seg);
        cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
        const cn_contour *c = &x.f->analysis.nerve;
        for (int i = 0; i < 3; i++)
            process(seg, &x, x.im->px, sp);
        assert_true(c->found && !c->held);
        assert_true(x.f->analysis.nerve_target_set);
        cn_segment_clear_nerve_seed(seg);
        process(seg, &x, x.im->px, sp);
        print_message("automatic %s: the frame after the clear: found %d held %d point %d\n",
                      automatic ? "on" : "off", c->found, c->held, x.f->analysis.nerve_target_set);
        assert_false(x.f->analysis.nerve_target_set);
        assert_false(c->found);
        assert_false(c->held);
        int back = 0;
        for (int i = 1; i <= 12 && !back; i++) {
            process(seg, &x, x.im->px, sp);
            back = c->found && !c->held ? i + 1 : 0;
        }
        print_message("  automatic mode's own outline from frame %d after the clear\n", back);
        if (automatic)
            assert_true(back > 0);
        else
            assert_int_equal(back, 0);
        cn_segment_free(seg);
    }
    fx_close(&x);
}

/* A lifted probe: blank frames for 0.6 s, then the view again. The outline from before the
 * gap came back "held" on the first frame after it, over whatever the probe then showed
 * (review 43b F1: on new tissue, and NERVE LOST cleared for it). An outline from before such
 * a gap is never drawn after it; the nerve is found again on the frames that follow. One
 * blank frame (a glitch) loses nothing: the first fix dropped the outline on it too, and a
 * clicked nerve the finder does not know (0107) never came back (review 44 F1). */
static void test_no_outline_across_a_gap(void **st)
{
    (void)st;
    fixture x;
    fx_open(&x, "nerve-us/images/0000.png", "nerve-us/masks/0000.png");
    const double sp = 0.06;
    double cx, cy;
    assert_int_equal(cn_mask_centroid(x.mask->px, x.im->w, x.im->h, &cx, &cy, NULL), CN_OK);
    uint8_t *blank = calloc((size_t)x.im->w * x.im->h, 1);
    uint8_t *flipped = malloc((size_t)x.im->w * x.im->h);
    assert_true(blank && flipped);
    for (int y = 0; y < x.im->h; y++)
        memcpy(flipped + (size_t)y * x.im->w, x.im->px + (size_t)(x.im->h - 1 - y) * x.im->w,
               (size_t)x.im->w);
    for (int automatic = 0; automatic <= 1; automatic++) {
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.nerve_auto = automatic != 0;
        cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
        assert_non_null(seg);
        if (!automatic)
            cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
        const cn_contour *c = &x.f->analysis.nerve;
        for (int i = 0; i < 12; i++)
            process(seg, &x, x.im->px, sp);
        assert_true(c->found && !c->held);
        /* one blank frame: the outline goes on on the next (found, not held) */
        process(seg, &x, blank, sp);
        assert_false(c->found);
        process(seg, &x, x.im->px, sp);
        print_message("automatic %s: after one blank frame: found %d held %d\n",
                      automatic ? "on" : "off", c->found, c->held);
        assert_true(c->found && !c->held);
        for (int i = 0; i < 12; i++) { /* 0.6 s at the test's 50 ms a frame */
            process(seg, &x, blank, sp);
            assert_false(c->found);
        }
        /* the probe put down elsewhere: the frame upside down (other tissue at the old
         * outline's place) */
        process(seg, &x, flipped, sp);
        print_message("automatic %s: the first frame after the gap: found %d held %d\n",
                      automatic ? "on" : "off", c->found, c->held);
        assert_false(c->found);
        int back = 0;
        for (int i = 1; i <= 12 && !back; i++) {
            process(seg, &x, x.im->px, sp);
            back = c->found && !c->held ? i + 1 : 0;
        }
        print_message("  found again on frame %d after the gap (Dice %.2f)\n", back,
                      back ? outline_dice(&x, c, sp) : 0.0);
        assert_true(back > 0);
        assert_true(outline_dice(&x, c, sp) > 0.5);
        cn_segment_free(seg);
    }
    free(blank);
    free(flipped);
    fx_close(&x);
}

/* One blank frame (a USB glitch, a frame of another size) in the middle of following a
 * clicked nerve the finder's networks do not know: the first fix of review 43b F1 dropped
 * the followed outline on it, and nothing could bring it back (review 44 F1: 0 of 60
 * frames). Now it is followed on at once. */
static void test_unknown_nerve_through_a_glitch(void **st)
{
    (void)st;
    static const char *const names[] = {"0107", "0137"};
    for (int k = 0; k < 2; k++) {
        fixture x;
        char im[64], mk[64];
        snprintf(im, sizeof im, "nerve-us/images/%s.png", names[k]);
        snprintf(mk, sizeof mk, "nerve-us/masks/%s.png", names[k]);
        fx_open(&x, im, mk);
        const double sp = 0.06;
        double cx, cy;
        assert_int_equal(cn_mask_centroid(x.mask->px, x.im->w, x.im->h, &cx, &cy, NULL), CN_OK);
        uint8_t *blank = calloc((size_t)x.im->w * x.im->h, 1);
        assert_non_null(blank);
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
        assert_non_null(seg);
        cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((cx + 0.5) * sp), (float)((cy + 0.5) * sp)});
        const cn_contour *c = &x.f->analysis.nerve;
        for (int i = 0; i < 20; i++)
            process(seg, &x, x.im->px, sp);
        assert_true(c->found);
        process(seg, &x, blank, sp);
        int found = 0;
        for (int i = 0; i < 20; i++) {
            process(seg, &x, x.im->px, sp);
            found += c->found;
        }
        print_message("%s: after one blank frame, found on %d of 20 frames\n", names[k], found);
        assert_int_equal(found, 20);
        cn_segment_free(seg);
        free(blank);
        fx_close(&x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refine_vetoes_part),
        cmocka_unit_test(test_automatic_states),
        cmocka_unit_test(test_seeded_picks_and_falls_back),
        cmocka_unit_test(test_dp_prior_on_small_frames),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_fov_cut_live),
        cmocka_unit_test(test_seeded_nerve_leaves_view),
        cmocka_unit_test(test_seeded_unknown_nerve),
        cmocka_unit_test(test_clear_point),
        cmocka_unit_test(test_no_outline_across_a_gap),
        cmocka_unit_test(test_unknown_nerve_through_a_glitch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
