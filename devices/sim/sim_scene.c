/*
 * sim_scene.c - the scripted scenario and everything geometric about it: scene
 * layout from the configuration, the timeline (idle, approach, freeze/thaw cycles,
 * withdrawal), the ice-ball growth law, ground truth, and tracker poses with noise
 * and latency. No pixels here; see sim_render.c.
 */
#include "sim_internal.h"

#include <string.h>

static double deg2rad(double d) { return d * SIM_PI / 180.0; }

/* Fascicles of the "honeycomb": dart throwing inside the nerve's inner ellipse,
 * largest first, deterministic from the seed. Radii shrink until all n fit. */
static void place_fascicles(const cn_sim_config *c, sim_geom *g)
{
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0xFA5C1C1E5ULL));
    int n = c->nerve_fascicles;
    double wall = fmax(0.35, 0.07 * c->nerve_diameter_mm);
    double irx = g->nerve_rx - wall, iry = g->nerve_ry - wall;
    /* fascicles fill about half of the inner area */
    double rf = sqrt(0.5 * irx * iry / n);
    double rad[SIM_MAX_FASC], asp[SIM_MAX_FASC];
    for (int i = 0; i < n; i++) {
        rad[i] = rf * (0.75 + 0.5 * cn_rng_uniform(&r));
        asp[i] = 0.8 + 0.3 * cn_rng_uniform(&r);
    }
    for (int i = 1; i < n; i++) /* largest first */
        for (int j = i; j > 0 && rad[j] > rad[j - 1]; j--) {
            double t = rad[j];
            rad[j] = rad[j - 1], rad[j - 1] = t;
        }
    double scale = 1.0;
    for (int attempt = 0; attempt < 60; attempt++, scale *= 0.96) {
        int placed = 0;
        for (int i = 0; i < n; i++) {
            double ex = rad[i] * scale * asp[i], ey = rad[i] * scale / asp[i];
            double m = fmax(ex, ey);
            bool ok = false;
            for (int tries = 0; tries < 3000 && !ok; tries++) {
                double px = (2 * cn_rng_uniform(&r) - 1) * irx, py = (2 * cn_rng_uniform(&r) - 1) * iry;
                if (irx - m <= 0 || iry - m <= 0)
                    break;
                double qx = px / (irx - m), qy = py / (iry - m);
                if (qx * qx + qy * qy > 1)
                    continue;
                ok = true;
                for (int j = 0; j < placed && ok; j++) {
                    double dx = px - (g->fasc[j].x - g->nerve_c.x), dy = py - (g->fasc[j].y - g->nerve_c.y);
                    double mj = fmax(g->fasc[j].rx, g->fasc[j].ry);
                    if (sqrt(dx * dx + dy * dy) < m + mj + 0.12)
                        ok = false;
                }
                if (ok)
                    g->fasc[placed++] = (sim_fascicle){g->nerve_c.x + px, g->nerve_c.y + py, ex, ey,
                                                       SIM_PI * cn_rng_uniform(&r)};
            }
            if (!ok)
                break;
        }
        g->n_fasc = placed;
        if (placed == n)
            return;
    }
}

void sim_geom_init(const cn_sim_config *c, int W, int H, sim_geom *g)
{
    memset(g, 0, sizeof *g);
    g->sp = c->depth_mm / H;
    g->width_mm = W * g->sp;
    g->nerve_c = (sim_v2){0.5 * g->width_mm + c->nerve_lateral_mm, c->nerve_depth_mm};
    g->nerve_rx = 0.5 * c->nerve_diameter_mm;
    g->nerve_ry = 0.75 * g->nerve_rx;
    place_fascicles(c, g);
    g->art_c = (sim_v2){0.5 * g->width_mm + c->artery_lateral_mm, c->artery_depth_mm};
    g->art_r = 0.5 * c->artery_diameter_mm;
    double th = deg2rad(c->needle_angle_deg);
    g->ndir = (sim_v2){(c->needle_right ? -1 : 1) * cos(th), sin(th)};
    g->target_tip = (sim_v2){g->nerve_c.x - g->ndir.x * c->needle_target_offset_mm,
                             g->nerve_c.y - g->ndir.y * c->needle_target_offset_mm};
    g->path_len = g->target_tip.y / g->ndir.y;
    g->skin_entry = (sim_v2){g->target_tip.x - g->ndir.x * g->path_len, 0.0};
    g->curved = c->curvilinear;
    if (g->curved) {
        /* the face's arc touches the top of the image at its centre */
        g->r_in = c->probe_radius_mm;
        g->r_out = c->probe_radius_mm + c->depth_mm;
        g->apex = (sim_v2){0.5 * g->width_mm, -c->probe_radius_mm};
        g->half_sector = 0.5 * c->sector_deg * SIM_PI / 180.0;
    }
    /* Specular reflection back to the transducer falls off as the shaft tilts away
     * from perpendicular to the beam; a floor remains (surface roughness, tip). A fan
     * changes the beam along the shaft: draw_needle evaluates it per point there. */
    double q = c->needle_angle_deg / 32.0;
    g->needle_vis = 0.1 + 0.9 * exp(-q * q);
    g->focus_mm = c->nerve_depth_mm;
    g->t_approach0 = c->idle_s;
    g->t_cycles0 = g->t_approach0 + c->approach_s;
    double sum = 0;
    for (int i = 0; i < c->n_cycles; i++)
        sum += c->cycles[i].freeze_s + sim_thaw_s(c, i);
    g->t_withdraw0 = g->t_cycles0 + sum;
    g->t_end = g->t_withdraw0 + c->withdraw_s;
}

/* ------------------------------------------------------------------ ice */

/* Growth law r(t) = rmax (1 - exp(-k sqrt(t) / rmax)); a freeze that starts with
 * residual ice r0 continues from the equivalent time at which the law gives r0. */
static double ice_grow(const cn_sim_config *c, double r0, double dt)
{
    double R = c->ice_rmax_mm, k = c->ice_k_mm_per_sqrt_s;
    double t0 = 0;
    if (r0 > 0) {
        double f = fmin(r0 / R, 0.999999);
        double s = -R * log(1 - f) / k;
        t0 = s * s;
    }
    double t = t0 + fmax(dt, 0);
    return R * (1 - exp(-k * sqrt(t) / R));
}

double sim_ice_radius(const cn_sim_config *c, const sim_geom *g, double t, cn_phase *phase, int *cycle)
{
    double r = 0;
    double rate = c->ice_thaw_mm_per_s;
    *cycle = 0;
    if (t < g->t_approach0) {
        *phase = CN_PHASE_IDLE;
        return 0;
    }
    if (t < g->t_cycles0) {
        *phase = CN_PHASE_APPROACH;
        return 0;
    }
    double tt = g->t_cycles0;
    for (int i = 0; i < c->n_cycles; i++) {
        double fz = c->cycles[i].freeze_s, th = sim_thaw_s(c, i);
        *cycle = i + 1;
        if (t < tt + fz) {
            *phase = CN_PHASE_FREEZE;
            return ice_grow(c, r, t - tt);
        }
        r = ice_grow(c, r, fz);
        tt += fz;
        if (t < tt + th) {
            *phase = CN_PHASE_THAW;
            return fmax(0, r - rate * (t - tt));
        }
        r = fmax(0, r - rate * th);
        tt += th;
    }
    /* the ice left after the last cycle keeps melting while the probe is withdrawn */
    *phase = CN_PHASE_WITHDRAWN;
    return fmax(0, r - rate * (t - tt));
}

double sim_artery_radius(const sim_geom *g, double t)
{
    /* 72 beats/min: a quick systolic distension, slower diastolic decay (~4 %) */
    double ph = fmod(t * 1.2, 1.0);
    double p = ph < 0.15 ? sin(0.5 * SIM_PI * ph / 0.15) : exp(-(ph - 0.15) / 0.25);
    return g->art_r * (1.0 + 0.04 * p);
}

bool sim_ice_upper_y(const cn_truth *t, double x_mm, double *y_mm)
{
    if (!t->ice_present)
        return false;
    double a = t->ice_a_mm, b = t->ice_b_mm;
    double ux = t->needle_dir.x, uy = t->needle_dir.y;
    double vx = -uy, vy = ux;
    double dx = x_mm - t->ice_center_mm.x;
    double ia = 1.0 / (a * a), ib = 1.0 / (b * b);
    double A = uy * uy * ia + vy * vy * ib;
    double B = 2 * dx * (ux * uy * ia + vx * vy * ib);
    double C = dx * dx * (ux * ux * ia + vx * vx * ib) - 1;
    double disc = B * B - 4 * A * C;
    if (disc < 0) {
        /* the lateral extremes of the ellipse, within float rounding of the truth */
        if (disc < -1e-5 * (B * B + fabs(4 * A * C)))
            return false;
        disc = 0;
    }
    *y_mm = t->ice_center_mm.y + (-B - sqrt(disc)) / (2 * A);
    return true;
}

/* ------------------------------------------------------------------ truth */

static double ease(double u)
{
    u = fmin(fmax(u, 0), 1);
    return u - sin(2 * SIM_PI * u) / (2 * SIM_PI);
}

/* Inserted length of the needle at scene time t. */
static double needle_len(const sim_geom *g, const cn_sim_config *c, double t)
{
    if (t < g->t_approach0)
        return 0;
    if (t < g->t_cycles0)
        return g->path_len * ease((t - g->t_approach0) / c->approach_s);
    if (t < g->t_withdraw0)
        return g->path_len;
    return g->path_len * (1 - ease((t - g->t_withdraw0) / c->withdraw_s));
}

static void truth_at(const cn_sim_config *c, const sim_geom *g, double t, cn_truth *o)
{
    memset(o, 0, sizeof *o);
    o->valid = true;
    o->t_scene_s = t;
    o->console_silent = c->console_silent;
    double r = sim_ice_radius(c, g, t, &o->phase, &o->cycle);
    o->nerve_center_mm = (cn_pt2){(float)g->nerve_c.x, (float)g->nerve_c.y};
    o->nerve_rx_mm = (float)g->nerve_rx;
    o->nerve_ry_mm = (float)g->nerve_ry;
    double L = needle_len(g, c, t);
    sim_v2 tip = {g->skin_entry.x + g->ndir.x * L, g->skin_entry.y + g->ndir.y * L};
    o->needle_tip_mm = (cn_pt2){(float)tip.x, (float)tip.y};
    o->needle_dir = (cn_pt2){(float)g->ndir.x, (float)g->ndir.y};
    sim_v2 entry = g->skin_entry;
    if (entry.x < 0)
        entry = (sim_v2){0, g->skin_entry.y + (0 - g->skin_entry.x) * g->ndir.y / g->ndir.x};
    else if (entry.x > g->width_mm)
        entry = (sim_v2){g->width_mm,
                         g->skin_entry.y + (g->width_mm - g->skin_entry.x) * g->ndir.y / g->ndir.x};
    o->needle_entry_mm = (cn_pt2){(float)entry.x, (float)entry.y};
    o->needle_in = L > 0 && tip.x >= 0 && tip.x <= g->width_mm && tip.y > 0 && tip.y <= c->depth_mm;
    if (r > 0.01) {
        /* Confocal prolate ellipse around the active segment (half-length h): r is
         * the radial ice depth at the segment's ends (semi-latus rectum), as in
         * docs thermal.md: b^2 = r^2 (1 + sqrt(1 + 4h^2/r^2)) / 2, a = b^2 / r. */
        double h = 0.5 * c->needle_active_mm;
        double b2 = r * r * (1 + sqrt(1 + 4 * h * h / (r * r))) / 2;
        double a = b2 / r, b = sqrt(b2);
        sim_v2 ctr = {g->target_tip.x - g->ndir.x * h, g->target_tip.y - g->ndir.y * h};
        o->ice_present = true;
        o->ice_radius_mm = (float)r;
        o->ice_center_mm = (cn_pt2){(float)ctr.x, (float)ctr.y};
        o->ice_a_mm = (float)a;
        o->ice_b_mm = (float)b;
        /* Visible rim: the arc whose outward normal faces the transducer (n_y < 0).
         * p(phi) = c + a cos(phi) u + b sin(phi) v; n ~ (cos(phi)/a) u + (sin(phi)/b) v,
         * n_y = A cos(phi) + B sin(phi) = R cos(phi - phi0) < 0 on a half turn. */
        double ux = o->needle_dir.x, uy = o->needle_dir.y, vx = -uy, vy = ux;
        double A = uy / a, B = vy / b;
        double phi0 = atan2(B, A);
        int n = 0;
        const int N = 129;
        for (int i = 0; i < N && n < CN_ICE_PTS_MAX; i++) {
            double phi = phi0 + 0.5 * SIM_PI + SIM_PI * i / (N - 1);
            double ca = cos(phi), sa = sin(phi);
            double px = ctr.x + a * ca * ux + b * sa * vx;
            double py = ctr.y + a * ca * uy + b * sa * vy;
            if (px < 0 || px > g->width_mm || py < 0 || py > c->depth_mm)
                continue;
            o->rim_mm[n++] = (cn_pt2){(float)px, (float)py};
        }
        /* left to right */
        if (n > 1 && o->rim_mm[0].x > o->rim_mm[n - 1].x) {
            for (int i = 0; i < n / 2; i++) {
                cn_pt2 tmp = o->rim_mm[i];
                o->rim_mm[i] = o->rim_mm[n - 1 - i];
                o->rim_mm[n - 1 - i] = tmp;
            }
        }
        o->rim_n = n;
    }
}

void cn_sim_truth_at(const cn_sim *s, double t_scene_s, cn_truth *out)
{
    truth_at(&s->c, &s->g, t_scene_s, out);
}

double cn_sim_duration_s(const cn_sim *s) { return s->g.t_end; }

/* ------------------------------------------------------------------ tracker */

void sim_tracker_placements(cn_sim *s)
{
    double sp = s->g.sp;
    /* ImageToProbe: pixel -> mm (PLUS: pixel centres at integers), origin at the
     * centre of the transducer face. The image is rendered with pixel (i, j)
     * centred at ((i + 0.5) sp, (j + 0.5) sp) image mm (core's one rule), so
     * pixel (i, j) lies at ((i + 0.5) sp - W sp / 2, (j + 0.5) sp) in the probe. */
    cn_mat4 sc = cn_mat4_scale(sp, sp, sp);
    cn_mat4 tr = cn_mat4_translation((0.5 - 0.5 * s->W) * sp, 0.5 * sp, 0);
    s->image_to_probe = cn_mat4_mul(&tr, &sc);
    /* The probe held above the patient, seen by a room-fixed tracker; a patient
     * reference marker nearby. Arbitrary but non-trivial so frame mix-ups show. */
    cn_mat4 r1 = cn_mat4_rotation_axis_angle((cn_vec3){1, 0.3, 0.2}, deg2rad(160));
    cn_mat4 t1 = cn_mat4_translation(85, -120, 310);
    s->probe_place = cn_mat4_mul(&t1, &r1);
    cn_mat4 r2 = cn_mat4_rotation_axis_angle((cn_vec3){0.2, 1, 0}, deg2rad(30));
    cn_mat4 t2 = cn_mat4_translation(40, -160, 330);
    s->ref_place = cn_mat4_mul(&t2, &r2);
}

/* Breathing: the patient (and the probe and needle resting on it) moves a fraction
 * of a millimetre in the room; ProbeToReference stays constant, so the image content
 * does not move. */
static cn_mat4 breathing(double t)
{
    double dy = 0.35 * sin(2 * SIM_PI * 0.25 * t);
    double dz = 0.12 * sin(2 * SIM_PI * 0.07 * t + 1.0);
    double dx = 0.05 * sin(2 * SIM_PI * 0.5 * t + 2.0);
    return cn_mat4_translation(dx, dy, dz);
}

/* Tracker noise in the tool's own frame: translation N(0, sd_mm) per axis, rotation
 * vector N(0, sd_deg) per axis about the tool origin. */
static cn_mat4 noisy(const cn_mat4 *m, cn_rng *r, double sd_mm, double sd_deg)
{
    if (sd_mm <= 0 && sd_deg <= 0)
        return *m;
    double tx = sd_mm * cn_rng_normal(r), ty = sd_mm * cn_rng_normal(r), tz = sd_mm * cn_rng_normal(r);
    cn_vec3 w = {deg2rad(sd_deg) * cn_rng_normal(r), deg2rad(sd_deg) * cn_rng_normal(r),
                 deg2rad(sd_deg) * cn_rng_normal(r)};
    double ang = cn_vec3_norm(w);
    cn_mat4 rot = ang > 1e-15 ? cn_mat4_rotation_axis_angle(w, ang) : cn_mat4_identity();
    cn_mat4 tr = cn_mat4_translation(tx, ty, tz);
    cn_mat4 d = cn_mat4_mul(&tr, &rot);
    return cn_mat4_mul(m, &d);
}

void cn_sim_tracker_at(const cn_sim *s, double t, cn_mat4 *probe_to_tracker,
                       cn_mat4 *cryoprobe_to_tracker, cn_mat4 *reference_to_tracker)
{
    const cn_sim_config *c = &s->c;
    double tp = t - c->tracker_latency_ms * 1e-3 * c->time_scale;
    cn_truth tt;
    truth_at(c, &s->g, tp, &tt);
    cn_mat4 b = breathing(tp);
    cn_mat4 p2t = cn_mat4_mul(&b, &s->probe_place);
    cn_mat4 r2t = cn_mat4_mul(&b, &s->ref_place);
    /* CryoprobeToProbe: origin at the tip, +Z along the insertion direction, X along
     * the probe's elevation axis, Y = Z x X (in the image plane). */
    double dx = tt.needle_dir.x, dy = tt.needle_dir.y;
    cn_mat4 c2p = cn_mat4_identity();
    c2p.m[0] = 0, c2p.m[1] = dy, c2p.m[2] = dx, c2p.m[3] = tt.needle_tip_mm.x - 0.5 * s->g.width_mm;
    c2p.m[4] = 0, c2p.m[5] = -dx, c2p.m[6] = dy, c2p.m[7] = tt.needle_tip_mm.y;
    c2p.m[8] = 1, c2p.m[9] = 0, c2p.m[10] = 0, c2p.m[11] = 0;
    cn_mat4 c2t = cn_mat4_mul(&p2t, &c2p);
    cn_rng r;
    cn_rng_seed(&r, sim_mix64(c->seed ^ 0x7A3C3E5ULL) ^ sim_time_key(t));
    *probe_to_tracker = noisy(&p2t, &r, c->tracker_noise_mm, c->tracker_noise_deg);
    *cryoprobe_to_tracker = noisy(&c2t, &r, c->tracker_noise_mm, c->tracker_noise_deg);
    *reference_to_tracker = noisy(&r2t, &r, c->tracker_noise_mm, c->tracker_noise_deg);
}

void sim_poses(const cn_sim *s, double t, cn_frame *f)
{
    cn_mat4 np, nc, nr;
    cn_sim_tracker_at(s, t, &np, &nc, &nr);
    cn_frame_set_pose(f, "ImageToProbe", &s->image_to_probe, true);
    cn_frame_set_pose(f, "ProbeToTracker", &np, true);
    cn_frame_set_pose(f, "CryoprobeToTracker", &nc, true);
    cn_frame_set_pose(f, "ReferenceToTracker", &nr, true);
}
