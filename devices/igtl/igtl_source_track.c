/*
 * igtl_source_track.c - poses from the tracking message types other than
 * TRANSFORM: POSITION (one pose, named by the header's device name), TDATA and
 * QTDATA (one pose per element, named by the element's name, e.g. "Stylus"),
 * and the STT_ / STP_ requests that start and stop a TDATA / QTDATA stream.
 *
 * Why: trackers and PLUS-style bridges stream these instead of TRANSFORM, and
 * a user must get their poses exactly as a TRANSFORM of the same name would
 * arrive (same map, same AToB rule, same hold and loss when the link drops:
 * cn__igtl_src_put_pose). A malformed body or element is refused with one log
 * line naming the peer, the type, the device (and element) name and the
 * problem, once per type, name and problem so that a peer repeating it at
 * 50 Hz cannot flood the log; the link stays up and the good elements of the
 * same message are kept. Decoding allocates nothing (modules/igtl/igtl_track.c).
 */
#include "igtl_source_internal.h"

#include <stdio.h>
#include <string.h>

void cn__igtl_src_on_position(cn_igtl_source *s, const cn_igtl_message *m)
{
    char dev[CN_XFORM_NAME_MAX], why[96], status[16];
    cn_igtl_message_name(m, dev, sizeof dev);
    cn_mat4 mat;
    if (cn_igtl_decode_position(m->content, m->content_len, &mat, why, sizeof why) != CN_OK) {
        cn__igtl_src_refuse(s, "POSITION", dev, NULL, why);
        cn__igtl_src_count_ignored(s);
        return;
    }
    /* One pose per message, as TRANSFORM: PLUS's v2 TransformStatus applies. */
    bool valid = true;
    if (cn_igtl_message_meta(m, "TransformStatus", status, sizeof status) == CN_OK)
        valid = strcmp(status, "OK") == 0;
    if (cn__igtl_src_put_pose(s, "POSITION", dev, &mat, valid,
                              cn__igtl_src_to_mono(s, m->h.timestamp)))
        cn__igtl_src_count(s, &s->st.positions);
    else
        cn__igtl_src_count_ignored(s);
}

void cn__igtl_src_on_tracking_data(cn_igtl_source *s, const cn_igtl_message *m, bool quaternion)
{
    const char *type = quaternion ? "QTDATA" : "TDATA";
    char dev[CN_XFORM_NAME_MAX], why[96];
    cn_igtl_message_name(m, dev, sizeof dev);
    int n = cn_igtl_track_count(m->content_len, quaternion);
    if (n < 0) {
        snprintf(why, sizeof why, "body of %zu bytes is not a whole number of %d-byte elements",
                 m->content_len,
                 quaternion ? CN_IGTL_QTDATA_ELEMENT_SIZE : CN_IGTL_TDATA_ELEMENT_SIZE);
        cn__igtl_src_refuse(s, type, dev, NULL, why);
        cn__igtl_src_count_ignored(s);
        return;
    }
    int64_t t = cn__igtl_src_to_mono(s, m->h.timestamp);
    int used = 0;
    for (int i = 0; i < n; i++) {
        cn_igtl_track_element e;
        if (cn_igtl_decode_track_element(m->content, m->content_len, i, quaternion, &e, why,
                                         sizeof why) != CN_OK) {
            cn__igtl_src_refuse(s, type, dev, e.name, why);
            continue;
        }
        if (e.type == 3) { /* TYPE_3D: the tip's position only; the rotation is not measured */
            cn__igtl_src_refuse(s, type, dev, e.name,
                                "instrument type 3D: the tip's position only, no orientation "
                                "(a probe's axis cannot be placed from it; send 5D or 6D)");
            continue;
        }
        used += cn__igtl_src_put_pose(s, type, e.name, &e.m, true, t);
    }
    if (used > 0)
        cn__igtl_src_count(s, quaternion ? &s->st.qtdata : &s->st.tdata);
    else
        cn__igtl_src_count_ignored(s);
}

static int put_request(cn_igtl_buf *b, const char *type, bool start, int resolution_ms)
{
    cn_igtl_msg msg;
    /* Header v1: what every server reads, the 1.11 example servers included. */
    int r = cn_igtl_msg_begin(b, &msg, 1, type, "CryoNav",
                              cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), 0);
    if (r == CN_OK && start)
        r = cn_igtl_put_stt(b, resolution_ms, NULL);
    if (r == CN_OK)
        r = cn_igtl_msg_end(b, &msg, NULL, 0);
    return r;
}

int cn__igtl_src_stream_requests(const cn_igtl_source *s, bool start, cn_igtl_buf *b)
{
    int r = CN_OK;
    if (s->o.request_tdata)
        r = put_request(b, start ? "STT_TDATA" : "STP_TDATA", start, s->o.resolution_ms);
    if (r == CN_OK && s->o.request_qtdata)
        r = put_request(b, start ? "STT_QTDATA" : "STP_QTDATA", start, s->o.resolution_ms);
    return r;
}
