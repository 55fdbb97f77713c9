//! Every fault mode, fault targeting and counting, random faults.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use fluximage_emulator::{builtin_key, EmulatorConfig, Fault, FaultMode, FaultPath};

fn agency_compressed(emu: &fluximage_emulator::Emulator) -> u64 {
    emu.stats()["credits"][builtin_key("agency")]["compress"]
        .as_u64()
        .unwrap()
}

fn small_form() -> Vec<u8> {
    Form::new().file("a.png", &photo_png(16, 16)).build()
}

fn compress_on(c: &mut Conn, body: &[u8]) -> std::io::Result<Resp> {
    let auth = agency();
    let ct = content_type();
    c.request(
        "POST",
        "/api/compress",
        &[("Authorization", &auth), ("Content-Type", &ct)],
        body,
    )
}

#[test]
fn status_faults() {
    let emu = start_default();
    let base = emu.base_url();
    let cases = [
        (
            Fault::new(FaultMode::TooManyRequests),
            429,
            Some("1"),
            "rate limited",
        ),
        (
            Fault::new(FaultMode::TooManyRequests).with_retry_after(4),
            429,
            Some("4"),
            "rate limited",
        ),
        (
            Fault::new(FaultMode::ServiceUnavailable),
            503,
            None,
            "service unavailable",
        ),
        (
            Fault::new(FaultMode::ServiceUnavailable).with_retry_after(2),
            503,
            Some("2"),
            "service unavailable",
        ),
        (Fault::new(FaultMode::BadGateway), 502, None, "bad gateway"),
        (
            Fault::new(FaultMode::GatewayTimeout),
            504,
            None,
            "gateway timeout",
        ),
    ];
    for (fault, status, retry_after, msg) in cases {
        emu.inject(fault.clone());
        let r = compress_with(&base, &agency(), &small_form());
        assert_eq!(r.status, status, "{fault:?}");
        assert_eq!(r.header("retry-after"), retry_after, "{fault:?}");
        assert_eq!(r.error(), msg);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // None of them was processed or charged.
    assert_eq!(agency_compressed(&emu), 0);
    assert_eq!(emu.stats()["faults_applied"], 6);
    assert_eq!(compress_with(&base, &agency(), &small_form()).status, 200);
}

#[test]
fn html_500_and_wrong_content_type() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::InternalHtml));
    let r = usage(&emu.base_url(), &agency());
    assert_eq!(r.status, 500);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<html>"));
    emu.inject(Fault::new(FaultMode::WrongContentType));
    let r = compress_with(&emu.base_url(), &agency(), &small_form());
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(agency_compressed(&emu), 0);
}

#[test]
fn reset_processes_and_charges_then_closes() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::Reset).with_path(FaultPath::Compress));
    let mut c = Conn::open(&emu.base_url());
    let err = compress_on(&mut c, &small_form()).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    // The double-charge scenario: the image was processed and charged.
    assert_eq!(agency_compressed(&emu), 1);
    assert_eq!(emu.stats()["results_stored"], 1);
}

#[test]
fn reset_early_closes_before_reading_and_charges_nothing() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::ResetEarly));
    let mut c = Conn::open(&emu.base_url());
    let auth = agency();
    let ct = content_type();
    let body = small_form();
    // Send only the headers: the server must close without waiting for the body.
    c.send(
        "POST",
        "/api/compress",
        &[
            ("Authorization", &auth),
            ("Content-Type", &ct),
            ("Content-Length", &body.len().to_string()),
        ],
        b"",
    )
    .unwrap();
    c.set_read_timeout(Duration::from_secs(5));
    let t = Instant::now();
    assert!(c.closed_without_answer());
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(agency_compressed(&emu), 0);
    // A usage request, too.
    emu.inject(Fault::new(FaultMode::ResetEarly).with_path(FaultPath::Usage));
    let mut c = Conn::open(&emu.base_url());
    assert!(c
        .request("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .is_err());
}

#[test]
fn stall_waits_then_answers_and_charges_a_client_still_there() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::Stall).with_delay_ms(400));
    let t = Instant::now();
    let r = compress_with(&emu.base_url(), &agency(), &small_form());
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.status, 200);
    assert!(r.json()["results"][0]["url"].is_string());
    assert_eq!(
        agency_compressed(&emu),
        1,
        "the client waited for its answer"
    );
    assert_eq!(emu.stats()["abandoned"], 0);
    // A client with a short read timeout gives up reading but keeps the connection: it is
    // answered (late) and nothing is abandoned.
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_delay_ms(1500)
            .with_path(FaultPath::Usage),
    );
    let mut c = Conn::open(&emu.base_url());
    c.set_read_timeout(Duration::from_millis(300));
    let auth = agency();
    let e = c
        .request("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .unwrap_err();
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
}

/// Polls the stats until `abandoned` reaches `n` (the server notices a hang-up within ~50 ms).
fn wait_abandoned(emu: &fluximage_emulator::Emulator, n: u64) {
    let t = Instant::now();
    while emu.stats()["abandoned"].as_u64().unwrap() < n {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the hang-up was not noticed: {}",
            emu.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_compress_whose_client_hung_up_is_not_charged() {
    let emu = start_default();
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_delay_ms(600)
            .with_path(FaultPath::Compress),
    );
    let mut c = Conn::open(&emu.base_url());
    let (auth, ct) = (agency(), content_type());
    c.send(
        "POST",
        "/api/compress",
        &[("Authorization", &auth), ("Content-Type", &ct)],
        &small_form(),
    )
    .unwrap();
    // Wait until the server holds the request, then hang up, as a cancelled call does.
    let t = Instant::now();
    while emu.stats()["faults_applied"] != 1 {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(c);
    wait_abandoned(&emu, 1);
    // Past the stall: still nothing charged, and the emulator keeps working.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(agency_compressed(&emu), 0, "{}", emu.stats());
    assert_eq!(emu.stats()["abandoned"], 1);
    let r = compress_with(&emu.base_url(), &agency(), &small_form());
    assert_eq!(r.status, 200);
    assert_eq!(agency_compressed(&emu), 1);
}

#[test]
fn trickle_sends_slowly_with_content_length() {
    let emu = start_default();
    emu.inject(
        Fault::new(FaultMode::Trickle)
            .with_delay_ms(600)
            .with_path(FaultPath::Usage),
    );
    let mut c = Conn::open(&emu.base_url());
    let auth = agency();
    let t = Instant::now();
    c.send("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .unwrap();
    let (status, headers) = c.read_head().unwrap();
    let head_at = t.elapsed();
    assert_eq!(status, 200);
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    c.reader().read_exact(&mut body).unwrap();
    assert!(head_at < Duration::from_millis(500), "{head_at:?}");
    assert!(
        t.elapsed() > Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["plan"], "agency");
    // The connection stays usable.
    assert_eq!(
        c.request("GET", "/api/usage", &[("Authorization", &auth)], b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn truncated_json_is_well_framed_but_invalid() {
    let emu = start_default();
    for path in [FaultPath::Compress, FaultPath::Usage] {
        emu.inject(Fault::new(FaultMode::TruncatedJson).with_path(path));
    }
    let r = compress_with(&emu.base_url(), &agency(), &small_form());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert!(r.text().starts_with("{\"sessionId\""));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    let r = usage(&emu.base_url(), &agency());
    assert!(r.text().starts_with("{\"plan\""));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(agency_compressed(&emu), 0);
}

#[test]
fn huge_json_streams_200_mib_of_valid_json() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::HugeJson).with_path(FaultPath::Usage));
    let mut c = Conn::open(&emu.base_url());
    let auth = agency();
    c.send("GET", "/api/usage", &[("Authorization", &auth)], b"")
        .unwrap();
    let (status, headers) = c.read_head().unwrap();
    assert_eq!(status, 200);
    let len: u64 = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(len, 200 * 1024 * 1024);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let mut head = Vec::new();
    let mut tail = Vec::new();
    while total < len {
        let n = c.reader().read(&mut buf).unwrap();
        assert!(n > 0, "eof after {total}");
        if head.len() < 64 {
            head.extend_from_slice(&buf[..n.min(64)]);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 4096 {
            tail.drain(..tail.len() - 64);
        }
        total += n as u64;
    }
    assert_eq!(total, len);
    assert!(head.starts_with(br#"{"sessionId":"s_huge","padding":"aaaa"#));
    assert!(tail.ends_with(br#"aaaa","results":[]}"#));
}

#[test]
fn huge_json_client_can_hang_up() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::HugeJson).with_count(3));
    for _ in 0..3 {
        let mut c = Conn::open(&emu.base_url());
        let auth = agency();
        c.send("GET", "/api/usage", &[("Authorization", &auth)], b"")
            .unwrap();
        let (status, _) = c.read_head().unwrap();
        assert_eq!(status, 200);
        let mut buf = [0u8; 1000];
        c.reader().read_exact(&mut buf).unwrap();
        drop(c);
    }
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
}

#[test]
fn redirects() {
    let emu = start_default();
    emu.inject(Fault::new(FaultMode::RedirectForeign).with_path(FaultPath::Usage));
    let r = usage(&emu.base_url(), &agency());
    assert_eq!(r.status, 307);
    let loc = r.header("location").unwrap().to_string();
    assert_eq!(loc, format!("{}/api/usage", emu.foreign_url()));
    // The foreign origin counts the keys it gets.
    let f = get(&loc, &[("Authorization", &agency())]);
    assert_eq!(f.status, 200);
    assert_eq!(f.text(), "foreign");
    assert_eq!(get(&loc, &[]).status, 200);
    let stats = emu.stats();
    assert_eq!(stats["authorization_seen"]["foreign"], 1);
    assert_eq!(stats["requests"]["foreign"], 2);

    emu.inject(Fault::new(FaultMode::RedirectHttp));
    let r = compress_with(&emu.base_url(), &agency(), &small_form());
    assert_eq!(r.status, 307);
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("http://127.0.0.1:"), "{loc}");
    assert!(loc.ends_with("/api/compress"));
    assert_eq!(agency_compressed(&emu), 0);
}

#[test]
fn download_faults_target_the_download_origin_only() {
    let emu = start_default();
    let e = first(&compress_with(&emu.base_url(), &agency(), &small_form()).into_ok());
    let url = e["url"].as_str().unwrap();
    emu.inject(
        Fault::new(FaultMode::ServiceUnavailable)
            .with_path(FaultPath::Download)
            .with_count(2),
    );
    // API requests are not affected.
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
    assert_eq!(get(url, &[]).status, 503);
    assert_eq!(get(url, &[]).status, 503);
    assert_eq!(get(url, &[]).status, 200);
    // And "any" faults do not touch downloads.
    emu.inject(Fault::new(FaultMode::BadGateway));
    assert_eq!(get(url, &[]).status, 200);
    assert_eq!(usage(&emu.base_url(), &agency()).status, 502);
    // Reset on a download: the request is read, then the connection closes.
    emu.inject(Fault::new(FaultMode::Reset).with_path(FaultPath::Download));
    let (origin, path) = split_url(url);
    assert!(Conn::open(&origin).request("GET", &path, &[], b"").is_err());
    assert_eq!(get(url, &[]).status, 200);
}

#[test]
fn path_targeting_and_counts() {
    let emu = start_default();
    emu.inject(
        Fault::new(FaultMode::BadGateway)
            .with_path(FaultPath::Compress)
            .with_count(2),
    );
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
    assert_eq!(
        compress_with(&emu.base_url(), &agency(), &small_form()).status,
        502
    );
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
    assert_eq!(
        compress_with(&emu.base_url(), &agency(), &small_form()).status,
        502
    );
    assert_eq!(
        compress_with(&emu.base_url(), &agency(), &small_form()).status,
        200
    );
    // Faults queue in order.
    emu.inject(Fault::new(FaultMode::ServiceUnavailable));
    emu.inject(Fault::new(FaultMode::GatewayTimeout));
    assert_eq!(usage(&emu.base_url(), &agency()).status, 503);
    assert_eq!(usage(&emu.base_url(), &agency()).status, 504);
    assert_eq!(usage(&emu.base_url(), &agency()).status, 200);
}

#[test]
fn faults_over_http_control() {
    let emu = start(EmulatorConfig {
        control: true,
        ..Default::default()
    });
    let base = emu.base_url();
    let r = request(
        &base,
        "POST",
        "/__control/fault",
        &[("Content-Type", "application/json")],
        br#"{"mode":"stall","delay_ms":200,"path":"usage"}"#,
    );
    assert_eq!(r.status, 200);
    let t = Instant::now();
    assert_eq!(usage(&base, &agency()).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let r = request(
        &base,
        "POST",
        "/__control/fault",
        &[],
        br#"{"mode":"reset-early"}"#,
    );
    assert_eq!(r.status, 200);
    assert!(Conn::open(&base)
        .request("GET", "/api/usage", &[("Authorization", &agency())], b"")
        .is_err());
}

fn random_pattern(emu: &fluximage_emulator::Emulator, n: usize) -> Vec<u16> {
    let auth = agency();
    (0..n)
        .map(|_| {
            match Conn::open(&emu.base_url()).request(
                "GET",
                "/api/usage",
                &[("Authorization", &auth)],
                b"",
            ) {
                Ok(r) => r.status,
                Err(_) => 0, // reset-early
            }
        })
        .collect()
}

#[test]
fn random_faults_are_seeded_and_bounded() {
    let a = {
        let emu = start_default();
        emu.inject(Fault::random(0.3, 42, 60));
        let p = random_pattern(&emu, 70);
        assert_eq!(
            emu.stats()["faults_applied"].as_u64().unwrap() as usize,
            p[..60].iter().filter(|s| **s != 200).count()
        );
        p
    };
    let b = {
        let emu = start(EmulatorConfig {
            control: true,
            ..Default::default()
        });
        let r = request(
            &emu.base_url(),
            "POST",
            "/__control/fault",
            &[],
            br#"{"random":{"rate":0.3,"seed":42},"count":60}"#,
        );
        assert_eq!(r.status, 200);
        random_pattern(&emu, 70)
    };
    assert_eq!(a, b);
    let faults = a[..60].iter().filter(|s| **s != 200).count();
    assert!((5..=35).contains(&faults), "{faults} of 60");
    assert!(a[60..].iter().all(|s| *s == 200));
    for s in &a {
        assert!([0, 200, 429, 500, 503].contains(s), "{s}");
    }
}

trait IntoOk {
    fn into_ok(self) -> Resp;
}

impl IntoOk for Resp {
    fn into_ok(self) -> Resp {
        assert_eq!(self.status, 200, "{}", self.text());
        self
    }
}
