//! `flx sync`: the library's sync engine, with its plan and file events printed.

use crate::args::{Global, IfLargerArg, SyncArgs, SyncFlags};
use crate::exit::{self, Failure};
use crate::output::{thousands, FileEvent, Reporter, Status};
use fluximage::sync::{FileOutcome, IfLarger, SyncEvent, SyncOptions, SyncPlan, SyncReport};
use fluximage::{CancelToken, Client, CompressOptions, Observer, Usage};
use serde_json::json;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub fn run(args: &SyncArgs, global: &Global, cancel: &CancelToken) -> Result<u8, Failure> {
    let out = output_dir(&args.src, args.output.as_deref(), &args.sync)?;
    let options = args.api.to_options();
    options
        .validate()
        .map_err(|e| Failure::config(e.to_string()))?;
    let mut sync = sync_options(&args.sync);
    sync.dry_run = args.dry_run;
    let client = crate::config::client(global)?;
    let rep = RefCell::new(Reporter::new(global, "sync"));
    let result = run_once(
        &client, &args.src, &out, &options, &sync, cancel, &rep, true,
    );
    let mut rep = rep.into_inner();
    Ok(match result {
        Ok(report) => {
            if args.dry_run {
                rep.planned_at_least(report.plan.to_compress);
            }
            let code = match crate::signals::exit_code() {
                Some(sig) => sig,
                None if report.failed + report.conflicts + report.not_done > 0 => exit::SOME_FAILED,
                None => exit::OK,
            };
            rep.finish(code, code >= 128, totals(&report, args.dry_run))
        }
        Err(f) => rep.fail(f),
    })
}

/// OUT, or SRC itself with `--in-place`.
pub fn output_dir(src: &Path, out: Option<&Path>, flags: &SyncFlags) -> Result<PathBuf, Failure> {
    if !src.is_dir() {
        return Err(Failure::config(format!(
            "{} is not a folder",
            src.display()
        )));
    }
    match out {
        Some(o) => Ok(o.to_path_buf()),
        None if flags.in_place => Ok(src.to_path_buf()),
        None => Err(Failure::config(
            "no output folder: give -o OUT (or --in-place --backup DIR)",
        )),
    }
}

/// The engine's options for the sync flags (dry run and partial runs are set by the caller).
pub fn sync_options(flags: &SyncFlags) -> SyncOptions {
    SyncOptions {
        include: flags.include.clone(),
        exclude: flags.exclude.clone(),
        include_hidden: flags.hidden,
        follow_symlinks: flags.follow_symlinks,
        dry_run: false,
        allow_partial: flags.allow_partial,
        if_larger: match flags.if_larger {
            IfLargerArg::Original => IfLarger::Original,
            IfLargerArg::Write => IfLarger::Write,
            IfLargerArg::Skip => IfLarger::Skip,
        },
        in_place: flags.in_place,
        backup_dir: flags.backup.clone(),
        preserve_mtime: flags.preserve_mtime,
        overwrite: flags.overwrite,
    }
}

/// One sync of `src` into `out`, printing the plan (when `show_plan`, or when there is work)
/// and the file events through `rep` (up-to-date files only with `show_plan`).
#[allow(clippy::too_many_arguments)]
pub fn run_once(
    client: &Client,
    src: &Path,
    out: &Path,
    options: &CompressOptions,
    sync: &SyncOptions,
    cancel: &CancelToken,
    rep: &RefCell<Reporter>,
    show_plan: bool,
) -> Result<SyncReport, Failure> {
    let to_compress = std::cell::Cell::new(0usize);
    let files_done = std::cell::Cell::new(0usize);
    let bytes = std::cell::Cell::new(0u64);
    let mut on_event = |ev: SyncEvent<'_>| match ev {
        SyncEvent::Planned { plan, usage } => {
            let mut r = rep.borrow_mut();
            if show_plan || plan.to_compress > 0 {
                r.plan(
                    &plan_line(plan, usage, sync.dry_run),
                    plan_json(plan, usage),
                );
            }
            to_compress.set(plan.to_compress);
            if !sync.dry_run && plan.to_compress > 0 {
                r.start_progress(plan.to_compress, plan.bytes_to_upload);
            }
        }
        SyncEvent::File(f) => {
            if matches!(
                f.outcome,
                FileOutcome::Compressed | FileOutcome::KeptOriginal | FileOutcome::Failed
            ) {
                files_done.set(files_done.get() + 1);
            }
            let mut r = rep.borrow_mut();
            r.progress(bytes.get(), files_done.get(), to_compress.get());
            // Later rounds of watch report only what they did, not the whole tree again.
            if show_plan || f.outcome != FileOutcome::UpToDate {
                r.file(file_event(f, src, out, sync.dry_run));
            }
        }
    };
    let mut obs = Observer::none()
        .with_cancel(cancel.clone())
        .with_progress(|p| {
            bytes.set(p.done);
            rep.borrow()
                .progress(p.done, files_done.get(), to_compress.get());
            true
        });
    client
        .sync(src, out, options, sync, &mut on_event, &mut obs)
        .map_err(|e| Failure::from_error(&e))
}

/// The first line of a sync, e.g. `1,204 files: 1,180 up to date, 24 to compress in 2 requests;
/// needs 24 compressions, you have 176 left (starter)`.
pub fn plan_line(plan: &SyncPlan, usage: Option<&Usage>, dry_run: bool) -> String {
    let mut line = format!(
        "{} files: {} up to date, {} to compress in {} request{}",
        thousands(plan.files as u64),
        thousands(plan.up_to_date as u64),
        thousands(plan.to_compress as u64),
        thousands(plan.requests as u64),
        if plan.requests == 1 { "" } else { "s" }
    );
    if plan.conflicts > 0 {
        line += &format!(", {} in conflict", thousands(plan.conflicts as u64));
    }
    if plan.skipped > 0 {
        line += &format!(", {} skipped", thousands(plan.skipped as u64));
    }
    if plan.to_compress > 0 {
        line += &format!(
            "; needs {} compression{}",
            thousands(plan.compressions_needed),
            if plan.compressions_needed == 1 {
                ""
            } else {
                "s"
            }
        );
        if plan.ai_credits_needed > 0 {
            line += &format!(" and {} AI credits", thousands(plan.ai_credits_needed));
        }
        if let Some(u) = usage {
            let plan_name = u.plan.as_deref().unwrap_or("unknown plan");
            match crate::credits::compressions_left(u) {
                Some(left) => line += &format!(", you have {} left ({plan_name})", thousands(left)),
                None => line += &format!(" ({plan_name})"),
            }
        }
    }
    if dry_run {
        line += " [dry run: nothing is sent]";
    }
    line
}

fn plan_json(plan: &SyncPlan, usage: Option<&Usage>) -> serde_json::Value {
    json!({
        "files": plan.files, "up_to_date": plan.up_to_date, "to_compress": plan.to_compress,
        "conflicts": plan.conflicts, "skipped": plan.skipped, "bytes_to_upload": plan.bytes_to_upload,
        "requests": plan.requests, "compressions_needed": plan.compressions_needed,
        "ai_credits_needed": plan.ai_credits_needed,
        "plan_name": usage.and_then(|u| u.plan.clone()),
        "compressions_left": usage.and_then(crate::credits::compressions_left),
        "ai_credits_left": usage.and_then(|u| u.ai_credits_remaining),
    })
}

/// The engine's event with paths as the user spelled SRC and OUT.
fn file_event(f: &fluximage::sync::FileEvent, src: &Path, out: &Path, dry_run: bool) -> FileEvent {
    let status = match f.outcome {
        FileOutcome::UpToDate => Status::UpToDate,
        FileOutcome::Compressed if dry_run => Status::Planned,
        FileOutcome::Compressed => Status::Compressed,
        FileOutcome::KeptOriginal => Status::KeptOriginal,
        FileOutcome::Skipped => Status::Skipped,
        FileOutcome::Conflict => Status::Conflict,
        FileOutcome::Failed => Status::Failed,
    };
    let mut ev = FileEvent::new(status, src.join(&f.input).display().to_string());
    ev.output = f.output.as_ref().map(|o| out.join(o).display().to_string());
    ev.input_size = f.input_size;
    ev.output_size = f.output_size;
    ev.reason = f.reason.clone();
    ev.error = f.error.clone();
    if f.larger_than_input {
        ev.extra.insert("larger_than_input".into(), json!(true));
    }
    ev
}

/// Totals of the engine's report that the file events do not carry.
pub fn totals(r: &SyncReport, dry_run: bool) -> serde_json::Value {
    json!({"not_done": r.not_done, "credits_spent": r.credits_spent, "requests": r.requests, "dry_run": dry_run})
}
