/*
 * test_guidance_sim.c - the whole analysis chain on the simulator through a real
 * cn_pipeline: sim device -> console (procedure state from the scenario, as
 * session.c does) -> segment -> thermal -> guidance -> a sink that records what
 * the clinician would see. Morton protocol (one 150 s freeze) at time_scale 10.
 *
 * The device is the simulator's own, run non-realtime and wrapped in lockstep
 * with the analysis (each frame waits until the previous one was published), and
 * its t_acq_ns is the schedule a realtime run would have: every frame is analysed
 * and the thermal model's clock is right, whatever ASan does to the speed.
 *
 * Checks: with the default deep nerve (18 mm) coverage rises during the freeze and
 * ends > 0.5 and the skin alarm never fires; with the nerve at 6 mm it fires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "guidance/guidance.h"
#include "pipeline/pipeline.h"
#include "segment/segment.h"
#include "sim/sim.h"
#include "thermal/thermal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_REC 1024

typedef struct {
    bool seen;
    double t_scene_s;
    cn_phase phase;
    double coverage;
    double truth_coverage; /* the true nerve ellipse vs the same (conservative) -20 C curve */
    double nominal_truth_coverage; /* ... vs the nominal -20 C curve */
    double band_mm;
    uint32_t alarms;
    bool nerve_found, ice_found;
    int n_iso;
} rec;

typedef struct {
    /* lockstep device */
    cn_device inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t issued, published;
    bool interrupted;
    int64_t period_ns;
    /* console: the procedure state from the simulator's script */
    cn_segment *seg;
    cn_procedure *proc;
    /* guidance timing */
    cn_guidance *g;
    double guidance_ms_sum, guidance_ms_max;
    uint64_t guidance_n;
    rec recs[MAX_REC];
} ctx;

static int dev_start(void *self)
{
    ctx *c = self;
    return c->inner.start ? c->inner.start(c->inner.self) : CN_OK;
}

static int dev_read(void *self, cn_frame *f)
{
    ctx *c = self;
    pthread_mutex_lock(&c->mu);
    int64_t deadline = cn_clock_mono_ns() + 20000000000LL;
    while (!c->interrupted && c->published < c->issued && cn_clock_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    bool stop = c->interrupted;
    uint64_t i = c->issued;
    pthread_mutex_unlock(&c->mu);
    if (stop)
        return CN_ECLOSED;
    int rc = c->inner.read(c->inner.self, f);
    if (rc != CN_OK)
        return rc;
    f->t_acq_ns = 1000000000LL + (int64_t)i * c->period_ns; /* the realtime schedule */
    pthread_mutex_lock(&c->mu);
    c->issued++;
    pthread_mutex_unlock(&c->mu);
    return CN_OK;
}

static void dev_interrupt(void *self)
{
    ctx *c = self;
    pthread_mutex_lock(&c->mu);
    c->interrupted = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->inner.interrupt)
        c->inner.interrupt(c->inner.self);
}

static void dev_stop(void *self)
{
    ctx *c = self;
    if (c->inner.stop)
        c->inner.stop(c->inner.self);
}

/* The procedure state from the scenario, as session.c's console stage does. */
static int console(void *self, cn_frame *f)
{
    ctx *c = self;
    int rc = cn_procedure_process(c->proc, f);
    cn_segment_set_freezing(c->seg, f->analysis.guidance.phase == CN_PHASE_FREEZE);
    return rc;
}

static int timed_guidance(void *self, cn_frame *f)
{
    ctx *c = self;
    int64_t t0 = cn_clock_mono_ns();
    int rc = cn_guidance_process(c->g, f);
    double ms = (double)(cn_clock_mono_ns() - t0) / 1e6;
    c->guidance_ms_sum += ms;
    c->guidance_ms_max = fmax(c->guidance_ms_max, ms);
    c->guidance_n++;
    return rc;
}

static void sink(void *self, cn_frame *f)
{
    ctx *c = self;
    if (f->seq < MAX_REC) {
        rec *r = &c->recs[f->seq];
        r->seen = true;
        r->t_scene_s = f->truth.t_scene_s;
        r->phase = f->analysis.guidance.phase;
        r->coverage = f->analysis.guidance.coverage;
        r->alarms = f->analysis.guidance.alarms;
        r->nerve_found = f->analysis.nerve.found;
        r->ice_found = f->analysis.ice.found;
        r->n_iso = f->analysis.n_iso;
        r->truth_coverage = -1;
        for (int k = 0; k < f->analysis.n_iso && f->truth.valid; k++)
            if (f->analysis.iso[k].temp_c == CN_GUIDANCE_LETHAL_TEMP_C) {
                cn_pt2 el[128];
                for (int j = 0; j < 128; j++) {
                    double a = 2 * M_PI * j / 128;
                    el[j] = (cn_pt2){(float)(f->truth.nerve_center_mm.x + f->truth.nerve_rx_mm * cos(a)),
                                     (float)(f->truth.nerve_center_mm.y + f->truth.nerve_ry_mm * sin(a))};
                }
                /* the same conservative edge of the -20 C band guidance uses */
                cn_pt2 inner[CN_CONTOUR_MAX];
                cn_guidance_conservative_edge(&f->analysis.iso[k], inner);
                r->truth_coverage = cn_guidance_coverage(el, 128, inner, f->analysis.iso[k].n, 0.1);
                r->band_mm = f->analysis.iso[k].band_mm;
                r->nominal_truth_coverage = cn_guidance_coverage(el, 128, f->analysis.iso[k].pts_mm,
                                                                 f->analysis.iso[k].n, 0.1);
            }
    }
    pthread_mutex_lock(&c->mu);
    c->published++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

typedef struct {
    double final_coverage, early_coverage, max_coverage, final_truth_coverage;
    double final_nominal_truth, final_band_mm;
    int skin_alarm_frames, freeze_frames, frames;
    double min_skin_mm;
} outcome;

static void run(double nerve_depth_mm, double tip_offset_mm, outcome *out)
{
    static ctx c; /* large: keep it off the stack */
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    char err[512] = "";
    cn_json *cfg = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    assert_non_null(cfg);

    cn_sim_config sc;
    cn_sim_config_defaults(&sc);
    assert_int_equal(cn_sim_config_from_json(cfg, "sim", &sc, err, sizeof err), CN_OK);
    sc.time_scale = 10;
    sc.fps = 5; /* 2 scene seconds per frame: few frames, the whole freeze */
    sc.nerve_depth_mm = nerve_depth_mm;
    sc.needle_target_offset_mm = tip_offset_mm;
    assert_int_equal(cn_sim_config_set_protocol(&sc, "morton-150s"), CN_OK);
    assert_int_equal(cn_sim_config_validate(&sc, err, sizeof err), CN_OK);
    cn_sim *sim = cn_sim_new(&sc);
    assert_non_null(sim);
    /* up to the end of the freeze, plus a few seconds of it melting */
    double freeze_end_s = sc.idle_s + sc.approach_s + sc.cycles[0].freeze_s;
    uint64_t frames = (uint64_t)(freeze_end_s * sc.fps / sc.time_scale) + 1;
    assert_true(frames < MAX_REC);
    cn_sim_device_opts dopt = {.realtime = false, .loop = false, .max_frames = frames};
    assert_int_equal(cn_sim_device_make(sim, &dopt, &c.inner), CN_OK);
    c.period_ns = (int64_t)llround(1e9 / sc.fps);

    cn_pipeline_opts po = {.pool_frames = 8, .max_width = sc.width_px, .max_height = sc.height_px};
    cn_pipeline *p = cn_pipeline_new(&po);
    assert_non_null(p);
    cn_device dev = {.name = "sim-lockstep", .self = &c, .start = dev_start, .read = dev_read,
                     .interrupt = dev_interrupt, .stop = dev_stop};
    assert_int_equal(cn_pipeline_set_device(p, &dev), CN_OK);

    cn_segment_config segc;
    cn_segment_config_default(&segc);
    double seed[2];
    bool has_seed = false;
    assert_int_equal(cn_segment_config_from_json(cfg, "segment", &segc, seed, &has_seed, err, sizeof err),
                     CN_OK);
    c.seg = cn_segment_new(&segc, sc.width_px, sc.height_px);
    assert_non_null(c.seg);
    cn_truth tr;
    cn_sim_truth_at(sim, 0, &tr);
    cn_segment_set_nerve_seed(c.seg, tr.nerve_center_mm); /* the operator points at the nerve */

    cn_thermal_stage_opts to;
    assert_int_equal(cn_thermal_stage_opts_from_json(&to, cfg, "thermal", CN_SOURCE_DIR "/config",
                                                     NULL, err, sizeof err),
                     CN_OK);
    to.skin_depth_mm = 0;
    cn_stage thermal;
    assert_int_equal(cn_thermal_stage_new(&to, &thermal, err, sizeof err), CN_OK);

    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    assert_int_equal(cn_guidance_config_from_json(cfg, "guidance", &gc, err, sizeof err), CN_OK);
    c.g = cn_guidance_new(&gc);
    assert_non_null(c.g);
    cn_guidance_set_field(c.g, cn_thermal_stage_temp_image, thermal.self);
    c.proc = cn_procedure_new(NULL, NULL);
    assert_non_null(c.proc);

    cn_stage st_console = {.name = "console", .self = &c, .process = console};
    cn_stage st_seg;
    cn_segment_stage(c.seg, &st_seg);
    cn_stage st_guid = {.name = "guidance", .self = &c, .process = timed_guidance};
    cn_sink sk = {.name = "record", .self = &c, .consume = sink};
    assert_int_equal(cn_pipeline_add_stage(p, &st_console), CN_OK);
    assert_int_equal(cn_pipeline_add_stage(p, &st_seg), CN_OK);
    assert_int_equal(cn_pipeline_add_stage(p, &thermal), CN_OK);
    assert_int_equal(cn_pipeline_add_stage(p, &st_guid), CN_OK);
    assert_int_equal(cn_pipeline_add_sink(p, &sk), CN_OK);

    int64_t t0 = cn_clock_mono_ns();
    assert_int_equal(cn_pipeline_start(p), CN_OK);
    for (int i = 0; i < 900 && !cn_pipeline_finished(p); i++)
        cn_clock_sleep_ns(100000000LL);
    double wall_s = (double)(cn_clock_mono_ns() - t0) / 1e9;
    cn_pipeline_stats ps;
    cn_pipeline_get_stats(p, &ps);
    cn_pipeline_stop(p);

    memset(out, 0, sizeof *out);
    out->early_coverage = -1;
    out->final_coverage = -1;
    out->max_coverage = -1;
    double freeze_start_s = sc.idle_s + sc.approach_s;
    double end_sum = 0, end_truth_sum = 0;
    int end_n = 0;
    for (uint64_t i = 0; i < frames; i++) {
        rec *r = &c.recs[i];
        if (!r->seen)
            continue;
        out->frames++;
        if (r->alarms & CN_ALARM_ICE_NEAR_SKIN)
            out->skin_alarm_frames++;
        if (r->phase != CN_PHASE_FREEZE)
            continue;
        out->freeze_frames++;
        double el = r->t_scene_s - freeze_start_s;
        if (el >= 25 && el < 35 && r->coverage >= 0 && out->early_coverage < 0)
            out->early_coverage = r->coverage;
        if (el >= sc.cycles[0].freeze_s - 10 && r->coverage >= 0) {
            /* the mean of the last 10 s: the curve jitters with the tracked pose */
            end_sum += r->coverage;
            end_truth_sum += r->truth_coverage;
            out->final_nominal_truth += r->nominal_truth_coverage;
            out->final_band_mm += r->band_mm;
            end_n++;
        }
        out->max_coverage = fmax(out->max_coverage, r->coverage);
    }
    if (end_n > 0)
    {
        out->final_coverage = end_sum / end_n;
        out->final_truth_coverage = end_truth_sum / end_n;
        out->final_nominal_truth /= end_n;
        out->final_band_mm /= end_n;
    }
    cn_guidance_summary s;
    cn_guidance_get_summary(c.g, &s);
    out->min_skin_mm = s.min_skin_distance_mm;
    print_message("  nerve at %.0f mm, tip %.0f mm short of its centre: %d frames analysed (%llu skipped) in %.1f s; coverage at "
                  "~30 s of freeze %.2f, over the last 10 s %.2f (of the true nerve %.2f, on the nominal curve %.2f; "
                  "band +-%.2f mm; max %.2f); ice-to-skin min %.1f mm; skin "
                  "alarm in %d frames; frozen %.0f s, lethal %.0f s; guidance stage %.3f ms mean, "
                  "%.3f ms max per frame\n",
                  nerve_depth_mm, tip_offset_mm, out->frames, (unsigned long long)ps.skipped, wall_s,
                  out->early_coverage, out->final_coverage, out->final_truth_coverage,
                  out->final_nominal_truth, out->final_band_mm, s.max_coverage, s.min_skin_distance_mm,
                  out->skin_alarm_frames, s.frozen_s, s.lethal_s,
                  c.guidance_n ? c.guidance_ms_sum / (double)c.guidance_n : 0, c.guidance_ms_max);
    assert_int_equal(ps.skipped, 0);
    assert_true(out->frames == (int)frames);

    cn_pipeline_free(p);
    cn_guidance_free(c.g);
    cn_procedure_free(c.proc);
    cn_thermal_stage_free(thermal.self);
    cn_segment_free(c.seg);
    cn_sim_device_release(&c.inner);
    cn_sim_free(sim);
    cn_json_free(cfg);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
}

static void test_deep_nerve_covered_no_skin_alarm(void **state)
{
    (void)state;
    outcome o;
    /* The tip at the nerve centre, so the active segment's ice centres near it. With
     * the simulator's default 3 mm short of it the ice centre is 6 mm from the nerve
     * centre and the -20 C curve (about 5 mm) covers about half the nerve at the end
     * of a 150 s freeze: that is the geometry, not the coverage computation. */
    run(18, 0, &o);
    assert_true(o.freeze_frames > 60); /* 150 s at 2 s per frame */
    /* the calibrated probe (issue 13) is warmer than the gas and coverage is
     * counted on the conservative edge of the -20 C band: about half the nerve
     * is surely lethal, most of it on the nominal curve */
    assert_true(o.final_coverage > 0.3);
    assert_true(o.final_nominal_truth > 0.6);
    assert_true(o.final_band_mm > 0 && o.final_band_mm < 3);
    /* the locked outline stands for the hidden nerve */
    assert_true(fabs(o.final_coverage - o.final_truth_coverage) < 0.15);
    assert_true(o.early_coverage >= 0 && o.final_coverage > o.early_coverage);
    assert_int_equal(o.skin_alarm_frames, 0);
    assert_true(o.min_skin_mm > 5);
}

static void test_shallow_nerve_skin_alarm(void **state)
{
    (void)state;
    outcome o;
    run(6, 0, &o);
    assert_true(o.skin_alarm_frames > 0);
    assert_true(o.min_skin_mm < 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_nerve_covered_no_skin_alarm),
        cmocka_unit_test(test_shallow_nerve_skin_alarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
