//! Where results are written, and how: atomically, never over an input.

use crate::error::{Error, ErrorKind, Result};
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
    // A trailing slash names a folder: one that is missing would fail only after the upload.
    if output.as_os_str().as_encoded_bytes().ends_with(b"/") && !output.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the output folder {} does not exist", output.display()),
        ));
    }
    if output.is_dir() {
        return Err(Error::invalid(format!(
            "the output {} is a directory; name a file",
            output.display()
        )));
    }
    if let Some(name) = output.file_name().filter(|n| n.len() > NAME_MAX) {
        return Err(Error::invalid(format!(
            "the output file name is {} bytes, longer than the {NAME_MAX} bytes a file name may have",
            name.len()
        )));
    }
    if same_file(output, input) {
        return Err(Error::invalid(format!(
            "the output {} is the input file; refusing to overwrite the original",
            output.display()
        )));
    }
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::save::prepare_output_dir(parent)
}

/// The longest file name (in bytes) the common file systems take (Linux, macOS, Windows).
const NAME_MAX: usize = 255;

/// A fresh temporary name beside `dest` (same folder, so the final rename is atomic). Its
/// length is fixed (25 bytes), so any name `dest` may have, up to NAME_MAX, still works.
pub(crate) fn temp_path_for(dest: &Path) -> PathBuf {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".{:016x}.flx-tmp", crate::random_u128() as u64))
}

/// Gives `tmp` the permissions of the file `dest` it is about to replace (a shared 0644 stays
/// 0644, a private 0600 stays private); nothing when `dest` is not a file.
pub(crate) fn keep_permissions(tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::metadata(dest) {
        Ok(old) if old.is_file() => std::fs::set_permissions(tmp, old.permissions())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), &e)),
        _ => Ok(()),
    }
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
        file.sync_all()
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), &e))?;
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
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn replacing_a_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir("mode");
        let dest = d.join("out.webp");
        std::fs::write(&dest, b"old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).unwrap();
        let tmp = temp_path_for(&dest);
        write_temp(&tmp, |f| {
            f.write_all(b"new")
                .map(|_| 3)
                .map_err(|e| Error::io("w", &e))
        })
        .unwrap();
        keep_permissions(&tmp, &dest).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn long_names_and_missing_slash_folders_fail_before_any_upload() {
        let d = tmpdir("names");
        let long = d.join("a".repeat(250) + ".webp");
        check_output(&long, Path::new("")).unwrap();
        let tmp = temp_path_for(&long);
        assert!(
            tmp.file_name().unwrap().len() <= NAME_MAX,
            "the temporary name fits"
        );
        std::fs::write(&tmp, b"x").expect("a temporary file beside a 255-byte name can be created");
        let e = check_output(&d.join("a".repeat(256)), Path::new("")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("256 bytes"), "{}", e.message());
        let missing = format!("{}/missing/", d.display());
        let e = check_output(Path::new(&missing), Path::new("")).unwrap_err();
        assert!(e.message().contains("does not exist"), "{}", e.message());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_the_input_and_missing_folders_are_created() {
        let d = tmpdir("target");
        let input = d.join("cat.png");
        std::fs::write(&input, b"png").unwrap();
        let e = check_output(&input, &input).unwrap_err();
        assert!(
            e.message().contains("refusing to overwrite the original"),
            "{}",
            e.message()
        );
        check_output(&d.join("missing/out.webp"), &input).unwrap();
        assert!(d.join("missing").is_dir());
        assert!(check_output(&d, &input)
            .unwrap_err()
            .message()
            .contains("is a directory"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
