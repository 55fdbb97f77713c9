//! The error model: every failure of the library is an [`Error`] with a [`ErrorKind`].
//!
//! This module is the one place that maps HTTP answers and transport failures to kinds, so the
//! C ABI and the language wrappers only translate kinds into their own idioms.

use std::fmt;
use std::time::Duration;

/// What went wrong, in the terms a caller acts on. The numbers are the C ABI's `flx_status`
/// values and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument or option was invalid; nothing was sent.
    InvalidArgument = 1,
    /// The key was missing, malformed, unknown or rolled (HTTP 401).
    Unauthorized = 2,
    /// The plan does not include this feature (HTTP 403).
    Forbidden = 3,
    /// Compression or AI credits are used up for this billing period (HTTP 402).
    QuotaExceeded = 4,
    /// A file or the request is too large (local check, or HTTP 413).
    TooLarge = 5,
    /// Too many requests (HTTP 429); see `retry_after`.
    RateLimited = 6,
    /// The server rejected a field (HTTP 400).
    BadRequest = 7,
    /// The server failed (HTTP 5xx).
    Server = 8,
    /// The connection could not be made or broke.
    Network = 9,
    /// A connect, read or overall time limit was reached.
    Timeout = 10,
    /// The TLS handshake or certificate check failed.
    Tls = 11,
    /// The server's answer was not what the protocol expects.
    Protocol = 12,
    /// A signed download URL has expired or its file was deleted.
    Expired = 13,
    /// A local file could not be read or written.
    Io = 14,
    /// The caller cancelled the call.
    Cancelled = 15,
    /// A batch finished, but some of its images failed.
    Partial = 16,
    /// A bug in the library (a caught panic).
    Internal = 17,
    /// A file is already at the output path and the save's policy forbids replacing it.
    Exists = 18,
}

impl ErrorKind {
    /// Every kind, in the order of their numbers (1, 2, ...).
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::InvalidArgument,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::QuotaExceeded,
        ErrorKind::TooLarge,
        ErrorKind::RateLimited,
        ErrorKind::BadRequest,
        ErrorKind::Server,
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::Expired,
        ErrorKind::Io,
        ErrorKind::Cancelled,
        ErrorKind::Partial,
        ErrorKind::Internal,
        ErrorKind::Exists,
    ];

    /// The kind numbered `code`, if any.
    pub fn from_code(code: i32) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| *k as i32 == code)
    }

    /// A short, stable English description of the kind.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden by plan",
            ErrorKind::QuotaExceeded => "quota exceeded",
            ErrorKind::TooLarge => "too large",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::BadRequest => "bad request",
            ErrorKind::Server => "server error",
            ErrorKind::Network => "network error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Expired => "result expired",
            ErrorKind::Io => "I/O error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Partial => "some images failed",
            ErrorKind::Internal => "internal error",
            ErrorKind::Exists => "file exists",
        }
    }
}

/// A failure with its kind, the HTTP status when a server answered, a message that says what
/// happened and what to do, and the server's `Retry-After` when it sent one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    http_status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`. Every message is scrubbed here, the one place
    /// errors are built: keys, URL credentials and proxy passwords never reach a caller, even
    /// when a server reflected them.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            http_status: None,
            message: crate::redact::scrub(&message.into()),
            retry_after: None,
        }
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// An [`ErrorKind::Io`] error naming `what` (a path or an action) and the OS reason.
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what}: {}", describe_io(err)))
    }

    pub(crate) fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the call was cancelled by the caller")
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status the server answered with, if any.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// The human-readable message (never contains the full API key).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the server asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    pub(crate) fn with_status(mut self, status: u16) -> Error {
        self.http_status = Some(status);
        self
    }

    pub(crate) fn with_retry_after(mut self, d: Option<Duration>) -> Error {
        self.retry_after = d;
        self
    }

    /// Prefix the message with context such as the input's name.
    pub(crate) fn context(mut self, ctx: impl fmt::Display) -> Error {
        self.message = crate::redact::scrub(&format!("{ctx}: {}", self.message));
        self
    }

    /// Maps a non-2xx answer of the API or of a download to an error. `body` is the start of the
    /// answer's body (it may be JSON `{"error": "..."}`, HTML from a proxy, or anything).
    pub(crate) fn from_http(
        target: Target,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Error {
        let said = server_said(content_type, body);
        let (kind, advice): (ErrorKind, String) = match (target, status) {
            (Target::Download, 403 | 404 | 410) => (
                ErrorKind::Expired,
                format!("the result has expired or was deleted ({status}): compress the image again"),
            ),
            (Target::Api, 401) => (
                ErrorKind::Unauthorized,
                "the key was rejected (401): check FLUXIMAGE_API_KEY or roll a new key in Settings > API Key"
                    .to_string(),
            ),
            (Target::Api, 402) => (
                ErrorKind::QuotaExceeded,
                "credits are used up for this billing period (402): wait for the next period or buy a top-up"
                    .to_string(),
            ),
            (Target::Api, 403) => (
                ErrorKind::Forbidden,
                "the plan does not allow this (403): watermark and AI features need a paid plan, API access the Agency plan"
                    .to_string(),
            ),
            (_, 413) => (
                ErrorKind::TooLarge,
                "the request is too large (413): send at most 20 files of at most 20 MB each".to_string(),
            ),
            (_, 429) => (
                ErrorKind::RateLimited,
                match retry_after {
                    Some(d) => format!("rate limited (429): retry after {} s", d.as_secs_f64().ceil()),
                    None => "rate limited (429): slow down and retry later".to_string(),
                },
            ),
            (_, 400..=499) => (ErrorKind::BadRequest, format!("the server rejected the request ({status})")),
            (_, 500..=599) => (
                ErrorKind::Server,
                format!("the server failed ({status}); this is usually temporary, try again later"),
            ),
            (_, 300..=399) => (
                ErrorKind::Protocol,
                format!("the server answered with a redirect ({status}) that was not followed"),
            ),
            _ => (ErrorKind::Protocol, format!("unexpected HTTP status {status}")),
        };
        let message = match said {
            Some(s) => format!("{advice}; server said: {s}"),
            None => advice,
        };
        Error::new(kind, message)
            .with_status(status)
            .with_retry_after(retry_after)
    }

    /// Maps a transport failure (no HTTP answer) to an error.
    pub(crate) fn from_transport(err: ureq::Error, what: &str) -> Error {
        Error::from_ureq(&err, what)
    }

    fn from_ureq(err: &ureq::Error, what: &str) -> Error {
        use ureq::Error as U;
        let (kind, msg) = match err {
            U::Timeout(t) => (ErrorKind::Timeout, format!("{what} timed out ({t})")),
            U::HostNotFound => (
                ErrorKind::Network,
                format!("{what}: host not found (check the base URL and DNS)"),
            ),
            U::ConnectionFailed => (
                ErrorKind::Network,
                format!("{what}: could not connect to the server"),
            ),
            U::Tls(m) => (ErrorKind::Tls, format!("{what}: TLS failed: {m}")),
            U::Pem(e) => (ErrorKind::Tls, format!("{what}: bad certificate file: {e}")),
            U::Rustls(e) => (
                ErrorKind::Tls,
                format!("{what}: TLS failed: {}", tls_advice(e)),
            ),
            // The server broke HTTP/1.1 framing (a bogus chunk size, a header line too long).
            U::Protocol(e) => (
                ErrorKind::Protocol,
                format!("{what}: the answer breaks HTTP/1.1: {e}"),
            ),
            U::LargeResponseHeader(_, limit) => (
                ErrorKind::Protocol,
                format!("{what}: the answer's headers are larger than the {limit}-byte limit"),
            ),
            U::BodyExceedsLimit(n) => (
                ErrorKind::Protocol,
                format!("{what}: the answer is larger than the {n}-byte limit"),
            ),
            U::Io(e) => return Error::from_io_in_transfer(e, what),
            U::InvalidProxyUrl => (
                ErrorKind::InvalidArgument,
                format!("{what}: the proxy URL is invalid"),
            ),
            U::BadUri(_) | U::Http(_) => (
                ErrorKind::InvalidArgument,
                format!("{what}: the URL is invalid"),
            ),
            // With ureq's gzip or brotli feature on (an application linking the core may turn
            // them on), an encoded body that does not decode is the server's fault, like any
            // encoded body we did not ask for: a protocol error, not a network one.
            other if other.to_string().contains("decompression failed") => (
                ErrorKind::Protocol,
                format!("{what}: the body's Content-Encoding could not be decoded: {other}"),
            ),
            other => (ErrorKind::Network, format!("{what}: {other}")),
        };
        Error::new(kind, msg)
    }

    fn from_io_in_transfer(e: &std::io::Error, what: &str) -> Error {
        use std::io::ErrorKind as K;
        // Our own body readers report cancellation and local file problems through io::Error.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            return inner.clone();
        }
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Error::new(
                ErrorKind::Tls,
                format!("{what}: TLS failed: {}", tls_advice(tls)),
            );
        }
        // ureq reports framing errors met while reading a body through io::Error.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
            return Error::from_ureq(inner, what);
        }
        match e.kind() {
            K::TimedOut | K::WouldBlock => {
                Error::new(ErrorKind::Timeout, format!("{what} timed out"))
            }
            K::InvalidData => Error::new(
                ErrorKind::Protocol,
                format!("{what}: malformed answer: {e}"),
            ),
            _ => Error::new(
                ErrorKind::Network,
                format!("{what}: connection failed: {}", describe_io(e)),
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Whom a request went to: the API (carries the key) or a signed download URL (does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Api,
    Download,
}

/// What a failed certificate check means, and the advice that fits it: only an unknown issuer
/// is solved by trusting a CA file.
fn tls_advice(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return e.to_string();
    };
    let what = match cert {
        C::UnknownIssuer => "the server's certificate is signed by an unknown CA (if it is a corporate proxy or the emulator's --tls mode, set its CA file)",
        C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired (check the server, and this machine's clock)",
        C::NotValidYet | C::NotValidYetContext { .. } => "the server's certificate is not valid yet (check this machine's clock)",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server's certificate is for another host name (check the base URL; a proxy may be intercepting)"
        }
        C::Revoked => "the server's certificate has been revoked",
        _ => "the server's certificate was refused",
    };
    // rustls's own words add the details (the names the certificate is valid for, the dates).
    format!("{what}: {e}")
}

/// The server's own words: the `error` field of a JSON body, or a note that it sent HTML.
fn server_said(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let msg = v.get("error").or_else(|| v.get("message"))?;
        let text = match msg {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // Scrubbed before clipping, so a clip cannot leave a key too short to be recognised.
        return Some(clip(&crate::redact::scrub(&text), 300));
    }
    let looks_html = content_type.is_some_and(|c| c.contains("html"))
        || body
            .iter()
            .take(64)
            .copied()
            .find(|b| !b.is_ascii_whitespace())
            == Some(b'<');
    if looks_html {
        return Some("an HTML page (a proxy or an outage page, not the API)".to_string());
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| clip(&crate::redact::scrub(text), 200))
}

/// Shortens `s` to at most `max` characters, on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or directory".into(),
        K::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses_to_kinds() {
        let cases = [
            (401, ErrorKind::Unauthorized),
            (402, ErrorKind::QuotaExceeded),
            (403, ErrorKind::Forbidden),
            (413, ErrorKind::TooLarge),
            (429, ErrorKind::RateLimited),
            (400, ErrorKind::BadRequest),
            (500, ErrorKind::Server),
            (503, ErrorKind::Server),
            (307, ErrorKind::Protocol),
        ];
        for (status, kind) in cases {
            let e = Error::from_http(Target::Api, status, None, b"{\"error\":\"x\"}", None);
            assert_eq!(e.kind(), kind, "status {status}");
            assert_eq!(e.http_status(), Some(status));
        }
        for status in [403, 404, 410] {
            let e = Error::from_http(Target::Download, status, None, b"", None);
            assert_eq!(e.kind(), ErrorKind::Expired);
        }
    }

    #[test]
    fn message_carries_server_words_and_advice() {
        let e = Error::from_http(
            Target::Api,
            401,
            Some("application/json"),
            br#"{ "error": "Unauthorized" }"#,
            None,
        );
        assert!(e.message().contains("FLUXIMAGE_API_KEY"), "{}", e.message());
        assert!(e.message().contains("Unauthorized"));
        let html = Error::from_http(
            Target::Api,
            502,
            Some("text/html"),
            b"<html>bad gateway</html>",
            None,
        );
        assert!(html.message().contains("HTML page"), "{}", html.message());
        let ra = Error::from_http(Target::Api, 429, None, b"", Some(Duration::from_secs(3)));
        assert_eq!(ra.retry_after(), Some(Duration::from_secs(3)));
        assert!(ra.message().contains("retry after 3 s"), "{}", ra.message());
    }

    #[test]
    fn certificate_failures_say_what_failed() {
        use rustls::CertificateError as C;
        let tls = |c: C| {
            Error::from_transport(
                ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)),
                "the API request",
            )
        };
        let expired = tls(C::Expired);
        assert_eq!(expired.kind(), ErrorKind::Tls);
        assert!(
            expired.message().contains("has expired") && !expired.message().contains("CA file"),
            "{}",
            expired.message()
        );
        let host = tls(C::NotValidForName);
        assert!(
            host.message().contains("another host name") && !host.message().contains("CA file"),
            "{}",
            host.message()
        );
        assert!(tls(C::UnknownIssuer).message().contains("CA file"));
    }

    #[test]
    fn reflected_keys_never_reach_a_message() {
        let key = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3";
        let body = format!(r#"{{"error":"bad header Bearer {key}"}}"#);
        let e = Error::from_http(
            Target::Api,
            400,
            Some("application/json"),
            body.as_bytes(),
            None,
        );
        assert!(
            !e.message().contains(key) && e.message().contains("flx_live_f2e72...dfd3"),
            "{}",
            e.message()
        );
        let plain = Error::from_http(
            Target::Api,
            500,
            Some("text/plain"),
            format!("echo: {key}").as_bytes(),
            None,
        );
        assert!(!plain.message().contains(key), "{}", plain.message());
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("ümlaut", 2), "üm…");
        assert_eq!(clip("ab", 5), "ab");
    }
}
