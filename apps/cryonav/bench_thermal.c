/*
 * bench_thermal.c - `cryonav bench thermal`: how fast the bioheat model is.
 *
 *  1. a 6-minute freeze of the 17G argon probe on a 0.25 mm axisymmetric grid from
 *     t = 0 (budget: <= 1 s on one core, i.e. >= 360x real time); CPU time of this
 *     process is reported next to wall time because the machine is shared;
 *  2. the incremental live step: one model advanced frame by frame at 30 fps
 *     through the same freeze (budget: p99 < 2 ms per frame);
 *  3. the whole live stage per frame (ensemble fit + three image-plane isotherms),
 *     fed a near-side rim every frame.
 * Options: --reps N (default 3), --fps F (default 30), --h MM (default 0.25).
 */
#include "commands.h"
#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)ceil(p / 100 * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

int cn_bench_thermal(int argc, char **argv)
{
    int reps = 3;
    double fps = 30, h = 0.25;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fps") && i + 1 < argc)
            fps = atof(argv[++i]);
        else if (!strcmp(argv[i], "--h") && i + 1 < argc)
            h = atof(argv[++i]);
        else if (cn_app_wants_help(argc, argv)) {
            printf("usage: cryonav bench thermal [--reps N] [--fps F] [--h MM]\n");
            return 0;
        } else
            return cn_app_usage_error("bench thermal", "unknown option '%s'", argv[i]);
    }
    if (reps < 1 || reps > 100 || !(fps >= 1 && fps <= 240) || !(h >= 0.05 && h <= 2))
        return cn_app_usage_error("bench thermal", "--reps 1..100, --fps 1..240, --h 0.05..2");
    cn_thermal_catalog *cat = calloc(1, sizeof *cat);
    char p1[1024], p2[1024], p3[1024], err[512];
    if (!cat || cn_thermal_catalog_load(cat, cn_app_data_path("config/cryoprobes.json", p1, sizeof p1),
                                        cn_app_data_path("config/protocols.json", p2, sizeof p2),
                                        cn_app_data_path("config/tissues.json", p3, sizeof p3),
                                        err, sizeof err)) {
        fprintf(stderr, "cryonav bench thermal: %s\n", cat ? err : "out of memory");
        free(cat);
        return 1;
    }
    const cn_cryoprobe *p = cn_thermal_catalog_probe(cat, "17G-argon-2cm");
    const cn_protocol *q = cn_thermal_catalog_protocol(cat, "freeze-6min");
    const cn_tissue *t = cn_thermal_catalog_tissue(cat, "standard");
    if (!p || !q || !t) {
        fprintf(stderr, "cryonav bench thermal: catalogue lacks 17G-argon-2cm / freeze-6min / standard\n");
        free(cat);
        return 1;
    }
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = h;
    /* 1. full solve */
    double wall[100], cpu[100], r0 = 0;
    int nr = 0, nz = 0;
    for (int k = 0; k < reps; k++) {
        cn_thermal_model *m = cn_thermal_model_new(p, q, t, &mo, err, sizeof err);
        if (!m) {
            fprintf(stderr, "cryonav bench thermal: %s\n", err);
            free(cat);
            return 1;
        }
        double w0 = (double)cn_clock_mono_ns(), c0 = cpu_s();
        cn_thermal_model_advance_to(m, 360);
        cpu[k] = cpu_s() - c0;
        wall[k] = ((double)cn_clock_mono_ns() - w0) * 1e-9;
        r0 = cn_thermal_model_radius_at(m, 0, -p->active_length_mm / 2);
        cn_thermal_solver_cells(cn_thermal_model_solver(m), &nr, &nz);
        cn_thermal_model_free(m);
    }
    double cmed = pct(cpu, reps, 50), wmed = pct(wall, reps, 50);
    printf("full solve: 17G argon 2-cm tip, 6 min freeze, %.2f mm axisymmetric grid (%d x %d cells), "
           "dt %.1f s\n", h, nr, nz, mo.dt_max_s);
    printf("  cpu %.3f s (median of %d), wall %.3f s -> %.0fx real time (cpu); ice radius %.2f mm; "
           "budget <= 1 s: %s\n",
           cmed, reps, wmed, 360 / cmed, r0, cmed <= 1 ? "met" : "NOT met");
    /* 2. incremental model step at fps: the bench grid, and the live members' 0.5 mm */
    int nf = (int)(360 * fps);
    double *lat = malloc(sizeof(double) * (size_t)nf);
    if (!lat) {
        free(cat);
        return 1;
    }
    const double hs[2] = {h, 0.5};
    for (int g = 0; g < (h == 0.5 ? 1 : 2); g++) {
        mo.h_mm = hs[g];
        mo.live_split = true;
        cn_thermal_model *m = cn_thermal_model_new(p, q, t, &mo, err, sizeof err);
        if (!m) {
            free(lat);
            free(cat);
            return 1;
        }
        for (int i = 0; i < nf; i++) {
            double c0 = cpu_s();
            cn_thermal_model_advance_to(m, (i + 1) / fps);
            lat[i] = (cpu_s() - c0) * 1e3;
        }
        double mean = 0;
        for (int i = 0; i < nf; i++)
            mean += lat[i] / nf;
        printf("live step (one model, %.2f mm, live split, advanced per frame at %.0f fps through the freeze): "
               "mean %.3f ms, p50 %.3f, p99 %.3f, max %.3f ms; budget p99 < 2 ms: %s\n",
               hs[g], fps, mean, pct(lat, nf, 50), pct(lat, nf, 99), pct(lat, nf, 100),
               pct(lat, nf, 99) < 2 ? "met" : "NOT met");
        cn_thermal_model_free(m);
    }
    /* 3. the whole stage per frame, fed a rim from a warmer "true" probe */
    cn_thermal_stage_opts so;
    cn_stage st;
    cn_thermal_model_opts to;
    cn_thermal_model_opts_default(&to);
    to.h_mm = 0.5;
    to.surface_offset_c = 30;
    cn_thermal_model *truth = cn_thermal_model_new(p, q, t, &to, err, sizeof err);
    cn_frame_pool *pool = cn_frame_pool_new(2, 640, 480); /* a 40 x 30 mm image */
    if (!truth || !pool || cn_thermal_stage_opts_from_catalog(&so, cat, p->name, q->name, t->name, err, sizeof err) ||
        cn_thermal_stage_new(&so, &st, err, sizeof err)) {
        fprintf(stderr, "cryonav bench thermal: %s\n", err);
        cn_thermal_model_free(truth);
        if (pool)
            cn_frame_pool_free(pool);
        free(lat);
        free(cat);
        return 1;
    }
    cn_pt2 tip = {22, 16}, dir = {0.8660254f, 0.5f};
    cn_thermal_plane pl;
    cn_thermal_plane_from_needle(tip, dir, &pl);
    int n_st = 0;
    for (int i = 0; i < nf; i++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, 640, 480);
        f->spacing_mm[0] = f->spacing_mm[1] = 0.0625;
        f->t_acq_ns = (int64_t)((i + 1) / fps * 1e9);
        f->t_scene_ns = f->t_acq_ns;
        f->analysis.guidance.phase = CN_PHASE_FREEZE; /* what the procedure stage says */
        f->analysis.guidance.cycle = 1;
        f->analysis.needle.found = true;
        f->analysis.needle.tip_mm = tip;
        f->analysis.needle.dir = dir;
        if (i % (int)fps == 0) /* the rim is refreshed once a second (cost not timed) */
            cn_thermal_model_advance_to(truth, (i + 1) / fps);
        cn_isotherm iso;
        cn_thermal_model_plane_isotherm(truth, &pl, 0, &iso);
        cn_ice_front *ice = &f->analysis.ice;
        for (int k = 0; k < iso.n; k++)
            if (iso.pts_mm[k].y < tip.y - 2 && ice->n < CN_ICE_PTS_MAX)
                ice->pts_mm[ice->n++] = iso.pts_mm[k];
        ice->found = ice->n >= 3;
        ice->t_ns = f->t_acq_ns;
        double c0 = cpu_s();
        st.process(st.self, f);
        lat[n_st++] = (cpu_s() - c0) * 1e3;
        cn_frame_unref(f);
    }
    double mean = 0;
    for (int i = 0; i < n_st; i++)
        mean += lat[i] / n_st;
    printf("live stage (15-member ensemble fit + 0/-20/-40 C image-plane isotherms, per frame at "
           "%.0f fps): mean %.3f ms, p50 %.3f, p99 %.3f, max %.3f ms\n",
           fps, mean, pct(lat, n_st, 50), pct(lat, n_st, 99), pct(lat, n_st, 100));
    cn_thermal_stage_free(st.self);
    cn_thermal_model_free(truth);
    cn_frame_pool_free(pool);
    free(lat);
    free(cat);
    return 0;
}
