/*
 * image_read_dicom.cxx - DICOM for the one image reader: the pixel size a DICOM
 * file states, and the read itself in a child process.
 *
 * The idea: a scanner's or a PACS's export is DICOM (Part 10: "DICM" after a
 * 128-byte preamble), and ITK reads it through GDCM. GDCM as Debian builds it
 * keeps its assert()s and trusts lengths: 240 damaged variants of three DICOM files
 * (bytes changed, truncated, a length set huge, bytes inserted in the first 2 KB)
 * aborted the whole program on 35 and hung it for more than 30 s on 2 (GDCM
 * 3.0.21, ITK 5.2, 2026-12-04). A file may come from anyone, so the read runs in
 * a forked child with a CPU limit and, outside AddressSanitizer builds, an address
 * space limit; the parent waits at most CHILD_WAIT_S, takes the pixels through a
 * pipe, and turns a killed or stopped child into an error naming the file. The
 * price, measured on ten nerve-us frames in `cryonav eval nerve` (load ~1): about
 * 80 ms more per file than the same frame as PNG (the fork of a large process, the
 * decode, and copy-on-write faults in the parent afterwards, which also raise the
 * analysis time it reports per image from 15 to 34 ms); fine for evaluation, and
 * the live pipeline never reads DICOM. The evaluation tools that call the reader
 * are single-threaded, as a fork wants.
 *
 * The pixel size: Pixel Spacing, Imager Pixel Spacing, else the largest 2-D
 * region of an ultrasound image's Sequence of Ultrasound Regions (where scanners
 * state it, in cm); never ITK's 1 mm for "none".
 */
#include "imaging/image_read_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include <gdcmAttribute.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <itkGDCMImageIO.h>
#include <itkMetaDataObject.h>

#if defined(__SANITIZE_ADDRESS__)
#define CN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CN_ASAN 1
#endif
#endif

#define CHILD_CPU_S 20               /* CPU seconds the decoding child may use */
#define CHILD_WAIT_S 30              /* wall seconds the parent waits for it */
#define CHILD_EXTRA_AS (1024L << 20) /* address space beyond the parent's: 1 GiB */

namespace {

/* Two values "a\b" of a DICOM decimal string; false unless both are > 0. */
bool two_values(const std::string &v, double *a, double *b) {
  char *end = nullptr;
  *a = std::strtod(v.c_str(), &end);
  if (!end || *end != '\\') return false;
  *b = std::strtod(end + 1, nullptr);
  return *a > 0 && *b > 0 && std::isfinite(*a) && std::isfinite(*b);
}

/* An element of a DICOM item as a number, or false when it is absent. */
template <uint16_t G, uint16_t E>
bool item_value(const gdcm::DataSet &ds, double *out) {
  gdcm::Attribute<G, E> a;
  if (!ds.FindDataElement(a.GetTag()) || ds.GetDataElement(a.GetTag()).IsEmpty()) return false;
  a.SetFromDataSet(ds);
  *out = (double)a.GetValue();
  return true;
}

/* The pixel size an ultrasound DICOM states in its Sequence of Ultrasound Regions
 * (0018,6011): of the 2-D tissue regions (spatial format 1) measured in cm (units
 * 3), the largest; its physical deltas in mm. Scanners state the pixel size there,
 * not in Pixel Spacing, and ITK's DICOM reader does not look at it. */
bool us_region_spacing(const gdcm::DataSet &ds, double *sx, double *sy) {
  const gdcm::Tag regions(0x0018, 0x6011);
  if (!ds.FindDataElement(regions)) return false;
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(regions).GetValueAsSQ();
  if (!sq) return false;
  double best = -1;
  for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); i++) {
    const gdcm::DataSet &it = sq->GetItem(i).GetNestedDataSet();
    double fmt, ux, uy, dx, dy, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    if (!item_value<0x0018, 0x6012>(it, &fmt) || fmt != 1 ||
        !item_value<0x0018, 0x6024>(it, &ux) || ux != 3 ||
        !item_value<0x0018, 0x6026>(it, &uy) || uy != 3 ||
        !item_value<0x0018, 0x602c>(it, &dx) || !item_value<0x0018, 0x602e>(it, &dy))
      continue;
    dx = std::fabs(dx) * 10.0; /* cm to mm */
    dy = std::fabs(dy) * 10.0;
    if (!(dx > 0 && dy > 0 && std::isfinite(dx) && std::isfinite(dy))) continue;
    item_value<0x0018, 0x6018>(it, &x0);
    item_value<0x0018, 0x601a>(it, &y0);
    item_value<0x0018, 0x601c>(it, &x1);
    item_value<0x0018, 0x601e>(it, &y1);
    const double area = (x1 - x0 + 1) * (y1 - y0 + 1);
    if (area > best) {
      best = area;
      *sx = dx;
      *sy = dy;
    }
  }
  return best >= 0;
}

/* The pixel size a DICOM file states, x then y in mm: Pixel Spacing or Imager
 * Pixel Spacing ("row spacing \ column spacing", so y first), else an ultrasound
 * region's (ds: the file's header, NULL when it could not be read). ITK's reader
 * reports 1 mm when there is none, and for a secondary capture (how many screen
 * grabs are stored) it ignores Pixel Spacing; so the reader decides here. */
bool dicom_spacing(itk::ImageIOBase *io, const gdcm::DataSet *ds, double *sx, double *sy) {
  std::string v;
  const itk::MetaDataDictionary &d = io->GetMetaDataDictionary();
  double row, col;
  if ((itk::ExposeMetaData<std::string>(d, "0028|0030", v) && two_values(v, &row, &col)) ||
      (itk::ExposeMetaData<std::string>(d, "0018|1164", v) && two_values(v, &row, &col))) {
    *sx = col;
    *sy = row;
    return true;
  }
  return ds && us_region_spacing(*ds, sx, sy);
}

} // namespace

bool cn__is_dicom(const std::string &head) {
  return head.size() >= 132 && head.compare(128, 4, "DICM") == 0;
}

namespace {

/* What the child sends before the pixels (n pages of w x h bytes). */
struct reply {
  int32_t rc, w, h, n, has_spacing, palette;
  double sx, sy;
  double frame_ms; /* the time between frames the header states (count only), 0: none */
  int32_t n_times; /* count only: each frame's time follows the reply (Frame Time Vector) */
  char msg[512];
};

/* Each frame's start in ms from the first, from the Frame Time Vector (0018,1065): the
 * time since the frame before, one value a frame (the first 0). Empty when the file has
 * none, its count is not the frames', or a value is not a plausible one. */
std::vector<double> frame_times_ms(const itk::MetaDataDictionary &d, int frames) {
  std::vector<double> t;
  std::string v;
  if (frames < 2 || !itk::ExposeMetaData<std::string>(d, "0018|1065", v)) return t;
  double at = 0;
  for (size_t p = 0; p <= v.size();) {
    size_t e = v.find('\\', p);
    if (e == std::string::npos) e = v.size();
    const std::string item = v.substr(p, e - p);
    char *end = nullptr;
    const double x = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || !std::isfinite(x) || x < 0 || x >= 60000) return {};
    while (end && (*end == ' ' || *end == 0) && *end) end++;
    if (end && *end) return {};
    if (!t.empty()) at += x;
    t.push_back(at);
    p = e + 1;
  }
  if ((int)t.size() != frames) return {};
  return t;
}

/* A cine's time between frames in ms, as its header states it: Frame Time (0018,1063),
 * else Cine Rate (0018,0040) or Recommended Display Frame Rate (0008,2144), both in
 * frames per second; 0 when none is stated or the value is not a plausible one. */
double frame_time_ms(const itk::MetaDataDictionary &d) {
  std::string v;
  double x = 0;
  if (itk::ExposeMetaData<std::string>(d, "0018|1063", v) && (x = std::atof(v.c_str())) > 0 &&
      x < 60000)
    return x;
  for (const char *tag : {"0018|0040", "0008|2144"})
    if (itk::ExposeMetaData<std::string>(d, tag, v) && (x = std::atof(v.c_str())) > 0 &&
        x <= 10000)
      return 1000.0 / x;
  return 0;
}

/* What the child is asked: the pixels of a 2-D file, a stack's pages (up to
 * max_pages), or only how many pages the file holds. */
enum class ask { one, pages, count };

bool write_all(int fd, const void *p, size_t n) {
  const char *c = (const char *)p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

/* Seconds on the monotonic clock (core's clock). */
double now_s() { return (double)cn_clock_mono_ns() * 1e-9; }

/* Reads n bytes before the deadline; false on EOF, error or time out (*late). */
bool read_all(int fd, void *p, size_t n, double deadline, bool *late) {
  char *c = (char *)p;
  while (n > 0) {
    const double left = deadline - now_s();
    if (left <= 0) {
      *late = true;
      return false;
    }
    struct pollfd pf = {fd, POLLIN, 0};
    int r = poll(&pf, 1, (int)(left * 1000) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue; /* the deadline check above ends it */
    ssize_t k = read(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

#ifndef CN_ASAN
/* The parent's address space now (bytes), from /proc/self/statm. */
long address_space_now() {
  FILE *f = std::fopen("/proc/self/statm", "r");
  long pages = 0;
  if (f) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * sysconf(_SC_PAGESIZE);
}
#endif

/* The child: limits, the decode, the reply. Never returns. */
[[noreturn]] void child(int fd, const char *path, cn_image_mode mode, ask what, int max_pages) {
  struct rlimit cpu = {CHILD_CPU_S, CHILD_CPU_S};
  setrlimit(RLIMIT_CPU, &cpu);
#ifndef CN_ASAN
  const long as = address_space_now();
  if (as > 0) {
    struct rlimit lim = {(rlim_t)(as + CHILD_EXTRA_AS), (rlim_t)(as + CHILD_EXTRA_AS)};
    setrlimit(RLIMIT_AS, &lim);
  }
#endif
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) dup2(devnull, 2); /* GDCM's warnings and asserts: the parent reports */
  reply r;
  std::memset(&r, 0, sizeof r);
  std::vector<cn_image *> pages;
  bool pal = false;
  itk::GDCMImageIO::Pointer io = itk::GDCMImageIO::New();
  std::vector<double> times;
  if (what == ask::count) {
    try {
      io->SetFileName(path);
      io->ReadImageInformation();
      r.n = io->GetNumberOfDimensions() >= 3 ? (int32_t)io->GetDimensions(2) : 1;
      r.frame_ms = frame_time_ms(io->GetMetaDataDictionary());
      times = frame_times_ms(io->GetMetaDataDictionary(), r.n);
      r.n_times = (int32_t)times.size();
      r.rc = CN_OK;
    } catch (const std::exception &e) {
      cn_errf(r.msg, sizeof r.msg, path, "cannot read the image: %s", e.what());
      r.rc = CN_EPARSE;
    }
    _exit(write_all(fd, &r, sizeof r) &&
                  (times.empty() || write_all(fd, times.data(), times.size() * sizeof(double)))
              ? 0
              : 1);
  }
  /* the header once, up to the pixel data (its value skipped): the ultrasound
   * regions, the transfer syntax, and where the pixels start */
  gdcm::Reader hr;
  hr.SetFileName(path);
  const gdcm::Tag pixels(0x7fe0, 0x0010);
  std::set<gdcm::Tag> skip;
  skip.insert(pixels);
  const bool have_header = hr.ReadUpToTag(pixels, skip);
  r.rc = cn__image_decode_pages(io.GetPointer(), path, CN__SPACING_NONE, mode,
                                what == ask::pages ? &max_pages : nullptr, &pages, &pal, r.msg,
                                sizeof r.msg);
  if (r.rc == CN_OK) {
    double sx = 0, sy = 0;
    if (dicom_spacing(io.GetPointer(), have_header ? &hr.GetFile().GetDataSet() : nullptr, &sx,
                      &sy)) {
      r.has_spacing = 1;
      r.sx = sx;
      r.sy = sy;
    }
    /* uncompressed pixel data cut short reads as zeros without a word: the reader
     * stopped after the pixel data element's tag and length, so the declared
     * pixels must fit in the rest of the file */
    struct stat st;
    const bool raw =
        have_header && !hr.GetFile().GetHeader().GetDataSetTransferSyntax().IsEncapsulated();
    const uint64_t need = (uint64_t)hr.GetStreamCurrentPosition() + io->GetImageSizeInBytes();
    if (raw && stat(path, &st) == 0 && (uint64_t)st.st_size < need) {
      cn_errf(r.msg, sizeof r.msg, path,
              "pixel data cut short (the file ends %llu bytes before its %llu declared bytes do)",
              (unsigned long long)(need - (uint64_t)st.st_size),
              (unsigned long long)io->GetImageSizeInBytes());
      r.rc = CN_EPARSE;
    }
  }
  if (r.rc == CN_OK) {
    r.w = pages[0]->w;
    r.h = pages[0]->h;
    r.n = (int32_t)pages.size();
    r.palette = pal;
  }
  bool ok = write_all(fd, &r, sizeof r);
  for (size_t k = 0; ok && r.rc == CN_OK && k < pages.size(); k++)
    ok = write_all(fd, pages[k]->px, (size_t)r.w * (size_t)r.h);
  _exit(ok ? 0 : 1); /* no destructors, no leak report: the parent's state is its own */
}

/* Runs the child and takes its reply: pages (ask::one / ask::pages) or *count. */
int dicom_run(const char *path, cn_image_mode mode, ask what, int max_pages,
              std::vector<cn_image *> *pages, int *count, bool *palette, char *err,
              size_t err_len, double *frame_ms = nullptr,
              std::vector<double> *times = nullptr) {
  int fd[2];
  if (pipe2(fd, O_CLOEXEC) != 0) {
    cn_errf(err, err_len, path, "cannot read DICOM: pipe: %s", std::strerror(errno));
    return CN_EIO;
  }
  std::fflush(nullptr); /* nothing buffered is written twice */
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fd[0]);
    close(fd[1]);
    cn_errf(err, err_len, path, "cannot read DICOM: fork: %s", std::strerror(e));
    return CN_EIO;
  }
  if (pid == 0) {
    close(fd[0]);
    child(fd[1], path, mode, what, max_pages);
  }
  close(fd[1]);
  const double deadline = now_s() + CHILD_WAIT_S;
  bool late = false;
  reply r;
  bool got = read_all(fd[0], &r, sizeof r, deadline, &late);
  std::vector<double> tv;
  if (got && r.rc == CN_OK && what == ask::count && r.n_times > 0) {
    if (r.n_times != r.n || r.n_times > 1000000) {
      got = false;
    } else {
      tv.resize((size_t)r.n_times);
      got = read_all(fd[0], tv.data(), tv.size() * sizeof(double), deadline, &late);
    }
  }
  if (got && r.rc == CN_OK && what != ask::count) {
    const int most = what == ask::pages ? max_pages : 1;
    if (r.w < 1 || r.h < 1 || r.w > CN_IMAGE_MAX_SIDE || r.h > CN_IMAGE_MAX_SIDE || r.n < 1 ||
        r.n > most)
      got = false;
    for (int k = 0; got && k < r.n; k++) {
      cn_image *im = cn_image_new(r.w, r.h);
      if (!im) {
        got = false;
        break;
      }
      pages->push_back(im);
      got = read_all(fd[0], im->px, (size_t)r.w * (size_t)r.h, deadline, &late);
    }
  }
  close(fd[0]);
  if (late) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto drop = [&]() {
    if (!pages) return; /* counting (pages, frame times): nothing was read */
    for (cn_image *q : *pages) cn_image_free(q);
    pages->clear();
  };
  if (late) {
    drop();
    cn_errf(err, err_len, path, "the DICOM decoder took longer than %d s: a damaged file?",
            CHILD_WAIT_S);
    return CN_EPARSE;
  }
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    drop();
    if (WIFSIGNALED(status))
      cn_errf(err, err_len, path, "the DICOM decoder stopped on this file (signal %d): a damaged file?",
              WTERMSIG(status));
    else
      cn_errf(err, err_len, path, "the DICOM decoder stopped on this file: a damaged file?");
    return CN_EPARSE;
  }
  if (r.rc != CN_OK) {
    drop();
    r.msg[sizeof r.msg - 1] = 0;
    if (err && err_len) std::snprintf(err, err_len, "%s", r.msg);
    return r.rc;
  }
  if (what == ask::count) {
    *count = r.n;
    if (frame_ms) *frame_ms = std::isfinite(r.frame_ms) && r.frame_ms > 0 ? r.frame_ms : 0;
    if (times) *times = tv;
    return CN_OK;
  }
  for (cn_image *im : *pages) {
    im->has_spacing = r.has_spacing != 0;
    im->spacing_mm[0] = r.has_spacing ? r.sx : 1;
    im->spacing_mm[1] = r.has_spacing ? r.sy : 1;
  }
  if (palette) *palette = r.palette != 0;
  return CN_OK;
}

} // namespace

int cn__dicom_read(const char *path, cn_image_mode mode, cn_image **out, bool *palette,
                   char *err, size_t err_len) {
  *out = nullptr;
  std::vector<cn_image *> pages;
  int rc = dicom_run(path, mode, ask::one, 1, &pages, nullptr, palette, err, err_len);
  if (rc == CN_OK) *out = pages[0];
  return rc;
}

int cn__dicom_read_pages(const char *path, cn_image_mode mode, int max_pages,
                         std::vector<cn_image *> *pages, bool *palette, char *err,
                         size_t err_len) {
  pages->clear();
  return dicom_run(path, mode, ask::pages, max_pages, pages, nullptr, palette, err, err_len);
}

int cn__dicom_count_pages(const char *path, int *n, char *err, size_t err_len) {
  *n = 0;
  return dicom_run(path, CN_IMAGE_GREY, ask::count, 0, nullptr, n, nullptr, err, err_len);
}

int cn__dicom_frame_ms(const char *path, double *ms, char *err, size_t err_len) {
  *ms = 0;
  int n = 0;
  return dicom_run(path, CN_IMAGE_GREY, ask::count, 0, nullptr, &n, nullptr, err, err_len, ms);
}

int cn__dicom_frame_times(const char *path, double *t_ms, int max, int *n, char *err,
                          size_t err_len) {
  *n = 0;
  int count = 0;
  std::vector<double> tv;
  const int rc = dicom_run(path, CN_IMAGE_GREY, ask::count, 0, nullptr, &count, nullptr, err,
                           err_len, nullptr, &tv);
  if (rc != CN_OK || tv.empty() || (int)tv.size() > max) return rc;
  for (size_t k = 0; k < tv.size(); k++) t_ms[k] = tv[k];
  *n = (int)tv.size();
  return CN_OK;
}
