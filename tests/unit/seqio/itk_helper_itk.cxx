/*
 * itk_helper_itk.cxx - test helper: ITK's own readers (MetaImageIO, NrrdImageIO)
 * load a file completely; used to cross-check CryoNav's streaming reader and that
 * what CryoNav writes opens in ITK. Never part of the product.
 */
#include "itk_helper.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <itkMetaDataObject.h>
#include <itkMetaImageIO.h>
#include <itkNrrdImageIO.h>

extern "C" int cn_test_itk_read(const char *path, int dims[4], int *ndims, int *ncomp,
                                int *comp_bytes, unsigned char **buf, size_t *len, char *err,
                                size_t err_len) {
  try {
    std::string p(path);
    itk::ImageIOBase::Pointer io;
    if (p.size() > 5 && p.substr(p.size() - 5) == ".nrrd") io = itk::NrrdImageIO::New();
    else io = itk::MetaImageIO::New();
    io->SetFileName(path);
    io->ReadImageInformation();
    *ndims = (int)io->GetNumberOfDimensions();
    for (int i = 0; i < 4; i++) dims[i] = i < *ndims ? (int)io->GetDimensions(i) : 1;
    *ncomp = (int)io->GetNumberOfComponents();
    *comp_bytes = (int)io->GetComponentSize();
    /* read everything: the default IO region is not the whole image */
    itk::ImageIORegion region(*ndims);
    for (int i = 0; i < *ndims; i++) {
      region.SetIndex(i, 0);
      region.SetSize(i, io->GetDimensions(i));
    }
    io->SetIORegion(region);
    size_t n = (size_t)io->GetImageSizeInBytes();
    *buf = (unsigned char *)std::malloc(n ? n : 1);
    if (!*buf) return -1;
    io->Read(*buf);
    *len = n;
    return 0;
  } catch (const std::exception &e) {
    std::snprintf(err, err_len, "ITK: %s", e.what());
    return -1;
  }
}

extern "C" int cn_test_itk_meta(const char *path, double spacing[3], const char *key, char *val,
                                size_t val_len, char *err, size_t err_len) {
  try {
    std::string p(path);
    itk::ImageIOBase::Pointer io;
    if (p.size() > 5 && p.substr(p.size() - 5) == ".nrrd") io = itk::NrrdImageIO::New();
    else io = itk::MetaImageIO::New();
    io->SetFileName(path);
    io->ReadImageInformation();
    for (int i = 0; i < 3; i++)
      spacing[i] = i < (int)io->GetNumberOfDimensions() ? io->GetSpacing(i) : 1.0;
    std::string v;
    val[0] = 0;
    if (itk::ExposeMetaData<std::string>(io->GetMetaDataDictionary(), key, v))
      std::snprintf(val, val_len, "%s", v.c_str());
    return 0;
  } catch (const std::exception &e) {
    std::snprintf(err, err_len, "ITK: %s", e.what());
    return -1;
  }
}
