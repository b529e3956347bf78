/*
 * igtl_source_recv.c - what the OpenIGTLink client does with what arrives (see
 * igtl_source.h): poses into the graph under their mapped names (TRANSFORMs
 * here; POSITION, TDATA and QTDATA in igtl_source_track.c go through the same
 * cn__igtl_src_put_pose), IMAGEs held until their burst is read, and, when the
 * link drops, every delivered pose marked invalid. Runs on the connection
 * thread; shared state is behind the source's mutex. Split from igtl_source.c
 * (connection and device).
 */
#include "igtl_source_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ state */

static const char *map_name(const cn_igtl_source *s, const char *device)
{
    for (int i = 0; i < s->o.n_map; i++)
        if (strcmp(s->o.map[i].device, device) == 0)
            return s->o.map[i].name;
    if (!s->o.pass_unmapped)
        return NULL;
    char a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
    return cn_xform_name_split(device, a, b) == CN_OK ? device : NULL;
}

/* Header timestamp (wall, the sender's clock) -> our monotonic time. The sender's
 * clock is another machine's and may be off ours by any amount, so a stamp's age
 * against our clock means nothing by itself. The smallest lag seen on this link
 * (our wall time minus its stamp: the link's delay plus the clocks' offset) is
 * taken as "fresh", and a message's age is its lag beyond that; the minimum may
 * rise 1 ms a second, to follow a drifting clock. A steady offset is then fresh,
 * and stamps that stop advancing (a tool out of view whose last pose is sent
 * again) age as they should. Before, an absolute age was trusted only between 0
 * and 1 s: a server 0.5 s behind lost the cryoprobe for the whole session, one 10 s
 * behind was taken as current. A stamp of 0 (the upstream example servers) is now. */
int64_t cn__igtl_src_to_mono(cn_igtl_source *s, uint64_t ts)
{
    int64_t now_m = cn_clock_mono_ns(), now_w = cn_clock_wall_ns();
    if (ts == 0 || !s)
        return now_m;
    int64_t lag = now_w - cn_igtl_ts_to_wall_ns(ts);
    double drift = (double)(now_m - s->lag_min_at_ns) * 1e-3; /* 1 ms per s */
    if (!s->lag_known || (double)lag < (double)s->lag_min_ns + drift) {
        s->lag_known = true;
        s->lag_min_ns = lag;
        s->lag_min_at_ns = now_m;
        return now_m;
    }
    double age = (double)lag - ((double)s->lag_min_ns + drift);
    return age > 3.6e12 ? now_m - 3600000000000LL : now_m - (int64_t)age;
}

void cn__igtl_src_set_error(cn_igtl_source *s, const char *fmt, ...)
{
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->mu);
    cn_strlcpy(s->st.last_error, msg, sizeof s->st.last_error);
    pthread_mutex_unlock(&s->mu);
}

void cn__igtl_src_count_ignored(cn_igtl_source *s)
{
    pthread_mutex_lock(&s->mu);
    s->st.ignored++;
    pthread_mutex_unlock(&s->mu);
}

void cn__igtl_src_count(cn_igtl_source *s, uint64_t *counter)
{
    pthread_mutex_lock(&s->mu);
    (*counter)++;
    pthread_mutex_unlock(&s->mu);
}

/* true the first time `type` and `dev` are seen together (bounded list). */
static bool first_time(cn_igtl_source *s, const char *type, const char *dev)
{
    char key[sizeof s->noted[0]];
    snprintf(key, sizeof key, "%s %s", type, dev);
    for (int i = 0; i < s->n_noted; i++)
        if (strcmp(s->noted[i], key) == 0)
            return false;
    if (s->n_noted == NAMES_NOTED_MAX) {
        if (!s->noted_full)
            cn_log_warn(s->o.log, MOD, "%s:%d sends more than %d transform names; "
                        "further names are not reported", s->o.host, s->o.port, NAMES_NOTED_MAX);
        s->noted_full = true;
        return false;
    }
    cn_strlcpy(s->noted[s->n_noted++], key, sizeof s->noted[0]);
    return true;
}

/* One refused message or element: counted always, logged once per type, names and
 * reason, so that a peer repeating it at 50 Hz cannot flood the log. */
void cn__igtl_src_refuse(cn_igtl_source *s, const char *type, const char *dev,
                         const char *element, const char *why)
{
    cn__igtl_src_count(s, &s->st.refused);
    char key[REFUSAL_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s|%s|%s", type, dev, element ? element : "", why);
    for (int i = 0; i < s->n_refused; i++)
        if (strcmp(s->refused[i], key) == 0)
            return;
    if (s->n_refused == NAMES_NOTED_MAX) {
        if (!s->refused_full)
            cn_log_warn(s->o.log, MOD, "%s:%d sends more than %d kinds of malformed poses; "
                        "further ones are refused without a message", s->o.host, s->o.port,
                        NAMES_NOTED_MAX);
        s->refused_full = true;
        return;
    }
    cn_strlcpy(s->refused[s->n_refused++], key, sizeof s->refused[0]);
    char el[48] = "";
    if (element)
        snprintf(el, sizeof el, " element \"%s\"", element);
    const bool image = strcmp(type, "IMAGE") == 0;
    cn_log_warn(s->o.log, MOD, "%s \"%s\"%s from %s:%d refused: %s (%s)", type, dev, el,
                s->o.host, s->o.port, why,
                image ? "the link stays; no frame from it" : "the link and the other poses stay");
}

bool cn__igtl_src_put_pose(cn_igtl_source *s, const char *type, const char *dev,
                           const cn_mat4 *mat, bool valid, int64_t t)
{
    const char *name = map_name(s, dev);
    if (!name) {
        if (first_time(s, type, dev)) {
            /* the example names a pose nothing feeds yet: CryoprobeToTracker, or, when a
             * device is mapped there already, one named after this device (before, the
             * advice put a second tool on the cryoprobe's pose: review 43a F10) */
            char sug[CN_FRAME_NAME_MAX + 16] = "CryoprobeToTracker";
            for (int i = 0; i < s->o.n_map; i++)
                if (strcmp(s->o.map[i].name, "CryoprobeToTracker") == 0) {
                    size_t k = 0;
                    for (const char *q = dev; *q && k + 10 < CN_FRAME_NAME_MAX; q++)
                        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
                            (*q >= '0' && *q <= '9'))
                            sug[k++] = *q;
                    snprintf(sug + k, sizeof sug - k, "%sToTracker", k ? "" : "Tool");
                    break;
                }
            cn_log_warn(s->o.log, MOD,
                        "%s \"%s\" from %s:%d ignored: not a transform name of the form "
                        "AToB%s; map it in the config, e.g. \"igtl\": {\"source\": {\"map\": "
                        "{\"%s\": \"%s\"}}}",
                        type, dev, s->o.host, s->o.port, s->o.pass_unmapped ? "" : " in the map",
                        dev, sug);
        }
        return false;
    }
    /* Only a pose with a slot goes into the graph: the slot is what marks it
     * invalid when the link drops. */
    pthread_mutex_lock(&s->mu);
    int i = 0;
    while (i < s->n_poses && strcmp(s->poses[i].name, name) != 0)
        i++;
    if (i == POSES_MAX) {
        bool warn = !s->poses_full;
        s->poses_full = true;
        pthread_mutex_unlock(&s->mu);
        if (warn)
            cn_log_warn(s->o.log, MOD, "%s:%d sends more than %d poses: %s \"%s\" (%s) and "
                        "further new names are ignored", s->o.host, s->o.port, POSES_MAX, type,
                        dev, name);
        return false;
    }
    if (s->graph) /* graph first: a reader that sees the slot finds the graph set */
        cn_xform_graph_set(s->graph, name, mat, t, valid);
    if (i == s->n_poses)
        s->n_poses++;
    cn_strlcpy(s->poses[i].name, name, sizeof s->poses[i].name);
    s->poses[i].m = *mat;
    s->poses[i].valid = valid;
    s->poses[i].t_ns = t;
    pthread_mutex_unlock(&s->mu);
    if (first_time(s, type, dev))
        cn_log_info(s->o.log, MOD, "receiving %s \"%s\" as %s", type, dev, name);
    return true;
}

void cn__igtl_src_on_transform(cn_igtl_source *s, const cn_igtl_message *m)
{
    char dev[CN_XFORM_NAME_MAX], status[16];
    cn_igtl_message_name(m, dev, sizeof dev);
    cn_mat4 mat;
    bool valid = true;
    if (cn_igtl_message_meta(m, "TransformStatus", status, sizeof status) == CN_OK)
        valid = strcmp(status, "OK") == 0;
    if (cn_igtl_decode_transform(m->content, m->content_len, &mat) != CN_OK) {
        char why[64];
        if (m->content_len != 48)
            snprintf(why, sizeof why, "body of %zu bytes (expected 48)", m->content_len);
        else
            snprintf(why, sizeof why, "non-finite number in the matrix");
        cn__igtl_src_refuse(s, "TRANSFORM", dev, NULL, why);
        cn__igtl_src_count_ignored(s);
        return;
    }
    if (!cn__igtl_src_put_pose(s, "TRANSFORM", dev, &mat, valid,
                               cn__igtl_src_to_mono(s, m->h.timestamp))) {
        cn__igtl_src_count_ignored(s);
        return;
    }
    cn__igtl_src_count(s, &s->st.transforms);
}

void cn__igtl_src_on_image(cn_igtl_source *s, const cn_igtl_message *m)
{
    cn_igtl_image_view v;
    if (!s->o.want_image) {
        cn__igtl_src_count_ignored(s);
        return;
    }
    char dev[CN_XFORM_NAME_MAX], why[96] = "";
    cn_igtl_message_name(m, dev, sizeof dev);
    const int dr = cn_igtl_decode_image(m->content, m->content_len, &v);
    if (dr == CN_EUNSUPPORTED)
        snprintf(why, sizeof why, "a sub-volume of the image (only whole images are used)");
    else if (dr != CN_OK)
        snprintf(why, sizeof why, "malformed image body of %zu bytes", m->content_len);
    else if (v.scalar_type != 3 || v.components != 1)
        snprintf(why, sizeof why, "scalar type %d with %d component%s (only 8-bit unsigned "
                 "grey, type 3 x 1, is a B-mode frame)", v.scalar_type, v.components,
                 v.components == 1 ? "" : "s");
    else if (v.size[2] != 1)
        snprintf(why, sizeof why, "a volume of %d slices (only 2-D frames)", v.size[2]);
    if (why[0]) {
        cn__igtl_src_refuse(s, "IMAGE", dev, NULL, why);
        cn__igtl_src_count_ignored(s);
        return;
    }
    /* PLUS names images <Name>_<Frame>: the part after the last '_' is the frame. */
    const char *us = strrchr(dev, '_');
    char frame[CN_FRAME_NAME_MAX];
    cn_strlcpy(frame, us && us[1] ? us + 1 : "Reference", sizeof frame);
    cn_mat4 ijk = cn_igtl_image_ijk_to_ref(&v);
    int64_t t = cn__igtl_src_to_mono(s, m->h.timestamp);
    /* The image's own placement joins the tracking in the graph, so that
     * ImageToProbe follows from ImageToReference and ProbeToReference. */
    char xname[CN_XFORM_NAME_MAX];
    snprintf(xname, sizeof xname, "ImageTo%s", frame);
    if (s->graph && strcmp(frame, "Image") != 0 && cn_mat4_is_finite(&ijk))
        cn_xform_graph_set(s->graph, xname, &ijk, t, true);
    image_slot *p = &s->pending; /* the connection thread's own until published */
    if (v.pixel_bytes > p->cap) {
        uint8_t *n = realloc(p->px, v.pixel_bytes);
        if (!n) {
            cn__igtl_src_count_ignored(s);
            return;
        }
        p->px = n;
        p->cap = v.pixel_bytes;
    }
    memcpy(p->px, v.pixels, v.pixel_bytes);
    p->w = v.size[0];
    p->h = v.size[1];
    p->ijk = ijk;
    cn_strlcpy(p->frame, frame, sizeof p->frame);
    p->t_ns = t;
    p->wall_ns = m->h.timestamp ? cn_igtl_ts_to_wall_ns(m->h.timestamp) : cn_clock_wall_ns();
    s->has_pending = true;
    pthread_mutex_lock(&s->mu);
    s->st.images++;
    pthread_mutex_unlock(&s->mu);
}

/* The pending image becomes the one read() hands out (a newer one supersedes
 * an unread older one: latest wins, as everywhere in the pipeline). */
void cn__igtl_src_publish_image(cn_igtl_source *s)
{
    if (!s->has_pending)
        return;
    pthread_mutex_lock(&s->mu);
    image_slot t = s->ready;
    s->ready = s->pending;
    s->pending = t;
    s->img_seq++;
    s->has_pending = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The link dropped: what it delivered is no longer known. An invalid sample
 * now makes every tool from this server "lost" at once, however long the
 * configured hold, until the server sends it again. */
void cn__igtl_src_invalidate_poses(cn_igtl_source *s)
{
    if (!s->graph)
        return;
    int64_t now = cn_clock_mono_ns();
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_poses; i++) {
        s->poses[i].valid = false;
        cn_xform_graph_set(s->graph, s->poses[i].name, &s->poses[i].m, now, false);
    }
    pthread_mutex_unlock(&s->mu);
}
