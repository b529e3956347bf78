/*
 * reader_nrrd.c - the NRRD flavour of the reader: PLUS .igs.nrrd and Slicer's
 * .seq.nrrd headers ("key: value" standard fields, "key:=value" custom fields, a
 * blank line before the data). Axis kinds decide which axis holds components and
 * which the frame list (it must be the last, slowest axis: frames are streamed
 * one at a time). Slicer's "axis N index values" become the frame timestamps.
 */
#include "reader_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nrrd_type(const char *s, cn_seq_pixel *p, size_t *sz) {
    static const struct { const char *n; cn_seq_pixel p; size_t s; } t[] = {
        {"uint8", CN_PIX_UINT8, 1}, {"uchar", CN_PIX_UINT8, 1},
        {"unsigned char", CN_PIX_UINT8, 1}, {"uint8_t", CN_PIX_UINT8, 1},
        {"int8", CN_PIX_INT8, 1}, {"signed char", CN_PIX_INT8, 1}, {"int8_t", CN_PIX_INT8, 1},
        {"short", CN_PIX_INT16, 2}, {"short int", CN_PIX_INT16, 2},
        {"signed short", CN_PIX_INT16, 2}, {"signed short int", CN_PIX_INT16, 2},
        {"int16", CN_PIX_INT16, 2}, {"int16_t", CN_PIX_INT16, 2},
        {"ushort", CN_PIX_UINT16, 2}, {"unsigned short", CN_PIX_UINT16, 2},
        {"unsigned short int", CN_PIX_UINT16, 2}, {"uint16", CN_PIX_UINT16, 2},
        {"uint16_t", CN_PIX_UINT16, 2}, {"int", CN_PIX_INT32, 4}, {"signed int", CN_PIX_INT32, 4},
        {"int32", CN_PIX_INT32, 4}, {"int32_t", CN_PIX_INT32, 4}, {"uint", CN_PIX_UINT32, 4},
        {"unsigned int", CN_PIX_UINT32, 4}, {"uint32", CN_PIX_UINT32, 4},
        {"uint32_t", CN_PIX_UINT32, 4}, {"float", CN_PIX_FLOAT32, 4},
        {"double", CN_PIX_FLOAT64, 8}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) {
            *p = t[i].p;
            *sz = t[i].s;
            return CN_OK;
        }
    return CN_EUNSUPPORTED;
}

static bool kind_is_list(const char *k) {
    return strcmp(k, "list") == 0 || strcmp(k, "time") == 0;
}
static bool kind_is_space(const char *k) {
    return strcmp(k, "domain") == 0 || strcmp(k, "space") == 0;
}

int cn_rd_open_nrrd(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
                     size_t err_len) {
    const char *p = r->path;
    uint64_t off;
    long n;
    bool ended = false;
    while ((n = cn_rd_lr_next(lr, &off)) >= 0) {
        char *line = lr->line;
        if (n == 0) {
            ended = true;
            break;
        }
        if (line[0] == '#') continue;
        char *ce = strstr(line, ":="), *cs = strstr(line, ": ");
        if (ce && (!cs || ce < cs)) {
            *ce = 0;
            char *k = cn_rd_trim(line), *v = cn_rd_trim(ce + 2);
            long idx;
            const char *rest;
            if (cn_rd_parse_frame_key(k, &idx, &rest)) {
                int rc = cn_rd_add_range(r, idx, off, lr->off, rest, v);
                if (rc) return rc;
                continue;
            }
            /* the Slicer index values line is long: keep its place, parse later */
            if (strstr(k, "index values")) {
                r->index_values_off = off + (uint64_t)(ce + 2 - line);
                r->index_values_len = (uint64_t)n - (uint64_t)(ce + 2 - line);
                continue;
            }
            int rc = cn_rd_add_global(r, k, v);
            if (rc) {
                cn_errf(err, err_len, p, "too many header fields");
                return rc;
            }
        } else if (cs || (line[n - 1] == ':')) {
            char *colon = cs ? cs : line + n - 1;
            *colon = 0;
            char *k = cn_rd_trim(line), *v = cn_rd_trim(colon + 1);
            int rc = cn_rd_add_global(r, k, v);
            if (rc) {
                cn_errf(err, err_len, p, "too many header fields");
                return rc;
            }
        } else {
            cn_errf(err, err_len, p, "NRRD header line at byte %llu is not 'key: value'",
                         (unsigned long long)off);
            return CN_EPARSE;
        }
    }
    if (n == -2) {
        cn_errf(err, err_len, p, "header line longer than %zu bytes (garbage?)", lr->max);
        return CN_EPARSE;
    }
    cn_seq_info *in = &r->info;
    in->format = CN_SEQ_NRRD;
    const char *v;
    const char *df = cn_seq_reader_global(r, "data file");
    if (!df) df = cn_seq_reader_global(r, "datafile");
    if (!ended && !df) {
        cn_errf(err, err_len, p, "NRRD header does not end (no blank line): truncated?");
        return CN_EPARSE;
    }
    int dim = (v = cn_seq_reader_global(r, "dimension")) ? atoi(v) : 0;
    if (dim < 2 || dim > 5) {
        cn_errf(err, err_len, p, "NRRD dimension %d not handled (2..5)", dim);
        return CN_EUNSUPPORTED;
    }
    long long sizes[5];
    if (!(v = cn_seq_reader_global(r, "sizes")) || cn_rd_parse_sizes(v, sizes, 5) != dim) {
        cn_errf(err, err_len, p, "NRRD sizes missing or not %d integers", dim);
        return CN_EPARSE;
    }
    if (!(v = cn_seq_reader_global(r, "type"))) {
        cn_errf(err, err_len, p, "NRRD type missing");
        return CN_EPARSE;
    }
    in->pixel_name = v;
    if (nrrd_type(v, &in->pixel, &in->elem_bytes) != CN_OK) {
        cn_errf(err, err_len, p, "pixel type '%s' is not handled", v);
        return CN_EUNSUPPORTED;
    }
    const char *enc = cn_seq_reader_global(r, "encoding");
    if (!enc) {
        cn_errf(err, err_len, p, "NRRD encoding missing");
        return CN_EPARSE;
    }
    if (strcmp(enc, "gz") == 0 || strcmp(enc, "gzip") == 0) in->compressed = true;
    else if (strcmp(enc, "raw") != 0) {
        cn_errf(err, err_len, p, "NRRD encoding '%s' not handled (raw, gz)", enc);
        return CN_EUNSUPPORTED;
    }
    in->big_endian = (v = cn_seq_reader_global(r, "endian")) && strcmp(v, "big") == 0;
    /* kinds decide which axis is components, which is the frame list */
    char kinds[5][32];
    int nk = 0;
    for (int i = 0; i < 5; i++) strcpy(kinds[i], "domain");
    if ((v = cn_seq_reader_global(r, "kinds"))) {
        const char *s = v;
        while (*s && nk < 5) {
            while (*s == ' ') s++;
            if (!*s) break;
            int l = 0;
            while (s[l] && s[l] != ' ') l++;
            snprintf(kinds[nk], sizeof kinds[nk], "%.*s", l > 31 ? 31 : l, s);
            nk++;
            s += l;
        }
    } else if (dim >= 3) {
        strcpy(kinds[dim - 1], "list");
    }
    long long comp = 1, w = 0, h = 0, frames = 1;
    int spatial = 0;
    for (int a = 0; a < dim; a++) {
        if (kind_is_list(kinds[a])) {
            if (a != dim - 1 && sizes[a] != 1) {
                cn_errf(err, err_len, p,
                             "frame list on axis %d of %d: interleaved frames are not "
                             "streamed (re-save with the list axis last)",
                             a, dim);
                return CN_EUNSUPPORTED;
            }
            frames = sizes[a];
            if (dim == 4 || dim == 5) in->slicer_seq = true;
        } else if (kind_is_space(kinds[a])) {
            if (spatial == 0) w = sizes[a];
            else if (spatial == 1) h = sizes[a];
            else if (sizes[a] != 1) {
                cn_errf(err, err_len, p, "3-D volumes per frame are not handled");
                return CN_EUNSUPPORTED;
            }
            spatial++;
        } else if (a == 0) {
            comp = sizes[0];
        } else {
            cn_errf(err, err_len, p, "NRRD kind '%s' on axis %d not handled", kinds[a], a);
            return CN_EUNSUPPORTED;
        }
    }
    if ((v = cn_seq_reader_global(r, "space directions"))) {
        /* spacing = length of each spatial direction vector "(1,0) (0,1) none" */
        int sp = 0;
        const char *s = v;
        while ((s = strchr(s, '(')) && sp < 3) {
            double c[3] = {0, 0, 0};
            int nc = 0;
            s++;
            while (nc < 3) {
                char *e;
                c[nc] = strtod(s, &e);
                if (e == s) break;
                nc++;
                s = e;
                if (*s == ',') s++;
                else break;
            }
            /* an axis whose largest component is negative runs backwards: said by
             * `info`, the pixels read as stored (the orientation code is PLUS's word
             * on which way they lie) */
            int big = 0;
            for (int k = 1; k < 3; k++)
                if (fabs(c[k]) > fabs(c[big])) big = k;
            if (sp < 2 && c[big] < 0) in->mirrored |= 1u << sp;
            in->spacing[sp++] = sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
        }
    }
    if ((v = cn_seq_reader_global(r, "ultrasound image orientation")))
        cn_strlcpy(in->orientation, v, sizeof in->orientation);
    if ((v = cn_seq_reader_global(r, "ultrasound image type")))
        cn_strlcpy(in->image_type, v, sizeof in->image_type);
    uint64_t avail;
    if (df) {
        if (strncmp(df, "LIST", 4) == 0 || strchr(df, ' ')) {
            cn_errf(err, err_len, p, "NRRD 'data file: %s' (several files) not handled", df);
            return CN_EUNSUPPORTED;
        }
        int rc = cn_rd_open_data_file(r, df, &avail, err, err_len);
        if (rc) return rc;
        in->data_offset = 0;
    } else {
        cn_strlcpy(in->data_path, p, sizeof in->data_path);
        in->data_offset = lr->off;
        avail = file_size > lr->off ? file_size - lr->off : 0;
        r->data_fd = dup(r->fd);
        if (r->data_fd < 0) return CN_EIO;
    }
    if ((v = cn_seq_reader_global(r, "byte skip"))) {
        long long bs = atoll(v);
        if (bs < 0 || (uint64_t)bs > avail) {
            cn_errf(err, err_len, p, "byte skip %s not handled", v);
            return CN_EUNSUPPORTED;
        }
        in->data_offset += (uint64_t)bs;
        avail -= (uint64_t)bs;
    }
    in->data_bytes = avail;
    in->spacing[2] = in->spacing[2] > 0 ? in->spacing[2] : 1;
    int rc = cn_rd_finish_layout(r, w, h, frames, comp, file_size, err, err_len);
    if (rc) return rc;
    /* Slicer: per-frame index values become timestamps */
    if (r->index_values_len > 0 && in->n_frames > 0) {
        if (r->index_values_len > (uint64_t)in->n_frames * 64 + 1024) {
            cn_errf(err, err_len, p, "index values line is implausibly long");
            return CN_EPARSE;
        }
        /* a line of L bytes holds at most L/2 + 1 numbers: allocate for those, not
         * for the frame count the header claims */
        uint64_t most = r->index_values_len / 2 + 1;
        int cap = most < (uint64_t)in->n_frames ? (int)most : in->n_frames;
        char *buf = malloc(r->index_values_len + 1);
        r->index_values = calloc((size_t)cap, sizeof(double));
        if (!buf || !r->index_values) {
            free(buf);
            return CN_ENOMEM;
        }
        ssize_t got = pread(r->fd, buf, r->index_values_len, (off_t)r->index_values_off);
        if (got < 0) got = 0;
        buf[got] = 0;
        r->n_index_values = cn_seqio_parse_doubles(buf, r->index_values, cap);
        free(buf);
    }
    return CN_OK;
}
