//! Import of OpenAI neuron-explainer records and explanations, written here in
//! their JSON layout (with `dataclass_name` tags and Python's bare `NaN`).
use crate::common;

use common::{featurescope, path_str, stderr, stdout};
use featurescope::dataset::{Dataset, Sample};
use serde_json::json;
use std::path::Path;

fn record(tokens: &[&str], activations: &[f64]) -> serde_json::Value {
    json!({"dataclass_name": "ActivationRecord", "tokens": tokens, "activations": activations})
}

fn neuron_tokens(layer: u32, neuron: u32, i: usize) -> Vec<String> {
    vec![
        format!("L{layer}"),
        format!(" n{neuron}"),
        format!(" r{i}"),
        ".".into(),
    ]
}

fn records_of(
    layer: u32,
    neuron: u32,
    range: std::ops::Range<usize>,
    scale: f64,
) -> Vec<serde_json::Value> {
    range
        .map(|i| {
            let tokens = neuron_tokens(layer, neuron, i);
            let toks: Vec<&str> = tokens.iter().map(String::as_str).collect();
            record(&toks, &[0.0, scale * (i + 1) as f64, 0.5, -0.25])
        })
        .collect()
}

/// Writes `<dir>/<layer>/<neuron>.json` for 2 layers × 3 neurons; neuron (0, 1)
/// has NaN moments, as neuron-explainer writes when it did not compute them.
fn write_records(dir: &Path) {
    for layer in 0..2 {
        std::fs::create_dir_all(dir.join(layer.to_string())).unwrap();
        for neuron in 0..3 {
            let value = json!({
                "dataclass_name": "NeuronRecord",
                "neuron_id": {"dataclass_name": "NeuronId", "layer_index": layer, "neuron_index": neuron},
                "most_positive_activation_records": records_of(layer, neuron, 0..4, 2.0),
                "random_sample_by_quantile": [records_of(layer, neuron, 4..6, 0.5), records_of(layer, neuron, 6..8, 1.0)],
                "quantile_boundaries": [0.0, 0.5, 1.5],
                "random_sample": records_of(layer, neuron, 8..11, 0.1),
                "mean": 0.125, "variance": 0.5, "skewness": 1.0, "kurtosis": 3.0,
            });
            let mut text = value.to_string();
            if (layer, neuron) == (0, 1) {
                text = text
                    .replace("\"mean\":0.125", "\"mean\":NaN")
                    .replace("\"skewness\":1.0", "\"skewness\":NaN");
            }
            std::fs::write(
                dir.join(layer.to_string()).join(format!("{neuron}.json")),
                text,
            )
            .unwrap();
        }
    }
}

/// A `NeuronSimulationResults` line scoring the neuron's random sample; with
/// `foreign`, one simulated text is not among the neuron's records.
fn explanation_line(layer: u32, neuron: u32, text: &str, score: &str, foreign: bool) -> String {
    let sequences: Vec<serde_json::Value> = (8..11)
        .map(|i| {
            let mut tokens = neuron_tokens(layer, neuron, i);
            if foreign && i == 9 {
                tokens[0] = "elsewhere".into();
            }
            json!({"dataclass_name": "ScoredSequenceSimulation",
                   "simulation": {"dataclass_name": "SequenceSimulation", "tokens": tokens,
                                  "expected_activations": [0.0, 1.0 + i as f64, 0.0, 0.0],
                                  "activation_scale": "simulated_normalized_activations",
                                  "distribution_values": [], "distribution_probabilities": []},
                   "true_activations": [0.0, 0.1, 0.5, -0.25], "ev_correlation_score": 0.5})
        })
        .collect();
    json!({"dataclass_name": "NeuronSimulationResults",
           "neuron_id": {"layer_index": layer, "neuron_index": neuron},
           "scored_explanations": [{"dataclass_name": "ScoredExplanation", "explanation": text,
               "scored_simulation": {"dataclass_name": "ScoredSimulation", "scored_sequence_simulations": sequences,
                                     "ev_correlation_score": "SCORE", "rsquared_score": 0.2,
                                     "absolute_dev_explained_score": "ADE"}}]})
    .to_string()
    .replace("\"SCORE\"", score)
    .replace("\"ADE\"", "NaN")
}

fn write_explanation(dir: &Path, layer: u32, neuron: u32, line: String) {
    std::fs::create_dir_all(dir.join(layer.to_string())).unwrap();
    std::fs::write(
        dir.join(layer.to_string()).join(format!("{neuron}.jsonl")),
        line + "\n",
    )
    .unwrap();
}

#[test]
fn neuron_records_and_scored_explanations_import() {
    let tmp = tempfile::tempdir().unwrap();
    let (records_dir, explanations_dir, out) = (
        tmp.path().join("rec"),
        tmp.path().join("exp"),
        tmp.path().join("ds"),
    );
    write_records(&records_dir);
    write_explanation(
        &explanations_dir,
        1,
        2,
        explanation_line(1, 2, "numbers after n2", "0.75", false),
    );
    write_explanation(
        &explanations_dir,
        0,
        0,
        explanation_line(0, 0, "text mentioning L0", "NaN", true),
    );
    let result = featurescope(&[
        "import",
        "neuron-explainer",
        "--records",
        path_str(&records_dir),
        "--explanations",
        path_str(&explanations_dir),
        "--out",
        path_str(&out),
        "--subject-model",
        "gpt2-xl",
        "--json",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let report: serde_json::Value = serde_json::from_str(&stdout(&result)).unwrap();
    assert_eq!(
        report,
        json!({"units": 6, "records": 66, "explanations": 2, "scores": 1, "scores_without_records": 1})
    );

    let ds = Dataset::open(&out).unwrap();
    ds.validate().unwrap();
    assert_eq!(
        ds.manifest().subject_model.as_ref().unwrap().name,
        "gpt2-xl"
    );
    let selection = ds.manifest().selection.clone().unwrap();
    assert_eq!(
        (selection.top_k, selection.random_k, selection.quantile_k),
        (4, 3, 2)
    );
    // Units come in (layer, neuron) order: unit 5 is layer 1 neuron 2.
    let unit = ds.unit(5).unwrap();
    assert_eq!((unit.layer, unit.index), (1, 2));
    assert_eq!(unit.stats.max, 8.0, "largest activation over the records");
    assert_eq!(unit.stats.quantile_boundaries, vec![0.0, 0.5, 1.5]);
    assert_eq!(
        ds.unit(1).unwrap().stats.mean,
        None,
        "NaN moments become unknown"
    );
    assert_eq!(ds.unit(2).unwrap().stats.mean, Some(0.125));
    let records = ds.records(5).unwrap();
    let kinds: Vec<Sample> = records.iter().map(|r| r.sample).collect();
    assert_eq!(kinds[..4], [Sample::Top; 4]);
    assert_eq!(
        kinds[4..8],
        [
            Sample::Quantile(0),
            Sample::Quantile(0),
            Sample::Quantile(1),
            Sample::Quantile(1)
        ]
    );
    assert_eq!(kinds[8..], [Sample::Random; 3]);
    assert_eq!(records[9].tokens, neuron_tokens(1, 2, 9));
    assert_eq!(records[3].activations, vec![0.0, 8.0, 0.5, -0.25]);

    let explanations = ds.explanations().unwrap();
    assert_eq!(explanations.len(), 2);
    let scored = explanations.iter().find(|e| e.unit_id == 5).unwrap();
    assert_eq!(
        (scored.text.as_str(), scored.method.as_str()),
        ("numbers after n2", "imported")
    );
    let scores = ds.scores().unwrap();
    assert_eq!(scores.len(), 1);
    let score = &scores[0];
    assert_eq!(
        (
            score.explanation_id.as_str(),
            score.score,
            score.r_squared,
            score.absolute_dev_explained
        ),
        (scored.explanation_id.as_str(), Some(0.75), Some(0.2), None)
    );
    // Each simulated text is tied to the record with the same tokens.
    let by_id: std::collections::HashMap<u64, &featurescope::dataset::Record> =
        records.iter().map(|r| (r.record_id, r)).collect();
    for (i, record_id) in score.record_ids.iter().enumerate() {
        assert_eq!(by_id[record_id].tokens, neuron_tokens(1, 2, 8 + i));
        assert_eq!(score.simulated[i], vec![0.0, 9.0 + i as f32, 0.0, 0.0]);
    }
}

#[test]
fn explanations_appended_by_two_processes_are_all_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (records_dir, explanations_dir, out) = (
        tmp.path().join("rec"),
        tmp.path().join("exp"),
        tmp.path().join("ds"),
    );
    write_records(&records_dir);
    assert!(
        featurescope(&[
            "import",
            "neuron-explainer",
            "--records",
            path_str(&records_dir),
            "--out",
            path_str(&out)
        ])
        .status
        .success()
    );
    write_explanation(
        &explanations_dir,
        0,
        2,
        explanation_line(0, 2, "first", "0.25", false),
    );
    write_explanation(
        &explanations_dir,
        1,
        0,
        explanation_line(1, 0, "second", "0.5", false),
    );
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..6 {
                    let r = featurescope(&[
                        "import",
                        "neuron-explainer",
                        "--explanations",
                        path_str(&explanations_dir),
                        "--into",
                        path_str(&out),
                    ]);
                    assert!(r.status.success(), "{}", stderr(&r));
                }
            });
        }
    });
    let ds = Dataset::open(&out).unwrap();
    let report = ds.validate().unwrap();
    assert_eq!(
        (report.explanations, report.scores),
        (24, 24),
        "2 processes × 6 appends × 2 rows"
    );
    let summary = featurescope(&["inspect", path_str(&out), "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&summary)).unwrap();
    assert_eq!(summary["explained_units"], 2);
    assert_eq!(summary["mean_score"], 0.375);
}

#[test]
fn a_nan_activation_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (records_dir, out) = (tmp.path().join("rec"), tmp.path().join("ds"));
    write_records(&records_dir);
    let file = records_dir.join("1").join("1.json");
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "[0.0,4.0,0.5,-0.25]",
        "[0.0,NaN,0.5,-0.25]",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let result = featurescope(&[
        "import",
        "neuron-explainer",
        "--records",
        path_str(&records_dir),
        "--out",
        path_str(&out),
    ]);
    assert_eq!(result.status.code(), Some(1));
    let err = stderr(&result);
    assert!(
        err.contains("1/1.json")
            && err.contains("most_positive_activation_records[1]: activation 1 is NaN or infinite"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        common::entries(tmp.path()),
        ["rec"],
        "no staging left behind"
    );
}

#[test]
fn a_file_that_is_not_neuron_explainer_json_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (records_dir, out) = (tmp.path().join("rec"), tmp.path().join("ds"));
    write_records(&records_dir);
    std::fs::write(records_dir.join("0").join("2.json"), "{\"neuron_id\": 3}").unwrap();
    let result = featurescope(&[
        "import",
        "neuron-explainer",
        "--records",
        path_str(&records_dir),
        "--out",
        path_str(&out),
    ]);
    assert_eq!(result.status.code(), Some(1));
    let err = stderr(&result);
    assert!(
        err.contains("0/2.json: not a neuron-explainer file"),
        "{err}"
    );
}
