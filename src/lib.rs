//! libfluximage: a client for the Fluximage image-compression API.
//!
//! The safe Rust API lives here; `ffi` exposes it to C (see `include/fluximage.h`).
//!
//! ```no_run
//! use fluximage::{Client, Config, CompressOptions, Format, Input, Observer};
//! let client = Client::new(None, Config::default())?; // FLUXIMAGE_API_KEY
//! let opts = CompressOptions { format: Format::Avif, ..Default::default() };
//! let batch = client.compress(&[Input::path("cat.jpg")], &opts, &mut Observer::none())?;
//! client.save(&batch.items[0], "out/".as_ref(), &mut Observer::none())?;
//! # Ok::<(), fluximage::Error>(())
//! ```
#![deny(missing_docs)]

mod client;
mod download;
mod error;
mod input;
mod key;
mod multipart;
mod observe;
mod options;
mod response;
mod retry;
mod time;
mod url;

pub mod ffi;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{Batch, Client, Config, Item, DEFAULT_BASE_URL, MAX_DOWNLOAD_BYTES, MAX_JSON_BYTES};
pub use error::{Error, ErrorKind, Result};
pub use input::{Input, MAX_FILES_PER_REQUEST, MAX_FILE_BYTES};
pub use key::ApiKey;
pub use observe::{CancelToken, Observer, Progress};
pub use options::{CompressOptions, Format, Position, Watermark};
pub use response::{ImageInfo, Usage};
pub use retry::RetryPolicy;

/// The library version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// 128 unpredictable-enough bits for multipart boundaries, temporary names and jitter (not for
/// cryptography): std's per-process random hash keys mixed with a counter and the clock.
pub(crate) fn random_u128() -> u128 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n ^ salt);
        h.write_u128(nanos);
        h.finish()
    };
    (u128::from(word(0x9e37_79b9)) << 64) | u128::from(word(0x7f4a_7c15))
}
