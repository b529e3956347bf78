/*
 * sim.c - the simulator handle: creation (everything static is precomputed here),
 * rendering of one frame at a scene time, and the nerve mask.
 *
 * Coordinate frames (PLUS names; see docs/architecture.md "Simulator"):
 *   Image      pixels; x to the right, y down (depth), z = x cross y. Image mm =
 *              pixel * spacing, spacing square = depth_mm / height_px; x = 0 at the
 *              left edge, y = 0 at the transducer face; transducer_px = (W/2, 0).
 *              cn_truth is in image mm (pixel centres at (i + 0.5) * spacing).
 *   Probe      mm; origin at the centre of the transducer face, x lateral (= image x),
 *              y into the body (= image y), z elevation.
 *              ImageToProbe = Translation((1 - W)/2 * sp, sp/2, 0) * Scale(sp) (static):
 *              PLUS pixel centres at integers land where core's one rule draws them.
 *   Cryoprobe  mm; origin at the needle tip, shaft along -Z (insertion is +Z), X along
 *              the probe's elevation axis, Y = Z x X (in the image plane).
 *   Tracker    the room. ProbeToTracker = breathing(t) * fixed placement,
 *              ReferenceToTracker = breathing(t) * fixed patient-marker placement,
 *              CryoprobeToTracker = ProbeToTracker * CryoprobeToProbe(true needle).
 *              Breathing moves patient, probe and needle together (< 0.4 mm), so
 *              ProbeToReference is constant and the image does not move.
 *   The poses in a frame are the truth at t - tracker_latency (latency in real ms,
 *   times time_scale in scene time) with noise (per-axis N(0, tracker_noise_mm)
 *   translation and N(0, tracker_noise_deg) rotation, applied in each tool's frame)
 *   seeded by (seed, scene time of the frame).
 *
 * Determinism: pixels, poses and truth are a pure function of (config, seed, scene
 * time). cn_sim_render is not re-entrant for one handle (it uses work buffers).
 */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

cn_sim *cn_sim_new(const cn_sim_config *c)
{
    if (!c || cn_sim_config_validate(c, NULL, 0) != CN_OK)
        return NULL;
    cn_sim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->c = *c;
    s->W = c->width_px;
    s->H = c->height_px;
    sim_geom_init(&s->c, s->W, s->H, &s->g);
    sim_tracker_placements(s);
    if (sim_render_init(s) != CN_OK) {
        cn_sim_free(s);
        return NULL;
    }
    return s;
}

void cn_sim_free(cn_sim *s)
{
    if (!s)
        return;
    sim_render_free(s);
    free(s);
}

const cn_sim_config *cn_sim_get_config(const cn_sim *s) { return &s->c; }

int cn_sim_render(cn_sim *s, double t_scene_s, cn_frame *f)
{
    if (!s || !f || !isfinite(t_scene_s))
        return CN_EINVAL;
    int rc = cn_frame_set_size(f, s->W, s->H);
    if (rc != CN_OK)
        return rc;
    f->spacing_mm[0] = f->spacing_mm[1] = s->g.sp;
    f->transducer_px[0] = 0.5 * s->W;
    f->transducer_px[1] = 0;
    cn_sim_truth_at(s, t_scene_s, &f->truth);
    sim_render_frame(s, &f->truth, t_scene_s, f->pixels);
    sim_poses(s, t_scene_s, f);
    f->status = CN_FRAME_OK;
    return CN_OK;
}

void cn_sim_nerve_mask(const cn_truth *t, const double spacing_mm[2], uint8_t *mask, int w, int h)
{
    double rx = t->nerve_rx_mm, ry = t->nerve_ry_mm;
    for (int j = 0; j < h; j++) {
        double dy = ((j + 0.5) * spacing_mm[1] - t->nerve_center_mm.y) / ry;
        for (int i = 0; i < w; i++) {
            double dx = ((i + 0.5) * spacing_mm[0] - t->nerve_center_mm.x) / rx;
            mask[(size_t)j * w + i] = (dx * dx + dy * dy <= 1.0) ? 1 : 0;
        }
    }
}
