/*
 * image_read_nifti.c - NIfTI-1 and NIfTI-2 single files (.nii, and .nii.gz through
 * zlib), the format 3D Slicer, ITK-SNAP and nnU-Net keep images and label masks in,
 * decoded here for the one reader (image_read_itk.cxx hands every .nii / .nii.gz here):
 * a frame (x, y, and a third axis of 1 as nnU-Net stores its 2-D cases) or a stack
 * (pages along the third and fourth axes), its samples handed to the reader's one
 * reduction to 8 bits (image_read_reduce.c).
 *
 * Why by hand, not ITK's NiftiImageIO (ITK 5.2, Debian 12): a screen of 1,200 damaged
 * variants of six small NIfTI files (twenty-sixth session, AddressSanitizer) found it
 * copying 10,212 bytes out of a 3,404-byte buffer in NiftiImageIO::Read: its idea of a
 * pixel's size, from a damaged header, was not the one niftilib allocated by. It also
 * reads a file whose pixels are cut short, or a .nii.gz whose stream ends early, as
 * whole, and says nothing. The format is a fixed header (348 or 540 bytes, either
 * byte order) and the samples in x, y, z, t order, so it is read here with every size
 * checked before anything is allocated and every byte the header promises counted.
 * Only single files (magic "n+1" / "n+2") are read: the .hdr / .img pairs of Analyze
 * are not listed as images anywhere in CryoNav.
 *
 * The pixel size counts as stated only where the header's space unit is known
 * (metres, millimetres, micrometres) and the first two pixel sides are not both 1:
 * writers that know none put 1 x 1 mm (SimpleITK and ITK for an image read from PNG,
 * so nnU-Net's conversion of 2-D sets), and taking it as stated makes a 512-row frame
 * half a metre deep (a MetaImage without ElementSpacing, so read, cost 10 nerve-us
 * frames automatic Dice 0.607 against 0.686). scl_slope / scl_inter are applied.
 */
#include "imaging/image_read_raw.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

typedef struct {
    int64_t dim[8];
    double pixdim[8];
    double vox_offset, slope, inter;
    int datatype, bitpix, units, time_units;
    bool swap; /* the file's byte order is not the host's: samples are swapped too */
} nii_header;

static uint16_t get16(const unsigned char *p, bool swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? (uint16_t)((v >> 8) | (v << 8)) : v;
}

static uint32_t get32(const unsigned char *p, bool swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint64_t get64(const unsigned char *p, bool swap)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return swap ? __builtin_bswap64(v) : v;
}

static double getf(const unsigned char *p, bool swap)
{
    const uint32_t u = get32(p, swap);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double getd(const unsigned char *p, bool swap)
{
    const uint64_t u = get64(p, swap);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Opens path and reads its header into *h; the stream is left just after the header. */
static gzFile read_header(const char *path, nii_header *h, char *err, size_t err_len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        cn_errf(err, err_len, path, "cannot be opened: %s", strerror(errno));
        return NULL;
    }
    gzbuffer(f, 1 << 16);
    unsigned char b[540];
    int got = gzread(f, b, 348);
    if (got != 348) {
        gzclose(f);
        cn_errf(err, err_len, path, "damaged NIfTI: %d bytes, shorter than its header",
                got < 0 ? 0 : got);
        return NULL;
    }
    const uint32_t raw = get32(b, false);
    const bool swap = raw != 348 && raw != 540;
    const uint32_t size = get32(b, swap);
    memset(h, 0, sizeof *h);
    h->swap = swap;
    if (size == 348) {
        if (memcmp(b + 344, "n+1", 4) != 0) {
            gzclose(f);
            cn_errf(err, err_len, path, "not a NIfTI-1 single file (its magic is not \"n+1\": "
                    "an Analyze or .hdr / .img pair is not read)");
            return NULL;
        }
        for (int k = 0; k < 8; k++) {
            h->dim[k] = (int16_t)get16(b + 40 + 2 * k, swap);
            h->pixdim[k] = getf(b + 76 + 4 * k, swap);
        }
        h->datatype = (int16_t)get16(b + 70, swap);
        h->bitpix = (int16_t)get16(b + 72, swap);
        h->vox_offset = getf(b + 108, swap);
        h->slope = getf(b + 112, swap);
        h->inter = getf(b + 116, swap);
        h->units = b[123] & 7;
        h->time_units = b[123] & 0x38;
    } else if (size == 540) {
        got = gzread(f, b + 348, 540 - 348);
        if (got != 540 - 348 || memcmp(b + 4, "n+2\0\r\n\032\n", 8) != 0) {
            gzclose(f);
            cn_errf(err, err_len, path, "damaged NIfTI-2 header (cut short, or its magic is not "
                    "\"n+2\")");
            return NULL;
        }
        h->datatype = (int16_t)get16(b + 12, swap);
        h->bitpix = (int16_t)get16(b + 14, swap);
        for (int k = 0; k < 8; k++) {
            h->dim[k] = (int64_t)get64(b + 16 + 8 * k, swap);
            h->pixdim[k] = getd(b + 104 + 8 * k, swap);
        }
        h->vox_offset = (double)(int64_t)get64(b + 168, swap);
        h->slope = getd(b + 176, swap);
        h->inter = getd(b + 184, swap);
        h->units = (int)(get32(b + 500, swap) & 7);
        h->time_units = (int)(get32(b + 500, swap) & 0x38);
    } else {
        gzclose(f);
        cn_errf(err, err_len, path, "damaged NIfTI: its header says it is %u bytes, not 348 "
                "(NIfTI-1) or 540 (NIfTI-2)", raw);
        return NULL;
    }
    return f;
}

/* The sample type and samples per pixel of a NIfTI datatype code; false for those
 * CryoNav cannot use (complex, 128-bit, none). */
static bool sample_of(int datatype, cn__sample *t, int *nc)
{
    *nc = 1;
    switch (datatype) {
    case 2: *t = CN__SAMPLE_U8; return true;
    case 4: *t = CN__SAMPLE_I16; return true;
    case 8: *t = CN__SAMPLE_I32; return true;
    case 16: *t = CN__SAMPLE_F32; return true;
    case 64: *t = CN__SAMPLE_F64; return true;
    case 128: *t = CN__SAMPLE_U8; *nc = 3; return true;  /* RGB24 */
    case 256: *t = CN__SAMPLE_I8; return true;
    case 512: *t = CN__SAMPLE_U16; return true;
    case 768: *t = CN__SAMPLE_U32; return true;
    case 1024: *t = CN__SAMPLE_I64; return true;
    case 1280: *t = CN__SAMPLE_U64; return true;
    case 2304: *t = CN__SAMPLE_U8; *nc = 4; return true; /* RGBA32 */
    default: return false;
    }
}

typedef struct {
    int w, h;
    int64_t pages;
    cn__sample type;
    int nc;
    size_t bytes; /* all pages' samples */
} nii_shape;

/* The header's sizes checked: x and y within the reader's limits, pages along the
 * third and fourth axes, nothing along the others (a vector image is refused), the
 * sample type known and matching bitpix, the data within the reader's allowance. */
static int check_shape(const nii_header *h, nii_shape *s, const char *path, char *err,
                       size_t err_len)
{
    const int64_t nd = h->dim[0];
    if (nd < 1 || nd > 7) {
        cn_errf(err, err_len, path, "damaged NIfTI header: %lld dimensions", (long long)nd);
        return CN_EPARSE;
    }
    int64_t d[8];
    for (int k = 1; k < 8; k++) {
        d[k] = k <= nd ? h->dim[k] : 1;
        if (d[k] < 1) {
            cn_errf(err, err_len, path, "damaged NIfTI header: dimension %d has %lld samples", k,
                    (long long)d[k]);
            return CN_EPARSE;
        }
    }
    if (d[1] > CN_IMAGE_MAX_SIDE || d[2] > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, path, "image size %lld x %lld outside 1..%d", (long long)d[1],
                (long long)d[2], CN_IMAGE_MAX_SIDE);
        return CN_ERANGE;
    }
    for (int k = 5; k < 8; k++)
        if (d[k] != 1) {
            cn_errf(err, err_len, path, "a NIfTI of %lld samples along dimension %d (a vector "
                    "or higher image); expected 2-D frames", (long long)d[k], k);
            return CN_EUNSUPPORTED;
        }
    if (!sample_of(h->datatype, &s->type, &s->nc)) {
        cn_errf(err, err_len, path, "NIfTI datatype %d: not one CryoNav can use (complex or "
                "unknown)", h->datatype);
        return CN_EUNSUPPORTED;
    }
    const size_t px_bytes = cn__sample_size(s->type) * (size_t)s->nc;
    if ((size_t)h->bitpix != 8 * px_bytes) {
        cn_errf(err, err_len, path, "damaged NIfTI header: %d bits a pixel for datatype %d (%zu "
                "due)", h->bitpix, h->datatype, 8 * px_bytes);
        return CN_EPARSE;
    }
    if (d[3] > INT32_MAX / d[4]) {
        cn_errf(err, err_len, path, "a NIfTI of %lld x %lld pages", (long long)d[3],
                (long long)d[4]);
        return CN_ERANGE;
    }
    s->w = (int)d[1];
    s->h = (int)d[2];
    s->pages = d[3] * d[4];
    const uint64_t page = (uint64_t)s->w * (uint64_t)s->h * px_bytes;
    if ((uint64_t)s->pages > CN__PIXEL_MAX_BYTES / page) {
        cn_errf(err, err_len, path, "%lld pages of %llu bytes: larger than the %zu MiB allowed",
                (long long)s->pages, (unsigned long long)page, CN__PIXEL_MAX_BYTES >> 20);
        return CN_ERANGE;
    }
    s->bytes = (size_t)(page * (uint64_t)s->pages);
    if (!(h->vox_offset >= 348) || h->vox_offset > 1e9) {
        cn_errf(err, err_len, path, "damaged NIfTI header: pixels from byte %g", h->vox_offset);
        return CN_EPARSE;
    }
    return CN_OK;
}

/* The stated pixel size in mm (the rule at the top), or false. */
static bool stated_spacing(const nii_header *h, double mm[2])
{
    static const double per_unit[4] = {0, 1000.0, 1.0, 0.001}; /* m, mm, micrometre */
    const double dx = h->pixdim[1], dy = h->pixdim[2];
    if (h->units < 1 || h->units > 3 || !isfinite(dx) || !isfinite(dy) || !(dx > 0) ||
        !(dy > 0) || (dx == 1.0 && dy == 1.0))
        return false;
    mm[0] = dx * per_unit[h->units];
    mm[1] = dy * per_unit[h->units];
    return true;
}

/* Reads exactly n bytes of the stream into buf (NULL: skipped); an error names what
 * the stream said or how much was missing. */
static int read_exact(gzFile f, void *buf, size_t n, const char *what, const char *path,
                      char *err, size_t err_len)
{
    unsigned char scratch[1 << 14];
    size_t done = 0;
    while (done < n) {
        const size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        const unsigned chunk = buf ? (unsigned)want
                                   : (unsigned)(want < sizeof scratch ? want : sizeof scratch);
        const int got = gzread(f, buf ? (unsigned char *)buf + done : scratch, chunk);
        if (got <= 0) {
            int zerr = Z_OK;
            const char *zm = gzerror(f, &zerr);
            const char *said = zerr != Z_OK && zm ? zm : "the file ends";
            const size_t pl = strlen(path);
            if (strncmp(said, path, pl) == 0 && said[pl] == ':')
                said += pl + 2; /* zlib names the file too */
            cn_errf(err, err_len, path, "damaged NIfTI: %s: %zu of %zu bytes (%s)", what, done, n,
                    said);
            return CN_EPARSE;
        }
        done += (size_t)got;
    }
    return CN_OK;
}

int cn__nifti_count_pages(const char *path, int *n, char *err, size_t err_len)
{
    *n = 0;
    nii_header h;
    gzFile f = read_header(path, &h, err, err_len);
    if (!f)
        return CN_EPARSE;
    gzclose(f);
    nii_shape s;
    const int rc = check_shape(&h, &s, path, err, err_len);
    if (rc == CN_OK)
        *n = (int)s.pages;
    return rc;
}

int cn__nifti_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages,
                   int *n, char *err, size_t err_len)
{
    *pages = NULL;
    *n = 0;
    nii_header h;
    gzFile f = read_header(path, &h, err, err_len);
    if (!f)
        return CN_EPARSE;
    nii_shape s;
    int rc = check_shape(&h, &s, path, err, err_len);
    void *data = NULL, *scaled = NULL;
    cn_image **out = NULL;
    if (rc != CN_OK)
        goto done;
    if ((rc = cn__stack_fits(path, (long long)s.pages, max_pages, err, err_len)) != CN_OK)
        goto done;
    const size_t header = (size_t)gztell(f);
    if ((size_t)h.vox_offset > header &&
        (rc = read_exact(f, NULL, (size_t)h.vox_offset - header, "before its pixels", path, err,
                         err_len)) != CN_OK)
        goto done;
    data = malloc(s.bytes);
    out = calloc((size_t)s.pages, sizeof *out);
    if (!data || !out) {
        cn_errf(err, err_len, path, "out of memory");
        rc = CN_ENOMEM;
        goto done;
    }
    if ((rc = read_exact(f, data, s.bytes, "its pixels", path, err, err_len)) != CN_OK)
        goto done;
    /* the whole stream read to its end: a gzip trailer (length, CRC) must check */
    {
        unsigned char rest[1 << 14];
        int got;
        while ((got = gzread(f, rest, sizeof rest)) > 0)
            ;
        int zerr = Z_OK;
        const char *zm = gzerror(f, &zerr);
        if (got < 0 || zerr != Z_OK) {
            const size_t pl = strlen(path);
            if (zm && strncmp(zm, path, pl) == 0 && zm[pl] == ':')
                zm += pl + 2; /* zlib names the file too */
            cn_errf(err, err_len, path, "damaged NIfTI: its compressed stream: %s",
                    zm && zm[0] ? zm : "cannot be read");
            rc = CN_EPARSE;
            goto done;
        }
    }
    cn__sample t = s.type;
    const size_t ss = cn__sample_size(t), count = s.bytes / ss;
    if (h.swap && ss > 1) {
        unsigned char *p = data;
        for (size_t k = 0; k < count; k++, p += ss)
            for (size_t i = 0; i < ss / 2; i++) {
                const unsigned char c = p[i];
                p[i] = p[ss - 1 - i];
                p[ss - 1 - i] = c;
            }
    }
    /* scl_slope / scl_inter: the values the file means (a slope of 0 or 1 + 0: none) */
    if (isfinite(h.slope) && isfinite(h.inter) && h.slope != 0 &&
        !(h.slope == 1 && h.inter == 0)) {
        if (count > CN__PIXEL_MAX_BYTES / sizeof(float)) {
            cn_errf(err, err_len, path, "%zu scaled samples: larger than the %zu MiB allowed",
                    count, CN__PIXEL_MAX_BYTES >> 20);
            rc = CN_ERANGE;
            goto done;
        }
        float *v = malloc(count * sizeof *v);
        if (!v) {
            cn_errf(err, err_len, path, "out of memory");
            rc = CN_ENOMEM;
            goto done;
        }
        for (size_t k = 0; k < count; k++) {
            double x = 0;
            switch (t) {
            case CN__SAMPLE_U8: x = ((const uint8_t *)data)[k]; break;
            case CN__SAMPLE_I8: x = ((const int8_t *)data)[k]; break;
            case CN__SAMPLE_U16: x = ((const uint16_t *)data)[k]; break;
            case CN__SAMPLE_I16: x = ((const int16_t *)data)[k]; break;
            case CN__SAMPLE_U32: x = ((const uint32_t *)data)[k]; break;
            case CN__SAMPLE_I32: x = ((const int32_t *)data)[k]; break;
            case CN__SAMPLE_U64: x = (double)((const uint64_t *)data)[k]; break;
            case CN__SAMPLE_I64: x = (double)((const int64_t *)data)[k]; break;
            case CN__SAMPLE_F32: x = ((const float *)data)[k]; break;
            case CN__SAMPLE_F64: x = ((const double *)data)[k]; break;
            }
            v[k] = (float)(x * h.slope + h.inter);
        }
        scaled = v;
        t = CN__SAMPLE_F32;
    }
    double mm[2];
    const bool stated = stated_spacing(&h, mm);
    rc = cn__raw_reduce(scaled ? scaled : data, t, s.nc, (size_t)s.w, (size_t)s.h,
                        (size_t)s.pages, mode, stated ? mm : NULL, out, path, err, err_len);
    if (rc == CN_OK) {
        *pages = out;
        *n = (int)s.pages;
        out = NULL;
    }
done:
    free(out);
    free(scaled);
    free(data);
    gzclose(f);
    return rc;
}

int cn__nifti_frame_ms(const char *path, double *ms, char *err, size_t err_len)
{
    *ms = 0;
    nii_header h;
    gzFile f = read_header(path, &h, err, err_len);
    if (!f)
        return CN_EPARSE;
    gzclose(f);
    /* a cine along the fourth (time) axis with its step in a known unit */
    static const double per_unit[8] = {0, 1000.0, 1.0, 0.001}; /* s, ms, us (codes 8, 16, 24) */
    const int u = h.time_units >> 3;
    if (h.dim[0] >= 4 && h.dim[4] > 1 && u >= 1 && u <= 3 && isfinite(h.pixdim[4]) &&
        h.pixdim[4] > 0)
        *ms = h.pixdim[4] * per_unit[u];
    return CN_OK;
}

bool cn__is_nifti_name(const char *path)
{
    const size_t n = strlen(path);
    return (n > 4 && strcasecmp(path + n - 4, ".nii") == 0) ||
           (n > 7 && strcasecmp(path + n - 7, ".nii.gz") == 0);
}
