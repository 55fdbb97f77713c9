//! Saving one result under the no-clobber rule: an existing file is replaced only when the user
//! said `--overwrite`.

use fluximage::{Client, Error, ErrorKind, Item, Observer};
use std::path::{Path, PathBuf};

/// Saves `item` to the file `dest`; fails when `dest` exists and `overwrite` is false.
pub fn save(
    client: &Client,
    item: &Item,
    dest: &Path,
    overwrite: bool,
    obs: &mut Observer,
) -> fluximage::Result<PathBuf> {
    if !overwrite && dest.symlink_metadata().is_ok() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "{} exists; not replaced (--overwrite replaces it)",
                dest.display()
            ),
        ));
    }
    client.save(item, dest, obs)
}
