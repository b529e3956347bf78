/*
 * test_thermal_reposition.c - ice in tissue coordinates (issue 13): a freeze, a
 * thaw, the probe moved 5 mm, a second freeze gives ONE cold field, checked
 * against runs of the solvers with both sources from the start:
 *  - moved across the axis: the stage's field (axisymmetric first, handed over
 *    to the 3-D grid at the reposition) against a 3-D grid run with both spots;
 *  - pulled back along the axis: against the axisymmetric solver with its
 *    probe moved (exact symmetry, a different grid and discretisation);
 *  - withdrawn after the freeze: the field stays where the ice is and thaws.
 * The stage gets what a session gives it: tracked poses (core's one rule) and
 * the procedure state on each frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"
/* the field's queue of changes is checked directly (test_grid_changes_at_their_times) */
#include "thermal/field_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SP 0.2   /* mm per pixel */
#define W 200
#define H 200

static cn_cryoprobe probe(void)
{
    cn_cryoprobe p;
    memset(&p, 0, sizeof p);
    cn_strlcpy(p.name, "test-17G-1cm", sizeof p.name);
    cn_strlcpy(p.gas, "argon", sizeof p.gas);
    p.outer_diameter_mm = 1.47;
    p.active_length_mm = 10;
    p.bc = CN_PROBE_BC_DIRICHLET;
    p.surface_temp_c = -100;
    p.ramp_s = 5;
    p.active_thaw_temp_c = 20;
    return p;
}

/* CryoprobeToImageMm of a probe in the image plane (tip, unit direction, mm). */
static cn_mat4 cryo_in_image(cn_pt2 tip, cn_pt2 dir)
{
    cn_thermal_plane pl;
    cn_thermal_plane_from_needle(tip, dir, &pl);
    cn_mat4 m;
    cn_mat4_invert(&pl.image_mm_to_probe, &m);
    return m;
}

/* A frame of the session at scene time t_s: the image tracked (ImageToProbe in
 * pixels, Probe = Tracker = Reference), the cryoprobe at c2mm, the procedure's say. */
static cn_frame *frame(cn_frame_pool *pool, double t_s, const cn_mat4 *c2mm, cn_phase ph, int cycle,
                       const char *event, bool cryo_tracked)
{
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_non_null(f);
    cn_frame_set_size(f, W, H);
    f->spacing_mm[0] = f->spacing_mm[1] = SP;
    f->t_acq_ns = f->t_scene_ns = (int64_t)llround(t_s * 1e9);
    cn_mat4 img = cn_mat4_scale(SP, SP, SP), id = cn_mat4_identity(), mm2i;
    cn_mat4 i2mm = cn_frame_image_to_image_mm(f);
    cn_mat4_invert(&i2mm, &mm2i);
    cn_mat4 mm2t = cn_mat4_mul(&img, &mm2i), c2t = cn_mat4_mul(&mm2t, c2mm);
    cn_frame_set_pose(f, "ImageToProbe", &img, true);
    cn_frame_set_pose(f, "ProbeToTracker", &id, true);
    cn_frame_set_pose(f, "ReferenceToTracker", &id, true);
    if (cryo_tracked)
        cn_frame_set_pose(f, "CryoprobeToTracker", &c2t, true);
    f->analysis.guidance.phase = ph;
    f->analysis.guidance.cycle = cycle;
    if (event)
        cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, f->t_scene_ns, "%s", event);
    return f;
}

typedef double (*temp_fn)(void *user, cn_pt2 image_mm);

/* Outermost distance from c along angle a where T <= temp (0.05 mm steps). */
static double ray(temp_fn fn, void *user, cn_pt2 c, double a, double temp)
{
    double last = 0;
    for (double d = 0; d < 30; d += 0.05) {
        cn_pt2 p = {(float)(c.x + d * cos(a)), (float)(c.y + d * sin(a))};
        if (fn(user, p) <= temp)
            last = d;
        else if (d > last + 3)
            break;
    }
    return last;
}

typedef struct {
    void *stage;
    cn_frame *f;
} stage_ctx;

static double stage_temp(void *u, cn_pt2 p)
{
    stage_ctx *c = u;
    return cn_thermal_stage_temp_image(c->stage, c->f, p);
}

typedef struct {
    const cn_thermal_grid *g;
    const cn_thermal_solver *s;
    cn_mat4 mm_to_field;
} ref_ctx;

static double ref_temp(void *u, cn_pt2 p)
{
    ref_ctx *c = u;
    cn_vec3 q = cn_mat4_apply_point(&c->mm_to_field, (cn_vec3){p.x, p.y, 0});
    return c->g ? cn_thermal_grid_temp_at(c->g, q) : cn_thermal_solver_temp_at(c->s, hypot(q.x, q.y), q.z);
}

/* Steps a freeze of dur seconds as the model does: the ramped probe temperature
 * at the middle of each step, 0.25 s steps for the stiff first seconds. */
typedef int (*step_fn)(void *solver, const cn_thermal_bc *bc, double dt);
static int step_axi(void *s, const cn_thermal_bc *bc, double dt)
{
    cn_thermal_solver_set_bc(s, bc);
    return cn_thermal_solver_step(s, dt);
}
static int step_grid(void *g, const cn_thermal_bc *bc, double dt)
{
    cn_thermal_grid_set_bc(g, bc);
    return cn_thermal_grid_step(g, dt);
}
static cn_thermal_bc freeze_bc(const cn_cryoprobe *p, double el);
static void freeze_for(step_fn fn, void *solver, const cn_cryoprobe *p, double dur)
{
    for (double t = 0; t < dur - 1e-9;) {
        double dt = fmin(t < 5 ? 0.25 : 1, dur - t);
        cn_thermal_bc bc = freeze_bc(p, t + 0.5 * dt);
        assert_int_equal(fn(solver, &bc, dt), CN_OK);
        t += dt;
    }
}

/* The ramped probe temperature the model uses, at el seconds into a freeze. */
static cn_thermal_bc freeze_bc(const cn_cryoprobe *p, double el)
{
    cn_thermal_bc bc = {CN_BC_TEMP, p->surface_temp_c + (37 - p->surface_temp_c) * exp(-el / p->ramp_s), 0, 0};
    return bc;
}

static const cn_pt2 A = {20, 14};
static const cn_pt2 DIR = {0.8660254f, 0.5f};

/* Runs freeze 60 s at A, passive thaw 30 s, reposition to B, freeze 60 s; leaves
 * the stage after the last frame in *st and that frame in *last. */
static void session(cn_pt2 b, cn_stage *st, cn_frame_pool *pool, cn_frame **last)
{
    cn_thermal_stage_opts so;
    memset(&so, 0, sizeof so);
    so.probe = probe();
    cn_strlcpy(so.protocol.name, "plan", sizeof so.protocol.name);
    so.protocol.n_steps = 1;
    so.protocol.steps[0] = (cn_protocol_step){CN_STEP_FREEZE, 90};
    cn_tissue_standard(&so.tissue);
    cn_thermal_fit_opts_default(&so.fit);
    so.fit.min_freeze_s = 600;
    so.fit_enabled = false; /* one model: comparable with one reference run */
    so.max_members_per_frame = 1;
    so.h3_mm = 1.0;
    so.spot_tol_mm = 1.5;
    so.spot_tol_deg = 5;
    char err[256];
    assert_int_equal(cn_thermal_stage_new(&so, st, err, sizeof err), CN_OK);
    cn_mat4 ca = cryo_in_image(A, DIR), cb = cryo_in_image(b, DIR);
    cn_frame *f = NULL;
    for (int i = 0; i <= 150; i++) { /* 1 frame a second */
        double t = i;
        cn_phase ph = t < 60 ? CN_PHASE_FREEZE : t < 90 ? CN_PHASE_THAW : t < 91 ? CN_PHASE_APPROACH : CN_PHASE_FREEZE;
        int cycle = t < 91 ? 1 : 2;
        const char *ev = t == 90 ? "reposition" : NULL;
        if (f)
            cn_frame_unref(f);
        f = frame(pool, 10 + t, t < 90 ? &ca : &cb, ph, cycle, ev, true);
        assert_int_equal(st->process(st->self, f), CN_OK);
    }
    *last = f;
}

/* Rays every 10 deg from c; the one straight back along the shaft is left out:
 * it runs inside the probe, where neither field has tissue (each solver reads
 * its shaft cells from the tissue beside them, at a different radius). */
static void compare(const char *what, stage_ctx *sc, ref_ctx *rc, cn_pt2 c, double tol_mean,
                    double tol_max)
{
    const double temps[2] = {0, -20};
    double shaft = atan2(-DIR.y, -DIR.x);
    for (int k = 0; k < 2; k++) {
        double sum = 0, worst = 0, rs_mean = 0;
        int n = 0;
        for (int r = 0; r < 36; r++) {
            double a = 2 * M_PI * r / 36;
            if (fabs(remainder(a - shaft, 2 * M_PI)) < 0.05)
                continue;
            n++;
            double ds = ray(stage_temp, sc, c, a, temps[k]), dr = ray(ref_temp, rc, c, a, temps[k]);
            sum += fabs(ds - dr);
            worst = fmax(worst, fabs(ds - dr));
            rs_mean += dr;
            if (fabs(ds - dr) > 0.6) print_message("    ray %d (%.0f deg): stage %.2f ref %.2f\n", r, a * 180 / M_PI, ds, dr);
        }
        rs_mean /= n;
        print_message("  %s, %3.0f C: mean radius %.2f mm; stage vs reference over %d rays: mean "
                      "|diff| %.2f mm, max %.2f mm\n", what, temps[k], rs_mean, n, sum / n, worst);
        assert_true(rs_mean > 2);
        assert_true(sum / n < tol_mean);
        assert_true(worst < tol_max);
    }
}

/* The probe moved 5 mm across its axis: one field, as a 3-D run with both spots
 * from the start gives it. */
static void test_reposition_across(void **state)
{
    (void)state;
    cn_frame_pool *pool = cn_frame_pool_new(2, W, H);
    cn_pt2 b = {(float)(A.x - 5 * DIR.y), (float)(A.y + 5 * DIR.x)};
    cn_stage st;
    cn_frame *f;
    session(b, &st, pool, &f);
    assert_int_equal(cn_thermal_stage_sources(st.self), 2);
    assert_int_equal(f->analysis.thermal.n_sources, 2);
    /* the reference: a 3-D grid in A's probe frame, both spots, from t = 0 */
    cn_cryoprobe p = probe();
    cn_thermal_grid_opts go;
    cn_thermal_grid_opts_default(&go);
    go.h_mm = 1.0;
    for (int a = 0; a < 3; a++) {
        go.lo[a] = -24;
        go.n[a] = 49;
    }
    go.lo[2] = -36;
    go.n[2] = 60;
    char err[256];
    cn_thermal_grid *g = cn_thermal_grid_new(&go, err, sizeof err);
    assert_non_null(g);
    cn_mat4 ca = cryo_in_image(A, DIR), cb = cryo_in_image(b, DIR), a_inv;
    cn_mat4_invert(&ca, &a_inv);
    cn_mat4 b_in_a = cn_mat4_mul(&a_inv, &cb);
    cn_thermal_probe_geom pa = {{0, 0, 0}, {0, 0, 1}, p.outer_diameter_mm / 2, p.active_length_mm};
    cn_thermal_probe_geom pb = {cn_mat4_apply_point(&b_in_a, (cn_vec3){0, 0, 0}),
                                cn_mat4_apply_dir(&b_in_a, (cn_vec3){0, 0, 1}), pa.r0_mm, pa.active_mm};
    assert_int_equal(cn_thermal_grid_set_probe(g, &pa), CN_OK);
    freeze_for(step_grid, g, &p, 60);
    cn_thermal_bc off = {CN_BC_INSULATED, 0, 0, 0};
    cn_thermal_grid_set_bc(g, &off);
    cn_thermal_grid_step(g, 31); /* the second freeze begins on the frame after the reposition */
    assert_int_equal(cn_thermal_grid_set_probe(g, &pb), CN_OK);
    freeze_for(step_grid, g, &p, 59);
    stage_ctx sc = {st.self, f};
    ref_ctx rc = {g, NULL, a_inv};
    cn_pt2 mid = {(float)(0.5 * (A.x + b.x) - 5 * DIR.x), (float)(0.5 * (A.y + b.y) - 5 * DIR.y)};
    compare("moved 5 mm across", &sc, &rc, mid, 0.3, 0.8);
    /* one combined ball: the 0 C curve drawn is one closed curve around both
     * active centres, and the tissue between the two probes is frozen */
    const cn_isotherm *iso = &f->analysis.iso[0];
    assert_true(iso->n >= 60);
    assert_true(stage_temp(&sc, mid) < -20);
    cn_thermal_grid_free(g);
    cn_frame_unref(f);
    cn_thermal_stage_free(st.self);
    cn_frame_pool_free(pool);
}

/* Pulled back 5 mm along its axis: exactly axisymmetric, checked against the
 * axisymmetric solver (0.25 mm) with its probe moved. */
static void test_reposition_along(void **state)
{
    (void)state;
    cn_frame_pool *pool = cn_frame_pool_new(2, W, H);
    cn_pt2 b = {(float)(A.x - 5 * DIR.x), (float)(A.y - 5 * DIR.y)};
    cn_stage st;
    cn_frame *f;
    session(b, &st, pool, &f);
    assert_int_equal(cn_thermal_stage_sources(st.self), 2);
    cn_cryoprobe p = probe();
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    o.h_mm = 0.25;
    o.dt_max_s = 1;
    o.r0_mm = p.outer_diameter_mm / 2;
    o.active_length_mm = p.active_length_mm;
    o.r_max_mm = 30;
    o.z_min_mm = -45;
    o.z_max_mm = 30;
    char err[256];
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    assert_non_null(s);
    freeze_for(step_axi, s, &p, 60);
    cn_thermal_bc off = {CN_BC_INSULATED, 0, 0, 0};
    cn_thermal_solver_set_bc(s, &off);
    cn_thermal_solver_step(s, 31);
    assert_int_equal(cn_thermal_solver_set_probe(s, true, -5), CN_OK);
    freeze_for(step_axi, s, &p, 59);
    cn_thermal_energy e;
    cn_thermal_solver_energy(s, &e);
    print_message("  energy: stored %.3f boundary %.3f source %.3f\n", e.stored_j, e.boundary_j, e.source_j);
    assert_true(fabs(e.stored_j - e.boundary_j - e.source_j) < 1e-4 * fabs(e.boundary_j));
    cn_mat4 ca = cryo_in_image(A, DIR), a_inv;
    cn_mat4_invert(&ca, &a_inv);
    stage_ctx sc = {st.self, f};
    ref_ctx rc = {NULL, s, a_inv};
    cn_pt2 mid = {(float)(A.x - 7.5 * DIR.x), (float)(A.y - 7.5 * DIR.y)};
    compare("pulled back 5 mm", &sc, &rc, mid, 0.35, 0.9);
    cn_thermal_solver_free(s);
    cn_frame_unref(f);
    cn_thermal_stage_free(st.self);
    cn_frame_pool_free(pool);
}

/* Withdrawn after a freeze: the field stays in the tissue and thaws, the
 * cryoprobe pose is gone (it left the tracker's view), no curve leaves the
 * image, and a freeze with no pose at all waits for one. */
static void test_withdrawn_stays(void **state)
{
    (void)state;
    cn_frame_pool *pool = cn_frame_pool_new(2, W, H);
    cn_thermal_stage_opts so;
    memset(&so, 0, sizeof so);
    so.probe = probe();
    cn_strlcpy(so.protocol.name, "plan", sizeof so.protocol.name);
    so.protocol.n_steps = 1;
    so.protocol.steps[0] = (cn_protocol_step){CN_STEP_FREEZE, 90};
    cn_tissue_standard(&so.tissue);
    cn_thermal_fit_opts_default(&so.fit);
    so.fit_enabled = false;
    so.h3_mm = 1;
    so.spot_tol_mm = 1.5;
    so.spot_tol_deg = 5;
    cn_stage st;
    char err[256];
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_OK);
    cn_mat4 ca = cryo_in_image(A, DIR);
    /* the probe leaves towards the skin (up and left), then out of the tracker */
    double r_end = 0, cx_end = 0, cy_end = 0;
    for (int i = 0; i <= 2 * 240; i++) {
        double t = 0.5 * i;
        cn_phase ph = t < 90 ? CN_PHASE_FREEZE : t < 100 ? CN_PHASE_THAW : CN_PHASE_WITHDRAWN;
        double back = t < 100 ? 0 : fmin(40, (t - 100) * 4);
        cn_pt2 tip = {(float)(A.x - back * DIR.x), (float)(A.y - back * DIR.y)};
        cn_mat4 c = cryo_in_image(tip, DIR);
        cn_frame *f = frame(pool, 10 + t, &c, ph, 1, t == 100 ? "needle_withdrawn" : NULL, t < 110);
        assert_int_equal(st.process(st.self, f), CN_OK);
        const cn_isotherm *z = &f->analysis.iso[0];
        for (int k = 0; k < 3; k++)
            for (int q = 0; q < f->analysis.iso[k].n; q++) {
                cn_pt2 pt = f->analysis.iso[k].pts_mm[q];
                assert_true(pt.x >= 0 && pt.y >= 0 && pt.x <= W * SP && pt.y <= H * SP);
            }
        if (t == 89.5) {
            r_end = z->radius_mm;
            cx_end = z->centre_mm.x;
            cy_end = z->centre_mm.y;
        }
        if (t == 200) {
            print_message("  withdrawn: 0 C radius %.2f mm at the freeze's end, %.2f mm 100 s after "
                          "withdrawal; centre (%.2f, %.2f) -> (%.2f, %.2f) mm; ice depth %.1f mm\n",
                          r_end, z->radius_mm, cx_end, cy_end, z->centre_mm.x, z->centre_mm.y,
                          f->analysis.thermal.ice_depth_mm);
            assert_true(z->n > 20);
            assert_true(z->radius_mm < r_end - 0.3);
            assert_true(hypot(z->centre_mm.x - cx_end, z->centre_mm.y - cy_end) < 0.01);
            assert_true(f->analysis.thermal.ice_depth_mm > 3); /* the ice did not follow the probe */
        }
        cn_frame_unref(f);
    }
    (void)ca;
    cn_thermal_stage_free(st.self);
    cn_frame_pool_free(pool);
}

/* The second spot's freeze (3-D) stopped at 130 s, keyed then or only at 150 s with its
 * stop dated back (the procedure's thaw phase already 20 s old: ICE SHRINKING IN FREEZE,
 * and f). Before, the 3-D field kept no state to go back to: the dated stop was taken from
 * the key, 20 s more freezing in the model than in the tissue (6.91 mm for 6.12). Now both
 * runs' 0 C curves at 165 s agree, as one spot's did. stop_frame_s: the frame the stop
 * reaches the stage; resume_s: the frame the freeze goes on (its stop taken back);
 * missed: nobody keyed the second freeze, f keyed at stop_frame_s gives its start and stop
 * at once (a whole freeze since the last frame). */
typedef struct {
    double stop_frame_s, resume_s;
    bool missed;
    double fps, catch_up_ms; /* frames a second; the stage's grid_catch_up_ms */
    double h3_mm;            /* the 3-D cell */
    double read_s;           /* when the radius is read */
    /* out: the frames after the stop's key that stood behind (no curves, no temperature),
     * the largest lag said, the frame the field was current again */
    int behind_frames;
    double max_lag_s, current_s;
} spot_run;

static double second_spot_run(spot_run *r)
{
    cn_frame_pool *pool = cn_frame_pool_new(2, W, H);
    cn_thermal_stage_opts so;
    memset(&so, 0, sizeof so);
    so.probe = probe();
    cn_strlcpy(so.protocol.name, "plan", sizeof so.protocol.name);
    so.protocol.n_steps = 1;
    so.protocol.steps[0] = (cn_protocol_step){CN_STEP_FREEZE, 90};
    cn_tissue_standard(&so.tissue);
    cn_thermal_fit_opts_default(&so.fit);
    so.fit_enabled = false;
    so.max_members_per_frame = 1;
    so.h3_mm = r->h3_mm;
    so.spot_tol_mm = 1.5;
    so.spot_tol_deg = 5;
    so.grid_catch_up_ms = r->catch_up_ms;
    cn_stage st;
    char err[256];
    assert_int_equal(cn_thermal_stage_new(&so, &st, err, sizeof err), CN_OK);
    const cn_pt2 b = {(float)(A.x - 5 * DIR.y), (float)(A.y + 5 * DIR.x)};
    const cn_pt2 mid = {(float)(0.5 * (A.x + b.x) - 5 * DIR.x),
                        (float)(0.5 * (A.y + b.y) - 5 * DIR.y)};
    cn_mat4 ca = cryo_in_image(A, DIR), cb = cryo_in_image(b, DIR);
    double r_mean = 0;
    float depth_mm = INFINITY; /* the last current frame's ice depth */
    r->behind_frames = 0;
    r->max_lag_s = 0;
    r->current_s = NAN;
    const int n = (int)llround(r->read_s * r->fps);
    for (int i = 0; i <= n; i++) {
        const double t = i / r->fps;
        const bool stopped = t >= r->stop_frame_s && t < r->resume_s;
        cn_phase ph = t < 60 ? CN_PHASE_FREEZE : t < 90 ? CN_PHASE_THAW : t < 91 ? CN_PHASE_APPROACH
                      : r->missed && !stopped       ? CN_PHASE_APPROACH
                      : !stopped                    ? CN_PHASE_FREEZE
                                                    : CN_PHASE_THAW;
        cn_frame *f = frame(pool, 10 + t, t < 90 ? &ca : &cb, ph,
                            t < 91 || (r->missed && !stopped) ? 1 : 2,
                            t == 90 ? "reposition" : NULL, true);
        if (stopped) {
            f->analysis.guidance.phase_elapsed_s = t - 130; /* the stop happened at 130 s */
            f->analysis.guidance.freeze_s = r->missed ? 39 : 0;
        }
        assert_int_equal(st.process(st.self, f), CN_OK);
        const double lag = f->analysis.thermal.catching_up_s;
        if (t >= r->stop_frame_s && lag > 0) {
            /* a field of the past shows nothing and reads no temperature */
            assert_int_equal(f->analysis.n_iso, 0);
            assert_true(isnan(cn_thermal_stage_temp_image(st.self, f, mid)));
            /* what the alarms read is held: the ice stays where it was (the review: ICE
             * NEAR SKIN cleared for the whole catch-up) */
            assert_true(isfinite(depth_mm));
            assert_true(f->analysis.thermal.ice_depth_mm == depth_mm);
            r->behind_frames++;
            r->max_lag_s = fmax(r->max_lag_s, lag);
        } else if (t >= r->stop_frame_s && isnan(r->current_s)) {
            r->current_s = t;
        }
        if (lag == 0)
            depth_mm = f->analysis.thermal.ice_depth_mm;
        if (i == n) { /* the mean 0 C radius about the two spots' middle, 36 rays */
            assert_true(lag == 0);
            assert_int_equal(f->analysis.thermal.n_sources, 2);
            stage_ctx sc = {st.self, f};
            for (int q = 0; q < 36; q++)
                r_mean += ray(stage_temp, &sc, mid, 2 * M_PI * q / 36, 0) / 36;
        }
        cn_frame_unref(f);
    }
    cn_thermal_stage_free(st.self);
    cn_frame_pool_free(pool);
    return r_mean;
}

/* at 1 frame a second, the field stepped to each frame at once (1e6 ms a frame) */
static double second_spot_stop(double stop_frame_s, double resume_s)
{
    spot_run r = {stop_frame_s, resume_s, false, 1, 1e6, 1.0, 165, 0, 0, 0};
    return second_spot_run(&r);
}

static void test_second_spot_dated_stop(void **state)
{
    (void)state;
    const double keyed = second_spot_stop(130, 1000), dated = second_spot_stop(150, 1000);
    print_message("  second spot's stop at 130 s, at 165 s the mean 0 C radius about the spots' "
                  "middle: keyed then %.2f mm, keyed at 150 s and dated back %.2f mm\n",
                  keyed, dated);
    assert_true(keyed > 2);
    assert_true(fabs(dated - keyed) < 0.1);
    /* the stop taken back at 150 s (freeze_resume: the gas stayed on): as a freeze that
     * never stopped. Before, the 3-D field kept no copy of the stop, and the freeze began
     * again from the thawed field */
    const double on = second_spot_stop(1000, 1000), resumed = second_spot_stop(130, 150);
    print_message("  freezing on to 165 s: %.2f mm; stopped at 130 s and taken back at 150 s: "
                  "%.2f mm\n", on, resumed);
    assert_true(fabs(resumed - on) < 0.1);
}

/* A dated step in 3-D is stepped on over frames, not in one. Before, the grid went back to
 * a snapshot and was stepped to the frame inside that frame: 0.9-2.5 s of analysis stalled
 * at 1 mm cells, 5.7-15.1 s at 0.5 mm (review 36 N1; the wall times are in
 * docs/benchmarks.md). With a budget of a few microseconds a frame does one solver step (1 s
 * of model time) for 0.5 s of scene: the field stands behind for frames, says so and shows
 * nothing; once current, its zone is the zone of the stop keyed on time. */
static void test_dated_step_spread_over_frames(void **state)
{
    (void)state;
    spot_run on_time = {130, 1000, false, 4, 1e6, 2.0, 200, 0, 0, 0};
    spot_run dated = {150, 1000, false, 4, 1e-3, 2.0, 200, 0, 0, 0};
    spot_run missed = {160, 1000, true, 4, 1e-3, 2.0, 200, 0, 0, 0};
    spot_run resumed = {150, 152, false, 4, 1e-3, 2.0, 200, 0, 0, 0};
    spot_run never = {1000, 1000, false, 4, 1e6, 2.0, 200, 0, 0, 0};
    const double r_on = second_spot_run(&on_time), r_dated = second_spot_run(&dated);
    const double r_missed = second_spot_run(&missed), r_resumed = second_spot_run(&resumed);
    const double r_never = second_spot_run(&never);
    /* a field current before stays current whatever its budget: at 1 frame a second each
     * frame needs 4 steps in the stiff seconds after a freeze begins (the review: without
     * that rule the zone vanished there with no step dated back) */
    spot_run slow = {130, 1000, false, 1, 1e-3, 2.0, 200, 0, 0, 0};
    second_spot_run(&slow);
    assert_int_equal(slow.behind_frames, 0);
    spot_run missed_at_once = missed;
    missed_at_once.catch_up_ms = 1e6;
    const double r_mao = second_spot_run(&missed_at_once);
    print_message("  at 200 s the mean 0 C radius (2 mm cells): stop keyed on time %.2f mm; keyed "
                  "at 150 s, dated to 130 s, %.2f mm (%d frames behind, %.1f s at most, current "
                  "at %.2f s); the freeze keyed whole at 160 s %.2f mm (%d frames, %.1f s, "
                  "current at %.2f s), stepped at once %.2f mm; the stop taken back at 152 s "
                  "%.2f mm, as never stopped %.2f mm\n",
                  r_on, r_dated, dated.behind_frames, dated.max_lag_s, dated.current_s, r_missed,
                  missed.behind_frames, missed.max_lag_s, missed.current_s, r_mao, r_resumed,
                  r_never);
    assert_int_equal(on_time.behind_frames, 0);
    assert_int_equal(missed_at_once.behind_frames, 0);
    /* the key's frame went back (to the snapshot at or before 130 s; for the whole freeze,
     * at the reposition) and stood behind for frames, saying so */
    assert_true(dated.behind_frames >= 10 && dated.max_lag_s > 15 && dated.current_s < 200);
    assert_true(missed.behind_frames >= 10 && missed.max_lag_s > 30 && missed.current_s < 200);
    assert_true(resumed.behind_frames >= 10);
    /* spread or at once, the same field (the changes held meanwhile applied at their
     * times); and the zone of the stop keyed on time (its steps 0.25 s, the catch-up's 1 s) */
    assert_true(r_on > 2);
    assert_true(fabs(r_missed - r_mao) < 0.02);
    assert_true(fabs(r_dated - r_on) < 0.1);
    assert_true(fabs(r_missed - r_on) < 0.1);
    assert_true(fabs(r_resumed - r_never) < 0.05);
}

/* The 3-D field's changes given for a time it has not reached wait in it and are applied
 * at their times, exactly: a step ends there, the probe changes there. Checked on the field
 * itself (the review of the first version: the stage tests passed with every change applied
 * 1 s late, steps not stopped at a change, or the queue left out of a snapshot, because the
 * runs they compare all shifted together). */
static void test_grid_changes_at_their_times(void **state)
{
    (void)state;
    cn__field_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.probe = probe();
    cn_strlcpy(fo.plan.name, "plan", sizeof fo.plan.name);
    fo.plan.n_steps = 1;
    fo.plan.steps[0] = (cn_protocol_step){CN_STEP_FREEZE, 90};
    cn_tissue_standard(&fo.tissue);
    cn_thermal_fit_opts_default(&fo.fit);
    fo.fit_enabled = false;
    fo.h3_mm = 2.0;
    char err[256];
    const cn_mat4 a = cn_mat4_identity(), b = cn_mat4_translation(5, 0, 0);
    cn__field *fl = cn__field_new(&fo, &a, err, sizeof err);
    assert_non_null(fl);
    bool moved = false;
    assert_int_equal(cn__field_freeze(fl, &a, 0, 1.5, 5, &moved), CN_OK);
    assert_int_equal(cn__field_advance(fl, 40, 1 << 20), CN_OK);
    assert_int_equal(cn__field_set_mode(fl, CN_PROBE_OFF, 40), CN_OK);
    assert_int_equal(cn__field_freeze(fl, &b, 60, 1.5, 5, &moved), CN_OK); /* goes 3-D */
    assert_true(moved && cn__field_is_3d(fl));
    assert_int_equal(cn__field_advance(fl, 100, 1 << 20), CN_OK);
    /* a stop at 130.4 s and heat at 151.7 s, given with the grid at 100 s */
    assert_int_equal(cn__field_set_mode(fl, CN_PROBE_OFF, 130.4), CN_OK);
    assert_int_equal(cn__field_set_mode(fl, CN_PROBE_HEAT, 151.7), CN_OK);
    assert_int_equal(fl->n_queued, 2);
    assert_int_equal(fl->mode, CN_PROBE_FREEZE);
    /* a snapshot now holds the changes still to come */
    cn__field *snap = cn__field_clone(fl);
    assert_non_null(snap);
    /* ... and a copy of it into a kept field of the same domain (the stage's snapshots) */
    cn__field *kept = cn__field_clone(fl);
    assert_non_null(kept);
    assert_int_equal(cn__field_advance(kept, 101, 1 << 20), CN_OK);
    assert_int_equal(cn__field_copy(kept, snap), CN_OK);
    assert_int_equal(kept->n_queued, 2);
    assert_true(fabs(kept->queued[0].t_s - 130.4) < 1e-9 && kept->queued[1].mode == CN_PROBE_HEAT);
    cn__field_free(kept);
    for (int pass = 0; pass < 2; pass++) {
        bool hit_stop = false, hit_heat = false;
        double t = cn__field_time_s(fl);
        while (t < 170 - 1e-9) {
            const cn_probe_mode before = fl->mode;
            assert_int_equal(cn__field_advance_steps(fl, 170, 1), CN_OK);
            const double tn = cn__field_time_s(fl);
            assert_true(tn > t);
            /* no step crosses a change's time */
            assert_false(t < 130.4 - 1e-9 && tn > 130.4 + 1e-9);
            assert_false(t < 151.7 - 1e-9 && tn > 151.7 + 1e-9);
            if (fabs(tn - 130.4) < 1e-9) {
                hit_stop = true;
                assert_int_equal(before, CN_PROBE_FREEZE);
                assert_int_equal(fl->mode, CN_PROBE_OFF);
                assert_true(fabs(fl->mode_t0 - 130.4) < 1e-9);
            } else if (fabs(tn - 151.7) < 1e-9) {
                hit_heat = true;
                assert_int_equal(fl->mode, CN_PROBE_HEAT);
                assert_true(fabs(fl->mode_t0 - 151.7) < 1e-9);
            } else {
                assert_int_equal(fl->mode, before); /* nothing changes between */
            }
            t = tn;
        }
        assert_true(hit_stop && hit_heat);
        assert_int_equal(fl->n_queued, 0);
        /* back to the snapshot (a step dated back; a grid grown since is cloned, as the
         * stage does): the changes come again */
        if (cn__field_copy(fl, snap) != CN_OK) {
            cn__field_free(fl);
            fl = cn__field_clone(snap);
            assert_non_null(fl);
        }
        assert_true(fabs(cn__field_time_s(fl) - 100) < 1e-9);
        assert_int_equal(fl->n_queued, 2);
    }
    /* a change given for a time before one already given keeps the order */
    assert_int_equal(cn__field_set_mode(fl, CN_PROBE_OFF, 140), CN_OK);
    assert_true(fl->queued[2].t_s >= fl->queued[1].t_s);
    cn__field_free(snap);
    cn__field_free(fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_withdrawn_stays),
        cmocka_unit_test(test_reposition_along),
        cmocka_unit_test(test_reposition_across),
        cmocka_unit_test(test_second_spot_dated_stop),
        cmocka_unit_test(test_dated_step_spread_over_frames),
        cmocka_unit_test(test_grid_changes_at_their_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
