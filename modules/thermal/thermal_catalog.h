/*
 * thermal_catalog.h - part of thermal.h (include thermal/thermal.h, not this file): what
 * the model is made of - cryoprobes, freeze/thaw protocols and tissue property sets read
 * from config/ - and the measured ice balls the probes are calibrated against.
 *
 * Its own file because it is data and its checks, with no numerics: the solver and the
 * model below only read these structs.
 */
#ifndef CN_THERMAL_CATALOG_H
#define CN_THERMAL_CATALOG_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ catalogue */

#define CN_THERMAL_NAME_MAX 64
#define CN_THERMAL_CATALOG_MAX 32
#define CN_PROTOCOL_STEPS_MAX 16

typedef enum {
    CN_PROBE_BC_DIRICHLET = 0, /* surface held at surface_temp_c after a ramp */
    CN_PROBE_BC_ROBIN = 1      /* gas at surface_temp_c through a film coefficient h */
} cn_probe_bc;

/* A probe's effective surface temperature in one medium (issue 13): the wall runs
 * colder where the medium draws less heat (aerated lung against agar or soft
 * tissue), so a probe may carry per-tissue values fitted to measurements made in
 * that tissue; a session in that tissue uses them, any other tissue the default. */
#define CN_PROBE_TISSUES_MAX 4
typedef struct {
    char tissue[CN_THERMAL_NAME_MAX]; /* a tissue of the catalogue (tissues.json) */
    double surface_temp_c;            /* the fitted effective surface temperature there */
    double surface_temp_sd_c;         /* its 1-sigma uncertainty (> 0: it is calibrated) */
} cn_probe_surface;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    char gas[16];                 /* "argon", "N2O", "CO2" */
    double outer_diameter_mm;
    double active_length_mm;      /* distal freezing segment, ends at the tip */
    cn_probe_bc bc;
    double surface_temp_c;        /* Dirichlet: surface; Robin: gas temperature */
    double ramp_s;                /* time constant of the cool-down from body temperature */
    double h_w_m2k;               /* Robin film coefficient (0 for Dirichlet) */
    double active_thaw_temp_c;    /* surface temperature during an active thaw */
    double surface_temp_sd_c;     /* calibration uncertainty of surface_temp_c (1 sigma;
                                     0 = not calibrated): the live ensemble spans +-2 of it */
    int n_by_tissue;              /* "surface_by_tissue": per-tissue overrides of the two
                                     above (Dirichlet probes only; the rest is the default,
                                     fitted in soft tissue / agar) */
    cn_probe_surface by_tissue[CN_PROBE_TISSUES_MAX];
    bool simulated;               /* "simulated": true: the simulator's needle, no product's
                                     (a live session modelling it says so) */
} cn_cryoprobe;

typedef enum {
    CN_STEP_FREEZE = 0,
    CN_STEP_PASSIVE_THAW = 1,     /* gas off: the probe neither cools nor heats */
    CN_STEP_ACTIVE_THAW = 2       /* the probe is heated to active_thaw_temp_c */
} cn_step_kind;

typedef struct {
    cn_step_kind kind;
    double duration_s;
} cn_protocol_step;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    int n_steps;
    cn_protocol_step steps[CN_PROTOCOL_STEPS_MAX];
    double extra_freeze_s;        /* suggested freeze after a reposition (0 = none) */
} cn_protocol;

typedef struct {
    char name[CN_THERMAL_NAME_MAX];
    double k_unfrozen_w_mk, k_frozen_w_mk;
    double c_unfrozen_j_kgk, c_frozen_j_kgk;
    double rho_unfrozen_kg_m3, rho_frozen_kg_m3;
    double latent_j_m3;
    double t_liquidus_c, t_solidus_c;   /* equal = a single freezing temperature */
    double perfusion_per_s;             /* w_b */
    double c_blood_j_kgk, rho_blood_kg_m3;
    double t_arterial_c, t_initial_c;
    double metabolic_w_m3;
} cn_tissue;

typedef struct {
    int n_probes, n_protocols, n_tissues;
    cn_cryoprobe probes[CN_THERMAL_CATALOG_MAX];
    cn_protocol protocols[CN_THERMAL_CATALOG_MAX];
    cn_tissue tissues[CN_THERMAL_CATALOG_MAX];
} cn_thermal_catalog;

/* The standard property set of thermal.md (k 0.5/2.0, c 3600/1800, rho 1000/998,
 * L 250 MJ/m^3, mushy -8..-1 C, w 0.0005/s, T 37 C, q_m 420 W/m^3). */
void cn_tissue_standard(cn_tissue *t);
/* Range and consistency checks; the message names the entry and the field. */
int cn_tissue_validate(const cn_tissue *t, char *err, size_t err_len);
int cn_cryoprobe_validate(const cn_cryoprobe *p, char *err, size_t err_len);
/* The probe as the needle really in the tissue: its outer diameter and active length
 * (mm), e.g. the simulator's needle, whatever probe the configuration names. The
 * calibrated surface temperature is kept (a probe of the same class). 1 when the
 * geometry changed (by more than 0.01 mm), 0 when it already was that needle, CN_EINVAL
 * for a geometry cn_cryoprobe_validate refuses (p unchanged). */
int cn_cryoprobe_set_geometry(cn_cryoprobe *p, double outer_diameter_mm, double active_length_mm);
/* The coldest a probe of this gas can be: its normal boiling point (N2O -88.5 C,
 * CO2 -78.5 C, argon -185.8 C; -INFINITY for another gas). */
double cn_cryoprobe_gas_floor_c(const char *gas);
/* The probe as it works in tissue `tissue` (a tissue name): its surface temperature
 * and uncertainty replaced by the probe's override for that tissue when it has one
 * ("surface_by_tissue" in cryoprobes.json). 1 when an override was applied, 0 when
 * the default stands (no override for that tissue, or tissue NULL). */
int cn_cryoprobe_in_tissue(cn_cryoprobe *p, const char *tissue);
/* Also rejects a protocol that never freezes. */
int cn_protocol_validate(const cn_protocol *p, char *err, size_t err_len);
double cn_protocol_duration_s(const cn_protocol *p);
/* Step kind at protocol time t (after the last step: passive thaw). */
cn_step_kind cn_protocol_kind_at(const cn_protocol *p, double t_s, double *step_elapsed_s);

/* Loads any of the three files (NULL = skip). Entries are appended, so a user file
 * can add probes after the shipped ones; a duplicate name replaces the older entry.
 * Errors name file:line: key: reason. The tissues are read first: a probe's
 * "surface_by_tissue" may only name tissues the catalogue then holds. */
int cn_thermal_catalog_load(cn_thermal_catalog *c, const char *probes_json,
                            const char *protocols_json, const char *tissues_json, char *err,
                            size_t err_len);
const cn_cryoprobe *cn_thermal_catalog_probe(const cn_thermal_catalog *c, const char *name);
const cn_protocol *cn_thermal_catalog_protocol(const cn_thermal_catalog *c, const char *name);
const cn_tissue *cn_thermal_catalog_tissue(const cn_thermal_catalog *c, const char *name);

/* ------------------------------------------------------------------ measured ice balls */

/* A published measurement (config/ice_measurements.json, calib.c): the diameter
 * of isotherm temp_c across the probe at the middle of its active segment, at_s
 * into the steps, in a medium (a tissue set, maybe at another temperature). */
typedef struct {
    char id[64];
    char probe[CN_THERMAL_NAME_MAX];
    char source[512];                 /* the citation and what was measured */
    bool derived;                     /* computed from the paper's numbers (e.g. an area ratio) */
    bool check;                       /* predicted and reported, never fitted and not held
                                       * to the 20 % ("check": true) */
    bool by_tissue;                   /* "calibrates": "surface_by_tissue": fits the probe's
                                         override for this tissue ("tissue"), in a group of
                                         its own; otherwise the probe's default surface */
    cn_tissue medium;                 /* the set the shipped catalogue is fitted with ("tissue") */
    cn_tissue own_medium;             /* "medium": the medium with its own published
                                         properties (agar, lung, ...), when given */
    bool has_own_medium;
    cn_protocol protocol;
    double temp_c, diameter_mm, at_s;
} cn_thermal_measurement;

#define CN_THERMAL_CAL_MAX 32
typedef struct {
    bool robin;                       /* the probe's law: false = Dirichlet surface
                                         temperature fitted, true = Robin film coefficient
                                         fitted behind the probe's (fixed) gas temperature */
    double surface_temp_c;            /* Dirichlet: the fitted effective surface temperature;
                                         Robin: the gas temperature (not fitted) */
    double sd_c;                      /* Dirichlet: its 1-sigma uncertainty */
    double h_w_m2k;                   /* Robin: the fitted film coefficient */
    double ln_h_sd;                   /* Robin: 1-sigma uncertainty of ln(h) */
    int n;
    double rms_rel;                   /* RMS relative diameter error at the fit */
    double single_c[CN_THERMAL_CAL_MAX]; /* Dirichlet: the temperature each measurement
                                            alone asks */
    double single_h_w_m2k[CN_THERMAL_CAL_MAX]; /* Robin: the film each alone asks */
} cn_thermal_calibration;

/* Loads the measurements; probes and tissues are names in cat. Errors name the
 * file, line and key. */
int cn_thermal_measurements_load(const char *path, const cn_thermal_catalog *cat,
                                 cn_thermal_measurement *out, int max, int *n, char *err,
                                 size_t err_len);
/* Each measurement that names its own medium is predicted in it from now on (the
 * film-law test of docs/validation.md); returns how many changed. The film law has
 * one film per probe across media, so the per-tissue groups become checks again
 * (fitted on the default group only, as the test was run). */
int cn_thermal_measurements_use_own_media(cn_thermal_measurement *ms, int n);
/* The catalogue probe as it applies to measurement m: the override of m's tissue
 * for a per-tissue ("surface_by_tissue") measurement, the default otherwise. */
void cn_thermal_measurement_probe(const cn_cryoprobe *catalogue_probe,
                                  const cn_thermal_measurement *m, cn_cryoprobe *out);
/* Whether measurements a and b calibrate the same parameter: the same probe and
 * the same group (the default surface, or the override of the same tissue). */
bool cn_thermal_measurement_same_group(const cn_thermal_measurement *a,
                                       const cn_thermal_measurement *b);
/* The model's diameter (mm) for measurement m with this probe (grid h_mm, 0 = 0.25). */
double cn_thermal_measurement_predict(const cn_cryoprobe *probe, const cn_thermal_measurement *m,
                                      double h_mm);
/* Fits probe's one parameter to the n measurements (least squares on relative
 * diameter errors) with its uncertainty: a Dirichlet probe's effective surface
 * temperature, or a Robin probe's film coefficient behind its gas temperature.
 * Slow (a few hundred model runs): an offline step, `cryonav thermal calibrate`. */
int cn_thermal_calibrate(const cn_cryoprobe *probe, const cn_thermal_measurement *ms, int n,
                         double h_mm, cn_thermal_calibration *out);

/* The film-law test (docs/validation.md): every probe with fitted (non-check)
 * measurements gets a Robin boundary with the gas at gas_c and, with fit_h_mm > 0,
 * its film coefficient fitted to them on that grid. Returns how many probes
 * changed (CN_EINVAL for bad arguments). */
int cn_thermal_catalog_use_film_law(cn_thermal_catalog *cat, double gas_c,
                                    const cn_thermal_measurement *ms, int n, double fit_h_mm);

#ifdef __cplusplus
}
#endif

#endif /* CN_THERMAL_CATALOG_H */
