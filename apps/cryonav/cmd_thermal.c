/*
 * cmd_thermal.c - `cryonav thermal`: the predicted ablation zone from the command
 * line.
 *
 *   cryonav thermal [--probe P] [--protocol Q] [--tissue T]   isotherm radii vs time
 *       (CSV on stdout) and, with --png FILE, a plot of them (freeze / thaw shaded,
 *       the palette's isotherm colours, a missing isotherm a gap);
 *   cryonav thermal --geometry planar|cylindrical|spherical --surface-temp C
 *       --duration S [--perfusion W]   the verification modes: by default the
 *       oracles' conditions, ending with one "isotherm <temp_c> <position_mm>" line
 *       per isotherm, so anyone can check the solver against thermal.md;
 *   cryonav thermal fit-eval   fitted vs unfitted prediction of the hidden deep edge
 *       on simulated sessions with perturbed true growth laws;
 *   cryonav thermal validate   the solver against every oracle and measured ice ball;
 *   cryonav thermal calibrate  fits each probe's effective surface temperature per
 *       medium group (the default, and its own surface in a tissue: surface_by_tissue;
 *       or, with --robin-gas, its film coefficient behind the gas) to the
 *       measured ice balls (config/ice_measurements.json) with its uncertainty.
 * The command only parses and prints: the physics lives in modules/thermal.
 */
#include "cmd_thermal.h"
#include "commands.h"
#include "thermal_plot.h"
#include "thermal/thermal.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *kCmd = "thermal";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cryonav thermal [--probe P] [--protocol Q] [--tissue T] [--every S]\n"
            "                       [--png FILE] [--h MM] [--dt S]\n"
            "                       [--surface-offset C] [--perfusion W] [--list]\n"
            "       cryonav thermal --geometry planar|cylindrical|spherical --surface-temp C\n"
            "                       --duration S [--perfusion W] [--line-sink W_PER_M]\n"
            "                       [--r0 MM] [--h MM] [--dt S] [--tissue T]\n"
            "       cryonav thermal fit-eval [--probe P] [--protocol Q] [--tissue T]\n"
            "                       [--obs-until S] [--eval S] [--noise MM] [--seed N]\n"
            "       cryonav thermal validate [--held-out] [--measurements FILE] [--robin-gas C]\n"
            "       cryonav thermal calibrate [--measurements FILE] [--h MM] [--robin-gas C]\n"
            "Predicted isotherm radii of a cryoprobe following a protocol (CSV on stdout: an\n"
            "empty field is an isotherm that does not exist yet), the solver's verification\n"
            "geometries, the fit evaluation, the validation against every oracle and measured ice\n"
            "ball, and the calibration of each probe's surface temperature (per medium) to those\n"
            "ice balls.\n\n"
            "options:\n"
            "  --probe P            cryoprobe (default 17G-argon-2cm; --list shows all)\n"
            "  --protocol Q         freeze protocol (default morton-150s)\n"
            "  --tissue T           tissue property set (default standard); a probe with its\n"
            "                       own surface in T (surface_by_tissue) runs that one\n"
            "  --every S            CSV row every S seconds (default 5)\n"
            "  --png FILE           also draw the radii vs time into FILE (.png); none unless asked\n"
            "  --h MM, --dt S       grid step and longest time step of the solver\n"
            "  --surface-offset C   offset to the probe's effective surface temperature (in T)\n"
            "  --perfusion W        perfusion (1/s)\n"
            "  --list               the catalogue: probes, protocols, tissues\n"
            "  --geometry G         verification: planar | cylindrical | spherical\n"
            "  --surface-temp C     verification: wall temperature\n"
            "  --duration S         verification: simulated time\n"
            "  --line-sink W_PER_M  verification: a line sink instead of a wall temperature\n"
            "  --r0 MM              verification: inner radius\n"
            "  --obs-until S, --eval S, --noise MM, --seed N   fit-eval settings\n"
            "  --probes FILE, --protocols FILE, --tissues FILE  more catalogue entries\n"
            "  --measurements FILE  validate/calibrate: measured ice balls (default\n"
            "                       config/ice_measurements.json)\n"
            "  --held-out           validate: also each measurement predicted from a fit to\n"
            "                       the other measurements of its group (probe and medium)\n"
            "  --robin-gas C        validate/calibrate: test the film law instead of the\n"
            "                       catalogue's: each measured probe gets a Robin boundary, gas\n"
            "                       at C, its film coefficient fitted, and each measurement is\n"
            "                       predicted in its own medium (\"medium\" in the file)\n"
            "  -h, --help           this help\n\n"
            "Catalogues: the shipped config/*.json, then ~/.config/cryonav/{cryoprobes,\n"
            "protocols,tissues}.json when present, then --probes/--protocols/--tissues (each\n"
            "may add or override entries). In the verification geometries the defaults are the\n"
            "oracles' conditions (single freezing temperature 0 C, no perfusion, standard\n"
            "property set, T_i 37 C).\n"
            "outputs: stdout; FILE with --png (its path is printed on stderr).\n");
}

typedef thermal_args args;

static int num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cn_app_usage_error(kCmd, "%s needs a number in [%g, %g], got '%s'", opt, lo, hi,
                                  s ? s : "(nothing)");
    *out = v;
    return 0;
}

enum { T_PROBE = 256, T_PROTOCOL, T_TISSUE, T_PNG, T_GEOMETRY, T_PROBES, T_PROTOCOLS, T_TISSUES,
       T_EVERY, T_H, T_DT, T_OFFSET, T_PERFUSION, T_SURFACE, T_DURATION, T_SINK, T_R0,
       T_OBS, T_EVAL, T_NOISE, T_SEED, T_LIST, T_MEAS, T_HELDOUT, T_ROBIN };

static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"probe", required_argument, 0, T_PROBE},       {"protocol", required_argument, 0, T_PROTOCOL},
        {"tissue", required_argument, 0, T_TISSUE},     {"png", required_argument, 0, T_PNG},
        {"geometry", required_argument, 0, T_GEOMETRY}, {"probes", required_argument, 0, T_PROBES},
        {"protocols", required_argument, 0, T_PROTOCOLS},
        {"tissues", required_argument, 0, T_TISSUES},   {"every", required_argument, 0, T_EVERY},
        {"h", required_argument, 0, T_H},               {"dt", required_argument, 0, T_DT},
        {"surface-offset", required_argument, 0, T_OFFSET},
        {"perfusion", required_argument, 0, T_PERFUSION},
        {"surface-temp", required_argument, 0, T_SURFACE},
        {"duration", required_argument, 0, T_DURATION}, {"line-sink", required_argument, 0, T_SINK},
        {"r0", required_argument, 0, T_R0},             {"obs-until", required_argument, 0, T_OBS},
        {"eval", required_argument, 0, T_EVAL},         {"noise", required_argument, 0, T_NOISE},
        {"seed", required_argument, 0, T_SEED},         {"list", no_argument, 0, T_LIST},
        {"measurements", required_argument, 0, T_MEAS}, {"held-out", no_argument, 0, T_HELDOUT},
        {"robin-gas", required_argument, 0, T_ROBIN},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->every_s = 5;
    a->h_mm = NAN;
    a->dt_s = NAN;
    a->perfusion = -1;
    a->surface_c = NAN;
    a->duration_s = NAN;
    a->r0_mm = NAN;
    a->obs_until_s = NAN;
    a->eval_s = NAN;
    a->noise_mm = 0.3;
    a->robin_gas_c = NAN;
    a->seed = 1;
    /* the sub-mode, if any, is the first word */
    int shift = 0;
    if (argc > 1 && strcmp(argv[1], "fit-eval") == 0) {
        a->fit_eval = true;
        shift = 1;
    } else if (argc > 1 && strcmp(argv[1], "validate") == 0) {
        a->validate = true;
        shift = 1;
    } else if (argc > 1 && strcmp(argv[1], "calibrate") == 0) {
        a->calibrate = true;
        shift = 1;
    }
    argc -= shift;
    argv += shift;
    optind = 1;
    opterr = 0;
    int c, rc = 0;
    double seed = 1;
    while (!rc && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *v = optarg, *o = argv[optind - 1];
        switch (c) {
        case 'h': usage(stdout); return 1;
        case T_PROBE: a->probe = v; break;
        case T_PROTOCOL: a->protocol = v; break;
        case T_TISSUE: a->tissue = v; break;
        case T_PNG: {
            static const char *const png[] = {".png", NULL};
            if (!cn_app_has_suffix(v, png))
                return cn_app_usage_error(kCmd, "--png writes a PNG image: the name must end in "
                                          ".png, not '%s'", v);
            a->png = v;
            break;
        }
        case T_GEOMETRY: a->geometry = v; break;
        case T_PROBES: a->probes_json = v; break;
        case T_PROTOCOLS: a->protocols_json = v; break;
        case T_TISSUES: a->tissues_json = v; break;
        case T_EVERY: rc = num("--every", v, 0.1, 3600, &a->every_s); break;
        case T_H: rc = num("--h", v, 0.02, 5, &a->h_mm); break;
        case T_DT: rc = num("--dt", v, 0.001, 60, &a->dt_s); break;
        case T_OFFSET: rc = num("--surface-offset", v, -150, 150, &a->offset_c); break;
        case T_PERFUSION: rc = num("--perfusion", v, 0, 0.1, &a->perfusion); break;
        case T_SURFACE: rc = num("--surface-temp", v, -273, 100, &a->surface_c); break;
        case T_DURATION: rc = num("--duration", v, 0, 7200, &a->duration_s); break;
        case T_SINK: rc = num("--line-sink", v, 0.001, 1e5, &a->line_sink); break;
        case T_R0: rc = num("--r0", v, 0.01, 20, &a->r0_mm); break;
        case T_OBS: rc = num("--obs-until", v, 5, 7200, &a->obs_until_s); break;
        case T_EVAL: rc = num("--eval", v, 5, 7200, &a->eval_s); break;
        case T_NOISE: rc = num("--noise", v, 0, 10, &a->noise_mm); break;
        case T_SEED:
            rc = num("--seed", v, 0, 1e9, &seed);
            a->seed = (long)seed;
            break;
        case T_LIST: a->list = true; break;
        case T_MEAS: a->measurements = v; break;
        case T_HELDOUT: a->held_out = true; break;
        case T_ROBIN: rc = num("--robin-gas", v, -273, -5, &a->robin_gas_c); break;
        case ':': return cn_app_usage_error(kCmd, "%s needs a value", o);
        default: return cn_app_usage_error(kCmd, "unknown option '%s'", o);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cn_app_usage_error(kCmd, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The user's catalogue file `name` in ~/.config/cryonav, or NULL when there is none. */
static const char *user_file(const char *name, char *buf, size_t len)
{
    char dir[900];
    if (!cn_app_user_config_dir(dir, sizeof dir)[0])
        return NULL;
    snprintf(buf, len, "%s/%s", dir, name);
    /* stat, not fopen: opening a FIFO there blocked `thermal` forever (input audit I3);
     * the loader says what is wrong with a file that is there */
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

static int load_catalog(const args *a, cn_thermal_catalog *cat)
{
    char p1[1024], p2[1024], p3[1024], u1[1024], u2[1024], u3[1024], err[1024];
    memset(cat, 0, sizeof *cat);
    /* layers as for the session: shipped, the user's, the command line */
    if (cn_thermal_catalog_load(cat, cn_app_data_path("config/cryoprobes.json", p1, sizeof p1),
                                cn_app_data_path("config/protocols.json", p2, sizeof p2),
                                cn_app_data_path("config/tissues.json", p3, sizeof p3), err,
                                sizeof err) ||
        cn_thermal_catalog_load(cat, user_file("cryoprobes.json", u1, sizeof u1),
                                user_file("protocols.json", u2, sizeof u2),
                                user_file("tissues.json", u3, sizeof u3), err, sizeof err) ||
        cn_thermal_catalog_load(cat, a->probes_json, a->protocols_json, a->tissues_json, err,
                                sizeof err)) {
        fprintf(stderr, "cryonav thermal: %s\n", err);
        return 2;
    }
    return 0;
}

int thermal_pick(const args *a, const cn_thermal_catalog *cat, cn_cryoprobe *p,
                 const cn_protocol **q, const cn_tissue **t)
{
    const char *pn = a->probe ? a->probe : "17G-argon-2cm";
    const char *qn = a->protocol ? a->protocol : "morton-150s";
    const char *tn = a->tissue ? a->tissue : "standard";
    const cn_cryoprobe *cp = cn_thermal_catalog_probe(cat, pn);
    *q = cn_thermal_catalog_protocol(cat, qn);
    *t = cn_thermal_catalog_tissue(cat, tn);
    if (!cp)
        return cn_app_usage_error(kCmd, "unknown probe '%s' (--list shows the catalogue)", pn);
    *p = *cp;
    cn_cryoprobe_in_tissue(p, tn); /* the surface as calibrated in this tissue */
    if (!*q)
        return cn_app_usage_error(kCmd, "unknown protocol '%s' (--list shows the catalogue)", qn);
    if (!*t)
        return cn_app_usage_error(kCmd, "unknown tissue '%s' (--list shows the catalogue)", tn);
    return 0;
}

static void list(const cn_thermal_catalog *c)
{
    printf("probes:\n");
    for (int i = 0; i < c->n_probes; i++) {
        const cn_cryoprobe *p = &c->probes[i];
        printf("  %-20s %-6s %.2f mm, active %.0f mm, %s %.1f C", p->name, p->gas,
               p->outer_diameter_mm, p->active_length_mm,
               p->bc == CN_PROBE_BC_ROBIN ? "gas (robin)" : "surface", p->surface_temp_c);
        for (int k = 0; k < p->n_by_tissue; k++) /* its own fit in these tissues */
            printf("; in %s %.1f C", p->by_tissue[k].tissue, p->by_tissue[k].surface_temp_c);
        printf("\n");
    }
    printf("protocols:\n");
    for (int i = 0; i < c->n_protocols; i++) {
        printf("  %-20s", c->protocols[i].name);
        for (int k = 0; k < c->protocols[i].n_steps; k++) {
            const cn_protocol_step *s = &c->protocols[i].steps[k];
            printf(" %s %.0f s;", s->kind == CN_STEP_FREEZE ? "freeze"
                                  : s->kind == CN_STEP_ACTIVE_THAW ? "active thaw" : "thaw",
                   s->duration_s);
        }
        printf("\n");
    }
    printf("tissues:\n");
    for (int i = 0; i < c->n_tissues; i++)
        printf("  %-24s perfusion %.4f /s, freezing %.1f..%.1f C\n", c->tissues[i].name,
               c->tissues[i].perfusion_per_s, c->tissues[i].t_solidus_c, c->tissues[i].t_liquidus_c);
}

/* Refuses a run that would take minutes (a tiny --h or --dt): a clear error, not a hang. */
static bool too_much_work(double cells, double steps)
{
    double est_s = cells * steps * 2 * 30e-9; /* ~30 ns per cell and sweep */
    if (est_s <= 120)
        return false;
    cn_app_usage_error(kCmd, "%.0f cells x %.0f steps would take about %.0f s; use a coarser "
                             "--h or a longer --dt", cells, steps, est_s);
    return true;
}

/* ---------------------------------------------------------------- probe mode */

static void print_csv(double v)
{
    if (isfinite(v))
        printf(",%.3f", v);
    else
        printf(",");
}

static int run_probe(const args *a, const cn_thermal_catalog *cat)
{
    cn_cryoprobe probe, *p = &probe;
    const cn_protocol *q;
    const cn_tissue *t;
    int rc = thermal_pick(a, cat, p, &q, &t);
    if (rc)
        return rc;
    /* the wall the offset gives (a robin probe's gas) must be one the gas can make and
     * that freezes: -150 gave an argon wall of -237 C, below argon's boiling point, and a
     * -40 C radius of 6.4 mm for 2.5 mm (thermal audit F10); the model would clamp a warm
     * one to -5 */
    const double wall_c = p->surface_temp_c + a->offset_c;
    const double floor_c = cn_cryoprobe_gas_floor_c(p->gas);
    if (wall_c > -5)
        return cn_app_usage_error(kCmd, "--surface-offset %g gives probe %s a wall at %.1f C, "
                                  "which does not freeze (at most -5 C)", a->offset_c, p->name,
                                  wall_c);
    if (wall_c < floor_c)
        return cn_app_usage_error(kCmd, "--surface-offset %g gives probe %s a wall at %.1f C, "
                                  "colder than %s can make it (%.1f C)", a->offset_c, p->name,
                                  wall_c, p->gas, floor_c);
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    if (isfinite(a->h_mm))
        mo.h_mm = a->h_mm;
    if (isfinite(a->dt_s))
        mo.dt_max_s = a->dt_s;
    mo.surface_offset_c = a->offset_c;
    mo.perfusion_per_s = a->perfusion;
    char err[512];
    cn_thermal_model *m = cn_thermal_model_new(p, q, t, &mo, err, sizeof err);
    if (!m) {
        fprintf(stderr, "cryonav thermal: %s\n", err);
        return 2;
    }
    double total = cn_protocol_duration_s(q);
    int nr = 0, nz = 0;
    cn_thermal_solver_cells(cn_thermal_model_solver(m), &nr, &nz);
    if (too_much_work((double)nr * nz, total / mo.dt_max_s)) {
        cn_thermal_model_free(m);
        return 2;
    }
    int n = (int)floor(total / a->every_s + 1e-9) + 1;
    double *tt = calloc((size_t)n, sizeof(double)), *r[3];
    for (int k = 0; k < 3; k++)
        r[k] = calloc((size_t)n, sizeof(double));
    if (!tt || !r[0] || !r[1] || !r[2]) {
        fprintf(stderr, "cryonav thermal: out of memory\n");
        cn_thermal_model_free(m);
        return 1;
    }
    double zc = -p->active_length_mm / 2;
    printf("# probe %s, protocol %s, tissue %s; radii from the probe axis at mid active "
           "segment, tip_0c_mm = 0 C extent beyond the tip; an empty radius = no such isotherm "
           "(yet); probe_temp_c empty = probe off (passive thaw)\n",
           p->name, q->name, t->name);
    printf("time_s,phase,probe_temp_c,r0c_mm,r20c_mm,r40c_mm,tip_0c_mm\n");
    const float temps[3] = {0, -20, -40};
    for (int i = 0; i < n; i++) {
        double ts = i * a->every_s;
        if (cn_thermal_model_advance_to(m, ts)) {
            fprintf(stderr, "cryonav thermal: the model failed at %.1f s\n", ts);
            cn_thermal_model_free(m);
            return 1;
        }
        tt[i] = ts;
        /* radius 0 means "no such isotherm": a gap (NaN), never a radius of 0 mm */
        for (int k = 0; k < 3; k++) {
            double rk = cn_thermal_model_radius_at(m, temps[k], zc);
            r[k][i] = rk > 0 ? rk : NAN;
        }
        double tip = cn_thermal_solver_ray_isotherm(cn_thermal_model_solver(m), 0, 0, zc, 0, 150);
        tip = tip > -zc ? tip + zc : NAN;
        cn_step_kind kind = cn_protocol_kind_at(q, ts, NULL);
        double pt = cn_thermal_model_probe_temp_c(m);
        printf("%.1f,%s,", ts, kind == CN_STEP_FREEZE ? "freeze" : kind == CN_STEP_ACTIVE_THAW ? "active_thaw" : "thaw");
        if (isfinite(pt))
            printf("%.1f", pt);
        for (int k = 0; k < 3; k++)
            print_csv(r[k][i]);
        print_csv(tip);
        printf("\n");
    }
    cn_thermal_model_free(m);
    int out = 0;
    if (a->png) /* outputs only where asked */
        out = cn_thermal_plot_radii(a->png, p, q, t, tt, r, n);
    free(tt);
    for (int k = 0; k < 3; k++)
        free(r[k]);
    return out;
}

/* ---------------------------------------------------------------- verification */

/* An isotherm that does not exist (the wall is warmer than it) is said so, never "nan". */
static void print_iso(double temp_c, double pos_mm)
{
    if (isfinite(pos_mm))
        printf("isotherm %g %.3f\n", temp_c, pos_mm);
    else
        printf("isotherm %g none\n", temp_c);
}


static int run_geometry(const args *a, const cn_thermal_catalog *cat)
{
    cn_thermal_solver_opts o;
    cn_thermal_solver_opts_default(&o);
    if (!strcmp(a->geometry, "planar"))
        o.geometry = CN_GEOM_PLANAR;
    else if (!strcmp(a->geometry, "cylindrical"))
        o.geometry = CN_GEOM_CYLINDRICAL;
    else if (!strcmp(a->geometry, "spherical"))
        o.geometry = CN_GEOM_SPHERICAL;
    else
        return cn_app_usage_error(kCmd, "--geometry must be planar, cylindrical or spherical, got '%s'",
                                  a->geometry);
    if (!isfinite(a->duration_s) || a->duration_s <= 0)
        return cn_app_usage_error(kCmd, "--duration S (> 0 s) is required with --geometry");
    bool sink = a->line_sink > 0;
    if (sink && o.geometry != CN_GEOM_CYLINDRICAL)
        return cn_app_usage_error(kCmd, "--line-sink applies to --geometry cylindrical only");
    if (!sink && !isfinite(a->surface_c))
        return cn_app_usage_error(kCmd, "--surface-temp C is required with --geometry (or --line-sink)");
    if (a->tissue) {
        const cn_tissue *t = cn_thermal_catalog_tissue(cat, a->tissue);
        if (!t)
            return cn_app_usage_error(kCmd, "unknown tissue '%s'", a->tissue);
        o.tissue = *t;
    } else {
        o.tissue.t_liquidus_c = o.tissue.t_solidus_c = 0;
        o.tissue.perfusion_per_s = 0;
        o.tissue.metabolic_w_m3 = 0;
    }
    if (a->perfusion >= 0)
        o.tissue.perfusion_per_s = a->perfusion;
    double tf = o.tissue.t_liquidus_c;
    if (!sink && !(a->surface_c < o.tissue.t_solidus_c))
        return cn_app_usage_error(kCmd, "--surface-temp %g C never freezes (it must be below %g C)",
                                  a->surface_c, o.tissue.t_solidus_c);
    o.r0_mm = isfinite(a->r0_mm) ? a->r0_mm : sink ? 0.1 : 0.735;
    o.h_mm = isfinite(a->h_mm) ? a->h_mm : 0.1;
    o.dt_max_s = isfinite(a->dt_s) ? a->dt_s : fmin(2.0, fmax(0.05, a->duration_s / 2000));
    /* domain: the largest front the oracles allow plus six diffusion lengths */
    const cn_tissue *t = &o.tissue;
    double au = t->k_unfrozen_w_mk / (t->rho_unfrozen_kg_m3 * t->c_unfrozen_j_kgk);
    double tw = sink ? -150 : a->surface_c;
    double reach = o.geometry == CN_GEOM_PLANAR
                       ? cn_oracle_neumann_isotherm_mm(t, tw, tf, tf, a->duration_s)
                       : cn_oracle_quasisteady_cylinder_mm(t, o.r0_mm, tw, tf, a->duration_s);
    if (!isfinite(reach) || sink)
        reach = 2 * sqrt(a->line_sink * a->duration_s / t->latent_j_m3 / M_PI) * 1e3 + 10;
    o.r_max_mm = fmin(400, o.r0_mm + 1.2 * reach + 6e3 * sqrt(au * a->duration_s) + 5);
    char err[512];
    if (too_much_work((o.r_max_mm - o.r0_mm) / o.h_mm, a->duration_s / o.dt_max_s))
        return 2;
    cn_thermal_solver *s = cn_thermal_solver_new(&o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "cryonav thermal: %s\n", err);
        return 2;
    }
    cn_thermal_bc bc = {CN_BC_TEMP, a->surface_c, 0, 0};
    if (sink) {
        bc.kind = CN_BC_FLUX;
        bc.flux_w_m2 = -a->line_sink / (2 * M_PI * o.r0_mm * 1e-3);
    }
    if (cn_thermal_solver_set_bc(s, &bc)) {
        fprintf(stderr, "cryonav thermal: bad boundary condition\n");
        cn_thermal_solver_free(s);
        return 2;
    }
    printf("# geometry %s, %s, tissue %s, perfusion %g /s, freezing %g..%g C, h %.3f mm, dt %.3f s\n",
           a->geometry, sink ? "line sink" : "surface temperature", a->tissue ? a->tissue : "oracle",
           t->perfusion_per_s, t->t_solidus_c, t->t_liquidus_c, o.h_mm, o.dt_max_s);
    printf("time_s,front_mm,x_m20c_mm,x_m40c_mm\n");
    bool single = t->t_liquidus_c == t->t_solidus_c;
    double every = a->duration_s / 10, done = 0;
    for (int k = 1; k <= 10; k++) {
        double tn = k == 10 ? a->duration_s : k * every;
        cn_thermal_solver_step(s, tn - done);
        done = tn;
        double front = single ? cn_thermal_solver_front_1d(s) : cn_thermal_solver_isotherm_1d(s, tf);
        printf("%.2f", tn);
        print_csv(front);
        print_csv(cn_thermal_solver_isotherm_1d(s, -20));
        print_csv(cn_thermal_solver_isotherm_1d(s, -40));
        printf("\n");
    }
    cn_thermal_energy e;
    cn_thermal_solver_energy(s, &e);
    printf("# energy (%s): stored %.6g J, through boundaries %.6g J, sources %.6g J, "
           "imbalance %.2e\n",
           o.geometry == CN_GEOM_PLANAR ? "per m^2 of wall"
           : o.geometry == CN_GEOM_SPHERICAL ? "per steradian" : "per radian and metre",
           e.stored_j, e.boundary_j,
           e.source_j, fabs(e.stored_j - e.boundary_j - e.source_j) / fmax(1e-30, fabs(e.boundary_j)));
    if (single && t->perfusion_per_s == 0 && o.geometry == CN_GEOM_PLANAR) {
        printf("# oracle (Neumann), mm: front");
        const double temps[3] = {tf, -20, -40};
        for (int k = 0; k < 3; k++) {
            double x = cn_oracle_neumann_isotherm_mm(t, a->surface_c, tf, temps[k], a->duration_s);
            if (k)
                printf(", %g C", temps[k]);
            if (isfinite(x))
                printf(" %.3f", x);
            else
                printf(" none");
        }
        printf("\n");
    }
    if (single && t->perfusion_per_s == 0 && sink)
        printf("# oracle (Paterson line sink): R %.3f mm\n",
               cn_oracle_paterson_radius_mm(t, a->line_sink, tf, a->duration_s));
    if (single && t->perfusion_per_s > 0 && o.geometry == CN_GEOM_SPHERICAL)
        printf("# oracle (steady perfusion-limited sphere): R %.3f mm (reached after ~5/w s)\n",
               cn_oracle_perfusion_sphere_mm(t, o.r0_mm, a->surface_c, tf, t->perfusion_per_s));
    /* the freezing front (exact from the frozen volume for a single freezing
     * temperature), then 0, -20 and -40 C */
    double front = single ? cn_thermal_solver_front_1d(s) : cn_thermal_solver_isotherm_1d(s, tf);
    if (tf != 0)
        print_iso(tf, front);
    print_iso(0, tf == 0 ? front : cn_thermal_solver_isotherm_1d(s, 0));
    print_iso(-20, cn_thermal_solver_isotherm_1d(s, -20));
    print_iso(-40, cn_thermal_solver_isotherm_1d(s, -40));
    cn_thermal_solver_free(s);
    return 0;
}

int cn_cmd_thermal(int argc, char **argv)
{
    args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : rc;
    cn_thermal_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return 1;
    rc = load_catalog(&a, cat);
    if (!rc) {
        if (a.list)
            list(cat);
        else if (a.validate)
            rc = thermal_run_validate(&a, cat);
        else if (a.calibrate)
            rc = thermal_run_calibrate(&a, cat);
        else if (a.fit_eval)
            rc = thermal_run_fit_eval(&a, cat);
        else if (a.geometry)
            rc = run_geometry(&a, cat);
        else
            rc = run_probe(&a, cat);
    }
    free(cat);
    return rc;
}
