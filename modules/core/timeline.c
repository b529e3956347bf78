/* timeline.c - a value kept by time, so that a step dated back can take back what the
 * frames after it said.
 *
 * The idea: a freeze stop keyed late and dated back (ICE SHRINKING keyed 25 s after the gas
 * stopped, the console's stop after an operator's early one) sends the model back to the
 * stop; the frames analysed in between counted cold and coverage that never came. Their
 * coldest target, largest coverage, lethal time and 0 C radius were kept in running
 * extremes and stayed (review 39b F5): the HUD, the end-of-run summary and the report read
 * the over-freeze. A timeline keeps a value's minimum, maximum, sum, first and last per
 * bin of time, so rewinding to the dated step drops the bins after it and the extremes are
 * those of what stands. The newest `keep` bins are kept; when full, the older half folds
 * into one set of extremes, so keep / 2 bins are always there (a step dated back further
 * is not taken back: none is). A clock that runs back by more than a bin (a live source
 * restarted) folds every bin: what came before stays counted, and is no longer taken back
 * (a rewind would have dropped cold that happened, review 40 F5).
 *
 * Written here: no Debian library keeps rewindable windowed extremes (GSL's moving-window
 * statistics slide forward only). It replaced two copies of the same buffer (the guidance's
 * coldest-target history and the report's coverage track). Cost: add is O(1) but for one
 * memmove of keep/2 bins every keep/2 bins; min/max/sum are O(keep) and are read on a
 * rewind or at the end, not per frame.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t t_first_ns, t_last_ns;
    double first, last, min, max, sum;
} tl_bin;

struct cn_timeline {
    int64_t bin_ns;
    int keep, n, cap; /* cap: bins allocated, grown as they fill, up to keep */
    tl_bin *bin;
    bool older_any; /* the folded bins, as one */
    tl_bin older;
};

cn_timeline *cn_timeline_new(int64_t bin_ns, int keep_bins)
{
    if (bin_ns < 1 || keep_bins < 2)
        return NULL;
    cn_timeline *tl = calloc(1, sizeof *tl);
    if (!tl)
        return NULL;
    /* grown as needed: a report of a short file holds a few bins, not keep_bins (the
     * report's four took 1.2 MB for a 5 KB file, over the fuzz test's bound) */
    tl->cap = keep_bins < 64 ? keep_bins : 64;
    tl->bin = malloc(sizeof tl->bin[0] * (size_t)tl->cap);
    if (!tl->bin) {
        free(tl);
        return NULL;
    }
    tl->bin_ns = bin_ns;
    tl->keep = keep_bins;
    return tl;
}

void cn_timeline_free(cn_timeline *tl)
{
    if (!tl)
        return;
    free(tl->bin);
    free(tl);
}

void cn_timeline_clear(cn_timeline *tl)
{
    if (!tl)
        return;
    tl->n = 0;
    tl->older_any = false;
}

static void bin_merge(tl_bin *into, const tl_bin *b)
{
    into->min = fmin(into->min, b->min);
    into->max = fmax(into->max, b->max);
    into->sum += b->sum;
    if (b->t_last_ns >= into->t_last_ns) {
        into->t_last_ns = b->t_last_ns;
        into->last = b->last;
    }
}

/* The oldest n bins folded into the one set of older extremes. */
static void fold_oldest(cn_timeline *tl, int n)
{
    for (int i = 0; i < n; i++) {
        if (!tl->older_any)
            tl->older = tl->bin[i];
        else
            bin_merge(&tl->older, &tl->bin[i]);
        tl->older_any = true;
    }
    tl->n -= n;
    memmove(tl->bin, tl->bin + n, sizeof tl->bin[0] * (size_t)tl->n);
}

void cn_timeline_add(cn_timeline *tl, int64_t t_ns, double v)
{
    if (!tl || isnan(v))
        return;
    /* (in double: a time of INT64_MIN, unset, must not overflow) */
    if (tl->n > 0 && (double)t_ns < (double)tl->bin[tl->n - 1].t_last_ns - (double)tl->bin_ns)
        fold_oldest(tl, tl->n);
    if (tl->n > 0) {
        tl_bin *b = &tl->bin[tl->n - 1];
        /* within the bin, or a clock that ran back by less than a bin: into the newest
         * bin, so the bins stay in order */
        if ((double)t_ns - (double)b->t_first_ns < (double)tl->bin_ns) {
            b->min = fmin(b->min, v);
            b->max = fmax(b->max, v);
            b->sum += v;
            if (t_ns >= b->t_last_ns) {
                b->t_last_ns = t_ns;
                b->last = v;
            }
            return;
        }
    }
    if (tl->n == tl->cap && tl->cap < tl->keep) {
        const int cap = tl->cap * 2 < tl->keep ? tl->cap * 2 : tl->keep;
        tl_bin *nb = realloc(tl->bin, sizeof nb[0] * (size_t)cap);
        if (nb) {
            tl->bin = nb;
            tl->cap = cap;
        }
    }
    if (tl->n == tl->cap) /* the older half folded into one (or no memory to grow) */
        fold_oldest(tl, tl->cap / 2);
    tl->bin[tl->n++] = (tl_bin){t_ns, t_ns, v, v, v, v, v};
}

void cn_timeline_rewind(cn_timeline *tl, int64_t t_ns)
{
    if (!tl)
        return;
    while (tl->n > 0 && tl->bin[tl->n - 1].t_first_ns > t_ns)
        tl->n--;
}

int cn_timeline_count(const cn_timeline *tl)
{
    return tl ? tl->n + (tl->older_any ? 1 : 0) : 0;
}

static tl_bin all_of(const cn_timeline *tl, bool *any)
{
    tl_bin a = {0};
    *any = false;
    if (!tl)
        return a;
    if (tl->older_any) {
        a = tl->older;
        *any = true;
    }
    for (int i = 0; i < tl->n; i++) {
        if (!*any)
            a = tl->bin[i];
        else
            bin_merge(&a, &tl->bin[i]);
        *any = true;
    }
    return a;
}

double cn_timeline_min(const cn_timeline *tl)
{
    bool any;
    tl_bin a = all_of(tl, &any);
    return any ? a.min : NAN;
}

double cn_timeline_max(const cn_timeline *tl)
{
    bool any;
    tl_bin a = all_of(tl, &any);
    return any ? a.max : NAN;
}

double cn_timeline_sum(const cn_timeline *tl)
{
    bool any;
    tl_bin a = all_of(tl, &any);
    return any ? a.sum : 0;
}

double cn_timeline_last_at(const cn_timeline *tl, int64_t t_ns)
{
    if (!tl)
        return NAN;
    for (int i = tl->n - 1; i >= 0; i--) {
        const tl_bin *b = &tl->bin[i];
        if (b->t_first_ns <= t_ns)
            return b->t_last_ns <= t_ns ? b->last : b->first; /* to one bin */
    }
    return tl->older_any && tl->older.t_last_ns <= t_ns ? tl->older.last : NAN;
}
