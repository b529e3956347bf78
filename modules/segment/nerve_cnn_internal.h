/*
 * nerve_cnn_internal.h - shape of the seeded nerve CNN shared by its inference
 * (nerve_cnn.c) and its weights file (nerve_cnn.weights, written by
 * tools/train/train_nerve_cnn.py). Private to modules/segment; the layer order
 * and sizes here must match the Net class of the training script.
 */
#ifndef CN_NERVE_CNN_INTERNAL_H
#define CN_NERVE_CNN_INTERNAL_H

#include "segment/segment.h"

/* The U-Net's layer pattern (Net in the training script): 12 layers; its
 * channels per level come from the weights file's header, each 1..CNN_CMAX. */
#define CNN_NLAYERS 12
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
 *  48  f32 weights: per network, per layer [out][in][ky][kx] then bias [out]. */
#define CNN_FILE_MAGIC "CNNERVE1"
#define CNN_FILE_HEADER 48
extern const unsigned char cn_nerve_cnn_blob[];
extern const size_t cn_nerve_cnn_blob_size;

#endif
