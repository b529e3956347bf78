/*
 * test_device_registry.c - devices/registry: the kinds, choosing the image and
 * tracking devices (and the messages when the choice is wrong), the rule that
 * merges tracker poses into frames, and compositions that need no network:
 * simulator images with their own poses, a recorded PLUS file's images with the
 * simulated tracker's poses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "registry/registry.h"
#include "sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PLUS_BONE CN_SHARED_DATA_DIR "/plus/BoneUltrasound_L14.igs.mha"

static cn_device_env env_of(cn_json *cfg)
{
    cn_device_env e;
    cn_device_env_default(&e);
    e.cfg = cfg;
    snprintf(e.config_dir, sizeof e.config_dir, "%s/config", CN_SOURCE_DIR);
    e.realtime = false;
    return e;
}

static cn_json *parse(const char *text)
{
    char err[256];
    cn_json *d = cn_json_parse(text, "cfg", err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    return d;
}

/* Opening must fail and the message must contain every one of the words. */
static void expect_refused(const char *cfg_text, const char *image, const char *tracking,
                           const char *w1, const char *w2)
{
    cn_json *cfg = cfg_text ? parse(cfg_text) : NULL;
    cn_device_env e = env_of(cfg);
    cn_device_set *set = (cn_device_set *)1;
    char err[512] = "";
    int rc = cn_device_set_open(&e, image, tracking, &set, err, sizeof err);
    if (rc == CN_OK)
        fail_msg("opened %s/%s, expected a refusal (%s)", image ? image : "-",
                 tracking ? tracking : "-", w1);
    assert_null(set);
    if (!strstr(err, w1) || (w2 && !strstr(err, w2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err, w1, w2 ? w2 : "");
    cn_json_free(cfg);
}

static void test_kinds(void **st)
{
    (void)st;
    const char *names[] = {"sim", "usb", "replay", "igtl"};
    for (int i = 0; i < 4; i++) {
        const cn_device_kind *k = cn_device_kind_find(names[i]);
        assert_non_null(k);
        assert_true(k->roles & CN_DEVICE_IMAGES);
        assert_non_null(k->open);
        assert_ptr_equal(k, cn_device_kind_at(i));
    }
    assert_null(cn_device_kind_at(4));
    assert_null(cn_device_kind_find("none"));
    assert_true(cn_device_kind_find("igtl")->roles & CN_DEVICE_POSES);
    assert_true(cn_device_kind_find("sim")->roles & CN_DEVICE_POSES);
    assert_false(cn_device_kind_find("usb")->roles & CN_DEVICE_POSES);
}

static void test_choice_errors(void **st)
{
    (void)st;
    expect_refused("{\"source\": \"telepathy\"}", NULL, NULL, "cfg:1: source", "unknown source");
    expect_refused("{\"tracking\": \"usb\"}", NULL, NULL, "tracking", "gives no poses");
    expect_refused("{\n\"tracking\": 3}", NULL, NULL, "cfg:2: tracking", NULL);
    expect_refused(NULL, "sim", "optitrack", "--tracking", "known: none, sim, igtl");
    expect_refused(NULL, "none", NULL, "--source", "unknown source 'none'");
    /* OpenIGTLink: "image" must agree with the role it is opened for */
    expect_refused("{\"source\": \"igtl\", \"igtl\": {\"source\": {\"image\": false}}}", NULL,
                   NULL, "igtl.source.image is false", "\"tracking\": \"igtl\"");
    expect_refused("{\"tracking\": \"igtl\", \"igtl\": {\"source\": {\"image\": true}}}", NULL,
                   NULL, "igtl.source.image is true", "\"source\": \"igtl\"");
    expect_refused("{\"igtl\": {\"source\": {\"host\": \"no-such-host.invalid\"}}}", "sim", "igtl",
                   "no-such-host.invalid", "IPv4");
}

/* The command line wins over the config; the same kind twice is one device. */
static void test_names_and_defaults(void **st)
{
    (void)st;
    cn_json *cfg = parse("{\"source\": \"usb\", \"tracking\": \"igtl\",\n"
                         " \"sim\": {\"width_px\": 160, \"height_px\": 120}}");
    cn_device_env e = env_of(cfg);
    cn_device_set *set;
    char err[256];
    assert_int_equal(cn_device_set_open(&e, "sim", "sim", &set, err, sizeof err), CN_OK);
    assert_string_equal(cn_device_set_name(set), "sim");
    assert_string_equal(cn_device_set_tracking_kind(set), "none");
    assert_null(cn_device_set_graph(set)); /* the simulator's frames carry their poses */
    assert_non_null(cn_device_set_sim(set));
    assert_null(cn_device_set_usb(set));
    cn_device_set_free(set);
    cn_json_free(cfg);

    cfg = parse("{\"tracking\": \"none\", \"sim\": {\"width_px\": 160, \"height_px\": 120}}");
    e = env_of(cfg);
    assert_int_equal(cn_device_set_open(&e, NULL, NULL, &set, err, sizeof err), CN_OK);
    assert_string_equal(cn_device_set_name(set), "sim");
    cn_device_set_free(set);
    cn_json_free(cfg);
}

static cn_mat4 pose(double ax, double ay, double az, double deg, double x, double y, double z)
{
    cn_mat4 r = cn_mat4_rotation_axis_angle((cn_vec3){ax, ay, az}, deg * M_PI / 180.0);
    cn_mat4 t = cn_mat4_translation(x, y, z);
    return cn_mat4_mul(&t, &r);
}

static void expect_pose(const cn_frame *f, const char *name, const cn_mat4 *m, bool valid)
{
    const cn_pose *p = cn_frame_get_pose(f, name);
    if (!p)
        fail_msg("%s missing", name);
    assert_int_equal(p->valid, valid);
    if (valid && cn_mat4_max_abs_diff(&p->m, m) > 1e-9)
        fail_msg("%s differs by %g", name, cn_mat4_max_abs_diff(&p->m, m));
}

static void test_merge_rules(void **st)
{
    (void)st;
    cn_frame_pool *pool = cn_frame_pool_new(1, 16, 16);
    cn_frame *f = cn_frame_pool_acquire(pool);
    const int64_t t = 5000000000LL;
    cn_mat4 p2r = pose(1, 0, 0, 30, 10, 20, 30), c2r = pose(0, 1, 0, -20, 1, 2, 3),
            i2p = cn_mat4_mul((cn_mat4[]){cn_mat4_translation(-8, 0, 0)},
                              (cn_mat4[]){cn_mat4_scale(0.1, 0.1, 0.1)}),
            id = cn_mat4_identity();

    /* 1. A PlusServer sending everything relative to Reference. */
    cn_xform_graph *g = cn_xform_graph_new();
    cn_xform_graph_set(g, "ProbeToReference", &p2r, t - 10000000, true);
    cn_xform_graph_set(g, "ProbeToReference", &p2r, t + 10000000, true);
    cn_xform_graph_set(g, "CryoprobeToReference", &c2r, t, true);
    cn_xform_graph_set(g, "ImageToProbe", &i2p, CN_XFORM_STATIC, true);
    cn_frame_set_pose(f, "ProbeToTracker", &id, true); /* the image device's own: replaced */
    unsigned fl = cn_device_merge_poses(g, t, f);
    assert_int_equal(fl, CN_MERGE_REFERENCE_AS_TRACKER);
    expect_pose(f, "ProbeToTracker", &p2r, true);
    expect_pose(f, "CryoprobeToTracker", &c2r, true);
    expect_pose(f, "ReferenceToTracker", &id, true);
    expect_pose(f, "ImageToProbe", &i2p, true);
    /* ... so the image lands where the server's Reference scene has it */
    cn_mat4 i2ref, want = cn_mat4_mul(&p2r, &i2p);
    assert_int_equal(cn_frame_image_to(f, "Reference", &i2ref, NULL), CN_OK);
    assert_true(cn_mat4_max_abs_diff(&i2ref, &want) < 1e-9);
    /* stale by more than the graph's 200 ms hold: present, invalid */
    fl = cn_device_merge_poses(g, t + 500000000, f);
    assert_true(fl & CN_MERGE_LOST);
    expect_pose(f, "ProbeToTracker", NULL, false);
    expect_pose(f, "CryoprobeToTracker", NULL, false);
    cn_xform_graph_free(g);

    /* 2. A tracker with a reference: Stylus (mapped to Cryoprobe) relative to
     * Reference joins the Tracker through ReferenceToTracker. */
    f->n_poses = 0;
    cn_mat4 r2t = pose(0, 0, 1, 45, 100, 0, -50), p2t = pose(1, 1, 0, 10, 5, 5, 5);
    g = cn_xform_graph_new();
    cn_xform_graph_set(g, "ReferenceToTracker", &r2t, t, true);
    cn_xform_graph_set(g, "ProbeToTracker", &p2t, t, true);
    cn_xform_graph_set(g, "CryoprobeToReference", &c2r, t, true);
    fl = cn_device_merge_poses(g, t, f);
    assert_int_equal(fl, 0);
    cn_mat4 c2t = cn_mat4_mul(&r2t, &c2r);
    expect_pose(f, "CryoprobeToTracker", &c2t, true);
    expect_pose(f, "ReferenceToTracker", &r2t, true);
    expect_pose(f, "ProbeToTracker", &p2t, true);
    assert_null(cn_frame_get_pose(f, "ImageToProbe")); /* nobody knows it */
    /* the tracker loses the reference: what depends on it is invalid */
    cn_xform_graph_set(g, "ReferenceToTracker", &r2t, t + 1000000, false);
    fl = cn_device_merge_poses(g, t + 1000000, f);
    expect_pose(f, "CryoprobeToTracker", NULL, false);
    expect_pose(f, "ProbeToTracker", &p2t, true);
    cn_xform_graph_free(g);

    /* 3. Mixed and unjoinable: ProbeToTracker but a cryoprobe relative to a
     * Reference nothing links to the Tracker: left out and reported. */
    f->n_poses = 0;
    g = cn_xform_graph_new();
    cn_xform_graph_set(g, "ProbeToTracker", &p2t, t, true);
    cn_xform_graph_set(g, "CryoprobeToReference", &c2r, t, true);
    fl = cn_device_merge_poses(g, t, f);
    assert_int_equal(fl, CN_MERGE_UNLINKED);
    assert_null(cn_frame_get_pose(f, "CryoprobeToTracker"));
    assert_null(cn_frame_get_pose(f, "ReferenceToTracker"));
    expect_pose(f, "ProbeToTracker", &p2t, true);

    /* 4. The image device's calibration wins over the graph's. */
    cn_xform_graph_set(g, "ImageToProbe", &i2p, CN_XFORM_STATIC, true);
    cn_frame_set_pose(f, "ImageToProbe", &id, true);
    cn_device_merge_poses(g, t, f);
    expect_pose(f, "ImageToProbe", &id, true);
    cn_xform_graph_free(g);

    /* 5. An empty graph (nothing received yet) removes the image device's
     * tracker poses and adds nothing: "no tracking", not stale poses. */
    f->n_poses = 0;
    cn_frame_set_pose(f, "CryoprobeToTracker", &id, true);
    g = cn_xform_graph_new();
    assert_int_equal(cn_device_merge_poses(g, t, f), 0);
    assert_int_equal(f->n_poses, 0);
    cn_xform_graph_free(g);

    cn_frame_unref(f);
    assert_int_equal(cn_frame_pool_free(pool), CN_OK);
}

static void test_self_connect_refused(void **st)
{
    (void)st;
    char err[512];
    struct {
        const char *host;
        int port;
        const char *listen;
        int lport;
        bool refused;
    } cases[] = {
        {"127.0.0.1", 18944, "127.0.0.1", 18944, true},
        {"localhost", 18944, "127.0.0.1", 18944, true},   /* a name for the same address */
        {"127.1", 18944, "127.0.0.1", 18944, true},       /* the short form */
        {"127.0.0.1", 18944, "0.0.0.0", 18944, true},     /* wildcard listener */
        {"127.0.0.2", 18944, "0.0.0.0", 18944, true},     /* any loopback alias reaches it */
        {"127.0.0.1", 18945, "127.0.0.1", 18944, false},  /* another port */
        {"127.0.0.2", 18944, "127.0.0.1", 18944, false},  /* a socket bound to .1 does not
                                                             receive connections to .2 */
        {"127.0.0.1", 18944, "127.0.0.1", 0, false},      /* no server */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"sim\": {\"width_px\": 160, \"height_px\": 120},\n"
                 " \"igtl\": {\"source\": {\"host\": \"%s\", \"port\": %d}}}",
                 cases[i].host, cases[i].port);
        cn_json *cfg = parse(text);
        cn_device_env e = env_of(cfg);
        cn_strlcpy(e.listen_addr, cases[i].listen, sizeof e.listen_addr);
        e.listen_port = cases[i].lport;
        cn_device_set *set = NULL;
        err[0] = 0;
        int rc = cn_device_set_open(&e, "igtl", NULL, &set, err, sizeof err);
        if (cases[i].refused) {
            if (rc == CN_OK || !strstr(err, "own OpenIGTLink server") || !strstr(err, "--listen"))
                fail_msg("case %zu (%s:%d vs %s:%d): rc %d, '%s'", i, cases[i].host,
                         cases[i].port, cases[i].listen, cases[i].lport, rc, err);
        } else if (rc != CN_OK) {
            fail_msg("case %zu refused: %s", i, err);
        }
        cn_device_set_free(set);
        /* the same for the tracking role */
        set = NULL;
        rc = cn_device_set_open(&e, "sim", "igtl", &set, err, sizeof err);
        assert_int_equal(rc == CN_OK, !cases[i].refused);
        cn_device_set_free(set);
        cn_json_free(cfg);
    }
}

/* Simulator images without a tracking device keep the simulator's poses; the
 * composed device reads, stops and releases like any device. */
static void test_sim_images_own_poses(void **st)
{
    (void)st;
    cn_json *cfg = parse("{\"sim\": {\"width_px\": 160, \"height_px\": 120}}");
    cn_device_env e = env_of(cfg);
    e.max_frames = 2;
    cn_device_set *set;
    char err[256];
    assert_int_equal(cn_device_set_open(&e, NULL, NULL, &set, err, sizeof err), CN_OK);
    cn_device d = cn_device_set_device(set);
    assert_non_null(d.read);
    assert_non_null(d.release);
    assert_string_equal(d.name, "sim");
    cn_frame_pool *pool = cn_frame_pool_new(2, 160, 120);
    assert_int_equal(d.start(d.self), CN_OK);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_int_equal(d.read(d.self, f), CN_OK);
    cn_mat4 p2t, c2t, r2t;
    cn_sim_tracker_at(cn_device_set_sim(set), (double)f->t_scene_ns / 1e9, &p2t, &c2t, &r2t);
    expect_pose(f, "ProbeToTracker", &p2t, true);
    expect_pose(f, "CryoprobeToTracker", &c2t, true);
    cn_frame_unref(f);
    d.stop(d.self);
    d.release(d.self);
    assert_int_equal(cn_frame_pool_free(pool), CN_OK);
    cn_json_free(cfg);
}

/* A recorded PLUS file's images with the simulated tracker's poses: the
 * recording's own ProbeToTracker is replaced by the tracker's at each frame's
 * acquisition time, the recording's StylusToTracker is kept. */
static void test_replay_images_sim_tracking(void **st)
{
    (void)st;
    cn_json *cfg = parse("{\"sim\": {\"width_px\": 160, \"height_px\": 120}}");
    cn_device_env e = env_of(cfg);
    cn_strlcpy(e.replay_path, PLUS_BONE, sizeof e.replay_path);
    cn_device_set *set;
    char err[256];
    assert_int_equal(cn_device_set_open(&e, "replay", "sim", &set, err, sizeof err), CN_OK);
    assert_string_equal(cn_device_set_name(set), "replay+sim");
    assert_null(cn_device_set_sim(set)); /* the tracker's simulator is not the image source */
    assert_non_null(cn_device_set_replay(set));
    cn_device d = cn_device_set_device(set);
    cn_frame_pool *pool = cn_frame_pool_new(2, 1024, 1024);
    assert_int_equal(d.start(d.self), CN_OK);
    cn_clock_sleep_ns(100000000); /* a few tracker samples before the first image */
    for (int i = 0; i < 3; i++) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        assert_int_equal(d.read(d.self, f), CN_OK);
        assert_int_equal(f->width, 820);
        const cn_pose *p = cn_frame_get_pose(f, "ProbeToTracker");
        assert_non_null(p);
        assert_true(p->valid);
        /* the simulated probe hangs at (85, -120, 310) mm, breathing < 0.4 mm; the
         * recording's probe was at (258, -53, 26) */
        if (fabs(p->m.m[3] - 85) > 1 || fabs(p->m.m[7] + 120) > 1 || fabs(p->m.m[11] - 310) > 1)
            fail_msg("frame %d: ProbeToTracker at (%g, %g, %g)", i, p->m.m[3], p->m.m[7],
                     p->m.m[11]);
        assert_non_null(cn_frame_get_pose(f, "CryoprobeToTracker"));
        assert_non_null(cn_frame_get_pose(f, "StylusToTracker")); /* not a tracker pose */
        cn_frame_unref(f);
    }
    d.stop(d.self);
    cn_device_set_free(set);
    assert_int_equal(cn_frame_pool_free(pool), CN_OK);
    cn_json_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_choice_errors),
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_self_connect_refused),
        cmocka_unit_test(test_sim_images_own_poses),
        cmocka_unit_test(test_replay_images_sim_tracking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
