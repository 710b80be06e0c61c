//! File access for the store: a Parquet chunk reader that counts the bytes it
//! reads (so tests and benchmarks can see what a query touched), and what a
//! dataset may replace when it is published (see [`crate::publish`]).
use super::error::{DatasetError, IoContext, Result};
use crate::publish::{staging_sibling, swap_into_place};
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

/// Puts the finished directory `staged` at `dest`. When `dest` exists the two
/// are swapped in one step (renameat2 RENAME_EXCHANGE), so readers see either
/// the old dataset or the new one, never neither; the old one is then removed.
pub fn publish_dir(staged: &Path, dest: &Path) -> Result<()> {
    check_replaceable(dest)?;
    Ok(swap_into_place(staged, dest)?)
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
