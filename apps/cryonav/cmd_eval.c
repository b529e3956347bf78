/*
 * cmd_eval.c - `cryonav eval nerve|needle|sim ...`: accuracy of the image
 * analysis measured on data with ground truth, runnable by anyone.
 *
 *   eval nerve IMAGES MASKS [IMAGES MASKS ...] [--seeded] [--method find|dp|cnn]
 *       [--model live|fold|us|fem|N] [--folds mod|block] ...  (eval_nerve.c)
 *   eval needle FRAMES MASKS  (eval_needle.c)
 *   eval sim [--seeds N]      (eval_sim.c)
 */
#include "commands.h"
#include "eval.h"

#include "imaging/imaging.h"
#include "segment/segment.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cn_eval_list_png(const char *dir, char ***names_out, int *n_out, char *err, size_t err_len)
{
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_len, "%s: cannot open folder", dir);
        return CN_ENOENT;
    }
    int cap = 64, n = 0;
    char **names = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcasecmp(e->d_name + len - 4, ".png") != 0)
            continue;
        if (n == cap) {
            cap *= 2;
            char **nn = realloc(names, sizeof(char *) * (size_t)cap);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!names) {
        snprintf(err, err_len, "%s: out of memory", dir);
        return CN_ENOMEM;
    }
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    if (n == 0) {
        free(names);
        snprintf(err, err_len, "%s: no .png files", dir);
        return CN_ENOENT;
    }
    *names_out = names;
    *n_out = n;
    return CN_OK;
}

void cn_eval_free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void cn_eval_progress(int done, int total)
{
    int bar = 30, fill = total > 0 ? done * bar / total : bar;
    fprintf(stderr, "\r[%.*s%.*s] %d/%d", fill, "##############################", bar - fill,
            "..............................", done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cn_eval_median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int cn_cmd_eval(int argc, char **argv)
{
    /* each mode parses its own options, --help included */
    if (argc >= 2 && strcmp(argv[1], "nerve") == 0)
        return cn_eval_nerve(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "needle") == 0)
        return cn_eval_needle(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sim") == 0)
        return cn_eval_sim(argc - 1, argv + 1);
    if (argc < 2 || cn_app_wants_help(argc, argv)) {
        /* asked for: stdout and exit 0; no mode given: a usage error on stderr */
        fprintf(argc < 2 ? stderr : stdout, "usage: cryonav eval nerve IMAGES MASKS [options]\n"
               "       cryonav eval needle FRAMES MASKS [options]\n"
               "       cryonav eval sim [options]\n"
               "Measures the image analysis against ground truth (see docs/validation.md):\n"
               "nerve: the nerve segmentation on real images and masks; needle: the needle\n"
               "detector and tracker on frames and masks, or on randomised simulator scenes;\n"
               "sim: the whole analysis on simulated sessions (needle, ice front, nerve).\n\n"
               "options:\n"
               "  -h, --help           this help; 'cryonav eval MODE --help' describes a mode's\n"
               "                       options and outputs\n\n"
               "outputs: stdout (per item, then the means; a progress bar on stderr). Last\n"
               "line: nerve 'mean dice <x>'; needle 'mean angle_err_deg <x> line_dist_px <y>\n"
               "detected <k>/<n>'; sim 'mean tip_err_mm <x> angle_err_deg <y> ...'.\n");
        return argc < 2 ? 2 : 0;
    }
    return cn_app_usage_error("eval", "unknown evaluation '%s' (nerve, needle or sim)", argv[1]);
}
