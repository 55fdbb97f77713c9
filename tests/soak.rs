//! Soak: 8 threads share one client for 2,000 mixed requests while the emulator injects random
//! faults. Bounded in count (and by the client's timeouts in time); every outcome is accounted for.

mod common;

use common::*;
use fluximage::{CompressOptions, ErrorKind, Format, Input, Observer};
use fluximage_emulator::Fault;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

const THREADS: usize = 8;
const PER_THREAD: usize = 250;

#[test]
fn eight_threads_two_thousand_requests_with_random_faults() {
    let emu = emulator();
    let c = client_with(&emu, AGENCY, |cfg| {
        cfg.retry.base_delay = Duration::from_millis(1);
        cfg.retry.max_delay = Duration::from_millis(5);
        cfg.read_timeout = Duration::from_secs(20);
    });
    emu.inject(Fault::random(0.2, 7, (THREADS * PER_THREAD * 2) as u32).with_retry_after(0));
    let image = photo_png(16, 16, 1);
    let outcomes: Mutex<BTreeMap<String, usize>> = Mutex::default();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (c, image, outcomes) = (&c, &image, &outcomes);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let label = match (t + i) % 3 {
                        0 => c.usage(&mut Observer::none()).map(|_| ()),
                        1 => {
                            let opts = CompressOptions {
                                format: Format::Jpg,
                                ..Default::default()
                            };
                            c.compress(
                                &[Input::bytes("s.png", image.clone())],
                                &opts,
                                &mut Observer::none(),
                            )
                            .and_then(|b| {
                                assert_eq!(b.items.len(), 1);
                                b.status()
                            })
                        }
                        _ => c
                            .compress(
                                &[Input::bytes("s.png", image.clone())],
                                &CompressOptions::default(),
                                &mut Observer::none(),
                            )
                            .and_then(|b| {
                                c.fetch(
                                    b.items[0].outcome.as_ref().map_err(Clone::clone)?,
                                    &mut Observer::none(),
                                )
                            })
                            .map(|bytes| assert!(!bytes.is_empty())),
                    }
                    .map(|_| "ok".to_string())
                    .unwrap_or_else(|e| format!("{:?}", e.kind()));
                    *outcomes.lock().unwrap().entry(label).or_default() += 1;
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    eprintln!("soak outcomes: {outcomes:?}");
    assert_eq!(
        outcomes.values().sum::<usize>(),
        THREADS * PER_THREAD,
        "every request accounted for"
    );
    // What may fail: a 500 (not retried: not a transient status), a reset after the upload went
    // out (not retried: no double charge), or a fault that outlived two retries.
    for kind in outcomes.keys().filter(|k| *k != "ok") {
        assert!(
            [
                ErrorKind::Network,
                ErrorKind::Server,
                ErrorKind::RateLimited
            ]
            .iter()
            .any(|k| format!("{k:?}") == *kind),
            "unexpected failure kind {kind}: {outcomes:?}"
        );
    }
    // A fifth of requests get a fault; about half of those kinds are retried to success, so
    // roughly 90% succeed. Three quarters is a floor no working retry policy falls below.
    assert!(
        outcomes["ok"] >= THREADS * PER_THREAD * 3 / 4,
        "{outcomes:?}"
    );
}
