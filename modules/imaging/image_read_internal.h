/*
 * image_read_internal.h - what the two halves of the one image reader share
 * (C++ only): image_read_itk.cxx picks the format and decodes through ITK's
 * ImageIO; image_read_dicom.cxx reads DICOM, in a child process; image_read_bmp.c
 * reads BMP, image_read_tiff.c TIFF and image_read_guard.c CMYK JPEG, which ITK 5.2
 * reads wrong or not at all; image_read_raw.h is what they share in C.
 */
#ifndef CN_IMAGE_READ_INTERNAL_H
#define CN_IMAGE_READ_INTERNAL_H

#include "imaging/image_read_raw.h"
#include "imaging/imaging.h"

#include <itkImageIOBase.h>

#include <string>
#include <vector>

/* Where the pixel size comes from: nowhere (PNG, JPEG, BMP, TIFF; DICOM sets its
 * own afterwards), or a MetaImage or NRRD header that states it. */
typedef enum { CN__SPACING_NONE, CN__SPACING_HEADER } cn__spacing_from;

/* Reads the file through io, converted to 8 bits by mode (imaging.h), with every
 * size check before allocation; errors name the file. */
int cn__image_decode(itk::ImageIOBase *io, const char *path, cn__spacing_from spacing,
                     cn_image_mode mode, cn_image **out, bool *palette, char *err,
                     size_t err_len);
/* The same for a stack (max_pages given: its third axis, up to *max_pages pages, each
 * reduced to 8 bits as one range); max_pages NULL: one 2-D page, a stack refused. */
int cn__image_decode_pages(itk::ImageIOBase *io, const char *path, cn__spacing_from spacing,
                           cn_image_mode mode, int *max_pages, std::vector<cn_image *> *pages,
                           bool *palette, char *err, size_t err_len);

/* image_read_guard.c: a PNG or JPEG file's header (by its first n bytes, head) read
 * with libpng / libjpeg, each error caught, before ITK is shown the file (ITK 5.2
 * aborts or crashes on some damaged headers); CN_OK for other formats. A CMYK or YCCK
 * JPEG, which ITK reads wrong, is decoded there in mode into *own (NULL otherwise). */
extern "C" int cn__image_guard(const char *path, const unsigned char *head, size_t n,
                               cn_image_mode mode, cn_image **own, char *err, size_t err_len);

/* image_read_bmp.c: a BMP file ("BM"), every kind, decoded in mode (ITK 5.2 reads few
 * of them, and 32-bit ones wrong: that file says which). */
extern "C" int cn__bmp_read(const char *path, cn_image_mode mode, cn_image **out, char *err,
                            size_t err_len);

/* image_read_meta.cxx: the first 64 KiB of a file (a text header is up front); whether
 * a MetaImage or NRRD header states the pixel size; a MetaImage by name; its header's
 * lines within MetaIO's field up to ElementDataFile; a detached data file a plain name
 * inside the header's folder and a regular file. The checks return CN_OK or an error
 * naming path. */
std::string cn__file_head(const char *path);
bool cn__header_states_spacing(const std::string &text);
bool cn__is_metaimage(const char *path);
int cn__check_meta_header(const char *path, const std::string &text, char *err, size_t err_len);
int cn__check_data_file(const char *path, const std::string &text, char *err, size_t err_len);

/* A DICOM Part 10 file: "DICM" after the 128-byte preamble. */
bool cn__is_dicom(const std::string &head);
/* Reads a DICOM file in a child process (image_read_dicom.cxx says why). */
int cn__dicom_read(const char *path, cn_image_mode mode, cn_image **out, bool *palette,
                   char *err, size_t err_len);
/* The same for a multi-frame DICOM (a cine): its frames as pages, up to max_pages. */
int cn__dicom_read_pages(const char *path, cn_image_mode mode, int max_pages,
                         std::vector<cn_image *> *pages, bool *palette, char *err,
                         size_t err_len);
/* How many frames a DICOM file holds (its header, in the child too). */
int cn__dicom_count_pages(const char *path, int *n, char *err, size_t err_len);
/* A DICOM cine's time between frames in ms as its header states it (0: none). */
int cn__dicom_frame_ms(const char *path, double *ms, char *err, size_t err_len);
/* Each frame's start in ms from the first, from a Frame Time Vector; *n = 0 without one
 * (or with more than max frames). */
int cn__dicom_frame_times(const char *path, double *t_ms, int max, int *n, char *err,
                          size_t err_len);

#endif
