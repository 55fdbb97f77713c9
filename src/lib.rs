//! libfluximage: a client for the Fluximage image-compression API.
//!
//! The safe Rust API lives here; `ffi` exposes it to C (see `include/fluximage.h`).
//!
//! ```no_run
//! use fluximage::{Client, Config, CompressOptions, ExistsPolicy, Format, Input, Observer};
//! let client = Client::new(None, Config::default())?; // FLUXIMAGE_API_KEY
//! let opts = CompressOptions { format: Format::Avif, ..Default::default() };
//! let batch = client.compress(&[Input::path("cat.jpg")], &opts, &mut Observer::none())?;
//! batch.status()?; // did every image succeed?
//! let written = client.save(&batch.items[0], "out/".as_ref(), ExistsPolicy::Error, &mut Observer::none())?;
//! println!("saved {}", written.display());
//! # Ok::<(), fluximage::Error>(())
//! ```
#![deny(missing_docs)]

mod client;
mod conn;
mod download;
mod error;
pub(crate) mod imagesize;
mod input;
mod key;
mod limits;
mod multipart;
mod observe;
mod options;
pub(crate) mod process;
mod proxy;
mod quiet;
mod redact;
mod response;
mod retry;
pub mod save;
pub mod sync;
mod time;
mod url;
mod verify;

pub mod ffi;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{
    Batch, Client, Config, Item, DEFAULT_BASE_URL, MAX_CONCURRENCY, MAX_DOWNLOAD_BYTES,
    MAX_JSON_BYTES, MAX_RETRIES,
};
pub use error::{Error, ErrorKind, Result};
pub use input::{Input, MAX_FILES_PER_REQUEST, MAX_FILE_BYTES};
pub use key::ApiKey;
pub use observe::{CancelToken, Observer, Progress};
pub use options::{CompressOptions, Format, Position, Watermark};
pub use response::{ImageInfo, Usage};
pub use retry::RetryPolicy;
pub use save::ExistsPolicy;
pub use sync::{FileEvent, FileOutcome, IfLarger, SyncEvent, SyncOptions, SyncPlan, SyncReport};

/// The (width, height) of a PNG, JPEG, WebP, AVIF or GIF image from its first bytes (its
/// header; no pixel is decoded), or `None` for another format or a truncated header.
pub fn image_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    imagesize::dimensions(head)
}

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
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n ^ salt);
        h.write_u128(nanos);
        h.finish()
    };
    (u128::from(word(0x9e37_79b9)) << 64) | u128::from(word(0x7f4a_7c15))
}
