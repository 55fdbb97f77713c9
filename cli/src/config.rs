//! The client from the environment and the global flags.

use crate::args::Global;
use crate::exit::Failure;
use fluximage::{Client, Config};
use std::time::Duration;

/// Builds the client: key from `FLUXIMAGE_API_KEY` or the file named by
/// `FLUXIMAGE_API_KEY_FILE`, address and TLS/proxy/retry settings from the flags.
pub fn client(global: &Global) -> Result<Client, Failure> {
    let key = api_key()?;
    let mut config = Config::default();
    if let Some(url) = &global.base_url {
        config.base_url = url.clone();
    }
    config.ca_file = global.ca_file.clone();
    config.proxy = global.proxy.clone();
    config.concurrency = global.concurrency;
    if let Some(n) = global.retries {
        config.retry.max_retries = n;
    }
    if let Some(secs) = global.timeout {
        config.total_timeout = Duration::from_secs(secs);
        config.read_timeout = config.read_timeout.min(config.total_timeout);
    }
    config.user_agent_suffix = Some(format!("flx/{}", env!("CARGO_PKG_VERSION")));
    Client::new(Some(&key), config).map_err(|e| Failure::config(e.to_string()))
}

fn api_key() -> Result<String, Failure> {
    let direct = std::env::var("FLUXIMAGE_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    let file = std::env::var_os("FLUXIMAGE_API_KEY_FILE").filter(|f| !f.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(Failure::config(
            "both FLUXIMAGE_API_KEY and FLUXIMAGE_API_KEY_FILE are set; unset one of them",
        )),
        (Some(k), None) => Ok(k.trim().to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Failure::config(format!(
                    "cannot read the key file {} (FLUXIMAGE_API_KEY_FILE): {e}",
                    path.to_string_lossy()
                ))
            })?;
            // Secrets managers often write a trailing newline; the key itself has no spaces.
            let key = text.trim();
            if key.is_empty() {
                return Err(Failure::config(format!(
                    "the key file {} is empty",
                    path.to_string_lossy()
                )));
            }
            Ok(key.to_string())
        }
        (None, None) => Err(Failure::config(
            "no API key: set FLUXIMAGE_API_KEY, or FLUXIMAGE_API_KEY_FILE to a file holding it",
        )),
    }
}
