/*
 * The emulator's own capacity: a lean libcurl client that keeps the server busy. C threads
 * (--concurrency, default 4), each with its own easy handle and keep-alive connections, take
 * the next FILE, upload it alone (format=webp, quality=82), read the answer and download the
 * result, until every file is done (--repeat times over the list). With more requests in
 * flight than cores, the server never waits for the client: images per second here is what
 * the emulator can do on this machine. Same command line and JSON line as the peers (peer.h).
 */
#include "peer.h"

#define PEER_NAME "loader"
#include "curl_common.h"
#include <pthread.h>
#include <stdatomic.h>

static struct peer_args args;
static atomic_long next_job;
static atomic_ullong total_down;

static void *worker(void *unused) {
    (void)unused;
    CURL *h = curl_easy_init();
    char url[4096], auth[256], result_url[4096];
    snprintf(url, sizeof url, "%s/api/compress", args.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", args.key);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    struct buf body = {0}, result = {0};
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (args.ca) curl_easy_setopt(h, CURLOPT_CAINFO, args.ca);
    long jobs = args.repeat * args.nfiles;
    for (long j; (j = atomic_fetch_add(&next_job, 1)) < jobs;) {
        curl_mime *mime = curl_mime_init(h);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, "format");
        curl_mime_data(part, "webp", CURL_ZERO_TERMINATED);
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "quality");
        curl_mime_data(part, "82", CURL_ZERO_TERMINATED);
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        if (curl_mime_filedata(part, args.files[j % args.nfiles]) != CURLE_OK) die("cannot read", args.files[j % args.nfiles]);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        body.len = 0;
        if (perform(h, "compress") != 200) die("compress answered", body.data ? body.data : "");
        curl_mime_free(mime);
        const char *u = strstr(body.data, "\"url\":\"");
        if (!u) die("no url in", body.data);
        u += 7;
        size_t n = strcspn(u, "\"");
        if (n >= sizeof result_url) die("url", "too long");
        memcpy(result_url, u, n);
        result_url[n] = '\0';
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_URL, result_url);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &result);
        result.len = 0;
        if (perform(h, "download") != 200) die("download", result_url);
        atomic_fetch_add(&total_down, result.len);
    }
    free(body.data);
    free(result.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return NULL;
}

int main(int argc, char **argv) {
    peer_parse_args(argc, argv, &args);
    long threads = args.concurrency > 0 ? args.concurrency : 4;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("init", "curl_global_init failed");
    uint64_t file_bytes = 0;
    for (int i = 0; i < args.nfiles; i++) file_bytes += peer_file_size(args.files[i]);
    pthread_t tid[64];
    if (threads > 64) threads = 64;
    struct peer_mark start, end;
    peer_mark(&start);
    for (long t = 0; t < threads; t++) pthread_create(&tid[t], NULL, worker, NULL);
    for (long t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    peer_mark(&end);
    peer_report("loader", &args, &start, &end, file_bytes * (uint64_t)args.repeat, atomic_load(&total_down));
    curl_global_cleanup();
    return 0;
}
