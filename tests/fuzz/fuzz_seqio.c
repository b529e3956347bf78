/*
 * fuzz_seqio.c - mutated sequence files through what `info`, `replay` and
 * `report` do (issue 14): no crash (ASan/UBSan), no hang (a 20 s alarm per file),
 * and no allocation above 4x the file size.
 *
 * Seeds: CryoNav recordings this program writes (MetaImage and NRRD, raw and
 * compressed, with analysis, events and truth), a Slicer-style 4-D .seq.nrrd, and
 * the small real PLUS files of the shared data. Each case takes a seed and applies
 * 1-4 mutations chosen by a fixed-seed PRNG: random bytes, header numbers replaced
 * by hostile values (0, -1, 2^31, 1e8, 2^64, nan ...), lines duplicated, dropped or
 * moved, truncation, insertions, other pixel types, data files that are FIFOs,
 * devices, absolute or ../ paths, and event texts full of escapes. The case then
 * goes through the library calls the commands make: open + describe (info), the
 * replay device reading every frame and its chapters and events (replay), the
 * session summary with series, events and JSON (report). Every 10th case also
 * runs the real `cryonav info` and `cryonav report --no-plots` and requires an
 * ordinary exit (0, 1 or 2).
 *
 * Memory: ASan's allocation hooks keep the live heap and its peak; the peak over
 * what was live before the case may not exceed 4 x the case's bytes (header plus
 * data file) + 1 MiB for the fixed-size buffers every open has (zlib's window and
 * input chunk, a frame struct or two) whatever the file.
 *
 * Usage: fuzz_seqio [--count N (150)] [--seed S (14)] [--bin CRYONAV] [--keep]
 * The full run of the issue: fuzz_seqio --count 1000 (docs/validation.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay/replay.h"
#include "seqio/seqio.h"

/* ---------------------------------------------------------------- heap accounting */

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_HOOKS 1
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *p);
#else
#define HAVE_HOOKS 0
#endif

static atomic_llong g_live, g_peak;

#if HAVE_HOOKS
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    long long v = atomic_fetch_add(&g_live, (long long)n) + (long long)n;
    long long pk = atomic_load(&g_peak);
    while (v > pk && !atomic_compare_exchange_weak(&g_peak, &pk, v)) {
    }
}
static void on_free(const volatile void *p)
{
    atomic_fetch_sub(&g_live, (long long)__sanitizer_get_allocated_size(p));
}
#endif

/* ---------------------------------------------------------------- seeds */

typedef struct {
    char name[64];
    char ext[16];          /* ".igs.mha", ".igs.nrrd", ".seq.nrrd" */
    unsigned char *b;
    size_t n;
} seed_t;

static seed_t seeds[32];
static int n_seeds;
static char g_dir[512];
static const char *g_case = "";

static void add_seed_file(const char *path, const char *name, const char *ext)
{
    size_t n;
    char *b = cn_file_read_all(path, &n);
    if (!b || n_seeds == 32) {
        free(b);
        return;
    }
    seed_t *s = &seeds[n_seeds++];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->ext, sizeof s->ext, "%s", ext);
    s->b = (unsigned char *)b;
    s->n = n;
}

static void write_recording(const char *path, cn_seq_format fmt, bool z)
{
    char err[512];
    cn_seq_writer_opts o = {.format = fmt, .compress = z};
    unlink(path);
    cn_seq_writer *w = cn_seq_writer_open(path, &o, err, sizeof err);
    if (!w) {
        fprintf(stderr, "seed: %s\n", err);
        exit(1);
    }
    cn_frame_pool *pool = cn_frame_pool_new(1, 32, 24);
    cn_frame *f = cn_frame_pool_acquire(pool);
    for (int i = 0; i < 12; i++) {
        cn_frame_set_size(f, 32, 24);
        for (int p = 0; p < 32 * 24; p++)
            f->pixels[p] = (uint8_t)(p * 5 + i * 11);
        f->seq = (uint64_t)i;
        f->t_acq_ns = 1000000000LL + i * 50000000LL;
        f->t_scene_ns = 2000000000LL + i * 500000000LL;
        f->wall_ns = 1700000000000000000LL + i * 50000000LL;
        f->spacing_mm[0] = f->spacing_mm[1] = 0.1;
        f->n_poses = 0;
        cn_mat4 m = cn_mat4_translation(i, 1, 2);
        cn_frame_set_pose(f, "ProbeToTracker", &m, true);
        f->analysed = i % 2 == 0;
        memset(&f->analysis, 0, sizeof f->analysis);
        f->analysis.guidance.phase = i < 4 ? CN_PHASE_APPROACH : i < 9 ? CN_PHASE_FREEZE : CN_PHASE_THAW;
        f->analysis.guidance.cycle = i < 4 ? 0 : 1;
        f->analysis.needle.found = true;
        f->analysis.nerve.found = true;
        f->analysis.nerve.n = 2;
        f->analysis.nerve.pts_mm[1] = (cn_pt2){2, 2};
        f->analysis.n_iso = 2;
        f->analysis.iso[0].radius_mm = (float)i;
        f->analysis.iso[1].temp_c = -20;
        if (i == 4)
            cn_analysis_add_event(&f->analysis, CN_EVSRC_SIMULATOR, f->t_scene_ns, "freeze_start cycle=1");
        if (i == 6)
            cn_analysis_add_event(&f->analysis, CN_EVSRC_PROCTOR, f->t_scene_ns, "note text=a;b %%41 @3");
        memset(&f->truth, 0, sizeof f->truth);
        f->truth.valid = true;
        f->truth.phase = f->analysis.guidance.phase;
        if (cn_seq_writer_append(w, f, NULL, err, sizeof err) != CN_OK) {
            fprintf(stderr, "seed: %s\n", err);
            exit(1);
        }
    }
    if (cn_seq_writer_close(w, err, sizeof err) != CN_OK) {
        fprintf(stderr, "seed: %s\n", err);
        exit(1);
    }
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
}

static void make_seeds(void)
{
    static const struct {
        const char *n;
        cn_seq_format f;
        bool z;
        const char *ext;
    } rec[] = {{"rec-raw", CN_SEQ_MHA, false, ".igs.mha"}, {"rec-z", CN_SEQ_MHA, true, ".igs.mha"},
               {"rec-nrrd", CN_SEQ_NRRD, false, ".igs.nrrd"}, {"rec-gz", CN_SEQ_NRRD, true, ".igs.nrrd"}};
    for (size_t i = 0; i < sizeof rec / sizeof rec[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/seed%s", g_dir, rec[i].ext);
        write_recording(p, rec[i].f, rec[i].z);
        add_seed_file(p, rec[i].n, rec[i].ext);
        unlink(p);
    }
    /* a Slicer volume sequence: 4-D, list axis last, index values as times */
    {
        char p[700];
        snprintf(p, sizeof p, "%s/seed.seq.nrrd", g_dir);
        FILE *f = fopen(p, "wb");
        fprintf(f, "NRRD0004\ndimension: 4\ntype: uint8\nsizes: 8 6 1 5\nencoding: raw\nendian: little\n"
                   "kinds: domain domain domain list\nspace directions: (0.5,0,0) (0,0.25,0) (0,0,1) none\n"
                   "axis 3 index type:=numeric\naxis 3 index values:=0 0.5 1 1.5 2\n\n");
        for (int i = 0; i < 8 * 6 * 5; i++)
            fputc(i & 0xff, f);
        fclose(f);
        add_seed_file(p, "slicer-seq", ".seq.nrrd");
        unlink(p);
    }
    static const char *plus[] = {"SyntheticVideoBuffer20.igs.mha", "SyntheticTrackerBuffer20.igs.mha",
                                 "Prostate10_tracker.igs.mha", "NrrdSample.igs.nrrd",
                                 "ColorNrrdSample.igs.nrrd"};
    for (size_t i = 0; i < sizeof plus / sizeof plus[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/plus/%s", CN_SHARED_DATA_DIR, plus[i]);
        add_seed_file(p, plus[i], strstr(plus[i], ".nrrd") ? ".igs.nrrd" : ".igs.mha");
    }
}

/* ---------------------------------------------------------------- mutations */

static cn_rng g_rng;

static size_t rnd(size_t n) { return n ? (size_t)(cn_rng_next(&g_rng) % n) : 0; }

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf_t;

static void reserve(buf_t *m, size_t n)
{
    if (n + 1 > m->cap) {
        m->cap = (n + 1) * 2;
        m->b = realloc(m->b, m->cap);
    }
}

static void replace_range(buf_t *m, size_t at, size_t len, const char *with, size_t wl)
{
    if (at > m->n)
        at = m->n;
    if (at + len > m->n)
        len = m->n - at;
    reserve(m, m->n - len + wl);
    memmove(m->b + at + wl, m->b + at + len, m->n - at - len);
    memcpy(m->b + at, with, wl);
    m->n = m->n - len + wl;
}

/* Where the header ends (first blank line for NRRD, after ElementDataFile for mha). */
static size_t header_len(const buf_t *m)
{
    const unsigned char *e = memmem(m->b, m->n, "ElementDataFile", 15);
    if (e) {
        const unsigned char *nl = memchr(e, '\n', m->n - (size_t)(e - m->b));
        return nl ? (size_t)(nl - m->b) + 1 : m->n;
    }
    e = memmem(m->b, m->n, "\n\n", 2);
    return e ? (size_t)(e - m->b) + 2 : m->n;
}

static const char *hostile_numbers[] = {"0", "-1", "1", "2", "65535", "65536", "2147483647",
                                        "2147483648", "100000000", "4294967296",
                                        "18446744073709551615", "nan", "1e308", "-0", "007", "1 1 1 1"};
static const char *types[] = {"MET_OTHER", "MET_DOUBLE", "MET_SHORT", "MET_BOGUS", "MET_UCHAR", "int16",
                              "float", "uint8", "MET_CHAR_ARRAY"};

static void mutate(buf_t *m, const char *dir, char *what, size_t wl)
{
    size_t hl = header_len(m);
    int kind = (int)rnd(10);
    char tmp[256];
    switch (kind) {
    case 0: /* random bytes anywhere */
        for (int k = 0, c = 1 + (int)rnd(8); k < c && m->n; k++)
            m->b[rnd(m->n)] = (unsigned char)rnd(256);
        snprintf(what, wl, "bytes");
        break;
    case 1: { /* a header number -> a hostile value */
        for (int tries = 0; tries < 50; tries++) {
            size_t at = rnd(hl);
            if (m->b[at] < '0' || m->b[at] > '9')
                continue;
            size_t e = at;
            while (e < m->n && ((m->b[e] >= '0' && m->b[e] <= '9') || m->b[e] == '.'))
                e++;
            const char *h = hostile_numbers[rnd(sizeof hostile_numbers / sizeof hostile_numbers[0])];
            replace_range(m, at, e - at, h, strlen(h));
            snprintf(what, wl, "number->%s", h);
            return;
        }
        snprintf(what, wl, "number(none)");
        break;
    }
    case 2: { /* duplicate, drop or move a header line */
        size_t at = rnd(hl);
        while (at > 0 && m->b[at - 1] != '\n')
            at--;
        const unsigned char *nl = memchr(m->b + at, '\n', m->n - at);
        size_t l = nl ? (size_t)(nl - (m->b + at)) + 1 : m->n - at;
        if (l > 200)
            l = 200;
        char line[256];
        memcpy(line, m->b + at, l);
        int op = (int)rnd(3);
        if (op == 0)
            replace_range(m, at, 0, line, l);
        else if (op == 1)
            replace_range(m, at, l, "", 0);
        else {
            replace_range(m, at, l, "", 0);
            replace_range(m, rnd(header_len(m)), 0, line, l);
        }
        snprintf(what, wl, "line-%s", op == 0 ? "dup" : op == 1 ? "drop" : "move");
        break;
    }
    case 3: /* truncate */
        m->n = rnd(m->n + 1);
        snprintf(what, wl, "truncate");
        break;
    case 4: { /* insert random bytes */
        size_t k = 1 + rnd(64);
        for (size_t i = 0; i < k; i++)
            tmp[i] = (char)rnd(256);
        replace_range(m, rnd(m->n + 1), 0, tmp, k);
        snprintf(what, wl, "insert");
        break;
    }
    case 5: { /* another pixel type */
        const unsigned char *e = memmem(m->b, hl, "ElementType = ", 14);
        size_t off = 14;
        if (!e) {
            e = memmem(m->b, hl, "type: ", 6);
            off = 6;
        }
        if (e) {
            size_t at = (size_t)(e - m->b) + off;
            const unsigned char *nl = memchr(m->b + at, '\n', m->n - at);
            const char *t = types[rnd(sizeof types / sizeof types[0])];
            replace_range(m, at, nl ? (size_t)(nl - (m->b + at)) : 0, t, strlen(t));
            snprintf(what, wl, "type->%s", t);
        } else {
            snprintf(what, wl, "type(none)");
        }
        break;
    }
    case 6: { /* a hostile data file */
        static const char *df[] = {"../outside.raw", "/dev/zero", "fifo.raw", "LOCAL", "LIST",
                                   "missing.raw", "sub/x.raw", "/etc/passwd", "data.raw"};
        const char *d = df[rnd(sizeof df / sizeof df[0])];
        const unsigned char *e = memmem(m->b, m->n, "ElementDataFile = ", 18);
        if (e) {
            size_t at = (size_t)(e - m->b) + 18;
            const unsigned char *nl = memchr(m->b + at, '\n', m->n - at);
            replace_range(m, at, nl ? (size_t)(nl - (m->b + at)) : 0, d, strlen(d));
        } else {
            snprintf(tmp, sizeof tmp, "data file: %s\n", d);
            replace_range(m, rnd(hl), 0, tmp, strlen(tmp));
        }
        snprintf(what, wl, "datafile->%s", d);
        (void)dir;
        break;
    }
    case 7: { /* compression flag / encoding flipped */
        const unsigned char *e = memmem(m->b, hl, "CompressedData = ", 17);
        if (e) {
            size_t at = (size_t)(e - m->b) + 17;
            bool t = m->b[at] == 'T';
            replace_range(m, at, t ? 4 : 5, t ? "False" : "True", t ? 5 : 4);
        } else if ((e = memmem(m->b, hl, "encoding: ", 10))) {
            size_t at = (size_t)(e - m->b) + 10;
            bool gz = m->b[at] == 'g';
            replace_range(m, at, gz ? 2 : 3, gz ? "raw" : "gz", gz ? 3 : 2);
        }
        snprintf(what, wl, "compression");
        break;
    }
    case 8: { /* an events line with escapes, separators and times */
        static const char *ev[] = {"Seq_Frame0001_CryoNavEvents = %%%;;;@@@%4", "Seq_Frame0002_CryoNavEvents = "
                                   "proctor:@-1e308; operator:%00%0a%ZZ; x:y:z@nan",
                                   "Seq_Frame0000_CryoNavNote = \x01\x02 note"};
        const char *e = ev[rnd(3)];
        snprintf(tmp, sizeof tmp, "%s\n", e);
        replace_range(m, rnd(hl), 0, tmp, strlen(tmp));
        snprintf(what, wl, "events");
        break;
    }
    default: { /* a frame index far away */
        const unsigned char *e = memmem(m->b, hl, "Seq_Frame", 9);
        if (e) {
            const char *h = rnd(2) ? "99999999" : "0000";
            replace_range(m, (size_t)(e - m->b) + 9, 4, h, strlen(h));
        }
        snprintf(what, wl, "frame-index");
        break;
    }
    }
}

/* ---------------------------------------------------------------- the commands' paths */

static cn_frame_pool *g_pool;

static void do_info(const char *path)
{
    char err[1024];
    cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
    if (!r)
        return;
    FILE *devnull = fopen("/dev/null", "w");
    cn_seq_describe(r, devnull, err, sizeof err);
    fclose(devnull);
    cn_seq_reader_close(r);
}

static void do_replay(const char *path)
{
    char err[1024];
    cn_replay_opts o = {.speed = 0};
    cn_replay *rp = cn_replay_new(path, &o, err, sizeof err);
    if (!rp)
        return;
    cn_device dev;
    cn_replay_device(rp, &dev);
    dev.start(dev.self);
    cn_frame *f = cn_frame_pool_acquire(g_pool);
    int nch = 0;
    cn_replay_chapters(rp, &nch);
    if (nch > 0)
        cn_replay_seek_chapter(rp, "1");
    for (int i = 0; i < 100000; i++) {
        int rc = dev.read(dev.self, f);
        cn_event ev[32];
        cn_replay_take_events(rp, ev, 32);
        if (rc != CN_OK)
            break;
    }
    cn_frame_unref(f);
    dev.stop(dev.self);
    cn_replay_free(rp);
}

static void do_report(const char *path)
{
    char err[1024], *events = NULL;
    cn_session_summary s;
    cn_session_series ser;
    if (cn_session_summarize(path, &s, &ser, &events, NULL, err, sizeof err) == CN_OK) {
        char *j = cn_session_summary_json(&s, path);
        free(j);
        cn_session_series_free(&ser);
        free(events);
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "fuzz_seqio: a case took more than 20 s (hang): ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, g_case, strlen(g_case));
    (void)!write(2, "\n", 1);
    abort();
}

/* The real binary on a case: an ordinary exit (no signal, no sanitizer abort). */
static int run_bin(const char *bin, const char *cmd, const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        char out[700];
        snprintf(out, sizeof out, "%s/report", g_dir);
        if (strcmp(cmd, "report") == 0)
            execl(bin, bin, "report", path, "--no-plots", "--out", out, (char *)NULL);
        else
            execl(bin, bin, "info", path, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    int count = 150;
    uint64_t seed = 14;
    const char *bin = NULL;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
            bin = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else {
            fprintf(stderr, "usage: fuzz_seqio [--count N] [--seed S] [--bin CRYONAV] [--keep]\n");
            return 2;
        }
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/cn_fuzz_seqio_XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    char p[700];
    snprintf(p, sizeof p, "%s/fifo.raw", g_dir);
    mkfifo(p, 0644);
    snprintf(p, sizeof p, "%s/data.raw", g_dir);
    FILE *df = fopen(p, "wb");
    for (int i = 0; i < 4096; i++)
        fputc(i * 7, df);
    fclose(df);
    make_seeds();
    g_pool = cn_frame_pool_new(1, 1024, 1024);
    cn_rng_seed(&g_rng, seed);
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
#if HAVE_HOOKS
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#else
    fprintf(stderr, "fuzz_seqio: not an ASan build: memory is not measured\n");
#endif
    double worst = 0;
    long long worst_abs = 0;
    char worst_case[600] = "";
    int failures = 0, bin_runs = 0, opened = 0;
    for (int c = 0; c < count; c++) {
        const seed_t *s = &seeds[rnd((size_t)n_seeds)];
        buf_t m = {0};
        reserve(&m, s->n);
        memcpy(m.b, s->b, s->n);
        m.n = s->n;
        char what[256] = "", one[64];
        int k = 1 + (int)rnd(4);
        for (int i = 0; i < k; i++) {
            mutate(&m, g_dir, one, sizeof one);
            size_t wl = strlen(what);
            snprintf(what + wl, sizeof what - wl, "%s%s", i ? "+" : "", one);
        }
        char path[700];
        snprintf(path, sizeof path, "%s/case%s", g_dir, s->ext);
        FILE *f = fopen(path, "wb");
        fwrite(m.b, 1, m.n, f);
        fclose(f);
        static char label[512]; /* static: the alarm handler prints it */
        snprintf(label, sizeof label, "case %d (%.60s: %.200s)", c, s->name, what);
        g_case = label;
        /* the bytes a reader may legitimately look at: the file and a data file */
        size_t bytes = m.n;
        struct stat sb;
        snprintf(p, sizeof p, "%s/data.raw", g_dir);
        if (memmem(m.b, m.n, "data.raw", 8) && stat(p, &sb) == 0)
            bytes += (size_t)sb.st_size;
        free(m.b);
        alarm(20);
        void (*paths[3])(const char *) = {do_info, do_replay, do_report};
        static const char *names[3] = {"info", "replay", "report"};
        for (int k2 = 0; k2 < 3; k2++) {
            long long base = atomic_load(&g_live);
            atomic_store(&g_peak, base);
            paths[k2](path);
            long long grew = atomic_load(&g_peak) - base;
            /* the ratio that matters: files big enough for the fixed buffers not to count */
            double ratio = bytes >= (64u << 10) ? (double)grew / (double)bytes : 0;
            if (grew > worst_abs)
                worst_abs = grew;
            if (HAVE_HOOKS && ratio > worst && bytes > 0) {
                worst = ratio;
                snprintf(worst_case, sizeof worst_case, "%s %s: %lld bytes for a %zu-byte file", names[k2],
                         label, grew, bytes);
            }
            if (HAVE_HOOKS && grew > 4LL * (long long)bytes + (1LL << 20)) {
                fprintf(stderr, "FAIL %s %s: %lld bytes allocated for a %zu-byte file\n", names[k2], label,
                        grew, bytes);
                failures++;
            }
        }
        alarm(0);
        char e2[256];
        cn_seq_reader *r = cn_seq_reader_open(path, e2, sizeof e2);
        opened += r != NULL;
        cn_seq_reader_close(r);
        if (bin && c % 10 == 0) {
            for (int k2 = 0; k2 < 2; k2++) {
                const char *cmd = k2 ? "report" : "info";
                alarm(60);
                int rc = run_bin(bin, cmd, path);
                alarm(0);
                bin_runs++;
                if (rc > 2) {
                    fprintf(stderr, "FAIL cryonav %s on %s: exit %d\n", cmd, label, rc);
                    failures++;
                }
            }
        }
        if (keep && failures) {
            fprintf(stderr, "kept in %s\n", g_dir);
            return 1;
        }
    }
    printf("fuzz_seqio: %d mutated files (seed %llu), %d still open as sequences, %d runs of the binary, "
           "%d failures; peak heap growth: largest %lld bytes, largest ratio to a file of 64 KB or more "
           "%.2fx (%s)\n",
           count, (unsigned long long)seed, opened, bin_runs, failures, worst_abs, worst, worst_case);
    cn_frame_pool_free(g_pool);
    for (int i = 0; i < n_seeds; i++)
        free(seeds[i].b);
    if (!keep) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        (void)!system(cmd);
    }
    return failures ? 1 : 0;
}
