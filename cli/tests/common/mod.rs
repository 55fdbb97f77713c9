//! Helpers for the flx tests: the real binary, run against an emulator started in the test
//! process, on files generated in a fresh folder.
#![allow(dead_code)]

use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

/// A fresh folder, removed at the end of the test (best effort).
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        let p = std::env::temp_dir().join(format!(
            "flx-cli-{tag}-{}-{:08x}",
            std::process::id(),
            h.finish() as u32
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `flx ARGS` in `cwd`, with the emulator's address and the built-in key of `plan`.
pub fn flx(emu: &Emulator, plan: &str, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flx"));
    c.current_dir(cwd)
        .env("FLUXIMAGE_API_KEY", builtin_key(plan))
        .env("FLUXIMAGE_BASE_URL", emu.base_url())
        .env_remove("FLUXIMAGE_API_KEY_FILE")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null());
    c
}

pub fn run(emu: &Emulator, plan: &str, cwd: &Path, args: &[&str]) -> Output {
    flx(emu, plan, cwd).args(args).output().expect("flx runs")
}

/// Exit code, stdout and stderr of a run, for assertions that show all three when they fail.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON lines of `--jsonl` output, each checked to carry `"v": 1`.
pub fn jsonl(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", show(o)));
            assert_eq!(v["v"], 1, "schema version missing: {l}");
            v
        })
        .collect()
}

pub fn files_with(lines: &[Value], status: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "file" && l["status"] == status)
        .cloned()
        .collect()
}

pub fn summary(lines: &[Value]) -> Value {
    let last = lines.last().expect("at least one line").clone();
    assert_eq!(last["type"], "summary", "the last line is the summary");
    last
}

/// Compress requests the emulator received, and images it charged to `plan`'s key.
pub fn compress_requests(emu: &Emulator) -> u64 {
    emu.stats()["requests"]["compress"].as_u64().unwrap_or(0)
}

pub fn charged(emu: &Emulator, plan: &str) -> u64 {
    emu.stats()["credits"][builtin_key(plan)]["compress"]
        .as_u64()
        .unwrap_or(0)
}

/// A photo-like PNG (gradients and noise), so lossy formats shrink it.
pub fn photo_png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 24) as i32 - 12;
        let c = |v: u32| (v as i32 + n).clamp(0, 255) as u8;
        image::Rgb([
            c(x * 255 / w),
            c(y * 255 / h),
            c(((x + y) * 128 / (w + h)) + 64),
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Writes a photo PNG (or, for a `.jpg` name, a JPEG) at `dir/rel`, creating folders.
pub fn write_image(dir: &Path, rel: &str, w: u32, h: u32, seed: u32) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let png = photo_png(w, h, seed);
    if rel.ends_with(".jpg") {
        let img = image::load_from_memory(&png).unwrap();
        img.save_with_format(&p, image::ImageFormat::Jpeg).unwrap();
    } else {
        std::fs::write(&p, png).unwrap();
    }
    p
}

/// The format the bytes really are.
pub fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "webp"
    } else if bytes.len() > 12 && &bytes[4..8] == b"ftyp" {
        "avif"
    } else {
        "unknown"
    }
}

/// Every file below `dir` whose name marks a temporary download.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".flx-tmp")
                || p.to_string_lossy().contains(".flx-probe")
            {
                out.push(p);
            }
        }
    }
    out
}

/// Sends `sig` (INT, TERM, HUP) to the child with kill(1).
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(ok.success(), "kill -{sig} failed");
}

/// Waits up to `limit` for `cond`, polling every 20 ms.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Waits up to `limit` for the child to end; kills it and fails the test otherwise.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("flx did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
