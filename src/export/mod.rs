//! What leaves featurescope for people and tools that do not have it.
//! Start from [`html::write_pages`]: a self-contained HTML page per unit
//! (heatmaps of its records, its histogram, explanations and scores, real
//! against simulated), in the manner of SAEDashboard and sae_vis, for
//! colleagues to open in any browser.
//!
//! ```no_run
//! use featurescope::dataset::Dataset;
//! let dataset = Dataset::open("datasets/demo")?;
//! featurescope::export::html::write_pages(&dataset, &[165, 4100], "pages".as_ref())?;
//! # Ok::<(), featurescope::export::ExportError>(())
//! ```
pub mod html;

use crate::dataset::DatasetError;
use crate::publish::PublishError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Refused { path: PathBuf, problem: String },
    #[error("no units to export")]
    NoUnits,
}

pub type Result<T, E = ExportError> = std::result::Result<T, E>;
