/*
 * describe.c - what a sequence file holds, read from its header lines only:
 * `cryonav info` (cn_seq_describe) and the chapters a teacher jumps between in a
 * replay (cn_seq_chapters: the recorded events in order, with short names such as
 * "freeze 2").
 */
#include "seqio_priv.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64

typedef struct {
    char name[96];
    int count, ok;
    int malformed, first_bad; /* transforms: values that are not 16 finite numbers */
} name_count;

static name_count *find_or_add(name_count *v, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (strcmp(v[i].name, name) == 0) return &v[i];
    if (*n == MAX_NAMES) return NULL;
    memset(&v[*n], 0, sizeof v[*n]); /* every count from 0 (the CI's ASan build: 25 of 20) */
    cn_strlcpy(v[*n].name, name, sizeof v[*n].name);
    return &v[(*n)++];
}

int cn_seq_describe(cn_seq_reader *r, FILE *out, char *err, size_t err_len) {
    const cn_seq_info *in = cn_seq_reader_info(r);
    fprintf(out, "format %s\n",
            in->slicer_seq ? "Slicer sequence (NRRD)"
            : in->format == CN_SEQ_NRRD ? "PLUS sequence (NRRD)"
                                        : "PLUS sequence (MetaImage)");
    fprintf(out, "frames %d\n", in->n_frames);
    if (in->orient_done & CN_SEQ_ORIENT_TRANSPOSE)
        fprintf(out, "size %d %d (stored %d %d: turned, see orientation)\n", in->width,
                in->height, in->height, in->width);
    else if (in->frame_bytes > 0 && (in->width <= 1 || in->height <= 1))
        fprintf(out, "size %d %d (placeholders: a tracking recording, no ultrasound image)\n",
                in->width, in->height);
    else fprintf(out, "size %d %d\n", in->width, in->height);
    fprintf(out, "pixel %s x %d\n", in->pixel_name ? in->pixel_name : "?", in->components);
    if (in->frame_bytes == 0)
        fprintf(out, "spacing - (no image data)\n");
    else if (strcmp(in->spacing_source, "none") == 0 && in->spacing_invalid)
        fprintf(out, "spacing %g %g (the file's %g %g is no pixel size: 1 mm/px assumed; give "
                "--spacing-mm)\n", in->spacing[0], in->spacing[1], in->spacing_stated[0],
                in->spacing_stated[1]);
    else if (strcmp(in->spacing_source, "none") == 0)
        fprintf(out, "spacing %g %g (none in the file: 1 mm/px assumed; give --spacing-mm)\n",
                in->spacing[0], in->spacing[1]);
    else /* the NRRD's is its space directions, kept under the MetaImage name */
        fprintf(out, "spacing %g %g (from %s)\n", in->spacing[0], in->spacing[1],
                in->format == CN_SEQ_NRRD && strcmp(in->spacing_source, "ElementSpacing") == 0
                    ? "space directions" : in->spacing_source);
    if (in->compressed)
        fprintf(out, "compressed yes (%llu bytes)\n", (unsigned long long)in->data_bytes);
    else fprintf(out, "compressed no\n");
    if (in->orientation[0] && in->orientation_unknown)
        fprintf(out, "orientation %s (no PLUS orientation of a 2-D image: the pixels are read "
                "as stored)\n", in->orientation);
    else if (in->orient_done) {
        const unsigned o = in->orient_done;
        fprintf(out, "orientation %s (frames are read turned to MF, as PLUS reads them:%s%s%s)\n",
                in->orientation, o & CN_SEQ_ORIENT_TRANSPOSE ? " rows and columns swapped" : "",
                o & CN_SEQ_ORIENT_FLIP_Y ? " upside down" : "",
                o & CN_SEQ_ORIENT_FLIP_X ? " mirrored left to right" : "");
    } else if (in->orientation[0]) fprintf(out, "orientation %s\n", in->orientation);
    if (in->mirrored)
        fprintf(out, "directions the header points the %s backwards (a mirrored image); the "
                "pixels are read as stored%s\n",
                in->mirrored == 3 ? "columns and the rows" : in->mirrored == 1 ? "columns" : "rows",
                in->orientation[0] ? ""
                                   : " (no UltrasoundImageOrientation says which way they lie)");
    if (in->image_type[0]) fprintf(out, "image_type %s\n", in->image_type);
    fprintf(out, "clock %s\n", in->scene_clock ? "scene time (CryoNavTimestampClock)" : "Timestamp");
    if (in->wall_clock)
        fprintf(out, "pace %s\n", in->offline_pace ? "scene time (made offline: a replay keeps the "
                                                     "procedure's own pace)"
                                                   : "as recorded (CryoNavWallNs)");
    name_count xf[MAX_NAMES], other[MAX_NAMES];
    int nxf = 0, nother = 0, with_ts = 0, analysed = 0, events = 0;
    double t_first = NAN, t_last = NAN;
    for (int i = 0; i < in->n_frames; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, err_len);
        if (nf < 0) return nf;
        for (int k = 0; k < nf; k++) {
            const char *key = fl[k].key;
            size_t kl = strlen(key);
            if (kl > 9 && strcmp(key + kl - 9, "Transform") == 0) {
                name_count *c = find_or_add(xf, &nxf, key);
                if (c) {
                    char st[128];
                    snprintf(st, sizeof st, "%sStatus", key);
                    const char *sv = cn_seq_field_find(fl, nf, st);
                    /* a value that is no 4 x 4 matrix is not a valid pose, whatever its
                     * status says (review 41a: "9 valid" with one of 3 numbers) */
                    double m[17];
                    bool whole = cn_seqio_parse_doubles(fl[k].value, m, 17) == 16;
                    for (int q = 0; whole && q < 16; q++)
                        whole = isfinite(m[q]);
                    if (!whole && c->malformed++ == 0)
                        c->first_bad = i;
                    c->count++;
                    c->ok += whole && (!sv || strncmp(sv, "OK", 2) == 0);
                }
            } else if (!(kl > 15 && strcmp(key + kl - 15, "TransformStatus") == 0)) {
                name_count *c = find_or_add(other, &nother, key);
                if (c) c->count++;
            }
            if (strcmp(key, "CryoNavAnalysed") == 0) analysed++;
            if (strcmp(key, "CryoNavEvents") == 0) events += cn_seq_events_parse(fl[k].value, 0, NULL, 0);
            if (strcmp(key, "CryoNavNote") == 0) events++;
        }
        double t = cn_seq_reader_timestamp(r, i);
        if (isfinite(t)) {
            if (!isfinite(t_first)) t_first = t;
            t_last = t;
            with_ts++;
        }
    }
    if (with_ts > 0) {
        double span = t_last - t_first;
        fprintf(out, "time %.6f .. %.6f s (%.3f s", t_first, t_last, span);
        if (with_ts > 1 && span > 0) fprintf(out, ", %.2f frames/s", (with_ts - 1) / span);
        fprintf(out, ")\n");
    }
    fprintf(out, "frames_with_fields %d\n", in->frames_with_fields);
    for (int i = 0; i < nxf; i++) {
        fprintf(out, "transform %.*s: %d frames, %d valid", (int)strlen(xf[i].name) - 9,
                xf[i].name, xf[i].count, xf[i].ok);
        if (xf[i].malformed)
            fprintf(out, ", %d not a 4 x 4 matrix (first: frame %d; not used)", xf[i].malformed,
                    xf[i].first_bad);
        fprintf(out, "\n");
    }
    for (int i = 0; i < nother; i++) fprintf(out, "field %s: %d frames\n", other[i].name, other[i].count);
    if (analysed || events) fprintf(out, "cryonav analysed_frames %d, events %d\n", analysed, events);
    return CN_OK;
}

/* ---------------------------------------------------------------- chapters */

/* "freeze_start cycle=2" -> "freeze 2" ... */
static void chapter_name(const cn_event *e, char *out, size_t len) {
    const char *t = e->text;
    int cyc = 0;
    const char *c = strstr(t, "cycle=");
    if (c) cyc = atoi(c + 6);
    if (strncmp(t, "needle_inserted", 15) == 0) snprintf(out, len, "needle in");
    else if (strncmp(t, "needle_withdrawn", 16) == 0) snprintf(out, len, "needle out");
    else if (strncmp(t, "freeze_start", 12) == 0) snprintf(out, len, "freeze %d", cyc);
    else if (strncmp(t, "freeze_end", 10) == 0) snprintf(out, len, "freeze %d end", cyc);
    else if (strncmp(t, "freeze_resume", 13) == 0) snprintf(out, len, "freeze %d goes on", cyc);
    else if (strncmp(t, "thaw_start", 10) == 0) snprintf(out, len, "thaw %d", cyc);
    else if (strncmp(t, "thaw_end", 8) == 0) snprintf(out, len, "thaw %d end", cyc);
    else if (strncmp(t, "note ", 5) == 0 && strstr(t, "text=")) { /* "note [from=X ]text=..." */
        char words[CN_EVENT_TEXT_MAX];
        if (cn_event_get(t, "text", words, sizeof words) == CN_OK)
            snprintf(out, len, "note: %s", words);
        else
            snprintf(out, len, "note");
    }
    else if (strncmp(t, "alarm set=", 10) == 0 || strncmp(t, "alarm clear=", 12) == 0) {
        /* the words the screen showed when the file has them, else the bits */
        const bool set = t[6] == 's';
        char words[200], bits[32];
        if (cn_event_get(t, "text", words, sizeof words) == CN_OK && words[0])
            snprintf(out, len, "alarm%s: %s", set ? "" : " cleared", words);
        else if (cn_event_get(t, set ? "set" : "clear", bits, sizeof bits) == CN_OK)
            snprintf(out, len, "alarm%s %s", set ? "" : " cleared", bits);
        else
            snprintf(out, len, "alarm%s %s", set ? "" : " cleared", t + (set ? 10 : 12));
    }
    else if (strncmp(t, "recording_error", 15) == 0) snprintf(out, len, "recording error");
    else {
        size_t n = strcspn(t, " ");
        snprintf(out, len, "%.*s", (int)n, t);
        for (char *p = out; *p; p++)
            if (*p == '_') *p = ' ';
    }
}

int cn_seq_chapters(cn_seq_reader *r, cn_seq_chapter **out, int *n_out, char *err, size_t err_len) {
    *out = NULL;
    *n_out = 0;
    const cn_seq_info *in = cn_seq_reader_info(r);
    int cap = 0, n = 0;
    cn_seq_chapter *v = NULL;
    bool have_t0 = false;
    double t0 = 0;
    for (int i = 0; i < in->n_frames; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, err_len);
        if (nf < 0) {
            free(v);
            return nf;
        }
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        double t = NAN;
        if (ts && cn_seqio_parse_doubles(ts, &t, 1) == 1 && isfinite(t) && !have_t0) {
            t0 = t;
            have_t0 = true;
        }
        const char *evs = cn_seq_field_find(fl, nf, "CryoNavEvents");
        const char *note = cn_seq_field_find(fl, nf, "CryoNavNote");
        if (!evs && !note) continue;
        int64_t tns = isfinite(t) && fabs(t) < 9e9 ? llround(t * 1e9) : 0;
        cn_event ev[CN_EVENTS_MAX + 1];
        int ne = evs ? cn_seq_events_parse(evs, tns, ev, CN_EVENTS_MAX) : 0;
        if (ne > CN_EVENTS_MAX) ne = CN_EVENTS_MAX;
        if (note) {
            cn_analysis tmp;
            tmp.n_events = 0;
            cn_analysis_add_event(&tmp, CN_EVSRC_OPERATOR, tns, "note text=%s", note);
            ev[ne++] = tmp.events[0];
        }
        for (int k = 0; k < ne; k++) {
            if (n == cap) {
                /* bounded by the events lines the file really has */
                int nc = cap ? cap + cap / 2 : 16;
                cn_seq_chapter *nv = realloc(v, (size_t)nc * sizeof *nv);
                if (!nv) {
                    free(v);
                    return CN_ENOMEM;
                }
                v = nv;
                cap = nc;
            }
            cn_seq_chapter *c = &v[n++];
            memset(c, 0, sizeof *c);
            c->frame = i;
            c->t_s = have_t0 ? (double)ev[k].t_scene_ns * 1e-9 - t0 : 0;
            c->source = ev[k].source;
            cn_strlcpy(c->text, ev[k].text, sizeof c->text);
            chapter_name(&ev[k], c->name, sizeof c->name);
        }
    }
    /* Within a frame in time order (stable; frames already are): the steps a recording
     * started mid-session carries on its first frame came in the order they were kept,
     * and "needle in" at -20 s was chapter 2, after one at 0 s (review 41a). */
    for (int i = 1; i < n; i++) {
        cn_seq_chapter c = v[i];
        int j = i;
        while (j > 0 && v[j - 1].frame == c.frame && v[j - 1].t_s > c.t_s) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = c;
    }
    *out = v;
    *n_out = n;
    return CN_OK;
}

/* Lower case, single spaces, no spaces at the ends. */
static void norm(const char *s, char *o, size_t len) {
    size_t k = 0;
    bool space = false;
    while (*s == ' ') s++;
    for (; *s && k + 1 < len; s++) {
        if (*s == ' ' || *s == '_') {
            space = true;
            continue;
        }
        if (space && k > 0 && k + 2 < len) o[k++] = ' ';
        space = false;
        o[k++] = (char)tolower((unsigned char)*s);
    }
    o[k] = 0;
}

int cn_seq_chapter_find(const cn_seq_chapter *c, int n, const char *what) {
    char w[160], x[160];
    norm(what, w, sizeof w);
    if (!w[0]) return -1;
    for (int i = 0; i < n; i++) {
        norm(c[i].name, x, sizeof x);
        if (strcmp(x, w) == 0) return i;
    }
    for (int i = 0; i < n; i++) {
        norm(c[i].text, x, sizeof x);
        if (strncmp(x, w, strlen(w)) == 0) return i;
    }
    char *e;
    long k = strtol(what, &e, 10);
    if (e != what && *e == 0 && k >= 1 && k <= n) return (int)k - 1;
    return -1;
}
