//! The walk of the source folder: which files take part, in a deterministic order.

use super::glob::GlobSet;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Folder depth past which the walk stops descending (a bound, not a limit anyone meets).
const MAX_DEPTH: usize = 256;

/// Extensions (lowercase) of the files a sync sends.
pub(crate) const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "avif", "gif"];

/// One file found.
#[derive(Debug)]
pub(crate) struct Found {
    /// Relative to the source folder, `/`-separated.
    pub rel: String,
    pub size: u64,
    pub mtime: i64,
}

/// What the walk found: image files (sorted by relative path) and a count of the others.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub images: Vec<Found>,
    pub not_images: usize,
}

pub(crate) struct WalkOptions<'a> {
    pub include: &'a GlobSet,
    pub exclude: &'a GlobSet,
    pub include_hidden: bool,
    pub follow_symlinks: bool,
    /// Folders never entered (the output and backup folders when inside the source), canonical.
    pub prune: Vec<PathBuf>,
}

/// Nanoseconds since 1970 of a modification time (0 when the platform has none).
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok(),
            Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
        })
        .unwrap_or(0)
}

/// Whether a file name belongs to the sync's own bookkeeping (manifest, journal, temporaries).
pub(crate) fn is_own_file(name: &str) -> bool {
    name.starts_with(".fluximage-sync")
        || name.ends_with(".flx-tmp")
        || name.ends_with(".flx-sync-tmp")
}

pub(crate) fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && IMAGE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e))
    })
}

#[cfg(unix)]
fn dir_id(meta: &std::fs::Metadata, _path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_meta: &std::fs::Metadata, path: &Path) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .hash(&mut h);
    (0, h.finish())
}

/// Walks `src`. Entries of a folder are visited in name order, so the result is sorted by
/// relative path component by component.
pub(crate) fn walk(src: &Path, opts: &WalkOptions) -> Result<Walked> {
    let meta = std::fs::metadata(src)
        .map_err(|e| Error::io(format!("the source folder {}", src.display()), &e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "the source {} is not a folder",
            src.display()
        )));
    }
    let mut out = Walked::default();
    let mut seen_dirs: HashSet<(u64, u64)> = HashSet::new();
    seen_dirs.insert(dir_id(&meta, src));
    // Depth-first with an explicit stack of (folder, relative prefix, depth); children pushed in
    // reverse name order so they pop in name order.
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(src.to_path_buf(), String::new(), 0)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let read = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("cannot list {}", dir.display()), &e))?;
        let mut entries: Vec<(String, std::fs::DirEntry)> = Vec::new();
        for entry in read {
            let entry =
                entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), &e))?;
            match entry.file_name().into_string() {
                Ok(name) => entries.push((name, entry)),
                Err(_) => out.not_images += 1, // a name that is not UTF-8 cannot be recorded
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, entry) in entries {
            if is_own_file(&name) || (!opts.include_hidden && name.starts_with('.')) {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            let target = if ft.is_symlink() {
                std::fs::metadata(&path).ok()
            } else {
                None
            };
            let is_dir = ft.is_dir() || target.as_ref().is_some_and(|m| m.is_dir());
            if is_dir {
                if ft.is_symlink() && !opts.follow_symlinks {
                    continue;
                }
                if depth + 1 > MAX_DEPTH || opts.exclude.matches(&rel) {
                    continue;
                }
                if let Ok(canon) = path.canonicalize() {
                    if opts.prune.contains(&canon) {
                        continue;
                    }
                }
                let Ok(m) = std::fs::metadata(&path) else {
                    continue;
                };
                if !seen_dirs.insert(dir_id(&m, &path)) {
                    continue; // a link back to a folder already walked
                }
                subdirs.push((path, rel, depth + 1));
                continue;
            }
            let meta = match target {
                Some(m) => m,
                None if ft.is_symlink() => continue, // dangling link
                None => match entry.metadata() {
                    Ok(m) => m,
                    Err(_) => continue, // removed while listing
                },
            };
            if !meta.is_file() {
                continue;
            }
            if (!opts.include.is_empty() && !opts.include.matches(&rel))
                || opts.exclude.matches(&rel)
            {
                continue;
            }
            if !is_image_name(&name) {
                out.not_images += 1;
                continue;
            }
            out.images.push(Found {
                rel,
                size: meta.len(),
                mtime: mtime_ns(&meta),
            });
        }
        stack.extend(subdirs.into_iter().rev());
    }
    // Folder-by-folder order is not plain string order ("a/b" vs "a-b"); sort once so every
    // later step (conflicts, partial runs) sees one order.
    out.images.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}
