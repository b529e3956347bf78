/* A teacher's keys in the real windowed `cryonav replay` (under xvfb-run), on a
 * simulated session with two freezes, replayed paused from "freeze 2":
 *   N   the previous chapter (freeze 1's end): a jump back, so the analysis starts
 *       again from the first frame and catches up (the log says "back to frame");
 *   ,   a frame step back: not rewound for, and the target is neither set nor
 *       recorded again;
 *   2   freeze 2 again: a jump forward, caught up from the frame after the step.
 * Every landing at freeze 2 starts freeze 2 (never a third freeze: before the
 * fifteenth session the jump back kept the later state and "2" then counted
 * freeze 3), the recording of the replay holds the four frames shown, each
 * analysed one with the freeze cycle and phase of its place in the session, and the
 * target once. The keys go to the window from a second X connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proctor_util.h"
#include "run_util.h"
#include "seqio/seqio.h"
#include "x11_keys.h"

static int log_count(const char *path, const char *needle)
{
    char *s = pu_slurp(path, NULL);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

static void test_chapter_keys(void **st)
{
    (void)st;
    if (!getenv("DISPLAY"))
        skip();
    char dir[] = "/tmp/cn_replay_keys_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], rec[128], re[128], logp[128];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(rec, sizeof rec, "%s/live.igs.mha", dir);
    snprintf(re, sizeof re, "%s/keys.igs.mha", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    /* idle 1 s + approach 5 s at 20 frames/s: freeze 1 at frame 120, its end (and
     * the thaw) at 280, freeze 2 at 340 */
    pu_write_file(cfg, 0600,
                  "{\"source\": \"sim\", \"segment\": {\"nerve_auto\": false},\n"
                  " \"sim\": {\"seed\": 3, \"width_px\": 256, \"height_px\": 192, \"depth_mm\": 40,\n"
                  "         \"fps\": 20, \"idle_s\": 1, \"approach_s\": 5, \"withdraw_s\": 2,\n"
                  "         \"protocol\": \"custom\", \"cycles\": [[8, 3], [8, 0]],\n"
                  "         \"needle_target_offset_mm\": 0}}\n");
    static run_result R;
    const char *a1[] = {CN_CRYONAV_BIN, "run", "--headless", "--config", cfg, "--fast", "--record",
                        rec, "--no-serve", NULL};
    assert_int_equal(run_prog(a1, NULL, NULL, 240, &R), 0);
    if (R.exit_code != 0)
        fail_msg("recording the session: exit %d\n%s", R.exit_code, R.err);
    const char *argv[] = {CN_CRYONAV_BIN, "replay", rec, "--paused", "--start", "freeze 2",
                          "--record", re, "--no-serve", NULL};
    pid_t pid = pu_spawn(argv, logp, false);
    assert_true(pu_wait_log(logp, "caught up frames 0-339 before frame 340", 60000));
    assert_true(pu_wait_log(logp, "freeze_start cycle=2", 20000));
    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    Window win = xk_wait_window(dpy);
    assert_true(win != 0);
    xk_send_key(dpy, win, XK_N, true);
    assert_true(pu_wait_log(logp, "back to frame 280 from frame 340", 20000));
    assert_true(pu_wait_log(logp, "caught up frames 0-279 before frame 280", 20000));
    const int targets_logged = log_count(logp, "nerve seed set at");
    xk_send_key(dpy, win, XK_comma, false);
    cn_clock_sleep_ns(1500000000); /* a step: nothing to wait for in the log */
    assert_int_equal(log_count(logp, "back to frame"), 1);
    assert_int_equal(log_count(logp, "nerve seed set at"), targets_logged);
    xk_send_key(dpy, win, XK_2, false);
    assert_true(pu_wait_log(logp, "caught up frames 280-339 before frame 340", 20000));
    for (int i = 0; i < 100 && log_count(logp, "freeze_start cycle=2") < 2; i++)
        cn_clock_sleep_ns(100000000);
    XCloseDisplay(dpy);
    int status = pu_stop(pid, 30);
    char *log = pu_slurp(logp, NULL);
    const size_t len = log ? strlen(log) : 0;
    print_message("exit status 0x%x; the log's end:\n%s\n", status, log ? log + (len > 3000 ? len - 3000 : 0) : "");
    free(log);
    assert_true(WIFEXITED(status));
    assert_int_equal(log_count(logp, "freeze_start cycle=2"), 2);
    assert_int_equal(log_count(logp, "freeze_start cycle=3"), 0);
    /* the recording: the four frames shown, in order 340, 280, 279, 340 */
    char err[512];
    cn_seq_reader *r = cn_seq_reader_open(re, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_int_equal(cn_seq_reader_info(r)->n_frames, 4);
    static const char *const want_phase[4] = {"FREEZE", "THAW", "THAW", "FREEZE"};
    static const char *const want_cycle[4] = {"2", "1", "1", "2"};
    static const char *const want_t[4] = {"17.000000", "14.000000", "13.950000", "17.000000"};
    int targets = 0;
    for (int i = 0; i < 4; i++) {
        const cn_seq_field *fl;
        int nf = cn_seq_reader_fields(r, i, &fl, err, sizeof err);
        assert_true(nf >= 0);
        const char *ts = cn_seq_field_find(fl, nf, "Timestamp");
        const char *ana = cn_seq_field_find(fl, nf, "CryoNavAnalysed");
        const char *ph = cn_seq_field_find(fl, nf, "CryoNavPhase");
        const char *cy = cn_seq_field_find(fl, nf, "CryoNavCycle");
        const char *ev = cn_seq_field_find(fl, nf, "CryoNavEvents");
        print_message("frame %d: t %s analysed %s phase %s cycle %s events %s\n", i, ts, ana,
                      ph ? ph : "-", cy ? cy : "-", ev ? ev : "-");
        assert_non_null(ts);
        assert_string_equal(ts, want_t[i]);
        if (ana && strcmp(ana, "1") == 0) {
            assert_string_equal(ph, want_phase[i]);
            assert_string_equal(cy, want_cycle[i]);
        }
        for (const char *p = ev; p && (p = strstr(p, "target x_mm=")); p++)
            targets++;
    }
    cn_seq_reader_close(r);
    assert_int_equal(targets, 1);
    pu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_chapter_keys)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
