/*
 * The sync peer: one flx_sync() of a folder into another, timed like the other peers, for the
 * WAN figure (a folder of photos over a shaped link) and the sync figure (an up-to-date rerun,
 * and the peak RSS of planning a large tree with --dry-run).
 *
 *   sync_peer [--concurrency C] [--dry-run] BASE_URL KEY SRC OUT
 *
 * Prints one JSON line: wall, CPU and peak RSS (as peer.h measures them), the plan's file
 * count and files up to date, the files compressed, and the requests the report counts.
 */
#include "peer.h"

#include <fluximage.h>

static void die(const char *what, int status) {
    fprintf(stderr, "sync_peer: %s: %s (%s)\n", what, flx_last_error(), flx_status_str(status));
    exit(1);
}

int main(int argc, char **argv) {
    long concurrency = 0;
    int dry_run = 0, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) dry_run = 1;
        else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc) concurrency = strtol(argv[++i], NULL, 10);
        else break;
    }
    if (argc - i != 4) {
        fprintf(stderr, "usage: %s [--concurrency C] [--dry-run] BASE_URL KEY SRC OUT\n", argv[0]);
        return 2;
    }
    const char *base = argv[i], *key = argv[i + 1], *src = argv[i + 2], *out = argv[i + 3];
    flx_client *c = flx_client_new(key);
    if (!c) die("flx_client_new", FLX_INVALID_ARGUMENT);
    flx_status st = flx_client_set_base_url(c, base);
    if (st != FLX_OK) die("base url", st);
    if (concurrency > 0 && (st = flx_client_set_concurrency(c, (uint32_t)concurrency)) != FLX_OK)
        die("concurrency", st);
    flx_sync_options *so = flx_sync_options_new();
    if (!so) die("flx_sync_options_new", FLX_INTERNAL);
    if (dry_run && (st = flx_sync_options_set_flag(so, FLX_SYNC_DRY_RUN, true)) != FLX_OK) die("dry run", st);

    struct peer_mark start, end;
    peer_mark(&start);
    flx_sync_report *report = NULL;
    st = flx_sync(c, src, out, NULL, so, NULL, NULL, NULL, &report);
    peer_mark(&end);
    if (st != FLX_OK) die("flx_sync", st);
    printf("{\"peer\":\"flx_sync\",\"wall_s\":%.6f,\"cpu_s\":%.6f,\"rss_start_kb\":%ld,\"rss_peak_kb\":%ld,"
           "\"files\":%lld,\"up_to_date\":%lld,\"compressed\":%lld,\"requests\":%lld,\"bytes_up\":%lld,\"bytes_down\":%lld}\n",
           end.wall - start.wall, (end.user - start.user) + (end.sys - start.sys), start.maxrss_kb, end.maxrss_kb,
           (long long)flx_sync_report_num(report, FLX_SYNC_PLAN_FILES),
           (long long)flx_sync_report_num(report, FLX_SYNC_UP_TO_DATE_FILES),
           (long long)flx_sync_report_num(report, FLX_SYNC_COMPRESSED_FILES),
           (long long)flx_sync_report_num(report, FLX_SYNC_REQUESTS),
           (long long)flx_sync_report_num(report, FLX_SYNC_BYTES_IN),
           (long long)flx_sync_report_num(report, FLX_SYNC_BYTES_OUT));
    flx_sync_report_free(report);
    flx_sync_options_free(so);
    flx_client_free(c);
    return 0;
}
