/*
 * igtl_command.c - the COMMAND family and CAPABILITY on the wire.
 *
 * Current 3D Slicer (igtlio's SendCommand) and PLUS clients send a COMMAND
 * message (protocol v3) and wait for an RTS_COMMAND with the same command id;
 * both share one layout, written and read here:
 *   uint32 command id | char[128] command name (NUL-padded) | uint16 encoding
 *   (MIBenum; 3 = US-ASCII) | uint32 length | command text (PLUS: one XML element)
 * CAPABILITY is a list of 12-byte, NUL-padded message type names. Every length
 * is checked against the content size before anything is read; the text is not
 * NUL-terminated on the wire, so the view hands back a pointer and a length.
 */
#include "igtl/igtl.h"

#include <string.h>

static uint32_t rd32(const uint8_t *q)
{
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define FIXED (4 + CN_IGTL_COMMAND_NAME_SIZE + 2 + 4)

int cn_igtl_decode_command(const uint8_t *c, size_t len, cn_igtl_command_view *out)
{
    if (!c || !out || len < FIXED)
        return CN_EPARSE;
    memset(out, 0, sizeof *out);
    out->id = rd32(c);
    const uint8_t *nm = c + 4;
    size_t n = 0;
    while (n < CN_IGTL_COMMAND_NAME_SIZE && nm[n])
        n++;
    for (size_t i = 0; i < n; i++)
        if (nm[i] < 0x20 || nm[i] > 0x7e)
            return CN_EPARSE;
    for (size_t i = n; i < CN_IGTL_COMMAND_NAME_SIZE; i++)
        if (nm[i])
            return CN_EPARSE;   /* bytes after the terminating NUL */
    memcpy(out->name, nm, n);
    out->name[n] = 0;
    out->encoding = (uint16_t)(c[4 + CN_IGTL_COMMAND_NAME_SIZE] << 8 |
                               c[4 + CN_IGTL_COMMAND_NAME_SIZE + 1]);
    uint32_t tl = rd32(c + 4 + CN_IGTL_COMMAND_NAME_SIZE + 2);
    if ((uint64_t)tl != (uint64_t)(len - FIXED))
        return CN_EPARSE;
    out->text = c + FIXED;
    out->text_len = tl;
    return CN_OK;
}

int cn_igtl_put_command(cn_igtl_buf *b, uint32_t id, const char *name, const char *text)
{
    if (!b || !name || !text)
        return CN_EINVAL;
    size_t nl = strlen(name), tl = strlen(text);
    if (nl > CN_IGTL_COMMAND_NAME_SIZE || tl > 0xffffffu)
        return CN_ERANGE;
    uint8_t *p = cn_igtl_buf_append(b, FIXED + tl);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, FIXED);
    wr32(p, id);
    memcpy(p + 4, name, nl);
    p[4 + CN_IGTL_COMMAND_NAME_SIZE] = 0;
    p[4 + CN_IGTL_COMMAND_NAME_SIZE + 1] = CN_IGTL_ENC_US_ASCII;
    wr32(p + 4 + CN_IGTL_COMMAND_NAME_SIZE + 2, (uint32_t)tl);
    memcpy(p + FIXED, text, tl);
    return CN_OK;
}

int cn_igtl_put_capability(cn_igtl_buf *b, const char *const *types, int n)
{
    if (!b || n < 0 || (n > 0 && !types))
        return CN_EINVAL;
    for (int i = 0; i < n; i++)
        if (!types[i] || !types[i][0] || strlen(types[i]) > CN_IGTL_TYPE_SIZE)
            return CN_EINVAL;
    uint8_t *p = cn_igtl_buf_append(b, (size_t)n * CN_IGTL_TYPE_SIZE);
    if (!p && n > 0)
        return CN_ENOMEM;
    for (int i = 0; i < n; i++) {
        memset(p + i * CN_IGTL_TYPE_SIZE, 0, CN_IGTL_TYPE_SIZE);
        memcpy(p + i * CN_IGTL_TYPE_SIZE, types[i], strlen(types[i]));
    }
    return CN_OK;
}
