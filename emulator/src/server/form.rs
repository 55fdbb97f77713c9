//! Parsing and checking the fields of a compress form.

use bytes::Bytes;
use hyper::StatusCode;

use super::{MAX_FILE, MAX_FILES};
use crate::imaging::{OutFormat, Position};
use crate::multipart;

pub(crate) struct Job {
    pub original_name: String,
    pub data: Bytes,
}

pub(crate) struct CompressForm {
    pub files: Vec<Job>,
    pub format: OutFormat,
    pub quality: u8,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub session_id: Option<String>,
    pub watermark: Option<Bytes>,
    pub wm_scale: u32,
    pub wm_opacity: u32,
    pub wm_position: Position,
    pub alt_text: bool,
    pub seo_rename: bool,
}

fn bad(msg: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, msg.into())
}

fn int_in(field: &str, v: &str, lo: u32, hi: u32) -> Result<u32, (StatusCode, String)> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| bad(format!("{field} must be between {lo} and {hi}")))
}

fn boolean(field: &str, v: &str) -> Result<bool, (StatusCode, String)> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!("{field} must be true or false"))),
    }
}

impl CompressForm {
    pub fn from_parts(parts: Vec<multipart::Part>) -> Result<CompressForm, (StatusCode, String)> {
        let mut f = CompressForm {
            files: Vec::new(),
            format: OutFormat::Webp,
            quality: 82,
            max_width: None,
            max_height: None,
            session_id: None,
            watermark: None,
            wm_scale: 20,
            wm_opacity: 100,
            wm_position: Position { row: 2, col: 2 },
            alt_text: false,
            seo_rename: false,
        };
        for part in parts {
            let name = part.name.as_str();
            match name {
                "file" => {
                    f.files.push(Job {
                        original_name: part.filename.unwrap_or_default(),
                        data: part.data,
                    });
                    continue;
                }
                "watermarkFile" => {
                    if !part.data.is_empty() {
                        f.watermark = Some(part.data);
                    }
                    continue;
                }
                _ => {}
            }
            let known = [
                "format",
                "quality",
                "maxWidth",
                "maxHeight",
                "sessionId",
                "watermarkScale",
                "watermarkOpacity",
                "watermarkPosition",
                "altText",
                "seoRename",
            ];
            if !known.contains(&name) {
                continue; // unknown fields are ignored, as a tolerant server would
            }
            let Ok(v) = std::str::from_utf8(&part.data) else {
                return Err(bad(format!("{name} must be UTF-8 text")));
            };
            match name {
                "format" => {
                    f.format = OutFormat::parse(v.trim())
                        .ok_or_else(|| bad("format must be one of webp, avif, jpg, png"))?
                }
                "quality" => f.quality = int_in("quality", v, 40, 100)? as u8,
                "maxWidth" | "maxHeight" => {
                    let n = v
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=100_000).contains(n))
                        .ok_or_else(|| bad(format!("{name} must be a positive integer")))?;
                    if name == "maxWidth" {
                        f.max_width = Some(n);
                    } else {
                        f.max_height = Some(n);
                    }
                }
                "sessionId" => {
                    if v.len() > 200 || v.chars().any(char::is_control) {
                        return Err(bad(
                            "sessionId must be at most 200 characters without control characters",
                        ));
                    }
                    f.session_id = (!v.is_empty()).then(|| v.to_string());
                }
                "watermarkScale" => f.wm_scale = int_in(name, v, 5, 50)?,
                "watermarkOpacity" => f.wm_opacity = int_in(name, v, 0, 100)?,
                "watermarkPosition" => {
                    f.wm_position = Position::parse(v.trim()).ok_or_else(|| {
                        bad("watermarkPosition must be one of TL, TC, TR, ML, MC, MR, BL, BC, BR")
                    })?
                }
                "altText" => f.alt_text = boolean(name, v)?,
                "seoRename" => f.seo_rename = boolean(name, v)?,
                _ => {}
            }
        }
        if f.files.is_empty() {
            return Err(bad("no file"));
        }
        if f.files.len() > MAX_FILES {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "at most 20 files per request".into(),
            ));
        }
        for j in &f.files {
            if j.data.len() > MAX_FILE {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "file is larger than 20 MB".into(),
                ));
            }
        }
        if f.watermark.as_ref().is_some_and(|w| w.len() > MAX_FILE) {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "watermarkFile is larger than 20 MB".into(),
            ));
        }
        Ok(f)
    }
}
