//! Every seed of every target, and the planted-bug seeds, through the targets' checks in an
//! ordinary build: the harnesses compile and hold on known inputs even where AFL++ is absent.
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        check(&std::fs::read(entry.unwrap().path()).unwrap());
        seen += 1;
    }
    assert!(seen > 0, "no seeds in {}", dir.display());
}

#[test]
fn every_seed_passes_its_target() {
    use fluximage_fuzz::targets::*;
    replay("compress_answer", compress_answer::check);
    replay("usage_answer", usage_answer::check);
    replay("headers", headers::check);
    replay("multipart_roundtrip", multipart_roundtrip::check);
    replay("emulator_multipart", emulator_multipart::check);
    replay("c_abi", c_abi::check);
    replay("sync_manifest", sync_manifest::check);
}

#[test]
fn the_planted_bug_is_off_in_ordinary_builds() {
    fluximage_fuzz::targets::headers::check(b"FLX!");
}
