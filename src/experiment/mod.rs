//! The papers' experiments, each a function from a dataset to its results,
//! kept beside the data in `DATASET/experiments/NAME/`: the points as CSV,
//! the summary as JSON and the figure as SVG, published in one rename so a
//! rerun replaces them whole. Start from [`bases`] (Cunningham et al.'s
//! comparison of bases), [`agreement::rating_agreement`] (Bills et al.'s
//! check of scores against people's ratings) and [`Results`].
pub mod ablation;
pub mod agreement;
pub mod bases;
mod figure;
pub mod histogram;
pub mod logit_effects;
pub mod pairs;
pub mod patching;
pub mod probe;
mod results;
pub mod similar;
pub mod stats;
pub mod steering;
pub mod study;
pub mod subject;

pub use figure::{Bar, GroupedBars, Lines, Scatter, StackedBars};
pub use results::Results;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Engine(#[from] crate::interp::engine::EngineError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Activations(#[from] crate::activations::ActivationError),
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;
