//! The emulator's multipart parser (a server users run on their machines) on any body.
//! Input: `CONTENT-TYPE NUL BODY`. Invariants: no panic; at most MAX_PARTS parts, each a slice
//! of the body.

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let (ct, body) = crate::split2(data);
    let Ok(ct) = std::str::from_utf8(ct) else {
        return;
    };
    let Ok(boundary) = crate::emulator_multipart::boundary(ct) else {
        return;
    };
    if let Ok(parts) =
        crate::emulator_multipart::parse(&bytes::Bytes::copy_from_slice(body), &boundary)
    {
        assert!(parts.len() <= crate::emulator_multipart::MAX_PARTS);
        assert!(parts.iter().all(|p| p.data.len() <= body.len()));
    }
}
