//! The API key: validated once, stored privately, shown only masked.

use crate::error::{Error, Result};
use std::fmt;

const PREFIX: &str = "flx_live_";
const HEX_LEN: usize = 40;

/// A validated API key (`flx_live_` followed by 40 hexadecimal characters).
///
/// `Debug` and `Display` show it masked like the dashboard does (`flx_live_a3b4c...f8e9`); the
/// full key leaves this type only as the `Authorization` header value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Checks the key's shape. The error message never repeats the key.
    pub fn parse(key: &str) -> Result<ApiKey> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::invalid(
                "no API key: pass one or set FLUXIMAGE_API_KEY (Dashboard > Settings > API Key)",
            ));
        }
        let Some(hex) = key.strip_prefix(PREFIX) else {
            return Err(Error::invalid(
                "the API key must start with flx_live_ (check FLUXIMAGE_API_KEY)",
            ));
        };
        if hex.len() != HEX_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "the API key must be flx_live_ followed by {HEX_LEN} hexadecimal characters (got {} characters after the prefix)",
                hex.chars().count()
            )));
        }
        Ok(ApiKey(key.to_string()))
    }

    /// Reads and checks `FLUXIMAGE_API_KEY`.
    pub fn from_env() -> Result<ApiKey> {
        match std::env::var("FLUXIMAGE_API_KEY") {
            Ok(v) => ApiKey::parse(&v),
            Err(std::env::VarError::NotPresent) => Err(Error::invalid(
                "no API key: pass one or set FLUXIMAGE_API_KEY (Dashboard > Settings > API Key)",
            )),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::invalid("FLUXIMAGE_API_KEY is not valid UTF-8"))
            }
        }
    }

    /// The key masked as `flx_live_a3b4c...f8e9`.
    pub fn masked(&self) -> String {
        let hex = &self.0[PREFIX.len()..];
        format!("{PREFIX}{}...{}", &hex[..5], &hex[HEX_LEN - 4..])
    }

    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const KEY: &str = "flx_live_a3b4c0000000000000000000000000000000f8e9";

    #[test]
    fn accepts_and_masks() {
        let k = ApiKey::parse(KEY).unwrap();
        assert_eq!(k.masked(), "flx_live_a3b4c...f8e9");
        assert!(!format!("{k:?}").contains(KEY));
        assert!(!format!("{k}").contains(KEY));
    }

    #[test]
    fn rejects_bad_shapes_without_echoing() {
        for bad in [
            "",
            "sk_live_abc",
            "flx_live_123",
            "flx_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            let e = ApiKey::parse(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
            if bad.len() > 9 {
                assert!(!e.message().contains(bad), "{}", e.message());
            }
        }
    }
}
