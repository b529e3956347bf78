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

/* Writes "Key = value\n" lines (no Seq_Frame prefix) describing frame f. */
int cn_seqio_format_fields(const cn_frame *f, cn_sbuf *out);
/* Applies parsed per-frame fields to f (times, seq, status, poses, analysis, truth). */
void cn_seqio_apply_fields(const cn_seq_field *fl, int n, cn_frame *f);

/* Parses exactly n numbers separated by blanks; returns the count parsed (stops
 * at the first non-number), never reads past the string. */
int cn_seqio_parse_doubles(const char *s, double *out, int n);


/* Journal format (see writer.c). */
#define CN_JOURNAL_MAGIC "CNSEQJOURNAL 1"

#endif
