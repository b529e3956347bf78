/*
 * assemble.c - turns FILE.part + FILE.journal into the final sequence file.
 *
 * Used by a normal close and by `cryonav recover` alike, so the recovery path is
 * exercised by every recording. Pass 1 walks the journal and keeps the longest
 * prefix of frames whose commit line is complete, consistent (index, sizes,
 * monotonic offsets) and whose pixels are wholly inside FILE.part. Then the space
 * is checked: the result needs the pixel bytes again plus the header, and when the
 * folder lacks it nothing is touched and the message says what to do (free space,
 * or `cryonav recover FILE --out` onto another disk). Pass 2 writes FILE.tmp
 * (created O_EXCL | O_NOFOLLOW in the folder; a stale one or a planted symbolic
 * link is removed first, never followed): the PLUS header (field order and
 * padding as PLUS writes them; ElementSpacing 1, the spacing is in each frame's
 * ImageToProbe; the clocks named), the per-frame fields of those frames, the pixel
 * bytes (copy_file_range: in-kernel, instant on reflink file systems) and, when
 * compressed, a final empty deflate block plus the zlib/gzip trailer computed from
 * the journal's running checksums. Then FILE.tmp is renamed to FILE without
 * replacing anything that appeared there meanwhile, and the journal and part are
 * removed.
 */
#include "seqio_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define JLINE_MAX 65536

typedef struct {
    bool nrrd, compress;
    bool slicer;                  /* Slicer volume sequence (.seq.nrrd): 4-D, index values */
    char orientation[16], imagetype[64];
    bool pace_scene;              /* "pace scene": made offline (CryoNavPace) */
    int width, height;
    double spacing[2], transducer[2];
    int committed, dropped;
    uint64_t jend;                /* journal bytes covering the committed frames */
    uint64_t part_end, raw_bytes;
    unsigned long adler, crc;
} journal_info;

static int read_line(FILE *fp, char *buf, size_t cap, uint64_t *off) {
    if (!fgets(buf, (int)cap, fp)) return -1;
    size_t n = strlen(buf);
    *off += n;
    if (n == 0 || buf[n - 1] != '\n') return -2; /* torn last line or too long */
    buf[n - 1] = 0;
    return (int)(n - 1);
}

static int scan_journal(const char *path, FILE *fp, uint64_t part_size, journal_info *ji,
                        char *err, size_t err_len) {
    char *line = malloc(JLINE_MAX);
    if (!line) return CN_ENOMEM;
    uint64_t off = 0;
    int rc = CN_OK;
    if (read_line(fp, line, JLINE_MAX, &off) < 0 || strcmp(line, CN_JOURNAL_MAGIC) != 0) {
        cn_errf(err, err_len, path, "journal is not a CryoNav recording journal");
        free(line);
        return CN_EPARSE;
    }
    int expect = 0, in_block = -1;
    bool have_size = false;
    size_t frame_bytes = 0;
    uint64_t last_part = 0;
    int l;
    while ((l = read_line(fp, line, JLINE_MAX, &off)) >= 0) {
        if (in_block < 0) {
            int i;
            char s[128];
            if (line[0] == 'F' && line[1] == ' ' && sscanf(line, "F %d", &i) == 1) {
                if (i != expect || !have_size) break;
                in_block = i;
            } else if (sscanf(line, "format %127s", s) == 1) {
                ji->nrrd = strcmp(s, "nrrd") == 0 || strcmp(s, "seqnrrd") == 0;
                ji->slicer = strcmp(s, "seqnrrd") == 0;
            }
            else if (sscanf(line, "compress %d", &i) == 1) ji->compress = i != 0;
            else if (sscanf(line, "pace %127s", s) == 1) ji->pace_scene = strcmp(s, "scene") == 0;
            else if (sscanf(line, "orientation %15s", ji->orientation) == 1) {
            } else if (sscanf(line, "imagetype %63s", ji->imagetype) == 1) {
            } else if (sscanf(line, "size %d %d", &ji->width, &ji->height) == 2) {
                if (ji->width <= 0 || ji->height <= 0 || ji->width > 65536 ||
                    ji->height > 65536)
                    break;
                have_size = true;
                frame_bytes = (size_t)ji->width * (size_t)ji->height;
            } else if (sscanf(line, "spacing %lf %lf", &ji->spacing[0], &ji->spacing[1]) == 2) {
            } else if (sscanf(line, "transducer %lf %lf", &ji->transducer[0],
                              &ji->transducer[1]) == 2) {
            } else break;
            continue;
        }
        if (line[0] == 'C' && line[1] == ' ' && line[2] >= '0' && line[2] <= '9') {
            int i;
            unsigned long long pe, zo, rb;
            unsigned long ad, cr;
            if (sscanf(line, "C %d %llu %llu %lx %lx %llu", &i, &pe, &zo, &ad, &cr, &rb) != 6 ||
                i != in_block || pe > part_size || pe < last_part ||
                rb != (unsigned long long)(i + 1) * frame_bytes ||
                (!ji->compress && pe != rb))
                break;
            last_part = pe;
            ji->committed = i + 1;
            ji->jend = off;
            ji->part_end = pe;
            ji->raw_bytes = rb;
            ji->adler = ad;
            ji->crc = cr;
            expect = i + 1;
            in_block = -1;
        } else if (!strchr(line, '=')) {
            break;
        }
    }
    /* count frames begun after the last commit (lost) */
    rewind(fp);
    off = 0;
    int begun = 0;
    while ((l = read_line(fp, line, JLINE_MAX, &off)) >= 0 || l == -2) {
        int i;
        if (l >= 0 && sscanf(line, "F %d", &i) == 1) begun = i + 1 > begun ? i + 1 : begun;
        if (l == -2) break;
    }
    ji->dropped = begun > ji->committed ? begun - ji->committed : 0;
    if (ji->committed == 0) {
        cn_errf(err, err_len, path, "no complete frame in the journal: nothing to recover");
        rc = CN_ENOENT;
    }
    free(line);
    return rc;
}

static int out_printf(FILE *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_printf(FILE *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(o, fmt, ap);
    va_end(ap);
    return n < 0 ? CN_EIO : CN_OK;
}

/* CryoNavPace: the clock a replay paces on (seqio.h, cn_seq_info.offline_pace) */
static const char *pace_text(const journal_info *ji) {
    return ji->pace_scene ? CN_SEQIO_PACE_SCENE : CN_SEQIO_PACE_WALL;
}

static void write_header_mha(FILE *o, const journal_info *ji, uint64_t csize) {
    char v[64];
    out_printf(o, "ObjectType = Image\nNDims = 3\nAnatomicalOrientation = RAI\n"
                  "BinaryData = True\nBinaryDataByteOrderMSB = False\n"
                  "CenterOfRotation = 0 0 0\nCompressedData = %s\n",
               ji->compress ? "True" : "False");
    /* PLUS pads these so the header can be rewritten in place */
    if (ji->compress) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)csize);
        out_printf(o, "CompressedDataSize = %-17s\n", v);
    }
    snprintf(v, sizeof v, "%d %d %d", ji->width, ji->height, ji->committed);
    out_printf(o, "DimSize = %-24s\n", v);
    /* ElementSpacing 1 as PLUS writes it: the spacing is the scale of each frame's
     * ImageToProbe; the two clocks are named so no reader has to guess */
    out_printf(o, "Kinds = domain domain list\nElementNumberOfChannels = 1\n"
                  "ElementSpacing = 1 1 1\nElementType = MET_UCHAR\nOffset = 0 0 0\n"
                  "TransformMatrix = 1 0 0 0 1 0 0 0 1\nUltrasoundImageOrientation = %s\n"
                  "UltrasoundImageType = %s\nCryoNavTransducerPixel = %.4f %.4f\n"
                  "CryoNavTimestampClock = %s\nCryoNavWallClock = %s\nCryoNavPace = %s\n",
               ji->orientation[0] ? ji->orientation : "MF",
               ji->imagetype[0] ? ji->imagetype : "BRIGHTNESS", ji->transducer[0],
               ji->transducer[1], CN_SEQIO_SCENE_CLOCK, CN_SEQIO_WALL_CLOCK, pace_text(ji));
}

static void write_header_nrrd(FILE *o, const journal_info *ji) {
    out_printf(o, "NRRD0004\n# Complete NRRD file format specification at:\n"
                  "# http://teem.sourceforge.net/nrrd/format.html\n"
                  "dimension: 3\nencoding: %s\nendian: little\nkinds: domain domain list\n"
                  "sizes: %d %d %d\nspace dimension: 2\n"
                  "space directions: (1,0) (0,1) none\nspace origin: (0,0)\ntype: uint8\n"
                  "ultrasound image orientation:=%s\nultrasound image type:=%s\n"
                  "CryoNavTransducerPixel:=%.4f %.4f\nCryoNavTimestampClock:=%s\n"
                  "CryoNavWallClock:=%s\nCryoNavPace:=%s\n",
               ji->compress ? "gz" : "raw", ji->width, ji->height, ji->committed,
               ji->orientation[0] ? ji->orientation : "MF",
               ji->imagetype[0] ? ji->imagetype : "BRIGHTNESS", ji->transducer[0],
               ji->transducer[1], CN_SEQIO_SCENE_CLOCK, CN_SEQIO_WALL_CLOCK, pace_text(ji));
}

/* Slicer's volume sequence (.seq.nrrd): a 4-D NRRD (I J K list) whose list axis
 * has the frames' times as "index values"; Slicer reads it as a sequence of
 * volumes with their real spacing (it does not read ImageToProbe). The PLUS
 * per-frame fields follow as custom fields, so CryoNav reads back everything. */
static void write_header_slicer(FILE *o, FILE *jf, const journal_info *ji) {
    out_printf(o, "NRRD0004\n# Complete NRRD file format specification at:\n"
                  "# http://teem.sourceforge.net/nrrd/format.html\n"
                  "type: unsigned char\ndimension: 4\nspace: left-posterior-superior\n"
                  "sizes: %d %d 1 %d\nspace directions: (%.9g,0,0) (0,%.9g,0) (0,0,1) none\n"
                  "kinds: domain domain domain list\nlabels: \"\" \"\" \"\" \"time\"\n"
                  "encoding: %s\nendian: little\nspace origin: (0,0,0)\n"
                  "axis 3 index type:=numeric\naxis 3 index values:=",
               ji->width, ji->height, ji->committed, ji->spacing[0], ji->spacing[1],
               ji->compress ? "gzip" : "raw");
    /* the frames' Timestamps (scene seconds), one pass over the committed journal */
    char *line = malloc(JLINE_MAX);
    if (line) {
        rewind(jf);
        uint64_t off = 0;
        int l, k = 0;
        while (off < ji->jend && (l = read_line(jf, line, JLINE_MAX, &off)) >= 0)
            if (strncmp(line, "Timestamp = ", 12) == 0) out_printf(o, k++ ? " %s" : "%s", line + 12);
        free(line);
    }
    out_printf(o, "\nDataNodeClassName:=vtkMRMLScalarVolumeNode\n"
                  "ultrasound image orientation:=%s\nultrasound image type:=%s\n"
                  "CryoNavTransducerPixel:=%.4f %.4f\nCryoNavTimestampClock:=%s\n"
                  "CryoNavWallClock:=%s\nCryoNavPace:=%s\n",
               ji->orientation[0] ? ji->orientation : "MF",
               ji->imagetype[0] ? ji->imagetype : "BRIGHTNESS", ji->transducer[0],
               ji->transducer[1], CN_SEQIO_SCENE_CLOCK, CN_SEQIO_WALL_CLOCK, pace_text(ji));
}

/* Copies the committed blocks' field lines as Seq_FrameNNNN_ fields. */
static int write_frame_fields(FILE *o, FILE *jf, const journal_info *ji) {
    char *line = malloc(JLINE_MAX);
    if (!line) return CN_ENOMEM;
    rewind(jf);
    uint64_t off = 0;
    int cur = -1, l;
    while (off < ji->jend && (l = read_line(jf, line, JLINE_MAX, &off)) >= 0) {
        int i;
        if (line[0] == 'F' && line[1] == ' ' && sscanf(line, "F %d", &i) == 1) {
            cur = i;
            continue;
        }
        if (line[0] == 'C' && line[1] == ' ' && line[2] >= '0' && line[2] <= '9') {
            cur = -1;
            continue;
        }
        if (cur < 0) continue;
        char *eq = strstr(line, " = ");
        if (!eq) continue;
        *eq = 0;
        const char *k = line, *v = eq + 3;
        if (ji->nrrd) {
            if (strcmp(k, "ImageStatus") == 0) k = "Status";
            out_printf(o, "Seq_Frame%04d_%s:=%s\n", cur, k, v);
        } else {
            out_printf(o, "Seq_Frame%04d_%s = %s\n", cur, k, v);
        }
    }
    free(line);
    return CN_OK;
}

static int copy_range(int in, int out, uint64_t len, cn_progress *pr) {
    loff_t off_in = 0;
    uint64_t total = len;
    while (len > 0) {
        /* 64 MB at a time: a progress bar moves, and a failure stops early */
        size_t chunk = len > (64u << 20) ? (64u << 20) : (size_t)len;
        ssize_t c = copy_file_range(in, &off_in, out, NULL, chunk, 0);
        if (c < 0 && errno == EINTR) continue;
        if (c < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG || errno == EIO))
            return CN_EIO; /* errno says why; the fallback would fail the same way */
        if (c <= 0) break;
        len -= (uint64_t)c;
        cn_progress_update(pr, (double)(total - len) / 1048576.0, (double)total / 1048576.0);
    }
    if (len == 0) return CN_OK;
    /* fallback: plain read/write (other file system, old kernel) */
    uint8_t *buf = malloc(1u << 20);
    if (!buf) return CN_ENOMEM;
    while (len > 0) {
        size_t chunk = len > (1u << 20) ? (1u << 20) : (size_t)len;
        ssize_t r = pread(in, buf, chunk, off_in);
        if (r <= 0) {
            free(buf);
            return CN_EIO;
        }
        ssize_t done = 0;
        while (done < r) {
            ssize_t w = write(out, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                free(buf);
                return CN_EIO;
            }
            done += w;
        }
        off_in += r;
        len -= (uint64_t)r;
        cn_progress_update(pr, (double)(total - len) / 1048576.0, (double)total / 1048576.0);
    }
    free(buf);
    return CN_OK;
}

/* What to tell a user whose folder is full: the recording is safe as it is. */
static void space_hint(const cn_seqio_assemble_job *j, char *err, size_t err_len, const char *why) {
    const char *out = j->out_path ? j->out_path : j->path;
    cn_errf(err, err_len, out,
            "%s. The recording is safe in %s.part + %s.journal: free space and run `cryonav "
            "recover %s`, or write it to another disk: `cryonav recover %s --out "
            "OTHER_FOLDER/NAME.igs.mha`",
            why, j->path, j->path, j->path, j->path);
}

int cn_seqio_assemble(cn_seqio_assemble_job *j, char *err, size_t err_len) {
    const char *path = j->path, *out_path = j->out_path ? j->out_path : j->path;
    char jn[300], pn[300], tn[300];
    snprintf(jn, sizeof jn, "%s.journal", j->base);
    snprintf(pn, sizeof pn, "%s.part", j->base);
    snprintf(tn, sizeof tn, "%s.tmp", j->out_base);
    j->n_frames = j->n_dropped = 0;
    /* never read through a symbolic link planted under our names */
    int jfd = openat(j->dirfd, jn, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *jf = jfd >= 0 ? fdopen(jfd, "rb") : NULL;
    if (!jf) {
        cn_errf(err, err_len, path, "no recording to recover (%s.journal: %s)", path,
                strerror(errno));
        if (jfd >= 0) close(jfd);
        return CN_ENOENT;
    }
    int pfd = openat(j->dirfd, pn, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0) {
        cn_errf(err, err_len, path, "pixel data %s.part missing: %s", path, strerror(errno));
        fclose(jf);
        return CN_ENOENT;
    }
    struct stat st;
    if (fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cn_errf(err, err_len, path, "%s.part is not a regular file", path);
        fclose(jf);
        close(pfd);
        return CN_EINVAL;
    }
    struct stat ost;
    if (fstatat(j->out_dirfd, j->out_base, &ost, AT_SYMLINK_NOFOLLOW) == 0) {
        cn_errf(err, err_len, out_path, "exists already: not replaced%s",
                j->recovering ? " (give another file with --out)" : "");
        fclose(jf);
        close(pfd);
        return CN_EINVAL;
    }
    journal_info ji;
    memset(&ji, 0, sizeof ji);
    ji.spacing[0] = ji.spacing[1] = 1;
    int rc = scan_journal(path, jf, (uint64_t)st.st_size, &ji, err, err_len);
    if (rc) {
        fclose(jf);
        close(pfd);
        return rc;
    }
    uint8_t trailer[16];
    size_t tl = 0;
    if (ji.compress) {
        /* final empty stored block, byte aligned after the last full flush */
        static const uint8_t last[5] = {0x01, 0x00, 0x00, 0xff, 0xff};
        memcpy(trailer, last, 5);
        tl = 5;
        if (ji.nrrd) {
            uint32_t c = (uint32_t)ji.crc, isz = (uint32_t)ji.raw_bytes;
            for (int i = 0; i < 4; i++) trailer[tl++] = (uint8_t)(c >> (8 * i));
            for (int i = 0; i < 4; i++) trailer[tl++] = (uint8_t)(isz >> (8 * i));
        } else {
            uint32_t a = (uint32_t)ji.adler;
            for (int i = 3; i >= 0; i--) trailer[tl++] = (uint8_t)(a >> (8 * i));
        }
    }
    /* Room for the result: the pixels once more plus the header, whose per-frame
     * lines are the journal's with a "Seq_FrameNNNN_" prefix (a quarter more is a
     * safe bound) - checked before writing anything. */
    uint64_t need = ji.part_end + tl + ji.jend + ji.jend / 4 + 65536;
    struct statvfs vs;
    if (fstatvfs(j->out_dirfd, &vs) == 0) {
        uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
        if (avail < need) {
            char why[200];
            snprintf(why, sizeof why,
                     "not enough free space to assemble the file: it needs %.1f MB, the folder "
                     "has %.1f MB",
                     need / 1048576.0, avail / 1048576.0);
            space_hint(j, err, err_len, why);
            fclose(jf);
            close(pfd);
            return CN_EIO;
        }
    }
    /* a stale FILE.tmp (an assembly that was killed) or a link planted there is
     * removed (unlink never follows a link), then created exclusively */
    unlinkat(j->out_dirfd, tn, 0);
    int ofd = openat(j->out_dirfd, tn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *o = ofd >= 0 ? fdopen(ofd, "wb") : NULL;
    if (!o) {
        cn_errf(err, err_len, out_path, "cannot create %s: %s", tn, strerror(errno));
        if (ofd >= 0) close(ofd);
        fclose(jf);
        close(pfd);
        return CN_EIO;
    }
    if (ji.slicer) write_header_slicer(o, jf, &ji);
    else if (ji.nrrd) write_header_nrrd(o, &ji);
    else write_header_mha(o, &ji, ji.part_end + tl);
    rc = write_frame_fields(o, jf, &ji);
    if (!ji.nrrd) out_printf(o, "ElementDataFile = LOCAL\n");
    else out_printf(o, "\n");
    int e = 0;
    if (fflush(o) != 0 || ferror(o)) {
        e = errno;
        rc = CN_EIO;
    }
    if (rc == CN_OK && (rc = copy_range(pfd, ofd, ji.part_end, j->progress)) != CN_OK) e = errno;
    if (rc == CN_OK && tl && write(ofd, trailer, tl) != (ssize_t)tl) {
        e = errno;
        rc = CN_EIO;
    }
    if (rc == CN_OK && fsync(ofd) != 0) {
        e = errno;
        rc = CN_EIO;
    }
    fclose(o);
    fclose(jf);
    close(pfd);
    if (rc == CN_OK) {
        /* never replace a file that appeared under the final name meanwhile */
        if (renameat2(j->out_dirfd, tn, j->out_dirfd, j->out_base, RENAME_NOREPLACE) != 0) {
            if (errno == EINVAL || errno == ENOSYS) { /* no RENAME_NOREPLACE here */
                if (linkat(j->out_dirfd, tn, j->out_dirfd, j->out_base, 0) == 0)
                    unlinkat(j->out_dirfd, tn, 0);
                else {
                    e = errno;
                    rc = CN_EIO;
                }
            } else {
                e = errno;
                rc = CN_EIO;
            }
        }
        fsync(j->out_dirfd); /* the rename itself survives a power cut */
    }
    if (rc) {
        unlinkat(j->out_dirfd, tn, 0);
        char why[300];
        snprintf(why, sizeof why, "writing the sequence file failed: %s", strerror(e ? e : EIO));
        if (e == ENOSPC || e == EDQUOT || e == EFBIG) space_hint(j, err, err_len, why);
        else cn_errf(err, err_len, out_path, "%s", why);
        return rc;
    }
    unlinkat(j->dirfd, jn, 0);
    unlinkat(j->dirfd, pn, 0);
    j->n_frames = ji.committed;
    j->n_dropped = ji.dropped;
    return CN_OK;
}
