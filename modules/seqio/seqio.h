/*
 * seqio.h - PLUS / 3D Slicer sequence files: streaming reader, crash-safe streaming
 * writer, recovery, the recorder sink and the session summary behind `cryonav report`.
 *
 * Reader: MetaImage flavour (.igs.mha, .igs.mhd + .raw/.zraw), NRRD flavour
 * (.igs.nrrd) and Slicer's .seq.nrrd. Opening scans the header once and keeps only
 * an index (per frame: where its header lines are, where its pixels are), never the
 * pixels: a frame is read on demand, so memory does not grow with the file. Zlib /
 * gzip data is inflated as a stream; seeking backwards in a foreign compressed file
 * restarts from the nearest checkpoint, while files CryoNav wrote carry a restart
 * offset per frame (the deflate stream is fully flushed at every frame boundary) so
 * any frame is one seek away.
 *
 * Writer: frames are appended as they come to FILE.part (pixels, raw or deflate
 * with a full flush per frame) and FILE.journal (the frame's header fields, then a
 * commit line naming where its pixels end and their checksum). Closing assembles
 * the final PLUS-style file (header with final DimSize / CompressedDataSize, then
 * the pixels). A killed process leaves .part + .journal; cn_seq_recover builds the
 * file from every committed frame. Nothing is buffered in user space past one
 * frame, so frames handed to the writer more than a moment ago survive SIGKILL.
 *
 * Every error fills `err` with a message naming the file and the problem; bad
 * input never crashes and never allocates more than the file could justify.
 */
#ifndef CN_SEQIO_H
#define CN_SEQIO_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ reader */

typedef enum { CN_SEQ_MHA = 0, CN_SEQ_NRRD = 1 } cn_seq_format;

typedef enum {
    CN_PIX_UINT8 = 0, CN_PIX_INT8, CN_PIX_UINT16, CN_PIX_INT16, CN_PIX_UINT32, CN_PIX_INT32,
    CN_PIX_FLOAT32, CN_PIX_FLOAT64
} cn_seq_pixel;

typedef struct {
    cn_seq_format format;
    bool slicer_seq;          /* Slicer .seq.nrrd (4-D, list axis) */
    int width, height;        /* 0 x 0 or 1 x 1 for tracker-only files */
    int n_frames;
    int components;           /* 1 grey, 3 RGB ... */
    cn_seq_pixel pixel;
    const char *pixel_name;   /* as the file names it: "MET_UCHAR", "int16" */
    size_t elem_bytes;
    size_t frame_bytes;       /* width * height * components * elem_bytes */
    bool compressed;
    bool big_endian;
    uint64_t data_offset;     /* where pixels start in data_path */
    uint64_t data_bytes;      /* compressed size, or the bytes of pixel data */
    char data_path[1024];     /* the file holding the pixels (the file itself if LOCAL) */
    double spacing[3];
    char orientation[8];      /* UltrasoundImageOrientation, "" when absent */
    char image_type[32];      /* UltrasoundImageType, "" when absent */
    int frames_with_fields;   /* frames that have at least one Seq_Frame field */
} cn_seq_info;

typedef struct cn_seq_reader cn_seq_reader;

cn_seq_reader *cn_seq_reader_open(const char *path, char *err, size_t err_len);
void cn_seq_reader_close(cn_seq_reader *r);
const cn_seq_info *cn_seq_reader_info(const cn_seq_reader *r);
/* A global (non per-frame) header field by name ("ElementSpacing"), or NULL. */
const char *cn_seq_reader_global(const cn_seq_reader *r, const char *key);

/* Per-frame fields of frame i: name/value pairs without the Seq_FrameNNNN_ prefix
 * ("ProbeToTrackerTransform" -> "0.85 ..."), values trimmed. The pointers stay
 * valid until the next call on the reader. Returns the count or a negative error. */
typedef struct {
    const char *key, *value;
} cn_seq_field;
int cn_seq_reader_fields(cn_seq_reader *r, int frame, const cn_seq_field **out, char *err,
                         size_t err_len);
/* Value of one field of the last cn_seq_reader_fields result, or NULL. */
const char *cn_seq_field_find(const cn_seq_field *f, int n, const char *key);

/* Raw pixels of frame i exactly as stored (native element type, converted to host
 * byte order) into buf (at least info.frame_bytes). */
int cn_seq_reader_pixels(cn_seq_reader *r, int frame, void *buf, size_t buf_len, char *err,
                         size_t err_len);

/* Fills a pool frame: size, spacing, pixels (uint8 grey; RGB/RGBA converted to
 * luma), seq (FrameNumber, else the index), t_acq_ns (Timestamp), status
 * (ImageStatus / Status), poses (every field "<AToB>Transform", valid when its
 * "...TransformStatus" is OK or absent), and the CryoNav analysis / truth fields
 * when the file has them (then f->analysed is true). Other pixel types are
 * CN_EUNSUPPORTED with a message naming the type. */
int cn_seq_reader_read_frame(cn_seq_reader *r, int frame, cn_frame *f, char *err, size_t err_len);

/* Timestamp of frame i in seconds (NAN when the frame has none). Reads the
 * frame's fields, so it invalidates earlier cn_seq_reader_fields results. */
double cn_seq_reader_timestamp(cn_seq_reader *r, int frame);

/* ------------------------------------------------------------------ writer */

typedef struct {
    cn_seq_format format;     /* CN_SEQ_MHA (.igs.mha) or CN_SEQ_NRRD (.igs.nrrd) */
    bool compress;            /* zlib (mha) / gzip (nrrd) */
    int level;                /* zlib level 1..9 (default 1: Huffman-only, fastest) */
    const char *orientation;  /* default "MF" */
    const char *image_type;   /* default "BRIGHTNESS" */
} cn_seq_writer_opts;

typedef struct cn_seq_writer cn_seq_writer;

/* Creates path.part and path.journal (path itself appears at close). Fails when
 * path exists (never overwrites a recording) or a recording in progress
 * (path.journal) exists. */
cn_seq_writer *cn_seq_writer_open(const char *path, const cn_seq_writer_opts *o, char *err,
                                  size_t err_len);
/* Appends one frame (all frames must have the size of the first) with its
 * transforms, timestamps, status, analysis (when f->analysed) and truth (when
 * valid). extra: NULL or "Key = value" lines ('\n' separated) added as custom
 * per-frame fields (e.g. session events). */
int cn_seq_writer_append(cn_seq_writer *w, const cn_frame *f, const char *extra, char *err,
                         size_t err_len);
int cn_seq_writer_frames(const cn_seq_writer *w);
/* Assembles the final file, removes .part/.journal, frees w (also on error). */
int cn_seq_writer_close(cn_seq_writer *w, char *err, size_t err_len);

/* Rebuilds `path` from path.part + path.journal left by a killed writer: every
 * committed frame whose pixels are complete and check out. *n_recovered and
 * *n_dropped (uncommitted or damaged tail) may be NULL. */
int cn_seq_recover(const char *path, int *n_recovered, int *n_dropped, char *err,
                   size_t err_len);

/* ------------------------------------------------------------------ recorder */

/* The recorder is the pipeline's raw sink (every acquired frame: copied into a
 * bounded ring, never blocking the device thread) and optionally also an analysed
 * sink (analysis results are matched to the raw frame by seq). A writer thread
 * writes each frame once its analysis arrived, a later frame's analysis arrived
 * (that frame was skipped by latest-wins), or it waited hold_ms. Phase, cycle,
 * alarm changes become session events; operator notes are added with
 * cn_recorder_note. Overflow (disk slower than the source) drops frames and logs
 * an error for each burst. */
typedef struct {
    cn_seq_writer_opts writer;
    int ring_frames;          /* default 64 */
    int max_width, max_height;/* default 1024 x 1024 */
    int hold_ms;              /* default 300: wait this long for a frame's analysis */
    cn_log *log;
} cn_recorder_opts;

typedef struct cn_recorder cn_recorder;

cn_recorder *cn_recorder_new(const char *path, const cn_recorder_opts *o, char *err,
                             size_t err_len);
/* The two sinks: add raw with cn_pipeline_add_raw_sink, analysed with
 * cn_pipeline_add_sink (optional). */
void cn_recorder_sinks(cn_recorder *rec, cn_sink *raw, cn_sink *analysed);
/* An operator note, attached to the next written frame. */
int cn_recorder_note(cn_recorder *rec, const char *text);
typedef struct {
    uint64_t received, written, dropped, analysed_attached;
    int last_error;
} cn_recorder_stats;
void cn_recorder_get_stats(cn_recorder *rec, cn_recorder_stats *out);
/* Writes what is queued, closes the file, frees; final stats into *final when not
 * NULL. Call after the pipeline stopped. */
int cn_recorder_close(cn_recorder *rec, cn_recorder_stats *final, char *err, size_t err_len);

/* ------------------------------------------------------------------ session summary */

#define CN_SESSION_MAX_CYCLES 16
typedef struct {
    int cycle;
    double freeze_start_s, freeze_s; /* from the session start */
    double thaw_s;                   /* until the next freeze or withdrawal, <0 unknown */
    double max_ice_radius_mm;        /* largest -0 C isotherm / ice radius during it */
} cn_session_cycle;

typedef struct {
    int n_frames, n_analysed;
    double duration_s;
    double insertion_s, withdrawal_s;   /* from the first frame; <0 when not seen */
    double procedure_s;                 /* withdrawal - insertion, <0 unknown */
    int n_cycles;
    cn_session_cycle cycles[CN_SESSION_MAX_CYCLES];
    double max_ice_radius_mm, max_ice_width_mm, max_ice_depth_mm;
    double coverage_max;                /* <0 unknown */
    double ice_skin_min_mm;             /* closest approach of ice to skin, <0 unknown */
    int n_events, n_alarms, n_notes;
    const char *phase_source;           /* "analysis", "truth" or "none" */
} cn_session_summary;

/* Per-frame series a report plots; arrays of n (NAN where unknown). */
typedef struct {
    int n;
    double *t_s, *ice_radius_mm, *iso_radius_mm[CN_ISO_MAX], *nerve_temp_c;
    float iso_temp_c[CN_ISO_MAX];
    int n_iso;
    uint8_t *phase;           /* cn_phase of each point (issue 16: freeze/thaw shading) */
} cn_session_series;

/* Reads a recording frame by frame and summarises it. series may be NULL; else
 * its arrays are allocated (free with cn_session_series_free). events_out: if
 * not NULL, receives "t_s event" lines (caller frees). */
int cn_session_summarize(const char *path, cn_session_summary *out, cn_session_series *series,
                         char **events_out, char *err, size_t err_len);
void cn_session_series_free(cn_session_series *s);
/* The summary as a JSON object text (caller frees). */
char *cn_session_summary_json(const cn_session_summary *s, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CN_SEQIO_H */
