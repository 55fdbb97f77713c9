//! A strict `multipart/form-data` parser over a fully received body.
//!
//! Every malformed input gives an `Err(message)` (answered as 400), never a panic. Parts are
//! zero-copy slices of the body.

use bytes::Bytes;
use memchr::memmem;

use crate::util::pct_decode;

/// At most this many parts in one body (20 files plus a handful of fields is the real need).
pub const MAX_PARTS: usize = 200;
/// At most this many bytes of headers in one part.
const MAX_PART_HEADERS: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Part {
    /// The `name` parameter of Content-Disposition.
    pub name: String,
    /// The file name: `filename*` (RFC 5987) when present and decodable, else `filename`.
    pub filename: Option<String>,
    /// The part's Content-Type, if any (parsed, not needed by the server).
    #[allow(dead_code)]
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` Content-Type header value.
pub fn boundary(content_type: &str) -> Result<String, String> {
    let mut pieces = content_type.splitn(2, ';');
    let media = pieces.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err("expected a multipart/form-data body".into());
    }
    let params = parse_params(pieces.next().unwrap_or(""))
        .map_err(|e| format!("malformed Content-Type: {e}"))?;
    let b = params
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .ok_or_else(|| "multipart/form-data without a boundary".to_string())?;
    if b.is_empty() || b.len() > 200 {
        return Err("multipart boundary must be 1 to 200 characters".into());
    }
    if b.bytes().any(|c| c == b'\r' || c == b'\n') {
        return Err("multipart boundary has a line break".into());
    }
    Ok(b)
}

/// Splits a full body into parts.
pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut crlf_delim = Vec::with_capacity(delim.len() + 2);
    crlf_delim.extend_from_slice(b"\r\n");
    crlf_delim.extend_from_slice(delim);
    let finder = memmem::Finder::new(&crlf_delim);

    // The first delimiter may follow a preamble.
    let mut pos = if body.starts_with(delim) {
        0
    } else {
        match finder.find(body) {
            Some(p) => p + 2,
            None => return Err("malformed multipart body: no boundary found".into()),
        }
    };
    let mut parts = Vec::new();
    loop {
        let mut p = pos + delim.len();
        let rest = &body[p..];
        if rest.starts_with(b"--") {
            // Close delimiter; anything after it is an epilogue.
            break;
        }
        // Transport padding, then CRLF.
        while p < body.len() && (body[p] == b' ' || body[p] == b'\t') {
            p += 1;
        }
        if body.len() < p + 2 {
            return Err("malformed multipart body: truncated".into());
        }
        if &body[p..p + 2] != b"\r\n" {
            return Err("malformed multipart body: bad delimiter line".into());
        }
        p += 2;
        let head_end = match memmem::find(&body[p..], b"\r\n\r\n") {
            Some(e) => p + e,
            None if body[p..].starts_with(b"\r\n") => {
                return Err("malformed multipart body: part without Content-Disposition".into())
            }
            None => return Err("malformed multipart body: truncated part headers".into()),
        };
        if head_end - p > MAX_PART_HEADERS {
            return Err("malformed multipart body: part headers too long".into());
        }
        let headers = &body[p..head_end];
        let content_start = head_end + 4;
        let content_end = match finder.find(&body[content_start..]) {
            Some(e) => content_start + e,
            None => return Err("malformed multipart body: truncated (no closing boundary)".into()),
        };
        let mut part = parse_part_headers(headers)?;
        part.data = body.slice(content_start..content_end);
        parts.push(part);
        if parts.len() > MAX_PARTS {
            return Err(format!("too many parts (at most {MAX_PARTS})"));
        }
        pos = content_end + 2;
    }
    Ok(parts)
}

fn parse_part_headers(raw: &[u8]) -> Result<Part, String> {
    let text = String::from_utf8_lossy(raw);
    let mut disposition = None;
    let mut content_type = None;
    for line in text.split("\r\n") {
        if line.is_empty() {
            return Err("malformed multipart body: empty part header line".into());
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| "malformed multipart body: bad part header".to_string())?;
        let name = name.trim();
        if name.is_empty() || name.contains(' ') {
            return Err("malformed multipart body: bad part header".into());
        }
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value.trim().to_string());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    let disposition = disposition
        .ok_or_else(|| "malformed multipart body: part without Content-Disposition".to_string())?;
    let mut pieces = disposition.splitn(2, ';');
    let kind = pieces.next().unwrap_or("").trim();
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err("malformed multipart body: Content-Disposition is not form-data".into());
    }
    let params = parse_params(pieces.next().unwrap_or(""))
        .map_err(|e| format!("malformed multipart body: {e}"))?;
    let mut name = None;
    let mut filename = None;
    let mut filename_star = None;
    for (k, v) in params {
        if k.eq_ignore_ascii_case("name") {
            name = Some(v);
        } else if k.eq_ignore_ascii_case("filename") {
            filename = Some(v);
        } else if k.eq_ignore_ascii_case("filename*") {
            filename_star = decode_ext_value(&v);
        }
    }
    let name = name.ok_or_else(|| "malformed multipart body: part without a name".to_string())?;
    Ok(Part {
        name,
        filename: filename_star.or(filename),
        content_type,
        data: Bytes::new(),
    })
}

/// Parses `; key=value; key="quoted \" value"` parameter lists (the text after the first `;`).
fn parse_params(s: &str) -> Result<Vec<(String, String)>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b';') {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let key = s[key_start..i].trim().to_string();
        if i >= b.len() || b[i] != b'=' || key.is_empty() {
            return Err(format!("parameter without a value: {key}"));
        }
        i += 1; // '='
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value of {key}"));
            }
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if i < b.len() && b[i] != b';' {
                return Err(format!("garbage after quoted value of {key}"));
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            value.extend_from_slice(s[start..i].trim_end().as_bytes());
        }
        out.push((key, String::from_utf8_lossy(&value).into_owned()));
    }
}

/// RFC 5987 `charset'language'percent-encoded`; `None` when it cannot be decoded.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _lang = it.next()?;
    let encoded = it.next()?;
    let bytes = pct_decode(encoded)?;
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Bytes {
        Bytes::from(s.replace('\n', "\r\n"))
    }

    #[test]
    fn boundary_forms() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data; boundary=").is_err());
    }

    #[test]
    fn parses_fields_and_files() {
        let b = body(
            "preamble\n--XX\nContent-Disposition: form-data; name=\"format\"\n\nwebp\n--XX\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"a\\\"b\\\\c.png\"; filename*=UTF-8''%E2%82%AC%20x.png\n\
             Content-Type: image/png\n\nDATA\nMORE\n--XX\nContent-Disposition: form-data; name=\"file\"; filename=\"q\\\"uote.jpg\"\n\n\n--XX--\nepilogue",
        );
        let parts = parse(&b, "XX").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "format");
        assert_eq!(&parts[0].data[..], b"webp");
        assert_eq!(parts[1].filename.as_deref(), Some("€ x.png"));
        assert_eq!(&parts[1].data[..], b"DATA\r\nMORE");
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[2].filename.as_deref(), Some("q\"uote.jpg"));
        assert!(parts[2].data.is_empty());
    }

    #[test]
    fn malformed_bodies() {
        for bad in [
            "",
            "no boundary here",
            "--XX\nContent-Disposition: form-data; name=\"a\"\n\nvalue",
            "--XX\nContent-Disposition: form-data; name=\"a\"\n",
            "--XX\nContent-Disposition: form-data; name=\"a\n\nv\n--XX--",
            "--XX\nContent-Type: text/plain\n\nv\n--XX--",
            "--XX\nContent-Disposition: attachment; name=\"a\"\n\nv\n--XX--",
            "--XX\nContent-Disposition: form-data; filename=\"a\"\n\nv\n--XX--",
            "--XXjunk\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XX--",
            "--XX",
        ] {
            assert!(parse(&body(bad), "XX").is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn ext_value_fallback() {
        let b = body(
            "--XX\nContent-Disposition: form-data; name=\"file\"; filename=\"plain.png\"; filename*=UTF-8''%ZZ\n\nv\n--XX--",
        );
        let parts = parse(&b, "XX").unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some("plain.png"));
    }
}
