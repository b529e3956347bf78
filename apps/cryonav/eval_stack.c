/*
 * eval_stack.c - stacks in `cryonav eval nerve`: a cine's frames kept as one file (a
 * multi-page TIFF, as ImageJ / Fiji saves a stack; a 3-D MetaImage or NRRD, as 3D
 * Slicer saves a volume and its labelmap), with its masks as the same kind of stack,
 * scored page by page as if each page were an image of its own; a stack in a
 * `--nerve-free` folder gives a view without a nerve per page.
 *
 * The pairs are expanded after they are ordered: a stack of n pages becomes n pairs
 * named "file[0]" .. "file[n-1]" (from 0, as a sequence file's frames are named), in
 * page order, so a
 * stack's frames keep their order in the set and `--folds block` keeps neighbouring
 * frames together. Only the header is read to count pages. Scoring reads each stack
 * once, when its first page comes, and keeps it (image and masks) until the next
 * stack: reading the whole file for each page would cost n times n.
 */
#include "eval.h"

#include "imaging/imaging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most pages a stack may hold (the reader also caps its pixels at 256 MiB). */
#define STACK_MAX_PAGES 100000

struct eval_stack {
    char *path;       /* the stack held, or the one that failed */
    cn_image **img, **mask;
    int n;
    int failed;       /* its reading failed, and that was said once */
};

int cn_eval_pairs_expand_stacks(nerve_pair **pairs, int from, int *n, int *cap, int *skipped)
{
    int rc = CN_OK;
    for (int i = from; i < *n && rc == CN_OK; i++) {
        nerve_pair *p = &(*pairs)[i];
        if (p->frame >= 0 || p->page >= 0)
            continue;
        char err[1024];
        int np = 0, nm = 0;
        if (cn_image_count_pages(p->image, &np, err, sizeof err) != CN_OK || np <= 1)
            continue; /* a 2-D image, or one whose reading will say what is wrong */
        if (np > STACK_MAX_PAGES) {
            fprintf(stderr, "cryonav eval: %s: a stack of %d pages, more than the %d taken "
                    "(skipped)\n", p->image, np, STACK_MAX_PAGES);
            nm = -1;
        } else if (!p->mask) {
            nm = np; /* a stack of views without a nerve (--nerve-free DIR) */
        } else if (cn_image_count_pages(p->mask, &nm, err, sizeof err) != CN_OK) {
            fprintf(stderr, "cryonav eval: %s (skipped with its image stack)\n", err);
            nm = -1;
        } else if (nm != np) {
            fprintf(stderr, "cryonav eval: %s holds %d pages but its mask %s holds %d "
                    "(skipped)\n", p->image, np, p->mask, nm);
            nm = -1;
        }
        if (nm < 0) {
            (*skipped)++;
            free(p->image);
            free(p->mask);
            free(p->label);
            memmove(p, p + 1, sizeof *p * (size_t)(*n - i - 1));
            (*n)--;
            i--;
            continue;
        }
        /* room for np - 1 more pairs after this one */
        if (*n + np - 1 > *cap) {
            int nc = *n + np - 1;
            nerve_pair *g = realloc(*pairs, sizeof(nerve_pair) * (size_t)nc);
            if (!g)
                return CN_ENOMEM;
            *pairs = g;
            *cap = nc;
            p = &(*pairs)[i];
        }
        memmove(p + np, p + 1, sizeof *p * (size_t)(*n - i - 1));
        const nerve_pair stack = *p;
        const char *base = strrchr(stack.image, '/');
        base = base ? base + 1 : stack.image;
        for (int k = 0; k < np; k++) {
            nerve_pair *q = &(*pairs)[i + k];
            memset(q, 0, sizeof *q);
            q->frame = -1;
            q->page = k;
            size_t ll = strlen(base) + 16;
            q->image = strdup(stack.image);
            q->mask = stack.mask ? strdup(stack.mask) : NULL;
            q->label = malloc(ll);
            if (!q->image || (stack.mask && !q->mask) || !q->label) {
                rc = CN_ENOMEM;
            } else {
                snprintf(q->label, ll, "%s[%d]", base, k);
                q->name = q->label;
            }
        }
        free(stack.image);
        free(stack.mask);
        free(stack.label);
        *n += np - 1;
        i += np - 1;
    }
    return rc;
}

static cn_image *image_copy(const cn_image *a)
{
    cn_image *b = cn_image_new(a->w, a->h);
    if (b) {
        memcpy(b->px, a->px, (size_t)a->w * (size_t)a->h);
        b->spacing_mm[0] = a->spacing_mm[0];
        b->spacing_mm[1] = a->spacing_mm[1];
        b->has_spacing = a->has_spacing;
    }
    return b;
}

static void stack_drop(eval_stack *s)
{
    cn_image_stack_free(s->img, s->n);
    cn_image_stack_free(s->mask, s->n);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int cn_eval_stack_read(eval_stack **cache, const nerve_pair *p, cn_image **im, cn_image **mk,
                       char *err, size_t err_len)
{
    *im = *mk = NULL;
    if (!*cache && !(*cache = calloc(1, sizeof **cache))) {
        snprintf(err, err_len, "%s: out of memory", p->name);
        return CN_ENOMEM;
    }
    eval_stack *s = *cache;
    if (!s->path || strcmp(s->path, p->image) != 0) {
        stack_drop(s);
        if (!(s->path = strdup(p->image))) {
            snprintf(err, err_len, "%s: out of memory", p->name);
            return CN_ENOMEM;
        }
        int rc = cn_image_read_stack(p->image, CN_IMAGE_GREY, STACK_MAX_PAGES, &s->img, &s->n,
                                     err, err_len);
        if (rc == CN_OK && p->mask)
            rc = cn_mask_read_stack(p->mask, p->image, s->img[0]->w, s->img[0]->h, s->n,
                                    &s->mask, err, err_len);
        if (rc != CN_OK) {
            cn_image_stack_free(s->img, s->n);
            s->img = NULL;
            s->n = 0;
            s->failed = 1;
            return rc; /* said once, by the caller */
        }
    } else if (s->failed) {
        snprintf(err, err_len, "%s: its stack could not be read (said above)", p->name);
        return CN_EAGAIN;
    }
    if (p->page >= s->n) {
        snprintf(err, err_len, "%s: the stack now holds %d pages", p->name, s->n);
        return CN_ERANGE;
    }
    *im = image_copy(s->img[p->page]);
    /* a view without a nerve: an empty mask */
    *mk = s->mask ? image_copy(s->mask[p->page]) : cn_image_new(s->img[p->page]->w, s->img[p->page]->h);
    if (!*im || !*mk) {
        cn_image_free(*im);
        cn_image_free(*mk);
        *im = *mk = NULL;
        snprintf(err, err_len, "%s: out of memory", p->name);
        return CN_ENOMEM;
    }
    return CN_OK;
}

void cn_eval_stack_close(eval_stack *s)
{
    if (s) {
        stack_drop(s);
        free(s);
    }
}
