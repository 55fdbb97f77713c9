//! `flx watch`: sync once, then compress what arrives.

use crate::args::{Global, WatchArgs};
use crate::exit::Failure;
use fluximage::CancelToken;

pub fn run(_args: &WatchArgs, _global: &Global, _cancel: &CancelToken) -> Result<u8, Failure> {
    Err(Failure::config("watch is not available in this build"))
}
