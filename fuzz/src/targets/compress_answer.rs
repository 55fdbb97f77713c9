//! The compress answer: any bytes as the JSON body, the first byte as the number of uploads.
//! Invariants: no panic; an accepted answer gives exactly one item per upload, and every
//! successful item has a non-empty URL and name.

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let Some((&n, body)) = data.split_first() else {
        return;
    };
    let uploaded = usize::from(n % 24);
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    for format in ["webp", "avif"] {
        if let Ok(batch) = fluximage::fuzzing::compress_answer(body, uploaded, format) {
            assert_eq!(batch.items.len(), uploaded, "one item per upload");
            for item in &batch.items {
                if let Ok(info) = &item.outcome {
                    assert!(!info.url.is_empty() && !info.name.is_empty(), "{info:?}");
                }
            }
        }
    }
}
