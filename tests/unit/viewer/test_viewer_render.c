/*
 * test_viewer_render.c - renders the viewer for real (VTK, Mesa, Xvfb) and checks
 * the pixels.
 *
 * The idea: a synthetic frame with features at known places (a bright band near
 * the top, a dark disc, a needle in the plane) is shown offscreen and the
 * window is read back. The 2-D view must show the band where the image puts it
 * (transducer at the top: an upside-down image fails), the disc dark, the needle
 * overlay green on the needle line; the 3-D view must show the textured plane
 * where its pose puts it and the needle model beyond the image only when the
 * cryoprobe is tracked, and its lit outside under a mirrored (determinant < 0)
 * pose as under the proper one; the display-mapping shader must really change the
 * picture. Error paths (no shader, broken shader, no DISPLAY) must give
 * messages, and an on-screen window must close on 'q', on Escape and on the
 * window manager's close message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "viewer/viewer.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/keysym.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define W 640
#define H 480
#define SP 0.08

typedef struct {
    cn_frame_pool *pool;
    cn_frame *f;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    fx->pool = cn_frame_pool_new(2, W, H);
    fx->f = cn_frame_pool_acquire(fx->pool);
    assert_int_equal(cn_frame_set_size(fx->f, W, H), CN_OK);
    assert_int_equal(cn_viewer_demo_frame(fx->f, 7, 0.0), CN_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    cn_frame_unref(fx->f);
    assert_int_equal(cn_frame_pool_free(fx->pool), CN_OK);
    free(fx);
    return 0;
}

static cn_viewer *new_offscreen(bool show_truth)
{
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.offscreen = true;
    o.shader_dir = CN_SOURCE_DIR "/shaders";
    o.show_truth = show_truth;
    char err[512] = "";
    cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
    if (!v)
        fail_msg("cn_viewer_new: %s", err);
    return v;
}

typedef struct {
    uint8_t *rgb;
    int w, h;
} shot;

static shot grab_sized(cn_viewer *v, int w, int h)
{
    shot s = {0};
    assert_int_equal(cn_viewer_grab_rgb(v, &s.rgb, &s.w, &s.h), CN_OK);
    assert_int_equal(s.w, w);
    assert_int_equal(s.h, h);
    return s;
}

static shot grab(cn_viewer *v) { return grab_sized(v, 1280, 640); }

static const uint8_t *px(const shot *s, int x, int y)
{
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x >= s->w) x = s->w - 1;
    if (y >= s->h) y = s->h - 1;
    return s->rgb + ((size_t)y * (size_t)s->w + (size_t)x) * 3;
}

static double lum(const uint8_t *p) { return (p[0] + p[1] + p[2]) / 3.0; }

/* Mean luminance of a box centred at (x, y). */
static double box_mean(const shot *s, int x, int y, int r)
{
    double sum = 0.0;
    int n = 0;
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++, n++)
            sum += lum(px(s, i, j));
    return sum / n;
}

/* Whether a pixel close to rgb (max channel difference tol) lies within r of (x, y). */
static bool colour_near(const shot *s, int x, int y, int r, const uint8_t rgb[3], int tol)
{
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++) {
            const uint8_t *p = px(s, i, j);
            if (abs(p[0] - rgb[0]) <= tol && abs(p[1] - rgb[1]) <= tol && abs(p[2] - rgb[2]) <= tol)
                return true;
        }
    return false;
}

static void to_win(cn_viewer *v, int view, double x_mm, double y_mm, int *x, int *y)
{
    double wx, wy;
    assert_int_equal(cn_viewer_image_mm_to_window(v, view, x_mm, y_mm, &wx, &wy), CN_OK);
    *x = (int)lround(wx);
    *y = (int)lround(wy);
}

static const cn_viewer_hud demo_hud = {29.7, 18.2, 31.5, 3, "test", "ALARM: demo status"};

/* ---------------------------------------------------------------- tests */

static void test_two_views_show_the_image(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(true);
    assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
    assert_true(cn_viewer_last_render_ms(v) > 0.0);
    shot s = grab(v);

    /* the snapshot is a real PNG of the whole window */
    char path[1024];
    snprintf(path, sizeof path, "%s/viewer_test_snapshot.png", CN_BINARY_DIR);
    char err[512];
    assert_int_equal(cn_viewer_snapshot(v, path, err, sizeof err), CN_OK);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("snapshot is not a readable PNG");
    png_init_io(png, fp);
    png_read_info(png, info);
    assert_int_equal(png_get_image_width(png, info), 1280);
    assert_int_equal(png_get_image_height(png, info), 640);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    assert_int_equal(cn_viewer_snapshot(v, "/nonexistent-dir/x.png", err, sizeof err), CN_EIO);
    assert_non_null(strstr(err, "/nonexistent-dir/x.png"));


    /* 2-D view, the bright band: the brightest row band in the left part of the
     * image is where the image's band rows map, not mirrored. */
    int band0 = (int)(0.22 * H), band1 = band0 + H / 40;
    double band_mm = 0.5 * (band0 + band1 - 1) * SP;
    int bx, by, top_x, top_y, bot_x, bot_y;
    to_win(v, 1, 0.25 * W * SP, band_mm, &bx, &by);
    to_win(v, 1, 0.25 * W * SP, -0.5 * SP, &top_x, &top_y);
    to_win(v, 1, 0.25 * W * SP, (H - 0.5) * SP, &bot_x, &bot_y);
    assert_true(bx > 640 && bx < 1280);
    assert_true(top_y < bot_y); /* transducer (row 0) at the top of the view */
    int best_y = -1;
    double best = -1.0;
    for (int y = top_y + 2; y < bot_y - 2; y++) {
        double m = 0.0;
        for (int x = 640 + 20; x < 640 + 170; x++)
            m += lum(px(&s, x, y));
        m /= 150.0;
        if (m > best) {
            best = m;
            best_y = y;
        }
    }
    assert_true(best > 170.0);
    assert_true(abs(best_y - by) <= 4);
    /* the speckle below the band is mid-grey, the disc is dark */
    double speckle = box_mean(&s, bx, by + 60, 10);
    assert_true(speckle > 25.0 && speckle < 160.0);
    int dx, dy;
    to_win(v, 1, 0.62 * W * SP, 0.6 * H * SP, &dx, &dy);
    assert_true(box_mean(&s, dx, dy, 6) < 20.0);

    /* 2-D view, the needle overlay: green on the line 4 mm behind the tip. */
    const cn_needle_result *nd = &fx->f->analysis.needle;
    int nx, ny;
    to_win(v, 1, nd->tip_mm.x - 4.0 * nd->dir.x, nd->tip_mm.y - 4.0 * nd->dir.y, &nx, &ny);
    const uint8_t green[3] = {60, 235, 90};
    assert_true(colour_near(&s, nx, ny, 2, green, 40));
    /* ... and not somewhere else (above the band) */
    assert_false(colour_near(&s, bx, top_y + 8, 3, green, 40));
    /* nerve outline: yellow on the right-most point of the contour */
    const cn_pt2 *np = &fx->f->analysis.nerve.pts_mm[0];
    to_win(v, 1, np->x, np->y, &nx, &ny);
    const uint8_t yellow[3] = {255, 214, 40};
    assert_true(colour_near(&s, nx, ny, 2, yellow, 45));

    /* 3-D view: the plane shows the speckle and the band where its pose puts it. */
    int cx, cy;
    to_win(v, 0, 0.5 * W * SP, 0.5 * H * SP, &cx, &cy);
    assert_true(cx > 60 && cx < 580 && cy > 60 && cy < 580);
    double c3 = box_mean(&s, cx, cy + 30, 12);
    assert_true(c3 > 20.0 && c3 < 170.0);
    int hits = 0;
    for (int k = 1; k <= 4; k++) {
        int x3, y3;
        to_win(v, 0, (0.15 + 0.175 * k) * W * SP, band_mm, &x3, &y3);
        assert_true(x3 >= 0 && x3 < 640);
        if (box_mean(&s, x3, y3, 1) > 150.0)
            hits++;
    }
    assert_true(hits >= 3);
    /* the plane's corners span a good part of the 3-D view (well framed) */
    int x0, y0, x1, y1;
    to_win(v, 0, -0.5 * SP, -0.5 * SP, &x0, &y0);
    to_win(v, 0, (W - 0.5) * SP, (H - 0.5) * SP, &x1, &y1);
    double diag = hypot(x1 - x0, y1 - y0);
    assert_true(diag > 250.0 && diag < 1000.0);

    /* 3-D view: the needle model 20 mm up the shaft (outside the image) is lit
     * metal, not background. */
    int sx, sy;
    to_win(v, 0, nd->tip_mm.x - 20.0 * nd->dir.x, nd->tip_mm.y - 20.0 * nd->dir.y, &sx, &sy);
    assert_true(sx >= 0 && sx < 640 && sy >= 0 && sy < 640);
    assert_true(box_mean(&s, sx, sy, 1) > 90.0);

    /* HUD: light text at the top left of the 3-D view. */
    int bright = 0;
    for (int y = 5; y < 110; y++)
        for (int x = 5; x < 480; x++)
            bright += lum(px(&s, x, y)) > 180.0;
    assert_true(bright > 300);

    free(s.rgb);
    cn_viewer_free(v);
}

static void test_needle_hidden_without_cryoprobe_pose(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    cn_mat4 m = cn_frame_get_pose(fx->f, "CryoprobeToTracker")->m;
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &m, false), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
    shot s = grab(v);
    const cn_needle_result *nd = &fx->f->analysis.needle;
    int sx, sy;
    to_win(v, 0, nd->tip_mm.x - 20.0 * nd->dir.x, nd->tip_mm.y - 20.0 * nd->dir.y, &sx, &sy);
    assert_true(box_mean(&s, sx, sy, 1) < 60.0); /* background */
    free(s.rgb);

    /* no tracking at all: the image is still shown in both views */
    fx->f->n_poses = 0;
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/viewer_test_no_tracking.png", CN_BINARY_DIR);
    assert_int_equal(cn_viewer_snapshot(v, path, err, sizeof err), CN_OK);
    s = grab(v);
    int cx, cy;
    to_win(v, 0, 0.5 * W * SP, 0.7 * H * SP, &cx, &cy);
    double c3 = box_mean(&s, cx, cy, 10);
    assert_true(c3 > 20.0 && c3 < 170.0);
    free(s.rgb);
    cn_viewer_free(v);
}

/* The operator's point while its nerve is not found (the probe lifted): a dimmed
 * yellow cross where the stage keeps looking, on the dark disc, and none once the
 * point is cleared. */
static void test_nerve_point_while_lost(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    cn_analysis *a = &fx->f->analysis;
    a->nerve.found = false;
    a->nerve_target_set = true;
    a->nerve_target_mm = (cn_pt2){(float)(0.62 * W * SP), (float)(0.6 * H * SP)};
    assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/viewer_test_nerve_point.png", CN_BINARY_DIR);
    assert_int_equal(cn_viewer_snapshot(v, path, err, sizeof err), CN_OK);
    shot s = grab(v);
    int tx, ty, ax, ay;
    to_win(v, 1, a->nerve_target_mm.x + 0.9, a->nerve_target_mm.y, &tx, &ty); /* on its arm */
    const uint8_t held[3] = {170, 140, 30};
    assert_true(colour_near(&s, tx, ty, 2, held, 45));
    to_win(v, 1, a->nerve_target_mm.x + 0.9, a->nerve_target_mm.y + 0.9, &ax, &ay); /* between arms */
    assert_false(colour_near(&s, ax, ay, 0, held, 45));
    free(s.rgb);
    a->nerve_target_set = false;
    assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
    s = grab(v);
    assert_false(colour_near(&s, tx, ty, 2, held, 45));
    free(s.rgb);
    cn_viewer_free(v);
}

/* Mean absolute RGB difference of two shots over a (2r+1)^2 box at (x, y). */
static double box_diff(const shot *a, const shot *b, int x, int y, int r)
{
    double sum = 0.0;
    int n = 0;
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++, n++) {
            const uint8_t *p = px(a, i, j), *q = px(b, i, j);
            sum += (abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2])) / 3.0;
        }
    return sum / n;
}

/* A tracker (or a calibration) may send a Cryoprobe pose whose rotation part is a
 * reflection (determinant < 0). The probe model is a body of revolution about its
 * z axis, so mirroring x in its own frame leaves the solid where it was: the 3-D
 * view must look the same. The model's back faces are culled; a mirror reverses
 * the triangles' winding on screen, and if nothing compensates, the culling
 * removes the outside and draws the inside of the far half instead. The demo
 * needle lies in the image plane, so that far half is behind the opaque plane:
 * the probe would vanish inside the image. Compared: the probe drawn with the
 * proper pose, with the mirrored one, and not drawn at all (the plane alone). */
static void test_mirrored_probe_pose_draws_the_outside(void **state)
{
    fixture *fx = *state;
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.offscreen = true;
    o.shader_dir = CN_SOURCE_DIR "/shaders";
    o.hide_analysis = true; /* the model against the plane, no overlay on top */
    char err[512] = "";
    cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
    if (!v)
        fail_msg("cn_viewer_new: %s", err);
    const cn_mat4 proper = cn_frame_get_pose(fx->f, "CryoprobeToTracker")->m;
    const cn_mat4 flip_x = cn_mat4_scale(-1.0, 1.0, 1.0);
    const cn_mat4 mirrored = cn_mat4_mul(&proper, &flip_x);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    shot a = grab(v);
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &mirrored, true), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    shot b = grab(v);
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &proper, false), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    shot none = grab(v);
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &proper, true), CN_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/viewer_test_mirrored_probe.png", CN_BINARY_DIR);
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &mirrored, true), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    assert_int_equal(cn_viewer_snapshot(v, path, err, sizeof err), CN_OK);
    assert_int_equal(cn_frame_set_pose(fx->f, "CryoprobeToTracker", &proper, true), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK); /* and back: as the first */
    shot back = grab(v);

    /* along the shaft, inside the image (in the plane) and beyond it */
    const cn_needle_result *nd = &fx->f->analysis.needle;
    int seen_in_image = 0;
    for (double back_mm = 3.0; back_mm <= 24.0; back_mm += 3.0) {
        double xm = nd->tip_mm.x - back_mm * nd->dir.x, ym = nd->tip_mm.y - back_mm * nd->dir.y;
        int x, y;
        to_win(v, 0, xm, ym, &x, &y);
        assert_true(x >= 0 && x < 640 && y >= 0 && y < 640);
        double model = box_diff(&a, &none, x, y, 1);    /* what the model adds */
        double mirror = box_diff(&a, &b, x, y, 1);      /* what the mirror changes */
        bool in_image = xm > 0.0 && xm < W * SP && ym > 0.0 && ym < H * SP;
        print_message("%4.0f mm up the shaft (%s): model adds %5.1f, mirror changes %5.1f "
                      "(lum %5.1f proper, %5.1f mirrored, %5.1f without)\n", back_mm,
                      in_image ? "in the image" : "beyond it", model, mirror,
                      box_mean(&a, x, y, 1), box_mean(&b, x, y, 1), box_mean(&none, x, y, 1));
        assert_true(model > 20.0);           /* the probe is there to be seen */
        assert_true(mirror < 0.25 * model);  /* and the mirrored one looks the same */
        assert_true(box_diff(&a, &back, x, y, 1) < 0.25 * model);
        seen_in_image += in_image;
    }
    assert_true(seen_in_image >= 2);
    free(a.rgb);
    free(b.rgb);
    free(none.rgb);
    free(back.rgb);
    cn_viewer_free(v);
}

/* Strongly red pixels (alarm text) in the top tenth of the in-plane view. */
static int red_pixels_top_right(const shot *s)
{
    int n = 0;
    for (int y = 0; y < s->h / 10; y++)
        for (int x = s->w / 2; x < s->w; x++) {
            const uint8_t *p = s->rgb + 3 * ((size_t)y * (size_t)s->w + (size_t)x);
            n += p[0] > 200 && p[1] < 100 && p[2] < 100;
        }
    return n;
}

/* An alarm has a line of its own, red, over the in-plane view; none, nothing red. */
static void test_alarm_line(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    cn_viewer_hud hud = demo_hud;
    hud.alarm_line = "ALARM: ICE 3.1 mm FROM SKIN";
    assert_int_equal(cn_viewer_show(v, fx->f, &hud), CN_OK);
    shot s = grab(v);
    int with = red_pixels_top_right(&s);
    free(s.rgb);
    hud.alarm_line = NULL;
    assert_int_equal(cn_viewer_show(v, fx->f, &hud), CN_OK);
    s = grab(v);
    int without = red_pixels_top_right(&s);
    free(s.rgb);
    print_message("red alarm pixels: %d with, %d without\n", with, without);
    assert_true(with > 200);
    assert_true(without < 10);
    cn_viewer_free(v);
}

/* Pixels of the 3-D view (the left half) in rows [y0, y1) that differ between two shots. */
static int diff_left(const shot *a, const shot *b, int y0, int y1)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->w / 2; x++) {
            const uint8_t *p = px(a, x, y), *q = px(b, x, y);
            n += abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) > 60;
        }
    return n;
}

/* Every word of the HUD and of the status line reaches the screen. The HUD's
 * phase line once held phase, timer, coverage, the -20 C band, the target's
 * minimum and the needle's state: ~100 characters, of which the 3-D view's
 * width shows ~55, so the target's minimum and the needle's state were never
 * seen (seventeenth session). The status line, which carries the proctor link
 * and a proctor's note, was one line cut at the view's edge. Two frames that
 * differ only in the needle's confidence and the target's minimum, and two status
 * lines that differ only in a note's last words, must give different pictures. */
static void test_hud_and_status_fit_the_view(void **state)
{
    fixture *fx = *state;
    cn_frame *f = fx->f;
    cn_viewer *v = new_offscreen(false);
    cn_guidance_state *g = &f->analysis.guidance;
    f->analysis.thermal.valid = true;
    g->phase_planned_s = 150.0;
    g->lethal_band_mm = 0.9;
    g->target_min_temp_c = -12.0;
    f->analysis.needle.confidence = 0.9f;
    const char *head = "simulated scenario t=151 s: freeze, cycle 1, ice 6.1 mm  |  link: 1 viewer, "
                       "proctor 1/1 alice 127.0.0.1:40312 selected (k revokes its account, Tab next, "
                       "x revokes all) | note from alice: keep the ice off the artery, then ";
    char st_a[512], st_b[512];
    snprintf(st_a, sizeof st_a, "%sgo 2 mm deeper", head);
    snprintf(st_b, sizeof st_b, "%sSTOP THE FREEZE", head);
    cn_viewer_hud hud = demo_hud;
    hud.status_line = st_a;
    assert_int_equal(cn_viewer_show(v, f, &hud), CN_OK);
    shot a = grab(v);
    g->target_min_temp_c = -45.0;
    f->analysis.needle.confidence = 0.6f;
    hud.status_line = st_b;
    assert_int_equal(cn_viewer_show(v, f, &hud), CN_OK);
    shot b = grab(v);
    int top = diff_left(&a, &b, 0, a.h / 3), bottom = diff_left(&a, &b, 2 * a.h / 3, a.h);
    print_message("3-D view pixels changed: HUD (top third) %d, status (bottom third) %d\n", top,
                  bottom);
    assert_true(top > 40);
    assert_true(bottom > 40);
    free(a.rgb);
    free(b.rgb);
    cn_viewer_free(v);
}

/* Several alarms at once make a line wider than the in-plane view: centred, it
 * lost both ends (the first alarm's words and the last alarm) at the view's
 * edges (seventeenth session). The alarm's red text must lie inside the in-plane
 * view, clear of both edges, above the image, and the image must not move for it. */
static void test_long_alarm_fits(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    cn_viewer_hud hud = demo_hud;
    hud.alarm_line = "ALARM: ICE 3.1 mm FROM SKIN | ICE IN PROTECTED STRUCTURE | TRACKING LOST | "
                     "TIP HIDDEN | NERVE LOST";
    assert_int_equal(cn_viewer_show(v, fx->f, &hud), CN_OK);
    shot s = grab(v);
    int x0, y0;
    to_win(v, 1, 0.0, 0.0, &x0, &y0); /* the image's top left corner */
    int lo = s.w, hi = -1, n = 0;
    for (int y = 0; y < y0 - 1; y++)
        for (int x = 0; x < s.w; x++) {
            const uint8_t *p = px(&s, x, y);
            if (p[0] > 200 && p[1] < 100 && p[2] < 100) {
                n++;
                lo = x < lo ? x : lo;
                hi = x > hi ? x : hi;
            }
        }
    print_message("alarm: %d red pixels above the image (top at y %d), x %d..%d of the view's "
                  "%d..%d\n", n, y0, lo, hi, s.w / 2, s.w - 1);
    assert_true(n > 400);
    assert_true(lo >= s.w / 2 + 3);
    assert_true(hi <= s.w - 4);
    free(s.rgb);
    /* the image where it is without an alarm */
    hud.alarm_line = NULL;
    assert_int_equal(cn_viewer_show(v, fx->f, &hud), CN_OK);
    int x1, y1;
    to_win(v, 1, 0.0, 0.0, &x1, &y1);
    assert_int_equal(x1, x0);
    assert_int_equal(y1, y0);
    cn_viewer_free(v);
}

static void test_shader_mapping_changes_the_picture(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    int x, y;
    to_win(v, 1, 0.2 * W * SP, 0.8 * H * SP, &x, &y);
    shot s = grab(v);
    double m0 = box_mean(&s, x, y, 15);
    free(s.rgb);
    assert_int_equal(cn_viewer_set_display(v, 0.2, 1.0, 1.0), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    s = grab(v);
    double m1 = box_mean(&s, x, y, 15);
    free(s.rgb);
    /* +0.2 brightness = +51 grey levels, less what saturates at white */
    assert_true(m1 - m0 > 30.0 && m1 - m0 < 60.0);
    /* gamma 2 brightens mid greys (v^(1/2)); back to 1, the picture is the first one
     * again (the shader variant without pow() comes back) */
    assert_int_equal(cn_viewer_set_display(v, 0.0, 1.0, 2.0), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    s = grab(v);
    double m2 = box_mean(&s, x, y, 15);
    free(s.rgb);
    assert_int_equal(cn_viewer_set_display(v, 0.0, 1.0, 1.0), CN_OK);
    assert_int_equal(cn_viewer_show(v, fx->f, NULL), CN_OK);
    s = grab(v);
    double m3 = box_mean(&s, x, y, 15);
    free(s.rgb);
    print_message("grey: %.1f, brightness +0.2 %.1f, gamma 2 %.1f, gamma 1 again %.1f\n", m0, m1,
                  m2, m3);
    assert_true(m2 - m0 > 20.0);
    assert_true(fabs(m3 - m0) < 1.0);
    assert_int_equal(cn_viewer_set_display(v, 0.0, 0.0, 1.0), CN_EINVAL);
    assert_int_equal(cn_viewer_set_display(v, NAN, 1.0, 1.0), CN_EINVAL);
    cn_viewer_free(v);
}

/* Every frame's pixels reach both planes: a second frame of the same size (the
 * texture is refilled in place) and a frame of another, odd size (a new texture
 * image) replace what the planes show, in the 2-D and in the 3-D view. */
static void test_each_frame_reaches_both_planes(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(false);
    cn_frame *f = fx->f;
    int sizes[3][2] = {{W, H}, {W, H}, {321, 203}};
    const uint8_t grey[3] = {0, 230, 40};
    for (int k = 0; k < 3; k++) {
        if (k > 0) {
            assert_int_equal(cn_frame_set_size(f, sizes[k][0], sizes[k][1]), CN_OK);
            memset(f->pixels, grey[k], (size_t)sizes[k][0] * (size_t)sizes[k][1]);
            f->analysed = false;
        }
        assert_int_equal(cn_viewer_show(v, f, NULL), CN_OK);
        shot s = grab(v);
        for (int view = 0; view < 2; view++) {
            int x, y;
            to_win(v, view, 0.3 * sizes[k][0] * SP, 0.75 * sizes[k][1] * SP, &x, &y);
            double m = box_mean(&s, x, y, 4);
            print_message("frame %d (%dx%d) view %d: mean grey %.1f\n", k, sizes[k][0],
                          sizes[k][1], view, m);
            if (k == 0) /* the demo frame's speckle */
                assert_true(m > 20.0 && m < 170.0);
            else /* uniform grey through the cool tint (0.97, 0.99, 1) */
                assert_true(fabs(m - 0.9867 * grey[k]) < 4.0);
        }
        free(s.rgb);
    }
    cn_viewer_free(v);
}

static void test_bad_frames_do_not_crash(void **state)
{
    fixture *fx = *state;
    cn_viewer *v = new_offscreen(true);
    cn_frame *f = fx->f;
    f->analysis.nerve.n = -5;
    f->analysis.ice.n = 1 << 30;
    f->analysis.n_iso = 99;
    f->analysis.iso[0].n = -1;
    f->analysis.iso[1].pts_mm[3].x = NAN;
    f->analysis.needle.dir.x = NAN;
    f->truth.nerve_rx_mm = INFINITY;
    assert_int_equal(cn_viewer_show(v, f, &demo_hud), CN_OK);
    f->spacing_mm[0] = 0.0;
    assert_int_equal(cn_viewer_show(v, f, &demo_hud), CN_EINVAL);
    f->spacing_mm[0] = SP;
    assert_int_equal(cn_frame_set_size(f, 320, 200), CN_OK); /* a size change */
    assert_int_equal(cn_viewer_demo_frame(f, 3, 1.0), CN_OK);
    assert_int_equal(cn_viewer_show(v, f, &demo_hud), CN_OK);
    assert_int_equal(cn_viewer_show(v, NULL, NULL), CN_EINVAL);
    assert_true(cn_viewer_poll(v)); /* offscreen: nothing closes it */

    /* Garbage poses: huge, zero, random. Shown or refused, never a crash. */
    cn_rng rng;
    cn_rng_seed(&rng, 42);
    const char *names[4] = {"ImageToProbe", "ProbeToTracker", "ReferenceToTracker",
                            "CryoprobeToTracker"};
    for (int it = 0; it < 12; it++) {
        for (int k = 0; k < 4; k++) {
            cn_mat4 m;
            for (int e = 0; e < 16; e++) {
                double u = cn_rng_uniform(&rng);
                m.m[e] = it % 3 == 0 ? 0.0 : it % 3 == 1 ? (u - 0.5) * 1e300 : (u - 0.5) * 100.0;
            }
            cn_frame_set_pose(f, names[k], &m, cn_rng_uniform(&rng) < 0.8);
        }
        int rc = cn_viewer_show(v, f, &demo_hud);
        assert_true(rc == CN_OK || rc == CN_EINVAL);
    }
    cn_viewer_free(v);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_shader_errors(void **state)
{
    (void)state;
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.offscreen = true;
    char err[512] = "";
    o.shader_dir = "/nonexistent/shaders";
    assert_null(cn_viewer_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/shaders/us_plane.frag"));

    char dir[] = "/tmp/cn_viewer_shader_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/us_plane.frag", dir);
    write_file(path, "");
    o.shader_dir = dir;
    assert_null(cn_viewer_new(&o, err, sizeof err));
    if (!strstr(err, "empty"))
        fail_msg("empty shader: %s", err);
    write_file(path, "{ this is not GLSL; }\n");
    err[0] = '\0';
    assert_null(cn_viewer_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "does not compile"));
    unlink(path);
    rmdir(dir);
}

static void test_no_display_is_an_error(void **state)
{
    (void)state;
    const char *d = getenv("DISPLAY");
    char saved[256];
    snprintf(saved, sizeof saved, "%s", d ? d : "");
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.offscreen = true;
    o.shader_dir = CN_SOURCE_DIR "/shaders";
    char err[512] = "";
    unsetenv("DISPLAY");
    assert_null(cn_viewer_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "DISPLAY"));
    setenv("DISPLAY", ":4711", 1); /* nothing listens there */
    assert_null(cn_viewer_new(&o, err, sizeof err));
    assert_non_null(strstr(err, ":4711"));
    setenv("DISPLAY", saved, 1);
    o.width = 10;
    assert_null(cn_viewer_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "size"));
}

/* A left click at window pixel (x, y) (top-left origin), from a second connection. */
static void send_click(Window win, int x, int y)
{
    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    XEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.xbutton.type = ButtonPress;
    ev.xbutton.display = dpy;
    ev.xbutton.window = win;
    ev.xbutton.root = DefaultRootWindow(dpy);
    ev.xbutton.x = x;
    ev.xbutton.y = y;
    ev.xbutton.button = Button1;
    ev.xbutton.same_screen = True;
    XSendEvent(dpy, win, True, ButtonPressMask, &ev);
    ev.xbutton.type = ButtonRelease;
    ev.xbutton.state = Button1Mask;
    XSendEvent(dpy, win, True, ButtonReleaseMask, &ev);
    XFlush(dpy);
    XCloseDisplay(dpy);
}

/* Sends an X event to the viewer's window from a second connection, as the
 * window manager or the keyboard would. */
static void send_key(Window win, KeySym sym)
{
    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    XEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.xkey.type = KeyPress;
    ev.xkey.display = dpy;
    ev.xkey.window = win;
    ev.xkey.root = DefaultRootWindow(dpy);
    ev.xkey.same_screen = True;
    ev.xkey.keycode = XKeysymToKeycode(dpy, sym);
    if (sym >= XK_A && sym <= XK_Z)
        ev.xkey.state = ShiftMask; /* upper-case letters */
    XSendEvent(dpy, win, True, KeyPressMask, &ev);
    ev.xkey.type = KeyRelease;
    XSendEvent(dpy, win, True, KeyReleaseMask, &ev);
    XFlush(dpy);
    XCloseDisplay(dpy);
}

static void send_wm_delete(Window win)
{
    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    XEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.xclient.type = ClientMessage;
    ev.xclient.window = win;
    ev.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", False);
    ev.xclient.format = 32;
    ev.xclient.data.l[0] = (long)XInternAtom(dpy, "WM_DELETE_WINDOW", False);
    XSendEvent(dpy, win, False, NoEventMask, &ev);
    XFlush(dpy);
    XCloseDisplay(dpy);
}

static bool poll_until_closed(cn_viewer *v)
{
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        if (!cn_viewer_poll(v))
            return true;
        usleep(10000);
    }
    return false;
}

/* On screen the viewer presents the picture itself (viewer_present.cxx: VTK's
 * framebuffer read once and put into the window with XShmPutImage, instead of
 * VTK's blit and swap): the window's pixels, read back from the X server, are the
 * picture VTK rendered, right side up, after every show. */
static void test_window_shows_the_picture(void **state)
{
    fixture *fx = *state;
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.shader_dir = CN_SOURCE_DIR "/shaders";
    char err[512] = "";
    cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
    if (!v)
        fail_msg("cn_viewer_new (window): %s", err);
    for (int round = 0; round < 2; round++) {
        if (round == 1) /* a brighter picture: the window must follow */
            assert_int_equal(cn_viewer_set_display(v, 0.3, 1.0, 1.0), CN_OK);
        assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
        for (int i = 0; i < 3; i++)
            assert_true(cn_viewer_poll(v));
        shot s = grab(v);
        Display *dpy = XOpenDisplay(NULL);
        assert_non_null(dpy);
        Window win = (Window)cn_viewer_x_window(v);
        XImage *xi = XGetImage(dpy, win, 0, 0, (unsigned)s.w, (unsigned)s.h, AllPlanes, ZPixmap);
        assert_non_null(xi);
        long same = 0, total = 0;
        double sum = 0;
        for (int y = 0; y < s.h; y += 3)
            for (int x = 0; x < s.w; x += 3) {
                unsigned long px = XGetPixel(xi, x, y);
                int r = (int)((px & xi->red_mask) >> 16), g = (int)((px & xi->green_mask) >> 8),
                    b = (int)(px & xi->blue_mask);
                const uint8_t *q = s.rgb + ((size_t)y * (size_t)s.w + (size_t)x) * 3;
                same += abs(r - q[0]) <= 2 && abs(g - q[1]) <= 2 && abs(b - q[2]) <= 2;
                sum += q[0] + q[1] + q[2];
                total++;
            }
        XDestroyImage(xi);
        XCloseDisplay(dpy);
        free(s.rgb);
        print_message("round %d: %ld of %ld window pixels are the rendered picture's\n", round,
                      same, total);
        assert_true(sum / (3.0 * total) > 10.0); /* a picture, not a black window */
        assert_true(same >= total * 99 / 100);
    }
    cn_viewer_free(v);
}

/* The list of keys in the shipped window (config/session.json: 1280 x 800): its longest
 * line (the f key's, 70 characters) ran off the in-plane view's right edge (review 41b F8).
 * The panel's font is now sized so the longest line fits: nothing of it in the window's
 * last 4 columns. */
static void test_key_list_fits_the_view(void **state)
{
    fixture *fx = *state;
    cn_viewer_opts o;
    cn_viewer_opts_default(&o);
    o.shader_dir = CN_SOURCE_DIR "/shaders";
    o.width = 1280;
    o.height = 800;
    char err[512] = "";
    cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
    if (!v)
        fail_msg("cn_viewer_new (window): %s", err);
    assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
    assert_int_equal(cn_viewer_set_key_help(v, "u           forget the nerve point\n"
                                               "f           freeze start / stop (under an ICE "
                                               "alarm: dated by the ice)\n"
                                               "x X         revoke every proctor and lock logins "
                                               "/ unlock"),
                     CN_OK);
    for (int i = 0; i < 5; i++)
        assert_true(cn_viewer_poll(v));
    Window win = (Window)cn_viewer_x_window(v);
    assert_true(win != 0);
    shot k0 = grab_sized(v, 1280, 800);
    send_key(win, XK_h);
    for (int k = 0; k < 50; k++) {
        cn_viewer_poll(v);
        usleep(10000);
    }
    assert_true(cn_viewer_key_help_shown(v));
    shot k1 = grab_sized(v, 1280, 800);
    long edge = 0, en = 0, changed = 0;
    for (int y = k0.h / 10; y < k0.h / 2; y++) {
        for (int x = k0.w - 4; x < k0.w; x++, en++) {
            const uint8_t *a = px(&k0, x, y), *b = px(&k1, x, y);
            edge += abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > 30;
        }
        for (int x = k0.w / 2 + 10; x < k0.w / 2 + 60; x++) {
            const uint8_t *a = px(&k0, x, y), *b = px(&k1, x, y);
            changed += abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > 30;
        }
    }
    char kpath[1024];
    snprintf(kpath, sizeof kpath, "%s/viewer_test_keys_800.png", CN_BINARY_DIR);
    cn_viewer_snapshot(v, kpath, err, sizeof err);
    print_message("1280 x 800: the key list changed %ld pixels at its left, %ld of %ld at the "
                  "view's right edge (%s)\n", changed, edge, en, kpath);
    assert_true(changed > 100); /* it is shown */
    assert_true(edge <= 2); /* the same picture under it: nothing else changes (17 before) */
    free(k0.rgb);
    free(k1.rgb);
    cn_viewer_free(v);
}

static void test_window_closes_on_q_escape_and_wm_delete(void **state)
{
    fixture *fx = *state;
    for (int how = 0; how < 3; how++) {
        cn_viewer_opts o;
        cn_viewer_opts_default(&o);
        o.shader_dir = CN_SOURCE_DIR "/shaders";
        o.title = "CryoNav test";
        char err[512] = "";
        cn_viewer *v = cn_viewer_new(&o, err, sizeof err);
        if (!v)
            fail_msg("cn_viewer_new (window): %s", err);
        assert_int_equal(cn_viewer_show(v, fx->f, &demo_hud), CN_OK);
        for (int i = 0; i < 5; i++)
            assert_true(cn_viewer_poll(v));
        Window win = (Window)cn_viewer_x_window(v);
        assert_true(win != 0);
        if (how == 0) { /* an on-screen window reads back like an offscreen one */
            shot s = grab(v);
            int bx, by;
            int band0 = (int)(0.22 * H), band1 = band0 + H / 40;
            to_win(v, 1, 0.25 * W * SP, 0.5 * (band0 + band1 - 1) * SP, &bx, &by);
            assert_true(box_mean(&s, bx, by, 1) > 170.0);
            double before = box_mean(&s, bx, by + 60, 12);
            assert_true(before < 160.0);
            free(s.rgb);
            /* Shift+b four times: brightness +0.2 through the key handler. */
            for (int k = 0; k < 4; k++)
                send_key(win, XK_B);
            for (int k = 0; k < 50; k++) {
                cn_viewer_poll(v);
                usleep(10000);
            }
            s = grab(v);
            double after = box_mean(&s, bx, by + 60, 12);
            free(s.rgb);
            if (!(after - before > 30.0))
                fail_msg("brightness keys: mean %.1f -> %.1f", before, after);
            /* Keys the viewer does not own reach the app in order; its own do not. */
            assert_int_equal(cn_viewer_next_key(v), 0);
            send_key(win, XK_f);
            send_key(win, XK_b);
            send_key(win, XK_m);
            send_key(win, XK_space);
            send_key(win, XK_Left);
            send_key(win, XK_Right);
            send_key(win, XK_comma);
            send_key(win, XK_period);
            for (int k = 0; k < 50; k++) {
                cn_viewer_poll(v);
                usleep(10000);
            }
            assert_int_equal(cn_viewer_next_key(v), 'f');
            assert_int_equal(cn_viewer_next_key(v), 'm');
            assert_int_equal(cn_viewer_next_key(v), ' ');
            assert_int_equal(cn_viewer_next_key(v), CN_KEY_LEFT); /* replay: 5 s back */
            assert_int_equal(cn_viewer_next_key(v), CN_KEY_RIGHT);
            assert_int_equal(cn_viewer_next_key(v), ',');          /* replay: frame steps */
            assert_int_equal(cn_viewer_next_key(v), '.');
            assert_int_equal(cn_viewer_next_key(v), 0);
            /* h shows the list of keys over the in-plane view (the viewer's and the
             * app's), h again hides it; neither reaches the app. Before the
             * twenty-fourth session no key was named on screen. */
            /* the app's real list: its longest line (f, 70 characters) ran off the in-plane
             * view's right edge (review 41b F8); the font is now sized to fit */
            assert_int_equal(cn_viewer_set_key_help(v, "u           forget the nerve point\n"
                                                       "f           freeze start / stop (under "
                                                       "an ICE alarm: dated by the ice)\n"
                                                       "x X         revoke every proctor and lock "
                                                       "logins / unlock"),
                             CN_OK);
            assert_int_equal(cn_viewer_set_key_help(NULL, "x"), CN_EINVAL);
            shot k0 = grab(v);
            assert_false(cn_viewer_key_help_shown(v));
            send_key(win, XK_h);
            for (int k = 0; k < 50; k++) {
                cn_viewer_poll(v);
                usleep(10000);
            }
            assert_true(cn_viewer_key_help_shown(v));
            assert_int_equal(cn_viewer_next_key(v), 0);
            shot k1 = grab(v);
            char kpath[1024], kerr[256];
            snprintf(kpath, sizeof kpath, "%s/viewer_test_keys.png", CN_BINARY_DIR);
            assert_int_equal(cn_viewer_snapshot(v, kpath, kerr, sizeof kerr), CN_OK);
            send_key(win, XK_h); /* h again hides it */
            for (int k = 0; k < 50; k++) {
                cn_viewer_poll(v);
                usleep(10000);
            }
            assert_false(cn_viewer_key_help_shown(v));
            shot k2 = grab(v);
            /* the panel's box: the in-plane view's top left quarter */
            long changed = 0, back = 0, n = 0;
            for (int y = k0.h / 10; y < k0.h / 2; y++)
                for (int x = k0.w / 2 + 10; x < k0.w / 2 + k0.w / 5; x++, n++) {
                    const uint8_t *a = px(&k0, x, y), *b = px(&k1, x, y), *c = px(&k2, x, y);
                    changed += abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > 30;
                    back += abs(a[0] - c[0]) + abs(a[1] - c[1]) + abs(a[2] - c[2]) > 30;
                }
            print_message("key list: %ld of %ld pixels changed when shown, %ld when hidden "
                          "again (%s)\n", changed, n, back, kpath);
            assert_true(changed > n / 4);
            assert_true(back < n / 100);
            /* nothing of the panel in the window's last 4 columns (the in-plane view's
             * right edge), over the panel's rows */
            long edge = 0, en = 0;
            for (int y = k0.h / 10; y < k0.h / 2; y++)
                for (int x = k0.w - 4; x < k0.w; x++, en++) {
                    const uint8_t *a = px(&k0, x, y), *b = px(&k1, x, y);
                    edge += abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) > 30;
                }
            print_message("key list at the view's right edge: %ld of %ld pixels changed\n", edge,
                          en);
            assert_true(edge < en / 50);
            free(k0.rgb);
            free(k1.rgb);
            free(k2.rgb);
            /* A click on the image in the in-plane view comes back in image mm; a
             * click in the 3-D view is the camera's, not a target. */
            double wx, wy;
            assert_int_equal(cn_viewer_image_mm_to_window(v, 1, 12.0, 20.0, &wx, &wy), CN_OK);
            send_click(win, (int)lround(wx), (int)lround(wy));
            send_click(win, 100, 300);
            for (int k = 0; k < 50; k++) {
                cn_viewer_poll(v);
                usleep(10000);
            }
            cn_pt2 mm;
            assert_true(cn_viewer_next_click(v, &mm));
            print_message("click at (12.0, 20.0) mm came back as (%.2f, %.2f)\n", mm.x, mm.y);
            assert_true(fabsf(mm.x - 12.0f) < 0.2f && fabsf(mm.y - 20.0f) < 0.2f);
            assert_false(cn_viewer_next_click(v, &mm));
        }
        if (how == 0)
            send_key(win, XK_q);
        else if (how == 1)
            send_key(win, XK_Escape);
        else
            send_wm_delete(win);
        assert_true(poll_until_closed(v));
        assert_false(cn_viewer_poll(v));
        cn_viewer_free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_views_show_the_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needle_hidden_without_cryoprobe_pose, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nerve_point_while_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mirrored_probe_pose_draws_the_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shader_mapping_changes_the_picture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hud_and_status_fit_the_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_alarm_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_frame_reaches_both_planes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_frames_do_not_crash, setup, teardown),
        cmocka_unit_test(test_shader_errors),
        cmocka_unit_test(test_no_display_is_an_error),
        cmocka_unit_test_setup_teardown(test_window_shows_the_picture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_closes_on_q_escape_and_wm_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_list_fits_the_view, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
