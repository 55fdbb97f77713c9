//! `flx watch`: sync once, then watch the tree and sync again when files arrive.
//!
//! A file is picked up once its size has stayed the same for `--settle-ms` (a copy in progress
//! is left for later); what arrives within `--batch-ms` goes into one sync (whose requests hold
//! at most 20 files). When the credits run out, watching pauses, polls the usage with a growing
//! delay, and carries on when credits are back. SIGINT, SIGTERM or SIGHUP end it.

use crate::args::{Global, WatchArgs};
use crate::exit::{self, Failure};
use crate::output::Reporter;
use crate::sync::{output_dir, run_once, sync_options, totals};
use fluximage::{CancelToken, Client, Observer};
use notify::{RecursiveMode, Watcher};
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);
/// First and longest wait between two usage polls while paused for credits.
const PAUSE_FIRST: Duration = Duration::from_secs(5);
const PAUSE_MAX: Duration = Duration::from_secs(300);

/// A path that changed, and since when its size has been what it is.
struct Pending {
    size: Option<u64>,
    since: Instant,
}

pub fn run(args: &WatchArgs, global: &Global, cancel: &CancelToken) -> Result<u8, Failure> {
    let out = output_dir(&args.src, args.output.as_deref(), &args.sync)?;
    let options = args.api.to_options();
    options
        .validate()
        .map_err(|e| Failure::config(e.to_string()))?;
    let mut sync = sync_options(&args.sync);
    // Watching does what the credits allow, then pauses until they come back.
    sync.allow_partial = true;
    let client = crate::config::client(global)?;
    let rep = RefCell::new(Reporter::new(global, "watch"));
    let settle = Duration::from_millis(args.settle_ms);
    let batch = Duration::from_millis(args.batch_ms);

    // Watch before the first sync, so nothing written during it is missed.
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    })
    .map_err(|e| Failure::config(format!("cannot watch {}: {e}", args.src.display())))?;
    watcher
        .watch(&args.src, RecursiveMode::Recursive)
        .map_err(|e| Failure::config(format!("cannot watch {}: {e}", args.src.display())))?;
    let ignored: Vec<PathBuf> = [Some(&out), args.sync.backup.as_ref()]
        .into_iter()
        .flatten()
        .filter(|p| **p != args.src)
        .filter_map(|p| p.canonicalize().ok().or_else(|| Some(p.clone())))
        .collect();

    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    let mut batch_start: Option<Instant> = None;
    let mut paused: Option<(Instant, Duration)> = None;
    let mut first = true;
    let mut last_totals = json!({});
    let code = loop {
        if let Some(sig) = crate::signals::exit_code() {
            break sig;
        }
        let now = Instant::now();
        let due = if first {
            true
        } else if let Some((at, _)) = paused {
            now >= at && credits_back(&client, cancel)
        } else {
            // Re-measure what changed; a file whose size moved starts its wait again.
            for (p, st) in pending.iter_mut() {
                let size = std::fs::metadata(p).ok().map(|m| m.len());
                if size != st.size {
                    *st = Pending { size, since: now };
                }
            }
            let settled = pending
                .values()
                .filter(|st| now.duration_since(st.since) >= settle)
                .count();
            settled > 0
                && batch_start.is_some_and(|b| {
                    now.duration_since(b) >= batch || settled >= fluximage::MAX_FILES_PER_REQUEST
                })
        };
        if let (false, Some((at, wait))) = (due, paused) {
            if now >= at {
                let next = (wait * 2).min(PAUSE_MAX);
                rep.borrow().warn(&format!(
                    "still no credits; checking again in {} s",
                    next.as_secs()
                ));
                paused = Some((now + next, next));
            }
        }
        if due {
            // Files still being written wait for the next round.
            let mut this_sync = sync.clone();
            for (p, st) in &pending {
                if now.duration_since(st.since) < settle {
                    if let Ok(rel) = p.strip_prefix(&args.src) {
                        this_sync.exclude.push(glob_literal(rel));
                    }
                }
            }
            pending.retain(|_, st| now.duration_since(st.since) < settle);
            batch_start = if pending.is_empty() { None } else { Some(now) };
            let result = run_once(
                &client, &args.src, &out, &options, &this_sync, cancel, &rep, first,
            );
            if first {
                rep.borrow()
                    .warn(&format!("watching {} (Ctrl-C stops)", args.src.display()));
            }
            match result {
                Ok(report) => {
                    last_totals = totals(&report, false);
                    if report.not_done > 0 {
                        paused = Some(pause(
                            &rep,
                            &format!("{} file(s) wait for credits", report.not_done),
                        ));
                    } else {
                        paused = None;
                    }
                }
                Err(f) if crate::signals::exit_code().is_some() => {
                    break crate::signals::exit_code().unwrap_or(f.code)
                }
                Err(f) if f.code == exit::NO_CREDITS => paused = Some(pause(&rep, &f.message)),
                Err(f) if f.code == exit::USAGE => return Ok(rep.into_inner().fail(f)),
                Err(f) => {
                    // A network or server failure: try again later, like a pause.
                    paused = Some(pause(&rep, &f.message));
                }
            }
            first = false;
        }
        match rx.recv_timeout(TICK) {
            Ok(Ok(event)) => {
                if matches!(
                    event.kind,
                    notify::EventKind::Remove(_) | notify::EventKind::Access(_)
                ) {
                    continue;
                }
                for p in event.paths {
                    if relevant(&p, &args.src, &ignored, args.sync.hidden) {
                        let size = std::fs::metadata(&p).ok().map(|m| m.len());
                        pending.insert(
                            p,
                            Pending {
                                size,
                                since: Instant::now(),
                            },
                        );
                        batch_start.get_or_insert_with(Instant::now);
                    }
                }
            }
            Ok(Err(e)) => rep.borrow().warn(&format!("watch: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(rep.into_inner().fail(Failure {
                    code: exit::SOME_FAILED,
                    message: "the folder watch ended".into(),
                }));
            }
        }
    };
    drop(watcher);
    let mut rep = rep.into_inner();
    Ok(rep.finish(code, code >= 128, last_totals))
}

fn pause(rep: &RefCell<Reporter>, why: &str) -> (Instant, Duration) {
    rep.borrow().warn(&format!(
        "paused: {why}; checking the credits again in {} s",
        PAUSE_FIRST.as_secs()
    ));
    (Instant::now() + PAUSE_FIRST, PAUSE_FIRST)
}

/// Whether the key can compress again (one usage request).
fn credits_back(client: &Client, cancel: &CancelToken) -> bool {
    match client.usage(&mut Observer::none().with_cancel(cancel.clone())) {
        Ok(u) => u.can_compress != Some(false) && crate::credits::compressions_left(&u) != Some(0),
        Err(_) => false,
    }
}

/// An image (or a folder, which may hold images) inside SRC, not hidden, not in OUT or the
/// backup folder.
fn relevant(p: &Path, src: &Path, ignored: &[PathBuf], hidden: bool) -> bool {
    let canon = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if ignored
        .iter()
        .any(|i| canon.starts_with(i) || p.starts_with(i))
    {
        return false;
    }
    let rel = p
        .strip_prefix(src)
        .or_else(|_| canon.strip_prefix(src.canonicalize().unwrap_or_default()))
        .unwrap_or(p);
    if !hidden
        && rel
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    {
        return false;
    }
    p.is_dir() || crate::files::is_image(p)
}

/// A glob that matches exactly `rel` (special characters in brackets).
fn glob_literal(rel: &Path) -> String {
    let s = rel.to_string_lossy().replace('\\', "/");
    s.chars()
        .map(|c| {
            if "*?[]{}!".contains(c) {
                format!("[{c}]")
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_globs_escape_specials() {
        assert_eq!(glob_literal(Path::new("a/b c.jpg")), "a/b c.jpg");
        assert_eq!(glob_literal(Path::new("x[1]*.png")), "x[[]1[]][*].png");
    }
}
