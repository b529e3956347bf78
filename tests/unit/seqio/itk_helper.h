/*
 * itk_helper.h - test-only bridge to ITK's MetaImage and NRRD readers, so tests can
 * check independently that files load in ITK and that pixels agree with ours.
 */
#ifndef CN_TEST_ITK_HELPER_H
#define CN_TEST_ITK_HELPER_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Reads the whole image (all frames) as raw bytes with ITK's MetaImageIO (.mha,
 * .mhd) or NrrdImageIO (.nrrd). dims[0..ndims-1] are ITK's sizes. Returns 0, or -1
 * with a message in err. *buf is malloc'd. */
int cn_test_itk_read(const char *path, int dims[4], int *ndims, int *ncomp, int *comp_bytes,
                     unsigned char **buf, size_t *len, char *err, size_t err_len);
/* The image spacing ITK reports and the string value of one metadata key (e.g.
 * "Seq_Frame0000_ImageToProbeTransform") from ITK's MetaDataDictionary ("" when
 * absent). Returns 0, or -1 with a message. */
int cn_test_itk_meta(const char *path, double spacing[3], const char *key, char *val, size_t val_len,
                     char *err, size_t err_len);
/* VTK's vtkMetaImageReader on a .mha: dimensions, spacing and the first n_first
 * bytes of pixel data (frame 0). Returns 0, or -1. */
int cn_test_vtk_read_mha(const char *path, int dims[3], double spacing[3], unsigned char *first_pixels,
                         int n_first);
#ifdef __cplusplus
}
#endif
#endif
