//! Saving one result under the no-clobber rule of the core: an existing file is replaced only
//! when the user said `--overwrite`.

use fluximage::{Client, ExistsPolicy, Item, Observer};
use std::path::{Path, PathBuf};

/// Saves `item` to the file `dest`; fails with `Exists` when `dest` exists and `overwrite` is
/// false.
pub fn save(
    client: &Client,
    item: &Item,
    dest: &Path,
    overwrite: bool,
    obs: &mut Observer,
) -> fluximage::Result<PathBuf> {
    let policy = if overwrite {
        ExistsPolicy::Overwrite
    } else {
        ExistsPolicy::Error
    };
    client.save(item, dest, policy, obs)
}
