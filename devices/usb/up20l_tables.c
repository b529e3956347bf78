/*
 * up20l_tables.c - the UP20L calibration tables: loaded from the owner's folder,
 * never shipped.
 *
 * The vendor software uploads nine tables (ids and sizes are protocol facts from
 * captured traffic) plus seven 4-byte words after [0x10, 0x04]. Their contents are
 * the vendor's calibration data, which CryoNav does not distribute: the owner of a
 * probe puts one file per table in a folder (table_XX.bin, XX = hex id, and
 * tgc4.bin for the seven words) and the driver checks every size before it talks to
 * the probe, listing everything that is missing or wrong in one message.
 *
 * cn_up20l_tables_generate makes tables of the right sizes from a PRNG for the
 * emulator and the tests; they are test patterns, not calibration.
 */
#include "usb/usb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const uint8_t cn_up20l_table_ids[CN_UP20L_N_TABLES] = {0x00, 0x05, 0x06, 0x03, 0x0C,
                                                       0x0A, 0x09, 0x07, 0x08};
#define TGC4_BYTES (CN_UP20L_TGC4_WRITES * 4)

struct cn_up20l_tables {
    uint8_t *data[CN_UP20L_N_TABLES];
    size_t len[CN_UP20L_N_TABLES];
    uint8_t tgc4[TGC4_BYTES];
};

size_t cn_up20l_table_size(uint8_t id)
{
    switch (id) {
    case 0x00: return 960;
    case 0x03: return 256;
    case 0x05: return 16384;
    case 0x06: return 16384;
    case 0x0C: return 16384;
    case 0x0A: return 512;
    case 0x09: return 43904;
    case 0x07: return 256;  /* analog TGC */
    case 0x08: return 512;  /* digital TGC */
    default: return 0;
    }
}

void cn_up20l_table_filename(uint8_t id, char *out, size_t out_len)
{
    snprintf(out, out_len, "table_%02X.bin", id);
}

static int index_of(uint8_t id)
{
    for (int i = 0; i < CN_UP20L_N_TABLES; i++)
        if (cn_up20l_table_ids[i] == id)
            return i;
    return -1;
}

void cn_up20l_tables_free(cn_up20l_tables *t)
{
    if (!t)
        return;
    for (int i = 0; i < CN_UP20L_N_TABLES; i++)
        free(t->data[i]);
    free(t);
}

/* Appends "; " + text to a message buffer. */
static void append(char *err, size_t err_len, size_t *used, const char *text)
{
    if (!err || err_len == 0 || *used >= err_len - 1)
        return;
    int n = snprintf(err + *used, err_len - *used, "%s%s", *used ? "; " : "", text);
    if (n > 0)
        *used += (size_t)n < err_len - *used ? (size_t)n : err_len - *used - 1;
}

/* Reads exactly `want` bytes from dir/name into a new buffer. Returns NULL with a reason. */
static uint8_t *read_exact(const char *dir, const char *name, size_t want, char *why, size_t why_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_len, "%s missing (%zu bytes expected)", name, want);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != want) {
        snprintf(why, why_len, "%s has %lld bytes, expected %zu", name, (long long)st.st_size, want);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "%s cannot be read: %s", name, strerror(errno));
        return NULL;
    }
    uint8_t *buf = malloc(want);
    if (!buf || fread(buf, 1, want, f) != want) {
        snprintf(why, why_len, "%s: short read", name);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return buf;
}

int cn_up20l_tables_load(const char *dir, cn_up20l_tables **out, char *err, size_t err_len)
{
    *out = NULL;
    if (!dir || !dir[0]) {
        snprintf(err, err_len,
                 "no UP20L tables folder configured: the probe's calibration tables are not "
                 "distributed with CryoNav; put the owner's table files in a folder and set "
                 "\"tables_dir\" in config/probes/up20l.json or usb.tables_dir in the session");
        return CN_ENOENT;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "UP20L tables folder %s does not exist or is not a folder", dir);
        return CN_ENOENT;
    }
    cn_up20l_tables *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return CN_ENOMEM;
    }
    size_t used = 0;
    int missing = 0;
    char why[256], head[64];
    if (err && err_len)
        err[0] = 0;
    for (int i = 0; i < CN_UP20L_N_TABLES; i++) {
        char name[32];
        cn_up20l_table_filename(cn_up20l_table_ids[i], name, sizeof name);
        t->len[i] = cn_up20l_table_size(cn_up20l_table_ids[i]);
        t->data[i] = read_exact(dir, name, t->len[i], why, sizeof why);
        if (!t->data[i]) {
            append(err, err_len, &used, why);
            missing++;
        }
    }
    uint8_t *w = read_exact(dir, "tgc4.bin", TGC4_BYTES, why, sizeof why);
    if (!w) {
        append(err, err_len, &used, why);
        missing++;
    } else {
        memcpy(t->tgc4, w, TGC4_BYTES);
        free(w);
    }
    if (missing) {
        /* Prefix the list with the folder so the message stands alone. */
        char *list = strdup(err ? err : "");
        snprintf(head, sizeof head, "%d UP20L table file(s) unusable in ", missing);
        snprintf(err, err_len, "%s%s: %s", head, dir, list ? list : "");
        free(list);
        cn_up20l_tables_free(t);
        return CN_ENOENT;
    }
    *out = t;
    return CN_OK;
}

cn_up20l_tables *cn_up20l_tables_generate(uint64_t seed)
{
    cn_up20l_tables *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    for (int i = 0; i < CN_UP20L_N_TABLES; i++) {
        t->len[i] = cn_up20l_table_size(cn_up20l_table_ids[i]);
        t->data[i] = malloc(t->len[i]);
        if (!t->data[i]) {
            cn_up20l_tables_free(t);
            return NULL;
        }
        for (size_t k = 0; k < t->len[i]; k++)
            t->data[i][k] = (uint8_t)cn_rng_next(&rng);
    }
    for (int k = 0; k < TGC4_BYTES; k++)
        t->tgc4[k] = (uint8_t)cn_rng_next(&rng);
    return t;
}

static int write_file(const char *dir, const char *name, const uint8_t *data, size_t len, char *err,
                      size_t err_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return CN_EIO;
    }
    if (fclose(f) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        return CN_EIO;
    }
    return CN_OK;
}

int cn_up20l_tables_write(const cn_up20l_tables *t, const char *dir, char *err, size_t err_len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
        return CN_EIO;
    }
    for (int i = 0; i < CN_UP20L_N_TABLES; i++) {
        char name[32];
        cn_up20l_table_filename(cn_up20l_table_ids[i], name, sizeof name);
        int r = write_file(dir, name, t->data[i], t->len[i], err, err_len);
        if (r != CN_OK)
            return r;
    }
    return write_file(dir, "tgc4.bin", t->tgc4, TGC4_BYTES, err, err_len);
}

const uint8_t *cn_up20l_tables_get(const cn_up20l_tables *t, uint8_t id, size_t *len)
{
    int i = index_of(id);
    if (!t || i < 0) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->len[i];
    return t->data[i];
}

const uint8_t *cn_up20l_tables_tgc4(const cn_up20l_tables *t)
{
    return t ? t->tgc4 : NULL;
}
