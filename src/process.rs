//! Which process this is, for the state a forked child must not share with its parent (the
//! connection pools, the idle worker threads).
//!
//! `std::process::id()` is a system call, made before every request. When the C API is in use
//! it registers a fork handler ([`forked`]), and the id is then read once per process.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A fork handler calls [`forked`] in every child.
static HOOKED: AtomicBool = AtomicBool::new(false);
/// This process's id once read, 0 before that and in a freshly forked child.
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id.
pub(crate) fn id() -> u32 {
    if !HOOKED.load(Ordering::Acquire) {
        return std::process::id();
    }
    match PID.load(Ordering::Acquire) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Release);
            pid
        }
        pid => pid,
    }
}

/// Called once a handler that calls [`forked`] in every forked child is in place.
pub(crate) fn hooked() {
    HOOKED.store(true, Ordering::Release);
}

/// Called in a forked child (async-signal-safe: one atomic store).
pub(crate) fn forked() {
    PID.store(0, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Without a hook (a Rust program): asked every time. The hooked path is covered by the C
    // test of a fork (tests/c/test_api.c), since a hook here would hold for every test.
    #[test]
    fn without_a_fork_hook_the_id_is_asked_each_time() {
        assert_eq!(id(), std::process::id());
        forked();
        assert_eq!(id(), std::process::id());
    }
}
