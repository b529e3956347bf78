/*
 * vtk_helper_vtk.cxx - test helper: VTK's own MetaImage reader (vtkMetaImageReader)
 * loads a file; used to check that what CryoNav writes opens in VTK as in ITK.
 * Never part of the product.
 */
#include "itk_helper.h"

#include <cstdio>

#include <vtkImageData.h>
#include <vtkMetaImageReader.h>
#include <vtkNew.h>

extern "C" int cn_test_vtk_read_mha(const char *path, int dims[3], double spacing[3],
                                    unsigned char *first_pixels, int n_first) {
  vtkNew<vtkMetaImageReader> r;
  if (!r->CanReadFile(path)) return -1;
  r->SetFileName(path);
  r->Update();
  vtkImageData *img = r->GetOutput();
  if (!img) return -1;
  img->GetDimensions(dims);
  img->GetSpacing(spacing);
  const unsigned char *p = static_cast<const unsigned char *>(img->GetScalarPointer());
  if (!p) return -1;
  for (int i = 0; i < n_first; i++) first_pixels[i] = p[i];
  return 0;
}
