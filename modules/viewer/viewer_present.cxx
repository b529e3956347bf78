/*
 * viewer_present.cxx - putting the rendered picture into an on-screen window.
 *
 * VTK 9.1 renders into its own framebuffer, copies that into a "display"
 * framebuffer, then (to show it) blits the display framebuffer into the window's
 * back buffer and swaps. With Mesa's llvmpipe every one of those is a full-window
 * pass on the CPU, and the blit into the window's buffer (a format conversion) was
 * the dearest of all: ~60 M instructions per 1280x800 frame, a third of the
 * on-screen frame (callgrind, docs/benchmarks.md). So on screen we stop VTK after
 * its display framebuffer (no blit, no swap) and present ourselves: read the
 * display framebuffer once (glReadPixels through VTK, RGBA), flip and swizzle it
 * into the window's pixel layout and hand it to the X server with XShmPutImage
 * (shared memory: no copy through the socket; XPutImage when the server has no
 * MIT-SHM), then XSync, so the picture is on the screen when cn_viewer_show
 * returns. Every Render() presents (an observer on the render window's
 * EndEvent), so a re-render VTK does by itself (an Expose, a key) shows too.
 * Windows whose visual is not 24/32-bit TrueColor keep VTK's own blit and swap.
 */
#include "viewer_vtk.h"

#include <vtkOpenGLRenderWindow.h>
#include <vtkUnsignedCharArray.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <cstdlib>
#include <cstring>

struct cn_present {
    Display *dpy = nullptr;
    Window win = 0;
    GC gc = nullptr;
    Visual *visual = nullptr;
    int depth = 0;
    int rshift = 16, gshift = 8, bshift = 0;
    bool shm_ok = false;  // the server has MIT-SHM
    bool shm = false;     // the current image is in shared memory
    XShmSegmentInfo seg{};
    XImage *img = nullptr;
    int w = 0, h = 0;
    vsp<vtkUnsignedCharArray> rgba;
};

namespace {

int shift_of(unsigned long mask)
{
    int s = 0;
    while (mask && !(mask & 1)) {
        mask >>= 1;
        s++;
    }
    return mask == 0xff ? s : -1; /* 8 bits per channel only */
}

void drop_image(cn_present *p)
{
    if (!p->img)
        return;
    if (p->shm) {
        XShmDetach(p->dpy, &p->seg);
        XSync(p->dpy, False);
        XDestroyImage(p->img); /* frees the XImage, not the segment */
        shmdt(p->seg.shmaddr);
        shmctl(p->seg.shmid, IPC_RMID, nullptr);
    } else {
        XDestroyImage(p->img); /* frees data too (malloc'ed) */
    }
    p->img = nullptr;
    p->shm = false;
    p->w = p->h = 0;
}

bool make_image(cn_present *p, int w, int h)
{
    drop_image(p);
    if (p->shm_ok) {
        p->img = XShmCreateImage(p->dpy, p->visual, (unsigned)p->depth, ZPixmap, nullptr, &p->seg,
                                 (unsigned)w, (unsigned)h);
        if (p->img) {
            p->seg.shmid = shmget(IPC_PRIVATE, (size_t)p->img->bytes_per_line * (size_t)h,
                                  IPC_CREAT | 0600);
            p->seg.shmaddr = p->seg.shmid >= 0 ? static_cast<char *>(shmat(p->seg.shmid, nullptr, 0))
                                               : reinterpret_cast<char *>(-1);
            if (p->seg.shmaddr != reinterpret_cast<char *>(-1)) {
                p->img->data = p->seg.shmaddr;
                p->seg.readOnly = False;
                if (XShmAttach(p->dpy, &p->seg)) {
                    XSync(p->dpy, False);
                    /* the segment goes away with the last detach, even after a crash */
                    shmctl(p->seg.shmid, IPC_RMID, nullptr);
                    p->shm = true;
                }
            }
            if (!p->shm) {
                if (p->seg.shmaddr != reinterpret_cast<char *>(-1))
                    shmdt(p->seg.shmaddr);
                if (p->seg.shmid >= 0)
                    shmctl(p->seg.shmid, IPC_RMID, nullptr);
                p->img->data = nullptr;
                XDestroyImage(p->img);
                p->img = nullptr;
                p->shm_ok = false; /* e.g. a remote display: plain XPutImage from now on */
            }
        }
    }
    if (!p->img) {
        char *data = static_cast<char *>(malloc((size_t)w * (size_t)h * 4));
        if (!data)
            return false;
        p->img = XCreateImage(p->dpy, p->visual, (unsigned)p->depth, ZPixmap, 0, data, (unsigned)w,
                              (unsigned)h, 32, 0);
        if (!p->img) {
            free(data);
            return false;
        }
    }
    if (p->img->bits_per_pixel != 32) {
        drop_image(p);
        return false;
    }
    p->w = w;
    p->h = h;
    return true;
}

void present(vtkObject *, unsigned long, void *client, void *)
{
    cn_viewer *v = static_cast<cn_viewer *>(client);
    cn_present *p = v->present;
    if (!p || v->closed || v->gl_failed)
        return;
    int *sz = v->win->GetSize();
    int w = sz[0], h = sz[1];
    if (w <= 0 || h <= 0)
        return;
    if ((w != p->w || h != p->h) && !make_image(p, w, h))
        return;
    vtkOpenGLRenderWindow *gl = vtkOpenGLRenderWindow::SafeDownCast(v->win);
    if (!gl || !gl->GetRGBACharPixelData(0, 0, w - 1, h - 1, 0, p->rgba))
        return;
    /* OpenGL rows run bottom-up, X rows top-down; RGBA -> the visual's layout. The
     * usual layout (red 0xff0000, green 0xff00, blue 0xff) is a swap of the red and
     * blue bytes of each little-endian word, which the compiler vectorises; it was
     * ~15 M instructions per 1280x800 frame with per-byte shifts. */
    const uint8_t *src = p->rgba->GetPointer(0);
    bool usual = p->rshift == 16 && p->gshift == 8 && p->bshift == 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)(h - 1 - y) * (size_t)w * 4;
        uint32_t *d = reinterpret_cast<uint32_t *>(p->img->data + (size_t)y * (size_t)p->img->bytes_per_line);
        if (usual) {
            const uint32_t *sw = reinterpret_cast<const uint32_t *>(s); /* 4-aligned rows */
            for (int x = 0; x < w; x++) {
                uint32_t px = sw[x]; /* R | G << 8 | B << 16 | A << 24 */
                d[x] = (px & 0xffu) << 16 | (px & 0xff00u) | ((px >> 16) & 0xffu);
            }
        } else {
            for (int x = 0; x < w; x++, s += 4)
                d[x] = (uint32_t)s[0] << p->rshift | (uint32_t)s[1] << p->gshift |
                       (uint32_t)s[2] << p->bshift;
        }
    }
    if (p->shm)
        XShmPutImage(p->dpy, p->win, p->gc, p->img, 0, 0, 0, 0, (unsigned)w, (unsigned)h, False);
    else
        XPutImage(p->dpy, p->win, p->gc, p->img, 0, 0, 0, 0, (unsigned)w, (unsigned)h);
    /* on the screen when show returns, and the shared image is free to refill */
    XSync(p->dpy, False);
}

} // namespace

bool cn_viewer_present_init(cn_viewer *v)
{
    vtkOpenGLRenderWindow *gl = vtkOpenGLRenderWindow::SafeDownCast(v->win);
    Display *dpy = static_cast<Display *>(v->x_display);
    Window win = static_cast<Window>(reinterpret_cast<uintptr_t>(v->win->GetGenericWindowId()));
    XWindowAttributes attr;
    if (!gl || !dpy || !win || !XGetWindowAttributes(dpy, win, &attr) || !attr.visual ||
        attr.visual->c_class != TrueColor || (attr.depth != 24 && attr.depth != 32) ||
        ImageByteOrder(dpy) != LSBFirst)
        return false;
    int rs = shift_of(attr.visual->red_mask), gs = shift_of(attr.visual->green_mask),
        bs = shift_of(attr.visual->blue_mask);
    if (rs < 0 || gs < 0 || bs < 0)
        return false;
    cn_present *p = new (std::nothrow) cn_present;
    if (!p)
        return false;
    p->dpy = dpy;
    p->win = win;
    p->visual = attr.visual;
    p->depth = attr.depth;
    p->rshift = rs;
    p->gshift = gs;
    p->bshift = bs;
    p->shm_ok = XShmQueryExtension(dpy) == True;
    p->gc = XCreateGC(dpy, win, 0, nullptr);
    p->rgba = vsp<vtkUnsignedCharArray>::New();
    p->rgba->SetNumberOfComponents(4);
    if (!p->gc) {
        delete p;
        return false;
    }
    v->present = p;
    gl->SetFrameBlitModeToNoBlit();
    v->win->SwapBuffersOff();
    v->cb_present = vsp<vtkCallbackCommand>::New();
    v->cb_present->SetCallback(present);
    v->cb_present->SetClientData(v);
    v->win->AddObserver(vtkCommand::EndEvent, v->cb_present);
    return true;
}

void cn_viewer_present_free(cn_viewer *v)
{
    cn_present *p = v->present;
    if (!p)
        return;
    if (v->win && v->cb_present)
        v->win->RemoveObserver(v->cb_present);
    drop_image(p);
    if (p->gc)
        XFreeGC(p->dpy, p->gc);
    delete p;
    v->present = nullptr;
}
