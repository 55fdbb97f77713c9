/* 20,000 calls through the C API in one process, with a simple RSS check: slow leaks that
 * valgrind calls "still reachable" (a cache that only grows, a pool that never shrinks) show
 * here. The calls mix compress, fetch, usage, a rejected key and cancels.
 *
 *   FLUXIMAGE_BASE_URL=http://127.0.0.1:PORT leak_loop [CALLS]
 *
 * After a warm-up of a tenth of the calls, RSS may grow by at most 16 MiB over the rest
 * (under 1 KiB a call; a leaked batch or buffer per call is several KiB). Prints the figures;
 * exits 1 when the bound is broken or a call fails unexpectedly. */
#include <fluximage.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AGENCY_KEY "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"
#define UNKNOWN_KEY "flx_live_0000000000000000000000000000000000000000"

/* A 1x1 RGB PNG. */
static const uint8_t PNG[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90,
    0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
    0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static long rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        perror("statm");
        exit(1);
    }
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void fail(const char *what, long i, flx_status st) {
    fprintf(stderr, "leak_loop: call %ld (%s): %s: %s\n", i, what, flx_status_str(st), flx_last_error());
    exit(1);
}

static int stop_now(void *user, uint64_t done, uint64_t total) {
    (void)user;
    (void)done;
    (void)total;
    return 1;
}

static void one(flx_client *client, flx_client *rejected, flx_options *cancel_opts, long i) {
    flx_batch *batch = NULL;
    flx_status st;
    switch (i % 4) {
    case 0:
        st = flx_compress_buffer(client, PNG, sizeof PNG, "leak.png", NULL, &batch);
        if (st != FLX_OK) fail("compress", i, st);
        {
            uint8_t *data = NULL;
            size_t len = 0;
            st = flx_batch_fetch(client, batch, 0, NULL, &data, &len);
            if (st != FLX_OK) fail("fetch", i, st);
            flx_bytes_free(data, len);
        }
        flx_batch_free(batch);
        break;
    case 1: {
        flx_usage *usage = NULL;
        st = flx_usage_get(client, NULL, &usage);
        if (st != FLX_OK) fail("usage", i, st);
        flx_usage_free(usage);
        break;
    }
    case 2: {
        flx_usage *usage = NULL;
        st = flx_usage_get(rejected, NULL, &usage);
        if (st != FLX_UNAUTHORIZED) fail("rejected usage", i, st);
        break;
    }
    default:
        /* A progress callback that stops the call at once: FLX_CANCELLED, nothing kept. */
        st = flx_compress_buffer(client, PNG, sizeof PNG, "leak.png", cancel_opts, &batch);
        if (st != FLX_CANCELLED) fail("cancelled compress", i, st);
        break;
    }
}

int main(int argc, char **argv) {
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    long warmup = calls / 10;
    flx_client *client = flx_client_new(AGENCY_KEY);
    flx_client *rejected = flx_client_new(UNKNOWN_KEY);
    flx_options *cancel_opts = flx_options_new();
    if (!client || !rejected || !cancel_opts) {
        fprintf(stderr, "leak_loop: setup: %s\n", flx_last_error());
        return 1;
    }
    if (flx_client_set_retries(client, 0) != FLX_OK || flx_client_set_retries(rejected, 0) != FLX_OK ||
        flx_options_set_progress(cancel_opts, stop_now, NULL) != FLX_OK) {
        fprintf(stderr, "leak_loop: setup: %s\n", flx_last_error());
        return 1;
    }
    for (long i = 0; i < warmup; i++) one(client, rejected, cancel_opts, i);
    long rss0 = rss_bytes();
    for (long i = warmup; i < calls; i++) one(client, rejected, cancel_opts, i);
    long growth = rss_bytes() - rss0;
    printf("leak_loop: %ld calls, RSS %+ld bytes (bound %d)\n", calls - warmup, growth, 16 << 20);
    flx_options_free(cancel_opts);
    flx_client_free(rejected);
    flx_client_free(client);
    if (growth > (16L << 20)) {
        fprintf(stderr, "leak_loop: RSS grew by %ld bytes\n", growth);
        return 1;
    }
    return 0;
}
