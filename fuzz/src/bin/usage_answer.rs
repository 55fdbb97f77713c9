//! The usage answer: any bytes as the JSON body. Invariants: no panic; the raw text is kept.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        fluximage_fuzz::planted(data);
        let Ok(body) = std::str::from_utf8(data) else { return };
        if let Ok(usage) = fluximage::fuzzing::usage_answer(body) {
            assert_eq!(usage.raw_json, body, "nothing the server sent is lost");
        }
    });
}
