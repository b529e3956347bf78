/*
 * eval_pairs.c - image/mask pairs for `cryonav eval nerve`: every image of a
 * folder with its mask, in natural name order (digit runs compare as numbers:
 * sample_9 before sample_10), the order the training scripts use, so file index
 * i has the same fold in both.
 *
 * A mask is found by the layouts public sets use: the same file name or stem in
 * another folder (images/0001.png, masks/0001.png), or the stem with a mask
 * suffix (_mask, -mask, _masks, _seg, _label, _labels, _gt, _annotation, any
 * case), in another folder or the same one (the brachial-plexus set's
 * 1_1.tif beside 1_1_mask.tif); and where the image's own name carries a word
 * for "image", that word swapped for the mask's: 001_image / 001_img with
 * 001_mask (or, in another folder, 001), image_7 / img_7 with mask_7, label_7,
 * seg_7 or gt_7; and nnU-Net's CASE_0000 (its first channel) with CASE.
 * NIfTI's .nii.gz counts as one extension. When images and masks share a folder, a
 * file that another file takes as its mask is no image, and no file is its own mask.
 *
 * Sets kept in subfolders (one per patient or scan, images/p1/a.png with
 * masks/p1/a.png, or both in p1/) are read through: a subfolder of the image
 * folder is entered when the mask folder has one of the same name (or is the
 * same folder), down to MAX_DEPTH levels; only real folders, never a symbolic
 * link, so no link can loop or lead outside. An image's name is then its path
 * below the folder given (p1/a.png), which orders the set and names it in every
 * line.
 */
#include "eval.h"

#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>


/* Natural order: digit runs compare by value, the rest byte by byte. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int cn_eval_natural_cmp_str(const void *x, const void *y)
{
    return natural_cmp(*(char *const *)x, *(char *const *)y);
}

int cn_eval_pair_cmp(const void *x, const void *y)
{
    const nerve_pair *a = x, *b = y;
    int c = natural_cmp(a->name, b->name);
    return c ? c : strcmp(a->image, b->image);
}

/* Whether n ends in NIfTI's compressed extension (.nii.gz: two dots, one extension). */
static bool is_nii_gz(const char *n)
{
    const size_t l = strlen(n);
    return l > 7 && strcasecmp(n + l - 7, ".nii.gz") == 0;
}

bool cn_eval_is_image_name(const char *n)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                                      ".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".dcm", ".dicom"};
    if (is_nii_gz(n))
        return true;
    const char *dot = strrchr(n, '.');
    if (!dot || dot == n)
        return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0)
            return true;
    return false;
}

size_t cn_eval_stem_len(const char *n)
{
    if (is_nii_gz(n))
        return strlen(n) - 7;
    const char *dot = strrchr(n, '.');
    return dot ? (size_t)(dot - n) : strlen(n);
}

static const char *const mask_suffix[] = {"_mask", "-mask", "_masks", "_seg", "_label",
                                          "_labels", "_gt", "_annotation"};

/* Length of the mask suffix ending the stem n[0, sl), 0 when none. */
static size_t mask_suffix_len(const char *n, size_t sl)
{
    for (size_t i = 0; i < sizeof mask_suffix / sizeof mask_suffix[0]; i++) {
        const size_t l = strlen(mask_suffix[i]);
        if (sl > l && strncasecmp(n + sl - l, mask_suffix[i], l) == 0)
            return l;
    }
    return 0;
}

/* Index in names[] of a file whose stem is stem[0, sl) (any extension), -1 if none. */
static int find_stem(char *const *names, int n, const char *stem, size_t sl)
{
    for (int k = 0; k < n; k++)
        if (cn_eval_stem_len(names[k]) == sl && strncmp(names[k], stem, sl) == 0)
            return k;
    return -1;
}

/* Index in names[] of stem[0, sl) + a mask suffix (any case, any extension), -1 if none. */
static int find_suffixed(char *const *names, int n, const char *stem, size_t sl)
{
    for (int k = 0; k < n; k++) {
        const size_t ml = cn_eval_stem_len(names[k]);
        if (ml > sl && strncmp(names[k], stem, sl) == 0 && mask_suffix_len(names[k], ml) == ml - sl)
            return k;
    }
    return -1;
}

/* The image files of an open folder (names strdup'ed; on running out of memory the
 * list so far). */
static void list_images(DIR *d, char ***out, int *n)
{
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!cn_eval_is_image_name(e->d_name) || strstr(e->d_name, ".raw"))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*out, sizeof(char *) * (size_t)cap);
            if (!nn)
                break;
            *out = nn;
        }
        if (!((*out)[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
}

/* Index of the file named name in names[], -1 if none. */
static int find_name(char *const *names, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (strcmp(names[k], name) == 0)
            return k;
    return -1;
}

/* Words that name an image, and the words its mask is named by instead, as a
 * stem's end (001_image -> 001_mask) or start (image_001 -> mask_001). */
static const char *const image_suffix[] = {"_image", "-image", "_img", "-img"};
static const char *const image_prefix[] = {"image", "img"};
static const char *const mask_prefix[] = {"mask", "label", "seg", "gt"};

/* Index in names[] of a file whose stem is a mask prefix (any case) followed by
 * rest[0, rl), -1 if none. */
static int find_prefixed(char *const *names, int n, const char *rest, size_t rl)
{
    for (int k = 0; k < n; k++) {
        const size_t ml = cn_eval_stem_len(names[k]);
        for (size_t i = 0; i < sizeof mask_prefix / sizeof mask_prefix[0]; i++) {
            const size_t pl = strlen(mask_prefix[i]);
            if (ml == pl + rl && strncasecmp(names[k], mask_prefix[i], pl) == 0 &&
                strncmp(names[k] + pl, rest, rl) == 0)
                return k;
        }
    }
    return -1;
}

/* The mask of image file name among masks[] (see the top), -1 if none. Two
 * folders: the same name, then the same stem; then (either layout) the stem with
 * a mask suffix; a stem ending in an image word with that word swapped for a mask
 * suffix (or, two folders, dropped); a stem starting with an image word with it
 * swapped for a mask word. */
static int match_mask(const char *name, char *const *masks, int nm, bool one_folder)
{
    const size_t sl = cn_eval_stem_len(name);
    int k = -1;
    if (!one_folder && (k = find_name(masks, nm, name)) >= 0)
        return k;
    if (!one_folder && (k = find_stem(masks, nm, name, sl)) >= 0)
        return k;
    if ((k = find_suffixed(masks, nm, name, sl)) >= 0)
        return k;
    for (size_t i = 0; i < sizeof image_suffix / sizeof image_suffix[0]; i++) {
        const size_t l = strlen(image_suffix[i]);
        if (sl <= l || strncasecmp(name + sl - l, image_suffix[i], l) != 0)
            continue;
        if ((k = find_suffixed(masks, nm, name, sl - l)) >= 0)
            return k;
        if (!one_folder && (k = find_stem(masks, nm, name, sl - l)) >= 0)
            return k;
    }
    for (size_t i = 0; i < sizeof image_prefix / sizeof image_prefix[0]; i++) {
        const size_t l = strlen(image_prefix[i]);
        if (sl > l && strncasecmp(name, image_prefix[i], l) == 0 &&
            (k = find_prefixed(masks, nm, name + l, sl - l)) >= 0)
            return k;
    }
    /* nnU-Net's layout: imagesTr/CASE_0000.png (.nii.gz) with labelsTr/CASE.png: the
     * first channel's suffix dropped (a frame of more channels is not a case here) */
    if (sl > 5 && strncmp(name + sl - 5, "_0000", 5) == 0) {
        if (!one_folder && (k = find_stem(masks, nm, name, sl - 5)) >= 0)
            return k;
        if ((k = find_suffixed(masks, nm, name, sl - 5)) >= 0)
            return k;
    }
    return -1;
}

int cn_eval_match_mask(const char *name, char *const *masks, int nm, bool one_folder)
{
    return match_mask(name, masks, nm, one_folder);
}

/* Whether two folder paths name the same folder. */
bool cn_eval_same_folder(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

#define MAX_DEPTH 4 /* subfolder levels read below the folder given */

/* Whether dir/name is a folder itself (not a link to one). */
static bool real_folder(const char *dir, const char *name)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return false;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends the images of idir with their masks in mdir to *pairs, then those of
 * its subfolders (see the top); root_len: the length of the folder given, so a
 * pair's name is its path below it. A missing mask is reported and the image
 * skipped (counted in *missing). */
static int add_folder(size_t root_len, const char *idir, const char *mdir, int depth,
                      nerve_pair **pairs, int *n, int *cap, int *missing)
{
    /* a subfolder that cannot be read is reported and left out; the folders
     * given must open */
    DIR *d = opendir(idir);
    if (!d) {
        fprintf(stderr, "cryonav eval: %s: cannot open the image folder%s\n", idir,
                depth ? " (skipped)" : "");
        return depth ? CN_OK : CN_ENOENT;
    }
    DIR *dm = opendir(mdir);
    if (!dm) {
        closedir(d);
        fprintf(stderr, "cryonav eval: %s: cannot open the mask folder%s\n", mdir,
                depth ? " (skipped)" : "");
        return depth ? CN_OK : CN_ENOENT;
    }
    char **masks = NULL, **imgs = NULL;
    int nm = 0, ni = 0;
    list_images(dm, &masks, &nm);
    closedir(dm);
    list_images(d, &imgs, &ni);
    const bool one_folder = cn_eval_same_folder(idir, mdir);
    /* each image's mask; in one folder, a file some other file takes as its mask
     * (X_mask.png beside X.png, mask_1.png beside image_1.png) is no image */
    int *mask_of = malloc(sizeof(int) * (size_t)(ni ? ni : 1));
    bool *taken = calloc((size_t)(nm ? nm : 1), 1);
    int rc = mask_of && taken ? CN_OK : CN_ENOMEM;
    for (int i = 0; rc == CN_OK && i < ni; i++) {
        mask_of[i] = match_mask(imgs[i], masks, nm, one_folder);
        if (mask_of[i] >= 0)
            taken[mask_of[i]] = true;
    }
    for (int i = 0; rc == CN_OK && i < ni; i++) {
        const int self = one_folder ? find_name(masks, nm, imgs[i]) : -1;
        if (self >= 0 && taken[self])
            continue; /* another image's mask */
        const char *mask = mask_of[i] >= 0 ? masks[mask_of[i]] : NULL;
        if (!mask) {
            fprintf(stderr, "cryonav eval: %s/%s: no mask of that name (or with _mask, _seg, "
                    "_label, _gt ..., or mask_ for image_) in %s (skipped)\n", idir,
                    imgs[i], mdir);
            (*missing)++;
            continue;
        }
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            nerve_pair *np = realloc(*pairs, sizeof(nerve_pair) * (size_t)*cap);
            if (!np) {
                rc = CN_ENOMEM;
                break;
            }
            *pairs = np;
        }
        nerve_pair *p = &(*pairs)[(*n)++];
        p->label = NULL;
        p->frame = -1;
        p->page = -1;
        size_t li = strlen(idir) + strlen(imgs[i]) + 2, lm = strlen(mdir) + strlen(mask) + 2;
        p->image = malloc(li);
        p->mask = malloc(lm);
        if (!p->image || !p->mask) {
            rc = CN_ENOMEM;
            break;
        }
        snprintf(p->image, li, "%s/%s", idir, imgs[i]);
        snprintf(p->mask, lm, "%s/%s", mdir, mask);
        p->name = p->image + root_len + 1;
    }
    free(mask_of);
    free(taken);
    for (int k = 0; k < ni; k++)
        free(imgs[k]);
    free(imgs);
    /* then the subfolders the mask folder mirrors (or shares) */
    struct dirent *e;
    for (rewinddir(d); rc == CN_OK && depth < MAX_DEPTH && (e = readdir(d));) {
        if (!real_folder(idir, e->d_name) || (!one_folder && !real_folder(mdir, e->d_name)))
            continue;
        char si[4096], sm[4096];
        if ((size_t)snprintf(si, sizeof si, "%s/%s", idir, e->d_name) >= sizeof si ||
            (size_t)snprintf(sm, sizeof sm, "%s/%s", mdir, e->d_name) >= sizeof sm)
            continue;
        rc = add_folder(root_len, si, sm, depth + 1, pairs, n, cap, missing);
    }
    closedir(d);
    for (int k = 0; k < nm; k++)
        free(masks[k]);
    free(masks);
    return rc;
}

int cn_eval_pairs_add(const char *idir, const char *mdir, nerve_pair **pairs, int *n, int *cap,
                      int *missing)
{
    return add_folder(strlen(idir), idir, mdir, 0, pairs, n, cap, missing);
}

/* The names of the image files in dir (cn_eval_is_image_name) in natural order (a
 * sequence's frame_9 before frame_10: the order its frames were taken), and the folder
 * they are in (folder_out, 4096 bytes); dir may also be one image file, e.g. a stack. */
int cn_eval_list_images(const char *dir, char ***out, int *n_out, char *folder_out, char *err,
                        size_t err_len)
{
    *out = NULL;
    *n_out = 0;
    snprintf(folder_out, 4096, "%s", dir);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *slash = strrchr(dir, '/');
        if (slash)
            snprintf(folder_out, 4096, "%.*s", (int)(slash - dir), dir);
        else
            snprintf(folder_out, 4096, ".");
        char **v = malloc(sizeof(char *));
        if (!v || !(v[0] = strdup(slash ? slash + 1 : dir))) {
            free(v);
            snprintf(err, err_len, "%s: out of memory", dir);
            return CN_ENOMEM;
        }
        *out = v;
        *n_out = 1;
        return CN_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        /* a missing image file is not a folder (seq audit D11d: "nosuch.gif: cannot
         * open folder") */
        const int e = errno;
        if (e == ENOENT)
            snprintf(err, err_len, "%s: no such file or folder", dir);
        else if (e == ENOTDIR)
            snprintf(err, err_len, "%s: not a folder of images nor an image file", dir);
        else
            snprintf(err, err_len, "%s: cannot open folder (%s)", dir, strerror(e));
        return CN_ENOENT;
    }
    int cap = 64, n = 0;
    char **v = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *e;
    bool oom = !v;
    while (!oom && (e = readdir(d))) {
        if (!cn_eval_is_image_name(e->d_name))
            continue;
        if (n == cap) {
            char **nv = cap < (1 << 20) ? realloc(v, sizeof(char *) * (size_t)cap * 2) : NULL;
            if (!nv) {
                oom = true;
                break;
            }
            v = nv;
            cap *= 2;
        }
        if (!(v[n] = strdup(e->d_name))) {
            oom = true;
            break;
        }
        n++;
    }
    closedir(d);
    if (oom) {
        cn_eval_free_list(v, n);
        snprintf(err, err_len, "%s: out of memory listing the folder", dir);
        return CN_ENOMEM;
    }
    if (n == 0) {
        free(v);
        snprintf(err, err_len, "%s: no image files (png, jpg, bmp, gif, tif, mha, mhd, nrrd, nii, dcm)", dir);
        return CN_ENOENT;
    }
    qsort(v, (size_t)n, sizeof(char *), cn_eval_natural_cmp_str);
    *out = v;
    *n_out = n;
    return CN_OK;
}
