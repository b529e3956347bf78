/*
 * nerve_find_internal.h - the nerve finder's state, shared by the finder
 * (nerve_find.c: the grid and the network; nerve_find_parts.c: parts, selection,
 * outline) and its tracker between network frames (nerve_track.c: template and
 * block matching). Private to modules/segment.
 */
#ifndef CN_NERVE_FIND_INTERNAL_H
#define CN_NERVE_FIND_INTERNAL_H

#include "nerve_net.h"

#include <stdbool.h>

#define MIN_PART 3        /* cells: smaller parts are specks */
#define MAX_PARTS 256
#define DROP_LOGIT (-20.0f)
#define SCALE_TOL 1.3     /* nerve sizes within x1.3 of the training median need no change */
#define SCALE_RANGE 1.4   /* physical normalisation stays within x1.4 of height-filling */
#define TRACK_MAX 40      /* largest template side (cells): bounds the matching cost */
#define TRACK_R 4         /* block-matching search radius, cells */
#define TRACK_MARGIN 3    /* cells around the part's box in the template */

typedef struct {
    int label, area;
    double mass, cx, cy;
    float peak;
    int x0, y0, x1, y1; /* bounding box, inclusive */
} part;

struct cn_nerve_find {
    int max_w, max_h;
    nerve_net *net;
    nerve_net_info info;
    int max_gh, max_gw;
    /* the last analysis (or the one in progress: running) */
    bool analysed, blank, running;
    double macs;             /* the network's multiply-adds for this grid */
    int w, h, gh, gw;
    double aspect; /* the last start's pixel height / width in mm (1: unknown or square) */
    float *grid, *logit, *field, *dist;  /* field: the chosen part's logits, others DROP (its outline) */
    float *edt_d, *edt_z;
    int *edt_v;
    double *colsum;
    int *lab, *stack;
    part parts[MAX_PARTS];
    int nparts;
    /* paste: per image column, left cell and weight */
    int *col_i;
    float *col_f;
    uint8_t *px_part;  /* the chosen part pasted, its outline traced (max_w x max_h) */
    /* tracking: the grid the last selection was made on */
    bool have_sel;
    int sel_gh, sel_gw, sel_w, sel_h;
    int tx0, ty0, tx1, ty1;  /* template box (cells) */
    float *tmpl;             /* the standardised grid of the last selection */
    float *cur;              /* this frame's grid, tracking only */
    cn_nerve_found last;
};

/* pixel <-> grid cell centre, along one axis */
static inline double cn__nf_to_cell(double x, int n_px, int n_cells)
{
    return (x + 0.5) * n_cells / n_px - 0.5;
}
static inline double cn__nf_to_px(double u, int n_px, int n_cells)
{
    return (u + 0.5) * n_px / n_cells - 0.5;
}

/* The frame as cell means on a gh x gw grid, standardised, into out; returns the
 * grid's grey-level spread before the floor (nerve_find.c). */
double cn__nf_make_grid(cn_nerve_find *f, const uint8_t *px, int w, int h, int gh, int gw,
                        float *out);
/* Labels the pass's logits (> 0) into parts, specks dropped, into f->parts
 * (nerve_find_parts.c). */
void cn__nf_find_parts(cn_nerve_find *f);
/* Remembers the analysed grid as the template for tracking (nerve_track.c). */
void cn__nf_set_template(cn_nerve_find *f, int bx0, int by0, int bx1, int by1, double cx,
                         double cy, const cn_nerve_found *outline);

#endif
