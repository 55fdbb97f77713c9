//! Every example in emulator/README.md works: its shell blocks run against the built binary
//! (with `curl` and `jq`, as a user would run them), its JSON blocks parse and document the
//! real fields. Its Rust block is a doctest (see `ReadmeExamples` in lib.rs).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use fluximage_emulator::{Emulator, EmulatorConfig};
use image::codecs::jpeg::JpegEncoder;

const README: &str = include_str!("../README.md");

/// `(language, code)` of every fenced block.
fn blocks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in README.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some("")) => out.push(current.take().unwrap()),
            (Some((_, code)), _) => {
                code.push_str(line);
                code.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block in the README");
    out
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fluximage-emu-readme-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The images the examples upload.
fn write_images(dir: &Path) {
    std::fs::write(dir.join("cat.png"), photo_png(320, 240)).unwrap();
    let mut jpg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpg, 85)
        .encode_image(&photo(400, 300))
        .unwrap();
    std::fs::write(dir.join("dog.jpg"), jpg).unwrap();
}

#[test]
fn the_shell_examples_run() {
    for tool in ["bash", "curl", "jq", "timeout"] {
        assert!(
            have(tool),
            "the README examples need {tool}; install it to run this test"
        );
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (i, (lang, code)) in blocks().into_iter().enumerate() {
        if lang != "sh" {
            continue;
        }
        // Installing builds a release binary of everything: too slow for a test, and what it
        // relies on (the [[bin]] target, mk/emulator.mk) is used by every other example.
        if code.contains("cargo install") {
            continue;
        }
        let dir = scratch(&format!("block{i}"));
        write_images(&dir);
        // Stop any emulator the block left behind, even when it fails half-way.
        let script =
            format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{code}");
        let out = Command::new("timeout")
            .args(["60", "bash", "-c", &script])
            .current_dir(&dir)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README example failed ({}):\n{code}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !dir.join("emu.json").exists(),
            "the example left its emulator running:\n{code}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        ran += 1;
    }
    assert!(ran >= 7, "only {ran} shell examples found");
}

#[test]
fn the_json_examples_parse_and_document_the_real_fields() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let real_stats = emu.stats();
    let mut seen_stats = false;
    let mut seen_ready = false;
    for (lang, code) in blocks() {
        if lang != "json" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&code)
            .unwrap_or_else(|e| panic!("README JSON does not parse ({e}):\n{code}"));
        if v.get("tls_handshakes").is_some() {
            assert_eq!(keys(&v), keys(&real_stats), "the documented stats");
            for group in ["requests", "connections", "authorization_seen"] {
                assert_eq!(keys(&v[group]), keys(&real_stats[group]), "stats.{group}");
            }
            // Every field has a line in the table under the example.
            for k in keys(&real_stats) {
                assert!(
                    README.contains(&format!("| `{k}` |")),
                    "stats field {k} undocumented"
                );
            }
            seen_stats = true;
        }
        if v.get("pid").is_some() {
            let dir = scratch("ready");
            let ready = dir.join("r.json");
            let mut child = Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
                .args(["--ready-file", ready.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let t = std::time::Instant::now();
            while !ready.exists() && t.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let real: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(keys(&v), keys(&real), "the documented ready file");
            let _ = std::fs::remove_dir_all(dir);
            seen_ready = true;
        }
    }
    assert!(
        seen_stats && seen_ready,
        "stats or ready-file example missing"
    );
}
