/*
 * What the two libcurl programs (curl_peer.c, loader.c) share: a growable response buffer,
 * fatal errors, and one transfer with its HTTP status. Define PEER_NAME before including.
 */
#ifndef FLX_BENCH_CURL_COMMON_H
#define FLX_BENCH_CURL_COMMON_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A response body, NUL-terminated, grown as libcurl hands it over. */
struct buf {
    char *data;
    size_t len, cap;
};

/* CURLOPT_WRITEFUNCTION appending to a struct buf. */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user) {
    struct buf *b = user;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, PEER_NAME ": %s: %s\n", what, detail);
    exit(1);
}

/* Runs the transfer set up on h; dies on a transport error, returns the HTTP status. */
static long perform(CURL *h, const char *what) {
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) die(what, curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

#endif
