/*
 * cmd_thermal.h - what the two halves of `cryonav thermal` share: the parsed
 * options, the catalogue pick, and the calibration commands (cmd_thermal_fit.c:
 * fit-eval, validate, calibrate) that cmd_thermal.c dispatches to.
 */
#ifndef CN_CMD_THERMAL_H
#define CN_CMD_THERMAL_H

#include "thermal/thermal.h"

#include <stdbool.h>

typedef struct {
    const char *probe, *protocol, *tissue, *png, *geometry;
    const char *probes_json, *protocols_json, *tissues_json, *measurements;
    double every_s, h_mm, dt_s, offset_c, perfusion, surface_c, duration_s, line_sink, r0_mm;
    double obs_until_s, eval_s, noise_mm, robin_gas_c;
    long seed;
    bool list, fit_eval, validate, calibrate, held_out;
} thermal_args;

/* The probe, protocol and tissue the options name (catalogue defaults otherwise);
 * the probe is a copy with its surface as calibrated in that tissue. */
int thermal_pick(const thermal_args *a, const cn_thermal_catalog *cat, cn_cryoprobe *p,
                 const cn_protocol **q, const cn_tissue **t);
int thermal_run_fit_eval(const thermal_args *a, const cn_thermal_catalog *cat);
int thermal_run_validate(const thermal_args *a, cn_thermal_catalog *cat);
int thermal_run_calibrate(const thermal_args *a, cn_thermal_catalog *cat);

#endif
