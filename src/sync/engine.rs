//! The run of a sync: plan, check credits, send, save, record.

use super::{SyncEvent, SyncOptions, SyncReport};
use crate::error::{Error, ErrorKind, Result};
use crate::{Client, CompressOptions, Observer};
use std::path::Path;

pub(crate) fn run(
    _client: &Client,
    _src: &Path,
    _out: &Path,
    _options: &CompressOptions,
    _sync: &SyncOptions,
    _on_event: &mut dyn FnMut(SyncEvent<'_>),
    _obs: &mut Observer,
) -> Result<SyncReport> {
    Err(Error::new(ErrorKind::Internal, "sync is not implemented yet"))
}
