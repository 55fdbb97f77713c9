//! Just enough URL handling for the transport rules: an origin, and whether it may be plain HTTP.

use crate::error::{Error, Result};

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
            _ => return Err(Error::invalid(format!("{what} must use https (got scheme {scheme:?})"))),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(Error::invalid(format!("{what} must not contain user information")));
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
            Some(p) => p.parse().map_err(|_| Error::invalid(format!("{what} has an invalid port")))?,
        };
        let origin = Origin { scheme, host: host.to_ascii_lowercase(), port };
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
        self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Resolves a redirect's `Location` against the URL it came from (absolute, or absolute path).
pub(crate) fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{}", &base[..path_start], location)
    } else {
        let dir_end = base.rfind('/').filter(|&i| i >= path_start).map(|i| i + 1).unwrap_or(base.len());
        let prefix = if dir_end == base.len() && path_start == base.len() { format!("{base}/") } else { base[..dir_end].to_string() };
        format!("{prefix}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins() {
        let o = Origin::parse("https://fluximage.app/api/compress", "u").unwrap();
        assert_eq!((o.scheme.as_str(), o.host.as_str(), o.port), ("https", "fluximage.app", 443));
        let o = Origin::parse("http://127.0.0.1:8080", "u").unwrap();
        assert_eq!(o.port, 8080);
        let o = Origin::parse("http://[::1]:9/x", "u").unwrap();
        assert_eq!(o.host, "::1");
        assert!(Origin::parse("http://localhost/", "u").is_ok());
    }

    #[test]
    fn refuses_plain_http_elsewhere() {
        for bad in ["http://fluximage.app", "http://10.0.0.1", "ftp://x", "fluximage.app", "https://user@x/"] {
            assert!(Origin::parse(bad, "u").is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_locations() {
        assert_eq!(join("http://a:1/x/y?q", "/z"), "http://a:1/z");
        assert_eq!(join("http://a:1/x/y", "https://b/c"), "https://b/c");
        assert_eq!(join("http://a:1/x/y", "z"), "http://a:1/x/z");
    }
}
