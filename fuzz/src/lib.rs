//! Shared pieces of the fuzz targets in src/bin/: the planted bug, input splitting, and the
//! emulator's multipart parser.

// The emulator's form parser, compiled from the emulator's own source files rather than by
// depending on the emulator crate: that crate links an AV1 encoder whose `cfg(fuzzing)` build
// brings libFuzzer's runtime, which clashes with AFL++'s.
#[path = "../../emulator/src/util.rs"]
#[allow(dead_code)]
mod util;
#[path = "../../emulator/src/multipart.rs"]
pub mod emulator_multipart;

/// With the `planted-bug` feature, panics on inputs starting with `FLX!`. The bytes are
/// compared one at a time, each through `black_box` so the optimiser cannot merge them into one
/// 32-bit compare: coverage then guides the fuzzer byte by byte, as it would to a real bug behind
/// a chain of comparisons. `make fuzz-smoke` proves every target finds it.
#[inline(never)]
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
