/*
 * igtl.h - the one public header of CryoNav's OpenIGTLink module.
 *
 * What it is for: a proctor in another room watches the procedure in 3D Slicer
 * and a PlusServer may feed tracking; both speak OpenIGTLink. This module holds
 *   1. the wire layer: the 58-byte header, CRC-64, the v2 header (protocol v3:
 *      extended header + metadata) that Debian's 1.11 library lacks, message
 *      packers (IMAGE, TRANSFORM, POLYDATA, STRING, STATUS, STT_TDATA) and
 *      decoders (TRANSFORM, POSITION, TDATA, QTDATA, IMAGE, STRING, POINT,
 *      STATUS);
 *   2. an incremental inbound parser with per-type size limits and CRC checks,
 *      the only code that reads bytes from untrusted peers (fuzzed);
 *   3. the server: a pipeline sink that streams every analysed frame to many
 *      viewers from one poll() thread, each with a small bounded queue that
 *      drops its oldest frame for a slow client, so no client can slow the
 *      pipeline or another client; it is the OpenIGTLink transport of the
 *      proctor hub (modules/proctor), which owns roles, notes, targets and
 *      commands: this module only decodes and replies (STRING CMD_/ACK_,
 *      COMMAND/RTS_COMMAND, GET_CAPABIL/CAPABILITY).
 * The client that takes tracking from a PlusServer lives in devices/igtl and
 * uses layers 1 and 2.
 *
 * Byte order on the wire is big-endian; in this API every value is host order.
 */
#ifndef CN_IGTL_H
#define CN_IGTL_H

#include "core/core.h"
#include "pipeline/pipeline.h"
#include "proctor/proctor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ wire layer */

#define CN_IGTL_HEADER_SIZE 58
#define CN_IGTL_TYPE_SIZE 12
#define CN_IGTL_NAME_SIZE 20
#define CN_IGTL_EXT_HEADER_SIZE 12   /* v2 header: extended header at body start */
#define CN_IGTL_DEFAULT_PORT 18944
#define CN_IGTL_ENC_US_ASCII 3       /* IANA MIBenum used by STRING and metadata */

typedef struct {
    uint16_t version;                    /* 1, or 2 = extended header follows */
    char type[CN_IGTL_TYPE_SIZE + 1];    /* "TRANSFORM" */
    char device[CN_IGTL_NAME_SIZE + 1];  /* "ProbeToReference" (may be truncated) */
    uint64_t timestamp;                  /* 32.32 fixed point seconds since 1970 */
    uint64_t body_size;
    uint64_t crc;
} cn_igtl_header;

/* CRC-64 ECMA-182 as OpenIGTLink uses it (init 0, no reflection). Chainable. */
uint64_t cn_igtl_crc64(const void *data, size_t len, uint64_t crc);
/* Wall-clock ns <-> the 32.32 header timestamp. */
uint64_t cn_igtl_ts_from_wall_ns(int64_t wall_ns);
int64_t cn_igtl_ts_to_wall_ns(uint64_t ts);
void cn_igtl_header_pack(const cn_igtl_header *h, uint8_t out[CN_IGTL_HEADER_SIZE]);
/* Unpacks and validates: version 1 or 2, type non-empty printable ASCII then
 * NULs only, device name printable ASCII then NULs. CN_EPARSE otherwise, with
 * the reason in why (may be NULL). */
int cn_igtl_header_unpack(const uint8_t in[CN_IGTL_HEADER_SIZE], cn_igtl_header *h, char *why,
                          size_t why_len);

/* One metadata entry (v2 header). Values are sent as US-ASCII. */
typedef struct {
    const char *key;
    const char *value;
} cn_igtl_meta;

/* A growable byte buffer; messages are appended to it. Reused, so the steady
 * state allocates nothing. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} cn_igtl_buf;

void cn_igtl_buf_init(cn_igtl_buf *b);
void cn_igtl_buf_free(cn_igtl_buf *b);
/* Appends n uninitialised bytes and returns a pointer to them (NULL on ENOMEM). */
uint8_t *cn_igtl_buf_append(cn_igtl_buf *b, size_t n);

/* Message assembly: begin writes a placeholder header (and the extended header
 * for version 2), the caller appends the content, end writes the metadata
 * (version 2 only; IGTL_DEVICE_NAME is added when the name is longer than 20
 * bytes), body size and CRC. Names longer than 20 bytes are truncated in the
 * header, as PlusServer does. */
typedef struct {
    size_t start;
    int version;
    uint32_t msg_id;
    char full_name[CN_XFORM_NAME_MAX];
} cn_igtl_msg;

int cn_igtl_msg_begin(cn_igtl_buf *b, cn_igtl_msg *m, int version, const char *type,
                      const char *device, uint64_t ts, uint32_t msg_id);
int cn_igtl_msg_end(cn_igtl_buf *b, const cn_igtl_msg *m, const cn_igtl_meta *meta, int n_meta);

/* v2 framing on its own (used by msg_end and tested byte for byte against the
 * published layout): size of the metadata block (header + keys + values). */
size_t cn_igtl_v2_meta_size(const cn_igtl_meta *meta, int n_meta);
/* Writes the 12-byte extended header. */
void cn_igtl_v2_write_ext_header(uint8_t out[CN_IGTL_EXT_HEADER_SIZE], const cn_igtl_meta *meta,
                                 int n_meta, uint32_t msg_id);
/* Writes the metadata header and body (cn_igtl_v2_meta_size bytes). */
void cn_igtl_v2_write_meta(uint8_t *out, const cn_igtl_meta *meta, int n_meta);

/* Content packers: append one message's content to b (between begin and end). */
/* TRANSFORM: 12 float32, column order R11 R21 R31 R12 R22 R32 R13 R23 R33 TX TY TZ. */
int cn_igtl_put_transform(cn_igtl_buf *b, const cn_mat4 *m);
/* IMAGE of uint8 scalars. ijk_to_ref maps pixel-centre indices (i, j, 0) to mm in
 * the target frame (columns carry the spacing); the wire matrix gets the image
 * centre as its origin (Slicer's convention: first pixel + (size-1)/2). */
int cn_igtl_put_image_u8(cn_igtl_buf *b, int width, int height, const uint8_t *pixels,
                         const cn_mat4 *ijk_to_ref);
/* STRING, US-ASCII, at most 65535 bytes. */
int cn_igtl_put_string(cn_igtl_buf *b, const char *text);
/* STATUS: code (1 OK, 2 generic error...), subcode, error name (<= 20), message. */
int cn_igtl_put_status(cn_igtl_buf *b, uint16_t code, int64_t subcode, const char *error_name,
                       const char *message);
/* POLYDATA made of polylines only: points (float mm), lines given as
 * (count, start) ranges into the points; closed lines repeat their first point. */
typedef struct {
    int start, count;
    bool closed;
} cn_igtl_polyline;
int cn_igtl_put_polylines(cn_igtl_buf *b, const float (*pts)[3], int n_pts,
                          const cn_igtl_polyline *lines, int n_lines);
/* POLYDATA made of triangles (a closed isotherm surface): tri holds 3 indices
 * per triangle, each checked against n_pts. */
int cn_igtl_put_triangles(cn_igtl_buf *b, const float *xyz, int n_pts, const int *tri, int n_tri);

/* ------------------------------------------------------------------ decoders */

typedef struct {
    int size[3];
    int scalar_type;   /* 3 = uint8 */
    int components;
    int endian;        /* 1 big, 2 little */
    int coord;         /* 1 RAS, 2 LPS */
    float matrix[12];  /* as on the wire: i*sp, j*sp, k*sp, centre */
    const uint8_t *pixels;
    size_t pixel_bytes;
} cn_igtl_image_view;

/* All decoders check every length against the content size: CN_EPARSE when it
 * does not match, never a read past the end. */
int cn_igtl_decode_transform(const uint8_t *c, size_t len, cn_mat4 *out);
int cn_igtl_decode_image(const uint8_t *c, size_t len, cn_igtl_image_view *out);
#define CN_IGTL_IMAGE_HEADER_SIZE 72
/* The same checks from the content's first `have` bytes (>= 72, or all of it)
 * when the whole content is `size` bytes (a streamed IMAGE): pixels is NULL
 * unless have == size. CN_EUNSUPPORTED for a well-formed sub-volume update. */
int cn_igtl_decode_image_header(const uint8_t *c, size_t have, size_t size,
                                cn_igtl_image_view *out);
/* ijk (pixel-centre index) -> frame mm, the inverse of the centre convention. */
cn_mat4 cn_igtl_image_ijk_to_ref(const cn_igtl_image_view *v);
int cn_igtl_decode_string(const uint8_t *c, size_t len, char *out, size_t out_len,
                          uint16_t *encoding);
int cn_igtl_decode_status(const uint8_t *c, size_t len, uint16_t *code, char *error_name,
                          char *msg, size_t msg_len);

#define CN_IGTL_POINT_NAME_MAX 64
typedef struct {
    char name[CN_IGTL_POINT_NAME_MAX + 1];
    char group[33];
    uint8_t rgba[4];
    float pos[3];
    float radius;
    char owner[21];
} cn_igtl_point;
/* POINT of n elements (n = 0: "no point"): each name <= 64, group <= 32 and owner
 * <= 20 bytes, finite position (mm) and radius; CN_EINVAL otherwise. */
int cn_igtl_put_points(cn_igtl_buf *b, const cn_igtl_point *pts, int n);
/* Decodes up to max elements; returns the count or CN_EPARSE. */
int cn_igtl_decode_points(const uint8_t *c, size_t len, cn_igtl_point *out, int max);

/* Tracking types other than TRANSFORM (igtl_track.c). Every decoder allocates
 * nothing and, on CN_EPARSE, says why in `why` (may be NULL). */
#define CN_IGTL_POSITION_ONLY_SIZE 12   /* position only: identity rotation */
#define CN_IGTL_POSITION_QUAT3_SIZE 24  /* + quaternion x y z, w recovered */
#define CN_IGTL_POSITION_SIZE 28        /* + quaternion x y z w */
#define CN_IGTL_TDATA_ELEMENT_SIZE 70
#define CN_IGTL_QTDATA_ELEMENT_SIZE 50
#define CN_IGTL_STT_SIZE 36             /* STT_TDATA / STT_QTDATA body */
/* POSITION -> pose (position in mm, rotation from the normalised quaternion).
 * Refused: another size, a non-finite number, a zero quaternion, a 3-element
 * quaternion longer than 1. */
int cn_igtl_decode_position(const uint8_t *c, size_t len, cn_mat4 *out, char *why,
                            size_t why_len);
typedef struct {
    char name[CN_IGTL_NAME_SIZE + 1];  /* as far as printable ('?' otherwise),
                                          filled even when the element is refused */
    uint8_t type;                      /* 1 tracker, 2 6D, 3 3D, 4 5D instrument */
    cn_mat4 m;
} cn_igtl_track_element;
/* TDATA (quaternion false) or QTDATA: the element count, or CN_EPARSE when the
 * content is empty or not a whole number of elements. */
int cn_igtl_track_count(size_t len, bool quaternion);
/* Element i of a TDATA / QTDATA content (a name may fill all 20 bytes with no
 * NUL, as upstream sends a 20-character name). Refused: a name empty or not
 * printable ASCII; a non-finite number; a zero quaternion. */
int cn_igtl_decode_track_element(const uint8_t *c, size_t len, int i, bool quaternion,
                                 cn_igtl_track_element *out, char *why, size_t why_len);
/* STT_TDATA / STT_QTDATA content: resolution (ms between two messages, 0 = as
 * fast as the server can) and a coordinate name (<= 31 bytes, may be NULL).
 * STP_TDATA / STP_QTDATA have no content. */
int cn_igtl_put_stt(cn_igtl_buf *b, int resolution_ms, const char *coord_name);

/* COMMAND and RTS_COMMAND (protocol v3; the same layout): uint32 command id,
 * char[128] command name, uint16 encoding (MIBenum, 3 = US-ASCII), uint32
 * length, then the command text (PLUS: `<Command Name="..." .../>`). */
#define CN_IGTL_COMMAND_NAME_SIZE 128
typedef struct {
    uint32_t id;
    char name[CN_IGTL_COMMAND_NAME_SIZE + 1];
    uint16_t encoding;
    const uint8_t *text;   /* not NUL-terminated */
    size_t text_len;
} cn_igtl_command_view;
/* Checks every length and that the name is printable ASCII then NULs. */
int cn_igtl_decode_command(const uint8_t *c, size_t len, cn_igtl_command_view *out);
/* Appends a COMMAND / RTS_COMMAND content (name <= 128 bytes, text US-ASCII). */
int cn_igtl_put_command(cn_igtl_buf *b, uint32_t id, const char *name, const char *text);
/* CAPABILITY: the message types, 12 bytes each, NUL-padded. */
int cn_igtl_put_capability(cn_igtl_buf *b, const char *const *types, int n);
/* The device name of an isotherm on the wire: "Isotherm-20COutline" (the image-
 * plane curve, in the scene frame, every frame) or "Isotherm-20CSurface" (the
 * closed surface, in the Cryoprobe frame, once per change). */
void cn_igtl_isotherm_name(char *out, size_t len, double temp_c, bool surface);

/* ------------------------------------------------------------------ inbound parser */

/* Per-type body limits (bytes, whole body incl. v2 extras). A body over its
 * limit is a protocol error: the peer is dropped before anything is allocated. */
typedef struct {
    size_t max_body_image;       /* IMAGE */
    size_t max_body_polydata;    /* POLYDATA */
    size_t max_body_small;       /* TRANSFORM, POSITION, TDATA, QTDATA, STRING, STATUS,
                                    POINT, GET_*, CMD */
    size_t max_body_unknown;     /* any other type: read, CRC-checked, ignored */
} cn_igtl_limits;

void cn_igtl_limits_default(cn_igtl_limits *l);   /* 16 MiB, 4 MiB, 64 KiB, 64 KiB */

/* One complete, CRC-checked message. Pointers stay valid until the next call
 * into the parser. A streamed message (a type given to
 * cn_igtl_parser_stream_type) holds only the start of its body and content:
 * body_len and content_len are the bytes held, content_size what the wire
 * carried; its metadata is there unless the values were over max_body_small. */
typedef struct {
    cn_igtl_header h;
    const uint8_t *body;
    size_t body_len;
    const uint8_t *content;   /* body without the v2 extras */
    size_t content_len;
    size_t content_size;      /* the whole content's size (content_len unless streamed) */
    bool streamed;
    uint32_t msg_id;          /* v2 only */
    int n_meta;
    const uint8_t *meta_hdr;  /* v2: entry table (after the count) */
    const uint8_t *meta_body;
} cn_igtl_message;

/* Looks a metadata key up; CN_ENOENT when absent. */
int cn_igtl_message_meta(const cn_igtl_message *m, const char *key, char *val, size_t val_len);
/* The device name, from IGTL_DEVICE_NAME metadata when present. */
void cn_igtl_message_name(const cn_igtl_message *m, char *out, size_t out_len);

typedef struct cn_igtl_parser cn_igtl_parser;
cn_igtl_parser *cn_igtl_parser_new(const cn_igtl_limits *lim);
void cn_igtl_parser_free(cn_igtl_parser *p);
/* Consumes bytes from data[0..len). Returns 1 with *out filled when a message is
 * complete (*used tells how many bytes were consumed: call again with the
 * rest), 0 when all bytes were consumed and more are needed, or CN_EPARSE /
 * CN_ERANGE on a protocol error (reason in cn_igtl_parser_error); after an
 * error the parser refuses further input. */
int cn_igtl_parser_feed(cn_igtl_parser *p, const uint8_t *data, size_t len, size_t *used,
                        cn_igtl_message *out);
const char *cn_igtl_parser_error(const cn_igtl_parser *p);
/* Opt-in, for a receiver that only checks a type and drops it (the server and a
 * viewer's IMAGE / POLYDATA): messages of `type` are streamed, not buffered. The
 * parser keeps the first `prefix` bytes of their content (and a v2 body's
 * extended header and metadata), CRC-checks the whole body as it passes, and
 * delivers the message with `streamed` set; at most 4 types (CN_ENOMEM). */
int cn_igtl_parser_stream_type(cn_igtl_parser *p, const char *type, size_t prefix);
/* Bytes the parser holds (bounded by the largest limit + header). */
size_t cn_igtl_parser_buffered(const cn_igtl_parser *p);
/* Bytes the parser has allocated for bodies: grows with what actually arrived,
 * never with what a header merely declares. */
size_t cn_igtl_parser_capacity(const cn_igtl_parser *p);

/* ------------------------------------------------------------------ PLUS commands */

/* Reads the Name attribute of a `<Command Name="..." .../>` text. */
int cn_igtl_command_name(const char *xml, char *name, size_t name_len);
/* Reads any attribute value (XML entities decoded): cn_proctor_xml_attr. */
int cn_igtl_xml_attr(const char *xml, const char *attr, char *val, size_t val_len);
/* Writes `<CommandReply Name="N" Status="SUCCESS|FAIL" Message="M" extra/>` with
 * N and M escaped; extra is raw attribute text or NULL. */
int cn_igtl_command_reply(char *out, size_t out_len, const char *name, bool ok,
                          const char *message, const char *extra);

/* ------------------------------------------------------------------ server */

typedef struct {
    char listen_addr[64];       /* "127.0.0.1" */
    int port;                   /* 18944; 0 picks a free port (tests) */
    int max_clients;            /* 16 */
    int queue_frames;           /* frames queued per client before dropping the oldest (3) */
    cn_igtl_limits limits;
    char reference_frame[CN_FRAME_NAME_MAX]; /* "Reference": what the scene is expressed in */
    char image_name[CN_IGTL_NAME_SIZE + 1];  /* "Image" -> device "Image_Reference" */
    bool send_image, send_polydata;
    double latency_period_s;    /* STRING CryoNavLatency every ... (1 s; 0 off) */
    /* Starvation guards: a message a client has begun must be complete within
     * partial_timeout_s (5 s: a 1-byte-a-second sender is dropped); a client
     * with data waiting that takes nothing for stall_timeout_s (10 s) is
     * dropped. When max_clients are connected, a new connection evicts the
     * least useful client that is not a proctor (slow senders and stalled
     * readers first, then the newest unproven ones) instead of being refused. */
    double partial_timeout_s, stall_timeout_s;
    /* The proctor hub that decides roles, notes, targets and commands (not
     * owned). NULL: the server makes a hub of its own with no token, so every
     * client is a viewer. */
    cn_proctor_hub *hub;
    cn_log *log;
} cn_igtl_server_opts;

void cn_igtl_server_opts_default(cn_igtl_server_opts *o);
/* Reads the "igtl" object of a session config (unknown keys are errors; the
 * old proctor_names / proctor_token keys are errors that point to the "proctor"
 * object: a name is not a credential). Absent keys keep their current value. */
int cn_igtl_server_opts_from_json(cn_igtl_server_opts *o, const cn_json *doc, char *err,
                                  size_t err_len);
/* "ADDR:PORT" (or ":PORT", "PORT") from --listen. */
int cn_igtl_parse_listen(const char *text, char *addr, size_t addr_len, int *port);

typedef struct cn_igtl_server cn_igtl_server;

/* Binds and starts the server thread. NULL on error (reason in err). A
 * non-loopback address is allowed but logged as a warning: OpenIGTLink has no
 * encryption (the proctor token travels in clear): use a tunnel. */
cn_igtl_server *cn_igtl_server_start(const cn_igtl_server_opts *o, char *err, size_t err_len);
void cn_igtl_server_free(cn_igtl_server *s);   /* stops, closes every client */
/* Stops the server thread and closes every client (no command handler runs
 * after this returns) but keeps the server's memory; free it later. Call it
 * before freeing anything a command handler uses. Idempotent. */
void cn_igtl_server_stop(cn_igtl_server *s);
int cn_igtl_server_port(const cn_igtl_server *s);
/* The pipeline sink; consume() never blocks (it only swaps a pending frame). */
cn_sink cn_igtl_server_sink(cn_igtl_server *s);
void cn_igtl_server_consume(cn_igtl_server *s, cn_frame *f);
/* Isotherm surfaces come from the hub (cn_proctor_set_surface): each version is
 * sent once to every client as POLYDATA "Isotherm<T>CSurface" in the Cryoprobe
 * frame, again whenever it changes, and to clients that connect later; a queued
 * older version is replaced, never piled up. */
/* Waits (up to timeout_ns) until the server holds no reference to a pipeline
 * frame: call it after cn_pipeline_stop() and before the pipeline (and its
 * frame pool) is freed. CN_OK or CN_ETIMEDOUT. Frames consumed later are
 * handled as usual. */
int cn_igtl_server_release_frames(cn_igtl_server *s, int64_t timeout_ns);
/* Sends a STRING "CryoNavEvent" with text to every client (never dropped as
 * frames are, bounded all the same). Any thread. */
int cn_igtl_server_send_event(cn_igtl_server *s, const char *text);

typedef struct {
    uint64_t id;
    char peer[64];
    int header_version;   /* 1 until the client sends a v2 header */
    bool proctor;         /* its role in the hub */
    uint64_t frames_sent, frames_dropped, bytes_sent;
    uint64_t msgs_received, msgs_rejected;
    int queued_packets;
    size_t queued_bytes;  /* memory this client pins: each shared buffer once */
    double lag_ms_last, lag_ms_p50, lag_ms_p99;  /* hand-over -> last byte to the kernel;
                                                    the percentiles at most 200 ms old */
} cn_igtl_client_stats;

typedef struct {
    int clients;
    uint64_t accepted, refused, dropped_protocol;
    uint64_t evicted;     /* connections closed to make room for a new one */
    uint64_t timed_out;   /* slow senders and stalled readers dropped */
    uint64_t frames_consumed, frames_packed, frames_superseded;
    double pack_ms_p50;   /* at most 200 ms old */
} cn_igtl_server_stats;

/* Fills *st and up to max client entries; returns the number of clients. */
int cn_igtl_server_stats_get(cn_igtl_server *s, cn_igtl_server_stats *st,
                             cn_igtl_client_stats *clients, int max);

/* Registers a command that needs proctor rights and changes the procedure
 * (control rate limit) in the server's hub: a shorthand for
 * cn_proctor_set_command(hub, name, CN_PROCTOR_PROCTOR, true, fn, user). */
typedef cn_proctor_command_fn cn_igtl_command_fn;
int cn_igtl_server_set_command(cn_igtl_server *s, const char *name, cn_igtl_command_fn fn,
                               void *user);
/* The hub the server reports to (its own when none was given). */
cn_proctor_hub *cn_igtl_server_hub(cn_igtl_server *s);

#ifdef __cplusplus
}
#endif
#endif /* CN_IGTL_H */
