//! Folder sync against the emulator, with real files: mirroring, incremental reruns, conflicts,
//! credits checked first, never bigger, in place with backups, and kill -9 in the middle.

mod common;

use common::*;
use fluximage::{
    Client, CompressOptions, ErrorKind, FileEvent, FileOutcome, Format, IfLarger, Observer,
    SyncEvent, SyncOptions, SyncReport,
};
use fluximage_emulator::{builtin_key, Emulator};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn webp() -> CompressOptions {
    CompressOptions {
        format: Format::Webp,
        ..Default::default()
    }
}

fn run(
    client: &Client,
    src: &Path,
    out: &Path,
    opts: &CompressOptions,
    sync: &SyncOptions,
) -> (SyncReport, Vec<FileEvent>) {
    let mut events = Vec::new();
    let report = client
        .sync(
            src,
            out,
            opts,
            sync,
            &mut |e| {
                if let SyncEvent::File(f) = e {
                    events.push(f.clone());
                }
            },
            &mut Observer::none(),
        )
        .expect("sync succeeds");
    (report, events)
}

fn compress_requests(emu: &Emulator) -> u64 {
    stat(emu, "requests", "compress")
}

/// A small photo-like PNG at `dir/rel`, folders created.
fn put(dir: &Path, rel: &str, seed: u32) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, photo_png(48, 32, seed)).unwrap();
    p
}

fn tree(dir: &Path) -> Vec<&'static str> {
    let files = vec![
        "logo.png",
        "a/logo.png",
        "a/b/logo.png",
        "a/b/c/logo.png",
        "a/b/c/photo.png",
        "x/photo.png",
    ];
    for (i, f) in files.iter().enumerate() {
        put(dir, f, i as u32 + 1);
    }
    files
}

/// Every file under `dir`, relative, sorted (hidden ones included).
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

fn outcome_of(events: &[FileEvent], input: &str) -> FileOutcome {
    events
        .iter()
        .find(|e| e.input == Path::new(input))
        .unwrap_or_else(|| panic!("no event for {input}: {events:?}"))
        .outcome
}

#[test]
fn a_tree_is_mirrored_and_reruns_send_only_what_changed() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (TempDir::new("sync-src"), TempDir::new("sync-out"));
    let files = tree(src.path());
    std::fs::write(src.join("notes.txt"), b"not an image").unwrap();

    let (r, events) = run(
        &client,
        src.path(),
        &out.join("site"),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(r.compressed, 6, "{r:?}");
    assert_eq!(
        (r.requests, r.credits_spent, r.failed, r.conflicts),
        (1, 6, 0, 0)
    );
    assert_eq!(r.plan.skipped, 1, "notes.txt is counted as skipped");
    for f in &files {
        let o = out.join("site").join(f.replace(".png", ".webp"));
        assert_eq!(
            sniff(&std::fs::read(&o).unwrap()),
            "webp",
            "{}",
            o.display()
        );
        assert_eq!(outcome_of(&events, f), FileOutcome::Compressed);
    }
    let mut expected: Vec<String> = files.iter().map(|f| f.replace(".png", ".webp")).collect();
    expected.push(".fluximage-sync".into());
    expected.sort();
    assert_eq!(
        listing(&out.join("site")),
        expected,
        "outputs mirror the tree; only the manifest beside them"
    );
    assert_eq!(compress_requests(&emu), 1);

    // A rerun sends nothing, and writes nothing; so does a touch that changes no byte.
    let manifest_time = || {
        std::fs::metadata(out.join("site/.fluximage-sync"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = manifest_time();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (r, events) = run(
        &client,
        src.path(),
        &out.join("site"),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!((r.up_to_date, r.compressed, r.requests), (6, 0, 0), "{r:?}");
    assert!(events.iter().all(|e| e.outcome == FileOutcome::UpToDate));
    assert_eq!(
        manifest_time(),
        before,
        "an up-to-date run leaves the manifest alone"
    );
    let touched = src.join("a/b/logo.png");
    std::fs::File::options()
        .write(true)
        .open(&touched)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let (r, _) = run(
        &client,
        src.path(),
        &out.join("site"),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(
        (r.up_to_date, r.requests),
        (6, 0),
        "a touch alone costs nothing: {r:?}"
    );
    assert_eq!(compress_requests(&emu), 1);
    assert_eq!(
        stat(&emu, "requests", "usage"),
        1,
        "an up-to-date run does not even ask for usage"
    );

    // Editing one input sends that one only.
    put(src.path(), "a/b/c/photo.png", 99);
    let (r, events) = run(
        &client,
        src.path(),
        &out.join("site"),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(
        (r.compressed, r.up_to_date, r.credits_spent),
        (1, 5, 1),
        "{r:?}"
    );
    assert_eq!(
        outcome_of(&events, "a/b/c/photo.png"),
        FileOutcome::Compressed
    );

    // Deleting one output redoes it.
    std::fs::remove_file(out.join("site/a/logo.webp")).unwrap();
    let (r, events) = run(
        &client,
        src.path(),
        &out.join("site"),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!((r.compressed, r.credits_spent), (1, 1), "{r:?}");
    assert_eq!(outcome_of(&events, "a/logo.png"), FileOutcome::Compressed);
    assert!(out.join("site/a/logo.webp").is_file());

    // Other options redo everything.
    let q60 = CompressOptions {
        quality: 60,
        ..webp()
    };
    let (r, _) = run(
        &client,
        src.path(),
        &out.join("site"),
        &q60,
        &SyncOptions::default(),
    );
    assert_eq!((r.compressed, r.credits_spent), (6, 6), "{r:?}");
    let (r, _) = run(
        &client,
        src.path(),
        &out.join("site"),
        &q60,
        &SyncOptions::default(),
    );
    assert_eq!(r.up_to_date, 6);
    assert_eq!(
        credits(&emu, AGENCY),
        14,
        "6 + 1 + 1 + 6, nothing charged twice"
    );
}

#[test]
fn conflicts_are_reported_and_never_sent() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (TempDir::new("sync-cf-src"), TempDir::new("sync-cf-out"));
    put(src.path(), "img/a.png", 1);
    std::fs::write(
        src.join("img/a.jpg"),
        std::fs::read(src.join("img/a.png")).unwrap(),
    )
    .unwrap();
    put(src.path(), "img/b.png", 2);
    put(src.path(), "img/c.png", 3);
    // An output the sync did not write.
    std::fs::create_dir_all(out.join("img")).unwrap();
    std::fs::write(out.join("img/c.webp"), b"the user's own file").unwrap();

    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(
        (r.compressed, r.conflicts, r.credits_spent),
        (1, 3, 1),
        "{r:?}"
    );
    for f in ["img/a.png", "img/a.jpg", "img/c.png"] {
        assert_eq!(outcome_of(&events, f), FileOutcome::Conflict, "{f}");
    }
    let a = events
        .iter()
        .find(|e| e.input == Path::new("img/a.png"))
        .unwrap();
    assert!(
        a.reason
            .as_deref()
            .unwrap()
            .contains("img/a.jpg and img/a.png map to the same output img/a.webp"),
        "{a:?}"
    );
    assert_eq!(
        std::fs::read(out.join("img/c.webp")).unwrap(),
        b"the user's own file"
    );
    assert!(!out.join("img/a.webp").exists());

    // An output edited by hand is a conflict; `overwrite` redoes it.
    std::fs::write(out.join("img/b.webp"), b"edited").unwrap();
    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(outcome_of(&events, "img/b.png"), FileOutcome::Conflict);
    assert!(events
        .iter()
        .find(|e| e.input == Path::new("img/b.png"))
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("changed since the sync wrote it"));
    assert_eq!(r.requests, 0);
    assert_eq!(std::fs::read(out.join("img/b.webp")).unwrap(), b"edited");
    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions {
            overwrite: true,
            ..Default::default()
        },
    );
    assert_eq!(outcome_of(&events, "img/b.png"), FileOutcome::Compressed);
    assert_eq!(
        outcome_of(&events, "img/c.png"),
        FileOutcome::Compressed,
        "overwrite replaces the foreign file too"
    );
    assert_eq!(r.conflicts, 2, "the a.png/a.jpg pair stays a conflict");
    assert_eq!(
        sniff(&std::fs::read(out.join("img/b.webp")).unwrap()),
        "webp"
    );
}

#[test]
fn globs_hidden_files_and_symlinked_folders() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out, elsewhere) = (
        TempDir::new("sync-gl-src"),
        TempDir::new("sync-gl-out"),
        TempDir::new("sync-gl-else"),
    );
    put(src.path(), "keep/a.png", 1);
    put(src.path(), "keep/thumbs/t.png", 2);
    put(src.path(), ".hidden/h.png", 3);
    put(src.path(), "keep/.h.png", 4);
    put(elsewhere.path(), "linked.png", 5);
    std::os::unix::fs::symlink(elsewhere.path(), src.join("link")).unwrap();
    std::os::unix::fs::symlink(src.path(), src.join("keep/loop")).unwrap();

    let sync = SyncOptions {
        exclude: vec!["thumbs".into()],
        ..Default::default()
    };
    let (r, _) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions {
            dry_run: true,
            ..sync.clone()
        },
    );
    assert_eq!(
        (
            r.plan.to_compress,
            r.plan.compressions_needed,
            r.plan.requests
        ),
        (1, 1, 1),
        "{r:?}"
    );
    assert_eq!(compress_requests(&emu), 0, "a dry run sends nothing");
    assert!(!out.join(".fluximage-sync").exists(), "and writes nothing");

    let all = SyncOptions {
        include_hidden: true,
        follow_symlinks: true,
        include: vec!["**/*.png".into()],
        dry_run: true,
        ..Default::default()
    };
    let (r, _) = run(&client, src.path(), out.path(), &webp(), &all);
    // keep/a, keep/thumbs/t, .hidden/h, keep/.h, link/linked; the loop back to src is walked once.
    assert_eq!(r.plan.to_compress, 5, "{r:?}");
    let ai = CompressOptions {
        alt_text: true,
        ..webp()
    };
    let (r, _) = run(&client, src.path(), out.path(), &ai, &all);
    assert_eq!(
        (r.plan.compressions_needed, r.plan.ai_credits_needed),
        (5, 5)
    );
    let only_a = SyncOptions {
        include: vec!["keep/*.png".into()],
        ..Default::default()
    };
    let (r, _) = run(&client, src.path(), out.path(), &webp(), &only_a);
    assert_eq!(r.compressed, 1);
    assert_eq!(listing(out.path()), vec![".fluximage-sync", "keep/a.webp"]);
}

#[test]
fn credits_are_checked_before_any_upload() {
    let emu = emulator();
    let client = client(&emu, "free");
    let (src, out) = (TempDir::new("sync-q-src"), TempDir::new("sync-q-out"));
    for i in 0..30 {
        put(src.path(), &format!("p{i:02}.png"), i);
    }
    // A dry run shows the plan and the key's usage, and charges nothing.
    let mut seen_usage = None;
    let report = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions {
                dry_run: true,
                ..Default::default()
            },
            &mut |e| {
                if let SyncEvent::Planned { plan, usage } = e {
                    seen_usage = Some((
                        plan.compressions_needed,
                        usage.and_then(|u| u.compressions_limit),
                    ));
                }
            },
            &mut Observer::none(),
        )
        .unwrap();
    assert_eq!(seen_usage, Some((30, Some(20))));
    assert_eq!(report.plan.requests, 2);
    assert_eq!(credits(&emu, "free"), 0);

    let e = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    assert!(
        e.message()
            .contains("needs 30 compressions but the key has 20 left"),
        "{}",
        e.message()
    );
    assert_eq!(
        (credits(&emu, "free"), compress_requests(&emu)),
        (0, 0),
        "refused before any upload"
    );

    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions {
            allow_partial: true,
            ..Default::default()
        },
    );
    assert_eq!(
        (r.compressed, r.not_done, r.credits_spent),
        (20, 10, 20),
        "{r:?}"
    );
    assert_eq!(credits(&emu, "free"), 20);
    // The first 20 by path were done, deterministically.
    for i in 0..30 {
        let f = format!("p{i:02}.png");
        let want = if i < 20 {
            FileOutcome::Compressed
        } else {
            FileOutcome::Skipped
        };
        assert_eq!(outcome_of(&events, &f), want, "{f}");
    }
    assert!(out.join("p19.webp").is_file() && !out.join("p20.webp").exists());
}

#[test]
fn never_bigger_keeps_the_original_or_skips() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (TempDir::new("sync-big-src"), TempDir::new("sync-big-out"));
    // One flat colour: the smallest PNG there is; a re-encode cannot beat it.
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 200, 30]));
    let mut tiny = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut tiny),
        image::ImageFormat::Png,
    )
    .unwrap();
    let tiny = optimal_png(&tiny);
    std::fs::write(src.join("flat.png"), &tiny).unwrap();
    let png = CompressOptions {
        format: Format::Png,
        ..Default::default()
    };

    let (r, events) = run(
        &client,
        src.path(),
        &out.join("orig"),
        &png,
        &SyncOptions::default(),
    );
    assert_eq!(r.kept_original, 1, "{events:?}");
    assert_eq!(
        std::fs::read(out.join("orig/flat.png")).unwrap(),
        tiny,
        "the original bytes were written"
    );
    assert!(events[0].reason.as_deref().unwrap().contains("not smaller"));
    let (r, _) = run(
        &client,
        src.path(),
        &out.join("orig"),
        &png,
        &SyncOptions::default(),
    );
    assert_eq!((r.up_to_date, r.requests), (1, 0));

    let (r, events) = run(
        &client,
        src.path(),
        &out.join("skip"),
        &png,
        &SyncOptions {
            if_larger: IfLarger::Skip,
            ..Default::default()
        },
    );
    assert_eq!((r.skipped, events[0].outcome), (1, FileOutcome::Skipped));
    assert!(!out.join("skip/flat.png").exists());
    let (r, _) = run(
        &client,
        src.path(),
        &out.join("skip"),
        &png,
        &SyncOptions {
            if_larger: IfLarger::Skip,
            ..Default::default()
        },
    );
    assert_eq!(r.requests, 0, "a skipped file is not sent again");

    let (_, events) = run(
        &client,
        src.path(),
        &out.join("write"),
        &png,
        &SyncOptions {
            if_larger: IfLarger::Write,
            ..Default::default()
        },
    );
    assert_eq!(events[0].outcome, FileOutcome::Compressed);
    let written = std::fs::read(out.join("write/flat.png")).unwrap();
    assert_ne!(written, tiny, "the server's result was written");
    assert_eq!(events[0].larger_than_input, written.len() > tiny.len());
}

#[test]
fn a_broken_image_fails_alone_and_a_bad_key_fails_before_anything() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (
        TempDir::new("sync-broken-src"),
        TempDir::new("sync-broken-out"),
    );
    put(src.path(), "good.png", 1);
    std::fs::write(src.join("broken.png"), b"not a png at all").unwrap();
    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!((r.compressed, r.failed), (1, 1), "{events:?}");
    let broken = events
        .iter()
        .find(|e| e.outcome == FileOutcome::Failed)
        .unwrap();
    assert_eq!(broken.input, Path::new("broken.png"));
    assert_eq!(broken.error.as_ref().unwrap().kind(), ErrorKind::Server);
    assert!(!out.join("broken.webp").exists());
    // A failed file is tried again next time; the good one is not.
    let (r, _) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!((r.up_to_date, r.failed, r.requests), (1, 1, 1));

    let stranger = Client::new(
        Some("flx_live_0123456789abcdef0123456789abcdef01234567"),
        fluximage::Config {
            base_url: emu.base_url(),
            ..Default::default()
        },
    )
    .unwrap();
    put(src.path(), "new.png", 2);
    let e = stranger
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(compress_requests(&emu), 2, "refused at the usage call");
}

/// The PNG with the fewest bytes: the same pixels re-encoded until no encoder setting is smaller.
fn optimal_png(png: &[u8]) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let img = image::load_from_memory(png).unwrap().to_rgb8();
    let mut best = png.to_vec();
    for f in [
        FilterType::NoFilter,
        FilterType::Sub,
        FilterType::Up,
        FilterType::Paeth,
    ] {
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, CompressionType::Best, f)
            .write_image(
                &img,
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        if out.len() < best.len() {
            best = out;
        }
    }
    best
}

#[test]
fn in_place_with_backups_twice_in_a_row() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (site, backup) = (TempDir::new("sync-ip-src"), TempDir::new("sync-ip-bak"));
    put(site.path(), "img/a.png", 1);
    std::fs::write(site.join("img/j.jpg"), {
        let img = image::load_from_memory(&photo_png(96, 64, 7))
            .unwrap()
            .to_rgb8();
        let mut b = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut b, 100)
            .encode_image(&img)
            .unwrap();
        b
    })
    .unwrap();
    let original_jpg = std::fs::read(site.join("img/j.jpg")).unwrap();
    let jpg = CompressOptions {
        format: Format::Jpg,
        quality: 60,
        ..Default::default()
    };

    let e = client
        .sync(
            site.path(),
            site.path(),
            &jpg,
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("backup"), "{}", e.message());

    let sync = SyncOptions {
        backup_dir: Some(backup.path().to_path_buf()),
        preserve_mtime: true,
        ..Default::default()
    };
    let (r, events) = run(&client, site.path(), site.path(), &jpg, &sync);
    assert_eq!((r.compressed, r.failed), (2, 0), "{events:?}");
    // The jpg was replaced, its original backed up; the png got a jpg beside it.
    assert_eq!(
        std::fs::read(backup.join("img/j.jpg")).unwrap(),
        original_jpg
    );
    assert!(std::fs::read(site.join("img/j.jpg")).unwrap().len() < original_jpg.len());
    assert_eq!(
        sniff(&std::fs::read(site.join("img/a.jpg")).unwrap()),
        "jpg"
    );
    assert!(
        site.join("img/a.png").is_file(),
        "an original in another format is not touched"
    );
    let mtime = |p: &str| std::fs::metadata(site.join(p)).unwrap().modified().unwrap();
    assert_eq!(
        mtime("img/a.jpg"),
        mtime("img/a.png"),
        "preserve_mtime gives the output its input's time"
    );
    let (r, events) = run(&client, site.path(), site.path(), &jpg, &sync);
    assert_eq!(
        (r.requests, r.up_to_date, r.compressed),
        (0, 2, 0),
        "the second run sends nothing: {events:?}"
    );
    assert_eq!(r.plan.files, 2, "its own output a.jpg is not an input");
    assert_eq!(credits(&emu, AGENCY), 2);

    // A backup folder inside the tree is kept out of the scan.
    let inner = SyncOptions {
        backup_dir: Some(site.join("backup")),
        ..Default::default()
    };
    std::fs::create_dir_all(site.join("new")).unwrap();
    std::fs::write(site.join("new/n.jpg"), &original_jpg).unwrap();
    let (r, _) = run(&client, site.path(), site.path(), &jpg, &inner);
    assert_eq!(r.compressed, 1, "{r:?}");
    assert_eq!(
        std::fs::read(site.join("backup/new/n.jpg")).unwrap(),
        original_jpg
    );
    let (r, _) = run(&client, site.path(), site.path(), &jpg, &inner);
    assert_eq!(
        (r.plan.files, r.requests),
        (3, 0),
        "the backup inside the tree is not an input: {r:?}"
    );
}

// ---- kill -9 ------------------------------------------------------------------------------

const CHILD_ENV: &str = "FLX_SYNC_CRASH_CHILD";

/// Not a test on its own: the body of the child process that `kill_9_then_rerun_charges_each_image_once`
/// starts and kills. It syncs, prints one line per file event, and after `KILL_AT` events
/// (0: right after the plan) says so and waits to be killed.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (base, src, out, kill_at) = (
        parts[0],
        parts[1],
        parts[2],
        parts[3].parse::<usize>().unwrap(),
    );
    // With a backup folder: in place, to JPEG (the originals are replaced); else to WebP.
    let (opts, sync) = match parts.get(4).filter(|b| !b.is_empty()) {
        Some(backup) => (
            CompressOptions {
                format: Format::Jpg,
                quality: 60,
                ..Default::default()
            },
            SyncOptions {
                backup_dir: Some(PathBuf::from(backup)),
                ..Default::default()
            },
        ),
        None => (webp(), SyncOptions::default()),
    };
    let client = Client::new(
        Some(builtin_key(AGENCY)),
        fluximage::Config {
            base_url: base.into(),
            concurrency: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut files = 0usize;
    let stdout = std::io::stdout();
    let wait = |n: usize| {
        let mut lock = stdout.lock();
        writeln!(lock, "FLX-CHILD KILLME {n}").unwrap();
        lock.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(60));
    };
    client
        .sync(
            Path::new(src),
            Path::new(out),
            &opts,
            &sync,
            &mut |e| match e {
                SyncEvent::Planned { .. } if kill_at == 0 => wait(0),
                SyncEvent::File(_) => {
                    files += 1;
                    if files == kill_at {
                        wait(files);
                    }
                }
                _ => {}
            },
            &mut Observer::none(),
        )
        .unwrap();
    println!("FLX-CHILD DONE");
}

/// Runs the child until it asks to be killed, then kills it with SIGKILL.
fn run_child_and_kill(emu: &Emulator, src: &Path, out: &Path, kill_at: usize) {
    run_child_and_kill_with(emu, src, out, None, kill_at)
}

fn run_child_and_kill_with(
    emu: &Emulator,
    src: &Path,
    out: &Path,
    backup: Option<&Path>,
    kill_at: usize,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(
            CHILD_ENV,
            format!(
                "{}|{}|{}|{kill_at}|{}",
                emu.base_url(),
                src.display(),
                out.display(),
                backup.map(|b| b.display().to_string()).unwrap_or_default()
            ),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut asked = false;
    for line in reader.lines() {
        let line = line.unwrap();
        if line.contains("FLX-CHILD KILLME") {
            asked = true;
            child.kill().unwrap(); // SIGKILL
            break;
        }
        assert!(
            !line.contains("FLX-CHILD DONE"),
            "the child finished before event {kill_at}"
        );
    }
    let status = child.wait().unwrap();
    assert!(asked, "the child never reached event {kill_at}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
}

#[test]
fn kill_9_then_rerun_charges_each_image_once() {
    let emu = emulator();
    let (src, out) = (TempDir::new("sync-kill-src"), TempDir::new("sync-kill-out"));
    for i in 0..60 {
        put(src.path(), &format!("d{}/p{i:02}.png", i % 3), i);
    }
    // After the plan; in the middle of the first request's results; right at its end; in the
    // middle of the third request.
    // Credits charged when the kill lands: at most the requests already answered.
    for (kill_at, charged) in [(0, 0), (7, 20), (20, 20), (45, 60)] {
        run_child_and_kill(&emu, src.path(), out.path(), kill_at);
        assert_eq!(
            credits(&emu, AGENCY),
            charged,
            "after the kill at event {kill_at}"
        );
        if kill_at == 7 {
            // The answer of the request in progress was journaled before its downloads.
            let journal = std::fs::read_to_string(out.join(".fluximage-sync.journal")).unwrap();
            assert!(journal.contains("\"kind\":\"pending\""), "{journal}");
        }
    }
    let client = client_with(&emu, AGENCY, |c| c.concurrency = 1);
    let (r, events) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(r.failed + r.conflicts, 0, "{events:?}");
    assert_eq!(r.up_to_date + r.compressed, 60, "{r:?}");
    assert_eq!(
        credits(&emu, AGENCY),
        60,
        "each image charged exactly once over all the runs"
    );
    let files = listing(out.path());
    assert!(
        files
            .iter()
            .all(|f| !f.contains("flx-sync-tmp") && !f.contains("journal")),
        "no temporary file left: {files:?}"
    );
    assert_eq!(files.len(), 61, "60 outputs and the manifest");
    for f in files.iter().filter(|f| f.ends_with(".webp")) {
        let bytes = std::fs::read(out.join(f)).unwrap();
        image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{f} is corrupt: {e}"));
    }
    let (r, _) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!((r.up_to_date, r.requests), (60, 0));
}

#[test]
fn progress_and_cancel_come_through_the_observer() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (
        TempDir::new("sync-cancel-src"),
        TempDir::new("sync-cancel-out"),
    );
    for i in 0..4 {
        put(src.path(), &format!("p{i}.png"), i);
    }
    let token = fluximage::CancelToken::new();
    token.cancel();
    let e = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut Observer::none().with_cancel(token),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(credits(&emu, AGENCY), 0);
    let thread = std::thread::current().id();
    let mut calls = 0;
    let mut obs = Observer::none().with_progress(|p| {
        assert_eq!(std::thread::current().id(), thread);
        assert!(p.done <= p.total);
        calls += 1;
        true
    });
    let r = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut obs,
        )
        .unwrap();
    drop(obs);
    assert_eq!(r.compressed, 4);
}

#[test]
fn leftovers_of_a_crash_are_cleaned_and_a_watermark_change_redoes_all() {
    let emu = emulator();
    let client = client(&emu, AGENCY);
    let (src, out) = (TempDir::new("sync-left-src"), TempDir::new("sync-left-out"));
    put(src.path(), "a.png", 1);
    put(src.path(), "b.png", 2);
    let wm = src.join("wm.png");
    let wm_opts = |seed: u32| {
        std::fs::write(&wm, photo_png(8, 8, seed)).unwrap();
        CompressOptions {
            watermark: Some(fluximage::Watermark::new(&wm)),
            ..webp()
        }
    };
    let only_ab = SyncOptions {
        exclude: vec!["wm.png".into()],
        ..Default::default()
    };
    let (r, _) = run(&client, src.path(), out.path(), &wm_opts(1), &only_ab);
    assert_eq!(r.compressed, 2);
    // What a kill can leave: a half-written compaction, a torn journal line, a temporary output.
    std::fs::write(out.join(".fluximage-sync.tmp"), b"{\"format\":\"fluxim").unwrap();
    std::fs::write(
        out.join(".fluximage-sync.journal"),
        b"{\"format\":\"fluximage-sync\",\"version\":1}\n{\"in\":\"a.p",
    )
    .unwrap();
    std::fs::remove_file(out.join("b.webp")).unwrap();
    std::fs::write(out.join(".b.webp.flx-sync-tmp"), b"half a result").unwrap();
    let (r, events) = run(&client, src.path(), out.path(), &wm_opts(1), &only_ab);
    assert_eq!((r.up_to_date, r.compressed), (1, 1), "{events:?}");
    assert_eq!(
        listing(out.path()),
        vec![".fluximage-sync", "a.webp", "b.webp"],
        "nothing left behind"
    );
    // Another watermark picture, same settings: every output changes.
    let (r, _) = run(&client, src.path(), out.path(), &wm_opts(2), &only_ab);
    assert_eq!(r.compressed, 2, "{r:?}");

    // In place must name the source folder as the output, so a typo cannot turn into it.
    let e = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions {
                in_place: true,
                backup_dir: Some(out.join("bak")),
                ..Default::default()
            },
            &mut |_| {},
            &mut Observer::none(),
        )
        .unwrap_err();
    assert!(
        e.message()
            .contains("in place writes into the source folder"),
        "{}",
        e.message()
    );
}

#[test]
fn a_cancel_during_a_request_ends_promptly_and_the_rerun_finishes() {
    use fluximage_emulator::{Fault, FaultMode, FaultPath};
    let emu = emulator();
    let client = client_with(&emu, AGENCY, |c| c.concurrency = 1);
    let (src, out) = (TempDir::new("sync-stop-src"), TempDir::new("sync-stop-out"));
    for i in 0..25 {
        put(src.path(), &format!("p{i:02}.png"), i);
    }
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_delay_ms(3000)
            .with_path(FaultPath::Compress),
    );
    let start = std::time::Instant::now();
    let mut obs =
        Observer::none().with_progress(|_| start.elapsed() < std::time::Duration::from_millis(300));
    let e = client
        .sync(
            src.path(),
            out.path(),
            &webp(),
            &SyncOptions::default(),
            &mut |_| {},
            &mut obs,
        )
        .unwrap_err();
    drop(obs);
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(
        start.elapsed() < std::time::Duration::from_millis(1500),
        "took {:?}",
        start.elapsed()
    );
    assert!(listing(out.path()).is_empty(), "nothing half-done is left");
    let (r, _) = run(
        &client,
        src.path(),
        out.path(),
        &webp(),
        &SyncOptions::default(),
    );
    assert_eq!(r.compressed, 25, "{r:?}");
    assert_eq!(
        credits(&emu, AGENCY),
        25,
        "the stalled request was not charged, nothing twice"
    );
}

#[test]
fn kill_9_in_place_then_rerun_replaces_each_original_once() {
    let emu = emulator();
    let (site, backup) = (
        TempDir::new("sync-kill-ip"),
        TempDir::new("sync-kill-ip-bak"),
    );
    let mut originals = Vec::new();
    for i in 0..40 {
        let img = image::load_from_memory(&photo_png(48, 32, i))
            .unwrap()
            .to_rgb8();
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 100)
            .encode_image(&img)
            .unwrap();
        let rel = format!("d{}/p{i:02}.jpg", i % 2);
        std::fs::create_dir_all(site.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(site.join(&rel), &jpg).unwrap();
        originals.push((rel, jpg));
    }
    // In the middle of the first request's results (the worker may have replaced more files
    // than were recorded), then in the middle of the second.
    for (kill_at, charged) in [(7, 20), (25, 40)] {
        run_child_and_kill_with(&emu, site.path(), site.path(), Some(backup.path()), kill_at);
        assert_eq!(
            credits(&emu, AGENCY),
            charged,
            "after the kill at event {kill_at}"
        );
    }
    let client = client_with(&emu, AGENCY, |c| c.concurrency = 1);
    let jpg = CompressOptions {
        format: Format::Jpg,
        quality: 60,
        ..Default::default()
    };
    let sync = SyncOptions {
        backup_dir: Some(backup.path().to_path_buf()),
        ..Default::default()
    };
    let (r, events) = run(&client, site.path(), site.path(), &jpg, &sync);
    assert_eq!(r.failed + r.conflicts + r.skipped, 0, "{events:?}");
    assert_eq!(
        credits(&emu, AGENCY),
        40,
        "each original compressed exactly once"
    );
    for (rel, original) in &originals {
        assert_eq!(
            &std::fs::read(backup.join(rel)).unwrap(),
            original,
            "{rel} backed up intact"
        );
        let now = std::fs::read(site.join(rel)).unwrap();
        assert!(
            now.len() < original.len(),
            "{rel} was replaced by its result"
        );
        image::load_from_memory(&now).unwrap_or_else(|e| panic!("{rel} is corrupt: {e}"));
    }
    let files = listing(site.path());
    assert_eq!(
        files.len(),
        41,
        "40 images and the manifest, nothing else: {files:?}"
    );
    let (r, _) = run(&client, site.path(), site.path(), &jpg, &sync);
    assert_eq!((r.up_to_date, r.requests), (40, 0));
}
