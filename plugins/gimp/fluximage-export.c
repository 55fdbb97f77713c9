/*
 * fluximage-export: a GIMP 2.10 plug-in that exports the current image through the
 * Fluximage image-compression API, using libfluximage (include/fluximage.h).
 *
 * It is linked with libfluximage.a (make gimp-plugin), so the installed plug-in is one file
 * that needs only GIMP's own libraries.
 *
 * PDB procedures: plug-in-fluximage-export, menu File > Export > "Export via Fluximage...",
 * and plug-in-fluximage-export-ai, the same with the AI options (no menu entry):
 *
 *   (plug-in-fluximage-export RUN-NONINTERACTIVE image drawable
 *                             "/path/out.webp" "webp" 82 0 0)
 *     -> (original-size compressed-size)
 *   (plug-in-fluximage-export-ai RUN-NONINTERACTIVE image drawable
 *                                "/path/out.webp" "webp" 82 0 0 alt-text seo-name)
 *     -> (original-size compressed-size written-file alt-text)
 *
 * The dialog (interactive mode) first shows the key's plan and credits left (GET /api/usage,
 * asked for once the dialog is on screen), greys out the AI options the plan does not allow
 * (with the reason) and Export when no compression is left.
 *
 * What one run does:
 *   1. Renders what is visible in the image into a throw-away duplicate (visible layers
 *      merged, alpha kept; flattened onto the background colour for JPEG), scaled down in
 *      GIMP when a maximum width/height is given, and saves it as a lossless PNG in a private
 *      temporary folder (lossless WebP instead when the PNG is over the API's 20 MB limit).
 *   2. Checks that the output can be written (a missing folder is created on saving), then
 *      compresses the file with flx_compress() (with AI alt text / SEO name when asked for)
 *      and writes the result with flx_batch_save() to the chosen path, or beside it under
 *      the SEO name (never replacing a file there), atomically (a temporary file beside it,
 *      renamed into place): the output is either the whole result or untouched.
 *   3. Reports the saving ("1.2 MB -> 210 kB, 83% smaller", and the alt text) as a message,
 *      which GIMP shows in the image window's status bar; in interactive mode the alt text
 *      also gets a window with a Copy button; PDB callers get the sizes (and, from the -ai
 *      procedure, the file written and the alt text).
 *
 * Progress and cancelling: the library calls run on a thread of their own while this thread
 * runs GLib's main loop, so the dialog (kept open during the export) stays responsive even
 * while the server works and no byte moves. A 50 ms tick feeds the latest figures to
 * gimp_progress_update() (the status bar) and the dialog's progress bar; Cancel (or closing
 * the dialog) triggers the call's flx_cancel, and the library ends it within about 100 ms
 * with FLX_CANCELLED, removing its temporary files: no output is written and the procedure
 * returns GIMP_PDB_CANCEL. (The cancel button of GIMP's own status-bar progress does
 * something harsher in GIMP 2.10: GIMP kills the plug-in process. That also leaves the
 * chosen path untouched, but the library gets no chance to delete its temporary download,
 * a hidden file ".XXXXXXXXXXXXXXXX.flx-tmp" beside the output, nor we our temporary folder.)
 *
 * The API key comes from the environment variable FLUXIMAGE_API_KEY or, when that is unset,
 * from the gimprc token "fluximage-api-key" (a line  (fluximage-api-key "flx_live_...")  in
 * the user's gimprc). It is never stored in the image, in the plug-in's saved settings or in
 * any message; our copy of it is wiped once the client holds it. FLUXIMAGE_BASE_URL (read by
 * the library) points the plug-in at another server, such as the local emulator.
 *
 * Errors (a refused key, used-up credits, a feature outside the plan, no network, ...) end
 * the procedure with GIMP_PDB_EXECUTION_ERROR and a sentence saying what happened and what
 * to do; GIMP shows it as an error message ("Execution error for 'Export via Fluximage...'")
 * and a Script-Fu caller gets it in the error it raises.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include <fluximage.h>

#define PLUG_IN_PROC    "plug-in-fluximage-export"
#define PLUG_IN_BINARY  "fluximage-export"
#define PLUG_IN_ROLE    "gimp-fluximage-export"
#define PLUG_IN_PROC_AI "plug-in-fluximage-export-ai"
#ifndef PLUG_IN_VERSION /* the build passes the library's version */
#define PLUG_IN_VERSION "0.0.0"
#endif

#define KEY_ENV    "FLUXIMAGE_API_KEY"
#define KEY_GIMPRC "fluximage-api-key"

#ifdef FLX_PLUGIN_TESTING
/* Test hooks, compiled only into the build plugins/gimp/test.sh uses (make gimp-test), never
 * into the installed or distributed plug-in:
 * - FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS=N: N ms after the upload starts, act as if the user
 *   had clicked Cancel (the dialog's button in interactive mode; the flag it sets otherwise),
 *   so that the cancel path runs in batch mode too.
 * - FLUXIMAGE_GIMP_TEST_CLICK_EXPORT=1: in interactive mode, once the credits are known,
 *   report what the dialog shows (FLXTEST lines), tick the AI options when they are
 *   available and FLUXIMAGE_GIMP_TEST_AI=1, and click Export; after the export, click the
 *   alt-text window's Copy button, report the clipboard, and close it. */
#define TEST_CANCEL_ENV "FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS"
#define TEST_EXPORT_ENV "FLUXIMAGE_GIMP_TEST_CLICK_EXPORT"
#define TEST_AI_ENV     "FLUXIMAGE_GIMP_TEST_AI"
#define TESTING 1
#else
#define TESTING 0
#endif

/* Documented limits of the API (fluximage-api-md), mirrored by the dialog's ranges. */
#define QUALITY_MIN     40
#define QUALITY_MAX     100
#define QUALITY_DEFAULT 82
#define SIZE_MAX_PX     65535

/* ---- formats ---------------------------------------------------------------------------- */

typedef struct
{
  flx_format   format;
  const gchar *name;      /* as the PDB parameter takes it */
  const gchar *extension; /* the usual file extension, with its dot */
  const gchar *label;     /* for the dialog */
} FormatInfo;

static const FormatInfo formats[] = {
  { FLX_FORMAT_WEBP, "webp", ".webp", "WebP" },
  { FLX_FORMAT_AVIF, "avif", ".avif", "AVIF" },
  { FLX_FORMAT_JPG,  "jpg",  ".jpg",  "JPEG" },
  { FLX_FORMAT_PNG,  "png",  ".png",  "PNG (lossless)" },
};

static const FormatInfo *
format_by_value (gint value)
{
  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    if ((gint) formats[i].format == value)
      return &formats[i];
  return &formats[0];
}

/* The format named `name` ("webp", "avif", "jpg"/"jpeg", "png", any case); with "" or "auto",
 * the format the extension of `path` names. -1 when neither says. */
static gint
parse_format (const gchar *name, const gchar *path)
{
  if (name && *name && g_ascii_strcasecmp (name, "auto") != 0)
    {
      if (g_ascii_strcasecmp (name, "jpeg") == 0)
        return FLX_FORMAT_JPG;
      for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
        if (g_ascii_strcasecmp (name, formats[i].name) == 0)
          return formats[i].format;
      return -1;
    }

  const gchar *dot = path ? strrchr (path, '.') : NULL;
  if (! dot || strchr (dot, G_DIR_SEPARATOR))
    return -1;
  return parse_format (dot + 1, NULL);
}

/* ---- settings --------------------------------------------------------------------------- */

/* What one export needs; also saved with gimp_set_data() between runs of one GIMP session.
 * It never holds the API key. */
typedef struct
{
  gchar  path[4096];
  gint32 format;     /* a flx_format */
  gint32 quality;    /* QUALITY_MIN..QUALITY_MAX */
  gint32 max_width;  /* 0: no limit */
  gint32 max_height; /* 0: no limit */
  gint32 image_id;   /* the image `path` was chosen for */
  gint32 alt_text;   /* ask for AI-written alt text (paid plans) */
  gint32 seo_name;   /* name the file after the AI-written SEO name (paid plans) */
} ExportVals;

static const ExportVals default_vals = { "", FLX_FORMAT_WEBP, QUALITY_DEFAULT, 0, 0, -1, 0, 0 };

/* NULL when `v` is usable, else why not (a static string). */
static const gchar *
check_vals (const ExportVals *v)
{
  if (v->path[0] == '\0')
    return "no output file was given";
  if (v->quality < QUALITY_MIN || v->quality > QUALITY_MAX)
    return "quality must be between 40 and 100";
  if (v->max_width < 0 || v->max_width > SIZE_MAX_PX ||
      v->max_height < 0 || v->max_height > SIZE_MAX_PX)
    return "max width and max height must be between 0 (no limit) and 65535";
  if (g_file_test (v->path, G_FILE_TEST_IS_DIR))
    return "the output path is a folder; give a file name";
  return NULL;
}

/* Checked before anything is uploaded, so that no credit is spent on a result that cannot
 * be written: NULL when the output's folder is writable, or is missing and would be created
 * (the library creates missing folders when it saves) in a writable one; else why not
 * (g_free). Nothing is created here: a failed upload leaves no empty folder behind. */
static gchar *
check_folder (const gchar *path)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *problem = NULL;
  /* The nearest folder that exists; bounded by the path's depth. */
  while (! g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      gchar *parent = g_path_get_dirname (dir);
      gboolean top = strcmp (parent, dir) == 0;
      g_free (dir);
      dir = parent;
      if (top)
        break;
    }
  if (! g_file_test (dir, G_FILE_TEST_IS_DIR))
    problem = g_strdup_printf ("%s is not a folder", dir);
  else if (g_access (dir, W_OK) != 0)
    problem = g_strdup_printf ("the folder %s is not writable", dir);
  g_free (dir);
  return problem;
}

/* ---- the API key ------------------------------------------------------------------------ */

typedef enum { KEY_NONE, KEY_FROM_ENV, KEY_FROM_GIMPRC } KeySource;

/* Overwrites a secret in memory in a way the compiler may not drop. */
static void
wipe (gchar *secret)
{
  if (secret)
    {
      volatile gchar *p = secret;
      while (*p)
        *p++ = '\0';
    }
}

/* Where the key will come from; with `key_out`, a copy of the gimprc key (to be wiped and
 * freed by the caller) when that is the source. */
static KeySource
find_key (gchar **key_out)
{
  const gchar *env = g_getenv (KEY_ENV);
  if (env && *env)
    return KEY_FROM_ENV;

  gchar *rc = gimp_gimprc_query (KEY_GIMPRC);
  if (rc && *rc)
    {
      if (key_out)
        *key_out = rc;
      else
        {
          wipe (rc);
          g_free (rc);
        }
      return KEY_FROM_GIMPRC;
    }
  g_free (rc);
  return KEY_NONE;
}

/* ---- progress and cancel ---------------------------------------------------------------- */

/* The library calls run on a thread of their own (run_call), so that this thread keeps
 * running GLib's main loop: the dialog stays responsive and its Cancel button works even
 * while the server works and no byte moves (the library reports progress only when the
 * figures change). A tick on this thread shows the latest figures and turns a requested
 * cancel into flx_cancel_trigger(), which ends the call within about 100 ms. */

typedef enum { PHASE_UPLOAD, PHASE_WAIT, PHASE_DOWNLOAD } Phase;

typedef struct
{
  /* Interactive mode only: the dialog (kept open during the export) and its progress bar. */
  GtkWidget *dialog;
  GtkWidget *bar;
  gboolean   cancel_requested; /* set by Cancel / closing the dialog (or the test hook) */
#if TESTING
  gint64     cancel_at_us;     /* test hook: monotonic time to cancel at, or 0 */
#endif

  /* What the library has reported so far; it does not say which phase it is in, so it is
   * inferred: the upload counts up to its total, the server then works (no bytes move), and
   * the download starts over from 0 with the result's size as total. */
  Phase   phase;
  guint64 upload_total;
  guint64 last_done;
  gdouble shown; /* the fraction last sent to GIMP */

  /* Shared with the thread running the call. */
  GMutex      lock;
  guint64     done, total; /* the latest figures the library reported */
  gboolean    fresh;       /* figures arrived since the last tick */
  flx_cancel *cancel;      /* attached to the call's options */
} Job;

static void
job_set_text (Job *job, const gchar *text)
{
  gimp_progress_set_text (text);
  if (job->bar)
    gtk_progress_bar_set_text (GTK_PROGRESS_BAR (job->bar), text);
}

/* Runs the dialog's pending events, so that it is redrawn while GIMP renders the image. */
static void
job_pump_events (Job *job)
{
  if (job->dialog)
    while (gtk_events_pending ())
      gtk_main_iteration ();
}

/* The flx_progress_fn, on the call's thread: records the figures for the next tick. */
static int
on_progress (void *user, uint64_t done, uint64_t total)
{
  Job *job = user;
  g_mutex_lock (&job->lock);
  job->done  = done;
  job->total = total;
  job->fresh = TRUE;
  g_mutex_unlock (&job->lock);
  return 0; /* a cancel goes through job->cancel */
}

/* Shows figures: upload 0..80 %, a pulsing bar while the server works, download 80..100 %. */
static void
job_show (Job *job, guint64 done, guint64 total, gboolean fresh)
{
  if (fresh)
    {
      if (job->phase == PHASE_UPLOAD && job->upload_total == 0)
        job->upload_total = total;
      if (job->phase != PHASE_DOWNLOAD &&
          (done < job->last_done || (total != job->upload_total && job->upload_total != 0)))
        {
          job->phase = PHASE_DOWNLOAD;
          job_set_text (job, "Downloading the result from Fluximage");
        }
      else if (job->phase == PHASE_UPLOAD && total > 0 && done >= total)
        {
          job->phase = PHASE_WAIT;
          job_set_text (job, "Fluximage is compressing the image");
        }
      job->last_done = done;
    }

  gdouble fraction = -1.0; /* < 0: pulse */
  if (job->phase == PHASE_UPLOAD && total > 0)
    fraction = 0.8 * (gdouble) done / (gdouble) total;
  else if (job->phase == PHASE_DOWNLOAD && total > 0)
    fraction = 0.8 + 0.2 * (gdouble) MIN (done, total) / (gdouble) total;

  if (fraction < 0.0)
    {
      gimp_progress_pulse ();
      if (job->bar)
        gtk_progress_bar_pulse (GTK_PROGRESS_BAR (job->bar));
    }
  else if (fraction - job->shown >= 0.01 || fraction < job->shown)
    {
      job->shown = fraction;
      gimp_progress_update (fraction);
      if (job->bar)
        gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (job->bar), fraction);
    }
}

/* Every 50 ms on this thread while a call runs. */
static gboolean
job_tick (gpointer data)
{
  Job *job = data;
  g_mutex_lock (&job->lock);
  guint64  done = job->done, total = job->total;
  gboolean fresh = job->fresh;
  job->fresh = FALSE;
  g_mutex_unlock (&job->lock);
  if (fresh || job->phase == PHASE_WAIT)
    job_show (job, done, total, fresh);

#if TESTING
  if (job->cancel_at_us && g_get_monotonic_time () >= job->cancel_at_us)
    {
      job->cancel_at_us = 0;
      GtkWidget *cancel = job->dialog
        ? gtk_dialog_get_widget_for_response (GTK_DIALOG (job->dialog), GTK_RESPONSE_CANCEL)
        : NULL;
      if (cancel)
        gtk_button_clicked (GTK_BUTTON (cancel));
      else
        job->cancel_requested = TRUE;
    }
#endif
  if (job->cancel_requested && job->cancel)
    flx_cancel_trigger (job->cancel);
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* What a call's thread runs: `work (data)`, then it wakes the waiting main loop. */
typedef struct
{
  GThreadFunc work;
  gpointer    data;
  GMainLoop  *loop;
} Call;

static gpointer
call_thread (gpointer data)
{
  Call *call = data;
  call->work (call->data);
  g_idle_add (quit_loop, call->loop);
  return NULL;
}

/* Runs `work (data)` on a thread of its own while this thread runs the main loop with the
 * job's tick (when `job` is not NULL); returns when it has ended. */
static void
run_call (GThreadFunc work, gpointer data, Job *job)
{
  Call     call = { work, data, g_main_loop_new (NULL, FALSE) };
  guint    tick = job ? g_timeout_add (50, job_tick, job) : 0;
  GThread *thread = g_thread_new ("fluximage", call_thread, &call);
  g_main_loop_run (call.loop); /* until call_thread's idle quits it */
  g_thread_join (thread);
  if (tick)
    g_source_remove (tick);
  g_main_loop_unref (call.loop);
}

/* ---- rendering the image to a temporary file -------------------------------------------- */

/* Runs the file-save procedure `proc` non-interactively on `drawable` of `image`, writing
 * `path`; `extra` are its `n_extra` arguments after (run-mode image drawable filename
 * raw-filename). */
static gboolean
run_save (const gchar *proc, gint32 image, gint32 drawable, const gchar *path,
          GimpParam *extra, gint n_extra, GError **error)
{
  gint       n = 5 + n_extra;
  GimpParam *args = g_new0 (GimpParam, n);
  gint       n_ret = 0;

  args[0].type = GIMP_PDB_INT32;    args[0].data.d_int32    = GIMP_RUN_NONINTERACTIVE;
  args[1].type = GIMP_PDB_IMAGE;    args[1].data.d_image    = image;
  args[2].type = GIMP_PDB_DRAWABLE; args[2].data.d_drawable = drawable;
  args[3].type = GIMP_PDB_STRING;   args[3].data.d_string   = (gchar *) path;
  args[4].type = GIMP_PDB_STRING;   args[4].data.d_string   = (gchar *) path;
  memcpy (args + 5, extra, sizeof (GimpParam) * n_extra);

  GimpParam *ret = gimp_run_procedure2 (proc, &n_ret, n, args);
  gboolean   ok  = n_ret > 0 && ret[0].data.d_status == GIMP_PDB_SUCCESS;
  if (! ok)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                 "GIMP could not write the image to a temporary file (%s): %s", proc,
                 n_ret > 1 && ret[1].type == GIMP_PDB_STRING && ret[1].data.d_string
                   ? ret[1].data.d_string : "no reason given");
  gimp_destroy_params (ret, n_ret);
  g_free (args);
  return ok;
}

static gboolean
save_png (gint32 image, gint32 drawable, const gchar *path, GError **error)
{
  /* file-png-save2: interlace, compression, bkgd, gama, offs, phys, time, comment, svtrans.
   * Level 6 compresses nearly as well as 9 in a fraction of the time; nothing but pixels is
   * written (no comment, time or EXIF). */
  GimpParam extra[9];
  gint32    values[9] = { 0, 6, 0, 0, 0, 0, 0, 0, 1 };
  for (gint i = 0; i < 9; i++)
    {
      extra[i].type = GIMP_PDB_INT32;
      extra[i].data.d_int32 = values[i];
    }
  return run_save ("file-png-save2", image, drawable, path, extra, 9, error);
}

static gboolean
save_lossless_webp (gint32 image, gint32 drawable, const gchar *path, GError **error)
{
  /* file-webp-save: preset, lossless, quality, alpha-quality, animation, anim-loop,
   * minimize-size, kf-distance, exif, iptc, xmp, delay, force-delay. */
  GimpParam extra[13];
  for (gint i = 0; i < 13; i++)
    {
      extra[i].type = GIMP_PDB_INT32;
      extra[i].data.d_int32 = 0;
    }
  extra[1].data.d_int32 = 1; /* lossless */
  extra[2].type = GIMP_PDB_FLOAT; extra[2].data.d_float = 100.0;
  extra[3].type = GIMP_PDB_FLOAT; extra[3].data.d_float = 100.0;
  return run_save ("file-webp-save", image, drawable, path, extra, 13, error);
}

static gint64
file_size (const gchar *path)
{
  GStatBuf st;
  return g_stat (path, &st) == 0 ? (gint64) st.st_size : -1;
}

/* Renders what is visible in `image` into `dir` as a lossless file named after `stem`
 * (a PNG, or a lossless WebP when the PNG is over the API's limit): a duplicate is made,
 * its visible layers merged (or flattened onto the background colour when `flatten`), and
 * scaled to fit max_width x max_height (never enlarged). The image itself is not touched.
 * Returns the new file's path (g_free it), or NULL with `error` set. */
static gchar *
render_visible (gint32 image, const gchar *dir, const gchar *stem, gboolean flatten,
                gint max_width, gint max_height, GError **error)
{
  gint32 dup = gimp_image_duplicate (image);
  if (dup == -1)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "GIMP could not copy the image");
      return NULL;
    }
  gimp_image_undo_disable (dup);

  gint32 layer = flatten ? gimp_image_flatten (dup)
                         : gimp_image_merge_visible_layers (dup, GIMP_CLIP_TO_IMAGE);
  if (layer == -1)
    {
      gimp_image_delete (dup);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "the image has no visible layer to export");
      return NULL;
    }
  gimp_layer_resize_to_image_size (layer);

  /* Scaling here, with GIMP's own high-quality resampling, makes the upload smaller; the
   * same limits still go to the server, where they then change nothing. */
  gint w = gimp_image_width (dup), h = gimp_image_height (dup);
  gdouble scale = 1.0;
  if (max_width > 0 && w > max_width)
    scale = MIN (scale, (gdouble) max_width / w);
  if (max_height > 0 && h > max_height)
    scale = MIN (scale, (gdouble) max_height / h);
  if (scale < 1.0)
    {
      gint nw = MAX (1, (gint) (w * scale + 0.5)), nh = MAX (1, (gint) (h * scale + 0.5));
      nw = max_width > 0 ? MIN (nw, max_width) : nw;
      nh = max_height > 0 ? MIN (nh, max_height) : nh;
      gimp_context_push ();
      gimp_context_set_interpolation (GIMP_INTERPOLATION_LOHALO);
      gimp_image_scale (dup, nw, nh);
      gimp_context_pop ();
    }

  gchar *name = g_strconcat (stem, ".png", NULL);
  gchar *path = g_build_filename (dir, name, NULL);
  g_free (name);
  gboolean ok = save_png (dup, layer, path, error);

  if (ok && file_size (path) > FLX_MAX_FILE_BYTES)
    {
      /* Lossless WebP is usually a quarter smaller than PNG, which may bring a large image
       * under the 20 MB limit; if it does not, the library refuses it before uploading. */
      gchar *webp_name = g_strconcat (stem, ".webp", NULL);
      gchar *webp = g_build_filename (dir, webp_name, NULL);
      g_free (webp_name);
      gimp_progress_set_text ("The PNG is over 20 MB: trying lossless WebP");
      if (save_lossless_webp (dup, layer, webp, NULL) &&
          file_size (webp) > 0 && file_size (webp) < file_size (path))
        {
          g_unlink (path);
          g_free (path);
          path = webp;
        }
      else
        {
          g_unlink (webp);
          g_free (webp);
        }
    }

  gimp_image_delete (dup);
  if (! ok)
    {
      g_unlink (path);
      g_free (path);
      return NULL;
    }
  return path;
}

/* ---- error messages --------------------------------------------------------------------- */

/* A message for a failed call: the library's own words (`detail`, which already says what to
 * do and never contains the key) and, where GIMP changes the advice, a hint. */
static gchar *
describe_failure (flx_status status, const gchar *detail)
{
  const gchar *hint = NULL;

  switch (status)
    {
    case FLX_UNAUTHORIZED:
      hint = "GIMP takes the key from the environment variable " KEY_ENV " (set before GIMP "
             "starts) or, when that is unset, from the gimprc setting " KEY_GIMPRC ".";
      break;
    case FLX_QUOTA_EXCEEDED:
      hint = "The credits of this billing period are used up. Wait for the next period, or "
             "buy credits or a larger plan in your Fluximage dashboard (fluximage.app); the "
             "export dialog shows the credits left. For AI text, untick the AI options to "
             "export without it.";
      break;
    case FLX_FORBIDDEN:
      hint = "Untick the AI options, or upgrade your plan in your Fluximage dashboard "
             "(fluximage.app).";
      break;
    case FLX_TOO_LARGE:
      hint = "Set a maximum width or height to make the upload smaller.";
      break;
    case FLX_NETWORK:
    case FLX_TIMEOUT:
      hint = "Check the network connection and any proxy (HTTPS_PROXY); FLUXIMAGE_BASE_URL, "
             "when set, must name the Fluximage server.";
      break;
    default:
      break;
    }

  return g_strdup_printf ("Fluximage could not export the image: %s%s%s",
                          detail && *detail ? detail : flx_status_str (status),
                          hint ? "\n" : "", hint ? hint : "");
}

/* ---- the export ------------------------------------------------------------------------- */

/* A file-name stem for the upload: the image's file name without folder and extension. */
static gchar *
upload_stem (gint32 image)
{
  gchar *name = gimp_image_get_filename (image);
  if (! name)
    name = gimp_image_get_name (image);
  gchar *base = g_path_get_basename (name ? name : "image");
  g_free (name);

  /* An unsaved image is named "[Untitled]": drop the brackets. */
  if (base[0] == '[' && strlen (base) > 2 && base[strlen (base) - 1] == ']')
    {
      base[strlen (base) - 1] = '\0';
      memmove (base, base + 1, strlen (base));
    }

  /* Drop the extension (".png", ".xcf"; both of ".xcf.gz" and ".xcf.bz2"). */
  gchar *dot = strrchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';
  if (g_str_has_suffix (base, ".xcf") && strlen (base) > 4)
    base[strlen (base) - 4] = '\0';
  g_strdelimit (base, "[]\\/:*?\"<>|", '_');
  g_strstrip (base);
  if (! *base)
    {
      g_free (base);
      base = g_strdup ("image");
    }
  return base;
}

/* A client for the key GIMP finds (environment or gimprc), with the plug-in's user agent; or
 * NULL with `*error_out` set to a message saying how to set the key. */
static flx_client *
new_client (gchar **error_out)
{
  gchar    *rc_key = NULL;
  KeySource source = find_key (&rc_key);
  if (source == KEY_NONE)
    {
      *error_out = g_strdup ("No Fluximage API key: set the environment variable "
                             KEY_ENV " before starting GIMP, or add the line\n"
                             "(" KEY_GIMPRC " \"flx_live_...\") to your gimprc.");
      return NULL;
    }

  /* NULL makes the library read FLUXIMAGE_API_KEY itself. */
  flx_client *client = flx_client_new (source == KEY_FROM_GIMPRC ? rc_key : NULL);
  wipe (rc_key);
  g_free (rc_key);
  if (! client)
    {
      *error_out = g_strdup_printf ("The Fluximage API key is not usable: %s\n"
                                    "Set %s to the key from your Fluximage dashboard "
                                    "(flx_live_ followed by 40 hexadecimal characters).",
                                    flx_last_error (),
                                    source == KEY_FROM_ENV
                                      ? "the environment variable " KEY_ENV
                                      : "the gimprc setting " KEY_GIMPRC);
      return NULL;
    }
  flx_status st = flx_client_set_user_agent (client, "gimp-plugin/" PLUG_IN_VERSION);
  if (st != FLX_OK)
    {
      *error_out = describe_failure (st, flx_last_error ());
      flx_client_free (client);
      return NULL;
    }
  return client;
}

/* What a successful export produced (kept until the plug-in exits: GIMP reads the strings
 * after run() returns). */
typedef struct
{
  gint64 in_size;  /* bytes of the lossless file uploaded */
  gint64 out_size; /* bytes written */
  gchar *written;  /* the file written (the chosen one, or the SEO-named one) */
  gchar *alt_text; /* the AI-written alt text, or NULL */
} Outcome;

/* The file name for a result with the SEO name `seo`: that name (folder part and extension
 * dropped, characters unsafe in file names replaced) with the format's extension, in the
 * folder of `chosen`; NULL when nothing usable is left of it. The library's
 * FLX_EXISTS_RENAME then keeps any file already there ("name-2.webp" is written instead). */
static gchar *
seo_path (const gchar *chosen, const gchar *seo, gint format)
{
  gchar *stem = g_path_get_basename (seo);
  gchar *dot = strrchr (stem, '.');
  if (dot && dot != stem && parse_format (dot + 1, NULL) >= 0)
    *dot = '\0';
  g_strdelimit (stem, "[]\\/:*?\"<>|", '_');
  g_strstrip (stem);
  gchar *path = NULL;
  if (*stem && stem[0] != '.')
    {
      gchar *dir  = g_path_get_dirname (chosen);
      gchar *name = g_strconcat (stem, format_by_value (format)->extension, NULL);
      path = g_build_filename (dir, name, NULL);
      g_free (name);
      g_free (dir);
    }
  g_free (stem);
  return path;
}

/* The library's part of an export, run on the call's thread by run_call(). */
typedef struct
{
  flx_client        *client;
  const flx_options *options;
  const gchar       *upload;  /* the lossless file */
  const ExportVals  *v;
  flx_status         st;      /* out: how it went */
  gchar             *detail;  /* out: flx_last_error() of the failed call (thread-local) */
  gchar             *written; /* out: the file written */
  gchar             *alt;     /* out: the AI-written alt text, or NULL */
} Transfer;

/* Compresses the upload, then downloads the result to the chosen file (the user chose it: a
 * file there is replaced, as the dialog asked), or beside it under its SEO name (never
 * replacing a file). */
static gpointer
transfer_work (gpointer data)
{
  Transfer   *t = data;
  flx_batch  *batch = NULL;
  const char *paths[1] = { t->upload };

  t->st = flx_compress (t->client, paths, 1, t->options, &batch);
  if (t->st == FLX_OK)
    {
      const char *alt = flx_batch_str (batch, 0, FLX_FIELD_ALT_TEXT);
      const char *seo = flx_batch_str (batch, 0, FLX_FIELD_SEO_NAME);
      t->alt = alt && *alt ? g_strdup (alt) : NULL;
      gchar *target = t->v->seo_name && seo && *seo
                      ? seo_path (t->v->path, seo, t->v->format) : NULL;
      flx_exists policy = target ? FLX_EXISTS_RENAME : FLX_EXISTS_OVERWRITE;
      char *written = NULL;
      t->st = flx_batch_save (t->client, batch, 0, target ? target : t->v->path, policy,
                              t->options, &written);
      if (t->st == FLX_OK)
        t->written = g_strdup (written);
      flx_string_free (written);
      g_free (target);
    }
  /* With one image, a failed compress is that image's failure (e.g. FLX_SERVER). */
  if (t->st != FLX_OK)
    t->detail = g_strdup (flx_last_error ());
  flx_batch_free (batch);
  return NULL;
}

/* Exports `image` as `v` says. On success fills `out`; on failure sets `*error_out` to a
 * message for the user (not for GIMP_PDB_CANCEL). */
static GimpPDBStatusType
export_image (gint32 image, const ExportVals *v, Job *job, Outcome *out, gchar **error_out)
{
  GimpPDBStatusType result   = GIMP_PDB_EXECUTION_ERROR;
  flx_client       *client   = NULL;
  flx_options      *options  = NULL;
  gchar            *tmp_dir  = NULL;
  gchar            *tmp_file = NULL;
  GError           *gerror   = NULL;

  /* Nothing is uploaded when the result could not be written. */
  gchar *folder_problem = check_folder (v->path);
  if (folder_problem)
    {
      *error_out = g_strdup_printf ("Cannot export: %s.", folder_problem);
      g_free (folder_problem);
      return GIMP_PDB_CALLING_ERROR;
    }

  client = new_client (error_out);
  if (! client)
    return GIMP_PDB_EXECUTION_ERROR;

  options = flx_options_new ();
  job->cancel = flx_cancel_new ();
  flx_status st = FLX_INTERNAL;
  if (! options || ! job->cancel ||
      (st = flx_options_set_cancel (options, job->cancel)) != FLX_OK ||
      (st = flx_options_set_format (options, v->format)) != FLX_OK ||
      (st = flx_options_set_quality (options, (uint32_t) v->quality)) != FLX_OK ||
      (st = flx_options_set_max_size (options, (uint32_t) v->max_width,
                                      (uint32_t) v->max_height)) != FLX_OK ||
      (st = flx_options_set_ai (options, v->alt_text != 0, v->seo_name != 0)) != FLX_OK ||
      (st = flx_options_set_progress (options, on_progress, job)) != FLX_OK)
    {
      *error_out = describe_failure (st, options ? flx_last_error () : "out of memory");
      result = GIMP_PDB_CALLING_ERROR;
      goto out;
    }

  /* 1. Render the visible image to a lossless file in a private temporary folder. */
  tmp_dir = g_dir_make_tmp ("fluximage-gimp-XXXXXX", &gerror);
  if (! tmp_dir)
    {
      *error_out = g_strdup_printf ("Cannot create a temporary folder: %s", gerror->message);
      goto out;
    }
  gchar *stem = upload_stem (image);
  gimp_progress_init ("Preparing the image for Fluximage");
  job_pump_events (job);
  tmp_file = render_visible (image, tmp_dir, stem, v->format == FLX_FORMAT_JPG,
                             v->max_width, v->max_height, &gerror);
  g_free (stem);
  job_pump_events (job);
  if (! tmp_file)
    {
      *error_out = g_strdup (gerror->message);
      goto out;
    }
  if (job->cancel_requested)
    {
      result = GIMP_PDB_CANCEL;
      goto out;
    }
  out->in_size = file_size (tmp_file);

  /* 2. Upload and compress. */
  job_set_text (job, "Uploading to Fluximage");
#if TESTING
  const gchar *hook = g_getenv (TEST_CANCEL_ENV);
  if (hook && *hook)
    job->cancel_at_us = g_get_monotonic_time () + 1000 * g_ascii_strtoll (hook, NULL, 10);
#endif
  Transfer t = { .client = client, .options = options, .upload = tmp_file, .v = v };
  run_call (transfer_work, &t, job);
  st = t.st;
  out->alt_text = g_steal_pointer (&t.alt);
  if (st == FLX_OK)
    {
      out->written = g_steal_pointer (&t.written);
      out->out_size = file_size (out->written);
      gimp_progress_update (1.0);
      result = GIMP_PDB_SUCCESS;
    }
  else if (st == FLX_CANCELLED)
    {
      result = GIMP_PDB_CANCEL;
    }
  else
    {
      *error_out = describe_failure (st, t.detail);
      result = st == FLX_INVALID_ARGUMENT ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
    }
  g_free (t.detail);

out:
  if (tmp_file)
    g_unlink (tmp_file);
  if (tmp_dir)
    g_rmdir (tmp_dir);
  g_free (tmp_file);
  g_free (tmp_dir);
  g_clear_error (&gerror);
  flx_cancel_free (job->cancel);
  job->cancel = NULL;
  flx_options_free (options);
  flx_client_free (client);
  gimp_progress_end ();
  return result;
}

/* "1.2 MB -> 210.4 kB (83% smaller)" */
static gchar *
describe_saving (gint64 in_size, gint64 out_size)
{
  gchar *in  = g_format_size ((guint64) MAX (in_size, 0));
  gchar *out = g_format_size ((guint64) MAX (out_size, 0));
  gchar *change;
  if (in_size > 0 && out_size <= in_size)
    change = g_strdup_printf ("%d%% smaller",
                              (gint) (100.0 * (gdouble) (in_size - out_size) / in_size + 0.5));
  else if (in_size > 0)
    change = g_strdup_printf ("%d%% larger",
                              (gint) (100.0 * (gdouble) (out_size - in_size) / in_size + 0.5));
  else
    change = g_strdup ("?");
  gchar *s = g_strdup_printf ("%s \xe2\x86\x92 %s (%s)", in, out, change);
  g_free (in);
  g_free (out);
  g_free (change);
  return s;
}

/* ---- the dialog ------------------------------------------------------------------------- */

typedef struct
{
  ExportVals *vals;
  GtkWidget  *path_entry;
  GtkWidget  *format_combo;
  GtkObject  *quality_adj;
  GtkWidget  *width_spin;
  GtkWidget  *height_spin;
  GtkWidget  *table;
  GtkWidget  *problem;   /* a label for what is wrong with the input */
  gchar      *confirmed; /* a path the file chooser already asked to replace, or NULL */
  Job        *job;
  /* The credits and the AI options, filled in once GET /api/usage has answered. */
  GtkWidget  *credits;   /* a label: the plan and the credits left */
  GtkWidget  *alt_check; /* "AI alt text" */
  GtkWidget  *seo_check; /* "AI SEO file name" */
  GtkWidget  *ai_note;   /* why the AI options are greyed out, when they are */
  gboolean    closing;   /* the dialog was answered: stop asking for the credits */
} Dialog;

/* Changes the path's extension when the format changes, if it had a known one. */
static void
on_format_changed (GtkWidget *combo, Dialog *d)
{
  gint value = FLX_FORMAT_WEBP;
  gimp_int_combo_box_get_active (GIMP_INT_COMBO_BOX (combo), &value);
  gimp_scale_entry_set_sensitive (d->quality_adj, value != FLX_FORMAT_PNG);

  const gchar *text = gtk_entry_get_text (GTK_ENTRY (d->path_entry));
  const gchar *dot  = strrchr (text, '.');
  if (dot && ! strchr (dot, G_DIR_SEPARATOR) && parse_format (dot + 1, NULL) >= 0)
    {
      gchar *stem = g_strndup (text, (gsize) (dot - text));
      gchar *path = g_strconcat (stem, format_by_value (value)->extension, NULL);
      gtk_entry_set_text (GTK_ENTRY (d->path_entry), path);
      g_free (stem);
      g_free (path);
    }
}

static void
on_browse (GtkWidget *button, Dialog *d)
{
  GtkWidget *chooser = gtk_file_chooser_dialog_new ("Export via Fluximage to",
                                                    GTK_WINDOW (gtk_widget_get_toplevel (button)),
                                                    GTK_FILE_CHOOSER_ACTION_SAVE,
                                                    "_Cancel", GTK_RESPONSE_CANCEL,
                                                    "_Select", GTK_RESPONSE_ACCEPT, NULL);
  gtk_file_chooser_set_do_overwrite_confirmation (GTK_FILE_CHOOSER (chooser), TRUE);

  const gchar *text = gtk_entry_get_text (GTK_ENTRY (d->path_entry));
  if (*text)
    {
      gchar *dir  = g_path_get_dirname (text);
      gchar *base = g_path_get_basename (text);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), dir);
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), base);
      g_free (dir);
      g_free (base);
    }

  if (gtk_dialog_run (GTK_DIALOG (chooser)) == GTK_RESPONSE_ACCEPT)
    {
      gchar *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (chooser));
      if (path)
        {
          g_free (d->confirmed);
          d->confirmed = g_strdup (path);
          gtk_entry_set_text (GTK_ENTRY (d->path_entry), path);
          /* Follow a typed extension: "photo.avif" selects AVIF. */
          gint f = parse_format ("", path);
          if (f >= 0)
            gimp_int_combo_box_set_active (GIMP_INT_COMBO_BOX (d->format_combo), f);
        }
      g_free (path);
    }
  gtk_widget_destroy (chooser);
}

/* During the export, Cancel or closing the window asks the export to stop. */
static void
on_response_while_busy (GtkWidget *dialog, gint response, Dialog *d)
{
  (void) dialog;
  (void) response; /* only Cancel and closing the window are possible now */
  if (! d->job->cancel_requested)
    {
      d->job->cancel_requested = TRUE;
      job_set_text (d->job, "Cancelling");
    }
}

static void
read_dialog (Dialog *d)
{
  ExportVals *v = d->vals;
  gchar *path = g_strstrip (g_strdup (gtk_entry_get_text (GTK_ENTRY (d->path_entry))));
  gchar *expanded = path[0] == '~' && (path[1] == '\0' || path[1] == G_DIR_SEPARATOR)
                    ? g_strconcat (g_get_home_dir (), path + 1, NULL) : g_strdup (path);
  g_strlcpy (v->path, expanded, sizeof v->path);
  g_free (path);
  g_free (expanded);

  gint value = FLX_FORMAT_WEBP;
  gimp_int_combo_box_get_active (GIMP_INT_COMBO_BOX (d->format_combo), &value);
  v->format     = value;
  v->quality    = (gint32) gtk_adjustment_get_value (GTK_ADJUSTMENT (d->quality_adj));
  v->max_width  = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->width_spin));
  v->max_height = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (d->height_spin));
  v->alt_text   = gtk_widget_is_sensitive (d->alt_check) &&
                  gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->alt_check));
  v->seo_name   = gtk_widget_is_sensitive (d->seo_check) &&
                  gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->seo_check));
}

/* ---- the credits (GET /api/usage, which costs nothing) ---------------------------------- */

#if TESTING
static gboolean test_click_export (gpointer data);
static gboolean test_copy_and_close (gpointer dialog);
#endif

static void
set_ai_available (Dialog *d, gboolean available, const gchar *reason)
{
  gtk_widget_set_sensitive (d->alt_check, available);
  gtk_widget_set_sensitive (d->seo_check, available);
  if (available)
    gtk_widget_hide (d->ai_note);
  else
    {
      gtk_label_set_text (GTK_LABEL (d->ai_note), reason);
      gtk_widget_show (d->ai_note);
    }
}

/* Shows the plan and the credits left, greys out the AI options the plan does not allow
 * (with the reason), and the Export button when no compression is left. */
static void
show_usage (Dialog *d, GtkWidget *dialog, const flx_usage *u)
{
  const char *plan  = flx_usage_plan (u) ? flx_usage_plan (u) : "unknown";
  int64_t     used  = flx_usage_num (u, FLX_USAGE_COMPRESSIONS_USED);
  int64_t     limit = flx_usage_num (u, FLX_USAGE_COMPRESSIONS_LIMIT);
  int64_t     ai    = flx_usage_num (u, FLX_USAGE_AI_CREDITS_REMAINING);
  int64_t     can_c = flx_usage_num (u, FLX_USAGE_CAN_COMPRESS);
  int64_t     can_a = flx_usage_num (u, FLX_USAGE_CAN_USE_AI);

  /* The API reports "unlimited" plans with a limit of 99999. */
  gchar *compressions =
    limit >= 99999 ? g_strdup ("unlimited compressions")
    : limit >= 0 && used >= 0 ? g_strdup_printf ("%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                                                 " compressions left this billing period",
                                                 (gint64) MAX (limit - used, 0), (gint64) limit)
    : g_strdup ("compressions left: unknown");
  gchar *ai_text = ai >= 0 ? g_strdup_printf (", %" G_GINT64_FORMAT " AI credits left",
                                              (gint64) ai)
                           : g_strdup ("");
  gchar *text = g_strdup_printf ("Fluximage plan %s: %s%s.", plan, compressions, ai_text);
  gtk_label_set_text (GTK_LABEL (d->credits), text);
  g_free (text);
  g_free (ai_text);
  g_free (compressions);

  if (can_c == 0)
    {
      gtk_label_set_text (GTK_LABEL (d->problem),
                          "No compressions are left this billing period: the export would be "
                          "refused (402). Wait for the next period, or buy credits or a larger "
                          "plan in your Fluximage dashboard (fluximage.app).");
      gtk_widget_show (d->problem);
      gtk_dialog_set_response_sensitive (GTK_DIALOG (dialog), GTK_RESPONSE_OK, FALSE);
    }

  if (can_a != 0)
    set_ai_available (d, TRUE, NULL);
  else if (g_strcmp0 (plan, "free") == 0)
    set_ai_available (d, FALSE, "AI alt text and SEO names need a paid Fluximage plan "
                                "(this key's plan is free).");
  else
    set_ai_available (d, FALSE, "No AI credits are left this month: buy AI credits in your "
                                "Fluximage dashboard to use alt text and SEO names.");
}

/* GET /api/usage on a thread of its own while the dialog runs (a quick answer or none:
 * it only informs the dialog); its result is shown from the main loop by usage_done(). */
typedef struct
{
  Dialog     *d;
  flx_client *client;
  flx_cancel *cancel;  /* triggered when the dialog is answered first */
  GThread    *thread;
  flx_status  st;
  flx_usage  *usage;
  gchar      *error;   /* flx_last_error() of a failure (thread-local, so copied there) */
  guint       idle;    /* usage_done's source, once the request ended */
  gboolean    shown;
} UsageCall;

static gboolean usage_done (gpointer data);

static gpointer
usage_work (gpointer data)
{
  UsageCall   *u = data;
  flx_options *options = flx_options_new ();
  u->st = options ? flx_options_set_cancel (options, u->cancel) : FLX_INTERNAL;
  if (u->st == FLX_OK)
    u->st = flx_usage_get (u->client, options, &u->usage);
  if (u->st != FLX_OK)
    u->error = g_strdup (flx_last_error ());
  flx_options_free (options);
  u->idle = g_idle_add (usage_done, u);
  return NULL;
}

/* On the main thread: shows what the request found. */
static gboolean
usage_done (gpointer data)
{
  UsageCall *u = data;
  Dialog    *d = u->d;
  u->shown = TRUE;
  if (u->st == FLX_OK)
    show_usage (d, gtk_widget_get_toplevel (d->credits), u->usage);
  else if (u->st != FLX_CANCELLED)
    {
      gchar *text = g_strdup_printf ("Credits: unknown (%s).", u->error ? u->error : "");
      gtk_label_set_text (GTK_LABEL (d->credits), text);
      g_free (text);
      set_ai_available (d, FALSE, "AI options: unavailable until the plan is known.");
    }
#if TESTING
  if (! d->closing && g_getenv (TEST_EXPORT_ENV) && *g_getenv (TEST_EXPORT_ENV))
    g_timeout_add (300, test_click_export, d);
#endif
  return G_SOURCE_REMOVE;
}

/* Starts the request; without a usable key, says so at once. */
static void
usage_start (UsageCall *u, Dialog *d)
{
  gchar *error = NULL;
  u->d = d;
  u->client = new_client (&error);
  g_free (error); /* the dialog's key line already says what is wrong */
  if (! u->client)
    {
      gtk_label_set_text (GTK_LABEL (d->credits), "Credits: unknown (no usable API key).");
      set_ai_available (d, FALSE, "AI options: available once an API key is set.");
#if TESTING
      if (g_getenv (TEST_EXPORT_ENV) && *g_getenv (TEST_EXPORT_ENV))
        g_timeout_add (300, test_click_export, d);
#endif
      return;
    }
  flx_client_set_timeouts (u->client, 5000, 10000, 15000);
  flx_client_set_retries (u->client, 0);
  u->cancel = flx_cancel_new ();
  u->thread = g_thread_new ("fluximage-usage", usage_work, u);
}

/* Ends the request (cancelling it if it still runs) before the dialog goes away or the export
 * starts; its result is dropped if it was not shown yet. */
static void
usage_finish (UsageCall *u)
{
  if (u->thread)
    {
      flx_cancel_trigger (u->cancel);
      g_thread_join (u->thread); /* within about 100 ms of the cancel */
      u->thread = NULL;
      if (! u->shown && u->idle)
        g_source_remove (u->idle);
    }
  flx_usage_free (u->usage);
  u->usage = NULL;
  flx_cancel_free (u->cancel);
  u->cancel = NULL;
  flx_client_free (u->client);
  u->client = NULL;
  g_clear_pointer (&u->error, g_free);
}

static void
on_response_before_export (GtkWidget *dialog, gint response, Dialog *d)
{
  (void) dialog;
  if (response != GTK_RESPONSE_OK)
    d->closing = TRUE;
}

/* ---- the alt text, after the export ----------------------------------------------------- */

#define RESPONSE_COPY 1

static void
copy_to_clipboard (const gchar *text)
{
  GtkClipboard *clipboard = gtk_clipboard_get (GDK_SELECTION_CLIPBOARD);
  gtk_clipboard_set_text (clipboard, text, -1);
  /* The plug-in exits after this window: hand the text to a clipboard manager, if any. */
  gtk_clipboard_set_can_store (clipboard, NULL, 0);
  gtk_clipboard_store (clipboard);
}

/* Shows the AI-written alt text of `file`, selectable, with a Copy button. */
static void
show_alt_text (const gchar *alt_text, const gchar *file)
{
  gchar     *base  = g_filename_display_basename (file);
  gchar     *title = g_strdup_printf ("Alt text for %s", base);
  GtkWidget *dialog = gimp_dialog_new (title, PLUG_IN_ROLE "-alt-text", NULL, 0,
                                       gimp_standard_help_func, PLUG_IN_PROC,
                                       "_Copy", RESPONSE_COPY,
                                       "_Close", GTK_RESPONSE_CLOSE, NULL);
  gimp_window_set_transient (GTK_WINDOW (dialog));

  GtkWidget *vbox = gtk_vbox_new (FALSE, 6);
  gtk_container_set_border_width (GTK_CONTAINER (vbox), 12);
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (dialog))),
                      vbox, TRUE, TRUE, 0);
  GtkWidget *label = gtk_label_new ("Fluximage wrote this alt text for the exported image. "
                                    "Copy it into your web page or CMS:");
  gtk_label_set_line_wrap (GTK_LABEL (label), TRUE);
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_box_pack_start (GTK_BOX (vbox), label, FALSE, FALSE, 0);
  GtkWidget *view = gtk_text_view_new ();
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (view)), alt_text, -1);
  gtk_widget_set_size_request (view, 360, 80);
  gtk_box_pack_start (GTK_BOX (vbox), view, TRUE, TRUE, 0);
  gtk_widget_show_all (dialog);

#if TESTING
  if (g_getenv (TEST_EXPORT_ENV) && *g_getenv (TEST_EXPORT_ENV))
    g_timeout_add (300, test_copy_and_close, dialog);
#endif

  while (gimp_dialog_run (GIMP_DIALOG (dialog)) == RESPONSE_COPY)
    {
      copy_to_clipboard (alt_text);
      GtkWidget *copy = gtk_dialog_get_widget_for_response (GTK_DIALOG (dialog), RESPONSE_COPY);
      if (copy)
        gtk_button_set_label (GTK_BUTTON (copy), "Copied");
    }
  gtk_widget_destroy (dialog);
  while (gtk_events_pending ())
    gtk_main_iteration ();
  g_free (title);
  g_free (base);
}

/* Whether the user agrees to replace an existing `path` (asked once per path: the file
 * chooser's own question counts). */
static gboolean
confirm_replace (Dialog *d, GtkWidget *parent, const gchar *path)
{
  if (! g_file_test (path, G_FILE_TEST_EXISTS) ||
      (d->confirmed && strcmp (d->confirmed, path) == 0))
    return TRUE;

  gchar     *base = g_filename_display_basename (path);
  GtkWidget *ask  = gtk_message_dialog_new (GTK_WINDOW (parent),
                                            GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                            GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                            "A file named \"%s\" already exists.", base);
  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (ask),
                                            "Do you want to replace it with the export?");
  gtk_dialog_add_buttons (GTK_DIALOG (ask), "_Cancel", GTK_RESPONSE_CANCEL,
                          "_Replace", GTK_RESPONSE_OK, NULL);
  gboolean ok = gtk_dialog_run (GTK_DIALOG (ask)) == GTK_RESPONSE_OK;
  gtk_widget_destroy (ask);
  g_free (base);
  if (ok)
    {
      g_free (d->confirmed);
      d->confirmed = g_strdup (path);
    }
  return ok;
}

#if TESTING
/* Test hook: reports what the dialog shows, ticks the AI options when asked and available,
 * and clicks Export. */
static gboolean
test_click_export (gpointer data)
{
  Dialog    *d = data;
  GtkWidget *dialog = gtk_widget_get_toplevel (d->credits);
  GtkWidget *button = gtk_dialog_get_widget_for_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  gboolean   can_export = button && gtk_widget_is_sensitive (button);
  gchar *msg = g_strdup_printf ("FLXTEST credits %s\nFLXTEST ai %s %s\nFLXTEST export %s %s",
                                gtk_label_get_text (GTK_LABEL (d->credits)),
                                gtk_widget_is_sensitive (d->alt_check) ? "available"
                                                                       : "greyed",
                                gtk_widget_get_visible (d->ai_note)
                                  ? gtk_label_get_text (GTK_LABEL (d->ai_note)) : "",
                                can_export ? "available" : "greyed",
                                gtk_widget_get_visible (d->problem)
                                  ? gtk_label_get_text (GTK_LABEL (d->problem)) : "");
  gimp_message (msg);
  g_free (msg);
  const gchar *ai = g_getenv (TEST_AI_ENV);
  if (ai && *ai && gtk_widget_is_sensitive (d->alt_check))
    {
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->alt_check), TRUE);
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d->seo_check), TRUE);
    }
  if (can_export)
    gtk_button_clicked (GTK_BUTTON (button));
  else
    gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);
  return G_SOURCE_REMOVE;
}

/* Test hook, after test_copy_and_close: reports the clipboard, closes the window. */
static gboolean
test_report_clipboard (gpointer dialog)
{
  gchar *text = gtk_clipboard_wait_for_text (gtk_clipboard_get (GDK_SELECTION_CLIPBOARD));
  gchar *msg = g_strdup_printf ("FLXTEST clipboard %s", text ? text : "(empty)");
  gimp_message (msg);
  g_free (msg);
  g_free (text);
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_CLOSE);
  return G_SOURCE_REMOVE;
}

/* Test hook: clicks Copy in the alt-text window (the copy runs once the click's response
 * has ended the dialog's loop), then reports the clipboard. */
static gboolean
test_copy_and_close (gpointer dialog)
{
  GtkWidget *copy = gtk_dialog_get_widget_for_response (GTK_DIALOG (dialog), RESPONSE_COPY);
  if (copy)
    gtk_button_clicked (GTK_BUTTON (copy));
  g_timeout_add (300, test_report_clipboard, dialog);
  return G_SOURCE_REMOVE;
}
#endif

static GtkWidget *
size_spin (gint value)
{
  GtkWidget *spin = gtk_spin_button_new_with_range (0, SIZE_MAX_PX, 1);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), value);
  gtk_entry_set_width_chars (GTK_ENTRY (spin), 6);
  gimp_help_set_help_data (spin, "Scale down proportionally to fit; never enlarge. "
                                 "0: no limit.", NULL);
  return spin;
}

/* A size spin button with its note beside it. */
static GtkWidget *
size_row (GtkWidget *spin)
{
  GtkWidget *hbox = gtk_hbox_new (FALSE, 6);
  gtk_box_pack_start (GTK_BOX (hbox), spin, FALSE, FALSE, 0);
  GtkWidget *note = gtk_label_new ("0: no limit (never enlarged)");
  gtk_misc_set_alignment (GTK_MISC (note), 0.0, 0.5);
  gimp_label_set_attributes (GTK_LABEL (note), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
  gtk_box_pack_start (GTK_BOX (hbox), note, FALSE, FALSE, 0);
  return hbox;
}

/* Shows the dialog; when the user clicks Export, runs the export with the dialog open (its
 * progress bar and Cancel button live), then closes it. */
static GimpPDBStatusType
run_dialog (gint32 image, ExportVals *vals, Job *job, Outcome *out, gchar **error_out)
{
  gimp_ui_init (PLUG_IN_BINARY, FALSE);

  GtkWidget *dialog = gimp_dialog_new ("Export via Fluximage", PLUG_IN_ROLE, NULL, 0,
                                       gimp_standard_help_func, PLUG_IN_PROC,
                                       "_Cancel", GTK_RESPONSE_CANCEL,
                                       "_Export", GTK_RESPONSE_OK, NULL);
  gtk_dialog_set_alternative_button_order (GTK_DIALOG (dialog),
                                           GTK_RESPONSE_OK, GTK_RESPONSE_CANCEL, -1);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  gimp_window_set_transient (GTK_WINDOW (dialog));

  Dialog d = { .vals = vals, .job = job };
  GtkWidget *vbox = gtk_vbox_new (FALSE, 12);
  gtk_container_set_border_width (GTK_CONTAINER (vbox), 12);
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (dialog))),
                      vbox, TRUE, TRUE, 0);

  GtkWidget *table = d.table = gtk_table_new (5, 3, FALSE);
  gtk_table_set_col_spacings (GTK_TABLE (table), 6);
  gtk_table_set_row_spacings (GTK_TABLE (table), 6);
  gtk_box_pack_start (GTK_BOX (vbox), table, FALSE, FALSE, 0);

  /* Row 0: the output file. */
  GtkWidget *hbox = gtk_hbox_new (FALSE, 6);
  d.path_entry = gtk_entry_new ();
  gtk_entry_set_width_chars (GTK_ENTRY (d.path_entry), 40);
  gtk_entry_set_text (GTK_ENTRY (d.path_entry), vals->path);
  gtk_entry_set_activates_default (GTK_ENTRY (d.path_entry), TRUE);
  gtk_box_pack_start (GTK_BOX (hbox), d.path_entry, TRUE, TRUE, 0);
  GtkWidget *browse = gtk_button_new_with_mnemonic ("_Browse\xe2\x80\xa6");
  g_signal_connect (browse, "clicked", G_CALLBACK (on_browse), &d);
  gtk_box_pack_start (GTK_BOX (hbox), browse, FALSE, FALSE, 0);
  GtkWidget *label = gimp_table_attach_aligned (GTK_TABLE (table), 0, 0, "_Save to:",
                                                0.0, 0.5, hbox, 2, FALSE);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), d.path_entry);

  /* Row 1: the format. */
  d.format_combo = gimp_int_combo_box_new (formats[0].label, formats[0].format,
                                           formats[1].label, formats[1].format,
                                           formats[2].label, formats[2].format,
                                           formats[3].label, formats[3].format, NULL);
  gimp_int_combo_box_set_active (GIMP_INT_COMBO_BOX (d.format_combo), vals->format);
  gimp_table_attach_aligned (GTK_TABLE (table), 0, 1, "_Format:", 0.0, 0.5,
                             d.format_combo, 2, TRUE);

  /* Row 2: the quality (a label, a slider and a spin button). */
  d.quality_adj = gimp_scale_entry_new (GTK_TABLE (table), 0, 2, "_Quality:", 150, 4,
                                        vals->quality, QUALITY_MIN, QUALITY_MAX, 1, 10, 0,
                                        TRUE, 0, 0,
                                        "Lossy quality for WebP, AVIF and JPEG "
                                        "(PNG is always lossless)", NULL);

  /* Rows 3 and 4: the size limits. */
  d.width_spin = size_spin (vals->max_width);
  label = gimp_table_attach_aligned (GTK_TABLE (table), 0, 3, "Max _width (px):", 0.0, 0.5,
                                     size_row (d.width_spin), 2, FALSE);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), d.width_spin);
  d.height_spin = size_spin (vals->max_height);
  label = gimp_table_attach_aligned (GTK_TABLE (table), 0, 4, "Max _height (px):", 0.0, 0.5,
                                     size_row (d.height_spin), 2, FALSE);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), d.height_spin);

  g_signal_connect (d.format_combo, "changed", G_CALLBACK (on_format_changed), &d);
  gimp_scale_entry_set_sensitive (d.quality_adj, vals->format != FLX_FORMAT_PNG);

  /* The AI options: greyed out until the plan is known, and with the reason when the plan
   * does not allow them. */
  GtkWidget *ai_box = gtk_vbox_new (FALSE, 2);
  d.alt_check = gtk_check_button_new_with_mnemonic ("Write _alt text (AI, 1 AI credit)");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d.alt_check), vals->alt_text != 0);
  gimp_help_set_help_data (d.alt_check, "Fluximage describes the image; the text is shown "
                                        "after the export, ready to copy.", NULL);
  gtk_box_pack_start (GTK_BOX (ai_box), d.alt_check, FALSE, FALSE, 0);
  d.seo_check = gtk_check_button_new_with_mnemonic ("Name the file for _search engines "
                                                    "(AI, same credit)");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d.seo_check), vals->seo_name != 0);
  gimp_help_set_help_data (d.seo_check, "The file is written in the chosen folder under a "
                                        "descriptive name Fluximage picks (an existing file "
                                        "is never replaced).", NULL);
  gtk_box_pack_start (GTK_BOX (ai_box), d.seo_check, FALSE, FALSE, 0);
  d.ai_note = gtk_label_new (NULL);
  gtk_label_set_line_wrap (GTK_LABEL (d.ai_note), TRUE);
  gtk_misc_set_alignment (GTK_MISC (d.ai_note), 0.0, 0.5);
  gimp_label_set_attributes (GTK_LABEL (d.ai_note), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
  gtk_box_pack_start (GTK_BOX (ai_box), d.ai_note, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (vbox), ai_box, FALSE, FALSE, 0);

  /* Where the key comes from (never the key itself). */
  const gchar *key_text;
  switch (find_key (NULL))
    {
    case KEY_FROM_ENV:
      key_text = "API key: from the environment variable " KEY_ENV ".";
      break;
    case KEY_FROM_GIMPRC:
      key_text = "API key: from the gimprc setting " KEY_GIMPRC ".";
      break;
    default:
      key_text = "No API key found: set " KEY_ENV " before starting GIMP, or add "
                 "(" KEY_GIMPRC " \"flx_live_...\") to your gimprc.";
      break;
    }
  GtkWidget *key_label = gtk_label_new (key_text);
  gtk_label_set_line_wrap (GTK_LABEL (key_label), TRUE);
  gtk_misc_set_alignment (GTK_MISC (key_label), 0.0, 0.5);
  gimp_label_set_attributes (GTK_LABEL (key_label), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
  gtk_box_pack_start (GTK_BOX (vbox), key_label, FALSE, FALSE, 0);

  d.credits = gtk_label_new ("Fluximage credits: checking\xe2\x80\xa6");
  gtk_label_set_line_wrap (GTK_LABEL (d.credits), TRUE);
  gtk_misc_set_alignment (GTK_MISC (d.credits), 0.0, 0.5);
  gtk_box_pack_start (GTK_BOX (vbox), d.credits, FALSE, FALSE, 0);

  d.problem = gtk_label_new (NULL);
  gtk_misc_set_alignment (GTK_MISC (d.problem), 0.0, 0.5);
  gimp_label_set_attributes (GTK_LABEL (d.problem), PANGO_ATTR_WEIGHT, PANGO_WEIGHT_BOLD, -1);
  gtk_box_pack_start (GTK_BOX (vbox), d.problem, FALSE, FALSE, 0);

  job->bar = gtk_progress_bar_new ();
  gtk_box_pack_start (GTK_BOX (vbox), job->bar, FALSE, FALSE, 0);

  gtk_widget_show_all (dialog);
  gtk_widget_hide (d.problem);
  gtk_widget_hide (job->bar);
  set_ai_available (&d, FALSE, "AI options: checking the plan\xe2\x80\xa6");

  g_signal_connect (dialog, "response", G_CALLBACK (on_response_before_export), &d);
  UsageCall usage = { 0 };
  usage_start (&usage, &d);

  /* Ask until the input is usable or the user gives up. */
  for (;;)
    {
      if (gimp_dialog_run (GIMP_DIALOG (dialog)) != GTK_RESPONSE_OK)
        {
          d.closing = TRUE;
          usage_finish (&usage);
          gtk_widget_destroy (dialog);
          job->bar = NULL;
          g_free (d.confirmed);
          return GIMP_PDB_CANCEL;
        }
      read_dialog (&d);
      const gchar *problem = check_vals (vals);
      if (! problem && confirm_replace (&d, dialog, vals->path))
        break;
      if (! problem)
        continue;
      gchar *text = g_strdup_printf ("Cannot export: %s.", problem);
      gtk_label_set_text (GTK_LABEL (d.problem), text);
      g_free (text);
      gtk_widget_show (d.problem);
    }

  /* Export with the dialog open: only Cancel stays live. */
  d.closing = TRUE;
  usage_finish (&usage);
  gtk_widget_hide (d.problem);
  gtk_widget_set_sensitive (table, FALSE);
  gtk_widget_set_sensitive (ai_box, FALSE);
  gtk_dialog_set_response_sensitive (GTK_DIALOG (dialog), GTK_RESPONSE_OK, FALSE);
  gtk_widget_show (job->bar);
  job->dialog = dialog;
  g_signal_connect (dialog, "response", G_CALLBACK (on_response_while_busy), &d);
  job_pump_events (job);

  GimpPDBStatusType status = export_image (image, vals, job, out, error_out);

  job->dialog = NULL;
  job->bar = NULL;
  g_free (d.confirmed);
  gtk_widget_destroy (dialog);
  while (gtk_events_pending ())
    gtk_main_iteration ();
  return status;
}

/* ---- default output path ---------------------------------------------------------------- */

/* A suggestion for where to export `image`: beside its file (or in `fallback_dir`, or the
 * home folder), named after it, with the format's extension, never the image's own file. */
static void
suggest_path (gint32 image, gint format, const gchar *fallback_dir, gchar *out, gsize size)
{
  gchar *source = gimp_image_get_filename (image);
  gchar *dir = source ? g_path_get_dirname (source)
                      : g_strdup (fallback_dir && *fallback_dir ? fallback_dir
                                                                 : g_get_home_dir ());
  gchar *stem = upload_stem (image);
  gchar *name = g_strconcat (stem, format_by_value (format)->extension, NULL);
  gchar *path = g_build_filename (dir, name, NULL);
  if (source && strcmp (path, source) == 0)
    {
      g_free (name);
      g_free (path);
      name = g_strconcat (stem, "-fluximage", format_by_value (format)->extension, NULL);
      path = g_build_filename (dir, name, NULL);
    }
  g_strlcpy (out, path, size);
  g_free (source);
  g_free (dir);
  g_free (stem);
  g_free (name);
  g_free (path);
}

/* ---- the plug-in protocol --------------------------------------------------------------- */

static void
query (void)
{
  static const GimpParamDef args[] = {
    { GIMP_PDB_INT32,    "run-mode",   "The run mode { RUN-INTERACTIVE (0), "
                                       "RUN-NONINTERACTIVE (1), RUN-WITH-LAST-VALS (2) }" },
    { GIMP_PDB_IMAGE,    "image",      "The image to export (what is visible in it)" },
    { GIMP_PDB_DRAWABLE, "drawable",   "Unused: the whole visible image is exported" },
    { GIMP_PDB_STRING,   "filename",   "Where to write the compressed image (written "
                                       "atomically: the whole result, or nothing)" },
    { GIMP_PDB_STRING,   "format",     "\"webp\", \"avif\", \"jpg\" or \"png\" (lossless); "
                                       "\"\" takes it from the file name's extension" },
    { GIMP_PDB_INT32,    "quality",    "Lossy quality, 40..100 (82 is the API's default; "
                                       "ignored for png)" },
    { GIMP_PDB_INT32,    "max-width",  "Scale down to fit this width; never enlarge "
                                       "(0: no limit)" },
    { GIMP_PDB_INT32,    "max-height", "Scale down to fit this height; never enlarge "
                                       "(0: no limit)" },
    /* plug-in-fluximage-export-ai only: */
    { GIMP_PDB_INT32,    "alt-text",   "1: ask for AI-written alt text (paid plans, 1 AI "
                                       "credit per image)" },
    { GIMP_PDB_INT32,    "seo-name",   "1: write the file in filename's folder under an "
                                       "AI-written SEO name instead (never replacing a file; "
                                       "paid plans, the same AI credit)" },
  };
  static const GimpParamDef return_vals[] = {
    { GIMP_PDB_INT32,  "original-size",   "Bytes of the lossless file that was uploaded" },
    { GIMP_PDB_INT32,  "compressed-size", "Bytes written" },
    /* plug-in-fluximage-export-ai only: */
    { GIMP_PDB_STRING, "written-file",    "The file written (filename, or the SEO-named one)" },
    { GIMP_PDB_STRING, "alt-text",        "The AI-written alt text (\"\" when not asked for)" },
  };

  gimp_install_procedure (PLUG_IN_PROC,
                          "Export the image compressed by the Fluximage API",
                          "Renders the visible image to a lossless file, compresses it with "
                          "the Fluximage image-compression API (WebP, AVIF, JPEG or PNG, "
                          "optionally scaled down) and writes the result to FILENAME "
                          "atomically. The API key comes from the environment variable "
                          KEY_ENV " or the gimprc token " KEY_GIMPRC "; FLUXIMAGE_BASE_URL "
                          "selects another server. Fails with a message on a refused key, "
                          "used-up credits or a network error. The interactive dialog also "
                          "shows the credits left and offers the AI options.",
                          "libfluximage contributors",
                          "libfluximage contributors",
                          "2025",
                          "Export via _Fluximage\xe2\x80\xa6",
                          "RGB*, GRAY*, INDEXED*",
                          GIMP_PLUGIN,
                          8, 2, args, return_vals);
  gimp_plugin_menu_register (PLUG_IN_PROC, "<Image>/File/Export");

  /* The same with the AI options, under its own name so that scripts written for the
   * 8-argument procedure keep working (GIMP's own convention, as file-png-save2). */
  gimp_install_procedure (PLUG_IN_PROC_AI,
                          "Export the image compressed by the Fluximage API, with AI alt "
                          "text and SEO file name",
                          "Like " PLUG_IN_PROC ", plus ALT-TEXT and SEO-NAME (paid plans). "
                          "Returns the file written and the alt text as well. A free plan "
                          "fails with a message (403), used-up AI credits too (402).",
                          "libfluximage contributors",
                          "libfluximage contributors",
                          "2025",
                          NULL,
                          "RGB*, GRAY*, INDEXED*",
                          GIMP_PLUGIN,
                          G_N_ELEMENTS (args), G_N_ELEMENTS (return_vals),
                          args, return_vals);
}

static void
run (const gchar *name, gint nparams, const GimpParam *param,
     gint *nreturn_vals, GimpParam **return_vals)
{
  static GimpParam values[5];
  static gchar    *error_message = NULL;
  static Outcome    outcome = { -1, -1, NULL, NULL };
  GimpPDBStatusType status = GIMP_PDB_SUCCESS;
  ExportVals        vals = default_vals;
  Job               job = { 0 };

  g_mutex_init (&job.lock);
  gboolean          with_ai = strcmp (name, PLUG_IN_PROC_AI) == 0;
  gint              n_args = with_ai ? 10 : 8;

  *nreturn_vals = 1;
  *return_vals  = values;
  values[0].type = GIMP_PDB_STATUS;

  if ((! with_ai && strcmp (name, PLUG_IN_PROC) != 0) || nparams < 3)
    {
      values[0].data.d_status = GIMP_PDB_CALLING_ERROR;
      return;
    }

  GimpRunMode run_mode = param[0].data.d_int32;
  gint32      image    = param[1].data.d_image;
  ExportVals  last     = default_vals;
  gboolean    have_last = gimp_get_data_size (PLUG_IN_PROC) == sizeof last &&
                          gimp_get_data (PLUG_IN_PROC, &last);

  switch (run_mode)
    {
    case GIMP_RUN_INTERACTIVE:
      if (have_last)
        vals = last;
      if (! have_last || last.image_id != image || vals.path[0] == '\0')
        {
          gchar *last_dir = have_last && last.path[0] ? g_path_get_dirname (last.path) : NULL;
          suggest_path (image, vals.format, last_dir, vals.path, sizeof vals.path);
          g_free (last_dir);
        }
      vals.image_id = image;
      status = run_dialog (image, &vals, &job, &outcome, &error_message);
      break;

    case GIMP_RUN_NONINTERACTIVE:
      if (nparams != n_args)
        {
          status = GIMP_PDB_CALLING_ERROR;
          error_message = g_strdup_printf ("%s takes %d arguments (run-mode image drawable "
                                           "filename format quality max-width max-height%s), "
                                           "not %d", name, n_args,
                                           with_ai ? " alt-text seo-name" : "", nparams);
          break;
        }
      g_strlcpy (vals.path, param[3].data.d_string ? param[3].data.d_string : "",
                 sizeof vals.path);
      vals.format     = parse_format (param[4].data.d_string, vals.path);
      vals.quality    = param[5].data.d_int32;
      vals.max_width  = param[6].data.d_int32;
      vals.max_height = param[7].data.d_int32;
      vals.alt_text   = with_ai && param[8].data.d_int32 != 0;
      vals.seo_name   = with_ai && param[9].data.d_int32 != 0;
      vals.image_id   = image;
      if (vals.format < 0)
        {
          const gchar *f = param[4].data.d_string ? param[4].data.d_string : "";
          status = GIMP_PDB_CALLING_ERROR;
          error_message = *f && g_ascii_strcasecmp (f, "auto") != 0
            ? g_strdup_printf ("unknown format \"%s\": use webp, avif, jpg or png", f)
            : g_strdup ("no format given, and the file name does not end in .webp, .avif, "
                        ".jpg, .jpeg or .png");
          break;
        }
      if (strlen (param[3].data.d_string ? param[3].data.d_string : "") >= sizeof vals.path)
        {
          status = GIMP_PDB_CALLING_ERROR;
          error_message = g_strdup ("the file name is too long");
          break;
        }
      if (check_vals (&vals))
        {
          status = GIMP_PDB_CALLING_ERROR;
          error_message = g_strdup (check_vals (&vals));
          break;
        }
      status = export_image (image, &vals, &job, &outcome, &error_message);
      break;

    case GIMP_RUN_WITH_LAST_VALS:
      if (! have_last)
        {
          status = GIMP_PDB_CALLING_ERROR;
          error_message = g_strdup ("Export via Fluximage has not been run in this session "
                                    "yet: there are no last values to repeat");
          break;
        }
      vals = last;
      if (last.image_id != image)
        {
          /* The same settings for another image: beside the last output, named after it. */
          gchar *last_dir = g_path_get_dirname (last.path);
          suggest_path (image, vals.format, last_dir, vals.path, sizeof vals.path);
          g_free (last_dir);
          vals.image_id = image;
        }
      status = export_image (image, &vals, &job, &outcome, &error_message);
      break;

    default:
      status = GIMP_PDB_CALLING_ERROR;
      break;
    }

  if (status == GIMP_PDB_SUCCESS)
    {
      if (run_mode != GIMP_RUN_NONINTERACTIVE)
        gimp_set_data (PLUG_IN_PROC, &vals, sizeof vals);

      gchar *saving = describe_saving (outcome.in_size, outcome.out_size);
      gchar *base = g_filename_display_basename (outcome.written);
      gchar *message = outcome.alt_text
        ? g_strdup_printf ("Exported %s with Fluximage: %s\nAlt text: %s", base, saving,
                           outcome.alt_text)
        : g_strdup_printf ("Exported %s with Fluximage: %s", base, saving);
      gimp_message (message);
      g_free (message);
      g_free (base);
      g_free (saving);
      if (run_mode == GIMP_RUN_INTERACTIVE && outcome.alt_text)
        show_alt_text (outcome.alt_text, outcome.written);

      *nreturn_vals = with_ai ? 5 : 3;
      values[1].type = GIMP_PDB_INT32;
      values[1].data.d_int32 = (gint32) CLAMP (outcome.in_size, 0, G_MAXINT32);
      values[2].type = GIMP_PDB_INT32;
      values[2].data.d_int32 = (gint32) CLAMP (outcome.out_size, 0, G_MAXINT32);
      values[3].type = GIMP_PDB_STRING;
      values[3].data.d_string = outcome.written;
      values[4].type = GIMP_PDB_STRING;
      values[4].data.d_string = outcome.alt_text ? outcome.alt_text : (gchar *) "";
    }
  else if (status == GIMP_PDB_CANCEL)
    {
      /* Nothing was written; nothing to report beyond the status. */
    }
  else if (error_message)
    {
      /* GIMP shows this string as the error message of the procedure. */
      *nreturn_vals = 2;
      values[1].type = GIMP_PDB_STRING;
      values[1].data.d_string = error_message;
    }
  values[0].data.d_status = status;
  g_mutex_clear (&job.lock);
}

const GimpPlugInInfo PLUG_IN_INFO = { NULL, NULL, query, run };

MAIN ()
