//! pyarrow reads every table we write with the documented schema, and we read
//! a dataset that pyarrow wrote following the documentation alone.
use crate::common;

use common::{featurescope, path_str, python, sample_unit, stdout};
use featurescope::dataset::{
    Dataset, DatasetWriter, Explanation, Manifest, Sample, Score, WriterOptions, new_id,
};

#[test]
fn pyarrow_reads_every_table_we_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    let mut writer = DatasetWriter::create(
        &dest,
        Manifest::new(),
        WriterOptions {
            units_per_file: 7,
            row_group_records: 16,
        },
    )
    .unwrap();
    for seed in 0..30 {
        let (unit, records) = sample_unit(seed, 5);
        writer.add_unit(unit, records).unwrap();
    }
    writer.finish().unwrap();
    let ds = Dataset::open(&dest).unwrap();
    let explanation = Explanation {
        explanation_id: new_id(),
        unit_id: 2,
        text: "tokens \u{3b4}\u{3ad}\u{3bb}\u{3c4}\u{3b1}".into(),
        explainer_model: "e".into(),
        method: "top-activations".into(),
        parent_id: None,
        evidence_record_ids: vec![10, 11],
        created_at_ms: 1_700_000_000_000,
    };
    ds.append_explanations(std::slice::from_ref(&explanation))
        .unwrap();
    ds.append_scores(&[Score {
        score_id: new_id(),
        explanation_id: explanation.explanation_id.clone(),
        unit_id: 2,
        simulator_model: "s".into(),
        method: "all-at-once-logprobs".into(),
        record_set: "top-only".into(),
        score: Some(0.75),
        r_squared: None,
        absolute_dev_explained: None,
        record_ids: vec![12, 13, 14],
        simulated: vec![vec![1.0; 4], vec![2.0; 5], vec![0.5; 6]],
        created_at_ms: 1_700_000_000_500,
    }])
    .unwrap();

    let facts: serde_json::Value =
        serde_json::from_str(&python("check_tables.py", &[path_str(&dest)])).unwrap();
    assert_eq!(
        facts["problems"],
        serde_json::json!({}),
        "schema differs from the documentation"
    );
    assert_eq!(facts["units.parquet"]["rows"], 30);
    assert_eq!(facts["records"]["rows"], 150);
    assert_eq!(facts["explanations"]["rows"], 1);
    assert_eq!(facts["texts"][0], explanation.text);
    assert_eq!(facts["scores"], serde_json::json!([0.75]));
    assert_eq!(facts["simulated_lengths"], serde_json::json!([3]));
    // numpy's sums of each unit's activations against ours.
    for unit in 0..30u64 {
        let ours: f64 = ds
            .records(unit)
            .unwrap()
            .iter()
            .flat_map(|r| r.activations.iter())
            .map(|&a| a as f64)
            .sum();
        let theirs = facts["activation_sum_by_unit"][unit.to_string()]
            .as_f64()
            .unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-6 * ours.abs().max(1.0),
            "unit {unit}: {ours} vs {theirs}"
        );
    }
    let first_tokens: Vec<String> = serde_json::from_value(facts["first_tokens"].clone()).unwrap();
    assert_eq!(first_tokens, ds.records(0).unwrap()[0].tokens);
}

#[test]
fn we_read_a_dataset_pyarrow_wrote_from_the_documentation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("py");
    python("write_dataset.py", &[path_str(&dir)]);
    let ds = Dataset::open(&dir).unwrap();
    let report = ds.validate().unwrap();
    assert_eq!(
        (
            report.units,
            report.records,
            report.explanations,
            report.scores
        ),
        (4, 16, 2, 1)
    );
    let unit = ds.unit(3).unwrap();
    assert_eq!((unit.layer, unit.index, unit.stats.max), (1, 1, 7.0));
    assert_eq!(unit.stats.histogram_counts, vec![10, 3]);
    let records = ds.records(1).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].tokens[1], " cat");
    assert_eq!(records[2].sample, Sample::Quantile(0));
    assert_eq!(
        records[1].activations,
        (0..8).map(|i| ((i * 7 + 2) % 5) as f32).collect::<Vec<_>>()
    );
    let explanations = ds.explanations().unwrap();
    let revision = explanations
        .iter()
        .find(|e| e.explanation_id == "e2")
        .unwrap();
    assert_eq!(revision.parent_id.as_deref(), Some("e1"));
    assert_eq!(revision.created_at_ms, 1_700_000_001_000);
    let scores = ds.scores().unwrap();
    assert_eq!(scores[0].simulated[1], vec![1.0; 8]);
    let out = featurescope(&["inspect", path_str(&dir), "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["subject_model"], "pyarrow-written");
    assert_eq!(
        summary["records_by_sample_kind"],
        serde_json::json!({"top": 8, "quantile": 4, "random": 4})
    );
    assert_eq!(summary["mean_score"], 0.5);
}

#[test]
fn the_documented_pyarrow_example_writes_a_dataset_we_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("doc");
    let doc = common::root().join("docs/dataset-format.md");
    python(
        "run_doc_example.py",
        &[path_str(&doc), "Writing with pyarrow", path_str(&dir)],
    );
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.validate().unwrap().records, 1);
    let unit = ds.unit(0).unwrap();
    assert_eq!(
        (unit.index, unit.stats.max, unit.stats.mean),
        (7, 3.5, None)
    );
    assert_eq!(ds.records(0).unwrap()[0].tokens, vec!["The", " cat"]);
    // And the documented reading example runs on what we write.
    python(
        "run_doc_example.py",
        &[path_str(&doc), "Reading with pyarrow", path_str(&dir)],
    );
}

#[test]
fn a_unit_whose_records_cross_a_file_boundary_is_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("split");
    python("write_dataset.py", &[path_str(&dir), "split_files"]);
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.record_files().len(), 3);
    ds.validate().unwrap();
    let records = ds.records(1).unwrap();
    assert_eq!(
        records.iter().map(|r| r.record_id).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    assert_eq!(ds.records(2).unwrap().len(), 4);
}

/// The DuckDB and Polars examples of docs/dataset-format.md, run as written
/// on the demo, give our reader's answers: the same records of a unit, and
/// the same count and mean of top-and-random simulation scores per layer and
/// kind of unit.
#[test]
fn the_documented_duckdb_and_polars_queries_agree_with_our_reader() {
    let demo = common::root().join("datasets/demo");
    let ds = Dataset::open(&demo).unwrap();
    let ours_records: Vec<u64> = ds
        .records(165)
        .unwrap()
        .iter()
        .map(|r| r.record_id)
        .collect();
    let mut groups: std::collections::BTreeMap<(u32, String), Vec<f64>> = Default::default();
    for score in ds.scores().unwrap() {
        if let (true, "top-and-random", Some(value)) = (
            score.is_simulation(),
            score.record_set.as_str(),
            score.score,
        ) {
            let unit = ds.unit(score.unit_id).unwrap();
            let key = (unit.layer, unit.kind.as_str().to_owned());
            groups.entry(key).or_default().push(value);
        }
    }
    assert!(groups.len() >= 3, "{groups:?}");
    let doc = common::root().join("docs/dataset-format.md");
    for engine in ["DuckDB", "Polars"] {
        let out = python(
            "run_doc_example.py",
            &[
                path_str(&doc),
                &format!("Querying with {engine}"),
                path_str(&demo),
                "record_ids",
                "summary",
            ],
        );
        let theirs: serde_json::Value = serde_json::from_str(&out).unwrap();
        let record_ids: Vec<u64> = serde_json::from_value(theirs["record_ids"].clone()).unwrap();
        assert_eq!(record_ids, ours_records, "{engine}");
        let summary = theirs["summary"].as_array().unwrap();
        assert_eq!(summary.len(), groups.len(), "{engine}: {summary:?}");
        for (row, ((layer, kind), scores)) in summary.iter().zip(&groups) {
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            assert_eq!(row[0], *layer, "{engine}: {row}");
            assert_eq!(row[1], kind.as_str(), "{engine}: {row}");
            assert_eq!(row[2], scores.len(), "{engine}: {row}");
            assert!(
                (row[3].as_f64().unwrap() - mean).abs() < 1e-9,
                "{engine}: {row} vs {mean}"
            );
        }
    }
}
