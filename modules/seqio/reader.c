/*
 * reader.c - opens a PLUS / Slicer sequence file and builds its frame index.
 *
 * The header is scanned once, line by line, without keeping the per-frame lines:
 * for every Seq_FrameNNNN_ line only the byte range of that frame's lines is
 * remembered (frames' lines are contiguous in what PLUS and Slicer write; if not,
 * the range simply covers them all and reading filters by prefix). Global fields
 * are kept. Every size the header claims is checked against the file before
 * anything is allocated from it, so a lying header gives an error, not a huge
 * allocation. This file holds the shared scanning helpers and the checks of a
 * layout against the file; reader_mha.c the MetaImage flavour, reader_nrrd.c the
 * NRRD flavour; reader_pixels.c fields and pixels.
 */
#include "reader_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINE_DEFAULT (1u << 20)

/* ---------------------------------------------------------------- line reader */

/* Reads one line (without \n / \r\n). Returns length, -1 at EOF with no data,
 * -2 when longer than max. *start receives the line's offset. */
long cn_rd_lr_next(line_reader *lr, uint64_t *start) {
    size_t n = 0;
    int c;
    *start = lr->off;
    while ((c = getc_unlocked(lr->fp)) != EOF) {
        lr->off++;
        if (c == '\n') break;
        if (n + 2 > lr->cap) {
            if (lr->cap >= lr->max) return -2;
            size_t nc = lr->cap ? lr->cap * 2 : 256;
            if (nc > lr->max) nc = lr->max;
            char *nl = realloc(lr->line, nc);
            if (!nl) return -2;
            lr->line = nl;
            lr->cap = nc;
        }
        lr->line[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    if (n > 0 && lr->line[n - 1] == '\r') n--;
    if (!lr->line) {
        lr->line = malloc(16);
        if (!lr->line) return -2;
        lr->cap = 16;
    }
    lr->line[n] = 0;
    return (long)n;
}

char *cn_rd_trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* "Seq_Frame0012_Key" -> 12 and the key after '_'. */
bool cn_rd_parse_frame_key(const char *k, long *idx, const char **rest) {
    if (strncmp(k, "Seq_Frame", 9) != 0) return false;
    const char *p = k + 9;
    if (*p < '0' || *p > '9') return false;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 9) return false;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (*p != '_' || !p[1]) return false;
    *idx = v;
    *rest = p + 1;
    return true;
}

/* ---------------------------------------------------------------- globals, ranges */

int cn_rd_add_global(cn_seq_reader *r, const char *k, const char *v) {
    /* a repeated key (Prostate10's Kinds) keeps the last value */
    for (int i = 0; i < r->n_globals; i++)
        if (strcmp(r->globals[i].key, k) == 0) {
            char *nv = strdup(v);
            if (!nv) return CN_ENOMEM;
            free(r->globals[i].value);
            r->globals[i].value = nv;
            return CN_OK;
        }
    if (r->n_globals >= CN_RD_MAX_GLOBALS) return CN_ERANGE;
    if (r->n_globals == r->cap_globals) {
        int nc = r->cap_globals ? r->cap_globals * 2 : 64;
        kv *ng = realloc(r->globals, (size_t)nc * sizeof *ng);
        if (!ng) return CN_ENOMEM;
        r->globals = ng;
        r->cap_globals = nc;
    }
    r->globals[r->n_globals].key = strdup(k);
    r->globals[r->n_globals].value = strdup(v);
    if (!r->globals[r->n_globals].key || !r->globals[r->n_globals].value) return CN_ENOMEM;
    r->n_globals++;
    return CN_OK;
}

const char *cn_seq_reader_global(const cn_seq_reader *r, const char *key) {
    for (int i = 0; i < r->n_globals; i++)
        if (strcasecmp(r->globals[i].key, key) == 0) return r->globals[i].value;
    return NULL;
}

/* Remember that frame idx has a line at [off, end). Consecutive lines of one frame
 * extend its entry, so the index grows with frames that have lines, not with the
 * frame count a header claims. Lines out of frame order append entries that
 * cn_rd_sort_index merges (never a memmove per line: no quadratic cost). */
int cn_rd_add_range(cn_seq_reader *r, long idx, uint64_t off, uint64_t end, const char *key,
                    const char *value) {
    if (idx < 0 || idx > INT32_MAX) return CN_ERANGE;
    frame_index *last = r->n_index > 0 ? &r->index[r->n_index - 1] : NULL;
    if (last && last->frame == (uint32_t)idx && off <= last->off + last->len + 1 &&
        end - last->off < UINT32_MAX) {
        last->len = (uint32_t)(end - last->off);
    } else {
        if (last && (uint32_t)idx <= last->frame) r->index_sorted = false;
        if (r->n_index == r->cap_index) {
            /* grow by half: the index stays under 3x the bytes of its lines */
            size_t nc = r->cap_index ? r->cap_index + r->cap_index / 2 : 64;
            frame_index *ni = realloc(r->index, nc * sizeof *ni);
            if (!ni) return CN_ENOMEM;
            r->index = ni;
            r->cap_index = nc;
        }
        if (end - off >= UINT32_MAX) return CN_ERANGE;
        r->index[r->n_index++] = (frame_index){(uint32_t)idx, (uint32_t)(end - off), off, UINT64_MAX};
        last = &r->index[r->n_index - 1];
    }
    if (strcmp(key, "CryoNavDataOffset") == 0) {
        char *e;
        unsigned long long z = strtoull(value, &e, 10);
        if (e != value) last->zoff = z;
    }
    return CN_OK;
}

static int cmp_index(const void *a, const void *b) {
    const frame_index *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    return x->off < y->off ? -1 : (x->off > y->off);
}

/* Sorts the entries by frame and merges those of one frame into one range that
 * covers them all (reading filters the lines by their frame prefix). */
static void sort_index(cn_seq_reader *r) {
    if (r->index_sorted || r->n_index < 2) return;
    qsort(r->index, r->n_index, sizeof *r->index, cmp_index);
    size_t o = 0;
    for (size_t i = 0; i < r->n_index; i++) {
        frame_index *e = &r->index[i];
        if (o > 0 && r->index[o - 1].frame == e->frame) {
            frame_index *m = &r->index[o - 1];
            uint64_t a = m->off < e->off ? m->off : e->off;
            uint64_t z = m->off + m->len > e->off + e->len ? m->off + m->len : e->off + e->len;
            m->off = a;
            m->len = z - a > UINT32_MAX ? UINT32_MAX : (uint32_t)(z - a);
            if (e->zoff != UINT64_MAX) m->zoff = e->zoff;
        } else {
            r->index[o++] = *e;
        }
    }
    r->n_index = o;
    r->index_sorted = true;
}

const frame_index *cn_rd_index_of(const cn_seq_reader *r, int frame) {
    size_t lo = 0, hi = r->n_index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->index[mid].frame < (uint32_t)frame) lo = mid + 1;
        else hi = mid;
    }
    return lo < r->n_index && r->index[lo].frame == (uint32_t)frame ? &r->index[lo] : NULL;
}

/* Up to n non-negative integers; returns count, -1 on a bad token. */
int cn_rd_parse_sizes(const char *s, long long *out, int n) {
    int k = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) break;
        char *e;
        errno = 0;
        long long v = strtoll(s, &e, 10);
        if (e == s || errno || v < 0 || (*e && *e != ' ' && *e != '\t')) return -1;
        if (k < n) out[k] = v;
        k++;
        s = e;
    }
    return k;
}

/* ---------------------------------------------------------------- open */

static void dir_of(const char *path, char *out, size_t len) {
    cn_strlcpy(out, path, len);
    char *sl = strrchr(out, '/');
    if (sl) sl[1] = 0;
    else out[0] = 0;
}

/* How many bytes the compressed data really inflates to, stopping at `want` (so a
 * real file costs at most what it claims) or at the end of the stream / data. Fixed
 * buffers only: a lying header cannot make this allocate. */
static uint64_t inflated_bytes(cn_seq_reader *r, uint64_t want) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return 0;
    enum { CHUNK = 1u << 16 };
    uint8_t *in = malloc(CHUNK), *out = malloc(CHUNK);
    uint64_t got = 0, pos = 0;
    while (in && out && got < want) {
        if (z.avail_in == 0) {
            uint64_t left = r->info.data_bytes - pos;
            size_t n = left < CHUNK ? (size_t)left : CHUNK;
            ssize_t rd = n ? pread(r->data_fd, in, n, (off_t)(r->info.data_offset + pos)) : 0;
            if (rd <= 0) break;
            pos += (uint64_t)rd;
            z.next_in = in;
            z.avail_in = (uInt)rd;
        }
        z.next_out = out;
        z.avail_out = CHUNK;
        int zr = inflate(&z, Z_NO_FLUSH);
        got += CHUNK - z.avail_out;
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_in == 0)) break;
    }
    inflateEnd(&z);
    free(in);
    free(out);
    return got;
}

/* Whether the pixel data is in the header's own file (not a detached .raw). */
static bool pixels_inside(const cn_seq_reader *r) {
    struct stat a, b;
    return r->fd >= 0 && r->data_fd >= 0 && fstat(r->fd, &a) == 0 && fstat(r->data_fd, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int cn_rd_finish_layout(cn_seq_reader *r, long long w, long long h, long long n, long long comp,
                         uint64_t file_size, char *err, size_t err_len) {
    cn_seq_info *in = &r->info;
    const char *p = r->path;
    if (w < 0 || h < 0 || n < 0 || comp < 1 || w > 65536 || h > 65536 || comp > 16) {
        cn_errf(err, err_len, p, "implausible image size %lld x %lld x %lld components",
                     w, h, comp);
        return CN_ERANGE;
    }
    in->width = (int)w;
    in->height = (int)h;
    in->components = (int)comp;
    in->frame_bytes = (size_t)w * (size_t)h * (size_t)comp * in->elem_bytes;
    if (in->frame_bytes > ((size_t)1 << 30)) {
        cn_errf(err, err_len, p, "frame of %zu bytes is larger than 1 GiB", in->frame_bytes);
        return CN_ERANGE;
    }
    /* The frame count must be backed by the file before anything depends on it:
     * pixel bytes when uncompressed; for compressed data, at most deflate's
     * 1032:1, and when the claim is beyond what ultrasound ever compresses to
     * (64:1) the stream is inflated once, in fixed buffers, to count what it
     * really holds. Frames without pixels (tracker files) need a byte of the
     * file each. */
    uint64_t max_frames;
    if (in->frame_bytes == 0) max_frames = file_size + 1;
    else if (in->compressed) max_frames = (in->data_bytes * 1032 + 65536) / in->frame_bytes;
    else max_frames = in->data_bytes / in->frame_bytes;
    if ((uint64_t)n > max_frames || n > INT_MAX / 2) {
        if (in->compressed)
            cn_errf(err, err_len, p,
                         "header claims %lld frames of %zu bytes but only %llu compressed bytes "
                         "of pixel data exist",
                         n, in->frame_bytes, (unsigned long long)in->data_bytes);
        else
            /* recover cuts a MetaImage file holding its own pixels (salvage.c); before, a
             * cut .igs.nrrd or .mhd was sent there, and recover refused it with "not a
             * MetaImage sequence file" (the thirty-sixth session's review) */
            cn_errf(err, err_len, p,
                         "truncated or lying header: %lld frames of %zu bytes need %llu bytes "
                         "of pixel data, the file has %llu (a copy cut short? %s)",
                         n, in->frame_bytes, (unsigned long long)((uint64_t)n * in->frame_bytes),
                         (unsigned long long)in->data_bytes,
                         in->format == CN_SEQ_MHA && pixels_inside(r)
                             ? "`cryonav recover FILE` keeps its whole frames in another file"
                             : "`cryonav recover` cuts only a .igs.mha file that holds its "
                               "pixels; copy this one again from its source");
        return CN_EPARSE;
    }
    /* Compressed data begins with a zlib or gzip header. Raw pixels under
     * CompressedData = True passed `info` and failed the replay's first frame (the
     * thirty-sixth session's review). */
    uint8_t zh[2];
    if (in->compressed && n > 0 && in->frame_bytes > 0 &&
        pread(r->data_fd, zh, 2, (off_t)in->data_offset) == 2 &&
        !(zh[0] == 0x1f && zh[1] == 0x8b) &&
        !((zh[0] & 0x0f) == 8 && (zh[0] >> 4) <= 7 && ((zh[0] << 8) | zh[1]) % 31 == 0)) {
        cn_errf(err, err_len, p,
                "the header says the pixel data is compressed (%s) but it does not begin as "
                "zlib or gzip data does (bytes %02x %02x): raw pixels under a wrong header?",
                in->format == CN_SEQ_MHA ? "CompressedData = True" : "encoding gzip", zh[0],
                zh[1]);
        return CN_EPARSE;
    }
    uint64_t claimed = (uint64_t)n * in->frame_bytes;
    if (in->compressed && claimed > 64 * in->data_bytes + 65536) {
        uint64_t real = inflated_bytes(r, claimed);
        if (real < claimed) {
            cn_errf(err, err_len, p,
                    "header claims %lld frames of %zu bytes (%llu bytes) but the compressed "
                    "data holds only %llu bytes",
                    n, in->frame_bytes, (unsigned long long)claimed, (unsigned long long)real);
            return CN_EPARSE;
        }
    }
    in->n_frames = (int)n;
    sort_index(r);
    in->frames_with_fields = 0;
    for (size_t i = 0; i < r->n_index; i++) {
        if (r->index[i].frame >= (uint64_t)n) {
            cn_errf(err, err_len, p,
                         "field Seq_Frame%04u_... names a frame beyond the %lld frames of the "
                         "header",
                         r->index[i].frame, n);
            return CN_EPARSE;
        }
        in->frames_with_fields++;
    }
    if (r->n_index < r->cap_index && r->n_index > 0) { /* give back the growth slack */
        frame_index *ni = realloc(r->index, r->n_index * sizeof *ni);
        if (ni) {
            r->index = ni;
            r->cap_index = r->n_index;
        }
    }
    return CN_OK;
}

/* A detached data file (ElementDataFile / NRRD "data file") must be a regular file
 * named plainly in the header's own folder: no absolute path, no folder part (so
 * no ../ escape), no symbolic link, no FIFO or device (which would hang or never
 * end). Opened without blocking, checked, then used normally. */
int cn_rd_open_data_file(cn_seq_reader *r, const char *name, uint64_t *size, char *err,
                          size_t err_len) {
    if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        cn_errf(err, err_len, r->path,
                "data file '%s' refused: it must be a plain file name in the header's folder "
                "(no absolute path, no folder, no ..)",
                name);
        return CN_EINVAL;
    }
    char dir[1024];
    dir_of(r->path, dir, sizeof dir);
    snprintf(r->info.data_path, sizeof r->info.data_path, "%s%s", dir, name);
    if (r->dirfd < 0) {
        r->dirfd = open(dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->dirfd < 0) {
            cn_errf(err, err_len, r->path, "cannot open the header's folder: %s", strerror(errno));
            return CN_ENOENT;
        }
    }
    r->data_fd = openat(r->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (r->data_fd < 0) {
        cn_errf(err, err_len, r->path, "data file %s: %s", r->info.data_path,
                errno == ELOOP ? "is a symbolic link (refused)" : strerror(errno));
        return CN_ENOENT;
    }
    struct stat st;
    if (fstat(r->data_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cn_errf(err, err_len, r->path, "data file %s is not a regular file (refused)",
                r->info.data_path);
        return CN_EINVAL;
    }
    int fl = fcntl(r->data_fd, F_GETFL);
    if (fl >= 0) fcntl(r->data_fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = (uint64_t)st.st_size;
    return CN_OK;
}

/* The header-level spacing and where it comes from (see cn_seq_info): frame 0's
 * ImageToProbe (or the first frame with fields), else the user's, else an
 * ElementSpacing other than 1, else none (1 mm/px). */
static void resolve_spacing(cn_seq_reader *r) {
    cn_seq_info *in = &r->info;
    double es[3] = {in->spacing[0], in->spacing[1], in->spacing[2]};
    if (!r->header_spacing_kept) {
        memcpy(r->header_spacing, es, sizeof r->header_spacing);
        r->header_spacing_kept = true;
    }
    memcpy(es, r->header_spacing, sizeof es);
    if (r->n_index > 0) {
        const cn_seq_field *fl;
        char e[64];
        int nf = cn_seq_reader_fields(r, (int)r->index[0].frame, &fl, e, sizeof e);
        cn_frame *f = nf > 0 ? calloc(1, sizeof *f) : NULL;
        if (f) {
            cn_seqio_apply_fields(fl, nf, f);
            double sp[2];
            bool ok = cn_seqio_spacing_from_poses(f, sp);
            free(f);
            if (ok) {
                in->spacing[0] = sp[0];
                in->spacing[1] = sp[1];
                cn_strlcpy(in->spacing_source, "ImageToProbe", sizeof in->spacing_source);
                return;
            }
        }
    }
    if (r->user_spacing[0] > 0 && r->user_spacing[1] > 0) {
        in->spacing[0] = r->user_spacing[0];
        in->spacing[1] = r->user_spacing[1];
        cn_strlcpy(in->spacing_source, "user", sizeof in->spacing_source);
    } else if ((es[0] != 1 || es[1] != 1) && es[0] >= 1e-4 && es[1] >= 1e-4 && es[0] <= 100 &&
               es[1] <= 100) { /* also false for NaN */
        in->spacing[0] = es[0];
        in->spacing[1] = es[1];
        cn_strlcpy(in->spacing_source, "ElementSpacing", sizeof in->spacing_source);
    } else {
        in->spacing_invalid = (es[0] != 1 || es[1] != 1) && (es[0] != 0 || es[1] != 0);
        in->spacing_stated[0] = es[0];
        in->spacing_stated[1] = es[1];
        in->spacing[0] = in->spacing[1] = 1;
        cn_strlcpy(in->spacing_source, "none", sizeof in->spacing_source);
    }
}

void cn_seq_reader_set_default_spacing(cn_seq_reader *r, double sx_mm, double sy_mm) {
    bool ok = sx_mm > 0 && sy_mm > 0 && isfinite(sx_mm) && isfinite(sy_mm);
    r->user_spacing[0] = ok ? sx_mm : 0;
    r->user_spacing[1] = ok ? sy_mm : 0;
    resolve_spacing(r);
}

cn_seq_reader *cn_seq_reader_open(const char *path, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!path) {
        cn_errf(err, err_len, "(null)", "no file name");
        return NULL;
    }
    cn_seq_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fd = r->data_fd = r->dirfd = -1;
    r->index_sorted = true;
    cn_strlcpy(r->path, path, sizeof r->path);
    r->info.spacing[0] = r->info.spacing[1] = r->info.spacing[2] = 1;
    r->dirfd = -1;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is then refused */
    r->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (r->fd < 0) {
        cn_errf(err, err_len, path, "cannot open: %s", strerror(errno));
        free(r);
        return NULL;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cn_errf(err, err_len, path, "not a regular file");
        cn_seq_reader_close(r);
        return NULL;
    }
    int fl = fcntl(r->fd, F_GETFL);
    if (fl >= 0) fcntl(r->fd, F_SETFL, fl & ~O_NONBLOCK);
    uint64_t size = (uint64_t)st.st_size;
    int fd2 = dup(r->fd);
    FILE *fp = fd2 >= 0 ? fdopen(fd2, "rb") : NULL;
    if (!fp) {
        if (fd2 >= 0) close(fd2);
        cn_errf(err, err_len, path, "cannot read");
        cn_seq_reader_close(r);
        return NULL;
    }
    line_reader lr = {fp, 0, NULL, 0, MAX_LINE_DEFAULT};
    char magic[8] = {0};
    ssize_t got = pread(r->fd, magic, 7, 0);
    int rc;
    if (got <= 0) {
        cn_errf(err, err_len, path, "empty file");
        rc = CN_EPARSE;
    } else if (got >= 7 && strncmp(magic, "NRRD000", 7) == 0) {
        uint64_t o;
        cn_rd_lr_next(&lr, &o); /* magic line */
        /* the long Slicer index values line may be big: allow it */
        lr.max = size < (256u << 20) ? (size_t)size + 16 : (256u << 20);
        rc = cn_rd_open_nrrd(r, &lr, size, err, err_len);
    } else {
        rc = cn_rd_open_mha(r, &lr, size, err, err_len);
    }
    free(lr.line);
    fclose(fp);
    if (rc == CN_OK) {
        const char *tc = cn_seq_reader_global(r, "CryoNavTimestampClock");
        r->info.scene_clock = tc && strncmp(tc, "scene", 5) == 0;
        r->info.wall_clock = cn_seq_reader_global(r, "CryoNavWallClock") != NULL;
        const char *pc = cn_seq_reader_global(r, "CryoNavPace");
        r->info.offline_pace = pc && strncmp(pc, "scene", 5) == 0;
        rc = cn_rd_orientation(r);
        if (rc == CN_OK) resolve_spacing(r);
    }
    if (rc != CN_OK) {
        if (err && err_len && !err[0])
            cn_errf(err, err_len, path, "cannot read: %s", cn_strerror(rc));
        cn_seq_reader_close(r);
        return NULL;
    }
    return r;
}

void cn_seq_reader_close(cn_seq_reader *r) {
    if (!r) return;
    cn_seq_reader_zreset(r);
    cn_seq_reader_free_checkpoints(r);
    if (r->fd >= 0) close(r->fd);
    if (r->data_fd >= 0) close(r->data_fd);
    if (r->dirfd >= 0) close(r->dirfd);
    for (int i = 0; i < r->n_globals; i++) {
        free(r->globals[i].key);
        free(r->globals[i].value);
    }
    free(r->globals);
    free(r->index);
    free(r->chunk);
    free(r->fieldbuf);
    free(r->fields);
    free(r->index_values);
    free(r->zin);
    free(r->orient_buf);
    free(r);
}

const cn_seq_info *cn_seq_reader_info(const cn_seq_reader *r) { return &r->info; }
