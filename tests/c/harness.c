/* The test runner behind harness.h. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static int current_failures;
static int current_header_printed;
static const char *current_name;

void harness_fail(const char *file, int line, const char *fmt, ...) {
    if (!current_header_printed) {
        printf("FAIL %s\n", current_name ? current_name : "?");
        current_header_printed = 1;
    }
    printf("    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    current_failures++;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int selected(const char *name, int argc, char **argv) {
    if (argc <= 1) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int harness_main(const harness_test *tests, size_t n, void (*before_each)(void), int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        int known = 0;
        for (size_t t = 0; t < n; t++) known |= strcmp(tests[t].name, argv[i]) == 0;
        if (!known) {
            printf("unknown test: %s\n", argv[i]);
            failed++;
        }
    }
    for (size_t t = 0; t < n; t++) {
        if (!selected(tests[t].name, argc, argv)) continue;
        current_name = tests[t].name;
        current_failures = 0;
        current_header_printed = 0;
        double start = now_s();
        if (before_each) before_each();
        tests[t].fn();
        double took = now_s() - start;
        if (current_failures == 0) {
            printf("ok   %s (%.2f s)\n", tests[t].name, took);
            passed++;
        } else {
            printf("     (%s: %d failed check%s, %.2f s)\n", tests[t].name, current_failures,
                   current_failures == 1 ? "" : "s", took);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}
