/*
 * The libfluximage peer, on the public header only: flx_compress (upload + parse) then
 * flx_batch_fetch (download into memory) for every item, with one client (one keep-alive
 * pool) for the whole run. With --into DIR, flx_compress saves each result into DIR while
 * the next request uploads (flx_options_set_output) instead. See peer.h for the command
 * line and the printed figures.
 */
#include "peer.h"

#include <fluximage.h>

static void die(const char *what, int status) {
    fprintf(stderr, "flx_peer: %s: %s (%s)\n", what, flx_last_error(), flx_status_str(status));
    exit(1);
}

int main(int argc, char **argv) {
    struct peer_args a;
    peer_parse_args(argc, argv, &a);
    flx_client *c = flx_client_new(a.key);
    if (!c) die("flx_client_new", FLX_INVALID_ARGUMENT);
    flx_status st = flx_client_set_base_url(c, a.base);
    if (st != FLX_OK) die("base url", st);
    if (a.ca && (st = flx_client_set_ca_file(c, a.ca)) != FLX_OK) die("CA file", st);
    if (a.concurrency > 0 && (st = flx_client_set_concurrency(c, (uint32_t)a.concurrency)) != FLX_OK)
        die("concurrency", st);
    uint64_t file_bytes = 0;
    for (int i = 0; i < a.nfiles; i++) file_bytes += peer_file_size(a.files[i]);

    flx_options *opts = NULL;
    if (a.into) {
        opts = flx_options_new();
        if (!opts) die("flx_options_new", FLX_INTERNAL);
        /* Repeats save the same names again: each batch replaces the last one's files. */
        if ((st = flx_options_set_output(opts, a.into, FLX_EXISTS_OVERWRITE)) != FLX_OK) die("output folder", st);
    }

    struct peer_mark start, end;
    peer_mark(&start);
    uint64_t up = 0, down = 0;
    for (long r = 0; r < a.repeat; r++) {
        flx_batch *batch = NULL;
        st = flx_compress(c, a.files, (size_t)a.nfiles, opts, &batch);
        if (st != FLX_OK) die("flx_compress", st);
        up += file_bytes;
        for (size_t i = 0; opts && i < flx_batch_len(batch); i++) {
            if (flx_batch_str(batch, i, FLX_FIELD_PATH) == NULL) die("saving a result", flx_batch_status(batch, i));
            down += (uint64_t)flx_batch_num(batch, i, FLX_FIELD_SIZE);
        }
        for (size_t i = 0; !opts && i < flx_batch_len(batch); i++) {
            uint8_t *data = NULL;
            size_t len = 0;
            st = flx_batch_fetch(c, batch, i, NULL, &data, &len);
            if (st != FLX_OK) die("flx_batch_fetch", st);
            down += len;
            flx_bytes_free(data, len);
        }
        flx_batch_free(batch);
    }
    peer_mark(&end);
    peer_report("libfluximage", &a, &start, &end, up, down);
    flx_options_free(opts);
    flx_client_free(c);
    return 0;
}
