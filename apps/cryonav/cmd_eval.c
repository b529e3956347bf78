/*
 * cmd_eval.c - `cryonav eval nerve|needle|sim ...`: accuracy of the image
 * analysis measured on data with ground truth, runnable by anyone.
 *
 *   eval nerve IMAGES MASKS [--seeded] [--kfold K] [--method dp|mlp|cnn] ...
 *       Real images + palette masks (index 1 = nerve, as in nerve-us). Prints per
 *       image Dice, HD95 (pixels), confidence and time, then mean/median; last line
 *       "mean dice <x>". --seeded gives the tracker the centroid of the true mask
 *       as the operator's point. With --kfold K the parameters are chosen on K-1
 *       folds (files split by index: fold = index mod K; dp: grid search, mlp:
 *       training) and every image is measured with parameters that never saw it;
 *       without it the built-in parameters / weights are used. dp is the default
 *       method without --seeded; with --seeded the default is cnn (for --kfold 5
 *       or no --kfold), which beats the DP held-out. cnn: the seeded CNN
 *       (nerve_cnn.c), trained offline per fold by tools/train/train_nerve_cnn.py;
 *       with --kfold 5 each image is segmented by the model of the fold that did
 *       not see it, without --kfold by the live model (trained on all images: not
 *       a held-out figure). Its Dice/HD95 are on the network's mask (all parts
 *       kept), not on one outline. Without --seeded, cnn starts from the DP's
 *       automatic seed. --cnn-weights FILE: a weights file written by the training
 *       script, measured before it is built in.
 *   eval needle FRAMES MASKS  (eval_needle.c)
 *   eval sim [--seeds N]      (eval_sim.c)
 */
#include "commands.h"
#include "eval.h"

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cn_eval_list_png(const char *dir, char ***names_out, int *n_out, char *err, size_t err_len)
{
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_len, "%s: cannot open folder", dir);
        return CN_ENOENT;
    }
    int cap = 64, n = 0;
    char **names = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcasecmp(e->d_name + len - 4, ".png") != 0)
            continue;
        if (n == cap) {
            cap *= 2;
            char **nn = realloc(names, sizeof(char *) * (size_t)cap);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!names) {
        snprintf(err, err_len, "%s: out of memory", dir);
        return CN_ENOMEM;
    }
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    if (n == 0) {
        free(names);
        snprintf(err, err_len, "%s: no .png files", dir);
        return CN_ENOENT;
    }
    *names_out = names;
    *n_out = n;
    return CN_OK;
}

void cn_eval_free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void cn_eval_progress(int done, int total)
{
    int bar = 30, fill = total > 0 ? done * bar / total : bar;
    fprintf(stderr, "\r[%.*s%.*s] %d/%d", fill, "##############################", bar - fill,
            "..............................", done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cn_eval_median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------ nerve */

/* The parameter grid searched on training folds. Kept small on purpose: a few
 * physically meaningful knobs, not a per-file fit. Each dimension names a
 * cn_nerve_params field (also settable with --set name=value). */
typedef struct {
    const char *name;
    size_t off;
    int n;
    double v[4];
} grid_dim;
#define PF(f) offsetof(cn_nerve_params, f)
static const grid_dim GRID[] = {
    {"r0_px", PF(r0_px), 3, {40, 52, 64}},
    {"aspect", PF(aspect), 2, {1.8, 2.6}},
    {"w_edge", PF(w_edge), 2, {0.5, 1.0}},
    {"w_region", PF(w_region), 3, {0.0, 0.5, 1.5}},
    {"w_prior", PF(w_prior), 3, {0.3, 1.0, 3.0}},
};
static const grid_dim SETTABLE[] = {
    {"r0_px", PF(r0_px), 0, {0}},       {"aspect", PF(aspect), 0, {0}},
    {"w_edge", PF(w_edge), 0, {0}},     {"w_ridge", PF(w_ridge), 0, {0}},
    {"w_prior", PF(w_prior), 0, {0}},   {"w_step", PF(w_step), 0, {0}},
    {"w_region", PF(w_region), 0, {0}}, {"seed_search", PF(seed_search), 0, {0}},
    {"w_dist", PF(w_dist), 0, {0}},     {"r_min_frac", PF(r_min_frac), 0, {0}},
    {"r_max_frac", PF(r_max_frac), 0, {0}},
};
#define N_DIMS ((int)(sizeof GRID / sizeof GRID[0]))

static int grid_size(void)
{
    int n = 1;
    for (int d = 0; d < N_DIMS; d++)
        n *= GRID[d].n;
    return n;
}

static void grid_params(int g, const cn_nerve_params *base, cn_nerve_params *p)
{
    *p = *base;
    for (int d = 0; d < N_DIMS; d++) {
        *(double *)((char *)p + GRID[d].off) = GRID[d].v[g % GRID[d].n];
        g /= GRID[d].n;
    }
}

static void print_params(const cn_nerve_params *p)
{
    for (size_t i = 0; i < sizeof SETTABLE / sizeof SETTABLE[0]; i++)
        printf(" %s %g", SETTABLE[i].name, *(const double *)((const char *)p + SETTABLE[i].off));
    printf("\n");
}

static int set_param(cn_nerve_params *p, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return CN_EINVAL;
    for (size_t i = 0; i < sizeof SETTABLE / sizeof SETTABLE[0]; i++)
        if (strlen(SETTABLE[i].name) == (size_t)(eq - kv) &&
            strncmp(SETTABLE[i].name, kv, (size_t)(eq - kv)) == 0) {
            char *end;
            double v = strtod(eq + 1, &end);
            if (*end || !isfinite(v))
                return CN_EINVAL;
            *(double *)((char *)p + SETTABLE[i].off) = v;
            return CN_OK;
        }
    return CN_ENOENT;
}

/* Dice and HD95 of a contour against a truth mask; poly is scratch (w*h). */
static void contour_metrics(const cn_pt2 *pts, int n, const uint8_t *truth, uint8_t *poly, int w,
                            int h, double *dice, double *hd95)
{
    memset(poly, 0, (size_t)w * h);
    if (n >= 3)
        cn_img_fill_polygon(poly, w, h, pts, n, 1);
    *dice = cn_mask_dice(poly, truth, w, h);
    if (hd95)
        *hd95 = cn_mask_hd95(poly, truth, w, h);
}

/* Debug picture: the image darkened, true nerve border black, found outline white. */
static void write_overlay(const char *dir, const char *name, const cn_image *im,
                          const cn_image *truth, uint8_t *scratch, const cn_pt2 *pts, int n)
{
    int w = im->w, h = im->h;
    for (int i = 0; i < w * h; i++)
        scratch[i] = (uint8_t)(im->px[i] * 3 / 4);
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            const uint8_t *t = truth->px + (size_t)y * w + x;
            if (t[0] && (!t[-1] || !t[1] || !t[-w] || !t[w]))
                scratch[(size_t)y * w + x] = 0;
        }
    for (int a = 0; a < n; a++) {
        cn_pt2 p0 = pts[a], p1 = pts[(a + 1) % n];
        for (int k = 0; k <= 20; k++) {
            int x = (int)(p0.x + (p1.x - p0.x) * k / 20.0f), y = (int)(p0.y + (p1.y - p0.y) * k / 20.0f);
            if (x >= 0 && y >= 0 && x < w && y < h)
                scratch[(size_t)y * w + x] = 255;
        }
    }
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cn_png_write_gray(path, scratch, w, h, err, sizeof err) != CN_OK)
        fprintf(stderr, "cryonav eval: %s\n", err);
}

typedef struct {
    cn_image *img, *truth;
    double seed_x, seed_y;
} nerve_item;

static int load_nerve_item(const char *idir, const char *mdir, const char *name, nerve_item *it,
                           char *err, size_t err_len)
{
    char p1[2048], p2[2048];
    snprintf(p1, sizeof p1, "%s/%s", idir, name);
    snprintf(p2, sizeof p2, "%s/%s", mdir, name);
    memset(it, 0, sizeof *it);
    int rc = cn_png_read_gray(p1, &it->img, err, err_len);
    if (rc)
        return rc;
    cn_image *m = NULL;
    rc = cn_png_read_index(p2, &m, err, err_len);
    if (rc)
        goto fail;
    if (m->w != it->img->w || m->h != it->img->h) {
        snprintf(err, err_len, "%s: mask is %dx%d but its image is %dx%d", p2, m->w, m->h,
                 it->img->w, it->img->h);
        rc = CN_EINVAL;
        goto fail;
    }
    size_t np = (size_t)m->w * m->h;
    for (size_t i = 0; i < np; i++)
        m->px[i] = m->px[i] == 1;
    it->truth = m;
    if (cn_mask_centroid(m->px, m->w, m->h, &it->seed_x, &it->seed_y, NULL) != CN_OK) {
        snprintf(err, err_len, "%s: mask has no nerve pixel (index 1)", p2);
        rc = CN_EINVAL;
        goto fail;
    }
    return CN_OK;
fail:
    cn_image_free(it->img);
    cn_image_free(m);
    memset(it, 0, sizeof *it);
    return rc;
}

static int run_one(cn_nerve_seg *seg, const nerve_item *it, bool seeded, const cn_nerve_params *p,
                   cn_pt2 *pts, int *n, float *conf)
{
    if (seeded)
        return cn_nerve_seg_run(seg, it->seed_x, it->seed_y, p, pts, n, conf);
    double sx, sy;
    return cn_nerve_seg_auto(seg, p, pts, n, conf, &sx, &sy);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Trains the perceptron on every usable image not in fold f (all when kfold is
 * 0); the size prior is the median equivalent radius of the training masks. */
static int train_fold(const nerve_item *items, const int *ok, int n, int kfold, int f,
                      cn_nerve_seg *seg, const cn_nerve_params *base, int epochs,
                      cn_nerve_mlp *out)
{
    double *req = malloc(sizeof(double) * (size_t)n);
    cn_nerve_trainset *ts = cn_nerve_trainset_new();
    int m = 0, rc = CN_OK;
    if (!req || !ts) {
        rc = CN_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!ok[i] || (kfold && i % kfold == f))
            continue;
        long area;
        cn_mask_centroid(items[i].truth->px, items[i].truth->w, items[i].truth->h, NULL, NULL,
                         &area);
        req[m++] = sqrt((double)area / M_PI);
    }
    if (m < 2) {
        rc = CN_EINVAL;
        goto done;
    }
    qsort(req, (size_t)m, sizeof(double), cmp_dbl);
    cn_nerve_params p = *base;
    p.r0_px = req[m / 2];
    for (int i = 0; i < n; i++) {
        if (!ok[i] || (kfold && i % kfold == f))
            continue;
        const cn_image *im = items[i].img;
        cn_nerve_seg_prepare(seg, im->px, im->w, im->h);
        rc = cn_nerve_trainset_add(ts, seg, items[i].truth->px, im->w, im->h, items[i].seed_x,
                                   items[i].seed_y, &p);
        if (rc)
            goto done;
    }
    rc = cn_nerve_mlp_train(ts, epochs, 12345u + (uint64_t)f, out);
    out->r0_px = p.r0_px;
done:
    free(req);
    cn_nerve_trainset_free(ts);
    return rc;
}

static int eval_nerve(int argc, char **argv)
{
    bool seeded = false;
    int kfold = 0;
    cn_nerve_params base;
    cn_nerve_params_default(&base);
    const char *overlay_dir = NULL, *weights_out = NULL, *cnn_weights = NULL;
    bool use_dp = true; /* the live method; --method mlp for the learned one */
    bool use_cnn = false; /* --method cnn: the seeded CNN with offline-trained weights */
    bool method_given = false;
    int epochs = 4;
    const char *dirs[2] = {NULL, NULL};
    int nd = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeded") == 0)
            seeded = true;
        else if (strcmp(argv[i], "--kfold") == 0 && i + 1 < argc) {
            char *end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || k < 2 || k > 20)
                return cn_app_usage_error("eval", "--kfold needs a whole number 2..20, not '%s'",
                                          argv[i]);
            kfold = (int)k;
        } else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) {
            i++;
            method_given = true;
            if (strcmp(argv[i], "mlp") == 0)
                use_dp = false;
            else if (strcmp(argv[i], "cnn") == 0)
                use_dp = false, use_cnn = true;
            else if (strcmp(argv[i], "dp") != 0)
                return cn_app_usage_error("eval", "--method is dp, mlp or cnn, not '%s'",
                                          argv[i]);
        } else if (strcmp(argv[i], "--write-weights") == 0 && i + 1 < argc) {
            weights_out = argv[++i];
        } else if (strcmp(argv[i], "--cnn-weights") == 0 && i + 1 < argc) {
            cnn_weights = argv[++i];
        } else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
            epochs = atoi(argv[++i]);
            if (epochs < 1 || epochs > 100)
                return cn_app_usage_error("eval", "--epochs needs 1..100");
        } else if (strcmp(argv[i], "--overlays") == 0 && i + 1 < argc) {
            overlay_dir = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            if (set_param(&base, argv[++i]) != CN_OK)
                return cn_app_usage_error("eval", "--set needs name=value with a known "
                                                  "parameter name, not '%s'", argv[i]);
        } else if (argv[i][0] == '-')
            return cn_app_usage_error("eval", "nerve: unknown option '%s'", argv[i]);
        else if (nd < 2)
            dirs[nd++] = argv[i];
        else
            return cn_app_usage_error("eval", "nerve: too many arguments ('%s')", argv[i]);
    }
    if (nd != 2)
        return cn_app_usage_error("eval", "usage: eval nerve IMAGES MASKS [--seeded] [--kfold K] "
                                          "[--method dp|mlp|cnn] [--set name=value]");
    if (weights_out && (use_dp || use_cnn))
        return cn_app_usage_error("eval", "--write-weights trains the perceptron: add --method mlp");
    if (cnn_weights && ((method_given && !use_cnn) || !seeded))
        return cn_app_usage_error("eval", "--cnn-weights is for the seeded CNN: add --seeded "
                                          "(and --method cnn or no --method)");
    /* Default: seeded -> the CNN (held-out 0.688 vs the DP's 0.567, docs/validation.md;
     * its folds exist for K = 5 only), automatic -> the DP. */
    if (!method_given && seeded && !weights_out && (kfold == 0 || kfold == CN_NERVE_CNN_KFOLD))
        use_dp = false, use_cnn = true;
    printf("method %s\n", use_cnn ? "cnn" : use_dp ? "dp" : "mlp");
    if (use_cnn && kfold && kfold != CN_NERVE_CNN_KFOLD)
        return cn_app_usage_error("eval", "--method cnn has weights for --kfold %d only (folds "
                                  "trained offline), not %d", CN_NERVE_CNN_KFOLD, kfold);
    char err[4400];
    char **names;
    int n;
    if (cn_eval_list_png(dirs[0], &names, &n, err, sizeof err) != CN_OK)
        return cn_app_usage_error("eval", "%s", err);
    nerve_item *items = calloc((size_t)n, sizeof *items);
    double *table = kfold ? malloc(sizeof(double) * (size_t)n * (size_t)grid_size()) : NULL;
    int *ok = calloc((size_t)n, sizeof(int));
    if (!items || !ok || (kfold && !table)) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        free(items), free(table), free(ok);
        cn_eval_free_list(names, n);
        return 1;
    }
    int bad = 0;
    /* Load everything first: each image is kept (a few hundred KB each). */
    for (int i = 0; i < n; i++) {
        if (load_nerve_item(dirs[0], dirs[1], names[i], &items[i], err, sizeof err) != CN_OK) {
            fprintf(stderr, "\ncryonav eval: %s (skipped)\n", err);
            bad++;
            continue;
        }
        ok[i] = 1;
    }
    int maxw = 8, maxh = 8;
    for (int i = 0; i < n; i++)
        if (ok[i]) {
            if (items[i].img->w > maxw) maxw = items[i].img->w;
            if (items[i].img->h > maxh) maxh = items[i].img->h;
        }
    cn_nerve_seg *seg = cn_nerve_seg_new(maxw, maxh);
    uint8_t *poly = malloc((size_t)maxw * maxh);
    cn_nerve_cnn *cnn = NULL;
    int rc = 0;
    if (use_cnn && cnn_weights) {
        /* a retrained model to measure before it is built in */
        size_t len = 0;
        char *blob = cn_file_read_all(cnn_weights, &len);
        if (!blob) {
            fprintf(stderr, "cryonav eval: %s: cannot read the CNN weights file\n", cnn_weights);
            rc = 2;
            goto out;
        }
        cnn = cn_nerve_cnn_new_with(maxw < 16 ? 16 : maxw, maxh < 16 ? 16 : maxh, blob, len, err,
                                    sizeof err);
        free(blob);
        if (!cnn) {
            fprintf(stderr, "cryonav eval: %s: %s\n", cnn_weights, err);
            rc = 2;
            goto out;
        }
    } else if (use_cnn) {
        cnn = cn_nerve_cnn_new(maxw < 16 ? 16 : maxw, maxh < 16 ? 16 : maxh);
    }
    const int n_grid = grid_size();
    if (!seg || !poly || (use_cnn && !cnn)) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        rc = 1;
        goto out;
    }
    cn_pt2 pts[CN_CONTOUR_MAX];
    int np;
    float conf;
    if (kfold && use_dp) {
        fprintf(stderr, "grid search: %d parameter sets x %d images\n", n_grid, n);
        for (int i = 0; i < n; i++) {
            cn_eval_progress(i, n);
            if (!ok[i])
                continue;
            cn_image *im = items[i].img;
            cn_nerve_seg_prepare(seg, im->px, im->w, im->h);
            for (int g = 0; g < n_grid; g++) {
                cn_nerve_params p;
                grid_params(g, &base, &p);
                double d = 0;
                if (run_one(seg, &items[i], seeded, &p, pts, &np, &conf) == CN_OK)
                    contour_metrics(pts, np, items[i].truth->px, poly, im->w, im->h, &d, NULL);
                table[(size_t)i * n_grid + g] = d;
            }
        }
        cn_eval_progress(n, n);
    }
    double *dices = malloc(sizeof(double) * (size_t)n), *hds = malloc(sizeof(double) * (size_t)n);
    int m = 0;
    double sum_d = 0, sum_hd = 0, sum_ms = 0;
    int n_hd = 0, found = 0;
    for (int f = 0; f < (kfold ? kfold : 1) && rc == 0; f++) {
        cn_nerve_params p = base;
        cn_nerve_mlp mlp = *cn_nerve_mlp_builtin();
        const int cnn_model = kfold ? f : CN_NERVE_CNN_LIVE;
        if (use_cnn) {
            if (kfold)
                printf("fold %d/%d: CNN model %d (trained offline on the other folds)\n", f + 1,
                       kfold, f);
            else
                printf("CNN live model (trained on all images: figures below are NOT "
                       "held-out)\n");
        } else if (!use_dp && (kfold || weights_out)) {
            if (train_fold(items, ok, n, kfold, f, seg, &base, epochs, &mlp) != CN_OK) {
                fprintf(stderr, "cryonav eval: training failed (out of memory or no data)\n");
                rc = 1;
                break;
            }
            p.r0_px = mlp.r0_px;
            if (kfold)
                printf("fold %d/%d: perceptron trained on the other folds, r0_px %.1f\n", f + 1,
                       kfold, p.r0_px);
            else
                printf("perceptron trained on all images (figures below are NOT held-out), "
                       "r0_px %.1f\n", p.r0_px);
            if (weights_out && !kfold) {
                char note[256];
                snprintf(note, sizeof note, "Trained by: cryonav eval nerve IMAGES MASKS%s "
                         "--method mlp --write-weights FILE --epochs %d (all %d images).",
                         seeded ? " --seeded" : "", epochs, n - bad);
                if (cn_nerve_mlp_write_c(&mlp, weights_out, note) != CN_OK)
                    fprintf(stderr, "cryonav eval: cannot write %s\n", weights_out);
                else
                    fprintf(stderr, "wrote %s\n", weights_out);
            }
        } else if (!use_dp) {
            p.r0_px = mlp.r0_px;
        } else if (kfold) {
            int bestg = 0;
            double best = -1;
            for (int g = 0; g < n_grid; g++) {
                double s = 0;
                for (int i = 0; i < n; i++)
                    if (ok[i] && i % kfold != f)
                        s += table[(size_t)i * n_grid + g];
                if (s > best) {
                    best = s;
                    bestg = g;
                }
            }
            grid_params(bestg, &base, &p);
            printf("fold %d/%d: chosen on %d training images (train mean dice %.3f):", f + 1,
                   kfold, n - (n + kfold - 1 - f) / kfold,
                   best / (n - (n + kfold - 1 - f) / kfold));
            print_params(&p);
        } else {
            printf("parameters:");
            print_params(&p);
        }
        for (int i = 0; i < n; i++) {
            if (!ok[i] || (kfold && i % kfold != f))
                continue;
            cn_image *im = items[i].img;
            int64_t t0 = cn_clock_mono_ns();
            cn_nerve_seg_prepare(seg, im->px, im->w, im->h);
            int r;
            if (use_cnn) {
                double sx = items[i].seed_x, sy = items[i].seed_y;
                r = CN_OK;
                if (!seeded)
                    r = cn_nerve_seg_auto(seg, &p, pts, &np, &conf, &sx, &sy);
                if (r == CN_OK)
                    r = cn_nerve_cnn_run(cnn, cnn_model, im->px, im->w, im->h, sx, sy, poly, pts,
                                         &np, &conf);
            } else if (use_dp)
                r = run_one(seg, &items[i], seeded, &p, pts, &np, &conf);
            else if (seeded)
                r = cn_nerve_seg_run_mlp(seg, &mlp, items[i].seed_x, items[i].seed_y, &p, pts,
                                         &np, &conf);
            else
                r = cn_nerve_seg_auto_mlp(seg, &mlp, &p, pts, &np, &conf);
            double ms = (double)(cn_clock_mono_ns() - t0) / 1e6;
            double d = 0, hd = NAN;
            if (r == CN_OK && use_cnn) {
                d = cn_mask_dice(poly, items[i].truth->px, im->w, im->h);
                hd = cn_mask_hd95(poly, items[i].truth->px, im->w, im->h);
            } else if (r == CN_OK)
                contour_metrics(pts, np, items[i].truth->px, poly, im->w, im->h, &d, &hd);
            bool is_found = r == CN_OK && conf >= p.min_confidence;
            if (overlay_dir && r == CN_OK)
                write_overlay(overlay_dir, names[i], im, items[i].truth, poly, pts, np);
            found += is_found;
            printf("%s dice %.3f hd95_px %.1f conf %.2f%s ms %.2f\n", names[i], d, hd, conf,
                   is_found ? "" : " (not found)", ms);
            dices[m] = d;
            sum_d += d;
            sum_ms += ms;
            if (isfinite(hd)) {
                hds[n_hd++] = hd;
                sum_hd += hd;
            }
            m++;
            if (!kfold)
                cn_eval_progress(m, n - bad);
        }
    }
    if (m == 0) {
        fprintf(stderr, "cryonav eval: no usable image/mask pair\n");
        rc = 2;
    } else {
        printf("images %d (skipped %d) mode %s%s found %d\n", m, bad,
               seeded ? "seeded" : "automatic", kfold ? " held-out k-fold" : " default params",
               found);
        printf("median dice %.3f\n", cn_eval_median(dices, m));
        printf("mean hd95_px %.1f median hd95_px %.1f\n", n_hd ? sum_hd / n_hd : NAN,
               cn_eval_median(hds, n_hd));
        printf("mean ms_per_image %.2f\n", sum_ms / m);
        printf("mean dice %.3f\n", sum_d / m);
        rc = bad ? 1 : 0;
    }
    free(dices);
    free(hds);
out:
    cn_nerve_seg_free(seg);
    cn_nerve_cnn_free(cnn);
    free(poly);
    for (int i = 0; i < n; i++) {
        cn_image_free(items[i].img);
        cn_image_free(items[i].truth);
    }
    free(items);
    free(table);
    free(ok);
    cn_eval_free_list(names, n);
    return rc;
}

/* `eval nerve --help` (here, apart from eval_nerve's parsing, so that the help
 * stays one block whoever changes the evaluation). */
static void eval_nerve_usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav eval nerve IMAGES MASKS [options]\n"
        "Nerve segmentation on real images (folder IMAGES, PNG) against palette masks\n"
        "(folder MASKS, index 1 = nerve), paired by file name: Dice, HD95 (pixels),\n"
        "confidence and time per image, then mean and median (see docs/validation.md).\n\n"
        "options:\n"
        "  --seeded             give the centroid of the true mask as the operator's point\n"
        "                       (default: automatic, no point)\n"
        "  --kfold K            choose parameters on K-1 folds (fold = file index mod K;\n"
        "                       dp: grid search, mlp: training) and measure each image on\n"
        "                       the fold that did not see it (2..20; default none: the\n"
        "                       built-in parameters / weights)\n"
        "  --method M           dp | mlp | cnn (default: cnn with --seeded and --kfold 5 or\n"
        "                       none, dp otherwise); cnn is the seeded CNN trained offline\n"
        "                       per fold (K = 5 only; tools/train/train_nerve_cnn.py)\n"
        "  --set NAME=VALUE     a segmentation parameter (r0_px, aspect, w_edge, w_ridge,\n"
        "                       w_prior, w_step, w_region, seed_search, w_dist, r_min_frac,\n"
        "                       r_max_frac); may be repeated\n"
        "  --overlays DIR       write each image with the true outline (black) and the\n"
        "                       found one (white) to DIR/<image name>\n"
        "  --write-weights FILE with --method mlp and no --kfold: write the perceptron\n"
        "                       trained on all images to FILE (C source)\n"
        "  --epochs N           mlp training epochs (1..100, default 4)\n"
        "  --cnn-weights FILE   with --seeded: measure a retrained CNN weights file\n"
        "                       instead of the built-in one\n"
        "  -h, --help           this help\n\n"
        "outputs: stdout: 'method <m>', one line per image ('<name> dice <d> hd95_px <h>\n"
        "conf <c> ms <t>'), then the means and medians; a progress bar on stderr;\n"
        "DIR/<image name> with --overlays; FILE with --write-weights (named on stderr).\n"
        "Last line: mean dice <x>\n");
}

int cn_cmd_eval(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "nerve") == 0) {
        if (cn_app_wants_help(argc, argv)) {
            eval_nerve_usage(stdout);
            return 0;
        }
        return eval_nerve(argc - 1, argv + 1);
    }
    /* needle and sim parse their own options, --help included */
    if (argc >= 2 && strcmp(argv[1], "needle") == 0)
        return cn_eval_needle(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sim") == 0)
        return cn_eval_sim(argc - 1, argv + 1);
    if (argc < 2 || cn_app_wants_help(argc, argv)) {
        /* asked for: stdout and exit 0; no mode given: a usage error on stderr */
        fprintf(argc < 2 ? stderr : stdout, "usage: cryonav eval nerve IMAGES MASKS [options]\n"
               "       cryonav eval needle FRAMES MASKS [options]\n"
               "       cryonav eval sim [options]\n"
               "Measures the image analysis against ground truth (see docs/validation.md):\n"
               "nerve: the nerve segmentation on real images and masks; needle: the needle\n"
               "detector and tracker on frames and masks, or on randomised simulator scenes;\n"
               "sim: the whole analysis on simulated sessions (needle, ice front, nerve).\n\n"
               "options:\n"
               "  -h, --help           this help; 'cryonav eval MODE --help' describes a mode's\n"
               "                       options and outputs\n\n"
               "outputs: stdout (per item, then the means; a progress bar on stderr). Last\n"
               "line: nerve 'mean dice <x>'; needle 'mean angle_err_deg <x> line_dist_px <y>\n"
               "detected <k>/<n>'; sim 'mean tip_err_mm <x> angle_err_deg <y> ...'.\n");
        return argc < 2 ? 2 : 0;
    }
    return cn_app_usage_error("eval", "unknown evaluation '%s' (nerve, needle or sim)", argv[1]);
}
