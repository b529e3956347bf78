/*
 * image_read_raw.h - what the reader's decoders share, in C and C++: the samples of
 * a frame or a stack as the file stored them, and the one rule that reduces them to
 * 8 bits (image_read_reduce.c). ITK's ImageIO (image_read_itk.cxx) and libtiff
 * (image_read_tiff.c) both hand their samples to it, so a 16-bit frame, a float frame
 * or a palette mask comes out the same whichever decoder read it.
 */
#ifndef CN_IMAGE_READ_RAW_H
#define CN_IMAGE_READ_RAW_H

#include "imaging/imaging.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN__PIXEL_MAX_BYTES ((size_t)256 << 20) /* raw pixel data the reader allocates */

typedef enum {
    CN__SAMPLE_U8,
    CN__SAMPLE_I8,
    CN__SAMPLE_U16,
    CN__SAMPLE_I16,
    CN__SAMPLE_U32,
    CN__SAMPLE_I32,
    CN__SAMPLE_U64,
    CN__SAMPLE_I64,
    CN__SAMPLE_F32,
    CN__SAMPLE_F64
} cn__sample;

/* Bytes per sample of type t. */
size_t cn__sample_size(cn__sample t);

/* np pages of w x h pixels of nc (1..4) interleaved samples of type t, page after page
 * (data), reduced to 8 bits by mode (imaging.h says the rule; a stack's pages share
 * one reduction). spacing_mm, when not NULL, is the pixel size the file states.
 * pages[0..np-1] receive the images; on failure none is left allocated and err names
 * path. */
int cn__raw_reduce(const void *data, cn__sample t, int nc, size_t w, size_t h, size_t np,
                   cn_image_mode mode, const double *spacing_mm, cn_image **pages,
                   const char *path, char *err, size_t err_len);

/* Whether a file of `pages` pages may be read with max_pages (0: one 2-D frame wanted,
 * a stack refused as 3-D, CN_EUNSUPPORTED; else at most that many, CN_ERANGE), said in
 * err naming path. */
int cn__stack_fits(const char *path, long long pages, int max_pages, char *err, size_t err_len);

/* image_read_tiff.c: every TIFF. A TIFF (classic or big, either byte order) by its
 * first n bytes; its pages read (max_pages 0: one 2-D page, a stack refused as 3-D;
 * else up to max_pages pages) into *pages (malloc'd array of *n images, free with
 * cn_image_stack_free); *palette: read as palette indices. */
bool cn__is_tiff(const unsigned char *head, size_t n);
int cn__tiff_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages,
                  int *n, bool *palette, char *err, size_t err_len);
/* How many pages the TIFF holds (every page checked to be laid out as the first). */
int cn__tiff_count_pages(const char *path, int *n, char *err, size_t err_len);

/* image_read_nifti.c: NIfTI-1 / -2 single files by name (.nii, .nii.gz), read as
 * cn__tiff_read reads a TIFF (pages along the third and fourth axes), with the pixel
 * size where the header states one; and their page count, from the header. */
bool cn__is_nifti_name(const char *path);
int cn__nifti_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages,
                   int *n, char *err, size_t err_len);
int cn__nifti_count_pages(const char *path, int *n, char *err, size_t err_len);
/* A NIfTI cine's time step (its fourth axis, in a known unit) in ms; 0: none. */
int cn__nifti_frame_ms(const char *path, double *ms, char *err, size_t err_len);

/* image_read_gif.c: a GIF (87a / 89a) by its first n bytes; its frames read as
 * cn__tiff_read reads pages (an animation is a stack), and counted. */
bool cn__is_gif(const unsigned char *head, size_t n);
int cn__gif_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages, int *n,
                 char *err, size_t err_len);
int cn__gif_count_pages(const char *path, int *n, char *err, size_t err_len);
/* An animation's first frame delay in ms; 0: none. */
int cn__gif_frame_ms(const char *path, double *ms, char *err, size_t err_len);
/* Each frame's start in ms from the first, from the frames' own delays (at most max);
 * *n = 0 when a frame but the last has none, or the file has one frame or more than
 * max. */
int cn__gif_frame_times(const char *path, double *t_ms, int max, int *n, char *err,
                        size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
