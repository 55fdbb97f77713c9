//! TLS, rate limit, keep-alive, concurrency, shutdown, and the binary.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig, Encode};

fn tls_agent(ca: &std::path::Path) -> ureq::Agent {
    let pem = std::fs::read(ca).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
    ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        )
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

#[test]
fn tls_with_the_generated_ca() {
    let emu = start(EmulatorConfig {
        tls: true,
        ..Default::default()
    });
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    assert!(emu.download_url().starts_with("https://"));
    assert!(emu.foreign_url().starts_with("https://"));
    let ca = emu.ca_pem_path().expect("a CA file");
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let agent = tls_agent(&ca);

    let mut r = agent
        .get(format!("{}/api/usage", emu.base_url()))
        .header("Authorization", agency())
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["plan"], "agency");

    // Compress over TLS, then download over TLS from the second origin.
    let body = Form::new().file("a.png", &photo_png(16, 16)).build();
    let mut r = agent
        .post(format!("{}/api/compress", emu.base_url()))
        .header("Authorization", agency())
        .header("Content-Type", content_type())
        .send(&body[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let url = v["results"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&emu.download_url()));
    let mut d = agent.get(url).call().unwrap();
    assert_eq!(d.status().as_u16(), 200);
    let bytes = d.body_mut().read_to_vec().unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");

    // localhost is in the certificate too.
    let port = emu.base_url().rsplit(':').next().unwrap().to_string();
    let r = agent
        .get(format!("https://localhost:{port}/api/usage"))
        .header("Authorization", agency())
        .call();
    // localhost may resolve to ::1 first, where nothing listens; only a TLS error is wrong.
    if let Err(e) = &r {
        assert!(
            !format!("{e}").to_lowercase().contains("certificate"),
            "{e}"
        );
    }

    // Foreign origin over TLS, and over plain HTTP (the redirect-http target).
    let r = agent
        .get(format!("{}/x", emu.foreign_url()))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let plain = emu.foreign_url().replace("https://", "http://");
    let r = get(&format!("{plain}/x"), &[]);
    assert_eq!(r.text(), "foreign");

    assert!(emu.stats()["tls_handshakes"].as_u64().unwrap() >= 3);

    // A client that does not trust the CA fails.
    let untrusting: ureq::Agent = ureq::Agent::config_builder().build().into();
    assert!(untrusting
        .get(format!("{}/api/usage", emu.base_url()))
        .call()
        .is_err());
}

#[test]
fn a_stalled_compress_over_tls_is_not_charged_when_the_client_gives_up() {
    let emu = start(EmulatorConfig {
        tls: true,
        ..EmulatorConfig::default()
    });
    let ca = emu.ca_pem_path().unwrap();
    emu.inject(
        fluximage_emulator::Fault::new(fluximage_emulator::FaultMode::Stall).with_delay_ms(1500),
    );
    // A real TLS client whose call times out drops its connection, as a cancelled call does.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![
                    ureq::tls::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap(),
                ])))
                .build(),
        )
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .into();
    let r = agent
        .post(format!("{}/api/compress", emu.base_url()))
        .header("Authorization", agency())
        .header("Content-Type", content_type())
        .send(&Form::new().file("a.png", &photo_png(16, 16)).build()[..]);
    assert!(r.is_err(), "the call should time out");
    drop(agent);
    let t = Instant::now();
    while emu.stats()["abandoned"] != 1 {
        assert!(t.elapsed() < Duration::from_secs(5), "{}", emu.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1200));
    let charged = &emu.stats()["credits"][builtin_key("agency")]["compress"];
    assert_eq!(charged, 0, "{}", emu.stats());
}

#[test]
fn tls_dir_is_used() {
    let dir = std::env::temp_dir().join(format!("fluximage-emu-tlsdir-{}", std::process::id()));
    let emu = start(EmulatorConfig {
        tls: true,
        tls_dir: Some(dir.clone()),
        ..Default::default()
    });
    assert_eq!(emu.ca_pem_path().unwrap(), dir.join("ca.pem"));
    assert!(dir.join("ca.pem").exists());
    drop(emu);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rate_limit_is_429_with_retry_after() {
    let emu = start(EmulatorConfig {
        rate: Some(2),
        ..Default::default()
    });
    let mut c = Conn::open(&emu.base_url());
    let auth = agency();
    let statuses: Vec<(u16, Option<String>)> = (0..5)
        .map(|_| {
            let r = c
                .request("GET", "/api/usage", &[("Authorization", &auth)], b"")
                .unwrap();
            (r.status, r.header("retry-after").map(String::from))
        })
        .collect();
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!limited.is_empty(), "{statuses:?}");
    for (_, ra) in &limited {
        assert_eq!(ra.as_deref(), Some("1"));
    }
    // Per key: another key is not limited by the first one's traffic.
    let other = format!("Bearer {}", builtin_key("pro"));
    assert_eq!(usage(&emu.base_url(), &other).status, 200);
    // After a second, the key may call again.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(usage(&emu.base_url(), &auth).status, 200);
}

#[test]
fn keep_alive_reuses_one_connection() {
    let emu = start(EmulatorConfig {
        encode: Encode::None,
        ..Default::default()
    });
    let mut api = Conn::open(&emu.base_url());
    let mut dl = Conn::open(&emu.download_url());
    let auth = agency();
    let ct = content_type();
    let body = Form::new().file("a.bin", b"hello").build();
    for _ in 0..20 {
        let r = api
            .request(
                "POST",
                "/api/compress",
                &[("Authorization", &auth), ("Content-Type", &ct)],
                &body,
            )
            .unwrap();
        let url = first(&r)["url"].as_str().unwrap().to_string();
        let (_, path) = split_url(&url);
        let d = dl.request("GET", &path, &[], b"").unwrap();
        assert_eq!(d.body, b"hello");
        assert_eq!(
            api.request("GET", "/api/usage", &[("Authorization", &auth)], b"")
                .unwrap()
                .status,
            200
        );
    }
    let s = emu.stats();
    assert_eq!(s["connections"]["api"], 1);
    assert_eq!(s["connections"]["download"], 1);
    assert_eq!(s["requests"]["compress"], 20);
    assert_eq!(s["requests"]["download"], 20);
    assert_eq!(s["requests"]["usage"], 20);
}

#[test]
fn many_concurrent_connections() {
    let emu = Arc::new(start(EmulatorConfig {
        encode: Encode::None,
        ..Default::default()
    }));
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let emu = emu.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(&emu.base_url());
                let auth = agency();
                let ct = content_type();
                let data = format!("payload {i}");
                let body = Form::new().file("p.bin", data.as_bytes()).build();
                for _ in 0..10 {
                    let r = c
                        .request(
                            "POST",
                            "/api/compress",
                            &[("Authorization", &auth), ("Content-Type", &ct)],
                            &body,
                        )
                        .unwrap();
                    let url = first(&r)["url"].as_str().unwrap().to_string();
                    assert_eq!(fetch(&url), data.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(emu.stats()["requests"]["compress"], 320);
    assert_eq!(emu.stats()["connections"]["api"], 32);
}

#[test]
fn large_real_batch_stays_responsive() {
    let emu = start_default();
    let base = emu.base_url();
    let png = photo_png(400, 300);
    let handle = {
        let base = base.clone();
        std::thread::spawn(move || {
            let mut form = Form::new().field("format", "jpg");
            for i in 0..8 {
                form = form.file(&format!("p{i}.png"), &png);
            }
            compress(&base, form)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(usage(&base, &agency()).status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let r = handle.join().unwrap();
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 8);
}

#[test]
fn drop_closes_every_listener() {
    let emu = start_default();
    let addrs = [emu.base_url(), emu.download_url(), emu.foreign_url()];
    // An idle keep-alive connection does not keep it alive.
    let mut idle = Conn::open(&emu.base_url());
    assert_eq!(
        idle.request("GET", "/api/usage", &[("Authorization", &agency())], b"")
            .unwrap()
            .status,
        200
    );
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(3));
    for a in addrs {
        assert!(
            std::net::TcpStream::connect(host_port(&a)).is_err(),
            "{a} still open"
        );
    }
    assert!(idle.closed_without_answer());
}

#[tokio::test]
async fn drop_inside_an_async_runtime() {
    let emu = start_default();
    let base = emu.base_url();
    drop(emu);
    assert!(std::net::TcpStream::connect(host_port(&base)).is_err());
}

#[test]
fn fixed_ports_can_be_reused_after_drop() {
    // Start on a free port we pick, then reuse the same port after a drop.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..2 {
        let emu = Emulator::start(EmulatorConfig {
            listen: addr,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(emu.base_url(), format!("http://127.0.0.1:{port}"));
        drop(emu);
    }
}

// ----- the binary --------------------------------------------------------------------------

fn spawn_bin(
    args: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    String,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (child, out, line)
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the emulator did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binary_prints_listening_line_and_exits_on_sigterm() {
    let (mut child, mut out, line) = spawn_bin(&["--control"]);
    let line = line.trim_end();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let base = line.trim_start_matches("listening on ").to_string();
    let mut rest = String::new();
    out.read_line(&mut rest).unwrap();
    assert!(rest.starts_with("download on http://127.0.0.1:"), "{rest}");
    assert_eq!(usage(&base, &agency()).status, 200);
    assert_eq!(
        request(&base, "GET", "/__control/stats", &[], b"").status,
        200
    );
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    assert!(std::net::TcpStream::connect(host_port(&base)).is_err());
}

#[test]
fn binary_exits_on_sigint_and_serves_tls() {
    let dir = std::env::temp_dir().join(format!("fluximage-emu-bin-{}", std::process::id()));
    let (mut child, mut out, line) = spawn_bin(&[
        "--tls",
        "--tls-dir",
        dir.to_str().unwrap(),
        "--ttl",
        "60",
        "--rate",
        "100",
        "--shape",
        "alt",
        "--encode",
        "none",
    ]);
    assert!(
        line.starts_with("listening on https://127.0.0.1:"),
        "{line}"
    );
    let mut all = String::new();
    for _ in 0..3 {
        out.read_line(&mut all).unwrap();
    }
    assert!(
        all.contains(&format!("ca file {}", dir.join("ca.pem").display())),
        "{all}"
    );
    let agent = tls_agent(&dir.join("ca.pem"));
    let base = line.trim().trim_start_matches("listening on ");
    let r = agent
        .get(format!("{base}/api/usage"))
        .header("Authorization", agency())
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn binary_print_keys_help_and_bad_args() {
    let out = Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
        .arg("--print-keys")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for plan in ["free", "starter", "pro", "agency"] {
        assert!(
            text.contains(&format!("{plan} {}\n", builtin_key(plan))),
            "{text}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--download-listen",
        "--foreign-listen",
        "--tls",
        "--tls-dir",
        "--ttl",
        "--rate",
        "--control",
        "--shape",
        "--encode",
        "--keys",
        "--rolled",
        "--agency-only",
        "--key",
        "--ready-file",
        "--print-keys",
        "--help",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    for bad in [
        vec!["--nope"],
        vec!["--ttl", "abc"],
        vec!["--shape", "square"],
        vec!["--encode"],
        vec!["--listen", "not-an-address"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_fluximage-emulator"))
            .args(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn binary_keys_file_rolled_and_agency_only() {
    let key = "flx_live_9999999999999999999999999999999999999999";
    let f = keys_file(&format!(
        r#"[{{"key":"{key}","plan":"agency","compressor_used":7}}]"#
    ));
    let (mut child, _out, line) = spawn_bin(&[
        "--keys",
        f.0.to_str().unwrap(),
        "--rolled",
        builtin_key("starter"),
        "--agency-only",
    ]);
    let base = line.trim().trim_start_matches("listening on ").to_string();
    assert_eq!(
        usage(&base, &format!("Bearer {key}")).json()["compressor_used"],
        7
    );
    assert_eq!(
        usage(&base, &format!("Bearer {}", builtin_key("starter"))).status,
        401
    );
    assert_eq!(
        usage(&base, &format!("Bearer {}", builtin_key("pro"))).status,
        403
    );
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.is_empty(), "{err}");
}
