/*
 * A tiny test harness for the C tests: no dependencies, one process, tests run in order.
 *
 * A test is a `static void test_xxx(void)` listed in the table at the end of its file and run
 * by harness_main(), which prints one line per test ("ok   name (0.12 s)" or "FAIL name")
 * with every failed check under it, then a last line exactly "N passed, M failed", and
 * returns 0 only when nothing failed. `./test_api NAME...` runs only the named tests.
 *
 *   CHECK(cond)                 records a failure and goes on
 *   CHECK_MSG(cond, fmt, ...)   same, with an explanation
 *   CHECK_STATUS(expr, want)    expr (a flx_status) must equal want; prints flx_last_error()
 *   REQUIRE(cond)               records a failure and returns from the test
 *
 * Checks read flx_last_error() before any other flx_ call, so the message shown is the one
 * of the call under test.
 */
#ifndef FLX_TEST_HARNESS_H
#define FLX_TEST_HARNESS_H

#include <fluximage.h>
#include <stdio.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} harness_test;

/* Records a failed check of the running test (printf-style explanation). */
void harness_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Runs `tests` (all, or those named in argv), each after `before_each` (may be NULL), and
 * prints the summary; returns the exit code. */
int harness_main(const harness_test *tests, size_t n, void (*before_each)(void), int argc, char **argv);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) harness_fail(__FILE__, __LINE__, "check failed: %s", #cond);    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) harness_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            harness_fail(__FILE__, __LINE__, "requirement failed: %s", #cond);       \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define CHECK_STATUS(expr, want)                                                             \
    do {                                                                                     \
        flx_status got_ = (expr);                                                            \
        if (got_ != (want)) {                                                                \
            char err_[512];                                                                  \
            snprintf(err_, sizeof err_, "%s", flx_last_error());                             \
            harness_fail(__FILE__, __LINE__, "%s returned %d (%s), want %d (%s); last error: %s", \
                         #expr, (int)got_, flx_status_str((int)got_), (int)(want),           \
                         flx_status_str((int)(want)), err_);                                 \
        }                                                                                    \
    } while (0)

#endif
