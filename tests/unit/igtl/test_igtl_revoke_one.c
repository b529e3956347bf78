/*
 * test_igtl_revoke_one.c - the operator revokes ONE proctor, over real loopback
 * sockets: the OpenIGTLink server with a proctor hub holding two personal
 * accounts (Dr Lee, kim) and the shared token (a guest). The operator selects
 * Kim (cn_proctor_select_next, the viewer's Tab) and revokes the selection
 * (cn_proctor_revoke_selected, the viewer's k): Kim's connection closes and
 * Kim's token is refused, while Lee and the guest stay connected and can still
 * run proctor commands and send notes. A second revoke with nothing selected,
 * revoking Kim's account again, and revoking an account that does not exist
 * each say why in words (returned, logged, on the HUD) and change nothing. The
 * guest, who has no account, is disconnected alone and logins stay open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "igtl_test_util.h"

#include <stdio.h>
#include <unistd.h>

#define TOKEN "shared-0123456789abcdef"
#define TOK_LEE "lee-0123456789abcdef"
#define TOK_KIM "kim-0123456789abcdef"

/* Logs c in (STRING ProctorLogin) and returns the reply text (static). */
static const char *login(tu_client *c, const char *token)
{
    static char reply[200];
    tu_client_clear(c);
    tu_send_string(c->fd, 1, "ProctorLogin", token);
    tu_read(c, 3000, "STRING", "ProctorLoginReply");
    tu_msg *m = tu_find(c, "STRING", "ProctorLoginReply");
    cn_strlcpy(reply, m ? (char *)m->content + 4 : "(no reply)", sizeof reply);
    return reply;
}

static int recordings;
static bool start_rec(void *user, const char *name, const char *xml, char *msg, size_t len)
{
    (void)name;
    (void)xml;
    (*(int *)user)++;
    snprintf(msg, len, "recording");
    return true;
}

/* Sends a proctor-only command; true when it succeeded. */
static bool can_command(tu_client *c, int uid)
{
    char dev[32], ack[32];
    snprintf(dev, sizeof dev, "CMD_%d", uid);
    snprintf(ack, sizeof ack, "ACK_%d", uid);
    tu_client_clear(c);
    tu_send_string(c->fd, 1, dev, "<Command Name=\"StartRecording\"/>");
    tu_read(c, 3000, "STRING", ack);
    tu_msg *a = tu_find(c, "STRING", ack);
    return a && strstr((char *)a->content + 4, "Status=\"SUCCESS\"");
}

/* Every client's role, in connection order (ids grow). */
static int roles(cn_proctor_hub *h, cn_proctor_role out[8])
{
    cn_proctor_client_info ci[8];
    int n = cn_proctor_clients(h, ci, 8);
    for (int i = 0; i < n && i < 8; i++)
        out[ci[i].id - 1 < 8 ? ci[i].id - 1 : 0] = ci[i].role;
    return n;
}

static void test_revoke_one_of_two_accounts(void **st)
{
    (void)st;
    char dir[] = "/tmp/cn_revoke1_XXXXXX", logp[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(logp, sizeof logp, "%s/hub.log", dir);
    cn_log *lg = cn_log_open(logp, CN_LOG_INFO, err, sizeof err);
    assert_non_null(lg);
    cn_proctor_opts po;
    cn_proctor_opts_default(&po);
    cn_strlcpy(po.token, TOKEN, sizeof po.token);
    po.n_accounts = 2;
    cn_strlcpy(po.accounts[0].name, "Dr Lee", sizeof po.accounts[0].name);
    cn_strlcpy(po.accounts[0].token, TOK_LEE, sizeof po.accounts[0].token);
    cn_strlcpy(po.accounts[1].name, "kim", sizeof po.accounts[1].name);
    cn_strlcpy(po.accounts[1].token, TOK_KIM, sizeof po.accounts[1].token);
    po.log_sink = lg;
    po.control = (cn_proctor_rate){100, 100}; /* this test commands often */
    cn_proctor_hub *hub = cn_proctor_hub_new(&po);
    cn_igtl_server_opts o;
    cn_igtl_server_opts_default(&o);
    o.port = 0;
    o.latency_period_s = 0;
    o.hub = hub;
    cn_igtl_server *s = tu_server(&o);
    assert_non_null(s);
    recordings = 0;
    assert_int_equal(cn_igtl_server_set_command(s, "StartRecording", start_rec, &recordings), 0);
    int port = cn_igtl_server_port(s);
    tu_client lee, kim, guest;
    tu_client_init(&lee, tu_connect(port));
    assert_true(tu_wait_clients(s, 1, 2000));
    tu_client_init(&kim, tu_connect(port));
    assert_true(tu_wait_clients(s, 2, 2000));
    tu_client_init(&guest, tu_connect(port));
    assert_true(tu_wait_clients(s, 3, 2000));
    assert_non_null(strstr(login(&lee, TOK_LEE), "OK"));
    assert_non_null(strstr(login(&kim, TOK_KIM), "OK"));
    assert_non_null(strstr(login(&guest, TOKEN), "OK"));
    cn_proctor_role r3[8];
    assert_int_equal(roles(hub, r3), 3);
    assert_true(r3[0] == CN_PROCTOR_PROCTOR && r3[1] == CN_PROCTOR_PROCTOR &&
                r3[2] == CN_PROCTOR_PROCTOR);
    char hud[400];
    cn_proctor_hud_line(hub, hud, sizeof hud);
    print_message("HUD: %s\n", hud);
    assert_non_null(strstr(hud, "proctor Dr Lee (client 1) 127.0.0.1:"));
    assert_non_null(strstr(hud, "+2 (Tab selects, x revokes all)"));

    /* nothing selected yet: revoking the selection revokes nobody and says so */
    cn_proctor_revoke_result rr;
    assert_int_equal(cn_proctor_revoke_selected(hub, &rr), CN_ENOENT);
    print_message("k, nothing selected: %s\n", rr.message);
    assert_string_equal(rr.message, "no proctor selected (Tab selects one): nothing revoked");
    assert_int_equal(rr.revoked, 0);

    /* Tab, Tab: Lee, then Kim (in the order they connected) */
    assert_int_equal(cn_proctor_select_next(hub), 1);
    assert_int_equal(cn_proctor_select_next(hub), 2);
    assert_int_equal(cn_proctor_selected(hub), 2);
    cn_proctor_hud_line(hub, hud, sizeof hud);
    print_message("HUD: %s\n", hud);
    assert_non_null(strstr(hud, "proctor 2/3 kim (client 2) 127.0.0.1:"));
    assert_non_null(strstr(hud, "selected (k revokes its account, Tab next, x revokes all)"));
    assert_null(strstr(hud, "nothing revoked")); /* the older outcome is gone */

    /* k: Kim's account, and only Kim's */
    assert_int_equal(cn_proctor_revoke_selected(hub, &rr), CN_OK);
    print_message("k on kim: %s\n", rr.message);
    assert_int_equal(rr.revoked, 1);
    assert_string_equal(rr.account, "kim");
    assert_int_equal(rr.client_id, 2);
    assert_string_equal(rr.message, "revoked account kim: 1 client disconnected, its token refused");
    tu_read(&kim, 3000, "NONE", NULL);
    assert_true(kim.closed);
    assert_true(tu_wait_clients(s, 2, 3000));
    assert_false(cn_proctor_locked(hub));
    cn_proctor_hud_line(hub, hud, sizeof hud);
    print_message("HUD: %s\n", hud);
    assert_non_null(strstr(hud, "| revoked account kim: 1 client disconnected"));
    assert_null(strstr(hud, "selected ("));   /* the selection went with Kim */
    /* Lee and the guest still command and note */
    assert_true(can_command(&lee, 1));
    assert_true(can_command(&guest, 2));
    assert_int_equal(recordings, 2);
    assert_false(lee.closed);
    assert_false(guest.closed);
    tu_send_string(lee.fd, 1, "Note", "still here");
    cn_proctor_item it;
    bool noted = false;
    for (int i = 0; i < 300 && !noted; i++) {
        noted = cn_proctor_take(hub, &it) == 1;
        if (!noted)
            cn_clock_sleep_ns(10000000);
    }
    assert_true(noted);
    assert_string_equal(it.from, "Dr Lee (client 1)");
    /* Kim's token is refused on a new connection; the others' logins are open */
    tu_client kim2;
    tu_client_init(&kim2, tu_connect(port));
    const char *rep = login(&kim2, TOK_KIM);
    print_message("kim again: %s\n", rep);
    assert_non_null(strstr(rep, "DENIED: this proctor account was revoked by the operator"));

    /* a second k: nothing is selected any more, so nobody (not Lee) is revoked */
    assert_int_equal(cn_proctor_revoke_selected(hub, &rr), CN_ENOENT);
    assert_non_null(strstr(rr.message, "no proctor selected"));
    /* Kim's account again, and an account nobody configured: words, no change */
    char msg[160];
    assert_int_equal(cn_proctor_revoke_account(hub, "kim", msg, sizeof msg), CN_EINVAL);
    print_message("kim's account again: %s\n", msg);
    assert_string_equal(msg, "proctor account \"kim\" was already revoked: nothing changed");
    assert_int_equal(cn_proctor_revoke_account(hub, "nobody", msg, sizeof msg), CN_ENOENT);
    print_message("unknown account: %s\n", msg);
    assert_string_equal(msg, "no proctor account named \"nobody\" (accounts: Dr Lee, kim): nothing revoked");
    cn_proctor_hud_line(hub, hud, sizeof hud);
    assert_non_null(strstr(hud, "| no proctor account named \"nobody\""));
    cn_clock_sleep_ns(100000000);
    tu_read(&lee, 100, "NONE", NULL);
    tu_read(&guest, 100, "NONE", NULL);
    assert_false(lee.closed);
    assert_false(guest.closed);
    assert_true(can_command(&lee, 3));
    assert_true(can_command(&guest, 4));
    assert_false(cn_proctor_locked(hub));

    /* the guest has no account: k disconnects that client alone */
    assert_int_equal(cn_proctor_select_next(hub), 1);
    assert_int_equal(cn_proctor_select_next(hub), 3);
    assert_int_equal(cn_proctor_revoke_selected(hub, &rr), CN_OK);
    print_message("k on the guest: %s\n", rr.message);
    assert_string_equal(rr.account, "");
    assert_int_equal(rr.client_id, 3);
    assert_non_null(strstr(rr.message, "revoked proctor client 3 (shared token: it may log in again"));
    tu_read(&guest, 3000, "NONE", NULL);
    assert_true(guest.closed);
    assert_true(can_command(&lee, 5));
    assert_int_equal(recordings, 5);

    /* everything the operator did is in the log */
    cn_igtl_server_free(s);
    cn_log_free(lg);
    FILE *f = fopen(logp, "r");
    assert_non_null(f);
    char line[512];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        seen |= strstr(line, "operator: no proctor selected (Tab selects one)") ? 1 : 0;
        seen |= strstr(line, "operator selected proctor kim (client 2) 127.0.0.1:") ? 2 : 0;
        seen |= strstr(line, "operator revoked proctor account \"kim\" for this session (1 client)") ? 4 : 0;
        seen |= strstr(line, "operator: proctor account \"kim\" was already revoked") ? 8 : 0;
        seen |= strstr(line, "operator: no proctor account named \"nobody\"") ? 16 : 0;
        seen |= strstr(line, "operator: revoked proctor client 3 (shared token") ? 32 : 0;
    }
    fclose(f);
    print_message("log lines seen: 0x%x\n", seen);
    assert_int_equal(seen, 63);
    tu_client_free(&kim2);
    tu_client_free(&lee);
    tu_client_free(&kim);
    tu_client_free(&guest);
    cn_proctor_hub_free(hub);
    unlink(logp);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_revoke_one_of_two_accounts)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
