/*
 * cnn_onednn_dev.c - the seeded crop CNN's hand-written forward pass against
 * oneDNN running a network of the same shape, on one core.
 *
 * Why it exists: nerve_cnn_net.c runs its U-Net with plain C loops while the
 * finder (nerve_net.c) goes through oneDNN, and the project asks that hand-written
 * code say, with a measurement, why a library does not do it. The finder's oneDNN
 * path takes any CNNFIND1 file, and its layer pattern with four levels of
 * 8/16/32/32 channels is the crop CNN's (only the input differs: one channel
 * instead of the image and the seed channel). So this builds such a file with
 * random weights (timing does not depend on the values), runs both on a 64x64
 * grid N times after a warm-up, and prints the median and p99 of each.
 *
 *   build-rel/modules/segment/cnn_onednn_dev [N]      (default 500)
 */
#include "../nerve_cnn_internal.h"
#include "../nerve_net.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID 64

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static void putf(unsigned char *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put32(b, u);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_d);
    printf("%-58s p50 %.3f ms p99 %.3f ms\n", what, ms[n / 2], ms[(int)(0.99 * (n - 1))]);
}

int main(int argc, char **argv)
{
    const int iters = argc > 1 ? atoi(argv[1]) : 500;
    if (iters < 10 || iters > 100000) {
        fprintf(stderr, "usage: cnn_onednn_dev [N (10..100000)]\n");
        return 2;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    const bool pinned = sched_setaffinity(0, sizeof set, &set) == 0;
    /* a CNNFIND1 file: four levels of 8/16/32/32 channels, the crop CNN's shape */
    const int ch[4] = {8, 16, 32, 32}, L = 4;
    int cin[16], cout[16], nl = 0;
    cin[nl] = 1, cout[nl++] = ch[0];
    cin[nl] = ch[0], cout[nl++] = ch[0];
    for (int l = 1; l < L - 1; l++) {
        cin[nl] = ch[l - 1], cout[nl++] = ch[l];
        cin[nl] = ch[l], cout[nl++] = ch[l];
    }
    cin[nl] = ch[L - 2], cout[nl++] = ch[L - 1];
    cin[nl] = ch[L - 1], cout[nl++] = ch[L - 2];
    for (int l = L - 2; l > 0; l--)
        cin[nl] = ch[l], cout[nl++] = ch[l - 1];
    cin[nl] = ch[0], cout[nl++] = ch[0];
    size_t per = (size_t)ch[0] + 1;
    for (int l = 0; l < nl; l++)
        per += (size_t)cout[l] * cin[l] * 9 + (size_t)cout[l];
    const size_t size = NET_HEADER + (size_t)CN_NERVE_FIND_NMODELS * per * 4;
    unsigned char *blob = calloc(1, size);
    float *in = malloc(sizeof(float) * 2 * GRID * GRID), *out = malloc(sizeof(float) * GRID * GRID);
    double *ms = malloc(sizeof(double) * (size_t)iters);
    if (!blob || !in || !out || !ms)
        return 1;
    memcpy(blob, NET_MAGIC, 8);
    put32(blob + 8, CN_NERVE_FIND_NMODELS);
    put32(blob + 12, (uint32_t)per);
    put32(blob + 16, GRID);
    put32(blob + 20, (uint32_t)L);
    for (int l = 0; l < L; l++)
        put32(blob + 24 + 4 * l, (uint32_t)ch[l]);
    const float geo[7] = {1.0f, 4.0f, 0.5f, 0.0f, 16.0f, 0.3f, 0.5f};
    for (int k = 0; k < 7; k++)
        putf(blob + 56 + 4 * k, geo[k]);
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)CN_NERVE_FIND_NMODELS * per; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        putf(blob + NET_HEADER + 4 * i, ((float)(s % 2001) - 1000.0f) * 1e-4f);
    }
    for (int i = 0; i < 2 * GRID * GRID; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        in[i] = ((float)(s % 2001) - 1000.0f) * 1e-3f;
    }
    char err[256] = "";
    nerve_net *net = NULL;
    nerve_net_info info;
    if (nerve_net_new(blob, size, &net, &info, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cnn_onednn_dev: %s\n", err);
        return 1;
    }
    cn_nerve_cnn *cnn = cn_nerve_cnn_new(640, 480);
    if (!cnn)
        return 1;
    printf("64x64 grid, 8/16/32/32 channels, %d runs each after 20 warm-up runs, %s\n", iters,
           pinned ? "pinned to CPU 0" : "not pinned");
    for (int round = 0; round < 2; round++) { /* twice, to see the spread */
        for (int k = -20; k < iters; k++) {
            int64_t t0 = cn_clock_mono_ns();
            if (nerve_net_forward(net, 0, in, GRID, GRID, out) != CN_OK)
                return 1;
            if (k >= 0)
                ms[k] = (double)(cn_clock_mono_ns() - t0) / 1e6;
        }
        report("oneDNN (nerve_net.c, the finder's path), one thread:", ms, iters);
        for (int k = -20; k < iters; k++) {
            int64_t t0 = cn_clock_mono_ns();
            if (cn_nerve_cnn_forward(cnn, CN_NERVE_CNN_LIVE, in, GRID, out) != CN_OK)
                return 1;
            if (k >= 0)
                ms[k] = (double)(cn_clock_mono_ns() - t0) / 1e6;
        }
        report("hand-written (nerve_cnn_net.c, the shipped weights):", ms, iters);
    }
    nerve_net_free(net);
    cn_nerve_cnn_free(cnn);
    free(blob);
    free(in);
    free(out);
    free(ms);
    return 0;
}
