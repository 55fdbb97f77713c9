//! `flx compress`, `flx usage`, help, completions and the man page, against a real emulator.

mod common;
use common::*;
use fluximage_emulator::{Fault, FaultMode, FaultPath};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn help_lists_examples_environment_and_exit_codes() {
    let emu = emulator();
    let d = Dir::new("help");
    let o = run(&emu, "pro", d.path(), &["--help"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let text = stdout(&o);
    for needle in [
        "Examples:",
        "FLUXIMAGE_API_KEY_FILE",
        "FLUXIMAGE_BASE_URL",
        "Exit status:",
        "130",
        "143",
        "compress",
        "sync",
        "watch",
        "usage",
        "completions",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
    }
    let o = run(&emu, "pro", d.path(), &["compress", "--help"]);
    let text = stdout(&o);
    for flag in [
        "--format",
        "--quality",
        "--max-width",
        "--max-height",
        "--watermark",
        "--watermark-scale",
        "--watermark-opacity",
        "--watermark-position",
        "--alt-text",
        "--seo-rename",
        "--session-id",
        "--recursive",
        "--overwrite",
        "--skip-existing",
        "--dry-run",
        "--json",
        "--jsonl",
        "--quiet",
        "--verbose",
        "--ca-file",
        "--proxy",
        "--concurrency",
        "--retries",
        "--timeout",
    ] {
        assert!(text.contains(flag), "compress --help lacks {flag}:\n{text}");
    }
    let o = run(&emu, "pro", d.path(), &["sync", "--help"]);
    for flag in [
        "--include",
        "--exclude",
        "--dry-run",
        "--allow-partial",
        "--if-larger",
        "--in-place",
        "--backup",
        "--preserve-mtime",
    ] {
        assert!(stdout(&o).contains(flag), "sync --help lacks {flag}");
    }
    let o = run(&emu, "pro", d.path(), &["--version"]);
    assert!(stdout(&o).starts_with("flx "), "{}", show(&o));
    assert_eq!(compress_requests(&emu), 0);
}

#[test]
fn completions_and_man_page() {
    let emu = emulator();
    let d = Dir::new("compl");
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef flx"),
        ("fish", "complete -c flx"),
    ] {
        let o = run(&emu, "pro", d.path(), &["completions", shell]);
        assert_eq!(code(&o), 0, "{}", show(&o));
        let text = stdout(&o);
        assert!(
            text.contains(marker) && text.contains("skip-existing"),
            "{shell} completion:\n{}",
            &text[..text.len().min(400)]
        );
    }
    let o = run(&emu, "pro", d.path(), &["completions", "tcsh"]);
    assert_eq!(code(&o), 2, "an unknown shell is a usage error");
    let o = run(&emu, "pro", d.path(), &["man"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(".TH flx"), "roff man page");
}

#[test]
fn compress_jsonl_matches_the_files_on_disk() {
    let emu = emulator();
    let d = Dir::new("jsonl");
    for (i, name) in ["in/a.png", "in/b.png", "in/c.jpg"].iter().enumerate() {
        write_image(d.path(), name, 200, 120, i as u32);
    }
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let lines = jsonl(&o);
    let done = files_with(&lines, "compressed");
    assert_eq!(done.len(), 3, "{}", show(&o));
    for f in &done {
        let input = f["input"].as_str().unwrap();
        assert!(
            input.starts_with("in/"),
            "relative paths, not base names: {input}"
        );
        let out = f["output"].as_str().unwrap();
        let bytes = std::fs::read(d.join(out)).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(
            f["output_size"].as_u64(),
            Some(bytes.len() as u64),
            "output_size is the file's size"
        );
        assert_eq!(sniff(&bytes), "webp");
        assert_eq!(
            f["input_size"].as_u64(),
            Some(std::fs::metadata(d.join(input)).unwrap().len())
        );
        assert_eq!(f["format"], "webp");
        assert_eq!(f["width"], 200);
    }
    let s = summary(&lines);
    assert_eq!(
        (
            s["compressed"].as_u64(),
            s["failed"].as_u64(),
            s["exit_code"].as_u64()
        ),
        (Some(3), Some(0), Some(0))
    );
    let sum_in: u64 = done.iter().map(|f| f["input_size"].as_u64().unwrap()).sum();
    assert_eq!(s["bytes_in"].as_u64(), Some(sum_in));
    assert_eq!(charged(&emu, "pro"), 3);
    assert!(temp_files(&d.join("out")).is_empty());

    // --json: one document with the same content.
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out2", "--json"],
    );
    let doc: serde_json::Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}\n{}", show(&o)));
    assert_eq!(doc["v"], 1);
    assert_eq!(doc["files"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["summary"]["compressed"], 3);

    // People: one line per file with sizes, then the summary; -q prints nothing.
    let o = run(&emu, "pro", d.path(), &["compress", "in", "-o", "out3"]);
    let text = stdout(&o);
    assert!(
        text.contains("in/a.png -> out3/a.webp")
            && text.contains("3 compressed")
            && text.contains("saved"),
        "{text}"
    );
    assert!(
        o.stderr.is_empty(),
        "no progress bar on a pipe: {}",
        show(&o)
    );
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "-q", "in", "-o", "out4"],
    );
    assert_eq!(code(&o), 0);
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "-q on success prints nothing: {}",
        show(&o)
    );
}

#[test]
fn every_api_option_reaches_the_server() {
    let emu = emulator();
    let d = Dir::new("opts");
    write_image(d.path(), "in/big.png", 400, 300, 1);
    std::fs::write(d.join("wm.png"), photo_png(64, 32, 9)).unwrap();
    let o = run(
        &emu,
        "agency",
        d.path(),
        &[
            "compress",
            "in/big.png",
            "-o",
            "out",
            "--format",
            "avif",
            "--quality",
            "60",
            "--max-width",
            "200",
            "--max-height",
            "120",
            "--watermark",
            "wm.png",
            "--watermark-scale",
            "30",
            "--watermark-opacity",
            "50",
            "--watermark-position",
            "TL",
            "--alt-text",
            "--seo-rename",
            "--session-id",
            "sess-42",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let lines = jsonl(&o);
    let f = &files_with(&lines, "compressed")[0];
    assert!(
        f["width"].as_u64().unwrap() <= 200 && f["height"].as_u64().unwrap() <= 120,
        "scaled down: {f}"
    );
    assert_eq!(f["format"], "avif");
    assert!(
        f["alt_text"].as_str().is_some_and(|t| !t.is_empty()),
        "alt text asked for: {f}"
    );
    let seo = f["seo_name"].as_str().expect("an SEO name");
    let out = f["output"].as_str().unwrap();
    assert!(
        out.ends_with(seo),
        "--seo-rename names the result {seo}: {out}"
    );
    assert_eq!(sniff(&std::fs::read(d.join(out)).unwrap()), "avif");
    assert_eq!(
        emu.stats()["credits"][fluximage_emulator::builtin_key("agency")]["ai"],
        1
    );

    // The free plan may not watermark: the server's 403 is a configuration error (exit 2).
    let o = run(
        &emu,
        "free",
        d.path(),
        &[
            "compress",
            "in/big.png",
            "-o",
            "free",
            "--watermark",
            "wm.png",
        ],
    );
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains("forbidden") || stderr(&o).to_lowercase().contains("plan"),
        "{}",
        show(&o)
    );
}

#[test]
fn bad_arguments_exit_2_and_send_nothing() {
    let emu = emulator();
    let d = Dir::new("usage");
    write_image(d.path(), "a.png", 50, 50, 1);
    for args in [
        &["compress", "a.png", "-o", "out", "--quality", "30"][..],
        &["compress", "a.png", "-o", "out", "--format", "gif"],
        &["compress", "a.png", "-o", "out", "--watermark-scale", "10"],
        &[
            "compress",
            "a.png",
            "-o",
            "out",
            "--overwrite",
            "--skip-existing",
        ],
        &["compress", "a.png"],
        &["compress", "missing.png", "-o", "out"],
        &["compress", "a.png", "-o", "out", "--watermark", "nope.png"],
        &["frobnicate"],
    ] {
        let o = run(&emu, "pro", d.path(), args);
        assert_eq!(code(&o), 2, "flx {args:?}: {}", show(&o));
        assert!(!stderr(&o).is_empty(), "flx {args:?} says why");
    }
    // No key, a malformed key, an unreadable key file, both variables: exit 2.
    let o = flx(&emu, "pro", d.path())
        .env_remove("FLUXIMAGE_API_KEY")
        .args(["compress", "a.png", "-o", "out"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("FLUXIMAGE_API_KEY"), "{}", show(&o));
    let o = flx(&emu, "pro", d.path())
        .env("FLUXIMAGE_API_KEY", "flx_live_nothex")
        .args(["usage"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        !stderr(&o).contains("nothex"),
        "the key is never printed: {}",
        show(&o)
    );
    let o = flx(&emu, "pro", d.path())
        .env_remove("FLUXIMAGE_API_KEY")
        .env("FLUXIMAGE_API_KEY_FILE", d.join("none"))
        .args(["usage"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert_eq!(compress_requests(&emu), 0, "nothing was sent");
    assert!(
        !d.join("out").exists(),
        "no output folder made for a refused run"
    );
}

#[test]
fn key_file_and_usage() {
    let emu = emulator();
    let d = Dir::new("keyfile");
    std::fs::write(
        d.join("key"),
        format!("{}\n", fluximage_emulator::builtin_key("starter")),
    )
    .unwrap();
    let o = flx(&emu, "pro", d.path())
        .env_remove("FLUXIMAGE_API_KEY")
        .env("FLUXIMAGE_API_KEY_FILE", d.join("key"))
        .args(["usage", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", show(&o));
    let u: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(u["plan"], "starter");
    assert_eq!(u["compressions_left"], 200);
    let o = run(&emu, "starter", d.path(), &["usage"]);
    let text = stdout(&o);
    assert!(
        text.contains("starter")
            && text.contains("200 left")
            && text.contains("flx_live_779cc...8d3d"),
        "{text}"
    );
    assert!(
        !text.contains(fluximage_emulator::builtin_key("starter")),
        "never the whole key"
    );
}

/// Issue 12: `flx compress a.jpg -o .` beside an unrelated a.webp.
#[test]
fn an_unrelated_file_is_never_replaced() {
    let emu = emulator();
    let d = Dir::new("clobber");
    write_image(d.path(), "a.jpg", 120, 80, 1);
    let original = b"RIFF\x10\x00\x00\x00WEBPunrelated original".to_vec();
    std::fs::write(d.join("a.webp"), &original).unwrap();

    let o = run(&emu, "pro", d.path(), &["compress", "a.jpg", "-o", "."]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains("a.webp")
            && stderr(&o).contains("--overwrite")
            && stderr(&o).contains("--skip-existing"),
        "{}",
        show(&o)
    );
    assert_eq!(
        std::fs::read(d.join("a.webp")).unwrap(),
        original,
        "a.webp untouched"
    );
    assert_eq!(compress_requests(&emu), 0, "checked before any upload");

    // The folder form: a.webp is an input too, and still not replaced.
    let o = run(&emu, "pro", d.path(), &["compress", ".", "-o", "."]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), original);

    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "a.jpg", "-o", ".", "--skip-existing", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let skipped = files_with(&jsonl(&o), "skipped");
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["reason"].as_str().unwrap().contains("exists"));
    assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), original);
    assert_eq!(compress_requests(&emu), 0);

    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "a.jpg", "-o", ".", "--overwrite"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let now = std::fs::read(d.join("a.webp")).unwrap();
    assert_ne!(now, original, "--overwrite replaced it");
    assert_eq!(sniff(&now), "webp");
    assert!(d.join("a.jpg").exists(), "the input stays");
}

/// Issue 12: a second run into the input folder neither re-compresses its outputs nor pays again.
#[test]
fn a_rerun_into_the_input_folder_skips_its_own_results() {
    let emu = emulator();
    let d = Dir::new("rerun");
    for i in 0..4 {
        write_image(d.path(), &format!("img0{i}.png"), 90, 60, i);
    }
    let o = run(&emu, "pro", d.path(), &["compress", ".", "-o", "."]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(charged(&emu, "pro"), 4);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", ".", "-o", ".", "--skip-existing", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let lines = jsonl(&o);
    assert_eq!(files_with(&lines, "compressed").len(), 0, "{}", show(&o));
    assert_eq!(
        files_with(&lines, "skipped").len(),
        8,
        "4 inputs with results, 4 results: {}",
        show(&o)
    );
    assert_eq!(charged(&emu, "pro"), 4, "nothing paid twice");
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", ".", "-o", ".", "--overwrite"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("-2.")),
        "no img05-2.webp: {names:?}"
    );
    assert_eq!(names.len(), 8, "{names:?}");
}

#[test]
fn results_that_share_a_name_do_not_overwrite_each_other() {
    let emu = emulator();
    let d = Dir::new("share");
    write_image(d.path(), "x/cover.png", 60, 40, 1);
    write_image(d.path(), "y/cover.png", 70, 40, 2);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "compress",
            "x/cover.png",
            "y/cover.png",
            "-o",
            "out",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let outs: Vec<String> = files_with(&jsonl(&o), "compressed")
        .iter()
        .map(|f| f["output"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outs, ["out/cover.webp", "out/cover-2.webp"]);
    assert!(d.join("out/cover.webp").exists() && d.join("out/cover-2.webp").exists());
}

#[test]
fn an_unwritable_output_folder_is_refused_before_any_upload() {
    let emu = emulator();
    let d = Dir::new("unwritable");
    write_image(d.path(), "a.png", 60, 40, 1);
    std::fs::write(d.join("blocker"), b"a file, not a folder").unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "a.png", "-o", "blocker/out"],
    );
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains("blocker/out") && stderr(&o).contains("nothing was uploaded"),
        "{}",
        show(&o)
    );
    // A read-only folder (meaningful only when the tests do not run as root).
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
    std::fs::set_permissions(&ro, perm).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_err() {
        let o = run(&emu, "pro", d.path(), &["compress", "a.png", "-o", "ro"]);
        assert_eq!(code(&o), 2, "{}", show(&o));
        assert!(
            stderr(&o).contains("cannot write in the output folder ro"),
            "{}",
            show(&o)
        );
    }
    assert_eq!(compress_requests(&emu), 0, "no credit spent");
    assert_eq!(
        emu.stats()["requests"]["usage"],
        0,
        "refused even before the credit check"
    );
}

#[test]
fn not_enough_credits_exit_3_and_send_nothing() {
    let emu = emulator();
    let d = Dir::new("credits");
    for i in 0..21 {
        write_image(d.path(), &format!("in/{i:02}.png"), 16, 16, i);
    }
    let o = run(&emu, "free", d.path(), &["compress", "in", "-o", "out"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert!(
        stderr(&o).contains("21") && stderr(&o).contains("20 left"),
        "names both numbers: {}",
        show(&o)
    );
    assert_eq!(compress_requests(&emu), 0);
    // AI credits: the free plan has none.
    let o = run(
        &emu,
        "free",
        d.path(),
        &["compress", "in/00.png", "-o", "out", "--alt-text"],
    );
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert_eq!(compress_requests(&emu), 0);
}

#[test]
fn some_failed_exit_1_and_the_others_are_saved() {
    let emu = emulator();
    let d = Dir::new("partial");
    write_image(d.path(), "in/good.png", 60, 40, 1);
    std::fs::write(
        d.join("in/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really a png at all",
    )
    .unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--jsonl"],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    let lines = jsonl(&o);
    let failed = files_with(&lines, "failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["input"], "in/broken.png");
    assert!(failed[0]["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert!(d.join("out/good.webp").exists());
    assert!(!d.join("out/broken.webp").exists());
    assert_eq!(summary(&lines)["exit_code"], 1);
}

#[test]
fn recursive_mirrors_a_300_file_tree() {
    let emu = emulator();
    let d = Dir::new("tree");
    let mut rels = Vec::new();
    for i in 0..300u32 {
        let rel = format!(
            "{}/{}/img{i:03}.png",
            ["a", "b", "c"][(i % 3) as usize],
            ["x", "y", "z", "w"][(i % 4) as usize]
        );
        write_image(&d.join("in"), &rel, 8, 8, i);
        rels.push(rel);
    }
    // Without -r, subfolders are named in a warning and nothing is found.
    let o = run(&emu, "pro", d.path(), &["compress", "in", "-o", "flat"]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains("3 subfolder(s) not searched (use -r"),
        "{}",
        show(&o)
    );
    let start = Instant::now();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "compress",
            "-r",
            "in",
            "-o",
            "out",
            "--concurrency",
            "4",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(files_with(&jsonl(&o), "compressed").len(), 300);
    for rel in &rels {
        let out = d.join("out").join(rel.replace(".png", ".webp"));
        assert!(out.is_file(), "{} missing", out.display());
    }
    assert_eq!(compress_requests(&emu), 15, "300 files in requests of 20");
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn dry_run_sends_nothing() {
    let emu = emulator();
    let d = Dir::new("dry");
    write_image(d.path(), "in/a.png", 60, 40, 1);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--dry-run", "--jsonl"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    let planned = files_with(&jsonl(&o), "planned");
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["output"], "out/a.webp");
    assert_eq!(compress_requests(&emu), 0);
    assert!(!d.join("out").exists());
}

/// Issue 12: a signal during a download leaves no temporary file, and flx exits 128 + signal.
#[test]
fn signals_during_a_download_leave_no_temp_file() {
    let emu = emulator();
    let d = Dir::new("signal");
    write_image(d.path(), "a.png", 300, 200, 1);
    for (sig, want) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let out = d.join(&format!("out-{sig}"));
        emu.inject(
            Fault::new(FaultMode::Trickle)
                .with_path(FaultPath::Download)
                .with_delay_ms(20_000),
        );
        let mut child = flx(&emu, "pro", d.path())
            .args(["compress", "a.png", "-o", out.to_str().unwrap(), "--jsonl"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || !temp_files(&out).is_empty()),
            "the download started ({sig})"
        );
        let sent = Instant::now();
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "SIG{sig} stops flx within 1 s (took {:?})",
            sent.elapsed()
        );
        assert_eq!(status.code(), Some(want), "SIG{sig}");
        assert_eq!(
            temp_files(&out),
            Vec::<std::path::PathBuf>::new(),
            "SIG{sig} left a temporary file"
        );
        assert!(!out.join("a.webp").exists());
        let o = child.wait_with_output().unwrap();
        let lines = jsonl(&o);
        assert_eq!(summary(&lines)["interrupted"], true);
    }
}

#[test]
fn connection_flags_base_url_ca_file_proxy_retries_timeout() {
    let emu = fluximage_emulator::Emulator::start(fluximage_emulator::EmulatorConfig {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    let d = Dir::new("conn");
    let ca = emu.ca_pem_path().unwrap();
    let ca = ca.to_str().unwrap();
    let base = emu.base_url();
    let usage = |extra: &[&str]| {
        let mut c = flx(&emu, "pro", d.path());
        c.env_remove("FLUXIMAGE_BASE_URL")
            .arg("usage")
            .arg("--json")
            .args(extra);
        c.output().unwrap()
    };
    let o = usage(&["--base-url", &base, "--ca-file", ca]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let o = usage(&["--base-url", &base]);
    assert_eq!(
        code(&o),
        1,
        "the emulator's CA is not trusted without --ca-file: {}",
        show(&o)
    );
    assert!(
        stderr(&o).contains("TLS") || stderr(&o).contains("certificate"),
        "{}",
        show(&o)
    );
    // A loopback API is reached directly even with --proxy (the key never crosses a proxy in
    // clear), so a proxy that is not there does not matter.
    let o = usage(&[
        "--base-url",
        &base,
        "--ca-file",
        ca,
        "--proxy",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    // A SOCKS proxy is refused as a configuration error: nothing sent, exit 2.
    let o = usage(&[
        "--base-url",
        &base,
        "--ca-file",
        ca,
        "--proxy",
        "socks5://127.0.0.1:9",
    ]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let o = usage(&[
        "--base-url",
        &base,
        "--ca-file",
        ca,
        "--proxy",
        "not a proxy",
    ]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    // Two 503s: retried with --retries 2, not with --retries 0.
    emu.inject(
        Fault::new(FaultMode::ServiceUnavailable)
            .with_path(FaultPath::Usage)
            .with_count(2),
    );
    let o = usage(&["--base-url", &base, "--ca-file", ca, "--retries", "0"]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let o = usage(&["--base-url", &base, "--ca-file", ca, "--retries", "2"]);
    assert_eq!(code(&o), 0, "one 503 left, then success: {}", show(&o));
    // --timeout bounds a stalled request.
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_path(FaultPath::Usage)
            .with_delay_ms(10_000),
    );
    let start = Instant::now();
    let o = usage(&[
        "--base-url",
        &base,
        "--ca-file",
        ca,
        "--timeout",
        "1",
        "--retries",
        "0",
    ]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        stderr(&o).contains("timed out") || stderr(&o).contains("time"),
        "{}",
        show(&o)
    );
}

#[test]
fn verbose_says_why_files_were_skipped() {
    let emu = emulator();
    let d = Dir::new("verbose");
    write_image(d.path(), "in/a.png", 40, 30, 1);
    write_image(d.path(), "in/.hidden.png", 40, 30, 2);
    assert_eq!(
        code(&run(
            &emu,
            "pro",
            d.path(),
            &["compress", "in", "-o", "out"]
        )),
        0
    );
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--skip-existing", "-v"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(
        stdout(&o).contains("skipped in/a.png: out/a.webp exists"),
        "{}",
        show(&o)
    );
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--skip-existing"],
    );
    assert!(
        !stdout(&o).contains("skipped in/a.png"),
        "not without -v: {}",
        show(&o)
    );
    assert!(
        !d.join("out/.hidden.webp").exists(),
        "hidden files are left out of a folder walk"
    );
}

#[test]
fn an_output_folder_inside_the_input_tree_is_not_walked() {
    let emu = emulator();
    let d = Dir::new("nested-out");
    write_image(d.path(), "photos/a.png", 40, 30, 1);
    write_image(d.path(), "photos/trip/b.png", 40, 30, 2);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "-r", "photos", "-o", "photos/web"],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    std::fs::remove_file(d.join("photos/a.png")).unwrap();
    let o = run(
        &emu,
        "pro",
        d.path(),
        &[
            "compress",
            "-r",
            "photos",
            "-o",
            "photos/web",
            "--skip-existing",
            "--jsonl",
        ],
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        files_with(&jsonl(&o), "compressed").len(),
        0,
        "its own results are not inputs: {}",
        show(&o)
    );
    assert!(!d.join("photos/web/web").exists());
    assert_eq!(charged(&emu, "pro"), 2);
}

#[test]
fn a_named_file_whose_result_would_replace_it_fails() {
    let emu = emulator();
    let d = Dir::new("self");
    write_image(d.path(), "a.png", 40, 30, 1);
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "a.png", "-o", ".", "--format", "png"],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(
        stderr(&o).contains("would replace the input itself"),
        "{}",
        show(&o)
    );
    assert_eq!(compress_requests(&emu), 0);
}

/// On a terminal (a pseudo-terminal from script(1), when installed) a progress bar with bytes,
/// rate, ETA and files is drawn on stderr.
#[test]
fn a_progress_bar_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("script(1) is not installed: skipped");
        return;
    }
    let emu = emulator();
    let d = Dir::new("tty");
    write_image(d.path(), "in/a.png", 200, 120, 1);
    let cmd = format!("{} compress in -o out", env!("CARGO_BIN_EXE_flx"));
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(d.path());
    script
        .env("FLUXIMAGE_API_KEY", fluximage_emulator::builtin_key("pro"))
        .env("FLUXIMAGE_BASE_URL", emu.base_url());
    let o = script.output().unwrap();
    let text = stdout(&o);
    assert!(
        text.contains("ETA") && text.contains("1/1 files") && text.contains("/s"),
        "{}",
        show(&o)
    );
    assert!(d.join("out/a.webp").is_file());
}

/// Results are saved a few at a time; the report keeps the order of the inputs, and a failed
/// download fails only its own image.
#[test]
fn saves_run_side_by_side_and_are_reported_in_input_order() {
    let emu = emulator();
    let d = Dir::new("parallel-saves");
    for i in 0..12 {
        write_image(d.path(), &format!("in/p{i:02}.png"), 24, 24, i);
    }
    emu.inject(
        Fault::new(FaultMode::InternalHtml)
            .with_path(FaultPath::Download)
            .with_count(2),
    );
    let o = run(
        &emu,
        "pro",
        d.path(),
        &["compress", "in", "-o", "out", "--jsonl", "--retries", "0"],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    let lines = jsonl(&o);
    let inputs: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "file")
        .map(|l| l["input"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("in/p{i:02}.png")).collect();
    assert_eq!(inputs, expected, "{}", show(&o));
    assert_eq!(files_with(&lines, "failed").len(), 2, "{}", show(&o));
    assert_eq!(files_with(&lines, "compressed").len(), 10);
    assert_eq!(
        std::fs::read_dir(d.join("out")).unwrap().count(),
        10,
        "no temporary file left"
    );
}
