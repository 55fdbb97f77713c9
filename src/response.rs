//! Tolerant parsing of the API's answers.
//!
//! The compress answer's shape is not documented, so the parser accepts the reasonable
//! variants (list key, camelCase or snake_case, several names per field) and keeps the raw text.
//! What it cannot use becomes a protocol error that names what was missing.

use crate::error::{clip, Error, ErrorKind, Result};
use serde_json::{Map, Value};

/// One image the server optimized.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ImageInfo {
    /// The output file name, e.g. `cat.webp` (derived locally when the server gives none).
    pub name: String,
    /// The name the image was uploaded under.
    pub original_name: Option<String>,
    /// The output format's wire name, when the server says.
    pub format: Option<String>,
    /// Size in bytes of the upload, when known.
    pub original_size: Option<u64>,
    /// Size in bytes of the optimized image, when known.
    pub size: Option<u64>,
    /// Output width in pixels, when known.
    pub width: Option<u32>,
    /// Output height in pixels, when known.
    pub height: Option<u32>,
    /// The signed download URL (a capability: treat it like a password until it expires).
    pub url: String,
    /// Expiry as RFC 3339 UTC, when known.
    pub expires_at: Option<String>,
    /// Expiry as Unix seconds, when known.
    pub expires_unix: Option<i64>,
    /// AI-written alt text, when asked for and given.
    pub alt_text: Option<String>,
    /// AI-written SEO file name, when asked for and given.
    pub seo_name: Option<String>,
}

/// The parsed compress answer: one entry per uploaded file, in upload order.
#[derive(Debug)]
pub(crate) struct CompressAnswer {
    pub session_id: Option<String>,
    pub entries: Vec<std::result::Result<ImageInfo, String>>,
}

fn protocol(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, msg)
}

/// Parses a JSON body, with an error that says what the body looked like.
fn parse_json(body: &str) -> Result<Value> {
    if body.trim().is_empty() {
        return Err(protocol(
            "the server answered 200 with an empty body instead of JSON",
        ));
    }
    serde_json::from_str(body).map_err(|e| {
        let what = if body.trim_start().starts_with('<') {
            "an HTML page"
        } else {
            "text that is not valid JSON"
        };
        protocol(format!(
            "the server answered 200 with {what} ({e}); starts with: {}",
            clip(&crate::redact::scrub(body.trim_start()), 80)
        ))
    })
}

/// The first of `keys` present with a non-null value.
fn field<'a>(obj: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .filter_map(|k| obj.get(*k))
        .find(|v| !v.is_null())
}

fn string(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    match field(obj, keys)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(obj: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    match field(obj, keys)? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn signed(obj: &Map<String, Value>, keys: &[&str]) -> Option<i64> {
    match field(obj, keys)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(obj: &Map<String, Value>, keys: &[&str]) -> Option<bool> {
    match field(obj, keys)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

const LIST_KEYS: [&str; 4] = ["results", "images", "files", "data"];

/// Keys of a separate list of failures some services send beside the results.
const FAILURE_KEYS: [&str; 3] = ["errors", "failed", "failures"];

/// Parses a compress answer for the files uploaded under `uploaded` (in upload order). Results
/// are matched to uploads by position when there is one per upload; otherwise by original name
/// (when the names are unique), and an upload with no result gets its own error.
pub(crate) fn parse_compress(
    body: &str,
    uploaded: &[&str],
    format_ext: &str,
) -> Result<CompressAnswer> {
    let root = parse_json(body)?;
    let (list, session_id) = match &root {
        Value::Array(a) => (a, None),
        Value::Object(o) => {
            let list = LIST_KEYS.iter().find_map(|k| o.get(*k).and_then(Value::as_array)).ok_or_else(|| {
                protocol("the answer has no list of results (looked for results, images, files, data)")
            })?;
            (list, string(o, &["sessionId", "session_id"]))
        }
        _ => return Err(protocol("the answer is neither a JSON object nor a list")),
    };
    if list.len() == uploaded.len() {
        let entries = list
            .iter()
            .enumerate()
            .map(|(i, v)| parse_entry(v, i, format_ext))
            .collect::<Result<Vec<_>>>()?;
        return Ok(CompressAnswer {
            session_id,
            entries,
        });
    }
    let failures: Vec<&Value> = match &root {
        Value::Object(o) => FAILURE_KEYS
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_array))
            .flatten()
            .collect(),
        _ => Vec::new(),
    };
    let entries = match_by_name(list, &failures, uploaded, format_ext).ok_or_else(|| {
        protocol(format!(
            "the answer has {} results for {} uploaded files, and they cannot be matched by name",
            list.len(),
            uploaded.len()
        ))
    })?;
    Ok(CompressAnswer {
        session_id,
        entries,
    })
}

/// Pairs results (and listed failures) with uploads by original name; `None` when the names do
/// not allow it (duplicate uploads, a result without a name or naming no upload).
fn match_by_name(
    results: &[Value],
    failures: &[&Value],
    uploaded: &[&str],
    format_ext: &str,
) -> Option<Vec<std::result::Result<ImageInfo, String>>> {
    let position = |name: &str| -> Option<usize> {
        let mut hits = uploaded.iter().enumerate().filter(|(_, u)| **u == name);
        let (i, _) = hits.next()?;
        hits.next().is_none().then_some(i)
    };
    let original = |v: &Value| {
        v.as_object().and_then(|o| {
            string(
                o,
                &[
                    "originalName",
                    "original_name",
                    "original_filename",
                    "originalFilename",
                    "name",
                    "filename",
                ],
            )
        })
    };
    let mut entries: Vec<Option<std::result::Result<ImageInfo, String>>> =
        vec![None; uploaded.len()];
    for (index, v) in results.iter().enumerate() {
        let obj = v.as_object()?;
        let name = string(
            obj,
            &[
                "originalName",
                "original_name",
                "original_filename",
                "originalFilename",
            ],
        )?;
        let i = position(&name)?;
        if entries[i].is_some() {
            return None;
        }
        entries[i] = Some(parse_entry(v, index, format_ext).ok()?);
    }
    for v in failures {
        let Some(i) = original(v).and_then(|n| position(&n)) else {
            continue;
        };
        if entries[i].is_none() {
            let msg = v
                .as_object()
                .and_then(|o| string(o, &["error", "message", "reason"]))
                .unwrap_or_else(|| "listed as failed".to_string());
            entries[i] = Some(Err(msg));
        }
    }
    Some(
        entries
            .into_iter()
            .map(|e| {
                e.unwrap_or_else(|| {
                    Err("the server's answer has no result for this file".to_string())
                })
            })
            .collect(),
    )
}

fn parse_entry(
    v: &Value,
    index: usize,
    format_ext: &str,
) -> Result<std::result::Result<ImageInfo, String>> {
    let obj = v
        .as_object()
        .ok_or_else(|| protocol(format!("result {index} is not a JSON object")))?;
    let original_name = string(
        obj,
        &[
            "originalName",
            "original_name",
            "original_filename",
            "originalFilename",
        ],
    );
    let url = string(
        obj,
        &[
            "url",
            "downloadUrl",
            "download_url",
            "signedUrl",
            "signed_url",
        ],
    );
    if let Some(err) = field(obj, &["error"]) {
        if url.is_none() {
            let msg = match err {
                Value::String(s) => s.clone(),
                Value::Object(o) => string(o, &["message"]).unwrap_or_else(|| err.to_string()),
                other => other.to_string(),
            };
            return Ok(Err(if msg.is_empty() {
                "the server reported a failure with no message".into()
            } else {
                msg
            }));
        }
    }
    let url = url.ok_or_else(|| {
        protocol(format!(
            "result {index}{} has no download URL (looked for url, downloadUrl, download_url, signedUrl, signed_url)",
            original_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        ))
    })?;
    let expires_unix = string(obj, &["expiresAt", "expires_at"])
        .and_then(|s| crate::time::parse_rfc3339(&s))
        .or_else(|| {
            signed(obj, &["expiresIn", "expires_in"]).map(|secs| crate::time::now_unix() + secs)
        });
    let name = string(obj, &["name", "filename", "fileName", "file_name"])
        .or_else(|| original_name.as_deref().map(|o| derive_name(o, format_ext)))
        .unwrap_or_else(|| format!("image-{}.{format_ext}", index + 1));
    Ok(Ok(ImageInfo {
        name,
        original_name,
        // The format asked for, when the answer does not say (it is what the server encodes to).
        format: string(obj, &["format"]).or_else(|| Some(format_ext.to_string())),
        original_size: number(obj, &["originalSize", "original_size"]),
        size: number(obj, &["size", "compressedSize", "compressed_size"]),
        width: number(obj, &["width"]).and_then(|w| u32::try_from(w).ok()),
        height: number(obj, &["height"]).and_then(|h| u32::try_from(h).ok()),
        url,
        expires_at: expires_unix.map(crate::time::format_rfc3339),
        expires_unix,
        alt_text: string(obj, &["altText", "alt_text", "alt"]),
        seo_name: string(obj, &["seoName", "seo_name", "seoFilename", "seo_filename"]),
    }))
}

/// `cat.jpg` + `webp` → `cat.webp`.
pub(crate) fn derive_name(original: &str, ext: &str) -> String {
    let stem = original
        .rsplit_once('.')
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
        .unwrap_or(original);
    format!("{stem}.{ext}")
}

/// Plan and credits, as `GET /api/usage` reports them, under clean names.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    /// `free`, `starter`, `pro` or `agency` (other values are passed through).
    pub plan: Option<String>,
    /// Compressions used this billing period.
    pub compressions_used: Option<u64>,
    /// Compressions allowed this period (99999 means "unlimited", really 50,000).
    pub compressions_limit: Option<u64>,
    /// AI credits used this month.
    pub ai_credits_used: Option<u64>,
    /// AI credits included per month.
    pub ai_credits_monthly: Option<u64>,
    /// Purchased AI credits (never expire; used after the monthly ones).
    pub ai_topup_credits: Option<u64>,
    /// AI credits left: monthly − used + top-up.
    pub ai_credits_remaining: Option<u64>,
    /// Whether a compression would be accepted now (the authoritative check).
    pub can_compress: Option<bool>,
    /// Whether AI features may be used now.
    pub can_use_ai: Option<bool>,
    /// The answer exactly as received.
    pub raw_json: String,
}

pub(crate) fn parse_usage(body: &str) -> Result<Usage> {
    let root = parse_json(body)?;
    let o = root
        .as_object()
        .ok_or_else(|| protocol("the usage answer is not a JSON object"))?;
    let usage = Usage {
        plan: string(o, &["plan"]),
        compressions_used: number(o, &["compressor_used", "compressorUsed"]),
        compressions_limit: number(o, &["compressor_limit", "compressorLimit"]),
        ai_credits_used: number(o, &["ia_credits_used", "iaCreditsUsed", "ai_credits_used"]),
        ai_credits_monthly: number(
            o,
            &[
                "ia_credits_monthly",
                "iaCreditsMonthly",
                "ai_credits_monthly",
            ],
        ),
        ai_topup_credits: number(
            o,
            &["ia_topup_credits", "iaTopupCredits", "ai_topup_credits"],
        ),
        ai_credits_remaining: number(
            o,
            &[
                "ia_credits_remaining",
                "iaCreditsRemaining",
                "ai_credits_remaining",
            ],
        ),
        can_compress: boolean(o, &["canCompress", "can_compress"]),
        can_use_ai: boolean(o, &["canUseIA", "can_use_ia", "canUseAI", "can_use_ai"]),
        raw_json: body.to_string(),
    };
    if usage.plan.is_none() && usage.can_compress.is_none() && usage.compressions_used.is_none() {
        return Err(protocol(
            "the usage answer has none of plan, canCompress, compressor_used",
        ));
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn reference_shape() {
        let a = parse_compress(
            &fixture("compress-reference.json"),
            &["cat.jpg", "broken.png"],
            "webp",
        )
        .unwrap();
        assert_eq!(a.session_id.as_deref(), Some("s_8f2c41"));
        let ok = a.entries[0].as_ref().unwrap();
        assert_eq!(ok.name, "cat.webp");
        assert_eq!(
            (ok.original_size, ok.size, ok.width, ok.height),
            (Some(482113), Some(91022), Some(1600), Some(1067))
        );
        assert_eq!(ok.expires_at.as_deref(), Some("2026-11-23T06:30:00Z"));
        assert_eq!(ok.alt_text, None);
        assert_eq!(a.entries[1].as_ref().unwrap_err(), "cannot decode image");
    }

    #[test]
    fn snake_case_data_shape() {
        let a = parse_compress(
            &fixture("compress-snake.json"),
            &["dog.png", "b.png"],
            "avif",
        )
        .unwrap();
        assert_eq!(a.session_id.as_deref(), Some("abc"));
        let ok = a.entries[0].as_ref().unwrap();
        assert_eq!(ok.name, "dog.avif");
        assert_eq!(ok.original_name.as_deref(), Some("dog.png"));
        assert_eq!((ok.original_size, ok.size), (Some(1000), Some(400)));
        assert!(ok.url.starts_with("https://cdn.example/"));
        assert!(ok.expires_unix.unwrap() > crate::time::now_unix());
        assert_eq!(ok.alt_text.as_deref(), Some("A dog"));
        assert_eq!(a.entries[1].as_ref().unwrap_err(), "quota");
    }

    #[test]
    fn top_level_array_shape_with_unknown_keys() {
        let a = parse_compress(&fixture("compress-array.json"), &["photo.jpg"], "jpg").unwrap();
        let ok = a.entries[0].as_ref().unwrap();
        assert_eq!(
            ok.name, "photo.jpg",
            "name derived from the original when absent"
        );
        assert_eq!(
            ok.size,
            Some(12),
            "compressedSize as a string is still a size"
        );
        assert_eq!(
            ok.width, None,
            "missing optional values are unknown, not errors"
        );
    }

    #[test]
    fn unusable_answers_are_protocol_errors_naming_the_problem() {
        let cases: [(&str, usize, &str); 7] = [
            ("", 1, "empty body"),
            ("<html><body>Bad gateway</body></html>", 1, "HTML page"),
            ("{\"results\": [{\"name\": \"a.webp\"", 1, "not valid JSON"),
            ("{\"ok\": true}", 1, "no list of results"),
            (
                "{\"results\": [{\"name\": \"a.webp\", \"size\": 3}]}",
                1,
                "no download URL",
            ),
            (
                "{\"results\": [{\"url\": \"https://x/a.webp\"}]}",
                2,
                "1 results for 2 uploaded files, and they cannot be matched",
            ),
            ("42", 1, "neither a JSON object"),
        ];
        for (body, n, needle) in cases {
            let e = parse_compress(body, &["a.png", "b.png"][..n], "webp").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol);
            assert!(e.message().contains(needle), "{body:?}: {}", e.message());
        }
    }

    #[test]
    fn fewer_results_than_uploads_are_matched_by_name() {
        let body = r#"{"results": [{"originalName": "b.png", "url": "https://x/b.webp"}],
                       "errors": [{"originalName": "a.png", "error": "cannot decode image"}]}"#;
        let a = parse_compress(body, &["a.png", "b.png", "c.png"], "webp").unwrap();
        assert_eq!(a.entries[0].as_ref().unwrap_err(), "cannot decode image");
        assert_eq!(a.entries[1].as_ref().unwrap().url, "https://x/b.webp");
        assert!(a.entries[2]
            .as_ref()
            .unwrap_err()
            .contains("no result for this file"));
        let e = parse_compress(body, &["b.png", "b.png"], "webp").unwrap_err();
        assert!(
            e.message().contains("cannot be matched by name"),
            "duplicate names: {}",
            e.message()
        );
    }

    #[test]
    fn usage_documented_answer() {
        let u = parse_usage(&fixture("usage.json")).unwrap();
        assert_eq!(u.plan.as_deref(), Some("pro"));
        assert_eq!(
            (u.compressions_used, u.compressions_limit),
            (Some(45), Some(99999))
        );
        assert_eq!(
            (u.ai_credits_used, u.ai_credits_monthly, u.ai_topup_credits),
            (Some(120), Some(1000), Some(200))
        );
        assert_eq!(u.ai_credits_remaining, Some(1080));
        assert_eq!((u.can_compress, u.can_use_ai), (Some(true), Some(true)));
        assert!(u.raw_json.contains("topups"));
        assert_eq!(parse_usage("[]").unwrap_err().kind(), ErrorKind::Protocol);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), n in 0usize..4) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_compress(&text, &["a.png", "b.png", "a.png"][..n.min(3)], "webp");
            let _ = parse_usage(&text);
        }

        #[test]
        fn never_panics_on_arbitrary_json(v in arb_json(), n in 0usize..3) {
            let text = v.to_string();
            let _ = parse_compress(&text, &["url", "name"][..n.min(2)], "webp");
            let _ = parse_usage(&text);
            let wrapped = serde_json::json!({"results": [v.clone()], "data": v}).to_string();
            let _ = parse_compress(&wrapped, &["url"], "webp");
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            "(url|name|size|error|width|expiresAt|expires_in|[a-z]{0,6})".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    "(url|downloadUrl|name|size|width|height|error|originalName|expiresAt|expiresIn|results|data|sessionId)",
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
