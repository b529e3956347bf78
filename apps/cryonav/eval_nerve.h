/*
 * eval_nerve.h - the parts of `cryonav eval nerve` shared by eval_nerve.c (options,
 * the loop over images, the summary) and eval_nerve_run.c (running a method on
 * one image and scoring it, automatic or one click per nerve).
 */
#ifndef CN_APP_EVAL_NERVE_H
#define CN_APP_EVAL_NERVE_H

#include "eval.h"
#include "imaging/imaging.h"
#include "segment/segment.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { M_FIND, M_DP, M_CNN };

typedef struct {
    bool seeded, quiet;
    bool per_nerve;      /* seeded: one click per nerve of the mask (else its centroid) */
    double click_off;    /* per nerve: each click moved this many equivalent radii off
                          * its seed pixel, staying on the nerve (0: at the seed pixel) */
    int method, model;   /* model: >= 0 a network, -1 = by fold */
    int folds_block;     /* -1 not given, 0 mod, 1 block */
    unsigned only_folds; /* bit mask, 0 = all */
    int every;
    const char *weights, *overlays;
    const char *cnn_weights; /* the crop CNN blended into --method find (NULL: built in) */
    const char *refine_weights; /* a crop CNN for automatic mode's refine (NULL: the
                                 * built-in refine network, as live) */
} eval_opts;

/* Per-method state: one handle each, sized for the largest image. */
typedef struct {
    cn_nerve_find *find;
    cn_nerve_seg *seg;
    cn_nerve_cnn *cnn;
    cn_nerve_cnn *refine; /* automatic mode's refine (--refine-weights or built in) */
    int w, h;
    /* the frame cut to the field of view, when the weights ask (cn_img_fov_box) */
    uint8_t *view_px, *view_mask;
    uint32_t *col_lit;
} runners;

/* Per-image buffers, grown to the largest image. */
typedef struct {
    uint8_t *found, *one, *part; /* what was found (all clicks), one click's, one nerve's truth */
    int32_t *labels;
    size_t cap;
} score_bufs;

typedef struct {
    double dice, hd95_px, ms; /* per-nerve protocol: the means over the image's nerves */
    bool found, detected;     /* found: anything; detected: every click's outline overlaps */
    float conf;
    int clicks;
    bool blank;               /* the live stage takes the image for blank: no find */
} image_score;

void cn_evn_runners_free(runners *r);
/* Makes (or keeps) the handles for images up to w x h: CN_EPARSE / CN_ENOENT for a
 * damaged or missing weights file (nothing can be measured), CN_ENOMEM. */
int cn_evn_runners_fit(runners *r, const eval_opts *o, int w, int h);
void cn_evn_bufs_free(score_bufs *b);
int cn_evn_bufs_fit(score_bufs *b, int w, int h);
/* One image (see eval_nerve_run.c): b->found gets what was found (all clicks). */
int cn_evn_score_image(runners *r, const eval_opts *o, int model, const cn_image *im,
                       const uint8_t *truth, double cx, double cy, bool has_nerve,
                       score_bufs *b, image_score *s);


#endif
