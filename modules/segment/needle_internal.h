/*
 * needle_internal.h - what the needle detector's files share (not a public header).
 *
 * needle_enhance.c  working image, field of view, Hessian ridge map (per frame)
 * needle_lines.c    oriented Hough votes, peaks per angle band, the walk along a line
 * needle_fit.c      a candidate's front-wall fit, run, orientation and tip
 * needle.c          the public API: candidates, evidence, confidence, priors
 *
 * Coordinates: the "working" image is the frame box-averaged by an integer factor
 * f (so its width is ~360 px whatever the scanner); working pixel (i, j) covers
 * full-resolution pixels [f i, f i + f) x [f j, f j + f), i.e. its centre is at
 * full-resolution pixel coordinate (f i + (f - 1) / 2, f j + (f - 1) / 2).
 */
#ifndef CN_NEEDLE_INTERNAL_H
#define CN_NEEDLE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Width the working image is brought near to (integer factor). */
#define ND_WORK_WIDTH 360
/* Two Hessian scales: a thin specular line (the front wall of a needle, 2-4
 * working px thick on every scanner seen so far) on the working image, and the
 * broad band a thick probe makes with its back wall and reverberation tail on a
 * 2x coarser copy (sigma 1.75 there, 3.5 working px). */
#define ND_SIGMA 1.5f
#define ND_SIGMA_COARSE 1.75f
#define ND_NSCALE 2
/* A line sample supports a run when its oriented ridge reaches this many times the
 * scale's threshold (the 90th percentile of the frame's ridge): speckle alone
 * rarely does along a straight line. */
#define ND_WALK_ON 1.0f

typedef struct {
    int w, h;           /* size of this scale's grid */
    int step;           /* working px per grid px (1 or 2) */
    int shift;          /* log2(step) */
    float sigma;        /* in grid px */
    float *hxx, *hyy, *hxy; /* scale-normalised Hessian, 0 near the FOV edge */
    float *ridge;       /* max(0, -l2 - |l1|): bright line strength */
    float thr;          /* 90th percentile of ridge inside the FOV (0: scale unused) */
    float inv_thr;      /* 1 / thr */
} nd_scale;

typedef struct {
    int max_w, max_h;   /* working buffers' capacity */
    int f;              /* full-resolution px per working px */
    int w, h;           /* working image size */
    uint8_t *g, *g2;    /* working grey image, and at half its size */
    float *blur, *tmp;  /* Gaussian scratch */
    nd_scale sc[ND_NSCALE];
    int16_t *fl, *fr;   /* field of view per row: [fl, fr] (working px), fl > fr outside */
    int top, bottom;    /* first and last rows with a field of view */
    float grey_mean, grey_sd; /* grey levels inside the field of view */
} nd_work;

/* A run of ridge support along a line (t in working px from the line's base point). */
typedef struct {
    float ta, tb;       /* first and last supported sample */
    float support;      /* sum over the run of min(ridge / thr, 3) */
    float coarse;       /* fraction of the support from the coarse scale */
    float fill;         /* fraction of the run's samples above half the threshold */
} nd_run;

/* The Hough side: allowed 1-degree angle bins (line angle -89..89 deg, > 0 descends to
 * the right), and an optional window around a tracked-pose line. */
#define ND_NANG 179
typedef struct {
    bool allowed[ND_NANG];
    float cs[ND_NANG], sn[ND_NANG];
    bool use_pose;
    float pose_x, pose_y, pose_tol; /* working px */
} nd_vote_setup;

typedef struct {
    int b, r;           /* angle bin, offset bin */
    float v;
} nd_peak;

typedef struct {
    float *acc;         /* ND_NANG x nrho */
    int nrho;
    int *vx, *vy;
    float *vw;
    int max_voters;
} nd_hough;

int nd_work_init(nd_work *w, int max_full_w, int max_full_h);
void nd_work_free(nd_work *w);
/* Working image, field of view, Hessian and ridge map of one frame. false when the
 * frame shows nothing (no field of view). */
bool nd_enhance(nd_work *w, const uint8_t *px, int fw, int fh);
/* Ridge strength of a bright line with direction (ux, uy) at working pixel (x, y),
 * in units of the scale's threshold, the larger of the two scales:
 * (-(n.H.n) - |u.H.u|) / thr with n the normal; 0 outside the image. */
float nd_oriented_ridge(const nd_work *w, int x, int y, float ux, float uy);
/* The same for scale k alone (working px coordinates). */
float nd_oriented_ridge_at(const nd_work *w, int k, int x, int y, float ux, float uy);
/* Working px next to the field of view's border where scale k computes no ridge. */
float nd_ridge_margin(const nd_work *w, int k);
/* Distance (working px) from (x, y) to the field of view's border; negative outside. */
float nd_fov_inset(const nd_work *w, float x, float y);

/* needle_lines.c: votes of the ridge pixels (each near its own orientation), the
 * strongest local maxima, and the walk along a line. */
int nd_hough_init(nd_hough *h, int max_full_w, int max_full_h);
void nd_hough_free(nd_hough *h);
int nd_hough_vote(nd_hough *h, const nd_work *w, const nd_vote_setup *vs);
int nd_hough_peaks(const nd_hough *h, const nd_work *w, const nd_vote_setup *vs, nd_peak *pk,
                   int max_peaks);
/* The line of a peak: base point (working px) and unit direction. */
void nd_peak_line(const nd_hough *h, const nd_work *w, const nd_vote_setup *vs, const nd_peak *pk,
                  float *ox, float *oy, float *ux, float *uy);
/* Walks the line (ox, oy) + t (ux, uy) through the working image and returns a run
 * of oriented ridge support (gaps up to ~2.5 % of the diagonal): the strongest one,
 * or, when near is finite, the one containing t = near (else the nearest to it). */
bool nd_walk(const nd_work *w, float ox, float oy, float ux, float uy, float near, nd_run *out);
/* The same, looking only at tmin <= t <= tmax. */
bool nd_walk_range(const nd_work *w, float ox, float oy, float ux, float uy, float near,
                   float tmin, float tmax, nd_run *out);

/* ------------------------------------------------------------------ candidates */

#define MAX_ST 12         /* refinement stations */
#define PROF_MAX 4096     /* samples of a profile along a line */

/* A candidate line, always in working-image px: a point on the front-wall line, the
 * unit direction, the run [te, tt] along it. */
typedef struct {
    float px, py, ux, uy;
    float te, tt;         /* run ends along u from p (tt: the tip once oriented) */
    float ridge_off;      /* the ridge line (where the support is walked) is the line
                             minus ridge_off * n, n = (-uy, ux): the fit moves onto the
                             front-wall echo, which can lie above a broad band's centre */
    float support;        /* sum over the run of min(ridge / thr, 3) (working px) */
    float fill;           /* fraction of the run's samples above half the threshold */
    float coarse;         /* fraction of the support from the coarse (broad band) scale */
    float resid;          /* rms distance of the station edges from the line (working px) */
    float contrast;       /* median (peak - brighter side) / grey spread */
    float contrast_up;    /* median (peak - tissue above) / grey spread */
    float bright;         /* median peak grey level - frame mean, / grey spread */
    float st_frac;        /* fraction of the refinement stations on the fitted line */
    float inset;          /* tip's distance inside the field of view (working px) */
    float entry_inset;    /* the shallow end's distance inside the field of view */
    float conf, score;
    bool ok;
} nd_cand;

/* An image the refinement samples: the working image (f = 1) or the frame (f = the
 * working factor); its px = f * working px + (f - 1) / 2. */
typedef struct {
    const uint8_t *px;
    int w, h;
    float f;
} nd_img;

static inline float nd_to_img(const nd_img *im, float v) { return im->f * v + 0.5f * (im->f - 1); }

/* needle_fit.c */
/* Line angle in degrees, -90..90 (> 0 descends to the right). */
float nd_line_angle_deg(const nd_cand *c);
/* Fits c's front wall on image im at stations along its run; moves c onto it and
 * measures resid, contrast, contrast_up, bright, st_frac. */
void nd_refine(const nd_work *w, const nd_img *im, nd_cand *c);
/* Walks c's ridge line and takes the run containing (or nearest to) t = near;
 * false when there is none. */
bool nd_rewalk(const nd_work *w, nd_cand *c, float near);
/* Orients c so that u points to the deep end (the tip). */
void nd_orient(nd_cand *c);
/* Where the echo ends along the oriented line on image im (moves c->tt); q, bg, sm
 * are PROF_MAX floats of scratch each. */
void nd_find_tip(const nd_img *im, nd_cand *c, float *q, float *bg, float *sm);

#endif /* CN_NEEDLE_INTERNAL_H */
