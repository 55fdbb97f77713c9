//! Network shaping and server work time, measured from a client's side. Timing tests are few,
//! with tolerances wide enough for a busy 2-core machine, and check both bounds so that a cap
//! that is ignored (too fast) fails as surely as one that is too slow.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fluximage_emulator::{Emulator, EmulatorConfig, Encode};

/// Bytes that are no image: pass-through mode stores them as they are.
fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn passthrough(cfg: EmulatorConfig) -> Emulator {
    start(EmulatorConfig {
        encode: Encode::None,
        ..cfg
    })
}

fn within(what: &str, took: Duration, expected: f64, tolerance: f64) {
    between(what, took, expected, tolerance, tolerance);
}

/// `expected` with `below` and `above` as fractions: shaping can make things late on a busy
/// machine, never early, so most checks allow more above than below.
fn between(what: &str, took: Duration, expected: f64, below: f64, above: f64) {
    let s = took.as_secs_f64();
    eprintln!("{what}: {s:.3} s (expected {expected:.3})");
    assert!(
        (expected * (1.0 - below)..=expected * (1.0 + above)).contains(&s),
        "{what}: took {s:.3} s, expected {expected:.3} s (-{:.0} %, +{:.0} %)",
        below * 100.0,
        above * 100.0
    );
}

#[test]
fn a_10_mb_upload_at_8_mb_per_s_takes_1_25_s() {
    let emu = passthrough(EmulatorConfig {
        upload_rate: Some(8_000_000),
        ..EmulatorConfig::default()
    });
    // The server reads the whole body before it looks at it; a body that is not multipart is
    // then refused at once, so the time measured is the transfer's (parsing 10 MB in a debug
    // build would add a noisy tenth of a second).
    let body = blob(10_000_000);
    let auth = agency();
    let t = Instant::now();
    let r = request(
        &emu.base_url(),
        "POST",
        "/api/compress",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        &body,
    );
    let took = t.elapsed();
    assert_eq!(r.status, 400, "{}", r.text());
    within("10 MB up at 8 MB/s", took, 1.25, 0.10);
    // A real compress of the same size is capped alike (with parsing on top).
    let form = Form::new().file("big.bin", &body).build();
    let t = Instant::now();
    assert_eq!(compress_with(&emu.base_url(), &auth, &form).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(1100),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn download_caps_per_connection_and_per_origin() {
    // Each connection may download 4 MB/s, the origin 8 MB/s in all.
    let emu = passthrough(EmulatorConfig {
        conn_download_rate: Some(4_000_000),
        download_rate: Some(8_000_000),
        ..EmulatorConfig::default()
    });
    let size = 2_000_000;
    let r = compress(&emu.base_url(), Form::new().file("a.bin", &blob(size)));
    let url = first(&r)["url"].as_str().unwrap().to_string();
    let timed_fetch = |url: String| {
        std::thread::spawn(move || {
            let t = Instant::now();
            let body = fetch(&url);
            (body.len(), t.elapsed())
        })
    };
    // Alone, a download gets its connection's 4 MB/s: 2 MB in 0.5 s (the origin would allow 0.25).
    let (len, took) = timed_fetch(url.clone()).join().unwrap();
    assert_eq!(len, size);
    between("2 MB down at 4 MB/s", took, 0.5, 0.15, 0.4);
    // Three at once share the origin's 8 MB/s: 6 MB in 0.75 s (each alone would take 0.5).
    let t = Instant::now();
    let all: Vec<_> = (0..3).map(|_| timed_fetch(url.clone())).collect();
    for h in all {
        assert_eq!(h.join().unwrap().0, size);
    }
    between("3 × 2 MB down, 8 MB/s shared", t.elapsed(), 0.75, 0.15, 0.4);
}

#[test]
fn round_trips_and_server_work_time() {
    let rtt = 0.150;
    let emu = passthrough(EmulatorConfig {
        rtt: Duration::from_secs_f64(rtt),
        work_time: Duration::from_millis(200),
        encoders: Some(2),
        ..EmulatorConfig::default()
    });
    let auth = agency();
    let mut c = Conn::open(&emu.base_url());
    // A new connection pays for its set-up, then for the request: two round trips.
    let t = Instant::now();
    let r = c
        .request("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .unwrap();
    assert_eq!(r.status, 200);
    between(
        "first request on a new connection",
        t.elapsed(),
        2.0 * rtt,
        0.1,
        0.5,
    );
    // A kept-alive connection pays one.
    let t = Instant::now();
    c.request("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .unwrap();
    between(
        "request on a kept-alive connection",
        t.elapsed(),
        rtt,
        0.1,
        0.6,
    );
    // Four images of 200 ms with two encoders: two rounds of work, plus the round trip.
    let form = (0..4)
        .fold(Form::new(), |f, i| f.file(&format!("{i}.bin"), &blob(1000)))
        .build();
    let ct = content_type();
    let t = Instant::now();
    let r = c
        .request(
            "POST",
            "/api/compress",
            &[("Authorization", &auth), ("Content-Type", &ct)],
            &form,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 4);
    between(
        "4 images, 200 ms each, 2 at once",
        t.elapsed(),
        0.4 + rtt,
        0.1,
        0.4,
    );
}

#[test]
fn zero_rates_are_refused() {
    for cfg in [
        EmulatorConfig {
            upload_rate: Some(0),
            ..EmulatorConfig::default()
        },
        EmulatorConfig {
            encoders: Some(0),
            ..EmulatorConfig::default()
        },
    ] {
        let e = Emulator::start(cfg).err().expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }
}
