/*
 * nerve_cnn_internal.h - shape of the seeded nerve CNN shared by its inference
 * (nerve_cnn.c) and its generated weights (nerve_cnn_weights.c, written by
 * tools/train/train_nerve_cnn.py). Private to modules/segment; the layer order
 * and sizes here must match the Net class of the training script.
 */
#ifndef CN_NERVE_CNN_INTERNAL_H
#define CN_NERVE_CNN_INTERNAL_H

#include "segment/segment.h"

/* channels per level of the U-Net (CH in the training script) */
#define CNN_C0 8
#define CNN_C1 16
#define CNN_C2 32
#define CNN_C3 32
#define CNN_NLAYERS 12

/* Flat weights per model: for each layer in cnn_layers order, the weights
 * [out][in][k][k] then the biases [out]. Index = fold (0..4), then the live model. */
extern const float *const cn_nerve_cnn_weights[CN_NERVE_CNN_NMODELS];

#endif
