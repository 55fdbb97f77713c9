//! `flx sync` and `flx watch` against a real emulator.

mod common;
use common::*;
use fluximage_emulator::{Fault, FaultMode, FaultPath};
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// One pixel, stored with zlib's best compression: no PNG encoder does better.
const FLAT_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xe0, 0x3a, 0x21, 0x07,
    0x00, 0x01, 0xd0, 0x00, 0xf1, 0x1a, 0xa1, 0x42, 0x58, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

fn tree(d: &Dir) {
    for (i, rel) in [
        "src/a/one.png",
        "src/a/two.jpg",
        "src/b/three.png",
        "src/b/deep/four.png",
        "src/five.png",
    ]
    .iter()
    .enumerate()
    {
        write_image(d.path(), rel, 120, 80, i as u32);
    }
    std::fs::write(d.join("src/notes.txt"), b"not an image").unwrap();
}

#[test]
fn sync_plans_mirrors_and_reruns_for_free() {
    let emu = emulator();
    let d = Dir::new("sync");
    tree(&d);

    let o = run(
        &emu,
        "starter",
        d.path(),
        &["sync", "src", "-o", "out", "--dry-run"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let first = stdout(&o).lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("6 files: 0 up to date, 5 to compress in 1 request, 1 skipped; needs 5 compressions, you have 200 left (starter)"),
        "plan line: {first}"
    );
    assert_eq!(compress_requests(&emu), 0, "--dry-run sends nothing");
    assert!(!d.join("out/a/one.webp").exists());

    let o = run(
        &emu,
        "starter",
        d.path(),
        &["sync", "src", "-o", "out", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let lines = jsonl(&o);
    assert_eq!(lines[0]["type"], "plan");
    assert_eq!(lines[0]["to_compress"], 5);
    assert_eq!(lines[0]["compressions_left"], 200);
    let done: Vec<Value> = lines
        .iter()
        .filter(|l| l["status"] == "compressed" || l["status"] == "kept_original")
        .cloned()
        .collect();
    assert_eq!(done.len(), 5, "{}", show(&o));
    for f in &done {
        let out = f["output"].as_str().unwrap();
        assert!(out.starts_with("out/"), "{out}");
        let len = std::fs::metadata(d.join(out))
            .unwrap_or_else(|e| panic!("{out}: {e}"))
            .len();
        assert_eq!(f["output_size"].as_u64(), Some(len));
        assert!(f["input"].as_str().unwrap().starts_with("src/"));
    }
    assert!(
        d.join("out/b/deep/four.webp").is_file(),
        "the tree is mirrored"
    );
    let s = summary(&lines);
    assert_eq!(
        (s["failed"].as_u64(), s["credits_spent"].as_u64()),
        (Some(0), Some(5))
    );
    let requests = compress_requests(&emu);

    let o = run(&emu, "starter", d.path(), &["sync", "src", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(
        stdout(&o).starts_with("6 files: 5 up to date, 0 to compress in 0 requests"),
        "{}",
        show(&o)
    );
    assert_eq!(compress_requests(&emu), requests, "a rerun sends nothing");

    // One changed file: only it is sent.
    write_image(d.path(), "src/a/one.png", 130, 80, 99);
    let o = run(
        &emu,
        "starter",
        d.path(),
        &["sync", "src", "-o", "out", "--jsonl"],
    );
    assert_eq!(
        files_with(&jsonl(&o), "compressed").len(),
        1,
        "{}",
        show(&o)
    );
    assert_eq!(charged(&emu, "starter"), 6);
}

#[test]
fn include_exclude_and_preserve_mtime() {
    let emu = emulator();
    let d = Dir::new("globs");
    tree(&d);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(d.join("src/a/one.png"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "sync",
            "src",
            "-o",
            "out",
            "--include",
            "*.png",
            "--exclude",
            "b/**",
            "--preserve-mtime",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let mut inputs: Vec<String> = files_with(&jsonl(&o), "compressed")
        .iter()
        .map(|f| f["input"].as_str().unwrap().to_string())
        .collect();
    inputs.sort();
    assert_eq!(inputs, ["src/a/one.png", "src/five.png"]);
    assert_eq!(
        std::fs::metadata(d.join("out/a/one.webp"))
            .unwrap()
            .modified()
            .unwrap(),
        old
    );
    assert!(!d.join("out/b").exists());
}

#[test]
fn sync_credits_conflicts_and_if_larger_original_skip_write() {
    let emu = emulator();
    let d = Dir::new("sync-credits");
    for i in 0..21 {
        write_image(d.path(), &format!("src/{i:02}.png"), 16, 16, i);
    }
    let o = run(&emu, "free", d.path(), &["sync", "src", "-o", "out"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert!(
        stderr(&o).contains("21") && stderr(&o).contains("20"),
        "names both numbers: {}",
        show(&o)
    );
    assert_eq!(compress_requests(&emu), 0);

    let o = run(
        &emu,
        "free",
        d.path(),
        &["sync", "src", "-o", "out", "--allow-partial", "--jsonl"],
    );
    assert_eq!(code(&o), 1, "not everything was done: {}", show(&o));
    let lines = jsonl(&o);
    assert_eq!(summary(&lines)["not_done"], 1, "{}", show(&o));
    assert_eq!(charged(&emu, "free"), 20);

    // A file in OUT that the sync did not write is a conflict (exit 1) until --overwrite.
    let d2 = Dir::new("sync-conflict");
    write_image(d2.path(), "src/a.png", 60, 40, 1);
    std::fs::create_dir_all(d2.join("out")).unwrap();
    std::fs::write(d2.join("out/a.webp"), b"someone else's file").unwrap();
    let o = run(
        &emu,
        "pro",
        d2.path(),
        &["sync", "src", "-o", "out", "--jsonl"],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert_eq!(files_with(&jsonl(&o), "conflict").len(), 1);
    assert_eq!(
        std::fs::read(d2.join("out/a.webp")).unwrap(),
        b"someone else's file"
    );
    let o = run(
        &emu,
        "pro",
        d2.path(),
        &["sync", "src", "-o", "out", "--overwrite"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        sniff(&std::fs::read(d2.join("out/a.webp")).unwrap()),
        "webp"
    );

    // A 1x1 PNG compressed as well as PNG goes: a PNG result cannot be smaller.
    let d3 = Dir::new("sync-larger");
    std::fs::create_dir_all(d3.join("src")).unwrap();
    std::fs::write(d3.join("src/flat.png"), FLAT_PNG).unwrap();
    let larger = |out: &str, extra: &[&str]| {
        let mut args = vec!["sync", "src", "-o", out, "--format", "png", "--jsonl"];
        args.extend_from_slice(extra);
        let o = run(&emu, "pro", d3.path(), &args);
        assert_eq!(code(&o), 0, "{}", show(&o));
        let lines = jsonl(&o);
        lines
            .into_iter()
            .find(|l| l["type"] == "file")
            .expect("a file event")
    };
    let f = larger("orig", &[]);
    assert_eq!(f["status"], "kept_original", "{f}");
    assert_eq!(std::fs::read(d3.join("orig/flat.png")).unwrap(), FLAT_PNG);
    let f = larger("skip", &["--if-larger", "skip"]);
    assert_eq!(f["status"], "skipped", "{f}");
    assert!(!d3.join("skip/flat.png").exists(), "skip writes nothing");
    let f = larger("write", &["--if-larger", "write"]);
    assert_eq!(f["status"], "compressed", "{f}");
    assert!(d3.join("write/flat.png").is_file());
}

#[test]
fn sync_in_place_keeps_backups() {
    let emu = emulator();
    let d = Dir::new("inplace");
    write_image(d.path(), "site/img/p.jpg", 200, 120, 3);
    let original = std::fs::read(d.join("site/img/p.jpg")).unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["sync", "site", "--in-place", "--format", "jpg"],
    );
    assert_eq!(code(&o), 2, "--in-place needs --backup: {}", show(&o));
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "sync",
            "site",
            "--in-place",
            "--backup",
            "bak",
            "--format",
            "jpg",
            "--quality",
            "50",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        std::fs::read(d.join("bak/img/p.jpg")).unwrap(),
        original,
        "the original is backed up"
    );
    assert!(std::fs::metadata(d.join("site/img/p.jpg")).unwrap().len() < original.len() as u64);
}

#[test]
fn sigint_during_sync_exits_130_and_the_rerun_pays_nothing_twice() {
    let emu = emulator();
    let d = Dir::new("sync-int");
    for i in 0..3 {
        write_image(d.path(), &format!("src/{i}.png"), 200, 120, i);
    }
    emu.inject(
        Fault::new(FaultMode::Trickle)
            .with_path(FaultPath::Download)
            .with_delay_ms(20_000),
    );
    let mut child = flx(&emu, "pro", d.path())
        .args(["sync", "src", "-o", "out", "--jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The engine downloads into memory, then writes: wait until the request was paid and the
    // (trickled) downloads are under way.
    assert!(
        wait_for(Duration::from_secs(10), || charged(&emu, "pro") == 3),
        "the compress was answered"
    );
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    assert!(
        temp_files(&d.join("out")).is_empty(),
        "no temporary file left"
    );
    assert_eq!(charged(&emu, "pro"), 3);
    let o = run(&emu, "pro", d.path(), &["sync", "src", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        charged(&emu, "pro"),
        3,
        "the paid results were fetched again, not paid again"
    );
    for i in 0..3 {
        assert!(d.join(&format!("out/{i}.webp")).is_file());
    }
}

/// Collects a child's stdout lines on a thread.
fn lines_of(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    lines
}

fn has_line(lines: &Arc<Mutex<Vec<String>>>, needle: &str) -> bool {
    lines.lock().unwrap().iter().any(|l| l.contains(needle))
}

#[test]
fn watch_picks_up_new_files_and_stops_on_sigint() {
    let emu = emulator();
    let d = Dir::new("watch");
    write_image(d.path(), "src/first.png", 80, 60, 1);
    let mut child = flx(&emu, "pro", d.path())
        .args([
            "watch",
            "src",
            "-o",
            "out",
            "--jsonl",
            "--settle-ms",
            "300",
            "--batch-ms",
            "300",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    assert!(
        wait_for(Duration::from_secs(10), || has_line(
            &lines,
            r#""input":"src/first.png""#
        )),
        "the first sync: {:?}",
        lines.lock().unwrap()
    );
    // Written while watch runs, in a new subfolder too.
    write_image(d.path(), "src/later/second.png", 80, 60, 2);
    write_image(d.path(), "src/third.jpg", 80, 60, 3);
    assert!(
        wait_for(Duration::from_secs(10), || has_line(
            &lines,
            "src/later/second.png"
        ) && has_line(
            &lines,
            "src/third.jpg"
        )),
        "new files picked up: {:?}",
        lines.lock().unwrap()
    );
    assert!(d.join("out/later/second.webp").is_file() && d.join("out/third.webp").is_file());
    let sent = Instant::now();
    signal(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(100));
    let all = lines.lock().unwrap().clone();
    let last: Value = serde_json::from_str(all.last().unwrap()).unwrap();
    assert_eq!(
        (last["type"].as_str(), last["interrupted"].as_bool()),
        (Some("summary"), Some(true)),
        "{all:?}"
    );
    assert_eq!(charged(&emu, "pro"), 3, "each file paid once");
    let first_reports = all
        .iter()
        .filter(|l| l.contains(r#""input":"src/first.png""#))
        .count();
    assert_eq!(
        first_reports, 1,
        "later rounds do not list up-to-date files again: {all:?}"
    );
}

#[test]
fn watch_pauses_without_credits_and_carries_on() {
    let emu = emulator();
    let d = Dir::new("watch-402");
    for i in 0..21 {
        write_image(d.path(), &format!("src/{i:02}.png"), 16, 16, i);
    }
    let mut child = flx(&emu, "free", d.path())
        .args([
            "watch",
            "src",
            "-o",
            "out",
            "--jsonl",
            "--settle-ms",
            "200",
            "--batch-ms",
            "200",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut err = child.stderr.take().unwrap();
    let errs = Arc::new(Mutex::new(String::new()));
    let e2 = errs.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        e2.lock().unwrap().push_str(&s);
    });
    assert!(
        wait_for(Duration::from_secs(10), || lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(r#""status":"compressed""#))
            .count()
            == 20),
        "20 of 21 done: {:?}",
        lines.lock().unwrap()
    );
    // A new billing period: the credits come back, and watch carries on by itself.
    emu.reset();
    assert!(
        wait_for(Duration::from_secs(15), || d.join("out/20.webp").is_file()),
        "the last file after the pause: {:?}",
        lines.lock().unwrap()
    );
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(143));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        errs.lock().unwrap().contains("paused"),
        "says it paused: {}",
        errs.lock().unwrap()
    );
}

#[test]
fn hidden_files_and_symlinked_folders_on_request() {
    let emu = emulator();
    let d = Dir::new("hidden");
    write_image(d.path(), "src/seen.png", 40, 30, 1);
    write_image(d.path(), "src/.cache/hid.png", 40, 30, 2);
    write_image(d.path(), "elsewhere/linked.png", 40, 30, 3);
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("src/link")).unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["sync", "src", "-o", "plain", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let inputs = |o: &std::process::Output| {
        let mut v: Vec<String> = files_with(&jsonl(o), "compressed")
            .iter()
            .map(|f| f["input"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(inputs(&o), ["src/seen.png"]);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "sync",
            "src",
            "-o",
            "all",
            "--hidden",
            "--follow-symlinks",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        inputs(&o),
        ["src/.cache/hid.png", "src/link/linked.png", "src/seen.png"]
    );
}
