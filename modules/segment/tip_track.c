/*
 * tip_track.c - the needle tip followed from frame to frame: a constant-position Kalman
 * filter on the detected tip, and what ice does to it. Under ice the image cannot show the
 * tip (the visible shaft ends at the ice's near side), so the tip is held, flagged hidden:
 * at the last reliable one, at a tracked cryoprobe's pose, or where the probe came to rest
 * before the ice the detector watches; a probe drawn back past that ice is taken again.
 * Split from segment.c, which runs the detectors as a stage; this file only keeps the tip.
 */
#include "segment_internal.h"

#include <math.h>
#include <string.h>

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
void cn__seg_tip_from_pose_under_ice(cn_segment *s, const cn_needle_result *det,
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

void cn__seg_update_needle(cn_segment *s, const cn_needle_result *det,
                           const cn_needle_result *prior, bool ice_seen, double dt_s,
                           cn_needle_result *out)
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
            double along = ex * s->dir.x + ey * s->dir.y;
            double across = fabs(-ex * s->dir.y + ey * s->dir.x);
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
void cn__seg_hold_at_rest(cn_segment *s, bool tracked, cn_pt2 rest, cn_pt2 u, double back_mm)
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
bool cn__seg_watch_hides(cn_segment *s, const cn_needle_result *det, bool tracked, int64_t t_ns)
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
        cn__seg_hold_at_rest(s, tracked, tip, u, back_mm);
    return hides;
}
