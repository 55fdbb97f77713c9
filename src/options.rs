//! What a compress call asks of the server, checked locally against the documented ranges so
//! that no credit is spent on a request that cannot succeed.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// Output format of the optimized image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// WebP (the API's default).
    #[default]
    Webp,
    /// AVIF.
    Avif,
    /// JPEG.
    Jpg,
    /// PNG (always lossless).
    Png,
}

impl Format {
    /// All formats, in the order of their C ABI numbers.
    pub const ALL: [Format; 4] = [Format::Webp, Format::Avif, Format::Jpg, Format::Png];

    /// The API's wire name (`webp`, `avif`, `jpg`, `png`), also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Jpg => "jpg",
            Format::Png => "png",
        }
    }

    /// Parses a wire name; `jpeg` is accepted for `jpg`.
    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "webp" => Ok(Format::Webp),
            "avif" => Ok(Format::Avif),
            "jpg" | "jpeg" => Ok(Format::Jpg),
            "png" => Ok(Format::Png),
            _ => Err(Error::invalid(format!(
                "format must be one of webp, avif, jpg, png (got {s:?})"
            ))),
        }
    }
}

/// Where the watermark is drawn: top/middle/bottom × left/centre/right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum Position {
    TopLeft,
    TopCenter,
    TopRight,
    MiddleLeft,
    MiddleCenter,
    MiddleRight,
    BottomLeft,
    BottomCenter,
    #[default]
    BottomRight,
}

impl Position {
    /// All positions, in the order of their C ABI numbers.
    pub const ALL: [Position; 9] = [
        Position::TopLeft,
        Position::TopCenter,
        Position::TopRight,
        Position::MiddleLeft,
        Position::MiddleCenter,
        Position::MiddleRight,
        Position::BottomLeft,
        Position::BottomCenter,
        Position::BottomRight,
    ];

    /// The wire code (`TL` … `BR`).
    pub fn as_str(self) -> &'static str {
        ["TL", "TC", "TR", "ML", "MC", "MR", "BL", "BC", "BR"][self as usize]
    }

    /// Parses a wire code such as `BR`.
    pub fn parse(s: &str) -> Result<Position> {
        Position::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "watermark position must be one of TL TC TR ML MC MR BL BC BR (got {s:?})"
                ))
            })
    }
}

/// A PNG drawn on every image (paid plans).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watermark {
    /// The PNG file; it is uploaded with every request of the batch.
    pub path: PathBuf,
    /// Width of the watermark in percent of the image width, 5..=50 (default 20).
    pub scale: u32,
    /// 0 (transparent) ..= 100 (opaque), default 100.
    pub opacity: u32,
    /// Placement, default bottom right.
    pub position: Position,
}

impl Watermark {
    /// A watermark from `path` with the default scale, opacity and position.
    pub fn new(path: impl Into<PathBuf>) -> Watermark {
        Watermark {
            path: path.into(),
            scale: 20,
            opacity: 100,
            position: Position::BottomRight,
        }
    }
}

/// Options of one compress call. `Default` is the API's default: WebP at quality 82.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressOptions {
    /// Output format.
    pub format: Format,
    /// Lossy quality 40..=100 for webp, avif and jpg (ignored by png, which is lossless).
    pub quality: u32,
    /// Scale down proportionally to fit this width; never enlarges. `None`: no limit.
    pub max_width: Option<u32>,
    /// Scale down proportionally to fit this height; never enlarges. `None`: no limit.
    pub max_height: Option<u32>,
    /// Groups the results of one session; the server picks one when `None`.
    pub session_id: Option<String>,
    /// Watermark drawn on every image.
    pub watermark: Option<Watermark>,
    /// Ask for AI-written alt text per image (costs AI credits).
    pub alt_text: bool,
    /// Ask for an AI-written SEO file name per image (costs AI credits).
    pub seo_rename: bool,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            format: Format::Webp,
            quality: 82,
            max_width: None,
            max_height: None,
            session_id: None,
            watermark: None,
            alt_text: false,
            seo_rename: false,
        }
    }
}

/// Largest dimension accepted for maxWidth/maxHeight; larger values are surely mistakes.
pub const MAX_DIMENSION: u32 = 65_535;

impl CompressOptions {
    /// Checks every option against its documented range; the message names the option. Pure:
    /// touches no file (the watermark file is checked by [`CompressOptions::check_files`]).
    pub fn validate(&self) -> Result<()> {
        in_range("quality", self.quality, 40, 100)?;
        for (name, v) in [
            ("max_width", self.max_width),
            ("max_height", self.max_height),
        ] {
            if let Some(v) = v {
                in_range(name, v, 1, MAX_DIMENSION)?;
            }
        }
        if let Some(id) = &self.session_id {
            if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_control()) {
                return Err(Error::invalid(
                    "session_id must be 1 to 256 characters with no control characters",
                ));
            }
        }
        if let Some(w) = &self.watermark {
            in_range("watermark scale", w.scale, 5, 50)?;
            in_range("watermark opacity", w.opacity, 0, 100)?;
        }
        Ok(())
    }

    /// Checks the files the options name (the watermark: a readable, non-empty regular file of
    /// at most 20 MB). Called when a compress starts, since the file may be made after the
    /// options are set.
    pub fn check_files(&self) -> Result<()> {
        match &self.watermark {
            Some(w) => crate::input::check(&crate::Input::Path(w.path.clone()))
                .map(|_| ())
                .map_err(|e| e.context("watermark")),
            None => Ok(()),
        }
    }

    /// The text fields of the multipart request, in wire names.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("format", self.format.as_str().to_string()),
            ("quality", self.quality.to_string()),
        ];
        if let Some(v) = self.max_width {
            f.push(("maxWidth", v.to_string()));
        }
        if let Some(v) = self.max_height {
            f.push(("maxHeight", v.to_string()));
        }
        if let Some(v) = &self.session_id {
            f.push(("sessionId", v.clone()));
        }
        if let Some(w) = &self.watermark {
            f.push(("watermarkScale", w.scale.to_string()));
            f.push(("watermarkOpacity", w.opacity.to_string()));
            f.push(("watermarkPosition", w.position.as_str().to_string()));
        }
        if self.alt_text {
            f.push(("altText", "true".into()));
        }
        if self.seo_rename {
            f.push(("seoRename", "true".into()));
        }
        f
    }
}

fn in_range(name: &str, v: u32, lo: u32, hi: u32) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name} must be between {lo} and {hi} (got {v})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_apis() {
        let o = CompressOptions::default();
        assert_eq!((o.format, o.quality), (Format::Webp, 82));
        assert!(o.validate().is_ok());
    }

    #[test]
    fn ranges_name_the_option() {
        let o = CompressOptions {
            quality: 39,
            ..Default::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .message()
            .contains("quality must be between 40 and 100"));
        let o = CompressOptions {
            max_width: Some(0),
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().message().contains("max_width"));
        let mut w = Watermark::new("Cargo.toml");
        w.scale = 51;
        let o = CompressOptions {
            watermark: Some(w),
            ..Default::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .message()
            .contains("watermark scale must be between 5 and 50"));
        // Setting options never touches files: a watermark made later is checked at the call.
        let o = CompressOptions {
            watermark: Some(Watermark::new("/no/such.png")),
            ..Default::default()
        };
        assert!(o.validate().is_ok());
        assert!(o
            .check_files()
            .unwrap_err()
            .message()
            .contains("/no/such.png"));
    }

    #[test]
    fn enums_parse() {
        assert_eq!(Format::parse("JPEG").unwrap(), Format::Jpg);
        assert!(Format::parse("bmp").is_err());
        assert_eq!(Position::parse("tl").unwrap(), Position::TopLeft);
        assert!(Position::parse("XX").is_err());
    }
}
