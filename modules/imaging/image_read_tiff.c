/*
 * image_read_tiff.c - every TIFF, a frame or a stack of pages (ImageJ / Fiji), decoded
 * with libtiff into its samples as stored, then reduced to 8 bits by the reader's one
 * rule (image_read_reduce.c). image_read_itk.cxx hands every file that starts with a
 * TIFF signature here.
 *
 * Why on libtiff by hand, not ITK's TIFFImageIO (ITK 5.2, Debian 12), which read them
 * before the twenty-sixth session:
 *   - memory errors on damaged files (twenty-fifth session, AddressSanitizer): a stack
 *     page narrower than the first overflowed the heap (ITK sizes every page by the
 *     first); a text tag shorter than due (a 5-byte DateTime) was read for its full 20
 *     bytes; a damaged strip leaked its scanline buffer. A guard kept such files from
 *     ITK, but then a short-tagged frame went through libtiff's 8-bit RGBA interface
 *     (a 12-bit frame read all but black, a palette mask lost its indices) and a
 *     short-tagged stack was refused;
 *   - of the 22 kinds test_tiff_read first wrote (grey 1 / 4 / 8 / 16 / signed / float,
 *     palette, RGB contiguous and planar, alpha, 16-bit RGB, CMYK, JPEG YCbCr, tiles,
 *     LZW / deflate, bottom-up rows, masks), ITK read 17 exactly: white-is-zero grey
 *     (MINISWHITE) came out inverted, a palette frame's grey levels were off by one on
 *     5 % of its pixels, and the three short-tagged files read wrong or not at all.
 *     This file reads all 22. On 21 TIFFs other tools wrote (python3-pil, ImageMagick:
 *     LZW, deflate with predictor, JPEG, group 4, tiles, planes, 16-bit either byte
 *     order, float, RGBA, CMYK, stacks, 1-bit, palette masks) it gives ITK's pixels
 *     on all but two, which PIL reads as it now does: a palette mask whose map
 *     holds 8-bit colours (ITK: twice as bright) and a 4-bit palette frame (ITK:
 *     refused as a mask).
 * libtiff itself (ITK's own TIFF library, and the guard's) does the decoding: every
 * compression, predictor, byte order, bit order and tiling. What is written here is
 * only the layout: planes, sub-byte samples, orientation and colour maps, with every
 * size checked before anything is allocated. The kinds libtiff's RGBA interface
 * understands and raw samples cannot say plainly (CMYK, YCbCr without JPEG, CIE Lab,
 * LogLuv) go through that interface, at 8 bits.
 *
 * A stack's pages must all be laid out as the first (one kind of frame); they are
 * reduced to 8 bits as one range, as ITK's volume was.
 */
#include "imaging/image_read_raw.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#define TIFF_MAX_PAGES 100000

typedef struct {
    char msg[200];
} tiff_said;

static int said_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    (void)module;
    tiff_said *s = user;
    if (s && !s->msg[0])
        vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1; /* handled: nothing printed, libtiff's global handlers not called */
}

static int said_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1; /* an unknown tag, an EOI code missing: no reason to refuse */
}

static TIFF *tiff_open(const char *path, tiff_said *s, char *err, size_t err_len)
{
    TIFFOpenOptions *opt = TIFFOpenOptionsAlloc();
    if (!opt) {
        cn_errf(err, err_len, path, "out of memory opening the TIFF");
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opt, said_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(opt, said_warning, NULL);
    /* no single allocation of libtiff's beyond what the reader allows for pixels */
    TIFFOpenOptionsSetMaxSingleMemAlloc(opt, (tmsize_t)CN__PIXEL_MAX_BYTES);
    TIFF *t = TIFFOpenExt(path, "r", opt);
    TIFFOpenOptionsFree(opt);
    if (!t)
        cn_errf(err, err_len, path, "damaged TIFF: %s", s->msg[0] ? s->msg : "cannot be opened");
    return t;
}

typedef struct {
    uint32_t w, h;
    uint16_t bits, spp, format, photometric, planar, compression;
} layout;

static void layout_get(TIFF *t, layout *l)
{
    memset(l, 0, sizeof *l);
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &l->w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &l->h);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &l->bits);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &l->spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &l->format);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &l->photometric))
        l->photometric = l->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &l->planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &l->compression);
}

/* Walks every page: each laid out as the first (a stack is frames of one kind), at
 * most TIFF_MAX_PAGES. Leaves t on its last page. */
static int walk_pages(TIFF *t, tiff_said *s, const char *path, layout *first, int *pages,
                      char *err, size_t err_len)
{
    layout_get(t, first);
    *pages = 1;
    for (;;) {
        s->msg[0] = 0;
        if (!TIFFReadDirectory(t)) {
            if (s->msg[0]) {
                cn_errf(err, err_len, path, "damaged TIFF: page %d: %s", *pages + 1, s->msg);
                return CN_EPARSE;
            }
            return CN_OK; /* no more pages */
        }
        if (*pages >= TIFF_MAX_PAGES) {
            cn_errf(err, err_len, path, "a TIFF of more than %d pages", TIFF_MAX_PAGES);
            return CN_ERANGE;
        }
        ++*pages;
        layout l;
        layout_get(t, &l);
        if (memcmp(&l, first, sizeof l) != 0) {
            cn_errf(err, err_len, path, "a TIFF stack whose page %d is not laid out as page 1 "
                    "(%u x %u, %u x %u bits, photometric %u, against %u x %u, %u x %u bits, "
                    "photometric %u): its pages must be frames of one kind",
                    *pages, l.w, l.h, l.spp, l.bits, l.photometric, first->w, first->h,
                    first->spp, first->bits, first->photometric);
            return CN_EUNSUPPORTED;
        }
    }
}

/* How a page's samples become the reducer's. */
typedef enum {
    ROUTE_GREY,    /* MINISBLACK / MINISWHITE: the first sample */
    ROUTE_PALETTE, /* an index through the colour map (grey) or itself (labels) */
    ROUTE_RGB,     /* RGB (JPEG YCbCr too, decoded to RGB by libjpeg) */
    ROUTE_RGBA     /* anything else libtiff's RGBA interface reads: 8-bit R G B */
} route;

typedef struct {
    route how;
    cn__sample out;    /* the reducer's sample type */
    int nc;            /* the reducer's samples per pixel: 1 or 3 */
    int planes;        /* stored planes: spp when separate, else 1 */
    int per_plane;     /* samples per pixel in a plane */
    size_t row_bytes;  /* one stored row of one plane */
    uint16_t orientation;
    uint16_t *cmap[3]; /* PALETTE */
    bool cmap16;       /* the colour map uses 16 bits (else 8 stored in 16, a common slip) */
} plan;

/* The decoding plan of the current page, or an error naming what cannot be read. */
static int plan_page(TIFF *t, const layout *l, cn_image_mode mode, plan *p, const char *path,
                     char *err, size_t err_len)
{
    memset(p, 0, sizeof *p);
    if (l->w < 1 || l->h < 1 || l->w > CN_IMAGE_MAX_SIDE || l->h > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, path, "image size %u x %u outside 1..%d", l->w, l->h,
                CN_IMAGE_MAX_SIDE);
        return CN_ERANGE;
    }
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &p->orientation);
    const uint16_t ph = l->photometric;
    if (ph == PHOTOMETRIC_YCBCR && l->compression == COMPRESSION_JPEG) {
        /* libjpeg converts to RGB itself: the strips then hold R G B */
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        p->how = ROUTE_RGB;
    } else if (ph == PHOTOMETRIC_MINISBLACK || ph == PHOTOMETRIC_MINISWHITE) {
        p->how = ROUTE_GREY;
    } else if (ph == PHOTOMETRIC_PALETTE && l->spp == 1) {
        p->how = ROUTE_PALETTE;
    } else if (ph == PHOTOMETRIC_RGB && l->spp >= 3) {
        p->how = ROUTE_RGB;
    } else {
        char why[1024] = "";
        if (!TIFFRGBAImageOK(t, why)) {
            cn_errf(err, err_len, path, "a TIFF of photometric %u, %u x %u bits: %s", ph,
                    l->spp, l->bits, why[0] ? why : "not a kind CryoNav can read");
            return CN_EUNSUPPORTED;
        }
        p->how = ROUTE_RGBA;
        p->out = CN__SAMPLE_U8;
        p->nc = 3;
        return CN_OK;
    }
    if (l->spp < 1 || l->spp > 8) {
        cn_errf(err, err_len, path, "%u samples per pixel: not an image CryoNav can use", l->spp);
        return CN_EUNSUPPORTED;
    }
    /* "void" samples (format 4: untyped data) are read as unsigned, as libtiff and ITK do */
    const unsigned b = l->bits, f = l->format == SAMPLEFORMAT_VOID ? SAMPLEFORMAT_UINT : l->format;
    const bool sub_byte = b == 1 || b == 2 || b == 4;
    const bool ok = f == SAMPLEFORMAT_IEEEFP ? b == 32 || b == 64
                  : (f == SAMPLEFORMAT_UINT || f == SAMPLEFORMAT_INT)
                      ? sub_byte || b == 8 || b == 16 || b == 32 || b == 64
                      : false;
    if (!ok || (sub_byte && f != SAMPLEFORMAT_UINT) ||
        (p->how == ROUTE_PALETTE && (b > 16 || f != SAMPLEFORMAT_UINT)) ||
        (ph == PHOTOMETRIC_MINISWHITE && f != SAMPLEFORMAT_UINT)) {
        cn_errf(err, err_len, path, "a TIFF of %u bits per sample, sample format %u, "
                "photometric %u: not a kind CryoNav can read", b, f, ph);
        return CN_EUNSUPPORTED;
    }
    p->planes = l->planar == PLANARCONFIG_SEPARATE ? l->spp : 1;
    p->per_plane = l->planar == PLANARCONFIG_SEPARATE ? 1 : l->spp;
    p->row_bytes = ((size_t)l->w * (size_t)p->per_plane * b + 7) / 8;
    p->nc = p->how == ROUTE_RGB || (p->how == ROUTE_PALETTE && mode == CN_IMAGE_GREY) ? 3 : 1;
    if (p->how == ROUTE_PALETTE) {
        if (!TIFFGetField(t, TIFFTAG_COLORMAP, &p->cmap[0], &p->cmap[1], &p->cmap[2])) {
            cn_errf(err, err_len, path, "damaged TIFF: a palette image without a colour map");
            return CN_EPARSE;
        }
        const size_t entries = (size_t)1 << b;
        for (size_t i = 0; i < entries && !p->cmap16; i++)
            for (int c = 0; c < 3; c++)
                p->cmap16 |= p->cmap[c][i] > 255;
        /* grey: colours of 8 bits; labels: the index, in 8 or 16 bits */
        p->out = mode == CN_IMAGE_GREY || b <= 8 ? CN__SAMPLE_U8 : CN__SAMPLE_U16;
    } else if (sub_byte) {
        p->out = CN__SAMPLE_U8;
    } else {
        static const cn__sample u[] = {CN__SAMPLE_U8, CN__SAMPLE_U16, CN__SAMPLE_U32,
                                       CN__SAMPLE_U64};
        static const cn__sample i[] = {CN__SAMPLE_I8, CN__SAMPLE_I16, CN__SAMPLE_I32,
                                       CN__SAMPLE_I64};
        const int k = b == 8 ? 0 : b == 16 ? 1 : b == 32 ? 2 : 3;
        p->out = f == SAMPLEFORMAT_IEEEFP ? (b == 32 ? CN__SAMPLE_F32 : CN__SAMPLE_F64)
               : f == SAMPLEFORMAT_INT ? i[k] : u[k];
    }
    return CN_OK;
}

/* Reads the current page's stored rows, plane after plane, into rows (planes x h x
 * row_bytes) through strips or tiles. */
static int read_stored(TIFF *t, const layout *l, const plan *p, uint8_t *rows, tiff_said *s,
                       int page, const char *path, char *err, size_t err_len)
{
    const size_t plane_bytes = (size_t)l->h * p->row_bytes;
    s->msg[0] = 0;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        const size_t tile_row = ((size_t)tw * (size_t)p->per_plane * l->bits + 7) / 8;
        const tmsize_t ts = TIFFTileSize(t);
        if (tw < 1 || th < 1 || tw > CN_IMAGE_MAX_SIDE || th > CN_IMAGE_MAX_SIDE || ts <= 0 ||
            (size_t)ts < tile_row * th || ((size_t)tw * p->per_plane * l->bits) % 8 != 0) {
            cn_errf(err, err_len, path, "damaged TIFF: page %d: tiles of %u x %u", page, tw, th);
            return CN_EPARSE;
        }
        uint8_t *tile = malloc((size_t)ts);
        if (!tile) {
            cn_errf(err, err_len, path, "out of memory");
            return CN_ENOMEM;
        }
        for (int pl = 0; pl < p->planes; pl++)
            for (uint32_t ty = 0; ty < l->h; ty += th)
                for (uint32_t tx = 0; tx < l->w; tx += tw) {
                    const uint32_t idx = TIFFComputeTile(t, tx, ty, 0, (uint16_t)pl);
                    memset(tile, 0, (size_t)ts);
                    if (TIFFReadEncodedTile(t, idx, tile, ts) < 0) {
                        free(tile);
                        cn_errf(err, err_len, path, "damaged TIFF: page %d: tile %u: %s", page,
                                idx, s->msg[0] ? s->msg : "cannot be decoded");
                        return CN_EPARSE;
                    }
                    const size_t off = (size_t)tx * p->per_plane * l->bits / 8;
                    const size_t n = off + tile_row > p->row_bytes ? p->row_bytes - off : tile_row;
                    for (uint32_t r = 0; r < th && ty + r < l->h; r++)
                        memcpy(rows + pl * plane_bytes + (size_t)(ty + r) * p->row_bytes + off,
                               tile + (size_t)r * tile_row, n);
                }
        free(tile);
        return CN_OK;
    }
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps < 1 || rps > l->h)
        rps = l->h;
    const uint32_t per_plane = (l->h + rps - 1) / rps;
    if (TIFFNumberOfStrips(t) < per_plane * (uint32_t)p->planes) {
        cn_errf(err, err_len, path, "damaged TIFF: page %d: %u strips where %u are due", page,
                TIFFNumberOfStrips(t), per_plane * (uint32_t)p->planes);
        return CN_EPARSE;
    }
    for (int pl = 0; pl < p->planes; pl++)
        for (uint32_t k = 0; k < per_plane; k++) {
            const uint32_t row0 = k * rps, n_rows = row0 + rps > l->h ? l->h - row0 : rps;
            const tmsize_t want = (tmsize_t)((size_t)n_rows * p->row_bytes);
            const uint32_t strip = (uint32_t)pl * per_plane + k;
            const tmsize_t got = TIFFReadEncodedStrip(
                t, strip, rows + pl * plane_bytes + (size_t)row0 * p->row_bytes, want);
            if (got != want) {
                cn_errf(err, err_len, path, "damaged TIFF: page %d: strip %u: %s", page, strip,
                        s->msg[0] ? s->msg : "shorter than its rows");
                return CN_EPARSE;
            }
        }
    return CN_OK;
}

/* Stored sample i of a row (sub-byte samples run from the high bits). */
static unsigned sub_sample(const uint8_t *row, size_t i, unsigned bits)
{
    const size_t bit = i * bits;
    return (row[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
}

/* The stored row that shows as row y, and whether columns run right to left. Rotated
 * orientations (5-8) are read as their unrotated twins, as libtiff's RGBA interface
 * reads them. */
static size_t stored_row(uint16_t orientation, uint32_t y, uint32_t h, bool *mirror)
{
    switch (orientation) {
    case ORIENTATION_TOPRIGHT:
    case ORIENTATION_RIGHTTOP: *mirror = true; return y;
    case ORIENTATION_BOTRIGHT:
    case ORIENTATION_RIGHTBOT: *mirror = true; return h - 1 - y;
    case ORIENTATION_BOTLEFT:
    case ORIENTATION_LEFTBOT: *mirror = false; return h - 1 - y;
    default: *mirror = false; return y;
    }
}

/* A palette index v: its colour (grey levels, 8 bits a channel) or itself (labels).
 * A map whose entries all fit in 8 bits holds 8-bit colours (a common writer's slip,
 * which libtiff's RGBA interface allows for too); a 16-bit one keeps its top 8 bits. */
static void put_index(const plan *p, cn_image_mode mode, unsigned v, uint8_t *o)
{
    if (mode == CN_IMAGE_GREY) {
        for (int k = 0; k < 3; k++) {
            const unsigned e = p->cmap[k][v];
            o[k] = (uint8_t)(p->cmap16 ? e >> 8 : e); /* as libtiff's RGBA interface */
        }
    } else if (p->out == CN__SAMPLE_U16) {
        const uint16_t i16 = (uint16_t)v;
        memcpy(o, &i16, 2);
    } else {
        o[0] = (uint8_t)v;
    }
}

/* White is zero (MINISWHITE; unsigned only, plan_page): the sample at d of ss bytes
 * turned over. */
static void invert(uint8_t *d, size_t ss)
{
    if (ss == 1) {
        d[0] = (uint8_t)(255 - d[0]);
    } else if (ss == 2) {
        uint16_t v;
        memcpy(&v, d, 2);
        v = (uint16_t)(UINT16_MAX - v);
        memcpy(d, &v, 2);
    } else if (ss == 4) {
        uint32_t v;
        memcpy(&v, d, 4);
        v = UINT32_MAX - v;
        memcpy(d, &v, 4);
    } else {
        uint64_t v;
        memcpy(&v, d, 8);
        v = UINT64_MAX - v;
        memcpy(d, &v, 8);
    }
}

/* The current page's pixels, as the reducer takes them, into out (w x h x nc samples
 * of p->out). */
static void unpack(const layout *l, const plan *p, cn_image_mode mode, const uint8_t *rows,
                   uint8_t *out)
{
    const size_t ss = cn__sample_size(p->out), plane_bytes = (size_t)l->h * p->row_bytes;
    const size_t stored_ss = l->bits / 8; /* bytes of a stored sample of 8 bits or more */
    const unsigned b = l->bits;
    const bool white = l->photometric == PHOTOMETRIC_MINISWHITE;
    const unsigned top = b < 8 ? (1u << b) - 1 : 0;
    const int samples = p->how == ROUTE_PALETTE ? 1 : p->nc;
    for (uint32_t y = 0; y < l->h; y++) {
        bool mirror = false;
        const size_t sy = stored_row(p->orientation, y, l->h, &mirror);
        for (uint32_t x = 0; x < l->w; x++) {
            const size_t sx = mirror ? l->w - 1 - x : x;
            uint8_t *o = out + ((size_t)y * l->w + x) * (size_t)p->nc * ss;
            for (int c = 0; c < samples; c++) {
                /* sample c of the pixel: in its own plane when the planes are separate */
                const int pl = p->planes > 1 ? c : 0;
                const size_t i = sx * (size_t)p->per_plane + (p->planes > 1 ? 0 : (size_t)c);
                const uint8_t *row = rows + pl * plane_bytes + sy * p->row_bytes;
                if (b < 8) {
                    unsigned v = sub_sample(row, i, b);
                    if (p->how == ROUTE_PALETTE) {
                        put_index(p, mode, v, o);
                        continue;
                    }
                    if (white)
                        v = top - v;
                    if (mode == CN_IMAGE_GREY || b == 1)
                        v = v * 255u / top; /* grey levels; a bilevel mask is 0 / 255 */
                    o[c] = (uint8_t)v;
                    continue;
                }
                const uint8_t *src = row + i * stored_ss;
                if (p->how == ROUTE_PALETTE) {
                    uint16_t v16 = src[0];
                    if (b == 16)
                        memcpy(&v16, src, 2);
                    put_index(p, mode, v16, o);
                    continue;
                }
                memcpy(o + (size_t)c * ss, src, ss);
                if (white)
                    invert(o + (size_t)c * ss, ss);
            }
        }
    }
}

/* The current page through libtiff's RGBA interface, as 8-bit R G B. */
static int read_rgba(TIFF *t, const layout *l, uint8_t *out, tiff_said *s, int page,
                     const char *path, char *err, size_t err_len)
{
    const size_t n = (size_t)l->w * l->h;
    uint32_t *rgba = malloc(n * sizeof *rgba);
    if (!rgba) {
        cn_errf(err, err_len, path, "out of memory");
        return CN_ENOMEM;
    }
    s->msg[0] = 0;
    if (!TIFFReadRGBAImageOriented(t, l->w, l->h, rgba, ORIENTATION_TOPLEFT, 0)) {
        free(rgba);
        cn_errf(err, err_len, path, "damaged TIFF: page %d: %s", page,
                s->msg[0] ? s->msg : "its pixels cannot be decoded");
        return CN_EPARSE;
    }
    for (size_t k = 0; k < n; k++) {
        out[3 * k] = (uint8_t)TIFFGetR(rgba[k]);
        out[3 * k + 1] = (uint8_t)TIFFGetG(rgba[k]);
        out[3 * k + 2] = (uint8_t)TIFFGetB(rgba[k]);
    }
    free(rgba);
    return CN_OK;
}

int cn__tiff_count_pages(const char *path, int *n, char *err, size_t err_len)
{
    *n = 0;
    tiff_said s = {""};
    TIFF *t = tiff_open(path, &s, err, err_len);
    if (!t)
        return CN_EPARSE;
    layout first;
    int pages = 0;
    const int rc = walk_pages(t, &s, path, &first, &pages, err, err_len);
    TIFFClose(t);
    if (rc == CN_OK)
        *n = pages;
    return rc;
}

int cn__tiff_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages,
                  int *n, bool *palette, char *err, size_t err_len)
{
    *pages = NULL;
    *n = 0;
    tiff_said s = {""};
    TIFF *t = tiff_open(path, &s, err, err_len);
    if (!t)
        return CN_EPARSE;
    layout l;
    int np = 0;
    int rc = walk_pages(t, &s, path, &l, &np, err, err_len);
    uint8_t *rows = NULL, *samples = NULL;
    cn_image **out = NULL;
    plan p;
    if (rc != CN_OK)
        goto done;
    if ((rc = cn__stack_fits(path, np, max_pages, err, err_len)) != CN_OK)
        goto done;
    if (!TIFFSetDirectory(t, 0)) {
        cn_errf(err, err_len, path, "damaged TIFF: page 1 cannot be read again");
        rc = CN_EPARSE;
        goto done;
    }
    rc = plan_page(t, &l, mode, &p, path, err, err_len);
    if (rc != CN_OK)
        goto done;
    /* every size checked before anything is allocated */
    const size_t ss = cn__sample_size(p.out), px = (size_t)l.w * l.h;
    const size_t page_samples = px * (size_t)p.nc * ss, stored = (size_t)l.h * p.row_bytes *
                                                                     (size_t)(p.planes ? p.planes : 1);
    if (page_samples > CN__PIXEL_MAX_BYTES / (size_t)np || stored > CN__PIXEL_MAX_BYTES) {
        cn_errf(err, err_len, path, "%zu bytes of pixel data: larger than the %zu MiB allowed",
                page_samples * (size_t)np, CN__PIXEL_MAX_BYTES >> 20);
        rc = CN_ERANGE;
        goto done;
    }
    samples = malloc(page_samples * (size_t)np);
    rows = p.how == ROUTE_RGBA ? NULL : malloc(stored);
    out = calloc((size_t)np, sizeof *out);
    if (!samples || (!rows && p.how != ROUTE_RGBA) || !out) {
        cn_errf(err, err_len, path, "out of memory");
        rc = CN_ENOMEM;
        goto done;
    }
    for (int pg = 0; pg < np && rc == CN_OK; pg++) {
        if (pg > 0) {
            s.msg[0] = 0;
            if (!TIFFReadDirectory(t)) {
                cn_errf(err, err_len, path, "damaged TIFF: page %d cannot be read again", pg + 1);
                rc = CN_EPARSE;
                break;
            }
            plan q;
            rc = plan_page(t, &l, mode, &q, path, err, err_len);
            if (rc != CN_OK)
                break;
            memcpy(p.cmap, q.cmap, sizeof p.cmap); /* this page's own colour map */
            p.cmap16 = q.cmap16;
            p.orientation = q.orientation;
        }
        uint8_t *dst = samples + (size_t)pg * page_samples;
        if (p.how == ROUTE_RGBA) {
            rc = read_rgba(t, &l, dst, &s, pg + 1, path, err, err_len);
        } else {
            memset(rows, 0, stored);
            rc = read_stored(t, &l, &p, rows, &s, pg + 1, path, err, err_len);
            if (rc == CN_OK)
                unpack(&l, &p, mode, rows, dst);
        }
    }
    if (rc == CN_OK)
        rc = cn__raw_reduce(samples, p.out, p.nc, l.w, l.h, (size_t)np, mode, NULL, out, path,
                            err, err_len);
    if (rc == CN_OK) {
        *pages = out;
        *n = np;
        out = NULL;
        if (palette)
            *palette = p.how == ROUTE_PALETTE && mode == CN_IMAGE_LABEL;
    }
done:
    free(out);
    free(rows);
    free(samples);
    TIFFClose(t);
    return rc;
}

bool cn__is_tiff(const unsigned char *head, size_t n)
{
    return n >= 4 && (memcmp(head, "II*\0", 4) == 0 || memcmp(head, "MM\0*", 4) == 0 ||
                      memcmp(head, "II+\0", 4) == 0 || memcmp(head, "MM\0+", 4) == 0);
}
