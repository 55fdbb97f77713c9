//! Where results are written, and how: atomically, never over an input.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

/// Somewhere a download goes that can start over when the download is retried.
pub(crate) trait Sink: Write {
    fn restart(&mut self) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn restart(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

impl Sink for File {
    fn restart(&mut self) -> io::Result<()> {
        self.set_len(0)?;
        self.rewind()
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Checks that `output` can be written and is not `input`, before anything is uploaded: its
/// folder is created when missing and proved writable.
pub(crate) fn check_output(output: &Path, input: &Path) -> Result<()> {
    if output.as_os_str().is_empty() {
        return Err(Error::invalid("the output path is empty"));
    }
    if output.is_dir() {
        return Err(Error::invalid(format!("the output {} is a directory; name a file", output.display())));
    }
    if same_file(output, input) {
        return Err(Error::invalid(format!(
            "the output {} is the input file; refusing to overwrite the original",
            output.display()
        )));
    }
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::save::prepare_output_dir(parent)
}

/// A fresh temporary name beside `dest` (same folder, so the final rename is atomic).
pub(crate) fn temp_path_for(dest: &Path) -> PathBuf {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let stem = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{stem}.{:08x}.flx-tmp", crate::random_u128() as u32))
}

/// Creates the new file `tmp` and fills it with `fill`, flushed to disk. On failure `tmp` is
/// removed; on success the caller moves it into place.
pub(crate) fn write_temp(tmp: &Path, fill: impl FnOnce(&mut File) -> Result<u64>) -> Result<u64> {
    let dir = tmp.parent().unwrap_or(Path::new("."));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| Error::io(format!("cannot create a file in {}", dir.display()), &e))?;
    let result = fill(&mut file).and_then(|n| {
        file.sync_all().map_err(|e| Error::io(format!("writing {}", tmp.display()), &e))?;
        Ok(n)
    });
    if result.is_err() {
        drop(file);
        let _ = std::fs::remove_file(tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flx-dl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let d = tmpdir("fail");
        let tmp = temp_path_for(&d.join("out.webp"));
        let e = write_temp(&tmp, |f| {
            f.write_all(b"partial").unwrap();
            Err(Error::new(ErrorKind::Network, "connection reset"))
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "no temporary file left");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_the_input_and_missing_folders_are_created() {
        let d = tmpdir("target");
        let input = d.join("cat.png");
        std::fs::write(&input, b"png").unwrap();
        let e = check_output(&input, &input).unwrap_err();
        assert!(e.message().contains("refusing to overwrite the original"), "{}", e.message());
        check_output(&d.join("missing/out.webp"), &input).unwrap();
        assert!(d.join("missing").is_dir());
        assert!(check_output(&d, &input).unwrap_err().message().contains("is a directory"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
