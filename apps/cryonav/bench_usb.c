/* bench_usb.c - `cryonav bench usb`: how fast the USB probe driver streams, and what
 * each frame costs the host CPU.
 *
 * Run it with a probe attached or, without hardware, under the emulator serving frames
 * as fast as they are asked for:
 *   cryonav-probe-emulator --fps 0 --payload 640x480 -- cryonav bench usb --payload 640x480
 * The driver does the real work for every frame (frame request, bulk transfers with
 * several in flight through libusb and usbdevfs, plausibility check, log compression
 * and resampling into a pool frame). CPU per frame is this process's user+system time
 * divided by the frames delivered; the emulator runs in its own process, so its cost
 * (the "device") is not counted. The probe's real rate is ~6.25 fps (160 ms/frame). */
#include "commands.h"

#include "usb/usb.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define REAL_FPS 6.25

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int cn_bench_usb(int argc, char **argv)
{
    long frames = 300;
    int rows = CN_UP20L_ROWS, cols = CN_UP20L_COLS, xfer_kib = 0;
    static const struct option opts[] = {{"frames", required_argument, 0, 'n'},
                                         {"payload", required_argument, 0, 'p'},
                                         {"transfer-kib", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            frames = strtol(optarg, &end, 10);
            if (*end || frames < 10 || frames > 1000000)
                return cn_app_usage_error("bench", "--frames needs a whole number >= 10, not '%s'", optarg);
            break;
        }
        case 'p':
            if (sscanf(optarg, "%dx%d", &rows, &cols) != 2 || rows < 2 || cols < 2 || rows > 4096 ||
                cols > 4096 || ((long)rows * cols * 2) % CN_UP20L_CHUNK != 0)
                return cn_app_usage_error("bench", "--payload needs ROWSxCOLS with rows*cols*2 a "
                                                   "multiple of 4096, not '%s'", optarg);
            break;
        case 't': {
            char *end;
            xfer_kib = (int)strtol(optarg, &end, 10);
            if (*end || xfer_kib < 4 || xfer_kib > 1024 || xfer_kib % 4 != 0)
                return cn_app_usage_error("bench", "--transfer-kib needs a multiple of 4 in 4..1024, not '%s'", optarg);
            break;
        }
        case 'h':
            printf("usage: cryonav bench usb [--frames N] [--payload ROWSxCOLS] [--transfer-kib K]\n"
                   "Streams N frames from the first UP20L (or the emulator: run under\n"
                   "cryonav-probe-emulator --fps 0 [--payload ROWSxCOLS] -- ...) and reports the\n"
                   "frame rate, its ratio to the probe's real %.2f fps, and CPU per frame.\n\n"
                   "options:\n"
                   "  --frames N           frames streamed (10..1000000, default 300)\n"
                   "  --payload ROWSxCOLS  raw frame size; must match the emulator's (default\n"
                   "                       512x160, the UP20L's)\n"
                   "  --transfer-kib K     KiB per bulk transfer, a multiple of 4 in 4..1024\n"
                   "                       (default: the probe file's transfer_bytes, 4 KiB like\n"
                   "                       the vendor software)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: stdout only. Last line: usb fps <x> x_real <y> cpu_ms_per_frame <z>\n",
                   REAL_FPS);
            return 0;
        case ':': return cn_app_usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    char err[1024], ppath[1024];
    cn_usb_device_opts uo = {0};
    cn_up20l_config_default(&uo.config);
    cn_app_data_path("config/probes/up20l.json", ppath, sizeof ppath);
    if (cn_up20l_config_load(ppath, &uo.config, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav bench usb: %s\n", err);
        return 2;
    }
    cn_up20l_config_apply_env(&uo.config);
    if (xfer_kib)
        uo.config.transfer_bytes = xfer_kib * 1024;
    uo.raw_rows = rows;
    uo.raw_cols = cols;
    cn_log *lg = cn_log_new(stderr, CN_LOG_WARN);
    uo.log = lg;
    cn_usb_device *d = cn_usb_device_new(&uo, err, sizeof err);
    if (!d) {
        fprintf(stderr, "cryonav bench usb: %s\n", err);
        cn_log_free(lg);
        return 2;
    }
    cn_device dev = cn_usb_device_iface(d);
    cn_frame_pool *pool = cn_frame_pool_new(2, 1024, 1024);
    int rc = 0;
    if (dev.start(dev.self) != CN_OK) {
        fprintf(stderr, "cryonav bench usb: no usable probe (without hardware, run under "
                        "cryonav-probe-emulator --fps 0 -- cryonav bench usb)\n");
        rc = 1;
    }
    /* a few frames to settle, then the measured run */
    long got = 0, warm = 5, eagain = 0;
    int w = 0, h = 0;
    double cpu0 = 0;
    int64_t t0 = 0;
    cn_stats *lat = cn_stats_new((int)frames);
    while (rc == 0 && got < frames + warm) {
        cn_frame *f = cn_frame_pool_acquire(pool);
        int64_t tr = cn_clock_mono_ns();
        int r = dev.read(dev.self, f);
        if (r == CN_OK) {
            w = f->width;
            h = f->height;
            if (++got == warm) {
                t0 = cn_clock_mono_ns();
                cpu0 = cpu_s();
            } else if (got > warm) {
                cn_stats_add(lat, (cn_clock_mono_ns() - tr) / 1e6);
            }
        } else if (r == CN_EAGAIN) {
            if (++eagain > 20) {
                fprintf(stderr, "cryonav bench usb: the probe keeps failing (see the log above)\n");
                rc = 1;
            }
        } else {
            fprintf(stderr, "cryonav bench usb: read failed: %s\n", cn_strerror(r));
            rc = 1;
        }
        cn_frame_unref(f);
    }
    if (rc == 0) {
        double s = (cn_clock_mono_ns() - t0) / 1e9, cpu = cpu_s() - cpu0;
        double fps = frames / s;
        cn_usb_device_stats st;
        cn_usb_device_get_stats(d, &st);
        int xfer = uo.config.transfer_bytes;
        while ((rows * cols * 2) % xfer != 0)
            xfer -= CN_UP20L_CHUNK;
        printf("payload %d x %d uint16 (%d KiB, %d bulk transfers of %d KiB per frame, %d in flight), "
               "%ld frames in %.2f s\n",
               rows, cols, rows * cols * 2 / 1024, rows * cols * 2 / xfer, xfer / 1024,
               uo.config.transfers_in_flight, frames, s);
        printf("read() per frame ms: p50 %.2f p99 %.2f; dropped %llu\n", cn_stats_percentile(lat, 50),
               cn_stats_percentile(lat, 99), (unsigned long long)st.dropped);
        printf("throughput %.1f MB/s of raw samples; image %dx%d px\n",
               fps * rows * cols * 2 / 1e6, w, h);
        /* the decoder alone on a synthetic frame of the same size (cost is data-independent:
         * one table lookup per sample, then the resampling) */
        cn_up20l_decode_opts dopt = uo.config.decode;
        dopt.rows = rows;
        dopt.cols = cols;
        cn_up20l_decoder *dec = cn_up20l_decoder_new(&dopt, err, sizeof err);
        size_t rlen = (size_t)rows * (size_t)cols * 2;
        uint8_t *raw = malloc(rlen);
        double dec_ms = 0;
        if (dec && raw) {
            cn_rng rng;
            cn_rng_seed(&rng, 1);
            for (size_t i = 0; i < rlen; i += 2) {
                uint16_t v = (uint16_t)(cn_rng_uniform(&rng) * 8000);
                raw[i] = (uint8_t)v;
                raw[i + 1] = (uint8_t)(v >> 8);
            }
            cn_frame *f = cn_frame_pool_acquire(pool);
            int64_t td = cn_clock_mono_ns();
            for (int i = 0; i < 200; i++)
                cn_up20l_decode(dec, raw, rlen, f);
            dec_ms = (cn_clock_mono_ns() - td) / 1e6 / 200;
            cn_frame_unref(f);
        }
        free(raw);
        cn_up20l_decoder_free(dec);
        printf("decode alone %.2f ms/frame (log compression + resampling to %dx%d)\n", dec_ms, w, h);
        printf("usb fps %.1f x_real %.1f cpu_ms_per_frame %.2f\n", fps, fps / REAL_FPS, 1000.0 * cpu / frames);
    }
    cn_stats_free(lat);
    dev.stop(dev.self);
    cn_usb_device_free(d);
    cn_frame_pool_free(pool);
    cn_log_free(lg);
    return rc;
}
