/*
 * reader.c - opens a PLUS / Slicer sequence file and builds its frame index.
 *
 * The header is scanned once, line by line, without keeping the per-frame lines:
 * for every Seq_FrameNNNN_ line only the byte range of that frame's lines is
 * remembered (frames' lines are contiguous in what PLUS and Slicer write; if not,
 * the range simply covers them all and reading filters by prefix). Global fields
 * are kept. Every size the header claims is checked against the file before
 * anything is allocated from it, so a lying header gives an error, not a huge
 * allocation. This file holds the shared scanning helpers and the MetaImage
 * flavour; reader_nrrd.c the NRRD flavour; reader_pixels.c fields and pixels.
 */
#include "reader_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_GLOBALS 4096
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
    if (r->n_globals >= MAX_GLOBALS) return CN_ERANGE;
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

/* Remember that frame idx has a line at [off, end). Consecutive lines of the same
 * frame extend the last range; the list grows with lines, not with claimed idx. */
int cn_rd_add_range(cn_seq_reader *r, long idx, uint64_t off, uint64_t end, const char *key,
                     const char *value) {
    if (r->n_ranges > 0) {
        frame_range *last = &r->ranges[r->n_ranges - 1];
        if (last->idx == idx && off <= last->end + 1) {
            last->end = end;
            goto zoff;
        }
    }
    if (r->n_ranges == r->cap_ranges) {
        size_t nc = r->cap_ranges ? r->cap_ranges * 2 : 256;
        frame_range *nr = realloc(r->ranges, nc * sizeof *nr);
        if (!nr) return CN_ENOMEM;
        r->ranges = nr;
        r->cap_ranges = nc;
    }
    r->ranges[r->n_ranges++] = (frame_range){idx, off, end, UINT64_MAX};
zoff:
    if (strcmp(key, "CryoNavDataOffset") == 0) {
        char *e;
        unsigned long long z = strtoull(value, &e, 10);
        if (e != value) r->ranges[r->n_ranges - 1].zoff = z;
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- type names */

static int met_type(const char *s, cn_seq_pixel *p, size_t *sz) {
    static const struct { const char *n; cn_seq_pixel p; size_t s; } t[] = {
        {"MET_UCHAR", CN_PIX_UINT8, 1},   {"MET_CHAR", CN_PIX_INT8, 1},
        {"MET_USHORT", CN_PIX_UINT16, 2}, {"MET_SHORT", CN_PIX_INT16, 2},
        {"MET_UINT", CN_PIX_UINT32, 4},   {"MET_INT", CN_PIX_INT32, 4},
        {"MET_FLOAT", CN_PIX_FLOAT32, 4}, {"MET_DOUBLE", CN_PIX_FLOAT64, 8}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) {
            *p = t[i].p;
            *sz = t[i].s;
            return CN_OK;
        }
    return CN_EUNSUPPORTED;
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
    /* Frame count must be backed by data (or, for header-only files, by lines). */
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
            cn_errf(err, err_len, p,
                         "truncated or lying header: %lld frames of %zu bytes need %llu bytes "
                         "of pixel data, the file has %llu",
                         n, in->frame_bytes, (unsigned long long)((uint64_t)n * in->frame_bytes),
                         (unsigned long long)in->data_bytes);
        return CN_EPARSE;
    }
    in->n_frames = (int)n;
    r->index = calloc((size_t)(n > 0 ? n : 1), sizeof *r->index);
    if (!r->index) return CN_ENOMEM;
    for (long long i = 0; i < n; i++) r->index[i].zoff = UINT64_MAX;
    for (size_t i = 0; i < r->n_ranges; i++) {
        frame_range *fr = &r->ranges[i];
        if (fr->idx >= n) {
            cn_errf(err, err_len, p,
                         "field Seq_Frame%04ld_... names a frame beyond the %lld frames of the "
                         "header",
                         fr->idx, n);
            return CN_EPARSE;
        }
        frame_index *fi = &r->index[fr->idx];
        if (fi->len == 0) {
            fi->off = fr->off;
            fi->len = fr->end - fr->off;
            in->frames_with_fields++;
        } else {
            uint64_t a = fi->off < fr->off ? fi->off : fr->off;
            uint64_t e = fi->off + fi->len > fr->end ? fi->off + fi->len : fr->end;
            fi->off = a;
            fi->len = e - a;
        }
        if (fr->zoff != UINT64_MAX) fi->zoff = fr->zoff;
    }
    free(r->ranges);
    r->ranges = NULL;
    r->n_ranges = r->cap_ranges = 0;
    if (in->frame_bytes > 0) {
        r->scratch = malloc(in->frame_bytes);
        if (!r->scratch) return CN_ENOMEM;
    }
    return CN_OK;
}

int cn_rd_open_data_file(cn_seq_reader *r, const char *name, uint64_t *size, char *err,
                          size_t err_len) {
    char dir[1024];
    dir_of(r->path, dir, sizeof dir);
    if (name[0] == '/') cn_strlcpy(r->info.data_path, name, sizeof r->info.data_path);
    else snprintf(r->info.data_path, sizeof r->info.data_path, "%s%s", dir, name);
    r->data_fd = open(r->info.data_path, O_RDONLY | O_CLOEXEC);
    if (r->data_fd < 0) {
        cn_errf(err, err_len, r->path, "data file %s: %s", r->info.data_path,
                     strerror(errno));
        return CN_ENOENT;
    }
    struct stat st;
    if (fstat(r->data_fd, &st) != 0) return CN_EIO;
    *size = (uint64_t)st.st_size;
    return CN_OK;
}

static int open_mha(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
                    size_t err_len) {
    const char *p = r->path;
    uint64_t off;
    long n;
    bool have_data_line = false, first = true;
    while ((n = cn_rd_lr_next(lr, &off)) >= 0) {
        char *line = lr->line;
        char *eq = strchr(line, '=');
        if (!eq) {
            if (first) {
                cn_errf(err, err_len, p, "not a MetaImage / sequence file (first line has "
                                              "no 'Key = Value')");
                return CN_EPARSE;
            }
            if (!*cn_rd_trim(line)) continue;
            cn_errf(err, err_len, p, "header line at byte %llu is not 'Key = Value'",
                         (unsigned long long)off);
            return CN_EPARSE;
        }
        first = false;
        *eq = 0;
        char *k = cn_rd_trim(line), *v = cn_rd_trim(eq + 1);
        long idx;
        const char *rest;
        if (cn_rd_parse_frame_key(k, &idx, &rest)) {
            int rc = cn_rd_add_range(r, idx, off, lr->off, rest, v);
            if (rc) return rc;
            continue;
        }
        int rc = cn_rd_add_global(r, k, v);
        if (rc == CN_ERANGE) {
            cn_errf(err, err_len, p, "more than %d header fields", MAX_GLOBALS);
            return rc;
        }
        if (rc) return rc;
        if (strcmp(k, "ElementDataFile") == 0) {
            have_data_line = true;
            break;
        }
    }
    if (n == -2) {
        cn_errf(err, err_len, p, "header line longer than %zu bytes (garbage?)", lr->max);
        return CN_EPARSE;
    }
    if (!have_data_line) {
        cn_errf(err, err_len, p, "header has no ElementDataFile line (truncated or not a "
                                      "MetaImage file)");
        return CN_EPARSE;
    }
    cn_seq_info *in = &r->info;
    in->format = CN_SEQ_MHA;
    const char *v;
    long long dims[4] = {0, 0, 1, 1};
    int nd = 3;
    if ((v = cn_seq_reader_global(r, "NDims"))) nd = atoi(v);
    if (nd < 2 || nd > 3) {
        cn_errf(err, err_len, p, "NDims = %d not handled (2 or 3)", nd);
        return CN_EUNSUPPORTED;
    }
    if (!(v = cn_seq_reader_global(r, "DimSize"))) {
        cn_errf(err, err_len, p, "no DimSize");
        return CN_EPARSE;
    }
    if (cn_rd_parse_sizes(v, dims, 4) != nd) {
        cn_errf(err, err_len, p, "DimSize '%s' is not %d non-negative integers", v, nd);
        return CN_EPARSE;
    }
    if (nd == 2) dims[2] = 1;
    if (!(v = cn_seq_reader_global(r, "ElementType"))) {
        cn_errf(err, err_len, p, "no ElementType");
        return CN_EPARSE;
    }
    in->pixel_name = cn_seq_reader_global(r, "ElementType");
    if (met_type(v, &in->pixel, &in->elem_bytes) != CN_OK) {
        cn_errf(err, err_len, p, "pixel type ElementType = %s is not handled", v);
        return CN_EUNSUPPORTED;
    }
    long long comp = 1;
    if ((v = cn_seq_reader_global(r, "ElementNumberOfChannels"))) comp = atoll(v);
    in->compressed = (v = cn_seq_reader_global(r, "CompressedData")) && strncasecmp(v, "True", 4) == 0;
    in->big_endian = ((v = cn_seq_reader_global(r, "BinaryDataByteOrderMSB")) &&
                      strncasecmp(v, "True", 4) == 0) ||
                     ((v = cn_seq_reader_global(r, "ElementByteOrderMSB")) &&
                      strncasecmp(v, "True", 4) == 0);
    if ((v = cn_seq_reader_global(r, "ElementSpacing"))) {
        double s[3] = {1, 1, 1};
        cn_seqio_parse_doubles(v, s, 3);
        memcpy(in->spacing, s, sizeof s);
    }
    if ((v = cn_seq_reader_global(r, "UltrasoundImageOrientation")))
        cn_strlcpy(in->orientation, v, sizeof in->orientation);
    if ((v = cn_seq_reader_global(r, "UltrasoundImageType")))
        cn_strlcpy(in->image_type, v, sizeof in->image_type);
    const char *df = cn_seq_reader_global(r, "ElementDataFile");
    uint64_t avail;
    if (strcmp(df, "LOCAL") == 0) {
        cn_strlcpy(in->data_path, p, sizeof in->data_path);
        in->data_offset = lr->off;
        avail = file_size > lr->off ? file_size - lr->off : 0;
        r->data_fd = dup(r->fd);
    } else if (strcmp(df, "LIST") == 0 || strchr(df, '%') || strchr(df, ' ')) {
        cn_errf(err, err_len, p, "ElementDataFile = %s (a list of files) is not handled", df);
        return CN_EUNSUPPORTED;
    } else {
        int rc = cn_rd_open_data_file(r, df, &avail, err, err_len);
        if (rc) return rc;
        in->data_offset = 0;
    }
    if (r->data_fd < 0) return CN_EIO;
    if (in->compressed) {
        if ((v = cn_seq_reader_global(r, "CompressedDataSize"))) {
            long long cs;
            if (cn_rd_parse_sizes(v, &cs, 1) != 1) {
                cn_errf(err, err_len, p, "CompressedDataSize '%s' is not a size", v);
                return CN_EPARSE;
            }
            if ((uint64_t)cs > avail) {
                cn_errf(err, err_len, p,
                             "CompressedDataSize = %lld but only %llu bytes of data follow "
                             "(truncated file or wrong size)",
                             cs, (unsigned long long)avail);
                return CN_EPARSE;
            }
            in->data_bytes = (uint64_t)cs;
        } else {
            in->data_bytes = avail;
        }
    } else {
        in->data_bytes = avail;
    }
    return cn_rd_finish_layout(r, dims[0], dims[1], dims[2], comp, file_size, err, err_len);
}


cn_seq_reader *cn_seq_reader_open(const char *path, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!path) {
        cn_errf(err, err_len, "(null)", "no file name");
        return NULL;
    }
    cn_seq_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fd = r->data_fd = -1;
    cn_strlcpy(r->path, path, sizeof r->path);
    r->info.spacing[0] = r->info.spacing[1] = r->info.spacing[2] = 1;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
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
        rc = open_mha(r, &lr, size, err, err_len);
    }
    free(lr.line);
    fclose(fp);
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
    for (int i = 0; i < r->n_globals; i++) {
        free(r->globals[i].key);
        free(r->globals[i].value);
    }
    free(r->globals);
    free(r->ranges);
    free(r->index);
    free(r->scratch);
    free(r->fieldbuf);
    free(r->fields);
    free(r->index_values);
    free(r->zin);
    free(r);
}

const cn_seq_info *cn_seq_reader_info(const cn_seq_reader *r) { return &r->info; }
