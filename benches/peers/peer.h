/*
 * Shared by the C peers of the benchmark (benches/run.py builds and runs them).
 *
 * Every peer takes the same command line and prints one JSON line of figures:
 *
 *   PEER [--ca PEM] [--repeat N] [--concurrency C] [--per-request F] [--into DIR] BASE_URL KEY FILE...
 *
 * and does, N times: one multipart upload of every FILE to BASE_URL/api/compress (at most
 * F files per request, default and most 20, with format=webp and quality=82, as libfluximage
 * sends by default; libfluximage itself ignores F and chunks as it likes; --into DIR makes
 * libfluximage save the results into DIR during the call instead of fetching them after it),
 * parse the JSON answer, then download every signed URL into memory. Client CPU time
 * (getrusage RUSAGE_SELF, every thread) and peak RSS are measured from after setup to the end
 * of the work. Peak RSS is VmHWM from /proc/self/status, the high-water mark of this
 * process's own address space: ru_maxrss would do, except that Linux carries it over exec()
 * from the parent (here a Python driver larger than a C peer), which hides the growth.
 */
#ifndef FLX_BENCH_PEER_H
#define FLX_BENCH_PEER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define PEER_MAX_FILES_PER_REQUEST 20

struct peer_args {
    const char *ca;      /* NULL: none */
    long repeat;         /* round trips (each: every file up, every result down) */
    long concurrency;    /* 0: the library's default */
    long per_request;    /* files per request for the hand-written peers (1..20) */
    const char *into;    /* libfluximage: save results into this folder during the call */
    const char *base;
    const char *key;
    const char **files;
    int nfiles;
};

static inline void peer_usage(const char *prog) {
    fprintf(stderr, "usage: %s [--ca PEM] [--repeat N] [--concurrency C] [--per-request F] [--into DIR] BASE_URL KEY FILE...\n", prog);
    exit(2);
}

static inline void peer_parse_args(int argc, char **argv, struct peer_args *a) {
    memset(a, 0, sizeof *a);
    a->repeat = 1;
    a->per_request = PEER_MAX_FILES_PER_REQUEST;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) peer_usage(argv[0]);
        if (strcmp(argv[i], "--ca") == 0) a->ca = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0) a->repeat = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--concurrency") == 0) a->concurrency = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--per-request") == 0) a->per_request = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--into") == 0) a->into = argv[i + 1];
        else peer_usage(argv[0]);
    }
    if (argc - i < 3 || a->repeat < 1 || a->per_request < 1 || a->per_request > PEER_MAX_FILES_PER_REQUEST)
        peer_usage(argv[0]);
    a->base = argv[i];
    a->key = argv[i + 1];
    a->files = (const char **)&argv[i + 2];
    a->nfiles = argc - i - 2;
}

struct peer_mark {
    double wall, user, sys;
    long maxrss_kb;
};

/* Peak RSS of this address space in kB (VmHWM), or ru_maxrss when /proc is not there. */
static inline long peer_peak_rss_kb(const struct rusage *ru) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb >= 0 ? kb : ru->ru_maxrss;
}

static inline void peer_mark(struct peer_mark *m) {
    struct timespec ts;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    getrusage(RUSAGE_SELF, &ru);
    m->wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    m->user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    m->sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    m->maxrss_kb = peer_peak_rss_kb(&ru);
}

/* The one JSON line every peer prints. */
static inline void peer_report(const char *peer, const struct peer_args *a, const struct peer_mark *start,
                        const struct peer_mark *end, uint64_t bytes_up, uint64_t bytes_down) {
    printf("{\"peer\":\"%s\",\"round_trips\":%ld,\"images\":%ld,\"wall_s\":%.6f,\"user_s\":%.6f,"
           "\"sys_s\":%.6f,\"cpu_s\":%.6f,\"rss_start_kb\":%ld,\"rss_peak_kb\":%ld,"
           "\"bytes_up\":%llu,\"bytes_down\":%llu}\n",
           peer, a->repeat, a->repeat * (long)a->nfiles, end->wall - start->wall, end->user - start->user,
           end->sys - start->sys, (end->user - start->user) + (end->sys - start->sys), start->maxrss_kb,
           end->maxrss_kb, (unsigned long long)bytes_up, (unsigned long long)bytes_down);
    fflush(stdout);
}

/* Size of a file in bytes, or exits. */
static inline uint64_t peer_file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    long n = ftell(f);
    fclose(f);
    return (uint64_t)n;
}

#endif
