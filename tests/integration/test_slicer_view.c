/* What a 3D Slicer user sees from the real `cryonav run`, checked against the
 * user guide.
 *
 * A Slicer-like client (v2 header after a STATUS greeting) and a v1 client watch
 * a simulated procedure through a freeze. Checked:
 *   - one device name, one thing: no name arrives both as a flat outline
 *     (polylines) and as a closed surface (triangles), and every POLYDATA name
 *     always says the same frame (v2 metadata "Frame"): a Slicer model node
 *     must never flip between two objects;
 *   - the user guide's Slicer table (between the slicer-devices markers in
 *     docs/user-guide.md) lists every device that arrives, with its message
 *     type and frame, and every row marked "every frame" really arrives every
 *     frame; replies (CAPABILITY, RTS_COMMAND, ACK_, STATUS) are asked for so
 *     their rows are checked too.
 * CN_TEST_CRYONAV_BIN may point at another binary (e.g. an older build, to show
 * the test failing there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proctor_util.h"

#define TOKEN "slicer-view-token-0123456789"

typedef struct {
    char name[64], type[16], frame[24];
    int count, lines, polys;
    bool frame_changed;
} seen;

static seen S[128];
static int NS;

static seen *note(const tu_msg *m)
{
    for (int i = 0; i < NS; i++)
        if (strcmp(S[i].name, m->name) == 0 && strcmp(S[i].type, m->h.type) == 0)
            return &S[i];
    if (NS == 128)
        return NULL;
    seen *s = &S[NS++];
    memset(s, 0, sizeof *s);
    cn_strlcpy(s->name, m->name, sizeof s->name);
    cn_strlcpy(s->type, m->h.type, sizeof s->type);
    cn_strlcpy(s->frame, m->meta_frame, sizeof s->frame);
    return s;
}

static uint32_t be32(const uint8_t *q)
{
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static void collect(tu_client *c, int *images)
{
    for (int i = 0; i < c->n; i++) {
        tu_msg *m = &c->msgs[i];
        seen *s = note(m);
        if (!s)
            continue;
        s->count++;
        if (strcmp(m->h.type, "IMAGE") == 0)
            (*images)++;
        if (strcmp(m->h.type, "POLYDATA") == 0 && m->content_len >= 40) {
            if (be32(m->content + 12) > 0)
                s->lines++;
            if (be32(m->content + 20) > 0)
                s->polys++;
        }
        if (m->h.version == 2 && strcmp(s->frame, m->meta_frame) != 0)
            s->frame_changed = true;
    }
    tu_client_clear(c);
}

/* One row of the user guide's table: | `device` | TYPE | frame | when | ... | */
typedef struct {
    char device[64], type[16], frame[24], when[96];
} row;

static int read_table(row *rows, int max)
{
    char *doc = pu_slurp(CN_SOURCE_DIR "/docs/user-guide.md", NULL);
    assert_non_null(doc);
    char *b = strstr(doc, "<!-- slicer-devices:begin");
    char *e = b ? strstr(b, "<!-- slicer-devices:end") : NULL;
    if (!b || !e) {
        free(doc);
        fail_msg("docs/user-guide.md has no slicer-devices table markers");
    }
    *e = 0;
    int n = 0;
    for (char *l = strchr(b, '\n'); l && n < max; l = strchr(l + 1, '\n')) {
        char dev[64], type[16], frame[24], when[96];
        if (sscanf(l + 1, "| `%63[^`]` | %15[A-Z_] | %23[^|] | %95[^|]|", dev, type, frame, when) != 4)
            continue;
        row *r = &rows[n++];
        cn_strlcpy(r->device, dev, sizeof r->device);
        cn_strlcpy(r->type, type, sizeof r->type);
        /* trim */
        for (char *t = frame + strlen(frame); t > frame && t[-1] == ' ';)
            *--t = 0;
        cn_strlcpy(r->frame, frame, sizeof r->frame);
        cn_strlcpy(r->when, when, sizeof r->when);
    }
    free(doc);
    return n;
}

/* A row's device matches a name exactly, or up to a `<placeholder>` (ACK_<uid>). */
static bool row_matches(const row *r, const seen *s)
{
    if (strcmp(r->type, s->type) != 0)
        return false;
    const char *lt = strchr(r->device, '<');
    if (!lt)
        return strcmp(r->device, s->name) == 0;
    size_t n = (size_t)(lt - r->device);
    return strncmp(r->device, s->name, n) == 0 && strlen(s->name) > n;
}

static void test_what_slicer_sees(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_slicer_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], tok[128], logp[128], listen[64];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    pu_write_file(tok, 0600, "%s\n", TOKEN);
    pu_write_file(cfg, 0600, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s/recs\"}}\n", dir);
    int port = pu_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *bin = getenv("CN_TEST_CRYONAV_BIN") ? getenv("CN_TEST_CRYONAV_BIN") : CN_CRYONAV_BIN;
    bool old = getenv("CN_TEST_CRYONAV_BIN") != NULL;
    const char *argv[] = {bin, "run", "--config", cfg, "--listen", listen, "--frames", "100000",
                          "--time-scale", "10", old ? NULL : "--proctor-token-file", tok, NULL};
    pid_t pid = pu_spawn(argv, logp, true);
    tu_client v2, v1;
    tu_client_init(&v2, pu_connect(port, 60000));
    tu_client_init(&v1, pu_connect(port, 10000));
    assert_true(v2.fd >= 0 && v1.fd >= 0);
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_meta hello = {"dummy", "dummy"};
    cn_igtl_msg_begin(&b, &m, 2, "STATUS", "", 0, 0);
    cn_igtl_put_status(&b, 1, 0, "", "");
    cn_igtl_msg_end(&b, &m, &hello, 1);
    /* the questions a Slicer user (or module) asks */
    cn_igtl_msg_begin(&b, &m, 2, "GET_CAPABIL", "", 0, 1);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    cn_igtl_msg_begin(&b, &m, 2, "GET_STATUS", "", 0, 2);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    cn_igtl_msg_begin(&b, &m, 2, "STRING", "CMD_1", 0, 3);
    cn_igtl_put_string(&b, "<Command Name=\"RequestStatus\"/>");
    cn_igtl_msg_end(&b, &m, NULL, 0);
    cn_igtl_msg_begin(&b, &m, 2, "STRING", "ProctorLogin", 0, 4);
    cn_igtl_put_string(&b, TOKEN);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    assert_int_equal(tu_send_all(v2.fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    assert_int_equal(tu_send_command(v2.fd, 2, "command", 5, "RequestStatus", ""), 0);

    /* watch until surfaces have come twice (or 40 s), counting frames */
    int images = 0, images1 = 0;
    int64_t end = cn_clock_mono_ns() + 40000000000LL;
    while (cn_clock_mono_ns() < end) {
        tu_read(&v2, 200, NULL, NULL);
        tu_read(&v1, 1, NULL, NULL);
        collect(&v2, &images);
        collect(&v1, &images1);
        int surfaces = 0;
        for (int i = 0; i < NS; i++)
            surfaces += S[i].polys;
        if (surfaces >= 6 && images >= 20)
            break;
    }
    tu_client_free(&v2);
    tu_client_free(&v1);
    int status = pu_stop(pid, 30);
    assert_true(WIFEXITED(status));
    print_message("%d frames seen; devices:\n", images);
    for (int i = 0; i < NS; i++)
        print_message("  %-24s %-12s x%-4d frame=%-10s lines=%d polygons=%d%s\n", S[i].name,
                      S[i].type, S[i].count, S[i].frame, S[i].lines, S[i].polys,
                      S[i].frame_changed ? " FRAME CHANGED" : "");
    /* one name, one thing */
    int surfaces = 0;
    for (int i = 0; i < NS; i++) {
        if (S[i].lines && S[i].polys)
            fail_msg("%s arrives both as an outline (%d) and as a surface (%d)", S[i].name,
                     S[i].lines, S[i].polys);
        if (S[i].frame_changed)
            fail_msg("%s changes its frame", S[i].name);
        surfaces += S[i].polys;
    }
    assert_true(surfaces > 0);   /* the freeze really produced surfaces */

    /* the user guide lists it all */
    row rows[64];
    int nr = read_table(rows, 64);
    assert_true(nr >= 15);
    for (int i = 0; i < NS; i++) {
        const row *r = NULL;
        for (int k = 0; k < nr && !r; k++)
            if (row_matches(&rows[k], &S[i]))
                r = &rows[k];
        if (!r)
            fail_msg("%s (%s) is sent but not in the user guide's Slicer table", S[i].name, S[i].type);
        if (S[i].frame[0] && strcmp(r->frame, S[i].frame) != 0)
            fail_msg("%s: the guide says frame %s, it arrives in %s", S[i].name, r->frame, S[i].frame);
        if (strcmp(S[i].type, "TRANSFORM") == 0) {
            char want[64];
            snprintf(want, sizeof want, "To%s", r->frame);
            if (!strstr(S[i].name, want) && strcmp(S[i].name, "ImageToProbe") != 0)
                fail_msg("%s: the guide says it maps into %s", S[i].name, r->frame);
        }
    }
    for (int k = 0; k < nr; k++) {
        if (!strstr(rows[k].when, "every frame"))
            continue;
        const seen *s = NULL;
        for (int i = 0; i < NS && !s; i++)
            if (row_matches(&rows[k], &S[i]))
                s = &S[i];
        if (!s || s->count < images / 2)
            fail_msg("the guide says %s (%s) comes every frame: %d of %d frames", rows[k].device,
                     rows[k].type, s ? s->count : 0, images);
    }
    pu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_what_slicer_sees)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
