/* The manual page lists every sub-command's options and outputs (issue 16).
 *
 * Walks the program the way a user would: the commands `cryonav --help` lists,
 * each one's --help, and the sub-modes a help names ("cryonav eval nerve ...",
 * the benchmarks `cryonav bench --help` lists). Every --help must answer on stdout
 * with exit 0 and a usage line, and have the layout of the others: an "options:"
 * block that lists every option the text mentions (usage line and prose too) and
 * "-h, --help", then an "outputs:" paragraph (what goes to stdout / stderr, the
 * files written). Every line of it, so every option (--name, -x) and every output
 * file it names (*.png, *.html, *.json, ...), must appear in the rendered man page
 * (`man -l` on the page the build generates and the package installs), under the
 * command's own heading. The page also has the sections a man page needs. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_util.h"

static run_result R;
static char man[1 << 20]; /* the rendered page, hyphens normalised */

static void render_man(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "MANWIDTH=250 man -P cat -l '%s' 2>&1", CN_MANPAGE);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(man, 1, sizeof man - 1, p);
    int rc = pclose(p);
    man[n] = 0;
    if (rc != 0)
        fail_msg("man -l %s failed (%d):\n%s", CN_MANPAGE, rc, man);
    /* plain ASCII: drop overstrike (x\bx), map U+2010 / U+2212 / U+2011 to '-',
     * U+2018 / U+2019 (groff's quotes) to ` and ' */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)man[i];
        if (man[i + 1] == '\b' && i + 2 < n) {
            i++;
            continue;
        }
        if (c == 0xe2 && i + 2 < n && (unsigned char)man[i + 1] == 0x80 &&
            ((unsigned char)man[i + 2] == 0x90 || (unsigned char)man[i + 2] == 0x91)) {
            man[w++] = '-';
            i += 2;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)man[i + 1] == 0x88 &&
                   (unsigned char)man[i + 2] == 0x92) {
            man[w++] = '-';
            i += 2;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)man[i + 1] == 0x80 &&
                   ((unsigned char)man[i + 2] == 0x98 || (unsigned char)man[i + 2] == 0x99)) {
            man[w++] = (unsigned char)man[i + 2] == 0x98 ? '`' : '\'';
            i += 2;
        } else {
            man[w++] = man[i];
        }
    }
    man[w] = 0;
}

static void help_of(const char *cmd, const char *sub)
{
    const char *argv[] = {CN_CRYONAV_BIN, cmd, sub ? sub : "--help", sub ? "--help" : NULL, NULL};
    assert_int_equal(run_prog(argv, NULL, NULL, 60, &R), 0);
    char want[128];
    snprintf(want, sizeof want, "usage: cryonav %.100s", cmd);
    if (R.exit_code != 0 || !strstr(R.out, want))
        fail_msg("cryonav %s %s --help: exit %d, no '%s' on stdout\nstdout:\n%s\nstderr:\n%s", cmd,
                 sub ? sub : "", R.exit_code, want, R.out, R.err);
}

static bool is_output_token(const char *t)
{
    static const char *const ext[] = {".png", ".html", ".json", ".mha", ".nrrd", ".csv",
                                      ".rules", ".log", NULL};
    for (const char *const *e = ext; *e; e++) {
        const char *p = strstr(t, *e);
        if (p && p > t && (p[strlen(*e)] == 0 || !isalnum((unsigned char)p[strlen(*e)])))
            return true;
    }
    return false;
}

/* Every option and output token of text must be in the page section `sect`. */
static int check_tokens(const char *heading, const char *text, const char *sect)
{
    int n = 0;
    for (const char *p = text; *p;) {
        while (*p && (isspace((unsigned char)*p) || strchr("[](),;|'\"", *p)))
            p++;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p) && !strchr("[](),;|'\"", *p))
            p++;
        size_t len = (size_t)(p - s);
        if (len == 0 || len >= 128)
            continue;
        char tok[128];
        memcpy(tok, s, len);
        tok[len] = 0;
        while (len > 1 && strchr(".:", tok[len - 1])) /* sentence punctuation */
            tok[--len] = 0;
        bool opt = tok[0] == '-' && (isalpha((unsigned char)tok[1]) ||
                                     (tok[1] == '-' && isalpha((unsigned char)tok[2])));
        if (opt) { /* --name=VALUE, --name: the option itself */
            char *eq = strpbrk(tok + 1, "=");
            if (eq)
                *eq = 0;
        }
        if (!opt && !is_output_token(tok))
            continue;
        if (!strstr(sect, tok))
            fail_msg("'%s' is in 'cryonav %s --help' but not in its man page section", tok, heading);
        n++;
    }
    return n;
}

/* Each --name / -x mentioned (at a word start) in text[from, to) is listed in block. */
static void check_listed(const char *heading, const char *text, const char *from, const char *to,
                         const char *block)
{
    for (const char *p = from; p < to; p++) {
        bool start = p == text || strchr(" \n[('\"|/", p[-1]);
        if (!start || p[0] != '-')
            continue;
        const char *s = p + (p[1] == '-' ? 2 : 1);
        if (!isalpha((unsigned char)*s))
            continue;
        size_t len = 0;
        while (isalnum((unsigned char)s[len]) || s[len] == '-' || s[len] == '_')
            len++;
        if (p[1] != '-' && len != 1)
            continue; /* a short option is one letter */
        size_t olen = (size_t)(s - p) + len;
        bool found = false;
        for (const char *q = block; !found && (q = strchr(q, '-')) != NULL; q++) {
            if (strncmp(q, p, olen) != 0 || (q > block && !strchr(" \n[(,/", q[-1])))
                continue;
            char after = q[olen];
            found = !(isalnum((unsigned char)after) || after == '-' || after == '_');
        }
        if (!found)
            fail_msg("'cryonav %s --help' mentions '%.*s' but its options block does not list "
                     "it:\n%s", heading, (int)olen, p, text);
        p = s + len - 1;
    }
}

/* The layout every --help shares: an "options:" block with "-h, --help" and every
 * option its usage lines and its outputs paragraph name, then an "outputs:"
 * paragraph. (Prose may name another program's options, e.g. the emulator's.) */
static void check_layout(const char *heading, const char *text)
{
    const char *opts = strstr(text, "\noptions:\n");
    const char *outs = strstr(text, "\noutputs:");
    if (!opts)
        fail_msg("'cryonav %s --help' has no \"options:\" section:\n%s", heading, text);
    if (!outs)
        fail_msg("'cryonav %s --help' has no \"outputs:\" line:\n%s", heading, text);
    if (outs < opts)
        fail_msg("'cryonav %s --help': \"outputs:\" comes before \"options:\"", heading);
    size_t n = (size_t)(outs - opts);
    char *block = strndup(opts, n);
    if (!strstr(block, "\n  -h, --help "))
        fail_msg("'cryonav %s --help': the options block has no '-h, --help'", heading);
    /* the usage lines: "usage:" and the lines indented under it */
    const char *usage_end = text;
    while (*usage_end && (strncmp(usage_end, "usage:", 6) == 0 || *usage_end == ' ')) {
        const char *nl = strchr(usage_end, '\n');
        usage_end = nl ? nl + 1 : usage_end + strlen(usage_end);
    }
    check_listed(heading, text, text, usage_end, block);
    check_listed(heading, text, outs, outs + strlen(outs), block);
    free(block);
}

/* Every line of the help (trimmed) is in the man page section: nothing of the
 * options or outputs is lost on the way into the page. */
static void check_lines(const char *heading, const char *text, const char *sect)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        const char *s = p, *e = p + n;
        p = *e ? e + 1 : e;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e == s)
            continue;
        char *line = strndup(s, (size_t)(e - s));
        if (!strstr(sect, line))
            fail_msg("the man page section 'cryonav %s' lacks this line of its --help:\n%s",
                     heading, line);
        free(line);
    }
}

/* The man page section of a heading: from "cryonav <heading>" up to the next
 * "   cryonav " heading (subsection titles are indented by three spaces). */
static char *section(const char *heading)
{
    char want[128];
    snprintf(want, sizeof want, "\n   cryonav %s\n", heading);
    const char *s = strstr(man, want);
    if (!s)
        fail_msg("the man page has no section 'cryonav %s'", heading);
    const char *e = strstr(s + strlen(want), "\n   cryonav ");
    const char *end2 = strstr(s + strlen(want), "\nFILES\n");
    if (!e || (end2 && end2 < e))
        e = end2 ? end2 : s + strlen(s);
    size_t n = (size_t)(e - s);
    char *out = malloc(n + 1);
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

/* Sub-mode words a help names: "cryonav <cmd> <word>" with a lower-case word. */
static int submodes(const char *text, const char *cmd, char subs[][32], int max)
{
    int n = 0;
    char pat[64];
    snprintf(pat, sizeof pat, "cryonav %.50s ", cmd);
    for (const char *p = text; (p = strstr(p, pat)) != NULL; p += strlen(pat)) {
        const char *w = p + strlen(pat);
        size_t len = 0;
        while (islower((unsigned char)w[len]) || isdigit((unsigned char)w[len]) || w[len] == '-')
            len++;
        if (len == 0 || len >= 32 || w[0] == '-' || isalnum((unsigned char)w[len]))
            continue;
        bool seen = false;
        for (int i = 0; i < n; i++)
            seen |= strlen(subs[i]) == len && strncmp(subs[i], w, len) == 0;
        if (!seen && n < max) {
            memcpy(subs[n], w, len);
            subs[n++][len] = 0;
        }
    }
    return n;
}

/* The names listed in an indented block after a line ending in `header`. */
static int listed(const char *text, const char *header, char names[][32], int max)
{
    const char *p = strstr(text, header);
    if (!p)
        return 0;
    p = strchr(p + 1, '\n');
    int n = 0;
    while (p && p[1] == ' ' && p[2] == ' ' && p[3] != ' ' && n < max) {
        if (sscanf(p + 1, " %31s", names[n]) == 1)
            n++;
        p = strchr(p + 1, '\n');
    }
    return n;
}

static void test_every_help_is_in_the_man_page(void **st)
{
    (void)st;
    if (access("/usr/bin/man", X_OK) != 0) {
        print_message("man-db is not installed: nothing to render the page with\n");
        skip();
    }
    render_man();
    static const char *const sections[] = {"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS",
                                           "FILES", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n%s\n", sections[i]);
        if (!strstr(man, want))
            fail_msg("the man page has no %s section", sections[i]);
    }
    assert_non_null(strstr(man, "/lib/udev/rules.d/70-cryonav-up20l.rules"));
    assert_non_null(strstr(man, "~/.config/cryonav/session.json"));

    /* the commands, as `cryonav --help` lists them */
    const char *top[] = {CN_CRYONAV_BIN, "--help", NULL};
    assert_int_equal(run_prog(top, NULL, NULL, 60, &R), 0);
    assert_int_equal(R.exit_code, 0);
    char cmds[32][32];
    int n_cmds = listed(R.out, "commands:", cmds, 32);
    assert_true(n_cmds >= 10);
    int helps = 0, tokens = 0;
    for (int c = 0; c < n_cmds; c++) {
        help_of(cmds[c], NULL);
        char *text = strdup(R.out);
        check_layout(cmds[c], text);
        char *sect = section(cmds[c]);
        tokens += check_tokens(cmds[c], text, sect);
        check_lines(cmds[c], text, sect);
        free(sect);
        helps++;
        char subs[32][32];
        int n_subs = strcmp(cmds[c], "bench") == 0 ? listed(text, "\nbenchmarks", subs, 32)
                                                     : submodes(text, cmds[c], subs, 32);
        for (int k = 0; k < n_subs; k++) {
            help_of(cmds[c], subs[k]);
            if (strcmp(R.out, text) == 0)
                continue; /* one help for all the modes: already checked */
            char heading[80];
            snprintf(heading, sizeof heading, "%.38s %.38s", cmds[c], subs[k]);
            check_layout(heading, R.out);
            sect = section(heading);
            tokens += check_tokens(heading, R.out, sect);
            check_lines(heading, R.out, sect);
            free(sect);
            helps++;
        }
        free(text);
    }
    print_message("%d --help texts, %d options and outputs found in the man page\n", helps,
                  tokens);
    assert_true(helps >= n_cmds + 8); /* the commands and the benchmarks at least */
    assert_true(tokens >= 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_help_is_in_the_man_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
