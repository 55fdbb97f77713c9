//! The sync manifest reader: the two files a rerun reads back from the output folder
//! (`.fluximage-sync` and its journal), which a user, another tool or a crash may have mangled.
//! Input: `MANIFEST NUL JOURNAL`. Invariants: no panic; a journal whose last line is torn (no
//! newline) never fails the read because of that line.

use std::path::PathBuf;
use std::sync::OnceLock;

/// One folder per process, reused by every input (the reader takes a folder, not bytes).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("flx-fuzz-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a scratch folder");
        d
    })
}

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let (manifest, journal) = crate::split2(data);
    let whole = fluximage::fuzzing::sync_manifest(dir(), manifest, journal);
    // The same journal with a torn line after it (a crash while appending) reads the same.
    let torn: Vec<u8> = journal.iter().copied().chain(*b"{\"torn").collect();
    let cut = fluximage::fuzzing::sync_manifest(dir(), manifest, &torn);
    assert_eq!(
        whole.as_ref().ok(),
        cut.as_ref().ok(),
        "a torn journal line changed the read"
    );
}
