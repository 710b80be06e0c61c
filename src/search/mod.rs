//! Search by meaning, offline: explanation texts embedded with a sentence
//! model run in-process ([`SentenceEmbedder`]; all-MiniLM-L6-v2 by default,
//! computed as sentence-transformers computes it), and units ranked by the
//! cosine of their explanations to a query ([`ExplanationSearch`]). The
//! embeddings are cached in the dataset's `embeddings/` table, so each text
//! is embedded once.
//!
//! ```no_run
//! use featurescope::dataset::Dataset;
//! use featurescope::search::{BUNDLED_EMBEDDER, ExplanationSearch, SentenceEmbedder};
//! # fn main() -> featurescope::search::Result<()> {
//! let embedder = SentenceEmbedder::load(BUNDLED_EMBEDDER.as_ref())?;
//! let search = ExplanationSearch::build(&Dataset::open("datasets/demo")?, &embedder)?;
//! let query = embedder.embed(&["the end of a sentence"])?.remove(0);
//! for hit in search.rank(&query).iter().take(5) {
//!     println!("unit {} ({:.2})", hit.unit_id, hit.similarity);
//! }
//! # Ok(()) }
//! ```
mod embedder;

pub use embedder::{BUNDLED_EMBEDDER, SentenceEmbedder};

use crate::dataset::{Dataset, ExplanationEmbedding};
use std::collections::{HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A sentence model folder this embedder cannot run as it was trained.
    #[error("{path}: {problem}")]
    Embedder { path: String, problem: String },
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// A unit found by meaning: its explanation closest to the query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub unit_id: u64,
    pub explanation_id: String,
    pub text: String,
    /// Cosine of the explanation's embedding and the query's, in [-1, 1].
    pub similarity: f32,
}

/// Every explanation of a dataset with its embedding.
pub struct ExplanationSearch {
    entries: Vec<Entry>,
}

struct Entry {
    unit_id: u64,
    explanation_id: String,
    text: String,
    embedding: Vec<f32>,
}

impl ExplanationSearch {
    /// The explanations of `dataset` embedded by `embedder`: those in the
    /// cache are read from it; the others are embedded and appended to it.
    pub fn build(dataset: &Dataset, embedder: &SentenceEmbedder) -> Result<Self> {
        let mut cached: HashMap<String, Vec<f32>> = dataset
            .explanation_embeddings()?
            .into_iter()
            .filter(|e| e.embedder == embedder.name())
            .map(|e| (e.explanation_id, e.embedding))
            .collect();
        let explanations = dataset.explanations()?;
        let mut seen = HashSet::new();
        let missing: Vec<_> = explanations
            .iter()
            .filter(|e| !cached.contains_key(&e.explanation_id))
            .filter(|e| seen.insert(e.explanation_id.as_str()))
            .collect();
        if !missing.is_empty() {
            let texts: Vec<&str> = missing.iter().map(|e| e.text.as_str()).collect();
            let rows: Vec<ExplanationEmbedding> = missing
                .iter()
                .zip(embedder.embed(&texts)?)
                .map(|(e, embedding)| ExplanationEmbedding {
                    explanation_id: e.explanation_id.clone(),
                    embedder: embedder.name().to_owned(),
                    embedding,
                })
                .collect();
            dataset.append_embeddings(&rows)?;
            cached.extend(rows.into_iter().map(|r| (r.explanation_id, r.embedding)));
        }
        let entries = explanations
            .into_iter()
            .filter_map(|e| {
                Some(Entry {
                    embedding: cached.get(&e.explanation_id)?.clone(),
                    unit_id: e.unit_id,
                    explanation_id: e.explanation_id,
                    text: e.text,
                })
            })
            .collect();
        Ok(Self { entries })
    }

    /// Explanations embedded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every explained unit, by its explanation closest to `query` (a unit
    /// embedding), the closest first; ties by unit id.
    pub fn rank(&self, query: &[f32]) -> Vec<Hit> {
        let mut best: HashMap<u64, (f32, &Entry)> = HashMap::new();
        for entry in &self.entries {
            let similarity = dot(query, &entry.embedding);
            let better = best
                .get(&entry.unit_id)
                .is_none_or(|&(s, _)| similarity > s);
            if better {
                best.insert(entry.unit_id, (similarity, entry));
            }
        }
        let mut hits: Vec<Hit> = best
            .into_values()
            .map(|(similarity, e)| Hit {
                unit_id: e.unit_id,
                explanation_id: e.explanation_id.clone(),
                text: e.text.clone(),
                similarity,
            })
            .collect();
        hits.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.unit_id.cmp(&b.unit_id))
        });
        hits
    }
}

/// The cosine of two unit vectors.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
