/* x11_keys.h - a keyboard for whole-program tests: find the navigator's window
 * ("CryoNav") on the test's X server and send it key presses from a second X
 * connection, as a keyboard would. Header-only; link X11. */
#ifndef CN_X11_KEYS_H
#define CN_X11_KEYS_H

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/keysym.h>

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* The top-level window whose name is "CryoNav" (searched depth first). */
static inline Window xk_find_window(Display *dpy, Window w)
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
            found = xk_find_window(dpy, kids[i]);
        if (kids)
            XFree(kids);
    }
    return found;
}

static inline void xk_send_key(Display *dpy, Window win, KeySym sym, bool shift)
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

/* The navigator's window, waiting up to 10 s for it to appear (0: none). */
static inline Window xk_wait_window(Display *dpy)
{
    Window win = 0;
    for (int i = 0; i < 100 && !win; i++) {
        win = xk_find_window(dpy, DefaultRootWindow(dpy));
        if (!win)
            usleep(100000);
    }
    return win;
}

#endif
