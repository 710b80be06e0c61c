//! Dictionaries over a hook point's activations (Cunningham et al. 2023):
//! sparse autoencoders trained here (tied, standard ReLU + L1, TopK + AuxK),
//! SAELens checkpoints, and the paper's baselines (neuron basis, random
//! directions, PCA, ICA), all behind one [`Dictionary`] type stored in
//! SAELens's layout (`cfg.json` + `sae_weights.safetensors`). Training
//! starts from [`TrainConfig`] and [`train`]:
//!
//! ```no_run
//! use featurescope::sae::Dictionary;
//! # fn main() -> featurescope::sae::Result<()> {
//! let sae = Dictionary::load("datasets/dictionaries/minilm-l3-sae".as_ref())?;
//! let activations = tch::Tensor::zeros([4, sae.d_in()], (tch::Kind::Float, tch::Device::Cpu));
//! let features = sae.encode(&activations); // [4, d_sae]
//! # Ok(()) }
//! ```
pub mod baselines;
pub mod dictionary;
pub mod eval;
pub mod optim;
pub mod source;
pub mod step;
pub mod train;

pub use dictionary::{Activation, Dictionary};
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
    Activation(#[from] crate::activations::ActivationError),
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = SaeError> = std::result::Result<T, E>;

impl From<crate::publish::PublishError> for SaeError {
    fn from(e: crate::publish::PublishError) -> Self {
        use crate::publish::PublishError;
        match e {
            PublishError::Io { path, cause } => Self::Io { path, cause },
            PublishError::Unnamed { path, problem } => Self::Format { path, problem },
        }
    }
}

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
