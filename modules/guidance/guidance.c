/*
 * guidance.c - the guidance stage: coverage, ice-to-skin distance, alarms, summary.
 *
 * The idea: everything here is derived from what segment and thermal left in
 * f->analysis, so the stage is cheap and has no model of its own. Alarms are
 * states, not events: each has its own rule for being raised and cleared, and the
 * distance alarm clears only past threshold + hysteresis so a rim wobbling by a
 * tenth of a millimetre around 5 mm does not blink on the screen. "Lost" alarms
 * (tracking, nerve) need history: they fire only for something this session has
 * seen before, so a source without a tracker never cries "tracking lost".
 *
 * The target is locked for the freeze: once ice forms, its acoustic shadow hides
 * the nerve (only the superficial margin of the ice is visible), so a nerve
 * tracker drifts onto whatever speckle remains. The needle is cryo-adhered and
 * does not move during a freeze, so the outline seen last before the freeze is
 * the best estimate of the target until the freeze/thaw cycles end.
 */
#include "guidance/guidance.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OWN_ALARMS \
    (CN_ALARM_ICE_NEAR_SKIN | CN_ALARM_TRACKING_LOST | CN_ALARM_TIP_HIDDEN | CN_ALARM_NERVE_LOST | \
     CN_ALARM_NO_ICE_SEEN | CN_ALARM_ICE_GROWS_IN_THAW | CN_ALARM_ICE_UNKEYED |              \
     CN_ALARM_ICE_SHRINKS_IN_FREEZE | CN_ALARM_NO_ZONE | CN_ALARM_ANCHOR_UNSURE)
/* Coverage counted as "the whole target lethal" for lethal_s (the grid's own error
 * is well below 1 %). */
#define FULL_COVERAGE 0.99
/* A freeze's first seconds without a zone are the model starting (the needle line is
 * looked for on the freeze's first frames); past them, a freeze with no zone is a red
 * alarm, not only the status line's orange words (review 41b F4). */
#define NO_ZONE_GRACE_S 3.0
/* A longer gap between frames (pause, clock jump) is not counted as lethal time. */
#define MAX_LETHAL_STEP_S 10.0
/* The target's temperatures, the coverages, the lethal and frozen steps, kept by time to
 * take them back with a step dated back (cn_timeline): a bin of BACK_BIN_NS, at least the
 * newest BACK_KEEP / 2 (8.5 min); older ones folded into one. */
/* How long ice the probe left with may hide the nerve (NERVE LOST held back). */
#define ICE_LEFT_MAX_S 120.0
#define BACK_KEEP 4096
#define BACK_BIN_NS 250000000LL

struct cn_guidance {
    cn_guidance_config c;
    /* the model's temperature field, when a thermal model is wired in */
    cn_guidance_temp_fn temp_fn;
    void *temp_user;
    /* analysis-thread state */
    double target_min_temp_c;
    cn_timeline *tmin_tl, *cov_tl, *lethal_tl, *frozen_tl; /* by time, for a step dated back */
    bool rewound;                       /* this frame took them back: the summary too */
    uint32_t prev_alarms;
    bool skin_alarm;
    bool had_probe_pose;
    bool had_nerve;
    /* ice nobody keyed left the analysis at once, a ball of unkeyed_r_mm the frame before:
     * the probe left with it (an unkeyed withdrawal), the ice did not melt in a frame */
    float unkeyed_r_mm;
    bool ice_left;
    int64_t ice_left_ns;   /* scene time the probe left with it */
    bool have_target;   /* target holds the nerve outline to cover */
    cn_contour target;
    bool have_last;
    bool last_full;     /* the previous frame had the whole target lethal */
    cn_phase last_phase;
    int last_cycle;
    double last_elapsed_s;
    /* the visible rim of the current freeze, held through its thaw (ice_top_mm) */
    bool rim_held;
    double rim_top_mm, rim_lead_mm;
    int rim_cycle;      /* the freeze cycle the held rim was seen in */
    /* the phase time of the first frame of this stretch of freeze with no zone (NO ZONE's
     * grace), -1: none */
    double no_zone_from_s;
    /* summary, read from other threads */
    pthread_mutex_t mu;
    cn_guidance_summary sum;
};

void cn_guidance_config_default(cn_guidance_config *c)
{
    c->min_skin_distance_mm = 5.0;
    c->skin_depth_mm = 0.0;
    c->hysteresis_mm = 0.5;
    c->grid_mm = 0.1;
    c->lock_target = true;
}

static bool in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

static bool config_ok(const cn_guidance_config *c)
{
    return c && in(c->min_skin_distance_mm, 0, 50) && in(c->skin_depth_mm, 0, 50) &&
           in(c->hysteresis_mm, 0, 5) && in(c->grid_mm, 0.01, 1);
}

int cn_guidance_config_from_json(const cn_json *doc, const char *path, cn_guidance_config *c,
                                 char *err, size_t err_len)
{
    static const char *const keys[] = {"min_skin_distance_mm", "skin_depth_mm", "hysteresis_mm",
                                       "grid_mm", "lock_target", NULL};
    if (!doc || !path || !c)
        return CN_EINVAL;
    int rc = cn_json_check_keys(doc, path, keys, err, err_len);
    if (rc == CN_ENOENT)
        return CN_OK;
    if (rc != CN_OK)
        return rc;
    struct {
        const char *key;
        double lo, hi;
        double *dst;
    } f[] = {{"min_skin_distance_mm", 0, 50, &c->min_skin_distance_mm},
             {"skin_depth_mm", 0, 50, &c->skin_depth_mm},
             {"hysteresis_mm", 0, 5, &c->hysteresis_mm},
             {"grid_mm", 0.01, 1, &c->grid_mm}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s.%s", path, f[i].key);
        rc = cn_json_get_number(doc, full, f[i].lo, f[i].hi, f[i].dst, err, err_len);
        if (rc != CN_OK && rc != CN_ENOENT)
            return rc;
    }
    char full[256];
    snprintf(full, sizeof full, "%s.lock_target", path);
    rc = cn_json_get_bool(doc, full, &c->lock_target, err, err_len);
    return rc == CN_ENOENT ? CN_OK : rc;
}

static void clear_history(cn_guidance *g)
{
    g->skin_alarm = g->had_probe_pose = g->had_nerve = g->have_last = g->last_full = false;
    g->rim_held = g->ice_left = false;
    g->unkeyed_r_mm = 0;
    g->have_target = false;
    g->last_phase = CN_PHASE_IDLE;
    g->last_cycle = 0;
    g->last_elapsed_s = 0;
    g->no_zone_from_s = -1;
    g->target_min_temp_c = NAN;
    cn_timeline_clear(g->tmin_tl);
    cn_timeline_clear(g->cov_tl);
    cn_timeline_clear(g->lethal_tl);
    cn_timeline_clear(g->frozen_tl);
    g->rewound = false;
    g->prev_alarms = 0;
    memset(&g->sum, 0, sizeof g->sum);
    g->sum.target_min_temp_c = NAN;
    g->sum.max_coverage = -1;
    g->sum.last_coverage = -1;
    g->sum.min_skin_distance_mm = NAN;
    g->sum.last_skin_distance_mm = NAN;
}

cn_guidance *cn_guidance_new(const cn_guidance_config *c)
{
    if (!config_ok(c))
        return NULL;
    cn_guidance *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->c = *c;
    g->tmin_tl = cn_timeline_new(BACK_BIN_NS, BACK_KEEP);
    g->cov_tl = cn_timeline_new(BACK_BIN_NS, BACK_KEEP);
    g->lethal_tl = cn_timeline_new(BACK_BIN_NS, BACK_KEEP);
    g->frozen_tl = cn_timeline_new(BACK_BIN_NS, BACK_KEEP);
    if (!g->tmin_tl || !g->cov_tl || !g->lethal_tl || !g->frozen_tl ||
        pthread_mutex_init(&g->mu, NULL) != 0) {
        cn_timeline_free(g->tmin_tl);
        cn_timeline_free(g->cov_tl);
        cn_timeline_free(g->lethal_tl);
        cn_timeline_free(g->frozen_tl);
        free(g);
        return NULL;
    }
    clear_history(g);
    return g;
}

void cn_guidance_free(cn_guidance *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    cn_timeline_free(g->tmin_tl);
    cn_timeline_free(g->cov_tl);
    cn_timeline_free(g->lethal_tl);
    cn_timeline_free(g->frozen_tl);
    free(g);
}

void cn_guidance_reset(cn_guidance *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    clear_history(g);
    pthread_mutex_unlock(&g->mu);
}

static const cn_isotherm *find_iso(const cn_analysis *a, float temp_c)
{
    int n = a->n_iso < 0 ? 0 : a->n_iso > CN_ISO_MAX ? CN_ISO_MAX : a->n_iso;
    for (int i = 0; i < n; i++)
        if (a->iso[i].temp_c == temp_c && a->iso[i].n >= 3 && a->iso[i].n <= CN_CONTOUR_MAX)
            return &a->iso[i];
    return NULL;
}

/* The model's shallowest ice depth (image mm): its 0 C surface in 3-D (out of the
 * image plane too) when the thermal stage reports it, else its curve in the image;
 * INFINITY when it has none. */
static double model_top_mm(const cn_analysis *a)
{
    double top = INFINITY;
    if (a->thermal.valid) {
        if (!isnan(a->thermal.ice_depth_mm))
            top = a->thermal.ice_depth_mm;
    } else {
        const cn_isotherm *z = find_iso(a, 0.0f);
        for (int i = 0; z && i < z->n; i++)
            if (isfinite(z->pts_mm[i].y))
                top = fmin(top, z->pts_mm[i].y);
    }
    return top;
}

/* The visible rim's shallowest point on this frame; INFINITY when none was found. */
static double rim_top_mm(const cn_analysis *a)
{
    double top = INFINITY;
    int n = a->ice.n > CN_ICE_PTS_MAX ? CN_ICE_PTS_MAX : a->ice.n;
    for (int i = 0; a->ice.found && i < n; i++)
        if (isfinite(a->ice.pts_mm[i].y))
            top = fmin(top, a->ice.pts_mm[i].y);
    return top;
}

/* Shallowest ice depth (image mm) for the skin alarm: the model's and the visible
 * rim's, whichever is shallower; INFINITY when neither exists. The rim is looked
 * for only while freezing (segment.c): when the gas stops it is no longer seen,
 * but the ice has not receded. Before, ICE NEAR SKIN cleared on the first thaw
 * frame with the real ice 4.3 mm under the skin, for 64 frames of that run
 * (thermal audit F2). So in the thaw the last rim seen in the freeze is held, and
 * recedes as the model's ice does (the rim's lead over the model is kept) until
 * the model's ice has melted, through a reposition or a withdrawal too (the ice
 * stays in the tissue); with no model it is held as seen, through the thaw. A frame of
 * the freeze itself that finds no rim holds it the same way. */
static double ice_top_mm(cn_guidance *g, const cn_analysis *a, cn_phase phase, int cycle)
{
    const double model = model_top_mm(a), rim = rim_top_mm(a);
    if (phase == CN_PHASE_FREEZE && isfinite(rim)) {
        g->rim_held = true;
        g->rim_cycle = cycle;
        g->rim_lead_mm = isfinite(model) ? rim - model : NAN;
        g->rim_top_mm = rim;
    }
    double top = fmin(model, rim);
    /* only the rim of this freeze: freeze 1's rim held into freeze 2 raised ICE NEAR
     * SKIN there before its own rim was found (the review of the change) */
    if (phase == CN_PHASE_FREEZE && g->rim_held && g->rim_cycle == cycle && !isfinite(rim)) {
        /* a frame of the freeze on which the rim was not found (speckle, a shadow): the
         * ice has not gone. Before, one such frame cleared ICE NEAR SKIN and the next set
         * it again, three times in 2.5 s (the thirty-sixth session's review) */
        top = fmin(top, isfinite(model) && !isnan(g->rim_lead_mm) ? model + g->rim_lead_mm
                                                                   : g->rim_top_mm);
    } else if (phase != CN_PHASE_FREEZE && g->rim_held && !isfinite(rim)) {
        if (!isnan(g->rim_lead_mm))
            top = fmin(top, model + g->rim_lead_mm); /* INFINITY once the model's ice melted */
        else if (phase == CN_PHASE_THAW)
            top = fmin(top, g->rim_top_mm);
    }
    return top;
}

/* Scene seconds since the previous frame from the console's phase clock: within a
 * phase the elapsed time grows; a new phase started phase_elapsed_s ago. */
static double step_s(cn_guidance *g, const cn_guidance_state *gs, bool *same_phase)
{
    double e = gs->phase_elapsed_s;
    *same_phase = g->have_last && gs->phase == g->last_phase && gs->cycle == g->last_cycle;
    if (!isfinite(e) || e < 0)
        return 0;
    double dt = *same_phase ? e - g->last_elapsed_s : e;
    return dt > 0 ? dt : 0;
}

void cn_guidance_set_field(cn_guidance *g, cn_guidance_temp_fn fn, void *user)
{
    if (!g)
        return;
    g->temp_fn = fn;
    g->temp_user = user;
}

void cn_guidance_conservative_edge(const cn_isotherm *iso, cn_pt2 *out)
{
    int n = iso->n < 0 ? 0 : iso->n > CN_CONTOUR_MAX ? CN_CONTOUR_MAX : iso->n;
    double band = isfinite(iso->band_mm) && iso->band_mm > 0 ? iso->band_mm : 0;
    double cx = iso->centre_mm.x, cy = iso->centre_mm.y;
    for (int i = 0; i < n; i++) {
        double dx = iso->pts_mm[i].x - cx, dy = iso->pts_mm[i].y - cy, d = hypot(dx, dy);
        double s = band > 0 && d > 0 && isfinite(cx) && isfinite(cy) ? fmax(0, d - band) / d : 1;
        out[i] = (cn_pt2){(float)(cx + s * dx), (float)(cy + s * dy)};
    }
}

static bool inside_poly(const cn_pt2 *p, int n, double x, double y)
{
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((p[i].y > y) != (p[j].y > y) &&
            x < (p[j].x - p[i].x) * (y - p[i].y) / (p[j].y - p[i].y) + p[i].x)
            in = !in;
    return in;
}

/* The warmest model temperature over the target: its outline and a 12 x 12 grid
 * of its inside (about 100 samples; the field is smooth on that scale). */
static double target_warmest(cn_guidance *g, const cn_frame *f, const cn_contour *t)
{
    int n = t->n > CN_CONTOUR_MAX ? CN_CONTOUR_MAX : t->n;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY, warm = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, t->pts_mm[i].x);
        x1 = fmax(x1, t->pts_mm[i].x);
        y0 = fmin(y0, t->pts_mm[i].y);
        y1 = fmax(y1, t->pts_mm[i].y);
        double v = g->temp_fn(g->temp_user, f, t->pts_mm[i]);
        if (isnan(v))
            return NAN;
        warm = fmax(warm, v);
    }
    if (!(x1 - x0 < 1e4 && y1 - y0 < 1e4))
        return NAN;
    for (int j = 0; j < 12; j++)
        for (int i = 0; i < 12; i++) {
            double x = x0 + (i + 0.5) * (x1 - x0) / 12, y = y0 + (j + 0.5) * (y1 - y0) / 12;
            if (!inside_poly(t->pts_mm, n, x, y))
                continue;
            double v = g->temp_fn(g->temp_user, f, (cn_pt2){(float)x, (float)y});
            if (!isnan(v))
                warm = fmax(warm, v);
        }
    return isfinite(warm) ? warm : NAN;
}

/* FREEZING WITH NO ZONE once the freeze has gone NO_ZONE_GRACE_S without one, counted from
 * the first frame of that stretch without a zone: a freeze dated back (f keyed under ICE
 * SEEN, a console's start) is seconds old on its key frame, and the alarm came on that
 * frame, before the needle line was looked for at all (review 44 F8). */
static bool no_zone(cn_guidance *g, const cn_guidance_state *gs, bool waiting)
{
    /* each stretch without a zone gets the grace: one lost in the freeze (the model reset)
     * as one that never was (the review of the change: a freeze that began with a zone
     * alarmed 3 s after losing it, one that began without alarmed at once) */
    if (gs->phase != CN_PHASE_FREEZE || !waiting) {
        g->no_zone_from_s = -1;
        return false;
    }
    /* the stretch's first frame, or its start dated back further than that */
    if (g->no_zone_from_s < 0 || gs->phase_elapsed_s < g->no_zone_from_s)
        g->no_zone_from_s = gs->phase_elapsed_s;
    return gs->phase_elapsed_s - g->no_zone_from_s >= NO_ZONE_GRACE_S;
}

/* A freeze stop (or start) on this frame dated back to before it (ICE SHRINKING keyed late,
 * the console's stop after an operator's early one...): the model went back there, and the
 * target's cold, the coverage and the lethal time after it never happened. Running extremes
 * kept them: the HUD's "whole target <=" read the cold of the 25 s the model froze on past
 * the gas (review 39b F5), the summary's best coverage and lethal time that freeze's. They
 * are taken again from the values up to then. */
static void step_back(cn_guidance *g, const cn_frame *f)
{
    int64_t back = INT64_MAX;
    for (int i = 0; i < f->analysis.n_events && i < CN_EVENTS_MAX; i++) {
        const cn_event *e = &f->analysis.events[i];
        const cn_step st = cn_step_of(e->text);
        if ((st == CN_STEP_FREEZE_END || st == CN_STEP_THAW_START ||
             st == CN_STEP_FREEZE_START) && e->t_scene_ns != CN_SCENE_TIME_UNSET &&
            f->t_scene_ns != CN_SCENE_TIME_UNSET &&
            e->t_scene_ns < f->t_scene_ns - BACK_BIN_NS && e->t_scene_ns < back)
            back = e->t_scene_ns;
    }
    if (back == INT64_MAX)
        return;
    cn_timeline_rewind(g->tmin_tl, back);
    cn_timeline_rewind(g->cov_tl, back);
    cn_timeline_rewind(g->lethal_tl, back);
    cn_timeline_rewind(g->frozen_tl, back);
    g->target_min_temp_c = cn_timeline_min(g->tmin_tl);
    g->rewound = true;
}

int cn_guidance_process(cn_guidance *g, cn_frame *f)
{
    if (!g || !f)
        return CN_EINVAL;
    cn_analysis *a = &f->analysis;
    cn_guidance_state *gs = &a->guidance;

    /* the target: the nerve now, or the outline locked for the freeze/thaw cycles */
    bool nerve_ok = a->nerve.found && a->nerve.n >= 3 && a->nerve.n <= CN_CONTOUR_MAX;
    bool cycling = gs->phase == CN_PHASE_FREEZE || gs->phase == CN_PHASE_THAW;
    bool locked = g->c.lock_target && cycling;
    if (nerve_ok && (!locked || !g->have_target)) {
        g->target = a->nerve; /* outside the cycles, or the first seen inside them */
        g->have_target = true;
    }
    const cn_contour *target = locked && g->have_target ? &g->target : nerve_ok ? &a->nerve : NULL;
    /* While locked, the frame carries the outline in use, so what the viewer draws,
     * proctors see and the recording keeps is what the coverage refers to, not an
     * outline drifting in the shadow. */
    if (locked && g->have_target) {
        float conf = a->nerve.found ? a->nerve.confidence : 0.0f;
        bool hidden = a->nerve.hidden;
        a->nerve = g->target;
        a->nerve.hidden = hidden;
        a->nerve.confidence = conf < g->target.confidence ? conf : g->target.confidence;
    }

    /* coverage of the target by the lethal isotherm, on the conservative (inner)
     * edge of its uncertainty band */
    double cov = -1;
    const cn_isotherm *lethal = find_iso(a, CN_GUIDANCE_LETHAL_TEMP_C);
    /* a zone no ice in the image confirms is no coverage (thermal audit F1: a
     * freeze that made no ice showed 79 %) */
    /* nor a zone that grows while the ice in the image shrinks (the gas stopped, nobody
     * keyed it): before, coverage rose on a model that froze on over melting ice */
    const bool shrinking = a->ice.shrinking && gs->phase == CN_PHASE_FREEZE;
    if (target && lethal && !a->thermal.no_ice_seen && !shrinking) {
        cn_pt2 inner[CN_CONTOUR_MAX];
        cn_guidance_conservative_edge(lethal, inner);
        cov = cn_guidance_coverage(target->pts_mm, target->n, inner, lethal->n, g->c.grid_mm);
    }
    gs->coverage = cov;
    gs->lethal_band_mm = a->thermal.valid && lethal ? a->thermal.band_mm : NAN;

    /* the model's temperature of the target's warmest point, and its running
     * minimum (the coldest the whole target has been at once) */
    gs->target_temp_c = NAN;
    if (target && g->temp_fn)
        gs->target_temp_c = target_warmest(g, f, target);
    step_back(g, f);
    if (!isnan(gs->target_temp_c) &&
        (isnan(g->target_min_temp_c) || gs->target_temp_c < g->target_min_temp_c))
        g->target_min_temp_c = gs->target_temp_c;
    cn_timeline_add(g->tmin_tl, f->t_scene_ns, gs->target_temp_c);
    gs->target_min_temp_c = g->target_min_temp_c;

    /* ice-to-skin distance with hysteresis; no ice known = no ice near the skin */
    double top = ice_top_mm(g, a, gs->phase, gs->cycle);
    double dist = isfinite(top) ? top - g->c.skin_depth_mm : NAN;
    gs->ice_to_skin_mm = dist;
    if (isnan(dist))
        g->skin_alarm = false;
    else if (g->skin_alarm)
        g->skin_alarm = dist < g->c.min_skin_distance_mm + g->c.hysteresis_mm;
    else
        g->skin_alarm = dist < g->c.min_skin_distance_mm;

    /* tracking of the cryoprobe: an invalid pose, or a pose that was there and is gone */
    bool track_lost;
    const cn_pose *pose = cn_frame_get_pose(f, "CryoprobeToTracker");
    if (pose && pose->valid && cn_mat4_is_finite(&pose->m)) {
        g->had_probe_pose = true;
        track_lost = false;
    } else {
        track_lost = pose != NULL || g->had_probe_pose;
    }

    /* in the ice shadow during a freeze a lost nerve is expected: the locked target stands */
    /* Not lost where ice hides it: in a freeze nobody keyed (the ice seen, ICE SEEN: FREEZE
     * NOT KEYED?) or after the withdrawal, with the ice still there. The freeze's lock only
     * covers keyed cycles: NERVE LOST flickered 3 s into an unkeyed freeze and came back
     * after the withdrawal, the ice's shadow its cause (review 39b F11); and in the seconds
     * the watch takes to be sure of such ice (review 39c: 3 s of NERVE LOST before ICE
     * SEEN), while a ball that may be it has been seen about the resting probe. */
    /* And after a withdrawal nobody keyed: the ice detector looks along the needle, so a
     * ball of 2.9 mm vanished from the analysis the frame the probe left, and NERVE LOST
     * came over the melting ice (the 38th session's note). Such ice hides the nerve until
     * the nerve is seen again (not held, not hidden); 1 mm of ice does not melt in a frame. */
    const bool keyed_cycle = gs->phase == CN_PHASE_FREEZE || gs->phase == CN_PHASE_THAW;
    if (!a->ice.unkeyed && g->unkeyed_r_mm >= 1.0f && !keyed_cycle) {
        g->ice_left = true;
        g->ice_left_ns = f->t_scene_ns;
    }
    /* until the nerve is seen, a keyed freeze or thaw (its lock covers it: f under ICE SEEN
     * ends the unkeyed ice too, and held NERVE LOST off for good: review 42), or 120 s (a
     * ball of a few mm melts in that; without a bound a nerve lost later went unsaid) */
    const bool left_long = f->t_scene_ns != CN_SCENE_TIME_UNSET &&
                           g->ice_left_ns != CN_SCENE_TIME_UNSET &&
                           (double)f->t_scene_ns * 1e-9 - (double)g->ice_left_ns * 1e-9 >
                               ICE_LEFT_MAX_S; /* in double: no overflow */
    if (a->ice.unkeyed || (a->nerve.found && !a->nerve.held && !a->nerve.hidden) ||
        keyed_cycle || left_long)
        g->ice_left = false;
    if (!a->ice.unkeyed) /* the last ball fitted (the watch holds on a frame without one) */
        g->unkeyed_r_mm = 0.0f;
    else if (a->ice.found && a->ice.radius_mm > 0)
        g->unkeyed_r_mm = a->ice.radius_mm;
    const bool iced = a->ice.unkeyed || (gs->phase == CN_PHASE_WITHDRAWN && g->have_target) ||
                      (a->ice.unkeyed_watch && gs->phase != CN_PHASE_FREEZE &&
                       gs->phase != CN_PHASE_THAW) ||
                      g->ice_left;
    /* A held outline (the last one, not found on this frame) keeps NERVE LOST from
     * flickering on for a frame, but does not clear it once on: the nerve is found again
     * when it is found (review 43b F1: a held outline cleared it over a new view). */
    const bool unseen = !a->nerve.found ||
                        (a->nerve.held && (g->prev_alarms & CN_ALARM_NERVE_LOST));
    bool nerve_lost = g->had_nerve && unseen && !(locked && g->have_target) && !iced;
    if (a->nerve.found)
        g->had_nerve = true;

    uint32_t mine = 0;
    /* not after the withdrawal: "gas flowing? probe in the plane?" asked of a probe that is
     * out is noise at the table (review 43b F5); the report keeps its period */
    if (a->thermal.no_ice_seen && gs->phase != CN_PHASE_WITHDRAWN)
        mine |= CN_ALARM_NO_ICE_SEEN;
    if (a->thermal.ice_grows_in_thaw)
        mine |= CN_ALARM_ICE_GROWS_IN_THAW;
    /* the freeze the regrown ice says is over too (its own words with 0x40) */
    if (a->thermal.ice_grows_in_thaw && a->thermal.ice_regrows_peak_ns != 0)
        mine |= CN_ALARM_ICE_UNKEYED_OVER;
    if (a->ice.unkeyed && gs->phase != CN_PHASE_FREEZE && gs->phase != CN_PHASE_THAW) {
        mine |= CN_ALARM_ICE_UNKEYED;
        /* said apart: f then ends the freeze too, and the screen shows a thaw (the review:
         * the same words either way, and a second f started a freeze that never was) */
        if (a->ice.unkeyed_peak_ns != 0)
            mine |= CN_ALARM_ICE_UNKEYED_OVER;
    }
    if (shrinking)
        mine |= CN_ALARM_ICE_SHRINKS_IN_FREEZE;
    if (no_zone(g, gs, a->thermal.waiting))
        mine |= CN_ALARM_NO_ZONE;
    /* measured unsteady only: an unknown steadiness (no history, a line found in the
     * freeze) is the status line's, not a red alarm for the whole freeze (review 44 F4) */
    if (cycling && a->thermal.valid && a->thermal.anchor == CN_ZONE_ON_NEEDLE_LINE &&
        isfinite(a->thermal.anchor_spread_mm) &&
        a->thermal.anchor_spread_mm > CN_ANCHOR_STEADY_MM)
        mine |= CN_ALARM_ANCHOR_UNSURE;
    if (g->skin_alarm)
        mine |= CN_ALARM_ICE_NEAR_SKIN;
    if (track_lost)
        mine |= CN_ALARM_TRACKING_LOST;
    /* The ice always hides the tip during a freeze and the thaw after it: that is
     * expected, and an alarm that is always on is one nobody reads. Hidden at any
     * other time (bone, gas, a steep angle) it is worth an alarm. */
    /* nor while the ice watch makes sure of ice nobody keyed (ICE SEEN comes next) */
    if (a->needle.tip_hidden && !cycling && !a->ice.unkeyed && !a->ice.unkeyed_watch)
        mine |= CN_ALARM_TIP_HIDDEN;
    if (nerve_lost)
        mine |= CN_ALARM_NERVE_LOST;
    gs->alarms = (gs->alarms & ~(uint32_t)OWN_ALARMS) | mine;
    /* alarms are states; their changes are events, once, on this frame */
    uint32_t set = gs->alarms & ~g->prev_alarms, cleared = g->prev_alarms & ~gs->alarms;
    /* with the words the screen showed (text=, the rest of the line), so chapters and
     * reports name an alarm as the clinician saw it, not by its bits (teaching audit T5:
     * "alarm 0x20" for NO ICE SEEN) */
    char words[160];
    if (set)
        cn_analysis_add_event(a, CN_EVSRC_SYSTEM, f->t_scene_ns, "alarm set=0x%x text=%s",
                              (unsigned)set, cn_guidance_alarm_text(set, words, sizeof words));
    if (cleared)
        cn_analysis_add_event(a, CN_EVSRC_SYSTEM, f->t_scene_ns, "alarm clear=0x%x text=%s",
                              (unsigned)cleared,
                              cn_guidance_alarm_text(cleared, words, sizeof words));
    g->prev_alarms = gs->alarms;

    bool same_phase;
    double dt = step_s(g, gs, &same_phase);
    pthread_mutex_lock(&g->mu);
    cn_guidance_summary *s = &g->sum;
    s->frames++;
    if (g->rewound) {
        const double m = cn_timeline_max(g->cov_tl);
        s->max_coverage = isnan(m) ? -1 : m;
        s->lethal_s = cn_timeline_sum(g->lethal_tl);
        s->frozen_s = cn_timeline_sum(g->frozen_tl);
        g->rewound = false;
    }
    if (cov >= 0)
        cn_timeline_add(g->cov_tl, f->t_scene_ns, cov);
    if (cov > s->max_coverage)
        s->max_coverage = cov;
    s->last_coverage = cov;
    s->last_skin_distance_mm = dist;
    if (!isnan(dist) && (isnan(s->min_skin_distance_mm) || dist < s->min_skin_distance_mm))
        s->min_skin_distance_mm = dist;
    if (gs->phase == CN_PHASE_FREEZE) {
        s->frozen_s += dt;
        cn_timeline_add(g->frozen_tl, f->t_scene_ns, dt);
    }
    /* lethal time: only steps whose both ends had the whole target lethal */
    bool full = cov >= FULL_COVERAGE;
    if (same_phase && full && g->last_full && dt <= MAX_LETHAL_STEP_S) {
        s->lethal_s += dt;
        cn_timeline_add(g->lethal_tl, f->t_scene_ns, dt);
    }
    s->last_alarms = gs->alarms;
    s->ice_unkeyed_since_ns = gs->alarms & CN_ALARM_ICE_UNKEYED ? a->ice.unkeyed_since_ns : 0;
    s->ice_unkeyed_peak_ns = gs->alarms & CN_ALARM_ICE_UNKEYED ? a->ice.unkeyed_peak_ns : 0;
    s->ice_peak_ns = gs->alarms & CN_ALARM_ICE_SHRINKS_IN_FREEZE ? a->ice.shrink_peak_ns : 0;
    s->ice_regrows_since_ns =
        gs->alarms & CN_ALARM_ICE_GROWS_IN_THAW ? a->thermal.ice_regrows_since_ns : 0;
    s->ice_regrows_peak_ns =
        gs->alarms & CN_ALARM_ICE_GROWS_IN_THAW ? a->thermal.ice_regrows_peak_ns : 0;
    s->target_min_temp_c = g->target_min_temp_c;
    s->target_locked = locked && g->have_target;
    s->alarms_seen |= gs->alarms;
    pthread_mutex_unlock(&g->mu);

    g->have_last = true;
    g->last_full = full;
    g->last_phase = gs->phase;
    g->last_cycle = gs->cycle;
    g->last_elapsed_s = isfinite(gs->phase_elapsed_s) ? gs->phase_elapsed_s : 0;
    return CN_OK;
}

static int stage_process(void *self, cn_frame *f) { return cn_guidance_process(self, f); }

void cn_guidance_stage(cn_guidance *g, cn_stage *out)
{
    out->name = "guidance";
    out->self = g;
    out->process = stage_process;
}

void cn_guidance_get_summary(cn_guidance *g, cn_guidance_summary *out)
{
    if (!out)
        return;
    if (!g) {
        memset(out, 0, sizeof *out);
        out->max_coverage = out->last_coverage = -1;
        out->min_skin_distance_mm = out->last_skin_distance_mm = NAN;
        return;
    }
    pthread_mutex_lock(&g->mu);
    *out = g->sum;
    pthread_mutex_unlock(&g->mu);
}
