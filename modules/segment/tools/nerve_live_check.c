/*
 * nerve_live_check.c - what the live nerve stage (cn_segment_process, nerve_live.c)
 * shows over a run of frames, on real images: the measurements behind
 * docs/validation.md "Twenty-second session". `cryonav eval nerve` scores one frame
 * per image and never runs the live state machine (the finder's passes, block
 * matching, the hold, the operator's point), so a defect there is invisible to it.
 *
 *   nerve_live_check away LIST [DATA]   click at each mask's centroid, 12 frames of the
 *                                       image, 40 frames "away" (each nerve-free source's
 *                                       frames resized to the image, cycled; then a lifted
 *                                       probe, grey 0-15, and speckle, grey 0-153), 20 frames back: frames
 *                                       reported found (not held, not hidden) away, found
 *                                       back, the last frame's Dice
 *   nerve_live_check still LIST         the same image for 60 frames: Dice on frames 1, 2,
 *                                       30, 60 (does the outline the click drew stay?)
 *   nerve_live_check near LIST          does the live finder have a found part near a click
 *                                       at the centroid (and half a radius off)?
 *   nerve_live_check track FILE...      block matching between frames k and k + STEP
 *                                       (env, default 1) of real sequences: a nerve-sized
 *                                       circle at 60 % depth; how often it is held
 *   nerve_live_check sim SEED...        seeded at the simulator's nerve over its approach:
 *                                       frames found, mean Dice
 *
 * LIST: lines "IMAGE MASK". DATA: ../shared/data (the six nerve-free sources). Frames get
 * 0.06 mm pixels (the sets give none). A development tool, like needle_dev: built with
 * the tree so it keeps compiling, run by hand.
 */
#include "core/core.h"
#include "imaging/imaging.h"
#include "segment/segment.h"
#include "seqio/seqio.h"
#include "sim/sim.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_MM 0.06
#define N_SRC 8 /* six real sources, a lifted probe, speckle */
#define AWAY 40

typedef struct {
    int64_t t_ns;
    cn_frame_pool *pool;
    cn_frame *f, *tmp;
} ctx;

static void resize_nn(const uint8_t *s, int sw, int sh, uint8_t *d, int dw, int dh)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            d[(size_t)y * dw + x] = s[(size_t)(y * sh / dh) * sw + x * sw / dw];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Up to AWAY frames of source k at w x h into out[]; returns the count. */
static int load_source(ctx *c, const char *data, int k, int w, int h, uint8_t **out)
{
    static const char *seqs[4] = {"plus/SpinePhantomFreehand.igs.mha", "plus/BoneUltrasound_L14.igs.mha",
                                  "plus/NwirePhantomFreehand.igs.mha", "plus/Prostate10_video.igs.mhd"};
    static const char *dirs[2] = {"needle-us/xgts/sample/needle_14/image",
                                  "needle-us/xgts/tissue/needle_34/image"};
    char path[2048], err[512];
    int n = 0;
    if (k < 4) {
        snprintf(path, sizeof path, "%s/%s", data, seqs[k]);
        cn_seq_reader *r = cn_seq_reader_open(path, err, sizeof err);
        if (!r) {
            fprintf(stderr, "%s\n", err);
            return 0;
        }
        for (int i = 0; i < cn_seq_reader_info(r)->n_frames && n < AWAY; i++)
            if (cn_seq_reader_read_frame(r, i, c->tmp, err, sizeof err) == CN_OK &&
                (out[n] = malloc((size_t)w * h)))
                resize_nn(c->tmp->pixels, c->tmp->width, c->tmp->height, out[n++], w, h);
        cn_seq_reader_close(r);
    } else if (k < 6) {
        snprintf(path, sizeof path, "%s/%s", data, dirs[k - 4]);
        DIR *d = opendir(path);
        if (!d)
            return 0;
        char *names[256];
        int nn = 0;
        for (struct dirent *e; (e = readdir(d)) && nn < 256;)
            if (e->d_name[0] != '.')
                names[nn++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)nn, sizeof *names, cmp_str);
        for (int i = 0; i < nn; i++) {
            char p[2400];
            snprintf(p, sizeof p, "%s/%s", path, names[i]);
            cn_image *im = NULL;
            if (n < AWAY && cn_image_read(p, CN_IMAGE_GREY, &im, err, sizeof err) == CN_OK &&
                (out[n] = malloc((size_t)w * h)))
                resize_nn(im->px, im->w, im->h, out[n++], w, h);
            cn_image_free(im);
            free(names[i]);
        }
    } else { /* 6: a lifted probe, near-black speckle (grey 0-15); 7: speckle (grey 0-153) */
        uint32_t rs = 12345;
        for (; n < 20; n++) {
            if (!(out[n] = malloc((size_t)w * h)))
                break;
            for (size_t j = 0; j < (size_t)w * h; j++) {
                rs = rs * 1664525u + 1013904223u;
                out[n][j] = k == 6 ? (uint8_t)(rs >> 28) : (uint8_t)((rs >> 24) * 0.6);
            }
        }
    }
    return n;
}

static void process(ctx *c, cn_segment *seg, const uint8_t *px, int w, int h)
{
    cn_frame_set_size(c->f, w, h);
    memcpy(c->f->pixels, px, (size_t)w * h);
    c->f->spacing_mm[0] = c->f->spacing_mm[1] = SP_MM;
    c->f->t_acq_ns = c->t_ns += 50000000;
    cn_segment_process(seg, c->f);
}

static double dice_of(const cn_contour *nc, const uint8_t *mask, int w, int h, double spx, double spy)
{
    if (!nc->found || nc->n < 3)
        return 0;
    cn_pt2 px[CN_CONTOUR_MAX];
    for (int i = 0; i < nc->n; i++)
        px[i] = (cn_pt2){(float)(nc->pts_mm[i].x / spx - 0.5), (float)(nc->pts_mm[i].y / spy - 0.5)};
    uint8_t *poly = calloc((size_t)w * h, 1);
    if (!poly)
        return 0;
    cn_img_fill_polygon(poly, w, h, px, nc->n, 1);
    double d = cn_mask_dice(poly, mask, w, h);
    free(poly);
    return d;
}

static bool shown(const cn_contour *nc) { return nc->found && !nc->held && !nc->hidden; }

/* One pair of the list: the image, its mask and the click at the mask's centroid. */
typedef struct {
    cn_image *im, *mask;
    double cx, cy, area;
} pair;

static bool read_pair(FILE *fp, pair *p, char *ip, char *mp)
{
    char err[512];
    while (fscanf(fp, "%1023s %1023s", ip, mp) == 2) {
        p->im = p->mask = NULL;
        long area = 0;
        if (cn_image_read(ip, CN_IMAGE_GREY, &p->im, err, sizeof err) == CN_OK &&
            cn_mask_read(mp, ip, p->im->w, p->im->h, &p->mask, err, sizeof err) == CN_OK &&
            cn_mask_centroid(p->mask->px, p->im->w, p->im->h, &p->cx, &p->cy, &area) == CN_OK) {
            p->area = (double)area;
            return true;
        }
        fprintf(stderr, "skipped %s: %s\n", ip, err);
        cn_image_free(p->im);
        cn_image_free(p->mask);
    }
    return false;
}

static cn_segment *seeded(const pair *p)
{
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    cn_segment *seg = cn_segment_new(&sc, 1024, 1024);
    if (seg)
        cn_segment_set_nerve_seed(seg, (cn_pt2){(float)((p->cx + 0.5) * SP_MM), (float)((p->cy + 0.5) * SP_MM)});
    return seg;
}

static int run_away(ctx *c, FILE *fp, const char *data)
{
    static const char *names[N_SRC] = {"SpinePhantomFreehand", "BoneUltrasound_L14",
                                       "NwirePhantomFreehand", "Prostate10_video", "needle_14 (gel)",
                                       "needle_34 (tissue)", "lifted probe (grey 0-15)",
                                       "speckle (grey 0-153)"};
    long away[N_SRC] = {0}, tot[N_SRC] = {0}, back = 0, back_n = 0, runs = 0;
    double dice_back = 0;
    char ip[1024], mp[1024];
    pair p;
    while (read_pair(fp, &p, ip, mp)) {
        const int w = p.im->w, h = p.im->h;
        for (int k = 0; k < N_SRC; k++) {
            uint8_t *src[AWAY];
            const int ns = load_source(c, data, k, w, h, src);
            cn_segment *seg = ns > 0 ? seeded(&p) : NULL;
            if (!seg)
                continue;
            const cn_contour *nc = &c->f->analysis.nerve;
            for (int i = 0; i < 12; i++)
                process(c, seg, p.im->px, w, h);
            int a = 0, b = 0;
            for (int i = 0; i < AWAY; i++) {
                process(c, seg, src[i % ns], w, h);
                a += shown(nc);
            }
            for (int i = 0; i < 20; i++) {
                process(c, seg, p.im->px, w, h);
                b += shown(nc);
            }
            dice_back += dice_of(nc, p.mask->px, w, h, SP_MM, SP_MM);
            printf("%s source %d: away found %d/%d, back found %d/20\n", ip, k, a, AWAY, b);
            away[k] += a;
            tot[k] += AWAY;
            back += b;
            back_n += 20;
            runs++;
            cn_segment_free(seg);
            for (int i = 0; i < ns; i++)
                free(src[i]);
        }
        cn_image_free(p.im);
        cn_image_free(p.mask);
    }
    long six = 0, six_n = 0;
    for (int k = 0; k < N_SRC; k++) {
        printf("away, %-26s found %ld / %ld\n", names[k], away[k], tot[k]);
        if (k < 6)
            six += away[k], six_n += tot[k];
    }
    printf("away, the six real sources: found %ld / %ld\n", six, six_n);
    printf("back on the nerve: found %ld / %ld, last frame's mean Dice %.3f (%ld runs)\n", back,
           back_n, runs ? dice_back / runs : 0.0, runs);
    return 0;
}

static int run_still(ctx *c, FILE *fp)
{
    static const int at[4] = {1, 2, 30, 60};
    double sum[4] = {0};
    int n = 0;
    char ip[1024], mp[1024];
    pair p;
    while (read_pair(fp, &p, ip, mp)) {
        cn_segment *seg = seeded(&p);
        double d[4] = {0};
        for (int i = 1, k = 0; seg && i <= 60; i++) {
            process(c, seg, p.im->px, p.im->w, p.im->h);
            if (i == at[k])
                d[k++] = dice_of(&c->f->analysis.nerve, p.mask->px, p.im->w, p.im->h, SP_MM, SP_MM);
        }
        printf("%s: Dice on frames 1 / 2 / 30 / 60: %.3f / %.3f / %.3f / %.3f\n", ip, d[0], d[1], d[2], d[3]);
        for (int k = 0; k < 4; k++)
            sum[k] += d[k];
        n += seg != NULL;
        cn_segment_free(seg);
        cn_image_free(p.im);
        cn_image_free(p.mask);
    }
    if (n)
        printf("%d images: mean Dice on frames 1 / 2 / 30 / 60: %.3f / %.3f / %.3f / %.3f\n", n,
               sum[0] / n, sum[1] / n, sum[2] / n, sum[3] / n);
    return 0;
}

static int run_near(FILE *fp)
{
    cn_nerve_find *fd = cn_nerve_find_new(1024, 1024);
    uint8_t *buf = malloc(1024 * 1024);
    uint32_t *cols = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(1024, 1024));
    if (!fd || !buf || !cols)
        return 1;
    const double sp[2] = {SP_MM, SP_MM};
    int n = 0, near_c = 0, near_off = 0, n_off = 0;
    char ip[1024], mp[1024];
    pair p;
    while (read_pair(fp, &p, ip, mp)) {
        cn_img_box b = {0, 0, p.im->w, p.im->h};
        const uint8_t *px = p.im->px;
        if (cn_nerve_find_fov_crop(fd) && cn_img_fov_box(p.im->px, p.im->w, p.im->h, cols, &b) == CN_OK &&
            cn_img_crop(p.im->px, p.im->w, p.im->h, b, buf) == CN_OK)
            px = buf;
        cn_nerve_found s;
        if (cn_nerve_find_analyse(fd, CN_NERVE_FIND_LIVE, px, b.w, b.h, sp, 3.0) == CN_OK) {
            const double q0[2] = {p.cx - b.x0, p.cy - b.y0};
            const bool nr = cn_nerve_find_select(fd, q0, NULL, &s) == CN_OK && s.found;
            near_c += nr;
            if (!nr)
                printf("no found part near the click: %s\n", ip);
            const double r = sqrt(p.area / M_PI);
            for (int k = 0; k < 4; k++) {
                const double q[2] = {q0[0] + 0.5 * r * cos(k * M_PI / 2), q0[1] + 0.5 * r * sin(k * M_PI / 2)};
                if (q[0] < 0 || q[1] < 0 || q[0] > b.w - 1 || q[1] > b.h - 1)
                    continue;
                near_off += cn_nerve_find_select(fd, q, NULL, &s) == CN_OK && s.found;
                n_off++;
            }
            n++;
        }
        cn_image_free(p.im);
        cn_image_free(p.mask);
    }
    printf("%d images: a found part near the click at the centroid %d, near a click half a radius "
           "off %d of %d\n", n, near_c, near_off, n_off);
    cn_nerve_find_free(fd);
    free(buf);
    free(cols);
    return 0;
}

static int run_track(ctx *c, int argc, char **argv)
{
    const int step = getenv("STEP") ? atoi(getenv("STEP")) : 1;
    cn_nerve_find *fd = cn_nerve_find_new(1024, 1024);
    if (!fd || step < 1)
        return 1;
    int pairs = 0, held = 0;
    double q_sum = 0;
    char err[512];
    for (int a = 0; a < argc; a++) {
        cn_seq_reader *r = cn_seq_reader_open(argv[a], err, sizeof err);
        if (!r) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        for (int i = 0; i + step < cn_seq_reader_info(r)->n_frames; i++) {
            if (cn_seq_reader_read_frame(r, i, c->f, err, sizeof err) != CN_OK)
                continue;
            const double sp[2] = {c->f->spacing_mm[0], c->f->spacing_mm[1]};
            const int w = c->f->width, h = c->f->height;
            if (cn_nerve_find_analyse(fd, CN_NERVE_FIND_LIVE, c->f->pixels, w, h, sp, 3.0) != CN_OK)
                continue;
            cn_nerve_found o = {.n = 32, .found = true, .confidence = 1, .cx_px = w / 2, .cy_px = 0.6 * h};
            for (int k = 0; k < 32; k++)
                o.pts_px[k] = (cn_pt2){(float)(o.cx_px + 3.0 / sp[0] * cos(k * M_PI / 16)),
                                       (float)(o.cy_px + 3.0 / sp[1] * sin(k * M_PI / 16))};
            cn_nerve_found out;
            if (cn_nerve_find_follow(fd, &o) != CN_OK ||
                cn_seq_reader_read_frame(r, i + step, c->f, err, sizeof err) != CN_OK ||
                cn_nerve_find_track(fd, c->f->pixels, c->f->width, c->f->height, &out) != CN_OK)
                continue;
            pairs++;
            held += out.found;
            q_sum += out.confidence; /* the template's confidence is 1: this is the quality */
        }
        cn_seq_reader_close(r);
    }
    printf("frames %d apart: %d pairs, held %d, mean match quality %.3f\n", step, pairs, held,
           pairs ? q_sum / pairs : 0.0);
    cn_nerve_find_free(fd);
    return 0;
}

static int run_sim(int argc, char **argv)
{
    for (int a = 0; a < argc; a++) {
        cn_sim_config sc;
        cn_sim_config_defaults(&sc);
        sc.seed = (uint64_t)atoll(argv[a]);
        sc.needle_angle_deg = 30;
        cn_sim *sim = cn_sim_new(&sc);
        cn_frame_pool *pool = cn_frame_pool_new(1, sc.width_px, sc.height_px);
        cn_frame *f = pool ? cn_frame_pool_acquire(pool) : NULL;
        cn_segment_config gc;
        cn_segment_config_default(&gc);
        gc.ice.active_mm = sc.needle_active_mm;
        cn_segment *seg = cn_segment_new(&gc, sc.width_px, sc.height_px);
        uint8_t *mask = malloc((size_t)sc.width_px * sc.height_px);
        if (!sim || !f || !seg || !mask)
            return 1;
        int found = 0, n = 0;
        double dsum = 0;
        for (double t = sc.idle_s + 0.3 * sc.approach_s; t < sc.idle_s + sc.approach_s; t += 0.05) {
            cn_sim_render(sim, t, f);
            f->t_acq_ns = (int64_t)(t * 1e9);
            if (n++ == 0)
                cn_segment_set_nerve_seed(seg, f->truth.nerve_center_mm);
            cn_segment_process(seg, f);
            if (shown(&f->analysis.nerve)) {
                found++;
                cn_sim_nerve_mask(&f->truth, f->spacing_mm, mask, f->width, f->height);
                dsum += dice_of(&f->analysis.nerve, mask, f->width, f->height, f->spacing_mm[0],
                                f->spacing_mm[1]);
            }
        }
        printf("simulator seed %s: found %d / %d, mean Dice %.3f\n", argv[a], found, n,
               found ? dsum / found : 0.0);
        free(mask);
        cn_segment_free(seg);
        cn_frame_unref(f);
        cn_frame_pool_free(pool);
        cn_sim_free(sim);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nerve_live_check away LIST [DATA] | still LIST | near LIST | "
                        "track FILE... | sim SEED...\n");
        return 2;
    }
    if (strcmp(argv[1], "sim") == 0)
        return run_sim(argc - 2, argv + 2);
    ctx c = {0};
    c.pool = cn_frame_pool_new(2, 1024, 1024);
    c.f = c.pool ? cn_frame_pool_acquire(c.pool) : NULL;
    c.tmp = c.pool ? cn_frame_pool_acquire(c.pool) : NULL;
    if (!c.f || !c.tmp)
        return 1;
    int rc = 2;
    if (strcmp(argv[1], "track") == 0) {
        rc = run_track(&c, argc - 2, argv + 2);
    } else {
        FILE *fp = fopen(argv[2], "r");
        if (!fp) {
            fprintf(stderr, "nerve_live_check: cannot open the list %s\n", argv[2]);
            return 2;
        }
        if (strcmp(argv[1], "away") == 0)
            rc = run_away(&c, fp, argc > 3 ? argv[3] : "../shared/data");
        else if (strcmp(argv[1], "still") == 0)
            rc = run_still(&c, fp);
        else if (strcmp(argv[1], "near") == 0)
            rc = run_near(fp);
        else
            fprintf(stderr, "nerve_live_check: unknown mode %s\n", argv[1]);
        fclose(fp);
    }
    cn_frame_unref(c.f);
    cn_frame_unref(c.tmp);
    cn_frame_pool_free(c.pool);
    return rc;
}
