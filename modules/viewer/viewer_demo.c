/*
 * viewer_demo.c - a synthetic, fully annotated frame for viewer tests, demos and
 * the viewer benchmark.
 *
 * The idea: the viewer must be exercised with everything a real frame can carry
 * (speckled image, tracked poses, analysis, truth) without depending on the
 * simulator. The picture has features whose place is known exactly (a bright
 * band, a dark disc) so tests can find them in rendered pixels, and the poses
 * are built so that the needle really lies in the image plane at the analysed
 * tip: if any matrix in the chain is composed the wrong way round, the needle
 * model and its overlay part company and the tests see it.
 */
#include "viewer_priv.h"

#include <math.h>
#include <string.h>

static void ellipse(cn_pt2 *pts, int n, double cx, double cy, double rx, double ry)
{
    for (int i = 0; i < n; i++) {
        double t = 2.0 * M_PI * i / n;
        pts[i].x = (float)(cx + rx * cos(t));
        pts[i].y = (float)(cy + ry * sin(t));
    }
}

static void fill_pixels(cn_frame *f, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    int w = f->width, h = f->height;
    int band0 = (int)(0.22 * h), band1 = band0 + (h / 40 > 2 ? h / 40 : 2);
    double dcx = 0.62 * w, dcy = 0.6 * h, dr = 0.09 * h;
    for (int y = 0; y < h; y++) {
        double atten = 1.0 - 0.45 * y / h; /* deeper is darker */
        uint8_t *row = f->pixels + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) {
            /* Rayleigh speckle: the magnitude of a complex Gaussian. */
            double a = cn_rng_normal(&rng), b = cn_rng_normal(&rng);
            double v = 55.0 * sqrt(a * a + b * b) * atten;
            if (y >= band0 && y < band1)
                v = 225.0 + 20.0 * cn_rng_uniform(&rng);
            double dx = x - dcx, dy = y - dcy;
            if (dx * dx + dy * dy < dr * dr)
                v = 6.0 * cn_rng_uniform(&rng);
            row[x] = (uint8_t)(v > 255.0 ? 255.0 : v);
        }
    }
}

int cn_viewer_demo_frame(cn_frame *f, uint64_t seed, double t_s)
{
    if (!f || !f->pixels || f->width < 16 || f->height < 16 || !isfinite(t_s))
        return CN_EINVAL;
    int w = f->width, h = f->height;
    const double sp = 0.08;
    f->spacing_mm[0] = f->spacing_mm[1] = sp;
    f->transducer_px[0] = 0.5 * w;
    f->transducer_px[1] = 0.0;
    f->status = CN_FRAME_OK;
    fill_pixels(f, seed);
    double w_mm = w * sp, h_mm = h * sp;

    /* Needle: enters at the upper left, tip advancing towards the nerve. */
    double ang = 25.0 * M_PI / 180.0, adv = fmin(1.0, 0.4 + 0.1 * t_s);
    cn_pt2 dir = {(float)cos(ang), (float)sin(ang)};
    cn_pt2 entry = {0.0f, (float)(0.30 * h_mm)};
    double len = adv * 0.55 * w_mm;
    cn_pt2 tip = {(float)(entry.x + len * dir.x), (float)(entry.y + len * dir.y)};
    double ice_r = fmin(6.0, 1.0 + 0.5 * t_s);

    /* Poses: the image hangs below the transducer centre in the Probe frame. */
    cn_mat4 s = cn_mat4_scale(sp, sp, 1.0);
    cn_mat4 t_img = cn_mat4_translation(-0.5 * w_mm, 0.0, 0.0);
    cn_mat4 img2probe = cn_mat4_mul(&t_img, &s);
    cn_mat4 rot = cn_mat4_rotation_axis_angle((cn_vec3){0.3, 1.0, 0.2}, 0.6);
    cn_mat4 tr = cn_mat4_translation(120.0, -40.0, 300.0);
    cn_mat4 probe2trk = cn_mat4_mul(&tr, &rot);
    cn_mat4 rrot = cn_mat4_rotation_axis_angle((cn_vec3){1.0, 0.0, 0.0}, 0.4);
    cn_mat4 rtr = cn_mat4_translation(100.0, -60.0, 280.0);
    cn_mat4 ref2trk = cn_mat4_mul(&rtr, &rrot);
    /* Cryoprobe frame in image mm: z along the needle (towards the tip), tip at
     * the origin; x in the image plane, y = the plane normal. */
    cn_mat4 cryo2img = cn_mat4_identity();
    double zx = dir.x, zy = dir.y, xx = zy, xy = -zx; /* z = (dir, 0), x = (dy, -dx, 0) */
    /* y = z cross x = (0, 0, -(dx^2 + dy^2)) = (0, 0, -1) */
    double cols[3][3] = {{xx, xy, 0.0}, {0.0, 0.0, -1.0}, {zx, zy, 0.0}};
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++)
            cryo2img.m[r * 4 + c] = cols[c][r];
    cryo2img.m[3] = tip.x;
    cryo2img.m[7] = tip.y;
    cn_mat4 cryo2probe = cn_mat4_mul(&t_img, &cryo2img);
    cn_mat4 cryo2trk = cn_mat4_mul(&probe2trk, &cryo2probe);
    f->n_poses = 0;
    cn_frame_set_pose(f, "ImageToProbe", &img2probe, true);
    cn_frame_set_pose(f, "ProbeToTracker", &probe2trk, true);
    cn_frame_set_pose(f, "ReferenceToTracker", &ref2trk, true);
    cn_frame_set_pose(f, "CryoprobeToTracker", &cryo2trk, true);

    /* Analysis results. */
    memset(&f->analysis, 0, sizeof f->analysis);
    f->analysed = true;
    cn_analysis *a = &f->analysis;
    a->needle.found = true;
    a->needle.confidence = 0.9f;
    a->needle.tip_mm = tip;
    a->needle.dir = dir;
    double ncx = 0.45 * w_mm, ncy = 0.62 * h_mm;
    a->nerve.found = true;
    a->nerve.confidence = 0.8f;
    a->nerve.n = 64;
    ellipse(a->nerve.pts_mm, 64, ncx, ncy, 3.0, 2.0);
    a->ice.found = true;
    a->ice.confidence = 0.7f;
    a->ice.n = 24;
    for (int i = 0; i < 24; i++) { /* the visible, transducer-side arc */
        double th = M_PI + M_PI * (i + 0.5) / 24.0;
        a->ice.pts_mm[i].x = (float)(tip.x + ice_r * cos(th));
        a->ice.pts_mm[i].y = (float)(tip.y + ice_r * sin(th));
    }
    const float temps[3] = {0.0f, -20.0f, -40.0f};
    const double radii[3] = {1.0, 0.7, 0.45};
    a->n_iso = 3;
    for (int i = 0; i < 3; i++) {
        a->iso[i].temp_c = temps[i];
        a->iso[i].n = 72;
        a->iso[i].radius_mm = (float)(ice_r * radii[i]);
        ellipse(a->iso[i].pts_mm, 72, tip.x - 0.3 * ice_r * dir.x, tip.y - 0.3 * ice_r * dir.y,
                ice_r * radii[i] * 1.25, ice_r * radii[i]);
    }
    a->guidance.phase = CN_PHASE_FREEZE;
    a->guidance.cycle = 1;
    a->guidance.phase_elapsed_s = t_s;
    a->guidance.coverage = 0.62;

    /* Ground truth: slightly different from the analysis, as in real life. */
    memset(&f->truth, 0, sizeof f->truth);
    cn_truth *t = &f->truth;
    t->valid = true;
    t->t_scene_s = t_s;
    t->phase = CN_PHASE_FREEZE;
    t->cycle = 1;
    t->nerve_center_mm = (cn_pt2){(float)(ncx + 0.3), (float)(ncy - 0.2)};
    t->nerve_rx_mm = 3.2f;
    t->nerve_ry_mm = 2.1f;
    t->needle_in = true;
    t->needle_tip_mm = (cn_pt2){(float)(tip.x + 0.4), (float)(tip.y + 0.2)};
    t->needle_dir = dir;
    t->needle_entry_mm = entry;
    t->ice_present = true;
    t->ice_radius_mm = (float)ice_r;
    t->ice_center_mm = tip;
    t->ice_a_mm = (float)(ice_r * 1.3);
    t->ice_b_mm = (float)ice_r;
    return CN_OK;
}
