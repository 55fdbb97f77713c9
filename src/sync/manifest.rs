//! The manifest and its journal (format documented in the module docs of `sync`).

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

pub(crate) const MANIFEST: &str = ".fluximage-sync";
pub(crate) const JOURNAL: &str = ".fluximage-sync.journal";
const COMPACT_TMP: &str = ".fluximage-sync.tmp";
const FORMAT: &str = "fluximage-sync";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Compressed,
    Original,
    Skipped,
    Pending,
}

/// Rarely present parts of a record, boxed so a plain record stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extra {
    pub name: Option<String>,
    pub alt: Option<String>,
    pub seo: Option<String>,
    pub url: Option<String>,
    pub exp: Option<i64>,
}

/// What the manifest knows of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    pub isz: u64,
    pub imt: i64,
    pub ih: u128,
    pub fp: u64,
    pub out: Box<str>,
    pub kind: Kind,
    pub osz: u64,
    pub omt: i64,
    pub oh: u128,
    pub extra: Option<Box<Extra>>,
}

/// One line on disk.
#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(rename = "in")]
    input: String,
    isz: u64,
    imt: i64,
    ih: String,
    fp: String,
    out: String,
    kind: Kind,
    #[serde(default)]
    osz: u64,
    #[serde(default)]
    omt: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    oh: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

fn hex128(v: u128) -> String {
    format!("{v:032x}")
}

fn parse_hex128(s: &str) -> Option<u128> {
    if s.is_empty() {
        return Some(0);
    }
    u128::from_str_radix(s, 16).ok()
}

impl Line {
    fn from_rec(input: &str, r: &Rec) -> Line {
        let e = r.extra.as_deref().cloned().unwrap_or_default();
        Line {
            input: input.to_string(),
            isz: r.isz,
            imt: r.imt,
            ih: hex128(r.ih),
            fp: format!("{:016x}", r.fp),
            out: r.out.to_string(),
            kind: r.kind,
            osz: r.osz,
            omt: r.omt,
            oh: if r.kind == Kind::Compressed || r.kind == Kind::Original {
                hex128(r.oh)
            } else {
                String::new()
            },
            name: e.name,
            alt: e.alt,
            seo: e.seo,
            url: e.url,
            exp: e.exp,
        }
    }

    fn into_rec(self) -> Option<(String, Rec)> {
        let extra = Extra {
            name: self.name,
            alt: self.alt,
            seo: self.seo,
            url: self.url,
            exp: self.exp,
        };
        let rec = Rec {
            isz: self.isz,
            imt: self.imt,
            ih: parse_hex128(&self.ih)?,
            fp: u64::from_str_radix(&self.fp, 16).ok()?,
            out: self.out.into(),
            kind: self.kind,
            osz: self.osz,
            omt: self.omt,
            oh: parse_hex128(&self.oh)?,
            extra: (extra != Extra::default()).then(|| Box::new(extra)),
        };
        Some((self.input, rec))
    }
}

/// SHA-256 of a file's contents, first 128 bits (plenty to tell an edit from no edit).
pub(crate) fn hash_file(path: &Path) -> Result<u128> {
    let mut f =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(digest128(h))
}

pub(crate) fn hash_bytes(data: &[u8]) -> u128 {
    let mut h = Sha256::new();
    h.update(data);
    digest128(h)
}

fn digest128(h: Sha256) -> u128 {
    let d = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&d[..16]);
    u128::from_be_bytes(first)
}

/// A short hash of text (the options fingerprint).
pub(crate) fn hash64(text: &str) -> u64 {
    (hash_bytes(text.as_bytes()) >> 64) as u64
}

/// The manifest as loaded, plus the journal it appends to.
pub(crate) struct Manifest {
    dir: PathBuf,
    pub records: HashMap<Box<str>, Rec>,
    journal: Option<File>,
}

fn header_line() -> String {
    serde_json::to_string(&Header {
        format: FORMAT.into(),
        version: VERSION,
    })
    .expect("plain struct")
}

fn check_header(line: &str, file: &Path) -> Result<()> {
    let bad = || {
        Error::new(ErrorKind::Io, format!("{} is not a fluximage sync manifest (bad first line); move it away to start afresh", file.display()))
    };
    let h: Header = serde_json::from_str(line).map_err(|_| bad())?;
    if h.format != FORMAT {
        return Err(bad());
    }
    if h.version != VERSION {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "{} is version {} of the sync manifest; this library reads version {VERSION}",
                file.display(),
                h.version
            ),
        ));
    }
    Ok(())
}

/// Reads one file of records into `records`. In the journal a torn last line (a crash while it
/// was written) is ignored.
fn read_into(path: &Path, records: &mut HashMap<Box<str>, Rec>, journal: bool) -> Result<()> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), &e)),
    };
    let mut reader = BufReader::new(f);
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let complete = line.ends_with('\n');
        if journal && !complete {
            return Ok(());
        }
        let text = line.trim_end();
        if number == 1 {
            check_header(text, path)?;
            continue;
        }
        if text.is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Line>(text)
            .ok()
            .and_then(Line::into_rec);
        match parsed {
            Some((input, rec)) => {
                records.insert(input.into_boxed_str(), rec);
            }
            None => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                    "{} line {number} is not a valid record; move the file away to start afresh",
                    path.display()
                ),
                ))
            }
        }
    }
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; not every platform can open a folder, and then there is
    // nothing more to do.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Manifest {
    /// Loads the manifest of `dir` with its journal replayed over it (an empty one when there is
    /// none). Removes a compaction left half-done by a crash.
    pub(crate) fn load(dir: &Path, write: bool) -> Result<Manifest> {
        let mut records = HashMap::new();
        read_into(&dir.join(MANIFEST), &mut records, false)?;
        read_into(&dir.join(JOURNAL), &mut records, true)?;
        if write {
            let _ = std::fs::remove_file(dir.join(COMPACT_TMP));
        }
        Ok(Manifest {
            dir: dir.to_path_buf(),
            records,
            journal: None,
        })
    }

    /// Appends records to the journal and makes them durable before returning.
    pub(crate) fn append(&mut self, recs: &[(&str, &Rec)]) -> Result<()> {
        let path = self.dir.join(JOURNAL);
        if self.journal.is_none() {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(|e| Error::io(format!("cannot write {}", path.display()), &e))?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len == 0 {
                writeln!(f, "{}", header_line())
                    .map_err(|e| Error::io(format!("cannot write {}", path.display()), &e))?;
            } else if !ends_with_newline(&mut f, len) {
                // A torn line from a crash: end it so the next record starts on its own line
                // (the torn one then fails to parse and loading stops there: so rewrite instead).
                drop(f);
                self.compact_journal_only()?;
                return self.append(recs);
            }
            self.journal = Some(f);
        }
        let f = self.journal.as_mut().expect("opened above");
        let mut text = String::new();
        for (input, rec) in recs {
            text.push_str(
                &serde_json::to_string(&Line::from_rec(input, rec)).expect("plain struct"),
            );
            text.push('\n');
        }
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), &e))?;
        for (input, rec) in recs {
            self.records.insert((*input).into(), (*rec).clone());
        }
        Ok(())
    }

    /// After a torn journal: fold what was read into the manifest, so the journal restarts clean.
    fn compact_journal_only(&mut self) -> Result<()> {
        self.compact(|_| true)
    }

    /// Whether [`Manifest::compact`] with `keep` would change anything: a journal to fold in,
    /// or a record to drop. An up-to-date run then writes nothing at all.
    pub(crate) fn needs_compaction(&self, keep: impl Fn(&str) -> bool) -> bool {
        self.journal.is_some()
            || self.dir.join(JOURNAL).exists()
            || self.records.keys().any(|k| !keep(k))
    }

    /// Writes every record for which `keep` holds to a new manifest (temporary file, fsync,
    /// rename), then removes the journal.
    pub(crate) fn compact(&mut self, keep: impl Fn(&str) -> bool) -> Result<()> {
        self.journal = None;
        let tmp = self.dir.join(COMPACT_TMP);
        let dest = self.dir.join(MANIFEST);
        let mut keys: Vec<&Box<str>> = self.records.keys().filter(|k| keep(k)).collect();
        keys.sort();
        let write = || -> std::io::Result<()> {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            let mut w = std::io::BufWriter::new(f);
            writeln!(w, "{}", header_line())?;
            for k in &keys {
                let line = serde_json::to_string(&Line::from_rec(k, &self.records[*k]))
                    .map_err(std::io::Error::other)?;
                writeln!(w, "{line}")?;
            }
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &dest)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(format!("cannot write {}", dest.display()), &e));
        }
        sync_dir(&self.dir);
        match std::fs::remove_file(self.dir.join(JOURNAL)) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    format!("cannot remove {}", self.dir.join(JOURNAL).display()),
                    &e,
                ))
            }
        }
        drop(keys);
        self.records.retain(|k, _| keep(k));
        Ok(())
    }
}

fn ends_with_newline(f: &mut File, len: u64) -> bool {
    use std::io::{Seek, SeekFrom};
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1)).is_ok() && f.read_exact(&mut last).is_ok() && last[0] == b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64) -> Rec {
        Rec {
            isz: n,
            imt: 5,
            ih: 7,
            fp: 9,
            out: "a.webp".into(),
            kind: Kind::Compressed,
            osz: 3,
            omt: 4,
            oh: 11,
            extra: None,
        }
    }

    #[test]
    fn journal_replays_over_manifest_and_survives_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("flx-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest::load(&dir, true).unwrap();
        m.append(&[("a.png", &rec(1))]).unwrap();
        m.compact(|_| true).unwrap();
        assert!(!dir.join(JOURNAL).exists());
        let mut m = Manifest::load(&dir, true).unwrap();
        m.append(&[("a.png", &rec(2)), ("b.png", &rec(3))]).unwrap();
        drop(m);
        // A crash in the middle of a line.
        let mut j = OpenOptions::new()
            .append(true)
            .open(dir.join(JOURNAL))
            .unwrap();
        j.write_all(b"{\"in\":\"c.png\",\"isz\":").unwrap();
        drop(j);
        let mut m = Manifest::load(&dir, true).unwrap();
        assert_eq!(m.records.len(), 2);
        assert_eq!(m.records["a.png"].isz, 2);
        m.append(&[("c.png", &rec(4))]).unwrap();
        let m = Manifest::load(&dir, true).unwrap();
        assert_eq!(
            m.records.len(),
            3,
            "the torn line was dropped and later records still load"
        );
        std::fs::write(
            dir.join(MANIFEST),
            "{\"format\":\"fluximage-sync\",\"version\":9}\n",
        )
        .unwrap();
        let e = Manifest::load(&dir, true).err().unwrap();
        assert!(e.message().contains("version 9"), "{}", e.message());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
