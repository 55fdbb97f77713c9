//! The real image work: decode, downscale, watermark, encode, and stand-in AI text.

use std::io::Cursor;

use image::codecs::avif::AvifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageReader, Limits, RgbaImage};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    Webp,
    Avif,
    Jpg,
    Png,
}

impl OutFormat {
    pub fn parse(s: &str) -> Option<OutFormat> {
        match s {
            "webp" => Some(OutFormat::Webp),
            "avif" => Some(OutFormat::Avif),
            "jpg" | "jpeg" => Some(OutFormat::Jpg),
            "png" => Some(OutFormat::Png),
            _ => None,
        }
    }

    /// Wire name and file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            OutFormat::Webp => "webp",
            OutFormat::Avif => "avif",
            OutFormat::Jpg => "jpg",
            OutFormat::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutFormat::Webp => "image/webp",
            OutFormat::Avif => "image/avif",
            OutFormat::Jpg => "image/jpeg",
            OutFormat::Png => "image/png",
        }
    }
}

/// Watermark position: row (T, M, B) and column (L, C, R).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub row: u8,
    pub col: u8,
}

impl Position {
    pub fn parse(s: &str) -> Option<Position> {
        let b = s.as_bytes();
        if b.len() != 2 {
            return None;
        }
        let row = match b[0] {
            b'T' => 0,
            b'M' => 1,
            b'B' => 2,
            _ => return None,
        };
        let col = match b[1] {
            b'L' => 0,
            b'C' => 1,
            b'R' => 2,
            _ => return None,
        };
        Some(Position { row, col })
    }
}

pub struct Watermark {
    pub image: RgbaImage,
    /// Percent of the image width, 5..=50.
    pub scale: u32,
    /// 0..=100.
    pub opacity: u32,
    pub position: Position,
}

pub struct Params {
    pub format: OutFormat,
    pub quality: u8,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub ai: bool,
}

pub struct Output {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub alt_text: Option<String>,
    pub seo_name: Option<String>,
}

pub const CANNOT_DECODE: &str = "cannot decode image";

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(20_000);
    l.max_image_height = Some(20_000);
    l.max_alloc = Some(1024 * 1024 * 1024);
    l
}

pub fn decode(input: &[u8]) -> Result<DynamicImage, &'static str> {
    let mut reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|_| CANNOT_DECODE)?;
    reader.limits(limits());
    reader.decode().map_err(|_| CANNOT_DECODE)
}

/// Decodes a watermark file, which must be a PNG.
pub fn decode_watermark(input: &[u8]) -> Result<RgbaImage, ()> {
    if !input.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(());
    }
    let mut reader = ImageReader::with_format(Cursor::new(input), image::ImageFormat::Png);
    reader.limits(limits());
    reader.decode().map(|d| d.to_rgba8()).map_err(|_| ())
}

/// Size that fits `max_w` x `max_h` keeping the aspect ratio; never larger than the original.
pub fn fit(w: u32, h: u32, max_w: Option<u32>, max_h: Option<u32>) -> (u32, u32) {
    let mut scale = 1.0f64;
    if let Some(mw) = max_w {
        scale = scale.min(mw as f64 / w as f64);
    }
    if let Some(mh) = max_h {
        scale = scale.min(mh as f64 / h as f64);
    }
    if scale >= 1.0 {
        return (w, h);
    }
    let nw = ((w as f64 * scale).round() as u32).clamp(1, w);
    let nh = ((h as f64 * scale).round() as u32).clamp(1, h);
    (
        nw.min(max_w.unwrap_or(u32::MAX)).max(1),
        nh.min(max_h.unwrap_or(u32::MAX)).max(1),
    )
}

pub fn process(input: &[u8], p: &Params, wm: Option<&Watermark>) -> Result<Output, &'static str> {
    let mut img = decode(input)?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(CANNOT_DECODE);
    }
    let (nw, nh) = fit(w, h, p.max_width, p.max_height);
    if (nw, nh) != (w, h) {
        img = img.resize_exact(nw, nh, FilterType::Triangle);
    }
    let has_alpha = img.color().has_alpha();
    if let Some(wm) = wm {
        let mut rgba = img.to_rgba8();
        apply_watermark(&mut rgba, wm);
        img = DynamicImage::ImageRgba8(rgba);
    }
    let (alt_text, seo_name) = if p.ai {
        let (alt, seo) = ai_text(&img, p.format);
        (Some(alt), Some(seo))
    } else {
        (None, None)
    };
    let bytes = encode(&img, has_alpha, p.format, p.quality)?;
    Ok(Output {
        bytes,
        width: img.width(),
        height: img.height(),
        alt_text,
        seo_name,
    })
}

fn encode(
    img: &DynamicImage,
    alpha: bool,
    format: OutFormat,
    quality: u8,
) -> Result<Vec<u8>, &'static str> {
    const FAIL: &str = "cannot encode image";
    let (w, h) = (img.width(), img.height());
    let mut out = Vec::new();
    match format {
        OutFormat::Webp => {
            if w > 16383 || h > 16383 {
                return Err("image too large for webp");
            }
            let mem = if alpha {
                let buf = img.to_rgba8();
                webp::Encoder::from_rgba(&buf, w, h).encode(f32::from(quality))
            } else {
                let buf = img.to_rgb8();
                webp::Encoder::from_rgb(&buf, w, h).encode(f32::from(quality))
            };
            out.extend_from_slice(&mem);
        }
        OutFormat::Avif => {
            let enc = AvifEncoder::new_with_speed_quality(&mut out, 10, quality)
                .with_num_threads(Some(1));
            if alpha {
                let buf = img.to_rgba8();
                enc.write_image(&buf, w, h, ExtendedColorType::Rgba8)
                    .map_err(|_| FAIL)?;
            } else {
                let buf = img.to_rgb8();
                enc.write_image(&buf, w, h, ExtendedColorType::Rgb8)
                    .map_err(|_| FAIL)?;
            }
        }
        OutFormat::Jpg => {
            let buf = img.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, quality)
                .write_image(&buf, w, h, ExtendedColorType::Rgb8)
                .map_err(|_| FAIL)?;
        }
        OutFormat::Png => {
            let enc =
                PngEncoder::new_with_quality(&mut out, CompressionType::Best, PngFilter::Adaptive);
            if alpha {
                let buf = img.to_rgba8();
                enc.write_image(&buf, w, h, ExtendedColorType::Rgba8)
                    .map_err(|_| FAIL)?;
            } else {
                let buf = img.to_rgb8();
                enc.write_image(&buf, w, h, ExtendedColorType::Rgb8)
                    .map_err(|_| FAIL)?;
            }
        }
    }
    Ok(out)
}

fn apply_watermark(img: &mut RgbaImage, wm: &Watermark) {
    let (w, h) = img.dimensions();
    let (ww, wh) = wm.image.dimensions();
    if ww == 0 || wh == 0 || wm.opacity == 0 {
        return;
    }
    let mut tw = ((w as u64 * wm.scale as u64) / 100).max(1) as u32;
    let mut th = ((wh as u64 * tw as u64 + ww as u64 / 2) / ww as u64).max(1) as u32;
    if th > h {
        // A very tall watermark: fit the height instead.
        th = h;
        tw = ((ww as u64 * th as u64) / wh as u64).clamp(1, w as u64) as u32;
    }
    let mark = imageops::resize(&wm.image, tw, th, FilterType::Triangle);
    let margin = ((w.min(h) as f64) * 0.02).round() as u32;
    let place = |slot: u8, outer: u32, inner: u32| -> u32 {
        let free = outer.saturating_sub(inner);
        match slot {
            0 => margin.min(free),
            1 => free / 2,
            _ => free.saturating_sub(margin),
        }
    };
    let x0 = place(wm.position.col, w, tw);
    let y0 = place(wm.position.row, h, th);
    let opacity = wm.opacity as f32 / 100.0;
    for (x, y, px) in mark.enumerate_pixels() {
        let (tx, ty) = (x0 + x, y0 + y);
        if tx >= w || ty >= h {
            continue;
        }
        let a = px[3] as f32 / 255.0 * opacity;
        if a <= 0.0 {
            continue;
        }
        let dst = img.get_pixel_mut(tx, ty);
        for c in 0..3 {
            dst[c] = (px[c] as f32 * a + dst[c] as f32 * (1.0 - a)).round() as u8;
        }
        let da = dst[3] as f32 / 255.0;
        dst[3] = ((a + da * (1.0 - a)) * 255.0).round() as u8;
    }
}

/// Deterministic stand-in for the AI: alt text and an SEO name from size and average colour.
pub fn ai_text(img: &DynamicImage, format: OutFormat) -> (String, String) {
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let step = ((w as u64 * h as u64) / 65_536).max(1) as usize;
    let (mut r, mut g, mut b, mut n) = (0u64, 0u64, 0u64, 0u64);
    for px in rgb.pixels().step_by(step) {
        r += px[0] as u64;
        g += px[1] as u64;
        b += px[2] as u64;
        n += 1;
    }
    let n = n.max(1);
    let colour = colour_name((r / n) as u8, (g / n) as u8, (b / n) as u8);
    (
        format!("A {w}×{h} image, mostly {colour}"),
        format!("{colour}-image-{w}x{h}.{}", format.as_str()),
    )
}

/// Stand-in AI text when the image is not decoded (pass-through mode).
pub fn ai_text_passthrough(stem: &str, size: usize, format: OutFormat) -> (String, String) {
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug = if slug.is_empty() {
        "image".to_string()
    } else {
        slug
    };
    (
        format!("An image of {size} bytes"),
        format!("{slug}-image.{}", format.as_str()),
    )
}

pub fn colour_name(r: u8, g: u8, b: u8) -> &'static str {
    let (rf, gf, bf) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let v = max;
    let s = if max > 0.0 { (max - min) / max } else { 0.0 };
    if v < 0.18 {
        return "black";
    }
    if s < 0.18 {
        return if v > 0.85 { "white" } else { "gray" };
    }
    let d = max - min;
    let mut hue = if max == rf {
        60.0 * (((gf - bf) / d) % 6.0)
    } else if max == gf {
        60.0 * ((bf - rf) / d + 2.0)
    } else {
        60.0 * ((rf - gf) / d + 4.0)
    };
    if hue < 0.0 {
        hue += 360.0;
    }
    match hue {
        h if !(15.0..345.0).contains(&h) => "red",
        h if h < 45.0 => {
            if v < 0.6 {
                "brown"
            } else {
                "orange"
            }
        }
        h if h < 70.0 => "yellow",
        h if h < 165.0 => "green",
        h if h < 195.0 => "cyan",
        h if h < 255.0 => "blue",
        h if h < 290.0 => "purple",
        _ => "pink",
    }
}

/// Content type from magic bytes (pass-through mode).
pub fn sniff_content_type(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG") {
        "image/png"
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "image/webp"
    } else if data.starts_with(b"GIF8") {
        "image/gif"
    } else if data.len() >= 12
        && &data[4..8] == b"ftyp"
        && (&data[8..12] == b"avif" || &data[8..12] == b"avis")
    {
        "image/avif"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_never_enlarges() {
        assert_eq!(fit(100, 50, Some(200), None), (100, 50));
        assert_eq!(fit(100, 50, Some(50), None), (50, 25));
        assert_eq!(fit(100, 50, None, Some(10)), (20, 10));
        assert_eq!(fit(100, 50, Some(30), Some(30)), (30, 15));
        assert_eq!(fit(1000, 1, Some(10), None), (10, 1));
        assert_eq!(fit(3, 3, Some(1), Some(1)), (1, 1));
    }

    #[test]
    fn colours() {
        assert_eq!(colour_name(20, 40, 200), "blue");
        assert_eq!(colour_name(200, 30, 30), "red");
        assert_eq!(colour_name(250, 250, 250), "white");
        assert_eq!(colour_name(5, 5, 5), "black");
        assert_eq!(colour_name(30, 180, 40), "green");
        assert_eq!(colour_name(128, 128, 128), "gray");
    }

    #[test]
    fn positions() {
        assert_eq!(Position::parse("BR"), Some(Position { row: 2, col: 2 }));
        assert_eq!(Position::parse("TL"), Some(Position { row: 0, col: 0 }));
        assert!(Position::parse("XX").is_none());
        assert!(Position::parse("br").is_none());
    }
}
