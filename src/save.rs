//! Where results land: the no-clobber rule every front end inherits.
//!
//! A save never replaces a file the caller did not ask to replace: with [`ExistsPolicy::Error`]
//! (the default) an existing file is an [`ErrorKind::Exists`] error, with
//! [`ExistsPolicy::Rename`] the result goes to the first free `stem-2.ext`, `stem-3.ext`, ...,
//! and only [`ExistsPolicy::Overwrite`] replaces it. Results of one batch never replace each
//! other, and an item's own input file is never replaced, under any policy.

use crate::error::{Error, ErrorKind, Result};
use crate::options::Format;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a save does when a file is already at the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ExistsPolicy {
    /// Fail with [`ErrorKind::Exists`]; nothing is written (the default).
    #[default]
    Error,
    /// Write to the first free name `stem-2.ext`, `stem-3.ext`, ... beside it.
    Rename,
    /// Replace the existing file (never the item's input, never another result of the batch).
    Overwrite,
}

impl ExistsPolicy {
    /// All policies, in the order of their C ABI numbers.
    pub const ALL: [ExistsPolicy; 3] = [
        ExistsPolicy::Error,
        ExistsPolicy::Rename,
        ExistsPolicy::Overwrite,
    ];

    /// The policy's name: `error`, `rename` or `overwrite`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExistsPolicy::Error => "error",
            ExistsPolicy::Rename => "rename",
            ExistsPolicy::Overwrite => "overwrite",
        }
    }

    /// Parses a policy name (`error`, `rename`, `overwrite`).
    pub fn parse(s: &str) -> Result<ExistsPolicy> {
        ExistsPolicy::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "the exists policy must be error, rename or overwrite (got {s:?})"
                ))
            })
    }
}

/// The most `stem-N.ext` names tried by [`ExistsPolicy::Rename`] before giving up.
const MAX_RENAME_TRIES: u32 = 10_000;

/// Creates `dir` (and its parents) when missing and proves that a file can be created and
/// removed in it, so that no credit is spent on results that could not be saved. The error
/// names the folder and the reason.
pub fn prepare_output_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let plain: PathBuf = dir.components().collect();
    if plain.exists() && !plain.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the output folder {} is a file, not a folder",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format!("cannot create the output folder {}", dir.display()),
            &e,
        )
    })?;
    let probe = dir.join(format!(".flx-probe-{:08x}", crate::random_u128() as u32));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            Error::io(
                format!("cannot write in the output folder {}", dir.display()),
                &e,
            )
        })?;
    std::fs::remove_file(&probe).map_err(|e| {
        Error::io(
            format!(
                "cannot remove a file in the output folder {}",
                dir.display()
            ),
            &e,
        )
    })
}

/// The name a result of `input_name` gets when the server does not choose one: the input's
/// stem and the format's extension (`photos/cat.jpg` + WebP → `cat.webp`).
pub fn predicted_name(input_name: &str, format: Format) -> String {
    // Both separators: a name may come from another system.
    let base = input_name
        .rsplit(|c| c == '/' || c == char::from(0x5c))
        .next()
        .filter(|b| !b.is_empty())
        .unwrap_or("image");
    crate::response::derive_name(base, format.as_str())
}

/// What the saves of one batch have written, shared by its items: which file each result went
/// to (so siblings never replace each other) and the dimensions read from saved images.
#[derive(Debug, Default)]
pub(crate) struct BatchFiles {
    written: Mutex<HashMap<PathBuf, usize>>,
    dimensions: Mutex<HashMap<usize, (u32, u32)>>,
}

impl BatchFiles {
    fn writer_of(&self, target: &Path) -> Option<usize> {
        let key = canonical(target)?;
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
    }

    fn record(&self, target: &Path, index: usize) {
        if let Some(key) = canonical(target) {
            self.written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, index);
        }
    }

    pub(crate) fn learn_dimensions(&self, index: usize, head: &[u8]) {
        if let Some(d) = crate::imagesize::dimensions(head) {
            self.dimensions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(index, d);
        }
    }

    pub(crate) fn dimensions(&self, index: usize) -> Option<(u32, u32)> {
        self.dimensions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .copied()
    }
}

/// The path as the file system knows it (its folder resolved), to compare two targets.
fn canonical(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(name))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether `path` names a folder: it ends in a separator, or is an existing directory.
fn names_a_folder(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().ends_with(b"/") || path.is_dir()
}

/// Where one save goes, decided before the download.
pub(crate) struct Destination<'a> {
    /// The file the result will be written to.
    pub target: PathBuf,
    /// The name asked for, before any renaming.
    base: PathBuf,
    /// The N of `target` as `stem-N.ext` (1: `base` itself).
    number: u32,
    policy: ExistsPolicy,
    source: Option<&'a Path>,
    index: usize,
    files: &'a BatchFiles,
}

impl<'a> Destination<'a> {
    /// Resolves `path` (a file, or a folder for a result named `name`), creating missing
    /// folders, and applies the policy to what is already there.
    pub(crate) fn resolve(
        path: &Path,
        name: &str,
        source: Option<&'a Path>,
        index: usize,
        policy: ExistsPolicy,
        files: &'a BatchFiles,
    ) -> Result<Destination<'a>> {
        if path.as_os_str().is_empty() {
            return Err(Error::invalid("the output path is empty"));
        }
        let target = if names_a_folder(path) {
            prepare_folder(path)?;
            // The server chose `name`: keep only a plain file name so it cannot leave the folder.
            let base = Path::new(name)
                .file_name()
                .filter(|n| !n.is_empty() && *n != "..")
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("the server's result name {name:?} is not a usable file name"),
                    )
                })?;
            path.join(base)
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                prepare_folder(parent)?;
            }
            path.to_path_buf()
        };
        let mut d = Destination {
            target: target.clone(),
            base: target.clone(),
            number: 1,
            policy,
            source,
            index,
            files,
        };
        let (first, number) = d.first_usable(&target, 1)?;
        d.target = first;
        d.number = number;
        Ok(d)
    }

    /// `base` itself, or under Rename the first free `stem-N.ext` from `from + 1`.
    fn first_usable(&self, base: &Path, from: u32) -> Result<(PathBuf, u32)> {
        let mut n = from;
        loop {
            let candidate = if n == 1 {
                base.to_path_buf()
            } else {
                numbered(base, n)
            };
            match self.conflict(&candidate) {
                None => return Ok((candidate, n)),
                Some(e) if self.policy != ExistsPolicy::Rename => return Err(e),
                Some(_) if n >= MAX_RENAME_TRIES => {
                    return Err(Error::new(
                        ErrorKind::Exists,
                        format!(
                            "{} and {MAX_RENAME_TRIES} numbered names beside it are taken",
                            base.display()
                        ),
                    ))
                }
                Some(_) => n += 1,
            }
        }
    }

    /// Why `candidate` cannot be written under the policy, if it cannot.
    fn conflict(&self, candidate: &Path) -> Option<Error> {
        if let Some(src) = self.source {
            if same_file(candidate, src) {
                return Some(Error::invalid(format!(
                    "the output {} is the input file; refusing to overwrite the original",
                    candidate.display()
                )));
            }
        }
        let meta = std::fs::symlink_metadata(candidate).ok()?;
        if meta.is_dir() {
            return Some(Error::new(
                ErrorKind::Exists,
                format!(
                    "{} is a folder; name a file or a folder ending in /",
                    candidate.display()
                ),
            ));
        }
        match self.files.writer_of(candidate) {
            Some(i) if i != self.index => Some(Error::new(
                ErrorKind::Exists,
                format!("{} was written by another result of this batch; results of one batch never replace each other (use the rename policy)", candidate.display()),
            )),
            _ if self.policy == ExistsPolicy::Overwrite => None,
            _ => Some(Error::new(
                ErrorKind::Exists,
                format!("{} already exists; it was left untouched (choose the rename or overwrite policy)", candidate.display()),
            )),
        }
    }

    /// Moves the finished temporary file `tmp` to the target without replacing a file that
    /// appeared meanwhile (except under Overwrite); returns the path written. `tmp` is gone
    /// afterwards, whatever happens.
    pub(crate) fn commit(mut self, tmp: &Path) -> Result<PathBuf> {
        let result = self.commit_inner(tmp);
        let _ = std::fs::remove_file(tmp);
        let target = result?;
        self.files.record(&target, self.index);
        if let Ok(mut f) = File::open(&target) {
            let mut head = Vec::with_capacity(crate::imagesize::HEAD_BYTES);
            use std::io::Read;
            if (&mut f)
                .take(crate::imagesize::HEAD_BYTES as u64)
                .read_to_end(&mut head)
                .is_ok()
            {
                self.files.learn_dimensions(self.index, &head);
            }
        }
        self.target = target.clone();
        Ok(target)
    }

    fn commit_inner(&mut self, tmp: &Path) -> Result<PathBuf> {
        let moved = |e: &std::io::Error, t: &Path| {
            Error::io(format!("cannot move the result to {}", t.display()), e)
        };
        let base = self.base.clone();
        let (mut target, mut n) = (self.target.clone(), self.number);
        // Bounded: each pass moves to a higher number, and first_usable stops at the limit.
        loop {
            if self.policy == ExistsPolicy::Overwrite && self.conflict(&target).is_none() {
                crate::download::keep_permissions(tmp, &target)?;
                std::fs::rename(tmp, &target).map_err(|e| moved(&e, &target))?;
                return Ok(target);
            }
            // A hard link never replaces an existing file: the check and the write are one step.
            match std::fs::hard_link(tmp, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(_) if !target.exists() => {
                    // No hard links here (some file systems): check, then rename.
                    std::fs::rename(tmp, &target).map_err(|e| moved(&e, &target))?;
                    return Ok(target);
                }
                Err(e) => return Err(moved(&e, &target)),
            }
            // Someone created the file during the download.
            if self.policy != ExistsPolicy::Rename {
                return Err(self.conflict(&target).unwrap_or_else(|| {
                    Error::new(
                        ErrorKind::Exists,
                        format!(
                            "{} appeared during the download; it was left untouched",
                            target.display()
                        ),
                    )
                }));
            }
            let (next, next_n) = self.first_usable(&base, n + 1)?;
            target = next;
            n = next_n;
        }
    }
}

/// `dir/cat.webp` → `dir/cat-N.webp`.
fn numbered(base: &Path, n: u32) -> PathBuf {
    let name = base
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{n}.{ext}"),
        _ => format!("{name}-{n}"),
    };
    base.with_file_name(file)
}

/// Creates a missing output folder; a clear error when it cannot be, or is a file.
fn prepare_folder(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // "out/" names a folder; when "out" is a file, say so (the OS would say "not a directory").
    let plain: PathBuf = dir.components().collect();
    if plain.exists() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the output folder {} is a file, not a folder",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format!("cannot create the output folder {}", dir.display()),
            &e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flx-save-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn save(
        path: &Path,
        name: &str,
        index: usize,
        policy: ExistsPolicy,
        files: &BatchFiles,
        body: &[u8],
    ) -> Result<PathBuf> {
        let d = Destination::resolve(path, name, None, index, policy, files)?;
        let tmp = crate::download::temp_path_for(&d.target);
        std::fs::write(&tmp, body).unwrap();
        d.commit(&tmp)
    }

    #[test]
    fn existing_files_are_kept_unless_overwrite_is_asked() {
        let d = tmpdir("policy");
        std::fs::write(d.join("a.webp"), b"original").unwrap();
        let files = BatchFiles::default();
        let e = save(&d, "a.webp", 0, ExistsPolicy::Error, &files, b"new").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Exists);
        assert!(
            e.message().contains("a.webp already exists"),
            "{}",
            e.message()
        );
        assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), b"original");
        assert_eq!(
            save(&d, "a.webp", 0, ExistsPolicy::Rename, &files, b"renamed").unwrap(),
            d.join("a-2.webp")
        );
        assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), b"original");
        let other = BatchFiles::default();
        assert_eq!(
            save(&d, "a.webp", 0, ExistsPolicy::Overwrite, &other, b"over").unwrap(),
            d.join("a.webp")
        );
        assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), b"over");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            2,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_that_appears_during_the_download_is_kept_and_the_temp_file_removed() {
        let d = tmpdir("race");
        let files = BatchFiles::default();
        let dest =
            Destination::resolve(&d, "a.webp", None, 0, ExistsPolicy::Error, &files).unwrap();
        let tmp = crate::download::temp_path_for(&dest.target);
        std::fs::write(&tmp, b"result").unwrap();
        std::fs::write(d.join("a.webp"), b"someone else's").unwrap(); // while we downloaded
        let e = dest.commit(&tmp).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Exists);
        assert_eq!(std::fs::read(d.join("a.webp")).unwrap(), b"someone else's");
        assert!(!tmp.exists(), "the temporary file is removed on failure");
        // Under Rename the result goes beside it instead.
        let dest =
            Destination::resolve(&d, "b.webp", None, 1, ExistsPolicy::Rename, &files).unwrap();
        let tmp = crate::download::temp_path_for(&dest.target);
        std::fs::write(&tmp, b"result").unwrap();
        std::fs::write(d.join("b.webp"), b"someone else's").unwrap();
        assert_eq!(dest.commit(&tmp).unwrap(), d.join("b-2.webp"));
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            3,
            "a.webp, b.webp, b-2.webp only"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn siblings_never_replace_each_other() {
        let d = tmpdir("siblings");
        let files = BatchFiles::default();
        assert_eq!(
            save(
                &d,
                "cover.webp",
                0,
                ExistsPolicy::Overwrite,
                &files,
                b"first"
            )
            .unwrap(),
            d.join("cover.webp")
        );
        let e = save(
            &d,
            "cover.webp",
            1,
            ExistsPolicy::Overwrite,
            &files,
            b"second",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Exists);
        assert!(
            e.message().contains("another result of this batch"),
            "{}",
            e.message()
        );
        assert_eq!(
            save(&d, "cover.webp", 1, ExistsPolicy::Rename, &files, b"second").unwrap(),
            d.join("cover-2.webp")
        );
        assert_eq!(std::fs::read(d.join("cover.webp")).unwrap(), b"first");
        // The same result saved again may replace its own earlier copy when asked.
        assert_eq!(
            save(
                &d,
                "cover.webp",
                0,
                ExistsPolicy::Overwrite,
                &files,
                b"again"
            )
            .unwrap(),
            d.join("cover.webp")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn folders_are_created_and_a_trailing_slash_means_folder() {
        let d = tmpdir("mkdir");
        let files = BatchFiles::default();
        let out = d.join("x/y/");
        let got = save(&out, "cat.webp", 0, ExistsPolicy::Error, &files, b"created").unwrap();
        assert_eq!(got, d.join("x/y/cat.webp"));
        let got = save(
            &d.join("p/q/named.bin"),
            "cat.webp",
            1,
            ExistsPolicy::Error,
            &files,
            b"named",
        )
        .unwrap();
        assert_eq!(got, d.join("p/q/named.bin"));
        std::fs::write(d.join("file"), b"f").unwrap();
        let e = save(
            &d.join("file/sub/"),
            "cat.webp",
            2,
            ExistsPolicy::Error,
            &files,
            b"named",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        let e = save(
            &d.join("file/"),
            "cat.webp",
            2,
            ExistsPolicy::Error,
            &files,
            b"named",
        )
        .unwrap_err();
        assert!(
            e.message().contains("is a file, not a folder"),
            "{}",
            e.message()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_the_input_and_never_outside_the_folder() {
        let d = tmpdir("input");
        let input = d.join("cat.png");
        std::fs::write(&input, b"png").unwrap();
        let files = BatchFiles::default();
        for policy in [ExistsPolicy::Error, ExistsPolicy::Overwrite] {
            let e = Destination::resolve(&d, "cat.png", Some(&input), 0, policy, &files)
                .err()
                .unwrap();
            assert!(
                e.message().contains("refusing to overwrite the original"),
                "{}",
                e.message()
            );
        }
        let r = Destination::resolve(&d, "cat.png", Some(&input), 0, ExistsPolicy::Rename, &files)
            .unwrap();
        assert_eq!(r.target, d.join("cat-2.png"));
        let r = Destination::resolve(&d, "../../etc/x.webp", None, 0, ExistsPolicy::Error, &files)
            .unwrap();
        assert_eq!(r.target, d.join("x.webp"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn output_dir_is_probed_and_names_are_predicted() {
        let d = tmpdir("probe");
        prepare_output_dir(&d.join("new/deeper")).unwrap();
        assert!(d.join("new/deeper").is_dir());
        assert_eq!(std::fs::read_dir(d.join("new/deeper")).unwrap().count(), 0);
        std::fs::write(d.join("plain"), b"x").unwrap();
        let e = prepare_output_dir(&d.join("plain")).unwrap_err();
        assert!(e.message().contains("is a file"), "{}", e.message());
        assert_eq!(predicted_name("photos/cat.jpg", Format::Webp), "cat.webp");
        assert_eq!(
            predicted_name("archive.tar.gz", Format::Png),
            "archive.tar.png"
        );
        assert_eq!(predicted_name("noext", Format::Avif), "noext.avif");
        assert_eq!(ExistsPolicy::parse("Rename").unwrap(), ExistsPolicy::Rename);
        assert!(ExistsPolicy::parse("replace").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
