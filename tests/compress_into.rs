//! `Client::compress_into`: results saved into a folder as their requests answer, with every
//! name checked before a credit is spent.

mod common;

use common::*;
use fluximage::{CompressOptions, ErrorKind, ExistsPolicy, Format, Input, Observer};
use fluximage_emulator::EmulatorConfig;
use std::time::Duration;

fn none() -> Observer<'static> {
    Observer::none()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn every_result_is_saved_and_a_taken_name_is_refused_before_it_is_paid_for() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("into");
    let inputs: Vec<Input> = ["a.jpg", "b.png", "c.png"]
        .iter()
        .enumerate()
        .map(|(i, n)| Input::path(write_photo(&dir, n, i as u32)))
        .collect();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("b.webp"), b"someone else's file").unwrap();
    let before = credits(&emu, AGENCY);

    let b = c
        .compress_into(
            &inputs,
            &CompressOptions::default(),
            &out,
            ExistsPolicy::Error,
            &mut none(),
        )
        .unwrap();

    assert_eq!(
        b.items[0].saved.as_ref().unwrap().as_ref().unwrap(),
        &out.join("a.webp")
    );
    assert_eq!(
        b.items[2].saved.as_ref().unwrap().as_ref().unwrap(),
        &out.join("c.webp")
    );
    for n in ["a.webp", "c.webp"] {
        assert_eq!(sniff(&std::fs::read(out.join(n)).unwrap()), "webp", "{n}");
    }
    let e = b.items[1].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(
        e.message().contains("not sent") && e.message().contains("b.webp already exists"),
        "{}",
        e.message()
    );
    assert_eq!(
        std::fs::read(out.join("b.webp")).unwrap(),
        b"someone else's file"
    );
    assert_eq!(
        credits(&emu, AGENCY) - before,
        2,
        "the refused image cost nothing"
    );
    assert_eq!(stat(&emu, "requests", "download"), 2);
    assert_eq!(
        names(&out),
        ["a.webp", "b.webp", "c.webp"],
        "no temporary file left"
    );
    assert_eq!(b.status().unwrap_err().kind(), ErrorKind::Partial);
    // The width and height are known from the saved files, as after Client::save.
    assert!(b.items[0].dimensions().is_some());
}

#[test]
fn two_inputs_with_one_result_name_are_refused_or_renamed_never_merged() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("into-dup");
    std::fs::create_dir_all(dir.join("x")).unwrap();
    std::fs::create_dir_all(dir.join("y")).unwrap();
    let inputs = [
        Input::path(write_photo(&dir, "x/cover.jpg", 1)),
        Input::path(write_photo(&dir, "y/cover.jpg", 2)),
    ];

    let out = dir.join("strict");
    let b = c
        .compress_into(
            &inputs,
            &CompressOptions::default(),
            &out,
            ExistsPolicy::Overwrite,
            &mut none(),
        )
        .unwrap();
    assert!(b.items[0].error().is_none());
    let e = b.items[1].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(
        e.message().contains("would also be the result of input 1"),
        "{}",
        e.message()
    );
    assert_eq!(stat(&emu, "requests", "compress"), 1);
    assert_eq!(names(&out), ["cover.webp"]);

    let out = dir.join("renamed");
    let b = c
        .compress_into(
            &inputs,
            &CompressOptions::default(),
            &out,
            ExistsPolicy::Rename,
            &mut none(),
        )
        .unwrap();
    b.status().unwrap();
    assert_eq!(names(&out), ["cover-2.webp", "cover.webp"]);
    assert_ne!(
        std::fs::read(out.join("cover.webp")).unwrap(),
        std::fs::read(out.join("cover-2.webp")).unwrap()
    );
}

#[test]
fn an_input_is_never_its_own_output_and_an_unusable_folder_spends_nothing() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("into-self");
    let png = CompressOptions {
        format: Format::Png,
        ..Default::default()
    };
    let input = write_photo(&dir, "keep.png", 3);
    let original = std::fs::read(&input).unwrap();
    for policy in [ExistsPolicy::Error, ExistsPolicy::Overwrite] {
        let b = c
            .compress_into(
                &[Input::path(&input)],
                &png,
                dir.path(),
                policy,
                &mut none(),
            )
            .unwrap();
        let e = b.items[0].error().unwrap();
        assert!(
            e.message().contains("refusing to overwrite the original"),
            "{}",
            e.message()
        );
    }
    assert_eq!(std::fs::read(&input).unwrap(), original);
    assert_eq!(stat(&emu, "requests", "compress"), 0);

    let a_file = dir.join("not-a-folder");
    std::fs::write(&a_file, b"x").unwrap();
    let e = c
        .compress_into(
            &[Input::path(&input)],
            &png,
            &a_file,
            ExistsPolicy::Error,
            &mut none(),
        )
        .unwrap_err();
    assert!(
        e.message().contains("is a file, not a folder"),
        "{}",
        e.message()
    );
    assert_eq!(stat(&emu, "requests", "compress"), 0);
}

/// The pre-check sees the folder as it is when the call starts; a file that appears while the
/// server works is still never replaced, and the result can be saved elsewhere afterwards.
#[test]
fn a_file_that_appears_during_the_call_is_kept_and_the_result_stays_savable() {
    let emu = emulator_with(EmulatorConfig {
        work_time: Duration::from_millis(600),
        ..EmulatorConfig::default()
    });
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("into-race");
    let out = dir.join("out");
    let input = write_photo(&dir, "late.jpg", 4);
    let late = out.join("late.webp");
    let b = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(&late, b"written meanwhile").unwrap();
        });
        c.compress_into(
            &[Input::path(&input)],
            &CompressOptions::default(),
            &out,
            ExistsPolicy::Error,
            &mut none(),
        )
        .unwrap()
    });
    assert_eq!(b.items[0].error().unwrap().kind(), ErrorKind::Exists);
    assert!(b.items[0].outcome.is_ok(), "the result itself is kept");
    assert_eq!(std::fs::read(&late).unwrap(), b"written meanwhile");
    let elsewhere = c
        .save(
            &b.items[0],
            &dir.join("other/"),
            ExistsPolicy::Error,
            &mut none(),
        )
        .unwrap();
    assert_eq!(sniff(&std::fs::read(elsewhere).unwrap()), "webp");
    assert_eq!(names(&out), ["late.webp"], "no temporary file left");
}

#[test]
fn many_requests_are_saved_as_they_answer_and_progress_counts_the_downloads() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| cfg.concurrency = 3);
    let dir = TempDir::new("into-many");
    let inputs: Vec<Input> = (0..45)
        .map(|i| Input::bytes(format!("p{i:02}.png"), photo_png(24, 24, i)))
        .collect();
    let upload_total = std::sync::atomic::AtomicU64::new(0);
    let mut last = None;
    let mut obs = Observer::none().with_progress(|p| {
        upload_total.fetch_max(p.total, std::sync::atomic::Ordering::Relaxed);
        last = Some(p);
        true
    });
    let out = dir.join("out");
    let b = c
        .compress_into(
            &inputs,
            &CompressOptions::default(),
            &out,
            ExistsPolicy::Error,
            &mut obs,
        )
        .unwrap();
    drop(obs);
    b.status().unwrap();
    assert_eq!(stat(&emu, "requests", "compress"), 3);
    assert_eq!(names(&out).len(), 45);
    for (i, item) in b.items.iter().enumerate() {
        assert_eq!(
            item.saved.as_ref().unwrap().as_ref().unwrap(),
            &out.join(format!("p{i:02}.webp"))
        );
    }
    let downloaded: u64 = b
        .items
        .iter()
        .map(|i| i.outcome.as_ref().unwrap().size.unwrap())
        .sum();
    let last = last.unwrap();
    assert_eq!(last.done, last.total, "{last:?}");
    assert!(
        last.total > downloaded,
        "the total counts uploads and downloads: {last:?}, {downloaded} downloaded"
    );
}

/// A cancel during the downloads ends the call at once and leaves no partial file: what was
/// saved is whole, the rest is not there, and nothing of the library's is left behind.
#[test]
fn a_cancel_while_results_download_leaves_only_whole_files() {
    let emu = emulator_with(EmulatorConfig {
        download_rate: Some(200_000),
        ..EmulatorConfig::default()
    });
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("into-cancel");
    let out = dir.join("out");
    let inputs: Vec<Input> = (0..6)
        .map(|i| Input::bytes(format!("big{i}.png"), photo_png(400, 300, i)))
        .collect();
    let token = fluximage::CancelToken::new();
    let t = token.clone();
    let out_seen = out.clone();
    let canceller = std::thread::spawn(move || {
        // Cancel once the first result is in place: the others are still downloading.
        for _ in 0..2000 {
            if std::fs::read_dir(&out_seen)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.file_name().to_string_lossy().ends_with(".png"))
                })
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        t.cancel();
        std::time::Instant::now()
    });
    let mut obs = Observer::none().with_cancel(token);
    let e = c
        .compress_into(
            &inputs,
            &CompressOptions {
                format: Format::Png,
                ..Default::default()
            },
            &out,
            ExistsPolicy::Error,
            &mut obs,
        )
        .unwrap_err();
    let ended = std::time::Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(
        ended.duration_since(cancelled_at) < Duration::from_millis(500),
        "the call ended {:?} after the cancel",
        ended.duration_since(cancelled_at)
    );
    // The downloads in flight stop at their next read; give them that long, then look.
    std::thread::sleep(Duration::from_millis(300));
    let left = names(&out);
    assert!(!left.is_empty() && left.len() < 6, "{left:?}");
    for n in &left {
        assert!(
            n.ends_with(".png") && !n.starts_with('.'),
            "a temporary file was left: {n}"
        );
        let bytes = std::fs::read(out.join(n)).unwrap();
        assert!(bytes.ends_with(b"IEND\xaeB`\x82"), "{n} is not a whole PNG");
    }
}
