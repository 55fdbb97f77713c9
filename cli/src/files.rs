//! Finding images in folders, naming results, and checking folders before any upload.

use std::path::{Path, PathBuf};

/// Extensions of the images a folder walk picks up (files named on the command line are sent
/// whatever their name: the server decides what it can read).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "avif", "gif"];

/// Deepest folder nesting walked; deeper trees are almost surely a link loop.
const MAX_DEPTH: usize = 64;
/// Most entries looked at in one walk, so a walk of `/` by mistake ends.
const MAX_ENTRIES: usize = 2_000_000;

/// What a folder walk found.
pub struct Walk {
    /// Image files, relative to the walked folder, sorted.
    pub files: Vec<PathBuf>,
    /// Subfolders that were not entered (walk without recursion).
    pub subfolders: usize,
}

pub fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// The image files below `root` (only its direct children unless `recursive`). Hidden files and
/// folders are skipped unless `hidden`; symbolic links to folders are entered only when
/// `follow_symlinks`. The folder `skip` (canonical: the output folder) is never entered, so
/// results written inside the walked tree are not taken for inputs.
pub fn walk(
    root: &Path,
    recursive: bool,
    hidden: bool,
    follow_symlinks: bool,
    skip: Option<&Path>,
) -> Result<Walk, String> {
    let mut out = Walk {
        files: Vec::new(),
        subfolders: 0,
    };
    let mut stack = vec![(PathBuf::new(), 0usize)];
    let mut seen = 0usize;
    while let Some((rel, depth)) = stack.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot list {}: {}", dir.display(), io_reason(&e)))?;
        for entry in entries {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(format!(
                    "{} holds more than {MAX_ENTRIES} entries; name a smaller folder",
                    root.display()
                ));
            }
            let entry =
                entry.map_err(|e| format!("cannot list {}: {}", dir.display(), io_reason(&e)))?;
            let name = entry.file_name();
            if !hidden && is_hidden(&name) {
                continue;
            }
            let path = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| format!("{}: {}", path.display(), io_reason(&e)))?;
            let is_dir = ft.is_dir() || (ft.is_symlink() && follow_symlinks && path.is_dir());
            let child = rel.join(&name);
            if is_dir {
                if skip.is_some_and(|s| path.canonicalize().is_ok_and(|c| c == s)) {
                    continue;
                }
                if !recursive {
                    out.subfolders += 1;
                } else if depth + 1 >= MAX_DEPTH {
                    return Err(format!(
                        "{} nests folders deeper than {MAX_DEPTH} levels",
                        root.display()
                    ));
                } else {
                    stack.push((child, depth + 1));
                }
            } else if (ft.is_file() || (ft.is_symlink() && path.is_file())) && is_image(&child) {
                out.files.push(child);
            }
        }
    }
    out.files.sort();
    Ok(out)
}

/// A server-given name reduced to a plain file name, so it cannot leave its folder.
pub fn plain_name(name: &str) -> Option<String> {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "..")
}

/// `p`, or the first of `stem-2.ext`, `stem-3.ext`, ... that `taken` does not claim.
pub fn free_name(p: &Path, taken: impl Fn(&Path) -> bool) -> PathBuf {
    if !taken(p) {
        return p.to_path_buf();
    }
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let dir = p.parent().unwrap_or(Path::new(""));
    (2..100_000)
        .map(|n| dir.join(format!("{stem}-{n}{ext}")))
        .find(|c| !taken(c))
        .unwrap_or_else(|| dir.join(format!("{stem}-{}{ext}", std::process::id())))
}

/// A key that is equal for two spellings of one file: the canonical folder plus the file name.
/// `None` when the folder does not exist (then the file cannot be an existing input).
pub fn identity(p: &Path) -> Option<PathBuf> {
    let name = p.file_name()?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    parent.canonicalize().ok().map(|d| d.join(name))
}

/// An I/O error as a short reason, without the `(os error N)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(plain_name("../../etc/x.webp").as_deref(), Some("x.webp"));
        assert_eq!(plain_name(".."), None);
    }

    #[test]
    fn free_name_counts_up() {
        let taken = ["d/a.webp", "d/a-2.webp"].map(PathBuf::from);
        assert_eq!(
            free_name(Path::new("d/a.webp"), |p| taken.iter().any(|t| t == p)),
            PathBuf::from("d/a-3.webp")
        );
        assert_eq!(
            free_name(Path::new("d/b.webp"), |p| taken.iter().any(|t| t == p)),
            PathBuf::from("d/b.webp")
        );
    }

    #[test]
    fn image_extensions() {
        assert!(is_image(Path::new("x/y.JPEG")));
        assert!(!is_image(Path::new("x/y.txt")));
        assert!(!is_image(Path::new("x/jpg")));
    }
}
