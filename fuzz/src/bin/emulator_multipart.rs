//! The emulator's multipart parser (a server users run on their machines) on any body.
//! Input: `CONTENT-TYPE NUL BODY`. Invariants: no panic; at most MAX_PARTS parts, each a slice
//! of the body.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        fluximage_fuzz::planted(data);
        let (ct, body) = fluximage_fuzz::split2(data);
        let Ok(ct) = std::str::from_utf8(ct) else { return };
        let Ok(boundary) = fluximage_fuzz::emulator_multipart::boundary(ct) else { return };
        if let Ok(parts) = fluximage_fuzz::emulator_multipart::parse(&bytes::Bytes::copy_from_slice(body), &boundary) {
            assert!(parts.len() <= fluximage_fuzz::emulator_multipart::MAX_PARTS);
            assert!(parts.iter().all(|p| p.data.len() <= body.len()));
        }
    });
}
