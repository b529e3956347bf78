/*
 * igtl_frame_pack.c - one analysed frame -> the OpenIGTLink messages a viewer needs.
 *
 * The idea: the proctor's Slicer scene is expressed in one frame, Reference
 * (configurable), as PlusServer does. Per frame we send
 *   IMAGE  <image_name>_<Ref>  the B-mode placed by ImageToRef (centre origin),
 *   TRANSFORM <A>To<Ref>       for every tracked tool A (AToTracker composed
 *                              with the inverse of RefToTracker),
 *   TRANSFORM of other poses as they are (ImageToProbe, the calibration),
 *   POLYDATA  Isotherm<T>COutline: one polyline per isotherm, placed in 3-D in
 *              Ref through the image plane (the closed surfaces are another
 *              message, Isotherm<T>CSurface, also in Reference where the ice is: distinct
 *              names, so a Slicer model node never flips between the two), with
 *              ZoneAnchor (tracked-probe / needle-line) in v2 metadata,
 *   POLYDATA  NerveContour with the nerve state (found / held / hidden) and its
 *              confidence (NerveConfidence, 0.00-1.00) in v2 metadata, an empty one
 *              when there is no nerve (the model clears),
 *   POINT  NerveTarget        the operator's nerve point while one is set (none: an
 *                             empty POINT), with the nerve's state in v2 metadata,
 *   STRING NerveState         found / held / hidden / none, for v1 clients too,
 *   STRING ZoneState          what the predicted zone stands on: tracked-probe /
 *                             needle-line / waiting-for-probe (a freeze, the
 *                             cryoprobe not known) / catching-up (no zone for a
 *                             moment: a step keyed late, the outlines sent empty) /
 *                             none,
 *   STRING CryoNavLatency     periodically.
 * The fall-backs mirror the viewer (viewer_geom.c): no ReferenceToTracker ->
 * the scene is in Tracker; no ProbeToTracker -> the image is sent flat in its
 * own frame (Image_Image, PLUS's name for an untracked image). In a v2 header
 * transforms carry TransformStatus OK/INVALID metadata; v1 has no way to say
 * INVALID, so invalid poses are simply not sent there.
 */
#include "guidance/guidance.h"
#include "igtl_priv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* The last valid matrix sent under name, or NULL; a valid m (not NULL) becomes it. */
static const cn_mat4 *last_pose(cn_igtl_server *s, const char *name, const cn_mat4 *m)
{
    int i = 0;
    while (i < s->n_last_pose && strcmp(s->last_pose[i].name, name) != 0)
        i++;
    if (m) {
        const int cap = (int)(sizeof s->last_pose / sizeof s->last_pose[0]);
        if (i == s->n_last_pose) {
            if (i == cap) /* full (tools come and go): the oldest entry makes room */
                memmove(&s->last_pose[0], &s->last_pose[1], sizeof s->last_pose[0] * (size_t)--i);
            else
                s->n_last_pose++;
            cn_strlcpy(s->last_pose[i].name, name, sizeof s->last_pose[i].name);
        }
        s->last_pose[i].m = *m;
    }
    return i < s->n_last_pose ? &s->last_pose[i].m : NULL;
}

/* b NULL: only remembers a valid pose. */
static int put_xform(cn_igtl_server *s, cn_igtl_buf *b, int version, const char *name,
                     const cn_mat4 *m, bool valid, uint64_t ts)
{
    const cn_mat4 *sent = last_pose(s, name, valid ? m : NULL);
    if (!b || (!valid && (version == 1 || !sent)))
        return CN_OK;
    cn_igtl_msg msg;
    int r = cn_igtl_msg_begin(b, &msg, version, "TRANSFORM", name, ts, ++s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_transform(b, sent);
    cn_igtl_meta meta = {"TransformStatus", valid ? "OK" : "INVALID"};
    if (r == CN_OK)
        r = cn_igtl_msg_end(b, &msg, &meta, 1);
    return r;
}

/* Every pose of f but the scene frame's own, in the scene frame (ref, trk2ref). */
static int put_xforms(cn_igtl_server *s, const cn_frame *f, const char *ref,
                      const cn_mat4 *trk2ref, int version, cn_igtl_buf *b, uint64_t ts)
{
    char ref2trk_name[CN_XFORM_NAME_MAX]; /* the configured scene frame's own pose */
    snprintf(ref2trk_name, sizeof ref2trk_name, "%sToTracker", s->o.reference_frame);
    int r = CN_OK;
    for (int i = 0; i < f->n_poses && r == CN_OK; i++) {
        const cn_pose *p = &f->poses[i];
        bool valid = p->valid && cn_mat4_is_finite(&p->m);
        if (strcmp(p->name, ref2trk_name) == 0)
            continue;   /* the scene frame itself */
        if (ends_with(p->name, "ToTracker")) {
            char name[CN_XFORM_NAME_MAX];
            size_t n = strlen(p->name) - strlen("ToTracker");
            snprintf(name, sizeof name, "%.*sTo%s", (int)n, p->name, ref);
            cn_mat4 m = valid ? cn_mat4_mul(trk2ref, &p->m) : cn_mat4_identity();
            r = put_xform(s, b, version, name, &m, valid, ts);
        } else {
            r = put_xform(s, b, version, p->name, &p->m, valid, ts);
        }
    }
    return r;
}

void cn__igtl_remember_poses(cn_igtl_server *s, const cn_frame *f)
{
    const char *ref = s->o.reference_frame;
    cn_mat4 trk2ref = cn_mat4_identity();
    if (cn_frame_tracker_to(f, ref, &trk2ref) != CN_OK)
        ref = "Tracker";
    put_xforms(s, f, ref, &trk2ref, 2, NULL, 0);
}

/* Image-mm polyline (x right, y down; pixel centre i at x = (i + 0.5) * sx, core's
 * one rule) -> 3-D points in Ref through mm2ref = ImageToRef * ImageMmToImage. */
static int put_curve(cn_igtl_server *s, cn_igtl_buf *b, int version, const char *name,
                     const cn_pt2 *pts, int n, bool closed, const cn_mat4 *mm2ref, uint64_t ts,
                     const cn_igtl_meta *meta, int n_meta, bool send_empty)
{
    if (n < 2 && !send_empty)
        return CN_OK;
    if (n > CN_CONTOUR_MAX)
        n = CN_CONTOUR_MAX;
    float xyz[CN_CONTOUR_MAX][3];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y))
            continue;
        cn_vec3 p = cn_mat4_apply_point(mm2ref, (cn_vec3){pts[i].x, pts[i].y, 0});
        xyz[k][0] = (float)p.x;
        xyz[k][1] = (float)p.y;
        xyz[k][2] = (float)p.z;
        k++;
    }
    if (k < 2 && !send_empty)
        return CN_OK;
    cn_igtl_polyline line = {0, k, closed};
    cn_igtl_msg msg;
    int r = cn_igtl_msg_begin(b, &msg, version, "POLYDATA", name, ts, ++s->msg_id);
    if (r == CN_OK)
        r = k >= 2 ? cn_igtl_put_polylines(b, (const float(*)[3])xyz, k, &line, 1)
                   : cn_igtl_put_polylines(b, NULL, 0, NULL, 0);
    if (r == CN_OK)
        r = cn_igtl_msg_end(b, &msg, meta, n_meta);
    return r;
}

void cn_igtl_isotherm_name(char *out, size_t len, double temp_c, bool surface)
{
    snprintf(out, len, "Isotherm%ldC%s", lrint(temp_c), surface ? "Surface" : "Outline");
}

/* What the predicted zone stands on, as ZoneState says it and the isotherm outlines'
 * ZoneAnchor (there "unknown" for the last two). */
static const char *zone_state(const cn_thermal_result *th)
{
    if (th->valid && th->catching_up_s > 0)
        return "catching-up";
    if (th->valid && th->anchor == CN_ZONE_ON_NEEDLE_LINE)
        return "needle-line";
    if (th->valid && th->anchor == CN_ZONE_ON_TRACKED_PROBE)
        return "tracked-probe";
    return th->waiting ? "waiting-for-probe" : "none";
}

static const char *nerve_state(const cn_contour *n)
{
    return n->hidden ? "hidden" : n->held ? "held" : n->found ? "found" : "none";
}

/* The operator's nerve point (a click, the configuration's seed or a proctor's
 * POINT), where the nerve stage keeps looking, as it follows the nerve: one element
 * in the scene frame, or none when no point is set, so a receiver's list empties
 * when the operator clears it (as NerveContour empties). A Slicer proctor gets a
 * markups point; with NerveState beside it they see "lost here" as the viewer's
 * dimmed cross says it. */
static int put_target(cn_igtl_server *s, cn_igtl_buf *b, int version, const cn_analysis *a,
                      const cn_mat4 *mm2ref, uint64_t ts, const cn_igtl_meta *meta, int n_meta)
{
    cn_igtl_point p;
    memset(&p, 0, sizeof p);
    int n = 0;
    const cn_pt2 t = a->nerve_target_mm;
    if (a->nerve_target_set && isfinite(t.x) && isfinite(t.y)) {
        cn_vec3 q = cn_mat4_apply_point(mm2ref, (cn_vec3){t.x, t.y, 0});
        if (isfinite(q.x) && isfinite(q.y) && isfinite(q.z) && fabs(q.x) < 1e7 &&
            fabs(q.y) < 1e7 && fabs(q.z) < 1e7) {
            cn_strlcpy(p.name, "NerveTarget", sizeof p.name);
            cn_strlcpy(p.group, "CryoNav", sizeof p.group);
            memcpy(p.rgba, (const uint8_t[4]){255, 210, 0, 255}, 4); /* the nerve's yellow */
            p.pos[0] = (float)q.x;
            p.pos[1] = (float)q.y;
            p.pos[2] = (float)q.z;
            p.radius = 1.5f; /* the viewer's cross: 1.5 mm arms */
            n = 1;
        }
    }
    if (n == 1 && s->hub) {
        /* so a client sending it back is known to echo it (cn_proctor_target_sent) */
        double sent[3] = {p.pos[0], p.pos[1], p.pos[2]};
        cn_proctor_target_sent(s->hub, sent);
    }
    cn_igtl_msg msg;
    int r = cn_igtl_msg_begin(b, &msg, version, "POINT", "NerveTarget", ts, ++s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_points(b, &p, n);
    if (r == CN_OK)
        r = cn_igtl_msg_end(b, &msg, meta, n_meta);
    return r;
}

int cn__igtl_pack_frame(cn_igtl_server *s, const cn_frame *f, int version, cn_igtl_buf *b)
{
    if (!f->pixels || f->width <= 0 || f->height <= 0)
        return CN_EINVAL;
    uint64_t ts = cn_igtl_ts_from_wall_ns(f->wall_ns > 0 ? f->wall_ns : cn_clock_wall_ns());

    /* Scene frame and Tracker -> Ref. */
    const char *ref = s->o.reference_frame;
    cn_mat4 trk2ref = cn_mat4_identity();
    if (cn_frame_tracker_to(f, ref, &trk2ref) != CN_OK)
        ref = "Tracker";
    cn_strlcpy(s->scene_ref, ref, sizeof s->scene_ref);

    /* Image pose: untracked images go flat in their own frame (Image_Image). */
    cn_mat4 img2ref;
    const char *img_frame = cn_frame_image_to(f, ref, &img2ref, NULL) == CN_OK ? ref : "Image";

    int r = CN_OK;
    if (s->o.send_image) {
        char name[CN_XFORM_NAME_MAX];
        snprintf(name, sizeof name, "%s_%s", s->o.image_name, img_frame);
        cn_igtl_msg msg;
        r = cn_igtl_msg_begin(b, &msg, version, "IMAGE", name, ts, ++s->msg_id);
        if (r == CN_OK)
            r = cn_igtl_put_image_u8(b, f->width, f->height, f->pixels, &img2ref);
        if (r == CN_OK)
            r = cn_igtl_msg_end(b, &msg, NULL, 0);
        if (r != CN_OK)
            return r;
    }

    /* Transforms. */
    if (r == CN_OK)
        r = put_xforms(s, f, ref, &trk2ref, version, b, ts);

    /* Isotherm outlines and the nerve outline, in the scene frame. */
    if (r == CN_OK && s->o.send_polydata && f->analysed) {
        const cn_analysis *a = &f->analysis;
        cn_igtl_meta fm = {"Frame", img_frame};
        cn_mat4 i2mm = cn_frame_image_to_image_mm(f), mm2i = cn_mat4_identity();
        cn_mat4_invert(&i2mm, &mm2i);
        cn_mat4 mm2ref = cn_mat4_mul(&img2ref, &mm2i);
        int n_iso = a->n_iso < 0 ? 0 : (a->n_iso > CN_ISO_MAX ? CN_ISO_MAX : a->n_iso);
        /* what the zone stands on: a proctor must know a zone placed on a needle line
         * the image analysis found (no tracked cryoprobe) from one on the tracked probe */
        char aconf[16] = "";
        const cn_thermal_result *th = &a->thermal;
        bool on_line = th->valid && th->anchor == CN_ZONE_ON_NEEDLE_LINE;
        if (on_line && isfinite(th->anchor_confidence))
            snprintf(aconf, sizeof aconf, "%.2f",
                     fmin(1.0, fmax(0.0, (double)th->anchor_confidence)));
        /* one reading of the zone's anchor for the outlines' metadata and ZoneState */
        const char *zs = zone_state(th);
        bool anchored = on_line || strcmp(zs, "tracked-probe") == 0;
        cn_igtl_meta im[3] = {fm, {"ZoneAnchor", anchored ? zs : "unknown"},
                              {"ZoneAnchorConfidence", aconf}};
        for (int i = 0; i < n_iso && r == CN_OK; i++) {
            char name[32];
            cn_igtl_isotherm_name(name, sizeof name, a->iso[i].temp_c, false);
            int n = a->iso[i].n < 0 ? 0 : a->iso[i].n;
            /* a curve gone (the ice melted, the -40 C line first) is sent empty while
             * there is a model: before, a proctor kept its last outline */
            r = put_curve(s, b, version, name, a->iso[i].pts_mm, n,
                          cn_curve_closes(a->iso[i].pts_mm, n), &mm2ref, ts, im,
                          aconf[0] ? 3 : 2, th->valid);
        }
        /* a model but no curves on this frame (it catches up a step keyed late in 3-D,
         * the image is not placed): the outlines a proctor holds are cleared, not left
         * as the zone before */
        static const float zone_temps[3] = CN_ZONE_TEMPS_C;
        for (int i = 0; i < 3 && n_iso == 0 && th->valid && r == CN_OK; i++) {
            char name[32];
            cn_igtl_isotherm_name(name, sizeof name, zone_temps[i], false);
            r = put_curve(s, b, version, name, NULL, 0, false, &mm2ref, ts, im, 2, true);
        }
        const char *ns = nerve_state(&a->nerve);
        bool has = strcmp(ns, "none") != 0;
        /* the finder's confidence (0..1, two decimals) as the viewer shows it, so a
         * proctor reads "held at 0.41" the way the clinician does */
        char conf[16];
        float c = a->nerve.confidence;
        snprintf(conf, sizeof conf, "%.2f", isfinite(c) ? (c < 0 ? 0.0 : c > 1 ? 1.0 : (double)c) : 0.0);
        cn_igtl_meta nm[3] = {{"NerveState", ns}, {"Frame", img_frame}, {"NerveConfidence", conf}};
        if (r == CN_OK)
            r = put_curve(s, b, version, "NerveContour", a->nerve.pts_mm,
                          has && a->nerve.n > 0 ? a->nerve.n : 0, true, &mm2ref, ts, nm, has ? 3 : 2,
                          true);
        if (r == CN_OK)
            r = put_target(s, b, version, a, &mm2ref, ts, nm, 2);
        cn_igtl_msg msg;
        if (r == CN_OK)
            r = cn_igtl_msg_begin(b, &msg, version, "STRING", CN_IGTL_STR_NERVE_STATE, ts, ++s->msg_id);
        if (r == CN_OK)
            r = cn_igtl_put_string(b, ns);
        if (r == CN_OK)
            r = cn_igtl_msg_end(b, &msg, NULL, 0);
        /* the zone's state every frame, for v1 clients too: a proctor sees a freeze with
         * no zone (the cryoprobe not known) as that, not as curves that never come */
        if (r == CN_OK)
            r = cn_igtl_msg_begin(b, &msg, version, "STRING", CN_IGTL_STR_ZONE_STATE, ts, ++s->msg_id);
        if (r == CN_OK)
            r = cn_igtl_put_string(b, zs);
        if (r == CN_OK)
            r = cn_igtl_msg_end(b, &msg, NULL, 0);
    }

    /* Periodic latency figure (rides with a frame: a slow client loses it with
     * the frame instead of accumulating reports). */
    if (r == CN_OK && s->report_latency && cn_stats_count(s->lat_ms) > 0) {
        char text[160];
        snprintf(text, sizeof text,
                 "acq_to_sent_ms_p50=%.2f acq_to_sent_ms_p99=%.2f pack_ms_p50=%.2f clients=%d",
                 cn_stats_percentile(s->lat_ms, 50), cn_stats_percentile(s->lat_ms, 99),
                 cn_stats_percentile(s->pack_ms, 50), s->n_clients);
        cn_igtl_msg msg;
        r = cn_igtl_msg_begin(b, &msg, version, "STRING", CN_IGTL_STR_LATENCY, ts, ++s->msg_id);
        if (r == CN_OK)
            r = cn_igtl_put_string(b, text);
        if (r == CN_OK)
            r = cn_igtl_msg_end(b, &msg, NULL, 0);
    }
    return r;
}

int cn__igtl_frame_events(cn_igtl_server *s, const cn_frame *f,
                          char (*out)[CN_IGTL_EVENT_TEXT_MAX], int max)
{
    int n = 0;
    if (!f->analysed)
        return 0;
    const cn_guidance_state *g = &f->analysis.guidance;
    if (s->have_prev) {
        const cn_guidance_state *p = &s->prev;
        if (g->phase != p->phase && n < max) {
            if (g->phase == CN_PHASE_FREEZE)
                snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "FreezeStarted cycle=%d", g->cycle);
            else if (p->phase == CN_PHASE_FREEZE)
                snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "FreezeStopped cycle=%d phase=%s",
                         p->cycle,
                         cn_phase_name(g->phase));
            else
                snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "Phase %s cycle=%d",
                         cn_phase_name(g->phase), g->cycle);
        }
        if (g->cycle != p->cycle && n < max)
            snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "Cycle %d", g->cycle);
        if (g->alarms != p->alarms && n < max) {
            /* the bits, then the words the operator's screen shows (without the
             * skin distance, which changes while the bits do not) */
            char words[200];
            cn_guidance_alarm_text(g->alarms, words, sizeof words);
            snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "Alarms 0x%08x%s%s", (unsigned)g->alarms,
                     words[0] ? " " : "",
                     words);
        }
    }
    /* the procedure events of this frame (a proctor's note, an operator's mark,
     * ...), as recorded: "<source> <text>" */
    for (int i = 0; i < f->analysis.n_events && i < CN_EVENTS_MAX && n < max; i++)
        snprintf(out[n++], CN_IGTL_EVENT_TEXT_MAX, "%s %s",
                 cn_event_source_name(f->analysis.events[i].source), f->analysis.events[i].text);
    s->prev = *g;
    s->have_prev = true;
    return n;
}

cn_igtl_packet *cn__igtl_string_packet(cn_igtl_server *s, int version, const char *device,
                                       const char *text)
{
    cn_igtl_packet *p = cn__igtl_packet_get(s);
    if (!p)
        return NULL;
    cn_igtl_msg msg;
    int r = cn_igtl_msg_begin(&p->buf, &msg, version, "STRING", device,
                              cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), ++s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_string(&p->buf, text);
    if (r == CN_OK)
        r = cn_igtl_msg_end(&p->buf, &msg, NULL, 0);
    if (r != CN_OK) {
        cn__igtl_packet_unref(s, p);
        return NULL;
    }
    return p;
}
