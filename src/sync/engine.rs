//! The run of a sync: plan, check credits, send, save, record.
//!
//! The calling thread plans, then watches `concurrency` worker threads. A worker takes one job
//! (a request of at most 20 files, or the fetch of a result already paid for), and for a
//! request: hashes the inputs, compresses, hands the answer to the calling thread, which
//! journals it as `pending` (so a crash from then on does not pay again), then downloads and
//! writes each result and hands it over to be journaled as saved and reported. Before taking
//! its next job a worker waits until the calling thread has recorded everything of the last
//! one, so an interrupted run has at most `concurrency` requests in flight.

use super::glob::GlobSet;
use super::manifest::{self, Extra, Kind, Manifest, Rec};
use super::walk::{self, Found, WalkOptions};
use super::{FileEvent, FileOutcome, IfLarger, SyncEvent, SyncOptions, SyncPlan, SyncReport};
use crate::client::FETCHES_PER_REQUEST;
use crate::error::{Error, ErrorKind, Result};
use crate::input::{MAX_FILES_PER_REQUEST, MAX_FILE_BYTES};
use crate::multipart::UploadGate;
use crate::observe::{CancelToken, TICK};
use crate::response::{ImageInfo, Usage};
use crate::{Client, CompressOptions, Format, Input, Observer};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A pending result is fetched again only if its URL is valid for at least this long.
const PENDING_MARGIN_SECS: i64 = 30;

/// What the plan decided for one input that needs work.
#[derive(Debug)]
struct Todo {
    /// Index into the walked images.
    file: usize,
    out_rel: String,
    /// The result was already paid for: fetch it (no compress).
    fetch: Option<ImageInfo>,
    /// The input's hash, when the plan already knows it.
    ih: Option<u128>,
    /// For a fetch: the original's size and mtime as recorded (in place, the file may already
    /// be the result when a crash came between replacing it and recording that).
    orig: Option<(u64, i64)>,
}

/// An outcome decided while planning, kept small (a large up-to-date tree has one per file)
/// and turned into a [`FileEvent`] when it is reported.
struct Decided {
    file: usize,
    outcome: FileOutcome,
    has_output: bool,
    output_size: Option<u64>,
    reason: Option<String>,
}

impl Decided {
    fn new(
        outcome: FileOutcome,
        file: usize,
        has_output: bool,
        output_size: Option<u64>,
        reason: Option<String>,
    ) -> Decided {
        Decided {
            file,
            outcome,
            has_output,
            output_size,
            reason,
        }
    }
}

/// Everything the workers share, read-only.
struct Ctx<'a> {
    client: &'a Client,
    options: &'a CompressOptions,
    sync: &'a SyncOptions,
    src: PathBuf,
    out: PathBuf,
    backup: Option<PathBuf>,
    in_place: bool,
    images: &'a [Found],
    todos: &'a [Todo],
    cancel: CancelToken,
    stop: AtomicBool,
    fp: u64,
    /// One request of the sync uploads at a time.
    uploads: Arc<UploadGate>,
}

/// A result saved by a worker.
struct Saved {
    rec: Rec,
    outcome: FileOutcome,
    larger: bool,
    reason: Option<String>,
}

enum Msg {
    /// A request was answered: per todo, the result or why it failed. Reply `true` to go on.
    Answered {
        results: Vec<(usize, Result<ImageInfo>, u128)>,
        ack: mpsc::SyncSender<bool>,
    },
    /// One todo is finished.
    Done { todo: usize, result: Result<Saved> },
    /// A job is finished; reply when all its messages are recorded.
    JobDone { ack: mpsc::SyncSender<bool> },
}

enum Job {
    Compress(Vec<usize>),
    Fetch(usize),
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `dir/stem.ext` for `rel` mapped to `format`.
fn map_output(rel: &str, format: Format) -> String {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    let stem = name
        .rsplit_once('.')
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
        .unwrap_or(name);
    match dir {
        Some(d) => format!("{d}/{stem}.{}", format.as_str()),
        None => format!("{stem}.{}", format.as_str()),
    }
}

/// The format an input already is, judged by its extension.
fn input_format(rel: &str) -> Option<Format> {
    rel.rsplit_once('.')
        .and_then(|(_, ext)| Format::parse(ext).ok())
}

/// The options fingerprint: what changes the bytes of a result. Quality is left out for PNG,
/// which is lossless.
fn fingerprint(options: &CompressOptions) -> Result<u64> {
    let mut text = format!("v1;format={};", options.format.as_str());
    if options.format != Format::Png {
        text.push_str(&format!("quality={};", options.quality));
    }
    text.push_str(&format!(
        "maxw={:?};maxh={:?};alt={};seo={};",
        options.max_width, options.max_height, options.alt_text, options.seo_rename
    ));
    if let Some(w) = &options.watermark {
        let h = manifest::hash_file(&w.path).map_err(|e| e.context("watermark"))?;
        text.push_str(&format!(
            "wm={h:032x},{},{},{};",
            w.scale,
            w.opacity,
            w.position.as_str()
        ));
    }
    Ok(manifest::hash64(&text))
}

/// Creates `dir` and proves a file can be created and removed in it, before anything is sent.
fn prepare_dir(dir: &Path, what: &str) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create the {what} {}", dir.display()), &e))?;
    let probe = dir.join(format!(
        ".fluximage-sync.probe.{:08x}",
        crate::random_u128() as u32
    ));
    std::fs::File::create(&probe)
        .map_err(|e| Error::io(format!("cannot write in the {what} {}", dir.display()), &e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn stat(path: &Path) -> Option<std::fs::Metadata> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
}

/// Whether the file at `path` is still what the record says was written there; refreshes the
/// recorded mtime when only the mtime moved.
fn output_is_ours(
    path: &Path,
    meta: &std::fs::Metadata,
    rec: &mut Rec,
    touched: &mut bool,
) -> bool {
    if meta.len() != rec.osz {
        return false;
    }
    let mt = walk::mtime_ns(meta);
    if mt == rec.omt {
        return true;
    }
    if manifest::hash_file(path).is_ok_and(|h| h == rec.oh) {
        rec.omt = mt;
        *touched = true;
        return true;
    }
    false
}

/// Whether the input is still what the record says; hashes only when the mtime moved.
fn input_unchanged(path: &Path, f: &Found, rec: &mut Rec, touched: &mut bool) -> bool {
    if f.size != rec.isz {
        return false;
    }
    if f.mtime == rec.imt {
        return true;
    }
    if manifest::hash_file(path).is_ok_and(|h| h == rec.ih) {
        rec.imt = f.mtime;
        *touched = true;
        return true;
    }
    false
}

fn event(
    outcome: FileOutcome,
    f: &Found,
    output: Option<&str>,
    output_size: Option<u64>,
    reason: Option<String>,
) -> FileEvent {
    FileEvent {
        outcome,
        input: PathBuf::from(&f.rel),
        output: output.map(PathBuf::from),
        input_size: f.size,
        output_size,
        larger_than_input: output_size.is_some_and(|o| o > f.size),
        reason,
        error: None,
    }
}

/// Inputs that share their output with another input, each with the whole group. Found by
/// sorting 16 bytes per file (a hash of the output path and the index) rather than a map of
/// every output path, so a large tree costs little.
fn conflicting_inputs(
    images: &[Found],
    skip: &HashSet<Box<str>>,
    format: Format,
) -> HashMap<usize, Vec<usize>> {
    use std::hash::{Hash, Hasher};
    let mut keyed: Vec<(u64, usize)> = images
        .iter()
        .enumerate()
        .filter(|(_, f)| !skip.contains(f.rel.as_str()))
        .map(|(i, f)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            map_output(&f.rel, format).hash(&mut h);
            (h.finish(), i)
        })
        .collect();
    keyed.sort_unstable();
    let mut out = HashMap::new();
    for run in keyed.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        // Equal hashes: group by the real output path (a hash collision is not a conflict).
        let mut paths: Vec<(String, usize)> = run
            .iter()
            .map(|&(_, i)| (map_output(&images[i].rel, format), i))
            .collect();
        paths.sort();
        for group in paths.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            let members: Vec<usize> = group.iter().map(|&(_, i)| i).collect();
            for &i in &members {
                out.insert(i, members.clone());
            }
        }
    }
    out
}

/// The key's compressions and AI credits left, when the answer tells.
fn credits_left(u: &Usage) -> (Option<u64>, Option<u64>) {
    let comp = if u.can_compress == Some(false) {
        Some(0)
    } else {
        u.compressions_limit
            .zip(u.compressions_used)
            .map(|(l, used)| l.saturating_sub(used))
    };
    let ai = if u.can_use_ai == Some(false) {
        Some(0)
    } else {
        u.ai_credits_remaining
    };
    (comp, ai)
}

struct Tally<'r> {
    report: &'r mut SyncReport,
}

impl Tally<'_> {
    fn count(&mut self, e: FileEvent, on_event: &mut dyn FnMut(SyncEvent<'_>)) {
        on_event(SyncEvent::File(&e));
        let r = &mut *self.report;
        match e.outcome {
            FileOutcome::UpToDate => {
                r.up_to_date += 1;
                return; // counted only: a large unchanged tree costs no memory
            }
            FileOutcome::Compressed => r.compressed += 1,
            FileOutcome::KeptOriginal => r.kept_original += 1,
            FileOutcome::Skipped => r.skipped += 1,
            FileOutcome::Conflict => r.conflicts += 1,
            FileOutcome::Failed => r.failed += 1,
        }
        r.events.push(e);
    }
}

pub(crate) fn run(
    client: &Client,
    src: &Path,
    out: &Path,
    options: &CompressOptions,
    sync: &SyncOptions,
    on_event: &mut dyn FnMut(SyncEvent<'_>),
    obs: &mut Observer,
) -> Result<SyncReport> {
    let started = Instant::now();
    options.validate()?;
    let include = GlobSet::new(&sync.include, "include")?;
    let exclude = GlobSet::new(&sync.exclude, "exclude")?;
    let src = src
        .canonicalize()
        .map_err(|e| Error::io(format!("the source folder {}", src.display()), &e))?;
    if !src.is_dir() {
        return Err(Error::invalid(format!(
            "the source {} is not a folder",
            src.display()
        )));
    }
    if out.as_os_str().is_empty() {
        return Err(Error::invalid("the output folder is empty; name a folder"));
    }
    let out_is_src = out.canonicalize().is_ok_and(|o| o == src);
    if sync.in_place && !out_is_src {
        return Err(Error::invalid(format!(
            "in place writes into the source folder, but the output folder {} is another one; pass the source folder as the output",
            out.display()
        )));
    }
    let in_place = sync.in_place || out_is_src;
    let out = if in_place {
        src.clone()
    } else {
        out.to_path_buf()
    };
    let backup = match (&sync.backup_dir, in_place) {
        (None, true) => {
            return Err(Error::invalid(
                "a sync in place replaces originals, so it needs a backup folder (backup_dir)",
            ));
        }
        (Some(b), true) => {
            if !sync.dry_run {
                prepare_dir(b, "backup folder")?;
            }
            let canon = b.canonicalize().unwrap_or_else(|_| b.clone());
            if canon == src {
                return Err(Error::invalid(
                    "the backup folder is the source folder; name another one",
                ));
            }
            Some(canon)
        }
        (_, false) => None,
    };
    if !sync.dry_run && !in_place {
        prepare_dir(&out, "output folder")?;
    }
    let out_canon = out.canonicalize().ok();
    let mut prune: Vec<PathBuf> = backup.iter().cloned().collect();
    if !in_place {
        prune.extend(out_canon.iter().cloned());
    }
    let mut manifest = match &out_canon {
        Some(o) => Manifest::load(o, !sync.dry_run)?,
        None => Manifest::load(&out, false)?,
    };
    let out = out_canon.unwrap_or(out);
    let fp = fingerprint(options)?;
    let walked = walk::walk(
        &src,
        &WalkOptions {
            include: &include,
            exclude: &exclude,
            include_hidden: sync.include_hidden,
            follow_symlinks: sync.follow_symlinks,
            prune,
        },
    )?;
    let images = walked.images;

    // ---- plan --------------------------------------------------------------------------
    let mut report = SyncReport::default();
    let mut plan = SyncPlan {
        files: images.len() + walked.not_images,
        skipped: walked.not_images,
        ..SyncPlan::default()
    };
    report.skipped = walked.not_images;
    // In place, an output in another format lands beside its input and is found by the next
    // walk: such files, recorded as another input's output, are not inputs.
    let own_outputs: HashSet<Box<str>> = if in_place {
        manifest
            .records
            .iter()
            .filter(|(k, r)| ***k != *r.out && r.kind != Kind::Skipped)
            .map(|(_, r)| r.out.clone())
            .collect()
    } else {
        HashSet::new()
    };
    let conflicts = conflicting_inputs(&images, &own_outputs, options.format);
    let mut planned: Vec<Decided> = Vec::new();
    let mut todos: Vec<Todo> = Vec::new();
    let mut refreshed: Vec<(String, Rec)> = Vec::new();
    let now = now_unix();
    for (i, f) in images.iter().enumerate() {
        if own_outputs.contains(f.rel.as_str()) {
            plan.files -= 1;
            continue;
        }
        let out_rel = map_output(&f.rel, options.format);
        if let Some(group) = conflicts.get(&i) {
            let names: Vec<&str> = group.iter().map(|&j| images[j].rel.as_str()).collect();
            planned.push(Decided::new(
                FileOutcome::Conflict,
                i,
                true,
                None,
                Some(format!(
                    "{} map to the same output {out_rel}; neither is sent",
                    names.join(" and ")
                )),
            ));
            continue;
        }
        if f.size == 0 {
            planned.push(Decided::new(
                FileOutcome::Skipped,
                i,
                false,
                None,
                Some("the file is empty".into()),
            ));
            continue;
        }
        if f.size > MAX_FILE_BYTES {
            planned.push(Decided::new(
                FileOutcome::Skipped,
                i,
                false,
                None,
                Some(format!("{} bytes, over the 20 MB per-file limit", f.size)),
            ));
            continue;
        }
        let in_abs = src.join(&f.rel);
        let out_abs = out.join(&out_rel);
        let same_path = in_place && out_rel == f.rel;
        let mut touched = false;
        let mut rec = manifest.records.get(f.rel.as_str()).cloned();
        let mut todo = |fetch: Option<ImageInfo>, ih: Option<u128>, orig: Option<(u64, i64)>| {
            todos.push(Todo {
                file: i,
                out_rel: out_rel.clone(),
                fetch,
                ih,
                orig,
            })
        };
        // A result paid for and not yet saved (a crash, or a cancel): fetch it while it lasts.
        if let Some(r) = rec
            .as_mut()
            .filter(|r| r.kind == Kind::Pending && r.fp == fp && *r.out == *out_rel)
        {
            let url = r.extra.as_ref().and_then(|e| e.url.clone());
            let valid = r
                .extra
                .as_ref()
                .and_then(|e| e.exp)
                .is_none_or(|exp| exp > now + PENDING_MARGIN_SECS);
            let original = input_unchanged(&in_abs, f, r, &mut touched)
                || (same_path
                    && backup.as_ref().is_some_and(|b| {
                        manifest::hash_file(&b.join(&f.rel)).is_ok_and(|h| h == r.ih)
                    }));
            if let (Some(url), true, true) = (url, valid, original) {
                let e = r.extra.as_deref().cloned().unwrap_or_default();
                let info = ImageInfo {
                    name: e.name.unwrap_or_else(|| {
                        out_rel.rsplit('/').next().unwrap_or(&out_rel).to_string()
                    }),
                    original_name: None,
                    format: Some(options.format.as_str().to_string()),
                    original_size: Some(f.size),
                    size: None,
                    width: None,
                    height: None,
                    url,
                    expires_at: None,
                    expires_unix: e.exp,
                    alt_text: e.alt,
                    seo_name: e.seo,
                };
                todo(Some(info), Some(r.ih), Some((r.isz, r.imt)));
                continue;
            }
        }
        if same_path {
            // In place, the "output" is the input file itself.
            let meta = stat(&in_abs);
            let ours = match (rec.as_mut(), &meta) {
                (Some(r), Some(m)) => {
                    r.kind == Kind::Compressed && output_is_ours(&in_abs, m, r, &mut touched)
                }
                _ => false,
            };
            let kept = !ours
                && rec.as_mut().is_some_and(|r| {
                    matches!(r.kind, Kind::Original | Kind::Skipped)
                        && r.fp == fp
                        && input_unchanged(&in_abs, f, r, &mut touched)
                });
            match rec.as_ref() {
                Some(r) if ours && r.fp == fp => planned.push(Decided::new(FileOutcome::UpToDate, i, true, Some(r.osz), None)),
                Some(r) if ours => planned.push(Decided::new(FileOutcome::Skipped, i, true, Some(r.osz), Some("already compressed in place with other options; restore the original from the backup to redo it".into()))),
                _ if kept => planned.push(Decided::new(FileOutcome::UpToDate, i, true, Some(f.size), None)),
                _ => todo(None, None, None),
            }
        } else {
            let meta = stat(&out_abs);
            let fresh = rec.as_mut().is_some_and(|r| {
                r.fp == fp
                    && r.kind != Kind::Pending
                    && input_unchanged(&in_abs, f, r, &mut touched)
            });
            let ours = rec.as_mut().is_some_and(|r| {
                *r.out == *out_rel
                    && match r.kind {
                        Kind::Compressed | Kind::Original => meta
                            .as_ref()
                            .is_some_and(|m| output_is_ours(&out_abs, m, r, &mut touched)),
                        Kind::Pending => true, // a crash between writing and recording
                        Kind::Skipped => false,
                    }
            });
            let skipped_before = rec.as_ref().is_some_and(|r| r.kind == Kind::Skipped);
            if fresh && skipped_before && meta.is_none() {
                planned.push(Decided::new(FileOutcome::UpToDate, i, false, None, None));
            } else if fresh && ours && meta.is_some() {
                let osz = rec.as_ref().map(|r| r.osz);
                planned.push(Decided::new(FileOutcome::UpToDate, i, true, osz, None));
            } else if meta.is_none() || ours || sync.overwrite {
                todo(None, None, None); // never written, deleted by hand, stale, or to be replaced
            } else {
                let why = if rec
                    .as_ref()
                    .is_some_and(|r| *r.out == *out_rel && r.kind != Kind::Skipped)
                {
                    format!("{out_rel} was changed since the sync wrote it; not replaced (overwrite replaces it)")
                } else {
                    format!("{out_rel} exists and was not written by the sync; not replaced (overwrite replaces it)")
                };
                planned.push(Decided::new(
                    FileOutcome::Conflict,
                    i,
                    true,
                    None,
                    Some(why),
                ));
            }
        }
        if touched {
            if let Some(r) = rec {
                refreshed.push((f.rel.clone(), r));
            }
        }
    }
    let to_send: Vec<usize> = (0..todos.len())
        .filter(|&t| todos[t].fetch.is_none())
        .collect();
    plan.up_to_date = planned
        .iter()
        .filter(|e| e.outcome == FileOutcome::UpToDate)
        .count();
    plan.conflicts = planned
        .iter()
        .filter(|e| e.outcome == FileOutcome::Conflict)
        .count();
    plan.skipped += planned
        .iter()
        .filter(|e| e.outcome == FileOutcome::Skipped)
        .count();
    plan.to_compress = todos.len();
    plan.bytes_to_upload = to_send.iter().map(|&t| images[todos[t].file].size).sum();
    plan.requests = to_send.len().div_ceil(MAX_FILES_PER_REQUEST);
    plan.compressions_needed = to_send.len() as u64;
    plan.ai_credits_needed = if options.alt_text || options.seo_rename {
        to_send.len() as u64
    } else {
        0
    };

    // ---- credits -----------------------------------------------------------------------
    let usage = if plan.compressions_needed == 0 {
        None
    } else if sync.dry_run {
        client.usage(obs).ok()
    } else {
        Some(client.usage(obs)?)
    };
    let mut allowed = to_send.len();
    if let Some(u) = &usage {
        let (comp, ai) = credits_left(u);
        let plan_name = u
            .plan
            .as_deref()
            .map(|p| format!(" (plan {p})"))
            .unwrap_or_default();
        let mut cap = comp.unwrap_or(u64::MAX);
        let mut short = None;
        if let Some(c) = comp.filter(|&c| c < plan.compressions_needed) {
            short = Some(format!(
                "this sync needs {} compressions but the key has {c} left{plan_name}",
                plan.compressions_needed
            ));
        }
        if plan.ai_credits_needed > 0 {
            if let Some(a) = ai {
                cap = cap.min(a);
                if a < plan.ai_credits_needed && short.is_none() {
                    short = Some(format!(
                        "this sync needs {} AI credits but the key has {a} left{plan_name}",
                        plan.ai_credits_needed
                    ));
                }
            }
        }
        if let Some(msg) = short {
            if !sync.allow_partial && !sync.dry_run {
                on_event(SyncEvent::Planned {
                    plan: &plan,
                    usage: usage.as_ref(),
                });
                return Err(Error::new(ErrorKind::QuotaExceeded, format!("{msg}; nothing was uploaded (allow a partial run to send what the credits cover)")));
            }
            allowed = usize::try_from(cap)
                .unwrap_or(usize::MAX)
                .min(to_send.len());
        }
    }
    on_event(SyncEvent::Planned {
        plan: &plan,
        usage: usage.as_ref(),
    });
    report.plan = plan.clone();
    let mut tally = Tally {
        report: &mut report,
    };
    for d in planned {
        let f = &images[d.file];
        let output = d.has_output.then(|| map_output(&f.rel, options.format));
        let e = event(d.outcome, f, output.as_deref(), d.output_size, d.reason);
        tally.count(e, on_event);
    }
    if sync.dry_run {
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    // A caller may stop on seeing the plan: nothing has been sent yet.
    if !obs.poll(0, plan.bytes_to_upload) {
        return Err(Error::cancelled());
    }
    if !refreshed.is_empty() {
        let recs: Vec<(&str, &Rec)> = refreshed.iter().map(|(k, r)| (k.as_str(), r)).collect();
        manifest.append(&recs)?;
    }
    // Not covered by the credits: the tail of the sorted list, reported and left alone.
    let not_covered: HashSet<usize> = to_send[allowed..].iter().copied().collect();
    for &t in &to_send[allowed..] {
        let f = &images[todos[t].file];
        let mut e = event(
            FileOutcome::Skipped,
            f,
            Some(&todos[t].out_rel),
            None,
            Some("not done: the key's credits do not cover it".into()),
        );
        e.error = None;
        on_event(SyncEvent::File(&e));
        report.not_done += 1;
        report.events.push(e);
    }

    // ---- run ---------------------------------------------------------------------------
    let mut jobs: Vec<Job> = (0..todos.len())
        .filter(|&t| todos[t].fetch.is_some())
        .map(Job::Fetch)
        .collect();
    let sendable: Vec<usize> = to_send[..allowed].to_vec();
    jobs.extend(
        sendable
            .chunks(MAX_FILES_PER_REQUEST)
            .map(|c| Job::Compress(c.to_vec())),
    );
    let ctx = Ctx {
        client,
        options,
        sync,
        src: src.clone(),
        out: out.clone(),
        backup,
        in_place,
        images: &images,
        todos: &todos,
        cancel: CancelToken::new(),
        stop: AtomicBool::new(false),
        fp,
        uploads: Arc::default(),
    };
    let total_bytes: u64 = todos
        .iter()
        .enumerate()
        .filter(|(t, _)| !not_covered.contains(t))
        .map(|(_, t)| images[t.file].size)
        .sum();
    let mut finished = vec![false; todos.len()];
    let mut outcome: Result<()> = Ok(());
    if !jobs.is_empty() {
        let next = AtomicUsize::new(0);
        let workers = (client.config().concurrency.max(1) as usize).min(jobs.len());
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (ctx, jobs, next) = (&ctx, &jobs, &next);
                scope.spawn(move || worker(ctx, jobs, next, &tx));
            }
            drop(tx);
            let mut done_bytes = 0u64;
            let mut tally = Tally {
                report: &mut report,
            };
            loop {
                let msg = match rx.recv_timeout(TICK) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if outcome.is_ok() && !obs.poll(done_bytes, total_bytes) {
                            outcome = Err(Error::cancelled());
                            ctx.stop.store(true, Ordering::SeqCst);
                            ctx.cancel.cancel();
                        }
                        continue;
                    }
                };
                match msg {
                    Msg::Answered { results, ack } => {
                        tally.report.requests += 1;
                        let mut pending: Vec<(String, Rec)> = Vec::new();
                        for (t, r, ih) in &results {
                            let todo = &todos[*t];
                            let f = &images[todo.file];
                            match r {
                                Ok(info) => {
                                    tally.report.credits_spent += 1;
                                    let extra = Extra {
                                        name: Some(info.name.clone()),
                                        alt: info.alt_text.clone(),
                                        seo: info.seo_name.clone(),
                                        url: Some(info.url.clone()),
                                        exp: info.expires_unix,
                                    };
                                    pending.push((
                                        f.rel.clone(),
                                        Rec {
                                            isz: f.size,
                                            imt: f.mtime,
                                            ih: *ih,
                                            fp,
                                            out: todo.out_rel.as_str().into(),
                                            kind: Kind::Pending,
                                            osz: 0,
                                            omt: 0,
                                            oh: 0,
                                            extra: Some(Box::new(extra)),
                                        },
                                    ));
                                }
                                Err(e) => {
                                    finished[*t] = true;
                                    done_bytes += f.size;
                                    let mut ev = event(FileOutcome::Failed, f, None, None, None);
                                    ev.error = Some(e.clone());
                                    tally.count(ev, on_event);
                                }
                            }
                        }
                        let recs: Vec<(&str, &Rec)> =
                            pending.iter().map(|(k, r)| (k.as_str(), r)).collect();
                        let go = match manifest.append(&recs) {
                            Ok(()) => outcome.is_ok(),
                            Err(e) => {
                                if outcome.is_ok() {
                                    outcome = Err(e);
                                }
                                ctx.stop.store(true, Ordering::SeqCst);
                                false
                            }
                        };
                        let _ = ack.send(go);
                    }
                    Msg::Done { todo: t, result } => {
                        finished[t] = true;
                        let f = &images[todos[t].file];
                        done_bytes += f.size;
                        match result {
                            Ok(saved) => {
                                if let Err(e) = manifest.append(&[(f.rel.as_str(), &saved.rec)]) {
                                    if outcome.is_ok() {
                                        outcome = Err(e);
                                    }
                                    ctx.stop.store(true, Ordering::SeqCst);
                                }
                                let written = saved.rec.kind != Kind::Skipped;
                                if written {
                                    tally.report.bytes_in += f.size;
                                    tally.report.bytes_out += saved.rec.osz;
                                }
                                let mut ev = event(
                                    saved.outcome,
                                    f,
                                    written.then_some(&*saved.rec.out),
                                    written.then_some(saved.rec.osz),
                                    saved.reason,
                                );
                                ev.larger_than_input = saved.larger;
                                tally.count(ev, on_event);
                            }
                            Err(e) if e.kind() == ErrorKind::Cancelled => finished[t] = false,
                            Err(e) => {
                                if matches!(
                                    e.kind(),
                                    ErrorKind::Unauthorized
                                        | ErrorKind::Forbidden
                                        | ErrorKind::QuotaExceeded
                                ) {
                                    ctx.stop.store(true, Ordering::SeqCst); // the next requests would fail alike
                                }
                                let mut ev = event(FileOutcome::Failed, f, None, None, None);
                                ev.error = Some(e);
                                tally.count(ev, on_event);
                            }
                        }
                    }
                    Msg::JobDone { ack } => {
                        let _ = ack.send(outcome.is_ok());
                    }
                }
            }
        });
    }
    report.not_done += todos
        .iter()
        .enumerate()
        .filter(|(t, _)| !finished[*t] && !not_covered.contains(t))
        .count();

    // ---- compact -----------------------------------------------------------------------
    // Keep the records of inputs still present; a record of a removed input goes (its output
    // stays: a sync never deletes).
    let seen = |k: &str| images.binary_search_by(|f| f.rel.as_str().cmp(k)).is_ok();
    let keep = |k: &str| seen(k) || src.join(k).is_file();
    let compacted = if manifest.needs_compaction(keep) {
        manifest.compact(keep)
    } else {
        Ok(())
    };
    outcome?;
    compacted?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn worker(ctx: &Ctx, jobs: &[Job], next: &AtomicUsize, tx: &mpsc::Sender<Msg>) {
    loop {
        if ctx.stop.load(Ordering::SeqCst) {
            return;
        }
        let j = next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = jobs.get(j) else { return };
        match job {
            Job::Fetch(t) => {
                let todo = &ctx.todos[*t];
                let info = todo.fetch.clone().expect("fetch jobs carry their result");
                let ih = todo.ih.unwrap_or(0);
                let result = save_one(ctx, *t, &info, ih);
                if tx.send(Msg::Done { todo: *t, result }).is_err() {
                    return;
                }
            }
            Job::Compress(ts) => {
                if !compress_job(ctx, ts, tx) {
                    return;
                }
            }
        }
        let (ack, wait) = mpsc::sync_channel(1);
        if tx.send(Msg::JobDone { ack }).is_err() || !wait.recv().unwrap_or(false) {
            return;
        }
    }
}

/// One request: hash, compress, hand over the answer, then save each result. `false` to stop.
fn compress_job(ctx: &Ctx, ts: &[usize], tx: &mpsc::Sender<Msg>) -> bool {
    let mut sendable = Vec::new();
    for &t in ts {
        let path = ctx.src.join(&ctx.images[ctx.todos[t].file].rel);
        match manifest::hash_file(&path) {
            Ok(h) => sendable.push((t, h)),
            Err(e) => {
                if tx
                    .send(Msg::Done {
                        todo: t,
                        result: Err(e),
                    })
                    .is_err()
                {
                    return false;
                }
            }
        }
    }
    if sendable.is_empty() {
        return true;
    }
    let inputs: Vec<Input> = sendable
        .iter()
        .map(|&(t, _)| Input::Path(ctx.src.join(&ctx.images[ctx.todos[t].file].rel)))
        .collect();
    let Some(turn) = UploadGate::enter(&ctx.uploads, &ctx.stop) else {
        return false;
    };
    // The turn passes on once every byte of this request is sent (seen at the next progress
    // tick), not when the server answers.
    let mut turn = Some(turn);
    let mut obs = Observer::none()
        .with_cancel(ctx.cancel.clone())
        .with_progress(|p| {
            if p.total > 0 && p.done >= p.total {
                turn.take();
            }
            true
        });
    let answer = ctx.client.compress(&inputs, ctx.options, &mut obs);
    drop(obs);
    drop(turn);
    let results: Vec<(usize, Result<ImageInfo>, u128)> = match answer {
        Ok(batch) => sendable
            .iter()
            .zip(batch.items)
            .map(|(&(t, h), item)| (t, item.outcome, h))
            .collect(),
        Err(e) if e.kind() == ErrorKind::Cancelled => return false,
        Err(e) => {
            if matches!(
                e.kind(),
                ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::QuotaExceeded
            ) {
                ctx.stop.store(true, Ordering::SeqCst);
            }
            for &(t, _) in &sendable {
                if tx
                    .send(Msg::Done {
                        todo: t,
                        result: Err(e.clone()),
                    })
                    .is_err()
                {
                    return false;
                }
            }
            return true;
        }
    };
    let ok: Vec<(usize, ImageInfo, u128)> = results
        .iter()
        .filter_map(|(t, r, h)| r.as_ref().ok().map(|i| (*t, i.clone(), *h)))
        .collect();
    let (ack, wait) = mpsc::sync_channel(1);
    if tx.send(Msg::Answered { results, ack }).is_err() || !wait.recv().unwrap_or(false) {
        return false;
    }
    // A request's results are fetched over a few connections at once: one after another, each
    // download's round trip adds up (on a WAN link, more time than the upload of the request).
    // They are reported in input order once all are saved, so events keep the order of the plan.
    let go_on = AtomicBool::new(true);
    let slots: Vec<std::sync::Mutex<Option<_>>> =
        ok.iter().map(|_| std::sync::Mutex::new(None)).collect();
    crate::observe::each_on_threads(ok.len(), FETCHES_PER_REQUEST, |i| {
        // Once the sync stops, the results not yet fetched are left for a rerun.
        if ctx.stop.load(Ordering::SeqCst) {
            go_on.store(false, Ordering::SeqCst);
            return;
        }
        let (t, info, h) = &ok[i];
        let result = save_one(ctx, *t, info, *h);
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    });
    for ((t, _, _), slot) in ok.iter().zip(slots) {
        if let Some(result) = slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            if tx.send(Msg::Done { todo: *t, result }).is_err() {
                return false;
            }
        }
    }
    go_on.load(Ordering::SeqCst)
}

/// A fixed temporary name beside `dest`, so a rerun after a crash finds and replaces it.
fn temp_for(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.flx-sync-tmp"))
}

/// Writes `dest` atomically from `fill`, giving it `mtime` and `perms` when asked.
fn write_file(
    dest: &Path,
    mtime: Option<SystemTime>,
    perms: Option<std::fs::Permissions>,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("cannot create the folder {}", parent.display()), &e))?;
    }
    let tmp = temp_for(dest);
    let _ = std::fs::remove_file(&tmp); // left by a crash
                                        // Replacing a file keeps its permissions unless told otherwise.
    let perms = perms.or_else(|| {
        std::fs::metadata(dest)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions())
    });
    crate::download::write_temp(&tmp, |file| {
        let io = |e: std::io::Error| Error::io(format!("writing {}", dest.display()), &e);
        fill(file).map_err(io)?;
        if let Some(p) = perms {
            file.set_permissions(p).map_err(io)?;
        }
        if let Some(t) = mtime {
            file.set_modified(t).map_err(io)?;
        }
        Ok(0)
    })?;
    // The sync engine replaces only outputs its manifest says it wrote.
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot move the result to {}", dest.display()), &e)
    })
}

fn copy_file(
    from: &Path,
    to: &Path,
    mtime: Option<SystemTime>,
    perms: Option<std::fs::Permissions>,
) -> Result<()> {
    let mut input = std::fs::File::open(from)
        .map_err(|e| Error::io(format!("cannot read {}", from.display()), &e))?;
    write_file(to, mtime, perms, |f| {
        std::io::copy(&mut input, f).map(|_| ())
    })
}

/// Downloads one result and writes what the options say (the result, the original, or
/// nothing), backing up an original first when it is replaced in place.
fn save_one(ctx: &Ctx, t: usize, info: &ImageInfo, ih: u128) -> Result<Saved> {
    let todo = &ctx.todos[t];
    let f = &ctx.images[todo.file];
    let in_abs = ctx.src.join(&f.rel);
    let out_abs = ctx.out.join(&todo.out_rel);
    let same_path = ctx.in_place && todo.out_rel == f.rel;
    let mut obs = Observer::none().with_cancel(ctx.cancel.clone());
    let bytes = ctx.client.fetch(info, &mut obs)?;
    let in_meta = std::fs::metadata(&in_abs)
        .map_err(|e| Error::io(format!("cannot read {}", in_abs.display()), &e))?;
    let mtime = if ctx.sync.preserve_mtime {
        in_meta.modified().ok()
    } else {
        None
    };
    let (isz, imt) = todo.orig.unwrap_or((f.size, f.mtime));
    let same_format = input_format(&f.rel) == Some(ctx.options.format);
    let not_smaller = bytes.len() as u64 >= isz;
    let extra = Extra {
        name: Some(info.name.clone()),
        alt: info.alt_text.clone(),
        seo: info.seo_name.clone(),
        url: None,
        exp: None,
    };
    let extra = (extra.name.as_deref() != todo.out_rel.rsplit('/').next()
        || extra.alt.is_some()
        || extra.seo.is_some())
    .then(|| Box::new(extra));
    let mut rec = Rec {
        isz,
        imt,
        ih,
        fp: ctx.fp,
        out: todo.out_rel.as_str().into(),
        kind: Kind::Compressed,
        osz: 0,
        omt: 0,
        oh: 0,
        extra,
    };
    if same_path
        && in_meta.len() == bytes.len() as u64
        && manifest::hash_file(&in_abs).is_ok_and(|h| h == manifest::hash_bytes(&bytes))
    {
        // In place, replaced by an earlier run that was stopped before recording it.
        (rec.osz, rec.omt, rec.oh) = (
            in_meta.len(),
            walk::mtime_ns(&in_meta),
            manifest::hash_bytes(&bytes),
        );
        return Ok(Saved {
            larger: rec.osz > isz,
            rec,
            outcome: FileOutcome::Compressed,
            reason: None,
        });
    }
    let mut reason = None;
    let mut outcome = FileOutcome::Compressed;
    if same_format && not_smaller {
        match ctx.sync.if_larger {
            IfLarger::Original => {
                rec.kind = Kind::Original;
                outcome = FileOutcome::KeptOriginal;
                reason = Some(format!(
                    "the result ({} bytes) was not smaller than the original ({} bytes)",
                    bytes.len(),
                    isz
                ));
                if !same_path {
                    copy_file(&in_abs, &out_abs, mtime, None)?;
                }
                let m = std::fs::metadata(&out_abs)
                    .map_err(|e| Error::io(format!("cannot read {}", out_abs.display()), &e))?;
                (rec.osz, rec.omt, rec.oh) = (m.len(), walk::mtime_ns(&m), ih);
                return Ok(Saved {
                    rec,
                    outcome,
                    larger: false,
                    reason,
                });
            }
            IfLarger::Skip => {
                rec.kind = Kind::Skipped;
                reason = Some(format!("the result ({} bytes) was not smaller than the original ({} bytes); nothing written", bytes.len(), isz));
                return Ok(Saved {
                    rec,
                    outcome: FileOutcome::Skipped,
                    larger: false,
                    reason,
                });
            }
            IfLarger::Write => {}
        }
    }
    let perms = if same_path {
        let backup = ctx
            .backup
            .as_ref()
            .expect("in place has a backup folder")
            .join(&f.rel);
        match stat(&backup) {
            Some(_) if manifest::hash_file(&backup).is_ok_and(|h| h == ih) => {} // saved by an earlier, interrupted run
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("the backup {} already exists with other content; the original was not replaced", backup.display()),
                ))
            }
            None => copy_file(&in_abs, &backup, in_meta.modified().ok(), Some(in_meta.permissions()))?,
        }
        Some(in_meta.permissions()) // a replaced original keeps its permissions
    } else {
        None
    };
    write_file(&out_abs, mtime, perms, |file| file.write_all(&bytes))?;
    let m = std::fs::metadata(&out_abs)
        .map_err(|e| Error::io(format!("cannot read {}", out_abs.display()), &e))?;
    (rec.osz, rec.omt, rec.oh) = (m.len(), walk::mtime_ns(&m), manifest::hash_bytes(&bytes));
    Ok(Saved {
        larger: rec.osz > isz,
        rec,
        outcome,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_mirror_the_input_path_with_the_format_extension() {
        assert_eq!(map_output("a/b/cat.jpeg", Format::Webp), "a/b/cat.webp");
        assert_eq!(map_output("cat.tar.png", Format::Avif), "cat.tar.avif");
        assert_eq!(map_output("x/.png", Format::Jpg), "x/.png.jpg");
        assert_eq!(input_format("a/B.JPEG"), Some(Format::Jpg));
        assert_eq!(input_format("a/b.gif"), None);
    }
}
