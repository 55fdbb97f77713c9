//! A local Fluximage-compatible HTTP/1.1 server for tests, demos and benchmarks.
//!
//! It follows `fluximage-api.md`: keys and plans, `POST /api/compress` with real image work,
//! `GET /api/usage`, signed downloads on a second origin, optional TLS with its own CA, a rate
//! limit, faults injected on demand, and network shaping (round trips, bandwidth caps, server
//! work time). See `emulator/README.md`.
//!
//! ```no_run
//! use fluximage_emulator::{builtin_key, Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).unwrap();
//! println!("{} with key {}", emu.base_url(), builtin_key("agency"));
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod accounts;
mod body;
mod faults;
mod imaging;
mod multipart;
mod server;
mod tls;
mod util;

pub use faults::{Fault, FaultMode, FaultPath};

// The README's Rust examples are compiled and run as doctests (its shell examples are run by
// tests/readme.rs).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;

use server::{Role, Settings, State};

/// The shape of the compress answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// `{"sessionId":..,"results":[{"originalName":..,"url":..,"expiresAt":..}]}`
    #[default]
    Reference,
    /// `{"session_id":..,"data":[{"original_filename":..,"download_url":..,"expires_in":..}]}`
    Alt,
}

/// What the server does with uploaded images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encode {
    /// Decode, resize, watermark and encode for real.
    #[default]
    Real,
    /// Pass-through: the result is the uploaded bytes, unchanged (for client benchmarks).
    None,
}

/// Start-up settings. `Default` gives loopback listeners on free ports, plain HTTP, a 900 s
/// result lifetime, no rate limit, no control endpoints, the reference shape and real encoding.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The API origin (`/api/compress`, `/api/usage`, `/__control/*`).
    pub listen: SocketAddr,
    /// The origin serving signed downloads.
    pub download_listen: SocketAddr,
    /// A third origin that records `Authorization` headers (redirect target).
    pub foreign_listen: SocketAddr,
    /// Serve all three origins over HTTPS with a CA generated at start-up.
    pub tls: bool,
    /// Where to write `ca.pem` (default: a new temporary directory, removed on shutdown).
    pub tls_dir: Option<PathBuf>,
    /// How long results live (and their URLs are valid).
    pub ttl: Duration,
    /// Requests per second per key (`None`: unlimited).
    pub rate: Option<u32>,
    /// Enable the HTTP control endpoints `/__control/*`.
    pub control: bool,
    pub shape: Shape,
    pub encode: Encode,
    /// JSON list of extra accounts: `[{"key":..,"plan":..,"compressor_used":..,..}]`.
    pub keys_file: Option<PathBuf>,
    /// Extra keys chosen by the caller, as `(plan, key)`: `("agency", "flx_live_<40 hex>")`.
    /// Each starts a new billing period with nothing used. [`Emulator::start`] refuses an
    /// unknown plan or a malformed key.
    pub keys: Vec<(String, String)>,
    /// Keys that were rolled: answered 401.
    pub rolled: Vec<String>,
    /// Only Agency keys may call the API (others get 403).
    pub agency_only: bool,
    /// Network shaping: added round-trip time, paid once when a connection is set up and once
    /// before the first byte of every answer, on all three origins (zero: none).
    pub rtt: Duration,
    /// Upload cap (client to server) per origin in bytes per second, shared by all of that
    /// origin's connections, as a link's capacity is.
    pub upload_rate: Option<u64>,
    /// Download cap (server to client) per origin in bytes per second, shared likewise.
    pub download_rate: Option<u64>,
    /// Upload cap of each connection on its own, in bytes per second.
    pub conn_upload_rate: Option<u64>,
    /// Download cap of each connection on its own, in bytes per second.
    pub conn_download_rate: Option<u64>,
    /// Server work time added to each image of a compress (in either encode mode).
    pub work_time: Duration,
    /// Each image's work time varies uniformly by up to this much either way.
    pub work_jitter: Duration,
    /// At most this many images are worked on at once, across all requests (`None`: as many
    /// as the server's 8 blocking threads allow with real encoding, no cap in pass-through).
    pub encoders: Option<usize>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let lo = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        EmulatorConfig {
            listen: lo,
            download_listen: lo,
            foreign_listen: lo,
            tls: false,
            tls_dir: None,
            ttl: Duration::from_secs(900),
            rate: None,
            control: false,
            shape: Shape::Reference,
            encode: Encode::Real,
            keys_file: None,
            keys: Vec::new(),
            rolled: Vec::new(),
            agency_only: false,
            rtt: Duration::ZERO,
            upload_rate: None,
            download_rate: None,
            conn_upload_rate: None,
            conn_download_rate: None,
            work_time: Duration::ZERO,
            work_jitter: Duration::ZERO,
            encoders: None,
        }
    }
}

/// A running emulator. Dropping it shuts it down: listeners and connections are closed and
/// its threads joined.
pub struct Emulator {
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
    base_url: String,
    download_url: String,
    foreign_url: String,
    ca_path: Option<PathBuf>,
    created_dir: Option<PathBuf>,
}

/// The built-in key of a plan: `"free"`, `"starter"`, `"pro"` or `"agency"`.
///
/// # Panics
/// On any other plan name.
pub fn builtin_key(plan: &str) -> &'static str {
    accounts::BUILTIN_KEYS
        .iter()
        .find(|(p, _)| *p == plan)
        .map(|(_, k)| *k)
        .unwrap_or_else(|| panic!("no built-in key for plan {plan:?}"))
}

/// `(plan, key)` for every built-in key.
pub fn builtin_keys() -> &'static [(&'static str, &'static str)] {
    &accounts::BUILTIN_KEYS
}

fn url_host(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            format!("[{}]:{}", Ipv6Addr::LOCALHOST, addr.port())
        }
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}

fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Emulator {
    /// Binds the three listeners, starts the server on its own runtime (background threads)
    /// and returns once it is listening.
    pub fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        let zero = |r: Option<u64>| r == Some(0);
        if zero(cfg.upload_rate)
            || zero(cfg.download_rate)
            || zero(cfg.conn_upload_rate)
            || zero(cfg.conn_download_rate)
            || cfg.encoders == Some(0)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a rate or the number of encoders is 0: nothing would ever move",
            ));
        }
        let accounts = accounts::Accounts::new(cfg.keys_file.as_deref(), &cfg.keys, &cfg.rolled)?;
        let api_l = bind(cfg.listen)?;
        let dl_l = bind(cfg.download_listen)?;
        let fr_l = bind(cfg.foreign_listen)?;
        let tls = if cfg.tls {
            Some(tls::setup(cfg.tls_dir.as_deref())?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{}", url_host(api_l.local_addr()?));
        let download_url = format!("{scheme}://{}", url_host(dl_l.local_addr()?));
        let foreign_host = url_host(fr_l.local_addr()?);
        let foreign_url = format!("{scheme}://{foreign_host}");
        let state = Arc::new(State::new(
            Settings {
                ttl: cfg.ttl,
                rate: cfg.rate,
                control: cfg.control,
                shape: cfg.shape,
                encode: cfg.encode,
                agency_only: cfg.agency_only,
                rtt: cfg.rtt,
                upload_rate: cfg.upload_rate,
                download_rate: cfg.download_rate,
                conn_upload_rate: cfg.conn_upload_rate,
                conn_download_rate: cfg.conn_download_rate,
                work_time: cfg.work_time,
                work_jitter: cfg.work_jitter,
                encoders: cfg.encoders,
            },
            accounts,
            download_url.clone(),
            foreign_url.clone(),
            format!("http://{foreign_host}"),
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("fluximage-emulator")
            .enable_all()
            .build()?;
        {
            let _guard = runtime.enter();
            let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
            for (l, role) in [
                (api_l, Role::Api),
                (dl_l, Role::Download),
                (fr_l, Role::Foreign),
            ] {
                let l = tokio::net::TcpListener::from_std(l)?;
                runtime.spawn(server::accept_loop(
                    l,
                    state.clone(),
                    role,
                    acceptor.clone(),
                ));
            }
            let st = state.clone();
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    st.expire_results();
                }
            });
        }
        Ok(Emulator {
            state,
            runtime: Some(runtime),
            base_url,
            download_url,
            foreign_url,
            ca_path: tls.as_ref().map(|t| t.ca_path.clone()),
            created_dir: tls.and_then(|t| t.created_dir),
        })
    }

    /// The API origin, e.g. `http://127.0.0.1:41234` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The origin serving signed downloads.
    pub fn download_url(&self) -> String {
        self.download_url.clone()
    }

    /// The third origin: records `Authorization` headers and answers 200 `foreign`.
    pub fn foreign_url(&self) -> String {
        self.foreign_url.clone()
    }

    /// With TLS: the generated CA certificate (PEM).
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca_path.clone()
    }

    /// The same JSON as `GET /__control/stats`.
    pub fn stats(&self) -> serde_json::Value {
        self.state.stats_json()
    }

    /// Queues a fault, like `POST /__control/fault` (works without `control`).
    pub fn inject(&self, fault: Fault) {
        self.state.inject(fault);
    }

    /// Like `POST /__control/reset`: clears faults, statistics and rate windows, and restores
    /// every account to its start-up usage.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Like `POST /__control/delete-results`: deletes every stored result (their URLs then
    /// answer 404). Returns how many there were.
    pub fn delete_results(&self) -> usize {
        self.state.delete_results()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            let stop = move || rt.shutdown_timeout(Duration::from_secs(5));
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropping a runtime inside another one panics: do it from a plain thread.
                let _ = std::thread::spawn(stop).join();
            } else {
                stop();
            }
        }
        if let Some(d) = self.created_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
