//! Atomic publishing: whatever featurescope writes (a dataset, an appended
//! part, an activation cache, a dictionary, a training checkpoint) is built
//! under a hidden name beside its destination and moved into place in one
//! rename, so a reader sees the old version or the new one, never half of
//! one, and a killed writer leaves only its staging folder, which the next
//! writer for the same path removes. Start from [`staging_sibling`] for a
//! folder and [`publish_file`] for a file:
//!
//! ```no_run
//! use featurescope::publish::{staging_sibling, swap_into_place, PublishError};
//! # fn main() -> Result<(), PublishError> {
//! let dest = std::path::Path::new("runs/cache");
//! let staged = staging_sibling(dest, "a cache path must name a folder", || Ok::<(), PublishError>(()))?;
//! std::fs::create_dir(&staged).map_err(|e| PublishError::io(&staged, e))?;
//! // … write the folder's files …
//! swap_into_place(&staged, dest)?;
//! # Ok(()) }
//! ```
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The destination has no final name to stage a sibling for.
    #[error("{path}: {problem}")]
    Unnamed { path: PathBuf, problem: String },
}

impl PublishError {
    pub fn io(path: &Path, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            cause,
        }
    }
}

type Result<T, E = PublishError> = std::result::Result<T, E>;

/// Names the path in an I/O error.
trait At<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| PublishError::io(path, e))
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

/// Writes `dest` through `write`, which fills a hidden temporary file in the
/// same folder, then publishes it; on failure the temporary file is removed.
pub fn write_atomically<E: From<PublishError>>(
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dest.with_file_name(format!(".{name}.tmp-{}", unique_suffix()));
    let result = write(&tmp).and_then(|()| Ok(publish_file(&tmp, dest)?));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Moves a finished file into place: flush to disk, rename, flush the directory.
pub fn publish_file(tmp: &Path, dest: &Path) -> Result<()> {
    File::open(tmp).and_then(|f| f.sync_all()).at(tmp)?;
    std::fs::rename(tmp, dest).at(dest)?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
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
        .map_err(|e| PublishError::io(dest, e.into()))?;
        sync_dir(parent)?;
        // `staged` now holds the previous dataset.
        std::fs::remove_dir_all(staged).at(staged)?;
    } else {
        std::fs::rename(staged, dest).at(dest)?;
        sync_dir(parent)?;
    }
    Ok(())
}

/// A hidden sibling of `dest` to build it in, so the final rename stays
/// within one file system. `may_replace` says whether `dest` may be replaced
/// (`unnamed` is the error for a path without a final name); staging folders
/// that killed writers left for the same path are removed.
pub fn staging_sibling<E: From<PublishError>>(
    dest: &Path,
    unnamed: &str,
    may_replace: impl FnOnce() -> Result<(), E>,
) -> Result<PathBuf, E> {
    let name = dest
        .file_name()
        .ok_or_else(|| PublishError::Unnamed {
            path: dest.to_owned(),
            problem: unnamed.into(),
        })?
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

/// Staging folders (or files) left by writers that were killed: their process is gone.
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
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}
