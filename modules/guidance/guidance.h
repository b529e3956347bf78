/*
 * guidance.h - procedure safety figures and alarms, computed on every analysed frame.
 *
 * The guidance stage runs after segment and thermal. From what they left in
 * f->analysis it derives what the clinician must act on:
 *  - coverage: the fraction of the nerve outline's area inside the lethal (-20 C)
 *    isotherm curve of the thermal model (technical success = 1, clinical.md); during
 *    the freeze the outline is the one seen before the ice shadow hid the nerve;
 *  - ice-to-skin distance: the shallowest point of the ice (the 0 C curve or the
 *    measured visible rim, whichever is shallower) above the skin line; the ice
 *    must stay >= 5 mm from the skin;
 *  - alarms (bit set in f->analysis.guidance.alarms), with hysteresis so that a
 *    value hovering at a threshold does not make an alarm flicker;
 *  - a session summary (best coverage, closest skin approach, time frozen) for
 *    reports and the HUD.
 *
 * Depends on cn_core only (pipeline.h is used for the cn_stage struct type).
 * The stage's handle is used by the analysis thread; cn_guidance_get_summary may be
 * called from any thread (the summary is guarded by a mutex).
 */
#ifndef CN_GUIDANCE_H
#define CN_GUIDANCE_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alarm bits of cn_guidance_state.alarms. */
#define CN_ALARM_ICE_NEAR_SKIN (1u << 0)        /* ice closer to the skin than allowed */
#define CN_ALARM_TRACKING_LOST (1u << 1)        /* the cryoprobe's tracker pose is invalid / gone */
#define CN_ALARM_TIP_HIDDEN (1u << 2)           /* the needle tip is in the ice shadow */
#define CN_ALARM_NERVE_LOST (1u << 3)           /* the nerve was tracked and is not found now */
#define CN_ALARM_PROTECTED_STRUCTURE (1u << 4)  /* reserved: ice reaches a no-freeze structure */

/* The isotherm taken as lethal for a nerve (thermal.md). */
#define CN_GUIDANCE_LETHAL_TEMP_C (-20.0f)

typedef struct {
    double min_skin_distance_mm; /* ICE_NEAR_SKIN when closer (default 5) */
    double skin_depth_mm;        /* depth of the skin line in image mm (default 0: the
                                    transducer face sits on the skin) */
    double hysteresis_mm;        /* the alarm clears only beyond threshold + this (0.5) */
    double grid_mm;              /* row spacing of the coverage scanline (0.1) */
    bool lock_target;            /* during freeze/thaw cover the nerve outline seen last
                                    before the freeze (the ice shadow hides the nerve);
                                    default true */
} cn_guidance_config;

void cn_guidance_config_default(cn_guidance_config *c);
/* Reads the object at path (e.g. "guidance") over c: keys min_skin_distance_mm
 * [0, 50], skin_depth_mm [0, 50], hysteresis_mm [0, 5], grid_mm [0.01, 1],
 * lock_target (bool). Unknown keys
 * and bad values are errors naming file:line:key. A missing object is CN_OK. */
int cn_guidance_config_from_json(const cn_json *doc, const char *path, cn_guidance_config *c,
                                 char *err, size_t err_len);

typedef struct {
    uint64_t frames;             /* frames processed */
    double max_coverage;         /* best coverage reached (0..1), -1 never known */
    double min_skin_distance_mm; /* closest ice-to-skin approach, NAN when no ice yet */
    double last_skin_distance_mm;/* of the last frame, NAN when no ice in it */
    double last_coverage;        /* of the last frame, -1 unknown */
    double frozen_s;             /* scene time in the FREEZE phase (all cycles) */
    double lethal_s;             /* scene time with the whole target (>= 99 %) lethal */
    uint32_t last_alarms;
    uint32_t alarms_seen;        /* every alarm bit raised in the session */
    bool target_locked;          /* the last frame covered the locked outline */
} cn_guidance_summary;

typedef struct cn_guidance cn_guidance;

/* NULL on a bad config (check it with cn_guidance_config_from_json first) or no memory. */
cn_guidance *cn_guidance_new(const cn_guidance_config *c);
void cn_guidance_free(cn_guidance *g);
/* Forgets the session history (summary, "seen before" states, hysteresis). */
void cn_guidance_reset(cn_guidance *g);
/* Computes coverage, skin distance and alarms of f into f->analysis.guidance. The
 * target is f->analysis.nerve, except during FREEZE / THAW (with lock_target) where
 * it is the outline seen last before the freeze (the first seen in it otherwise). */
int cn_guidance_process(cn_guidance *g, cn_frame *f);
/* The guidance as a pipeline stage ("guidance"); g must outlive the pipeline. */
void cn_guidance_stage(cn_guidance *g, cn_stage *out);
/* A copy of the session summary (thread-safe). */
void cn_guidance_get_summary(cn_guidance *g, cn_guidance_summary *out);

/* Fraction (0..1) of the area of polygon target inside polygon zone, both closed
 * polygons in mm (even-odd rule), computed row by row every grid_mm with exact
 * interval intersection along each row. -1 when the target has no area or an input
 * is degenerate (n < 3, non-finite points). */
double cn_guidance_coverage(const cn_pt2 *target, int n_target, const cn_pt2 *zone, int n_zone,
                            double grid_mm);

/* Short text of the active alarms for a HUD, e.g. "ICE NEAR SKIN | TIP HIDDEN";
 * "" when none. Always terminates buf; returns buf. */
const char *cn_guidance_alarm_text(uint32_t alarms, char *buf, size_t len);
/* The same with the ice-to-skin distance: "ICE 3.2 mm FROM SKIN | ...", "ICE AT SKIN"
 * when the ice reaches or crosses the skin line (distance <= 0), NAN = unknown. */
const char *cn_guidance_alarm_text_dist(uint32_t alarms, double skin_distance_mm, char *buf,
                                        size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CN_GUIDANCE_H */
