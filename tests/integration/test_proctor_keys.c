/* The operator revokes a proctor with a key, in the real windowed `cryonav run`
 * (under an X server of its own): `x` disconnects the logged-in proctor and locks proctor
 * logins (the right token is refused, the log says so), `X` unlocks them. With
 * personal accounts, Tab selects one connected proctor and `k` revokes just that
 * account: its connection closes, the other proctor stays and still commands,
 * and the revoke is logged and recorded as an event. The key goes to the
 * navigator's window from a second X connection, as a keyboard would send it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proctor_util.h"
#include "x11_keys.h"

#define TOKEN "keys-test-token-0123456789"

static const char *login_with(tu_client *c, const char *token)
{
    static char reply[200];
    tu_client_clear(c);
    tu_send_string(c->fd, 1, "ProctorLogin", token);
    tu_read(c, 20000, "STRING", "ProctorLoginReply");
    tu_msg *m = tu_find(c, "STRING", "ProctorLoginReply");
    cn_strlcpy(reply, m ? (char *)m->content + 4 : "(no reply)", sizeof reply);
    return reply;
}

static const char *login(tu_client *c)
{
    return login_with(c, TOKEN);
}

/* How many times the log holds needle. */
static int log_count(const char *path, const char *needle)
{
    char *s = pu_slurp(path, NULL);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

/* Waits until the log holds needle at least n times. */
static bool wait_log_n(const char *path, const char *needle, int n, int timeout_ms)
{
    for (int i = 0; i <= timeout_ms / 50; i++) {
        if (log_count(path, needle) >= n)
            return true;
        usleep(50000);
    }
    return false;
}

/* Waits for a CryoNavEvent STRING holding needle (frames in between dropped). */
static bool wait_event(tu_client *c, const char *needle, int timeout_ms)
{
    for (int k = 0; k < timeout_ms / 100; k++) {
        tu_read(c, 100, NULL, NULL);
        for (int i = 0; i < c->n; i++)
            if (strcmp(c->msgs[i].name, "CryoNavEvent") == 0 &&
                strstr((char *)c->msgs[i].content + 4, needle)) {
                print_message("event: %s\n", (char *)c->msgs[i].content + 4);
                tu_client_clear(c);
                return true;
            }
        tu_client_clear(c);
    }
    return false;
}

static void test_p_revokes_and_P_unlocks(void **st)
{
    (void)st;
    if (!getenv("DISPLAY"))
        skip();
    char dir[] = "/tmp/cn_keys_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], tok[128], logp[128], listen[64];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    pu_write_file(tok, 0600, "%s\n", TOKEN);
    pu_write_file(cfg, 0600, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s/recs\"}}\n", dir);
    int port = pu_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--no-fallback", "--config", cfg, "--listen", listen,
                          "--frames", "100000", "--proctor-token-file", tok, NULL};
    pid_t pid = pu_spawn(argv, logp, false);
    tu_client c;
    tu_client_init(&c, pu_connect(port, 60000));
    assert_true(c.fd >= 0);
    tu_read(&c, 60000, "IMAGE", NULL);   /* the window is up and frames flow */
    assert_non_null(tu_find(&c, "IMAGE", NULL));
    const char *r = login(&c);
    print_message("login: %s\n", r);
    assert_non_null(strstr(r, "OK"));

    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    Window win = xk_wait_window(dpy);
    assert_true(win != 0);
    xk_send_key(dpy, win, XK_x, false);
    tu_read(&c, 20000, "NONE", NULL);
    assert_true(c.closed);   /* revoked: disconnected */
    assert_true(pu_wait_log(logp, "operator revoked 1 proctor; proctor logins locked", 10000));
    tu_client_free(&c);
    tu_client_init(&c, pu_connect(port, 10000));
    r = login(&c);
    print_message("after p: %s\n", r);
    assert_non_null(strstr(r, "DENIED: proctor logins are locked by the operator"));
    xk_send_key(dpy, win, XK_X, true);
    assert_true(pu_wait_log(logp, "operator unlocked proctor logins", 20000));
    cn_clock_sleep_ns(1200000000);   /* the login rate: one attempt per 2 s after the burst */
    r = login(&c);
    print_message("after P: %s\n", r);
    assert_non_null(strstr(r, "OK"));
    XCloseDisplay(dpy);
    tu_client_free(&c);
    int status = pu_stop(pid, 30);
    assert_true(WIFEXITED(status));
    pu_rm_rf(dir);
}

#define TOK_LEE "lee-keys-0123456789abcdef"
#define TOK_KIM "kim-keys-0123456789abcdef"

/* Two personal accounts logged in; the operator selects Kim with Tab and revokes
 * Kim's account with k: Kim is disconnected and Kim's token refused, Lee stays
 * connected and can still start a recording; the revoke is logged and recorded
 * as an operator event naming the account. k with nothing selected (before any
 * Tab, and again after the revoke, which clears the selection) revokes nobody
 * and says so. */
static void test_tab_selects_k_revokes_one_account(void **st)
{
    (void)st;
    if (!getenv("DISPLAY"))
        skip();
    char dir[] = "/tmp/cn_keys_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], lee_tok[128], kim_tok[128], logp[128], listen[64];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(lee_tok, sizeof lee_tok, "%s/lee.token", dir);
    snprintf(kim_tok, sizeof kim_tok, "%s/kim.token", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    pu_write_file(lee_tok, 0600, "%s\n", TOK_LEE);
    pu_write_file(kim_tok, 0600, "%s\n", TOK_KIM);
    pu_write_file(cfg, 0600,
                  "{\"source\": \"sim\", \"record\": {\"dir\": \"%s/recs\"},\n"
                  " \"proctor\": {\"accounts\": [{\"name\": \"Dr Lee\", \"token_file\": \"%s\"},\n"
                  "                          {\"name\": \"kim\", \"token_file\": \"%s\"}]}}\n",
                  dir, lee_tok, kim_tok);
    int port = pu_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--no-fallback", "--config", cfg, "--listen", listen,
                          "--frames", "100000", NULL};
    pid_t pid = pu_spawn(argv, logp, false);
    tu_client lee, kim;
    tu_client_init(&lee, pu_connect(port, 60000));
    assert_true(lee.fd >= 0);
    tu_read(&lee, 60000, "IMAGE", NULL);   /* the window is up and frames flow */
    assert_non_null(tu_find(&lee, "IMAGE", NULL));
    assert_non_null(strstr(login_with(&lee, TOK_LEE), "OK"));
    tu_client_init(&kim, pu_connect(port, 10000));
    assert_non_null(strstr(login_with(&kim, TOK_KIM), "OK"));

    Display *dpy = XOpenDisplay(NULL);
    assert_non_null(dpy);
    Window win = xk_wait_window(dpy);
    assert_true(win != 0);
    /* k before any selection: nobody is revoked */
    xk_send_key(dpy, win, XK_k, false);
    assert_true(wait_log_n(logp, "no proctor selected", 1, 20000));
    /* Tab steps through the connected proctors in the order they came: Lee, Kim */
    xk_send_key(dpy, win, XK_Tab, false);
    assert_true(pu_wait_log(logp, "operator selected proctor Dr Lee (client ", 20000));
    xk_send_key(dpy, win, XK_Tab, false);
    assert_true(pu_wait_log(logp, "operator selected proctor kim (client ", 20000));
    xk_send_key(dpy, win, XK_k, false);
    tu_read(&kim, 20000, "NONE", NULL);
    assert_true(kim.closed);   /* Kim's account revoked: disconnected */
    assert_true(pu_wait_log(logp, "operator revoked proctor account \"kim\" for this session (1 client)",
                            10000));
    /* recorded on the next analysed frame, as an operator's event naming the account */
    assert_true(wait_event(&lee, "operator proctor_revoked count=1 account=kim", 20000));
    /* Lee is still connected and still a proctor */
    assert_false(lee.closed);
    tu_client_clear(&lee);
    const char *r = pu_command(&lee, 41, "<Command Name=\"StartRecording\"/>", 20000);
    assert_non_null(r);
    print_message("Lee starts a recording: %s\n", r ? r : "(no reply)");
    assert_non_null(strstr(r, "Status=\"SUCCESS\""));
    tu_client_clear(&lee);
    r = pu_command(&lee, 42, "<Command Name=\"StopRecording\"/>", 20000);
    assert_non_null(r);
    assert_non_null(strstr(r, "Status=\"SUCCESS\""));
    /* Kim's token is refused from now on; logins are not locked for the others */
    tu_client_free(&kim);
    tu_client_init(&kim, pu_connect(port, 10000));
    r = login_with(&kim, TOK_KIM);
    print_message("Kim again: %s\n", r);
    assert_non_null(strstr(r, "DENIED: this proctor account was revoked by the operator"));
    /* k again: the selection went with the revoke, so a second press revokes
     * nobody (not the next proctor) and says so */
    xk_send_key(dpy, win, XK_k, false);
    assert_true(wait_log_n(logp, "no proctor selected", 2, 20000));
    tu_client_clear(&lee);
    r = pu_command(&lee, 43, "<Command Name=\"RequestStatus\"/>", 20000);
    assert_non_null(r);
    assert_non_null(strstr(r, "Role=\"proctor\""));
    assert_false(lee.closed);
    assert_int_equal(log_count(logp, "operator revoked proctor account"), 1);
    XCloseDisplay(dpy);
    tu_client_free(&kim);
    tu_client_free(&lee);
    int status = pu_stop(pid, 30);
    assert_true(WIFEXITED(status));
    pu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_p_revokes_and_P_unlocks),
                                       cmocka_unit_test(test_tab_selects_k_revokes_one_account)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
