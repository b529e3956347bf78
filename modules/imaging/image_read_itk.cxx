/*
 * image_read_itk.cxx - the one reader for evaluation images and masks, on ITK's
 * ImageIO classes, behind the C functions cn_image_read / cn_mask_read.
 *
 * The idea: datasets come from many scanners and tools (PNG, palette PNG masks,
 * noisy 8-bit BMP masks, JPEG, TIFF, MetaImage, NRRD, NIfTI, DICOM). ITK already reads most of
 * them (BMP, TIFF, NIfTI, GIF and JPEG are decoded by image_read_bmp.c,
 * image_read_tiff.c, image_read_nifti.c, image_read_gif.c and image_read_guard.c, which say
 * why); we use its ImageIO layer directly (no templated image pipeline, so this
 * file compiles in a few seconds) and convert the raw buffer to 8 bits here.
 * Each ImageIO is asked CanReadFile in turn instead of going through the object
 * factory, so no factory registration is needed and the formats we accept are
 * the ones listed below. Palettes: ITK expands them to RGB by default; for
 * labels we set ExpandRGBPalette(false) to get the palette index, which is what
 * a label mask means. The samples ITK returns go to the reader's one reduction to
 * 8 bits (image_read_reduce.c), which libtiff's samples go to as well.
 *
 * Hostile files: only regular files are handed to ITK (a FIFO would block it
 * forever), and the declared size is checked before the pixel buffer is made.
 */
#include "imaging/image_read_internal.h"

#include <strings.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <itkMetaImageIO.h>
#include <itkNrrdImageIO.h>
#include <itkPNGImageIO.h>

namespace {

const size_t kMaxPixelBytes = CN__PIXEL_MAX_BYTES;

itk::ImageIOBase::Pointer pick_io(const char *path, bool *physical_spacing) {
  std::vector<std::pair<itk::ImageIOBase::Pointer, bool>> ios = {
      {itk::PNGImageIO::New().GetPointer(), false},
      {itk::MetaImageIO::New().GetPointer(), true},
      {itk::NrrdImageIO::New().GetPointer(), true},
  };
  for (auto &io : ios)
    if (io.first->CanReadFile(path)) {
      *physical_spacing = io.second;
      return io.first;
    }
  return nullptr;
}

/* The reader's sample type of an ITK component type of cs bytes; false when none. */
bool sample_type(itk::IOComponentEnum c, size_t cs, cn__sample *t) {
  switch (c) {
  case itk::IOComponentEnum::UCHAR: *t = CN__SAMPLE_U8; break;
  case itk::IOComponentEnum::CHAR: *t = CN__SAMPLE_I8; break;
  case itk::IOComponentEnum::USHORT: *t = CN__SAMPLE_U16; break;
  case itk::IOComponentEnum::SHORT: *t = CN__SAMPLE_I16; break;
  case itk::IOComponentEnum::UINT: *t = CN__SAMPLE_U32; break;
  case itk::IOComponentEnum::INT: *t = CN__SAMPLE_I32; break;
  case itk::IOComponentEnum::ULONG:
  case itk::IOComponentEnum::ULONGLONG: *t = cs == 4 ? CN__SAMPLE_U32 : CN__SAMPLE_U64; break;
  case itk::IOComponentEnum::LONG:
  case itk::IOComponentEnum::LONGLONG: *t = cs == 4 ? CN__SAMPLE_I32 : CN__SAMPLE_I64; break;
  case itk::IOComponentEnum::FLOAT: *t = CN__SAMPLE_F32; break;
  case itk::IOComponentEnum::DOUBLE: *t = CN__SAMPLE_F64; break;
  default: return false;
  }
  return cn__sample_size(*t) == cs;
}

/* MetaIO reports a short or damaged data block on std::cerr and leaves the buffer
 * unfilled instead of throwing; this catches those lines while it reads (the
 * evaluation tools that use this reader are single-threaded). */
class CerrCapture {
public:
  CerrCapture() : old_(std::cerr.rdbuf(buf_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(old_); }
  std::string text() const { return buf_.str(); }

private:
  std::ostringstream buf_;
  std::streambuf *old_;
};

/* What a reader said on std::cerr while it read the pixels that means they are not
 * whole: MetaIO's "not read completely" or an error (the first line of the first such
 * message), or "" when nothing did. GDCM's notes about a header value it looked for and
 * did not find (gdcmImageHelper.cxx: Image Orientation (Patient), origin, spacing:
 * ultrasound cines carry none of them) say "Error" too, but the pixels are whole: a
 * JPEG 2000 or JPEG-LS cine that gdcmconv writes (Multi-frame Secondary Capture) was
 * refused as damaged over that note while ITK had decoded it exactly. */
std::string read_failure(const std::string &said) {
  size_t pos = 0;
  while (pos < said.size()) {
    size_t end = said.find("\n\n", pos); /* GDCM ends each message with a blank line */
    std::string block = said.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? said.size() : end + 2;
    while (!block.empty() && (block[0] == '\n' || block[0] == ' ')) block.erase(0, 1);
    if (block.empty() || block.find("gdcmImageHelper.cxx") != std::string::npos ||
        block.rfind("Warning", 0) == 0 || block.rfind("Could not find", 0) == 0)
      continue;
    if (block.find("not read completely") != std::string::npos ||
        block.find("rror") != std::string::npos) {
      const size_t nl = block.find('\n');
      return block.substr(0, nl);
    }
  }
  return std::string();
}

} // namespace

/* The file at path is a regular, non-empty file: its first 64 KiB into *head. */
static int file_checks(const char *path, std::string *head, char *err, size_t err_len) {
  if (!path) {
    cn_errf(err, err_len, "image", "no file given");
    return CN_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    cn_errf(err, err_len, path, "%s", std::strerror(errno));
    return errno == ENOENT ? CN_ENOENT : CN_EIO;
  }
  if (!S_ISREG(st.st_mode)) {
    cn_errf(err, err_len, path, "not a regular file");
    return CN_EINVAL;
  }
  if (st.st_size == 0) {
    cn_errf(err, err_len, path, "empty file");
    return CN_EPARSE;
  }
  *head = cn__file_head(path);
  return CN_OK;
}

/* What must hold before ITK is shown the file (it aborts, crashes or reads past its
 * buffers on some damaged ones): a detached data file inside the header's folder, a
 * MetaImage header MetaIO can hold, and the guard's PNG / JPEG / TIFF checks. A file
 * the guard decodes itself (a CMYK JPEG, a TIFF frame ITK must not read) is *own. */
static int header_checks(const char *path, const std::string &head, cn_image_mode mode,
                         cn_image **own, char *err, size_t err_len) {
  int drc = cn__check_data_file(path, head, err, err_len);
  if (drc != CN_OK) return drc;
  if (cn__is_metaimage(path)) {
    drc = cn__check_meta_header(path, head, err, err_len);
    if (drc != CN_OK) return drc;
  }

  return cn__image_guard(path, (const unsigned char *)head.data(), head.size(), mode, own, err,
                         err_len);
}

/* An ITK exception's description, without its source file and line. */
static std::string itk_message(const std::exception &e) {
  std::string what = e.what();
  size_t d = what.find("Description: ");
  if (d != std::string::npos) what = what.substr(d + 13);
  else if ((d = what.find("ITK ERROR: ")) != std::string::npos) {
    what = what.substr(d + 11);
    size_t c = what.find("): "); /* "GDCMImageIO(0x...): " */
    if (c != std::string::npos && c < 64) what = what.substr(c + 3);
  }
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what;
}

/* The pages one of CryoNav's own decoders returned (arr, n of them) moved into pages;
 * rc passed on. */
static int keep_pages(int rc, cn_image **arr, int n, std::vector<cn_image *> *pages) {
  if (rc != CN_OK) return rc;
  for (int k = 0; k < n; k++) pages->push_back(arr[k]);
  std::free(arr);
  return CN_OK;
}

/* Reads path into pages: one page, or with max_pages a stack's pages (up to that many). */
static int read_pages(const char *path, cn_image_mode mode, int *max_pages,
                      std::vector<cn_image *> *pages, bool *palette, char *err, size_t err_len) {
  pages->clear();
  cn_image *one = nullptr;
  cn_image **out = &one;
  std::string head;
  int drc = file_checks(path, &head, err, err_len);
  if (drc != CN_OK) return drc;
  cn_image *own = nullptr;
  drc = header_checks(path, head, mode, &own, err, err_len);
  if (drc != CN_OK) return drc;
  if (own) { /* a JPEG, decoded by the guard as it checks it (image_read_guard.c) */
    if (palette) *palette = false;
    pages->push_back(own);
    return CN_OK;
  }
  const unsigned char *h = (const unsigned char *)head.data();
  const int most = max_pages ? *max_pages : 0;
  cn_image **arr = nullptr;
  int n = 0;
  /* TIFF, GIF and NIfTI are decoded by CryoNav (image_read_tiff.c, _gif.c, _nifti.c say
   * why: ITK 5.2 overran its buffers on damaged TIFF and NIfTI files and reads no GIF) */
  if (palette) *palette = false;
  if (cn__is_tiff(h, head.size())) {
    drc = cn__tiff_read(path, mode, most, &arr, &n, palette, err, err_len);
    return keep_pages(drc, arr, n, pages); /* (arr, n: read after the call, not beside it) */
  }
  if (cn__is_gif(h, head.size())) {
    drc = cn__gif_read(path, mode, most, &arr, &n, err, err_len);
    return keep_pages(drc, arr, n, pages);
  }
  if (cn__is_nifti_name(path)) {
    drc = cn__nifti_read(path, mode, most, &arr, &n, err, err_len);
    return keep_pages(drc, arr, n, pages);
  }
  /* every BMP is ours: ITK 5.2 reads few kinds, and 32-bit ones wrong (image_read_bmp.c) */
  if (head.size() >= 2 && head[0] == 'B' && head[1] == 'M') {
    drc = cn__bmp_read(path, mode, out, err, err_len);
    if (drc == CN_OK) pages->push_back(one);
    return drc;
  }
  bool physical = false;
  itk::ImageIOBase::Pointer io;
  try {
    io = pick_io(path, &physical);
  } catch (const std::exception &) {
    io = nullptr;
  }
  if (!io && cn__is_dicom(head)) {
    if (max_pages) return cn__dicom_read_pages(path, mode, *max_pages, pages, palette, err, err_len);
    drc = cn__dicom_read(path, mode, out, palette, err, err_len);
    if (drc == CN_OK) pages->push_back(one);
    return drc;
  }
  if (!io) {
    cn_errf(err, err_len, path,
            "not an image CryoNav can read (PNG, BMP, JPEG, GIF, TIFF, MHA/MHD, NRRD, NIfTI, DICOM)");
    return CN_EPARSE;
  }
  return cn__image_decode_pages(io.GetPointer(), path,
                                physical && cn__header_states_spacing(head) ? CN__SPACING_HEADER
                                                                        : CN__SPACING_NONE,
                                mode, max_pages, pages, palette, err, err_len);
}

static int read_image(const char *path, cn_image_mode mode, cn_image **out, bool *palette,
                      char *err, size_t err_len) {
  if (out) *out = nullptr;
  if (!path || !out) {
    cn_errf(err, err_len, "image", "no file given");
    return CN_EINVAL;
  }
  std::vector<cn_image *> pages;
  int rc = read_pages(path, mode, nullptr, &pages, palette, err, err_len);
  if (rc == CN_OK) *out = pages[0];
  return rc;
}

int cn__image_decode(itk::ImageIOBase *io, const char *path, cn__spacing_from spacing,
                     cn_image_mode mode, cn_image **out, bool *palette, char *err,
                     size_t err_len) {
  std::vector<cn_image *> pages;
  int rc = cn__image_decode_pages(io, path, spacing, mode, nullptr, &pages, palette, err, err_len);
  if (rc == CN_OK) *out = pages[0];
  return rc;
}

int cn__image_decode_pages(itk::ImageIOBase *io, const char *path, cn__spacing_from spacing,
                           cn_image_mode mode, int *max_pages, std::vector<cn_image *> *pages,
                           bool *palette, char *err, size_t err_len) {
  pages->clear();
  try {
    io->SetFileName(path);
    io->SetExpandRGBPalette(mode == CN_IMAGE_GREY);
    io->ReadImageInformation();
    unsigned nd = io->GetNumberOfDimensions();
    size_t w = nd >= 1 ? io->GetDimensions(0) : 0, h = nd >= 2 ? io->GetDimensions(1) : 1;
    /* a stack's pages run along its third axis (a multi-page TIFF, a 3-D MetaImage or
     * NRRD); any further axis must be 1 */
    size_t np = nd >= 3 ? io->GetDimensions(2) : 1;
    for (unsigned d = 3; d < nd; d++)
      if (io->GetDimensions(d) != 1) {
        cn_errf(err, err_len, path, "a %u-D image (dimension %u has %zu samples); expected 2-D "
                "or a stack of 2-D pages", nd, d + 1, (size_t)io->GetDimensions(d));
        return CN_EUNSUPPORTED;
      }
    if (np != 1 && !max_pages) {
      cn_errf(err, err_len, path, "a %u-D image (dimension 3 has %zu samples); expected 2-D",
              nd, np);
      return CN_EUNSUPPORTED;
    }
    if (w < 1 || h < 1 || w > CN_IMAGE_MAX_SIDE || h > CN_IMAGE_MAX_SIDE) {
      cn_errf(err, err_len, path, "image size %zu x %zu outside 1..%d", w, h, CN_IMAGE_MAX_SIDE);
      return CN_ERANGE;
    }
    if (max_pages && (np < 1 || np > (size_t)*max_pages)) {
      cn_errf(err, err_len, path, "a stack of %zu pages: outside 1..%d", np, *max_pages);
      return CN_ERANGE;
    }
    unsigned nc = io->GetNumberOfComponents();
    size_t cs = io->GetComponentSize();
    if (nc < 1 || nc > 4 || cs < 1 || cs > 8) {
      cn_errf(err, err_len, path, "%u components of %zu bytes per pixel: not an image we can use",
              nc, cs);
      return CN_EUNSUPPORTED;
    }
    size_t bytes = w * h * np * nc * cs;
    if (bytes > kMaxPixelBytes) {
      cn_errf(err, err_len, path, "%zu bytes of pixel data: larger than the %zu MiB allowed",
              bytes, kMaxPixelBytes >> 20);
      return CN_ERANGE;
    }
    itk::ImageIORegion region(nd);
    for (unsigned d = 0; d < nd; d++) {
      region.SetIndex(d, 0);
      region.SetSize(d, io->GetDimensions(d));
    }
    io->SetIORegion(region);
    std::vector<unsigned char> buf(bytes);
    {
      CerrCapture capture;
      io->Read(buf.data());
      const std::string said = read_failure(capture.text());
      if (!said.empty()) {
        cn_errf(err, err_len, path, "damaged or truncated pixel data (%s)", said.c_str());
        return CN_EPARSE;
      }
    }

    cn__sample t;
    if (!sample_type(io->GetComponentType(), cs, &t)) {
      cn_errf(err, err_len, path, "samples of type %s (%zu bytes): not an image we can use",
              itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType()).c_str(), cs);
      return CN_EUNSUPPORTED;
    }
    /* the pixel size only where the file states it (ITK says 1 mm otherwise) */
    double sp[2] = {0, 0};
    const bool stated = spacing == CN__SPACING_HEADER;
    if (stated) {
      sp[0] = io->GetSpacing(0);
      sp[1] = nd >= 2 ? io->GetSpacing(1) : sp[0];
    }
    std::vector<cn_image *> out(np, nullptr);
    int rc = cn__raw_reduce(buf.data(), t, (int)nc, w, h, np, mode, stated ? sp : nullptr,
                            out.data(), path, err, err_len);
    if (rc != CN_OK) return rc;
    *pages = out;
    if (palette) *palette = io->GetIsReadAsScalarPlusPalette();
    return CN_OK;
  } catch (const std::exception &e) {
    for (cn_image *q : *pages) cn_image_free(q);
    pages->clear();
    cn_errf(err, err_len, path, "cannot read the image: %s", itk_message(e).c_str());
    return CN_EPARSE;
  }
}

extern "C" int cn_image_read(const char *path, cn_image_mode mode, cn_image **out, char *err,
                             size_t err_len) {
  return read_image(path, mode, out, nullptr, err, err_len);
}

/* A label image made a 0/1 mask, in place (cn_mask_read's rule). */
static void mask_from_labels(cn_image *m) {
  size_t n = (size_t)m->w * (size_t)m->h;
  uint8_t mx = 0;
  for (size_t k = 0; k < n; k++) mx = m->px[k] > mx ? m->px[k] : mx;
  /* A label image (palette indices or values 0, 1, 2: nerve-us has 2 = vessel) marks
   * the object with 1; anything else is a grey mask (0/255, or noisy 8-bit BMP masks
   * whose README says to threshold at 127; a palette of greys counts as grey). */
  bool by_index = mx <= 2;
  for (size_t k = 0; k < n; k++) m->px[k] = by_index ? m->px[k] == 1 : m->px[k] > 127;
}

extern "C" int cn_image_count_pages(const char *path, int *n, char *err, size_t err_len) {
  if (n) *n = 0;
  if (!n) {
    cn_errf(err, err_len, path ? path : "image", "no room for the count given");
    return CN_EINVAL;
  }
  std::string head;
  int drc = file_checks(path, &head, err, err_len);
  if (drc != CN_OK) return drc;
  if (cn__is_dicom(head)) return cn__dicom_count_pages(path, n, err, err_len); /* a cine? */
  if (cn__is_tiff((const unsigned char *)head.data(), head.size()))
    return cn__tiff_count_pages(path, n, err, err_len);
  if (cn__is_nifti_name(path)) return cn__nifti_count_pages(path, n, err, err_len);
  if (cn__is_gif((const unsigned char *)head.data(), head.size()))
    return cn__gif_count_pages(path, n, err, err_len);
  /* only a TIFF, a NIfTI, a MetaImage or a NRRD can hold pages (nothing else is opened) */
  if (head.rfind("NRRD", 0) != 0 && !cn__is_metaimage(path)) {
    *n = 1;
    return CN_OK;
  }
  cn_image *own = nullptr;
  drc = header_checks(path, head, CN_IMAGE_GREY, &own, err, err_len);
  if (drc != CN_OK) return drc;
  if (own) { /* a frame the guard decodes itself: one page */
    cn_image_free(own);
    *n = 1;
    return CN_OK;
  }
  try {
    bool physical = false;
    itk::ImageIOBase::Pointer io = pick_io(path, &physical);
    if (!io) {
      cn_errf(err, err_len, path,
              "not an image CryoNav can read (PNG, BMP, JPEG, GIF, TIFF, MHA/MHD, NRRD, NIfTI, DICOM)");
      return CN_EPARSE;
    }
    io->SetFileName(path);
    io->ReadImageInformation();
    const unsigned nd = io->GetNumberOfDimensions();
    const size_t np = nd >= 3 ? io->GetDimensions(2) : 1;
    if (np < 1 || np > (size_t)INT32_MAX) {
      cn_errf(err, err_len, path, "a stack of %zu pages", np);
      return CN_ERANGE;
    }
    *n = (int)np;
    return CN_OK;
  } catch (const std::exception &e) {
    cn_errf(err, err_len, path, "cannot read the image: %s", itk_message(e).c_str());
    return CN_EPARSE;
  }
}

extern "C" int cn_image_frame_ms(const char *path, double *ms, char *err, size_t err_len) {
  if (ms) *ms = 0;
  if (!ms) {
    cn_errf(err, err_len, path ? path : "image", "no room for the time given");
    return CN_EINVAL;
  }
  std::string head;
  int drc = file_checks(path, &head, err, err_len);
  if (drc != CN_OK) return drc;
  const unsigned char *h = (const unsigned char *)head.data();
  if (cn__is_dicom(head)) return cn__dicom_frame_ms(path, ms, err, err_len);
  if (cn__is_gif(h, head.size())) return cn__gif_frame_ms(path, ms, err, err_len);
  if (cn__is_nifti_name(path)) return cn__nifti_frame_ms(path, ms, err, err_len);
  return CN_OK;
}

extern "C" int cn_image_frame_times_ms(const char *path, double *t_ms, int max, int *n,
                                       char *err, size_t err_len) {
  if (n) *n = 0;
  if (!n || !t_ms || max < 1) {
    cn_errf(err, err_len, path ? path : "image", "no room for the times given");
    return CN_EINVAL;
  }
  std::string head;
  int drc = file_checks(path, &head, err, err_len);
  if (drc != CN_OK) return drc;
  const unsigned char *h = (const unsigned char *)head.data();
  if (cn__is_dicom(head)) return cn__dicom_frame_times(path, t_ms, max, n, err, err_len);
  if (cn__is_gif(h, head.size())) return cn__gif_frame_times(path, t_ms, max, n, err, err_len);
  return CN_OK;
}

extern "C" int cn_image_read_stack(const char *path, cn_image_mode mode, int max_pages,
                                   cn_image ***pages, int *n, char *err, size_t err_len) {
  if (pages) *pages = nullptr;
  if (n) *n = 0;
  if (!path || !pages || !n || max_pages < 1) {
    cn_errf(err, err_len, path ? path : "image", "no file or no room for pages given");
    return CN_EINVAL;
  }
  std::vector<cn_image *> v;
  int rc = read_pages(path, mode, &max_pages, &v, nullptr, err, err_len);
  if (rc != CN_OK) return rc;
  cn_image **arr = (cn_image **)std::calloc(v.size(), sizeof *arr);
  if (!arr) {
    for (cn_image *q : v) cn_image_free(q);
    cn_errf(err, err_len, path, "out of memory");
    return CN_ENOMEM;
  }
  for (size_t k = 0; k < v.size(); k++) arr[k] = v[k];
  *pages = arr;
  *n = (int)v.size();
  return CN_OK;
}

extern "C" int cn_mask_read_stack(const char *path, const char *image_path, int width,
                                  int height, int n_pages, cn_image ***pages, char *err,
                                  size_t err_len) {
  if (pages) *pages = nullptr;
  cn_image **m = nullptr;
  int n = 0;
  /* up to one page more than the image has, so a longer mask stack is told apart */
  const int most = n_pages > 0 && n_pages < INT32_MAX ? n_pages + 1 : 1;
  int rc = cn_image_read_stack(path, CN_IMAGE_LABEL, most, &m, &n, err, err_len);
  if (rc == CN_ERANGE && n_pages > 0 && cn_image_count_pages(path, &n, nullptr, 0) == CN_OK &&
      n > n_pages) {
    cn_errf(err, err_len, path, "mask stack has more pages (%d) than its image %s (%d)", n,
            image_path ? image_path : "(image)", n_pages);
    return CN_EINVAL;
  }
  if (rc != CN_OK) return rc;
  if (n != n_pages || m[0]->w != width || m[0]->h != height) {
    if (n == 1 && n_pages == 1) /* two frames, as cn_mask_read says it */
      cn_errf(err, err_len, path, "mask is %d x %d but its image %s is %d x %d", m[0]->w,
              m[0]->h, image_path ? image_path : "(image)", width, height);
    else
      cn_errf(err, err_len, path, "mask is %d x %d x %d pages but its image %s is %d x %d x %d",
              m[0]->w, m[0]->h, n, image_path ? image_path : "(image)", width, height, n_pages);
    cn_image_stack_free(m, n);
    return CN_EINVAL;
  }
  for (int k = 0; k < n; k++) mask_from_labels(m[k]);
  *pages = m;
  return CN_OK;
}

extern "C" void cn_image_stack_free(cn_image **pages, int n) {
  if (!pages) return;
  for (int k = 0; k < n; k++) cn_image_free(pages[k]);
  std::free(pages);
}

extern "C" int cn_mask_read(const char *path, const char *image_path, int width, int height,
                            cn_image **out, char *err, size_t err_len) {
  if (out) *out = nullptr;
  bool palette = false;
  cn_image *m = nullptr;
  int rc = read_image(path, CN_IMAGE_LABEL, &m, &palette, err, err_len);
  if (rc != CN_OK) return rc;
  if (m->w != width || m->h != height) {
    cn_errf(err, err_len, path, "mask is %d x %d but its image %s is %d x %d", m->w, m->h,
            image_path ? image_path : "(image)", width, height);
    cn_image_free(m);
    return CN_EINVAL;
  }
  (void)palette;
  mask_from_labels(m);
  *out = m;
  return CN_OK;
}
