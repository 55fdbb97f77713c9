//! SIGINT, SIGTERM and SIGHUP cancel the run: the library stops its transfers within about
//! 50 ms and removes its temporary files, then flx exits with 128 + the signal's number.

use fluximage::CancelToken;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers; the returned token is triggered by the first signal. A second signal
/// ends the process at once (the library's temporary files are already being removed).
pub fn install() -> std::io::Result<CancelToken> {
    let token = CancelToken::new();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let t = token.clone();
    std::thread::Builder::new()
        .name("flx-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
                    std::process::exit(128 + sig);
                }
                t.cancel();
            }
        })?;
    Ok(token)
}

/// The exit code for the signal received, if any (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
pub fn exit_code() -> Option<u8> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some((128 + sig) as u8),
    }
}
