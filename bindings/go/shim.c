// shim.c: see shim.h. Each function is one whole operation, so that the thread-local error of
// the library is read on the thread that produced it.

#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

static int32_t capture(int32_t status, const char *step, gofx_err *err) {
	if (status != FLX_OK) {
		const char *msg = flx_last_error();
		err->status = status;
		err->http_status = flx_last_http_status();
		err->retry_after_ms = flx_last_retry_after_ms();
		err->message = strdup(msg ? msg : "");
		err->step = step;
	}
	return status;
}

// The progress callback handed to the library; `user` carries a runtime/cgo.Handle value.
static int progress_trampoline(void *user, uint64_t done, uint64_t total) {
	return gofxProgress((uintptr_t)user, done, total);
}

// Builds flx_options from o; NULL o gives NULL options (the library's defaults).
static int32_t build_options(const gofx_opts *o, flx_options **out, gofx_err *err) {
	*out = NULL;
	if (o == NULL) {
		return FLX_OK;
	}
	flx_options *opts = flx_options_new();
	if (opts == NULL) {
		return capture(FLX_INTERNAL, "options", err);
	}
	int32_t s = FLX_OK;
	if (o->format >= 0 && (s = capture(flx_options_set_format(opts, o->format), "WithFormat", err)))
		goto fail;
	if (o->set_quality && (s = capture(flx_options_set_quality(opts, o->quality), "WithQuality", err)))
		goto fail;
	if (o->set_max_size &&
	    (s = capture(flx_options_set_max_size(opts, o->max_width, o->max_height), "WithMaxSize", err)))
		goto fail;
	if (o->session_id && (s = capture(flx_options_set_session_id(opts, o->session_id), "WithSessionID", err)))
		goto fail;
	if (o->wm_path &&
	    (s = capture(flx_options_set_watermark(opts, o->wm_path, o->wm_scale, o->wm_opacity, o->wm_position),
	                 "WithWatermark", err)))
		goto fail;
	if ((o->alt_text || o->seo_rename) &&
	    (s = capture(flx_options_set_ai(opts, o->alt_text != 0, o->seo_rename != 0), "WithAltText/WithSEORename", err)))
		goto fail;
	if (o->output_dir &&
	    (s = capture(flx_options_set_output(opts, o->output_dir, o->output_policy), "WithOutputDir", err)))
		goto fail;
	if (o->cancel && (s = capture(flx_options_set_cancel(opts, o->cancel), "context", err)))
		goto fail;
	if (o->progress &&
	    (s = capture(flx_options_set_progress(opts, progress_trampoline, (void *)o->progress), "WithProgress", err)))
		goto fail;
	*out = opts;
	return FLX_OK;
fail:
	flx_options_free(opts);
	return s;
}

int32_t gofx_client_new(const gofx_client_cfg *cfg, flx_client **out, gofx_err *err) {
	flx_client *c = flx_client_new(cfg->api_key);
	if (c == NULL) {
		return capture(FLX_INVALID_ARGUMENT, "", err);
	}
	int32_t s = FLX_OK;
	if (cfg->user_agent && (s = capture(flx_client_set_user_agent(c, cfg->user_agent), "WithUserAgent", err)))
		goto fail;
	if (cfg->base_url && (s = capture(flx_client_set_base_url(c, cfg->base_url), "WithBaseURL", err)))
		goto fail;
	if ((cfg->connect_ms || cfg->read_ms || cfg->total_ms) &&
	    (s = capture(flx_client_set_timeouts(c, cfg->connect_ms, cfg->read_ms, cfg->total_ms), "WithTimeout", err)))
		goto fail;
	if (cfg->set_proxy && (s = capture(flx_client_set_proxy(c, cfg->proxy), "WithProxy", err)))
		goto fail;
	if (cfg->ca_file && (s = capture(flx_client_set_ca_file(c, cfg->ca_file), "WithCAFile", err)))
		goto fail;
	if (cfg->set_retries && (s = capture(flx_client_set_retries(c, cfg->retries), "WithRetries", err)))
		goto fail;
	if (cfg->retry_after_upload &&
	    (s = capture(flx_client_set_retry_after_upload(c, true), "WithRetryAfterUpload", err)))
		goto fail;
	if (cfg->concurrency && (s = capture(flx_client_set_concurrency(c, cfg->concurrency), "WithConcurrency", err)))
		goto fail;
	*out = c;
	return FLX_OK;
fail:
	flx_client_free(c);
	return s;
}

int32_t gofx_compress(flx_client *client, const flx_input *inputs, uintptr_t n, const gofx_opts *o,
                      flx_batch **out, gofx_err *err) {
	flx_options *opts;
	int32_t s = build_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	flx_batch *batch = NULL;
	s = flx_compress_inputs(client, inputs, n, opts, &batch);
	capture(s, "", err);
	flx_options_free(opts);
	*out = batch; /* a batch whenever the inputs were checked, even if all failed */
	return s;
}

int32_t gofx_compress_file(flx_client *client, const char *in, const char *out, const gofx_opts *o,
                           gofx_err *err) {
	flx_options *opts;
	int32_t s = build_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	s = capture(flx_compress_file(client, in, out, opts), "", err);
	flx_options_free(opts);
	return s;
}

int32_t gofx_batch_save(flx_client *client, const flx_batch *batch, uintptr_t i, const char *path, int policy,
                        const gofx_opts *o, char **path_out, gofx_err *err) {
	flx_options *opts;
	int32_t s = build_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	s = capture(flx_batch_save(client, batch, i, path, policy, opts, path_out), "", err);
	flx_options_free(opts);
	return s;
}

int32_t gofx_batch_fetch(flx_client *client, const flx_batch *batch, uintptr_t i, const gofx_opts *o,
                         uint8_t **data, size_t *len, gofx_err *err) {
	flx_options *opts;
	int32_t s = build_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	s = capture(flx_batch_fetch(client, batch, i, opts, data, len), "", err);
	flx_options_free(opts);
	return s;
}

int32_t gofx_usage(flx_client *client, const gofx_opts *o, flx_usage **out, gofx_err *err) {
	flx_options *opts;
	int32_t s = build_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	s = capture(flx_usage_get(client, opts, out), "", err);
	flx_options_free(opts);
	return s;
}

void gofx_batch_item(const flx_batch *batch, uintptr_t i, gofx_item *out) {
	out->status = flx_batch_status(batch, i);
	out->error = flx_batch_error(batch, i);
	for (int f = FLX_FIELD_NAME; f <= FLX_FIELD_PATH; f++)
		out->str[f] = flx_batch_str(batch, i, f);
	for (int f = FLX_FIELD_ORIGINAL_SIZE; f <= FLX_FIELD_HTTP_STATUS; f++)
		out->num[f - FLX_FIELD_ORIGINAL_SIZE] = flx_batch_num(batch, i, f);
}

// For sync_shim.c (its own file, so that this one stays the compress side's).
int32_t gofx_options(const gofx_opts *o, flx_options **out, gofx_err *err) { return build_options(o, out, err); }
int32_t gofx_capture(int32_t status, const char *step, gofx_err *err) { return capture(status, step, err); }
