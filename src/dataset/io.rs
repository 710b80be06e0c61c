//! File access for the store: a Parquet chunk reader that counts the bytes it
//! reads (so tests and benchmarks can see what a query touched), and the
//! write-to-temp-then-rename steps that make every write atomic.
use super::error::{DatasetError, IoContext, Result};
use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes read from Parquet files through one dataset handle.
#[derive(Debug, Default)]
pub struct ReadCounter(AtomicU64);

impl ReadCounter {
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

pub struct CountingFile {
    file: File,
    len: u64,
    counter: Arc<ReadCounter>,
}

impl CountingFile {
    pub fn open(path: &Path, counter: Arc<ReadCounter>) -> Result<Self> {
        let file = File::open(path).at(path)?;
        let len = file.metadata().at(path)?.len();
        Ok(Self { file, len, counter })
    }

    /// Another handle on the same file (readers take theirs by value).
    pub fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Self {
            file: self.file.try_clone()?,
            len: self.len,
            counter: self.counter.clone(),
        })
    }
}

impl Length for CountingFile {
    fn len(&self) -> u64 {
        self.len
    }
}

pub struct CountingRead {
    inner: std::io::Take<File>,
    counter: Arc<ReadCounter>,
}

impl Read for CountingRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n);
        Ok(n)
    }
}

impl ChunkReader for CountingFile {
    type T = CountingRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(start))?;
        Ok(CountingRead {
            inner: file.take(self.len.saturating_sub(start)),
            counter: self.counter.clone(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buf = vec![0; length];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut buf, start)?;
        self.counter.add(length);
        Ok(buf.into())
    }
}

/// A name no other process uses at the same moment: pid, time and randomness.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Moves a finished file into place: flush to disk, rename, flush the directory.
pub fn publish_file(tmp: &Path, dest: &Path) -> Result<()> {
    File::open(tmp).and_then(|f| f.sync_all()).at(tmp)?;
    std::fs::rename(tmp, dest).at(dest)?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

/// Puts the finished directory `staged` at `dest`. When `dest` exists the two
/// are swapped in one step (renameat2 RENAME_EXCHANGE), so readers see either
/// the old dataset or the new one, never neither; the old one is then removed.
pub fn publish_dir(staged: &Path, dest: &Path) -> Result<()> {
    check_replaceable(dest)?;
    swap_into_place(staged, dest)
}

/// Puts `staged` at `dest`, exchanging the two in one step when `dest`
/// exists and then removing the old one. The caller decides whether `dest`
/// may be replaced.
pub fn swap_into_place(staged: &Path, dest: &Path) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dest.exists() {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            staged,
            rustix::fs::CWD,
            dest,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(|e| DatasetError::io(dest, e.into()))?;
        sync_dir(parent)?;
        // `staged` now holds the previous dataset.
        std::fs::remove_dir_all(staged).at(staged)?;
    } else {
        std::fs::rename(staged, dest).at(dest)?;
        sync_dir(parent)?;
    }
    Ok(())
}

/// A dataset write may replace only a dataset or an empty directory: never
/// a file, or a directory of someone's other work.
pub fn check_replaceable(dest: &Path) -> Result<()> {
    if !dest.exists() {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(DatasetError::invalid(
            dest,
            format!("refusing to replace it: {why}; choose another path or remove it first"),
        ))
    };
    if !dest.is_dir() {
        return refuse("it is not a directory");
    }
    let empty = std::fs::read_dir(dest).at(dest)?.next().is_none();
    if empty || super::manifest::Manifest::read(dest).is_ok() {
        Ok(())
    } else {
        refuse("it is not a featurescope dataset")
    }
}

/// The staging directory for a new dataset at `dest`.
pub fn staging_dir(dest: &Path) -> Result<PathBuf> {
    staging_sibling(dest, "a dataset path must name a directory", || {
        check_replaceable(dest)
    })
}

/// A hidden sibling of `dest` to build it in, so the final rename stays
/// within one file system. `may_replace` says whether `dest` may be replaced
/// (`unnamed` is the error for a path without a final name); staging folders
/// that killed writers left for the same path are removed.
pub fn staging_sibling(
    dest: &Path,
    unnamed: &str,
    may_replace: impl FnOnce() -> Result<()>,
) -> Result<PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| DatasetError::invalid(dest, unnamed))?
        .to_string_lossy()
        .into_owned();
    may_replace()?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).at(&parent)?;
    remove_abandoned_staging(&parent, &name);
    Ok(parent.join(format!(".{name}.partial-{}", unique_suffix())))
}

/// Staging directories left by writers that were killed: their process is gone.
fn remove_abandoned_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
