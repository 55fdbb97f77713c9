//! The fuzz targets (`targets::*::check`) and what they share: the planted bug, input
//! splitting, and the emulator's multipart parser. Built by `cargo afl build` (`make fuzz`),
//! each binary in src/bin/ runs its check under AFL++; an ordinary build makes binaries that
//! replay the files named on their command line (a crash to reproduce, a corpus), and
//! `cargo test` replays the seed corpora.

pub mod targets;

/// Runs `check` under AFL++ when built by `cargo afl build` (which sets `cfg(fuzzing)`);
/// otherwise on the contents of each file named on the command line.
pub fn run(check: fn(&[u8])) {
    #[cfg(fuzzing)]
    afl::fuzz!(|data: &[u8]| check(data));
    #[cfg(not(fuzzing))]
    for path in std::env::args_os().skip(1) {
        match std::fs::read(&path) {
            Ok(data) => check(&data),
            Err(e) => {
                eprintln!("{}: {e}", path.to_string_lossy());
                std::process::exit(2);
            }
        }
    }
}

// The emulator's form parser, compiled from the emulator's own source files rather than by
// depending on the emulator crate: that crate links an AV1 encoder whose `cfg(fuzzing)` build
// brings libFuzzer's runtime, which clashes with AFL++'s.
#[path = "../../emulator/src/multipart.rs"]
pub mod emulator_multipart;
#[path = "../../emulator/src/util.rs"]
#[allow(dead_code)]
mod util;

/// With the `planted-bug` feature, panics on inputs starting with `FLX!`. The bytes are
/// compared one at a time, each through `black_box` so the optimiser cannot merge them into one
/// 32-bit compare: coverage then guides the fuzzer byte by byte, as it would to a real bug behind
/// a chain of comparisons. `make fuzz-smoke` proves every target finds it.
#[inline(never)]
#[allow(clippy::collapsible_if)] // one branch, so one coverage edge, per byte: on purpose
pub fn planted(data: &[u8]) {
    use std::hint::black_box;
    if !cfg!(feature = "planted-bug") {
        return;
    }
    let at = |i: usize| data.get(i).copied().map(black_box);
    if at(0) == Some(b'F') {
        if at(1) == Some(b'L') {
            if at(2) == Some(b'X') {
                if at(3) == Some(b'!') {
                    panic!("planted bug reached");
                }
            }
        }
    }
}

/// Splits `data` at its first NUL: (before, after); all of it and nothing when there is none.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
