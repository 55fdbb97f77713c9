//! Faults survived, the key kept private, TLS checked, cancels prompt: each fault mode of the
//! emulator gives either a correct result after retry or a specific error.

mod common;

use common::*;
use fluximage::{CancelToken, CompressOptions, ErrorKind, ExistsPolicy, Input, Observer};
use fluximage_emulator::{builtin_key, EmulatorConfig, Fault, FaultMode, FaultPath};
use std::time::{Duration, Instant};

fn none() -> Observer<'static> {
    Observer::none()
}

fn one_image() -> Vec<Input> {
    vec![Input::bytes("r.png", photo_png(24, 24, 1))]
}

#[test]
fn transient_answers_are_retried_and_charged_once() {
    for mode in [
        FaultMode::ServiceUnavailable,
        FaultMode::BadGateway,
        FaultMode::GatewayTimeout,
        FaultMode::TooManyRequests,
    ] {
        let emu = emulator();
        let c = client(&emu, AGENCY);
        emu.inject(
            Fault::new(mode)
                .with_count(2)
                .with_path(FaultPath::Compress)
                .with_retry_after(0),
        );
        let b = c
            .compress(&one_image(), &CompressOptions::default(), &mut none())
            .unwrap();
        b.status().unwrap();
        assert_eq!(
            stat(&emu, "requests", "compress"),
            3,
            "{mode:?}: two failures, then success"
        );
        assert_eq!(credits(&emu, AGENCY), 1, "{mode:?}: charged once");
    }
}

#[test]
fn retries_stop_at_the_limit_with_the_servers_answer() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| cfg.retry.max_retries = 1);
    emu.inject(
        Fault::new(FaultMode::TooManyRequests)
            .with_count(5)
            .with_retry_after(1),
    );
    let e = c.usage(&mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(stat(&emu, "requests", "usage"), 2);
}

#[test]
fn a_long_retry_after_is_returned_not_waited_for() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    emu.inject(Fault::new(FaultMode::TooManyRequests).with_retry_after(3600));
    let e = c.usage(&mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(stat(&emu, "requests", "usage"), 1);
}

#[test]
fn an_uploaded_compress_is_not_repeated_unless_allowed() {
    let emu = emulator();
    emu.inject(Fault::new(FaultMode::Reset).with_path(FaultPath::Compress));
    let e = client(&emu, AGENCY)
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .and_then(|b| b.status())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
    assert_eq!(
        stat(&emu, "requests", "compress"),
        1,
        "not retried: it may have been processed"
    );
    assert_eq!(credits(&emu, AGENCY), 1, "the server did charge for it");

    emu.inject(Fault::new(FaultMode::Reset).with_path(FaultPath::Compress));
    let brave = client_with(&emu, AGENCY, |cfg| cfg.retry.retry_after_upload = true);
    brave
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(stat(&emu, "requests", "compress"), 3);
}

/// A compress whose connection closed before its body went out cannot have been processed: it
/// is retried (safe), and charged once. The upload is larger than the socket buffers, so the
/// client sees it did not finish. (A small body that the kernel took whole is not retried:
/// the client cannot tell that the server never read it; see the test above.)
#[test]
fn a_reset_before_the_upload_is_retried() {
    let emu = emulator();
    let big = photo_png(1600, 1200, 7);
    assert!(
        big.len() > 4 << 20,
        "the upload must outgrow the socket buffers ({} bytes)",
        big.len()
    );
    emu.inject(Fault::new(FaultMode::ResetEarly).with_path(FaultPath::Compress));
    let b = client(&emu, AGENCY)
        .compress(
            &[Input::bytes("big.png", big)],
            &CompressOptions::default(),
            &mut none(),
        )
        .unwrap();
    b.status().unwrap();
    assert_eq!(
        stat(&emu, "requests", "compress"),
        2,
        "the reset attempt, then the retry"
    );
    assert_eq!(credits(&emu, AGENCY), 1, "charged once");
    // The same for a GET.
    emu.inject(Fault::new(FaultMode::ResetEarly).with_path(FaultPath::Usage));
    client(&emu, AGENCY).usage(&mut none()).unwrap();
    assert_eq!(stat(&emu, "requests", "usage"), 2);
}

#[test]
fn broken_answers_are_specific_errors() {
    let cases = [
        (FaultMode::InternalHtml, ErrorKind::Server, "HTML page"),
        (
            FaultMode::TruncatedJson,
            ErrorKind::Protocol,
            "not valid JSON",
        ),
        (
            FaultMode::WrongContentType,
            ErrorKind::Protocol,
            "HTML page",
        ),
        (FaultMode::HugeJson, ErrorKind::Protocol, "16 MiB limit"),
    ];
    for (mode, kind, needle) in cases {
        let emu = emulator();
        emu.inject(Fault::new(mode).with_path(FaultPath::Compress));
        let e = client(&emu, AGENCY)
            .compress(&one_image(), &CompressOptions::default(), &mut none())
            .and_then(|b| b.status())
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{mode:?}: {e}");
        assert!(e.message().contains(needle), "{mode:?}: {}", e.message());
    }
}

#[test]
fn stalled_and_trickling_answers_time_out() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| {
        cfg.read_timeout = Duration::from_millis(300);
        cfg.retry.max_retries = 0;
    });
    emu.inject(Fault::new(FaultMode::Stall).with_delay_ms(3000));
    let e = c.usage(&mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");

    let c = client_with(&emu, AGENCY, |cfg| {
        cfg.total_timeout = Duration::from_millis(700);
        cfg.retry.max_retries = 0;
    });
    emu.inject(Fault::new(FaultMode::Trickle).with_delay_ms(5000));
    let t0 = Instant::now();
    let e = c.usage(&mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "the overall limit ended the trickle"
    );
}

#[test]
fn redirects_never_carry_the_key_elsewhere() {
    for mode in [FaultMode::RedirectForeign, FaultMode::RedirectHttp] {
        let emu = emulator();
        emu.inject(Fault::new(mode).with_path(FaultPath::Usage));
        let e = client(&emu, AGENCY).usage(&mut none()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{mode:?}");
        assert!(e.message().contains("redirect"), "{}", e.message());
        assert_eq!(stat(&emu, "authorization_seen", "foreign"), 0);
        assert_eq!(stat(&emu, "requests", "foreign"), 0, "not followed at all");
    }
}

#[test]
fn downloads_are_retried_and_expired_results_say_so() {
    let emu = emulator_with(EmulatorConfig {
        ttl: Duration::from_secs(1),
        ..Default::default()
    });
    let c = client(&emu, AGENCY);
    let b = c
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .unwrap();
    let info = b.items[0].outcome.as_ref().unwrap().clone();
    emu.inject(
        Fault::new(FaultMode::ServiceUnavailable)
            .with_path(FaultPath::Download)
            .with_retry_after(0),
    );
    assert!(!c.fetch(&info, &mut none()).unwrap().is_empty());
    assert_eq!(stat(&emu, "requests", "download"), 2);
    std::thread::sleep(Duration::from_millis(2100));
    let e = c.fetch(&info, &mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired);
    assert!(
        e.message().contains("compress the image again"),
        "{}",
        e.message()
    );
    assert_eq!(stat(&emu, "authorization_seen", "download"), 0);
}

#[test]
fn an_interrupted_download_leaves_no_file() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| cfg.retry.max_retries = 0);
    let b = c
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .unwrap();
    emu.inject(Fault::new(FaultMode::ResetEarly).with_path(FaultPath::Download));
    let dir = TempDir::new("interrupted");
    let e = c
        .save(
            &b.items[0],
            &dir.join("out.webp"),
            ExistsPolicy::Error,
            &mut none(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn tls_works_with_the_ca_and_fails_clearly_without() {
    let emu = emulator_with(EmulatorConfig {
        tls: true,
        ..Default::default()
    });
    assert!(emu.base_url().starts_with("https://"));
    let c = client(&emu, AGENCY); // trusts the emulator's CA
    let b = c
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .unwrap();
    assert!(b.items[0]
        .outcome
        .as_ref()
        .unwrap()
        .url
        .starts_with("https://"));
    assert_eq!(
        sniff(
            &c.fetch(b.items[0].outcome.as_ref().unwrap(), &mut none())
                .unwrap()
        ),
        "webp"
    );

    let untrusting = client_with(&emu, AGENCY, |cfg| cfg.ca_file = None);
    let e = untrusting.usage(&mut none()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.message().contains("TLS"), "{}", e.message());
}

#[test]
fn a_cancel_ends_a_stalled_call_promptly() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_delay_ms(4000)
            .with_path(FaultPath::Compress),
    );
    let token = CancelToken::new();
    let remote = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        remote.cancel();
        Instant::now()
    });
    let e = c
        .compress(
            &one_image(),
            &CompressOptions::default(),
            &mut Observer::none().with_cancel(token),
        )
        .unwrap_err();
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let lag = returned.saturating_duration_since(cancelled_at);
    assert!(
        lag < Duration::from_millis(500),
        "returned {lag:?} after the cancel"
    );

    // A tick callback runs while nothing moves and stops the call (a progress callback is
    // called only when the figures change, so not during a stall).
    let mut ticks = 0;
    emu.inject(
        Fault::new(FaultMode::Stall)
            .with_delay_ms(4000)
            .with_path(FaultPath::Usage),
    );
    let started = Instant::now();
    let e = c.usage(&mut Observer::none().with_tick(|| {
        ticks += 1;
        ticks < 3
    }));
    assert_eq!(e.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_key_never_appears_in_errors_or_debug_output() {
    let emu = emulator();
    let key = builtin_key(AGENCY);
    let c = client(&emu, AGENCY);
    let mut texts = vec![format!("{c:?}")];
    for mode in [
        FaultMode::InternalHtml,
        FaultMode::TruncatedJson,
        FaultMode::RedirectForeign,
        FaultMode::TooManyRequests,
    ] {
        emu.inject(Fault::new(mode).with_count(5).with_retry_after(0));
        let e = c.usage(&mut none()).unwrap_err();
        texts.push(format!("{e} {e:?}"));
        emu.reset();
    }
    for t in &texts {
        assert!(!t.contains(key) && !t.contains(&key[9..]), "leaked in: {t}");
    }
}

#[test]
fn one_client_serves_many_threads() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || c.usage(&mut Observer::none()).map(|u| u.plan))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap().as_deref(), Some("agency"));
    }
}

#[test]
fn a_cancelled_save_leaves_nothing_once_it_returns() {
    let emu = emulator();
    let c = client(&emu, AGENCY);
    let b = c
        .compress(&one_image(), &CompressOptions::default(), &mut none())
        .unwrap();
    emu.inject(
        Fault::new(FaultMode::Trickle)
            .with_delay_ms(3000)
            .with_path(FaultPath::Download),
    );
    let dir = TempDir::new("cancel-save");
    let mut ticks = 0;
    let e = c
        .save(
            &b.items[0],
            &dir.join("out.webp"),
            ExistsPolicy::Error,
            &mut Observer::none().with_progress(|_| {
                ticks += 1;
                ticks < 4
            }),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
