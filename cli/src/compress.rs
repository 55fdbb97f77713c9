//! `flx compress`: files and folders into OUTDIR, with every check that can be made locally
//! done before the first upload (folders writable, names free, credits enough).

use crate::args::{CompressArgs, Global};
use crate::exit::{self, Failure};
use crate::output::{FileEvent, Reporter, Status};
use crate::{credits, files};
use fluximage::{CancelToken, Input, Observer};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Results of one group saved at once (each over its own keep-alive connection).
const SAVES_AT_ONCE: usize = 4;

/// One input of the run and where its result goes.
struct Job {
    src: PathBuf,
    /// The input as shown: the path as the user's argument spells it.
    shown: String,
    dest: PathBuf,
    size: u64,
}

pub fn run(args: &CompressArgs, global: &Global, cancel: &CancelToken) -> Result<u8, Failure> {
    let mut rep = Reporter::new(global, "compress");
    match run_with(args, global, cancel, &mut rep) {
        Ok(code) => Ok(code),
        Err(f) => Ok(rep.fail(f)),
    }
}

fn run_with(
    args: &CompressArgs,
    global: &Global,
    cancel: &CancelToken,
    rep: &mut Reporter,
) -> Result<u8, Failure> {
    let options = args.api.to_options();
    options
        .validate()
        .map_err(|e| Failure::config(e.to_string()))?;
    if let Some(w) = &args.api.watermark {
        if !w.is_file() {
            return Err(Failure::config(format!(
                "the watermark {} is not a readable file",
                w.display()
            )));
        }
    }
    let format = fluximage::Format::from(args.api.format);
    // The key and the connection settings are checked locally before any folder is made.
    let client = crate::config::client(global)?;

    // 1. The inputs, in a stable order (OUTDIR left out when it lies inside an input folder).
    let out_canon = args.output.canonicalize().ok();
    // (source, shown, relative destination folder, named on the command line)
    let mut found: Vec<(PathBuf, String, PathBuf, bool)> = Vec::new();
    for arg in &args.inputs {
        let meta = std::fs::metadata(arg)
            .map_err(|e| Failure::config(format!("{}: {}", arg.display(), files::io_reason(&e))))?;
        if meta.is_dir() {
            let walk = files::walk(arg, args.recursive, false, false, out_canon.as_deref())
                .map_err(Failure::config)?;
            if !args.recursive && walk.subfolders > 0 {
                rep.warn(&format!(
                    "{}: {} subfolder(s) not searched (use -r to compress them and mirror the tree)",
                    arg.display(),
                    walk.subfolders
                ));
            }
            for rel in walk.files {
                let src = arg.join(&rel);
                let dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
                found.push((src.clone(), src.display().to_string(), dir, false));
            }
        } else {
            found.push((arg.clone(), arg.display().to_string(), PathBuf::new(), true));
        }
    }
    if found.is_empty() {
        return Err(Failure::config(
            "no image found in the arguments (jpg, jpeg, png, webp, avif, gif)",
        ));
    }

    // 2. Where each result goes. An input that is itself the result of an input of this run
    //    (a.webp beside a.jpg, or a.webp with --format webp into its own folder) is not sent:
    //    that is how a rerun into the input folder avoids compressing its own outputs.
    let natural: Vec<PathBuf> = found
        .iter()
        .map(|(src, _, dir, _)| args.output.join(dir).join(predicted_name(src, format)))
        .collect();
    let natural_keys: HashMap<PathBuf, usize> = natural
        .iter()
        .enumerate()
        .filter_map(|(i, d)| files::identity(d).map(|k| (k, i)))
        .collect();
    let shown_all: Vec<String> = found.iter().map(|f| f.1.clone()).collect();
    let mut jobs = Vec::new();
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut own_results = 0usize;
    for (i, (src, shown, _, named)) in found.into_iter().enumerate() {
        let size = std::fs::metadata(&src).map(|m| m.len()).unwrap_or(0);
        if let Some(&owner) = files::identity(&src)
            .as_ref()
            .and_then(|k| natural_keys.get(k))
        {
            // A file named on the command line that cannot be done is a failure; one found in
            // a folder walk is skipped, and said so.
            let status = if named {
                Status::Failed
            } else {
                Status::Skipped
            };
            let mut ev = FileEvent::new(status, shown);
            ev.input_size = size;
            let reason = if owner == i {
                "not sent: its result would replace the input itself (choose another -o or --format)".to_string()
            } else {
                format!(
                    "not sent: it is where the result of {} goes",
                    shown_all[owner]
                )
            };
            own_results += usize::from(!named);
            ev.reason = Some(reason);
            rep.file(ev);
            continue;
        }
        // Two inputs with one result name (a.jpg and a.png): the later one gets a-2.webp.
        let dest = files::free_name(&natural[i], |p| taken.contains(p));
        taken.insert(dest.clone());
        jobs.push(Job {
            src,
            shown,
            dest,
            size,
        });
    }

    if own_results > 0 {
        rep.warn(&format!(
            "{own_results} file(s) not sent: they are where results of this run go (-v lists them)"
        ));
    }

    // 3. Results that would replace an existing file.
    let existing: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].dest.symlink_metadata().is_ok())
        .collect();
    if !existing.is_empty() && !args.overwrite && !args.api.seo_rename {
        if args.skip_existing {
            let skip: BTreeSet<usize> = existing.into_iter().collect();
            let mut kept = Vec::new();
            for (i, job) in jobs.into_iter().enumerate() {
                if skip.contains(&i) {
                    let mut ev = FileEvent::new(Status::Skipped, job.shown);
                    ev.input_size = job.size;
                    ev.reason = Some(format!("{} exists", job.dest.display()));
                    ev.output = Some(job.dest.display().to_string());
                    rep.file(ev);
                } else {
                    kept.push(job);
                }
            }
            jobs = kept;
        } else {
            let mut msg = String::from("these results would replace existing files:");
            for &i in existing.iter().take(10) {
                msg += &format!(
                    "\n  {} (result of {})",
                    jobs[i].dest.display(),
                    jobs[i].shown
                );
            }
            if existing.len() > 10 {
                msg += &format!("\n  ... and {} more", existing.len() - 10);
            }
            msg += "\nnothing was uploaded; --overwrite replaces them, --skip-existing skips their inputs";
            return Err(Failure::config(msg));
        }
    }
    for job in &jobs {
        if job.dest.is_dir() {
            return Err(Failure::config(format!(
                "{} is a folder; cannot write the result of {} there",
                job.dest.display(),
                job.shown
            )));
        }
    }

    if args.dry_run {
        for job in &jobs {
            let mut ev = FileEvent::new(Status::Planned, job.shown.clone());
            ev.input_size = job.size;
            ev.output = Some(job.dest.display().to_string());
            rep.file(ev);
        }
        let code = if rep.done_and_failed().1 > 0 {
            exit::SOME_FAILED
        } else {
            exit::OK
        };
        return Ok(rep.finish(code, false, json!({"dry_run": true})));
    }
    if jobs.is_empty() {
        let code = if rep.done_and_failed().1 > 0 {
            exit::SOME_FAILED
        } else {
            exit::OK
        };
        return Ok(rep.finish(code, false, json!({})));
    }

    // 4. Every output folder exists and takes a new file, before a credit is spent.
    let folders: BTreeSet<PathBuf> = jobs.iter().map(|j| parent_of(&j.dest)).collect();
    for dir in &folders {
        fluximage::save::prepare_output_dir(dir)
            .map_err(|e| Failure::config(format!("{}; nothing was uploaded", e.message())))?;
    }

    // 5. Credits.
    credits::check(
        &client,
        jobs.len() as u64,
        options.alt_text || options.seo_rename,
        cancel,
        rep,
    )?;

    // 6. Upload in groups of `concurrency` full requests, saving each group before the next, so
    //    that an interrupted run keeps what it finished and no signed URL waits long.
    let total_bytes: u64 = jobs.iter().map(|j| j.size).sum();
    rep.start_progress(jobs.len(), total_bytes);
    let group = fluximage::MAX_FILES_PER_REQUEST * global.concurrency as usize;
    let (mut bytes_done, mut files_done) = (0u64, 0usize);
    let mut stop: Option<fluximage::Error> = None;
    let mut session: Option<String> = None;
    for chunk in jobs.chunks(group) {
        if let Some(e) = &stop {
            for job in chunk {
                fail(
                    rep,
                    job,
                    e.clone(),
                    Some("not sent: the run stopped".into()),
                );
            }
            continue;
        }
        let inputs: Vec<Input> = chunk.iter().map(|j| Input::path(&j.src)).collect();
        let chunk_bytes: u64 = chunk.iter().map(|j| j.size).sum();
        let batch = {
            let rep_ref = &*rep;
            let mut obs = Observer::none()
                .with_cancel(cancel.clone())
                .with_progress(|p| {
                    let part = (p.done.min(p.total) * chunk_bytes)
                        .checked_div(p.total)
                        .unwrap_or(0);
                    rep_ref.progress(bytes_done + part, files_done, jobs.len());
                    true
                });
            client.compress(&inputs, &options, &mut obs)
        };
        bytes_done += chunk_bytes;
        let batch = match batch {
            Ok(b) => {
                session = session.or_else(|| b.session_id.clone());
                b
            }
            Err(e) => {
                for job in chunk {
                    fail(rep, job, e.clone(), None);
                }
                if stops_run(&e) {
                    stop = Some(e);
                }
                continue;
            }
        };
        // What each item needs, decided in order: its own failure, or a save to `dest`.
        let mut chunk_stop: Option<fluximage::Error> = None;
        let mut saves: Vec<(usize, PathBuf)> = Vec::new();
        let mut outcome: Vec<Option<fluximage::Result<PathBuf>>> = vec![None; chunk.len()];
        for (k, (job, item)) in chunk.iter().zip(&batch.items).enumerate() {
            match &item.outcome {
                Ok(info) => saves.push((
                    k,
                    match (&info.seo_name, args.api.seo_rename) {
                        (Some(seo), true) => parent_of(&job.dest)
                            .join(files::plain_name(seo).unwrap_or_else(|| file_name(&job.dest))),
                        _ => job.dest.clone(),
                    },
                )),
                Err(e) => {
                    // A rejected key, plan or quota fails every image alike: stop sending.
                    if stops_run(e) {
                        chunk_stop.get_or_insert_with(|| e.clone());
                    }
                    outcome[k] = Some(Err(e.clone()));
                }
            }
        }
        // The saves, a few at a time: one after another, each download's round trip adds up
        // (on a slow link, to more than the upload of the whole group).
        if stop.is_none() {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let halt = std::sync::atomic::AtomicBool::new(false);
            let slots: Vec<std::sync::Mutex<Option<fluximage::Result<PathBuf>>>> =
                saves.iter().map(|_| std::sync::Mutex::new(None)).collect();
            let work = || loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((k, dest)) = saves.get(n) else {
                    return;
                };
                if halt.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let mut obs = Observer::none().with_cancel(cancel.clone());
                let r =
                    crate::save::save(&client, &batch.items[*k], dest, args.overwrite, &mut obs);
                if r.as_ref().is_err_and(stops_run) {
                    halt.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                *slots[n].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            };
            std::thread::scope(|s| {
                // With SEO names chosen by the server two results may want one name: saved in
                // input order, the first keeps it, as the report says.
                let at_once = if args.api.seo_rename {
                    1
                } else {
                    SAVES_AT_ONCE
                };
                for _ in 0..saves.len().min(at_once) {
                    s.spawn(work);
                }
            });
            for ((k, _), slot) in saves.iter().zip(slots) {
                outcome[*k] = slot.into_inner().unwrap_or_else(|p| p.into_inner());
            }
        }
        // Reported in input order. A save not made names what stopped the run.
        let halted = outcome
            .iter()
            .flatten()
            .find_map(|r| r.as_ref().err().filter(|e| stops_run(e)).cloned())
            .or_else(|| stop.clone())
            .unwrap_or_else(|| fluximage::Error::new(fluximage::ErrorKind::Cancelled, "cancelled"));
        for (k, job) in chunk.iter().enumerate() {
            let item = &batch.items[k];
            match outcome[k].take() {
                Some(Ok(written)) => {
                    files_done += 1;
                    let info = item.outcome.as_ref().ok();
                    let mut ev = FileEvent::new(Status::Compressed, job.shown.clone());
                    ev.input_size = job.size;
                    ev.output_size = std::fs::metadata(&written)
                        .map(|m| m.len())
                        .ok()
                        .or(info.and_then(|i| i.size));
                    ev.output = Some(written.display().to_string());
                    if let Some(info) = info {
                        ev.extra = server_fields(info);
                    }
                    rep.file(ev);
                    rep.progress(bytes_done, files_done, jobs.len());
                }
                Some(Err(e)) => {
                    if item.outcome.is_ok() && stops_run(&e) {
                        stop = Some(e.clone());
                    }
                    fail(rep, job, e, None);
                }
                None => fail(
                    rep,
                    job,
                    halted.clone(),
                    Some("not saved: the run stopped".into()),
                ),
            }
        }
        if stop.is_none() {
            stop = chunk_stop;
        }
    }

    let interrupted = crate::signals::exit_code().is_some();
    let (done, failed) = rep.done_and_failed();
    let code = match (&stop, crate::signals::exit_code()) {
        (_, Some(sig)) => sig,
        (Some(e), None) if done == 0 => Failure::from_error(e).code,
        _ if failed > 0 => exit::SOME_FAILED,
        _ => exit::OK,
    };
    if let (Some(e), false) = (&stop, interrupted) {
        rep.err(&format!("stopped: {e}"));
    }
    Ok(rep.finish(code, interrupted, json!({ "session_id": session })))
}

/// Errors after which the next requests would fail the same way.
fn stops_run(e: &fluximage::Error) -> bool {
    use fluximage::ErrorKind as K;
    matches!(
        e.kind(),
        K::Cancelled | K::Unauthorized | K::Forbidden | K::QuotaExceeded
    )
}

fn fail(rep: &mut Reporter, job: &Job, e: fluximage::Error, reason: Option<String>) {
    let mut ev = FileEvent::new(Status::Failed, job.shown.clone());
    ev.input_size = job.size;
    ev.output = Some(job.dest.display().to_string());
    ev.reason = reason;
    ev.error = Some(e);
    rep.file(ev);
}

/// What the server said about a result beyond its size, for the JSON output.
pub fn server_fields(info: &fluximage::ImageInfo) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("format", info.format.clone().map(Value::from)),
        ("width", info.width.map(Value::from)),
        ("height", info.height.map(Value::from)),
        ("alt_text", info.alt_text.clone().map(Value::from)),
        ("seo_name", info.seo_name.clone().map(Value::from)),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    m
}

/// The result's file name for `src`: its stem and the format's extension (`a.jpg` -> `a.webp`).
fn predicted_name(src: &Path, format: fluximage::Format) -> String {
    fluximage::save::predicted_name(&src.to_string_lossy(), format)
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
