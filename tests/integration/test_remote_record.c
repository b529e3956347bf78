/* A proctor starts and stops a recording over OpenIGTLink while the navigator
 * runs (PLUS-style CMD_<uid> / ACK_<uid>), and the file holds the frames of that
 * span. Only a proctor (a client that logged in with the token from a file only
 * the user can read) may do it, only a plain file name is honoured (no path
 * can be smuggled in), and a second StartRecording while recording is refused.
 * Real binary, real loopback socket, real recording file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/igtl/igtl_test_util.h"
#include "run_util.h"

static run_result R;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* Sends CMD_<uid> and waits for ACK_<uid>; returns its text (static) or NULL. */
static const char *command(tu_client *c, int uid, const char *xml)
{
    char dev[32], ack[32];
    snprintf(dev, sizeof dev, "CMD_%d", uid);
    snprintf(ack, sizeof ack, "ACK_%d", uid);
    if (tu_send_string(c->fd, 1, dev, xml) != 0)
        return NULL;
    tu_read(c, 10000, "STRING", ack);
    tu_msg *m = tu_find(c, "STRING", ack);
    /* STRING content: uint16 encoding, uint16 length, text */
    return m && m->content_len > 4 ? (const char *)m->content + 4 : NULL;
}

static float be_float(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_be_float(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

/* A POINT message with one element (OpenIGTLink: name[64] group[32] rgba[4]
 * xyz float32 radius float32 owner[20], big-endian). */
static int send_point(int fd, const char *device, const char *name, const float xyz[3])
{
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_msg_begin(&b, &m, 1, "POINT", device, cn_igtl_ts_from_wall_ns(cn_clock_wall_ns()), 7);
    uint8_t *e = cn_igtl_buf_append(&b, 136);
    memset(e, 0, 136);
    snprintf((char *)e, 64, "%s", name);
    snprintf((char *)e + 64, 32, "Target");
    e[96] = 255, e[99] = 255;
    for (int i = 0; i < 3; i++)
        put_be_float(e + 100 + 4 * i, xyz[i]);
    put_be_float(e + 112, 1.0f);
    cn_igtl_msg_end(&b, &m, NULL, 0);
    int r = tu_send_all(fd, b.data, b.len);
    cn_igtl_buf_free(&b);
    return r;
}

/* Where image pixel (i, j) lies in the Reference frame, from an IMAGE message
 * (72-byte header: ... size u16[3] at 6, matrix float32[12] at 12: i-axis * spacing,
 * j-axis * spacing, k-axis * spacing, then the image centre (first pixel +
 * (size - 1) / 2)). */
static void image_px_to_ref(const tu_msg *img, double i, double j, float out[3])
{
    const uint8_t *h = img->content;
    int w = h[6] << 8 | h[7], hh = h[8] << 8 | h[9];
    float m[12];
    for (int k = 0; k < 12; k++)
        m[k] = be_float(h + 12 + 4 * k);
    double di = i - (w - 1) / 2.0, dj = j - (hh - 1) / 2.0;
    for (int a = 0; a < 3; a++)
        out[a] = (float)(m[9 + a] + di * m[a] + dj * m[3 + a]);
}

static void test_remote_recording(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_remote_rec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[700], listen[64], recdir[600];
    snprintf(recdir, sizeof recdir, "%s/recs", dir);
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    char tok[700];
    snprintf(tok, sizeof tok, "%s/token", dir);
    int tfd = open(tok, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(tfd >= 0);
    assert_int_equal(write(tfd, "remote-record-token-42\n", 23), 23);
    close(tfd);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    /* Five state-changing commands follow each other within a second or two; the default
     * budget (1 per second, burst 3) would refuse the last ones on a fast machine, and that
     * limit has its own tests (test_proctor, test_proctor_hub): this one is about recording. */
    fprintf(f, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s\"},\n"
               " \"proctor\": {\"token_file\": \"%s\", \"control_per_s\": 50}}\n", recdir, tok);
    fclose(f);
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char logp[800];
        snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
        int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execl(CN_CRYONAV_BIN, CN_CRYONAV_BIN, "run", "--headless", "--config", cfg, "--listen",
              listen, "--frames", "400", "--time-scale", "10", "--snapshot", dir, "--snapshot-every",
              "1000", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    for (int i = 0; i < 600 && fd < 0; i++) { /* up to 30 s: a loaded CI box starts slowly */
        fd = tu_connect(port);
        if (fd < 0)
            usleep(50000);
    }
    assert_true(fd >= 0);
    tu_client viewer, proctor;
    tu_client_init(&viewer, fd);
    /* A plain viewer may not record. */
    const char *r = command(&viewer, 1, "<Command Name=\"StartRecording\"/>");
    assert_non_null(r);
    print_message("viewer: %s\n", r);
    assert_non_null(strstr(r, "FAIL"));

    tu_client_init(&proctor, tu_connect(port));
    assert_true(proctor.fd >= 0);
    /* a name is no credential: calling itself Proctor changes nothing */
    assert_int_equal(tu_send_string(proctor.fd, 1, "Proctor", "watching"), 0);
    r = command(&proctor, 20, "<Command Name=\"StartRecording\"/>");
    assert_non_null(r);
    assert_non_null(strstr(r, "FAIL"));
    /* the token is (Login command, as a Slicer module would send it) */
    r = command(&proctor, 21, "<Command Name=\"Login\" Token=\"remote-record-token-42\" DisplayName=\"Dr Test\"/>");
    assert_non_null(r);
    print_message("login: %s\n", r);
    assert_non_null(strstr(r, "SUCCESS"));
    r = command(&proctor, 2, "<Command Name=\"StartRecording\" OutputFilename=\"../escape.igs.mha\"/>");
    assert_non_null(r);
    print_message("escape: %s\n", r);
    assert_non_null(strstr(r, "FAIL"));
    /* Frames flow only once the viewer is up (slow under ASan): wait for them. */
    tu_read(&viewer, 60000, "IMAGE", NULL);
    assert_non_null(tu_find(&viewer, "IMAGE", NULL));
    /* The proctor marks a target (the artery centre of the default scene: 12 mm right
     * of the probe centre, 20 mm deep) in the Reference frame, computed from the
     * IMAGE the server sent; the navigator must seed its nerve tracker there. */
    tu_msg *img = tu_find(&viewer, "IMAGE", NULL);
    double sp = 40.0 / 480, tx_mm = 640 * sp / 2 + 12.0, ty_mm = 20.0;
    float target[3];
    image_px_to_ref(img, tx_mm / sp - 0.5, ty_mm / sp - 0.5, target);
    assert_int_equal(send_point(proctor.fd, "Proctor", "nerve", target), 0);
    r = command(&proctor, 3, "<Command Name=\"StartRecording\" OutputFilename=\"remote.igs.mha\"/>");
    assert_non_null(r);
    print_message("start: %s\n", r);
    assert_non_null(strstr(r, "SUCCESS"));
    r = command(&proctor, 4, "<Command Name=\"StartRecording\" OutputFilename=\"second.igs.mha\"/>");
    assert_non_null(r);
    assert_non_null(strstr(r, "already recording"));
    /* Record while at least 20 more frames reach the viewer client. */
    tu_client_clear(&viewer);
    for (int waited = 0; waited < 600; waited++) {
        tu_read(&viewer, 100, NULL, NULL);
        int images = 0;
        for (int i = 0; i < viewer.n; i++)
            images += strcmp(viewer.msgs[i].h.type, "IMAGE") == 0;
        if (images >= 20)
            break;
    }
    r = command(&proctor, 5, "<Command Name=\"StopRecording\"/>");
    assert_non_null(r);
    print_message("stop: %s\n", r);
    assert_non_null(strstr(r, "SUCCESS"));
    r = command(&proctor, 6, "<Command Name=\"StopRecording\"/>");
    assert_non_null(r);
    assert_non_null(strstr(r, "not recording"));
    tu_client_free(&viewer);
    tu_client_free(&proctor);
    kill(pid, SIGTERM); /* ends the session cleanly: the recording is already closed */
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));

    char rec[800];
    snprintf(rec, sizeof rec, "%s/remote.igs.mha", recdir);
    const char *argv[] = {CN_CRYONAV_BIN, "info", rec, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
    print_message("%s", R.out);
    assert_int_equal(R.exit_code, 0);
    unsigned long frames = 0;
    const char *fl = strstr(R.out, "frames ");
    assert_non_null(fl);
    sscanf(fl, "frames %lu", &frames);
    if (frames < 15) {
        snprintf(rec, sizeof rec, "cat '%s/cryonav.log'", dir);
        assert_int_equal(system(rec), 0);
    }
    assert_true(frames >= 15); /* the recorder sees every frame; the client may skip some */
    snprintf(rec, sizeof rec, "%s/escape.igs.mha", dir);
    assert_int_not_equal(access(rec, F_OK), 0);
    /* The log says where the target landed in the image. */
    char logp[800], line[512];
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    FILE *lf = fopen(logp, "r");
    assert_non_null(lf);
    bool seeded = false;
    while (fgets(line, sizeof line, lf)) {
        float x, y;
        const char *t = strstr(line, "nerve seed set at (");
        if (t && sscanf(t, "nerve seed set at (%f, %f)", &x, &y) == 2) {
            print_message("target landed at (%.2f, %.2f) mm, sent for (%.2f, %.2f)\n", x, y,
                          tx_mm, ty_mm);
            /* Tracker noise (probe and reference, 0.2 mm / 0.2 deg each) moves the image
             * between the IMAGE sent and the frame the target is applied to; a wrong
             * convention (axes swapped or flipped) would be off by many mm. */
            seeded = fabs(x - tx_mm) < 2.0 && fabs(y - ty_mm) < 2.0;
        }
    }
    fclose(lf);
    assert_true(seeded);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* True when the file at path holds needle (a line of it). */
static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Seq D2 (audit of the twenty-ninth session): a recording a proctor starts in the
 * middle of freeze 2 must replay as freeze 2 with its plan and the nerve's target.
 * Before, its file began with none of the session's state: its replay called the
 * freeze "freeze 1" begun at the recording's first frame, kept the configured plan,
 * followed no nerve (0 of 15 frames), and its report gave the freeze 6.5 s of 10. */
static void test_recording_started_mid_freeze(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_mid_rec_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[700], listen[64], recdir[600], tok[700], logp[800];
    snprintf(recdir, sizeof recdir, "%s/recs", dir);
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    int tfd = open(tok, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(tfd >= 0);
    assert_int_equal(write(tfd, "mid-record-token-4242\n", 22), 22);
    close(tfd);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    /* a short custom plan: freeze 10 s, thaw 5 s, freeze 10 s; no "protocol" (the
     * shipped one is a preset: "cycles" alone is custom) */
    fprintf(f, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s\"},\n"
               " \"sim\": {\"width_px\": 160, \"height_px\": 120, \"fps\": 10, \"idle_s\": 1,"
               " \"approach_s\": 2, \"withdraw_s\": 1, \"release_thaw_s\": 2,"
               " \"cycles\": [[10, 5], [10, 0]]},\n"
               " \"proctor\": {\"token_file\": \"%s\", \"control_per_s\": 50}}\n", recdir, tok);
    fclose(f);
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execl(CN_CRYONAV_BIN, CN_CRYONAV_BIN, "run", "--headless", "--config", cfg, "--listen",
              listen, "--time-scale", "4", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    for (int i = 0; i < 600 && fd < 0; i++) {
        fd = tu_connect(port);
        if (fd < 0)
            usleep(50000);
    }
    assert_true(fd >= 0);
    tu_client proctor;
    tu_client_init(&proctor, fd);
    const char *r =
        command(&proctor, 1, "<Command Name=\"Login\" Token=\"mid-record-token-4242\"/>");
    assert_non_null(r);
    assert_non_null(strstr(r, "SUCCESS"));
    /* freeze 2 begins 18 s into the scenario (4.5 s of wall time, more under ASan) */
    bool in_freeze2 = false;
    for (int i = 0; i < 1200 && !in_freeze2; i++) {
        in_freeze2 = file_has(logp, "freeze_start cycle=2");
        if (!in_freeze2)
            usleep(50000);
    }
    assert_true(in_freeze2);
    usleep(500000); /* 2 s of scene time into it */
    r = command(&proctor, 2, "<Command Name=\"StartRecording\" OutputFilename=\"mid.igs.mha\"/>");
    assert_non_null(r);
    print_message("start: %s\n", r);
    assert_non_null(strstr(r, "SUCCESS"));
    usleep(1200000);
    r = command(&proctor, 3, "<Command Name=\"StopRecording\"/>");
    assert_non_null(r);
    assert_non_null(strstr(r, "SUCCESS"));
    tu_client_free(&proctor);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));

    char rec[800], rep[800];
    snprintf(rec, sizeof rec, "%s/mid.igs.mha", recdir);
    snprintf(rep, sizeof rep, "%s/report", dir);
    /* the replay: freeze 2, the recorded plan, the nerve followed from the target */
    const char *rv[] = {CN_CRYONAV_BIN, "replay", rec, "--headless", "--no-serve", "--speed", "0",
                        NULL};
    assert_int_equal(run_prog(rv, NULL, NULL, 120, &R), 0);
    print_message("%s%s", R.out, R.err);
    assert_int_equal(R.exit_code, 0);
    static char all[sizeof R.out + sizeof R.err];
    cn_strlcpy(all, R.out, sizeof all);
    cn_strlcpy(all + strlen(all), R.err, sizeof all - strlen(all));
    assert_non_null(strstr(all, "the replay takes the recorded plan"));
    assert_non_null(strstr(all, "recorded target"));
    const char *actual = strstr(all, "actual: freeze 1 10 s (simulator), thaw 1 5 s (simulator), "
                                       "freeze 2");
    assert_non_null(actual);
    /* the report: freeze 2 began before the recording and lasted its 10 s */
    const char *pv[] = {CN_CRYONAV_BIN, "report", rec, "--out", rep, "--no-plots", NULL};
    assert_int_equal(run_prog(pv, NULL, NULL, 120, &R), 0);
    assert_int_equal(R.exit_code, 0);
    const char *c2 = strstr(R.out, "\"cycle\": 2");
    assert_non_null(c2);
    /* freeze 1, all before the recording: its ice is unknown, not 0.0 mm (the
     * thirty-sixth session's review) */
    const char *c1 = strstr(R.out, "\"cycle\": 1");
    assert_non_null(c1);
    const char *ice1 = strstr(c1, "\"max_ice_radius_mm\":");
    assert_true(ice1 && ice1 < c2);
    print_message("freeze 1: %.60s\n", ice1);
    assert_int_equal(strncmp(ice1, "\"max_ice_radius_mm\": null,", 26), 0);
    double start_s = 0, freeze_s = 0;
    const char *a = strstr(c2, "\"freeze_start_s\":"), *b = strstr(c2, "\"freeze_s\":");
    assert_non_null(a);
    assert_non_null(b);
    sscanf(a, "\"freeze_start_s\": %lf", &start_s);
    sscanf(b, "\"freeze_s\": %lf", &freeze_s);
    print_message("report: freeze 2 starts at %.1f s, lasts %.1f s\n", start_s, freeze_s);
    assert_true(start_s < -1.0);
    assert_true(freeze_s > 1.0 - start_s); /* from its start to the recording's end, at least */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_remote_recording),
                                       cmocka_unit_test(test_recording_started_mid_freeze)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
