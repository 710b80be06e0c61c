//! The method of Bills et al. 2023 as pure functions over records:
//! which records explain and which score a unit, and how a simulation is
//! scored. (The LLM-facing explainer, simulator and reviser build on these.)
//! Start from [`engine::Explainer`] and [`engine::Simulator`] for one unit,
//! [`batch`] for many:
//!
//! ```no_run
//! use featurescope::dataset::Dataset;
//! use featurescope::interp::{engine::Explainer, explainer::default_examples, RECORDS_SHOWN};
//! use featurescope::llm::{Backend, config::RoleConfig};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ds = Dataset::open("datasets/demo")?;
//! // No endpoint configured: the bundled model, run in this process.
//! let backend = Backend::connect(&RoleConfig::default(), "explainer", None)?;
//! let explainer = Explainer {
//!     backend: &backend,
//!     examples: default_examples(),
//!     records_shown: RECORDS_SHOWN,
//! };
//! let explanation = explainer.explain(7, &ds.records(7)?, 0).await?;
//! ds.append_explanations(&[explanation])?;
//! # Ok(()) }
//! ```
pub mod batch;
pub mod classifier;
mod delphi_prompts;
pub mod engine;
pub mod explainer;
pub mod judge;
pub mod records;
pub mod revision;
pub mod score;
pub mod simulator;
pub mod units;

/// Top records shown to the explainer, by the commands and the explorer alike.
pub const RECORDS_SHOWN: usize = 10;
/// Top records a top-and-random score simulates.
pub const SCORED_TOP: usize = 5;
/// Random records a top-and-random score simulates.
pub const SCORED_RANDOM: usize = 5;
/// Records shown to the explainer as new evidence for a revision.
pub const REVISION_RECORDS: usize = 4;
