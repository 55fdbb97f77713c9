//! The HTTP side: the server's shared types, and its parts in submodules.
//!
//! `conn` accepts connections (telling TLS from plain HTTP), `routes` dispatches requests per
//! origin, `state` holds accounts, statistics and keys, `results` the stored results, `compress`
//! handles a compress with `form` parsing its fields and `answer` shaping its JSON, `control`
//! serves `/__control/*`. Fault application lives next to the fault queue, in `crate::faults`.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hyper::Response;

use crate::body::RespBody;
use crate::{Encode, Shape};

mod answer;
mod compress;
mod conn;
mod control;
mod form;
pub(crate) mod peer;
pub(crate) mod respond;
mod results;
pub(crate) mod routes;
mod shaping;
mod state;

pub(crate) use compress::{compress, Charge};
pub(crate) use conn::accept_loop;
pub(crate) use state::State;

/// One file may be at most 20 MiB.
pub const MAX_FILE: usize = 20 * 1024 * 1024;
/// At most 20 files per request.
pub const MAX_FILES: usize = 20;
/// Whole request body bound: 20 files of 20 MiB plus 1 MiB of fields and framing.
pub const MAX_BODY: usize = MAX_FILES * MAX_FILE + 1024 * 1024;

pub(crate) type Resp = Response<RespBody>;

/// Returned by a handler to close the connection without answering.
#[derive(Debug)]
pub(crate) struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed on purpose")
    }
}

impl std::error::Error for Abort {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Api,
    Download,
    Foreign,
}

pub(crate) struct Settings {
    pub ttl: Duration,
    pub rate: Option<u32>,
    pub control: bool,
    pub shape: Shape,
    pub encode: Encode,
    pub agency_only: bool,
    /// Network shaping and server work time (see `EmulatorConfig`).
    pub rtt: Duration,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    pub conn_upload_rate: Option<u64>,
    pub conn_download_rate: Option<u64>,
    pub work_time: Duration,
    pub work_jitter: Duration,
    pub encoders: Option<usize>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
