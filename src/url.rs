//! Just enough URL handling for the transport rules: an origin, and whether it may be plain HTTP.

use crate::error::{Error, ErrorKind, Result};

/// The scheme, host and port of a URL: what "same origin" compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses the origin of an absolute `http` or `https` URL and applies the rule that plain
    /// HTTP is allowed only to loopback hosts. `what` names the URL in messages.
    pub fn parse(url: &str, what: &str) -> Result<Origin> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::invalid(format!("{what} is not an absolute http(s) URL")))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => {
                return Err(Error::invalid(format!(
                    "{what} must use https (got scheme {scheme:?})"
                )))
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(Error::invalid(format!(
                "{what} must not contain user information"
            )));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| Error::invalid(format!("{what} has an unclosed IPv6 address")))?;
            (h.to_string(), tail.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(format!("{what} has no valid host")));
        }
        let port = match port {
            None | Some("") => default_port,
            Some(p) => p
                .parse()
                .map_err(|_| Error::invalid(format!("{what} has an invalid port")))?,
        };
        let origin = Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        };
        if origin.scheme == "http" && !origin.is_loopback() {
            return Err(Error::invalid(format!(
                "{what} uses plain http to {}; https is required except for loopback addresses",
                origin.host
            )));
        }
        Ok(origin)
    }

    /// 127.0.0.0/8, ::1 and localhost.
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        self.host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Checks a download URL the server supplied (in an answer or a redirect). It is held to the
/// same rule as the base URL, and may not point at link-local addresses (cloud metadata
/// services). A refusal is the server's fault, so it is a protocol error, not a caller's.
pub(crate) fn check_download(url: &str) -> Result<Origin> {
    let origin = Origin::parse(url, "the download URL").map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!("the server sent an unusable download URL: {}", e.message()),
        )
    })?;
    let ip = origin.host.parse::<std::net::IpAddr>().ok();
    let link_local = match ip {
        Some(std::net::IpAddr::V4(v4)) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()
        }
        Some(std::net::IpAddr::V6(v6)) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified() || v6.is_multicast()
        }
        None => false,
    };
    if link_local {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "the server sent a download URL to {}, a link-local or special address; refused",
                origin.host
            ),
        ));
    }
    Ok(origin)
}

/// Resolves a redirect's `Location` against the URL it came from (RFC 3986: absolute,
/// network-path `//host/x`, absolute path, or relative path).
pub(crate) fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    if location.starts_with("//") {
        let scheme = base.split_once("://").map_or("https", |(s, _)| s);
        return format!("{scheme}:{location}");
    }
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{}", &base[..path_start], location)
    } else {
        let dir_end = base
            .rfind('/')
            .filter(|&i| i >= path_start)
            .map(|i| i + 1)
            .unwrap_or(base.len());
        let prefix = if dir_end == base.len() && path_start == base.len() {
            format!("{base}/")
        } else {
            base[..dir_end].to_string()
        };
        format!("{prefix}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        let o = Origin::parse("https://fluximage.app/api/compress", "u").unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("https", "fluximage.app", 443)
        );
        let o = Origin::parse("http://127.0.0.1:8080", "u").unwrap();
        assert_eq!(o.port, 8080);
        let o = Origin::parse("http://[::1]:9/x", "u").unwrap();
        assert_eq!(o.host, "::1");
        assert!(Origin::parse("http://localhost/", "u").is_ok());
    }

    #[test]
    fn refuses_plain_http_elsewhere() {
        for bad in [
            "http://fluximage.app",
            "http://10.0.0.1",
            "ftp://x",
            "fluximage.app",
            "https://user@x/",
        ] {
            assert!(Origin::parse(bad, "u").is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_locations() {
        assert_eq!(join("http://a:1/x/y?q", "/z"), "http://a:1/z");
        assert_eq!(join("http://a:1/x/y", "https://b/c"), "https://b/c");
        assert_eq!(join("http://a:1/x/y", "z"), "http://a:1/x/z");
        assert_eq!(
            join("http://a:1/x/y", "//b:2/c"),
            "http://b:2/c",
            "a network-path reference names a host"
        );
    }

    #[test]
    fn server_supplied_download_urls_are_protocol_errors() {
        for bad in [
            "file:///etc/passwd",
            "https://169.254.169.254/latest",
            "https://[fe80::1]/x",
            "http://10.0.0.1/x",
            "https://0.0.0.0/x",
        ] {
            let e = check_download(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{bad}");
        }
        assert!(check_download("https://cdn.example/x.webp").is_ok());
        assert!(check_download("http://127.0.0.1:9/x.webp").is_ok());
    }
}
