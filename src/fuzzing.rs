//! Entry points for the coverage-guided fuzz targets in `fuzz/` (cargo feature `fuzzing`, never
//! part of a release build). Each one reaches a parser of untrusted bytes exactly as the client
//! uses it; none of them is a stable API.

use crate::multipart::{Multipart, Transfer};
use crate::{Batch, Item, Result};
use std::io::Read;
use std::sync::Arc;

/// Parses `body` as a compress answer for `uploaded` files of `format_ext` (uploaded as
/// `upload-<i>.png`), and returns the batch the client would build from it.
pub fn compress_answer(body: &str, uploaded: usize, format_ext: &str) -> Result<Batch> {
    let names: Vec<String> = (0..uploaded).map(|i| format!("upload-{i}.png")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let answer = crate::response::parse_compress(body, &refs, format_ext)?;
    let files = Arc::new(crate::save::BatchFiles::default());
    let items = answer
        .entries
        .into_iter()
        .zip(names)
        .enumerate()
        .map(|(i, (entry, name))| {
            let outcome = entry.map_err(|m| crate::Error::new(crate::ErrorKind::Server, m));
            Item::unsent(i, name, outcome, files.clone())
        })
        .collect();
    Ok(Batch {
        items,
        session_id: answer.session_id,
        raw_json: body.to_string(),
    })
}

/// Parses `body` as a usage answer.
pub fn usage_answer(body: &str) -> Result<crate::Usage> {
    crate::response::parse_usage(body)
}

/// Parses a `Retry-After` header value.
pub fn retry_after(value: &str) -> Option<std::time::Duration> {
    crate::time::parse_retry_after(value)
}

/// Parses an RFC 3339 time (`expiresAt`) to Unix seconds.
pub fn rfc3339(value: &str) -> Option<i64> {
    crate::time::parse_rfc3339(value)
}

/// Joins a redirect `Location` onto the URL it came from, then applies the download rule
/// (https, or http to loopback only); the joined URL and whether it may be fetched.
pub fn redirect(base: &str, location: &str) -> (String, bool) {
    let joined = crate::url::join(base, location);
    let allowed = crate::url::Origin::parse(&joined, "the redirect").is_ok();
    (joined, allowed)
}

/// Encodes a form of text fields and in-memory files exactly as a compress request does;
/// returns its Content-Type and body. The announced Content-Length is checked here.
pub fn encode_form(texts: &[(String, String)], files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let mut m = Multipart::new();
    for (name, value) in texts {
        m.text(name, value);
    }
    for (name, data) in files {
        m.file(
            "file",
            name,
            crate::input::Source::Bytes(data.clone().into()),
            data.len() as u64,
        );
    }
    let content_type = m.content_type();
    let announced = m.content_length();
    let mut body = Vec::new();
    m.into_reader(Arc::new(Transfer::default()), Arc::default(), None)
        .read_to_end(&mut body)
        .expect("an in-memory form always encodes");
    assert_eq!(
        body.len() as u64,
        announced,
        "Content-Length must equal the bytes sent"
    );
    (content_type, body)
}

/// Writes `manifest` and `journal` bytes as a sync output folder's files in `dir` and reads
/// them as a rerun does (the manifest reader: files a user or a crash may have mangled).
pub fn sync_manifest(dir: &std::path::Path, manifest: &[u8], journal: &[u8]) -> Result<usize> {
    crate::sync::fuzz_manifest(dir, manifest, journal)
}
