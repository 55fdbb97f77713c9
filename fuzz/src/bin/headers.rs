//! Response headers: Retry-After (seconds or HTTP date), expiry times (RFC 3339), and
//! redirect Locations joined onto the URL they came from. Input: `URL NUL VALUE`.
//! Invariants: no panic; a joined redirect is only ever allowed to https or to loopback http.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        fluximage_fuzz::planted(data);
        let (a, b) = fluximage_fuzz::split2(data);
        let (Ok(base), Ok(value)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else { return };
        let _ = fluximage::fuzzing::retry_after(value);
        let _ = fluximage::fuzzing::rfc3339(value);
        let (joined, allowed) = fluximage::fuzzing::redirect(base, value);
        if allowed {
            let lower = joined.to_ascii_lowercase();
            assert!(
                lower.starts_with("https://") || lower.starts_with("http://127.") || lower.starts_with("http://localhost") || lower.starts_with("http://[::1]"),
                "a download may follow {joined:?}"
            );
        }
    });
}
