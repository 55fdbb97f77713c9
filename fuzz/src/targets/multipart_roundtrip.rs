//! The client's multipart encoder against the emulator's parser, an independent decoder.
//! Input: NUL-separated pairs; a pair whose first piece starts with `F` is a file (name after
//! the `F`, then its bytes), otherwise a text field (name, value).
//! Invariants: the emulator's parser accepts every form the client encodes; file names, text
//! values and file bytes survive exactly; field names survive with control characters as `_`.

/// Checks one input (see the module docs for what must hold).
pub fn check(data: &[u8]) {
    crate::planted(data);
    let mut texts = Vec::new();
    let mut files = Vec::new();
    let mut pieces = data.split(|&b| b == 0);
    while let (Some(key), Some(value)) = (pieces.next(), pieces.next()) {
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        match key.strip_prefix('F') {
            Some(filename) => files.push((filename.to_string(), value.to_vec())),
            None => {
                let Ok(value) = std::str::from_utf8(value) else {
                    return;
                };
                texts.push((key.to_string(), value.to_string()));
            }
        }
    }
    if texts.len() + files.len() > crate::emulator_multipart::MAX_PARTS {
        return;
    }
    let (content_type, body) = fluximage::fuzzing::encode_form(&texts, &files);
    let boundary =
        crate::emulator_multipart::boundary(&content_type).expect("our own Content-Type parses");
    let parts = crate::emulator_multipart::parse(&bytes::Bytes::from(body), &boundary)
        .unwrap_or_else(|e| panic!("the emulator refused a form the client encoded: {e}"));
    assert_eq!(parts.len(), texts.len() + files.len());
    for (part, (name, value)) in parts.iter().zip(&texts) {
        let sent: String = name
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect();
        assert_eq!(part.name, sent);
        assert_eq!(part.filename, None);
        assert_eq!(&part.data[..], value.as_bytes());
    }
    for (part, (filename, bytes)) in parts[texts.len()..].iter().zip(&files) {
        assert_eq!(part.name, "file");
        assert_eq!(part.filename.as_deref(), Some(filename.as_str()));
        assert_eq!(&part.data[..], &bytes[..]);
    }
}
