/* test_cases.h - main() for a cmocka program whose tests are separate ctest
 * entries (one test name per entry), so that a name cannot quietly test nothing.
 *
 *   PROGRAM                  every test
 *   PROGRAM NAME             the test NAME (with or without its "test_" prefix);
 *                            a name that is not a test fails and says so (cmocka's
 *                            filter alone runs 0 tests and passes, so an entry
 *                            whose test was renamed stayed green)
 *   PROGRAM NAME,NAME2...    those tests, in the program's order, in one process:
 *                            for tests that check one session the program runs
 *                            once and keeps (a cryonav run under the sanitizers
 *                            costs the suite tens of seconds); each still passes
 *                            or fails by itself
 *   PROGRAM --listed NAME... 0 when the names (ctest's entries, NAME,NAME2 as its
 *                            names) are exactly the program's tests, else 1 naming
 *                            the difference, so a test added without its entry is
 *                            never left out
 *
 * cn_add_test(... CASES ...) in tests/CMakeLists.txt registers the entries, the
 * --listed check and an unknown name's check for such a program.
 *
 * Header-only on purpose: the programs using it live in different test folders
 * and link nothing else in common. */
#ifndef CN_TEST_CASES_H
#define CN_TEST_CASES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* name (len characters) equals the test's name, or its name without "test_" */
static bool cn_test_named_n(const struct CMUnitTest *t, const char *name, size_t len)
{
    const size_t tl = strlen(t->name);
    return (tl == len && strncmp(t->name, name, len) == 0) ||
           (tl == len + 5 && strncmp(t->name, "test_", 5) == 0 &&
            strncmp(t->name + 5, name, len) == 0);
}

/* t is named by one of the comma-separated names of list */
static bool cn_test_in_list(const struct CMUnitTest *t, const char *list)
{
    for (const char *p = list;; p++) {
        const size_t len = strcspn(p, ",");
        if (cn_test_named_n(t, p, len))
            return true;
        p += len;
        if (!*p)
            return false;
    }
}

/* Every comma-separated name of list names a test; else says which does not (as a
 * ctest entry's name when listing, else as a name asked for). */
static bool cn_test_list_known(const char *prog, const struct CMUnitTest *tests, size_t n,
                               const char *list, bool listing)
{
    bool all = true;
    for (const char *p = list;; p++) {
        const size_t len = strcspn(p, ",");
        bool in = false;
        for (size_t i = 0; i < n && !in; i++)
            in = cn_test_named_n(&tests[i], p, len);
        if (!in && listing)
            fprintf(stderr, "%s: the ctest entry %.*s names no test\n", prog, (int)len, p);
        else if (!in)
            fprintf(stderr, "%s: no test named \"%.*s\"\n", prog, (int)len, p);
        all = all && in;
        p += len;
        if (!*p)
            return all;
    }
}

static int cn_test_cases_run(const char *prog, const struct CMUnitTest *tests, size_t n,
                             int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--listed") == 0) {
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            bool in = false;
            for (int a = 2; a < argc; a++)
                in = in || cn_test_in_list(&tests[i], argv[a]);
            if (!in) {
                fprintf(stderr, "%s: %s has no ctest entry (CMakeLists.txt)\n", prog,
                        tests[i].name);
                bad = 1;
            }
        }
        for (int a = 2; a < argc; a++)
            if (!cn_test_list_known(prog, tests, n, argv[a], true))
                bad = 1;
        return bad;
    }
    if (argc > 1) {
        if (!cn_test_list_known(prog, tests, n, argv[1], false))
            return 1;
        struct CMUnitTest *some = calloc(n, sizeof *some);
        size_t k = 0;
        if (!some)
            return 1;
        for (size_t i = 0; i < n; i++)
            if (cn_test_in_list(&tests[i], argv[1]))
                some[k++] = tests[i];
        const int rc = _cmocka_run_group_tests(prog, some, k, NULL, NULL);
        free(some);
        return rc;
    }
    return _cmocka_run_group_tests(prog, tests, n, NULL, NULL);
}

#endif
