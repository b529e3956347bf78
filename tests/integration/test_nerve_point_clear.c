/* The nerve point forgotten, in the real windowed `cryonav run` (under an X server of
 * its own) and in a replay of its recording.
 *
 * The simulator marks its own nerve, so the session starts with a point: every
 * client gets it as POINT NerveTarget (one element, in Reference). Then:
 *   - a proctor's Slicer sending that NerveTarget back unmoved changes nothing (it
 *     used to be a new click on every frame: a loop with a connector that pushes
 *     the node it receives);
 *   - a viewer's ClearNerveTarget is refused (a proctor's right);
 *   - the operator's u key forgets the point: "operator target cleared" is
 *     recorded, NerveTarget empties, RequestStatus's NerveTargetMm says "none" (it
 *     named the point before), and no nerve is drawn (automatic mode is off, as
 *     shipped);
 *   - a logged-in proctor's POINT sets it again, and the proctor's
 *     ClearNerveTarget forgets it again ("proctor target cleared");
 *   - the recording holds both clears, no nerve between the operator's clear and
 *     the proctor's point, and a replay of it (re-analysed, re-recorded) does the
 *     same from the recorded events.
 * Before the twenty-third session nothing forgot a point once set: the dimmed cross
 * stayed for the rest of the session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proctor_util.h"
#include "run_util.h"
#include "seqio/seqio.h"
#include "x11_keys.h"

#define TOKEN "point-clear-token-0123456789"

/* Reads until a NerveTarget POINT arrives after the CryoNavEvent holding `after`
 * (NULL: any NerveTarget) and returns its element count (-1: none in time);
 * pos gets the element's position when there is one. */
static int next_target(tu_client *c, const char *after, float pos[3], int timeout_ms)
{
    bool seen = after == NULL;
    for (int k = 0; k < timeout_ms / 100; k++) {
        tu_read(c, 100, "NONE", NULL);
        for (int i = 0; i < c->n; i++) {
            const tu_msg *m = &c->msgs[i];
            if (!seen && strcmp(m->name, "CryoNavEvent") == 0 && m->content_len > 4 &&
                strstr((const char *)m->content + 4, after)) {
                print_message("event: %.*s\n", (int)m->content_len - 4, (const char *)m->content + 4);
                seen = true;
            }
            if (seen && strcmp(m->h.type, "POINT") == 0 && strcmp(m->name, "NerveTarget") == 0) {
                int n = (int)(m->content_len / 136);
                for (int a = 0; a < 3 && n > 0 && pos; a++)
                    pos[a] = pu_be_float(m->content + 100 + 4 * a);
                tu_client_clear(c);
                return n;
            }
        }
        tu_client_clear(c);
    }
    return -1;
}

/* Reads for timeout_ms: did a CryoNavEvent holding needle arrive? */
static bool saw_event(tu_client *c, const char *needle, int timeout_ms)
{
    bool seen = false;
    for (int k = 0; k < timeout_ms / 100; k++) {
        tu_read(c, 100, "NONE", NULL);
        for (int i = 0; i < c->n; i++)
            if (strcmp(c->msgs[i].name, "CryoNavEvent") == 0 && c->msgs[i].content_len > 4 &&
                strstr((const char *)c->msgs[i].content + 4, needle))
                seen = true;
        tu_client_clear(c);
    }
    return seen;
}

/* The frames of a recording between the first frame whose events hold `from` and the
 * first after it whose events hold `to`: how many were analysed and how many of
 * those show a nerve (before: frames before `from` that show one, so that none
 * between is not a session without a nerve). false when either event is missing. */
static bool nerve_between(const char *file, const char *from, const char *to, int *analysed,
                          int *with_nerve, int *before)
{
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(file, err, sizeof err);
    if (!r) {
        print_error("%s\n", err);
        return false;
    }
    const int n = cn_seq_reader_info(r)->n_frames;
    int a = -1, b = -1;
    *analysed = *with_nerve = *before = 0;
    for (int i = 0; i < n && b < 0; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        if (nf < 0)
            break;
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        if (a < 0 && ev && strstr(ev, from)) {
            a = i;
            continue;
        }
        if (a >= 0 && ev && strstr(ev, to)) {
            b = i;
            break;
        }
        /* two frames after the clear: the recorder writes a frame as it arrives and
         * its analysis with a later one, so the clear's own neighbour may hold the
         * outline of before */
        const char *ana = cn_seq_field_find(fl, nf, "CryoNavAnalysed");
        const char *nv = cn_seq_field_find(fl, nf, "CryoNavNerve");
        if (a < 0 && ana && strcmp(ana, "1") == 0 && nv)
            *before += atoi(nv) != 0;
        if (a < 0 || i < a + 2)
            continue;
        if (ana && strcmp(ana, "1") == 0 && nv) {
            (*analysed)++;
            *with_nerve += atoi(nv) != 0;
        }
    }
    cn_seq_reader_close(r);
    print_message("%s: %d frames with a nerve before \"%s\" (frame %d); up to \"%s\" (frame %d): "
                  "%d analysed, %d with a nerve\n", file, *before, from, a, to, b, *analysed,
                  *with_nerve);
    return a >= 0 && b > a;
}

static void test_forget_the_point(void **st)
{
    (void)st;
    if (!getenv("DISPLAY"))
        skip();
    char dir[] = "/tmp/cn_point_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], tok[128], logp[128], listen[64], rec[128], again[128];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    snprintf(rec, sizeof rec, "%s/rec.igs.mha", dir);
    snprintf(again, sizeof again, "%s/again.igs.mha", dir);
    pu_write_file(tok, 0600, "%s\n", TOKEN);
    pu_write_file(cfg, 0600, "{\"source\": \"sim\"}\n");
    int port = pu_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--no-fallback", "--config", cfg, "--listen", listen,
                          "--frames", "100000", "--proctor-token-file", tok, "--record", rec, NULL};
    pid_t pid = pu_spawn(argv, logp, false);
    tu_client c, p;
    tu_client_init(&c, pu_connect(port, 60000));
    assert_true(c.fd >= 0);
    tu_client_init(&p, pu_connect(port, 10000));
    assert_true(p.fd >= 0);
    tu_send_string(p.fd, 1, "ProctorLogin", TOKEN);
    tu_read(&p, 20000, "STRING", "ProctorLoginReply");
    tu_msg *lr = tu_find(&p, "STRING", "ProctorLoginReply");
    assert_non_null(lr);
    assert_non_null(strstr((char *)lr->content + 4, "OK"));
    tu_client_clear(&p);

    /* the simulator's own point, sent to every client */
    float at[3] = {0, 0, 0};
    assert_int_equal(next_target(&c, NULL, at, 60000), 1);
    print_message("NerveTarget at (%.1f, %.1f, %.1f) mm in Reference\n", at[0], at[1], at[2]);
    /* and named by RequestStatus, in image mm */
    const char *st0 = pu_command(&c, 50, "<Command Name=\"RequestStatus\"/>", 20000);
    assert_non_null(st0);
    print_message("status: %s\n", st0);
    assert_non_null(strstr(st0, "NerveTargetMm=\""));
    assert_null(strstr(st0, "NerveTargetMm=\"none\""));
    tu_client_clear(&c);

    /* a proctor's Slicer pushing the NerveTarget node it receives back to us (a
     * connector with the node among its outgoing ones): our own point at the point
     * followed is not a new click (it was, on every frame, before) */
    for (int k = 0; k < 3; k++) {
        assert_int_equal(next_target(&c, NULL, at, 20000), 1); /* the newest */
        assert_int_equal(pu_send_point(p.fd, 2, "Slicer", "NerveTarget", "NerveTarget", at), 0);
    }
    assert_false(saw_event(&c, "proctor target x_mm=", 2000));
    assert_true(pu_wait_log(logp, "proctor", 1000));

    /* a viewer cannot forget it */
    const char *r = pu_command(&c, 51, "<Command Name=\"ClearNerveTarget\"/>", 20000);
    assert_non_null(r);
    print_message("viewer: %s\n", r ? r : "(no reply)");
    assert_non_null(strstr(r, "Status=\"FAIL\""));
    tu_client_clear(&c);
    assert_int_equal(next_target(&c, NULL, NULL, 20000), 1);

    /* the operator's u key */
    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    Window win = xk_wait_window(dpy);
    assert_true(win != 0);
    xk_send_key(dpy, win, XK_u, false);
    assert_int_equal(next_target(&c, "operator target cleared", NULL, 20000), 0);
    assert_true(pu_wait_log(logp, "target cleared (operator): the nerve is no longer followed", 10000));
    for (int k = 0; k < 5; k++) /* and it stays forgotten */
        assert_int_equal(next_target(&c, NULL, NULL, 5000), 0);
    cn_clock_sleep_ns(1000000000); /* a second of frames without a point, recorded */
    const char *st1 = pu_command(&c, 53, "<Command Name=\"RequestStatus\"/>", 20000);
    assert_non_null(st1);
    assert_non_null(strstr(st1, "NerveTargetMm=\"none\""));
    tu_client_clear(&c);

    /* a proctor's point, then the proctor's ClearNerveTarget */
    assert_int_equal(pu_send_point(p.fd, 1, "Slicer", NULL, "F-1", at), 0);
    assert_int_equal(next_target(&c, "proctor target x_mm=", NULL, 20000), 1);
    r = pu_command(&p, 52, "<Command Name=\"ClearNerveTarget\"/>", 20000);
    assert_non_null(r);
    print_message("proctor: %s\n", r ? r : "(no reply)");
    assert_non_null(strstr(r, "Status=\"SUCCESS\""));
    assert_int_equal(next_target(&c, "proctor target cleared", NULL, 20000), 0);
    cn_clock_sleep_ns(500000000);
    XCloseDisplay(dpy);
    tu_client_free(&c);
    tu_client_free(&p);
    int status = pu_stop(pid, 30);
    assert_true(WIFEXITED(status));

    /* the recording: no nerve between the operator's clear and the proctor's point */
    int analysed = 0, with_nerve = 0, before = 0;
    assert_true(nerve_between(rec, "operator:target cleared", "proctor:target x_mm=", &analysed,
                              &with_nerve, &before));
    assert_true(before >= 1);
    assert_true(analysed >= 5);
    assert_int_equal(with_nerve, 0);

    /* a replay, analysed again from the recorded events, and recorded again */
    const char *rargv[] = {CN_CRYONAV_BIN, "replay", rec, "--headless", "--speed", "0", "--record",
                           again, NULL};
    static run_result rr;
    assert_int_equal(run_prog(rargv, NULL, NULL, 300, &rr), 0);
    print_message("replay exit %d\n", rr.exit_code);
    assert_int_equal(rr.exit_code, 0);
    if (!strstr(rr.err, "recorded target cleared") && !strstr(rr.out, "recorded target cleared"))
        fail_msg("the replay's log does not say it cleared the recorded target:\n%s", rr.err);
    assert_true(nerve_between(again, "operator:target cleared", "proctor:target x_mm=", &analysed,
                              &with_nerve, &before));
    assert_true(before >= 1);
    assert_true(analysed >= 5);
    assert_int_equal(with_nerve, 0);
    char err[512];
    cn_seq_reader *rd = cn_seq_reader_open(again, err, sizeof err);
    assert_non_null(rd);
    int clears = 0;
    for (int i = 0; i < cn_seq_reader_info(rd)->n_frames; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(rd, i, &fl, err, sizeof err);
        const char *ev = nf > 0 ? cn_seq_field_find(fl, nf, "CryoNavEvents") : NULL;
        for (const char *q = ev; q && (q = strstr(q, "target cleared")); q++)
            clears++;
    }
    cn_seq_reader_close(rd);
    assert_int_equal(clears, 2);
    pu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forget_the_point)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
