/*
 * eval_sim.c - `cryonav eval sim`: the whole image analysis (cn_segment, as the
 * live pipeline runs it) on simulated sessions with ground truth.
 *
 * For each session (seed x needle angle) the simulator renders frames every
 * --step scene seconds through approach, freeze/thaw and withdrawal; the app's
 * part is played exactly as in `cryonav run`: the freeze flag follows the
 * simulator's phase and the operator marks the nerve once (its true centre).
 * Measured: needle tip error (mm) and angle error (deg) before the freeze,
 * ice-front edge error (mm, each reported rim point to the true visible arc)
 * during freezes, ice reported outside a freeze (must be 0), the same with the
 * freeze flag wrongly set during the approach ("lying flag", must be 0), a first
 * freeze keyed only when the image says so and its stop never (ice nobody keyed:
 * when it is said, its rim, never where the scene has none; ice shrinking: when it is
 * said after the gas stopped, never while the ice grows), nerve Dice against the true
 * ellipse, and the analysis time per frame.
 */
#include "commands.h"
#include "eval.h"

#include "imaging/imaging.h"
#include "segment/segment.h"
#include "sim/sim.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double seg_dist(cn_pt2 p, cn_pt2 a, cn_pt2 b)
{
    double vx = b.x - a.x, vy = b.y - a.y, wx = p.x - a.x, wy = p.y - a.y;
    double L = vx * vx + vy * vy, t = L > 0 ? (wx * vx + wy * vy) / L : 0;
    t = t < 0 ? 0 : (t > 1 ? 1 : t);
    double dx = wx - t * vx, dy = wy - t * vy;
    return sqrt(dx * dx + dy * dy);
}

/* Mean distance of the reported rim points to the true visible arc (polyline). */
double cn_eval_ice_edge_error(const cn_ice_front *ice, const cn_truth *t)
{
    if (!ice->found || ice->n == 0 || t->rim_n < 2)
        return NAN;
    double sum = 0;
    for (int k = 0; k < ice->n; k++) {
        double best = INFINITY;
        for (int j = 0; j + 1 < t->rim_n; j++) {
            double d = seg_dist(ice->pts_mm[k], t->rim_mm[j], t->rim_mm[j + 1]);
            if (d < best)
                best = d;
        }
        sum += best;
    }
    return sum / ice->n;
}

typedef struct {
    double *v;
    int n, cap;
} vec;

static void vpush(vec *a, double x)
{
    if (a->n == a->cap) {
        int nc = a->cap ? a->cap * 2 : 256;
        double *nv = realloc(a->v, sizeof(double) * (size_t)nc);
        if (!nv)
            return;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
}

static double vmean(const vec *a)
{
    double s = 0;
    for (int i = 0; i < a->n; i++)
        s += a->v[i];
    return a->n ? s / a->n : NAN;
}

static double vpct(vec *a, double p)
{
    if (!a->n)
        return NAN;
    cn_eval_median(a->v, a->n); /* sorts */
    double pos = p / 100.0 * (a->n - 1);
    int lo = (int)pos;
    double fr = pos - lo;
    return a->v[lo] + (lo + 1 < a->n ? fr * (a->v[lo + 1] - a->v[lo]) : 0);
}

int cn_eval_sim(int argc, char **argv)
{
    int seeds = 3;
    double step_s = 0.5;
    double angles[8] = {20, 30, 40};
    int n_ang = 3;
    static const struct option opts[] = {{"seeds", required_argument, 0, 's'},
                                         {"step", required_argument, 0, 't'},
                                         {"angles", required_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int opt;
    long v;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (cn_app_parse_long(optarg, 1, 100, &v) != CN_OK)
                return cn_app_usage_error("eval", "sim: --seeds needs 1..100, not '%s'", optarg);
            seeds = (int)v;
            break;
        case 't':
            if (cn_app_parse_double(optarg, 0.05, 10, &step_s) != CN_OK)
                return cn_app_usage_error("eval", "sim: --step needs 0.05..10 s, not '%s'", optarg);
            break;
        case 'a': {
            n_ang = 0;
            const char *s = optarg;
            char *end;
            while (*s && n_ang < 8) {
                double a = strtod(s, &end);
                if (end == s || !(a >= 5 && a <= 80))
                    return cn_app_usage_error("eval", "sim: --angles wants e.g. 20,30,40 (5..80)");
                angles[n_ang++] = a;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                    return cn_app_usage_error("eval", "sim: --angles wants e.g. 20,30,40");
            }
            if (n_ang == 0)
                return cn_app_usage_error("eval", "sim: --angles wants e.g. 20,30,40");
            break;
        }
        case 'h':
            printf("usage: cryonav eval sim [--seeds N] [--step S] [--angles A,B,..]\n"
                   "The whole image analysis, as the live pipeline runs it, on simulated sessions\n"
                   "with ground truth (one per seed and needle angle): approach, freeze/thaw and\n"
                   "withdrawal, the nerve marked once at its true centre. Measures needle tip and\n"
                   "angle error, ice-front edge error, ice reported outside a freeze (also with a\n"
                   "wrongly set freeze flag), nerve Dice and the analysis time per frame.\n\n"
                   "options:\n"
                   "  --seeds N            simulator seeds (1..100, default 3)\n"
                   "  --step S             scene seconds between analysed frames (0.05..10,\n"
                   "                       default 0.5)\n"
                   "  --angles A,B,..      needle angles in degrees, up to 8 (5..80, default\n"
                   "                       20,30,40)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout (one line per session, then the totals; a progress bar on\n"
                   "stderr); no files. Last line: mean tip_err_mm <x> angle_err_deg <y>\n"
                   "ice_edge_err_mm <z> false_ice <n>\n");
            return 0;
        case ':': return cn_app_usage_error("eval", "sim: option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("eval", "sim: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("eval", "sim: unexpected argument '%s'", argv[optind]);
    vec tip = {0}, ang = {0}, ice = {0}, ice_thaw = {0}, dice = {0}, dice_frz = {0}, ms = {0};
    long needle_frames = 0, needle_found = 0, freeze_frames = 0, ice_found = 0;
    long thaw_frames = 0, thaw_found = 0;
    long false_ice = 0, lying_frames = 0, lying_ice = 0, total = 0;
    long nerve_frz_found = 0, nerve_frz_hidden = 0;
    vec ice_unkeyed = {0}, unkeyed_delay = {0}, shrink_delay = {0};
    long unkeyed_false = 0, shrink_false = 0;
    int sessions = seeds * n_ang, done = 0, rc = 0;
    cn_frame_pool *pool = NULL;
    uint8_t *mask = NULL, *poly = NULL;
    for (int si = 0; si < seeds && rc == 0; si++)
        for (int ai = 0; ai < n_ang && rc == 0; ai++) {
            cn_sim_config c;
            cn_sim_config_defaults(&c);
            c.seed = 1000 + (uint64_t)si;
            c.needle_angle_deg = angles[ai];
            char err[256];
            if (cn_sim_config_validate(&c, err, sizeof err) != CN_OK) {
                fprintf(stderr, "cryonav eval: sim config: %s\n", err);
                rc = 2;
                break;
            }
            cn_sim *sim = cn_sim_new(&c);
            if (!pool)
                pool = cn_frame_pool_new(1, c.width_px, c.height_px);
            if (!mask)
                mask = malloc((size_t)c.width_px * c.height_px);
            if (!poly)
                poly = malloc((size_t)c.width_px * c.height_px);
            cn_segment_config sc;
            cn_segment_config_default(&sc);
            sc.ice.active_mm = c.needle_active_mm;
            sc.needle.needle_diameter_mm = c.needle_diameter_mm;
            sc.ice.probe_diameter_mm = c.needle_diameter_mm;
            sc.nerve_radius_mm = 0.5 * c.nerve_diameter_mm * sqrt(0.75);
            cn_segment *seg = cn_segment_new(&sc, c.width_px, c.height_px);
            cn_frame *f = pool ? cn_frame_pool_acquire(pool) : NULL;
            if (!sim || !seg || !f || !mask || !poly) {
                fprintf(stderr, "cryonav eval: out of memory\n");
                cn_segment_free(seg);
                cn_sim_free(sim);
                if (f)
                    cn_frame_unref(f);
                rc = 1;
                break;
            }
            double dur = cn_sim_duration_s(sim);
            bool seeded = false;
            vec s_tip = {0}, s_ice = {0};
            long s_false = 0;
            for (double t = 0; t < dur; t += step_s) {
                cn_sim_render(sim, t, f);
                f->t_acq_ns = (int64_t)(t * 1e9);
                const cn_truth *T = &f->truth;
                cn_segment_set_freezing(seg, T->phase == CN_PHASE_FREEZE);
                cn_segment_set_in_ice(seg, T->phase == CN_PHASE_FREEZE || T->phase == CN_PHASE_THAW);
                if (!seeded && T->phase == CN_PHASE_APPROACH) {
                    cn_segment_set_nerve_seed(seg, T->nerve_center_mm);
                    seeded = true;
                }
                int64_t t0 = cn_clock_mono_ns();
                cn_segment_process(seg, f);
                vpush(&ms, (double)(cn_clock_mono_ns() - t0) / 1e6);
                total++;
                const cn_analysis *A = &f->analysis;
                /* needle before the freeze, tip well inside the image */
                bool tip_in = T->needle_in && T->needle_tip_mm.x > 3 &&
                              T->needle_tip_mm.x < c.width_px * f->spacing_mm[0] - 3 &&
                              T->needle_tip_mm.y > 3;
                if (T->phase == CN_PHASE_APPROACH && tip_in && t > c.idle_s + 0.3 * c.approach_s) {
                    needle_frames++;
                    if (A->needle.found && !A->needle.tip_hidden) {
                        needle_found++;
                        double ex = A->needle.tip_mm.x - T->needle_tip_mm.x;
                        double ey = A->needle.tip_mm.y - T->needle_tip_mm.y;
                        double e = sqrt(ex * ex + ey * ey);
                        double dot = A->needle.dir.x * T->needle_dir.x + A->needle.dir.y * T->needle_dir.y;
                        vpush(&tip, e);
                        vpush(&s_tip, e);
                        vpush(&ang, acos(fmin(1.0, fabs(dot))) * 180.0 / M_PI);
                    }
                }
                if (T->phase == CN_PHASE_FREEZE && T->ice_radius_mm >= 0.5) {
                    freeze_frames++;
                    double e = cn_eval_ice_edge_error(&A->ice, T);
                    if (isfinite(e)) {
                        ice_found++;
                        vpush(&ice, e);
                        vpush(&s_ice, e);
                    }
                }
                /* the thaw is watched too (thermal audit F9): its rim against the truth */
                if (T->phase == CN_PHASE_THAW && T->ice_radius_mm >= 0.5) {
                    thaw_frames++;
                    double e = cn_eval_ice_edge_error(&A->ice, T);
                    if (isfinite(e)) {
                        thaw_found++;
                        vpush(&ice_thaw, e);
                    }
                }
                /* ice reported where the scene has none: outside a freeze and its thaw,
                 * or before the ice is 0.5 mm thick */
                const bool icy = (T->phase == CN_PHASE_FREEZE || T->phase == CN_PHASE_THAW) &&
                                 T->ice_radius_mm > 0;
                if (A->ice.found && !icy) {
                    false_ice++;
                    s_false++;
                }
                /* nerve outline vs the true nerve: in the approach, and through the
                 * freeze and thaw, where the ice and its shadow come over it */
                bool frz = T->phase == CN_PHASE_FREEZE || T->phase == CN_PHASE_THAW;
                if (seeded && (T->phase == CN_PHASE_APPROACH || frz) &&
                    (long)(t / step_s) % 4 == 0) {
                    memset(mask, 0, (size_t)f->width * f->height);
                    cn_sim_nerve_mask(T, f->spacing_mm, mask, f->width, f->height);
                    memset(poly, 0, (size_t)f->width * f->height);
                    double d = 0;
                    if (A->nerve.found && A->nerve.n >= 3) {
                        cn_pt2 px[CN_CONTOUR_MAX];
                        for (int k = 0; k < A->nerve.n; k++)
                            px[k] = (cn_pt2){(float)(A->nerve.pts_mm[k].x / f->spacing_mm[0] - 0.5),
                                             (float)(A->nerve.pts_mm[k].y / f->spacing_mm[1] - 0.5)};
                        cn_img_fill_polygon(poly, f->width, f->height, px, A->nerve.n, 1);
                        d = cn_mask_dice(poly, mask, f->width, f->height);
                    }
                    vpush(frz ? &dice_frz : &dice, d);
                    if (frz) {
                        nerve_frz_found += A->nerve.found;
                        nerve_frz_hidden += A->nerve.found && A->nerve.hidden;
                    }
                }
            }
            /* lying flag: a fresh analysis told "freezing" through the approach */
            cn_segment_reset(seg);
            for (double t = c.idle_s; t < c.idle_s + c.approach_s; t += 2 * step_s) {
                cn_sim_render(sim, t, f);
                cn_segment_set_freezing(seg, true);
                cn_segment_process(seg, f);
                lying_frames++;
                lying_ice += f->analysis.ice.found;
            }
            /* A console without a link: nobody keys the first freeze until the image says
             * ICE SEEN: FREEZE NOT KEYED? (its rim then against the truth, and never said
             * where the scene has no ice); then the freeze is keyed and its stop is not:
             * when does ICE SHRINKING IN FREEZE come after the gas stopped, and is it ever
             * said while the ice grows. */
            cn_segment_reset(seg);
            double t_frz = NAN, t_said = NAN, t_stop = NAN, t_shrink = NAN;
            bool keyed = false;
            /* the same scene with a 60 s freeze and a 90 s thaw: the default's 20 s thaw
             * melts 1 mm, too little to tell from a freeze's rim */
            cn_sim_config c2 = c;
            cn_strlcpy(c2.protocol, "custom", sizeof c2.protocol);
            c2.n_cycles = 1;
            c2.cycles[0] = (cn_sim_cycle){60, 90};
            cn_sim *sim2 = cn_sim_new(&c2);
            const double dur2 = sim2 ? cn_sim_duration_s(sim2) : 0;
            for (double t = 0; t < dur2; t += step_s) {
                cn_sim_render(sim2, t, f);
                f->t_acq_ns = (int64_t)(t * 1e9);
                cn_segment_set_freezing(seg, keyed);
                cn_segment_set_in_ice(seg, keyed);
                cn_segment_process(seg, f);
                const cn_truth *T = &f->truth;
                if (T->phase == CN_PHASE_FREEZE && isnan(t_frz))
                    t_frz = t;
                if (T->phase == CN_PHASE_THAW && isfinite(t_frz) && isnan(t_stop))
                    t_stop = t;
                if (isfinite(t_stop) && T->phase != CN_PHASE_THAW)
                    break;
                if (keyed) {
                    shrink_false += f->analysis.ice.shrinking && T->phase == CN_PHASE_FREEZE;
                    if (f->analysis.ice.shrinking && isnan(t_shrink) && isfinite(t_stop))
                        t_shrink = t;
                    continue;
                }
                if (!f->analysis.ice.unkeyed)
                    continue;
                unkeyed_false += !T->ice_present;
                if (isnan(t_said))
                    t_said = t;
                keyed = true; /* the operator answers the alarm */
                double e = cn_eval_ice_edge_error(&f->analysis.ice, T);
                if (isfinite(e))
                    vpush(&ice_unkeyed, e);
            }
            if (isfinite(t_said) && isfinite(t_frz))
                vpush(&unkeyed_delay, t_said - t_frz);
            if (isfinite(t_shrink) && isfinite(t_stop))
                vpush(&shrink_delay, t_shrink - t_stop);
            cn_sim_free(sim2);
            printf("session seed %llu angle %.0f: tip_err_mm mean %.2f  ice_edge_err_mm mean %.3f  "
                   "false_ice %ld\n",
                   (unsigned long long)c.seed, c.needle_angle_deg, vmean(&s_tip), vmean(&s_ice),
                   s_false);
            free(s_tip.v);
            free(s_ice.v);
            cn_frame_unref(f);
            cn_segment_free(seg);
            cn_sim_free(sim);
            cn_eval_progress(++done, sessions);
        }
    if (rc == 0) {
        double tip_mean = vmean(&tip), tip_p95 = vpct(&tip, 95);
        double tip_max = tip.n ? tip.v[tip.n - 1] : NAN; /* sorted by vpct */
        double ang_mean = vmean(&ang), ang_p95 = vpct(&ang, 95);
        printf("needle (approach, tip in view): detected %ld/%ld  tip_err_mm mean %.2f p95 %.2f "
               "max %.2f  angle_err_deg mean %.2f p95 %.2f\n",
               needle_found, needle_frames, tip_mean, tip_p95, tip_max, ang_mean, ang_p95);
        double ice_mean = vmean(&ice), ice_p95 = vpct(&ice, 95);
        printf("ice (freezing, r >= 0.5 mm): found %ld/%ld  edge_err_mm mean %.3f p95 %.3f\n",
               ice_found, freeze_frames, ice_mean, ice_p95);
        printf("ice (thawing, r >= 0.5 mm): found %ld/%ld  edge_err_mm mean %.3f p95 %.3f\n",
               thaw_found, thaw_frames, vmean(&ice_thaw), vpct(&ice_thaw, 95));
        printf("ice reported where the scene has none: %ld of %ld frames; with a lying freeze "
               "flag: %ld of %ld frames\n",
               false_ice, total, lying_ice, lying_frames);
        printf("ice nobody keyed (first freeze, keyed when said): said in %d of %d sessions, "
               "%.1f s (median; max %.1f) after the freeze began; edge_err_mm mean %.3f; said "
               "where the scene has no ice: %ld\n",
               unkeyed_delay.n, sessions, vpct(&unkeyed_delay, 50),
               unkeyed_delay.n ? unkeyed_delay.v[unkeyed_delay.n - 1] : NAN,
               vmean(&ice_unkeyed), unkeyed_false);
        printf("a freeze stop nobody keyed (its thaw with the flag on): ice shrinking said in "
               "%d of %d sessions, %.1f s (median; max %.1f) after the gas stopped; said while "
               "the ice grows: %ld frames\n",
               shrink_delay.n, sessions, vpct(&shrink_delay, 50),
               shrink_delay.n ? shrink_delay.v[shrink_delay.n - 1] : NAN, shrink_false);
        printf("nerve (seeded, approach): mean dice %.3f over %d frames\n", vmean(&dice), dice.n);
        printf("nerve (seeded, freeze and thaw): mean dice %.3f over %d frames, found %ld, "
               "held as hidden in the ice shadow %ld\n",
               vmean(&dice_frz), dice_frz.n, nerve_frz_found, nerve_frz_hidden);
        double ms50 = vpct(&ms, 50), ms99 = vpct(&ms, 99);
        printf("analysis ms per frame: p50 %.2f p99 %.2f\n", ms50, ms99);
        printf("mean tip_err_mm %.2f angle_err_deg %.2f ice_edge_err_mm %.3f false_ice %ld\n",
               tip_mean, ang_mean, ice_mean, false_ice + lying_ice);
    }
    free(tip.v), free(ang.v), free(ice.v), free(ice_thaw.v), free(dice.v), free(dice_frz.v);
    free(ice_unkeyed.v), free(unkeyed_delay.v), free(shrink_delay.v);
    free(ms.v);
    free(mask), free(poly);
    if (pool)
        cn_frame_pool_free(pool);
    return rc;
}
