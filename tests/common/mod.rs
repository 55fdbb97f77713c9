//! Shared helpers for the integration tests: an emulator per test, clients, generated images.
#![allow(dead_code)]

use fluximage::{Client, Config, RetryPolicy};
use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const AGENCY: &str = "agency";

pub fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default())
}

pub fn emulator_with(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).expect("emulator starts")
}

/// A client of `plan` against `emu`, with short backoff so retry tests stay quick.
pub fn client(emu: &Emulator, plan: &str) -> Client {
    client_with(emu, plan, |_| {})
}

pub fn client_with(emu: &Emulator, plan: &str, tweak: impl FnOnce(&mut Config)) -> Client {
    let mut cfg = Config {
        base_url: emu.base_url(),
        ca_file: emu.ca_pem_path(),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        ..Config::default()
    };
    tweak(&mut cfg);
    Client::new(Some(builtin_key(plan)), cfg).expect("client")
}

/// A fresh temporary folder, removed by the test's end (best effort).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "flx-it-{tag}-{}-{:x}",
            std::process::id(),
            rand_u32()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish() as u32
}

/// A photo-like PNG: smooth gradients plus deterministic noise, so lossy formats shrink it.
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

pub fn write_photo(dir: &TempDir, name: &str, seed: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, photo_png(320, 200, seed)).unwrap();
    p
}

/// The format the bytes really are, from their magic numbers.
pub fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "webp"
    } else if bytes.len() > 12
        && &bytes[4..8] == b"ftyp"
        && (&bytes[8..12] == b"avif" || &bytes[8..12] == b"avis")
    {
        "avif"
    } else {
        "unknown"
    }
}

/// Credits the emulator charged to the built-in key of `plan`.
pub fn credits(emu: &Emulator, plan: &str) -> u64 {
    emu.stats()["credits"][builtin_key(plan)]["compress"]
        .as_u64()
        .unwrap_or(0)
}

pub fn stat(emu: &Emulator, section: &str, key: &str) -> u64 {
    emu.stats()[section][key].as_u64().unwrap_or(0)
}
