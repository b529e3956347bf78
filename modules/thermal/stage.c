/*
 * stage.c - the thermal model as a pipeline stage, frame by frame: the predicted
 * zone of what really happened, in the tissue.
 *
 * Per analysed frame:
 *  1. the procedure state on the frame (guidance's procedure module ran first)
 *     says what the probe does: a freeze begins (at the probe's pose, in the
 *     Reference frame: the spot), a thaw (passive, or active when heated), a
 *     reposition or a withdrawal (the probe leaves its track); the model gets it
 *     at the frame's scene time, never from the plan;
 *  2. the cold field (field.c), anchored where the first freeze began, is stepped
 *     to the frame's scene time (a bounded number of member steps per frame);
 *  3. the frame's image plane is placed in the field with the one rule of core
 *     (cn_frame_image_to: pixels; ImageToImageMm: pixel centres), so the curves
 *     are where the ice is, whatever the probe does now;
 *  4. the rim points the segmenter found refine the fit (one spot only);
 *  5. one ray march from the zone's centre gives the 0, -20 and -40 C curves at
 *     once (shared samples, early stop), clipped to the image and the tissue
 *     below the skin line; the -20 C curve carries its uncertainty band; the 0 C
 *     surface's shallowest point in 3-D gives the ice depth for the skin alarm.
 * Without tracking the reference is the image itself and the probe pose comes
 * from the detected in-plane needle.
 *
 * This file is that per-frame flow (the stage's process); the handle (made, freed,
 * rewound), what the rest of the program reads of it between frames, and the poses
 * that place the image and the probe in the stage's reference are stage_handle.c's.
 */
#include "stage_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The model contradicts the image (cn_thermal_result.disagree_mm): its best member's
 * RMS distance to the rim points of the last minute, after this many points. */
#define DISAGREE_MM 1.5
#define DISAGREE_MIN_OBS 400

/* A freeze whose model ice reaches this far beyond the probe's wall and whose rim
 * the image has not shown yet is unverified (until the next freeze that shows it):
 * 2 mm is 19 pixels on the UP20L, and the model's ice is that large some 20-30 s
 * into a freeze, when the simulator's rim has been found for seconds (ice found in
 * 2671 of 2691 freeze frames of `cryonav eval sim`). */
#define NO_ICE_BEYOND_WALL_MM 2.0

/* ---------------------------------------------------------------- the stage */

static double model_t(const thermal_stage *s, int64_t t_ns) { return (double)(t_ns - s->t0_ns) * 1e-9; }

static bool has_event(const cn_frame *f, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < f->analysis.n_events && i < CN_EVENTS_MAX; i++)
        if (strncmp(f->analysis.events[i].text, name, n) == 0 &&
            (f->analysis.events[i].text[n] == 0 || f->analysis.events[i].text[n] == ' '))
            return true;
    return false;
}

static int start_field(thermal_stage *s, const cn_mat4 *pose_to_ref, int64_t t0_ns,
                       const cn_needle_result *detected)
{
    cn__field_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.probe = s->o.probe;
    fo.tissue = s->o.tissue;
    fo.plan = s->o.protocol;
    fo.fit = s->o.fit;
    fo.fit_enabled = s->o.fit_enabled;
    fo.h3_mm = s->o.h3_mm;
    fo.log = s->o.log;
    char err[256];
    s->field = cn__field_new(&fo, pose_to_ref, err, sizeof err);
    if (!s->field) {
        cn_log_error(s->o.log, "thermal", "cannot start the model: %s", err);
        return CN_ENOMEM;
    }
    s->t0_ns = t0_ns;
    /* A freeze that began before this frame (keyed when its ice had been seen for a
     * while, a replay started in a freeze): every member is stepped there at once, on
     * this frame. Left to the per-frame catch-up, 13 members 31 s behind at 4 frames a
     * second gained 0.75 steps a frame, and the fit sat out the whole freeze (the zone
     * 0.7 mm inside the ice seen at 150 s). */
    s->catch_up_all = true;
    s->catch_from_s = 0;
    cn_log_info(s->o.log, "thermal", "freeze: model anchored where the probe is (%s reference): %s, %s",
                s->ref_mode == REF_TRACKED ? "tracked" : "image", s->o.probe.name, s->o.tissue.name);
    /* No tracked cryoprobe: the zone sits on the needle the image analysis found. On
     * real tissue it also takes fascia planes for a shaft (a third of nerve-block views
     * without a needle, docs/validation.md), so the operator is told where it was. */
    if (detected)
        cn_log_warn(s->o.log, "thermal",
                    "freeze: no tracked cryoprobe: the zone is anchored on the needle found in the "
                    "image (tip %.1f, %.1f mm, confidence %.2f): check that the needle line on the "
                    "screen is the shaft", detected->tip_mm.x, detected->tip_mm.y,
                    detected->confidence);
    int rc = cn__field_set_mode(s->field, CN_PROBE_FREEZE, 0);
    cn__field_refine_anchor(s->field, pose_to_ref);
    return rc;
}

int cn__stage_process(void *self, cn_frame *f)
{
    thermal_stage *s = self;
    cn_analysis *a = &f->analysis;
    a->n_iso = 0;
    memset(&a->thermal, 0, sizeof a->thermal);
    a->thermal.ice_depth_mm = INFINITY;
    a->thermal.probe_temp_c = NAN;
    s->cache_ok = false;
    s->cache_seq = f->seq;
    int64_t t_ns = f->t_scene_ns != CN_SCENE_TIME_UNSET ? f->t_scene_ns : f->t_acq_ns;
    const cn_guidance_state *g = &a->guidance;
    /* said on frames that return before the watch too (no model time yet, the image not
     * tracked), or the alarm would flicker */
    a->thermal.ice_grows_in_thaw = s->grows && g->phase == CN_PHASE_THAW;
    a->thermal.ice_regrows_since_ns = a->thermal.ice_grows_in_thaw ? s->regrows_ns : 0;
    a->thermal.ice_regrows_peak_ns =
        a->thermal.ice_grows_in_thaw && s->regrows_ns ? s->regrow_over_ns : 0;
    int mode = s->ref_mode;
    if (mode == REF_UNKNOWN) /* decided when the model is anchored */
        mode = cn_frame_usable_pose(f, "ProbeToTracker") ? REF_TRACKED : REF_IMAGE;
    cn_mat4 img_to_ref, c2mm, cryo_to_ref;
    bool img_ok = cn__stage_image_to_ref(s, f, mode, &img_to_ref);
    bool cryo_det = false;
    bool cryo_ok = img_ok && cn__stage_cryo_to_image_mm(f, mode == REF_TRACKED, &c2mm, &cryo_det);
    const cn_needle_result *det = cryo_ok && cryo_det ? &f->analysis.needle : NULL;
    if (cryo_ok)
        cryo_to_ref = cn_mat4_mul(&img_to_ref, &c2mm);

    /* 1. what the probe does, from the procedure state on this frame */
    bool entering_freeze = g->phase == CN_PHASE_FREEZE &&
                           (!s->seen || s->last_phase != CN_PHASE_FREEZE || g->cycle != s->last_cycle);
    /* a whole freeze since the last frame: f keyed over ice that had grown and shrunk
     * again dates both its start and its stop back. Before, the model never saw it (no
     * zone at all through the thaw) */
    const bool missed_freeze = g->phase == CN_PHASE_THAW && s->seen && g->cycle != s->last_cycle &&
                               s->last_phase != CN_PHASE_FREEZE && g->freeze_s > 0;
    double thaw_began_s = 0; /* model time, missed_freeze only */
    double t_froze_s = 0;    /* model time the freeze was given (0: the field's start) */
    if (missed_freeze) {
        entering_freeze = true;
        thaw_began_s = g->phase_elapsed_s;
    }
    int rc = CN_OK;
    cn__stage_note_line(s, f, t_ns);
    /* the probe is out: an unseen freeze's NO ICE SEEN asks nothing of it any more, nor
     * of the next insertion (review 44 F2: it came back red at the re-insertion) */
    if (g->phase == CN_PHASE_WITHDRAWN)
        s->unverified = false;
    if (entering_freeze && cryo_ok) {
        s->anchor = det ? CN_ZONE_ON_NEEDLE_LINE : CN_ZONE_ON_TRACKED_PROBE;
        s->anchor_conf = det ? det->confidence : NAN;
        s->anchor_spread_mm = det ? cn__stage_line_spread(s, det, t_ns) : 0.0f;
    }
    /* when the freeze began: this frame, or before the first frame the model saw
     * (a replay of a recording started mid-freeze: the procedure took the freeze
     * from the recorded history, so the phase is not new, only new to the model) */
    const double elapsed_s = missed_freeze ? g->phase_elapsed_s + g->freeze_s : g->phase_elapsed_s;
    const int64_t t_entered_ns =
        entering_freeze && elapsed_s > 0 ? t_ns - llround(elapsed_s * 1e9) : t_ns;
    /* the freeze stopped went on (the gas stayed on): the field goes back to the stop */
    const bool resumed = entering_freeze && !missed_freeze && s->seen &&
                         s->last_phase == CN_PHASE_THAW &&
                         g->cycle == s->last_cycle &&
                         cn__stage_take_back_thaw(s, g->cycle, model_t(s, t_ns));
    if (resumed)
        entering_freeze = false;
    if (entering_freeze) {
        cn__stage_keep_thaw_back(s, false, 0, 0);
        /* the ice left by an earlier freeze whose rim was seen is not unverified ice
         * (before, every re-freeze opened with NO ICE SEEN for ~12 s while its rim was
         * on the image: the ice detector's baseline holds the old rim, and the model's
         * ice was already 3.7 mm: teaching audit T11) */
        s->verified_r0_mm = s->field && s->rim_seen && !s->unverified ? NAN : 0;
        s->rim_seen = s->unverified = false;
    }
    if (g->phase == CN_PHASE_FREEZE && a->ice.found && a->ice.n > 0)
        s->rim_seen = true;
    if (entering_freeze) {
        if (!s->field) {
            if (cryo_ok) {
                s->ref_mode = mode;
                rc = start_field(s, &cryo_to_ref, t_entered_ns, det);
            } else if (missed_freeze) {
                /* its thaw has begun: there is no freeze left to wait for */
                cn_log_warn(s->o.log, "thermal", "a freeze dated %.1f s back, over already, where "
                            "the cryoprobe is not known (no tracked pose, no detected needle): "
                            "the model does not show it", elapsed_s);
            } else {
                s->pending = true;
                s->pending_ns = t_entered_ns;
                if (!s->warned_pose)
                    cn_log_warn(s->o.log, "thermal", "a freeze began where the cryoprobe is not known "
                                "(no tracked pose, no detected needle): the model waits for it");
                s->warned_pose = true;
            }
        } else {
            bool moved = false;
            /* A re-freeze after a thaw: the probe was frozen in place all through it,
             * so its place is the mean of the thaw's tracked tips, not one frame's
             * pose. One frame carries the noise of two tracked poses: at 0.5 mm per
             * axis it read 1.8 mm off, a "new spot" 3-D model with a cold source where
             * the probe never was, coverage doubled (thermal audit F5). */
            cn_mat4 at = cryo_to_ref;
            if (cryo_ok && s->last_phase == CN_PHASE_THAW && s->thaw_tips >= 3) {
                cn_vec3 now = cn_mat4_apply_point(&cryo_to_ref, (cn_vec3){0, 0, 0});
                cn_vec3 mean =
                    cn_vec3_scale(cn_vec3_add(s->thaw_tip_sum, now), 1.0 / (s->thaw_tips + 1));
                at.m[3] += mean.x - now.x;
                at.m[7] += mean.y - now.y;
                at.m[11] += mean.z - now.z;
            }
            /* a freeze dated before this frame (its ice seen growing before the key) starts
             * there: the field goes back to a snapshot (before, from the key: 3.5 mm of
             * ice against none at the key of a second freeze) */
            double t_f = model_t(s, t_entered_ns);
            const double last = s->have_last_t ? s->last_t : 0;
            t_f = t_f < last - 0.5 ? cn__stage_back_to(s, t_f) : fmax(t_f, last);
            t_froze_s = t_f;
            rc = cn__field_freeze(s->field, cryo_ok ? &at : NULL, t_f, s->o.spot_tol_mm,
                                  s->o.spot_tol_deg, &moved);
        }
        if (missed_freeze && s->field && !rc) { /* and its thaw, from the stop */
            /* never before the freeze the field could take (a state too old to go back
             * to: the freeze from now, at once over; before, the thaw was refused and the
             * model froze through it, 5.3 mm of zone over 1.3 mm of ice, the review) */
            const double t_thaw = model_t(s, t_ns - llround(thaw_began_s * 1e9));
            rc = cn__field_set_mode(s->field, g->active_thaw ? CN_PROBE_HEAT : CN_PROBE_OFF,
                                    fmax(t_thaw, t_froze_s));
            s->dated_thaw = true;
        }
    } else if (s->pending && g->phase == CN_PHASE_FREEZE && cryo_ok) {
        s->pending = false;
        s->anchor = det ? CN_ZONE_ON_NEEDLE_LINE : CN_ZONE_ON_TRACKED_PROBE;
        s->anchor_conf = det ? det->confidence : NAN;
        s->anchor_spread_mm = det ? NAN : 0.0f; /* a line first found in the freeze */
        s->ref_mode = mode;
        rc = start_field(s, &cryo_to_ref, s->pending_ns, det);
    } else if (s->field && s->seen) {
        bool thaw_change = g->phase == CN_PHASE_THAW &&
                           (s->last_phase != CN_PHASE_THAW || g->active_thaw != s->last_active);
        bool left = (g->phase == CN_PHASE_APPROACH || g->phase == CN_PHASE_WITHDRAWN ||
                     g->phase == CN_PHASE_IDLE) &&
                    g->phase != s->last_phase;
        /* when the thaw began: a freeze stop keyed with its ice shrinking since earlier
         * is given that time (the procedure's phase starts there) */
        double t_thaw = model_t(s, t_ns);
        if (thaw_change && s->last_phase == CN_PHASE_FREEZE && g->phase_elapsed_s > 0.5) {
            t_thaw = cn__stage_back_to(s, t_thaw - g->phase_elapsed_s);
            s->dated_thaw = true;
        }
        if (thaw_change || left) /* kept from a freeze's stop into a passive thaw only */
            cn__stage_keep_thaw_back(s, thaw_change && s->last_phase == CN_PHASE_FREEZE &&
                                            !g->active_thaw,
                                     g->cycle, t_thaw);
        if (thaw_change)
            rc = cn__field_set_mode(s->field, g->active_thaw ? CN_PROBE_HEAT : CN_PROBE_OFF,
                                    t_thaw);
        else if (left)
            /* a reposition or a withdrawal takes the probe out of its track; a
             * thaw stopped leaves it in, without gas */
            rc = cn__field_set_mode(s->field,
                                    g->phase == CN_PHASE_APPROACH && !has_event(f, "reposition")
                                        ? CN_PROBE_OFF
                                        : CN_PROBE_OUT,
                                    model_t(s, t_ns));
    }
    /* a thaw begins: after a freeze, or a whole freeze since the last frame (a new cycle:
     * the review found the dated flag kept for a later thaw) */
    if (g->phase == CN_PHASE_THAW &&
        (s->last_phase != CN_PHASE_THAW || g->cycle != s->last_cycle || !s->seen))
        cn__stage_thaw_begins(s);
    if (g->phase == CN_PHASE_THAW && cryo_ok && s->ref_mode == REF_TRACKED) {
        s->thaw_tip_sum = cn_vec3_add(s->thaw_tip_sum,
                                      cn_mat4_apply_point(&cryo_to_ref, (cn_vec3){0, 0, 0}));
        s->thaw_tips++;
    }
    if (g->phase != CN_PHASE_FREEZE)
        s->pending = false;
    else if (s->field && cryo_ok && !entering_freeze)
        cn__field_refine_anchor(s->field, &cryo_to_ref);
    a->thermal.waiting = s->pending && !s->field;
    /* what the probe does changed: the next snapshot holds the change */
    if (!s->seen || g->phase != s->last_phase || g->cycle != s->last_cycle ||
        g->active_thaw != s->last_active)
        s->snap_now = true;
    s->seen = true;
    s->last_phase = g->phase;
    s->last_cycle = g->cycle;
    s->last_active = g->active_thaw;
    if (rc)
        cn_log_error(s->o.log, "thermal", "the model could not follow the procedure: %s", cn_strerror(rc));
    if (!s->field)
        return CN_OK;

    /* 2. the field to the frame's scene time; long after the last freeze the ice
     * has melted: stop stepping, so a clock jump never costs minutes at once */
    double t = model_t(s, t_ns);
    if (t < 0)
        return CN_OK;
    /* the other members' catch-up: enough whole steps for the scene time this
     * frame stands for, within [max_members_per_frame, 24] (a frame's work stays
     * bounded: at a high time scale on a slow machine they lag, and sit out the
     * fit meanwhile, rather than slow every frame down further) */
    int budget = s->o.max_members_per_frame;
    const cn_thermal_ensemble *ens = cn__field_ensemble(s->field);
    if (ens && s->have_last_t && t > s->last_t) {
        double need = 1.2 * (cn_thermal_ensemble_size(ens) - 2) * (t - s->last_t);
        int b = (int)ceil(need);
        budget = b > budget ? (b < 24 ? b : 24) : budget;
    }
    if (s->have_last_t)
        s->frame_dt_s = t - s->last_t;
    s->last_t = t;
    s->have_last_t = true;
    double lag_s = 0;
    if (cn__field_is_3d(s->field)) {
        rc = cn__stage_grid_follow(s, fmin(t, 1e5), &lag_s);
    } else {
        if (s->catch_up_all) {
            budget = 1 << 20;
            rc = cn__stage_catch_up(s, fmin(t, 1e5));
        }
        if (!rc)
            rc = cn__field_advance(s->field, fmin(t, 1e5), budget);
        if (!rc)
            cn__stage_snapshot(s, t);
    }
    s->catch_up_all = false;
    if (rc)
        return rc;
    a->thermal.valid = true;
    a->thermal.n_sources = cn__field_sources(s->field);
    a->thermal.anchor = s->anchor;
    a->thermal.anchor_confidence = s->anchor_conf;
    a->thermal.anchor_spread_mm = s->anchor_spread_mm;
    a->thermal.probe_temp_c = NAN;
    if (lag_s > GRID_LAG_SHOWN_S) {
        /* a zone of the past is not shown; what the alarms read is held from the last
         * current frame (the review: ICE NEAR SKIN and NO ICE SEEN cleared for the whole
         * catch-up, the ice 0.1 mm above the skin line), and the thaw watch goes on
         * against the last current model */
        a->thermal.catching_up_s = (float)lag_s;
        a->thermal.ice_depth_mm = s->held_ice_depth_mm;
        a->thermal.no_ice_seen = s->unverified;
        cn__stage_thaw_watch(s, f, t_ns, s->held_r0_mm);
        return CN_OK;
    }

    /* 3. the image plane in the field */
    if (!cn__stage_image_to_ref(s, f, s->ref_mode, &img_to_ref)) {
        if (!s->warned_plane)
            cn_log_warn(s->o.log, "thermal", "the image is not tracked on this frame: no curves until it is");
        s->warned_plane = true;
        return CN_OK;
    }
    cn_mat4 img_to_field = cn_mat4_mul(cn__field_from_ref(s->field), &img_to_ref);
    if (s->have_img) {
        /* still (within 1.5 mm and 3 deg of the smoothed place): a quarter of the
         * way per frame; moved: follow at once */
        cn_vec3 pa = cn_mat4_apply_point(&img_to_field, (cn_vec3){0, 0, 0});
        cn_vec3 pb = cn_mat4_apply_point(&s->img_to_field_s, (cn_vec3){0, 0, 0});
        cn_vec3 ua = cn_mat4_apply_dir(&img_to_field, (cn_vec3){0, 0, 1});
        cn_vec3 ub = cn_mat4_apply_dir(&s->img_to_field_s, (cn_vec3){0, 0, 1});
        double ang = acos(fmax(-1, fmin(1, cn_vec3_dot(cn_vec3_normalize(ua), cn_vec3_normalize(ub)))));
        if (cn_vec3_norm(cn_vec3_sub(pa, pb)) < 1.5 && ang < 3 * M_PI / 180)
            img_to_field = cn_mat4_interpolate(&s->img_to_field_s, &img_to_field, 0.25);
    }
    s->img_to_field_s = img_to_field;
    s->have_img = true;
    s->cache_img_to_field = img_to_field;
    s->cache_ok = true;

    /* 4. the fit to the seen rim (one spot, while freezing); in a passive thaw the rim
     * bounds the model's ice from outside (stage_thaw.c) */
    const bool passive = g->phase == CN_PHASE_THAW && !g->active_thaw;
    if (s->o.fit_enabled && (g->phase == CN_PHASE_FREEZE || passive) && a->ice.found &&
        a->ice.n > 0 && !cn__field_is_3d(s->field)) {
        const int n = cn__stage_rim_obs(s, &a->ice, &img_to_field, t);
        if (passive)
            cn__stage_thaw_assim(s, f, n, t_ns);
        else
            cn__field_observe(s->field, s->obs, n);
    }

    /* 5. the curves, their band, the ice depth */
    cn__field_curves(s->field, s->o.skin_depth_mm, f, &img_to_field, a->iso);
    double r[3], band[3], res = NAN;
    const cn_thermal_ensemble *e = cn__field_ensemble(s->field);
    if (e) {
        cn_thermal_fit_result fr;
        cn_thermal_ensemble_result(e, &fr);
        res = fr.residual_mm;
        /* The ensemble spans the calibration's uncertainty; ice outside it (a rim
         * 5.9 mm beyond the 0 C curve, or 2.2 mm inside it: thermal audit F3) leaves
         * the best member far from the rim, and the curves contradicted the image
         * without a word. Said while the fit has seen the rim for a while (memory:
         * the last minute) and its best member stays farther than DISAGREE_MM. */
        if (g->phase == CN_PHASE_FREEZE && s->rim_seen && fr.n_obs >= DISAGREE_MIN_OBS &&
            isfinite(fr.best_residual_mm))
            s->disagree_mm = fr.best_residual_mm > DISAGREE_MM ? fr.best_residual_mm : 0;
        else if (entering_freeze)
            s->disagree_mm = 0;
        a->thermal.disagree_mm = (float)s->disagree_mm;
        /* Most members too far behind the scene clock to be judged (each frame stands
         * for more scene time than the per-frame budget steps: a simulator time scale
         * of 50 or more): the curves are the prior's, and the coverage at x50 read 0.10
         * against 0.76 at real pace without a word (thermal audit F4). Said. */
        if (g->phase == CN_PHASE_FREEZE && a->ice.found && fr.n_members > 2)
            s->behind_frames = 2 * fr.n_behind > fr.n_members ? s->behind_frames + 1 : 0;
        a->thermal.fit_behind = s->behind_frames >= 5;
        if (a->thermal.fit_behind && !s->warned_behind)
            cn_log_warn(s->o.log, "thermal", "the fit to the ice is suspended: %d of %d models "
                        "lag the scene clock (each frame stands for %.1f s of scene time); the "
                        "zone is the calibration's, not fitted (a lower time scale fits)",
                        fr.n_behind, fr.n_members, s->frame_dt_s);
        s->warned_behind = s->warned_behind || a->thermal.fit_behind;
        if (s->disagree_mm > 0 && !s->warned_disagree)
            cn_log_warn(s->o.log, "thermal", "freeze %d: the ice seen is %.1f mm (RMS) from the "
                        "nearest the model can make of it: the zone is uncertain (a probe or "
                        "tissue unlike the catalogue's, or a rim that is not the ice)", g->cycle,
                        s->disagree_mm);
        s->warned_disagree = s->disagree_mm > 0 || (s->warned_disagree && !entering_freeze);
    }
    cn__field_radii(s->field, t, r, band, res);
    for (int k = 0; k < 3; k++) {
        a->iso[k].radius_mm = (float)r[k];
        a->iso[k].band_mm = (float)band[k];
    }
    a->n_iso = 3;
    a->thermal.band_mm = (float)band[1];
    /* latched for the cycle: the thaw after an unseen freeze is no more verified */
    if (g->phase == CN_PHASE_FREEZE && isnan(s->verified_r0_mm))
        s->verified_r0_mm = isfinite(r[0]) ? r[0] : 0;
    if (g->phase == CN_PHASE_FREEZE)
        s->unverified = !s->rim_seen && isfinite(r[0]) &&
                        r[0] > fmax(0.5 * s->o.probe.outer_diameter_mm,
                                    isfinite(s->verified_r0_mm) ? s->verified_r0_mm : 0) +
                                   NO_ICE_BEYOND_WALL_MM;
    a->thermal.no_ice_seen = s->unverified;
    if (a->thermal.no_ice_seen && !s->warned_no_ice)
        cn_log_warn(
            s->o.log, "thermal",
            "freeze %d: the model's ice reaches %.1f mm from the "
            "probe axis and the image shows no rim: the zone is unverified and the coverage "
            "withheld until the ice is seen (gas flowing? probe in the image plane?)",
            g->cycle, r[0]);
    s->warned_no_ice = a->thermal.no_ice_seen || (s->warned_no_ice && !entering_freeze);
    cn__stage_thaw_watch(s, f, t_ns, r[0]);
    /* the skin plane: the image's y = 0 line swept along the elevation axis */
    cn_vec3 p0 = cn_mat4_apply_point(&img_to_field, (cn_vec3){0, 0, 0});
    cn_vec3 ny = cn_vec3_normalize(cn_mat4_apply_dir(&img_to_field, (cn_vec3){0, 1, 0}));
    double m = cn__field_min_dot(s->field, 0, ny);
    a->thermal.ice_depth_mm = isfinite(m) ? (float)(m - cn_vec3_dot(ny, p0)) : INFINITY;
    s->held_ice_depth_mm = a->thermal.ice_depth_mm;
    s->held_r0_mm = r[0];
    return CN_OK;
}
