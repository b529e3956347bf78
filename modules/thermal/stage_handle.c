/*
 * stage_handle.c - the thermal stage outside its frames: made (its options checked,
 * the ensemble tried once), freed and rewound, and read between frames by the rest of
 * the program (the ensemble, the temperature at a point of the reference or of the
 * image, the 3-D mesh, the reference's place in the image); and the poses that place
 * the image and the probe in the stage's reference, which the per-frame flow (stage.c)
 * reads too. Without tracking the reference is the image itself and the probe pose
 * comes from the detected in-plane needle.
 */
#include "stage_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cn_thermal_stage_new(const cn_thermal_stage_opts *o, cn_stage *out, char *err, size_t err_len)
{
    if (!o || !out) {
        snprintf(err, err_len, "thermal stage: missing options");
        return CN_EINVAL;
    }
    char e2[256];
    if (cn_cryoprobe_validate(&o->probe, e2, sizeof e2) ||
        cn_tissue_validate(&o->tissue, e2, sizeof e2) ||
        cn_protocol_validate(&o->protocol, e2, sizeof e2)) {
        snprintf(err, err_len, "thermal stage: %s", e2);
        return CN_EINVAL;
    }
    if (!(o->h3_mm >= 0.5 && o->h3_mm <= 3) || !(o->spot_tol_mm > 0) || !(o->spot_tol_deg > 0) ||
        !(o->skin_depth_mm >= 0 && o->skin_depth_mm <= 50) || o->max_members_per_frame < 0 ||
        !(o->grid_catch_up_ms >= 0 && o->grid_catch_up_ms <= 1e6)) {
        snprintf(err, err_len, "thermal stage: h3_mm must be in [0.5, 3], the spot tolerances "
                               "positive, skin_depth_mm in [0, 50], grid_catch_up_ms in "
                               "[0, 1e6]");
        return CN_EINVAL;
    }
    thermal_stage *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "thermal stage: out of memory");
        return CN_ENOMEM;
    }
    s->o = *o;
    s->held_ice_depth_mm = INFINITY; /* none yet */
    s->held_r0_mm = NAN;
    /* the ensemble is checked now, not at the first freeze */
    cn_thermal_fit_opts fo = o->fit;
    fo.n_offsets = fo.n_perfusions = 1;
    cn_thermal_ensemble *probe_e = cn_thermal_ensemble_new(&o->probe, &o->protocol, &o->tissue,
                                                           &o->fit, err, err_len);
    if (!probe_e) {
        free(s);
        return CN_EINVAL;
    }
    cn_thermal_ensemble_free(probe_e);
    (void)fo;
    out->name = "thermal";
    out->self = s;
    out->process = cn__stage_process;
    return CN_OK;
}

void cn_thermal_stage_free(void *self)
{
    thermal_stage *s = self;
    if (!s)
        return;
    cn__field_free(s->field);
    cn__field_free(s->thaw_back);
    for (int i = 0; i < SNAP_SLOTS; i++)
        cn__field_free(s->snap[i]);
    free(s);
}

void cn_thermal_stage_rewind(void *self)
{
    thermal_stage *s = self;
    if (!s)
        return;
    cn__field_free(s->field);
    cn__field_free(s->thaw_back);
    for (int i = 0; i < SNAP_SLOTS; i++)
        cn__field_free(s->snap[i]);
    const cn_thermal_stage_opts o = s->o;
    memset(s, 0, sizeof *s); /* as cn_thermal_stage_new left it */
    s->o = o;
    s->held_ice_depth_mm = INFINITY;
    s->held_r0_mm = NAN;
}

const cn_thermal_ensemble *cn_thermal_stage_ensemble(void *self)
{
    thermal_stage *s = self;
    return s && s->field ? cn__field_ensemble(s->field) : NULL;
}

bool cn_thermal_stage_started(void *self, int64_t *t_freeze_start_ns)
{
    thermal_stage *s = self;
    if (!s || !s->field)
        return false;
    if (t_freeze_start_ns)
        *t_freeze_start_ns = s->t0_ns;
    return true;
}

int cn_thermal_stage_sources(void *self)
{
    thermal_stage *s = self;
    return s && s->field ? cn__field_sources(s->field) : 0;
}

double cn_thermal_stage_temp_ref(void *self, cn_vec3 p_ref)
{
    thermal_stage *s = self;
    if (!s || !s->field)
        return NAN;
    return cn__field_temp(s->field, cn_mat4_apply_point(cn__field_from_ref(s->field), p_ref));
}

/* ---------------------------------------------------------------- poses */

/* ImageMmToRef of f in the stage's reference (the Reference frame when
 * tracked, the image itself otherwise). */
bool cn__stage_image_to_ref(const thermal_stage *s, const cn_frame *f, int mode, cn_mat4 *out)
{
    if (mode == REF_IMAGE) {
        *out = cn_mat4_identity();
        return true;
    }
    cn_mat4 i2r, mm2i, i2mm = cn_frame_image_to_image_mm(f);
    if (cn_frame_image_to(f, "Reference", &i2r, NULL) != CN_OK || cn_mat4_invert(&i2mm, &mm2i))
        return false;
    (void)s;
    *out = cn_mat4_mul(&i2r, &mm2i);
    return cn_mat4_is_finite(out);
}

/* CryoprobeToImageMm: the tracked cryoprobe (the one rule), else the detected
 * in-plane needle (its axis in the image plane). *detected: whether it is the
 * detected needle's. */
bool cn__stage_cryo_to_image_mm(const cn_frame *f, bool allow_tracked, cn_mat4 *out,
                                 bool *detected)
{
    *detected = false;
    if (allow_tracked && cn_frame_tool_to_image_mm(f, "Cryoprobe", out) == CN_OK &&
        cn_mat4_is_finite(out))
        return true;
    const cn_needle_result *n = &f->analysis.needle;
    if (!n->found || !isfinite(n->tip_mm.x) || !isfinite(n->tip_mm.y))
        return false;
    *detected = true;
    cn_thermal_plane pl;
    cn_thermal_plane_from_needle(n->tip_mm, n->dir, &pl);
    return cn_mat4_invert(&pl.image_mm_to_probe, out) == CN_OK;
}

int cn_thermal_plane_from_frame(const cn_frame *f, cn_thermal_plane *out)
{
    if (!f || !out)
        return CN_EINVAL;
    cn_mat4 c2mm, mm2c;
    if (cn_frame_tool_to_image_mm(f, "Cryoprobe", &c2mm) != CN_OK)
        return CN_ENOENT;
    if (!cn_mat4_is_finite(&c2mm) || cn_mat4_invert(&c2mm, &mm2c))
        return CN_EINVAL;
    out->image_mm_to_probe = mm2c;
    return CN_OK;
}

double cn_thermal_stage_temp_image(void *self, const cn_frame *f, cn_pt2 mm)
{
    thermal_stage *s = self;
    if (!s || !s->field || !f || s->grid_behind) /* a field of the past is not read */
        return NAN;
    cn_mat4 m;
    if (s->cache_ok && s->cache_seq == f->seq) {
        m = s->cache_img_to_field;
    } else {
        cn_mat4 i2r;
        if (!cn__stage_image_to_ref(s, f, s->ref_mode, &i2r))
            return NAN;
        m = cn_mat4_mul(cn__field_from_ref(s->field), &i2r);
    }
    return cn__field_temp(s->field, cn_mat4_apply_point(&m, (cn_vec3){mm.x, mm.y, 0}));
}

int cn_thermal_stage_ref_to_image_mm(void *self, const cn_frame *f, cn_mat4 *out)
{
    thermal_stage *s = self;
    if (!s || !f || !out)
        return CN_EINVAL;
    if (!s->field)
        return CN_ENOENT;
    cn_mat4 i2r;
    if (!cn__stage_image_to_ref(s, f, s->ref_mode == REF_TRACKED ? REF_TRACKED : REF_IMAGE, &i2r))
        return CN_ENOENT;
    return cn_mat4_invert(&i2r, out) == CN_OK ? CN_OK : CN_ENOENT;
}

int cn_thermal_stage_mesh_ref(void *self, double temp_c, int n_theta, int n_phi,
                              cn_thermal_mesh *out)
{
    thermal_stage *s = self;
    if (!out)
        return CN_EINVAL;
    memset(out, 0, sizeof *out);
    if (!s || !s->field || s->grid_behind)
        return CN_OK;
    int rc = cn__field_mesh(s->field, temp_c, n_theta, n_phi, out);
    if (rc)
        return rc;
    const cn_mat4 *to_ref = cn__field_to_ref(s->field);
    for (int v = 0; v < out->n_vertices; v++) {
        float *p = out->xyz + 3 * v;
        cn_vec3 q = cn_mat4_apply_point(to_ref, (cn_vec3){p[0], p[1], p[2]});
        p[0] = (float)q.x;
        p[1] = (float)q.y;
        p[2] = (float)q.z;
    }
    return CN_OK;
}

/* A steady needle line over the last second before a freeze is the shaft at rest; a line
 * that jumps (a fascia plane's end, taken for a tip) is not an anchor to trust. */
#define LINE_SPAN_NS 1000000000LL

void cn__stage_note_line(thermal_stage *s, const cn_frame *f, int64_t t_ns)
{
    const int cap = (int)(sizeof s->lines / sizeof s->lines[0]);
    const cn_needle_result *n = &f->analysis.needle;
    const int i = (s->line_head + s->n_lines) % cap;
    s->lines[i].t_ns = t_ns;
    s->lines[i].found = n->found && isfinite(n->tip_mm.x) && isfinite(n->tip_mm.y);
    s->lines[i].tip_mm = n->tip_mm;
    s->lines[i].dir = n->dir;
    if (s->n_lines < cap)
        s->n_lines++;
    else
        s->line_head = (s->line_head + 1) % cap;
}

float cn__stage_line_spread(const thermal_stage *s, const cn_needle_result *det, int64_t t_ns)
{
    const int cap = (int)(sizeof s->lines / sizeof s->lines[0]);
    int frames = 0, same = 0;
    double spread = 0;
    for (int k = 0; k < s->n_lines; k++) {
        const int i = (s->line_head + k) % cap;
        if (s->lines[i].t_ns > t_ns || t_ns - s->lines[i].t_ns > LINE_SPAN_NS)
            continue;
        frames++;
        if (!s->lines[i].found)
            continue;
        const cn_pt2 d = s->lines[i].dir;
        const double cosang = fabs(d.x * det->dir.x + d.y * det->dir.y);
        if (!(cosang >= cos(15.0 * M_PI / 180.0)))
            continue;
        same++;
        const double dx = s->lines[i].tip_mm.x - det->tip_mm.x;
        const double dy = s->lines[i].tip_mm.y - det->tip_mm.y;
        spread = fmax(spread, hypot(dx, dy));
    }
    if (frames == 0 || 2 * same < frames || same < 3)
        return INFINITY;
    return (float)spread;
}
