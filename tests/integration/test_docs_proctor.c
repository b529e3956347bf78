/* The user guide's proctor commands, run as written (docs/user-guide.md, the
 * blocks between the token-commands and tunnel-commands markers):
 *   - make a token the way the guide says, start `cryonav run` with it, log in
 *     with it over OpenIGTLink; a token file others can read is refused with
 *     the fix in the message (exit 2);
 *   - the TLS tunnel with socat and certificates on both sides, on one machine
 *     (ports substituted: the navigator's server, its TLS port, the proctor
 *     side's local port): a Slicer-like client on the proctor side receives
 *     frames and logs in through it; a TLS client without the proctor's
 *     certificate gets nothing.
 * The SSH variant needs an SSH server and is not run (the guide says so). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proctor_util.h"

/* The lines of a ```sh block after `marker` (comments and blank lines dropped). */
static int doc_commands(const char *marker, char lines[][600], int max)
{
    char *doc = pu_slurp(CN_SOURCE_DIR "/docs/user-guide.md", NULL);
    assert_non_null(doc);
    char *b = strstr(doc, marker);
    assert_non_null(b);
    b = strstr(b, "```sh\n");
    assert_non_null(b);
    b += 6;
    char *e = strstr(b, "```");
    assert_non_null(e);
    *e = 0;
    int n = 0;
    for (char *l = b; *l && n < max;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        while (*l == ' ')
            l++;
        if (*l && *l != '#')
            cn_strlcpy(lines[n++], l, sizeof lines[0]);
        l = nl ? nl + 1 : l + strlen(l);
    }
    free(doc);
    return n;
}

/* Replaces every `from` in s by `to` (in place, s has room for 600). */
static void subst(char *s, const char *from, const char *to)
{
    char out[600] = "";
    size_t o = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = s; *p;) {
        if (strncmp(p, from, fl) == 0 && o + tl < sizeof out) {
            memcpy(out + o, to, tl);
            o += tl;
            p += fl;
        } else if (o + 1 < sizeof out) {
            out[o++] = *p++;
        } else {
            break;
        }
    }
    out[o] = 0;
    strcpy(s, out);
}

/* Runs `sh -c line` in cwd with HOME=home; background: returns the pid at once,
 * else waits and returns the exit status (-1 on a signal). */
static int sh(const char *line, const char *cwd, const char *home, const char *log, bool background)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(cwd) != 0)
            _exit(126);
        setenv("HOME", home, 1);
        unsetenv("DISPLAY");
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    if (background)
        return pid;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void login_ok(int port, const char *token, int timeout_ms)
{
    tu_client c;
    tu_client_init(&c, pu_connect(port, timeout_ms));
    assert_true(c.fd >= 0);
    tu_read(&c, timeout_ms, "IMAGE", NULL);
    assert_non_null(tu_find(&c, "IMAGE", NULL));
    tu_send_string(c.fd, 1, "ProctorLogin", token);
    tu_read(&c, 10000, "STRING", "ProctorLoginReply");
    tu_msg *m = tu_find(&c, "STRING", "ProctorLoginReply");
    assert_non_null(m);
    print_message("login: %s\n", (char *)m->content + 4);
    assert_non_null(strstr((char *)m->content + 4, "OK"));
    tu_client_free(&c);
}

static void test_token_commands(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_docp_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[128], cfg[128], token[256];
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    pu_write_file(cfg, 0600, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s/recs\"}}\n", dir);
    char lines[8][600];
    int n = doc_commands("<!-- token-commands:begin", lines, 8);
    assert_int_equal(n, 3);
    int port = pu_free_port();
    pid_t nav = -1;
    for (int i = 0; i < n; i++) {
        print_message("$ %s\n", lines[i]);
        if (strncmp(lines[i], "cryonav ", 8) == 0) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "exec %s %s --config %s --listen 127.0.0.1:%d --frames 100000 "
                     "--time-scale 10", CN_CRYONAV_BIN, lines[i] + 8, cfg, port);
            cn_strlcpy(lines[i], cmd, sizeof lines[i]);
            /* no renderer: PATH without Xvfb (the shell itself is named by path) */
            char env[700];
            snprintf(env, sizeof env, "PATH=/nonexistent; %s", lines[i]);
            nav = sh(env, dir, dir, log, true);
        } else {
            assert_int_equal(sh(lines[i], dir, dir, log, false), 0);
        }
    }
    char tpath[128];
    snprintf(tpath, sizeof tpath, "%s/.config/cryonav/proctor-token", dir);
    struct stat stt;
    assert_int_equal(stat(tpath, &stt), 0);
    assert_int_equal(stt.st_mode & 077, 0);
    char *t = pu_slurp(tpath, NULL);
    assert_non_null(t);
    cn_strlcpy(token, t, sizeof token);
    free(t);
    token[strcspn(token, "\n")] = 0;
    assert_true(strlen(token) >= 16);
    login_ok(port, token, 60000);
    int status = pu_stop(nav, 30);
    assert_true(WIFEXITED(status));
    /* the same file readable by others is refused, with the fix */
    chmod(tpath, 0644);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "PATH=/nonexistent; exec %s run --config %s --listen 127.0.0.1:%d "
             "--frames 1 --proctor-token-file %s", CN_CRYONAV_BIN, cfg, pu_free_port(), tpath);
    assert_int_equal(sh(cmd, dir, dir, log, false), 2);
    char *out = pu_slurp(log, NULL);
    print_message("%s", strstr(out, "can be read by others") ? strstr(out, "cryonav run:") : out);
    assert_non_null(strstr(out, "the proctor token file can be read by others (mode 644): run chmod 600"));
    free(out);
    /* a weak token on the command line is refused too */
    snprintf(cmd, sizeof cmd, "PATH=/nonexistent; exec %s run --config %s --listen 127.0.0.1:%d "
             "--frames 1 --proctor-token guessme", CN_CRYONAV_BIN, cfg, pu_free_port());
    assert_int_equal(sh(cmd, dir, dir, log, false), 2);
    out = pu_slurp(log, NULL);
    assert_non_null(strstr(out, "--proctor-token: the proctor token has 7 characters: it needs 16 to 128"));
    free(out);
    pu_rm_rf(dir);
}

static void test_tls_tunnel_commands(void **st)
{
    (void)st;
    if (access("/usr/bin/socat", X_OK) != 0 || access("/usr/bin/openssl", X_OK) != 0) {
        print_message("SKIP: socat or openssl missing (scripts/deps.sh installs them)\n");
        skip();
    }
    char dir[] = "/tmp/cn_tls_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[128], cfg[128], tok[128];
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    pu_write_file(cfg, 0600, "{\"source\": \"sim\", \"record\": {\"dir\": \"%s/recs\"}}\n", dir);
    pu_write_file(tok, 0600, "tunnel-test-token-0123456789\n");
    int a = pu_free_port(), b = pu_free_port(), c = pu_free_port();
    char A[16], B[16], C[16];
    snprintf(A, sizeof A, "%d", a);
    snprintf(B, sizeof B, "%d", b);
    snprintf(C, sizeof C, "%d", c);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "PATH=/nonexistent; exec %s run --config %s --listen 127.0.0.1:%d "
             "--frames 100000 --time-scale 10 --proctor-token-file %s", CN_CRYONAV_BIN, cfg, a, tok);
    pid_t nav = sh(cmd, dir, dir, log, true);
    char lines[8][600];
    int n = doc_commands("<!-- tunnel-commands:begin", lines, 8);
    assert_int_equal(n, 4);
    pid_t bg[4];
    int nbg = 0;
    for (int i = 0; i < n; i++) {
        char to[64];
        if (strstr(lines[i], "OPENSSL-LISTEN:")) {          /* the navigator side */
            snprintf(to, sizeof to, "OPENSSL-LISTEN:%s", B);
            subst(lines[i], "OPENSSL-LISTEN:18945", to);
            snprintf(to, sizeof to, "TCP:127.0.0.1:%s", A);
            subst(lines[i], "TCP:127.0.0.1:18944", to);
        } else if (strstr(lines[i], "TCP-LISTEN:18944")) {  /* the proctor's machine */
            snprintf(to, sizeof to, "TCP-LISTEN:%s", C);
            subst(lines[i], "TCP-LISTEN:18944", to);
            snprintf(to, sizeof to, "OPENSSL:127.0.0.1:%s", B);
            subst(lines[i], "OPENSSL:navhost:18945", to);
        }
        print_message("$ %s\n", lines[i]);
        if (strncmp(lines[i], "socat ", 6) == 0) {
            char ex[700];
            snprintf(ex, sizeof ex, "exec %s", lines[i]);
            bg[nbg++] = sh(ex, dir, dir, log, true);
        } else {
            assert_int_equal(sh(lines[i], dir, dir, log, false), 0);
        }
    }
    assert_int_equal(nbg, 2);
    /* the navigator and its TLS end must listen before the proctor's side dials
     * (a loaded machine starts them in any order) */
    int probe = pu_connect(a, 60000);
    assert_true(probe >= 0);
    close(probe);
    probe = pu_connect(b, 10000);
    assert_true(probe >= 0);
    close(probe);
    /* Slicer on the proctor's machine: frames and a login through TLS */
    login_ok(c, "tunnel-test-token-0123456789", 60000);
    /* a TLS client without the proctor's certificate gets nothing */
    int d = pu_free_port();
    snprintf(cmd, sizeof cmd, "exec socat TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork "
             "OPENSSL:127.0.0.1:%d,cafile=nav.crt,commonname=navhost,verify=1", d, b);
    pid_t intruder = sh(cmd, dir, dir, log, true);
    tu_client x;
    tu_client_init(&x, pu_connect(d, 10000));
    assert_true(x.fd >= 0);
    tu_read(&x, 3000, "IMAGE", NULL);
    assert_null(tu_find(&x, "IMAGE", NULL));
    tu_client_free(&x);
    kill(intruder, SIGTERM);
    waitpid(intruder, NULL, 0);
    for (int i = 0; i < nbg; i++) {
        kill(bg[i], SIGTERM);
        waitpid(bg[i], NULL, 0);
    }
    int status = pu_stop(nav, 30);
    assert_true(WIFEXITED(status));
    pu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_commands),
        cmocka_unit_test(test_tls_tunnel_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
