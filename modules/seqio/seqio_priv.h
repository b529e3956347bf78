/*
 * seqio_priv.h - internals shared by the seqio files (not part of the public API).
 *
 * The per-frame field text is produced and parsed in one place (frame_fields.c) so
 * the writer, the recovery and the reader agree on every CryoNav field.
 */
#ifndef CN_SEQIO_PRIV_H
#define CN_SEQIO_PRIV_H

#include "seqio/seqio.h"

#include <stdarg.h>

/* A growable text buffer with a hard cap (never grows past cap bytes). */
typedef struct {
    char *s;
    size_t len, cap, max;
} cn_sbuf;
void cn_sbuf_init(cn_sbuf *b, size_t max);
void cn_sbuf_free(cn_sbuf *b);
int cn_sbuf_add(cn_sbuf *b, const char *s, size_t n);
int cn_sbuf_printf(cn_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The longest "Key = value" line a caller may add to a frame (cn_seq_writer_append's
 * extra): below the journal's line limit (65536, assemble.c) with room for the
 * "Seq_FrameNNNN_" prefix. A PLUS field longer than this is not a tracking field. */
#define CN_SEQ_FIELD_LINE_MAX 60000

/* Writes "Key = value\n" lines (no Seq_Frame prefix) describing frame f. */
int cn_seqio_format_fields(const cn_frame *f, cn_sbuf *out);
/* The scene time a frame is recorded at: t_scene_ns, or t_acq_ns when unset. */
int64_t cn_seqio_frame_scene_ns(const cn_frame *f);
/* Applies parsed per-frame fields to f (times, seq, status, poses, analysis, truth). */
void cn_seqio_apply_fields(const cn_seq_field *fl, int n, cn_frame *f);

/* The pixel spacing (mm) a frame's ImageToProbe pose carries (the norms of its
 * first two columns); false when it has no usable one. */
bool cn_seqio_spacing_from_poses(const cn_frame *f, double sp[2]);

/* Parses exactly n numbers separated by blanks; returns the count parsed (stops
 * at the first non-number), never reads past the string. */
int cn_seqio_parse_doubles(const char *s, double *out, int n);


/* Splits path into its folder ("." when none) and file name. */
int cn_seqio_split_path(const char *path, char *dir, size_t dir_len, char *base, size_t base_len);
/* Opens path's folder (O_DIRECTORY) and gives the file name; a descriptor or a
 * negative error with a message. */
int cn_seqio_open_dir(const char *path, char *base, size_t base_len, char *err, size_t err_len);

/* One assembly of FILE.part + FILE.journal into the final file (assemble.c). */
typedef struct {
    const char *path;         /* FILE, for messages */
    int dirfd;                /* FILE's folder */
    const char *base;         /* FILE's name in it */
    const char *out_path;     /* where the result goes, for messages (NULL: path) */
    int out_dirfd;            /* ... its folder and name (the same unless recover --out) */
    const char *out_base;
    cn_progress *progress;
    bool recovering;          /* `recover`: say so in messages */
    int n_frames, n_dropped;  /* out */
} cn_seqio_assemble_job;
int cn_seqio_assemble(cn_seqio_assemble_job *job, char *err, size_t err_len);

/* The header fields naming the clocks (see frame_fields.c). */
#define CN_SEQIO_SCENE_CLOCK "scene (Timestamp: seconds of scene time, what the procedure experienced)"
#define CN_SEQIO_WALL_CLOCK "CryoNavWallNs (UTC, ns since 1970, at acquisition)"
/* CryoNavPace: "wall" when the frames came at the pace a replay should keep (a probe,
 * a paced simulation, a replay at some speed), "scene" when the file was made offline
 * as fast as the machine went (run --fast, replay --speed 0) */
#define CN_SEQIO_PACE_WALL "wall (CryoNavWallNs: the pace the frames came at)"
#define CN_SEQIO_PACE_SCENE "scene (Timestamp: made offline, as fast as the machine went)"

/* Journal format (see writer.c). */
#define CN_JOURNAL_MAGIC "CNSEQJOURNAL 1"


/* A cycle's values by time for the report (session_track.c): its freeze's coverage (to
 * read where the freeze ended) and its freeze's and thaw's coverage, target temperature
 * and 0 C radius, taken back to a step dated back. */
typedef struct {
    int cycle;                 /* index in s->cycles, -1 none */
    cn_timeline *cov_freeze;   /* the freeze frames' coverage, a bin a 0.05 s (204 s kept at
                                * least) */
    cn_timeline *cov, *tt, *r0; /* the freeze's and thaw's: coverage, target's temperature,
                                * 0 C radius, a bin a 0.25 s (8.5 min kept at least) */
} cn__cyc_track;
bool cn__track_init(cn__cyc_track *ct);
void cn__track_free(cn__cyc_track *ct);
/* the cycle's figures into s->cycles[ct->cycle] and s's best coverage and 0 C radius */
void cn__track_settle(cn_session_summary *s, cn__cyc_track *ct);
void cn__track_to(cn_session_summary *s, cn__cyc_track *ct, int cycle); /* settles another */
/* the values after a step that a frame at t_ns dates back (t0: the times' origin) */
void cn__track_step_back(cn__cyc_track *ct, const cn_event *evl, int nev, int64_t t_ns,
                         int64_t t0);

#endif
