//! A streaming `multipart/form-data` encoder with an exact `Content-Length`.
//!
//! Files are read from disk while the request is sent, so memory does not grow with their size.
//! File names travel twice: `filename="…"` with quotes and backslashes escaped and control
//! characters replaced (what every server understands), and RFC 5987 `filename*=UTF-8''…`
//! percent-encoded (which round-trips any name exactly).

use crate::error::Error;
use crate::input::Source;
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// One part of the form.
enum Part {
    Text {
        head: Vec<u8>,
        value: Vec<u8>,
    },
    File {
        head: Vec<u8>,
        source: Source,
        len: u64,
    },
}

/// A form under construction.
pub(crate) struct Multipart {
    boundary: String,
    parts: Vec<Part>,
}

/// Counters shared between a body being sent and whoever watches it.
#[derive(Default, Debug)]
pub(crate) struct Transfer {
    /// Bytes moved so far (uploaded or downloaded); the progress callback's `done`.
    pub done: AtomicU64,
    /// Bytes the call learned it will also move after it started (the results a compress
    /// saves as they come), added to the progress callback's `total`.
    pub more: AtomicU64,
    /// Set by the caller's thread to stop the transfer at the next read.
    pub cancelled: AtomicBool,
    /// The connections the transfer uses, closed when it is cancelled (see `conn::cancel`).
    pub conns: crate::conn::Conns,
}

impl Multipart {
    pub fn new() -> Multipart {
        Multipart {
            boundary: format!("flx-{:032x}", crate::random_u128()),
            parts: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn with_boundary(b: &str) -> Multipart {
        Multipart {
            boundary: b.to_string(),
            parts: Vec::new(),
        }
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    pub fn text(&mut self, name: &str, value: &str) {
        let head = format!(
            "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
            quote(name)
        )
        .into_bytes();
        self.parts.push(Part::Text {
            head,
            value: value.as_bytes().to_vec(),
        });
    }

    pub fn file(&mut self, name: &str, filename: &str, source: Source, len: u64) {
        let head = format!(
            "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"; filename*=UTF-8''{}\r\nContent-Type: {}\r\n\r\n",
            quote(name),
            quote(filename),
            percent_encode(filename),
            content_type_for(filename),
        )
        .into_bytes();
        self.parts.push(Part::File { head, source, len });
    }

    fn part_len(&self, p: &Part) -> u64 {
        let open = 2 + self.boundary.len() as u64 + 2; // "--" boundary CRLF
        let (head, body) = match p {
            Part::Text { head, value } => (head.len() as u64, value.len() as u64),
            Part::File { head, len, .. } => (head.len() as u64, *len),
        };
        open + head + body + 2 // CRLF after the body
    }

    /// The exact number of bytes the reader will produce.
    pub fn content_length(&self) -> u64 {
        let close = 2 + self.boundary.len() as u64 + 4; // "--" boundary "--" CRLF
        self.parts.iter().map(|p| self.part_len(p)).sum::<u64>() + close
    }

    /// A reader producing the encoded form, counting bytes into `transfer` and `attempt` and
    /// stopping with a `Cancelled` error when `transfer.cancelled` is set.
    pub fn into_reader(
        self,
        transfer: Arc<Transfer>,
        attempt: Arc<AtomicU64>,
        turn: Option<UploadTurn>,
    ) -> FormReader {
        let mut segments = Vec::with_capacity(self.parts.len() * 3 + 1);
        for p in self.parts {
            let mut open = format!("--{}\r\n", self.boundary).into_bytes();
            match p {
                Part::Text { head, value } => {
                    open.extend_from_slice(&head);
                    open.extend_from_slice(&value);
                    open.extend_from_slice(b"\r\n");
                    segments.push(Segment::Mem(open));
                }
                Part::File { head, source, len } => {
                    open.extend_from_slice(&head);
                    segments.push(Segment::Mem(open));
                    segments.push(match source {
                        Source::Bytes(data) => Segment::Shared(data),
                        Source::File(path) => Segment::File {
                            path,
                            file: None,
                            left: len,
                        },
                    });
                    segments.push(Segment::Mem(b"\r\n".to_vec()));
                }
            }
        }
        segments.push(Segment::Mem(
            format!("--{}--\r\n", self.boundary).into_bytes(),
        ));
        FormReader {
            segments,
            index: 0,
            offset: 0,
            transfer,
            attempt,
            turn,
        }
    }
}

/// Lets the requests of one batch, or of one folder sync, upload one at a time. Uploads that
/// run together share the link and end together, so every request then waits for the server
/// at once while the link idles; in turn, each upload has the whole link and the next starts
/// while the server works on the last (and while earlier results download).
#[derive(Debug, Default)]
pub(crate) struct UploadGate {
    busy: Mutex<bool>,
    free: Condvar,
}

/// The turn to upload, given back when the form has been read to its end or is dropped.
#[derive(Debug)]
pub(crate) struct UploadTurn(Arc<UploadGate>);

impl UploadGate {
    /// Waits for the turn to upload; `None` once `stop` is set (the call was cancelled, the
    /// sync is stopping).
    pub fn enter(gate: &Arc<UploadGate>, stop: &AtomicBool) -> Option<UploadTurn> {
        let mut busy = gate.busy.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: the holder gives the turn back when its upload ends or its request fails.
        while *busy {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            busy = gate
                .free
                .wait_timeout(busy, crate::observe::TICK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *busy = true;
        Some(UploadTurn(gate.clone()))
    }
}

impl Drop for UploadTurn {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.free.notify_one();
    }
}

enum Segment {
    Mem(Vec<u8>),
    Shared(Arc<[u8]>),
    File {
        path: std::path::PathBuf,
        file: Option<File>,
        left: u64,
    },
}

/// Streams the encoded form; see [`Multipart::into_reader`].
pub(crate) struct FormReader {
    segments: Vec<Segment>,
    index: usize,
    offset: usize,
    transfer: Arc<Transfer>,
    attempt: Arc<AtomicU64>,
    /// This request's turn to upload, passed on once the last byte is read.
    turn: Option<UploadTurn>,
}

impl FormReader {
    fn read_segment(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let offset = &mut self.offset;
        match &mut self.segments[self.index] {
            Segment::Mem(bytes) => copy_from(bytes, offset, buf),
            Segment::Shared(bytes) => copy_from(bytes, offset, buf),
            Segment::File { path, file, left } => {
                if *left == 0 {
                    return Ok(0);
                }
                if file.is_none() {
                    *file = Some(crate::input::open_regular(path).map_err(to_io)?.0);
                }
                let want = buf.len().min(*left as usize);
                let n = file
                    .as_mut()
                    .expect("opened above")
                    .read(&mut buf[..want])?;
                if n == 0 {
                    // The file shrank after the checks: the Content-Length would be a lie.
                    return Err(to_io(Error::new(
                        crate::ErrorKind::Io,
                        format!("{} changed size while being uploaded", path.display()),
                    )));
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

fn copy_from(bytes: &[u8], offset: &mut usize, buf: &mut [u8]) -> io::Result<usize> {
    let n = (bytes.len() - *offset).min(buf.len());
    buf[..n].copy_from_slice(&bytes[*offset..*offset + n]);
    *offset += n;
    Ok(n)
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

impl Read for FormReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.transfer.cancelled.load(Ordering::Relaxed) {
            return Err(to_io(Error::cancelled()));
        }
        // Fill `buf` across segments: a small form then leaves in one write, not one per part.
        let mut filled = 0;
        while self.index < self.segments.len() && filled < buf.len() {
            let n = self.read_segment(&mut buf[filled..])?;
            if n == 0 {
                self.index += 1;
                self.offset = 0;
            }
            filled += n;
        }
        self.transfer
            .done
            .fetch_add(filled as u64, Ordering::Relaxed);
        self.attempt.fetch_add(filled as u64, Ordering::Relaxed);
        // The turn passes on with the last byte: the HTTP stack may never read again once it
        // has Content-Length bytes, so an exhausted form is noticed here, not at the next read.
        while self.segments.get(self.index).is_some_and(|seg| match seg {
            Segment::Mem(bytes) => self.offset >= bytes.len(),
            Segment::Shared(bytes) => self.offset >= bytes.len(),
            Segment::File { left, .. } => *left == 0,
        }) {
            self.index += 1;
            self.offset = 0;
        }
        if self.index == self.segments.len() {
            self.turn = None;
        }
        Ok(filled)
    }
}

/// Escapes a quoted-string value: backslash and quote escaped, CR, LF and other control
/// characters replaced so they can never end the header line.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

/// RFC 5987 `attr-char` percent-encoding of UTF-8.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn content_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// Reads a form from `r` into memory (tests and the property tests' independent parser use it).
#[cfg(test)]
pub(crate) fn encode_to_vec(m: Multipart) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    m.into_reader(Arc::new(Transfer::default()), Arc::default(), None)
        .read_to_end(&mut out)
        .map_err(|e| Error::new(crate::ErrorKind::Io, e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent, minimal parser: split on the boundary, read the headers, undo the
    /// RFC 5987 encoding. Returns (name, filename, body) per part.
    fn parse(body: &[u8], boundary: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
        let delim = format!("--{boundary}");
        let text = body;
        let mut parts = Vec::new();
        let mut pos = 0;
        let find = |from: usize, pat: &[u8]| {
            text[from..]
                .windows(pat.len())
                .position(|w| w == pat)
                .map(|i| i + from)
        };
        let start = find(0, delim.as_bytes()).expect("first boundary");
        pos = pos.max(start + delim.len());
        loop {
            if text[pos..].starts_with(b"--\r\n") {
                assert_eq!(
                    pos + 4,
                    text.len(),
                    "trailing bytes after the close delimiter"
                );
                break;
            }
            assert!(text[pos..].starts_with(b"\r\n"));
            pos += 2;
            let head_end = find(pos, b"\r\n\r\n").expect("end of part headers");
            let head = std::str::from_utf8(&text[pos..head_end]).expect("headers are UTF-8");
            assert_eq!(
                head.matches("\r\n").count() + 1,
                head.lines().count(),
                "no stray CR/LF inside headers"
            );
            let next =
                find(head_end + 4, format!("\r\n{delim}").as_bytes()).expect("next boundary");
            let data = text[head_end + 4..next].to_vec();
            let disp = head
                .lines()
                .find(|l| l.starts_with("Content-Disposition"))
                .unwrap();
            let name = disp
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let filename = disp.split("filename*=UTF-8''").nth(1).map(|enc| {
                let enc = enc.split(['\r', ';']).next().unwrap();
                let mut bytes = Vec::new();
                let b = enc.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' {
                        bytes.push(u8::from_str_radix(&enc[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        bytes.push(b[i]);
                        i += 1;
                    }
                }
                String::from_utf8(bytes).unwrap()
            });
            parts.push((name, filename, data));
            pos = next + 2 + delim.len();
        }
        parts
    }

    pub(crate) fn round_trip(names: &[String], bodies: &[Vec<u8>]) {
        let mut m = Multipart::with_boundary("b0undary-42");
        m.text("format", "webp");
        for (n, b) in names.iter().zip(bodies) {
            m.file("file", n, Source::Bytes(b.clone().into()), b.len() as u64);
        }
        let expected_len = m.content_length();
        let encoded = encode_to_vec(m).unwrap();
        assert_eq!(
            encoded.len() as u64,
            expected_len,
            "Content-Length must be exact"
        );
        let parts = parse(&encoded, "b0undary-42");
        assert_eq!(parts.len(), names.len() + 1);
        assert_eq!(parts[0], ("format".into(), None, b"webp".to_vec()));
        for (i, (n, b)) in names.iter().zip(bodies).enumerate() {
            assert_eq!(parts[i + 1].1.as_deref(), Some(n.as_str()));
            assert_eq!(&parts[i + 1].2, b);
        }
    }

    #[test]
    fn hostile_names_round_trip() {
        let names: Vec<String> = [
            "ümlaut \"q\".jpg",
            "a\r\nContent-Type: evil\r\n.png",
            "back\\slash.gif",
            "日本.webp",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let bodies = vec![
            b"one".to_vec(),
            b"--b0undary-4".to_vec(),
            vec![0, 13, 10],
            vec![255; 100],
            vec![1],
        ];
        round_trip(&names, &bodies);
    }

    #[test]
    fn the_upload_turn_passes_on_with_the_last_byte() {
        let mut m = Multipart::with_boundary("b");
        m.text("format", "webp");
        m.file(
            "file",
            "x.bin",
            Source::Bytes(Arc::from(vec![7u8; 1000])),
            1000,
        );
        let len = m.content_length() as usize;
        let gate = Arc::new(UploadGate::default());
        let t = Arc::new(Transfer::default());
        let turn = UploadGate::enter(&gate, &t.cancelled).unwrap();
        let mut reader = m.into_reader(t.clone(), Arc::default(), Some(turn));
        let mut buf = vec![0u8; len - 1];
        reader.read_exact(&mut buf).unwrap();
        assert!(*gate.busy.lock().unwrap(), "held while bytes are left");
        // Exactly the last byte, and no read after it (as an HTTP stack that counts bytes does).
        reader.read_exact(&mut buf[..1]).unwrap();
        assert!(!*gate.busy.lock().unwrap(), "the next request may upload");
        drop(reader);
        let second = UploadGate::enter(&gate, &t.cancelled).unwrap();
        drop(second);
    }

    #[test]
    fn streams_files_with_exact_length() {
        let path = std::env::temp_dir().join(format!("flx-mp-{}.bin", std::process::id()));
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut m = Multipart::new();
        m.file(
            "file",
            "x.bin",
            Source::File(path.clone()),
            data.len() as u64,
        );
        let len = m.content_length();
        let t = Arc::new(Transfer::default());
        let mut out = Vec::new();
        let attempt = Arc::new(AtomicU64::new(0));
        m.into_reader(t.clone(), attempt.clone(), None)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len() as u64, len);
        assert_eq!(t.done.load(Ordering::Relaxed), len);
        assert_eq!(attempt.load(Ordering::Relaxed), len);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn cancel_stops_the_stream() {
        let mut m = Multipart::new();
        m.text("a", "b");
        let t = Arc::new(Transfer::default());
        t.cancelled.store(true, Ordering::Relaxed);
        let err = m
            .into_reader(t, Arc::default(), None)
            .read(&mut [0u8; 16])
            .unwrap_err();
        let inner = err.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.kind(), crate::ErrorKind::Cancelled);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn any_names_round_trip(names in proptest::collection::vec(".{0,40}", 1..4),
                                body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let bodies = vec![body; names.len()];
            round_trip(&names, &bodies);
        }
    }
}
