//! Activation extraction (Bills et al.'s top-activating texts): a corpus
//! through the subject model, each unit's windows selected as they stream
//! past (top, quantile bins, random, statistics and histogram), written as a
//! dataset. Start from [`ExtractConfig`] and [`extract`]:
//!
//! ```no_run
//! use featurescope::extract::{extract, ExtractConfig, SelectionConfig};
//! use featurescope::model::HookSite;
//! # fn main() -> Result<(), featurescope::extract::ExtractError> {
//! let config = ExtractConfig {
//!     model_dir: "model".into(),
//!     corpus: "corpus.jsonl".into(),
//!     text_field: "text".into(),
//!     layers: vec![0, 3],
//!     site: HookSite::Mlp,
//!     out: "datasets/mine".into(),
//!     window_tokens: 64,
//!     batch_size: 32,
//!     device: tch::Device::Cpu,
//!     selection: SelectionConfig::default(),
//!     calibration_windows: 1024,
//!     dictionaries: Vec::new(),
//!     spill_limit: featurescope::extract::SPILL_LIMIT,
//!     logit_effects: true,
//! };
//! let never = std::sync::atomic::AtomicBool::new(false);
//! let report = extract(&config, &never, |_progress| {})?;
//! println!("{} units", report.units);
//! # Ok(()) }
//! ```
mod groups;
mod overlap;
mod run;
pub mod select;
mod spill;

pub use run::{ExtractConfig, ExtractReport, extract};
pub use select::SelectionConfig;
pub use spill::SPILL_LIMIT;

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{what}: {problem}")]
    Input { what: String, problem: String },
    #[error(transparent)]
    Activation(#[from] crate::activations::ActivationError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {cause}")]
    Io {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    /// The dataset was written, but not its logit effects.
    #[error("logit effects: {0}")]
    LogitEffects(Box<crate::experiment::ExperimentError>),
    #[error("the extraction was cancelled; nothing was written")]
    Cancelled,
}

pub type Result<T, E = ExtractError> = std::result::Result<T, E>;
