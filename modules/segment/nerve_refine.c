/*
 * nerve_refine.c - automatic mode's refine of the finder's part, as one sequence
 * of crop-CNN runs that the live stage steps a network per frame and `cryonav
 * eval nerve` runs at once.
 *
 * Why one object: until the fourteenth session the sequence (run at the part's
 * centre, again at the first mask's centre, the outline before standing when the
 * re-centred run loses the nerve, and since the thirteenth a first run outlining
 * nothing vetoing the part) was written twice, frame by frame in nerve_live.c and
 * all at once in eval's run_frame. Each rule had to be added in both places, and
 * the thirteenth session found the screen drawing finds the measurement counted
 * as none. Now both call this, and test_automatic_states still checks the live
 * outlines against bare cn_nerve_cnn runs written out in the test.
 *
 * The steps are cn_nerve_cnn_blend_begin / _step, so a run's outline is the one
 * cn_nerve_cnn_run_blend's first crop gives, bit for bit. The next run's crop is
 * taken by the step that finishes the run before (cn_nerve_cnn_mask_centre must
 * be read before anything else runs on the handle); a crop is a resampling, not a
 * network, so a live frame still carries one network at most.
 */
#include "segment/segment.h"

#include <string.h>

static void finish(cn_nerve_refine *r, bool *done)
{
    r->done = true;
    if (done)
        *done = true;
}

int cn_nerve_refine_begin(cn_nerve_refine *r, cn_nerve_cnn *net, int model, const uint8_t *px,
                          int w, int h, double x_px, double y_px, const cn_nerve_find *find,
                          float weight, int recentre, uint8_t *mask)
{
    if (!r)
        return CN_EINVAL;
    memset(r, 0, sizeof *r);
    r->done = true; /* until the crop is taken */
    if (!net || recentre < 0)
        return CN_EINVAL;
    int rc = cn_nerve_cnn_blend_begin(net, model, px, w, h, x_px, y_px, find);
    if (rc != CN_OK)
        return rc;
    r->net = net;
    r->find = find;
    r->model = model;
    r->weight = weight;
    r->px = px;
    r->w = w;
    r->h = h;
    r->mask = mask;
    r->at[0] = x_px;
    r->at[1] = y_px;
    r->left = recentre;
    r->done = false;
    return CN_OK;
}

int cn_nerve_refine_begin_second(cn_nerve_refine *r, cn_nerve_cnn *net,
                                 const cn_nerve_find *find, float weight)
{
    if (!r)
        return CN_EINVAL;
    memset(r, 0, sizeof *r);
    r->done = true;
    if (!net)
        return CN_EINVAL;
    int rc = cn_nerve_cnn_size_begin(net);
    if (rc != CN_OK)
        return rc;
    r->net = net;
    r->find = find;
    r->weight = weight;
    r->done = false;
    return CN_OK;
}

/* A re-centred run outlined nothing: the mask it pasted replaces the standing
 * outline's, so that run is made again at the centre before (eval only: the live
 * stage passes no mask). Same operations as the first time, so the same mask. */
static int restore_mask(cn_nerve_refine *r, const double *prev)
{
    cn_pt2 p[CN_NERVE_ANGLES];
    int np = 0;
    float cf = 0;
    bool fin = false;
    int rc = cn_nerve_cnn_blend_begin(r->net, r->model, r->px, r->w, r->h, prev[0], prev[1],
                                      r->find);
    while (rc == CN_OK && !fin)
        rc = cn_nerve_cnn_blend_step(r->net, r->find, r->weight, r->mask, p, &np, &cf, &fin);
    return rc;
}

int cn_nerve_refine_step(cn_nerve_refine *r, cn_pt2 *pts_px, int *n, float *confidence,
                         bool *done)
{
    if (n)
        *n = 0;
    if (confidence)
        *confidence = 0;
    if (done)
        *done = false;
    if (!r)
        return CN_EINVAL;
    if (r->done) {
        finish(r, done);
        return CN_OK;
    }
    cn_pt2 p[CN_NERVE_ANGLES];
    int np = 0;
    float cf = 0;
    bool fin = false;
    int rc = cn_nerve_cnn_blend_step(r->net, r->find, r->weight, r->mask, p, &np, &cf, &fin);
    if (rc != CN_OK) {
        finish(r, done); /* an outline that stood before stays */
        return rc;
    }
    if (!fin)
        return CN_OK;
    r->runs++;
    if (np < 3 || cf <= 0) {
        /* the first run: no nerve at the part (have stays false); a re-centred one:
         * the outline before stands */
        if (r->runs > 1 && r->mask)
            rc = restore_mask(r, r->prev);
        finish(r, done);
        return rc;
    }
    memcpy(r->pts_px, p, sizeof p[0] * (size_t)np);
    r->n = np;
    r->confidence = cf;
    r->have = true;
    if (pts_px)
        memcpy(pts_px, p, sizeof p[0] * (size_t)np);
    if (n)
        *n = np;
    if (confidence)
        *confidence = cf;
    double c[2];
    if (r->left > 0 && r->px && cn_nerve_cnn_mask_centre(r->net, &c[0], &c[1]) == CN_OK) {
        r->left--;
        r->prev[0] = r->at[0];
        r->prev[1] = r->at[1];
        r->at[0] = c[0];
        r->at[1] = c[1];
        rc = cn_nerve_cnn_blend_begin(r->net, r->model, r->px, r->w, r->h, c[0], c[1], r->find);
        if (rc != CN_OK)
            finish(r, done);
        return rc;
    }
    finish(r, done);
    return CN_OK;
}

int cn_nerve_refine_run(cn_nerve_refine *r, cn_nerve_cnn *net, int model, const uint8_t *px,
                        int w, int h, double x_px, double y_px, const cn_nerve_find *find,
                        float weight, int recentre, uint8_t *mask, cn_pt2 *pts_px, int *n,
                        float *confidence)
{
    if (n)
        *n = 0;
    if (confidence)
        *confidence = 0;
    int rc = cn_nerve_refine_begin(r, net, model, px, w, h, x_px, y_px, find, weight, recentre,
                                   mask);
    for (bool done = false; rc == CN_OK && !done;)
        rc = cn_nerve_refine_step(r, NULL, NULL, NULL, &done);
    if (r->have) {
        rc = CN_OK; /* a re-centred run that failed: the outline before stands, as live */
        if (pts_px)
            memcpy(pts_px, r->pts_px, sizeof r->pts_px[0] * (size_t)r->n);
        if (n)
            *n = r->n;
        if (confidence)
            *confidence = r->confidence;
    }
    return rc;
}

bool cn_nerve_refine_found(const cn_nerve_refine *r)
{
    return r && r->have;
}

int cn_nerve_refine_runs(const cn_nerve_refine *r)
{
    return r ? r->runs : 0;
}
