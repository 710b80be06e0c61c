//! The rows of the dataset tables as Rust values.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a unit is: a neuron of the subject model or a direction of a dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Neuron,
    Sae,
    Pca,
    Ica,
    Random,
}

impl UnitKind {
    pub const ALL: [UnitKind; 5] = [Self::Neuron, Self::Sae, Self::Pca, Self::Ica, Self::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Neuron => "neuron",
            Self::Sae => "sae",
            Self::Pca => "pca",
            Self::Ica => "ica",
            Self::Random => "random",
        }
    }
}

/// How a record (a text window) was chosen for its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sample {
    /// Among the windows with the highest maximum activation.
    Top,
    /// Drawn from a quantile bin of window maxima; the bin's index.
    Quantile(u32),
    /// Drawn uniformly from all windows.
    Random,
}

impl Sample {
    pub fn kind_str(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Quantile(_) => "quantile",
            Self::Random => "random",
        }
    }

    pub fn quantile_bin(self) -> Option<u32> {
        match self {
            Self::Quantile(bin) => Some(bin),
            _ => None,
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UnitKind {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                crate::names::UnknownName::new("unit kind", s, "neuron, sae, pca, ica or random")
            })
    }
}

/// Per-unit statistics over every token of the corpus.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitStats {
    pub max: f64,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
    /// Fraction of tokens with activation > 0.
    pub density: Option<f64>,
    /// Activation values at the manifest's `selection.quantile_levels`.
    pub quantile_boundaries: Vec<f64>,
    /// Histogram of activations: `edges.len() == counts.len() + 1`; both empty if unknown.
    pub histogram_edges: Vec<f64>,
    pub histogram_counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub unit_id: u64,
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub stats: UnitStats,
}

/// A unit to be written; its id is assigned by the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUnit {
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub stats: UnitStats,
}

/// One text window with the unit's activation on each token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique within the dataset; assigned by the writer.
    pub record_id: u64,
    pub unit_id: u64,
    pub sample: Sample,
    /// Order within (unit, sample kind); 0 is the strongest for top records.
    pub rank: u32,
    pub document_id: Option<i64>,
    pub token_offset: Option<i64>,
    pub tokens: Vec<String>,
    pub activations: Vec<f32>,
}

impl Record {
    pub fn max_activation(&self) -> f32 {
        self.activations
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

/// A record to be written with its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub sample: Sample,
    pub rank: u32,
    pub document_id: Option<i64>,
    pub token_offset: Option<i64>,
    pub tokens: Vec<String>,
    pub activations: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub explanation_id: String,
    pub unit_id: u64,
    pub text: String,
    pub explainer_model: String,
    /// How it was made: `top-activations`, `revision`, `revision-random`, `imported`…
    pub method: String,
    /// The explanation this one revises.
    pub parent_id: Option<String>,
    /// Records shown to the explainer (so scoring can avoid them).
    pub evidence_record_ids: Vec<u64>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub score_id: String,
    pub explanation_id: String,
    pub unit_id: u64,
    pub simulator_model: String,
    /// Simulation method: `all-at-once-logprobs`, `all-at-once-sampled`, `imported`…
    pub method: String,
    /// Which records were scored: `top-and-random`, `top-only`, `random-only`…
    pub record_set: String,
    /// Correlation score; `None` when undefined (a constant simulation).
    pub score: Option<f64>,
    pub r_squared: Option<f64>,
    pub absolute_dev_explained: Option<f64>,
    pub record_ids: Vec<u64>,
    /// Per scored record, per token.
    pub simulated: Vec<Vec<f32>>,
    pub created_at_ms: i64,
}

/// The methods of the scores that treat an explanation as a classifier
/// (`interp::classifier`), stored under these names; every other method is
/// a simulation's.
pub const CLASSIFIER_SCORE_METHODS: [&str; 4] = ["detection", "fuzz", "embedding", "intruder"];

impl Score {
    /// Whether this is a simulation score (Bills et al.), whose `simulated`
    /// holds activations per token of each record.
    pub fn is_simulation(&self) -> bool {
        !CLASSIFIER_SCORE_METHODS.contains(&self.method.as_str())
    }
}

/// A person's judgement of how well a simulation matches the real
/// activations (the paper's human check of its score), 1 (not at all) to 5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub rating_id: String,
    pub score_id: String,
    pub unit_id: u64,
    pub rating: u32,
    pub created_at_ms: i64,
}

/// A unit's direct effect on the next-token logits: the tokens its output
/// direction raises most and lowers most, most first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogitEffect {
    pub unit_id: u64,
    pub raised: Vec<TokenEffect>,
    pub lowered: Vec<TokenEffect>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEffect {
    pub token: String,
    /// The change of the token's logit per unit of activation.
    pub effect: f32,
}

/// An explanation's text embedded by a sentence model (`embedder`, the
/// model's name), for search by meaning; unit length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationEmbedding {
    pub explanation_id: String,
    pub embedder: String,
    pub embedding: Vec<f32>,
}

/// Milliseconds since the Unix epoch, for `created_at` columns.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh 128-bit random id in hex, unique across concurrent processes.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The scalar columns of a unit: what a unit list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitOverview {
    pub unit_id: u64,
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub max: f64,
    pub density: Option<f64>,
}
