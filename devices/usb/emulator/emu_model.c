/*
 * emu_model.c - the emulated UP20L's protocol state machine.
 *
 * It mirrors what the captured traffic shows a real probe must handle: a register
 * file behind [address, value] pairs, register reads answered with a 512-byte packet
 * (value in byte 1), tables selected with [0x10, id] whose data stage must bring
 * exactly the table's size, and a frame request that queues 40 chunks of 4096 bytes.
 * A frame request is refused with a stall until the start-up is complete (identify,
 * every table, 0xB6, then 0x12 = 1, 0xFE = 0xAA, 0x11 = 0) and while frozen
 * (0x11 = 1). Anything out of order is noted in an error log tests can read.
 *
 * Frames are paced: frame k becomes available no sooner than 1/fps after frame k-1.
 */
#include "emu_model.h"

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QCAP 8192
#define REPLY 512
#define SHORT_LEN 1000

typedef struct {
    int64_t due;
    const uint8_t *src;   /* chunk data, or NULL for an inline reply */
    int len;
    int off;              /* bytes already handed out (a transfer may take part of it) */
    int frame;            /* -1 for register replies */
    int chunk;
    bool last;            /* last chunk of its frame */
    bool unplug, stall;
    uint8_t reply[REPLY];
} pkt;

struct emu_model {
    cn_up20l_emu_opts o;
    uint8_t **frames;     /* payloads of rows*cols*2 bytes */
    int n_frames;
    size_t payload;
    int chunks;
    uint8_t *garbage;
    cn_rng rng;
    bool fired[4];

    /* protocol state */
    uint8_t regs[256];
    uint8_t sel;
    enum { EXP_NONE, EXP_PAIR, EXP_DATA } expect;
    int table_id;         /* -1 none */
    size_t table_need, table_got;
    unsigned tables_done; /* bit i: cn_up20l_table_ids[i] */
    int tgc4_done;
    bool identified, b6, started;

    int frames_requested;
    uint64_t frames_served;
    int64_t last_due;

    pkt *q;
    int q_head, q_len;
    bool halted;
    char errors[4096];
    int n_errors;
};

static void note(emu_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(emu_model *m, const char *fmt, ...)
{
    size_t used = strlen(m->errors);
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (used + strlen(line) + 2 < sizeof m->errors) {
        strcat(m->errors, line);
        strcat(m->errors, "\n");
    }
    m->n_errors++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_frames(emu_model *m, char *err, size_t err_len)
{
    const char *dir = m->o.frames_dir;
    DIR *dp = dir ? opendir(dir) : NULL;
    if (!dp) {
        snprintf(err, err_len, "emulator: cannot open frames folder %s: %s", dir ? dir : "(none)",
                 strerror(errno));
        return CN_ENOENT;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) && n < 256) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".raw") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int rc = n ? CN_OK : CN_ENOENT;
    if (!n)
        snprintf(err, err_len, "emulator: no *.raw frames in %s", dir);
    m->frames = calloc((size_t)(n ? n : 1), sizeof *m->frames);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        uint8_t *raw = (uint8_t *)cn_file_read_all(path, &len);
        if (rc == CN_OK && (!raw || len != CN_UP20L_FRAME_BYTES)) {
            snprintf(err, err_len, "emulator: %s has %zu bytes, expected %d (512 x 160 uint16)",
                     path, raw ? len : 0, CN_UP20L_FRAME_BYTES);
            rc = CN_EPARSE;
        }
        if (rc == CN_OK) {
            /* Tile the probe's 512 x 160 frame over a larger payload (benchmarks). */
            uint8_t *p = malloc(m->payload);
            for (int r = 0; p && r < m->o.rows; r++)
                for (int c = 0; c < m->o.cols; c++) {
                    size_t s = ((size_t)(r % CN_UP20L_ROWS) * CN_UP20L_COLS + (size_t)(c % CN_UP20L_COLS)) * 2;
                    size_t d = ((size_t)r * (size_t)m->o.cols + (size_t)c) * 2;
                    p[d] = raw[s];
                    p[d + 1] = raw[s + 1];
                }
            m->frames[m->n_frames++] = p;
            if (!p)
                rc = CN_ENOMEM;
        }
        free(raw);
        free(names[i]);
    }
    return rc;
}

emu_model *emu_model_new(const cn_up20l_emu_opts *o, char *err, size_t err_len)
{
    emu_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->o = *o;
    if (m->o.rows <= 0 || m->o.cols <= 0) {
        m->o.rows = CN_UP20L_ROWS;
        m->o.cols = CN_UP20L_COLS;
    }
    m->payload = (size_t)m->o.rows * (size_t)m->o.cols * 2;
    if (m->payload % CN_UP20L_CHUNK != 0 || m->payload / CN_UP20L_CHUNK > 1024) {
        snprintf(err, err_len, "emulator: payload %d x %d is not a whole number of 4096-byte chunks",
                 m->o.rows, m->o.cols);
        free(m);
        return NULL;
    }
    m->chunks = (int)(m->payload / CN_UP20L_CHUNK);
    m->q = calloc(QCAP, sizeof *m->q);
    m->garbage = malloc(m->payload);
    if (!m->q || !m->garbage || load_frames(m, err, err_len) != CN_OK) {
        emu_model_free(m);
        return NULL;
    }
    cn_rng_seed(&m->rng, 7);
    emu_model_reset(m);
    return m;
}

void emu_model_free(emu_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_frames; i++)
        free(m->frames[i]);
    free(m->frames);
    free(m->q);
    free(m->garbage);
    free(m);
}

void emu_model_reset(emu_model *m)
{
    memset(m->regs, 0, sizeof m->regs);
    m->regs[0x11] = 1; /* powers up frozen */
    m->sel = 0;
    m->expect = EXP_NONE;
    m->table_id = -1;
    m->table_need = m->table_got = 0;
    m->tables_done = 0;
    m->tgc4_done = 0;
    m->identified = m->b6 = m->started = false;
    m->q_head = m->q_len = 0;
    m->halted = false;
    m->last_due = 0;
}

static pkt *push(emu_model *m)
{
    if (m->q_len >= QCAP)
        return NULL;
    pkt *p = &m->q[(m->q_head + m->q_len++) % QCAP];
    memset(p, 0, offsetof(pkt, reply));
    return p;
}

static void queue_reply(emu_model *m, uint8_t b0, uint8_t b1, int64_t now)
{
    pkt *p = push(m);
    if (!p)
        return;
    memset(p->reply, 0, REPLY);
    p->reply[0] = b0;
    p->reply[1] = b1;
    p->len = REPLY;
    p->frame = -1;
    p->due = now;
}

static cn_emu_fault *fault_at(emu_model *m, cn_emu_fault_kind kind, int frame)
{
    for (int i = 0; i < m->o.n_faults; i++)
        if (!m->fired[i] && m->o.faults[i].kind == kind && m->o.faults[i].at_frame == frame) {
            m->fired[i] = true;
            return &m->o.faults[i];
        }
    return NULL;
}

static int queue_frame(emu_model *m, int64_t now)
{
    if (m->q_len + m->chunks > QCAP)
        return -EPIPE;
    int k = m->frames_requested++;
    int64_t period = m->o.fps > 0 ? (int64_t)(1e9 / m->o.fps) : 0;
    int64_t due = now + 200000; /* the probe needs a moment to answer */
    if (m->last_due && due < m->last_due + period)
        due = m->last_due + period;
    m->last_due = due;
    const uint8_t *src = m->frames[k % m->n_frames];
    if (fault_at(m, CN_EMU_FAULT_GARBAGE, k)) {
        for (size_t i = 0; i < m->payload; i += 8) {
            uint64_t r = cn_rng_next(&m->rng);
            memcpy(m->garbage + i, &r, m->payload - i < 8 ? m->payload - i : 8);
        }
        src = m->garbage;
    }
    cn_emu_fault *late = fault_at(m, CN_EMU_FAULT_LATE, k);
    bool unplug = fault_at(m, CN_EMU_FAULT_UNPLUG, k) != NULL;
    bool stall = fault_at(m, CN_EMU_FAULT_STALL, k) != NULL;
    bool short_one = fault_at(m, CN_EMU_FAULT_SHORT, k) != NULL;
    for (int c = 0; c < m->chunks; c++) {
        pkt *p = push(m);
        p->src = src + (size_t)c * CN_UP20L_CHUNK;
        p->len = (short_one && c == 10) ? SHORT_LEN : CN_UP20L_CHUNK;
        p->frame = k;
        p->chunk = c;
        p->last = c == m->chunks - 1;
        p->due = due + ((late && c >= 10) ? (int64_t)late->arg_ms * 1000000 : 0);
        p->unplug = unplug && c == m->chunks / 2;
        p->stall = stall && c == 0;
    }
    return 0;
}

static void end_data_stage(emu_model *m)
{
    if (m->expect == EXP_DATA && m->table_got != m->table_need)
        note(m, "table 0x%02x: data stage brought %zu of %zu bytes", m->table_id, m->table_got, m->table_need);
    m->expect = EXP_NONE;
}

int emu_model_control(emu_model *m, const uint8_t s[8], uint8_t *data, int len, int *actual,
                      int64_t now)
{
    uint8_t bm = s[0], br = s[1];
    int wv = s[2] | s[3] << 8;
    *actual = 0;
    if (m->expect == EXP_DATA)
        end_data_stage(m);
    if ((bm & 0x60) == 0x00) /* standard requests: configuration/feature/interface only */
        return (br == 0x09 || br == 0x01 || br == 0x0B) ? 0 : -EPIPE;
    if (bm == 0xC0 && br == 0xB8) {
        static const uint8_t id[12] = {0xb8, 0, 1, 0, 'H', 'E', 'A', 'L', 'S', 'O', 'N', 0};
        static const uint8_t other[12] = {0xa0, 0x13, 0x86, 0, 'F', 'X', '2', 'B', 'O', 'A', 'R', 'D'};
        int n = wv == 0 ? 12 : 18;
        n = n < len ? n : len;
        memset(data, 0, (size_t)len);
        memcpy(data, m->o.not_healson ? other : id, (size_t)(n < 12 ? n : 12));
        *actual = n;
        m->identified = true;
        return 0;
    }
    if (bm != 0x40)
        return -EPIPE;
    if (br == 0xB2) {
        if (wv == 1) {
            m->expect = EXP_PAIR;
        } else if (wv == 2) {
            if (m->table_id < 0) {
                note(m, "data stage (0xB2 wValue 2) without a table selected");
                return -EPIPE;
            }
            m->expect = EXP_DATA;
            m->table_got = 0;
        } else {
            return -EPIPE;
        }
        return 0;
    }
    if (br == 0xB3) {
        if (wv == 1) {
            queue_reply(m, m->sel, m->regs[m->sel], now);
        } else if (wv == 2) {
            queue_reply(m, 0x0E, 0, now);
        } else if (wv == 0) {
            if (!m->started || m->regs[0x11] == 1)
                return -EPIPE; /* refused: not started, or frozen */
            return queue_frame(m, now);
        } else {
            return -EPIPE;
        }
        return 0;
    }
    if (br == 0xB6) {
        unsigned all = (1u << CN_UP20L_N_TABLES) - 1;
        if (!m->identified || m->tables_done != all || m->tgc4_done < CN_UP20L_TGC4_WRITES)
            note(m, "0xB6 before identify and every table (tables mask 0x%x, %d tgc words)",
                 m->tables_done, m->tgc4_done);
        m->b6 = true;
        return 0;
    }
    return -EPIPE;
}

void emu_model_bulk_out(emu_model *m, const uint8_t *d, int len)
{
    if (m->expect == EXP_PAIR) {
        m->expect = EXP_NONE;
        if (len != 2) {
            note(m, "register pair of %d bytes", len);
            return;
        }
        uint8_t a = d[0], v = d[1];
        if (a == 0xFF) {
            m->sel = v;
        } else if (a == 0x10) {
            m->table_id = v;
            m->table_need = v == 0x04 ? 4 : v == 0x0E ? 0 : cn_up20l_table_size(v);
            if (m->table_need == 0 && v != 0x0E)
                note(m, "unknown table id 0x%02x", v);
        } else {
            m->regs[a] = v;
            if (a == 0x11 && v == 0 && m->b6 && m->regs[0x12] == 1 && m->regs[0xFE] == 0xAA)
                m->started = true;
        }
        return;
    }
    if (m->expect == EXP_DATA) {
        m->table_got += (size_t)len;
        if (m->table_got > m->table_need) {
            note(m, "table 0x%02x: more than its %zu bytes", m->table_id, m->table_need);
            m->expect = EXP_NONE;
        } else if (m->table_got == m->table_need) {
            if (m->table_id == 0x04) {
                m->tgc4_done++;
            } else {
                for (int i = 0; i < CN_UP20L_N_TABLES; i++)
                    if (cn_up20l_table_ids[i] == m->table_id)
                        m->tables_done |= 1u << i;
            }
            m->expect = EXP_NONE;
        }
        return;
    }
    note(m, "bulk OUT of %d bytes outside a register write or table", len);
}

bool emu_model_in_peek(emu_model *m, int64_t *due)
{
    if (m->q_len == 0)
        return false;
    *due = m->q[m->q_head].due;
    return true;
}

static void pop(emu_model *m)
{
    m->q_head = (m->q_head + 1) % QCAP;
    m->q_len--;
}

int emu_model_in_take(emu_model *m, uint8_t *dst, int max, bool *short_end, bool *unplug_now,
                      int *replug_ms)
{
    *unplug_now = false;
    *short_end = false;
    if (m->halted)
        return -EPIPE;
    if (m->q_len == 0)
        return 0;
    pkt *p = &m->q[m->q_head];
    if (p->unplug && p->off == 0) {
        *unplug_now = true;
        for (int i = 0; i < m->o.n_faults; i++)
            if (m->o.faults[i].kind == CN_EMU_FAULT_UNPLUG && m->o.faults[i].at_frame == p->frame)
                *replug_ms = m->o.faults[i].arg_ms;
        m->q_len = 0;
        return 0;
    }
    if (p->stall && p->off == 0) {
        m->halted = true;
        int f = p->frame;
        while (m->q_len && m->q[m->q_head].frame == f)
            pop(m);
        return -EPIPE;
    }
    /* USB bulk semantics: a packet group of len bytes is len/512 full packets plus a
     * short one when len is not a multiple of 512; a transfer takes what fits and ends
     * at a short packet. */
    int n = p->len - p->off < max ? p->len - p->off : max;
    memcpy(dst, (p->src ? p->src : p->reply) + p->off, (size_t)n);
    p->off += n;
    if (p->off == p->len) {
        *short_end = p->len % 512 != 0;
        if (p->last)
            m->frames_served++;
        pop(m);
    }
    return n;
}

bool emu_model_halted(emu_model *m) { return m->halted; }

void emu_model_clear_halt(emu_model *m)
{
    m->halted = false;
    m->q_len = 0;
}

uint64_t emu_model_frames_served(emu_model *m) { return m->frames_served; }

int emu_model_errors(emu_model *m, char *out, size_t out_len)
{
    if (out && out_len)
        cn_strlcpy(out, m->errors, out_len);
    return m->n_errors;
}
