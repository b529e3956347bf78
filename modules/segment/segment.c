/*
 * segment.c - the three detectors bundled with their trackers, as one pipeline
 * stage that fills f->analysis.needle / nerve / ice on every analysed frame.
 *
 * The idea: each detector alone is per-frame; what a clinician needs is a stable
 * answer that says how sure it is. The needle tip is smoothed by a
 * constant-position Kalman filter, kept (and flagged tip_hidden) while ice hides
 * it, and primed by the tracked cryoprobe pose when the frame carries one. The
 * nerve is found without a click, or the operator's point picks which found
 * nerve to follow. The ice front is reported only while the app says a
 * freeze runs or the thaw after one (cn_segment_set_in_ice), and the ice detector
 * itself rejects rim-like structures that were there before the freeze (bone), so
 * a wrong flag does not create ice.
 * The nerve is followed by nerve_live.c: the automatic finder every few frames
 * (or the nerve the operator's point picks), block matching in between, the
 * older seeded CNN + polar DP as the seeded fallback, held briefly when lost.
 * Everything is allocated in cn_segment_new; process() never allocates.
 */
#include "segment/segment.h"

#include "imaging/imaging.h"
#include "nerve_live.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A needle not seen for this many frames (outside a freeze) is forgotten: it no
 * longer steers the detector as the previous frame's line (~0.5 s at 20 fps). */
/* a gap in the view that drops the nerve outline: blank frames this long, or no frame */
#define VIEW_GAP_BLANK_NS 500000000LL
#define VIEW_GAP_NS 2000000000LL
#define NEEDLE_FORGET_FRAMES 10
#define NEEDLE_JUMP_MM 2.0  /* a detection this far across the track's line restarts it */
#define WATCH_MARGIN_MM 3.0 /* a shaft ending this far back of a watched ball's near end: drawn
                             * back, not hidden (the end wavers ~1 mm with the rim's speckle) */
#define WATCH_MISS_NS 5000000000LL /* a probe not found under a watched ball: hidden this long
                                     * (the watch's own 5 s to be sure of its ice: the ice
                                     * detector looks about the probe, and a shaft lost
                                     * longer than the watch needs left ICE SEEN unsaid) */
#define REST_NOISE_MM 1.0   /* a tip this far behind the probe's rest is the tracker's noise */
#define REST_RECENT_NS 2000000000LL /* a freeze keyed this soon after the tip was at rest */

struct cn_segment {
    cn_segment_config c;
    int max_w, max_h;
    cn_needle_det *nd;
    cn_ice_det *ice;
    nerve_live *nerve;     /* the nerve's finder, trackers and states (nerve_live.c) */
    bool freezing;
    bool in_ice; /* a freeze or the thaw after it (cn_segment_set_in_ice) */
    /* needle prior from the API */
    bool prior_valid;
    cn_needle_result prior;
    /* needle track */
    bool track;
    double kx, ky, pvar;   /* Kalman state (tip, mm) and variance */
    cn_pt2 dir;
    float conf;
    int missed;
    bool hidden;
    int64_t last_t_ns;     /* scene time of the last processed frame (INT64_MIN: none) */
    bool blank_since;      /* blank or unusable frames came since it (a lifted probe?) */
    int64_t watch_fit_ns;  /* the last frame whose shaft ended where a watched ball hides it */
    bool drawn;            /* this watch saw the probe drawn back past its ball */
    int64_t at_rest_ns;    /* the last frame before a freeze whose tip was at the probe's rest */
    bool was_freezing;
    bool rest_recent;      /* this freeze began within REST_RECENT_NS of at_rest_ns */
    /* the tracked pose's tip averaged while it stays within 1.5 mm (a pose carries the
     * tracker's noise: under ice the tip comes from it, and one sample put the ice
     * detector's ball 0.6 mm across the probe, its radius 0.4 mm too large) */
    double pose_x, pose_y;
    int pose_n;
};

void cn_segment_config_default(cn_segment_config *c)
{
    memset(c, 0, sizeof *c);
    cn_needle_params_default(&c->needle);
    cn_nerve_params_default(&c->nerve);
    cn_ice_params_default(&c->ice);
    c->nerve_radius_mm = 3.0;
    c->nerve_auto = false; /* as config/session.json: on once its figures pass (validation.md) */
    c->nerve_cnn = true;
    c->nerve_find = true;
    c->nerve_period = 2;
}

int cn_segment_config_from_json(const cn_json *doc, const char *path, cn_segment_config *c,
                                double seed_mm[2], bool *has_seed, char *err, size_t err_len)
{
    if (!doc || !path || !c)
        return CN_EINVAL;
    if (has_seed)
        *has_seed = false;
    if (!cn_json_has(doc, path))
        return CN_OK;
    static const char *const keys[] = {"entry", "min_angle_deg", "max_angle_deg",
                                       "needle_diameter_mm", "nerve_radius_mm", "nerve_auto",
                                       "nerve_seed_mm", "ice_active_mm", "ice_max_radius_mm",
                                       "nerve_cnn", "nerve_find", "nerve_period", NULL};
    int rc = cn_json_check_keys(doc, path, keys, err, err_len);
    if (rc)
        return rc;
    char k[160], s[16];
#define KEY(name) (snprintf(k, sizeof k, "%s.%s", path, name), k)
    rc = cn_json_get_string(doc, KEY("entry"), s, sizeof s, err, err_len);
    if (rc == CN_OK) {
        if (strcmp(s, "auto") == 0)
            c->needle.entry = CN_ENTRY_AUTO;
        else if (strcmp(s, "left") == 0)
            c->needle.entry = CN_ENTRY_LEFT;
        else if (strcmp(s, "right") == 0)
            c->needle.entry = CN_ENTRY_RIGHT;
        else {
            cn_json_error(doc, k, err, err_len, "expected \"auto\", \"left\" or \"right\", got \"%s\"", s);
            return CN_EINVAL;
        }
    } else if (rc != CN_ENOENT)
        return rc;
    struct {
        const char *name;
        double *dst, lo, hi;
    } nums[] = {
        {"min_angle_deg", &c->needle.min_angle_deg, 1, 85},
        {"max_angle_deg", &c->needle.max_angle_deg, 2, 89},
        {"needle_diameter_mm", &c->needle.needle_diameter_mm, 0.2, 5},
        {"needle_diameter_mm", &c->ice.probe_diameter_mm, 0.2, 5},
        {"nerve_radius_mm", &c->nerve_radius_mm, 0.3, 30},
        {"ice_active_mm", &c->ice.active_mm, 1, 60},
        {"ice_max_radius_mm", &c->ice.max_radius_mm, 1, 40},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        rc = cn_json_get_number(doc, KEY(nums[i].name), nums[i].lo, nums[i].hi, nums[i].dst, err,
                                err_len);
        if (rc != CN_OK && rc != CN_ENOENT)
            return rc;
    }
    if (c->needle.max_angle_deg <= c->needle.min_angle_deg) {
        cn_json_error(doc, KEY("max_angle_deg"), err, err_len,
                      "must be larger than min_angle_deg (%g)", c->needle.min_angle_deg);
        return CN_EINVAL;
    }
    rc = cn_json_get_bool(doc, KEY("nerve_auto"), &c->nerve_auto, err, err_len);
    if (rc != CN_OK && rc != CN_ENOENT)
        return rc;
    rc = cn_json_get_bool(doc, KEY("nerve_cnn"), &c->nerve_cnn, err, err_len);
    if (rc != CN_OK && rc != CN_ENOENT)
        return rc;
    rc = cn_json_get_bool(doc, KEY("nerve_find"), &c->nerve_find, err, err_len);
    if (rc != CN_OK && rc != CN_ENOENT)
        return rc;
    double period = c->nerve_period;
    rc = cn_json_get_number(doc, KEY("nerve_period"), 1, 30, &period, err, err_len);
    if (rc == CN_OK) {
        if (period != floor(period)) {
            cn_json_error(doc, k, err, err_len, "expected a whole number of frames, got %g", period);
            return CN_EINVAL;
        }
        c->nerve_period = (int)period;
    } else if (rc != CN_ENOENT)
        return rc;
    double sd[2];
    rc = cn_json_get_numbers(doc, KEY("nerve_seed_mm"), sd, 2, err, err_len);
    if (rc == CN_OK) {
        if (seed_mm) {
            seed_mm[0] = sd[0];
            seed_mm[1] = sd[1];
        }
        if (has_seed)
            *has_seed = true;
    } else if (rc != CN_ENOENT)
        return rc;
#undef KEY
    return CN_OK;
}

cn_segment *cn_segment_new(const cn_segment_config *c, int max_w, int max_h)
{
    if (max_w < 16 || max_h < 16 || max_w > CN_IMAGE_MAX_SIDE || max_h > CN_IMAGE_MAX_SIDE)
        return NULL;
    cn_segment *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (c)
        s->c = *c;
    else
        cn_segment_config_default(&s->c);
    s->max_w = max_w;
    s->max_h = max_h;
    s->nd = cn_needle_det_new(max_w, max_h, &s->c.needle);
    s->ice = cn_ice_det_new(max_w, max_h, &s->c.ice);
    s->nerve = nerve_live_new(&s->c, max_w, max_h);
    s->last_t_ns = INT64_MIN;
    s->watch_fit_ns = s->at_rest_ns = INT64_MIN;
    if (!s->nd || !s->ice || !s->nerve) {
        cn_segment_free(s);
        return NULL;
    }
    return s;
}

void cn_segment_free(cn_segment *s)
{
    if (!s)
        return;
    cn_needle_det_free(s->nd);
    cn_ice_det_free(s->ice);
    nerve_live_free(s->nerve);
    free(s);
}

void cn_segment_set_freezing(cn_segment *s, bool freezing)
{
    if (s)
        s->freezing = freezing;
}

void cn_segment_set_in_ice(cn_segment *s, bool in_ice)
{
    if (s)
        s->in_ice = in_ice;
}

void cn_segment_set_nerve_seed(cn_segment *s, cn_pt2 seed_mm)
{
    if (s)
        nerve_live_set_seed(s->nerve, seed_mm);
}

void cn_segment_clear_nerve_seed(cn_segment *s)
{
    if (s)
        nerve_live_clear_seed(s->nerve);
}

bool cn_segment_nerve_target(const cn_segment *s, cn_pt2 *target_mm)
{
    return s && nerve_live_target(s->nerve, target_mm);
}

void cn_segment_set_needle_prior(cn_segment *s, cn_pt2 tip_mm, cn_pt2 dir, bool valid)
{
    if (!s)
        return;
    double n = sqrt((double)dir.x * dir.x + (double)dir.y * dir.y);
    s->prior_valid = valid && isfinite(tip_mm.x) && isfinite(tip_mm.y) && n > 0.5;
    if (s->prior_valid) {
        memset(&s->prior, 0, sizeof s->prior);
        s->prior.found = true;
        s->prior.tip_mm = tip_mm;
        s->prior.dir = (cn_pt2){(float)(dir.x / n), (float)(dir.y / n)};
    }
}

void cn_segment_reset(cn_segment *s)
{
    if (!s)
        return;
    s->track = false;
    s->last_t_ns = INT64_MIN;
    s->watch_fit_ns = s->at_rest_ns = INT64_MIN;
    s->was_freezing = s->rest_recent = s->drawn = false;
    s->blank_since = false;
    s->pose_n = 0;
    s->missed = 0;
    s->hidden = false;
    nerve_live_reset(s->nerve);
    cn_ice_det_reset(s->ice);
}

/* The tracked cryoprobe in image mm from the frame's poses, by core's one rule
 * (cn_frame_tool_to_image_mm): tip at the Cryoprobe origin, axis along its +Z.
 * Returns false when a pose is missing or invalid, the tip is more than 5 mm out of
 * the image plane, or outside the image. */
static bool prior_from_poses(const cn_frame *f, cn_needle_result *out)
{
    cn_mat4 c2i;
    if (cn_frame_tool_to_image_mm(f, "Cryoprobe", &c2i) != CN_OK || !cn_mat4_is_finite(&c2i))
        return false;
    cn_vec3 tip = cn_mat4_apply_point(&c2i, (cn_vec3){0, 0, 0});
    cn_vec3 ax = cn_mat4_apply_dir(&c2i, (cn_vec3){0, 0, 1});
    double n = sqrt(ax.x * ax.x + ax.y * ax.y);
    if (fabs(tip.z) > 5 || !(n > 1e-9))
        return false;
    /* a tip outside the image (not yet inserted, or withdrawn) has no shaft to see */
    double w_mm = f->width * f->spacing_mm[0], h_mm = f->height * f->spacing_mm[1];
    if (!(tip.x >= -1 && tip.x <= w_mm + 1 && tip.y >= 1 && tip.y <= h_mm + 1))
        return false;
    memset(out, 0, sizeof *out);
    out->found = true;
    out->tip_mm = (cn_pt2){(float)tip.x, (float)tip.y};
    out->dir = (cn_pt2){(float)(ax.x / n), (float)(ax.y / n)};
    return true;
}

static void clear_results(cn_frame *f)
{
    memset(&f->analysis.needle, 0, sizeof f->analysis.needle);
    f->analysis.nerve.found = false;
    f->analysis.nerve.hidden = false;
    f->analysis.nerve.held = false;
    f->analysis.nerve.n = 0;
    f->analysis.nerve.confidence = 0;
    f->analysis.ice.found = false;
    f->analysis.ice.n = 0;
    f->analysis.ice.confidence = 0;
    f->analysis.ice.t_ns = f->t_acq_ns;
    f->analysis.ice.unkeyed = false;
    f->analysis.ice.unkeyed_since_ns = 0;
    f->analysis.ice.unkeyed_peak_ns = 0;
    f->analysis.ice.shrinking = false;
    f->analysis.ice.shrink_peak_ns = 0;
    f->analysis.nerve_target_set = false;
}

/* Whether a detection is a different line from the track (another structure, or
 * the needle re-inserted elsewhere): then the track restarts instead of blending
 * two lines into one that matches neither. */
static bool needle_jumped(const cn_segment *s, const cn_needle_result *det)
{
    double dot = det->dir.x * s->dir.x + det->dir.y * s->dir.y;
    double ex = det->tip_mm.x - s->kx, ey = det->tip_mm.y - s->ky;
    double across = fabs(-ex * s->dir.y + ey * s->dir.x);
    return dot < cos(8.0 * M_PI / 180) || across > NEEDLE_JUMP_MM;
}

/* Under ice the image cannot show the tip: the visible shaft ends at the ice's near
 * side. When the analysis never saw the tip before the ice (a replay sought into a
 * freeze, a navigator started mid-freeze, frames seconds apart), the shaft's end
 * would become the tip, several mm short, and the ice front would be searched
 * about it and never found. A tracked cryoprobe on the same line that reaches
 * further is where the tip is: the track takes its tip, flagged hidden. A pose on
 * another line (a bad calibration) or behind the track changes nothing. */
static void needle_tip_from_pose_under_ice(cn_segment *s, const cn_needle_result *det,
                                           const cn_needle_result *prior, int64_t t_ns)
{
    /* ice nobody keyed hides it too (before, the tip was shown 6.4 mm short with TIP
     * HIDDEN while ICE SEEN: FREEZE NOT KEYED? was up) */
    if (!prior || !(s->freezing || s->in_ice || cn_ice_det_unkeyed(s->ice, NULL) ||
                    (cn_ice_det_unkeyed_watching(s->ice, t_ns) && !s->drawn)))
        return;
    cn_pt2 tip, dir;
    if (s->track) {
        tip = (cn_pt2){(float)s->kx, (float)s->ky};
        dir = s->dir;
    } else if (det->found) {
        tip = det->tip_mm;
        dir = det->dir;
    } else {
        return; /* update_needle starts the track at the pose itself */
    }
    double dot = prior->dir.x * dir.x + prior->dir.y * dir.y;
    double ex = prior->tip_mm.x - tip.x, ey = prior->tip_mm.y - tip.y;
    double along = ex * dir.x + ey * dir.y, across = fabs(-ex * dir.y + ey * dir.x);
    if (dot < cos(8.0 * M_PI / 180) || across > NEEDLE_JUMP_MM || along <= 1.0)
        return;
    if (!s->track) {
        s->dir = det->dir;
        s->conf = det->confidence;
        s->missed = 0;
        s->track = true;
    }
    s->kx = prior->tip_mm.x;
    s->ky = prior->tip_mm.y;
    s->pvar = s->c.needle.kalman_r_mm * s->c.needle.kalman_r_mm;
    s->hidden = true;
}

static void update_needle(cn_segment *s, const cn_needle_result *det, const cn_needle_result *prior,
                          bool ice_seen, double dt_s, cn_needle_result *out)
{
    /* kalman_q_mm is the tip's random walk per 50 ms frame: scale it to the time
     * that really passed (frames may be skipped, latest-wins) */
    const double q = s->c.needle.kalman_q_mm * sqrt(dt_s / 0.05), r = s->c.needle.kalman_r_mm;
    /* The ice hides the tip while it is there: in a freeze, and in the thaw after it,
     * where the probe is still held (before, the thaw took the shaft's end at the
     * ice's near side for the tip: the simulator's demo drew it ~9 mm short of the
     * real one for the whole thaw). */
    const bool icy = s->freezing || s->in_ice || ice_seen;
    memset(out, 0, sizeof *out);
    if (det->found) {
        bool shorter = false;
        if (s->track && icy) {
            /* A freeze hides the tip in the shadow (and cryo-adhesion holds the probe):
             * a shaft on the same line that ends short of the last reliable tip, or
             * within a millimetre past it, is the same probe with its tip hidden, not
             * withdrawn; the ice's near side recedes a little every frame, and taking
             * those small steps would walk the tip back along the shaft. A line
             * elsewhere (the ice rim, a fascia) does not move the probe either. Nor,
             * in a freeze, a longer line on the same axis: the ice holds the probe, the
             * zone stands where the freeze began, and the tip walked 11 mm past it on a
             * line that grew (review 43b F2); nor in the thaw after it, where the probe is
             * still held (review 44 F3: there it moved 6.6 mm off the zone at once). */
            double ex = det->tip_mm.x - s->kx, ey = det->tip_mm.y - s->ky;
            double along = ex * s->dir.x + ey * s->dir.y, across = fabs(-ex * s->dir.y + ey * s->dir.x);
            shorter = ((along < 1.0 || s->freezing || s->in_ice) && across < 1.5) ||
                      needle_jumped(s, det);
        }
        bool jump = s->track && !shorter && needle_jumped(s, det);
        if (s->track && !shorter && !jump) {
            double pp = s->pvar + q * q, k = pp / (pp + r * r);
            s->kx += k * (det->tip_mm.x - s->kx);
            s->ky += k * (det->tip_mm.y - s->ky);
            s->pvar = (1 - k) * pp;
        } else if (!s->track || jump) {
            s->kx = det->tip_mm.x;
            s->ky = det->tip_mm.y;
            s->pvar = r * r;
            s->track = true;
            s->dir = det->dir;
            s->conf = det->confidence;
            /* a track that starts under ice never saw the tip: the shaft's visible
             * end is the ice's near side, not the tip */
            shorter = icy;
        }
        if (!shorter) {
            s->dir = det->dir;
            s->conf = det->confidence;
        }
        s->missed = 0;
        s->hidden = shorter;
    } else if (s->track) {
        /* Not seen in this frame. Under ice the last reliable tip is kept (hidden,
         * with the confidence it was found with); otherwise "not found" is the
         * answer at once (a withdrawn needle must not stay on screen), and the
         * track is only remembered for a few frames as the detector's prior. */
        s->missed++;
        s->pvar += q * q;
        s->hidden = icy;
        if (s->missed > NEEDLE_FORGET_FRAMES && !s->hidden)
            s->track = false;
    } else if (prior && icy) {
        /* never saw it, but the tracked probe says where it is: report that, flagged */
        s->kx = prior->tip_mm.x;
        s->ky = prior->tip_mm.y;
        s->dir = prior->dir;
        s->pvar = r * r;
        s->conf = 0.3f;
        s->track = true;
        s->hidden = true;
    }
    if (s->track && (s->missed == 0 || s->hidden)) {
        out->found = true;
        out->tip_mm = (cn_pt2){(float)s->kx, (float)s->ky};
        out->dir = s->dir;
        out->confidence = s->conf;
        out->tip_hidden = s->hidden || ice_seen;
    }
}

/* The tip ice hides is where the probe came to rest, which the ice detector keeps: the
 * frames between a freeze's start and the first ball fitted about the probe took the
 * shaft's end at the new ice for the tip, frame by frame, and the tip was then held there.
 * A freeze keyed late without a tracked probe anchored its zone on it: 4.9 mm short along
 * the shaft on the simulator when f came under ICE SEEN (the zone, off the ice, was then
 * "unverified"), 3.3 mm when f came a second after the console's start. A tip behind the
 * rest along its axis, within the ball's reach (back_mm) and by more than the tracker's
 * noise, is put back there. */
static void hold_at_rest(cn_segment *s, bool tracked, cn_pt2 rest, cn_pt2 u, double back_mm)
{
    /* a tracked cryoprobe says where its tip is (needle_tip_from_pose_under_ice) */
    if (!s->track || tracked)
        return;
    const double ex = s->kx - rest.x, ey = s->ky - rest.y;
    const double along = ex * u.x + ey * u.y, across = fabs(-ex * u.y + ey * u.x);
    if (along < -REST_NOISE_MM && along >= -(back_mm + WATCH_MARGIN_MM) && across < 1.5) {
        s->kx = rest.x;
        s->ky = rest.y;
    }
}

/* Whether ice being watched (before ICE SEEN: a ball about the resting probe, not yet sure)
 * may hide this frame's tip. Only where its ball can: a shaft that ends further back than
 * the ball's near end is a probe drawn back, and one not found at all is taken as hidden
 * for WATCH_MISS_NS after the last shaft that ended inside the ball's reach. Before, the
 * watch counted as ice about the tip wherever the shaft ended: a probe pulled out under it
 * stayed drawn at its old tip, hidden, until its line had retreated 2 x the active length
 * + 4 mm, and up to 15 s once it was no longer found (review 42 F3). */
static bool watch_hides(cn_segment *s, const cn_needle_result *det, bool tracked, int64_t t_ns)
{
    cn_pt2 tip, u;
    double back_mm;
    if (!cn_ice_det_watch_reach(s->ice, &tip, &u, &back_mm))
        return false;
    bool hides;
    if (!det->found) {
        hides = s->watch_fit_ns != INT64_MIN && t_ns >= s->watch_fit_ns &&
                t_ns - s->watch_fit_ns <= WATCH_MISS_NS;
    } else {
        const double ex = det->tip_mm.x - tip.x, ey = det->tip_mm.y - tip.y;
        const double along = ex * u.x + ey * u.y, across = fabs(-ex * u.y + ey * u.x);
        /* only a shaft on the probe's line tells it drew back: a line elsewhere (a fascia,
         * the new ice's rim) is no news of the probe, which stays hidden (the review of
         * the change: it took such a line for the probe drawn back, and dropped the watch) */
        if (across >= 1.5)
            return true;
        /* past the ball's near end (the model's) by WATCH_MARGIN_MM: drawn back. Until then
         * the probe is taken for hidden, at its rest: on the simulator up to 7.6 mm deeper
         * than it was while its tip went 4-9 mm back (review 45 F1, left: the model's near
         * end lies ~2 mm past the one seen, and a retreat's speed is no sign of its own, as
         * the near end of young ice recedes as fast: 6.7 mm in 2.5 s in review 39c's creep,
         * where a rule of speed drew the tip 6 mm short). Once drawn back the tip is not put
         * back at the rest in this watch: a probe pulled back and left is there. */
        if (along < -(back_mm + WATCH_MARGIN_MM))
            s->drawn = true;
        hides = !s->drawn;
        s->watch_fit_ns = hides ? t_ns : INT64_MIN;
    }
    if (hides)
        hold_at_rest(s, tracked, tip, u, back_mm);
    return hides;
}

static bool stats_blank(const cn_img_stats *st)
{
    return st->mean < 2.0 || st->frac_saturated > 0.9 || st->stddev < 1.0;
}

bool cn_segment_frame_blank(const uint8_t *px, int w, int h)
{
    cn_img_stats st;
    return cn_img_stats_compute(px, w, h, &st) != CN_OK || stats_blank(&st);
}

int cn_segment_process(cn_segment *s, cn_frame *f)
{
    if (!s || !f)
        return CN_EINVAL;
    clear_results(f);
    /* the operator's point is shown on every frame, a blank one too (a lifted probe) */
    f->analysis.nerve_target_set = nerve_live_target(s->nerve, &f->analysis.nerve_target_mm);
    /* bad frames are "nothing found", never an error that stops the pipeline */
    if (cn_image_check(f->pixels, f->width, f->height) || f->width > s->max_w ||
        f->height > s->max_h || f->width < 16 || f->height < 16 || !(f->spacing_mm[0] > 0) ||
        !(f->spacing_mm[1] > 0) || !isfinite(f->spacing_mm[0]) || !isfinite(f->spacing_mm[1])) {
        s->blank_since = true;
        return CN_OK;
    }
    cn_img_stats st;
    cn_img_stats_compute(f->pixels, f->width, f->height, &st);
    if (stats_blank(&st)) { /* blank, saturated or uniform: nothing can be seen */
        s->blank_since = true;
        return CN_OK;
    }
    cn_needle_result prior, det;
    bool have_prior = false;
    if (s->prior_valid) {
        prior = s->prior;
        have_prior = true;
    } else {
        have_prior = prior_from_poses(f, &prior);
    }
    /* the track (last frame's needle) steers the detector softly */
    cn_needle_result prev = {0};
    if (s->track) {
        prev.found = true;
        prev.tip_mm = (cn_pt2){(float)s->kx, (float)s->ky};
        prev.dir = s->dir;
    }
    cn_needle_det_detect_prev(s->nd, f->pixels, f->width, f->height, f->spacing_mm,
                              have_prior ? &prior : NULL, s->track ? &prev : NULL, &det);

    if (have_prior) {
        const double ex = prior.tip_mm.x - s->pose_x, ey = prior.tip_mm.y - s->pose_y;
        if (s->pose_n == 0 || ex * ex + ey * ey > 1.5 * 1.5)
            s->pose_n = 0;
        const double k = 1.0 / (s->pose_n < 20 ? ++s->pose_n : 20);
        s->pose_x += k * (prior.tip_mm.x - s->pose_x);
        s->pose_y += k * (prior.tip_mm.y - s->pose_y);
    } else {
        s->pose_n = 0;
    }
    cn_needle_result still = prior; /* the pose held still: for the ice */
    still.tip_mm = (cn_pt2){(float)s->pose_x, (float)s->pose_y};
    /* The tracker's and the ice watch's clock is scene time, the clock the needle moves
     * on: a --fast run stamps its frames' acquisition by the wall clock, and two runs of
     * one scenario tracked the needle differently (0.001 mm from frame 12; teaching audit
     * T14), and unlike a replay or a paced run of it. t_acq_ns where no scene time is set. */
    const int64_t t_ns = f->t_scene_ns != CN_SCENE_TIME_UNSET ? f->t_scene_ns : f->t_acq_ns;
    needle_tip_from_pose_under_ice(s, &det, have_prior ? &still : NULL, t_ns);
    /* ice first needs the probe: the last reliable tip (or the tracked pose) */
    cn_needle_result probe = {0};
    if (s->track) {
        probe.found = true;
        probe.tip_mm = (cn_pt2){(float)s->kx, (float)s->ky};
        probe.dir = s->dir;
    } else if (det.found) {
        probe = det;
    } else if (have_prior) {
        probe = prior;
    }
    /* before a freeze the tracked pose, where there is one: the unkeyed watch anchors a
     * ball at the resting tip, and the detected one retreats as ice hides the shaft */
    if (!s->freezing && !s->in_ice && have_prior)
        probe = still;
    double r_ice = 0;
    /* the frame's statistics are computed once (above) and shared */
    const cn_ice_look look = s->freezing ? CN_ICE_FREEZE : s->in_ice ? CN_ICE_THAW : CN_ICE_BEFORE;
    cn_ice_det_look(s->ice, f->pixels, f->width, f->height, f->spacing_mm,
                    probe.found ? &probe : NULL, det.found ? &det : NULL, look, t_ns,
                    st.stddev, &f->analysis.ice, &r_ice);
    f->analysis.ice.t_ns = f->t_acq_ns;
    f->analysis.ice.radius_mm = f->analysis.ice.found && isfinite(r_ice) && r_ice > 0 ? (float)r_ice : 0;
    f->analysis.ice.unkeyed = look == CN_ICE_BEFORE &&
                              cn_ice_det_unkeyed(s->ice, &f->analysis.ice.unkeyed_since_ns);
    if (!f->analysis.ice.unkeyed)
        f->analysis.ice.unkeyed_since_ns = 0;
    /* ice being watched, not yet sure: the nerve it hides is not lost (guidance) */
    f->analysis.ice.unkeyed_watch = look == CN_ICE_BEFORE && !f->analysis.ice.unkeyed &&
                                    cn_ice_det_unkeyed_watching(s->ice, t_ns);
    if (!f->analysis.ice.unkeyed ||
        !cn_ice_det_unkeyed_melting(s->ice, &f->analysis.ice.unkeyed_peak_ns))
        f->analysis.ice.unkeyed_peak_ns = 0;
    f->analysis.ice.shrinking = look == CN_ICE_FREEZE &&
                                cn_ice_det_shrinking(s->ice, &f->analysis.ice.shrink_peak_ns);
    if (!f->analysis.ice.shrinking)
        f->analysis.ice.shrink_peak_ns = 0;
    double dt_s = 0.05;
    if (s->last_t_ns != INT64_MIN && t_ns > s->last_t_ns)
        dt_s = fmin(5.0, (double)(t_ns - s->last_t_ns) * 1e-9);
    /* A gap in the view: blank frames over VIEW_GAP_BLANK_NS (a lifted probe), or no frame
     * at all for VIEW_GAP_NS (an unplug, a stalled source). The nerve outline from before
     * it is not drawn after it: the probe may be elsewhere (review 43b F1: the old outline
     * came back "held" on new tissue). A shorter gap (a glitch, one bad frame) loses
     * nothing: the outline is followed on as before (review 44 F1: one blank frame lost a
     * clicked nerve the finder does not know, for good). */
    if (s->last_t_ns != INT64_MIN && t_ns > s->last_t_ns &&
        t_ns - s->last_t_ns >= (s->blank_since ? VIEW_GAP_BLANK_NS : VIEW_GAP_NS))
        nerve_live_view_lost(s->nerve);
    s->blank_since = false;
    s->last_t_ns = t_ns;
    /* ice about the tip: a rim found, or a ball the watch fits about the resting probe
     * before anyone keyed a freeze (review 41b: for the 5 s before ICE SEEN the shaft's end
     * at the new ice was drawn as the tip, 6 mm short, "needle 99 %", not hidden) */
    const bool watched =
        f->analysis.ice.unkeyed_watch && watch_hides(s, &det, have_prior, t_ns);
    const bool ice_about = f->analysis.ice.found || f->analysis.ice.unkeyed || watched;
    if (!f->analysis.ice.unkeyed_watch) { /* a later watch starts afresh */
        s->watch_fit_ns = INT64_MIN;
        s->drawn = false;
    }
    /* A freeze's tip is held where the probe came to rest (hold_at_rest) when the tip was
     * there within REST_RECENT_NS before the freeze. A console started without a link, and
     * f keyed a second later, is a freeze whose first ice had walked the tip back already:
     * its zone was anchored 3.3 mm short, and the ice, looked for about that tip, was never
     * found. A tip drawn back on purpose long before the key is not put back (the rest is
     * not renewed by a retreat, so the ice found later says nothing of which it was); one
     * drawn back within 2 s of the key is (ZONE ON AN UNSTEADY NEEDLE LINE says so when the
     * line's tip moved 3 mm in the second before the key). */
    if (s->freezing && !s->was_freezing)
        s->rest_recent = s->at_rest_ns != INT64_MIN && t_ns - s->at_rest_ns <= REST_RECENT_NS;
    s->was_freezing = s->freezing;
    cn_pt2 rest, u;
    double back_mm;
    if (s->freezing && s->rest_recent &&
        cn_ice_det_rest(s->ice, f->analysis.ice.found ? r_ice : 0, &rest, &u, &back_mm))
        hold_at_rest(s, have_prior, rest, u, back_mm);
    update_needle(s, &det, have_prior ? &prior : NULL, ice_about, dt_s, &f->analysis.needle);
    if (!s->freezing && s->track && cn_ice_det_rest(s->ice, 0, &rest, &u, &back_mm) &&
        hypot(s->kx - rest.x, s->ky - rest.y) <= REST_NOISE_MM)
        s->at_rest_ns = t_ns;
    nerve_live_run(s->nerve, f, s->freezing);
    f->analysis.nerve_target_set = nerve_live_target(s->nerve, &f->analysis.nerve_target_mm);
    return CN_OK;
}

static int stage_process(void *self, cn_frame *f) { return cn_segment_process(self, f); }

void cn_segment_stage(cn_segment *s, cn_stage *out)
{
    if (!out)
        return;
    out->name = "segment";
    out->self = s;
    out->process = stage_process;
}
