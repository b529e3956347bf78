/*
 * eval_nerve_free.c - views without a nerve for `cryonav eval nerve --nerve-free
 * FILE|DIR` (and without a needle for `eval needle --needle-free`): every frame of a sequence file (PLUS .igs.mha / .igs.mhd / .igs.nrrd,
 * Slicer .seq.nrrd, a CryoNav recording) read through seqio, with the file's pixel
 * size when it carries one, or every image of a folder (natural name order), each
 * scored as an image whose mask is empty: a find there is a false find.
 *
 * Why: neither annotated nerve set holds a view without a nerve, and strips cut
 * beside a nerve come from the same scans. Recordings of other anatomy from other
 * scanners (a spine phantom, bone, a prostate: ../shared/data/plus) are real
 * nerve-free views nobody trained on, and a site can check its own the same way.
 */
#include "eval.h"
#include "eval_nerve.h"

#include "core/core.h"
#include "seqio/seqio.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct evn_seq {
    char *path;             /* the open file */
    cn_seq_reader *r;
    cn_frame_pool *pool;    /* one frame of the file's size */
    bool has_spacing;
};

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Opens path and checks it holds 8-bit (or colour) frames the analysis can read. */
static cn_seq_reader *open_checked(const char *path, char *err, size_t err_len)
{
    cn_seq_reader *r = cn_seq_reader_open(path, err, err_len);
    if (!r)
        return NULL;
    const cn_seq_info *in = cn_seq_reader_info(r);
    const char *why = NULL;
    if (in->pixel == CN_PIX_NONE || in->width < 8 || in->height < 8 || in->n_frames < 1)
        why = "holds no images (a tracking-only file?)";
    else if (in->pixel != CN_PIX_UINT8)
        why = "has frames of a pixel type that is not a B-mode image (8-bit grey or colour)";
    if (why) {
        snprintf(err, err_len, "%s %s: pixel %s, %d x %d, %d frames", path, why,
                 in->pixel_name, in->width, in->height, in->n_frames);
        cn_seq_reader_close(r);
        return NULL;
    }
    return r;
}

static int grow(nerve_pair **pairs, int *n, int *cap)
{
    if (*n < *cap)
        return CN_OK;
    *cap = *cap ? 2 * *cap : 256;
    nerve_pair *np = realloc(*pairs, sizeof(nerve_pair) * (size_t)*cap);
    if (!np)
        return CN_ENOMEM;
    *pairs = np;
    return CN_OK;
}

/* Every image of folder dir, in natural name order, as views without a nerve. */
static int add_folder(const char *dir, const char *opt, nerve_pair **pairs, int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cryonav eval: %s %s: cannot open the folder\n", opt, dir);
        return CN_ENOENT;
    }
    const int first = *n;
    int rc = CN_OK;
    struct dirent *e;
    while (rc == CN_OK && (e = readdir(d))) {
        if (!cn_eval_is_image_name(e->d_name) || strstr(e->d_name, ".raw"))
            continue;
        if ((rc = grow(pairs, n, cap)) != CN_OK)
            break;
        nerve_pair *p = &(*pairs)[*n];
        memset(p, 0, sizeof *p);
        const size_t l = strlen(dir) + strlen(e->d_name) + 2;
        if (!(p->image = malloc(l))) {
            rc = CN_ENOMEM;
            break;
        }
        snprintf(p->image, l, "%s/%s", dir, e->d_name);
        p->name = p->image + strlen(dir) + 1;
        p->frame = -1;
        p->page = -1;
        (*n)++;
    }
    closedir(d);
    if (rc == CN_OK && *n == first) {
        fprintf(stderr, "cryonav eval: %s %s: no image files in the folder\n", opt, dir);
        return CN_ENOENT;
    }
    if (*n - first > 1)
        qsort(*pairs + first, (size_t)(*n - first), sizeof **pairs, cn_eval_pair_cmp);
    return rc;
}

int cn_evn_free_add(const char *path, const char *opt, nerve_pair **pairs, int *n, int *cap)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return add_folder(path, opt, pairs, n, cap);
    char err[1200];
    cn_seq_reader *r = open_checked(path, err, sizeof err);
    int pages = 0;
    char ierr[1200];
    const char *dot = strrchr(path, '.');
    const bool seq_kind = dot && (!strcasecmp(dot, ".mha") || !strcasecmp(dot, ".mhd") ||
                                  !strcasecmp(dot, ".nrrd") || !strcasecmp(dot, ".nhdr"));
    if (!r && !seq_kind && cn_eval_is_image_name(path) &&
        cn_image_count_pages(path, &pages, ierr, sizeof ierr) == CN_OK) {
        /* not a sequence file but an image: a stack (a multi-page TIFF, a DICOM cine) or
         * one frame; cn_eval_pairs_expand_stacks makes its pages views. A MetaImage or
         * NRRD is read as a sequence file, and its error stands. */
        if (grow(pairs, n, cap) != CN_OK)
            return CN_ENOMEM;
        nerve_pair *p = &(*pairs)[*n];
        memset(p, 0, sizeof *p);
        if (!(p->image = strdup(path)))
            return CN_ENOMEM;
        p->name = base_name(p->image);
        p->frame = -1;
        p->page = -1;
        (*n)++;
        return CN_OK;
    }
    if (!r) {
        fprintf(stderr, "cryonav eval: %s %s\n", opt, err);
        return CN_EPARSE;
    }
    const int frames = cn_seq_reader_info(r)->n_frames;
    cn_seq_reader_close(r);
    for (int k = 0; k < frames; k++) {
        if (grow(pairs, n, cap) != CN_OK)
            return CN_ENOMEM;
        nerve_pair *p = &(*pairs)[*n];
        memset(p, 0, sizeof *p);
        const size_t ll = strlen(base_name(path)) + 16;
        p->image = strdup(path);
        p->label = malloc(ll);
        if (!p->image || !p->label) {
            free(p->image);
            free(p->label);
            return CN_ENOMEM;
        }
        snprintf(p->label, ll, "%s[%d]", base_name(path), k);
        p->name = p->label;
        p->frame = k;
        p->page = -1;
        (*n)++;
    }
    return CN_OK;
}

void cn_evn_free_close(evn_seq *s)
{
    if (!s)
        return;
    cn_seq_reader_close(s->r);
    if (s->pool)
        cn_frame_pool_free(s->pool);
    free(s->path);
    free(s);
}

int cn_evn_free_read(evn_seq **cache, const nerve_pair *p, cn_image **out, char *err,
                     size_t err_len)
{
    *out = NULL;
    evn_seq *s = *cache;
    if (s && strcmp(s->path, p->image) != 0) {
        cn_evn_free_close(s);
        s = *cache = NULL;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->path = strdup(p->image))) {
            free(s);
            snprintf(err, err_len, "%s: out of memory", p->image);
            return CN_ENOMEM;
        }
        *cache = s;
        if (!(s->r = open_checked(p->image, err, err_len)))
            return CN_EPARSE;
        const cn_seq_info *in = cn_seq_reader_info(s->r);
        /* the pixel size only where the file gives one: 1 mm/px assumed is no size */
        s->has_spacing = strcmp(in->spacing_source, "none") != 0;
        if (!(s->pool = cn_frame_pool_new(1, in->width, in->height))) {
            snprintf(err, err_len, "%s: out of memory for a %d x %d frame", p->image,
                     in->width, in->height);
            return CN_ENOMEM;
        }
    }
    cn_frame *f = cn_frame_pool_acquire(s->pool);
    if (!f) {
        snprintf(err, err_len, "%s: no frame buffer", p->image);
        return CN_ENOMEM;
    }
    int rc = cn_seq_reader_read_frame(s->r, p->frame, f, err, err_len);
    if (rc == CN_OK) {
        cn_image *im = cn_image_new(f->width, f->height);
        if (!im) {
            snprintf(err, err_len, "%s frame %d: out of memory", p->image, p->frame);
            rc = CN_ENOMEM;
        } else {
            memcpy(im->px, f->pixels, (size_t)f->width * (size_t)f->height);
            im->has_spacing = s->has_spacing && f->spacing_mm[0] > 0 && f->spacing_mm[1] > 0;
            im->spacing_mm[0] = im->has_spacing ? f->spacing_mm[0] : 1;
            im->spacing_mm[1] = im->has_spacing ? f->spacing_mm[1] : 1;
            *out = im;
        }
    }
    cn_frame_unref(f);
    return rc;
}
