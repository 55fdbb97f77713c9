//! Folder sync: every image under a source folder is compressed into a mirrored tree under an
//! output folder, once. A manifest in the output folder (see [`manifest`](self#the-manifest))
//! remembers what was done, so a rerun, or a rerun after a crash, sends only what changed and
//! never pays twice for a result that was saved.
//!
//! ```no_run
//! use fluximage::{Client, CompressOptions, Config, Format, Observer, SyncEvent, SyncOptions};
//! let client = Client::new(None, Config::default())?; // FLUXIMAGE_API_KEY
//! let options = CompressOptions { format: Format::Webp, ..Default::default() };
//! let sync = SyncOptions { exclude: vec!["drafts".into()], ..Default::default() };
//! let report = client.sync("site/images".as_ref(), "site/webp".as_ref(), &options, &sync,
//!     &mut |e| match e {
//!         SyncEvent::Planned { plan, .. } => println!("{} to compress", plan.to_compress),
//!         SyncEvent::File(f) => println!("{} {}", f.outcome.as_str(), f.input.display()),
//!     },
//!     &mut Observer::none())?;
//! println!("{} compressed, {} up to date", report.compressed, report.up_to_date);
//! # Ok::<(), fluximage::Error>(())
//! ```
//!
//! # Mapping
//! `src/<rel>/<stem>.<ext>` maps to `out/<rel>/<stem>.<format>` (`.jpeg` inputs and `jpg`
//! output included). Only files with an image extension (`jpg jpeg png webp avif gif`, any
//! case) take part; other files are counted in [`SyncPlan::skipped`] without an event. Hidden
//! files and folders (name starting with `.`) and symlinked folders are left out unless
//! [`SyncOptions::include_hidden`] / [`SyncOptions::follow_symlinks`] say otherwise; symlinked
//! files are followed. Two inputs that map to one output (`a.jpg` and `a.png`) are both
//! reported as [`FileOutcome::Conflict`] and neither is sent.
//!
//! # What is never done
//! A sync writes only inside the output folder (and the backup folder), never deletes a file,
//! and replaces an existing output only when the manifest says it wrote it and it is unchanged
//! since, or when [`SyncOptions::overwrite`] is set. In place, an original is replaced only
//! after its backup is safely written.
//!
//! # The manifest
//! `out/.fluximage-sync` is a UTF-8 text file of JSON lines. The first line is the header
//! `{"format":"fluximage-sync","version":1}`; every other line is the record of one input:
//!
//! | key | meaning |
//! |---|---|
//! | `in` | the input's path relative to the source folder, `/`-separated |
//! | `isz`, `imt`, `ih` | the input's size, mtime (ns since 1970) and content hash (SHA-256, first 128 bits, hex) |
//! | `fp` | fingerprint of the options that produced the output (format, quality unless png, sizes, watermark file hash and settings, AI flags) |
//! | `out` | the output's path relative to the output folder |
//! | `kind` | `compressed`, `original` (the result was not smaller; the input's bytes were written), `skipped` (not smaller, `if_larger = skip`: no output) or `pending` (compressed, not yet saved) |
//! | `osz`, `omt`, `oh` | the output's size, mtime and content hash, as written |
//! | `name`, `alt`, `seo` | the server's result name, alt text and SEO name, when it sent them |
//! | `url`, `exp` | `pending` only: the result's download URL and its expiry (unix seconds) |
//!
//! Records are appended to `out/.fluximage-sync.journal` as results are saved (one `fsync` per
//! saved result), and the journal is folded into the manifest at the end of a run by writing a
//! temporary file and renaming it (the manifest is never half-written). Loading replays the
//! journal over the manifest, last record winning, ignoring a torn last line. A `pending` record
//! is written, for a whole request, as soon as the server answers and before any download, so
//! a rerun after a crash fetches those results again instead of paying for them again. Only a
//! kill while a request is on its way can lose that request's credits (the server has no way
//! to say "already done"), and a worker takes its next request only once the last one is
//! recorded, so at most `concurrency` requests are ever at stake. Run one sync per output
//! folder at a time.
//!
//! In memory a record costs about 200 bytes plus its paths (alt text and SEO names only when
//! AI features were used), and no file contents are held beyond the results being saved.

mod engine;
mod glob;
mod manifest;

/// Fuzzing only (feature `fuzzing`): writes `manifest` and `journal` as an output folder's sync
/// files in `dir`, then reads them back as a rerun does; the number of records read.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_manifest(
    dir: &std::path::Path,
    manifest: &[u8],
    journal: &[u8],
) -> crate::Result<usize> {
    for (name, bytes) in [(manifest::MANIFEST, manifest), (manifest::JOURNAL, journal)] {
        std::fs::write(dir.join(name), bytes)
            .map_err(|e| Error::io(format!("writing {name}"), &e))?;
    }
    manifest::Manifest::load(dir, false).map(|m| m.records.len())
}
mod walk;

use crate::error::Error;
use crate::response::Usage;
use std::path::PathBuf;
use std::time::Duration;

/// What to do when a result in the input's own format is not smaller than the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IfLarger {
    /// Write the input's bytes as the output ([`FileOutcome::KeptOriginal`]). The default.
    #[default]
    Original,
    /// Write the result anyway ([`FileEvent::larger_than_input`] is set).
    Write,
    /// Write nothing for this file ([`FileOutcome::Skipped`]); later runs leave it alone.
    Skip,
}

/// How a sync chooses and treats files. `Default`: every image file, nothing hidden, no
/// symlinked folders, a real run that refuses when the credits do not cover it, originals kept
/// when a result is not smaller, a separate output folder, nothing replaced that the sync did
/// not write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Globs on the path relative to the source folder (`/`-separated). When not empty, only
    /// files matching one of them are synced. `*` and `?` stay within one path component,
    /// `**` spans any number, `[abc]`, `[!a-z]` and `{jpg,png}` as in a shell. A pattern
    /// without `/` matches the file name at any depth (`*.png`).
    pub include: Vec<String>,
    /// Globs as for `include`; a file matching one is left out, and so is a folder (with all it
    /// holds) whose relative path matches one.
    pub exclude: Vec<String>,
    /// Take files and folders whose name starts with `.` too.
    pub include_hidden: bool,
    /// Descend into symlinked folders (each real folder once, so links cannot loop).
    pub follow_symlinks: bool,
    /// Compute and return the plan only: nothing is uploaded or written.
    pub dry_run: bool,
    /// When the credits left do not cover the plan, send what they cover (in order of relative
    /// path) and report the rest as not done, instead of refusing with `QuotaExceeded`.
    pub allow_partial: bool,
    /// What to do when a result is not smaller than its input.
    pub if_larger: IfLarger,
    /// Replace the originals in the source folder: implied when the output folder is the
    /// source folder, and with this flag the output folder must be the source folder (a
    /// safeguard against a mistyped path). Requires `backup_dir`.
    pub in_place: bool,
    /// Where originals are copied (mirrored tree) before being replaced in place. Kept out of
    /// the scan when it lies inside the source folder.
    pub backup_dir: Option<PathBuf>,
    /// Give each output the modification time of its input.
    pub preserve_mtime: bool,
    /// Replace outputs that were edited by hand or that the sync did not write, instead of
    /// reporting them as conflicts.
    pub overwrite: bool,
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileOutcome {
    /// The output exists and matches the input and the options: nothing sent.
    UpToDate,
    /// Compressed and the result written.
    Compressed,
    /// Compressed, but the result was not smaller: the input's bytes were written instead.
    KeptOriginal,
    /// Left out: too large, empty, not readable, not smaller with `if_larger = skip`, or not
    /// done for lack of credits (see [`FileEvent::reason`]).
    Skipped,
    /// Not sent: another input maps to the same output, or the output was edited by hand or
    /// not written by the sync (see `reason`; [`SyncOptions::overwrite`] replaces such outputs).
    Conflict,
    /// Sent, or tried, and failed (see [`FileEvent::error`]).
    Failed,
}

impl FileOutcome {
    /// A short lowercase name: `up-to-date`, `compressed`, `kept-original`, `skipped`,
    /// `conflict`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileOutcome::UpToDate => "up-to-date",
            FileOutcome::Compressed => "compressed",
            FileOutcome::KeptOriginal => "kept-original",
            FileOutcome::Skipped => "skipped",
            FileOutcome::Conflict => "conflict",
            FileOutcome::Failed => "failed",
        }
    }
}

/// The outcome for one file, as the event callback and [`SyncReport::events`] see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEvent {
    /// What happened.
    pub outcome: FileOutcome,
    /// The input, relative to the source folder.
    pub input: PathBuf,
    /// The output, relative to the output folder (`None` when the file has no output).
    pub output: Option<PathBuf>,
    /// The input's size in bytes.
    pub input_size: u64,
    /// The output's size in bytes, when one was written or is up to date.
    pub output_size: Option<u64>,
    /// The output written is larger than its input (possible after a format change, or with
    /// [`IfLarger::Write`]).
    pub larger_than_input: bool,
    /// Why a file was skipped, a conflict, or kept original, in words.
    pub reason: Option<String>,
    /// The error of a failed file.
    pub error: Option<Error>,
}

/// What a sync will do, computed before anything is uploaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Files considered (image files after include/exclude, plus other files counted as skipped).
    pub files: usize,
    /// Files whose output is up to date.
    pub up_to_date: usize,
    /// Files to compress (or whose already-paid result is still to be fetched).
    pub to_compress: usize,
    /// Files in conflict (not sent).
    pub conflicts: usize,
    /// Files left out: not images, empty, too large, unreadable.
    pub skipped: usize,
    /// Bytes to upload.
    pub bytes_to_upload: u64,
    /// Compress requests needed (at most 20 files each).
    pub requests: usize,
    /// Compression credits needed.
    pub compressions_needed: u64,
    /// AI credits needed (one per image when alt text or SEO names are asked for).
    pub ai_credits_needed: u64,
}

/// What the event callback of [`Client::sync`](crate::Client::sync) receives, on the calling
/// thread.
#[derive(Clone, Copy, Debug)]
pub enum SyncEvent<'a> {
    /// Once, when the plan is known, with the key's usage when it was fetched (a real run
    /// always fetches it; a dry run tries, and gives `None` if it could not).
    Planned {
        /// The plan.
        plan: &'a SyncPlan,
        /// Credits of the key, before anything was spent.
        usage: Option<&'a Usage>,
    },
    /// One file's outcome.
    File(&'a FileEvent),
}

/// The totals of a sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The plan the run started from.
    pub plan: SyncPlan,
    /// Files up to date.
    pub up_to_date: usize,
    /// Files compressed and written.
    pub compressed: usize,
    /// Files whose original bytes were written because the result was not smaller.
    pub kept_original: usize,
    /// Files skipped (includes files not images, see [`SyncPlan::skipped`]).
    pub skipped: usize,
    /// Files in conflict.
    pub conflicts: usize,
    /// Files that failed.
    pub failed: usize,
    /// Files not done: not covered by the credits (`allow_partial`), or left after a fatal
    /// error such as a rejected key.
    pub not_done: usize,
    /// Bytes of the inputs compressed.
    pub bytes_in: u64,
    /// Bytes of the outputs written.
    pub bytes_out: u64,
    /// Compression credits spent by this run.
    pub credits_spent: u64,
    /// Compress requests sent.
    pub requests: usize,
    /// Time the sync took.
    pub elapsed: Duration,
    /// The event of every file whose outcome is not [`FileOutcome::UpToDate`] (up-to-date files
    /// are only counted, so a large unchanged tree costs no memory here).
    pub events: Vec<FileEvent>,
}

impl crate::Client {
    /// Compresses every image under `src` into the mirrored tree under `out`, sending only what
    /// the manifest in `out` does not already have (see the [module docs](crate::sync)).
    ///
    /// Plans first: walks `src`, maps inputs to outputs, finds conflicts and up-to-date files,
    /// then (real runs) asks `GET /api/usage` and refuses with
    /// [`ErrorKind::QuotaExceeded`](crate::ErrorKind::QuotaExceeded), naming the credits needed
    /// and left, before any upload, unless [`SyncOptions::allow_partial`]. Then sends requests
    /// of at most 20 files, `concurrency` at a time, and saves each result as soon as its
    /// request answers. `on_event` is called on the calling thread: once with the plan, then
    /// once per file. `obs` reports bytes of inputs done out of the bytes to upload, and
    /// cancels (the call then ends with `Cancelled`; what was saved stays recorded).
    ///
    /// Errors: an invalid option or folder (`InvalidArgument`), an unreadable source or
    /// unwritable output folder (`Io`), not enough credits (`QuotaExceeded`), a cancel, or the
    /// usage call failing. Per-file failures do not fail the call: they are in the report.
    pub fn sync(
        &self,
        src: &std::path::Path,
        out: &std::path::Path,
        options: &crate::CompressOptions,
        sync: &SyncOptions,
        on_event: &mut dyn FnMut(SyncEvent<'_>),
        obs: &mut crate::Observer,
    ) -> crate::Result<SyncReport> {
        engine::run(self, src, out, options, sync, on_event, obs)
    }
}
