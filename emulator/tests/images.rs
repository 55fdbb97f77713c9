//! The real image work: every output format, downscaling, watermark, AI stand-in text.

mod common;

use common::*;
use image::{GenericImageView, RgbImage};

fn magic_ok(format: &str, b: &[u8]) -> bool {
    match format {
        "webp" => b.len() > 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP",
        "avif" => b.len() > 12 && &b[4..8] == b"ftyp" && &b[8..12] == b"avif",
        "jpg" => b.starts_with(&[0xFF, 0xD8, 0xFF]),
        "png" => b.starts_with(b"\x89PNG\r\n\x1a\n"),
        _ => false,
    }
}

#[test]
fn every_format_decodes_and_is_smaller_than_the_png_input() {
    let emu = start_default();
    // AVIF encoding is slow in unoptimized builds: keep the photo small but photo-like.
    let input = photo_png(160, 120);
    for (format, mime) in [
        ("webp", "image/webp"),
        ("avif", "image/avif"),
        ("jpg", "image/jpeg"),
        ("png", "image/png"),
    ] {
        let r = compress(
            &emu.base_url(),
            Form::new()
                .file("photo.png", &input)
                .field("format", format),
        );
        let e = first(&r);
        assert_eq!(e["format"], format);
        assert_eq!(e["name"], format!("photo.{format}"));
        let got = get(e["url"].as_str().unwrap(), &[]);
        assert_eq!(got.status, 200);
        assert_eq!(got.header("content-type"), Some(mime));
        let bytes = got.body;
        assert_eq!(bytes.len() as u64, e["size"].as_u64().unwrap());
        assert!(magic_ok(format, &bytes), "{format}: bad magic");
        assert!(
            bytes.len() < input.len(),
            "{format}: {} not smaller than {}",
            bytes.len(),
            input.len()
        );
        assert_eq!(
            (e["width"].as_u64(), e["height"].as_u64()),
            (Some(160), Some(120))
        );
        if format != "avif" {
            // The test decoder has no AVIF support; its magic bytes were checked above.
            let img = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(img.dimensions(), (160, 120));
        }
    }
}

#[test]
fn quality_changes_lossy_size() {
    let emu = start_default();
    let input = photo_png(200, 150);
    for format in ["webp", "jpg"] {
        let size = |q: &str| {
            first(&compress(
                &emu.base_url(),
                Form::new()
                    .file("p.png", &input)
                    .field("format", format)
                    .field("quality", q),
            ))["size"]
                .as_u64()
                .unwrap()
        };
        assert!(size("40") < size("100"), "{format}");
    }
}

#[test]
fn inputs_in_every_decodable_format() {
    let emu = start_default();
    let img = photo(48, 32);
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![("a.png", png_fast(&img))];
    for (name, fmt) in [
        ("b.jpg", image::ImageFormat::Jpeg),
        ("c.gif", image::ImageFormat::Gif),
        ("d.webp", image::ImageFormat::WebP),
    ] {
        let mut buf = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img.clone())
            .to_rgba8()
            .write_to(&mut buf, fmt)
            .or_else(|_| image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut buf, fmt))
            .unwrap();
        inputs.push((name, buf.into_inner()));
    }
    let mut form = Form::new().field("format", "png");
    for (name, data) in &inputs {
        form = form.file(name, data);
    }
    let v = compress(&emu.base_url(), form).json();
    for (i, (name, _)) in inputs.iter().enumerate() {
        let e = &v["results"][i];
        assert!(e.get("error").is_none(), "{name}: {e}");
        assert_eq!(e["width"], 48, "{name}");
        assert_eq!(e["height"], 32, "{name}");
    }
}

#[test]
fn downscale_keeps_aspect_and_never_enlarges() {
    let emu = start_default();
    let input = photo_png(200, 100);
    let dims = |fields: &[(&str, &str)]| {
        let mut form = Form::new().file("p.png", &input).field("format", "png");
        for (k, v) in fields {
            form = form.field(k, v);
        }
        let e = first(&compress(&emu.base_url(), form));
        let bytes = fetch(e["url"].as_str().unwrap());
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (
                e["width"].as_u64().unwrap() as u32,
                e["height"].as_u64().unwrap() as u32
            ),
            img.dimensions()
        );
        img.dimensions()
    };
    assert_eq!(dims(&[]), (200, 100));
    assert_eq!(dims(&[("maxWidth", "100")]), (100, 50));
    assert_eq!(dims(&[("maxHeight", "25")]), (50, 25));
    assert_eq!(
        dims(&[("maxWidth", "100"), ("maxHeight", "100")]),
        (100, 50)
    );
    assert_eq!(dims(&[("maxWidth", "1000")]), (200, 100));
    assert_eq!(
        dims(&[("maxWidth", "5000"), ("maxHeight", "5000")]),
        (200, 100)
    );
    assert_eq!(dims(&[("maxHeight", "100")]), (200, 100));
}

fn decode_png_result(e: &serde_json::Value) -> RgbImage {
    let bytes = fetch(e["url"].as_str().unwrap());
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

fn region_diff(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> u64 {
    let mut d = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            for c in 0..3 {
                d += (p[c] as i64 - q[c] as i64).unsigned_abs();
            }
        }
    }
    d
}

#[test]
fn watermark_changes_pixels_where_placed() {
    let emu = start_default();
    let input = photo_png(200, 100);
    let wm = watermark_png();
    let run = |extra: &[(&str, &str)], with_wm: bool| {
        let mut form = Form::new().file("p.png", &input).field("format", "png");
        if with_wm {
            form = form.watermark(&wm);
        }
        for (k, v) in extra {
            form = form.field(k, v);
        }
        decode_png_result(&first(&compress(&emu.base_url(), form)))
    };
    let plain = run(&[], false);
    // Default: bottom right, 20% of the width (40 px wide, 20 px high).
    let br = run(&[], true);
    assert!(region_diff(&plain, &br, 150, 70, 200, 100) > 10_000);
    assert_eq!(region_diff(&plain, &br, 0, 0, 100, 50), 0);
    // Top left.
    let tl = run(&[("watermarkPosition", "TL")], true);
    assert!(region_diff(&plain, &tl, 0, 0, 50, 30) > 10_000);
    assert_eq!(region_diff(&plain, &tl, 100, 50, 200, 100), 0);
    // Middle centre.
    let mc = run(&[("watermarkPosition", "MC")], true);
    assert!(region_diff(&plain, &mc, 80, 40, 120, 60) > 10_000);
    // Opacity 0 changes nothing; 50 changes less than 100.
    let none = run(&[("watermarkOpacity", "0")], true);
    assert_eq!(region_diff(&plain, &none, 0, 0, 200, 100), 0);
    let half = run(&[("watermarkOpacity", "50")], true);
    let full_d = region_diff(&plain, &br, 0, 0, 200, 100);
    let half_d = region_diff(&plain, &half, 0, 0, 200, 100);
    assert!(half_d > 0 && half_d < full_d, "{half_d} vs {full_d}");
    // A bigger scale covers more pixels.
    let big = run(&[("watermarkScale", "50")], true);
    let changed = |img: &RgbImage| {
        img.pixels()
            .zip(plain.pixels())
            .filter(|(a, b)| a != b)
            .count()
    };
    assert!(changed(&big) > 3 * changed(&br));
}

#[test]
fn ai_text_is_deterministic_from_size_and_colour() {
    let emu = start_default();
    let blue = solid_png(64, 48, [20, 40, 200]);
    let form = || {
        Form::new()
            .file("sky.png", &blue)
            .field("altText", "true")
            .field("seoRename", "true")
    };
    let e = first(&compress(&emu.base_url(), form()));
    assert_eq!(e["altText"], "A 64×48 image, mostly blue");
    assert_eq!(e["seoName"], "blue-image-64x48.webp");
    assert_eq!(e["name"], "sky.webp");
    let again = first(&compress(&emu.base_url(), form()));
    assert_eq!(again["altText"], e["altText"]);
    // Only what was asked for is filled in.
    let e = first(&compress(
        &emu.base_url(),
        Form::new()
            .file("sky.png", &blue)
            .field("seoRename", "true")
            .field("maxWidth", "32"),
    ));
    assert_eq!(e["altText"], serde_json::Value::Null);
    assert_eq!(e["seoName"], "blue-image-32x24.webp");
    let red = solid_png(10, 10, [220, 20, 20]);
    let e = first(&compress(
        &emu.base_url(),
        Form::new()
            .file("r.png", &red)
            .field("altText", "true")
            .field("format", "png"),
    ));
    assert_eq!(e["altText"], "A 10×10 image, mostly red");
}

#[test]
fn failed_image_is_not_charged_and_others_succeed() {
    let emu = start_default();
    let key = fluximage_emulator::builtin_key("agency");
    let form = Form::new()
        .file("ok.png", &photo_png(20, 20))
        .file("empty.png", b"")
        .file("broken.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10])
        .field("altText", "true");
    let v = compress(&emu.base_url(), form).json();
    assert!(v["results"][0]["url"].is_string());
    assert_eq!(v["results"][1]["error"], "cannot decode image");
    assert_eq!(v["results"][2]["error"], "cannot decode image");
    let stats = emu.stats();
    assert_eq!(stats["credits"][key]["compress"], 1);
    assert_eq!(stats["credits"][key]["ai"], 1);
    let u = usage(&emu.base_url(), &agency()).json();
    assert_eq!(u["compressor_used"], 1);
    assert_eq!(u["ia_credits_used"], 1);
}

#[test]
fn avif_input_fails_only_its_own_entry() {
    // AVIF decoding is not built in (see README): an AVIF upload is a per-image failure.
    let emu = start_default();
    let avif = {
        let e = first(&compress(
            &emu.base_url(),
            Form::new()
                .file("s.png", &photo_png(16, 16))
                .field("format", "avif"),
        ));
        fetch(e["url"].as_str().unwrap())
    };
    let v = compress(
        &emu.base_url(),
        Form::new()
            .file("in.avif", &avif)
            .file("ok.png", &photo_png(8, 8)),
    )
    .json();
    let first_entry = &v["results"][0];
    assert!(
        first_entry["error"] == "cannot decode image" || first_entry["url"].is_string(),
        "{first_entry}"
    );
    assert!(v["results"][1]["url"].is_string());
}
