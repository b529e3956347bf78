/*
 * nerve_cnn_internal.h - shape of the seeded nerve CNN shared by its inference
 * (nerve_cnn.c) and its weights file (nerve_cnn.weights, written by
 * tools/train/train_nerve_cnn.py). Private to modules/segment; the layer order
 * and sizes here must match the Net class of the training script.
 */
#ifndef CN_NERVE_CNN_INTERNAL_H
#define CN_NERVE_CNN_INTERNAL_H

#include "segment/segment.h"

#include "nerve_net.h"

#include <stdbool.h>

/* The U-Net is the finder's layer pattern (nerve_net.c) with four levels and two
 * input planes: 12 layers (Net in the training script); its channels per level
 * come from the weights file's header, each a multiple of 8 in 8..CNN_CMAX
 * (oneDNN's blocked layout, as the finder's). */
#define CNN_CMAX 128
/* Activation planes a weights file may ask for (the shipped 8/16/32/32 on a 64
 * grid needs 4.6 MB; 128 channels everywhere on a 128 grid would need ~100 MB). */
#define CNN_ACT_BUDGET (32 << 20)

/* The built-in weights file (modules/segment/nerve_cnn.weights, embedded at build
 * time by cmake/embed_bytes.cmake). Layout, all little-endian:
 *   0  char[8] "CNNERVE1"
 *   8  u32 networks: CN_NERVE_CNN_NMODELS models (folds 0..4, then the live
 *      model) x R replicas (R >= 1 networks trained alike with other seeds,
 *      averaged; one model's replicas adjacent)
 *  12  u32 weights per network (must match the layer table below)
 *  16  u32 crop grid n (multiple of 8, <= CN_NERVE_CNN_NMAX)
 *  20  f32 crop side / smaller image side
 *  24  f32 seed Gaussian sigma (grid cells)
 *  28  f32 grey standard-deviation floor of the standardisation
 *  32  u32[4] channels per level (levels 2 and 3 equal)
 *  48  f32 weights: per network, per layer [out][in][ky][kx] then bias [out].
 * "CNNERVE2" (since the sixth session: the size-normalised crop) is the same
 * header followed by
 *  48  f32 size_norm K: a second pass re-crops with side K x the first pass's
 *      nerve radius (the equivalent radius of its mask), so the network sees every
 *      nerve at about one size (4..32; the recipe's K in train_nerve_cnn.py)
 *  52  u32 flags: bit 0 CNN_FLAG_MIRROR, every network also runs on the crop
 *      mirrored left-right, its logits mirrored back and averaged with the
 *      plain ones (seventh session); bit 1 CNN_FLAG_FOV, trained on frames cut
 *      to the scanner's field of view (train_nerve_cnn.py --fov-crop): the
 *      caller cuts every frame to cn_img_fov_box first (ninth session); bit 2
 *      CNN_FLAG_SEED_FIRST, the finder's logits are blended into the first crop
 *      only: the size-normalised second crop is the network's alone (twelfth
 *      session, docs/validation.md); other bits 0
 *  56  u32[2] reserved, 0
 *  64  f32 weights, as above. */
#define CNN_FILE_MAGIC "CNNERVE1"
#define CNN_FILE_MAGIC2 "CNNERVE2"
#define CNN_FILE_HEADER 48
#define CNN_FILE_HEADER2 64
#define CNN_FLAG_MIRROR 1u
#define CNN_FLAG_FOV 2u
#define CNN_FLAG_SEED_FIRST 4u
/* The second pass's crop side, as a share of the smaller image side: a nerve whose
 * first outline is a speck or fills the frame keeps a crop the network can use
 * (the training script's sn_side() clamps alike). */
#define CNN_SN_SIDE_MIN 0.2f
#define CNN_SN_SIDE_MAX 1.0f
extern const unsigned char cn_nerve_cnn_blob[];
extern const size_t cn_nerve_cnn_blob_size;
extern const unsigned char cn_nerve_refine_blob[]; /* automatic mode's refine network */
extern const size_t cn_nerve_refine_blob_size;

/* The handle (nerve_cnn.c: crop, paste, outline; nerve_cnn_net.c: weights and
 * the forward pass). */
struct cn_nerve_cnn {
    int max_w, max_h;
    /* from the weights file */
    int ch[4];              /* channels per level */
    int grid_n;             /* crop grid side */
    float crop_frac;        /* crop side / smaller image side */
    float seed_sigma;       /* seed channel Gaussian, grid cells */
    float std_floor;        /* grey std floor of the standardisation */
    float size_norm;        /* 0, or the second pass's crop side in nerve radii */
    size_t per_model;       /* weights per network */
    int replicas;           /* networks per model (an ensemble when > 1) */
    bool fov_crop;          /* CNNERVE2 flag: trained on frames cut to the field of view */
    bool mirror;            /* CNNERVE2 flag: each network also on the mirrored crop, averaged */
    bool seed_first;        /* CNNERVE2 flag: no finder blend in the second crop */
    float *weights;         /* while loading only: models x replicas x per_model */
    nerve_net *net;         /* the networks, through oneDNN (nerve_net.c) */
    float *acc;             /* n x n: a further replica's logits */
    float *xin_m;           /* 2 x n x n: the input mirrored left-right (mirror) */
    float *acc_m;           /* n x n: the mirrored input's logits (mirror) */
    float *logit;           /* n x n, unpadded */
    float *xin;             /* 2 x n x n network input, unpadded */
    uint8_t *half;          /* the frame at half resolution */
    uint8_t *mask_own;      /* every kept part, pasted (cn_nerve_cnn_parts_mask) */
    uint8_t *mask_tgt;      /* the target part's pixels, pasted (its outline is traced) */
    int *lab;               /* grid component labels */
    int *stack;
    int *col_i;             /* paste: per image column, left logit cell and weight */
    float *col_f;
    /* the crop of the last run (cn_nerve_cnn_blend_begin keeps it between frames) */
    int st_w, st_h, st_model;
    float st_cx, st_cy;
    float st_side;          /* crop side, input pixels across */
    float st_aspect;        /* the pixel's height / width in mm: the crop spans
                               st_side / st_aspect pixels down (square in the tissue) */
    bool st_blank;          /* the crop is one grey level: nothing to outline */
    /* the pasted mask of the last finished run: its centroid (input pixels) and
     * pixel count (0: nothing found), for cn_nerve_cnn_mask_centre */
    double out_cx, out_cy;
    long out_n;
    int st_next;            /* staged: the next replica to run, -1 when no steps are pending */
    int st_pass;            /* staged: 0 the first crop, 1 the size-normalised one */
};

/* nerve_cnn_net.c: checks a CNNERVE1 or CNNERVE2 image (its header gives the channels and the
 * crop geometry; the activation bound is checked before anything is reserved),
 * decodes its weights and builds c->net from them. */
int cn__cnn_load_weights(cn_nerve_cnn *c, const unsigned char *b, size_t size, char *err,
                         size_t err_len);
/* Replica r of the model on the input (2 x n x n): r = 0 writes out, a further one
 * adds its logits, the last of several takes the mean. */
int cn__cnn_run_replica(cn_nerve_cnn *c, int model, int r, const float *in, int n, float *out);

#endif
