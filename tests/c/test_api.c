/*
 * Tests of the C API (include/fluximage.h only) against the emulator.
 *
 * Run through tests/c/run-tests.sh, which starts `fluximage-emulator --control` and sets:
 *   FLX_TEST_BASE_URL   the emulator's API origin
 *   FLX_TEST_KEY        an Agency key;  FLX_TEST_FREE_KEY  a free-plan key
 *   FLX_TEST_ROLLED_KEY an existing account's key that was rolled (answered 401)
 *   FLX_TEST_DIR        a scratch folder;  FLX_TEST_SMALL  smaller images (valgrind)
 */
#define _POSIX_C_SOURCE 200809L

#include <fluximage.h>

#include "harness.h"
#include "support.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A well-formed key that no account has. */
#define UNKNOWN_KEY "flx_live_0123456789abcdef0123456789abcdef01234567"

static const char *const FORMAT_NAMES[] = {"webp", "avif", "jpg", "png"};

/* Image sides: a few hundred pixels normally, less under valgrind. */
static uint32_t side(uint32_t normal) { return test_small() ? (normal / 4 > 16 ? normal / 4 : 16) : normal; }

/* A client for `key` pointed at the emulator, or NULL (the failure is recorded). */
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

/* Writes a generated photo-like PNG named `name` in the scratch folder; returns its path. */
static char *make_png(const char *name, uint32_t w, uint32_t h, uint32_t seed) {
    char *p = tpath(name);
    if (png_write_file(p, w, h, 0, seed) < 0) harness_fail(__FILE__, __LINE__, "cannot write %s", p);
    return p;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int contains(const char *s, const char *part) { return s != NULL && strstr(s, part) != NULL; }

static const char *str_or(const char *s) { return s ? s : "(null)"; }

/* ---- version and status strings ------------------------------------------------------- */

static void test_version(void) {
    const char *v = flx_version();
    REQUIRE(v != NULL);
    CHECK_MSG(strcmp(v, FLX_VERSION_STRING) == 0, "flx_version() is %s, the header says %s", v, FLX_VERSION_STRING);
    int major = -1, minor = -1, patch = -1;
    CHECK(sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3);
    CHECK(major == FLX_VERSION_MAJOR && minor == FLX_VERSION_MINOR && patch == FLX_VERSION_PATCH);
}

static void test_status_str(void) {
    for (int s = FLX_OK; s <= FLX_EXISTS; s++) {
        const char *t = flx_status_str(s);
        REQUIRE(t != NULL);
        CHECK_MSG(*t != '\0' && strcmp(t, "unknown status") != 0, "status %d has no description", s);
        for (int o = FLX_OK; o < s; o++)
            CHECK_MSG(strcmp(t, flx_status_str(o)) != 0, "statuses %d and %d share \"%s\"", o, s, t);
    }
    CHECK(contains(flx_status_str(FLX_RATE_LIMITED), "rate"));
    CHECK(contains(flx_status_str(FLX_INVALID_ARGUMENT), "invalid"));
    CHECK(strcmp(flx_status_str(FLX_EXISTS), "file exists") == 0);
    const int bad[] = {-1, FLX_EXISTS + 1, 1000, (int)0x7fffffff};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *t = flx_status_str(bad[i]);
        CHECK_MSG(t != NULL && strcmp(t, "unknown status") == 0, "flx_status_str(%d) = %s", bad[i], str_or(t));
    }
}

static void test_free_null(void) {
    flx_batch_free(NULL);
    flx_bytes_free(NULL, 0);
    flx_bytes_free(NULL, 10);
    flx_client_free(NULL);
    flx_options_free(NULL);
    flx_cancel_free(NULL);
    flx_usage_free(NULL);
    flx_string_free(NULL);
    CHECK(1); /* reaching here without a crash is the test */
}

/* ---- keys ------------------------------------------------------------------------------ */

static void test_malformed_key(void) {
    const char *bad[] = {
        "",
        "flx_live_123",
        "flx_test_2013767e3acf3d24ae00e76a837e420c6e23a065",
        "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a06",   /* 39 hex: one character short */
        "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a065z", /* one too many */
        "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a0g5",  /* not hex */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flx_client *c = flx_client_new(bad[i]);
        char err[512];
        snprintf(err, sizeof err, "%s", flx_last_error());
        CHECK_MSG(c == NULL, "flx_client_new accepted the malformed key #%zu", i);
        flx_client_free(c);
        CHECK_MSG(*err != '\0', "no message for malformed key #%zu", i);
        CHECK_MSG(contains(err, "key"), "the message does not say the key is wrong: %s", err);
        if (strlen(bad[i]) > 20)
            CHECK_MSG(!contains(err, bad[i] + 9), "the message repeats the key in full: %s", err);
    }
    /* Not UTF-8. */
    flx_client *c = flx_client_new("flx_live_\xff\xfe");
    CHECK(c == NULL && *flx_last_error() != '\0');
    flx_client_free(c);

    /* NULL: the key comes from FLUXIMAGE_API_KEY. */
    char *saved = getenv("FLUXIMAGE_API_KEY") ? strdup(getenv("FLUXIMAGE_API_KEY")) : NULL;
    unsetenv("FLUXIMAGE_API_KEY");
    c = flx_client_new(NULL);
    CHECK(c == NULL);
    CHECK_MSG(contains(flx_last_error(), "FLUXIMAGE_API_KEY"), "missing key message: %s", flx_last_error());
    flx_client_free(c);
    setenv("FLUXIMAGE_API_KEY", "flx_live_abc", 1);
    c = flx_client_new(NULL);
    CHECK(c == NULL && *flx_last_error() != '\0');
    flx_client_free(c);
    setenv("FLUXIMAGE_API_KEY", test_key(), 1);
    c = flx_client_new(NULL);
    CHECK_MSG(c != NULL, "key from FLUXIMAGE_API_KEY refused: %s", flx_last_error());
    CHECK(*flx_last_error() == '\0');
    if (c != NULL) {
        CHECK_STATUS(flx_client_set_base_url(c, test_base_url()), FLX_OK);
        flx_usage *u = NULL;
        CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_OK);
        CHECK(u != NULL && contains(flx_usage_plan(u), "agency"));
        flx_usage_free(u);
    }
    flx_client_free(c);
    if (saved) {
        setenv("FLUXIMAGE_API_KEY", saved, 1);
        free(saved);
    } else {
        unsetenv("FLUXIMAGE_API_KEY");
    }
}

/* A key that the server rejects: 401 on usage and compress, with an actionable message. */
static void check_rejected_key(const char *key) {
    flx_client *c = client_for(key);
    REQUIRE(c != NULL);
    flx_usage *u = (flx_usage *)(uintptr_t)0x1; /* must stay untouched */
    CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_UNAUTHORIZED);
    char err[512];
    snprintf(err, sizeof err, "%s", flx_last_error());
    CHECK_MSG(flx_last_http_status() == 401, "http status %d", (int)flx_last_http_status());
    CHECK_MSG(contains(err, "FLUXIMAGE_API_KEY"), "message does not point at FLUXIMAGE_API_KEY: %s", err);
    CHECK_MSG(!contains(err, key + 9), "message contains the key: %s", err);
    CHECK(u == (flx_usage *)(uintptr_t)0x1);

    char *path = make_png("key.png", 32, 32, 1);
    flx_batch *b = (flx_batch *)(uintptr_t)0x1;
    const char *paths[] = {path};
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_UNAUTHORIZED);
    CHECK(flx_last_http_status() == 401);
    /* The batch comes back with the item's own status (issue 13.1). */
    REQUIRE(b != NULL && b != (flx_batch *)(uintptr_t)0x1);
    CHECK_STATUS(flx_batch_status(b, 0), FLX_UNAUTHORIZED);
    flx_batch_free(b);
    free(path);
    flx_client_free(c);
}

static void test_unknown_key_401(void) { check_rejected_key(UNKNOWN_KEY); }

static void test_rolled_key_401(void) { check_rejected_key(env_required("FLX_TEST_ROLLED_KEY")); }

/* ---- formats and options --------------------------------------------------------------- */

static void test_every_format(void) {
    char *path = make_png("formats.png", side(240), side(160), 7);
    long in_size = file_size(path);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    for (int f = FLX_FORMAT_WEBP; f <= FLX_FORMAT_PNG; f++) {
        CHECK_STATUS(flx_options_set_format(o, f), FLX_OK);
        flx_batch *b = NULL;
        const char *paths[] = {path};
        CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_OK);
        if (b == NULL) continue;
        CHECK(flx_batch_len(b) == 1);
        CHECK_STATUS(flx_batch_status(b, 0), FLX_OK);
        const char *fmt = flx_batch_str(b, 0, FLX_FIELD_FORMAT);
        const char *name = flx_batch_str(b, 0, FLX_FIELD_NAME);
        CHECK_MSG(fmt != NULL && strcmp(fmt, FORMAT_NAMES[f]) == 0, "format %s, asked %s", str_or(fmt), FORMAT_NAMES[f]);
        char ext[16];
        snprintf(ext, sizeof ext, ".%s", FORMAT_NAMES[f]);
        CHECK_MSG(name != NULL && ends_with(name, ext) && strncmp(name, "formats", 7) == 0, "result name %s", str_or(name));
        CHECK(flx_batch_num(b, 0, FLX_FIELD_ORIGINAL_SIZE) == in_size);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_WIDTH) == (int64_t)side(240));
        CHECK(flx_batch_num(b, 0, FLX_FIELD_HEIGHT) == (int64_t)side(160));
        CHECK(flx_batch_str(b, 0, FLX_FIELD_URL) != NULL);
        CHECK(flx_batch_str(b, 0, FLX_FIELD_EXPIRES_AT) != NULL);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_EXPIRES_UNIX) > (int64_t)time(NULL));
        CHECK(flx_batch_error(b, 0) == NULL);
        CHECK(flx_batch_json(b) != NULL && contains(flx_batch_json(b), FORMAT_NAMES[f]));
        uint8_t *data = NULL;
        size_t len = 0;
        CHECK_STATUS(flx_batch_fetch(c, b, 0, NULL, &data, &len), FLX_OK);
        const char *sniffed = data ? sniff_format(data, len) : NULL;
        CHECK_MSG(sniffed != NULL && strcmp(sniffed, FORMAT_NAMES[f]) == 0, "fetched %zu bytes of %s, asked %s", len,
                  str_or(sniffed), FORMAT_NAMES[f]);
        CHECK_MSG(flx_batch_num(b, 0, FLX_FIELD_SIZE) == (int64_t)len, "size field %lld, fetched %zu",
                  (long long)flx_batch_num(b, 0, FLX_FIELD_SIZE), len);
        if (f != FLX_FORMAT_PNG) /* lossy formats shrink a photo-like image */
            CHECK_MSG((long)len < in_size, "%s result %zu bytes is not smaller than the %ld-byte PNG", FORMAT_NAMES[f], len, in_size);
        flx_bytes_free(data, len);
        flx_batch_free(b);
    }
    flx_options_free(o);
    flx_client_free(c);
    free(path);
}

static void test_option_validation(void) {
    flx_options *o = flx_options_new();
    REQUIRE(o != NULL);
    const uint32_t bad_q[] = {0, 39, 101, 1000};
    for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++) {
        CHECK_STATUS(flx_options_set_quality(o, bad_q[i]), FLX_INVALID_ARGUMENT);
        CHECK_MSG(contains(flx_last_error(), "quality"), "quality %u: message %s", bad_q[i], flx_last_error());
    }
    CHECK_STATUS(flx_options_set_quality(o, 40), FLX_OK);
    CHECK(*flx_last_error() == '\0');
    CHECK_STATUS(flx_options_set_quality(o, 100), FLX_OK);
    const int bad_f[] = {-1, 4, 99};
    for (size_t i = 0; i < sizeof bad_f / sizeof bad_f[0]; i++) {
        CHECK_STATUS(flx_options_set_format(o, bad_f[i]), FLX_INVALID_ARGUMENT);
        CHECK_MSG(contains(flx_last_error(), "format"), "format %d: message %s", bad_f[i], flx_last_error());
    }
    CHECK_STATUS(flx_options_set_max_size(o, 65536, 0), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_max_size(o, 0, 65536), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_max_size(o, 65535, 65535), FLX_OK);
    CHECK_STATUS(flx_options_set_max_size(o, 0, 0), FLX_OK);
    char *wm = make_png("wm.png", 16, 16, 3);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 4, 50, FLX_POS_BR), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 51, 50, FLX_POS_BR), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 20, 101, FLX_POS_BR), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 20, 50, 9), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 20, 50, -1), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 5, 0, FLX_POS_TL), FLX_OK);
    CHECK_STATUS(flx_options_set_watermark(o, NULL, 0, 0, 0), FLX_OK);
    CHECK_STATUS(flx_options_set_session_id(o, "s_c_test"), FLX_OK);
    CHECK_STATUS(flx_options_set_session_id(o, "\xff"), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_session_id(o, NULL), FLX_OK);
    CHECK_STATUS(flx_options_set_ai(o, true, false), FLX_OK);
    CHECK_STATUS(flx_options_set_ai(o, false, false), FLX_OK);
    /* Setters touch no file: a watermark made later is checked when a compress starts. */
    char *later = tpath("wm-made-later.png");
    unlink(later);
    CHECK_STATUS(flx_options_set_watermark(o, later, 20, 50, FLX_POS_BR), FLX_OK);
    CHECK_STATUS(flx_options_set_quality(o, 70), FLX_OK);
    CHECK_STATUS(flx_options_set_max_size(o, 100, 100), FLX_OK);
    CHECK_STATUS(flx_options_set_session_id(o, "s_later"), FLX_OK);
    free(later);
    free(wm);
    flx_options_free(o);
}

static void test_client_settings(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    CHECK_STATUS(flx_client_set_base_url(c, "http://example.com"), FLX_INVALID_ARGUMENT);
    CHECK_MSG(contains(flx_last_error(), "https"), "plain-http message: %s", flx_last_error());
    CHECK_STATUS(flx_client_set_base_url(c, "not a url"), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_client_set_base_url(c, "https://fluximage.app"), FLX_OK);
    CHECK_STATUS(flx_client_set_base_url(c, "http://localhost:1"), FLX_OK);
    CHECK_STATUS(flx_client_set_base_url(c, test_base_url()), FLX_OK);
    CHECK_STATUS(flx_client_set_timeouts(c, 5000, 0, 0), FLX_OK);
    CHECK_STATUS(flx_client_set_retries(c, 0), FLX_OK);
    CHECK_STATUS(flx_client_set_retries(c, 11), FLX_INVALID_ARGUMENT);
    CHECK_MSG(contains(flx_last_error(), "between 0 and 10"), "retries message: %s", flx_last_error());
    CHECK_STATUS(flx_client_set_retry_after_upload(c, true), FLX_OK);
    CHECK_STATUS(flx_client_set_concurrency(c, 0), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_client_set_concurrency(c, 17), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_client_set_concurrency(c, 16), FLX_OK);
    CHECK_STATUS(flx_client_set_user_agent(c, "c-tests/1.0"), FLX_OK);
    CHECK_STATUS(flx_client_set_user_agent(c, NULL), FLX_OK);
    CHECK_STATUS(flx_client_set_proxy(c, NULL), FLX_OK);
    char *missing = tpath("no-such-ca.pem");
    CHECK_STATUS(flx_client_set_ca_file(c, missing), FLX_IO);
    char *notpem = tpath("not-a-ca.pem");
    write_file(notpem, "hello\n", 6);
    CHECK_STATUS(flx_client_set_ca_file(c, notpem), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_client_set_ca_file(c, NULL), FLX_OK);
    /* The client still works after all that. */
    flx_usage *u = NULL;
    CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_OK);
    flx_usage_free(u);
    free(missing);
    free(notpem);
    flx_client_free(c);
}

static void test_max_size_downscales(void) {
    uint32_t w = side(320), h = side(240); /* 4:3 */
    uint32_t limit = w / 3;                /* fits in limit x limit: width-bound */
    char *path = make_png("big.png", w, h, 11);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    CHECK_STATUS(flx_options_set_format(o, FLX_FORMAT_PNG), FLX_OK);
    CHECK_STATUS(flx_options_set_max_size(o, limit, limit), FLX_OK);
    const char *paths[] = {path};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_OK);
    if (b != NULL) {
        int64_t rw = flx_batch_num(b, 0, FLX_FIELD_WIDTH), rh = flx_batch_num(b, 0, FLX_FIELD_HEIGHT);
        CHECK_MSG(rw > 0 && rh > 0 && rw <= limit && rh <= limit, "%lldx%lld does not fit %ux%u", (long long)rw,
                  (long long)rh, limit, limit);
        CHECK_MSG(rw == limit, "width %lld, expected the limit %u (proportional fit)", (long long)rw, limit);
        int64_t want_h = (int64_t)h * limit / w;
        CHECK_MSG(rh >= want_h - 1 && rh <= want_h + 1, "height %lld, proportional would be %lld", (long long)rh,
                  (long long)want_h);
        uint8_t *data = NULL;
        size_t len = 0;
        uint32_t pw = 0, ph = 0;
        CHECK_STATUS(flx_batch_fetch(c, b, 0, NULL, &data, &len), FLX_OK);
        CHECK(data != NULL && png_dimensions(data, len, &pw, &ph) == 0);
        CHECK_MSG((int64_t)pw == rw && (int64_t)ph == rh, "image is %ux%u, fields say %lldx%lld", pw, ph, (long long)rw,
                  (long long)rh);
        flx_bytes_free(data, len);
        flx_batch_free(b);
    }
    /* Never enlarges. */
    CHECK_STATUS(flx_options_set_max_size(o, w * 4, 0), FLX_OK);
    b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_OK);
    if (b != NULL) {
        CHECK(flx_batch_num(b, 0, FLX_FIELD_WIDTH) == (int64_t)w);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_HEIGHT) == (int64_t)h);
        flx_batch_free(b);
    }
    flx_options_free(o);
    flx_client_free(c);
    free(path);
}

/* ---- local validation ------------------------------------------------------------------ */

static void test_local_checks_cost_nothing(void) {
    char *empty = tpath("empty.png");
    char *missing = tpath("missing.png");
    char *huge = tpath("huge.png");
    char *good = make_png("good.png", side(96), side(64), 5);
    write_file(empty, "", 0);
    unlink(missing);
    int fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)FLX_MAX_FILE_BYTES + 1) == 0); /* sparse: no disk used */
    if (fd >= 0) close(fd);

    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    long credits0 = stats_credits(test_key());
    long requests0 = stats_compress_requests();
    REQUIRE(credits0 >= 0 && requests0 >= 0);

    /* Only invalid files: the call fails (the first failure, and the message says all failed),
     * nothing is sent, and the batch still says which file failed and why (issue 13.1). */
    const char *bad[] = {empty, missing, huge};
    flx_batch *b = (flx_batch *)(uintptr_t)0x1;
    flx_status st = flx_compress(c, bad, 3, NULL, &b);
    CHECK_MSG(st == FLX_INVALID_ARGUMENT, "three invalid files gave %s", flx_status_str(st));
    CHECK_MSG(contains(flx_last_error(), "all 3 images failed"), "message: %s", flx_last_error());
    REQUIRE(b != NULL && b != (flx_batch *)(uintptr_t)0x1);
    CHECK(flx_batch_len(b) == 3);
    CHECK_STATUS(flx_batch_status(b, 0), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_batch_status(b, 1), FLX_IO);
    CHECK_STATUS(flx_batch_status(b, 2), FLX_TOO_LARGE);
    CHECK(contains(flx_batch_error(b, 2), "20 MB"));
    flx_batch_free(b);
    CHECK_MSG(stats_compress_requests() == requests0, "a compress request was sent for files that cannot succeed");
    CHECK(stats_credits(test_key()) == credits0);

    /* Mixed with a good one: each invalid file fails its own item, only the good one is paid. */
    const char *mixed[] = {empty, missing, huge, good};
    b = NULL;
    CHECK_STATUS(flx_compress(c, mixed, 4, NULL, &b), FLX_PARTIAL);
    REQUIRE(b != NULL);
    CHECK(flx_batch_len(b) == 4);
    CHECK_STATUS(flx_batch_status(b, 0), FLX_INVALID_ARGUMENT);
    CHECK(contains(flx_batch_error(b, 0), "empty"));
    CHECK_STATUS(flx_batch_status(b, 1), FLX_IO);
    CHECK(flx_batch_error(b, 1) != NULL);
    CHECK_STATUS(flx_batch_status(b, 2), FLX_TOO_LARGE);
    CHECK(flx_batch_error(b, 2) != NULL);
    CHECK_STATUS(flx_batch_status(b, 3), FLX_OK);
    for (size_t i = 0; i < 3; i++) {
        CHECK(flx_batch_str(b, i, FLX_FIELD_URL) == NULL);
        CHECK(flx_batch_num(b, i, FLX_FIELD_SIZE) == -1);
        CHECK(flx_batch_num(b, i, FLX_FIELD_HTTP_STATUS) == 0);
        CHECK(strcmp(str_or(flx_batch_str(b, i, FLX_FIELD_INPUT)), mixed[i]) == 0);
    }
    CHECK_MSG(stats_credits(test_key()) == credits0 + 1, "credits went from %ld to %ld for one valid image", credits0,
              stats_credits(test_key()));
    CHECK(stats_compress_requests() == requests0 + 1);
    flx_batch_free(b);
    flx_client_free(c);
    unlink(huge);
    free(empty);
    free(missing);
    free(huge);
    free(good);
}

/* ---- NULL arguments -------------------------------------------------------------------- */

/* expr must fail with FLX_INVALID_ARGUMENT and leave a message. */
#define CHECK_NULL_ARG(expr)                                                                          \
    do {                                                                                              \
        flx_status s_ = (expr);                                                                       \
        CHECK_MSG(s_ == FLX_INVALID_ARGUMENT, "%s returned %s, want invalid argument", #expr, flx_status_str(s_)); \
        CHECK_MSG(*flx_last_error() != '\0', "%s left no message", #expr);                            \
    } while (0)

/* expr (a pointer or number) must return `fail` and leave a message. */
#define CHECK_NULL_VAL(expr, fail)                                                                    \
    do {                                                                                              \
        CHECK_MSG((expr) == (fail), "%s did not return %s", #expr, #fail);                           \
        CHECK_MSG(*flx_last_error() != '\0', "%s left no message", #expr);                            \
    } while (0)

static void test_null_arguments(void) {
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    flx_cancel *k = flx_cancel_new();
    REQUIRE(c != NULL && o != NULL && k != NULL);
    char *path = make_png("null.png", 24, 24, 2);
    flx_batch *b = NULL;
    const char *paths[] = {path};
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    REQUIRE(b != NULL);
    uint8_t *data = NULL;
    size_t len = 0;
    flx_batch *bout = NULL;
    flx_usage *uout = NULL;

    /* batch accessors */
    CHECK_NULL_VAL(flx_batch_len(NULL), 0);
    CHECK_NULL_ARG(flx_batch_status(NULL, 0));
    CHECK_NULL_VAL(flx_batch_error(NULL, 0), NULL);
    CHECK_NULL_VAL(flx_batch_str(NULL, 0, FLX_FIELD_NAME), NULL);
    CHECK_NULL_VAL(flx_batch_num(NULL, 0, FLX_FIELD_SIZE), -1);
    CHECK_NULL_VAL(flx_batch_json(NULL), NULL);
    CHECK_NULL_VAL(flx_batch_session_id(NULL), NULL);
    /* out-of-range index and wrong field kinds */
    CHECK_NULL_ARG(flx_batch_status(b, 1));
    CHECK_NULL_VAL(flx_batch_error(b, 1), NULL);
    CHECK_NULL_VAL(flx_batch_str(b, 1, FLX_FIELD_NAME), NULL);
    CHECK_NULL_VAL(flx_batch_num(b, 1, FLX_FIELD_SIZE), -1);
    CHECK_NULL_VAL(flx_batch_str(b, 0, FLX_FIELD_SIZE), NULL);
    CHECK_NULL_VAL(flx_batch_str(b, 0, -1), NULL);
    CHECK_NULL_VAL(flx_batch_num(b, 0, FLX_FIELD_NAME), -1);
    CHECK_NULL_VAL(flx_batch_num(b, 0, 999), -1);
    /* save and fetch */
    char *dir = fresh_dir("null-out");
    char *written = (char *)(uintptr_t)0x1;
    CHECK_NULL_ARG(flx_batch_save(NULL, b, 0, dir, FLX_EXISTS_ERROR, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, NULL, 0, dir, FLX_EXISTS_ERROR, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, b, 0, NULL, FLX_EXISTS_ERROR, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, b, 0, "", FLX_EXISTS_ERROR, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, b, 5, dir, FLX_EXISTS_ERROR, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, b, 0, dir, 3, NULL, &written));
    CHECK_NULL_ARG(flx_batch_save(c, b, 0, dir, -1, NULL, &written));
    CHECK_MSG(written == (char *)(uintptr_t)0x1, "path_out was written by a failed save");
    CHECK(dir_count(dir) == 0);
    CHECK_NULL_ARG(flx_batch_fetch(NULL, b, 0, NULL, &data, &len));
    CHECK_NULL_ARG(flx_batch_fetch(c, NULL, 0, NULL, &data, &len));
    CHECK_NULL_ARG(flx_batch_fetch(c, b, 0, NULL, NULL, &len));
    CHECK_NULL_ARG(flx_batch_fetch(c, b, 0, NULL, &data, NULL));
    CHECK_NULL_ARG(flx_batch_fetch(c, b, 3, NULL, &data, &len));
    CHECK(data == NULL && len == 0);
    /* client */
    CHECK_NULL_ARG(flx_client_set_base_url(NULL, test_base_url()));
    CHECK_NULL_ARG(flx_client_set_base_url(c, NULL));
    CHECK_NULL_ARG(flx_client_set_timeouts(NULL, 1, 1, 1));
    CHECK_NULL_ARG(flx_client_set_proxy(NULL, NULL));
    CHECK_NULL_ARG(flx_client_set_ca_file(NULL, NULL));
    CHECK_NULL_ARG(flx_client_set_retries(NULL, 1));
    CHECK_NULL_ARG(flx_client_set_retry_after_upload(NULL, true));
    CHECK_NULL_ARG(flx_client_set_concurrency(NULL, 2));
    CHECK_NULL_ARG(flx_client_set_user_agent(NULL, "x"));
    /* compress calls */
    CHECK_NULL_ARG(flx_compress(NULL, paths, 1, NULL, &bout));
    CHECK_NULL_ARG(flx_compress(c, NULL, 1, NULL, &bout));
    CHECK_NULL_ARG(flx_compress(c, paths, 1, NULL, NULL));
    CHECK_NULL_ARG(flx_compress(c, paths, 0, NULL, &bout));
    const char *with_null[] = {path, NULL};
    CHECK_NULL_ARG(flx_compress(c, with_null, 2, NULL, &bout));
    flx_input in_bad[1] = {{NULL, NULL, 0, NULL}};
    CHECK_NULL_ARG(flx_compress_inputs(NULL, in_bad, 1, NULL, &bout));
    CHECK_NULL_ARG(flx_compress_inputs(c, NULL, 1, NULL, &bout));
    CHECK_NULL_ARG(flx_compress_inputs(c, in_bad, 1, NULL, &bout));
    flx_input in_ok[1] = {{path, NULL, 0, NULL}};
    CHECK_NULL_ARG(flx_compress_inputs(c, in_ok, 1, NULL, NULL));
    flx_input in_data_no_name[1] = {{NULL, (const uint8_t *)"abc", 3, NULL}};
    CHECK_NULL_ARG(flx_compress_inputs(c, in_data_no_name, 1, NULL, &bout));
    const uint8_t bytes[4] = {1, 2, 3, 4};
    CHECK_NULL_ARG(flx_compress_buffer(NULL, bytes, 4, "a.png", NULL, &bout));
    CHECK_NULL_ARG(flx_compress_buffer(c, NULL, 4, "a.png", NULL, &bout));
    CHECK_NULL_ARG(flx_compress_buffer(c, bytes, 4, NULL, NULL, &bout));
    CHECK_NULL_ARG(flx_compress_buffer(c, bytes, 4, "a.png", NULL, NULL));
    CHECK(bout == NULL);
    char *out = tpath("null-out.webp");
    CHECK_NULL_ARG(flx_compress_file(NULL, path, out, NULL));
    CHECK_NULL_ARG(flx_compress_file(c, NULL, out, NULL));
    CHECK_NULL_ARG(flx_compress_file(c, path, NULL, NULL));
    CHECK(file_size(out) == -1);
    /* options and cancel */
    CHECK_NULL_ARG(flx_options_set_format(NULL, FLX_FORMAT_WEBP));
    CHECK_NULL_ARG(flx_options_set_quality(NULL, 80));
    CHECK_NULL_ARG(flx_options_set_max_size(NULL, 10, 10));
    CHECK_NULL_ARG(flx_options_set_session_id(NULL, "s"));
    CHECK_NULL_ARG(flx_options_set_watermark(NULL, path, 20, 50, FLX_POS_BR));
    CHECK_NULL_ARG(flx_options_set_ai(NULL, false, false));
    CHECK_NULL_ARG(flx_options_set_progress(NULL, NULL, NULL));
    CHECK_NULL_ARG(flx_options_set_cancel(NULL, k));
    CHECK_STATUS(flx_options_set_cancel(o, NULL), FLX_OK); /* NULL detaches: allowed */
    CHECK_STATUS(flx_options_set_progress(o, NULL, NULL), FLX_OK);
    CHECK_NULL_ARG(flx_cancel_trigger(NULL));
    /* usage */
    CHECK_NULL_ARG(flx_usage_get(NULL, NULL, &uout));
    CHECK_NULL_ARG(flx_usage_get(c, NULL, NULL));
    CHECK(uout == NULL);
    CHECK_NULL_VAL(flx_usage_plan(NULL), NULL);
    CHECK_NULL_VAL(flx_usage_num(NULL, FLX_USAGE_COMPRESSIONS_USED), -1);
    CHECK_NULL_VAL(flx_usage_json(NULL), NULL);

    free(out);
    free(dir);
    free(path);
    flx_batch_free(b);
    flx_cancel_free(k);
    flx_options_free(o);
    flx_client_free(c);
}

/* ---- batches --------------------------------------------------------------------------- */

static void test_batch_of_25_with_broken(void) {
    enum { N = 25, BROKEN = 13 };
    char *paths[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        if (i == BROKEN) {
            snprintf(name, sizeof name, "broken.png");
            paths[i] = tpath(name);
            const char garbage[] = "this is not an image at all, just some bytes \x01\x02\x03";
            CHECK(write_file(paths[i], garbage, sizeof garbage) == 0);
        } else {
            snprintf(name, sizeof name, "b%02d.png", i);
            paths[i] = make_png(name, side(64) + (uint32_t)i, side(48), (uint32_t)i);
        }
    }
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, (const char *const *)paths, N, NULL, &b), FLX_PARTIAL);
    if (b != NULL) {
        CHECK(flx_batch_len(b) == N);
        for (size_t i = 0; i < N && i < flx_batch_len(b); i++) {
            const char *input = flx_batch_str(b, i, FLX_FIELD_INPUT);
            CHECK_MSG(input != NULL && strcmp(input, paths[i]) == 0, "item %zu is %s, expected %s", i, str_or(input), paths[i]);
            const char *base = strrchr(paths[i], '/') + 1;
            if (i == BROKEN) {
                CHECK_STATUS(flx_batch_status(b, i), FLX_SERVER);
                CHECK_MSG(contains(flx_batch_error(b, i), "decode"), "broken item error: %s", str_or(flx_batch_error(b, i)));
                CHECK(flx_batch_str(b, i, FLX_FIELD_URL) == NULL);
            } else {
                CHECK_STATUS(flx_batch_status(b, i), FLX_OK);
                const char *orig = flx_batch_str(b, i, FLX_FIELD_ORIGINAL_NAME);
                CHECK_MSG(orig != NULL && strcmp(orig, base) == 0, "item %zu original name %s, expected %s", i, str_or(orig), base);
                CHECK(flx_batch_num(b, i, FLX_FIELD_WIDTH) == (int64_t)(side(64) + (uint32_t)i));
                CHECK(flx_batch_error(b, i) == NULL);
            }
        }
        /* Two requests (20 + 5): the raw answers come as a JSON array of both. */
        const char *json = flx_batch_json(b);
        CHECK_MSG(json != NULL && json[0] == '[', "raw JSON of a split batch: %.60s", str_or(json));
        flx_batch_free(b);
    }
    flx_client_free(c);
    for (int i = 0; i < N; i++) free(paths[i]);
}

static void test_batch_save(void) {
    char *p1 = make_png("save-a.png", side(120), side(90), 21);
    char *p2 = make_png("save-b.png", side(120), side(90), 22);
    char *broken = tpath("save-broken.png");
    write_file(broken, "nope", 4);
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    const char *paths[] = {p1, p2, broken};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 3, NULL, &b), FLX_PARTIAL);
    REQUIRE(b != NULL);

    /* Into a folder: named after the result; the path written comes back. */
    char *dir = fresh_dir("save-dir");
    char *written = NULL;
    CHECK_STATUS(flx_batch_save(c, b, 0, dir, FLX_EXISTS_ERROR, NULL, &written), FLX_OK);
    const char *name = flx_batch_str(b, 0, FLX_FIELD_NAME);
    REQUIRE(name != NULL);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *saved = malloc(n);
    snprintf(saved, n, "%s/%s", dir, name);
    CHECK_MSG(written != NULL && strcmp(written, saved) == 0, "path_out %s, expected %s", str_or(written), saved);
    flx_string_free(written);
    size_t len = 0;
    uint8_t *data = read_file(saved, &len);
    CHECK_MSG(data != NULL, "%s was not written", saved);
    CHECK(data != NULL && sniff_format(data, len) != NULL && strcmp(sniff_format(data, len), "webp") == 0);
    CHECK((int64_t)len == flx_batch_num(b, 0, FLX_FIELD_SIZE));
    CHECK(flx_batch_num(b, 0, FLX_FIELD_WIDTH) == (int64_t)side(120));
    free(data);
    CHECK_MSG(dir_count(dir) == 1, "%d entries in the folder, expected only the result", dir_count(dir));

    /* Issue 12.1: a file already there is never replaced unless asked (path_out may be NULL). */
    char *file = tpath("save-dir/custom.bin");
    write_file(file, "old", 3);
    flx_status st = flx_batch_save(c, b, 1, file, FLX_EXISTS_ERROR, NULL, NULL);
    CHECK_MSG(st == FLX_EXISTS, "saving over an existing file gave %s", flx_status_str(st));
    CHECK_MSG(contains(flx_last_error(), "custom.bin already exists"), "message: %s", flx_last_error());
    data = read_file(file, &len);
    CHECK(data != NULL && len == 3 && memcmp(data, "old", 3) == 0);
    free(data);
    written = NULL;
    CHECK_STATUS(flx_batch_save(c, b, 1, file, FLX_EXISTS_RENAME, NULL, &written), FLX_OK);
    CHECK_MSG(written != NULL && contains(written, "custom-2.bin"), "renamed to %s", str_or(written));
    flx_string_free(written);
    CHECK_STATUS(flx_batch_save(c, b, 1, file, FLX_EXISTS_OVERWRITE, NULL, NULL), FLX_OK);
    data = read_file(file, &len);
    CHECK(data != NULL && len > 3 && sniff_format(data, len) != NULL);
    free(data);
    CHECK(dir_count(dir) == 3);

    /* Results of one batch never replace each other, even under FLX_EXISTS_OVERWRITE. */
    st = flx_batch_save(c, b, 1, saved, FLX_EXISTS_OVERWRITE, NULL, NULL);
    CHECK_MSG(st == FLX_EXISTS, "a sibling's result was replaced: %s", flx_status_str(st));
    CHECK(contains(flx_last_error(), "another result of this batch"));

    /* Issue 12.2: a missing folder is created (a trailing / names a folder). */
    char *nodir = tpath("no-such-folder/deeper/");
    written = NULL;
    CHECK_STATUS(flx_batch_save(c, b, 0, nodir, FLX_EXISTS_ERROR, NULL, &written), FLX_OK);
    CHECK_MSG(written != NULL && file_size(written) > 0, "saved into a new folder as %s", str_or(written));
    flx_string_free(written);

    /* Never over the item's own input, under any policy. */
    size_t before_len = 0;
    uint8_t *before = read_file(p1, &before_len);
    CHECK_STATUS(flx_batch_save(c, b, 0, p1, FLX_EXISTS_OVERWRITE, NULL, NULL), FLX_INVALID_ARGUMENT);
    size_t after_len = 0;
    uint8_t *after = read_file(p1, &after_len);
    CHECK(before && after && before_len == after_len && memcmp(before, after, before_len) == 0);
    free(before);
    free(after);

    /* A failed item: its own status, nothing written. */
    CHECK_STATUS(flx_batch_save(c, b, 2, dir, FLX_EXISTS_ERROR, NULL, NULL), FLX_SERVER);
    CHECK(dir_count(dir) == 3);

    free(nodir);
    free(file);
    free(saved);
    free(dir);
    flx_batch_free(b);
    flx_client_free(c);
    free(p1);
    free(p2);
    free(broken);
}

/* flx_options_set_output(): results saved into a folder as their requests answer; a name that
 * is taken is refused before the image is paid for. */
static void test_compress_into_folder(void) {
    char *p1 = make_png("into-a.png", side(120), side(90), 31);
    char *p2 = make_png("into-b.png", side(120), side(90), 32);
    char *dir = fresh_dir("into-out");
    char *taken = tpath("into-out/into-b.webp");
    write_file(taken, "mine", 4);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    CHECK_STATUS(flx_options_set_output(o, dir, 7), FLX_INVALID_ARGUMENT);
    CHECK(contains(flx_last_error(), "flx_exists"));
    CHECK_STATUS(flx_options_set_output(o, "", FLX_EXISTS_ERROR), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_output(NULL, dir, FLX_EXISTS_ERROR), FLX_INVALID_ARGUMENT);
    CHECK_STATUS(flx_options_set_output(o, dir, FLX_EXISTS_ERROR), FLX_OK);

    long credits0 = stats_credits(test_key());
    const char *paths[] = {p1, p2};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 2, o, &b), FLX_PARTIAL);
    REQUIRE(b != NULL);
    CHECK_MSG(stats_credits(test_key()) == credits0 + 1, "credits went from %ld to %ld", credits0, stats_credits(test_key()));

    /* Item 0: saved, and FLX_FIELD_PATH says where. */
    CHECK_STATUS(flx_batch_status(b, 0), FLX_OK);
    const char *path = flx_batch_str(b, 0, FLX_FIELD_PATH);
    CHECK_MSG(path != NULL && ends_with(path, "into-out/into-a.webp"), "saved to %s", str_or(path));
    size_t len = 0;
    uint8_t *data = path ? read_file(path, &len) : NULL;
    CHECK(data != NULL && sniff_format(data, len) != NULL && strcmp(sniff_format(data, len), "webp") == 0);
    CHECK((int64_t)len == flx_batch_num(b, 0, FLX_FIELD_SIZE));
    CHECK(flx_batch_num(b, 0, FLX_FIELD_WIDTH) == (int64_t)side(120));
    free(data);

    /* Item 1: its name was taken, so it was not sent; the file there is untouched. */
    CHECK_STATUS(flx_batch_status(b, 1), FLX_EXISTS);
    CHECK_MSG(contains(flx_batch_error(b, 1), "not sent"), "error: %s", str_or(flx_batch_error(b, 1)));
    CHECK(flx_batch_str(b, 1, FLX_FIELD_PATH) == NULL);
    data = read_file(taken, &len);
    CHECK(data != NULL && len == 4 && memcmp(data, "mine", 4) == 0);
    free(data);
    CHECK_MSG(dir_count(dir) == 2, "%d entries, expected the result and the file that was there", dir_count(dir));
    CHECK(flx_batch_num(b, 0, FLX_FIELD_PATH) == -1 && contains(flx_last_error(), "not a numeric"));
    flx_batch_free(b);

    /* Without an output folder nothing is saved and FLX_FIELD_PATH is NULL. */
    CHECK_STATUS(flx_options_set_output(o, NULL, FLX_EXISTS_ERROR), FLX_OK);
    b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_OK);
    CHECK(b != NULL && flx_batch_str(b, 0, FLX_FIELD_PATH) == NULL);
    CHECK(dir_count(dir) == 2);

    flx_batch_free(b);
    flx_options_free(o);
    flx_client_free(c);
    free(taken);
    free(dir);
    free(p1);
    free(p2);
}

static void test_batch_fetch(void) {
    char *p = make_png("fetch.png", side(100), side(80), 31);
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    const char *paths[] = {p};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    REQUIRE(b != NULL);
    uint8_t *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK_STATUS(flx_batch_fetch(c, b, 0, NULL, &d1, &l1), FLX_OK);
    CHECK_STATUS(flx_batch_fetch(c, b, 0, NULL, &d2, &l2), FLX_OK); /* a URL may be fetched again */
    CHECK(d1 != NULL && d2 != NULL && l1 > 0 && l1 == l2 && memcmp(d1, d2, l1) == 0);
    CHECK(d1 != NULL && sniff_format(d1, l1) != NULL);
    flx_bytes_free(d1, l1);
    flx_bytes_free(d2, l2);
    /* The download carries no key: the emulator counts Authorization headers it sees there. */
    char *stats = NULL;
    CHECK(control_request("GET", "/__control/stats", NULL, &stats) == 200);
    CHECK_MSG(contains(stats, "\"authorization_seen\":{\"download\":0"), "stats: %.200s", str_or(stats));
    free(stats);
    flx_batch_free(b);
    flx_client_free(c);
    free(p);
}

static void test_compress_buffer(void) {
    size_t len = 0;
    uint8_t *png = png_make(side(128), side(96), 0, 41, &len);
    REQUIRE(png != NULL);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    CHECK_STATUS(flx_options_set_format(o, FLX_FORMAT_JPG), FLX_OK);
    CHECK_STATUS(flx_options_set_session_id(o, "s_ctest_buffer"), FLX_OK);
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress_buffer(c, png, len, "memory.png", o, &b), FLX_OK);
    free(png); /* the library copied it */
    if (b != NULL) {
        CHECK(flx_batch_len(b) == 1);
        CHECK(strcmp(str_or(flx_batch_str(b, 0, FLX_FIELD_INPUT)), "memory.png") == 0);
        CHECK(strcmp(str_or(flx_batch_str(b, 0, FLX_FIELD_NAME)), "memory.jpg") == 0);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_ORIGINAL_SIZE) == (int64_t)len);
        CHECK_MSG(strcmp(str_or(flx_batch_session_id(b)), "s_ctest_buffer") == 0, "session id %s",
                  str_or(flx_batch_session_id(b)));
        uint8_t *d = NULL;
        size_t dl = 0;
        CHECK_STATUS(flx_batch_fetch(c, b, 0, NULL, &d, &dl), FLX_OK);
        CHECK(d != NULL && strcmp(str_or(sniff_format(d, dl)), "jpg") == 0);
        flx_bytes_free(d, dl);
        flx_batch_free(b);
    }
    /* An empty buffer is refused before anything is sent. */
    b = NULL;
    CHECK_STATUS(flx_compress_buffer(c, (const uint8_t *)"", 0, "empty.png", NULL, &b), FLX_INVALID_ARGUMENT);
    CHECK(b == NULL);
    /* Bytes that are no image: the call fails with the item's status, and the batch says why. */
    const uint8_t junk[] = "GIF89a but not really";
    CHECK_STATUS(flx_compress_buffer(c, junk, sizeof junk, "junk.gif", NULL, &b), FLX_SERVER);
    CHECK(b != NULL);
    if (b != NULL) {
        CHECK_STATUS(flx_batch_status(b, 0), FLX_SERVER);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_HTTP_STATUS) >= 0);
        flx_batch_free(b);
    }
    /* A mix of a path and a buffer, in order. */
    char *p = make_png("mixed.png", side(64), side(64), 42);
    size_t l2 = 0;
    uint8_t *png2 = png_make(side(48), side(48), 1, 43, &l2);
    flx_input inputs[2] = {{NULL, png2, l2, "second.png"}, {p, NULL, 0, NULL}};
    b = NULL;
    CHECK_STATUS(flx_compress_inputs(c, inputs, 2, NULL, &b), FLX_OK);
    free(png2);
    if (b != NULL) {
        CHECK(flx_batch_len(b) == 2);
        CHECK(strcmp(str_or(flx_batch_str(b, 0, FLX_FIELD_INPUT)), "second.png") == 0);
        CHECK(strcmp(str_or(flx_batch_str(b, 1, FLX_FIELD_INPUT)), p) == 0);
        CHECK(flx_batch_num(b, 0, FLX_FIELD_WIDTH) == (int64_t)side(48));
        CHECK(flx_batch_num(b, 1, FLX_FIELD_WIDTH) == (int64_t)side(64));
        flx_batch_free(b);
    }
    flx_input both[1] = {{p, (const uint8_t *)"x", 1, "x.png"}};
    b = NULL;
    CHECK_STATUS(flx_compress_inputs(c, both, 1, NULL, &b), FLX_INVALID_ARGUMENT);
    CHECK(b == NULL);
    free(p);
    flx_options_free(o);
    flx_client_free(c);
}

static void test_compress_file(void) {
    char *dir = fresh_dir("cfile");
    char *in = tpath("cfile/photo.png");
    REQUIRE(png_write_file(in, side(160), side(120), 0, 51) > 0);
    size_t in_len = 0;
    uint8_t *in_bytes = read_file(in, &in_len);
    REQUIRE(in_bytes != NULL);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    CHECK_STATUS(flx_options_set_format(o, FLX_FORMAT_AVIF), FLX_OK);

    char *out = tpath("cfile/photo.avif");
    CHECK_STATUS(flx_compress_file(c, in, out, o), FLX_OK);
    size_t len = 0;
    uint8_t *data = read_file(out, &len);
    CHECK(data != NULL && strcmp(str_or(sniff_format(data, len)), "avif") == 0);
    free(data);
    CHECK_MSG(dir_count(dir) == 2, "%d entries: a temporary file was left behind", dir_count(dir));

    /* The output may not be the input, however it is spelled; the input is untouched. */
    long credits0 = stats_credits(test_key());
    CHECK_STATUS(flx_compress_file(c, in, in, o), FLX_INVALID_ARGUMENT);
    CHECK(contains(flx_last_error(), "input"));
    char *alias = tpath("cfile/./photo.png");
    CHECK_STATUS(flx_compress_file(c, in, alias, o), FLX_INVALID_ARGUMENT);
    size_t now_len = 0;
    uint8_t *now = read_file(in, &now_len);
    CHECK(now != NULL && now_len == in_len && memcmp(now, in_bytes, in_len) == 0);
    free(now);
    /* An output folder that cannot be made is found before anything is uploaded. */
    char *plain = tpath("cfile/plain");
    write_file(plain, "a file", 6);
    char *lost = tpath("cfile/plain/photo.avif");
    flx_status st = flx_compress_file(c, in, lost, o);
    CHECK_MSG(st == FLX_IO, "a file as the output folder gave %s", flx_status_str(st));
    CHECK(contains(flx_last_error(), "plain"));
    CHECK(stats_credits(test_key()) == credits0);
    free(plain);

    /* An image that fails leaves an existing output untouched. */
    char *broken = tpath("cfile/broken.png");
    write_file(broken, "garbage garbage", 15);
    char *keep = tpath("cfile/keep.avif");
    write_file(keep, "previous result", 15);
    CHECK_STATUS(flx_compress_file(c, broken, keep, o), FLX_SERVER);
    data = read_file(keep, &len);
    CHECK(data != NULL && len == 15 && memcmp(data, "previous result", 15) == 0);
    free(data);
    CHECK_MSG(dir_count(dir) == 5, "%d entries after a failure: a temporary file was left behind", dir_count(dir));
    /* A missing output folder is created, as for every save (issue 12.2). */
    char *deep = tpath("cfile/made/here/photo.avif");
    CHECK_STATUS(flx_compress_file(c, in, deep, o), FLX_OK);
    CHECK(file_size(deep) > 0);
    free(deep);

    free(keep);
    free(broken);
    free(lost);
    free(alias);
    free(out);
    free(in_bytes);
    free(in);
    free(dir);
    flx_options_free(o);
    flx_client_free(c);
}

/* ---- usage ----------------------------------------------------------------------------- */

static void test_usage_moves(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    flx_usage *u = NULL;
    CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_OK);
    REQUIRE(u != NULL);
    CHECK(strcmp(str_or(flx_usage_plan(u)), "agency") == 0);
    int64_t used0 = flx_usage_num(u, FLX_USAGE_COMPRESSIONS_USED);
    CHECK(used0 >= 0);
    CHECK(flx_usage_num(u, FLX_USAGE_COMPRESSIONS_LIMIT) == 99999);
    CHECK(flx_usage_num(u, FLX_USAGE_CAN_COMPRESS) == 1);
    CHECK(flx_usage_num(u, FLX_USAGE_CAN_USE_AI) == 1);
    CHECK(flx_usage_num(u, FLX_USAGE_AI_CREDITS_MONTHLY) == 10000);
    CHECK(flx_usage_num(u, FLX_USAGE_AI_CREDITS_REMAINING) ==
          flx_usage_num(u, FLX_USAGE_AI_CREDITS_MONTHLY) - flx_usage_num(u, FLX_USAGE_AI_CREDITS_USED) +
              flx_usage_num(u, FLX_USAGE_AI_TOPUP_CREDITS));
    CHECK(contains(flx_usage_json(u), "compressor_used"));
    CHECK(flx_usage_num(u, 99) == -1 && *flx_last_error() != '\0');
    CHECK(flx_usage_num(u, -1) == -1);
    flx_usage_free(u);

    char *p1 = make_png("usage1.png", 40, 30, 61);
    char *p2 = make_png("usage2.png", 40, 30, 62);
    const char *paths[] = {p1, p2};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 2, NULL, &b), FLX_OK);
    flx_batch_free(b);
    u = NULL;
    CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_OK);
    REQUIRE(u != NULL);
    int64_t used1 = flx_usage_num(u, FLX_USAGE_COMPRESSIONS_USED);
    CHECK_MSG(used1 == used0 + 2, "compressions used went from %lld to %lld after 2 images", (long long)used0,
              (long long)used1);
    flx_usage_free(u);
    free(p1);
    free(p2);
    flx_client_free(c);
}

static void test_free_plan_watermark_forbidden(void) {
    flx_client *c = client_for(env_required("FLX_TEST_FREE_KEY"));
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    char *wm = make_png("wm-free.png", 16, 16, 71);
    char *p = make_png("free.png", 32, 32, 72);
    CHECK_STATUS(flx_options_set_watermark(o, wm, 20, 80, FLX_POS_BR), FLX_OK);
    const char *paths[] = {p};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_FORBIDDEN);
    CHECK(flx_last_http_status() == 403);
    REQUIRE(b != NULL);
    CHECK_STATUS(flx_batch_status(b, 0), FLX_FORBIDDEN);
    CHECK(flx_batch_num(b, 0, FLX_FIELD_HTTP_STATUS) == 403);
    flx_batch_free(b);
    free(wm);
    free(p);
    flx_options_free(o);
    flx_client_free(c);
}

/* ---- server faults: statuses, HTTP codes, Retry-After ------------------------------------ */

static void test_server_faults(void) {
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    CHECK_STATUS(flx_client_set_retries(c, 0), FLX_OK);
    char *p = make_png("fault.png", 32, 32, 81);
    const char *paths[] = {p};
    flx_batch *b = NULL;

    REQUIRE(control_request("POST", "/__control/fault", "{\"mode\":\"429\",\"path\":\"compress\",\"count\":1,\"retry_after\":3}", NULL) == 200);
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_RATE_LIMITED);
    CHECK(flx_last_http_status() == 429);
    CHECK_MSG(flx_last_retry_after_ms() == 3000, "retry after %lld ms", (long long)flx_last_retry_after_ms());
    CHECK(b != NULL && flx_batch_status(b, 0) == FLX_RATE_LIMITED);
    flx_batch_free(b);
    b = NULL;

    REQUIRE(control_fault("503", "usage", 1, 0) == 0);
    flx_usage *u = NULL;
    CHECK_STATUS(flx_usage_get(c, NULL, &u), FLX_SERVER);
    CHECK(flx_last_http_status() == 503);
    CHECK(u == NULL);

    /* With retries, a transient 503 is invisible to the caller. */
    CHECK_STATUS(flx_client_set_retries(c, 2), FLX_OK);
    REQUIRE(control_fault("503", "compress", 1, 0) == 0);
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    CHECK(*flx_last_error() == '\0' && flx_last_http_status() == 0);
    flx_batch_free(b);
    free(p);
    flx_client_free(c);
}

/* ---- threads: flx_last_error is per thread ---------------------------------------------- */

typedef struct {
    flx_client *client;
    pthread_barrier_t *barrier;
    int make_fail_first;
    flx_status status;
    char error[512];
    int http;
} thread_job;

static void *usage_thread(void *arg) {
    thread_job *j = arg;
    pthread_barrier_wait(j->barrier);
    if (j->make_fail_first) flx_options_set_quality(NULL, 1); /* leaves an error here first */
    flx_usage *u = NULL;
    j->status = flx_usage_get(j->client, NULL, &u);
    /* Read our own last error only once the other thread has made its call too. */
    pthread_barrier_wait(j->barrier);
    snprintf(j->error, sizeof j->error, "%s", flx_last_error());
    j->http = flx_last_http_status();
    flx_usage_free(u);
    return NULL;
}

static void test_last_error_per_thread(void) {
    flx_client *good = client_for(test_key());
    flx_client *bad = client_for(UNKNOWN_KEY);
    REQUIRE(good != NULL && bad != NULL);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    thread_job jobs[2] = {{bad, &barrier, 0, FLX_OK, "", 0}, {good, &barrier, 1, FLX_OK, "", 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, usage_thread, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    CHECK(jobs[0].status == FLX_UNAUTHORIZED);
    CHECK_MSG(jobs[0].error[0] != '\0' && jobs[0].http == 401, "failing thread saw \"%s\" (HTTP %d)", jobs[0].error, jobs[0].http);
    CHECK(jobs[1].status == FLX_OK);
    CHECK_MSG(jobs[1].error[0] == '\0' && jobs[1].http == 0, "succeeding thread saw \"%s\" (HTTP %d)", jobs[1].error, jobs[1].http);
    /* The main thread saw neither. */
    CHECK(flx_usage_num(NULL, 0) == -1); /* make our own error */
    CHECK(contains(flx_last_error(), "NULL"));
    flx_client_free(good);
    flx_client_free(bad);
}

/* ---- progress and cancellation ---------------------------------------------------------- */

typedef struct {
    pthread_t caller;
    int calls;
    int wrong_thread;
    int over_total;
    uint64_t last_done, last_total;
    int stop_after;  /* return non-zero from this call on (0: never) */
    int stop_when_sent; /* return non-zero once done == total > 0 (the request is out) */
    const char *stop_when_seen; /* return non-zero once the emulator counts one more request */
    long seen_before;           /* of this kind ("usage", "download") than this, */
    int ticks_after_seen;       /* and this many more callbacks have passed */
    int seen_ticks;
    int repeats; /* calls with the same figures as the call before */
} progress_log;

static int on_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *l = user;
    if (l->calls > 0 && done == l->last_done && total == l->last_total) l->repeats++;
    l->calls++;
    if (!pthread_equal(pthread_self(), l->caller)) l->wrong_thread++;
    if (total > 0 && done > total) l->over_total++;
    l->last_done = done;
    l->last_total = total;
    if (l->stop_when_sent && total > 0 && done >= total) return 1;
    if (l->stop_when_seen != NULL && (l->seen_ticks > 0 || stats_requests(l->stop_when_seen) > l->seen_before))
        return ++l->seen_ticks > l->ticks_after_seen;
    return l->stop_after > 0 && l->calls >= l->stop_after;
}

static void test_progress_callback(void) {
    char *p1 = make_png("prog1.png", side(200), side(150), 91);
    char *p2 = make_png("prog2.png", side(200), side(150), 92);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    CHECK_STATUS(flx_options_set_progress(o, on_progress, &log), FLX_OK);
    const char *paths[] = {p1, p2};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 2, o, &b), FLX_OK);
    CHECK_MSG(log.calls >= 1, "the progress callback was never called");
    CHECK_MSG(log.wrong_thread == 0, "%d callbacks ran on another thread", log.wrong_thread);
    CHECK_MSG(log.over_total == 0, "done exceeded total %d times", log.over_total);
    CHECK_MSG(log.repeats == 0, "the callback got the same figures %d times in a row", log.repeats);
    uint64_t upload = (uint64_t)(file_size(p1) + file_size(p2));
    CHECK_MSG(log.last_total == 0 || log.last_total >= upload, "total %llu is less than the %llu bytes of files",
              (unsigned long long)log.last_total, (unsigned long long)upload);
    CHECK_MSG(log.last_total == 0 || log.last_done == log.last_total, "last report %llu of %llu: the bar never reaches the end",
              (unsigned long long)log.last_done, (unsigned long long)log.last_total);
    if (b != NULL) {
        /* Downloads report progress too. */
        memset(&log, 0, sizeof log);
        log.caller = pthread_self();
        uint8_t *d = NULL;
        size_t len = 0;
        CHECK_STATUS(flx_batch_fetch(c, b, 0, o, &d, &len), FLX_OK);
        CHECK(log.calls >= 1 && log.wrong_thread == 0 && log.over_total == 0);
        CHECK_MSG(log.last_total == 0 || log.last_done == len, "fetch: last report %llu, fetched %zu",
                  (unsigned long long)log.last_done, len);
        flx_bytes_free(d, len);
        flx_batch_free(b);
    }
    flx_options_free(o);
    flx_client_free(c);
    free(p1);
    free(p2);
}

/* A callback that asks to stop ends the call with FLX_CANCELLED, promptly, even while the
 * server is still working: the emulator stalls compress, usage and download for 3 s, and the
 * callback asks to stop once the request is out (compress) or after a few ticks. */
static void test_progress_cancels(void) {
    char *p = make_png("cancel.png", side(200), side(150), 93);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    log.stop_when_sent = 1;
    CHECK_STATUS(flx_options_set_progress(o, on_progress, &log), FLX_OK);
    const char *paths[] = {p};

    REQUIRE(control_fault("stall", "compress", 1, 3000) == 0);
    flx_batch *b = (flx_batch *)(uintptr_t)0x1;
    double start = now_seconds();
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_CANCELLED);
    double took = now_seconds() - start;
    CHECK_MSG(took < 2.0, "compress took %.2f s to cancel", took);
    CHECK(*flx_last_error() != '\0');
    CHECK(b == NULL); /* a cancelled call hands out no batch */
    int calls_at_stop = log.calls;
    CHECK_MSG(stats_faults_applied() == 1, "the compress request never reached the stalling server");
    sleep_ms(150); /* three ticks: a late callback would show up in log.calls */
    CHECK_MSG(log.calls == calls_at_stop, "the callback was called %d more times after asking to stop", log.calls - calls_at_stop);

    /* Issue 12.8: while the server works and nothing moves, the callback is not called again
     * with the same figures (it was called ~20 times a second before). */
    log.stop_when_sent = 0;
    int calls_before = log.calls;
    REQUIRE(control_fault("stall", "usage", 1, 600) == 0);
    flx_usage *u = NULL;
    CHECK_STATUS(flx_usage_get(c, o, &u), FLX_OK);
    flx_usage_free(u);
    CHECK_MSG(log.calls - calls_before == 1, "a 600 ms stall gave %d callbacks, expected the one at the start",
              log.calls - calls_before);
    CHECK_MSG(log.repeats == 0, "the callback got the same figures %d times in a row", log.repeats);
    CHECK_MSG(calls_at_stop >= 1, "no progress before the compress was cancelled");

    b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    if (b != NULL) {
        char *dir = fresh_dir("cancel-save");
        /* A trickled download moves a little at a time: the callback stops it midway. */
        REQUIRE(control_fault("trickle", "download", 1, 3000) == 0);
        log.stop_when_seen = "download";
        log.seen_before = stats_requests("download");
        log.seen_ticks = 0;
        log.ticks_after_seen = 3; /* the download is under way: its temporary file exists */
        start = now_seconds();
        CHECK_STATUS(flx_batch_save(c, b, 0, dir, FLX_EXISTS_ERROR, o, NULL), FLX_CANCELLED);
        took = now_seconds() - start;
        CHECK_MSG(took < 2.0, "save took %.2f s to cancel", took);
        /* "An interrupted download leaves nothing behind": not the result, not a temporary
         * file, neither when the call returns nor once the server answers after all. */
        const char *name = flx_batch_str(b, 0, FLX_FIELD_NAME);
        REQUIRE(name != NULL);
        size_t rn = strlen(dir) + strlen(name) + 2;
        char *result = malloc(rn);
        REQUIRE(result != NULL);
        snprintf(result, rn, "%s/%s", dir, name);
        CHECK_MSG(dir_count(dir) == 0, "a cancelled save left %d file(s) behind", dir_count(dir));
        sleep_ms(3200); /* the trickle would have ended by now; the abandoned request must not write */
        CHECK_MSG(dir_count(dir) == 0, "%d file(s) appeared after the server answered the cancelled save",
                  dir_count(dir));
        CHECK_MSG(file_size(result) == -1, "the cancelled result was saved once the server answered");
        free(result);
        CHECK_MSG(stats_faults_applied() == 3, "%ld faults applied: a request never reached the stalling server",
                  stats_faults_applied());
        free(dir);
        flx_batch_free(b);
    }
    flx_options_free(o);
    flx_client_free(c);
    free(p);
}

/* A tick callback runs while nothing moves (the server stalls), for a host's event loop, and
 * can stop the call: the way an editor keeps its Cancel button alive. */
typedef struct {
    pthread_t caller;
    int ticks, wrong_thread, stop_at;
} tick_log;

static int on_tick(void *user) {
    tick_log *l = user;
    l->ticks++;
    if (!pthread_equal(pthread_self(), l->caller)) l->wrong_thread++;
    return l->stop_at > 0 && l->ticks >= l->stop_at;
}

static void test_tick_runs_while_the_server_works(void) {
    char *p = make_png("tick.png", side(64), side(48), 95);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    REQUIRE(c != NULL && o != NULL);
    tick_log log = {pthread_self(), 0, 0, 6};
    CHECK_STATUS(flx_options_set_tick(o, on_tick, &log), FLX_OK);
    REQUIRE(control_fault("stall", "compress", 1, 3000) == 0);
    const char *paths[] = {p};
    flx_batch *b = NULL;
    double start = now_seconds();
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_CANCELLED);
    double took = now_seconds() - start;
    CHECK_MSG(took < 1.5, "the tick stopped the call after %.2f s (the server stalls 3 s)", took);
    CHECK_MSG(log.ticks == 6, "%d ticks, expected 6 (the sixth asked to stop)", log.ticks);
    CHECK(log.wrong_thread == 0);
    CHECK(b == NULL);
    /* NULL removes it; a call without callbacks never ticks. */
    CHECK_STATUS(flx_options_set_tick(o, NULL, NULL), FLX_OK);
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_OK);
    CHECK(log.ticks == 6);
    flx_batch_free(b);
    CHECK_NULL_ARG(flx_options_set_tick(NULL, on_tick, &log));
    flx_options_free(o);
    flx_client_free(c);
    free(p);
}

typedef struct {
    flx_cancel *cancel;
    long compress_before; /* trigger once the emulator counts more compress requests */
    double triggered_at;
    flx_status trigger_status;
} trigger_job;

static void *trigger_thread(void *arg) {
    trigger_job *j = arg;
    /* Wait (bounded, 10 s) until the server holds our request and stalls on it. */
    for (int i = 0; i < 200 && stats_requests("compress") <= j->compress_before; i++) sleep_ms(50);
    j->triggered_at = now_seconds();
    j->trigger_status = flx_cancel_trigger(j->cancel);
    return NULL;
}

static void test_cancel_from_another_thread(void) {
    char *p = make_png("stall.png", side(96), side(64), 94);
    flx_client *c = client_for(test_key());
    flx_options *o = flx_options_new();
    flx_cancel *k = flx_cancel_new();
    REQUIRE(c != NULL && o != NULL && k != NULL);
    CHECK_STATUS(flx_options_set_cancel(o, k), FLX_OK);
    REQUIRE(control_fault("stall", "compress", 1, 5000) == 0);
    trigger_job job = {k, stats_requests("compress"), 0, FLX_INTERNAL};
    REQUIRE(job.compress_before >= 0);
    pthread_t t;
    const char *paths[] = {p};
    flx_batch *b = NULL;
    REQUIRE(pthread_create(&t, NULL, trigger_thread, &job) == 0);
    flx_status st = flx_compress(c, paths, 1, o, &b);
    double end = now_seconds();
    pthread_join(t, NULL);
    CHECK(job.trigger_status == FLX_OK);
    CHECK_MSG(st == FLX_CANCELLED, "stalled compress ended with %s: %s", flx_status_str(st), flx_last_error());
    CHECK(b == NULL);
    CHECK_MSG(end - job.triggered_at < 2.0, "the call ended %.2f s after the cancel (the server stalls 5 s)",
              end - job.triggered_at);
    CHECK_MSG(stats_faults_applied() == 1, "the request never reached the stalling server");
    /* The flag stays triggered: the next call with it is cancelled too, and sends nothing. */
    long sent = stats_requests("compress");
    CHECK_STATUS(flx_compress(c, paths, 1, o, &b), FLX_CANCELLED);
    CHECK(b == NULL);
    CHECK_MSG(stats_requests("compress") == sent, "a call with a triggered flag still uploaded");

    /* The options keep their own reference: the flag may be freed first. */
    flx_cancel_free(k);
    flx_options *o2 = flx_options_new();
    flx_cancel *k2 = flx_cancel_new();
    CHECK_STATUS(flx_options_set_cancel(o2, k2), FLX_OK);
    flx_cancel_free(k2);
    b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, o2, &b), FLX_OK);
    flx_batch_free(b);
    flx_options_free(o2);
    flx_options_free(o);
    flx_client_free(c);
    free(p);
}

/* A client used before a fork works in both processes: the child opens its own connection
 * instead of sharing the parent's pooled socket, and the parent keeps using its own. */
static void test_fork_child_gets_own_connection(void) {
    char *p = make_png("fork.png", side(64), side(48), 95);
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL);
    const char *paths[] = {p};
    flx_batch *b = NULL;
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    flx_batch_free(b);
    b = NULL;
    long before = stats_connections("api");
    REQUIRE(before >= 1);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        flx_batch *cb = NULL;
        flx_status st = flx_compress(c, paths, 1, NULL, &cb);
        int ok = st == FLX_OK && flx_batch_status(cb, 0) == FLX_OK;
        if (!ok) fprintf(stderr, "child: %s: %s\n", flx_status_str(st), flx_last_error());
        flx_batch_free(cb);
        flx_client_free(c);
        free(p);
        _exit(ok ? 0 : 1);
    }
    int wstatus = 0;
    REQUIRE(waitpid(pid, &wstatus, 0) == pid);
    CHECK_MSG(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "the forked child's compress failed");
    CHECK_STATUS(flx_compress(c, paths, 1, NULL, &b), FLX_OK);
    CHECK(b != NULL && flx_batch_status(b, 0) == FLX_OK);
    flx_batch_free(b);
    /* Each stats request is a connection of its own (Connection: close), so the second reading
     * adds one; any further connection would mean the parent lost its pooled socket. */
    long after = stats_connections("api");
    CHECK_MSG(after == before + 2, "api connections %ld -> %ld: expected the child's own plus the stats request's",
              before, after);
    flx_client_free(c);
    free(p);
}

/* Soak: 8 threads share one client for mixed requests while the emulator injects random
 * faults (429, 503, 500 with HTML, early resets). No crash, every call accounted for, and only
 * the failure kinds the retry policy leaves to the caller. Under valgrind (FLX_TEST_SMALL) the
 * run is smaller but the same shape, so leaks and invalid reads in these paths are caught. */
#define SOAK_THREADS 8

typedef struct {
    flx_client *client;
    const uint8_t *png;
    size_t png_len;
    int rounds;
    int ok, transient, other;
    char other_msg[256];
} soak_job;

static void soak_count(soak_job *j, flx_status st) {
    if (st == FLX_OK) {
        j->ok++;
    } else if (st == FLX_NETWORK || st == FLX_SERVER || st == FLX_RATE_LIMITED) {
        j->transient++;
    } else {
        if (j->other++ == 0) snprintf(j->other_msg, sizeof j->other_msg, "%s: %s", flx_status_str(st), flx_last_error());
    }
}

static void *soak_thread(void *arg) {
    soak_job *j = arg;
    for (int i = 0; i < j->rounds; i++) {
        if (i % 2 == 0) {
            flx_usage *u = NULL;
            soak_count(j, flx_usage_get(j->client, NULL, &u));
            flx_usage_free(u);
            continue;
        }
        flx_batch *b = NULL;
        flx_status st = flx_compress_buffer(j->client, j->png, j->png_len, "soak.png", NULL, &b);
        if (st == FLX_OK) {
            uint8_t *data = NULL;
            size_t len = 0;
            st = flx_batch_fetch(j->client, b, 0, NULL, &data, &len);
            flx_bytes_free(data, len);
        }
        soak_count(j, st);
        flx_batch_free(b);
    }
    return NULL;
}

static void test_soak_threads_with_random_faults(void) {
    int rounds = test_small() ? 6 : 250;
    size_t png_len = 0;
    uint8_t *png = png_make(16, 16, 0, 7, &png_len);
    flx_client *c = client_for(test_key());
    REQUIRE(c != NULL && png != NULL);
    CHECK_STATUS(flx_client_set_concurrency(c, 4), FLX_OK);
    REQUIRE(control_request("POST", "/__control/fault",
                            "{\"mode\":\"random\",\"rate\":0.2,\"seed\":11,\"count\":100000,\"retry_after\":0}",
                            NULL) == 200);
    soak_job jobs[SOAK_THREADS];
    pthread_t threads[SOAK_THREADS];
    for (int t = 0; t < SOAK_THREADS; t++) {
        jobs[t] = (soak_job){.client = c, .png = png, .png_len = png_len, .rounds = rounds};
        REQUIRE(pthread_create(&threads[t], NULL, soak_thread, &jobs[t]) == 0);
    }
    int ok = 0, transient = 0, other = 0;
    for (int t = 0; t < SOAK_THREADS; t++) {
        pthread_join(threads[t], NULL);
        ok += jobs[t].ok;
        transient += jobs[t].transient;
        other += jobs[t].other;
        CHECK_MSG(jobs[t].other == 0, "thread %d: unexpected failure %s", t, jobs[t].other_msg);
    }
    printf("    soak: %d calls: %d ok, %d transient failures, %d other\n", ok + transient + other, ok, transient, other);
    CHECK_MSG(ok + transient + other == SOAK_THREADS * rounds, "every call accounted for");
    CHECK_MSG(ok * 4 >= SOAK_THREADS * rounds * 3 || test_small(), "only %d of %d calls succeeded", ok, SOAK_THREADS * rounds);
    free(png);
    flx_client_free(c);
}

/* Every test starts from a clean emulator: no queued faults, fresh counters and credits. */
static void reset_emulator(void) {
    if (control_reset() != 0) harness_fail(__FILE__, __LINE__, "POST /__control/reset failed");
}

static const harness_test TESTS[] = {
    {"version", test_version},
    {"status_str", test_status_str},
    {"free_null", test_free_null},
    {"malformed_key", test_malformed_key},
    {"unknown_key_401", test_unknown_key_401},
    {"rolled_key_401", test_rolled_key_401},
    {"every_format", test_every_format},
    {"option_validation", test_option_validation},
    {"client_settings", test_client_settings},
    {"max_size_downscales", test_max_size_downscales},
    {"local_checks_cost_nothing", test_local_checks_cost_nothing},
    {"null_arguments", test_null_arguments},
    {"batch_of_25_with_broken", test_batch_of_25_with_broken},
    {"batch_save", test_batch_save},
    {"compress_into_folder", test_compress_into_folder},
    {"batch_fetch", test_batch_fetch},
    {"compress_buffer", test_compress_buffer},
    {"compress_file", test_compress_file},
    /* Before the cancel tests: a cancelled call's worker may still be finishing, and a forked
     * child (which has no copy of that thread) would show its memory as lost under valgrind. */
    {"fork_child_gets_own_connection", test_fork_child_gets_own_connection},
    {"usage_moves", test_usage_moves},
    {"free_plan_watermark_forbidden", test_free_plan_watermark_forbidden},
    {"server_faults", test_server_faults},
    {"last_error_per_thread", test_last_error_per_thread},
    {"progress_callback", test_progress_callback},
    {"progress_cancels", test_progress_cancels},
    {"cancel_from_another_thread", test_cancel_from_another_thread},
    {"tick_runs_while_the_server_works", test_tick_runs_while_the_server_works},
    {"soak_threads_with_random_faults", test_soak_threads_with_random_faults},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    return harness_main(TESTS, sizeof TESTS / sizeof TESTS[0], reset_emulator, argc, argv);
}
