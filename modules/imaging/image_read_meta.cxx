/*
 * image_read_meta.cxx - the text headers of MetaImage and NRRD files, checked before
 * ITK is shown them (image_read_itk.cxx asks): ITK's MetaIO copies each header value
 * into a 255-byte field with strcpy, and both readers open whatever file a header names
 * for its pixels, and loops for good on a negative NDims. Also whether such a header
 * states the pixel size at all.
 */
#include "imaging/image_read_internal.h"

#include <strings.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

/* Whether text, from byte `from` on, holds the end of a MetaImage header (its
 * ElementDataFile line, whole) or of a NRRD header (its blank line). Each chunk is
 * searched once (from = where the last chunk began, less a marker's length). */
static bool header_ends(const std::string &text, size_t from, bool nrrd) {
  if (nrrd)
    return text.find("\n\n", from) != std::string::npos ||
           text.find("\r\n\r\n", from) != std::string::npos;
  size_t k = text.find("ElementDataFile", from);
  return k != std::string::npos && text.find('\n', k) != std::string::npos;
}

/* The first 64 KiB of a file (the image formats' signatures, a MetaImage or NRRD header);
 * for a MetaImage or NRRD whose header runs on (a PLUS sequence file carries a few lines
 * per frame: its N-wire recording's header is 67 KiB, a Slicer tracking file's 1.6 MB),
 * up to the header's end, at most kHeadMax. Before, such a header was "damaged: no
 * ElementDataFile line in its first 64 KiB", and `eval` could not read a real PLUS file
 * of 97 frames as a stack. */
static const size_t kHeadChunk = 65536;
static const size_t kHeadMax = (size_t)16 << 20;

std::string cn__file_head(const char *path) {
  FILE *f = std::fopen(path, "rb");
  if (!f) return std::string(); /* ITK will report it */
  std::vector<char> buf(kHeadChunk);
  size_t n = std::fread(buf.data(), 1, buf.size(), f);
  std::string head(buf.data(), n);
  const bool nrrd = head.rfind("NRRD", 0) == 0;
  if (nrrd || cn__is_metaimage(path)) {
    size_t from = 0;
    while (n == kHeadChunk && head.size() < kHeadMax && !header_ends(head, from, nrrd)) {
      from = head.size() > 64 ? head.size() - 64 : 0; /* a marker across the chunks' seam */
      n = std::fread(buf.data(), 1, buf.size(), f);
      head.append(buf.data(), n);
    }
  }
  std::fclose(f);
  return head;
}

/* Whether a MetaImage or NRRD header states the pixel size. ITK reports 1 mm
 * when it does not, and a frame of 512 "1 mm" pixels is half a metre deep: the
 * nerve finder then sized its grid for a nerve of 3 px (10 nerve-us images
 * without ElementSpacing, automatic mean Dice 0.607 against 0.686 as PNG). */
bool cn__header_states_spacing(const std::string &text) {
  const bool nrrd = text.rfind("NRRD", 0) == 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    if (nrrd && (line.empty() || line == "\r")) break; /* end of a NRRD header */
    if (nrrd ? line.rfind("spacings:", 0) == 0 || line.rfind("space directions:", 0) == 0
             : line.rfind("ElementSpacing", 0) == 0 || line.rfind("ElementSize", 0) == 0)
      return true;
    if (!nrrd && line.rfind("ElementDataFile", 0) == 0) break; /* the data follows */
  }
  return false;
}

/* MetaIO (ITK 5.2) copies each header value into a 255-byte field with strcpy: a
 * line longer than that (pixel data read as header after a damaged ElementDataFile
 * key) overflowed it, and the C library's check aborted the process (5 of 60
 * damaged MetaImage files in the twenty-fourth session's screen). So a MetaImage's
 * header is scanned first: up to its ElementDataFile line, each line shorter than
 * MetaIO's field, and that line present. */
static const size_t kMetaLineMax = 250;

bool cn__is_metaimage(const char *path) {
  const char *dot = std::strrchr(path, '.');
  return dot && (strcasecmp(dot, ".mha") == 0 || strcasecmp(dot, ".mhd") == 0);
}

int cn__check_meta_header(const char *path, const std::string &text, char *err, size_t err_len) {
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    size_t len = (eol == std::string::npos ? text.size() : eol) - pos;
    line_no++;
    if (len > kMetaLineMax) {
      cn_errf(err, err_len, path,
              "MetaImage header: line %d is %zu bytes long, more than ITK's reader takes (%zu; "
              "a damaged ElementDataFile line makes the pixels read as header)", line_no, len,
              kMetaLineMax);
      return CN_EPARSE;
    }
    if (text.compare(pos, 15, "ElementDataFile") == 0) return CN_OK;
    /* MetaIO reads NDims as a signed number and then that many values of each array
     * field: a negative count never ends (a damaged "NDims = -2" hung the reader for
     * good; test_image_damaged with 10,000 variants a source found it). MetaIO takes 1
     * to 10 dimensions. */
    if (text.compare(pos, 5, "NDims") == 0) {
      size_t v = pos + 5;
      while (v < pos + len && (text[v] == ' ' || text[v] == '=' || text[v] == '\t')) v++;
      const std::string value = text.substr(v, pos + len - v);
      char *end = nullptr;
      const long nd = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || end == value.c_str() || nd < 1 || nd > 10) {
        cn_errf(err, err_len, path, "damaged MetaImage header: NDims '%.20s' is not 1..10",
                value.c_str());
        return CN_EPARSE;
      }
    }
    if (eol == std::string::npos) break;
    pos = eol + 1;
  }
  cn_errf(err, err_len, path, "damaged MetaImage header: no ElementDataFile line%s",
          text.size() >= kHeadMax ? " in its first 16 MiB" : "");
  return CN_EPARSE;
}

/* A MetaImage or NRRD header may put the pixels in another file. ITK would open
 * whatever it names (a FIFO blocks forever, "../" or an absolute path escapes the
 * dataset), so the header is scanned first: a detached data file must be a plain
 * relative name inside the header's folder and a regular file. CN_OK when the
 * file is not such a header or its data file is acceptable. */
int cn__check_data_file(const char *path, const std::string &text, char *err, size_t err_len) {
  std::string value;
  bool nrrd = text.rfind("NRRD", 0) == 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    if (nrrd && line.empty()) break; /* end of a NRRD header */
    /* the field's name as the readers match it: Teem ignores case and takes "datafile"
     * for "data file" (before, "datafile:" and "DATA FILE:" passed this check and any
     * file, a FIFO too, became the pixels: input audit I2); MetaIO's key before '=' */
    const size_t sep = line.find(nrrd ? ':' : '=');
    if (sep == std::string::npos || (nrrd && sep + 1 < line.size() && line[sep + 1] == '='))
      continue; /* no field, or a NRRD key/value pair ("key:=value") */
    std::string name;
    for (size_t k = 0; k < sep; k++)
      if (line[k] != ' ' && line[k] != '\t') name += (char)std::tolower((unsigned char)line[k]);
    if (name != (nrrd ? "datafile" : "elementdatafile")) continue;
    size_t v = sep + 1;
    while (v < line.size() && (line[v] == ' ' || line[v] == '=' || line[v] == '\t')) v++;
    value = line.substr(v);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    if (!nrrd) break; /* ElementDataFile comes last: the data follows */
  }
  if (value.empty() || value == "LOCAL") return CN_OK;
  if (value.find(' ') != std::string::npos || value.rfind("LIST", 0) == 0) {
    cn_errf(err, err_len, path, "data split over several files (%s) is not supported",
            value.c_str());
    return CN_EUNSUPPORTED;
  }
  if (value[0] == '/' || value.find('/') != std::string::npos || value == ".." || value == ".") {
    cn_errf(err, err_len, path, "data file '%s' is not a file name inside the header's folder",
            value.c_str());
    return CN_EINVAL;
  }
  std::string dir(path);
  size_t slash = dir.rfind('/');
  std::string data = slash == std::string::npos ? value : dir.substr(0, slash + 1) + value;
  struct stat st;
  if (lstat(data.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    cn_errf(err, err_len, path, "data file '%s' is missing or not a regular file", value.c_str());
    return CN_EINVAL;
  }
  return CN_OK;
}

