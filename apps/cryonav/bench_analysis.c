/*
 * bench_analysis.c - `cryonav bench analysis`: the whole analysis chain of one
 * 640x480 frame on one core, as the live pipeline runs it: procedure state ->
 * segment (needle + nerve + ice, cn_segment_process) -> thermal (the ensemble
 * stepped to the frame's scene time, the 0/-20/-40 C curves, band, ice depth) ->
 * guidance (coverage, skin distance, alarms, target temperature); p50/p99 in
 * milliseconds for the chain and each stage, plus each detector alone.
 *
 * The thermal stage runs a continuous freeze on the scene clock of a 20 fps
 * source in real time (0.05 s a frame), after an untimed warm-up of 150 s of
 * freezing (Morton's protocol), so the timed frames carry a full-size ice ball:
 * its curves are the longest to trace. The segment frames cycle as below.
 *
 * Frames are rendered by the simulator beforehand (an approach, then a freeze
 * with the flag set), so only the analysis is timed; the process is pinned to
 * one CPU so "one core" is what is measured. The nerve is in automatic mode
 * (no operator point, as the product starts): a pass of the finder's networks is
 * spread over segment.nerve_period frames per network of its ensemble and block
 * matching follows in between, so both
 * kinds of frame are in the percentiles. --seeded marks the nerve on the first
 * frame of every pass instead (the seeded path, with its fallbacks). The finder
 * (network + parts + outline), its tracker and the seeded crop CNN are also
 * timed alone.
 */
#include "commands.h"

#include "guidance/guidance.h"
#include "imaging/imaging.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#define N_FRAMES 48
#define NEEDLE_RUNS (4 * N_FRAMES)

/* CPU time of this thread: what the analysis costs, without the time other
 * processes on a shared machine take the core away (wall time shows that). */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    double pos = p / 100.0 * (n - 1);
    int lo = (int)pos;
    return v[lo] + (lo + 1 < n ? (pos - lo) * (v[lo + 1] - v[lo]) : 0);
}

int cn_bench_analysis(int argc, char **argv)
{
    long iters = 960;
    bool seeded = false;
    int click_at = 0; /* the pass frame the operator clicks on (--seeded: 0) */
    bool manual = false; /* --manual: automatic mode off before the click, as shipped */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            char *end;
            iters = strtol(argv[++i], &end, 10);
            if (*end || iters < N_FRAMES || iters > 1000000)
                return cn_app_usage_error("bench", "--iterations needs %d..1000000", N_FRAMES);
        } else if (strcmp(argv[i], "--seeded") == 0) {
            seeded = true;
        } else if (strcmp(argv[i], "--click-at") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v >= N_FRAMES)
                return cn_app_usage_error("bench", "--click-at needs 0..%d", N_FRAMES - 1);
            click_at = (int)v;
            seeded = true;
        } else if (strcmp(argv[i], "--manual") == 0) {
            manual = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: cryonav bench analysis [--iterations N] [--seeded] [--click-at F [--manual]]\n"
                   "Times the whole analysis chain of simulated 640x480 frames (procedure state,\n"
                   "needle, nerve, ice, thermal model, guidance) on one core, the nerve found\n"
                   "automatically (--seeded: marked on the first frame of every pass of %d).\n\n"
                   "options:\n"
                   "  --iterations N       frames analysed (default 960)\n"
                   "  --seeded             the operator marks the nerve instead of automatic finding\n"
                   "  --click-at F         found automatically, then marked on frame F (0..%d) of\n"
                   "                       every pass, as a clinician clicks into a running session\n"
                   "  --manual             with --click-at: automatic mode off (as config/session.json\n"
                   "                       ships it), so the click is the finder's first use\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout. Last line: analysis_ms p50 <x> p99 <y> (the whole chain)\n",
                   N_FRAMES, N_FRAMES - 1);
            return 0;
        } else {
            return cn_app_usage_error("bench", "analysis: unknown option '%s'", argv[i]);
        }
    }
    if (manual && click_at == 0)
        return cn_app_usage_error("bench", "--manual needs --click-at F with F > 0");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &set);
    bool pinned = sched_setaffinity(0, sizeof set, &set) == 0;

    cn_sim_config c;
    cn_sim_config_defaults(&c);
    cn_sim *sim = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(N_FRAMES + 1, c.width_px, c.height_px);
    cn_segment_config sc;
    cn_segment_config_default(&sc);
    sc.nerve_auto = !manual; /* the budget is measured with automatic mode on (issue 12) */
    sc.ice.active_mm = c.needle_active_mm;
    cn_segment *seg = cn_segment_new(&sc, c.width_px, c.height_px);
    cn_needle_det *nd = cn_needle_det_new(c.width_px, c.height_px, &sc.needle);
    double *ms = malloc(sizeof(double) * (size_t)iters);
    double *cpu = malloc(sizeof(double) * (size_t)iters);
    double *ms_seg = malloc(sizeof(double) * (size_t)iters);
    double *ms_th = malloc(sizeof(double) * (size_t)iters);
    double *ms_gd = malloc(sizeof(double) * (size_t)iters);
    /* the thermal model and guidance of the live session (config/session.json) */
    char err[512] = "", cfgdir[1024], cfgpath[1100];
    cn_app_data_path("config", cfgdir, sizeof cfgdir);
    snprintf(cfgpath, sizeof cfgpath, "%s/session.json", cfgdir);
    cn_json *cfg = cn_json_load(cfgpath, err, sizeof err);
    cn_thermal_stage_opts to;
    cn_stage th = {0};
    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    cn_guidance *gd = NULL;
    cn_procedure *proc = cn_procedure_new(NULL, NULL);
    double *ms_needle = malloc(sizeof(double) * NEEDLE_RUNS);
    double ms_cnn[N_FRAMES], ms_find[N_FRAMES], ms_track[N_FRAMES], ms_fov[N_FRAMES];
    cn_nerve_cnn *cnn = cn_nerve_cnn_new(c.width_px, c.height_px);
    cn_nerve_find *find = cn_nerve_find_new(c.width_px, c.height_px);
    cn_frame *frames[N_FRAMES] = {0};
    int rc = 0;
    if (!sim || !pool || !seg || !nd || !ms || !cpu || !ms_needle || !cnn || !ms_seg || !ms_th || !ms_gd ||
        !proc || !find) {
        fprintf(stderr, "cryonav bench: out of memory\n");
        rc = 1;
        goto out;
    }
    if (!cfg ||
        cn_thermal_stage_opts_from_json(&to, cfg, "thermal", cfgdir, NULL, err, sizeof err) ||
        cn_thermal_stage_new(&to, &th, err, sizeof err) ||
        cn_guidance_config_from_json(cfg, "guidance", &gc, err, sizeof err) ||
        !(gd = cn_guidance_new(&gc))) {
        fprintf(stderr, "cryonav bench: %s\n", err[0] ? err : "out of memory");
        rc = 1;
        goto out;
    }
    cn_guidance_set_field(gd, cn_thermal_stage_temp_image, th.self);
    /* half the frames in the approach (needle moving), half in the first freeze */
    double t_app0 = c.idle_s + 0.3 * c.approach_s, t_frz0 = c.idle_s + c.approach_s + 5;
    for (int i = 0; i < N_FRAMES; i++) {
        frames[i] = cn_frame_pool_acquire(pool);
        double t = i < N_FRAMES / 2 ? t_app0 + i * (0.7 * c.approach_s) / (N_FRAMES / 2)
                                    : t_frz0 + (i - N_FRAMES / 2) * 2.0;
        cn_sim_render(sim, t, frames[i]);
        frames[i]->t_acq_ns = (int64_t)(t * 1e9);
    }
    cn_frame *work = cn_frame_pool_acquire(pool);
    /* the freeze the thermal model follows: started by the operator, on the scene
     * clock; 150 s of it untimed (3 000 frames at 0.05 s would be the same) */
    const double step_s = 0.05, warm_s = 150;
    int64_t scene0 = 1000000000LL;
    cn_procedure_key(proc, 'f');
    for (double t = 0; t < warm_s; t += 0.5) {
        cn_frame_copy(work, frames[N_FRAMES / 2]);
        work->truth.valid = false; /* the operator, not the script, runs this freeze */
        work->t_scene_ns = scene0 + (int64_t)llround(t * 1e9);
        cn_procedure_process(proc, work);
        th.process(th.self, work);
    }
    long shown = 0; /* analyses whose nerve is found on the frame (not held): the
                     * refine network ran and outlined it */
    double area_mm2 = 0; /* their outlines' summed area */
    long hidden = 0; /* of them, reported hidden under the ice: the stage then runs no
                      * network or tracker on the frame, so the workload depends on it */
    for (long k = 0; k < iters; k++) {
        int i = (int)(k % N_FRAMES);
        if (i == 0) {
            if (click_at > 0) /* automatic again until the click (a reset keeps a point) */
                cn_segment_clear_nerve_seed(seg);
            cn_segment_reset(seg);
        }
        if (seeded && i == click_at)
            cn_segment_set_nerve_seed(seg, frames[i]->truth.nerve_center_mm);
        cn_frame_copy(work, frames[i]);
        work->truth.valid = false;
        work->t_scene_ns = scene0 + (int64_t)llround((warm_s + (double)k * step_s) * 1e9);
        /* per stage: thread CPU time (a shared machine takes the core away at
         * random; wall time of the chain is reported too) */
        int64_t c0 = thread_cpu_ns(), t0 = cn_clock_mono_ns();
        cn_procedure_process(proc, work);
        cn_segment_set_freezing(seg, frames[i]->truth.phase == CN_PHASE_FREEZE);
        cn_segment_set_in_ice(seg, frames[i]->truth.phase == CN_PHASE_FREEZE ||
                                       frames[i]->truth.phase == CN_PHASE_THAW);
        int64_t c1 = thread_cpu_ns();
        cn_segment_process(seg, work);
        int64_t c2 = thread_cpu_ns();
        th.process(th.self, work);
        int64_t c3 = thread_cpu_ns();
        cn_guidance_process(gd, work);
        int64_t c4 = thread_cpu_ns();
        ms[k] = (double)(cn_clock_mono_ns() - t0) / 1e6;
        cpu[k] = (double)(c4 - c0) / 1e6;
        ms_seg[k] = (double)(c2 - c1) / 1e6;
        ms_th[k] = (double)(c3 - c2) / 1e6;
        ms_gd[k] = (double)(c4 - c3) / 1e6;
        const cn_contour *nc = &work->analysis.nerve;
        if (nc->found && !nc->held) {
            shown++;
            hidden += nc->hidden;
            double a = 0; /* shoelace */
            for (int p = 0; p < nc->n; p++) {
                const cn_pt2 u = nc->pts_mm[p], v = nc->pts_mm[(p + 1) % nc->n];
                a += (double)u.x * v.y - (double)v.x * u.y;
            }
            area_mm2 += fabs(a) / 2;
        }
    }
    /* the needle detector alone, without a pose prior (thread CPU time, 4 passes) */
    for (int i = 0; i < NEEDLE_RUNS; i++) {
        const cn_frame *fr = frames[i % N_FRAMES];
        cn_needle_result r;
        int64_t t0 = thread_cpu_ns();
        cn_needle_det_detect(nd, fr->pixels, fr->width, fr->height, fr->spacing_mm, NULL, &r);
        ms_needle[i] = (double)(thread_cpu_ns() - t0) / 1e6;
    }
    for (int i = 0; i < N_FRAMES; i++) {
        const cn_frame *fr = frames[i];
        cn_pt2 pts[CN_CONTOUR_MAX];
        int np;
        float conf;
        int64_t t0 = cn_clock_mono_ns();
        cn_nerve_cnn_run(cnn, CN_NERVE_CNN_LIVE, fr->pixels, fr->width, fr->height,
                         fr->truth.nerve_center_mm.x / fr->spacing_mm[0] - 0.5,
                         fr->truth.nerve_center_mm.y / fr->spacing_mm[1] - 0.5, NULL, pts, &np,
                         &conf);
        ms_cnn[i] = (double)(cn_clock_mono_ns() - t0) / 1e6;
    }
    int found_frames = 0;
    for (int i = 0; i < N_FRAMES; i++) {
        const cn_frame *fr = frames[i];
        cn_nerve_found fo, tr;
        int64_t t0 = thread_cpu_ns();
        cn_nerve_find_analyse(find, CN_NERVE_FIND_LIVE, fr->pixels, fr->width, fr->height,
                              fr->spacing_mm, sc.nerve_radius_mm);
        cn_nerve_find_select(find, NULL, NULL, &fo);
        int64_t t1 = thread_cpu_ns();
        found_frames += fo.found;
        const cn_frame *next = frames[(i + 1) % N_FRAMES];
        cn_nerve_find_track(find, next->pixels, next->width, next->height, &tr);
        ms_find[i] = (double)(t1 - t0) / 1e6;
        ms_track[i] = (double)(thread_cpu_ns() - t1) / 1e6;
    }
    /* the field-of-view cut the live stage makes on every frame when the weights were
     * trained on cut frames (the built-in ones since the ninth session): box + copy */
    cn_img_box fov_box = {0, 0, 0, 0};
    {
        const cn_frame *fr0 = frames[0];
        uint32_t *cols = malloc(sizeof(uint32_t) * cn_img_fov_scratch_len(fr0->width, fr0->height));
        uint8_t *cut = malloc((size_t)fr0->width * fr0->height);
        for (int i = 0; i < N_FRAMES && cols && cut; i++) {
            const cn_frame *fr = frames[i];
            int64_t t0 = thread_cpu_ns();
            cn_img_fov_box(fr->pixels, fr->width, fr->height, cols, &fov_box);
            cn_img_crop(fr->pixels, fr->width, fr->height, fov_box, cut);
            ms_fov[i] = (double)(thread_cpu_ns() - t0) / 1e6;
        }
        free(cols);
        free(cut);
    }
    printf("frames %dx%d, %ld analyses (%d distinct frames: approach + freeze), nerve %s, "
           "finder pass over %d frames (%d per network, %d network%s), %s\n", c.width_px,
           c.height_px, iters, N_FRAMES, seeded ? "seeded" : "automatic",
           sc.nerve_period * cn_nerve_find_members(find), sc.nerve_period,
           cn_nerve_find_members(find), cn_nerve_find_members(find) > 1 ? "s, logits averaged" : "",
           pinned ? "pinned to one CPU" : "not pinned (sched_setaffinity failed)");
    printf("segment stage (needle + nerve + ice), cpu: p50 %.2f ms p99 %.2f ms; the nerve found on "
           "%ld of %ld analyses (%ld of them hidden under the ice), its outline %.1f mm2 on "
           "average\n", pct(ms_seg, (int)iters, 50), pct(ms_seg, (int)iters, 99), shown, iters,
           hidden, shown ? area_mm2 / shown : 0.0);
    printf("thermal stage (%s, %s, %d-member fit, frames %.0f-%.0f s into the freeze at %.2f s each): "
           "cpu p50 %.2f ms p99 %.2f ms\n",
           to.probe.name, to.tissue.name, to.fit_enabled ? to.fit.n_offsets * to.fit.n_perfusions : 1,
           warm_s, warm_s + (double)iters * step_s, step_s, pct(ms_th, (int)iters, 50),
           pct(ms_th, (int)iters, 99));
    printf("guidance stage (coverage on the band's edge, skin, alarms, target temperature), cpu: p50 "
           "%.2f ms p99 %.2f ms\n", pct(ms_gd, (int)iters, 50), pct(ms_gd, (int)iters, 99));
    printf("needle detector alone (no pose prior, cpu): p50 %.2f ms p99 %.2f ms\n",
           pct(ms_needle, NEEDLE_RUNS, 50), pct(ms_needle, NEEDLE_RUNS, 99));
    int gh, gw;
    cn_nerve_find_info(find, NULL, &gh, &gw);
    printf("nerve finder alone (%d network%s on a %dx%d grid + parts + outline, cpu): p50 %.2f ms p99 "
           "%.2f ms; found in %d of %d frames\n", cn_nerve_find_members(find),
           cn_nerve_find_members(find) > 1 ? "s" : "", gw, gh, pct(ms_find, N_FRAMES, 50),
           pct(ms_find, N_FRAMES, 99), found_frames, N_FRAMES);
    printf("nerve tracker alone (block matching between network frames, cpu): p50 %.2f ms p99 "
           "%.2f ms\n", pct(ms_track, N_FRAMES, 50), pct(ms_track, N_FRAMES, 99));
    printf("nerve field-of-view cut (box + copy, %s; last box %dx%d at %d,%d), cpu: p50 %.3f ms "
           "p99 %.3f ms\n", cn_nerve_find_fov_crop(find) ? "made live: the weights want it"
                                                        : "not made live: the weights do not want it",
           fov_box.w, fov_box.h, fov_box.x0, fov_box.y0, pct(ms_fov, N_FRAMES, 50),
           pct(ms_fov, N_FRAMES, 99));
    int grid_n;
    cn_nerve_cnn_geometry(cnn, &grid_n, NULL);
    printf("nerve CNN alone (seeded, %dx%d crop): p50 %.2f ms p99 %.2f ms\n", grid_n, grid_n,
           pct(ms_cnn, N_FRAMES, 50), pct(ms_cnn, N_FRAMES, 99));
    if (seeded) {
        /* the click's frame (frame click_at of every pass of N_FRAMES) runs the
         * finder's whole ensemble at once: its cost apart from the other frames'; the
         * session's first click apart from the later ones (what is built once) */
        double *rest = malloc(sizeof(double) * (size_t)iters), click_sum = 0, click_max = 0;
        double first = -1;
        int nclick = 0, nrest = 0;
        if (rest) {
            for (long k = 0; k < iters; k++) {
                if (k % N_FRAMES == click_at) {
                    if (first < 0)
                        first = cpu[k];
                    else
                        click_sum += cpu[k];
                    click_max = cpu[k] > click_max ? cpu[k] : click_max;
                    nclick++;
                } else {
                    rest[nrest++] = cpu[k];
                }
            }
            printf("seeded: click frames (%d, frame %d of every %d) cpu: the first %.2f ms, the "
                   "others mean %.2f ms, max %.2f ms; the other frames cpu p50 %.2f ms p99 %.2f "
                   "ms\n", nclick, click_at, N_FRAMES, first,
                   nclick > 1 ? click_sum / (nclick - 1) : 0.0, click_max,
                   nrest ? pct(rest, nrest, 50) : 0.0, nrest ? pct(rest, nrest, 99) : 0.0);
            free(rest);
        }
    }
    double c50 = pct(cpu, (int)iters, 50), c99 = pct(cpu, (int)iters, 99);
    printf("analysis cpu_ms (thread CPU time) p50 %.2f p99 %.2f max %.2f\n", c50, c99,
           cpu[iters - 1]);
    double p50 = pct(ms, (int)iters, 50), p99 = pct(ms, (int)iters, 99);
    printf("analysis wall ms max %.2f (includes preemption on a shared machine)\n", ms[iters - 1]);
    printf("analysis_ms p50 %.2f p99 %.2f\n", p50, p99);
    cn_frame_unref(work);
out:
    for (int i = 0; i < N_FRAMES; i++)
        if (frames[i])
            cn_frame_unref(frames[i]);
    free(ms);
    free(cpu);
    free(ms_needle);
    free(ms_seg);
    free(ms_th);
    free(ms_gd);
    if (th.self)
        cn_thermal_stage_free(th.self);
    cn_guidance_free(gd);
    cn_procedure_free(proc);
    cn_json_free(cfg);
    cn_needle_det_free(nd);
    cn_nerve_cnn_free(cnn);
    cn_nerve_find_free(find);
    cn_segment_free(seg);
    if (pool)
        cn_frame_pool_free(pool);
    cn_sim_free(sim);
    return rc;
}
