/*
 * Helpers for the C tests: generated PNG images, small file utilities, and a minimal HTTP
 * client for the emulator's /__control endpoints (loopback only).
 */
#ifndef FLX_TEST_SUPPORT_H
#define FLX_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* ---- configuration from the driver script (tests/c/run-tests.sh) ---- */

/* The environment variable `name`, or exits the test program when it is unset. */
const char *env_required(const char *name);

/* The emulator's API base URL (FLX_TEST_BASE_URL). */
const char *test_base_url(void);
/* The Agency key every ordinary test uses (FLX_TEST_KEY). */
const char *test_key(void);
/* A scratch folder for this run (FLX_TEST_DIR), created by the driver and removed after. */
const char *test_dir(void);
/* 1 when FLX_TEST_SMALL is set (valgrind runs): smaller images, same coverage. */
int test_small(void);

/* ---- images ---- */

/* Encodes a width×height 8-bit RGB PNG into a malloc'd buffer (*len_out bytes). The pixel
 * data is stored in uncompressed deflate blocks, so no zlib is needed. kind 0 is photo-like
 * (smooth gradients plus noise), kind 1 is a flat graphic. `seed` varies the picture. */
uint8_t *png_make(uint32_t width, uint32_t height, int kind, uint32_t seed, size_t *len_out);

/* Writes a generated PNG to `path`; returns its size, or -1. */
long png_write_file(const char *path, uint32_t width, uint32_t height, int kind, uint32_t seed);

/* Reads width and height from a PNG's IHDR; 0 on success, -1 when it is not a PNG. */
int png_dimensions(const uint8_t *data, size_t len, uint32_t *w, uint32_t *h);

/* The format the magic bytes say: "webp", "avif", "jpg", "png", or NULL. */
const char *sniff_format(const uint8_t *data, size_t len);

/* ---- files ---- */

/* A path inside test_dir(): a static-free, malloc'd "test_dir()/name". */
char *tpath(const char *name);
/* Reads a whole file (malloc'd; NULL on error). */
uint8_t *read_file(const char *path, size_t *len_out);
/* Writes bytes to a file; 0 or -1. */
int write_file(const char *path, const void *data, size_t len);
/* Size of a file, or -1. */
long file_size(const char *path);
/* Makes a fresh, empty folder test_dir()/name (removing files left in it). malloc'd path. */
char *fresh_dir(const char *name);
/* Number of entries in a folder (without . and ..), or -1. */
int dir_count(const char *path);
/* Whether a folder holds an entry whose name contains `part`. */
int dir_has(const char *path, const char *part);

/* ---- the emulator's control API ---- */

/* Sends an HTTP request to the emulator's origin; returns the status code (or -1) and, when
 * body_out is not NULL, the response body (malloc'd, NUL-terminated). */
int control_request(const char *method, const char *path, const char *json, char **body_out);
/* Arms a fault: control_fault("stall", "compress", 1, 5000). 0 on success. */
int control_fault(const char *mode, const char *where, int count, int delay_ms);
/* Compression credits the emulator charged `key` since it started, or -1. */
long stats_credits(const char *key);
/* Compress requests the emulator received since it started, or -1. */
long stats_compress_requests(void);
/* Requests of one kind ("compress", "usage", "download") the emulator received, or -1. */
long stats_requests(const char *kind);
/* TCP connections the emulator accepted on one origin ("api", "download"), or -1. */
long stats_connections(const char *origin);
/* Faults the emulator has applied since it started (or was reset), or -1. */
long stats_faults_applied(void);
/* Clears the emulator's queued faults, counters and credits (POST /__control/reset). */
int control_reset(void);

/* ---- time ---- */

/* Monotonic seconds. */
double now_seconds(void);
/* Sleeps for `ms` milliseconds (used only to order threads, never as an assertion). */
void sleep_ms(long ms);

#endif
