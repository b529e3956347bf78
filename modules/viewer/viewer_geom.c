/*
 * viewer_geom.c - where the ultrasound image and the cryoprobe sit in the 3-D view.
 *
 * The idea (PLUS conventions): the scene is drawn in the Reference frame, the
 * image is placed by ImageToReference = inverse(ReferenceToTracker) *
 * ProbeToTracker * ImageToProbe and the needle by inverse(ReferenceToTracker) *
 * CryoprobeToTracker. Real tracking drops out (a tool leaves the camera's view,
 * a reference is not used at all), so every missing or invalid pose has a
 * fall-back that keeps something sensible on screen and says what is missing,
 * rather than showing a needle somewhere it is not.
 */
#include "viewer_priv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool cn_viewer_frame_showable(const cn_frame *f, char *why, size_t why_len)
{
    const char *msg = NULL;
    if (!f)
        msg = "no frame";
    else if (!f->pixels)
        msg = "frame has no pixel buffer";
    else if (f->width <= 0 || f->height <= 0 || f->width > 16384 || f->height > 16384)
        msg = "frame size out of range";
    else if (!isfinite(f->spacing_mm[0]) || !isfinite(f->spacing_mm[1]) ||
             f->spacing_mm[0] <= 0.0 || f->spacing_mm[1] <= 0.0 || f->spacing_mm[0] > 100.0 ||
             f->spacing_mm[1] > 100.0)
        msg = "frame pixel spacing invalid";
    if (msg && why && why_len)
        snprintf(why, why_len, "%s", msg);
    return msg == NULL;
}

/* The image's x and y axes must map to finite, non-parallel directions, or the
 * plane has no area (a zero ImageToProbe that claims to be valid). */
static bool plane_ok(const cn_mat4 *m)
{
    if (!cn_mat4_is_finite(m))
        return false;
    cn_vec3 ex = cn_mat4_apply_dir(m, (cn_vec3){1, 0, 0});
    cn_vec3 ey = cn_mat4_apply_dir(m, (cn_vec3){0, 1, 0});
    double nx = cn_vec3_norm(ex), ny = cn_vec3_norm(ey);
    double area = cn_vec3_norm(cn_vec3_cross(ex, ey));
    return isfinite(area) && nx > 1e-9 && ny > 1e-9 && area > 1e-6 * nx * ny;
}

void cn_viewer_geom_compute(const cn_frame *f, cn_viewer_geom *g)
{
    memset(g, 0, sizeof *g);
    double sx = f->spacing_mm[0] > 0.0 ? f->spacing_mm[0] : 1.0;
    double sy = f->spacing_mm[1] > 0.0 ? f->spacing_mm[1] : 1.0;
    cn_mat4 by_spacing = cn_mat4_scale(sx, sy, 1.0);

    const cn_pose *img2probe = cn_frame_usable_pose(f, "ImageToProbe");
    const cn_pose *probe2trk = cn_frame_usable_pose(f, "ProbeToTracker");
    const cn_pose *cryo2trk = cn_frame_usable_pose(f, "CryoprobeToTracker");
    const cn_pose *ref_any = cn_frame_get_pose(f, "ReferenceToTracker");

    /* Tracker -> Reference; identity (Tracker is the reference) when unknown. */
    cn_mat4 trk2ref;
    g->reference_used = cn_frame_tracker_to(f, "Reference", &trk2ref) == CN_OK;

    bool degenerate = false;
    if (probe2trk) {
        cn_frame_image_to(f, "Reference", &g->image_to_ref, NULL);
        g->image_tracked = true;
        if (cryo2trk) {
            g->needle_to_ref = cn_mat4_mul(&trk2ref, &cryo2trk->m);
            g->needle_visible = plane_ok(&g->needle_to_ref); /* not collapsed */
        }
        degenerate = !plane_ok(&g->image_to_ref);
    }
    if (!probe2trk || degenerate) {
        /* Without the probe pose the image cannot be related to anything tracked:
         * show it flat by its spacing and hide the needle rather than guess. */
        g->image_to_ref = by_spacing;
        g->needle_to_ref = cn_mat4_identity();
        g->image_tracked = false;
        g->needle_visible = false;
    }

    /* The one rule (core): analysis results are in image mm with pixel centres at
     * (i + 0.5) spacing; the image plane is modelled in pixels (centres at
     * integers). Overlays and the 2-D plane go through the same ImageToImageMm. */
    g->image_to_2d = cn_frame_image_to_image_mm(f);
    cn_mat4 mm_to_img;
    if (cn_mat4_invert(&g->image_to_2d, &mm_to_img) != CN_OK)
        mm_to_img = cn_mat4_identity();
    g->image_mm_to_ref = cn_mat4_mul(&g->image_to_ref, &mm_to_img);

    if (degenerate)
        snprintf(g->note, sizeof g->note, "image pose degenerate: spacing only");
    else if (!probe2trk && !cryo2trk)
        snprintf(g->note, sizeof g->note, "no tracking");
    else if (!probe2trk)
        snprintf(g->note, sizeof g->note, "probe not tracked: needle hidden");
    else if (!cryo2trk)
        snprintf(g->note, sizeof g->note, "cryoprobe not tracked");
    else if (ref_any && !g->reference_used)
        snprintf(g->note, sizeof g->note, "reference lost: tracker coordinates");
    else if (!img2probe)
        snprintf(g->note, sizeof g->note, "no ImageToProbe: spacing only");
}
