/*
 * imaging.h - pixel-level operations on 8-bit grey images (the one public header
 * of modules/imaging).
 *
 * The idea: the live analysis works on one 8-bit B-mode frame at a time inside a
 * budget of a few milliseconds, so every operation here is a plain loop over a
 * row-major buffer (stride == width), O(1) per pixel whatever the filter size
 * (integral images, running sums), and writes into caller-provided buffers so the
 * hot path never allocates. Offline tools (evaluation, tests) use the owned
 * cn_image type and the PNG reader/writer.
 *
 * Errors are negative CN_E* codes from core.h; functions that read files also
 * write a message naming the file and the problem into err.
 */
#ifndef CN_IMAGING_H
#define CN_IMAGING_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest image side accepted anywhere (a guard against huge allocations from a
 * corrupt header). */
#define CN_IMAGE_MAX_SIDE 8192

/* An owned 8-bit image, row-major, stride == w. spacing_mm is the physical pixel
 * size when the file carries one (MetaImage, NRRD): has_spacing says so; other
 * formats (PNG, JPEG, BMP, TIFF) get {1, 1} and has_spacing false, since their
 * dots-per-inch fields describe printing, not the scanner. */
typedef struct {
    int w, h;
    uint8_t *px;
    double spacing_mm[2];
    bool has_spacing;
} cn_image;

/* w x h zeroed image, NULL when a side is < 1 or > CN_IMAGE_MAX_SIDE or no memory. */
cn_image *cn_image_new(int w, int h);
void cn_image_free(cn_image *im);
/* Checks a (w, h, px) triple: CN_EINVAL for NULL pixels or sides out of range. */
int cn_image_check(const uint8_t *px, int w, int h);

/* ------------------------------------------------------------------ PNG */

/* Reads any 8/16-bit PNG as grey levels: RGB(A) becomes luma (0.299 R + 0.587 G +
 * 0.114 B), palette images are expanded through their palette first, alpha is
 * dropped, 16-bit is reduced to 8. */
int cn_png_read_gray(const char *path, cn_image **out, char *err, size_t err_len);
/* Reads the raw sample values of a 1-channel PNG without any colour mapping: the
 * palette index of an indexed PNG (label masks), the grey level otherwise. An RGB
 * file is refused (CN_EUNSUPPORTED). */
int cn_png_read_index(const char *path, cn_image **out, char *err, size_t err_len);
/* ------------------------------------------------------------------ any format */

/* The one reader for evaluation input (frames and masks): PNG, BMP, JPEG, TIFF,
 * MetaImage (.mha/.mhd), NRRD and DICOM (Part 10 files), 8 or 16 bit, grey,
 * RGB(A) or palette, through ITK's ImageIO classes (image_read_itk.cxx; DICOM in a
 * child process, image_read_dicom.cxx: a damaged file ends that process, not the
 * caller, so call it from a single-threaded program). A 3-D file with one slice
 * counts as 2-D (a stack of several, a DICOM cine, is refused as 3-D here: read it
 * with cn_image_read_stack). The pixel size
 * (has_spacing) only where the file states it: a MetaImage or NRRD header's
 * spacing, DICOM Pixel Spacing, Imager Pixel Spacing or an ultrasound region's
 * physical deltas; never ITK's 1 mm for "none". Only regular files are opened (a
 * FIFO or a directory is an error, never a hang); sides above CN_IMAGE_MAX_SIDE
 * or more than 256 MiB of pixel data are refused before anything is allocated.
 * Errors name the file and the problem: CN_ENOENT missing, CN_EPARSE not an image
 * / damaged, CN_EUNSUPPORTED a valid image of a kind we cannot use (e.g. a 3-D
 * volume), CN_ERANGE too large. */
typedef enum {
    CN_IMAGE_GREY = 0, /* grey levels: colour becomes luma (0.299 R + 0.587 G + 0.114 B),
                          palettes are expanded through their colours, 16-bit unsigned
                          data keeps the top 8 of the bits it uses (a 12-bit scanner's
                          0..4095 becomes 0..255), floats within 0..1 are scaled by
                          255, other data within 0..255 is kept, the rest is scaled
                          min..max */
    CN_IMAGE_LABEL     /* label values: the palette INDEX of a palette image, the value of
                          a grey image (clamped to 255), the brightest channel of a
                          colour image (a red or green mark counts, not its luma) */
} cn_image_mode;

int cn_image_read(const char *path, cn_image_mode mode, cn_image **out, char *err,
                  size_t err_len);
/* A binary mask (0/1) for the image at image_path of size width x height, read with
 * CN_IMAGE_LABEL: in a label image (every index/value <= 2, e.g. 0 background,
 * 1 nerve, 2 vessel) 1 where the value is 1; otherwise (0/255 masks, noisy 8-bit
 * masks, grey palettes) 1 where the value is > 127. A mask of another size is CN_EINVAL with a message naming
 * both files and both sizes. */
int cn_mask_read(const char *path, const char *image_path, int width, int height,
                 cn_image **out, char *err, size_t err_len);

/* A stack of frames: the pages of a multi-page TIFF (an ImageJ / Fiji stack), the
 * frames of a multi-frame DICOM (a scanner's cine; read in the child process, as any
 * DICOM), or the slices along the third axis of a 3-D MetaImage or NRRD (a 3D Slicer
 * volume or labelmap of a cine), each page read as cn_image_read reads an image (a stack's
 * 16-bit or float grey levels share one reduction to 8 bits). A 2-D file is a stack
 * of one page. More than max_pages pages is CN_ERANGE, named. *pages (n of them) is
 * freed with cn_image_stack_free. */
int cn_image_read_stack(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages,
                        int *n, char *err, size_t err_len);
/* The masks of a stack whose image stack has n_pages pages of width x height: each
 * page made 0/1 by cn_mask_read's rule; another page count or size is CN_EINVAL naming
 * both files. */
int cn_mask_read_stack(const char *path, const char *image_path, int width, int height,
                       int n_pages, cn_image ***pages, char *err, size_t err_len);
void cn_image_stack_free(cn_image **pages, int n);
/* The time between a stack's frames in ms, as the file states it: a DICOM cine's Frame
 * Time (or Cine Rate), a GIF animation's frame delay, a NIfTI's time step; *ms = 0
 * when the file states none (TIFF, MetaImage, NRRD, a single frame). */
int cn_image_frame_ms(const char *path, double *ms, char *err, size_t err_len);
/* Each frame's start in ms from the first (at most max), where the file states the
 * frames' times one by one: a GIF animation's own frame delays, a DICOM cine's Frame
 * Time Vector. *n = 0 when it does not (then cn_image_frame_ms's interval is the one). */
int cn_image_frame_times_ms(const char *path, double *t_ms, int max, int *n, char *err,
                            size_t err_len);
/* How many pages the file holds (1 for a 2-D image or a format without pages), from
 * its header only. */
int cn_image_count_pages(const char *path, int *n, char *err, size_t err_len);

/* Writes an 8-bit grey PNG. */
int cn_png_write_gray(const char *path, const uint8_t *px, int w, int h, char *err,
                      size_t err_len);

/* ------------------------------------------------------------------ filters */

/* Box mean over a (2r+1)^2 window, edges clamped, via running column sums: O(1)
 * per pixel. tmp needs w * sizeof(uint32_t) * 1 bytes (column sums). dst may not
 * alias src. */
int cn_img_box_mean(const uint8_t *src, uint8_t *dst, int w, int h, int r, uint32_t *tmp);
/* 2 x 2 mean downsampling: dst is (w/2) x (h/2). */
int cn_img_downsample2(const uint8_t *src, int w, int h, uint8_t *dst);
/* Integral image with a zero first row/column: ii is (w+1) x (h+1). */
int cn_img_integral(const uint8_t *src, int w, int h, uint32_t *ii);
/* Sum of src over [x0, x1) x [y0, y1) (clipped to the image) from its integral. */
uint32_t cn_img_integral_sum(const uint32_t *ii, int w, int h, int x0, int y0, int x1, int y1);
/* Bilinear sample at (x, y) in pixels (pixel centres at integers), clamped. */
float cn_img_sample(const uint8_t *px, int w, int h, float x, float y);

/* A rectangle of pixels: columns [x0, x0 + w), rows [y0, y0 + h). */
typedef struct {
    int x0, y0, w, h;
} cn_img_box;

#define CN_FOV_GREY 3        /* a pixel above this grey is lit (black margins are not) */
#define CN_FOV_SHARE 0.02    /* a row or column with this share lit is in the view */
#define CN_FOV_BLOCK 4       /* lit parts are found on blocks this many pixels square */
#define CN_FOV_PART_RATIO 20 /* a part under 1/20 of the largest part's blocks is small */
#define CN_FOV_MARK_GREY 96  /* a small part with a pixel this bright is a mark */
/* The scanner's field of view in a frame (a screen capture's black margins, a
 * letterbox's bands, its text and depth scale cut away): the box of rows and columns
 * in which at least CN_FOV_SHARE of the pixels are brighter than CN_FOV_GREY, once the
 * frame's marks are taken out: small bright lit parts (8-connected blocks of
 * CN_FOV_BLOCK pixels; small: under 1 / CN_FOV_PART_RATIO of the largest part; bright:
 * a pixel of CN_FOV_MARK_GREY or more), a scanner's text, depth scale and markers. A
 * box under a quarter of the frame's width or height, or none, is not trusted: the
 * whole frame (the box with the marks, when only that one is trusted). Exactly
 * tools/train/fov.py's fov_box. scratch holds cn_img_fov_scratch_len(w, h) counters. */
size_t cn_img_fov_scratch_len(int w, int h);
int cn_img_fov_box(const uint8_t *px, int w, int h, uint32_t *scratch, cn_img_box *out);
/* Copies box b of the w x h image src into dst (b.w x b.h, stride b.w); b must lie
 * inside the image. */
int cn_img_crop(const uint8_t *src, int w, int h, cn_img_box b, uint8_t *dst);

typedef struct {
    double mean, stddev;
    double frac_dark;        /* fraction of pixels <= 5 */
    double frac_saturated;   /* fraction of pixels >= 250 */
} cn_img_stats;
int cn_img_stats_compute(const uint8_t *px, int w, int h, cn_img_stats *out);

/* ------------------------------------------------------------------ measurement */

/* Exact squared Euclidean distance (pixels^2) of every pixel to the nearest
 * non-zero pixel of mask (Felzenszwalb-Huttenlocher, O(n)). dist is w*h floats;
 * when mask has no non-zero pixel every distance is +inf. Allocates scratch. */
int cn_img_distance_sq(const uint8_t *mask, int w, int h, float *dist);
/* Fills a closed polygon (vertices in pixel coordinates) into mask with value
 * (even-odd rule, pixel centres). mask is not cleared first. */
int cn_img_fill_polygon(uint8_t *mask, int w, int h, const cn_pt2 *pts, int n, uint8_t value);
/* The outer outline of the 8-connected part of mask's non-zero pixels that holds
 * pixel (x, y): a closed polygon along the pixels' edges (clockwise on the
 * screen; within -0.5 .. w - 0.5 and -0.5 .. h - 0.5: a part at the border ends
 * at the image's edge). Its corners (at half-pixel coordinates), which
 * cn_img_fill_polygon fills back into exactly the part with its holes filled,
 * when they are at most
 * max_pts and even is false; else max_pts points spaced evenly along it (each
 * standing for an equal length of the outline). No allocation, O(the part's
 * perimeter). CN_ENOENT when pixel (x, y) is zero, CN_ERANGE when it lies outside
 * the mask, CN_EINVAL for a bad mask or max_pts < 3. */
int cn_img_trace_outline(const uint8_t *mask, int w, int h, int x, int y, bool even,
                         cn_pt2 *pts, int max_pts, int *n);
/* Dice of the non-zero sets of a and b; 1 when both are empty. */
double cn_mask_dice(const uint8_t *a, const uint8_t *b, int w, int h);
/* 95th percentile of the symmetric surface distance (pixels) between the borders
 * of a and b, pooled over both directions as medpy's hd95 does. NAN when either
 * mask is empty. */
double cn_mask_hd95(const uint8_t *a, const uint8_t *b, int w, int h);
/* Area (pixels) and centroid of the non-zero set; CN_ENOENT when empty. */
int cn_mask_centroid(const uint8_t *m, int w, int h, double *cx, double *cy, long *area);
/* One 8-connected part of a mask: its area, centroid and the part's own pixel
 * nearest that centroid (where an operator pointing at this part would click:
 * the centroid of a crescent lies outside it). */
typedef struct {
    int label; /* its value in cn_mask_parts' labels (k + 1 for part k) */
    long area;
    double cx, cy;
    int seed_x, seed_y;
} cn_mask_part;
/* The 8-connected parts of the non-zero set of m, in raster order of their first
 * pixel. labels (w*h, may be NULL) gets 0 off the mask and k + 1 on part k.
 * CN_ERANGE when there are more than max_parts parts (parts[] then holds the
 * first max_parts); CN_ENOMEM, CN_EINVAL as usual. */
int cn_mask_parts(const uint8_t *m, int w, int h, int32_t *labels, cn_mask_part *parts,
                  int max_parts, int *n_parts);
/* The parts an operator would click as nerves (`cryonav eval nerve --seeded`, the
 * crop CNN's per-nerve training): at least CN_MASK_CLICK_MIN_SHARE of the mask's
 * area (total_area: the whole mask's pixels) and CN_MASK_CLICK_MIN_PX pixels,
 * the largest part always; smaller parts are annotation specks. Keeps them at the
 * front of parts[] in their order (labels unchanged) and returns how many. */
#define CN_MASK_CLICK_MIN_SHARE 0.02
#define CN_MASK_CLICK_MIN_PX 20
int cn_mask_parts_to_click(cn_mask_part *parts, int n, long total_area);

#ifdef __cplusplus
}
#endif
#endif /* CN_IMAGING_H */
