//! The usage answer: any bytes as the JSON body. Invariants: no panic; the raw text is kept.

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(usage) = fluximage::fuzzing::usage_answer(body) {
        assert_eq!(usage.raw_json, body, "nothing the server sent is lost");
    }
}
