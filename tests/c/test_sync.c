/*
 * Tests of flx_sync() and its options and report (include/fluximage.h only) against the
 * emulator, with real folders. Run through tests/c/run-tests.sh like test_api.c (same
 * environment: FLX_TEST_BASE_URL, FLX_TEST_KEY, FLX_TEST_FREE_KEY, FLX_TEST_DIR, ...).
 */
#define _POSIX_C_SOURCE 200809L

#include <fluximage.h>

#include "harness.h"
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static flx_client *client_for(const char *key) {
    flx_client *c = flx_client_new(key);
    if (c == NULL) {
        harness_fail(__FILE__, __LINE__, "flx_client_new failed: %s", flx_last_error());
        return NULL;
    }
    if (flx_client_set_base_url(c, test_base_url()) != FLX_OK) {
        harness_fail(__FILE__, __LINE__, "set_base_url failed: %s", flx_last_error());
        flx_client_free(c);
        return NULL;
    }
    return c;
}

/* dir/rel as a malloc'd string. */
static char *join(const char *dir, const char *rel) {
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p != NULL) snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

static void put_png(const char *dir, const char *rel, uint32_t seed) {
    char *p = join(dir, rel);
    if (p == NULL || png_write_file(p, 48, 32, 0, seed) < 0) harness_fail(__FILE__, __LINE__, "cannot write %s/%s", dir, rel);
    free(p);
}

static void make_dir(const char *dir, const char *rel) {
    char *p = join(dir, rel);
    if (p == NULL || (mkdir(p, 0755) != 0 && file_size(p) < 0)) harness_fail(__FILE__, __LINE__, "cannot create %s/%s", dir, rel);
    free(p);
}

/* What the event callback saw. */
typedef struct {
    int planned, compressed, up_to_date, conflict, other;
    long plan_to_compress;
    int stop_on_plan;
    char last_conflict[256];
} seen_events;

static int on_event(void *user, const flx_sync_event *e) {
    seen_events *s = user;
    switch (e->kind) {
    case FLX_SYNC_PLANNED:
        s->planned++;
        s->plan_to_compress = (long)flx_sync_report_num(e->report, FLX_SYNC_PLAN_TO_COMPRESS);
        return s->stop_on_plan;
    case FLX_SYNC_COMPRESSED:
        s->compressed++;
        if (e->input == NULL || e->output == NULL || e->output_size <= 0) s->other += 100;
        break;
    case FLX_SYNC_UP_TO_DATE: s->up_to_date++; break;
    case FLX_SYNC_CONFLICT:
        s->conflict++;
        snprintf(s->last_conflict, sizeof s->last_conflict, "%s", e->message ? e->message : "(none)");
        break;
    default: s->other++; break;
    }
    return 0;
}

static void test_sync_mirrors_and_reruns(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    char *src = fresh_dir("sync-src");
    char *out = tpath("sync-out");
    make_dir(src, "a");
    make_dir(src, "a/b");
    put_png(src, "logo.png", 1);
    put_png(src, "a/logo.png", 2);
    put_png(src, "a/b/logo.png", 3);

    seen_events s = {0};
    flx_sync_report *r = NULL;
    CHECK_STATUS(flx_sync(c, src, out, NULL, NULL, on_event, &s, NULL, &r), FLX_OK);
    REQUIRE(r != NULL);
    CHECK(s.planned == 1 && s.plan_to_compress == 3);
    CHECK_MSG(s.compressed == 3 && s.other == 0, "compressed %d, other %d", s.compressed, s.other);
    CHECK(flx_sync_report_num(r, FLX_SYNC_COMPRESSED_FILES) == 3);
    CHECK(flx_sync_report_num(r, FLX_SYNC_CREDITS_SPENT) == 3);
    CHECK(flx_sync_report_num(r, FLX_SYNC_REQUESTS) == 1);
    CHECK(flx_sync_report_event_count(r) == 3);
    flx_sync_event e;
    CHECK_STATUS(flx_sync_report_event(r, 0, &e), FLX_OK);
    CHECK(e.kind == FLX_SYNC_COMPRESSED && strcmp(e.input, "a/b/logo.png") == 0 && strcmp(e.output, "a/b/logo.webp") == 0);
    CHECK_STATUS(flx_sync_report_event(r, 3, &e), FLX_INVALID_ARGUMENT);
    CHECK(flx_sync_report_num(r, 99) == -1);
    flx_sync_report_free(r);

    char *deep = join(out, "a/b/logo.webp");
    size_t len = 0;
    uint8_t *bytes = read_file(deep, &len);
    CHECK(bytes != NULL && sniff_format(bytes, len) != NULL && strcmp(sniff_format(bytes, len), "webp") == 0);
    free(bytes);
    free(deep);

    /* A rerun sends nothing. */
    seen_events again = {0};
    r = NULL;
    CHECK_STATUS(flx_sync(c, src, out, NULL, NULL, on_event, &again, NULL, &r), FLX_OK);
    CHECK(again.up_to_date == 3 && again.compressed == 0);
    CHECK(flx_sync_report_num(r, FLX_SYNC_UP_TO_DATE_FILES) == 3);
    CHECK(flx_sync_report_event_count(r) == 0);
    flx_sync_report_free(r);
    CHECK(stats_compress_requests() == 1);
    free(src);
    free(out);
    flx_client_free(c);
}

static void test_sync_conflicts_options_and_dry_run(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    char *src = fresh_dir("sync-cf-src");
    char *out = tpath("sync-cf-out");
    put_png(src, "a.png", 1);
    put_png(src, "a.jpg", 1); /* PNG bytes with a .jpg name: what matters is the clash */
    put_png(src, "b.png", 2);
    put_png(src, "skip-me.png", 3);
    flx_sync_options *so = flx_sync_options_new();
    REQUIRE(so != NULL);
    CHECK_STATUS(flx_sync_options_add_exclude(so, "skip-*"), FLX_OK);
    CHECK_STATUS(flx_sync_options_set_flag(so, FLX_SYNC_DRY_RUN, true), FLX_OK);
    CHECK_STATUS(flx_sync_options_set_flag(so, 42, true), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_sync_options_set_if_larger(so, 3), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_sync_options_set_if_larger(so, FLX_IF_LARGER_SKIP), FLX_OK);
    CHECK_STATUS(flx_sync_options_add_include(so, NULL), FLX_INVALID_ARGUMENT);

    seen_events s = {0};
    flx_sync_report *r = NULL;
    CHECK_STATUS(flx_sync(c, src, out, NULL, so, on_event, &s, NULL, &r), FLX_OK);
    CHECK(s.conflict == 2 && s.compressed == 0);
    CHECK_MSG(strstr(s.last_conflict, "map to the same output a.webp") != NULL, "%s", s.last_conflict);
    CHECK(flx_sync_report_num(r, FLX_SYNC_PLAN_TO_COMPRESS) == 1);
    CHECK(flx_sync_report_num(r, FLX_SYNC_PLAN_COMPRESSIONS_NEEDED) == 1);
    flx_sync_report_free(r);
    CHECK_MSG(stats_compress_requests() == 0, "a dry run sends nothing");
    CHECK_MSG(file_size(out) < 0, "a dry run creates nothing");

    /* In place without a backup folder is refused before anything. */
    CHECK_STATUS(flx_sync_options_set_flag(so, FLX_SYNC_DRY_RUN, false), FLX_OK);
    CHECK_STATUS(flx_sync_options_set_flag(so, FLX_SYNC_IN_PLACE, true), FLX_OK);
    r = NULL;
    CHECK_STATUS(flx_sync(c, src, src, NULL, so, NULL, NULL, NULL, &r), FLX_INVALID_ARGUMENT);
    CHECK(r == NULL && strstr(flx_last_error(), "backup") != NULL);
    CHECK_STATUS(flx_sync(c, NULL, out, NULL, so, NULL, NULL, NULL, &r), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_sync(c, src, out, NULL, so, NULL, NULL, NULL, NULL), FLX_INVALID_ARGUMENT);
    flx_sync_options_free(so);
    flx_sync_options_free(NULL);
    flx_sync_report_free(NULL);
    free(src);
    free(out);
    flx_client_free(c);
}

static void test_sync_credits_checked_first_and_callback_stops(void) {
    flx_client *c = client_for(env_required("FLX_TEST_FREE_KEY"));
    REQUIRE(c != NULL);
    char *src = fresh_dir("sync-q-src");
    char *out = tpath("sync-q-out");
    char name[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "p%02d.png", i);
        put_png(src, name, (uint32_t)i);
    }
    flx_sync_report *r = NULL;
    CHECK_STATUS(flx_sync(c, src, out, NULL, NULL, NULL, NULL, NULL, &r), FLX_QUOTA_EXCEEDED);
    CHECK_MSG(strstr(flx_last_error(), "needs 25 compressions but the key has 20 left") != NULL, "%s", flx_last_error());
    CHECK(r == NULL);
    CHECK(stats_credits(env_required("FLX_TEST_FREE_KEY")) == 0);

    /* A callback that stops on the plan: nothing is sent. */
    flx_sync_options *so = flx_sync_options_new();
    REQUIRE(so != NULL);
    CHECK_STATUS(flx_sync_options_set_flag(so, FLX_SYNC_ALLOW_PARTIAL, true), FLX_OK);
    seen_events s = {.stop_on_plan = 1};
    CHECK_STATUS(flx_sync(c, src, out, NULL, so, on_event, &s, NULL, &r), FLX_CANCELLED);
    CHECK(s.planned == 1 && stats_compress_requests() == 0);

    /* Partial: the first 20 are done, the rest reported as not done (FLX_PARTIAL). */
    seen_events p = {0};
    CHECK_STATUS(flx_sync(c, src, out, NULL, so, on_event, &p, NULL, &r), FLX_PARTIAL);
    REQUIRE(r != NULL);
    CHECK(flx_sync_report_num(r, FLX_SYNC_COMPRESSED_FILES) == 20);
    CHECK(flx_sync_report_num(r, FLX_SYNC_NOT_DONE_FILES) == 5);
    CHECK(stats_credits(env_required("FLX_TEST_FREE_KEY")) == 20);
    flx_sync_report_free(r);
    flx_sync_options_free(so);
    free(src);
    free(out);
    flx_client_free(c);
}

static void test_sync_failed_file_gives_partial(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    char *src = fresh_dir("sync-broken-src");
    char *out = tpath("sync-broken-out");
    put_png(src, "good.png", 1);
    char *broken = join(src, "broken.png");
    REQUIRE(broken != NULL && write_file(broken, "not an image", 12) == 0);
    flx_sync_report *r = NULL;
    CHECK_STATUS(flx_sync(c, src, out, NULL, NULL, NULL, NULL, NULL, &r), FLX_PARTIAL);
    REQUIRE(r != NULL);
    CHECK(flx_sync_report_num(r, FLX_SYNC_FAILED_FILES) == 1);
    CHECK(flx_sync_report_num(r, FLX_SYNC_COMPRESSED_FILES) == 1);
    int seen_failed = 0;
    for (size_t i = 0; i < flx_sync_report_event_count(r); i++) {
        flx_sync_event e;
        CHECK_STATUS(flx_sync_report_event(r, i, &e), FLX_OK);
        if (e.kind == FLX_SYNC_FAILED) {
            seen_failed = 1;
            CHECK(strcmp(e.input, "broken.png") == 0 && e.output == NULL && e.output_size == -1);
            CHECK(e.status == FLX_SERVER && e.message != NULL);
        }
    }
    CHECK(seen_failed);
    flx_sync_report_free(r);
    free(broken);
    free(src);
    free(out);
    flx_client_free(c);
}

static void reset_emulator(void) {
    if (control_reset() != 0) harness_fail(__FILE__, __LINE__, "POST /__control/reset failed");
}

static const harness_test TESTS[] = {
    {"sync_mirrors_and_reruns", test_sync_mirrors_and_reruns},
    {"sync_conflicts_options_and_dry_run", test_sync_conflicts_options_and_dry_run},
    {"sync_credits_checked_first_and_callback_stops", test_sync_credits_checked_first_and_callback_stops},
    {"sync_failed_file_gives_partial", test_sync_failed_file_gives_partial},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    return harness_main(TESTS, sizeof TESTS / sizeof TESTS[0], reset_emulator, argc, argv);
}
