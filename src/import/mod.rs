//! Bringing activation data made by other tools into the dataset format.
pub mod neuron_explainer;

use crate::dataset::DatasetError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}
