/*
 * stage_thaw.c - the thaw after a freeze, watched (ice that grows when the model thaws)
 * and taken back (the freeze went on: freeze_resume).
 *
 * The zone follows the procedure's steps, so a freeze stop keyed while the console still
 * freezes makes the model thaw while the ice grows. The image's rim is watched through
 * the thaw and said when it outgrows the model (ICE GROWING IN THAW); the operator's f
 * then takes the stop back, and the field goes back to a copy kept at the stop and freezes
 * on from there. The copy is exact and costs once per freeze stop (9 ms for the 15 members
 * of the simulator's probe, Release, this machine); the freeze's time since the stop is then
 * stepped at once (120 ms for 60 s, docs/benchmarks.md): a frame's hitch when the
 * operator presses f, where re-solving the freeze from its start would cost every member's
 * whole history. The snapshots (every 15 s, the last 90 s) serve the other dated steps.
 */
#include "stage_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The thaw watched: the zone follows the procedure's steps, and a thaw keyed while
 * the console still froze (a missed or mis-keyed freeze stop) made the model thaw
 * while the ice grew on the image, with nothing said: 2.5 mm of model ice against
 * 6.3 mm of real ice 90 s on (thermal audit F9). The image's rim is watched in the
 * thaw, and ice that grows past the model is said, on the frame and once in the log. */
void cn__stage_thaw_watch(thermal_stage *s, cn_frame *f, int64_t t_ns, double model_r0_mm)
{
    const cn_guidance_state *g = &f->analysis.guidance;
    const double found = f->analysis.ice.found ? f->analysis.ice.radius_mm : 0;
    if (g->phase != CN_PHASE_THAW) {
        s->grows = false;
        s->regrows_ns = 0;
        s->regrow_max_mm = 0;
        s->regrow_max_ns = s->regrow_over_ns = 0;
    } else if (found > 0) {
        /* one undersized or partial rim must not become the thaw's reference */
        const double rim = cn_last5_push(&s->thaw_rims, found);
        if (isnan(s->thaw_rim_first_mm))
            s->thaw_rim_first_mm = rim;
        if (rim < s->thaw_rim_min_mm)
            s->thaw_min_ns = t_ns;
        s->thaw_rim_min_mm = fmin(s->thaw_rim_min_mm, rim);
        s->thaw_rim_max_mm = fmax(s->thaw_rim_max_mm, rim);
        /* A thaw whose ice shrank first and grows again is a freeze the console started:
         * growth past its smallest rim says it. The two guards below are for a thaw that
         * never began (the gas still on): the rim back near its largest, and beyond the
         * model's 0 C. Applied to a real thaw's regrowth they held the alarm back 88 s of a
         * 120 s freeze, since the model's passive thaw lags the ice by up to 2.7 mm (review
         * 39b F1). */
        const bool shrank = s->thaw_rim_min_mm < s->thaw_rim_first_mm - THAW_SHRANK_MM;
        const bool beyond = rim > s->thaw_rim_min_mm + THAW_GROWTH_MM &&
                            (shrank || (rim > s->thaw_rim_max_mm - THAW_SHRINK_MM &&
                                        !(isfinite(model_r0_mm) &&
                                          rim <= model_r0_mm + THAW_AHEAD_MM)));
        if (!beyond)
            s->grows_since_ns = 0;
        else if (s->grows_since_ns == 0)
            s->grows_since_ns = t_ns != 0 ? t_ns : 1;
        s->grows = beyond && (double)(t_ns - s->grows_since_ns) >= THAW_GROWTH_S * 1e9;
        if (s->grows && !s->warned_grows && !shrank)
            cn_log_warn(s->o.log, "thermal",
                        "thaw %d: the image shows the ice growing (a rim %.1f mm from the probe "
                        "axis; %.1f mm at its smallest in this thaw, the model's 0 C %.1f mm): is "
                        "the gas still on? The zone thaws because a freeze stop was given. If the "
                        "console still freezes, f says so: the stop is taken back and freeze %d "
                        "goes on from its start (the zone follows the ice, the record shows one "
                        "freeze)",
                        g->cycle, rim, s->thaw_rim_min_mm, model_r0_mm, g->cycle);
        else if (s->grows && !s->warned_grows)
            cn_log_warn(s->o.log, "thermal",
                        "thaw %d: the image shows the ice growing again (a rim %.1f mm from the "
                        "probe axis, %.1f mm at its smallest in this thaw, which shrank first): "
                        "did the console start a freeze nobody keyed? f starts it when the ice "
                        "began to grow again", g->cycle, rim, s->thaw_rim_min_mm);
        s->regrows_ns = s->grows && shrank ? s->thaw_min_ns : 0;
        s->warned_grows = s->warned_grows || s->grows;
        /* the regrown ice's freeze ends too: its largest rim, and a shrink under it (the
         * alarm stood through the console's thaw, and f froze on past the gas: review 39c) */
        if (s->regrows_ns && rim > s->regrow_max_mm) {
            s->regrow_max_mm = rim;
            s->regrow_max_ns = t_ns;
        }
        if (s->regrows_ns && !s->regrow_over_ns && s->regrow_max_ns &&
            rim < s->regrow_max_mm - THAW_REGROW_OVER_MM) {
            s->regrow_over_ns = s->regrow_max_ns;
            cn_log_warn(s->o.log, "thermal", "thaw %d: the ice that grew again has shrunk %.1f mm "
                        "under its largest (%.1f mm): that freeze is over; f records it from when "
                        "the ice began to grow to when it was largest", g->cycle,
                        s->regrow_max_mm - rim, s->regrow_max_mm);
        }
        if (!s->regrows_ns)
            s->regrow_max_mm = 0, s->regrow_max_ns = s->regrow_over_ns = 0;
    }
    /* a frame without a rim keeps the last judgement: the ice does not go */
    f->analysis.thermal.ice_grows_in_thaw = s->grows;
    f->analysis.thermal.ice_regrows_since_ns = s->grows ? s->regrows_ns : 0;
    f->analysis.thermal.ice_regrows_peak_ns = s->grows && s->regrows_ns ? s->regrow_over_ns : 0;
}

int cn__stage_rim_obs(thermal_stage *s, const cn_ice_front *ice, const cn_mat4 *img_to_field,
                      double t_s)
{
    int n = 0;
    for (int i = 0; i < ice->n && i < CN_ICE_PTS_MAX; i++) {
        cn_vec3 p = cn_mat4_apply_point(img_to_field,
                                        (cn_vec3){ice->pts_mm[i].x, ice->pts_mm[i].y, 0});
        if (!isfinite(p.x) || !isfinite(p.y) || !isfinite(p.z))
            continue;
        s->obs[n++] = (cn_thermal_obs){hypot(p.x, p.y), p.z, t_s};
    }
    return n;
}

/* The rim bounds the model's ice in a passive thaw. The fit runs in a freeze only, and the
 * model's passive thaw (an insulated probe wall) shrank its ice far slower than the rim
 * seen: its 0 C 1.6 mm outside the ice across the probe at the end of a 60 s thaw on the
 * simulator, and the next freeze's fit then pulled the zone in by 0.7 mm while freezing
 * (review 39b F3). The rim says where the tissue is not frozen, not how fast it thaws: the
 * model is melted to it when it stands clearly beyond it, and otherwise thaws as it does. */
void cn__stage_thaw_assim(thermal_stage *s, const cn_frame *f, int n, int64_t t_ns)
{
    const double ex1 = cn__field_rim_excess(s->field, s->obs, n);
    if (isnan(ex1))
        return;
    const double ex = cn_last5_push(&s->assim_ex, ex1);
    if (!(ex > 2 * THAW_RIM_NOISE_MM)) {
        s->assim_since_ns = 0;
        return;
    }
    if (s->assim_since_ns == 0)
        s->assim_since_ns = t_ns != 0 ? t_ns : 1;
    /* A thaw dated back re-stepped the model over seconds of thaw without a rim: the rim
     * was seen shrinking for 5 s before (the shrink watch), and waiting THAW_ASSIM_S more
     * left the zone 0.3 mm outside the one a stop keyed on time showed (test_sim_console
     * test_unkeyed_stop) */
    if (!s->assim_now && (double)(t_ns - s->assim_since_ns) < THAW_ASSIM_S * 1e9)
        return;
    s->assim_now = false;
    /* the next melt needs its own evidence: the rims after this one */
    s->assim_since_ns = 0;
    s->assim_ex.n = 0;
    int members = 0, cells = 0;
    const int64_t t0 = cn_clock_mono_ns();
    const int rc = cn__field_melt_to_rim(s->field, s->obs, n, THAW_RIM_NOISE_MM, &members,
                                         &cells);
    const double ms = (double)(cn_clock_mono_ns() - t0) * 1e-6;
    if (rc) {
        cn_log_error(s->o.log, "thermal", "thaw %d: the model's ice could not be melted to the "
                     "rim seen: %s", f->analysis.guidance.cycle, cn_strerror(rc));
        return;
    }
    if (members > 0 && s->assim_melts++ == 0)
        cn_log_info(s->o.log, "thermal", "thaw %d: the rim seen lies %.1f mm inside the model's "
                    "0 C: the model's ice beyond it is melted (%d models, %d cells, %.1f ms); it "
                    "is kept %.1f mm beyond the rim while the rim stands inside it",
                    f->analysis.guidance.cycle, ex, members, cells, ms, THAW_RIM_NOISE_MM);
    else if (members > 0)
        cn_log_debug(s->o.log, "thermal", "thaw %d: melted to the rim (%.2f mm inside the model's "
                     "0 C; %d models, %d cells, %.1f ms)", f->analysis.guidance.cycle, ex,
                     members, cells, ms);
}

void cn__stage_thaw_begins(thermal_stage *s)
{
    s->thaw_tip_sum = (cn_vec3){0, 0, 0};
    s->thaw_tips = 0;
    s->thaw_rim_min_mm = INFINITY;
    s->thaw_rim_max_mm = 0;
    /* a thaw dated back to the ice's peak began with the ice larger than the rim seen
     * now: it has shrunk already (the review: its regrowth read as "gas still on", and
     * f erased a real 40 s thaw) */
    s->thaw_rim_first_mm = s->dated_thaw ? INFINITY : NAN;
    s->assim_now = s->dated_thaw;
    s->dated_thaw = false;
    s->thaw_min_ns = 0;
    s->thaw_rims.n = 0;
    s->grows_since_ns = 0;
    s->grows = s->warned_grows = false;
    s->regrow_max_mm = 0;
    s->regrow_max_ns = s->regrow_over_ns = 0;
    s->assim_ex.n = 0;
    s->assim_since_ns = 0;
    s->assim_melts = 0;
}

/* The field as a freeze's stop into a passive thaw finds it (keep), else none. */
void cn__stage_keep_thaw_back(thermal_stage *s, bool keep, int cycle, double t_s)
{
    cn__field_free(s->thaw_back);
    s->thaw_back = keep && cn__field_grid_cells(s->field) <= SNAP_MAX_CELLS
                       ? cn__field_clone(s->field)
                       : NULL;
    s->thaw_back_cycle = cycle;
    s->thaw_back_t_s = t_s;
}

/* Freeze `cycle` goes on after its stop was taken back (the gas stayed on: ICE GROWING
 * IN THAW). Before, the operator's f there started a second freeze from the thawed
 * model, which stayed 2.2 mm behind the ice (thermal review F1): the field goes back to
 * the stop and freezes on from there, so the zone is the one freeze that happened. */
bool cn__stage_take_back_thaw(thermal_stage *s, int cycle, double t_s)
{
    if (!s->thaw_back || s->thaw_back_cycle != cycle) {
        cn_log_warn(s->o.log, "thermal", "freeze %d goes on, but the model cannot take back the "
                    "thaw it counted (%s): it takes the freeze as begun again", cycle,
                    s->field && cn__field_grid_cells(s->field) > SNAP_MAX_CELLS
                        ? "its 3-D field too large to keep"
                        : "no state kept");
        return false;
    }
    cn_log_info(s->o.log, "thermal", "freeze %d goes on: the model's thaw from %.1f s is taken "
                "back, the freeze runs on to %.1f s (model time)", cycle, s->thaw_back_t_s, t_s);
    cn__field_free(s->field);
    s->field = s->thaw_back;
    s->thaw_back = NULL;
    cn__stage_drop_snapshots(s); /* the thaw they hold is taken back */
    /* every member to now at once: once, a few hundred solver steps (the log says how
     * long; docs/benchmarks.md); left to the per-frame catch-up, the fit sat out ~8 s and
     * said the time scale was too high */
    if (cn__field_is_3d(s->field))
        return true; /* stepped on over the next frames (cn__stage_grid_follow) */
    const int64_t t0 = cn_clock_mono_ns();
    int rc = cn__field_advance(s->field, t_s, 1 << 20);
    cn_log_info(s->o.log, "thermal", "the model frozen on to %.1f s in %.0f ms%s", t_s,
                (double)(cn_clock_mono_ns() - t0) * 1e-6, rc ? ": failed" : "");
    return true;
}

bool cn__stage_has_snapshots(const thermal_stage *s)
{
    for (int i = 0; i < SNAP_SLOTS; i++)
        if (s->snap_used[i])
            return true;
    return false;
}

void cn__stage_drop_snapshots(thermal_stage *s)
{
    for (int i = 0; i < SNAP_SLOTS; i++)
        s->snap_used[i] = false;
}

void cn__stage_snapshot(thermal_stage *s, double t_s)
{
    if (!s->field)
        return;
    if (cn__field_grid_cells(s->field) > SNAP_MAX_CELLS) {
        /* none kept from here on, and none older either: restoring one from before the
         * grid grew would re-step the whole freeze since in one frame (the review: 15 s at
         * 0.5 mm cells) */
        cn__stage_drop_snapshots(s);
        return;
    }
    const bool change = s->snap_now;
    /* the newest, and of this kind the count and the oldest (to be reused when full) */
    double newest = -INFINITY;
    int n_kind = 0, oldest = -1, k = -1;
    for (int i = 0; i < SNAP_SLOTS; i++) {
        if (!s->snap_used[i])
            continue;
        newest = fmax(newest, s->snap_t[i]);
        if (s->snap_change[i] != change)
            continue;
        n_kind++;
        if (oldest < 0 || s->snap_t[i] < s->snap_t[oldest])
            oldest = i;
    }
    if (!change && t_s - newest < SNAP_EVERY_S)
        return;
    s->snap_now = false;
    if (n_kind >= (change ? SNAP_CHANGES : SNAP_N)) {
        k = oldest;
    } else {
        for (int i = 0; i < SNAP_SLOTS && k < 0; i++) /* a free slot, its buffer first */
            if (!s->snap_used[i] && s->snap[i])
                k = i;
        for (int i = 0; i < SNAP_SLOTS && k < 0; i++)
            if (!s->snap_used[i])
                k = i;
    }
    s->snap_used[k] = false;
    if (!s->snap[k] || cn__field_copy(s->snap[k], s->field) != CN_OK) {
        cn__field_free(s->snap[k]);
        s->snap[k] = cn__field_clone(s->field);
        if (!s->snap[k])
            return;
    }
    s->snap_t[k] = t_s;
    s->snap_used[k] = true;
    s->snap_change[k] = change;
}

double cn__stage_back_to(thermal_stage *s, double t_s)
{
    const double now = s->last_t;
    if (!(t_s < now))
        return now;
    int best = -1;
    for (int i = 0; i < SNAP_SLOTS; i++)
        if (s->snap_used[i] && s->snap_t[i] <= t_s + 1e-9 &&
            (best < 0 || s->snap_t[i] > s->snap_t[best]))
            best = i;
    /* a snapshot of another domain (the 3-D grid grew since) replaces the field whole; one
     * with fewer spots is never restored (a step is never dated before the last one, so
     * that means a snapshot was not kept: it would drop the later spot's cold) */
    if (best >= 0 && cn__field_sources(s->snap[best]) != cn__field_sources(s->field))
        best = -1;
    if (best >= 0 && cn__field_copy(s->field, s->snap[best]) != CN_OK) {
        cn__field *c = cn__field_clone(s->snap[best]);
        if (c) {
            cn__field_free(s->field);
            s->field = c;
        } else {
            best = -1;
        }
    }
    if (best < 0) {
        cn_log_warn(s->o.log, "thermal", "a step dated %.1f s (model time), %.1f s ago: the "
                    "model kept no state that old, and takes it from now (its zone off the ice "
                    "by that time)", t_s, now - t_s);
        return now;
    }
    cn_log_info(s->o.log, "thermal", "a step dated %.1f s (model time): the model goes back "
                "to its state at %.1f s and takes it from there", t_s, s->snap_t[best]);
    /* the snapshots after it hold the history this step replaces (the review: a second
     * dated step could restore it) */
    for (int i = 0; i < SNAP_SLOTS; i++)
        if (s->snap_used[i] && s->snap_t[i] > s->snap_t[best])
            s->snap_used[i] = false;
    s->catch_up_all = true;
    s->catch_from_s = s->snap_t[best];
    s->snap_now = true;
    return t_s;
}

int cn__stage_catch_up(thermal_stage *s, double t_s)
{
    /* (one spot: a 3-D field follows over frames, cn__stage_grid_follow) */
    const double from = fmax(s->catch_from_s, cn__field_time_s(s->field));
    if (!cn__stage_has_snapshots(s))
        cn__stage_snapshot(s, from);
    for (double tc = from + SNAP_EVERY_S; tc < t_s - 0.5; tc += SNAP_EVERY_S) {
        if (tc < t_s - SNAP_N * SNAP_EVERY_S)
            continue; /* the ring would not keep it */
        const int rc = cn__field_advance(s->field, tc, 1 << 20);
        if (rc)
            return rc;
        cn__stage_snapshot(s, tc);
    }
    return CN_OK;
}

int cn__stage_grid_follow(thermal_stage *s, double t_s, double *lag_s)
{
    double budget_ms = s->o.grid_catch_up_ms;
    if (!(budget_ms > 0))
        budget_ms = fmin(100, fmax(4, 250 * s->frame_dt_s));
    const int64_t t0 = cn_clock_mono_ns(), deadline = t0 + (int64_t)(budget_ms * 1e6);
    int rc = CN_OK;
    /* the frame's own interval whatever it costs (a field current before stays current, as
     * before: at 0.5 mm cells a budget alone fell behind in the stiff seconds after a freeze
     * began, with no step dated back), then what the budget allows of a lag */
    const double must_s = fmin(t_s, cn__field_time_s(s->field) + fmax(0, s->frame_dt_s));
    do {
        rc = cn__field_advance_steps(s->field, t_s, 1);
        if (rc)
            break;
        /* a snapshot the ring would not keep is not copied */
        const double tf = cn__field_time_s(s->field);
        if (s->snap_now || tf >= t_s - SNAP_N * SNAP_EVERY_S)
            cn__stage_snapshot(s, tf);
    } while (cn__field_time_s(s->field) < t_s - 1e-9 &&
             (cn__field_time_s(s->field) < must_s - 1e-9 || cn_clock_mono_ns() < deadline));
    *lag_s = t_s - cn__field_time_s(s->field);
    const bool behind = *lag_s > GRID_LAG_SHOWN_S;
    if (behind && !s->grid_behind) {
        s->grid_behind_ns = t0;
        s->grid_behind_frames = 0;
        cn_log_info(s->o.log, "thermal", "the 3-D model is %.0f s behind this frame (a step "
                    "dated back): it steps on over the next frames, %.0f ms a frame; no zone "
                    "until it is current", *lag_s, budget_ms);
    }
    if (behind)
        s->grid_behind_frames++;
    else if (s->grid_behind)
        cn_log_info(s->o.log, "thermal", "the 3-D model is current again: %d frames, %.1f s",
                    s->grid_behind_frames,
                    (double)(cn_clock_mono_ns() - s->grid_behind_ns) * 1e-9);
    s->grid_behind = behind;
    return rc;
}
