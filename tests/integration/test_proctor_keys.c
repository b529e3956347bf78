/* The operator revokes a proctor with a key, in the real windowed `cryonav run`
 * (under xvfb-run): `x` disconnects the logged-in proctor and locks proctor
 * logins (the right token is refused, the log says so), `X` unlocks them. The
 * key goes to the navigator's window from a second X connection, as a keyboard
 * would send it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/keysym.h>

#include "proctor_util.h"

#define TOKEN "keys-test-token-0123456789"

/* The top-level window whose name is "CryoNav" (searched depth first). */
static Window find_window(Display *dpy, Window w)
{
    char *name = NULL;
    if (XFetchName(dpy, w, &name) && name) {
        bool hit = strcmp(name, "CryoNav") == 0;
        XFree(name);
        if (hit)
            return w;
    }
    Window root, parent, *kids = NULL;
    unsigned n = 0;
    Window found = 0;
    if (XQueryTree(dpy, w, &root, &parent, &kids, &n)) {
        for (unsigned i = 0; i < n && !found; i++)
            found = find_window(dpy, kids[i]);
        if (kids)
            XFree(kids);
    }
    return found;
}

static void send_key(Display *dpy, Window win, KeySym sym, bool shift)
{
    XEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.xkey.type = KeyPress;
    ev.xkey.display = dpy;
    ev.xkey.window = win;
    ev.xkey.root = DefaultRootWindow(dpy);
    ev.xkey.same_screen = True;
    ev.xkey.keycode = XKeysymToKeycode(dpy, sym);
    ev.xkey.state = shift ? ShiftMask : 0;
    XSendEvent(dpy, win, True, KeyPressMask, &ev);
    ev.xkey.type = KeyRelease;
    XSendEvent(dpy, win, True, KeyReleaseMask, &ev);
    XFlush(dpy);
}

static const char *login(tu_client *c)
{
    static char reply[200];
    tu_client_clear(c);
    tu_send_string(c->fd, 1, "ProctorLogin", TOKEN);
    tu_read(c, 20000, "STRING", "ProctorLoginReply");
    tu_msg *m = tu_find(c, "STRING", "ProctorLoginReply");
    cn_strlcpy(reply, m ? (char *)m->content + 4 : "(no reply)", sizeof reply);
    return reply;
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
    Window win = 0;
    for (int i = 0; i < 100 && !win; i++) {
        win = find_window(dpy, DefaultRootWindow(dpy));
        if (!win)
            usleep(100000);
    }
    assert_true(win != 0);
    send_key(dpy, win, XK_x, false);
    tu_read(&c, 20000, "NONE", NULL);
    assert_true(c.closed);   /* revoked: disconnected */
    assert_true(pu_wait_log(logp, "operator revoked 1 proctor; proctor logins locked", 10000));
    tu_client_free(&c);
    tu_client_init(&c, pu_connect(port, 10000));
    r = login(&c);
    print_message("after p: %s\n", r);
    assert_non_null(strstr(r, "DENIED: proctor logins are locked by the operator"));
    send_key(dpy, win, XK_X, true);
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_p_revokes_and_P_unlocks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
