/*
 * palette.h - CryoNav's one visual language: the colour of every thing it draws.
 *
 * The same isotherm, needle, nerve, ice or alarm has the same colour on the
 * screen (modules/viewer), in snapshots, in the session report (its plots and
 * report.html) and in the thermal plots (modules/plot): a user who learned
 * "-20 C is this blue" on the screen reads a report without a legend hunt. Colours
 * are chosen for a dark background (the ultrasound image is mostly dark, so every
 * picture CryoNav makes uses the same dark ground) and to stay distinguishable
 * for the common colour-vision deficiencies: needle green, nerve yellow, ice
 * white, isotherms from light cyan (0 C) through blue (-20 C, the line a nerve
 * must reach) to violet (-40 C), alarms red. Plain C, no dependencies.
 */
#ifndef CN_PALETTE_H
#define CN_PALETTE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CN_PAL_ISO_0 = 0,     /* 0 C isotherm: the ice edge (predicted) */
    CN_PAL_ISO_20,        /* -20 C: the nerve-block threshold */
    CN_PAL_ISO_40,        /* -40 C: lethal to tissue */
    CN_PAL_ISO_OTHER,     /* any other isotherm */
    CN_PAL_NEEDLE,        /* the detected cryoprobe */
    CN_PAL_NEEDLE_ACTIVE, /* the freezing segment of the 3-D probe model */
    CN_PAL_NERVE,         /* the nerve outline, its temperature */
    CN_PAL_NERVE_HELD,    /* the nerve outline held from earlier frames (not seen now) */
    CN_PAL_ICE,           /* the ice seen on ultrasound (rim points, measured radius) */
    CN_PAL_ALARM,         /* alarms */
    CN_PAL_WARN,          /* the status line: what is missing (tracking lost ...) */
    CN_PAL_TRUTH,         /* simulator ground truth */
    CN_PAL_SCALE,         /* depth / lateral scales, image outline */
    CN_PAL_TEXT,          /* text on the dark ground */
    CN_PAL_TEXT_DIM,      /* captions, axis labels */
    CN_PAL_GROUND,        /* the dark ground of plots (and the in-plane view) */
    CN_PAL_GRID,          /* plot grid lines */
    CN_PAL_FREEZE_SHADE,  /* time plots: background while freezing */
    CN_PAL_THAW_SHADE,    /* time plots: background while thawing */
    CN_PAL_COUNT
} cn_pal_role;

typedef struct {
    uint8_t r, g, b;
} cn_rgb;

/* The colour of a role (black for an unknown role). */
cn_rgb cn_palette(cn_pal_role role);
/* The role's colour as floats in [0, 1] (VTK's convention). */
void cn_palette_f(cn_pal_role role, double out[3]);
/* "#rrggbb" (HTML/CSS) into out (8 bytes). */
const char *cn_palette_hex(cn_pal_role role, char out[8]);
/* The isotherm role of a temperature: the nearest of 0 / -20 / -40 C within 5 C,
 * else CN_PAL_ISO_OTHER. */
cn_pal_role cn_palette_iso(float temp_c);

#ifdef __cplusplus
}
#endif
#endif /* CN_PALETTE_H */
