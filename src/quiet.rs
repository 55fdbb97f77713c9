//! Keeping the host's stderr clean: a panic caught inside the library (it becomes
//! `FLX_INTERNAL` or `ErrorKind::Internal`) must not print a message and backtrace on the
//! application's terminal.
//!
//! The panic hook is process-wide, so the library installs its own only once it is used through
//! the C ABI (where the host is not a Rust program with its own hook), and the hook stays silent
//! only on threads that are inside the library at the moment. Every other panic goes to the hook
//! that was installed before, unchanged.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// How deep this thread is inside library code whose panics are caught.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

/// Installs the library's panic hook, chaining to the previous one (idempotent).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// While the guard lives, panics on this thread are caught by the library and not printed.
pub(crate) struct Guard(());

/// Marks this thread as inside the library until the guard is dropped.
pub(crate) fn enter() -> Guard {
    DEPTH.with(|d| d.set(d.get().saturating_add(1)));
    Guard(())
}

impl Drop for Guard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::ffi::flx_status;
    use std::process::Command;

    /// Run in a child process by `a_caught_panic_prints_nothing`: panics inside the C boundary
    /// on the calling thread and on a library worker thread.
    #[test]
    #[ignore = "run as a child process by a_caught_panic_prints_nothing"]
    fn child_panics_inside_the_boundary() {
        let s: flx_status =
            crate::ffi::entry(|| -> Result<flx_status, Error> { panic!("boom-on-caller") });
        assert_eq!(s, flx_status::FLX_INTERNAL);
        // A tick callback makes the call run on a worker (a cancel token alone runs it inline).
        let mut obs = crate::Observer::none().with_tick(|| true);
        let transfer = std::sync::Arc::new(crate::multipart::Transfer::default());
        let s: flx_status = crate::ffi::entry(|| -> Result<flx_status, Error> {
            crate::observe::run(&mut obs, &transfer, 0, || -> crate::Result<()> {
                panic!("boom-on-worker")
            })?;
            Ok(flx_status::FLX_OK)
        });
        assert_eq!(s, flx_status::FLX_INTERNAL);
        eprintln!("child done");
    }

    #[test]
    fn a_caught_panic_prints_nothing() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "quiet::tests::child_panics_inside_the_boundary",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed: {stderr}");
        assert!(stderr.contains("child done"), "the child ran: {stderr}");
        assert!(
            !stderr.contains("boom") && !stderr.contains("panicked"),
            "a caught panic was printed: {stderr}"
        );
    }
}
