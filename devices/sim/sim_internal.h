/*
 * sim_internal.h - what the simulator's source files share (not a public header).
 *
 * sim_config.c  defaults, presets, JSON reading, validation
 * sim_scene.c   scenario timing, ice growth, ground truth, tracker poses
 * sim_render.c  the static tissue model (cn_sim_new) and B-mode formation per frame
 * sim_device.c  the pipeline device (pacing, interrupt)
 * sim_tracker.c the tracker alone as a tracking device (poses into a transform graph)
 */
#ifndef CN_SIM_INTERNAL_H
#define CN_SIM_INTERNAL_H

#include "sim/sim.h"

#include <math.h>

#define SIM_PI 3.14159265358979323846
#define SIM_MAX_FASC 64

typedef struct {
    double x, y;
} sim_v2;

typedef struct {
    double x, y, rx, ry, ang; /* image mm */
} sim_fascicle;

/* Scene geometry derived from the configuration (image mm unless noted). */
typedef struct {
    double sp;                /* pixel spacing, mm (square) */
    double width_mm;          /* width_px * sp */
    sim_v2 nerve_c;
    double nerve_rx, nerve_ry;
    int n_fasc;
    sim_fascicle fasc[SIM_MAX_FASC];
    sim_v2 art_c;
    double art_r;             /* mean radius; pulsates by a few per cent */
    sim_v2 ndir;              /* unit needle direction, entry -> tip (right and down) */
    sim_v2 skin_entry;        /* where the needle pierces the skin (y = 0), may be x < 0 */
    sim_v2 target_tip;        /* tip position during the freezes */
    double path_len;          /* |target_tip - skin_entry| */
    double needle_vis;        /* 0..1 specular visibility at this insertion angle (linear) */
    /* curvilinear probe: the image is the fan of beams from the apex (image mm),
     * between radii r_in (the transducer face) and r_out, within +-half_sector */
    bool curved;
    sim_v2 apex;
    double r_in, r_out, half_sector; /* mm, mm, rad */
    double focus_mm;          /* transmit focus depth */
    /* scenario timeline (scene s) */
    double t_approach0, t_cycles0, t_withdraw0, t_end;
} sim_geom;

struct cn_sim {
    cn_sim_config c;
    int W, H;
    sim_geom g;
    cn_mat4 image_to_probe, probe_place, ref_place;
    /* static fields, W*H each (row-major) */
    float *c_re, *c_im;       /* fixed complex Gaussian scatterers (tissue coordinates) */
    float *E0, *S0;           /* diffuse echogenicity and coherent (specular) amplitude, no artery */
    float *T0;                /* two-way amplitude transmission down to each pixel */
    float *P_re, *P_im;       /* T0 * (E * c + S) with the artery at its mean radius */
    /* per-frame work */
    float *w_re, *w_im, *t_re, *t_im;
    float *row_ext;           /* one mirrored row for the lateral pass (2 planes) */
    /* point-spread function */
    int ax_r;                 /* axial kernel radius (px) */
    float ax_k[64];
    int lat_rmax;
    int n_lat;                /* number of distinct lateral kernels */
    float *lat_k;             /* n_lat x (2*lat_rmax+1) */
    int *lat_r;               /* radius of each lateral kernel */
    int *row_lat;             /* kernel index of each row */
    /* display */
    float *row_off;           /* per-row offset of the 8-bit mapping (gain, TGC) */
    float log_scale;          /* grey levels per log2 of intensity */
    float log2_lut[4096];     /* log2(1 + mantissa) */
    /* electronic noise: a fixed table read at a per-frame offset */
    float *noise_re, *noise_im;
    size_t noise_span;        /* offsets are drawn in [0, noise_span) */
    float noise_amp;
    uint8_t *fan;             /* curvilinear: 1 inside the fan (W*H), NULL for linear */
};

/* sim_scene.c */
void sim_geom_init(const cn_sim_config *c, int W, int H, sim_geom *g);
/* Cycle i's thaw: its own, or for a last cycle without one the console's release
 * thaw (release_thaw_s) that frees the probe before it is pulled out. */
static inline double sim_thaw_s(const cn_sim_config *c, int i)
{
    double th = c->cycles[i].thaw_s;
    return i == c->n_cycles - 1 && !(th > 0) ? c->release_thaw_s : th;
}
double sim_ice_radius(const cn_sim_config *c, const sim_geom *g, double t, cn_phase *phase,
                      int *cycle);
double sim_artery_radius(const sim_geom *g, double t);
void sim_poses(const cn_sim *s, double t, cn_frame *f);
void sim_tracker_placements(cn_sim *s);
/* Upper (transducer-side) boundary of the truth ice ellipse at image-x x_mm; false
 * when the column misses the ellipse. */
bool sim_ice_upper_y(const cn_truth *t, double x_mm, double *y_mm);

/* sim_render.c */
int sim_render_init(cn_sim *s);
void sim_render_free(cn_sim *s);
void sim_render_frame(cn_sim *s, const cn_truth *tr, double t, uint8_t *out);

/* Deterministic hashing for noise fields and per-frame seeds. */
static inline uint64_t sim_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Scene time quantised to nanoseconds: the key of everything random per frame. */
static inline uint64_t sim_time_key(double t) { return (uint64_t)(int64_t)llround(t * 1e9); }


/* Shared by the tissue model (sim_tissue.c) and image formation (sim_render.c). */
static inline double sim_gauss(double d, double w) { return exp(-(d * d) / (2 * w * w)); }
static inline double sim_smoothstep(double e0, double e1, double x)
{
    double t = fmin(fmax((x - e0) / (e1 - e0), 0), 1);
    return t * t * (3 - 2 * t);
}
/* Specular visibility of a shaft with direction d at image point (x, y) mm: falls
 * as the shaft tilts away from perpendicular to the local beam (vertical for a
 * linear probe, from the apex for a curvilinear one); a floor remains (surface
 * roughness, the tip). */
static inline double sim_needle_vis(const sim_geom *g, double dx, double dy, double x, double y)
{
    double bx = 0, by = 1;
    if (g->curved) {
        bx = x - g->apex.x;
        by = y - g->apex.y;
        double n = sqrt(bx * bx + by * by);
        if (n > 1e-9)
            bx /= n, by /= n;
        else
            bx = 0, by = 1;
    }
    /* angle between the shaft and the face-parallel direction (by, -bx) */
    double c = fabs(dx * by - dy * bx);
    double ang = acos(c > 1 ? 1 : c) * 180.0 / SIM_PI;
    double q = ang / 32.0;
    return 0.1 + 0.9 * exp(-q * q);
}
/* Smooth value noise in [0, 1) at (x, y), repeatable per seed (sim_tissue.c). */
double sim_vnoise(uint64_t seed, double x, double y);
/* The static scene: echogenicity, specular echoes and transmission (sim_tissue.c). */
void sim_build_tissue(cn_sim *s, float *alpha);
/* Echogenicity E and specular echo S of the artery (radius ra) at (x, y) mm; true
 * inside its wall or lumen. */
bool sim_artery_at(const sim_geom *g, double x, double y, double ra, float *E, float *S);

#endif /* CN_SIM_INTERNAL_H */
