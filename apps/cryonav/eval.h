/*
 * eval.h - helpers shared by the `cryonav eval` files (cmd_eval.c, eval_nerve.c,
 * eval_needle.c, eval_sim.c): file listing, image / mask pairs and stacks, progress bar,
 * median.
 */
#ifndef CN_APP_EVAL_H
#define CN_APP_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "imaging/imaging.h"

/* Sorted names of the *.png files in dir (caller frees with cn_eval_free_list). */
int cn_eval_list_png(const char *dir, char ***names, int *n, char *err, size_t err_len);
void cn_eval_free_list(char **names, int n);
/* "[#####.....] done/total" on stderr. */
void cn_eval_progress(int done, int total);
/* Sorts v in place and returns its median (NAN when n == 0). */
double cn_eval_median(double *v, int n);

/* An image and its mask (eval_pairs.c). */
typedef struct {
    char *image, *mask; /* paths (mask NULL: a view without a nerve) */
    const char *name;   /* base name (inside image, or label) */
    char *label;        /* "file[k]" for a sequence file's frame, else NULL */
    int frame;          /* >= 0: frame k of the sequence file image; -1: an image file */
    int page;           /* >= 0: page k of the stack image, its mask page k of the stack
                           mask (eval_stack.c); -1: a 2-D image */
} nerve_pair;
/* Appends the images of idir with their masks in mdir (same file name, else the
 * same stem) to *pairs; a missing mask is reported and the image skipped
 * (counted in *missing). CN_ENOENT for a folder that cannot be opened. */
int cn_eval_pairs_add(const char *idir, const char *mdir, nerve_pair **pairs, int *n, int *cap,
                      int *missing);
/* Every pair from index from on whose image is a stack (a multi-page TIFF, a 3-D MetaImage or NRRD) made
 * one pair per page, "file[0]" .. "file[n-1]", in place and in page order (a pair with
 * no mask, a view without a nerve, gives pages with no mask); a stack whose mask holds
 * another number of pages is said on stderr, dropped and counted in *skipped
 * (eval_stack.c). Pairs already expanded, and sequence frames, are left as they are. */
int cn_eval_pairs_expand_stacks(nerve_pair **pairs, int from, int *n, int *cap, int *skipped);
/* A stack page's image (grey) and mask (0/1); *cache holds the stack last read (each
 * is read once). A stack that cannot be read gives its error once, then CN_EAGAIN
 * for its other pages. */
typedef struct eval_stack eval_stack;
int cn_eval_stack_read(eval_stack **cache, const nerve_pair *p, cn_image **im, cn_image **mk,
                       char *err, size_t err_len);
void cn_eval_stack_close(eval_stack *s);
/* qsort comparator: natural order of the image names. */
int cn_eval_pair_cmp(const void *x, const void *y);
/* True for a name the image reader takes (.png .jpg .jpeg .bmp .tif .tiff .mha .mhd
 * .nrrd, any case). */
bool cn_eval_is_image_name(const char *n);
/* Length of a file name without its last suffix. */
size_t cn_eval_stem_len(const char *n);
/* qsort comparator of two char * in natural order (digit runs by value: frame_9 before
 * frame_10), the order `eval` sets and `convert` folders are read in. */
int cn_eval_natural_cmp_str(const void *x, const void *y);
/* The image files of folder dir in natural order, and their folder (folder_out: 4096
 * bytes); dir may be one image file (a stack), then it alone. Free with
 * cn_eval_free_list. */
int cn_eval_list_images(const char *dir, char ***names, int *n, char *folder_out, char *err,
                        size_t err_len);
/* The index in masks[] of image file name's mask by the pairing rules above (the same
 * name or stem, a mask suffix, an image word swapped, nnU-Net's _0000); one_folder:
 * images and masks share a folder. -1 when none. */
int cn_eval_match_mask(const char *name, char *const *masks, int nm, bool one_folder);
/* Whether two folder paths name the same folder (after resolving links). */
bool cn_eval_same_folder(const char *a, const char *b);

/* Views without a nerve or a needle (eval_nerve_free.c; `eval nerve --nerve-free`,
 * `eval needle --needle-free`): every frame of the sequence file path
 * appended to *pairs (mask NULL, frame k, label "file[k]"), or, when path is a
 * folder, every image in it (mask NULL, frame -1); CN_EPARSE / CN_ENOENT (said on
 * stderr after opt, the option that named it) for a file that cannot be read or holds no 8-bit / colour images, a
 * folder that cannot be opened or holds no image. */
typedef struct evn_seq evn_seq;
int cn_evn_free_add(const char *path, const char *opt, nerve_pair **pairs, int *n, int *cap);
/* Frame p->frame of p->image as a grey image with the file's pixel size when it
 * has one; *cache keeps the file open between frames (cn_evn_free_close). */
int cn_evn_free_read(evn_seq **cache, const nerve_pair *p, cn_image **out, char *err,
                     size_t err_len);
void cn_evn_free_close(evn_seq *s);

int cn_eval_nerve(int argc, char **argv);
int cn_eval_needle(int argc, char **argv);
int cn_eval_sim(int argc, char **argv);

#endif
