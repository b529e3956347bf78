/*
 * make_corpus.c - writes a seed corpus for fuzz_igtl_parser: valid v1 and v2
 * messages of each inbound type, packed with our own packers, so the fuzzer
 * starts from well-formed streams and mutates them.
 * Usage: make_corpus DIR
 */
#include "igtl/igtl.h"

#include <stdio.h>
#include <string.h>

static void save(const char *dir, const char *name, const cn_igtl_buf *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    uint8_t chunk = 13;   /* first byte: fragmentation */
    fwrite(&chunk, 1, 1, f);
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_mat4 id = cn_mat4_identity();
    for (int v = 1; v <= 2; v++) {
        char name[32];
        b.len = 0;
        cn_igtl_meta meta = {"TransformStatus", "OK"};
        cn_igtl_msg_begin(&b, &m, v, "TRANSFORM", "ProbeToReferenceLongName", 0, 1);
        cn_igtl_put_transform(&b, &id);
        cn_igtl_msg_end(&b, &m, &meta, 1);
        cn_igtl_msg_begin(&b, &m, v, "STRING", "CMD_1", 0, 2);
        cn_igtl_put_string(&b, "<Command Name=\"StartRecording\" OutputFilename=\"a&amp;b\"/>");
        cn_igtl_msg_end(&b, &m, NULL, 0);
        cn_igtl_msg_begin(&b, &m, v, "STATUS", "S", 0, 3);
        cn_igtl_put_status(&b, 1, 0, "OK", "fine");
        cn_igtl_msg_end(&b, &m, NULL, 0);
        cn_igtl_msg_begin(&b, &m, v, "COMMAND", "command", 0, 4);
        cn_igtl_put_command(&b, 4, "Login", "<Command Name=\"Login\" Token=\"fuzz-token-0123456789\"/>");
        cn_igtl_msg_end(&b, &m, NULL, 0);
        cn_igtl_msg_begin(&b, &m, v, "COMMAND", "command", 0, 5);
        cn_igtl_put_command(&b, 5, "RequestDeviceIds", "<Command Name=\"RequestDeviceIds\" DeviceType=\"VirtualCapture\"/>");
        cn_igtl_msg_end(&b, &m, NULL, 0);
        /* tracking: POSITION (position + quaternion), TDATA and QTDATA of two
         * elements each (names, then identity poses; floats 1.0 / 0.0) */
        static const uint8_t one[4] = {0x3f, 0x80, 0, 0};
        cn_igtl_msg_begin(&b, &m, v, "POSITION", "StylusToTracker", 0, 6);
        uint8_t *c = cn_igtl_buf_append(&b, 28);
        memset(c, 0, 28);
        memcpy(c + 24, one, 4);
        cn_igtl_msg_end(&b, &m, NULL, 0);
        for (int q = 0; q < 2; q++) {
            size_t es = q ? CN_IGTL_QTDATA_ELEMENT_SIZE : CN_IGTL_TDATA_ELEMENT_SIZE;
            cn_igtl_msg_begin(&b, &m, v, q ? "QTDATA" : "TDATA", "Tracker", 0, 7);
            c = cn_igtl_buf_append(&b, 2 * es);
            memset(c, 0, 2 * es);
            for (int e = 0; e < 2; e++) {
                uint8_t *el = c + es * (size_t)e;
                memcpy(el, e ? "ProbeToTracker" : "Stylus", e ? 14 : 6);
                el[20] = 2;
                if (q)
                    memcpy(el + 46, one, 4);   /* w */
                else
                    for (int k = 0; k < 3; k++)
                        memcpy(el + 22 + 16 * k, one, 4);   /* R11, R22, R33 */
            }
            cn_igtl_msg_end(&b, &m, NULL, 0);
        }
        snprintf(name, sizeof name, "mixed_v%d", v);
        save(argv[1], name, &b);
        b.len = 0;
        uint8_t px[64];
        memset(px, 7, sizeof px);
        cn_igtl_msg_begin(&b, &m, v, "IMAGE", "Image_Reference", 0, 4);
        cn_igtl_put_image_u8(&b, 8, 8, px, &id);
        /* v2 metadata on a streamed type: the streamed mode keeps it (the fuzz target
         * compares it with the buffered mode's) */
        cn_igtl_meta im_meta[2] = {{"IGTL_DEVICE_NAME", "Image_Reference"}, {"Sender", "fuzz"}};
        cn_igtl_msg_end(&b, &m, im_meta, 2);
        cn_igtl_msg_begin(&b, &m, v, "POINT", "Proctor", 0, 5);
        memset(cn_igtl_buf_append(&b, 136), 0, 136);
        cn_igtl_msg_end(&b, &m, NULL, 0);
        snprintf(name, sizeof name, "image_point_v%d", v);
        save(argv[1], name, &b);
    }
    cn_igtl_buf_free(&b);
    return 0;
}
