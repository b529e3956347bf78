/*
 * session_source.c - what the image source does between frames, said: while no frame
 * comes (the window's NO LIVE IMAGE line and the log, in the driver's words) and after
 * (an event on the first frame back, so a recording shows the gap and its cause).
 */
#include "session.h"

#include "usb/usb.h"

#include <stdio.h>
#include <string.h>

void cn_session_outage_text(const cn_session *s, char *out, size_t len)
{
    if (s->usb) {
        char what[300];
        cn_usb_device_outage_text(s->usb, cn_clock_mono_ns(), what, sizeof what);
        snprintf(out, len, "the USB probe is %s", what);
        return;
    }
    const char *n = s->source_name;
    snprintf(out, len, "the %s sends no frames",
             !n                        ? "source"
             : strcmp(n, "igtl") == 0 ? "OpenIGTLink source"
             : strcmp(n, "sim") == 0  ? "simulator"
                                      : n);
}

void cn_session_source_gap_event(cn_session *s, cn_frame *f)
{
    if (!s->usb || s->replay)
        return;
    cn_usb_device_stats st;
    cn_usb_device_get_stats(s->usb, &st);
    const int64_t last = s->source_last_acq_ns;
    s->source_last_acq_ns = f->t_acq_ns;
    if (st.disconnects == s->source_unplugs_seen && st.restarts == s->source_restarts_seen)
        return;
    const bool unplugged = st.disconnects != s->source_unplugs_seen;
    s->source_unplugs_seen = st.disconnects;
    s->source_restarts_seen = st.restarts;
    if (last <= 0)
        return; /* restarts before the first frame: the session had no frame to miss */
    char ev[160];
    snprintf(ev, sizeof ev, "probe_back gap_s=%.1f why=%s",
             f->t_acq_ns > last ? (double)(f->t_acq_ns - last) * 1e-9 : 0.0,
             unplugged ? "unplugged" : "restarted");
    cn_session_put_event(s, f, CN_EVSRC_SYSTEM, f->t_scene_ns, ev);
    cn_log_info(s->log, "run", "the USB probe's frames again: %s", ev);
}
