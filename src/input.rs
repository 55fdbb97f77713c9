//! Inputs of a compress call, and the local checks that run before anything is uploaded.

use crate::error::{Error, ErrorKind, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::limits::{MAX_FILES_PER_REQUEST, MAX_FILE_BYTES};

/// One image to compress.
#[derive(Clone, Debug)]
pub enum Input {
    /// A file on disk, streamed during the upload (memory does not grow with its size).
    Path(PathBuf),
    /// Bytes in memory, uploaded under `name` (the server derives the output name from it).
    Bytes {
        /// The file name to upload under, e.g. `photo.jpg`.
        name: String,
        /// The image bytes.
        data: Arc<[u8]>,
    },
}

impl Input {
    /// A file input.
    pub fn path(p: impl Into<PathBuf>) -> Input {
        Input::Path(p.into())
    }

    /// An in-memory input.
    pub fn bytes(name: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Input {
        Input::Bytes {
            name: name.into(),
            data: data.into(),
        }
    }

    /// The file this input reads, when it is one (a save never replaces it).
    pub(crate) fn file(&self) -> Option<&std::path::Path> {
        match self {
            Input::Path(p) => Some(p),
            Input::Bytes { .. } => None,
        }
    }

    /// A short label for messages: the path or the name.
    pub fn label(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Bytes { name, .. } => name.clone(),
        }
    }
}

/// An input that passed the local checks, ready to stream.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub name: String,
    pub len: u64,
    pub source: Source,
}

#[derive(Clone, Debug)]
pub(crate) enum Source {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

/// Runs the local checks: readable regular file, not empty, at most 20 MB.
pub(crate) fn check(input: &Input) -> Result<Checked> {
    match input {
        Input::Path(path) => {
            let label = path.display();
            // Opening proves readability; metadata of the open file avoids a race with renames.
            let (_file, meta) = open_regular(path)?;
            check_len(&label.to_string(), meta.len())?;
            Ok(Checked {
                name: upload_name(path),
                len: meta.len(),
                source: Source::File(path.clone()),
            })
        }
        Input::Bytes { name, data } => {
            if name.is_empty() {
                return Err(Error::invalid(
                    "an in-memory input needs a file name such as photo.jpg",
                ));
            }
            check_len(name, data.len() as u64)?;
            Ok(Checked {
                name: name.clone(),
                len: data.len() as u64,
                source: Source::Bytes(data.clone()),
            })
        }
    }
}

pub(crate) fn check_len(label: &str, len: u64) -> Result<()> {
    if len == 0 {
        return Err(Error::invalid(format!("{label} is empty")));
    }
    if len > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "{label} is {len} bytes, over the 20 MB per-file limit ({MAX_FILE_BYTES} bytes)"
            ),
        ));
    }
    Ok(())
}

/// Opens `path` for reading only if it is a regular file. The type is checked before the open
/// (opening a FIFO blocks until a writer appears, on the caller's thread, beyond any cancel)
/// and again on the open file, which is opened non-blocking in case it was swapped meanwhile.
/// Returns the file and its metadata.
pub(crate) fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let label = path.display();
    let not_regular = || Error::invalid(format!("{label} is not a regular file"));
    let meta =
        std::fs::metadata(path).map_err(|e| Error::io(format!("cannot read {label}"), &e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(format!("cannot read {label}"), &e))?;
    match file.metadata() {
        // O_NONBLOCK does not change reads of a regular file.
        Ok(m) if m.is_file() => Ok((file, m)),
        Ok(_) => Err(not_regular()),
        Err(e) => Err(Error::io(format!("cannot read {label}"), &e)),
    }
}

/// The name a file is uploaded under: its last path component.
pub(crate) fn upload_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_checks_name_the_problem() {
        let dir = std::env::temp_dir().join(format!("flx-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        let e = check(&Input::path(&empty)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(
            e.message().contains("empty.jpg is empty"),
            "{}",
            e.message()
        );

        let e = check(&Input::path(dir.join("missing.jpg"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().contains("no such file"), "{}", e.message());

        let e = check(&Input::path(&dir)).unwrap_err();
        assert!(
            e.message().contains("not a regular file"),
            "{}",
            e.message()
        );

        let big = vec![0u8; MAX_FILE_BYTES as usize + 1];
        assert_eq!(
            check(&Input::bytes("big.png", big)).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        let ok = check(&Input::bytes("a.png", vec![1u8; 10])).unwrap();
        assert_eq!(ok.len, 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
