//! Pass-through throughput: tiny compress + download round trips per second over keep-alive.
//!
//! ```sh
//! cargo run --release -p fluximage-emulator --example passthrough_bench -- [SECONDS] [THREADS]
//! ```
//! Starts an in-process emulator with `Encode::None` (pass-through), then THREADS client
//! threads (default 4), each with one keep-alive connection to the API origin and one to the
//! download origin, loop for SECONDS (default 3): upload a 64-byte file, read the JSON answer,
//! fetch the signed URL, check the bytes. Prints the round trips per second.
//! The target on a 2-core machine is at least 3,000 round trips/s.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluximage_emulator::{Emulator, EmulatorConfig, Encode};

/// An Agency account without the 50,000-image cap, so long runs do not end in 402.
const BENCH_KEY: &str = "flx_live_be0c4be0c4be0c4be0c4be0c4be0c4be0c4be0c4";

struct Conn {
    reader: BufReader<TcpStream>,
    head: String,
    body: Vec<u8>,
}

impl Conn {
    fn open(url: &str) -> Conn {
        let hp = url.split("://").nth(1).unwrap();
        let s = TcpStream::connect(hp).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            reader: BufReader::with_capacity(16 * 1024, s),
            head: String::new(),
            body: Vec::new(),
        }
    }

    /// Sends `req` and reads one response; returns the status (body in `self.body`).
    fn round_trip(&mut self, req: &[u8]) -> u16 {
        self.reader.get_mut().write_all(req).unwrap();
        self.head.clear();
        let mut status = 0;
        let mut len = 0usize;
        loop {
            let start = self.head.len();
            self.reader.read_line(&mut self.head).unwrap();
            let line = &self.head[start..];
            if start == 0 {
                status = line[9..12].parse().unwrap();
            } else if line == "\r\n" {
                break;
            } else if line.len() > 15 && line[..15].eq_ignore_ascii_case("content-length:") {
                len = line[15..].trim().parse().unwrap();
            }
        }
        self.body.resize(len, 0);
        self.reader.read_exact(&mut self.body).unwrap();
        status
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let keys =
        std::env::temp_dir().join(format!("fluximage-bench-keys-{}.json", std::process::id()));
    std::fs::write(
        &keys,
        format!(r#"[{{"key":"{BENCH_KEY}","plan":"agency","compressor_cap":1000000000000}}]"#),
    )
    .unwrap();
    let emu = Emulator::start(EmulatorConfig {
        encode: Encode::None,
        keys_file: Some(keys.clone()),
        ..Default::default()
    })
    .expect("emulator starts");
    let _ = std::fs::remove_file(&keys);
    let api = emu.base_url();
    let dl = emu.download_url();
    let key = BENCH_KEY;

    let payload: Vec<u8> = (0..64u8).collect();
    let boundary = "bench-boundary-1234";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tiny.png\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&payload);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut compress_req = format!(
        "POST /api/compress HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    compress_req.extend_from_slice(&body);
    let compress_req = Arc::new(compress_req);
    let payload = Arc::new(payload);

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (api, dl) = (api.clone(), dl.clone());
            let (req, payload) = (compress_req.clone(), payload.clone());
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut a = Conn::open(&api);
                let mut d = Conn::open(&dl);
                let mut get = Vec::with_capacity(512);
                let mut local = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(a.round_trip(&req), 200);
                    let text = std::str::from_utf8(&a.body).unwrap();
                    let url_start = text.find("\"url\":\"").unwrap() + 7;
                    let url_end = url_start + text[url_start..].find('"').unwrap();
                    let url = &text[url_start..url_end];
                    let path = &url[url.find("/d/").unwrap()..];
                    get.clear();
                    get.extend_from_slice(b"GET ");
                    get.extend_from_slice(path.as_bytes());
                    get.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                    assert_eq!(d.round_trip(&get), 200);
                    assert_eq!(d.body, *payload);
                    local += 1;
                }
                count.fetch_add(local, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    let stats = emu.stats();
    println!(
        "{n} compress+download round trips in {elapsed:.2} s with {threads} client threads: {:.0} round trips/s \
         ({} API connections, {} download connections)",
        n as f64 / elapsed,
        stats["connections"]["api"],
        stats["connections"]["download"],
    );
}
