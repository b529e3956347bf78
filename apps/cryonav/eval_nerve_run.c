/*
 * eval_nerve_run.c - one image of `cryonav eval nerve`: the method run on it (the
 * finder with its crop-CNN outline, the crop CNN alone, or the polar DP) and the
 * score against the expert mask, automatic or seeded (one click on each nerve, or
 * one at the whole mask's centroid). eval_nerve.c walks the images and sums up.
 */
#include "eval_nerve.h"

#include "commands.h"
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The crop CNN blended into the finder's seeded outline, chosen so a held-out
 * figure stays held-out: the finder's fold k goes with the CNN's fold k (both
 * trained without fold k of either set: nerve-us i mod 5, nerve-femoral index
 * blocks), the live finder with the CNN's live model. The cross-site finders
 * (trained on one set only) get a CNN only from --cnn-weights, whose live slot
 * must then be trained on that same set alone (the built-in CNN saw both sets,
 * so with it they use the finder's pick alone, -1). For --method cnn: the CNN's
 * own model. */
static int seeded_cnn_model(const eval_opts *o, int model)
{
    if (o->method == M_CNN)
        return model;
    if (o->method != M_FIND)
        return -1;
    if (model < CN_NERVE_CNN_KFOLD)
        return model;
    if (model == CN_NERVE_FIND_US || model == CN_NERVE_FIND_FEM)
        return o->cnn_weights ? CN_NERVE_CNN_LIVE : -1;
    return CN_NERVE_CNN_LIVE;
}


void cn_evn_runners_free(runners *r)
{
    cn_nerve_find_free(r->find);
    cn_nerve_seg_free(r->seg);
    cn_nerve_cnn_free(r->cnn);
    cn_nerve_cnn_free(r->refine);
    free(r->view_px);
    free(r->view_mask);
    free(r->col_lit);
    memset(r, 0, sizeof *r);
}

/* A weights file (the shipped one is 24 MiB): at most 256 MiB, a regular file; the
 * reason printed when it cannot be read (before: "cannot read the weights file" for a
 * missing file, a folder and /dev/zero alike: input audit I3, I6). */
static char *read_file_or_null(const char *path, size_t *len)
{
    char why[600] = "";
    char *b = cn_file_read(path, (size_t)256 << 20, len, why, sizeof why);
    if (!b)
        fprintf(stderr, "cryonav eval: %s: cannot read the weights file: %s\n", path,
                strncmp(why, path, strlen(path)) == 0 ? why + strlen(path) + 2 : why);
    return b;
}

/* A crop CNN for nw x nh images from the weights file path (NULL: the built-in
 * one, automatic mode's refine network when refine); the error names the file. */
static int make_cnn(const char *path, bool refine, int nw, int nh, cn_nerve_cnn **out)
{
    char err[512] = "";
    *out = NULL;
    if (path) {
        size_t len = 0;
        char *blob = read_file_or_null(path, &len);
        if (!blob)
            return CN_ENOENT;
        *out = cn_nerve_cnn_new_with(nw, nh, blob, len, err, sizeof err);
        free(blob);
    } else {
        *out = refine ? cn_nerve_cnn_new_refine(nw, nh) : cn_nerve_cnn_new(nw, nh);
    }
    if (!*out) {
        fprintf(stderr, "cryonav eval: %s: %s\n",
                path ? path : refine ? "built-in refine weights" : "built-in CNN weights",
                err[0] ? err : "cannot make the CNN");
        return CN_EPARSE;
    }
    return CN_OK;
}

/* (Re)creates the handles when an image is larger than the last ones. */
int cn_evn_runners_fit(runners *r, const eval_opts *o, int w, int h)
{
    if (w <= r->w && h <= r->h)
        return CN_OK;
    int nw = w > r->w ? w : r->w, nh = h > r->h ? h : r->h;
    cn_evn_runners_free(r);
    r->w = nw;
    r->h = nh;
    char err[512] = "";
    if (o->method == M_FIND) {
        if (o->weights) {
            size_t len = 0;
            char *blob = read_file_or_null(o->weights, &len);
            if (!blob)
                return CN_ENOENT;
            r->find = cn_nerve_find_new_with(nw, nh, blob, len, err, sizeof err);
            free(blob);
        } else {
            r->find = cn_nerve_find_new(nw, nh);
        }
        if (!r->find) {
            fprintf(stderr, "cryonav eval: %s: %s\n", o->weights ? o->weights : "built-in weights",
                    err[0] ? err : "cannot make the nerve finder");
            return CN_EPARSE;
        }
    }
    /* the crop CNN: --method cnn's own network (--weights), or the one the finder
     * blends into its seeded outlines (--cnn-weights) */
    const char *cw = o->method == M_CNN ? o->weights : o->method == M_FIND ? o->cnn_weights : NULL;
    int rc;
    if ((o->method == M_CNN || o->method == M_FIND) &&
        (rc = make_cnn(cw, false, nw, nh, &r->cnn)))
        return rc;
    /* automatic mode's refine: its own network (built in, or --refine-weights), as live */
    if (o->method == M_FIND && !o->seeded) {
        if ((rc = make_cnn(o->refine_weights, true, nw, nh, &r->refine)))
            return rc;
        if (cn_nerve_cnn_fov_crop(r->refine) != cn_nerve_cnn_fov_crop(r->cnn))
            fprintf(stderr, "cryonav eval: note: %s and the outline's crop CNN disagree on the "
                    "field-of-view cut; the refine is given what the finder is\n",
                    o->refine_weights ? o->refine_weights : "the built-in refine network");
    }
    r->seg = cn_nerve_seg_new(nw, nh);
    r->view_px = malloc((size_t)nw * nh);
    r->view_mask = malloc((size_t)nw * nh);
    r->col_lit = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(nw, nh));
    if (r->find && r->cnn && cn_nerve_find_fov_crop(r->find) != cn_nerve_cnn_fov_crop(r->cnn))
        fprintf(stderr, "cryonav eval: note: the finder's weights %s frames cut to the field of "
                "view and the crop CNN's %s; the CNN is given what the finder is\n",
                cn_nerve_find_fov_crop(r->find) ? "want" : "do not want",
                cn_nerve_cnn_fov_crop(r->cnn) ? "do" : "do not");
    const bool nets = o->method != M_FIND || (r->cnn && (r->refine || o->seeded));
    return r->seg && nets && r->view_px && r->view_mask && r->col_lit ? CN_OK : CN_ENOMEM;
}

/* One image: fills mask (w*h) with what was found; returns CN_OK or an error. */
/* find_model: the finder's network; cnn_model: the crop CNN's (-1: none, the
 * finder's pick alone when seeded). */
static int run_frame(runners *r, const eval_opts *o, int find_model, int cnn_model,
                     const cn_image *im, const double *seed, uint8_t *mask, float *conf,
                     bool *found)
{
    const int w = im->w, h = im->h;
    *found = false;
    *conf = 0;
    memset(mask, 0, (size_t)w * h);
    cn_pt2 pts[CN_CONTOUR_MAX];
    int np = 0;
    int rc;
    if (o->method == M_FIND) {
        rc = cn_nerve_find_analyse(r->find, find_model, im->px, w, h,
                                   im->has_spacing ? im->spacing_mm : NULL, 3.0);
        if (rc != CN_OK)
            return rc;
        if (seed && cnn_model >= 0) {
            /* seeded: the crop CNN at the point, the finder's logits blended in (what
             * the live stage outlines when the operator clicks) */
            rc = cn_nerve_cnn_run_blend(r->cnn, cnn_model, im->px, w, h, seed[0], seed[1], r->find,
                                        cn_nerve_find_seeded_weight(r->find), mask, pts, &np,
                                        conf);
            *found = rc == CN_OK && np > 0 && *conf > 0;
            return rc;
        }
        cn_nerve_found fo;
        rc = cn_nerve_find_select(r->find, seed, mask, &fo);
        *found = rc == CN_OK && fo.found;
        *conf = fo.confidence;
        if (*found && !seed && cnn_model >= 0 && cn_nerve_find_auto_weight(r->find) >= 0) {
            /* automatic, refined: automatic mode's refine network at the chosen part's
             * centre, re-centred, the part vetoed when it outlines nothing there: the
             * library's sequence, the one the live stage steps (cn_nerve_refine) */
            cn_nerve_refine seq;
            rc = cn_nerve_refine_run(&seq, r->refine, cnn_model, im->px, w, h, fo.cx_px, fo.cy_px,
                                     r->find, cn_nerve_find_auto_weight(r->find),
                                     CN_NERVE_AUTO_RECENTRE, mask, pts, &np, conf);
            *found = rc == CN_OK && np > 0 && *conf > 0;
        }
        return rc;
    }
    if (o->method == M_CNN) {
        /* the crop CNN needs a point: seeded only (checked by the caller) */
        rc = cn_nerve_cnn_run(r->cnn, cnn_model, im->px, w, h, seed[0], seed[1], mask, pts, &np,
                              conf);
        *found = rc == CN_OK && np > 0 && *conf > 0;
        return rc;
    }
    cn_nerve_params p;
    cn_nerve_params_default(&p);
    p.r0_px = cn_nerve_prior_radius_px(w, h, im->has_spacing ? im->spacing_mm : NULL, 3.0);
    rc = cn_nerve_seg_prepare(r->seg, im->px, w, h);
    if (rc == CN_OK) {
        if (seed)
            rc = cn_nerve_seg_run(r->seg, seed[0], seed[1], &p, pts, &np, conf);
        else {
            double sx, sy;
            rc = cn_nerve_seg_auto(r->seg, &p, pts, &np, conf, &sx, &sy);
        }
    }
    if (rc == CN_OK && np >= 3 && *conf >= p.min_confidence) {
        cn_img_fill_polygon(mask, w, h, pts, np, 1);
        *found = true;
    }
    return rc;
}

/* One image as the weights want it: networks trained on frames cut to the
 * scanner's field of view (cn_nerve_find_fov_crop, or the crop CNN's own flag for
 * --method cnn) get the image cut to cn_img_fov_box, the click moved into the cut
 * (and kept inside it), and their mask pasted back (nothing outside the view). An
 * image the live stage takes for blank is no find, as on screen (before the
 * thirteenth session it was analysed: 94 of the N-wire phantom's 97 frames, mean
 * grey 0.2-2.0, gave up to 82 false finds the screen never showed). */
static int run_image(runners *r, const eval_opts *o, int find_model, int cnn_model,
                     const cn_image *im, bool blank, const double *seed, uint8_t *mask,
                     float *conf, bool *found)
{
    if (blank) {
        /* the live stage does not analyse it (cn_segment_process): no find */
        memset(mask, 0, (size_t)im->w * im->h);
        *conf = 0;
        *found = false;
        return CN_OK;
    }
    const bool cut = o->method == M_FIND ? cn_nerve_find_fov_crop(r->find)
                     : o->method == M_CNN ? cn_nerve_cnn_fov_crop(r->cnn)
                                          : false;
    cn_img_box b = {0, 0, im->w, im->h};
    if (cut && cn_img_fov_box(im->px, im->w, im->h, r->col_lit, &b) != CN_OK)
        return CN_EINVAL;
    if (b.w == im->w && b.h == im->h)
        return run_frame(r, o, find_model, cnn_model, im, seed, mask, conf, found);
    if (cn_img_crop(im->px, im->w, im->h, b, r->view_px) != CN_OK)
        return CN_EINVAL;
    cn_image v = *im;
    v.px = r->view_px;
    v.w = b.w;
    v.h = b.h;
    double vs[2];
    if (seed) {
        vs[0] = seed[0] - b.x0;
        vs[1] = seed[1] - b.y0;
        vs[0] = vs[0] < 0 ? 0 : vs[0] > b.w - 1 ? b.w - 1 : vs[0];
        vs[1] = vs[1] < 0 ? 0 : vs[1] > b.h - 1 ? b.h - 1 : vs[1];
    }
    int rc = run_frame(r, o, find_model, cnn_model, &v, seed ? vs : NULL, r->view_mask, conf,
                       found);
    memset(mask, 0, (size_t)im->w * im->h);
    for (int y = 0; y < b.h; y++)
        memcpy(mask + (size_t)(b.y0 + y) * im->w + b.x0, r->view_mask + (size_t)y * b.w,
               (size_t)b.w);
    return rc;
}



void cn_evn_bufs_free(score_bufs *b)
{
    free(b->found);
    free(b->one);
    free(b->part);
    free(b->labels);
    *b = (score_bufs){0};
}

int cn_evn_bufs_fit(score_bufs *b, int w, int h)
{
    const size_t n = (size_t)w * h;
    if (n <= b->cap)
        return CN_OK;
    cn_evn_bufs_free(b);
    b->found = malloc(n);
    b->one = malloc(n);
    b->part = malloc(n);
    b->labels = malloc(n * sizeof *b->labels);
    if (!b->found || !b->one || !b->part || !b->labels) {
        cn_evn_bufs_free(b);
        return CN_ENOMEM;
    }
    b->cap = n;
    return CN_OK;
}


/* Nerves clicked per image at most (cn_mask_parts_to_click picks which). */
#define MAX_NERVES 16

static void score_one(const uint8_t *found_mask, const uint8_t *truth, int w, int h, bool found,
                      double *d, double *hd, bool *det)
{
    *d = cn_mask_dice(found_mask, truth, w, h);
    *hd = found ? cn_mask_hd95(found_mask, truth, w, h) : NAN;
    *det = false;
    for (size_t k = 0; found && k < (size_t)w * h && !*det; k++)
        *det = found_mask[k] && truth[k];
}

/* An operator's click on nerve `p`, `off` x its equivalent radius from its seed
 * pixel (the pixel nearest its centroid) in a direction fixed by the nerve's own
 * position (golden-angle steps: repeatable, and spread over the set without a
 * random generator); stepped back toward the seed pixel until it lies on the
 * nerve, so a crescent's click stays on it. */
static void off_centre_click(const int32_t *labels, int w, int h, const cn_mask_part *p,
                             double off, double seed[2])
{
    const double golden = M_PI * (3.0 - sqrt(5.0));
    const double th = fmod(golden * (double)(p->seed_x + 7 * p->seed_y), 2.0 * M_PI);
    const double r = off * sqrt((double)p->area / M_PI);
    for (double f = 1.0; f > 0.0; f -= 0.05) {
        const long x = lround(p->seed_x + f * r * cos(th)), y = lround(p->seed_y + f * r * sin(th));
        if (x >= 0 && y >= 0 && x < w && y < h && labels[(size_t)y * w + x] == p->label) {
            seed[0] = (double)x;
            seed[1] = (double)y;
            return;
        }
    }
}

/* One image. Automatic, or seeded at the whole mask's centroid (--seed-at mask):
 * one run, scored against the whole mask. Seeded per nerve (--seed-at nerve, the
 * default): the operator clicks each nerve of the mask in turn (its own pixel
 * nearest its centroid; a click between two nerves follows neither), and each
 * outline is scored against the nerve clicked; the image scores the mean. */
int cn_evn_score_image(runners *r, const eval_opts *o, int model, const cn_image *im,
                       const uint8_t *truth, double cx, double cy, bool has_nerve,
                       score_bufs *b, image_score *s)
{
    const int w = im->w, h = im->h;
    const size_t n = (size_t)w * h;
    const int cnn_model = seeded_cnn_model(o, model);
    *s = (image_score){.dice = NAN, .hd95_px = NAN,
                       .blank = cn_segment_frame_blank(im->px, w, h)};
    if (!o->seeded || !o->per_nerve) {
        const double seed[2] = {cx, cy};
        int64_t t0 = cn_clock_mono_ns();
        int rc = run_image(r, o, model, cnn_model, im, s->blank, o->seeded ? seed : NULL,
                           b->found, &s->conf, &s->found);
        s->ms = (double)(cn_clock_mono_ns() - t0) / 1e6;
        if (rc != CN_OK)
            return rc;
        if (!s->found)
            memset(b->found, 0, n);
        s->clicks = 1;
        if (has_nerve)
            score_one(b->found, truth, w, h, s->found, &s->dice, &s->hd95_px, &s->detected);
        return CN_OK;
    }
    cn_mask_part parts[MAX_NERVES];
    int np = 0;
    int rc = cn_mask_parts(truth, w, h, b->labels, parts, MAX_NERVES, &np);
    if (rc != CN_OK && rc != CN_ERANGE) /* ERANGE: the first MAX_NERVES parts are clicked */
        return rc;
    long total = 0;
    for (size_t i = 0; i < n; i++)
        total += truth[i] != 0;
    np = cn_mask_parts_to_click(parts, np, total);
    memset(b->found, 0, n);
    double sum_d = 0, sum_hd = 0, sum_ms = 0, sum_conf = 0;
    int n_hd = 0;
    s->detected = true;
    for (int k = 0; k < np; k++) {
        double seed[2] = {parts[k].seed_x, parts[k].seed_y};
        if (o->click_off > 0)
            off_centre_click(b->labels, w, h, &parts[k], o->click_off, seed);
        float conf;
        bool found;
        int64_t t0 = cn_clock_mono_ns();
        rc = run_image(r, o, model, cnn_model, im, s->blank, seed, b->one, &conf, &found);
        sum_ms += (double)(cn_clock_mono_ns() - t0) / 1e6;
        if (rc != CN_OK)
            return rc;
        if (!found)
            memset(b->one, 0, n);
        for (size_t i = 0; i < n; i++) {
            b->part[i] = b->labels[i] == parts[k].label;
            b->found[i] |= b->one[i];
        }
        double d, hd;
        bool det;
        score_one(b->one, b->part, w, h, found, &d, &hd, &det);
        sum_d += d;
        if (isfinite(hd)) {
            sum_hd += hd;
            n_hd++;
        }
        sum_conf += conf;
        s->found |= found;
        s->detected &= det;
        s->clicks++;
    }
    s->dice = sum_d / s->clicks;
    s->hd95_px = n_hd ? sum_hd / n_hd : NAN;
    s->ms = sum_ms / s->clicks;
    s->conf = (float)(sum_conf / s->clicks);
    return CN_OK;
}
