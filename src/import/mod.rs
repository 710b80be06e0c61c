//! Bringing activation data made by other tools into the dataset format.
//! Start from [`neuron_explainer::import_dataset`]:
//!
//! ```no_run
//! use featurescope::import::neuron_explainer::{import_dataset, ImportOptions};
//! # fn main() -> Result<(), featurescope::import::ImportError> {
//! let options = ImportOptions {
//!     subject_model: Some("gpt2-xl".into()),
//!     explainer_model: "neuron-explainer".into(),
//!     simulator_model: "neuron-explainer".into(),
//! };
//! let report = import_dataset("neurons/".as_ref(), None, "datasets/gpt2".as_ref(), &options)?;
//! println!("{} units", report.units);
//! # Ok(()) }
//! ```
pub mod delphi;
pub mod neuron_explainer;
pub mod neuronpedia;

use crate::dataset::DatasetError;
use std::path::{Path, PathBuf};

fn invalid(path: &Path, problem: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// Names the path in an I/O error.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = path.to_owned();
    move |cause| ImportError::Io { path, cause }
}

/// The first run of digits in `text`: the layer of `layers.6.mlp`, the
/// batch of `batch-10.jsonl.gz`.
fn first_number(text: &str) -> Option<u64> {
    let digits: String = (text.chars())
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

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
    /// The tokenizer that gives another tool's token ids their text.
    #[error(transparent)]
    Tokenizer(#[from] crate::model::ModelError),
}
