//! Import of OpenAI neuron-explainer data: neuron records
//! (`<layer>/<neuron>.json`, a `NeuronRecord`) and scored explanations
//! (`<layer>/<neuron>.jsonl`, a `NeuronSimulationResults` on its first line).
//! Their JSON is Python's, which writes `NaN` for missing moments.
use super::{ImportError, invalid, io};
use crate::dataset::{
    Dataset, DatasetWriter, Explanation, Manifest, NewRecord, NewUnit, Record, Sample, Score,
    SelectionParams, UnitKind, UnitStats, WriterOptions, manifest::SubjectModel, new_id, now_ms,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct NeuronId {
    layer_index: u32,
    neuron_index: u32,
}

#[derive(Deserialize)]
struct ActivationRecord {
    tokens: Vec<String>,
    /// `None` where the file said NaN or Infinity.
    activations: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct NeuronRecord {
    neuron_id: NeuronId,
    #[serde(default)]
    random_sample: Vec<ActivationRecord>,
    #[serde(default)]
    random_sample_by_quantile: Option<Vec<Vec<ActivationRecord>>>,
    #[serde(default)]
    quantile_boundaries: Option<Vec<Option<f64>>>,
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    variance: Option<f64>,
    #[serde(default)]
    most_positive_activation_records: Vec<ActivationRecord>,
}

#[derive(Deserialize)]
struct NeuronSimulationResults {
    neuron_id: NeuronId,
    scored_explanations: Vec<ScoredExplanation>,
}

#[derive(Deserialize)]
struct ScoredExplanation {
    explanation: Option<String>,
    scored_simulation: Option<ScoredSimulation>,
}

#[derive(Deserialize)]
struct ScoredSimulation {
    #[serde(default)]
    scored_sequence_simulations: Vec<ScoredSequenceSimulation>,
    ev_correlation_score: Option<f64>,
    rsquared_score: Option<f64>,
    absolute_dev_explained_score: Option<f64>,
}

#[derive(Deserialize)]
struct ScoredSequenceSimulation {
    simulation: SequenceSimulation,
}

#[derive(Deserialize)]
struct SequenceSimulation {
    tokens: Vec<String>,
    expected_activations: Vec<Option<f64>>,
}

/// Names for the imported rows: the tool's own runs used GPT-4 for both roles.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub subject_model: Option<String>,
    pub explainer_model: String,
    pub simulator_model: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            subject_model: None,
            explainer_model: "neuron-explainer".into(),
            simulator_model: "neuron-explainer".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportReport {
    pub units: u64,
    pub records: u64,
    pub explanations: u64,
    pub scores: u64,
    /// Scores left out because a simulated text matched none of the unit's records.
    pub scores_without_records: u64,
}

/// Python's `json` writes NaN, Infinity and -Infinity as bare words, which
/// JSON does not allow; they become `null` (outside strings only).
fn python_json_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let word = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w));
        if let Some(word) = word {
            out.push_str("null");
            rest = &rest[word.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, ImportError> {
    serde_json::from_str(&python_json_to_json(text))
        .map_err(|e| invalid(path, format!("not a neuron-explainer file: {e}")))
}

fn read_text(path: &Path) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    String::from_utf8(bytes).map_err(|e| {
        invalid(
            path,
            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        )
    })
}

/// `<dir>/<layer>/<neuron>.<ext>` files, in (layer, neuron) order.
fn layer_neuron_files(dir: &Path, ext: &str) -> Result<Vec<(u32, u32, PathBuf)>, ImportError> {
    let mut files = Vec::new();
    for layer_entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let layer_path = layer_entry.map_err(io(dir))?.path();
        let Some(layer) = numeric_name(&layer_path, None) else {
            continue;
        };
        if !layer_path.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&layer_path).map_err(io(&layer_path))? {
            let path = entry.map_err(io(&layer_path))?.path();
            if let Some(neuron) = numeric_name(&path, Some(ext)) {
                files.push((layer, neuron, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn numeric_name(path: &Path, ext: Option<&str>) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let stem = match ext {
        Some(ext) => name.strip_suffix(&format!(".{ext}"))?,
        None => name,
    };
    stem.parse().ok()
}

fn finite_activations(
    path: &Path,
    what: &str,
    values: &[Option<f64>],
) -> Result<Vec<f32>, ImportError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) if v.is_finite() => Ok(*v as f32),
            _ => Err(invalid(
                path,
                format!("{what}: activation {i} is NaN or infinite"),
            )),
        })
        .collect()
}

fn convert_records(path: &Path, neuron: &NeuronRecord) -> Result<Vec<NewRecord>, ImportError> {
    let mut groups: Vec<(&str, Sample, &[ActivationRecord])> = vec![(
        "most_positive_activation_records",
        Sample::Top,
        &neuron.most_positive_activation_records,
    )];
    for (bin, sample) in neuron
        .random_sample_by_quantile
        .iter()
        .flatten()
        .enumerate()
    {
        groups.push((
            "random_sample_by_quantile",
            Sample::Quantile(bin as u32),
            sample,
        ));
    }
    groups.push(("random_sample", Sample::Random, &neuron.random_sample));
    let mut out = Vec::new();
    for (field, sample, records) in groups {
        for (rank, r) in records.iter().enumerate() {
            let what = format!("{field}[{rank}]");
            if r.tokens.len() != r.activations.len() {
                return Err(invalid(
                    path,
                    format!(
                        "{what}: {} activations for {} tokens",
                        r.activations.len(),
                        r.tokens.len()
                    ),
                ));
            }
            out.push(NewRecord {
                sample,
                rank: rank as u32,
                document_id: None,
                token_offset: None,
                tokens: r.tokens.clone(),
                activations: finite_activations(path, &what, &r.activations)?,
            });
        }
    }
    if out.is_empty() {
        return Err(invalid(path, "the neuron has no activation records"));
    }
    Ok(out)
}

fn unit_stats(
    path: &Path,
    neuron: &NeuronRecord,
    records: &[NewRecord],
) -> Result<UnitStats, ImportError> {
    let max = records
        .iter()
        .flat_map(|r| r.activations.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max) as f64;
    let boundaries = neuron
        .quantile_boundaries
        .iter()
        .flatten()
        .map(|b| {
            b.filter(|b| b.is_finite())
                .ok_or_else(|| invalid(path, "quantile_boundaries holds NaN"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UnitStats {
        max,
        mean: neuron.mean.filter(|m| m.is_finite()),
        variance: neuron.variance.filter(|v| v.is_finite()),
        density: None,
        quantile_boundaries: boundaries,
        histogram_edges: Vec::new(),
        histogram_counts: Vec::new(),
    })
}

/// The explanations (and their scores) of one unit, matched to its records.
fn convert_explanations(
    path: &Path,
    results: NeuronSimulationResults,
    unit_id: u64,
    records: &[(u64, &[String])],
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(Vec<Explanation>, Vec<Score>), ImportError> {
    let mut explanations = Vec::new();
    let mut scores = Vec::new();
    for scored in results.scored_explanations {
        let Some(text) = scored.explanation else {
            continue;
        };
        let explanation = Explanation {
            explanation_id: new_id(),
            unit_id,
            text,
            explainer_model: options.explainer_model.clone(),
            method: "imported".into(),
            parent_id: None,
            evidence_record_ids: Vec::new(),
            created_at_ms: now_ms(),
        };
        if let Some(sim) = scored.scored_simulation {
            let mut record_ids = Vec::new();
            let mut simulated = Vec::new();
            for seq in &sim.scored_sequence_simulations {
                let found = records
                    .iter()
                    .find(|(_, tokens)| *tokens == seq.simulation.tokens.as_slice());
                let Some(&(record_id, _)) = found else { break };
                record_ids.push(record_id);
                simulated.push(finite_activations(
                    path,
                    "expected_activations",
                    &seq.simulation.expected_activations,
                )?);
            }
            if record_ids.len() == sim.scored_sequence_simulations.len() {
                scores.push(Score {
                    score_id: new_id(),
                    explanation_id: explanation.explanation_id.clone(),
                    unit_id,
                    simulator_model: options.simulator_model.clone(),
                    method: "imported".into(),
                    record_set: "imported".into(),
                    score: sim.ev_correlation_score.filter(|s| s.is_finite()),
                    r_squared: sim.rsquared_score.filter(|s| s.is_finite()),
                    absolute_dev_explained: sim
                        .absolute_dev_explained_score
                        .filter(|s| s.is_finite()),
                    record_ids,
                    simulated,
                    created_at_ms: now_ms(),
                });
            } else {
                report.scores_without_records += 1;
            }
        }
        explanations.push(explanation);
    }
    report.explanations += explanations.len() as u64;
    report.scores += scores.len() as u64;
    Ok((explanations, scores))
}

fn read_explanations(
    path: &Path,
    layer: u32,
    index: u32,
) -> Result<NeuronSimulationResults, ImportError> {
    let text = read_text(path)?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| invalid(path, "empty file"))?;
    let results: NeuronSimulationResults = parse(path, line)?;
    check_neuron_id(path, &results.neuron_id, layer, index)?;
    Ok(results)
}

fn check_neuron_id(path: &Path, id: &NeuronId, layer: u32, index: u32) -> Result<(), ImportError> {
    if (id.layer_index, id.neuron_index) == (layer, index) {
        return Ok(());
    }
    Err(invalid(
        path,
        format!(
            "neuron_id says layer {} neuron {}, but the path says layer {layer} neuron {index}",
            id.layer_index, id.neuron_index
        ),
    ))
}

/// Imports neuron records (and, when given, their explanations) as a new dataset at `out`.
pub fn import_dataset(
    records_dir: &Path,
    explanations_dir: Option<&Path>,
    out: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let files = layer_neuron_files(records_dir, "json")?;
    if files.is_empty() {
        return Err(invalid(
            records_dir,
            "no <layer>/<neuron>.json neuron records found",
        ));
    }
    let explanation_files: HashMap<(u32, u32), PathBuf> = match explanations_dir {
        Some(dir) => layer_neuron_files(dir, "jsonl")?
            .into_iter()
            .map(|(l, n, p)| ((l, n), p))
            .collect(),
        None => HashMap::new(),
    };
    let mut manifest = Manifest::new();
    manifest.subject_model = options.subject_model.clone().map(|name| SubjectModel {
        name,
        architecture: None,
        layers: None,
        source: None,
    });
    manifest.hook_point = Some("mlp".into());
    manifest.notes = Some(format!(
        "imported from neuron-explainer records in {}",
        records_dir.display()
    ));
    let mut writer = DatasetWriter::create(out, manifest, WriterOptions::default())?;
    let mut report = ImportReport::default();
    let mut selection = SelectionParams::default();
    for (layer, index, path) in files {
        let neuron: NeuronRecord = parse(&path, &read_text(&path)?)?;
        check_neuron_id(&path, &neuron.neuron_id, layer, index)?;
        selection.top_k = selection
            .top_k
            .max(neuron.most_positive_activation_records.len() as u32);
        selection.random_k = selection.random_k.max(neuron.random_sample.len() as u32);
        for bin in neuron.random_sample_by_quantile.iter().flatten() {
            selection.quantile_k = selection.quantile_k.max(bin.len() as u32);
        }
        let records = convert_records(&path, &neuron)?;
        let stats = unit_stats(&path, &neuron, &records)?;
        let tokens: Vec<Vec<String>> = records.iter().map(|r| r.tokens.clone()).collect();
        report.records += records.len() as u64;
        let added = writer.add_unit(
            NewUnit {
                layer,
                index,
                kind: UnitKind::Neuron,
                stats,
            },
            records,
        )?;
        report.units += 1;
        if let Some(exp_path) = explanation_files.get(&(layer, index)) {
            let ids: Vec<(u64, &[String])> = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (added.first_record_id + i as u64, t.as_slice()))
                .collect();
            let results = read_explanations(exp_path, layer, index)?;
            let (e, s) =
                convert_explanations(exp_path, results, added.unit_id, &ids, options, &mut report)?;
            writer.add_explanations(e);
            writer.add_scores(s);
        }
    }
    writer.manifest_mut().selection = Some(selection);
    writer.finish()?;
    Ok(report)
}

/// Appends neuron-explainer explanations to an existing dataset, matching
/// units by (layer, neuron) and scored texts by their tokens.
pub fn append_explanations(
    explanations_dir: &Path,
    dataset: &Dataset,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let units: HashMap<(u32, u32), u64> = dataset
        .units_overview()?
        .into_iter()
        .map(|u| ((u.layer, u.index), u.unit_id))
        .collect();
    let mut report = ImportReport::default();
    let mut explanations = Vec::new();
    let mut scores = Vec::new();
    for (layer, index, path) in layer_neuron_files(explanations_dir, "jsonl")? {
        let Some(&unit_id) = units.get(&(layer, index)) else {
            return Err(invalid(
                &path,
                format!("the dataset has no unit for layer {layer} neuron {index}"),
            ));
        };
        let records: Vec<Record> = dataset.records(unit_id)?;
        let ids: Vec<(u64, &[String])> = records
            .iter()
            .map(|r| (r.record_id, r.tokens.as_slice()))
            .collect();
        let (e, s) = convert_explanations(
            &path,
            read_explanations(&path, layer, index)?,
            unit_id,
            &ids,
            options,
            &mut report,
        )?;
        explanations.extend(e);
        scores.extend(s);
    }
    if explanations.is_empty() {
        return Err(invalid(
            explanations_dir,
            "no explanations found in <layer>/<neuron>.jsonl files",
        ));
    }
    // Scores refer to explanations, so the explanations part lands first.
    dataset.append_explanations(&explanations)?;
    if !scores.is_empty() {
        dataset.append_scores(&scores)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::python_json_to_json;

    #[test]
    fn python_non_finite_words_become_null_outside_strings() {
        let text = r#"{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN \" Infinity"}"#;
        let fixed = python_json_to_json(text);
        assert_eq!(
            fixed,
            r#"{"a": null, "b": [null, null], "c": "NaN \" Infinity"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert!(value["a"].is_null());
    }
}
