/*
 * json_lines.c - the line a configuration's key is written on, for errors and for
 * `cryonav config --print`.
 *
 * The idea: jansson's values do not remember where they came from, so the text is
 * scanned by a tiny tokenizer that tracks the current key path. An error scans once
 * for one path (cn__json_line_of). Printing every value did that for each of them,
 * each scan reading the whole file: 10,000 values took 10 s and 30,000 more than a
 * minute (input audit I8). cn__json_lines scans once and keeps every path's line,
 * sorted, so each look-up is a binary search.
 */
#include "json_lines.h"

#include "core/core.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool is_obj;
    long index;          /* arrays: current element index */
    char key[128];       /* objects: current key */
} level;

static void build_path(const level *st, int depth, char *out, size_t len)
{
    out[0] = 0;
    size_t used = 0;
    for (int i = 0; i < depth; i++) {
        int w;
        if (st[i].is_obj)
            w = snprintf(out + used, len - used, "%s%s", used ? "." : "", st[i].key);
        else
            w = snprintf(out + used, len - used, "[%ld]", st[i].index);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

/* Calls visit(ctx, path, line) for every key (the line it is written on) and array
 * element (the line its value starts on), in file order, until visit returns true.
 * Returns the line visit stopped at, 0 when it never did. */
static int scan(const char *text, bool (*visit)(void *ctx, const char *path, int line), void *ctx)
{
    level st[64];
    int depth = 0, line = 1;
    bool expect_key = false;
    char cur[1024];
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (c == '\n') {
            line++;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == 64)
                return 0;
            st[depth].is_obj = (c == '{');
            st[depth].index = 0;
            st[depth].key[0] = 0;
            depth++;
            expect_key = (c == '{');
            if (c == '[') { /* the first element's value starts here */
                build_path(st, depth, cur, sizeof cur);
                const char *q = p + 1;
                int l2 = line;
                while (*q && isspace((unsigned char)*q)) {
                    if (*q == '\n')
                        l2++;
                    q++;
                }
                if (*q != ']' && visit(ctx, cur, l2))
                    return l2;
            }
            continue;
        }
        if (c == '}' || c == ']') {
            if (depth > 0)
                depth--;
            expect_key = false;
            continue;
        }
        if (c == ',') {
            if (depth > 0 && st[depth - 1].is_obj)
                expect_key = true;
            else if (depth > 0) {
                st[depth - 1].index++;
                build_path(st, depth, cur, sizeof cur);
                /* the element starts at the next token */
                int l2 = line;
                for (const char *q = p + 1; *q && isspace((unsigned char)*q); q++)
                    l2 += (*q == '\n');
                if (visit(ctx, cur, l2))
                    return l2;
            }
            continue;
        }
        if (c == '"') {
            const char *start = p + 1;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (*p == '\n')
                    line++;
                p++;
            }
            if (!*p)
                return 0;
            if (expect_key && depth > 0 && st[depth - 1].is_obj) {
                size_t n = (size_t)(p - start);
                if (n >= sizeof st[0].key)
                    n = sizeof st[0].key - 1;
                memcpy(st[depth - 1].key, start, n);
                st[depth - 1].key[n] = 0;
                expect_key = false;
                build_path(st, depth, cur, sizeof cur);
                if (visit(ctx, cur, line))
                    return line;
            }
        }
    }
    return 0;
}

static bool match(void *ctx, const char *path, int line)
{
    (void)line;
    return strcmp(path, ctx) == 0;
}

int cn__json_line_of(const char *text, const char *path)
{
    return text && path ? scan(text, match, (void *)path) : 0;
}

typedef struct {
    char *path;
    int line;
    int order; /* the first of two equal paths wins, as in a scan for one */
} entry;

struct cn__json_lines {
    entry *e;
    int n, cap;
    bool failed;
};

static bool collect(void *ctx, const char *path, int line)
{
    cn__json_lines *x = ctx;
    if (x->n == x->cap) {
        int nc = x->cap ? 2 * x->cap : 256;
        entry *ne = realloc(x->e, sizeof *ne * (size_t)nc);
        if (!ne) {
            x->failed = true;
            return true;
        }
        x->e = ne;
        x->cap = nc;
    }
    char *p = strdup(path);
    if (!p) {
        x->failed = true;
        return true;
    }
    x->e[x->n] = (entry){p, line, x->n};
    x->n++;
    return false;
}

static int by_path(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

cn__json_lines *cn__json_lines_new(const char *text)
{
    cn__json_lines *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (text)
        scan(text, collect, x);
    if (x->failed) {
        cn__json_lines_free(x);
        return NULL;
    }
    if (x->n > 1)
        qsort(x->e, (size_t)x->n, sizeof *x->e, by_path);
    return x;
}

int cn__json_lines_find(const cn__json_lines *x, const char *path)
{
    if (!x || !path)
        return 0;
    int lo = 0, hi = x->n; /* the first entry >= path */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(x->e[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && strcmp(x->e[lo].path, path) == 0 ? x->e[lo].line : 0;
}

void cn__json_lines_free(cn__json_lines *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n; i++)
        free(x->e[i].path);
    free(x->e);
    free(x);
}
