/*
 * proctor_token.c - the operator's secret and the hub's options.
 *
 * The idea: the token is the only thing that makes a proctor, so it must be hard
 * to guess (at least CN_PROCTOR_TOKEN_MIN characters), must not leak through the
 * file system (a token file that others can read, or a symlink that could point
 * anywhere, is refused with the fix in the message), and is compared in constant
 * time (every byte of a fixed-size buffer is XORed, so the time taken says
 * nothing about how many leading characters were right). Personal accounts
 * (each a name and its own token) bind a proctor's identity to the credential:
 * the token says who logged in, so a name typed at login grants nothing.
 */
#include "proctor_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cn_proctor_opts_default(cn_proctor_opts *o)
{
    memset(o, 0, sizeof *o);
    o->commands = (cn_proctor_rate){5, 10};
    o->control = (cn_proctor_rate){1, 3};
    o->notes = (cn_proctor_rate){2, 5};
    o->logins = (cn_proctor_rate){0.5, 3};
    o->max_failed_logins = 5;
    o->log = (cn_proctor_rate){20, 100};
}

int cn_proctor_token_check(const char *token, char *err, size_t err_len)
{
    size_t n = token ? strnlen(token, CN_PROCTOR_TOKEN_MAX + 1) : 0;
    if (n < CN_PROCTOR_TOKEN_MIN || n > CN_PROCTOR_TOKEN_MAX) {
        if (err && err_len)
            snprintf(err, err_len,
                     "the proctor token has %zu characters: it needs %d to %d (make one with: "
                     "head -c 24 /dev/urandom | base64)",
                     n, CN_PROCTOR_TOKEN_MIN, CN_PROCTOR_TOKEN_MAX);
        return CN_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)token[i])) {
            if (err && err_len)
                snprintf(err, err_len,
                         "the proctor token may hold only printable characters without spaces "
                         "(character %zu is not)", i + 1);
            return CN_EINVAL;
        }
    return CN_OK;
}

bool cn_proctor_token_strong(const char *token)
{
    size_t n = token ? strnlen(token, CN_PROCTOR_TOKEN_MAX + 1) : 0;
    if (n < 24 || n > CN_PROCTOR_TOKEN_MAX)
        return false;
    bool seen[256] = {false};
    int distinct = 0, kinds[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)token[i];
        distinct += !seen[ch];
        seen[ch] = true;
        kinds[islower(ch) ? 0 : isupper(ch) ? 1 : isdigit(ch) ? 2 : 3] = 1;
    }
    const int k = kinds[0] + kinds[1] + kinds[2] + kinds[3];
    /* three kinds from 24 characters; two from 32 (a 64-digit hex token, a UUID, the
     * 0.13 % of base64 tokens without a digit: review 39c) */
    return distinct >= 16 && (k >= 3 || (k >= 2 && n >= 32));
}

bool cn__proctor_token_equal(const char *given, const char *expected)
{
    char a[CN_PROCTOR_TOKEN_MAX + 1] = {0}, b[CN_PROCTOR_TOKEN_MAX + 1] = {0};
    size_t la = strnlen(given, CN_PROCTOR_TOKEN_MAX + 1);
    size_t lb = strnlen(expected, CN_PROCTOR_TOKEN_MAX + 1);
    memcpy(a, given, la < sizeof a ? la : sizeof a);
    memcpy(b, expected, lb < sizeof b ? lb : sizeof b);
    volatile unsigned diff = (unsigned)(la ^ lb);
    for (size_t i = 0; i < sizeof a; i++)
        diff |= (unsigned)(unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int cn_proctor_token_from_file(const char *path, char *token, size_t token_len, char *err,
                               size_t err_len)
{
    if (!path || !token || token_len == 0)
        return CN_EINVAL;
    token[0] = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        cn_errf(err, err_len, path, "cannot open the proctor token file: %s%s", strerror(errno),
                errno == ELOOP ? " (a symbolic link is refused: name the file itself)" : "");
        return CN_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        cn_errf(err, err_len, path, "the proctor token file is not a regular file");
        return CN_EINVAL;
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        cn_errf(err, err_len, path, "the proctor token file belongs to another user (uid %u)",
                (unsigned)st.st_uid);
        return CN_EINVAL;
    }
    if (st.st_mode & 077) {
        close(fd);
        cn_errf(err, err_len, path,
                "the proctor token file can be read by others (mode %03o): run chmod 600 '%s'",
                (unsigned)(st.st_mode & 0777), path);
        return CN_EINVAL;
    }
    char buf[4 * CN_PROCTOR_TOKEN_MAX];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        cn_errf(err, err_len, path, "cannot read the proctor token file: %s", strerror(errno));
        return CN_EIO;
    }
    buf[n] = 0;
    char *s = buf;
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l > 0 && isspace((unsigned char)s[l - 1]))
        s[--l] = 0;
    char why[256];
    int rc = cn_proctor_token_check(s, why, sizeof why);
    if (rc == CN_OK && l >= token_len)
        rc = CN_ERANGE;
    if (rc != CN_OK)
        cn_errf(err, err_len, path, "%s", rc == CN_ERANGE ? "token too long" : why);
    else
        memcpy(token, s, l + 1);
    volatile char *w = buf;
    for (size_t i = 0; i < sizeof buf; i++)
        w[i] = 0;
    return rc;
}

static int get_rate(const cn_json *doc, const char *key, cn_proctor_rate *r, char *err,
                    size_t err_len)
{
    char path[64];
    snprintf(path, sizeof path, "proctor.%s", key);
    double v;
    int rc = cn_json_get_number(doc, path, 0.01, 10000, &v, err, err_len);
    if (rc == CN_ENOENT)
        return CN_OK;
    if (rc != CN_OK)
        return rc;
    double burst = 2 * v;
    r->per_s = v;
    r->burst = burst > r->burst ? burst : r->burst;
    return CN_OK;
}

/* A name for logs, the HUD and recorded notes: 1..NAME_MAX-1 characters, letters,
 * digits, space and . _ - @ only. */
static bool account_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CN_PROCTOR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(" ._-@", s[i]))
            return false;
    return true;
}

/* The token of the object at obj (the shared one: "proctor"; an account:
 * "proctor.accounts[k]"): its "token" inline or its "token_file", not both, checked
 * like every token. CN_ENOENT (no message) when it has neither. */
static int get_token(const cn_json *doc, const char *obj, char *token, size_t token_len, char *err,
                     size_t err_len)
{
    char kf[80], kt[80], file[512] = "", tok[CN_PROCTOR_TOKEN_MAX + 2] = "";
    snprintf(kf, sizeof kf, "%s.token_file", obj);
    snprintf(kt, sizeof kt, "%s.token", obj);
    int rc = cn_json_get_string(doc, kf, file, sizeof file, err, err_len);
    if (rc == CN_OK || rc == CN_ENOENT)
        rc = cn_json_get_string(doc, kt, tok, sizeof tok, err, err_len);
    if (rc == CN_ENOENT)
        rc = CN_OK;
    if (rc == CN_OK && file[0] && tok[0]) {
        cn_json_error(doc, kt, err, err_len, "give either \"token\" or \"token_file\", not both");
        rc = CN_EINVAL;
    } else if (rc == CN_OK && tok[0]) {
        char why[256];
        if (cn_proctor_token_check(tok, why, sizeof why) != CN_OK) {
            cn_json_error(doc, kt, err, err_len, "%s", why);
            rc = CN_EINVAL;
        } else {
            cn_strlcpy(token, tok, token_len);
        }
    } else if (rc == CN_OK && file[0]) {
        rc = cn_proctor_token_from_file(file, token, token_len, err, err_len);
    } else if (rc == CN_OK) {
        rc = CN_ENOENT;
    }
    volatile char *w = tok; /* the copy of the secret */
    for (size_t i = 0; i < sizeof tok; i++)
        w[i] = 0;
    return rc;
}

/* "accounts": [{"name": ..., "token_file" | "token": ...}, ...] into o. */
static int get_accounts(const cn_json *doc, cn_proctor_opts *o, char *err, size_t err_len)
{
    if (!cn_json_has(doc, "proctor.accounts"))
        return CN_OK;
    int n = cn_json_array_size(doc, "proctor.accounts");
    if (n < 1 || n > CN_PROCTOR_ACCOUNTS_MAX) {
        cn_json_error(doc, "proctor.accounts", err, err_len,
                      "expected a list of 1 to %d accounts ({\"name\": ..., \"token_file\": ...})",
                      CN_PROCTOR_ACCOUNTS_MAX);
        return CN_EINVAL;
    }
    static const char *const akeys[] = {"name", "token_file", "token", NULL};
    cn_proctor_account acc[CN_PROCTOR_ACCOUNTS_MAX];
    memset(acc, 0, sizeof acc);
    int rc = CN_OK;
    for (int k = 0; k < n && rc == CN_OK; k++) {
        char path[64], key[80];
        snprintf(path, sizeof path, "proctor.accounts[%d]", k);
        if ((rc = cn_json_check_keys(doc, path, akeys, err, err_len)) != CN_OK)
            break;
        snprintf(key, sizeof key, "%s.name", path);
        char name[2 * CN_PROCTOR_NAME_MAX] = "";
        rc = cn_json_get_string(doc, key, name, sizeof name, err, err_len);
        if (rc == CN_ENOENT || (rc == CN_OK && !account_name_ok(name))) {
            cn_json_error(doc, rc == CN_ENOENT ? path : key, err, err_len,
                          "each account needs a \"name\" of 1 to %d letters, digits, spaces or . _ - @",
                          CN_PROCTOR_NAME_MAX - 1);
            rc = CN_EINVAL;
            break;
        }
        if (rc != CN_OK)
            break;
        cn_strlcpy(acc[k].name, name, sizeof acc[k].name);
        rc = get_token(doc, path, acc[k].token, sizeof acc[k].token, err, err_len);
        if (rc == CN_ENOENT) {
            cn_json_error(doc, path, err, err_len,
                          "account \"%s\": give its \"token_file\" (or \"token\"), one of the two",
                          acc[k].name);
            rc = CN_EINVAL;
        }
        if (rc != CN_OK)
            break;
        for (int j = 0; j < k && rc == CN_OK; j++) {
            const bool same_name = strcmp(acc[j].name, acc[k].name) == 0;
            if (same_name || cn__proctor_token_equal(acc[j].token, acc[k].token)) {
                cn_json_error(doc, path, err, err_len,
                              same_name ? "account \"%s\": a second account of that name"
                                        : "account \"%s\": its token is another account's: "
                                          "every proctor needs a token of their own",
                              acc[k].name);
                rc = CN_EINVAL;
            }
        }
        if (rc == CN_OK && o->token[0] && cn__proctor_token_equal(o->token, acc[k].token)) {
            cn_json_error(doc, path, err, err_len,
                          "account \"%s\": its token is the shared proctor token", acc[k].name);
            rc = CN_EINVAL;
        }
    }
    if (rc == CN_OK) {
        memcpy(o->accounts, acc, sizeof acc);
        o->n_accounts = n;
    }
    volatile char *w = (volatile char *)acc; /* the copies of the secrets */
    for (size_t i = 0; i < sizeof acc; i++)
        w[i] = 0;
    return rc;
}

int cn_proctor_opts_from_json(cn_proctor_opts *o, const cn_json *doc, char *err, size_t err_len)
{
    if (!o || !doc)
        return CN_EINVAL;
    if (!cn_json_has(doc, "proctor"))
        return CN_OK;
    static const char *const keys[] = {"token_file", "token", "accounts", "commands_per_s",
                                       "control_per_s", "notes_per_s", "logins_per_s",
                                       "max_failed_logins", "log_lines_per_s", NULL};
    int rc = cn_json_check_keys(doc, "proctor", keys, err, err_len);
    if (rc != CN_OK)
        return rc;
    if ((rc = get_token(doc, "proctor", o->token, sizeof o->token, err, err_len)) != CN_OK &&
        rc != CN_ENOENT)
        return rc;
    if ((rc = get_accounts(doc, o, err, err_len)) != CN_OK)
        return rc;
    if ((rc = get_rate(doc, "commands_per_s", &o->commands, err, err_len)) != CN_OK ||
        (rc = get_rate(doc, "control_per_s", &o->control, err, err_len)) != CN_OK ||
        (rc = get_rate(doc, "notes_per_s", &o->notes, err, err_len)) != CN_OK ||
        (rc = get_rate(doc, "logins_per_s", &o->logins, err, err_len)) != CN_OK ||
        (rc = get_rate(doc, "log_lines_per_s", &o->log, err, err_len)) != CN_OK)
        return rc;
    long v;
    if ((rc = cn_json_get_int(doc, "proctor.max_failed_logins", 1, 1000, &v, err, err_len)) ==
        CN_OK)
        o->max_failed_logins = (int)v;
    else if (rc != CN_ENOENT)
        return rc;
    return CN_OK;
}
