/* Helpers for the C tests; see support.h. */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- configuration ---- */

const char *env_required(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "the C tests need %s; run them through tests/c/run-tests.sh (make c-test)\n", name);
        exit(2);
    }
    return v;
}

const char *test_base_url(void) { return env_required("FLX_TEST_BASE_URL"); }
const char *test_key(void) { return env_required("FLX_TEST_KEY"); }
const char *test_dir(void) { return env_required("FLX_TEST_DIR"); }

int test_small(void) {
    const char *v = getenv("FLX_TEST_SMALL");
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* ---- PNG ---- */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    if (crc_table[1] == 0) crc_init();
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC) at out; returns the bytes written. */
static size_t put_chunk(uint8_t *out, const char type[4], const uint8_t *data, size_t len) {
    put32(out, (uint32_t)len);
    memcpy(out + 4, type, 4);
    if (len) memcpy(out + 8, data, len);
    put32(out + 8 + len, crc32_of(out + 4, len + 4));
    return len + 12;
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static uint8_t clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

uint8_t *png_make(uint32_t width, uint32_t height, int kind, uint32_t seed, size_t *len_out) {
    size_t row = (size_t)width * 3 + 1;
    size_t raw_len = row * height;
    uint8_t *raw = malloc(raw_len);
    if (raw == NULL) return NULL;
    uint32_t rnd = seed * 2654435761u + 12345u;
    int tint = (int)(seed % 7) * 9;
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *p = raw + (size_t)y * row;
        *p++ = 0; /* filter: none */
        for (uint32_t x = 0; x < width; x++) {
            int r, g, b;
            if (kind == 0) {
                int noise = (int)(lcg(&rnd) % 25) - 12;
                r = (int)(x * 200 / (width ? width : 1)) + 30 + tint + noise;
                g = (int)(y * 180 / (height ? height : 1)) + 40 + noise;
                b = 200 - (int)((x + y) * 120 / (width + height)) + noise;
            } else {
                int inside = x > width / 4 && x < width * 3 / 4 && y > height / 4 && y < height * 3 / 4;
                r = inside ? 220 : 30 + tint;
                g = inside ? 60 : 90;
                b = inside ? 40 : 160;
            }
            *p++ = clamp8(r);
            *p++ = clamp8(g);
            *p++ = clamp8(b);
        }
    }
    /* zlib stream of stored blocks: header, blocks of <= 65535 bytes, Adler-32. */
    size_t nblocks = raw_len / 65535 + 1;
    size_t z_len = 2 + raw_len + nblocks * 5 + 4;
    uint8_t *z = malloc(z_len);
    if (z == NULL) {
        free(raw);
        return NULL;
    }
    size_t zp = 0;
    z[zp++] = 0x78;
    z[zp++] = 0x01;
    size_t off = 0;
    do {
        size_t n = raw_len - off > 65535 ? 65535 : raw_len - off;
        z[zp++] = (off + n == raw_len) ? 1 : 0;
        z[zp++] = (uint8_t)(n & 0xFF);
        z[zp++] = (uint8_t)(n >> 8);
        z[zp++] = (uint8_t)(~n & 0xFF);
        z[zp++] = (uint8_t)((~n >> 8) & 0xFF);
        memcpy(z + zp, raw + off, n);
        zp += n;
        off += n;
    } while (off < raw_len);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++) {
        a = (a + raw[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    put32(z + zp, (b << 16) | a);
    zp += 4;
    free(raw);

    size_t png_len = 8 + (12 + 13) + (12 + zp) + 12;
    uint8_t *png = malloc(png_len);
    if (png == NULL) {
        free(z);
        return NULL;
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(png, sig, 8);
    uint8_t ihdr[13];
    put32(ihdr, width);
    put32(ihdr + 4, height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    size_t p = 8;
    p += put_chunk(png + p, "IHDR", ihdr, sizeof ihdr);
    p += put_chunk(png + p, "IDAT", z, zp);
    p += put_chunk(png + p, "IEND", NULL, 0);
    free(z);
    *len_out = p;
    return png;
}

long png_write_file(const char *path, uint32_t width, uint32_t height, int kind, uint32_t seed) {
    size_t len = 0;
    uint8_t *png = png_make(width, height, kind, seed, &len);
    if (png == NULL) return -1;
    int rc = write_file(path, png, len);
    free(png);
    return rc == 0 ? (long)len : -1;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int png_dimensions(const uint8_t *data, size_t len, uint32_t *w, uint32_t *h) {
    if (len < 24 || memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(data + 12, "IHDR", 4) != 0) return -1;
    *w = get32(data + 16);
    *h = get32(data + 20);
    return 0;
}

const char *sniff_format(const uint8_t *d, size_t len) {
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "webp";
    if (len >= 12 && memcmp(d + 4, "ftyp", 4) == 0 && (memcmp(d + 8, "avif", 4) == 0 || memcmp(d + 8, "avis", 4) == 0))
        return "avif";
    if (len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpg";
    if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
    return NULL;
}

/* ---- files ---- */

char *tpath(const char *name) {
    const char *dir = test_dir();
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p == NULL) abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

uint8_t *read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        free(buf);
        return NULL;
    }
    *len_out = len;
    return buf;
}

int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (put == len && rc == 0) ? 0 : -1;
}

long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

char *fresh_dir(const char *name) {
    char *p = tpath(name);
    DIR *d = opendir(p);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            size_t n = strlen(p) + strlen(e->d_name) + 2;
            char *f = malloc(n);
            if (f == NULL) abort();
            snprintf(f, n, "%s/%s", p, e->d_name);
            unlink(f);
            free(f);
        }
        closedir(d);
    } else {
        mkdir(p, 0755);
    }
    return p;
}

int dir_count(const char *path) {
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

int dir_has(const char *path, const char *part) {
    DIR *d = opendir(path);
    if (d == NULL) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) found = strstr(e->d_name, part) != NULL;
    closedir(d);
    return found;
}

/* ---- control API ---- */

/* Parses "http://127.0.0.1:PORT" into a port; only loopback IPv4 is supported. */
static int base_port(void) {
    const char *url = test_base_url();
    const char *prefix = "http://127.0.0.1:";
    if (strncmp(url, prefix, strlen(prefix)) != 0) return -1;
    return atoi(url + strlen(prefix));
}

int control_request(const char *method, const char *path, const char *json, char **body_out) {
    if (body_out) *body_out = NULL;
    int port = base_port();
    if (port <= 0) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char head[512];
    size_t body_len = json ? strlen(json) : 0;
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, port, body_len);
    if (send(fd, head, (size_t)hn, 0) != hn || (body_len && send(fd, json, body_len, 0) != (ssize_t)body_len)) {
        close(fd);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *resp = malloc(cap);
    for (int rounds = 0; resp != NULL && rounds < 100000; rounds++) {
        if (len + 1 >= cap) {
            char *bigger = realloc(resp, cap * 2);
            if (bigger == NULL) {
                free(resp);
                resp = NULL;
                break;
            }
            resp = bigger;
            cap *= 2;
        }
        ssize_t got = recv(fd, resp + len, cap - len - 1, 0);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    if (resp == NULL) return -1;
    resp[len] = '\0';
    int status = -1;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = -1;
    if (body_out) {
        const char *b = strstr(resp, "\r\n\r\n");
        const char *src = b ? b + 4 : "";
        size_t n = strlen(src);
        *body_out = malloc(n + 1);
        if (*body_out) memcpy(*body_out, src, n + 1);
    }
    free(resp);
    return status;
}

int control_fault(const char *mode, const char *where, int count, int delay_ms) {
    char json[256];
    snprintf(json, sizeof json, "{\"mode\":\"%s\",\"path\":\"%s\",\"count\":%d,\"delay_ms\":%d}", mode, where, count,
             delay_ms);
    int st = control_request("POST", "/__control/fault", json, NULL);
    return st >= 200 && st < 300 ? 0 : -1;
}

/* The number after `"field":` that follows `anchor` in the stats JSON (or right after
 * `anchor` when field is NULL), or -1. */
static long stats_number(const char *anchor, const char *field) {
    char *body = NULL;
    int st = control_request("GET", "/__control/stats", NULL, &body);
    long v = -1;
    if (st == 200 && body != NULL) {
        const char *a = strstr(body, anchor);
        if (a != NULL) {
            const char *end = strchr(a, '}');
            const char *f = field ? strstr(a, field) : a;
            if (f != NULL && (end == NULL || f < end)) {
                f += strlen(field ? field : anchor);
                while (*f == ' ' || *f == ':') f++;
                v = strtol(f, NULL, 10);
            }
        }
    }
    free(body);
    return v;
}

long stats_credits(const char *key) {
    char anchor[128];
    snprintf(anchor, sizeof anchor, "\"%s\"", key);
    long v = stats_number(anchor, "\"compress\"");
    return v; /* -1 also when the key was never charged and is absent */
}

long stats_compress_requests(void) { return stats_number("\"requests\"", "\"compress\""); }

long stats_requests(const char *kind) {
    char field[64];
    snprintf(field, sizeof field, "\"%s\"", kind);
    return stats_number("\"requests\"", field);
}

long stats_connections(const char *origin) {
    char field[64];
    snprintf(field, sizeof field, "\"%s\"", origin);
    return stats_number("\"connections\"", field);
}

long stats_faults_applied(void) { return stats_number("\"faults_applied\"", NULL); }

int control_reset(void) { return control_request("POST", "/__control/reset", "{}", NULL) == 200 ? 0 : -1; }

/* ---- time ---- */

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
