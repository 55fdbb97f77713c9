/*
 * The libcurl peer: the floor for an HTTP client in C. One easy handle reused for every
 * transfer (its connection cache keeps the API and the download origin alive), a curl_mime
 * multipart upload streamed from the files, a minimal scan of the JSON answer for the "url"
 * values, and each download into a growing memory buffer (as flx_batch_fetch gives it).
 * Requests go one after another; --per-request 1 is the one-image-per-request loop of
 * single-file SDKs.
 * See peer.h for the command line and the printed figures.
 */
#include "peer.h"

#define PEER_NAME "curl_peer"
#include "curl_common.h"

/* Copies the JSON string starting at s (just after the opening quote) into out, undoing the
 * escapes a URL may carry; returns 0, or -1 when it is not terminated or too long. */
static int json_string(const char *s, char *out, size_t cap) {
    size_t o = 0;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            switch (*s) {
            case 'u': {
                unsigned v = 0;
                if (sscanf(s + 1, "%4x", &v) != 1 || v > 0x7f) return -1;
                c = (char)v;
                s += 4;
                break;
            }
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '\0': return -1;
            default: c = *s; /* \" \\ \/ */
            }
        }
        if (o + 1 >= cap) return -1;
        out[o++] = c;
    }
    if (*s != '"') return -1;
    out[o] = '\0';
    return 0;
}

/* The "url" values of the answer, in order; exits unless there are exactly `want`. */
static char **answer_urls(const char *json, int want) {
    char **urls = calloc((size_t)want, sizeof *urls);
    int n = 0;
    const char *p = json;
    while ((p = strstr(p, "\"url\""))) {
        p += 5;
        while (*p == ' ' || *p == ':') p++;
        if (*p != '"') continue;
        if (n == want) die("answer", "more URLs than files");
        urls[n] = malloc(4096);
        if (json_string(p + 1, urls[n], 4096) != 0) die("answer", "unreadable url");
        n++;
    }
    if (n != want) die("answer has too few URLs (a failed image?)", json);
    return urls;
}

int main(int argc, char **argv) {
    struct peer_args a;
    peer_parse_args(argc, argv, &a);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("init", "curl_global_init failed");
    CURL *h = curl_easy_init();
    if (!h) die("init", "curl_easy_init failed");
    char url[4096], auth[256];
    snprintf(url, sizeof url, "%s/api/compress", a.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", a.key);
    struct curl_slist *api_headers = curl_slist_append(NULL, auth);
    struct buf body = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (a.ca) curl_easy_setopt(h, CURLOPT_CAINFO, a.ca);
    uint64_t file_bytes = 0;
    for (int i = 0; i < a.nfiles; i++) file_bytes += peer_file_size(a.files[i]);

    struct peer_mark start, end;
    peer_mark(&start);
    uint64_t up = 0, down = 0;
    for (long r = 0; r < a.repeat; r++) {
        up += file_bytes;
        for (int first = 0; first < a.nfiles; first += (int)a.per_request) {
            int n = a.nfiles - first < a.per_request ? a.nfiles - first : (int)a.per_request;
            curl_mime *mime = curl_mime_init(h);
            curl_mimepart *part = curl_mime_addpart(mime);
            curl_mime_name(part, "format");
            curl_mime_data(part, "webp", CURL_ZERO_TERMINATED);
            part = curl_mime_addpart(mime);
            curl_mime_name(part, "quality");
            curl_mime_data(part, "82", CURL_ZERO_TERMINATED);
            for (int i = first; i < first + n; i++) {
                part = curl_mime_addpart(mime);
                curl_mime_name(part, "file");
                if (curl_mime_filedata(part, a.files[i]) != CURLE_OK) die("cannot read", a.files[i]);
            }
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, api_headers);
            curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
            body.len = 0;
            long status = perform(h, "compress");
            if (status != 200) die("compress answered", body.data ? body.data : "(no body)");
            char **urls = answer_urls(body.data, n);
            curl_mime_free(mime);

            /* Downloads: a plain GET, no key, each result into its own buffer. */
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
            for (int i = 0; i < n; i++) {
                struct buf result = {0};
                curl_easy_setopt(h, CURLOPT_URL, urls[i]);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &result);
                if (perform(h, "download") != 200) die("download", urls[i]);
                down += result.len;
                free(result.data);
                free(urls[i]);
            }
            free(urls);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        }
    }
    peer_mark(&end);
    peer_report("libcurl", &a, &start, &end, up, down);
    free(body.data);
    curl_slist_free_all(api_headers);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
