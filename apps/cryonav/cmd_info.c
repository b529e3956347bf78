/* cmd_info.c - `cryonav info FILE`: a short summary of any sequence file (PLUS
 * .igs.mha/.mhd/.nrrd, Slicer .seq.nrrd, CryoNav recordings): format, frames, size,
 * pixel type, compression, time span, transforms with their valid counts and the
 * custom per-frame fields. Reads only the header lines, frame by frame. */
#include "commands.h"

#include "seqio/seqio.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_NAMES 64

typedef struct {
    char name[96];
    int count, ok;
} name_count;

static name_count *find_or_add(name_count *v, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    if (*n == MAX_NAMES)
        return NULL;
    cn_strlcpy(v[*n].name, name, sizeof v[*n].name);
    v[*n].count = v[*n].ok = 0;
    return &v[(*n)++];
}

int cn_cmd_info(int argc, char **argv)
{
    if (cn_app_wants_help(argc, argv)) {
        printf("usage: cryonav info FILE\n"
               "Prints a short summary of a sequence file: format, 'frames <n>', 'size <w> <h>',\n"
               "pixel type, compression, time span, transforms and per-frame fields.\n");
        return 0;
    }
    if (argc != 2)
        return cn_app_usage_error("info", "needs exactly one FILE (see --help)");
    char err[1024];
    cn_seq_reader *r = cn_seq_reader_open(argv[1], err, sizeof err);
    if (!r) {
        fprintf(stderr, "cryonav info: %s\n", err);
        return 2;
    }
    const cn_seq_info *in = cn_seq_reader_info(r);
    printf("file %s\n", argv[1]);
    printf("format %s\n", in->slicer_seq ? "Slicer sequence (NRRD)"
                          : in->format == CN_SEQ_NRRD ? "PLUS sequence (NRRD)"
                                                      : "PLUS sequence (MetaImage)");
    printf("frames %d\n", in->n_frames);
    printf("size %d %d\n", in->width, in->height);
    printf("pixel %s x %d\n", in->pixel_name ? in->pixel_name : "?", in->components);
    printf("spacing %g %g\n", in->spacing[0], in->spacing[1]);
    if (in->compressed)
        printf("compressed yes (%llu bytes)\n", (unsigned long long)in->data_bytes);
    else
        printf("compressed no\n");
    if (strcmp(in->data_path, argv[1]) != 0)
        printf("data %s\n", in->data_path);
    if (in->orientation[0])
        printf("orientation %s\n", in->orientation);
    if (in->image_type[0])
        printf("image_type %s\n", in->image_type);
    name_count xf[MAX_NAMES], other[MAX_NAMES];
    int nxf = 0, nother = 0, with_ts = 0, analysed = 0, events = 0;
    double t_first = NAN, t_last = NAN;
    for (int i = 0; i < in->n_frames; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        if (nf < 0) {
            fprintf(stderr, "cryonav info: %s\n", err);
            cn_seq_reader_close(r);
            return 2;
        }
        for (int k = 0; k < nf; k++) {
            const char *key = fl[k].key;
            size_t kl = strlen(key);
            if (kl > 9 && strcmp(key + kl - 9, "Transform") == 0) {
                name_count *c = find_or_add(xf, &nxf, key);
                if (c) {
                    char st[128];
                    snprintf(st, sizeof st, "%sStatus", key);
                    const char *sv = cn_seq_field_find(fl, nf, st);
                    c->count++;
                    c->ok += !sv || strncmp(sv, "OK", 2) == 0;
                }
            } else if (!(kl > 15 && strcmp(key + kl - 15, "TransformStatus") == 0)) {
                name_count *c = find_or_add(other, &nother, key);
                if (c)
                    c->count++;
            }
            if (strcmp(key, "CryoNavAnalysed") == 0)
                analysed++;
            if (strcmp(key, "CryoNavEvents") == 0 || strcmp(key, "CryoNavNote") == 0)
                events++;
        }
        double t = cn_seq_reader_timestamp(r, i);
        if (isfinite(t)) {
            if (!isfinite(t_first))
                t_first = t;
            t_last = t;
            with_ts++;
        }
    }
    if (with_ts > 0) {
        double span = t_last - t_first;
        printf("time %.6f .. %.6f s (%.3f s", t_first, t_last, span);
        if (with_ts > 1 && span > 0)
            printf(", %.2f frames/s", (with_ts - 1) / span);
        printf(")\n");
    }
    printf("frames_with_fields %d\n", in->frames_with_fields);
    for (int i = 0; i < nxf; i++)
        printf("transform %.*s: %d frames, %d valid\n", (int)strlen(xf[i].name) - 9, xf[i].name,
               xf[i].count, xf[i].ok);
    for (int i = 0; i < nother; i++)
        printf("field %s: %d frames\n", other[i].name, other[i].count);
    if (analysed)
        printf("cryonav analysed_frames %d, events %d\n", analysed, events);
    cn_seq_reader_close(r);
    return 0;
}
