/* The proctor link of the real `cryonav run`, as a user and as an attacker meet it.
 *
 * - A client that merely calls itself "Proctor" (device name, or v2 metadata
 *   IGTL_DEVICE_NAME) with the shipped config can watch and nothing else: its
 *   StartRecording fails, no file appears, its POINT does not move the target.
 * - A session with no renderer at all (no display, no Xvfb) still applies a
 *   logged-in proctor's POINT to the nerve tracker, and the proctor's note is
 *   logged with its control characters removed.
 * - With personal accounts in the config, the token names the proctor: a Login
 *   with Kim's token that calls itself "Dr Lee" is logged, and its note recorded
 *   and streamed, as kim's; a token that is no account's stays a viewer.
 * - Shutting down while proctors hammer StartRecording / StopRecording is clean:
 *   no AddressSanitizer report, exit code 0, no orphaned .part / .journal files
 *   (three trials: the race used to hit 2 of 3).
 * Real binary, real sockets on loopback, real files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "proctor_util.h"

#define TOKEN "correct-horse-battery-staple-42"

typedef struct {
    char dir[64];
    char log[128];
    char cfg[128];
    char recdir[128];
    int port;
    pid_t pid;
} session;

/* Makes the session's folder and file names. */
static void prepare(session *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/cn_proctor_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->log, sizeof s->log, "%s/cryonav.log", s->dir);
    snprintf(s->cfg, sizeof s->cfg, "%s/session.json", s->dir);
    snprintf(s->recdir, sizeof s->recdir, "%s/recs", s->dir);
    s->port = pu_free_port();
}

/* Starts `cryonav run` on the config already written, without a renderer. */
static void launch(session *s, const char *const *more_args)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    const char *argv[32] = {CN_CRYONAV_BIN, "run", "--config", s->cfg, "--listen", listen,
                            "--frames", "100000", "--time-scale", "10"};
    int n = 10;
    for (int i = 0; more_args && more_args[i] && n < 30; i++)
        argv[n++] = more_args[i];
    argv[n] = NULL;
    s->pid = pu_spawn(argv, s->log, true);
    assert_true(s->pid > 0);
}

/* A small config (cfg_extra: more top-level JSON members, or "") and launch. */
static void start(session *s, const char *cfg_extra, const char *const *more_args)
{
    prepare(s);
    assert_int_equal(pu_write_file(s->cfg, 0600,
                                   "{\"source\": \"sim\", \"record\": {\"dir\": \"%s\"}%s%s}\n",
                                   s->recdir, cfg_extra[0] ? ", " : "", cfg_extra),
                     0);
    launch(s, more_args);
}

static int stop_and_dump(session *s)
{
    int status = pu_stop(s->pid, 30);
    char *log = pu_slurp(s->log, NULL);
    /* the log is long: print_message would cut it */
    fprintf(stderr, "---- cryonav log (%s) ----\n%s----\n", s->log, log ? log : "(none)");
    free(log);
    return status;
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] != '.' && l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The artery centre of the default scene (12 mm right of the probe centre, 20 mm
 * deep) in the frame the server sends the image in, from an IMAGE it sent. */
static void scene_target(tu_msg *img, float out[3], double *tx_mm, double *ty_mm)
{
    double sp = 40.0 / 480;
    *tx_mm = 640 * sp / 2 + 12.0;
    *ty_mm = 20.0;
    pu_image_px_to_ref(img, *tx_mm / sp - 0.5, *ty_mm / sp - 0.5, out);
}

/* ------------------------------------------------------------------ 1. names are not credentials */

static void test_name_is_not_a_credential(void **st)
{
    (void)st;
    session s;
    /* The shipped config, exactly as installed (only the recordings folder moved). */
    char *shipped = pu_slurp(CN_SOURCE_DIR "/config/session.json", NULL);
    assert_non_null(shipped);
    char *brace = strrchr(shipped, '}');
    assert_non_null(brace);
    *brace = 0;
    prepare(&s);
    assert_int_equal(pu_write_file(s.cfg, 0600, "%s, \"record\": {\"dir\": \"%s\"}}\n", shipped,
                                   s.recdir), 0);
    free(shipped);
    launch(&s, NULL);

    int fd = pu_connect(s.port, 60000);
    assert_true(fd >= 0);
    tu_client c;
    tu_client_init(&c, fd);
    /* It watches: frames arrive. */
    tu_read(&c, 60000, "IMAGE", NULL);
    tu_msg *img = tu_find(&c, "IMAGE", NULL);
    assert_non_null(img);
    float target[3];
    double tx, ty;
    scene_target(img, target, &tx, &ty);
    /* Everything a self-named proctor could try. */
    assert_int_equal(tu_send_string(c.fd, 1, "Proctor", "I am the proctor now"), 0);
    assert_int_equal(pu_send_point(c.fd, 1, "Proctor", NULL, "nerve", target), 0);
    assert_int_equal(pu_send_point(c.fd, 2, "Pr", "Proctor", "nerve", target), 0);
    const char *r = pu_command(&c, 1, "<Command Name=\"StartRecording\" OutputFilename=\"evil.igs.mha\"/>", 10000);
    assert_non_null(r);
    print_message("StartRecording by a client named Proctor: %s\n", r ? r : "(none)");
    assert_non_null(strstr(r, "FAIL"));
    /* v2 metadata names the command's sender Proctor too */
    cn_igtl_buf b;
    cn_igtl_buf_init(&b);
    cn_igtl_msg m;
    cn_igtl_meta meta = {"IGTL_DEVICE_NAME", "Proctor"};
    cn_igtl_msg_begin(&b, &m, 2, "STRING", "CMD_2", 0, 2);
    cn_igtl_put_string(&b, "<Command Name=\"StartRecording\" OutputFilename=\"evil2.igs.mha\"/>");
    cn_igtl_msg_end(&b, &m, &meta, 1);
    assert_int_equal(tu_send_all(c.fd, b.data, b.len), 0);
    cn_igtl_buf_free(&b);
    tu_client_clear(&c);
    tu_read(&c, 10000, "STRING", "ACK_2");
    tu_msg *ack = tu_find(&c, "STRING", "ACK_2");
    assert_non_null(ack);
    assert_non_null(strstr((char *)ack->content + 4, "FAIL"));
    r = pu_command(&c, 3, "<Command Name=\"StopRecording\"/>", 10000);
    assert_non_null(r);
    assert_non_null(strstr(r, "FAIL"));
    /* Let the analysis run over several frames after the attempts. */
    tu_client_clear(&c);
    for (int images = 0, k = 0; images < 10 && k < 200; k++) {
        tu_read(&c, 100, NULL, NULL);
        images = 0;
        for (int i = 0; i < c.n; i++)
            images += strcmp(c.msgs[i].h.type, "IMAGE") == 0;
    }
    assert_false(c.closed);
    tu_client_free(&c);
    int status = stop_and_dump(&s);
    assert_true(WIFEXITED(status));
    assert_int_equal(count_files(s.recdir, ".mha"), 0);
    assert_int_equal(count_files(s.recdir, ".part"), 0);
    char *log = pu_slurp(s.log, NULL);
    assert_null(strstr(log, "target: nerve seed set"));   /* the target did not move */
    assert_null(strstr(log, "I am the proctor now"));      /* no note was taken */
    free(log);
    pu_rm_rf(s.dir);
}

/* ------------------------------------------------------------------ 2. accounts */

#define TOKEN_KIM "kim-correct-horse-battery-staple"

/* The session config: the user guide's accounts block (docs/user-guide.md,
 * accounts-config markers) with its folder /home/op/.config/cryonav replaced by
 * s->dir, plus the simulator and the recordings folder. */
static void guide_accounts_config(const session *s)
{
    const char *dir = s->dir;
    char *doc = pu_slurp(CN_SOURCE_DIR "/docs/user-guide.md", NULL);
    assert_non_null(doc);
    char *b = strstr(doc, "<!-- accounts-config:begin");
    assert_non_null(b);
    b = strstr(b, "```json\n");
    assert_non_null(b);
    b += 8;
    char *e = strstr(b, "```");
    assert_non_null(e);
    *e = 0;
    char out[2048] = "";
    const char *from = "/home/op/.config/cryonav", *p = b;
    for (const char *q; (q = strstr(p, from)); p = q + strlen(from)) {
        strncat(out, p, (size_t)(q - p));
        strncat(out, dir, sizeof out - strlen(out) - 1);
    }
    strncat(out, p, sizeof out - strlen(out) - 1);
    free(doc);
    char *last = strrchr(out, '}');
    assert_non_null(last);
    *last = 0;
    assert_int_equal(pu_write_file(s->cfg, 0600, "%s, \"source\": \"sim\", \"record\": {\"dir\": \"%s\"}}\n",
                                   out, s->recdir), 0);
}

static void test_account_names_the_proctor(void **st)
{
    (void)st;
    session s;
    prepare(&s);
    char tok[160], lee[160];
    snprintf(tok, sizeof tok, "%s/kim.token", s.dir);
    snprintf(lee, sizeof lee, "%s/lee.token", s.dir);
    assert_int_equal(pu_write_file(tok, 0600, "%s\n", TOKEN_KIM), 0);
    assert_int_equal(pu_write_file(lee, 0600, "lee-%s\n", TOKEN), 0);
    guide_accounts_config(&s);
    launch(&s, NULL);
    int fd = pu_connect(s.port, 60000);
    assert_true(fd >= 0);
    tu_client c, watcher;
    tu_client_init(&c, fd);
    tu_read(&c, 60000, "IMAGE", NULL);
    tu_client_init(&watcher, pu_connect(s.port, 10000));
    /* the wrong token with the right name: still a viewer */
    const char *r = pu_command(&c, 1, "<Command Name=\"Login\" Token=\"" TOKEN "\" DisplayName=\"kim\"/>", 10000);
    assert_non_null(r);
    print_message("Login with another token, DisplayName=kim: %s\n", r);
    assert_non_null(strstr(r, "FAIL"));
    /* Kim's token, calling itself Dr Lee: a proctor, known as kim */
    r = pu_command(&c, 2, "<Command Name=\"Login\" Token=\"" TOKEN_KIM "\" DisplayName=\"Dr Lee\"/>", 10000);
    assert_non_null(r);
    print_message("Login with kim's token, DisplayName=Dr Lee: %s\n", r);
    assert_non_null(strstr(r, "SUCCESS"));
    assert_int_equal(tu_send_string(c.fd, 1, "ProctorNote", "check the depth"), 0);
    bool event = false, as_lee = false;
    for (int k = 0; k < 100 && !event; k++) {
        tu_read(&watcher, 100, NULL, NULL);
        for (int i = 0; i < watcher.n; i++)
            if (strcmp(watcher.msgs[i].name, "CryoNavEvent") == 0 &&
                strstr((char *)watcher.msgs[i].content + 4, "text=check the depth")) {
                const char *e = (char *)watcher.msgs[i].content + 4;
                print_message("event: %s\n", e);
                char from[64] = "";
                event = cn_event_get(e, "from", from, sizeof from) == CN_OK &&
                        strncmp(from, "kim (client ", 12) == 0;
                as_lee |= strstr(e, "Lee") != NULL;
            }
        tu_client_clear(&watcher);
    }
    tu_client_free(&watcher);
    tu_client_free(&c);
    int status = stop_and_dump(&s);
    assert_true(WIFEXITED(status));
    assert_true(event);
    assert_false(as_lee);
    char *log = pu_slurp(s.log, NULL);
    assert_non_null(strstr(log, "logged in as a proctor (personal account; it calls itself \"Dr Lee\")"));
    assert_non_null(strstr(log, "kim (client "));
    free(log);
    pu_rm_rf(s.dir);
}

/* ------------------------------------------------------------------ 3. headless proctor */

/* Logs in as a proctor (STRING ProctorLogin holding the token). */
static void login(tu_client *c, const char *token)
{
    assert_int_equal(tu_send_string(c->fd, 1, "ProctorLogin", token), 0);
    tu_read(c, 10000, "STRING", "ProctorLoginReply");
    tu_msg *m = tu_find(c, "STRING", "ProctorLoginReply");
    assert_non_null(m);
    print_message("login: %s\n", (char *)m->content + 4);
    assert_non_null(strstr((char *)m->content + 4, "OK"));
}

static void test_headless_target_and_note(void **st)
{
    (void)st;
    session s;
    prepare(&s);
    char tok[160];
    snprintf(tok, sizeof tok, "%s/token", s.dir);
    assert_int_equal(pu_write_file(tok, 0600, "%s\n", TOKEN), 0);
    assert_int_equal(pu_write_file(s.cfg, 0600, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s\"}}\n",
                                   s.recdir), 0);
    const char *args[] = {"--proctor-token-file", tok, NULL};
    launch(&s, args);
    int fd = pu_connect(s.port, 60000);
    assert_true(fd >= 0);
    tu_client c;
    tu_client_init(&c, fd);
    tu_read(&c, 60000, "IMAGE", NULL);
    tu_msg *img = tu_find(&c, "IMAGE", NULL);
    assert_non_null(img);
    float target[3];
    double tx, ty;
    scene_target(img, target, &tx, &ty);
    tu_client watcher;   /* another viewer: sees the note as an event of an analysed frame */
    tu_client_init(&watcher, pu_connect(s.port, 10000));
    login(&c, TOKEN);
    /* the simulator's console runs the freezes: a proctor's StartFreeze is refused
     * (before, it was queued and the scene's own freeze was then refused) */
    const char *fr = pu_command(&c, 1, "<Command Name=\"StartFreeze\"/>", 10000);
    print_message("StartFreeze with the simulator: %s\n", fr ? fr : "(no reply)");
    bool freeze_refused = fr && strstr(fr, "FAIL") && strstr(fr, "simulator");
    tu_client_clear(&c);
    /* and so is a console message (before, "CryoConsole needle_withdrawn" ended the
     * simulated freeze on record, credited to the console: the thirty-sixth session's
     * review) */
    assert_int_equal(tu_send_string(c.fd, 1, "CryoConsole", "needle_withdrawn"), 0);
    bool console_refused =
        pu_wait_log(s.log, "console message refused: the simulator's console", 10000);
    assert_int_equal(pu_send_point(c.fd, 1, "ProctorTarget", NULL, "nerve", target), 0);
    /* A note with a newline and an ANSI escape that would forge a log line. */
    assert_int_equal(tu_send_string(c.fd, 1, "ProctorNote",
                                    "go 2 mm deeper\n2099-01-01 [error] \x1b[31mFORGED\x1b[0m"),
                     0);
    bool seeded = pu_wait_log(s.log, "target: nerve seed set at (", 30000);
    bool noted = pu_wait_log(s.log, "go 2 mm deeper", 10000);
    bool event = false;
    for (int k = 0; k < 100 && !event; k++) {
        tu_read(&watcher, 100, NULL, NULL);
        for (int i = 0; i < watcher.n; i++) {
            const char *e = (char *)watcher.msgs[i].content + 4;
            char from[64] = "", words[128] = "";
            if (strcmp(watcher.msgs[i].name, "CryoNavEvent") == 0 &&
                strncmp(e, "proctor note ", 13) == 0 &&
                cn_event_get(e, "from", from, sizeof from) == CN_OK &&
                strncmp(from, "client ", 7) == 0 &&
                cn_event_get(e, "text", words, sizeof words) == CN_OK &&
                strncmp(words, "go 2 mm deeper", 14) == 0) {
                print_message("event: %s\n", e);
                event = true;
            }
        }
        tu_client_clear(&watcher);
    }
    /* A guest (the shared token) may call itself anything but an account's name.
     * A name holding "text=" must not move where the recorded note's own text
     * starts: a replay's chapter list reads the note's "text=" value (seqio
     * describe.c), and showed "note: FAKE (client N) text=..." before the name
     * was made safe ('=' became ':' then; now it is a quoted value, core.h). */
    tu_client g;
    tu_client_init(&g, pu_connect(s.port, 10000));
    const char *gr = pu_command(&g, 1, "<Command Name=\"Login\" Token=\"" TOKEN
                                "\" DisplayName=\"x text=FAKE\"/>", 10000);
    bool guest_in = gr && strstr(gr, "SUCCESS");
    /* a note of 190 characters is recorded and streamed whole, with the name whole
     * (before: names cut to 20 characters and notes to 80 in the event) */
    char long_note[200];
    snprintf(long_note, sizeof long_note, "real note %0170d THE END", 0);
    if (guest_in)
        guest_in = tu_send_string(g.fd, 1, "ProctorNote", long_note) == 0;
    char named[512] = "";
    for (int k = 0; k < 100 && guest_in && !named[0]; k++) {
        tu_read(&watcher, 100, NULL, NULL);
        for (int i = 0; i < watcher.n; i++)
            if (strcmp(watcher.msgs[i].name, "CryoNavEvent") == 0 &&
                strstr((char *)watcher.msgs[i].content + 4, "real note"))
                snprintf(named, sizeof named, "%s", (char *)watcher.msgs[i].content + 4);
        tu_client_clear(&watcher);
    }
    print_message("guest's note event: %s\n", named);
    tu_client_free(&g);
    tu_client_free(&watcher);
    tu_client_free(&c);
    int status = stop_and_dump(&s);
    assert_true(WIFEXITED(status));
    assert_true(seeded);
    assert_true(noted);
    assert_true(event);   /* the note rode an analysed frame as a proctor event */
    assert_true(guest_in);
    /* the guest's name, "x text=FAKE", is a quoted value: the note's words are its own */
    char from[64];
    char words_all[256];
    assert_int_equal(cn_event_get(named, "text", words_all, sizeof words_all), CN_OK);
    assert_string_equal(words_all, long_note);
    assert_int_equal(cn_event_get(named, "from", from, sizeof from), CN_OK);
    assert_int_equal(strncmp(from, "x text=FAKE (client ", 20), 0); /* the name kept as given */
    assert_non_null(strchr(from, ')'));                             /* and whole */
    assert_true(freeze_refused);
    assert_true(console_refused);
    char *log = pu_slurp(s.log, NULL);
    const char *t = strstr(log, "target: nerve seed set at (");
    float x = 0, y = 0;
    assert_int_equal(sscanf(t, "target: nerve seed set at (%f, %f)", &x, &y), 2);
    print_message("target landed at (%.2f, %.2f) mm, sent for (%.2f, %.2f)\n", x, y, tx, ty);
    assert_true(fabs(x - tx) < 2.0 && fabs(y - ty) < 2.0);
    /* No raw escape and no forged line: the note stays on one sanitised line. */
    assert_null(strchr(log, '\x1b'));
    for (const char *l = log; (l = strstr(l, "FORGED")); l++) {
        const char *bol = l;
        while (bol > log && bol[-1] != '\n')
            bol--;
        assert_null(strncmp(bol, "2099", 4) == 0 ? bol : NULL);
    }
    free(log);
    pu_rm_rf(s.dir);
}

/* With "igtl": {"reference_frame": "Tracker"} the scene goes out in Tracker, and a
 * proctor places a point in the scene as received: it must land where it was put
 * (before, it was read in Reference and refused ~77 mm out of the image plane). */
static void test_target_in_another_scene_frame(void **st)
{
    (void)st;
    session s;
    prepare(&s);
    char tok[160];
    snprintf(tok, sizeof tok, "%s/token", s.dir);
    assert_int_equal(pu_write_file(tok, 0600, "%s\n", TOKEN), 0);
    assert_int_equal(pu_write_file(s.cfg, 0600,
                                   "{\"source\": \"sim\", \"record\": {\"dir\": \"%s\"},"
                                   " \"igtl\": {\"reference_frame\": \"Tracker\"}}\n",
                                   s.recdir),
                     0);
    const char *args[] = {"--proctor-token-file", tok, NULL};
    launch(&s, args);
    tu_client c;
    tu_client_init(&c, pu_connect(s.port, 60000));
    tu_read(&c, 60000, "IMAGE", NULL);
    tu_msg *img = tu_find(&c, "IMAGE", NULL);
    assert_non_null(img);
    char img_name[64];
    snprintf(img_name, sizeof img_name, "%s", img->name);
    print_message("image sent as %s\n", img_name);
    float target[3];
    double tx, ty;
    scene_target(img, target, &tx, &ty);
    login(&c, TOKEN);
    assert_int_equal(pu_send_point(c.fd, 1, "ProctorTarget", NULL, "nerve", target), 0);
    bool seeded = pu_wait_log(s.log, "target: nerve seed set at (", 30000);
    /* a target 500 mm away lands in no image: the proctor is told why on the stream
     * (before, only the operator's log said so: the thirty-sixth session's review) */
    float far[3] = {target[0] + 500, target[1], target[2]};
    assert_int_equal(pu_send_point(c.fd, 1, "ProctorTarget", NULL, "nerve", far), 0);
    bool told = false;
    /* The simulator's freeze (at 22 s): the 0 C surface comes in the scene frame too,
     * around the cryoprobe's tip (before, in Reference: ~370 mm away in a Tracker
     * scene) */
    double tip[3] = {NAN, NAN, NAN}, cen[3] = {NAN, NAN, NAN};
    for (int k = 0; k < 1200 && !isfinite(cen[0]); k++) {
        tu_client_clear(&c);
        tu_read(&c, 50, NULL, NULL);
        for (int i = 0; i < c.n; i++) {
            tu_msg *m = &c.msgs[i];
            cn_mat4 t2;
            if (strcmp(m->h.type, "STRING") == 0 && strcmp(m->name, "CryoNavEvent") == 0 &&
                m->content_len > 4 && strstr((const char *)m->content + 4, "target_refused") &&
                strstr((const char *)m->content + 4, "out of the image plane"))
                told = true;
            if (strcmp(m->h.type, "TRANSFORM") == 0 &&
                strcmp(m->name, "CryoprobeToTracker") == 0 &&
                cn_igtl_decode_transform(m->content, m->content_len, &t2) == CN_OK) {
                tip[0] = t2.m[3], tip[1] = t2.m[7], tip[2] = t2.m[11];
            }
            if (strcmp(m->h.type, "POLYDATA") == 0 && strcmp(m->name, "Isotherm0CSurface") == 0 &&
                m->content_len >= 40 && isfinite(tip[0])) {
                const uint8_t *b = m->content;
                uint32_t np =
                    (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                if (np == 0 || m->content_len < 40 + 12 * (size_t)np)
                    continue;
                double sum[3] = {0, 0, 0};
                for (uint32_t v = 0; v < np; v++)
                    for (int a = 0; a < 3; a++) {
                        const uint8_t *q = b + 40 + 12 * v + 4 * a;
                        uint32_t u = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                                     (uint32_t)q[2] << 8 | q[3];
                        float fv;
                        memcpy(&fv, &u, 4);
                        sum[a] += fv;
                    }
                for (int a = 0; a < 3; a++)
                    cen[a] = sum[a] / np;
            }
        }
    }
    tu_client_free(&c);
    int status = stop_and_dump(&s);
    assert_true(WIFEXITED(status));
    double d_tip =
        sqrt(pow(cen[0] - tip[0], 2) + pow(cen[1] - tip[1], 2) + pow(cen[2] - tip[2], 2));
    print_message("0 C surface centred %.1f mm from the cryoprobe's tip (Tracker scene)\n", d_tip);
    assert_true(d_tip < 15.0);
    assert_string_equal(img_name, "Image_Tracker");
    assert_true(seeded);
    assert_true(told);
    char *log = pu_slurp(s.log, NULL);
    const char *t = strstr(log, "target: nerve seed set at (");
    float x = 0, y = 0;
    assert_int_equal(sscanf(t, "target: nerve seed set at (%f, %f)", &x, &y), 2);
    print_message("target landed at (%.2f, %.2f) mm, sent for (%.2f, %.2f)\n", x, y, tx, ty);
    assert_true(fabs(x - tx) < 2.0 && fabs(y - ty) < 2.0);
    free(log);
    pu_rm_rf(s.dir);
}

/* ------------------------------------------------------------------ 4. shutdown under a storm */

typedef struct {
    int port;
    atomic_bool stop;
    atomic_int sent;
    int id;
} stormer;

static void *storm_main(void *arg)
{
    stormer *w = arg;
    tu_client c;
    tu_client_init(&c, pu_connect(w->port, 10000));
    if (c.fd < 0)
        return NULL;
    tu_send_string(c.fd, 1, "ProctorLogin", TOKEN);
    char dev[32], xml[160];
    for (int k = 0; !atomic_load(&w->stop) && !c.closed; k++) {
        snprintf(dev, sizeof dev, "CMD_%d_%d", w->id, k);
        if (k % 2 == 0)
            snprintf(xml, sizeof xml,
                     "<Command Name=\"StartRecording\" OutputFilename=\"s%d-%d.igs.mha\"/>", w->id, k);
        else
            snprintf(xml, sizeof xml, "<Command Name=\"StopRecording\"/>");
        if (tu_send_string(c.fd, 1, dev, xml) != 0)
            break;
        atomic_fetch_add(&w->sent, 1);
        tu_read(&c, 2, NULL, NULL);   /* keep reading the replies and frames */
        tu_client_clear(&c);
    }
    tu_client_free(&c);
    return NULL;
}

static void test_shutdown_under_recording_storm(void **st)
{
    (void)st;
    for (int trial = 0; trial < 3; trial++) {
        session s;
        /* rate limits far above the defaults: a real storm reaches the recorder */
        start(&s, "\"proctor\": {\"token\": \"" TOKEN "\", \"commands_per_s\": 5000, "
                  "\"control_per_s\": 5000}", NULL);
        int fd = pu_connect(s.port, 60000);
        assert_true(fd >= 0);
        tu_client v;
        tu_client_init(&v, fd);
        tu_read(&v, 60000, "IMAGE", NULL);   /* frames flow */
        tu_client_free(&v);
        stormer w[3];
        pthread_t th[3];
        for (int i = 0; i < 3; i++) {
            w[i] = (stormer){.port = s.port, .id = i};
            pthread_create(&th[i], NULL, storm_main, &w[i]);
        }
        usleep(800000 + 150000 * (useconds_t)trial);
        int status = stop_and_dump(&s);   /* SIGTERM while the storm goes on */
        int sent = 0;
        for (int i = 0; i < 3; i++) {
            atomic_store(&w[i].stop, true);
            pthread_join(th[i], NULL);
            sent += atomic_load(&w[i].sent);
        }
        print_message("trial %d: %d commands sent; exit %s %d\n", trial, sent,
                      WIFEXITED(status) ? "code" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        assert_true(sent > 0);
        char *log = pu_slurp(s.log, NULL);
        int started = 0;
        for (const char *l = log; (l = strstr(l, "command StartRecording from")); l++)
            started += strncmp(strstr(l, ": ") ? strstr(l, ": ") + 2 : "", "SUCCESS", 7) == 0;
        print_message("trial %d: %d recordings started by the storm\n", trial, started);
        assert_true(started > 0);   /* the storm really reached the recorder */
        assert_null(strstr(log, "AddressSanitizer"));
        assert_null(strstr(log, "LeakSanitizer"));
        free(log);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(count_files(s.recdir, ".part"), 0);
        assert_int_equal(count_files(s.recdir, ".journal"), 0);
        pu_rm_rf(s.dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_is_not_a_credential),
        cmocka_unit_test(test_headless_target_and_note),
        cmocka_unit_test(test_account_names_the_proctor),
        cmocka_unit_test(test_target_in_another_scene_frame),
        cmocka_unit_test(test_shutdown_under_recording_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
