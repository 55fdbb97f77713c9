/*
 * compress: the C API on one page. Compresses the images named on the command line in one
 * batch, prints each image's outcome, and saves every result in OUTDIR.
 *
 *   compress OUTDIR IMAGE...        (the key comes from FLUXIMAGE_API_KEY)
 *
 * Exit status: 0 all saved, 1 some image failed, 2 the call itself failed.
 * Build: cc -std=c11 $(pkg-config --cflags fluximage) compress.c $(pkg-config --libs fluximage)
 * The command-line tool for real work is flx (cli/): flx compress --help.
 */
#include <fluximage.h>

#include <inttypes.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUTDIR IMAGE...\n", argv[0]);
        return 2;
    }
    /* A path ending in '/' means "into this folder, named after the result" (created when
     * missing); without it, a path names the output file itself. */
    char outdir[4096];
    int n = snprintf(outdir, sizeof outdir, "%s/", argv[1]);
    if (n < 0 || (size_t)n >= sizeof outdir) {
        fprintf(stderr, "the output folder name is too long\n");
        return 2;
    }

    flx_client *client = flx_client_new(NULL); /* NULL: the key from FLUXIMAGE_API_KEY */
    if (!client) {
        fprintf(stderr, "%s\n", flx_last_error()); /* read at once: the next call clears it */
        return 2;
    }
    flx_options *options = flx_options_new(); /* WebP at quality 82 ... */
    flx_options_set_format(options, FLX_FORMAT_AVIF); /* ... made AVIF at quality 60 */
    flx_options_set_quality(options, 60);

    flx_batch *batch = NULL;
    flx_status st = flx_compress(client, (const char *const *)&argv[2], (size_t)(argc - 2), options, &batch);
    if (st != FLX_OK && st != FLX_PARTIAL && !batch) { /* nothing came back: say why */
        fprintf(stderr, "compress: %s: %s\n", flx_status_str(st), flx_last_error());
        flx_options_free(options);
        flx_client_free(client);
        return 2;
    }

    int failed = 0;
    for (size_t i = 0; i < flx_batch_len(batch); i++) {
        const char *input = flx_batch_str(batch, i, FLX_FIELD_INPUT);
        if (flx_batch_status(batch, i) != FLX_OK) { /* this image failed, the others go on */
            printf("%s: failed: %s\n", input, flx_batch_error(batch, i));
            failed++;
            continue;
        }
        /* Save into OUTDIR under the result's name; FLX_EXISTS_ERROR: an existing file is
         * never replaced (FLX_EXISTS). The library writes the path it chose to `path`. */
        char *path = NULL;
        flx_status saved = flx_batch_save(client, batch, i, outdir, FLX_EXISTS_ERROR, NULL, &path);
        if (saved != FLX_OK) {
            printf("%s: not saved: %s\n", input, flx_last_error());
            failed++;
            continue;
        }
        printf("%s -> %s: %" PRId64 " -> %" PRId64 " bytes\n", input, path,
               flx_batch_num(batch, i, FLX_FIELD_ORIGINAL_SIZE), flx_batch_num(batch, i, FLX_FIELD_SIZE));
        flx_string_free(path);
    }

    flx_batch_free(batch);
    flx_options_free(options);
    flx_client_free(client);
    return failed ? 1 : 0;
}
