//! Activations of a subject model over a corpus: the plumbing that
//! extraction, SAE training and evaluation share. A [`Corpus`] yields
//! documents, a [`Windower`] cuts each into windows of tokens,
//! [`for_each_batch`] groups windows of similar length into batches and
//! [`text_token_rows`] runs the model over one; [`ActivationCache`] stores
//! one hook's activations for many training runs.
//!
//! ```no_run
//! use featurescope::activations::{Corpus, Windower, for_each_batch, text_token_rows, ActivationError};
//! use featurescope::model::{self, HookPoint, HookSite, TextTokenizer};
//! # fn main() -> Result<(), ActivationError> {
//! let dir = std::path::Path::new("model");
//! let model = model::load(dir, tch::Device::Cpu)?;
//! let tokenizer = TextTokenizer::load(dir)?;
//! let windower = Windower::new(&tokenizer, 64)?;
//! let corpus = Corpus::open("corpus.jsonl".as_ref(), "text")?;
//! let hook = HookPoint { layer: 3, site: HookSite::ResidPost };
//! for_each_batch(&corpus, &windower, 32, |batch| {
//!     let rows = text_token_rows(model.as_ref(), batch, hook, tch::Device::Cpu, windower.special_counts())?;
//!     println!("{} values", rows.len());
//!     Ok::<(), ActivationError>(())
//! })?;
//! # Ok(()) }
//! ```
mod batch;
pub mod cache;
pub mod corpus;
pub mod windows;

pub use batch::{
    Batcher, batch_inputs, for_each_batch, for_each_batch_of, for_each_window, forward_windows,
    text_token_rows,
};
pub use cache::{ActivationCache, BuildCache, CacheInfo, CacheWriter, build_cache};
pub use corpus::{BadDocument, Corpus, Document};
pub use windows::{Window, Windower};

use std::path::{Path, PathBuf};

/// Progress of a run over a corpus, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The corpus is counted: the work ahead, in tokens through the model.
    Planned { windows: u64, model_tokens: u64 },
    /// More tokens went through the model.
    Tokens(u64),
    /// The result is being written.
    Writing,
}

/// How a model or corpus is named in what we write: its folder or file name.
pub(crate) fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{what}: {problem}")]
    Input { what: String, problem: String },
    /// A cache file that is not what it should be.
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = ActivationError> = std::result::Result<T, E>;

impl From<crate::publish::PublishError> for ActivationError {
    fn from(e: crate::publish::PublishError) -> Self {
        use crate::publish::PublishError;
        match e {
            PublishError::Io { path, cause } => Self::Io { path, cause },
            PublishError::Unnamed { path, problem } => Self::Format { path, problem },
        }
    }
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ActivationError + '_ {
    move |cause| ActivationError::Io {
        path: path.to_owned(),
        cause,
    }
}

pub(crate) fn format_error(path: &Path, problem: impl Into<String>) -> ActivationError {
    ActivationError::Format {
        path: path.to_owned(),
        problem: problem.into(),
    }
}
