/* test_sim.c - the simulator's ground truth matches its images; the scenario,
 * presets, tracker and configuration behave as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/sim.h"
#include "sim_internal.h" /* white box: fascicle positions for the honeycomb test */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One simulator with the defaults and a frame, shared by the image tests. */
typedef struct {
    cn_sim_config c;
    cn_sim *s;
    cn_frame_pool *pool;
    cn_frame *f;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    cn_sim_config_defaults(&fx->c);
    fx->s = cn_sim_new(&fx->c);
    fx->pool = cn_frame_pool_new(2, fx->c.width_px, fx->c.height_px);
    fx->f = cn_frame_pool_acquire(fx->pool);
    if (!fx->s || !fx->pool || !fx->f)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    cn_frame_unref(fx->f);
    cn_frame_pool_free(fx->pool);
    cn_sim_free(fx->s);
    free(fx);
    return 0;
}

/* Mean grey over the pixels whose centres (in mm) pass a predicate. */
typedef bool (*pred)(double x, double y, const void *ctx);

static double mean_where(const cn_frame *f, pred p, const void *ctx, int *count)
{
    double sum = 0;
    int n = 0;
    double sp = f->spacing_mm[0];
    for (int j = 0; j < f->height; j++)
        for (int i = 0; i < f->width; i++) {
            double x = (i + 0.5) * sp, y = (j + 0.5) * sp;
            if (p(x, y, ctx)) {
                sum += f->pixels[(size_t)j * f->width + i];
                n++;
            }
        }
    if (count)
        *count = n;
    return n ? sum / n : NAN;
}

static uint8_t px_at(const cn_frame *f, double x_mm, double y_mm)
{
    int i = (int)floor(x_mm / f->spacing_mm[0]), j = (int)floor(y_mm / f->spacing_mm[1]);
    if (i < 0)
        i = 0;
    if (j < 0)
        j = 0;
    if (i >= f->width)
        i = f->width - 1;
    if (j >= f->height)
        j = f->height - 1;
    return f->pixels[(size_t)j * f->width + i];
}

/* ------------------------------------------------------------------ config */

static void test_defaults(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    char err[256] = "";
    assert_int_equal(cn_sim_config_validate(&c, err, sizeof err), CN_OK);
    assert_int_equal(c.width_px, 640);
    assert_int_equal(c.height_px, 480);
    assert_float_equal(c.depth_mm, 40, 1e-12);
    assert_float_equal(c.fps, 20, 1e-12);
    assert_string_equal(c.protocol, "morton-150s");
    assert_int_equal(c.n_cycles, 1);
    assert_float_equal(c.cycles[0].freeze_s, 150, 1e-12);
    cn_sim *s = cn_sim_new(&c);
    assert_non_null(s);
    assert_float_equal(cn_sim_duration_s(s), 2 + 20 + 150 + 20 + 5, 1e-9); /* + the release thaw */
    cn_sim_free(s);
}

static void test_presets(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    const char *const *names = cn_sim_protocol_names();
    int n = 0;
    for (; names[n]; n++)
        assert_int_equal(cn_sim_config_set_protocol(&c, names[n]), CN_OK);
    assert_true(n >= 4);
    assert_int_equal(cn_sim_config_set_protocol(&c, "nope"), CN_ENOENT);

    assert_int_equal(cn_sim_config_set_protocol(&c, "stump-6-4-6"), CN_OK);
    assert_int_equal(c.n_cycles, 2);
    assert_float_equal(c.cycles[0].freeze_s, 360, 0);
    assert_float_equal(c.cycles[0].thaw_s, 240, 0);
    assert_float_equal(c.cycles[1].freeze_s, 360, 0);
    assert_int_equal(cn_sim_config_set_protocol(&c, "spermatic-2x90s"), CN_OK);
    assert_int_equal(c.n_cycles, 2);
    assert_float_equal(c.cycles[0].freeze_s, 90, 0);
    assert_true(c.cycles[0].thaw_s > 0);
    assert_float_equal(c.cycles[1].freeze_s, 90, 0);
    assert_int_equal(cn_sim_config_set_protocol(&c, "phantom-3x2min"), CN_OK);
    assert_int_equal(c.n_cycles, 3);
    for (int i = 0; i < 3; i++) {
        assert_float_equal(c.cycles[i].freeze_s, 120, 0);
        assert_float_equal(c.cycles[i].thaw_s, i < 2 ? 60 : 0, 0);
    }
    assert_int_equal(cn_sim_config_set_protocol(&c, "morton-150s"), CN_OK);
    assert_int_equal(c.n_cycles, 1);
    assert_float_equal(c.cycles[0].freeze_s, 150, 0);
}

/* Phases and cycles follow the preset's timeline (truth only, no pixels). */
static void test_phases_follow_preset(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 128, c.height_px = 96;
    cn_sim_config_set_protocol(&c, "stump-6-4-6");
    cn_sim *s = cn_sim_new(&c);
    assert_non_null(s);
    double t0 = c.idle_s + c.approach_s; /* first freeze starts */
    /* the last freeze has no thaw in the protocol: the console's release thaw frees
     * the probe before it is pulled out (before, it came out frozen at t0 + 960) */
    assert_float_equal(c.release_thaw_s, 20, 1e-12);
    assert_float_equal(cn_sim_duration_s(s), t0 + 360 + 240 + 360 + 20 + c.withdraw_s, 1e-9);
    struct {
        double t;
        cn_phase ph;
        int cycle;
    } exp[] = {
        {0.5, CN_PHASE_IDLE, 0},
        {c.idle_s + 1, CN_PHASE_APPROACH, 0},
        {t0 + 1, CN_PHASE_FREEZE, 1},
        {t0 + 359, CN_PHASE_FREEZE, 1},
        {t0 + 361, CN_PHASE_THAW, 1},
        {t0 + 599, CN_PHASE_THAW, 1},
        {t0 + 601, CN_PHASE_FREEZE, 2},
        {t0 + 959, CN_PHASE_FREEZE, 2},
        {t0 + 961, CN_PHASE_THAW, 2},
        {t0 + 979, CN_PHASE_THAW, 2},
        {t0 + 981, CN_PHASE_WITHDRAWN, 2},
        {t0 + 2000, CN_PHASE_WITHDRAWN, 2},
    };
    for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
        cn_truth t;
        cn_sim_truth_at(s, exp[i].t, &t);
        assert_true(t.valid);
        assert_int_equal(t.phase, exp[i].ph);
        assert_int_equal(t.cycle, exp[i].cycle);
        assert_float_equal(t.t_scene_s, exp[i].t, 1e-12);
        /* the needle stays in, whole, until the withdrawal begins */
        if (exp[i].ph == CN_PHASE_THAW || exp[i].ph == CN_PHASE_FREEZE)
            assert_true(t.needle_in);
    }
    cn_sim_free(s);

    /* release_thaw_s 0: pulled out straight from the freeze, as a user may ask; a
     * last cycle with a thaw of its own gets no release thaw on top */
    c.release_thaw_s = 0;
    s = cn_sim_new(&c);
    assert_float_equal(cn_sim_duration_s(s), t0 + 960 + c.withdraw_s, 1e-9);
    cn_truth tw;
    cn_sim_truth_at(s, t0 + 961, &tw);
    assert_int_equal(tw.phase, CN_PHASE_WITHDRAWN);
    cn_sim_free(s);
    c.release_thaw_s = 20;
    c.cycles[1].thaw_s = 30;
    s = cn_sim_new(&c);
    assert_float_equal(cn_sim_duration_s(s), t0 + 990 + c.withdraw_s, 1e-9);
    cn_sim_free(s);

    /* spermatic: 2 x 90 s with the passive thaw between */
    cn_sim_config_set_protocol(&c, "spermatic-2x90s");
    s = cn_sim_new(&c);
    cn_truth t;
    cn_sim_truth_at(s, t0 + 45, &t);
    assert_int_equal(t.phase, CN_PHASE_FREEZE);
    assert_int_equal(t.cycle, 1);
    cn_sim_truth_at(s, t0 + 90 + 10, &t);
    assert_int_equal(t.phase, CN_PHASE_THAW);
    cn_sim_truth_at(s, t0 + 90 + c.cycles[0].thaw_s + 45, &t);
    assert_int_equal(t.phase, CN_PHASE_FREEZE);
    assert_int_equal(t.cycle, 2);
    cn_sim_free(s);
}

/* The ice follows the growth law in freezes, shrinks at the thaw rate, and a freeze
 * that starts on residual ice continues the law from there. */
static void test_ice_growth_law(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 128, c.height_px = 96;
    cn_sim_config_set_protocol(&c, "phantom-3x2min"); /* 3 x (120 s freeze, 60 s thaw) */
    cn_sim *s = cn_sim_new(&c);
    double R = c.ice_rmax_mm, k = c.ice_k_mm_per_sqrt_s, v = c.ice_thaw_mm_per_s;
    double t0 = c.idle_s + c.approach_s;
    cn_truth t;
    cn_sim_truth_at(s, t0 - 1, &t);
    assert_false(t.ice_present);
    double prev = 0;
    for (double ft = 5; ft < 120; ft += 15) {
        cn_sim_truth_at(s, t0 + ft, &t);
        double want = R * (1 - exp(-k * sqrt(ft) / R));
        assert_true(t.ice_present);
        assert_float_equal(t.ice_radius_mm, want, 1e-4);
        assert_true(t.ice_radius_mm > prev); /* grows */
        prev = t.ice_radius_mm;
    }
    double r_end = R * (1 - exp(-k * sqrt(120.0) / R));
    cn_sim_truth_at(s, t0 + 120 + 30, &t);
    assert_int_equal(t.phase, CN_PHASE_THAW);
    assert_float_equal(t.ice_radius_mm, r_end - 30 * v, 1e-4);
    double r_res = r_end - 60 * v;
    assert_true(r_res > 0);
    /* second freeze, 10 s in: continue from the equivalent time of r_res */
    double te = pow(-R * log(1 - r_res / R) / k, 2);
    cn_sim_truth_at(s, t0 + 180 + 10, &t);
    assert_int_equal(t.cycle, 2);
    assert_float_equal(t.ice_radius_mm, R * (1 - exp(-k * sqrt(te + 10) / R)), 1e-4);
    /* ellipse around the active segment: b >= r, a >= b, centre half the active
     * length behind the tip */
    assert_true(t.ice_b_mm >= t.ice_radius_mm);
    assert_true(t.ice_a_mm >= t.ice_b_mm);
    double dx = t.needle_tip_mm.x - t.ice_center_mm.x, dy = t.needle_tip_mm.y - t.ice_center_mm.y;
    assert_float_equal(sqrt(dx * dx + dy * dy), 0.5 * c.needle_active_mm, 1e-3);
    cn_sim_free(s);
}

static void test_truth_geometry(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 320, c.height_px = 240;
    cn_sim *s = cn_sim_new(&c);
    double sp = c.depth_mm / c.height_px, wmm = c.width_px * sp;
    cn_truth t;
    cn_sim_truth_at(s, 0.5, &t);
    assert_float_equal(t.nerve_center_mm.x, 0.5 * wmm + c.nerve_lateral_mm, 1e-4);
    assert_float_equal(t.nerve_center_mm.y, c.nerve_depth_mm, 1e-4);
    assert_float_equal(2 * t.nerve_rx_mm, c.nerve_diameter_mm, 1e-4);
    assert_false(t.needle_in);
    /* the tip advances monotonically during the approach and stops short of the nerve */
    double prev = -1e9;
    for (double u = 0.05; u <= 1.0; u += 0.05) {
        cn_sim_truth_at(s, c.idle_s + u * c.approach_s, &t);
        double along = t.needle_tip_mm.x * t.needle_dir.x + t.needle_tip_mm.y * t.needle_dir.y;
        assert_true(along >= prev - 1e-9);
        prev = along;
    }
    cn_sim_truth_at(s, c.idle_s + c.approach_s + 1, &t);
    assert_true(t.needle_in);
    double dx = t.nerve_center_mm.x - t.needle_tip_mm.x, dy = t.nerve_center_mm.y - t.needle_tip_mm.y;
    assert_float_equal(sqrt(dx * dx + dy * dy), c.needle_target_offset_mm, 1e-3);
    assert_float_equal(atan2(t.needle_dir.y, t.needle_dir.x) * 180 / M_PI, c.needle_angle_deg, 1e-3);
    /* the tip came from the left side of the image */
    assert_true(t.needle_entry_mm.x < t.needle_tip_mm.x);
    assert_true(t.needle_entry_mm.x <= 1e-3 || t.needle_entry_mm.y <= 1e-3);
    /* withdrawn at the end */
    cn_sim_truth_at(s, cn_sim_duration_s(s), &t);
    assert_int_equal(t.phase, CN_PHASE_WITHDRAWN);
    assert_false(t.needle_in);
    cn_sim_free(s);
}

/* Visible rim = transducer-side arc: every point on the upper boundary of the ice
 * ellipse, left to right, inside the image. */
static void test_rim_points_transducer_side(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 320, c.height_px = 240;
    cn_sim *s = cn_sim_new(&c);
    double sp = c.depth_mm / c.height_px;
    for (double ft = 10; ft <= 150; ft += 35) {
        cn_truth t;
        cn_sim_truth_at(s, c.idle_s + c.approach_s + ft, &t);
        assert_true(t.ice_present);
        assert_true(t.rim_n > 20);
        for (int i = 0; i < t.rim_n; i++) {
            cn_pt2 p = t.rim_mm[i];
            assert_true(p.x >= 0 && p.x <= c.width_px * sp && p.y >= 0 && p.y <= c.depth_mm);
            if (i)
                assert_true(p.x >= t.rim_mm[i - 1].x - 1e-4);
            /* on the ellipse */
            double ux = t.needle_dir.x, uy = t.needle_dir.y;
            double dx = p.x - t.ice_center_mm.x, dy = p.y - t.ice_center_mm.y;
            double u = (dx * ux + dy * uy) / t.ice_a_mm, v = (-dx * uy + dy * ux) / t.ice_b_mm;
            assert_float_equal(u * u + v * v, 1.0, 1e-3);
            /* its outward normal faces the transducer (points up, -y) */
            double gu = u / t.ice_a_mm, gv = v / t.ice_b_mm;
            double ny = gu * uy + gv * ux, nx = gu * ux - gv * uy;
            assert_true(ny <= 1e-3 * hypot(nx, ny));
            /* away from the lateral extremes it is the upper boundary of its column */
            if (i > 4 && i < t.rim_n - 5) {
                double yu;
                assert_true(sim_ice_upper_y(&t, p.x, &yu));
                assert_float_equal(p.y, yu, 0.02);
            }
        }
        /* the arc spans the ball's whole lateral extent, and its middle is above the centre */
        cn_pt2 mid = t.rim_mm[t.rim_n / 2];
        assert_true(mid.y < t.ice_center_mm.y);
    }
    cn_sim_free(s);
}

/* ------------------------------------------------------------------ images */

static void test_frame_metadata(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    assert_int_equal(cn_sim_render(fx->s, 30.0, f), CN_OK);
    assert_int_equal(f->width, 640);
    assert_int_equal(f->height, 480);
    double sp = fx->c.depth_mm / fx->c.height_px;
    assert_float_equal(f->spacing_mm[0], sp, 1e-12);
    assert_float_equal(f->spacing_mm[1], sp, 1e-12);
    assert_float_equal(f->transducer_px[0], 320, 1e-12);
    assert_float_equal(f->transducer_px[1], 0, 1e-12);
    assert_true(f->truth.valid);
    const char *names[] = {"ImageToProbe", "ProbeToTracker", "CryoprobeToTracker", "ReferenceToTracker"};
    for (int i = 0; i < 4; i++) {
        const cn_pose *p = cn_frame_get_pose(f, names[i]);
        assert_non_null(p);
        assert_true(p->valid);
        assert_true(cn_mat4_is_finite(&p->m));
    }
    /* ImageToProbe (pixel centres at integers, PLUS): the centre of the
     * transducer face, between pixels 319 and 320 on the top edge, -> probe
     * origin; one pixel right -> sp mm in x */
    const cn_pose *i2p = cn_frame_get_pose(f, "ImageToProbe");
    cn_vec3 o = cn_mat4_apply_point(&i2p->m, (cn_vec3){319.5, -0.5, 0});
    assert_float_equal(o.x, 0, 1e-9);
    assert_float_equal(o.y, 0, 1e-9);
    cn_vec3 q = cn_mat4_apply_point(&i2p->m, (cn_vec3){320.5, 9.5, 0});
    assert_float_equal(q.x, sp, 1e-9);
    assert_float_equal(q.y, 10 * sp, 1e-9);
    /* a frame too large for the pool is refused */
    cn_frame_pool *small = cn_frame_pool_new(1, 64, 64);
    cn_frame *g = cn_frame_pool_acquire(small);
    assert_int_equal(cn_sim_render(fx->s, 1.0, g), CN_ERANGE);
    cn_frame_unref(g);
    cn_frame_pool_free(small);
}

static void test_determinism(void **state)
{
    fixture *fx = *state;
    size_t n = (size_t)fx->c.width_px * fx->c.height_px;
    uint8_t *a = malloc(n), *b = malloc(n);
    double t = fx->c.idle_s + fx->c.approach_s + 60; /* mid-freeze: needle + ice */
    cn_sim_render(fx->s, t, fx->f);
    memcpy(a, fx->f->pixels, n);
    cn_mat4 pa = cn_frame_get_pose(fx->f, "CryoprobeToTracker")->m;
    /* another time, then back: same bytes (no hidden state) */
    cn_sim_render(fx->s, t + 3.3, fx->f);
    assert_true(memcmp(a, fx->f->pixels, n) != 0);
    cn_sim_render(fx->s, t, fx->f);
    assert_memory_equal(a, fx->f->pixels, n);
    /* a second simulator with the same seed: same bytes and poses */
    cn_sim *s2 = cn_sim_new(&fx->c);
    cn_frame *g = cn_frame_pool_acquire(fx->pool);
    cn_sim_render(s2, t, g);
    assert_memory_equal(a, g->pixels, n);
    assert_true(cn_mat4_max_abs_diff(&pa, &cn_frame_get_pose(g, "CryoprobeToTracker")->m) == 0);
    cn_sim_free(s2);
    /* another seed: a different image (speckle, texture), same truth */
    cn_sim_config c3 = fx->c;
    c3.seed = fx->c.seed + 1;
    cn_sim *s3 = cn_sim_new(&c3);
    cn_sim_render(s3, t, g);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += a[i] != g->pixels[i];
    assert_true(differ > n / 2);
    assert_float_equal(g->truth.ice_radius_mm, fx->f->truth.ice_radius_mm, 0);
    cn_sim_free(s3);
    cn_frame_unref(g);
    /* speckle is stable frame to frame (fixed scatterers): two idle frames 0.05 s
     * apart differ only by electronic noise, mostly in the deep image */
    cn_sim_render(fx->s, 0.5, fx->f);
    memcpy(a, fx->f->pixels, n);
    cn_sim_render(fx->s, 0.55, fx->f);
    memcpy(b, fx->f->pixels, n);
    double d = 0;
    for (size_t i = 0; i < n / 2; i++) /* top half */
        d += fabs((double)a[i] - b[i]);
    d /= (double)(n / 2);
    assert_true(d < 3.0);
    free(a);
    free(b);
}

typedef struct {
    cn_truth t;
    double lo, hi; /* offsets (mm) from the needle axis, vertical */
    double u0, u1; /* range along the shaft, mm from the tip backwards */
} needle_ctx;

static bool in_needle_band(double x, double y, const void *p)
{
    const needle_ctx *c = p;
    double dx = x - c->t.needle_tip_mm.x;
    double along = -dx / c->t.needle_dir.x; /* mm along the shaft back from the tip */
    if (along < c->u0 || along > c->u1)
        return false;
    double yaxis = c->t.needle_tip_mm.y + dx * c->t.needle_dir.y / c->t.needle_dir.x;
    return y - yaxis >= c->lo && y - yaxis <= c->hi;
}

/* The needle is a bright line compared with the tissue beside it. */
static void test_needle_bright(void **state)
{
    fixture *fx = *state;
    double t = fx->c.idle_s + 0.8 * fx->c.approach_s;
    cn_sim_render(fx->s, t, fx->f);
    assert_true(fx->f->truth.needle_in);
    double hv = 0.5 * fx->c.needle_diameter_mm / fx->f->truth.needle_dir.x;
    needle_ctx line = {fx->f->truth, -hv - 0.15, -hv + 0.15, 1.0, 8.0}; /* the front wall */
    needle_ctx above = {fx->f->truth, -hv - 3.0, -hv - 1.5, 1.0, 8.0};
    int n1, n2;
    double m_line = mean_where(fx->f, in_needle_band, &line, &n1);
    double m_above = mean_where(fx->f, in_needle_band, &above, &n2);
    assert_true(n1 > 50 && n2 > 50);
    print_message("needle line %.1f, tissue beside %.1f\n", m_line, m_above);
    assert_true(m_line > m_above + 80);
    /* before the approach: no needle there */
    cn_sim_render(fx->s, 0.5, fx->f);
    double m_none = mean_where(fx->f, in_needle_band, &line, NULL);
    assert_true(m_none < m_above + 40);
}

/* A steep needle is less visible than a flat one. */
static void test_needle_visibility_angle(void **state)
{
    (void)state;
    double m[2];
    double angles[2] = {20, 60};
    for (int k = 0; k < 2; k++) {
        cn_sim_config c;
        cn_sim_config_defaults(&c);
        c.needle_angle_deg = angles[k];
        c.needle_target_offset_mm = 5;
        cn_sim *s = cn_sim_new(&c);
        assert_non_null(s);
        cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
        cn_frame *f = cn_frame_pool_acquire(pool);
        cn_sim_render(s, c.idle_s + c.approach_s + 0.01, f);
        double hv = 0.5 * c.needle_diameter_mm / f->truth.needle_dir.x;
        needle_ctx line = {f->truth, -hv - 0.15, -hv + 0.15, 1.0, 6.0};
        m[k] = mean_where(f, in_needle_band, &line, NULL);
        cn_frame_unref(f);
        cn_frame_pool_free(pool);
        cn_sim_free(s);
    }
    print_message("needle grey at 20 deg %.1f, at 60 deg %.1f\n", m[0], m[1]);
    assert_true(m[0] > m[1] + 20);
}

typedef struct {
    const cn_truth *t;
    double lo, hi;     /* band relative to the rim (mm, + = deeper) */
    double xl, xr;     /* lateral range */
} rim_ctx;

static bool in_rim_band(double x, double y, const void *p)
{
    const rim_ctx *c = p;
    if (x < c->xl || x > c->xr)
        return false;
    double yr;
    if (!sim_ice_upper_y(c->t, x, &yr))
        return false;
    return y - yr >= c->lo && y - yr <= c->hi;
}

/* The rim band is bright and everything behind it is dark (complete shadow). */
static void test_ice_rim_and_shadow(void **state)
{
    fixture *fx = *state;
    double tf = fx->c.idle_s + fx->c.approach_s;
    double times[2] = {tf + 100, tf + 150 + fx->c.release_thaw_s + 2.5}; /* freeze, withdrawal */
    for (int k = 0; k < 2; k++) {
        cn_sim_render(fx->s, times[k], fx->f);
        const cn_truth *t = &fx->f->truth;
        assert_true(t->ice_present);
        double xl = t->rim_mm[0].x, xr = t->rim_mm[t->rim_n - 1].x;
        double w = xr - xl;
        /* the central part of the ball's lateral extent (the rim faces the beam there) */
        rim_ctx rim = {t, -0.15, 0.25, xl + 0.25 * w, xr - 0.25 * w};
        rim_ctx shadow = {t, 1.0, 40.0, xl + 0.1 * w, xr - 0.1 * w};
        rim_ctx above = {t, -3.0, -1.0, xl + 0.25 * w, xr - 0.25 * w};
        int nr, ns, na;
        double m_rim = mean_where(fx->f, in_rim_band, &rim, &nr);
        double m_sh = mean_where(fx->f, in_rim_band, &shadow, &ns);
        double m_ab = mean_where(fx->f, in_rim_band, &above, &na);
        print_message("t=%.1f rim %.1f (n=%d), shadow %.1f (n=%d), tissue above %.1f\n", times[k],
                      m_rim, nr, m_sh, ns, m_ab);
        assert_true(nr > 30 && ns > 1000 && na > 100);
        assert_true(m_rim > 170);
        assert_true(m_sh < 12);
        assert_true(m_rim > m_ab + 80);
        assert_true(m_ab > m_sh + 20);
        /* beside the ball (same depths) there is tissue, not shadow */
        double ys = t->ice_center_mm.y + 4;
        double xs = xr + 3.0;
        if (xs < fx->f->width * fx->f->spacing_mm[0] - 1) {
            double sum = 0;
            for (int dy = 0; dy < 20; dy++)
                sum += px_at(fx->f, xs, ys + dy * 0.2);
            assert_true(sum / 20 > m_sh + 15);
        }
    }
}

/* During a thaw the ball shrinks but is still ice: bright rim, dark shadow. */
static void test_thaw_image(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 320, c.height_px = 240;
    cn_sim_config_set_protocol(&c, "spermatic-2x90s");
    cn_sim *s = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    double t0 = c.idle_s + c.approach_s;
    cn_truth end_freeze;
    cn_sim_truth_at(s, t0 + 89.9, &end_freeze);
    cn_sim_render(s, t0 + 90 + 30, f);
    const cn_truth *t = &f->truth;
    assert_int_equal(t->phase, CN_PHASE_THAW);
    assert_true(t->ice_present);
    assert_true(t->ice_radius_mm < end_freeze.ice_radius_mm - 1.0);
    double xl = t->rim_mm[0].x, xr = t->rim_mm[t->rim_n - 1].x, w = xr - xl;
    rim_ctx rim = {t, -0.15, 0.25, xl + 0.25 * w, xr - 0.25 * w};
    rim_ctx shadow = {t, 1.0, 40.0, xl + 0.1 * w, xr - 0.1 * w};
    double m_rim = mean_where(f, in_rim_band, &rim, NULL);
    double m_sh = mean_where(f, in_rim_band, &shadow, NULL);
    print_message("thaw: rim %.1f, shadow %.1f\n", m_rim, m_sh);
    assert_true(m_rim > 150);
    assert_true(m_sh < 12);
    /* and it keeps shrinking at the thaw rate to the end of the (60 s) thaw */
    cn_truth end_thaw;
    cn_sim_truth_at(s, t0 + 90 + c.cycles[0].thaw_s - 1, &end_thaw);
    assert_true(fabs(end_thaw.ice_radius_mm -
                     (t->ice_radius_mm - c.ice_thaw_mm_per_s * (c.cycles[0].thaw_s - 31))) < 1e-3);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

typedef struct {
    const sim_geom *g;
    int mode; /* 0 epineurium ring, 1 fascicle cores */
} nerve_ctx;

static bool in_nerve_part(double x, double y, const void *p)
{
    const nerve_ctx *c = p;
    const sim_geom *g = c->g;
    double nx = (x - g->nerve_c.x) / g->nerve_rx, ny = (y - g->nerve_c.y) / g->nerve_ry;
    double q = sqrt(nx * nx + ny * ny);
    if (c->mode == 0) /* outer epineurium, just inside the border */
        return q > 0.86 && q < 0.97;
    for (int k = 0; k < g->n_fasc; k++) {
        const sim_fascicle *f = &g->fasc[k];
        double dx = x - f->x, dy = y - f->y;
        double r = 0.55 * fmin(f->rx, f->ry);
        if (dx * dx + dy * dy < r * r)
            return true;
    }
    return false;
}

static void test_nerve_honeycomb(void **state)
{
    fixture *fx = *state;
    cn_sim_render(fx->s, 0.5, fx->f);
    const sim_geom *g = &fx->s->g;
    assert_int_equal(g->n_fasc, fx->c.nerve_fascicles);
    nerve_ctx ring = {g, 0}, core = {g, 1};
    int n1, n2;
    double m_ring = mean_where(fx->f, in_nerve_part, &ring, &n1);
    double m_fasc = mean_where(fx->f, in_nerve_part, &core, &n2);
    print_message("epineurium %.1f (n=%d), fascicles %.1f (n=%d)\n", m_ring, n1, m_fasc, n2);
    assert_true(n1 > 100 && n2 > 100);
    assert_true(m_ring > m_fasc + 40);
    /* the truth ellipse matches: the nerve mask covers the nerve's pixels */
    size_t n = (size_t)fx->f->width * fx->f->height;
    uint8_t *mask = malloc(n);
    cn_sim_nerve_mask(&fx->f->truth, fx->f->spacing_mm, mask, fx->f->width, fx->f->height);
    size_t area = 0;
    for (size_t i = 0; i < n; i++)
        area += mask[i];
    double sp = fx->f->spacing_mm[0];
    double want = M_PI * fx->f->truth.nerve_rx_mm * fx->f->truth.nerve_ry_mm / (sp * sp);
    assert_true(fabs((double)area - want) < 0.03 * want);
    int ci = (int)(fx->f->truth.nerve_center_mm.x / sp), cj = (int)(fx->f->truth.nerve_center_mm.y / sp);
    assert_int_equal(mask[(size_t)cj * fx->f->width + ci], 1);
    assert_int_equal(mask[0], 0);
    free(mask);
}

typedef struct {
    sim_v2 c;
    double r0, r1;
} disc_ctx;

static bool in_annulus(double x, double y, const void *p)
{
    const disc_ctx *c = p;
    double d = hypot(x - c->c.x, y - c->c.y);
    return d >= c->r0 && d <= c->r1;
}

static void test_artery(void **state)
{
    fixture *fx = *state;
    const sim_geom *g = &fx->s->g;
    double tmin = 0, rmin = 1e9, tmax = 0, rmax = 0;
    for (double t = 0; t < 1.0; t += 0.01) { /* one heartbeat: it pulsates */
        double r = sim_artery_radius(g, t);
        if (r < rmin)
            rmin = r, tmin = t;
        if (r > rmax)
            rmax = r, tmax = t;
    }
    assert_true(rmax > rmin * 1.02 && rmax < rmin * 1.1);
    (void)tmin;
    (void)tmax;
    cn_sim_render(fx->s, 0.5, fx->f);
    disc_ctx lumen = {g->art_c, 0, 0.6 * g->art_r};
    disc_ctx wall = {g->art_c, g->art_r * 1.02, g->art_r * 1.02 + 0.5};
    disc_ctx beside = {{g->art_c.x, g->art_c.y}, g->art_r + 2.0, g->art_r + 3.5};
    double m_l = mean_where(fx->f, in_annulus, &lumen, NULL);
    double m_w = mean_where(fx->f, in_annulus, &wall, NULL);
    double m_b = mean_where(fx->f, in_annulus, &beside, NULL);
    print_message("lumen %.1f wall %.1f tissue %.1f\n", m_l, m_w, m_b);
    assert_true(m_l < 15);
    assert_true(m_w > m_b + 20);
    assert_true(m_b > m_l + 20);
    /* posterior enhancement: the column below the artery is brighter than beside it */
    double below = 0, side = 0;
    int n = 0;
    for (double y = g->art_c.y + g->art_r + 3; y < g->art_c.y + g->art_r + 12 && y < fx->c.depth_mm; y += 0.1)
        for (double dx = -0.5 * g->art_r; dx <= 0.5 * g->art_r; dx += 0.1) {
            below += px_at(fx->f, g->art_c.x + dx, y);
            side += px_at(fx->f, g->art_c.x + dx - 2.2 * g->art_r, y);
            n++;
        }
    print_message("below the artery %.1f, beside %.1f\n", below / n, side / n);
    assert_true(below > side * 1.05);
}

/* ------------------------------------------------------------------ tracker */

/* The tracked tip in image mm by core's one rule (pixel centres at (i + 0.5) sp):
 * it must land on the truth the image was rendered with. */
static cn_vec3 tip_in_image_mm(const cn_frame *f)
{
    cn_mat4 c2mm;
    assert_int_equal(cn_frame_tool_to_image_mm(f, "Cryoprobe", &c2mm), CN_OK);
    return cn_mat4_apply_point(&c2mm, (cn_vec3){0, 0, 0});
}

static void test_tracker_latency_and_noise(void **state)
{
    (void)state;
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.width_px = 160, c.height_px = 120;
    c.tracker_noise_mm = 0;
    c.tracker_noise_deg = 0;
    c.tracker_latency_ms = 200;
    c.time_scale = 2; /* 200 ms real = 0.4 s of scene */
    cn_sim *s = cn_sim_new(&c);
    cn_frame_pool *pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    cn_frame *f = cn_frame_pool_acquire(pool);
    double t = c.idle_s + 0.5 * c.approach_s; /* the needle moves fastest */
    cn_sim_render(s, t, f);
    cn_truth then, now;
    cn_sim_truth_at(s, t - 0.4, &then);
    cn_sim_truth_at(s, t, &now);
    cn_vec3 p = tip_in_image_mm(f);
    assert_float_equal(p.x, then.needle_tip_mm.x, 1e-4);
    assert_float_equal(p.y, then.needle_tip_mm.y, 1e-4);
    assert_float_equal(p.z, 0, 1e-6);
    assert_true(hypot(p.x - now.needle_tip_mm.x, p.y - now.needle_tip_mm.y) > 0.3);
    /* the insertion direction is the Cryoprobe's +Z */
    const cn_mat4 *i2p = &cn_frame_get_pose(f, "ImageToProbe")->m;
    const cn_mat4 *p2t = &cn_frame_get_pose(f, "ProbeToTracker")->m;
    const cn_mat4 *c2t = &cn_frame_get_pose(f, "CryoprobeToTracker")->m;
    cn_mat4 t2p;
    cn_mat4_invert(p2t, &t2p);
    cn_mat4 c2p = cn_mat4_mul(&t2p, c2t);
    cn_vec3 z = cn_mat4_apply_dir(&c2p, (cn_vec3){0, 0, 1});
    assert_float_equal(z.x, then.needle_dir.x, 1e-5);
    assert_float_equal(z.y, then.needle_dir.y, 1e-5);
    (void)i2p;
    /* breathing moves the probe in the room, a fraction of a millimetre */
    cn_vec3 o1 = cn_mat4_apply_point(p2t, (cn_vec3){0, 0, 0});
    cn_sim_render(s, t + 2.0, f);
    cn_vec3 o2 = cn_mat4_apply_point(&cn_frame_get_pose(f, "ProbeToTracker")->m, (cn_vec3){0, 0, 0});
    double mv = cn_vec3_norm(cn_vec3_sub(o1, o2));
    assert_true(mv > 0.01 && mv < 1.0);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(s);

    /* noise: the tip composed back into the image scatters around the truth with
     * about the configured spread (probe and cryoprobe both carry noise) */
    c.tracker_noise_mm = 0.5;
    c.tracker_noise_deg = 0;
    c.tracker_latency_ms = 0;
    s = cn_sim_new(&c);
    pool = cn_frame_pool_new(1, c.width_px, c.height_px);
    f = cn_frame_pool_acquire(pool);
    double se = 0, mean_x = 0;
    int n = 200;
    for (int i = 0; i < n; i++) {
        double ti = c.idle_s + c.approach_s + 1 + i * 0.05;
        cn_sim_render(s, ti, f);
        cn_vec3 q = tip_in_image_mm(f);
        double ex = q.x - f->truth.needle_tip_mm.x, ey = q.y - f->truth.needle_tip_mm.y;
        se += ex * ex + ey * ey;
        mean_x += ex;
    }
    double rms_axis = sqrt(se / (2 * n));
    print_message("tip error per axis %.3f mm (expected ~%.3f)\n", rms_axis, 0.5 * sqrt(2.0));
    assert_true(rms_axis > 0.5 && rms_axis < 0.9);
    assert_true(fabs(mean_x / n) < 0.2);
    /* the same frame time gives the same noise */
    cn_sim_render(s, 40.0, f);
    cn_mat4 a = cn_frame_get_pose(f, "CryoprobeToTracker")->m;
    cn_sim_render(s, 40.05, f);
    cn_mat4 b = cn_frame_get_pose(f, "CryoprobeToTracker")->m;
    cn_sim_render(s, 40.0, f);
    assert_true(cn_mat4_max_abs_diff(&a, &cn_frame_get_pose(f, "CryoprobeToTracker")->m) == 0);
    assert_true(cn_mat4_max_abs_diff(&a, &b) > 1e-3);
    cn_frame_unref(f);
    cn_frame_pool_free(pool);
    cn_sim_free(s);
}

/* ------------------------------------------------------------------ JSON */

static int parse_sim(const char *text, cn_sim_config *c, char *err, size_t len)
{
    char perr[256];
    cn_json *doc = cn_json_parse(text, "session.json", perr, sizeof perr);
    assert_non_null(doc);
    cn_sim_config_defaults(c);
    int rc = cn_sim_config_from_json(doc, "sim", c, err, len);
    cn_json_free(doc);
    if (rc != CN_OK)
        print_message("  -> %s\n", err);
    return rc;
}

static void test_json_ok(void **state)
{
    (void)state;
    cn_sim_config c;
    char err[512] = "";
    const char *text = "{\n"
                       "  \"sim\": {\n"
                       "    \"seed\": 42,\n"
                       "    \"width_px\": 560,\n"
                       "    \"nerve_depth_mm\": 22.5,\n"
                       "    \"protocol\": \"custom\",\n"
                       "    \"cycles\": [[60, 30], [45, 0]],\n"
                       "    \"tracker_latency_ms\": 50,\n"
                       "    \"release_thaw_s\": 45\n"
                       "  }\n"
                       "}\n";
    assert_int_equal(parse_sim(text, &c, err, sizeof err), CN_OK);
    assert_int_equal(c.seed, 42);
    assert_int_equal(c.width_px, 560);
    assert_float_equal(c.nerve_depth_mm, 22.5, 0);
    assert_string_equal(c.protocol, "custom");
    assert_int_equal(c.n_cycles, 2);
    assert_float_equal(c.cycles[0].freeze_s, 60, 0);
    assert_float_equal(c.cycles[0].thaw_s, 30, 0);
    assert_float_equal(c.cycles[1].freeze_s, 45, 0);
    assert_float_equal(c.tracker_latency_ms, 50, 0);
    assert_float_equal(c.fps, 20, 0); /* default kept */
    assert_float_equal(c.release_thaw_s, 45, 0);
    assert_int_equal(parse_sim("{\"sim\": {\"release_thaw_s\": 601}}", &c, err, sizeof err), CN_EINVAL);
    assert_non_null(strstr(err, "release_thaw_s"));
    /* cycles alone also mean custom; a preset by name */
    assert_int_equal(parse_sim("{\"sim\": {\"cycles\": [[10, 5]]}}", &c, err, sizeof err), CN_OK);
    assert_string_equal(c.protocol, "custom");
    assert_int_equal(c.n_cycles, 1);
    assert_int_equal(parse_sim("{\"sim\": {\"protocol\": \"stump-6-4-6\"}}", &c, err, sizeof err), CN_OK);
    assert_int_equal(c.n_cycles, 2);
    assert_float_equal(c.cycles[1].freeze_s, 360, 0);
    /* no "sim" section: defaults */
    assert_int_equal(parse_sim("{\"source\": \"sim\"}", &c, err, sizeof err), CN_OK);
    assert_string_equal(c.protocol, "morton-150s");
}

static void expect_error(const char *text, const char *const *needles)
{
    cn_sim_config c;
    char err[512] = "";
    assert_int_not_equal(parse_sim(text, &c, err, sizeof err), CN_OK);
    for (const char *const *n = needles; *n; n++) {
        if (!strstr(err, *n))
            fail_msg("error \"%s\" lacks \"%s\"", err, *n);
    }
}

static void test_json_errors(void **state)
{
    (void)state;
    /* unknown key (a typo), with file, line and key */
    expect_error("{\n  \"sim\": {\n    \"seed\": 3,\n    \"nerve_depht_mm\": 12\n  }\n}\n",
                 (const char *const[]){"session.json:4:", "sim.nerve_depht_mm", "unknown key", NULL});
    /* wrong type */
    expect_error("{\n  \"sim\": {\n    \"fps\": \"fast\"\n  }\n}\n",
                 (const char *const[]){"session.json:3:", "sim.fps", "expected a number", NULL});
    expect_error("{\n  \"sim\": {\n    \"width_px\": 320.5\n  }\n}\n",
                 (const char *const[]){"session.json:3:", "sim.width_px", NULL});
    /* out of range */
    expect_error("{\n  \"sim\": {\n\n    \"depth_mm\": 2\n  }\n}\n",
                 (const char *const[]){"session.json:4:", "sim.depth_mm", "range", NULL});
    expect_error("{\n  \"sim\": {\n    \"time_scale\": -1\n  }\n}\n",
                 (const char *const[]){"session.json:3:", "sim.time_scale", NULL});
    /* unknown preset */
    expect_error("{\n  \"sim\": {\n    \"protocol\": \"mortn\"\n  }\n}\n",
                 (const char *const[]){"session.json:3:", "sim.protocol", "morton-150s", NULL});
    /* bad cycles */
    expect_error("{\n  \"sim\": {\n    \"cycles\": [[60, 30], [-5, 0]]\n  }\n}\n",
                 (const char *const[]){"session.json:3:", "sim.cycles[1]", NULL});
    expect_error("{\n  \"sim\": {\n    \"cycles\": [[60]]\n  }\n}\n",
                 (const char *const[]){"sim.cycles[0]", NULL});
    expect_error("{\n  \"sim\": {\n    \"cycles\": []\n  }\n}\n",
                 (const char *const[]){"sim.cycles", NULL});
    expect_error("{\"sim\": {\"protocol\": \"morton\", \"cycles\": [[1, 1]]}}",
                 (const char *const[]){"sim.cycles", "not both", NULL});
    /* consistency: the nerve deeper than the image */
    expect_error("{\n  \"sim\": {\n    \"depth_mm\": 20,\n    \"nerve_depth_mm\": 19\n  }\n}\n",
                 (const char *const[]){"session.json:4:", "sim.nerve_depth_mm", NULL});
    /* the sim object itself of the wrong type */
    expect_error("{\n  \"sim\": 5\n}\n", (const char *const[]){"session.json:2:", "sim", NULL});
    /* validate() on a struct names the field */
    cn_sim_config c;
    cn_sim_config_defaults(&c);
    c.fps = 0;
    char err[256];
    assert_int_not_equal(cn_sim_config_validate(&c, err, sizeof err), CN_OK);
    assert_non_null(strstr(err, "fps"));
    assert_null(cn_sim_new(&c));
}

/* The session file in the repository holds a valid "sim" object. */
static void test_session_json(void **state)
{
    (void)state;
    char err[512];
    cn_json *doc = cn_json_load(CN_SOURCE_DIR "/config/session.json", err, sizeof err);
    if (!doc)
        fail_msg("%s", err);
    cn_sim_config c, d;
    cn_sim_config_defaults(&d);
    cn_sim_config_defaults(&c);
    int rc = cn_sim_config_from_json(doc, "sim", &c, err, sizeof err);
    if (rc != CN_OK)
        fail_msg("%s", err);
    cn_json_free(doc);
    assert_int_equal(cn_sim_config_validate(&c, err, sizeof err), CN_OK);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_phases_follow_preset),
        cmocka_unit_test(test_ice_growth_law),
        cmocka_unit_test(test_truth_geometry),
        cmocka_unit_test(test_rim_points_transducer_side),
        cmocka_unit_test(test_tracker_latency_and_noise),
        cmocka_unit_test(test_needle_visibility_angle),
        cmocka_unit_test(test_thaw_image),
        cmocka_unit_test(test_json_ok),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_session_json),
    };
    const struct CMUnitTest images[] = {
        cmocka_unit_test(test_frame_metadata),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_needle_bright),
        cmocka_unit_test(test_ice_rim_and_shadow),
        cmocka_unit_test(test_nerve_honeycomb),
        cmocka_unit_test(test_artery),
    };
    int rc = cmocka_run_group_tests_name("sim", plain, NULL, NULL);
    rc += cmocka_run_group_tests_name("sim_images", images, setup, teardown);
    return rc;
}
