/*
 * viewer_present.cxx - putting the rendered picture into an on-screen window.
 *
 * VTK 9.1 renders into its own framebuffer, copies that into a "display"
 * framebuffer, then (to show it) blits the display framebuffer into the window's
 * back buffer and swaps. With Mesa's llvmpipe every one of those is a full-window
 * pass on the CPU, and the blit into the window's buffer (a format conversion) was
 * the dearest of all: ~60 M instructions per 1280x800 frame, a third of the
 * on-screen frame (callgrind, docs/benchmarks.md). So on screen we stop VTK before
 * its blit and swap (SwapBuffers off, no frame blit) and present ourselves:
 * glReadPixels of the render framebuffer (where VTK drew the frame) straight into
 * the memory of the window's XImage, then one pass in place that turns the rows
 * top-down and the bytes into the window's layout (RGBA -> 0x00RRGGBB words), and
 * XShmPutImage (shared memory: no copy through the socket; XPutImage when the
 * server has no MIT-SHM), then XSync, so the picture is on the screen when
 * cn_viewer_show returns.
 *
 * Reading into the image itself instead of through a vtkUnsignedCharArray (VTK's
 * GetRGBACharPixelData, then a flip + swizzle copy into the image) drops one
 * 4 MB buffer from every 1280x800 frame: read + convert 0.88 -> 0.69 ms (median
 * of 3 alternating runs, load ~3, measured with the flip done by
 * GL_PACK_INVERT_MESA, the same data flow; docs/benchmarks.md). Letting Mesa
 * convert (a GL_BGRA read with GL_PACK_INVERT_MESA) measured no better (0.80 ms)
 * and costs 3 M more instructions than the word swap here; the flip is done in
 * the same pass here, so no GL extension is needed. XSync stays: a wait for the
 * MIT-SHM completion event is the same round trip, and the picture must be on
 * the screen (and the shared image free to refill) when show returns.
 *
 * Every Render() presents (an observer on the render window's EndEvent), so a
 * re-render VTK does by itself (an Expose, a key) shows too. Windows whose visual
 * is not 24/32-bit TrueColor, or a multisampled render framebuffer, keep VTK's
 * own blit and swap.
 */
#include "viewer_vtk.h"

#include <vtkOpenGLFramebufferObject.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkOpenGLState.h>
#include <vtk_glew.h> /* glReadPixels */

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
    /* glReadPixels writes tight rows of 4-byte pixels */
    if (p->img->bits_per_pixel != 32 || p->img->bytes_per_line != w * 4) {
        drop_image(p);
        return false;
    }
    p->w = w;
    p->h = h;
    return true;
}

/* One RGBA pixel (bytes R, G, B, A: R | G << 8 | B << 16 | A << 24 as a
 * little-endian word) in the window's layout. */
inline uint32_t to_visual(const cn_present *p, uint32_t px)
{
    return (px & 0xffu) << p->rshift | ((px >> 8) & 0xffu) << p->gshift |
           ((px >> 16) & 0xffu) << p->bshift;
}

/* The usual layout (red 0xff0000, green 0xff00, blue 0xff): a swap of the red
 * and blue bytes of each word, which the compiler vectorises (per-byte shifts
 * were ~15 M instructions per 1280x800 frame). */
inline uint32_t to_usual(uint32_t px)
{
    return (px & 0xffu) << 16 | (px & 0xff00u) | ((px >> 16) & 0xffu);
}

/* In place: GL's bottom-up rows become X's top-down rows (rows y and h-1-y swap)
 * and every pixel takes the window's layout, in one pass over the image. */
void flip_to_visual(const cn_present *p, uint32_t *img, int w, int h)
{
    bool usual = p->rshift == 16 && p->gshift == 8 && p->bshift == 0;
    for (int y = 0; y < (h + 1) / 2; y++) {
        uint32_t *a = img + (size_t)y * (size_t)w, *b = img + (size_t)(h - 1 - y) * (size_t)w;
        if (a == b) { /* the middle row of an odd height */
            for (int x = 0; x < w; x++)
                a[x] = usual ? to_usual(a[x]) : to_visual(p, a[x]);
        } else if (usual) {
            for (int x = 0; x < w; x++) {
                uint32_t t = a[x];
                a[x] = to_usual(b[x]);
                b[x] = to_usual(t);
            }
        } else {
            for (int x = 0; x < w; x++) {
                uint32_t t = a[x];
                a[x] = to_visual(p, b[x]);
                b[x] = to_visual(p, t);
            }
        }
    }
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
    vtkOpenGLFramebufferObject *fb = gl ? gl->GetRenderFramebuffer() : nullptr;
    if (!fb)
        return;
    /* VTK's pack alignment is 1: rows land tight, bottom row first */
    vtkOpenGLState *st = gl->GetState();
    st->PushReadFramebufferBinding();
    fb->Bind(GL_READ_FRAMEBUFFER);
    fb->ActivateReadBuffer(0);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, p->img->data);
    st->PopReadFramebufferBinding();
    flip_to_visual(p, reinterpret_cast<uint32_t *>(p->img->data), w, h);
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
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return false; /* the pixel words below are read as little-endian */
#endif
    /* a multisampled framebuffer cannot be read directly (VTK 9.1 resolves it
     * first); the viewer asks for none */
    if (!gl || gl->GetMultiSamples() > 0 || !dpy || !win ||
        !XGetWindowAttributes(dpy, win, &attr) || !attr.visual ||
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
