/*
 * up20l_config.c - the UP20L's settings from config/probes/up20l.json and from the
 * "usb" object of a session file.
 *
 * Everything measured or estimated about the probe (extent of the image, depth
 * presets with their register values, the decoder's defaults, transfer tuning)
 * lives in the probe file so it can be corrected without a rebuild; the session
 * only picks among them (gain, dynamic range, depth, focus zone, tables folder).
 * Every key is optional and every unknown key is an error naming file, line and key.
 */
#include "usb/usb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_up20l_config_default(cn_up20l_config *c)
{
    memset(c, 0, sizeof *c);
    cn_up20l_decode_opts_default(&c->decode);
    /* The one preset whose register values are known: the vendor start-up's. */
    c->n_presets = 1;
    cn_strlcpy(c->presets[0].name, "default", sizeof c->presets[0].name);
    c->presets[0].depth_mm = 49.7;
    c->presets[0].reg20 = 0x04;
    c->presets[0].reg2b = 0xE9;
    c->presets[0].reg2c = 0x09;
    c->preset = 0;
    c->focus_zone = 0;
    c->transfers_in_flight = 8;
    c->transfer_bytes = 10 * CN_UP20L_CHUNK; /* 40 KiB: 4 transfers per frame */
    c->transfer_timeout_ms = 500;
    c->reconnect_poll_ms = 100;
    c->status_poll_ms = 250;
    c->wait_s = -1; /* a navigator started before its probe waits for it */
}

/* "~/x" -> "$HOME/x". */
static void expand_home(char *path, size_t len)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0)) {
        const char *home = getenv("HOME");
        if (!home)
            return;
        char tmp[CN_PATH_MAX_USB];
        snprintf(tmp, sizeof tmp, "%s%s", home, path + 1);
        cn_strlcpy(path, tmp, len);
    }
}

static int get_num(const cn_json *j, const char *key, double lo, double hi, double *out, char *err,
                   size_t err_len)
{
    int r = cn_json_get_number(j, key, lo, hi, out, err, err_len);
    return r == CN_ENOENT ? CN_OK : r;
}

static int get_int(const cn_json *j, const char *key, long lo, long hi, int *out, char *err,
                   size_t err_len)
{
    long v;
    int r = cn_json_get_int(j, key, lo, hi, &v, err, err_len);
    if (r == CN_OK)
        *out = (int)v;
    return r == CN_ENOENT ? CN_OK : r;
}

/* Selects the preset with depth_mm (within 0.5 mm) or fails naming the known ones. */
static int pick_depth(cn_up20l_config *c, const cn_json *j, const char *key, double depth_mm,
                      char *err, size_t err_len)
{
    for (int i = 0; i < c->n_presets; i++)
        if (depth_mm > c->presets[i].depth_mm - 0.5 && depth_mm < c->presets[i].depth_mm + 0.5) {
            c->preset = i;
            c->decode.depth_mm = c->presets[i].depth_mm;
            return CN_OK;
        }
    char known[256] = "";
    size_t used = 0;
    for (int i = 0; i < c->n_presets && used < sizeof known - 32; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%.1f", i ? ", " : "",
                                 c->presets[i].depth_mm);
    cn_json_error(j, key, err, err_len,
                  "no depth preset at %.1f mm (known register values only for: %s mm)", depth_mm,
                  known);
    return CN_EINVAL;
}

int cn_up20l_config_load(const char *path, cn_up20l_config *c, char *err, size_t err_len)
{
    cn_json *j = cn_json_load(path, err, err_len);
    if (!j)
        return CN_EPARSE;
    static const char *const keys[] = {"model", "width_mm", "pixel_mm", "dynamic_range_db",
                                       "gain_db", "ref_amplitude", "depth_presets", "depth_mm",
                                       "focus_zone", "tables_dir", "transfers_in_flight", "transfer_bytes",
                                       "transfer_timeout_ms", "reconnect_poll_ms",
                                       "status_poll_ms", "plausible_max", "max_bad_permille",
                                       "time_offset_ms", "comment", NULL};
    int r = cn_json_check_keys(j, "", keys, err, err_len);
    if (r == CN_ENOENT)
        r = CN_OK;
    cn_up20l_decode_opts *d = &c->decode;
    if (r == CN_OK) r = get_num(j, "width_mm", 1, 500, &d->width_mm, err, err_len);
    if (r == CN_OK) r = get_num(j, "pixel_mm", 0.02, 5, &d->pixel_mm, err, err_len);
    if (r == CN_OK) r = get_num(j, "dynamic_range_db", 20, 100, &d->dynamic_range_db, err, err_len);
    if (r == CN_OK) r = get_num(j, "gain_db", -40, 40, &d->gain_db, err, err_len);
    if (r == CN_OK) r = get_num(j, "ref_amplitude", 1, 65535, &d->ref_amplitude, err, err_len);
    if (r == CN_OK) r = get_int(j, "plausible_max", 1, 65535, &d->plausible_max, err, err_len);
    if (r == CN_OK) r = get_int(j, "max_bad_permille", 0, 1000, &d->max_bad_permille, err, err_len);
    if (r == CN_OK) r = get_int(j, "focus_zone", 0, 4, &c->focus_zone, err, err_len);
    if (r == CN_OK) r = get_int(j, "transfers_in_flight", 1, 40, &c->transfers_in_flight, err, err_len);
    if (r == CN_OK) {
        r = get_int(j, "transfer_bytes", CN_UP20L_CHUNK, CN_UP20L_FRAME_BYTES, &c->transfer_bytes, err, err_len);
        if (r == CN_OK && c->transfer_bytes % CN_UP20L_CHUNK != 0) {
            cn_json_error(j, "transfer_bytes", err, err_len, "must be a multiple of 4096, not %d",
                          c->transfer_bytes);
            r = CN_EINVAL;
        }
    }
    if (r == CN_OK) r = get_int(j, "transfer_timeout_ms", 50, 10000, &c->transfer_timeout_ms, err, err_len);
    if (r == CN_OK) r = get_int(j, "reconnect_poll_ms", 10, 5000, &c->reconnect_poll_ms, err, err_len);
    if (r == CN_OK) r = get_int(j, "status_poll_ms", 0, 10000, &c->status_poll_ms, err, err_len);
    if (r == CN_OK) r = get_num(j, "time_offset_ms", -1000, 1000, &c->time_offset_ms, err, err_len);
    if (r == CN_OK) {
        int s = cn_json_get_string(j, "tables_dir", c->tables_dir, sizeof c->tables_dir, err, err_len);
        if (s == CN_OK)
            expand_home(c->tables_dir, sizeof c->tables_dir);
        r = s == CN_ENOENT ? CN_OK : s;
    }
    int n = r == CN_OK ? cn_json_array_size(j, "depth_presets") : CN_ENOENT;
    if (r == CN_OK && n >= 0) {
        if (n < 1 || n > CN_UP20L_MAX_PRESETS) {
            cn_json_error(j, "depth_presets", err, err_len, "expected 1..%d presets, got %d",
                          CN_UP20L_MAX_PRESETS, n);
            r = CN_EINVAL;
        }
        static const char *const pkeys[] = {"name", "depth_mm", "reg20", "reg2b", "reg2c", "verified", NULL};
        for (int i = 0; r == CN_OK && i < n; i++) {
            char p[64], k[96];
            cn_up20l_depth_preset *ps = &c->presets[i];
            snprintf(p, sizeof p, "depth_presets[%d]", i);
            r = cn_json_check_keys(j, p, pkeys, err, err_len);
            int v20 = -1, v2b = -1, v2c = -1;
            snprintf(k, sizeof k, "%s.name", p);
            if (r == CN_OK) r = cn_json_get_string(j, k, ps->name, sizeof ps->name, err, err_len);
            snprintf(k, sizeof k, "%s.depth_mm", p);
            if (r == CN_OK) r = cn_json_get_number(j, k, 2, 120, &ps->depth_mm, err, err_len);
            snprintf(k, sizeof k, "%s.reg20", p);
            if (r == CN_OK) r = get_int(j, k, 0, 255, &v20, err, err_len);
            snprintf(k, sizeof k, "%s.reg2b", p);
            if (r == CN_OK) r = get_int(j, k, 0, 255, &v2b, err, err_len);
            snprintf(k, sizeof k, "%s.reg2c", p);
            if (r == CN_OK) r = get_int(j, k, 0, 255, &v2c, err, err_len);
            if (r == CN_OK && (v20 < 0 || v2b < 0 || v2c < 0)) {
                cn_json_error(j, p, err, err_len, "a preset needs reg20, reg2b and reg2c");
                r = CN_EINVAL;
            }
            if (r == CN_OK) {
                ps->reg20 = (uint8_t)v20;
                ps->reg2b = (uint8_t)v2b;
                ps->reg2c = (uint8_t)v2c;
            }
        }
        if (r == CN_OK) {
            c->n_presets = n;
            c->preset = 0;
            c->decode.depth_mm = c->presets[0].depth_mm;
        }
    } else if (r == CN_OK && n != CN_ENOENT) {
        cn_json_error(j, "depth_presets", err, err_len, "expected an array of presets");
        r = CN_EINVAL;
    }
    double depth;
    if (r == CN_OK && cn_json_get_number(j, "depth_mm", 2, 120, &depth, err, err_len) == CN_OK)
        r = pick_depth(c, j, "depth_mm", depth, err, err_len);
    else if (r == CN_OK && cn_json_has(j, "depth_mm"))
        r = CN_EINVAL;
    cn_json_free(j);
    return r;
}

int cn_up20l_config_apply_session(cn_up20l_config *c, const cn_json *s, char *err, size_t err_len)
{
    if (!cn_json_has(s, "usb"))
        return CN_OK;
    static const char *const keys[] = {"probe_config", "tables_dir", "gain_db", "dynamic_range_db",
                                       "depth_mm", "focus_zone", "wait_s", "time_offset_ms",
                                       NULL};
    int r = cn_json_check_keys(s, "usb", keys, err, err_len);
    if (r != CN_OK)
        return r;
    char probe[CN_PATH_MAX_USB];
    r = cn_json_get_string(s, "usb.probe_config", probe, sizeof probe, err, err_len);
    if (r == CN_OK) {
        r = cn_up20l_config_load(probe, c, err, err_len);
        if (r != CN_OK)
            return r;
    } else if (r != CN_ENOENT) {
        return r;
    }
    char tdir[CN_PATH_MAX_USB];
    r = cn_json_get_string(s, "usb.tables_dir", tdir, sizeof tdir, err, err_len);
    if (r == CN_OK && tdir[0]) { /* "" keeps the probe file's folder */
        cn_strlcpy(c->tables_dir, tdir, sizeof c->tables_dir);
        expand_home(c->tables_dir, sizeof c->tables_dir);
    } else if (r != CN_OK && r != CN_ENOENT) {
        return r;
    }
    r = get_num(s, "usb.gain_db", -40, 40, &c->decode.gain_db, err, err_len);
    if (r == CN_OK) r = get_num(s, "usb.dynamic_range_db", 20, 100, &c->decode.dynamic_range_db, err, err_len);
    if (r == CN_OK) r = get_int(s, "usb.focus_zone", 0, 4, &c->focus_zone, err, err_len);
    if (r == CN_OK) r = get_num(s, "usb.wait_s", -1, 86400, &c->wait_s, err, err_len);
    if (r == CN_OK)
        r = get_num(s, "usb.time_offset_ms", -1000, 1000, &c->time_offset_ms, err, err_len);
    if (r == CN_OK && c->wait_s < 0)
        c->wait_s = -1;
    double depth;
    if (r == CN_OK) {
        int d = cn_json_get_number(s, "usb.depth_mm", 2, 120, &depth, err, err_len);
        if (d == CN_OK)
            r = pick_depth(c, s, "usb.depth_mm", depth, err, err_len);
        else if (d != CN_ENOENT)
            r = d;
    }
    return r;
}

void cn_up20l_config_apply_env(cn_up20l_config *c)
{
    const char *t = getenv("CRYONAV_UP20L_TABLES");
    if (t && *t) {
        cn_strlcpy(c->tables_dir, t, sizeof c->tables_dir);
        expand_home(c->tables_dir, sizeof c->tables_dir);
    }
}
