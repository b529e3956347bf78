/*
 * nerve_net_file.c - reads the nerve finder's weights file ("CNNFIND1", layout in
 * nerve_net.h) into a network of nerve_net.c: the header's geometry, thresholds,
 * flags and ensemble size checked, each with a message naming what is wrong, the
 * weights decoded from little-endian and checked finite. Apart from nerve_net.c
 * because a file format and a forward pass are two ideas (nerve_net.c grew past
 * 690 lines when the ensemble came).
 */
#include "nerve_net.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(rc, ...) (cn_errf(err, err_len, "nerve finder", __VA_ARGS__), (rc))

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static float lef32(const unsigned char *b)
{
    uint32_t u = le32(b);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int nerve_net_new(const void *blob, size_t size, nerve_net **out, nerve_net_info *info, char *err,
                  size_t err_len)
{
    *out = NULL;
    const unsigned char *b = blob;
    if (!b || size < NET_HEADER || memcmp(b, NET_MAGIC, 8) != 0)
        return FAIL(CN_EPARSE, "not a CNNFIND1 weights file (%zu bytes)", size);
    nerve_net_info in = {0};
    in.networks = (int)le32(b + 8);
    in.per_net = (int)le32(b + 12);
    in.rows = (int)le32(b + 16);
    in.levels = (int)le32(b + 20);
    if (in.levels < 3 || in.levels > NET_MAX_LEVELS)
        return FAIL(CN_EPARSE, "weights file geometry out of range: %d levels (3..%d)", in.levels,
                    NET_MAX_LEVELS);
    for (int l = 0; l < in.levels; l++) {
        uint32_t c = le32(b + 24 + 4 * l);
        if (c < 8 || c > 256 || c % 8)
            return FAIL(CN_EPARSE, "weights file geometry out of range: level %d has %u channels "
                        "(8..256, a multiple of 8)", l, c);
        in.ch[l] = (int)c;
    }
    in.std_floor = lef32(b + 56);
    in.r_cells = lef32(b + 60);
    in.found_p = lef32(b + 64);
    in.cluster_cells = lef32(b + 68);
    in.seed_cells = lef32(b + 72);
    in.seed_blend = lef32(b + 76);
    in.auto_blend = lef32(b + 80);
    const uint32_t flags = le32(b + 84), members = le32(b + 88);
    if (flags & ~NET_FLAG_FOV)
        return FAIL(CN_EPARSE, "weights file: unknown header flags 0x%x (known: 0x%x, field of "
                    "view)", (unsigned)flags, (unsigned)NET_FLAG_FOV);
    if (le32(b + 92))
        return FAIL(CN_EPARSE, "weights file: reserved header bytes 92-95 not zero (0x%x)",
                    (unsigned)le32(b + 92));
    if (members > NET_MAX_MEMBERS)
        return FAIL(CN_EPARSE, "weights file: %u networks per slot (an ensemble of 1..%d)",
                    (unsigned)members, NET_MAX_MEMBERS);
    in.members = members ? (int)members : 1;
    in.fov_crop = (flags & NET_FLAG_FOV) != 0;
    const int unit = 1 << (in.levels - 1);
    if (in.rows < unit || in.rows > 512 || in.rows % unit || !(in.std_floor > 0 && in.std_floor < 256) ||
        !(in.r_cells > 0.5f && in.r_cells < 1000) || !(in.found_p >= 0 && in.found_p <= 1) ||
        !(in.cluster_cells >= 0 && in.cluster_cells < 1000) ||
        !(in.seed_cells >= 0 && in.seed_cells < 1000) || !(in.seed_blend >= 0 && in.seed_blend <= 1) ||
        !(in.auto_blend >= -1 && in.auto_blend <= 1))
        return FAIL(CN_EPARSE, "weights file geometry out of range: grid rows %d (multiple of %d, "
                    "<= 512), std floor %g, nerve radius %g cells, found %g, cluster %g, seed %g, "
                    "blend %g / %g", in.rows, unit, (double)in.std_floor, (double)in.r_cells,
                    (double)in.found_p, (double)in.cluster_cells, (double)in.seed_cells,
                    (double)in.seed_blend, (double)in.auto_blend);
    in.in_ch = 1;
    const size_t per = nerve_net_weights_per_net(in.levels, in.ch, 1);
    if (in.networks != CN_NERVE_FIND_NMODELS || (size_t)in.per_net != per) {
        return FAIL(CN_EPARSE, "weights file is for another network: %d networks of %d weights "
                    "(channels %d/%d/.., this layout needs %d of %zu)", in.networks, in.per_net,
                    in.ch[0], in.ch[1], CN_NERVE_FIND_NMODELS, per);
    }
    const size_t total = (size_t)in.networks * (size_t)in.members;
    if (size != NET_HEADER + total * per * 4) {
        return FAIL(CN_EPARSE, "weights file has %zu bytes, expected %zu (%d slots x %d "
                    "networks of %zu weights)", size, NET_HEADER + total * per * 4, in.networks,
                    in.members, per);
    }
    float *w = malloc(sizeof(float) * per * total);
    if (!w)
        return FAIL(CN_ENOMEM, "out of memory for the weights");
    const unsigned char *p = b + NET_HEADER;
    for (size_t i = 0; i < per * total; i++, p += 4) {
        w[i] = lef32(p);
        if (!isfinite(w[i])) {
            free(w);
            return FAIL(CN_EPARSE, "weights file: weight %zu is not finite", i);
        }
    }
    int rc = nerve_net_adopt(&in, w, out, err, err_len);
    if (rc == CN_OK && info)
        *info = in;
    return rc;
}

