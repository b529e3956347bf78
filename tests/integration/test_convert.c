/*
 * test_convert.c - `cryonav convert IN OUT`: a cine kept as images made a sequence file
 * that replays. The real needle sequence's 25 PNG frames (a folder), a DICOM cine that
 * dcmtk writes with its Frame Time and Pixel Spacing, ImageMagick's GIF animation: each
 * converted, read back with seqio's reader frame by frame (pixels exactly the frames',
 * the pixel size and the frame times as stated or given), and the folder's file
 * replayed through the navigator. Refusals: no pixel size anywhere, frames of two
 * sizes, an OUT that exists; nothing is left under OUT's name by a refusal. `replay`
 * and `info` given the GIF itself name the command that converts it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "run_util.h"
#include "../test_bmp.h"

#include "core/core.h"
#include "imaging/imaging.h"
#include "seqio/seqio.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static run_result R;

static const char *path_in(const char *name)
{
    static char p[16][600]; /* a ring: up to 16 paths at once */
    static int k;
    k = (k + 1) % 16;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Every frame of seq against the images expected[0..n-1]; frame times k * step_s. */
static void check_sequence(const char *seq, cn_image *const *expected, int n, double sx, double sy,
                           double step_s)
{
    char err[1024];
    cn_seq_reader *r = cn_seq_reader_open(seq, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    const cn_seq_info *in = cn_seq_reader_info(r);
    assert_int_equal(in->n_frames, n);
    cn_frame_pool *pool = cn_frame_pool_new(1, in->width, in->height);
    assert_non_null(pool);
    for (int k = 0; k < n; k++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_int_equal(cn_seq_reader_read_frame(r, k, f, err, sizeof err), CN_OK);
        assert_int_equal(f->width, expected[k]->w);
        assert_int_equal(f->height, expected[k]->h);
        assert_memory_equal(f->pixels, expected[k]->px, (size_t)f->width * f->height);
        assert_true(fabs(f->spacing_mm[0] - sx) < 1e-9 && fabs(f->spacing_mm[1] - sy) < 1e-9);
        assert_true(fabs(cn_seq_reader_timestamp(r, k) - k * step_s) < 1e-6);
        cn_frame_unref(f);
    }
    cn_frame_pool_free(pool);
    cn_seq_reader_close(r);
}

/* The real in-vitro needle sequence: a folder of 25 PNG frames, 0.1 mm given, 20 fps by
 * default; then replayed through the navigator, every frame analysed. */
static void test_convert_folder_and_replay(void **st)
{
    (void)st;
    char frames[600];
    snprintf(frames, sizeof frames, "%s/needle-us/xgts/sample/needle_14/image", CN_SHARED_DATA_DIR);
    if (!exists(frames)) {
        print_message("skipped: %s is absent\n", frames);
        skip();
    }
    const char *out = path_in("n14.igs.mha");
    /* no pixel size: refused, named, nothing written */
    const char *a0[] = {CN_CRYONAV_BIN, "convert", frames, out, NULL};
    assert_int_equal(run_prog(a0, NULL, NULL, 120, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "states no pixel size: give --spacing-mm"));
    assert_false(exists(out));
    const char *a1[] = {CN_CRYONAV_BIN, "convert", frames, out, "--spacing-mm", "0.1", NULL};
    assert_int_equal(run_prog(a1, NULL, NULL, 120, &R), 0);
    assert_int_equal(R.exit_code, 0);
    print_message("%s", R.out);
    assert_non_null(strstr(R.out, "converted 25 frames (720 x 440, 20 fps from the default"));
    /* the frames, in name order, exactly */
    struct dirent **ents = NULL;
    const int m = scandir(frames, &ents, NULL, alphasort);
    cn_image *img[32];
    int n = 0;
    char err[512], p[1200];
    for (int i = 0; i < m; i++) {
        if (strstr(ents[i]->d_name, ".png") && n < 32) {
            snprintf(p, sizeof p, "%s/%s", frames, ents[i]->d_name);
            assert_int_equal(cn_image_read(p, CN_IMAGE_GREY, &img[n++], err, sizeof err), CN_OK);
        }
        free(ents[i]);
    }
    free(ents);
    assert_int_equal(n, 25);
    check_sequence(out, img, n, 0.1, 0.1, 0.05);
    for (int k = 0; k < n; k++)
        cn_image_free(img[k]);
    /* OUT exists: never overwritten */
    assert_int_equal(run_prog(a1, NULL, NULL, 120, &R), 0);
    assert_int_not_equal(R.exit_code, 0);
    assert_non_null(strstr(R.err, "n14.igs.mha"));
    /* replayed through the navigator, headless, as fast as it analyses */
    const char *rep = path_in("replayed.igs.mha");
    const char *a2[] = {CN_CRYONAV_BIN, "replay", out, "--headless", "--speed", "0", "--no-serve",
                        "-q", "--record", rep, NULL};
    assert_int_equal(run_prog(a2, NULL, NULL, 300, &R), 0);
    assert_int_equal(R.exit_code, 0);
    const char *a3[] = {CN_CRYONAV_BIN, "info", rep, NULL};
    assert_int_equal(run_prog(a3, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "frames 25"));
}

/* A scanner's cine as dcmtk writes it: 3 frames, Pixel Spacing 0.08 \ 0.1 (rows, then
 * columns), Frame Time 40 ms: 25 fps and the pixel size from the file. */
static void test_convert_dicom_cine(void **st)
{
    (void)st;
    if (system("command -v img2dcm >/dev/null && command -v dcmodify >/dev/null") != 0) {
        print_message("dcmtk not installed: skipped (scripts/deps.sh installs it)\n");
        skip();
    }
    enum { W = 38, H = 21, N = 3 };
    uint8_t px[N][W * H];
    for (int k = 0; k < N; k++)
        for (int i = 0; i < W * H; i++)
            px[k][i] = (uint8_t)((i * 13 + 40 * k) % 251);
    /* frame 1 as an 8-bit BMP (img2dcm reads BMP or JPEG), all frames as raw pixels */
    const char *bmp = path_in("c0.bmp");
    assert_true(cn_test_write_bmp8(bmp, px[0], W, H));
    FILE *f = fopen(path_in("c.raw"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(px, 1, sizeof px, f), sizeof px);
    fclose(f);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "img2dcm -q -i BMP '%s' '%s' -k 'PixelSpacing=0.08\\0.1' && "
             "dcmodify -nb -i '(0028,0008)=%d' -i '(0018,1063)=40' -mf '(7fe0,0010)=%s' '%s'",
             bmp, path_in("cine.dcm"), N, path_in("c.raw"), path_in("cine.dcm"));
    assert_int_equal(system(cmd), 0);
    const char *out = path_in("cine.igs.nrrd");
    const char *a[] = {CN_CRYONAV_BIN, "convert", path_in("cine.dcm"), out, NULL};
    assert_int_equal(run_prog(a, NULL, NULL, 120, &R), 0);
    assert_int_equal(R.exit_code, 0);
    print_message("%s", R.out);
    assert_non_null(strstr(R.out, "converted 3 frames (38 x 21, 25 fps from the file, 0.1 x 0.08 mm "
                                  "from the file)"));
    cn_image *img[N];
    for (int k = 0; k < N; k++) {
        img[k] = cn_image_new(W, H);
        memcpy(img[k]->px, px[k], W * H);
    }
    check_sequence(out, img, N, 0.1, 0.08, 0.04);
    for (int k = 0; k < N; k++)
        cn_image_free(img[k]);
    /* a Frame Time Vector (0, 40, 200 ms: the time since the frame before), the cine's
     * Frame Increment Pointer naming it: each frame at its own time (seq audit D8:
     * before, 20 fps from the default, 0 / 0.05 / 0.1 s) */
    snprintf(cmd, sizeof cmd, "dcmodify -nb -e '(0018,1063)' -i '(0018,1065)=0\\40\\200' "
             "-i '(0028,0009)=(0018,1065)' '%s'", path_in("cine.dcm"));
    assert_int_equal(system(cmd), 0);
    const char *out2 = path_in("cine-ftv.igs.mha");
    const char *a2[] = {CN_CRYONAV_BIN, "convert", path_in("cine.dcm"), out2, NULL};
    assert_int_equal(run_prog(a2, NULL, NULL, 120, &R), 0);
    print_message("%s%s", R.out, R.err);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "each at its own time from the file"));
    char err[512];
    cn_seq_reader *rd = cn_seq_reader_open(out2, err, sizeof err);
    if (!rd) fail_msg("%s", err);
    const double want[N] = {0, 0.04, 0.24};
    for (int k = 0; k < N; k++) {
        const double got = cn_seq_reader_timestamp(rd, k) - cn_seq_reader_timestamp(rd, 0);
        print_message("frame %d at %.3f s (file: %.3f s)\n", k, got, want[k]);
        assert_true(fabs(got - want[k]) < 1e-6);
    }
    cn_seq_reader_close(rd);
}

/* ImageMagick's GIF animation (tests/unit/imaging/formats: 5 / 100 s a frame): 20 fps
 * from the file, as many frames; --fps overrides. Two frames of different sizes in a
 * folder: refused, nothing left. */
static void test_convert_gif_and_refusals(void **st)
{
    (void)st;
    char gif[600];
    snprintf(gif, sizeof gif, "%s/tests/unit/imaging/formats/im_cine.gif", CN_SOURCE_DIR);
    const char *out = path_in("gif.igs.mha");
    const char *a[] = {CN_CRYONAV_BIN, "convert", gif, out, "--spacing-mm", "0.2,0.25", NULL};
    assert_int_equal(run_prog(a, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "converted 3 frames (40 x 30, 20 fps from the file, 0.2 x 0.25 mm"));
    cn_image **pg = NULL;
    int n = 0;
    char err[512];
    assert_int_equal(cn_image_read_stack(gif, CN_IMAGE_GREY, 5, &pg, &n, err, sizeof err), CN_OK);
    check_sequence(out, pg, n, 0.2, 0.25, 0.05);
    cn_image_stack_free(pg, n);
    const char *out2 = path_in("gif10.igs.mha");
    const char *b[] = {CN_CRYONAV_BIN, "convert", gif, out2, "--spacing-mm", "0.2", "--fps", "10",
                       NULL};
    assert_int_equal(run_prog(b, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "10 fps from --fps"));
    /* two sizes in one folder */
    const char *mixed = path_in("mixed");
    assert_int_equal(mkdir(mixed, 0755), 0);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s/tests/unit/imaging/formats/stack_1.ref.png' '%s/a1.png' && "
             "cp '%s/tests/unit/imaging/formats/cmyk.ref.png' '%s/a2.png'", CN_SOURCE_DIR, mixed,
             CN_SOURCE_DIR, mixed);
    assert_int_equal(system(cmd), 0);
    const char *out3 = path_in("mixed.igs.mha");
    const char *c[] = {CN_CRYONAV_BIN, "convert", mixed, out3, "--spacing-mm", "0.1", NULL};
    assert_int_equal(run_prog(c, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "a2.png: frame of 64 x 48 where the first is 40 x 30"));
    assert_false(exists(out3));
    /* seq audit D11d: a missing file was "cannot open folder" */
    const char *c2[] = {CN_CRYONAV_BIN, "convert", "/nonexistent/nosuch.gif", out3, NULL};
    assert_int_equal(run_prog(c2, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "/nonexistent/nosuch.gif: no such file or folder"));
    /* replay and info on the GIF itself: refused, with the command that converts it */
    const char *r1[] = {CN_CRYONAV_BIN, "replay", gif, "--headless", "--no-serve", "-q", NULL};
    assert_int_equal(run_prog(r1, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "it is an image stack (3 frames): `cryonav convert"));
    const char *r2[] = {CN_CRYONAV_BIN, "info", gif, NULL};
    assert_int_equal(run_prog(r2, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "makes it a sequence file"));
    /* A sequence file (PLUS, Slicer, CryoNav) is not a cine: convert would take PLUS's
     * placeholder ElementSpacing 1 1 1 for 1 mm pixels and drop the times, the
     * transforms and the events (before: "1 x 1 mm from the file", 20 fps). It is
     * refused, and info and replay no longer offer convert for a damaged one. */
    char spine[600];
    snprintf(spine, sizeof spine, "%s/plus/SpinePhantomFreehand.igs.mha", CN_SHARED_DATA_DIR);
    const char *sq[] = {CN_CRYONAV_BIN, "convert", spine, path_in("spine.igs.mha"), NULL};
    assert_int_equal(run_prog(sq, NULL, NULL, 60, &R), 0);
    print_message("convert a PLUS file: %s", R.err);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "is a sequence file"));
    assert_false(exists(path_in("spine.igs.mha")));
    /* a damaged sequence file: a frame field beyond the header's frames */
    const char *dmg = path_in("damaged.igs.mha");
    snprintf(cmd, sizeof cmd,
             "sed 's/^Seq_Frame0003_Timestamp/Seq_Frame0900_Timestamp/' '%s' > '%s'", spine, dmg);
    assert_int_equal(system(cmd), 0);
    const char *di[] = {CN_CRYONAV_BIN, "info", dmg, NULL};
    assert_int_equal(run_prog(di, NULL, NULL, 60, &R), 0);
    print_message("info of a damaged sequence file: %s", R.err);
    assert_int_equal(R.exit_code, 2);
    assert_null(strstr(R.err, "cryonav convert"));
    /* OUT of another kind */
    const char *d[] = {CN_CRYONAV_BIN, "convert", gif, path_in("x.png"), NULL};
    assert_int_equal(run_prog(d, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "OUT must end in .igs.mha"));
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/cn_convert_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* An image whose header states 1 x 1 mm (ITK's default, written by tools that know no
 * size): taken as none, as info and replay take it, so convert asks for --spacing-mm.
 * Before, it wrote "1 x 1 mm from the file" and the replay then warned of nothing (the
 * thirty-sixth session's review). */
static void test_convert_placeholder_spacing(void **st)
{
    (void)st;
    const char *img = path_in("placeholder.mha");
    FILE *f = fopen(img, "wb");
    assert_non_null(f);
    fprintf(f, "ObjectType = Image\nNDims = 2\nDimSize = 32 24\nElementSpacing = 1 1\n"
               "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n");
    for (int i = 0; i < 32 * 24; i++)
        fputc(i % 251, f);
    fclose(f);
    const char *out = path_in("placeholder.igs.mha");
    const char *a0[] = {CN_CRYONAV_BIN, "convert", img, out, NULL};
    assert_int_equal(run_prog(a0, NULL, NULL, 60, &R), 0);
    print_message("%s", R.err);
    assert_int_equal(R.exit_code, 2);
    assert_non_null(strstr(R.err, "states 1 x 1 mm, the size tools write when they know none"));
    assert_false(exists(out));
    const char *a1[] = {CN_CRYONAV_BIN, "convert", img, out, "--spacing-mm", "0.2", NULL};
    assert_int_equal(run_prog(a1, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
    assert_non_null(strstr(R.out, "0.2 x 0.2 mm from --spacing-mm"));
    unlink(out);
    unlink(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_folder_and_replay),
        cmocka_unit_test(test_convert_dicom_cine),
        cmocka_unit_test(test_convert_gif_and_refusals),
        cmocka_unit_test(test_convert_placeholder_spacing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
