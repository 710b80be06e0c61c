//! What `featurescope inspect` reports: counts from footers and small columns,
//! never a full scan of the records.
use super::error::Result;
use super::reader::Dataset;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerKindCount {
    pub layer: u32,
    pub kind: String,
    pub units: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub path: String,
    pub format_version: u64,
    pub subject_model: Option<String>,
    pub hook_point: Option<String>,
    /// Where each range of units comes from (datasets written by `extract`).
    pub sources: Vec<super::manifest::UnitSourceInfo>,
    pub corpus: Option<String>,
    pub window_tokens: Option<u32>,
    pub units: u64,
    pub units_by_layer_and_kind: Vec<LayerKindCount>,
    pub records: u64,
    pub records_by_sample_kind: BTreeMap<String, u64>,
    pub record_files: usize,
    pub explanations: u64,
    pub explanations_by_method: BTreeMap<String, u64>,
    pub explained_units: u64,
    pub scores: u64,
    /// Scores that are defined (not null).
    pub defined_scores: u64,
    /// The mean of the defined simulation scores (correlations; the
    /// classifier scores measure other things).
    pub mean_score: Option<f64>,
    pub size_bytes: u64,
}

pub fn summarize(ds: &Dataset) -> Result<Summary> {
    let manifest = ds.manifest();
    let mut by_layer_kind: BTreeMap<(u32, String), u64> = BTreeMap::new();
    let overview = ds.units_overview()?;
    for u in &overview {
        *by_layer_kind
            .entry((u.layer, u.kind.to_string()))
            .or_insert(0) += 1;
    }
    let records_by_sample_kind = ds.record_counts()?;
    let explanations = ds.explanations()?;
    let mut explanations_by_method = BTreeMap::new();
    for e in &explanations {
        *explanations_by_method.entry(e.method.clone()).or_insert(0) += 1;
    }
    let explained_units = explanations
        .iter()
        .map(|e| e.unit_id)
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    let scores = ds.scores()?;
    let defined: Vec<f64> = scores.iter().filter_map(|s| s.score).collect();
    let correlations: Vec<f64> = scores
        .iter()
        .filter(|s| s.is_simulation())
        .filter_map(|s| s.score)
        .collect();
    let mean_score = (!correlations.is_empty())
        .then(|| correlations.iter().sum::<f64>() / correlations.len() as f64);
    Ok(Summary {
        path: ds.dir().display().to_string(),
        format_version: manifest.format_version,
        subject_model: manifest.subject_model.as_ref().map(|m| m.name.clone()),
        hook_point: manifest.hook_point.clone(),
        sources: manifest.sources.clone(),
        corpus: manifest.corpus.as_ref().map(|c| c.name.clone()),
        window_tokens: manifest.window_tokens,
        units: overview.len() as u64,
        units_by_layer_and_kind: by_layer_kind
            .into_iter()
            .map(|((layer, kind), units)| LayerKindCount { layer, kind, units })
            .collect(),
        records: records_by_sample_kind.values().sum(),
        records_by_sample_kind,
        record_files: ds.record_files().len(),
        explanations: explanations.len() as u64,
        explanations_by_method,
        explained_units,
        scores: scores.len() as u64,
        defined_scores: defined.len() as u64,
        mean_score,
        size_bytes: ds.size_on_disk()?,
    })
}
