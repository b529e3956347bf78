/* The real `cryonav run` against an independent, strict OpenIGTLink v2/v3
 * implementation (openigtlink-ng, built at test time from ../shared by the
 * ng_peer_build fixture, never copied into the repository):
 *   - `ng_peer PORT check 5 --version 2` with NG_REQUIRE_COMMAND_MSG=1 passes
 *     (the example peer's own pass line): every message decodes strictly and
 *     re-packs byte for byte, RequestStatus is answered in the STRING CMD_/ACK_
 *     form and as an RTS_COMMAND to a COMMAND message; the same in header v1;
 *     NG_STRICT=1 also fails on any other undecodable message;
 *   - ng_roles (our small client on the ng library): StartRecording by COMMAND
 *     is refused to a viewer, Login with the token grants it, every
 *     RTS_COMMAND carries the request's id and a Status, in v2 and v1;
 *   - a header version 3 (which ng allows, OpenIGTLink does not) is refused with
 *     a clear log line, as the user guide documents.
 * The session is light (320x240 simulator, no CNN, no thermal fit) so that it
 * streams more than the check's 10 images/s under AddressSanitizer on 2 cores:
 * this is a protocol test, the analysis is tested elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../integration/proctor_util.h"
#include "../integration/run_util.h"

#define TOKEN "ng-interop-token-0123456789"

static char dir[64], logp[128];
static int port;
static pid_t pid;
static run_result R;

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/cn_ng_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cfg[128], tok[128], recs[128], listen[64];
    snprintf(cfg, sizeof cfg, "%s/session.json", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(recs, sizeof recs, "%s/recs", dir);
    snprintf(logp, sizeof logp, "%s/cryonav.log", dir);
    pu_write_file(tok, 0600, "%s\n", TOKEN);
    pu_write_file(cfg, 0600,
                  "{\"source\": \"sim\", \"sim\": {\"width_px\": 320, \"height_px\": 240, \"fps\": 25},\n"
                  " \"segment\": {\"nerve_auto\": false, \"nerve_cnn\": false},\n"
                  " \"thermal\": {\"fit\": false}, \"record\": {\"dir\": \"%s\"}}\n", recs);
    port = pu_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *argv[] = {CN_CRYONAV_BIN, "run", "--config", cfg, "--listen", listen, "--frames",
                          "100000", "--proctor-token-file", tok, NULL};
    pid = pu_spawn(argv, logp, true);
    int fd = pu_connect(port, 60000);
    if (fd < 0)
        return -1;
    /* wait for the first frame so the checks measure a running stream */
    tu_client c;
    tu_client_init(&c, fd);
    tu_read(&c, 60000, "IMAGE", NULL);
    bool ok = tu_find(&c, "IMAGE", NULL) != NULL;
    tu_client_free(&c);
    setenv("NG_REQUIRE_COMMAND_MSG", "1", 1);
    setenv("NG_STRICT", "1", 1);
    return ok ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    int status = pu_stop(pid, 30);
    char *log = pu_slurp(logp, NULL);
    fprintf(stderr, "---- cryonav log ----\n%s----\n", log ? log : "");
    bool asan = log && strstr(log, "Sanitizer");
    free(log);
    pu_rm_rf(dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && !asan ? 0 : -1;
}

static void run_ng(const char *const *argv)
{
    assert_int_equal(run_prog(argv, NULL, NULL, 120, &R), 0);
    const char *pass = strstr(R.out, "NG-CHECK ");
    print_message("%s%s", pass ? pass : R.out, R.err);
}

static void check(const char *version)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {CN_NG_BUILD_DIR "/ng_peer", p, "check", "5", "--version", version,
                          "--quiet", NULL};
    run_ng(argv);
    assert_non_null(strstr(R.out, "NG-CHECK PASS"));
    assert_non_null(strstr(R.out, "COMMAND_msg_reply=RTS_COMMAND ok"));
    assert_non_null(strstr(R.out, "cmd_RequestStatus=SUCCESS"));
    assert_int_equal(R.exit_code, 0);
}

static void test_check_v2(void **st)
{
    (void)st;
    check("2");
}

static void test_check_v1(void **st)
{
    (void)st;
    check("1");
}

static void roles(const char *version)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {CN_NG_BUILD_DIR "/ng_roles", p, TOKEN, "--version", version, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 120, &R), 0);
    print_message("%s%s", R.out, R.err);
    assert_non_null(strstr(R.out, "NG-ROLES PASS"));
    assert_int_equal(R.exit_code, 0);
}

static void test_command_roles_v2(void **st)
{
    (void)st;
    roles("2");
}

static void test_command_roles_v1(void **st)
{
    (void)st;
    roles("1");
}

static void test_header_v3_refused(void **st)
{
    (void)st;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {CN_NG_BUILD_DIR "/ng_peer", p, "v3probe", NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
    print_message("%s", R.out);
    assert_non_null(strstr(R.out, "connection closed"));
    assert_true(pu_wait_log(logp, "header version 3 is not supported (OpenIGTLink defines 1 and 2)",
                            5000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_v2),
        cmocka_unit_test(test_check_v1),
        cmocka_unit_test(test_command_roles_v2),
        cmocka_unit_test(test_command_roles_v1),
        cmocka_unit_test(test_header_v3_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
