/*
 * reader_priv.h - the reader's state, shared by reader.c (scanning, index, layout),
 * reader_mha.c and reader_nrrd.c (the two header flavours) and reader_pixels.c
 * (fields, pixels, frame conversion).
 */
#ifndef CN_SEQIO_READER_PRIV_H
#define CN_SEQIO_READER_PRIV_H

#include "seqio_priv.h"

#include <zlib.h>

typedef struct {
    char *key, *value;
} kv;

/* The frame index, sparse: one entry per frame that has header lines (frames
 * without fields need none), sorted by frame, 24 bytes each. Memory thus follows
 * the header lines the file really has, never the frame count it claims. */
typedef struct {
    uint32_t frame;
    uint32_t len;   /* bytes covering the frame's header lines */
    uint64_t off;   /* first byte of them */
    uint64_t zoff;  /* restart offset in compressed data (CryoNav files), or UINT64_MAX */
} frame_index;

struct cn_seq_reader {
    char path[1024];
    int fd, data_fd;
    cn_seq_info info;
    kv *globals;
    int n_globals, cap_globals;
    frame_index *index;         /* sparse, see frame_index */
    size_t n_index, cap_index;
    bool index_sorted;
    int dirfd;                  /* the header's folder: data files are opened inside it */
    double user_spacing[2];     /* cn_seq_reader_set_default_spacing, 0 = none */
    double header_spacing[3];   /* ElementSpacing / space directions as written */
    bool header_spacing_kept;
    uint8_t *chunk;             /* 48 KB: frames stream through it (never a whole frame) */
    /* pixels wider than 8 bits as grey: one window for the file, from frame 0
     * (reader_pixels.c, grey_window) */
    bool win_set;
    double win_lo, win_scale;   /* grey = (value - lo) * scale, clipped to 0..255 */
    /* per-frame fields of the last request */
    char *fieldbuf;
    size_t fieldbuf_cap;
    cn_seq_field *fields;
    int fields_cap;
    /* Slicer index values */
    uint64_t index_values_off, index_values_len;
    double *index_values;
    int n_index_values;
    /* compressed stream position */
    z_stream zs;
    bool zinit;
    int znext;                  /* frame the stream produces next */
    uint64_t zpos;              /* next data byte to feed (relative to data_offset) */
    uint8_t *zin;
    size_t zin_cap;
    /* checkpoints (inflate state copies at frame boundaries) for foreign files */
    struct zcheckpoint {
        int frame;              /* the frame the saved stream produces next */
        uint64_t in_off;        /* next compressed byte to feed */
        z_stream zs;
    } *cps;
    int n_cps, cp_every;
    /* the image orientation (reader_orient.c): the size as stored, and for a
     * transposed code the stored frame before it is turned */
    int stored_w, stored_h;
    uint8_t *orient_buf;
};

void cn_seq_reader_zreset(cn_seq_reader *r);

/* Header scanning helpers shared by reader.c (MetaImage) and reader_nrrd.c. */
#include <stdio.h>
typedef struct {
    FILE *fp;
    uint64_t off;      /* offset of the next byte */
    char *line;
    size_t cap, max;
} line_reader;
long cn_rd_lr_next(line_reader *lr, uint64_t *start);
char *cn_rd_trim(char *s);
bool cn_rd_parse_frame_key(const char *k, long *idx, const char **rest);
int cn_rd_add_global(cn_seq_reader *r, const char *k, const char *v);
int cn_rd_add_range(cn_seq_reader *r, long idx, uint64_t off, uint64_t end, const char *key,
                    const char *value);
/* The index entry of frame i, or NULL when it has no header lines. */
const frame_index *cn_rd_index_of(const cn_seq_reader *r, int frame);
int cn_rd_parse_sizes(const char *s, long long *out, int n);
int cn_rd_finish_layout(cn_seq_reader *r, long long w, long long h, long long n, long long comp,
                        uint64_t file_size, char *err, size_t err_len);
int cn_rd_open_data_file(cn_seq_reader *r, const char *name, uint64_t *size, char *err,
                         size_t err_len);
int cn_rd_open_nrrd(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
                    size_t err_len);
int cn_rd_open_mha(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
                   size_t err_len);
/* the most global (non per-frame) header fields a file may have */
#define CN_RD_MAX_GLOBALS 4096
void cn_seq_reader_free_checkpoints(cn_seq_reader *r);
/* reader_orient.c: at open, after the layout (sets orient_done, swaps the size and
 * the header's spacing of a transposed code); per frame, where the stored grey goes
 * (the frame, or the reader's buffer when it must be turned), then the turn. */
int cn_rd_orientation(cn_seq_reader *r);
uint8_t *cn_rd_orient_target(cn_seq_reader *r, cn_frame *f);
void cn_rd_orient_frame(const cn_seq_reader *r, cn_frame *f);

#endif
