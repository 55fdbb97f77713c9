/*
 * flx: a command-line front end to libfluximage, written against the public header only.
 *
 *   flx compress [OPTIONS] FILE|DIR... -o OUTDIR   optimize images, save the results in OUTDIR
 *   flx usage [--base-url URL] [--ca-file PEM]     show the plan and the credits left
 *
 * The API key comes from the environment variable FLUXIMAGE_API_KEY and is never printed.
 * Run `flx --help` for the details. Exit status: 0 all done, 1 something failed, 2 usage or
 * configuration error (nothing was sent), 130 interrupted.
 *
 * Build: cc -std=c11 $(pkg-config --cflags fluximage) flx.c $(pkg-config --libs fluximage)
 */
#define _POSIX_C_SOURCE 200809L

#include <fluximage.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

static const char USAGE[] =
    "Usage:\n"
    "  flx compress [OPTIONS] FILE|DIR... -o OUTDIR\n"
    "  flx usage [--base-url URL] [--ca-file PEM]\n"
    "  flx --help | --version\n";

static const char HELP[] =
    "flx: optimize images with the Fluximage API (libfluximage %s)\n"
    "\n"
    "%s"
    "\n"
    "compress: uploads every FILE, and the image files directly inside every DIR (not its\n"
    "subfolders), in one batch; saves each result in OUTDIR (created if missing) under the\n"
    "name the service gives it (photo.png -> photo.webp); prints a table of sizes and savings\n"
    "and, on stderr, every failure with its reason.\n"
    "  -f, --format FMT      webp (default), avif, jpg or png\n"
    "  -q, --quality N       lossy quality 40..100 (default 82; PNG is always lossless)\n"
    "      --max-width N     scale down to at most N pixels wide (never enlarges)\n"
    "      --max-height N    scale down to at most N pixels high\n"
    "  -o, --output OUTDIR   where to save the results (required)\n"
    "\n"
    "usage: prints the key's plan and the compressions and AI credits used and left.\n"
    "\n"
    "Common options:\n"
    "      --base-url URL    API address (default: $FLUXIMAGE_BASE_URL, else https://fluximage.app)\n"
    "      --ca-file PEM     also trust the CA certificates in this PEM file\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the library version\n"
    "\n"
    "Environment:\n"
    "  FLUXIMAGE_API_KEY     the API key (flx_live_...); required, never printed\n"
    "  FLUXIMAGE_BASE_URL    the API address, overridden by --base-url\n"
    "\n"
    "A progress line is shown on stderr when it is a terminal. Ctrl-C cancels the upload.\n"
    "Exit status: 0 all images done, 1 some failed, 2 bad usage or configuration (nothing\n"
    "was sent), 130 interrupted.\n";

/* ---- small helpers ---------------------------------------------------------------------- */

static void die_oom(void) {
    fputs("flx: out of memory\n", stderr);
    exit(EXIT_FAILED);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) die_oom();
    return q;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d == NULL) die_oom();
    memcpy(d, s, n);
    return d;
}

/* A string made with printf-style formatting; the caller frees it. */
static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die_oom();
    char *s = malloc((size_t)n + 1);
    if (s == NULL) die_oom();
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A growable list of owned strings. */
typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_push(strlist *l, char *owned) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = owned;
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Formats a byte count for people ("812 B", "41.3 KB", "2.07 MB") into buf. */
static const char *human(char *buf, size_t n, int64_t bytes) {
    if (bytes < 0) {
        snprintf(buf, n, "?");
    } else if (bytes < 1000) {
        snprintf(buf, n, "%" PRId64 " B", bytes);
    } else if (bytes < 1000 * 1000) {
        snprintf(buf, n, "%.1f KB", (double)bytes / 1e3);
    } else {
        snprintf(buf, n, "%.2f MB", (double)bytes / 1e6);
    }
    return buf;
}

/* Parses a whole decimal number in [0, max]; 0 on success, -1 otherwise. */
static int parse_uint(const char *s, unsigned long max, uint32_t *out) {
    if (s == NULL || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("flx: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s(try flx --help)\n", USAGE);
    return EXIT_USAGE;
}

/* ---- inputs ---------------------------------------------------------------------------- */

/* Whether a file name has an image extension the service is expected to accept. */
static int is_image_name(const char *name) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".gif"};
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name) return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0) return 1;
    return 0;
}

/* Adds the image files directly inside `dir` (sorted by name, hidden files skipped).
 * Returns 0, or -1 after printing why the folder could not be read. */
static int add_dir(strlist *paths, const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "flx: cannot read folder %s: %s\n", dir, strerror(errno));
        return -1;
    }
    strlist found = {0};
    size_t len = strlen(dir);
    const char *sep = (len > 0 && dir[len - 1] == '/') ? "" : "/";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        char *p = xasprintf("%s%s%s", dir, sep, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            strlist_push(&found, p);
        } else {
            free(p);
        }
    }
    closedir(d);
    if (found.n == 0) fprintf(stderr, "flx: warning: no image files in folder %s\n", dir);
    if (found.n > 1) qsort(found.v, found.n, sizeof *found.v, cmp_str);
    for (size_t i = 0; i < found.n; i++) strlist_push(paths, found.v[i]);
    free(found.v); /* the strings now belong to `paths` */
    return 0;
}

/* Creates `path` and its missing parents, like mkdir -p. 0 or -1 (errno set). */
static int mkdir_p(const char *path) {
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) != 0) return -1;
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
    }
    return rc;
}

/* ---- progress and Ctrl-C -------------------------------------------------------------- */

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    int tty;           /* draw the progress line */
    int drawn;         /* a line is on screen and must be cleared */
    const char *verb;  /* "uploading", "downloading" */
    size_t index, count; /* for downloads: which of how many */
} progress_state;

/* The progress callback: draws one self-overwriting line on stderr when it is a terminal, and
 * stops the call (non-zero) after Ctrl-C. Runs on the thread that called the library. */
static int on_progress(void *user, uint64_t done, uint64_t total) {
    progress_state *ps = user;
    if (interrupted) return 1;
    if (!ps->tty) return 0;
    char a[32], b[32];
    if (ps->count > 0) {
        fprintf(stderr, "\rflx: %s %zu of %zu (%s)%10s", ps->verb, ps->index + 1, ps->count,
                human(a, sizeof a, (int64_t)done), "");
    } else if (total > 0 && done >= total) {
        fprintf(stderr, "\rflx: %s %s, waiting for the service...%10s", ps->verb, human(a, sizeof a, (int64_t)total), "");
    } else if (total > 0) {
        unsigned pct = (unsigned)(done * 100 / total);
        fprintf(stderr, "\rflx: %s %s of %s (%u%%)%10s", ps->verb, human(a, sizeof a, (int64_t)done),
                human(b, sizeof b, (int64_t)total), pct, "");
    } else {
        fprintf(stderr, "\rflx: %s %s%10s", ps->verb, human(a, sizeof a, (int64_t)done), "");
    }
    fflush(stderr);
    ps->drawn = 1;
    return 0;
}

static void progress_clear(progress_state *ps) {
    if (ps->drawn) {
        fprintf(stderr, "\r%72s\r", "");
        fflush(stderr);
        ps->drawn = 0;
    }
}

/* ---- the client ------------------------------------------------------------------------ */

typedef struct {
    const char *base_url;
    const char *ca_file;
} common_opts;

/* Makes a client from FLUXIMAGE_API_KEY and the common options, or prints why not. */
static flx_client *make_client(const common_opts *co) {
    const char *key = getenv("FLUXIMAGE_API_KEY");
    if (key == NULL || *key == '\0') {
        fputs("flx: set FLUXIMAGE_API_KEY to your API key (flx_live_...)\n", stderr);
        return NULL;
    }
    flx_client *c = flx_client_new(NULL); /* the library reads and checks the variable */
    if (c == NULL) {
        fprintf(stderr, "flx: %s\n", flx_last_error());
        return NULL;
    }
    if (co->base_url != NULL && flx_client_set_base_url(c, co->base_url) != FLX_OK) {
        fprintf(stderr, "flx: --base-url: %s\n", flx_last_error());
        flx_client_free(c);
        return NULL;
    }
    if (co->ca_file != NULL && flx_client_set_ca_file(c, co->ca_file) != FLX_OK) {
        fprintf(stderr, "flx: --ca-file: %s\n", flx_last_error());
        flx_client_free(c);
        return NULL;
    }
    flx_client_set_user_agent(c, "flx-example/" FLX_VERSION_STRING);
    return c;
}

/* When a compress call fails before sending anything, the library returns no batch and
 * names only one file; this says, for every path, what is wrong with it locally (the same
 * checks the library makes: readable, a regular file, not empty, at most 20 MB). Returns
 * how many problems it printed. */
static size_t explain_local_failures(const strlist *paths) {
    size_t found = 0;
    for (size_t i = 0; i < paths->n; i++) {
        const char *p = paths->v[i];
        struct stat st;
        const char *why = NULL;
        char buf[128];
        if (stat(p, &st) != 0) {
            why = strerror(errno);
        } else if (!S_ISREG(st.st_mode)) {
            why = "not a regular file";
        } else if (st.st_size == 0) {
            why = "the file is empty";
        } else if ((uint64_t)st.st_size > (uint64_t)FLX_MAX_FILE_BYTES) {
            snprintf(buf, sizeof buf, "%.1f MB is over the %d MB limit per file", (double)st.st_size / 1048576.0,
                     FLX_MAX_FILE_BYTES / 1048576);
            why = buf;
        } else if (access(p, R_OK) != 0) {
            why = strerror(errno);
        }
        if (why != NULL) {
            fprintf(stderr, "flx: FAILED %s: %s\n", p, why);
            found++;
        }
    }
    return found;
}

/* Prints why a whole call failed; returns the exit status to use. */
static int report_call_failure(const char *what, flx_status st) {
    if (st == FLX_CANCELLED && interrupted) {
        fputs("flx: interrupted\n", stderr);
        return EXIT_INTERRUPTED;
    }
    int http = flx_last_http_status();
    if (http > 0) {
        fprintf(stderr, "flx: %s failed: %s (HTTP %d): %s\n", what, flx_status_str(st), http,
                flx_last_error());
    } else {
        fprintf(stderr, "flx: %s failed: %s: %s\n", what, flx_status_str(st), flx_last_error());
    }
    if (st == FLX_RATE_LIMITED && flx_last_retry_after_ms() >= 0)
        fprintf(stderr, "flx: the service asks to wait %.1f s\n", (double)flx_last_retry_after_ms() / 1000.0);
    return st == FLX_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_FAILED;
}

/* Takes the value of option `opt` from `--opt VALUE` or `--opt=VALUE`; NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *inline_value) {
    if (inline_value != NULL) return inline_value;
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

/* Splits "--name=value" into name and value (value NULL when there is no '='). The name is
 * copied into buf. */
static const char *split_opt(const char *arg, char *buf, size_t n, const char **value) {
    *value = NULL;
    if (strncmp(arg, "--", 2) == 0) {
        const char *eq = strchr(arg, '=');
        if (eq != NULL && (size_t)(eq - arg) < n) {
            memcpy(buf, arg, (size_t)(eq - arg));
            buf[eq - arg] = '\0';
            *value = eq + 1;
            return buf;
        }
    }
    return arg;
}

/* ---- flx usage ------------------------------------------------------------------------- */

static void print_limit(const char *label, int64_t used, int64_t limit) {
    if (used < 0 && limit < 0) {
        printf("%-22s unknown\n", label);
    } else if (limit >= 99999) {
        printf("%-22s %" PRId64 " used (unlimited plan)\n", label, used);
    } else if (limit >= 0) {
        printf("%-22s %" PRId64 " used of %" PRId64 "\n", label, used, limit);
    } else {
        printf("%-22s %" PRId64 " used\n", label, used);
    }
}

static int cmd_usage(int argc, char **argv) {
    common_opts co = {0};
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *v;
        const char *a = split_opt(argv[i], name, sizeof name, &v);
        if (strcmp(a, "--base-url") == 0) {
            if ((co.base_url = opt_value(argc, argv, &i, v)) == NULL) return usage_error("--base-url needs a URL");
        } else if (strcmp(a, "--ca-file") == 0) {
            if ((co.ca_file = opt_value(argc, argv, &i, v)) == NULL) return usage_error("--ca-file needs a file");
        } else {
            return usage_error("usage: unexpected argument %s", argv[i]);
        }
    }
    flx_client *c = make_client(&co);
    if (c == NULL) return EXIT_USAGE;
    flx_usage *u = NULL;
    flx_status st = flx_usage_get(c, NULL, &u);
    if (st != FLX_OK) {
        int rc = report_call_failure("usage", st);
        flx_client_free(c);
        return rc;
    }
    const char *plan = flx_usage_plan(u);
    printf("%-22s %s\n", "plan", plan ? plan : "unknown");
    print_limit("compressions", flx_usage_num(u, FLX_USAGE_COMPRESSIONS_USED),
                flx_usage_num(u, FLX_USAGE_COMPRESSIONS_LIMIT));
    int64_t ai_used = flx_usage_num(u, FLX_USAGE_AI_CREDITS_USED);
    int64_t ai_month = flx_usage_num(u, FLX_USAGE_AI_CREDITS_MONTHLY);
    int64_t ai_topup = flx_usage_num(u, FLX_USAGE_AI_TOPUP_CREDITS);
    int64_t ai_left = flx_usage_num(u, FLX_USAGE_AI_CREDITS_REMAINING);
    print_limit("AI credits this month", ai_used, ai_month);
    if (ai_topup >= 0) printf("%-22s %" PRId64 "\n", "AI top-up credits", ai_topup);
    if (ai_left >= 0) printf("%-22s %" PRId64 "\n", "AI credits left", ai_left);
    int64_t can_c = flx_usage_num(u, FLX_USAGE_CAN_COMPRESS);
    int64_t can_ai = flx_usage_num(u, FLX_USAGE_CAN_USE_AI);
    printf("%-22s %s\n", "can compress", can_c < 0 ? "unknown" : can_c ? "yes" : "no");
    printf("%-22s %s\n", "can use AI", can_ai < 0 ? "unknown" : can_ai ? "yes" : "no");
    flx_usage_free(u);
    flx_client_free(c);
    return 0;
}

/* ---- flx compress ---------------------------------------------------------------------- */

static int parse_format(const char *s, int *out) {
    static const struct {
        const char *name;
        int value;
    } formats[] = {{"webp", FLX_FORMAT_WEBP}, {"avif", FLX_FORMAT_AVIF}, {"jpg", FLX_FORMAT_JPG},
                   {"jpeg", FLX_FORMAT_JPG},  {"png", FLX_FORMAT_PNG}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcasecmp(s, formats[i].name) == 0) {
            *out = formats[i].value;
            return 0;
        }
    }
    return -1;
}

/* The last path component, for display. */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return (s != NULL && s[1] != '\0') ? s + 1 : path;
}

/* Picks where item i is saved: OUTDIR/<result name>, or OUTDIR/<stem>-2.<ext> ... when an
 * earlier item of this run already took that name (a.png and a.jpg both give a.webp).
 * Returns an owned path, or NULL when the result has no usable name (the library then
 * chooses, given the folder). */
static char *pick_target(const char *outdir, const char *name, strlist *taken) {
    if (name == NULL || *name == '\0' || strchr(name, '/') != NULL || strcmp(name, "..") == 0 ||
        strcmp(name, ".") == 0)
        return NULL;
    char *candidate = xstrdup(name);
    for (unsigned k = 2; k < 10000; k++) {
        int clash = 0;
        for (size_t j = 0; j < taken->n && !clash; j++) clash = strcmp(taken->v[j], candidate) == 0;
        if (!clash) break;
        free(candidate);
        const char *dot = strrchr(name, '.');
        int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
        candidate = xasprintf("%.*s-%u%s", stem, name, k, dot && dot != name ? dot : "");
    }
    strlist_push(taken, candidate);
    const char *sep = outdir[strlen(outdir) - 1] == '/' ? "" : "/";
    return xasprintf("%s%s%s", outdir, sep, candidate);
}

static int cmd_compress(int argc, char **argv) {
    common_opts co = {0};
    const char *outdir = NULL;
    int format = FLX_FORMAT_WEBP;
    uint32_t quality = 0, max_w = 0, max_h = 0;
    int have_quality = 0;
    strlist args = {0}; /* FILE|DIR operands, borrowed from argv (not freed one by one) */
    int only_operands = 0;

    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *v;
        const char *a = only_operands ? argv[i] : split_opt(argv[i], name, sizeof name, &v);
        if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
            strlist_push(&args, argv[i]);
            continue;
        }
        const char *val = NULL;
        int rc = 0;
        if (strcmp(a, "--") == 0) {
            only_operands = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if ((outdir = opt_value(argc, argv, &i, v)) == NULL) rc = usage_error("%s needs a folder", a);
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0) {
            if ((val = opt_value(argc, argv, &i, v)) == NULL || parse_format(val, &format) != 0)
                rc = usage_error("--format must be webp, avif, jpg or png%s%s", val ? ", not " : "", val ? val : "");
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quality") == 0) {
            if ((val = opt_value(argc, argv, &i, v)) == NULL || parse_uint(val, UINT32_MAX, &quality) != 0)
                rc = usage_error("--quality needs a whole number from 40 to 100");
            have_quality = 1;
        } else if (strcmp(a, "--max-width") == 0) {
            if ((val = opt_value(argc, argv, &i, v)) == NULL || parse_uint(val, UINT32_MAX, &max_w) != 0)
                rc = usage_error("--max-width needs a number of pixels");
        } else if (strcmp(a, "--max-height") == 0) {
            if ((val = opt_value(argc, argv, &i, v)) == NULL || parse_uint(val, UINT32_MAX, &max_h) != 0)
                rc = usage_error("--max-height needs a number of pixels");
        } else if (strcmp(a, "--base-url") == 0) {
            if ((co.base_url = opt_value(argc, argv, &i, v)) == NULL) rc = usage_error("--base-url needs a URL");
        } else if (strcmp(a, "--ca-file") == 0) {
            if ((co.ca_file = opt_value(argc, argv, &i, v)) == NULL) rc = usage_error("--ca-file needs a file");
        } else {
            rc = usage_error("compress: unknown option %s", argv[i]);
        }
        if (rc != 0) {
            free(args.v);
            return rc;
        }
    }
    if (outdir == NULL || *outdir == '\0') {
        free(args.v);
        return usage_error("compress: say where to save the results with -o OUTDIR");
    }
    if (args.n == 0) {
        free(args.v);
        return usage_error("compress: give at least one FILE or DIR");
    }

    /* Options first: the library checks the ranges and names the bad one. */
    flx_options *opts = flx_options_new();
    if (opts == NULL) die_oom();
    int rc = 0;
    if (flx_options_set_format(opts, format) != FLX_OK ||
        (have_quality && flx_options_set_quality(opts, quality) != FLX_OK) ||
        ((max_w || max_h) && flx_options_set_max_size(opts, max_w, max_h) != FLX_OK)) {
        rc = usage_error("%s", flx_last_error());
    }

    /* Expand the operands: files as given, folders to their image files. */
    strlist paths = {0};
    for (size_t i = 0; rc == 0 && i < args.n; i++) {
        struct stat st;
        if (stat(args.v[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (add_dir(&paths, args.v[i]) != 0) rc = EXIT_USAGE;
        } else {
            /* Missing or unreadable files are passed on: the library fails just that item. */
            strlist_push(&paths, xstrdup(args.v[i]));
        }
    }
    free(args.v);
    if (rc == 0 && paths.n == 0) {
        fputs("flx: no image files to compress\n", stderr);
        rc = EXIT_USAGE;
    }
    flx_client *client = NULL;
    if (rc == 0 && (client = make_client(&co)) == NULL) rc = EXIT_USAGE;
    if (rc == 0 && mkdir_p(outdir) != 0) {
        fprintf(stderr, "flx: cannot use output folder %s: %s\n", outdir, strerror(errno));
        rc = EXIT_USAGE;
    }
    if (rc != 0) {
        flx_client_free(client);
        strlist_free(&paths);
        flx_options_free(opts);
        return rc;
    }

    progress_state ps = {.tty = isatty(STDERR_FILENO), .verb = "uploading"};
    flx_options_set_progress(opts, on_progress, &ps);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    flx_batch *batch = NULL;
    flx_status st = flx_compress(client, (const char *const *)paths.v, paths.n, opts, &batch);
    progress_clear(&ps);
    if (st != FLX_OK && st != FLX_PARTIAL) {
        int local = flx_last_http_status() == 0 &&
                    (st == FLX_INVALID_ARGUMENT || st == FLX_IO || st == FLX_TOO_LARGE);
        if (local && !interrupted) {
            /* Every file failed its checks and nothing was sent: list each one. */
            fprintf(stderr, "flx: nothing was sent: no file passed the checks (%s)\n", flx_last_error());
            if (explain_local_failures(&paths) == 0) fprintf(stderr, "flx: %s\n", flx_status_str(st));
            rc = EXIT_FAILED;
        } else {
            rc = report_call_failure("compress", st);
        }
        goto done;
    }

    /* Save every successful item, then print the table. */
    size_t n = flx_batch_len(batch);
    char **saved = calloc(n ? n : 1, sizeof *saved);  /* where item i went, or NULL */
    char **failed = calloc(n ? n : 1, sizeof *failed); /* why item i failed, or NULL */
    if (saved == NULL || failed == NULL) die_oom();
    strlist taken = {0};
    ps.verb = "downloading";
    ps.count = n;
    for (size_t i = 0; i < n && !interrupted; i++) {
        flx_status ist = flx_batch_status(batch, i);
        if (ist != FLX_OK) {
            const char *why = flx_batch_error(batch, i);
            failed[i] = xasprintf("%s: %s", flx_status_str(ist), why ? why : "failed");
            continue;
        }
        ps.index = i;
        char *target = pick_target(outdir, flx_batch_str(batch, i, FLX_FIELD_NAME), &taken);
        flx_status sst = flx_batch_save(client, batch, i, target ? target : outdir, FLX_EXISTS_ERROR, opts, NULL);
        if (sst == FLX_OK) {
            saved[i] = target ? target : xstrdup(outdir);
        } else {
            failed[i] = xasprintf("saving failed: %s: %s", flx_status_str(sst), flx_last_error());
            free(target);
        }
    }
    progress_clear(&ps);
    strlist_free(&taken);

    size_t ok = 0, bad = 0;
    int64_t total_in = 0, total_out = 0;
    size_t width = 4;
    for (size_t i = 0; i < n; i++) {
        size_t w = strlen(base_name(flx_batch_str(batch, i, FLX_FIELD_INPUT)));
        if (saved[i] && w > width) width = w;
    }
    if (width > 48) width = 48;
    int header = 0;
    for (size_t i = 0; i < n; i++) {
        if (saved[i] == NULL) continue;
        if (!header) {
            printf("%-*s  %10s  %10s  %7s  %s\n", (int)width, "file", "original", "new", "saving", "saved as");
            header = 1;
        }
        const char *input = flx_batch_str(batch, i, FLX_FIELD_INPUT);
        int64_t before = flx_batch_num(batch, i, FLX_FIELD_ORIGINAL_SIZE);
        int64_t after = flx_batch_num(batch, i, FLX_FIELD_SIZE);
        struct stat sti;
        if (before < 0 && stat(input, &sti) == 0) before = (int64_t)sti.st_size;
        struct stat sto;
        if (stat(saved[i], &sto) == 0 && S_ISREG(sto.st_mode)) after = (int64_t)sto.st_size;
        char a[32], b[32], pct[16] = "?";
        if (before > 0 && after >= 0) snprintf(pct, sizeof pct, "%.1f%%", 100.0 * (double)(before - after) / (double)before);
        printf("%-*.*s  %10s  %10s  %7s  %s\n", (int)width, (int)width, base_name(input), human(a, sizeof a, before),
               human(b, sizeof b, after), pct, base_name(saved[i]));
        if (before > 0 && after >= 0) {
            total_in += before;
            total_out += after;
        }
        ok++;
    }
    for (size_t i = 0; i < n; i++) bad += saved[i] == NULL;
    if (ok > 0) {
        char a[32], b[32], pct[16] = "?";
        if (total_in > 0) snprintf(pct, sizeof pct, "%.1f%%", 100.0 * (double)(total_in - total_out) / (double)total_in);
        printf("%-*s  %10s  %10s  %7s\n", (int)width, "total", human(a, sizeof a, total_in), human(b, sizeof b, total_out), pct);
    }
    printf("%zu of %zu images optimized, %zu failed%s%s\n", ok, n, bad, ok ? "; saved in " : "", ok ? outdir : "");
    for (size_t i = 0; i < n; i++) {
        if (saved[i] != NULL) continue;
        fprintf(stderr, "flx: FAILED %s: %s\n", flx_batch_str(batch, i, FLX_FIELD_INPUT),
                failed[i] ? failed[i] : "not saved (interrupted)");
    }
    rc = interrupted ? EXIT_INTERRUPTED : bad > 0 ? EXIT_FAILED : 0;
    if (interrupted) fputs("flx: interrupted\n", stderr);
    for (size_t i = 0; i < n; i++) {
        free(saved[i]);
        free(failed[i]);
    }
    free(saved);
    free(failed);

done:
    flx_batch_free(batch);
    flx_client_free(client);
    flx_options_free(opts);
    strlist_free(&paths);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        printf(HELP, flx_version(), USAGE);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("flx (libfluximage %s)\n", flx_version());
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf(HELP, flx_version(), USAGE);
            return 0;
        }
    }
    if (strcmp(cmd, "compress") == 0) return cmd_compress(argc - 2, argv + 2);
    if (strcmp(cmd, "usage") == 0) return cmd_usage(argc - 2, argv + 2);
    return usage_error("unknown command %s", cmd);
}
