/*
 * eval_nerve.c - `cryonav eval nerve`: the nerve finder (or the polar DP, or the
 * seeded crop CNN) measured against expert masks, runnable by anyone.
 *
 *   eval nerve IMAGES MASKS [IMAGES MASKS ...] [--seeded [--seed-at nerve|mask]]
 *              [--method find|dp|cnn]
 *              [--model live|fold|us|fem|0..7] [--folds mod|block] [--only-folds LIST]
 *              [--every N] [--weights FILE] [--cnn-weights FILE] [--overlays DIR]
 *              [--nerve-free FILE|DIR ...] [--quiet]
 *
 * Images in any format the one reader takes (cn_image_read: PNG, JPEG, BMP,
 * TIFF, MetaImage, NRRD, DICOM) are paired with the mask of the same base name in the
 * folder after them (any of those formats; palette index 1 or grey > 127 =
 * nerve, cn_mask_read); a stack (multi-page TIFF, 3-D MetaImage / NRRD) with a mask
 * stack is scored page by page, "file[k]" (eval_stack.c). Several folder pairs form
 * ONE set, ordered naturally by name (digit runs compare as numbers: sample_9 before
 * sample_10), the order the
 * training script uses, so file index i has the same fold here and there:
 * --folds mod puts image i in fold i mod 5 (nerve-us), --folds block in fold
 * i * 5 / n (nerve-femoral: five blocks of consecutive frames). --model fold then
 * segments each image with the network trained without its fold (held-out);
 * --only-folds 0,1,2,3 keeps the reported split (fold 4 chose the recipe).
 *
 * Printed: one line per image (unless --quiet), then the count, the detection
 * rate (found and overlapping the mask), false finds on images whose mask is
 * empty, median Dice, mean/median HD95 in pixels (over images where something
 * was found), time per image (all its clicks) and, seeded with several nerves,
 * per click, 95 % intervals of the mean Dice (a percentile bootstrap over the
 * images, fixed seed) and of the detection rate (Wilson's); last line "mean dice <x>" (over images with a
 * nerve; a miss counts 0). Dice and HD95 are on the kept parts' mask; seeded,
 * each nerve of the mask is clicked in turn and scored against itself, the
 * image scoring the mean (eval_nerve_run.c). A progress bar goes to stderr when
 * it is a terminal.
 *
 * --nerve-free FILE|DIR adds every frame of a sequence file (or every image of a
 * folder) as a view without a nerve (eval_nerve_free.c), after the image set;
 * the k-th such view is in fold k mod 5 (no network saw any of them, so each is
 * held-out for every model).
 */
#include "commands.h"
#include "eval.h"
#include "eval_nerve.h"

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#define MAX_DIRS 16


/* Debug picture: the image darkened, the true border black, the found mask's
 * border white. */
static void write_overlay(const char *dir, const char *name, const cn_image *im,
                          const uint8_t *truth, const uint8_t *found)
{
    const int w = im->w, h = im->h;
    uint8_t *scratch = malloc((size_t)w * h);
    if (!scratch)
        return;
    for (int i = 0; i < w * h; i++)
        scratch[i] = (uint8_t)(im->px[i] * 3 / 4);
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * w + x;
            if (truth[i] && (!truth[i - 1] || !truth[i + 1] || !truth[i - w] || !truth[i + w]))
                scratch[i] = 0;
            if (found[i] && (!found[i - 1] || !found[i + 1] || !found[i - w] || !found[i + w]))
                scratch[i] = 255;
        }
    char path[4096], err[512];
    const size_t nl = strlen(name);
    if (nl > 2 && name[nl - 1] == ']' && strchr(name, '[')) { /* a sequence frame: file[k] */
        const char *br = strrchr(name, '[');
        snprintf(path, sizeof path, "%s/%.*s_frame%.*s.png", dir, (int)(br - name), name,
                 (int)(nl - 2 - (size_t)(br - name)), br + 1);
    } else {
        snprintf(path, sizeof path, "%s/%.*s.png", dir, (int)cn_eval_stem_len(name), name);
    }
    /* an image in a patient's subfolder ("p1/0002.png"): "p1_0002.png" in DIR, never a
     * path out of it (before, nothing was written: input audit I5) */
    for (char *c = path + strlen(dir) + 1; *c; c++)
        if (*c == '/')
            *c = '_';
    if (cn_png_write_gray(path, scratch, w, h, err, sizeof err) != CN_OK)
        fprintf(stderr, "cryonav eval: %s\n", err);
    free(scratch);
}


static int parse_model(const char *s, int *out)
{
    static const struct {
        const char *name;
        int model;
    } names[] = {{"live", CN_NERVE_FIND_LIVE}, {"fold", -1}, {"us", CN_NERVE_FIND_US},
                 {"fem", CN_NERVE_FIND_FEM}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].model;
            return CN_OK;
        }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end && v >= 0 && v < CN_NERVE_FIND_NMODELS) {
        *out = (int)v;
        return CN_OK;
    }
    return CN_EINVAL;
}

static int parse_folds(const char *s, unsigned *mask)
{
    *mask = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= CN_NERVE_FIND_KFOLD)
            return CN_EINVAL;
        *mask |= 1u << v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return CN_EINVAL;
    }
    return *mask ? CN_OK : CN_EINVAL;
}

static int usage(const char *why, const char *arg)
{
    return cn_app_usage_error("eval", "nerve: %s%s%s%s", why, arg ? " '" : "", arg ? arg : "",
                              arg ? "'" : "");
}

int cn_eval_nerve(int argc, char **argv)
{
    eval_opts o = {.per_nerve = true, .method = M_FIND, .model = CN_NERVE_FIND_LIVE, .folds_block = -1, .every = 1};
    bool model_given = false;
    const char *nerve_free[MAX_DIRS];
    int n_free = 0;
    static const struct option longs[] = {
        {"seeded", no_argument, NULL, 's'},      {"seed-at", required_argument, NULL, 'S'},      {"method", required_argument, NULL, 'M'},
        {"model", required_argument, NULL, 'm'}, {"folds", required_argument, NULL, 'f'},
        {"only-folds", required_argument, NULL, 'o'}, {"every", required_argument, NULL, 'e'},
        {"weights", required_argument, NULL, 'w'}, {"overlays", required_argument, NULL, 'O'},
        {"cnn-weights", required_argument, NULL, 'C'}, {"click-off", required_argument, NULL, 'K'},
        {"nerve-free", required_argument, NULL, 'N'}, {"refine-weights", required_argument, NULL, 'R'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":qh", longs, NULL)) != -1) {
        switch (c) {
        case 's': o.seeded = true; break;
        case 'S':
            if (strcmp(optarg, "nerve") == 0) o.per_nerve = true;
            else if (strcmp(optarg, "mask") == 0) o.per_nerve = false;
            else return usage("--seed-at is nerve (a click on each nerve) or mask (the whole "
                              "mask's centroid), not", optarg);
            break;
        case 'q': o.quiet = true; break;
        case 'M':
            if (strcmp(optarg, "find") == 0) o.method = M_FIND;
            else if (strcmp(optarg, "dp") == 0) o.method = M_DP;
            else if (strcmp(optarg, "cnn") == 0) o.method = M_CNN;
            else return usage("--method is find, dp or cnn, not", optarg);
            break;
        case 'm':
            if (parse_model(optarg, &o.model) != CN_OK)
                return usage("--model is live, fold, us, fem or 0..7, not", optarg);
            model_given = true;
            break;
        case 'f':
            if (strcmp(optarg, "mod") == 0) o.folds_block = 0;
            else if (strcmp(optarg, "block") == 0) o.folds_block = 1;
            else return usage("--folds is mod (index mod 5) or block (5 index blocks), not", optarg);
            break;
        case 'o':
            if (parse_folds(optarg, &o.only_folds) != CN_OK)
                return usage("--only-folds needs fold numbers 0..4 separated by commas, not", optarg);
            break;
        case 'e': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000)
                return usage("--every needs a whole number >= 1, not", optarg);
            o.every = (int)v;
            break;
        }
        case 'K': {
            char *end;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || !(v >= 0 && v <= 1))
                return usage("--click-off needs a share of the nerve's radius in 0..1, not", optarg);
            o.click_off = v;
            break;
        }
        case 'w': o.weights = optarg; break;
        case 'C': o.cnn_weights = optarg; break;
        case 'R': o.refine_weights = optarg; break;
        case 'O': o.overlays = optarg; break;
        case 'N':
            if (n_free == MAX_DIRS)
                return usage("--nerve-free takes up to 16 files; one more was", optarg);
            nerve_free[n_free++] = optarg;
            break;
        case 'h':
            printf("usage: cryonav eval nerve IMAGES MASKS [IMAGES MASKS ...] [--nerve-free FILE|DIR ...] [options]\n"
                   "Measures the nerve finding on real images against their masks: images and\n"
                   "masks in any common format (PNG, JPEG, GIF, BMP, TIFF, MHA, NRRD, NIfTI .nii\n"
                   "/ .nii.gz, DICOM .dcm), paired by name: the same name or stem in MASKS, or the\n"
                   "stem with _mask, -mask, _seg, _label or _gt (MASKS may be the IMAGES folder:\n"
                   "1_1.tif beside 1_1_mask.tif), an image word swapped for a mask word\n"
                   "(001_image with 001_mask, image_7 or img_7 with mask_7 / label_7), or\n"
                   "nnU-Net's CASE_0000 with CASE (imagesTr, labelsTr); mask index/value 1 or\n"
                   "> 127 = nerve (colour: the brightest channel). Subfolders (one per patient)\n"
                   "are read when MASKS has the same ones (or is IMAGES), four levels down,\n"
                   "links not followed. Folder pairs form one set in natural name order. A\n"
                   "stack (multi-page TIFF, 3-D MHA / NRRD / NIfTI: a cine in one file) with a mask\n"
                   "stack is scored page by page, as FILE[0] .. FILE[n-1].\n\n"
                   "options:\n"
                   "  --seeded             the operator clicks the nerve (see --seed-at)\n"
                   "  --seed-at nerve|mask nerve (default): one click on each nerve (8-connected\n"
                   "                       part of the mask), scored against that nerve, the\n"
                   "                       image's Dice the mean; mask: one click at the whole\n"
                   "                       mask's centroid, scored against the whole mask\n"
                   "  --click-off F        each nerve's click F x its equivalent radius off its\n"
                   "                       centre pixel, on the nerve (0..1; default 0): an\n"
                   "                       operator's click is rarely the centre\n"
                   "  --method find|dp|cnn nerve finder (default), polar DP, seeded crop CNN\n"
                   "  --model live|fold|us|fem|N  network (default live; fold: each image by the\n"
                   "                       network trained without its fold, needs --folds)\n"
                   "  --folds mod|block    fold of image i: i mod 5, or i * 5 / n (index blocks)\n"
                   "  --only-folds LIST    only images of these folds (e.g. 0,1,2,3)\n"
                   "  --every N            every Nth image of the ordered set\n"
                   "  --weights FILE       another weights file for the method's network\n"
                   "  --cnn-weights FILE   another crop CNN for --method find's seeded outlines\n"
                   "                       (networks trained on frames cut to the scanner's\n"
                   "                       field of view, as the built-in ones, get each\n"
                   "                       image cut so; their masks are pasted back)\n"
                   "  --refine-weights FILE another crop CNN for automatic mode's refine (the\n"
                   "                       built-in one: nerve_refine.weights)\n"
                   "  --overlays DIR       a picture per image (truth black, found white)\n"
                   "  --nerve-free FILE|DIR every frame of a sequence file (.igs.mha, .igs.nrrd,\n"
                   "                       .seq.nrrd, a recording), or every image of a folder,\n"
                   "                       is a view without a nerve: a find there is a false\n"
                   "                       find (repeatable; IMAGES MASKS may then be left out;\n"
                   "                       with --model fold the k-th such view is in fold k mod 5)\n"
                   "  -q, --quiet          no line per image\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout: a line per image (unless --quiet), then mean and median\n"
                   "Dice, HD95 (px), detection rate, false finds, ms per image (and per click\n"
                   "when seeded images have several nerves), 95%% intervals of the mean Dice\n"
                   "(bootstrap over images) and the detection rate (Wilson); a progress bar\n"
                   "on stderr; DIR/<image>.png with --overlays. Last line: mean dice <x>.\n");
            return 0;
        case ':': return usage("option needs a value:", argv[optind - 1]);
        default: return usage("unknown option", argv[optind - 1]);
        }
    }
    int nd = argc - optind;
    if ((nd < 2 && n_free == 0) || nd % 2 || nd / 2 > MAX_DIRS)
        return usage("needs IMAGES MASKS folder pairs (up to 16 pairs) or --nerve-free FILE",
                     NULL);
    if (o.model < 0 && o.folds_block < 0)
        return usage("--model fold needs --folds mod or --folds block", NULL);
    if (o.only_folds && o.folds_block < 0)
        return usage("--only-folds needs --folds mod or --folds block", NULL);
    if (o.method == M_CNN && !o.seeded)
        return usage("--method cnn outlines around the operator's point: add --seeded", NULL);
    if (o.click_off > 0 && (!o.seeded || !o.per_nerve))
        return usage("--click-off moves the click on each nerve: it needs --seeded (and "
                     "--seed-at nerve)", NULL);
    if (o.method != M_FIND && o.cnn_weights)
        return usage("--cnn-weights is for --method find (--method cnn takes --weights)", NULL);
    if (o.refine_weights && (o.method != M_FIND || o.seeded))
        return usage("--refine-weights is for automatic mode's refine (--method find, not "
                     "--seeded)", NULL);
    if (o.method == M_DP && (model_given || o.weights))
        return usage("--method dp has no network (--model / --weights)", NULL);
    if (o.method == M_CNN) {
        if (!model_given)
            o.model = CN_NERVE_CNN_LIVE;
        else if (o.model >= CN_NERVE_CNN_NMODELS)
            return usage("--method cnn has models 0..4 (folds: nerve-us mod, nerve-femoral "
                         "block) and 5 (live)", NULL);
    }
    if (o.overlays) {
        /* made when missing, as run --snapshot does (before, every picture failed on
         * its own line and the command still said 0) */
        struct stat stt;
        if (mkdir(o.overlays, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "cryonav eval: --overlays %s: %s\n", o.overlays, strerror(errno));
            return 2;
        }
        if (stat(o.overlays, &stt) != 0 || !S_ISDIR(stt.st_mode)) {
            fprintf(stderr, "cryonav eval: --overlays %s: not a folder\n", o.overlays);
            return 2;
        }
        /* the pictures are PNGs named as the images: in an IMAGES or MASKS folder they
         * would replace the data (input audit I4: every input PNG was overwritten) */
        for (int k = optind; k < argc; k++) {
            struct stat sd;
            if (stat(argv[k], &sd) == 0 && sd.st_dev == stt.st_dev && sd.st_ino == stt.st_ino) {
                fprintf(stderr, "cryonav eval: --overlays %s is the folder %s: its pictures "
                        "would replace the images or masks; give another folder\n",
                        o.overlays, argv[k]);
                return 2;
            }
        }
    }
    nerve_pair *pairs = NULL;
    int n = 0, cap = 0, missing = 0, rc = 0;
    for (int k = optind; k + 1 < argc; k += 2)
        if (cn_eval_pairs_add(argv[k], argv[k + 1], &pairs, &n, &cap, &missing) != CN_OK) {
            rc = 2;
            goto out;
        }
    if (n == 0 && nd > 0) {
        fprintf(stderr, "cryonav eval: no image/mask pairs in the folders given\n");
        rc = 2;
        goto out;
    }
    if (n > 1)
        qsort(pairs, (size_t)n, sizeof *pairs, cn_eval_pair_cmp);
    if (cn_eval_pairs_expand_stacks(&pairs, 0, &n, &cap, &missing) != CN_OK) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        rc = 2;
        goto out;
    }
    if (n == 0 && nd > 0) {
        fprintf(stderr, "cryonav eval: no image/mask pairs left in the folders given\n");
        rc = 2;
        goto out;
    }
    const int n_pairs = n; /* the views without a nerve come after the set, unsorted */
    for (int k = 0; k < n_free; k++)
        if (cn_evn_free_add(nerve_free[k], "--nerve-free", &pairs, &n, &cap) != CN_OK) {
            rc = 2;
            goto out;
        }
    if (n_free && cn_eval_pairs_expand_stacks(&pairs, n_pairs, &n, &cap, &missing) != CN_OK) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        rc = 2; /* a stack in a folder of views without a nerve: a view per page */
        goto out;
    }
    printf("method %s, model %s, %d images%s\n",
           o.method == M_FIND ? "find" : o.method == M_DP ? "dp" : "cnn",
           o.method == M_DP ? "-" : o.model < 0 ? "by fold (held-out)" : o.model ==
           CN_NERVE_FIND_LIVE && o.method == M_FIND ? "live (trained on folds 0-3 of both sets: NOT held-out there)"
                                                  :
           "fixed", n_pairs, !o.seeded ? ", automatic" : o.per_nerve ? ", seeded: a click on each nerve, scored per nerve"
                                                  : ", seeded at the whole mask's centroid");
    if (n > n_pairs)
        printf("and %d views without a nerve from %d file%s or folder%s\n", n - n_pairs,
               n_free, n_free == 1 ? "" : "s", n_free == 1 ? "" : "s");
    if (o.click_off > 0)
        printf("each click %.2f x its nerve's equivalent radius off the nerve's centre pixel, "
               "on the nerve\n", o.click_off);
    runners r = {0};
    score_bufs bufs = {0};
    double *dices = malloc(sizeof(double) * (size_t)n), *hds = malloc(sizeof(double) * (size_t)n);
    if (!dices || !hds) {
        fprintf(stderr, "cryonav eval: out of memory\n");
        free(dices);
        free(hds);
        rc = 1;
        goto out;
    }
    int used = 0, with_nerve = 0, detected = 0, found_n = 0, n_hd = 0, empty = 0, false_finds = 0;
    int blank = 0; /* scored images the live stage takes for blank (cn_segment_frame_blank) */
    int bad = missing, clicks = 0;
    double sum_d = 0, sum_hd = 0, sum_ms = 0;
    const bool bar = isatty(STDERR_FILENO);
    int todo = 0;
    for (int i = 0; i < n; i += o.every)
        todo++;
    int done = 0;
    evn_seq *seq = NULL;
    eval_stack *stack = NULL;
    for (int i = 0; i < n && rc == 0; i += o.every) {
        const int fold = i >= n_pairs ? (i - n_pairs) % CN_NERVE_FIND_KFOLD
                         : o.folds_block == 1 ? (int)((long)i * CN_NERVE_FIND_KFOLD / n_pairs)
                                              : i % CN_NERVE_FIND_KFOLD;
        if (bar)
            cn_eval_progress(done, todo);
        done++;
        if (o.only_folds && !(o.only_folds & (1u << fold)))
            continue;
        char err[4400];
        cn_image *im = NULL, *mk = NULL;
        int rrd = pairs[i].frame >= 0
                      ? cn_evn_free_read(&seq, &pairs[i], &im, err, sizeof err)
                  : pairs[i].page >= 0
                      ? cn_eval_stack_read(&stack, &pairs[i], &im, &mk, err, sizeof err)
                      : cn_image_read(pairs[i].image, CN_IMAGE_GREY, &im, err, sizeof err);
        if (rrd == CN_EAGAIN) { /* a stack page whose stack's error was said */
            bad++;
            continue;
        }
        if (rrd == CN_OK && pairs[i].page < 0) /* a view without a nerve (--nerve-free): an empty mask */
            rrd = !pairs[i].mask ? ((mk = cn_image_new(im->w, im->h)) ? CN_OK : CN_ENOMEM)
                                 : cn_mask_read(pairs[i].mask, pairs[i].image, im->w, im->h,
                                                &mk, err, sizeof err);
        if (rrd != CN_OK) {
            if (im && !mk && !pairs[i].mask)
                snprintf(err, sizeof err, "%s: out of memory", pairs[i].name);
            fprintf(stderr, "%scryonav eval: %s (skipped)\n", bar ? "\n" : "", err);
            cn_image_free(im);
            bad++;
            continue;
        }
        const int w = im->w, h = im->h;
        if (w < CN_SEGMENT_MIN_SIDE || h < CN_SEGMENT_MIN_SIDE) {
            /* before the handles are sized for it: a first image this small made
             * the finder refuse them, and that ended the run */
            fprintf(stderr, "%scryonav eval: %s: %d x %d pixels, too small to analyse (at least "
                    "%d x %d; skipped)\n", bar ? "\n" : "", pairs[i].image, w, h,
                    CN_SEGMENT_MIN_SIDE, CN_SEGMENT_MIN_SIDE);
            cn_image_free(im);
            cn_image_free(mk);
            bad++;
            continue;
        }
        int brc = cn_evn_bufs_fit(&bufs, w, h);
        double cx = 0, cy = 0;
        long area = 0;
        bool has_nerve = cn_mask_centroid(mk->px, w, h, &cx, &cy, &area) == CN_OK;
        int rrc = brc == CN_OK ? cn_evn_runners_fit(&r, &o, w, h) : CN_ENOMEM;
        if (rrc == CN_EPARSE || rrc == CN_ENOENT) {
            rc = 2; /* a damaged or missing weights file: nothing can be measured */
        } else if (rrc != CN_OK) {
            fprintf(stderr, "cryonav eval: out of memory\n");
            rc = 1;
        } else if (o.seeded && !has_nerve) {
            empty++; /* no point to give: an image without a nerve says nothing seeded */
        } else {
            const int model = o.model >= 0 ? o.model : fold;
            image_score sc;
            int er = cn_evn_score_image(&r, &o, model, im, mk->px, cx, cy, has_nerve, &bufs, &sc);
            if (er != CN_OK) {
                fprintf(stderr, "%scryonav eval: %s: the analysis failed (%s; skipped)\n",
                        bar ? "\n" : "", pairs[i].image, cn_strerror(er));
                bad++;
            } else {
                const double d = sc.dice, hd = sc.hd95_px, ms = sc.ms;
                const bool found = sc.found, det = sc.detected;
                const float conf = sc.conf;
                used++;
                blank += sc.blank;
                sum_ms += ms * sc.clicks; /* the image: all its clicks */
                clicks += sc.clicks;
                found_n += found;
                if (has_nerve) {
                    dices[with_nerve++] = d;
                    sum_d += d;
                    detected += det;
                    if (isfinite(hd)) {
                        hds[n_hd++] = hd;
                        sum_hd += hd;
                    }
                } else {
                    empty++;
                    false_finds += found;
                }
                if (!o.quiet)
                    printf("%s fold %d dice %.3f hd95_px %.1f conf %.2f %s ms %.2f%s\n",
                           pairs[i].name, fold, d, hd, conf,
                           !found ? "not-found" : !has_nerve ? "FALSE-FIND" : det ? "detected"
                                                                              : "wrong-place",
                           ms, sc.clicks > 1 ? " per click (mean of its nerves)" : "");
                if (o.overlays)
                    write_overlay(o.overlays, pairs[i].name, im, mk->px, bufs.found);
            }
        }
        cn_image_free(im);
        cn_image_free(mk);
    }
    if (bar)
        cn_eval_progress(todo, todo);
    if (rc == 0 && used == 0) {
        if (o.seeded && empty > 0)
            fprintf(stderr, "cryonav eval: no usable image/mask pair: the %d mask%s read %s "
                    "empty, and --seeded needs a nerve to click (a mask marks the nerve with "
                    "index/value 1, a grey level > 127 or a bright colour)\n", empty,
                    empty == 1 ? "" : "s", empty == 1 ? "is" : "are");
        else
            fprintf(stderr, "cryonav eval: no usable image/mask pair\n");
        rc = 2;
    } else if (rc == 0) {
        printf("images %d (skipped %d), with a nerve %d, without %d; found %d\n", used, bad,
               with_nerve, empty, found_n);
        if (blank)
            printf("blank %d: images the live stage takes for blank (mean grey under 2, "
                   "saturated or uniform) and shows no nerve on, scored so\n", blank);
        if (with_nerve)
            printf("detection %.1f%% (%d of %d found and overlapping the mask)\n",
                   100.0 * detected / with_nerve, detected, with_nerve);
        else
            printf("detection - (no image with a nerve)\n");
        if (empty)
            printf("false finds %d of %d images without a nerve\n", false_finds, empty);
        printf("mean hd95_px %.1f median hd95_px %.1f (over %d images with a find)\n",
               n_hd ? sum_hd / n_hd : NAN, cn_eval_median(hds, n_hd), n_hd);
        printf("mean ms_per_image %.2f\n", sum_ms / used);
        if (clicks > used) /* seeded, several nerves in some images */
            printf("mean ms_per_click %.2f (%d clicks on %d image%s)\n", sum_ms / clicks, clicks,
                   used, used == 1 ? "" : "s");
        const double median = cn_eval_median(dices, with_nerve); /* sorts: the interval
                                                                  * below then does not
                                                                  * depend on the order */
        double dlo, dhi, rlo, rhi;
        if (with_nerve && cn_stats_mean_interval95(dices, with_nerve, 2000, 1, &dlo, &dhi) == CN_OK &&
            cn_stats_rate_interval95(detected, with_nerve, &rlo, &rhi) == CN_OK)
            printf("95%% intervals: mean dice %.3f-%.3f (bootstrap over the %d images), detection "
                   "%.1f-%.1f%% (Wilson); frames of one video are not independent: for them "
                   "both are too narrow\n", dlo, dhi, with_nerve, 100 * rlo, 100 * rhi);
        printf("median dice %.3f\n", median);
        printf("mean dice %.3f\n", with_nerve ? sum_d / with_nerve : NAN);
        rc = bad ? 1 : 0;
    }
    free(dices);
    free(hds);
    cn_evn_free_close(seq);
    cn_eval_stack_close(stack);
    cn_evn_bufs_free(&bufs);
    cn_evn_runners_free(&r);
out:
    for (int i = 0; i < n; i++) {
        free(pairs[i].image);
        free(pairs[i].mask);
        free(pairs[i].label);
    }
    free(pairs);
    return rc;
}
