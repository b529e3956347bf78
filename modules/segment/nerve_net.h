/*
 * nerve_net.h - the nerve finder's network: its weights file (nerve_net_file.c)
 * and its forward pass through oneDNN (nerve_net.c). Private to modules/segment; the layer order
 * must match layer_table() and Net in tools/train/train_nerve_net.py.
 *
 * Weights file ("CNNFIND1", modules/segment/nerve_find.weights, embedded at
 * build time by cmake/embed_bytes.cmake). All little-endian:
 *    0 char[8] "CNNFIND1"
 *    8 u32 networks (CN_NERVE_FIND_NMODELS: fold0..fold4, us, fem, live)
 *   12 u32 weights per network (must match the layer table of the channels below)
 *   16 u32 grid rows H at the image's own scale (multiple of 2^(levels-1))
 *   20 u32 levels L (3..8)
 *   24 u32[8] channels per level (multiples of 8; unused entries 0)
 *   56 f32 grey standard-deviation floor of the standardisation
 *   60 f32 median equivalent nerve radius of the training masks, in grid cells
 *   64 f32 peak probability a part needs to count as found
 *   68 f32 cluster distance: parts this close (cells) to the chosen one are kept
 *   72 f32 seed distance: the part the operator's point selects must come this close
 *   76 f32 weight of the finder's logits in the seeded outline (nerve_cnn.c blend)
 *   80 f32 automatic outline: < 0 the finder's part; else the crop CNN at the part's
 *      centre with the finder's logits blended in at this weight
 *   84 u32 flags: bit 0 NET_FLAG_FOV, the networks were trained on frames cut to
 *      the scanner's field of view (train_nerve_net.py --fov-crop), so every frame
 *      is cut to cn_img_fov_box before the finder sees it (ninth session); other
 *      bits 0
 *   88 u32 members: networks per slot, an ensemble whose logits are averaged
 *      (1..NET_MAX_MEMBERS; 0, as in files before the tenth session, means 1)
 *   92 u32 reserved (0)
 *   96 f32 weights: per slot, per member, per 3x3 layer (layer table order) then
 *      the 1x1 head, [out][in][ky][kx] then bias[out].
 */
#ifndef CN_NERVE_NET_H
#define CN_NERVE_NET_H

#include "segment/segment.h"

#define NET_MAGIC "CNNFIND1"
#define NET_HEADER 96
#define NET_MAX_LEVELS 8
#define NET_FLAG_FOV 1u
#define NET_MAX_LAYERS (3 * NET_MAX_LEVELS)
#define NET_MAX_MEMBERS 8

extern const unsigned char cn_nerve_find_blob[];
extern const size_t cn_nerve_find_blob_size;

typedef struct {
    int networks, per_net, rows, levels;
    int members;                 /* networks per slot, logits averaged (1: no ensemble) */
    int in_ch;                   /* input channels: 1 (the finder), 2 (the crop CNN) */
    int ch[NET_MAX_LEVELS];
    float std_floor, r_cells, found_p, cluster_cells, seed_cells, seed_blend;
    float auto_blend;
    bool fov_crop;               /* NET_FLAG_FOV */
} nerve_net_info;

typedef struct nerve_net nerve_net;

/* Checks and decodes a CNNFIND1 image (any host byte order). */
int nerve_net_new(const void *blob, size_t size, nerve_net **out, nerve_net_info *info, char *err,
                  size_t err_len);
/* A network of the same layer pattern from weights already in memory, in the
 * layout above without the file around them (the seeded crop CNN's, read by
 * nerve_cnn_net.c): `levels` levels of ch[] channels (multiples of 8, 8..256),
 * in_ch input channels (planar), `networks` networks back to back. The weights
 * are copied. */
int nerve_net_new_layers(int levels, const int *ch, int in_ch, int networks, const float *weights,
                         nerve_net **out, char *err, size_t err_len);
/* The common end of both constructors (nerve_net_file.c reads the file): a network
 * of info's shape (networks x members networks of per_net weights each, checked
 * against the layer pattern) owning `weights`, which is freed on failure too. */
int nerve_net_adopt(const nerve_net_info *info, float *weights, nerve_net **out, char *err,
                    size_t err_len);
void nerve_net_free(nerve_net *n);
/* Weights per network of that layer pattern (0 when the shape is out of range):
 * the one definition of the pattern, which the crop CNN's file is checked by. */
size_t nerve_net_weights_per_net(int levels, const int *ch, int in_ch);
/* Logits (gh x gw, row-major) of network `model` for the standardised input
 * (in_ch planes of gh x gw). gh, gw multiples of 2^(levels-1). One thread.
 * With members > 1, `model` is a slot and the logits are its members' mean. */
int nerve_net_forward(nerve_net *n, int model, const float *in, int gh, int gw, float *out);
/* The same pass in slices (so a frame never pays for all of it): start copies
 * the input (its multiply-adds in *macs, every member's), each continue runs
 * operations worth up to max_macs (at least one), done when the last member's
 * last ran; then output. A new start abandons a pass in progress. */
int nerve_net_start(nerve_net *n, int model, const float *in, int gh, int gw, double *macs);
int nerve_net_continue(nerve_net *n, double max_macs, bool *done);
int nerve_net_output(nerve_net *n, float *out);

#endif
