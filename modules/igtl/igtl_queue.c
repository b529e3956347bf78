/*
 * igtl_queue.c - what goes to which client: shared packets, per-client rings
 * with drop-oldest for frames, and the distribution of frames, events and
 * isotherm surfaces (all on the server thread).
 *
 * The idea: a frame is packed once per header version into a refcounted packet
 * and every client's ring gets a reference, so 16 viewers cost one packing, not
 * sixteen. A ring holds at most queue_frames frames: the oldest one not partly
 * written is dropped (and counted) for a client that does not keep up. Replies
 * and events are never dropped but are bounded; surfaces and GET_ replies (slices
 * of a frame packet, no copies) replace a queued older one of their kind, so a
 * client asking again and again without reading pins one frame, not a pile of
 * copies. The socket side lives in igtl_server.c.
 */
#include "igtl_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "igtl"

/* ------------------------------------------------------------------ packets */

cn_igtl_packet *cn__igtl_packet_get(cn_igtl_server *s)
{
    cn_igtl_packet *p = s->free_list;
    if (p) {
        s->free_list = p->next_free;
        s->n_free--;
    } else {
        p = calloc(1, sizeof *p);
        if (!p)
            return NULL;
        cn_igtl_buf_init(&p->buf);
    }
    p->next_free = NULL;
    p->refs = 1;
    p->droppable = false;
    p->is_frame = false;
    p->is_surface = false;
    p->is_get = false;
    p->get_key[0] = 0;
    p->parent = NULL;
    p->slice_off = p->slice_len = 0;
    p->seq = 0;
    p->t_handoff_ns = cn_clock_mono_ns();
    p->buf.len = 0;
    return p;
}

void cn__igtl_packet_unref(cn_igtl_server *s, cn_igtl_packet *p)
{
    if (!p || --p->refs > 0)
        return;
    if (p->parent) {
        cn__igtl_packet_unref(s, p->parent);
        p->parent = NULL;
    }
    /* Keep a few buffers (with their capacity) for reuse: the steady state
     * allocates nothing; beyond that, memory goes back to the system. */
    if (s->n_free < 8) {
        p->next_free = s->free_list;
        s->free_list = p;
        s->n_free++;
    } else {
        cn_igtl_buf_free(&p->buf);
        free(p);
    }
}

static void q_remove(cn_igtl_client *c, int i)
{
    for (int k = i; k < c->q_n - 1; k++)
        c->q[(c->q_head + k) % c->q_cap] = c->q[(c->q_head + k + 1) % c->q_cap];
    c->q_n--;
}

void cn__igtl_kill(cn_igtl_server *s, cn_igtl_client *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    cn_strlcpy(c->why, why, sizeof c->why);
    if (strncmp(why, "protocol", 8) == 0) {
        pthread_mutex_lock(&s->mu);
        s->st.dropped_protocol++;
        pthread_mutex_unlock(&s->mu);
    }
}

void cn__igtl_enqueue(cn_igtl_server *s, cn_igtl_client *c, cn_igtl_packet *p)
{
    if (c->dead)
        return;
    if (p->droppable) {
        /* Drop the oldest frame(s) not already partly written. */
        for (;;) {
            int frames = 0, oldest = -1;
            for (int i = 0; i < c->q_n; i++) {
                if (i == 0 && c->off > 0)
                    continue;
                if (cn__igtl_q_at(c, i)->droppable) {
                    if (oldest < 0)
                        oldest = i;
                    frames++;
                }
            }
            if (frames < s->o.queue_frames || oldest < 0)
                break;
            cn_igtl_packet *old = cn__igtl_q_at(c, oldest);
            q_remove(c, oldest);
            c->st.frames_dropped++;
            cn__igtl_packet_unref(s, old);
        }
    }
    if (p->is_surface || p->is_get) {   /* keep only the newest not yet being written */
        for (int i = c->q_n - 1; i >= 0; i--) {
            cn_igtl_packet *old = cn__igtl_q_at(c, i);
            bool same = p->is_surface ? old->is_surface
                                      : old->is_get && strcmp(old->get_key, p->get_key) == 0;
            if (same && !(i == 0 && c->off > 0)) {
                q_remove(c, i);
                cn__igtl_packet_unref(s, old);
            }
        }
    }
    if (c->q_n == 0)
        c->t_progress_ns = cn_clock_mono_ns();   /* the stall clock starts now */
    if (c->q_n == c->q_cap) {
        cn__igtl_kill(s, c, "reply queue overflow: the client sends requests but does not read");
        return;
    }
    c->q[(c->q_head + c->q_n) % c->q_cap] = p;
    c->q_n++;
    p->refs++;
}

size_t cn__igtl_pinned_bytes(cn_igtl_client *c)
{
    size_t sum = 0;
    for (int i = 0; i < c->q_n; i++) {
        cn_igtl_packet *p = cn__igtl_q_at(c, i);
        const cn_igtl_packet *base = p->parent ? p->parent : p;
        bool seen = false;
        for (int k = 0; k < i && !seen; k++) {
            cn_igtl_packet *o = cn__igtl_q_at(c, k);
            seen = (o->parent ? o->parent : o) == base;
        }
        if (!seen)
            sum += base->buf.len;
    }
    return sum;
}

/* ------------------------------------------------------------------ frames */

void cn__igtl_process_frame(cn_igtl_server *s, cn_frame *f, int64_t t_handoff)
{
    bool need[3] = {false, false, false};
    for (int i = 0; i < s->n_clients; i++)
        need[s->clients[i]->st.header_version == 2 ? 2 : 1] = true;

    char ev[4 + CN_EVENTS_MAX][CN_IGTL_EVENT_TEXT_MAX];
    int n_ev = cn__igtl_frame_events(s, f, ev, 4 + CN_EVENTS_MAX);

    if (!need[1] && !need[2])
        cn__igtl_remember_poses(s, f); /* the next client's INVALID pose sends the last */
    if (need[1] || need[2]) {
        int64_t t0 = cn_clock_mono_ns();
        s->report_latency = s->o.latency_period_s > 0 &&
                            t0 - s->last_latency_report_ns >= (int64_t)(s->o.latency_period_s * 1e9);
        if (s->report_latency)
            s->last_latency_report_ns = t0;
        for (int v = 1; v <= 2; v++) {
            if (!need[v])
                continue;
            cn_igtl_packet *p = cn__igtl_packet_get(s);
            if (!p)
                break;
            p->droppable = p->is_frame = true;
            p->seq = f->seq;
            p->t_handoff_ns = t_handoff;
            if (cn__igtl_pack_frame(s, f, v, &p->buf) != CN_OK) {
                cn_log_warn(s->o.log, MOD, "frame %llu could not be packed",
                            (unsigned long long)f->seq);
                cn__igtl_packet_unref(s, p);
                continue;
            }
            for (int i = 0; i < s->n_clients; i++)
                if ((s->clients[i]->st.header_version == 2 ? 2 : 1) == v)
                    cn__igtl_enqueue(s, s->clients[i], p);
            if (s->last[v])
                cn__igtl_packet_unref(s, s->last[v]);
            s->last[v] = p;   /* keeps the creation reference, for GET_ */
            s->newest_seq = f->seq;
            s->packed_any = true;
        }
        /* the questions that waited for a frame of their version */
        for (int i = 0; i < s->n_clients; i++) {
            cn_igtl_client *c = s->clients[i];
            const cn_igtl_packet *mine = s->last[c->st.header_version == 2 ? 2 : 1];
            if (c->n_get_pending > 0 && mine && mine->seq == s->newest_seq) {
                const int n = c->n_get_pending;
                c->n_get_pending = 0;
                for (int k = 0; k < n; k++)
                    cn__igtl_answer_get(s, c, c->get_pending[k].type, c->get_pending[k].device);
            }
        }
        int64_t t1 = cn_clock_mono_ns();
        cn_stats_add(s->pack_ms, (double)(t1 - t0) / 1e6);
        if (f->t_acq_ns > 0 && cn_frame_t_ready(f) <= t1)
            cn_stats_add(s->lat_ms, (double)(t1 - cn_frame_t_ready(f)) / 1e6);
        pthread_mutex_lock(&s->mu);
        s->st.frames_packed++;
        pthread_mutex_unlock(&s->mu);
    }
    cn_frame_unref(f);
    for (int e = 0; e < n_ev; e++)
        cn_igtl_server_send_event(s, ev[e]);
}

/* An event STRING; an alarm change ("Alarms 0x... WORDS") also as a STATUS
 * "CryoNavAlarm" (code 1 OK when cleared, 2 with the alarm bits as sub-code), its
 * message the words ("ICE NEAR SKIN | TIP HIDDEN"; "no alarm"), which Slicer
 * shows as a status node. */
static cn_igtl_packet *event_packet(cn_igtl_server *s, int v, const char *text)
{
    cn_igtl_packet *p = cn__igtl_string_packet(s, v, CN_IGTL_STR_EVENT, text);
    unsigned bits;
    int at = 0;
    if (!p || sscanf(text, "Alarms 0x%x%n", &bits, &at) != 1)
        return p;
    const char *words = text + at;
    while (*words == ' ')
        words++;
    if (!words[0])
        words = bits ? text : "no alarm";
    cn_igtl_msg msg;
    size_t keep = p->buf.len;
    int r = cn_igtl_msg_begin(&p->buf, &msg, v, "STATUS", "CryoNavAlarm",
                              cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), ++s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_status(&p->buf, bits ? 2 : 1, (int64_t)bits, bits ? "Alarm" : "OK", words);
    if (r == CN_OK)
        r = cn_igtl_msg_end(&p->buf, &msg, NULL, 0);
    if (r != CN_OK)
        p->buf.len = keep;
    return p;
}

void cn__igtl_broadcast_events(cn_igtl_server *s)
{
    char texts[CN_IGTL_EVENTS_MAX][CN_IGTL_EVENT_TEXT_MAX];
    int n = 0;
    pthread_mutex_lock(&s->mu);
    while (s->ev_n > 0) {
        memcpy(texts[n++], s->events[s->ev_head], CN_IGTL_EVENT_TEXT_MAX);
        s->ev_head = (s->ev_head + 1) % CN_IGTL_EVENTS_MAX;
        s->ev_n--;
    }
    pthread_mutex_unlock(&s->mu);
    for (int e = 0; e < n; e++) {
        cn_igtl_packet *pv[3] = {NULL, NULL, NULL};
        for (int i = 0; i < s->n_clients; i++) {
            int v = s->clients[i]->st.header_version == 2 ? 2 : 1;
            if (!pv[v])
                pv[v] = event_packet(s, v, texts[e]);
            if (pv[v])
                cn__igtl_enqueue(s, s->clients[i], pv[v]);
        }
        cn__igtl_packet_unref(s, pv[1]);
        cn__igtl_packet_unref(s, pv[2]);
    }
}

/* Packs the hub's surfaces into one packet (called under the hub's lock). */
typedef struct {
    cn_igtl_server *s;
    cn_igtl_packet *p;
    int version;
    uint64_t ts;
} surf_pack;

static void pack_surface(void *user, double temp_c, const float *xyz, int n_pts, const int *tri,
                         int n_tri)
{
    surf_pack *sp = user;
    char name[CN_IGTL_NAME_SIZE + 1];
    cn_igtl_isotherm_name(name, sizeof name, temp_c, true);
    cn_igtl_msg msg;
    /* the ice stays where it formed, in the scene frame (the session moves the
     * meshes there: igtl.reference_frame) */
    cn_igtl_meta meta = {"Frame", sp->s->o.reference_frame};
    int r = cn_igtl_msg_begin(&sp->p->buf, &msg, sp->version, "POLYDATA", name, sp->ts,
                              ++sp->s->msg_id);
    if (r == CN_OK)
        r = cn_igtl_put_triangles(&sp->p->buf, xyz, n_pts, tri, n_tri);
    if (r == CN_OK)
        r = cn_igtl_msg_end(&sp->p->buf, &msg, &meta, 1);
    if (r != CN_OK)
        sp->p->buf.len = msg.start;   /* leave this one out */
}

/* Sends the hub's surfaces to every client that has an older version. */
void cn__igtl_send_surfaces(cn_igtl_server *s)
{
    uint64_t ver = cn_proctor_surfaces_version(s->hub);
    bool behind = false;
    for (int i = 0; i < s->n_clients; i++)
        if (s->clients[i]->surf_version != ver)
            behind = true;
    if (!behind || ver == 0)
        return;
    cn_igtl_packet *pv[3] = {NULL, NULL, NULL};
    uint64_t ts = cn_igtl_ts_from_wall_ns(cn_clock_wall_ns());
    for (int v = 1; v <= 2; v++) {
        pv[v] = cn__igtl_packet_get(s);
        if (!pv[v])
            break;
        pv[v]->is_surface = true;
        surf_pack sp = {.s = s, .p = pv[v], .version = v, .ts = ts};
        ver = cn_proctor_surfaces_visit(s->hub, pack_surface, &sp);
    }
    for (int i = 0; i < s->n_clients; i++) {
        cn_igtl_client *c = s->clients[i];
        int v = c->st.header_version == 2 ? 2 : 1;
        if (c->surf_version != ver && pv[v]) {
            cn__igtl_enqueue(s, c, pv[v]);
            c->surf_version = ver;
        }
    }
    cn__igtl_packet_unref(s, pv[1]);
    cn__igtl_packet_unref(s, pv[2]);
}
