//! Response headers: Retry-After (seconds or HTTP date), expiry times (RFC 3339), and
//! redirect Locations joined onto the URL they came from. Input: `URL NUL VALUE`.
//! Invariants: no panic; a joined redirect is only ever allowed to https or to loopback http.

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let (a, b) = crate::split2(data);
    let (Ok(base), Ok(value)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    let _ = fluximage::fuzzing::retry_after(value);
    let _ = fluximage::fuzzing::rfc3339(value);
    let (joined, allowed) = fluximage::fuzzing::redirect(base, value);
    if allowed {
        let lower = joined.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("http://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let authority = authority.rsplit('@').next().unwrap_or("");
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => authority.split(':').next().unwrap_or(""),
            };
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            assert!(loopback, "a download may follow {joined:?} over plain http");
        } else {
            assert!(
                lower.starts_with("https://"),
                "a download may follow {joined:?}"
            );
        }
    }
}
