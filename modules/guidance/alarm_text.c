/*
 * alarm_text.c - the short text of the active alarms for the HUD status line.
 *
 * Capital, terse words a clinician reads at a glance; the most dangerous first
 * (ice near the skin is the one complication guidance prevents directly).
 */
#include "guidance/guidance.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void append(char *buf, size_t len, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    snprintf(buf + used, len - used, "%s%s", used ? " | " : "", text);
}

const char *cn_guidance_alarm_text_dist(uint32_t alarms, double skin_distance_mm, char *buf,
                                        size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = 0;
    if (alarms & CN_ALARM_ICE_NEAR_SKIN) {
        char t[64];
        if (isfinite(skin_distance_mm) && skin_distance_mm <= 0.05)
            snprintf(t, sizeof t, "ICE AT SKIN"); /* reaches or crosses the skin line */
        else if (isfinite(skin_distance_mm) && skin_distance_mm < 1000)
            snprintf(t, sizeof t, "ICE %.1f mm FROM SKIN", skin_distance_mm);
        else
            snprintf(t, sizeof t, "ICE NEAR SKIN");
        append(buf, len, t);
    }
    if (alarms & CN_ALARM_NO_ZONE)
        append(buf, len, "FREEZING WITH NO ZONE: CRYOPROBE NOT FOUND");
    if (alarms & CN_ALARM_ANCHOR_UNSURE)
        append(buf, len, "ZONE ON AN UNSTEADY NEEDLE LINE: CHECK THE SHAFT");
    if (alarms & CN_ALARM_NO_ICE_SEEN)
        append(buf, len, "NO ICE SEEN: ZONE UNVERIFIED");
    if (alarms & CN_ALARM_ICE_GROWS_IN_THAW)
        /* the gas still on after a stop, or on again (a freeze nobody keyed): the screen
         * said "STILL ON" for both (review 39b F1); f does the right thing in either */
        append(buf, len, alarms & CN_ALARM_ICE_UNKEYED_OVER
                             ? "ICE GREW IN THAW, MELTING: A FREEZE NOT KEYED, OVER?"
                             : "ICE GROWING IN THAW: GAS ON?");
    if (alarms & CN_ALARM_ICE_GROWS_IN_THAW) /* 0x200 said with 0x40 above */
        ;
    else if ((alarms & CN_ALARM_ICE_UNKEYED) && (alarms & CN_ALARM_ICE_UNKEYED_OVER))
        append(buf, len, "ICE SEEN, MELTING: A FREEZE NOT KEYED, OVER?");
    else if (alarms & CN_ALARM_ICE_UNKEYED)
        append(buf, len, "ICE SEEN: FREEZE NOT KEYED?");
    else if (alarms & CN_ALARM_ICE_UNKEYED_OVER) /* its own words in an event (set=0x200) */
        append(buf, len, "ICE MELTING: A FREEZE NOT KEYED, OVER?");
    if (alarms & CN_ALARM_ICE_SHRINKS_IN_FREEZE)
        append(buf, len, "ICE SHRINKING IN FREEZE: GAS OFF?");
    if (alarms & CN_ALARM_PROTECTED_STRUCTURE)
        append(buf, len, "ICE IN PROTECTED STRUCTURE");
    if (alarms & CN_ALARM_TRACKING_LOST)
        append(buf, len, "TRACKING LOST");
    if (alarms & CN_ALARM_TIP_HIDDEN)
        append(buf, len, "TIP HIDDEN");
    if (alarms & CN_ALARM_NERVE_LOST)
        append(buf, len, "NERVE LOST");
    return buf;
}

const char *cn_guidance_alarm_text(uint32_t alarms, char *buf, size_t len)
{
    return cn_guidance_alarm_text_dist(alarms, NAN, buf, len);
}
