/*
 * reader_pixels.c - reading one frame: its fields (re-read from the header range
 * the index kept), its pixels (pread for raw data; a zlib/gzip stream for
 * compressed data, restarted at the frame's own offset when the file is CryoNav's,
 * else continued or restarted from the beginning), and the conversion to a cn_frame.
 */
#include "reader_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZCHUNK (256u << 10)
#define MAX_FIELD_BYTES (16u << 20)

const char *cn_seq_field_find(const cn_seq_field *f, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0) return f[i].value;
    return NULL;
}


int cn_seq_reader_fields(cn_seq_reader *r, int frame, const cn_seq_field **out, char *err,
                         size_t err_len) {
    *out = NULL;
    if (frame < 0 || frame >= r->info.n_frames) {
        cn_errf(err, err_len, r->path, "frame %d out of range (0..%d)", frame,
                     r->info.n_frames - 1);
        return CN_ERANGE;
    }
    int nf = 0;
    const frame_index *fi = cn_rd_index_of(r, frame);
    if (fi && fi->len > 0) {
        if (fi->len > MAX_FIELD_BYTES) {
            cn_errf(err, err_len, r->path, "frame %d: header lines span %llu bytes", frame,
                         (unsigned long long)fi->len);
            return CN_ERANGE;
        }
        if (fi->len + 1 > r->fieldbuf_cap) {
            char *nb = realloc(r->fieldbuf, fi->len + 1);
            if (!nb) return CN_ENOMEM;
            r->fieldbuf = nb;
            r->fieldbuf_cap = fi->len + 1;
        }
        ssize_t got = pread(r->fd, r->fieldbuf, fi->len, (off_t)fi->off);
        if (got != (ssize_t)fi->len) {
            cn_errf(err, err_len, r->path, "frame %d: cannot re-read header lines", frame);
            return CN_EIO;
        }
        r->fieldbuf[fi->len] = 0;
        char prefix[32];
        int pl = snprintf(prefix, sizeof prefix, "Seq_Frame%04d_", frame);
        char *s = r->fieldbuf;
        while (s && *s) {
            char *nl = strchr(s, '\n');
            if (nl) *nl = 0;
            char *line = s;
            s = nl ? nl + 1 : NULL;
            /* frame numbers with more than 4 digits, or zero padded differently */
            long idx = -1;
            char *rest = NULL;
            if (strncmp(line, prefix, (size_t)pl) == 0) {
                idx = frame;
                rest = line + pl;
            } else if (strncmp(line, "Seq_Frame", 9) == 0) {
                char *e;
                idx = strtol(line + 9, &e, 10);
                if (*e == '_') rest = e + 1;
            }
            if (idx != frame || !rest) continue;
            char *sep = r->info.format == CN_SEQ_NRRD ? strstr(rest, ":=") : strchr(rest, '=');
            if (!sep) continue;
            *sep = 0;
            char *v = sep + (r->info.format == CN_SEQ_NRRD ? 2 : 1);
            if (nf == r->fields_cap) {
                int nc = r->fields_cap ? r->fields_cap * 2 : 32;
                cn_seq_field *nfl = realloc(r->fields, (size_t)nc * sizeof *nfl);
                if (!nfl) return CN_ENOMEM;
                r->fields = nfl;
                r->fields_cap = nc;
            }
            r->fields[nf].key = cn_rd_trim(rest);
            r->fields[nf].value = cn_rd_trim(v);
            nf++;
        }
    }
    *out = r->fields;
    return nf;
}

double cn_seq_reader_timestamp(cn_seq_reader *r, int frame) {
    if (r->index_values && frame >= 0 && frame < r->info.n_frames)
        return frame < r->n_index_values ? r->index_values[frame] : NAN;
    const cn_seq_field *fl;
    char err[8];
    int n = cn_seq_reader_fields(r, frame, &fl, err, sizeof err);
    if (n <= 0) return NAN;
    const char *v = cn_seq_field_find(fl, n, "Timestamp");
    double t;
    if (!v || cn_seqio_parse_doubles(v, &t, 1) != 1 || !isfinite(t)) return NAN;
    return t;
}

/* ---------------------------------------------------------------- compressed */

void cn_seq_reader_zreset(cn_seq_reader *r) {
    if (r->zinit) inflateEnd(&r->zs);
    r->zinit = false;
}

#define MAX_CHECKPOINTS 64

void cn_seq_reader_free_checkpoints(cn_seq_reader *r) {
    for (int i = 0; i < r->n_cps; i++) inflateEnd(&r->cps[i].zs);
    free(r->cps);
    r->cps = NULL;
    r->n_cps = 0;
}

/* Called at a frame boundary: keep a copy of the inflate state every cp_every
 * frames (at most MAX_CHECKPOINTS, about 40 KB each) so seeking back in a
 * foreign compressed file costs at most cp_every frames of inflating. */
static void maybe_checkpoint(cn_seq_reader *r) {
    if (!r->cp_every) {
        r->cp_every = r->info.n_frames / MAX_CHECKPOINTS + 1;
        if (r->info.data_bytes < (64u << 10)) return; /* a small stream re-inflates fast */
        r->cps = calloc(MAX_CHECKPOINTS, sizeof *r->cps);
    }
    if (!r->cps || r->znext % r->cp_every != 0 || r->n_cps >= MAX_CHECKPOINTS) return;
    if (r->n_cps > 0 && r->cps[r->n_cps - 1].frame >= r->znext) return;
    /* each copy holds a 32 KB window (about 43 KB in all): never closer than 16 KB
     * of compressed data apart, so checkpoints cost under 3x the data they index
     * (a lying header cannot make them big), while real ultrasound frames (tens to
     * hundreds of KB compressed) still get one at every boundary: shuffled reads
     * of test_seqio_read take 3.3 s of CPU with them, 18 s with one per 256 KB */
    uint64_t at = r->zpos - r->zs.avail_in;
    if (at < (r->n_cps > 0 ? r->cps[r->n_cps - 1].in_off : 0) + (16u << 10)) return;
    struct zcheckpoint *c = &r->cps[r->n_cps];
    if (inflateCopy(&c->zs, &r->zs) != Z_OK) return;
    c->frame = r->znext;
    c->in_off = r->zpos - r->zs.avail_in;
    r->n_cps++;
}

static int zstart(cn_seq_reader *r, uint64_t pos, bool raw, int frame) {
    cn_seq_reader_zreset(r);
    memset(&r->zs, 0, sizeof r->zs);
    if (inflateInit2(&r->zs, raw ? -15 : 15 + 32) != Z_OK) return CN_ENOMEM;
    r->zinit = true;
    r->zpos = pos;
    r->znext = frame;
    if (!r->zin) {
        r->zin_cap = r->info.data_bytes < ZCHUNK ? (size_t)r->info.data_bytes + 1 : ZCHUNK;
        r->zin = malloc(r->zin_cap);
        if (!r->zin) return CN_ENOMEM;
    }
    return CN_OK;
}

/* Where a frame's bytes go: straight into a buffer of frame_bytes, or in chunks
 * of at most CHUNK bytes to a consumer (NULL: discarded, when skipping frames),
 * so no frame-sized buffer is ever needed to read, skip or convert a frame. */
#define CHUNK 49152 /* a multiple of 3 and 4: RGB(A) pixels never straddle chunks */
typedef struct {
    uint8_t *direct;
    void (*chunk)(void *ctx, const uint8_t *p, size_t n, size_t off);
    void *ctx;
} px_out;

static uint8_t *chunk_buf(cn_seq_reader *r) {
    if (!r->chunk) r->chunk = malloc(CHUNK);
    return r->chunk;
}

static int zframe(cn_seq_reader *r, const px_out *out, char *err, size_t err_len) {
    z_stream *z = &r->zs;
    size_t total = r->info.frame_bytes, done = 0;
    uint8_t *cb = out->direct ? NULL : chunk_buf(r);
    if (!out->direct && !cb) return CN_ENOMEM;
    while (done < total) {
        size_t room = out->direct ? total - done : (total - done < CHUNK ? total - done : CHUNK);
        z->next_out = out->direct ? out->direct + done : cb;
        z->avail_out = (uInt)room;
        while (z->avail_out > 0) {
            if (z->avail_in == 0) {
                uint64_t left = r->info.data_bytes > r->zpos ? r->info.data_bytes - r->zpos : 0;
                size_t want = left < r->zin_cap ? (size_t)left : r->zin_cap;
                if (want == 0) {
                    cn_errf(err, err_len, r->path,
                            "compressed data ends inside frame %d (truncated file or wrong "
                            "CompressedDataSize)",
                            r->znext);
                    cn_seq_reader_zreset(r);
                    return CN_EPARSE;
                }
                ssize_t got = pread(r->data_fd, r->zin, want, (off_t)(r->info.data_offset + r->zpos));
                if (got <= 0) {
                    cn_errf(err, err_len, r->path, "read error in compressed data: %s",
                            got < 0 ? strerror(errno) : "unexpected end of file");
                    cn_seq_reader_zreset(r);
                    return CN_EIO;
                }
                r->zpos += (uint64_t)got;
                z->next_in = r->zin;
                z->avail_in = (uInt)got;
            }
            int zr = inflate(z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END) {
                if (z->avail_out > 0) {
                    cn_errf(err, err_len, r->path,
                            "compressed data holds fewer frames than DimSize says (ends in "
                            "frame %d)",
                            r->znext);
                    cn_seq_reader_zreset(r);
                    return CN_EPARSE;
                }
                break;
            }
            if (zr != Z_OK && !(zr == Z_BUF_ERROR && z->avail_in == 0)) {
                cn_errf(err, err_len, r->path, "corrupt compressed data in frame %d: %s", r->znext,
                        z->msg ? z->msg : "inflate error");
                cn_seq_reader_zreset(r);
                return CN_EPARSE;
            }
        }
        if (!out->direct && out->chunk) out->chunk(out->ctx, cb, room, done);
        done += room;
    }
    r->znext++;
    const frame_index *fin = cn_rd_index_of(r, r->znext - 1);
    if ((!fin || fin->zoff == UINT64_MAX) && r->znext < r->info.n_frames) maybe_checkpoint(r);
    return CN_OK;
}

static int read_compressed(cn_seq_reader *r, int frame, const px_out *out, char *err,
                           size_t err_len) {
    int rc;
    const frame_index *fi = cn_rd_index_of(r, frame);
    if (fi && fi->zoff != UINT64_MAX && fi->zoff < r->info.data_bytes &&
        !(r->zinit && r->znext == frame)) {
        /* CryoNav file: the deflate stream was fully flushed before this frame */
        if ((rc = zstart(r, fi->zoff, true, frame))) return rc;
    } else if (!r->zinit || r->znext > frame) {
        /* the latest checkpoint at or before the frame, else the beginning */
        int best = -1;
        for (int c = 0; c < r->n_cps; c++)
            if (r->cps[c].frame <= frame) best = c;
        if (best >= 0) {
            cn_seq_reader_zreset(r);
            if (inflateCopy(&r->zs, &r->cps[best].zs) != Z_OK) return CN_ENOMEM;
            r->zinit = true;
            r->zs.avail_in = 0;
            r->zpos = r->cps[best].in_off;
            r->znext = r->cps[best].frame;
        } else if ((rc = zstart(r, 0, false, 0))) {
            return rc;
        }
    } else if (r->zinit && r->znext < frame) {
        /* forward: jump to a checkpoint past the stream's position if there is one */
        int best = -1;
        for (int c = 0; c < r->n_cps; c++)
            if (r->cps[c].frame <= frame && r->cps[c].frame > r->znext) best = c;
        if (best >= 0) {
            cn_seq_reader_zreset(r);
            if (inflateCopy(&r->zs, &r->cps[best].zs) != Z_OK) return CN_ENOMEM;
            r->zinit = true;
            r->zs.avail_in = 0;
            r->zpos = r->cps[best].in_off;
            r->znext = r->cps[best].frame;
        }
    }
    static const px_out discard = {NULL, NULL, NULL};
    while (r->znext < frame)
        if ((rc = zframe(r, &discard, err, err_len))) return rc;
    return zframe(r, out, err, err_len);
}

/* One frame's stored bytes to out, raw or compressed. */
static int frame_bytes_to(cn_seq_reader *r, int frame, const px_out *out, char *err, size_t err_len) {
    const cn_seq_info *in = &r->info;
    if (in->compressed) return read_compressed(r, frame, out, err, err_len);
    uint64_t off = in->data_offset + (uint64_t)frame * in->frame_bytes;
    uint8_t *cb = out->direct ? NULL : chunk_buf(r);
    if (!out->direct && !cb) return CN_ENOMEM;
    size_t done = 0;
    while (done < in->frame_bytes) {
        size_t want = in->frame_bytes - done;
        if (!out->direct && want > CHUNK) want = CHUNK;
        uint8_t *dst = out->direct ? out->direct + done : cb;
        size_t got_total = 0;
        while (got_total < want) {
            ssize_t got = pread(r->data_fd, dst + got_total, want - got_total, (off_t)(off + done + got_total));
            if (got <= 0) {
                cn_errf(err, err_len, r->path, "frame %d: pixel data truncated (%s)", frame,
                        got < 0 ? strerror(errno) : "end of file");
                return CN_EIO;
            }
            got_total += (size_t)got;
        }
        if (!out->direct && out->chunk) out->chunk(out->ctx, cb, want, done);
        done += want;
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- pixels */

static void swap_bytes(uint8_t *p, size_t n, size_t es) {
    for (size_t i = 0; i + es <= n; i += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

static bool host_is_big(void) {
    uint16_t one = 1;
    return *(uint8_t *)&one == 0;
}

int cn_seq_reader_pixels(cn_seq_reader *r, int frame, void *buf, size_t buf_len, char *err,
                         size_t err_len) {
    const cn_seq_info *in = &r->info;
    if (frame < 0 || frame >= in->n_frames) {
        cn_errf(err, err_len, r->path, "frame %d out of range (0..%d)", frame,
                     in->n_frames - 1);
        return CN_ERANGE;
    }
    if (buf_len < in->frame_bytes) {
        cn_errf(err, err_len, r->path, "buffer of %zu bytes for a %zu-byte frame", buf_len,
                     in->frame_bytes);
        return CN_ERANGE;
    }
    if (in->frame_bytes == 0) return CN_OK;
    px_out out = {.direct = buf};
    int rc = frame_bytes_to(r, frame, &out, err, err_len);
    if (rc) return rc;
    if (in->elem_bytes > 1 && in->big_endian != host_is_big())
        swap_bytes(buf, in->frame_bytes, in->elem_bytes);
    return CN_OK;
}

/* RGB / RGBA chunks -> luma, written into the frame as they come. */
typedef struct {
    uint8_t *dst;
    int comp;
} luma_ctx;

static void to_luma(void *ctx, const uint8_t *p, size_t n, size_t off) {
    luma_ctx *c = ctx;
    size_t first = off / (size_t)c->comp, npx = n / (size_t)c->comp;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *q = p + i * (size_t)c->comp;
        c->dst[first + i] = (uint8_t)((77 * q[0] + 150 * q[1] + 29 * q[2]) >> 8);
    }
}

/* ---------------------------------------------- pixels wider than 8 bits as grey */

/* B-mode stored wider than 8 bits (PLUS's NrrdSample: int16 holding 0..183; a 16-bit
 * export; a float envelope) is shown as 8-bit grey through one window for the whole
 * file, taken from frame 0: values that all lie in 0..255 stay as they are, else frame
 * 0's 0.1st..99.9th percentile (integers up to 16 bits; min..max for wider types) maps
 * onto 0..255. One window, not one per frame: a sequence must not flicker, and what a
 * frame looks like must not depend on which frame a replay happened to read first. */

static double elem_value(const uint8_t *p, cn_seq_pixel t, size_t es, bool swap) {
    uint8_t b[8];
    for (size_t i = 0; i < es; i++) b[i] = swap ? p[es - 1 - i] : p[i];
    switch (t) {
    case CN_PIX_INT8: return (double)(int8_t)b[0];
    case CN_PIX_UINT16: { uint16_t v; memcpy(&v, b, 2); return v; }
    case CN_PIX_INT16: { int16_t v; memcpy(&v, b, 2); return v; }
    case CN_PIX_UINT32: { uint32_t v; memcpy(&v, b, 4); return v; }
    case CN_PIX_INT32: { int32_t v; memcpy(&v, b, 4); return v; }
    case CN_PIX_FLOAT32: { float v; memcpy(&v, b, 4); return v; }
    case CN_PIX_FLOAT64: { double v; memcpy(&v, b, 8); return v; }
    default: return b[0];
    }
}

typedef struct {
    const cn_seq_info *in;
    bool swap;
    uint32_t *hist;   /* 65536 bins (value + 32768 for signed types), or NULL */
    double lo, hi;    /* finite values seen */
    size_t n;
} win_ctx;

static void win_chunk(void *ctx, const uint8_t *p, size_t n, size_t off) {
    (void)off;
    win_ctx *c = ctx;
    const size_t es = c->in->elem_bytes;
    const bool sgn = c->in->pixel == CN_PIX_INT8 || c->in->pixel == CN_PIX_INT16;
    for (size_t i = 0; i + es <= n; i += es) {
        double v = elem_value(p + i, c->in->pixel, es, c->swap);
        if (!isfinite(v)) continue;
        if (c->n == 0 || v < c->lo) c->lo = v;
        if (c->n == 0 || v > c->hi) c->hi = v;
        c->n++;
        if (c->hist) c->hist[(size_t)((long)v + (sgn ? 32768 : 0))]++;
    }
}

static int grey_window(cn_seq_reader *r, char *err, size_t err_len) {
    if (r->win_set) return CN_OK;
    const cn_seq_info *in = &r->info;
    win_ctx c = {in, in->elem_bytes > 1 && in->big_endian != host_is_big(), NULL, 0, 0, 0};
    if (in->elem_bytes <= 2 && !(c.hist = calloc(65536, sizeof *c.hist))) return CN_ENOMEM;
    px_out out = {.chunk = win_chunk, .ctx = &c};
    int rc = frame_bytes_to(r, 0, &out, err, err_len);
    double lo = c.lo, hi = c.hi;
    if (rc == CN_OK && c.hist && c.n > 0) {
        const bool sgn = in->pixel == CN_PIX_INT8 || in->pixel == CN_PIX_INT16;
        size_t acc = 0, k_lo = (size_t)(0.001 * (double)c.n), k_hi = (size_t)(0.999 * (double)c.n);
        bool have_lo = false;
        for (long b = 0; b < 65536; b++) {
            acc += c.hist[b];
            if (!have_lo && acc > k_lo) lo = (double)(b - (sgn ? 32768 : 0)), have_lo = true;
            if (acc > k_hi) { hi = (double)(b - (sgn ? 32768 : 0)); break; }
        }
    }
    free(c.hist);
    if (rc) return rc;
    if (c.n == 0 || (c.lo >= 0 && c.hi <= 255)) {
        r->win_lo = 0, r->win_scale = 1; /* already 8-bit grey, stored wider */
    } else {
        r->win_lo = lo;
        r->win_scale = hi > lo ? 255.0 / (hi - lo) : 1.0;
    }
    r->win_set = true;
    return CN_OK;
}

typedef struct {
    uint8_t *dst;
    const cn_seq_reader *r;
    bool swap;
} grey_ctx;

static void to_grey(void *ctx, const uint8_t *p, size_t n, size_t off) {
    grey_ctx *c = ctx;
    const cn_seq_info *in = &c->r->info;
    const size_t es = in->elem_bytes;
    for (size_t i = 0; i + es <= n; i += es) {
        double g = (elem_value(p + i, in->pixel, es, c->swap) - c->r->win_lo) * c->r->win_scale;
        c->dst[(off + i) / es] = !(g > 0) ? 0 : g >= 255 ? 255 : (uint8_t)lrint(g);
    }
}

int cn_seq_reader_read_frame(cn_seq_reader *r, int frame, cn_frame *f, char *err,
                             size_t err_len) {
    const cn_seq_info *in = &r->info;
    const bool wide = in->frame_bytes > 0 && in->pixel != CN_PIX_UINT8;
    if (wide && (in->pixel == CN_PIX_NONE || in->components != 1 || in->elem_bytes < 1 ||
                 in->elem_bytes > 8)) {
        cn_errf(err, err_len, r->path,
                     "pixel type %s x %d is not handled as a B-mode frame (grey of any "
                     "integer or float type, or uint8 RGB)",
                     in->pixel_name ? in->pixel_name : "?", in->components);
        return CN_EUNSUPPORTED;
    }
    if (in->components != 1 && in->components != 3 && in->components != 4) {
        cn_errf(err, err_len, r->path, "%d components per pixel not handled",
                     in->components);
        return CN_EUNSUPPORTED;
    }
    int rc = in->width > 0 && in->height > 0 ? cn_frame_set_size(f, in->width, in->height) : CN_OK;
    if (rc) {
        cn_errf(err, err_len, r->path, "frame %d x %d does not fit the frame pool",
                     in->width, in->height);
        return rc;
    }
    if (in->frame_bytes > 0) {
        if (frame < 0 || frame >= in->n_frames) {
            cn_errf(err, err_len, r->path, "frame %d out of range (0..%d)", frame, in->n_frames - 1);
            return CN_ERANGE;
        }
        /* grey straight into the frame; colour converted chunk by chunk: no
         * frame-sized buffer of our own (but for a transposed orientation code) */
        uint8_t *dst = cn_rd_orient_target(r, f);
        luma_ctx lc = {dst, in->components};
        grey_ctx gc = {dst, r, in->elem_bytes > 1 && in->big_endian != host_is_big()};
        if (wide && (rc = grey_window(r, err, err_len)) != CN_OK) return rc;
        px_out out = wide                 ? (px_out){.chunk = to_grey, .ctx = &gc}
                     : in->components == 1 ? (px_out){.direct = dst}
                                           : (px_out){.chunk = to_luma, .ctx = &lc};
        rc = frame_bytes_to(r, frame, &out, err, err_len);
        if (rc) return rc;
        cn_rd_orient_frame(r, f);
    }
    f->spacing_mm[0] = in->spacing[0];
    f->spacing_mm[1] = in->spacing[1];
    f->t_scene_ns = CN_SCENE_TIME_UNSET;
    const char *tp = cn_seq_reader_global(r, "CryoNavTransducerPixel");
    double t2[2];
    if (tp && cn_seqio_parse_doubles(tp, t2, 2) == 2) {
        f->transducer_px[0] = t2[0];
        f->transducer_px[1] = t2[1];
    } else {
        f->transducer_px[0] = in->width / 2.0;
        f->transducer_px[1] = 0;
    }
    f->seq = (uint64_t)frame;
    f->t_acq_ns = f->wall_ns = 0; /* a frame without fields has no time */
    f->t_analysed_ns = f->t_sent_ns = f->t_shown_ns = 0;
    f->status = CN_FRAME_OK;
    f->n_poses = 0;
    f->analysed = false;
    memset(&f->analysis, 0, sizeof f->analysis);
    f->analysis.guidance.coverage = -1;
    memset(&f->truth, 0, sizeof f->truth);
    const cn_seq_field *fl;
    int nf = cn_seq_reader_fields(r, frame, &fl, err, err_len);
    if (nf < 0) return nf;
    cn_seqio_apply_fields(fl, nf, f);
    if (r->index_values && frame < r->n_index_values && isfinite(r->index_values[frame]))
        f->t_acq_ns = f->t_scene_ns = llround(r->index_values[frame] * 1e9);
    /* PLUS keeps the pixel spacing in the calibration: a frame's own ImageToProbe
     * wins over everything the header or the user says */
    double sp[2];
    if (cn_seqio_spacing_from_poses(f, sp)) {
        f->spacing_mm[0] = sp[0];
        f->spacing_mm[1] = sp[1];
    }
    return CN_OK;
}

bool cn_seqio_spacing_from_poses(const cn_frame *f, double sp[2]) {
    const cn_pose *p = cn_frame_usable_pose(f, "ImageToProbe");
    if (!p) return false;
    for (int c = 0; c < 2; c++) {
        const double *m = p->m.m;
        sp[c] = sqrt(m[c] * m[c] + m[4 + c] * m[4 + c] + m[8 + c] * m[8 + c]);
        if (!(sp[c] > 1e-6 && sp[c] < 1e3)) return false;
    }
    return true;
}
