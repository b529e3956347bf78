/* palette.c - the colour table (see palette.h for the why). */
#include "palette/palette.h"

#include <math.h>
#include <stdio.h>

static const cn_rgb table[CN_PAL_COUNT] = {
    [CN_PAL_ISO_0] = {110, 225, 255},     [CN_PAL_ISO_20] = {50, 110, 255},
    [CN_PAL_ISO_40] = {200, 80, 255},     [CN_PAL_ISO_OTHER] = {160, 160, 160},
    [CN_PAL_NEEDLE] = {60, 235, 90},      [CN_PAL_NEEDLE_ACTIVE] = {64, 179, 255},
    [CN_PAL_NERVE] = {255, 214, 40},      [CN_PAL_ICE] = {250, 250, 255},
    [CN_PAL_NERVE_HELD] = {170, 140, 30},
    [CN_PAL_ALARM] = {255, 56, 51},       [CN_PAL_WARN] = {255, 168, 51},
    [CN_PAL_TRUTH] = {255, 120, 190},     [CN_PAL_SCALE] = {105, 115, 128},
    [CN_PAL_TEXT] = {235, 242, 250},      [CN_PAL_TEXT_DIM] = {153, 166, 179},
    [CN_PAL_GROUND] = {6, 8, 12},         [CN_PAL_GRID] = {48, 54, 64},
    [CN_PAL_FREEZE_SHADE] = {17, 31, 58}, [CN_PAL_THAW_SHADE] = {48, 35, 19},
};

cn_rgb cn_palette(cn_pal_role role)
{
    if ((int)role < 0 || role >= CN_PAL_COUNT)
        return (cn_rgb){0, 0, 0};
    return table[role];
}

void cn_palette_f(cn_pal_role role, double out[3])
{
    cn_rgb c = cn_palette(role);
    out[0] = c.r / 255.0;
    out[1] = c.g / 255.0;
    out[2] = c.b / 255.0;
}

const char *cn_palette_hex(cn_pal_role role, char out[8])
{
    cn_rgb c = cn_palette(role);
    snprintf(out, 8, "#%02x%02x%02x", c.r, c.g, c.b);
    return out;
}

cn_pal_role cn_palette_iso(float temp_c)
{
    if (!isfinite(temp_c))
        return CN_PAL_ISO_OTHER;
    if (fabsf(temp_c) <= 5.0f)
        return CN_PAL_ISO_0;
    if (fabsf(temp_c + 20.0f) <= 5.0f)
        return CN_PAL_ISO_20;
    if (fabsf(temp_c + 40.0f) <= 5.0f)
        return CN_PAL_ISO_40;
    return CN_PAL_ISO_OTHER;
}
