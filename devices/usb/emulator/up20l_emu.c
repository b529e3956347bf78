/*
 * up20l_emu.c - the emulated UP20L's USB side: a umockdev test bed and the usbdevfs
 * ioctls libusb issues, answered from the protocol model (emu_model.c).
 *
 * libusb talks to /dev/bus/usb/BBB/DDD with SUBMITURB / REAPURBNDELAY / DISCARDURB
 * and friends; under libumockdev-preload those ioctls arrive here. A submitted URB
 * is kept (its memory resolved through umockdev); control and bulk OUT URBs complete
 * at once, bulk IN URBs wait in FIFO order for the model's IN packets and complete
 * when a packet is due. REAPURBNDELAY hands back one completed URB; when nothing is
 * ready but data is due within 2 ms it waits that long, which keeps libusb's poll
 * loop (the socket is always writable) from spinning a core.
 *
 * Unplug: every ioctl on the old node fails with ENODEV (libusb then reports
 * LIBUSB_TRANSFER_NO_DEVICE), the device leaves sysfs with a "remove" uevent; replug
 * adds it back under the next device address with a cold probe.
 */
#include "up20l_emu.h"
#include "emu_model.h"

#include <errno.h>
#include <glib.h>
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h> /* before linux/usbdevice_fs.h */
#include <linux/usbdevice_fs.h>
#include <umockdev.h>
#include <unistd.h>

#define SYSPATH "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
#define LOG_MAX 400000

typedef struct {
    UMockdevIoctlData *urb_d;   /* our reference to the resolved URB */
    gulong client_addr;
    uint8_t type, ep;
    int filled;                 /* bulk IN: bytes received so far */
} urb_entry;

struct cn_up20l_emu {
    cn_up20l_emu_opts o;
    char manufacturer[64], product[64]; /* the board's strings, copied from o */
    emu_model *m;
    GMutex mu;
    GMutex tb_mu;
    UMockdevTestbed *tb;
    UMockdevIoctlBase *handler;
    libusb_context *listener;   /* keeps the process's uevent listener open (see worker) */
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    GMutex ready_mu;
    GCond ready_cond;
    int ready;                  /* 1 ok, -1 failed */
    char err[512];
    char *root;
    int devnum;
    char devnode[64];
    bool plugged, in_sysfs;
    bool debug;                 /* $CN_EMU_DEBUG: print each ioctl but the polling reaps */
    int64_t last_replug_ns, last_unplug_ns;
    GQueue pending;             /* bulk IN URBs waiting for data */
    GQueue done;                /* URBs ready to reap */
    GQueue stale;               /* completed URBs of the previous connection, still reapable */
    cn_usb_req *log;
    size_t n_log;
};

static int64_t now_ns(void) { return cn_clock_mono_ns(); }

/* uevents can only be sent from a preloaded process (the sender resolves the device in
 * the test bed's sysfs); a command run by cryonav-probe-emulator finds the device by
 * enumeration anyway. */
static void uevent(cn_up20l_emu *e, const char *action)
{
    if (umockdev_in_mock_environment())
        umockdev_testbed_uevent(e->tb, SYSPATH, action);
}

static char *device_record(int devnum, const char *manufacturer, const char *product)
{
    /* Device descriptor (18 B) then one configuration: vendor interface 0 with bulk OUT
     * 0x02 and bulk IN 0x86, 512-byte packets (the UP20L's endpoints). */
    static const uint8_t desc[] = {
        0x12, 0x01, 0x00, 0x02, 0xff, 0x00, 0x00, 0x40, 0xb4, 0x04, 0x13, 0x86, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x01,
        0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
        0x09, 0x04, 0x00, 0x00, 0x02, 0xff, 0x00, 0x00, 0x00,
        0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00,
        0x07, 0x05, 0x86, 0x02, 0x00, 0x02, 0x00};
    char hex[2 * sizeof desc + 1];
    for (size_t i = 0; i < sizeof desc; i++)
        snprintf(hex + 2 * i, 3, "%02X", desc[i]);
    return g_strdup_printf("P: /devices/pci0000:00/0000:00:14.0/usb1/1-1\n"
                           "N: bus/usb/001/%03d\n"
                           "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
                           "E: DEVNAME=/dev/bus/usb/001/%03d\n"
                           "E: BUSNUM=001\nE: DEVNUM=%03d\nE: PRODUCT=4b4/8613/0\n"
                           "A: busnum=1\nA: devnum=%d\nA: speed=480\n"
                           "A: idVendor=04b4\nA: idProduct=8613\n"
                           "A: bConfigurationValue=1\nA: bNumConfigurations=1\n"
                           "A: manufacturer=%s\nA: product=%s\n"
                           "A: dev=189:%d\n"
                           "H: descriptors=%s\n",
                           devnum, devnum, devnum, devnum, manufacturer, product, devnum - 1,
                           hex);
}

static void log_req(cn_up20l_emu *e, const struct usbdevfs_urb *u, const uint8_t *buf)
{
    if (e->n_log >= LOG_MAX)
        return;
    cn_usb_req *q = &e->log[e->n_log++];
    memset(q, 0, sizeof *q);
    q->t_us = now_ns() / 1000;
    if (u->type == USBDEVFS_URB_TYPE_CONTROL && buf && u->buffer_length >= 8) {
        q->type = CN_USB_XFER_CONTROL;
        memcpy(q->setup, buf, 8);
        q->ep = buf[0] & 0x80;
        q->length = (uint32_t)(buf[6] | buf[7] << 8);
    } else {
        q->type = CN_USB_XFER_BULK;
        q->ep = u->endpoint;
        q->length = (uint32_t)u->buffer_length;
        if (!(u->endpoint & 0x80) && buf) {
            q->n_data = (uint8_t)(u->buffer_length < 4 ? u->buffer_length : 4);
            memcpy(q->data, buf, q->n_data);
        }
    }
}

static void drop_all(cn_up20l_emu *e)
{
    urb_entry *u;
    while ((u = g_queue_pop_head(&e->stale))) {
        g_object_unref(u->urb_d);
        g_free(u);
    }
    while ((u = g_queue_pop_head(&e->pending))) {
        g_object_unref(u->urb_d);
        g_free(u);
    }
    while ((u = g_queue_pop_head(&e->done))) {
        g_object_unref(u->urb_d);
        g_free(u);
    }
}

/* Takes the device out of sysfs; runs on the emulator's own thread, never inside an
 * ioctl handler (umockdev must be free to finish the ioctl in progress). */
/* Locking: e->mu guards the emulator's state and is taken by the ioctl handler on
 * umockdev's worker thread; umockdev test-bed calls (add, attach, remove) may wait for
 * that very thread, so they are never made while holding e->mu. tb_mu serialises them. */

static void remove_from_sysfs(cn_up20l_emu *e)
{
    uevent(e, "remove");
    umockdev_testbed_remove_device(e->tb, SYSPATH);
}

static gboolean remove_cb(gpointer data)
{
    cn_up20l_emu *e = data;
    g_mutex_lock(&e->tb_mu);
    g_mutex_lock(&e->mu);
    bool rm = !e->plugged && e->in_sysfs;
    if (rm)
        e->in_sysfs = false;
    g_mutex_unlock(&e->mu);
    if (rm)
        remove_from_sysfs(e);
    g_mutex_unlock(&e->tb_mu);
    return G_SOURCE_REMOVE;
}

static void do_unplug(cn_up20l_emu *e)
{
    if (!e->plugged)
        return;
    e->plugged = false;
    e->last_unplug_ns = now_ns();
    /* Like the kernel: every queued URB completes with -ESHUTDOWN and can still be reaped;
     * after that each ioctl fails with ENODEV. */
    urb_entry *u;
    while ((u = g_queue_pop_head(&e->pending))) {
        struct usbdevfs_urb *urb = (struct usbdevfs_urb *)u->urb_d->data;
        urb->status = -ESHUTDOWN;
        urb->actual_length = u->filled;
        g_queue_push_tail(&e->done, u);
    }
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, remove_cb, e, NULL);
    g_source_attach(s, e->ctx);
    g_source_unref(s);
}

/* Called without e->mu. */
static int do_replug(cn_up20l_emu *e)
{
    g_mutex_lock(&e->tb_mu);
    g_mutex_lock(&e->mu);
    if (e->plugged) {
        g_mutex_unlock(&e->mu);
        g_mutex_unlock(&e->tb_mu);
        return CN_OK;
    }
    bool need_remove = e->in_sysfs; /* unplugged a moment ago: finish the removal first */
    e->in_sysfs = false;
    /* URBs the previous connection has not reaped yet stay reapable by it (its libusb
     * only learns of the unplug by reaping them). */
    urb_entry *old;
    while ((old = g_queue_pop_head(&e->stale))) {
        g_object_unref(old->urb_d);
        g_free(old);
    }
    while ((old = g_queue_pop_head(&e->done)))
        g_queue_push_tail(&e->stale, old);
    while ((old = g_queue_pop_head(&e->pending))) /* none expected: unplug completed them */
        g_queue_push_tail(&e->stale, old);
    e->devnum++;
    int devnum = e->devnum;
    snprintf(e->devnode, sizeof e->devnode, "/dev/bus/usb/001/%03d", devnum);
    char devnode[64];
    cn_strlcpy(devnode, e->devnode, sizeof devnode);
    emu_model_reset(e->m);
    /* Live from now: old clients have another node (ENODEV), new ones cannot connect
     * before the node is attached below. */
    e->plugged = true;
    e->last_replug_ns = now_ns();
    g_mutex_unlock(&e->mu);

    if (need_remove)
        remove_from_sysfs(e);
    char *rec = device_record(devnum, e->manufacturer, e->product);
    GError *gerr = NULL;
    gboolean ok = umockdev_testbed_add_from_string(e->tb, rec, &gerr);
    g_free(rec);
    if (ok)
        ok = umockdev_testbed_attach_ioctl(e->tb, devnode, e->handler, &gerr);
    g_mutex_lock(&e->mu);
    if (ok) {
        e->in_sysfs = true;
    } else {
        e->plugged = false;
        snprintf(e->err, sizeof e->err, "emulator: cannot add the device: %s",
                 gerr ? gerr->message : "?");
    }
    g_mutex_unlock(&e->mu);
    g_clear_error(&gerr);
    if (ok)
        uevent(e, "add");
    g_mutex_unlock(&e->tb_mu);
    return ok ? CN_OK : CN_EIO;
}

static gboolean replug_cb(gpointer data)
{
    do_replug(data);
    return G_SOURCE_REMOVE;
}

/* Fills bulk IN URBs from the model's packets as they become due, in FIFO order, and
 * moves each to `done` when it is full, ended by a short packet, or the pipe halted. */
static void pump(cn_up20l_emu *e)
{
    while (e->plugged && !g_queue_is_empty(&e->pending)) {
        int64_t due;
        bool halted = emu_model_halted(e->m);
        if (!halted && (!emu_model_in_peek(e->m, &due) || due > now_ns()))
            break;
        urb_entry *u = g_queue_peek_head(&e->pending);
        struct usbdevfs_urb *urb = (struct usbdevfs_urb *)u->urb_d->data;
        bool unplug = false, short_end = false;
        int replug_ms = -1;
        int n = emu_model_in_take(e->m, (uint8_t *)urb->buffer + u->filled,
                                  urb->buffer_length - u->filled, &short_end, &unplug, &replug_ms);
        if (unplug) {
            do_unplug(e);
            if (replug_ms >= 0) {
                GSource *s = g_timeout_source_new((guint)replug_ms);
                g_source_set_callback(s, replug_cb, e, NULL);
                g_source_attach(s, e->ctx);
                g_source_unref(s);
            }
            return;
        }
        if (n > 0)
            u->filled += n;
        if (n < 0 || short_end || u->filled == urb->buffer_length) {
            g_queue_pop_head(&e->pending);
            urb->status = n < 0 ? n : 0;
            urb->actual_length = n < 0 ? 0 : u->filled;
            g_queue_push_tail(&e->done, u);
        }
    }
}

static int submit(cn_up20l_emu *e, UMockdevIoctlClient *client)
{
    GError *gerr = NULL;
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
    UMockdevIoctlData *urb_d = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), &gerr);
    if (!urb_d) {
        g_clear_error(&gerr);
        return -EFAULT;
    }
    struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urb_d->data;
    if (urb->buffer_length < 0 || urb->buffer_length > 64 * 1024 * 1024) {
        g_object_unref(urb_d);
        return -EINVAL;
    }
    if (urb->buffer_length > 0) {
        UMockdevIoctlData *buf_d = umockdev_ioctl_data_resolve(
            urb_d, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, &gerr);
        if (!buf_d) {
            g_clear_error(&gerr);
            g_object_unref(urb_d);
            return -EFAULT;
        }
        g_object_unref(buf_d); /* the URB keeps it; urb->buffer now points at our copy */
    }
    uint8_t *buf = urb->buffer;
    log_req(e, urb, buf);
    urb_entry *u = g_new0(urb_entry, 1);
    u->urb_d = urb_d;
    u->client_addr = urb_d->client_addr;
    u->type = urb->type;
    u->ep = urb->endpoint;
    urb->status = 0;
    urb->actual_length = 0;
    if (urb->type == USBDEVFS_URB_TYPE_CONTROL) {
        int actual = 0;
        int st = urb->buffer_length >= 8
                     ? emu_model_control(e->m, buf, buf + 8, urb->buffer_length - 8, &actual, now_ns())
                     : -EINVAL;
        urb->status = st;
        urb->actual_length = st == 0 ? actual : 0;
        if (st == 0 && !(buf[0] & 0x80))
            urb->actual_length = urb->buffer_length - 8;
        g_queue_push_tail(&e->done, u);
    } else if (urb->type == USBDEVFS_URB_TYPE_BULK && !(urb->endpoint & 0x80)) {
        emu_model_bulk_out(e->m, buf, urb->buffer_length);
        urb->actual_length = urb->buffer_length;
        g_queue_push_tail(&e->done, u);
    } else if (urb->type == USBDEVFS_URB_TYPE_BULK && urb->endpoint == CN_UP20L_EP_IN) {
        g_queue_push_tail(&e->pending, u);
        pump(e);
    } else {
        g_object_unref(urb_d);
        g_free(u);
        return -EINVAL;
    }
    return 0;
}

static int reap_from(cn_up20l_emu *e, GQueue *q, UMockdevIoctlClient *client);

static bool client_alive(cn_up20l_emu *e, UMockdevIoctlClient *client)
{
    return e->plugged && strcmp(umockdev_ioctl_client_get_devnode(client), e->devnode) == 0;
}

static int reap(cn_up20l_emu *e, UMockdevIoctlClient *client)
{
    pump(e);
    /* Nothing ready but data due soon: wait up to 2 ms rather than let libusb spin. */
    int64_t due;
    if (g_queue_is_empty(&e->done) && !g_queue_is_empty(&e->pending) &&
        emu_model_in_peek(e->m, &due)) {
        int64_t wait = due - now_ns();
        if (wait > 0) {
            g_mutex_unlock(&e->mu);
            g_usleep((gulong)((wait < 2000000 ? wait : 2000000) / 1000));
            g_mutex_lock(&e->mu);
            pump(e);
        }
    } else if (g_queue_is_empty(&e->done) && !g_queue_is_empty(&e->pending)) {
        g_mutex_unlock(&e->mu);
        g_usleep(1000);
        g_mutex_lock(&e->mu);
    }
    /* The lock was dropped while sleeping: the probe may have been replugged meanwhile
     * (this client's URBs are then in `stale`, reaped on its next call). */
    if (!client_alive(e, client) && e->plugged)
        return -EAGAIN;
    if (g_queue_is_empty(&e->done) && !e->plugged)
        return -ENODEV;
    return reap_from(e, &e->done, client);
}

/* Hands the oldest URB of q back to the client (REAPURB*). */
static int reap_from(cn_up20l_emu *e, GQueue *q, UMockdevIoctlClient *client)
{
    (void)e;
    urb_entry *u = g_queue_pop_head(q);
    if (!u)
        return -EAGAIN;
    GError *gerr = NULL;
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
    UMockdevIoctlData *p = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), &gerr);
    if (!p) {
        g_clear_error(&gerr);
        g_queue_push_head(q, u);
        return -EFAULT;
    }
    umockdev_ioctl_data_set_ptr(p, 0, u->urb_d);
    g_object_unref(p);
    g_object_unref(u->urb_d);
    g_free(u);
    return 0;
}

static int discard(cn_up20l_emu *e, UMockdevIoctlClient *client)
{
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
    gulong addr = *(gulong *)arg->data;
    for (GList *l = e->pending.head; l; l = l->next) {
        urb_entry *u = l->data;
        if (u->client_addr == addr) {
            struct usbdevfs_urb *urb = (struct usbdevfs_urb *)u->urb_d->data;
            urb->status = -ENOENT;
            urb->actual_length = u->filled; /* what arrived before the cancel */
            g_queue_delete_link(&e->pending, l);
            g_queue_push_tail(&e->done, u);
            return 0;
        }
    }
    return -EINVAL;
}

static int put_u32(UMockdevIoctlClient *client, uint32_t v)
{
    GError *gerr = NULL;
    UMockdevIoctlData *d = umockdev_ioctl_data_resolve(umockdev_ioctl_client_get_arg(client), 0, 4, &gerr);
    if (!d) {
        g_clear_error(&gerr);
        return -EFAULT;
    }
    memcpy(d->data, &v, 4);
    g_object_unref(d);
    return 0;
}

static gboolean on_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client, gpointer data)
{
    (void)base;
    cn_up20l_emu *e = data;
    gulong req = umockdev_ioctl_client_get_request(client);
    int r;
    g_mutex_lock(&e->mu);
    bool alive = client_alive(e, client);
    if (!alive) {
        bool reap = req == USBDEVFS_REAPURBNDELAY || req == USBDEVFS_REAPURB;
        if (reap && !e->plugged && !g_queue_is_empty(&e->done))
            r = reap_from(e, &e->done, client);      /* unplugged: the killed URBs */
        else if (reap && e->plugged && !g_queue_is_empty(&e->stale))
            r = reap_from(e, &e->stale, client);     /* replugged already: old connection's */
        else
            r = -ENODEV;
    } else if (req == USBDEVFS_SUBMITURB) {
        r = submit(e, client);
    } else if (req == USBDEVFS_REAPURBNDELAY || req == USBDEVFS_REAPURB) {
        r = reap(e, client);
    } else if (req == USBDEVFS_DISCARDURB) {
        r = discard(e, client);
    } else if (req == USBDEVFS_GET_CAPABILITIES) {
        r = put_u32(client, USBDEVFS_CAP_ZERO_PACKET | USBDEVFS_CAP_BULK_CONTINUATION |
                                USBDEVFS_CAP_NO_PACKET_SIZE_LIM | USBDEVFS_CAP_BULK_SCATTER_GATHER);
    } else if (req == USBDEVFS_CLAIMINTERFACE || req == USBDEVFS_RELEASEINTERFACE ||
               req == USBDEVFS_DISCONNECT_CLAIM || req == USBDEVFS_SETINTERFACE ||
               req == USBDEVFS_SETCONFIGURATION || req == USBDEVFS_RESET) {
        r = 0;
    } else if (req == USBDEVFS_CLEAR_HALT) {
        emu_model_clear_halt(e->m);
        r = 0;
    } else if (req == USBDEVFS_GETDRIVER || req == USBDEVFS_IOCTL) {
        r = -ENODATA; /* no kernel driver bound */
    } else {
        r = -ENOTTY;
    }
    g_mutex_unlock(&e->mu);
    if (e->debug && (req != USBDEVFS_REAPURBNDELAY || r != -EAGAIN) && req != USBDEVFS_SUBMITURB)
        fprintf(stderr, "emu: ioctl %lx on %s -> %d\n", req, umockdev_ioctl_client_get_devnode(client), r);
    umockdev_ioctl_client_complete(client, r < 0 ? -1 : r, r < 0 ? -r : 0);
    return TRUE;
}

static gpointer worker(gpointer data)
{
    cn_up20l_emu *e = data;
    g_main_context_push_thread_default(e->ctx);
    e->tb = umockdev_testbed_new();
    e->root = umockdev_testbed_get_root_dir(e->tb);
    e->handler = umockdev_ioctl_base_new();
    g_signal_connect(e->handler, "handle-ioctl", G_CALLBACK(on_ioctl), e);
    /* libusb opens one uevent listener per process while any of its contexts lives, and a
     * device looking for an unplugged probe starts and ends a context every poll. Debian
     * 12's libumockdev (0.17.16) aborts the process when a listener closes while it sends
     * a uevent to it (ENOENT at connect, ECONNREFUSED at send; the second is fixed
     * upstream, umockdev pull request 254). A context of our own, opened after the test
     * bed, keeps that listener open for as long as the emulator sends uevents. The device
     * still starts and ends its contexts as before; only the listener stays.
     * test_usb_hotplug's test_replug_while_listeners_come_and_go aborted within 4 s of
     * replugs without it (3 runs of 3). */
    if (umockdev_in_mock_environment() && libusb_init(&e->listener) != 0)
        e->listener = NULL; /* uevents then race as before; nothing else depends on it */
    /* The emulator's own process need not be preloaded (cryonav-probe-emulator runs the
     * command as a preloaded child); in-process users call cn_up20l_emu_reexec_preloaded. */
    int r = CN_OK;
    if (e->o.plug_after_ms > 0) { /* not plugged in yet: the testbed alone, the probe later */
        GSource *s = g_timeout_source_new((guint)e->o.plug_after_ms);
        g_source_set_callback(s, replug_cb, e, NULL);
        g_source_attach(s, e->ctx);
        g_source_unref(s);
    } else {
        r = do_replug(e);
    }
    g_mutex_lock(&e->ready_mu);
    e->ready = r == CN_OK ? 1 : -1;
    g_cond_signal(&e->ready_cond);
    g_mutex_unlock(&e->ready_mu);
    if (r == CN_OK)
        g_main_loop_run(e->loop);
    g_main_context_pop_thread_default(e->ctx);
    return NULL;
}

cn_up20l_emu *cn_up20l_emu_new(const cn_up20l_emu_opts *o, char *err, size_t err_len)
{
    cn_up20l_emu *e = g_new0(cn_up20l_emu, 1);
    e->o = *o;
    cn_strlcpy(e->manufacturer, o->manufacturer ? o->manufacturer : "HealSon",
               sizeof e->manufacturer);
    cn_strlcpy(e->product, o->product ? o->product : "V2.03", sizeof e->product);
    e->o.manufacturer = e->o.product = NULL;
    e->m = emu_model_new(o, err, err_len);
    e->log = malloc(sizeof(cn_usb_req) * LOG_MAX);
    if (!e->m || !e->log) {
        emu_model_free(e->m);
        free(e->log);
        g_free(e);
        return NULL;
    }
    g_mutex_init(&e->mu);
    g_mutex_init(&e->tb_mu);
    g_mutex_init(&e->ready_mu);
    g_cond_init(&e->ready_cond);
    g_queue_init(&e->pending);
    g_queue_init(&e->done);
    g_queue_init(&e->stale);
    e->devnum = 1; /* the first plug-in makes it 002 */
    e->debug = getenv("CN_EMU_DEBUG") != NULL;
    e->ctx = g_main_context_new();
    e->loop = g_main_loop_new(e->ctx, FALSE);
    e->thread = g_thread_new("up20l-emu", worker, e);
    g_mutex_lock(&e->ready_mu);
    while (e->ready == 0)
        g_cond_wait(&e->ready_cond, &e->ready_mu);
    g_mutex_unlock(&e->ready_mu);
    if (e->ready < 0) {
        snprintf(err, err_len, "%s", e->err);
        cn_up20l_emu_free(e);
        return NULL;
    }
    return e;
}

void cn_up20l_emu_free(cn_up20l_emu *e)
{
    if (!e)
        return;
    if (e->thread) {
        g_main_loop_quit(e->loop);
        g_main_context_wakeup(e->ctx);
        g_thread_join(e->thread);
    }
    g_mutex_lock(&e->mu);
    drop_all(e);
    bool rm = e->in_sysfs && e->tb;
    e->in_sysfs = false;
    e->plugged = false;
    g_mutex_unlock(&e->mu);
    if (rm) { /* leave the test bed empty (no device for it to tear down) */
        umockdev_testbed_detach_ioctl(e->tb, e->devnode, NULL);
        umockdev_testbed_remove_device(e->tb, SYSPATH);
    }
    if (e->handler)
        g_object_unref(e->handler);
    if (e->listener) /* no uevent is sent after the worker ended */
        libusb_exit(e->listener);
    if (e->tb)
        g_object_unref(e->tb);
    g_free(e->root);
    g_main_loop_unref(e->loop);
    g_main_context_unref(e->ctx);
    emu_model_free(e->m);
    free(e->log);
    g_mutex_clear(&e->mu);
    g_mutex_clear(&e->tb_mu);
    g_mutex_clear(&e->ready_mu);
    g_cond_clear(&e->ready_cond);
    g_free(e);
}

const char *cn_up20l_emu_root(const cn_up20l_emu *e) { return e->root; }

int cn_up20l_emu_unplug(cn_up20l_emu *e)
{
    g_mutex_lock(&e->mu);
    do_unplug(e);
    g_mutex_unlock(&e->mu);
    return CN_OK;
}

int cn_up20l_emu_replug(cn_up20l_emu *e) { return do_replug(e); }

#define LOCKED_GET(type, expr)            \
    do {                                  \
        g_mutex_lock(&e->mu);             \
        type v_ = (expr);                 \
        g_mutex_unlock(&e->mu);           \
        return v_;                        \
    } while (0)

int64_t cn_up20l_emu_last_replug_ns(cn_up20l_emu *e) { LOCKED_GET(int64_t, e->last_replug_ns); }
int64_t cn_up20l_emu_last_unplug_ns(cn_up20l_emu *e) { LOCKED_GET(int64_t, e->last_unplug_ns); }
bool cn_up20l_emu_plugged(cn_up20l_emu *e) { LOCKED_GET(bool, e->plugged); }
uint64_t cn_up20l_emu_frames_served(cn_up20l_emu *e) { LOCKED_GET(uint64_t, emu_model_frames_served(e->m)); }

size_t cn_up20l_emu_requests(cn_up20l_emu *e, cn_usb_req *out, size_t max)
{
    g_mutex_lock(&e->mu);
    size_t n = e->n_log < max ? e->n_log : max;
    memcpy(out, e->log, n * sizeof *out);
    size_t total = e->n_log;
    g_mutex_unlock(&e->mu);
    return total < max ? total : n;
}

int cn_up20l_emu_protocol_errors(cn_up20l_emu *e, char *out, size_t out_len)
{
    LOCKED_GET(int, emu_model_errors(e->m, out, out_len));
}
