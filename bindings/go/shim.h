/*
 * shim.h: C helpers of the Go binding (declarations only; see shim.c).
 *
 * flx_last_error() and its companions are per OS thread, and Go moves goroutines between
 * threads between two cgo calls. Every helper here therefore runs a whole operation (build the
 * options, call the library, free what it made) inside ONE cgo call and copies the error
 * details into a gofx_err before returning to Go.
 */
#ifndef FLUXIMAGE_GO_SHIM_H
#define FLUXIMAGE_GO_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <fluximage.h>

/* The outcome of a failed call, captured in the same cgo call as the failure. */
typedef struct gofx_err {
	int32_t status;         /* the flx_status */
	int32_t http_status;    /* flx_last_http_status() */
	int64_t retry_after_ms; /* flx_last_retry_after_ms() */
	char *message;          /* copy of flx_last_error(), malloc'd: the Go side frees it */
	const char *step;       /* static: which setting or call failed ("" for the main call) */
} gofx_err;

/* Client settings; every pointer is C memory owned by the Go side for the call's duration. */
typedef struct gofx_client_cfg {
	const char *api_key;    /* NULL: FLUXIMAGE_API_KEY */
	const char *user_agent; /* NULL: none */
	const char *base_url;   /* NULL: keep (FLUXIMAGE_BASE_URL or production) */
	uint32_t connect_ms, read_ms, total_ms; /* 0: keep */
	int set_proxy;          /* apply proxy (NULL proxy: the environment's) */
	const char *proxy;
	const char *ca_file;    /* NULL: keep */
	int set_retries;
	uint32_t retries;
	int retry_after_upload; /* 1: allow retrying an uploaded compress */
	uint32_t concurrency;   /* 0: keep */
} gofx_client_cfg;

/* Per-call options; pointers as above. */
typedef struct gofx_opts {
	int format;             /* -1: keep */
	int set_quality;
	uint32_t quality;
	int set_max_size;
	uint32_t max_width, max_height;
	const char *session_id; /* NULL: keep */
	const char *wm_path;    /* NULL: no watermark */
	uint32_t wm_scale, wm_opacity;
	int wm_position;
	int alt_text, seo_rename;
	const flx_cancel *cancel;   /* NULL: none */
	uintptr_t progress;         /* a runtime/cgo.Handle value, 0: no callback */
	const char *output_dir;     /* NULL: results are not saved during the call */
	int output_policy;          /* a flx_exists value, with output_dir */
} gofx_opts;

/* Everything about one batch item, read in one call. Strings are owned by the batch. */
typedef struct gofx_item {
	int32_t status;
	const char *error;
	const char *str[FLX_FIELD_PATH + 1]; /* indexed by the string flx_field values */
	int64_t num[FLX_FIELD_HTTP_STATUS - FLX_FIELD_ORIGINAL_SIZE + 1]; /* by numeric field - FLX_FIELD_ORIGINAL_SIZE */
} gofx_item;

int32_t gofx_client_new(const gofx_client_cfg *cfg, flx_client **out, gofx_err *err);
int32_t gofx_compress(flx_client *client, const flx_input *inputs, uintptr_t n, const gofx_opts *o,
                      flx_batch **out, gofx_err *err);
int32_t gofx_compress_file(flx_client *client, const char *in, const char *out, const gofx_opts *o,
                           gofx_err *err);
int32_t gofx_batch_save(flx_client *client, const flx_batch *batch, uintptr_t i, const char *path, int policy,
                        const gofx_opts *o, char **path_out, gofx_err *err);
int32_t gofx_batch_fetch(flx_client *client, const flx_batch *batch, uintptr_t i, const gofx_opts *o,
                         uint8_t **data, size_t *len, gofx_err *err);
int32_t gofx_usage(flx_client *client, const gofx_opts *o, flx_usage **out, gofx_err *err);
void gofx_batch_item(const flx_batch *batch, uintptr_t i, gofx_item *out);
/* Shared with sync_shim.c: options from o (NULL o: NULL options), and error capture. */
int32_t gofx_options(const gofx_opts *o, flx_options **out, gofx_err *err);
int32_t gofx_capture(int32_t status, const char *step, gofx_err *err);

#endif
