/*
 * reader_priv.h - the reader's state, shared by reader.c (header, index) and
 * reader_pixels.c (fields, pixels, frame conversion).
 */
#ifndef CN_SEQIO_READER_PRIV_H
#define CN_SEQIO_READER_PRIV_H

#include "seqio_priv.h"

#include <zlib.h>

typedef struct {
    char *key, *value;
} kv;

/* Where frame idx's header lines are, as met during the scan. */
typedef struct {
    long idx;
    uint64_t off, end;
    uint64_t zoff;
} frame_range;

/* Final per-frame index: 24 bytes a frame. */
typedef struct {
    uint64_t off;   /* first byte of the frame's header lines */
    uint64_t len;   /* bytes covering them (0: the frame has no fields) */
    uint64_t zoff;  /* restart offset in compressed data (CryoNav files), or UINT64_MAX */
} frame_index;

struct cn_seq_reader {
    char path[1024];
    int fd, data_fd;
    cn_seq_info info;
    kv *globals;
    int n_globals, cap_globals;
    frame_range *ranges;
    size_t n_ranges, cap_ranges;
    frame_index *index;
    uint8_t *scratch;           /* one frame of raw pixels */
    /* per-frame fields of the last request */
    char *fieldbuf;
    size_t fieldbuf_cap;
    cn_seq_field *fields;
    int fields_cap;
    /* Slicer index values */
    uint64_t index_values_off, index_values_len;
    double *index_values;
    /* compressed stream position */
    z_stream zs;
    bool zinit;
    int znext;                  /* frame the stream produces next */
    uint64_t zpos;              /* next data byte to feed (relative to data_offset) */
    uint8_t *zin;
    /* checkpoints (inflate state copies at frame boundaries) for foreign files */
    struct zcheckpoint {
        int frame;              /* the frame the saved stream produces next */
        uint64_t in_off;        /* next compressed byte to feed */
        z_stream zs;
    } *cps;
    int n_cps, cp_every;
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
int cn_rd_parse_sizes(const char *s, long long *out, int n);
int cn_rd_finish_layout(cn_seq_reader *r, long long w, long long h, long long n, long long comp,
                        uint64_t file_size, char *err, size_t err_len);
int cn_rd_open_data_file(cn_seq_reader *r, const char *name, uint64_t *size, char *err,
                         size_t err_len);
int cn_rd_open_nrrd(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
                    size_t err_len);
void cn_seq_reader_free_checkpoints(cn_seq_reader *r);

#endif
