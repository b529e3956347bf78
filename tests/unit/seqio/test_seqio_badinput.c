/*
 * test_seqio_badinput.c - bad input gives a clear error, never a crash, a hang or a
 * huge allocation: truncated files, headers lying about sizes, wrong compressed
 * sizes, missing data files, garbage, damaged journals, and a fuzz-style loop over
 * mutated real headers (run under ASan/UBSan in CI).
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

#include "seqio/seqio.h"

static char *slurp(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/plus/%s", CN_SHARED_DATA_DIR, name);
    char *b = cn_file_read_all(path, len);
    assert_non_null(b);
    return b;
}

static void put(const char *path, const void *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
}

/* Opens and reads every frame; returns 0 if all fine, else the first error. The
 * error text must name the file. */
static int try_read(const char *path, char *err, size_t err_len) {
    cn_seq_reader *r = cn_seq_reader_open(path, err, err_len);
    if (!r) {
        assert_non_null(strstr(err, path));
        return -1;
    }
    const cn_seq_info *in = cn_seq_reader_info(r);
    void *buf = malloc(in->frame_bytes ? in->frame_bytes : 1);
    int rc = 0;
    for (int i = 0; i < in->n_frames && rc == 0; i++) {
        const cn_seq_field *fl;
        if (cn_seq_reader_fields(r, i, &fl, err, err_len) < 0) rc = -2;
        else if (cn_seq_reader_pixels(r, i, buf, in->frame_bytes, err, err_len) != CN_OK) rc = -3;
    }
    if (rc) assert_non_null(strstr(err, path));
    free(buf);
    /* and as a replay reads them: B-mode frames, grey of any type through the file's
     * window (a mutated ElementType makes a uint8 file int16, ...), colour as luma */
    cn_frame_pool *pool = in->width > 0 && in->height > 0 && in->width <= 2048 &&
                                  in->height <= 2048 && in->frame_bytes > 0
                              ? cn_frame_pool_new(1, in->width, in->height)
                              : NULL;
    for (int i = 0; pool && i < in->n_frames && i < 4; i++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        if (cn_seq_reader_read_frame(r, i, f, err, err_len) != CN_OK)
            assert_non_null(strstr(err, path));
        cn_frame_unref(f);
    }
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
    return rc;
}

static void replace(char *b, size_t len, const char *from, const char *to) {
    char *p = memmem(b, len, from, strlen(from));
    assert_non_null(p);
    assert_true(strlen(to) <= strlen(from));
    memset(p, ' ', strlen(from));
    memcpy(p, to, strlen(to));
}

static void test_truncated(void **s) {
    (void)s;
    size_t len;
    char *b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_trunc.igs.mha", CN_BINARY_DIR);
    size_t cuts[] = {0, 5, 100, 2000, len / 2, len - 4000, len - 10, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        put(path, b, cuts[i]);
        assert_int_not_equal(try_read(path, err, sizeof err), 0);
    }
    free(b);
    b = slurp("Prostate10_tracker.igs.mha", &len);
    put(path, b, len - 3); /* 10 bytes of "pixels" become 7 */
    assert_int_equal(try_read(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    free(b);
    unlink(path);
}

/* A cut file of CryoNav's own formats: the error sends to `cryonav recover` only a file it
 * can cut (a .igs.mha holding its pixels). Before, a cut .igs.nrrd was sent there too, and
 * recover refused it as "not a MetaImage sequence file" (the thirty-sixth session's
 * review). */
static void test_cut_recording_hint(void **s) {
    (void)s;
    const cn_seq_format fmts[2] = {CN_SEQ_MHA, CN_SEQ_NRRD};
    for (int k = 0; k < 2; k++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/bad_cut_hint.igs.%s", CN_BINARY_DIR, k ? "nrrd" : "mha");
        cn_seq_writer_opts o = {.format = fmts[k], .compress = false};
        cn_seq_writer *w = cn_seq_writer_open(path, &o, err, sizeof err);
        if (!w) fail_msg("%s", err);
        cn_frame_pool *pool = cn_frame_pool_new(1, 64, 48);
        cn_frame *f = cn_frame_pool_acquire(pool);
        f->width = 64;
        f->height = 48;
        f->spacing_mm[0] = f->spacing_mm[1] = 0.2;
        for (int i = 0; i < 6; i++) {
            memset(f->pixels, 10 * i, 64 * 48);
            f->seq = (uint64_t)i;
            f->t_acq_ns = f->t_scene_ns = 1000000000LL + i * 100000000LL;
            if (cn_seq_writer_append(w, f, NULL, err, sizeof err) != CN_OK) fail_msg("%s", err);
        }
        assert_int_equal(cn_seq_writer_close(w, err, sizeof err), CN_OK);
        cn_frame_unref(f);
        cn_frame_pool_free(pool);
        size_t len;
        char *b = cn_file_read_all(path, &len);
        assert_non_null(b);
        put(path, b, len - 3000); /* a frame and a half short */
        free(b);
        assert_int_equal(try_read(path, err, sizeof err), -1);
        print_message("%s cut: %s\n", k ? "nrrd" : "mha", err);
        assert_non_null(strstr(err, "truncated"));
        if (k == 0)
            assert_non_null(strstr(err, "`cryonav recover FILE`"));
        else
            assert_null(strstr(err, "`cryonav recover FILE`"));
        unlink(path);
    }
}

/* A header whose ElementSpacing is no pixel size (negative, absurd): 1 mm/px assumed, and
 * said as what it is. Before, 1e300 mm was taken as it stood (every distance off by as
 * much) and -0.3 was described as "none in the file" (the thirty-sixth session's review). */
static void test_spacing_that_is_none(void **s) {
    (void)s;
    const char *sp[3] = {"-0.3 0.3 1", "1e300 1e300 1", "0.25 0.25 1"};
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_spacing.igs.mha", CN_BINARY_DIR);
    for (int k = 0; k < 3; k++) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = 8 8 2\nElementSpacing = %s\n"
                    "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n", sp[k]);
        for (int i = 0; i < 128; i++)
            fputc(i, fp);
        fclose(fp);
        cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
        if (!r) fail_msg("%s", err);
        const cn_seq_info *in = cn_seq_reader_info(r);
        print_message("ElementSpacing %s: %g x %g from %s%s\n", sp[k], in->spacing[0],
                      in->spacing[1], in->spacing_source, in->spacing_invalid ? " (invalid)" : "");
        if (k < 2) {
            assert_string_equal(in->spacing_source, "none");
            assert_true(in->spacing_invalid);
            assert_true(in->spacing[0] == 1 && in->spacing[1] == 1);
        } else {
            assert_string_equal(in->spacing_source, "ElementSpacing");
            assert_false(in->spacing_invalid);
            assert_true(in->spacing[0] == 0.25);
        }
        cn_seq_reader_close(r);
    }
    unlink(path);
}

/* CompressedData = True over raw pixels passed `info` and failed the replay's first
 * frame; now the file is refused at open, saying why. A NRRD whose space directions
 * point an axis backwards (a mirrored image) was read as plain spacing with nothing
 * said; now cn_seq_info.mirrored says which axis (the pixels are read as stored). */
static void test_header_that_lies_about_its_data(void **s) {
    (void)s;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_comp.igs.mha", CN_BINARY_DIR);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "ObjectType = Image\nNDims = 3\nDimSize = 8 8 2\nElementType = MET_UCHAR\n"
                "CompressedData = True\nElementDataFile = LOCAL\n");
    for (int i = 0; i < 128; i++)
        fputc(i, fp);
    fclose(fp);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (r) fail_msg("raw pixels under CompressedData = True were opened");
    print_message("%s\n", err);
    assert_non_null(strstr(err, "bad_comp.igs.mha"));
    assert_non_null(strstr(err, "CompressedData = True"));
    assert_non_null(strstr(err, "zlib"));
    unlink(path);
    snprintf(path, sizeof path, "%s/mirrored.igs.nrrd", CN_BINARY_DIR);
    const char *dirs[3] = {"(-0.2,0) (0,0.3) none", "(0.2,0) (0,-0.3) none",
                           "(0.2,0) (0,0.3) none"};
    for (int k = 0; k < 3; k++) {
        fp = fopen(path, "wb");
        fprintf(fp, "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 8 2\nkinds: domain domain "
                    "list\nspace directions: %s\nencoding: raw\n\n", dirs[k]);
        for (int i = 0; i < 128; i++)
            fputc(i, fp);
        fclose(fp);
        r = cn_seq_reader_open(path, err, sizeof err);
        if (!r) fail_msg("%s", err);
        const cn_seq_info *in = cn_seq_reader_info(r);
        assert_int_equal(in->mirrored, k == 0 ? 1u : k == 1 ? 2u : 0u);
        assert_true(fabs(in->spacing[0] - 0.2) < 1e-9 && fabs(in->spacing[1] - 0.3) < 1e-9);
        char *text = NULL;
        size_t tl = 0;
        FILE *mf = open_memstream(&text, &tl);
        assert_int_equal(cn_seq_describe(r, mf, err, sizeof err), CN_OK);
        fclose(mf);
        assert_true((strstr(text, "backwards") != NULL) == (k < 2));
        assert_non_null(strstr(text, "spacing 0.2 0.3 (from space directions)"));
        free(text);
        cn_seq_reader_close(r);
    }
    unlink(path);
}

/* A transform that is no 4 x 4 matrix (3 numbers) was counted "valid" by info, and the
 * replay dropped it without a word (review 41a): info now says how many and where. */
static void test_malformed_transform_said(void **s) {
    (void)s;
    size_t len;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_matrix.igs.mha", CN_BINARY_DIR);
    char *b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "Seq_Frame0003_ToolToTrackerTransform = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1",
            "Seq_Frame0003_ToolToTrackerTransform = 1 0 0");
    put(path, b, len);
    free(b);
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    char *text = NULL;
    size_t tl = 0;
    FILE *mf = open_memstream(&text, &tl);
    assert_int_equal(cn_seq_describe(r, mf, err, sizeof err), CN_OK);
    fclose(mf);
    cn_seq_reader_close(r);
    const char *line = strstr(text, "transform ToolToTracker:");
    assert_non_null(line);
    print_message("%.*s\n", (int)strcspn(line, "\n"), line);
    assert_non_null(strstr(line, "20 frames, 19 valid, 1 not a 4 x 4 matrix (first: frame 3"));
    free(text);
    unlink(path);
}

static void test_lying_headers(void **s) {
    (void)s;
    size_t len;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_lie.igs.mha", CN_BINARY_DIR);
    char *b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    /* DimSize claims 2 billion frames: refused before any allocation */
    replace(b, len, "DimSize = 320 240 20          ", "DimSize = 320 240 2000000000");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "frames"));
    free(b);
    b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "DimSize = 320 240 20          ", "DimSize = 60000 60000 20");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    free(b);
    /* CompressedDataSize larger than the file */
    b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "CompressedDataSize = 11364", "CompressedDataSize = 99999");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "CompressedDataSize"));
    free(b);
    /* CompressedDataSize too small: the stream ends inside a frame */
    b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "CompressedDataSize = 11364", "CompressedDataSize = 1136");
    put(path, b, len);
    assert_true(try_read(path, err, sizeof err) < 0);
    assert_non_null(strstr(err, "compressed"));
    free(b);
    /* a pixel type we do not know, named */
    b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "ElementType = MET_UCHAR", "ElementType = MET_LONG");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "MET_LONG"));
    free(b);
    /* a frame index far past DimSize */
    b = slurp("SyntheticVideoBuffer20.igs.mha", &len);
    replace(b, len, "Seq_Frame0005_Timestamp", "Seq_Frame9999_Timestamp");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    free(b);
    unlink(path);
}

static void test_missing_data_and_garbage(void **s) {
    (void)s;
    size_t len;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bad_missing.igs.mhd", CN_BINARY_DIR);
    char *b = slurp("Prostate10_video.igs.mhd", &len);
    replace(b, len, "ElementDataFile = Prostate10_video.raw", "ElementDataFile = nothere.raw");
    put(path, b, len);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "nothere.raw"));
    free(b);
    unlink(path);
    assert_int_equal(try_read("/nonexistent/x.igs.mha", err, sizeof err), -1);
    /* garbage: binary noise, one endless line, an empty file */
    snprintf(path, sizeof path, "%s/bad_garbage.igs.mha", CN_BINARY_DIR);
    cn_rng rng;
    cn_rng_seed(&rng, 42);
    size_t gl = 3u << 20;
    char *g = malloc(gl);
    for (size_t i = 0; i < gl; i++) g[i] = (char)cn_rng_next(&rng);
    put(path, g, gl);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    memset(g, 'A', gl);
    memcpy(g, "ObjectType = Image\nNDims = 3\nX = ", 33);
    put(path, g, gl);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    put(path, g, 0);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    const char *nr = "NRRD0004\ndimension: 3\nsizes: 5 5 999999999\ntype: uint8\nencoding: raw\n\n";
    memcpy(g, nr, strlen(nr));
    put(path, g, strlen(nr) + 8);
    assert_int_equal(try_read(path, err, sizeof err), -1);
    free(g);
    unlink(path);
}

static void test_bad_journal(void **s) {
    (void)s;
    char path[1024], jp[1100], pp[1100], err[512];
    snprintf(path, sizeof path, "%s/bad_journal.igs.mha", CN_BINARY_DIR);
    snprintf(jp, sizeof jp, "%s.journal", path);
    snprintf(pp, sizeof pp, "%s.part", path);
    unlink(path);
    assert_int_equal(cn_seq_recover(path, NULL, NULL, NULL, err, sizeof err), CN_ENOENT);
    put(jp, "garbage\n", 8);
    put(pp, "xx", 2);
    assert_int_not_equal(cn_seq_recover(path, NULL, NULL, NULL, err, sizeof err), CN_OK);
    /* a commit line claiming more pixels than the part file holds */
    const char *j = "CNSEQJOURNAL 1\nformat mha\ncompress 0\nsize 4 4\nF 0\nTimestamp = 1\n"
                    "C 0 16 0 0 0 16\nF 1\nTimestamp = 2\nC 1 32 0 0 0 32\nF 2\nTimest";
    put(jp, j, strlen(j));
    put(pp, "0123456789abcdef0123", 20);
    int n = 0, d = 0;
    assert_int_equal(cn_seq_recover(path, NULL, &n, &d, err, sizeof err), CN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(d, 2);
    assert_int_equal(try_read(path, err, sizeof err), 0);
    unlink(path);
    unlink(jp);
    unlink(pp);
}

/* Fuzz-style: random byte and line mutations of real headers. */
static void fuzz_one(const char *name, int iters, uint64_t seed) {
    size_t len;
    char *orig = slurp(name, &len);
    size_t flen = len > 300000 ? 300000 : len;
    char *b = malloc(flen);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/fuzz_%s", CN_BINARY_DIR, name);
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    static const char *tokens[] = {"0", "-1", "99999999999", "4294967296", "1e308", "nan", "",
                                   "=", ":=", "\n", "LOCAL", "True", "False", "gz", "MET_SHORT"};
    for (int it = 0; it < iters; it++) {
        memcpy(b, orig, flen);
        size_t hdr = flen < 20000 ? flen : 20000; /* mutate mostly the header */
        int nm = 1 + (int)(cn_rng_next(&rng) % 4);
        for (int m = 0; m < nm; m++) {
            size_t at = (size_t)(cn_rng_next(&rng) % hdr);
            switch (cn_rng_next(&rng) % 3) {
            case 0: b[at] = (char)cn_rng_next(&rng); break;
            case 1: b[at] = "0123456789 =\n"[cn_rng_next(&rng) % 13]; break;
            default: {
                const char *t = tokens[cn_rng_next(&rng) % (sizeof tokens / sizeof tokens[0])];
                size_t tl = strlen(t);
                if (at + tl < flen) memcpy(b + at, t, tl);
            }
            }
        }
        size_t cut = cn_rng_next(&rng) % 4 == 0 ? (size_t)(cn_rng_next(&rng) % flen) : flen;
        put(path, b, cut);
        try_read(path, err, sizeof err); /* any outcome but a crash / hang is fine */
    }
    unlink(path);
    free(b);
    free(orig);
}

static void test_fuzz(void **s) {
    (void)s;
    fuzz_one("SyntheticVideoBuffer20.igs.mha", 300, 1);
    fuzz_one("Prostate10_tracker.igs.mha", 300, 2);
    fuzz_one("TransformInterpolationTest.igs.mha", 100, 3);
    fuzz_one("NrrdSample.igs.nrrd", 300, 4);
    fuzz_one("ColorNrrdSample.igs.nrrd", 100, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_cut_recording_hint),
        cmocka_unit_test(test_spacing_that_is_none),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_header_that_lies_about_its_data),
        cmocka_unit_test(test_missing_data_and_garbage),
        cmocka_unit_test(test_bad_journal),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_malformed_transform_said),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
