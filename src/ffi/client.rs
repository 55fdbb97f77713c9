//! `flx_client`: the connection to the API and its settings.

use super::{arg_mut, arg_opt_str, arg_path, arg_str, ffi_entry, flx_status, free_box, into_raw};
use crate::{Client, Config, Error};
use std::ffi::c_char;
use std::time::Duration;

/// A client: the key, the settings and a pool of keep-alive connections.
///
/// Thread safety: once configured, one client may be used by any number of threads at once
/// (every compress, fetch, save and usage call). The flx_client_set_* functions must not run
/// while another thread uses the same client.
pub struct flx_client {
    pub(crate) client: Client,
}

impl flx_client {
    fn update(&mut self, change: impl FnOnce(&mut Config)) -> Result<flx_status, Error> {
        let mut config = self.client.config().clone();
        change(&mut config);
        self.client = self.client.reconfigure(config)?;
        Ok(flx_status::FLX_OK)
    }
}

/// Creates a client for `api_key` ("flx_live_" + 40 hex characters), or for the key in the
/// environment variable FLUXIMAGE_API_KEY when `api_key` is NULL. The base URL is
/// https://fluximage.app unless FLUXIMAGE_BASE_URL is set. The key's shape is checked here
/// (no request is made); the key is copied, and only ever shown masked.
///
/// Returns NULL on failure (FLX_INVALID_ARGUMENT: missing or malformed key); see
/// flx_last_error(). Free the client with flx_client_free().
///
/// The first call registers a fork handler (pthread_atfork, removed if the library is
/// unloaded): a forked child's clients then open their own connections instead of sharing
/// the parent's, without asking the system for the process id before every request.
#[no_mangle]
pub extern "C" fn flx_client_new(api_key: *const c_char) -> *mut flx_client {
    ffi_entry!({
        let key = arg_opt_str(api_key, "api_key")?;
        hook_fork();
        Ok(into_raw(flx_client {
            client: Client::new(key, Config::default())?,
        }))
    })
}

/// Registers, once, a fork handler that tells the core it runs in a new process, so that it
/// need not ask the system before every request.
fn hook_fork() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn child() {
        crate::process::forked();
    }
    ONCE.call_once(|| {
        // SAFETY: `child` is a plain function that only stores an atomic (async-signal-safe).
        if unsafe { libc::pthread_atfork(None, None, Some(child)) } == 0 {
            crate::process::hooked();
        }
    });
}

/// Frees a client and closes its connections. NULL is ignored. Results of flx_compress()
/// stay valid; a client must not be freed twice or while another thread uses it.
#[no_mangle]
pub extern "C" fn flx_client_free(client: *mut flx_client) {
    ffi_entry!({
        free_box(client);
        Ok(())
    })
}

/// Sets the API's base URL, e.g. "https://fluximage.app" or an emulator's
/// "http://127.0.0.1:8080". Plain http is refused (FLX_INVALID_ARGUMENT) except for loopback
/// hosts (127.0.0.0/8, ::1, localhost), so the key never crosses a network unencrypted.
#[no_mangle]
pub extern "C" fn flx_client_set_base_url(
    client: *mut flx_client,
    url: *const c_char,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        let url = arg_str(url, "url")?.to_string();
        c.update(|cfg| cfg.base_url = url)
    })
}

/// Sets the time limits in milliseconds; 0 keeps a limit as it is. `connect_ms`: to open a
/// connection (default 10000). `read_ms`: waiting for the answer to start or for its next bytes
/// (default 120000; the server encodes every image before it answers). `total_ms`: one whole
/// request, upload to last byte (default 600000). A call that runs out ends with FLX_TIMEOUT,
/// at most 10 ms after the limit (sockets are given their timeouts in steps of 10 ms).
#[no_mangle]
pub extern "C" fn flx_client_set_timeouts(
    client: *mut flx_client,
    connect_ms: u32,
    read_ms: u32,
    total_ms: u32,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        c.update(|cfg| {
            let ms = |v: u32, cur: Duration| {
                if v == 0 {
                    cur
                } else {
                    Duration::from_millis(v.into())
                }
            };
            cfg.connect_timeout = ms(connect_ms, cfg.connect_timeout);
            cfg.read_timeout = ms(read_ms, cfg.read_timeout);
            cfg.total_timeout = ms(total_ms, cfg.total_timeout);
        })
    })
}

/// Sends requests through an HTTP CONNECT proxy ("http://host:3128", or
/// "http://user:password@host:3128"; the credentials never appear in a message). NULL goes back
/// to the environment's HTTPS_PROXY / ALL_PROXY / NO_PROXY, which apply by default. Loopback
/// targets (127.0.0.0/8, ::1, localhost) are always reached directly, so plain http never
/// crosses a proxy. A SOCKS URL ("socks5://...") is refused with FLX_INVALID_ARGUMENT, as is an
/// environment SOCKS proxy when a call needs it: a call never silently goes direct instead.
#[no_mangle]
pub extern "C" fn flx_client_set_proxy(client: *mut flx_client, url: *const c_char) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        let proxy = arg_opt_str(url, "url")?.map(str::to_string);
        c.update(|cfg| cfg.proxy = proxy)
    })
}

/// Trusts the CA certificates of a PEM file in addition to the system's (a corporate proxy, or
/// the emulator's --tls mode); NULL trusts the system's only. FLX_IO when the file cannot be
/// read, FLX_INVALID_ARGUMENT when it holds no certificate.
#[no_mangle]
pub extern "C" fn flx_client_set_ca_file(
    client: *mut flx_client,
    pem_path: *const c_char,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        let path = if pem_path.is_null() {
            None
        } else {
            Some(arg_path(pem_path, "pem_path")?)
        };
        c.update(|cfg| cfg.ca_file = path)
    })
}

/// Sets how often a failed request is tried again, 0..10 (default 2; 0 disables). Retried:
/// HTTP 429, 502, 503, 504 (waiting Retry-After up to 60 s, else backing off from 250 ms with
/// jitter) and connections that failed before the request was sent; downloads on any network
/// failure. See flx_client_set_retry_after_upload() for compresses whose upload went out.
#[no_mangle]
pub extern "C" fn flx_client_set_retries(client: *mut flx_client, max_retries: u32) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        c.update(|cfg| cfg.retry.max_retries = max_retries)
    })
}

/// Whether a compress whose upload went out before the connection failed is retried (default
/// false): the server may already have processed it, so a retry may charge credits twice.
#[no_mangle]
pub extern "C" fn flx_client_set_retry_after_upload(
    client: *mut flx_client,
    retry: bool,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        c.update(|cfg| cfg.retry.retry_after_upload = retry)
    })
}

/// Sets how many requests of one batch are in flight at once, 1..16 (default 4). A batch is
/// sent as requests of at most 20 files each.
#[no_mangle]
pub extern "C" fn flx_client_set_concurrency(
    client: *mut flx_client,
    requests_in_flight: u32,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        c.update(|cfg| cfg.concurrency = requests_in_flight)
    })
}

/// Appends an application identifier to the user agent
/// ("libfluximage/0.1.0 (linux; x86_64) gimp-plugin/1.0"); NULL removes it.
#[no_mangle]
pub extern "C" fn flx_client_set_user_agent(
    client: *mut flx_client,
    suffix: *const c_char,
) -> flx_status {
    ffi_entry!({
        let c = arg_mut(client, "client")?;
        let suffix = arg_opt_str(suffix, "suffix")?.map(str::to_string);
        c.update(|cfg| cfg.user_agent_suffix = suffix)
    })
}
