//! Which proxy, if any, a request goes through.
//!
//! The rules, decided per request from its URL:
//! - Loopback targets (the emulator, a local gateway) never go through a proxy, as with curl's
//!   customary `NO_PROXY=localhost,127.0.0.1`. Plain `http` is only ever allowed to loopback, so
//!   a request over plain `http` never crosses a proxy, and the key never travels in clear.
//! - An explicit proxy ([`crate::Config::proxy`]) is used for every other target. Only HTTP(S)
//!   `CONNECT` proxies are supported: a SOCKS URL is refused when it is set.
//! - Otherwise `HTTPS_PROXY`, then `ALL_PROXY` (and their lower-case forms) apply to `https`
//!   targets, minus the hosts listed in `NO_PROXY`. A proxy variable that is set but unusable
//!   (a SOCKS proxy, a malformed URL) is a configuration error: the request is refused rather
//!   than sent directly, since the user asked for a proxy.

use crate::error::{Error, ErrorKind, Result};
use crate::url::Origin;

/// Proxy variables for `https` targets, in the order they are consulted (as curl does).
const ENV_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// Checks an explicit proxy URL, with an error naming what is wrong. `source` says where it
/// came from in the message ("the proxy URL", "HTTPS_PROXY").
pub(crate) fn parse(url: &str, source: &str) -> Result<ureq::Proxy> {
    let url = url.trim();
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if let Some(s) = scheme.as_deref().filter(|s| s.starts_with("socks")) {
        return Err(Error::invalid(format!(
            "{source} is a SOCKS proxy ({s}://), which libfluximage does not support; use an http:// proxy (HTTP CONNECT)"
        )));
    }
    if !matches!(scheme.as_deref(), None | Some("http" | "https")) {
        return Err(Error::invalid(format!(
            "{source} must be an http:// or https:// proxy URL (e.g. http://host:3128)"
        )));
    }
    let proxy = ureq::Proxy::new(url).map_err(|_| {
        Error::invalid(format!(
            "{source} is not a valid proxy URL (expected e.g. http://host:3128)"
        ))
    })?;
    // Credentials go to the proxy only; keep them out of every message.
    if let Some(pass) = proxy.password() {
        crate::redact::register(pass);
    }
    Ok(proxy)
}

/// The proxy for a request to `url` under the explicit setting `explicit`, or `None` for a
/// direct connection. Errors are configuration errors (nothing was sent).
pub(crate) fn for_url(explicit: Option<&str>, url: &str) -> Result<Option<ureq::Proxy>> {
    let origin = Origin::parse(url, "the URL")?;
    if origin.is_loopback() || origin.scheme != "https" {
        return Ok(None);
    }
    if let Some(p) = explicit {
        return parse(p, "the proxy URL").map(Some);
    }
    let Some((var, value)) = ENV_VARS.iter().find_map(|v| {
        std::env::var(v)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| (*v, s))
    }) else {
        return Ok(None);
    };
    if no_proxy_matches(&origin.host) {
        return Ok(None);
    }
    parse(&value, var).map(Some).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} (set NO_PROXY or fix {var} to connect to {})",
                e.message(),
                origin.host
            ),
        )
    })
}

/// Whether `NO_PROXY` (or `no_proxy`) lists `host`: `*`, the host itself, or a parent domain
/// (`example.com` and `.example.com` both cover `api.example.com`).
fn no_proxy_matches(host: &str) -> bool {
    let Some(list) = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
    else {
        return false;
    };
    no_proxy_list_matches(&list, host)
}

fn no_proxy_list_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            // Entries may carry a port (host:443); the port does not narrow the match here.
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = match entry.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
                _ => entry,
            };
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            host == entry
                || host
                    .strip_suffix(entry)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks_and_other_schemes_are_refused_by_name() {
        for bad in [
            "socks5://127.0.0.1:1080",
            "socks5h://h:1",
            "SOCKS4://h:1",
            "socks://h",
        ] {
            let e = parse(bad, "the proxy URL").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(
                e.message().contains("SOCKS proxy"),
                "{bad}: {}",
                e.message()
            );
        }
        assert!(parse("ftp://h:1", "x")
            .unwrap_err()
            .message()
            .contains("http://"));
        assert!(parse("http://127.0.0.1:3128", "x").is_ok());
        assert!(
            parse("127.0.0.1:3128", "x").is_ok(),
            "a bare host:port is an http proxy"
        );
    }

    #[test]
    fn loopback_targets_never_use_the_explicit_proxy() {
        let p = Some("http://127.0.0.1:3128");
        assert!(for_url(p, "http://127.0.0.1:8080/api/usage")
            .unwrap()
            .is_none());
        assert!(for_url(p, "https://localhost:8443/x").unwrap().is_none());
        assert!(for_url(p, "https://[::1]:8443/x").unwrap().is_none());
        assert_eq!(
            for_url(p, "https://fluximage.app/api/usage")
                .unwrap()
                .unwrap()
                .port(),
            3128
        );
        assert_eq!(
            for_url(Some("socks5://h:1"), "https://fluximage.app/")
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn no_proxy_lists() {
        assert!(no_proxy_list_matches("*", "x.com"));
        assert!(no_proxy_list_matches(
            "a.com, example.com",
            "api.example.com"
        ));
        assert!(no_proxy_list_matches(".example.com", "api.example.com"));
        assert!(no_proxy_list_matches("example.com:443", "example.com"));
        assert!(!no_proxy_list_matches("example.com", "badexample.com"));
        assert!(!no_proxy_list_matches("", "example.com"));
    }
}
