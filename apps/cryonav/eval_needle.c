/*
 * eval_needle.c - `cryonav eval needle FRAMES MASKS`: the needle detector and
 * tracker (cn_segment, as the live stage runs it) on a real frame sequence whose
 * masks mark the visible shaft, frames and masks paired by name (or, as many of each,
 * by sorted name; or in one folder, X_mask beside X); a frame without a mask is tracked
 * through and not scored.
 *
 * Per frame with a needle in its mask: the angle between the reported axis and
 * the mask's principal axis, the distance (px) of the mask's centroid from the
 * reported line, and the tip error: the reported tip against the deepest end of
 * the shaft along the mask's axis (px; mm when the frame file carries a spacing or
 * --spacing-mm is given). Frames whose mask is empty count as "no needle": a
 * reported needle there is a false detection. Frames run in order through one
 * cn_segment, so the tracker is part of what is measured.
 *
 * Input is read by the one image reader (cn_image_read / cn_mask_read: PNG, BMP,
 * JPEG, TIFF, MetaImage, NRRD; masks are 1 where a label image holds 1 or the
 * value is > 127); a stack file (multi-page TIFF, 3-D MetaImage / NRRD) is its pages
 * in order, against a mask stack as long (cn_image_read_stack). A frame that cannot be read, or a mask of another size than
 * its frame, is reported naming the file(s) and skipped (exit status 1); a blank
 * or saturated frame is simply "no needle".
 *
 * `--needle-free SRC` adds views without a needle: every frame of a sequence file or
 * every image of a folder, each a frame with an empty mask; a detection there is printed
 * with where it was seen (tip, angle). Why: the two annotated needle sequences hold 4
 * empty frames between them, and the detector's rate of lines on views with no needle
 * had been measured only on the simulator; on real tissue it draws lines on fascia
 * (docs/validation.md, "Needle lines on real views without a needle").
 */
#include "commands.h"
#include "eval.h"
#include "eval_needle.h"

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav eval needle [FRAMES MASKS] [--needle-free SRC ...] [options]\n"
        "       cryonav eval needle --sim N [--first K] [--pose] [--no-track]\n"
        "The needle detector and tracker on a frame sequence (folder FRAMES) against masks\n"
        "of the visible shaft (folder MASKS), paired by name (as many of each: by sorted\n"
        "name; a frame without a mask is tracked through, not scored). Images: PNG,\n"
        "BMP, JPEG, GIF, TIFF, MHA/MHD, NRRD, NIfTI (.nii, .nii.gz), DICOM (.dcm); a mask is 1\n"
        "where its label is 1 or its value is > 127; an empty mask means the frame has no\n"
        "needle. A stack (a multi-page TIFF, a 3-D MHA / NRRD / NIfTI: a cine in one file;\n"
        "FRAMES and MASKS may be such files) is its pages in order, FILE[0] .. FILE[n-1],\n"
        "against a mask stack.\n\n"
        "options:\n"
        "  --spacing-mm S[,SY]     pixel size for frames whose file carries none (default\n"
        "                          0.1; SX,SY for pixels that are not square, whose angles\n"
        "                          the detector then takes in the tissue)\n"
        "  --needle-diameter-mm D  report the axis D/2 behind the front-wall echo (default\n"
        "                          0: the masks mark the visible echo line)\n"
        "  --entry auto|left|right insertion side prior (default auto)\n"
        "  --min-angle-deg A       expected angle range to the transducer face (defaults\n"
        "  --max-angle-deg B       of the live detector: 3..75)\n"
        "  --no-track              each frame alone: no tracker, no previous-frame prior\n"
        "  --sim N                 instead of files: N randomised hard simulator scenes\n"
        "                          (cn_sim_config_hard_scene), each an empty frame then\n"
        "                          three frames of the approach; truth from the simulator\n"
        "  --first K               the first scene number (default 1001: the reported\n"
        "                          split; 1-150 is the split the detector was tuned on)\n"
        "  --pose                  keep the simulator's tracked cryoprobe pose (a prior)\n"
        "  --needle-free SRC       every frame of a sequence file (.igs.mha, .igs.nrrd,\n"
        "                          .seq.nrrd, a recording) or every image of a folder is a\n"
        "                          view without a needle: a detection there is a false\n"
        "                          one, printed with where it was seen (repeatable; FRAMES\n"
        "                          MASKS may then be left out). Each source is a film, its\n"
        "                          frames tracked in order: --no-track for unrelated stills\n"
        "  -h, --help              this help\n\n"
        "outputs: stdout (a progress bar on stderr); no files. Per frame: angle error,\n"
        "line distance (mask centroid to the line), tip error, confidence. Then: frames,\n"
        "with/without a needle, false detections; on real frames the 95%% intervals of the\n"
        "detection rate and of the wrong lines (Wilson); tip error. Last line:\n"
        "mean angle_err_deg <x> line_dist_px <y> detected <k>/<n>\n");
}


typedef struct {
    double cx, cy;       /* centroid (px) */
    double ux, uy;       /* principal axis, pointing to the deeper end */
    double tip_x, tip_y; /* deepest end of the shaft along the axis, on the axis (px) */
} mask_axis;

/* Centroid, principal axis and the deep end of the 1-pixels; false when fewer than 5. */
static bool mask_geometry(const cn_image *m, mask_axis *a)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    long n = 0;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->px[(size_t)y * m->w + x]) {
                sx += x, sy += y, sxx += (double)x * x, syy += (double)y * y, sxy += (double)x * y;
                n++;
            }
    if (n < 5)
        return false;
    a->cx = sx / n;
    a->cy = sy / n;
    double vxx = sxx / n - a->cx * a->cx, vyy = syy / n - a->cy * a->cy, vxy = sxy / n - a->cx * a->cy;
    double ang = 0.5 * atan2(2 * vxy, vxx - vyy);
    a->ux = cos(ang);
    a->uy = sin(ang);
    if (a->uy < 0 || (a->uy == 0 && a->ux < 0)) {
        a->ux = -a->ux;
        a->uy = -a->uy;
    }
    double tmax = -1e30;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->px[(size_t)y * m->w + x]) {
                double t = (x - a->cx) * a->ux + (y - a->cy) * a->uy;
                if (t > tmax)
                    tmax = t;
            }
    a->tip_x = a->cx + a->ux * tmax;
    a->tip_y = a->cy + a->uy * tmax;
    return true;
}


enum { O_SPACING = 256, O_DIAM, O_ENTRY, O_MINANG, O_MAXANG, O_NOTRACK, O_SIM, O_FIRST, O_POSE,
       O_FREE };

static int parse(int argc, char **argv, eval_opts *o, const char **dirs)
{
    static const struct option opts[] = {
        {"spacing-mm", required_argument, 0, O_SPACING},
        {"needle-diameter-mm", required_argument, 0, O_DIAM},
        {"entry", required_argument, 0, O_ENTRY},
        {"min-angle-deg", required_argument, 0, O_MINANG},
        {"max-angle-deg", required_argument, 0, O_MAXANG},
        {"no-track", no_argument, 0, O_NOTRACK},
        {"sim", required_argument, 0, O_SIM},
        {"first", required_argument, 0, O_FIRST},
        {"pose", no_argument, 0, O_POSE},
        {"needle-free", required_argument, 0, O_FREE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        double v = 0;
        if (c == O_DIAM || c == O_MINANG || c == O_MAXANG) {
            v = strtod(optarg, &end);
            if (end == optarg || *end)
                return cn_app_usage_error("eval", "needle: '%s' is not a number", optarg);
        }
        switch (c) {
        case 'h': usage(stdout); return -1;
        case O_SPACING:
            if (cn_app_parse_spacing(optarg, 0.0009, 10.0001, o->spacing_mm) != CN_OK)
                return cn_app_usage_error("eval", "needle: --spacing-mm needs 0.001..10 mm (S or SX,SY), "
                                          "not '%s'", optarg);
            o->spacing_given = true;
            break;
        case O_DIAM:
            if (!(v >= 0 && v <= 5))
                return cn_app_usage_error("eval", "needle: --needle-diameter-mm needs 0..5, not '%s'", optarg);
            o->diameter_mm = v;
            break;
        case O_MINANG:
        case O_MAXANG:
            if (!(v >= 0 && v <= 89))
                return cn_app_usage_error("eval", "needle: angles need 0..89 deg, not '%s'", optarg);
            *(c == O_MINANG ? &o->min_ang : &o->max_ang) = v;
            break;
        case O_ENTRY:
            if (strcmp(optarg, "auto") == 0) o->entry = CN_ENTRY_AUTO;
            else if (strcmp(optarg, "left") == 0) o->entry = CN_ENTRY_LEFT;
            else if (strcmp(optarg, "right") == 0) o->entry = CN_ENTRY_RIGHT;
            else return cn_app_usage_error("eval", "needle: --entry must be auto, left or right, not '%s'", optarg);
            break;
        case O_NOTRACK: o->no_track = true; break;
        case O_POSE: o->pose = true; break;
        case O_FREE:
            if (o->n_free == (int)(sizeof o->free_src / sizeof o->free_src[0]))
                return cn_app_usage_error("eval", "needle: at most %d --needle-free sources",
                                          (int)(sizeof o->free_src / sizeof o->free_src[0]));
            o->free_src[o->n_free++] = optarg;
            break;
        case O_SIM:
        case O_FIRST: {
            long k = strtol(optarg, &end, 10);
            if (end == optarg || *end || k < (c == O_SIM ? 1 : 0) || k > 1000000)
                return cn_app_usage_error("eval", "needle: %s needs a whole number, not '%s'",
                                          c == O_SIM ? "--sim" : "--first", optarg);
            *(c == O_SIM ? &o->sim_n : &o->sim_first) = k;
            break;
        }
        case ':': return cn_app_usage_error("eval", "needle: option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("eval", "needle: unknown option '%s'", argv[optind - 1]);
        }
    }
    const int left = argc - optind;
    if (o->sim_n > 0 ? left != 0 || o->n_free > 0 : !(left == 2 || (left == 0 && o->n_free > 0)))
        return cn_app_usage_error("eval", "usage: eval needle FRAMES MASKS [--needle-free SRC] "
                                          "[options], eval needle --needle-free SRC [options] or "
                                          "eval needle --sim N (see --help)");
    if (!(o->max_ang > o->min_ang))
        return cn_app_usage_error("eval", "needle: --max-angle-deg must be above --min-angle-deg");
    if (o->sim_n == 0 && left == 2) {
        dirs[0] = argv[optind];
        dirs[1] = argv[optind + 1];
    }
    return 0;
}

typedef struct {
    double sum_ang, sum_dist, sum_tip_px, sum_tip_mm;
    int n_truth, n_det, n_empty, false_det, bad, n_tip_mm, wrong;
    int unscored; /* frames without a mask: tracked through, not scored */
} tally;

/* One frame and its mask (both taken, freed here): analysed, scored; without a mask (m
 * NULL: a frame nobody annotated) analysed only, so the tracker sees every frame of the
 * sequence. Returns 0, or -1 out of memory. */
static int eval_frame(cn_image *im, cn_image *m, const char *name, const eval_opts *o,
                      cn_segment **seg, cn_frame_pool **pool, int *pool_w, int *pool_h, int index,
                      tally *t)
{
    if (!*pool || im->w > *pool_w || im->h > *pool_h) {
        /* (re)made for the largest frame so far; the tracker restarts */
        cn_segment_free(*seg);
        if (*pool)
            cn_frame_pool_free(*pool);
        *pool_w = im->w > 640 ? im->w : 640;
        *pool_h = im->h > 480 ? im->h : 480;
        *pool = cn_frame_pool_new(1, *pool_w, *pool_h);
        cn_segment_config sc;
        cn_segment_config_default(&sc);
        sc.nerve_auto = false;
        sc.nerve_cnn = false;
        sc.needle.entry = o->entry;
        sc.needle.min_angle_deg = o->min_ang;
        sc.needle.max_angle_deg = o->max_ang;
        sc.needle.needle_diameter_mm = o->diameter_mm;
        *seg = *pool ? cn_segment_new(&sc, *pool_w, *pool_h) : NULL;
        if (!*seg) {
            cn_image_free(im);
            cn_image_free(m);
            return -1;
        }
    }
    if (o->no_track)
        cn_segment_reset(*seg);
    cn_frame *f = cn_frame_pool_acquire(*pool);
    cn_frame_set_size(f, im->w, im->h);
    memcpy(f->pixels, im->px, (size_t)im->w * im->h);
    bool mm = im->has_spacing || o->spacing_given;
    f->spacing_mm[0] = im->has_spacing ? im->spacing_mm[0] : o->spacing_mm[0];
    f->spacing_mm[1] = im->has_spacing ? im->spacing_mm[1] : o->spacing_mm[1];
    f->t_acq_ns = (int64_t)index * 50000000; /* 20 fps */
    cn_segment_process(*seg, f);
    const cn_needle_result *r = &f->analysis.needle;
    mask_axis a;
    if (!m) {
        t->unscored++;
        printf("%s no mask: tracked, not scored\n", name);
    } else if (mask_geometry(m, &a)) {
        t->n_truth++;
        if (r->found) {
            t->n_det++;
            double dx = r->dir.x / f->spacing_mm[0], dy = r->dir.y / f->spacing_mm[1];
            double dn = hypot(dx, dy);
            dx /= dn;
            dy /= dn;
            double e = acos(fmin(1.0, fabs(dx * a.ux + dy * a.uy))) * 180 / M_PI;
            /* the reported line in pixels: through the tip, direction (dx, dy) */
            double tx = r->tip_mm.x / f->spacing_mm[0] - 0.5, ty = r->tip_mm.y / f->spacing_mm[1] - 0.5;
            double dist = fabs(-(a.cx - tx) * dy + (a.cy - ty) * dx);
            double tip_px = hypot(tx - a.tip_x, ty - a.tip_y);
            double tip_mm = hypot((tx - a.tip_x) * f->spacing_mm[0], (ty - a.tip_y) * f->spacing_mm[1]);
            t->sum_ang += e;
            t->sum_dist += dist;
            t->sum_tip_px += tip_px;
            t->wrong += e > 5 || dist > 10;
            if (mm) {
                t->sum_tip_mm += tip_mm;
                t->n_tip_mm++;
            }
            printf("%s angle_err_deg %.2f line_dist_px %.1f tip_err_px %.1f", name, e, dist, tip_px);
            if (mm)
                printf(" tip_err_mm %.2f", tip_mm);
            printf(" conf %.2f\n", r->confidence);
        } else {
            printf("%s not detected\n", name);
        }
    } else {
        t->n_empty++;
        if (r->found) {
            t->false_det++;
            /* where it saw one: the tip (px) and the shaft's angle to the transducer
             * face, so a reader can look at what was taken for a needle */
            double dx = r->dir.x / f->spacing_mm[0], dy = r->dir.y / f->spacing_mm[1];
            printf("%s no needle in mask: detected one (false, conf %.2f, tip %.0f,%.0f px, "
                   "angle %.1f deg)\n", name, r->confidence, r->tip_mm.x / f->spacing_mm[0] - 0.5,
                   r->tip_mm.y / f->spacing_mm[1] - 0.5, atan2(fabs(dy), fabs(dx)) * 180 / M_PI);
        } else {
            printf("%s no needle in mask, none reported\n", name);
        }
    }
    cn_frame_unref(f);
    cn_image_free(im);
    cn_image_free(m);
    return 0;
}

/* What the frames of one run share: the analysis (its tracker), the frame pool, the
 * frame count and the tally. */
typedef struct {
    cn_segment *seg;
    cn_frame_pool *pool;
    int pool_w, pool_h, index, frames;
    tally t;
} run_state;

/* FRAMES MASKS: each frame against its mask (by name, else by sorted position). 0, 1
 * out of memory, 2 nothing to pair (said on stderr). */
static int eval_pairs(const eval_opts *o, const char **dirs, run_state *rs)
{
    char err[1024];
    char **fr = NULL, **mk = NULL;
    int nf = 0, nm = 0;
    char dir_buf[2][4096];
    /* FRAMES and MASKS as the user gave them: one folder for both is a layout of its own */
    struct stat st0, st1;
    const bool given_one_folder = stat(dirs[0], &st0) == 0 && S_ISDIR(st0.st_mode) &&
                                  stat(dirs[1], &st1) == 0 && S_ISDIR(st1.st_mode) &&
                                  cn_eval_same_folder(dirs[0], dirs[1]);
    if (cn_eval_list_images(dirs[0], &fr, &nf, dir_buf[0], err, sizeof err) != CN_OK)
        return cn_app_usage_error("eval", "%s", err);
    dirs[0] = dir_buf[0];
    if (cn_eval_list_images(dirs[1], &mk, &nm, dir_buf[1], err, sizeof err) == CN_OK)
        dirs[1] = dir_buf[1];
    else {
        cn_eval_free_list(fr, nf);
        return cn_app_usage_error("eval", "%s", err);
    }
    /* Each frame's mask: by name (frame_0007.png with mask folder's frame_0007.bmp, or
     * the nerve set's other rules); when names do not pair every frame and both folders
     * hold as many files, by sorted position. A frame without a mask (a sequence
     * annotated every few frames) is tracked through and not scored. */
    int *mask_of = malloc(sizeof(int) * (size_t)(nf ? nf : 1));
    if (!mask_of) {
        cn_eval_free_list(fr, nf);
        cn_eval_free_list(mk, nm);
        fprintf(stderr, "cryonav eval: out of memory\n");
        return 1;
    }
    /* frames and masks in one folder (a_0007.png beside a_0007_mask.png): a file another
     * takes as its mask is no frame, and no file is its own mask */
    const bool one = given_one_folder;
    bool *is_mask = calloc((size_t)(nm ? nm : 1), 1);
    if (!is_mask) {
        free(mask_of);
        cn_eval_free_list(fr, nf);
        cn_eval_free_list(mk, nm);
        fprintf(stderr, "cryonav eval: out of memory\n");
        return 1;
    }
    int by_name = 0;
    for (int i = 0; i < nf; i++)
        if ((mask_of[i] = cn_eval_match_mask(fr[i], mk, nm, one)) >= 0)
            is_mask[mask_of[i]] = true;
    if (one) /* the same listing: file j of the masks is file j of the frames */
        for (int i = 0; i < nf; i++)
            if (is_mask[i])
                mask_of[i] = -2; /* a mask, not a frame */
    int n_frames = 0;
    for (int i = 0; i < nf; i++) {
        by_name += mask_of[i] >= 0;
        n_frames += mask_of[i] != -2;
    }
    free(is_mask);
    const int n_masks = one ? nf - n_frames : nm;
    if (!one && by_name < nf && nf == nm) {
        for (int i = 0; i < nf; i++)
            mask_of[i] = i; /* paired by sorted name */
        by_name = nf;
    }
    if (by_name == 0) {
        fprintf(stderr, "cryonav eval: no frame of %s (%d) has a mask of its name in %s (%d "
                        "masks); with as many of each they pair by sorted name\n",
                dirs[0], nf, dirs[1], nm);
        free(mask_of);
        cn_eval_free_list(fr, nf);
        cn_eval_free_list(mk, nm);
        return 2;
    }
    if (by_name < n_frames)
        fprintf(stderr, "cryonav eval: %d of %d frames have a mask; the other %d are tracked "
                        "through, not scored\n", by_name, n_frames, n_frames - by_name);
    if (by_name < n_masks)
        fprintf(stderr, "cryonav eval: %d masks in %s belong to no frame (not used)\n",
                n_masks - by_name, dirs[1]);
    int rc = 0;
    for (int i = 0; i < nf && rc == 0; i++) {
        if (mask_of[i] == -2)
            continue; /* another frame's mask */
        char p1[8400], p2[8400];
        snprintf(p1, sizeof p1, "%s/%s", dirs[0], fr[i]);
        if (mask_of[i] >= 0)
            snprintf(p2, sizeof p2, "%s/%s", dirs[1], mk[mask_of[i]]);
        /* a stack (a multi-page TIFF, a 3-D MetaImage or NRRD: a cine in one file) is
         * its pages in order, FILE[0] .. FILE[n-1], against a mask stack as long */
        cn_image **pages = NULL, **masks = NULL;
        int np = 0;
        int r = cn_image_read_stack(p1, CN_IMAGE_GREY, 100000, &pages, &np, err, sizeof err);
        if (r == CN_OK && mask_of[i] >= 0)
            r = cn_mask_read_stack(p2, p1, pages[0]->w, pages[0]->h, np, &masks, err, sizeof err);
        if (r != CN_OK) {
            fprintf(stderr, "\ncryonav eval: %s (skipped)\n", err);
            /* the frames it held, or the one file it was */
            const int held = np > 0 ? np : 1;
            rs->t.bad += held;
            rs->frames += held;
        }
        for (int k = 0; r == CN_OK && k < np; k++) {
            char name[300];
            if (np > 1)
                snprintf(name, sizeof name, "%.280s[%d]", fr[i], k);
            else
                snprintf(name, sizeof name, "%.290s", fr[i]);
            int e = eval_frame(pages[k], masks ? masks[k] : NULL, name, o, &rs->seg, &rs->pool, &rs->pool_w,
                               &rs->pool_h, rs->index++, &rs->t);
            pages[k] = NULL; /* eval_frame took them */
            if (masks)
                masks[k] = NULL;
            rs->frames++;
            if (e < 0) {
                fprintf(stderr, "cryonav eval: out of memory\n");
                rc = 1;
                break;
            }
        }
        cn_image_stack_free(pages, np);
        if (masks)
            cn_image_stack_free(masks, np);
        cn_eval_progress(i + 1, nf);
    }
    free(mask_of);
    cn_eval_free_list(fr, nf);
    cn_eval_free_list(mk, nm);
    return rc;
}

/* --needle-free: every frame of each source is a view without a needle (an empty
 * mask); each source starts the tracker afresh and is tracked in order (a film) unless
 * --no-track. Views come from the same listing `eval nerve --nerve-free` uses. A source
 * or frame that cannot be read is said on stderr and counted in t.bad (the others are
 * still scored; exit status 1). 0, or 1 out of memory. */
static int eval_free_views(const eval_opts *o, run_state *rs)
{
    int rc = 0;
    for (int s = 0; s < o->n_free && rc == 0; s++) {
        nerve_pair *pairs = NULL;
        int n = 0, cap = 0;
        int ar = cn_evn_free_add(o->free_src[s], "--needle-free", &pairs, &n, &cap);
        if (ar == CN_ENOMEM) {
            fprintf(stderr, "cryonav eval: out of memory\n");
            rc = 1;
        } else if (ar != CN_OK) {
            rs->t.bad++; /* said on stderr; the other sources still count (exit status 1) */
            rs->frames++;
        }
        if (rs->seg)
            cn_segment_reset(rs->seg); /* another film */
        evn_seq *cache = NULL;
        for (int i = 0; i < n && rc == 0; i++) {
            char err[1200];
            cn_image **pages = NULL;
            int np = 0, r;
            if (pairs[i].frame >= 0) { /* a sequence file's frame */
                pages = calloc(1, sizeof *pages);
                r = pages ? cn_evn_free_read(&cache, &pairs[i], &pages[0], err, sizeof err) : CN_ENOMEM;
                np = r == CN_OK ? 1 : 0;
            } else { /* an image file of a folder: a stack is its pages */
                r = cn_image_read_stack(pairs[i].image, CN_IMAGE_GREY, 100000, &pages, &np, err,
                                        sizeof err);
            }
            if (r != CN_OK) {
                fprintf(stderr, "\ncryonav eval: %s (skipped)\n", err);
                rs->t.bad++;
                rs->frames++;
            }
            for (int k = 0; r == CN_OK && k < np; k++) {
                char name[300];
                if (np > 1)
                    snprintf(name, sizeof name, "%.280s[%d]", pairs[i].name, k);
                else
                    snprintf(name, sizeof name, "%.290s", pairs[i].name);
                cn_image *none = cn_image_new(pages[k]->w, pages[k]->h); /* no needle */
                int e = none ? eval_frame(pages[k], none, name, o, &rs->seg, &rs->pool,
                                          &rs->pool_w, &rs->pool_h, rs->index++, &rs->t)
                             : -1;
                if (!none)
                    cn_image_free(pages[k]);
                pages[k] = NULL; /* eval_frame took them */
                rs->frames++;
                if (e < 0) {
                    fprintf(stderr, "cryonav eval: out of memory\n");
                    rc = 1;
                }
            }
            if (pairs[i].frame >= 0) {
                if (pages)
                    cn_image_free(pages[0]);
                free(pages);
            } else {
                cn_image_stack_free(pages, np);
            }
            cn_eval_progress(i + 1, n);
        }
        cn_evn_free_close(cache);
        for (int i = 0; i < n; i++) {
            free(pairs[i].image);
            free(pairs[i].mask);
            free(pairs[i].label);
        }
        free(pairs);
    }
    return rc;
}

int cn_eval_needle(int argc, char **argv)
{
    eval_opts o = {.spacing_mm = {0.1, 0.1}, .diameter_mm = 0, .entry = CN_ENTRY_AUTO, .sim_first = 1001};
    {
        cn_needle_params np;
        cn_needle_params_default(&np);
        o.min_ang = np.min_angle_deg;
        o.max_ang = np.max_angle_deg;
    }
    const char *dirs[2] = {NULL, NULL};
    int prc = parse(argc, argv, &o, dirs);
    if (prc)
        return prc < 0 ? 0 : prc;
    if (o.sim_n > 0)
        return cn_evd_sim(&o);
    run_state rs = {0};
    int rc = 0;
    if (dirs[0])
        rc = eval_pairs(&o, dirs, &rs);
    if (rc == 0 && o.n_free > 0)
        rc = eval_free_views(&o, &rs);
    if (rc == 0) {
        printf("frames %d (skipped %d), with a needle %d, without %d, false detections %d, wrong "
               "lines (> 5 deg or > 10 px) %d\n", rs.frames, rs.t.bad, rs.t.n_truth, rs.t.n_empty, rs.t.false_det,
               rs.t.wrong);
        if (rs.t.unscored)
            printf("frames without a mask %d (tracked through, not scored)\n", rs.t.unscored);
        double flo, fhi; /* the share of views without a needle that got a line */
        if (rs.t.n_empty > 0 &&
            cn_stats_rate_interval95(rs.t.false_det, rs.t.n_empty, &flo, &fhi) == CN_OK)
            printf("false detections %.1f%% of the %d frames without a needle (95%% interval "
                   "%.1f-%.1f%%, Wilson)\n", 100.0 * rs.t.false_det / rs.t.n_empty, rs.t.n_empty,
                   100 * flo, 100 * fhi);
        /* what "25 of 25" can mean: the rates' 95 % intervals (Wilson's; the frames of one
         * sequence are not independent, so they are if anything too narrow) */
        double dlo, dhi, wlo, whi;
        if (rs.t.n_truth > 0 && rs.t.n_det > 0 &&
            cn_stats_rate_interval95(rs.t.n_det, rs.t.n_truth, &dlo, &dhi) == CN_OK &&
            cn_stats_rate_interval95(rs.t.wrong, rs.t.n_det, &wlo, &whi) == CN_OK)
            printf("95%% intervals (Wilson): detection %.1f-%.1f%%, wrong lines among the %d "
                   "detections %.1f-%.1f%%; frames of one sequence are not independent: for them "
                   "both are too narrow\n", 100 * dlo, 100 * dhi, rs.t.n_det, 100 * wlo, 100 * whi);
        printf("tip_err_px mean %.1f", rs.t.n_det ? rs.t.sum_tip_px / rs.t.n_det : NAN);
        if (rs.t.n_tip_mm)
            printf(" tip_err_mm mean %.2f (%d frames with a spacing)", rs.t.sum_tip_mm / rs.t.n_tip_mm,
                   rs.t.n_tip_mm);
        printf("\n");
        printf("mean angle_err_deg %.2f line_dist_px %.1f detected %d/%d\n",
               rs.t.n_det ? rs.t.sum_ang / rs.t.n_det : NAN, rs.t.n_det ? rs.t.sum_dist / rs.t.n_det : NAN, rs.t.n_det,
               rs.t.n_truth);
        if (rs.t.bad)
            rc = 1;
    }
    cn_segment_free(rs.seg);
    if (rs.pool)
        cn_frame_pool_free(rs.pool);
    return rc;
}
