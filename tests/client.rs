//! The client end to end against the emulator: real HTTP, real encoding, real files.

mod common;

use common::*;
use fluximage::{CompressOptions, ErrorKind, ExistsPolicy, Format, Input, Observer, Watermark};
use fluximage_emulator::{EmulatorConfig, Encode, Shape};

fn none() -> Observer<'static> {
    Observer::none()
}

#[test]
fn every_format_round_trips_and_shrinks_a_photo() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("formats");
    let input = write_photo(&dir, "photo.png", 1);
    let original = std::fs::metadata(&input).unwrap().len();
    for format in Format::ALL {
        let opts = CompressOptions {
            format,
            ..Default::default()
        };
        let batch = c
            .compress(&[Input::path(&input)], &opts, &mut none())
            .unwrap();
        batch.status().unwrap();
        let info = batch.items[0].outcome.as_ref().unwrap();
        assert_eq!(info.name, format!("photo.{}", format.as_str()));
        let bytes = c.fetch(info, &mut none()).unwrap();
        assert_eq!(
            sniff(&bytes),
            format.as_str(),
            "{format:?} output is really {format:?}"
        );
        assert_eq!(info.size, Some(bytes.len() as u64));
        assert_eq!(info.original_size, Some(original));
        if format != Format::Png {
            assert!(
                (bytes.len() as u64) < original,
                "{format:?}: {} >= {original}",
                bytes.len()
            );
        }
    }
}

#[test]
fn resize_never_enlarges_and_keeps_aspect() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("resize");
    let input = write_photo(&dir, "wide.png", 2); // 320x200
    let opts = CompressOptions {
        format: Format::Png,
        max_width: Some(160),
        ..Default::default()
    };
    let b = c
        .compress(&[Input::path(&input)], &opts, &mut none())
        .unwrap();
    let info = b.items[0].outcome.as_ref().unwrap();
    assert_eq!((info.width, info.height), (Some(160), Some(100)));
    let decoded = image::load_from_memory(&c.fetch(info, &mut none()).unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (160, 100));
    let opts = CompressOptions {
        max_width: Some(5000),
        max_height: Some(5000),
        ..Default::default()
    };
    let b = c
        .compress(&[Input::path(&input)], &opts, &mut none())
        .unwrap();
    let info = b.items[0].outcome.as_ref().unwrap();
    assert_eq!((info.width, info.height), (Some(320), Some(200)));
}

#[test]
fn watermark_and_ai_on_a_paid_plan_and_forbidden_on_free() {
    let emu = emulator();
    let dir = TempDir::new("paid");
    let input = write_photo(&dir, "p.png", 3);
    let mark = dir.join("mark.png");
    std::fs::write(&mark, photo_png(40, 20, 9)).unwrap();
    let opts = CompressOptions {
        watermark: Some(Watermark::new(&mark)),
        alt_text: true,
        seo_rename: true,
        session_id: Some("my-session".into()),
        ..Default::default()
    };
    let b = client(&emu, AGENCY)
        .compress(&[Input::path(&input)], &opts, &mut none())
        .unwrap();
    let info = b.items[0].outcome.as_ref().unwrap();
    assert!(
        info.alt_text.as_deref().is_some_and(|t| !t.is_empty()),
        "{info:?}"
    );
    assert!(
        info.seo_name.as_deref().is_some_and(|t| !t.is_empty()),
        "{info:?}"
    );
    assert_eq!(b.session_id.as_deref(), Some("my-session"));

    let e = client(&emu, "free")
        .compress(&[Input::path(&input)], &opts, &mut none())
        .and_then(|b| b.status())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.http_status(), Some(403));
    assert_eq!(
        credits(&emu, "free"),
        0,
        "nothing charged for a refused request"
    );
}

#[test]
fn unknown_and_rolled_keys_are_unauthorized() {
    let rolled = "flx_live_0123456789abcdef0123456789abcdef01234567";
    let emu = emulator_with(EmulatorConfig {
        rolled: vec![rolled.into()],
        ..Default::default()
    });
    for key in ["flx_live_ffffffffffffffffffffffffffffffffffffffff", rolled] {
        let c = fluximage::Client::new(
            Some(key),
            fluximage::Config {
                base_url: emu.base_url(),
                ..Default::default()
            },
        )
        .unwrap();
        let e = c.usage(&mut none()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(e.http_status(), Some(401));
        assert!(e.message().contains("FLUXIMAGE_API_KEY"), "{}", e.message());
        assert!(
            !e.message().contains(key),
            "the key never appears in messages"
        );
        assert!(!format!("{c:?}").contains(key));
    }
}

#[test]
fn a_broken_image_fails_only_itself_and_order_is_kept() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| cfg.concurrency = 2);
    let dir = TempDir::new("batch");
    let mut inputs = Vec::new();
    for i in 0..25 {
        if i == 17 {
            let p = dir.join("broken.png");
            std::fs::write(&p, b"this is not an image").unwrap();
            inputs.push(Input::path(p));
        } else {
            inputs.push(Input::bytes(format!("img{i:02}.png"), photo_png(48, 32, i)));
        }
    }
    let batch = c
        .compress(&inputs, &CompressOptions::default(), &mut none())
        .unwrap();
    assert_eq!(batch.items.len(), 25);
    assert_eq!(batch.status().unwrap_err().kind(), ErrorKind::Partial);
    assert_eq!(batch.failed(), 1);
    for (i, item) in batch.items.iter().enumerate() {
        if i == 17 {
            let e = item.outcome.as_ref().unwrap_err();
            assert!(e.message().contains("cannot decode"), "{}", e.message());
        } else {
            let info = item.outcome.as_ref().unwrap();
            assert_eq!(
                info.original_name.as_deref(),
                Some(format!("img{i:02}.png").as_str())
            );
        }
    }
    assert_eq!(
        stat(&emu, "requests", "compress"),
        2,
        "25 files go as 20 + 5"
    );
    assert_eq!(credits(&emu, AGENCY), 24, "the broken image costs nothing");
    assert!(
        batch.raw_json.starts_with('['),
        "two answers kept as a JSON array"
    );
}

#[test]
fn local_checks_cost_nothing() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("local");
    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let big = dir.join("big.png");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(fluximage::MAX_FILE_BYTES + 1)
        .unwrap();
    let good = write_photo(&dir, "good.png", 4);
    let inputs = [
        Input::path(&empty),
        Input::path(dir.join("missing.png")),
        Input::path(&big),
        Input::path(dir.path()),
        Input::path(&good),
    ];
    let b = c
        .compress(&inputs, &CompressOptions::default(), &mut none())
        .unwrap();
    let kinds: Vec<_> = b
        .items
        .iter()
        .map(|i| i.outcome.as_ref().err().map(|e| e.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ErrorKind::InvalidArgument),
            Some(ErrorKind::Io),
            Some(ErrorKind::TooLarge),
            Some(ErrorKind::InvalidArgument),
            None
        ]
    );
    assert_eq!(credits(&emu, AGENCY), 1);

    // Nothing sendable: the batch still says which input failed and why; the call's status
    // (all failed, not alike) is the first failure.
    let b = c
        .compress(&inputs[..2], &CompressOptions::default(), &mut none())
        .unwrap();
    assert_eq!(b.items.len(), 2);
    assert_eq!(
        b.items[1].outcome.as_ref().unwrap_err().kind(),
        ErrorKind::Io
    );
    let e = b.status().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message().starts_with("all 2 images failed; first: "),
        "{}",
        e.message()
    );
    let e = c
        .compress(
            &[Input::path(&good)],
            &CompressOptions {
                quality: 101,
                ..Default::default()
            },
            &mut none(),
        )
        .unwrap_err();
    assert!(
        e.message().contains("quality must be between 40 and 100"),
        "{}",
        e.message()
    );
    assert_eq!(stat(&emu, "requests", "compress"), 1);
}

#[test]
fn usage_moves_with_compressions() {
    let emu = emulator();
    let c = client(&emu, "starter");
    let before = c.usage(&mut none()).unwrap();
    assert_eq!(before.plan.as_deref(), Some("starter"));
    assert_eq!(before.can_compress, Some(true));
    let b = c
        .compress(
            &[
                Input::bytes("a.png", photo_png(16, 16, 1)),
                Input::bytes("b.png", photo_png(16, 16, 2)),
            ],
            &CompressOptions {
                alt_text: true,
                ..Default::default()
            },
            &mut none(),
        )
        .unwrap();
    b.status().unwrap();
    let after = c.usage(&mut none()).unwrap();
    assert_eq!(
        after.compressions_used.unwrap(),
        before.compressions_used.unwrap() + 2
    );
    assert_eq!(
        after.ai_credits_used.unwrap(),
        before.ai_credits_used.unwrap() + 2
    );
    assert_eq!(
        after.ai_credits_remaining.unwrap(),
        before.ai_credits_remaining.unwrap() - 2
    );
    assert!(after.raw_json.contains("canCompress"));
}

#[test]
fn free_plan_quota_runs_out_with_a_clear_error() {
    let emu = emulator();
    let c = client(&emu, "free");
    let inputs: Vec<Input> = (0..20)
        .map(|i| Input::bytes(format!("{i}.png"), photo_png(8, 8, i)))
        .collect();
    c.compress(&inputs, &CompressOptions::default(), &mut none())
        .unwrap()
        .status()
        .unwrap();
    let e = c
        .compress(&inputs[..1], &CompressOptions::default(), &mut none())
        .and_then(|b| b.status())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(c.usage(&mut none()).unwrap().can_compress, Some(false));
}

#[test]
fn save_writes_into_folders_and_never_over_the_input() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("save");
    let input = write_photo(&dir, "cat.png", 5);
    let original = std::fs::read(&input).unwrap();
    let png = CompressOptions {
        format: Format::Png,
        ..Default::default()
    };
    let b = c
        .compress(&[Input::path(&input)], &png, &mut none())
        .unwrap();
    for policy in [ExistsPolicy::Error, ExistsPolicy::Overwrite] {
        let e = c
            .save(&b.items[0], dir.path(), policy, &mut none())
            .unwrap_err();
        assert!(
            e.message().contains("refusing to overwrite the original"),
            "{}",
            e.message()
        );
    }
    assert_eq!(std::fs::read(&input).unwrap(), original);
    let out = TempDir::new("save-out");
    let written = c
        .save(&b.items[0], out.path(), ExistsPolicy::Error, &mut none())
        .unwrap();
    assert_eq!(written, out.join("cat.png"));
    assert_eq!(sniff(&std::fs::read(&written).unwrap()), "png");
    let named = out.join("renamed.bin");
    assert_eq!(
        c.save(&b.items[0], &named, ExistsPolicy::Error, &mut none())
            .unwrap(),
        named
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        2,
        "no temporary files left behind"
    );
}

/// Issue 12, defect 1: an unrelated file with the result's name was silently replaced.
#[test]
fn an_existing_file_is_never_replaced_unless_asked() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("exists");
    let input = write_photo(&dir, "a.jpg", 7);
    let unrelated = dir.join("a.webp");
    std::fs::write(&unrelated, b"an unrelated lossless original").unwrap();
    let b = c
        .compress(
            &[Input::path(&input)],
            &CompressOptions::default(),
            &mut none(),
        )
        .unwrap();
    let e = c
        .save(&b.items[0], dir.path(), ExistsPolicy::Error, &mut none())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(
        e.message().contains("a.webp already exists"),
        "{}",
        e.message()
    );
    assert_eq!(
        std::fs::read(&unrelated).unwrap(),
        b"an unrelated lossless original"
    );
    assert_eq!(
        stat(&emu, "requests", "download"),
        0,
        "refused before downloading"
    );
    let renamed = c
        .save(&b.items[0], dir.path(), ExistsPolicy::Rename, &mut none())
        .unwrap();
    assert_eq!(renamed, dir.join("a-2.webp"));
    assert_eq!(
        std::fs::read(&unrelated).unwrap(),
        b"an unrelated lossless original"
    );
    let replaced = c
        .save(
            &b.items[0],
            dir.path(),
            ExistsPolicy::Overwrite,
            &mut none(),
        )
        .unwrap();
    assert_eq!(replaced, unrelated);
    assert_eq!(sniff(&std::fs::read(&unrelated).unwrap()), "webp");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "a.jpg, a.webp, a-2.webp and no temporary file: {names:?}"
    );
}

/// Issue 12, defect 1: two results of one batch with the same name (two cover.jpg from
/// different folders) ended as one file.
#[test]
fn results_of_one_batch_never_replace_each_other() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("siblings");
    std::fs::create_dir_all(dir.join("x")).unwrap();
    std::fs::create_dir_all(dir.join("y")).unwrap();
    let a = write_photo(&dir, "x/cover.jpg", 8);
    let b2 = write_photo(&dir, "y/cover.jpg", 9);
    let b = c
        .compress(
            &[Input::path(&a), Input::path(&b2)],
            &CompressOptions::default(),
            &mut none(),
        )
        .unwrap();
    let out = dir.join("out/");
    let first = c
        .save(&b.items[0], &out, ExistsPolicy::Overwrite, &mut none())
        .unwrap();
    assert_eq!(first, dir.join("out/cover.webp"));
    let kept = std::fs::read(&first).unwrap();
    let e = c
        .save(&b.items[1], &out, ExistsPolicy::Overwrite, &mut none())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists);
    assert!(
        e.message().contains("another result of this batch"),
        "{}",
        e.message()
    );
    assert_eq!(std::fs::read(&first).unwrap(), kept);
    let second = c
        .save(&b.items[1], &out, ExistsPolicy::Rename, &mut none())
        .unwrap();
    assert_eq!(second, dir.join("out/cover-2.webp"));
    assert_ne!(
        std::fs::read(&second).unwrap(),
        kept,
        "two different results, two files"
    );
}

/// Issue 12, defects 2 and 9: missing folders are created, and dimensions the server did
/// not state (the pass-through emulator states none) are read from the saved image's header.
#[test]
fn save_creates_folders_and_learns_dimensions_from_the_image() {
    let emu = emulator_with(EmulatorConfig {
        encode: Encode::None,
        ..Default::default()
    });
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("learn");
    let pixels = image::RgbImage::from_fn(37, 23, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 11) as u8, 90])
    });
    for (ext, format) in [
        ("png", image::ImageFormat::Png),
        ("jpg", image::ImageFormat::Jpeg),
        ("gif", image::ImageFormat::Gif),
        ("webp", image::ImageFormat::WebP),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(pixels.clone())
            .write_to(&mut bytes, format)
            .unwrap();
        let b = c
            .compress(
                &[Input::bytes(format!("in.{ext}"), bytes.into_inner())],
                &CompressOptions::default(),
                &mut none(),
            )
            .unwrap();
        let item = &b.items[0];
        let info = item.outcome.as_ref().unwrap();
        assert_eq!(
            (info.width, info.height),
            (None, None),
            "the pass-through answer states no dimensions"
        );
        assert_eq!(item.dimensions(), None);
        let written = c
            .save(
                item,
                &dir.join(&format!("new/deeper/{ext}/")),
                ExistsPolicy::Error,
                &mut none(),
            )
            .unwrap();
        assert!(
            written.starts_with(dir.join("new/deeper")),
            "{}",
            written.display()
        );
        assert_eq!(
            item.dimensions(),
            Some((37, 23)),
            "{ext}: header read after the save"
        );
    }
}

/// The header reader agrees with the real encoders for every output format, AVIF included.
#[test]
fn dimensions_read_from_headers_match_the_encoders() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let input = Input::bytes("odd.png", photo_png(61, 35, 4));
    for format in Format::ALL {
        let b = c
            .compress(
                std::slice::from_ref(&input),
                &CompressOptions {
                    format,
                    ..Default::default()
                },
                &mut none(),
            )
            .unwrap();
        let info = b.items[0].outcome.as_ref().unwrap();
        let bytes = c.fetch(info, &mut none()).unwrap();
        assert_eq!(
            fluximage::image_dimensions(&bytes),
            Some((61, 35)),
            "{format:?}"
        );
        assert_eq!((info.width, info.height), (Some(61), Some(35)));
    }
}

#[test]
fn compress_file_checks_the_output_before_spending_a_credit() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let dir = TempDir::new("cfile");
    let input = write_photo(&dir, "in.png", 6);
    let opts = CompressOptions {
        format: Format::Jpg,
        ..Default::default()
    };
    std::fs::write(dir.join("plain"), b"a file, not a folder").unwrap();
    let e = c
        .compress_file(&input, &dir.join("plain/out.jpg"), &opts, &mut none())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("plain"), "{}", e.message());
    let e = c
        .compress_file(&input, &input, &opts, &mut none())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(credits(&emu, AGENCY), 0);
    let out = dir.join("out.jpg");
    let n = c.compress_file(&input, &out, &opts, &mut none()).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), n);
    assert_eq!(sniff(&std::fs::read(&out).unwrap()), "jpg");
    // A missing folder is created, as for every save.
    c.compress_file(&input, &dir.join("made/here/out.jpg"), &opts, &mut none())
        .unwrap();
    assert!(dir.join("made/here/out.jpg").is_file());
}

#[test]
fn hostile_file_names_arrive_intact() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    for name in [
        "ümlaut \"q\".png",
        "semi;colon=x.png",
        "back\\slash.png",
        "日本語.png",
    ] {
        let b = c
            .compress(
                &[Input::bytes(name, photo_png(8, 8, 3))],
                &CompressOptions::default(),
                &mut none(),
            )
            .unwrap();
        let info = b.items[0].outcome.as_ref().unwrap();
        assert_eq!(info.original_name.as_deref(), Some(name));
    }
}

#[test]
fn the_alternative_answer_shape_is_understood() {
    let emu = emulator_with(EmulatorConfig {
        shape: Shape::Alt,
        ..Default::default()
    });
    let c = client(&emu, AGENCY);
    let b = c
        .compress(
            &[Input::bytes("x.png", photo_png(20, 10, 1))],
            &CompressOptions::default(),
            &mut none(),
        )
        .unwrap();
    let info = b.items[0].outcome.as_ref().unwrap();
    assert_eq!(info.name, "x.webp");
    assert!(info.expires_unix.is_some());
    assert_eq!(sniff(&c.fetch(info, &mut none()).unwrap()), "webp");
}

#[test]
fn connections_are_reused_and_downloads_carry_no_key() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    for i in 0..5 {
        let b = c
            .compress(
                &[Input::bytes("k.png", photo_png(8, 8, i))],
                &CompressOptions::default(),
                &mut none(),
            )
            .unwrap();
        c.fetch(b.items[0].outcome.as_ref().unwrap(), &mut none())
            .unwrap();
        c.usage(&mut none()).unwrap();
    }
    assert_eq!(
        stat(&emu, "connections", "api"),
        1,
        "one keep-alive connection for 10 API calls"
    );
    assert_eq!(stat(&emu, "connections", "download"), 1);
    assert_eq!(stat(&emu, "authorization_seen", "download"), 0);
}

#[test]
fn progress_is_reported_on_the_calling_thread() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let me = std::thread::current().id();
    let mut calls = Vec::new();
    let mut obs = Observer::none().with_progress(|p| {
        assert_eq!(std::thread::current().id(), me);
        calls.push(p);
        true
    });
    let b = c
        .compress(
            &[Input::bytes("p.png", photo_png(200, 200, 1))],
            &CompressOptions::default(),
            &mut obs,
        )
        .unwrap();
    drop(obs);
    b.status().unwrap();
    let last = calls.last().unwrap();
    assert!(last.total > 0 && last.done == last.total, "{calls:?}");
}

#[test]
fn the_user_agent_names_the_library_and_the_application() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| {
        cfg.user_agent_suffix = Some("gimp-plugin/1.0".into())
    });
    c.usage(&mut none()).unwrap();
    let ua = emu.stats()["last_user_agent"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ua.starts_with(&format!("libfluximage/{} (", fluximage::VERSION)),
        "{ua}"
    );
    assert!(ua.ends_with(") gimp-plugin/1.0"), "{ua}");
}
