//! `manifest.json`: what the dataset holds and how it was made.
use super::error::{DatasetError, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT_NAME: &str = "featurescope-dataset";
pub const FORMAT_VERSION: u64 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u64,
    /// The tool (and version) that wrote the dataset.
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub subject_model: Option<SubjectModel>,
    /// Where activations were read: `mlp`, `resid_pre`, `resid_post`…
    #[serde(default)]
    pub hook_point: Option<String>,
    #[serde(default)]
    pub dictionary: Option<DictionaryInfo>,
    /// Where each range of unit ids comes from (neurons at a hook, or a
    /// dictionary's features); empty in datasets from other tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<UnitSourceInfo>,
    #[serde(default)]
    pub corpus: Option<CorpusInfo>,
    /// Tokens per record window.
    #[serde(default)]
    pub window_tokens: Option<u32>,
    #[serde(default)]
    pub selection: Option<SelectionParams>,
    /// Free-form notes (provenance, licence).
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectModel {
    pub name: String,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub layers: Option<u32>,
    /// The model folder it was read from, so the dataset can be re-extracted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DictionaryInfo {
    /// `sae`, `pca`, `ica`, `random` or `neuron`.
    pub kind: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub d_in: Option<u32>,
    #[serde(default)]
    pub d_hidden: Option<u32>,
}

/// Units `first_unit_id .. first_unit_id + units`, read at `hook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSourceInfo {
    pub kind: super::types::UnitKind,
    /// e.g. `blocks.3.resid_post`.
    pub hook: String,
    pub layer: u32,
    pub first_unit_id: u64,
    pub units: u64,
    #[serde(default)]
    pub dictionary: Option<DictionaryInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusInfo {
    pub name: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub documents: Option<u64>,
    #[serde(default)]
    pub tokens: Option<u64>,
    /// The JSONL field or Parquet column that held the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_field: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectionParams {
    pub top_k: u32,
    pub random_k: u32,
    /// Lower edges of the quantile bins of window maxima, e.g. [0, 0.5, 0.9, 0.99, 0.999].
    #[serde(default)]
    pub quantile_levels: Vec<f64>,
    #[serde(default)]
    pub quantile_k: u32,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl UnitSourceInfo {
    /// The ids of its units.
    pub fn unit_ids(&self) -> std::ops::Range<u64> {
        self.first_unit_id..self.first_unit_id + self.units
    }
}

impl Manifest {
    /// The source holding unit `unit_id`, with its position in `sources`.
    pub fn source_of(&self, unit_id: u64) -> Option<(usize, &UnitSourceInfo)> {
        (self.sources.iter().enumerate()).find(|(_, s)| s.unit_ids().contains(&unit_id))
    }

    pub fn new() -> Self {
        Self {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            created_by: Some(concat!("featurescope ", env!("CARGO_PKG_VERSION")).to_owned()),
            subject_model: None,
            hook_point: None,
            dictionary: None,
            sources: Vec::new(),
            corpus: None,
            window_tokens: None,
            selection: None,
            notes: None,
        }
    }

    /// Reads and checks the manifest of the dataset in `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(DatasetError::NotADataset {
                path: dir.to_owned(),
                reason: "no such directory".into(),
            });
        }
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            let empty = std::fs::read_dir(dir).at(dir)?.next().is_none();
            let reason = if empty {
                "the directory is empty (no manifest.json)"
            } else {
                "no manifest.json"
            };
            return Err(DatasetError::NotADataset {
                path: dir.to_owned(),
                reason: reason.into(),
            });
        }
        let text = std::fs::read(&path).at(&path)?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| DatasetError::Manifest {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        // Check the version before the rest, so a newer format says so rather
        // than failing on a field it added.
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT_NAME) => {}
            other => {
                return Err(DatasetError::Manifest {
                    path,
                    reason: format!("`format` is {other:?}, expected {FORMAT_NAME:?}"),
                });
            }
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        match version {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(DatasetError::UnsupportedVersion {
                    path,
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            None => {
                return Err(DatasetError::Manifest {
                    path,
                    reason: "`format_version` is missing or not a non-negative integer".into(),
                });
            }
        }
        serde_json::from_value(value).map_err(|e| DatasetError::Manifest {
            path,
            reason: e.to_string(),
        })
    }
}

impl Default for Manifest {
    fn default() -> Self {
        Self::new()
    }
}
