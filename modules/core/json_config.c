/* json_config.c - typed reads of a JSON configuration with errors a user can act on.
 *
 * jansson parses the document and reports the line of a syntax error, but its
 * values do not remember where they came from. To name the line of a key whose
 * value is wrong (a string where a number belongs, a typo'd key), we keep the
 * text and re-scan it with a tiny tokenizer that tracks the current key path;
 * the scan runs only when there is an error to report, never on the happy path.
 * Paths are dotted with optional indices: "sim.nerve.depth_mm", "protocols[1].name".
 *
 * Layers: a configuration may be several files, each one patching the one below
 * (the shipped defaults, then the user's file, then --config) the way RFC 7386
 * "JSON Merge Patch" says: objects merge key by key, any other value replaces,
 * null removes. The document keeps every layer's own tree and text, so an error
 * (and `cryonav config --print`) names the file and line the value came from,
 * not the defaults it overrode. */
#include "core/core.h"
#include "json_lines.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    json_t *root;        /* the layer as written (never patched) */
    char *text;
    char label[512];
} layer;

struct cn_json {
    json_t *root;        /* the effective document (all layers merged) */
    char *text;
    char label[512];
    layer *layers;       /* NULL until a merge: then [0] is the first document */
    int n_layers;
};

static cn_json *wrap(json_t *root, const char *text, const char *label)
{
    cn_json *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->root = root;
    d->text = strdup(text);
    cn_strlcpy(d->label, label ? label : "(config)", sizeof d->label);
    if (!d->text) {
        free(d);
        return NULL;
    }
    return d;
}

cn_json *cn_json_parse(const char *text, const char *label, char *err, size_t err_len)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, err_len, "%s:%d:%d: invalid JSON: %s", label ? label : "(config)", je.line,
                 je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, err_len, "%s:1: the configuration must be a JSON object ({...})",
                 label ? label : "(config)");
        json_decref(root);
        return NULL;
    }
    cn_json *d = wrap(root, text, label);
    if (!d) {
        json_decref(root);
        snprintf(err, err_len, "%s: out of memory", label);
    }
    return d;
}

cn_json *cn_json_load(const char *path, char *err, size_t err_len)
{
    size_t len = 0;
    char why[600] = "";
    /* a session, a catalogue: kilobytes; 16 MiB is far beyond any real one */
    char *text = cn_file_read(path, (size_t)16 << 20, &len, why, sizeof why);
    if (!text) {
        const size_t pl = strlen(path);
        snprintf(err, err_len, "%s: cannot read configuration file: %s", path,
                 strncmp(why, path, pl) == 0 && why[pl] == ':' ? why + pl + 2 : why);
        return NULL;
    }
    if (strlen(text) != len) {
        snprintf(err, err_len, "%s: not a text file (contains a NUL byte)", path);
        free(text);
        return NULL;
    }
    cn_json *d = cn_json_parse(text, path, err, err_len);
    free(text);
    return d;
}

void cn_json_free(cn_json *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n_layers; i++) {
        json_decref(d->layers[i].root);
        free(d->layers[i].text);
    }
    free(d->layers);
    json_decref(d->root);
    free(d->text);
    free(d);
}

/* RFC 7386: patch `p` into `t` (which it may replace); returns the new value (a
 * new reference), NULL on out of memory. */
static json_t *merge_patch(json_t *t, json_t *p)
{
    if (!json_is_object(p))
        return json_deep_copy(p);
    json_t *out = json_is_object(t) ? json_deep_copy(t) : json_object();
    if (!out)
        return NULL;
    const char *key;
    json_t *val;
    json_object_foreach(p, key, val)
    {
        if (json_is_null(val)) {
            json_object_del(out, key);
            continue;
        }
        json_t *m = merge_patch(json_object_get(out, key), val);
        if (!m || json_object_set_new(out, key, m) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int push_layer(cn_json *d, json_t *root, const char *text, const char *label)
{
    layer *nl = realloc(d->layers, sizeof *nl * (size_t)(d->n_layers + 1));
    if (!nl)
        return CN_ENOMEM;
    d->layers = nl;
    layer *l = &d->layers[d->n_layers];
    l->root = json_deep_copy(root);
    l->text = strdup(text);
    if (!l->root || !l->text) {
        json_decref(l->root);
        free(l->text);
        return CN_ENOMEM;
    }
    cn_strlcpy(l->label, label, sizeof l->label);
    d->n_layers++;
    return CN_OK;
}

int cn_json_merge(cn_json *base, const cn_json *over, char *err, size_t err_len)
{
    if (!base || !over) {
        cn_errf(err, err_len, "config", "nothing to merge");
        return CN_EINVAL;
    }
    int rc = CN_OK;
    if (base->n_layers == 0)
        rc = push_layer(base, base->root, base->text, base->label);
    if (rc == CN_OK && over->n_layers == 0)
        rc = push_layer(base, over->root, over->text, over->label);
    for (int i = 0; rc == CN_OK && i < over->n_layers; i++)
        rc = push_layer(base, over->layers[i].root, over->layers[i].text, over->layers[i].label);
    json_t *merged = rc == CN_OK ? merge_patch(base->root, over->root) : NULL;
    if (!merged) {
        cn_errf(err, err_len, over->label, "out of memory while merging the configuration");
        return CN_ENOMEM;
    }
    json_decref(base->root);
    base->root = merged;
    return CN_OK;
}

int cn_json_layers(const cn_json *d) { return d ? (d->n_layers ? d->n_layers : 1) : 0; }

const char *cn_json_layer_label(const cn_json *d, int i)
{
    if (!d || i < 0 || i >= cn_json_layers(d))
        return NULL;
    return d->n_layers ? d->layers[i].label : d->label;
}

const char *cn_json_label(const cn_json *d) { return d->label; }

/* Walks the path in a jansson tree. */
static json_t *lookup_in(json_t *cur, const char *path)
{
    if (!path || !*path)
        return cur;
    const char *p = path;
    char seg[1024]; /* before 128: a longer key was blamed on the shipped file (audit I7) */
    while (*p && cur) {
        /* the rest of the path as one key first: a key may hold '.' (a transform name
         * in igtl.source.map, a typo like "fps.x"), which the dotted path cannot split */
        size_t whole = strcspn(p, "[");
        if (json_is_object(cur) && whole > 0 && whole < sizeof seg &&
            memchr(p, '.', whole) != NULL) {
            memcpy(seg, p, whole);
            seg[whole] = 0;
            json_t *v = json_object_get(cur, seg);
            if (v) {
                cur = v;
                p += whole;
                continue;
            }
        }
        size_t n = strcspn(p, ".[");
        if (n >= sizeof seg)
            return NULL;
        if (n > 0) {
            memcpy(seg, p, n);
            seg[n] = 0;
            if (!json_is_object(cur))
                return NULL;
            cur = json_object_get(cur, seg);
            p += n;
        }
        while (cur && *p == '[') {
            char *end;
            long idx = strtol(p + 1, &end, 10);
            if (*end != ']' || !json_is_array(cur))
                return NULL;
            cur = json_array_get(cur, (size_t)idx);
            p = end + 1;
        }
        if (*p == '.')
            p++;
    }
    return cur;
}

static json_t *lookup(const cn_json *d, const char *path) { return lookup_in(d->root, path); }

/* The layer that gave the value at path: the top-most one that has it; for a path no
 * layer has as such (a key holding '.', which the dotted path cannot name), the top-most
 * one that has its longest prefix (before, the shipped defaults were blamed for a typo
 * in the user's file: input audit I7). */
static void origin_of(const cn_json *d, const char *path, const char **text, const char **label)
{
    *text = d->text;
    *label = d->label;
    char pre[1024];
    cn_strlcpy(pre, path ? path : "", sizeof pre);
    for (;;) {
        for (int i = d->n_layers - 1; i >= 0; i--) {
            json_t *v = lookup_in(d->layers[i].root, pre);
            if (v && !json_is_null(v)) {
                *text = d->layers[i].text;
                *label = d->layers[i].label;
                return;
            }
        }
        char *dot = strrchr(pre, '.');
        if (!dot || !pre[0])
            return;
        *dot = 0; /* a key the layers do not hold (a path too long): its object's layer */
    }
}

int cn_json_origin(const cn_json *d, const char *path, const char **label, int *line)
{
    if (!d || !lookup(d, path))
        return CN_ENOENT;
    const char *text, *lab;
    origin_of(d, path, &text, &lab);
    if (label)
        *label = lab;
    if (line)
        *line = cn__json_line_of(text, path);
    return CN_OK;
}

void cn_json_error(const cn_json *d, const char *path, char *err, size_t err_len, const char *fmt, ...)
{
    char msg[1280]; /* a key list (unknown key) can be long */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *text, *label;
    origin_of(d, path, &text, &label);
    int line = cn__json_line_of(text, path);
    if (line > 0)
        snprintf(err, err_len, "%s:%d: %s: %s", label, line, path, msg);
    else
        snprintf(err, err_len, "%s: %s: %s", label, path, msg);
}

/* Depth-first over objects; everything else (arrays included) is a leaf. */
static int leaves_rec(json_t *v, char *path, size_t cap, size_t used,
                      void (*fn)(void *, const char *, const char *), void *ctx)
{
    if (json_is_object(v) && json_object_size(v) > 0) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            int w = snprintf(path + used, cap - used, "%s%s", used ? "." : "", key);
            if (w < 0 || (size_t)w >= cap - used)
                return CN_ERANGE;
            int rc = leaves_rec(val, path, cap, used + (size_t)w, fn, ctx);
            path[used] = 0;
            if (rc != CN_OK)
                return rc;
        }
        return CN_OK;
    }
    /* 15 significant digits: 3.3 prints as 3.3, not 3.2999999999999998 */
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!text)
        return CN_ENOMEM;
    fn(ctx, path, text);
    free(text);
    return CN_OK;
}

int cn_json_leaves(const cn_json *d, void (*fn)(void *ctx, const char *path, const char *value),
                   void *ctx)
{
    char path[1024] = "";
    return d && fn ? leaves_rec(d->root, path, sizeof path, 0, fn, ctx) : CN_EINVAL;
}

/* cn_json_leaves_origin: each leaf's origin, with one line index per layer text
 * (built at its first use) instead of a scan of the whole text per leaf */
typedef struct {
    const cn_json *d;
    void (*fn)(void *, const char *, const char *, const char *, int);
    void *ctx;
    cn__json_lines **idx; /* [n_layers + 1]: the layers', then the document's own text */
} origin_walk;

static void origin_leaf(void *c, const char *path, const char *value)
{
    origin_walk *w = c;
    const char *text, *label;
    origin_of(w->d, path, &text, &label);
    int slot = w->d->n_layers;
    for (int i = 0; i < w->d->n_layers; i++)
        if (w->d->layers[i].text == text)
            slot = i;
    if (!w->idx[slot])
        w->idx[slot] = cn__json_lines_new(text);
    const int line = w->idx[slot] ? cn__json_lines_find(w->idx[slot], path)
                                  : cn__json_line_of(text, path); /* out of memory */
    w->fn(w->ctx, path, value, label, line);
}

int cn_json_leaves_origin(const cn_json *d,
                          void (*fn)(void *ctx, const char *path, const char *value,
                                     const char *label, int line),
                          void *ctx)
{
    if (!d || !fn)
        return CN_EINVAL;
    origin_walk w = {d, fn, ctx, calloc((size_t)d->n_layers + 1, sizeof(cn__json_lines *))};
    if (!w.idx)
        return CN_ENOMEM;
    int rc = cn_json_leaves(d, origin_leaf, &w);
    for (int i = 0; i <= d->n_layers; i++)
        cn__json_lines_free(w.idx[i]);
    free(w.idx);
    return rc;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

bool cn_json_has(const cn_json *d, const char *path) { return lookup(d, path) != NULL; }

void *cn_json_raw(const cn_json *d, const char *path) { return lookup(d, path); }

int cn_json_get_number(const cn_json *d, const char *path, double min, double max, double *out,
                       char *err, size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_number(v)) {
        cn_json_error(d, path, err, err_len, "expected a number, got %s", type_name(v));
        return CN_EINVAL;
    }
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max) {
        cn_json_error(d, path, err, err_len, "%g is outside the allowed range [%g, %g]", x, min, max);
        return CN_EINVAL;
    }
    *out = x;
    return CN_OK;
}

int cn_json_get_int(const cn_json *d, const char *path, long min, long max, long *out, char *err,
                    size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_integer(v)) {
        cn_json_error(d, path, err, err_len, "expected a whole number, got %s",
                      json_is_real(v) ? "a fractional number" : type_name(v));
        return CN_EINVAL;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        cn_json_error(d, path, err, err_len, "%lld is outside the allowed range [%ld, %ld]",
                      (long long)x, min, max);
        return CN_EINVAL;
    }
    *out = (long)x;
    return CN_OK;
}

int cn_json_get_bool(const cn_json *d, const char *path, bool *out, char *err, size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_boolean(v)) {
        cn_json_error(d, path, err, err_len, "expected true or false, got %s", type_name(v));
        return CN_EINVAL;
    }
    *out = json_is_true(v);
    return CN_OK;
}

int cn_json_get_string(const cn_json *d, const char *path, char *out, size_t out_len, char *err,
                       size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_string(v)) {
        cn_json_error(d, path, err, err_len, "expected a string, got %s", type_name(v));
        return CN_EINVAL;
    }
    const char *s = json_string_value(v);
    if (strlen(s) >= out_len) {
        cn_json_error(d, path, err, err_len, "string longer than %zu characters", out_len - 1);
        return CN_EINVAL;
    }
    cn_strlcpy(out, s, out_len);
    return CN_OK;
}

int cn_json_get_numbers(const cn_json *d, const char *path, double *out, int n, char *err,
                        size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_array(v) || json_array_size(v) != (size_t)n) {
        cn_json_error(d, path, err, err_len, "expected an array of %d numbers", n);
        return CN_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_number(e) || !isfinite(json_number_value(e))) {
            cn_json_error(d, path, err, err_len, "element %d is not a finite number", i);
            return CN_EINVAL;
        }
        out[i] = json_number_value(e);
    }
    return CN_OK;
}

int cn_json_check_keys(const cn_json *d, const char *path, const char *const *allowed, char *err,
                       size_t err_len)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_object(v)) {
        cn_json_error(d, path && *path ? path : "(root)", err, err_len, "expected an object, got %s",
                      type_name(v));
        return CN_EINVAL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = true;
        if (!ok) {
            char full[512], known[1024] = "";
            snprintf(full, sizeof full, "%s%s%s", path && *path ? path : "", path && *path ? "." : "",
                     key);
            size_t used = 0;
            const char *const *a = allowed;
            for (; *a && used < sizeof known - 48; a++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         a == allowed ? "" : ", ", *a);
            if (*a) /* say the list goes on (before, the sim's last nine keys went unsaid) */
                snprintf(known + used, sizeof known - used, ", ... (see the guide)");
            cn_json_error(d, full, err, err_len, "unknown key (known keys: %s)", known);
            return CN_EINVAL;
        }
    }
    return CN_OK;
}

int cn_json_array_size(const cn_json *d, const char *path)
{
    json_t *v = lookup(d, path);
    if (!v)
        return CN_ENOENT;
    if (!json_is_array(v))
        return CN_EINVAL;
    return (int)json_array_size(v);
}
