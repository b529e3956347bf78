/*
 * sim.h - ultrasound + tracker simulator with ground truth (the default source).
 *
 * The simulator renders B-mode frames of a scripted cryoneurolysis: a needle
 * approaches a peripheral nerve, freeze/thaw cycles from a protocol preset grow
 * and shrink an ice ball around the tip, and the needle is withdrawn. Images are
 * formed the way ultrasound is (Rayleigh speckle shaped by a point-spread
 * function, attenuation with time-gain compensation, log compression), tracker
 * poses carry configurable noise and latency, and every frame carries its ground
 * truth (cn_truth) so segmentation and thermal work can be measured against it.
 * Rendering is a pure function of (config, seed, scene time): deterministic.
 */
#ifndef CN_SIM_H
#define CN_SIM_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_SIM_MAX_CYCLES 8

typedef struct {
    double freeze_s, thaw_s;   /* one cycle; thaw_s may be 0 for the last */
} cn_sim_cycle;

typedef struct {
    uint64_t seed;
    int width_px, height_px;   /* image size (default 640 x 480) */
    double depth_mm;           /* imaging depth: height_px maps to this */
    double fps;                /* frame rate of the live device */
    double time_scale;         /* scene seconds per real second (>= 1 speeds up) */
    /* tissue */
    double skin_mm, fat_mm;    /* skin thickness, subcutaneous fat thickness */
    /* nerve (ellipse) and artery (circle) */
    double nerve_depth_mm, nerve_lateral_mm, nerve_diameter_mm;
    int nerve_fascicles;
    double artery_depth_mm, artery_lateral_mm, artery_diameter_mm;
    /* needle (cryoprobe) */
    double needle_angle_deg;   /* to the skin surface */
    double needle_diameter_mm;
    double needle_active_mm;   /* active (freezing) length at the tip */
    double needle_target_offset_mm; /* tip stops this far short of the nerve centre */
    bool needle_right;         /* the needle enters from the right (default: left) */
    double needle_gain;        /* 0..1 scale of the needle's echoes: < 1 a faint needle */
    double needle_visible_mm;  /* > 0: only the last this-many mm of the shaft echo (the rest
                                  leaves the beam's plane): a short needle */
    bool console_silent;       /* the scripted console does not tell CryoNav its steps (a
                                  console without a link): the operator must key them */
    /* probe geometry: linear (rectangle) or curvilinear (a fan, black outside) */
    bool curvilinear;
    double sector_deg;         /* fan opening angle (curvilinear) */
    double probe_radius_mm;    /* radius of the transducer face (curvilinear) */
    /* clutter that looks like a needle to a naive detector */
    int interfaces;            /* bright near-horizontal tissue interfaces (and, with any,
                                  the transducer's reverberation bands at the top) */
    double wall_depth_mm;      /* > 0: a container wall this deep, with its reverberations */
    /* scenario timing (scene seconds) */
    double approach_s, withdraw_s, idle_s;
    double release_thaw_s;     /* after a last freeze with no thaw of its own: the
                                  passive thaw that frees the probe from the ice
                                  before it is pulled out (0: pulled out frozen) */
    int n_cycles;
    cn_sim_cycle cycles[CN_SIM_MAX_CYCLES];
    char protocol[64];         /* preset name that filled cycles, or "custom" */
    /* ice growth law: r(t) = r_max * (1 - exp(-k sqrt(t) / r_max)) for freeze time t,
     * i.e. r ~ k sqrt(t) early and saturating at r_max; thaw shrinks at thaw_mm_per_s. */
    double ice_k_mm_per_sqrt_s, ice_rmax_mm, ice_thaw_mm_per_s;
    /* tracker */
    double tracker_noise_mm, tracker_noise_deg, tracker_latency_ms;
    /* image */
    double gain_db, dynamic_range_db, attenuation_db_per_mm;
} cn_sim_config;

void cn_sim_config_defaults(cn_sim_config *c);
/* Reads the object at `path` (e.g. "sim") over the defaults; unknown keys and bad
 * values are errors naming file, line and key. CN_ENOENT is not an error here
 * (missing section = defaults): returns CN_OK. */
int cn_sim_config_from_json(const cn_json *doc, const char *path, cn_sim_config *c, char *err,
                            size_t err_len);
/* Checks ranges and consistency; a message names the field. */
int cn_sim_config_validate(const cn_sim_config *c, char *err, size_t err_len);
/* Fills cycles, n_cycles and protocol from a named preset, named and timed as the
 * thermal catalogue's protocols (config/protocols.json): "morton-150s" (one 150 s
 * freeze), "stump-6-4-6" (6 min freeze, 4 min thaw, 6 min freeze),
 * "spermatic-2x90s" (2 x 90 s freeze, 60 s passive thaw between), "phantom-3x2min"
 * (3 x 2 min freeze, 1 min thaw between), "intercostal-3min", "freeze-6min".
 * CN_ENOENT for an unknown name (c untouched). */
int cn_sim_config_set_protocol(cn_sim_config *c, const char *name);
/* The preset names, NULL-terminated. */
const char *const *cn_sim_protocol_names(void);
/* Hard needle scene number k (any k; the same k always gives the same scene): the
 * defaults with a random needle (either side, 5-60 deg, 0.5-2 mm, gain 0.4-1, half
 * of them short), 40 % curvilinear, 0-5 fascia-like interfaces, 40 % with a
 * container wall, depth 30-50 mm, nerve placed so that the final tip lies well
 * inside the image (and the fan). The development split of the needle detector is
 * scenes 1-150; its figures are reported on scenes 1001-1150 (docs/validation.md). */
int cn_sim_config_hard_scene(uint64_t k, cn_sim_config *c);

typedef struct cn_sim cn_sim;

cn_sim *cn_sim_new(const cn_sim_config *c);
void cn_sim_free(cn_sim *s);
const cn_sim_config *cn_sim_get_config(const cn_sim *s);
/* Length of the scripted scenario in scene seconds. */
double cn_sim_duration_s(const cn_sim *s);
/* Ground truth at scene time t (no image). */
void cn_sim_truth_at(const cn_sim *s, double t_scene_s, cn_truth *out);
/* Renders the frame at scene time t into f (size, spacing, pixels, poses
 * ProbeToTracker / CryoprobeToTracker / ReferenceToTracker / ImageToProbe,
 * truth). Does not touch f->seq or the timestamps: the device sets those. */
int cn_sim_render(cn_sim *s, double t_scene_s, cn_frame *f);
/* Rasterises the true nerve (1) into mask (w x h, row-major). */
void cn_sim_nerve_mask(const cn_truth *t, const double spacing_mm[2], uint8_t *mask, int w, int h);

/* The simulator as a pipeline device. realtime=true paces frames at fps (real
 * time); false renders as fast as it can (benchmarks, tests). max_frames=0 means
 * until the scenario ends (then loops if loop is set). Scene time of frame i is
 * i * time_scale / fps, so a session is reproducible frame by frame. */
typedef struct {
    bool realtime;
    bool loop;
    uint64_t max_frames;
} cn_sim_device_opts;
int cn_sim_device_make(cn_sim *s, const cn_sim_device_opts *o, cn_device *out);
/* Releases what cn_sim_device_make allocated (call after the pipeline stopped). */
void cn_sim_device_release(cn_device *dev);

/* The simulated tracker's poses at scene time t (the ones rendered frames carry,
 * with the configured latency and noise). */
void cn_sim_tracker_at(const cn_sim *s, double t_scene_s, cn_mat4 *probe_to_tracker,
                       cn_mat4 *cryoprobe_to_tracker, cn_mat4 *reference_to_tracker);
/* The simulated tracker alone, as a tracking device (devices/registry): while
 * started, a thread writes ProbeToTracker, CryoprobeToTracker and
 * ReferenceToTracker into graph rate_hz times a second, timed on the monotonic
 * clock, for scene time (now - start) x time_scale (wrapping at the end of the
 * scenario). The device has no read; its release frees the device, not s. */
typedef struct {
    double rate_hz;            /* 60 when <= 0 */
} cn_sim_tracker_opts;
int cn_sim_tracker_make(cn_sim *s, const cn_sim_tracker_opts *o, cn_xform_graph *graph,
                        cn_device *out);

#ifdef __cplusplus
}
#endif
#endif /* CN_SIM_H */
