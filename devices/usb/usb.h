/*
 * usb.h - the one public header of devices/usb: streaming frames from a USB
 * ultrasound probe with libusb, without a vendor SDK. First probe: the Healson
 * UP20L linear probe (protocol facts: ../shared/docs/usb-probes.md).
 *
 * Four ideas, one file each underneath:
 *   - decoding (up20l_decode.c): 512 x 160 uint16 envelope samples -> an 8-bit
 *     B-mode cn_frame (log compression with user dynamic range and gain through
 *     a 64 Ki-entry lookup table, separable bilinear resampling to square pixels);
 *   - the probe's configuration and the owner's calibration tables
 *     (up20l_config.c, up20l_tables.c): the vendor tables are NOT shipped; the
 *     driver loads them from a folder the owner supplies, sizes checked;
 *   - the request vocabulary (usb_rec.c): a USB request record, the USBREC01
 *     capture format of the vendor sessions and a tokenizer that turns requests
 *     into UP20L protocol steps (identify, register write/read, table upload,
 *     frame request) so a driver's start-up can be compared with the vendor's;
 *   - the driver (usb_engine.c: probe-independent libusb engine with several
 *     bulk transfers in flight, timeouts and hot-plug; up20l_proto.c: the UP20L
 *     requests and start-up script; usb_device.c: the cn_device the pipeline
 *     reads, which survives unplug/replug without restarting the session).
 *
 * Errors are negative CN_E* codes and every failure also writes a sentence
 * into a caller buffer (err, err_len) naming the input and the problem.
 */
#ifndef CN_USB_H
#define CN_USB_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ UP20L constants */

#define CN_UP20L_VID 0x04B4          /* generic Cypress FX2 id: identify before trusting */
#define CN_UP20L_PID 0x8613
#define CN_UP20L_EP_OUT 0x02
#define CN_UP20L_EP_IN 0x86
#define CN_UP20L_ROWS 512            /* depth samples */
#define CN_UP20L_COLS 160            /* scan lines */
#define CN_UP20L_CHUNK 4096          /* one bulk IN read */
#define CN_UP20L_CHUNKS 40           /* bulk IN reads per frame */
#define CN_UP20L_FRAME_BYTES (CN_UP20L_CHUNK * CN_UP20L_CHUNKS) /* 163,840 */
#define CN_UP20L_REG_REPLY 512       /* bulk IN bytes answering a register read */
#define CN_UP20L_N_TABLES 9          /* calibration tables with a file each */
#define CN_UP20L_TGC4_WRITES 7       /* 4-byte writes after [0x10, 0x04] */
#define CN_UP20L_EMPTY_SPAN 16       /* a frame whose samples all lie within this: no echo */
/* ...or whose largest sample is under this: ADC noise, no echo (a front end that does not
 * fire still digitises noise: review 39c); the transducer's ring-down alone reaches
 * thousands, and the five real phantom frames 8529-9355, of 16383 */
#define CN_UP20L_ECHO_MIN 512

/* ------------------------------------------------------------------ raw frames, decoding */

typedef struct {
    uint16_t min, max;
    uint64_t sum;
} cn_up20l_raw_stats;

/* Statistics of a raw frame of rows x cols uint16 LE samples (len must be rows*cols*2). */
int cn_up20l_raw_stats_get(const uint8_t *raw, size_t len, int rows, int cols,
                           cn_up20l_raw_stats *out);
/* Sample at (row, col) of a raw row-major uint16 LE frame. */
uint16_t cn_up20l_raw_sample(const uint8_t *raw, int cols, int row, int col);

typedef struct {
    int rows, cols;              /* raw layout; UP20L: 512 x 160 */
    double width_mm;             /* lateral extent of the cols scan lines */
    double depth_mm;             /* axial extent of the rows samples */
    double pixel_mm;             /* output square pixel size */
    double dynamic_range_db;     /* displayed range, 20..100 */
    double gain_db;              /* added before mapping, -40..40 */
    double ref_amplitude;        /* amplitude shown white at 0 dB gain */
    int max_bad_permille;        /* garbage check: samples above plausible_max, per 1000 */
    int plausible_max;           /* largest plausible envelope sample (14-bit ADC: 16383) */
} cn_up20l_decode_opts;

void cn_up20l_decode_opts_default(cn_up20l_decode_opts *o);

/* A decoder keeps the lookup table and the resampling plan for one set of options. */
typedef struct cn_up20l_decoder cn_up20l_decoder;
cn_up20l_decoder *cn_up20l_decoder_new(const cn_up20l_decode_opts *o, char *err, size_t err_len);
void cn_up20l_decoder_free(cn_up20l_decoder *d);
/* Output size in pixels. */
void cn_up20l_decoder_size(const cn_up20l_decoder *d, int *width, int *height);
/* Changes gain and dynamic range (rebuilds the lookup table; not thread-safe with decode). */
int cn_up20l_decoder_set_levels(cn_up20l_decoder *d, double gain_db, double dynamic_range_db);
/* Checks a raw frame for garbage (too many implausible samples) and for no echo (every
 * sample within CN_UP20L_EMPTY_SPAN, or none reaching CN_UP20L_ECHO_MIN): CN_OK or
 * CN_EPARSE with a message. */
int cn_up20l_check_raw(const cn_up20l_decoder *d, const uint8_t *raw, size_t len, char *err,
                       size_t err_len);
/* raw (rows*cols*2 bytes) -> f: size, pixels, spacing_mm, transducer_px. Does not touch
 * the frame's times or seq. CN_ERANGE when the image does not fit the frame's pool. */
int cn_up20l_decode(const cn_up20l_decoder *d, const uint8_t *raw, size_t len, cn_frame *f);

/* ------------------------------------------------------------------ configuration */

#define CN_UP20L_MAX_PRESETS 8
#define CN_PATH_MAX_USB 512

typedef struct {
    char name[32];
    double depth_mm;
    uint8_t reg20, reg2b, reg2c;   /* the depth-related registers (vendor start-up values) */
} cn_up20l_depth_preset;

typedef struct {
    cn_up20l_decode_opts decode;
    int n_presets;
    cn_up20l_depth_preset presets[CN_UP20L_MAX_PRESETS];
    int preset;                    /* index of the active depth preset */
    int focus_zone;                /* register 0x17, 0..4 */
    char tables_dir[CN_PATH_MAX_USB]; /* owner-supplied vendor tables ("" = not configured) */
    int transfers_in_flight;       /* bulk reads queued at once, 1..40 */
    int transfer_bytes;            /* bytes per bulk transfer, multiple of 4096 (the vendor reads 4096) */
    int transfer_timeout_ms;       /* one bulk read */
    int reconnect_poll_ms;         /* how often to look for a replugged probe */
    int status_poll_ms;            /* register 0x16 poll while streaming (vendor: ~250 ms) */
    double time_offset_ms;         /* added to a frame's time, taken when its last chunk came:
                                      a temporal calibration's offset (PLUS's
                                      LocalTimeOffsetSec), -1000..1000 */
    double wait_s;                 /* how long start() waits for a probe to be plugged in;
                                      < 0: until the session stops (start() then returns after
                                      2 s without one and read() keeps looking) */
} cn_up20l_config;

void cn_up20l_config_default(cn_up20l_config *c);
/* Loads config/probes/up20l.json (every key optional; unknown keys are errors). */
int cn_up20l_config_load(const char *path, cn_up20l_config *c, char *err, size_t err_len);
/* Applies the "usb" object of a session file (keys: probe_config, tables_dir, gain_db,
 * dynamic_range_db, depth_mm, focus_zone, wait_s: seconds to wait for the probe at the
 * start, -1 = until stopped). Absent object: CN_OK, nothing changed. */
int cn_up20l_config_apply_session(cn_up20l_config *c, const cn_json *session, char *err,
                                  size_t err_len);

/* $CRYONAV_UP20L_TABLES, when set, overrides the tables folder (the emulator sets it to
 * its generated test tables for the command it runs). */
void cn_up20l_config_apply_env(cn_up20l_config *c);

/* ------------------------------------------------------------------ calibration tables */

/* Table ids in upload order and their sizes in bytes (protocol facts). */
extern const uint8_t cn_up20l_table_ids[CN_UP20L_N_TABLES];
/* Size of table `id`, or 0 for an unknown id. */
size_t cn_up20l_table_size(uint8_t id);
/* File name the driver expects for table id in the tables folder ("table_05.bin"). */
void cn_up20l_table_filename(uint8_t id, char *out, size_t out_len);

typedef struct cn_up20l_tables cn_up20l_tables;
/* Loads every table from dir; on failure the message lists each missing or wrong-size
 * file with the expected size. */
int cn_up20l_tables_load(const char *dir, cn_up20l_tables **out, char *err, size_t err_len);
/* Tables of the right sizes filled with a deterministic pseudo-random pattern: for the
 * emulator and tests. They are NOT the vendor's calibration and make no claim to be. */
cn_up20l_tables *cn_up20l_tables_generate(uint64_t seed);
/* Writes the tables as files into dir (creating it): for emulator demos. */
int cn_up20l_tables_write(const cn_up20l_tables *t, const char *dir, char *err, size_t err_len);
const uint8_t *cn_up20l_tables_get(const cn_up20l_tables *t, uint8_t id, size_t *len);
/* The seven 4-byte words written after [0x10, 0x04] (part of the owner's calibration,
 * file "tgc4.bin", 28 bytes). */
const uint8_t *cn_up20l_tables_tgc4(const cn_up20l_tables *t);
void cn_up20l_tables_free(cn_up20l_tables *t);

/* ------------------------------------------------------------------ requests and tokens */

enum { CN_USB_XFER_CONTROL = 2, CN_USB_XFER_BULK = 3 };

/* One USB request as seen on the bus (or by the emulator): enough to tokenize. */
typedef struct {
    uint8_t type;       /* CN_USB_XFER_CONTROL / _BULK */
    uint8_t ep;         /* endpoint with the 0x80 IN bit (control: 0x00 OUT, 0x80 IN) */
    uint8_t setup[8];   /* control only */
    uint32_t length;    /* requested length (bulk) or wLength */
    uint8_t data[4];    /* first bytes of an OUT data stage */
    uint8_t n_data;
    int64_t t_us;
} cn_usb_req;

/* Loads a USBREC01 file; *out is malloc'd (free()). Refuses files whose record count
 * or lengths do not fit the file. */
int cn_usbrec_load(const char *path, cn_usb_req **out, size_t *n_out, char *err, size_t err_len);

typedef enum {
    CN_UP20L_TOK_IDENTIFY = 'I',   /* a = wValue */
    CN_UP20L_TOK_WRITE = 'W',      /* a = register, v = value */
    CN_UP20L_TOK_SELECT = 'S',     /* [0xFF, a]: selects register a for reading */
    CN_UP20L_TOK_READ = 'R',       /* 0xB3 wValue 1 + 512 B IN: reads the selected register */
    CN_UP20L_TOK_QUERY = 'Q',      /* 0xB3 wValue 2 + 512 B IN (after [0x10, 0x0E]) */
    CN_UP20L_TOK_TABLE = 'T',      /* [0x10, a] then a data stage of n chunks (n may be 0) */
    CN_UP20L_TOK_B6 = '6',         /* control OUT 0xB6 wValue 0 */
    CN_UP20L_TOK_FRAME = 'F',      /* 0xB3 wValue 0 then n bulk IN reads */
    CN_UP20L_TOK_OTHER = '?'
} cn_up20l_tok_kind;

typedef struct {
    char kind;
    uint8_t a, v;
    int n;            /* TABLE: bulk OUT chunks of the data stage; FRAME: bulk IN reads */
} cn_up20l_token;

/* Tokenizes requests (vendor requests only; standard requests are skipped). Returns
 * the number of tokens written (at most max). */
size_t cn_up20l_tokenize(const cn_usb_req *r, size_t n, cn_up20l_token *out, size_t max);
/* Removes the vendor's periodic status poll of register 0x16 (a SELECT 0x16 and the
 * READ that answers it, wherever the poll thread interleaved them). Returns new count. */
size_t cn_up20l_tokens_drop_status_polls(cn_up20l_token *t, size_t n);
/* "W23=e0", "T09x11", ... into buf. */
const char *cn_up20l_token_str(const cn_up20l_token *t, char *buf, size_t len);

/* ------------------------------------------------------------------ the libusb engine */

/* A probe-independent libusb engine: finds a device by id, opens and claims it, does
 * control and bulk requests, and reads a frame as n bulk transfers with several in
 * flight straight into the caller's buffer. Detects unplug (CN_ECLOSED) and can look
 * for the device again. Not thread-safe except cn_usb_engine_interrupt. */
typedef struct cn_usb_engine cn_usb_engine;

typedef struct {
    uint16_t vid, pid;
    int interface_no;
    cn_log *log;
} cn_usb_engine_opts;

cn_usb_engine *cn_usb_engine_new(const cn_usb_engine_opts *o, char *err, size_t err_len);
void cn_usb_engine_free(cn_usb_engine *e);
/* Opens the first device with the id (fresh enumeration each call so a replugged device
 * is found). CN_ENOENT none attached; CN_EIO with a message when it cannot be opened
 * (permissions: the message names the device node and the udev rule). */
int cn_usb_engine_open(cn_usb_engine *e, char *err, size_t err_len);
/* Opens the nth (0-based) device with the id; *access_denied tells a permission problem. */
int cn_usb_engine_open_nth(cn_usb_engine *e, int nth, bool *access_denied, char *err,
                           size_t err_len);
/* Number of attached devices with the engine's id (fresh enumeration), or a negative code. */
int cn_usb_engine_count(cn_usb_engine *e);
/* What the nth device with the engine's id says it is, as the kernel read it when it
 * enumerated the device (Linux sysfs): nothing is sent to the device and it need not be
 * opened. An empty string: the device has none. */
typedef struct {
    int bus, addr;
    char manufacturer[128], product[128];
} cn_usb_strings;
/* CN_OK; CN_ENOENT: no nth device; CN_EUNSUPPORTED: the system does not say (no sysfs) */
int cn_usb_engine_strings_nth(cn_usb_engine *e, int nth, cn_usb_strings *out);
void cn_usb_engine_close(cn_usb_engine *e);
bool cn_usb_engine_is_open(const cn_usb_engine *e);
/* Bus/address of the open device. */
void cn_usb_engine_address(const cn_usb_engine *e, int *bus, int *addr);
/* Synchronous control transfer; returns bytes transferred or a negative CN_E* code
 * (CN_ECLOSED when the device is gone). */
int cn_usb_engine_control(cn_usb_engine *e, uint8_t bm_request_type, uint8_t b_request,
                          uint16_t w_value, uint16_t w_index, uint8_t *data, uint16_t len,
                          int timeout_ms);
/* Synchronous bulk transfer; returns bytes transferred or a negative code. */
int cn_usb_engine_bulk(cn_usb_engine *e, uint8_t ep, uint8_t *data, int len, int timeout_ms);
/* Reads n transfers of chunk bytes each from ep into buf (buf + i*chunk), keeping up to
 * in_flight transfers queued. Returns CN_OK when every chunk arrived complete;
 * CN_ECLOSED (unplugged or interrupted: see cn_usb_engine_interrupted), CN_ETIMEDOUT,
 * CN_EIO (stall: the halt is cleared before returning), CN_EPARSE (a short chunk).
 * Never returns before every submitted transfer has completed or been cancelled.
 * *received (may be NULL) is the number of bytes the device sent, whatever became of
 * each transfer (a cancelled one keeps what arrived before the cancel). */
int cn_usb_engine_read_chunks(cn_usb_engine *e, uint8_t ep, uint8_t *buf, int chunk, int n,
                              int in_flight, int timeout_ms, int *received, char *err,
                              size_t err_len);
/* Reads away whatever the device has queued on IN endpoint ep: reads of up to len bytes
 * into buf (scratch) with timeout_ms each, until one brings nothing. *thrown (may be NULL)
 * is the byte count read away. CN_OK when a read came back empty; a stall is cleared and
 * reading goes on (CN_EIO on a second stall in a row); CN_EAGAIN when all max_reads reads
 * brought data (the device keeps sending); CN_ECLOSED when unplugged or interrupted;
 * another negative code otherwise. */
int cn_usb_engine_flush_in(cn_usb_engine *e, uint8_t ep, uint8_t *buf, int len, int timeout_ms,
                           int max_reads, long *thrown);
/* Makes a blocked read_chunks return CN_ECLOSED soon; thread-safe. */
void cn_usb_engine_interrupt(cn_usb_engine *e);
bool cn_usb_engine_interrupted(const cn_usb_engine *e);
void cn_usb_engine_clear_interrupt(cn_usb_engine *e);

/* ------------------------------------------------------------------ the UP20L protocol */

/* Identify (wValue 0, 12 B): CN_OK when the reply starts b8 00 01 00 "HEALSON\0";
 * CN_EUNSUPPORTED with the bytes seen otherwise. */
int cn_up20l_identify(cn_usb_engine *e, char *err, size_t err_len);
/* Before the nth device with the FX2 id is opened: CN_EUNSUPPORTED with the reason when
 * the strings the kernel read from it name another maker than Healson (another FX2 board:
 * it is neither opened, nor detached from its driver, nor sent a vendor request); CN_OK
 * when they say Healson, are empty or cannot be read (identify decides). st: NULL or the
 * strings read. */
int cn_up20l_strings_check(cn_usb_engine *e, int nth, cn_usb_strings *st, char *err,
                           size_t err_len);
int cn_up20l_reg_write(cn_usb_engine *e, uint8_t reg, uint8_t value);
int cn_up20l_reg_read(cn_usb_engine *e, uint8_t reg, uint8_t *value);
/* [0x10, id], 0xB2 wValue 2, then data in bulk OUT chunks of at most 4096 B. */
int cn_up20l_table_upload(cn_usb_engine *e, uint8_t id, const uint8_t *data, size_t len);
/* The vendor software's start-up order (identify, reads, tables, register writes, 0xB6)
 * and streaming on (0x12 = 1, 0xFE = 0xAA, 0x11 = 0, read back 0x11). */
int cn_up20l_startup(cn_usb_engine *e, const cn_up20l_config *c, const cn_up20l_tables *t,
                     char *err, size_t err_len);
int cn_up20l_set_freeze(cn_usb_engine *e, bool frozen);
/* Frame request (0xB3 wValue 0) then the bulk reads into raw (chunks x 4096 bytes);
 * *received as for cn_usb_engine_read_chunks (0 when the request itself failed). */
int cn_up20l_read_frame(cn_usb_engine *e, const cn_up20l_config *c, uint8_t *raw, size_t len,
                        int chunks, int *received, char *err, size_t err_len);

/* ------------------------------------------------------------------ the device */

typedef struct cn_usb_device cn_usb_device;

typedef struct {
    cn_up20l_config config;
    cn_log *log;
    /* For a payload larger than the UP20L's (benchmarks with the emulator): raw rows and
     * cols per frame; 0 = the probe's 512 x 160. Must match the device. */
    int raw_rows, raw_cols;
    /* Test hook, NULL in normal use: tables given directly instead of a folder. */
    const cn_up20l_tables *tables;
} cn_usb_device_opts;

typedef struct {
    uint64_t frames;            /* delivered */
    uint64_t dropped;           /* incomplete, stalled, late or garbage frames never delivered */
    uint64_t disconnects, reconnects;
    uint64_t restarts;          /* the driver restarted a probe that was not unplugged */
    int64_t last_reconnect_ns;  /* monotonic time the last replugged probe streamed again */
    int64_t last_disconnect_ns;
    bool connected;
    bool ever_connected;        /* a probe was started once in this session */
    /* why no frame came since the last good one (the last dropped frame's reason, or the
     * connection's problem): "" while frames come */
    char problem[200];
} cn_usb_device_stats;

/* Loads tables (unless opts->tables), prepares the decoder. Does not need a probe yet. */
cn_usb_device *cn_usb_device_new(const cn_usb_device_opts *o, char *err, size_t err_len);
void cn_usb_device_free(cn_usb_device *d);
/* The cn_device the pipeline reads (name "usb"). start() waits up to 2 s for a probe
 * and fails with a clear message when none is usable. read() returns CN_OK with a
 * complete frame, CN_EAGAIN about every 500 ms while the probe is unplugged or a frame
 * was dropped, CN_ECLOSED after interrupt(). */
cn_device cn_usb_device_iface(cn_usb_device *d);
void cn_usb_device_get_stats(cn_usb_device *d, cn_usb_device_stats *out);
/* What the probe is doing while it sends no frame, in words for the screen and the log
 * ("not plugged in", "plugged in but sends no usable image: <why>", "unplugged 12 s
 * ago"); now_ns monotonic. Before, the window said "waiting for the USB probe to be
 * plugged in" whatever the driver knew (review 39a M1). */
void cn_usb_device_outage_text(cn_usb_device *d, int64_t now_ns, char *out, size_t out_len);
/* Settings, applied between frames (thread-safe). */
int cn_usb_device_set_levels(cn_usb_device *d, double gain_db, double dynamic_range_db);
int cn_usb_device_set_freeze(cn_usb_device *d, bool frozen);
int cn_usb_device_set_focus_zone(cn_usb_device *d, int zone);

/* ------------------------------------------------------------------ listing */

typedef enum {
    CN_PROBE_USABLE = 0,
    CN_PROBE_NO_PERMISSION,
    CN_PROBE_IDENTIFY_FAILED,
    CN_PROBE_TABLES_MISSING,
    CN_PROBE_OPEN_FAILED
} cn_probe_status;

typedef struct {
    int bus, addr;
    uint16_t vid, pid;
    char model[32];
    cn_probe_status status;
    char message[512];
} cn_usb_probe_info;

/* Lists attached devices with the UP20L id and says for each whether it is usable.
 * Returns the number found (0..max) or a negative code with err (libusb failure). */
int cn_usb_list_probes(const cn_up20l_config *c, cn_usb_probe_info *out, int max, char *err,
                       size_t err_len);
/* The udev rule a user installs as /etc/udev/rules.d/70-cryonav-up20l.rules. */
const char *cn_up20l_udev_rule(void);

#ifdef __cplusplus
}
#endif
#endif /* CN_USB_H */
