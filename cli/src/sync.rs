//! `flx sync`: the library's sync engine, with its plan and events printed.

use crate::args::{Global, SyncArgs};
use crate::exit::Failure;
use fluximage::CancelToken;

pub fn run(_args: &SyncArgs, _global: &Global, _cancel: &CancelToken) -> Result<u8, Failure> {
    Err(Failure::config("sync is not available in this build"))
}
