//! Scrubbing secrets from text: every error message passes through [`scrub`] when it is built
//! (see `Error::new`), and so does every API answer before it is parsed, so a server, proxy or
//! WAF page that reflects the request's headers cannot put the key into a message, a batch's
//! raw JSON or a result field.
//!
//! Three things are removed: anything shaped like an API key (`flx_live_` + 40 hex digits, shown
//! masked as the dashboard does), the user information of any URL (`scheme://user:pass@`), and
//! the secrets registered by clients (their key and proxy credentials), wherever they appear.

use std::sync::Mutex;

const KEY_PREFIX: &str = "flx_live_";
const KEY_HEX: usize = 40;
/// A run this long after the prefix is taken for a cut-off key (a masked key shows 5 digits).
const PARTIAL_HEX: usize = 10;
/// Registered secrets kept at once; the oldest is forgotten first (clients are few per process).
const MAX_SECRETS: usize = 64;
/// Secrets shorter than this are not registered: scrubbing "a" or "x1" would mangle any text.
const MIN_SECRET_LEN: usize = 6;

/// What replaces a registered secret that is not shaped like a key (a proxy password).
pub(crate) const HIDDEN: &str = "[redacted]";

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `secret` so that [`scrub`] removes it from every later text, in any client.
pub(crate) fn register(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut list = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    if list.iter().any(|s| s == secret) {
        return;
    }
    if list.len() >= MAX_SECRETS {
        list.remove(0);
    }
    list.push(secret.to_string());
}

/// `text` without keys, URL credentials or registered secrets.
pub(crate) fn scrub(text: &str) -> String {
    let mut out = mask_keys(text);
    if out.contains('@') {
        out = strip_userinfo(&out);
    }
    let list = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), HIDDEN);
        }
    }
    out
}

/// Replaces every `flx_live_` + 40 hex digits by its masked form (`flx_live_a3b4c...f8e9`).
fn mask_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_ignore_case(rest, KEY_PREFIX) {
        let after = &rest[at + KEY_PREFIX.len()..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..at + KEY_PREFIX.len()]);
        if hex >= KEY_HEX {
            // ASCII hex digits, so byte offsets are character boundaries.
            out.push_str(&after[..5]);
            out.push_str("...");
            out.push_str(&after[hex - 4..hex]);
        } else if hex >= PARTIAL_HEX {
            // A key cut short (by a server's clip, say) still gives too much away.
            out.push_str(&after[..5]);
            out.push_str("...");
        } else {
            out.push_str(&after[..hex]);
        }
        rest = &after[hex..];
    }
    out.push_str(rest);
    out
}

fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().checked_sub(n.len())? + 1).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Removes `user:pass@` after every `://` (a proxy URL in a message, a reflected link).
fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first character it may not hold (RFC 3986, less the quote
        // and comma), so a URL inside JSON or prose never swallows the text after it.
        let authority_end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~%:@[]!$&()*+;=".contains(c)))
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***@");
                rest = &tail[userinfo_end + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3";

    #[test]
    fn masks_any_key_shaped_text() {
        let s = scrub(&format!(
            "bad header Bearer {KEY}, and {}",
            KEY.to_uppercase()
        ));
        assert!(!s.to_lowercase().contains(&KEY[9..]), "{s}");
        assert!(s.contains("Bearer flx_live_f2e72...dfd3"), "{s}");
        assert_eq!(scrub("flx_live_abc is short"), "flx_live_abc is short");
        assert_eq!(
            scrub(&format!("cut: {}", &KEY[..30])),
            "cut: flx_live_f2e72..."
        );
        assert_eq!(scrub("ümlaut flx_live_"), "ümlaut flx_live_");
    }

    #[test]
    fn strips_url_credentials_and_registered_secrets() {
        assert_eq!(
            scrub("via http://bob:hunter22@127.0.0.1:3128/ failed"),
            "via http://***@127.0.0.1:3128/ failed"
        );
        assert_eq!(scrub("mail me@example.com"), "mail me@example.com");
        let json =
            r#"{"url":"https://cdn.example","contact":"me@example.com","p":"http://u:p@h/x"}"#;
        assert_eq!(
            scrub(json),
            r#"{"url":"https://cdn.example","contact":"me@example.com","p":"http://***@h/x"}"#
        );
        register("s3cr3t-pw");
        assert_eq!(
            scrub("the proxy said s3cr3t-pw"),
            format!("the proxy said {HIDDEN}")
        );
        register("ab");
        assert_eq!(scrub("ab"), "ab", "too short to register");
    }
}
