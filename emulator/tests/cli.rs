//! The binary's options for test harnesses: `--ready-file`, `--key`, `--print-keys`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fluximage_emulator::builtin_key;

const FIXED: &str = "flx_live_0123456789abcdef0123456789abcdef01234567";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
}

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fluximage-emu-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts the binary (stdout discarded: the ready file is the only channel used here).
fn spawn(args: &[&str]) -> Child {
    bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the ready file, as a harness would, and parses it.
fn wait_ready(path: &Path, child: &mut Child) -> serde_json::Value {
    let t = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("ready file is not JSON ({e}): {text:?}"));
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the emulator exited ({s}) before it was ready");
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no ready file");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the emulator did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ready_file_names_every_origin_and_is_removed_on_exit() {
    let dir = scratch("ready");
    let ready = dir.join("emu.json");
    let mut child = spawn(&["--control", "--ready-file", ready.to_str().unwrap()]);
    let doc = wait_ready(&ready, &mut child);
    assert_eq!(doc["v"], 1);
    assert_eq!(doc["control"], true);
    assert!(doc["ca_file"].is_null());
    assert_eq!(doc["pid"], child.id());
    let api = doc["api"].as_str().unwrap();
    assert!(api.starts_with("http://127.0.0.1:"), "{doc}");
    // The URLs work: the API answers, the control endpoints are on, the others listen.
    assert_eq!(usage(api, &agency()).status, 200);
    assert_eq!(get(&format!("{api}/__control/stats"), &[]).status, 200);
    for origin in ["downloads", "foreign"] {
        let url = doc[origin].as_str().unwrap();
        assert!(
            std::net::TcpStream::connect(host_port(url)).is_ok(),
            "{origin}: {url}"
        );
    }
    // Nothing else (no temporary file) was left in the folder.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("emu.json")]);
    assert!(stop(&mut child).success());
    assert!(!ready.exists(), "the ready file outlived the emulator");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ready_file_with_tls_gives_the_ca_file() {
    let dir = scratch("ready-tls");
    let ready = dir.join("ready.json");
    let tls = dir.join("tls");
    let mut child = spawn(&[
        "--tls",
        "--tls-dir",
        tls.to_str().unwrap(),
        "--ready-file",
        ready.to_str().unwrap(),
    ]);
    let doc = wait_ready(&ready, &mut child);
    assert_eq!(doc["control"], false);
    assert!(doc["api"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
    let ca = PathBuf::from(doc["ca_file"].as_str().unwrap());
    assert_eq!(ca, tls.join("ca.pem"));
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert!(stop(&mut child).success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ready_file_in_a_missing_folder_is_a_clear_error() {
    let dir = scratch("ready-missing");
    let ready = dir.join("no/such/dir/ready.json");
    let out = bin()
        .args(["--ready-file", ready.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ready file") && err.contains("no/such/dir"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fixed_keys_work_on_their_plan_and_are_printed() {
    let dir = scratch("key");
    let ready = dir.join("ready.json");
    let starter = "flx_live_ffffffffffffffffffffffffffffffffffffffff";
    let mut child = spawn(&[
        "--key",
        &format!("agency={FIXED}"),
        &format!("--key=starter={starter}"),
        "--ready-file",
        ready.to_str().unwrap(),
    ]);
    let api = wait_ready(&ready, &mut child)["api"]
        .as_str()
        .unwrap()
        .to_string();
    let u = usage(&api, &format!("Bearer {FIXED}"));
    assert_eq!(u.status, 200);
    assert_eq!(u.json()["plan"], "agency");
    assert_eq!(u.json()["compressor_used"], 0);
    assert_eq!(
        usage(&api, &format!("Bearer {starter}")).json()["plan"],
        "starter"
    );
    // The built-in keys still work beside them.
    assert_eq!(usage(&api, &agency()).status, 200);
    // A fixed key compresses (and is charged) like any other.
    let r = compress_with(
        &api,
        &format!("Bearer {FIXED}"),
        &Form::new().file("a.png", &photo_png(16, 16)).build(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        usage(&api, &format!("Bearer {FIXED}")).json()["compressor_used"],
        1
    );
    assert!(stop(&mut child).success());

    let out = bin()
        .args(["--key", &format!("agency={FIXED}"), "--print-keys"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("agency {FIXED}\n")), "{text}");
    assert!(
        text.contains(&format!("free {}\n", builtin_key("free"))),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_keys_are_refused_with_the_reason() {
    for (arg, needle) in [
        ("agency", "PLAN=KEY"),
        (
            "gold=flx_live_0123456789abcdef0123456789abcdef01234567",
            "unknown plan",
        ),
        ("pro=flx_live_123", "40 hexadecimal digits"),
        (
            "pro=sk_live_0123456789abcdef0123456789abcdef01234567",
            "40 hexadecimal digits",
        ),
    ] {
        let out = bin().args(["--key", arg]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{arg}: {err}");
    }
}

#[test]
fn the_library_takes_fixed_keys_too_and_refuses_bad_ones() {
    use fluximage_emulator::{Emulator, EmulatorConfig};
    let emu = start(EmulatorConfig {
        keys: vec![("pro".into(), FIXED.into())],
        ..EmulatorConfig::default()
    });
    assert_eq!(
        usage(&emu.base_url(), &format!("Bearer {FIXED}")).json()["plan"],
        "pro"
    );
    for (plan, key) in [("gold", FIXED), ("pro", "flx_live_12")] {
        let e = Emulator::start(EmulatorConfig {
            keys: vec![(plan.into(), key.into())],
            ..EmulatorConfig::default()
        })
        .err()
        .expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[test]
fn shaping_options_are_taken_and_checked() {
    let dir = scratch("shaping");
    let ready = dir.join("ready.json");
    let mut child = spawn(&[
        "--rtt-ms",
        "100",
        "--upload-rate",
        "8MB",
        "--download-rate=40Mbit",
        "--conn-upload-rate",
        "1MiB",
        "--conn-download-rate",
        "1GB/s",
        "--work-ms",
        "100",
        "--work-jitter-ms",
        "50",
        "--encoders",
        "1",
        "--encode",
        "none",
        "--ready-file",
        ready.to_str().unwrap(),
    ]);
    let api = wait_ready(&ready, &mut child)["api"]
        .as_str()
        .unwrap()
        .to_string();
    // A new connection: set-up and answer each cost the round trip.
    let t = Instant::now();
    assert_eq!(usage(&api, &agency()).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    // Two images, one encoder, 100 ± 50 ms each: at least 100 ms of work on top.
    let t = Instant::now();
    let r = compress(
        &api,
        Form::new().file("a.bin", b"abc").file("b.bin", b"def"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(stop(&mut child).success());
    let _ = std::fs::remove_dir_all(dir);

    for (flag, value, needle) in [
        ("--upload-rate", "fast", "not a rate"),
        ("--download-rate", "8 parsecs", "unknown unit"),
        ("--conn-upload-rate", "0", "not a positive rate"),
        ("--rtt-ms", "-5", "milliseconds"),
        ("--encoders", "0", "positive integer"),
    ] {
        let out = bin().args([flag, value]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(needle), "{err}");
    }
}
