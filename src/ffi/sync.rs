//! `flx_sync`: folder sync (see `crate::sync`), its options and its report.

use super::client::flx_client;
use super::options::{flx_cancel, flx_options, options_or_default};
use super::{
    arg_mut, arg_path, arg_ref, arg_str, check_out, cstring, ffi_entry, flx_status, free_box,
    into_raw, write_out,
};
use crate::sync::{FileEvent, FileOutcome, IfLarger, SyncEvent, SyncOptions, SyncPlan, SyncReport};
use crate::{Error, Observer};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;

/// Options of flx_sync(). Defaults: every image file (jpg jpeg png webp avif gif), no hidden
/// files, no symlinked folders, a real run that refuses when the credits do not cover it,
/// originals kept when a result is not smaller, a separate output folder, nothing replaced that
/// the sync did not write, output mtimes left as written.
pub struct flx_sync_options {
    options: SyncOptions,
}

/// On/off settings of flx_sync_options_set_flag().
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // Declared for the header: functions take `int` so that unknown values are checked, not UB.
pub enum flx_sync_flag {
    /// Take files and folders whose name starts with "." too.
    FLX_SYNC_INCLUDE_HIDDEN = 0,
    /// Descend into symlinked folders (each real folder once).
    FLX_SYNC_FOLLOW_SYMLINKS = 1,
    /// Plan only: nothing is uploaded or written; the report holds the plan.
    FLX_SYNC_DRY_RUN = 2,
    /// When the credits do not cover the plan, send what they cover (in order of relative path)
    /// instead of failing with FLX_QUOTA_EXCEEDED.
    FLX_SYNC_ALLOW_PARTIAL = 3,
    /// Replace the originals in the source folder (implied when the output folder is the
    /// source folder, which it must then be); needs flx_sync_options_set_backup_dir().
    FLX_SYNC_IN_PLACE = 4,
    /// Give each output the modification time of its input.
    FLX_SYNC_PRESERVE_MTIME = 5,
    /// Replace outputs edited by hand or not written by the sync, instead of reporting conflicts.
    FLX_SYNC_OVERWRITE = 6,
}

/// What to do when a result in its input's own format is not smaller, for
/// flx_sync_options_set_if_larger().
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // Declared for the header: functions take `int` so that unknown values are checked, not UB.
pub enum flx_if_larger {
    /// Write the input's bytes as the output (event FLX_SYNC_KEPT_ORIGINAL). The default.
    FLX_IF_LARGER_ORIGINAL = 0,
    /// Write the result anyway.
    FLX_IF_LARGER_WRITE = 1,
    /// Write nothing for that file (event FLX_SYNC_SKIPPED); later runs leave it alone.
    FLX_IF_LARGER_SKIP = 2,
}

/// The kind of a flx_sync_event.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum flx_sync_event_kind {
    /// Once, before anything is sent: `report` holds the plan (read it with flx_sync_report_num()).
    FLX_SYNC_PLANNED = 0,
    /// The output exists and matches the input and options: nothing sent.
    FLX_SYNC_UP_TO_DATE = 1,
    /// Compressed and the result written.
    FLX_SYNC_COMPRESSED = 2,
    /// The result was not smaller: the input's bytes were written instead.
    FLX_SYNC_KEPT_ORIGINAL = 3,
    /// Left out (too large, empty, not smaller with FLX_IF_LARGER_SKIP, or not covered by the
    /// credits); `message` says why.
    FLX_SYNC_SKIPPED = 4,
    /// Not sent: two inputs map to one output, or the output was changed by hand or not written
    /// by the sync; `message` says which.
    FLX_SYNC_CONFLICT = 5,
    /// Failed: `status` and `message` say why.
    FLX_SYNC_FAILED = 6,
}

/// One event of a sync, handed to the flx_sync_fn callback and read back from a report with
/// flx_sync_report_event(). Every pointer is owned by the library: during a callback it is
/// valid until the callback returns; from flx_sync_report_event() until the report is freed.
#[repr(C)]
pub struct flx_sync_event {
    /// What happened.
    pub kind: flx_sync_event_kind,
    /// The input, relative to the source folder ('/'-separated); NULL for FLX_SYNC_PLANNED.
    pub input: *const c_char,
    /// The output, relative to the output folder; NULL when there is none.
    pub output: *const c_char,
    /// The input's size in bytes.
    pub input_size: u64,
    /// The output's size in bytes, or -1 when there is none.
    pub output_size: i64,
    /// The output written is larger than its input (a format change, or FLX_IF_LARGER_WRITE).
    pub larger_than_input: bool,
    /// FLX_OK, or why a FLX_SYNC_FAILED file failed.
    pub status: flx_status,
    /// Why the file was skipped, in conflict, kept original or failed; NULL otherwise.
    pub message: *const c_char,
    /// FLX_SYNC_PLANNED only: the plan (the report's other totals are 0); NULL otherwise.
    pub report: *const flx_sync_report,
}

/// An event callback, called on the thread that called flx_sync(): once with
/// FLX_SYNC_PLANNED, then once per file. Return 0 to go on, non-zero to stop: flx_sync() then
/// ends with FLX_CANCELLED (results already saved stay recorded; a rerun goes on from there).
/// It must not call flx_ functions on the same client.
pub type flx_sync_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, event: *const flx_sync_event) -> c_int>;

/// The outcome of flx_sync(): the plan, the totals and the event of every file that was not up
/// to date. Read-only; strings are owned by it. Free with flx_sync_report_free().
pub struct flx_sync_report {
    report: SyncReport,
    strings: Vec<EventStrings>,
}

struct EventStrings {
    input: CString,
    output: Option<CString>,
    message: Option<CString>,
}

/// What flx_sync_report_num() reads.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // Declared for the header: functions take `int` so that unknown values are checked, not UB.
pub enum flx_sync_field {
    /// Plan: files considered (including non-images, counted as skipped).
    FLX_SYNC_PLAN_FILES = 0,
    /// Plan: files up to date.
    FLX_SYNC_PLAN_UP_TO_DATE = 1,
    /// Plan: files to compress (or whose paid result is still to fetch).
    FLX_SYNC_PLAN_TO_COMPRESS = 2,
    /// Plan: files in conflict.
    FLX_SYNC_PLAN_CONFLICTS = 3,
    /// Plan: files skipped.
    FLX_SYNC_PLAN_SKIPPED = 4,
    /// Plan: bytes to upload.
    FLX_SYNC_PLAN_BYTES_TO_UPLOAD = 5,
    /// Plan: compress requests needed.
    FLX_SYNC_PLAN_REQUESTS = 6,
    /// Plan: compression credits needed.
    FLX_SYNC_PLAN_COMPRESSIONS_NEEDED = 7,
    /// Plan: AI credits needed.
    FLX_SYNC_PLAN_AI_CREDITS_NEEDED = 8,
    /// Files up to date.
    FLX_SYNC_UP_TO_DATE_FILES = 9,
    /// Files compressed.
    FLX_SYNC_COMPRESSED_FILES = 10,
    /// Files whose original was kept.
    FLX_SYNC_KEPT_ORIGINAL_FILES = 11,
    /// Files skipped.
    FLX_SYNC_SKIPPED_FILES = 12,
    /// Files in conflict.
    FLX_SYNC_CONFLICT_FILES = 13,
    /// Files failed.
    FLX_SYNC_FAILED_FILES = 14,
    /// Files not done (credits, or a fatal error such as a rejected key).
    FLX_SYNC_NOT_DONE_FILES = 15,
    /// Bytes of the inputs compressed.
    FLX_SYNC_BYTES_IN = 16,
    /// Bytes of the outputs written.
    FLX_SYNC_BYTES_OUT = 17,
    /// Compression credits spent.
    FLX_SYNC_CREDITS_SPENT = 18,
    /// Compress requests sent.
    FLX_SYNC_REQUESTS = 19,
    /// Time taken, in milliseconds.
    FLX_SYNC_ELAPSED_MS = 20,
}

fn path_cstring(p: &std::path::Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).unwrap_or_else(|_| cstring(&p.to_string_lossy()))
}

fn kind_of(o: FileOutcome) -> flx_sync_event_kind {
    use flx_sync_event_kind::*;
    match o {
        FileOutcome::UpToDate => FLX_SYNC_UP_TO_DATE,
        FileOutcome::Compressed => FLX_SYNC_COMPRESSED,
        FileOutcome::KeptOriginal => FLX_SYNC_KEPT_ORIGINAL,
        FileOutcome::Skipped => FLX_SYNC_SKIPPED,
        FileOutcome::Conflict => FLX_SYNC_CONFLICT,
        FileOutcome::Failed => FLX_SYNC_FAILED,
    }
}

impl EventStrings {
    fn of(e: &FileEvent) -> EventStrings {
        let message = e
            .error
            .as_ref()
            .map(|err| err.message().to_string())
            .or_else(|| e.reason.clone());
        EventStrings {
            input: path_cstring(&e.input),
            output: e.output.as_deref().map(path_cstring),
            message: message.as_deref().map(cstring),
        }
    }

    /// The C view of `e`; its pointers borrow `self`.
    fn view(&self, e: &FileEvent) -> flx_sync_event {
        flx_sync_event {
            kind: kind_of(e.outcome),
            input: self.input.as_ptr(),
            output: self.output.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            input_size: e.input_size,
            output_size: e
                .output_size
                .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            larger_than_input: e.larger_than_input,
            status: e
                .error
                .as_ref()
                .map_or(flx_status::FLX_OK, |err| flx_status::of(err.kind())),
            message: self.message.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            report: ptr::null(),
        }
    }
}

impl flx_sync_report {
    fn new(report: SyncReport) -> flx_sync_report {
        let strings = report.events.iter().map(EventStrings::of).collect();
        flx_sync_report { report, strings }
    }

    fn plan_only(plan: &SyncPlan) -> flx_sync_report {
        flx_sync_report {
            report: SyncReport {
                plan: plan.clone(),
                ..SyncReport::default()
            },
            strings: Vec::new(),
        }
    }
}

/// Creates sync options with the defaults. Free with flx_sync_options_free(). NULL only if
/// memory runs out.
#[no_mangle]
pub extern "C" fn flx_sync_options_new() -> *mut flx_sync_options {
    ffi_entry!({
        Ok(into_raw(flx_sync_options {
            options: SyncOptions::default(),
        }))
    })
}

/// Frees sync options. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_sync_options_free(sync_options: *mut flx_sync_options) {
    ffi_entry!({
        free_box(sync_options);
        Ok(())
    })
}

/// Adds an include glob on the path relative to the source folder ('/'-separated): when any
/// is set, only matching files are synced. `*` and `?` stay within one path component, `**`
/// spans any number, `[a-z]`, `[!a-z]` and `{jpg,png}` as in a shell; a pattern without '/'
/// matches the file name at any depth ("*.png"). A malformed glob is FLX_INVALID_ARGUMENT
/// when flx_sync() starts.
#[no_mangle]
pub extern "C" fn flx_sync_options_add_include(
    sync_options: *mut flx_sync_options,
    glob: *const c_char,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(sync_options, "sync_options")?;
        o.options.include.push(arg_str(glob, "glob")?.to_string());
        Ok(flx_status::FLX_OK)
    })
}

/// Adds an exclude glob (syntax as for flx_sync_options_add_include()): matching files are
/// left out, and so are matching folders with everything in them.
#[no_mangle]
pub extern "C" fn flx_sync_options_add_exclude(
    sync_options: *mut flx_sync_options,
    glob: *const c_char,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(sync_options, "sync_options")?;
        o.options.exclude.push(arg_str(glob, "glob")?.to_string());
        Ok(flx_status::FLX_OK)
    })
}

/// Turns a flx_sync_flag on or off (all are off by default).
#[no_mangle]
pub extern "C" fn flx_sync_options_set_flag(
    sync_options: *mut flx_sync_options,
    flag: c_int,
    on: bool,
) -> flx_status {
    ffi_entry!({
        let o = &mut arg_mut(sync_options, "sync_options")?.options;
        let field = match flag {
            0 => &mut o.include_hidden,
            1 => &mut o.follow_symlinks,
            2 => &mut o.dry_run,
            3 => &mut o.allow_partial,
            4 => &mut o.in_place,
            5 => &mut o.preserve_mtime,
            6 => &mut o.overwrite,
            _ => {
                return Err(Error::invalid(format!(
                    "flag must be a flx_sync_flag value 0..6 (got {flag})"
                )))
            }
        };
        *field = on;
        Ok(flx_status::FLX_OK)
    })
}

/// Sets what happens when a result is not smaller than its input, a flx_if_larger value.
#[no_mangle]
pub extern "C" fn flx_sync_options_set_if_larger(
    sync_options: *mut flx_sync_options,
    if_larger: c_int,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(sync_options, "sync_options")?;
        o.options.if_larger = match if_larger {
            0 => IfLarger::Original,
            1 => IfLarger::Write,
            2 => IfLarger::Skip,
            _ => {
                return Err(Error::invalid(format!(
                    "if_larger must be a flx_if_larger value 0..2 (got {if_larger})"
                )))
            }
        };
        Ok(flx_status::FLX_OK)
    })
}

/// Sets the folder where originals are copied (as a mirrored tree) before a sync in place
/// replaces them; created when needed, and kept out of the scan when inside the source folder.
/// NULL removes it.
#[no_mangle]
pub extern "C" fn flx_sync_options_set_backup_dir(
    sync_options: *mut flx_sync_options,
    path: *const c_char,
) -> flx_status {
    ffi_entry!({
        let o = arg_mut(sync_options, "sync_options")?;
        o.options.backup_dir = if path.is_null() {
            None
        } else {
            Some(arg_path(path, "path")?)
        };
        Ok(flx_status::FLX_OK)
    })
}

/// Compresses every image under the folder `src` into the mirrored tree under `out`, sending
/// only what the manifest in `out` (the file ".fluximage-sync") does not already have: `out`
/// gets `<same relative path>/<stem>.<format extension>` for every input. A rerun sends only
/// new or changed files; a rerun after a crash or a kill does not pay again for a result that
/// was saved, or whose answer had arrived.
///
/// Plans first and, for a real run, asks for the key's usage: when the credits left do not
/// cover the plan it fails with FLX_QUOTA_EXCEEDED (the message names both numbers) before
/// uploading anything, unless FLX_SYNC_ALLOW_PARTIAL. Never replaces a file it did not write
/// (see FLX_SYNC_OVERWRITE), never deletes one, writes each output atomically.
///
/// `options` (NULL: defaults) gives the format and the other compress settings, plus a
/// progress callback (bytes of inputs done of the bytes to upload) and cancel flag.
/// `sync_options` may be NULL (defaults). `callback` (may be NULL) receives the events on the
/// calling thread, with `user` handed back unchanged. `cancel` (may be NULL; otherwise used
/// instead of the one in `options`) stops the call from any thread.
///
/// Returns FLX_OK when every file is done, up to date or deliberately left alone (skipped,
/// conflict, kept original); FLX_PARTIAL when some files failed or were not done. In both
/// cases `*report_out` receives a report to free with flx_sync_report_free(). On any other
/// status (bad arguments, folders, credits, FLX_CANCELLED, the usage call failing) it is not
/// written.
#[no_mangle]
pub extern "C" fn flx_sync(
    client: *mut flx_client,
    src: *const c_char,
    out: *const c_char,
    options: *const flx_options,
    sync_options: *const flx_sync_options,
    callback: flx_sync_fn,
    user: *mut c_void,
    cancel: *const flx_cancel,
    report_out: *mut *mut flx_sync_report,
) -> flx_status {
    ffi_entry!({
        check_out(report_out, "report_out")?;
        let client = &arg_ref(client as *const flx_client, "client")?.client;
        let src = arg_path(src, "src")?;
        let out = arg_path(out, "out")?;
        let options = options_or_default(options);
        let default_sync = SyncOptions::default();
        let sync = if sync_options.is_null() {
            &default_sync
        } else {
            &arg_ref(sync_options, "sync_options")?.options
        };
        let token = if cancel.is_null() {
            options.cancel.clone()
        } else {
            Some(arg_ref(cancel, "cancel")?.token.clone())
        };
        // A callback's non-zero return stops the call through the observer, which the engine
        // polls on this thread.
        let stopped = Cell::new(false);
        let (progress, progress_user) = (options.progress, options.user);
        let mut obs = Observer::none().with_progress(|p| {
            if stopped.get() {
                return false;
            }
            match progress {
                // SAFETY: the caller registered `progress` with `progress_user` for exactly this use.
                Some(f) => unsafe { f(progress_user, p.done, p.total) == 0 },
                None => true,
            }
        });
        if let Some(t) = token {
            obs = obs.with_cancel(t);
        }
        let mut on_event = |e: SyncEvent<'_>| {
            let Some(f) = callback else { return };
            if stopped.get() {
                return;
            }
            let go = match e {
                SyncEvent::Planned { plan, .. } => {
                    let plan_report = flx_sync_report::plan_only(plan);
                    let view = flx_sync_event {
                        kind: flx_sync_event_kind::FLX_SYNC_PLANNED,
                        input: ptr::null(),
                        output: ptr::null(),
                        input_size: 0,
                        output_size: -1,
                        larger_than_input: false,
                        status: flx_status::FLX_OK,
                        message: ptr::null(),
                        report: &plan_report,
                    };
                    // SAFETY: the caller registered `f` with `user`; `view` outlives the call.
                    unsafe { f(user, &view) }
                }
                SyncEvent::File(fe) => {
                    let strings = EventStrings::of(fe);
                    let view = strings.view(fe);
                    // SAFETY: as above; `strings` backs the pointers in `view` during the call.
                    unsafe { f(user, &view) }
                }
            };
            if go != 0 {
                stopped.set(true);
            }
        };
        let result = client.sync(&src, &out, &options.options, sync, &mut on_event, &mut obs);
        drop(obs);
        let report = result?;
        let partial = report.failed > 0 || report.not_done > 0;
        let message = (partial).then(|| {
            format!(
                "{} files failed and {} were not done; see the report",
                report.failed, report.not_done
            )
        });
        write_out(report_out, into_raw(flx_sync_report::new(report)));
        match message {
            Some(m) => Err(Error::new(crate::ErrorKind::Partial, m)),
            None => Ok(flx_status::FLX_OK),
        }
    })
}

/// Reads a number of the report (a flx_sync_field value); -1 for an unknown field or NULL.
#[no_mangle]
pub extern "C" fn flx_sync_report_num(report: *const flx_sync_report, field: c_int) -> i64 {
    ffi_entry!({
        let r = &arg_ref(report, "report")?.report;
        let p = &r.plan;
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let b = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(match field {
            0 => n(p.files),
            1 => n(p.up_to_date),
            2 => n(p.to_compress),
            3 => n(p.conflicts),
            4 => n(p.skipped),
            5 => b(p.bytes_to_upload),
            6 => n(p.requests),
            7 => b(p.compressions_needed),
            8 => b(p.ai_credits_needed),
            9 => n(r.up_to_date),
            10 => n(r.compressed),
            11 => n(r.kept_original),
            12 => n(r.skipped),
            13 => n(r.conflicts),
            14 => n(r.failed),
            15 => n(r.not_done),
            16 => b(r.bytes_in),
            17 => b(r.bytes_out),
            18 => b(r.credits_spent),
            19 => n(r.requests),
            20 => i64::try_from(r.elapsed.as_millis()).unwrap_or(i64::MAX),
            _ => {
                return Err(Error::invalid(format!(
                    "field must be a flx_sync_field value 0..20 (got {field})"
                )))
            }
        })
    })
}

/// How many events the report holds: one per file that was not up to date (up-to-date files
/// are only counted). 0 for NULL.
#[no_mangle]
pub extern "C" fn flx_sync_report_event_count(report: *const flx_sync_report) -> usize {
    ffi_entry!({ Ok(arg_ref(report, "report")?.report.events.len()) })
}

/// Copies event `i` (0 ≤ i < flx_sync_report_event_count()) into `*event_out`; its strings are
/// owned by the report. An `i` out of range is FLX_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn flx_sync_report_event(
    report: *const flx_sync_report,
    i: usize,
    event_out: *mut flx_sync_event,
) -> flx_status {
    ffi_entry!({
        check_out(event_out, "event_out")?;
        let r = arg_ref(report, "report")?;
        let (Some(e), Some(s)) = (r.report.events.get(i), r.strings.get(i)) else {
            return Err(Error::invalid(format!(
                "event index {i} is out of range (the report has {})",
                r.report.events.len()
            )));
        };
        write_out(event_out, s.view(e));
        Ok(flx_status::FLX_OK)
    })
}

/// Frees a report. NULL is ignored.
#[no_mangle]
pub extern "C" fn flx_sync_report_free(report: *mut flx_sync_report) {
    ffi_entry!({
        free_box(report);
        Ok(())
    })
}
