//! Benchmark figures of the folder sync (issue 14), printed as JSON lines:
//!
//! - `sync_rerun`: an up-to-date rerun of a 10,000-file tree (wall time, requests: 0);
//! - `sync_plan`: peak memory of planning (dry run) a 20,000-file tree, with and without a
//!   manifest of all of it.
//!
//! Run with `cargo run --release --example sync_bench [-- --files N --plan-files M]`. It starts
//! the emulator in pass-through mode (no image encoding) on loopback, builds the trees in a
//! temporary folder (removed at the end), and measures each figure in a fresh child process,
//! so that the peak RSS (`VmHWM`) is the sync's and not the tree builder's.

use fluximage::{Client, CompressOptions, Config, Observer, SyncOptions};
use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A valid 1×1 PNG: the files' content does not matter to a pass-through server.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE, 0, 0, 0, 12, 0x49, 0x44, 0x41, 0x54,
    0x08, 0xD7, 0x63, 0xF8, 0xCF, 0xC0, 0, 0, 0x03, 0x01, 0x01, 0, 0x18, 0xDD, 0x8D, 0xB0, 0, 0, 0,
    0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `n` files in folders of 100, each a little different so no two have the same bytes.
fn make_tree(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let mut bytes = PNG.to_vec();
        bytes.extend_from_slice(format!("{i:08}").as_bytes()); // after IEND: ignored by decoders
        std::fs::write(dir.join(format!("image-{i:05}.png")), bytes).unwrap();
    }
}

fn client(base: &str) -> Client {
    Client::new(
        Some(builtin_key("agency")),
        Config {
            base_url: base.to_string(),
            concurrency: 2,
            ..Config::default()
        },
    )
    .unwrap()
}

/// In the child: one sync, then a JSON line of what it cost.
fn child(mode: &str, src: &Path, out: &Path, base: &str) {
    let client = client(base);
    let sync = SyncOptions {
        dry_run: mode == "plan",
        ..SyncOptions::default()
    };
    let rss_before = status_kb("VmRSS:");
    let start = Instant::now();
    let report = client
        .sync(
            src,
            out,
            &CompressOptions::default(),
            &sync,
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"files\":{},\"up_to_date\":{},\"to_compress\":{},\"requests\":{},\"wall_ms\":{ms:.1},\"rss_before_kb\":{rss_before},\"peak_rss_kb\":{}}}",
        report.plan.files,
        report.up_to_date,
        report.plan.to_compress,
        report.requests,
        status_kb("VmHWM:")
    );
}

fn run_child(mode: &str, src: &Path, out: &Path, base: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            mode,
            &src.display().to_string(),
            &out.display().to_string(),
            base,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2], Path::new(&args[3]), Path::new(&args[4]), &args[5]);
        return;
    }
    let files = arg(&args, "--files", 10_000);
    let plan_files = arg(&args, "--plan-files", 20_000);
    let emu = Emulator::start(EmulatorConfig {
        encode: fluximage_emulator::Encode::None,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let base = emu.base_url();
    let work: PathBuf = std::env::temp_dir().join(format!("flx-sync-bench-{}", std::process::id()));
    let (src, out, big, big_out) = (
        work.join("src"),
        work.join("out"),
        work.join("big"),
        work.join("big-out"),
    );
    make_tree(&src, files);
    make_tree(&big, plan_files);

    let start = Instant::now();
    let first = client(&base)
        .sync(
            &src,
            &out,
            &CompressOptions::default(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap();
    eprintln!(
        "first sync of {files} files: {} compressed in {:.1} s",
        first.compressed,
        start.elapsed().as_secs_f64()
    );
    println!(
        "{{\"figure\":\"sync_rerun\",\"result\":{}}}",
        run_child("run", &src, &out, &base)
    );
    println!(
        "{{\"figure\":\"sync_plan_no_manifest\",\"result\":{}}}",
        run_child("plan", &big, &big_out, &base)
    );
    client(&base)
        .sync(
            &big,
            &big_out,
            &CompressOptions::default(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap();
    println!(
        "{{\"figure\":\"sync_plan_with_manifest\",\"result\":{}}}",
        run_child("plan", &big, &big_out, &base)
    );
    let _ = std::fs::remove_dir_all(&work);
}
