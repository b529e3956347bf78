/* test_cases.h - main() for a cmocka program whose tests are separate ctest
 * entries (one test name per entry), so that a name cannot quietly test nothing.
 *
 *   PROGRAM                  every test
 *   PROGRAM NAME             the test NAME (with or without its "test_" prefix);
 *                            a name that is not a test fails and says so (cmocka's
 *                            filter alone runs 0 tests and passes, so an entry
 *                            whose test was renamed stayed green)
 *   PROGRAM --listed NAME... 0 when the names (ctest's entries) are exactly the
 *                            program's tests, else 1 naming the difference, so a
 *                            test added without its entry is never left out
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
#include <string.h>

/* name equals the test's name, or its name without "test_" */
static bool cn_test_named(const struct CMUnitTest *t, const char *name)
{
    return strcmp(t->name, name) == 0 ||
           (strncmp(t->name, "test_", 5) == 0 && strcmp(t->name + 5, name) == 0);
}

static int cn_test_cases_run(const char *prog, const struct CMUnitTest *tests, size_t n,
                             int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--listed") == 0) {
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            bool in = false;
            for (int a = 2; a < argc; a++)
                in = in || cn_test_named(&tests[i], argv[a]);
            if (!in) {
                fprintf(stderr, "%s: %s has no ctest entry (CMakeLists.txt)\n", prog,
                        tests[i].name);
                bad = 1;
            }
        }
        for (int a = 2; a < argc; a++) {
            bool in = false;
            for (size_t i = 0; i < n; i++)
                in = in || cn_test_named(&tests[i], argv[a]);
            if (!in) {
                fprintf(stderr, "%s: the ctest entry %s names no test\n", prog, argv[a]);
                bad = 1;
            }
        }
        return bad;
    }
    if (argc > 1) {
        for (size_t i = 0; i < n; i++)
            if (cn_test_named(&tests[i], argv[1]))
                return _cmocka_run_group_tests(prog, &tests[i], 1, NULL, NULL);
        fprintf(stderr, "%s: no test named \"%s\"\n", prog, argv[1]);
        return 1;
    }
    return _cmocka_run_group_tests(prog, tests, n, NULL, NULL);
}

#endif
