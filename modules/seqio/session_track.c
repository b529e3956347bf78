/*
 * session_track.c - a cycle's coverage, target temperature and 0 C radius by time, for the
 * report (cn_session_summarize).
 *
 * Read when the cycle is over (cn_timeline keeps them by time). A stop dated back
 * (ICE SHRINKING IN FREEZE keyed late, the console's stop after an operator's early one)
 * ends the freeze before frames whose coverage was withheld (-1) or counted cold that never
 * came: the last frame's coverage gave `coverage_at_freeze_end: null` (review 39b F5), and
 * the cycle's coldest target, the best coverage and the largest 0 C radius kept those
 * frames' values (the HUD's coldest had been taken back). Each is taken back to the step:
 * the frames after it were analysed on a model that went back there.
 */
#include "seqio_priv.h"

#include <math.h>

#define CN__TRACK_KEEP 4096

void cn__track_free(cn__cyc_track *ct)
{
    cn_timeline_free(ct->cov_freeze);
    cn_timeline_free(ct->cov);
    cn_timeline_free(ct->tt);
    cn_timeline_free(ct->r0);
}

bool cn__track_init(cn__cyc_track *ct)
{
    ct->cycle = -1;
    ct->cov_freeze = cn_timeline_new(50000000LL, 2 * CN__TRACK_KEEP);
    ct->cov = cn_timeline_new(250000000LL, CN__TRACK_KEEP);
    ct->tt = cn_timeline_new(250000000LL, CN__TRACK_KEEP);
    ct->r0 = cn_timeline_new(250000000LL, CN__TRACK_KEEP);
    if (ct->cov_freeze && ct->cov && ct->tt && ct->r0) return true;
    cn__track_free(ct);
    return false;
}

void cn__track_settle(cn_session_summary *s, cn__cyc_track *ct)
{
    if (ct->cycle < 0) return;
    cn_session_cycle *c = &s->cycles[ct->cycle];
    const double end = c->freeze_s >= 0 ? c->freeze_start_s + c->freeze_s + 1e-6 : INFINITY;
    const int64_t end_ns = isfinite(end) ? (int64_t)llround(end * 1e9) : INT64_MAX;
    const double ce = cn_timeline_last_at(ct->cov_freeze, end_ns);
    if (!isnan(ce)) c->coverage_end = ce;
    c->target_temp_min_c = cn_timeline_min(ct->tt);
    const double cm = cn_timeline_max(ct->cov), rm = cn_timeline_max(ct->r0);
    if (!isnan(cm) && cm > s->coverage_max) s->coverage_max = cm;
    if (!isnan(rm) && rm > s->max_model_ice_radius_mm) s->max_model_ice_radius_mm = rm;
    cn_timeline_clear(ct->cov_freeze);
    cn_timeline_clear(ct->cov);
    cn_timeline_clear(ct->tt);
    cn_timeline_clear(ct->r0);
    ct->cycle = -1;
}

void cn__track_to(cn_session_summary *s, cn__cyc_track *ct, int cycle)
{
    if (ct->cycle == cycle) return;
    cn__track_settle(s, ct);
    ct->cycle = cycle;
}

/* the frames after a step this frame dates back (by more than a bin) say what never was */
void cn__track_step_back(cn__cyc_track *ct, const cn_event *evl, int nev, int64_t t_ns,
                         int64_t t0)
{
    int64_t back = INT64_MAX;
    for (int k = 0; k < nev; k++) {
        const cn_step st = cn_step_of(evl[k].text);
        if ((st == CN_STEP_FREEZE_END || st == CN_STEP_THAW_START ||
             st == CN_STEP_FREEZE_START) && evl[k].t_scene_ns != CN_SCENE_TIME_UNSET &&
            t_ns != CN_SCENE_TIME_UNSET && evl[k].t_scene_ns < t_ns - 250000000LL &&
            evl[k].t_scene_ns - t0 < back)
            back = evl[k].t_scene_ns - t0;
    }
    if (back == INT64_MAX) return;
    cn_timeline_rewind(ct->cov_freeze, back);
    cn_timeline_rewind(ct->cov, back);
    cn_timeline_rewind(ct->tt, back);
    cn_timeline_rewind(ct->r0, back);
}
