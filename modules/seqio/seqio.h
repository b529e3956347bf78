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
    CN_PIX_FLOAT32, CN_PIX_FLOAT64,
    CN_PIX_NONE               /* no image data (MET_OTHER, tracking-only files) */
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
    double spacing[3];        /* mm per pixel of frame 0, from spacing_source */
    /* Where the spacing came from: "ImageToProbe" (the PLUS way: the calibration's
     * scale), "user" (cn_seq_reader_set_default_spacing, e.g. --spacing-mm),
     * "ElementSpacing" (a header value other than 1), or "none" (1 mm/px assumed). */
    char spacing_source[16];
    /* the header states a spacing that is no pixel size (negative, zero, not a number,
     * past 100 mm or under 0.1 um: a damaged or hostile header): source "none", and
     * spacing_stated holds what it said (before, 1e300 was taken as it stood and -0.3 was
     * described as "none in the file") */
    bool spacing_invalid;
    double spacing_stated[2];
    bool scene_clock;         /* Timestamp is CryoNav's scene time (CryoNavTimestampClock) */
    bool wall_clock;          /* frames carry CryoNavWallNs (UTC ns) */
    bool offline_pace;        /* CryoNavPace = scene: made offline, so a replay paces on the
                                 scene time (Timestamp), not on CryoNavWallNs */
    char orientation[8];      /* UltrasoundImageOrientation, "" when absent */
    /* Frames are read turned to PLUS's MF (columns to the probe's marked side, rows into
     * depth), as PLUS reads them: what was done, CN_SEQ_ORIENT_* bits (0: stored as
     * MF, or no code). width / height above are the frame as read: a transposed
     * file's (FM, NU ...) are its stored ones swapped. reader_orient.c. */
    unsigned orient_done;
    bool orientation_unknown; /* a code that is no PLUS orientation: pixels as stored */
    /* the header's directions point an axis backwards (NRRD space directions, MetaImage
     * TransformMatrix): bit 0 the columns, bit 1 the rows; pixels are read as stored */
    unsigned mirrored;
    char image_type[32];      /* UltrasoundImageType, "" when absent */
    int frames_with_fields;   /* frames that have at least one Seq_Frame field */
} cn_seq_info;

enum { CN_SEQ_ORIENT_FLIP_X = 1, CN_SEQ_ORIENT_FLIP_Y = 2, CN_SEQ_ORIENT_TRANSPOSE = 4 };

typedef struct cn_seq_reader cn_seq_reader;

cn_seq_reader *cn_seq_reader_open(const char *path, char *err, size_t err_len);
void cn_seq_reader_close(cn_seq_reader *r);
const cn_seq_info *cn_seq_reader_info(const cn_seq_reader *r);
/* The spacing (mm per pixel) for frames whose transforms give none (PLUS files
 * without ImageToProbe), e.g. from --spacing-mm; 0 = none. A frame's own
 * ImageToProbe still wins. Call before reading frames. */
void cn_seq_reader_set_default_spacing(cn_seq_reader *r, double sx_mm, double sy_mm);
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
 * byte order, not turned to MF) into buf (at least info.frame_bytes). */
int cn_seq_reader_pixels(cn_seq_reader *r, int frame, void *buf, size_t buf_len, char *err,
                         size_t err_len);

/* Fills a pool frame: size, spacing (from the frame's ImageToProbe when it has
 * one, else as cn_seq_info.spacing_source says), pixels (uint8 grey; RGB/RGBA
 * converted to luma; turned to MF as cn_seq_info.orient_done says), seq
 * (FrameNumber, else the index), t_acq_ns and t_scene_ns (Timestamp), wall_ns
 * (CryoNavWallNs), events (CryoNavEvents), status (ImageStatus / Status), poses
 * (every field "<AToB>Transform", valid when its "...TransformStatus" is OK or
 * absent), and the CryoNav analysis / truth fields when the file has them (then
 * f->analysed is true). Other pixel types are CN_EUNSUPPORTED with a message naming
 * the type. */
int cn_seq_reader_read_frame(cn_seq_reader *r, int frame, cn_frame *f, char *err, size_t err_len);

/* Timestamp of frame i in seconds (NAN when the frame has none). Reads the
 * frame's fields, so it invalidates earlier cn_seq_reader_fields results. */
double cn_seq_reader_timestamp(cn_seq_reader *r, int frame);

/* Prints what `cryonav info` shows: format, frames, size, pixel type, spacing and
 * where it comes from, clocks, time span, transforms with their valid counts,
 * per-frame fields, CryoNav events. Reads header lines only. */
int cn_seq_describe(cn_seq_reader *r, FILE *out, char *err, size_t err_len);

/* ------------------------------------------------------------------ events */

/* CryoNavEvents, one field per frame holding that frame's events:
 *   CryoNavEvents = simulator:freeze_start cycle=2; system:alarm set=0x1
 * "source:text" separated by "; ". In a text '%', ';', '@', control characters
 * and a space at either end are written %XX (hex), so splitting is unambiguous; an
 * event written on a later frame than its own ends with "@<scene seconds>".
 * format: CN_ERANGE when out is too small. parse: fills up to max events (t_scene_ns
 * = the frame's unless "@t" says otherwise) and returns how many the value holds;
 * texts without a known source (files before sources) read as "system". */
int cn_seq_events_format(const cn_event *ev, int n, int64_t frame_t_scene_ns, char *out,
                         size_t len);
int cn_seq_events_parse(const char *value, int64_t frame_t_scene_ns, cn_event *out, int max);
int cn_seq_event_source_from_name(const char *s, size_t n, cn_event_source *out);

/* Chapters for teaching: the recording's events in order, with the frame each is
 * on and a short name ("needle in", "freeze 2", "thaw 1", "needle out",
 * "note: <text>" ...). *out is malloc'ed (free it). */
typedef struct {
    int frame;
    double t_s;                     /* scene seconds from the first frame */
    cn_event_source source;
    char text[CN_EVENT_TEXT_MAX];   /* the event as recorded */
    char name[CN_EVENT_TEXT_MAX + 8];
} cn_seq_chapter;
int cn_seq_chapters(cn_seq_reader *r, cn_seq_chapter **out, int *n, char *err, size_t err_len);
/* The chapter `what` names: its name ("freeze 2", case and spaces ignored), the
 * start of its event text ("freeze_start cycle=2"), or its 1-based number
 * ("3"). -1 when none matches. */
int cn_seq_chapter_find(const cn_seq_chapter *c, int n, const char *what);

/* ------------------------------------------------------------------ writer */

typedef struct {
    cn_seq_format format;     /* CN_SEQ_MHA (.igs.mha, .seq.mha) or CN_SEQ_NRRD (.igs.nrrd;
                                 a name ending .seq.nrrd gets Slicer's 4-D volume sequence
                                 layout, with the frame times as index values) */
    bool compress;            /* zlib (mha) / gzip (nrrd) */
    int level;                /* zlib level 1..9 (default 1: Huffman-only, fastest) */
    const char *orientation;  /* default "MF" */
    const char *image_type;   /* default "BRIGHTNESS" */
    bool offline;             /* made offline (run --fast, replay --speed 0): the frames'
                                 wall clock is how fast the machine went, not a pace to
                                 replay; the file says CryoNavPace = scene */
} cn_seq_writer_opts;

typedef struct cn_seq_writer cn_seq_writer;

/* Creates path.part and path.journal (path itself appears at close), both with
 * O_CREAT | O_EXCL | O_NOFOLLOW relative to the folder (openat), so a file or a
 * symbolic link planted under those names is refused, never followed or
 * truncated. Fails when path exists (never overwrites a recording) or a
 * recording in progress (path.journal, path.part) exists. */
cn_seq_writer *cn_seq_writer_open(const char *path, const cn_seq_writer_opts *o, char *err,
                                  size_t err_len);
/* Appends one frame (all frames must have the size of the first) with its
 * transforms (an ImageToProbe with the pixel spacing is added when the frame has
 * none: the PLUS convention, the header's ElementSpacing is 1), Timestamp (scene
 * time), wall time, status, events (f->analysis.events, also on frames without
 * analysis), analysis (when f->analysed) and truth (when valid). extra: NULL or
 * "Key = value" lines ('\n' separated) added as custom per-frame fields.
 * A failed write (disk full) is rolled back to the last whole frame: the files
 * never hold a partial frame and later frames land where they belong; the
 * error names the cause (errno) and the writer stays usable. */
int cn_seq_writer_append(cn_seq_writer *w, const cn_frame *f, const char *extra, char *err,
                         size_t err_len);
int cn_seq_writer_frames(const cn_seq_writer *w);
/* Assembles the final file, removes .part/.journal, frees w (also on error). When
 * the folder lacks the space to assemble, .part/.journal are kept and err says
 * what to do (free space, or `cryonav recover FILE --out ELSEWHERE`). */
int cn_seq_writer_close(cn_seq_writer *w, char *err, size_t err_len);

/* Rebuilds `path` from path.part + path.journal left by a killed writer (or a
 * close that could not assemble): every committed frame whose pixels are complete
 * and check out. opts may be NULL. *n_recovered and *n_dropped (uncommitted or
 * damaged tail) may be NULL. */
typedef struct {
    const char *out_path;     /* write the file here (another disk) instead of path */
    cn_progress *progress;    /* NULL or a progress bar (bytes) */
} cn_seq_recover_opts;
int cn_seq_recover(const char *path, const cn_seq_recover_opts *opts, int *n_recovered,
                   int *n_dropped, char *err, size_t err_len);

/* A truncated sequence file (a copy cut short): its whole frames, with every field
 * they had, into out_path (created; never overwritten), by a byte copy of the
 * header (frame count set to what the data holds, the fields of the frames beyond
 * dropped) and of those frames' pixels (salvage.c). Uncompressed MetaImage with
 * its data in the file only (CN_EUNSUPPORTED otherwise, err says why); CN_EINVAL
 * when the file is not truncated. *n_kept, *n_claimed may be NULL. */
int cn_seq_salvage(const char *path, const char *out_path, int *n_kept, int *n_claimed, char *err,
                   size_t err_len);

/* ------------------------------------------------------------------ recorder */

/* The recorder is the pipeline's raw sink (every acquired frame: copied into a
 * bounded ring, never blocking the device thread) and optionally also an analysed
 * sink (analysis results are matched to the raw frame by seq). A writer thread
 * writes each frame once its analysis arrived, a later frame's analysis arrived
 * (that frame was skipped by latest-wins), or it waited hold_ms. It derives
 * nothing: the procedure events are those the analysis put in
 * f->analysis.events, written once each, on their frame (an event whose frame
 * was already on disk rides on the next one with its own time). Frames that
 * cannot be kept (ring overflow, write errors such as a full disk) are counted,
 * logged (the first at once, then a count at most every second) and, as soon as
 * a frame can be written again, recorded as a "system:recording_error" event. */
typedef struct {
    cn_seq_writer_opts writer;
    int ring_frames;          /* default 64 */
    int max_width, max_height;/* default 1024 x 1024 */
    int hold_ms;              /* default 300: wait this long for a frame's analysis */
    /* Offline (replay --speed 0): the raw sink waits for room instead of dropping
     * and the writer waits for every frame's analysis (nothing is real time). */
    bool lossless;
    cn_log *log;
    /* A replay's recording: the file replayed. Each frame with a source_frame keeps that
     * frame's own fields CryoNav does not write itself (a PLUS device's custom fields);
     * NULL: none. A file that cannot be read for this is logged, and the recording goes on
     * without them. */
    const char *carry_fields_from;
} cn_recorder_opts;

typedef struct cn_recorder cn_recorder;

cn_recorder *cn_recorder_new(const char *path, const cn_recorder_opts *o, char *err,
                             size_t err_len);
/* The two sinks: add raw with cn_pipeline_add_raw_sink, analysed with
 * cn_pipeline_add_sink (optional). */
void cn_recorder_sinks(cn_recorder *rec, cn_sink *raw, cn_sink *analysed);
/* Events for the next frame written (before its own): a recording started while
 * the session runs begins with the session's state (plan, probe, target and the
 * procedure's steps so far, apps/cryonav/session_record.c). An event timed
 * CN_SCENE_TIME_UNSET takes that frame's time; one with its own keeps it ("@t").
 * What does not fit that frame rides on the next. CN_ENOMEM past 64 waiting. */
int cn_recorder_carry(cn_recorder *rec, const cn_event *ev, int n);
typedef struct {
    uint64_t received, written, analysed_attached;
    uint64_t dropped;         /* frames never written: ring overflow + write errors */
    uint64_t write_errors;    /* frames whose write failed (disk full ...) */
    uint64_t events_written, events_late, events_lost;
    int last_error;           /* CN_* of the last failure, CN_OK when none */
    int last_errno;           /* errno of the last write failure */
    bool failing;             /* the last frame could not be written */
    char last_error_text[256];
} cn_recorder_stats;
void cn_recorder_get_stats(cn_recorder *rec, cn_recorder_stats *out);
/* Writes what is queued, closes the file, frees; final stats into *final when not
 * NULL. Call after the pipeline stopped. Returns an error when the file could not
 * be assembled or when frames were lost (the file holds the others); CN_ENOENT
 * (no file) when no frame ever came, which loses nothing. */
int cn_recorder_close(cn_recorder *rec, cn_recorder_stats *final, char *err, size_t err_len);

/* ------------------------------------------------------------------ session summary */

#define CN_SESSION_MAX_CYCLES 16
typedef struct {
    int cycle;
    double freeze_start_s, freeze_s; /* from the session start */
    double thaw_s;                   /* until the next freeze or withdrawal, <0 unknown */
    double max_ice_radius_mm;        /* largest -0 C isotherm / ice radius during it (<0:
                                        no frame of it in the recording) */
    int ice_frames;                  /* its frames with ice seen (0 with frames read: no
                                        ice seen, not an ice ball of 0 mm) */
    double coverage_end;             /* the nerve's coverage on the freeze's last analysed
                                        frame (what the session's end-of-freeze reminder
                                        says), <0 unknown or withheld */
    double target_temp_min_c;        /* the coldest model temperature at the target's
                                        warmest point in its freeze and thaw, NAN unknown */
    cn_phase running_at_end;         /* FREEZE or THAW: the recording ended in it, so its
                                        duration is only up to the end; IDLE otherwise */
} cn_session_cycle;

/* One alarm on for a while (bit: one CN_ALARM_* bit). */
typedef struct {
    uint32_t bit;
    double from_s, to_s;
    bool to_end;
} cn_session_alarm_period;

typedef struct {
    int n_frames, n_analysed;
    double duration_s;
    double insertion_s, withdrawal_s;   /* from the first frame (before it: < 0, a recording
                                           started mid-session); NAN when not seen */
    double procedure_s;                 /* withdrawal - insertion, <0 unknown */
    bool insertion_inferred;            /* taken from a freeze keyed with no insertion: the
                                           procedure time is then a lower bound */
    int n_cycles;
    cn_session_cycle cycles[CN_SESSION_MAX_CYCLES];
    /* the ice measured in the image: the rim's radius about the probe, its width, and its
     * depth (analysed files: the near rim's extent from its top to the probe axis; truth:
     * the ball's diameter) */
    double max_ice_radius_mm, max_ice_width_mm, max_ice_depth_mm;
    /* the largest 0 C radius of the thermal model (<0 none): the ice the screen's alarms
     * read when the rim is lost (near the skin, in a shadow); the rim's radius alone read
     * 3.9 mm where the ball was 6.2 mm and the screen said ICE AT SKIN (review 39b F4) */
    double max_model_ice_radius_mm;
    int rim_lost_frames;                /* freeze frames without a rim found after it was
                                           found in that freeze (analysed) */
    int ice_frames;                     /* frames with ice seen (0: the sizes say nothing) */
    double coverage_max;                /* <0 unknown */
    double ice_skin_min_mm;             /* closest approach of ice to skin, <0 unknown */
    int n_events, n_alarms, n_notes;    /* events each counted once */
    /* the notes and marks, with their times (s from the first frame), for a debrief */
    int n_note_texts;
    struct {
        double t_s;
        char text[240];
    } note_texts[32];
    char plan[160];                     /* the plan event's text ("" none) */
    /* each alarm's periods on (from the frames' recorded alarms), s from the first
     * frame; to_end: still on at the recording's last frame. Capped at 64 periods. */
    int n_alarm_periods;
    cn_session_alarm_period alarm_periods[64]; /* sorted by from_s */
    int alarm_periods_dropped;                 /* periods beyond the 64 (in the totals) */
    /* per alarm bit, every period counted: how many, the time on in all, the first on */
    int alarm_count[32];
    double alarm_total_s[32], alarm_first_s[32];
    const char *phase_source;           /* "analysis", "truth" or "none" */
    const char *clock;                  /* "scene" (CryoNav files) or "timestamp" */
} cn_session_summary;

/* Per-frame series a report plots; arrays of n (NAN where unknown). */
typedef struct {
    int n;
    double *t_s, *ice_radius_mm, *iso_radius_mm[CN_ISO_MAX], *nerve_temp_c;
    float iso_temp_c[CN_ISO_MAX];
    int n_iso;
    uint8_t *phase;           /* cn_phase of each point (issue 16: freeze/thaw shading) */
    bool nerve_temp_model;    /* nerve_temp_c is the recorded model temperature at the
                                 target's warmest point (CryoNavTargetTemp); false: an
                                 estimate from the isotherm radii (older recordings) */
} cn_session_series;

/* Reads a recording frame by frame and summarises it; times are scene time (the
 * file's Timestamp) from the first frame. series may be NULL; else its arrays
 * are allocated (free with cn_session_series_free; at most 8192 points, evenly
 * thinned). events_out: if not NULL, receives one "t_s source: text" line per
 * event (caller frees). progress: NULL or a bar (frames). */
int cn_session_summarize(const char *path, cn_session_summary *out, cn_session_series *series,
                         char **events_out, cn_progress *progress, char *err, size_t err_len);
void cn_session_series_free(cn_session_series *s);
/* The summary as a JSON object text (caller frees). */
char *cn_session_summary_json(const cn_session_summary *s, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CN_SEQIO_H */
