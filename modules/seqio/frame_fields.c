/*
 * frame_fields.c - one cn_frame <-> the per-frame fields of a PLUS sequence file.
 *
 * PLUS fields: <AToB>Transform (16 numbers row-major), <AToB>TransformStatus
 * (OK|INVALID), Timestamp and UnfilteredTimestamp (seconds), FrameNumber,
 * ImageStatus. Timestamp is the frame's scene time (cn_frame.t_scene_ns: what the
 * procedure experienced; the header says so with CryoNavTimestampClock = scene),
 * so PLUS, Slicer and our reports see the same clock. ImageToProbe carries the
 * pixel spacing as PLUS does (ElementSpacing is 1): a frame without one gets
 * Translation(-transducer) * Scale(spacing). CryoNav adds its own fields, each
 * one line, prefixed CryoNav so PLUS and Slicer keep them as custom frame fields:
 *   CryoNavWallNs         wall clock of acquisition (ns since 1970, UTC)
 *   CryoNavSourceFrame    a replay's frame: its index in the file replayed (from 0; the
 *                         FrameNumber and fields of that file's frame are found by it:
 *                         FrameNumber here counts this recording's frames)
 *   CryoNavEvents         the frame's procedure events (events.c), on any frame
 *   CryoNavAnalysed       1 when the analysis fields below belong to this frame
 *   CryoNavPhase          IDLE|APPROACH|FREEZE|THAW|WITHDRAWN
 *   CryoNavCycle          1-based freeze cycle
 *   CryoNavPhaseElapsed   s in the current phase
 *   CryoNavCoverage       fraction of the nerve at <= -20 C (-1 unknown)
 *   CryoNavAlarms         alarm bit set, hex
 *   CryoNavNeedle         found confidence tip_x tip_y dir_x dir_y tip_hidden
 *   CryoNavNerve          found confidence centre_x centre_y rx ry (contour bbox) hidden held
 *                         (hidden: under the ice, the outline last seen; files
 *                         without it read as 0)
 *   CryoNavTargetTemp     the model's temperature at the target's warmest point now
 *                         (guidance target_temp_c, C; nan before any model)
 *   CryoNavIceToSkin      the ICE NEAR SKIN alarm's distance (guidance ice_to_skin_mm:
 *                         the shallower of the model's 0 C surface and the rim, from the
 *                         skin line, mm; nan when no ice is known; absent before it)
 *   CryoNavIce            found confidence n min_x max_x min_y max_y (front, mm)
 *                         radius (the fitted thickness about the probe axis, mm;
 *                         absent in files written before it)
 *   CryoNavIsotherms      n, then temp_c radius_mm pairs
 *   CryoNavTruth          phase cycle t_scene needle_in ice_present ice_radius
 *                         nerve_cx nerve_cy nerve_rx nerve_ry tip_x tip_y ice_top_y
 *                         console
 *                         (ice_top_y: shallowest point of the ice rim, for the report;
 *                         console: 1 the scripted console told its steps, 0 silent)
 * Summaries instead of full contours keep the header small (about 600 bytes per
 * analysed frame) while holding what the report needs.
 */
#include "seqio_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_sbuf_init(cn_sbuf *b, size_t max) {
    b->s = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void cn_sbuf_free(cn_sbuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

int cn_sbuf_add(cn_sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->max) return CN_ENOMEM;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + n + 1) nc *= 2;
        if (nc > b->max) nc = b->max;
        char *ns = realloc(b->s, nc);
        if (!ns) return CN_ENOMEM;
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return CN_OK;
}

/* Printed whole, however long (before, through a 4 KiB buffer: a longer line lost its
 * end and its newline, and the next field ran into it; review 42 F7). */
int cn_sbuf_printf(cn_sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    int rc;
    if (n < 0) {
        rc = CN_EINVAL;
    } else if ((size_t)n < sizeof tmp) {
        rc = cn_sbuf_add(b, tmp, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        rc = big ? CN_OK : CN_ENOMEM;
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            rc = cn_sbuf_add(b, big, (size_t)n);
            free(big);
        }
    }
    va_end(ap2);
    return rc;
}


int cn_seqio_parse_doubles(const char *s, double *out, int n) {
    int k = 0;
    while (k < n) {
        char *end;
        double v = strtod(s, &end);
        if (end == s) break;
        out[k++] = v;
        s = end;
    }
    return k;
}

static const char *phase_names[] = {"IDLE", "APPROACH", "FREEZE", "THAW", "WITHDRAWN"};

static int phase_from_name(const char *s) {
    for (int i = 0; i < 5; i++)
        if (strncmp(s, phase_names[i], strlen(phase_names[i])) == 0) return i;
    return -1;
}

static void fmt_mat(cn_sbuf *b, const cn_mat4 *m) {
    for (int i = 0; i < 16; i++) cn_sbuf_printf(b, i ? " %.9g" : "%.9g", m->m[i]);
}

int64_t cn_seqio_frame_scene_ns(const cn_frame *f) {
    return f->t_scene_ns != CN_SCENE_TIME_UNSET ? f->t_scene_ns : f->t_acq_ns;
}

int cn_seqio_format_fields(const cn_frame *f, cn_sbuf *b) {
    bool have_i2p = false;
    for (int i = 0; i < f->n_poses && i < CN_POSES_MAX; i++) {
        const cn_pose *p = &f->poses[i];
        if (!p->name[0]) continue;
        have_i2p |= strcmp(p->name, "ImageToProbe") == 0;
        cn_sbuf_printf(b, "%sTransform = ", p->name);
        fmt_mat(b, &p->m);
        cn_sbuf_printf(b, "\n%sTransformStatus = %s\n", p->name, p->valid ? "OK" : "INVALID");
    }
    if (!have_i2p) {
        /* the spacing goes where PLUS keeps it: the probe frame has its origin at
         * the transducer face's centre (the simulator's convention) */
        double sx = f->spacing_mm[0] > 0 ? f->spacing_mm[0] : 1, sy = f->spacing_mm[1] > 0 ? f->spacing_mm[1] : 1;
        cn_mat4 m = cn_mat4_identity();
        m.m[0] = sx;
        m.m[5] = sy;
        m.m[10] = (sx + sy) / 2;
        m.m[3] = 0.0 - f->transducer_px[0] * sx; /* 0.0 - : no "-0" in the file */
        m.m[7] = 0.0 - f->transducer_px[1] * sy;
        cn_sbuf_printf(b, "ImageToProbeTransform = ");
        fmt_mat(b, &m);
        cn_sbuf_printf(b, "\nImageToProbeTransformStatus = OK\n");
    }
    double ts = (double)cn_seqio_frame_scene_ns(f) * 1e-9;
    cn_sbuf_printf(b, "Timestamp = %.6f\nUnfilteredTimestamp = %.6f\n", ts, ts);
    cn_sbuf_printf(b, "FrameNumber = %llu\n", (unsigned long long)f->seq);
    cn_sbuf_printf(b, "ImageStatus = %s\n", f->status == CN_FRAME_OK ? "OK" : "INVALID");
    cn_sbuf_printf(b, "CryoNavWallNs = %lld\n", (long long)f->wall_ns);
    if (f->source_frame >= 0)
        cn_sbuf_printf(b, "CryoNavSourceFrame = %d\n", f->source_frame);
    int ne = f->analysis.n_events;
    if (ne > 0) {
        char ev[CN_EVENTS_MAX * (CN_EVENT_TEXT_MAX * 3 + 40) + 32];
        if (ne > CN_EVENTS_MAX) ne = CN_EVENTS_MAX;
        if (cn_seq_events_format(f->analysis.events, ne, cn_seqio_frame_scene_ns(f), ev, sizeof ev) ==
            CN_OK) {
            cn_sbuf_add(b, "CryoNavEvents = ", 16);
            cn_sbuf_add(b, ev, strlen(ev));
            cn_sbuf_add(b, "\n", 1);
        }
    }
    if (f->analysed) {
        const cn_analysis *a = &f->analysis;
        const cn_guidance_state *g = &a->guidance;
        int ph = (int)g->phase;
        cn_sbuf_printf(b, "CryoNavAnalysed = 1\n");
        cn_sbuf_printf(b, "CryoNavPhase = %s\n", ph >= 0 && ph < 5 ? phase_names[ph] : "IDLE");
        cn_sbuf_printf(b, "CryoNavCycle = %d\nCryoNavPhaseElapsed = %.3f\n", g->cycle,
                       g->phase_elapsed_s);
        cn_sbuf_printf(b, "CryoNavCoverage = %.4f\nCryoNavAlarms = %x\n", g->coverage,
                       (unsigned)g->alarms);
        if (isfinite(g->target_temp_c) && fabs(g->target_temp_c) < 1000)
            cn_sbuf_printf(b, "CryoNavTargetTemp = %.2f\n", g->target_temp_c);
        else
            cn_sbuf_printf(b, "CryoNavTargetTemp = nan\n");
        if (isfinite(g->ice_to_skin_mm) && fabs(g->ice_to_skin_mm) < 1000)
            cn_sbuf_printf(b, "CryoNavIceToSkin = %.2f\n", g->ice_to_skin_mm);
        else
            cn_sbuf_printf(b, "CryoNavIceToSkin = nan\n");
        const cn_needle_result *nd = &a->needle;
        cn_sbuf_printf(b, "CryoNavNeedle = %d %.3f %.3f %.3f %.4f %.4f %d\n", nd->found ? 1 : 0,
                       nd->confidence, nd->tip_mm.x, nd->tip_mm.y, nd->dir.x, nd->dir.y,
                       nd->tip_hidden ? 1 : 0);
        const cn_contour *nv = &a->nerve;
        double minx = 0, maxx = 0, miny = 0, maxy = 0;
        int nn = nv->n < 0 ? 0 : (nv->n > CN_CONTOUR_MAX ? CN_CONTOUR_MAX : nv->n);
        for (int i = 0; i < nn; i++) {
            double x = nv->pts_mm[i].x, y = nv->pts_mm[i].y;
            if (i == 0 || x < minx) minx = x;
            if (i == 0 || x > maxx) maxx = x;
            if (i == 0 || y < miny) miny = y;
            if (i == 0 || y > maxy) maxy = y;
        }
        /* the 8th value: held (the last outline, the nerve not found on this frame), as
         * the screen says "(held)"; before, a held outline read back as found (43b F6) */
        cn_sbuf_printf(b, "CryoNavNerve = %d %.3f %.3f %.3f %.3f %.3f %d %d\n",
                       nv->found && nn > 0 ? 1 : 0, nv->confidence, (minx + maxx) / 2,
                       (miny + maxy) / 2, (maxx - minx) / 2, (maxy - miny) / 2,
                       nv->found && nn > 0 && nv->hidden ? 1 : 0,
                       nv->found && nn > 0 && nv->held ? 1 : 0);
        const cn_ice_front *ic = &a->ice;
        int ni = ic->n < 0 ? 0 : (ic->n > CN_ICE_PTS_MAX ? CN_ICE_PTS_MAX : ic->n);
        minx = maxx = miny = maxy = 0;
        for (int i = 0; i < ni; i++) {
            double x = ic->pts_mm[i].x, y = ic->pts_mm[i].y;
            if (i == 0 || x < minx) minx = x;
            if (i == 0 || x > maxx) maxx = x;
            if (i == 0 || y < miny) miny = y;
            if (i == 0 || y > maxy) maxy = y;
        }
        cn_sbuf_printf(b, "CryoNavIce = %d %.3f %d %.3f %.3f %.3f %.3f %.3f\n", ic->found ? 1 : 0,
                       ic->confidence, ni, minx, maxx, miny, maxy,
                       ic->found && isfinite(ic->radius_mm) ? ic->radius_mm : 0.0);
        int niso = a->n_iso < 0 ? 0 : (a->n_iso > CN_ISO_MAX ? CN_ISO_MAX : a->n_iso);
        cn_sbuf_printf(b, "CryoNavIsotherms = %d", niso);
        for (int i = 0; i < niso; i++)
            cn_sbuf_printf(b, " %.2f %.3f", a->iso[i].temp_c, a->iso[i].radius_mm);
        cn_sbuf_printf(b, "\n");
    }
    if (f->truth.valid) {
        const cn_truth *t = &f->truth;
        /* the ice's shallowest point: the top of its visible rim */
        double top = t->ice_center_mm.y - t->ice_radius_mm;
        int rn = t->rim_n < 0 ? 0 : (t->rim_n > CN_ICE_PTS_MAX ? CN_ICE_PTS_MAX : t->rim_n);
        for (int i = 0; i < rn; i++)
            if (i == 0 || t->rim_mm[i].y < top) top = t->rim_mm[i].y;
        cn_sbuf_printf(b,
                       "CryoNavTruth = %d %d %.4f %d %d %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f"
                       " %d\n",
                       (int)t->phase, t->cycle, t->t_scene_s, t->needle_in ? 1 : 0,
                       t->ice_present ? 1 : 0, t->ice_radius_mm, t->nerve_center_mm.x,
                       t->nerve_center_mm.y, t->nerve_rx_mm, t->nerve_ry_mm, t->needle_tip_mm.x,
                       t->needle_tip_mm.y, top, t->console_silent ? 0 : 1);
    }
    return b->s ? CN_OK : CN_ENOMEM;
}

static size_t key_len_ends(const char *key, const char *suffix) {
    size_t k = strlen(key), s = strlen(suffix);
    if (k <= s || strcmp(key + k - s, suffix) != 0) return 0;
    return k - s;
}

void cn_seqio_apply_fields(const cn_seq_field *fl, int n, cn_frame *f) {
    double v[16];
    bool analysed = false;
    for (int i = 0; i < n; i++) {
        const char *k = fl[i].key, *val = fl[i].value;
        size_t base;
        if (strcmp(k, "Timestamp") == 0) {
            /* a field written twice: the first counts, as for info, report and
             * cn_seq_reader_timestamp (cn_seq_field_find) */
            if (cn_seq_field_find(fl, n, "Timestamp") != val)
                continue;
            if (cn_seqio_parse_doubles(val, v, 1) == 1 && isfinite(v[0]) && fabs(v[0]) < 9e9)
                f->t_acq_ns = f->t_scene_ns = llround(v[0] * 1e9);
        } else if (strcmp(k, "FrameNumber") == 0) {
            if (cn_seqio_parse_doubles(val, v, 1) == 1 && v[0] >= 0 && v[0] < 1e18)
                f->seq = (uint64_t)v[0];
        } else if (strcmp(k, "ImageStatus") == 0 || strcmp(k, "Status") == 0) {
            f->status = strncmp(val, "OK", 2) == 0 ? CN_FRAME_OK : CN_FRAME_INVALID;
        } else if ((base = key_len_ends(k, "Transform")) > 0 && base < CN_XFORM_NAME_MAX) {
            char name[CN_XFORM_NAME_MAX], a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
            memcpy(name, k, base);
            name[base] = 0;
            if (cn_xform_name_split(name, a, b) != CN_OK) continue;
            if (cn_seqio_parse_doubles(val, v, 16) != 16) continue;
            cn_mat4 m;
            memcpy(m.m, v, sizeof m.m);
            if (!cn_mat4_is_finite(&m)) continue;
            char sk[CN_XFORM_NAME_MAX + 24];
            snprintf(sk, sizeof sk, "%sStatus", k);
            const char *st = cn_seq_field_find(fl, n, sk);
            bool valid = !st || strncmp(st, "OK", 2) == 0;
            cn_frame_set_pose(f, name, &m, valid); /* CN_ENOMEM past CN_POSES_MAX: ignored */
        } else if (strcmp(k, "CryoNavWallNs") == 0) {
            f->wall_ns = strtoll(val, NULL, 10);
        } else if (strcmp(k, "CryoNavAnalysed") == 0) {
            analysed = atoi(val) == 1;
        } else if (strcmp(k, "CryoNavPhase") == 0) {
            int p = phase_from_name(val);
            if (p >= 0) f->analysis.guidance.phase = (cn_phase)p;
        } else if (strcmp(k, "CryoNavCycle") == 0) {
            f->analysis.guidance.cycle = atoi(val);
        } else if (strcmp(k, "CryoNavPhaseElapsed") == 0) {
            if (cn_seqio_parse_doubles(val, v, 1) == 1) f->analysis.guidance.phase_elapsed_s = v[0];
        } else if (strcmp(k, "CryoNavCoverage") == 0) {
            if (cn_seqio_parse_doubles(val, v, 1) == 1) f->analysis.guidance.coverage = v[0];
        } else if (strcmp(k, "CryoNavAlarms") == 0) {
            f->analysis.guidance.alarms = (uint32_t)strtoul(val, NULL, 16);
        } else if (strcmp(k, "CryoNavNeedle") == 0) {
            if (cn_seqio_parse_doubles(val, v, 7) == 7) {
                cn_needle_result *nd = &f->analysis.needle;
                nd->found = v[0] != 0;
                nd->confidence = (float)v[1];
                nd->tip_mm = (cn_pt2){(float)v[2], (float)v[3]};
                nd->dir = (cn_pt2){(float)v[4], (float)v[5]};
                nd->tip_hidden = v[6] != 0;
            }
        } else if (strcmp(k, "CryoNavNerve") == 0) {
            /* The contour is kept as its bounding ellipse: 32 points around it. */
            int got = cn_seqio_parse_doubles(val, v, 8);
            if (got >= 6) { /* the 7th value (hidden) and the 8th (held) came later: older
                             * files have 6 or 7 */
                cn_contour *c = &f->analysis.nerve;
                c->found = v[0] != 0;
                c->hidden = c->found && got >= 7 && v[6] != 0;
                c->held = c->found && got >= 8 && v[7] != 0;
                c->confidence = (float)v[1];
                c->n = c->found ? 32 : 0;
                for (int j = 0; j < c->n; j++) {
                    double a = 2 * M_PI * j / c->n;
                    c->pts_mm[j] = (cn_pt2){(float)(v[2] + v[4] * cos(a)),
                                            (float)(v[3] + v[5] * sin(a))};
                }
            }
        } else if (strcmp(k, "CryoNavIce") == 0) {
            int nv = cn_seqio_parse_doubles(val, v, 8);
            if (nv >= 7) {
                cn_ice_front *ic = &f->analysis.ice;
                ic->found = v[0] != 0;
                ic->radius_mm = nv == 8 && isfinite(v[7]) && v[7] > 0 && v[7] < 1000 ? (float)v[7] : 0;
                ic->confidence = (float)v[1];
                ic->t_ns = f->t_acq_ns;
                /* the front's extent: its two upper corners and the lowest point */
                ic->n = v[2] > 0 ? 3 : 0;
                ic->pts_mm[0] = (cn_pt2){(float)v[3], (float)v[6]};
                ic->pts_mm[1] = (cn_pt2){(float)((v[3] + v[4]) / 2), (float)v[5]};
                ic->pts_mm[2] = (cn_pt2){(float)v[4], (float)v[6]};
            }
        } else if (strcmp(k, "CryoNavIsotherms") == 0) {
            double iv[1 + 2 * CN_ISO_MAX];
            int got = cn_seqio_parse_doubles(val, iv, 1 + 2 * CN_ISO_MAX);
            if (got >= 1) {
                int ni = (int)iv[0];
                if (ni < 0) ni = 0;
                if (ni > CN_ISO_MAX) ni = CN_ISO_MAX;
                if (got < 1 + 2 * ni) ni = (got - 1) / 2;
                f->analysis.n_iso = ni;
                for (int j = 0; j < ni; j++) {
                    f->analysis.iso[j].temp_c = (float)iv[1 + 2 * j];
                    f->analysis.iso[j].radius_mm = (float)iv[2 + 2 * j];
                    f->analysis.iso[j].n = 0;
                }
            }
        } else if (strcmp(k, "CryoNavTruth") == 0) {
            const int nt = cn_seqio_parse_doubles(val, v, 14);
            if (nt >= 12) {
                cn_truth *t = &f->truth;
                t->valid = true;
                t->phase = (v[0] >= 0 && v[0] <= 4) ? (cn_phase)(int)v[0] : CN_PHASE_IDLE;
                t->cycle = (int)v[1];
                t->t_scene_s = v[2];
                t->needle_in = v[3] != 0;
                t->ice_present = v[4] != 0;
                t->ice_radius_mm = (float)v[5];
                t->nerve_center_mm = (cn_pt2){(float)v[6], (float)v[7]};
                t->nerve_rx_mm = (float)v[8];
                t->nerve_ry_mm = (float)v[9];
                t->needle_tip_mm = (cn_pt2){(float)v[10], (float)v[11]};
                t->console_silent = nt >= 14 && v[13] == 0; /* older files: it told */
            }
        }
    }
    /* events last: they take the frame's scene time, whatever the field order */
    const char *ev = cn_seq_field_find(fl, n, "CryoNavEvents");
    int64_t t = f->t_scene_ns != CN_SCENE_TIME_UNSET ? f->t_scene_ns : f->t_acq_ns;
    if (ev) {
        int got = cn_seq_events_parse(ev, t, f->analysis.events, CN_EVENTS_MAX);
        f->analysis.n_events = got > CN_EVENTS_MAX ? CN_EVENTS_MAX : got;
    }
    const char *note = cn_seq_field_find(fl, n, "CryoNavNote"); /* files before events */
    if (note && f->analysis.n_events < CN_EVENTS_MAX)
        cn_analysis_add_event(&f->analysis, CN_EVSRC_OPERATOR, t, "note text=%s", note);
    f->analysed = analysed;
}
