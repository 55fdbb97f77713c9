// sync_shim.c: the C side of Client.Sync (see sync.go), in one cgo call like the rest of shim.c.

#include "shim.h"
#include "sync_shim.h"
#include "_cgo_export.h"

// The event callback handed to the library; `user` carries a runtime/cgo.Handle value.
static int sync_trampoline(void *user, const flx_sync_event *event) {
	return gofxSyncEvent((uintptr_t)user, (flx_sync_event *)event);
}

int32_t gofx_sync(flx_client *client, const char *src, const char *out, const gofx_opts *o,
                  const gofx_sync_cfg *cfg, uintptr_t events, flx_sync_report **report_out, gofx_err *err) {
	flx_options *opts;
	int32_t s = gofx_options(o, &opts, err);
	if (s != FLX_OK)
		return s;
	flx_sync_options *so = flx_sync_options_new();
	if (so == NULL) {
		flx_options_free(opts);
		return gofx_capture(FLX_INTERNAL, "sync options", err);
	}
	for (uintptr_t i = 0; i < cfg->n_include && s == FLX_OK; i++)
		s = gofx_capture(flx_sync_options_add_include(so, cfg->include[i]), "WithInclude", err);
	for (uintptr_t i = 0; i < cfg->n_exclude && s == FLX_OK; i++)
		s = gofx_capture(flx_sync_options_add_exclude(so, cfg->exclude[i]), "WithExclude", err);
	for (int f = 0; f <= FLX_SYNC_OVERWRITE && s == FLX_OK; f++)
		if (cfg->flags & (1u << f))
			s = gofx_capture(flx_sync_options_set_flag(so, f, true), "sync option", err);
	if (s == FLX_OK)
		s = gofx_capture(flx_sync_options_set_if_larger(so, cfg->if_larger), "WithIfLarger", err);
	if (s == FLX_OK && cfg->backup_dir)
		s = gofx_capture(flx_sync_options_set_backup_dir(so, cfg->backup_dir), "WithBackupDir", err);
	if (s == FLX_OK) {
		flx_sync_report *report = NULL;
		s = flx_sync(client, src, out, opts, so, events ? sync_trampoline : NULL, (void *)events, NULL, &report);
		gofx_capture(s, "", err);
		if (s == FLX_OK || s == FLX_PARTIAL)
			*report_out = report;
	}
	flx_sync_options_free(so);
	flx_options_free(opts);
	return s;
}
