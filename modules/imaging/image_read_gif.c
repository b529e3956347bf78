/*
 * image_read_gif.c - GIF (87a / 89a), a frame or an animation (a cine saved as GIF: its
 * frames as pages), decoded with giflib for the one reader (image_read_itk.cxx hands
 * every file that starts "GIF8" here). ITK 5.2 has no GIF reader at all, so a set whose
 * masks are GIFs (as some public medical sets keep them) scored nothing.
 *
 * giflib decodes the LZW stream; composing the frames is done here: each frame is drawn
 * at its place on the logical screen over the frame before (pixels of its transparent
 * index keep what was there), after the frame before is disposed as its graphics
 * control block says (2: its rectangle back to the background; 3, "restore the
 * previous", is taken as 1, keep: frames of a cine cover the screen). Interlaced rows
 * are put back in order. Every size is checked before anything is allocated: the
 * screen within the reader's limits, each frame inside the screen, the pages within
 * the reader's allowance.
 *
 * How values come out (as image_read_bmp.c does for palettes): grey levels are the
 * colour of each index (then luma); labels are the index, unless every entry of the
 * colour map is a grey, when they are that grey (a black-and-white mask is 0 / 255
 * whichever way its two entries run).
 */
#include "imaging/image_read_raw.h"

#include <gif_lib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GIF_MAX_PAGES 100000

typedef struct {
    GifFileType *g;
    int w, h;
} gif_file;

static int gif_open(const char *path, gif_file *f, char *err, size_t err_len)
{
    int e = 0;
    f->g = DGifOpenFileName(path, &e);
    if (!f->g) {
        cn_errf(err, err_len, path, "damaged GIF: %s", GifErrorString(e) ? GifErrorString(e)
                                                                           : "cannot be opened");
        return CN_EPARSE;
    }
    f->w = f->g->SWidth;
    f->h = f->g->SHeight;
    if (f->w < 1 || f->h < 1 || f->w > CN_IMAGE_MAX_SIDE || f->h > CN_IMAGE_MAX_SIDE) {
        cn_errf(err, err_len, path, "image size %d x %d outside 1..%d", f->w, f->h,
                CN_IMAGE_MAX_SIDE);
        DGifCloseFile(f->g, &e);
        f->g = NULL;
        return CN_ERANGE;
    }
    return CN_OK;
}

static int gif_fail(gif_file *f, const char *path, const char *what, char *err, size_t err_len)
{
    const char *why = GifErrorString(f->g->Error);
    cn_errf(err, err_len, path, "damaged GIF: %s%s%s", what, why ? ": " : "", why ? why : "");
    return CN_EPARSE;
}

/* The graphics control of the next frame, from an extension block (transparent index
 * or -1, disposal, delay in 1/100 s), and the extension's data blocks skipped. */
static int read_extension(gif_file *f, int *transparent, int *disposal, int *delay_cs,
                          const char *path, char *err, size_t err_len)
{
    int code = 0;
    GifByteType *ext = NULL;
    if (DGifGetExtension(f->g, &code, &ext) == GIF_ERROR)
        return gif_fail(f, path, "an extension block", err, err_len);
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
        GraphicsControlBlock gcb;
        if (DGifExtensionToGCB((size_t)ext[0], ext + 1, &gcb) == GIF_OK) {
            *transparent = gcb.TransparentColor;
            *disposal = gcb.DisposalMode;
            *delay_cs = gcb.DelayTime;
        }
    }
    while (ext) {
        if (DGifGetExtensionNext(f->g, &ext) == GIF_ERROR)
            return gif_fail(f, path, "an extension block", err, err_len);
    }
    return CN_OK;
}

/* Whether every entry of the map is a grey. */
static bool greys(const ColorMapObject *m)
{
    for (int i = 0; i < m->ColorCount; i++)
        if (m->Colors[i].Red != m->Colors[i].Green || m->Colors[i].Red != m->Colors[i].Blue)
            return false;
    return true;
}

/* Walks every frame; with pages non-NULL composes each into pages (nc samples a pixel:
 * 3, R G B, for grey levels; 1 for labels), at most max_frames. *n: the frames. With
 * delays non-NULL (max_frames of them), each frame's delay in 1/100 s (0: none). */
static int walk(gif_file *f, cn_image_mode mode, int max_frames, uint8_t **pages, int *n,
                int *delays, const char *path, char *err, size_t err_len)
{
    int delay_cs = 0;
    const int nc = mode == CN_IMAGE_GREY ? 3 : 1;
    const size_t page = (size_t)f->w * (size_t)f->h * (size_t)nc;
    uint8_t *canvas = NULL, *line = NULL, *buf = NULL;
    size_t cap = 0;
    int transparent = -1, disposal = DISPOSAL_UNSPECIFIED, rc = CN_OK;
    int prev_disposal = DISPOSAL_UNSPECIFIED, px = 0, py = 0, pw = 0, ph = 0;
    uint8_t bg[3] = {0, 0, 0};
    const ColorMapObject *screen_map = f->g->SColorMap;
    uint8_t bg_label = (uint8_t)f->g->SBackGroundColor;
    if (screen_map && f->g->SBackGroundColor < screen_map->ColorCount) {
        const GifColorType c = screen_map->Colors[f->g->SBackGroundColor];
        bg[0] = c.Red;
        bg[1] = c.Green;
        bg[2] = c.Blue;
        if (greys(screen_map))
            bg_label = c.Red;
    }
    *n = 0;
    if (pages) {
        canvas = malloc(page);
        line = malloc((size_t)f->w);
        if (!canvas || !line) {
            rc = CN_ENOMEM;
            cn_errf(err, err_len, path, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < (size_t)f->w * f->h; k++)
            for (int c = 0; c < nc; c++)
                canvas[k * nc + c] = nc == 3 ? bg[c] : bg_label;
    }
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(f->g, &type) == GIF_ERROR) {
            rc = gif_fail(f, path, *n ? "after its last frame" : "before its first frame", err,
                          err_len);
            break;
        }
        if (type == TERMINATE_RECORD_TYPE)
            break;
        if (type == EXTENSION_RECORD_TYPE) {
            if ((rc = read_extension(f, &transparent, &disposal, &delay_cs, path, err,
                                     err_len)) != CN_OK)
                break;
            continue;
        }
        if (type != IMAGE_DESC_RECORD_TYPE)
            continue;
        if (DGifGetImageDesc(f->g) == GIF_ERROR) {
            rc = gif_fail(f, path, "a frame's descriptor", err, err_len);
            break;
        }
        const GifImageDesc *d = &f->g->Image;
        if (d->Left < 0 || d->Top < 0 || d->Width < 1 || d->Height < 1 ||
            d->Left + d->Width > f->w || d->Top + d->Height > f->h) {
            cn_errf(err, err_len, path, "damaged GIF: frame %d (%d x %d at %d, %d) outside the "
                    "%d x %d screen", *n + 1, d->Width, d->Height, d->Left, d->Top, f->w, f->h);
            rc = CN_EPARSE;
            break;
        }
        const ColorMapObject *map = d->ColorMap ? d->ColorMap : screen_map;
        if (!map) {
            cn_errf(err, err_len, path, "damaged GIF: frame %d has no colour map", *n + 1);
            rc = CN_EPARSE;
            break;
        }
        if (*n >= max_frames) {
            cn_errf(err, err_len, path, "a stack of more than %d pages: outside 1..%d",
                    max_frames, max_frames);
            rc = CN_ERANGE;
            break;
        }
        if (!pages) { /* counting: the frame's data skipped */
            int size = 0;
            GifByteType *code = NULL;
            if (DGifGetCode(f->g, &size, &code) == GIF_ERROR) {
                rc = gif_fail(f, path, "a frame's data", err, err_len);
                break;
            }
            while (code)
                if (DGifGetCodeNext(f->g, &code) == GIF_ERROR) {
                    rc = gif_fail(f, path, "a frame's data", err, err_len);
                    break;
                }
            if (rc != CN_OK)
                break;
            if (delays)
                delays[*n] = delay_cs;
            ++*n;
            transparent = -1;
            delay_cs = 0;
            continue;
        }
        if (page > CN__PIXEL_MAX_BYTES / (size_t)(*n + 1)) {
            cn_errf(err, err_len, path, "%d pages of %zu bytes: larger than the %zu MiB allowed",
                    *n + 1, page, CN__PIXEL_MAX_BYTES >> 20);
            rc = CN_ERANGE;
            break;
        }
        /* the frame before is disposed of as it asked */
        if (*n > 0 && prev_disposal == DISPOSE_BACKGROUND)
            for (int y = py; y < py + ph; y++)
                for (int x = px; x < px + pw; x++)
                    for (int c = 0; c < nc; c++)
                        canvas[((size_t)y * f->w + x) * nc + c] = nc == 3 ? bg[c] : bg_label;
        const bool grey_map = greys(map);
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        const int passes = d->Interlace ? 4 : 1;
        for (int pass = 0; pass < passes && rc == CN_OK; pass++)
            for (int r = d->Interlace ? start[pass] : 0; r < d->Height;
                 r += d->Interlace ? step[pass] : 1) {
                if (DGifGetLine(f->g, line, d->Width) == GIF_ERROR) {
                    rc = gif_fail(f, path, "a frame's rows", err, err_len);
                    break;
                }
                uint8_t *row = canvas + ((size_t)(d->Top + r) * f->w + d->Left) * nc;
                for (int x = 0; x < d->Width; x++) {
                    const int i = line[x];
                    if (i == transparent)
                        continue;
                    const GifColorType c = i < map->ColorCount ? map->Colors[i]
                                                               : (GifColorType){0, 0, 0};
                    if (nc == 3) {
                        row[3 * x] = c.Red;
                        row[3 * x + 1] = c.Green;
                        row[3 * x + 2] = c.Blue;
                    } else {
                        row[x] = grey_map ? c.Red : (uint8_t)i;
                    }
                }
            }
        if (rc != CN_OK)
            break;
        if ((size_t)(*n + 1) * page > cap) {
            const size_t nc2 = cap ? 2 * cap : page;
            const size_t want = nc2 < (size_t)(*n + 1) * page ? (size_t)(*n + 1) * page : nc2;
            uint8_t *nb = realloc(buf, want);
            if (!nb) {
                rc = CN_ENOMEM;
                cn_errf(err, err_len, path, "out of memory");
                break;
            }
            buf = nb;
            cap = want;
        }
        memcpy(buf + (size_t)*n * page, canvas, page);
        ++*n;
        prev_disposal = disposal;
        px = d->Left;
        py = d->Top;
        pw = d->Width;
        ph = d->Height;
        transparent = -1;
        disposal = DISPOSAL_UNSPECIFIED;
    }
    if (rc == CN_OK && *n == 0) {
        cn_errf(err, err_len, path, "damaged GIF: no frame");
        rc = CN_EPARSE;
    }
out:
    free(canvas);
    free(line);
    if (rc == CN_OK && pages)
        *pages = buf;
    else
        free(buf);
    return rc;
}

int cn__gif_count_pages(const char *path, int *n, char *err, size_t err_len)
{
    *n = 0;
    gif_file f;
    int rc = gif_open(path, &f, err, err_len);
    if (rc != CN_OK)
        return rc;
    rc = walk(&f, CN_IMAGE_LABEL, GIF_MAX_PAGES, NULL, n, NULL, path, err, err_len);
    int e = 0;
    DGifCloseFile(f.g, &e);
    return rc;
}

int cn__gif_read(const char *path, cn_image_mode mode, int max_pages, cn_image ***pages, int *n,
                 char *err, size_t err_len)
{
    *pages = NULL;
    *n = 0;
    gif_file f;
    int rc = gif_open(path, &f, err, err_len);
    if (rc != CN_OK)
        return rc;
    uint8_t *buf = NULL;
    int np = 0;
    /* one more frame than allowed is read, so a stack is told from a frame */
    rc = walk(&f, mode, max_pages > 0 ? max_pages : 2, &buf, &np, NULL, path, err, err_len);
    int e = 0;
    DGifCloseFile(f.g, &e);
    int all = 0; /* more frames than allowed: how many, for the message */
    if (rc == CN_ERANGE && np >= (max_pages > 0 ? max_pages : 2) &&
        cn__gif_count_pages(path, &all, NULL, 0) == CN_OK)
        rc = cn__stack_fits(path, all, max_pages, err, err_len);
    else if (rc == CN_OK)
        rc = cn__stack_fits(path, np, max_pages, err, err_len);
    cn_image **out = rc == CN_OK ? calloc((size_t)np, sizeof *out) : NULL;
    if (rc == CN_OK && !out) {
        cn_errf(err, err_len, path, "out of memory");
        rc = CN_ENOMEM;
    }
    if (rc == CN_OK)
        rc = cn__raw_reduce(buf, CN__SAMPLE_U8, mode == CN_IMAGE_GREY ? 3 : 1, (size_t)f.w,
                            (size_t)f.h, (size_t)np, mode, NULL, out, path, err, err_len);
    free(buf);
    if (rc != CN_OK) {
        free(out);
        return rc;
    }
    *pages = out;
    *n = np;
    return CN_OK;
}

bool cn__is_gif(const unsigned char *head, size_t n)
{
    return n >= 6 && (memcmp(head, "GIF87a", 6) == 0 || memcmp(head, "GIF89a", 6) == 0);
}

int cn__gif_frame_ms(const char *path, double *ms, char *err, size_t err_len)
{
    *ms = 0;
    gif_file f;
    int rc = gif_open(path, &f, err, err_len);
    if (rc != CN_OK)
        return rc;
    /* the first graphics control block before the first frame: its delay (1/100 s) */
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(f.g, &type) == GIF_ERROR || type != EXTENSION_RECORD_TYPE)
            break;
        int code = 0;
        GifByteType *ext = NULL;
        if (DGifGetExtension(f.g, &code, &ext) == GIF_ERROR)
            break;
        if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
            GraphicsControlBlock gcb;
            if (DGifExtensionToGCB((size_t)ext[0], ext + 1, &gcb) == GIF_OK && gcb.DelayTime > 0)
                *ms = 10.0 * gcb.DelayTime;
            break;
        }
        while (ext)
            if (DGifGetExtensionNext(f.g, &ext) == GIF_ERROR)
                break;
    }
    int e = 0;
    DGifCloseFile(f.g, &e);
    return CN_OK;
}

int cn__gif_frame_times(const char *path, double *t_ms, int max, int *n, char *err,
                        size_t err_len)
{
    *n = 0;
    if (max < 1)
        return CN_OK;
    gif_file f;
    int rc = gif_open(path, &f, err, err_len);
    if (rc != CN_OK)
        return rc;
    int *delays = calloc((size_t)max, sizeof *delays), np = 0;
    if (!delays) {
        int e = 0;
        DGifCloseFile(f.g, &e);
        cn_errf(err, err_len, path, "out of memory");
        return CN_ENOMEM;
    }
    rc = walk(&f, CN_IMAGE_LABEL, max, NULL, &np, delays, path, err, err_len);
    int e = 0;
    DGifCloseFile(f.g, &e);
    /* frame k is shown delays[k] after it starts; a frame without a delay leaves the
     * times unstated (a viewer's own default is no recorded time) */
    bool all = rc == CN_OK && np >= 2;
    for (int k = 0; all && k + 1 < np; k++)
        all = delays[k] > 0;
    if (all) {
        double t = 0;
        for (int k = 0; k < np; k++) {
            t_ms[k] = t;
            t += 10.0 * delays[k];
        }
        *n = np;
    }
    free(delays);
    return rc == CN_ERANGE ? CN_OK : rc; /* more frames than asked: none given */
}
