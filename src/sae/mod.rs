//! Dictionaries over a hook point's activations (Cunningham et al. 2023):
//! sparse autoencoders trained here (tied, standard ReLU + L1, TopK + AuxK),
//! SAELens checkpoints, and the paper's baselines (neuron basis, random
//! directions, PCA, ICA), all behind one [`Dictionary`] type stored in
//! SAELens's layout (`cfg.json` + `sae_weights.safetensors`).
pub mod baselines;
pub mod cache;
pub mod dictionary;
pub mod eval;
mod hook_names;
mod optim;
pub mod source;
pub mod step;
pub mod train;

pub use cache::{ActivationCache, CacheWriter};
pub use dictionary::{Activation, Dictionary};
pub use hook_names::{parse_hook, saelens_hook_name};
pub use train::{TrainConfig, TrainProgress, TrainReport, train};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SaeError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A checkpoint, cache or config file that is not what it should be.
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error("{what}: {problem}")]
    Input { what: String, problem: String },
    #[error("training diverged at step {step}: {what} is not finite (try a lower learning rate)")]
    Diverged { step: u64, what: String },
    #[error(
        "interrupted at step {step}; the checkpoint at step {saved} is kept, --resume continues"
    )]
    Interrupted { step: u64, saved: u64 },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Extract(#[from] crate::extract::ExtractError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = SaeError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SaeError + '_ {
    move |cause| SaeError::Io {
        path: path.to_owned(),
        cause,
    }
}

pub(crate) fn format_error(path: &std::path::Path, problem: impl Into<String>) -> SaeError {
    SaeError::Format {
        path: path.to_owned(),
        problem: problem.into(),
    }
}
