/*
 * eval_pairs.c - image/mask pairs for `cryonav eval nerve`: every image of a
 * folder with the mask of the same name (or stem) in another, in natural name
 * order (digit runs compare as numbers: sample_9 before sample_10), the order
 * the training scripts use, so file index i has the same fold in both.
 */
#include "eval.h"

#include "core/core.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


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

int cn_eval_pair_cmp(const void *x, const void *y)
{
    const nerve_pair *a = x, *b = y;
    int c = natural_cmp(a->name, b->name);
    return c ? c : strcmp(a->image, b->image);
}

static bool is_image_name(const char *n)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
                                      ".mha", ".mhd", ".nrrd"};
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
    const char *dot = strrchr(n, '.');
    return dot ? (size_t)(dot - n) : strlen(n);
}

/* Appends the images of idir with their masks in mdir to *pairs. A missing mask
 * is reported and the image skipped (counted in *missing). */
int cn_eval_pairs_add(const char *idir, const char *mdir, nerve_pair **pairs, int *n, int *cap,
                      int *missing)
{
    DIR *d = opendir(idir);
    if (!d) {
        fprintf(stderr, "cryonav eval: %s: cannot open the image folder\n", idir);
        return CN_ENOENT;
    }
    DIR *dm = opendir(mdir);
    if (!dm) {
        closedir(d);
        fprintf(stderr, "cryonav eval: %s: cannot open the mask folder\n", mdir);
        return CN_ENOENT;
    }
    /* the mask folder's image files, to match by stem */
    char **masks = NULL;
    int nm = 0, cm = 0;
    struct dirent *e;
    while ((e = readdir(dm))) {
        if (!is_image_name(e->d_name))
            continue;
        if (nm == cm) {
            cm = cm ? 2 * cm : 64;
            char **nn = realloc(masks, sizeof(char *) * (size_t)cm);
            if (!nn)
                break;
            masks = nn;
        }
        masks[nm++] = strdup(e->d_name);
    }
    closedir(dm);
    int rc = CN_OK;
    while ((e = readdir(d))) {
        if (!is_image_name(e->d_name) || strstr(e->d_name, ".raw"))
            continue;
        const size_t sl = cn_eval_stem_len(e->d_name);
        const char *mask = NULL;
        for (int k = 0; k < nm; k++) /* the same file name first, then the same stem */
            if (strcmp(masks[k], e->d_name) == 0) {
                mask = masks[k];
                break;
            }
        for (int k = 0; k < nm && !mask; k++)
            if (cn_eval_stem_len(masks[k]) == sl && strncmp(masks[k], e->d_name, sl) == 0)
                mask = masks[k];
        if (!mask) {
            fprintf(stderr, "cryonav eval: %s/%s: no mask of that name in %s (skipped)\n", idir,
                    e->d_name, mdir);
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
        size_t li = strlen(idir) + strlen(e->d_name) + 2, lm = strlen(mdir) + strlen(mask) + 2;
        p->image = malloc(li);
        p->mask = malloc(lm);
        if (!p->image || !p->mask) {
            rc = CN_ENOMEM;
            break;
        }
        snprintf(p->image, li, "%s/%s", idir, e->d_name);
        snprintf(p->mask, lm, "%s/%s", mdir, mask);
        p->name = p->image + strlen(idir) + 1;
    }
    closedir(d);
    for (int k = 0; k < nm; k++)
        free(masks[k]);
    free(masks);
    return rc;
}
