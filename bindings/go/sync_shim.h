/* sync_shim.h: the C side of Client.Sync (see sync_shim.c). */
#ifndef FLUXIMAGE_GO_SYNC_SHIM_H
#define FLUXIMAGE_GO_SYNC_SHIM_H

#include "shim.h"

/* Sync settings; every pointer is C memory owned by the Go side for the call's duration. */
typedef struct gofx_sync_cfg {
	char **include;
	uintptr_t n_include;
	char **exclude;
	uintptr_t n_exclude;
	uint32_t flags;         /* bit n: flx_sync_flag n on */
	int if_larger;          /* a flx_if_larger value */
	const char *backup_dir; /* NULL: none */
} gofx_sync_cfg;

int32_t gofx_sync(flx_client *client, const char *src, const char *out, const gofx_opts *o,
                  const gofx_sync_cfg *cfg, uintptr_t events, flx_sync_report **report_out, gofx_err *err);

#endif
