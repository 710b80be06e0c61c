//! Errors of the dataset store. Each names the file and, where it applies, the
//! column and the 0-based row within that file, so a user can find the problem.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a featurescope dataset: {reason}")]
    NotADataset { path: PathBuf, reason: String },
    #[error(
        "{path}: unsupported format version {found} (this featurescope reads version {supported})"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("{path}: invalid manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path}: not a readable Parquet file (truncated or corrupt?): {reason}")]
    Parquet { path: PathBuf, reason: String },
    #[error("{path}: column `{column}`: {problem}")]
    Column {
        path: PathBuf,
        column: String,
        problem: String,
    },
    #[error("{path}: column `{column}`, row {row}: {problem}")]
    Value {
        path: PathBuf,
        column: String,
        row: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("unit {unit_id} does not exist (the dataset has {units} units)")]
    UnknownUnit { unit_id: u64, units: u64 },
    #[error("invalid input for {what}: {problem}")]
    Input { what: String, problem: String },
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

impl From<crate::publish::PublishError> for DatasetError {
    fn from(e: crate::publish::PublishError) -> Self {
        use crate::publish::PublishError;
        match e {
            PublishError::Io { path, cause } => Self::Io { path, cause },
            PublishError::Unnamed { path, problem } => Self::Invalid { path, problem },
        }
    }
}

impl DatasetError {
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            cause,
        }
    }

    pub fn value(
        path: impl Into<PathBuf>,
        column: &str,
        row: u64,
        problem: impl Into<String>,
    ) -> Self {
        Self::Value {
            path: path.into(),
            column: column.to_owned(),
            row,
            problem: problem.into(),
        }
    }

    pub fn column(path: impl Into<PathBuf>, column: &str, problem: impl Into<String>) -> Self {
        Self::Column {
            path: path.into(),
            column: column.to_owned(),
            problem: problem.into(),
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Adds the file name to errors from std::fs calls.
pub trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| DatasetError::io(path, e))
    }
}
