/*
 * test_eval_needle.c - `cryonav eval needle FRAMES MASKS` end to end: simulator
 * frames and masks of the true shaft are written as PNG files into a temporary
 * folder, the real cryonav binary evaluates them, and its last line must show
 * the needle detected in most frames with a small angle error. Bad input gives a
 * clear error naming the file (a mask of the wrong size names both files; an
 * empty or unreadable file, a folder without images, a bad option) or "no needle"
 * (an all-black, a saturated frame), never a crash. Also the BMP masks of the
 * in-vitro sequence are read as they are, and the same sequence kept as one 3-D file
 * scores as the folder does (skipped when ../shared is absent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "imaging/imaging.h"
#include "sim/sim.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_FRAMES 8

static void write_session(const char *fdir, const char *mdir)
{
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.seed = 77;
    cn_sim *sim = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    uint8_t *mask = malloc((size_t)c.width_px * c.height_px);
    char err[512], path[512];
    for (int i = 0; i < N_FRAMES; i++) {
        double t = c.idle_s + c.approach_s * (0.55 + 0.05 * i);
        assert_int_equal(cn_sim_render(sim, t, f), CN_OK);
        const cn_truth *T = &f->truth;
        /* the shaft: a band of the probe's diameter from the entry point to the tip */
        double sp = f->spacing_mm[0], r = 0.5 * c.needle_diameter_mm;
        double nx = -T->needle_dir.y, ny = T->needle_dir.x;
        cn_pt2 poly[4] = {
            {(float)((T->needle_entry_mm.x + nx * r) / sp - 0.5), (float)((T->needle_entry_mm.y + ny * r) / sp - 0.5)},
            {(float)((T->needle_tip_mm.x + nx * r) / sp - 0.5), (float)((T->needle_tip_mm.y + ny * r) / sp - 0.5)},
            {(float)((T->needle_tip_mm.x - nx * r) / sp - 0.5), (float)((T->needle_tip_mm.y - ny * r) / sp - 0.5)},
            {(float)((T->needle_entry_mm.x - nx * r) / sp - 0.5), (float)((T->needle_entry_mm.y - ny * r) / sp - 0.5)},
        };
        memset(mask, 0, (size_t)c.width_px * c.height_px);
        assert_int_equal(cn_img_fill_polygon(mask, f->width, f->height, poly, 4, 255), CN_OK);
        snprintf(path, sizeof path, "%s/f%02d.png", fdir, i);
        assert_int_equal(cn_png_write_gray(path, f->pixels, f->width, f->height, err, sizeof err), CN_OK);
        snprintf(path, sizeof path, "%s/m%02d.png", mdir, i);
        assert_int_equal(cn_png_write_gray(path, mask, f->width, f->height, err, sizeof err), CN_OK);
    }
    free(mask);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(sim);
}

/* Runs cmd, returns its exit status and the last line of its stdout. */
static int run(const char *cmd, char *last, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    last[0] = 0;
    while (fgets(line, sizeof line, p))
        snprintf(last, len, "%s", line);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_eval_needle_on_sim_pngs(void **st)
{
    (void)st;
    char base[] = "/tmp/cn_test_eval_needle_XXXXXX";
    assert_non_null(mkdtemp(base));
    char fdir[300], mdir[300], cmd[1400], last[1024];
    snprintf(fdir, sizeof fdir, "%s/frames", base);
    snprintf(mdir, sizeof mdir, "%s/masks", base);
    assert_int_equal(mkdir(fdir, 0700), 0);
    assert_int_equal(mkdir(mdir, 0700), 0);
    write_session(fdir, mdir);
    /* the masks mark the whole 1.5 mm shaft: report its axis, not the front wall */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s --spacing-mm %g "
             "--needle-diameter-mm 1.5 2>/dev/null", CN_BINARY_DIR, fdir, mdir, 40.0 / 480);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    double ang, dist;
    int k, n;
    assert_int_equal(sscanf(last, "mean angle_err_deg %lf line_dist_px %lf detected %d/%d", &ang,
                            &dist, &k, &n), 4);
    assert_int_equal(n, N_FRAMES);
    assert_true(k >= N_FRAMES - 1);
    assert_true(ang <= 2.0);
    assert_true(dist <= 6.0); /* px: the shaft's centre lies on the detected axis */
    /* a mask of another size: a clear error and exit code 1, no crash */
    char path[400], err[256];
    uint8_t small[16 * 16] = {0};
    snprintf(path, sizeof path, "%s/m03.png", mdir);
    assert_int_equal(cn_png_write_gray(path, small, 16, 16, err, sizeof err), CN_OK);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s 2>&1 >/dev/null",
             CN_BINARY_DIR, fdir, mdir);
    FILE *p = popen(cmd, "r");
    char buf[4096] = {0};
    size_t got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = 0;
    int stc = pclose(p);
    assert_non_null(strstr(buf, "mask is 16 x 16"));
    assert_non_null(strstr(buf, "m03.png"));
    assert_non_null(strstr(buf, "f03.png")); /* both files named */
    assert_int_equal(WEXITSTATUS(stc), 1);
    /* an empty and an unreadable frame: named and skipped (exit 1); an all-black and
     * a saturated frame: "no needle", not an error */
    snprintf(path, sizeof path, "%s/m03.png", mdir);
    uint8_t *blank = calloc((size_t)640 * 480, 1);
    assert_non_null(blank);
    assert_int_equal(cn_png_write_gray(path, blank, 640, 480, err, sizeof err), CN_OK);
    snprintf(path, sizeof path, "%s/f04.png", fdir);
    assert_int_equal(cn_png_write_gray(path, blank, 640, 480, err, sizeof err), CN_OK);
    memset(blank, 255, (size_t)640 * 480);
    snprintf(path, sizeof path, "%s/f05.png", fdir);
    assert_int_equal(cn_png_write_gray(path, blank, 640, 480, err, sizeof err), CN_OK);
    free(blank);
    snprintf(path, sizeof path, "%s/f06.png", fdir);
    FILE *e = fopen(path, "w");
    assert_non_null(e);
    fclose(e); /* empty */
    snprintf(path, sizeof path, "%s/f07.png", fdir);
    e = fopen(path, "w");
    assert_non_null(e);
    fputs("not an image at all", e);
    fclose(e);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s 2>&1", CN_BINARY_DIR,
             fdir, mdir);
    p = popen(cmd, "r");
    got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = 0;
    stc = pclose(p);
    assert_int_equal(WEXITSTATUS(stc), 1);
    assert_non_null(strstr(buf, "f06.png"));
    assert_non_null(strstr(buf, "f07.png"));
    assert_non_null(strstr(buf, "(skipped 2)"));
    assert_null(strstr(buf, "f04.png angle_err")); /* all black: no needle reported */
    assert_null(strstr(buf, "f05.png angle_err")); /* saturated: no needle reported */
    /* a folder without images, a missing folder, a bad option */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s /nonexistent 2>&1",
             CN_BINARY_DIR, fdir);
    assert_int_equal(run(cmd, last, sizeof last), 2);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s --entry up 2>&1",
             CN_BINARY_DIR, fdir, mdir);
    assert_int_equal(run(cmd, last, sizeof last), 2);
    /* a spacing that is not one (two values since the sixteenth session): usage
     * error 2, naming the option and the value */
    static const char *const bad_sp[] = {"0.1,abc", "0,0.1", "0.1,", "nan", "0.1,0.1,0.1", "20"};
    for (size_t i = 0; i < sizeof bad_sp / sizeof bad_sp[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s --spacing-mm '%s' 2>&1 "
                 "| head -1", CN_BINARY_DIR, fdir, mdir, bad_sp[i]);
        assert_int_equal(run(cmd, last, sizeof last), 0); /* head's status */
        assert_non_null(strstr(last, "--spacing-mm needs 0.001..10 mm (S or SX,SY)"));
        assert_non_null(strstr(last, bad_sp[i]));
        snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s --spacing-mm '%s' "
                 ">/dev/null 2>&1", CN_BINARY_DIR, fdir, mdir, bad_sp[i]);
        assert_int_equal(run(cmd, last, sizeof last), 2);
    }
    /* wrong usage */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s 2>/dev/null", CN_BINARY_DIR, fdir);
    assert_int_equal(run(cmd, last, sizeof last), 2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

/* The in-vitro masks are noisy 8-bit BMPs: read as they are through the one reader. */
static void test_eval_needle_bmp_masks(void **st)
{
    (void)st;
    char dir[600], cmd[1600], last[1024];
    snprintf(dir, sizeof dir, "%s/needle-us/xgts/sample/needle_14", CN_SHARED_DATA_DIR);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("skipped: %s is absent\n", dir);
        skip();
    }
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s/mask 2>/dev/null",
             CN_BINARY_DIR, dir, dir);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    double ang, dist;
    int k, n;
    assert_int_equal(sscanf(last, "mean angle_err_deg %lf line_dist_px %lf detected %d/%d", &ang,
                            &dist, &k, &n), 4);
    assert_int_equal(n, 25); /* every BMP mask was read and holds a shaft */
    /* the rates' 95 % intervals: k of 25 detected, and the wrong lines among them */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s/mask 2>/dev/null | "
             "grep '^95%% intervals'", CN_BINARY_DIR, dir, dir);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    double dlo, dhi, wlo, whi;
    int nd;
    assert_int_equal(sscanf(last, "95%% intervals (Wilson): detection %lf-%lf%%, wrong lines among "
                            "the %d detections %lf-%lf%%", &dlo, &dhi, &nd, &wlo, &whi), 5);
    assert_int_equal(nd, k);
    assert_true(dlo <= 100.0 * k / n + 0.05 && 100.0 * k / n - 0.05 <= dhi && dhi <= 100);
    if (k == n) /* all found: the interval reaches 100 % and starts near 86 % (Wilson, n = 25) */
        assert_true(dhi == 100 && fabs(dlo - 86.7) < 0.2);
    assert_true(0 <= wlo && wlo < whi && whi <= 100);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The angle errors of the per-frame lines of cmd's output, in order. */
static int angles(const char *cmd, double *a, int max, char *last, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, " angle_err_deg ");
        if (k && strncmp(line, "mean", 4) && n < max)
            a[n++] = atof(k + 15);
        snprintf(last, len, "%s", line);
    }
    assert_int_equal(pclose(p), 0);
    return n;
}

/* The in-vitro sequence kept as one file (a 3-D MetaImage of its 25 frames, and one
 * of its masks, as 3D Slicer keeps a cine and its labelmap): scored page by page, in
 * order, through the tracker, exactly as the folder of frames. Before, the stack was
 * "a 3-D image" and every frame was skipped. */
static void test_eval_needle_stack(void **st)
{
    (void)st;
    char dir[600], cmd[2400], last[1024], last2[1024], p[1200], err[512];
    snprintf(dir, sizeof dir, "%s/needle-us/xgts/sample/needle_14", CN_SHARED_DATA_DIR);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("skipped: %s is absent\n", dir);
        skip();
    }
    char base[] = "/tmp/cn_test_needle_stack_XXXXXX";
    assert_non_null(mkdtemp(base));
    char *names[2][64];
    int n[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        snprintf(p, sizeof p, "%s/%s", dir, m ? "mask" : "image");
        DIR *d = opendir(p);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && n[m] < 64)
                names[m][n[m]++] = strdup(e->d_name);
        closedir(d);
        qsort(names[m], (size_t)n[m], sizeof(char *), cmp_names);
    }
    assert_int_equal(n[0], 25);
    assert_int_equal(n[1], 25);
    FILE *fi = NULL, *fm = NULL;
    int w = 0, h = 0;
    for (int k = 0; k < 25; k++) {
        cn_image *im = NULL, *mk = NULL;
        char ip[1400], mp[1400];
        snprintf(ip, sizeof ip, "%s/image/%s", dir, names[0][k]);
        snprintf(mp, sizeof mp, "%s/mask/%s", dir, names[1][k]);
        assert_int_equal(cn_image_read(ip, CN_IMAGE_GREY, &im, err, sizeof err), CN_OK);
        assert_int_equal(cn_mask_read(mp, ip, im->w, im->h, &mk, err, sizeof err), CN_OK);
        if (k == 0) {
            w = im->w;
            h = im->h;
            snprintf(p, sizeof p, "%s/frames.mha", base);
            fi = fopen(p, "wb");
            snprintf(p, sizeof p, "%s/masks.mha", base);
            fm = fopen(p, "wb");
            assert_non_null(fi);
            assert_non_null(fm);
            fprintf(fi, "ObjectType = Image\nNDims = 3\nDimSize = %d %d 25\nElementType = MET_UCHAR\n"
                        "ElementDataFile = LOCAL\n", w, h);
            fprintf(fm, "ObjectType = Image\nNDims = 3\nDimSize = %d %d 25\nElementType = MET_UCHAR\n"
                        "ElementDataFile = LOCAL\n", w, h);
        }
        assert_int_equal(im->w, w);
        assert_int_equal(im->h, h);
        assert_int_equal(fwrite(im->px, 1, (size_t)w * h, fi), (size_t)w * h);
        assert_int_equal(fwrite(mk->px, 1, (size_t)w * h, fm), (size_t)w * h); /* 0/1 labels */
        cn_image_free(im);
        cn_image_free(mk);
    }
    fclose(fi);
    fclose(fm);
    double a[32], b[32];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s/mask 2>/dev/null",
             CN_BINARY_DIR, dir, dir);
    int na = angles(cmd, a, 32, last, sizeof last);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/frames.mha %s/masks.mha "
             "2>/dev/null", CN_BINARY_DIR, base, base);
    int nb = angles(cmd, b, 32, last2, sizeof last2);
    print_message("folder: %sstack:  %s", last, last2);
    assert_int_equal(na, nb);
    assert_true(na >= 20);
    for (int k = 0; k < na; k++)
        assert_true(fabs(a[k] - b[k]) < 1e-9);
    assert_string_equal(last, last2);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/frames.mha %s/masks.mha "
             "2>/dev/null | grep -c 'frames.mha\\[24\\]'", CN_BINARY_DIR, base, base);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    assert_int_equal(atoi(last), 1);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < n[m]; k++)
            free(names[m][k]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

/* The per-frame lines of cmd's output (those naming a frame file, or a frame of a
 * stack / sequence file: "file[k] "), in order. */
static int frame_lines(const char *cmd, char lines[][256], int max)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, p))
        if ((strstr(line, ".png ") || strstr(line, "] ")) && n < max)
            snprintf(lines[n++], 256, "%.255s", line);
    assert_int_equal(pclose(p), 0);
    return n;
}

/* A sequence annotated every fifth frame (as video sets often are): the mask folder
 * holds 5 masks for 25 frames. Every frame goes through the tracker, the five with a
 * mask are scored, each exactly as in the fully annotated run (the tracker saw the same
 * frames), and the others are named as tracked, not scored. Before, the counts
 * differed and nothing was scored ("has 25 frames but ... 5 masks", exit 2). */
static void test_eval_needle_sparse_masks(void **st)
{
    (void)st;
    char dir[600], cmd[2400], p[1400];
    snprintf(dir, sizeof dir, "%s/needle-us/xgts/sample/needle_14", CN_SHARED_DATA_DIR);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("skipped: %s is absent\n", dir);
        skip();
    }
    char base[] = "/tmp/cn_test_needle_sparse_XXXXXX";
    assert_non_null(mkdtemp(base));
    char *names[64];
    int n = 0;
    snprintf(p, sizeof p, "%s/mask", dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && n < 64)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_names);
    assert_int_equal(n, 25);
    for (int k = 0; k < n; k += 5) {
        snprintf(cmd, sizeof cmd, "cp '%s/mask/%s' %s/", dir, names[k], base);
        assert_int_equal(system(cmd), 0);
    }
    static char all[32][256], sparse[32][256];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s/mask 2>/dev/null",
             CN_BINARY_DIR, dir, dir);
    assert_int_equal(frame_lines(cmd, all, 32), 25);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s 2>/dev/null",
             CN_BINARY_DIR, dir, base);
    assert_int_equal(frame_lines(cmd, sparse, 32), 25);
    int scored = 0;
    for (int k = 0; k < 25; k++) {
        if (k % 5 == 0) {
            assert_string_equal(sparse[k], all[k]);
            scored += strstr(sparse[k], "angle_err_deg") != NULL;
        } else {
            assert_non_null(strstr(sparse[k], "no mask: tracked, not scored"));
        }
    }
    assert_int_equal(scored, 5);
    /* frames and masks in one folder, X_mask.bmp beside X.png: the masks are no frames,
     * and each frame scores as in two folders (before, each file was its own mask) */
    char one[700], mk[8192];
    snprintf(one, sizeof one, "%s/one", base);
    snprintf(mk, sizeof mk, "mkdir '%s' && cp '%s'/image/*.png '%s'/ && for f in '%s'/mask/*.bmp; "
             "do b=$(basename \"$f\" .bmp); cp \"$f\" '%s'/\"${b}_mask.bmp\"; done", one, dir, one,
             dir, one);
    assert_int_equal(system(mk), 0);
    static char together[32][256];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s %s 2>/dev/null",
             CN_BINARY_DIR, one, one);
    assert_int_equal(frame_lines(cmd, together, 32), 25);
    for (int k = 0; k < 25; k++)
        assert_string_equal(together[k], all[k]);
    /* frames numbered without leading zeros (f_1 .. f_25): taken in their order, f_9
     * before f_10, so the tracker sees the sequence as it was filmed and every line is
     * the padded run's (before, f_10 came second and the tracker saw a jumbled film) */
    char plain[700];
    snprintf(plain, sizeof plain, "%s/plain", base);
    snprintf(mk, sizeof mk, "mkdir -p '%s/i' '%s/m'", plain, plain);
    assert_int_equal(system(mk), 0);
    for (int k = 0; k < 25; k++) {
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[k]) - 4), names[k]);
        snprintf(mk, sizeof mk, "cp '%s/image/%s.png' '%s/i/f_%d.png' && cp '%s/mask/%s' "
                 "'%s/m/f_%d.bmp'", dir, stem, plain, k + 1, dir, names[k], plain, k + 1);
        assert_int_equal(system(mk), 0);
    }
    static char numbered[32][256];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/i %s/m 2>/dev/null",
             CN_BINARY_DIR, plain, plain);
    assert_int_equal(frame_lines(cmd, numbered, 32), 25);
    for (int k = 0; k < 25; k++) {
        char want[32];
        snprintf(want, sizeof want, "f_%d.png ", k + 1);
        if (strncmp(numbered[k], want, strlen(want)) != 0)
            fail_msg("line %d is '%s', not frame f_%d", k, numbered[k], k + 1);
        /* the same figures as the padded name's line */
        assert_string_equal(strchr(numbered[k], ' '), strchr(all[k], ' '));
    }
    char last[1024];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/image %s 2>/dev/null | "
             "grep 'frames without a mask'", CN_BINARY_DIR, dir, base);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    assert_non_null(strstr(last, "frames without a mask 20"));
    for (int k = 0; k < n; k++)
        free(names[k]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

/* Views without a needle (--needle-free, twenty-seventh session): every frame of a real
 * PLUS sequence file, or every image of a folder, scored as a frame whose mask is empty.
 * The per-frame lines are those of the same frames given as FRAMES with an empty mask
 * stack; a detection is printed with where it was seen; a source that holds no images is
 * named and skipped while the others still count (exit status 1); and the documented
 * figures hold: no line on the prostate phantom's 10 frames nor the spine phantom's 21
 * (a margin of 1 each). */
static int count_lines(const char *cmd, const char *needle)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, p))
        n += strstr(line, needle) != NULL;
    pclose(p);
    return n;
}

static void test_eval_needle_free_views(void **st)
{
    (void)st;
    char plus[600], cmd[4096], last[1024];
    snprintf(plus, sizeof plus, "%s/plus", CN_SHARED_DATA_DIR);
    struct stat sb;
    if (stat(plus, &sb) != 0) {
        print_message("skipped: %s is absent\n", plus);
        skip();
    }
    char base[] = "/tmp/cn_test_needle_free_XXXXXX";
    assert_non_null(mkdtemp(base));
    /* the prostate phantom's 10 frames (640 x 480, a detached .raw) with an empty mask stack */
    char mask[700];
    snprintf(mask, sizeof mask, "%s/none.mha", base);
    FILE *f = fopen(mask, "wb");
    assert_non_null(f);
    fprintf(f, "ObjectType = Image\nNDims = 3\nDimSize = 640 480 10\nElementType = MET_UCHAR\n"
               "ElementDataFile = LOCAL\n");
    for (long i = 0; i < 640L * 480 * 10; i++)
        fputc(0, f);
    fclose(f);
    static char by_mask[16][256], free_view[16][256];
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle %s/Prostate10_video.igs.mhd %s "
             "2>/dev/null", CN_BINARY_DIR, plus, mask);
    assert_int_equal(frame_lines(cmd, by_mask, 16), 10);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free "
             "%s/Prostate10_video.igs.mhd 2>/dev/null", CN_BINARY_DIR, plus);
    assert_int_equal(frame_lines(cmd, free_view, 16), 10);
    for (int k = 0; k < 10; k++)
        assert_string_equal(free_view[k], by_mask[k]);
    /* two sequence files: the summary, and each detection with its place in the frame */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free "
             "%s/BoneUltrasound_L14.igs.mha --needle-free %s/Prostate10_video.igs.mhd "
             "--needle-free %s/SpinePhantomFreehand.igs.mha 2>/dev/null | grep '^frames'",
             CN_BINARY_DIR, plus, plus, plus);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    assert_non_null(strstr(last, "frames 52 (skipped 0), with a needle 0, without 52"));
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free "
             "%s/BoneUltrasound_L14.igs.mha 2>/dev/null", CN_BINARY_DIR, plus);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int seen = 0, placed = 0;
    while (fgets(line, sizeof line, p)) {
        const char *q = strstr(line, "detected one (false, conf ");
        if (!q)
            continue;
        seen++;
        double conf, x, y, ang;
        if (sscanf(q, "detected one (false, conf %lf, tip %lf,%lf px, angle %lf deg)", &conf, &x,
                   &y, &ang) == 4 && conf >= 0.5 && x >= 0 && x < 820 && y >= 0 && y < 616 &&
            ang >= 0 && ang <= 90)
            placed++;
    }
    pclose(p);
    print_message("bone: %d false lines, %d with a place in the frame\n", seen, placed);
    assert_true(seen > 0);
    assert_int_equal(placed, seen);
    /* the documented figures (docs/validation.md): none on the prostate or spine phantoms */
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free %s/%s "
                 "2>/dev/null", CN_BINARY_DIR, plus,
                 k ? "SpinePhantomFreehand.igs.mha" : "Prostate10_video.igs.mhd");
        int n = count_lines(cmd, "detected one (false");
        print_message("%s: %d false lines\n", k ? "spine" : "prostate", n);
        assert_true(n <= 1);
    }
    /* a folder of images is a source too (each image a view) */
    char dir[700];
    snprintf(dir, sizeof dir, "%s/imgs", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_session(dir, base); /* 8 simulator frames f00..f07 (their masks land in base) */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free %s --no-track "
             "2>/dev/null | grep '^frames'", CN_BINARY_DIR, dir);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    assert_non_null(strstr(last, "frames 8 (skipped 0), with a needle 0, without 8"));
    /* a file without images is named and skipped; the other source still counts */
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free "
             "%s/Prostate10_tracker.igs.mha --needle-free %s/Prostate10_video.igs.mhd 2>&1 | "
             "grep -c -e 'Prostate10_tracker.igs.mha holds no images' -e '^frames 11 (skipped 1)'",
             CN_BINARY_DIR, plus, plus);
    assert_int_equal(run(cmd, last, sizeof last), 0);
    assert_int_equal(atoi(last), 2);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --needle-free "
             "%s/Prostate10_tracker.igs.mha --needle-free %s/Prostate10_video.igs.mhd "
             ">/dev/null 2>&1", CN_BINARY_DIR, plus, plus);
    assert_int_equal(run(cmd, last, sizeof last), 1);
    snprintf(cmd, sizeof cmd, "%s/apps/cryonav/cryonav eval needle --sim 2 --needle-free %s "
             ">/dev/null 2>&1", CN_BINARY_DIR, dir);
    assert_int_equal(run(cmd, last, sizeof last), 2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

/* The user guide's needle-free command (docs/user-guide.md, after the
 * needle-free-commands marker), run as written with $D and the binary substituted: its
 * false detections within GUIDE_FREE_MARGIN of the documented count
 * (docs/validation.md, "Needle lines on real views without a needle"). The count is a
 * known weakness, not a target: this keeps it from growing unseen, and a detector that
 * draws fewer lines there lowers the documented figure with it. */
#define GUIDE_FREE_FRAMES 915
#define GUIDE_FREE_FALSE 304
#define GUIDE_FREE_MARGIN 15
static void test_guide_needle_free(void **st)
{
    (void)st;
    char plus[600];
    snprintf(plus, sizeof plus, "%s/nerve-femoral", CN_SHARED_DATA_DIR);
    struct stat sb;
    if (stat(plus, &sb) != 0) {
        print_message("skipped: %s is absent\n", plus);
        skip();
    }
    FILE *f = fopen(CN_SOURCE_DIR "/docs/user-guide.md", "r");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = 0;
    char *b = strstr(doc, "<!-- needle-free-commands -->");
    assert_non_null(b);
    b = strstr(b, "\ncryonav eval needle ");
    assert_non_null(b);
    b += 1;
    char *e = strchr(b, '\n');
    assert_non_null(e);
    *e = 0;
    char cmd[8192], *o = cmd;
    o += snprintf(o, sizeof cmd, "%s/apps/cryonav/cryonav", CN_BINARY_DIR);
    for (const char *c = b + 7; *c && o < cmd + sizeof cmd - 700;) {
        if (strncmp(c, "$D", 2) == 0) {
            o += sprintf(o, "%s", CN_SHARED_DATA_DIR);
            c += 2;
        } else {
            *o++ = *c++;
        }
    }
    snprintf(o, (size_t)(cmd + sizeof cmd - o), " 2>/dev/null | grep '^frames'");
    char last[1024];
    assert_int_equal(run(cmd, last, sizeof last), 0);
    print_message("%s", last);
    int frames = 0, skipped = -1, falses = -1;
    assert_int_equal(sscanf(last, "frames %d (skipped %d), with a needle 0, without %*d, false "
                                  "detections %d", &frames, &skipped, &falses), 3);
    assert_int_equal(frames, GUIDE_FREE_FRAMES);
    assert_int_equal(skipped, 0);
    if (falses > GUIDE_FREE_FALSE + GUIDE_FREE_MARGIN)
        fail_msg("%d false needle lines on %d views without a needle, documented %d (+%d)", falses,
                 frames, GUIDE_FREE_FALSE, GUIDE_FREE_MARGIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_needle_on_sim_pngs),
        cmocka_unit_test(test_eval_needle_bmp_masks),
        cmocka_unit_test(test_eval_needle_stack),
        cmocka_unit_test(test_eval_needle_sparse_masks),
        cmocka_unit_test(test_eval_needle_free_views),
        cmocka_unit_test(test_guide_needle_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
