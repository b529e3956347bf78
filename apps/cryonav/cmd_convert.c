/* cmd_convert.c - `cryonav convert IN OUT`: a cine kept as images (a scanner's
 * multi-frame DICOM, a multi-page TIFF, an animated GIF, a 3-D MetaImage / NRRD /
 * NIfTI, or a folder of frames) written as a PLUS sequence file, so that `cryonav
 * replay` plays it through the navigator (a teacher's scanner cine), `cryonav info`
 * describes it and 3D Slicer opens it. Wiring only: the one image reader
 * (modules/imaging) reads the frames, seqio's writer writes them, each frame at its
 * time (the file's own frame time, or --fps) and with its pixel size (the file's, or
 * --spacing-mm; a cine whose pixel size is unknown is refused rather than written as
 * 1 mm, which every analysis would take as stated). */
#include "commands.h"
#include "eval.h"

#include "imaging/imaging.h"
#include "seqio/seqio.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONVERT_MAX_FRAMES 100000

static int usage_text(void)
{
    printf("usage: cryonav convert IN OUT [--fps F] [--spacing-mm SX[,SY]] [--compress]\n"
           "Writes a cine kept as images as a sequence file that `cryonav replay` plays\n"
           "through the navigator, `cryonav info` describes and 3D Slicer opens. IN: a\n"
           "stack file (a scanner's multi-frame DICOM, a multi-page TIFF, an animated GIF,\n"
           "a 3-D MetaImage, NRRD or NIfTI) or a folder of frames (any format the image\n"
           "reader takes, in natural name order: frame_9 before frame_10; a stack among\n"
           "them adds its pages). Every frame must have the first's size. OUT ends in\n"
           ".igs.mha or .igs.nrrd (or .mha, .nrrd, .seq.nrrd) and must not exist.\n\n"
           "options:\n"
           "  --fps F              frames per second (default: as IN states it: a DICOM\n"
           "                       cine's Frame Time or Cine Rate, a GIF's frame delay, a\n"
           "                       NIfTI's time step; else 20)\n"
           "  --spacing-mm SX[,SY] pixel size in mm, for frames that state none (required\n"
           "                       then: the depth in mm over the rows); a stated one wins\n"
           "  --compress           zlib (mha) / gzip (nrrd) the pixels\n"
           "  -h, --help           this help\n\n"
           "outputs: OUT. Last line on stdout:\n"
           "converted <n> frames (<w> x <h>, <fps> fps, <sx> x <sy> mm from <source>) into <OUT>\n");
    return 0;
}

/* The image files of a folder (or the one file), in natural name order, as paths. */
static int list_inputs(const char *in, char ***paths, int *n, char *err, size_t err_len)
{
    char folder[4096], **names = NULL;
    int k = 0;
    *paths = NULL;
    *n = 0;
    int rc = cn_eval_list_images(in, &names, &k, folder, err, err_len);
    if (rc != CN_OK)
        return rc;
    char **v = calloc((size_t)k, sizeof *v);
    for (int i = 0; v && i < k; i++) {
        const size_t len = strlen(folder) + strlen(names[i]) + 2;
        if (!(v[i] = malloc(len))) {
            cn_eval_free_list(v, i);
            v = NULL;
            break;
        }
        snprintf(v[i], len, "%s/%s", folder, names[i]);
    }
    cn_eval_free_list(names, k);
    if (!v) {
        snprintf(err, err_len, "%s: out of memory", in);
        return CN_ENOMEM;
    }
    *paths = v;
    *n = k;
    return CN_OK;
}

int cn_cmd_convert(int argc, char **argv)
{
    enum { O_FPS = 256, O_SPACING, O_COMPRESS };
    static const struct option opts[] = {{"fps", required_argument, 0, O_FPS},
                                         {"spacing-mm", required_argument, 0, O_SPACING},
                                         {"compress", no_argument, 0, O_COMPRESS},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    double fps = 0, spacing[2] = {0, 0};
    bool compress = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': return usage_text();
        case O_FPS:
            if (cn_app_parse_double(optarg, 0.01, 10000, &fps) != CN_OK)
                return cn_app_usage_error("convert", "--fps needs frames per second (0.01..10000), "
                                          "not '%s'", optarg);
            break;
        case O_SPACING:
            if (cn_app_parse_spacing(optarg, 1e-4, 100, spacing) != CN_OK)
                return cn_app_usage_error("convert", "--spacing-mm needs mm per pixel, e.g. 0.1 or "
                                          "0.1,0.12, not '%s'", optarg);
            break;
        case O_COMPRESS: compress = true; break;
        case ':': return cn_app_usage_error("convert", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("convert", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 2)
        return cn_app_usage_error("convert", "needs IN and OUT (see --help)");
    const char *in = argv[optind], *out = argv[optind + 1];
    const char *dot = strrchr(out, '.');
    const bool nrrd = dot && strcmp(dot, ".nrrd") == 0;
    if (!dot || (strcmp(dot, ".mha") != 0 && !nrrd))
        return cn_app_usage_error("convert", "OUT must end in .igs.mha or .igs.nrrd (or .mha, "
                                  ".nrrd, .seq.nrrd), not '%s'", out);
    if (cn_app_is_sequence_file(in)) {
        fprintf(stderr, "cryonav convert: %s is a sequence file (PLUS, Slicer or CryoNav): "
                "`cryonav replay`, `info` and `report` read it as it is; converting would keep "
                "only its pixels (not its times, pixel size in ImageToProbe, transforms or "
                "events)\n", in);
        return 2;
    }
    char err[1400];
    char **files = NULL;
    int nfiles = 0;
    int rc = list_inputs(in, &files, &nfiles, err, sizeof err);
    if (rc != CN_OK) {
        fprintf(stderr, "cryonav convert: %s\n", err);
        return 2;
    }
    const char *fps_from = "--fps";
    /* a file that times its frames one by one (a GIF's own delays, a DICOM Frame Time
     * Vector): each frame keeps its time (before, the first delay was every frame's:
     * seq audit D8); --fps overrides it */
    double *times_ms = NULL;
    int n_times = 0;
    if (fps == 0 && nfiles == 1 && (times_ms = malloc(CONVERT_MAX_FRAMES * sizeof *times_ms)) &&
        (cn_image_frame_times_ms(files[0], times_ms, CONVERT_MAX_FRAMES, &n_times, err,
                                 sizeof err) != CN_OK ||
         n_times < 2))
        n_times = 0;
    bool uniform = true;
    for (int k = 1; k < n_times; k++) {
        if (!(times_ms[k] > times_ms[k - 1])) /* two frames at one time: no frame times */
            n_times = 0;
        else
            uniform = uniform && fabs(times_ms[k] - times_ms[k - 1] - times_ms[1]) < 0.5;
    }
    if (uniform)
        n_times = 0; /* one interval: the file's frame rate says it */
    if (fps == 0 && n_times >= 2) {
        fps = (n_times - 1) * 1000.0 / times_ms[n_times - 1];
        fps_from = "the file";
    } else if (fps == 0) {
        double ms = 0;
        if (cn_image_frame_ms(files[0], &ms, err, sizeof err) == CN_OK && ms > 0) {
            fps = 1000.0 / ms;
            fps_from = "the file";
        } else {
            fps = 20;
            fps_from = "the default";
        }
    }
    const int64_t frame_ns = (int64_t)llround(1e9 / fps);
    cn_seq_writer *w = NULL;
    cn_frame_pool *pool = NULL;
    int n = 0, fw = 0, fh = 0, status = 0;
    double sp[2] = {0, 0};
    const char *sp_from = "--spacing-mm";
    for (int i = 0; i < nfiles && status == 0; i++) {
        cn_image **pages = NULL;
        int np = 0;
        if (n >= CONVERT_MAX_FRAMES) {
            fprintf(stderr, "cryonav convert: %s: more than %d frames\n", in, CONVERT_MAX_FRAMES);
            status = 2;
            break;
        }
        rc = cn_image_read_stack(files[i], CN_IMAGE_GREY, CONVERT_MAX_FRAMES - n, &pages, &np, err,
                                 sizeof err);
        if (rc != CN_OK) {
            fprintf(stderr, "cryonav convert: %s\n", err);
            status = 2;
            break;
        }
        for (int k = 0; k < np && status == 0; k++) {
            const cn_image *im = pages[k];
            if (!w) { /* the first frame fixes size, pixel size and the file */
                fw = im->w;
                fh = im->h;
                /* 1 x 1 mm is what tools write when they know no size (ITK's default),
                 * and what the reader takes as none, as `info` and `replay` say: before,
                 * convert took it as the file's and the replay said nothing (the
                 * thirty-sixth session's review) */
                const bool placeholder = im->has_spacing && im->spacing_mm[0] == 1.0 &&
                                         im->spacing_mm[1] == 1.0;
                if (im->has_spacing && !placeholder) {
                    sp[0] = im->spacing_mm[0];
                    sp[1] = im->spacing_mm[1];
                    sp_from = "the file";
                } else if (spacing[0] > 0) {
                    sp[0] = spacing[0];
                    sp[1] = spacing[1];
                } else {
                    fprintf(stderr, "cryonav convert: %s states %s: give --spacing-mm "
                                    "SX[,SY] (the depth in mm over the rows; a replay measures "
                                    "in mm%s)\n", files[i],
                            placeholder ? "1 x 1 mm, the size tools write when they know none"
                                        : "no pixel size",
                            placeholder ? "; --spacing-mm 1 if 1 mm it really is" : "");
                    status = 2;
                    break;
                }
                cn_seq_writer_opts wo = {.format = nrrd ? CN_SEQ_NRRD : CN_SEQ_MHA,
                                         .compress = compress, .offline = true};
                pool = cn_frame_pool_new(1, fw, fh);
                w = pool ? cn_seq_writer_open(out, &wo, err, sizeof err) : NULL;
                if (!w) {
                    fprintf(stderr, "cryonav convert: %s\n", pool ? err : "out of memory");
                    status = pool ? 2 : 1;
                    break;
                }
            }
            if (im->w != fw || im->h != fh) {
                fprintf(stderr, "cryonav convert: %s: frame of %d x %d where the first is %d x "
                                "%d\n", files[i], im->w, im->h, fw, fh);
                status = 2;
                break;
            }
            cn_frame *f = cn_frame_pool_acquire(pool);
            cn_frame_set_size(f, fw, fh);
            memcpy(f->pixels, im->px, (size_t)fw * fh);
            f->spacing_mm[0] = sp[0];
            f->spacing_mm[1] = sp[1];
            f->transducer_px[0] = fw / 2.0; /* the top centre: a linear probe's face */
            f->transducer_px[1] = 0;
            f->seq = (uint64_t)n;
            f->t_acq_ns = f->t_scene_ns = n < n_times ? llround(times_ms[n] * 1e6)
                                                      : (int64_t)n * frame_ns;
            f->status = CN_FRAME_OK;
            rc = cn_seq_writer_append(w, f, NULL, err, sizeof err);
            cn_frame_unref(f);
            if (rc != CN_OK) {
                fprintf(stderr, "cryonav convert: %s\n", err);
                status = 1;
                break;
            }
            n++;
        }
        cn_image_stack_free(pages, np);
    }
    if (w) {
        rc = cn_seq_writer_close(w, err, sizeof err);
        if (rc != CN_OK && status == 0) {
            fprintf(stderr, "cryonav convert: %s\n", err);
            status = 1;
        }
        if (status != 0)
            remove(out); /* nothing half-written is left under OUT's name */
    }
    if (pool)
        cn_frame_pool_free(pool);
    cn_eval_free_list(files, nfiles);
    free(times_ms);
    if (status != 0)
        return status;
    if (n_times >= 2)
        printf("converted %d frames (%d x %d, each at its own time from the file: %.3g fps on "
               "average, %.4g x %.4g mm from %s) into %s\n",
               n, fw, fh, fps, sp[0], sp[1], sp_from, out);
    else
        printf("converted %d frames (%d x %d, %.3g fps from %s, %.4g x %.4g mm from %s) into %s\n",
               n, fw, fh, fps, fps_from, sp[0], sp[1], sp_from, out);
    return 0;
}
