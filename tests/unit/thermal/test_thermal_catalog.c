/*
 * test_thermal_catalog.c - the shipped catalogue loads, and a bad entry is
 * rejected naming file, line, key and reason; a user file extends and overrides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "thermal/thermal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cn_thermal_catalog cat; /* large: keep it off the stack */

static void load_shipped(void)
{
    memset(&cat, 0, sizeof cat);
    char err[512];
    int rc = cn_thermal_catalog_load(&cat, CN_SOURCE_DIR "/config/cryoprobes.json",
                                     CN_SOURCE_DIR "/config/protocols.json",
                                     CN_SOURCE_DIR "/config/tissues.json", err, sizeof err);
    if (rc)
        fail_msg("%s", err);
}

static void test_shipped(void **state)
{
    (void)state;
    load_shipped();
    assert_true(cat.n_probes >= 5);
    assert_true(cat.n_protocols >= 5);
    assert_true(cat.n_tissues >= 3);
    const cn_cryoprobe *p = cn_thermal_catalog_probe(&cat, "17G-argon-2cm");
    assert_non_null(p);
    assert_true(fabs(p->outer_diameter_mm - 1.47) < 1e-9);
    assert_true(fabs(p->active_length_mm - 20) < 1e-9);
    assert_string_equal(p->gas, "argon");
    assert_non_null(cn_thermal_catalog_probe(&cat, "1.7mm-argon"));
    assert_non_null(cn_thermal_catalog_probe(&cat, "2.4mm-argon"));
    const cn_cryoprobe *n2o = cn_thermal_catalog_probe(&cat, "N2O-handheld-22G");
    assert_non_null(n2o);
    assert_int_equal(n2o->bc, CN_PROBE_BC_ROBIN);
    assert_null(cn_thermal_catalog_probe(&cat, "no-such-probe"));
    const cn_protocol *q = cn_thermal_catalog_protocol(&cat, "stump-6-4-6");
    assert_non_null(q);
    assert_int_equal(q->n_steps, 3);
    assert_true(fabs(cn_protocol_duration_s(q) - 960) < 1e-9);
    assert_int_equal(cn_protocol_kind_at(q, 400, NULL), CN_STEP_PASSIVE_THAW);
    assert_non_null(cn_thermal_catalog_protocol(&cat, "morton-150s"));
    assert_non_null(cn_thermal_catalog_protocol(&cat, "spermatic-2x90s"));
    const cn_protocol *ph = cn_thermal_catalog_protocol(&cat, "phantom-3x2min");
    assert_non_null(ph);
    assert_int_equal(ph->n_steps, 5);
    const cn_tissue *hi = cn_thermal_catalog_tissue(&cat, "standard-high-perfusion");
    assert_non_null(hi);
    assert_true(fabs(hi->perfusion_per_s - 0.005) < 1e-12);
    assert_true(fabs(hi->k_frozen_w_mk - 2.0) < 1e-12); /* the rest is the standard set */
}

/* Writes text to a file in the build tree and tries to load it as `kind`. */
static int try_load(const char *kind, const char *text, char *err, size_t len, char *path,
                    size_t plen)
{
    snprintf(path, plen, "%s/thermal_cat_%s.json", CN_BINARY_DIR, kind);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    load_shipped();
    if (strcmp(kind, "probes") == 0)
        return cn_thermal_catalog_load(&cat, path, NULL, NULL, err, len);
    if (strcmp(kind, "protocols") == 0)
        return cn_thermal_catalog_load(&cat, NULL, path, NULL, err, len);
    return cn_thermal_catalog_load(&cat, NULL, NULL, path, err, len);
}

static void expect_error(const char *kind, const char *text, const char *needle1,
                         const char *needle2)
{
    char err[512], path[512];
    int rc = try_load(kind, text, err, sizeof err, path, sizeof path);
    print_message("  -> %s\n", err);
    assert_int_not_equal(rc, CN_OK);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, needle1));
    if (needle2)
        assert_non_null(strstr(err, needle2));
}

static void test_bad_entries(void **state)
{
    (void)state;
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"x\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.5,\n"
                 "  \"active_length_mm\": 20, \"surfce_temp_c\": -140, \"ramp_s\": 5}]}\n",
                 "surfce_temp_c", NULL);
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"x\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.5,\n"
                 "  \"active_length_mm\": 20, \"surface_temp_c\": \"cold\", \"ramp_s\": 5}]}\n",
                 "surface_temp_c", ":3");
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"x\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.5,\n"
                 "  \"surface_temp_c\": -140, \"ramp_s\": 5}]}\n",
                 "missing key \"active_length_mm\"", NULL);
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"x\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.5,\n"
                 "  \"active_length_mm\": 20, \"surface_temp_c\": 40, \"ramp_s\": 5}]}\n",
                 "surface_temp_c", NULL);
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"x\", \"gas\": \"N2O\", \"outer_diameter_mm\": 0.7,\n"
                 "  \"active_length_mm\": 5, \"boundary\": \"robin\", \"surface_temp_c\": -88, \"ramp_s\": 2}]}\n",
                 "h_w_m2k", NULL);
    expect_error("protocols",
                 "{\"protocols\": [\n {\"name\": \"neg\",\n  \"steps\": [\n"
                 "   {\"phase\": \"freeze\", \"duration_s\": -150}]}]}\n",
                 "protocols[0].steps[0].duration_s", ":4");
    expect_error("protocols",
                 "{\"protocols\": [\n {\"name\": \"idle\",\n  \"steps\": [\n"
                 "   {\"phase\": \"passive_thaw\", \"duration_s\": 150}]}]}\n",
                 "never freezes", NULL);
    expect_error("protocols",
                 "{\"protocols\": [\n {\"name\": \"p\",\n  \"steps\": [\n"
                 "   {\"phase\": \"melt\", \"duration_s\": 10}]}]}\n",
                 "phase", "melt");
    expect_error("tissues", "{\"tissues\": [\n {\"name\": \"t\", \"t_solidus_c\": 5}]}\n",
                 "t_solidus_c", NULL);
    expect_error("tissues", "{\"tissues\": {\"name\": \"t\"}}\n", "tissues", NULL);
    expect_error("tissues", "{\"tissues\": [ {\"name\": \"t\", ]}\n", "thermal_cat_tissues", NULL);
}

static void test_user_file_extends(void **state)
{
    (void)state;
    char err[512], path[512];
    int rc = try_load("probes",
                      "{\"probes\": [\n"
                      " {\"name\": \"my-probe\", \"gas\": \"CO2\", \"outer_diameter_mm\": 1.2,\n"
                      "  \"active_length_mm\": 8, \"surface_temp_c\": -78.5, \"ramp_s\": 3},\n"
                      " {\"name\": \"17G-argon-2cm\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.47,\n"
                      "  \"active_length_mm\": 20, \"surface_temp_c\": -120, \"ramp_s\": 5}]}\n",
                      err, sizeof err, path, sizeof path);
    if (rc)
        fail_msg("%s", err);
    const cn_cryoprobe *p = cn_thermal_catalog_probe(&cat, "my-probe");
    assert_non_null(p);
    assert_true(fabs(p->surface_temp_c + 78.5) < 1e-9);
    p = cn_thermal_catalog_probe(&cat, "17G-argon-2cm");
    assert_true(fabs(p->surface_temp_c + 120) < 1e-9); /* overridden, not duplicated */
    int count = 0;
    for (int i = 0; i < cat.n_probes; i++)
        count += strcmp(cat.probes[i].name, "17G-argon-2cm") == 0;
    assert_int_equal(count, 1);
}

/* A probe's own surface per tissue ("surface_by_tissue", issue 13): read with its
 * uncertainty, applied only in its tissue; a bad entry names file, probe and field. */
static void test_surface_by_tissue(void **state)
{
    (void)state;
    char err[512], path[512];
    int rc = try_load("probes",
                      "{\"probes\": [\n"
                      " {\"name\": \"my-probe\", \"gas\": \"argon\", \"outer_diameter_mm\": 1.2,\n"
                      "  \"active_length_mm\": 8, \"surface_temp_c\": -80, \"surface_temp_sd_c\": 9,\n"
                      "  \"ramp_s\": 3, \"surface_by_tissue\": {\"standard-high-perfusion\":\n"
                      "   {\"surface_temp_c\": -120, \"surface_temp_sd_c\": 14, \"calibration\": \"t\"}}}]}\n",
                      err, sizeof err, path, sizeof path);
    if (rc)
        fail_msg("%s", err);
    cn_cryoprobe p = *cn_thermal_catalog_probe(&cat, "my-probe");
    assert_int_equal(p.n_by_tissue, 1);
    assert_int_equal(cn_cryoprobe_in_tissue(&p, "standard"), 0); /* the default stands */
    assert_true(p.surface_temp_c == -80 && p.surface_temp_sd_c == 9);
    assert_int_equal(cn_cryoprobe_in_tissue(&p, NULL), 0);
    assert_int_equal(cn_cryoprobe_in_tissue(&p, "standard-high-perfusion"), 1);
    assert_true(p.surface_temp_c == -120 && p.surface_temp_sd_c == 14);

    const char *head = "{\"probes\": [\n {\"name\": \"odd-probe\", \"gas\": \"argon\", "
                       "\"outer_diameter_mm\": 1.2,\n  \"active_length_mm\": 8, \"surface_temp_c\": -80, "
                       "\"ramp_s\": 3,\n  \"surface_by_tissue\": ";
    struct {
        const char *body, *needle;
    } bad[] = {
        /* a misspelt tissue: an override that would never apply */
        {"{\"lung\": {\"surface_temp_c\": -140, \"surface_temp_sd_c\": 10}}", "surface_by_tissue.lung"},
        /* no uncertainty: the live ensemble would lose its spread */
        {"{\"standard\": {\"surface_temp_c\": -140}}", "missing key \"surface_temp_sd_c\""},
        {"{\"standard\": {\"surface_temp_c\": 40, \"surface_temp_sd_c\": 10}}",
         "surface_by_tissue.standard.surface_temp_c"},
        {"{\"standard\": {\"surface_temp_c\": -140, \"surface_temp_sd_c\": 0}}",
         "surface_by_tissue.standard.surface_temp_sd_c"},
        {"{\"standard\": {\"surface_temp_c\": -140, \"surface_temp_sd_c\": 10, \"sd\": 1}}",
         "surface_by_tissue.standard.sd"},
        {"{\"standard\": -140}", "surface_by_tissue.standard"},
        {"[-140]", "surface_by_tissue"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s}]}\n", head, bad[i].body);
        char e2[1024];
        rc = try_load("probes", text, e2, sizeof e2, path, sizeof path);
        print_message("  -> %s\n", e2);
        assert_int_not_equal(rc, CN_OK);
        assert_non_null(strstr(e2, path));          /* the file */
        assert_non_null(strstr(e2, ":4"));          /* the line */
        assert_non_null(strstr(e2, "odd-probe"));   /* the probe */
        assert_non_null(strstr(e2, bad[i].needle)); /* the field */
    }
    /* a robin probe's surface_temp_c is its gas: no per-tissue surface */
    expect_error("probes",
                 "{\"probes\": [\n {\"name\": \"film\", \"gas\": \"N2O\", \"outer_diameter_mm\": 0.7,\n"
                 "  \"active_length_mm\": 5, \"boundary\": \"robin\", \"surface_temp_c\": -88, \"ramp_s\": 2,\n"
                 "  \"h_w_m2k\": 3000, \"surface_by_tissue\": {\"standard\": {\"surface_temp_c\": -100,\n"
                 "  \"surface_temp_sd_c\": 10}}}]}\n",
                 "film", "dirichlet");
}

/* Thermal audit F7: the live ensemble spans the calibration's +-2 sigma, and for
 * the N2O probes (-88 C +- 30) that reached walls of -148 C, colder than boiling N2O
 * can make a tip: a large rim was fitted there and the -20 C radius overstated by
 * 1.8 mm. No member is colder than the gas's boiling point now; argon keeps its span. */
static void test_ensemble_within_gas_physics(void **state)
{
    (void)state;
    load_shipped();
    for (int i = 0; i < cat.n_probes; i++) {
        const cn_cryoprobe *p = &cat.probes[i];
        cn_thermal_stage_opts o;
        char err[256];
        assert_int_equal(cn_thermal_stage_opts_from_catalog(&o, &cat, p->name, NULL, NULL, err,
                                                            sizeof err),
                         CN_OK);
        const double coldest = o.probe.surface_temp_c + o.fit.offset_min_c;
        print_message("  %-20s %-6s members %.1f .. %.1f C\n", p->name, p->gas, coldest,
                      o.probe.surface_temp_c + o.fit.offset_max_c);
        assert_true(coldest >= cn_cryoprobe_gas_floor_c(p->gas) - 1e-9);
        if (strcmp(p->gas, "argon") == 0) /* far from its floor: the span is the calibration's */
            assert_true(fabs(o.fit.offset_min_c + 2 * o.probe.surface_temp_sd_c) < 1e-9);
    }
    assert_true(cn_cryoprobe_gas_floor_c("n2o") == -88.5);
    /* thermal audit F10: a user's probe with an uncertainty of 100 C (the catalogue takes
     * up to 100) failed the session at start ("surface_offset_c (|x| <= 150)"): its
     * ensemble now stays within what a model takes, with a wall that freezes */
    cn_cryoprobe *wide = &cat.probes[0];
    wide->surface_temp_sd_c = 100;
    cn_thermal_stage_opts o;
    char err[256];
    assert_int_equal(cn_thermal_stage_opts_from_catalog(&o, &cat, wide->name, NULL, NULL, err,
                                                        sizeof err),
                     CN_OK);
    assert_true(o.fit.offset_min_c >= -150 && o.fit.offset_max_c <= 150);
    assert_true(o.probe.surface_temp_c + o.fit.offset_max_c <= -10 + 1e-9);
    cn_stage st;
    if (cn_thermal_stage_new(&o, &st, err, sizeof err) != CN_OK)
        fail_msg("%s", err);
    cn_thermal_stage_free(st.self);
    assert_true(isinf(cn_cryoprobe_gas_floor_c("helium")));
}

/* Thermal audit F6: in an active thaw the heated probe melts the ice from inside;
 * the ray the live HUD radii and band use stopped 3 mm out without finding cold,
 * so a frozen ring from ~3.4 to 11.6 mm (2.4 mm probe, 600 s freeze + heat) read
 * as no ice for 260 s while the single-isotherm ray (CLI, 3-D surfaces) had it. */
static void test_active_thaw_ring_found(void **state)
{
    (void)state;
    load_shipped();
    const cn_cryoprobe *p = cn_thermal_catalog_probe(&cat, "2.4mm-argon");
    const cn_tissue *t = cn_thermal_catalog_tissue(&cat, "standard");
    assert_non_null(p);
    assert_non_null(t);
    cn_protocol q;
    memset(&q, 0, sizeof q);
    strcpy(q.name, "ring");
    q.n_steps = 2;
    q.steps[0].kind = CN_STEP_FREEZE;
    q.steps[0].duration_s = 600;
    q.steps[1].kind = CN_STEP_ACTIVE_THAW;
    q.steps[1].duration_s = 600;
    cn_thermal_model_opts mo;
    cn_thermal_model_opts_default(&mo);
    mo.h_mm = 0.5; /* as the live ensemble */
    char err[256];
    cn_thermal_model *m = cn_thermal_model_new(p, &q, t, &mo, err, sizeof err);
    if (!m)
        fail_msg("%s", err);
    const double zc = -p->active_length_mm / 2, temps[3] = {0, -20, -40};
    assert_int_equal(cn_thermal_model_advance_to(m, 900), CN_OK);
    const cn_thermal_solver *s = cn_thermal_model_solver(m);
    double single = cn_thermal_model_radius_at(m, 0, zc), multi[3];
    cn_thermal_solver_ray_isotherms(s, temps, 3, 0, zc, M_PI / 2, 120, multi);
    print_message("  300 s into the active thaw: 0 C at %.2f mm (single ray), %.2f mm (live ray); "
                  "the probe wall at %.1f C\n", single, multi[0],
                  cn_thermal_solver_temp_at(s, p->outer_diameter_mm / 2 + 0.3, zc));
    assert_true(cn_thermal_solver_temp_at(s, p->outer_diameter_mm / 2 + 0.3, zc) >
                0); /* warm core */
    assert_true(single > 5);
    assert_true(fabs(multi[0] - single) < 1.0);
    cn_thermal_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_ensemble_within_gas_physics),
        cmocka_unit_test(test_active_thaw_ring_found),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_user_file_extends),
        cmocka_unit_test(test_surface_by_tissue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
