/*
 * sim_dump.c - developer tool: writes simulator frames as PNG (to look at them) and
 * times the renderer. Not a test, not installed.
 *
 *   sim_dump [-c session.json] [-o DIR] [-t T1,T2,...] [--truth] [--bench N]
 *            [--zoom X,Y,W,H,K]   (also a K-times enlarged crop)
 *
 * Without -t it dumps four moments of the scenario: before the needle, during the
 * approach, mid-freeze (first cycle) and during a thaw (or the withdrawal). --truth
 * also writes NAME_truth.png with the ground truth drawn over the image (nerve
 * green, needle red, ice ellipse cyan, visible rim points yellow).
 */
#include "sim/sim.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int write_png(const char *path, const uint8_t *px, int w, int h, int channels)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++)
        png_write_row(p, (png_const_bytep)(px + (size_t)y * w * channels));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return 0;
}

static void put(uint8_t *rgb, int w, int h, double xmm, double ymm, double sp, uint8_t r,
                uint8_t g, uint8_t b)
{
    int x = (int)floor(xmm / sp), y = (int)floor(ymm / sp);
    if (x < 0 || y < 0 || x >= w || y >= h)
        return;
    uint8_t *p = rgb + ((size_t)y * w + x) * 3;
    p[0] = r, p[1] = g, p[2] = b;
}

static void overlay(const cn_frame *f, uint8_t *rgb)
{
    int w = f->width, h = f->height;
    double sp = f->spacing_mm[0];
    for (size_t i = 0; i < (size_t)w * h; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = f->pixels[i];
    const cn_truth *t = &f->truth;
    for (int k = 0; k < 720; k++) {
        double a = k * M_PI / 360;
        put(rgb, w, h, t->nerve_center_mm.x + t->nerve_rx_mm * cos(a),
            t->nerve_center_mm.y + t->nerve_ry_mm * sin(a), sp, 0, 255, 0);
        if (t->ice_present) {
            double ux = t->needle_dir.x, uy = t->needle_dir.y;
            double px = t->ice_center_mm.x + t->ice_a_mm * cos(a) * ux - t->ice_b_mm * sin(a) * uy;
            double py = t->ice_center_mm.y + t->ice_a_mm * cos(a) * uy + t->ice_b_mm * sin(a) * ux;
            put(rgb, w, h, px, py, sp, 0, 200, 255);
        }
    }
    for (int k = 0; k < t->rim_n; k++)
        put(rgb, w, h, t->rim_mm[k].x, t->rim_mm[k].y, sp, 255, 255, 0);
    if (t->needle_in) {
        for (double u = 0; u < 1; u += 0.002)
            put(rgb, w, h, t->needle_entry_mm.x + u * (t->needle_tip_mm.x - t->needle_entry_mm.x),
                t->needle_entry_mm.y + u * (t->needle_tip_mm.y - t->needle_entry_mm.y), sp, 255,
                0, 0);
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                put(rgb, w, h, t->needle_tip_mm.x + dx * sp, t->needle_tip_mm.y + dy * sp, sp,
                    255, 0, 255);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL, *outdir = ".", *times = NULL;
    int bench = 0, zoom[5] = {0};
    bool truth = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            cfg_path = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            outdir = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            times = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
            bench = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--zoom") && i + 1 < argc)
            sscanf(argv[++i], "%d,%d,%d,%d,%d", &zoom[0], &zoom[1], &zoom[2], &zoom[3], &zoom[4]);
        else if (!strcmp(argv[i], "--truth"))
            truth = true;
        else {
            fprintf(stderr, "usage: %s [-c session.json] [-o DIR] [-t T1,T2,...] [--truth] "
                            "[--bench N] [--zoom X,Y,W,H,K]\n", argv[0]);
            return 2;
        }
    }
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    char err[512];
    if (cfg_path) {
        cn_json *doc = cn_json_load(cfg_path, err, sizeof err);
        if (!doc || cn_sim_config_from_json(doc, "sim", &c, err, sizeof err) != CN_OK) {
            fprintf(stderr, "%s\n", err);
            cn_json_free(doc);
            return 1;
        }
        cn_json_free(doc);
    }
    int64_t t0 = cn_clock_mono_ns();
    cn_sim *s = cn_sim_new(&c);
    if (!s) {
        cn_sim_config_validate(&c, err, sizeof err);
        fprintf(stderr, "cannot create the simulator: %s\n", err);
        return 1;
    }
    printf("cn_sim_new: %.1f ms; scenario %.1f s (%s, %d cycles)\n",
           (cn_clock_mono_ns() - t0) / 1e6, cn_sim_duration_s(s), c.protocol, c.n_cycles);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    double dur = cn_sim_duration_s(s);
    if (bench > 0) {
        double *ms = malloc(sizeof(double) * (size_t)bench);
        double cpu0 = cpu_ms();
        for (int i = 0; i < bench; i++) {
            double t = dur * (i + 0.5) / bench;
            int64_t a = cn_clock_mono_ns();
            cn_sim_render(s, t, f);
            ms[i] = (cn_clock_mono_ns() - a) / 1e6;
        }
        double cpu = (cpu_ms() - cpu0) / bench;
        double sum = 0;
        for (int i = 0; i < bench; i++)
            sum += ms[i];
        qsort(ms, (size_t)bench, sizeof(double), cmp_d);
        printf("render %dx%d: wall mean %.2f ms, p50 %.2f ms, p99 %.2f ms, min %.2f ms; "
               "CPU %.2f ms per frame (%d frames)\n",
               c.width_px, c.height_px, sum / bench, ms[bench / 2], ms[(int)(bench * 0.99)], ms[0],
               cpu, bench);
        free(ms);
    }
    double tl[32];
    const char *names[32];
    int nt = 0;
    static char labels[32][32];
    if (times) {
        char *dup = strdup(times), *save = NULL;
        for (char *tok = strtok_r(dup, ",", &save); tok && nt < 32; tok = strtok_r(NULL, ",", &save)) {
            tl[nt] = atof(tok);
            snprintf(labels[nt], sizeof labels[nt], "t%07.1f", tl[nt]);
            names[nt] = labels[nt];
            nt++;
        }
        free(dup);
    } else if (bench == 0) {
        double tc = c.idle_s + c.approach_s;
        tl[0] = 0.5 * c.idle_s, names[0] = "1_idle";
        tl[1] = c.idle_s + 0.7 * c.approach_s, names[1] = "2_approach";
        tl[2] = tc + 0.5 * c.cycles[0].freeze_s, names[2] = "3_freeze";
        tl[3] = c.cycles[0].thaw_s > 0 ? tc + c.cycles[0].freeze_s + 0.4 * c.cycles[0].thaw_s
                                       : dur - 0.6 * c.withdraw_s;
        names[3] = c.cycles[0].thaw_s > 0 ? "4_thaw" : "4_withdraw";
        nt = 4;
    }
    uint8_t *rgb = malloc((size_t)c.width_px * c.height_px * 3);
    for (int i = 0; i < nt; i++) {
        cn_sim_render(s, tl[i], f);
        char path[1024];
        snprintf(path, sizeof path, "%s/sim_%s.png", outdir, names[i]);
        write_png(path, f->pixels, f->width, f->height, 1);
        printf("%s: t=%.1f s phase=%s cycle=%d ice r=%.2f mm, tip (%.1f, %.1f) mm%s\n", path,
               tl[i], cn_phase_name(f->truth.phase), f->truth.cycle, f->truth.ice_radius_mm,
               f->truth.needle_tip_mm.x, f->truth.needle_tip_mm.y, f->truth.needle_in ? "" : " (out)");
        if (zoom[2] > 0 && zoom[3] > 0 && zoom[4] > 0) {
            int zw = zoom[2] * zoom[4], zh = zoom[3] * zoom[4];
            uint8_t *z = malloc((size_t)zw * zh);
            for (int y = 0; y < zh; y++)
                for (int x = 0; x < zw; x++) {
                    int sx = zoom[0] + x / zoom[4], sy = zoom[1] + y / zoom[4];
                    bool in = sx >= 0 && sy >= 0 && sx < f->width && sy < f->height;
                    z[(size_t)y * zw + x] = in ? f->pixels[(size_t)sy * f->width + sx] : 0;
                }
            snprintf(path, sizeof path, "%s/sim_%s_zoom.png", outdir, names[i]);
            write_png(path, z, zw, zh, 1);
            free(z);
        }
        if (truth) {
            overlay(f, rgb);
            snprintf(path, sizeof path, "%s/sim_%s_truth.png", outdir, names[i]);
            write_png(path, rgb, f->width, f->height, 3);
        }
    }
    free(rgb);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
    return 0;
}
