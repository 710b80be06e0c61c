//! What leaves featurescope for people and tools that do not have it.
//! Start from [`html::write_pages`]: a self-contained HTML page per unit
//! (heatmaps of its records, its histogram, explanations and scores, real
//! against simulated), in the manner of SAEDashboard and sae_vis, for
//! colleagues to open in any browser; [`neuronpedia::write_export`] writes
//! Neuronpedia's export layout, for its importer and ours.
//!
//! ```no_run
//! use featurescope::dataset::Dataset;
//! let dataset = Dataset::open("datasets/demo")?;
//! featurescope::export::html::write_pages(&dataset, &[165, 4100], "pages".as_ref())?;
//! # Ok::<(), featurescope::export::ExportError>(())
//! ```
pub mod html;
pub mod neuronpedia;

use crate::dataset::{Dataset, DatasetError, Explanation, LogitEffect, Score};
use crate::publish::{PublishError, staging_sibling, swap_into_place};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file that marks a folder as an export of ours, so that only such a
/// folder is ever replaced (a web site's folder has an `index.html` too).
pub const MARKER: &str = ".featurescope-export";

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

/// What a dataset says about its units beside their records: explanations
/// by unit, scores by explanation, logit effects by unit.
struct Annotations {
    explanations: HashMap<u64, Vec<Explanation>>,
    scores: HashMap<String, Vec<Score>>,
    effects: HashMap<u64, LogitEffect>,
}

impl Annotations {
    fn read(dataset: &Dataset) -> Result<Self> {
        let mut explanations: HashMap<u64, Vec<Explanation>> = HashMap::new();
        for e in dataset.explanations()? {
            explanations.entry(e.unit_id).or_default().push(e);
        }
        let mut scores: HashMap<String, Vec<Score>> = HashMap::new();
        for s in dataset.scores()? {
            scores.entry(s.explanation_id.clone()).or_default().push(s);
        }
        let effects = (dataset.logit_effects()?.into_iter())
            .map(|e| (e.unit_id, e))
            .collect();
        Ok(Self {
            explanations,
            scores,
            effects,
        })
    }
}

/// Names the path in an I/O error.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_owned();
    move |source| ExportError::Io { path, source }
}

/// Builds the folder `out` through `write` in a hidden sibling, marks it
/// with [`MARKER`] and puts it in place whole. An existing `out` is replaced
/// only if it is an earlier export; a failed write leaves nothing.
fn write_folder<T>(out: &Path, kind: &str, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let staged = staging_sibling(out, "the export folder needs a name", || {
        if out.exists() && !out.join(MARKER).is_file() {
            return Err(ExportError::Refused {
                path: out.to_owned(),
                problem: format!(
                    "exists and is not an earlier export (it has no {MARKER}); not replaced"
                ),
            });
        }
        Ok(())
    })?;
    let marker = staged.join(MARKER);
    let written = (std::fs::create_dir_all(&staged).map_err(io(&staged)))
        .and_then(|()| write(&staged))
        .and_then(|value| {
            let note = format!("written by featurescope export {kind}\n");
            std::fs::write(&marker, note).map_err(io(&marker))?;
            Ok(value)
        });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    let value = written?;
    swap_into_place(&staged, out)?;
    Ok(value)
}
