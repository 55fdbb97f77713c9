//! Checks that a download is the file the server announced, before it is handed over or saved.
//!
//! A body cut short (a close-delimited answer whose connection dropped, or one shorter than the
//! size the compress answer gave) would otherwise be saved as a truncated image, and an encoded
//! body (`Content-Encoding: gzip`) as bytes no image viewer opens.

use crate::error::{Error, ErrorKind, Result};

/// The start of the message of an incomplete download: such a download is tried once more.
const INCOMPLETE: &str = "the download is incomplete";

/// Downloads ask for the file as stored; an encoded body is refused, never saved as is.
pub(crate) const ACCEPT_ENCODING: &str = "identity";

/// Refuses a body with a `Content-Encoding` other than identity.
pub(crate) fn check_encoding(content_encoding: Option<&str>) -> Result<()> {
    match content_encoding.map(str::trim).filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity")) {
        Some(enc) => Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "the download arrived with Content-Encoding {enc:?} although none was asked for; refused rather than saving encoded bytes"
            ),
        )),
        None => Ok(()),
    }
}

/// Compares the bytes received with the answer's `Content-Length` and the size the compress
/// answer announced (either may be unknown).
pub(crate) fn check_length(
    received: u64,
    content_length: Option<u64>,
    announced: Option<u64>,
) -> Result<()> {
    for (expected, source) in [
        (content_length, "its Content-Length"),
        (announced, "the size the compress answer announced"),
    ] {
        if let Some(n) = expected.filter(|&n| n != received) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{INCOMPLETE} or altered: {received} bytes received, {n} expected from {source}"),
            ));
        }
    }
    Ok(())
}

/// Whether `e` is a length mismatch from [`check_length`] (worth one more try).
pub(crate) fn is_incomplete(e: &Error) -> bool {
    e.kind() == ErrorKind::Protocol && e.message().starts_with(INCOMPLETE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_encodings() {
        assert!(check_length(10, Some(10), Some(10)).is_ok());
        assert!(check_length(10, None, None).is_ok());
        let e = check_length(6, None, Some(10)).unwrap_err();
        assert!(
            is_incomplete(&e) && e.message().contains("6 bytes received, 10 expected"),
            "{}",
            e.message()
        );
        assert!(is_incomplete(&check_length(6, Some(10), None).unwrap_err()));
        assert!(check_encoding(Some("identity")).is_ok());
        assert!(check_encoding(None).is_ok());
        assert_eq!(
            check_encoding(Some("gzip")).unwrap_err().kind(),
            ErrorKind::Protocol
        );
    }
}
