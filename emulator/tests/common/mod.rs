//! Shared helpers: a tiny raw HTTP/1.1 client (keep-alive, Content-Length and chunked
//! bodies), multipart bodies and generated test images.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

pub const BOUNDARY: &str = "----fluximage-test-boundary-7d3f";

pub fn agency() -> String {
    format!("Bearer {}", builtin_key("agency"))
}

pub fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).expect("emulator starts")
}

pub fn start_default() -> Emulator {
    start(EmulatorConfig::default())
}

/// `http://127.0.0.1:PORT` -> `127.0.0.1:PORT`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    rest.split('/').next().unwrap().to_string()
}

/// Splits a full URL into (origin, path-and-query).
pub fn split_url(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let idx = rest.find('/').unwrap_or(rest.len());
    (
        format!("{scheme}://{}", &rest[..idx]),
        rest[idx..].to_string(),
    )
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(base_url: &str) -> Conn {
        let stream = TcpStream::connect(host_port(base_url)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.reader.get_ref().set_read_timeout(Some(d)).unwrap();
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let has_len = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !has_len && (!body.is_empty() || method == "POST") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        s.flush()
    }

    /// Reads the status line and headers.
    pub fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.reader.read_line(&mut l)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "eof in headers",
                ));
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok((status, headers))
    }

    pub fn reader(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.reader
    }

    pub fn read_response(&mut self, head_request: bool) -> io::Result<Resp> {
        let (status, headers) = self.read_head()?;
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if head_request {
        } else if let Some(len) = get("content-length") {
            let len: usize = len.parse().unwrap();
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut l = String::new();
                self.reader.read_line(&mut l)?;
                let n = usize::from_str_radix(l.trim(), 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, l.clone()))?;
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Resp> {
        self.send(method, path, headers, body)?;
        self.read_response(method == "HEAD")
    }

    /// True when the server closed the connection (EOF or reset) without sending anything.
    pub fn closed_without_answer(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        }
    }
}

/// A one-shot request on a new connection.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    Conn::open(base)
        .request(method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    let (origin, path) = split_url(url);
    request(&origin, "GET", &path, headers, b"")
}

pub fn usage(base: &str, auth: &str) -> Resp {
    request(base, "GET", "/api/usage", &[("Authorization", auth)], b"")
}

/// A multipart body builder.
#[derive(Default)]
pub struct Form {
    body: Vec<u8>,
}

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    pub fn field(mut self, name: &str, value: &str) -> Form {
        self.body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
        self
    }

    /// A file part with the given raw Content-Disposition parameters after `name="..."`.
    pub fn raw_file(mut self, name: &str, disposition_params: &str, data: &[u8]) -> Form {
        self.body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; {disposition_params}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn file(self, filename: &str, data: &[u8]) -> Form {
        self.raw_file("file", &format!("filename=\"{filename}\""), data)
    }

    pub fn watermark(self, data: &[u8]) -> Form {
        self.raw_file("watermarkFile", "filename=\"wm.png\"", data)
    }

    pub fn build(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.body
    }
}

pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

pub fn compress_with(base: &str, auth: &str, body: &[u8]) -> Resp {
    let ct = content_type();
    request(
        base,
        "POST",
        "/api/compress",
        &[("Authorization", auth), ("Content-Type", &ct)],
        body,
    )
}

pub fn compress(base: &str, form: Form) -> Resp {
    compress_with(base, &agency(), &form.build())
}

/// A photo-like RGB image: smooth gradients, a soft disc and a little noise.
pub fn photo(w: u32, h: u32) -> RgbImage {
    let mut seed = 0x1234_5678_9abc_def0u64;
    RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 9) as i32 - 4;
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let d = ((fx - 0.6).powi(2) + (fy - 0.4).powi(2)).sqrt();
        let disc = (1.0 - (d * 3.0).min(1.0)) * 120.0;
        let r = 40.0 + 150.0 * fx + disc;
        let g = 60.0 + 100.0 * fy + disc * 0.5;
        let b = 180.0 - 80.0 * fx * fy;
        let c = |v: f32| (v as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([c(r), c(g), c(b)])
    })
}

/// PNG with fast compression and no filter: what a camera export or screenshot tool might do.
pub fn png_fast(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::NoFilter)
        .write_image(img, img.width(), img.height(), ExtendedColorType::Rgb8)
        .unwrap();
    out
}

pub fn photo_png(w: u32, h: u32) -> Vec<u8> {
    png_fast(&photo(w, h))
}

pub fn solid_png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    png_fast(&RgbImage::from_pixel(w, h, image::Rgb(rgb)))
}

/// A watermark: an opaque white square with a black border.
pub fn watermark_png() -> Vec<u8> {
    let img = RgbaImage::from_fn(40, 20, |x, y| {
        if x < 2 || y < 2 || x > 37 || y > 17 {
            image::Rgba([0, 0, 0, 255])
        } else {
            image::Rgba([255, 255, 255, 255])
        }
    });
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&img, 40, 20, ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// The first result entry of a reference-shape answer.
pub fn first(resp: &Resp) -> serde_json::Value {
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["results"][0].clone()
}

/// Downloads a result URL (no key).
pub fn fetch(url: &str) -> Vec<u8> {
    let r = get(url, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

pub fn keys_file(json: &str) -> tempfile_lite::TempFile {
    tempfile_lite::TempFile::with(json)
}

pub mod tempfile_lite {
    use std::path::PathBuf;

    /// A file in the temp dir, removed on drop.
    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn with(content: &str) -> TempFile {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "fluximage-emu-test-{}-{}.json",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&p, content).unwrap();
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
