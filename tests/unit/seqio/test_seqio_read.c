/*
 * test_seqio_read.c - every real PLUS file in the shared data is read correctly.
 *
 * Expected dimensions come from the data README; every transform, status and
 * timestamp is compared with values this test parses itself from the header text
 * (a deliberately naive sscanf scan, independent of the reader), and the pixels of
 * every frame are compared with ITK's MetaImage / NRRD readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itk_helper.h"
#include "seqio/seqio.h"

typedef struct {
    const char *name;
    int w, h, n, comp;
    cn_seq_pixel pix;
    bool compressed;
} expect_t;

static const expect_t files[] = {
    {"SpinePhantomFreehand.igs.mha", 820, 616, 21, 1, CN_PIX_UINT8, true},
    {"BoneUltrasound_L14.igs.mha", 820, 616, 21, 1, CN_PIX_UINT8, true},
    {"NwirePhantomFreehand.igs.mha", 820, 616, 97, 1, CN_PIX_UINT8, true},
    {"NwirePhantomFreehand.igs.nrrd", 820, 616, 97, 1, CN_PIX_UINT8, true},
    {"Prostate10_video.igs.mhd", 640, 480, 10, 1, CN_PIX_UINT8, false},
    {"Prostate10_tracker.igs.mha", 1, 1, 10, 1, CN_PIX_UINT8, false},
    {"NrrdSample.igs.nrrd", 256, 256, 1, 1, CN_PIX_INT16, true},
    {"ColorNrrdSample.igs.nrrd", 1152, 648, 1, 3, CN_PIX_UINT8, true},
    {"TransformInterpolationTest.igs.mha", 1, 1, 500, 1, CN_PIX_UINT8, true},
    {"SyntheticVideoBuffer20.igs.mha", 320, 240, 20, 1, CN_PIX_UINT8, true},
    {"SyntheticTrackerBuffer20.igs.mha", 1, 1, 20, 1, CN_PIX_UINT8, false},
};

static void path_of(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/plus/%s", CN_SHARED_DATA_DIR, name);
}

/* Independent scan: every Seq_Frame line of the header text. */
typedef struct {
    int frame;
    char key[128];
    char value[1024];
} hline;

static int scan_header(const char *path, hline **out) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    bool nrrd = strstr(path, ".nrrd") != NULL;
    static char line[1 << 16];
    int n = 0, cap = 1024;
    hline *v = malloc((size_t)cap * sizeof *v);
    while (fgets(line, sizeof line, fp)) {
        if (nrrd && (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))) break;
        if (!nrrd && strncmp(line, "ElementDataFile", 15) == 0) break;
        int fr;
        char key[128];
        if (sscanf(line, "Seq_Frame%d_%127[^ =:]", &fr, key) != 2) continue;
        const char *val = nrrd ? strstr(line, ":=") + 2 : strchr(line, '=') + 1;
        if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[n].frame = fr;
        snprintf(v[n].key, sizeof v[n].key, "%s", key);
        snprintf(v[n].value, sizeof v[n].value, "%s", val);
        n++;
    }
    fclose(fp);
    *out = v;
    return n;
}

static void test_real_file(const expect_t *e) {
    char path[1024], err[512];
    path_of(path, sizeof path, e->name);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    const cn_seq_info *in = cn_seq_reader_info(r);
    assert_int_equal(in->width, e->w);
    assert_int_equal(in->height, e->h);
    assert_int_equal(in->n_frames, e->n);
    assert_int_equal(in->components, e->comp);
    assert_int_equal(in->pixel, e->pix);
    assert_int_equal(in->compressed, e->compressed);

    /* fields: every line of the independent scan is found with the same value */
    hline *hl;
    int nh = scan_header(path, &hl);
    assert_true(nh > 0 || e->n == 1);
    int checked_xf = 0, checked_ts = 0;
    cn_frame_pool *pool = cn_frame_pool_new(1, 1152, 1152);
    cn_frame *f = cn_frame_pool_acquire(pool);
    for (int i = 0; i < nh; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, hl[i].frame, &fl, err, sizeof err);
        assert_true(nf > 0);
        const char *v = cn_seq_field_find(fl, nf, hl[i].key);
        if (!v) fail_msg("%s frame %d: field %s missing", e->name, hl[i].frame, hl[i].key);
        double a[16], b[16];
        int na = 0, nb = 0;
        char *s = hl[i].value, *end;
        while (na < 16 && (a[na] = strtod(s, &end), end != s)) { na++; s = end; }
        const char *t = v;
        while (nb < 16 && (b[nb] = strtod(t, &end), end != t)) { nb++; t = (const char *)end; }
        assert_int_equal(na, nb);
        for (int k = 0; k < na; k++) assert_true(fabs(a[k] - b[k]) <= 1e-12 * fmax(1, fabs(a[k])));
        /* the frame conversion gives the same transform / timestamp */
        size_t kl = strlen(hl[i].key);
        if (in->pixel == CN_PIX_UINT8 && kl > 9 && strcmp(hl[i].key + kl - 9, "Transform") == 0 &&
            na == 16) {
            assert_int_equal(cn_seq_reader_read_frame(r, hl[i].frame, f, err, sizeof err), CN_OK);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(kl - 9), hl[i].key);
            const cn_pose *p = cn_frame_get_pose(f, name);
            if (!p) fail_msg("%s frame %d: pose %s missing", e->name, hl[i].frame, name);
            for (int k = 0; k < 16; k++) assert_true(fabs(p->m.m[k] - a[k]) <= 1e-9 * fmax(1, fabs(a[k])));
            /* status from the independent scan */
            bool valid = true;
            for (int j = 0; j < nh; j++)
                if (hl[j].frame == hl[i].frame && strncmp(hl[j].key, hl[i].key, kl) == 0 &&
                    strcmp(hl[j].key + kl, "Status") == 0)
                    valid = strncmp(hl[j].value, " OK", 3) == 0 || strncmp(hl[j].value, "OK", 2) == 0;
            assert_int_equal(p->valid, valid);
            checked_xf++;
        }
        if (strcmp(hl[i].key, "Timestamp") == 0) {
            assert_true(fabs(cn_seq_reader_timestamp(r, hl[i].frame) - a[0]) < 1e-9);
            if (in->pixel == CN_PIX_UINT8) {
                assert_int_equal(cn_seq_reader_read_frame(r, hl[i].frame, f, err, sizeof err), CN_OK);
                assert_true(llabs(f->t_acq_ns - llround(a[0] * 1e9)) <= 1);
            }
            checked_ts++;
        }
    }
    if (strstr(e->name, "Freehand") || strstr(e->name, "Bone") || strstr(e->name, "Interp"))
        assert_true(checked_xf >= 2 * e->n);
    if (e->n > 1) assert_true(checked_ts >= e->n - 1);

    /* pixels against ITK, frames read in a shuffled order to exercise seeking */
    int dims[4], nd, nc, cb;
    unsigned char *ib;
    size_t il;
    if (cn_test_itk_read(path, dims, &nd, &nc, &cb, &ib, &il, err, sizeof err) != 0)
        fail_msg("%s: %s", e->name, err);
    assert_int_equal(il, in->frame_bytes * (size_t)in->n_frames);
    unsigned char *buf = malloc(in->frame_bytes ? in->frame_bytes : 1);
    for (int k = 0; k < in->n_frames; k++) {
        int i = (k * 7 + 3) % in->n_frames;
        assert_int_equal(cn_seq_reader_pixels(r, i, buf, in->frame_bytes, err, sizeof err), CN_OK);
        if (nc == in->n_frames * in->components && in->n_frames > 1) {
            /* ITK's NRRD reader turns the trailing 'list' axis into pixel components
             * (one 2-D image with n_frames components): frame i is every n-th byte */
            size_t np = in->frame_bytes / in->elem_bytes / (size_t)in->components;
            for (size_t p = 0; p < np; p++)
                if (buf[p] != ib[p * (size_t)in->n_frames + (size_t)i])
                    fail_msg("%s frame %d pixel %zu: differs from ITK", e->name, i, p);
        } else if (memcmp(buf, ib + (size_t)i * in->frame_bytes, in->frame_bytes) != 0) {
            fail_msg("%s frame %d: pixels differ from ITK", e->name, i);
        }
    }
    free(buf);
    free(ib);
    free(hl);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
}

#define FILE_TEST(i) \
    static void test_file_##i(void **s) { (void)s; test_real_file(&files[i]); }
FILE_TEST(0) FILE_TEST(1) FILE_TEST(2) FILE_TEST(3) FILE_TEST(4) FILE_TEST(5)
FILE_TEST(6) FILE_TEST(7) FILE_TEST(8) FILE_TEST(9) FILE_TEST(10)

static void test_gap_and_types(void **s) {
    (void)s;
    char path[1024], err[512];
    /* Prostate10_video: frame 2 has no fields at all; it still exists */
    path_of(path, sizeof path, "Prostate10_video.igs.mhd");
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    assert_non_null(r);
    const cn_seq_field *fl;
    assert_int_equal(cn_seq_reader_fields(r, 2, &fl, err, sizeof err), 0);
    assert_true(isnan(cn_seq_reader_timestamp(r, 2)));
    assert_true(fabs(cn_seq_reader_timestamp(r, 3) - 2.0) < 1e-12);
    assert_int_equal(cn_seq_reader_info(r)->frames_with_fields, 9);
    cn_seq_reader_close(r);
    /* int16 holding 0..183 (PLUS's NrrdSample) is a B-mode frame as it is: each grey
     * level the stored value (before: refused, "int16 is not handled") */
    path_of(path, sizeof path, "NrrdSample.igs.nrrd");
    r = cn_seq_reader_open(path, err, sizeof err);
    assert_non_null(r);
    cn_frame_pool *pool = cn_frame_pool_new(1, 512, 512);
    cn_frame *f = cn_frame_pool_acquire(pool);
    if (cn_seq_reader_read_frame(r, 0, f, err, sizeof err) != CN_OK)
        fail_msg("%s", err);
    int16_t *raw = malloc(256 * 256 * 2);
    assert_int_equal(cn_seq_reader_pixels(r, 0, raw, 256 * 256 * 2, err, sizeof err), CN_OK);
    int hi = 0;
    for (int i = 0; i < 256 * 256; i++) {
        assert_true(raw[i] >= 0 && raw[i] <= 255);
        assert_int_equal(f->pixels[i], raw[i]);
        hi = raw[i] > hi ? raw[i] : hi;
    }
    assert_int_equal(hi, 183);
    free(raw);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
    /* colour frames become grey */
    path_of(path, sizeof path, "ColorNrrdSample.igs.nrrd");
    r = cn_seq_reader_open(path, err, sizeof err);
    pool = cn_frame_pool_new(1, 1152, 648);
    f = cn_frame_pool_acquire(pool);
    assert_int_equal(cn_seq_reader_read_frame(r, 0, f, err, sizeof err), CN_OK);
    assert_int_equal(f->width, 1152);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
}


/* Grey stored wider than 8 bits, written here in every type and both byte orders:
 * one window for the file from frame 0 (its 0.1..99.9th percentile, min..max for
 * 32-bit and float types) onto 0..255, the same for every frame, whichever frame is
 * read first. */
static void test_wide_grey(void **s) {
    (void)s;
    static const struct {
        const char *type;
        int bytes;
        bool sgn, flt;
    } ty[] = {{"MET_USHORT", 2, false, false}, {"MET_SHORT", 2, true, false},
              {"MET_UINT", 4, false, false},   {"MET_INT", 4, true, false},
              {"MET_FLOAT", 4, true, true},    {"MET_DOUBLE", 8, true, true},
              {"MET_CHAR", 1, true, false}};
    enum { W = 40, H = 25, N = W * H };
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/wide_grey.igs.mha", CN_BINARY_DIR);
    cn_frame_pool *pool = cn_frame_pool_new(1, W, H);
    for (size_t t = 0; t < sizeof ty / sizeof ty[0]; t++) {
        for (int big = 0; big < 2; big++) {
            /* frame 0 a ramp over [base, base + span), frame 1 the same ramp doubled */
            double base = ty[t].sgn ? -100 : 1000, span = ty[t].bytes == 1 ? 200 : 4000;
            FILE *fp = fopen(path, "wb");
            fprintf(fp, "ObjectType = Image\nNDims = 3\nBinaryData = True\n"
                        "BinaryDataByteOrderMSB = %s\nDimSize = %d %d 2\nElementType = %s\n"
                        "ElementDataFile = LOCAL\n", big ? "True" : "False", W, H, ty[t].type);
            for (int fr = 0; fr < 2; fr++)
                for (int i = 0; i < N; i++) {
                    double v = base + span * i / N * (fr ? 2 : 1);
                    if (ty[t].bytes == 1 && fr) v = base + span * i / N; /* int8 range */
                    uint8_t b[8];
                    if (ty[t].flt && ty[t].bytes == 4) { float x = (float)v; memcpy(b, &x, 4); }
                    else if (ty[t].flt) memcpy(b, &v, 8);
                    else if (ty[t].bytes == 1) b[0] = (uint8_t)(int8_t)lrint(v);
                    else if (ty[t].bytes == 2) { int16_t x = (int16_t)lrint(v); if (!ty[t].sgn) { uint16_t u = (uint16_t)lrint(v); memcpy(b, &u, 2); } else memcpy(b, &x, 2); }
                    else { int32_t x = (int32_t)lrint(v); memcpy(b, &x, 4); }
                    for (int k = 0; k < ty[t].bytes; k++)
                        fputc(b[big ? ty[t].bytes - 1 - k : k], fp); /* the host is little-endian */
                }
            fclose(fp);
            for (int first = 0; first < 2; first++) {
                cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
                if (!r) fail_msg("%s: %s", ty[t].type, err);
                uint8_t g[2][N];
                for (int k = 0; k < 2; k++) {
                    int fr = first ? 1 - k : k;
                    cn_frame *f = cn_frame_pool_acquire(pool);
                    if (cn_seq_reader_read_frame(r, fr, f, err, sizeof err) != CN_OK)
                        fail_msg("%s %s frame %d: %s", ty[t].type, big ? "MSB" : "LSB", fr, err);
                    memcpy(g[fr], f->pixels, N);
                    cn_frame_unref(f);
                }
                cn_seq_reader_close(r);
                /* frame 0's ramp spans 0..255 (within its percentile clip) */
                assert_true(g[0][0] <= 1 && g[0][N - 1] >= 254);
                assert_true(abs(g[0][N / 2] - 128) <= 3);
                for (int i = 1; i < N; i++)
                    assert_true(g[0][i] >= g[0][i - 1]);
                if (ty[t].bytes > 1) /* frame 1 through frame 0's window: saturates at half */
                    assert_true(g[1][N / 2 + 5] == 255 && g[1][N / 4] >= 120 && g[1][N / 4] <= 136);
            }
        }
    }
    cn_frame_pool_free(pool);
    unlink(path);
}

/* PLUS's UltrasoundImageOrientation: frames are read as MF (columns towards the probe's
 * marked side, rows into depth) whatever the file stores, as PLUS reads them. Each
 * stored image is made here from what the two letters mean (the first letter: where
 * the stored column index runs, the second: where the row index runs), not from the
 * reader's steps. Before, the code was ignored: a UN file was read upside down. */
static void test_orientation_turned_to_mf(void **s) {
    (void)s;
    enum { W = 7, H = 5 }; /* the MF image: W lateral positions, H depths */
    static const char *codes[] = {"MF", "MFA", "UF", "MN", "UN", "FM", "FU", "NM", "NU", "mn"};
    static const char *types[] = {"MET_UCHAR", "MET_SHORT", "RGB"};
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/orient.igs.mha", CN_BINARY_DIR);
    cn_frame_pool *pool = cn_frame_pool_new(1, 16, 16);
    for (size_t t = 0; t < 3; t++)
        for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
            const char a = (char)(codes[c][0] & ~0x20), b = (char)(codes[c][1] & ~0x20);
            const bool turned = a == 'F' || a == 'N';
            const int sw = turned ? H : W, sh = turned ? W : H;
            FILE *fp = fopen(path, "wb");
            assert_non_null(fp);
            /* the MF pixel size 0.2 mm across, 0.3 mm deep, stated per stored axis */
            fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = %d %d 1\n"
                        "ElementSpacing = %s 1\nElementType = %s\n%s"
                        "UltrasoundImageOrientation = %s\nElementDataFile = LOCAL\n",
                    sw, sh, turned ? "0.3 0.2" : "0.2 0.3",
                    t == 2 ? "MET_UCHAR" : types[t], t == 2 ? "ElementNumberOfChannels = 3\n" : "",
                    codes[c]);
            for (int j = 0; j < sh; j++)
                for (int i = 0; i < sw; i++) {
                    int m = 0, d = 0; /* lateral position towards the mark, depth */
                    const char dir[2] = {a, b};
                    const int idx[2] = {i, j};
                    for (int k = 0; k < 2; k++) {
                        if (dir[k] == 'M') m = idx[k];
                        if (dir[k] == 'U') m = W - 1 - idx[k];
                        if (dir[k] == 'F') d = idx[k];
                        if (dir[k] == 'N') d = H - 1 - idx[k];
                    }
                    int v = 10 * d + m; /* 0..46: grey as stored in every type */
                    if (t == 1) fputc(v, fp), fputc(0, fp);
                    else if (t == 2) fputc(v, fp), fputc(v, fp), fputc(v, fp);
                    else fputc(v, fp);
                }
            fclose(fp);
            cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
            if (!r) fail_msg("%s: %s", codes[c], err);
            const cn_seq_info *in = cn_seq_reader_info(r);
            assert_int_equal(in->width, W);
            assert_int_equal(in->height, H);
            cn_frame *f = cn_frame_pool_acquire(pool);
            if (cn_seq_reader_read_frame(r, 0, f, err, sizeof err) != CN_OK)
                fail_msg("%s: %s", codes[c], err);
            assert_int_equal(f->width, W);
            assert_int_equal(f->height, H);
            assert_true(fabs(f->spacing_mm[0] - 0.2) < 1e-9 && fabs(f->spacing_mm[1] - 0.3) < 1e-9);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int v = f->pixels[y * W + x];
                    if (v != 10 * y + x)
                        fail_msg("%s %s: pixel (%d, %d) is %d, MF has %d", types[t], codes[c], x,
                                 y, v, 10 * y + x);
                }
            cn_frame_unref(f);
            cn_seq_reader_close(r);
        }
    /* a code that is no orientation reads as stored */
    FILE *fp = fopen(path, "wb");
    fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = 2 2 1\nElementType = MET_UCHAR\n"
                "UltrasoundImageOrientation = XX\nElementDataFile = LOCAL\n");
    fputc(1, fp), fputc(2, fp), fputc(3, fp), fputc(4, fp);
    fclose(fp);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    assert_non_null(r);
    assert_true(cn_seq_reader_info(r)->orientation_unknown);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_int_equal(cn_seq_reader_read_frame(r, 0, f, err, sizeof err), CN_OK);
    assert_true(f->pixels[0] == 1 && f->pixels[3] == 4);
    cn_frame_unref(f);
    cn_seq_reader_close(r);
    cn_frame_pool_free(pool);
    unlink(path);
}

/* CryoNavIce carries the ice detector's fitted thickness about the probe axis as its
 * eighth value; a file written before it (seven values) reads as 0: unknown. */
static void test_ice_radius_field(void **s) {
    (void)s;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/ice_radius.igs.mha", CN_BINARY_DIR);
    FILE *fp = fopen(path, "wb");
    fprintf(fp, "ObjectType = Image\nNDims = 3\nBinaryData = True\nDimSize = 4 4 2\n"
                "ElementType = MET_UCHAR\n"
                "Seq_Frame0000_CryoNavIce = 1 0.900 3 10.000 20.000 5.000 8.000\n"
                "Seq_Frame0001_CryoNavIce = 1 0.900 3 10.000 20.000 5.000 8.000 4.250\n"
                "ElementDataFile = LOCAL\n");
    for (int i = 0; i < 32; i++) fputc(i, fp);
    fclose(fp);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    cn_frame_pool *pool = cn_frame_pool_new(1, 4, 4);
    for (int k = 0; k < 2; k++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_int_equal(cn_seq_reader_read_frame(r, k, f, err, sizeof err), CN_OK);
        assert_true(f->analysis.ice.found);
        assert_int_equal(f->analysis.ice.n, 3);
        assert_float_equal(f->analysis.ice.radius_mm, k ? 4.25 : 0, 1e-6);
        cn_frame_unref(f);
    }
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
    unlink(path);
}

/* Issue 14: tracking-only PLUS files name any ElementType (PLUS writes MET_OTHER,
 * size 0, when there is no image data); they read with their transforms. */
static void test_tracking_only_any_type(void **s) {
    (void)s;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tracking_other.igs.mha", CN_BINARY_DIR);
    static const char *types[] = {"MET_OTHER", "MET_FLOAT_MATRIX", NULL};
    static const char *dims[] = {"0 0 3", "1 1 3"};
    for (int t = 0; t < 3; t++) {
        for (int d = 0; d < 2; d++) {
            if (d == 1 && t != 0) continue; /* 1 x 1 frames: only MET_OTHER has no bytes */
            FILE *fp = fopen(path, "wb");
            fprintf(fp, "ObjectType = Image\nNDims = 3\nBinaryData = True\nDimSize = %s\n", dims[d]);
            if (types[t]) fprintf(fp, "ElementType = %s\n", types[t]);
            for (int i = 0; i < 3; i++)
                fprintf(fp, "Seq_Frame%04d_ToolToTrackerTransform = 1 0 0 %d 0 1 0 2 0 0 1 3 0 0 0 1\n"
                            "Seq_Frame%04d_ToolToTrackerTransformStatus = OK\nSeq_Frame%04d_Timestamp = %d.5\n",
                        i, i, i, i, i);
            fprintf(fp, "ElementDataFile = LOCAL\n");
            fclose(fp);
            cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
            if (!r) fail_msg("%s with DimSize %s: %s", types[t] ? types[t] : "(no type)", dims[d], err);
            assert_int_equal(cn_seq_reader_info(r)->n_frames, 3);
            assert_int_equal(cn_seq_reader_info(r)->frame_bytes, 0);
            const cn_seq_field *fl;
            int nf = cn_seq_reader_fields(r, 2, &fl, err, sizeof err);
            assert_string_equal(cn_seq_field_find(fl, nf, "ToolToTrackerTransform"),
                                "1 0 0 2 0 1 0 2 0 0 1 3 0 0 0 1");
            assert_float_equal(cn_seq_reader_timestamp(r, 1), 1.5, 1e-12);
            cn_seq_reader_close(r);
        }
    }
    unlink(path);
}

/* Slicer's .seq.nrrd (4-D, list axis last) written by hand: sizes, frame count and
 * the "index values" as timestamps; the old layout (list axis first) is refused. */
static void test_slicer_seq_nrrd(void **s) {
    (void)s;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/slicer_test.seq.nrrd", CN_BINARY_DIR);
    const int w = 6, h = 4, n = 5;
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "NRRD0004\n# Complete NRRD file format specification at:\n"
                "type: unsigned char\ndimension: 4\nspace: left-posterior-superior\n"
                "sizes: %d %d 1 %d\nspace directions: (0.5,0,0) (0,0.25,0) (0,0,1) none\n"
                "kinds: domain domain domain list\nlabels: \"\" \"\" \"\" \"time\"\n"
                "endian: little\nencoding: raw\nspace origin: (0,0,0)\n"
                "axis 3 index type:=numeric\naxis 3 index values:=0.5 1.25 2 2.75 3.5\n"
                "DataNodeClassName:=vtkMRMLScalarVolumeNode\n\n",
            w, h, n);
    for (int i = 0; i < n * w * h; i++) fputc(i & 0xff, fp);
    fclose(fp);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    const cn_seq_info *in = cn_seq_reader_info(r);
    assert_true(in->slicer_seq);
    assert_int_equal(in->width, w);
    assert_int_equal(in->height, h);
    assert_int_equal(in->n_frames, n);
    assert_float_equal(in->spacing[0], 0.5, 1e-12);
    assert_float_equal(in->spacing[1], 0.25, 1e-12);
    assert_float_equal(cn_seq_reader_timestamp(r, 3), 2.75, 1e-12);
    cn_frame_pool *pool = cn_frame_pool_new(1, 16, 16);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_int_equal(cn_seq_reader_read_frame(r, 2, f, err, sizeof err), CN_OK);
    assert_int_equal(f->pixels[0], (2 * w * h) & 0xff);
    assert_int_equal(f->t_acq_ns, 2000000000LL);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
    fp = fopen(path, "wb");
    fprintf(fp, "NRRD0004\ntype: uint8\ndimension: 4\nsizes: %d %d %d 1\n"
                "kinds: list domain domain domain\nencoding: raw\n\n", n, w, h);
    for (int i = 0; i < n * w * h; i++) fputc(i & 0xff, fp);
    fclose(fp);
    assert_null(cn_seq_reader_open(path, err, sizeof err));
    assert_non_null(strstr(err, "list axis last"));
    unlink(path);
}

/* Slicer's MetaImage writer: "Key =value" (no space after '=') and a repeated
 * value (UltrasoundImageType = BRIGHTNESSBRIGHTNESS) read like PLUS's spelling. */
static void test_slicer_spelling(void **s) {
    (void)s;
    char src[1024], path[1024], err[512];
    snprintf(src, sizeof src, "%s/plus/SyntheticTrackerBuffer20.igs.mha", CN_SHARED_DATA_DIR);
    snprintf(path, sizeof path, "%s/slicer_spelling.seq.mha", CN_BINARY_DIR);
    size_t len;
    char *b = cn_file_read_all(src, &len);
    assert_non_null(b);
    FILE *fp = fopen(path, "wb");
    fputs("ObjectType =Image\nUltrasoundImageType =BRIGHTNESSBRIGHTNESS\n", fp);
    char *p = strchr(b, '\n') + 1; /* skip the original ObjectType line */
    while (p < b + len) {
        char *e = memchr(p, '\n', (size_t)(b + len - p));
        size_t l = e ? (size_t)(e - p + 1) : (size_t)(b + len - p);
        char *eq = memchr(p, '=', l);
        bool data = strncmp(p, "ElementDataFile", 15) == 0;
        if (eq && eq + 1 < p + l && eq[1] == ' ') { /* "Key = value" -> "Key =value" */
            fwrite(p, 1, (size_t)(eq - p + 1), fp);
            fwrite(eq + 2, 1, l - (size_t)(eq - p + 2), fp);
        } else {
            fwrite(p, 1, l, fp);
        }
        p += l;
        if (data) {
            fwrite(p, 1, (size_t)(b + len - p), fp); /* the pixel bytes as they are */
            break;
        }
    }
    fclose(fp);
    cn_seq_reader *a = cn_seq_reader_open(src, err, sizeof err);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    assert_string_equal(cn_seq_reader_info(r)->image_type, "BRIGHTNESSBRIGHTNESS");
    assert_int_equal(cn_seq_reader_info(r)->n_frames, 20);
    for (int i = 0; i < 20; i++) {
        const cn_seq_field *fa, *fr;
        int na = cn_seq_reader_fields(a, i, &fa, err, sizeof err);
        char keep[4096] = "";
        for (int k = 0; k < na; k++) {
            strncat(keep, fa[k].key, sizeof keep - strlen(keep) - 1);
            strncat(keep, "=", sizeof keep - strlen(keep) - 1);
            strncat(keep, fa[k].value, sizeof keep - strlen(keep) - 1);
            strncat(keep, ";", sizeof keep - strlen(keep) - 1);
        }
        int nr = cn_seq_reader_fields(r, i, &fr, err, sizeof err);
        char got[4096] = "";
        for (int k = 0; k < nr; k++) {
            strncat(got, fr[k].key, sizeof got - strlen(got) - 1);
            strncat(got, "=", sizeof got - strlen(got) - 1);
            strncat(got, fr[k].value, sizeof got - strlen(got) - 1);
            strncat(got, ";", sizeof got - strlen(got) - 1);
        }
        assert_string_equal(got, keep);
        assert_true(fabs(cn_seq_reader_timestamp(r, i) - (1.0 + 0.5 * i)) < 1e-9);
    }
    cn_seq_reader_close(a);
    cn_seq_reader_close(r);
    free(b);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_0), cmocka_unit_test(test_file_1), cmocka_unit_test(test_file_2),
        cmocka_unit_test(test_file_3), cmocka_unit_test(test_file_4), cmocka_unit_test(test_file_5),
        cmocka_unit_test(test_file_6), cmocka_unit_test(test_file_7), cmocka_unit_test(test_file_8),
        cmocka_unit_test(test_file_9), cmocka_unit_test(test_file_10),
        cmocka_unit_test(test_gap_and_types),
        cmocka_unit_test(test_wide_grey),
        cmocka_unit_test(test_orientation_turned_to_mf),
        cmocka_unit_test(test_ice_radius_field),
        cmocka_unit_test(test_tracking_only_any_type),
        cmocka_unit_test(test_slicer_seq_nrrd),
        cmocka_unit_test(test_slicer_spelling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
