/*
 * reader_mha.c - the MetaImage flavour of the reader: PLUS .igs.mha / .igs.mhd
 * headers ("Key = Value" lines up to ElementDataFile; Seq_FrameNNNN_ lines are
 * indexed, not kept), the element type names, the pixel data in the file (LOCAL)
 * or beside it (.raw / .zraw), compressed or not. reader.c holds the scanning
 * helpers both flavours share and the checks of the layout against the file.
 */
#include "reader_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int met_type(const char *s, cn_seq_pixel *p, size_t *sz) {
    static const struct { const char *n; cn_seq_pixel p; size_t s; } t[] = {
        {"MET_UCHAR", CN_PIX_UINT8, 1},   {"MET_CHAR", CN_PIX_INT8, 1},
        {"MET_USHORT", CN_PIX_UINT16, 2}, {"MET_SHORT", CN_PIX_INT16, 2},
        {"MET_UINT", CN_PIX_UINT32, 4},   {"MET_INT", CN_PIX_INT32, 4},
        {"MET_FLOAT", CN_PIX_FLOAT32, 4}, {"MET_DOUBLE", CN_PIX_FLOAT64, 8},
        /* PLUS writes MET_OTHER (size 0) for sequences without image data */
        {"MET_OTHER", CN_PIX_NONE, 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) {
            *p = t[i].p;
            *sz = t[i].s;
            return CN_OK;
        }
    return CN_EUNSUPPORTED;
}

int cn_rd_open_mha(cn_seq_reader *r, line_reader *lr, uint64_t file_size, char *err,
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
            /* the file's last bytes, cut mid-line: a copy cut short inside its header
             * (a CryoNav header is ~1.7 KB a frame, 34 MB for a long session), not a
             * malformed line (teaching audit T13) */
            if (lr->off >= file_size) {
                cn_errf(err, err_len, p, "the file ends inside its header (at byte %llu, "
                        "before any pixel data): a copy cut short? Copy it again; no frame is "
                        "in this part", (unsigned long long)file_size);
                return CN_EPARSE;
            }
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
            cn_errf(err, err_len, p, "more than %d header fields", CN_RD_MAX_GLOBALS);
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
        if (dims[0] * dims[1] != 0) {
            cn_errf(err, err_len, p, "no ElementType");
            return CN_EPARSE;
        }
        v = "MET_OTHER"; /* no pixels: the type does not matter */
    }
    in->pixel_name = cn_seq_reader_global(r, "ElementType");
    if (met_type(v, &in->pixel, &in->elem_bytes) != CN_OK) {
        /* A tracking-only file (no pixels: DimSize 0 0 N) may name any type. */
        if (dims[0] * dims[1] != 0) {
            cn_errf(err, err_len, p, "pixel type ElementType = %s is not handled", v);
            return CN_EUNSUPPORTED;
        }
        in->pixel = CN_PIX_NONE;
        in->elem_bytes = 0;
    }
    long long comp = 1;
    if ((v = cn_seq_reader_global(r, "ElementNumberOfChannels"))) comp = atoll(v);
    in->compressed =
        (v = cn_seq_reader_global(r, "CompressedData")) && strncasecmp(v, "True", 4) == 0;
    in->big_endian = ((v = cn_seq_reader_global(r, "BinaryDataByteOrderMSB")) &&
                      strncasecmp(v, "True", 4) == 0) ||
                     ((v = cn_seq_reader_global(r, "ElementByteOrderMSB")) &&
                      strncasecmp(v, "True", 4) == 0);
    if ((v = cn_seq_reader_global(r, "ElementSpacing"))) {
        double s[3] = {1, 1, 1};
        cn_seqio_parse_doubles(v, s, 3);
        memcpy(in->spacing, s, sizeof s);
    }
    if ((v = cn_seq_reader_global(r, "TransformMatrix"))) {
        /* an axis pointing backwards (a negative diagonal entry that dominates its row
         * and column): said by `info`, the pixels read as stored, as in NRRD */
        double m[9];
        if (cn_seqio_parse_doubles(v, m, 9) == 9)
            for (int a = 0; a < 2; a++) {
                double d = m[a * 4];
                bool dom = true;
                for (int k = 0; k < 3; k++)
                    if (k != a && (fabs(m[a * 3 + k]) >= fabs(d) || fabs(m[k * 3 + a]) >= fabs(d)))
                        dom = false;
                if (dom && d < 0) in->mirrored |= 1u << a;
            }
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
