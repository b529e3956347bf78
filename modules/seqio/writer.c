/*
 * writer.c - streaming, crash-safe and fault-honest sequence writer.
 *
 * While recording, two append-only files exist beside the target:
 *   FILE.part     the pixel data exactly as it will follow the final header: raw
 *                 frames, or a zlib (mha) / gzip (nrrd) wrapper header followed by
 *                 raw deflate data fully flushed at each frame end, so every frame
 *                 starts at a byte boundary with an empty dictionary;
 *   FILE.journal  a text journal: the session's global fields, then per frame a
 *                 block "F <i>", its "Key = value" field lines, and a commit line
 *                 "C <i> <part bytes after it> <restart offset> <adler32> <crc32>
 *                 <raw bytes>" written only after the frame's pixels were written.
 * Both are written with plain pwrite(2) right away, so once a frame's commit line
 * is written a SIGKILL cannot lose it (the kernel holds the data). Assembly (close
 * or recover, same code: assemble.c) turns the committed prefix into FILE.
 *
 * Faults. Every write goes to an explicit offset (pwrite) that advances only when
 * the whole frame - pixels and journal block - is on the file; a failed or short
 * write (disk full, file size limit, I/O error) truncates both files back to the
 * last whole frame. So a failure never leaves a torn frame and can never shift
 * later frames (a plain write(2) after a short write would continue from the
 * kernel's file offset, past what the journal counts). The deflate stream is
 * fully flushed at every frame, so dropping one frame's compressed bytes leaves
 * a valid stream; the running checksums advance only on success. The writer stays
 * usable: when space comes back, the next frames are written.
 *
 * Safety. The files are created relative to the folder (openat on a descriptor of
 * it) with O_CREAT | O_EXCL | O_NOFOLLOW: a file or symbolic link planted under
 * those names is refused, never followed and never truncated, and the folder
 * cannot be swapped between creating and renaming.
 */
#include "seqio_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct cn_seq_writer {
    char path[1024];          /* as the caller named it, for messages */
    char base[256];           /* its file name in the folder */
    int dirfd;
    cn_seq_writer_opts o;
    int part_fd, journal_fd;
    int width, height;
    int n;
    uint64_t part_bytes, journal_bytes, raw_bytes; /* committed: whole frames only */
    uLong adler, crc;
    z_stream zs;
    bool zinit;
    uint8_t *zout;
    size_t zout_cap;
    cn_sbuf jb;
};

/* Writes len bytes at off; on failure returns the errno (a short write that then
 * fails counts as failed: the caller rolls the file back). */
static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return EIO;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int cn_seqio_split_path(const char *path, char *dir, size_t dir_len, char *base, size_t base_len) {
    const char *sl = strrchr(path, '/');
    const char *b = sl ? sl + 1 : path;
    if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 || strlen(b) + 16 >= base_len)
        return CN_EINVAL;
    cn_strlcpy(base, b, base_len);
    if (!sl) cn_strlcpy(dir, ".", dir_len);
    else if (sl == path) cn_strlcpy(dir, "/", dir_len);
    else {
        size_t n = (size_t)(sl - path);
        if (n + 1 > dir_len) return CN_EINVAL;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    return CN_OK;
}

int cn_seqio_open_dir(const char *path, char *base, size_t base_len, char *err, size_t err_len) {
    char dir[1024];
    if (cn_seqio_split_path(path, dir, sizeof dir, base, base_len) != CN_OK) {
        cn_errf(err, err_len, path, "not a usable file name");
        return CN_EINVAL;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        cn_errf(err, err_len, path, "folder %s: %s", dir, strerror(errno));
        return CN_ENOENT;
    }
    return fd;
}

cn_seq_writer *cn_seq_writer_open(const char *path, const cn_seq_writer_opts *o, char *err,
                                  size_t err_len) {
    if (err && err_len) err[0] = 0;
    cn_seq_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (o) w->o = *o;
    if (w->o.level < 1 || w->o.level > 9) w->o.level = 1;
    if (!w->o.orientation) w->o.orientation = "MF";
    if (!w->o.image_type) w->o.image_type = "BRIGHTNESS";
    cn_strlcpy(w->path, path, sizeof w->path);
    w->part_fd = w->journal_fd = -1;
    w->adler = adler32(0, NULL, 0);
    w->crc = crc32(0, NULL, 0);
    cn_sbuf_init(&w->jb, 64u << 20);
    w->dirfd = cn_seqio_open_dir(path, w->base, sizeof w->base, err, err_len);
    if (w->dirfd < 0) {
        free(w);
        return NULL;
    }
    char jn[300], pn[300];
    snprintf(jn, sizeof jn, "%s.journal", w->base);
    snprintf(pn, sizeof pn, "%s.part", w->base);
    struct stat st;
    if (fstatat(w->dirfd, w->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* never overwrite a recording by accident */
        cn_errf(err, err_len, path, "file exists: choose another name or delete it");
        goto fail;
    }
    w->journal_fd = openat(w->dirfd, jn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (w->journal_fd < 0) {
        if (errno == EEXIST)
            cn_errf(err, err_len, path,
                    "a recording in progress or an interrupted one exists (%s.journal): run "
                    "`cryonav recover %s` first",
                    path, path);
        else cn_errf(err, err_len, path, "cannot create %s.journal: %s", path, strerror(errno));
        goto fail;
    }
    w->part_fd = openat(w->dirfd, pn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (w->part_fd < 0) {
        if (errno == EEXIST)
            cn_errf(err, err_len, path,
                    "%s.part already exists (an interrupted recording, or something planted "
                    "there): it is never overwritten; recover or remove it first",
                    path);
        else cn_errf(err, err_len, path, "cannot create %s.part: %s", path, strerror(errno));
        close(w->journal_fd);
        w->journal_fd = -1;
        unlinkat(w->dirfd, jn, 0);
        goto fail;
    }
    /* ".seq.nrrd" is Slicer's volume sequence layout (assemble.c) */
    size_t bl = strlen(w->base);
    bool slicer = w->o.format == CN_SEQ_NRRD && bl > 9 && strcmp(w->base + bl - 9, ".seq.nrrd") == 0;
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "%s\nformat %s\ncompress %d\norientation %s\nimagetype %s\npace %s\n",
                      CN_JOURNAL_MAGIC,
                      slicer ? "seqnrrd" : w->o.format == CN_SEQ_NRRD ? "nrrd" : "mha",
                      w->o.compress ? 1 : 0, w->o.orientation, w->o.image_type,
                      w->o.offline ? "scene" : "wall");
    int e = pwrite_all(w->journal_fd, head, (size_t)hl, 0);
    w->journal_bytes = (uint64_t)hl;
    if (e == 0 && w->o.compress) {
        if (w->o.format == CN_SEQ_NRRD) {
            static const uint8_t gz[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
            e = pwrite_all(w->part_fd, gz, sizeof gz, 0);
            w->part_bytes = sizeof gz;
        } else {
            static const uint8_t zh[2] = {0x78, 0x01};
            e = pwrite_all(w->part_fd, zh, sizeof zh, 0);
            w->part_bytes = sizeof zh;
        }
        /* Level 1 ("fast", the default) is Huffman-only: on speckle images it keeps
         * most of the gain (1.27x vs 1.37x) at about twice the speed. */
        int strategy = w->o.level == 1 ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY;
        if (e == 0) {
            if (deflateInit2(&w->zs, w->o.level, Z_DEFLATED, -15, 8, strategy) != Z_OK) e = ENOMEM;
            else w->zinit = true;
        }
    }
    if (e) {
        cn_errf(err, err_len, path, "cannot start the recording: %s", strerror(e));
        close(w->journal_fd);
        close(w->part_fd);
        w->journal_fd = w->part_fd = -1;
        unlinkat(w->dirfd, jn, 0);
        unlinkat(w->dirfd, pn, 0);
        if (w->zinit) deflateEnd(&w->zs);
        goto fail;
    }
    return w;
fail:
    close(w->dirfd);
    cn_sbuf_free(&w->jb);
    free(w);
    return NULL;
}

int cn_seq_writer_frames(const cn_seq_writer *w) { return w->n; }

static void sanitize_line(char *s) {
    for (; *s; s++)
        if (*s == '\r' || (unsigned char)*s < 0x20) *s = ' ';
}

/* Adds the caller's extra "Key = value" lines: Key made of [A-Za-z0-9_] only, so
 * one can never be mistaken for a journal block or commit line. */
static void add_extra(cn_sbuf *jb, const char *extra) {
    const char *s = extra;
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        const char *eq = memchr(s, '=', l);
        size_t kl = 0;
        while (eq && s + kl < eq && (s[kl] == '_' || (s[kl] >= '0' && s[kl] <= '9') ||
                                     ((s[kl] | 0x20) >= 'a' && (s[kl] | 0x20) <= 'z')))
            kl++;
        bool key_ok = eq && kl > 0 && ((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z');
        for (const char *q = s + kl; key_ok && q < eq; q++)
            if (*q != ' ') key_ok = false;
        if (l > 0 && l < CN_SEQ_FIELD_LINE_MAX && key_ok) {
            /* the line as it is, then its control characters blanked in place (before,
             * a copy through a 4 KiB buffer dropped longer lines: review 42 F7) */
            size_t at = jb->len;
            if (cn_sbuf_add(jb, s, l) == CN_OK && cn_sbuf_add(jb, "\n", 1) == CN_OK) {
                jb->s[at + l] = 0;
                sanitize_line(jb->s + at);
                jb->s[at + l] = '\n';
            } else if (jb->s) { /* all of the line or none of it */
                jb->len = at;
                jb->s[at] = 0;
            }
        }
        s += l;
        if (*s == '\n') s++;
    }
}

/* Compresses the frame's pixels into w->zout; *produced bytes. */
static int deflate_frame(cn_seq_writer *w, const uint8_t *px, size_t nbytes, size_t *produced) {
    size_t bound = deflateBound(&w->zs, nbytes) + 64;
    if (bound > w->zout_cap) {
        uint8_t *nz = realloc(w->zout, bound);
        if (!nz) return CN_ENOMEM;
        w->zout = nz;
        w->zout_cap = bound;
    }
    w->zs.next_in = (Bytef *)px;
    w->zs.avail_in = (uInt)nbytes;
    size_t out = 0;
    for (;;) {
        w->zs.next_out = w->zout + out;
        w->zs.avail_out = (uInt)(w->zout_cap - out);
        int zr = deflate(&w->zs, Z_FULL_FLUSH);
        if (zr != Z_OK && zr != Z_BUF_ERROR) return CN_EIO;
        out = w->zout_cap - w->zs.avail_out;
        if (w->zs.avail_out > 0) break;
        /* deflateBound was not enough (cannot happen): grow and go on */
        uint8_t *nz = realloc(w->zout, w->zout_cap * 2);
        if (!nz) return CN_ENOMEM;
        w->zout = nz;
        w->zout_cap *= 2;
    }
    *produced = out;
    return CN_OK;
}

int cn_seq_writer_append(cn_seq_writer *w, const cn_frame *f, const char *extra, char *err,
                         size_t err_len) {
    if (f->width <= 0 || f->height <= 0) {
        cn_errf(err, err_len, w->path, "frame without pixels (%d x %d)", f->width, f->height);
        return CN_EINVAL;
    }
    if (w->n > 0 && (f->width != w->width || f->height != w->height)) {
        cn_errf(err, err_len, w->path,
                "frame %d is %d x %d but the recording is %d x %d (one size per file)", w->n,
                f->width, f->height, w->width, w->height);
        return CN_EINVAL;
    }
    size_t nbytes = (size_t)f->width * (size_t)f->height;
    uint64_t zoff = w->part_bytes;
    const uint8_t *data = f->pixels;
    size_t produced = nbytes;
    if (w->o.compress) {
        int rc = deflate_frame(w, f->pixels, nbytes, &produced);
        if (rc) {
            cn_errf(err, err_len, w->path, "compressing frame %d failed", w->n);
            return rc;
        }
        data = w->zout;
    }
    /* the journal block: globals before the first frame, the frame's fields, then
     * its commit line (with the checksums as they will be once it is on disk) */
    uLong adler = w->adler, crc = w->crc;
    if (w->o.compress) {
        adler = adler32(adler, f->pixels, (uInt)nbytes);
        crc = crc32(crc, f->pixels, (uInt)nbytes);
    }
    uint64_t part_after = w->part_bytes + produced, raw_after = w->raw_bytes + nbytes;
    w->jb.len = 0;
    if (w->n == 0)
        cn_sbuf_printf(&w->jb, "size %d %d\nspacing %.9g %.9g\ntransducer %.4f %.4f\n", f->width,
                       f->height, f->spacing_mm[0], f->spacing_mm[1], f->transducer_px[0],
                       f->transducer_px[1]);
    cn_sbuf_printf(&w->jb, "F %d\n", w->n);
    cn_seqio_format_fields(f, &w->jb);
    if (w->o.compress) cn_sbuf_printf(&w->jb, "CryoNavDataOffset = %llu\n", (unsigned long long)zoff);
    add_extra(&w->jb, extra);
    cn_sbuf_printf(&w->jb, "C %d %llu %llu %08lx %08lx %llu\n", w->n, (unsigned long long)part_after,
                   (unsigned long long)zoff, (unsigned long)adler, (unsigned long)crc,
                   (unsigned long long)raw_after);
    if (!w->jb.s) return CN_ENOMEM;
    int e = pwrite_all(w->part_fd, data, produced, w->part_bytes);
    const char *what = "pixels";
    if (e == 0) {
        e = pwrite_all(w->journal_fd, w->jb.s, w->jb.len, w->journal_bytes);
        what = "journal";
    }
    if (e) {
        /* back to the last whole frame: nothing torn stays, nothing shifts */
        int t1 = ftruncate(w->part_fd, (off_t)w->part_bytes);
        int t2 = ftruncate(w->journal_fd, (off_t)w->journal_bytes);
        cn_errf(err, err_len, w->path, "frame %d not written (%s): %s%s", w->n, what, strerror(e),
                t1 || t2 ? "; rolling back failed too" : "");
        errno = e;
        return CN_EIO;
    }
    if (w->n == 0) {
        w->width = f->width;
        w->height = f->height;
    }
    w->part_bytes = part_after;
    w->raw_bytes = raw_after;
    w->journal_bytes += w->jb.len;
    w->adler = adler;
    w->crc = crc;
    w->n++;
    return CN_OK;
}

int cn_seq_writer_close(cn_seq_writer *w, char *err, size_t err_len) {
    if (!w) return CN_EINVAL;
    int rc = CN_OK, e = 0;
    if (w->zinit) deflateEnd(&w->zs);
    if (fsync(w->part_fd) != 0 || fsync(w->journal_fd) != 0) {
        e = errno;
        rc = CN_EIO;
    }
    close(w->part_fd);
    close(w->journal_fd);
    char path[1024], base[256];
    cn_strlcpy(path, w->path, sizeof path);
    cn_strlcpy(base, w->base, sizeof base);
    int dirfd = w->dirfd, n = w->n;
    free(w->zout);
    cn_sbuf_free(&w->jb);
    free(w);
    if (rc) {
        cn_errf(err, err_len, path,
                "fsync failed: %s; the recording stays in %s.part + .journal (`cryonav recover %s`)",
                strerror(e), path, path);
        close(dirfd);
        return rc;
    }
    if (n == 0) {
        char jn[300], pn[300];
        snprintf(jn, sizeof jn, "%s.journal", base);
        snprintf(pn, sizeof pn, "%s.part", base);
        unlinkat(dirfd, jn, 0);
        unlinkat(dirfd, pn, 0);
        close(dirfd);
        cn_errf(err, err_len, path, "no frames were recorded: no file written");
        return CN_ENOENT;
    }
    cn_seqio_assemble_job job = {.path = path, .dirfd = dirfd, .base = base, .out_dirfd = dirfd,
                                 .out_base = base};
    rc = cn_seqio_assemble(&job, err, err_len);
    close(dirfd);
    return rc;
}

int cn_seq_recover(const char *path, const cn_seq_recover_opts *o, int *n_recovered,
                   int *n_dropped, char *err, size_t err_len) {
    char full[1024];
    cn_strlcpy(full, path, sizeof full);
    size_t l = strlen(full);
    if (l > 8 && strcmp(full + l - 8, ".journal") == 0) full[l - 8] = 0;
    else if (l > 5 && strcmp(full + l - 5, ".part") == 0) full[l - 5] = 0;
    char base[256], out_base[256];
    int dirfd = cn_seqio_open_dir(full, base, sizeof base, err, err_len);
    if (dirfd < 0) return dirfd;
    int out_dirfd = dirfd;
    const char *out_path = full;
    if (o && o->out_path && o->out_path[0]) {
        out_dirfd = cn_seqio_open_dir(o->out_path, out_base, sizeof out_base, err, err_len);
        if (out_dirfd < 0) {
            close(dirfd);
            return out_dirfd;
        }
        out_path = o->out_path;
    } else {
        cn_strlcpy(out_base, base, sizeof out_base);
    }
    cn_seqio_assemble_job job = {.path = full, .dirfd = dirfd, .base = base, .out_path = out_path,
                                 .out_dirfd = out_dirfd, .out_base = out_base,
                                 .progress = o ? o->progress : NULL, .recovering = true};
    int rc = cn_seqio_assemble(&job, err, err_len);
    if (n_recovered) *n_recovered = job.n_frames;
    if (n_dropped) *n_dropped = job.n_dropped;
    if (out_dirfd != dirfd) close(out_dirfd);
    close(dirfd);
    return rc;
}
