/*
 * test_thermal_stage.c - the thermal pipeline stage on real frames from a frame
 * pool: the freeze starts when the procedure state on the frame says so, the
 * model steps with the frame's scene clock, fits to the near-side rim and fills
 * the 0/-20/-40 C image-plane isotherms; the image plane comes from the tracked
 * poses (core's one rule) or from the needle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cn_thermal_catalog cat;

static void load(void)
{
    char err[512];
    memset(&cat, 0, sizeof cat);
    if (cn_thermal_catalog_load(&cat, CN_SOURCE_DIR "/config/cryoprobes.json",
                                CN_SOURCE_DIR "/config/protocols.json",
                                CN_SOURCE_DIR "/config/tissues.json", err, sizeof err))
        fail_msg("%s", err);
}

static const cn_pt2 kTip = {22, 16};
static const cn_pt2 kDir = {0.8660254f, 0.5f};

/* The near-side (transducer-side, smaller y) part of the truth's 0 C curve. */
static void rim_from_truth(const cn_thermal_model *truth, const cn_thermal_plane *pl,
                           cn_ice_front *ice, int64_t t_ns)
{
    cn_isotherm iso;
    memset(ice, 0, sizeof *ice);
    cn_thermal_model_plane_isotherm(truth, pl, 0, &iso);
    double cy = 0;
    for (int i = 0; i < iso.n; i++)
        cy += iso.pts_mm[i].y / iso.n;
    for (int i = 0; i < iso.n && ice->n < CN_ICE_PTS_MAX; i++)
        if (iso.pts_mm[i].y < cy - 1)
            ice->pts_mm[ice->n++] = iso.pts_mm[i];
    ice->found = ice->n >= 3;
    ice->t_ns = t_ns;
    ice->confidence = 0.9f;
}

static void run_session(bool poses)
{
    load();
    cn_thermal_stage_opts so;
    char err[256];
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, "17G-argon-2cm", "morton-150s",
                                                        "standard", err, sizeof err),
                     CN_OK);
    /* the stage's log, read at the end: where the zone was anchored */
    FILE *lf = tmpfile();
    assert_non_null(lf);
    so.log = cn_log_new(lf, CN_LOG_INFO);
    assert_non_null(so.log);
    cn_stage st;
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_OK);
    /* truth: 40 C warmer probe than the catalogue says */
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = 0.5;
    mo.surface_offset_c = 40;
    cn_thermal_model *truth = cn_thermal_model_new(&so.probe, &so.protocol, &so.tissue, &mo, err, sizeof err);
    cn_thermal_model *nominal = cn_thermal_model_new(&so.probe, &so.protocol, &so.tissue, NULL, err, sizeof err);
    assert_non_null(truth);
    assert_non_null(nominal);
    cn_thermal_plane pl;
    cn_thermal_plane_from_needle(kTip, kDir, &pl);
    cn_frame_pool *pool = cn_frame_pool_new(2, 64, 64);
    assert_non_null(pool);
    const int64_t t0 = 5000000000LL;
    int with_iso = 0;
    cn_frame *last = NULL;
    for (int i = 0; i <= 4 * 90; i++) { /* 4 fps, 90 s of freezing */
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_non_null(f);
        cn_frame_set_size(f, 64, 64); /* 32 x 32 mm: the curves are clipped to the image */
        f->spacing_mm[0] = f->spacing_mm[1] = 0.5;
        f->t_acq_ns = t0 + (int64_t)i * 250000000LL;
        f->t_scene_ns = f->t_acq_ns;
        f->analysis.guidance.phase = CN_PHASE_FREEZE; /* the procedure stage's say */
        f->analysis.guidance.cycle = 1;
        double ts = i * 0.25;
        cn_thermal_model_advance_to(truth, ts);
        if (poses) {
            /* the tracker is the image's pixel frame scaled to mm; the cryoprobe
             * placed so that the one rule puts it on the needle plane */
            cn_mat4 img = cn_mat4_scale(0.5, 0.5, 0.5), id = cn_mat4_identity(), cryo, mm2i;
            cn_mat4 i2mm = cn_frame_image_to_image_mm(f);
            cn_mat4_invert(&i2mm, &mm2i);
            cn_mat4 mm2t = cn_mat4_mul(&img, &mm2i), c2mm;
            cn_mat4_invert(&pl.image_mm_to_probe, &c2mm);
            cryo = cn_mat4_mul(&mm2t, &c2mm);
            cn_frame_set_pose(f, "ImageToProbe", &img, true);
            cn_frame_set_pose(f, "ProbeToTracker", &id, true);
            cn_frame_set_pose(f, "CryoprobeToTracker", &cryo, true);
        } else {
            f->analysis.needle.found = true;
            f->analysis.needle.tip_mm = kTip;
            f->analysis.needle.dir = kDir;
            f->analysis.needle.confidence = 0.8f;
        }
        if (ts >= 8)
            rim_from_truth(truth, &pl, &f->analysis.ice, f->t_acq_ns);
        assert_int_equal(st.process(st.self, f), CN_OK);
        if (f->analysis.n_iso == 3)
            with_iso++;
        if (last)
            cn_frame_unref(last);
        last = f;
    }
    assert_non_null(last);
    assert_int_equal(last->analysis.n_iso, 3);
    const float temps[3] = {0, -20, -40};
    for (int k = 0; k < 3; k++) {
        const cn_isotherm *iso = &last->analysis.iso[k];
        assert_true(iso->temp_c == temps[k]);
        assert_true(iso->n > 20);
        assert_true(isfinite(iso->radius_mm) && iso->radius_mm > 0);
        for (int i = 0; i < iso->n; i++)
            assert_true(isfinite(iso->pts_mm[i].x) && isfinite(iso->pts_mm[i].y));
    }
    /* what the zone stands on, on every frame the model gives (the viewer's status
     * line and the proctor's isotherm metadata read it) */
    assert_true(last->analysis.thermal.valid);
    if (poses) {
        assert_int_equal(last->analysis.thermal.anchor, CN_ZONE_ON_TRACKED_PROBE);
        assert_true(isnan(last->analysis.thermal.anchor_confidence));
    } else {
        assert_int_equal(last->analysis.thermal.anchor, CN_ZONE_ON_NEEDLE_LINE);
        assert_float_equal(last->analysis.thermal.anchor_confidence, 0.8, 1e-6);
    }
    assert_true(last->analysis.iso[0].radius_mm > last->analysis.iso[1].radius_mm);
    assert_true(last->analysis.iso[1].radius_mm > last->analysis.iso[2].radius_mm);
    cn_thermal_model_advance_to(nominal, 90);
    double rt = cn_thermal_model_radius_at(truth, 0, -10), rn = cn_thermal_model_radius_at(nominal, 0, -10);
    double rs = last->analysis.iso[0].radius_mm;
    print_message("  90 s: truth R0 %.2f, nominal model %.2f, stage (fitted) %.2f mm; %d frames with isotherms\n",
                  rt, rn, rs, with_iso);
    assert_true(fabs(rs - rt) < fabs(rn - rt));
    assert_true(fabs(rs - rt) < 0.5);
    int64_t ts0 = 0;
    assert_true(cn_thermal_stage_started(st.self, &ts0));
    assert_true(ts0 == t0); /* the freeze began on the first frame */
    const cn_thermal_ensemble *ens = cn_thermal_stage_ensemble(st.self);
    assert_non_null(ens);
    cn_thermal_fit_result fr;
    cn_thermal_ensemble_result(ens, &fr);
    double sd = 0, rr = cn_thermal_ensemble_radius_at(ens, 0, -so.probe.active_length_mm / 2, &sd);
    print_message("  fit: offset %+.0f C, perfusion %.4f /s, residual %.2f mm; deep edge %.2f +- %.2f mm\n",
                  fr.surface_offset_c, fr.perfusion_per_s, fr.residual_mm, rr, sd);
    assert_true(fr.n_obs > 100 && fr.residual_mm < 0.5);
    assert_true(fr.surface_offset_c > 10); /* the truth is 40 C warmer */
    assert_true(sd > 0 && sd < 1);
    /* rewound (a replay gone back): no freeze seen, no cold; the next freeze
     * frame, earlier in scene time, starts the model again there */
    cn_thermal_stage_rewind(st.self);
    assert_false(cn_thermal_stage_started(st.self, NULL));
    assert_null(cn_thermal_stage_ensemble(st.self));
    last->t_acq_ns = last->t_scene_ns = t0 - 1000000000LL;
    memset(&last->analysis.ice, 0, sizeof last->analysis.ice);
    last->analysis.n_iso = 0;
    assert_int_equal(st.process(st.self, last), CN_OK);
    assert_true(cn_thermal_stage_started(st.self, &ts0));
    assert_true(ts0 == t0 - 1000000000LL);
    cn_thermal_stage_rewind(NULL);
    cn_frame_unref(last);
    assert_int_equal(cn_frame_pool_free(pool), CN_OK);
    cn_thermal_model_free(truth);
    cn_thermal_model_free(nominal);
    cn_thermal_stage_free(st.self);
    /* Without a tracked cryoprobe the zone sits on the detected needle, which on real
     * tissue may be a fascia plane (docs/validation.md): the operator is told each time
     * the model is anchored (here twice: the session, then again after the rewind),
     * with the place and the confidence; with one, nothing of the kind. */
    cn_log_free(so.log);
    static char text[1 << 16];
    rewind(lf);
    size_t n = fread(text, 1, sizeof text - 1, lf);
    text[n] = 0;
    fclose(lf);
    const char *w = strstr(text, "the zone is anchored on the needle found in the image");
    if (poses) {
        assert_null(w);
    } else {
        assert_non_null(w);
        char want[128];
        snprintf(want, sizeof want, "(tip %.1f, %.1f mm, confidence 0.80)", kTip.x, kTip.y);
        assert_non_null(strstr(w, want));
        int warned = 0, anchored = 0;
        for (const char *q = text; (q = strstr(q, "the zone is anchored on the needle")); q++)
            warned++;
        for (const char *q = text; (q = strstr(q, "model anchored where the probe is")); q++)
            anchored++;
        assert_int_equal(anchored, 2);
        assert_int_equal(warned, anchored);
    }
}

/* A freeze where the cryoprobe's place is not known (no tracked cryoprobe, no needle
 * line): no zone, and the frame says the model waits (the viewer's status line shows
 * it); once a needle line is found the model starts there, from the freeze's start. */
static void test_freeze_waits_for_the_probe(void **state)
{
    (void)state;
    load();
    cn_thermal_stage_opts so;
    char err[256];
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, "17G-argon-2cm", "morton-150s",
                                                        "standard", err, sizeof err),
                     CN_OK);
    cn_stage st;
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_OK);
    cn_frame_pool *pool = cn_frame_pool_new(1, 64, 64);
    for (int i = 0; i < 8; i++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, 64, 64);
        f->spacing_mm[0] = f->spacing_mm[1] = 0.5;
        f->t_acq_ns = f->t_scene_ns = 1000000000LL + i * 250000000LL;
        f->analysis.guidance.phase = CN_PHASE_FREEZE;
        f->analysis.guidance.cycle = 1;
        if (i >= 4) { /* the line is found from the fifth frame on */
            f->analysis.needle.found = true;
            f->analysis.needle.tip_mm = kTip;
            f->analysis.needle.dir = kDir;
            f->analysis.needle.confidence = 0.7f;
        }
        assert_int_equal(st.process(st.self, f), CN_OK);
        assert_int_equal(f->analysis.thermal.waiting, i < 4);
        assert_int_equal(f->analysis.thermal.valid, i >= 4);
        cn_frame_unref(f);
    }
    int64_t t0 = 0;
    assert_true(cn_thermal_stage_started(st.self, &t0));
    assert_true(t0 == 1000000000LL);
    /* out of the freeze: nothing waits */
    cn_frame *f = cn_frame_pool_acquire(pool);
    cn_frame_set_size(f, 64, 64);
    f->spacing_mm[0] = f->spacing_mm[1] = 0.5;
    f->t_acq_ns = f->t_scene_ns = 4000000000LL;
    f->analysis.guidance.phase = CN_PHASE_THAW;
    f->analysis.guidance.cycle = 1;
    assert_int_equal(st.process(st.self, f), CN_OK);
    assert_false(f->analysis.thermal.waiting);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_thermal_stage_free(st.self);
}

static void test_needle_plane(void **state)
{
    (void)state;
    run_session(false);
}

static void test_tracked_poses(void **state)
{
    (void)state;
    run_session(true);
}

static void test_plane_from_poses_matches_needle(void **state)
{
    (void)state;
    cn_frame_pool *pool = cn_frame_pool_new(1, 16, 16);
    cn_frame *f = cn_frame_pool_acquire(pool);
    f->spacing_mm[0] = 0.2;
    f->spacing_mm[1] = 0.25;
    cn_thermal_plane pn, pf;
    cn_thermal_plane_from_needle(kTip, kDir, &pn);
    assert_int_equal(cn_thermal_plane_from_frame(f, &pf), CN_ENOENT); /* no poses */
    /* pixel-based ImageToProbe (PLUS), a rotated tracker; the cryoprobe placed on
     * the needle plane through core's one rule (pixel centres at (i + 0.5) sp) */
    cn_mat4 img = cn_mat4_scale(0.2, 0.25, 0.2);
    cn_mat4 p2t = cn_mat4_rotation_axis_angle((cn_vec3){0.3, 0.5, 0.8}, 0.7);
    p2t.m[3] = 10;
    p2t.m[7] = -4;
    cn_mat4 i2mm = cn_frame_image_to_image_mm(f), mm2i, c2mm;
    cn_mat4_invert(&i2mm, &mm2i);
    cn_mat4 i2t = cn_mat4_mul(&p2t, &img), mm2t = cn_mat4_mul(&i2t, &mm2i);
    cn_mat4_invert(&pn.image_mm_to_probe, &c2mm);
    cn_mat4 cryo = cn_mat4_mul(&mm2t, &c2mm);
    cn_frame_set_pose(f, "ImageToProbe", &img, true);
    cn_frame_set_pose(f, "ProbeToTracker", &p2t, true);
    cn_frame_set_pose(f, "CryoprobeToTracker", &cryo, true);
    assert_int_equal(cn_thermal_plane_from_frame(f, &pf), CN_OK);
    assert_true(cn_mat4_max_abs_diff(&pf.image_mm_to_probe, &pn.image_mm_to_probe) < 1e-9);
    /* the tip sits where core's rule puts it: exactly kTip, no half-pixel slip */
    cn_mat4 back;
    cn_mat4_invert(&pf.image_mm_to_probe, &back);
    cn_vec3 tip = cn_mat4_apply_point(&back, (cn_vec3){0, 0, 0});
    assert_true(fabs(tip.x - kTip.x) < 1e-9 && fabs(tip.y - kTip.y) < 1e-9);
    /* lost tracking */
    cn_frame_set_pose(f, "CryoprobeToTracker", &cryo, false);
    assert_int_equal(cn_thermal_plane_from_frame(f, &pf), CN_ENOENT);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
}

static void test_bad_options(void **state)
{
    (void)state;
    load();
    cn_thermal_stage_opts so;
    char err[256];
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, "nope", NULL, NULL, err, sizeof err),
                     CN_ENOENT);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, NULL, NULL, NULL, err, sizeof err), CN_OK);
    so.h3_mm = NAN;
    cn_stage st;
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_EINVAL);
    so.h3_mm = 1;
    so.fit.sigma_mm = NAN;
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_EINVAL);
}

static void test_opts_from_json(void **state)
{
    (void)state;
    char err[512];
    cn_json *doc = cn_json_parse("{\"thermal\": {\"probe\": \"1.7mm-argon\",\n"
                                 " \"protocol\": \"spermatic-2x90s\", \"fit\": false,\n"
                                 " \"grid3d_mm\": 1.25, \"grid3d_catch_up_ms\": 12}}",
                                 "session.json", err, sizeof err);
    assert_non_null(doc);
    cn_thermal_stage_opts so;
    assert_int_equal(cn_thermal_stage_opts_from_json(&so, doc, "thermal", CN_SOURCE_DIR "/config",
                                                     NULL, err, sizeof err),
                     CN_OK);
    assert_string_equal(so.probe.name, "1.7mm-argon");
    assert_string_equal(so.protocol.name, "spermatic-2x90s");
    assert_string_equal(so.tissue.name, "standard");
    assert_false(so.fit_enabled);
    assert_true(so.h3_mm == 1.25);
    assert_true(so.grid_catch_up_ms == 12);
    cn_json_free(doc);
    /* a 3-D catch-up budget out of range names the key */
    doc = cn_json_parse("{\"thermal\": {\"grid3d_catch_up_ms\": -5}}", "session.json", err,
                        sizeof err);
    assert_int_not_equal(cn_thermal_stage_opts_from_json(
                             &so, doc, "thermal", CN_SOURCE_DIR "/config", NULL, err, sizeof err),
                         CN_OK);
    assert_non_null(strstr(err, "grid3d_catch_up_ms"));
    cn_json_free(doc);
    /* the old scene-clock hack is gone: time_scale is an unknown key now */
    doc = cn_json_parse("{\"thermal\": {\"time_scale\": 4}}", "session.json", err, sizeof err);
    assert_int_not_equal(cn_thermal_stage_opts_from_json(
                             &so, doc, "thermal", CN_SOURCE_DIR "/config", NULL, err, sizeof err),
                         CN_OK);
    assert_non_null(strstr(err, "time_scale"));
    cn_json_free(doc);
    /* no object: the defaults */
    assert_int_equal(cn_thermal_stage_opts_from_json(&so, NULL, "thermal", CN_SOURCE_DIR "/config",
                                                     NULL, err, sizeof err),
                     CN_OK);
    assert_string_equal(so.probe.name, "17G-argon-2cm");
    /* a typo and an unknown probe are errors naming them */
    doc = cn_json_parse("{\"thermal\": {\"prob\": \"x\"}}", "session.json", err, sizeof err);
    assert_int_not_equal(cn_thermal_stage_opts_from_json(
                             &so, doc, "thermal", CN_SOURCE_DIR "/config", NULL, err, sizeof err),
                         CN_OK);
    assert_non_null(strstr(err, "prob"));
    cn_json_free(doc);
    doc = cn_json_parse("{\"thermal\": {\"probe\": \"x9\"}}", "session.json", err, sizeof err);
    assert_int_not_equal(cn_thermal_stage_opts_from_json(
                             &so, doc, "thermal", CN_SOURCE_DIR "/config", NULL, err, sizeof err),
                         CN_OK);
    assert_non_null(strstr(err, "x9"));
    cn_json_free(doc);
}

/* A session in aerated lung runs the probe's own lung fit (issue 13: the wall runs
 * colder where the medium draws less heat), its ensemble (the viewer's band) spans
 * that fit's uncertainty; the same probe in soft tissue keeps its default. The
 * expected values are read from config/cryoprobes.json itself. */
static void test_session_in_lung_uses_its_fit(void **state)
{
    (void)state;
    char err[512];
    cn_json *probes = cn_json_load(CN_SOURCE_DIR "/config/cryoprobes.json", err, sizeof err);
    assert_non_null(probes);
    double lung_c = NAN, lung_sd = NAN, def_c = NAN;
    for (int i = 0; i < cn_json_array_size(probes, "probes"); i++) {
        char k[200], name[64] = "";
        snprintf(k, sizeof k, "probes[%d].name", i);
        cn_json_get_string(probes, k, name, sizeof name, err, sizeof err);
        if (strcmp(name, "2.4mm-argon") != 0)
            continue;
        snprintf(k, sizeof k, "probes[%d].surface_temp_c", i);
        assert_int_equal(cn_json_get_number(probes, k, -200, 0, &def_c, err, sizeof err), CN_OK);
        snprintf(k, sizeof k, "probes[%d].surface_by_tissue.lung-aerated-invivo.surface_temp_c", i);
        assert_int_equal(cn_json_get_number(probes, k, -200, 0, &lung_c, err, sizeof err), CN_OK);
        snprintf(k, sizeof k, "probes[%d].surface_by_tissue.lung-aerated-invivo.surface_temp_sd_c", i);
        assert_int_equal(cn_json_get_number(probes, k, 0, 100, &lung_sd, err, sizeof err), CN_OK);
    }
    cn_json_free(probes);
    assert_true(lung_c < def_c - 10); /* a different, colder fit: the test can tell them apart */

    cn_json *doc = cn_json_parse("{\"thermal\": {\"probe\": \"2.4mm-argon\",\n"
                                 " \"tissue\": \"lung-aerated-invivo\"}}",
                                 "session.json", err, sizeof err);
    assert_non_null(doc);
    cn_thermal_stage_opts so;
    assert_int_equal(cn_thermal_stage_opts_from_json(&so, doc, "thermal", CN_SOURCE_DIR "/config",
                                                     NULL, err, sizeof err),
                     CN_OK);
    cn_json_free(doc);
    print_message("  lung session: surface %.1f C +- %.1f (file: %.1f +- %.1f), ensemble %+.0f..%+.0f C\n",
                  so.probe.surface_temp_c, so.probe.surface_temp_sd_c, lung_c, lung_sd,
                  so.fit.offset_min_c, so.fit.offset_max_c);
    assert_string_equal(so.tissue.name, "lung-aerated-invivo");
    assert_true(fabs(so.probe.surface_temp_c - lung_c) < 1e-9);
    assert_true(fabs(so.probe.surface_temp_sd_c - lung_sd) < 1e-9);
    assert_true(fabs(so.fit.prior_sd_c - lung_sd) < 1e-9); /* the band's spread */
    assert_true(fabs(so.fit.offset_max_c - 2 * lung_sd) < 1e-9);

    /* the same probe in soft tissue: the default (agar / soft-tissue fit) */
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, "2.4mm-argon", NULL, "standard",
                                                        err, sizeof err),
                     CN_OK);
    assert_true(fabs(so.probe.surface_temp_c - def_c) < 1e-9);
}

/* A freeze whose ice the image never showed is unverified (NO ICE SEEN) through its thaw;
 * the withdrawal ends that: the red alarm came back at the next insertion, over a new
 * approach (review 44 F2). The needle line, no rim ever, 60 s of freeze at 4 frames/s. */
static void test_unseen_freeze_ends_at_withdrawal(void **st)
{
    (void)st;
    load();
    cn_thermal_stage_opts so;
    char err[256];
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&so, &cat, "17G-argon-2cm", "morton-150s",
                                                        "standard", err, sizeof err),
                     CN_OK);
    cn_stage stg;
    assert_int_equal(cn_thermal_stage_new(&so, &stg, err, sizeof err), CN_OK);
    cn_frame_pool *pool = cn_frame_pool_new(2, 64, 64);
    assert_non_null(pool);
    bool unseen_in_freeze = false;
    int unseen_after = 0;
    for (int i = 0; i < 4 * 80; i++) {
        const double ts = i * 0.25;
        cn_phase ph = ts < 60 ? CN_PHASE_FREEZE : ts < 65 ? CN_PHASE_THAW
                             : ts < 70 ? CN_PHASE_WITHDRAWN : CN_PHASE_APPROACH;
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_frame_set_size(f, 64, 64);
        f->spacing_mm[0] = f->spacing_mm[1] = 0.5;
        f->t_acq_ns = f->t_scene_ns = 5000000000LL + (int64_t)i * 250000000LL;
        f->analysis.guidance.phase = ph;
        f->analysis.guidance.cycle = 1;
        f->analysis.guidance.phase_elapsed_s = ts < 60 ? ts : ts - 60;
        f->analysis.needle.found = true;
        f->analysis.needle.tip_mm = kTip;
        f->analysis.needle.dir = kDir;
        f->analysis.needle.confidence = 0.8f;
        assert_int_equal(stg.process(stg.self, f), CN_OK);
        if (ph == CN_PHASE_FREEZE)
            unseen_in_freeze |= f->analysis.thermal.no_ice_seen;
        if (ph == CN_PHASE_WITHDRAWN || ph == CN_PHASE_APPROACH)
            unseen_after += f->analysis.thermal.no_ice_seen;
        cn_frame_unref(f);
    }
    print_message("  unverified in the freeze %d; frames unverified after the withdrawal %d\n",
                  unseen_in_freeze, unseen_after);
    assert_true(unseen_in_freeze);
    assert_int_equal(unseen_after, 0);
    cn_thermal_stage_free(stg.self);
    cn_frame_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plane_from_poses_matches_needle),
        cmocka_unit_test(test_freeze_waits_for_the_probe),
        cmocka_unit_test(test_needle_plane),
        cmocka_unit_test(test_unseen_freeze_ends_at_withdrawal),
        cmocka_unit_test(test_tracked_poses),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_opts_from_json),
        cmocka_unit_test(test_session_in_lung_uses_its_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
