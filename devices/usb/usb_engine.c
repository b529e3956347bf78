/*
 * usb_engine.c - a libusb streaming engine that knows nothing about any probe.
 *
 * Ideas:
 *   - Discovery enumerates with a fresh libusb context on every open, so a probe
 *     that was unplugged and plugged back in (new device address) is found without
 *     relying on hot-plug events reaching this process.
 *   - A frame is read as n bulk IN transfers of one chunk each, up to in_flight of
 *     them queued at once, each landing directly at its offset in the caller's frame
 *     buffer (no copy per transfer). A transfer that completes resubmits itself for
 *     the next chunk, so the queue stays full while data flows.
 *   - Any failure (timeout, stall, short chunk, device gone, interrupt) stops new
 *     submissions, cancels what is queued and waits until libusb has returned every
 *     transfer: the buffer is never written after read_chunks returns, and the caller
 *     learns exactly why the frame is incomplete.
 */
#include "usb/usb.h"

#include <libusb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 64
#define LOGMOD "usb"

struct cn_usb_engine {
    cn_usb_engine_opts o;
    libusb_context *ctx;
    libusb_device_handle *h;
    int bus, addr;
    bool gone;
    atomic_bool interrupted;
    struct libusb_transfer *slots[MAX_SLOTS];
};

/* Per-read bookkeeping shared with the transfer callbacks (same thread). */
typedef struct {
    cn_usb_engine *e;
    uint8_t *buf;
    int chunk, n;
    int next;        /* next chunk index to submit */
    int done;        /* chunks completed OK */
    long bytes;      /* bytes the device sent, whatever became of each transfer */
    int in_flight;
    int fail;        /* first failure: CN_E* code, 0 none */
    int fail_chunk, fail_len;
    int timeout_ms;
    uint8_t ep;
} read_state;

static int map_err(cn_usb_engine *e, int r)
{
    switch (r) {
    case LIBUSB_ERROR_NO_DEVICE:
        e->gone = true;
        return CN_ECLOSED;
    case LIBUSB_ERROR_TIMEOUT: return CN_ETIMEDOUT;
    case LIBUSB_ERROR_NO_MEM: return CN_ENOMEM;
    case LIBUSB_ERROR_INVALID_PARAM: return CN_EINVAL;
    default: return CN_EIO;
    }
}

cn_usb_engine *cn_usb_engine_new(const cn_usb_engine_opts *o, char *err, size_t err_len)
{
    cn_usb_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_len, "usb engine: out of memory");
        return NULL;
    }
    e->o = *o;
    atomic_init(&e->interrupted, false);
    return e;
}

void cn_usb_engine_close(cn_usb_engine *e)
{
    if (!e)
        return;
    /* Transfers belong to one open handle: free them while it is still valid. */
    for (int i = 0; i < MAX_SLOTS; i++)
        if (e->slots[i]) {
            libusb_free_transfer(e->slots[i]);
            e->slots[i] = NULL;
        }
    if (e->h) {
        if (!e->gone)
            libusb_release_interface(e->h, e->o.interface_no);
        libusb_close(e->h);
        e->h = NULL;
    }
    if (e->ctx) {
        libusb_exit(e->ctx);
        e->ctx = NULL;
    }
}

void cn_usb_engine_free(cn_usb_engine *e)
{
    if (!e)
        return;
    cn_usb_engine_close(e);
    free(e);
}

bool cn_usb_engine_is_open(const cn_usb_engine *e) { return e && e->h && !e->gone; }

void cn_usb_engine_address(const cn_usb_engine *e, int *bus, int *addr)
{
    *bus = e->bus;
    *addr = e->addr;
}

int cn_usb_engine_open(cn_usb_engine *e, char *err, size_t err_len)
{
    return cn_usb_engine_open_nth(e, 0, NULL, err, err_len);
}

int cn_usb_engine_open_nth(cn_usb_engine *e, int nth, bool *access_denied, char *err,
                           size_t err_len)
{
    if (access_denied)
        *access_denied = false;
    cn_usb_engine_close(e);
    e->gone = false;
    int r = libusb_init(&e->ctx);
    if (r != 0) {
        e->ctx = NULL;
        snprintf(err, err_len, "libusb cannot start: %s", libusb_strerror(r));
        return CN_EIO;
    }
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(e->ctx, &list);
    if (n < 0) {
        snprintf(err, err_len, "libusb cannot list devices: %s", libusb_strerror((int)n));
        cn_usb_engine_close(e);
        return CN_EIO;
    }
    int rc = CN_ENOENT;
    snprintf(err, err_len, "no USB device %04x:%04x attached", e->o.vid, e->o.pid);
    int seen = 0;
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0 || dd.idVendor != e->o.vid ||
            dd.idProduct != e->o.pid)
            continue;
        if (seen++ < nth)
            continue;
        int bus = libusb_get_bus_number(list[i]), addr = libusb_get_device_address(list[i]);
        r = libusb_open(list[i], &e->h);
        if (r == LIBUSB_ERROR_ACCESS) {
            snprintf(err, err_len,
                     "no permission to open /dev/bus/usb/%03d/%03d (%04x:%04x): install the udev "
                     "rule printed by 'cryonav probes' and re-plug the probe",
                     bus, addr, e->o.vid, e->o.pid);
            rc = CN_EIO;
            e->h = NULL;
            if (access_denied)
                *access_denied = true;
            break;
        }
        if (r != 0) {
            snprintf(err, err_len, "cannot open /dev/bus/usb/%03d/%03d: %s", bus, addr,
                     libusb_strerror(r));
            rc = CN_EIO;
            e->h = NULL;
            break;
        }
        /* An FX2 board id may be bound by a kernel driver (usbtest): let libusb detach it. */
        libusb_set_auto_detach_kernel_driver(e->h, 1);
        r = libusb_claim_interface(e->h, e->o.interface_no);
        if (r != 0) {
            snprintf(err, err_len,
                     "cannot claim interface %d of /dev/bus/usb/%03d/%03d: %s (is another "
                     "program using the probe?)",
                     e->o.interface_no, bus, addr, libusb_strerror(r));
            libusb_close(e->h);
            e->h = NULL;
            rc = CN_EIO;
            break;
        }
        e->bus = bus;
        e->addr = addr;
        rc = CN_OK;
        for (int k = 0; k < MAX_SLOTS && rc == CN_OK; k++)
            if (!(e->slots[k] = libusb_alloc_transfer(0))) {
                snprintf(err, err_len, "usb engine: cannot allocate transfers");
                rc = CN_ENOMEM;
            }
        if (rc != CN_OK)
            break;
        if (err_len)
            err[0] = 0;
        break;
    }
    libusb_free_device_list(list, 1);
    if (rc != CN_OK)
        cn_usb_engine_close(e);
    return rc;
}

int cn_usb_engine_control(cn_usb_engine *e, uint8_t bm, uint8_t br, uint16_t wv, uint16_t wi,
                          uint8_t *data, uint16_t len, int timeout_ms)
{
    if (!cn_usb_engine_is_open(e))
        return CN_ECLOSED;
    int r = libusb_control_transfer(e->h, bm, br, wv, wi, data, len, (unsigned)timeout_ms);
    return r < 0 ? map_err(e, r) : r;
}

int cn_usb_engine_bulk(cn_usb_engine *e, uint8_t ep, uint8_t *data, int len, int timeout_ms)
{
    if (!cn_usb_engine_is_open(e))
        return CN_ECLOSED;
    int got = 0;
    int r = libusb_bulk_transfer(e->h, ep, data, len, &got, (unsigned)timeout_ms);
    if (r == LIBUSB_ERROR_PIPE)
        libusb_clear_halt(e->h, ep);
    return r < 0 ? map_err(e, r) : got;
}

int cn_usb_engine_flush_in(cn_usb_engine *e, uint8_t ep, uint8_t *buf, int len, int timeout_ms,
                           int max_reads, long *thrown)
{
    if (thrown)
        *thrown = 0;
    if (!cn_usb_engine_is_open(e))
        return CN_ECLOSED;
    bool stalled = false;
    for (int i = 0; i < max_reads; i++) {
        if (atomic_load(&e->interrupted))
            return CN_ECLOSED;
        int got = 0;
        int r = libusb_bulk_transfer(e->h, ep, buf, len, &got, (unsigned)timeout_ms);
        if (got > 0 && thrown)
            *thrown += got;
        if (r == LIBUSB_ERROR_TIMEOUT && got == 0)
            return CN_OK; /* nothing came: the pipe is quiet */
        if (r == LIBUSB_ERROR_PIPE) {
            /* clear it and read on (whether a clear-halt also empties the FIFO is up to
             * the firmware); a second stall in a row is a failure */
            libusb_clear_halt(e->h, ep);
            if (stalled)
                return CN_EIO;
            stalled = true;
            continue;
        }
        stalled = false;
        if (r != 0 && r != LIBUSB_ERROR_TIMEOUT && r != LIBUSB_ERROR_OVERFLOW)
            return map_err(e, r);
        /* data (whole, short, or partial before the timeout): there may be more */
    }
    return CN_EAGAIN;
}

void cn_usb_engine_interrupt(cn_usb_engine *e) { atomic_store(&e->interrupted, true); }
bool cn_usb_engine_interrupted(const cn_usb_engine *e) { return atomic_load(&((cn_usb_engine *)e)->interrupted); }
void cn_usb_engine_clear_interrupt(cn_usb_engine *e) { atomic_store(&e->interrupted, false); }

static void set_fail(read_state *s, int code, int chunk, int len)
{
    if (!s->fail) {
        s->fail = code;
        s->fail_chunk = chunk;
        s->fail_len = len;
    }
}

static void LIBUSB_CALL on_chunk(struct libusb_transfer *t)
{
    read_state *s = t->user_data;
    int idx = (int)((t->buffer - s->buf) / s->chunk);
    s->in_flight--;
    if (t->actual_length > 0)
        s->bytes += t->actual_length;
    switch (t->status) {
    case LIBUSB_TRANSFER_COMPLETED:
        if (t->actual_length != s->chunk)
            set_fail(s, CN_EPARSE, idx, t->actual_length);
        else
            s->done++;
        break;
    case LIBUSB_TRANSFER_TIMED_OUT: set_fail(s, CN_ETIMEDOUT, idx, t->actual_length); break;
    case LIBUSB_TRANSFER_STALL: set_fail(s, CN_EIO, idx, 0); break;
    case LIBUSB_TRANSFER_NO_DEVICE:
        s->e->gone = true;
        set_fail(s, CN_ECLOSED, idx, 0);
        break;
    case LIBUSB_TRANSFER_CANCELLED: set_fail(s, CN_ECLOSED, idx, 0); break;
    default: set_fail(s, CN_EIO, idx, 0); break;
    }
    if (s->fail || s->next >= s->n)
        return;
    /* Keep the queue full: this transfer goes again for the next chunk. */
    libusb_fill_bulk_transfer(t, s->e->h, s->ep, s->buf + (size_t)s->next * (size_t)s->chunk,
                              s->chunk, on_chunk, s, (unsigned)s->timeout_ms);
    int r = libusb_submit_transfer(t);
    if (r == 0) {
        s->next++;
        s->in_flight++;
    } else {
        set_fail(s, map_err(s->e, r), s->next, 0);
    }
}

int cn_usb_engine_read_chunks(cn_usb_engine *e, uint8_t ep, uint8_t *buf, int chunk, int n,
                              int in_flight, int timeout_ms, int *received, char *err,
                              size_t err_len)
{
    if (received)
        *received = 0;
    if (!cn_usb_engine_is_open(e))
        return CN_ECLOSED;
    if (chunk <= 0 || n <= 0 || in_flight <= 0) {
        snprintf(err, err_len, "read_chunks: bad arguments (chunk %d, n %d, in flight %d)", chunk, n,
                 in_flight);
        return CN_EINVAL;
    }
    if (in_flight > MAX_SLOTS)
        in_flight = MAX_SLOTS;
    if (in_flight > n)
        in_flight = n;
    read_state s = {.e = e, .buf = buf, .chunk = chunk, .n = n, .timeout_ms = timeout_ms, .ep = ep};
    for (int i = 0; i < in_flight; i++) {
        struct libusb_transfer *t = e->slots[i];
        libusb_fill_bulk_transfer(t, e->h, ep, buf + (size_t)s.next * (size_t)chunk, chunk, on_chunk,
                                  &s, (unsigned)timeout_ms);
        int r = libusb_submit_transfer(t);
        if (r != 0) {
            set_fail(&s, map_err(e, r), s.next, 0);
            break;
        }
        s.next++;
        s.in_flight++;
    }
    bool cancelled = false;
    int64_t cancel_ns = 0, progress_ns = cn_clock_mono_ns();
    int last_in_flight = s.in_flight, last_next = s.next;
    while (s.in_flight > 0) {
        struct timeval tv = {0, 20000};
        int r = libusb_handle_events_timeout_completed(e->ctx, &tv, NULL);
        if (r == LIBUSB_ERROR_NO_DEVICE)
            e->gone = true;
        if (cancelled && cn_clock_mono_ns() - cancel_ns > 2000000000LL) {
            /* A vanished device whose transfers never come back (no POLLERR from the
             * node): abandon them - nothing can write into buf any more - and use fresh
             * transfer structs from now on. */
            cn_log_warn(e->o.log, LOGMOD, "%d USB transfers never returned after the device "
                        "went away; abandoning them", s.in_flight);
            for (int i = 0; i < in_flight; i++)
                e->slots[i] = NULL; /* deliberately not freed: libusb may still own them */
            e->gone = true;
            set_fail(&s, CN_ECLOSED, s.next, 0);
            break;
        }
        if (atomic_load(&e->interrupted))
            set_fail(&s, CN_ECLOSED, s.next, 0);
        /* Watchdog: libusb's own timeouts should always end a transfer; if nothing at all
         * moves for twice the timeout plus a second, stop waiting for it. */
        if (s.in_flight != last_in_flight || s.next != last_next) {
            last_in_flight = s.in_flight;
            last_next = s.next;
            progress_ns = cn_clock_mono_ns();
        } else if (!s.fail && cn_clock_mono_ns() - progress_ns > (2LL * timeout_ms + 1000) * 1000000LL) {
            set_fail(&s, CN_ETIMEDOUT, s.next, 0);
        }
        if (s.fail && !cancelled) {
            /* Stop the rest: each cancelled transfer still comes back through on_chunk. */
            for (int i = 0; i < in_flight; i++)
                libusb_cancel_transfer(e->slots[i]);
            cancelled = true;
            cancel_ns = cn_clock_mono_ns();
        }
    }
    if (received)
        *received = s.bytes > INT32_MAX ? INT32_MAX : (int)s.bytes;
    if (!s.fail && s.done == n)
        return CN_OK;
    switch (s.fail) {
    case CN_ETIMEDOUT:
        snprintf(err, err_len, "bulk transfer %d of %d on endpoint 0x%02x timed out after %d ms",
                 s.fail_chunk + 1, n, ep, timeout_ms);
        break;
    case CN_EPARSE:
        snprintf(err, err_len, "short bulk read: transfer %d of %d brought %d of %d bytes",
                 s.fail_chunk + 1, n, s.fail_len, chunk);
        break;
    case CN_EIO:
        if (e->h && !e->gone)
            libusb_clear_halt(e->h, ep);
        snprintf(err, err_len, "endpoint 0x%02x stalled at transfer %d of %d (halt cleared)", ep,
                 s.fail_chunk + 1, n);
        break;
    case CN_ECLOSED:
        snprintf(err, err_len, "%s at transfer %d of %d",
                 e->gone ? "probe unplugged" : "read interrupted", s.fail_chunk + 1, n);
        break;
    default:
        snprintf(err, err_len, "bulk read failed (%s) at transfer %d of %d", cn_strerror(s.fail),
                 s.fail_chunk + 1, n);
        break;
    }
    return s.fail ? s.fail : CN_EIO;
}

int cn_usb_engine_count(cn_usb_engine *e)
{
    cn_usb_engine_close(e);
    libusb_context *ctx = NULL;
    if (libusb_init(&ctx) != 0)
        return CN_EIO;
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(ctx, &list);
    int count = 0;
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) == 0 && dd.idVendor == e->o.vid &&
            dd.idProduct == e->o.pid)
            count++;
    }
    if (n >= 0)
        libusb_free_device_list(list, 1);
    libusb_exit(ctx);
    return n < 0 ? CN_EIO : count;
}

/* One line of a sysfs attribute, its trailing newline and spaces cut; false when absent. */
static bool read_attr(const char *dir, const char *name, char *out, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    out[0] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    if (!fgets(out, (int)n, fp))
        out[0] = 0;
    fclose(fp);
    size_t l = strlen(out);
    while (l > 0 && (out[l - 1] == '\n' || out[l - 1] == '\r' || out[l - 1] == ' '))
        out[--l] = 0;
    for (char *c = out; *c; c++) /* a board's own words reach the log: no control bytes */
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return true;
}

int cn_usb_engine_strings_nth(cn_usb_engine *e, int nth, cn_usb_strings *out)
{
    memset(out, 0, sizeof *out);
    libusb_context *ctx = NULL;
    if (libusb_init(&ctx) != 0)
        return CN_EIO;
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(ctx, &list);
    int rc = CN_ENOENT, seen = 0;
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0 || dd.idVendor != e->o.vid ||
            dd.idProduct != e->o.pid || seen++ < nth)
            continue;
        out->bus = libusb_get_bus_number(list[i]);
        out->addr = libusb_get_device_address(list[i]);
        /* the kernel names a device <bus>-<port>.<port>... */
        uint8_t ports[8];
        int np = libusb_get_port_numbers(list[i], ports, (int)sizeof ports);
        char dir[128];
        int l = snprintf(dir, sizeof dir, "/sys/bus/usb/devices/%d-", out->bus);
        for (int k = 0; k < np && l > 0 && (size_t)l < sizeof dir; k++)
            l += snprintf(dir + l, sizeof dir - (size_t)l, k ? ".%u" : "%u", ports[k]);
        char v[16];
        /* the directory is this device's when its address is the one libusb listed */
        if (np <= 0 || !read_attr(dir, "devnum", v, sizeof v) || atoi(v) != out->addr) {
            rc = CN_EUNSUPPORTED;
            break;
        }
        read_attr(dir, "manufacturer", out->manufacturer, sizeof out->manufacturer);
        read_attr(dir, "product", out->product, sizeof out->product);
        rc = CN_OK;
        break;
    }
    if (n >= 0)
        libusb_free_device_list(list, 1);
    libusb_exit(ctx);
    return n < 0 ? CN_EIO : rc;
}
