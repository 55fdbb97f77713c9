//! What flx prints: lines and a progress bar for people, `--json` / `--jsonl` for scripts.
//!
//! Per-file lines go to stdout, warnings and failures to stderr. The progress bar is drawn on
//! stderr only when stderr is a terminal and no machine format was asked for.

use crate::args::Global;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The version of the JSON and JSONL schema (documented in the README).
pub const SCHEMA: u64 = 1;

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Compressed and saved.
    Compressed,
    /// The result was larger; the original's bytes were kept (sync).
    KeptOriginal,
    /// Already done by an earlier run (sync).
    UpToDate,
    /// Not sent, on purpose (the reason says why).
    Skipped,
    /// A file that the run may not replace is in the way (sync).
    Conflict,
    /// Would be compressed (`--dry-run`).
    Planned,
    /// Failed (the error says why).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compressed => "compressed",
            Status::KeptOriginal => "kept_original",
            Status::UpToDate => "up_to_date",
            Status::Skipped => "skipped",
            Status::Conflict => "conflict",
            Status::Planned => "planned",
            Status::Failed => "failed",
        }
    }
}

/// One file's event, as printed.
#[derive(Clone, Debug)]
pub struct FileEvent {
    pub status: Status,
    pub input: String,
    pub output: Option<String>,
    pub input_size: u64,
    pub output_size: Option<u64>,
    pub reason: Option<String>,
    pub error: Option<fluximage::Error>,
    /// Extra fields from the server (format, width, height, alt_text, seo_name).
    pub extra: Map<String, Value>,
}

impl FileEvent {
    pub fn new(status: Status, input: String) -> FileEvent {
        FileEvent {
            status,
            input,
            output: None,
            input_size: 0,
            output_size: None,
            reason: None,
            error: None,
            extra: Map::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "v": SCHEMA, "type": "file", "status": self.status.as_str(),
            "input": self.input, "output": self.output,
            "input_size": self.input_size, "output_size": self.output_size,
        });
        let o = v.as_object_mut().expect("an object");
        if let Some(r) = &self.reason {
            o.insert("reason".into(), json!(r));
        }
        if let Some(e) = &self.error {
            o.insert("error".into(), error_json(e));
        }
        for (k, val) in &self.extra {
            o.insert(k.clone(), val.clone());
        }
        v
    }
}

/// An error as JSON: its stable kind name and number, the HTTP status, the message.
pub fn error_json(e: &fluximage::Error) -> Value {
    json!({"kind": e.kind().describe(), "code": e.kind() as u32, "http_status": e.http_status(), "message": e.message()})
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Human,
    Json,
    Jsonl,
}

/// Prints a run's plan, its file events and its summary in the chosen format.
pub struct Reporter {
    mode: Mode,
    quiet: bool,
    verbose: bool,
    command: &'static str,
    bar: Option<ProgressBar>,
    start: Instant,
    plan: Option<Value>,
    events: Vec<Value>,
    counts: [usize; 7],
    bytes_in: u64,
    bytes_out: u64,
}

impl Reporter {
    pub fn new(global: &Global, command: &'static str) -> Reporter {
        let mode = if global.json {
            Mode::Json
        } else if global.jsonl {
            Mode::Jsonl
        } else {
            Mode::Human
        };
        Reporter {
            mode,
            quiet: global.quiet,
            verbose: global.verbose,
            command,
            bar: None,
            start: Instant::now(),
            plan: None,
            events: Vec::new(),
            counts: [0; 7],
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Prints `text` on stdout, above the progress bar.
    fn out(&self, text: &str) {
        let print = || {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{text}");
            let _ = o.flush();
        };
        match &self.bar {
            Some(b) => b.suspend(print),
            None => print(),
        }
    }

    /// A warning or error for people, on stderr (also in JSON modes; `--quiet` keeps errors only).
    pub fn warn(&self, text: &str) {
        if self.quiet {
            return;
        }
        self.err(text);
    }

    /// An error line on stderr, always shown.
    pub fn err(&self, text: &str) {
        let print = || eprintln!("flx: {text}");
        match &self.bar {
            Some(b) => b.suspend(print),
            None => print(),
        }
    }

    /// A note shown with `--verbose` only.
    pub fn note(&self, text: &str) {
        if self.verbose && self.mode == Mode::Human {
            self.out(text);
        }
    }

    /// The plan of the run: a line for people (always shown unless `--quiet`), a `plan` object
    /// for scripts.
    pub fn plan(&mut self, line: &str, mut value: Value) {
        if let Some(o) = value.as_object_mut() {
            o.insert("v".into(), json!(SCHEMA));
            o.insert("type".into(), json!("plan"));
        }
        match self.mode {
            Mode::Human if !self.quiet => self.out(line),
            Mode::Jsonl => self.json_line(&value),
            _ => {}
        }
        self.plan = Some(value);
    }

    fn json_line(&self, v: &Value) {
        self.out(&v.to_string());
    }

    /// Starts a progress bar of `total` bytes and `files` files (a terminal only).
    pub fn start_progress(&mut self, files: usize, total: u64) {
        if self.mode != Mode::Human || self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar =
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("0/{files} files"));
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    /// Moves the bar to `bytes` and says how many files are done.
    pub fn progress(&self, bytes: u64, files_done: usize, files: usize) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
            b.set_message(format!("{files_done}/{files} files"));
        }
    }

    /// Reports one file.
    pub fn file(&mut self, ev: FileEvent) {
        self.counts[ev.status as usize] += 1;
        if matches!(ev.status, Status::Compressed | Status::KeptOriginal) {
            self.bytes_in += ev.input_size;
            self.bytes_out += ev.output_size.unwrap_or(ev.input_size);
        }
        match self.mode {
            Mode::Jsonl => self.json_line(&ev.to_json()),
            Mode::Json => self.events.push(ev.to_json()),
            Mode::Human => self.human_file(&ev),
        }
    }

    fn human_file(&self, ev: &FileEvent) {
        let out = ev.output.as_deref().unwrap_or("-");
        let why = ev
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        match ev.status {
            Status::Failed => {
                let e = ev
                    .error
                    .as_ref()
                    .map(|e| e.to_string())
                    .or_else(|| ev.reason.clone())
                    .unwrap_or_default();
                self.err(&format!("failed {}: {e}", ev.input));
            }
            Status::Conflict => self.err(&format!("conflict {} -> {out}{why}", ev.input)),
            Status::Compressed | Status::KeptOriginal if !self.quiet => {
                let size = ev.output_size.unwrap_or(0);
                let kept = if ev.status == Status::KeptOriginal {
                    " (result was not smaller: original kept)"
                } else if size > ev.input_size {
                    " (larger than the original)"
                } else {
                    ""
                };
                self.out(&format!(
                    "{} -> {out}  {} -> {} ({}){kept}",
                    ev.input,
                    HumanBytes(ev.input_size),
                    HumanBytes(size),
                    percent(ev.input_size, size)
                ));
            }
            Status::Planned if !self.quiet => {
                self.out(&format!("would compress {} -> {out}", ev.input))
            }
            Status::Skipped if self.verbose => self.out(&format!("skipped {}{why}", ev.input)),
            Status::UpToDate => self.note(&format!("up to date {} -> {out}", ev.input)),
            _ => {}
        }
    }

    /// Counts `n` files as planned when no per-file event said so (a dry run of the sync engine
    /// reports its plan only).
    pub fn planned_at_least(&mut self, n: usize) {
        let c = &mut self.counts[Status::Planned as usize];
        *c = (*c).max(n);
    }

    /// Counts of the run so far: (compressed or kept, failed + conflicts).
    pub fn done_and_failed(&self) -> (usize, usize) {
        (
            self.counts[Status::Compressed as usize] + self.counts[Status::KeptOriginal as usize],
            self.counts[Status::Failed as usize] + self.counts[Status::Conflict as usize],
        )
    }

    /// Ends a run that stopped early: the error on stderr and, for scripts, a summary line that
    /// carries it. Returns the exit code (a signal's, when one stopped the run).
    pub fn fail(&mut self, f: crate::exit::Failure) -> u8 {
        let sig = crate::signals::exit_code();
        if sig.is_none() {
            self.err(&f.message);
        }
        let code = sig.unwrap_or(f.code);
        if self.mode == Mode::Human {
            if let Some(b) = self.bar.take() {
                b.finish_and_clear();
            }
            return code;
        }
        self.finish(code, sig.is_some(), json!({"error": f.message}))
    }

    /// Prints the summary (and, with `--json`, the whole document) and returns the exit code.
    pub fn finish(&mut self, code: u8, interrupted: bool, extra: Value) -> u8 {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let c = |s: Status| self.counts[s as usize];
        let elapsed = self.start.elapsed();
        let saved = self.bytes_in.saturating_sub(self.bytes_out);
        let mut summary = json!({
            "v": SCHEMA, "type": "summary", "command": self.command,
            "compressed": c(Status::Compressed), "kept_original": c(Status::KeptOriginal),
            "up_to_date": c(Status::UpToDate), "skipped": c(Status::Skipped),
            "conflicts": c(Status::Conflict), "planned": c(Status::Planned), "failed": c(Status::Failed),
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out, "bytes_saved": saved,
            "elapsed_ms": elapsed.as_millis() as u64, "interrupted": interrupted, "exit_code": code,
        });
        if let (Some(o), Value::Object(more)) = (summary.as_object_mut(), extra) {
            o.extend(more);
        }
        match self.mode {
            Mode::Jsonl => self.json_line(&summary),
            Mode::Json => {
                let mut doc = json!({"v": SCHEMA, "command": self.command, "files": self.events, "summary": summary});
                if let Some(p) = &self.plan {
                    doc["plan"] = p.clone();
                }
                self.out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            Mode::Human => {
                if self.quiet && code == 0 {
                    return code;
                }
                let mut parts = Vec::new();
                if c(Status::Compressed) > 0 {
                    parts.push(format!("{} compressed", c(Status::Compressed)));
                }
                for (s, label) in [
                    (Status::KeptOriginal, "kept original"),
                    (Status::UpToDate, "up to date"),
                    (Status::Skipped, "skipped"),
                    (Status::Planned, "to compress"),
                    (Status::Conflict, "conflicts"),
                    (Status::Failed, "failed"),
                ] {
                    if c(s) > 0 {
                        parts.push(format!("{} {label}", c(s)));
                    }
                }
                let mut line = if parts.is_empty() {
                    "nothing to do".to_string()
                } else {
                    parts.join(", ")
                };
                if self.bytes_in > 0 {
                    line += &format!(
                        "; {} -> {}, saved {} ({})",
                        HumanBytes(self.bytes_in),
                        HumanBytes(self.bytes_out),
                        HumanBytes(saved),
                        percent(self.bytes_in, self.bytes_out)
                    );
                }
                line += &format!(" in {:.1} s", elapsed.as_secs_f64());
                if interrupted {
                    line += " (interrupted)";
                }
                if self.quiet {
                    self.err(&line)
                } else {
                    self.out(&line)
                }
            }
        }
        code
    }
}

/// The size change as a signed percentage, e.g. `-81%`.
pub fn percent(before: u64, after: u64) -> String {
    if before == 0 {
        return "n/a".into();
    }
    let p = (after as f64 - before as f64) * 100.0 / before as f64;
    format!("{p:+.0}%")
}

/// A count with thousands separators (`1,204`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn percent_is_signed() {
        assert_eq!(percent(200, 50), "-75%");
        assert_eq!(percent(100, 120), "+20%");
        assert_eq!(percent(0, 5), "n/a");
    }
}
