//! Activation extraction: corpus → windows → subject model → streaming
//! per-unit selection → dataset.
pub mod corpus;
mod run;
pub mod select;
pub mod windows;

pub use corpus::{BadDocument, Corpus};
pub(crate) use run::{Batcher, batch_inputs, for_each_batch, for_each_window};
pub use run::{ExtractConfig, ExtractReport, Progress, extract, text_token_rows};
pub use select::SelectionConfig;

use std::path::{Path, PathBuf};

/// How a model or corpus is named in what we write: its folder or file name.
pub(crate) fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{what}: {problem}")]
    Input { what: String, problem: String },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("the extraction was cancelled; nothing was written")]
    Cancelled,
}

pub type Result<T, E = ExtractError> = std::result::Result<T, E>;
